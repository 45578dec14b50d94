"""Lowering of a specialized onnx-layout graph (int8rt/dynamic/specialize.py) to a Program
(int8rt/program.py) of float32, dynamic-int8 and weight-only kernel calls: the same Program the
static lowering produces, run by the same native plan (int8rt/plan.py, csrc/plan/plan.c).

Reshape-like ops (Reshape, Flatten, Unsqueeze, Squeeze, Identity, Dropout) alias their input, so
they cost nothing. Every constant the calls read is *borrowed* by the plan (Program.borrowed):
weights stay where the session keeps them (packed dynamic-int8 panels are packed once per
session, in `packed`), so the plans of all the input shapes one session sees share one copy.
Shapes and strides are computed here, once per shape; the C plan checks every footprint.
"""

from __future__ import annotations

import math
from collections.abc import Container
from dataclasses import dataclass, field

import numpy as np

from .. import ir, opset
from .._native import _aligned_bytes, dynq_pack, rnn_pack, w4_pack
from ..program import Buffer, Call, Program
from ..reference.onnx_ops import slice_spec

# f32_binary codes (csrc/include/int8rt/f32.h): the arithmetic ops as opset.py declares them,
# comparisons and logic (uint8 0 / 1 outputs)
BINARY_OPS = {**{op: opset.OPS[op].f32_code for op in opset.BINARY_OPS},
              "Equal": 16, "Less": 17, "Greater": 18, "LessOrEqual": 19, "GreaterOrEqual": 20,
              "And": 32, "Or": 33, "Xor": 34}
UNARY_OPS = {"Relu": 0, "Sigmoid": 1, "Tanh": 2, "Erf": 3, "Sqrt": 4, "Exp": 7, "Neg": 8,
             "Clip": 9, "Reciprocal": 10, "Abs": 11, "Not": 12, "Log": 13}
GELU_ERF, GELU_TANH = 5, 6
# csrc/include/int8rt/f32.h I8_F32_T_*
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


def aligned(arr: np.ndarray) -> np.ndarray:
    """`arr` itself when C-contiguous and 64-byte aligned (what the plan borrows), else a copy
    that is."""
    arr = np.asarray(arr)
    if arr.flags.c_contiguous and arr.ctypes.data % 64 == 0:
        return arr
    out = _aligned_bytes(max(arr.nbytes, 1))[:arr.nbytes].view(arr.dtype).reshape(arr.shape)
    out[...] = arr
    return out


