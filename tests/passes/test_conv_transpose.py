"""passes.conv_transpose: a ConvTranspose whose kernel tiles the output (stride == kernel)
becomes a 1x1 Conv plus depth-to-space moves; others keep the zero-insertion lowering. Both
checked against onnxruntime."""

from __future__ import annotations

import pytest

from tests.frontend.onnx_util import check, helper, init, make_model, rand

X4 = (2, 5, 6, 7)


@pytest.mark.parametrize("k,bias", [((2, 2), True), ((2, 3), False), ((1, 1), True)])
def test_non_overlapping_conv_transpose_is_1x1_conv_and_moves(k, bias):
    node = helper.make_node("ConvTranspose", ["x", "w"] + (["b"] if bias else []), ["y"],
                            strides=list(k), kernel_shape=list(k))
    inits = [init("w", rand(5, 3, *k))] + ([init("b", rand(3))] if bias else [])
    g = check(make_model([node], {"x": X4}, ["y"], inits), {"x": rand(*X4)})
    ops = [n.op for n in g.nodes]
    assert "Pad" not in ops and ops.count("Conv") == 1
    conv = next(n for n in g.nodes if n.op == "Conv")
    assert g.const(conv.inputs[1]).shape == (k[0] * k[1] * 3, 1, 1, 5)


def test_overlapping_conv_transpose_keeps_zero_insertion():
    node = helper.make_node("ConvTranspose", ["x", "w", "b"], ["y"], strides=[2, 2],
                            kernel_shape=[3, 3], pads=[1, 1, 1, 1], output_padding=[1, 1])
    inits = [init("w", rand(5, 4, 3, 3)), init("b", rand(4))]
    g = check(make_model([node], {"x": X4}, ["y"], inits), {"x": rand(*X4)})
    assert "Pad" in [n.op for n in g.nodes]
