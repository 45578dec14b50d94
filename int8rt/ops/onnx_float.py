"""Float-only ops with ONNX semantics, each declared whole: the reductions, normalizations and
products CNN exports carry that have no int8 form (channel / spatial attention, L2-normalized
embeddings, ConvNeXt's LayerNorm, non-local blocks' MatMul, masks, torch's F.normalize).

They keep ONNX's inputs, attributes and meaning (any rank, axes as the ONNX model numbers
them; a Reduce op's `axes` and Expand's target `shape` are attributes, set by the importer):

- layout: none of their own, so the layout pass runs them on NCHW data (its "no NHWC form"
  rule) and they mean exactly what ONNX says;
- shape rule and float32 reference: ONNX's definition (reference/onnx_ops.py), the shape rule
  running it on zeros of the input shapes, so neither restates the op;
- lowering: the dynamic path's rule for the op (dynamic/lower.py `lower_float_node`), its
  float32 records (reduce, layernorm, matmul, where, strided_copy, f32_binary / f32_unary) in
  the static plan between Dequantize and Quantize: one lowering rule per op, two paths.
"""

from __future__ import annotations

import numpy as np

from .schema import OpSchema, ShapeContext

F32 = np.float32


def _definition_inputs(op: str, ins: list, attrs: dict) -> list:
    if op == "Expand":  # the target shape is an attribute here (ONNX: input 1)
        return [ins[0], np.asarray(attrs.get("shape", ()), np.int64)]
    return ins


def _run(op: str, ins: list, attrs: dict, where: str) -> list[np.ndarray]:
    from int8rt.reference.onnx_ops import run_node

    return run_node(op, _definition_inputs(op, ins, attrs), attrs, where)


def _shape_rule(op: str):
    def shape(ins: list[tuple[int, ...]], attrs: dict, ctx: ShapeContext):
        zeros = [np.zeros(s, F32) for s in ins]
        try:
            with np.errstate(all="ignore"):  # zeros: 0 / 0 in LpNormalization is no one's
                outs = _run(op, zeros, attrs, ctx.node)
        except (TypeError, IndexError, ValueError) as e:  # attributes it cannot take
            raise ValueError(f"shape inference: {op} node {ctx.node!r}: {e}") from None
        return [tuple(np.shape(y)) for y in outs]
    return shape


def _reference(op: str):
    def reference(ins, attrs, shapes) -> list[np.ndarray]:
        return [np.asarray(y, F32) for y in _run(op, ins, attrs, op)]
    return reference


def _check(op: str):
    def check(attrs: dict, n_in: int, n_out: int) -> str:
        for key in ("axes", "shape"):
            v = attrs.get(key)
            if v is not None and not (isinstance(v, (list, tuple)) and all(
                    isinstance(x, (int, np.integer)) and not isinstance(x, bool) for x in v)):
                return f"{op} attribute {key!r} must be a list of ints, got {v!r}"
        return ""
    return check


def lower_onnx_float(lw, node) -> None:
    """The dynamic path's float32 records for the node (dynamic/lower.py lower_float_node),
    added to the static program: buffers for the temporaries they write and the constants
    they read."""
    from int8rt.dynamic.lower import LoweringError as OnnxLoweringError
    from int8rt.dynamic.lower import lower_float_node, set_elem_sizes
    from int8rt.passes.shape_inference import infer_node
    from int8rt.program import Buffer

    names = [i for i in node.inputs if i and not lw.g.tensor(i).is_const] + list(node.outputs)
    if not all(lw.g.tensor(n).dtype == "float32" for n in names):
        lw.fail(node, "runs in float32 only: its inputs and outputs must be float32")
    # the records size themselves from the input shapes and attributes: the output shape the
    # graph records must be the one they write (a file's attributes could say otherwise)
    want = [tuple(s) for s in infer_node(lw.g, node)]
    if [lw.shape(o) for o in node.outputs] != want:
        lw.fail(node, f"output shape {[lw.shape(o) for o in node.outputs]} is not the op's "
                      f"{want} for its inputs and attributes")
    try:
        calls, temps = lower_float_node(lw.g, node, taken=lw.buffers)
    except OnnxLoweringError as e:
        lw.fail(node, str(e).split(": ", 1)[-1])
    except (TypeError, IndexError) as e:  # attributes of the wrong kind
        lw.fail(node, f"attributes {node.attrs} do not fit the op ({e})")
    for c in calls:
        for name in (*c.inputs, *c.outputs):
            if name in lw.buffers:
                continue
            t = temps.get(name) or lw.g.tensor(name)
            lw.buffers[name] = Buffer(name, tuple(int(d) for d in t.shape), t.dtype)
            if t.is_const:  # constant operands (a Where's condition, ...) live in the program
                lw.constants[name] = np.array(t.data, order="C")
    set_elem_sizes(calls, lw.buffers)
    # appended as the dynamic plan takes them, not through emit: their open bounds are +-inf
    # (f32_unary's alpha / beta), which no int8 requantization multiplies by
    lw.calls.extend(calls)


def _op(name: str, summary: str, attrs: dict, arity) -> OpSchema:
    return OpSchema(name, summary, attrs, int8=False, arity=arity, shape=_shape_rule(name),
                    layout="onnx", check=_check(name), reference=_reference(name),
                    lower=lower_onnx_float, lower_f32=lower_onnx_float)


_ONE = (1, 1, 1, 1)

# the attributes declared are ONNX's defaults, which validation type-checks (an absent `axes`
# means every axis, so it has none)
OPS = [
    *[_op(op, summary, {"keepdims": 1}, _ONE) for op, summary in (
        ("ReduceSum", "sum over `axes` (ONNX; float only)"),
        ("ReduceMean", "mean over `axes` (ONNX; float only; over H, W: GlobalAveragePool)"),
        ("ReduceMax", "max over `axes` (ONNX; float only; over H, W: MaxPool)"),
        ("ReduceSumSquare", "sum of squares over `axes` (ONNX; float only)"),
        ("ReduceL1", "sum of |x| over `axes` (ONNX; float only)"),
        ("ReduceL2", "sqrt of the sum of squares over `axes` (ONNX; float only)"))],
    _op("LpNormalization", "x / ||x||_p over `axis`, p 1 or 2 (ONNX; float only)",
        {"axis": -1, "p": 2}, _ONE),
    _op("LayerNormalization", "(x - mean) / sqrt(var + epsilon) * scale + bias over the last "
        "axis (ONNX; float only)", {"axis": -1, "epsilon": 1e-5}, (2, 3, 1, 1)),
    _op("MatMul", "matrix product of two activations, numpy broadcasting of the batch axes "
        "(ONNX; float only: with a constant 2-D weight it is Gemm)", {}, (2, 2, 1, 1)),
    _op("Where", "condition ? a : b with numpy broadcasting, a constant bool condition "
        "(ONNX; float only)", {}, (3, 3, 1, 1)),
    _op("Expand", "broadcast to the constant `shape` (ONNX; float only; torch's F.normalize "
        "exports one)", {}, _ONE),
]
