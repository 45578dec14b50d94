"""Reference kernels: quantize (float32 -> int8) and dequantize (docs/QUANTIZATION.md §6)."""

from __future__ import annotations

import numpy as np

from int8rt.reference._checks import check_dtype, check_eq, check_zp


def quantize(x: np.ndarray, *, scale: float, zp: int, n: int | None = None) -> np.ndarray:
    """q = clamp(rint(x / scale) + zp, -128, 127) with a float32 division; NaN -> zp."""
    x = check_dtype("x", x, "float32")
    check_eq("n", n, x.size)
    zp = check_zp("zp", zp)
    with np.errstate(over="ignore", invalid="ignore", divide="ignore"):
        v = x / np.float32(scale)
    v = np.clip(v, np.float32(-128 - zp), np.float32(127 - zp))  # clip keeps NaN
    q = np.rint(np.where(np.isnan(v), np.float32(0), v)).astype(np.int32) + zp
    return q.astype(np.int8)


def dequantize(x: np.ndarray, *, scale: float, zp: int, n: int | None = None) -> np.ndarray:
    """x = float32(q - zp) * scale: the difference is exact, the multiply rounds once."""
    x = check_dtype("x", x, "int8")
    check_eq("n", n, x.size)
    return (x.astype(np.int32) - check_zp("zp", zp)).astype(np.float32) * np.float32(scale)


KERNELS = {"quantize": quantize, "dequantize": dequantize}
