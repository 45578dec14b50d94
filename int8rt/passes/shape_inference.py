"""Shape inference: fill `Tensor.shape` of every node output.

Works before and after the layout pass: `graph.meta["layout"]` says whether 4-D activations
are "NCHW" (as imported) or "NHWC" (canonical, the default). Conv weights follow the same
layout ([OC, IC/g, KH, KW] vs [OC, KH, KW, IC/g]); ConvTranspose (pre-canonical only) keeps
ONNX's [C, OC/g, KH, KW]. The pooling and data-movement ops bring their own shape rule
(int8rt/ops/, OpSchema.shape).
"""

from __future__ import annotations

import numpy as np

from int8rt import ir, opset
from int8rt.ops.pooling import window as _window

UNARY = set(opset.UNARY_OPS) | set(opset.FLOAT_UNARY_OPS) | {
    "Identity", "Softmax", "BatchNormalization", "Quantize", "Dequantize"}
BINARY = set(opset.BINARY_OPS)


def _spatial(graph: ir.Graph) -> tuple[int, int, int]:
    """(h axis, w axis, channel axis) of 4-D activations in the graph's current layout."""
    return (2, 3, 1) if graph.meta.get("layout", "NHWC") == "NCHW" else (1, 2, 3)


def hw_axes(graph: ir.Graph, name: str) -> tuple[int, int]:
    """(h, w) axes of a 4-D tensor: model inputs and outputs keep the source's NCHW; the
    activations between follow the graph's layout."""
    if name in graph.inputs or name in graph.outputs:
        return (2, 3)
    return _spatial(graph)[:2]


def _hw_of(graph: ir.Graph, name: str) -> tuple[int, int] | None:
    """(H, W) of a 4-D tensor of the graph, None if it is not one."""
    if name not in graph.tensors or len(graph.tensor(name).shape) != 4:
        return None
    shape = graph.tensor(name).shape
    ah, aw = hw_axes(graph, name)
    return (int(shape[ah]), int(shape[aw]))


def infer_node(graph: ir.Graph, node: ir.Node) -> list[tuple[int, ...]]:
    def shp(i: int) -> tuple[int, ...]:
        return tuple(graph.tensor(node.inputs[i]).shape)

    op, a = node.op, node.attrs
    rule = opset.OPS[op].shape if op in opset.OPS else None
    if rule is not None:  # declared with the op (int8rt/ops/)
        ctx = opset.ShapeContext(node.name, _spatial(graph), tuple(
            tuple(graph.tensor(o).shape) if o in graph.tensors else None for o in node.outputs),
            lambda name: _hw_of(graph, name))
        return rule([shp(i) for i in range(len(node.inputs))], a, ctx)
    if op in UNARY:
        return [shp(0)]
    if op in BINARY:
        return [tuple(np.broadcast_shapes(shp(0), shp(1)))]
    if op in ("Conv", "ConvTranspose"):
        x = shp(0)
        ha, wa, ca = _spatial(graph)
        pads = a.get("pads", (0, 0, 0, 0))
        strides = a.get("strides", (1, 1))
        dil = a.get("dilations", (1, 1))
        out = list(x)
        if op == "Conv":
            w = shp(1)
            kernel = (w[2], w[3]) if ca == 1 else (w[1], w[2])
            out[ca] = w[0]
        else:  # ConvTranspose
            w = shp(1)
            kernel = (w[2], w[3])
            out[ca] = w[1] * a.get("group", 1)
            opad = a.get("output_padding", (0, 0))
            for k, ax in enumerate((ha, wa)):
                out[ax] = ((x[ax] - 1) * strides[k] - pads[k] - pads[k + 2]
                           + dil[k] * (kernel[k] - 1) + 1 + opad[k])
            return [tuple(out)]
        for k, ax in enumerate((ha, wa)):
            out[ax] = _window(x[ax], kernel[k], strides[k], dil[k], pads[k], pads[k + 2])
        return [tuple(out)]
    if op == "Gemm":
        return [(shp(0)[0], shp(1)[0])]
    raise ValueError(f"shape inference: unknown op {op!r} (node {node.name!r})")


def set_shapes(graph: ir.Graph, node: ir.Node) -> None:
    try:
        shapes = infer_node(graph, node)
    except (IndexError, KeyError) as e:
        # A rank, arity or attribute the op needs is missing (a malformed model): the rules
        # above index what a well-formed node has, so report it as the node's fault.
        raise ValueError(f"shape inference: {node.op} node {node.name!r} has inputs or "
                         f"attributes of the wrong rank or arity ({type(e).__name__}: {e})"
                         ) from None
    for name, shape in zip(node.outputs, shapes):
        if not name:
            continue
        t = graph.tensors.get(name)
        if t is None:
            graph.tensors[name] = ir.Tensor(name, shape, "float32")
        elif not t.is_const:
            t.shape = shape


def infer_shapes(graph: ir.Graph) -> ir.Graph:
    for node in graph.topological():
        set_shapes(graph, node)
    return graph


def rebatch(graph: ir.Graph, input_shapes: dict[str, tuple[int, ...]]) -> ir.Graph:
    """Re-infer every shape for new model input shapes (in place): the batch rule of
    docs/ARCHITECTURE.md. An op of recorded shape (Slice: OpSchema.recorded_shape) that kept
    the whole batch axis keeps it; Reshape targets scale their first dimension."""
    whole_batch = {
        n.outputs[0] for n in graph.nodes
        if n.op in opset.OPS and opset.OPS[n.op].recorded_shape
        and graph.tensor(n.outputs[0]).shape[:1]
        == graph.tensor(n.inputs[0]).shape[:1]
    }
    for name, shape in input_shapes.items():
        graph.tensor(name).shape = tuple(int(d) for d in shape)
    for node in graph.topological():
        if node.outputs[0] in whole_batch:
            t = graph.tensor(node.outputs[0])
            t.shape = graph.tensor(node.inputs[0]).shape[:1] + tuple(t.shape[1:])
        set_shapes(graph, node)
    return graph
