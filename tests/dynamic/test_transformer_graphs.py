"""Small transformer encoders exported from torch (decomposed layer norm at opset 14, fused at
17; erf GELU; padding mask through Where; shape subgraphs from .size()) run in the dynamic
path: float plan against ONNX Runtime, dynamic int8 and weight-only against the float plan,
several sequence lengths through one session."""

from __future__ import annotations

import functools
import io

import numpy as np
import pytest

torch = pytest.importorskip("torch")
onnx = pytest.importorskip("onnx")
ort = pytest.importorskip("onnxruntime")

import int8rt
from int8rt.dynamic import onnx_graph, prepare


class TinyEncoder(torch.nn.Module):
    def __init__(self, vocab=50, d=64, heads=4, ff=128, layers=2):
        super().__init__()
        torch.manual_seed(0)
        self.emb = torch.nn.Embedding(vocab, d)
        self.pos = torch.nn.Embedding(64, d)
        self.heads = heads
        self.layers = torch.nn.ModuleList()
        for _ in range(layers):
            self.layers.append(torch.nn.ModuleDict({
                "qkv": torch.nn.Linear(d, 3 * d), "out": torch.nn.Linear(d, d),
                "ln1": torch.nn.LayerNorm(d), "ln2": torch.nn.LayerNorm(d),
                "ff1": torch.nn.Linear(d, ff), "ff2": torch.nn.Linear(ff, d)}))

    def forward(self, ids, mask):
        b, s = ids.size()
        pos = torch.arange(s).unsqueeze(0).expand(b, s)
        x = self.emb(ids) + self.pos(pos)
        neg = (mask == 0).unsqueeze(1).unsqueeze(2)  # [b, 1, 1, s]
        for blk in self.layers:
            q, k, v = blk["qkv"](x).split(x.size(-1), dim=-1)
            hd = x.size(-1) // self.heads

            def heads(t, hd=hd):
                return t.view(b, s, self.heads, hd).transpose(1, 2)

            att = heads(q) @ heads(k).transpose(-1, -2) / hd ** 0.5
            att = att.masked_fill(neg, float("-inf")).softmax(-1)
            o = (att @ heads(v)).transpose(1, 2).reshape(b, s, -1)
            x = blk["ln1"](x + blk["out"](o))
            x = blk["ln2"](x + blk["ff2"](torch.nn.functional.gelu(blk["ff1"](x))))
        w = mask.unsqueeze(-1).to(x.dtype)
        return (x * w).sum(1) / w.sum(1)


@functools.cache
def export(opset: int) -> bytes:
    m = TinyEncoder().eval()
    ids = torch.ones(1, 8, dtype=torch.long)
    f = io.BytesIO()
    torch.onnx.export(m, (ids, torch.ones_like(ids)), f, input_names=["ids", "mask"],
                      output_names=["emb"], opset_version=opset, dynamo=False,
                      dynamic_axes={"ids": {0: "b", 1: "s"}, "mask": {0: "b", 1: "s"}})
    return f.getvalue()


def feeds(b, s, seed=0):
    rng = np.random.default_rng(seed)
    ids = rng.integers(0, 50, (b, s)).astype(np.int64)
    mask = np.ones((b, s), np.int64)
    mask[0, s - 2:] = 0  # padding
    return {"ids": ids, "mask": mask}


def cos(a, b):
    a, b = a.reshape(a.shape[0], -1), b.reshape(b.shape[0], -1)
    return (a * b).sum(1) / np.linalg.norm(a, axis=1) / np.linalg.norm(b, axis=1)


@pytest.fixture(scope="module", params=[14, 17])
def model(request):
    return onnx.load_from_string(export(request.param))


def test_fusions(model):
    g = prepare.prepare(onnx_graph.load(model))
    ops = [n.op for n in g.nodes]
    assert ops.count("LayerNormalization") == 4, "decomposed layer norms must fuse"
    assert ops.count("Gelu") == 2 and "Erf" not in ops
    assert ops.count("Linear") == 8


