from __future__ import annotations

import numpy as np

from tests.frontend.onnx_util import check, helper, init, make_model, rand

X4 = (2, 3, 8, 7)


def _bn_inits(c: int, p: str = "bn"):
    return [init(f"{p}_s", rand(c) + 1), init(f"{p}_b", rand(c)), init(f"{p}_m", rand(c)),
            init(f"{p}_v", np.abs(rand(c)) + 0.2)]


def _bn(x: str, y: str, p: str = "bn"):
    return helper.make_node("BatchNormalization", [x, f"{p}_s", f"{p}_b", f"{p}_m", f"{p}_v"],
                            [y], epsilon=1e-3)


def test_conv_bn_folds_into_conv():
    for bias in (True, False):
        nodes = [helper.make_node("Conv", ["x", "w"] + (["cb"] if bias else []), ["c"],
                                  pads=[1, 1, 1, 1]), _bn("c", "y")]
        inits = [init("w", rand(5, 3, 3, 3)), init("cb", rand(5))] + _bn_inits(5)
        g = check(make_model(nodes, {"x": X4}, ["y"], inits), {"x": rand(*X4)})
        assert [n.op for n in g.nodes] == ["Transpose", "Conv", "Transpose"]
        assert len(g.nodes[1].inputs) == 3  # bias created from the BN shift


def test_depthwise_and_conv_transpose_bn_fold():
    nodes = [helper.make_node("Conv", ["x", "w"], ["c"], pads=[1, 1, 1, 1], group=3),
             _bn("c", "d"),
             helper.make_node("ConvTranspose", ["d", "wt"], ["t"], strides=[2, 2], group=3),
             _bn("t", "y", "bn2")]
    inits = [init("w", rand(6, 1, 3, 3)), init("wt", rand(6, 2, 3, 3))] + _bn_inits(6) + \
        _bn_inits(6, "bn2")
    g = check(make_model(nodes, {"x": X4}, ["y"], inits), {"x": rand(*X4)})
    assert not {"Mul", "Add", "BatchNormalization"} & {n.op for n in g.nodes}


def test_bn_after_shared_conv_stays_elementwise():
    nodes = [helper.make_node("Conv", ["x", "w"], ["c"]), _bn("c", "y"),
             helper.make_node("Relu", ["c"], ["y2"])]
    inits = [init("w", rand(4, 3, 1, 1))] + _bn_inits(4)
    g = check(make_model(nodes, {"x": X4}, ["y", "y2"], inits), {"x": rand(*X4)})
    ops = [n.op for n in g.nodes]
    assert "Mul" in ops and "Add" in ops


def test_bn_on_2d():
    nodes = [helper.make_node("Gemm", ["x", "w"], ["c"]), _bn("c", "y")]
    g = check(make_model(nodes, {"x": (4, 6)}, ["y"], [init("w", rand(6, 5))] + _bn_inits(5)),
              {"x": rand(4, 6)})
    assert "BatchNormalization" not in {n.op for n in g.nodes}
