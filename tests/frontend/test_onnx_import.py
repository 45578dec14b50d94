"""import_onnx + FloatExecutor against onnxruntime, one small model per supported op form."""

from __future__ import annotations

import numpy as np
import pytest

pytest.importorskip("onnx")  # an extra: a Pi runtime install lacks it
pytest.importorskip("onnxruntime")

from int8rt.frontend.onnx import SUPPORTED_ONNX_OPS, UnsupportedOpError, import_onnx
from int8rt.opset import OPS
from tests.frontend.onnx_util import check, helper, init, make_model, rand, run_int8rt

X4 = (2, 3, 9, 11)


def one(op, attrs=None, inits=(), extra_inputs=(), shape=X4, opset=17, n_out=1, **kw):
    outs = [f"y{i}" for i in range(n_out)]
    node = helper.make_node(op, ["x", *extra_inputs], outs, name=f"my_{op}", **(attrs or {}))
    return make_model([node], {"x": shape}, outs, inits, opset=opset, **kw)


def feeds(shape=X4):
    return {"x": rand(*shape)}


def ops_of(g):
    return [n.op for n in g.nodes]


def test_canonical_ops_only():
    g = check(one("Relu"), feeds())
    assert set(ops_of(g)) <= set(OPS)
    assert g.meta["layout"] == "NHWC"


@pytest.mark.parametrize("kw", [
    {},
    {"strides": [2, 2], "pads": [1, 0, 2, 1]},
    {"dilations": [2, 1], "pads": [2, 1, 2, 1]},
    {"auto_pad": "SAME_UPPER", "strides": [2, 2]},
    {"auto_pad": "SAME_LOWER", "strides": [2, 3]},
    {"auto_pad": "VALID"},
])
def test_conv(kw):
    w = init("w", rand(4, 3, 3, 3))
    b = init("b", rand(4))
    g = check(one("Conv", kw, [w, b], ["w", "b"]), feeds())
    conv = next(n for n in g.nodes if n.op == "Conv")
    assert g.tensors[conv.inputs[1]].shape == (4, 3, 3, 3)
    # SAME pads are resolved for the import size, and say so (int8rt/image_size.py)
    same = {"pads_for_size"} if kw.get("auto_pad", "").startswith("SAME") else set()
    assert set(conv.attrs) == {"strides", "dilations", "pads", "group", "clip"} | same
    if same:
        assert conv.attrs["pads_for_size"] == f"auto_pad {kw['auto_pad']}"


