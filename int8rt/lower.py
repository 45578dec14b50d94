"""Lowering: a quantized graph becomes a Program of kernel calls (TFLite's Prepare step).

Everything derived from quantization parameters is computed here, once, in float64 and rounded
once to the float32/int32 values the kernels take (docs/QUANTIZATION.md): conv multipliers,
clamp bounds, Add's integer multipliers, average-pool divisor tables, LUTs, softmax tables,
resize index maps. Both executors (numpy reference and native plan) then run the same calls.
"""

from __future__ import annotations

import math
from collections.abc import Callable

import numpy as np

from . import kernel_tables as kt
from . import opset
from .ir import Graph, Node, QParams, fresh_name
from .opset import NO_CLIP
from .program import Buffer, Call, Program
from .quant.params import accumulator_bound, bias_scale, clamp_bounds, conv_multipliers

INT32_MAX = 2**31 - 1


class LoweringError(ValueError):
    """The quantized graph cannot be lowered (names the node)."""


def lower(graph: Graph, fuse_epilogues: bool = True) -> Program:
    """Lower a quantized graph whose tensor shapes are all known. fuse_epilogues=False keeps
    every activation table and residual add its own call (_fuse_epilogues; the same bytes):
    for tools that read the program op by op (QAT's mirror of it, per-tensor debugging)."""
    calls: list[Call] = []
    buffers: dict[str, Buffer] = {}
    for t in graph.tensors.values():
        if not t.is_const:
            buffers[t.name] = Buffer(t.name, tuple(int(d) for d in t.shape), t.dtype)
    constants: dict[str, np.ndarray] = {}
    lowerer = _Lowerer(graph, calls, buffers, constants)
    order = graph.topological()
    lowerer.fused = _fused_dequantize(graph, order)
    skip = {d.name for d in lowerer.fused.values()}
    for node in order:
        if node.name in skip:  # written by its producer's float32 epilogue
            continue
        rule = _RULES.get(node.op)
        if rule is None:
            raise LoweringError(
                f"op {node.op} (node {node.name!r}) has no int8 kernel yet; it must run in "
                f"float, which this build does not support"
            )
        try:
            rule(lowerer, node)
        except LoweringError:
            raise
        except (ValueError, KeyError, OverflowError) as e:
            raise LoweringError(f"cannot lower {node.op} node {node.name!r}: {e}") from e
    io = set(graph.inputs) | set(graph.outputs)
    _fuse_boundary_moves(calls, buffers, io)
    _compose_luts(calls, buffers, io)  # first: a composed table then fuses into its conv
    if fuse_epilogues:
        _fuse_epilogues(calls, buffers, io)
        _fuse_f32_affine(calls, buffers, constants, io)
    return Program(calls, buffers, list(graph.inputs), list(graph.outputs), constants)


def _compose_luts(calls: list[Call], buffers: dict[str, Buffer], io: set[str]) -> None:
    """lut x -> t followed by lut t -> y, where nothing else reads t, is one lut x -> y with
    table2[table1[q] + 128]: the same bytes, one pass fewer (a HardSwish followed by a scalar
    Mul and Add, as PP-LCNet's learnable affine blocks write it, becomes one lookup). The
    merged call carries both node names."""
    readers: dict[str, int] = {}
    for c in calls:
        for i in c.inputs:
            readers[i] = readers.get(i, 0) + 1
    i = 0
    while i + 1 < len(calls):
        a, b = calls[i], calls[i + 1]
        t = a.outputs[0]
        if (a.kernel == "lut" and b.kernel == "lut" and b.inputs == [t] and readers.get(t) == 1
                and t not in io and len(a.outputs) == 1 and
                a.params.get("n") == b.params.get("n")):
            t1 = np.asarray(a.consts["table"], np.int8).reshape(256)
            t2 = np.asarray(b.consts["table"], np.int8).reshape(256)
            table = t2[t1.astype(np.int16) + 128]
            calls[i] = Call("lut", list(a.inputs), list(b.outputs), dict(a.params),
                            {"table": table}, f"{a.node}+{b.node}")
            del calls[i + 1]
            readers.pop(t, None)
            if not any(t in c.outputs for c in calls):
                buffers.pop(t, None)
            continue
        i += 1


def _scalar_f32(constants: dict[str, np.ndarray], name: str) -> float | None:
    """the value of a one-element finite float32 constant buffer, else None"""
    c = constants.get(name)
    if c is None or c.dtype != np.float32 or c.size != 1 or not np.isfinite(c).all():
        return None
    return float(c.reshape(-1)[0])


def _fuse_f32_affine(calls: list[Call], buffers: dict[str, Buffer],
                     constants: dict[str, np.ndarray], io: set[str]) -> None:
    """f32_unary HardSwish x -> t, f32_binary Mul t by a scalar constant -> m, f32_binary Add
    of a scalar constant m -> y, where nothing else reads t and m and neither is a graph
    output, is one f32_unary HARD_SWISH_AFFINE x -> y with alpha, beta the two constants (the
    learnable affine after each hard-swish of PP-LCNetV3, as DBNet's float prefix runs it):
    the same float32 operations in the same order per element (a product and a sum of two
    float32 values do not depend on operand order), one pass instead of three. Only the
    three records next to each other (the order lowering emits them in); a Mul or Add with a
    fused clip has its own clip record between, so it does not match."""
    readers: dict[str, int] = {}
    for c in calls:
        for i in c.inputs:
            readers[i] = readers.get(i, 0) + 1
    mul, add = _F32_BINARY["Mul"], _F32_BINARY["Add"]

    def scalar_operand(c: Call, x: str) -> float | None:
        if (c.kernel != "f32_binary" or c.params.get("type") != 0 or len(c.inputs) != 2
                or x not in c.inputs or c.inputs[0] == c.inputs[1]):
            return None
        other = c.inputs[1] if c.inputs[0] == x else c.inputs[0]
        if math.prod(c.params["shape"]) != math.prod(buffers[x].shape):
            return None
        return _scalar_f32(constants, other)

    i = 0
    while i + 2 < len(calls):
        u, m, a = calls[i], calls[i + 1], calls[i + 2]
        if not (u.kernel == "f32_unary" and u.params.get("op") == _F32_UNARY["HardSwish"]
                and m.params.get("op") == mul and a.params.get("op") == add):
            i += 1
            continue
        t, mt = u.outputs[0], m.outputs[0]
        alpha = scalar_operand(m, t)
        beta = scalar_operand(a, mt) if alpha is not None else None
        if (beta is None or readers.get(t) != 1 or readers.get(mt) != 1 or t in io or mt in io
                or math.prod(buffers[a.outputs[0]].shape) != u.params["n"]):
            i += 1
            continue
        calls[i] = Call("f32_unary", list(u.inputs), list(a.outputs),
                        {"op": _F32_HARD_SWISH_AFFINE, "n": u.params["n"],
                         "alpha": alpha, "beta": beta}, {}, f"{u.node}+{m.node}+{a.node}")
        del calls[i + 1:i + 3]
        for name in (t, mt):
            buffers.pop(name, None)
        i += 1


