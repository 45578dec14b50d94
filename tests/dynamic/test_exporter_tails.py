"""The tails real exporters emit (issue 19 item 4): L2 normalisation (ReduceL2 / Clip / Expand /
Div), ReduceSumSquare / LpNormalization, Clip with tensor bounds, Where with broadcasting,
erf / tanh GELU, attention masks of every common form, optional token_type_ids, position ids
from Range; and an op the runtime lacks is named as such, never as a dangling input."""

from __future__ import annotations

import io

import numpy as np
import pytest

torch = pytest.importorskip("torch")  # a Pi runtime install has none of the three
onnx = pytest.importorskip("onnx")
ort = pytest.importorskip("onnxruntime")
from onnx import TensorProto, helper

import int8rt
from int8rt.dynamic import onnx_graph

F = torch.nn.functional


class Pooled(torch.nn.Module):
    """A sentence-transformers-shaped encoder: embeddings (+ token types, positions from
    arange), one attention layer with a mask of the chosen form, GELU MLP, mean pooling over
    the mask and torch.nn.functional.normalize."""

    def __init__(self, mask_form: str, gelu: str, vocab=40, d=32):
        super().__init__()
        torch.manual_seed(1)
        self.mask_form, self.gelu = mask_form, gelu
        self.emb = torch.nn.Embedding(vocab, d)
        self.typ = torch.nn.Embedding(2, d)
        self.pos = torch.nn.Embedding(64, d)
        self.qkv = torch.nn.Linear(d, 3 * d)
        self.out = torch.nn.Linear(d, d)
        self.ff1 = torch.nn.Linear(d, 2 * d)
        self.ff2 = torch.nn.Linear(2 * d, d)
        self.ln = torch.nn.LayerNorm(d)

    def forward(self, ids, mask, types=None):
        s = ids.shape[1]
        pos = torch.arange(s, device=ids.device).unsqueeze(0)
        if types is None:
            types = torch.zeros_like(ids)
        x = self.emb(ids) + self.typ(types) + self.pos(pos)
        q, k, v = self.qkv(x).chunk(3, dim=-1)
        att = q @ k.transpose(-1, -2) / 32 ** 0.5
        if self.mask_form == "bool":
            att = att.masked_fill(~mask.bool().unsqueeze(1), float("-inf"))
        elif self.mask_form == "int64":
            att = torch.where(mask.unsqueeze(1) == 0, torch.tensor(-1e4), att)
        else:  # additive float, as HF's extended attention mask
            att = att + (1.0 - mask.to(att.dtype)).unsqueeze(1) * torch.finfo(att.dtype).min
        x = self.ln(x + self.out(att.softmax(-1) @ v))
        x = x + self.ff2(F.gelu(self.ff1(x), approximate=self.gelu))
        w = mask.unsqueeze(-1).expand(x.size()).to(x.dtype)
        emb = (x * w).sum(1) / torch.clamp(w.sum(1), min=1e-9)
        return F.normalize(emb, p=2, dim=1)


def export(mask_form: str, gelu: str, with_types: bool) -> onnx.ModelProto:
    m = Pooled(mask_form, gelu).eval()
    ids = torch.ones(1, 6, dtype=torch.long)
    args = (ids, torch.ones_like(ids)) + ((torch.zeros_like(ids),) if with_types else ())
    names = ["ids", "mask"] + (["types"] if with_types else [])
    f = io.BytesIO()
    torch.onnx.export(m, args, f, input_names=names, output_names=["emb"], opset_version=17,
                      dynamo=False, dynamic_axes={n: {0: "b", 1: "s"} for n in names})
    return onnx.load_from_string(f.getvalue())


def feeds(names, b, s, seed):
    rng = np.random.default_rng(seed)
    f = {"ids": rng.integers(0, 40, (b, s)).astype(np.int64),
         "mask": np.ones((b, s), np.int64), "types": rng.integers(0, 2, (b, s)).astype(np.int64)}
    f["mask"][0, s - 3:] = 0
    return {k: f[k] for k in names}


@pytest.mark.parametrize("mask_form,gelu,with_types", [("bool", "none", False),
                                                       ("int64", "tanh", True),
                                                       ("float", "none", True)])
