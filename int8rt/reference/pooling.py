"""Reference kernels: maxpool, avgpool, global_avgpool (NHWC; docs/QUANTIZATION.md §4).

Each window tap is one vectorised gather over all outputs; taps outside the input are masked
out, exactly the C kernels' "skip out-of-bounds taps"."""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np

from int8rt.reference._checks import check_clamp, check_dtype, check_eq, check_zp
from int8rt.reference.requant import requantize


def _taps(x: np.ndarray, oh: int, ow: int, kh: int, kw: int, stride_h: int, stride_w: int,
          dil_h: int, dil_w: int, pad_t: int, pad_l: int
          ) -> Iterator[tuple[np.ndarray, np.ndarray]]:
    """For each tap (ky, kx): (values [n, oh, ow, c], in-bounds mask [oh, ow, 1])."""
    _, h, w, _ = x.shape
    if min(kh, kw, stride_h, stride_w, dil_h, dil_w) < 1:
        raise ValueError("pool: kernel, stride and dilation must be >= 1")
    oy = np.arange(oh, dtype=np.int64) * stride_h - pad_t
    ox = np.arange(ow, dtype=np.int64) * stride_w - pad_l
    for ky in range(kh):
        iy = oy + ky * dil_h
        vy = (iy >= 0) & (iy < h)
        for kx in range(kw):
            ix = ox + kx * dil_w
            vx = (ix >= 0) & (ix < w)
            vals = x[:, np.clip(iy, 0, max(h - 1, 0))][:, :, np.clip(ix, 0, max(w - 1, 0))]
            yield vals, (vy[:, None] & vx[None, :])[:, :, None]


def _check_shape(x: np.ndarray, n: int | None, h: int | None, w: int | None,
                 c: int | None) -> np.ndarray:
    x = check_dtype("x", x, "int8")
    if x.ndim != 4:
        raise ValueError(f"pool: x must be NHWC, got shape {x.shape}")
    for name, given, actual in zip("nhwc", (n, h, w, c), x.shape):
        check_eq(name, given, actual)
    return x


def maxpool(x: np.ndarray, *, oh: int, ow: int, kh: int, kw: int, stride_h: int = 1,
            stride_w: int = 1, dil_h: int = 1, dil_w: int = 1, pad_t: int = 0, pad_l: int = 0,
            qmin: int = -128, qmax: int = 127, n: int | None = None, h: int | None = None,
            w: int | None = None, c: int | None = None, count_include_pad: int = 0,
            x_zp: int = 0, y_zp: int = 0) -> np.ndarray:
    """Max over the in-bounds taps, then the fused clamp; a window with no in-bounds tap gives
    qmin (the max starts from -128). x_zp, y_zp, count_include_pad are unused."""
    x = _check_shape(x, n, h, w, c)
    qmin, qmax = check_clamp(qmin, qmax)
    m = np.full((x.shape[0], oh, ow, x.shape[3]), -128, dtype=np.int8)
    for vals, ok in _taps(x, oh, ow, kh, kw, stride_h, stride_w, dil_h, dil_w, pad_t, pad_l):
        m = np.where(ok, np.maximum(m, vals), m)
    return np.clip(m, qmin, qmax).astype(np.int8)


def avgpool(x: np.ndarray, mult_by_count: np.ndarray, *, oh: int, ow: int, kh: int, kw: int,
            stride_h: int = 1, stride_w: int = 1, dil_h: int = 1, dil_w: int = 1,
            pad_t: int = 0, pad_l: int = 0, count_include_pad: int = 0, x_zp: int = 0,
            y_zp: int = 0, qmin: int = -128, qmax: int = 127, n: int | None = None,
            h: int | None = None, w: int | None = None, c: int | None = None) -> np.ndarray:
    """acc = sum (x - x_zp) over in-bounds taps; y = requant(acc, mult_by_count[divisor])."""
    x = _check_shape(x, n, h, w, c)
    qmin, qmax = check_clamp(qmin, qmax)
    mults = check_dtype("mult_by_count", mult_by_count, "float32").reshape(-1)
    if mults.size != kh * kw + 1:
        raise ValueError(f"avgpool: mult_by_count needs kh * kw + 1 = {kh * kw + 1} entries")
    xs = x.astype(np.int32) - check_zp("x_zp", x_zp)
    acc = np.zeros((x.shape[0], oh, ow, x.shape[3]), dtype=np.int64)
    count = np.zeros((oh, ow, 1), dtype=np.int64)
    for vals, ok in _taps(xs, oh, ow, kh, kw, stride_h, stride_w, dil_h, dil_w, pad_t, pad_l):
        acc += np.where(ok, vals, 0)
        count += ok
    divisor = np.full_like(count, kh * kw) if count_include_pad else count
    return requantize(acc, mults[divisor], check_zp("y_zp", y_zp), qmin, qmax)


def global_avgpool(x: np.ndarray, *, n: int, hw: int, c: int, x_zp: int, y_zp: int,
                   mult: float, qmin: int = -128, qmax: int = 127) -> np.ndarray:
    """acc = sum over H W of (x - x_zp); y = requant(acc, mult). x is [n, h, w, c] (returns
    [n, 1, 1, c]) or [n, hw, c] (returns [n, c])."""
    x = check_dtype("x", x, "int8")
    if x.size != n * hw * c or x.shape[0] != n or x.shape[-1] != c:
        raise ValueError(f"global_avgpool: x of shape {x.shape} is not n={n}, hw={hw}, c={c}")
    qmin, qmax = check_clamp(qmin, qmax)
    acc = (x.reshape(n, hw, c).astype(np.int64) - check_zp("x_zp", x_zp)).sum(axis=1)
    y = requantize(acc, np.float32(mult), check_zp("y_zp", y_zp), qmin, qmax)
    return y.reshape(n, 1, 1, c) if x.ndim == 4 else y


KERNELS = {"maxpool": maxpool, "avgpool": avgpool, "global_avgpool": global_avgpool}
