"""Fused attention (one `attention` record per MatMul -> scale -> [+ mask] -> Softmax -> MatMul
chain, int8rt/dynamic/lower.py find_attention; kernel csrc/kernels/f32/attention.c) against
the numpy reference int8rt/reference/attention.py and against the unfused float records:
within the float tolerance (exp polynomial, summation order), bit-identical for any thread
count, and on every kernel path. Chains the fusion must not touch (an intermediate read
elsewhere, a run-time scale, too many keys) keep their separate records."""

from __future__ import annotations

import numpy as np
import pytest

from int8rt import ir
from int8rt.dynamic.lower import lower_program
from int8rt.dynamic.specialize import specialize
from int8rt.reference.attention import attention
from int8rt.session import _DynamicPlan

F32 = np.float32


def chain_graph(b, h, lq, lk, d, mask_shape=None, op="Mul", scale=0.125, extra_use=False):
    t = {"q": ir.Tensor("q", (b, h, lq, d), "float32"),
         "kt": ir.Tensor("kt", (b, h, d, lk), "float32"),
         "v": ir.Tensor("v", (b, h, lk, d), "float32"),
         "c": ir.Tensor("c", (), "float32", data=np.array(scale, F32))}
    for n in ("s", "ss", "sm", "p", "y"):
        t[n] = ir.Tensor(n, (), "float32")
    inputs = ["q", "kt", "v"]
    nodes = [ir.Node("MatMul", "qk", ["q", "kt"], ["s"]),
             ir.Node(op, "scale", ["s", "c"], ["ss"])]
    sm_in = "ss"
    if mask_shape is not None:
        t["mask"] = ir.Tensor("mask", mask_shape, "float32")
        inputs.append("mask")
        nodes.append(ir.Node("Add", "add", ["mask", "ss"], ["sm"]))  # mask first: either order
        sm_in = "sm"
    nodes += [ir.Node("Softmax", "softmax", [sm_in], ["p"], {"axis": -1}),
              ir.Node("MatMul", "pv", ["p", "v"], ["y"])]
    outs = ["y"]
    if extra_use:
        outs.append("p")
    return ir.Graph(nodes, t, inputs, outs, meta={"layout": "onnx"})


def feeds_for(graph, seed=0, masked_rows=False):
    rng = np.random.default_rng(seed)
    f = {n: rng.standard_normal(graph.tensor(n).shape).astype(F32) for n in graph.inputs}
    if "mask" in f:
        m = np.where(rng.random(f["mask"].shape) < 0.3, F32(-1e9), F32(0))
        if masked_rows:
            m[..., 0, :] = -np.inf  # a fully masked query row: zeros
        f["mask"] = m.astype(F32)
    return f


def plan(graph, feeds):
    spec = specialize(graph, {k: v.shape for k, v in feeds.items()})
    prog = lower_program(spec)
    return _DynamicPlan(prog, spec), [c.kernel for c in prog.calls]


CASES = [(1, 12, 16, 16, 32, (1, 1, 1, 16), "Mul"), (2, 3, 7, 9, 5, (2, 1, 7, 9), "Div"),
         (1, 2, 128, 128, 32, (1, 1, 1, 128), "Mul"), (1, 1, 33, 512, 16, None, "Mul"),
         (2, 4, 20, 20, 64, (20, 20), "Mul")]


@pytest.mark.parametrize("b,h,lq,lk,d,mask,op", CASES)
def test_fused_attention_matches_reference(path, b, h, lq, lk, d, mask, op):
    g = chain_graph(b, h, lq, lk, d, mask, op)
    f = feeds_for(g, seed=lq + lk)
    p, kernels = plan(g, f)
    assert kernels == ["attention"], kernels
    (y,) = p.run([f[n] for n in g.inputs])
    want = attention(f["q"], f["kt"], f["v"], f.get("mask"), 0.125, op == "Div")
    np.testing.assert_allclose(y, want, atol=2e-6 * max(1.0, np.abs(f["v"]).max()), rtol=1e-5)
    # threads split whole heads: the same bits for any count
    for threads in (2, 3):
        (yt,) = p.run([f[n] for n in g.inputs], threads)
        assert np.array_equal(yt, y)


def test_fully_masked_row_gives_zeros():
    g = chain_graph(1, 2, 5, 6, 4, (1, 1, 5, 6))
    f = feeds_for(g, masked_rows=True)
    p, kernels = plan(g, f)
    assert kernels == ["attention"]
    (y,) = p.run([f[n] for n in g.inputs])
    assert np.all(y[:, :, 0] == 0)
    np.testing.assert_allclose(y, attention(f["q"], f["kt"], f["v"], f["mask"], 0.125),
                               atol=2e-6)


