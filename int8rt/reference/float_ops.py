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
from .windows import out_size as _out_size
from .windows import pad_nhwc as _pad_nhwc
from .windows import taps as _taps

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


def softmax(ins: Ins, a: Attrs, shapes: NodeShapes) -> list[np.ndarray]:
    x = ins[0]
    ax = int(a["axis"])
    e = np.exp(x - x.max(axis=ax, keepdims=True))
    return [(e / e.sum(axis=ax, keepdims=True)).astype(F32)]


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
    "Softmax": softmax,
    # pooling and data movement: the reference their declaration names (int8rt/ops/)
    **{s.name: s.reference for s in opset.OPS.values() if s.reference is not None},
    # unary elementwise ops: their real function as opset.py declares it
    **{op: _unary(lambda x, a, op=op: opset.unary_function(op, a)(x)) for op in opset.UNARY_OPS},
    # binary elementwise ops: their function as opset.py declares it
    **{op: _binary(opset.binary_function(op)) for op in opset.BINARY_OPS},
}
