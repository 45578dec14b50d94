"""add / mul / requant_copy: native == numpy reference (tolerance zero), and the reference
against the float computation it approximates."""

from __future__ import annotations

import itertools

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from int8rt.kernel_tables import add_multipliers, collapse_broadcast, mul_mult, requant_mult
from int8rt.reference import elementwise as ref
from tests.kernels import one_op as nat

RNG = np.random.default_rng(1234)

SHAPES = [
    ((2, 5, 7, 16), (2, 5, 7, 16)),  # same shape
    ((1, 5, 7, 16), (16,)),  # per channel
    ((1, 5, 7, 16), (1, 1, 1, 16)),
    ((3, 4, 5), (3, 4, 1)),  # constant along the channel axis (row broadcast)
    ((4, 6), (4, 1)),
    ((4, 6), (1, 6)),
    ((5, 9), ()),  # scalar b
    ((5, 9), (1,)),
    ((), (5, 9)),  # scalar a
    ((4, 1), (1, 6)),  # both broadcast
    ((1, 1, 3, 1, 5), (2, 1, 1, 4, 5)),
    ((2, 1, 2, 1, 2, 1), (1, 2, 1, 2, 1, 2)),  # 6 axes that do not collapse
    ((2, 1, 2, 1, 2, 3, 1, 1), (1, 2, 1, 2, 1, 3, 1, 1)),  # 8 axes -> 6 after collapsing
    ((1, 1, 1), (1,)),
    ((7,), (7,)),
    ((3, 0, 2), (2,)),  # empty
]


def _values(shape: tuple[int, ...]) -> np.ndarray:
    x = RNG.integers(-128, 128, size=shape, dtype=np.int64).astype(np.int8)
    if x.size > 2:  # always include both extremes
        x.reshape(-1)[:2] = (-128, 127)
    return x


def _params(a: np.ndarray, b: np.ndarray) -> dict:
    ndim, shape, a_stride, b_stride = collapse_broadcast(a.shape, b.shape)
    return {"ndim": ndim, "shape": shape, "a_stride": a_stride, "b_stride": b_stride}


def _both(kernel: str, a: np.ndarray, b: np.ndarray, **params) -> np.ndarray:
    y_ref = getattr(ref, kernel)(a.reshape(-1), b.reshape(-1), **params)
    y_nat = getattr(nat, kernel)(a.reshape(-1), b.reshape(-1), **params)
    assert y_ref.dtype == y_nat.dtype == np.int8
    assert np.array_equal(y_ref, y_nat)
    return y_ref


ZPS = [(-128, 127, 0), (127, -128, -128), (0, 0, 127), (5, -3, 10)]
CLAMPS = [(-128, 127), (-20, 127), (-128, 0), (3, 3)]


@pytest.mark.parametrize("a_shape,b_shape", SHAPES)
@pytest.mark.parametrize("subtract", [False, True])
def test_add_native_equals_reference(a_shape, b_shape, subtract):
    a, b = _values(a_shape), _values(b_shape)
    for (a_zp, b_zp, y_zp), (qmin, qmax) in itertools.product(ZPS, CLAMPS):
        for sa, sb, sy in [(0.1, 0.1, 0.2), (0.02, 0.5, 0.05), (1.0, 1e-4, 3e-3), (0.3, 0.3, 0.3)]:
            am, bm, m = add_multipliers(sa, sb, sy, subtract)
            _both("add", a, b, **_params(a, b), a_zp=a_zp, b_zp=b_zp, y_zp=y_zp,
                  a_mult=am, b_mult=bm, mult=m, qmin=qmin, qmax=qmax)


@pytest.mark.parametrize("a_shape,b_shape", SHAPES)
def test_mul_native_equals_reference(a_shape, b_shape):
    a, b = _values(a_shape), _values(b_shape)
    for (a_zp, b_zp, y_zp), (qmin, qmax) in itertools.product(ZPS, CLAMPS):
        for sa, sb, sy in [(0.1, 0.1, 0.02), (0.02, 0.5, 0.05), (1.0, 1.0, 1e-3)]:
            _both("mul", a, b, **_params(a, b), a_zp=a_zp, b_zp=b_zp, y_zp=y_zp,
                  mult=mul_mult(sa, sb, sy), qmin=qmin, qmax=qmax)


def test_extreme_accumulators():
    """|A| = |B| = 2^22 with |a - a_zp| = |b - b_zp| = 255: the largest int32 add accumulator."""
    a = np.full(64, 127, np.int8)
    b = np.full(64, 127, np.int8)
    for b_mult in (2**22, -(2**22)):
        _both("add", a, b, ndim=1, shape=(64,), a_stride=(1,), b_stride=(1,), a_zp=-128,
              b_zp=-128, y_zp=0, a_mult=2**22, b_mult=b_mult, mult=np.float32(2.0**-22))
    _both("mul", a, -a - 1, ndim=1, shape=(64,), a_stride=(1,), b_stride=(1,), a_zp=-128,
          b_zp=127, y_zp=0, mult=np.float32(1e-4))


