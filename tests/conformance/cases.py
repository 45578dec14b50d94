"""The ONNX backend node test cases for the ops int8rt imports, and how int8rt runs each.

The onnx wheel installed here ships the case *generators* (onnx/backend/test/case/node/*.py,
the code that writes onnx/backend/test/data/node/test_*/ in the source tree) but not the
data directories; `onnx.backend.test.case.node.collect_testcases(op)` builds the same
models, inputs and expected outputs in memory.

How a case runs:

- float ops: `import_onnx` + the float reference executor. int8rt needs some operands as
  constants (weights, shapes, pads, clip bounds, ...): when the model does not import with
  every input fed at run time, every input but the first becomes an initializer holding the
  case's data (the same values, fixed at import time).
- quantization ops (QuantizeLinear, DequantizeLinear, QLinearConv, QLinearMatMul, and the
  dynamic ones, which are refused): int8rt's models are float at their boundary, so each
  integer model input x with parameters (s, z) is fed as its real value s*(x - z) through a
  QuantizeLinear with the same (s, z) (exact: it reproduces x), each integer output gets a
  DequantizeLinear, and scales / zero points become initializers. The model is imported by
  the QDQ importer and run by the native plan; the outputs must equal the expected integers
  dequantized, exactly.
"""

from __future__ import annotations

import functools
import warnings
from dataclasses import dataclass

import numpy as np
import onnx
from onnx import helper, numpy_helper

from int8rt import opset

FLOAT_OPS = (
    "Conv", "ConvTranspose", "Gemm", "MatMul", "Relu", "Clip", "LeakyRelu", "Sigmoid",
    "HardSigmoid", "HardSwish", "Tanh", "Gelu", "Add", "Sub", "Mul", "Div",
    "BatchNormalization", "MaxPool", "AveragePool", "GlobalAveragePool", "GlobalMaxPool",
    "ReduceMean", "Flatten", "Reshape", "Transpose", "Concat", "Split", "Slice", "Pad",
    "Resize", "Upsample", "Softmax", "Identity", "Dropout",
    # ops declared whole in int8rt/ops/ that import 1:1: their cases come with the declaration
    *(op for op in opset.DECLARED_OPS if opset.OPS[op].onnx),
    # float32 only, ONNX semantics (int8rt/ops/onnx_float.py; ReduceMean and MatMul above)
    *(op for op in opset.ONNX_FLOAT_OPS if op not in ("ReduceMean", "MatMul")),
)
QUANT_OPS = ("QuantizeLinear", "DequantizeLinear", "QLinearConv", "QLinearMatMul",
             "ConvInteger", "MatMulInteger", "DynamicQuantizeLinear")
# ops whose collection is slow (hundreds of generated cases): run with -m slow
SLOW_OPS = ("Resize",)


@dataclass(frozen=True)
class Case:
    name: str
    op: str
    model: onnx.ModelProto
    inputs: tuple[np.ndarray, ...]
    outputs: tuple[np.ndarray, ...]
    rtol: float
    atol: float


_MODULES = {"BatchNormalization": "batch_normalization"}


@functools.cache
def _module_cases(module: str) -> tuple:
    """The cases one generator module registers when imported. (collect_testcases(op) imports
    every module and caches the first op's list, so it cannot select ops one by one; importing
    the op's own module with no target op runs just its generators.)"""
    import importlib

    import onnx.backend.test.case.node as node_cases

    node_cases._TargetOpType = None
    before = len(node_cases._NodeTestCases)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        importlib.import_module(f"onnx.backend.test.case.node.{module}")
    return tuple(node_cases._NodeTestCases[before:])


def cases_for(op: str) -> tuple[Case, ...]:
    out = []
    for c in _module_cases(_MODULES.get(op, op.lower())):
        if c.model is None or not c.data_sets:
            continue
        if op not in {n.op_type for n in c.model.graph.node}:
            continue
        ins, outs = c.data_sets[0]
        out.append(Case(c.name, op, c.model, tuple(ins), tuple(outs), c.rtol, c.atol))
    return tuple(out)


def freeze_inputs(model: onnx.ModelProto, inputs: tuple[np.ndarray, ...], keep: set[int]
                  ) -> tuple[onnx.ModelProto, dict[str, np.ndarray]]:
    """The model with every graph input not in `keep` turned into an initializer holding the
    case's value, and the feeds for the kept ones."""
    m = onnx.ModelProto()
    m.CopyFrom(model)
    g = m.graph
    feeds, kept = {}, []
    for k, (vi, arr) in enumerate(zip(list(g.input), inputs)):
        if k in keep:
            feeds[vi.name] = arr
            kept.append(vi)
        else:
            g.initializer.append(numpy_helper.from_array(np.asarray(arr), vi.name))
    del g.input[:]
    g.input.extend(kept)
    return m, feeds


_INT_ELEM = {onnx.TensorProto.UINT8: np.uint8, onnx.TensorProto.INT8: np.int8}
_HARNESS_TYPES = (onnx.TensorProto.FLOAT, onnx.TensorProto.UINT8, onnx.TensorProto.INT8,
                  onnx.TensorProto.INT32)


