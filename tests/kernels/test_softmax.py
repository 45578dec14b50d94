"""softmax: native == reference, and the reference within 1-2 steps of float softmax."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from int8rt.kernel_tables import softmax_exp_table
from int8rt.reference import softmax as ref
from tests.kernels import one_op as nat

RNG = np.random.default_rng(11)
INV_Y = 256.0  # s_y = 1 / 256, z_y = -128 (docs/QUANTIZATION.md §4)


@pytest.mark.parametrize("cols", [1, 2, 3, 16, 17, 100, 1000, 4096])
@pytest.mark.parametrize("s_x", [1e-3, 0.02, 0.1, 0.5, 4.0])
def test_native_equals_reference(cols, s_x):
    table = softmax_exp_table(s_x)
    rows = max(1, 4000 // cols)
    x = RNG.integers(-128, 128, size=(rows, cols)).astype(np.int8)
    x[0, 0], x[-1, -1] = -128, 127
    x[min(1, rows - 1)] = 127  # a row of equal maxima
    for y_zp, inv in [(-128, INV_Y), (0, 100.0), (127, 7.5)]:
        y_ref = ref.softmax(x, table, rows=rows, cols=cols, inv_y_scale=inv, y_zp=y_zp)
        y_nat = nat.softmax(x, table, rows=rows, cols=cols, inv_y_scale=inv, y_zp=y_zp)
        assert np.array_equal(y_ref, y_nat)


@settings(max_examples=50, deadline=None)
@given(st.integers(1, 40), st.integers(1, 300), st.floats(1e-3, 2.0), st.integers(0, 2**32 - 1))
def test_hypothesis(rows, cols, s_x, seed):
    x = np.random.default_rng(seed).integers(-128, 128, size=(rows, cols)).astype(np.int8)
    table = softmax_exp_table(s_x)
    kw = {"inv_y_scale": INV_Y, "y_zp": -128}
    assert np.array_equal(ref.softmax(x, table, **kw), nat.softmax(x, table, **kw))


@pytest.mark.parametrize("cols", [2, 10, 100, 1000])
@pytest.mark.parametrize("s_x", [0.01, 0.05, 0.3])
def test_reference_against_float_softmax(cols, s_x):
    x = RNG.integers(-128, 128, size=(20, cols)).astype(np.int8)
    y = ref.softmax(x, softmax_exp_table(s_x), inv_y_scale=INV_Y, y_zp=-128)
    xf = np.float64(np.float32(s_x)) * x
    e = np.exp(xf - xf.max(axis=1, keepdims=True))
    exact = e / e.sum(axis=1, keepdims=True) * 256 - 128
    assert np.all(np.abs(y - np.clip(exact, -128, 127)) <= 2)
    assert np.abs(y - np.clip(exact, -128, 127)).mean() < 0.6


def test_batched_shape_and_table():
    t = softmax_exp_table(0.1)
    assert t.dtype == np.int32 and t[0] == 2**20 and np.all(np.diff(t) <= 0)
    assert t[10] == round(2**20 * np.exp(-np.float64(np.float32(0.1)) * 10))
    x = RNG.integers(-128, 128, size=(2, 3, 5)).astype(np.int8)
    y = nat.softmax(x, t, inv_y_scale=INV_Y, y_zp=-128)
    assert y.shape == x.shape
    assert np.array_equal(y, ref.softmax(x, t, inv_y_scale=INV_Y, y_zp=-128))
    # one column: probability 1 -> 256 steps above -128, saturates at 127
    assert (nat.softmax(x[..., :1].copy(), t, inv_y_scale=INV_Y, y_zp=-128) == 127).all()


def test_plan_rejects_bad_arguments():
    x = np.zeros((2, 3), np.int8)
    t = softmax_exp_table(0.1)
    with pytest.raises(ValueError):
        nat.softmax(x, np.zeros(256, np.int32), inv_y_scale=INV_Y, y_zp=-128)  # T[0] = 0
    with pytest.raises(ValueError):
        nat.softmax(x, t, inv_y_scale=INV_Y, y_zp=-128, cols=4)
    with pytest.raises(ValueError, match="exactly"):  # a table that is not int32
        nat.softmax(x, t.astype(np.int64) + 2**32, inv_y_scale=INV_Y, y_zp=-128)


@pytest.mark.parametrize("cols", [1, 15, 16, 17, 33, 64, 300])
def test_native_equals_reference_every_path(path, cols):
    """Each kernel path (conftest `path`): column tails around 16, all-equal rows, a row of
    one -128 among 127s (the largest table index), several scales and output zero points."""
    rng = np.random.default_rng(cols)
    rows = 37
    x = rng.integers(-128, 128, size=(rows, cols)).astype(np.int8)
    x[1] = 127
    x[2] = -128
    x[3] = 127
    x[3, 0] = -128
    for s_x in (1e-3, 0.05, 4.0):
        table = softmax_exp_table(s_x)
        for y_zp, inv in [(-128, INV_Y), (0, 100.0), (127, 7.5), (-5, 3e5)]:
            kw = {"rows": rows, "cols": cols, "inv_y_scale": inv, "y_zp": y_zp}
            assert np.array_equal(ref.softmax(x, table, **kw), nat.softmax(x, table, **kw))