@settings(max_examples=60, deadline=None)
@given(st.lists(st.sampled_from([1, 2, 3, 5]), min_size=0, max_size=5),
       st.lists(st.booleans(), min_size=5, max_size=5),
       st.lists(st.booleans(), min_size=5, max_size=5),
       st.integers(-128, 127), st.integers(-128, 127), st.integers(-128, 127),
       st.floats(1e-3, 1.0), st.floats(1e-3, 1.0), st.floats(1e-3, 1.0), st.booleans())
def test_add_mul_hypothesis(dims, keep_a, keep_b, a_zp, b_zp, y_zp, sa, sb, sy, subtract):
    a_shape = tuple(d if keep_a[i] else 1 for i, d in enumerate(dims))
    b_shape = tuple(d if keep_b[i] else 1 for i, d in enumerate(dims))[1:]
    a, b = _values(a_shape), _values(b_shape)
    am, bm, m = add_multipliers(sa, sb, sy, subtract)
    p = _params(a, b)
    _both("add", a, b, **p, a_zp=a_zp, b_zp=b_zp, y_zp=y_zp, a_mult=am, b_mult=bm, mult=m)
    _both("mul", a, b, **p, a_zp=a_zp, b_zp=b_zp, y_zp=y_zp, mult=mul_mult(sa, sb, sy))


@pytest.mark.parametrize("subtract", [False, True])
def test_add_is_within_one_step_of_float(subtract):
    a, b = _values((32, 33)), _values((33,))
    for sa, sb, sy, a_zp, b_zp, y_zp in [(0.1, 0.07, 0.2, 3, -9, 1), (0.02, 0.5, 0.6, -128, 127, 0),
                                         (1.0, 1e-3, 1.1, 127, 0, -128)]:
        am, bm, m = add_multipliers(sa, sb, sy, subtract)
        y = ref.add(a.reshape(-1), b.reshape(-1), **_params(a, b), a_zp=a_zp, b_zp=b_zp,
                    y_zp=y_zp, a_mult=am, b_mult=bm, mult=m).reshape(32, 33)
        ra = np.float64(np.float32(sa)) * (a.astype(np.float64) - a_zp)
        rb = np.float64(np.float32(sb)) * (b.astype(np.float64) - b_zp)
        exact = (ra - rb if subtract else ra + rb) / np.float64(np.float32(sy)) + y_zp
        assert np.all(np.abs(y - np.clip(exact, -128, 127)) <= 1)


def test_mul_is_within_one_step_of_float():
    a, b = _values((16, 20)), _values((16, 1))
    sa, sb, sy, a_zp, b_zp, y_zp = 0.05, 0.03, 0.4, 10, -128, -5
    y = ref.mul(a.reshape(-1), b.reshape(-1), **_params(a, b), a_zp=a_zp, b_zp=b_zp,
                y_zp=y_zp, mult=mul_mult(sa, sb, sy)).reshape(16, 20)
    exact = (np.float32(sa) * (a.astype(np.float64) - a_zp) * np.float32(sb)
             * (b.astype(np.float64) - b_zp) / np.float32(sy) + y_zp)
    assert np.all(np.abs(y - np.clip(exact, -128, 127)) <= 1)


def test_requant_copy_concat():
    """Concat along the channel axis: one call per input into its column range of y."""
    x1, x2 = _values((2, 3, 4, 5)), _values((2, 3, 4, 7))
    outs = []
    for impl in (ref, nat):
        y = np.zeros((2, 3, 4, 12), np.int8)
        for x, off, x_zp, sx in ((x1, 0, -128, 0.1), (x2, 5, 127, 0.37)):
            r = impl.requant_copy(x, y, rows=24, cols=x.shape[-1], x_stride=x.shape[-1],
                                  y_stride=12, x_offset=0, y_offset=off, x_zp=x_zp, y_zp=-3,
                                  mult=requant_mult(sx, 0.25))
            assert r is y
        outs.append(y)
    assert np.array_equal(outs[0], outs[1])
    exact = (np.float32(0.37) * (x2.astype(np.float64) - 127)) / np.float32(0.25) - 3
    assert np.all(np.abs(outs[0][..., 5:] - np.clip(exact, -128, 127)) <= 1)


def test_requant_copy_offsets_and_strides():
    x = _values((50,))
    for mult in (1.0, 0.5, 3.0, 1e-3):
        ys = []
        for impl in (ref, nat):
            y = np.full(40, 77, np.int8)
            impl.requant_copy(x, y, rows=3, cols=4, x_stride=9, y_stride=6, x_offset=7,
                              y_offset=11, x_zp=-128, y_zp=127, mult=np.float32(mult))
            ys.append(y)
        assert np.array_equal(*ys)
        assert (ys[0][:11] == 77).all() and (ys[0][15:17] == 77).all()


