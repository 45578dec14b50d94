"""New input shapes by a C reshape of the plan (int8rt/dynamic/reshape.py, csrc/plan/reshape.c):
every shape a template makes equals a plan freshly built in Python for that shape, byte for
byte; weights are borrowed, not copied; shapes the template cannot model are planned in Python;
bad templates and dimensions are refused with Python exceptions."""

from __future__ import annotations

import numpy as np
import pytest

import int8rt
from int8rt import _native, ir
from int8rt.dynamic import reshape as rs
from int8rt.session import _DynamicPlan

torch = pytest.importorskip("torch")
onnx = pytest.importorskip("onnx")

from .test_transformer_graphs import export, feeds


@pytest.fixture(scope="module", params=["dynamic", "weight_only4", "float"])
def model(request):
    m = onnx.load_from_string(export(17))
    if request.param == "weight_only4":
        return int8rt.quantize(m, mode="weight_only", bits=4, group=32)
    return int8rt.quantize(m, mode=request.param)


def fresh(model) -> int8rt.Session:
    """A session that plans every shape in Python (specialize + lower + NativePlan)."""
    sess = int8rt.Session(model, threads=1)
    sess._reshaper = None
    return sess


def feed(b, s, seed):
    if s == 1:
        return {"ids": np.full((b, 1), 3, np.int64), "mask": np.ones((b, 1), np.int64)}
    return feeds(b, s, seed=seed)


def test_every_length_equals_a_fresh_plan(model):
    sess, ref = int8rt.Session(model, threads=1), fresh(model)
    for b in (1, 2, 3):
        for s in range(1, 27):
            f = feed(b, s, seed=s + b)
            (y,) = sess.run(None, f)
            (r,) = ref.run(None, f)
            # a fully padded row is NaN on both paths (softmax of -inf only): equal_nan
            assert y.shape == r.shape and np.array_equal(y, r, equal_nan=True), (b, s)
    # patterns (free dims: b, s, b, s): batch 1; batch > 1; one token with batch > 1. b == s
    # ties the two: the attention buffer b·heads·s·s is then of degree 3 in one variable, past
    # the template's degree 2, so those shapes are planned in Python
    r = sess._reshaper
    assert set(r.templates) == {(-1, 0, -1, 0), (0, 1, 0, 1), (0, -1, 0, -1)}
    assert set(r.refused) == {(0, 0, 0, 0)} and "polynomial" in r.refused[(0, 0, 0, 0)]
    assert r.refused[(0, 0, 0, 0)].startswith("TemplateError")
    for shapes, plan in sess._plans.items():
        assert isinstance(plan, rs.ReshapedPlan) == (
            rs.pattern_of(r.free, shapes)[0] in r.templates)


def test_reshaped_plans_at_every_thread_count(model):
    sess1 = int8rt.Session(model, threads=1)
    sess2 = int8rt.Session(model, threads=2)
    for b, s in ((1, 37), (2, 40), (1, 5)):
        f = feed(b, s, seed=s)
        np.testing.assert_array_equal(sess1.run(None, f)[0], sess2.run(None, f)[0])
        assert isinstance(sess2.plan_for(tuple(a.shape for a in f.values())), rs.ReshapedPlan)


def test_weights_are_borrowed_not_copied(model):
    sess = int8rt.Session(model, threads=1)
    sess.run(None, feed(1, 12, 0))
    tpl = sess._reshaper.templates[(-1, 0, -1, 0)]
    consts = {id(a) for a in tpl.native.consts}
    packed = {id(a) for a in sess._packed.values()}
    weights = {id(t.data) for t in sess.graph.tensors.values()
               if t.data is not None and t.data.size > 4096}
    assert packed <= consts  # the session's packed panels themselves
    assert consts <= packed | weights | {id(a) for a in tpl.native.consts if a.size <= 4096}


def test_bounded_plan_cache_and_templates(model):
    sess = int8rt.Session(model, threads=1, max_plans=3)
    for s in range(2, 12):
        sess.run(None, feed(1, s, s))
    assert len(sess._plans) == 3 and len(sess._reshaper.templates) == 1


def test_profile_and_memory_report_of_a_reshaped_plan(model):
    sess = int8rt.Session(model, threads=1)
    f = feed(1, 10, 1)
    prof = sess.profile(f, repeats=2)
    plan = sess.plan_for(((1, 10), (1, 10)))
    assert isinstance(plan, rs.ReshapedPlan)
    assert len(prof) == len(plan.program.calls) and all(ns >= 0 for _, _, ns in prof)
    assert plan.arena_bytes <= plan.buffer_bytes
    assert "arena" in plan.memory_report()


def test_too_long_sequence_is_a_value_error(model):
    # the position table has 64 rows: the window of 65 rows does not fit it (the reshape's
    # const check; weight-only: the wo_gather record's index check at run time); Python
    # planning fails in its numpy evaluation (IndexError) or at the same run-time check
    sess = int8rt.Session(model, threads=1)
    sess.run(None, feed(1, 8, 0))
    with pytest.raises(ValueError, match="exceeds its|index out of range"):
        sess.run(None, feed(1, 65, 0))
    with pytest.raises((IndexError, ValueError)):
        fresh(model).run(None, feed(1, 65, 0))
    np.testing.assert_array_equal(sess.run(None, feed(1, 64, 0))[0],
                                  fresh(model).run(None, feed(1, 64, 0))[0])


