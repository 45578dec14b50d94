"""Constant folding: evaluate every node whose inputs are all constants (float_ops)."""

from __future__ import annotations

import numpy as np

from int8rt import ir, opset
from int8rt.reference import float_ops

# ops whose float_ops implementation assumes NHWC; folded only once the graph is NHWC
_LAYOUT_BOUND = {"Conv", *opset.SPATIAL_OPS}


def fold_constants(graph: ir.Graph) -> ir.Graph:
    nchw = graph.meta.get("layout", "NHWC") == "NCHW"
    for node in graph.topological():
        if node.op not in float_ops.OPS or (nchw and node.op in _LAYOUT_BOUND):
            continue
        names = [i for i in node.inputs if i]
        if not names or not all(graph.tensor(i).is_const for i in names):
            continue
        ins = [graph.const(i).astype(np.float32) if i else None for i in node.inputs]
        shapes = float_ops.NodeShapes(
            tuple(graph.tensor(i).shape if i else None for i in node.inputs),
            tuple(graph.tensors[o].shape if o in graph.tensors else None
                  for o in node.outputs))
        outs = float_ops.OPS[node.op](ins, opset.attrs_with_defaults(node.op, node.attrs), shapes)
        for name, arr in zip(node.outputs, outs):
            arr = np.ascontiguousarray(arr, np.float32)
            graph.tensors[name] = ir.Tensor(name, tuple(arr.shape), "float32", data=arr)
        graph.nodes.remove(node)
    return graph