def wrap_quantized(case: Case) -> tuple[onnx.ModelProto, dict[str, np.ndarray], list[np.ndarray]]:
    """A float-boundary version of a quantization-op case (see the module docstring): (model,
    float feeds, expected float outputs)."""
    g = case.model.graph
    node = g.node[0]
    for vi in (*g.input, *g.output):
        t = vi.type.tensor_type.elem_type
        if t not in _HARNESS_TYPES:
            raise ValueError(f"{case.op}: element type {onnx.TensorProto.DataType.Name(t)} of "
                             f"{vi.name!r} is not supported (int8rt quantizes to int8 / uint8)")
    if any(a.name == "block_size" and a.i > 0 for a in node.attribute):
        raise ValueError(f"{case.op}: blocked quantization (block_size) is not supported")
    names = [vi.name for vi in g.input]
    vals = dict(zip(names, case.inputs))
    # which (value, scale, zero point) input triples and output (scale, zp) each op has
    op = case.op
    if op == "QuantizeLinear":
        in_q, out_q = {}, {node.output[0]: (node.input[1], node.input[2] if len(node.input) > 2
                                            else "")}
    elif op == "DequantizeLinear":
        in_q = {node.input[0]: (node.input[1], node.input[2] if len(node.input) > 2 else "")}
        out_q = {}
    elif op == "QLinearConv" or op == "QLinearMatMul":
        in_q = {node.input[0]: (node.input[1], node.input[2])}
        out_q = {node.output[0]: (node.input[6], node.input[7])}
    else:
        in_q, out_q = {}, {}
    m = onnx.ModelProto()
    m.CopyFrom(case.model)
    mg = m.graph
    axis = next((a.i for a in node.attribute if a.name == "axis"), 1)
    feeds: dict[str, np.ndarray] = {}
    new_inputs, inits, pre = [], [], []
    init_vals = {t.name: numpy_helper.to_array(t) for t in mg.initializer}

    def val(name: str) -> np.ndarray:
        return vals[name] if name in vals else init_vals[name]

    for vi in mg.input:
        x = vi.name
        if x in in_q and vi.type.tensor_type.elem_type in _INT_ELEM:
            s_name, z_name = in_q[x]
            xv = vals[x]
            s = val(s_name)
            if not z_name:  # the default zero point has x's type: make it explicit for the Q
                z_name = f"{x}_zero_point"
                inits.append(numpy_helper.from_array(np.zeros(s.shape, xv.dtype), z_name))
            z = val(z_name) if z_name in vals or z_name in init_vals else \
                np.zeros(s.shape, xv.dtype)
            sb = s if s.ndim == 0 else s.reshape([-1 if k == axis % xv.ndim else 1
                                                   for k in range(xv.ndim)])
            zb = z if z.ndim == 0 else z.reshape(sb.shape)
            feeds[x + "_real"] = ((xv.astype(np.int32) - zb.astype(np.int32))
                                  .astype(np.float32) * sb).astype(np.float32)
            new_inputs.append(helper.make_tensor_value_info(x + "_real", onnx.TensorProto.FLOAT,
                                                            list(xv.shape)))
            q_in = [x + "_real", s_name] + ([z_name] if z_name else [])
            kw = {"axis": axis} if s.ndim else {}
            pre.append(helper.make_node("QuantizeLinear", q_in, [x], name=f"{x}/feed_q", **kw))
        elif op == "QuantizeLinear" and x == node.input[0]:
            feeds[x] = vals[x]
            new_inputs.append(vi)
        else:
            inits.append(numpy_helper.from_array(np.asarray(vals[x]), x))
    post, new_outputs, expected = [], [], []
    for vi, want in zip(mg.output, case.outputs):
        y = vi.name
        if y in out_q:
            s_name, z_name = out_q[y]
            sv = val(s_name)
            zv = val(z_name) if z_name else np.zeros(sv.shape, want.dtype)
            sb = sv if sv.ndim == 0 else sv.reshape([-1 if k == axis % want.ndim else 1
                                                     for k in range(want.ndim)])
            zb = zv if zv.ndim == 0 else zv.reshape(sb.shape)
            expected.append(((want.astype(np.int32) - zb.astype(np.int32)).astype(np.float32)
                             * sb).astype(np.float32))
            dq_in = [y, s_name] + ([z_name] if z_name else [])
            kw = {"axis": axis} if sv.ndim else {}
            post.append(helper.make_node("DequantizeLinear", dq_in, [y + "_real"],
                                         name=f"{y}/result_dq", **kw))
            new_outputs.append(helper.make_tensor_value_info(y + "_real", onnx.TensorProto.FLOAT,
                                                             list(want.shape)))
        else:
            expected.append(want)
            new_outputs.append(vi)
    nodes = pre + list(mg.node) + post
    graph = helper.make_graph(nodes, mg.name, new_inputs, new_outputs,
                              list(mg.initializer) + inits)
    out = helper.make_model(graph, opset_imports=list(m.opset_import))
    out.ir_version = m.ir_version
    return out, feeds, expected
