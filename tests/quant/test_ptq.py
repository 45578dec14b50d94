"""quantize_graph on hand-built canonical graphs: structure, dtypes and parameters as
docs/ARCHITECTURE.md "Quantized graphs" describes them."""

from __future__ import annotations

import numpy as np
import pytest

from int8rt.ir import QParams
from int8rt.quant import params
from int8rt.quant.calibrate import calibrate
from int8rt.quant.ptq import quantize, quantize_graph

from .helpers import StandInExecutor, chain_graph, fallback_graph


def _data(shape, n=12, seed=0):
    rng = np.random.default_rng(seed)
    return [rng.normal(0, 1, shape).astype(np.float32) for _ in range(n)]


@pytest.fixture(scope="module")
def chain():
    g = chain_graph()
    ranges = calibrate(g, _data((3, 8, 8)), batch_size=1, progress=False,
                       executor_factory=StandInExecutor)
    return g, ranges, quantize_graph(g, ranges)


def _same(a: QParams, b: QParams) -> bool:
    return (a.axis == b.axis and np.array_equal(a.scale, b.scale)
            and np.array_equal(a.zero_point, b.zero_point))


def test_structure_and_names(chain) -> None:
    g, _, q = chain
    assert [n.op for n in q.nodes] == ["Quantize", "Transpose", "Conv", "Add", "MaxPool",
                                       "Reshape", "Gemm", "Softmax", "Dequantize"]
    assert q.inputs == ["x"] and q.outputs == ["y"]
    assert q.tensor("x").dtype == q.tensor("y").dtype == "float32"
    assert q.tensor("x").qparams is None and q.tensor("y").qparams is None
    assert q.nodes[0].inputs == ["x"] and q.nodes[-1].outputs == ["y"]
    assert q.nodes[-1].inputs == q.nodes[-2].outputs == ["y:int8"]
    # activations keep their float-graph names and become per-tensor int8
    for name in ("t0", "c1", "a1", "p1", "r1", "g1", "y:int8", "x:int8"):
        t = q.tensor(name)
        assert t.dtype == "int8" and t.qparams is not None and t.qparams.is_per_tensor
        assert t.data is None
    assert q.meta["quantization"]["int8_names"] == {
        "x": "x:int8", "t0": "t0", "c1": "c1", "a1": "a1", "p1": "p1", "r1": "r1",
        "g1": "g1", "y": "y:int8"}
    q.topological()  # still a DAG with every input defined
    for n in q.nodes:
        for i in n.inputs:
            assert not i or i in q.tensors
    # attributes (clip in real units) are untouched
    assert [n.attrs for n in q.nodes[1:-1]] == [n.attrs for n in g.nodes]
    # the float graph is not modified
    assert g.tensor("c1").dtype == "float32" and g.tensor("conv.w").dtype == "float32"
    assert next(n.op for n in g.nodes) == "Transpose"


def test_activation_parameters(chain) -> None:
    _, ranges, q = chain
    qp = {n: q.tensor(n).qparams for n in q.tensors if q.tensor(n).dtype == "int8"}
    # observed: from the calibrated range; relu-fused conv output is already >= 0, so z = -128
    for name in ("c1", "a1", "g1"):
        assert _same(qp[name], params.activation_qparams(*ranges[name]))
    assert int(qp["c1"].zero_point) == -128 and ranges["c1"][0] == 0.0
    assert _same(qp["x:int8"], params.activation_qparams(*ranges["x"]))
    # "same": data movement keeps the input's parameters
    assert _same(qp["t0"], qp["x:int8"])
    assert _same(qp["p1"], qp["a1"]) and _same(qp["r1"], qp["a1"])
    # "fixed": softmax
    assert qp["y:int8"].scalar() == (1 / 256, -128)
    # "same" and "fixed" ignore whatever range was observed for those tensors
    skewed = {**ranges, "t0": (-50.0, 50.0), "p1": (-1.0, 99.0), "r1": (0.0, 1.0),
              "y": (-3.0, 3.0)}
    q2 = quantize_graph(chain_graph(), skewed)
    for name in ("t0", "p1", "r1", "y:int8"):
        assert _same(q2.tensor(name).qparams, qp[name])


def test_conv_and_gemm_weights_and_bias(chain) -> None:
    g, _, q = chain
    s_in = {"conv": q.tensor("t0").qparams.scalar()[0], "fc": q.tensor("r1").qparams.scalar()[0]}
    for node, w_name in (("conv", "conv.w"), ("fc", "fc.w")):
        n = next(n for n in q.nodes if n.name == node)
        assert n.inputs[1] == w_name  # a weight read once is quantized under its own name
        wf = g.tensor(w_name).data.astype(np.float64)
        wt = q.tensor(n.inputs[1])
        oc = wf.shape[0]
        assert wt.dtype == "int8" and wt.data.dtype == np.int8 and wt.shape == wf.shape
        wqp = wt.qparams
        assert wqp.axis == 0 and wqp.scale.shape == (oc,) and wqp.scale.dtype == np.float32
        assert np.array_equal(wqp.zero_point, np.zeros(oc, np.int32))
        assert wt.data.min() >= -127
        s = wqp.scale.astype(np.float64).reshape((oc,) + (1,) * (wf.ndim - 1))
        assert (np.abs(wt.data * s - wf) <= s * (0.5 + 1e-6)).all()  # within half a step
        bt = q.tensor(n.inputs[2])
        assert bt.dtype == "int32" and bt.data.dtype == np.int32 and bt.shape == (oc,)
        assert bt.qparams.axis == 0
        assert np.array_equal(bt.qparams.scale,
                              (np.float64(s_in[node]) * wqp.scale.astype(np.float64))
                              .astype(np.float32))
        if node == "conv":
            assert np.array_equal(bt.data, params.quantize_bias(g.tensor("conv.b").data,
                                                                s_in[node], wqp.scale))
        else:  # Gemm had no bias: a zero bias is added
            assert len(g.nodes[5].inputs) == 2 and not bt.data.any()
    # the conv's tiny channel gets its own scale
    conv_s = q.tensor("conv.w").qparams.scale
    assert conv_s[2] < conv_s.max() / 50
    assert "conv.b" in q.tensors and q.tensor("conv.b").dtype == "int32"


