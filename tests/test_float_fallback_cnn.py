"""Static quantization of CNNs with ops int8rt has no int8 kernel for (issue 21 item 5): the
node, and what must follow it, runs in float32 between Dequantize / Quantize on the dynamic
path's float records inside the same static plan; the result says which nodes and why.

The models are the ops CNN exports really carry in the middle of the network: channel /
spatial attention (ReduceMean / ReduceMax over the channels, CBAM), a ReduceSum whose axes are
an input (opset 13), ConvNeXt's LayerNormalization over the channels, a non-local block
(MatMul of activations), a constant mask (Where) and an L2-normalized embedding (ReduceL2 /
Div, and torch's F.normalize with its Clip and Expand). Each: the native plan equals the
numpy reference program bit for bit on every kernel path this CPU has (the AVX2 layernorm
rows sum in another order than the reference, within the layer-norm tolerance, which the int8
output step absorbs on these inputs: tests/kernels/test_layernorm_residual.py checks the
record itself), and the outputs track onnxruntime's float32 ones.
"""

from __future__ import annotations

import warnings

import numpy as np
import pytest

onnx = pytest.importorskip("onnx")
ort = pytest.importorskip("onnxruntime")

from onnx import TensorProto, helper, numpy_helper

import int8rt
from int8rt import _native
from int8rt.frontend.onnx import UnsupportedOpError
from int8rt.lower import lower
from int8rt.quant.ptq import BRIDGE, NO_KERNEL
from int8rt.reference.program import run_program

N = helper.make_node


class _Builder:
    def __init__(self) -> None:
        self.rng = np.random.default_rng(0)
        self.nodes: list = []
        self.inits: list = []

    def w(self, name: str, *shape: int, s: float = 0.3) -> str:
        arr = (self.rng.standard_normal(shape) * s).astype(np.float32)
        self.inits.append(numpy_helper.from_array(arr, name))
        return name

    def c(self, name: str, arr: np.ndarray) -> str:
        self.inits.append(numpy_helper.from_array(np.asarray(arr), name))
        return name

    def conv(self, x: str, y: str, ic: int, oc: int, stride: int = 1) -> None:
        self.nodes += [N("Conv", [x, self.w(f"{y}_w", oc, ic, 3, 3), self.w(f"{y}_b", oc)],
                         [f"{y}_c"], pads=[1, 1, 1, 1], strides=[stride, stride], name=y),
                       N("Relu", [f"{y}_c"], [y], name=f"{y}_relu")]

    def head(self, x: str, c: int, y: str = "y") -> None:
        self.nodes += [N("GlobalAveragePool", [x], ["gp"], name="gap"),
                       N("Flatten", ["gp"], ["fl"], name="flat"),
                       N("Gemm", ["fl", self.w("fc_w", 10, c), self.w("fc_b", 10)], [y],
                         transB=1, name="fc")]

    def model(self, y: str = "y", ny: int = 10) -> onnx.ModelProto:
        g = helper.make_graph(
            self.nodes, "g", [helper.make_tensor_value_info("x", TensorProto.FLOAT,
                                                            [1, 3, 16, 16])],
            [helper.make_tensor_value_info(y, TensorProto.FLOAT, [1, ny])], self.inits)
        m = helper.make_model(g, opset_imports=[helper.make_opsetid("", 17)])
        m.ir_version = 8
        onnx.checker.check_model(m)
        return m


