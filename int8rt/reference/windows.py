"""Sliding windows over NHWC arrays for the float32 references (convolution in
reference/float_ops.py, pooling in int8rt/ops/pooling.py): every kernel tap as one strided view,
so no Python loop runs over pixels."""

from __future__ import annotations

import numpy as np


def out_size(n: int, k: int, s: int, d: int, p0: int, p1: int) -> int:
    return (n + p0 + p1 - d * (k - 1) - 1) // s + 1


def taps(xp: np.ndarray, kh: int, kw: int, strides, dilations, oh: int, ow: int):
    """Yield (i, j, view) for every kernel tap: the strided NHWC view of the padded input that
    tap (i, j) reads for all output pixels at once."""
    sh, sw = strides
    dh, dw = dilations
    for i in range(kh):
        for j in range(kw):
            y0, x0 = i * dh, j * dw
            yield i, j, xp[:, y0:y0 + sh * (oh - 1) + 1:sh, x0:x0 + sw * (ow - 1) + 1:sw, :]


def pad_nhwc(x: np.ndarray, pads, value: float = 0.0) -> np.ndarray:
    t, l, b, r = pads
    if t == l == b == r == 0:
        return x
    return np.pad(x, ((0, 0), (t, b), (l, r), (0, 0)), constant_values=value)
