"""Pin a graph's input shapes and fold everything that does not depend on input *values*.

One float run of the whole graph on placeholder inputs of the pinned shapes (numpy, the
reference ops) gives every tensor's shape and dtype. A tensor is *dynamic* when it depends on
a model input's values; Shape / Size outputs depend only on shapes, which are pinned, so the
shape subgraphs (Shape, Gather, Concat, Range, ConstantOfShape, Expand targets, position ids,
the causal/padding mask scaffolding) all become constants. The specialized graph keeps only
the dynamic nodes, their constant inputs as initializers, and exact shapes on every tensor.
"""

from __future__ import annotations

import numpy as np

from .. import ir, opset
from ..reference import dqconv as _dqconv
from ..reference import dynq as _dynq  # noqa: F401  (registers the Linear ops)
from ..reference import rnn as _rnn  # noqa: F401  (registers LSTM / GRU)
from ..reference.onnx_ops import run_node
from .prepare import LINEAR_OPS

SHAPE_ONLY = ("Shape", "Size")
TABLE_LOOKUPS = ("WOGather",)  # (table, scales, indices): never folded on derived indices
# ops whose output has the input's shape and dtype: a dynamic one needs no evaluation
SAME_SHAPE = ("Erf", "Gelu", "Tanh", "Sigmoid", "Softmax", "LayerNormalization", "Relu", "Exp",
              "Sqrt", "Log", "LpNormalization")


def placeholder(shape: tuple[int, ...], dtype: str) -> np.ndarray:
    # ones: valid token ids, an all-ones attention mask, no division by zero
    return np.ones(shape, np.dtype(dtype))


# with dynamic inputs, outputs of these need only the broadcast shape of the inputs
ARITH = opset.BINARY_OPS
BOOLEAN = ("Equal", "Less", "Greater", "LessOrEqual", "GreaterOrEqual", "And", "Or", "Xor")
RNN_OPS = ("LSTM", "GRU", "DynQLSTM", "DynQGRU")
UNARY = (*SAME_SHAPE, "Neg", "Abs", "Reciprocal", "Clip", "Not")


def _view(shape: tuple[int, ...], dtype) -> np.ndarray:
    """Zeros of `shape` that take no memory (one element, zero strides): the stand-in for a
    tensor whose values depend on the inputs, so specialization never computes on them."""
    return np.broadcast_to(np.zeros((), dtype), shape)


def _shape_only(node: ir.Node, ins: list) -> list[np.ndarray] | None:
    """Outputs (as _view) of a node whose outputs depend on input values, when the op's shape
    and dtype rule is simple; None: evaluate it."""
    op = node.op
    if op in LINEAR_OPS:
        x, w = ins[0], ins[1]
        n = w.shape[1] if op == "Linear" else w.shape[0]
        return [_view((*x.shape[:-1], n), np.float32)]
    if op == "MatMul" and ins[0].ndim >= 2 and ins[1].ndim >= 2:
        shape = (*np.broadcast_shapes(ins[0].shape[:-2], ins[1].shape[:-2]),
                 ins[0].shape[-2], ins[1].shape[-1])
        return [_view(shape, np.result_type(ins[0], ins[1]))]
    if op in RNN_OPS and ins[0].ndim == 3:
        t, b = ins[0].shape[:2]
        hsz = int(node.attrs["hidden_size"])
        d = 2 if node.attrs.get("direction", "forward") == "bidirectional" else 1
        outs = [_view((t, d, b, hsz), np.float32), _view((d, b, hsz), np.float32)]
        return outs + [_view((d, b, hsz), np.float32)] if op.endswith("LSTM") else outs
    if op in ("Conv", "DynQConv", "MaxPool") and ins[0].ndim == 4:
        where = f" (node {node.name!r})"
        g = (_dqconv.pool_geometry(ins[0].shape, node.attrs, where) if op == "MaxPool" else
             _dqconv.conv_geometry(ins[0].shape, ins[1].shape, node.attrs, where))
        return [_view((g["n"], g["m"], g["oh"], g["ow"]), np.float32)]
    if op in UNARY:
        return [_view(ins[0].shape, ins[0].dtype)]
    if op in ARITH or op in BOOLEAN:
        if len(ins) != 2 or ins[0].dtype != ins[1].dtype:
            return None
        return [_view(np.broadcast_shapes(ins[0].shape, ins[1].shape),
                      np.bool_ if op in BOOLEAN else ins[0].dtype)]
    if op == "Where" and len(ins) == 3 and ins[1].dtype == ins[2].dtype:
        return [_view(np.broadcast_shapes(*(a.shape for a in ins)), ins[1].dtype)]
    return None


