"""Calibration observers: streaming estimators of the real range [lo, hi] of one tensor.

Every method (min/max, moving-average min/max, percentile, entropy/KL, MSE search) fits one
interface: `update(batch)` is called once per calibration batch with that batch's values of
the tensor, and `range()` returns the range to quantize with. An observer never keeps the
activations it has seen: min/max style methods keep a few floats, histogram methods keep a
fixed number of bins (`HistogramObserver`), so memory does not grow with the number of
samples. Methods whose result depends on how data is grouped (EMA) define their step as one
`update` call, i.e. one calibration batch.

The range an observer returns need not contain 0; `params.activation_qparams` widens it.
"""

from __future__ import annotations

import abc
import math
from typing import Any

import numpy as np



class NonFiniteDataError(ValueError):
    """A calibration tensor holds NaN or Inf: a data problem, never worth a retry."""

class Observer(abc.ABC):
    """Streaming range estimator for the tensor `name` (used in error messages)."""

    def __init__(self, name: str = "") -> None:
        self.name = name
        self.count = 0  # values seen so far
        self.min = math.inf  # exact extremes of everything seen; every method tracks them
        self.max = -math.inf

    def update(self, x: np.ndarray) -> None:
        x = np.asarray(x)
        if x.size == 0:
            return
        lo, hi = float(x.min()), float(x.max())
        # min/max propagate NaN and reach +-inf when any Inf is present: one cheap check
        if not (math.isfinite(lo) and math.isfinite(hi)):
            bad = "NaN" if np.isnan(x).any() else "Inf"
            raise NonFiniteDataError(
                f"calibration data contains {bad} in tensor {self.name or '<unnamed>'!r}: "
                "observers need finite values (check the inputs and the model)"
            )
        self.count += x.size
        self.min, self.max = min(self.min, lo), max(self.max, hi)
        self._update(x, lo, hi)

    def _update(self, x: np.ndarray, lo: float, hi: float) -> None:  # noqa: B027
        """Method-specific part of update: x is finite and non-empty, lo/hi its extremes, and
        self.min/self.max already include them."""

    @abc.abstractmethod
    def _range(self) -> tuple[float, float]:
        """The estimate; only called after at least one value was seen."""

    def range(self) -> tuple[float, float]:
        if self.count == 0:
            raise ValueError(f"observer for tensor {self.name or '<unnamed>'!r} saw no data")
        lo, hi = self._range()
        return float(lo), float(hi)


class MinMaxObserver(Observer):
    """The exact minimum and maximum of everything seen."""

    def _range(self) -> tuple[float, float]:
        return self.min, self.max


