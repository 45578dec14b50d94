"""QDQ / QOperator import on small hand-built models: the given parameters are used exactly,
the native plan equals the numpy oracle, and every form int8rt cannot take is refused with
the node's name."""

from __future__ import annotations

import os
import tempfile
import warnings

import numpy as np
import pytest

onnx = pytest.importorskip("onnx")
pytest.importorskip("onnxruntime")
from onnx import TensorProto, helper

import int8rt
from int8rt.frontend.onnx_qdq import QDQImportError, import_quantized_onnx
from int8rt.lower import lower
from int8rt.reference.program import run_program
from tests.frontend.onnx_util import init, make_model, run_ort

RNG = np.random.default_rng(1)


def _qdq_conv_model(act_dtype=np.uint8, w_ints=None, w_zp=None, opset: int = 13,
                    per_channel: bool = True, oc: int = 4) -> onnx.ModelProto:
    """x -> Q/DQ -> Conv(DQ(int8 w), DQ(int32 b)) -> Relu -> Q/DQ -> y."""
    ic = 3
    zx = np.array(128 if act_dtype == np.uint8 else 3, act_dtype)
    zy = np.array(0 if act_dtype == np.uint8 else -128, act_dtype)
    if w_ints is None:
        w_ints = RNG.integers(-127, 128, (oc, ic, 3, 3)).astype(np.int8)
    ws = (RNG.uniform(0.5, 2.0, oc) * 0.01).astype(np.float32) if per_channel else \
        np.array(0.013, np.float32)
    if w_zp is None:
        w_zp = np.zeros(ws.shape, w_ints.dtype)
    sx, sy = np.float32(0.02), np.float32(0.05)
    b_ints = RNG.integers(-3000, 3000, oc).astype(np.int32)
    bs = (sx * ws).astype(np.float32)
    nodes = [
        helper.make_node("QuantizeLinear", ["x", "sx", "zx"], ["xq"], name="q_x"),
        helper.make_node("DequantizeLinear", ["xq", "sx", "zx"], ["xd"], name="dq_x"),
        helper.make_node("DequantizeLinear", ["w", "ws", "wz"], ["wd"], name="dq_w",
                         **({"axis": 0} if per_channel else {})),
        helper.make_node("DequantizeLinear", ["b", "bs", "bz"], ["bd"], name="dq_b",
                         **({"axis": 0} if per_channel else {})),
        helper.make_node("Conv", ["xd", "wd", "bd"], ["c"], name="conv", pads=[1, 1, 1, 1]),
        helper.make_node("Relu", ["c"], ["r"], name="relu"),
        helper.make_node("QuantizeLinear", ["r", "sy", "zy"], ["rq"], name="q_r"),
        helper.make_node("DequantizeLinear", ["rq", "sy", "zy"], ["y"], name="dq_r"),
    ]
    inits = [init("sx", sx), init("zx", zx), init("w", w_ints), init("ws", ws),
             init("wz", w_zp), init("b", b_ints), init("bs", bs),
             init("bz", np.zeros(bs.shape, np.int32)), init("sy", sy), init("zy", zy)]
    return make_model(nodes, {"x": (1, ic, 6, 6)}, ["y"], inits, opset=opset)


def _run_both(model, x):
    """(int8rt native output, numpy-oracle output, the quantized graph)."""
    graph = import_quantized_onnx(model)
    sess = int8rt.Session(graph)
    native = sess.run(None, {"x": x})[0]
    oracle = run_program(lower(graph), [x])[0]
    return native, oracle, graph


@pytest.mark.parametrize("act_dtype", [np.uint8, np.int8])
@pytest.mark.parametrize("per_channel", [True, False])
def test_qdq_conv_matches_onnx_semantics(act_dtype, per_channel) -> None:
    model = _qdq_conv_model(act_dtype, per_channel=per_channel)
    x = RNG.uniform(-2.5, 2.5, (1, 3, 6, 6)).astype(np.float32)
    native, oracle, graph = _run_both(model, x)
    np.testing.assert_array_equal(native, oracle)
    want = run_ort(model, {"x": x})[0]  # ORT without optimizations: the ONNX definition
    steps = np.abs(np.rint(native / 0.05) - np.rint(want / 0.05))
    assert steps.max() <= 1 and (steps == 0).mean() >= 0.99
    # the parameters are the model's: uint8 zero points moved by -128
    zx = graph.tensor(graph.nodes[0].outputs[0]).qparams.scalar()[1]
    assert zx == (0 if act_dtype == np.uint8 else 3)