@dataclass
class _Lowering:
    graph: ir.Graph
    packed: dict[str, np.ndarray] = field(default_factory=dict)  # weight name -> gemm panel
    calls: list[Call] = field(default_factory=list)
    alias: dict[str, str] = field(default_factory=dict)
    extra: dict[str, np.ndarray] = field(default_factory=dict)  # constants made here
    taken: Container[str] = ()  # names temporaries must avoid besides the graph's

    def t(self, name: str) -> ir.Tensor:
        return self.graph.tensor(name)

    def root(self, name: str) -> str:
        while name in self.alias:
            name = self.alias[name]
        return name

    def emit(self, node: ir.Node, kernel: str, ins: list[str], out: str,
             consts: dict[str, np.ndarray] | None = None, **params) -> None:
        for key in ("shape", "batch"):
            v = params.get(key, ())
            if isinstance(v, (list, tuple)) and len(v) > MAXDIM:
                raise self.fail(node, f"rank {len(params[key])} > {MAXDIM}")
        self.calls.append(Call(kernel, [self.root(i) for i in ins], [self.root(out)],
                               params, dict(consts or {}), node.name))

    def const_input(self, name: str, arr: np.ndarray) -> str:
        """A constant made by the lowering (packed weights), read as a call input."""
        self.extra[name] = arr
        return name

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
        self.emit(node, "f32_binary", [a, b], y, op=code, type=TYPE_CODES[ta.dtype],
                  shape=list(shape), a_stride=sa, b_stride=sb)

    def unary(self, node: ir.Node) -> None:
        x, y = node.inputs[0], node.outputs[0]
        n = math.prod(self.t(y).shape)
        lo, hi = -np.inf, np.inf
        if node.op == "Gelu":
            code = GELU_TANH if node.attrs.get("approximate", "none") == "tanh" else GELU_ERF
        else:
            code = UNARY_OPS[node.op]
        if node.op == "Clip" and any(
                k < len(node.inputs) and node.inputs[k] and self.graph.const(node.inputs[k])
                is None for k in (1, 2)):
            return self.clip_tensors(node)
        if node.op == "Clip":
            mn, mx = self.opt_const(node, 1), self.opt_const(node, 2)
            lo = float(mn) if mn is not None else float(node.attrs.get("min", -np.inf))
            hi = float(mx) if mx is not None else float(node.attrs.get("max", np.inf))
        want = "bool" if node.op == "Not" else "float32"
        if self.t(x).dtype != want:
            raise self.fail(node, f"input dtype {self.t(x).dtype}, kernel takes {want}")
        self.emit(node, "f32_unary", [x], y, op=code, n=n, alpha=lo, beta=hi)

    def clip_tensors(self, node: ir.Node) -> None:
        """Clip whose min / max are run-time tensors: Max(x, min) then Min(., max), each with
        numpy broadcasting of the (scalar) bound."""
        x, y = node.inputs[0], node.outputs[0]
        shape = self.t(x).shape or (1,)
        cur = x
        bounds = [(k, code) for k, code in ((1, BINARY_OPS["Max"]), (2, BINARY_OPS["Min"]))
                  if k < len(node.inputs) and node.inputs[k]]
        for j, (k, code) in enumerate(bounds):
            b = node.inputs[k]
            if self.t(b).dtype != "float32" or math.prod(self.t(b).shape) != 1:
                raise self.fail(node, "min / max must be float32 scalars")
            out = y if j == len(bounds) - 1 else self.temp(y + "_lo", self.t(x).shape)
            self.emit(node, "f32_binary", [cur, b], out, op=code, type=0, shape=list(shape),
                      a_stride=contiguous_strides(shape), b_stride=[0] * len(shape))
            cur = out

    def op_LayerNormalization(self, node: ir.Node, add: ir.Node | None = None) -> None:
        """`add`: an Add of two same-shape float32 tensors read only by this node, fused in
        (the record adds them first, then normalizes: find_residual_layernorm)."""
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
        consts = {"gamma": gamma} if beta is None else {"gamma": gamma, "beta": beta}
        ins = list(add.inputs) if add is not None else [x]
        self.emit(node, "layernorm", ins, y, consts, rows=math.prod(shape) // cols, cols=cols,
                  eps=float(node.attrs.get("epsilon", 1e-5)), has_beta=int(beta is not None),
                  has_residual=int(add is not None))

    def op_Softmax(self, node: ir.Node) -> None:
        x, y = node.inputs[0], node.outputs[0]
        shape = self.t(x).shape
        axis = int(node.attrs.get("axis", -1))
        if axis not in (-1, len(shape) - 1):
            raise self.fail(node, "softmax over the last axis only")
        self.emit(node, "f32_softmax", [x], y, rows=math.prod(shape) // shape[-1],
                  cols=shape[-1])

    def temp(self, base: str, shape: tuple[int, ...], dtype: str = "float32") -> str:
        name = ir.fresh_name(base, self.graph.tensors, {n.name for n in self.graph.nodes},
                             self.taken)
        self.graph.tensors[name] = ir.Tensor(name, tuple(shape), dtype)
        return name

    def _reduce(self, node: ir.Node, code: int, x: str | None = None, y: str | None = None,
                pre: int | None = None) -> None:
        """reduce `x` (default: the node's input) into `y` over the node's axes; `pre`: an
        elementwise step first (-1: x * x, else a unary op code: Abs for L1)."""
        x = x or node.inputs[0]
        y = y or node.outputs[0]
        shape = self.t(x).shape
        if self.t(x).dtype != "float32":
            raise self.fail(node, "float32 input only")
        axes = node.attrs.get("axes")
        if node.op == "LpNormalization":
            axes = [int(node.attrs.get("axis", -1))]
        elif axes is None and len(node.inputs) > 1 and node.inputs[1]:
            axes = self.const(node, 1, "axes")
        axes = sorted({int(a) % len(shape) for a in np.atleast_1d(axes)}) if axes is not None \
            else list(range(len(shape)))
        if axes != list(range(axes[0], axes[-1] + 1)):
            raise self.fail(node, f"reduces contiguous axes only, not {axes}")
        outer = math.prod(shape[:axes[0]])
        r = math.prod(shape[axes[0]:axes[-1] + 1])
        inner = math.prod(shape[axes[-1] + 1:])
        if pre is not None:
            sq = self.temp(x + "_pre", shape)
            if pre < 0:
                st = contiguous_strides(shape) if shape else [0]
                self.emit(node, "f32_binary", [x, x], sq, op=2, type=0,
                          shape=list(shape or (1,)), a_stride=st, b_stride=st)
            else:
                self.emit(node, "f32_unary", [x], sq, op=pre, n=math.prod(shape),
                          alpha=-np.inf, beta=np.inf)
            x = sq
        self.emit(node, "reduce", [x], y, op=code, outer=outer, r=r, inner=inner)

    def op_ReduceSum(self, node):
        self._reduce(node, 0)

    def op_ReduceMean(self, node):
        self._reduce(node, 1)

    def op_ReduceMax(self, node):
        self._reduce(node, 2)

    def op_ReduceSumSquare(self, node):
        self._reduce(node, 0, pre=-1)

    def op_ReduceL1(self, node):
        self._reduce(node, 0, pre=UNARY_OPS["Abs"])

    def op_ReduceL2(self, node):
        y = node.outputs[0]
        tmp = self.temp(y + "_sumsq", self.t(y).shape)
        self._reduce(node, 0, y=tmp, pre=-1)
        self.emit(node, "f32_unary", [tmp], y, op=UNARY_OPS["Sqrt"], n=math.prod(self.t(y).shape),
                  alpha=-np.inf, beta=np.inf)

    def op_LpNormalization(self, node):
        """x / ||x||_p over `axis` (p 1 or 2), as ONNX: no epsilon."""
        x, y = node.inputs[0], node.outputs[0]
        shape = self.t(x).shape
        p = int(node.attrs.get("p", 2))
        if p not in (1, 2):
            raise self.fail(node, f"p = {p}: only 1 and 2")
        axis = int(node.attrs.get("axis", -1)) % len(shape)
        kshape = tuple(1 if d == axis else n for d, n in enumerate(shape))
        norm = self.temp(y + "_norm", kshape)
        if p == 1:
            self._reduce(node, 0, y=norm, pre=UNARY_OPS["Abs"])
        else:
            s2 = self.temp(y + "_sumsq", kshape)
            self._reduce(node, 0, y=s2, pre=-1)
            self.emit(node, "f32_unary", [s2], norm, op=UNARY_OPS["Sqrt"],
                      n=math.prod(kshape), alpha=-np.inf, beta=np.inf)
        self.emit(node, "f32_binary", [x, norm], y, op=BINARY_OPS["Div"], type=0,
                  shape=list(shape), a_stride=contiguous_strides(shape),
                  b_stride=broadcast_strides(kshape, shape))

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
        self.emit(node, "matmul", [a, b], y, m=m, k=k, n=n, lda=k, ldb=n, batch=list(batch),
                  a_stride=st_a, b_stride=st_b)

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
        self.emit(node, "matmul", [x, w], tmp, m=m, k=k, n=n, lda=k, ldb=n, batch=[],
                  a_stride=[], b_stride=[])
        if bias:
            self.emit(node, "f32_binary", [tmp, bias], y, op=0, type=0, shape=[m, n],
                      a_stride=[n, 1], b_stride=[0, 1])

    def op_DynQLinear(self, node: ir.Node, gelu: ir.Node | None = None) -> None:
        """`gelu`: an erf Gelu reading only this node's output, fused into the record's
        epilogue (find_dynq_gelu): the record writes the Gelu's output."""
        x, qw = node.inputs[:2]
        y = node.outputs[0] if gelu is None else gelu.outputs[0]
        shape = self.t(x).shape
        n, k = self.t(qw).shape
        m = math.prod(shape[:-1])
        bias = self.opt_const(node, 3)
        packed = self.packed.get(qw)
        if packed is None:  # packed once per session, shared by the plans of every shape
            packed = dynq_pack(np.ascontiguousarray(self.const(node, 1, "weights")),
                               np.ascontiguousarray(self.const(node, 2, "scales"), np.float32))
            self.packed[qw] = packed
        name = self.const_input(qw + "::packed", packed)
        consts = {} if bias is None else {"bias": np.ascontiguousarray(bias, np.float32)}
        self.emit(node, "dynq_matmul", [x, name], y, consts, m=m, n=n, k=k,
                  per_row=int(node.attrs.get("per_row", 1)), has_bias=int(bias is not None),
                  act=int(gelu is not None))

    def op_LSTM(self, node: ir.Node) -> None:
        raise self.fail(node, "float LSTM / GRU have no native kernel: quantize with "
                        'mode="dynamic" (or "weight_only"), which runs them as dynamic int8 '
                        "layers, or check that W and R are constant")

    op_GRU = op_LSTM

    def op_Conv(self, node: ir.Node) -> None:
        raise self.fail(node, "float Conv has no kernel in ONNX layout: quantize with "
                        'mode="dynamic" (dynamic int8 activations) or mode="static" with '
                        "calibration data (calibrated int8 activations)")

    def op_DynQConv(self, node: ir.Node) -> None:
        """One `dq_conv` record: int8 weights per output channel, activations quantized
        with the calibrated range (attribute amax > 0) or per image (csrc/include/int8rt/
        dqconv.h)."""
        from ..reference.dqconv import conv_geometry

        x, qw = node.inputs[:2]
        y = node.outputs[0]
        if self.t(x).dtype != "float32":
            raise self.fail(node, "float32 input only")
        w = self.const(node, 1, "weights")
        try:
            g = conv_geometry(self.t(x).shape, w.shape, node.attrs, f" (node {node.name!r})")
        except ValueError as e:
            raise LoweringError(str(e)) from None
        packed = self.packed.get(qw)
        if packed is None:
            packed = dynq_pack(dqconv_weight_rows(w),
                               np.ascontiguousarray(self.const(node, 2, "scales"), np.float32))
            self.packed[qw] = packed
        bias = self.opt_const(node, 3)
        consts = {} if bias is None else {"bias": np.ascontiguousarray(bias, np.float32)
                                          .reshape(-1)}
        params = {key: g[key] for key in ("n", "c", "h", "w", "m", "kh", "kw", "oh", "ow",
                                           "stride_h", "stride_w", "dil_h", "dil_w", "pad_t",
                                           "pad_l")}
        self.emit(node, "dq_conv", [x, self.const_input(qw + "::packed", packed)], y, consts,
                  **params, has_bias=int(bias is not None),
                  amax=float(node.attrs.get("amax", 0.0)))

    def op_MaxPool(self, node: ir.Node) -> None:
        """One `f32_maxpool` record (kernels/f32/pool.c): NCHW float32, padded taps skipped
        as ONNX's -inf padding."""
        from ..reference.dqconv import pool_geometry

        x, y = node.inputs[0], node.outputs[0]
        if len(node.outputs) > 1 and node.outputs[1]:
            raise self.fail(node, "the Indices output is not supported")
        if self.t(x).dtype != "float32":
            raise self.fail(node, "float32 input only")
        try:
            g = pool_geometry(self.t(x).shape, node.attrs, f" (node {node.name!r})")
        except ValueError as e:
            raise LoweringError(str(e)) from None
        self.emit(node, "f32_maxpool", [x], y, **{key: g[key] for key in (
            "n", "c", "h", "w", "oh", "ow", "kh", "kw", "stride_h", "stride_w", "dil_h", "dil_w",
            "pad_t", "pad_l")})

    def op_DynQLSTM(self, node: ir.Node) -> None:
        """One `rnn` record (the kernel loops over the steps), then copies of its packed
        output [Y | Y_h | Y_c] to the outputs the graph uses."""
        x = node.inputs[0]
        if self.t(x).dtype != "float32" or len(self.t(x).shape) != 3:
            raise self.fail(node, "X must be float32 [seq, batch, input] (layout 0)")
        try:
            params = _rnn_params(self.graph, node, self.t(x).shape)
        except ValueError as e:
            raise LoweringError(str(e)) from None
        t, b, hsz, dirs = params["seq"], params["batch"], params["hidden"], params["dirs"]
        g = 4 if params["cell"] == 0 else 3
        ins = list(node.inputs) + [""] * (9 - len(node.inputs))
        qw = ins[1]
        if self.const(node, 1, "W")[0].shape != (g * hsz, params["input"]):
            raise self.fail(node, "W does not match hidden_size and X")
        blob = self.packed.get(qw)
        if blob is None:
            blob = _rnn_blob(self.graph, node, params)
            self.packed[qw] = blob
        bias = np.ascontiguousarray(self.const(node, 5, "B"), np.float32)
        if bias.shape != (dirs, 2 * g * hsz):
            raise self.fail(node, f"B must be [{dirs}, {2 * g * hsz}]")
        consts = {"bias": bias}
        if params["has_lens"]:
            lens = np.asarray(self.const(node, 6, "sequence_lens"))
            if lens.shape != (b,) or lens.min() < 1 or lens.max() > t:
                raise self.fail(node, f"sequence_lens must be [{b}] values in [1, {t}]")
            consts["lens"] = lens.astype(np.int32)
        state = (dirs, b, hsz)
        inits = [n for n, flag in ((ins[7], "has_h0"), (ins[8], "has_c0")) if params[flag]]
        for n in inits:
            if self.t(n).dtype != "float32" or tuple(self.t(n).shape) != state:
                raise self.fail(node, f"initial states must be float32 {list(state)}")
        call_ins = [x, self.const_input(qw + "::rnn_packed", blob)]
        if len(inits) == 1:
            call_ins.append(inits[0])
        elif len(inits) == 2:
            both = self.temp(node.name + "_init", (2, *state))
            n_state = math.prod(state)
            for k, n in enumerate(inits):
                self.copy(node, n, both, (n_state,), [1], 0, [1], k * n_state)
            call_ins.append(both)
        n_y = t * dirs * b * hsz
        n_s = dirs * b * hsz
        total = n_y + (2 if g == 4 else 1) * n_s
        raw = self.temp(node.name + "_out", (total,))
        self.emit(node, "rnn", call_ins, raw, consts, **params)
        for k, (out, off, n) in enumerate(zip(node.outputs, (0, n_y, n_y + n_s),
                                              (n_y, n_s, n_s))):
            if out and k < (3 if g == 4 else 2):
                self.copy(node, raw, out, (n,), [1], off)

    op_DynQGRU = op_DynQLSTM

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
        consts = {} if bias is None else {"bias": np.ascontiguousarray(bias, np.float32)}
        if bits == 4:
            # W4A8: the int4 codes, zero points and scales packed once per session into the
            # micro-kernels' blocks (int8rt/dynq.h i8_w4_pack)
            if group % 8:
                raise self.fail(node, f"int4 groups must be a multiple of 8, not {group}")
            packed = self.packed.get(node.inputs[1])
            if packed is None:
                packed = _w4_blob(self.graph, node)
                self.packed[node.inputs[1]] = packed
            name = self.const_input(node.inputs[1] + "::w4_packed", packed)
            self.emit(node, "wo_matmul", [x, name], y, consts, m=math.prod(shape[:-1]), k=k,
                      n=n, bits=bits, group=group, has_bias=int(bias is not None))
            return
        self.emit(node, "wo_matmul", [x, node.inputs[1], node.inputs[2]], y, consts,
                  m=math.prod(shape[:-1]), k=k, n=n, bits=bits, group=group,
                  has_bias=int(bias is not None))

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
        self.emit(node, "wo_gather", [idx, node.inputs[0], node.inputs[1]], y, rows=rows,
                  cols=cols, bits=bits, group=group, nidx=math.prod(self.t(idx).shape))

    def attention(self, last: ir.Node, a: AttentionMatch) -> None:
        """One `attention` record for MatMul(q, kt) -> Mul / Div(scale) [-> Add(mask)] ->
        Softmax -> MatMul(., v) (find_attention)."""
        b, h, lq, dh = self.t(a.q).shape
        lk = self.t(a.kt).shape[3]
        ins = [a.q_src, a.kt_src, a.v_src]
        ms = [0, 0, 0, 0]
        if a.mask:
            ins.append(a.mask)
            ms = broadcast_strides(self.t(a.mask).shape, (b, h, lq, lk))
        self.emit(last, "attention", ins, a.y, batch=b, heads=h, lq=lq, lk=lk,
                  dh=dh, scale=a.scale, divide=int(a.divide), has_mask=int(bool(a.mask)),
                  mask_stride=ms, q_stride=a.q_stride, k_stride=a.k_stride,
                  v_stride=a.v_stride, y_stride=a.y_stride)

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
        self.emit(node, "gather", [x, idx], y, outer=math.prod(shape[:axis]), axis=shape[axis],
                  inner=math.prod(shape[axis + 1:]), nidx=math.prod(self.t(idx).shape))

    def copy(self, node: ir.Node, x: str, y: str, shape, sx, x_off=0, sy=None, y_off=0) -> None:
        shape = tuple(shape) if shape else (1,)
        sx = list(sx) if sx else [0]
        sy = list(sy) if sy is not None else contiguous_strides(shape)
        self.emit(node, "strided_copy", [x], y, shape=list(shape), x_offset=x_off,
                  y_offset=y_off, x_stride=sx, y_stride=sy)

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
        self.emit(node, "cast", [x], y, n=math.prod(self.t(y).shape), **{
            "from": TYPE_CODES[fx], "to": TYPE_CODES[fy]})

    def op_Where(self, node: ir.Node) -> None:
        c, a, b = node.inputs
        y = node.outputs[0]
        out = self.t(y).shape or (1,)
        if self.t(a).dtype != self.t(b).dtype:
            raise self.fail(node, "branches must have one dtype")
        sc, sa, sb = (broadcast_strides(self.t(t).shape, out) for t in (c, a, b))
        self.emit(node, "where", [c, a, b], y, shape=list(out), c_stride=sc, a_stride=sa,
                  b_stride=sb)