def _fuse_epilogues(calls: list[Call], buffers: dict[str, Buffer], io: set[str]) -> None:
    """conv2d / fc -> lut -> add becomes one conv2d / fc call with the table and the residual
    add in its epilogue (post_lut, post_add: program.py, kernels.h i8_post_params), either
    part alone too. So an activation (SiLU, hardswish, ...) and a residual Add never leave the
    conv's registers: no pass over the intermediate tensors, which are not materialised.
    Conditions: the int8 product output (not the float32 epilogue, no post-op yet) and the lut
    output each have that consumer as their only reader and are no model input or output; the
    lut maps int8 to int8 (not a uint8 model boundary); the add is element for element (both
    operands of the output's shape, contiguous: no broadcast) and does not read the tensor
    twice. The fused call takes the place of the last call it absorbs: every buffer it reads
    (the conv input, the residual) is written before that, and buffers are written once.
    Exactness: the fused epilogue runs the same per-element integer and float32 operations as
    the lut and add kernels (docs/KERNELS.md "Fused epilogues")."""
    def readers_of() -> dict[str, list[int]]:
        r: dict[str, list[int]] = {}
        for k, c in enumerate(calls):
            for b in c.inputs:
                r.setdefault(b, []).append(k)
        return r

    def sole_reader(buf: str, readers: dict[str, list[int]]) -> int | None:
        ks = readers.get(buf, [])
        if len(ks) != 1 or buf in io or buffers[buf].dtype != "int8":
            return None
        return ks[0]

    k = 0
    while k < len(calls):
        c = calls[k]
        if (c.kernel not in ("conv2d", "fc") or c.params.get("out_f32", 0)
                or c.params.get("post_lut", 0) or c.params.get("post_add", 0)):
            k += 1
            continue
        readers = readers_of()
        fused = Call(c.kernel, list(c.inputs), list(c.outputs), dict(c.params), dict(c.consts),
                     c.node)
        drop: list[int] = []
        at = k
        r = sole_reader(fused.outputs[0], readers)
        if (r is not None and calls[r].kernel == "lut"
                and buffers[calls[r].outputs[0]].dtype == "int8"):
            lut = calls[r]
            buffers.pop(fused.outputs[0], None)
            fused.outputs = list(lut.outputs)
            fused.params["post_lut"] = 1
            fused.consts["table"] = lut.consts["table"]
            drop.append(r)
            at = r
            r = sole_reader(fused.outputs[0], readers)
        if r is not None and calls[r].kernel == "add" and (post := _residual_add(
                calls[r], fused.outputs[0], buffers)) is not None:
            add = calls[r]
            buffers.pop(fused.outputs[0], None)
            fused.inputs.append(post.pop("res"))
            fused.outputs = list(add.outputs)
            fused.params.update(post)
            drop.append(r)
            at = r
        if not drop:
            k += 1
            continue
        calls[at] = fused
        keep = [j for j in range(len(calls)) if j != k and (j == at or j not in drop)]
        calls[:] = [calls[j] for j in keep]
        # the conv's own slot is gone: everything from k on moved up by one; continue there


def _residual_add(add: Call, t: str, buffers: dict[str, Buffer]) -> dict | None:
    """The post params of an element-for-element add that reads t once (None otherwise):
    t is operand a of the fused epilogue, the other operand the residual."""
    a, b = add.inputs
    if (a == t) == (b == t):
        return None
    size = buffers[t].nbytes
    p = add.params
    if (p["ndim"] != 1 or tuple(p["shape"]) != (size,) or tuple(p["a_stride"]) != (1,)
            or tuple(p["b_stride"]) != (1,) or buffers[a].nbytes != size
            or buffers[b].nbytes != size or buffers[add.outputs[0]].nbytes != size):
        return None
    mine, other = ("a", "b") if a == t else ("b", "a")
    return {"post_add": 1, "res": b if a == t else a,
            "add_a_zp": p[f"{mine}_zp"], "add_a_mult": p[f"{mine}_mult"],
            "add_b_zp": p[f"{other}_zp"], "add_b_mult": p[f"{other}_mult"],
            "add_mult": p["mult"], "add_y_zp": p["y_zp"], "add_qmin": p["qmin"],
            "add_qmax": p["qmax"]}


