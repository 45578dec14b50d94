"""Static sessions take a new batch size by a C reshape (int8rt/reshape.py StaticLowering,
csrc/plan/reshape.c): every batch's outputs equal running the images one at a time, and equal a
plan built in Python for that batch; weights are packed once per session and borrowed by every
plan; impossible shapes are refused with Python exceptions."""

from __future__ import annotations

import numpy as np
import pytest

import int8rt
from int8rt.demo import load_demo
from int8rt.reshape import ReshapedPlan, StaticLowering
from tests.concurrency import run_in_threads

BATCHES = (2, 3, 7, 1, 4, 9, 5, 2, 16, 6)


@pytest.fixture(scope="module")
def demo():
    graph, x_test, _, x_calib = load_demo()
    return graph, x_test[:16], x_calib


@pytest.fixture(scope="module")
def int8_model(demo):
    graph, _, calib = demo
    return int8rt.quantize(graph, [calib], progress=False)


@pytest.fixture(scope="module", params=["int8", "mixed"])
def model(request, demo, int8_model):
    graph, x, calib = demo
    if request.param == "int8":
        return int8_model, x, "int8"
    # a conv and the classifier kept float (conv2d_f32 / fc_f32 records)
    keep = ["/features/features.3/Conv", "/fc/Gemm"]
    return int8rt.quantize(graph, [calib], float_nodes=keep, progress=False), x, "mixed"


def python_planned(model, threads=1) -> int8rt.Session:
    sess = int8rt.Session(model, threads=threads)
    sess._reshaper = None  # every batch: rebatch + lower + NativePlan
    return sess


@pytest.mark.parametrize("threads", [1, 2])
def test_every_batch_equals_images_one_at_a_time(model, threads):
    qm, x, kind = model
    sess, ref = int8rt.Session(qm, threads=threads), python_planned(qm, threads)
    kernels = {c.kernel for c in sess.plan_for((x[:1].shape,)).program.calls}
    assert {"conv2d", "conv2d_f32", "fc_f32"} <= kernels if kind == "mixed" else \
        {"conv2d", "fc"} <= kernels
    ones = [sess.run(None, {"input": x[i:i + 1]})[0] for i in range(len(x))]
    for b in BATCHES:
        (y,) = sess.run(None, {"input": x[:b]})
        assert y.shape == (b, 10)
        for i in range(b):
            assert np.array_equal(y[i], ones[i][0]), (b, i)
        (r,) = ref.run(None, {"input": x[:b]})
        assert np.array_equal(y, r), b
        plan, rplan = sess.plan_for((x[:b].shape,)), ref.plan_for((x[:b].shape,))
        assert isinstance(plan, ReshapedPlan) == (b > 1), b
        # the C allocator lays the arena out as plan.py does
        assert (plan.arena_bytes, plan.buffer_bytes) == (rplan.arena_bytes, rplan.buffer_bytes)
    assert list(sess._reshaper.templates) == [(0,)] and not sess._reshaper.refused


def test_threads_reshaping_and_running_new_batches_at_once(demo, int8_model):
    qm, x = int8_model, demo[1]
    ones = int8rt.Session(qm, threads=1)
    want = [ones.run(None, {"input": x[i:i + 1]})[0][0] for i in range(len(x))]
    sess = int8rt.Session(qm, threads=2, max_plans=3)  # plans evicted while others run

    def worker(k: int) -> int:
        bad = 0
        for r in range(12):
            b = 1 + (k * 5 + r * 3) % 16
            (y,) = sess.run(None, {"input": x[:b]})
            bad += sum(not np.array_equal(y[i], want[i]) for i in range(b))
        return bad

    assert run_in_threads(worker, [(k,) for k in range(6)]) == [0] * 6
    assert sess._packed_weights.packs == 4


def packed_addresses(plan) -> set[int]:
    native = plan._native
    return {native.op_packed_address(i) for i in range(native.num_ops)} - {0}


def test_weights_packed_once_per_session(model):
    qm, x, _ = model
    sess = int8rt.Session(qm, threads=1)
    base = sess.plan_for((x[:1].shape,))
    n_weighted = sum(c.kernel in ("conv2d", "fc", "conv2d_f32", "fc_f32")
                     for c in base.program.calls)
    assert sess._packed_weights.packs == n_weighted == len(packed_addresses(base)) == 4
    want = packed_addresses(base)
    for b in range(2, 20):
        sess.run(None, {"input": x[:b % 16 + 1]})
        assert packed_addresses(sess.plan_for((x[:b % 16 + 1].shape,))) == want, b
    # plans built in Python (no template) borrow the same blobs too
    sess._reshaper = None
    sess._plans.clear()
    assert packed_addresses(sess.plan_for(((11,) + x.shape[1:],))) == want
    assert sess._packed_weights.packs == n_weighted


def test_plan_cache_and_templates_stay_bounded(demo, int8_model):
    qm, x = int8_model, demo[1]
    sess = int8rt.Session(qm, threads=1, max_plans=4)
    xs = np.concatenate([x] * 3)
    for b in range(1, 41):
        sess.run(None, {"input": xs[:b]})
    assert len(sess._plans) == 4 and len(sess._reshaper.templates) == 1
    assert len(sess._packed_weights) == sess._packed_weights.packs == 4


def test_template_is_three_lowerings_and_linear_in_the_batch(demo, int8_model, monkeypatch):
    qm, x = int8_model, demo[1]
    sess = int8rt.Session(qm, threads=1)
    seen = []
    lower = StaticLowering.lower
    monkeypatch.setattr(StaticLowering, "lower",
                        lambda self, shapes: seen.append(shapes[0][0]) or lower(self, shapes))
    sess.run(None, {"input": x[:5]})
    sess.run(None, {"input": x[:7]})
    assert seen == [2, 3, 13]  # the grid (degree 1) and the check point, once
    tpl = sess._reshaper.templates[(0,)]
    # the input's byte size is 64 · b: one linear term
    assert list(tpl.native.eval([6])[list(tpl.native.input_exprs)]) == [6 * 64 * 4]


def test_impossible_shapes_are_refused(demo, int8_model):
    x = demo[1]
    sess = int8rt.Session(int8_model, threads=1)
    with pytest.raises(ValueError, match="any batch size"):
        sess.run(None, {"input": np.zeros((2, 1, 9, 8), np.float32)})  # H is not free
    with pytest.raises(ValueError, match="empty"):
        sess.run(None, {"input": np.zeros((0, 1, 8, 8), np.float32)})
    sess.run(None, {"input": x[:2]})
    tpl = sess._reshaper.templates[(0,)].native
    with pytest.raises(ValueError, match="< 1"):
        tpl.reshape([0])
    with pytest.raises(ValueError, match="int32|overflows"):
        tpl.reshape([2 ** 40])  # conv n and the sizes do not fit the records' fields
    with pytest.raises(ValueError, match="shape variables"):
        tpl.reshape([2, 3])


def test_without_templates_batches_are_planned_in_python(demo, int8_model, monkeypatch):
    x = demo[1]
    monkeypatch.setenv("INT8RT_RESHAPE", "0")
    sess = int8rt.Session(int8_model, threads=1)
    assert sess._reshaper is None
    (y,) = sess.run(None, {"input": x[:3]})
    assert not isinstance(sess.plan_for((x[:3].shape,)), ReshapedPlan)
    assert np.array_equal(y[2], sess.run(None, {"input": x[2:3]})[0][0])
