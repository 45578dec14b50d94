"""One Session and one plan executor for every kind of model (issue 18): dynamic int8,
weight-only and float onnx-layout graphs run through int8rt.Session with the same feed checks
as static graphs, concurrent runs without a lock, bit-identical results at every thread
count, weights packed once per session, a bounded plan cache, and the C plan's footprint
checks on the new record kinds."""

from __future__ import annotations

import threading

import numpy as np
import pytest

import int8rt
from int8rt import _native

from .helpers import one_node

torch = pytest.importorskip("torch")
onnx = pytest.importorskip("onnx")

from .test_transformer_graphs import export, feeds


@pytest.fixture(scope="module")
def encoder():
    return onnx.load_from_string(export(17))


@pytest.fixture(scope="module")
def dyn_model(encoder):
    return int8rt.quantize(encoder, mode="dynamic")


@pytest.fixture(scope="module", params=["dynamic", "weight_only4", "float"])
def any_model(request, encoder, dyn_model):
    if request.param == "dynamic":
        return dyn_model
    if request.param == "float":
        return int8rt.quantize(encoder, mode="float")
    return int8rt.quantize(encoder, mode="weight_only", bits=4, group=32)


def test_dynamic_session_is_a_deprecated_alias(dyn_model):
    with pytest.warns(DeprecationWarning, match="int8rt.Session"):
        sess = int8rt.DynamicSession(dyn_model.graph)
    assert isinstance(sess, int8rt.Session)
    f = feeds(1, 9)
    np.testing.assert_array_equal(sess.run(None, f)[0],
                                  int8rt.Session(dyn_model, threads=1).run(None, f)[0])


def test_session_runs_files_of_every_dynamic_kind(any_model, tmp_path):
    any_model.save(tmp_path / "m.i8")
    sess = int8rt.Session(str(tmp_path / "m.i8"), threads=1)
    assert sess.kind == "dynamic"
    assert [a.shape for a in sess.get_inputs()] == [[None, None], [None, None]]
    (y,) = sess.run(["emb"], feeds(2, 11))
    assert y.shape == (2, 64) and np.isfinite(y).all()


def test_outputs_identical_for_every_thread_count(any_model):
    one = int8rt.Session(any_model, threads=1)
    two = int8rt.Session(any_model, threads=2)
    for b, s in ((1, 64), (2, 37), (1, 5)):
        f = feeds(b, s, seed=s)
        np.testing.assert_array_equal(one.run(None, f)[0], two.run(None, f)[0])
    # the row split reaches the dynamic matmuls at 64 tokens
    plan = two.plan_for(((1, 64), (1, 64)))
    tasks = {c.kernel: t for c, t in zip(plan.program.calls, plan.call_tasks())}
    big = {"dynamic": "dynq_matmul", "float": "matmul", "weight_only4": "wo_matmul"}
    assert max(t for c, t in zip(plan.program.calls, plan.call_tasks())
               if c.kernel in big.values()) > 1, tasks


def test_concurrent_runs_from_8_threads_without_a_lock(dyn_model):
    sess = int8rt.Session(dyn_model, threads=2)
    cases = [feeds(1 + i % 2, 6 + 7 * i, seed=i) for i in range(4)]
    want = [int8rt.Session(dyn_model, threads=1).run(None, f)[0] for f in cases]
    errors: list[BaseException] = []
    mismatches: list[tuple[int, int]] = []
    start = threading.Barrier(8)

    def worker(t: int) -> None:
        try:
            start.wait()
            for r in range(12):
                k = (t + r) % len(cases)
                (y,) = sess.run(None, cases[k])
                if not np.array_equal(y, want[k]):
                    mismatches.append((t, k))
        except BaseException as e:  # noqa: BLE001 - collected and reported below
            errors.append(e)

    threads = [threading.Thread(target=worker, args=(t,)) for t in range(8)]
    for th in threads:
        th.start()
    for th in threads:
        th.join()
    assert not errors, errors
    assert not mismatches, mismatches
    assert len(sess._arenas._idle) <= 4


def test_weights_packed_once_and_plan_cache_bounded(dyn_model):
    sess = int8rt.Session(dyn_model, threads=1, max_plans=3)
    sess.run(None, feeds(1, 8))
    packed = dict(sess._packed)
    assert len(packed) == 8  # one panel per dynamic-int8 matmul
    for s in range(9, 17):
        sess.run(None, feeds(1, s))
    assert len(sess._plans) == 3
    assert {k: id(v) for k, v in sess._packed.items()} == {k: id(v) for k, v in packed.items()}


def _float_matmul_graph():
    w = np.linspace(-1, 1, 12, dtype=np.float32).reshape(4, 3)
    return one_node("MatMul", {"x": np.zeros((1, 0, 4), np.float32)}, {"w": w}, ["x", "w"])