def attention_model() -> onnx.ModelProto:
    """CBAM spatial attention, a channel sum with its axes as an input, an L2-normalized
    embedding."""
    b = _Builder()
    b.conv("x", "c1", 3, 8)
    b.nodes += [N("ReduceMean", ["c1"], ["cm"], axes=[1], keepdims=1, name="chan_mean"),
                N("ReduceMax", ["c1"], ["cx"], axes=[1], keepdims=1, name="chan_max"),
                N("Concat", ["cm", "cx"], ["cc"], axis=1, name="cat"),
                N("Conv", ["cc", b.w("wa", 1, 2, 3, 3), b.w("ba", 1)], ["ca"],
                  pads=[1, 1, 1, 1], name="att_conv"),
                N("Sigmoid", ["ca"], ["sa"], name="att_sigmoid"),
                N("Mul", ["c1", "sa"], ["m1"], name="att_mul"),
                N("ReduceSum", ["m1", b.c("ax", np.array([1], np.int64))], ["rs"], keepdims=1,
                  name="chan_sum"),
                N("Add", ["m1", "rs"], ["ad"], name="add_sum")]
    b.conv("ad", "c2", 8, 16, stride=2)
    b.head("c2", 16, y="emb")
    b.nodes += [N("ReduceL2", ["emb"], ["nrm"], axes=[1], keepdims=1, name="l2norm"),
                N("Div", ["emb", "nrm"], ["y"], name="l2div")]
    return b.model()


def nonlocal_model() -> onnx.ModelProto:
    """A non-local block: theta^T phi affinity (MatMul of activations), softmax over the
    positions, context MatMul, a constant mask (Where), residual add."""
    b = _Builder()
    b.conv("x", "c1", 3, 8, stride=2)
    shape = lambda name, *s: b.c(name, np.array(s, np.int64))
    b.nodes += [N("Conv", ["c1", b.w("wt", 4, 8, 1, 1)], ["th"], name="theta"),
                N("Conv", ["c1", b.w("wp", 4, 8, 1, 1)], ["ph"], name="phi"),
                N("Reshape", ["th", shape("s_th", 1, 4, 64)], ["th3"], name="th_flat"),
                N("Reshape", ["ph", shape("s_ph", 1, 4, 64)], ["ph3"], name="ph_flat"),
                N("Transpose", ["th3"], ["tht"], perm=[0, 2, 1], name="th_t"),
                N("MatMul", ["tht", "ph3"], ["aff"], name="affinity"),
                N("Softmax", ["aff"], ["att"], axis=-1, name="att_softmax"),
                N("Reshape", ["c1", shape("s_g", 1, 8, 64)], ["g3"], name="g_flat"),
                N("MatMul", ["g3", "att"], ["ctx"], name="context"),
                N("Where", [b.c("mask", b.rng.random((1, 8, 64)) > 0.2), "ctx",
                            b.c("fill", np.zeros((), np.float32))], ["ctxm"], name="masked"),
                N("Reshape", ["ctxm", shape("s_4d", 1, 8, 8, 8)], ["ctx4"], name="ctx_4d"),
                N("Add", ["c1", "ctx4"], ["nl"], name="residual")]
    b.conv("nl", "c2", 8, 16)
    b.head("c2", 16)
    return b.model()


def layernorm_model() -> onnx.ModelProto:
    """ConvNeXt's channel LayerNorm: NCHW -> NHWC, LayerNormalization, back."""
    b = _Builder()
    b.conv("x", "c1", 3, 8, stride=2)
    b.nodes += [N("Transpose", ["c1"], ["t"], perm=[0, 2, 3, 1], name="to_nhwc"),
                N("LayerNormalization", ["t", b.w("g", 8, s=1.0), b.w("bt", 8)], ["ln"],
                  axis=-1, epsilon=1e-6, name="ln"),
                N("Transpose", ["ln"], ["tb"], perm=[0, 3, 1, 2], name="to_nchw")]
    b.conv("tb", "c2", 8, 16)
    b.head("c2", 16)
    return b.model()


