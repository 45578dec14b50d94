"""Reference kernels: add, mul, requant_copy, lut (docs/QUANTIZATION.md §4)."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from int8rt.reference._checks import check_clamp, check_dtype, check_eq, check_zp, ints
from int8rt.reference.requant import requantize

ADD_MULT_LIMIT = 1 << 22  # |a_mult|, |b_mult| bound that keeps the add accumulator in int32


def _gather(x: np.ndarray, shape: Sequence[int], stride: Sequence[int], name: str) -> np.ndarray:
    """x.flat[sum_d i_d * stride[d]] over `shape`: the C kernels' strided read."""
    flat = x.reshape(-1)
    idx = np.zeros(tuple(shape), dtype=np.int64)
    for d, (n, s) in enumerate(zip(shape, stride)):
        if s < 0:
            raise ValueError(f"{name}_stride must be non-negative")
        view = [1] * len(shape)
        view[d] = n
        idx = idx + (np.arange(n, dtype=np.int64) * s).reshape(view)
    if idx.size and idx.max() >= flat.size:
        raise ValueError(f"{name}: strides read past the end of the buffer")
    return flat[idx]


def _binary_operands(a: np.ndarray, b: np.ndarray, ndim: int, shape: Sequence[int],
                     a_stride: Sequence[int], b_stride: Sequence[int]
                     ) -> tuple[np.ndarray, np.ndarray]:
    a, b = check_dtype("a", a, "int8"), check_dtype("b", b, "int8")
    ndim = int(ndim)
    if not 0 <= ndim <= 6:
        raise ValueError(f"ndim={ndim} outside [0, 6]")
    shape = ints("shape", shape, ndim)
    av = _gather(a, shape, ints("a_stride", a_stride, ndim), "a").astype(np.int64)
    bv = _gather(b, shape, ints("b_stride", b_stride, ndim), "b").astype(np.int64)
    return av, bv


def add(a: np.ndarray, b: np.ndarray, *, ndim: int, shape: Sequence[int],
        a_stride: Sequence[int], b_stride: Sequence[int], a_zp: int, b_zp: int, y_zp: int,
        a_mult: int, b_mult: int, mult: float, qmin: int = -128, qmax: int = 127,
        ) -> np.ndarray:
    """y = requant((a - a_zp) A + (b - b_zp) B, 2^-k); y has shape[:ndim]."""
    av, bv = _binary_operands(a, b, ndim, shape, a_stride, b_stride)
    if max(abs(int(a_mult)), abs(int(b_mult))) > ADD_MULT_LIMIT:
        raise ValueError("add: |a_mult|, |b_mult| must be <= 2^22")
    qmin, qmax = check_clamp(qmin, qmax)
    acc = ((av - check_zp("a_zp", a_zp)) * int(a_mult)
           + (bv - check_zp("b_zp", b_zp)) * int(b_mult))
    return requantize(acc, np.float32(mult), check_zp("y_zp", y_zp), qmin, qmax)


def mul(a: np.ndarray, b: np.ndarray, *, ndim: int, shape: Sequence[int],
        a_stride: Sequence[int], b_stride: Sequence[int], a_zp: int, b_zp: int, y_zp: int,
        mult: float, qmin: int = -128, qmax: int = 127, a_mult: int = 0, b_mult: int = 0,
        ) -> np.ndarray:
    """y = requant((a - a_zp)(b - b_zp), s_a s_b / s_y); a_mult / b_mult are unused."""
    av, bv = _binary_operands(a, b, ndim, shape, a_stride, b_stride)
    qmin, qmax = check_clamp(qmin, qmax)
    acc = (av - check_zp("a_zp", a_zp)) * (bv - check_zp("b_zp", b_zp))
    return requantize(acc, np.float32(mult), check_zp("y_zp", y_zp), qmin, qmax)


def requant_copy(x: np.ndarray, y: np.ndarray, *, rows: int, cols: int, x_stride: int,
                 y_stride: int, x_offset: int, y_offset: int, x_zp: int, y_zp: int,
                 mult: float) -> np.ndarray:
    """y.flat[y_offset + r y_stride + i] = requant(x.flat[x_offset + r x_stride + i] - x_zp)
    for r < rows, i < cols; writes into y in place and returns it."""
    x, y = check_dtype("x", x, "int8"), check_dtype("y", y, "int8")
    if not y.flags.c_contiguous:
        raise ValueError("requant_copy: y must be C-contiguous (it is written in place)")
    rows, cols = int(rows), int(cols)
    if rows <= 0 or cols <= 0:
        return y
    if int(x_offset) < 0:
        raise ValueError("requant_copy: x_offset must be non-negative")
    xi = _gather(x.reshape(-1)[int(x_offset):], (rows, cols), (int(x_stride), 1), "x")
    yflat = y.reshape(-1)
    yidx = (int(y_offset) + np.arange(rows, dtype=np.int64)[:, None] * int(y_stride)
            + np.arange(cols, dtype=np.int64)[None, :])
    if int(y_offset) < 0 or int(y_stride) < 0 or yidx.max() >= yflat.size:
        raise ValueError("requant_copy: destination out of range")
    acc = xi.astype(np.int32) - check_zp("x_zp", x_zp)
    yflat[yidx] = requantize(acc, np.float32(mult), check_zp("y_zp", y_zp))
    return y


def lut(x: np.ndarray, table: np.ndarray, *, n: int | None = None) -> np.ndarray:
    """y[i] = table[x[i] + 128]; y has x's shape."""
    x = check_dtype("x", x, "int8")
    table = check_dtype("table", table, "int8").reshape(-1)
    if table.size != 256:
        raise ValueError("lut: the table needs 256 entries")
    check_eq("n", n, x.size)
    return table[x.astype(np.int16) + 128]


KERNELS = {"add": add, "mul": mul, "requant_copy": requant_copy, "lut": lut}
