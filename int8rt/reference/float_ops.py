"""Float32 numpy implementations of the canonical ops (int8rt/opset.py), NHWC.

One function per op, `fn(ins, attrs, shapes) -> list of outputs`: `ins` are the input arrays
(None for an omitted optional input), `attrs` the node's attributes with the schema defaults
filled in, `shapes` a `NodeShapes` with the shapes the graph recorded (only Slice and Reshape
look at them: they carry the batch dimension over when the executor runs another batch size).

Convolutions are im2col + one float32 matmul (BLAS) per group; depthwise convolution and the
pools accumulate one kernel tap at a time over whole NHWC arrays, so no Python loop ever runs
over pixels.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np

from int8rt import opset

from .f32_math import sqrt_f32

F32 = np.float32


@dataclass(frozen=True)
class NodeShapes:
    inputs: tuple[tuple[int, ...] | None, ...]
    outputs: tuple[tuple[int, ...] | None, ...]


Ins = list[Any]
Attrs = dict[str, Any]
OpFn = Callable[[Ins, Attrs, NodeShapes], list[np.ndarray]]


def _clip(y: np.ndarray, clip: tuple[float, float]) -> np.ndarray:
    lo, hi = clip
    if lo != -math.inf or hi != math.inf:
        np.clip(y, lo, hi, out=y)
    return y


def _taps(xp: np.ndarray, kh: int, kw: int, strides, dilations, oh: int, ow: int):
    """Yield (i, j, view) for every kernel tap: the strided NHWC view of the padded input that
    tap (i, j) reads for all output pixels at once."""
    sh, sw = strides
    dh, dw = dilations
    for i in range(kh):
        for j in range(kw):
            y0, x0 = i * dh, j * dw
            yield i, j, xp[:, y0:y0 + sh * (oh - 1) + 1:sh, x0:x0 + sw * (ow - 1) + 1:sw, :]


def _pad_nhwc(x: np.ndarray, pads, value: float = 0.0) -> np.ndarray:
    t, l, b, r = pads
    if t == l == b == r == 0:
        return x
    return np.pad(x, ((0, 0), (t, b), (l, r), (0, 0)), constant_values=value)


def _out_size(n: int, k: int, s: int, d: int, p0: int, p1: int) -> int:
    return (n + p0 + p1 - d * (k - 1) - 1) // s + 1


def conv(ins: Ins, a: Attrs, shapes: NodeShapes) -> list[np.ndarray]:
    x, w = ins[0], ins[1]
    b = ins[2] if len(ins) > 2 else None
    n, h, wd, c = x.shape
    oc, kh, kw, cg = w.shape
    g = int(a["group"])
    (sh, sw), (dh, dw), pads = a["strides"], a["dilations"], a["pads"]
    oh = _out_size(h, kh, sh, dh, pads[0], pads[2])
    ow = _out_size(wd, kw, sw, dw, pads[1], pads[3])
    xp = _pad_nhwc(x, pads)
    if g == 1:
        if kh == kw == 1 and sh == sw == 1:
            cols = xp[:, :oh, :ow, :].reshape(-1, c)
        else:
            cols6 = np.empty((n, oh, ow, kh, kw, c), F32)
            for i, j, v in _taps(xp, kh, kw, (sh, sw), (dh, dw), oh, ow):
                cols6[:, :, :, i, j, :] = v
            cols = cols6.reshape(-1, kh * kw * c)
        y = (cols @ w.reshape(oc, -1).T).reshape(n, oh, ow, oc)
    elif cg == 1 and g == c:
        # depthwise: output channel o reads input channel o // mult
        mult = oc // c
        if mult > 1:
            xp = np.repeat(xp, mult, axis=3)
        y = np.zeros((n, oh, ow, oc), F32)
        for i, j, v in _taps(xp, kh, kw, (sh, sw), (dh, dw), oh, ow):
            y += v * w[:, i, j, 0]
    else:
        ocg = oc // g
        parts = []
        for gi in range(g):
            sub = [xp[..., gi * cg:(gi + 1) * cg], w[gi * ocg:(gi + 1) * ocg]]
            parts.append(conv(sub, {**a, "group": 1, "pads": (0, 0, 0, 0)}, shapes)[0])
        y = np.concatenate(parts, axis=3)
    y = np.ascontiguousarray(y, F32)
    if b is not None:
        y += b
    return [_clip(y, a["clip"])]


def gemm(ins: Ins, a: Attrs, shapes: NodeShapes) -> list[np.ndarray]:
    x, w = ins[0], ins[1]
    y = np.asarray(x @ w.T, F32)
    if len(ins) > 2 and ins[2] is not None:
        y = y + ins[2]
    return [_clip(np.array(y, F32), a["clip"])]


def _binary(fn) -> OpFn:
    def run(ins: Ins, a: Attrs, shapes: NodeShapes) -> list[np.ndarray]:
        y = np.asarray(fn(ins[0], ins[1]), F32)
        y = np.array(y, F32) if not y.flags.writeable or y.base is not None else y
        return [_clip(y, a.get("clip", (-math.inf, math.inf)))]

    return run


def _unary(fn) -> OpFn:
    def run(ins: Ins, a: Attrs, shapes: NodeShapes) -> list[np.ndarray]:
        with np.errstate(over="ignore"):
            return [np.asarray(fn(ins[0].astype(F32, copy=False), a), F32)]

    return run


def _erf(x: np.ndarray) -> np.ndarray:
    # numpy has no erf; math.erf elementwise in float64 is exact enough
    return np.vectorize(math.erf, otypes=[np.float64])(x.astype(np.float64))


def _pool_geometry(x: np.ndarray, a: Attrs):
    kh, kw = a["kernel"]
    (sh, sw), pads = a["strides"], a["pads"]
    dh, dw = a.get("dilations", (1, 1))
    oh = _out_size(x.shape[1], kh, sh, dh, pads[0], pads[2])
    ow = _out_size(x.shape[2], kw, sw, dw, pads[1], pads[3])
    return kh, kw, (sh, sw), (dh, dw), pads, oh, ow


def maxpool(ins: Ins, a: Attrs, shapes: NodeShapes) -> list[np.ndarray]:
    x = ins[0]
    kh, kw, s, d, pads, oh, ow = _pool_geometry(x, a)
    xp = _pad_nhwc(x, pads, -np.inf)
    y = None
    for _, _, v in _taps(xp, kh, kw, s, d, oh, ow):
        y = v.copy() if y is None else np.maximum(y, v, out=y)
    return [y]


def averagepool(ins: Ins, a: Attrs, shapes: NodeShapes) -> list[np.ndarray]:
    x = ins[0]
    kh, kw, s, d, pads, oh, ow = _pool_geometry(x, a)
    xp = _pad_nhwc(x, pads)
    y = np.zeros((x.shape[0], oh, ow, x.shape[3]), F32)
    for _, _, v in _taps(xp, kh, kw, s, d, oh, ow):
        y += v
    if a["count_include_pad"]:
        y /= F32(kh * kw)
    else:
        ones = _pad_nhwc(np.ones((1,) + x.shape[1:3] + (1,), F32), pads)
        cnt = np.zeros((1, oh, ow, 1), F32)
        for _, _, v in _taps(ones, kh, kw, s, d, oh, ow):
            cnt += v
        y /= cnt
    return [y]


def global_averagepool(ins: Ins, a: Attrs, shapes: NodeShapes) -> list[np.ndarray]:
    return [ins[0].mean(axis=(1, 2), keepdims=True, dtype=F32)]


def _batch_fixed(target: list[int], size: int) -> list[int]:
    """Shapes were resolved for the import-time batch; another batch size changes dim 0."""
    if int(np.prod(target)) != size and target:
        target = [-1] + list(target[1:])
    return target


def reshape(ins: Ins, a: Attrs, shapes: NodeShapes) -> list[np.ndarray]:
    x = ins[0]
    return [x.reshape(_batch_fixed(list(a["shape"]), x.size))]


def transpose(ins: Ins, a: Attrs, shapes: NodeShapes) -> list[np.ndarray]:
    return [np.ascontiguousarray(np.transpose(ins[0], a["perm"]))]


def concat(ins: Ins, a: Attrs, shapes: NodeShapes) -> list[np.ndarray]:
    arrs = [np.asarray(v) for v in ins]
    if arrs[0].ndim:
        # a constant operand keeps its import-time batch; broadcast it along dim 0
        n = max(v.shape[0] for v in arrs)
        if int(a["axis"]) != 0:
            arrs = [np.broadcast_to(v, (n,) + v.shape[1:]) if v.shape[0] == 1 else v
                    for v in arrs]
    return [np.concatenate(arrs, axis=int(a["axis"]))]


def split(ins: Ins, a: Attrs, shapes: NodeShapes) -> list[np.ndarray]:
    idx = np.cumsum(a["sizes"])[:-1]
    return [np.ascontiguousarray(p) for p in np.split(ins[0], idx, axis=int(a["axis"]))]


def slice_(ins: Ins, a: Attrs, shapes: NodeShapes) -> list[np.ndarray]:
    x = ins[0]
    in_shape, out_shape = shapes.inputs[0], shapes.outputs[0]
    sl = []
    for ax, (start, step) in enumerate(zip(a["starts"], a["steps"])):
        n_out = out_shape[ax]
        if start == 0 and step == 1 and in_shape[ax] == n_out:
            sl.append(slice(None))  # whole axis: also right for another batch size
            continue
        stop = start + step * n_out
        sl.append(slice(start, stop if stop >= 0 else None, step))
    return [np.ascontiguousarray(x[tuple(sl)])]


def pad(ins: Ins, a: Attrs, shapes: NodeShapes) -> list[np.ndarray]:
    x = ins[0]
    p = list(a["pads"])
    nd = x.ndim
    width = [(p[i], p[i + nd]) for i in range(nd)]
    mode = a["mode"]
    if mode == "constant":
        return [np.pad(x, width, constant_values=a["value"])]
    return [np.pad(x, width, mode={"reflect": "reflect", "edge": "edge"}[mode])]


def _source_coords(n_out: int, n_in: int, scale: float, mode: str) -> np.ndarray:
    o = np.arange(n_out, dtype=np.float64)
    if mode == "half_pixel":
        return (o + 0.5) / scale - 0.5
    if mode == "pytorch_half_pixel":
        return (o + 0.5) / scale - 0.5 if n_out > 1 else np.zeros(n_out)
    if mode == "align_corners":
        return o * (n_in - 1) / (n_out - 1) if n_out > 1 else np.zeros(n_out)
    if mode == "asymmetric":
        return o / scale
    if mode == "tf_half_pixel_for_nn":
        return (o + 0.5) / scale
    raise ValueError(f"unsupported coordinate_transformation_mode {mode!r}")


def nearest_index(n_out: int, n_in: int, scale: float, ctm: str, nearest: str) -> np.ndarray:
    c = _source_coords(n_out, n_in, scale, ctm)
    if nearest == "round_prefer_floor":
        i = np.where(c - np.floor(c) == 0.5, np.floor(c), np.round(c))
    elif nearest == "round_prefer_ceil":
        i = np.where(c - np.floor(c) == 0.5, np.ceil(c), np.round(c))
    elif nearest == "floor":
        i = np.floor(c)
    elif nearest == "ceil":
        i = np.ceil(c)
    else:
        raise ValueError(f"unsupported nearest_mode {nearest!r}")
    return np.clip(i, 0, n_in - 1).astype(np.int64)


def linear_taps(n_out: int, n_in: int, scale: float, ctm: str):
    """(lo, hi, frac) per output coordinate; ONNX Runtime clamps the source coordinate into
    [0, n_in - 1] before splitting it."""
    c = np.clip(_source_coords(n_out, n_in, scale, ctm), 0, n_in - 1)
    lo = np.floor(c).astype(np.int64)
    hi = np.minimum(lo + 1, n_in - 1)
    return lo, hi, (c - lo)


def resize(ins: Ins, a: Attrs, shapes: NodeShapes) -> list[np.ndarray]:
    x = ins[0]
    _, h, w, _ = x.shape
    oh, ow = a["size"]
    sh, sw = a.get("scales") or (oh / h, ow / w)
    ctm = a["coordinate_transformation_mode"]
    if a["mode"] == "nearest":
        iy = nearest_index(oh, h, sh, ctm, a["nearest_mode"])
        ix = nearest_index(ow, w, sw, ctm, a["nearest_mode"])
        return [np.ascontiguousarray(x[:, iy][:, :, ix])]
    y0, y1, fy = linear_taps(oh, h, sh, ctm)
    x0, x1, fx = linear_taps(ow, w, sw, ctm)
    fy = fy.astype(F32)[None, :, None, None]
    fx = fx.astype(F32)[None, None, :, None]
    t = x[:, y0] * (1 - fy) + x[:, y1] * fy
    return [np.ascontiguousarray(t[:, :, x0] * (1 - fx) + t[:, :, x1] * fx, F32)]


def softmax(ins: Ins, a: Attrs, shapes: NodeShapes) -> list[np.ndarray]:
    x = ins[0]
    ax = int(a["axis"])
    e = np.exp(x - x.max(axis=ax, keepdims=True))
    return [(e / e.sum(axis=ax, keepdims=True)).astype(F32)]


def _onnx_definition(op: str) -> OpFn:
    """An op with ONNX semantics (opset.ONNX_FLOAT_OPS): ONNX's numpy definition, in float32."""
    from .onnx_ops import run_node

    def run(ins: Ins, a: Attrs, shapes: NodeShapes) -> list[np.ndarray]:
        return [np.asarray(y, F32) for y in run_node(op, ins, a, op)]
    return run


