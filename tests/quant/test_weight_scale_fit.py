"""Weight-scale adjustment (docs/QUANTIZATION.md §3): batch-norm-folded channels with near-zero
weights and a large bias (paddle2onnx's DBNet 'p2o.Conv.22' shape of the problem) quantize and
run with every calibration method instead of a LoweringError, and the adjusted channels are
listed."""

from __future__ import annotations

import numpy as np
import pytest

import int8rt
from int8rt.quant import params
from int8rt.quant.params import INT32_MAX, accumulator_bound, fit_weight_scales
from int8rt.report import METHODS

onnx = pytest.importorskip("onnx")
from onnx import TensorProto, helper, numpy_helper

DEAD = (1, 4)  # channels whose BatchNorm gamma is ~0: folded weights ~1e-9, bias = beta


def _bn_folded_model() -> onnx.ModelProto:
    """Conv(3->8, 3x3) -> BatchNormalization -> Relu -> Conv(8->6, 3x3) -> BatchNormalization.
    Gamma is 1e-9 in DEAD channels of both BNs, beta 4.0; the input range is small (x in
    [0, 0.02]) so s_x * s_w is ~1e-14 and beta / (s_x * s_w) is far beyond int32."""
    rng = np.random.default_rng(20)

    def bn(name: str, c: int, dead: tuple[int, ...]) -> list:
        gamma = rng.uniform(0.5, 1.5, c).astype(np.float32)
        gamma[list(dead)] = 1e-9
        beta = rng.uniform(-0.2, 0.2, c).astype(np.float32)
        beta[list(dead)] = 4.0
        return [numpy_helper.from_array(a, f"{name}.{k}") for k, a in (
            ("g", gamma), ("b", beta), ("m", rng.uniform(-0.01, 0.01, c).astype(np.float32)),
            ("v", rng.uniform(0.5, 1.0, c).astype(np.float32)))]

    inits = [numpy_helper.from_array(rng.standard_normal((8, 3, 3, 3)).astype(np.float32), "w1"),
             numpy_helper.from_array(rng.standard_normal((6, 8, 3, 3)).astype(np.float32) * .3,
                                     "w2"),
             *bn("bn1", 8, DEAD), *bn("bn2", 6, (2,))]
    nodes = [
        helper.make_node("Conv", ["x", "w1"], ["c1"], name="p2o.Conv.21", pads=[1, 1, 1, 1]),
        helper.make_node("BatchNormalization", ["c1", "bn1.g", "bn1.b", "bn1.m", "bn1.v"],
                         ["b1"], name="bn1"),
        helper.make_node("Relu", ["b1"], ["r1"], name="relu1"),
        helper.make_node("Conv", ["r1", "w2"], ["c2"], name="p2o.Conv.22", pads=[1, 1, 1, 1]),
        helper.make_node("BatchNormalization", ["c2", "bn2.g", "bn2.b", "bn2.m", "bn2.v"],
                         ["y"], name="bn2"),
    ]
    g = helper.make_graph(nodes, "bnfold", [helper.make_tensor_value_info(
        "x", TensorProto.FLOAT, [1, 3, 12, 12])], [helper.make_tensor_value_info(
            "y", TensorProto.FLOAT, None)], initializer=inits)
    m = helper.make_model(g, opset_imports=[helper.make_opsetid("", 17)])
    m.ir_version = 8
    return m


def _calib() -> np.ndarray:
    return np.random.default_rng(3).uniform(0, 0.02, (8, 1, 3, 12, 12)).astype(np.float32)


@pytest.fixture(scope="module")
def model() -> onnx.ModelProto:
    return _bn_folded_model()


def test_unadjusted_scales_would_overflow(model) -> None:
    """The model triggers the problem: with plain max|w| / 127 scales, the first conv's dead
    channels need a bias beyond int32 (what lowering used to refuse)."""
    g = int8rt.api.load_float_model(model)
    conv = next(n for n in g.nodes if n.op == "Conv")
    w = g.tensor(conv.inputs[1]).data
    b = g.tensor(conv.inputs[2]).data
    wqp = params.weight_qparams(w, axis=0)
    x_scale = 0.02 / 255
    qb = np.rint(b.astype(np.float64) / params.bias_scale(x_scale, wqp.scale))
    assert np.abs(qb[list(DEAD)]).min() > INT32_MAX


