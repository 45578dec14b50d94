"""transpose / slice / pad on every element size: native == reference == numpy."""

from __future__ import annotations

import itertools

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from int8rt.reference import movement as ref
from tests.kernels import one_op as nat

RNG = np.random.default_rng(17)
# element sizes 1, 2, 4, 8 (what a plan takes), numeric and not
DTYPES = [np.int8, np.int16, np.float32, np.float64, np.dtype("S2")]


def _x(shape, dtype):
    v = RNG.integers(-128, 128, size=shape)
    if np.dtype(dtype).kind == "S":
        return v.astype(np.int8).astype(np.uint8).astype(dtype)
    return v.astype(dtype)


@pytest.mark.parametrize("dtype", DTYPES)
def test_transpose_all_4d_perms(dtype):
    x = _x((2, 3, 4, 5), dtype)
    for perm in itertools.permutations(range(4)):
        y = nat.transpose(x, shape=x.shape, perm=perm)
        assert np.array_equal(y, np.transpose(x, perm))
        assert np.array_equal(y, ref.transpose(x, shape=x.shape, perm=perm))


@settings(max_examples=60, deadline=None)
@given(st.lists(st.integers(1, 4), min_size=1, max_size=6), st.randoms(use_true_random=False),
       st.sampled_from(DTYPES))
def test_transpose_hypothesis(shape, rnd, dtype):
    perm = list(range(len(shape)))
    rnd.shuffle(perm)
    x = _x(tuple(shape), dtype)
    flat = x.reshape(-1)  # the runner may hand over any shape with the right size
    y = nat.transpose(flat, shape=shape, perm=perm)
    assert np.array_equal(y, np.transpose(x, perm))
    assert np.array_equal(y, ref.transpose(flat, shape=shape, perm=perm))


def _slice_case(shape, rnd):
    start, step, out = [], [], []
    for n in shape:
        s = rnd.choice([1, 1, 2, 3, -1, -2])
        a = rnd.randrange(n)
        count = (n - a + s - 1) // s if s > 0 else (a + 1 + (-s) - 1) // (-s)
        out.append(rnd.randint(1, count))
        start.append(a)
        step.append(s)
    return start, step, out


@settings(max_examples=80, deadline=None)
@given(st.lists(st.integers(1, 6), min_size=1, max_size=6), st.randoms(use_true_random=False),
       st.sampled_from(DTYPES))
def test_slice_hypothesis(shape, rnd, dtype):
    x = _x(tuple(shape), dtype)
    start, step, out = _slice_case(shape, rnd)
    kw = {"in_shape": shape, "start": start, "step": step, "out_shape": out}
    y = nat.slice(x, **kw)
    expected = x[tuple(np.s_[a:a + o * s if a + o * s >= 0 else None:s]
                       for a, s, o in zip(start, step, out))]
    assert np.array_equal(y, expected)
    assert np.array_equal(y, ref.slice(x, **kw))


def test_slice_errors_and_empty():
    x = _x((4, 5), np.int8)
    with pytest.raises(ValueError):
        nat.slice(x, in_shape=(4, 5), start=(0, 0), step=(1, 1), out_shape=(5, 1))
    with pytest.raises(ValueError):
        nat.slice(x, in_shape=(4, 5), start=(0, 3), step=(1, -2), out_shape=(1, 3))
    with pytest.raises(ValueError):
        nat.slice(x, in_shape=(4, 5), start=(0, 0), step=(0, 1), out_shape=(1, 1))
    y = nat.slice(x, in_shape=(4, 5), start=(9, 0), step=(1, 1), out_shape=(0, 5))
    assert y.shape == (0, 5)


MODES = {0: "constant", 1: "reflect", 2: "edge"}


@pytest.mark.parametrize("mode", [0, 1, 2])
@pytest.mark.parametrize("dtype", DTYPES)
def test_pad_matches_numpy(mode, dtype):
    for shape, pads in [((2, 5, 6, 3), ((0, 0), (1, 2), (3, 0), (0, 1))),
                        ((7,), ((6, 6),)), ((3, 4), ((2, 2), (3, 3))),
                        ((1, 4, 4, 8), ((0, 0), (1, 1), (1, 1), (0, 0))),
                        ((2, 1, 3, 1, 2, 2), ((1, 0), (0, 0), (2, 1), (0, 0), (1, 1), (0, 1)))]:
        if mode == 1 and any(b >= n or a >= n for n, (b, a) in zip(shape, pads) if n > 1):
            continue
        if mode == 1 and any(n == 1 and (b or a) for n, (b, a) in zip(shape, pads)):
            continue  # numpy cannot reflect a single element
        x = _x(shape, dtype)
        value = _x((1,), dtype)
        kw = {"in_shape": shape, "pad_before": [b for b, _ in pads],
              "pad_after": [a for _, a in pads], "mode": mode}
        y = nat.pad(x, value, **kw)
        extra = {"constant_values": value[0]} if mode == 0 else {}
        assert np.array_equal(y, np.pad(x, pads, mode=MODES[mode], **extra))
        assert np.array_equal(y, ref.pad(x, value, **kw))


