"""Lowering of a specialized graph (int8rt/dynamic/specialize.py) to the native float /
dynamic-quantization plan (csrc/include/int8rt/fplan.h, int8rt/_dynamic.pxi).

Every op becomes one or more op records over *storages*: reshape-like ops (Reshape, Flatten,
Unsqueeze, Squeeze, Identity, Dropout) alias their input, so they cost nothing. Intermediate
storages share one arena, placed by liveness with the static plan's allocator
(int8rt/plan.py); model inputs are the caller's arrays, constants the plan's own. Shapes and
strides are computed here, once per shape, so the C loop only dispatches.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from .. import ir
from .._native import _aligned_bytes, _FloatPlan, dynq_pack, dynq_scratch_size, wo_scratch_size
from ..plan import Interval, assign_offsets, liveness
from ..program import Call
from ..reference.onnx_ops import slice_spec

# csrc/include/int8rt/fplan.h and f32.h enums
(BINARY, UNARY, LAYERNORM, SOFTMAX, REDUCE, MATMUL, GATHER, COPY, CAST, WHERE, DYNQ, WO,
 WO_GATHER) = range(13)
KIND_NAMES = ("binary", "unary", "layernorm", "softmax", "reduce", "matmul", "gather", "copy",
              "cast", "where", "dynq_matmul", "wo_matmul", "wo_gather")
BINARY_OPS = {"Add": 0, "Sub": 1, "Mul": 2, "Div": 3, "Pow": 4, "Max": 5, "Min": 6,
              "Equal": 16, "Less": 17, "Greater": 18, "LessOrEqual": 19, "GreaterOrEqual": 20,
              "And": 32, "Or": 33, "Xor": 34}
UNARY_OPS = {"Relu": 0, "Sigmoid": 1, "Tanh": 2, "Erf": 3, "Sqrt": 4, "Exp": 7, "Neg": 8,
             "Clip": 9, "Reciprocal": 10, "Abs": 11, "Not": 12, "Log": 13}
GELU_ERF, GELU_TANH = 5, 6
TYPE_CODES = {"float32": 0, "int64": 1, "bool": 2, "uint8": 2, "int32": 3, "int8": 4}
ALIAS_OPS = ("Reshape", "Flatten", "Unsqueeze", "Squeeze", "Identity", "Dropout")
MAXDIM = 8


class LoweringError(ValueError):
    pass


def contiguous_strides(shape: tuple[int, ...]) -> list[int]:
    st, acc = [], 1
    for d in reversed(shape):
        st.append(acc)
        acc *= d
    return st[::-1]


def broadcast_strides(in_shape: tuple[int, ...], out_shape: tuple[int, ...]) -> list[int]:
    """Element strides that read `in_shape` as if broadcast to `out_shape` (numpy rules)."""
    lead = len(out_shape) - len(in_shape)
    base = contiguous_strides(in_shape)
    out = [0] * lead
    for d, (n, s) in enumerate(zip(in_shape, base)):
        out.append(0 if n == 1 and out_shape[lead + d] != 1 else s)
    return out


@dataclass
class Record:
    kind: int
    op: int
    inputs: list[str]
    output: str
    p: tuple[int, ...] = ()
    f: tuple[float, ...] = ()
    shape: tuple[int, ...] = ()
    strides: tuple[list[int], ...] = ()
    consts: tuple[Any, ...] = ()
    node: str = ""
    scratch: int = 0


@dataclass
class _Lowering:
    graph: ir.Graph
    packed: dict[str, np.ndarray] = field(default_factory=dict)  # weight name -> gemm panel
    records: list[Record] = field(default_factory=list)
    alias: dict[str, str] = field(default_factory=dict)

    def t(self, name: str) -> ir.Tensor:
        return self.graph.tensor(name)

    def root(self, name: str) -> str:
        while name in self.alias:
            name = self.alias[name]
        return name

    def emit(self, node: ir.Node, kind: int, op: int, ins: list[str], out: str, **kw) -> None:
        shape = kw.get("shape", ())
        if len(shape) > MAXDIM:
            raise LoweringError(f"{node.op} (node {node.name!r}): rank {len(shape)} > {MAXDIM}")
        self.records.append(Record(kind, op, [self.root(i) for i in ins], self.root(out),
                                   node=node.name, **kw))

    def fail(self, node: ir.Node, why: str) -> LoweringError:
        return LoweringError(f"{node.op} (node {node.name!r}): {why}")

    def const(self, node: ir.Node, k: int, what: str) -> np.ndarray:
        if k >= len(node.inputs) or not node.inputs[k]:
            raise self.fail(node, f"missing {what}")
        arr = self.graph.const(node.inputs[k])
        if arr is None:
            raise self.fail(node, f"{what} must be constant once shapes are pinned")
        return arr

    def opt_const(self, node: ir.Node, k: int) -> np.ndarray | None:
        if k >= len(node.inputs) or not node.inputs[k]:
            return None
        return self.const(node, k, f"input {k}")

    # -- ops ---------------------------------------------------------------------------------
    def lower(self, node: ir.Node) -> None:
        op = node.op
        if op in ALIAS_OPS:
            self.alias[node.outputs[0]] = node.inputs[0]
            return
        if op in BINARY_OPS:
            return self.binary(node)
        if op in UNARY_OPS or op == "Gelu":
            return self.unary(node)
        fn = getattr(self, "op_" + op, None)
        if fn is None:
            raise self.fail(node, "no native kernel in the dynamic plan")
        fn(node)

    def binary(self, node: ir.Node) -> None:
        a, b = node.inputs[:2]
        y = node.outputs[0]
        ta, tb, ty = self.t(a), self.t(b), self.t(y)
        if len(node.inputs) != 2:
            raise self.fail(node, "takes exactly two inputs here")
        if ta.dtype != tb.dtype or ta.dtype not in TYPE_CODES:
            raise self.fail(node, f"operand dtypes {ta.dtype}, {tb.dtype} not supported")
        code = BINARY_OPS[node.op]
        if code < 16 and ta.dtype != "float32":
            raise self.fail(node, f"arithmetic on {ta.dtype} is folded only, not run")
        shape = ty.shape if ty.shape else (1,)
        sa = broadcast_strides(ta.shape, ty.shape) if ty.shape else [0]
        sb = broadcast_strides(tb.shape, ty.shape) if ty.shape else [0]
        self.emit(node, BINARY, code, [a, b], y, p=(TYPE_CODES[ta.dtype],), shape=shape,
                  strides=(sa, sb))

    def unary(self, node: ir.Node) -> None:
        x, y = node.inputs[0], node.outputs[0]
        n = math.prod(self.t(y).shape)
        lo, hi = -np.inf, np.inf
        if node.op == "Gelu":
            code = GELU_TANH if node.attrs.get("approximate", "none") == "tanh" else GELU_ERF
        else:
            code = UNARY_OPS[node.op]
        if node.op == "Clip":
            mn, mx = self.opt_const(node, 1), self.opt_const(node, 2)
            lo = float(mn) if mn is not None else float(node.attrs.get("min", -np.inf))
            hi = float(mx) if mx is not None else float(node.attrs.get("max", np.inf))
        want = "bool" if node.op == "Not" else "float32"
        if self.t(x).dtype != want:
            raise self.fail(node, f"input dtype {self.t(x).dtype}, kernel takes {want}")
        self.emit(node, UNARY, code, [x], y, p=(n,), f=(lo, hi))

    def op_LayerNormalization(self, node: ir.Node) -> None:
        x, y = node.inputs[0], node.outputs[0]
        shape = self.t(x).shape
        axis = int(node.attrs.get("axis", -1))
        if axis not in (-1, len(shape) - 1):
            raise self.fail(node, "normalizes the last axis only")
        cols = shape[-1]
        gamma = np.ascontiguousarray(self.const(node, 1, "scale"), np.float32).reshape(-1)
        beta = self.opt_const(node, 2)
        beta = None if beta is None else np.ascontiguousarray(beta, np.float32).reshape(-1)
        if gamma.size != cols or (beta is not None and beta.size != cols):
            raise self.fail(node, "scale / bias must have the last axis' size")
        self.emit(node, LAYERNORM, 0, [x], y, p=(math.prod(shape) // cols, cols),
                  f=(float(node.attrs.get("epsilon", 1e-5)),), consts=(gamma, beta))

    def op_Softmax(self, node: ir.Node) -> None:
        x, y = node.inputs[0], node.outputs[0]
        shape = self.t(x).shape
        axis = int(node.attrs.get("axis", -1))
        if axis not in (-1, len(shape) - 1):
            raise self.fail(node, "softmax over the last axis only")
        self.emit(node, SOFTMAX, 0, [x], y, p=(math.prod(shape) // shape[-1], shape[-1]))

    def _reduce(self, node: ir.Node, code: int) -> None:
        x, y = node.inputs[0], node.outputs[0]
        shape = self.t(x).shape
        axes = node.attrs.get("axes")
        if axes is None and len(node.inputs) > 1 and node.inputs[1]:
            axes = self.const(node, 1, "axes")
        axes = sorted({int(a) % len(shape) for a in np.atleast_1d(axes)}) if axes is not None \
            else list(range(len(shape)))
        if axes != list(range(axes[0], axes[-1] + 1)):
            raise self.fail(node, f"reduces contiguous axes only, not {axes}")
        outer = math.prod(shape[:axes[0]])
        r = math.prod(shape[axes[0]:axes[-1] + 1])
        inner = math.prod(shape[axes[-1] + 1:])
        if self.t(x).dtype != "float32":
            raise self.fail(node, "float32 input only")
        self.emit(node, REDUCE, code, [x], y, p=(outer, r, inner))

    def op_ReduceSum(self, node):
        self._reduce(node, 0)

    def op_ReduceMean(self, node):
        self._reduce(node, 1)

    def op_ReduceMax(self, node):
        self._reduce(node, 2)

    def op_MatMul(self, node: ir.Node) -> None:
        a, b = node.inputs
        y = node.outputs[0]
        sa, sb = self.t(a).shape, self.t(b).shape
        if self.t(a).dtype != "float32" or self.t(b).dtype != "float32":
            raise self.fail(node, "float32 operands only")
        a2 = (1, *sa) if len(sa) == 1 else sa
        b2 = (*sb, 1) if len(sb) == 1 else sb
        m, k = a2[-2:]
        k2, n = b2[-2:]
        if k != k2:
            raise self.fail(node, f"inner dimensions differ: {sa} x {sb}")
        batch = tuple(np.broadcast_shapes(a2[:-2], b2[:-2]))
        st_a = broadcast_strides(a2[:-2], batch) if batch else []
        st_b = broadcast_strides(b2[:-2], batch) if batch else []
        st_a = [s * m * k for s in st_a]
        st_b = [s * k * n for s in st_b]
        self.emit(node, MATMUL, 0, [a, b], y, p=(m, k, n, k, n), shape=batch,
                  strides=(st_a, st_b))

    def op_Linear(self, node: ir.Node) -> None:
        x, w = node.inputs[:2]
        y = node.outputs[0]
        shape = self.t(x).shape
        k, n = self.t(w).shape
        m = math.prod(shape[:-1])
        bias = node.inputs[2] if len(node.inputs) > 2 and node.inputs[2] else ""
        tmp = y if not bias else self.graph.unique_name(y + "_nobias")
        if bias:
            self.graph.tensors[tmp] = ir.Tensor(tmp, (m, n), "float32")
        self.emit(node, MATMUL, 0, [x, w], tmp, p=(m, k, n, k, n))
        if bias:
            self.emit(node, BINARY, 0, [tmp, bias], y, p=(0,), shape=(m, n),
                      strides=([n, 1], [0, 1]))

    def op_DynQLinear(self, node: ir.Node) -> None:
        x, qw = node.inputs[:2]
        y = node.outputs[0]
        shape = self.t(x).shape
        n, k = self.t(qw).shape
        m = math.prod(shape[:-1])
        bias = self.opt_const(node, 3)
        packed = self.packed.get(qw)
        if packed is None:  # packed once per session, shared by the plans of every shape
            packed = dynq_pack(np.ascontiguousarray(self.const(node, 1, "weights")),
                               np.ascontiguousarray(self.const(node, 2, "scales"), np.float32))
            self.packed[qw] = packed
        bias = None if bias is None else np.ascontiguousarray(bias, np.float32)
        self.emit(node, DYNQ, 0, [x], y, p=(m, n, k, int(node.attrs.get("per_row", 1))),
                  consts=(packed, bias), scratch=dynq_scratch_size(m, k))

    def op_WOLinear(self, node: ir.Node) -> None:
        x = node.inputs[0]
        y = node.outputs[0]
        shape = self.t(x).shape
        k = shape[-1]
        bits, group = int(node.attrs["bits"]), int(node.attrs["group"])
        q = np.ascontiguousarray(self.const(node, 1, "weights"))
        scales = np.ascontiguousarray(self.const(node, 2, "scales"), np.float32)
        n = q.shape[0]
        if k % group or scales.shape != (n, k // group) or \
                q.shape[1] != (k if bits == 8 else k // 2):
            raise self.fail(node, "weights / scales do not match k and the group size")
        bias = self.opt_const(node, 3)
        bias = None if bias is None else np.ascontiguousarray(bias, np.float32)
        self.emit(node, WO, 0, [x], y, p=(math.prod(shape[:-1]), k, n, bits, group),
                  consts=(q, scales, bias), scratch=wo_scratch_size(n, group))

    def op_WOGather(self, node: ir.Node) -> None:
        idx = node.inputs[2]
        y = node.outputs[0]
        bits, group = int(node.attrs["bits"]), int(node.attrs["group"])
        q = np.ascontiguousarray(self.const(node, 0, "table"))
        scales = np.ascontiguousarray(self.const(node, 1, "scales"), np.float32)
        rows = q.shape[0]
        cols = q.shape[1] * (2 if bits == 4 else 1)
        if scales.shape != (rows, cols // group) or self.t(idx).dtype != "int64":
            raise self.fail(node, "table / scales / int64 indices do not match")
        self.emit(node, WO_GATHER, 0, [idx], y,
                  p=(rows, cols, bits, group, math.prod(self.t(idx).shape)),
                  consts=(q, scales))

    def op_Gather(self, node: ir.Node) -> None:
        x, idx = node.inputs
        y = node.outputs[0]
        shape = self.t(x).shape
        axis = int(node.attrs.get("axis", 0)) % len(shape)
        if self.t(idx).dtype != "int64":
            arr = self.graph.const(idx)
            if arr is None:
                raise self.fail(node, "run-time indices must be int64")
            idx = self.graph.add_const(idx + "_i64", arr.astype(np.int64))
        elem = np.dtype(self.t(x).dtype).itemsize
        self.emit(node, GATHER, 0, [x, idx], y,
                  p=(math.prod(shape[:axis]), shape[axis], math.prod(shape[axis + 1:]), elem,
                     math.prod(self.t(idx).shape)))

    def copy(self, node: ir.Node, x: str, y: str, shape, sx, x_off=0, sy=None, y_off=0) -> None:
        shape = tuple(shape) if shape else (1,)
        sx = list(sx) if sx else [0]
        sy = list(sy) if sy is not None else contiguous_strides(shape)
        elem = np.dtype(self.t(x).dtype).itemsize
        self.emit(node, COPY, 0, [x], y, p=(elem, x_off, y_off), shape=shape, strides=(sx, sy))

    def op_Transpose(self, node: ir.Node) -> None:
        x, y = node.inputs[0], node.outputs[0]
        shape = self.t(x).shape
        perm = node.attrs.get("perm") or list(range(len(shape)))[::-1]
        st = contiguous_strides(shape)
        self.copy(node, x, y, [shape[p] for p in perm], [st[p] for p in perm])

    def op_Expand(self, node: ir.Node) -> None:
        x, y = node.inputs[0], node.outputs[0]
        out = self.t(y).shape
        self.copy(node, x, y, out, broadcast_strides(self.t(x).shape, out))

    def op_Slice(self, node: ir.Node) -> None:
        x, y = node.inputs[0], node.outputs[0]
        shape = self.t(x).shape
        sl = slice_spec(shape, self.const(node, 1, "starts"), self.const(node, 2, "ends"),
                        self.opt_const(node, 3), self.opt_const(node, 4))
        st = contiguous_strides(shape)
        spans = [s.indices(n) for s, n in zip(sl, shape)]  # (start, stop, step), clamped
        off = sum(start * st[d] for d, (start, _, _) in enumerate(spans))
        self.copy(node, x, y, self.t(y).shape, [st[d] * step for d, (_, _, step) in
                                                enumerate(spans)], off)

    def op_Concat(self, node: ir.Node) -> None:
        y = node.outputs[0]
        out = self.t(y).shape
        axis = int(node.attrs["axis"]) % len(out)
        sy = contiguous_strides(out)
        pos = 0
        for x in node.inputs:
            shp = self.t(x).shape
            self.copy(node, x, y, shp, contiguous_strides(shp), 0, sy, pos * sy[axis])
            pos += shp[axis]

    def op_Split(self, node: ir.Node) -> None:
        x = node.inputs[0]
        shape = self.t(x).shape
        axis = int(node.attrs.get("axis", 0)) % len(shape)
        st = contiguous_strides(shape)
        pos = 0
        for y in node.outputs:
            shp = self.t(y).shape
            self.copy(node, x, y, shp, st, pos * st[axis])
            pos += shp[axis]

    def op_Cast(self, node: ir.Node) -> None:
        x, y = node.inputs[0], node.outputs[0]
        fx, fy = self.t(x).dtype, self.t(y).dtype
        if fx not in TYPE_CODES or fy not in TYPE_CODES:
            raise self.fail(node, f"cast {fx} -> {fy} not supported")
        self.emit(node, CAST, 0, [x], y,
                  p=(math.prod(self.t(y).shape), TYPE_CODES[fx], TYPE_CODES[fy]))

    def op_Where(self, node: ir.Node) -> None:
        c, a, b = node.inputs
        y = node.outputs[0]
        out = self.t(y).shape or (1,)
        if self.t(a).dtype != self.t(b).dtype:
            raise self.fail(node, "branches must have one dtype")
        elem = np.dtype(self.t(a).dtype).itemsize
        self.emit(node, WHERE, 0, [c, a, b], y, p=(elem,), shape=out,
                  strides=tuple(broadcast_strides(self.t(t).shape, out) for t in (c, a, b)))


class FloatPlan:
    """A specialized graph as native op records. `run` is one native call; not thread safe
    (the arena belongs to the plan: DynamicSession locks around it)."""

    def __init__(self, graph: ir.Graph, packed: dict[str, np.ndarray] | None = None) -> None:
        """packed: a cache of packed dynamic-int8 weights by tensor name, shared between the
        plans one session builds for different shapes (filled here)."""
        low = _Lowering(graph, packed if packed is not None else {})
        for node in graph.nodes:
            low.lower(node)
        self.graph = graph
        self.records = low.records
        self.alias = low.alias
        roots = {low.root(n) for n in graph.tensors}
        inputs = [low.root(n) for n in graph.inputs]
        used = {n for r in self.records for n in r.inputs} | roots & {
            low.root(o) for o in graph.outputs}
        consts = {n for n in used if graph.tensors.get(n) is not None and
                  graph.tensors[n].is_const}
        self.slots: dict[str, int] = {}
        for name in inputs:
            self.slots.setdefault(name, len(self.slots))
        for name in sorted(consts):
            self.slots.setdefault(name, len(self.slots))
        arena_names = {n for r in self.records for n in (*r.inputs, r.output)} - set(self.slots)
        arena_names |= {low.root(o) for o in graph.outputs} - set(self.slots)
        sizes = {n: self._nbytes(n) for n in arena_names}
        calls = [Call("", r.inputs, [r.output]) for r in self.records]
        lives = liveness(calls, arena_names)
        end = max(len(calls) - 1, 0)
        for o in {low.root(o) for o in graph.outputs} & arena_names:
            # outputs are copied out after the run: they stay live to the end
            lives[o] = Interval(lives[o].first if o in lives else 0, end)
        offsets, self.arena_bytes = assign_offsets(sizes, lives)
        self.arena = _aligned_bytes(max(self.arena_bytes, 64))
        self.scratch = _aligned_bytes(max([r.scratch for r in self.records] + [64]))
        self.buffers: list[np.ndarray | None] = [None] * (len(self.slots) + len(arena_names))
        for name in sorted(consts):
            self.buffers[self.slots[name]] = np.ascontiguousarray(graph.tensors[name].data)
        for name in sorted(arena_names):
            self.slots[name] = len(self.slots)
            off = offsets[name]
            self.buffers[self.slots[name]] = self.arena[off:off + sizes[name]]
        self.native = _FloatPlan()
        for r in self.records:
            self.native.add(r.kind, r.op, [self.slots[i] for i in r.inputs],
                            self.slots[r.output], r.p, r.f, r.shape, r.strides, r.consts)
        self.input_slots = [self.slots[n] for n in inputs]
        self.output_views = [(self.slots[low.root(o)], graph.tensor(o)) for o in graph.outputs]

    def _nbytes(self, name: str) -> int:
        t = self.graph.tensor(name)
        return max(math.prod(t.shape) * np.dtype(t.dtype).itemsize, 1)

    def run(self, inputs: list[np.ndarray], profile: bool = False):
        bufs = list(self.buffers)
        for slot, name, arr in zip(self.input_slots, self.graph.inputs, inputs):
            t = self.graph.tensor(name)
            want = np.dtype(t.dtype)
            if arr.shape != t.shape:
                raise ValueError(f"input {name!r}: shape {arr.shape}, plan built for {t.shape}")
            bufs[slot] = np.ascontiguousarray(arr, want)
        res = self.native.run(bufs, self.scratch, profile)
        bad, ns = res if profile else (res, None)
        if bad >= 0:
            r = self.records[bad]
            raise ValueError(f"{KIND_NAMES[r.kind]} (node {r.node!r}) refused its input: "
                             "an index out of range")
        outs = [np.frombuffer(bufs[slot], np.dtype(t.dtype), math.prod(t.shape))
                .reshape(t.shape).copy() for slot, t in self.output_views]
        if profile:
            return outs, [(r.node, KIND_NAMES[r.kind], int(v)) for r, v in zip(self.records, ns)]
        return outs
