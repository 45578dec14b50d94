"""Shape inference: fill `Tensor.shape` of every node output.

Works before and after the layout pass: `graph.meta["layout"]` says whether 4-D activations
are "NCHW" (as imported) or "NHWC" (canonical, the default). Conv weights follow the same
layout ([OC, IC/g, KH, KW] vs [OC, KH, KW, IC/g]); ConvTranspose (pre-canonical only) keeps
ONNX's [C, OC/g, KH, KW]. Slice cannot be inferred from its attributes (they hold no ends):
its output shape is whatever the producer of the node recorded.
"""

from __future__ import annotations

import numpy as np

from int8rt import ir, opset

UNARY = set(opset.UNARY_OPS) | set(opset.FLOAT_UNARY_OPS) | {
    "Identity", "Softmax", "BatchNormalization", "Quantize", "Dequantize"}
BINARY = set(opset.BINARY_OPS)


def _spatial(graph: ir.Graph) -> tuple[int, int, int]:
    """(h axis, w axis, channel axis) of 4-D activations in the graph's current layout."""
    return (2, 3, 1) if graph.meta.get("layout", "NHWC") == "NCHW" else (1, 2, 3)


def _window(n: int, k: int, s: int, d: int, p0: int, p1: int) -> int:
    if k < 1 or s < 1 or d < 1 or p0 < 0 or p1 < 0:
        raise ValueError(f"shape inference: window kernel {k}, stride {s}, dilation {d} must "
                         f"be >= 1 and pads ({p0}, {p1}) >= 0")
    out = (n + p0 + p1 - d * (k - 1) - 1) // s + 1
    if out < 1:  # the dilated kernel is larger than the padded input
        raise ValueError(f"shape inference: window of {k} (dilation {d}) does not fit an input "
                         f"of {n} padded by ({p0}, {p1})")
    return out