def test_requant_copy_range_check_does_not_wrap():
    """(rows - 1) * stride = 2^32 * 2^32 wraps int64 to 0: the plan must still see that the
    range runs far past x (its footprint arithmetic saturates instead of wrapping)."""
    x = _values((50,))
    y = np.zeros(50, np.int8)
    big = {"rows": 2**32 + 1, "cols": 1, "x_offset": 0, "y_offset": 0, "x_zp": 0, "y_zp": 0,
           "mult": np.float32(1)}
    with pytest.raises(ValueError, match="overflows"):
        nat.requant_copy(x, y, x_stride=2**32, y_stride=0, **big)
    with pytest.raises(ValueError, match="overflows"):
        nat.requant_copy(x, y, x_stride=0, y_stride=2**32, **big)


def test_plan_rejects_bad_arguments():
    a = np.zeros(6, np.int8)
    p = {"ndim": 2, "shape": (2, 3), "a_stride": (3, 1), "b_stride": (3, 1), "a_zp": 0,
         "b_zp": 0, "y_zp": 0, "a_mult": 1, "b_mult": 1, "mult": 1.0}
    with pytest.raises(ValueError, match="dtypes"):
        nat.add(a.astype(np.int16), a, **p)
    with pytest.raises(ValueError):
        nat.add(a, a[:5], **p)  # b too short for its strides
    with pytest.raises(ValueError):
        nat.add(a, a, **{**p, "a_mult": 2**22 + 1})
    with pytest.raises(ValueError):
        nat.add(a, a, **{**p, "ndim": 7})
    # a strided operand is copied to contiguous memory by the plan's input handling
    assert np.array_equal(nat.mul(a.reshape(2, 3)[:, ::2], a[:4], **{**p, "shape": (2, 2),
                                                               "a_stride": (2, 1),
                                                               "b_stride": (2, 1)}),
                          np.zeros((2, 2), np.int8))
    with pytest.raises(ValueError):
        nat.requant_copy(a, np.zeros(4, np.int8), rows=1, cols=5, x_stride=5, y_stride=5,
                         x_offset=0, y_offset=0, x_zp=0, y_zp=0, mult=1.0)


# ---- every path: tails around the vector widths, ties, extremes, broadcast rows ------------

TIE_MULTS = [0.5, 0.25, 1.5, 2.5, 1.0, 3.0, 1e-3, 127.0, np.float32(1 / 3)]


@pytest.mark.parametrize("cols", [1, 7, 8, 15, 16, 17, 31, 32, 33, 64, 100])
def test_requant_copy_every_path(path, cols):
    """mult = k / 2 puts odd (x - x_zp) exactly on .5 ties: half to even, both directions."""
    rng = np.random.default_rng(cols)
    x = rng.integers(-128, 128, 3 * cols + 5).astype(np.int8)
    x[:4] = (-128, 127, -127, 0)
    for mult in TIE_MULTS:
        for x_zp, y_zp in ((-128, 127), (127, -128), (0, 0), (3, -5), (-1, 1)):
            ys = []
            for impl in (ref, nat):
                y = np.full(3 * cols + 11, 55, np.int8)
                impl.requant_copy(x, y, rows=3, cols=cols, x_stride=cols + 1,
                                  y_stride=cols + 2, x_offset=1, y_offset=3, x_zp=x_zp,
                                  y_zp=y_zp, mult=np.float32(mult))
                ys.append(y)
            assert np.array_equal(*ys), (mult, x_zp, y_zp)


@pytest.mark.parametrize("n", [1, 15, 16, 17, 33, 64, 70])
@pytest.mark.parametrize("bshape", ["same", "scalar", "channel"])
def test_add_mul_every_path(path, n, bshape):
    rng = np.random.default_rng(n)
    a = rng.integers(-128, 128, (3, n)).astype(np.int8)
    a.reshape(-1)[:2] = (-128, 127)
    b = {"same": rng.integers(-128, 128, (3, n)), "scalar": np.array(-128),
         "channel": rng.integers(-128, 128, (3, 1))}[bshape].astype(np.int8)
    prm = _params(a, b)
    for (a_zp, b_zp, y_zp), (qmin, qmax) in itertools.product(ZPS, CLAMPS):
        for mult in (0.5, 2.0 ** -9, 0.001):
            _both("mul", a, b, a_zp=a_zp, b_zp=b_zp, y_zp=y_zp, mult=np.float32(mult),
                  qmin=qmin, qmax=qmax, **prm)
        for a_mult, b_mult, mult in ((2**22, -(2**22), 2.0 ** -23), (3, 5, 0.5), (1, 1, 1.0)):
            _both("add", a, b, a_zp=a_zp, b_zp=b_zp, y_zp=y_zp, a_mult=a_mult, b_mult=b_mult,
                  mult=np.float32(mult), qmin=qmin, qmax=qmax, **prm)
