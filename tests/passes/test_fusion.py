from __future__ import annotations

import math

import numpy as np
import pytest

from tests.frontend.onnx_util import check, helper, init, make_model, rand

X4 = (2, 3, 8, 7)
INF = math.inf


def _conv(y="c"):
    return helper.make_node("Conv", ["x", "w"], [y], pads=[1, 1, 1, 1])


W = init("w", rand(4, 3, 3, 3))
F = {"x": rand(*X4, scale=3)}


def _clip_inits(lo, hi):
    return [init("lo", np.array(lo, np.float32)), init("hi", np.array(hi, np.float32))]


def ops(g):
    return [n.op for n in g.nodes if n.op != "Transpose"]


@pytest.mark.parametrize("acts,clip", [
    (["Relu"], (0.0, INF)),
    (["Clip06"], (0.0, 6.0)),
    (["Relu", "Clip06"], (0.0, 6.0)),
    (["Cliplohi"], (-0.5, 0.25)),
])
def test_conv_activation_fused(acts, clip):
    nodes, inits, cur = [_conv()], [W], "c"
    for k, a in enumerate(acts):
        out = "y" if k == len(acts) - 1 else f"a{k}"
        if a == "Relu":
            nodes.append(helper.make_node("Relu", [cur], [out]))
        else:
            lo, hi = (0.0, 6.0) if a == "Clip06" else (-0.5, 0.25)
            nodes.append(helper.make_node("Clip", [cur, f"lo{k}", f"hi{k}"], [out]))
            inits += [init(f"lo{k}", np.array(lo, np.float32)),
                      init(f"hi{k}", np.array(hi, np.float32))]
        cur = out
    g = check(make_model(nodes, {"x": X4}, ["y"], inits), F)
    assert ops(g) == ["Conv"]
    (conv,) = [n for n in g.nodes if n.op == "Conv"]
    assert conv.attrs["clip"] == pytest.approx(clip)


@pytest.mark.parametrize("op", ["Add", "Sub", "Mul"])
def test_elementwise_relu_fused(op):
    nodes = [helper.make_node(op, ["x", "b"], ["a"]), helper.make_node("Relu", ["a"], ["y"])]
    g = check(make_model(nodes, {"x": X4}, ["y"], [init("b", rand(3, 1, 1))]), F)
    assert ops(g) == [op]


def test_gemm_relu_fused():
    nodes = [helper.make_node("Gemm", ["x", "w"], ["a"]), helper.make_node("Relu", ["a"], ["y"])]
    g = check(make_model(nodes, {"x": (3, 6)}, ["y"], [init("w", rand(6, 4))]),
              {"x": rand(3, 6)})
    assert ops(g) == ["Gemm"] and g.nodes[0].attrs["clip"] == (0.0, INF)


def test_not_fused_with_two_readers_or_output():
    nodes = [_conv(), helper.make_node("Relu", ["c"], ["y"]),
             helper.make_node("Sigmoid", ["c"], ["y2"])]
    g = check(make_model(nodes, {"x": X4}, ["y", "y2"], [W]), F)
    assert "Relu" in ops(g)
    nodes = [_conv(), helper.make_node("Relu", ["c"], ["y"])]
    g = check(make_model(nodes, {"x": X4}, ["y", "c"], [W]), F)
    assert "Relu" in ops(g)


@pytest.mark.parametrize("order", [0, 1])
def test_silu(order):
    ins = ["c", "s"] if order else ["s", "c"]
    nodes = [_conv(), helper.make_node("Sigmoid", ["c"], ["s"]),
             helper.make_node("Mul", ins, ["y"])]
    g = check(make_model(nodes, {"x": X4}, ["y"], [W]), F)
    assert ops(g) == ["Conv", "Silu"]


def test_sigmoid_gate_of_other_tensor_is_not_silu():
    nodes = [_conv(), helper.make_node("Sigmoid", ["x"], ["s"]),
             helper.make_node("Conv", ["s", "w"], ["c2"], pads=[1, 1, 1, 1]),
             helper.make_node("Mul", ["c", "c2"], ["y"])]
    g = check(make_model(nodes, {"x": X4}, ["y"], [W]), F)
    assert "Silu" not in ops(g)


def test_hardsigmoid_mul_is_hardswish():
    nodes = [_conv(), helper.make_node("HardSigmoid", ["c"], ["s"], alpha=1 / 6, beta=0.5),
             helper.make_node("Mul", ["c", "s"], ["y"])]
    g = check(make_model(nodes, {"x": X4}, ["y"], [W]), F)
    assert ops(g) == ["Conv", "HardSwish"]
    nodes[1] = helper.make_node("HardSigmoid", ["c"], ["s"])  # default alpha 0.2: not hswish
    g = check(make_model(nodes, {"x": X4}, ["y"], [W]), F)
    assert "HardSwish" not in ops(g)


@pytest.mark.parametrize("form", ["x*relu6/6", "x*(relu6/6)", "div"])
def test_decomposed_hardswish(form):
    nodes = [_conv(), helper.make_node("Add", ["c", "three"], ["a"]),
             helper.make_node("Clip", ["a", "zero", "six"], ["r"])]
    if form == "x*relu6/6":
        nodes += [helper.make_node("Mul", ["c", "r"], ["m"]),
                  helper.make_node("Mul", ["m", "sixth"], ["y"])]
    elif form == "x*(relu6/6)":
        nodes += [helper.make_node("Mul", ["r", "sixth"], ["m"]),
                  helper.make_node("Mul", ["c", "m"], ["y"])]
    else:
        nodes += [helper.make_node("Mul", ["c", "r"], ["m"]),
                  helper.make_node("Div", ["m", "six"], ["y"])]
    inits = [W, init("three", np.array(3, np.float32)), init("zero", np.array(0, np.float32)),
             init("six", np.array(6, np.float32)),
             init("sixth", np.array(1 / 6, np.float32))]
    g = check(make_model(nodes, {"x": X4}, ["y"], inits), F)
    assert ops(g) == ["Conv", "HardSwish"]
