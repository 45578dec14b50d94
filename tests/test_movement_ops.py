"""Every pooling and data-movement op int8rt/ops/ declares, end to end, from a one-node ONNX
model: import + float executor against onnxruntime; quantized, the int8 records (native plan ==
numpy reference, bit for bit; within a quantization step of onnxruntime); and, for the ops
that also move float32 tensors (lower_f32), the node kept float32 by mixed precision (native ==
reference, bit for bit).

A new op of int8rt/ops/ needs only a row of CASES here (docs/ARCHITECTURE.md "Adding an op");
the tests pick it up from the registry.
"""

from __future__ import annotations

import numpy as np
import pytest

from int8rt import opset

pytest.importorskip("onnx")
pytest.importorskip("onnxruntime")

from tests.frontend.onnx_util import check, helper, init, make_model, run_ort


def _node(op, inputs=("x",), outputs=("y",), **attrs):
    return helper.make_node(op, list(inputs), list(outputs), name="my_op", **attrs)


# canonical op -> cases: (case id, ONNX node, input shape, initializers, outputs, opset)
CASES: dict[str, list[tuple]] = {
    "MaxPool": [("3x3s2p1", _node("MaxPool", kernel_shape=[3, 3], strides=[2, 2],
                                  pads=[1, 1, 1, 1]), (1, 4, 9, 9), [], ["y"], 17)],
    "AveragePool": [("3x3s2p1", _node("AveragePool", kernel_shape=[3, 3], strides=[2, 2],
                                      pads=[1, 1, 1, 1]), (1, 4, 9, 9), [], ["y"], 17)],
    "GlobalAveragePool": [("5x7", _node("GlobalAveragePool"), (2, 4, 5, 7), [], ["y"], 17)],
    "Reshape": [("3d", _node("Reshape", ["x", "s"]), (1, 3, 4, 5),
                 [init("s", np.array([1, 12, 5], np.int64))], ["y"], 17)],
    "Transpose": [("3d", _node("Transpose", perm=[0, 2, 1]), (2, 3, 5), [], ["y"], 17)],
    "Concat": [("channels", _node("Concat", ["x", "x"], axis=1), (1, 3, 4, 5), [], ["y"], 17)],
    "Split": [("channels", _node("Split", ["x", "s"], ["y", "z"], axis=1), (1, 6, 4, 4),
               [init("s", np.array([2, 4], np.int64))], ["y", "z"], 17)],
    "Slice": [("strided", _node("Slice", ["x", "b", "e", "a", "st"]), (1, 4, 7, 6),
               [init("b", np.array([1, 0], np.int64)), init("e", np.array([6, 4], np.int64)),
                init("a", np.array([2, 3], np.int64)), init("st", np.array([2, 1], np.int64))],
               ["y"], 17)],
    "Pad": [("reflect", _node("Pad", ["x", "p"], mode="reflect"), (1, 3, 4, 5),
             [init("p", np.array([0, 0, 1, 2, 0, 0, 2, 1], np.int64))], ["y"], 17),
            ("constant", _node("Pad", ["x", "p"]), (1, 3, 4, 5),
             [init("p", np.array([0, 0, 1, 0, 0, 0, 0, 2], np.int64))], ["y"], 17)],
    "Resize": [("nearest", _node("Resize", ["x", "", "sc"]), (1, 3, 4, 5),
                [init("sc", np.array([1, 1, 2, 2], np.float32))], ["y"], 17),
               ("linear", _node("Resize", ["x", "", "sc"], mode="linear"), (1, 3, 4, 5),
                [init("sc", np.array([1, 1, 2, 2], np.float32))], ["y"], 17)],
    "DepthToSpace": [("DCR", _node("DepthToSpace", blocksize=2), (2, 12, 3, 5), [], ["y"], 17),
                     ("CRD", _node("DepthToSpace", blocksize=3, mode="CRD"), (1, 18, 2, 3), [],
                      ["y"], 17)],
    "SpaceToDepth": [("DCR", _node("SpaceToDepth", blocksize=2), (2, 3, 4, 6), [], ["y"], 17),
                     # mode: ONNX opset 28
                     ("CRD", _node("SpaceToDepth", blocksize=3, mode="CRD"), (1, 2, 6, 3), [],
                      ["y"], 28)],
}

PARAMS = [pytest.param(op, *case, id=f"{op}-{case[0]}") for op, cases in CASES.items()
          for case in cases]
FLOAT_PARAMS = [p for p in PARAMS if opset.OPS[p.values[0]].lower_f32 is not None]


def test_every_declared_op_has_cases():
    # (the float-only ONNX-semantics ops have theirs in tests/test_float_fallback_cnn.py and
    # the ONNX backend cases, tests/conformance)
    assert sorted(CASES) == sorted(op for op in opset.DECLARED_OPS
                                   if op not in opset.ONNX_FLOAT_OPS)


