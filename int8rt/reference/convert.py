"""Reference kernels: quantize (float32 -> int8) and dequantize (docs/QUANTIZATION.md §6)."""

from __future__ import annotations

import numpy as np

from int8rt.reference._checks import check_dtype, check_eq, check_zp


def _layout(x: np.ndarray, c: int, hw: int, to_channels_last: bool) -> np.ndarray:
    """NCHW [b, c, hw] -> NHWC [b, hw, c] (or back) when c > 0; returns x unchanged for c = 0."""
    if c == 0:
        return x
    if c < 0 or hw <= 0 or x.size % (c * hw):
        raise ValueError(f"c = {c}, hw = {hw} do not divide {x.size} elements")
    b = x.size // (c * hw)
    shape = (b, c, hw) if to_channels_last else (b, hw, c)
    return np.ascontiguousarray(x.reshape(shape).transpose(0, 2, 1))


def quantize(x: np.ndarray, *, scale: float, zp: int, n: int | None = None, c: int = 0,
             hw: int = 0) -> np.ndarray:
    """q = clamp(rint(x / scale) + zp, -128, 127) with a float32 division; NaN -> zp.
    c > 0: x is NCHW [b, c, hw] and q is returned NHWC [b, hw, c] (the move fused in)."""
    x = check_dtype("x", x, "float32")
    check_eq("n", n, x.size)
    x = _layout(x, int(c), int(hw), True)
    zp = check_zp("zp", zp)
    with np.errstate(over="ignore", invalid="ignore", divide="ignore"):
        v = x / np.float32(scale)
    v = np.clip(v, np.float32(-128 - zp), np.float32(127 - zp))  # clip keeps NaN
    q = np.rint(np.where(np.isnan(v), np.float32(0), v)).astype(np.int32) + zp
    return q.astype(np.int8)


def dequantize(x: np.ndarray, *, scale: float, zp: int, n: int | None = None, c: int = 0,
               hw: int = 0) -> np.ndarray:
    """x = float32(q - zp) * scale: the difference is exact, the multiply rounds once.
    c > 0: q is NHWC [b, hw, c] and x is returned NCHW [b, c, hw] (the move fused in)."""
    x = check_dtype("x", x, "int8")
    check_eq("n", n, x.size)
    x = _layout(x, int(c), int(hw), False)
    return (x.astype(np.int32) - check_zp("zp", zp)).astype(np.float32) * np.float32(scale)


KERNELS = {"quantize": quantize, "dequantize": dequantize}
