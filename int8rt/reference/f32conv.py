"""Numpy reference of the float32 fallback kernels (csrc/kernels/f32conv/f32conv.h).

Bit-exact with the C kernels by construction: each output element is a chain of float32 fused
multiply-adds, acc = fma(x, w, acc), from +0 in the same order (taps ky, kx, then input
channel ci for conv2d; k for fc), then one float32 add of the bias, then the clamp written as
comparisons. A padded tap adds fma(0, w, acc) = acc (up to the sign of a zero, which
array_equal ignores).

numpy has no float32 FMA, so `fma32` computes it exactly: the product of two float32 values
is exact in float64 (24 + 24 bits <= 53); the float64 sum with the product is rounded *to odd*
(round to nearest, then, if inexact and the last bit is even, move one ulp toward the exact
value, whose residual TwoSum gives exactly); rounding that to float32 is then the correctly
rounded float32 result, because float64 has at least 24 + 2 bits (Boldo & Melquiond, "Emulation
of FMA and correctly rounded sums: proved algorithms using rounding to odd", IEEE Trans.
Computers 57(4), 2008, Theorem 1; TwoSum: Knuth, TAOCP vol. 2, 4.2.2).
"""

from __future__ import annotations

import numpy as np

from .conv import conv_output_size


def fma32(a: np.ndarray, b: np.ndarray, c: np.ndarray) -> np.ndarray:
    """float32 fma(a, b, c) = a * b + c with one rounding, elementwise with broadcasting."""
    p = np.asarray(a, np.float32).astype(np.float64) * np.asarray(b, np.float32).astype(np.float64)
    c64 = np.asarray(c, np.float32).astype(np.float64)
    s = p + c64
    bb = s - p  # TwoSum: s + e == p + c64 exactly
    e = (p - (s - bb)) + (c64 - bb)
    even = (s.view(np.int64) & 1) == 0
    fix = (e != 0) & even & np.isfinite(s)
    if np.any(fix):
        s = np.where(fix, np.nextafter(s, np.where(e > 0, np.inf, -np.inf)), s)
    return s.astype(np.float32)


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
                # one float32 fused multiply-add per output element and tap
                acc = fma32(win[..., ci:ci + 1], wg[:, :, ky, kx, ci], acc)
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
        acc = fma32(x[:, kk:kk + 1], w[:, kk], acc)
    return _clamp(acc + np.asarray(bias, np.float32), lo, hi)


KERNELS = {"conv2d_f32": conv2d_f32, "fc_f32": fc_f32}