def _fuse_boundary_moves(calls: list[Call], buffers: dict[str, Buffer], io: set[str]) -> None:
    """quantize -> transpose NCHW->NHWC becomes one quantize call with the move fused in
    (params c, hw: kernels.h i8_quantize_f32_nchw_run), and transpose NHWC->NCHW ->
    dequantize one dequantize call: one pass over the boundary tensor instead of two, and no
    intermediate buffer. Only when the buffer between them has no other reader and is not a
    model input or output. Any rank >= 3: channels are axis 1 of the NC... side, the rest
    ("hw") are flattened."""
    readers: dict[str, int] = {}
    for c in calls:
        for i in c.inputs:
            readers[i] = readers.get(i, 0) + 1

    def move(c: Call, to_last: bool) -> tuple[int, int] | None:
        if c.kernel != "transpose":
            return None
        shape, perm = tuple(c.params["shape"]), tuple(c.params["perm"])
        nd = len(shape)
        want = (0, *range(2, nd), 1) if to_last else (0, nd - 1, *range(1, nd - 1))
        if nd < 3 or perm != want:
            return None
        ch = shape[1] if to_last else shape[-1]
        hw = math.prod(shape[2:]) if to_last else math.prod(shape[1:-1])
        return (ch, hw) if ch > 0 and hw > 0 else None

    reader: dict[str, int] = {}  # buffer -> index of the call reading it (the last one)
    for k, c in enumerate(calls):
        for b in c.inputs:
            reader[b] = k
    drop: set[int] = set()
    for k, c in enumerate(calls):
        # a transpose already fused into its quantize is gone (a rank-3 (0, 2, 1) move is both
        # NCHW -> NHWC and back: it must not fuse into the dequantize too)
        if k in drop or c.kernel not in ("quantize", "transpose") or len(c.outputs) != 1:
            continue
        t = c.outputs[0]
        if readers.get(t) != 1 or t in io or (r := reader.get(t)) is None:
            continue
        nxt = calls[r]
        if c.kernel == "quantize" and "c" not in c.params and (m := move(nxt, True)):
            # the fused call sits where the quantize was: the transpose's readers come later
            calls[k] = Call("quantize", c.inputs, nxt.outputs,
                            {**c.params, "c": m[0], "hw": m[1]}, {}, c.node)
        elif (c.kernel == "transpose" and nxt.kernel == "dequantize" and "c" not in nxt.params
              and (m := move(c, False))):
            # ... and where the dequantize was: the transpose's input was written before
            calls[r] = Call("dequantize", c.inputs, nxt.outputs,
                            {**nxt.params, "c": m[0], "hw": m[1]}, {}, nxt.node)
            r = k
        else:
            continue
        drop.add(r)
        buffers.pop(t, None)
    calls[:] = [c for k, c in enumerate(calls) if k not in drop]


def _fused_dequantize(graph: Graph, order: list[Node]) -> dict[str, Node]:
    """Conv / Gemm node name -> the Dequantize its float32 epilogue replaces (kernels.h,
    docs/QUANTIZATION.md §4): the int8 output feeds only that Dequantize, is no graph output,
    and no activation is fused (a clamp lives in the int8 domain, the epilogue has none).
    A classifier's logits then skip the last int8 rounding."""
    users = graph.consumers()
    outputs = set(graph.outputs)
    fused: dict[str, Node] = {}
    for node in order:
        if node.op not in ("Conv", "Gemm"):
            continue
        y = node.outputs[0]
        u = users.get(y, [])
        if len(u) != 1 or u[0].op != "Dequantize" or y in outputs:
            continue
        if tuple(node.attrs.get("clip", NO_CLIP)) != NO_CLIP:
            continue
        out = graph.tensor(u[0].outputs[0])
        if out.dtype != "float32" or tuple(out.shape) != tuple(graph.tensor(y).shape):
            continue
        fused[node.name] = u[0]
    return fused


class _Lowerer:
    def __init__(self, graph: Graph, calls: list[Call], buffers: dict[str, Buffer],
                 constants: dict[str, np.ndarray]):
        self.g, self.calls, self.buffers, self.constants = graph, calls, buffers, constants
        self.fused: dict[str, Node] = {}  # see _fused_dequantize

    def shape(self, name: str) -> tuple[int, ...]:
        return tuple(int(d) for d in self.g.tensor(name).shape)

    def qp(self, name: str) -> tuple[float, int]:
        t = self.g.tensor(name)
        if t.qparams is None:
            raise LoweringError(f"tensor {name!r} has no quantization parameters")
        return t.qparams.scalar()

    def qparams(self, name: str) -> QParams:
        qp = self.g.tensor(name).qparams
        if qp is None:
            raise LoweringError(f"tensor {name!r} has no quantization parameters")
        return qp

    def expect_int8(self, node: Node, *names: str) -> None:
        for n in names:
            if self.g.tensor(n).dtype != "int8":
                raise LoweringError(
                    f"{node.op} node {node.name!r}: tensor {n!r} is "
                    f"{self.g.tensor(n).dtype}, expected int8 (was the graph quantized?)"
                )

    def temp(self, base: str, shape: tuple[int, ...], dtype: str = "int8") -> str:
        name = fresh_name(base, self.buffers, self.g.tensors)
        self.buffers[name] = Buffer(name, shape, dtype)
        return name

    def emit(self, node: Node, kernel: str, inputs: list[str], outputs: list[str],
             params: dict | None = None, consts: dict | None = None) -> None:
        params, consts = params or {}, consts or {}
        # every float a kernel multiplies by must be finite: lrintf(NaN) and the SIMD
        # conversions disagree, so a NaN multiplier would break bit-exactness across paths
        for key, v in [*params.items(), *consts.items()]:
            arr = np.asarray(v)
            if arr.dtype.kind == "f" and not np.all(np.isfinite(arr)):
                if key == "value":  # a Pad constant of a float tensor may be anything
                    continue
                raise LoweringError(f"{node.op} node {node.name!r}: {kernel} {key} is not "
                                    f"finite (check the quantization scales)")
        self.calls.append(Call(kernel, inputs, outputs, params, consts, node.name))

    def clamp(self, node: Node, out: str) -> tuple[int, int]:
        return clamp_bounds(tuple(node.attrs.get("clip", NO_CLIP)), self.qparams(out))

    # the checks and helpers the lowering rules of int8rt/ops/ use (one of them failing names
    # the node: LoweringError)
    def fail(self, node: Node, why: str) -> None:
        _fail(node, why)

    def rank(self, node: Node, name: str, rank: int) -> tuple[int, ...]:
        return _rank(self, node, name, rank)

    def check_window(self, node: Node, x: str, y: str, kh: int, kw: int,
                     channels_out: int | None) -> None:
        _check_window(self, node, x, y, kh, kw, channels_out)

    def check_axis(self, node: Node, axis: int, rank: int) -> int:
        return _check_axis(node, axis, rank)

    def check_same_size(self, node: Node, x: str, y: str) -> None:
        _check_same_size(self, node, x, y)

    def same_params(self, node: Node, x: str, y: str) -> str:
        return _same_params(self, node, x, y)

    def const_buffer(self, node: Node, name: str) -> str:
        return _const_buffer(self, node, name)


