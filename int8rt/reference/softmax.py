"""Reference kernel: softmax over the innermost axis (docs/QUANTIZATION.md §4, Softmax)."""

from __future__ import annotations

import numpy as np

from int8rt.reference._checks import check_dtype, check_eq, check_zp


def softmax(x: np.ndarray, exp_table: np.ndarray, *, inv_y_scale: float, y_zp: int,
            rows: int | None = None, cols: int | None = None) -> np.ndarray:
    """e = T[max - x]; v = (f32(e) / f32(int64 row sum)) * f32(1 / s_y); clamp(rint(v) + z)."""
    x = check_dtype("x", x, "int8")
    table = check_dtype("exp_table", exp_table, "int32").reshape(-1)
    if table.size != 256 or table.min() < 0 or table[0] <= 0:
        raise ValueError("softmax: exp_table needs 256 non-negative entries with T[0] > 0")
    cols_ = x.shape[-1] if x.ndim else 1
    check_eq("cols", cols, cols_)
    check_eq("rows", rows, x.size // cols_ if cols_ else 0)
    y_zp = check_zp("y_zp", y_zp)
    x2 = x.reshape(-1, cols_).astype(np.int32)
    if x2.size == 0:
        return np.empty(x.shape, dtype=np.int8)
    e = table[x2.max(axis=1, keepdims=True) - x2]
    fsum = e.sum(axis=1, dtype=np.int64, keepdims=True).astype(np.float32)
    # two float32 roundings, in the C order: the division, then the multiply
    v = (e.astype(np.float32) / fsum) * np.float32(inv_y_scale)
    v = np.clip(v, np.float32(-128 - y_zp), np.float32(127 - y_zp))
    return (np.rint(v).astype(np.int32) + y_zp).astype(np.int8).reshape(x.shape)


KERNELS = {"softmax": softmax}