@settings(max_examples=80, deadline=None)
@given(st.lists(st.tuples(st.integers(1, 5), st.integers(-3, 7), st.integers(-3, 7)),
                min_size=1, max_size=6),
       st.sampled_from([0, 1, 2]), st.sampled_from(DTYPES))
def test_pad_hypothesis(axes, mode, dtype):
    """Wide reflect pads (mirrored again past the far end) and negative pads (crop)."""
    shape = [n for n, _, _ in axes]
    before = [max(b, -n + 1) for n, b, _ in axes]
    after = [max(a, -n - b + 1) for (n, _, a), b in zip(axes, before)]
    x = _x(tuple(shape), dtype)
    value = _x((1,), dtype)
    kw = {"in_shape": shape, "pad_before": before, "pad_after": after, "mode": mode}
    y = nat.pad(x, value, **kw)
    assert np.array_equal(y, ref.pad(x, value, **kw))
    # independent check: numpy pad of the cropped tensor, where numpy's semantics agree
    if all(b >= 0 and a >= 0 for b, a in zip(before, after)):
        if mode == 0:
            expected = np.pad(x, list(zip(before, after)), constant_values=value[0])
        elif mode == 2:
            expected = np.pad(x, list(zip(before, after)), mode="edge")
        elif all(n > 1 or (b == a == 0) for n, b, a in zip(shape, before, after)):
            expected = np.pad(x, list(zip(before, after)), mode="reflect")
        else:
            return
        assert np.array_equal(y, expected)
    elif all(b <= 0 and a <= 0 for b, a in zip(before, after)):
        crop = tuple(np.s_[-b:n + a] for n, b, a in zip(shape, before, after))
        assert np.array_equal(y, x[crop])


def test_pad_scalar_and_errors():
    # a 0-d pad is the reference's identity; the plan takes 1..6 axes (lowering never pads a
    # 0-d tensor: ONNX Pad of a scalar has no pads)
    x = np.array(5, np.int8)
    assert ref.pad(x, np.array([1], np.int8), in_shape=(), pad_before=(), pad_after=()) == 5
    with pytest.raises(ValueError, match="ndim"):
        nat.pad(x, np.array([1], np.int8), in_shape=(), pad_before=(), pad_after=())
    x = _x((3, 3), np.int8)
    with pytest.raises(ValueError, match="exact"):  # the value must be one int8 element
        nat.pad(x, np.array([300], np.int16), in_shape=(3, 3), pad_before=(1, 1),
                pad_after=(1, 1))
    with pytest.raises(ValueError):
        nat.pad(x, None, in_shape=(3, 3), pad_before=(1, 1), pad_after=(1, 1), mode=3)
    with pytest.raises(ValueError):
        nat.pad(x, None, in_shape=(3, 3), pad_before=(-3, 0), pad_after=(-1, 0))
    with pytest.raises(ValueError):
        nat.transpose(_x((1,) * 7, np.int8), shape=(1,) * 7, perm=range(7))
    with pytest.raises(ValueError):
        nat.transpose(x, shape=(3, 3), perm=(0, 0))


@pytest.mark.parametrize("mode", [0, 1, 2])
def test_pad_leading_pad_cropped_by_negative_after(mode):
    """before > output length: the leading pad itself is cropped (a heap overflow once)."""
    x = np.arange(2 * 3, dtype=np.int8).reshape(2, 3)
    value = np.array([-7], np.int8)
    kw = {"in_shape": [2, 3], "pad_before": [0, 4], "pad_after": [0, -5], "mode": mode}
    y = nat.pad(x, value, **kw)
    assert y.shape == (2, 2)
    assert np.array_equal(y, ref.pad(x, value, **kw))


@pytest.mark.parametrize("shape,perm", [
    ((1, 40, 40, 80), (0, 3, 1, 2)),  # NHWC -> NCHW of a detector head
    ((2, 17, 19, 33), (0, 3, 1, 2)),  # edges in both directions of the 16 x 16 tiles
    ((1, 4, 16, 2100), (0, 1, 3, 2)),  # batched matrices (outer axes)
    ((3, 16, 16), (0, 2, 1)),
    ((1, 5, 1, 40), (0, 3, 1, 2)),  # a size-1 axis between
    ((48, 32), (1, 0)),
    ((2, 3, 16, 17), (1, 0, 3, 2)),  # outer axes permuted too
    ((15, 64), (1, 0)),  # below one tile in a dimension: element path
])
def test_transpose_byte_matrices(path, shape, perm):
    x = np.random.default_rng(len(shape)).integers(-128, 128, shape).astype(np.int8)
    y = nat.transpose(x.reshape(-1), shape=shape, perm=perm)
    assert np.array_equal(y, np.transpose(x, perm))
    assert np.array_equal(y, ref.transpose(x.reshape(-1), shape=shape, perm=perm))
