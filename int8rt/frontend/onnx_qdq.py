"""ONNX QDQ import: a model with QuantizeLinear / DequantizeLinear nodes (PyTorch QAT or PTQ
exports, ONNX Runtime `quantize_static(quant_format=QDQ)`, QOperator models after
frontend.onnx_qoperator rewrote them) becomes an int8rt quantized graph that uses exactly
the scales and zero points the model gives (no calibration).

How (docs/QAT.md "QDQ import" has the rules in full):

1. `split_qdq` takes the Q/DQ nodes out of the ONNX model and returns the float model
   underneath plus a scale table (quant/table.py):
   - DequantizeLinear of a constant (weights, int32 biases; also Q -> DQ of a float
     constant, as PyTorch exports fake-quantized weights) becomes a float initializer holding
     the dequantized values `s * (q - z)`; its parameters go into the table;
   - an activation Q -> DQ pair disappears (readers of the DQ output read the Q input); the
     Q's parameters go into the table under the Q input's name.
2. The float model goes through the ordinary float importer (frontend/onnx.py).
3. quant.table.quantize_with_table rewrites it to int8 with the table's parameters; a Conv /
   Gemm recovers its integer weights from the float values (exact: they are multiples of the
   given scale), and an op whose tensors have no parameters stays float (reported).

Block quantization (opset 21 `block_size`), per-axis activations, 16-bit / 4-bit / float8
types and a DequantizeLinear whose parameters differ from its QuantizeLinear are refused with
the node's name.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import Any

import numpy as np
import onnx
from onnx import helper, numpy_helper

from int8rt import ir
from int8rt.quant.table import TableEntry, WeightSource, make_entry, quantize_with_table

QDQ_OPS = ("QuantizeLinear", "DequantizeLinear")
_ONNX_DOMAINS = ("", "ai.onnx", "com.microsoft")
_INT_TYPES = {
    onnx.TensorProto.INT8: "int8",
    onnx.TensorProto.UINT8: "uint8",
    onnx.TensorProto.INT32: "int32",
}
_RANGES = {"int8": (-128, 127), "uint8": (0, 255), "int32": (-(2**31), 2**31 - 1)}


class QDQImportError(ValueError):
    """A Q/DQ pattern int8rt cannot take as given (the message names the node)."""


def _load(model: str | os.PathLike[str] | onnx.ModelProto) -> onnx.ModelProto:
    if isinstance(model, onnx.ModelProto):
        return model
    from int8rt.frontend.onnx import load_onnx_model

    return load_onnx_model(model)


def has_quantization(model: onnx.ModelProto) -> bool:
    """True for a QDQ or QOperator model (anything this module or onnx_qoperator imports)."""
    from int8rt.frontend.onnx_qoperator import QOPERATOR_OPS

    return any(n.op_type in QDQ_OPS or n.op_type in QOPERATOR_OPS for n in model.graph.node)


def node_names(model: onnx.ModelProto) -> list[str]:
    """Each node's name as the float importer names it (its own, or `<op>_<index>`)."""
    return [n.name or f"{n.op_type}_{i}" for i, n in enumerate(model.graph.node)]


def weight_sources(model: onnx.ModelProto) -> dict[str, WeightSource]:
    """Canonical Conv / Gemm node name -> the ONNX weight tensor and its output-channel axis."""
    out: dict[str, WeightSource] = {}
    for name, n in zip(node_names(model), model.graph.node):
        if len(n.input) < 2:
            continue
        if n.op_type == "Conv":
            src = WeightSource(n.input[1], 0)
        elif n.op_type == "Gemm":
            trans_b = next((a.i for a in n.attribute if a.name == "transB"), 0)
            src = WeightSource(n.input[1], 0 if trans_b else 1)
        elif n.op_type == "MatMul":
            src = WeightSource(n.input[1], 1)
        else:
            continue
        out[name] = src
        out[f"{name}/Gemm"] = src  # MatMul over a >2-D input: Reshape, Gemm, Reshape
    return out


