"""Reference conv2d and fully connected kernels (docs/QUANTIZATION.md §3-§5), in numpy.

Called by the program runner as fn(x, **consts, **params): consts are `w`, `bias`, `mult`;
params are the C struct fields minus the sizes that follow from the arrays (x is [n, h, w, c],
weights [oc, kh, kw, c / groups]). Weights stay in their natural layout: nothing here knows
how the native kernels pack them.

Exact integer arithmetic in float64: every product (q_x - z_x) * q_w has magnitude at most
255 * 128 < 2^15 and every partial sum at most 2^15 * K, far below 2^53 for any K a model can
have, so float64 matmul (BLAS) computes every accumulator exactly, in any summation order.
"""

from __future__ import annotations

import numpy as np

from int8rt.reference.requant import requantize


def _accumulate(acc: np.ndarray, bias: np.ndarray) -> np.ndarray:
    # int64 so the bias add cannot wrap; requantize raises OverflowError beyond int32 (§3 bound)
    return np.rint(acc).astype(np.int64) + bias.astype(np.int64)


def _epilogue(acc: np.ndarray, mult: np.ndarray, y_zp: int, qmin: int, qmax: int,
              out_f32: int) -> np.ndarray:
    """int8 requantization, or the float32 epilogue (out_f32, docs/QUANTIZATION.md §4):
    float32(acc) * mult[c], one IEEE float32 multiply, no zero point, no clamp."""
    if not out_f32:
        return requantize(acc, mult, y_zp, qmin, qmax)
    if acc.size and (acc.min() < -(2**31) or acc.max() >= 2**31):
        raise OverflowError("accumulator exceeds int32: the layer breaks the accumulator bound")
    # int32 -> float32 rounds to nearest even, as C's (float) conversion does
    return acc.astype(np.int32).astype(np.float32) * np.asarray(mult, dtype=np.float32)


def conv_output_size(size: int, k: int, stride: int, dil: int, pad_before: int,
                     pad_after: int) -> int:
    return (size + pad_before + pad_after - dil * (k - 1) - 1) // stride + 1


def conv2d(x: np.ndarray, *, w: np.ndarray, bias: np.ndarray, mult: np.ndarray,
           stride_h: int, stride_w: int, dil_h: int, dil_w: int, pad_t: int, pad_l: int,
           pad_b: int, pad_r: int, groups: int, x_zp: int, y_zp: int, qmin: int = -128,
           qmax: int = 127, out_f32: int = 0) -> np.ndarray:
    """y[b, oy, ox, o] = requant(sum over taps of (x - x_zp) * w + bias[o]); NHWC int8, or
    float32 acc * mult[o] with out_f32."""
    n, h, wd, c = x.shape
    oc, kh, kw, cg = w.shape
    if c % groups or oc % groups or cg != c // groups:
        raise ValueError(f"conv2d: x {x.shape} and w {w.shape} do not match groups={groups}")
    oh = conv_output_size(h, kh, stride_h, dil_h, pad_t, pad_b)
    ow = conv_output_size(wd, kw, stride_w, dil_w, pad_l, pad_r)
    if oh < 1 or ow < 1:
        raise ValueError(f"conv2d: empty output {oh}x{ow}")
    ocg = oc // groups
    # padding is a real zero, i.e. x_zp; subtracting x_zp afterwards makes it exactly 0
    xp = np.pad(x.astype(np.float64) - x_zp, ((0, 0), (pad_t, pad_b), (pad_l, pad_r), (0, 0)))
    # weights as [tap, group, cg, ocg] so each tap is one batched matmul over the groups
    wt = w.astype(np.float64).reshape(groups, ocg, kh, kw, cg).transpose(2, 3, 0, 4, 1)
    acc = np.zeros((groups, n * oh * ow, ocg))
    for ky in range(kh):
        for kx in range(kw):
            y0, x0 = ky * dil_h, kx * dil_w
            win = xp[:, y0:y0 + stride_h * (oh - 1) + 1:stride_h,
                     x0:x0 + stride_w * (ow - 1) + 1:stride_w, :]
            win = win.reshape(n * oh * ow, groups, cg).transpose(1, 0, 2)
            acc += win @ wt[ky, kx]
    acc = acc.transpose(1, 0, 2).reshape(n, oh, ow, oc)
    return _epilogue(_accumulate(acc, bias), mult, y_zp, qmin, qmax, out_f32)


def fc(x: np.ndarray, *, w: np.ndarray, bias: np.ndarray, mult: np.ndarray, x_zp: int,
       y_zp: int, qmin: int = -128, qmax: int = 127, out_f32: int = 0) -> np.ndarray:
    """y[m, j] = requant(sum_k (x[m, k] - x_zp) * w[j, k] + bias[j]); x [m, k], w [n, k];
    float32 acc * mult[j] with out_f32."""
    if x.ndim != 2 or w.ndim != 2 or x.shape[1] != w.shape[1]:
        raise ValueError(f"fc: x {x.shape} and w {w.shape} do not match")
    acc = (x.astype(np.float64) - x_zp) @ w.astype(np.float64).T
    return _epilogue(_accumulate(acc, bias), mult, y_zp, qmin, qmax, out_f32)
