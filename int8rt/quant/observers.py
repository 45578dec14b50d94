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

    def _update(self, x: np.ndarray, lo: float, hi: float) -> None:
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


class EMAObserver(Observer):
    """Moving-average min/max, as QAT observers use: lo <- (1 - c) lo + c * batch_min and
    hi <- (1 - c) hi + c * batch_max per `update` call, the first call setting lo/hi to its
    batch's extremes.

    The default c = 0.01 (PyTorch's MovingAverageMinMaxObserver default; TensorFlow's QAT
    uses a decay of 0.999, i.e. c = 0.001, suited to its much longer training runs) makes one batch's extremes move the range by only 1 %, so a
    rare batch with an outlier barely widens it, while a few hundred batches still forget the
    starting point ((1 - c)^n: ~37 % after 100 batches, ~0.7 % after 500). With few calibration
    batches the result stays close to the first batch's min/max: raise c for short
    calibrations.

    Unlike every other method, the result depends on how samples are grouped: one step is one
    `update`, which in `calibrate` is one executor batch (`batch_size` samples, 16 by
    default), whatever the sizes of the items the user passed. Order matters too.
    """

    def __init__(self, name: str = "", averaging_constant: float = 0.01) -> None:
        super().__init__(name)
        c = float(averaging_constant)
        if not 0.0 < c <= 1.0:
            raise ValueError(f"averaging_constant must be in (0, 1], got {averaging_constant}")
        self.averaging_constant = c
        self.lo = math.nan  # NaN until the first batch
        self.hi = math.nan

    def _update(self, x: np.ndarray, lo: float, hi: float) -> None:
        if math.isnan(self.lo):
            self.lo, self.hi = lo, hi
            return
        c = self.averaging_constant
        self.lo = (1.0 - c) * self.lo + c * lo
        self.hi = (1.0 - c) * self.hi + c * hi

    def _range(self) -> tuple[float, float]:
        return self.lo, self.hi


# int8 has 256 codes; a range [A, B] (containing 0) is cut into 255 steps of s = (B - A) / 255
_STEPS = 255


class _ClipSearchObserver(HistogramObserver):
    """Shared helpers of the methods that search clip ranges on the histogram.

    Candidate ranges have their ends on bin edges, so every bin is either inside or outside a
    candidate; the outermost ends are the exact observed min/max (no clipping). A candidate
    [a, b] is scored as the runtime will use it: activation_qparams widens it to
    [A, B] = [min(a, 0), max(b, 0)] and splits that into 255 steps, so for one-sided data the
    near end is always 0 whatever a is, and only the far end is searched.

    Values exactly 0 are counted apart (`exact_zeros`, cheap and independent of batching): the
    zero point represents 0 exactly, so they carry no quantization error, while the
    histogram alone would see a spike in the bin [0, w) smeared over a whole int8 level.
    """

    def __init__(self, name: str = "", bins: int = 2048) -> None:
        super().__init__(name, bins)
        self.exact_zeros = 0

    def _update(self, x: np.ndarray, lo: float, hi: float) -> None:
        super()._update(x, lo, hi)
        self.exact_zeros += int(x.size - np.count_nonzero(x))

    def _layout(self) -> tuple[np.ndarray, np.ndarray, int, int, int]:
        """(counts, edges, z0, kmin, kend): array index z0 of the edge at 0, the bin kmin holding
        the observed min and the edge kend just past the bin holding the observed max."""
        counts, edges = self.counts, self.edges()
        z0 = -self.origin
        kmin = min(max(math.floor(self.min / self.width) - self.origin, 0), self.bins - 1)
        kmax = min(max(math.floor(self.max / self.width) - self.origin, 0), self.bins - 1)
        return counts, edges, z0, kmin, kmax + 1

    def _edge_value(self, k: int, edges: np.ndarray, kmin: int, kend: int) -> float:
        # the outermost candidate edges stand for the exact extremes: nothing is clipped there
        if k <= kmin:
            return self.min
        if k >= kend:
            return self.max
        return float(edges[k])

    @staticmethod
    def _thin(idx: np.ndarray, limit: int) -> np.ndarray:
        """At most `limit` evenly spaced entries of idx, always keeping the last (the widest,
        unclipped candidate)."""
        if limit <= 0 or idx.size <= limit:
            return idx
        pick = np.unique(np.rint(np.linspace(0, idx.size - 1, limit)).astype(np.int64))
        return idx[pick]


