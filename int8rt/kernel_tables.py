"""Per-model constants of the non-convolution kernels: lookup tables, multipliers, index maps.

Lowering calls these once per model (TFLite's Prepare). Each is computed in float64 from the
stored float32 quantization parameters and rounded once, so the numpy reference and every
native path consume the very same int8 / int32 / float32 constants (docs/QUANTIZATION.md §2, §4).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from fractions import Fraction
from typing import Callable

import numpy as np

MAX_DIMS = 6  # I8_MAX_DIMS in csrc/include/int8rt/kernels.h
Q11 = 2048  # bilinear weights: fixed point with 11 fractional bits
EXP_TABLE_ONE = 1 << 20  # softmax table: Q20 values of exp(-s_x * d)


def _f64(scale: float) -> float:
    """A stored scale: the float32 value every consumer sees, widened exactly."""
    s = float(np.float32(scale))
    if not (s > 0.0 and math.isfinite(s)):
        raise ValueError(f"scale must be positive and finite, got {scale!r}")
    return s


# ---- elementwise unary functions (float64 in, float64 out; ONNX definitions) -----------------

def relu(x: np.ndarray) -> np.ndarray:
    return np.maximum(x, 0.0)


def clip(x: np.ndarray, lo: float = -math.inf, hi: float = math.inf) -> np.ndarray:
    return np.minimum(np.maximum(x, lo), hi)


def leaky_relu(x: np.ndarray, alpha: float = 0.01) -> np.ndarray:
    return np.where(x >= 0.0, x, alpha * x)


def sigmoid(x: np.ndarray) -> np.ndarray:
    # exp of a non-positive argument only: no overflow for large |x|
    e = np.exp(-np.abs(x))
    return np.where(x >= 0.0, 1.0 / (1.0 + e), e / (1.0 + e))


def hard_sigmoid(x: np.ndarray, alpha: float = 0.2, beta: float = 0.5) -> np.ndarray:
    return np.clip(alpha * x + beta, 0.0, 1.0)


def hard_swish(x: np.ndarray) -> np.ndarray:
    return x * np.clip(x / 6.0 + 0.5, 0.0, 1.0)


def tanh(x: np.ndarray) -> np.ndarray:
    return np.tanh(x)


def silu(x: np.ndarray) -> np.ndarray:
    return x * sigmoid(x)


def softplus(x: np.ndarray) -> np.ndarray:
    """log(1 + exp(x)) as max(x, 0) + log1p(exp(-|x|)): no overflow for large x, no loss of
    the small tail for very negative x."""
    return np.maximum(x, 0.0) + np.log1p(np.exp(-np.abs(x)))


def mish(x: np.ndarray) -> np.ndarray:
    """x * tanh(softplus(x)) (Misra 2019; ONNX Mish, opset 18)."""
    return x * np.tanh(softplus(x))


_erf = np.vectorize(math.erf, otypes=[np.float64])


def gelu(x: np.ndarray) -> np.ndarray:
    """Exact GELU, x * Phi(x) (ONNX Gelu approximate="none")."""
    return 0.5 * x * (1.0 + _erf(np.asarray(x, dtype=np.float64) / math.sqrt(2.0)))


def gelu_tanh(x: np.ndarray) -> np.ndarray:
    """ONNX Gelu approximate="tanh"."""
    return 0.5 * x * (1.0 + np.tanh(math.sqrt(2.0 / math.pi) * (x + 0.044715 * x**3)))


UNARY_FUNCTIONS: dict[str, Callable[..., np.ndarray]] = {
    "relu": relu, "clip": clip, "leaky_relu": leaky_relu, "sigmoid": sigmoid,
    "hard_sigmoid": hard_sigmoid, "hard_swish": hard_swish, "tanh": tanh, "silu": silu,
    "gelu": gelu, "gelu_tanh": gelu_tanh, "mish": mish,
}


def lut_table(fn: Callable[[np.ndarray], np.ndarray], x_scale: float, x_zp: int, y_scale: float,
              y_zp: int, qmin: int = -128, qmax: int = 127) -> np.ndarray:
    """table[q + 128] = clamp(rint(f(s_x (q - z_x)) / s_y) + z_y, qmin, qmax), in float64.

    `fn` maps a float64 array to a float64 array (bind extra arguments with functools.partial).
    A NaN result maps to z_y (a real 0); infinities saturate.
    """
    sx, sy = _f64(x_scale), _f64(y_scale)
    q = np.arange(-128, 128, dtype=np.float64)
    with np.errstate(over="ignore", invalid="ignore"):
        f = np.asarray(fn(sx * (q - int(x_zp))), dtype=np.float64)
        v = np.rint(f / sy) + int(y_zp)
    v = np.where(np.isnan(v), float(y_zp), v)
    return np.clip(v, max(qmin, -128), min(qmax, 127)).astype(np.int8)


# ---- multipliers ------------------------------------------------------------------------------

def requant_mult(x_scale: float, y_scale: float) -> np.float32:
    """s_x / s_y: requant_copy (Concat inputs, parameter changes)."""
    return np.float32(_f64(x_scale) / _f64(y_scale))


def mul_mult(a_scale: float, b_scale: float, y_scale: float) -> np.float32:
    """s_a s_b / s_y: Mul."""
    return np.float32(_f64(a_scale) * _f64(b_scale) / _f64(y_scale))


def add_multipliers(a_scale: float, b_scale: float, y_scale: float,
                    subtract: bool = False) -> tuple[int, int, np.float32]:
    """(A, B, 2^-k) for Add / Sub (docs/QUANTIZATION.md §4).

    A = round(2^k s_a / s_y), B = ±round(2^k s_b / s_y) with k the largest integer such that
    max(|A|, |B|) <= 2^22; then |acc| <= 255 (|A| + |B|) < 2^31. k is capped at 126 so that
    2^-k stays a normal float32 (only reached when both ratios are below 2^-104).
    """
    ra = _f64(a_scale) / _f64(y_scale)
    rb = _f64(b_scale) / _f64(y_scale)
    big = max(ra, rb)
    limit = 1 << 22
    # first guess from the exponent, then correct for rounding at the boundary
    k = min(126, math.floor(math.log2(limit / big)))

    def ints(k: int) -> tuple[int, int]:
        return round(math.ldexp(ra, k)), round(math.ldexp(rb, k))  # round: half to even

    while max(ints(k)) > limit:
        k -= 1
    while k < 126 and max(ints(k + 1)) <= limit:
        k += 1
    if k < -126:
        raise ValueError("add: scale ratio too large for the integer multipliers")
    a_mult, b_mult = ints(k)
    return a_mult, (-b_mult if subtract else b_mult), np.float32(math.ldexp(1.0, -k))


def avgpool_mults(x_scale: float, y_scale: float, kh: int, kw: int) -> np.ndarray:
    """mult_by_count[d] = s_x / (s_y d) for d in 1..kh*kw; entry 0 (no tap) is 0, so an
    all-padding window without count_include_pad yields the zero point."""
    sx, sy = _f64(x_scale), _f64(y_scale)
    m = np.zeros(kh * kw + 1, dtype=np.float32)
    d = np.arange(1, kh * kw + 1, dtype=np.float64)
    m[1:] = (sx / (sy * d)).astype(np.float32)
    return m


def global_avgpool_mult(x_scale: float, y_scale: float, hw: int) -> np.float32:
    """s_x / (s_y H W)."""
    return np.float32(_f64(x_scale) / (_f64(y_scale) * hw))


def bilinear_mult(x_scale: float, y_scale: float) -> np.float32:
    """s_x / (s_y 2^22): the Q11 x Q11 weights sum to 2^22."""
    return np.float32(_f64(x_scale) / (_f64(y_scale) * Q11 * Q11))


def softmax_exp_table(x_scale: float) -> np.ndarray:
    """T[d] = round(2^20 exp(-s_x d)), d = max - q in [0, 255]; T[0] = 2^20, so a row sum
    never is 0 and 256 columns of 2^20 still fit easily in int64 (and float32 is exact up
    to 16 columns)."""
    d = np.arange(256, dtype=np.float64)
    return np.rint(EXP_TABLE_ONE * np.exp(-_f64(x_scale) * d)).astype(np.int32)


# ---- resize index maps (ONNX Resize semantics) -----------------------------------------------

COORDINATE_MODES = ("half_pixel", "asymmetric", "align_corners", "pytorch_half_pixel",
                    "tf_half_pixel_for_nn", "half_pixel_symmetric")
NEAREST_MODES = ("round_prefer_floor", "round_prefer_ceil", "floor", "ceil")


def _source_coords(in_size: int, out_size: int, scale: float | None, mode: str) -> list[Fraction]:
    """x_original for every output index, in exact rational arithmetic.

    Exact arithmetic makes the rounding modes well defined at ties (ONNX's own float64
    evaluation agrees except where it rounds a tie away). `scale` is the ONNX `scales` value
    when the model gives scales; otherwise scale = out_size / in_size.
    """
    if in_size <= 0 or out_size < 0:
        raise ValueError(f"resize: bad sizes in={in_size} out={out_size}")
    s = Fraction(out_size, in_size) if scale is None else Fraction(float(np.float32(scale)))
    if s <= 0:
        raise ValueError(f"resize: scale must be positive, got {scale!r}")
    half = Fraction(1, 2)
    xs = []
    for x in range(out_size):
        if mode == "half_pixel":
            v = (x + half) / s - half
        elif mode == "asymmetric":
            v = x / s
        elif mode == "align_corners":
            v = Fraction(0) if out_size == 1 else Fraction(x * (in_size - 1), out_size - 1)
        elif mode == "pytorch_half_pixel":
            v = (x + half) / s - half if out_size > 1 else Fraction(0)
        elif mode == "tf_half_pixel_for_nn":
            v = (x + half) / s
        elif mode == "half_pixel_symmetric":
            adjustment = Fraction(out_size) / (s * in_size)
            offset = Fraction(in_size, 2) * (1 - adjustment)
            v = offset + (x + half) / s - half
        else:
            raise ValueError(f"resize: unsupported coordinate_transformation_mode {mode!r}")
        xs.append(v)
    return xs


def resize_nearest_map(in_size: int, out_size: int, scale: float | None = None,
                       coordinate_transformation_mode: str = "half_pixel",
                       nearest_mode: str = "round_prefer_floor") -> np.ndarray:
    """iy (or ix): int32[out_size] source index per output index, clamped to [0, in_size)."""
    out = np.empty(out_size, dtype=np.int32)
    for i, v in enumerate(_source_coords(in_size, out_size, scale,
                                         coordinate_transformation_mode)):
        lo = math.floor(v)
        frac = v - lo
        if nearest_mode == "round_prefer_floor":
            j = lo + (frac > Fraction(1, 2))
        elif nearest_mode == "round_prefer_ceil":
            j = lo + (frac >= Fraction(1, 2))
        elif nearest_mode == "floor":
            j = lo
        elif nearest_mode == "ceil":
            j = math.ceil(v)
        else:
            raise ValueError(f"resize: unsupported nearest_mode {nearest_mode!r}")
        out[i] = min(max(j, 0), in_size - 1)
    return out


def resize_linear_map(in_size: int, out_size: int, scale: float | None = None,
                      coordinate_transformation_mode: str = "half_pixel",
                      ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(i0, i1, w1): int32[out_size] each; output = (2048 - w1) x[i0] + w1 x[i1], in Q11.

    The source coordinate is clamped to [0, in_size - 1] first, which is exactly ONNX's edge
    padding of the two neighbours; w1 = round_half_even(2048 (x - i0)).
    """
    i0 = np.empty(out_size, dtype=np.int32)
    i1 = np.empty(out_size, dtype=np.int32)
    w1 = np.empty(out_size, dtype=np.int32)
    for i, v in enumerate(_source_coords(in_size, out_size, scale,
                                         coordinate_transformation_mode)):
        v = min(max(v, Fraction(0)), Fraction(in_size - 1))
        lo = math.floor(v)
        i0[i] = lo
        i1[i] = min(lo + 1, in_size - 1)
        w1[i] = round((v - lo) * Q11)  # Fraction.__round__ is half to even
    return i0, i1, w1


