"""fc: native kernel == numpy reference, tolerance zero (docs/QUANTIZATION.md §3-§5)."""

from __future__ import annotations

import itertools

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from int8rt.reference import conv as ref
from int8rt.reference.requant import requantize
from tests.kernels import one_op


def make_case(rng: np.random.Generator, m: int, k: int, n: int, x_zp: int = 0, y_zp: int = 0,
              qmin: int = -128, qmax: int = 127):
    x = rng.integers(-128, 128, (m, k), dtype=np.int8)
    w = rng.integers(-127, 128, (n, k), dtype=np.int8)
    bias = rng.integers(-50000, 50000, n).astype(np.int32)
    # |acc| is about 74 * 73 * sqrt(K) for uniform operands: aim that at ~40 output steps
    mult = (rng.uniform(0.5, 2.0, n) * 40.0 / (74 * 73 * np.sqrt(k))).astype(np.float32)
    return x, {"w": w, "bias": bias, "mult": mult, "x_zp": x_zp, "y_zp": y_zp, "qmin": qmin,
               "qmax": qmax}


def check(x: np.ndarray, kwargs: dict) -> np.ndarray:
    expected = ref.fc(x, **kwargs)
    got = one_op.fc(x, **kwargs)
    assert got.dtype == np.int8 and got.shape == expected.shape
    assert np.array_equal(got, expected), f"{int((got != expected).sum())} mismatches"
    return got


@pytest.mark.parametrize("m,k,n", list(itertools.product((1, 2, 3, 5), (1, 15, 16, 17, 63, 64, 100),
                                                         (1, 3, 4, 5, 17))))
def test_grid(m: int, k: int, n: int) -> None:
    rng = np.random.default_rng(m * 10000 + k * 100 + n)
    x, kw = make_case(rng, m, k, n, x_zp=-11, y_zp=4)
    check(x, kw)


@pytest.mark.parametrize("qmin,qmax", [(-128, 127), (0, 127), (-3, 6), (10, 10)])
@pytest.mark.parametrize("x_zp,y_zp", [(-128, -128), (127, 127), (-128, 127), (0, 0)])
def test_zero_points_and_clamp(qmin: int, qmax: int, x_zp: int, y_zp: int) -> None:
    rng = np.random.default_rng(qmin * 7 + qmax * 3 + x_zp + 1000)
    x, kw = make_case(rng, 9, 70, 11, x_zp=x_zp, y_zp=y_zp, qmin=qmin, qmax=qmax)
    x[:, ::3] = -128
    x[:, 1::3] = 127
    y = check(x, kw)
    assert y.min() >= qmin and y.max() <= qmax


def test_large_batch() -> None:
    rng = np.random.default_rng(5)
    x, kw = make_case(rng, 300, 1000, 37, x_zp=3, y_zp=-3)  # several gemm row blocks
    check(x, kw)


@settings(max_examples=200, deadline=None)
@given(m=st.integers(1, 9), k=st.integers(1, 300), n=st.integers(1, 40),
       x_zp=st.integers(-128, 127), y_zp=st.integers(-128, 127), qmin=st.integers(-128, 127),
       span=st.integers(0, 255), scale=st.sampled_from([0.1, 1.0, 10.0]),
       extreme=st.booleans(), seed=st.integers(0, 2**32 - 1))
def test_hypothesis(m, k, n, x_zp, y_zp, qmin, span, scale, extreme, seed) -> None:
    rng = np.random.default_rng(seed)
    x, kw = make_case(rng, m, k, n, x_zp, y_zp, qmin, min(127, qmin + span))
    if extreme:
        x = rng.choice(np.array([-128, 127, 0], np.int8), x.shape)
        kw["w"] = rng.choice(np.array([-127, 127, 0], np.int8), kw["w"].shape)
    kw["mult"] = kw["mult"] * np.float32(scale)
    check(x, kw)