_RNN_CELLS = {"DynQLSTM": 0, "DynQGRU": 1}


def dqconv_weight_rows(w: np.ndarray) -> np.ndarray:
    """ONNX Conv weights [M, C, KH, KW] as the dq_conv record's rows [M, KH·KW·C]: the kernel's
    im2col columns run (ky, kx, ci) so that each tap copies C contiguous bytes of its NHWC
    image (csrc/include/int8rt/dqconv.h). The int32 dot products do not depend on the order."""
    return np.ascontiguousarray(w.transpose(0, 2, 3, 1).reshape(w.shape[0], -1))


def _rnn_params(graph: ir.Graph, node: ir.Node, x_shape: tuple[int, ...]) -> dict:
    from ..reference.rnn import _attrs

    cell = "LSTM" if node.op == "DynQLSTM" else "GRU"
    hsz, dirs, rev, lbr = _attrs(cell, node.attrs, f" (node {node.name!r})")
    t, b, i = x_shape
    ins = list(node.inputs) + [""] * (9 - len(node.inputs))
    return {"seq": t, "batch": b, "input": i, "hidden": hsz, "cell": _RNN_CELLS[node.op],
            "dirs": dirs, "reverse": int(rev), "linear_before_reset": int(lbr),
            "has_h0": int(bool(ins[7])), "has_c0": int(bool(ins[8]) and cell == "LSTM"),
            "has_lens": int(bool(ins[6]))}