class EntropyObserver(_ClipSearchObserver):
    """The clip range minimising the KL divergence between the histogram and its int8 version:
    TensorRT's entropy calibration (S. Migacz, "8-bit Inference with TensorRT", GTC 2017),
    adapted to asymmetric int8 activations.

    Derivation. Let n_i be the counts of the fine histogram (2048 bins by default). For a
    candidate range whose bins are i0 <= i < i1:

    - the reference P is n[i0:i1] with the clipped mass folded into the edge bins,
      P[i0] += sum n[:i0] and P[i1 - 1] += sum n[i1:]: clipping moves those values to the
      range ends, which is what saturating quantization does to them;
    - the candidate Q quantizes the unclipped n[i0:i1] onto the int8 grid: bin i (centre c_i)
      falls on level l_i = rint((c_i - A) / s), s = (B - A) / 255 for the widened range
      [A, B] (see _ClipSearchObserver), each level takes the total count of its bins, and the
      level's total is spread back evenly over its non-empty bins (an empty bin of P stays
      empty in Q, as in TensorRT). Q leaves out the clipped mass, so clipping a heavy tail
      shows up as a large P/Q ratio at the edge bins;
    - both are normalised to sum 1; Q is smoothed so that KL stays finite where P > 0 but
      Q = 0 (a clipped-into edge bin that was empty): those entries get eps = half of one
      value's mass, 0.5 / n, and Q is renormalised. TensorRT uses a fixed eps = 1e-4 taken
      from the non-zero entries; with a million values that is 100 values' mass, which makes
      clipping into an empty bin *lower* the KL (P log(P / eps) < 0 for P < eps) and can
      drive rare entries of Q negative. Half a value keeps every clipped tail penalised;
    - values exactly 0 (counted apart, see _ClipSearchObserver) are one more entry, equal in
      P and Q: the zero point keeps them exact;
    - KL(P || Q) = sum_{P_i > 0} P_i log(P_i / Q_i); the candidate with the least KL wins
      (ties: the narrower one, the first seen).

    A narrow range clips a lot (large P/Q at the edges); a wide range merges many bins per
    level (Q flattens P's shape within each level): the minimum balances the two.

    Candidates (the asymmetric-int8 choice). TensorRT searches a symmetric |x| threshold
    because its activations are symmetric int8. Ours are asymmetric (zero point), so:
    - one-sided data (min >= 0, e.g. after ReLU, or max <= 0): the near end stays the observed
      extreme (the runtime widens it to 0 anyway, so lo = 0 after a ReLU) and the far end t is
      searched, the grid being [0, t];
    - two-sided data: a symmetric threshold t, the candidate being [max(-t, min), min(t, max)]:
      once t passes the smaller side's extreme that side is kept whole and only the larger
      side is clipped, so skewed data (e.g. GELU outputs, min -0.17, max 10) is not forced
      into a symmetric grid that would waste half the codes. A full 2-D search over both ends
      would cost O(bins^3).
    Every candidate covers at least 255 bins (TensorRT starts at 128 bins for its 128 levels):
    below that each level holds one bin or none, Q equals P inside the range and the KL would
    only see the clipping, favouring ever narrower ranges for no real reason. So the
    resolution is one bin; a tensor whose bulk spans fewer than 255 bins (a huge outlier
    stretched the histogram) cannot be clipped tighter than 255 bins. At most
    `max_candidates` thresholds, evenly spaced, are scored (each costs O(bins)).

    The histogram is independent of batching (HistogramObserver), so is the result.
    """

    def __init__(self, name: str = "", bins: int = 2048, max_candidates: int = 512) -> None:
        super().__init__(name, bins)
        self.max_candidates = int(max_candidates)

    def _candidates(self) -> list[tuple[int, int]]:
        _, _, z0, kmin, kend = self._layout()
        need = min(_STEPS, kend - kmin)  # a histogram narrower than that: only the full range
        if self.min >= 0.0:
            ks = np.arange(max(z0 + need, kmin + 1), kend + 1)
            return [(kmin, int(k)) for k in self._thin(ks, self.max_candidates)]
        if self.max <= 0.0:
            ks = np.arange(min(z0 - need, kend - 1), kmin - 1, -1)
            return [(int(k), kend) for k in self._thin(ks, self.max_candidates)]
        reach = max(z0 - kmin, kend - z0)
        ms = np.arange(1, reach + 1)
        ms = ms[np.minimum(z0 + ms, kend) - np.maximum(z0 - ms, kmin) >= need]
        return [(max(z0 - int(m), kmin), min(z0 + int(m), kend))
                for m in self._thin(ms, self.max_candidates)]

    def kl_divergence(self, i0: int, i1: int) -> float:
        """KL(P || Q) of the candidate whose bins are i0 <= i < i1 (see the class docstring)."""
        counts, edges, _, kmin, kend = self._layout()
        a = self._edge_value(i0, edges, kmin, kend)
        b = self._edge_value(i1, edges, kmin, kend)
        lo, hi = min(a, 0.0), max(b, 0.0)
        s = (hi - lo) / _STEPS
        inside = counts[i0:i1].astype(np.float64)
        z0 = -self.origin
        if self.exact_zeros and i0 <= z0 < i1:
            # exact zeros stay exact: the same mass in P and Q, outside any level
            inside[z0 - i0] -= self.exact_zeros
        p = inside.copy()
        p[0] += counts[:i0].sum()
        p[-1] += counts[i1:].sum()
        p = np.append(p, float(self.exact_zeros))
        centres = 0.5 * (edges[i0:i1] + edges[i0 + 1:i1 + 1])
        level = np.clip(np.rint((centres - lo) / s), 0, _STEPS).astype(np.int64)
        mass = np.bincount(level, weights=inside, minlength=_STEPS + 1)
        nonzero = np.bincount(level, weights=(inside > 0).astype(np.float64),
                              minlength=_STEPS + 1)
        q = np.where(inside > 0, mass[level] / np.maximum(nonzero[level], 1.0), 0.0)
        q = np.append(q, float(self.exact_zeros))
        p /= p.sum()
        total_q = q.sum()
        if total_q == 0.0:  # everything was clipped into empty edge bins
            return math.inf
        q /= total_q
        holes = (q == 0.0) & (p > 0.0)
        if holes.any():
            # half a value's mass: less than any bin that holds data, so a clipped tail folded
            # into an empty edge bin always costs P log(P / eps) > 0
            eps = 0.5 / (counts.sum() + self._zeros)
            q[holes] = eps
            q /= q.sum()
        m = p > 0.0
        return float(np.sum(p[m] * np.log(p[m] / q[m])))

    def _range(self) -> tuple[float, float]:
        if self.width == 0.0:
            return 0.0, 0.0
        _, edges, _, kmin, kend = self._layout()
        best, best_kl = (kmin, kend), math.inf
        for i0, i1 in self._candidates():
            kl = self.kl_divergence(i0, i1)
            if kl < best_kl:
                best, best_kl = (i0, i1), kl
        return (self._edge_value(best[0], edges, kmin, kend),
                self._edge_value(best[1], edges, kmin, kend))