def test_float_plan_matches_ort_over_shapes(model):
    sess = int8rt.Session(int8rt.quantize(model, mode="float").graph)
    ref = ort.InferenceSession(model.SerializeToString(), providers=["CPUExecutionProvider"])
    for b, s in ((1, 8), (2, 13), (1, 40), (1, 8)):
        f = feeds(b, s)
        (y,) = sess.run(None, f)
        (r,) = ref.run(None, f)
        np.testing.assert_allclose(y, r, atol=2e-5, rtol=1e-4)
    assert len(sess._plans) == 3  # one plan per shape, reused


@pytest.mark.parametrize("kw,min_cos", [({"mode": "dynamic"}, 0.995),
                                        ({"mode": "dynamic", "per_row": False}, 0.99),
                                        ({"mode": "weight_only", "bits": 8, "group": 32}, 0.999),
                                        ({"mode": "weight_only", "bits": 4, "group": 32}, 0.95),
                                        ({"mode": "weight_only", "bits": 4, "group": 32,
                                          "symmetric": False, "embedding_bits": 8}, 0.95),
                                        ({"mode": "weight_only", "bits": 4, "group": 32,
                                          "symmetric": False, "int8_nodes": ["*"]}, 0.995)])
def test_quantized_close_to_float(model, kw, min_cos, tmp_path):
    flt = int8rt.Session(int8rt.quantize(model, mode="float").graph)
    qm = int8rt.quantize(model, **kw)
    qm.save(tmp_path / "m.i8")
    sess = int8rt.Session(str(tmp_path / "m.i8"))  # through the file
    for b, s in ((1, 8), (3, 21)):
        f = feeds(b, s, seed=s)
        (y,) = sess.run(None, f)
        (r,) = flt.run(None, f)
        assert cos(y, r).min() >= min_cos


def test_int4_options_make_the_ops_they_name(model, tmp_path):
    """symmetric=False: int4 WOLinears with a zero-point input (uint8 in [0, 15]);
    embedding_bits=8: int8 WOGather tables; int8_nodes: matching Linears as DynQLinear. The
    file round trip keeps them and the session agrees with the numpy reference run (float
    ops such as attention round differently, hence a tolerance)."""
    from int8rt.dynamic.specialize import evaluate

    qm = int8rt.quantize(model, mode="weight_only", bits=4, group=32, symmetric=False,
                         embedding_bits=8, int8_nodes=["*ff1*", "*Gemm_3*"])
    qm.save(tmp_path / "m.i8")
    g = int8rt.Session(str(tmp_path / "m.i8")).graph
    wo = [n for n in g.nodes if n.op == "WOLinear"]
    assert wo and all(len(n.inputs) == 5 and n.attrs["bits"] == 4 for n in wo)
    for n in wo:
        z = g.const(n.inputs[4])
        assert z.dtype == np.uint8 and z.max() <= 15
    assert {n.attrs["bits"] for n in g.nodes if n.op == "WOGather"} == {8}
    dq = [n.name for n in g.nodes if n.op == "DynQLinear"]
    assert dq and all("ff1" in n or "Gemm_3" in n for n in dq)
    f = feeds(2, 11, seed=3)
    (y,) = int8rt.Session(str(tmp_path / "m.i8")).run(None, f)
    r = evaluate(g, f)[g.outputs[0]]  # the numpy reference of every op, W4A8 included
    np.testing.assert_allclose(y, r, rtol=1e-4, atol=1e-5)


