"""Lowering: Dequantize fused into the producing conv / fc (the float32 epilogue of
docs/QUANTIZATION.md §4), and when it must not be. Native plan == reference program, exactly."""

from __future__ import annotations

import numpy as np
import pytest

from int8rt import ir
from int8rt.lower import lower
from int8rt.opset import NO_CLIP
from int8rt.plan import NativePlan
from int8rt.reference.program import run_program

qp = ir.QParams.per_tensor
T = ir.Tensor


def _weights(rng: np.random.Generator, shape: tuple[int, ...]):
    oc = shape[0]
    w = rng.integers(-127, 128, shape, dtype=np.int8)
    w_scale = rng.uniform(1e-3, 1e-1, oc).astype(np.float32)
    return w, ir.QParams(w_scale, np.zeros(oc, np.int32), axis=0), w_scale


def gemm_graph(clip=NO_CLIP, extra_consumer: bool = False, int8_output: bool = False,
               m: int = 3, k: int = 37, n: int = 10) -> ir.Graph:
    """Quantize -> Gemm (per-channel weights, int32 bias) -> Dequantize."""
    rng = np.random.default_rng(4)
    w, w_q, _ = _weights(rng, (n, k))
    tensors = {
        "x": T("x", (m, k), "float32"),
        "xq": T("xq", (m, k), "int8", qparams=qp(0.03, -5)),
        "w": T("w", (n, k), "int8", w, w_q),
        "b": T("b", (n,), "int32", rng.integers(-5000, 5000, n, dtype=np.int32)),
        "lq": T("lq", (m, n), "int8", qparams=qp(0.2, 3)),
        "y": T("y", (m, n), "float32"),
    }
    nodes = [
        ir.Node("Quantize", "q", ["x"], ["xq"]),
        ir.Node("Gemm", "fc", ["xq", "w", "b"], ["lq"], {"clip": clip}),
        ir.Node("Dequantize", "dq", ["lq"], ["y"]),
    ]
    outputs = ["y"]
    if extra_consumer:
        tensors["y2"] = T("y2", (m, n), "float32")
        nodes.append(ir.Node("Dequantize", "dq2", ["lq"], ["y2"]))
        outputs.append("y2")
    if int8_output:
        outputs.append("lq")
    return ir.Graph(nodes, tensors, ["x"], outputs, "gemm_dq", {"quantized": True})


