"""Float fallback inside the static plan: an op without an int8 kernel (Exp, Sqrt, Abs, Max,
Div of two tensors, ...) or a node the user keeps float (float_nodes) runs in float32 between
Dequantize / Quantize records instead of refusing; the model records which nodes run in float.
Native plan against the reference program (exact where the float records are exact), against
ONNX Runtime's fp32 result, and across thread counts."""

from __future__ import annotations

import numpy as np
import pytest

import int8rt
from int8rt.lower import lower
from int8rt.reference.program import run_program
from tests.frontend.onnx_util import helper, init, make_model, run_ort

_rng = np.random.default_rng(0)


@pytest.fixture(autouse=True)
def _own_seed():
    # every test draws its weights and data from its own fixed sequence, so its outcome does
    # not depend on which tests ran before it (the shared onnx_util.RNG made one of them flaky)
    global _rng
    _rng = np.random.default_rng(1234)


def rand(*shape: int, scale: float = 1.0) -> np.ndarray:
    return (_rng.standard_normal(shape) * scale).astype(np.float32)

X = (1, 3, 12, 12)


def _calib():
    return [rand(*X) for _ in range(8)]


def _cos(a, b):
    a, b = a.ravel().astype(np.float64), b.ravel().astype(np.float64)
    return float(a @ b / (np.linalg.norm(a) * np.linalg.norm(b)))


def _no_int8_kernel_model():
    nodes = [helper.make_node("Conv", ["x", "w1", "b1"], ["c1"], pads=[1, 1, 1, 1]),
             helper.make_node("Abs", ["c1"], ["a1"]),
             helper.make_node("Sqrt", ["a1"], ["s1"]),
             helper.make_node("Neg", ["s1"], ["n1"]),
             helper.make_node("Max", ["n1", "c1"], ["m1"]),
             helper.make_node("Div", ["c1", "q"], ["d1"]),  # q: a tensor, not a constant
             helper.make_node("Add", ["m1", "d1"], ["s2"]),
             helper.make_node("Conv", ["s2", "w2"], ["y"])]
    inits = [init("w1", rand(8, 3, 3, 3, scale=0.3)), init("b1", rand(8)),
             init("w2", rand(4, 8, 1, 1)), init("w3", rand(8, 3, 1, 1, scale=0.3))]
    nodes[1:1] = [helper.make_node("Conv", ["x", "w3"], ["c3"]),
                  helper.make_node("Exp", ["c3"], ["q"])]
    return make_model(nodes, {"x": X}, ["y"], inits)


def _exact_ops_model():
    nodes = [helper.make_node("Conv", ["x", "w1", "b1"], ["c1"], pads=[1, 1, 1, 1]),
             helper.make_node("Abs", ["c1"], ["a1"]),
             helper.make_node("Sqrt", ["a1"], ["s1"]),
             helper.make_node("Max", ["s1", "c1"], ["m1"]),
             helper.make_node("Conv", ["m1", "w2"], ["c2"]),
             helper.make_node("Conv", ["x", "w3"], ["c3"], pads=[1, 1, 1, 1]),
             helper.make_node("Abs", ["c3"], ["a3"]),
             helper.make_node("Add", ["a3", "one"], ["p3"]),
             helper.make_node("Div", ["c2", "p3"], ["d"]),
             helper.make_node("Min", ["d", "c2"], ["y"])]
    inits = [init("w1", rand(8, 3, 3, 3, scale=0.3)), init("b1", rand(8)),
             init("w2", rand(4, 8, 1, 1)), init("w3", rand(4, 3, 3, 3)),
             init("one", np.float32(1))]
    return make_model(nodes, {"x": X}, ["y"], inits)


def test_op_without_int8_kernel_runs_in_float_and_is_reported():
    m = _exact_ops_model()
    qm = int8rt.quantize(m, _calib(), progress=False)
    q = qm.graph.meta["quantization"]
    ops = {n.name: n.op for n in qm.graph.nodes}
    # the Add of a3 + 1 sits between Abs and Div: float32 too (ptq._float_bridges)
    assert sorted(ops[n] for n in q["float_ops"]) == ["Abs", "Abs", "Add", "Div", "Max", "Min",
                                                      "Sqrt"]
    assert q["float_nodes"] == []  # none asked for: these have no int8 kernel
    x = rand(*X)
    prog = lower(qm.graph)
    kernels = {c.kernel for c in prog.calls}
    assert {"f32_binary", "f32_unary", "conv2d"} <= kernels
    # the native plan equals the reference program bit for bit (every float op here is exact)
    got = int8rt.Session(qm, threads=1).run(None, {"x": x})[0]
    want = run_program(prog, [x])[0]
    assert np.array_equal(got, want.reshape(got.shape))
    assert np.array_equal(int8rt.Session(qm, threads=2).run(None, {"x": x})[0], got)
    assert _cos(got, run_ort(m, {"x": x})[0]) > 0.99