def _fail(node: Node, why: str) -> None:
    raise LoweringError(f"{node.op} node {node.name!r}: {why}")


def _rank(lw: _Lowerer, node: Node, name: str, rank: int) -> tuple[int, ...]:
    shape = lw.shape(name)
    if len(shape) != rank:
        _fail(node, f"tensor {name!r} has shape {shape}, expected rank {rank}")
    return shape


def _check_window(lw: _Lowerer, node: Node, x: str, y: str, kh: int, kw: int,
                  channels_out: int | None) -> None:
    """Kernel geometry the C kernels assume (they trust oh/ow and walk the window): kernel,
    stride and dilation >= 1, pads >= 0, and y's spatial size exactly the window count over x.
    A file can state any of these independently; the plan's footprint checks cover buffer
    sizes, not whether the geometry is self-consistent."""
    n, h, w_, c = _rank(lw, node, x, 4)
    yn, oh, ow, yc = _rank(lw, node, y, 4)
    a = node.attrs
    strides, dils = tuple(a.get("strides", (1, 1))), tuple(a.get("dilations", (1, 1)))
    pads = tuple(a.get("pads", (0, 0, 0, 0)))
    if len(strides) != 2 or len(dils) != 2 or len(pads) != 4:
        _fail(node, f"strides {strides} / dilations {dils} / pads {pads} have the wrong length")
    if min(kh, kw, *strides, *dils) < 1 or min(pads) < 0:
        _fail(node, f"kernel ({kh}, {kw}), strides {strides} and dilations {dils} must be >= 1 "
                    f"and pads {pads} >= 0")
    want = tuple((size + pads[k] + pads[k + 2] - dils[k] * (kk - 1) - 1) // strides[k] + 1
                 for k, (size, kk) in enumerate(((h, kh), (w_, kw))))
    if min(want) < 1 or (oh, ow) != want or yn != n:
        _fail(node, f"output {y!r} {lw.shape(y)} does not match the window over {x!r} "
                    f"{lw.shape(x)} (expected spatial {want})")
    if (channels_out if channels_out is not None else c) != yc:
        _fail(node, f"output {y!r} has {yc} channels, expected "
                    f"{channels_out if channels_out is not None else c}")


def _check_axis(node: Node, axis: int, rank: int) -> int:
    if not -rank <= axis < rank:
        _fail(node, f"axis {axis} is out of range for rank {rank}")
    return axis % rank


def _check_same_size(lw: _Lowerer, node: Node, x: str, y: str) -> None:
    if math.prod(lw.shape(x)) != math.prod(lw.shape(y)):
        _fail(node, f"input {x!r} {lw.shape(x)} and output {y!r} {lw.shape(y)} differ in size")


# -- model boundary ----------------------------------------------------------------------------
# uint8 <-> int8 with the same scale and zero points 128 apart (uint8 model I/O): q = u - 128,
# i.e. the top bit flipped. As a byte map that is the LUT table[j] = int8(j) (the kernel
# indexes with the signed byte + 128), exact and as fast as a copy.
_U8_FLIP = np.arange(256).astype(np.uint8).view(np.int8)


def _u8_boundary(lw: _Lowerer, node: Node, u: str, q: str) -> None:
    (su, zu), (sq, zq) = lw.qp(u), lw.qp(q)
    if np.float32(su) != np.float32(sq) or zu - 128 != zq:
        _fail(node, f"uint8 tensor {u!r} ({su}, {zu}) and int8 tensor {q!r} ({sq}, {zq}) must "
                    "share the scale with zero points 128 apart")
    lw.emit(node, "lut", list(node.inputs), list(node.outputs),
            {"n": math.prod(lw.shape(node.inputs[0]))}, {"table": _U8_FLIP})


def _quantize(lw: _Lowerer, node: Node) -> None:
    (x,), (y,) = node.inputs, node.outputs
    _check_same_size(lw, node, x, y)
    if lw.g.tensor(x).dtype == "uint8":  # a uint8 model input
        return _u8_boundary(lw, node, x, y)
    s, z = lw.qp(y)
    n = math.prod(lw.shape(x))
    lw.emit(node, "quantize", [x], [y], {"n": n, "scale": s, "zp": z})


def _dequantize(lw: _Lowerer, node: Node) -> None:
    (x,), (y,) = node.inputs, node.outputs
    _check_same_size(lw, node, x, y)
    if lw.g.tensor(y).dtype == "uint8":  # a uint8 model output
        return _u8_boundary(lw, node, y, x)
    s, z = lw.qp(x)
    lw.emit(node, "dequantize", [x], [y], {"n": math.prod(lw.shape(x)), "scale": s, "zp": z})