def _rnn_blob(graph: ir.Graph, node: ir.Node, params: dict) -> np.ndarray:
    qw, sw, qr, sr = (np.ascontiguousarray(graph.const(n)) for n in node.inputs[1:5])
    return rnn_pack(params, qw, np.ascontiguousarray(sw, np.float32), qr,
                    np.ascontiguousarray(sr, np.float32))


def _w4_blob(graph: ir.Graph, node: ir.Node) -> np.ndarray:
    """The W4A8 blocks of a WOLinear (bits 4): inputs x, q, scales[, bias][, zero_points]."""
    zp = graph.const(node.inputs[4]) if len(node.inputs) > 4 and node.inputs[4] else None
    q = np.ascontiguousarray(graph.const(node.inputs[1]))
    s = np.ascontiguousarray(graph.const(node.inputs[2]), np.float32)
    try:
        return w4_pack(q, s, int(node.attrs["group"]),
                       None if zp is None else np.ascontiguousarray(zp, np.uint8))
    except ValueError as e:
        raise LoweringError(f"node {node.name!r} (WOLinear): {e}") from None


def pack_weights(graph: ir.Graph, packed: dict[str, np.ndarray]) -> None:
    """Packs every dynamic-int8 weight of `graph` into `packed` (by tensor name): a session
    does it once, at load, for the plans of all its input shapes."""
    for node in graph.nodes:
        if node.op in _RNN_CELLS and node.inputs[1] not in packed and \
                all(graph.const(n) is not None for n in node.inputs[1:5]):
            # the panels do not depend on the sequence length or batch: pack for any shape
            qw = graph.const(node.inputs[1])
            packed[node.inputs[1]] = _rnn_blob(graph, node, _rnn_params(
                graph, node, (1, 1, qw.shape[2])))
        if node.op == "DynQConv" and node.inputs[1] not in packed:
            w, s = graph.const(node.inputs[1]), graph.const(node.inputs[2])
            if w is not None and s is not None and w.ndim == 4:
                packed[node.inputs[1]] = dynq_pack(dqconv_weight_rows(w),
                                                   np.ascontiguousarray(s, np.float32))
        if node.op == "WOLinear" and int(node.attrs.get("bits", 8)) == 4 and \
                node.inputs[1] not in packed and int(node.attrs.get("group", 0)) % 8 == 0 and \
                all(graph.const(n) is not None for n in node.inputs[1:3]):
            packed[node.inputs[1]] = _w4_blob(graph, node)
        if node.op == "DynQLinear" and node.inputs[1] not in packed:
            w, s = graph.const(node.inputs[1]), graph.const(node.inputs[2])
            if w is not None and s is not None and w.ndim == 2:
                packed[node.inputs[1]] = dynq_pack(np.ascontiguousarray(w),
                                                   np.ascontiguousarray(s, np.float32))


