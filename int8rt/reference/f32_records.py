"""Numpy reference of the float32 records a static plan runs for nodes left in float
(lower.py's float fallback over csrc/kernels/f32: f32_binary, f32_unary, reduce, f32_softmax).

Exact (float32 numpy does the same IEEE operations in the same order): add, sub, mul, div,
max, min, relu, clip, neg, abs, sqrt, reciprocal, hard_sigmoid, hard_swish, leaky_relu
(each written below exactly as the C kernel computes it) and the mean (float32 sum in index
order, then one division). The rest call libm in C (exp, log, tanh, erf, pow, sigmoid, silu,
gelu, softmax): here they are computed in float64 and rounded once, within a few float32 ulp of
the C result, so tests compare those with a tolerance.
"""

from __future__ import annotations

import math

import numpy as np

from .f32_math import sqrt_f32

F32 = np.float32


def _strided(buf: np.ndarray, shape, stride) -> np.ndarray:
    flat = np.ascontiguousarray(buf).reshape(-1)
    item = flat.itemsize
    return np.lib.stride_tricks.as_strided(flat, tuple(shape), tuple(int(s) * item for s in stride))


def f32_binary(a, b, *, op: int, type: int, shape, a_stride, b_stride, **_) -> np.ndarray:
    if type != 0:
        raise ValueError("the static plan's float records are float32 only")
    x, y = _strided(a.astype(F32), shape, a_stride), _strided(b.astype(F32), shape, b_stride)
    with np.errstate(all="ignore"):
        if op == 0:
            return (x + y).astype(F32)
        if op == 1:
            return (x - y).astype(F32)
        if op == 2:
            return (x * y).astype(F32)
        if op == 3:
            return (x / y).astype(F32)
        if op == 4:  # powf; b == 2 is x * x in C
            return np.where(y == 2, x * x, np.power(x.astype(np.float64), y)).astype(F32)
        if op == 5:  # a > b || isnan(a) ? a : b
            return np.where((x > y) | np.isnan(x), x, y).astype(F32)
        if op == 6:
            return np.where((x < y) | np.isnan(x), x, y).astype(F32)
    raise ValueError(f"f32_binary op {op} is not a float arithmetic op")


def _clip01(v: np.ndarray) -> np.ndarray:
    return np.where(v < 0, F32(0), np.where(v > 1, F32(1), v)).astype(F32)


def f32_unary(x, *, op: int, n: int, alpha: float, beta: float, **_) -> np.ndarray:
    x = np.asarray(x, F32).reshape(-1)[:n]
    a, b = F32(alpha), F32(beta)
    d = x.astype(np.float64)
    with np.errstate(all="ignore"):
        exact = {
            0: lambda: np.where(x > 0, x, F32(0)),
            4: lambda: sqrt_f32(x),
            8: lambda: -x,
            9: lambda: np.where(np.where(x < a, a, x) > b, b, np.where(x < a, a, x)),
            10: lambda: F32(1) / x,
            11: lambda: np.abs(x),
            14: lambda: _clip01(a * x + b),
            15: lambda: x * _clip01(x * F32(1 / 6) + F32(0.5)),
            16: lambda: np.where(x >= 0, x, a * x),
        }
        libm = {
            1: lambda: 1 / (1 + np.exp(-d)),
            2: lambda: np.tanh(d),
            3: lambda: np.vectorize(math.erf, otypes=[np.float64])(d),
            5: lambda: 0.5 * d * (1 + np.vectorize(math.erf, otypes=[np.float64])(d / math.sqrt(2))),
            6: lambda: 0.5 * d * (1 + np.tanh(0.79788456080286536 * (d + 0.044715 * d ** 3))),
            7: lambda: np.exp(d),
            13: lambda: np.log(d),
            17: lambda: d / (1 + np.exp(-d)),
        }
        if op in exact:
            return np.asarray(exact[op](), F32)
        if op in libm:
            return np.asarray(libm[op](), F32)
    raise ValueError(f"f32_unary op {op} is not a float op of the static plan")


def reduce(x, *, op: int, outer: int, r: int, inner: int, **_) -> np.ndarray:
    v = np.asarray(x, F32).reshape(outer, r, inner)
    if op == 2:
        return v.max(axis=1)
    acc = np.zeros((outer, inner), F32)
    for k in range(r):  # float32, in index order, as the C loop
        acc = (acc + v[:, k]).astype(F32)
    return (acc / F32(r)).astype(F32) if op == 1 else acc


def f32_softmax(x, *, rows: int, cols: int, **_) -> np.ndarray:
    v = np.asarray(x, F32).reshape(rows, cols).astype(np.float64)
    e = np.exp(v - v.max(axis=1, keepdims=True))
    return (e / e.sum(axis=1, keepdims=True)).astype(F32)


KERNELS = {"f32_binary": f32_binary, "f32_unary": f32_unary, "reduce": reduce,
           "f32_softmax": f32_softmax}
