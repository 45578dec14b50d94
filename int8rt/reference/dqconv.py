"""Numpy references of the convolution and pooling ops the dynamic (ONNX-layout) path runs:
float `Conv` and `MaxPool` (NCHW, as ONNX), and `DynQConv`, bit-exact with the native
`dq_conv` record (csrc/include/int8rt/dqconv.h states the arithmetic): int8 weights per output
channel, int8 activations with a calibrated (static, attribute `amax` > 0) or per-image
(dynamic) scale, int32 accumulation, float32 epilogue.
"""

from __future__ import annotations

import math

import numpy as np

from .dynq import TINY_AMAX, quantize_weight_per_channel
from .onnx_ops import OPS

F32 = np.float32


def conv_geometry(x_shape: tuple[int, ...], w_shape: tuple[int, ...], attrs: dict,
                  where: str = "") -> dict:
    """Sizes and padding of a 2-D ONNX Conv / pooling window over NCHW `x_shape`; w_shape is
    [M, C, KH, KW] (pooling: (C, C, kh, kw)). Refuses what the kernels do not do."""
    if len(x_shape) != 4 or len(w_shape) != 4:
        raise ValueError(f"Conv{where}: 2-D NCHW only (input {tuple(x_shape)})")
    n, c, h, w = (int(v) for v in x_shape)
    m, cw, kh, kw = (int(v) for v in w_shape)
    if int(attrs.get("group", 1)) != 1:
        raise ValueError(f"Conv{where}: group {attrs.get('group')} is not supported (group 1 "
                         "only)")
    if cw != c:
        raise ValueError(f"Conv{where}: weights take {cw} channels, input has {c}")
    sh, sw = (int(v) for v in attrs.get("strides", (1, 1)))
    dh, dw = (int(v) for v in attrs.get("dilations", (1, 1)))
    pads = [int(v) for v in attrs.get("pads", (0, 0, 0, 0))]
    auto = attrs.get("auto_pad", "NOTSET")
    if auto in ("SAME_UPPER", "SAME_LOWER"):
        pads = []
        for size, k, s, d in ((h, kh, sh, dh), (w, kw, sw, dw)):
            total = max((math.ceil(size / s) - 1) * s + (k - 1) * d + 1 - size, 0)
            small = total // 2
            pads.append((small, total - small) if auto == "SAME_UPPER" else
                        (total - small, small))
        pads = [pads[0][0], pads[1][0], pads[0][1], pads[1][1]]
    elif auto == "VALID":
        pads = [0, 0, 0, 0]
    elif auto != "NOTSET":
        raise ValueError(f"Conv{where}: auto_pad {auto!r}")
    pt, pl, pb, pr = pads
    oh = (h + pt + pb - dh * (kh - 1) - 1) // sh + 1
    ow = (w + pl + pr - dw * (kw - 1) - 1) // sw + 1
    if oh < 1 or ow < 1:
        raise ValueError(f"Conv{where}: window larger than the padded input")
    return {"n": n, "c": c, "h": h, "w": w, "m": m, "kh": kh, "kw": kw, "oh": oh, "ow": ow,
            "stride_h": sh, "stride_w": sw, "dil_h": dh, "dil_w": dw, "pad_t": pt,
            "pad_l": pl, "pad_b": pb, "pad_r": pr}


def im2col(x: np.ndarray, g: dict, fill=0) -> np.ndarray:
    """x [C, H, W] -> [OH*OW, C*KH*KW], columns in W's (c, ky, kx) order; `fill` outside."""
    c, h, w = x.shape
    xp = np.full((c, h + g["pad_t"] + g["pad_b"] + g["stride_h"] * g["oh"],
                  w + g["pad_l"] + g["pad_r"] + g["stride_w"] * g["ow"]), fill, x.dtype)
    xp[:, g["pad_t"]:g["pad_t"] + h, g["pad_l"]:g["pad_l"] + w] = x
    cols = np.empty((g["oh"], g["ow"], c, g["kh"], g["kw"]), x.dtype)
    for ky in range(g["kh"]):
        for kx in range(g["kw"]):
            y0, x0 = ky * g["dil_h"], kx * g["dil_w"]
            cols[:, :, :, ky, kx] = xp[:, y0:y0 + g["stride_h"] * g["oh"]:g["stride_h"],
                                       x0:x0 + g["stride_w"] * g["ow"]:g["stride_w"]
                                       ].transpose(1, 2, 0)
    return cols.reshape(g["oh"] * g["ow"], -1)