@pytest.mark.parametrize("opset", [10, 13, 19, 21])
def test_qdq_opsets(opset) -> None:
    """Per-tensor QDQ from opset 10 (no axis attribute), per-axis from 13, through 21."""
    per_channel = opset >= 13
    model = _qdq_conv_model(np.uint8, opset=opset, per_channel=per_channel)
    x = RNG.uniform(-2.5, 2.5, (1, 3, 6, 6)).astype(np.float32)
    native, oracle, _ = _run_both(model, x)
    np.testing.assert_array_equal(native, oracle)
    want = run_ort(model, {"x": x})[0]
    steps = np.abs(np.rint(native / 0.05) - np.rint(want / 0.05))
    assert steps.max() <= 1 and (steps == 0).mean() >= 0.99


def test_opset21_output_dtype_without_zero_point() -> None:
    """opset 21: QuantizeLinear's `output_dtype` gives the type when no zero point is given."""
    model = _qdq_conv_model(np.int8, opset=21)
    for n in model.graph.node:
        if n.name in ("q_r", "dq_r"):
            del n.input[2]
            if n.op_type == "QuantizeLinear":
                n.attribute.append(helper.make_attribute("output_dtype", TensorProto.INT8))
    graph = import_quantized_onnx(model)
    conv = next(n for n in graph.nodes if n.op == "Conv")
    assert graph.tensor(conv.outputs[0]).qparams.scalar() == (np.float32(0.05), 0)


def test_weights_at_minus_128_are_kept() -> None:
    """-128 weights (PyTorch's symmetric qint8 produces them) stay: the kernels are exact for
    them (int16 products, docs/QAT.md); PTQ simply never produces them."""
    w = RNG.integers(-128, 128, (4, 3, 3, 3)).astype(np.int8)
    w[:, 0, 0, 0] = -128
    model = _qdq_conv_model(np.uint8, w_ints=w)
    x = RNG.uniform(-2.5, 2.5, (1, 3, 6, 6)).astype(np.float32)
    native, oracle, graph = _run_both(model, x)
    np.testing.assert_array_equal(native, oracle)
    conv = next(n for n in graph.nodes if n.op == "Conv")
    np.testing.assert_array_equal(graph.tensor(conv.inputs[1]).data, w.transpose(0, 2, 3, 1))


def test_uint8_weights_with_zero_point_map_exactly() -> None:
    w = RNG.integers(1, 256, (4, 3, 3, 3)).astype(np.uint8)
    model = _qdq_conv_model(np.uint8, w_ints=w, w_zp=np.full(4, 128, np.uint8))
    graph = import_quantized_onnx(model)
    conv = next(n for n in graph.nodes if n.op == "Conv")
    want = (w.astype(np.int32) - 128).astype(np.int8).transpose(0, 2, 3, 1)
    np.testing.assert_array_equal(graph.tensor(conv.inputs[1]).data, want)


def test_weights_beyond_int8_refused() -> None:
    w = RNG.integers(0, 256, (4, 3, 3, 3)).astype(np.uint8)
    w[0, 0, 0, 0], w[0, 0, 0, 1] = 0, 255
    model = _qdq_conv_model(np.uint8, w_ints=w, w_zp=np.zeros(4, np.uint8))
    with pytest.raises(ValueError, match="'conv'.*outside int8"):
        import_quantized_onnx(model)


def _edit(model, fn):
    m = onnx.ModelProto()
    m.CopyFrom(model)
    fn(m)
    return m


