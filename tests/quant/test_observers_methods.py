"""The ema, entropy and mse calibration methods: known answers on synthetic distributions,
streaming properties, and end to end through int8rt.quantize and the CLI on the demo model."""

from __future__ import annotations

import pickle

import numpy as np
import pytest

import int8rt
from int8rt.quant.observers import (
    OBSERVERS,
    EMAObserver,
    EntropyObserver,
    MinMaxObserver,
    MSEObserver,
    make_observer,
)
from int8rt.quant.params import activation_qparams, dequantize_array, quantize_array

NEW = ["ema", "entropy", "mse"]


def _feed(obs, x: np.ndarray, pieces: int = 1, rng: np.random.Generator | None = None):
    if rng is not None:
        x = x[rng.permutation(x.size)]
    for part in np.array_split(x, pieces):
        obs.update(part)
    return obs


@pytest.fixture(scope="module")
def gauss() -> np.ndarray:
    return np.random.default_rng(0).normal(size=1_000_000).astype(np.float32)


def test_registry_has_the_methods() -> None:
    assert {"minmax", "percentile", "ema", "entropy", "mse"} <= set(OBSERVERS)
    assert isinstance(make_observer("ema", averaging_constant=0.5), EMAObserver)
    assert isinstance(make_observer("entropy", bins=4096), EntropyObserver)
    assert isinstance(make_observer("mse", grid=16), MSEObserver)


def test_ema_update_rule() -> None:
    obs = EMAObserver("t", averaging_constant=0.25)
    obs.update(np.array([-2.0, 4.0], np.float32))  # the first batch sets the range
    assert obs.range() == (-2.0, 4.0)
    obs.update(np.array([-6.0, 0.0, 8.0], np.float32))
    assert obs.range() == (0.75 * -2.0 + 0.25 * -6.0, 0.75 * 4.0 + 0.25 * 8.0)
    obs.update(np.array([1.0, 2.0], np.float32))
    lo, hi = 0.75 * (0.75 * -2.0 + 0.25 * -6.0) + 0.25, 0.75 * (0.75 * 4 + 0.25 * 8) + 0.5
    assert obs.range() == (lo, hi)
    assert (obs.min, obs.max) == (-6.0, 8.0)  # the exact extremes are still tracked
    assert EMAObserver().averaging_constant == 0.01
    for bad in (0.0, -0.1, 1.5):
        with pytest.raises(ValueError, match="averaging_constant"):
            EMAObserver(averaging_constant=bad)


def test_ema_damps_a_rare_outlier_batch_and_depends_on_batching(gauss: np.ndarray) -> None:
    x = gauss[:100_000].copy()
    x[50_000] = 100.0
    ema = _feed(EMAObserver("t"), x, 100)
    assert ema.range()[1] < 6.0
    # documented: one step per update, so regrouping the same data changes the result
    assert _feed(EMAObserver("t"), x, 10).range() != ema.range()


@pytest.mark.parametrize("method", ["entropy", "mse"])
def test_gaussian_with_rare_outliers_is_clipped_far_inside(method: str,
                                                           gauss: np.ndarray) -> None:
    x = np.concatenate([gauss, [20.0, -20.0]]).astype(np.float32)
    assert _feed(MinMaxObserver(), x).range() == (-20.0, 20.0)
    lo, hi = _feed(make_observer(method), x, 7).range()
    # the bulk is N(0, 1): a clip near 4-6 sigma, far inside the outliers at 20
    assert -8.0 < lo < -3.0 and 3.0 < hi < 8.0, (lo, hi)


@pytest.mark.parametrize("outlier", [50.0, 100.0])
def test_entropy_outliers_that_leave_the_bulk_unresolved(outlier: float,
                                                         gauss: np.ndarray) -> None:
    """The outliers stretch the 2048-bin histogram until N(0, 1) spans fewer than 255 bins;
    the narrowest candidate the histogram resolves (255 bins) is then the best available."""
    obs = _feed(EntropyObserver("t"), np.concatenate([gauss, [outlier, -outlier]]), 3)
    lo, hi = obs.range()
    # 2 * 128 bins >= 255: the threshold is 128 bins, give or take the candidate thinning
    assert lo == -hi and 4.0 < hi <= 130 * obs.width < outlier / 3, (hi, obs.width)
    kls = [obs.kl_divergence(a, b) for a, b in obs._candidates()]
    assert np.isfinite(kls).all() and min(kls) >= 0.0  # smoothing keeps every KL finite


