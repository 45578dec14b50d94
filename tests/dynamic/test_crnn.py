"""Convolutions on the dynamic (ONNX-layout) path and CRNN-style models (the dq_conv record
against its numpy reference is tests/kernels/test_dqconv.py): MaxPool and float Conv references
match ONNX Runtime, a torch-exported CNN + BiLSTM + Linear model
quantizes with mode="static" (calibrated convs, dynamic LSTM / Linear, reported) and with
mode="dynamic", at variable image widths, and ONNX Runtime `quantize_dynamic` files import and
run with their own int8 weights."""

from __future__ import annotations

import io
import warnings

import numpy as np
import pytest

onnx = pytest.importorskip("onnx")  # a Pi runtime install has none of the three
ort = pytest.importorskip("onnxruntime")
torch = pytest.importorskip("torch")
from onnx import TensorProto, helper, numpy_helper

import int8rt
from int8rt.dynamic.ort_integer import OrtImportError, import_ort_dynamic
from int8rt.reference.onnx_ops import OPS
from tests.dynamic.helpers import run_op
from tests.kernels.test_dqconv import CONV_CASES, _conv_case


def _ort_single(op, x, attrs, w=None, b=None):
    inits = [] if w is None else [numpy_helper.from_array(w, "w")] + (
        [] if b is None else [numpy_helper.from_array(b, "b")])
    ins = ["x"] + ([] if w is None else ["w"]) + ([] if b is None else ["b"])
    node = helper.make_node(op, ins, ["y"], **attrs)
    g = helper.make_graph([node], "g", [helper.make_tensor_value_info(
        "x", TensorProto.FLOAT, list(x.shape))], [helper.make_tensor_value_info(
            "y", TensorProto.FLOAT, None)], initializer=inits)
    m = helper.make_model(g, opset_imports=[helper.make_opsetid("", 17)])
    return ort.InferenceSession(m.SerializeToString(),
                                providers=["CPUExecutionProvider"]).run(None, {"x": x})[0]


@pytest.mark.parametrize("case", range(len(CONV_CASES)))
def test_float_conv_reference_matches_onnxruntime(case):
    xs, ws, attrs = CONV_CASES[case]
    x, w, b = _conv_case(xs, ws, case)
    (ref,) = OPS["Conv"]([x, w, b], attrs)
    np.testing.assert_allclose(ref, _ort_single("Conv", x, attrs, w, b), atol=2e-5)


@pytest.mark.parametrize("shape,attrs", [
    ((1, 3, 8, 10), {"kernel_shape": [2, 2], "strides": [2, 2]}),
    ((2, 4, 9, 7), {"kernel_shape": [2, 1], "strides": [2, 1]}),
    ((1, 2, 7, 7), {"kernel_shape": [3, 3]}),
    ((1, 2, 8, 9), {"kernel_shape": [2, 2], "strides": [1, 2], "dilations": [2, 1]}),
])
def test_maxpool_native_and_reference_match_onnxruntime(shape, attrs):
    x = np.random.default_rng(1).standard_normal(shape).astype(np.float32)
    want = _ort_single("MaxPool", x, attrs)
    (ref,) = OPS["MaxPool"]([x], attrs)
    (got,) = run_op("MaxPool", {"x": x}, {}, ["x"], attrs)
    assert np.array_equal(ref, want)
    assert np.array_equal(got, want)


class TinyCRNN(torch.nn.Module):
    """tools/crnn_check.py's architecture, narrower: conv/relu/pool x3, BiLSTM, Linear."""

    def __init__(self):
        super().__init__()
        torch.manual_seed(0)
        c = torch.nn.Conv2d
        self.cnn = torch.nn.Sequential(
            c(1, 8, 3, padding=1), torch.nn.ReLU(), torch.nn.MaxPool2d(2),
            c(8, 16, 3, padding=1), torch.nn.ReLU(), torch.nn.MaxPool2d(2),
            c(16, 16, 3, padding=1), torch.nn.ReLU(), torch.nn.MaxPool2d((2, 1)))
        self.rnn = torch.nn.LSTM(16 * 2, 24, bidirectional=True)
        self.fc = torch.nn.Linear(48, 11)

    def forward(self, x):
        f = self.cnn(x)
        b, c, h, w = f.shape
        return self.fc(self.rnn(f.permute(3, 0, 1, 2).reshape(w, b, c * h))[0])


