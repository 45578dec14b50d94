"""The Python-side constants of the non-convolution kernels (int8rt/kernel_tables.py)."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from int8rt import kernel_tables as kt


def _f(s):
    return float(np.float32(s))


@settings(max_examples=200, deadline=None)
@given(st.floats(1e-6, 1e3), st.floats(1e-6, 1e3), st.floats(1e-6, 1e3), st.booleans())
def test_add_multipliers(sa, sb, sy, subtract):
    a_mult, b_mult, mult = kt.add_multipliers(sa, sb, sy, subtract)
    assert isinstance(mult, np.float32)
    k = -math.frexp(float(mult))[1] + 1  # mult = 2^-k exactly
    assert float(mult) == math.ldexp(1.0, -k)
    ra, rb = _f(sa) / _f(sy), _f(sb) / _f(sy)
    assert a_mult == round(math.ldexp(ra, k))
    assert b_mult == (-1 if subtract else 1) * round(math.ldexp(rb, k))
    assert max(abs(a_mult), abs(b_mult)) <= 2**22
    if k < 126:  # k is the largest such exponent
        assert max(round(math.ldexp(ra, k + 1)), round(math.ldexp(rb, k + 1))) > 2**22
    assert 255 * (abs(a_mult) + abs(b_mult)) < 2**31
    # the integer multipliers reproduce the ratios to 2^-22 relative
    big = max(ra, rb)
    assert abs(a_mult * float(mult) - ra) <= big * 2**-21
    assert abs(abs(b_mult) * float(mult) - rb) <= big * 2**-21


def test_add_multipliers_boundary():
    a, b, m = kt.add_multipliers(1.0, 1.0, 1.0)
    assert (a, b, float(m)) == (2**22, 2**22, 2.0**-22)
    a, b, m = kt.add_multipliers(1.0, 0.5, 4.0, subtract=True)
    assert (a, b, float(m)) == (2**22, -(2**21), 2.0**-24)


def test_multiplier_helpers():
    m = kt.avgpool_mults(0.1, 0.05, 3, 3)
    assert m.dtype == np.float32 and m.shape == (10,) and m[0] == 0
    assert all(m[d] == np.float32(_f(0.1) / (_f(0.05) * d)) for d in range(1, 10))
    assert kt.global_avgpool_mult(0.1, 0.05, 49) == np.float32(_f(0.1) / (_f(0.05) * 49))
    assert kt.bilinear_mult(0.1, 0.05) == np.float32(_f(0.1) / (_f(0.05) * 2**22))
    assert kt.requant_mult(0.1, 0.3) == np.float32(_f(0.1) / _f(0.3))
    assert kt.mul_mult(0.1, 0.2, 0.3) == np.float32(_f(0.1) * _f(0.2) / _f(0.3))
    with pytest.raises(ValueError):
        kt.requant_mult(0.0, 1.0)


def test_softmax_exp_table():
    for s in (1e-3, 0.05, 1.0, 20.0):
        t = kt.softmax_exp_table(s)
        assert t.dtype == np.int32 and t.shape == (256,) and t[0] == 2**20
        expected = [round(2**20 * math.exp(-_f(s) * d)) for d in range(256)]
        assert np.array_equal(t, expected)


def test_lut_table_identity():
    """f(x) = x with equal parameters reproduces every q exactly."""
    for zp in (-128, 0, 127):
        t = kt.lut_table(lambda x: x, 0.1, zp, 0.1, zp)
        assert np.array_equal(t, np.arange(-128, 128))


SHAPE_PAIRS = [
    ((2, 3, 4), (2, 3, 4)), ((1, 5, 5, 8), (8,)), ((4, 1), (1, 6)), ((3, 4, 5), (3, 4, 1)),
    ((), ()), ((5,), ()), ((), (1, 1)), ((2, 1, 3), (1, 4, 1)), ((6, 1, 1, 1, 1, 1, 2), (2,)),
    ((2, 0, 3), (3,)), ((1, 2, 1, 2, 1, 2), (2, 1, 2, 1, 2, 1)),
]


@pytest.mark.parametrize("a_shape,b_shape", SHAPE_PAIRS)
def test_collapse_broadcast_matches_numpy(a_shape, b_shape):
    ndim, shape, a_stride, b_stride = kt.collapse_broadcast(a_shape, b_shape)
    assert 1 <= ndim <= 6 and len(shape) == len(a_stride) == len(b_stride) == ndim
    a = np.arange(int(np.prod(a_shape)), dtype=np.int64).reshape(a_shape)
    b = np.arange(int(np.prod(b_shape)), dtype=np.int64).reshape(b_shape)
    out = np.broadcast_shapes(a_shape, b_shape)
    assert int(np.prod(shape)) == int(np.prod(out))
    idx_a = sum(np.arange(n).reshape([-1 if i == d else 1 for i in range(ndim)]) * s
                for d, (n, s) in enumerate(zip(shape, a_stride)))
    idx_b = sum(np.arange(n).reshape([-1 if i == d else 1 for i in range(ndim)]) * s
                for d, (n, s) in enumerate(zip(shape, b_stride)))
    assert np.array_equal(a.reshape(-1)[idx_a].reshape(out), np.broadcast_to(a, out))
    assert np.array_equal(b.reshape(-1)[idx_b].reshape(out), np.broadcast_to(b, out))


def test_collapse_broadcast_merges_and_rejects():
    assert kt.collapse_broadcast((1, 56, 56, 64), (64,)) == (2, (3136, 64), (64, 1), (0, 1))
    assert kt.collapse_broadcast((2, 3, 4), (2, 3, 4)) == (1, (24,), (1,), (1,))
    assert kt.collapse_broadcast((5, 9), ()) == (1, (45,), (1,), (0,))
    with pytest.raises(ValueError):
        kt.collapse_broadcast((2, 3), (4,))
    with pytest.raises(ValueError):  # 7 alternating axes cannot collapse
        kt.collapse_broadcast((2, 1, 2, 1, 2, 1, 2), (1, 2, 1, 2, 1, 2, 1))