# -- products: conv and fully connected --------------------------------------------------------
def _weights_and_bias(lw: _Lowerer, node: Node, x: str, y: str | None, oc: int):
    """Weights, bias and multipliers; y=None for the float32 epilogue, whose multiplier is
    float32(s_x * s_w[c]) (float64 product, one rounding) instead of s_x * s_w[c] / s_y."""
    w_name = node.inputs[1]
    w = lw.g.const(w_name)
    if w is None or w.dtype != np.int8:
        raise LoweringError(f"{node.op} node {node.name!r}: weights must be a constant int8 tensor")
    w_qp = lw.qparams(w_name)
    if np.any(w_qp.zero_point != 0):
        raise LoweringError(f"{node.op} node {node.name!r}: weights must be symmetric (zp 0)")
    b_name = node.inputs[2] if len(node.inputs) > 2 else ""
    bias = lw.g.const(b_name) if b_name else np.zeros(oc, np.int32)
    if bias is None or bias.dtype != np.int32:
        raise LoweringError(f"{node.op} node {node.name!r}: bias must be a constant int32 tensor")
    x_s, _ = lw.qp(x)
    w_scales = np.broadcast_to(w_qp.scale, (oc,))
    if y is None:
        mult = np.atleast_1d(bias_scale(x_s, w_scales).astype(np.float32))
    else:
        mult = conv_multipliers(x_s, w_scales, lw.qp(y)[0])
    # docs/QUANTIZATION.md §3: |acc| <= 255 * sum|w| + |bias| must fit in int32. PTQ raises
    # the weight scale of a channel that does not fit (fit_weight_scales); given integer
    # weights (a QDQ model) are the source's and can really overflow.
    worst = int(accumulator_bound(w, bias).max(initial=0))
    if worst > INT32_MAX:
        raise LoweringError(
            f"{node.op} node {node.name!r}: the int32 accumulator could overflow "
            f"(bound {worst} > 2^31-1) with the model's own integer weights and bias"
        )
    return np.ascontiguousarray(w), np.ascontiguousarray(bias.reshape(oc)), mult


def _product_output(lw: _Lowerer, node: Node, x: str, y: str, oc: int):
    """(output buffer, weights, bias, mult, quantization params) of a conv / fc call: the
    int8 y requantized, or the fused Dequantize's float32 buffer (out_f32; y_zp and the clamp
    are then unused, so neutral values, and the int8 y is never materialised)."""
    deq = lw.fused.get(node.name)
    if deq is None:
        weights, bias, mult = _weights_and_bias(lw, node, x, y, oc)
        qmin, qmax = lw.clamp(node, y)
        quant = {"x_zp": lw.qp(x)[1], "y_zp": lw.qp(y)[1], "qmin": qmin, "qmax": qmax, "out_f32": 0}
        return y, weights, bias, mult, quant
    weights, bias, mult = _weights_and_bias(lw, node, x, None, oc)
    lw.buffers.pop(y, None)
    quant = {"x_zp": lw.qp(x)[1], "y_zp": 0, "qmin": -128, "qmax": 127, "out_f32": 1}
    return deq.outputs[0], weights, bias, mult, quant


def _conv(lw: _Lowerer, node: Node) -> None:
    x, y = node.inputs[0], node.outputs[0]
    if lw.g.tensor(x).dtype == "float32":
        return _conv_f32(lw, node)
    lw.expect_int8(node, x, y)
    n, h, w_, c = _rank(lw, node, x, 4)
    _, oh, ow, oc = _rank(lw, node, y, 4)
    woc, kh, kw, wic = _rank(lw, node, node.inputs[1], 4)
    groups = node.attrs.get("group", 1)
    if groups < 1 or c % groups or oc % groups or wic * groups != c or woc != oc:
        _fail(node, f"weights {(woc, kh, kw, wic)} with group {groups} do not fit {c} input "
                    f"and {oc} output channels")
    _check_window(lw, node, x, y, kh, kw, oc)
    out, weights, bias, mult, quant = _product_output(lw, node, x, y, oc)
    a = node.attrs
    (sh, sw), (dh, dw) = a.get("strides", (1, 1)), a.get("dilations", (1, 1))
    pt, pl, pb, pr = a.get("pads", (0, 0, 0, 0))
    params = dict(n=n, h=h, w=w_, c=c, oh=oh, ow=ow, oc=oc, kh=kh, kw=kw, stride_h=sh,
                  stride_w=sw, dil_h=dh, dil_w=dw, pad_t=pt, pad_l=pl, pad_b=pb, pad_r=pr,
                  groups=int(a.get("group", 1)), **quant)
    lw.emit(node, "conv2d", [x], [out], params, {"w": weights, "bias": bias, "mult": mult})


def _gemm(lw: _Lowerer, node: Node) -> None:
    x, y = node.inputs[0], node.outputs[0]
    if lw.g.tensor(x).dtype == "float32":
        return _gemm_f32(lw, node)
    lw.expect_int8(node, x, y)
    xs, ys = lw.shape(x), lw.shape(y)
    if not xs or not ys or xs[:-1] != ys[:-1]:
        _fail(node, f"input {x!r} {xs} and output {y!r} {ys} do not agree on the rows")
    k = xs[-1]
    m = math.prod(xs[:-1])
    nout = ys[-1]
    if lw.shape(node.inputs[1]) != (nout, k):
        _fail(node, f"weights {lw.shape(node.inputs[1])} are not (outputs, inputs) = {(nout, k)}")
    out, weights, bias, mult, quant = _product_output(lw, node, x, y, nout)
    params = dict(m=m, k=k, n=nout, **quant)
    lw.emit(node, "fc", [x], [out], params, {"w": weights, "bias": bias, "mult": mult})


# -- float fallback: a Conv / Gemm kept in float32 by mixed precision ----------------------------
_FLT_MAX = float(np.finfo(np.float32).max)