def test_pooled_normalized_encoder(mask_form, gelu, with_types):
    model = export(mask_form, gelu, with_types)
    ops = {n.op_type for n in model.graph.node}
    assert {"ReduceL2", "Clip", "Expand", "Div", "Range"} <= ops
    names = [i.name for i in model.graph.input]
    ref = ort.InferenceSession(model.SerializeToString(), providers=["CPUExecutionProvider"])
    flt = int8rt.Session(int8rt.quantize(model, mode="float").graph)
    dyn = int8rt.Session(int8rt.quantize(model, mode="dynamic").graph)
    for b, s in ((1, 6), (3, 11)):
        f = feeds(names, b, s, seed=s)
        (r,) = ref.run(None, f)
        (y,) = flt.run(None, f)
        np.testing.assert_allclose(y, r, atol=1e-5)
        (q,) = dyn.run(None, f)
        np.testing.assert_allclose(np.linalg.norm(q, axis=1), 1, atol=1e-5)
        assert (q * r).sum(1).min() > 0.99


def _single(op, attrs, x, extra=()):
    inputs = [helper.make_tensor_value_info("x", TensorProto.FLOAT, list(x.shape))]
    inputs += [helper.make_tensor_value_info(n, TensorProto.FLOAT, list(v.shape))
               for n, v in extra]
    node = helper.make_node(op, ["x", *(n for n, _ in extra)], ["y"], name="n0", **attrs)
    g = helper.make_graph([node], "g", inputs,
                          [helper.make_tensor_value_info("y", TensorProto.FLOAT, None)])
    return helper.make_model(g, opset_imports=[helper.make_opsetid("", 17)])


@pytest.mark.parametrize("op,attrs", [("ReduceL2", {"axes": [1]}),
                                      ("ReduceL2", {"axes": [1, 2], "keepdims": 0}),
                                      ("ReduceSumSquare", {"axes": [2]}),
                                      ("ReduceL1", {"axes": [0]}),
                                      ("LpNormalization", {"axis": 1, "p": 2}),
                                      ("LpNormalization", {"axis": -1, "p": 1})])
def test_norm_ops_match_ort(op, attrs):
    x = np.random.default_rng(0).standard_normal((2, 5, 7)).astype(np.float32)
    model = _single(op, attrs, x)
    (r,) = ort.InferenceSession(model.SerializeToString(),
                                providers=["CPUExecutionProvider"]).run(None, {"x": x})
    (y,) = int8rt.Session(int8rt.quantize(model, mode="float").graph).run(None, {"x": x})
    assert y.shape == r.shape
    np.testing.assert_allclose(y, r, rtol=1e-5, atol=1e-6)


def test_clip_with_tensor_bounds_and_where_broadcast():
    x = np.random.default_rng(1).standard_normal((3, 4)).astype(np.float32)
    lo, hi = np.array(-0.5, np.float32), np.array(0.25, np.float32)
    model = _single("Clip", {}, x, (("lo", lo), ("hi", hi)))
    (y,) = int8rt.Session(int8rt.quantize(model, mode="float").graph).run(
        None, {"x": x, "lo": lo, "hi": hi})
    np.testing.assert_array_equal(y, np.clip(x, lo, hi))

    cond = helper.make_tensor_value_info("c", TensorProto.BOOL, [1, 4])
    node = helper.make_node("Where", ["c", "x", "z"], ["y"], name="w")
    z = helper.make_tensor("z", TensorProto.FLOAT, [3, 1], [7.0, 8.0, 9.0])
    g = helper.make_graph([node], "g", [cond, helper.make_tensor_value_info(
        "x", TensorProto.FLOAT, [3, 4])], [helper.make_tensor_value_info(
            "y", TensorProto.FLOAT, None)], initializer=[z])
    model = helper.make_model(g, opset_imports=[helper.make_opsetid("", 17)])
    c = np.array([[True, False, True, False]])
    (y,) = int8rt.Session(int8rt.quantize(model, mode="float").graph).run(None, {"c": c, "x": x})
    np.testing.assert_array_equal(y, np.where(c, x, np.array([[7.0], [8.0], [9.0]], np.float32)))


def test_unsupported_op_named_not_dangling():
    # Hardmax feeds a Relu: the error names Hardmax, and no reader is blamed for its output
    nodes = [helper.make_node("Hardmax", ["x"], ["h"], name="hm"),
             helper.make_node("Relu", ["h"], ["y"], name="r")]
    g = helper.make_graph(nodes, "g", [helper.make_tensor_value_info(
        "x", TensorProto.FLOAT, [1, 4])], [helper.make_tensor_value_info(
            "y", TensorProto.FLOAT, [1, 4])])
    with pytest.raises(onnx_graph.UnsupportedOpError) as e:
        int8rt.quantize(helper.make_model(g), mode="dynamic")
    assert "unsupported op Hardmax (node 'hm')" in str(e.value)
    assert "provides" not in str(e.value)
