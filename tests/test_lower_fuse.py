"""Lowering: activation tables and residual adds fused into the producing conv / fc epilogue
(post_lut / post_add, docs/KERNELS.md "Fused epilogues"), and when they must not be. The
fused program equals the unfused one exactly (numpy reference), and the native plan equals
the reference on every available kernel path."""

from __future__ import annotations

import numpy as np
import pytest

from int8rt import _native, ir
from int8rt import lower as lower_mod
from int8rt.lower import lower
from int8rt.opset import NO_CLIP
from int8rt.plan import NativePlan
from int8rt.reference.program import run_program

qp = ir.QParams.per_tensor
T = ir.Tensor
SHAPE = (1, 6, 7, 16)  # NHWC; 16 channels (one full block) and 7 columns


def _conv(rng, tensors, nodes, name, x, y, c, oc, k=3, groups=1, y_q=None):
    w = rng.integers(-127, 128, (oc, k, k, c // groups), dtype=np.int8)
    ws = rng.uniform(2e-3, 2e-2, oc).astype(np.float32)
    tensors[f"{name}_w"] = T(f"{name}_w", w.shape, "int8", w,
                             ir.QParams(ws, np.zeros(oc, np.int32), axis=0))
    tensors[f"{name}_b"] = T(f"{name}_b", (oc,), "int32",
                             rng.integers(-3000, 3000, oc, dtype=np.int32))
    tensors[y] = T(y, SHAPE[:3] + (oc,), "int8", qparams=y_q or qp(0.05, -3))
    nodes.append(ir.Node("Conv", name, [x, f"{name}_w", f"{name}_b"], [y],
                         {"pads": (k // 2,) * 4, "group": groups, "clip": NO_CLIP}))


def block_graph(act: str = "Silu", swap: bool = False, groups: int = 1, k: int = 3,
                add_clip=NO_CLIP, act_on_second: bool = False, extra_reader: bool = False,
                ) -> ir.Graph:
    """Quantize -> conv1 -> act -> conv2 [-> act] -> Add(conv2 path, xq) -> Dequantize: the
    YOLOv8 bottleneck / ResNet / MobileNetV2 residual shapes."""
    rng = np.random.default_rng(7)
    c = SHAPE[3]
    tensors = {"x": T("x", SHAPE, "float32"), "xq": T("xq", SHAPE, "int8", qparams=qp(0.04, 5)),
               "y": T("y", SHAPE, "float32")}
    nodes = [ir.Node("Quantize", "q", ["x"], ["xq"])]
    _conv(rng, tensors, nodes, "c1", "xq", "h1", c, c, k, groups, qp(0.06, -20))
    tensors["a1"] = T("a1", SHAPE, "int8", qparams=qp(0.03, -110))
    nodes.append(ir.Node(act, "act1", ["h1"], ["a1"]))
    _conv(rng, tensors, nodes, "c2", "a1", "h2", c, c, 1, 1, qp(0.07, 4))
    last = "h2"
    if act_on_second:
        tensors["a2"] = T("a2", SHAPE, "int8", qparams=qp(0.035, -100))
        nodes.append(ir.Node(act, "act2", ["h2"], ["a2"]))
        last = "a2"
    tensors["s"] = T("s", SHAPE, "int8", qparams=qp(0.08, 2))
    ins = ["xq", last] if swap else [last, "xq"]
    nodes.append(ir.Node("Add", "add", ins, ["s"], {"clip": add_clip}))
    nodes.append(ir.Node("Dequantize", "dq", ["s"], ["y"]))
    outputs = ["y"]
    if extra_reader:  # conv1's int8 output read twice: no fusion of act1
        tensors["y1"] = T("y1", SHAPE, "float32")
        nodes.append(ir.Node("Dequantize", "dq1", ["h1"], ["y1"]))
        outputs.append("y1")
    return ir.Graph(nodes, tensors, ["x"], outputs, "block", {"quantized": True})


def _unfused(g: ir.Graph, monkeypatch):
    with monkeypatch.context() as m:
        m.setattr(lower_mod, "_fuse_epilogues", lambda *a: None)
        return lower(g)


def _check(g: ir.Graph, monkeypatch, seed: int = 0):
    prog, plain = lower(g), _unfused(g, monkeypatch)
    rng = np.random.default_rng(seed)
    # wide inputs: every int8 code, both clamps of every stage
    x = rng.uniform(-7, 7, SHAPE).astype(np.float32)
    ref = run_program(prog, [x])
    for r, u in zip(ref, run_program(plain, [x])):
        assert np.array_equal(r, u)  # the fused record means exactly the unfused program
    for isa in _native.available_isas():
        before = _native.isa()
        _native.set_isa(isa)
        try:
            for threads in (1, 2):
                for r, o in zip(ref, NativePlan(prog).run([x], threads=threads)):
                    assert r.dtype == o.dtype and np.array_equal(r, o), (isa, threads)
        finally:
            _native.set_isa(before)
    return prog


def _kernels(prog) -> list[str]:
    return [c.kernel for c in prog.calls]


@pytest.mark.parametrize("act", ["Silu", "HardSwish", "Sigmoid"])
@pytest.mark.parametrize("swap", [False, True])
def test_activation_and_residual_fuse(act: str, swap: bool, monkeypatch) -> None:
    prog = _check(block_graph(act, swap), monkeypatch)
    assert _kernels(prog) == ["quantize", "conv2d", "conv2d", "dequantize"]
    c1, c2 = prog.calls[1], prog.calls[2]
    assert c1.params["post_lut"] == 1 and "table" in c1.consts and not c1.params.get("post_add")
    assert c2.params["post_add"] == 1 and c2.inputs == ["a1", "xq"] and c2.outputs == ["s"]
    assert "h1" not in prog.buffers and "h2" not in prog.buffers


@pytest.mark.parametrize("groups,k", [(16, 3), (1, 1), (4, 3), (16, 5)])
def test_every_conv_algorithm_fuses(groups: int, k: int, monkeypatch) -> None:
    """depthwise (3x3, 5x5), direct 1x1, grouped im2col; the clamp of the add (ReLU)"""
    prog = _check(block_graph("Silu", False, groups, k, add_clip=(0.0, float("inf"))),
                  monkeypatch, seed=groups + k)
    assert prog.calls[1].params["post_lut"] == 1


def test_lut_and_add_in_one_epilogue(monkeypatch) -> None:
    prog = _check(block_graph("Silu", True, act_on_second=True), monkeypatch, seed=3)
    c2 = prog.calls[2]
    assert c2.params["post_lut"] == 1 and c2.params["post_add"] == 1
    assert _kernels(prog) == ["quantize", "conv2d", "conv2d", "dequantize"]


def test_shared_output_does_not_fuse(monkeypatch) -> None:
    prog = _check(block_graph(extra_reader=True), monkeypatch, seed=4)
    assert not prog.calls[1].params.get("post_lut") and "lut" in _kernels(prog)
    assert "h1" in prog.buffers


def test_broadcast_add_does_not_fuse(monkeypatch) -> None:
    g = block_graph()
    # the residual becomes a per-channel constant: a broadcast add stays its own call
    g.tensors["xq_c"] = T("xq_c", (1, 1, 1, SHAPE[3]), "int8",
                          np.arange(SHAPE[3], dtype=np.int8), qp(0.04, 5))
    add = next(n for n in g.nodes if n.op == "Add")
    add.inputs[1] = "xq_c"
    prog = _check(g, monkeypatch, seed=5)
    assert "add" in _kernels(prog)
    assert not any(c.params.get("post_add") for c in prog.calls)


def test_plan_refuses_bad_post_params() -> None:
    prog = lower(block_graph())
    c2 = next(c for c in prog.calls if c.params.get("post_add"))
    c2.params["add_a_mult"] = 2**23
    with pytest.raises(ValueError, match="2\\^22"):
        NativePlan(prog)
