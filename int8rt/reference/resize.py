"""Reference kernels: resize_nearest (any dtype), resize_bilinear (NHWC int8;
docs/QUANTIZATION.md §4, Resize row). The index maps come from int8rt.kernel_tables."""

from __future__ import annotations

import numpy as np

from int8rt.reference._checks import check_dtype, check_eq, check_zp
from int8rt.reference.requant import requantize


def _index(name: str, idx: np.ndarray, size: int, count: int | None) -> np.ndarray:
    idx = check_dtype(name, idx, "int32").reshape(-1)
    check_eq(f"len({name})", count, idx.size)
    if idx.size and (idx.min() < 0 or idx.max() >= size):
        raise ValueError(f"resize: {name} indexes outside [0, {size})")
    return idx.astype(np.intp)


def _check_x(x: np.ndarray, n: int | None, h: int | None, w: int | None,
             c: int | None) -> np.ndarray:
    x = np.asarray(x)
    if x.ndim != 4:
        raise ValueError(f"resize: x must be NHWC, got shape {x.shape}")
    for name, given, actual in zip("nhwc", (n, h, w, c), x.shape):
        check_eq(name, given, actual)
    return x


def resize_nearest(x: np.ndarray, iy: np.ndarray, ix: np.ndarray, *, oh: int | None = None,
                   ow: int | None = None, n: int | None = None, h: int | None = None,
                   w: int | None = None, c: int | None = None) -> np.ndarray:
    """y[b, oy, ox, :] = x[b, iy[oy], ix[ox], :]."""
    x = _check_x(x, n, h, w, c)
    iy = _index("iy", iy, x.shape[1], oh)
    ix = _index("ix", ix, x.shape[2], ow)
    return x[:, iy][:, :, ix]


def resize_bilinear(x: np.ndarray, y0: np.ndarray, y1: np.ndarray, fy: np.ndarray,
                    x0: np.ndarray, x1: np.ndarray, fx: np.ndarray, *, x_zp: int, y_zp: int,
                    mult: float, oh: int | None = None, ow: int | None = None,
                    n: int | None = None, h: int | None = None, w: int | None = None,
                    c: int | None = None) -> np.ndarray:
    """acc = sum over the 4 neighbours of (Q11 weight products) * (x - x_zp); requant."""
    x = check_dtype("x", _check_x(x, n, h, w, c), "int8")
    hh, ww = x.shape[1], x.shape[2]
    y0, y1 = _index("y0", y0, hh, oh), _index("y1", y1, hh, oh)
    x0, x1 = _index("x0", x0, ww, ow), _index("x1", x1, ww, ow)
    wy1 = check_dtype("fy", fy, "int32").reshape(-1).astype(np.int64)
    wx1 = check_dtype("fx", fx, "int32").reshape(-1).astype(np.int64)
    if wy1.size != y0.size or wx1.size != x0.size or y1.size != y0.size or x1.size != x0.size:
        raise ValueError("resize: index maps of one axis must have equal lengths")
    for f in (wy1, wx1):
        if f.size and (f.min() < 0 or f.max() > 2048):
            raise ValueError("resize: Q11 weights must lie in [0, 2048]")
    xs = x.astype(np.int64) - check_zp("x_zp", x_zp)
    wy1, wx1 = wy1[None, :, None, None], wx1[None, None, :, None]
    wy0, wx0 = 2048 - wy1, 2048 - wx1
    acc = (wy0 * wx0 * xs[:, y0][:, :, x0] + wy0 * wx1 * xs[:, y0][:, :, x1]
           + wy1 * wx0 * xs[:, y1][:, :, x0] + wy1 * wx1 * xs[:, y1][:, :, x1])
    return requantize(acc, np.float32(mult), check_zp("y_zp", y_zp))


KERNELS = {"resize_nearest": resize_nearest, "resize_bilinear": resize_bilinear}