class _Splitter:
    def __init__(self, model: onnx.ModelProto) -> None:
        self.model = model
        g = model.graph
        self.names = node_names(model)
        self.consts: dict[str, np.ndarray] = {t.name: numpy_helper.to_array(t)
                                              for t in g.initializer}
        for n in g.node:  # Constant nodes hold scales and zero points in many exports
            if n.op_type == "Constant" and len(n.output) == 1:
                for a in n.attribute:
                    if a.name == "value":
                        self.consts[n.output[0]] = numpy_helper.to_array(a.t)
        self.new_consts: dict[str, np.ndarray] = {}
        self.opset = max((o.version for o in model.opset_import
                          if o.domain in ("", "ai.onnx")), default=1)
        self.cast_of: dict[str, str] = {}
        self.producer = {o: i for i, n in enumerate(g.node) for o in n.output}
        self.folded = self._fold_constants()
        self.table: dict[str, TableEntry] = {}
        self.rename: dict[str, str] = {}  # DQ output -> the tensor its readers read instead
        self.removed: set[int] = set(self.folded)
        self.readers: dict[str, list[int]] = {}
        for i, n in enumerate(g.node):
            for x in n.input:
                self.readers.setdefault(x, []).append(i)
        self.outputs = {o.name for o in g.output}

    def _fold_constants(self) -> set[int]:
        """Evaluate the nodes whose inputs are all constants (PyTorch computes zero points with
        ConstantOfShape + Cast): onnx's reference evaluator runs each one. Q / DQ nodes are
        left to the split. Returns the indices of the folded nodes."""
        from onnx.reference import ReferenceEvaluator

        folded = set()
        for idx, n in enumerate(self.model.graph.node):
            if n.op_type in QDQ_OPS or n.domain not in ("", "ai.onnx") or not n.output:
                continue
            ins = [i for i in n.input if i]
            if n.op_type != "Constant" and (not ins or any(i not in self.consts for i in ins)):
                continue
            feeds = {i: self.consts[i] for i in ins}
            graph = helper.make_graph(
                [n], "fold", [helper.make_tensor_value_info(i, helper.np_dtype_to_tensor_dtype(
                    np.asarray(v).dtype), None) for i, v in feeds.items()],
                [helper.make_tensor_value_info(o, onnx.TensorProto.UNDEFINED, None)
                 for o in n.output])
            m = helper.make_model(graph, opset_imports=[helper.make_opsetid("", self.opset)])
            try:
                outs = ReferenceEvaluator(m).run(None, feeds)
            except (ValueError, TypeError, KeyError, IndexError, NotImplementedError,
                    RuntimeError):
                continue  # not foldable here: the float importer sees the node as it is
            for o, v in zip(n.output, outs):
                self.consts[o] = np.asarray(v)
                self.new_consts[o] = np.asarray(v)
            folded.add(idx)
        return folded

    def _through_cast(self, x: str) -> str:
        """The tensor under integer-to-same-integer Casts (PyTorch puts one between Q and DQ)."""
        while True:
            p = self.producer.get(x)
            if p is None:
                return x
            n = self.model.graph.node[p]
            to = next((a.i for a in n.attribute if a.name == "to"), None)
            if n.op_type != "Cast" or to not in _INT_TYPES:
                return x
            self.removed.add(p)
            self.cast_of[n.output[0]] = n.input[0]
            x = n.input[0]

    # -- parameters of one Q / DQ node ---------------------------------------------------
    def params(self, idx: int) -> tuple[str, np.ndarray, np.ndarray, int | None]:
        """(dtype, scale, zero point, axis) of Q/DQ node `idx`, checked."""
        n = self.model.graph.node[idx]
        name = self.names[idx]
        attrs = {a.name: helper.get_attribute_value(a) for a in n.attribute}
        if int(attrs.get("block_size", 0)) > 0:
            raise QDQImportError(f"{n.op_type} node {name!r}: blocked quantization "
                                 f"(block_size={attrs['block_size']}) is not supported")
        if len(n.input) < 2 or n.input[1] not in self.consts:
            raise QDQImportError(f"{n.op_type} node {name!r}: the scale must be a constant")
        scale = np.asarray(self.consts[n.input[1]])
        if scale.dtype != np.float32:
            raise QDQImportError(f"{n.op_type} node {name!r}: scale dtype {scale.dtype} (int8rt "
                                 "takes float32 scales)")
        zp_name = n.input[2] if len(n.input) > 2 else ""
        if zp_name:
            if zp_name not in self.consts:
                raise QDQImportError(f"{n.op_type} node {name!r}: the zero point must be a "
                                     "constant")
            zp = np.asarray(self.consts[zp_name])
            dtype = str(zp.dtype)
        else:
            dtype = self._default_dtype(n, idx, attrs)
            zp = np.zeros(scale.shape, dtype)
        if dtype not in _RANGES:
            raise QDQImportError(f"{n.op_type} node {name!r}: {dtype} quantization is not "
                                 "supported (int8rt takes int8 and uint8; int32 for biases)")
        if zp.shape != scale.shape and zp.size == scale.size == 1:
            # ORT's quantize_static writes a one-channel per-channel bias as scale (1,) with a
            # scalar zero point; the same single parameter pair, which ORT itself runs
            zp = zp.reshape(scale.shape)
        if zp.shape != scale.shape:
            raise QDQImportError(f"{n.op_type} node {name!r}: zero point shape {zp.shape} != "
                                 f"scale shape {scale.shape}")
        if scale.ndim > 1:
            raise QDQImportError(f"{n.op_type} node {name!r}: scale of rank {scale.ndim} "
                                 "(blocked quantization) is not supported")
        axis = None
        if scale.ndim == 1 and scale.size > 1:
            axis = int(attrs.get("axis", 1))
        elif scale.ndim == 1:
            scale, zp = scale.reshape(()), zp.reshape(())
        return dtype, scale, zp, axis

    def _default_dtype(self, n: onnx.NodeProto, idx: int, attrs: dict[str, Any]) -> str:
        if n.op_type == "QuantizeLinear":
            out_t = int(attrs.get("output_dtype", 0))
            if out_t:
                return _INT_TYPES.get(out_t, onnx.TensorProto.DataType.Name(out_t).lower())
            return "uint8"  # the ONNX default without a zero point
        x = n.input[0]
        if x in self.consts:
            return str(self.consts[x].dtype)
        p = self.producer.get(x)
        if p is not None and self.model.graph.node[p].op_type == "QuantizeLinear":
            return self.params(p)[0]
        return "uint8"

    # -- numpy Q / DQ (ONNX semantics: round half to even, saturate) -----------------------
    @staticmethod
    def _bcast(v: np.ndarray, axis: int | None, ndim: int) -> np.ndarray:
        if axis is None or v.ndim == 0:
            return v
        shape = [1] * ndim
        shape[axis % ndim] = v.size
        return v.reshape(shape)

    def quantize_const(self, x: np.ndarray, dtype: str, scale, zp, axis) -> np.ndarray:
        lo, hi = _RANGES[dtype]
        s = self._bcast(scale, axis, x.ndim)
        z = self._bcast(zp.astype(np.int64), axis, x.ndim)
        q = np.rint(x.astype(np.float32) / s).astype(np.int64) + z
        return np.clip(q, lo, hi)

    # -- the split ---------------------------------------------------------------------------
    def entry(self, key: str, idx: int, dtype: str, scale, zp, axis) -> None:
        e = make_entry(key, dtype, scale, zp, axis)
        old = self.table.get(key)
        if old is not None and not (np.array_equal(old.qparams().scale, e.qparams().scale) and
                                    np.array_equal(old.qparams().zero_point,
                                                   e.qparams().zero_point)):
            raise QDQImportError(f"tensor {key!r} is quantized twice with different parameters "
                                 f"(again by node {self.names[idx]!r})")
        self.table[key] = e

    def const_dq(self, idx: int, ints: np.ndarray, dtype: str, scale, zp, axis) -> None:
        """DequantizeLinear of constant integers: a float initializer under the DQ output."""
        n = self.model.graph.node[idx]
        z = self._bcast(zp.astype(np.int64), axis, ints.ndim)
        s = self._bcast(scale, axis, ints.ndim)
        centred = ints.astype(np.int64) - z
        # ONNX: y = (x - zp) * scale in float32; exact integers times the float32 scale
        self.new_consts[n.output[0]] = (centred.astype(np.float32) * s).astype(np.float32)
        if dtype == "int32":  # a bias: int8rt re-derives it from the float value (docs/QAT.md)
            self.entry(n.output[0], idx, dtype, scale, zp, axis)
            return
        # weights: record the scale with zero point 0 — the float values already hold q - z,
        # and the importer checks they fit int8
        self.entry(n.output[0], idx, "int8", scale, np.zeros_like(zp, np.int64), axis)
        self.removed.add(idx)

    def run(self) -> tuple[onnx.ModelProto, dict[str, TableEntry]]:
        g = self.model.graph
        for idx, n in enumerate(g.node):
            if n.domain not in _ONNX_DOMAINS or n.op_type != "DequantizeLinear":
                continue
            name = self.names[idx]
            dtype, scale, zp, axis = self.params(idx)
            x = n.input[0]
            if x in self.consts:
                ints = np.asarray(self.consts[x])
                if str(ints.dtype) != dtype:
                    raise QDQImportError(f"DequantizeLinear node {name!r}: input dtype "
                                         f"{ints.dtype} does not match its zero point ({dtype})")
                self.const_dq(idx, ints, dtype, scale, zp, axis)
                self.removed.add(idx)
                continue
            p = self.producer.get(self._through_cast(x))
            qn = g.node[p] if p is not None else None
            if qn is None or qn.op_type != "QuantizeLinear":
                raise QDQImportError(
                    f"DequantizeLinear node {name!r}: its input {x!r} is neither a constant nor "
                    "the output of a QuantizeLinear (integer model inputs are not supported)")
            qdtype, qscale, qzp, qaxis = self.params(p)
            if (qdtype, qaxis) != (dtype, axis) or not np.array_equal(qscale, scale) or \
                    not np.array_equal(qzp, zp):
                raise QDQImportError(
                    f"DequantizeLinear node {name!r} reads QuantizeLinear {self.names[p]!r} with "
                    "other parameters (a requantization); int8rt needs them equal")
            src = qn.input[0]
            if src in self.consts:  # Q -> DQ of a float constant: fake-quantized weights
                ints = self.quantize_const(np.asarray(self.consts[src]), dtype, scale, zp, axis)
                self.const_dq(idx, ints, dtype, scale, zp, axis)
            else:
                if axis is not None:
                    raise QDQImportError(
                        f"QuantizeLinear node {self.names[p]!r}: per-axis activation "
                        f"quantization of {src!r} (int8rt activations are per tensor)")
                if dtype == "int32":
                    raise QDQImportError(f"QuantizeLinear node {self.names[p]!r}: int32 "
                                         "activations are not supported")
                self.entry(src, p, dtype, scale, zp, None)
                self.rename[n.output[0]] = src
            self.removed.add(idx)
        for idx, n in enumerate(g.node):
            if n.op_type == "QuantizeLinear" and n.domain in _ONNX_DOMAINS:
                outs = {n.output[0]} | {c for c, src in self.cast_of.items()
                                        if src == n.output[0]}
                users = [u for o in outs for u in self.readers.get(o, []) if u not in self.removed]
                if users or n.output[0] in self.outputs:
                    raise QDQImportError(
                        f"QuantizeLinear node {self.names[idx]!r}: its integer output is read by "
                        "something other than a DequantizeLinear (an integer model output or an "
                        "integer op); int8rt imports float-in / float-out QDQ models")
                self.removed.add(idx)
        return self.build(), self.table

    def build(self) -> onnx.ModelProto:
        g = self.model.graph
        nodes = []
        for idx, n in enumerate(g.node):
            if idx in self.removed:
                continue
            m = onnx.NodeProto()
            m.CopyFrom(n)
            if not m.name:  # keep the name the importer would give it
                m.name = self.names[idx]
            for k, x in enumerate(m.input):
                if x in self.rename:
                    m.input[k] = self.rename[x]
            nodes.append(m)
        outputs = []
        for o in g.output:
            if o.name in self.rename:
                # A DQ output is a model output: the model's output is the quantized value, so
                # keep an int8 step before it. A Reshape to the same shape is data movement
                # (it keeps its input's parameters and survives as the producer of an output).
                src = self.rename[o.name]
                if src in self.table:  # the output carries its parameters under its own name
                    self.table[o.name] = self.table[src]
                dims = o.type.tensor_type.shape.dim if o.type.tensor_type.HasField("shape") \
                    else None
                if dims is None:
                    nodes.append(helper.make_node("Identity", [src], [o.name],
                                                  name=f"{o.name}/qdq_identity"))
                else:
                    shape = f"{o.name}/qdq_shape"
                    self.new_consts[shape] = np.zeros(len(dims), np.int64)
                    nodes.append(helper.make_node("Reshape", [src, shape], [o.name],
                                                  name=f"{o.name}/qdq_output"))
            outputs.append(o)
        used = {x for n in nodes for x in n.input}
        inits = [t for t in g.initializer if t.name in used]
        inits += [numpy_helper.from_array(v, k) for k, v in self.new_consts.items() if k in used]
        graph = helper.make_graph(nodes, g.name or "graph", list(g.input), outputs, inits,
                                  value_info=[])
        m = helper.make_model(graph, opset_imports=list(self.model.opset_import),
                              producer_name="int8rt.onnx_qdq")
        m.ir_version = self.model.ir_version
        return m


