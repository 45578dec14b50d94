"""Residual Add fused into LayerNormalization (int8rt/dynamic/lower.py
find_residual_layernorm; kernel i8_f32_layernorm_res, AVX2 rows in
csrc/kernels/f32/layernorm_avx2.c) against the reference Add + LayerNormalization, on every
kernel path, within the layer norm tolerance (double sums in another order); bit-identical
for any thread count. An Add whose sum is read elsewhere stays a separate record."""

from __future__ import annotations

import numpy as np
import pytest

from int8rt import ir
from int8rt.dynamic.lower import lower_program
from int8rt.dynamic.specialize import specialize
from int8rt.reference.onnx_ops import run_node
from int8rt.session import _DynamicPlan

F32 = np.float32


def graph(shape, extra_use=False, beta=True):
    rng = np.random.default_rng(len(shape) + shape[-1])
    cols = shape[-1]
    t = {"a": ir.Tensor("a", shape, "float32"), "b": ir.Tensor("b", shape, "float32"),
         "g": ir.Tensor("g", (cols,), "float32",
                        data=rng.standard_normal(cols).astype(F32)),
         "s": ir.Tensor("s", (), "float32"), "y": ir.Tensor("y", (), "float32")}
    ln_in = ["s", "g"]
    if beta:
        t["be"] = ir.Tensor("be", (cols,), "float32", data=rng.standard_normal(cols).astype(F32))
        ln_in.append("be")
    nodes = [ir.Node("Add", "add", ["a", "b"], ["s"]),
             ir.Node("LayerNormalization", "ln", ln_in, ["y"], {"axis": -1, "epsilon": 1e-12})]
    return ir.Graph(nodes, t, ["a", "b"], ["y", "s"] if extra_use else ["y"],
                    meta={"layout": "onnx"})


def reference(g, feeds):
    add, ln = g.nodes
    s = run_node("Add", [feeds["a"], feeds["b"]], add.attrs, add.name)[0]
    ins = [s] + [g.const(n) for n in ln.inputs[1:]]
    return run_node("LayerNormalization", ins, ln.attrs, ln.name)[0]


@pytest.mark.parametrize("shape", [(1, 128, 384), (3, 5, 37), (2, 7), (1, 1, 8)])
@pytest.mark.parametrize("beta", [True, False])
def test_residual_layernorm_matches_reference(path, shape, beta):
    g = graph(shape, beta=beta)
    rng = np.random.default_rng(shape[-1])
    feeds = {"a": (rng.standard_normal(shape) * 4 + 1).astype(F32),
             "b": rng.standard_normal(shape).astype(F32)}
    spec = specialize(g, {k: v.shape for k, v in feeds.items()})
    prog = lower_program(spec)
    assert [c.kernel for c in prog.calls] == ["layernorm"]
    plan = _DynamicPlan(prog, spec)
    (y,) = plan.run([feeds["a"], feeds["b"]])
    np.testing.assert_allclose(y, reference(g, feeds), atol=2e-6 * 8, rtol=1e-5)
    for threads in (2, 3):
        assert np.array_equal(plan.run([feeds["a"], feeds["b"]], threads)[0], y)


def test_sum_read_elsewhere_is_not_fused():
    g = graph((2, 16), extra_use=True)
    feeds = {"a": np.ones((2, 16), F32), "b": np.arange(32, dtype=F32).reshape(2, 16)}
    spec = specialize(g, {k: v.shape for k, v in feeds.items()})
    prog = lower_program(spec)
    assert [c.kernel for c in prog.calls] == ["f32_binary", "layernorm"]
    y, s = _DynamicPlan(prog, spec).run([feeds["a"], feeds["b"]])
    assert np.array_equal(s, feeds["a"] + feeds["b"])
    np.testing.assert_allclose(y, reference(g, feeds), atol=2e-5, rtol=1e-5)


@pytest.mark.parametrize("shape", [(3, 5, 37), (2, 7), (1, 16, 96)])
@pytest.mark.parametrize("extra_use", [False, True])  # fused residual / plain layernorm record
def test_record_equals_its_numpy_reference(path, shape, extra_use):
    """reference/f32_records.layernorm (what the reference program runs for a static graph's
    float LayerNormalization) is the scalar kernel bit for bit; the AVX2 rows sum in another
    order, within the layer norm tolerance."""
    from int8rt.reference.program import run_program

    g = graph(shape, extra_use=extra_use)
    rng = np.random.default_rng(7)
    feeds = [(rng.standard_normal(shape) * 4 + 1).astype(F32),
             rng.standard_normal(shape).astype(F32)]
    spec = specialize(g, {"a": shape, "b": shape})
    prog = lower_program(spec)
    got = _DynamicPlan(prog, spec).run(feeds)[0]
    want = run_program(prog, feeds)[0].reshape(got.shape)
    if path == "scalar":
        assert np.array_equal(got, want)
    else:
        np.testing.assert_allclose(got, want, atol=2e-6 * 8, rtol=1e-5)