def _float_weights(lw: _Lowerer, node: Node, oc: int) -> tuple[np.ndarray, np.ndarray, dict]:
    """float32 weights and bias (zeros when absent) and the fused clamp as finite float32
    bounds (+-FLT_MAX for an open side: emit refuses non-finite params)."""
    for name in (node.inputs[0], node.outputs[0]):
        if lw.g.tensor(name).dtype != "float32":
            _fail(node, f"float fallback: tensor {name!r} is {lw.g.tensor(name).dtype}, "
                        "expected float32")
    w = lw.g.const(node.inputs[1])
    if w is None or w.dtype != np.float32:
        _fail(node, "float fallback: weights must be a constant float32 tensor")
    b_name = node.inputs[2] if len(node.inputs) > 2 else ""
    b = lw.g.const(b_name) if b_name else np.zeros(oc, np.float32)
    if b is None or b.dtype != np.float32 or b.size != oc:
        _fail(node, f"float fallback: bias must be a constant float32 [{oc}] tensor")
    lo, hi = (float(v) for v in node.attrs.get("clip", NO_CLIP))
    if math.isnan(lo) or math.isnan(hi) or lo > hi:
        _fail(node, f"fused clip {node.attrs.get('clip')} is not an ordered pair")
    bounds = {"lo": max(float(np.float32(lo)), -_FLT_MAX),
              "hi": min(float(np.float32(hi)), _FLT_MAX)}
    return np.ascontiguousarray(w), np.ascontiguousarray(b.reshape(oc)), bounds


def _conv_f32(lw: _Lowerer, node: Node) -> None:
    x, y = node.inputs[0], node.outputs[0]
    n, h, w_, c = _rank(lw, node, x, 4)
    _, oh, ow, oc = _rank(lw, node, y, 4)
    woc, kh, kw, wic = _rank(lw, node, node.inputs[1], 4)
    groups = node.attrs.get("group", 1)
    if groups < 1 or c % groups or oc % groups or wic * groups != c or woc != oc:
        _fail(node, f"weights {(woc, kh, kw, wic)} with group {groups} do not fit {c} input "
                    f"and {oc} output channels")
    _check_window(lw, node, x, y, kh, kw, oc)
    weights, bias, bounds = _float_weights(lw, node, oc)
    a = node.attrs
    (sh, sw), (dh, dw) = a.get("strides", (1, 1)), a.get("dilations", (1, 1))
    pt, pl, pb, pr = a.get("pads", (0, 0, 0, 0))
    params = dict(n=n, h=h, w=w_, c=c, oh=oh, ow=ow, oc=oc, kh=kh, kw=kw, stride_h=sh,
                  stride_w=sw, dil_h=dh, dil_w=dw, pad_t=pt, pad_l=pl, pad_b=pb, pad_r=pr,
                  groups=int(groups), **bounds)
    lw.emit(node, "conv2d_f32", [x], [y], params, {"w": weights, "bias": bias})


def _gemm_f32(lw: _Lowerer, node: Node) -> None:
    x, y = node.inputs[0], node.outputs[0]
    xs, ys = lw.shape(x), lw.shape(y)
    if not xs or not ys or xs[:-1] != ys[:-1]:
        _fail(node, f"input {x!r} {xs} and output {y!r} {ys} do not agree on the rows")
    k, nout = xs[-1], ys[-1]
    if lw.shape(node.inputs[1]) != (nout, k):
        _fail(node, f"weights {lw.shape(node.inputs[1])} are not (outputs, inputs) = {(nout, k)}")
    weights, bias, bounds = _float_weights(lw, node, nout)
    lw.emit(node, "fc_f32", [x], [y], dict(m=math.prod(xs[:-1]), k=k, n=nout, **bounds),
            {"w": weights, "bias": bias})


# -- float fallback of the other ops: the f32 records the dynamic path runs --------------------
# csrc/include/int8rt/f32.h I8F_* codes
_F32_BINARY = {op: opset.OPS[op].f32_code for op in opset.BINARY_OPS}
_F32_UNARY = {"Relu": 0, "Sigmoid": 1, "Tanh": 2, "Erf": 3, "Sqrt": 4, "Exp": 7, "Neg": 8,
              "Clip": 9, "Reciprocal": 10, "Abs": 11, "Log": 13, "HardSigmoid": 14,
              "HardSwish": 15, "LeakyRelu": 16, "Silu": 17}
_F32_HARD_SWISH_AFFINE = 18  # no ONNX op: _fuse_f32_affine writes it
_F32_GELU = {"none": 5, "tanh": 6}


def _is_float(lw: _Lowerer, node: Node) -> bool:
    """the node runs in float32: every non-constant input and output is float32"""
    names = [i for i in node.inputs if i and not lw.g.tensor(i).is_const] + list(node.outputs)
    return bool(names) and all(lw.g.tensor(n).dtype == "float32" for n in names)


def _f32_const(lw: _Lowerer, node: Node, name: str) -> str:
    data = lw.g.const(name)
    if data.dtype != np.float32:
        raise LoweringError(f"{node.op} node {node.name!r}: constant {name!r} must be float32")
    lw.buffers[name] = Buffer(name, tuple(data.shape), "float32")
    lw.constants[name] = np.array(data, order="C")  # (ascontiguousarray makes 0-d (1,))
    return name


def _binary_f32(lw: _Lowerer, node: Node) -> None:
    a, b = node.inputs
    (y,) = node.outputs
    ins = [_f32_const(lw, node, n) if lw.g.tensor(n).is_const else n for n in (a, b)]
    _, shape, a_stride, b_stride = kt.collapse_broadcast(lw.shape(a), lw.shape(b))
    if math.prod(shape) != math.prod(lw.shape(y)):
        _fail(node, f"inputs {lw.shape(a)} and {lw.shape(b)} do not broadcast to {lw.shape(y)}")
    lo, hi = (float(v) for v in node.attrs.get("clip", NO_CLIP))
    clamp = lo != -math.inf or hi != math.inf
    out = lw.temp(f"{y}__unclamped", lw.shape(y), "float32") if clamp else y
    lw.emit(node, "f32_binary", ins, [out], {"op": _F32_BINARY[node.op], "type": 0,
                                              "shape": tuple(shape), "a_stride": tuple(a_stride),
                                              "b_stride": tuple(b_stride)})
    if clamp:  # the fused activation, as its own clip pass
        lw.emit(node, "f32_unary", [out], [y], {"op": _F32_UNARY["Clip"],
                                                 "n": math.prod(lw.shape(y)),
                                                 "alpha": max(lo, -_FLT_MAX),
                                                 "beta": min(hi, _FLT_MAX)})


