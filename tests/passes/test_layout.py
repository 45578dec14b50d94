"""NCHW -> NHWC conversion, transpose cancellation, shape inference, pruning."""

from __future__ import annotations

import numpy as np

from int8rt import ir
from int8rt.passes import canonicalize, infer_shapes, prune
from int8rt.reference.float_executor import FloatExecutor
from tests.frontend.onnx_util import check, helper, init, make_model, rand

X4 = (2, 3, 8, 7)
F = {"x": rand(*X4)}


def ops(g):
    return [n.op for n in g.nodes]


def test_conv_chain_has_transposes_only_at_the_boundary():
    nodes = [helper.make_node("Conv", ["x", "w1"], ["a"], pads=[1, 1, 1, 1]),
             helper.make_node("Relu", ["a"], ["b"]),
             helper.make_node("Conv", ["b", "w2"], ["c"], strides=[2, 2]),
             helper.make_node("Concat", ["c", "c"], ["d"], axis=1),
             helper.make_node("Softmax", ["d"], ["y"], axis=1)]
    inits = [init("w1", rand(4, 3, 3, 3)), init("w2", rand(5, 4, 1, 1))]
    g = check(make_model(nodes, {"x": X4}, ["y"], inits, opset=13), F)
    assert ops(g) == ["Transpose", "Conv", "Conv", "Concat", "Softmax", "Transpose"]
    t_in, c1, _, cat, sm, t_out = g.nodes
    assert t_in.attrs["perm"] == (0, 2, 3, 1) and t_out.attrs["perm"] == (0, 3, 1, 2)
    assert g.tensors[c1.inputs[1]].shape == (4, 3, 3, 3)  # [OC, KH, KW, IC]
    assert g.tensors[c1.outputs[0]].shape == (2, 8, 7, 4)
    assert cat.attrs["axis"] == 3 and sm.attrs["axis"] == 3
    assert g.tensors["x"].shape == X4 and g.tensors["y"].shape == (2, 10, 4, 4)


def test_weights_layout_exact():
    w = rand(4, 3, 2, 5)
    node = helper.make_node("Conv", ["x", "w"], ["y"])
    g = check(make_model([node], {"x": X4}, ["y"], [init("w", w)]), F)
    conv = next(n for n in g.nodes if n.op == "Conv")
    np.testing.assert_array_equal(g.const(conv.inputs[1]), w.transpose(0, 2, 3, 1))


def test_flatten_after_global_pool_needs_no_transpose():
    nodes = [helper.make_node("Conv", ["x", "w"], ["a"]),
             helper.make_node("GlobalAveragePool", ["a"], ["p"]),
             helper.make_node("Flatten", ["p"], ["f"]),
             helper.make_node("Gemm", ["f", "fw"], ["y"])]
    inits = [init("w", rand(4, 3, 1, 1)), init("fw", rand(4, 6))]
    g = check(make_model(nodes, {"x": X4}, ["y"], inits), F)
    assert ops(g) == ["Transpose", "Conv", "GlobalAveragePool", "Reshape", "Gemm"]


def test_flatten_spatial_inserts_nchw_transpose():
    nodes = [helper.make_node("Conv", ["x", "w"], ["a"]),
             helper.make_node("Flatten", ["a"], ["f"])]
    g = check(make_model(nodes, {"x": X4}, ["f"], [init("w", rand(4, 3, 1, 1))]), F)
    assert ops(g) == ["Transpose", "Conv", "Transpose", "Reshape"]
    assert g.nodes[2].attrs["perm"] == (0, 3, 1, 2)


def test_reshape_to_4d_and_layout_ops():
    nodes = [helper.make_node("Reshape", ["x", "s"], ["r"]),
             helper.make_node("Transpose", ["r"], ["t"], perm=[0, 1, 3, 2]),
             helper.make_node("Pad", ["t", "p"], ["pd"]),
             helper.make_node("Slice", ["pd", "st", "en", "ax", "sp"], ["sl"]),
             helper.make_node("Split", ["sl"], ["s0", "s1"], axis=1),
             helper.make_node("Add", ["s0", "s1"], ["y"])]
    i64 = lambda n, v: init(n, np.array(v, np.int64))
    inits = [i64("s", [2, 6, 4, 7]), i64("p", [0, 0, 1, 0, 0, 2, 0, 3]),
             i64("st", [1, 5]), i64("en", [1000, 0]), i64("ax", [2, 3]), i64("sp", [2, -1])]
    g = check(make_model(nodes, {"x": X4}, ["y"], inits), F)
    assert "Slice" in ops(g) and "Split" in ops(g)


def test_model_output_4d_and_2d_inputs():
    nodes = [helper.make_node("Relu", ["x"], ["y"]), helper.make_node("Relu", ["z"], ["y2"])]
    g = check(make_model(nodes, {"x": X4, "z": (3, 4)}, ["y", "y2"]),
              {"x": rand(*X4), "z": rand(3, 4)})
    assert g.inputs == ["x", "z"] and g.outputs == ["y", "y2"]


def test_every_tensor_has_a_shape_and_canonicalize_is_idempotent():
    nodes = [helper.make_node("Conv", ["x", "w"], ["a"], pads=[1, 1, 1, 1]),
             helper.make_node("MaxPool", ["a"], ["p"], kernel_shape=[2, 2], strides=[2, 2]),
             helper.make_node("Resize", ["p", "", "sc"], ["y"], mode="linear")]
    inits = [init("w", rand(4, 3, 3, 3)), init("sc", np.array([1, 1, 2, 2], np.float32))]
    g = check(make_model(nodes, {"x": X4}, ["y"], inits), F)
    for t in g.tensors.values():
        assert t.shape is not None and all(int(d) > 0 for d in t.shape), t
    before = [(n.op, n.attrs) for n in g.nodes]
    shapes = {k: t.shape for k, t in g.tensors.items()}
    for t in g.tensors.values():
        if not t.is_const:
            t.shape = ()
    for t in g.tensors.values():
        if t.name in g.inputs:
            t.shape = shapes[t.name]
    infer_shapes(g)
    assert {k: t.shape for k, t in g.tensors.items()} == shapes
    canonicalize(g)
    assert [(n.op, n.attrs) for n in g.nodes] == before


def test_prune_drops_dead_nodes():
    g = ir.Graph(
        nodes=[ir.Node("Relu", "r1", ["x"], ["a"]), ir.Node("Relu", "r2", ["x"], ["dead"])],
        tensors={"x": ir.Tensor("x", (2, 3), "float32"), "a": ir.Tensor("a", (2, 3), "float32"),
                 "dead": ir.Tensor("dead", (2, 3), "float32")},
        inputs=["x"], outputs=["a"])
    prune(g)
    assert [n.name for n in g.nodes] == ["r1"] and "dead" not in g.tensors
    out = FloatExecutor(g).run({"x": -np.ones((2, 3), np.float32)})
    assert (out["a"] == 0).all()