def test_libm_float_ops_in_the_static_plan_match_fp32():
    m = _no_int8_kernel_model()
    qm = int8rt.quantize(m, _calib(), progress=False)
    ops = sorted(n.op for n in qm.graph.nodes if n.name in qm.graph.meta["quantization"][
        "float_ops"])
    assert {"Exp", "Abs", "Sqrt", "Neg", "Max", "Div"} <= set(ops)
    x = rand(*X)
    got = int8rt.Session(qm, threads=1).run(None, {"x": x})[0]
    ref = run_program(lower(qm.graph), [x])[0].reshape(got.shape)
    # libm exp: at most a quantization step apart where a rounding flips
    step = float(np.max(np.abs(np.diff(np.unique(ref)))) or 1.0)
    assert np.max(np.abs(got - ref)) <= step
    assert _cos(got, run_ort(m, {"x": x})[0]) > 0.99


@pytest.mark.parametrize("keep", [["hs"], ["add"], ["hs", "add", "gap"]])
def test_float_nodes_beyond_conv_and_gemm(keep):
    nodes = [helper.make_node("Conv", ["x", "w1", "b1"], ["c1"], pads=[1, 1, 1, 1]),
             helper.make_node("HardSwish", ["c1"], ["h1"], name="hs"),
             helper.make_node("Add", ["h1", "c1"], ["a1"], name="add"),
             helper.make_node("GlobalAveragePool", ["a1"], ["g"], name="gap"),
             helper.make_node("Flatten", ["g"], ["f"]),
             helper.make_node("Gemm", ["f", "wf"], ["y"], transB=1)]
    inits = [init("w1", rand(8, 3, 3, 3, scale=0.3)), init("b1", rand(8)),
             init("wf", rand(5, 8))]
    m = make_model(nodes, {"x": X}, ["y"], inits)
    qm = int8rt.quantize(m, _calib(), float_nodes=keep, progress=False)
    q = qm.graph.meta["quantization"]
    assert set(keep) <= set(q["float_ops"]) and q["float_nodes"] == sorted(keep)
    x = rand(*X)
    got = int8rt.Session(qm, threads=1).run(None, {"x": x})[0]
    want = run_program(lower(qm.graph), [x])[0].reshape(got.shape)
    assert np.array_equal(got, want)  # hard_swish, add, mean: exact float records
    assert _cos(got, run_ort(m, {"x": x})[0]) > 0.99


def test_float_nodes_still_refuses_an_op_without_a_float_kernel():
    nodes = [helper.make_node("MaxPool", ["x"], ["y"], kernel_shape=[2, 2], name="mp")]
    m = make_model(nodes, {"x": X}, ["y"])
    with pytest.raises(ValueError, match="'mp' \\(MaxPool\\) cannot run in float32"):
        int8rt.quantize(m, _calib(), float_nodes=["mp"], progress=False)


def test_float_activations_same_bytes_on_every_path():
    """relu / clip / hard_sigmoid / hard_swish / leaky_relu run an AVX2 loop for whole vectors
    and the portable loop for the tail: both paths give the reference's bytes (660 elements:
    a tail of 4)."""
    from int8rt import _native

    shape = (1, 3, 12, 11)
    acts = [("HardSwish", {}), ("HardSigmoid", {"alpha": 0.3, "beta": 0.4}),
            ("LeakyRelu", {"alpha": 0.07}), ("Relu", {}), ("Clip", {})]
    nodes = [helper.make_node("Conv", ["x", "w1", "b1"], ["c0"], pads=[1, 1, 1, 1])]
    inits = [init("w1", rand(5, 3, 3, 3, scale=1.5)), init("b1", rand(5)),
             init("lo", np.float32(-0.5)), init("hi", np.float32(2.0))]
    for i, (op, attrs) in enumerate(acts):
        ins = [f"c{i}"] + (["lo", "hi"] if op == "Clip" else [])
        nodes.append(helper.make_node(op, ins, [f"c{i + 1}"], name=f"act{i}", **attrs))
    nodes[-1].output[0] = "y"
    m = make_model(nodes, {"x": shape}, ["y"], inits)
    names = [f"act{i}" for i in range(len(acts))]
    qm = int8rt.quantize(m, [rand(*shape, scale=2.0) for _ in range(8)], float_nodes=names,
                         progress=False)
    x = rand(*shape, scale=2.0)
    want = run_program(lower(qm.graph), [x])[0]
    before = _native.isa()
    try:
        for isa in _native.available_isas():
            _native.set_isa(isa)
            got = int8rt.Session(qm, threads=1).run(None, {"x": x})[0]
            assert np.array_equal(got, want.reshape(got.shape)), isa
    finally:
        _native.set_isa(before)