@pytest.fixture(scope="module")
def crnn_onnx() -> bytes:
    f = io.BytesIO()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        torch.onnx.export(TinyCRNN().eval(), (torch.zeros(1, 1, 16, 32),), f,
                          input_names=["image"], output_names=["logits"], opset_version=17,
                          dynamo=False,
                          dynamic_axes={"image": {0: "b", 3: "w"}, "logits": {0: "t", 1: "b"}})
    return f.getvalue()


def _images(widths, seed=0):
    rng = np.random.default_rng(seed)
    return [rng.random((1, 1, 16, w), np.float32) for w in widths]


def _rel_err(a, b):
    return float(np.abs(a - b).max() / np.abs(b).max())


def test_crnn_static_calibrated_convs_dynamic_lstm(crnn_onnx, tmp_path):
    ref = ort.InferenceSession(crnn_onnx, providers=["CPUExecutionProvider"])
    calib = _images([32, 48, 64, 40], seed=1)
    qm = int8rt.quantize(onnx.load_from_string(crnn_onnx), calib, mode="static",
                         progress=False)
    report = qm.graph.meta["quantization"]
    ops = {n.name: n for n in qm.graph.nodes}
    assert report["mode"] == "static+dynamic" and report["calibration_samples"] == 4
    assert len(report["static_int8"]) == 3
    assert all(ops[n].op == "DynQConv" and ops[n].attrs["amax"] > 0
               for n in report["static_int8"])
    assert sorted(ops[n].op for n in report["dynamic_int8"]) == ["DynQLSTM", "DynQLinear"]
    # the first conv's range is the calibration images' maximum
    first = next(n for n in qm.graph.nodes if n.op == "DynQConv")
    assert first.attrs["amax"] == pytest.approx(max(float(c.max()) for c in calib))
    sess = int8rt.Session(qm)
    for x in _images([32, 56, 96], seed=2):  # variable width, unseen widths included
        (want,) = ref.run(None, {"image": x})
        (got,) = sess.run(None, {"image": x})
        assert got.shape == want.shape == (x.shape[3] // 4, 1, 11)
        assert _rel_err(got, want) < 0.05
    # the .i8 file keeps the static ranges
    qm.save(tmp_path / "crnn_static.i8")
    again = int8rt.Session(str(tmp_path / "crnn_static.i8"))
    x = _images([40], seed=3)[0]
    assert np.array_equal(again.run(None, {"image": x})[0], sess.run(None, {"image": x})[0])


def test_crnn_dynamic_mode_quantizes_convs(crnn_onnx, tmp_path):
    ref = ort.InferenceSession(crnn_onnx, providers=["CPUExecutionProvider"])
    qm = int8rt.quantize(onnx.load_from_string(crnn_onnx), mode="dynamic")
    convs = [n for n in qm.graph.nodes if n.op == "DynQConv"]
    assert len(convs) == 3 and all("amax" not in n.attrs for n in convs)
    qm.save(tmp_path / "crnn.i8")
    sess = int8rt.Session(str(tmp_path / "crnn.i8"))
    for x in _images([24, 64], seed=4):
        assert _rel_err(sess.run(None, {"image": x})[0], ref.run(None, {"image": x})[0]) < 0.05


def test_static_mode_asks_for_calibration_with_an_lstm(crnn_onnx):
    with pytest.raises(ValueError, match="needs calibration data for the convolutions"):
        int8rt.quantize(onnx.load_from_string(crnn_onnx), mode="static")
    with pytest.raises(ValueError, match="method='minmax' only"):
        int8rt.quantize(onnx.load_from_string(crnn_onnx), _images([32]), method="entropy",
                        progress=False)


def _ort_quantize(model_bytes: bytes, tmp_path, **kw) -> bytes:
    from onnxruntime.quantization import quantize_dynamic

    src, dst = tmp_path / "m.onnx", tmp_path / "m_q.onnx"
    src.write_bytes(model_bytes)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        quantize_dynamic(str(src), str(dst), **kw)
    return dst.read_bytes()


def _check_import(fp32: bytes, quant: bytes, feeds_list, name: str):
    """int8rt runs the ORT file with the file's own weights; its distance to fp32 stays within
    ORT's own int8-vs-fp32 distance (x 1.25, on the mean over the inputs)."""
    ref = ort.InferenceSession(fp32, providers=["CPUExecutionProvider"])
    oq = ort.InferenceSession(quant, providers=["CPUExecutionProvider"])
    sess = int8rt.Session(int8rt.quantize(onnx.load_from_string(quant)))
    ours, theirs = [], []
    for feeds in feeds_list:
        (want,) = ref.run(None, feeds)
        ours.append(np.abs(sess.run(None, feeds)[0] - want).mean())
        theirs.append(np.abs(oq.run(None, feeds)[0] - want).mean())
    assert np.mean(ours) <= 1.25 * np.mean(theirs), (name, np.mean(ours), np.mean(theirs))


def test_ort_quantize_dynamic_crnn_runs_with_its_own_weights(crnn_onnx, tmp_path):
    quant = _ort_quantize(crnn_onnx, tmp_path)
    qmodel = onnx.load_from_string(quant)
    assert {"ConvInteger", "MatMulInteger", "DynamicQuantizeLSTM"} <= {
        n.op_type for n in qmodel.graph.node}
    g = int8rt.quantize(qmodel).graph
    assert sorted({n.op for n in g.nodes if n.op.startswith("DynQ")}) == [
        "DynQConv", "DynQLSTM", "DynQLinear"]
    # the imported int8 weights are the file's (ConvInteger's, unchanged: zero point 0)
    inits = {t.name: numpy_helper.to_array(t) for t in qmodel.graph.initializer}
    conv0 = next(n for n in qmodel.graph.node if n.op_type == "ConvInteger")
    ours = next(n for n in g.nodes if n.op == "DynQConv")
    assert np.array_equal(g.const(ours.inputs[1]), inits[conv0.input[1]])
    _check_import(crnn_onnx, quant, [{"image": x} for x in _images([32, 48, 72], seed=5)],
                  "crnn")
    with pytest.raises(ValueError, match="already quantized by ONNX Runtime"):
        int8rt.quantize(qmodel, _images([32]), progress=False)


@pytest.mark.parametrize("per_channel", [False, True])
def test_ort_quantize_dynamic_matmul_model(tmp_path, per_channel):
    rng = np.random.default_rng(7)
    w1 = (rng.standard_normal((32, 64)) * 0.2).astype(np.float32)
    w2 = (rng.standard_normal((64, 10)) * 0.2).astype(np.float32)
    b1 = rng.standard_normal(64).astype(np.float32)
    nodes = [helper.make_node("MatMul", ["x", "w1"], ["h0"]),
             helper.make_node("Add", ["h0", "b1"], ["h1"]),
             helper.make_node("Relu", ["h1"], ["h2"]),
             helper.make_node("MatMul", ["h2", "w2"], ["y"])]
    g = helper.make_graph(nodes, "mlp", [helper.make_tensor_value_info(
        "x", TensorProto.FLOAT, ["b", 32])], [helper.make_tensor_value_info(
            "y", TensorProto.FLOAT, ["b", 10])], initializer=[
        numpy_helper.from_array(a, n) for a, n in ((w1, "w1"), (w2, "w2"), (b1, "b1"))])
    fp32 = helper.make_model(g, opset_imports=[helper.make_opsetid("", 17)]).SerializeToString()
    quant = _ort_quantize(fp32, tmp_path, per_channel=per_channel)
    feeds = [{"x": rng.standard_normal((b, 32)).astype(np.float32)} for b in (1, 4, 9)]
    _check_import(fp32, quant, feeds, "mlp")
    graph = int8rt.quantize(onnx.load_from_string(quant), mode="dynamic").graph
    lin = [n for n in graph.nodes if n.op == "DynQLinear"]
    assert len(lin) == 2 and len(lin[0].inputs) == 4  # the bias Add folded into the first


def test_ort_import_refuses_what_it_does_not_know():
    x = helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 4])
    y = helper.make_tensor_value_info("y", TensorProto.INT32, None)
    w = numpy_helper.from_array(np.ones((4, 3), np.int8), "w")
    nodes = [helper.make_node("DynamicQuantizeLinear", ["x"], ["q", "s", "z"]),
             helper.make_node("MatMulInteger", ["q", "w", "z"], ["y"])]  # no Cast -> Mul
    m = helper.make_model(helper.make_graph(nodes, "g", [x], [y], initializer=[w]),
                          opset_imports=[helper.make_opsetid("", 17)])
    with pytest.raises(OrtImportError, match="not followed by Cast -> Mul"):
        import_ort_dynamic(m)
