"""Affine folding (NCHW stage, after BatchNorm folding): a Mul / Add / Sub / Div by a constant
that is a scalar or one value per channel disappears into a neighbouring Conv.

- **After a Conv** whose output it alone reads: conv(x) * k + d is a conv with weights
  w[o] * k[o] and bias b[o] * k[o] + d[o] (Sub: d = -c, Div: k = 1 / c). Exact in real
  arithmetic, at every output position, padding included.
- **Before a Conv without padding** that alone reads it: conv(k * x + d) has weights
  w[o, ci] * k[ci] and bias b[o] + sum_{ci, ky, kx} w[o, ci, ky, kx] * d[ci]. With padding the
  border taps would read 0 instead of d, so a padded Conv is left alone.

Why: exporters of "learnable affine" backbones (PP-LCNetV3 in PP-OCRv4 det, paddle2onnx) put a
scalar Mul + Add after every conv and activation. In int8 each one is a full pass over the
tensor and one more rounding to a per-tensor scale; folded, the conv's per-channel weight
scales absorb them for free. Constants are combined in float64 and stored as float32, as the
BatchNorm fold does.

Tensors a QDQ source quantizes (`graph.meta["keep_tensors"]`) are never folded away, and a
graph that has such tensors is left alone entirely (its weights carry given scales).
"""

from __future__ import annotations

import math

import numpy as np

from int8rt import ir

F32 = np.float32
_AFFINE = ("Mul", "Add", "Sub", "Div")


def _channel_vector(data: np.ndarray, channels: int) -> np.ndarray | None:
    """`data` as [channels] float64 when it broadcasts against [N, channels, H, W] to a
    scalar or a per-channel constant (NCHW: axis 1), else None."""
    if data.ndim > 4 or data.dtype.kind != "f":
        return None
    full = (1,) * (4 - data.ndim) + tuple(data.shape)
    if full[0] != 1 or full[2] != 1 or full[3] != 1 or full[1] not in (1, channels):
        return None
    v = np.broadcast_to(data.reshape(full[1]).astype(np.float64), (channels,)).copy()
    return v if np.all(np.isfinite(v)) else None


def _affine(graph: ir.Graph, node: ir.Node, channels: int) -> tuple[str, np.ndarray,
                                                                     np.ndarray] | None:
    """(variable input, k, d) with node(x) = k * x + d per channel, or None."""
    if node.op not in _AFFINE or len(node.inputs) != 2:
        return None
    if tuple(node.attrs.get("clip", (-math.inf, math.inf))) != (-math.inf, math.inf):
        return None
    a, b = node.inputs
    ca, cb = graph.const(a), graph.const(b)
    if (ca is None) == (cb is None):
        return None
    if ca is not None and node.op in ("Sub", "Div"):  # c - x, c / x: not x-affine the same way
        return None
    x, c = (b, ca) if ca is not None else (a, cb)
    v = _channel_vector(np.asarray(c), channels)
    if v is None:
        return None
    xs, ys = tuple(graph.tensor(x).shape), tuple(graph.tensor(node.outputs[0]).shape)
    if len(ys) != 4 or xs != ys:
        return None  # unknown shapes, or the constant would enlarge the tensor
    one, zero = np.ones(channels), np.zeros(channels)
    if node.op == "Mul":
        return x, v, zero
    if node.op == "Add":
        return x, one, v
    if node.op == "Sub":
        return x, one, -v
    if np.any(v == 0):
        return None
    return x, 1.0 / v, zero


def _conv_wb(graph: ir.Graph, conv: ir.Node) -> tuple[np.ndarray, np.ndarray] | None:
    if conv.op != "Conv" or tuple(conv.attrs.get("clip", (-math.inf, math.inf))) != (
            -math.inf, math.inf):
        return None
    w = graph.const(conv.inputs[1])
    if w is None or w.ndim != 4 or w.dtype != np.float32:
        return None
    oc = w.shape[0]
    if len(conv.inputs) > 2 and conv.inputs[2]:
        b = graph.const(conv.inputs[2])
        if b is None or b.size != oc:
            return None
        b = b.reshape(oc).astype(np.float64)
    else:
        b = np.zeros(oc)
    return w.astype(np.float64), b


def _set_wb(graph: ir.Graph, conv: ir.Node, w: np.ndarray, b: np.ndarray) -> None:
    base = conv.name or "conv"
    conv.inputs = [conv.inputs[0], graph.add_const(base + "_w_affine", w.astype(F32)),
                   graph.add_const(base + "_b_affine", b.astype(F32))]


def _fold_after(graph: ir.Graph, keep: set[str]) -> bool:
    users = graph.consumers()
    for conv in graph.nodes:
        y = conv.outputs[0] if conv.outputs else None
        if y is None or y in graph.outputs or y in keep or len(users.get(y, [])) != 1:
            continue
        wb = _conv_wb(graph, conv)
        if wb is None:
            continue
        w, b = wb
        node = users[y][0]
        aff = _affine(graph, node, w.shape[0])
        if aff is None or aff[0] != y:
            continue
        _, k, d = aff
        _set_wb(graph, conv, w * k[:, None, None, None], b * k + d)
        conv.outputs = list(node.outputs)
        graph.nodes.remove(node)
        return True
    return False


def _fold_before(graph: ir.Graph, keep: set[str]) -> bool:
    users = graph.consumers()
    for node in graph.nodes:
        y = node.outputs[0] if node.outputs else None
        if y is None or y in graph.outputs or y in keep or len(users.get(y, [])) != 1:
            continue
        conv = users[y][0]
        if conv.inputs[0] != y or any(int(p) for p in conv.attrs.get("pads", (0, 0, 0, 0))):
            continue
        wb = _conv_wb(graph, conv)
        if wb is None:
            continue
        w, b = wb
        groups = int(conv.attrs.get("group", 1))
        aff = _affine(graph, node, w.shape[1] * groups)
        if aff is None:
            continue
        x, k, d = aff
        oc, cg = w.shape[:2]
        ocg = oc // groups
        # input channel of weight [o, ci] is (o // ocg) * cg + ci
        cin = (np.arange(oc)[:, None] // ocg) * cg + np.arange(cg)[None, :]
        b = b + np.sum(w * d[cin][:, :, None, None], axis=(1, 2, 3))
        w = w * k[cin][:, :, None, None]
        _set_wb(graph, conv, w, b)
        conv.inputs[0] = x
        graph.nodes.remove(node)
        return True
    return False


def fold_affine(graph: ir.Graph) -> ir.Graph:
    keep = set(graph.meta.get("keep_tensors", ()))
    if keep:
        return graph
    while _fold_after(graph, keep):
        pass
    while _fold_before(graph, keep):
        pass
    return graph