def _rebatch(x: tuple[int, ...], target: tuple[int, ...], node: ir.Node) -> tuple[int, ...]:
    """Reshape targets are resolved for the import batch; a different batch size keeps every
    dimension but the first (the batch rule of docs/ARCHITECTURE.md)."""
    n = int(np.prod(x, dtype=np.int64))
    if int(np.prod(target, dtype=np.int64)) == n or not target:
        return target
    rest = int(np.prod(target[1:], dtype=np.int64))
    if rest == 0 or n % rest:
        raise ValueError(f"Reshape node {node.name!r}: cannot reshape {x} to {target} "
                         f"with a different batch size")
    return (n // rest,) + target[1:]


def hw_axes(graph: ir.Graph, name: str) -> tuple[int, int]:
    """(h, w) axes of a 4-D tensor: model inputs and outputs keep the source's NCHW; the
    activations between follow the graph's layout."""
    if name in graph.inputs or name in graph.outputs:
        return (2, 3)
    return _spatial(graph)[:2]


def resize_size(graph: ir.Graph, node: ir.Node, h: int, w: int) -> tuple[int, int]:
    """A Resize's output (H, W) for an input of (h, w), by the rule the frontend recorded
    (`size_rule`): "scales" floor(in * scale) (ONNX, the float32 scale widened), "like" the H / W
    of tensor `size_like` (sizes computed from its Shape), otherwise the recorded `size` (constant
    sizes, or a graph that keeps its image size)."""
    a = node.attrs
    rule = a.get("size_rule")
    if rule == "scales" and a.get("scales"):
        return tuple(int(np.floor(n * float(np.float32(s)))) for n, s in zip((h, w), a["scales"]))
    if rule == "like" and a.get("size_like") in graph.tensors:
        t = graph.tensor(a["size_like"])
        if len(t.shape) == 4:
            ah, aw = hw_axes(graph, t.name)
            return (int(t.shape[ah]), int(t.shape[aw]))
    return tuple(int(v) for v in a["size"])


def infer_node(graph: ir.Graph, node: ir.Node) -> list[tuple[int, ...]]:
    def shp(i: int) -> tuple[int, ...]:
        return tuple(graph.tensor(node.inputs[i]).shape)

    op, a = node.op, node.attrs
    if op in UNARY:
        return [shp(0)]
    if op in BINARY:
        return [tuple(np.broadcast_shapes(shp(0), shp(1)))]
    if op in ("Conv", "MaxPool", "AveragePool", "ConvTranspose"):
        x = shp(0)
        ha, wa, ca = _spatial(graph)
        pads = a.get("pads", (0, 0, 0, 0))
        strides = a.get("strides", (1, 1))
        dil = a.get("dilations", (1, 1))
        out = list(x)
        if op == "Conv":
            w = shp(1)
            kernel = (w[2], w[3]) if ca == 1 else (w[1], w[2])
            out[ca] = w[0]
        elif op == "ConvTranspose":
            w = shp(1)
            kernel = (w[2], w[3])
            out[ca] = w[1] * a.get("group", 1)
            opad = a.get("output_padding", (0, 0))
            for k, ax in enumerate((ha, wa)):
                out[ax] = ((x[ax] - 1) * strides[k] - pads[k] - pads[k + 2]
                           + dil[k] * (kernel[k] - 1) + 1 + opad[k])
            return [tuple(out)]
        else:
            kernel = a["kernel"]
        for k, ax in enumerate((ha, wa)):
            out[ax] = _window(x[ax], kernel[k], strides[k], dil[k], pads[k], pads[k + 2])
        return [tuple(out)]
    if op == "GlobalAveragePool":
        ha, wa, _ = _spatial(graph)
        out = list(shp(0))
        out[ha] = out[wa] = 1
        return [tuple(out)]
    if op == "Resize":
        ha, wa, _ = _spatial(graph)
        out = list(shp(0))
        out[ha], out[wa] = resize_size(graph, node, out[ha], out[wa])
        return [tuple(out)]
    if op == "Gemm":
        return [(shp(0)[0], shp(1)[0])]
    if op == "Reshape":
        return [_rebatch(shp(0), tuple(int(d) for d in a["shape"]), node)]
    if op == "Transpose":
        x = shp(0)
        return [tuple(x[p] for p in a["perm"])]
    if op == "Concat":
        shapes = [shp(i) for i in range(len(node.inputs))]
        ax = a["axis"]
        out = list(shapes[0])
        out[ax] = sum(s[ax] for s in shapes)
        return [tuple(out)]
    if op == "Split":
        x = shp(0)
        ax = a["axis"]
        return [tuple(x[:ax]) + (int(s),) + tuple(x[ax + 1:]) for s in a["sizes"]]
    if op == "Slice":  # no ends in the attrs: the recorded shape (rebatch() adjusts dim 0)
        return [tuple(graph.tensor(node.outputs[0]).shape)]
    if op == "Pad":
        x = shp(0)
        p = a["pads"]
        return [tuple(d + p[i] + p[i + len(x)] for i, d in enumerate(x))]
    raise ValueError(f"shape inference: unknown op {op!r} (node {node.name!r})")


def set_shapes(graph: ir.Graph, node: ir.Node) -> None:
    try:
        shapes = infer_node(graph, node)
    except (IndexError, KeyError) as e:
        # A rank, arity or attribute the op needs is missing (a malformed model): the rules
        # above index what a well-formed node has, so report it as the node's fault.
        raise ValueError(f"shape inference: {node.op} node {node.name!r} has inputs or "
                         f"attributes of the wrong rank or arity ({type(e).__name__}: {e})"
                         ) from None
    for name, shape in zip(node.outputs, shapes):
        if not name:
            continue
        t = graph.tensors.get(name)
        if t is None:
            graph.tensors[name] = ir.Tensor(name, shape, "float32")
        elif not t.is_const:
            t.shape = shape


def infer_shapes(graph: ir.Graph) -> ir.Graph:
    for node in graph.topological():
        set_shapes(graph, node)
    return graph


def rebatch(graph: ir.Graph, input_shapes: dict[str, tuple[int, ...]]) -> ir.Graph:
    """Re-infer every shape for new model input shapes (in place): the batch rule of
    docs/ARCHITECTURE.md. A Slice that kept the whole batch axis keeps it; Reshape targets
    scale their first dimension."""
    whole_batch = {
        n.outputs[0] for n in graph.nodes
        if n.op == "Slice" and graph.tensor(n.outputs[0]).shape[:1]
        == graph.tensor(n.inputs[0]).shape[:1]
    }
    for name, shape in input_shapes.items():
        graph.tensor(name).shape = tuple(int(d) for d in shape)
    for node in graph.topological():
        if node.outputs[0] in whole_batch:
            t = graph.tensor(node.outputs[0])
            t.shape = graph.tensor(node.inputs[0]).shape[:1] + tuple(t.shape[1:])
        set_shapes(graph, node)
    return graph
