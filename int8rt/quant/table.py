"""Scale tables: quantization parameters given from outside (QAT, another tool) instead of
calibration, and the quantizer that applies them to a canonical float graph.

The JSON format (docs/QAT.md "Scale tables" is the reference)::

    {
      "format": "int8rt-scale-table", "version": 1,
      "tensors": {
        "input":       {"dtype": "uint8", "scale": 0.0078125, "zero_point": 128},
        "/conv1/Relu_output_0": {"dtype": "int8", "scale": 0.042, "zero_point": -128},
        "conv1.weight": {"dtype": "int8", "scale": [0.01, 0.02], "zero_point": [0, 0],
                         "axis": 0}
      }
    }

Keys are tensor names of the float model the table is applied to (ONNX names for an ONNX
model). `scale` and `zero_point` are numbers (per tensor) or equal-length lists (per axis,
`axis` then required). `dtype` is int8 or uint8 (int32 entries, e.g. exported biases, are
accepted and ignored: int8rt derives the bias from its float value, docs/QAT.md). A uint8
entry maps onto int8rt's int8 with `zero_point - 128` (docs/QUANTIZATION.md §1).

Activation entries are required for every tensor an int8 op reads or writes (except where
int8rt derives them: data movement keeps its input's parameters, Softmax's are fixed). A given
entry is always taken, also for those outputs (lowering requantizes where a kernel needs equal
parameters).
Weight entries are optional for tables (missing ones get int8rt's symmetric per-channel
rule, §2) and required for QDQ imports, where a weight without QDQ means a float layer.
"""

from __future__ import annotations

import json
import os
import warnings
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np

from int8rt.ir import Graph, Node, QParams
from int8rt.opset import NO_CLIP, schema
from int8rt.quant.ptq import WEIGHTED_OPS, _Quantizer

FORMAT = "int8rt-scale-table"
VERSION = 1
_DTYPES = ("int8", "uint8", "int32")


@dataclass(frozen=True, eq=False)
class TableEntry:
    """Quantization parameters of one tensor as its source gave them."""

    dtype: str
    scale: np.ndarray  # float32, () or (n,)
    zero_point: np.ndarray  # int64, same shape, in `dtype`'s range
    axis: int | None = None

    def qparams(self) -> QParams:
        """int8rt's int8 parameters: uint8 zero points move by -128 (§1)."""
        shift = 128 if self.dtype == "uint8" else 0
        return QParams(self.scale.astype(np.float32), (self.zero_point - shift).astype(np.int32),
                       self.axis)

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {"dtype": self.dtype}
        if self.axis is None:
            out["scale"] = float(self.scale)
            out["zero_point"] = int(self.zero_point)
        else:
            out["scale"] = [float(v) for v in self.scale]
            out["zero_point"] = [int(v) for v in self.zero_point]
            out["axis"] = int(self.axis)
        return out


def make_entry(name: str, dtype: str, scale: Any, zero_point: Any = 0,
               axis: int | None = None) -> TableEntry:
    """A checked TableEntry: finite positive float32 scales, zero points in dtype's range."""
    if dtype not in _DTYPES:
        raise ValueError(f"scale table entry {name!r}: dtype {dtype!r} is not one of {_DTYPES}")
    s = np.asarray(scale, np.float64)
    z = np.asarray(zero_point, np.float64)
    if s.ndim > 1 or z.ndim > 1:
        raise ValueError(f"scale table entry {name!r}: scale / zero_point must be scalars or "
                         "1-D lists")
    if s.ndim == 1 and s.size == 1 and axis is None:
        s, z = s.reshape(()), z.reshape(())
    if s.ndim == 1 and axis is None:
        raise ValueError(f"scale table entry {name!r}: a list of scales needs an `axis`")
    if s.ndim == 0 and axis is not None:
        s = s.reshape(1)  # per-axis with one entry (a 1-channel layer)
    if z.shape != s.shape:
        if z.ndim == 0:
            z = np.broadcast_to(z, s.shape)
        else:
            raise ValueError(f"scale table entry {name!r}: {z.size} zero points for "
                             f"{s.size} scales")
    s32 = s.astype(np.float32)
    if not (np.isfinite(s32).all() and (s32 > 0).all()):
        raise ValueError(f"scale table entry {name!r}: scales must be finite and > 0")
    if not np.array_equal(z, np.rint(z)):
        raise ValueError(f"scale table entry {name!r}: zero points must be integers")
    lo, hi = {"int8": (-128, 127), "uint8": (0, 255), "int32": (-(2**31), 2**31 - 1)}[dtype]
    if (z < lo).any() or (z > hi).any():
        raise ValueError(f"scale table entry {name!r}: zero point outside {dtype} [{lo}, {hi}]")
    return TableEntry(dtype, s32, z.astype(np.int64), None if axis is None else int(axis))