def _unary_f32(lw: _Lowerer, node: Node) -> None:
    (x,), (y,) = node.inputs, node.outputs
    _check_same_size(lw, node, x, y)
    a = node.attrs
    alpha, beta = 0.0, 0.0
    if node.op == "Gelu":
        code = _F32_GELU.get(a.get("approximate", "none"))
        if code is None:
            _fail(node, f"approximate={a.get('approximate')!r}")
    else:
        code = _F32_UNARY.get(node.op)
        if code is None:  # e.g. Mish: a table lookup in int8, no float32 kernel yet
            _fail(node, "has no float32 kernel: it runs in int8 only")
    if node.op == "Clip":
        alpha = max(float(np.float32(a.get("min", -math.inf))), -_FLT_MAX)
        beta = min(float(np.float32(a.get("max", math.inf))), _FLT_MAX)
    elif node.op == "HardSigmoid":
        alpha, beta = _f32(a.get("alpha", 0.2)), _f32(a.get("beta", 0.5))
    elif node.op == "LeakyRelu":
        alpha = _f32(a.get("alpha", 0.01))
    lw.emit(node, "f32_unary", [x], [y], {"op": code, "n": math.prod(lw.shape(x)),
                                           "alpha": alpha, "beta": beta})


def _softmax_f32(lw: _Lowerer, node: Node) -> None:
    (x,), (y,) = node.inputs, node.outputs
    shape = lw.shape(x)
    _check_same_size(lw, node, x, y)
    if not shape or _check_axis(node, int(node.attrs.get("axis", -1)), len(shape)) != len(
            shape) - 1:
        _fail(node, "float softmax runs over the last axis only")
    lw.emit(node, "f32_softmax", [x], [y], {"rows": math.prod(shape[:-1]), "cols": shape[-1]})


def _or_float(int8_rule: Callable[[_Lowerer, Node], None],
              float_rule: Callable[[_Lowerer, Node], None]) -> Callable[[_Lowerer, Node], None]:
    """the int8 kernel, or the float32 one when the node was left in float (mixed precision,
    or an op without an int8 kernel)"""
    def rule(lw: _Lowerer, node: Node) -> None:
        (float_rule if _is_float(lw, node) else int8_rule)(lw, node)
    return rule


# -- elementwise -------------------------------------------------------------------------------
def _binary(lw: _Lowerer, node: Node) -> None:
    a, b = node.inputs
    (y,) = node.outputs
    lw.expect_int8(node, a, b, y)
    ins = []
    for name in (a, b):
        if lw.g.tensor(name).is_const:  # constant operands live in the program as buffers
            ins.append(_const_buffer(lw, node, name))
        else:
            ins.append(name)
    ndim, shape, a_stride, b_stride = kt.collapse_broadcast(lw.shape(a), lw.shape(b))
    (sa, za), (sb, zb), (sy, zy) = lw.qp(a), lw.qp(b), lw.qp(y)
    qmin, qmax = lw.clamp(node, y)
    params = {"ndim": ndim, "shape": tuple(shape), "a_stride": tuple(a_stride),
              "b_stride": tuple(b_stride), "a_zp": za, "b_zp": zb, "y_zp": zy, "qmin": qmin,
              "qmax": qmax}
    if node.op == "Mul":
        params.update(a_mult=0, b_mult=0, mult=float(kt.mul_mult(sa, sb, sy)))
        kernel = "mul"
    else:
        a_mult, b_mult, mult = kt.add_multipliers(sa, sb, sy, subtract=node.op == "Sub")
        params.update(a_mult=int(a_mult), b_mult=int(b_mult), mult=float(mult))
        kernel = "add"
    scalar = _scalar_operand(lw, a, b, y)
    if scalar is not None:
        _binary_as_lut(lw, node, kernel, params, ins, scalar)
        return
    lw.emit(node, kernel, ins, [y], params)


def _scalar_operand(lw: _Lowerer, a: str, b: str, y: str) -> int | None:
    """index (0 / 1) of a one-element constant operand of an elementwise op whose other
    operand already has the output's shape, else None"""
    for k, (c, other) in enumerate(((a, b), (b, a))):
        t = lw.g.tensor(c)
        if t.is_const and t.data.size == 1 and not lw.g.tensor(other).is_const and \
                lw.shape(other) == lw.shape(y):
            return k
    return None


def _binary_as_lut(lw: _Lowerer, node: Node, kernel: str, params: dict, ins: list[str],
                   k: int) -> None:
    """An int8 add / mul with a scalar constant is a function of one int8 value: run it as a
    256-entry table built by the reference add / mul kernel itself over all 256 inputs, so
    the table equals what the add / mul kernel would write, byte for byte, at the cost of a
    lookup (one pass instead of a broadcast multiply-requantize)."""
    from .reference.kernels import REFERENCE_KERNELS

    q = np.arange(-128, 128, dtype=np.int8)
    c = lw.constants[ins[k]].reshape(1)
    operands = (c, q) if k == 0 else (q, c)
    p = dict(params, ndim=1, shape=(256,), a_stride=(0,) if k == 0 else (1,),
             b_stride=(1,) if k == 0 else (0,))
    table = np.asarray(REFERENCE_KERNELS[kernel](*operands, **p), np.int8).reshape(256)
    x, y = ins[1 - k], node.outputs[0]
    lw.emit(node, "lut", [x], [y], {"n": math.prod(lw.shape(y))}, {"table": table})


