"""Numpy reference of the float32 records a static plan runs for nodes left in float
(lower.py's float fallback over csrc/kernels/f32: f32_binary, f32_unary, reduce, f32_softmax,
and matmul / where / strided_copy / layernorm for the ONNX-semantics ops) and the dynamic path's f32_maxpool.

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
    if op not in F32_ARITH:
        raise ValueError(f"f32_binary op {op} is not a float arithmetic op")
    x, y = _strided(a.astype(F32), shape, a_stride), _strided(b.astype(F32), shape, b_stride)
    with np.errstate(all="ignore"):
        return np.asarray(F32_ARITH[op](x, y)).astype(F32)


# f32_binary's float arithmetic by op code (csrc/kernels/f32/f32.c f32_op, element for element:
# the codes are opset.py's `f32_code`)
F32_ARITH = {
    0: lambda x, y: x + y,
    1: lambda x, y: x - y,
    2: lambda x, y: x * y,
    3: lambda x, y: x / y,
    4: lambda x, y: np.where(y == 2, x * x, np.power(x.astype(np.float64), y)),  # powf; x * x
    5: lambda x, y: np.where((x > y) | np.isnan(x), x, y),  # a > b || isnan(a) ? a : b
    6: lambda x, y: np.where((x < y) | np.isnan(x), x, y),
    7: lambda x, y: np.where(x < 0, x * y, x),  # PRelu, y the slope
}


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
            18: lambda: (x * _clip01(x * F32(1 / 6) + F32(0.5))) * a + b,
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


def f32_maxpool(x, *, n: int, c: int, h: int, w: int, oh: int, ow: int, kh: int, kw: int,
                stride_h: int, stride_w: int, dil_h: int, dil_w: int, pad_t: int, pad_l: int,
                **_) -> np.ndarray:
    """NCHW MaxPool as kernels/f32/pool.c: m = -inf, then per in-bounds tap in row-major
    order m = v where v > m or v is NaN (NaN propagates; of equal values the first stays)."""
    v = np.asarray(x, F32).reshape(n, c, h, w)
    m = np.full((n, c, oh, ow), -np.inf, F32)
    oy = np.arange(oh) * stride_h - pad_t
    ox = np.arange(ow) * stride_w - pad_l
    for ky in range(kh):
        iy = oy + ky * dil_h
        for kx in range(kw):
            ix = ox + kx * dil_w
            inside = ((iy >= 0) & (iy < h))[:, None] & ((ix >= 0) & (ix < w))[None, :]
            tap = v[:, :, np.clip(iy, 0, h - 1)][:, :, :, np.clip(ix, 0, w - 1)]
            m = np.where(inside & ((tap > m) | np.isnan(tap)), tap, m)
    return m


def matmul(a, b, *, m: int, k: int, n: int, lda: int, ldb: int, batch, a_stride, b_stride,
           **_) -> np.ndarray:
    """i8_f32_matmul_run: per batch index, [m, k] rows lda apart times [k, n] rows ldb apart,
    at the element offsets sum(index * stride), each product summed in k order
    (reference/dynq.py matmul_f32: the float matmul's own arithmetic)."""
    from .dynq import matmul_f32

    fa, fb = np.asarray(a, F32).reshape(-1), np.asarray(b, F32).reshape(-1)
    out = []
    for idx in np.ndindex(*batch):
        oa = sum(i * s for i, s in zip(idx, a_stride))
        ob = sum(i * s for i, s in zip(idx, b_stride))
        out.append(matmul_f32(_strided(fa[oa:], (m, k), (lda, 1)),
                              _strided(fb[ob:], (k, n), (ldb, 1))))
    return np.stack(out).reshape(*batch, m, n)


def where(c, a, b, *, shape, c_stride, a_stride, b_stride, **_) -> np.ndarray:
    """i8_f32_where_run: a's element where the (byte) condition is non-zero, else b's."""
    cond = _strided(np.asarray(c).view(np.uint8), shape, c_stride) != 0
    return np.where(cond, _strided(a, shape, a_stride), _strided(b, shape, b_stride))


def layernorm(x, res=None, *, gamma, beta=None, rows: int, cols: int, eps: float,
              has_beta: int, has_residual: int = 0, **_) -> np.ndarray:
    """i8_f32_layernorm_run (the scalar kernel, bit for bit): v = x (+ res, one float32
    rounding), mean and variance summed in double in index order (np.cumsum is sequential),
    inv = (float)(1 / sqrt(var + (double)eps)), then ((v - (float)mean) * inv) * gamma + beta
    in float32. The AVX2 rows sum four double lanes: within the layer-norm tolerance of this,
    not equal (csrc/kernels/f32/layernorm_avx2.c)."""
    v = np.asarray(x, F32).reshape(rows, cols)
    if has_residual:
        v = (v + np.asarray(res, F32).reshape(rows, cols)).astype(F32)
    v64 = v.astype(np.float64)
    mean = np.cumsum(v64, axis=1)[:, -1] / cols
    d = v64 - mean[:, None]
    var = np.cumsum(d * d, axis=1)[:, -1] / cols
    inv = (1.0 / np.sqrt(var + float(F32(eps)))).astype(F32)
    y = ((v - mean.astype(F32)[:, None]) * inv[:, None]).astype(F32)
    y = (y * np.asarray(gamma, F32).reshape(1, cols)).astype(F32)
    if has_beta:
        y = (y + np.asarray(beta, F32).reshape(1, cols)).astype(F32)
    return y


def strided_copy(x, *, shape, x_offset: int, y_offset: int, x_stride, y_stride, **_
                 ) -> np.ndarray:
    """i8_f32_strided_copy_run writing a whole contiguous output (Expand, Transpose): element
    `index` of the output is x[x_offset + sum(index * x_stride)]."""
    if y_offset or list(y_stride) != _contiguous(shape):
        raise ValueError("strided_copy reference: the output must be whole and contiguous")
    return _strided(np.asarray(x).reshape(-1)[x_offset:], shape, x_stride).copy()


def _contiguous(shape) -> list[int]:
    st, acc = [], 1
    for d in reversed(list(shape)):
        st.append(acc)
        acc *= int(d)
    return st[::-1]


KERNELS = {"f32_binary": f32_binary, "f32_unary": f32_unary, "reduce": reduce,
           "f32_softmax": f32_softmax, "f32_maxpool": f32_maxpool, "matmul": matmul,
           "where": where, "strided_copy": strided_copy, "layernorm": layernorm}