OPS: dict[str, OpFn] = {
    "Conv": conv,
    "Gemm": gemm,
    "Exp": _unary(lambda x, a: np.exp(x)),
    "Log": _unary(lambda x, a: np.log(x)),
    "Sqrt": _unary(lambda x, a: sqrt_f32(x)),
    "Abs": _unary(lambda x, a: np.abs(x)),
    "Neg": _unary(lambda x, a: -x),
    "Reciprocal": _unary(lambda x, a: F32(1) / x),
    "Erf": _unary(lambda x, a: _erf(x)),
    "MaxPool": maxpool,
    "AveragePool": averagepool,
    "GlobalAveragePool": global_averagepool,
    "Reshape": reshape,
    "Transpose": transpose,
    "Concat": concat,
    "Split": split,
    "Slice": slice_,
    "Pad": pad,
    "Resize": resize,
    "Softmax": softmax,
    # unary elementwise ops: their real function as opset.py declares it
    **{op: _unary(lambda x, a, op=op: opset.unary_function(op, a)(x)) for op in opset.UNARY_OPS},
    # binary elementwise ops: their function as opset.py declares it
    **{op: _binary(opset.binary_function(op)) for op in opset.BINARY_OPS},
    # ops with ONNX semantics (NCHW data, ONNX attributes): ONNX's definition
    **{op: _onnx_definition(op) for op in opset.ONNX_FLOAT_OPS},
}
