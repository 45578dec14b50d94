"""Minimal reproducers of what tools/fuzz.py found, each built in code.

Each test names what the input did before the fix (segfault, leaked exception class, hang).
The acceptable outcome of a malformed model is a documented ValueError subclass.
"""

from __future__ import annotations

import copy

import numpy as np
import pytest

onnx = pytest.importorskip("onnx")
from onnx import TensorProto, helper

from int8rt import format as i8format
from int8rt.frontend.onnx import UnsupportedOpError, import_onnx
from int8rt.ir import Graph, Node, QParams, Tensor
from int8rt.lower import LoweringError, lower
from int8rt.session import Session


# -- lowering: geometry a format-valid file can state but the kernels cannot run ----------------
def _q(shape: tuple[int, ...], name: str) -> Tensor:
    return Tensor(name, shape, "int8", qparams=QParams.per_tensor(0.1, 0))


def _pool_graph(op: str, kernel: tuple[int, int], strides: tuple[int, int],
                x_hw: tuple[int, int], y_hw: tuple[int, int], c: int = 4) -> Graph:
    """input -> Quantize -> pool -> Dequantize, every tensor shape stated explicitly."""
    xs, ys = (1, *x_hw, c), (1, *y_hw, c)
    tensors = {
        "x": Tensor("x", xs, "float32"), "xq": _q(xs, "xq"), "yq": _q(ys, "yq"),
        "y": Tensor("y", ys, "float32"),
    }
    attrs = {"kernel": kernel, "strides": strides, "pads": (0, 0, 0, 0)}
    if op == "GlobalAveragePool":
        attrs = {}
    nodes = [Node("Quantize", "q", ["x"], ["xq"]), Node(op, "pool", ["xq"], ["yq"], attrs),
             Node("Dequantize", "dq", ["yq"], ["y"])]
    return Graph(nodes, tensors, ["x"], ["y"])


def _through_file(g: Graph) -> Graph:
    """The graph is format-valid: it survives save + load unchanged in structure."""
    import io

    buf = io.BytesIO()
    i8format.save(g, buf)
    return i8format.load(buf.getvalue())


def test_pool_graph_builder_is_sound() -> None:
    g = _through_file(_pool_graph("AveragePool", (2, 2), (1, 1), (4, 4), (3, 3)))
    y = Session(g).run(None, {"x": np.ones((1, 4, 4, 4), np.float32)})[0]
    assert y.shape == (1, 3, 3, 4)
    assert np.allclose(y, 1.0)


def test_avgpool_huge_stride_with_stated_output_is_rejected() -> None:
    # was: accepted by the plan, which checks no pool output geometry; the native avgpool then
    # walks windows at ox * stride_w far outside the input (fuzz case i8-1-2854: segfault)
    g = _through_file(_pool_graph("AveragePool", (2, 2), (1, 2**31 - 1), (4, 4), (3, 3)))
    with pytest.raises(LoweringError, match="does not match the window"):
        Session(g)


def test_maxpool_kernel_larger_than_input_is_rejected() -> None:
    # was: planned and ran, producing values from a window that never overlaps the input
    g = _through_file(_pool_graph("MaxPool", (20, 20), (2, 2), (8, 8), (4, 4)))
    with pytest.raises(LoweringError, match="does not match the window"):
        Session(g)


@pytest.mark.parametrize("strides", [(0, 1), (-1, 1)])
def test_pool_stride_below_one_is_rejected_before_the_plan(strides: tuple[int, int]) -> None:
    g = _pool_graph("MaxPool", (2, 2), strides, (4, 4), (3, 3))
    with pytest.raises(LoweringError, match="must be >= 1"):
        lower(g)


def test_global_avgpool_over_empty_input_is_rejected() -> None:
    # was: ZeroDivisionError leaking from the multiplier (h * w == 0)
    g = _pool_graph("GlobalAveragePool", (1, 1), (1, 1), (0, 0), (1, 1))
    with pytest.raises(LoweringError, match="non-empty"):
        lower(g)


@pytest.fixture(scope="module")
def digits_int8() -> Graph:
    import int8rt
    from int8rt.demo import load_demo

    graph, _, _, x_calib = load_demo()
    return int8rt.quantize(graph, [x_calib[:16]], progress=False).graph


def _node(g: Graph, op: str, k: int = 0) -> Node:
    return [n for n in g.nodes if n.op == op][k]


@pytest.mark.parametrize("attr,value,match", [
    ("strides", (2**40, 1), "does not match the window"),  # was OverflowError in the binding
    ("pads", (2**40, 0, 0, 0), "does not match the window"),
    ("group", 3, "do not fit"),
    ("group", 0, "do not fit"),
    ("dilations", (0, 1), "must be >= 1"),
])
def test_conv_geometry_checked_in_lowering(digits_int8: Graph, attr: str, value: object,
                                           match: str) -> None:
    g = copy.deepcopy(digits_int8)
    _node(g, "Conv", 1).attrs[attr] = value
    with pytest.raises(LoweringError, match=match):
        Session(_through_file(g))