@pytest.mark.parametrize("method", NEW + ["minmax"])
def test_uniform_keeps_about_the_full_range(method: str) -> None:
    x = np.random.default_rng(2).uniform(-1.0, 3.0, 200_000).astype(np.float32)
    lo, hi = _feed(make_observer(method), x, 20).range()
    assert lo <= x.min() + 0.02 * 4 and hi >= x.max() - 0.02 * 4, (lo, hi)
    assert lo >= x.min() and hi <= x.max()


@pytest.mark.parametrize("method", NEW)
def test_relu_like_data_keeps_lo_at_zero(method: str, gauss: np.ndarray) -> None:
    x = np.maximum(gauss, 0.0)  # half exact zeros
    lo, hi = _feed(make_observer(method), x, 9).range()
    assert lo == 0.0
    assert 2.5 < hi <= float(x.max())


@pytest.mark.parametrize("method", ["entropy", "mse"])
def test_negative_one_sided_data_mirrors_positive(method: str, gauss: np.ndarray) -> None:
    x = np.abs(gauss[:300_000]) + 0.5
    pos, neg = _feed(make_observer(method), x), _feed(make_observer(method), -x)
    lo_p, hi_p = pos.range()
    lo_n, hi_n = neg.range()
    assert pos.width == neg.width
    assert lo_p == float(x.min()) and hi_n == -float(x.min())
    assert hi_p < float(x.max())  # the far end is searched (and clipped)
    # the two grids differ only in which side of a bin edge a value falls: within 2 bins
    assert abs(hi_p + lo_n) <= 2 * pos.width, (hi_p, lo_n)


def test_entropy_skewed_data_keeps_the_short_side_whole() -> None:
    rng = np.random.default_rng(3)
    x = np.concatenate([rng.exponential(1.0, 300_000), -rng.uniform(0, 0.2, 30_000)])
    x = x.astype(np.float32)
    lo, hi = _feed(EntropyObserver("t"), x).range()
    assert lo == float(x.min())  # a symmetric threshold past 0.2 never clips the short side
    assert 4.0 < hi < float(x.max())


def _true_sq_error(x: np.ndarray, lo: float, hi: float) -> float:
    qp = activation_qparams(lo, hi)
    return float(np.sum((dequantize_array(quantize_array(x, qp), qp).astype(np.float64) - x)
                        ** 2))


@pytest.mark.parametrize("kind", ["relu_laplace", "laplace", "skewed"])
def test_mse_choice_is_near_the_brute_force_optimum(kind: str) -> None:
    rng = np.random.default_rng(4)
    if kind == "relu_laplace":
        x = np.maximum(rng.laplace(size=100_000), 0.0)
    elif kind == "laplace":
        x = rng.laplace(size=40_000)
    else:
        x = np.concatenate([rng.exponential(2.0, 30_000), -rng.exponential(0.3, 10_000)])
    x = x.astype(np.float32)
    lo, hi = _feed(MSEObserver("t"), x, 5).range()
    err = _true_sq_error(x, lo, hi)
    his = np.linspace(0.0, float(x.max()), 61)[1:]
    los = np.linspace(0.0, float(x.min()), 41) if x.min() < 0 else np.array([0.0])
    best = min(_true_sq_error(x, a, b) for a in los for b in his)
    full = _true_sq_error(x, float(x.min()), float(x.max()))
    assert err <= 1.05 * best, (err, best)
    assert err < full  # these heavy tails are worth clipping