def test_int4_gptq_with_calibration(model):
    """Calibration feeds make weight-only int4 use GPTQ (quant/gptq.py): other int4 weights
    than round-to-nearest, the same ops and format, close to float."""
    calib = [feeds(1, s, seed=100 + s) for s in (9, 14, 20)]
    kw = {"mode": "weight_only", "bits": 4, "group": 32, "symmetric": False}
    rtn = int8rt.quantize(model, **kw)
    gq = int8rt.quantize(model, calib, **kw)
    w_rtn = {n.name: rtn.graph.const(n.inputs[1]) for n in rtn.graph.nodes
             if n.op == "WOLinear"}
    w_gq = {n.name: gq.graph.const(n.inputs[1]) for n in gq.graph.nodes if n.op == "WOLinear"}
    assert w_rtn.keys() == w_gq.keys() and w_rtn
    assert any(not np.array_equal(w_rtn[n], w_gq[n]) for n in w_rtn)
    flt = int8rt.Session(int8rt.quantize(model, mode="float").graph)
    f = feeds(2, 17, seed=5)
    (y,) = int8rt.Session(gq.graph).run(None, f)
    (r,) = flt.run(None, f)
    assert cos(y, r).min() >= 0.95


def test_cli_weight_only_int4_options(model, tmp_path):
    """`int8rt quantize --weight-only --bits 4 --zero-points --embedding-bits 8 --calib x.npz`
    writes zero-point int4 Linears, an int8 table, and GPTQ weights (other than without
    --calib)."""
    from int8rt.cli import main

    onnx.save(model, tmp_path / "m.onnx")
    f = [feeds(1, 12, seed=s) for s in range(3)]
    np.savez(tmp_path / "c.npz", ids=np.concatenate([x["ids"] for x in f]),
             mask=np.concatenate([x["mask"] for x in f]))
    base = ["quantize", str(tmp_path / "m.onnx"), "--weight-only", "--bits", "4", "--group",
            "32", "--zero-points", "--embedding-bits", "8"]
    assert main([*base, "-o", str(tmp_path / "rtn.i8")]) == 0
    assert main([*base, "--calib", str(tmp_path / "c.npz"), "-o", str(tmp_path / "gq.i8")]) == 0
    g = int8rt.Session(str(tmp_path / "gq.i8")).graph
    assert all(len(n.inputs) == 5 for n in g.nodes if n.op == "WOLinear")
    assert {n.attrs["bits"] for n in g.nodes if n.op == "WOGather"} == {8}
    assert (tmp_path / "rtn.i8").read_bytes() != (tmp_path / "gq.i8").read_bytes()


def test_int4_file_is_small(model, tmp_path):
    int8rt.quantize(model, mode="float").save(tmp_path / "f.i8")
    int8rt.quantize(model, mode="weight_only", bits=4, group=32).save(tmp_path / "q.i8")
    ratio = (tmp_path / "q.i8").stat().st_size / (tmp_path / "f.i8").stat().st_size
    assert ratio < 0.3


def test_bad_feeds_raise(model):
    sess = int8rt.Session(int8rt.quantize(model, mode="dynamic").graph)
    with pytest.raises(ValueError, match="feed"):
        sess.run(None, {"ids": np.ones((1, 4), np.int64)})
    f = feeds(1, 6)
    f["ids"][0, 0] = 50  # outside the embedding table
    with pytest.raises(ValueError, match="out of range"):
        sess.run(None, f)


def test_unsupported_op_is_named():
    from onnx import TensorProto, helper

    node = helper.make_node("Hardmax", ["x"], ["y"], name="hm")
    g = helper.make_graph([node], "g", [helper.make_tensor_value_info("x", TensorProto.FLOAT,
                                                                      [1, 4])],
                          [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, 4])])
    with pytest.raises(onnx_graph.UnsupportedOpError, match="Hardmax.*hm"):
        onnx_graph.load(helper.make_model(g))


@pytest.mark.parametrize("flags", [["--dynamic"], ["--weight-only", "--bits", "4",
                                                   "--group", "32"]])
def test_cli_quantize_without_calibration(tmp_path, flags):
    from int8rt import cli

    src = tmp_path / "m.onnx"
    src.write_bytes(export(17))
    out = tmp_path / "m.i8"
    assert cli.main(["quantize", str(src), *flags, "-o", str(out)]) == 0
    sess = int8rt.Session(str(out))
    (y,) = sess.run(None, feeds(2, 9))
    assert y.shape == (2, 64) and np.isfinite(y).all()