@dataclass
class AttentionMatch:
    q: str
    kt: str
    v: str
    mask: str  # "" when the scores get no additive mask
    scale: float
    divide: bool
    # the buffers the record reads / writes and their element strides over (b, h, row, col):
    # a head Transpose read only by the chain is skipped and its input read in place
    q_src: str = ""
    kt_src: str = ""
    v_src: str = ""
    y: str = ""
    q_stride: list = field(default_factory=list)
    k_stride: list = field(default_factory=list)
    v_stride: list = field(default_factory=list)
    y_stride: list = field(default_factory=list)


MAX_ATTENTION_KEYS = 512  # the score tile is I8_F32_ATT_ROWS x lk floats


def find_attention(graph: ir.Graph) -> dict[str, AttentionMatch | None]:
    """Scaled-dot-product attention chains of a specialized graph, to run as one fused
    record: S = MatMul(q, kt) with q [B, H, Lq, D], kt [B, H, D, Lk] (same B, H), S * c or
    S / c (c a constant scalar), optionally + a float32 mask broadcastable to S, Softmax on
    the last axis, MatMul(P, v) with v [B, H, Lk, D]; every intermediate read only by the next
    node of the chain and not a graph output. Returns node name -> the match (for the chain's
    last MatMul, where the record is emitted) or None (the other nodes, skipped)."""
    prod = graph.producers()
    users = graph.consumers()
    outs = set(graph.outputs)
    found: dict[str, AttentionMatch | None] = {}

    def only_user(name: str, node: ir.Node) -> bool:
        return name not in outs and [u.name for u in users.get(name, [])] == [node.name]

    def shape(name: str) -> tuple[int, ...]:
        return tuple(graph.tensor(name).shape)

    for sm in graph.nodes:
        if sm.op != "Softmax" or len(shape(sm.inputs[0])) != 4:
            continue
        if int(sm.attrs.get("axis", -1)) not in (-1, 3):
            continue
        pv = users.get(sm.outputs[0], [])
        if len(pv) != 1 or pv[0].op != "MatMul" or pv[0].inputs[0] != sm.outputs[0] or \
                not only_user(sm.outputs[0], pv[0]):
            continue
        pv = pv[0]
        node = prod.get(sm.inputs[0])
        mask = ""
        chain = [sm]
        if node is not None and node.op == "Add" and only_user(node.outputs[0], sm):
            a, b = node.inputs
            pa = prod.get(a)
            scores_in, mask = (a, b) if pa is not None and pa.op in ("Mul", "Div") else (b, a)
            if graph.tensor(mask).dtype != "float32":
                continue
            chain.append(node)
            node = prod.get(scores_in)
            if node is None or not only_user(scores_in, chain[-1]):
                continue
        if node is None or node.op not in ("Mul", "Div"):
            continue
        scaled = node
        c_name = scaled.inputs[1]
        s_name = scaled.inputs[0]
        if graph.const(c_name) is None and scaled.op == "Mul":
            s_name, c_name = c_name, s_name
        c = graph.const(c_name)
        if c is None or np.asarray(c).size != 1 or graph.tensor(c_name).dtype != "float32":
            continue
        c = float(np.asarray(c, np.float32).reshape(()))
        if not math.isfinite(c) or c == 0.0:
            continue
        qk = prod.get(s_name)
        if qk is None or qk.op != "MatMul" or not only_user(s_name, scaled) or \
                not only_user(scaled.outputs[0], chain[-1]):
            continue
        q, kt = qk.inputs
        v = pv.inputs[1]
        if any(graph.tensor(t).dtype != "float32" for t in (q, kt, v)):
            continue
        sq, sk, sv, ss = shape(q), shape(kt), shape(v), shape(sm.inputs[0])
        if len(sq) != 4 or len(sk) != 4 or len(sv) != 4:
            continue
        bsz, heads, lq, d = sq
        lk = sk[3]
        if sk != (bsz, heads, d, lk) or sv != (bsz, heads, lk, d) or \
                ss != (bsz, heads, lq, lk) or lk > MAX_ATTENTION_KEYS:
            continue
        if mask:
            ms = shape(mask)
            try:
                if tuple(np.broadcast_shapes(ms, ss)) != ss or len(ms) > 4:
                    continue
            except ValueError:
                continue
        m = AttentionMatch(q, kt, v, mask, c, scaled.op == "Div")
        skipped = []
        for role, name, reader, need in (("q", q, qk, 3), ("kt", kt, qk, None),
                                         ("v", v, pv, 3)):
            src, st, tr = _through_transpose(graph, prod, name, reader, only_user)
            ok = tr is not None and (st[3] == 1 if need else (st[3] == 1 or st[2] == 1))
            if not ok:
                src, st, tr = name, contiguous_strides(shape(name)), None
            setattr(m, role + "_src", src)
            setattr(m, {"q": "q_stride", "kt": "k_stride", "v": "v_stride"}[role], st)
            if tr is not None:
                skipped.append(tr)
        m.y, m.y_stride = pv.outputs[0], contiguous_strides(shape(pv.outputs[0]))
        after = users.get(pv.outputs[0], [])
        if len(after) == 1 and after[0].op == "Transpose" and \
                list(after[0].attrs.get("perm", [])) == [0, 2, 1, 3] and \
                only_user(pv.outputs[0], after[0]):
            # write [b, lq, h, dh] directly: the Transpose's output, strides of its layout
            z = contiguous_strides(shape(after[0].outputs[0]))  # over (b, i, h, d)
            m.y, m.y_stride = after[0].outputs[0], [z[0], z[2], z[1], z[3]]
            skipped.append(after[0])
        for n in (qk, scaled, *chain, *skipped):
            found[n.name] = None
        found[pv.name] = m
    return found