def test_unfusable_chains_keep_separate_records():
    g = chain_graph(1, 2, 4, 4, 8, (1, 1, 1, 4), extra_use=True)  # softmax output also read
    f = feeds_for(g)
    p, kernels = plan(g, f)
    assert "attention" not in kernels and "f32_softmax" in kernels
    y, _probs = p.run([f[n] for n in g.inputs])
    np.testing.assert_allclose(y, attention(f["q"], f["kt"], f["v"], f["mask"], 0.125),
                               atol=2e-6)
    g = chain_graph(1, 1, 2, 600, 8)  # more keys than the score tile takes
    _, kernels = plan(g, feeds_for(g))
    assert "attention" not in kernels


@pytest.mark.parametrize("m,k,n", [(8, 32, 128), (5, 128, 32), (7, 19, 77), (1, 3, 40)])
def test_float_matmul_exact_every_path(path, m, k, n):
    """The float matmul tiles (scalar, AVX2 4x16, AVX-512 4x32) all round like the k-order
    reference: exact on every path, column tails included (the attention kernel's products)."""
    from int8rt.reference import dynq as ref
    from tests.dynamic.helpers import run_op

    rng = np.random.default_rng(m * n + k)
    a = rng.standard_normal((m, k)).astype(F32)
    b = rng.standard_normal((k, n)).astype(F32)
    (y,) = run_op("MatMul", {"a": a, "b": b})
    assert np.array_equal(y, ref.matmul_f32(a, b))


def transposed_graph(b, h, lq, lk, d):
    """The exporters' layout: q, k, v projections [B, L, H*D] reshaped to [B, L, H, D], heads
    by Transpose (k straight to [B, H, D, L]), the result transposed back to [B, L, H, D]."""
    t = {"c": ir.Tensor("c", (), "float32", data=np.array(0.125, F32)),
         "mask": ir.Tensor("mask", (b, 1, 1, lk), "float32")}
    for n, L in (("qp", lq), ("kp", lk), ("vp", lk)):
        t[n] = ir.Tensor(n, (b, L, h, d), "float32")
    for n in ("q", "kt", "v", "s", "ss", "sm", "p", "o", "y"):
        t[n] = ir.Tensor(n, (), "float32")
    nodes = [ir.Node("Transpose", "tq", ["qp"], ["q"], {"perm": [0, 2, 1, 3]}),
             ir.Node("Transpose", "tk", ["kp"], ["kt"], {"perm": [0, 2, 3, 1]}),
             ir.Node("Transpose", "tv", ["vp"], ["v"], {"perm": [0, 2, 1, 3]}),
             ir.Node("MatMul", "qk", ["q", "kt"], ["s"]),
             ir.Node("Mul", "scale", ["s", "c"], ["ss"]),
             ir.Node("Add", "add", ["ss", "mask"], ["sm"]),
             ir.Node("Softmax", "softmax", ["sm"], ["p"], {"axis": -1}),
             ir.Node("MatMul", "pv", ["p", "v"], ["o"]),
             ir.Node("Transpose", "to", ["o"], ["y"], {"perm": [0, 2, 1, 3]})]
    return ir.Graph(nodes, t, ["qp", "kp", "vp", "mask"], ["y"], meta={"layout": "onnx"})


@pytest.mark.parametrize("b,h,lq,lk,d", [(1, 12, 16, 16, 32), (2, 3, 9, 9, 8), (1, 4, 70, 70, 16)])
def test_head_transposes_read_in_place(path, b, h, lq, lk, d):
    """The head Transposes around the chain are skipped: the record reads q, k, v out of the
    [B, L, H, D] projections (K packed per head) and writes [B, L, H, D]."""
    g = transposed_graph(b, h, lq, lk, d)
    f = feeds_for(g, seed=lq * h)
    p, kernels = plan(g, f)
    assert kernels == ["attention"], kernels
    (y,) = p.run([f[n] for n in g.inputs])
    q = f["qp"].transpose(0, 2, 1, 3)
    kt = f["kp"].transpose(0, 2, 3, 1)
    v = f["vp"].transpose(0, 2, 1, 3)
    want = attention(q, kt, v, f["mask"], 0.125).transpose(0, 2, 1, 3)
    np.testing.assert_allclose(y, want, atol=2e-6 * max(1.0, np.abs(v).max()), rtol=1e-5)
    for threads in (2, 3):
        assert np.array_equal(p.run([f[n] for n in g.inputs], threads)[0], y)
