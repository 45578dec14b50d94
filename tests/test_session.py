"""Session: ONNX Runtime's API shape, and clear Python errors for every kind of bad input."""

from __future__ import annotations

import numpy as np
import pytest

import int8rt
from int8rt import format as i8format
from int8rt.demo import load_demo
from tests.concurrency import WorkerError, plant_worker_raise, run_in_threads


@pytest.fixture(scope="module")
def demo():
    graph, x_test, _, x_calib = load_demo()
    qm = int8rt.quantize(graph, [x_calib], progress=False)
    return qm, x_test


@pytest.fixture(scope="module")
def sess(demo):
    return int8rt.Session(demo[0])


def test_io_description(sess) -> None:
    (inp,), (out,) = sess.get_inputs(), sess.get_outputs()
    assert (inp.name, inp.shape, inp.type) == ("input", [1, 1, 8, 8], "tensor(float)")
    assert (out.name, out.shape, out.type) == ("output", [1, 10], "tensor(float)")


def test_run_matches_saved_and_reloaded_model(demo, sess, tmp_path) -> None:
    qm, x = demo
    path = tmp_path / "digits.i8"
    qm.save(path)
    reloaded = int8rt.Session(str(path))
    a = sess.run(None, {"input": x[:4]})[0]
    b = reloaded.run(["output"], {"input": x[:4]})[0]
    assert a.dtype == np.float32 and a.shape == (4, 10)
    assert np.array_equal(a, b)


def test_float_model_is_refused_with_a_hint() -> None:
    graph = load_demo()[0]
    with pytest.raises(ValueError, match="quantize it first"):
        int8rt.Session(graph)


@pytest.mark.parametrize("feed, err, match", [
    ({}, ValueError, "missing"),
    ({"input": np.zeros((1, 1, 8, 8), np.float32), "extra": np.zeros(1)}, ValueError,
     "unknown"),
    ({"input": np.zeros((1, 1, 8, 8), np.float64)}, TypeError, "dtype float64"),
    ({"input": np.zeros((1, 1, 8, 9), np.float32)}, ValueError, "shape"),
    ({"input": np.zeros((1, 8, 8), np.float32)}, ValueError, "shape"),
    ({"input": np.zeros((0, 1, 8, 8), np.float32)}, ValueError, "empty"),
    ({"input": [[1.0]]}, TypeError, "numpy array"),
])
def test_bad_feeds_raise_clear_errors(sess, feed, err, match) -> None:
    with pytest.raises(err, match=match):
        sess.run(None, feed)


def test_unknown_output_name(sess) -> None:
    with pytest.raises(ValueError, match="unknown output"):
        sess.run(["logits"], {"input": np.zeros((1, 1, 8, 8), np.float32)})


def test_non_contiguous_input_gives_the_same_answer(sess, demo) -> None:
    x = demo[1][:2]
    strided = np.asfortranarray(x)
    assert np.array_equal(sess.run(None, {"input": x})[0],
                          sess.run(None, {"input": strided})[0])


def test_nan_and_inf_inputs_are_deterministic(sess) -> None:
    """NaN quantizes to the zero point (a real 0), ±Inf saturate (docs/QUANTIZATION.md §6)."""
    x = np.zeros((1, 1, 8, 8), np.float32)
    x[0, 0, 0, :3] = [np.nan, np.inf, -np.inf]
    zero = x.copy()
    zero[0, 0, 0, 0] = 0.0
    a = sess.run(None, {"input": x})[0]
    assert np.array_equal(a, sess.run(None, {"input": x})[0])
    assert np.all(np.isfinite(a))
    with np.errstate(invalid="ignore"):
        b = sess.run(None, {"input": zero})[0]
    assert np.array_equal(a, b)


def _shared_session_mismatches(sess, x) -> int:
    expected = sess.run(None, {"input": x})[0]
    mismatches = []

    def worker() -> None:
        for _ in range(25):
            if not np.array_equal(sess.run(None, {"input": x})[0], expected):
                mismatches.append(1)

    run_in_threads(worker, [()] * 4)  # re-raises a worker's exception
    return len(mismatches)


def test_threads_share_one_session(sess, demo) -> None:
    assert _shared_session_mismatches(sess, demo[1][:8]) == 0


def test_threads_share_one_session_fails_on_a_worker_raise(sess, demo, monkeypatch) -> None:
    """A raise in every worker must fail the check above, not vanish with the thread."""
    plant_worker_raise(monkeypatch)
    with pytest.raises(WorkerError, match="4 of 4 worker threads raised"):
        _shared_session_mismatches(sess, demo[1][:8])


@pytest.mark.parametrize("damage", ["truncate", "garbage", "empty"])
def test_malformed_files_raise_format_errors(demo, tmp_path, damage) -> None:
    data = demo[0].to_bytes()
    bad = {"truncate": data[: len(data) // 2], "garbage": b"\x00" * 200, "empty": b""}[damage]
    path = tmp_path / "bad.i8"
    path.write_bytes(bad)
    with pytest.raises(i8format.I8FormatError):
        int8rt.Session(str(path))


def test_threads_argument_is_checked(demo) -> None:
    with pytest.raises(ValueError, match="threads"):
        int8rt.Session(demo[0], threads=0)


def test_overflowing_multiplier_is_refused_not_run(demo) -> None:
    """Finite scales can still give an infinite float32 multiplier (s_x s_w / s_y); lowering
    refuses it rather than let the kernels' float->int conversions disagree."""
    from int8rt.ir import QParams
    from int8rt.lower import LoweringError

    graph = demo[0].graph.copy()
    conv = next(n for n in graph.nodes if n.op == "Conv")
    out = graph.tensor(conv.outputs[0])
    out.qparams = QParams.per_tensor(1e-44, int(out.qparams.zero_point))
    with pytest.raises(LoweringError, match="not finite"):
        int8rt.Session(graph)