def torch_model(tmp_path) -> onnx.ModelProto:
    """The same ops as torch exports them (CBAM attention, nn.LayerNorm over channels,
    F.normalize: ReduceL2, Clip, Expand, Div)."""
    torch = pytest.importorskip("torch")
    nn, F = torch.nn, torch.nn.functional

    class Net(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.c1 = nn.Conv2d(3, 8, 3, padding=1)
            self.att = nn.Conv2d(2, 1, 3, padding=1)
            self.c2 = nn.Conv2d(8, 16, 3, padding=1, stride=2)
            self.ln = nn.LayerNorm(16)
            self.fc = nn.Linear(16, 10)

        def forward(self, x):
            x = F.relu(self.c1(x))
            a = torch.cat([x.mean(dim=1, keepdim=True), x.amax(dim=1, keepdim=True)], dim=1)
            x = x * torch.sigmoid(self.att(a))
            x = F.relu(self.c2(x))
            x = self.ln(x.permute(0, 2, 3, 1)).permute(0, 3, 1, 2)
            return F.normalize(self.fc(x.mean(dim=(2, 3))), dim=1)

    torch.manual_seed(0)
    path = tmp_path / "t.onnx"
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # the TorchScript exporter's deprecation notice
        torch.onnx.export(Net().eval(), torch.randn(1, 3, 16, 16), str(path), opset_version=17,
                          input_names=["x"], output_names=["y"], dynamo=False)
    return onnx.load(str(path))


# model -> the nodes that must run in float32; every other op runs in int8. All have no int8
# kernel, but the non-local block's Softmax, which sits between two float MatMuls (BRIDGE)
CASES = {
    "attention": (attention_model, {"chan_mean": "ReduceMean", "chan_max": "ReduceMax",
                                    "chan_sum": "ReduceSum", "l2norm": "ReduceL2",
                                    "l2div": "Div"}),
    "nonlocal": (nonlocal_model, {"affinity": "MatMul", "context": "MatMul",
                                  "masked": "Where", "att_softmax": "Softmax"}),
    "layernorm": (layernorm_model, {"ln": "LayerNormalization"}),
}


def _calib(n: int = 12) -> list[np.ndarray]:
    rng = np.random.default_rng(1)
    return [rng.standard_normal((1, 3, 16, 16)).astype(np.float32) for _ in range(n)]


def _check_tracks_ort(model: onnx.ModelProto, sess: int8rt.Session, xs) -> None:
    ref = ort.InferenceSession(model.SerializeToString())
    for x in xs:
        want = ref.run(None, {"x": x})[0]
        got = sess.run(None, {"x": x})[0]
        assert got.shape == want.shape
        # int8 convolutions around the float nodes: a few output steps, and the direction
        # (a reduction over the wrong axis or layout would be far off both)
        assert np.max(np.abs(got - want)) <= 0.06 * np.max(np.abs(want)), (got, want)
        cos = float(np.sum(got * want) / np.linalg.norm(got) / np.linalg.norm(want))
        assert cos > 0.995, cos


@pytest.fixture(params=_native.available_isas())
def isa(request):
    before = _native.isa()
    _native.set_isa(request.param)
    yield request.param
    _native.set_isa(before)


@pytest.mark.parametrize("name", sorted(CASES))
def test_ops_without_int8_kernel_run_in_float32(name: str, isa: str) -> None:
    build, expected = CASES[name]
    model = build()
    xs = _calib()
    qm = int8rt.quantize(model, xs, progress=False)
    report = {node: (op, why) for op, node, why in qm.float_ops}
    assert report == {node: (op, BRIDGE if op == "Softmax" else NO_KERNEL)
                      for node, op in expected.items()}
    g = qm.graph
    for n in g.nodes:  # the convolutions around them stay int8
        if n.op == "Conv":
            assert g.tensor(n.inputs[0]).dtype == "int8" and n.name not in report
        if n.name in report:  # between Dequantize / Quantize: float32 in and out
            assert all(g.tensor(t).dtype in ("float32", "bool") for t in (*n.inputs, *n.outputs)
                       if t)
    sess = int8rt.Session(qm)
    program = lower(g)
    for x in xs[:4]:
        assert np.array_equal(sess.run(None, {"x": x})[0], run_program(program, [x])[0])
    batch = np.concatenate(xs[:4])  # any thread count: the same bits
    assert np.array_equal(int8rt.Session(qm, threads=2).run(None, {"x": batch})[0],
                          int8rt.Session(qm, threads=1).run(None, {"x": batch})[0])
    _check_tracks_ort(model, sess, xs[:4])


def test_torch_export_with_f_normalize_layernorm_and_attention(tmp_path) -> None:
    """torch's export of the same ops: the Clip of F.normalize sits between float nodes and
    runs in float32 too (no Quantize / Dequantize round trip); the file round-trips and a
    batch of 3 (the model was imported at batch 1) gives each sample's result."""
    model = torch_model(tmp_path)
    xs = _calib()
    qm = int8rt.quantize(model, xs, progress=False)
    report = {op: why for op, _, why in qm.float_ops}
    assert report == {"ReduceMean": NO_KERNEL, "ReduceMax": NO_KERNEL,
                      "LayerNormalization": NO_KERNEL, "ReduceL2": NO_KERNEL,
                      "Clip": BRIDGE, "Expand": NO_KERNEL, "Div": NO_KERNEL}
    qm.save(tmp_path / "t.i8")
    sess = int8rt.Session(str(tmp_path / "t.i8"))
    _check_tracks_ort(model, sess, xs[:4])
    batch = sess.run(None, {"x": np.concatenate(xs[:3])})[0]
    one = np.concatenate([sess.run(None, {"x": x})[0] for x in xs[:3]])
    assert np.array_equal(batch, one)


def test_float_nodes_keeps_a_named_node_float_on_purpose() -> None:
    qm = int8rt.quantize(attention_model(), _calib(), progress=False, float_nodes=["c2"])
    ops = {node: why for _, node, why in qm.float_ops}
    assert ops["c2"].startswith("kept float on request") and ops["chan_sum"] == NO_KERNEL
    conv = next(n for n in qm.graph.nodes if n.name == "c2")
    assert qm.graph.tensor(conv.outputs[0]).dtype == "float32"  # the f32conv fallback


@pytest.mark.parametrize("node, why", [
    (N("ReduceMean", ["c1"], ["r"], axes=[1, 3], keepdims=1, name="gapped"),
     "ReduceMean (node 'gapped'): reduces contiguous axes only"),
    (N("LayerNormalization", ["c1", "g"], ["r"], axis=1, name="ln_c"),
     "LayerNormalization (node 'ln_c'): normalizes the last axis only"),
    (N("ReduceMin", ["c1"], ["r"], axes=[1], keepdims=1, name="rmin"),
     "ReduceMin (node 'rmin')"),
    (N("Where", ["c1", "c1", "c1"], ["r"], name="w_act"),
     "Where (node 'w_act'): the condition must be a constant bool tensor"),
])
def test_an_op_no_path_runs_is_refused_naming_op_and_node(node, why: str) -> None:
    """Refused at import, before calibration, with the op, the node and the reason."""
    b = _Builder()
    b.conv("x", "c1", 3, 8)
    b.w("g", 8, 16, 16)
    b.nodes += [node, N("Flatten", ["r"], ["y"], name="flat")]
    with pytest.raises(UnsupportedOpError) as e:
        int8rt.quantize(b.model(ny=1), _calib(2), progress=False)  # (declared size unread)
    assert why in str(e.value), str(e.value)


@pytest.mark.parametrize("key, value", [("axes", [3]), ("axes", [0, 2]), ("axes", []),
                                        ("keepdims", 0), ("axes", [[1]]), ("axes", ["a"])])
def test_a_file_whose_attributes_contradict_its_shapes_is_refused(tmp_path, key, value) -> None:
    """The float records size themselves from the attributes: a .i8 file whose ReduceSum
    attributes do not give the output shape it records is a clear error, not a plan that
    leaves part of the output unwritten (attributes of the wrong kind are refused by
    validation already, when the graph is saved)."""
    from int8rt import format as i8format

    qm = int8rt.quantize(attention_model(), _calib(2), progress=False)
    g = qm.graph
    next(n for n in g.nodes if n.name == "chan_sum").attrs[key] = value
    with pytest.raises(ValueError, match="'chan_sum'"):
        i8format.save(g, tmp_path / "bad.i8")
        int8rt.Session(str(tmp_path / "bad.i8"))