def test_refusals_name_the_node() -> None:
    base = _qdq_conv_model()

    def block(m):
        m.graph.node[2].attribute.append(helper.make_attribute("block_size", 2))
    with pytest.raises(QDQImportError, match="'dq_w'.*block"):
        import_quantized_onnx(_edit(base, block))

    def requant(m):  # DQ with another scale than its Q
        m.graph.initializer.append(init("sx2", np.float32(0.5)))
        m.graph.node[1].input[1] = "sx2"
    with pytest.raises(QDQImportError, match="'dq_x'.*other parameters"):
        import_quantized_onnx(_edit(base, requant))

    def int_output(m):  # the model's output is the integer tensor
        m.graph.node.pop()
        m.graph.output[0].name = "rq"
    with pytest.raises(QDQImportError, match="'q_r'"):
        import_quantized_onnx(_edit(base, int_output))

    def int16(m):
        for t in m.graph.initializer:
            if t.name in ("zx",):
                t.CopyFrom(init("zx", np.array(0, np.int16)))
    with pytest.raises(QDQImportError, match="int16"):
        import_quantized_onnx(_edit(base, int16))


def test_one_channel_scale_with_a_scalar_zero_point() -> None:
    """ORT's quantize_static writes a one-output-channel per-channel bias as scale (1,) with a
    scalar zero point (ORT runs it); a real shape mismatch is still refused."""
    def scalar_zp(m):
        for t in m.graph.initializer:
            if t.name == "bz":
                t.CopyFrom(init("bz", np.array(0, np.int32)))
    model = _edit(_qdq_conv_model(oc=1), scalar_zp)
    x = RNG.uniform(-2.5, 2.5, (1, 3, 6, 6)).astype(np.float32)
    native, oracle, _ = _run_both(model, x)
    np.testing.assert_array_equal(native, oracle)
    steps = np.abs(np.rint(native / 0.05) - np.rint(run_ort(model, {"x": x})[0] / 0.05))
    assert steps.max() <= 1

    def two_zps(m):
        for t in m.graph.initializer:
            if t.name == "bz":
                t.CopyFrom(init("bz", np.zeros(2, np.int32)))
    with pytest.raises(QDQImportError, match="'dq_b'.*zero point shape"):
        import_quantized_onnx(_edit(_qdq_conv_model(), two_zps))


def test_float_parts_are_reported() -> None:
    """A Sigmoid with no Q/DQ around it stays float, named in a warning and in the metadata."""
    m = _edit(_qdq_conv_model(), lambda m: None)
    g = m.graph
    g.node.append(helper.make_node("Sigmoid", ["y"], ["z"], name="sig"))
    g.output[0].name = "z"
    with pytest.warns(UserWarning, match="Sigmoid 'sig'"):
        graph = import_quantized_onnx(m)
    floats = graph.meta["quantization"]["float_reasons"]
    assert floats["sig"].startswith("Sigmoid") and "conv" not in floats  # (+ data movement)
    assert "sig" in graph.meta["quantization"]["float_nodes"]


def test_dynamic_ops_outside_ort_patterns_refused() -> None:
    """ORT quantize_dynamic patterns import (tests/dynamic/test_crnn.py); a lone
    DynamicQuantizeLinear is not one of them and is named"""
    from int8rt.dynamic.ort_integer import OrtImportError

    nodes = [helper.make_node("DynamicQuantizeLinear", ["x"], ["q", "s", "z"], name="dq0")]
    m = make_model(nodes, {"x": (2, 3)}, ["q"])
    with pytest.raises(OrtImportError, match="DynamicQuantizeLinear node 'dq0'"):
        int8rt.quantize(m)


def test_plain_import_points_to_qdq_path() -> None:
    from int8rt.frontend.onnx import import_onnx

    with pytest.raises(ValueError, match="already quantized"):
        import_onnx(_qdq_conv_model())
    with pytest.raises(ValueError, match="already quantized"):
        int8rt.quantize(_qdq_conv_model(), [np.zeros((1, 3, 6, 6), np.float32)])