def test_float_nodes_none_and_a_single_name():
    nodes = [helper.make_node("Conv", ["x", "w1", "b1"], ["c1"], pads=[1, 1, 1, 1]),
             helper.make_node("HardSwish", ["c1"], ["y"], name="hs")]
    m = make_model(nodes, {"x": X}, ["y"], [init("w1", rand(8, 3, 3, 3, scale=0.3)),
                                          init("b1", rand(8))])
    none = int8rt.quantize(m, _calib(), float_nodes=None, progress=False)
    assert none.graph.meta["quantization"]["float_nodes"] == []
    one = int8rt.quantize(m, _calib(), float_nodes="hs", progress=False)  # not 'h', 's'
    assert one.graph.meta["quantization"]["float_nodes"] == ["hs"]


def _hard_swish_affine_model(outputs=("y",), mul_const=None):
    """Conv -> HardSwish -> Mul(scalar) -> Add(scalar) -> Conv, PP-LCNetV3's learnable affine
    after a hard-swish (DBNet's float prefix); `outputs` may name intermediates too"""
    nodes = [helper.make_node("Conv", ["x", "w1", "b1"], ["c1"], pads=[1, 1, 1, 1]),
             helper.make_node("HardSwish", ["c1"], ["h1"], name="hs"),
             helper.make_node("Mul", ["s", "h1"], ["m1"], name="mul"),
             helper.make_node("Add", ["m1", "t"], ["a1"], name="add"),
             # padded: the Add cannot fold into it (a padding tap would see the shift)
             helper.make_node("Conv", ["a1", "w2"], ["y"], name="c2", pads=[1, 1, 1, 1])]
    inits = [init("w1", rand(5, 3, 3, 3, scale=1.5)), init("b1", rand(5)),
             init("w2", rand(4, 5, 3, 3)),
             init("s", np.float32(1.37) if mul_const is None else mul_const),
             init("t", np.float32(-0.21))]
    return make_model(nodes, {"x": (1, 3, 12, 11)}, list(outputs), inits)


def _float_chain(m):
    return int8rt.quantize(m, [rand(1, 3, 12, 11, scale=2.0) for _ in range(8)],
                           float_nodes=["hs", "mul", "add"], progress=False)


def test_hard_swish_mul_add_fuse_into_one_float_pass_with_the_same_bytes():
    """lower._fuse_f32_affine: the three float records become one f32_unary
    HARD_SWISH_AFFINE; the native plan, on every kernel path, gives the bytes of the unfused
    program (fuse_epilogues=False keeps the three records) run by the reference."""
    from int8rt import _native

    qm = _float_chain(_hard_swish_affine_model())
    fused = [c for c in lower(qm.graph).calls if c.kernel == "f32_unary"]
    assert [(c.params["op"], c.node) for c in fused] == [(18, "hs+mul+add")]
    assert fused[0].params["alpha"] == float(np.float32(1.37))
    assert fused[0].params["beta"] == float(np.float32(-0.21))
    unfused = lower(qm.graph, fuse_epilogues=False)
    assert [c.kernel for c in unfused.calls].count("f32_binary") == 2
    x = rand(1, 3, 12, 11, scale=2.0)
    want = run_program(unfused, [x])[0]
    assert np.array_equal(run_program(lower(qm.graph), [x])[0], want)
    before = _native.isa()
    try:
        for isa in _native.available_isas():
            _native.set_isa(isa)
            got = int8rt.Session(qm, threads=1).run(None, {"x": x})[0]
            assert np.array_equal(got, want.reshape(got.shape)), isa
    finally:
        _native.set_isa(before)


@pytest.mark.parametrize("case", ["hard_swish_is_an_output", "mul_is_an_output",
                                  "per_channel_mul"])
def test_hard_swish_mul_add_that_must_not_fuse(case):
    """an intermediate the user reads (a graph output) or a Mul by a per-channel constant
    keeps the three records; the outputs still equal the reference program's"""
    if case == "per_channel_mul":
        m = _hard_swish_affine_model(mul_const=rand(1, 5, 1, 1))
    else:
        m = _hard_swish_affine_model(("y", "h1" if case == "hard_swish_is_an_output" else "m1"))
    qm = _float_chain(m)
    prog = lower(qm.graph)
    assert not [c for c in prog.calls if c.kernel == "f32_unary" and c.params["op"] == 18]
    assert [c.kernel for c in prog.calls].count("f32_binary") == 2
    x = rand(1, 3, 12, 11, scale=2.0)
    got = int8rt.Session(qm, threads=1).run(None, {"x": x})
    want = run_program(prog, [x])
    for g, w in zip(got, want):
        assert np.array_equal(g, w.reshape(g.shape))
