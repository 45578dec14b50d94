"""Cross-layer equalization, bias correction, symmetric activations, float fallback nodes."""

from __future__ import annotations

import numpy as np
import pytest

from int8rt import opset
from int8rt.lower import lower
from int8rt.passes.shape_inference import rebatch
from int8rt.plan import NativePlan
from int8rt.quant import bias_correction, equalize, params
from int8rt.quant.calibrate import calibrate
from int8rt.quant.ptq import prepare, quantize, quantize_graph
from int8rt.reference import float_ops
from int8rt.reference.float_executor import FloatExecutor
from int8rt.reference.program import run_program

from .ptq_graphs import dw_separable_graph, images


def _prog(qg, x):
    return lower(rebatch(qg.copy(), {"x": x.shape}))


def _float_out(g, x):
    return FloatExecutor(g).run({"x": x})["y"]


def test_cle_keeps_the_float_function_and_equalizes_ranges():
    g = dw_separable_graph()
    x = images(16)
    before = _float_out(g, x)
    g2 = g.copy()
    pairs = equalize.equalize(g2)
    assert {(p.first, p.second) for p in pairs} == {("c1", "dw"), ("dw", "pw")}
    np.testing.assert_allclose(_float_out(g2, x), before, rtol=1e-4, atol=1e-4 * np.abs(
        before).max())
    # ranges: output channel i of dw vs input channel i of pw become equal; the per-tensor
    # spread (max / min channel range) of the depthwise weights shrinks a lot
    dw = np.abs(g2.const("dw.w")).reshape(8, -1).max(1)
    pw = np.abs(g2.const("pw.w")).max(axis=(0, 1, 2))
    c1 = np.abs(g2.const("c1.w")).reshape(8, -1).max(1)
    dw_in = np.abs(g2.const("dw.w")).reshape(8, -1).max(1)
    np.testing.assert_allclose(dw, pw, rtol=1e-3)
    np.testing.assert_allclose(c1, dw_in, rtol=1e-2)
    old = np.abs(g.const("dw.w")).reshape(8, -1).max(1)
    assert dw.max() / dw.min() < 0.2 * old.max() / old.min()


def test_cle_skips_relu6_pairs():
    g = dw_separable_graph()
    next(n for n in g.nodes if n.name == "c1").attrs["clip"] = (0.0, 6.0)
    pairs = {(p.first, p.second) for p in equalize.equalize(g)}
    assert ("c1", "dw") not in pairs and ("dw", "pw") in pairs


def test_cle_improves_per_tensor_int8():
    g = dw_separable_graph()
    x = images(32)
    ref = _float_out(g, x)

    def err(qg):
        y = run_program(_prog(qg, x), [x])[0]
        return np.sqrt(np.mean((y - ref) ** 2) / np.mean(ref ** 2))

    plain = quantize(g, [x], per_channel=False, progress=False)
    cle = quantize(g, [x], per_channel=False, equalize=True, progress=False)
    assert err(cle) < 0.7 * err(plain)


@pytest.mark.parametrize("per_channel,bits", [(False, 8), (True, 4)])
def test_bias_correction_removes_the_mean_output_shift(per_channel, bits):
    g = dw_separable_graph()
    x = images(64)
    shifts = bias_correction.output_shift(g, [x], per_channel=per_channel, bits=bits)
    assert set(shifts) == {"c1", "dw", "pw", "fc"}
    gc = prepare(g, [x], bias_correction=True, per_channel=per_channel, weight_bits=bits)
    # after correction, the first layer with dequantized weights has the float mean output
    # (pre-activation), while without correction it is off by the measured shift
    attrs = {**opset.attrs_with_defaults("Conv", {"pads": (1, 1, 1, 1)})}
    shapes = float_ops.NodeShapes((None,) * 3, (None,))
    w = g.const("c1.w")
    wq = (w + bias_correction.weight_error(w, per_channel, bits)).astype(np.float32)
    y_f = float_ops.conv([x, w, g.const("c1.b")], attrs, shapes)[0]
    y_q = float_ops.conv([x, wq, gc.const("c1.b")], attrs, shapes)[0]
    y_u = float_ops.conv([x, wq, g.const("c1.b")], attrs, shapes)[0]
    before = np.abs((y_u - y_f).reshape(-1, 8).mean(0))
    after = np.abs((y_q - y_f).reshape(-1, 8).mean(0))
    assert before.max() > 1e-3 and after.max() < 1e-2 * before.max()
    for node in ("c1", "dw", "pw"):
        b0 = g.const(f"{node}.b").astype(np.float64)
        np.testing.assert_allclose(gc.const(f"{node}.b"), b0 - shifts[node], rtol=1e-5,
                                   atol=1e-6)
    # and the measured mean error of the int8 model output shrinks
    ref = _float_out(g, x)

    def bias_of(qg):
        y = run_program(_prog(qg, x), [x])[0]
        return np.abs((y - ref).mean(axis=0)).mean()

    kw = {"per_channel": per_channel, "weight_bits": bits, "progress": False}
    assert bias_of(quantize(g, [x], bias_correction=True, **kw)) < \
        bias_of(quantize(g, [x], **kw))


