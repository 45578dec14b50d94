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


ACC_INPUT_SPAN = 255  # max |q_x - z_x| for int8 activations (docs/QUANTIZATION.md §3)


def accumulator_bound(qw: np.ndarray, qb: np.ndarray) -> np.ndarray:
    """Per output channel, the worst-case |acc| = 255 * sum_k |q_w[c, k]| + |q_b[c]| (§3), as
    exact int64. `qw` has the output channel first."""
    oc = qb.size
    wsum = np.abs(np.asarray(qw).reshape(oc, -1).astype(np.int64)).sum(axis=1)
    return ACC_INPUT_SPAN * wsum + np.abs(np.asarray(qb).reshape(oc).astype(np.int64))


def _f32_bits(v: float) -> int:
    return int(np.array(v, np.float32).view(np.int32))


def _f32_of(bits: int) -> np.float32:
    return np.array(bits, np.int32).view(np.float32)[()]


def _smallest_fitting_scale(w: np.ndarray, b: float, x_scale: float, s0: float,
                            qmax: int) -> float:
    """The smallest float32 scale s >= s0 at which 255 * sum|q_w| + |q_b| <= 2^31 - 1 for one
    channel's weights `w` and bias `b` (§3 "Weight-scale adjustment"). The bound is
    non-increasing in s (rint and correctly rounded division are monotone), so bisection over
    the float32 bit patterns between s0 and the closed-form sufficient scale finds it."""
    w = np.asarray(w, np.float64).ravel()

    def fits(s: np.float32) -> bool:
        s64 = np.float64(s)
        qw = np.clip(np.rint(w / s64), -qmax, qmax)
        qb = np.rint(abs(b) / bias_scale(x_scale, s))
        return ACC_INPUT_SPAN * float(np.abs(qw).sum()) + float(qb) <= INT32_MAX

    k = w.size
    room = INT32_MAX - ACC_INPUT_SPAN * k / 2 - 0.5
    if room <= 0:
        raise ValueError(f"{k} taps cannot fit the int32 accumulator at any weight scale")
    # |rint(v)| <= |v| + 1/2, so this scale always fits (up to the float rounding that the
    # nudges below absorb)
    s_hi = (ACC_INPUT_SPAN * float(np.abs(w).sum()) + abs(b) / float(np.float32(x_scale))) / room
    hi = _f32_bits(max(s_hi, float(s0)))
    while not fits(_f32_of(hi)):
        hi += max(1, hi >> 20)  # a few ulps of float64-vs-float32 slack
        if not np.isfinite(_f32_of(hi)):
            raise ValueError("no finite float32 weight scale fits the int32 accumulator")
    lo = _f32_bits(float(s0))  # fails (the caller checked), so the answer is in (lo, hi]
    while hi - lo > 1:
        mid = (lo + hi) // 2
        if fits(_f32_of(mid)):
            hi = mid
        else:
            lo = mid
    return float(_f32_of(hi))


def fit_weight_scales(w: np.ndarray, wqp: QParams, b: np.ndarray, x_scale: float,
                      bits: int = 8) -> tuple[QParams, list[tuple[int, float, float]]]:
    """Weight parameters whose int32 bias and accumulator bound fit (§3 "Weight-scale
    adjustment"): each output channel (or the one per-tensor scale) whose worst-case
    |acc| = 255 * sum|q_w| + |q_b| exceeds 2^31 - 1 gets the smallest float32 scale increase
    that fits. Returns the parameters (`wqp` itself when nothing changes) and the changes as
    (channel, old scale, new scale); channel -1 means the per-tensor scale."""
    qmax = _weight_qmax(bits)
    w = np.asarray(w, np.float64)
    oc = w.shape[0]
    b = np.broadcast_to(np.asarray(b, np.float64), (oc,))
    scales = np.broadcast_to(np.asarray(wqp.scale, np.float32), (oc,))
    qw = quantize_weights(w, wqp, bits=bits)
    # float64: an unsaturated bias that does not fit int32 must count as not fitting
    wsum = np.abs(qw.reshape(oc, -1).astype(np.int64)).sum(axis=1).astype(np.float64)
    qb = np.abs(np.rint(b / bias_scale(x_scale, scales)))
    bad = np.nonzero(ACC_INPUT_SPAN * wsum + qb > INT32_MAX)[0]
    if bad.size == 0:
        return wqp, []
    if wqp.axis is None:
        s0 = float(np.float32(wqp.scale))
        # one scale for all channels: the largest per-channel answer fits every channel
        s = max(_smallest_fitting_scale(w[c], float(b[c]), x_scale, s0, qmax) for c in bad)
        return QParams.per_tensor(s, 0), [(-1, s0, s)]
    new = np.array(wqp.scale, np.float32).copy()
    changes = []
    for c in bad:
        s0 = float(new[c])
        s = _smallest_fitting_scale(w[c], float(b[c]), x_scale, s0, qmax)
        new[c] = s
        changes.append((int(c), s0, s))
    return QParams(new, np.zeros(oc, np.int32), wqp.axis), changes


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