def test_pattern_of_ties_equal_dims_and_marks_ones():
    free = [(0, 0), (0, 1), (1, 0), (1, 1)]
    assert rs.pattern_of(free, [(1, 16), (1, 16)]) == ((-1, 0, -1, 0), [16])
    assert rs.pattern_of(free, [(2, 16), (2, 16)]) == ((0, 1, 0, 1), [2, 16])
    assert rs.pattern_of(free, [(4, 4), (4, 4)]) == ((0, 0, 0, 0), [4])
    assert rs.monomials([5]) == [1, 5, 25]
    assert rs.monomials([2, 3]) == [1, 2, 4, 3, 6, 12, 9, 18, 36]


def _shape_dependent_graph() -> ir.Graph:
    """y = x + c where c is a float ramp over the sequence (not a fill, window, tile or int64
    ramp): folded per shape, so no template; planned in Python."""
    tensors = {"x": ir.Tensor("x", (0,), "float32"), "y": ir.Tensor("y", (0,), "float32"),
               "shp": ir.Tensor("shp", (1,), "int64"), "n": ir.Tensor("n", (), "int64"),
               "nf": ir.Tensor("nf", (), "float32"), "r": ir.Tensor("r", (0,), "float32"),
               "c": ir.Tensor("c", (0,), "float32"),
               "zero": ir.Tensor("zero", (), "float32", data=np.array(0, np.float32)),
               "one": ir.Tensor("one", (), "float32", data=np.array(1, np.float32)),
               "idx": ir.Tensor("idx", (), "int64", data=np.array(0, np.int64))}
    nodes = [ir.Node("Shape", "shape", ["x"], ["shp"], {}),
             ir.Node("Gather", "g", ["shp", "idx"], ["n"], {"axis": 0}),
             ir.Node("Cast", "cast", ["n"], ["nf"], {"to": 1}),
             ir.Node("Range", "range", ["zero", "nf", "one"], ["r"], {}),
             ir.Node("Mul", "sq", ["r", "r"], ["c"], {}),
             ir.Node("Add", "add", ["x", "c"], ["y"], {})]
    return ir.Graph(nodes, tensors, ["x"], ["y"], meta={"layout": "onnx"})


def test_unmodelled_shape_constant_falls_back_to_python_planning():
    g = _shape_dependent_graph()
    sess = int8rt.Session(g, threads=1)
    for n in (3, 7, 5):
        x = np.arange(n, dtype=np.float32)
        (y,) = sess.run(None, {"x": x})
        np.testing.assert_array_equal(y, x + np.arange(n, dtype=np.float32) ** 2)
    assert not sess._reshaper.templates and sess._reshaper.refused
    assert all(isinstance(p, _DynamicPlan) for p in sess._plans.values())


def test_template_refuses_bad_dimensions(model):
    sess = int8rt.Session(model, threads=1)
    sess.run(None, feed(1, 6, 0))
    tpl = sess._reshaper.templates[(-1, 0, -1, 0)]
    with pytest.raises(ValueError, match="< 1"):
        tpl.native.reshape([0])
    with pytest.raises(ValueError, match="shape variables"):
        tpl.native.reshape([3, 4])
    with pytest.raises(ValueError, match="overflows"):
        tpl.native.reshape([2 ** 40])


def test_reshape_checks_like_add_op():
    """A template whose record does not fit its buffers at some dimensions is refused by the
    same footprint check as a plan built from Python (no out-of-bounds plan is ever made)."""
    # one f32_unary: n = v elements, output buffer 4 v bytes, input buffer 4 bytes fixed
    terms = [(4, 0), (1, 1), (4, 1)]
    exprs = [(0, 1), (1, 1), (2, 1)]  # 4, v, 4 v
    bufs = [{"kind": "input", "index": 0, "nbytes": 0},
            {"kind": "output", "index": 0, "nbytes": 2}]
    calls = [("f32_unary", {"op": 0, "n": 1, "alpha": 0.0, "beta": 0.0}, {}, 1)]
    tpl = _native._ShapeTemplate(1, terms, exprs, bufs, ["float32"], ["float32"], [], calls,
                                 [[0, -1, -1, 1]], [(0, "n", -1, 1)])
    assert tpl.n_patches == 1
    plan, values, arena = tpl.reshape([1])
    assert list(values) == [4, 1, 4] and arena == 0
    x = np.array([-2.0], np.float32)
    y = np.empty(1, np.float32)
    plan.run([x], [y])
    assert y[0] == 0.0  # relu
    with pytest.raises(ValueError, match="input 0"):
        tpl.reshape([2])  # reads 8 bytes of a 4-byte input


def test_concurrent_new_shapes_on_one_session(model):
    """8 threads ask one session for shapes it has not seen, in different orders: every
    output equals a fresh plan's (plans are built under the session's cache lock; a
    reshaped plan is immutable once made)."""
    from tests.concurrency import run_in_threads

    lengths = list(range(30, 42))
    ref = fresh(model)
    want = {s: ref.run(None, feed(1, s, s))[0] for s in lengths}
    sess = int8rt.Session(model, threads=2)

    def work(k):
        bad = []
        for s in lengths[k % 4:] + lengths[:k % 4]:
            (y,) = sess.run(None, feed(1, s, s))
            if not np.array_equal(y, want[s], equal_nan=True):
                bad.append(s)
        return bad

    assert run_in_threads(work, [(k,) for k in range(8)]) == [[]] * 8
