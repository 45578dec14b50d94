"""Data-movement ops, each declared whole: schema, shape rule, float32 reference and lowering to
plan records (int8rt/records.py: copy, transpose, slice, pad, requant_copy, resize_nearest,
resize_bilinear). They move int8 values without requantizing them (out_qparams "same", a table
lookup first when a source gives the output other parameters: lower._Lowerer.same_params), and
the ones with lower_f32 move float32 tensors of the static plan with the same records.

docs/ARCHITECTURE.md "Adding an op" has the recipe for a new one: its OpSchema in OPS below,
and a row of tests/test_movement_ops.py's CASES.
"""

from __future__ import annotations

import math

import numpy as np

from int8rt import kernel_tables as kt

from .schema import OpSchema, ShapeContext

F32 = np.float32
INT32_MAX = 2**31 - 1


# -- shape rules -------------------------------------------------------------------------------
def _rebatch(x, target, node: str):
    """Reshape targets are resolved for the import batch; a different batch size keeps every
    dimension but the first (the batch rule of docs/ARCHITECTURE.md)."""
    n = int(np.prod(x, dtype=np.int64))
    if int(np.prod(target, dtype=np.int64)) == n or not target:
        return target
    rest = int(np.prod(target[1:], dtype=np.int64))
    if rest == 0 or n % rest:
        raise ValueError(f"Reshape node {node!r}: cannot reshape {x} to {target} "
                         f"with a different batch size")
    return (n // rest,) + target[1:]


def _reshape_shape(ins, a, ctx: ShapeContext):
    return [_rebatch(ins[0], tuple(int(d) for d in a["shape"]), ctx.node)]


def _transpose_shape(ins, a, ctx: ShapeContext):
    return [tuple(ins[0][p] for p in a["perm"])]


def _concat_shape(ins, a, ctx: ShapeContext):
    ax = a["axis"]
    out = list(ins[0])
    out[ax] = sum(s[ax] for s in ins)
    return [tuple(out)]


def _split_shape(ins, a, ctx: ShapeContext):
    x, ax = ins[0], a["axis"]
    return [tuple(x[:ax]) + (int(s),) + tuple(x[ax + 1:]) for s in a["sizes"]]


def _slice_shape(ins, a, ctx: ShapeContext):
    # no ends in the attrs: the recorded shape (shape_inference.rebatch adjusts dim 0)
    if ctx.outputs[0] is None:
        raise KeyError("Slice output shape (recorded by its producer)")
    return [ctx.outputs[0]]


def _pad_shape(ins, a, ctx: ShapeContext):
    x, p = ins[0], a["pads"]
    return [tuple(d + p[i] + p[i + len(x)] for i, d in enumerate(x))]


def _resize_shape(ins, a, ctx: ShapeContext):
    """By the rule the frontend recorded (`size_rule`): "scales" floor(in * scale) (ONNX, the
    float32 scale widened), "like" the H / W of tensor `size_like` (sizes computed from its
    Shape), otherwise the recorded `size` (constant sizes, or a graph that keeps its image
    size)."""
    ha, wa, _ = ctx.spatial
    out = list(ins[0])
    rule, like = a.get("size_rule"), None
    if rule == "like" and a.get("size_like"):
        like = ctx.hw_of(a["size_like"])
    if rule == "scales" and a.get("scales"):
        out[ha], out[wa] = (int(np.floor(out[ax] * float(np.float32(s))))
                            for ax, s in zip((ha, wa), a["scales"]))
    elif like is not None:
        out[ha], out[wa] = like
    else:
        out[ha], out[wa] = (int(v) for v in a["size"])
    return [tuple(out)]


def _depth_to_space_shape(ins, a, ctx: ShapeContext):
    x, b = ins[0], int(a["blocksize"])
    ha, wa, ca = ctx.spatial
    if len(x) != 4 or b < 1 or x[ca] % (b * b):
        raise ValueError(f"DepthToSpace node {ctx.node!r}: needs a 4-D input whose channels "
                         f"({x[ca] if len(x) == 4 else x}) divide by blocksize^2 = {b * b}")
    out = list(x)
    out[ca], out[ha], out[wa] = x[ca] // (b * b), x[ha] * b, x[wa] * b
    return [tuple(out)]


def _space_to_depth_shape(ins, a, ctx: ShapeContext):
    x, b = ins[0], int(a["blocksize"])
    ha, wa, ca = ctx.spatial
    if len(x) != 4 or b < 1 or x[ha] % b or x[wa] % b:
        raise ValueError(f"SpaceToDepth node {ctx.node!r}: needs a 4-D input whose height and "
                         f"width divide by blocksize {b}, got {x}")
    out = list(x)
    out[ca], out[ha], out[wa] = x[ca] * b * b, x[ha] // b, x[wa] // b
    return [tuple(out)]


# -- attribute checks (validate.py) ------------------------------------------------------------
def _check_perm(a, n_in: int, n_out: int) -> str:
    if a.get("perm"):
        perm = [int(p) for p in a["perm"]]
        if sorted(perm) != list(range(len(perm))):
            return f"attribute 'perm' {tuple(perm)} is not a permutation"
    return ""


def _check_sizes(a, n_in: int, n_out: int) -> str:
    if a.get("sizes") and len(a["sizes"]) != n_out:
        return f"{len(a['sizes'])} split sizes but {n_out} outputs"
    return ""


def _check_block_move(a, n_in: int, n_out: int) -> str:
    if int(a.get("blocksize", 1)) < 1 or a.get("mode", "DCR") not in ("DCR", "CRD"):
        return (f"blocksize {a.get('blocksize')!r} must be >= 1 and mode {a.get('mode')!r} "
                "DCR or CRD")
    return ""


# -- float32 references (NHWC) -----------------------------------------------------------------
def _batch_fixed(target: list[int], size: int) -> list[int]:
    """Shapes were resolved for the import-time batch; another batch size changes dim 0."""
    if int(np.prod(target)) != size and target:
        target = [-1] + list(target[1:])
    return target


def reshape(ins, a, shapes):
    x = ins[0]
    return [x.reshape(_batch_fixed(list(a["shape"]), x.size))]


def transpose(ins, a, shapes):
    return [np.ascontiguousarray(np.transpose(ins[0], a["perm"]))]


def concat(ins, a, shapes):
    arrs = [np.asarray(v) for v in ins]
    if arrs[0].ndim:
        # a constant operand keeps its import-time batch; broadcast it along dim 0
        n = max(v.shape[0] for v in arrs)
        if int(a["axis"]) != 0:
            arrs = [np.broadcast_to(v, (n,) + v.shape[1:]) if v.shape[0] == 1 else v
                    for v in arrs]
    return [np.concatenate(arrs, axis=int(a["axis"]))]


def split(ins, a, shapes):
    idx = np.cumsum(a["sizes"])[:-1]
    return [np.ascontiguousarray(p) for p in np.split(ins[0], idx, axis=int(a["axis"]))]


def slice_(ins, a, shapes):
    x = ins[0]
    in_shape, out_shape = shapes.inputs[0], shapes.outputs[0]
    sl = []
    for ax, (start, step) in enumerate(zip(a["starts"], a["steps"])):
        n_out = out_shape[ax]
        if start == 0 and step == 1 and in_shape[ax] == n_out:
            sl.append(slice(None))  # whole axis: also right for another batch size
            continue
        stop = start + step * n_out
        sl.append(slice(start, stop if stop >= 0 else None, step))
    return [np.ascontiguousarray(x[tuple(sl)])]


def pad(ins, a, shapes):
    x = ins[0]
    p = list(a["pads"])
    nd = x.ndim
    width = [(p[i], p[i + nd]) for i in range(nd)]
    mode = a["mode"]
    if mode == "constant":
        return [np.pad(x, width, constant_values=a["value"])]
    return [np.pad(x, width, mode={"reflect": "reflect", "edge": "edge"}[mode])]


def _source_coords(n_out: int, n_in: int, scale: float, mode: str) -> np.ndarray:
    o = np.arange(n_out, dtype=np.float64)
    if mode == "half_pixel":
        return (o + 0.5) / scale - 0.5
    if mode == "pytorch_half_pixel":
        return (o + 0.5) / scale - 0.5 if n_out > 1 else np.zeros(n_out)
    if mode == "align_corners":
        return o * (n_in - 1) / (n_out - 1) if n_out > 1 else np.zeros(n_out)
    if mode == "asymmetric":
        return o / scale
    if mode == "tf_half_pixel_for_nn":
        return (o + 0.5) / scale
    raise ValueError(f"unsupported coordinate_transformation_mode {mode!r}")


def nearest_index(n_out: int, n_in: int, scale: float, ctm: str, nearest: str) -> np.ndarray:
    c = _source_coords(n_out, n_in, scale, ctm)
    if nearest == "round_prefer_floor":
        i = np.where(c - np.floor(c) == 0.5, np.floor(c), np.round(c))
    elif nearest == "round_prefer_ceil":
        i = np.where(c - np.floor(c) == 0.5, np.ceil(c), np.round(c))
    elif nearest == "floor":
        i = np.floor(c)
    elif nearest == "ceil":
        i = np.ceil(c)
    else:
        raise ValueError(f"unsupported nearest_mode {nearest!r}")
    return np.clip(i, 0, n_in - 1).astype(np.int64)


def linear_taps(n_out: int, n_in: int, scale: float, ctm: str):
    """(lo, hi, frac) per output coordinate; ONNX Runtime clamps the source coordinate into
    [0, n_in - 1] before splitting it."""
    c = np.clip(_source_coords(n_out, n_in, scale, ctm), 0, n_in - 1)
    lo = np.floor(c).astype(np.int64)
    hi = np.minimum(lo + 1, n_in - 1)
    return lo, hi, (c - lo)


def resize(ins, a, shapes):
    x = ins[0]
    _, h, w, _ = x.shape
    oh, ow = a["size"]
    sh, sw = a.get("scales") or (oh / h, ow / w)
    ctm = a["coordinate_transformation_mode"]
    if a["mode"] == "nearest":
        iy = nearest_index(oh, h, sh, ctm, a["nearest_mode"])
        ix = nearest_index(ow, w, sw, ctm, a["nearest_mode"])
        return [np.ascontiguousarray(x[:, iy][:, :, ix])]
    y0, y1, fy = linear_taps(oh, h, sh, ctm)
    x0, x1, fx = linear_taps(ow, w, sw, ctm)
    fy = fy.astype(F32)[None, :, None, None]
    fx = fx.astype(F32)[None, None, :, None]
    t = x[:, y0] * (1 - fy) + x[:, y1] * fy
    return [np.ascontiguousarray(t[:, :, x0] * (1 - fx) + t[:, :, x1] * fx, F32)]


def _depth_to_space_move(shape, b: int, mode: str):
    """DepthToSpace of NHWC `shape` as one transpose: (the 6-D view of the input, perm). ONNX
    numbers the input channel of output pixel (h*b + i, w*b + j), channel k, as
    (i*b + j)*C' + k in DCR mode and k*b*b + i*b + j in CRD mode (C' = C / b^2): the channel
    axis splits into (i, j, k), resp. (k, i, j), and i, j move next to h, w."""
    n, h, w, c = shape
    if mode == "DCR":
        return (n, h, w, b, b, c // (b * b)), (0, 1, 3, 2, 4, 5)
    return (n, h, w, c // (b * b), b, b), (0, 1, 4, 2, 5, 3)


def depth_to_space(ins, a, shapes):
    x, b = ins[0], int(a["blocksize"])
    n, h, w, c = x.shape
    view, perm = _depth_to_space_move(x.shape, b, a["mode"])
    return [np.ascontiguousarray(x.reshape(view).transpose(perm)).reshape(
        n, h * b, w * b, c // (b * b))]


def _space_to_depth_move(shape, b: int, mode: str):
    """SpaceToDepth of NHWC `shape` as one transpose: (the 6-D view of the input, perm). ONNX
    puts input pixel (h*b + i, w*b + j), channel k, at output channel (i*b + j)*C + k in DCR
    mode (the default) and k*b*b + i*b + j in CRD mode (opset 28): i, j move from beside h, w
    to before, resp. after, the channel axis."""
    n, h, w, c = shape
    if mode == "DCR":
        return (n, h // b, b, w // b, b, c), (0, 1, 3, 2, 4, 5)
    return (n, h // b, b, w // b, b, c), (0, 1, 3, 5, 2, 4)


def space_to_depth(ins, a, shapes):
    x, b = ins[0], int(a["blocksize"])
    n, h, w, c = x.shape
    view, perm = _space_to_depth_move(x.shape, b, a["mode"])
    return [np.ascontiguousarray(x.reshape(view).transpose(perm)).reshape(
        n, h // b, w // b, c * b * b)]


# -- lowering ----------------------------------------------------------------------------------
def lower_reshape(lw, node) -> None:
    x, y = node.inputs[0], node.outputs[0]
    src = lw.same_params(node, x, y)
    lw.check_same_size(node, x, y)
    lw.emit(node, "copy", [src], [y], {"nbytes": lw.buffers[y].nbytes})


def lower_transpose(lw, node) -> None:
    (x,), (y,) = node.inputs, node.outputs
    src = lw.same_params(node, x, y)
    shape = lw.shape(x)
    perm = tuple(int(p) for p in node.attrs["perm"])
    if sorted(perm) != list(range(len(shape))) or lw.shape(y) != tuple(shape[p] for p in perm):
        lw.fail(node, f"perm {perm} does not map {shape} to {lw.shape(y)}")
    lw.emit(node, "transpose", [src], [y], {"shape": shape, "perm": perm})


def lower_slice(lw, node) -> None:
    x, y = node.inputs[0], node.outputs[0]
    src = lw.same_params(node, x, y)
    rank = len(lw.shape(x))
    starts, steps = tuple(node.attrs["starts"]), tuple(node.attrs["steps"])
    # the plan negates a negative step: -INT64_MIN overflows, so keep steps to int32 magnitude
    if len(starts) != rank or len(steps) != rank or len(lw.shape(y)) != rank or any(
            st == 0 or abs(st) > INT32_MAX for st in steps):
        lw.fail(node, f"starts {starts} / steps {steps} need one entry per axis of rank {rank} "
                    f"and steps non-zero within int32")
    lw.emit(node, "slice", [src], [y],
            {"in_shape": lw.shape(x), "start": tuple(node.attrs["starts"]),
             "step": tuple(node.attrs["steps"]), "out_shape": lw.shape(y)})


def lower_split(lw, node) -> None:
    x = node.inputs[0]
    shape = lw.shape(x)
    axis = lw.check_axis(node, int(node.attrs["axis"]), len(shape))
    offset = 0
    for y in node.outputs:
        src = lw.same_params(node, x, y)
        out_shape = lw.shape(y)
        start = [0] * len(shape)
        start[axis] = offset
        offset += out_shape[axis]
        lw.emit(node, "slice", [src], [y],
                {"in_shape": shape, "start": tuple(start), "step": (1,) * len(shape),
                 "out_shape": out_shape})


def lower_pad(lw, node) -> None:
    x, y = node.inputs[0], node.outputs[0]
    src = lw.same_params(node, x, y)
    shape = lw.shape(x)
    pads = tuple(int(p) for p in node.attrs["pads"])
    nd = len(shape)
    mode = {"constant": 0, "reflect": 1, "edge": 2}[node.attrs.get("mode", "constant")]
    value = float(node.attrs.get("value", 0.0))
    t = lw.g.tensor(y)  # the pad value is quantized with the output's parameters
    if t.qparams is not None:
        s, z = t.qparams.scalar()
        v = np.array([min(127, max(-128, round(value / s) + z))], np.int8)
    else:
        v = np.array([value], np.dtype(t.dtype))
    lw.emit(node, "pad", [src], [y], {"in_shape": shape, "pad_before": pads[:nd],
                                    "pad_after": pads[nd:], "mode": mode}, {"value": v})


def lower_concat(lw, node) -> None:
    (y,) = node.outputs
    out_shape = lw.shape(y)
    axis = lw.check_axis(node, int(node.attrs["axis"]), len(out_shape))
    shapes = [lw.shape(x) for x in node.inputs]
    if any(len(s) != len(out_shape) or s[:axis] != out_shape[:axis]
           or s[axis + 1:] != out_shape[axis + 1:] for s in shapes) or \
            sum(s[axis] for s in shapes) != out_shape[axis]:
        lw.fail(node, f"inputs {shapes} do not concatenate to {out_shape} along axis {axis}")
    rows = math.prod(out_shape[:axis])
    y_stride = math.prod(out_shape[axis:])
    sy, zy = lw.qp(y)
    offset = 0
    for x in node.inputs:
        lw.expect_int8(node, x, y)
        sx, zx = lw.qp(x)
        cols = math.prod(lw.shape(x)[axis:])
        src = lw.const_buffer(node, x) if lw.g.tensor(x).is_const else x
        lw.emit(node, "requant_copy", [src], [y],
                {"rows": rows, "cols": cols, "x_stride": cols, "y_stride": y_stride, "x_offset": 0,
                 "y_offset": offset, "x_zp": zx, "y_zp": zy,
                 "mult": float(kt.requant_mult(sx, sy))})
        offset += cols


def lower_resize(lw, node) -> None:
    x, y = node.inputs[0], node.outputs[0]
    lw.expect_int8(node, x, y)
    n, h, w_, c = lw.shape(x)
    _, oh, ow, _ = lw.shape(y)
    a = node.attrs
    ctm = a.get("coordinate_transformation_mode", "half_pixel")
    sh, sw = a.get("scales") or (None, None)  # explicit ONNX scales decide the source coords
    if a.get("size_rule") in ("like", "fixed", "unknown"):
        # sizes given: ONNX takes scale = out / in (the frontend stored it for the import size)
        sh, sw = oh / h, ow / w_
    if a.get("mode", "nearest") == "nearest":
        src = lw.same_params(node, x, y)
        nm = a.get("nearest_mode", "round_prefer_floor")
        iy = kt.resize_nearest_map(h, oh, sh, ctm, nm)
        ix = kt.resize_nearest_map(w_, ow, sw, ctm, nm)
        lw.emit(node, "resize_nearest", [src], [y],
                {"n": n, "h": h, "w": w_, "c": c, "oh": oh, "ow": ow}, {"iy": iy, "ix": ix})
    else:
        y0, y1, fy = kt.resize_linear_map(h, oh, sh, ctm)
        x0, x1, fx = kt.resize_linear_map(w_, ow, sw, ctm)
        (sx, zx), (sy, zy) = lw.qp(x), lw.qp(y)
        mult = float(kt.bilinear_mult(sx, sy))
        lw.emit(node, "resize_bilinear", [x], [y],
                {"n": n, "h": h, "w": w_, "c": c, "oh": oh, "ow": ow, "x_zp": zx, "y_zp": zy,
                 "mult": mult},
                {"y0": y0, "y1": y1, "fy": fy, "x0": x0, "x1": x1, "fx": fx})



def lower_depth_to_space(lw, node) -> None:
    (x,), (y,) = node.inputs, node.outputs
    src = lw.same_params(node, x, y)
    n, h, w, c = lw.rank(node, x, 4)
    b, mode = int(node.attrs["blocksize"]), node.attrs.get("mode", "DCR")
    if b < 1 or c % (b * b) or lw.shape(y) != (n, h * b, w * b, c // (b * b)) or mode not in (
            "DCR", "CRD"):
        lw.fail(node, f"blocksize {b} / mode {mode!r} do not map {lw.shape(x)} to "
                      f"{lw.shape(y)}")
    view, perm = _depth_to_space_move((n, h, w, c), b, mode)
    lw.emit(node, "transpose", [src], [y], {"shape": view, "perm": perm})


def lower_space_to_depth(lw, node) -> None:
    (x,), (y,) = node.inputs, node.outputs
    src = lw.same_params(node, x, y)
    n, h, w, c = lw.rank(node, x, 4)
    b, mode = int(node.attrs["blocksize"]), node.attrs.get("mode", "DCR")
    if b < 1 or h % b or w % b or lw.shape(y) != (n, h // b, w // b, c * b * b) or mode not in (
            "DCR", "CRD"):
        lw.fail(node, f"blocksize {b} / mode {mode!r} do not map {lw.shape(x)} to "
                      f"{lw.shape(y)}")
    view, perm = _space_to_depth_move((n, h, w, c), b, mode)
    lw.emit(node, "transpose", [src], [y], {"shape": view, "perm": perm})


_ONE = (1, 1, 1, 1)

OPS = [
    OpSchema("Reshape", "row-major reshape to attribute `shape` (fully resolved ints)",
             {"shape": ()}, out_qparams="same", arity=_ONE, shape=_reshape_shape,
             layout="custom", reference=reshape, lower=lower_reshape, lower_f32=lower_reshape),
    OpSchema("Transpose", "permute axes", {"perm": ()}, out_qparams="same", arity=_ONE,
             shape=_transpose_shape, layout="custom", check=_check_perm, reference=transpose,
             lower=lower_transpose, lower_f32=lower_transpose),
    OpSchema("Concat", "join along `axis` (int8 inputs are requantized to the output's "
             "parameters)", {"axis": 0}, arity=(1, None, 1, 1), shape=_concat_shape,
             layout="custom", reference=concat, lower=lower_concat),
    OpSchema("Split", "split along `axis` into pieces of `sizes`", {"axis": 0, "sizes": ()},
             out_qparams="same", arity=(1, 1, 1, None), shape=_split_shape, layout="custom",
             check=_check_sizes, reference=split, lower=lower_split, lower_f32=lower_split),
    OpSchema("Slice", "per-axis start/step over every axis (resolved), output shape known",
             {"starts": (), "steps": ()}, out_qparams="same", arity=_ONE, shape=_slice_shape,
             layout="custom", recorded_shape=True, reference=slice_, lower=lower_slice,
             lower_f32=lower_slice),
    OpSchema("Pad", "pad every axis; mode constant|reflect|edge",
             {"pads": (), "mode": "constant", "value": 0.0}, out_qparams="same", arity=_ONE,
             shape=_pad_shape, layout="custom", reference=pad, lower=lower_pad,
             lower_f32=lower_pad),
    OpSchema("Resize", "spatial resize of NHWC; mode nearest|linear with ONNX coordinate "
             "transformation and nearest modes",
             {"size": (1, 1), "scales": None, "mode": "nearest",
              "coordinate_transformation_mode": "half_pixel",
              "nearest_mode": "round_prefer_floor"},
             arity=_ONE, shape=_resize_shape, layout="spatial", reference=resize,
             lower=lower_resize),
    OpSchema("DepthToSpace", "channels to blocksize x blocksize pixels (pixel shuffle), "
             "mode DCR|CRD: [N,H,W,C] -> [N,H*b,W*b,C/b^2]", {"blocksize": 1, "mode": "DCR"},
             out_qparams="same", onnx=True, arity=_ONE, shape=_depth_to_space_shape,
             layout="spatial", check=_check_block_move, reference=depth_to_space,
             lower=lower_depth_to_space, lower_f32=lower_depth_to_space),
    OpSchema("SpaceToDepth", "blocksize x blocksize pixels to channels (the inverse of "
             "DepthToSpace), mode DCR|CRD: [N,H,W,C] -> [N,H/b,W/b,C*b^2]",
             {"blocksize": 1, "mode": "DCR"}, out_qparams="same", onnx=True, arity=_ONE,
             shape=_space_to_depth_shape, layout="spatial", check=_check_block_move,
             reference=space_to_depth, lower=lower_space_to_depth,
             lower_f32=lower_space_to_depth),
]
