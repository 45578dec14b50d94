"""The references' correctly rounded float32 helpers: sqrt_f32 (numpy's own float32 sqrt is a
Newton-refined estimate on armv7) and Gather's index conversion (np.take refuses int64 indices
where intp is 32 bits; a plain cast there would wrap an out-of-range index into range)."""

from __future__ import annotations

import math

import numpy as np
import pytest

from int8rt.reference.f32_math import sqrt_f32
from int8rt.reference.onnx_ops import OPS, take_indices

F32 = np.float32


def test_sqrt_f32_is_correctly_rounded() -> None:
    rng = np.random.default_rng(3)
    # random magnitudes over the whole range, subnormals, and the neighbours of perfect squares
    # (where a one-ulp error shows first)
    bits = rng.integers(0, 0x7F800000, 20000, dtype=np.int64).astype(np.uint32)
    squares = (np.arange(1, 4097, dtype=np.float64) ** 2).astype(F32)
    x = np.concatenate([bits.view(F32), squares, np.nextafter(squares, F32(0)),
                        np.nextafter(squares, F32(np.inf)), np.array([0.0, -0.0, np.inf], F32)])
    want = np.array([F32(math.sqrt(float(v))) for v in x], F32)  # IEEE double, one rounding
    got = sqrt_f32(x)
    assert got.dtype == F32
    assert np.array_equal(got.view(np.uint32), want.view(np.uint32))  # -0 stays -0
    assert np.isnan(sqrt_f32(np.array([-1.0, np.nan], F32))).all()


def test_gather_indices_int64_negative_and_out_of_range() -> None:
    table = np.arange(20, dtype=F32).reshape(10, 2)
    idx = np.array([[0, 9, -1, -10]], np.int64)
    assert take_indices(idx, 10).dtype == np.intp
    (y,) = OPS["Gather"]([table, idx], {})
    assert np.array_equal(y, table[[[0, 9, 9, 0]]])
    # 2**32 + 1 is 1 after a cast to a 32-bit intp: refused before the cast
    for bad in (10, -11, 2**32 + 1, -(2**63)):
        with pytest.raises(IndexError, match="Gather"):
            OPS["Gather"]([table, np.array([bad], np.int64)], {})
