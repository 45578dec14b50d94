"""ONNX float model -> canonical NHWC graph.

The importer walks the ONNX nodes in order (ONNX requires topological order) and keeps the
shape of every activation, so it can evaluate the shape-computation subgraphs exporters emit
(Shape -> Gather -> Unsqueeze -> Concat -> Reshape ...) as constants on the spot: a node whose
inputs are all constants is evaluated in numpy (onnx.reference) and never reaches the graph.
What remains is mapped onto canonical ops with NCHW attributes (`graph.meta["layout"] =
"NCHW"`, plus the transient BatchNormalization, ConvTranspose and Identity ops), then
`passes.canonicalize` folds, fuses and converts it to NHWC.

Only this module imports `onnx`.
"""

from __future__ import annotations

import math
import os
from collections.abc import Iterable
from typing import Any, ClassVar

import numpy as np
import onnx
from onnx import helper, numpy_helper

from int8rt import ir
from int8rt.opset import NO_CLIP, ONNX_FLOAT_OPS, OPS
from int8rt.passes import canonicalize
from int8rt.passes.shape_inference import set_shapes
from int8rt.validate import validate_graph

F32 = np.float32


class UnsupportedOpError(ValueError):
    """The model uses ops (or op forms) int8rt cannot import; the message lists every one."""


def _schema_violation(node: onnx.NodeProto, opset: int) -> str:
    """Why `node` breaks its ONNX schema (input count, an omitted required input, a missing
    required attribute), or "". The converters index inputs and attributes the schema
    guarantees, so a malformed node must be refused before it reaches them."""
    try:
        schema = onnx.defs.get_schema(node.op_type, opset, node.domain or "")
    except Exception:  # noqa: BLE001 - unknown op or opset: the converter lookup decides
        return ""
    n = len(node.input)
    if n < schema.min_input or n > schema.max_input:
        return (f"malformed node: {n} inputs, the schema takes {schema.min_input}.."
                f"{schema.max_input}")
    for k in range(schema.min_input):
        if not node.input[k]:
            return f"malformed node: required input #{k} is omitted"
    given = {a.name for a in node.attribute}
    missing = sorted(a for a, d in schema.attributes.items() if d.required and a not in given)
    if missing:
        return f"malformed node: missing required attribute(s) {missing}"
    return ""


class _Unsupported(Exception):
    """Raised inside a converter: this node's form is not supported (reason in the message)."""


# ONNX op -> canonical op, or how the importer disposes of it. README's op table comes from here.
SUPPORTED_ONNX_OPS: dict[str, str] = {
    "Conv": "Conv",
    "ConvTranspose": "Pad + Conv (zero insertion by Reshape/Pad)",
    "Gemm": "Gemm",
    "MatMul": "Gemm (constant 2-D weight); of activations: MatMul (float32)",
    "Clip": "Clip",
    "Add": "Add",
    "Sub": "Sub",
    "Mul": "Mul",
    "Div": "Div (Mul by the reciprocal when the divisor is constant)",
    **{op: f"{op} (float32)" for op in ("Exp", "Log", "Sqrt", "Abs", "Neg", "Reciprocal", "Erf")},
    "BatchNormalization": "folded",
    "MaxPool": "MaxPool",
    "AveragePool": "AveragePool",
    "GlobalAveragePool": "GlobalAveragePool",
    "GlobalMaxPool": "MaxPool",
    "ReduceMean": "GlobalAveragePool (over H, W); other axes: ReduceMean (float32)",
    "ReduceMax": "MaxPool (over H, W); other axes: ReduceMax (float32)",
    # float-only ops kept with ONNX semantics (opset.ONNX_FLOAT_OPS): float32 between
    # Dequantize and Quantize, on the dynamic path's float records
    **{op: f"{op} (float32)" for op in ONNX_FLOAT_OPS
       if op not in ("ReduceMean", "ReduceMax", "MatMul", "Expand", "Where")},
    "Where": "Where (float32; a constant condition)",
    "Flatten": "Reshape",
    "Reshape": "Reshape",
    "Transpose": "Transpose",
    "Concat": "Concat",
    "Split": "Split",
    "Slice": "Slice",
    "Pad": "Pad",
    "Resize": "Resize",
    "Upsample": "Resize",
    "Softmax": "Softmax",
    "Identity": "removed",
    "Dropout": "removed",
    "Cast": "removed (float to float) / constant-folded",
    "Constant": "constant-folded",
    "Shape": "constant-folded",
    "Size": "constant-folded",
    "Gather": "constant-folded",
    "Unsqueeze": "constant-folded",
    "Squeeze": "constant-folded",
    "ConstantOfShape": "constant-folded",
    "Range": "constant-folded",
    "Expand": "constant-folded (of an activation: Expand, float32)",
    # unary and binary ops imported 1:1 (opset.py `onnx=True`): attributes and defaults as
    # declared there
    **{s.name: s.name if s.int8 else f"{s.name} (float32{'; two inputs' if s.binary else ''})"
       for s in OPS.values() if s.onnx},
}

_FLOAT_TYPES = (onnx.TensorProto.FLOAT,)


def _attr(a: onnx.AttributeProto) -> Any:
    v = helper.get_attribute_value(a)
    if isinstance(v, bytes):
        return v.decode()
    if isinstance(v, onnx.TensorProto):
        return numpy_helper.to_array(v)
    if isinstance(v, list):
        return [x.decode() if isinstance(x, bytes) else x for x in v]
    return v