def _conv(ins, attrs):
    x, wt = np.asarray(ins[0], F32), np.asarray(ins[1], F32)
    b = ins[2] if len(ins) > 2 and ins[2] is not None else None
    g = conv_geometry(x.shape, wt.shape, attrs)
    w2 = wt.reshape(g["m"], -1)
    out = np.stack([(im2col(x[i], g) @ w2.T).T for i in range(g["n"])])
    if b is not None:
        out = out + np.asarray(b, F32)[:, None]
    return [out.reshape(g["n"], g["m"], g["oh"], g["ow"]).astype(F32)]


def pool_geometry(x_shape: tuple[int, ...], attrs: dict, where: str = "") -> dict:
    if int(attrs.get("ceil_mode", 0)):
        raise ValueError(f"MaxPool{where}: ceil_mode 1 is not supported")
    if int(attrs.get("storage_order", 0)):
        raise ValueError(f"MaxPool{where}: storage_order 1 is not supported")
    kh, kw = (int(v) for v in attrs["kernel_shape"])
    c = int(x_shape[1]) if len(x_shape) == 4 else 0
    return conv_geometry(x_shape, (c, c, kh, kw), {**attrs, "group": 1}, where)


def _maxpool(ins, attrs):
    x = np.asarray(ins[0], F32)
    g = pool_geometry(x.shape, attrs)
    out = np.empty((g["n"], g["c"], g["oh"], g["ow"]), F32)
    for i in range(g["n"]):
        cols = im2col(x[i], g, fill=-np.inf).reshape(g["oh"], g["ow"], g["c"], -1)
        out[i] = cols.max(axis=-1).transpose(2, 0, 1)
    return [out]


def dqconv_image(x: np.ndarray, qw: np.ndarray, sw: np.ndarray, bias, g: dict,
                 amax_static: float) -> np.ndarray:
    """One image [C, H, W] -> [M, OH*OW], as the native dq_conv record."""
    amax = F32(amax_static) if amax_static > 0 else np.abs(x).max().astype(F32)
    if amax < TINY_AMAX:
        q, sa = np.zeros(x.shape, np.int8), F32(1)
    else:
        inv = (F32(127) / amax).astype(F32)
        q = np.clip(np.rint((x * inv).astype(F32)), -127, 127).astype(np.int8)
        sa = (amax / F32(127)).astype(F32)
    acc = im2col(q, g).astype(np.int32) @ qw.reshape(g["m"], -1).astype(np.int32).T
    t = (acc.astype(F32) * sw[None, :]).astype(F32)
    y = (t * sa).astype(F32)
    if bias is not None:
        y = (y + np.asarray(bias, F32)[None, :]).astype(F32)
    return y.T


def _dynq_conv(ins, attrs):
    x, qw, sw = np.asarray(ins[0], F32), np.asarray(ins[1]), np.asarray(ins[2], F32)
    b = ins[3] if len(ins) > 3 and ins[3] is not None else None
    g = conv_geometry(x.shape, qw.shape, attrs)
    amax = float(attrs.get("amax", 0.0))
    out = np.stack([dqconv_image(x[i], qw, sw, b, g, amax) for i in range(g["n"])])
    return [out.reshape(g["n"], g["m"], g["oh"], g["ow"])]


def quantize_conv_weight(w: np.ndarray, qmax: int = 127) -> tuple[np.ndarray, np.ndarray]:
    """ONNX W [M, C, KH, KW] -> (q int8 [M, C, KH, KW], s float32 [M]): symmetric per output
    channel (quantize_weight_per_channel over the flattened C·KH·KW, q in [-qmax, qmax])."""
    m = w.shape[0]
    q, s = quantize_weight_per_channel(np.ascontiguousarray(w.reshape(m, -1).T, F32), qmax)
    return q.reshape(w.shape), s


OPS["Conv"] = _conv
OPS["MaxPool"] = _maxpool
OPS["DynQConv"] = _dynq_conv
