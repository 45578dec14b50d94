"""ONNX -> ir.Graph for the dynamic path: ONNX op types, attributes and layout kept as they
are (no canonicalization, no NHWC), symbolic dimensions stored as 0 until a Session pins them (0 = free: the .i8 format has no
negative sizes).
Only this module and frontend/onnx.py import onnx."""

from __future__ import annotations

import os
from typing import Any

import numpy as np
import onnx
from onnx import helper, numpy_helper

from .. import ir
from ..frontend.onnx import UnsupportedOpError, _schema_violation
from ..opset import ONNX_LAYOUT_OPS as OPSET_NAMES
from ..reference import dqconv as _dqconv  # noqa: F401  (registers Conv / MaxPool)
from ..reference import rnn as _rnn  # noqa: F401  (registers LSTM / GRU)
from ..reference.onnx_ops import ONNX_DTYPES, OPS

# ops the dynamic path can run (specialize.py folds the shape-only ones, plan.py lowers the rest)
SUPPORTED = frozenset(OPS) | {"Constant", "LSTM", "GRU"}



def _dtype_name(elem_type: int) -> str:
    try:
        return np.dtype(ONNX_DTYPES[elem_type]).name
    except KeyError:
        raise ValueError(f"element type {onnx.TensorProto.DataType.Name(elem_type)} is not "
                         "supported by the dynamic path") from None


def _attr(a: onnx.AttributeProto) -> Any:
    v = helper.get_attribute_value(a)
    if isinstance(v, onnx.TensorProto):
        return numpy_helper.to_array(v)
    if isinstance(v, bytes):
        return v.decode()
    if isinstance(v, list) and v and isinstance(v[0], bytes):
        return [x.decode() for x in v]
    return v


def _constant_value(attrs: dict[str, Any], name: str) -> np.ndarray:
    for key, dtype in (("value", None), ("value_float", np.float32),
                       ("value_floats", np.float32), ("value_int", np.int64),
                       ("value_ints", np.int64)):
        if key in attrs:
            return np.asarray(attrs[key], dtype)
    raise ValueError(f"Constant node {name!r}: unsupported value attribute {sorted(attrs)}")


def load(model: str | os.PathLike[str] | onnx.ModelProto) -> ir.Graph:
    """The model's graph with its own ops; raises UnsupportedOpError listing every node whose
    op the dynamic path cannot run."""
    if not isinstance(model, onnx.ModelProto):
        model = onnx.load(os.fspath(model))
    g = model.graph
    graph = ir.Graph([], {}, [], [], name=g.name or "graph", meta={"layout": "onnx"})
    for t in g.initializer:
        arr = numpy_helper.to_array(t)
        if arr.dtype == np.float64 or arr.dtype == np.float16:
            arr = arr.astype(np.float32)
        graph.tensors[t.name] = ir.Tensor(t.name, tuple(arr.shape), str(arr.dtype),
                                          data=np.array(arr, order="C"))
    for vi in g.input:
        if vi.name in graph.tensors:
            continue
        tt = vi.type.tensor_type
        dims = tuple(d.dim_value if d.HasField("dim_value") and d.dim_value > 0 else 0
                     for d in tt.shape.dim)
        graph.tensors[vi.name] = ir.Tensor(vi.name, dims, _dtype_name(tt.elem_type))
        graph.inputs.append(vi.name)
    bad = []
    opset = next((o.version for o in model.opset_import if o.domain in ("", "ai.onnx")), 13)
    # Names a node may read: initializers, graph inputs and, in order, earlier nodes' outputs.
    # The converters and the shape evaluator index inputs the schema guarantees and look up
    # every name they read, so a malformed or dangling node is refused here, by name.
    known = set(graph.tensors)
    for idx, node in enumerate(g.node):
        name = node.name or f"{node.op_type}_{idx}"
        attrs = {a.name: _attr(a) for a in node.attribute}
        if node.domain not in ("", "ai.onnx") or node.op_type not in SUPPORTED:
            bad.append(f"unsupported op {node.op_type} (node {name!r})")
            # its outputs count as provided: the error names the op, not a dangling reader
            known.update(o for o in node.output if o)
            continue
        malformed = _schema_violation(node, opset)
        if malformed:
            raise UnsupportedOpError(f"{node.op_type} node {name!r}: {malformed}")
        dangling = [i for i in node.input if i and i not in known]
        if dangling and bad:  # fed by an unsupported node: that one is reported below
            continue
        if dangling:
            raise UnsupportedOpError(f"{node.op_type} node {name!r} reads {dangling}, which no "
                                     "initializer, graph input or earlier node provides")
        known.update(o for o in node.output if o)
        if node.op_type == "Constant":
            arr = _constant_value(attrs, name)
            if arr.dtype == np.float64:
                arr = arr.astype(np.float32)
            out = node.output[0]
            graph.tensors[out] = ir.Tensor(out, tuple(arr.shape), str(arr.dtype),
                                           data=np.array(arr, order="C"))
            continue
        if node.op_type == "ConstantOfShape" and isinstance(attrs.get("value"), np.ndarray):
            v = attrs["value"].reshape(-1)  # the file holds plain values, not arrays
            attrs["value"], attrs["value_dtype"] = [v[0].item()], str(v.dtype)
        if node.op_type not in OPSET_NAMES:
            bad.append(f"unsupported op {node.op_type} (node {name!r}): not in "
                       "opset.ONNX_LAYOUT_OPS")
            known.update(o for o in node.output if o)
            continue
        if node.op_type == "Split":
            attrs["_num_outputs"] = len(node.output)
        for o in node.output:
            if o and o not in graph.tensors:
                graph.tensors[o] = ir.Tensor(o, (), "float32")  # shape/dtype: specialize.py
        graph.nodes.append(ir.Node(node.op_type, name, list(node.input), list(node.output),
                                   attrs))
    if bad:
        raise UnsupportedOpError(f"{len(bad)} node(s) the dynamic path cannot run: "
                                 + "; ".join(bad))
    graph.outputs = [o.name for o in g.output]
    missing = [o for o in graph.outputs if o not in known]
    if missing or not graph.outputs:
        raise UnsupportedOpError(f"graph outputs {missing or '(none)'} are not produced by "
                                 "any node, initializer or input")
    return graph
