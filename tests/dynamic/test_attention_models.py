"""Attention fusion on a torch-exported encoder written the way transformers' eager BERT
attention is (scores * scaling + additive float mask, softmax, · V; residual Add before each
LayerNorm; erf GELU after the first feed-forward Linear): every layer's chain becomes one
`attention` record, every residual Add joins its layer norm, every GELU joins its dynamic
matmul, and the result stays within the float tolerance of ONNX Runtime fp32."""

from __future__ import annotations

import io

import numpy as np
import pytest

import int8rt

torch = pytest.importorskip("torch")
ort = pytest.importorskip("onnxruntime")
onnx = pytest.importorskip("onnx")


class HFStyleEncoder(torch.nn.Module):
    def __init__(self, vocab=60, d=64, heads=4, ff=128, layers=2):
        super().__init__()
        torch.manual_seed(1)
        self.emb = torch.nn.Embedding(vocab, d)
        self.heads = heads
        self.blocks = torch.nn.ModuleList()
        for _ in range(layers):
            self.blocks.append(torch.nn.ModuleDict({
                "q": torch.nn.Linear(d, d), "k": torch.nn.Linear(d, d), "v": torch.nn.Linear(d, d),
                "o": torch.nn.Linear(d, d), "ln1": torch.nn.LayerNorm(d),
                "ln2": torch.nn.LayerNorm(d), "ff1": torch.nn.Linear(d, ff),
                "ff2": torch.nn.Linear(ff, d)}))

    def forward(self, ids, mask):
        b, s = ids.size()
        x = self.emb(ids)
        add = (1.0 - mask[:, None, None, :].to(x.dtype)) * torch.finfo(x.dtype).min
        hd = x.size(-1) // self.heads
        for blk in self.blocks:
            def heads(t):
                return t.view(b, s, self.heads, hd).transpose(1, 2)

            q, k, v = heads(blk["q"](x)), heads(blk["k"](x)), heads(blk["v"](x))
            att = torch.matmul(q, k.transpose(2, 3)) * hd ** -0.5
            att = (att + add).softmax(-1)
            o = torch.matmul(att, v).transpose(1, 2).reshape(b, s, -1)
            x = blk["ln1"](blk["o"](o) + x)
            x = blk["ln2"](blk["ff2"](torch.nn.functional.gelu(blk["ff1"](x))) + x)
        return x


@pytest.fixture(scope="module")
def model():
    ids = torch.ones(1, 8, dtype=torch.long)
    f = io.BytesIO()
    torch.onnx.export(HFStyleEncoder().eval(), (ids, torch.ones_like(ids)), f,
                      input_names=["ids", "mask"], output_names=["h"], opset_version=17,
                      dynamo=False, dynamic_axes={"ids": {0: "b", 1: "s"},
                                                  "mask": {0: "b", 1: "s"}})
    return onnx.load_from_string(f.getvalue())


def feeds(b, s):
    rng = np.random.default_rng(s)
    mask = np.ones((b, s), np.int64)
    mask[-1, s - 3:] = 0  # padding in the last row
    return {"ids": rng.integers(0, 60, (b, s)).astype(np.int64), "mask": mask}


def kernels(sess, f):
    plan = sess.plan_for(tuple(v.shape for v in f.values()))
    return [c.kernel for c in plan.program.calls]


@pytest.mark.parametrize("b,s", [(1, 8), (2, 21), (1, 70)])
def test_fused_float_plan_matches_ort(model, b, s):
    sess = int8rt.Session(int8rt.quantize(model, mode="float").graph)
    f = feeds(b, s)
    ks = kernels(sess, f)
    assert ks.count("attention") == 2 and "f32_softmax" not in ks
    assert ks.count("layernorm") == 4 and ks.count("f32_unary") == 2  # the float GELUs
    (y,) = sess.run(None, f)
    (r,) = ort.InferenceSession(model.SerializeToString(),
                                providers=["CPUExecutionProvider"]).run(None, f)
    np.testing.assert_allclose(y, r, atol=3e-5, rtol=1e-4)


def test_dynamic_plan_fuses_gelu_and_stays_close(model):
    f = feeds(2, 33)
    sess = int8rt.Session(int8rt.quantize(model, mode="dynamic").graph)
    ks = kernels(sess, f)
    assert ks.count("attention") == 2 and ks.count("dynq_matmul") == 12
    assert "f32_unary" not in ks  # both GELUs in their matmul's epilogue
    (y,) = sess.run(None, f)
    (r,) = ort.InferenceSession(model.SerializeToString(),
                                providers=["CPUExecutionProvider"]).run(None, f)
    a, b = y.reshape(-1, y.shape[-1]), r.reshape(-1, r.shape[-1])
    cos = (a * b).sum(1) / np.linalg.norm(a, axis=1) / np.linalg.norm(b, axis=1)
    assert cos.min() > 0.99
    two = int8rt.Session(int8rt.quantize(model, mode="dynamic").graph, threads=2)
    assert np.array_equal(two.run(None, f)[0], y)  # threads never change the bits