def _const_buffer(lw: _Lowerer, node: Node, name: str) -> str:
    """A constant operand (int8 with its own parameters) read straight from the plan."""
    data = lw.g.const(name)
    if data.dtype != np.int8:
        raise LoweringError(f"{node.op} node {node.name!r}: constant {name!r} must be int8")
    lw.buffers[name] = Buffer(name, tuple(data.shape), "int8")
    lw.constants[name] = np.ascontiguousarray(data)
    return name


def _f32(v: float) -> float:
    """ONNX activation attributes are float32: use the value the model really holds."""
    return float(np.float32(v))


def _unary(lw: _Lowerer, node: Node) -> None:
    (x,), (y,) = node.inputs, node.outputs
    lw.expect_int8(node, x, y)
    _check_same_size(lw, node, x, y)
    (sx, zx), (sy, zy) = lw.qp(x), lw.qp(y)
    # the op's real function (opset.py) tabulated over the 256 int8 inputs
    table = kt.lut_table(opset.unary_function(node.op, node.attrs), sx, zx, sy, zy)
    lw.emit(node, "lut", [x], [y], {"n": math.prod(lw.shape(x))}, {"table": table})


# -- data movement -----------------------------------------------------------------------------
def _same_params(lw: _Lowerer, node: Node, x: str, y: str) -> str:
    """The buffer a data-movement op (or max pooling, nearest resize) reads so that its output
    keeps its input's parameters: `x` itself, or, when the model gives `y` other int8
    parameters (a QDQ / table source), a requantized copy of `x` in y's parameters. The copy
    is a 256-entry table, exactly quantize_y(dequantize_x(q)) in float64 (kernel_tables.
    lut_table of the identity): moving or taking the max of values commutes with that monotone
    map, so this equals the source's dequantize -> op -> quantize."""
    tx, ty = lw.g.tensor(x), lw.g.tensor(y)
    if tx.dtype != ty.dtype or (tx.qparams is None) != (ty.qparams is None):
        raise LoweringError(f"{node.op} node {node.name!r} moves data: its output must keep "
                            f"the input's dtype")
    if tx.qparams is None or tx.qparams.scalar() == ty.qparams.scalar():
        return x
    if tx.dtype != "int8":
        _fail(node, f"{tx.dtype} data movement must keep its quantization parameters")
    (sx, zx), (sy, zy) = lw.qp(x), lw.qp(y)
    src = _const_buffer(lw, node, x) if tx.is_const else x
    tmp = lw.temp(f"{x}__requant", lw.shape(x))
    table = kt.lut_table(lambda v: v, sx, zx, sy, zy)
    lw.emit(node, "lut", [src], [tmp], {"n": math.prod(lw.shape(x))}, {"table": table})
    return tmp


def _softmax(lw: _Lowerer, node: Node) -> None:
    (x,), (y,) = node.inputs, node.outputs
    lw.expect_int8(node, x, y)
    shape = lw.shape(x)
    if not shape:
        _fail(node, "softmax of a scalar")
    _check_same_size(lw, node, x, y)
    axis = _check_axis(node, int(node.attrs.get("axis", -1)), len(shape))
    (sx, _), (sy, zy) = lw.qp(x), lw.qp(y)
    table = kt.softmax_exp_table(sx)
    inv = float(np.float32(1.0 / sy))
    if axis == len(shape) - 1:
        lw.emit(node, "softmax", [x], [y],
                {"rows": math.prod(shape[:-1]), "cols": shape[-1], "inv_y_scale": inv, "y_zp": zy},
                {"exp_table": table})
        return
    # softmax over an inner axis: move it last, run, move it back (pure data movement)
    perm = tuple(i for i in range(len(shape)) if i != axis) + (axis,)
    inverse = tuple(int(i) for i in np.argsort(perm))
    moved = tuple(shape[p] for p in perm)
    t_in, t_out = lw.temp(f"{x}__t", moved), lw.temp(f"{y}__t", moved)
    lw.emit(node, "transpose", [x], [t_in], {"shape": shape, "perm": perm})
    lw.emit(node, "softmax", [t_in], [t_out],
            {"rows": math.prod(moved[:-1]), "cols": moved[-1], "inv_y_scale": inv, "y_zp": zy},
            {"exp_table": table})
    lw.emit(node, "transpose", [t_out], [y], {"shape": moved, "perm": inverse})


_RULES: dict[str, Callable[[_Lowerer, Node], None]] = {
    "Quantize": _quantize,
    "Dequantize": _dequantize,
    "Conv": _conv,
    "Gemm": _gemm,
    **{op: _or_float(_binary, _binary_f32) if opset.OPS[op].int8 else _binary_f32
       for op in opset.BINARY_OPS},
    **{op: _or_float(_unary, _unary_f32) for op in opset.UNARY_OPS},
    **{op: _unary_f32 for op in _F32_UNARY if op not in opset.UNARY_OPS},
    "Softmax": _or_float(_softmax, _softmax_f32),
    # pooling and data movement: the lowering their declaration names (int8rt/ops/)
    **{op: s.lower if s.lower_f32 in (None, s.lower) else _or_float(s.lower, s.lower_f32)
       for op, s in opset.OPS.items() if s.lower is not None},
}

# ops that can run in float32 inside the static plan (mixed precision's float_nodes, and the
# ops without an int8 kernel): Conv / Gemm on f32conv, the rest on the f32 records
FLOAT_OPS = frozenset({"Conv", "Gemm", "Softmax", *_F32_BINARY, *_F32_UNARY, "Gelu",
                       *(op for op, s in opset.OPS.items() if s.lower_f32 is not None)})