def _through_transpose(graph: ir.Graph, prod: dict, name: str, reader: ir.Node, only_user
                       ) -> tuple[str, list[int], ir.Node | None]:
    """When `name` is the output of a Transpose read only by `reader`: (its input, the
    element strides over `name`'s axes that read the input in place, the Transpose)."""
    tr = prod.get(name)
    if tr is None or tr.op != "Transpose" or not only_user(name, reader):
        return name, [], None
    src = tr.inputs[0]
    sshape = tuple(graph.tensor(src).shape)
    perm = tr.attrs.get("perm") or list(range(len(sshape)))[::-1]
    if len(sshape) != 4 or graph.const(src) is not None:
        return name, [], None
    st = contiguous_strides(sshape)
    return src, [st[p] for p in perm], tr


def find_dynq_gelu(graph: ir.Graph) -> dict[str, ir.Node | None]:
    """DynQLinear -> Gelu (erf form) where the Gelu is the only reader of the matmul's
    output: node name -> the Gelu (for the DynQLinear, whose record applies it per row block)
    or None (the Gelu, skipped)."""
    users = graph.consumers()
    found: dict[str, ir.Node | None] = {}
    for node in graph.nodes:
        if node.op != "DynQLinear" or node.outputs[0] in graph.outputs:
            continue
        readers = users.get(node.outputs[0], [])
        if len(readers) != 1 or readers[0].op != "Gelu" or \
                readers[0].attrs.get("approximate", "none") == "tanh":
            continue
        found[node.name] = readers[0]
        found[readers[0].name] = None
    return found


