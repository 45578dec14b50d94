"""passes.fold_affine: scalar / per-channel Mul, Add, Sub, Div by constants fold into the
neighbouring Conv, results checked against onnxruntime on the unfolded model."""

from __future__ import annotations

import numpy as np

from tests.frontend.onnx_util import check, helper, init, make_model, rand

X4 = (2, 4, 9, 8)


def _ops(g):
    return [n.op for n in g.nodes]


def test_affine_after_conv_folds_into_weights_and_bias():
    # scalar (1,) Mul as paddle2onnx writes it (constant first), per-channel Add, Sub, Div
    nodes = [helper.make_node("Conv", ["x", "w", "b"], ["c"], pads=[1, 1, 1, 1]),
             helper.make_node("Mul", ["k", "c"], ["m"]),
             helper.make_node("Add", ["m", "d"], ["a"]),
             helper.make_node("Sub", ["a", "s"], ["u"]),
             helper.make_node("Div", ["u", "q"], ["y"])]
    inits = [init("w", rand(6, 4, 3, 3)), init("b", rand(6)), init("k", np.float32([1.7])),
             init("d", rand(1, 6, 1, 1)), init("s", np.float32(0.25)),
             init("q", rand(6, 1, 1) + 3)]
    g = check(make_model(nodes, {"x": X4}, ["y"], inits), {"x": rand(*X4)})
    assert not {"Mul", "Add", "Sub", "Div"} & set(_ops(g))


def test_affine_before_unpadded_conv_folds_grouped():
    nodes = [helper.make_node("Mul", ["x", "k"], ["m"]),
             helper.make_node("Add", ["d", "m"], ["a"]),
             helper.make_node("Conv", ["a", "w", "b"], ["y"], group=2, strides=[2, 2])]
    inits = [init("w", rand(6, 2, 3, 3)), init("b", rand(6)), init("k", rand(1, 4, 1, 1)),
             init("d", rand(4, 1, 1))]
    g = check(make_model(nodes, {"x": X4}, ["y"], inits), {"x": rand(*X4)})
    assert "Mul" not in _ops(g) and "Add" not in _ops(g)


def test_affine_before_padded_conv_stays():
    # zero padding of k*x + d is not k*(padding) + d: the border would change
    nodes = [helper.make_node("Add", ["x", "d"], ["a"]),
             helper.make_node("Conv", ["a", "w"], ["y"], pads=[1, 1, 1, 1])]
    inits = [init("w", rand(3, 4, 3, 3)), init("d", np.float32(0.5))]
    g = check(make_model(nodes, {"x": X4}, ["y"], inits), {"x": rand(*X4)})
    assert "Add" in _ops(g)


def test_no_fold_when_shared_output_or_spatial_constant():
    nodes = [helper.make_node("Conv", ["x", "w"], ["c"]),
             helper.make_node("Mul", ["c", "k"], ["y"]),
             helper.make_node("Relu", ["c"], ["y2"]),
             helper.make_node("Conv", ["x", "w"], ["c2"]),
             helper.make_node("Add", ["c2", "sp"], ["y3"])]
    inits = [init("w", rand(3, 4, 1, 1)), init("k", np.float32(2.0)),
             init("sp", rand(1, 1, 9, 8))]  # varies over H, W: not per channel
    g = check(make_model(nodes, {"x": X4}, ["y", "y2", "y3"], inits), {"x": rand(*X4)})
    assert _ops(g).count("Mul") == 1 and _ops(g).count("Add") == 1


def test_hardswish_pattern_survives_folding():
    # x * clip(x + 3, 0, 6) / 6 then a scalar affine into a 1x1 conv: the Div by 6 must stay
    # inside the HardSwish, only the Mul / Add fold
    nodes = [helper.make_node("Add", ["x", "three"], ["p"]),
             helper.make_node("Clip", ["p", "zero", "six"], ["cl"]),
             helper.make_node("Mul", ["x", "cl"], ["xm"]),
             helper.make_node("Div", ["xm", "six"], ["hs"]),
             helper.make_node("Mul", ["k", "hs"], ["m"]),
             helper.make_node("Add", ["m", "d"], ["a"]),
             helper.make_node("Conv", ["a", "w"], ["y"])]
    inits = [init("three", np.float32(3)), init("zero", np.float32(0)), init("six", np.float32(6)),
             init("k", np.float32([0.8])), init("d", np.float32([0.1])),
             init("w", rand(5, 4, 1, 1))]
    g = check(make_model(nodes, {"x": X4}, ["y"], inits), {"x": rand(*X4, scale=3.0)})
    assert "HardSwish" in _ops(g) and "Mul" not in _ops(g) and "Add" not in _ops(g)