@pytest.mark.parametrize("k", [4608, 16384, 65000])
@pytest.mark.parametrize("wval", [127, -127])
def test_large_k_extremes(k: int, wval: int) -> None:
    """x = -128 with x_zp = 127: every product is -255 * w, |acc| = 255 * 127 * K < 2^31."""
    x = np.full((3, k), -128, np.int8)
    x[1, ::2] = 127
    w = np.full((6, k), wval, np.int8)
    w[1] = -w[1]
    w[2, ::3] = 0
    bias = np.array([0, 1, -1, 2**20, -(2**20), 12345], np.int32)
    mult = np.full(6, 100.0 / (255 * 127 * k), np.float32)
    y = check(x, {"w": w, "bias": bias, "mult": mult, "x_zp": 127, "y_zp": 0, "qmin": -128,
                  "qmax": 127})
    assert abs(int(y[0, 0])) == 100


def test_folded_bias_wraps() -> None:
    """bias - x_zp * sum(w) exceeds int32 but the true accumulator (= bias) does not."""
    k = 16384
    x = np.full((2, k), -128, np.int8)
    w = np.full((2, k), 127, np.int8)
    bias = np.array([2**31 - 1, 2**31 - 1 - 9999], np.int32)
    kw = {"w": w, "bias": bias, "mult": np.full(2, 2.0**-24, np.float32), "x_zp": -128,
          "y_zp": 0}
    assert check(x, kw).tolist() == [[127, 127], [127, 127]]


def test_reference_matches_definition() -> None:
    rng = np.random.default_rng(2)
    x, kw = make_case(rng, 3, 21, 5, x_zp=-100, y_zp=7)
    acc = np.array([[int(kw["bias"][j]) + sum((int(x[i, t]) - kw["x_zp"]) * int(kw["w"][j, t])
                                              for t in range(21)) for j in range(5)]
                    for i in range(3)], np.int64)
    expected = requantize(acc, kw["mult"], kw["y_zp"])
    assert np.array_equal(ref.fc(x, **kw), expected)
    assert np.array_equal(one_op.fc(x, **kw), expected)


def test_reference_rejects_accumulator_overflow() -> None:
    k = 66400
    with pytest.raises(OverflowError):
        ref.fc(np.full((1, k), 127, np.int8), w=np.full((1, k), 127, np.int8),
               bias=np.zeros(1, np.int32), mult=np.ones(1, np.float32), x_zp=-128, y_zp=0)


def test_argument_errors() -> None:
    rng = np.random.default_rng(0)
    x, kw = make_case(rng, 2, 8, 3)
    with pytest.raises(ValueError, match="dtypes"):
        one_op.fc(x.astype(np.uint8), **kw)
    with pytest.raises(ValueError, match="exactly"):  # weights that are not int8
        one_op.fc(x, **{**kw, "w": kw["w"].astype(np.int32) * 4})
    # a Fortran-ordered input is copied to C order by the plan's input handling
    xf = np.asfortranarray(x)
    assert np.array_equal(one_op.fc(xf, **kw), ref.fc(x, **kw))
    with pytest.raises(ValueError):
        one_op.fc(x[:, :7], **kw)
    with pytest.raises(ValueError):  # an input of 15 bytes for m x k = 2 x 8
        one_op.run("fc", [x.reshape(-1)[:15]], {"m": 2, "k": 8, "n": 3, "x_zp": 0, "y_zp": 0,
                                                "qmin": -128, "qmax": 127},
                   {k: kw[k] for k in ("w", "bias", "mult")}, out_shape=(2, 3))
    with pytest.raises(ValueError):
        one_op.fc(x, **{**kw, "mult": kw["mult"][:2]})
    with pytest.raises(ValueError):
        one_op.fc(x, **{**kw, "y_zp": -129})