def split_qdq(model: str | os.PathLike[str] | onnx.ModelProto
              ) -> tuple[onnx.ModelProto, dict[str, TableEntry]]:
    """(the float model under the Q/DQ nodes, the scale table they gave). QOperator nodes are
    rewritten to QDQ first (frontend.onnx_qoperator)."""
    from int8rt.frontend.onnx import _schema_violation
    from int8rt.frontend.onnx_qoperator import qoperator_to_qdq

    model = _load(model)
    # The rewriters index inputs the schema guarantees: refuse a malformed node first, by name.
    opset = next((o.version for o in model.opset_import if o.domain in ("", "ai.onnx")), 13)
    for idx, node in enumerate(model.graph.node):
        why = _schema_violation(node, opset)
        if why:
            raise QDQImportError(f"{node.op_type} node {node.name or idx!r}: {why}")
    model = qoperator_to_qdq(model)
    return _Splitter(model).run()


def import_quantized_onnx(model: str | os.PathLike[str] | onnx.ModelProto,
                          input_shapes: Mapping[str, tuple[int, ...]] | None = None) -> ir.Graph:
    """The int8rt quantized graph of a QDQ / QOperator ONNX model, with its own parameters."""
    from int8rt.frontend.onnx import import_onnx

    float_model, table = split_qdq(model)
    graph = import_onnx(float_model, input_shapes=dict(input_shapes or {}),
                        keep_tensors=[k for k, e in table.items() if e.dtype != "int32"])
    return quantize_with_table(graph, table, weight_sources(float_model),
                               weights_required=True, scheme="qdq")


def apply_table_onnx(model: str | os.PathLike[str] | onnx.ModelProto,
                     table: Any, input_shapes: Mapping[str, tuple[int, ...]] | None = None
                     ) -> tuple[ir.Graph, ir.Graph]:
    """(float graph, quantized graph) of a float ONNX model with a scale table's parameters."""
    from int8rt.frontend.onnx import import_onnx

    model = _load(model)
    graph = import_onnx(model, input_shapes=dict(input_shapes or {}))
    return graph, quantize_with_table(graph, table, weight_sources(model),
                                      weights_required=False, scheme="table")
