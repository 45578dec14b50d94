"""calibrate(): batching rules, observer plumbing, error reporting (with a stand-in executor)."""

from __future__ import annotations

import numpy as np
import pytest

from int8rt.quant.calibrate import calibrate
from int8rt.quant.observers import MinMaxObserver, PercentileObserver

from .helpers import StandInExecutor, chain_graph, fallback_graph, record_all


def _samples(n: int, shape=(4,), seed: int = 0) -> list[np.ndarray]:
    rng = np.random.default_rng(seed)
    return [rng.normal(0, 1 + i % 3, shape).astype(np.float32) for i in range(n)]


class Recorder:
    """A stand-in executor factory that remembers its executors (to see the run sizes)."""

    def __init__(self) -> None:
        self.executors: list[StandInExecutor] = []

    def __call__(self, graph):
        ex = StandInExecutor(graph)
        self.executors.append(ex)
        return ex


def _exact_minmax(graph, samples: list[np.ndarray]) -> dict[str, tuple[float, float]]:
    seen: dict[str, list[np.ndarray]] = {}
    for s in samples:
        for k, v in record_all(graph, {graph.inputs[0]: s[None]}).items():
            seen.setdefault(k, []).extend(v)
    return {k: (float(min(a.min() for a in v)), float(max(a.max() for a in v)))
            for k, v in seen.items()}


def test_minmax_ranges_are_exact_and_cover_every_activation() -> None:
    g = fallback_graph()
    data = _samples(37)
    ranges = calibrate(g, data, batch_size=8, progress=False, executor_factory=StandInExecutor)
    assert set(ranges) == {"x", "h", "d", "y"}  # inputs and produced tensors, no constants
    assert ranges == _exact_minmax(g, data)


def test_samples_and_batches_give_the_same_result_and_are_regrouped() -> None:
    g = fallback_graph()
    data = _samples(23)
    rec = Recorder()
    per_sample = calibrate(g, data, batch_size=5, progress=False, executor_factory=rec)
    assert rec.executors[-1].batches == [5, 5, 5, 5, 3]  # rank-1 arrays are single samples
    # the same samples as uneven batches (rank = input rank) and as dicts
    batches = [np.stack(data[:7]), np.stack(data[7:8]), np.stack(data[8:])]
    as_batches = calibrate(g, batches, batch_size=5, progress=False, executor_factory=rec)
    assert rec.executors[-1].batches == [5, 5, 5, 5, 3]
    as_dicts = calibrate(g, [{"x": b} for b in batches], batch_size=64, progress=False,
                         executor_factory=rec)
    assert rec.executors[-1].batches == [23]
    assert per_sample == as_batches == as_dicts


def test_max_samples_truncates() -> None:
    g = fallback_graph()
    data = _samples(30)
    rec = Recorder()
    ranges = calibrate(g, [np.stack(data[:4]), np.stack(data[4:])], max_samples=10,
                       batch_size=4, progress=False, executor_factory=rec)
    assert rec.executors[-1].batches == [4, 4, 2]
    assert ranges == _exact_minmax(g, data[:10])


def test_batch_pinned_by_reshape_falls_back_to_one_sample_per_run() -> None:
    g = chain_graph()  # its Reshape has the literal shape (1, 64)
    data = _samples(6, (3, 8, 8))
    rec = Recorder()
    with pytest.warns(RuntimeWarning, match="one sample per run"):
        ranges = calibrate(g, data, batch_size=4, progress=False, executor_factory=rec)
    assert rec.executors[-1].batches == [4, 1, 1, 1, 1, 1, 1]  # the failed run, then singles
    assert ranges == _exact_minmax(g, data)


def test_errors_that_persist_are_raised() -> None:
    g = chain_graph()
    bad = [np.zeros((3, 6, 6), np.float32)]  # wrong spatial size fails even alone
    with pytest.raises(ValueError):
        calibrate(g, bad, progress=False, executor_factory=StandInExecutor)


def test_inputs_are_observed_once_even_if_the_executor_reports_them() -> None:
    class Chatty(StandInExecutor):
        def run(self, feeds, observe=None):
            for k, v in feeds.items():
                observe(k, v)  # a float executor may report model inputs too
            return super().run(feeds, observe)

    counts: dict[str, int] = {}

    class Counting(MinMaxObserver):
        def _update(self, x, lo, hi):
            counts[self.name] = counts.get(self.name, 0) + x.size

    g = fallback_graph()
    calibrate(g, _samples(9), batch_size=4, progress=False, executor_factory=Chatty,
              observers_per_tensor={"x": Counting(), "h": Counting()})
    assert counts == {"x": 9 * 4, "h": 9 * 6}


def test_per_tensor_overrides_and_options() -> None:
    g = fallback_graph()
    rng = np.random.default_rng(5)
    data = list(rng.standard_t(2, (400, 4)).astype(np.float32))
    base = calibrate(g, data, progress=False, executor_factory=StandInExecutor)
    mixed = calibrate(g, data, progress=False, executor_factory=StandInExecutor,
                      observers_per_tensor={"h": ("percentile", {"percentile": 99.0}),
                                            "y": "percentile"})
    assert mixed["x"] == base["x"] and mixed["d"] == base["d"]
    assert mixed["h"][0] > base["h"][0] and mixed["h"][1] < base["h"][1]
    template = PercentileObserver(percentile=99.0)
    same = calibrate(g, data, progress=False, executor_factory=StandInExecutor,
                     observers_per_tensor={"h": template})
    assert same["h"] == mixed["h"]
    assert template.count == 0  # templates are copied, not fed
    all_pct = calibrate(g, data, method="percentile", options={"percentile": 99.0},
                        progress=False, executor_factory=StandInExecutor)
    assert all_pct["h"] == mixed["h"]


def test_nan_in_data_or_activations_names_the_tensor() -> None:
    g = fallback_graph()
    data = _samples(4)
    data[2][1] = np.nan
    with pytest.raises(ValueError, match="'x'"):
        calibrate(g, data, progress=False, executor_factory=StandInExecutor)
    # finite inputs whose activations overflow float32
    huge = [np.full(4, 3e38, np.float32)]
    with pytest.raises(ValueError, match="'h'"):
        calibrate(g, huge, progress=False, executor_factory=StandInExecutor)


def test_bad_data_is_rejected() -> None:
    g = fallback_graph()
    with pytest.raises(ValueError, match="rank"):
        calibrate(g, [np.zeros((1, 1, 4))], progress=False, executor_factory=StandInExecutor)
    with pytest.raises(ValueError, match="missing"):
        calibrate(g, [{"nope": np.zeros(4)}], progress=False, executor_factory=StandInExecutor)
    with pytest.raises(ValueError, match="empty"):
        calibrate(g, [], progress=False, executor_factory=StandInExecutor)
    with pytest.raises(ValueError, match="unknown calibration method"):
        calibrate(g, [np.zeros(4)], method="kl?", executor_factory=StandInExecutor)


def test_progress_bar_runs(capsys) -> None:
    pytest.importorskip("tqdm")
    g = fallback_graph()
    calibrate(g, _samples(5), max_samples=5, progress=True, executor_factory=StandInExecutor)
    assert "5/5" in capsys.readouterr().err