def find_residual_layernorm(graph: ir.Graph) -> dict[str, ir.Node | None]:
    """Add(a, b) -> LayerNormalization (last axis) where a and b are float32 of the same
    shape and the sum is read by the layer norm only (a transformer's residual connection):
    node name -> the Add (for the layer norm, which emits one record with both inputs) or
    None (the Add, skipped)."""
    prod = graph.producers()
    users = graph.consumers()
    found: dict[str, ir.Node | None] = {}
    for ln in graph.nodes:
        if ln.op != "LayerNormalization" or not ln.inputs:
            continue
        x = ln.inputs[0]
        add = prod.get(x)
        shape = tuple(graph.tensor(x).shape)
        if add is None or add.op != "Add" or len(add.inputs) != 2 or x in graph.outputs or \
                [u.name for u in users.get(x, [])] != [ln.name] or not shape or \
                int(ln.attrs.get("axis", -1)) not in (-1, len(shape) - 1):
            continue
        a, b = add.inputs
        if a == b or any(graph.tensor(t).dtype != "float32" or tuple(graph.tensor(t).shape) !=
                         shape or graph.const(t) is not None for t in (a, b)):
            continue
        found[add.name] = None
        found[ln.name] = add
    return found


def set_elem_sizes(calls: list[Call], buffers: dict[str, Buffer]) -> None:
    """The element sizes of the data-movement kernels, from their source buffers."""
    for c in calls:
        if c.kernel in ("gather", "strided_copy", "where"):
            src = c.inputs[1] if c.kernel == "where" else c.inputs[0]
            c.params["elem_size"] = np.dtype(buffers[src].dtype).itemsize