def test_float_for_an_integer_param_is_refused() -> None:
    """Cython's dict -> struct conversion would truncate x_zp=1.5; the plan refuses it (an
    integral float, 2.0, is the integer 2)."""
    x, kw = make_case(np.random.default_rng(0), 2, 8, 3)
    with pytest.raises(ValueError, match="not an integer"):
        one_op.fc(x, **{**kw, "x_zp": 1.5})
    assert np.array_equal(one_op.fc(x, **{**kw, "x_zp": 2.0}), ref.fc(x, **{**kw, "x_zp": 2}))


# ---- float32 epilogue (out_f32, docs/QUANTIZATION.md §4) -------------------------------------

def check_f32(x: np.ndarray, kwargs: dict) -> np.ndarray:
    kw = {**kwargs, "out_f32": 1}
    expected = ref.fc(x, **kw)
    got = one_op.fc(x, **kw)
    assert expected.dtype == np.float32 and got.dtype == np.float32
    assert got.shape == expected.shape == (x.shape[0], kw["w"].shape[0])
    assert np.array_equal(got, expected), f"{int((got != expected).sum())} mismatches"
    return got


def fc_acc(x: np.ndarray, kw: dict) -> np.ndarray:
    """Accumulators in exact int64 arithmetic (independent of conv.py's float64 matmul)."""
    return (x.astype(np.int64) - kw["x_zp"]) @ kw["w"].astype(np.int64).T + kw["bias"]


@pytest.mark.parametrize("m,k,n", list(itertools.product((1, 2, 3, 5), (1, 16, 17, 100),
                                                         (1, 3, 4, 5, 17))))
def test_out_f32_grid(m: int, k: int, n: int) -> None:
    rng = np.random.default_rng(m * 10000 + k * 100 + n + 7)
    x, kw = make_case(rng, m, k, n, x_zp=-11, y_zp=4, qmin=0, qmax=6)  # clamp must be ignored
    kw["mult"] = rng.uniform(-1e-3, 1e-3, n).astype(np.float32)
    y = check_f32(x, kw)
    # the definition: float32(acc) * mult, one float32 multiply, no zero point, no clamp
    assert np.array_equal(y, fc_acc(x, kw).astype(np.float32) * kw["mult"])


@pytest.mark.parametrize("x_zp", [-128, 127])
@pytest.mark.parametrize("k", [4608, 65000])
def test_out_f32_extremes(x_zp: int, k: int) -> None:
    """|acc| up to 255 * 127 * K: far beyond 2^24, so float32(acc) rounds, identically in C."""
    x = np.full((3, k), 127 if x_zp == -128 else -128, np.int8)
    x[1, ::2] = x_zp
    w = np.full((4, k), 127, np.int8)
    w[1] = -127
    w[2, ::3] = -5
    bias = np.array([0, -(2**20), 2**20, 12345], np.int32)
    mult = np.array([1.0, 3.1e-7, 2.0**-30, 7.77e-5], np.float32)
    kw = {"w": w, "bias": bias, "mult": mult, "x_zp": x_zp, "y_zp": 127, "qmin": -128,
          "qmax": 127}
    y = check_f32(x, kw)
    acc = fc_acc(x, kw)
    assert np.abs(acc).max() > 2**24
    assert np.array_equal(y, acc.astype(np.float32) * mult)


def test_out_f32_folded_bias_wraps() -> None:
    k = 16384
    x = np.full((2, k), -128, np.int8)
    w = np.full((2, k), 127, np.int8)
    bias = np.array([2**31 - 1, -(2**31)], np.int32)
    kw = {"w": w, "bias": bias, "mult": np.full(2, 0.5, np.float32), "x_zp": -128, "y_zp": 0}
    assert check_f32(x, kw).tolist() == [[2.0**30, -(2.0**30)]] * 2


def test_out_f32_argument_errors() -> None:
    x, kw = make_case(np.random.default_rng(1), 2, 8, 3)
    for bad in (2, -1):
        with pytest.raises(ValueError):
            one_op.fc(x, **kw, out_f32=bad)