def conv_graph(groups: int = 1, k: int = 3, c: int = 4, oc: int = 6) -> ir.Graph:
    """Quantize -> Conv -> Dequantize, NHWC."""
    rng = np.random.default_rng(5)
    w, w_q, _ = _weights(rng, (oc, k, k, c // groups))
    p = k // 2
    tensors = {
        "x": T("x", (2, 5, 7, c), "float32"),
        "xq": T("xq", (2, 5, 7, c), "int8", qparams=qp(0.02, 100)),
        "w": T("w", w.shape, "int8", w, w_q),
        "b": T("b", (oc,), "int32", rng.integers(-5000, 5000, oc, dtype=np.int32)),
        "cq": T("cq", (2, 5, 7, oc), "int8", qparams=qp(0.1, -7)),
        "y": T("y", (2, 5, 7, oc), "float32"),
    }
    nodes = [
        ir.Node("Quantize", "q", ["x"], ["xq"]),
        ir.Node("Conv", "conv", ["xq", "w", "b"], ["cq"],
                {"pads": (p, p, p, p), "group": groups, "clip": NO_CLIP}),
        ir.Node("Dequantize", "dq", ["cq"], ["y"]),
    ]
    return ir.Graph(nodes, tensors, ["x"], ["y"], "conv_dq", {"quantized": True})


def kernels(program) -> list[str]:
    return [c.kernel for c in program.calls]


def run_both(program, x: np.ndarray) -> list[np.ndarray]:
    ref = run_program(program, [x])
    nat = NativePlan(program).run([x])
    for r, o in zip(ref, nat):
        assert r.dtype == o.dtype and r.shape == o.shape
        assert np.array_equal(r, o)
    return ref


def test_gemm_dequantize_fuses() -> None:
    g = gemm_graph()
    prog = lower(g)
    assert kernels(prog) == ["quantize", "fc"]
    fc = prog.calls[1]
    assert fc.params["out_f32"] == 1 and fc.outputs == ["y"]
    assert "lq" not in prog.buffers  # the int8 logits are never materialised
    # mult = float32(s_x * s_w[c]), the product taken in float64
    w_scale = g.tensor("w").qparams.scale
    expected_mult = (np.float64(np.float32(0.03)) * w_scale.astype(np.float64)).astype(np.float32)
    assert fc.consts["mult"].dtype == np.float32
    assert np.array_equal(fc.consts["mult"], expected_mult)

    x = np.random.default_rng(0).uniform(-4, 4, (3, 37)).astype(np.float32)
    (y,) = run_both(prog, x)
    assert y.dtype == np.float32
    # the definition: float32(acc) * mult, acc from the quantized input
    xq = np.clip(np.rint(x / np.float32(0.03)) - 5, -128, 127).astype(np.int64)
    acc = (xq + 5) @ g.const("w").astype(np.int64).T + g.const("b")
    assert np.array_equal(y, acc.astype(np.float32) * expected_mult)
    # finer than the int8 grid: the unfused result has at most 256 levels per 0.2 step
    assert not np.allclose(np.round(y / 0.2), y / 0.2)


@pytest.mark.parametrize("clip", [(0.0, float("inf")), (0.0, 6.0), (-1.0, float("inf"))])
def test_gemm_with_fused_activation_does_not_fuse(clip) -> None:
    prog = lower(gemm_graph(clip=clip))
    assert kernels(prog) == ["quantize", "fc", "dequantize"]
    assert prog.calls[1].params["out_f32"] == 0 and prog.calls[1].outputs == ["lq"]
    x = np.random.default_rng(1).uniform(-4, 4, (3, 37)).astype(np.float32)
    (y,) = run_both(prog, x)
    assert y.min() >= 0 or clip[0] < 0  # the clamp applied in the int8 domain


def test_shared_or_exported_int8_output_does_not_fuse() -> None:
    x = np.random.default_rng(2).uniform(-4, 4, (3, 37)).astype(np.float32)
    for g in (gemm_graph(extra_consumer=True), gemm_graph(int8_output=True)):
        prog = lower(g)
        assert "dequantize" in kernels(prog)
        assert prog.calls[1].kernel == "fc" and prog.calls[1].params["out_f32"] == 0
        run_both(prog, x)


@pytest.mark.parametrize("groups,k,c,oc", [(1, 3, 4, 6), (1, 1, 4, 6), (4, 3, 4, 4),
                                           (2, 3, 4, 6)])
def test_conv_dequantize_fuses(groups: int, k: int, c: int, oc: int) -> None:
    """Each conv algorithm: im2col, direct 1x1, depthwise, grouped im2col."""
    prog = lower(conv_graph(groups, k, c, oc))
    assert kernels(prog) == ["quantize", "conv2d"]
    assert prog.calls[1].params["out_f32"] == 1 and "cq" not in prog.buffers
    x = np.random.default_rng(groups + k).uniform(-3, 3, (2, 5, 7, c)).astype(np.float32)
    run_both(prog, x)


def test_every_product_call_has_out_f32() -> None:
    for g in (gemm_graph(), gemm_graph(clip=(0.0, 6.0)), conv_graph()):
        for call in lower(g).calls:
            if call.kernel in ("conv2d", "fc"):
                assert call.params["out_f32"] in (0, 1)


def test_scalar_add_mul_become_one_lookup_with_the_kernels_bytes(monkeypatch) -> None:
    """An int8 Mul / Add / Sub by a one-element constant runs as a 256-entry lookup built by
    the reference add / mul kernel; consecutive lookups (HardSwish, then the scalar Mul and
    Add) merge into one. The bytes equal the unmerged add / mul program's."""
    import int8rt
    import int8rt.lower as lowering
    from tests.frontend.onnx_util import helper, init, make_model

    rng = np.random.default_rng(4)
    nodes = [helper.make_node("Conv", ["x", "w"], ["c"], pads=[1, 1, 1, 1]),
             helper.make_node("HardSwish", ["c"], ["h"]),
             helper.make_node("Mul", ["k", "h"], ["m"]),
             helper.make_node("Sub", ["m", "d"], ["s"]),
             helper.make_node("Conv", ["s", "w2"], ["y"], pads=[1, 1, 1, 1])]
    inits = [init("w", rng.standard_normal((6, 3, 3, 3)).astype(np.float32)),
             init("w2", rng.standard_normal((4, 6, 3, 3)).astype(np.float32)),
             init("k", np.float32([0.7])), init("d", np.float32(0.2))]
    m = make_model(nodes, {"x": (1, 3, 9, 9)}, ["y"], inits)
    calib = [rng.standard_normal((1, 3, 9, 9)).astype(np.float32) for _ in range(4)]
    qm = int8rt.quantize(m, calib, progress=False)
    prog = lower(qm.graph)
    assert "mul" not in kernels(prog) and "add" not in kernels(prog)
    # HardSwish, Mul, Sub in one table, which then runs in the first conv's epilogue
    assert kernels(prog).count("lut") == 0
    assert [bool(c.params.get("post_lut")) for c in prog.calls if c.kernel == "conv2d"] == \
        [True, False]
    x = rng.standard_normal((1, 3, 9, 9)).astype(np.float32)
    monkeypatch.setattr(lowering, "_scalar_operand", lambda *a: None)
    monkeypatch.setattr(lowering, "_compose_luts", lambda *a: None)
    plain = lower(qm.graph)
    assert "mul" in kernels(plain) and "add" in kernels(plain)
    assert np.array_equal(run_program(prog, [x])[0], run_program(plain, [x])[0])
    assert np.array_equal(run_both(prog, x)[0], run_program(plain, [x])[0])


def test_rank3_transpose_between_quantize_and_dequantize_fuses_once() -> None:
    """A (0, 2, 1) transpose of a rank-3 tensor is both an NCHW -> NHWC move (fusable into its
    quantize) and the way back (into its dequantize): it fuses into one of them, and the
    program still reads only buffers something wrote."""
    tensors = {"x": T("x", (2, 3, 5), "float32"),
               "xq": T("xq", (2, 3, 5), "int8", qparams=qp(0.05, 3)),
               "yq": T("yq", (2, 5, 3), "int8", qparams=qp(0.05, 3)),
               "y": T("y", (2, 5, 3), "float32")}
    nodes = [ir.Node("Quantize", "q", ["x"], ["xq"]),
             ir.Node("Transpose", "t", ["xq"], ["yq"], {"perm": (0, 2, 1)}),
             ir.Node("Dequantize", "d", ["yq"], ["y"])]
    g = ir.Graph(nodes, tensors, ["x"], ["y"], "t3", {"quantized": True})
    prog = lower(g)
    assert [c.kernel for c in prog.calls] == ["quantize", "dequantize"]
    x = np.random.default_rng(0).standard_normal((2, 3, 5)).astype(np.float32)
    want = np.clip(np.round(x / 0.05) + 3, -128, 127).transpose(0, 2, 1)
    (ref,) = run_program(prog, [x])
    np.testing.assert_array_equal(ref, ((want - 3) * np.float32(0.05)).astype(np.float32))
    (out,) = NativePlan(prog).run([x])
    np.testing.assert_array_equal(out, ref)
