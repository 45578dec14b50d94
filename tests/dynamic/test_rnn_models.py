"""torch-exported recurrent models through int8rt.Session: a streaming LSTM / GRU whose states
are graph inputs and outputs, run over a long input in chunks with the state carried, equals
one call over the whole input (dynamic int8: every step's activations are quantized per row,
so the chunking changes nothing)."""

from __future__ import annotations

import io

import numpy as np
import pytest

torch = pytest.importorskip("torch")  # a Pi runtime install has neither
onnx = pytest.importorskip("onnx")

import int8rt


class Streaming(torch.nn.Module):
    def __init__(self, cell: str, n_in=6, hidden=24, layers=2):
        super().__init__()
        torch.manual_seed(0)
        self.cell = cell
        rnn = torch.nn.LSTM if cell == "LSTM" else torch.nn.GRU
        self.rnn = rnn(n_in, hidden, num_layers=layers)
        self.head = torch.nn.Linear(hidden, 3)

    def forward(self, x, h, c=None):
        if self.cell == "LSTM":
            y, (h, c) = self.rnn(x, (h, c))
            return self.head(y), h, c
        y, h = self.rnn(x, h)
        return self.head(y), h


def export(cell: str) -> onnx.ModelProto:
    m = Streaming(cell).eval()
    x = torch.zeros(5, 1, 6)
    h = torch.zeros(2, 1, 24)
    args = (x, h, torch.zeros_like(h)) if cell == "LSTM" else (x, h)
    ins = ["x", "h", "c"][:len(args)]
    outs = ["y", "h_out", "c_out"][:len(args)]
    f = io.BytesIO()
    torch.onnx.export(m, args, f, input_names=ins, output_names=outs, opset_version=17,
                      dynamo=False, dynamic_axes={"x": {0: "t", 1: "b"}, "h": {1: "b"},
                                                  "c": {1: "b"}, "y": {0: "t", 1: "b"}})
    return onnx.load_from_string(f.getvalue())


@pytest.mark.parametrize("cell", ["LSTM", "GRU"])
def test_streaming_chunks_equal_one_call(cell, tmp_path):
    model = export(cell)
    qm = int8rt.quantize(model, mode="dynamic")
    assert {n.op for n in qm.graph.nodes} >= {"DynQ" + cell}
    qm.save(tmp_path / "s.i8")
    sess = int8rt.Session(str(tmp_path / "s.i8"))
    rng = np.random.default_rng(0)
    x = rng.standard_normal((61, 2, 6)).astype(np.float32)
    state = [np.zeros((2, 2, 24), np.float32) for _ in range(2 if cell == "LSTM" else 1)]
    names = ["x", "h", "c"][:1 + len(state)]
    whole = sess.run(None, dict(zip(names, [x, *state])))
    ys, st = [], state
    for t0 in range(0, 61, 7):  # chunks of 7 (the last one shorter): 3 plan shapes
        out = sess.run(None, dict(zip(names, [x[t0:t0 + 7], *st])))
        ys.append(out[0])
        st = out[1:]
    assert np.array_equal(np.concatenate(ys), whole[0])
    for a, b in zip(st, whole[1:]):
        assert np.array_equal(a, b)
    two = int8rt.Session(str(tmp_path / "s.i8"), threads=2).run(None, dict(zip(names,
                                                                          [x, *state])))
    assert all(np.array_equal(a, b) for a, b in zip(two, whole))
    # and the int8 run follows torch's fp32 model
    m = Streaming(cell).eval()
    with torch.no_grad():
        ref = m(torch.from_numpy(x), *(torch.from_numpy(s) for s in state))
    assert np.abs(whole[0] - ref[0].numpy()).max() < 0.05


class Classifier(torch.nn.Module):
    """Only Y is used: Y_h / Y_c are unnamed after quantization (pruned)."""

    def __init__(self, cell):
        super().__init__()
        torch.manual_seed(1)
        rnn = torch.nn.LSTM if cell == "LSTM" else torch.nn.GRU
        self.rnn = rnn(8, 16, bidirectional=True)
        self.fc = torch.nn.Linear(32, 4)

    def forward(self, x):
        return self.fc(self.rnn(x)[0].mean(0))


@pytest.mark.parametrize("cell", ["LSTM", "GRU"])
def test_classifier_with_unused_state_outputs(cell, tmp_path):
    import onnxruntime as ort

    m = Classifier(cell).eval()
    f = io.BytesIO()
    torch.onnx.export(m, (torch.zeros(8, 2, 8),), f, input_names=["x"], output_names=["y"],
                      opset_version=17, dynamo=False, dynamic_axes={"x": {0: "t", 1: "b"}})
    model = onnx.load_from_string(f.getvalue())
    int8rt.quantize(model, mode="dynamic").save(tmp_path / "c.i8")
    sess = int8rt.Session(str(tmp_path / "c.i8"))
    x = np.random.default_rng(2).standard_normal((11, 3, 8)).astype(np.float32)
    (y,) = sess.run(None, {"x": x})
    (r,) = ort.InferenceSession(model.SerializeToString(),
                                providers=["CPUExecutionProvider"]).run(None, {"x": x})
    assert y.shape == r.shape
    assert np.abs(y - r).max() < 0.05