def _model(node, shape, inits, outputs, version):
    return make_model([node], {"x": shape}, outputs, inits=inits, opset=version)


def _feeds(shape, k=0):
    rng = np.random.default_rng(k)
    return {"x": (rng.standard_normal(shape) * 2).astype(np.float32)}


@pytest.mark.parametrize("op,case,node,shape,inits,outputs,version", PARAMS)
def test_import_and_float_executor_match_onnxruntime(op, case, node, shape, inits, outputs,
                                                     version):
    g = check(_model(node, shape, inits, outputs, version), _feeds(shape), rtol=1e-5, atol=1e-6)
    assert op in [n.op for n in g.nodes]


def _run_both(qm, feeds):
    import int8rt
    from int8rt.lower import lower
    from int8rt.reference.program import run_program

    native = int8rt.Session(qm).run(None, feeds)
    reference = run_program(lower(qm.graph), [feeds["x"]])
    assert len(native) == len(reference)
    for a, b in zip(native, reference):
        assert a.dtype == b.dtype and np.array_equal(a, b)
    return native


def _scale(qm, name):
    """The scale of model input / output `name` where the graph quantizes it (tensor
    "<name>:int8"), else 0."""
    t = qm.graph.tensors.get(f"{name}:int8")
    return 0.0 if t is None else float(np.max(t.qparams.scale))


@pytest.mark.parametrize("op,case,node,shape,inits,outputs,version", PARAMS)
def test_int8_native_equals_reference_and_tracks_onnxruntime(op, case, node, shape, inits,
                                                             outputs, version):
    import int8rt

    model = _model(node, shape, inits, outputs, version)
    feeds = _feeds(shape)
    qm = int8rt.quantize(model, [feeds] + [_feeds(shape, k) for k in (1, 2, 3)],
                         progress=False)
    ours = [n for n in qm.graph.nodes if n.op == op]
    assert ours and all(qm.graph.tensors[o].dtype == "int8" for n in ours for o in n.outputs)
    native = _run_both(qm, feeds)
    # half an input step (the boundary quantization) plus an output step (requantization)
    for got, want, name in zip(native, run_ort(model, feeds), outputs):
        tol = _scale(qm, "x") / 2 + _scale(qm, name) + 1e-6
        assert got.shape == want.shape and np.max(np.abs(got - want)) <= tol


@pytest.mark.parametrize("op,case,node,shape,inits,outputs,version", FLOAT_PARAMS)
def test_float32_in_the_plan_native_equals_reference(op, case, node, shape, inits, outputs,
                                                     version):
    import int8rt

    model = _model(node, shape, inits, outputs, version)
    feeds = _feeds(shape)
    qm = int8rt.quantize(model, [feeds], progress=False, float_nodes=["my_op"])
    (ours,) = [n for n in qm.graph.nodes if n.name == "my_op"]
    assert ours.op == op and qm.graph.tensors[ours.outputs[0]].dtype == "float32"
    native = _run_both(qm, feeds)
    # the input quantized at the boundary, and an output when the graph quantizes it again
    # after the float32 node (all float32: onnxruntime's result exactly)
    for got, want, name in zip(native, run_ort(model, feeds), outputs):
        assert np.max(np.abs(got - want)) <= _scale(qm, "x") / 2 + _scale(qm, name) + 1e-6


def test_depth_to_space_refuses_what_it_cannot_do():
    """Channels that blocksize^2 does not divide, and a mode ONNX does not have: a clear error
    at import, naming the node."""
    from int8rt.frontend.onnx import import_onnx

    bad = _model(_node("DepthToSpace", blocksize=2), (1, 6, 3, 3), [], ["y"], 17)
    with pytest.raises(ValueError, match="my_op.*blocksize"):
        import_onnx(bad)
    from int8rt import validate

    g = import_onnx(_model(_node("DepthToSpace", blocksize=2), (1, 8, 3, 3), [], ["y"], 17))
    (node,) = [n for n in g.nodes if n.op == "DepthToSpace"]
    node.attrs["mode"] = "XYZ"
    with pytest.raises(validate.GraphValidationError, match="mode"):
        validate.validate_graph(g)


def test_an_undeclared_attribute_is_refused_not_dropped():
    """A 1:1 import (opset `onnx=True`) takes only the attributes its schema declares: another
    one (an attribute a later ONNX opset adds) refuses the node instead of being ignored."""
    from int8rt.frontend.onnx import UnsupportedOpError, import_onnx

    node = _node("DepthToSpace", blocksize=2, interleave=1)
    with pytest.raises(UnsupportedOpError, match="interleave"):
        import_onnx(_model(node, (1, 8, 3, 3), [], ["y"], 17))