def _ms_model(nodes, inputs, outputs, inits):
    vin = [helper.make_tensor_value_info(k, TensorProto.FLOAT, list(v)) for k, v in
           inputs.items()]
    vout = [helper.make_tensor_value_info(o, TensorProto.FLOAT, None) for o in outputs]
    g = helper.make_graph(nodes, "ms", vin, vout, initializer=inits)
    m = helper.make_model(g, opset_imports=[helper.make_opsetid("", 13),
                                            helper.make_opsetid("com.microsoft", 1)])
    m.ir_version = 8
    return m


def test_qoperator_contrib_ops_match_ort() -> None:
    """QLinearConv -> QLinearAdd / QLinearMul / QLinearLeakyRelu / QLinearSigmoid /
    QLinearConcat / QLinearAveragePool / QLinearGlobalAveragePool / QLinearSoftmax chain against
    ONNX Runtime's own contrib kernels."""
    ms = "com.microsoft"
    oc = 4
    # weights within +-63: ORT's x86 kernels without VNNI add u8 x s8 product pairs in
    # saturating int16 (vpmaddubsw), exact only while 2 * 255 * |w| < 2^15
    w = RNG.integers(-63, 64, (oc, 3, 3, 3)).astype(np.int8)
    inits = [init(k, v) for k, v in {
        "sx": np.float32(0.02), "zx": np.uint8(128), "w": w,
        "ws": (RNG.uniform(0.5, 2, oc) * 0.01).astype(np.float32), "wz": np.zeros(oc, np.int8),
        "s1": np.float32(0.04), "z1": np.uint8(120), "s2": np.float32(0.06), "z2": np.uint8(100),
        "s3": np.float32(0.03), "z3": np.uint8(90), "s4": np.float32(1 / 256),
        "z4": np.uint8(0), "s5": np.float32(0.05), "z5": np.uint8(110),
        "s6": np.float32(0.02), "z6": np.uint8(130), "s7": np.float32(0.01),
        "z7": np.uint8(128),
    }.items()]
    nodes = [
        helper.make_node("QuantizeLinear", ["x", "sx", "zx"], ["xq"]),
        helper.make_node("QLinearConv", ["xq", "sx", "zx", "w", "ws", "wz", "s1", "z1"], ["c"],
                         pads=[1, 1, 1, 1], name="qconv"),
        helper.make_node("QLinearLeakyRelu", ["c", "s1", "z1", "s2", "z2"], ["l"], domain=ms,
                         alpha=0.1),
        helper.make_node("QLinearAdd", ["c", "s1", "z1", "l", "s2", "z2", "s3", "z3"], ["a"],
                         domain=ms),
        helper.make_node("QLinearMul", ["a", "s3", "z3", "l", "s2", "z2", "s5", "z5"], ["mu"],
                         domain=ms),
        helper.make_node("QLinearSigmoid", ["mu", "s5", "z5", "s4", "z4"], ["sg"], domain=ms),
        helper.make_node("QLinearConcat", ["s6", "z6", "sg", "s4", "z4", "a", "s3", "z3"],
                         ["cat"], domain=ms, axis=1),
        helper.make_node("QLinearAveragePool", ["cat", "s6", "z6", "s6", "z6"], ["ap"],
                         domain=ms, kernel_shape=[2, 2], strides=[2, 2]),
        helper.make_node("QLinearGlobalAveragePool", ["ap", "s6", "z6", "s7", "z7"], ["gp"],
                         domain=ms),
        helper.make_node("Flatten", ["gp"], ["fl"]),
        helper.make_node("QLinearSoftmax", ["fl", "s7", "z7", "s4", "z4"], ["sm"], domain=ms,
                         axis=1, opset=13),
        helper.make_node("DequantizeLinear", ["sm", "s4", "z4"], ["y"]),
    ]
    import onnxruntime as ort

    x = RNG.uniform(-2.5, 2.5, (1, 3, 6, 6)).astype(np.float32)
    scales = {t.name: float(onnx.numpy_helper.to_array(t)) for t in inits
              if t.name.startswith("s")}
    # cut the chain after each op (dequantizing its output) so every op is compared on
    # identical int8 inputs up to the differences of the ops before it
    out_scale = {"c": "s1", "l": "s2", "a": "s3", "mu": "s5", "sg": "s4", "cat": "s6",
                 "ap": "s6", "gp": "s7", "sm": "s4"}
    for k in range(2, len(nodes)):
        last = nodes[k - 1]
        out = last.output[0]
        if out not in out_scale:
            continue
        s_name = out_scale[out]
        z_name = "z" + s_name[1:]
        cut = [*nodes[:k], helper.make_node("DequantizeLinear", [out, s_name, z_name], ["y"])]
        m = _ms_model(cut, {"x": (1, 3, 6, 6)}, ["y"], inits)
        with warnings.catch_warnings():
            warnings.simplefilter("error")
            graph = import_quantized_onnx(m)
        got = int8rt.Session(graph).run(None, {"x": x})[0]
        want = ort.InferenceSession(m.SerializeToString(), providers=["CPUExecutionProvider"]
                                    ).run(None, {"x": x})[0]
        steps = np.abs(np.rint(got / scales[s_name]) - np.rint(want / scales[s_name]))
        # QLinearConcat / QLinearAveragePool in ORT requantize through float division and
        # round ties differently from int8rt's one float32 multiply (docs/QAT.md): <= 1 step
        assert steps.max() <= 1, (last.op_type, steps.max())
        assert (steps == 0).mean() >= 0.9, (last.op_type, (steps == 0).mean())