# ---- broadcasting ------------------------------------------------------------------------------

def collapse_broadcast(a_shape: Sequence[int], b_shape: Sequence[int],
                       ) -> tuple[int, tuple[int, ...], tuple[int, ...], tuple[int, ...]]:
    """numpy broadcasting of a and b as (ndim, out_shape, a_stride, b_stride) for add / mul.

    Axes of output size 1 are dropped and adjacent axes where a and b broadcast the same way
    are merged, so e.g. [1, 56, 56, 64] + [64] becomes a [3136, 64] walk with b_stride
    (0, 1), and same-shape operands become one flat axis. Strides are in elements of each
    operand's own contiguous buffer (0 on a broadcast axis). Raises ValueError when the shapes
    do not broadcast or more than 6 axes remain.
    """
    a_shape, b_shape = tuple(int(d) for d in a_shape), tuple(int(d) for d in b_shape)
    nd = max(len(a_shape), len(b_shape))
    a_full = (1,) * (nd - len(a_shape)) + a_shape
    b_full = (1,) * (nd - len(b_shape)) + b_shape
    dims: list[list[int]] = []  # [size, a_has_axis, b_has_axis]
    for da, db in zip(a_full, b_full):
        if da != db and da != 1 and db != 1:
            raise ValueError(f"shapes {a_shape} and {b_shape} do not broadcast")
        size = max(da, db) if min(da, db) != 0 else 0
        if size == 1:
            continue
        pattern = [size, int(da != 1), int(db != 1)]
        if dims and dims[-1][1:] == pattern[1:]:
            dims[-1][0] *= size
        else:
            dims.append(pattern)
    if not dims:
        dims = [[1, 1, 1]]
    if len(dims) > MAX_DIMS:
        raise ValueError(f"broadcast of {a_shape} and {b_shape} needs {len(dims)} axes after "
                         f"collapsing; the kernels handle at most {MAX_DIMS}")
    out_shape = tuple(d[0] for d in dims)
    a_stride, b_stride = [0] * len(dims), [0] * len(dims)
    sa = sb = 1
    for i in range(len(dims) - 1, -1, -1):
        size, has_a, has_b = dims[i]
        if has_a:
            a_stride[i] = sa
            sa *= size
        if has_b:
            b_stride[i] = sb
            sb *= size
    return len(dims), out_shape, tuple(a_stride), tuple(b_stride)