def test_gemm_weights_of_the_wrong_width_are_rejected(digits_int8: Graph) -> None:
    g = copy.deepcopy(digits_int8)
    w = g.tensors[_node(g, "Gemm").inputs[1]]
    w.data = np.ascontiguousarray(w.data[:, :32])
    w.shape = w.data.shape
    with pytest.raises(LoweringError, match="not \\(outputs, inputs\\)"):
        Session(_through_file(g))


def test_session_on_the_untouched_model_still_runs(digits_int8: Graph) -> None:
    from int8rt.demo import load_demo

    _, x_test, y_test, _ = load_demo()
    out = Session(_through_file(digits_int8)).run(None, {"input": x_test[:32]})[0]
    assert (out.argmax(1) == y_test[:32]).mean() > 0.8


# -- ONNX frontend: malformed nodes ------------------------------------------------------------
def _model(nodes: list, inits: list, in_shape: list[int]) -> onnx.ModelProto:
    g = helper.make_graph(nodes, "m", [helper.make_tensor_value_info("x", TensorProto.FLOAT,
                                                                     in_shape)],
                          [helper.make_tensor_value_info("y", TensorProto.FLOAT, None)], inits)
    m = helper.make_model(g, opset_imports=[helper.make_opsetid("", 13)])
    m.ir_version = 8
    return m


def test_conv_without_weights_is_unsupported_not_indexerror() -> None:
    # was: IndexError in the Conv converter (ins[1])
    m = _model([helper.make_node("Conv", ["x"], ["y"], kernel_shape=[3, 3])], [], [1, 2, 5, 5])
    with pytest.raises(UnsupportedOpError, match="malformed node"):
        import_onnx(m)


def test_concat_without_axis_is_unsupported_not_keyerror() -> None:
    # was: KeyError 'axis' in the Concat converter
    m = _model([helper.make_node("Relu", ["x"], ["r"]),
                helper.make_node("Concat", ["x", "r"], ["y"])], [], [1, 2, 5, 5])
    with pytest.raises(UnsupportedOpError, match="required attribute"):
        import_onnx(m)


def test_transpose_perm_of_the_wrong_rank_is_unsupported() -> None:
    # was: IndexError in the NCHW -> NHWC layout pass
    m = _model([helper.make_node("Relu", ["x"], ["r"]),
                helper.make_node("Transpose", ["r"], ["y"], perm=[0, 2, 1])], [], [1, 2, 5, 5])
    with pytest.raises(UnsupportedOpError, match="not a permutation"):
        import_onnx(m)


def test_pool_kernel_larger_than_input_fails_at_import() -> None:
    # was: a hang (calibration's float MaxPool walked a 2^62-wide window)
    m = _model([helper.make_node("MaxPool", ["x"], ["y"], kernel_shape=[2, 2**62])], [],
               [1, 2, 8, 8])
    with pytest.raises(ValueError, match="does not fit"):
        import_onnx(m)


@pytest.mark.parametrize("attrs", [{"kernel_shape": [2]}, {"kernel_shape": [2, 2], "strides": [2]}])
def test_pool_attrs_of_the_wrong_length_fail_in_shape_inference(attrs: dict) -> None:
    # was: IndexError in shape inference (kernel[1] / strides[1] of a 1-entry list)
    m = _model([helper.make_node("MaxPool", ["x"], ["y"], **attrs)], [], [1, 2, 8, 8])
    with pytest.raises(ValueError, match="wrong rank or arity"):
        import_onnx(m)


def test_conv_bias_wired_to_an_activation_is_unsupported() -> None:
    # was: AttributeError ('NoneType' object has no attribute 'dtype') reading the bias
    w = onnx.numpy_helper.from_array(np.full((2, 2, 1, 1), 0.1, np.float32), "w")
    m = _model([helper.make_node("Relu", ["x"], ["r"]),
                helper.make_node("Conv", ["x", "w", "r"], ["y"], kernel_shape=[1, 1])], [w],
               [1, 2, 2, 2])
    with pytest.raises(UnsupportedOpError, match="must be a constant"):
        import_onnx(m)


def test_resize_with_too_few_scales_is_unsupported() -> None:
    # was: IndexError in the Resize converter (sizes[2] of a 2-entry list)
    scales = onnx.numpy_helper.from_array(np.array([1, 1], np.float32), "scales")
    m = _model([helper.make_node("Resize", ["x", "", "scales"], ["y"], mode="nearest")],
               [scales], [1, 2, 4, 4])
    with pytest.raises(UnsupportedOpError, match="one entry per axis"):
        import_onnx(m)