def parse_table(doc: Mapping[str, Any]) -> dict[str, TableEntry]:
    """Entries of a scale-table document (the parsed JSON)."""
    if doc.get("format") != FORMAT:
        raise ValueError(f"not an int8rt scale table (format {doc.get('format')!r}, expected "
                         f"{FORMAT!r})")
    if doc.get("version") != VERSION:
        raise ValueError(f"scale table version {doc.get('version')!r} is not supported "
                         f"(this int8rt reads version {VERSION})")
    tensors = doc.get("tensors")
    if not isinstance(tensors, Mapping):
        raise TypeError("scale table: `tensors` must be an object (tensor name -> entry)")
    out = {}
    for name, e in tensors.items():
        if not isinstance(e, Mapping) or "scale" not in e or "dtype" not in e:
            raise ValueError(f"scale table entry {name!r} needs at least `dtype` and `scale`")
        unknown = set(e) - {"dtype", "scale", "zero_point", "axis"}
        if unknown:
            raise ValueError(f"scale table entry {name!r}: unknown keys {sorted(unknown)}")
        out[name] = make_entry(name, e["dtype"], e["scale"], e.get("zero_point", 0),
                               e.get("axis"))
    return out


def load_table(source: str | os.PathLike[str] | Mapping[str, Any]) -> dict[str, TableEntry]:
    """A table from a JSON file path, a parsed document, or already-made entries."""
    if isinstance(source, Mapping):
        if all(isinstance(v, TableEntry) for v in source.values()):
            return dict(source)
        return parse_table(source)
    with open(os.fspath(source), encoding="utf-8") as f:
        try:
            doc = json.load(f)
        except json.JSONDecodeError as e:
            raise ValueError(f"{os.fspath(source)} is not valid JSON: {e}") from e
    return parse_table(doc)


def table_document(entries: Mapping[str, TableEntry]) -> dict[str, Any]:
    return {"format": FORMAT, "version": VERSION,
            "tensors": {k: v.to_json() for k, v in entries.items()}}


def save_table(entries: Mapping[str, TableEntry], path: str | os.PathLike[str]) -> None:
    with open(os.fspath(path), "w", encoding="utf-8") as f:
        json.dump(table_document(entries), f, indent=1)


def export_table(qgraph: Graph) -> dict[str, TableEntry]:
    """The table of a quantized graph: every activation's int8 parameters under its float-graph
    name (as `graph.meta["quantization"]["int8_names"]` maps them) and each Conv / Gemm weight's
    per-channel scales under the graph's weight name. Applying it to the same float graph
    (quantize_with_table) reproduces the quantized graph's parameters."""
    meta = qgraph.meta.get("quantization")
    if not meta or "int8_names" not in meta:
        raise ValueError("graph is not a quantized int8rt graph (no quantization metadata)")
    out: dict[str, TableEntry] = {}
    for fname, qname in meta["int8_names"].items():
        qp = qgraph.tensor(qname).qparams
        if qp is None or not qp.is_per_tensor:
            continue
        s, z = qp.scalar()
        out[fname] = make_entry(fname, "int8", s, z)
    for n in qgraph.nodes:
        if n.op in WEIGHTED_OPS and len(n.inputs) > 1:
            t = qgraph.tensor(n.inputs[1])
            if t.qparams is not None and t.dtype == "int8":
                qp = t.qparams
                out[n.inputs[1]] = make_entry(n.inputs[1], "int8", qp.scale,
                                              qp.zero_point, qp.axis)
    return out


@dataclass(frozen=True)
class WeightSource:
    """Where a canonical Conv / Gemm node's weights came from in the source model: the tensor
    name a table keys them by, and which axis of that tensor is the output channel."""

    tensor: str
    out_axis: int


