"""Numpy reference of the float32 fallback kernels (csrc/kernels/f32conv/f32conv.h).

Bit-exact with the C kernels by construction: float32 throughout, products and sums each
rounded once (numpy float32 ops are IEEE single precision, like the C build without FMA
contraction), accumulated from 0 in the same order (taps ky, kx, then input channel ci for
conv2d; k for fc), then the bias, then the clamp written as comparisons. A padded tap adds
0 * w = +-0, which leaves every non-zero sum unchanged (and array_equal treats -0 == +0).
"""

from __future__ import annotations

import numpy as np

from .conv import conv_output_size


def _clamp(v: np.ndarray, lo: float, hi: float) -> np.ndarray:
    lo32, hi32 = np.float32(lo), np.float32(hi)
    return np.where(v < lo32, lo32, np.where(v > hi32, hi32, v)).astype(np.float32)


def conv2d_f32(x: np.ndarray, *, w: np.ndarray, bias: np.ndarray, stride_h: int, stride_w: int,
               dil_h: int, dil_w: int, pad_t: int, pad_l: int, pad_b: int, pad_r: int,
               groups: int, lo: float, hi: float, **_sizes: int) -> np.ndarray:
    """y[b, oy, ox, o] = clamp(sum_{ky, kx, ci} x * w + bias[o], lo, hi), NHWC float32."""
    x = np.asarray(x, np.float32)
    w = np.asarray(w, np.float32)
    n, h, wd, c = x.shape
    oc, kh, kw, cg = w.shape
    if c % groups or oc % groups or cg != c // groups:
        raise ValueError(f"conv2d_f32: x {x.shape} and w {w.shape} do not match groups={groups}")
    oh = conv_output_size(h, kh, stride_h, dil_h, pad_t, pad_b)
    ow = conv_output_size(wd, kw, stride_w, dil_w, pad_l, pad_r)
    if oh < 1 or ow < 1:
        raise ValueError(f"conv2d_f32: empty output {oh}x{ow}")
    ocg = oc // groups
    xp = np.pad(x, ((0, 0), (pad_t, pad_b), (pad_l, pad_r), (0, 0)))
    acc = np.zeros((n, oh, ow, groups, ocg), np.float32)
    wg = w.reshape(groups, ocg, kh, kw, cg)
    for ky in range(kh):
        for kx in range(kw):
            y0, x0 = ky * dil_h, kx * dil_w
            win = xp[:, y0:y0 + stride_h * (oh - 1) + 1:stride_h,
                     x0:x0 + stride_w * (ow - 1) + 1:stride_w, :].reshape(n, oh, ow, groups, cg)
            for ci in range(cg):
                # one float32 multiply and one float32 add per output element and tap
                acc += win[..., ci:ci + 1] * wg[:, :, ky, kx, ci]
    acc = acc.reshape(n, oh, ow, oc)
    return _clamp(acc + np.asarray(bias, np.float32), lo, hi)


def fc_f32(x: np.ndarray, *, w: np.ndarray, bias: np.ndarray, lo: float, hi: float,
           m: int | None = None, k: int | None = None, n: int | None = None) -> np.ndarray:
    """y[r, j] = clamp(sum_k x[r, k] * w[j, k] + bias[j], lo, hi); x [m, k], w [n, k]."""
    w = np.asarray(w, np.float32)
    x = np.asarray(x, np.float32)
    if m is not None:
        x = x.reshape(m, k)
    if x.ndim != 2 or w.ndim != 2 or x.shape[1] != w.shape[1]:
        raise ValueError(f"fc_f32: x {x.shape} and w {w.shape} do not match")
    acc = np.zeros((x.shape[0], w.shape[0]), np.float32)
    for kk in range(x.shape[1]):
        acc += x[:, kk:kk + 1] * w[:, kk]
    return _clamp(acc + np.asarray(bias, np.float32), lo, hi)


KERNELS = {"conv2d_f32": conv2d_f32, "fc_f32": fc_f32}