class HistogramObserver(Observer):
    """Base of histogram methods (percentile, entropy, MSE): a fixed number of equal-width bins
    whose edges lie on the grid k * width (k integer), so 0 is always an edge.

    The width is a power of two, always the smallest one whose grid covers every value seen
    (and 0) with `bins` bins, so at least bins / 2 bins span the data. When new data falls
    outside the window the width grows by a power of two 2^j; every new bin is then the union
    of exactly 2^j old bins (multiples of width * 2^j are multiples of width), so re-binning
    is an exact regrouping of counts with no interpolation. The state is therefore a function
    of the multiset of values only: the same data fed in any batches gives the same histogram,
    bit for bit. The window always contains 0, so the integer bin origin stays within
    [-bins, 0].

    A histogram whose data have all been 0 so far has no width yet; its zeros are counted
    apart and put into the bin [0, width) when a first non-zero value fixes the grid.
    """

    def __init__(self, name: str = "", bins: int = 2048) -> None:
        super().__init__(name)
        if bins < 2:
            raise ValueError(f"a histogram needs at least 2 bins, got {bins}")
        self.bins = int(bins)
        self.counts = np.zeros(self.bins, dtype=np.int64)
        self.width = 0.0  # 0 until a non-zero value is seen
        self.origin = 0  # bin i covers [(origin + i) * width, (origin + i + 1) * width)
        self._zeros = 0  # values seen while width == 0 (all exactly 0)

    def edges(self) -> np.ndarray:
        return (self.origin + np.arange(self.bins + 1, dtype=np.float64)) * self.width

    def histogram(self) -> tuple[np.ndarray, np.ndarray]:
        """(counts [bins] int64, edges [bins + 1] float64); all-zero data gives one empty-width
        bin holding every value."""
        if self.width == 0.0:
            return np.array([self._zeros], np.int64), np.array([0.0, 0.0])
        return self.counts.copy(), self.edges()

    def _grow(self) -> None:
        """Widen the grid to the smallest power-of-two multiple 2^j of the current width whose
        window covers [min(lo, 0), max(hi, 0)] of everything seen, and regroup the counts:
        absolute bin i lands in new absolute bin floor(i / 2^j)."""
        w = self.width
        lo_idx = math.floor(min(self.min, 0.0) / w)
        hi_idx = math.floor(max(self.max, 0.0) / w)
        if lo_idx >= self.origin and hi_idx < self.origin + self.bins:
            return
        # a lower bound (2^j-wide bins must at least hold the span), then the exact test
        j = max(0, math.ceil(math.log2((hi_idx - lo_idx + 1) / self.bins)))
        while (hi_idx >> j) - (lo_idx >> j) + 1 > self.bins:
            j += 1
        new_origin = lo_idx >> j  # arithmetic shift = floor division by 2^j, also below 0
        occupied = np.flatnonzero(self.counts)
        counts = np.zeros(self.bins, dtype=np.int64)
        np.add.at(counts, ((self.origin + occupied) >> j) - new_origin, self.counts[occupied])
        self.counts = counts
        self.width = w * 2.0**j
        self.origin = new_origin

    def _update(self, x: np.ndarray, lo: float, hi: float) -> None:
        if self.width == 0.0:
            if lo == 0.0 and hi == 0.0:
                self._zeros += x.size
                return
            # first non-zero data: a power of two no wider than the narrowest width that could
            # fit; _grow then doubles it to the smallest that does
            span = max(hi, 0.0) - min(lo, 0.0)
            self.width = 2.0 ** math.floor(math.log2(span / self.bins))
            self.origin = math.floor(min(lo, 0.0) / self.width)
        self._grow()
        if self._zeros:
            self.counts[-self.origin] += self._zeros  # the bin [0, width)
            self._zeros = 0
        # x / width is exact scaling by a power of two, so a value's bin at a coarser width is
        # its bin at the finer one shifted right: the regrouping in _grow agrees with this
        idx = np.floor(x.astype(np.float64).ravel() / self.width).astype(np.int64) - self.origin
        self.counts += np.bincount(idx, minlength=self.bins)


class PercentileObserver(HistogramObserver):
    """[lo, hi] = the (100 - p)-th and p-th percentiles of the data, p = `percentile` (e.g.
    99.99), read off the histogram with linear interpolation inside a bin and never outside
    the exact observed extremes. Resolution: one bin width, at most 2 (max - min) / bins."""

    def __init__(self, name: str = "", bins: int = 2048, percentile: float = 99.99) -> None:
        super().__init__(name, bins)
        if not 50.0 < percentile <= 100.0:
            raise ValueError(f"percentile must be in (50, 100], got {percentile}")
        self.percentile = float(percentile)

    def _quantile(self, q: float) -> float:
        counts, edges = self.histogram()
        cum = np.cumsum(counts, dtype=np.float64)
        target = q * cum[-1]
        i = min(int(np.searchsorted(cum, target, side="left")), len(counts) - 1)
        before = cum[i - 1] if i > 0 else 0.0
        frac = 0.0 if counts[i] == 0 else (target - before) / counts[i]
        return float(edges[i] + frac * (edges[i + 1] - edges[i]))

    def _range(self) -> tuple[float, float]:
        p = self.percentile / 100.0
        lo = max(self.min, self._quantile(1.0 - p))
        hi = min(self.max, self._quantile(p))
        return min(lo, hi), max(lo, hi)


OBSERVERS: dict[str, type[Observer]] = {
    "minmax": MinMaxObserver,
    "percentile": PercentileObserver,
}


def make_observer(method: str, name: str = "", **kw: Any) -> Observer:
    """A new observer of `method` (a key of OBSERVERS) for tensor `name`; `kw` are the method's
    options (e.g. percentile=99.9, bins=4096)."""
    try:
        cls = OBSERVERS[method]
    except KeyError:
        raise ValueError(
            f"unknown calibration method {method!r}; available: {sorted(OBSERVERS)}"
        ) from None
    return cls(name=name, **kw)
