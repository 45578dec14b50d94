"""Pooling ops, each declared whole: schema, shape rule, float32 reference and lowering to plan
records (int8rt/records.py: maxpool, avgpool, global_avgpool, reduce). NHWC after the layout
pass; the shape rules also run on the imported NCHW graph (ShapeContext.spatial)."""

from __future__ import annotations

import numpy as np

from int8rt import kernel_tables as kt
from int8rt.reference.windows import out_size, pad_nhwc, taps

from .schema import OpSchema, ShapeContext

F32 = np.float32


# -- shape -------------------------------------------------------------------------------------
def window(n: int, k: int, s: int, d: int, p0: int, p1: int) -> int:
    """Output size of a sliding window (convolution, pooling), refusing impossible geometry."""
    if k < 1 or s < 1 or d < 1 or p0 < 0 or p1 < 0:
        raise ValueError(f"shape inference: window kernel {k}, stride {s}, dilation {d} must "
                         f"be >= 1 and pads ({p0}, {p1}) >= 0")
    out = (n + p0 + p1 - d * (k - 1) - 1) // s + 1
    if out < 1:  # the dilated kernel is larger than the padded input
        raise ValueError(f"shape inference: window of {k} (dilation {d}) does not fit an input "
                         f"of {n} padded by ({p0}, {p1})")
    return out


def _pool_shape(ins, a, ctx: ShapeContext):
    x = ins[0]
    ha, wa, _ = ctx.spatial
    pads, strides = a.get("pads", (0, 0, 0, 0)), a.get("strides", (1, 1))
    dil, kernel = a.get("dilations", (1, 1)), a["kernel"]
    out = list(x)
    for k, ax in enumerate((ha, wa)):
        out[ax] = window(x[ax], kernel[k], strides[k], dil[k], pads[k], pads[k + 2])
    return [tuple(out)]


def _global_shape(ins, a, ctx: ShapeContext):
    ha, wa, _ = ctx.spatial
    out = list(ins[0])
    out[ha] = out[wa] = 1
    return [tuple(out)]


# -- float32 reference (NHWC) ------------------------------------------------------------------
def _pool_geometry(x: np.ndarray, a):
    kh, kw = a["kernel"]
    (sh, sw), pads = a["strides"], a["pads"]
    dh, dw = a.get("dilations", (1, 1))
    oh = out_size(x.shape[1], kh, sh, dh, pads[0], pads[2])
    ow = out_size(x.shape[2], kw, sw, dw, pads[1], pads[3])
    return kh, kw, (sh, sw), (dh, dw), pads, oh, ow


def maxpool(ins, a, shapes):
    x = ins[0]
    kh, kw, s, d, pads, oh, ow = _pool_geometry(x, a)
    xp = pad_nhwc(x, pads, -np.inf)
    y = None
    for _, _, v in taps(xp, kh, kw, s, d, oh, ow):
        y = v.copy() if y is None else np.maximum(y, v, out=y)
    return [y]


def averagepool(ins, a, shapes):
    x = ins[0]
    kh, kw, s, d, pads, oh, ow = _pool_geometry(x, a)
    xp = pad_nhwc(x, pads)
    y = np.zeros((x.shape[0], oh, ow, x.shape[3]), F32)
    for _, _, v in taps(xp, kh, kw, s, d, oh, ow):
        y += v
    if a["count_include_pad"]:
        y /= F32(kh * kw)
    else:
        ones = pad_nhwc(np.ones((1,) + x.shape[1:3] + (1,), F32), pads)
        cnt = np.zeros((1, oh, ow, 1), F32)
        for _, _, v in taps(ones, kh, kw, s, d, oh, ow):
            cnt += v
        y /= cnt
    return [y]


def global_averagepool(ins, a, shapes):
    return [ins[0].mean(axis=(1, 2), keepdims=True, dtype=F32)]


