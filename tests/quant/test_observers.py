"""Observers: streaming updates equal one-shot results, bounded memory, clear errors."""

from __future__ import annotations

import pickle

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from int8rt.quant.observers import (
    OBSERVERS,
    HistogramObserver,
    MinMaxObserver,
    PercentileObserver,
    make_observer,
)


def _feed(obs, x: np.ndarray, pieces: int, rng: np.random.Generator | None = None):
    if rng is not None:
        x = x[rng.permutation(x.size)]
    for part in np.array_split(x, pieces):
        obs.update(part)
    return obs


def test_minmax_streaming_equals_batch() -> None:
    rng = np.random.default_rng(0)
    x = rng.normal(2, 5, 10_000).astype(np.float32)
    one = _feed(MinMaxObserver("t"), x, 1)
    many = _feed(MinMaxObserver("t"), x, 97, rng)
    assert one.range() == many.range() == (float(x.min()), float(x.max()))


@pytest.mark.parametrize("order", ["random", "growing", "shrinking"])
def test_percentile_streaming_equals_batch_bit_for_bit(order: str) -> None:
    rng = np.random.default_rng(1)
    x = (rng.standard_t(3, 50_000) * 2 + 1).astype(np.float32)
    if order == "growing":  # the histogram has to widen ~10 times
        x = x[np.argsort(np.abs(x))]
    elif order == "shrinking":
        x = x[np.argsort(-np.abs(x))]
    one = _feed(PercentileObserver("t", percentile=99.9), x, 1)
    many = _feed(PercentileObserver("t", percentile=99.9), x, 53,
                 rng if order == "random" else None)
    c1, e1 = one.histogram()
    c2, e2 = many.histogram()
    assert np.array_equal(c1, c2) and np.array_equal(e1, e2)
    assert one.range() == many.range()
    assert c1.sum() == x.size


@settings(max_examples=60, deadline=None)
@given(st.lists(st.floats(-1e4, 1e4, width=32), min_size=1, max_size=300),
       st.integers(1, 10), st.integers(2, 64))
def test_histogram_is_independent_of_batching(vals: list[float], pieces: int, bins: int) -> None:
    x = np.array(vals, np.float32)
    one = _feed(HistogramObserverForTest("t", bins=bins), x, 1)
    many = _feed(HistogramObserverForTest("t", bins=bins), x, pieces)
    assert np.array_equal(one.histogram()[0], many.histogram()[0])
    assert np.array_equal(one.histogram()[1], many.histogram()[1])
    counts, edges = many.histogram()
    assert counts.sum() == x.size
    if many.width:
        # every value lies in its bin, the grid holds 0 and is the narrowest power of two
        idx = np.searchsorted(edges, x, side="right") - 1
        assert np.array_equal(np.bincount(idx, minlength=bins), counts)
        assert 0.0 in edges
        # in float64: half the narrowest float32 subnormal grid would round to 0 in float32
        w = float(many.width) / 2
        lo, hi = min(float(x.min()), 0.0), max(float(x.max()), 0.0)
        assert np.floor(hi / w) - np.floor(lo / w) + 1 > bins


class HistogramObserverForTest(HistogramObserver):
    def _range(self) -> tuple[float, float]:
        return self.min, self.max


def test_percentile_matches_numpy_within_a_bin() -> None:
    rng = np.random.default_rng(2)
    x = rng.normal(0.5, 2, 200_000).astype(np.float32)
    for p in (99.0, 99.9, 99.99, 100.0):
        obs = _feed(PercentileObserver("t", percentile=p), x, 20)
        lo, hi = obs.range()
        ref_lo, ref_hi = np.percentile(x.astype(np.float64), [100 - p, p])
        assert abs(lo - ref_lo) <= obs.width and abs(hi - ref_hi) <= obs.width
    assert obs.range() == (float(x.min()), float(x.max()))  # p = 100: the exact extremes


def test_percentile_memory_does_not_grow_with_samples() -> None:
    rng = np.random.default_rng(3)
    obs = PercentileObserver("t", bins=512)
    obs.update(rng.normal(size=1000).astype(np.float32))
    size_small = len(pickle.dumps(obs))
    for i in range(300):
        obs.update(rng.normal(0, 1 + i / 30, 5000).astype(np.float32))
    assert obs.count == 1000 + 300 * 5000
    assert obs.counts.shape == (512,)
    # only a handful of integers may grow by a few bytes in the pickle
    assert len(pickle.dumps(obs)) <= size_small + 64


def test_all_zero_data_then_nonzero() -> None:
    obs = PercentileObserver("t", percentile=100.0)
    obs.update(np.zeros(10, np.float32))
    assert obs.range() == (0.0, 0.0)
    obs.update(np.array([4.0, -1.0], np.float32))
    counts, edges = obs.histogram()
    assert counts.sum() == 12
    zero_bin = int(np.searchsorted(edges, 0.0, side="right")) - 1
    assert counts[zero_bin] == 10
    assert obs.range() == (-1.0, 4.0)


@pytest.mark.parametrize("method", sorted(OBSERVERS))
@pytest.mark.parametrize("bad", [np.nan, np.inf, -np.inf])
def test_nonfinite_data_names_the_tensor(method: str, bad: float) -> None:
    obs = make_observer(method, "conv1.out")
    obs.update(np.ones(4, np.float32))
    x = np.ones(8, np.float32)
    x[3] = bad
    with pytest.raises(ValueError, match="conv1.out") as e:
        obs.update(x)
    assert ("NaN" if np.isnan(bad) else "Inf") in str(e.value)


@pytest.mark.parametrize("method", sorted(OBSERVERS))
def test_range_without_data_is_an_error(method: str) -> None:
    obs = make_observer(method, "t7")
    obs.update(np.zeros(0, np.float32))  # empty updates are ignored
    with pytest.raises(ValueError, match="t7"):
        obs.range()


def test_make_observer() -> None:
    obs = make_observer("percentile", "t", percentile=99.0, bins=64)
    assert isinstance(obs, PercentileObserver) and obs.percentile == 99.0 and obs.bins == 64
    assert isinstance(make_observer("minmax"), MinMaxObserver)
    with pytest.raises(ValueError, match="unknown calibration method"):
        make_observer("nope")
    with pytest.raises(ValueError):
        make_observer("percentile", percentile=30.0)