def test_reshape_copying_a_dimension_past_the_input_rank_is_a_valueerror() -> None:
    # was: IndexError in the Reshape converter (xs[k] for a 0 at k >= rank)
    shape = onnx.numpy_helper.from_array(np.array([1, 8, 0], np.int64), "shape")
    m = _model([helper.make_node("Flatten", ["x"], ["f"]),
                helper.make_node("Reshape", ["f", "shape"], ["y"])], [shape], [1, 2, 2, 2])
    with pytest.raises(ValueError, match="past the input's rank"):
        import_onnx(m)


def test_node_redefining_its_own_input_is_refused_at_import() -> None:
    # was: RecursionError in PTQ (the activation-parameter walk followed p -> p forever)
    m = _model([helper.make_node("Relu", ["x"], ["p"]),
                helper.make_node("MaxPool", ["p"], ["p"], kernel_shape=[2, 2]),
                helper.make_node("Relu", ["p"], ["y"])], [], [1, 2, 4, 4])
    with pytest.raises(ValueError, match="already defined"):
        import_onnx(m)


def test_slice_step_int64_min_is_rejected_in_lowering() -> None:
    # was: UBSan "negation of -9223372036854775808" in the plan's slice range check
    xs, ys = (1, 8, 8, 4), (1, 6, 8, 2)
    tensors = {"x": Tensor("x", xs, "float32"), "xq": _q(xs, "xq"), "yq": _q(ys, "yq"),
               "y": Tensor("y", ys, "float32")}
    nodes = [Node("Quantize", "q", ["x"], ["xq"]),
             Node("Slice", "s", ["xq"], ["yq"], {"starts": (0, 0, 0, 1),
                                                 "steps": (1, -(2**63), 1, 1)}),
             Node("Dequantize", "dq", ["yq"], ["y"])]
    g = _through_file(Graph(nodes, tensors, ["x"], ["y"]))
    with pytest.raises(LoweringError, match="steps non-zero within int32"):
        Session(g)


# -- the dynamic path's ONNX loader and shape evaluator (tools/fuzz.py --target dynamic) -------
def _dyn_model(nodes, inits=(), out="y"):
    g = helper.make_graph(nodes, "g", [helper.make_tensor_value_info("x", TensorProto.FLOAT,
                                                                     [1, 4, 8])],
                          [helper.make_tensor_value_info(out, TensorProto.FLOAT, None)],
                          list(inits))
    m = helper.make_model(g, opset_imports=[helper.make_opsetid("", 17)])
    m.ir_version = 8
    return m


def _dyn_run(m):
    import int8rt

    qm = int8rt.quantize(m, mode="dynamic")
    return int8rt.Session(qm.graph).run(None, {"x": np.zeros((1, 4, 8), np.float32)})


def test_dynamic_matmul_without_its_weight_is_refused_by_name() -> None:
    with pytest.raises(ValueError, match="MatMul node 'mm'.*inputs"):
        _dyn_run(_dyn_model([helper.make_node("MatMul", ["x"], ["y"], name="mm")]))


def test_dynamic_dangling_input_and_missing_output_are_refused() -> None:
    with pytest.raises(ValueError, match="reads \\['ghost'\\]"):
        _dyn_run(_dyn_model([helper.make_node("Add", ["x", "ghost"], ["y"], name="a")]))
    with pytest.raises(ValueError, match="not produced"):
        _dyn_run(_dyn_model([helper.make_node("Relu", ["x"], ["r"], name="r")]))


def test_dynamic_reshape_and_slice_geometry_errors_are_value_errors() -> None:
    from int8rt.reference.onnx_ops import reshape_target, slice_spec

    with pytest.raises(ValueError, match="past the input's rank"):
        reshape_target((2, 3), np.array([0, 0, 0]))
    with pytest.raises(ValueError, match="starts"):
        slice_spec((2, 3), [0, 0, 0], [1, 1, 1], None, None)
    with pytest.raises(ValueError, match="step of 0"):
        slice_spec((2, 3), [0], [1], [0], [0])


def test_qdq_import_refuses_a_quantize_linear_without_its_scale() -> None:
    """tools/fuzz.py --target qdq: a QuantizeLinear with one input reached the QOperator
    rewriter, which indexes its scale (IndexError); now refused by the schema check, by name."""
    import int8rt

    q = helper.make_node("QuantizeLinear", ["x"], ["xq"], name="q")
    dq = helper.make_node("DequantizeLinear", ["xq", "s"], ["y"], name="dq")
    g = helper.make_graph([q, dq], "g",
                          [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 4])],
                          [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, 4])],
                          [helper.make_tensor("s", TensorProto.FLOAT, [], [0.1])])
    m = helper.make_model(g, opset_imports=[helper.make_opsetid("", 13)])
    with pytest.raises(ValueError, match="QuantizeLinear node 'q'.*inputs"):
        int8rt.quantize(m, progress=False)