class _GivenQuantizer(_Quantizer):
    """PTQ's rewrite with the given parameters in place of observed ranges. An op runs in int8
    only when every tensor it reads and writes has parameters (given, or derived by the op's
    rule); otherwise it stays float (the source model kept it float)."""

    def __init__(self, graph: Graph, table: Mapping[str, TableEntry],
                 weight_sources: Mapping[str, WeightSource], weights_required: bool,
                 scheme: str) -> None:
        self.table = table
        self.weight_sources = weight_sources
        self.weights_required = weights_required
        self.scheme = scheme
        self._g = graph
        self._producer = graph.producers()
        self._consts = {t.name for t in graph.constants()}
        self._users = graph.consumers()
        self._int8: dict[str, bool] = {}
        self._why: dict[str, str] = {}
        super().__init__(graph, {}, per_channel=True, weight_bits=8)
        self.fit_scales = not weights_required

    # -- which ops run in int8 -----------------------------------------------------------
    def _given(self, name: str) -> TableEntry | None:
        """The entry of `name`, or of the tensor a chain of data-movement ops (Reshape,
        Transpose, ...) copies it to unchanged: import passes rename tensors around the layout
        conversion, and such ops keep their input's parameters anyway."""
        if name in self.table:
            return self.table[name]
        users = self._users.get(name, [])
        found = None
        for u in users:
            if u.inputs[0] != name or schema(u.op).out_qparams != "same" or len(u.outputs) != 1:
                return None
            e = self._given(u.outputs[0])
            if e is None or (found is not None and not (
                    np.array_equal(e.scale, found.scale)
                    and np.array_equal(e.zero_point, found.zero_point))):
                return None
            found = e
        return found

    def _has_params(self, name: str) -> bool:
        if self._given(name) is not None:
            return True
        node = self._producer.get(name)
        if node is None or not self.is_int8(node):
            return False
        return schema(node.op).out_qparams in ("same", "fixed") or self._dummy_ok(node, name)

    def _dummy_ok(self, node: Node, name: str) -> bool:
        """A Conv / Gemm writing a model output with no fused activation: lowering fuses the
        output Dequantize (float32 epilogue, docs/QUANTIZATION.md §4), so the int8 output's
        parameters are never used and the source needs none."""
        users = self._users.get(name, [])
        return (node.op in WEIGHTED_OPS and name in self._g.outputs and not users
                and tuple(node.attrs.get("clip", NO_CLIP)) == NO_CLIP)

    def _weight_entry(self, node: Node) -> tuple[TableEntry | None, WeightSource | None]:
        src = self.weight_sources.get(node.name)
        if node.inputs[1] in self.table:
            return self.table[node.inputs[1]], None
        if src is not None and src.tensor in self.table:
            return self.table[src.tensor], src
        return None, src

    def is_int8(self, node: Node) -> bool:
        if node.name in self._int8:
            return self._int8[node.name]
        self._int8[node.name] = False  # guards recursion on malformed graphs
        ok, why = schema(node.op).int8, ""
        if not ok:
            why = "no int8 kernel"
        acts = [i for i in node.inputs if i and i not in self._consts]
        if ok and node.op in WEIGHTED_OPS:
            acts = acts[:1]
            if self.weights_required and self._weight_entry(node)[0] is None:
                ok, why = False, f"weights {node.inputs[1]!r} have no quantization parameters"
        for i in acts:
            if ok and not self._has_params(i):
                ok, why = False, f"input {i!r} has no quantization parameters"
        self._int8[node.name] = ok  # before the output check, which may ask about this node
        if ok and schema(node.op).out_qparams == "observed":
            for o in node.outputs:
                if self._given(o) is None and not self._dummy_ok(node, o):
                    ok, why = False, f"output {o!r} has no quantization parameters"
        self._int8[node.name] = ok
        if not ok:
            self._why[node.name] = why
        return ok

    # -- parameters ----------------------------------------------------------------------
    def observed(self, name: str) -> QParams:
        e = self._given(name)
        if e is not None:
            if e.axis is not None:
                raise ValueError(f"activation {name!r} has per-axis parameters; int8rt "
                                 "activations are per tensor")
            if e.dtype == "int32":
                raise ValueError(f"activation {name!r} is given as int32; int8rt activations "
                                 "are int8 / uint8")
            return e.qparams()
        node = self._producer.get(name)
        if node is not None and self._dummy_ok(node, name):
            return QParams.per_tensor(1.0, 0)  # unused: the float32 epilogue writes the output
        raise KeyError(f"no quantization parameters for tensor {name!r}")

    def weight_params(self, node: Node, w: np.ndarray) -> tuple[QParams, np.ndarray]:
        entry, src = self._weight_entry(node)
        if entry is None:
            return super().weight_params(node, w)
        oc = w.shape[0]
        if entry.axis is not None:
            if src is not None and entry.axis % max(1, len(w.shape)) != src.out_axis and \
                    entry.axis != src.out_axis:
                raise ValueError(
                    f"{node.op} node {node.name!r}: weight scales are per axis {entry.axis} of "
                    f"{src.tensor!r}; int8rt needs per output channel (axis {src.out_axis})")
            scale = entry.scale.reshape(-1)
            if scale.size != oc and oc % scale.size == 0 and "_s2d" in node.inputs[1]:
                # a ConvTranspose lowered to a 1x1 conv + depth-to-space (passes/
                # conv_transpose.py): its channels are (tap, original channel), the original
                # channel innermost, so each tap repeats the source's per-channel scales
                scale = np.tile(scale, oc // scale.size)
            if scale.size != oc:
                raise ValueError(f"{node.op} node {node.name!r}: {entry.scale.size} weight "
                                 f"scales for {oc} output channels")
            qp = QParams(scale.astype(np.float32), np.zeros(oc, np.int32), 0)
            s = qp.scale.astype(np.float64).reshape((oc,) + (1,) * (w.ndim - 1))
        else:
            qp = QParams.per_tensor(float(entry.scale), 0)
            s = np.float64(qp.scale)
        # The float weights are the source's dequantized integers s * (q - z): dividing by the
        # stored scale recovers them (float32 rounding of s * q is far below 1e-3 of a step).
        v = np.asarray(w, np.float64) / s
        q = np.rint(v)
        if not self.weights_required:
            # a table over a float model: its real weights are rounded with the given scale,
            # into int8rt's symmetric range (§2)
            return qp, np.clip(q, -127, 127).astype(np.int8)
        err = float(np.abs(v - q).max(initial=0.0))
        if err > 1e-3:
            raise ValueError(
                f"{node.op} node {node.name!r}: weights are not integer multiples of their given "
                f"scales (off by up to {err:.3g} steps): the import changed them (a BatchNorm "
                "folded after a quantized conv?) or the table does not belong to this model")
        if q.min(initial=0) < -128 or q.max(initial=0) > 127:
            raise ValueError(
                f"{node.op} node {node.name!r}: weights span [{int(q.min())}, {int(q.max())}] "
                "steps, outside int8 (a weight zero point far from the middle of its range)")
        return qp, q.astype(np.int8)

    def given_output(self, name: str) -> QParams | None:
        """The source's own parameters of an op output that int8rt would otherwise derive
        (data movement, max pooling, Softmax): every given scale is taken. Lowering puts a
        requantizing table lookup in front of data movement whose output parameters differ
        from its input's (exactly the source's dequantize -> move -> quantize), and Softmax's
        kernel writes any output scale."""
        if name not in self.table:
            return None
        return self.observed(name)

    # -- result ----------------------------------------------------------------------------
    def run(self) -> Graph:
        for node in self.order:
            self.is_int8(node)
        float_nodes = [(n.name, n.op, self._why[n.name]) for n in self.order
                       if n.name in self._why and schema(n.op).int8]
        g = super().run()
        meta = g.meta["quantization"]
        meta["scheme"] = self.scheme
        # the same key PTQ's mixed precision uses (names of ops kept float), plus why
        meta["float_nodes"] = sorted(a for a, _, _ in float_nodes)
        meta["float_reasons"] = {**meta.get("float_reasons", {}),
                                 **{a: f"{b}: {c}" for a, b, c in float_nodes}}
        if float_nodes:
            warnings.warn(
                f"{len(float_nodes)} op(s) stay float because the source gives them no "
                "quantization parameters: "
                + "; ".join(f"{op} {name!r} ({why})" for name, op, why in float_nodes),
                stacklevel=3)
        return g


def quantize_with_table(graph: Graph, table: Mapping[str, TableEntry] | str | os.PathLike[str],
                        weight_sources: Mapping[str, WeightSource] | None = None,
                        weights_required: bool = False, scheme: str = "table") -> Graph:
    """A quantized copy of the canonical float `graph` with the given parameters (no
    calibration). `weight_sources` maps Conv / Gemm node names to the source weight tensor
    (so source-model weight names resolve after import renamed the canonical weights)."""
    entries = load_table(table)
    return _GivenQuantizer(graph.copy(), entries, dict(weight_sources or {}), weights_required,
                           scheme).run()