def test_ort_qoperator_model_matches_ort(tmp_path) -> None:
    """ORT quantize_static(quant_format=QOperator): QLinearConv, MaxPool on uint8,
    QLinearGlobalAveragePool, QGemm (com.microsoft)."""
    from onnxruntime.quantization import (
        CalibrationDataReader,
        QuantFormat,
        QuantType,
        quantize_static,
    )

    from tests.models.digits import ONNX_PATH, load_digits_test
    from tests.models.ort_baseline import _ArrayReader, ort_run

    d = load_digits_test()

    class Reader(_ArrayReader, CalibrationDataReader):
        pass

    out = tmp_path / "qop.onnx"
    cwd = os.getcwd()
    with tempfile.TemporaryDirectory() as tmp:
        os.chdir(tmp)
        try:
            quantize_static(str(ONNX_PATH), str(out), Reader("input", d.x_calib[:20], 1),
                            quant_format=QuantFormat.QOperator, per_channel=True,
                            reduce_range=True, activation_type=QuantType.QUInt8,
                            weight_type=QuantType.QInt8)
        finally:
            os.chdir(cwd)
    ops = {n.op_type for n in onnx.load(str(out)).graph.node}
    assert {"QLinearConv", "QGemm", "QLinearGlobalAveragePool"} <= ops
    got = int8rt.Session(int8rt.quantize(str(out))).run(None, {"input": d.x_test})[0]
    want = ort_run(out, d.x_test)
    print(f"\nORT QOperator digits: {np.mean(got == want):.4%} of outputs identical")
    assert np.mean(got == want) >= 0.99


def test_unquantized_conv_runs_on_float_fallback() -> None:
    """A Conv whose weights carry no Q/DQ stays float (reported) and runs on the float32
    fallback kernel, reading its QDQ-quantized input dequantized."""
    w = RNG.standard_normal((4, 3, 3, 3)).astype(np.float32)
    nodes = [
        helper.make_node("QuantizeLinear", ["x", "sx", "zx"], ["xq"], name="q_x"),
        helper.make_node("DequantizeLinear", ["xq", "sx", "zx"], ["xd"], name="dq_x"),
        helper.make_node("Conv", ["xd", "w"], ["y"], name="conv", pads=[1, 1, 1, 1]),
    ]
    m = make_model(nodes, {"x": (1, 3, 6, 6)}, ["y"],
                   [init("sx", np.float32(0.02)), init("zx", np.uint8(128)), init("w", w)])
    with pytest.warns(UserWarning, match="Conv 'conv'"):
        graph = import_quantized_onnx(m)
    x = RNG.uniform(-2.5, 2.5, (1, 3, 6, 6)).astype(np.float32)
    got = int8rt.Session(graph).run(None, {"x": x})[0]
    np.testing.assert_allclose(got, run_ort(m, {"x": x})[0], rtol=1e-5, atol=1e-5)