def lower_float_node(graph: ir.Graph, node: ir.Node, taken: Container[str] = ()
                     ) -> tuple[list[Call], dict[str, ir.Tensor]]:
    """The float32 records of one ONNX-semantics node of a graph whose shapes are known: the
    rule the static lowering's float fallback uses for the ops it has no form of its own for
    (int8rt/ops/onnx_float.py), so each op has one lowering rule. Returns the
    calls and the temporary tensors they write (named apart from `taken`); `graph` is left as
    it was. Ops that alias or pack weights here (Reshape, DynQLinear, ...) are not float
    fallback ops and are refused."""
    if node.op in ALIAS_OPS:
        raise LoweringError(f"{node.op} (node {node.name!r}): aliases its input, no record")
    before = set(graph.tensors)
    low = _Lowering(graph, taken=taken)
    try:
        low.lower(node)
    finally:
        temps = {k: graph.tensors.pop(k) for k in list(graph.tensors) if k not in before}
    if low.extra or low.alias:
        raise LoweringError(f"{node.op} (node {node.name!r}): not a float32 record")
    return low.calls, temps


def _dtype(t: ir.Tensor) -> str:
    return "bool" if t.dtype == "bool" else t.dtype


def lower_program(graph: ir.Graph, packed: dict[str, np.ndarray] | None = None) -> Program:
    """The Program of a specialized graph (every shape pinned). `packed`: packed dynamic-int8
    weights by tensor name, shared by the programs one session lowers for its input shapes
    (filled here on first use)."""
    low = _Lowering(graph, packed if packed is not None else {})
    fused = find_attention(graph)
    residual = find_residual_layernorm(graph)
    gelus = find_dynq_gelu(graph)
    for node in graph.nodes:
        if node.name in gelus:
            if gelus[node.name] is not None:
                low.op_DynQLinear(node, gelus[node.name])
            continue
        if node.name in fused:
            if fused[node.name] is not None:
                low.attention(node, fused[node.name])
            continue
        if node.name in residual:
            if residual[node.name] is not None:
                low.op_LayerNormalization(node, residual[node.name])
            continue
        low.lower(node)
    buffers: dict[str, Buffer] = {}
    constants: dict[str, np.ndarray] = {}
    names = {n for c in low.calls for n in (*c.inputs, *c.outputs)}
    outputs = [low.root(o) for o in graph.outputs]
    for name in names | set(outputs) | set(graph.inputs):
        if name in low.extra:
            arr = low.extra[name]
            buffers[name] = Buffer(name, (arr.nbytes,), "uint8")
            constants[name] = arr
            continue
        t = graph.tensor(name)
        shape = tuple(int(d) for d in t.shape)
        buffers[name] = Buffer(name, shape, _dtype(t))
        if t.is_const:
            constants[name] = aligned(np.asarray(t.data, dtype=np.dtype(_dtype(t))))
    set_elem_sizes(low.calls, buffers)
    return Program(low.calls, buffers, list(graph.inputs), outputs, constants,
                   borrowed=set(constants))