@pytest.mark.parametrize("group,oc", [(3, 3), (3, 6), (1, 5)])
def test_conv_groups(group, oc):
    w = init("w", rand(oc, 3 // group, 3, 3))
    check(one("Conv", {"group": group, "pads": [1, 1, 1, 1]}, [w], ["w"]), feeds())


def test_conv_group_nondepthwise():
    w = init("w", rand(6, 2, 3, 3))
    check(one("Conv", {"group": 2, "pads": [1, 1, 1, 1]}, [w], ["w"], shape=(1, 4, 7, 7)),
          {"x": rand(1, 4, 7, 7)})


@pytest.mark.parametrize("kw", [
    {"strides": [2, 2]},
    {"strides": [2, 2], "pads": [1, 1, 1, 1], "output_padding": [1, 1]},
    {"strides": [3, 2], "pads": [2, 0, 1, 3]},
    {"strides": [1, 1], "pads": [1, 1, 1, 1]},
    {"strides": [2, 2], "dilations": [2, 1]},
    {"strides": [2, 2], "group": 3},
    {"strides": [2, 2], "output_shape": [19, 23], "auto_pad": "SAME_UPPER"},
])
def test_conv_transpose(kw):
    g = kw.get("group", 1)
    w = init("w", rand(3, 6 // g if g > 1 else 4, 3, 3))
    b = init("b", rand((6 // g) * g if g > 1 else 4))
    m = one("ConvTranspose", kw, [w, b], ["w", "b"], shape=(2, 3, 9, 11))
    gr = check(m, feeds())
    assert "ConvTranspose" not in ops_of(gr)


def test_conv_transpose_k4s2p1_is_one_conv_plus_data_movement():
    w = init("w", rand(3, 5, 4, 4))
    g = check(one("ConvTranspose", {"strides": [2, 2], "pads": [1, 1, 1, 1]}, [w], ["w"]),
              feeds())
    assert ops_of(g).count("Conv") == 1
    assert set(ops_of(g)) <= {"Conv", "Reshape", "Pad", "Transpose", "Slice"}


@pytest.mark.parametrize("ta,tb,alpha,beta,cshape", [
    (0, 0, 1.0, 1.0, (5,)), (0, 1, 0.5, 2.0, (1, 5)), (1, 0, 1.0, 0.0, (5,)),
    (1, 1, 2.0, 1.0, (3, 5)), (0, 0, 1.0, 1.0, None),
])
def test_gemm(ta, tb, alpha, beta, cshape):
    a_shape = (7, 3) if ta else (3, 7)
    b_arr = rand(5, 7) if tb else rand(7, 5)
    inits = [init("b", b_arr)]
    ins = ["b"]
    if cshape:
        inits.append(init("c", rand(*cshape)))
        ins.append("c")
    node = helper.make_node("Gemm", ["a", *ins], ["y"], transA=ta, transB=tb, alpha=alpha,
                            beta=beta)
    m = make_model([node], {"a": a_shape}, ["y"], inits)
    check(m, {"a": rand(*a_shape)})


@pytest.mark.parametrize("shape", [(4, 6), (2, 3, 6), (2, 3, 4, 6), (6,)])
def test_matmul(shape):
    node = helper.make_node("MatMul", ["x", "w"], ["y"])
    m = make_model([node], {"x": shape}, ["y"], [init("w", rand(6, 5))])
    g = check(m, {"x": rand(*shape)})
    assert "Gemm" in ops_of(g)


def test_matmul_two_activations_is_a_float_matmul():
    """No int8 form: ONNX's MatMul, kept in float32 (opset.ONNX_FLOAT_OPS)."""
    node = helper.make_node("MatMul", ["x", "z"], ["y"], name="mm")
    m = make_model([node], {"x": (4, 6), "z": (6, 2)}, ["y"])
    g = check(m, {"x": rand(4, 6), "z": rand(6, 2)})
    assert ops_of(g) == ["MatMul"] and not OPS["MatMul"].int8


@pytest.mark.parametrize("op,attrs", [
    ("Relu", {}), ("Sigmoid", {}), ("Tanh", {}), ("HardSwish", {}),
    ("LeakyRelu", {"alpha": 0.1}), ("LeakyRelu", {}), ("HardSigmoid", {"alpha": 0.3, "beta": 0.4}),
    ("HardSigmoid", {}),
])
def test_unary(op, attrs):
    check(one(op, attrs), {"x": rand(*X4, scale=4)})


def test_clip_opset6_attrs():
    g = check(one("Clip", {"min": -0.5, "max": 0.7}, opset=6), feeds())
    (clip,) = [n.attrs for n in g.nodes if n.op == "Clip"]
    assert clip == {"min": -0.5, "max": pytest.approx(0.7)}


@pytest.mark.parametrize("lo,hi", [(-0.5, 0.7), (None, 0.3), (0.1, None)])
def test_clip_opset13_inputs(lo, hi):
    inits, names = [], []
    for nm, v in (("lo", lo), ("hi", hi)):
        if v is None:
            names.append("")
        else:
            inits.append(init(nm, np.array(v, np.float32)))
            names.append(nm)
    check(one("Clip", {}, inits, names), feeds())


@pytest.mark.parametrize("op", ["Add", "Sub", "Mul", "Div"])
@pytest.mark.parametrize("bshape", [(), (3, 1, 1), (1, 3, 9, 11), (11,)])
def test_binary_const(op, bshape):
    b = rand(*bshape) + (3.0 if op == "Div" else 0.0)
    g = check(one(op, {}, [init("b", np.asarray(b, np.float32))], ["b"]), feeds())
    if op == "Div":
        assert "Div" not in ops_of(g) and "Mul" in ops_of(g)


@pytest.mark.parametrize("op", ["Add", "Sub", "Mul", "Div"])
def test_binary_two_activations(op):
    node = helper.make_node(op, ["x", "z"], ["y"])
    m = make_model([node], {"x": X4, "z": (1, 3, 1, 1)}, ["y"])
    check(m, {"x": rand(*X4), "z": rand(1, 3, 1, 1) + 3})


def test_binary_broadcast_lower_rank_activation():
    # [N, C] activation (e.g. an SE gate computed by Gemm) against NCHW: needs 4-D reshape
    n1 = helper.make_node("Reshape", ["z", "s"], ["z4"])
    n2 = helper.make_node("Mul", ["x", "z4"], ["y"])
    m = make_model([n1, n2], {"x": X4, "z": (2, 3)}, ["y"],
                   [init("s", np.array([2, 3, 1, 1], np.int64))])
    check(m, {"x": rand(*X4), "z": rand(2, 3)})


def test_batchnorm_standalone():
    c = 3
    inits = [init("s", rand(c)), init("b", rand(c)), init("m", rand(c)),
             init("v", np.abs(rand(c)) + 0.1)]
    g = check(one("BatchNormalization", {"epsilon": 1e-3}, inits, ["s", "b", "m", "v"]),
              feeds())
    assert "BatchNormalization" not in ops_of(g)


@pytest.mark.parametrize("kw", [
    {"kernel_shape": [3, 3]},
    {"kernel_shape": [3, 3], "strides": [2, 2], "pads": [1, 1, 1, 1]},
    {"kernel_shape": [3, 2], "strides": [2, 2], "ceil_mode": 1},
    {"kernel_shape": [2, 2], "strides": [2, 2], "ceil_mode": 1, "pads": [1, 0, 1, 0]},
    {"kernel_shape": [3, 3], "strides": [2, 2], "auto_pad": "SAME_UPPER"},
    {"kernel_shape": [3, 3], "auto_pad": "SAME_LOWER"},
])
@pytest.mark.parametrize("op", ["MaxPool", "AveragePool"])
def test_pool(op, kw):
    check(one(op, kw), feeds())


@pytest.mark.parametrize("kw", [
    {"kernel_shape": [3, 3], "strides": [2, 2], "pads": [1, 1, 1, 1], "count_include_pad": 1},
    {"kernel_shape": [3, 3], "strides": [2, 2], "pads": [1, 1, 1, 1], "count_include_pad": 1,
         "ceil_mode": 1},
    {"kernel_shape": [2, 3], "strides": [2, 2], "pads": [0, 1, 0, 1], "count_include_pad": 0,
         "ceil_mode": 1},
])
def test_avgpool_count_include_pad(kw):
    check(one("AveragePool", kw), feeds())


def test_maxpool_dilation():
    check(one("MaxPool", {"kernel_shape": [2, 2], "dilations": [2, 2], "pads": [1, 1, 1, 1]}),
          feeds())


def test_global_pools_and_reduce_mean():
    check(one("GlobalAveragePool"), feeds())
    check(one("GlobalMaxPool"), feeds())
    check(one("ReduceMean", {"axes": [2, 3], "keepdims": 1}), feeds())
    check(one("ReduceMean", {"axes": [-2, -1], "keepdims": 0}, opset=13), feeds())
    g = check(one("ReduceMax", {"axes": [2, 3], "keepdims": 1}), feeds())
    assert "MaxPool" in ops_of(g)  # int8, as GlobalMaxPool
    check(one("ReduceMax", {"axes": [-1, -2], "keepdims": 0}), feeds())


@pytest.mark.parametrize("op", ["ReduceMean", "ReduceMax", "ReduceSum", "ReduceL2"])
def test_reduce_over_the_channels_is_onnx_op_in_float(op):
    """Spatial attention reduces over the channels: ONNX's op, kept for float32 (axes as
    ONNX gives them, an opset-13+ axes input as the attribute)."""
    axes_input = op == "ReduceSum"  # ReduceSum takes its axes as an input from opset 13
    m = one(op, {"keepdims": 1} if axes_input else {"axes": [1], "keepdims": 1},
            inits=[init("ax", np.array([1], np.int64))] if axes_input else (),
            extra_inputs=["ax"] if axes_input else ())
    g = check(m, feeds())
    node = next(n for n in g.nodes if n.op == op)
    assert node.attrs["axes"] == [1] and not OPS[op].int8 and len(node.inputs) == 1


@pytest.mark.parametrize("axis", [0, 1, 2, 3, -1])
def test_flatten(axis):
    check(one("Flatten", {"axis": axis}), feeds())


@pytest.mark.parametrize("target", [[0, -1], [2, 0, 99], [-1, 11], [0, 3, 11, 9],
                                    [2, 3, 9, 11]])
def test_reshape(target):
    check(one("Reshape", {}, [init("s", np.array(target, np.int64))], ["s"]), feeds())


@pytest.mark.parametrize("perm", [[0, 2, 3, 1], [0, 3, 1, 2], [3, 2, 1, 0], None])
def test_transpose(perm):
    check(one("Transpose", {"perm": perm} if perm else {}), feeds())


@pytest.mark.parametrize("axis", [1, 2, -1, 0])
def test_concat_with_constant(axis):
    cshape = list(X4)
    cshape[axis] = 2
    node = helper.make_node("Concat", ["x", "c", "x"], ["y"], axis=axis)
    m = make_model([node], {"x": X4}, ["y"], [init("c", rand(*cshape))])
    check(m, feeds())


@pytest.mark.parametrize("opset,form", [(11, "attr"), (13, "input"), (13, "equal"),
                                        (18, "num_outputs")])
def test_split(opset, form):
    attrs, inits, extra = {"axis": 1}, [], []
    n_out = 2
    if form == "attr":
        attrs["split"] = [1, 2]
    elif form == "input":
        inits, extra = [init("sp", np.array([2, 1], np.int64))], ["sp"]
    elif form == "equal":
        n_out = 3
    else:
        attrs["num_outputs"] = 2
    shape = (2, 4, 5, 6) if form == "num_outputs" else X4
    if form == "num_outputs":
        attrs["axis"] = 3
    check(one("Split", attrs, inits, extra, opset=opset, n_out=n_out, shape=shape),
          {"x": rand(*shape)})


@pytest.mark.parametrize("starts,ends,axes,steps", [
    ([1], [3], [1], None),
    ([0, 2], [-1, 100], [2, 3], [2, 3]),
    ([-1], [-100], [3], [-2]),
    ([8, -3], [0, -1000], [2, 1], [-3, -1]),
    ([-100], [100], [0], None),
    ([0, 0, 1, 2], [1, 2, 4, 9], None, None),
])
def test_slice(starts, ends, axes, steps):
    inits = [init("st", np.array(starts, np.int64)), init("en", np.array(ends, np.int64))]
    names = ["st", "en"]
    if axes is not None or steps is not None:
        inits.append(init("ax", np.array(axes if axes is not None else range(len(starts)),
                                         np.int64)))
        names.append("ax")
    if steps is not None:
        inits.append(init("sp", np.array(steps, np.int64)))
        names.append("sp")
    check(one("Slice", {}, inits, names), feeds())


def test_slice_opset1():
    check(one("Slice", {"starts": [1, -4], "ends": [3, 1000], "axes": [1, 3]}, opset=9),
          feeds())


@pytest.mark.parametrize("mode", ["constant", "reflect", "edge"])
def test_pad(mode):
    pads = np.array([0, 0, 1, 2, 0, 0, 2, 1], np.int64)
    inits = [init("p", pads), init("v", np.array(1.5, np.float32))]
    check(one("Pad", {"mode": mode}, inits, ["p", "v"] if mode == "constant" else ["p"]),
          feeds())


def test_pad_opset2_and_negative():
    check(one("Pad", {"pads": [0, 1, 1, 0, 0, 0, 2, 1], "value": -2.0}, opset=2), feeds())
    pads = np.array([0, 0, -1, 2, 0, 0, 1, -3], np.int64)
    check(one("Pad", {}, [init("p", pads)], ["p"]), feeds())


def test_pad_axes_opset18():
    inits = [init("p", np.array([1, 2, 3, 0], np.int64)), init("ax", np.array([2, -1],
                                                                               np.int64))]
    check(one("Pad", {"mode": "reflect"}, inits, ["p", "", "ax"], opset=18), feeds())


@pytest.mark.parametrize("mode,ctm,nearest", [
    ("nearest", "asymmetric", "floor"),
    ("nearest", "half_pixel", "round_prefer_floor"),
    ("nearest", "half_pixel", "round_prefer_ceil"),
    ("nearest", "align_corners", "round_prefer_floor"),
    ("nearest", "tf_half_pixel_for_nn", "ceil"),
    ("linear", "half_pixel", None),
    ("linear", "pytorch_half_pixel", None),
    ("linear", "align_corners", None),
    ("linear", "asymmetric", None),
])
@pytest.mark.parametrize("how", ["scales", "sizes", "down"])
def test_resize(mode, ctm, nearest, how):
    attrs = {"mode": mode, "coordinate_transformation_mode": ctm}
    if nearest:
        attrs["nearest_mode"] = nearest
    if how == "scales":
        inits = [init("sc", np.array([1, 1, 2.0, 1.5], np.float32))]
        names = ["", "sc"]
    elif how == "sizes":
        inits = [init("sz", np.array([2, 3, 20, 17], np.int64))]
        names = ["", "", "sz"]
    else:
        inits = [init("sc", np.array([1, 1, 0.5, 0.75], np.float32))]
        names = ["", "sc"]
    check(one("Resize", attrs, inits, names), feeds())


@pytest.mark.parametrize("mode", ["nearest", "linear"])
def test_upsample_and_resize10(mode):
    sc = init("sc", np.array([1, 1, 3, 2], np.float32))
    check(one("Upsample", {"mode": mode}, [sc], ["sc"], opset=9), feeds())
    check(one("Resize", {"mode": mode}, [sc], ["sc"], opset=10), feeds())
    check(one("Upsample", {"mode": mode, "scales": [1.0, 1.0, 2.0, 3.0]}, opset=7), feeds())


@pytest.mark.parametrize("opset,axis", [(11, 1), (11, 2), (11, 3), (11, -1), (13, 1),
                                        (13, -1), (13, 2), (11, None)])
def test_softmax(opset, axis):
    attrs = {} if axis is None else {"axis": axis}
    check(one("Softmax", attrs, opset=opset), {"x": rand(*X4, scale=3)})


def test_softmax_2d():
    check(one("Softmax", {"axis": 1}, shape=(4, 10), opset=11), {"x": rand(4, 10)})


def test_identity_dropout_cast_removed():
    nodes = [helper.make_node("Identity", ["x"], ["a"]),
             helper.make_node("Dropout", ["a"], ["b"]),
             helper.make_node("Cast", ["b"], ["c"], to=1),
             helper.make_node("Relu", ["c"], ["y"])]
    g = check(make_model(nodes, {"x": X4}, ["y"]), feeds())
    assert "Identity" not in ops_of(g)


def test_identity_as_output():
    nodes = [helper.make_node("Relu", ["x"], ["a"]), helper.make_node("Identity", ["a"], ["y"])]
    check(make_model(nodes, {"x": (2, 5)}, ["y"]), {"x": rand(2, 5)})
    nodes = [helper.make_node("Identity", ["x"], ["y"])]
    check(make_model(nodes, {"x": (2, 5)}, ["y"]), {"x": rand(2, 5)})


def test_constant_node_and_fp16_int8_initializers():
    nodes = [helper.make_node("Constant", [], ["c"], value=init("cv", rand(3, 1, 1))),
             helper.make_node("Add", ["x", "c"], ["a"]),
             helper.make_node("Cast", ["h"], ["hf"], to=1),
             helper.make_node("Mul", ["a", "hf"], ["b"]),
             helper.make_node("Cast", ["q"], ["qf"], to=1),
             helper.make_node("Add", ["b", "qf"], ["y"])]
    inits = [init("h", rand(11).astype(np.float16)), init("q", np.arange(11, dtype=np.int8))]
    check(make_model(nodes, {"x": X4}, ["y"], inits), feeds(), rtol=1e-3)


def test_exporter_shape_subgraph_flatten():
    """x.view(x.size(0), -1) as torch.onnx exports it (opset 11 style)."""
    i64 = lambda v: init(f"k{v}", np.array(v, np.int64))
    nodes = [
        helper.make_node("Conv", ["x", "w"], ["c"], pads=[1, 1, 1, 1]),
        helper.make_node("Shape", ["c"], ["s"]),
        helper.make_node("Gather", ["s", "k0"], ["n"], axis=0),
        helper.make_node("Unsqueeze", ["n"], ["n1"], axes=[0]),
        helper.make_node("Constant", [], ["m1"], value=init("m1v", np.array([-1], np.int64))),
        helper.make_node("Concat", ["n1", "m1"], ["shape"], axis=0),
        helper.make_node("Reshape", ["c", "shape"], ["f"]),
        helper.make_node("Gemm", ["f", "fw"], ["y"], transB=1),
    ]
    inits = [init("w", rand(4, 3, 3, 3)), i64(0), init("fw", rand(5, 4 * 9 * 11))]
    g = check(make_model(nodes, {"x": X4}, ["y"], inits, opset=11), feeds())
    assert [n.op for n in g.nodes].count("Transpose") == 2  # input NHWC, back to NCHW to flatten


def test_exporter_shape_subgraph_resize_sizes():
    """F.interpolate(size computed from another tensor): Shape/Slice/Cast/Mul/Concat/Resize."""
    nodes = [
        helper.make_node("Shape", ["x"], ["s"]),
        helper.make_node("Slice", ["s", "b0", "b2"], ["nc"]),
        helper.make_node("Slice", ["s", "b2", "b4"], ["hw"]),
        helper.make_node("Cast", ["hw"], ["hwf"], to=1),
        helper.make_node("Mul", ["hwf", "two"], ["hw2f"]),
        helper.make_node("Floor", ["hw2f"], ["hw2ff"]),
        helper.make_node("Cast", ["hw2ff"], ["hw2"], to=7),
        helper.make_node("Concat", ["nc", "hw2"], ["size"], axis=0),
        helper.make_node("Range", ["r0", "r3", "r1"], ["rng"]),
        helper.make_node("ConstantOfShape", ["rng"], ["ones"],
                         value=init("cv", np.array([1.0], np.float32))),
        helper.make_node("Expand", ["bias", "s"], ["bias_full"]),
        helper.make_node("Resize", ["x", "roi", "", "size"], ["r"], mode="nearest"),
        helper.make_node("Squeeze", ["sq", "ax0"], ["sq1"]),
        helper.make_node("Add", ["r", "sq1"], ["y"]),
        helper.make_node("Add", ["x", "bias_full"], ["y2"]),
    ]
    i64 = lambda n, v: init(n, np.array(v, np.int64))
    inits = [i64("b0", [0]), i64("b2", [2]), i64("b4", [4]),
             init("two", np.array(2.0, np.float32)), i64("r0", 0), i64("r3", 3), i64("r1", 1),
             init("bias", rand(3, 1, 1)), init("sq", rand(1, 1, 18, 22)), i64("ax0", [0]),
             init("roi", np.zeros(0, np.float32))]
    g = check(make_model(nodes, {"x": X4}, ["y", "y2"], inits, opset=13), feeds())
    assert {n.op for n in g.nodes} <= {"Resize", "Add", "Transpose"}


def test_constant_folds_any_all_constant_op():
    nodes = [helper.make_node("Sqrt", ["c"], ["sc"]),
             helper.make_node("Mul", ["x", "sc"], ["y"])]
    g = check(make_model(nodes, {"x": X4}, ["y"], [init("c", np.abs(rand(11)))]), feeds())
    assert ops_of(g) == ["Transpose", "Mul", "Transpose"] or ops_of(g) == ["Mul"]


def test_unsupported_lists_every_node():
    nodes = [helper.make_node("Relu", ["x"], ["a"], name="r"),
             helper.make_node("Cos", ["a"], ["b"], name="cos_node"),
             helper.make_node("Relu", ["b"], ["c"], name="r2"),
             helper.make_node("TopK", ["c", "k"], ["y", "idx"], name="topk_node")]
    m = make_model(nodes, {"x": (2, 5)}, ["y"], [init("k", np.array([2], np.int64))])
    with pytest.raises(UnsupportedOpError) as e:
        import_onnx(m)
    msg = str(e.value)
    assert "Cos" in msg and "cos_node" in msg and "TopK" in msg and "topk_node" in msg
    assert isinstance(e.value, ValueError)


def test_unsupported_unnamed_node_gets_a_name():
    m = make_model([helper.make_node("Einsum", ["x"], ["y"], equation="ij->ji")],
                   {"x": (2, 5)}, ["y"])
    with pytest.raises(UnsupportedOpError, match=r"Einsum \(node 'Einsum_0'\)"):
        import_onnx(m)


def test_symbolic_dims():
    node = helper.make_node("Conv", ["x", "w"], ["y"], pads=[1, 1, 1, 1])
    w = init("w", rand(4, 3, 3, 3))
    m = make_model([node], {"x": ("N", 3, "H", "W")}, ["y"], [w])
    with pytest.raises(ValueError, match="symbolic dim 2.*pin"):
        import_onnx(m)
    g = check(m, {"x": rand(2, 3, 8, 6)}, input_shapes={"x": (2, 3, 8, 6)})
    assert g.tensors["x"].shape == (2, 3, 8, 6)
    m2 = make_model([node], {"x": ("N", 3, 8, 6)}, ["y"], [w])
    assert import_onnx(m2).tensors["x"].shape == (1, 3, 8, 6)
    with pytest.raises(ValueError, match="contradicts"):
        import_onnx(m2, {"x": (1, 4, 8, 6)})
    with pytest.raises(ValueError, match="unknown inputs"):
        import_onnx(m2, {"nope": (1, 3, 8, 6)})


def test_malformed():
    node = helper.make_node("Relu", ["missing"], ["y"])
    with pytest.raises(ValueError, match="missing"):
        import_onnx(make_model([node], {"x": (2, 5)}, ["y"]))
    with pytest.raises(ValueError, match="no such ONNX file"):
        import_onnx("/nonexistent/model.onnx")


def test_batch_size_independent_of_import():
    nodes = [helper.make_node("Conv", ["x", "w"], ["c"], pads=[1, 1, 1, 1]),
             helper.make_node("Flatten", ["c"], ["f"]),
             helper.make_node("Gemm", ["f", "fw"], ["y"], transB=1)]
    m = make_model(nodes, {"x": ("N", 3, 9, 11)}, ["y"],
                   [init("w", rand(4, 3, 3, 3)), init("fw", rand(5, 4 * 99))])
    feeds5 = {"x": rand(5, 3, 9, 11)}
    from tests.frontend.onnx_util import run_ort
    want = run_ort(m, feeds5)[0]
    _, got = run_int8rt(m, feeds5)
    np.testing.assert_allclose(got[0], want, rtol=1e-4, atol=1e-5)


def test_supported_table_names_canonical_ops():
    for onnx_op, target in SUPPORTED_ONNX_OPS.items():
        head = target.split(" ")[0]
        assert head in OPS or head in ("folded", "removed", "constant-folded"), (onnx_op, target)