def test_add_constant_is_per_tensor_int8(chain) -> None:
    g, _, q = chain
    k = q.tensor("add.k")
    kf = g.tensor("add.k").data
    assert k.dtype == "int8" and k.qparams.is_per_tensor
    assert _same(k.qparams, params.activation_qparams(kf.min(), kf.max()))
    assert np.array_equal(k.data, params.quantize_array(kf, k.qparams))
    err = np.abs(params.dequantize_array(k.data, k.qparams) - kf)
    assert err.max() <= float(k.qparams.scale) * 0.5 * (1 + 1e-5)


def test_per_tensor_weights_and_4_bits() -> None:
    g = chain_graph()
    ranges = calibrate(g, _data((3, 8, 8), n=3), batch_size=1, progress=False,
                       executor_factory=StandInExecutor)
    q = quantize_graph(g, ranges, per_channel=False, weight_bits=4)
    w = q.tensor("conv.w")
    assert w.qparams.is_per_tensor and int(w.qparams.zero_point) == 0
    assert w.data.min() >= -7 and w.data.max() <= 7 and np.abs(w.data).max() == 7
    b = q.tensor("conv.b")
    assert b.qparams.is_per_tensor
    assert b.qparams.scale == np.float32(np.float64(q.tensor("t0").qparams.scalar()[0])
                                         * np.float64(w.qparams.scale))
    assert q.meta["quantization"]["per_channel"] is False
    assert q.meta["quantization"]["weight_bits"] == 4


def test_float_only_op_sits_between_dequantize_and_quantize() -> None:
    g = fallback_graph()
    q = quantize(g, _data((4,), n=20), progress=False, executor_factory=StandInExecutor)
    ops = [(n.op, n.inputs, n.outputs) for n in q.nodes]
    assert ops == [
        ("Quantize", ["x"], ["x:int8"]),
        ("Gemm", ["x:int8", "fc.w", "fc.b"], ["h"]),
        ("Dequantize", ["h"], ["h:float"]),
        ("Div", ["h:float", "two"], ["d"]),
        ("Quantize", ["d"], ["d:int8"]),
        ("Mul", ["d:int8", "scale"], ["y:int8"]),
        ("Dequantize", ["y:int8"], ["y"]),
    ]
    assert q.outputs == ["y", "d"]
    assert q.tensor("h").dtype == "int8" and q.tensor("h:float").dtype == "float32"
    assert q.tensor("d").dtype == "float32" and q.tensor("d:int8").dtype == "int8"
    assert q.tensor("two").dtype == "float32"  # a float op's constant stays float
    assert q.tensor("scale").dtype == "int8"
    assert q.meta["quantization"]["int8_names"] == {"x": "x:int8", "h": "h", "d": "d:int8",
                                                    "y": "y:int8"}


def test_shared_constant_is_quantized_once_and_float_use_kept() -> None:
    g = fallback_graph()
    # the Mul and a new Add both read "scale"; the Div reads it as a float operand
    from int8rt.ir import Node, Tensor

    g.tensors["e"] = Tensor("e", (1, 6), "float32")
    g.tensors["f"] = Tensor("f", (1, 6), "float32")
    g.nodes.append(Node("Add", "add", ["y", "scale"], ["e"]))
    g.nodes.append(Node("Div", "div2", ["e", "scale"], ["f"]))
    g.outputs = ["f"]
    q = quantize(g, _data((4,), n=5), progress=False, executor_factory=StandInExecutor)
    mul = next(n for n in q.nodes if n.name == "mul")
    add = next(n for n in q.nodes if n.name == "add")
    div2 = next(n for n in q.nodes if n.name == "div2")
    assert mul.inputs[1] == add.inputs[1] == "scale:int8"
    assert q.tensor("scale:int8").dtype == "int8"
    assert div2.inputs[1] == "scale" and q.tensor("scale").dtype == "float32"


def test_missing_range_and_requantizing_are_errors(chain) -> None:
    g, ranges, q = chain
    partial = {k: v for k, v in ranges.items() if k != "a1"}
    with pytest.raises(KeyError, match="a1"):
        quantize_graph(g, partial)
    # tensors that only move data do not need a range
    lean = {k: v for k, v in ranges.items() if k not in ("t0", "p1", "r1", "y")}
    assert [n.op for n in quantize_graph(g, lean).nodes] == [n.op for n in q.nodes]
    with pytest.raises(ValueError, match="already quantized"):
        quantize_graph(q, ranges)