class MSEObserver(_ClipSearchObserver):
    """The clip range minimising the expected squared error of asymmetric int8 quantization,
    evaluated on the histogram.

    For a candidate [a, b], widened to [A, B] = [min(a, 0), max(b, 0)] with step
    s = (B - A) / 255 (as activation_qparams does), the error of the n values seen is
        E(A, B) = N_inside * s^2 / 12 + sum_{x > B} (x - B)^2 + sum_{x < A} (x - A)^2.
    Inside the range rounding to the nearest of the 256 codes leaves an error uniform in
    [-s/2, s/2] (mean square s^2/12), except for values exactly 0, which the zero point
    represents exactly: the observer counts exact zeros (cheap, and independent of batching)
    and leaves them out of N_inside, which matters after ReLU where half the values can be 0.
    Outside, saturation maps x to the range end. Within a histogram bin [e0, e1) values are
    taken as uniform, so sum (x - B)^2 over a bin of n values is n (E[x^2] - 2 B E[x] + B^2)
    with E[x] = (e0 + e1) / 2, E[x^2] = (e0^2 + e0 e1 + e1^2) / 3; suffix/prefix sums of these
    moments give every clipping term in O(1), so the search is a vectorised grid.

    Candidates: the two ends are searched independently (asymmetric int8 has no reason to
    clip symmetrically), each over `grid` shrink factors j / grid (j = 0..grid) of its side's
    extent max(x, 0) or min(x, 0), snapped to bin edges, the factor 1 being the exact observed
    extreme; one-sided data thus only searches the far end (the near one is 0 once widened;
    the returned near end is the observed extreme, e.g. 0 after ReLU).

    MSE weights a value by its squared error, so unlike entropy it keeps outliers unless they
    are very rare: clipping k values of size M costs ~k M^2, keeping them costs
    ~N M^2 / (12 * 255^2) for N values, so a tail is clipped only when k / N is below ~1e-6
    (or it is much heavier than the bulk). Deterministic and independent of batching.
    """

    def __init__(self, name: str = "", bins: int = 2048, grid: int = 128) -> None:
        super().__init__(name, bins)
        if grid < 1:
            raise ValueError(f"grid must be >= 1, got {grid}")
        self.grid = int(grid)

    def _side(self, start: int, stop: int) -> np.ndarray:
        """Edge indices from `start` (the edge at 0) towards `stop` (the extreme edge) at the
        shrink factors j / grid."""
        if start == stop:
            return np.array([start], np.int64)
        return np.unique(np.rint(np.linspace(start, stop, self.grid + 1)).astype(np.int64))

    def errors(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(lo values [L], hi values [H], expected squared error [L, H]) over the grid."""
        counts, edges, z0, kmin, kend = self._layout()
        n = counts.astype(np.float64)
        e0, e1 = edges[:-1], edges[1:]
        m1 = n * 0.5 * (e0 + e1)
        m2 = n * (e0 * e0 + e0 * e1 + e1 * e1) / 3.0
        # prefix sums: pre[k] = sum over bins < k; suffix: the total minus it
        zero = np.zeros(1)
        pn, p1, p2 = (np.concatenate([zero, np.cumsum(v)]) for v in (n, m1, m2))
        ks_lo = self._side(min(z0, kend), kmin) if self.min < 0.0 else np.array([kmin])
        ks_hi = self._side(max(z0, kmin), kend) if self.max > 0.0 else np.array([kend])
        lo_vals = np.array([self._edge_value(int(k), edges, kmin, kend) for k in ks_lo])
        hi_vals = np.array([self._edge_value(int(k), edges, kmin, kend) for k in ks_hi])
        # a one-sided near end is the observed extreme; the grid end is 0 there
        big_a = np.minimum(lo_vals, 0.0)
        big_b = np.maximum(hi_vals, 0.0)
        # clipping below A: bins < k, error sum n (x - A)^2; above B: bins >= k
        below = p2[ks_lo] - 2.0 * big_a * p1[ks_lo] + big_a**2 * pn[ks_lo]
        n_below = pn[ks_lo]
        t_n, t_1, t_2 = pn[-1] - pn[ks_hi], p1[-1] - p1[ks_hi], p2[-1] - p2[ks_hi]
        above = t_2 - 2.0 * big_b * t_1 + big_b**2 * t_n
        # candidates at the exact extremes clip nothing (their edge index may cut a bin)
        below = np.where(ks_lo <= kmin, 0.0, np.maximum(below, 0.0))
        n_below = np.where(ks_lo <= kmin, 0.0, n_below)
        above = np.where(ks_hi >= kend, 0.0, np.maximum(above, 0.0))
        t_n = np.where(ks_hi >= kend, 0.0, t_n)
        s = (big_b[None, :] - big_a[:, None]) / _STEPS
        n_inside = np.maximum(pn[-1] - n_below[:, None] - t_n[None, :] - self.exact_zeros, 0.0)
        err = n_inside * s * s / 12.0 + below[:, None] + above[None, :]
        err = np.where(s > 0.0, err, math.inf)
        return lo_vals, hi_vals, err

    def _range(self) -> tuple[float, float]:
        if self.width == 0.0:
            return 0.0, 0.0
        lo_vals, hi_vals, err = self.errors()
        i, j = np.unravel_index(int(np.argmin(err)), err.shape)
        return float(lo_vals[i]), float(hi_vals[j])


OBSERVERS: dict[str, type[Observer]] = {
    "minmax": MinMaxObserver,
    "ema": EMAObserver,
    "percentile": PercentileObserver,
    "entropy": EntropyObserver,
    "mse": MSEObserver,
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