@pytest.mark.parametrize("method", METHODS)
def test_every_method_quantizes_and_runs(model, method) -> None:
    x = _calib()
    qm = int8rt.quantize(model, list(x), method=method, progress=False)
    adjusted = qm.graph.meta["quantization"]["weight_scale_adjusted"]
    # the first conv (its node name after import) lists exactly the dead channels
    first = next(n.name for n in qm.graph.nodes if n.op == "Conv")
    assert sorted(c for c, _, _ in adjusted[first]) == list(DEAD)
    for _, old, new in adjusted[first]:
        assert new > old
    for n in qm.graph.nodes:  # every int32 bias is unsaturated and every bound fits
        if n.op == "Conv":
            bound = accumulator_bound(qm.graph.tensor(n.inputs[1]).data,
                                      qm.graph.tensor(n.inputs[2]).data)
            assert bound.max() <= INT32_MAX
    sess = int8rt.Session(qm)
    got = sess.run(None, {"x": x[0]})[0]
    from int8rt.reference.float_executor import FloatExecutor

    fg = qm.float_graph
    want = FloatExecutor(fg).run({fg.inputs[0]: x[0]})[fg.outputs[0]]
    # within a few output steps of float, clipped to the calibrated output range (entropy
    # and percentile clip the tail on purpose); the dead channels carry their bias through
    s, z = qm.graph.tensor(qm.graph.meta["quantization"]["int8_names"]["y"]).qparams.scalar()
    want = np.clip(want, s * (-128 - z), s * (127 - z))
    err = np.abs(got - want).max(axis=(0, 2, 3))
    assert err.max() < 4 * s, (err, s)


def test_smallest_scale_that_fits() -> None:
    """fit_weight_scales returns the smallest float32 scale that fits: the next float32 below
    it does not fit (the bound is monotone in the scale, §3)."""
    rng = np.random.default_rng(5)
    w = rng.standard_normal((4, 27)) * np.array([1, 1e-9, 1, 3e-10])[:, None]
    b = np.array([0.1, 3.0, -0.2, -7.5])
    x_scale = 1e-4
    wqp = params.weight_qparams(w, axis=0)
    qp, changes = fit_weight_scales(w, wqp, b, x_scale)
    assert [c for c, _, _ in changes] == [1, 3]

    def bound(scale: np.ndarray) -> np.ndarray:
        q = params.QParams(np.asarray(scale, np.float32), np.zeros(4, np.int32), 0)
        qw = params.quantize_weights(w, q)
        qb = np.abs(np.rint(b / params.bias_scale(x_scale, q.scale)))
        return 255 * np.abs(qw.astype(np.int64)).sum(1) + qb

    assert bound(qp.scale).max() <= INT32_MAX
    for c in (1, 3):
        below = qp.scale.copy()
        below[c] = np.nextafter(below[c], np.float32(0))
        assert bound(below)[c] > INT32_MAX
    # untouched channels keep their scales bit for bit
    assert np.array_equal(qp.scale[[0, 2]], wqp.scale[[0, 2]])
    # per-tensor: one scale for all, and a fitting input needs no change
    _, ct = fit_weight_scales(w, params.weight_qparams(w, per_channel=False), b, x_scale)
    assert ct == [] or ct[0][0] == -1
    _, none = fit_weight_scales(w[[0, 2]], params.weight_qparams(w[[0, 2]]), b[[0, 2]],
                                   x_scale)
    assert none == []


def test_qdq_weights_are_not_adjusted() -> None:
    """Given integer weights (QDQ) keep their scales: the bound check still refuses them."""
    from int8rt.ir import Graph, Node, Tensor
    from int8rt.lower import LoweringError, lower

    w = np.full((1, 1, 1, 70000), 127, np.int8)
    g = Graph([Node("Conv", "c", ["x", "w", "b"], ["y"])], {
        "x": Tensor("x", (1, 1, 1, 70000), "int8", qparams=params.QParams.per_tensor(1.0, 0)),
        "w": Tensor("w", w.shape, "int8", data=w,
                    qparams=params.QParams(np.ones(1, np.float32), np.zeros(1, np.int32), 0)),
        "b": Tensor("b", (1,), "int32", data=np.zeros(1, np.int32),
                    qparams=params.QParams(np.ones(1, np.float32), np.zeros(1, np.int32), 0)),
        "y": Tensor("y", (1, 1, 1, 1), "int8", qparams=params.QParams.per_tensor(1.0, 0)),
    }, ["x"], ["y"])
    with pytest.raises(LoweringError, match="could overflow"):
        lower(g)


def test_inspect_and_report_list_adjusted_channels(model, tmp_path, capsys) -> None:
    from int8rt.cli import main

    qm = int8rt.quantize(model, list(_calib()), progress=False)
    path = tmp_path / "m.i8"
    qm.save(path)
    assert main(["inspect", str(path)]) == 0
    out = capsys.readouterr().out
    first = next(n.name for n in qm.graph.nodes if n.op == "Conv")
    assert "weight scales raised" in out
    for c in DEAD:
        assert f"{first} channel {c}:" in out


@pytest.mark.slow  # matplotlib rendering
def test_report_lists_adjusted_channels(model, tmp_path) -> None:
    pytest.importorskip("matplotlib")
    from int8rt.report import write_report

    onnx.save(model, tmp_path / "m.onnx")
    np.save(tmp_path / "calib.npy", _calib()[:, 0])
    page = write_report(str(tmp_path / "m.onnx"), str(tmp_path / "calib.npy"),
                        tmp_path / "rep.html", samples=4).read_text()
    assert "Weight scales raised to fit int32" in page
    assert page.count("<code>p2o.Conv.21</code>") >= 2
