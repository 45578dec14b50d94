"""Quantization parameters: docs/QUANTIZATION.md §2 (choosing them), §5 (fused clamp bounds),
§6 (the model-boundary Quantize), and the float32 multipliers of §4.

This module is the one place these formulas live. Everything is computed in float64 from the
inputs and rounded to float32 exactly once when stored; every later consumer reads only the
stored float32 values (§2), so two machines that agree on the stored parameters agree on every
integer the runtime produces.
"""

from __future__ import annotations

import numpy as np

from int8rt.ir import QParams

INT8_MIN, INT8_MAX = -128, 127
INT32_MIN, INT32_MAX = -(2**31), 2**31 - 1

# The smallest normal float32. A scale below it would be subnormal (or flush to 0 when
# stored), and 1/s would overflow float32: a range that narrow is floored here.
_MIN_SCALE = float(np.finfo(np.float32).tiny)


def _check_finite(what: str, *values: float) -> None:
    if not all(np.isfinite(v) for v in values):
        raise ValueError(f"{what} must be finite, got {values}")


def activation_qparams(lo: float, hi: float, qmin: int = INT8_MIN,
                       qmax: int = INT8_MAX) -> QParams:
    """Per-tensor asymmetric parameters for the real range [lo, hi] (§2).

    The range is widened to include 0 so that 0 is exactly representable (q = z): padding,
    ReLU and zero accumulators rely on it. s = (hi - lo) / (qmax - qmin) and
    z = clamp(rint(qmin - lo / s), qmin, qmax), both from the float64 s; s is then stored as
    float32. A range of exactly [0, 0] gets s = 1, z = 0 (any scale represents it exactly).
    """
    lo, hi = float(lo), float(hi)
    _check_finite("an activation range", lo, hi)
    if lo > hi:
        raise ValueError(f"activation range is empty: lo={lo} > hi={hi}")
    if qmin >= qmax:
        raise ValueError(f"qmin ({qmin}) must be below qmax ({qmax})")
    lo, hi = min(lo, 0.0), max(hi, 0.0)
    if hi == lo:
        return QParams.per_tensor(1.0, 0)
    s = (hi - lo) / (qmax - qmin)
    if not np.isfinite(np.float32(s)):
        raise ValueError(f"activation range [{lo}, {hi}] is too wide for a float32 scale")
    s = max(s, _MIN_SCALE)
    # lo <= 0 <= hi, so qmin - lo/s lies in [qmin, qmax] up to rounding; the clamp is for that
    z = int(np.clip(np.rint(qmin - lo / s), qmin, qmax))
    return QParams.per_tensor(s, z)


def symmetric_activation_qparams(lo: float, hi: float) -> QParams:
    """Per-tensor symmetric parameters: z = 0, s = max(|lo|, |hi|) / 127, so the real range
    [-127 s, 127 s] is centred on 0 (-128 stays reachable for values just below -127 s). A
    zero range gets s = 1."""
    lo, hi = float(lo), float(hi)
    _check_finite("an activation range", lo, hi)
    if lo > hi:
        raise ValueError(f"activation range is empty: lo={lo} > hi={hi}")
    amax = max(abs(lo), abs(hi))
    if amax == 0.0:
        return QParams.per_tensor(1.0, 0)
    s = amax / INT8_MAX
    if not np.isfinite(np.float32(s)):
        raise ValueError(f"activation range [{lo}, {hi}] is too wide for a float32 scale")
    return QParams.per_tensor(max(s, _MIN_SCALE), 0)


def _weight_qmax(bits: int) -> int:
    if not 2 <= bits <= 8:
        raise ValueError(f"weight bits must be in [2, 8] (stored as int8), got {bits}")
    return 2 ** (bits - 1) - 1


def weight_qparams(w: np.ndarray, axis: int = 0, per_channel: bool = True,
                   bits: int = 8) -> QParams:
    """Symmetric weight parameters (§2): z = 0, s[c] = max|w[c]| / (2^(bits-1) - 1), so values
    map into [-(2^(bits-1) - 1), 2^(bits-1) - 1]: -128 is never produced (8 bits). An all-zero
    channel gets s = 1. `axis` is the output-channel axis for per-channel parameters."""
    qmax = _weight_qmax(bits)
    w = np.asarray(w, dtype=np.float64)
    if not np.isfinite(w).all():
        raise ValueError("weights contain NaN or Inf")
    if per_channel:
        if w.ndim == 0:
            raise ValueError("per-channel weight parameters need at least one axis")
        axis = axis % w.ndim
        other = tuple(i for i in range(w.ndim) if i != axis)
        amax = np.abs(w).max(axis=other) if w.size else np.zeros(w.shape[axis])
        s = amax / qmax
        s = np.where(amax == 0, 1.0, np.maximum(s, _MIN_SCALE))
        return QParams(s.astype(np.float32), np.zeros(s.shape, np.int32), axis)
    amax = float(np.abs(w).max()) if w.size else 0.0
    s = 1.0 if amax == 0 else max(amax / qmax, _MIN_SCALE)
    return QParams.per_tensor(s, 0)