def _same_pads(spatial, kernel, strides, dil, upper: bool) -> tuple[int, ...]:
    begin, end = [], []
    for n, k, s, d in zip(spatial, kernel, strides, dil):
        out = -(-n // s)
        total = max(0, (out - 1) * s + (k - 1) * d + 1 - n)
        small, big = total // 2, total - total // 2
        begin.append(small if upper else big)
        end.append(big if upper else small)
    return tuple(begin + end)


class _Importer:
    def __init__(self, model: onnx.ModelProto, input_shapes: dict[str, tuple[int, ...]] | None):
        self.model = model
        self.opset = 1
        for imp in model.opset_import:
            if imp.domain in ("", "ai.onnx"):
                self.opset = imp.version
        graph = model.graph
        self.g = ir.Graph([], {}, [], [], name=graph.name or "graph", meta={"layout": "NCHW"})
        self.reserved = {t for n in graph.node for t in list(n.input) + list(n.output)}
        self.reserved |= {i.name for i in graph.input} | {o.name for o in graph.output}
        self.poisoned: set[str] = set()
        self.unsupported: list[str] = []
        self.input_shapes = dict(input_shapes or {})
        self.shape_derived: set[str] = set()  # values folded from Shape / Size
        self.dim_tags: dict[str, np.ndarray] = {}  # their provenance (_fold_tags)
        self.dim_sources: list[tuple[str, int]] = []

    # -- helpers -----------------------------------------------------------------------------
    def fresh(self, base: str) -> str:
        name = ir.fresh_name(base, self.reserved, self.g.tensors)
        self.reserved.add(name)
        return name

    def is_const(self, name: str) -> bool:
        t = self.g.tensors.get(name)
        return t is not None and t.is_const

    def const(self, name: str) -> np.ndarray:
        return self.g.tensors[name].data

    def shape(self, name: str) -> tuple[int, ...]:
        return tuple(self.g.tensors[name].shape)

    def set_const(self, name: str, arr: np.ndarray) -> None:
        # not np.ascontiguousarray: it turns 0-d scalars into shape (1,)
        arr = np.array(arr, order="C")
        if arr.dtype == np.float64 or arr.dtype == np.float16:
            arr = arr.astype(F32)
        self.g.tensors[name] = ir.Tensor(name, tuple(arr.shape), str(arr.dtype), data=arr)

    def add_const(self, base: str, arr: np.ndarray) -> str:
        name = self.fresh(base)
        self.set_const(name, arr)
        return name

    def fconst(self, name: str) -> str:
        """The constant as float32 (int8/uint8/float16 initializers used as float operands)."""
        arr = self.const(name)
        if arr is None:  # e.g. a Conv bias wired to an activation
            raise _Unsupported(f"input {name!r} must be a constant (an initializer)")
        if arr.dtype == F32:
            return name
        return self.add_const(name + "_f32", arr.astype(F32))

    def operand(self, name: str) -> str:
        return self.fconst(name) if self.is_const(name) else name

    def emit(self, op: str, inputs: list[str], outputs: list[str], attrs: dict[str, Any],
             name: str, out_shape: tuple[int, ...] | None = None) -> ir.Node:
        node = ir.Node(op, self.fresh(name) if name in self.g.tensors else name,
                       list(inputs), list(outputs), dict(attrs))
        if out_shape is not None:
            self.g.tensors[outputs[0]] = ir.Tensor(outputs[0], tuple(out_shape), "float32")
        self.g.nodes.append(node)
        set_shapes(self.g, node)
        return node

    def tmp_emit(self, op: str, inputs: list[str], attrs: dict[str, Any], name: str,
                 out_shape: tuple[int, ...] | None = None) -> str:
        out = self.fresh(f"{name}_{op.lower()}")
        self.emit(op, inputs, [out], attrs, f"{name}/{op}", out_shape)
        return out

    # -- driver ------------------------------------------------------------------------------
    def load_inputs(self) -> None:
        graph = self.model.graph
        inits = {t.name for t in graph.initializer}
        for t in graph.initializer:
            self.set_const(t.name, numpy_helper.to_array(t))
        names = [i.name for i in graph.input if i.name not in inits]
        unknown = set(self.input_shapes) - set(names)
        if unknown:
            raise ValueError(f"input_shapes names unknown inputs {sorted(unknown)}; "
                             f"model inputs are {names}")
        for vi in graph.input:
            if vi.name in inits:
                continue
            tt = vi.type.tensor_type
            if tt.elem_type not in _FLOAT_TYPES:
                raise ValueError(f"model input {vi.name!r} has element type "
                                 f"{onnx.TensorProto.DataType.Name(tt.elem_type)}; int8rt imports "
                                 "float32 models")
            pinned = self.input_shapes.get(vi.name)
            if not tt.HasField("shape"):
                if pinned is None:
                    raise ValueError(f"model input {vi.name!r} has no shape; pin it with "
                                     f"input_shapes={{{vi.name!r}: (...)}}")
                shape = tuple(int(d) for d in pinned)
            else:
                dims = list(tt.shape.dim)
                if pinned is not None and len(pinned) != len(dims):
                    raise ValueError(f"input_shapes[{vi.name!r}] = {tuple(pinned)} has rank "
                                     f"{len(pinned)}, the model input has rank {len(dims)}")
                shape = []
                for k, d in enumerate(dims):
                    fixed = d.dim_value if d.HasField("dim_value") and d.dim_value > 0 else None
                    if pinned is not None and fixed is None and k >= 1:
                        # a symbolic dim pinned for import (H / W of an image): the Session
                        # may take other sizes there (int8rt/image_size.py)
                        self.g.meta.setdefault("free_dims", {}).setdefault(vi.name, []).append(k)
                        if d.dim_param:  # get_inputs() shows it by name, as ORT does
                            self.g.meta.setdefault("dim_params", {}).setdefault(
                                vi.name, {})[str(k)] = d.dim_param
                    if pinned is not None:
                        if fixed is not None and int(pinned[k]) != fixed:
                            raise ValueError(f"input_shapes[{vi.name!r}] dim {k} = {pinned[k]} "
                                             f"contradicts the model's fixed size {fixed}")
                        shape.append(int(pinned[k]))
                    elif fixed is not None:
                        shape.append(fixed)
                    elif k == 0:
                        shape.append(1)  # a symbolic batch dimension defaults to 1
                    else:
                        raise SymbolicShapeError(vi.name, k, [
                            dd.dim_value if dd.HasField("dim_value") and dd.dim_value > 0
                            else (dd.dim_param or f"d{j}") for j, dd in enumerate(dims)])
                if dims and not (dims[0].HasField("dim_value") and dims[0].dim_value > 0):
                    # ONNX Runtime's get_inputs() shows a symbolic batch by its name (or None)
                    self.g.meta.setdefault("batch_dim", {})[vi.name] = dims[0].dim_param
                shape = tuple(shape)
            self.g.tensors[vi.name] = ir.Tensor(vi.name, shape, "float32")
            self.g.inputs.append(vi.name)

    def run(self) -> ir.Graph:
        self.load_inputs()
        for idx, node in enumerate(self.model.graph.node):
            name = node.name or f"{node.op_type}_{idx}"
            self.convert(node, name)
        if self.unsupported:
            raise UnsupportedOpError(
                f"{len(self.unsupported)} unsupported node(s): " + "; ".join(self.unsupported))
        for o in self.model.graph.output:
            if o.name not in self.g.tensors:
                raise ValueError(f"graph output {o.name!r} is produced by no node")
            self.g.outputs.append(o.name)
        return self.g

    def reject(self, node: onnx.NodeProto, name: str, why: str = "") -> None:
        msg = f"{node.op_type} (node {name!r})"
        if node.domain not in ("", "ai.onnx"):
            msg = f"{node.domain}.{msg}"
        self.unsupported.append(msg + (f": {why}" if why else ""))
        self.poisoned.update(o for o in node.output if o)

    def convert(self, node: onnx.NodeProto, name: str) -> None:
        ins = list(node.input)
        if any(i in self.poisoned for i in ins):
            if node.op_type not in SUPPORTED_ONNX_OPS or node.domain not in ("", "ai.onnx"):
                self.reject(node, name)
            self.poisoned.update(o for o in node.output if o)
            return
        if node.domain not in ("", "ai.onnx"):
            self.reject(node, name)
            return
        malformed = _schema_violation(node, self.opset)
        if malformed:
            self.reject(node, name, malformed)
            return
        for i in ins:
            if i and i not in self.g.tensors:
                raise ValueError(f"node {name!r} ({node.op_type}) reads {i!r}, which no earlier "
                                 "node, input or initializer produces (model not topologically "
                                 "sorted or malformed)")
        attrs = {a.name: _attr(a) for a in node.attribute}
        op = node.op_type
        if op == "Constant":
            self.set_const(node.output[0], self.constant_value(attrs, name))
            return
        if op in ("Shape", "Size") and ins[0] in self.g.tensors:
            shp = np.array(self.shape(ins[0]), np.int64)
            self.shape_derived.add(node.output[0])
            if op == "Size":
                self.set_const(node.output[0], np.array(np.prod(shp), np.int64))
            else:
                lo, hi = attrs.get("start", 0), attrs.get("end", None)
                self.set_const(node.output[0], shp[lo:hi])
                tags = [self._tag(ins[0], k) for k in range(len(shp))]
                self.dim_tags[node.output[0]] = np.array(tags, np.int64)[lo:hi]
            return
        if all(self.is_const(i) for i in ins if i):
            self.fold(node, name, ins)
            return
        fn = getattr(self, "op_" + op, None)
        if fn is None and op in OPS and OPS[op].onnx:
            fn = self.op_declared
        if fn is None:
            self.reject(node, name)
            return
        try:
            fn(node, name, ins, attrs)
        except _Unsupported as e:
            self.reject(node, name, str(e))

    def constant_value(self, attrs: dict[str, Any], name: str) -> np.ndarray:
        for key, dtype in (("value", None), ("value_float", F32), ("value_floats", F32),
                           ("value_int", np.int64), ("value_ints", np.int64)):
            if key in attrs:
                return np.asarray(attrs[key], dtype)
        raise ValueError(f"Constant node {name!r}: unsupported value attribute "
                         f"{sorted(attrs)}")

    def fold(self, node: onnx.NodeProto, name: str, ins: list[str]) -> None:
        """Evaluate a node whose inputs are all constants with onnx's numpy reference."""
        from onnx.reference import ReferenceEvaluator

        feeds = {i: self.const(i) for i in ins if i}
        vin = [helper.make_tensor_value_info(
            i, helper.np_dtype_to_tensor_dtype(a.dtype), a.shape) for i, a in feeds.items()]
        vout = [helper.make_value_info(o, onnx.TypeProto()) for o in node.output if o]
        g = helper.make_graph([node], "fold", vin, vout)
        m = helper.make_model(g, opset_imports=[helper.make_opsetid("", self.opset)])
        try:
            outs = ReferenceEvaluator(m).run(None, feeds)
        except Exception as e:
            if node.op_type in SUPPORTED_ONNX_OPS:
                raise ValueError(f"cannot evaluate constant node {name!r} ({node.op_type}): "
                                 f"{e}") from e
            self.reject(node, name, "constant inputs, but not evaluable")
            return
        for o, arr in zip([o for o in node.output if o], outs):
            self.set_const(o, np.asarray(arr))
        if any(i in self.shape_derived for i in ins if i):
            self.shape_derived.update(o for o in node.output if o)
            self._fold_tags(node, ins, feeds)

    # -- where shape-derived values come from (Resize sizes that follow a tensor) -------------
    # Shape(x) of tensor x gives each element a tag (TAG_BASE + an index into dim_sources: x
    # and the axis); data-movement folds (Gather, Slice, Concat, ...) are evaluated once more
    # on the tags, so a Resize `sizes` built from the dims of a tensor names that tensor. Any
    # arithmetic on them (Mul, Div) leaves no tags: such sizes stay "unknown".
    TAG_BASE = 1 << 40
    _TAG_OPS: ClassVar[dict[str, tuple[int, ...] | None]] = {
        "Gather": (0,), "Slice": (0,), "Unsqueeze": (0,), "Squeeze": (0,), "Identity": (0,),
        "Cast": (0,), "Reshape": (0,), "Flatten": (0,), "Concat": None}

    def _tag(self, tensor: str, axis: int) -> int:
        self.dim_sources.append((tensor, axis))
        return self.TAG_BASE + len(self.dim_sources) - 1

    def _fold_tags(self, node, ins, feeds) -> None:
        from onnx.reference import ReferenceEvaluator

        which = self._TAG_OPS.get(node.op_type, ())
        if which is not None and not which:
            return
        tagged = dict(feeds)
        hit = False
        for k, i in enumerate(ins):
            if i and i in self.dim_tags and (which is None or k in which) and \
                    feeds[i].dtype == np.int64 and feeds[i].shape == self.dim_tags[i].shape:
                tagged[i], hit = self.dim_tags[i], True
        if not hit:
            return
        vin = [helper.make_tensor_value_info(
            i, helper.np_dtype_to_tensor_dtype(a.dtype), a.shape) for i, a in tagged.items()]
        vout = [helper.make_value_info(o, onnx.TypeProto()) for o in node.output if o]
        m = helper.make_model(helper.make_graph([node], "fold_tags", vin, vout),
                              opset_imports=[helper.make_opsetid("", self.opset)])
        try:
            outs = ReferenceEvaluator(m).run(None, tagged)
        except Exception:  # noqa: BLE001 - no provenance: the value stays untagged
            return
        for o, arr in zip([o for o in node.output if o], outs):
            arr = np.asarray(arr)
            if arr.dtype == np.int64 and (arr >= self.TAG_BASE).any():
                self.dim_tags[o] = arr

    def _size_rule(self, sizes_name: str | None, scales_name: str | None,
                   axes) -> dict[str, Any]:
        """How a Resize's output size follows a new input size (shape_inference.py): "scales"
        (floor(in * scale)), "like" (the H / W of tensor `size_like`), "fixed" (constant
        sizes) or "unknown" (sizes computed from shapes in a way not followed)."""
        if sizes_name:
            if sizes_name not in self.shape_derived:
                return {"size_rule": "fixed"}
            tags = self.dim_tags.get(sizes_name)
            if tags is not None and tags.ndim == 1:
                full = list(range(4)) if axes is None else [int(a) % 4 for a in axes]
                pos = {ax: k for k, ax in enumerate(full)}
                if 2 in pos and 3 in pos and pos[3] < tags.size and pos[2] < tags.size:
                    th, tw = int(tags[pos[2]]), int(tags[pos[3]])
                    if th >= self.TAG_BASE and tw >= self.TAG_BASE:
                        (xh, ah), (xw, aw) = (self.dim_sources[th - self.TAG_BASE],
                                              self.dim_sources[tw - self.TAG_BASE])
                        if xh == xw and (ah, aw) == (2, 3):
                            return {"size_rule": "like", "size_like": xh}
            return {"size_rule": "unknown"}
        if scales_name and scales_name in self.shape_derived:
            return {"size_rule": "unknown"}
        return {"size_rule": "scales"}

    # -- shared pieces -----------------------------------------------------------------------
    def need_const(self, name: str, what: str) -> np.ndarray:
        if not self.is_const(name):
            raise _Unsupported(f"{what} must be a constant")
        return self.const(name)

    def opt_input(self, ins: list[str], k: int) -> str | None:
        return ins[k] if len(ins) > k and ins[k] else None

    def need_4d(self, x: str, op: str) -> tuple[int, ...]:
        s = self.shape(x)
        if len(s) != 4:
            raise _Unsupported(f"only 2-D spatial {op} (4-D NCHW input) is supported, got {s}")
        return s

    @staticmethod
    def size_pads(attrs) -> dict[str, Any]:
        """{"pads_for_size": why} when the explicit pads were resolved for the import size
        (auto_pad SAME_*, ceil_mode): another input size would need other pads, so the graph
        keeps its image size (int8rt/image_size.py)."""
        auto = attrs.get("auto_pad", "NOTSET")
        if auto in ("SAME_UPPER", "SAME_LOWER"):
            return {"pads_for_size": f"auto_pad {auto}"}
        if attrs.get("ceil_mode", 0):
            return {"pads_for_size": "ceil_mode"}
        return {}

    def spatial_pads(self, attrs, spatial, kernel, strides, dil) -> tuple[int, int, int, int]:
        auto = attrs.get("auto_pad", "NOTSET")
        if auto in ("SAME_UPPER", "SAME_LOWER"):
            return _same_pads(spatial, kernel, strides, dil, auto == "SAME_UPPER")
        if auto == "VALID":
            return (0, 0, 0, 0)
        pads = tuple(int(p) for p in attrs.get("pads", (0, 0, 0, 0)))
        if len(pads) != 4:
            raise ValueError(f"pads {pads} is not 2-D (begin h, begin w, end h, end w)")
        return pads

    # -- converters (NCHW) -------------------------------------------------------------------
    def op_Conv(self, node, name, ins, attrs) -> None:
        xs = self.need_4d(ins[0], "Conv")
        w = self.need_const(ins[1], "Conv weight").astype(F32)
        if w.ndim != 4:
            raise _Unsupported(f"weight of rank {w.ndim}")
        kernel = w.shape[2:]
        strides = tuple(attrs.get("strides", (1, 1)))
        dil = tuple(attrs.get("dilations", (1, 1)))
        group = int(attrs.get("group", 1))
        if xs[1] != w.shape[1] * group:
            raise ValueError(f"Conv {name!r}: input has {xs[1]} channels, weight expects "
                             f"{w.shape[1] * group}")
        pads = self.spatial_pads(attrs, xs[2:], kernel, strides, dil)
        inputs = [ins[0], self.add_const(ins[1] + "_w", w)]
        size_pads = self.size_pads(attrs)
        b = self.opt_input(ins, 2)
        if b:
            inputs.append(self.fconst(b))
        self.emit("Conv", inputs, [node.output[0]],
                  {"strides": strides, "dilations": dil, "pads": pads, "group": group,
                   "clip": NO_CLIP, **size_pads}, name)

    def op_ConvTranspose(self, node, name, ins, attrs) -> None:
        xs = self.need_4d(ins[0], "ConvTranspose")
        w = self.need_const(ins[1], "ConvTranspose weight").astype(F32)
        kernel = w.shape[2:]
        strides = tuple(attrs.get("strides", (1, 1)))
        dil = tuple(attrs.get("dilations", (1, 1)))
        group = int(attrs.get("group", 1))
        opad = tuple(attrs.get("output_padding", (0, 0)))
        auto = attrs.get("auto_pad", "NOTSET")
        out_shape = attrs.get("output_shape")
        if out_shape is None and auto in ("SAME_UPPER", "SAME_LOWER"):
            out_shape = [n * s for n, s in zip(xs[2:], strides)]
        if out_shape is not None:
            out_shape = list(out_shape)[-2:]
            begin, end = [], []
            for k in range(2):
                total = (strides[k] * (xs[2 + k] - 1) + opad[k] + (kernel[k] - 1) * dil[k] + 1
                         - out_shape[k])
                if auto == "SAME_UPPER":
                    begin.append(total // 2)
                    end.append(total - total // 2)
                else:
                    begin.append(total - total // 2)
                    end.append(total // 2)
            pads = tuple(begin + end)
        elif auto == "VALID":
            pads = (0, 0, 0, 0)
        else:
            pads = tuple(int(p) for p in attrs.get("pads", (0, 0, 0, 0)))
        inputs = [ins[0], self.add_const(ins[1] + "_w", w)]
        b = self.opt_input(ins, 2)
        if b:
            inputs.append(self.fconst(b))
        self.emit("ConvTranspose", inputs, [node.output[0]],
                  {"strides": strides, "dilations": dil, "pads": pads, "group": group,
                   "output_padding": opad}, name)

    def op_Gemm(self, node, name, ins, attrs) -> None:
        a, out = ins[0], node.output[0]
        bmat = self.need_const(ins[1], "Gemm B").astype(F32)
        alpha, beta = float(attrs.get("alpha", 1.0)), float(attrs.get("beta", 1.0))
        if len(self.shape(a)) != 2 or bmat.ndim != 2:
            raise ValueError(f"Gemm {name!r}: A and B must be 2-D")
        if attrs.get("transA", 0):
            a = self.tmp_emit("Transpose", [a], {"perm": (1, 0)}, name)
        w = (bmat if attrs.get("transB", 0) else bmat.T) * F32(alpha)
        n = w.shape[0]
        c = self.opt_input(ins, 2)
        inputs = [a, self.add_const(ins[1] + "_w", w.astype(F32))]
        extra_c = None
        if c and self.is_const(c):
            cv = self.const(c).astype(F32) * F32(beta)
            if cv.size in (1, n) and cv.ndim <= 2 and (cv.ndim < 2 or cv.shape[0] == 1):
                inputs.append(self.add_const(c + "_b", np.broadcast_to(cv.reshape(-1), (n,))))
            else:
                extra_c = self.add_const(c + "_b", cv)
        elif c:
            extra_c = c
            if beta != 1.0:
                extra_c = self.tmp_emit("Mul", [c, self.add_const("beta", np.array(beta, F32))],
                                        {"clip": NO_CLIP}, name)
        if extra_c is None:
            self.emit("Gemm", inputs, [out], {"clip": NO_CLIP}, name)
        else:
            y = self.tmp_emit("Gemm", inputs, {"clip": NO_CLIP}, name)
            self.emit("Add", [y, extra_c], [out], {"clip": NO_CLIP}, name + "/bias")

    def op_MatMul(self, node, name, ins, attrs) -> None:
        a, b, out = ins[0], ins[1], node.output[0]
        if not self.is_const(b) or self.is_const(a):  # of activations: float32, ONNX's MatMul
            self.op_onnx_float(node, name, ins, attrs)
            return
        wmat = self.const(b).astype(F32)
        while wmat.ndim > 2 and wmat.shape[0] == 1:
            wmat = wmat[0]
        if wmat.ndim != 2:  # batched weights: float32 MatMul (ONNX broadcasting)
            self.op_onnx_float(node, name, ins, attrs)
            return
        xs = self.shape(a)
        k, n = wmat.shape
        if xs[-1] != k:
            raise ValueError(f"MatMul {name!r}: {xs} @ {wmat.shape} do not match")
        w = self.add_const(b + "_w", np.ascontiguousarray(wmat.T))
        if len(xs) == 2:
            self.emit("Gemm", [a, w], [out], {"clip": NO_CLIP}, name)
            return
        lead = xs[:-1]
        m = int(np.prod(lead, dtype=np.int64))
        x2 = self.tmp_emit("Reshape", [a], {"shape": (m, k)}, name)
        y2 = self.tmp_emit("Gemm", [x2, w], {"clip": NO_CLIP}, name)
        self.emit("Reshape", [y2], [out], {"shape": tuple(lead) + (n,)}, name + "/out")

    def _unary(self, op: str, node, name, ins, attrs: dict[str, Any] | None = None) -> None:
        self.emit(op, [ins[0]], [node.output[0]], attrs or {}, name)

    def op_declared(self, node, name, ins, attrs):
        """An op opset.py declares ONNX-compatible: its attributes, defaults filled in; a binary
        op takes exactly two inputs (ONNX's variadic Max / Min too)."""
        schema = OPS[node.op_type]
        unknown = sorted(set(attrs) - set(schema.attrs))
        if unknown:  # e.g. an attribute a later ONNX opset added: never dropped silently
            raise _Unsupported(f"attribute(s) {unknown} (int8rt's {node.op_type} takes "
                               f"{sorted(schema.attrs) or 'none'})")
        kept = {k: (float(attrs[k]) if isinstance(d, float) else attrs[k])
                for k, d in schema.attrs.items() if k in attrs}
        if schema.binary is None:
            self._unary(node.op_type, node, name, ins, {**schema.attrs, **kept})
            return
        if len(ins) != 2 or not all(ins):
            raise _Unsupported(f"{node.op_type} with {len(ins)} inputs (two are supported)")
        self.emit(node.op_type, [self.operand(ins[0]), self.operand(ins[1])], [node.output[0]],
                  {**schema.attrs, **kept}, name)

    def op_Clip(self, node, name, ins, attrs):
        if self.opset < 11:
            lo, hi = attrs.get("min", -math.inf), attrs.get("max", math.inf)
        else:
            lo_n, hi_n = self.opt_input(ins, 1), self.opt_input(ins, 2)
            lo = self.need_const(lo_n, "Clip min").item() if lo_n else -math.inf
            hi = self.need_const(hi_n, "Clip max").item() if hi_n else math.inf
        self._unary("Clip", node, name, ins, {"min": float(lo), "max": float(hi)})

    def _binary(self, op: str, node, name, ins, attrs) -> None:
        a, b = self.operand(ins[0]), self.operand(ins[1])
        if attrs.get("broadcast") and "axis" in attrs and self.is_const(b):
            # opset < 7 broadcasting: B's dims line up with A's starting at `axis`
            rank = len(self.shape(a))
            bv = self.const(b)
            tail = rank - int(attrs["axis"]) % rank - bv.ndim
            b = self.add_const(b + "_bc", bv.reshape(bv.shape + (1,) * tail))
        if op == "Div" and self.is_const(b):
            op, b = "Mul", self.add_const(b + "_recip", (F32(1) / self.const(b)).astype(F32))
        attrs_out = {} if op == "Div" else {"clip": NO_CLIP}
        self.emit(op, [a, b], [node.output[0]], attrs_out, name)

    def op_Add(self, node, name, ins, attrs):
        self._binary("Add", node, name, ins, attrs)

    def op_Sub(self, node, name, ins, attrs):
        self._binary("Sub", node, name, ins, attrs)

    def op_Mul(self, node, name, ins, attrs):
        self._binary("Mul", node, name, ins, attrs)

    def op_Div(self, node, name, ins, attrs):
        self._binary("Div", node, name, ins, attrs)

    # float-only unary ops (opset FLOAT_UNARY_OPS; the binary ones import through op_declared):
    # quantization leaves them in float32 and the plan runs them on the f32 kernels
    def _float_unary(self, node, name, ins, attrs):
        self._unary(node.op_type, node, name, ins)

    op_Exp = op_Log = op_Sqrt = op_Abs = op_Neg = op_Reciprocal = op_Erf = _float_unary

    def op_BatchNormalization(self, node, name, ins, attrs):
        if any(o for o in node.output[1:]):
            raise _Unsupported("training-mode outputs (running mean/var) are not supported")
        params = [self.fconst(i) for i in ins[1:5]]
        for p, what in zip(ins[1:5], ("scale", "bias", "mean", "var")):
            self.need_const(p, f"BatchNormalization {what}")
        self.emit("BatchNormalization", [ins[0]] + params, [node.output[0]],
                  {"epsilon": float(attrs.get("epsilon", 1e-5))}, name)

    def _pool_common(self, node, name, ins, attrs, op: str):
        xs = self.need_4d(ins[0], op)
        kernel = tuple(attrs["kernel_shape"])
        strides = tuple(attrs.get("strides", (1, 1)))
        dil = tuple(attrs.get("dilations", (1, 1)))
        pads = list(self.spatial_pads(attrs, xs[2:], kernel, strides, dil))
        extra = [0, 0]
        if attrs.get("ceil_mode", 0):
            for k in range(2):
                n = xs[2 + k] + pads[k] + pads[k + 2] - dil[k] * (kernel[k] - 1) - 1
                out = -(-n // strides[k]) + 1
                # the last window must start inside the input or the begin padding
                if (out - 1) * strides[k] >= xs[2 + k] + pads[k]:
                    out -= 1
                extra[k] = max(0, (out - 1) * strides[k] + dil[k] * (kernel[k] - 1) + 1
                               - (xs[2 + k] + pads[k] + pads[k + 2]))
        return kernel, strides, dil, pads, extra

    def op_MaxPool(self, node, name, ins, attrs):
        if len(node.output) > 1 and node.output[1]:
            raise _Unsupported("the Indices output is not supported")
        kernel, strides, dil, pads, extra = self._pool_common(node, name, ins, attrs, "MaxPool")
        pads = (pads[0], pads[1], pads[2] + extra[0], pads[3] + extra[1])
        self.emit("MaxPool", [ins[0]], [node.output[0]],
                  {"kernel": kernel, "strides": strides, "pads": pads, "dilations": dil,
                   **self.size_pads(attrs)}, name)

    def op_AveragePool(self, node, name, ins, attrs):
        kernel, strides, dil, pads, extra = self._pool_common(
            node, name, ins, attrs, "AveragePool")
        if dil != (1, 1):
            raise _Unsupported("dilated AveragePool")
        cip = int(attrs.get("count_include_pad", 0))
        x = ins[0]
        if cip and any(extra):
            # ceil_mode's extra bottom/right cells never count, the declared pads do: make the
            # declared pads real zeros and let the pool count only what lies inside
            x = self.tmp_emit("Pad", [x], {"pads": (0, 0, pads[0], pads[1], 0, 0, pads[2],
                                                   pads[3]), "mode": "constant", "value": 0.0},
                              name)
            pads, cip = [0, 0, 0, 0], 0
        pads = (pads[0], pads[1], pads[2] + extra[0], pads[3] + extra[1])
        self.emit("AveragePool", [x], [node.output[0]],
                  {"kernel": kernel, "strides": strides, "pads": pads, "count_include_pad": cip,
                   **self.size_pads(attrs)}, name)

    def op_GlobalAveragePool(self, node, name, ins, attrs):
        self.need_4d(ins[0], "GlobalAveragePool")
        self.emit("GlobalAveragePool", [ins[0]], [node.output[0]], {}, name)

    def op_GlobalMaxPool(self, node, name, ins, attrs):
        xs = self.need_4d(ins[0], "GlobalMaxPool")
        self.emit("MaxPool", [ins[0]], [node.output[0]],
                  {"kernel": xs[2:], "strides": (1, 1), "pads": (0, 0, 0, 0),
                   "dilations": (1, 1)}, name)

    def op_ReduceMean(self, node, name, ins, attrs):
        self._spatial_reduce("GlobalAveragePool", {}, node, name, ins, attrs)

    def op_ReduceMax(self, node, name, ins, attrs):
        xs = self.shape(ins[0])
        window = {"kernel": xs[2:], "strides": (1, 1), "pads": (0, 0, 0, 0),
                  "dilations": (1, 1)} if len(xs) == 4 else {}
        self._spatial_reduce("MaxPool", window, node, name, ins, attrs)

    def _spatial_reduce(self, op: str, op_attrs: dict, node, name, ins, attrs):
        """ReduceMean / ReduceMax over H, W of a 4-D tensor: the int8 global pool `op`;
        over other axes (the channels: spatial attention) ONNX's op in float32."""
        xs = self.shape(ins[0])
        axes = attrs.get("axes")
        if axes is None and self.opt_input(ins, 1):
            axes = self.need_const(ins[1], f"{node.op_type} axes").tolist()
        if len(xs) != 4 or axes is None or sorted(a % 4 for a in axes) != [2, 3]:
            self.op_onnx_float(node, name, ins, attrs)
            return
        if attrs.get("keepdims", 1):
            self.emit(op, [ins[0]], [node.output[0]], op_attrs, name)
        else:
            y = self.tmp_emit(op, [ins[0]], op_attrs, name)
            self.emit("Reshape", [y], [node.output[0]], {"shape": xs[:2]}, name + "/squeeze")

    def op_onnx_float(self, node, name, ins, attrs):
        """An op kept with ONNX semantics, in float32 (opset.ONNX_FLOAT_OPS): its attributes
        as ONNX gives them (a Reduce op's constant `axes` input becomes the attribute), its
        constant operands float32. The dynamic path's lowering rule for it is tried here, so
        a form no record runs (a LayerNormalization over several axes, axes that are not
        contiguous) is refused at import, naming the node, before calibration."""
        from int8rt.dynamic.lower import LoweringError, lower_float_node

        op = node.op_type
        a = dict(attrs)
        if op.startswith("Reduce"):
            if self.opt_input(ins, 1):
                a["axes"] = [int(v) for v in
                             np.asarray(self.need_const(ins[1], f"{op} axes")).reshape(-1)]
            if "axes" in a and not a["axes"]:  # empty axes: all, or none with noop
                if a.get("noop_with_empty_axes", 0):
                    raise _Unsupported("noop_with_empty_axes with empty axes")
                del a["axes"]
            a.pop("noop_with_empty_axes", None)
            ins = ins[:1]
        if any(node.output[1:]):
            raise _Unsupported("only the first output is supported")
        inputs = [self.operand(i) if i else "" for i in ins]
        if op == "Where":  # no bool activations in a static graph: the mask is a constant
            if not self.is_const(ins[0]) or self.const(ins[0]).dtype != np.bool_:
                raise _Unsupported("the condition must be a constant bool tensor (comparisons "
                                   "of activations run on the dynamic path only)")
            inputs[0] = ins[0]
        if op == "Expand":  # shapes are static: the target shape is a constant, an attribute
            a["shape"] = [int(v) for v in
                          np.asarray(self.need_const(ins[1], "Expand shape")).reshape(-1)]
            inputs = inputs[:1]
        while inputs and not inputs[-1]:  # omitted trailing optional inputs (a bias)
            inputs.pop()
        n = self.emit(op, inputs, [node.output[0]], a, name)
        try:
            lower_float_node(self.g, n)
        except LoweringError as e:
            raise _Unsupported(str(e).split(": ", 1)[-1]) from None
        except (TypeError, IndexError) as e:  # attributes of the wrong kind
            raise _Unsupported(f"attributes {a} do not fit the op ({e})") from None

    op_ReduceSum = op_ReduceSumSquare = op_ReduceL1 = op_ReduceL2 = \
        op_LpNormalization = op_LayerNormalization = op_Where = op_Expand = op_onnx_float

    def op_Flatten(self, node, name, ins, attrs):
        xs = self.shape(ins[0])
        axis = int(attrs.get("axis", 1))
        axis = axis + len(xs) if axis < 0 else axis
        shape = (int(np.prod(xs[:axis])), int(np.prod(xs[axis:])))
        self.emit("Reshape", [ins[0]], [node.output[0]], {"shape": shape}, name)

    def op_Reshape(self, node, name, ins, attrs):
        xs = self.shape(ins[0])
        target = [int(v) for v in (attrs["shape"] if self.opset < 5 else
                                   self.need_const(ins[1], "Reshape shape").tolist())]
        allowzero = int(attrs.get("allowzero", 0))
        if not allowzero and any(v == 0 for v in target[len(xs):]):
            raise ValueError(f"Reshape {name!r}: target {target} copies (0) a dimension past "
                             f"the input's rank {len(xs)}")
        out = [xs[k] if (v == 0 and not allowzero) else v for k, v in enumerate(target)]
        if out.count(-1) > 1:
            raise ValueError(f"Reshape {name!r}: more than one -1 in {target}")
        if -1 in out:
            known = int(np.prod([v for v in out if v != -1]))
            out[out.index(-1)] = int(np.prod(xs)) // max(known, 1)
        if int(np.prod(out)) != int(np.prod(xs)):
            raise ValueError(f"Reshape {name!r}: cannot reshape {xs} to {target}")
        self.emit("Reshape", [ins[0]], [node.output[0]], {"shape": tuple(out)}, name)

    def op_Transpose(self, node, name, ins, attrs):
        rank = len(self.shape(ins[0]))
        perm = tuple(int(p) for p in attrs.get("perm", range(rank - 1, -1, -1)))
        if sorted(perm) != list(range(rank)):
            raise _Unsupported(f"perm {perm} is not a permutation of the {rank} input axes")
        self.emit("Transpose", [ins[0]], [node.output[0]], {"perm": perm}, name)

    def op_Concat(self, node, name, ins, attrs):
        rank = len(self.shape(ins[0]))
        inputs = [self.operand(i) for i in ins if i]
        self.emit("Concat", inputs, [node.output[0]], {"axis": int(attrs["axis"]) % rank}, name)

    def op_Split(self, node, name, ins, attrs):
        xs = self.shape(ins[0])
        axis = int(attrs.get("axis", 0)) % len(xs)
        outs = list(node.output)
        sizes = attrs.get("split")
        if sizes is None and self.opt_input(ins, 1):
            sizes = self.need_const(ins[1], "Split sizes").tolist()
        if sizes is None:
            k = int(attrs.get("num_outputs", len(outs)))
            chunk = -(-xs[axis] // k)
            sizes = [min(chunk, xs[axis] - chunk * i) for i in range(k)]
        sizes = tuple(int(s) for s in sizes)
        if sum(sizes) != xs[axis] or len(sizes) != len(outs):
            raise ValueError(f"Split {name!r}: sizes {sizes} do not split dim {xs[axis]} into "
                             f"{len(outs)} outputs")
        outs = [o or self.fresh(f"{name}_unused") for o in outs]
        self.emit("Split", [ins[0]], outs, {"axis": axis, "sizes": sizes}, name)

    def op_Slice(self, node, name, ins, attrs):
        xs = self.shape(ins[0])
        if self.opset < 10:
            starts, ends = attrs["starts"], attrs["ends"]
            axes = attrs.get("axes", list(range(len(starts))))
            steps = [1] * len(starts)
        else:
            starts = self.need_const(ins[1], "Slice starts").tolist()
            ends = self.need_const(ins[2], "Slice ends").tolist()
            ax_n, st_n = self.opt_input(ins, 3), self.opt_input(ins, 4)
            axes = self.need_const(ax_n, "Slice axes").tolist() if ax_n else list(
                range(len(starts)))
            steps = self.need_const(st_n, "Slice steps").tolist() if st_n else [1] * len(starts)
        rstart, rstep, oshape = [0] * len(xs), [1] * len(xs), list(xs)
        for s, e, ax, st in zip(starts, ends, axes, steps):
            ax = int(ax) % len(xs)
            dim = xs[ax]
            s, e, st = int(s), int(e), int(st)
            if st == 0:
                raise ValueError(f"Slice {name!r}: step 0")
            s = s + dim if s < 0 else s
            e = e + dim if e < 0 else e
            if st > 0:
                s, e = min(max(s, 0), dim), min(max(e, 0), dim)
            else:
                s, e = min(max(s, 0), dim - 1), min(max(e, -1), dim - 1)
            n = max(0, -(-(e - s) // st))
            rstart[ax], rstep[ax], oshape[ax] = (s if n else 0), st, n
        self.emit("Slice", [ins[0]], [node.output[0]],
                  {"starts": tuple(rstart), "steps": tuple(rstep)}, name, tuple(oshape))

    def op_Pad(self, node, name, ins, attrs):
        xs = self.shape(ins[0])
        rank = len(xs)
        mode = attrs.get("mode", "constant")
        if self.opset < 11:
            pads, value = list(attrs.get("pads", attrs.get("paddings"))), attrs.get("value", 0.0)
        else:
            pads = self.need_const(ins[1], "Pad pads").tolist()
            v = self.opt_input(ins, 2)
            value = float(self.need_const(v, "Pad value").reshape(-1)[0]) if v else 0.0
            ax_n = self.opt_input(ins, 3)
            if ax_n:
                axes = [int(a) % rank for a in self.need_const(ax_n, "Pad axes").tolist()]
                full = [0] * (2 * rank)
                for k, ax in enumerate(axes):
                    full[ax], full[ax + rank] = pads[k], pads[k + len(axes)]
                pads = full
        if mode not in ("constant", "reflect", "edge"):
            raise _Unsupported(f"mode {mode!r}")
        pads = [int(p) for p in pads]
        pos = [max(p, 0) for p in pads]
        out = node.output[0]
        x = ins[0]
        if any(p < 0 for p in pads):
            # negative pads crop: pad the positive part, then slice the rest away
            padded = self.tmp_emit("Pad", [x], {"pads": tuple(pos), "mode": mode,
                                                "value": float(value)}, name)
            ps = self.shape(padded)
            starts = tuple(max(-p, 0) for p in pads[:rank])
            oshape = tuple(ps[k] - max(-pads[k], 0) - max(-pads[k + rank], 0)
                           for k in range(rank))
            self.emit("Slice", [padded], [out], {"starts": starts, "steps": (1,) * rank},
                      name + "/crop", oshape)
            return
        self.emit("Pad", [x], [out], {"pads": tuple(pads), "mode": mode, "value": float(value)},
                  name)

    def op_Upsample(self, node, name, ins, attrs):
        self.op_Resize(node, name, ins, attrs, upsample=True)

    def op_Resize(self, node, name, ins, attrs, upsample: bool = False):
        xs = self.need_4d(ins[0], node.op_type)
        old = upsample or self.opset < 11
        mode = attrs.get("mode", "nearest")
        mode = {"bilinear": "linear"}.get(mode, mode)
        if mode not in ("nearest", "linear"):
            raise _Unsupported(f"mode {mode!r}")
        if attrs.get("antialias", 0):
            raise _Unsupported("antialias")
        if attrs.get("keep_aspect_ratio_policy", "stretch") != "stretch":
            raise _Unsupported("keep_aspect_ratio_policy")
        ctm = "asymmetric" if old else attrs.get("coordinate_transformation_mode", "half_pixel")
        if ctm == "tf_crop_and_resize":
            raise _Unsupported("coordinate_transformation_mode tf_crop_and_resize")
        # before opset 11 nearest resize took floor(x / scale) (asymmetric)
        nearest = "floor" if old else attrs.get("nearest_mode", "round_prefer_floor")
        axes = attrs.get("axes")
        if upsample and "scales" in attrs:
            scales, sizes = list(attrs["scales"]), None
            rule = {"size_rule": "scales"}
        elif old:
            scales, sizes = self.need_const(ins[1], "Resize scales").tolist(), None
            rule = self._size_rule(None, ins[1], axes)
        else:
            sc_n, sz_n = self.opt_input(ins, 2), self.opt_input(ins, 3)
            scales = self.need_const(sc_n, "Resize scales").tolist() if sc_n else None
            sizes = self.need_const(sz_n, "Resize sizes").tolist() if sz_n else None
            if scales is not None and len(scales) == 0:
                scales = None
            if sizes is not None and len(sizes) == 0:
                sizes = None
            rule = self._size_rule(sz_n if sizes is not None else None,
                                   sc_n if scales is not None else None, axes)
        if axes is not None:
            full_sc, full_sz = [1.0] * 4, list(xs)
            for k, ax in enumerate(axes):
                if scales is not None:
                    full_sc[int(ax) % 4] = scales[k]
                if sizes is not None:
                    full_sz[int(ax) % 4] = sizes[k]
            scales = full_sc if scales is not None else None
            sizes = full_sz if sizes is not None else None
        if sizes is not None:
            sizes = [int(s) for s in sizes]
            scales = [s / n for s, n in zip(sizes, xs)]
        elif scales is not None:
            scales = [float(F32(s)) for s in scales]
            sizes = [math.floor(n * s) for n, s in zip(xs, scales)]
        else:
            raise ValueError(f"{node.op_type} {name!r}: neither scales nor sizes given")
        if len(sizes) != 4 or len(xs) != 4:
            raise _Unsupported(f"resize of rank {len(xs)} with {len(sizes)} sizes / scales "
                               f"(4-D NCHW only, one entry per axis)")
        if sizes[0] != xs[0] or sizes[1] != xs[1]:
            raise _Unsupported("resizing the batch or channel axis")
        self.emit("Resize", [ins[0]], [node.output[0]],
                  {"size": (sizes[2], sizes[3]), "mode": mode,
                   "coordinate_transformation_mode": ctm, "nearest_mode": nearest,
                   "scales": (scales[2], scales[3]), **rule}, name)

    def op_Softmax(self, node, name, ins, attrs):
        xs = self.shape(ins[0])
        rank = len(xs)
        if self.opset >= 13:
            self.emit("Softmax", [ins[0]], [node.output[0]],
                      {"axis": int(attrs.get("axis", -1)) % rank}, name)
            return
        axis = int(attrs.get("axis", 1)) % rank
        if axis == rank - 1:
            self.emit("Softmax", [ins[0]], [node.output[0]], {"axis": axis}, name)
            return
        # opset < 13 coerces to 2-D [prod(:axis), prod(axis:)] and normalizes the second dim
        flat = self.tmp_emit("Reshape", [ins[0]], {
            "shape": (int(np.prod(xs[:axis])), int(np.prod(xs[axis:])))}, name)
        sm = self.tmp_emit("Softmax", [flat], {"axis": 1}, name)
        self.emit("Reshape", [sm], [node.output[0]], {"shape": xs}, name + "/unflatten")

    def op_Identity(self, node, name, ins, attrs):
        self.emit("Identity", [ins[0]], [node.output[0]], {}, name)

    def op_Dropout(self, node, name, ins, attrs):
        if len(node.output) > 1 and node.output[1]:
            raise _Unsupported("the mask output is not supported")
        # opset 12+: input 2 is training_mode; in training mode Dropout is random (inference
        # only runs it as the identity), so anything but a constant False is refused
        mode = self.opt_input(ins, 2)
        if mode and (not self.is_const(mode) or bool(np.asarray(self.const(mode)).any())):
            raise _Unsupported("training mode (random dropout) is not supported")
        self.emit("Identity", [ins[0]], [node.output[0]], {}, name)

    def op_Cast(self, node, name, ins, attrs):
        if int(attrs.get("to", 0)) != onnx.TensorProto.FLOAT:
            raise _Unsupported("casting an activation to a non-float32 type")
        self.emit("Identity", [ins[0]], [node.output[0]], {}, name)


class SymbolicShapeError(ValueError):
    """A model input with a symbolic dimension other than the batch: its size must be given.
    `example` is the shape with the batch as 1 and the unknown dims by name."""

    def __init__(self, input_name: str, dim: int, dims: list[int | str]) -> None:
        self.input_name, self.dim = input_name, dim
        self.example = [1 if k == 0 and isinstance(d, str) else d for k, d in enumerate(dims)]
        ex = ",".join(str(d) for d in self.example)
        unknown = [d for d in self.example if isinstance(d, str)]
        super().__init__(
            f"model input {input_name!r} has symbolic dim {dim} ({dims[dim]!r}): pin its "
            f"shape with --input-shape {input_name}={ex} (Python: input_shapes={{"
            f"{input_name!r}: ({ex.replace(',', ', ')})}}), {', '.join(unknown)} as numbers")


class OnnxLoadError(ValueError):
    """A file or buffer that is not a readable ONNX model (corrupt, truncated, not protobuf)."""


def load_onnx_model(source: str | os.PathLike | bytes | onnx.ModelProto) -> onnx.ModelProto:
    """An onnx.ModelProto from a path, serialized bytes or a ModelProto (returned as is).

    Every way a file can fail to be an ONNX model (a protobuf DecodeError, a truncated file, a
    random file that happens to parse into an empty message, a missing external-data file)
    becomes OnnxLoadError "X is not a readable ONNX model: why" (also when the
    path does not exist: "no such ONNX file"), so every subcommand and the Python API say the
    same thing."""
    if isinstance(source, onnx.ModelProto):
        return source
    if isinstance(source, (bytes, bytearray, memoryview)):
        what, load = "the buffer", lambda: onnx.load_from_string(bytes(source))
    else:
        path = os.fspath(source)
        if os.path.isdir(path):
            raise OnnxLoadError(f"{path} is a directory, not an ONNX model file")
        if not os.path.exists(path):
            raise OnnxLoadError(f"no such ONNX file: {path}")
        what, load = path, lambda: onnx.load(path)
    try:
        model = load()
    except Exception as e:  # noqa: BLE001 - DecodeError, RuntimeError, OSError, ...
        raise OnnxLoadError(f"{what} is not a readable ONNX model: "
                            f"{type(e).__name__}: {e}") from None
    # protobuf parses many short random byte strings into a message with unknown fields only
    if not model.HasField("graph") or (not model.graph.node and not model.graph.input
                                       and not model.graph.output):
        raise OnnxLoadError(f"{what} is not a readable ONNX model: no graph in it (corrupt, "
                            "truncated or not an ONNX file)")
    return model


def import_onnx(model: str | os.PathLike | bytes | onnx.ModelProto,
                input_shapes: dict[str, tuple[int, ...]] | None = None,
                keep_tensors: Iterable[str] = ()) -> ir.Graph:
    """Load an ONNX float model and return the canonical NHWC graph.

    `input_shapes` pins symbolic input dimensions ({input name: full shape}); an unpinned
    symbolic batch dimension (dim 0) becomes 1, any other unpinned symbolic dim is an error.
    """
    model = load_onnx_model(model)
    if not model.graph.node and not model.graph.output:
        raise ValueError("ONNX model has an empty graph")
    from int8rt.frontend.onnx_qdq import has_quantization

    if has_quantization(model):
        raise ValueError("this ONNX model is already quantized (QDQ / QOperator nodes): import "
                         "it with int8rt.quantize(model) and no calibration data "
                         "(frontend.onnx_qdq.import_quantized_onnx), which keeps its scales")
    graph = _Importer(model, input_shapes).run()
    # tensors a QDQ source quantizes: pattern / activation fusion must not remove them
    # (passes.fuse_patterns, fuse_activations), or the source's rounding there would be lost
    graph.meta["keep_tensors"] = sorted(keep_tensors)
    graph = canonicalize(graph)
    graph.meta.pop("keep_tensors", None)
    # A malformed model (a node re-defining a name, a self-loop) converts node by node without
    # complaint; refuse it here, before PTQ walks it (a cycle made its recursion unbounded).
    validate_graph(graph)
    return graph