def test_layers_kept_float_get_their_uncorrected_bias():
    """Bias correction offsets the mean error of a layer's int8 weights; a layer kept float
    runs its float weights, so it takes the bias from before the correction: with every node
    kept float the bias-corrected model is the float model again."""
    g = dw_separable_graph()
    x = images(16)
    gc = prepare(g, [x], bias_correction=True)
    ranges = calibrate(gc, [x], progress=False)
    every = [n.name for n in g.nodes]
    qg = quantize_graph(gc, ranges, float_nodes=every)
    for node in ("c1", "dw", "pw", "fc"):
        bias = next(n for n in qg.nodes if n.name == node).inputs[2]
        assert np.array_equal(qg.const(bias), g.const(f"{node}.b"))
    y = run_program(_prog(qg, x), [x])[0]
    np.testing.assert_allclose(y, _float_out(g, x), rtol=1e-5, atol=1e-5)
    # int8 layers keep the corrected bias; the record of the old ones stays out of the model
    part = quantize_graph(gc, ranges, float_nodes=["dw"])
    assert "uncorrected_biases" not in part.meta and "uncorrected_biases" in gc.meta
    dw_bias = next(n for n in part.nodes if n.name == "dw").inputs[2]
    assert np.array_equal(part.const(dw_bias), g.const("dw.b"))


def test_symmetric_activations_have_zero_zero_points():
    g = dw_separable_graph()
    x = images(8)
    qg = quantize(g, [x], symmetric_activations=True, progress=False)
    acts = [t for t in qg.tensors.values() if t.dtype == "int8" and not t.is_const]
    assert acts and all(int(t.qparams.zero_point) == 0 for t in acts)
    qp = params.symmetric_activation_qparams(-1.0, 2.54)
    assert qp.scalar() == (pytest.approx(0.02, rel=1e-6), 0)


def test_float_nodes_run_in_the_native_plan_equal_to_reference():
    g = dw_separable_graph()
    x = images(4)
    ranges = calibrate(g, [x], progress=False)
    qg = quantize_graph(g, ranges, float_nodes=["dw", "fc"])
    prog = _prog(qg, x)
    kernels = [c.kernel for c in prog.calls]
    assert "conv2d_f32" in kernels and "fc_f32" in kernels
    assert qg.tensor("dw.w").dtype == "float32"
    ref = run_program(prog, [x])
    nat = NativePlan(prog).run([x])
    assert np.array_equal(ref[0], nat[0])
    with pytest.raises(ValueError, match="no node"):
        quantize_graph(g, ranges, float_nodes=["nope"])


@pytest.mark.parametrize("io_dtype", ["int8", "uint8"])
def test_integer_model_io(io_dtype):
    g = dw_separable_graph()
    x = images(4)
    ranges = calibrate(g, [x], progress=False)
    qf = quantize_graph(g, ranges)
    qi = quantize_graph(g, ranges, io_dtype=io_dtype)
    assert qi.tensor("x").dtype == io_dtype and qi.tensor("y").dtype == io_dtype
    _, zx = qi.tensor("x").qparams.scalar()
    sy, zy = qi.tensor("y").qparams.scalar()
    # quantize the input the way the float model's boundary does, run, compare the outputs
    q = params.quantize_array(x, qf.tensor(qf.meta["quantization"]["int8_names"]["x"]).qparams)
    xin = (q.astype(np.int16) + 128).astype(np.uint8) if io_dtype == "uint8" else q
    prog = _prog(qi, x)
    nat = NativePlan(prog).run([xin])[0]
    assert nat.dtype == np.dtype(io_dtype)
    assert np.array_equal(nat, run_program(prog, [xin])[0])
    real = (nat.astype(np.float32) - zy) * sy
    ref = run_program(_prog(qf, x), [x])[0]
    # the float-output model skips the last rounding (fused epilogue): within one output step
    assert np.abs(real - ref).max() <= sy * 0.5 + 1e-6
    zq = qf.tensor(qf.meta["quantization"]["int8_names"]["x"]).qparams.scalar()[1]
    assert zx == zq + (128 if io_dtype == "uint8" else 0)