def _broadcast_scale(qp: QParams, ndim: int) -> np.ndarray:
    """The stored float32 scale shaped to broadcast against a tensor of rank `ndim`."""
    s = np.asarray(qp.scale, dtype=np.float32)
    if qp.axis is None:
        return s.reshape(())
    shape = [1] * ndim
    shape[qp.axis % ndim] = s.size
    return s.reshape(shape)


def _broadcast_zp(qp: QParams, ndim: int) -> np.ndarray:
    z = np.asarray(qp.zero_point, dtype=np.int32)
    if qp.axis is None:
        return z.reshape(())
    shape = [1] * ndim
    shape[qp.axis % ndim] = z.size
    return z.reshape(shape)


def quantize_weights(w: np.ndarray, qp: QParams, bits: int = 8) -> np.ndarray:
    """q = clamp(rint(w / s), -qmax, qmax) with the stored float32 s (§2), in float64."""
    qmax = _weight_qmax(bits)
    w = np.asarray(w, dtype=np.float64)
    s = _broadcast_scale(qp, w.ndim).astype(np.float64)
    q = np.clip(np.rint(w / s), -qmax, qmax)
    return q.astype(np.int8)


def bias_scale(x_scale: float, w_scales: np.ndarray) -> np.ndarray:
    """s_b = s_x * s_w[c] from the stored float32 values, as float64 (the exact product of two
    float32 numbers fits in float64's 53-bit significand)."""
    return np.float64(np.float32(x_scale)) * np.asarray(w_scales, np.float32).astype(np.float64)


def quantize_bias(b: np.ndarray, x_scale: float, w_scales: np.ndarray) -> np.ndarray:
    """q_b = rint(b / (s_x * s_w[c])) saturated to int32 (§2). `w_scales` is the stored weight
    scale: a scalar (per tensor) or one per output channel."""
    b = np.asarray(b, dtype=np.float64)
    if not np.isfinite(b).all():
        raise ValueError("bias contains NaN or Inf")
    q = np.rint(b / bias_scale(x_scale, w_scales))
    return np.clip(q, INT32_MIN, INT32_MAX).astype(np.int32)


def clamp_bounds(clip: tuple[float, float], qp: QParams) -> tuple[int, int]:
    """A fused activation's (lo, hi) in real units -> the kernel's (qmin, qmax) (§5):
    qmin = max(-128, rint(lo / s) + z), qmax = min(127, rint(hi / s) + z), in float64 with the
    stored float32 s; infinite bounds give -128 / 127. ReLU (0, inf) gives qmin = z.

    A clip entirely outside the int8 range would give a bound outside [-128, 127]; both
    bounds are additionally kept inside it so the result is always a valid int8 interval
    endpoint pair (this never changes an in-range bound).
    """
    lo, hi = float(clip[0]), float(clip[1])
    if np.isnan(lo) or np.isnan(hi):
        raise ValueError(f"clip bounds must not be NaN, got {clip}")
    s, z = qp.scalar()
    s = float(np.float32(s))
    qmin = INT8_MIN if lo == -np.inf else max(INT8_MIN, np.rint(lo / s) + z)
    qmax = INT8_MAX if hi == np.inf else min(INT8_MAX, np.rint(hi / s) + z)
    qmin = int(min(qmin, INT8_MAX))
    qmax = int(max(qmax, INT8_MIN))
    return qmin, qmax


def conv_multipliers(x_scale: float, w_scales: np.ndarray, y_scale: float) -> np.ndarray:
    """m[c] = s_x * s_w[c] / s_y (§4): float64 arithmetic on the stored float32 scales, one
    rounding to float32 at the end. Returns float32 with w_scales' shape (at least 1-D)."""
    m = bias_scale(x_scale, w_scales) / np.float64(np.float32(y_scale))
    with np.errstate(over="ignore"):  # an overflow to inf is refused by lowering, not here
        return np.atleast_1d(m.astype(np.float32))


def quantize_array(x: np.ndarray, qp: QParams) -> np.ndarray:
    """The model-boundary Quantize of §6: q = clamp(rint(x / s) + z, -128, 127) with a float32
    division (as ONNX QuantizeLinear). NaN -> z (real 0), +Inf -> 127, -Inf -> -128.
    Per-channel parameters broadcast along their axis."""
    x = np.asarray(x, dtype=np.float32)
    s = _broadcast_scale(qp, x.ndim)
    z = _broadcast_zp(qp, x.ndim)
    with np.errstate(over="ignore", invalid="ignore", divide="ignore"):
        v = x / s  # float32 / float32: one IEEE float32 division; overflow -> +-inf saturates
    v = np.where(np.isnan(v), np.float32(0), v)
    # clamp first so the integer conversion stays in range; with integer bounds this equals
    # clamping after rounding (§4)
    lo = (INT8_MIN - z).astype(np.float32)
    hi = (INT8_MAX - z).astype(np.float32)
    v = np.clip(v, lo, hi)
    return (np.rint(v).astype(np.int32) + z).astype(np.int8)


def dequantize_array(q: np.ndarray, qp: QParams) -> np.ndarray:
    """§6 Dequantize: x = float32(q - z) * s (one float32 multiply)."""
    q = np.asarray(q)
    s = _broadcast_scale(qp, q.ndim)
    z = _broadcast_zp(qp, q.ndim)
    return (q.astype(np.int32) - z).astype(np.float32) * s