def test_feed_validation_is_the_same_on_both_paths(dyn_model):
    dyn = int8rt.Session(dyn_model, threads=1)
    f = feeds(1, 8)
    with pytest.raises(TypeError, match="dtype int32, expected int64"):
        dyn.run(None, {**f, "ids": f["ids"].astype(np.int32)})
    with pytest.raises(TypeError, match="numpy array"):
        dyn.run(None, {**f, "ids": f["ids"].tolist()})
    with pytest.raises(ValueError, match="empty"):
        dyn.run(None, {"ids": np.zeros((1, 0), np.int64), "mask": np.zeros((1, 0), np.int64)})
    with pytest.raises(ValueError, match="shape"):
        dyn.run(None, {**f, "ids": f["ids"][0]})
    flt = int8rt.Session(_float_matmul_graph(), threads=1)
    with pytest.raises(TypeError, match="dtype float64, expected float32"):
        flt.run(None, {"x": np.ones((1, 2, 4))})
    with pytest.raises(ValueError, match=r"\(1, '\?', 4\)"):
        flt.run(None, {"x": np.ones((1, 2, 5), np.float32)})


def test_nan_reads_as_zero_on_the_dynamic_path():
    sess = int8rt.Session(_float_matmul_graph(), threads=1)
    x = np.arange(24, dtype=np.float32).reshape(1, 6, 4)
    x0 = x.copy()
    x[0, 2, 1] = np.nan
    x0[0, 2, 1] = 0
    (y,) = sess.run(None, {"x": x})
    assert np.isfinite(y).all()
    np.testing.assert_array_equal(y, sess.run(None, {"x": x0})[0])
    assert np.isnan(x[0, 2, 1])  # the caller's array is left alone


def _plan_with(kernel, in_refs, out_ref, params, consts=None, sizes=((64,), (64,))):
    p = _native._NativePlan([(n, np.uint8) for n in sizes[0]],
                            [(n, np.uint8) for n in sizes[1]])
    p.add_call(kernel, in_refs, [out_ref], params, consts or {})
    return p


def test_new_record_kinds_are_footprint_checked():
    # a dynamic int8 matmul whose packed panel is smaller than n, k need
    packed = _native._aligned_bytes(_native.dynq_packed_size(8, 16) - 1)
    p = _native._NativePlan([(4 * 2 * 16, np.float32)], [(4 * 2 * 8, np.float32)])
    k = p.add_const_ref(packed)
    with pytest.raises(ValueError, match="input 1: kernel needs"):
        p.add_call("dynq_matmul", [("input", 0, 0, 128), ("const", k, 0, packed.nbytes)],
                   [("output", 0, 0, 64)], {"m": 2, "n": 8, "k": 16, "per_row": 1,
                                            "has_bias": 0}, {})
    # a reversed slice whose first element would be read before the buffer
    with pytest.raises(ValueError, match="negative or overflows"):
        _plan_with("strided_copy", [("input", 0, 0, 64)], ("output", 0, 0, 64),
                   {"shape": [4], "elem_size": 4, "x_offset": 2, "y_offset": 0,
                    "x_stride": [-1], "y_stride": [1]})
    # a where whose condition buffer is too short for its shape
    with pytest.raises(ValueError, match="input 0: kernel needs 65 bytes"):
        _plan_with("where", [("input", 0, 0, 64), ("input", 0, 0, 64), ("input", 0, 0, 64)],
                   ("output", 0, 0, 64), {"shape": [65], "elem_size": 1, "c_stride": [1],
                                          "a_stride": [0], "b_stride": [0]})
    # a weight-only matmul with a group that does not divide k
    with pytest.raises(ValueError, match="group must divide k"):
        _plan_with("wo_matmul", [("input", 0, 0, 64)] * 3, ("output", 0, 0, 64),
                   {"m": 1, "k": 12, "n": 1, "group": 8, "bits": 8, "has_bias": 0})


def test_borrowed_consts_must_be_aligned():
    p = _native._NativePlan([], [])
    raw = np.zeros(65, np.uint8)
    off = 1 if raw.ctypes.data % 64 == 0 else 0
    with pytest.raises(ValueError, match="64-byte aligned"):
        p.add_const_ref(raw[off:off + 64])


@pytest.mark.parametrize("cmd", [["run"], ["bench", "--runs", "2", "--warmup", "0",
                                           "--profile"], ["inspect"]])
def test_cli_takes_dynamic_models(dyn_model, tmp_path, capsys, cmd):
    from int8rt import cli

    dyn_model.save(tmp_path / "m.i8")
    assert cli.main(["--quiet", cmd[0], str(tmp_path / "m.i8"), *cmd[1:]]) == 0
    out = capsys.readouterr().out
    want = {"run": "emb: shape (1, 64)", "bench": "dynq_matmul", "inspect": "DynQLinear"}
    assert want[cmd[0]] in out


def test_cli_run_takes_every_dynamic_kind(any_model, tmp_path, capsys):
    from int8rt import cli

    any_model.save(tmp_path / "m.i8")
    assert cli.main(["--quiet", "run", str(tmp_path / "m.i8")]) == 0
    assert "emb: shape (1, 64) dtype float32" in capsys.readouterr().out