def evaluate(graph: ir.Graph, feeds: dict[str, np.ndarray], dynamic: set[str] | None = None
             ) -> dict[str, np.ndarray]:
    """Every tensor's value when the graph runs in float32 on `feeds` (the reference run).
    With `dynamic`, Linear-family ops producing those tensors give zeros of the right shape."""
    vals: dict[str, np.ndarray] = {t.name: t.data for t in graph.constants()}
    vals.update(feeds)
    with np.errstate(all="ignore"):
        for node in graph.nodes:
            ins = [vals[i] if i else None for i in node.inputs]
            outs = None
            if dynamic is not None and node.outputs[0] in dynamic:
                outs = _shape_only(node, ins)
            if outs is None:
                outs = run_node(node.op, ins, node.attrs, node.name)
            for name, v in zip(node.outputs, outs):
                if name:
                    vals[name] = np.asarray(v)
    return vals


def pin_shapes(graph: ir.Graph, shapes: dict[str, tuple[int, ...]]) -> dict[str, tuple[int, ...]]:
    pinned = {}
    for name in graph.inputs:
        t = graph.tensor(name)
        shp = tuple(int(d) for d in shapes.get(name, t.shape))
        if len(shp) != len(t.shape) or any(d < 0 for d in shp) or \
                any(m > 0 and m != d for m, d in zip(t.shape, shp)):
            raise ValueError(f"input {name!r}: shape {shp} does not fit the model's "
                             f"{tuple(t.shape)} (0 = free)")
        pinned[name] = shp
    return pinned


def specialize(graph: ir.Graph, shapes: dict[str, tuple[int, ...]]) -> ir.Graph:
    pinned = pin_shapes(graph, shapes)
    feeds = {n: placeholder(s, graph.tensor(n).dtype) for n, s in pinned.items()}
    dynamic = set(graph.inputs)
    for node in graph.nodes:
        if node.op not in SHAPE_ONLY and any(i in dynamic for i in node.inputs if i):
            dynamic.update(o for o in node.outputs if o)
        elif node.op in TABLE_LOOKUPS and graph.const(node.inputs[0]) is not None and \
                graph.const(node.inputs[2]) is None:
            # rows of a quantized table picked by shape-derived indices (position ids): kept
            # as a record, so the folded constant is the int64 index ramp, which a shape
            # template generates in C (reshape.py), not dequantized rows it could not
            dynamic.update(o for o in node.outputs if o)
    vals = evaluate(graph, feeds, dynamic)
    nodes = [n for n in graph.nodes if any(o in dynamic for o in n.outputs)]
    tensors: dict[str, ir.Tensor] = {}
    for n in nodes:
        for name in (*n.inputs, *n.outputs):
            if not name or name in tensors:
                continue
            v = vals[name]
            dtype = "bool" if v.dtype == np.bool_ else str(v.dtype)
            # no copy of a contiguous constant: the plans of every shape share the weights
            data = None if name in dynamic else (v if v.flags.c_contiguous
                                                 else np.array(v, order="C"))
            tensors[name] = ir.Tensor(name, tuple(v.shape), dtype, data=data)
    for name in graph.inputs:
        tensors[name] = ir.Tensor(name, pinned[name], graph.tensor(name).dtype)
    for name in graph.outputs:
        if name not in tensors:  # an output that folded to a constant
            v = vals[name]
            tensors[name] = ir.Tensor(name, tuple(v.shape), str(v.dtype),
                                      data=np.array(v, order="C"))
    return ir.Graph(nodes, tensors, list(graph.inputs), list(graph.outputs),
                    name=graph.name, meta=dict(graph.meta))