@pytest.mark.parametrize("method", ["entropy", "mse"])
def test_independent_of_batching_and_order(method: str) -> None:
    rng = np.random.default_rng(5)
    x = (rng.standard_t(3, 60_000) * 2 + 1).astype(np.float32)
    x[::7] = 0.0
    one = _feed(make_observer(method), x)
    many = _feed(make_observer(method), x, 41, rng)
    assert one.range() == many.range()
    assert one.exact_zeros == many.exact_zeros == np.count_nonzero(x == 0)


@pytest.mark.parametrize("method", NEW)
def test_memory_does_not_grow_with_samples(method: str) -> None:
    rng = np.random.default_rng(6)
    obs = make_observer(method, "t")
    obs.update(rng.normal(size=1000).astype(np.float32))
    obs.range()
    size_small = len(pickle.dumps(obs))
    for i in range(200):
        obs.update(rng.normal(0, 1 + i / 30, 5000).astype(np.float32))
    obs.range()
    assert obs.count == 1000 + 200 * 5000
    assert len(pickle.dumps(obs)) <= size_small + 64


@pytest.mark.parametrize("method", ["entropy", "mse"])
def test_all_zero_then_nonzero(method: str) -> None:
    obs = make_observer(method, "t")
    obs.update(np.zeros(100, np.float32))
    assert obs.range() == (0.0, 0.0)
    obs.update(np.array([0.5, 1.0, 2.0], np.float32))
    lo, hi = obs.range()
    assert lo == 0.0 and 0.0 < hi <= 2.0


def test_unknown_method_lists_the_methods() -> None:
    from int8rt.demo import load_demo

    graph, _, _, x_calib = load_demo()
    with pytest.raises(ValueError, match="unknown calibration method 'nope'") as e:
        int8rt.quantize(graph, [x_calib], method="nope", progress=False)
    for m in OBSERVERS:
        assert repr(m) in str(e.value)


@pytest.fixture(scope="module")
def demo():
    from int8rt.demo import load_demo
    from int8rt.reference.float_executor import FloatExecutor

    graph, x_test, y_test, x_calib = load_demo()
    logits = FloatExecutor(graph).run({graph.inputs[0]: x_test})[graph.outputs[0]]
    return graph, x_test, y_test, x_calib, float(np.mean(logits.argmax(1) == y_test))


def _accuracy(model, x_test: np.ndarray, y_test: np.ndarray) -> float:
    from int8rt.session import Session

    sess = Session(model)
    out = sess.run(None, {sess.get_inputs()[0].name: x_test})[0]
    return float(np.mean(out.argmax(1) == y_test))


@pytest.mark.parametrize("method", sorted(OBSERVERS))
def test_quantize_demo_model_end_to_end(method: str, demo) -> None:
    graph, x_test, y_test, x_calib, fp32_acc = demo
    qm = int8rt.quantize(graph, [x_calib], method=method, progress=False)
    assert abs(_accuracy(qm, x_test, y_test) - fp32_acc) <= 0.01


@pytest.mark.parametrize("method", NEW)
def test_cli_quantize_method(method: str, demo, tmp_path, capsys) -> None:
    from int8rt import format as i8format
    from int8rt.cli import main

    graph, x_test, y_test, x_calib, fp32_acc = demo
    src, calib, out = tmp_path / "f.i8", tmp_path / "c.npy", tmp_path / f"{method}.i8"
    i8format.save(graph, src)
    np.save(calib, x_calib)
    assert main(["-q", "quantize", str(src), "--calib", str(calib), "--method", method,
                 "-o", str(out)]) == 0
    assert abs(_accuracy(str(out), x_test, y_test) - fp32_acc) <= 0.01
    assert main(["-q", "quantize", str(src), "--calib", str(calib), "--method", "nope",
                 "-o", str(out)]) == 2
    assert "unknown calibration method" in capsys.readouterr().err


def test_cli_help_lists_the_methods(capsys) -> None:
    from int8rt.cli import main

    with pytest.raises(SystemExit):
        main(["quantize", "--help"])
    text = " ".join(capsys.readouterr().out.split())
    for m in OBSERVERS:
        assert m in text
