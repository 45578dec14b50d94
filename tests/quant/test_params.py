"""docs/QUANTIZATION.md §2 (parameters), §5 (clamp bounds), §6 (boundary Quantize), and the
float32 multipliers of §4, as implemented once in int8rt.quant.params."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from int8rt import kernel_tables
from int8rt.ir import QParams
from int8rt.quant import params

finite = st.floats(-1e6, 1e6, allow_nan=False, allow_infinity=False, width=32)


# -- activations (§2) -------------------------------------------------------------------------
@settings(max_examples=300, deadline=None)
@given(finite, finite)
def test_activation_zero_is_exactly_representable(a: float, b: float) -> None:
    lo, hi = min(a, b), max(a, b)
    qp = params.activation_qparams(lo, hi)
    s, z = qp.scalar()
    assert qp.scale.dtype == np.float32 and qp.zero_point.dtype == np.int32
    assert s > 0 and -128 <= z <= 127
    # 0 quantizes to z and z dequantizes to exactly 0
    assert params.quantize_array(np.zeros(3, np.float32), qp).tolist() == [z] * 3
    assert params.dequantize_array(np.array([z], np.int8), qp)[0] == 0.0
    # the widened range's ends land on (or next to) the int8 ends (unless the range is so
    # narrow that the scale is floored at the smallest normal float32)
    lo0, hi0 = min(lo, 0.0), max(hi, 0.0)
    if (hi0 - lo0) / 255 > np.finfo(np.float32).tiny:
        q = params.quantize_array(np.array([lo0, hi0], np.float32), qp).astype(int)
        assert q[0] <= -127 and q[1] >= 126


def test_activation_formula_float64_then_float32() -> None:
    lo, hi = -0.3, 1.7
    qp = params.activation_qparams(lo, hi)
    s64 = (hi - lo) / 255
    assert qp.scale == np.float32(s64)
    assert int(qp.zero_point) == int(np.rint(-128 - lo / s64))


@pytest.mark.parametrize(
    "lo, hi, s, z",
    [
        (0.0, 2.55, 0.01, -128),  # non-negative range: z at the bottom
        (-2.55, 0.0, 0.01, 127),  # non-positive range: z at the top
        (1.0, 2.55, 0.01, -128),  # widened down to 0
        (-2.55, -1.0, 0.01, 127),  # widened up to 0
        # -128 - (-1)/(2/255) = -0.5: half to even gives 0 (half away from zero would give -1)
        (-1.0, 1.0, 2 / 255, 0),
        (0.0, 0.0, 1.0, 0),  # degenerate: s = 1
        (3.0, 3.0, 3 / 255, -128),
    ],
)
def test_activation_cases(lo: float, hi: float, s: float, z: int) -> None:
    qp = params.activation_qparams(lo, hi)
    assert qp.scale == np.float32(s) and int(qp.zero_point) == z and qp.axis is None


def test_activation_rejects_bad_ranges() -> None:
    with pytest.raises(ValueError):
        params.activation_qparams(1.0, -1.0)
    with pytest.raises(ValueError):
        params.activation_qparams(float("nan"), 1.0)
    with pytest.raises(ValueError):
        params.activation_qparams(0.0, float("inf"))


def test_activation_tiny_range_keeps_a_normal_float32_scale() -> None:
    qp = params.activation_qparams(0.0, 1e-40)
    assert qp.scale > 0 and np.isfinite(np.float32(1) / qp.scale)


# -- weights (§2) -----------------------------------------------------------------------------
def test_weight_per_channel_scales_and_range() -> None:
    rng = np.random.default_rng(0)
    w = rng.normal(0, 1, (5, 3, 3, 4)).astype(np.float32)
    w[3] = 0.0  # an all-zero channel gets s = 1
    w[1] *= 1e-3
    qp = params.weight_qparams(w)
    assert qp.axis == 0 and qp.scale.shape == (5,) and qp.scale.dtype == np.float32
    assert np.array_equal(qp.zero_point, np.zeros(5, np.int32))
    expect = np.abs(w.astype(np.float64)).reshape(5, -1).max(axis=1) / 127
    expect[3] = 1.0
    assert np.array_equal(qp.scale, expect.astype(np.float32))
    q = params.quantize_weights(w, qp)
    assert q.dtype == np.int8
    assert q.min() >= -127 and q.max() <= 127
    assert np.array_equal(np.abs(q).reshape(5, -1).max(axis=1), [127, 127, 127, 0, 127])
    # dequantized weights are within half a step of the float weights
    err = np.abs(q * qp.scale.astype(np.float64)[:, None, None, None] - w)
    assert (err <= qp.scale[:, None, None, None] * (0.5 + 1e-6)).all()


@settings(max_examples=100, deadline=None)
@given(st.lists(finite, min_size=1, max_size=40), st.booleans())
def test_weights_are_symmetric_and_never_minus_128(vals: list[float], per_channel: bool) -> None:
    w = np.array(vals, np.float32).reshape(1, -1)
    w = np.concatenate([w, -w])  # channel 1 is the negation of channel 0
    qp = params.weight_qparams(w, per_channel=per_channel)
    q = params.quantize_weights(w, qp)
    assert q.min() >= -127
    assert np.array_equal(q[1], -q[0])  # symmetric scheme: quantizing -w gives -q


def test_weight_rounding_is_half_even() -> None:
    w = np.array([[127.0, 0.5, 1.5, 2.5, -0.5, -2.5, 126.5]], np.float32)  # s = 1 exactly
    qp = params.weight_qparams(w)
    assert qp.scale[0] == 1.0
    assert params.quantize_weights(w, qp).tolist() == [[127, 0, 2, 2, 0, -2, 126]]


def test_weight_per_tensor_and_bits() -> None:
    w = np.array([[1.0, -2.0], [0.5, 0.25]], np.float32)
    qp = params.weight_qparams(w, per_channel=False)
    assert qp.axis is None and qp.scale == np.float32(2.0 / 127)
    w4 = np.array([[7.0, -3.5, 2.5], [1.75, 0.875, 0.625]], np.float32)
    qp4 = params.weight_qparams(w4, bits=4)
    assert np.array_equal(qp4.scale, np.float32([1.0, 0.25]))  # max|w| / 7
    # +-3.5 -> +-4, 2.5 -> 2: half to even
    assert params.quantize_weights(w4, qp4, bits=4).tolist() == [[7, -4, 2], [7, 4, 2]]
    with pytest.raises(ValueError):
        params.weight_qparams(w, bits=9)
    with pytest.raises(ValueError):
        params.weight_qparams(np.array([np.nan], np.float32))


# -- bias (§2) --------------------------------------------------------------------------------
def test_bias_scale_rounding_and_saturation() -> None:
    x_scale, w_scales = np.float32(0.5), np.float32([0.25, 0.25, 0.25, 0.25, 1e-9])
    b = np.array([0.3125, 0.4375, -0.3125, 1e12, -1e3], np.float32)  # 2.5, 3.5, -2.5 steps
    q = params.quantize_bias(b, x_scale, w_scales)
    assert q.dtype == np.int32
    assert q.tolist() == [2, 4, -2, 2**31 - 1, -(2**31)]
    # the scale is the product of the stored float32 scales, in float64
    s = params.bias_scale(np.float32(0.1), np.float32([0.3]))
    assert s[0] == np.float64(np.float32(0.1)) * np.float64(np.float32(0.3))


# -- clamp bounds (§5) ------------------------------------------------------------------------
@pytest.mark.parametrize(
    "clip, s, z, expect",
    [
        ((-np.inf, np.inf), 0.1, -10, (-128, 127)),
        ((0.0, np.inf), 0.1, -10, (-10, 127)),  # ReLU: qmin = z
        ((0.0, 6.0), 0.1, -10, (-10, 50)),  # ReLU6
        ((0.0, 6.0), 0.01, -128, (-128, 127)),  # 6 is beyond the range: 127
        ((-1.0, 1.0), 0.1, -10, (-20, 0)),
        ((1.25, 2.75), 0.5, 3, (5, 9)),  # 2.5 -> 2 and 5.5 -> 6: half to even
        ((-1e30, 1e30), 0.5, 0, (-128, 127)),
        ((100.0, np.inf), 0.1, 0, (127, 127)),  # a clip above the whole range stays valid int8
    ],
)
def test_clamp_bounds(clip, s: float, z: int, expect: tuple[int, int]) -> None:
    assert params.clamp_bounds(clip, QParams.per_tensor(s, z)) == expect


@settings(max_examples=200, deadline=None)
@given(st.floats(-50, 50), st.floats(-50, 50), st.floats(1e-3, 1.0), st.integers(-128, 127))
def test_clamp_bounds_formula(a: float, b: float, s: float, z: int) -> None:
    lo, hi = min(a, b), max(a, b)
    qp = QParams.per_tensor(s, z)
    s32 = float(np.float32(s))
    qmin, qmax = params.clamp_bounds((lo, hi), qp)
    assert qmin == min(127, max(-128, int(np.rint(lo / s32)) + z))
    assert qmax == max(-128, min(127, int(np.rint(hi / s32)) + z))
    # bounds quantize like values do (§6) whenever the float32 division agrees with float64
    x = np.array([lo, hi], np.float32)
    if np.array_equal(np.rint(x / np.float32(s32)), np.rint(x.astype(np.float64) / s32)) and \
            float(x[0]) == lo and float(x[1]) == hi:
        assert params.quantize_array(x, qp).tolist() == [qmin, qmax]


# -- multipliers (§4) -------------------------------------------------------------------------
@settings(max_examples=200, deadline=None)
@given(st.floats(2**-20, 10, width=32),
       st.lists(st.floats(2**-20, 10, width=32), min_size=1, max_size=8),
       st.floats(2**-20, 10, width=32))
def test_multipliers_float64_then_one_float32_rounding(sx, sw, sy) -> None:
    sw = np.array(sw, np.float32)
    m = params.conv_multipliers(sx, sw, sy)
    assert m.dtype == np.float32 and m.shape == sw.shape
    expect = (np.float64(sx) * sw.astype(np.float64) / np.float64(sy)).astype(np.float32)
    assert np.array_equal(m, expect)
    r = kernel_tables.requant_mult(sx, sy)
    assert r.dtype == np.float32 and r == np.float32(np.float64(sx) / np.float64(sy))


def test_multiplier_is_not_a_float32_chain() -> None:
    # a case where float32(sx * sw) / sy (two float32 roundings) differs from §4's rule
    rng = np.random.default_rng(3)
    for _ in range(10000):
        sx, sw, sy = rng.uniform(1e-3, 1, 3).astype(np.float32)
        chain = np.float32(np.float32(sx * sw) / sy)
        if chain != params.conv_multipliers(sx, np.float32([sw]), sy)[0]:
            break
    else:
        pytest.fail("no distinguishing case found")
    assert params.conv_multipliers(sx, np.float32([sw]), sy)[0] == np.float32(
        np.float64(sx) * np.float64(sw) / np.float64(sy))


# -- the boundary Quantize (§6) ---------------------------------------------------------------
def test_quantize_array_specials_and_saturation() -> None:
    x = np.array([np.nan, np.inf, -np.inf, 1e30, -1e30, 0.0, 2.5, 3.5, -2.5], np.float32)
    for z in (-128, 0, 127):
        q = params.quantize_array(x, QParams.per_tensor(1.0, z))
        assert q.dtype == np.int8
        assert q[:6].tolist() == [z, 127, -128, 127, -128, z]
        expect = np.clip(np.array([2, 4, -2]) + z, -128, 127)  # half to even, then + z
        assert q[6:].tolist() == expect.tolist()


def test_quantize_array_divides_in_float32() -> None:
    s = np.float32(0.1)
    x = (np.arange(-120, 120) / 10 + 0.05).astype(np.float32)
    q = params.quantize_array(x, QParams.per_tensor(s, 0))
    f32 = np.rint(x / s)
    f64 = np.rint(x.astype(np.float64) / np.float64(s))
    assert (f32 != f64).any()  # the test can tell the two apart
    assert np.array_equal(q.astype(np.float64), f32)


def test_quantize_dequantize_round_trip_within_half_step() -> None:
    rng = np.random.default_rng(0)
    x = rng.uniform(-3, 5, 1000).astype(np.float32)
    qp = params.activation_qparams(-3, 5)
    err = np.abs(params.dequantize_array(params.quantize_array(x, qp), qp) - x)
    assert err.max() <= float(qp.scale) * 0.5 * (1 + 1e-5)


def test_quantize_array_per_channel() -> None:
    qp = QParams(np.float32([1.0, 0.5]), np.int32([0, 10]), axis=1)
    x = np.array([[1.0, 1.0], [-2.0, 100.0]], np.float32)
    assert params.quantize_array(x, qp).tolist() == [[1, 12], [-2, 127]]