# -- lowering ----------------------------------------------------------------------------------
def _pool_params(lw, node, x: str, y: str) -> dict:
    a = node.attrs
    if len(a.get("kernel", ())) != 2:
        lw.fail(node, f"kernel {a.get('kernel')!r} must be (kh, kw)")
    kh, kw = (int(k) for k in a["kernel"])
    lw.check_window(node, x, y, kh, kw, None)
    n, h, w_, c = lw.shape(x)
    _, oh, ow, _ = lw.shape(y)
    (sh, sw), (dh, dw) = a.get("strides", (1, 1)), a.get("dilations", (1, 1))
    pt, pl, _, _ = a.get("pads", (0, 0, 0, 0))
    (_, zx), (_, zy) = lw.qp(x), lw.qp(y)
    return {"n": n, "h": h, "w": w_, "c": c, "oh": oh, "ow": ow, "kh": kh, "kw": kw,
            "stride_h": sh, "stride_w": sw, "dil_h": dh, "dil_w": dw, "pad_t": pt, "pad_l": pl,
            "count_include_pad": int(a.get("count_include_pad", 0)), "x_zp": zx, "y_zp": zy,
            "qmin": -128, "qmax": 127}


def lower_maxpool(lw, node) -> None:
    x, y = node.inputs[0], node.outputs[0]
    lw.expect_int8(node, x, y)
    # max commutes with the affine map only for equal parameters: requantize first if needed
    src = lw.same_params(node, x, y)
    p = _pool_params(lw, node, x, y)
    p["x_zp"] = p["y_zp"]  # src holds y's parameters (equal to x's unless requantized)
    lw.emit(node, "maxpool", [src], [y], p)


def lower_avgpool(lw, node) -> None:
    x, y = node.inputs[0], node.outputs[0]
    lw.expect_int8(node, x, y)
    p = _pool_params(lw, node, x, y)
    mults = kt.avgpool_mults(lw.qp(x)[0], lw.qp(y)[0], p["kh"], p["kw"])
    lw.emit(node, "avgpool", [x], [y], p, {"mult_by_count": mults})


def lower_global_avgpool(lw, node) -> None:
    (x,), (y,) = node.inputs, node.outputs
    lw.expect_int8(node, x, y)
    n, h, w_, c = lw.rank(node, x, 4)
    if lw.shape(y) != (n, 1, 1, c) or h * w_ < 1:
        lw.fail(node, f"output {y!r} {lw.shape(y)} is not (N, 1, 1, C) of a non-empty "
                      f"{(n, h, w_, c)}")
    (sx, zx), (sy, zy) = lw.qp(x), lw.qp(y)
    mult = float(kt.global_avgpool_mult(sx, sy, h * w_))
    lw.emit(node, "global_avgpool", [x], [y],
            {"n": n, "hw": h * w_, "c": c, "x_zp": zx, "y_zp": zy, "mult": mult, "qmin": -128,
             "qmax": 127})


def lower_global_avgpool_f32(lw, node) -> None:
    (x,), (y,) = node.inputs, node.outputs
    n, h, w_, c = lw.rank(node, x, 4)
    if lw.shape(y) != (n, 1, 1, c):
        lw.fail(node, f"output {lw.shape(y)} is not {(n, 1, 1, c)}")
    # reduce op 1: the mean over the middle axis, accumulated in double (f32.h)
    lw.emit(node, "reduce", [x], [y], {"op": 1, "outer": n, "r": h * w_, "inner": c})


_ONE = (1, 1, 1, 1)

OPS = [
    OpSchema("MaxPool", "max pooling, NHWC",
             {"kernel": (1, 1), "strides": (1, 1), "pads": (0, 0, 0, 0), "dilations": (1, 1)},
             out_qparams="same", arity=_ONE, shape=_pool_shape, layout="spatial",
             reference=maxpool, lower=lower_maxpool),
    OpSchema("AveragePool", "average pooling, NHWC",
             {"kernel": (1, 1), "strides": (1, 1), "pads": (0, 0, 0, 0),
              "count_include_pad": 0},
             arity=_ONE, shape=_pool_shape, layout="spatial", reference=averagepool,
             lower=lower_avgpool),
    OpSchema("GlobalAveragePool", "mean over H and W: [N,H,W,C] -> [N,1,1,C]",
             arity=_ONE, shape=_global_shape, layout="spatial", reference=global_averagepool,
             lower=lower_global_avgpool, lower_f32=lower_global_avgpool_f32),
]
