"""ConvTranspose lowering (NHWC, after the layout pass): zero insertion + a normal Conv.

A transposed convolution with stride s equals a stride-1 convolution, with the kernel flipped
spatially and its in/out channel roles swapped, over the input with s - 1 zeros inserted
between neighbouring pixels and padded by d*(k-1) - pad on each side (+ output_padding at the
end). The zero insertion uses data movement only, so int8 needs no new kernel:

    x [N,H,W,C] -Reshape-> [N,H,1,W,1,C] -Pad(after: s-1 on the unit axes)-> [N,H,s,W,s,C]
                -Reshape-> [N,H*s,W*s,C]

which leaves s - 1 trailing zeros per spatial axis; those count toward the end padding. The
remaining padding goes into the Conv's own `pads`; where it is negative (pads larger than
d*(k-1)) a Slice crops instead. Padding with zeros is exact in int8 too: Pad fills with the
zero point (§1: real 0 is representable).

When the kernel tiles the output without overlap (stride == kernel, no padding, dilation 1,
group 1: the 2x2 / stride 2 upsampling of segmentation heads such as DBNet's), every output
pixel is one input pixel times one kernel tap, so the whole op is a 1x1 Conv to kh*kw*OC
channels followed by a depth-to-space move:

    x -Conv 1x1-> [N,H,W,kh*kw*OC] -Reshape-> [N,H,W,kh,kw,OC] -Transpose(0,1,3,2,4,5)->
      [N,H,kh,W,kw,OC] -Reshape-> [N,H*kh,W*kw,OC]

the same real values without the kh*kw-fold zero-inserted input (in DBNet at 480x480 the zero
insertion and its 4x larger Conv took two thirds of the int8 run time).
"""

from __future__ import annotations

import numpy as np

from int8rt import ir
from int8rt.opset import NO_CLIP
from int8rt.passes.shape_inference import set_shapes


def _non_overlapping(graph: ir.Graph, n: ir.Node) -> bool:
    w = graph.const(n.inputs[1])
    return (int(n.attrs.get("group", 1)) == 1 and w is not None and
            tuple(n.attrs.get("strides", (1, 1))) == tuple(w.shape[2:]) and
            tuple(n.attrs.get("dilations", (1, 1))) == (1, 1) and
            not any(n.attrs.get("pads", (0, 0, 0, 0))) and
            not any(n.attrs.get("output_padding", (0, 0))))


def _lower(graph: ir.Graph, n: ir.Node) -> list[ir.Node]:
    new: list[ir.Node] = []

    def emit(op: str, inputs: list[str], attrs: dict, out: str | None = None,
             shape: tuple[int, ...] | None = None) -> str:
        out = out or graph.unique_name(f"{n.outputs[0]}_{op.lower()}")
        graph.tensors[out] = ir.Tensor(out, shape or (), "float32")
        node = ir.Node(op, graph.unique_name(f"{n.name}/{op}"), inputs, [out], attrs)
        new.append(node)
        graph.nodes.append(node)  # temporarily, so unique_name sees it
        set_shapes(graph, node)
        return out

    x = n.inputs[0]
    nb, h, wd, c = graph.tensor(x).shape
    w = graph.const(n.inputs[1])
    cin, ocg, kh, kw = w.shape
    if _non_overlapping(graph, n):
        # 1x1 conv weights [(a, b, o), c] = w[c, o, a, b]; bias repeated per tap
        w1 = w.transpose(2, 3, 1, 0).reshape(kh * kw * ocg, 1, 1, cin)
        ins = [x, graph.add_const(n.inputs[1] + "_s2d", np.ascontiguousarray(w1))]
        if len(n.inputs) > 2 and n.inputs[2]:
            b = graph.const(n.inputs[2]).reshape(ocg)
            ins.append(graph.add_const(n.inputs[2] + "_s2d", np.tile(b, kh * kw)))
        cur = emit("Conv", ins, {"strides": (1, 1), "dilations": (1, 1), "pads": (0, 0, 0, 0),
                                 "group": 1, "clip": NO_CLIP}, shape=(nb, h, wd, kh * kw * ocg))
        cur = emit("Reshape", [cur], {"shape": (nb, h, wd, kh, kw, ocg)})
        cur = emit("Transpose", [cur], {"perm": (0, 1, 3, 2, 4, 5)})
        emit("Reshape", [cur], {"shape": (nb, h * kh, wd * kw, ocg)}, out=n.outputs[0],
             shape=graph.tensor(n.outputs[0]).shape)
        return new
    g = int(n.attrs.get("group", 1))
    sh, sw = n.attrs.get("strides", (1, 1))
    dh, dw = n.attrs.get("dilations", (1, 1))
    t, l, b, r = n.attrs.get("pads", (0, 0, 0, 0))
    oph, opw = n.attrs.get("output_padding", (0, 0))
    cur = x
    if (sh, sw) != (1, 1):
        cur = emit("Reshape", [cur], {"shape": (nb, h, 1, wd, 1, c)})
        cur = emit("Pad", [cur], {"pads": (0,) * 6 + (0, 0, sh - 1, 0, sw - 1, 0),
                                  "mode": "constant", "value": 0.0})
        cur = emit("Reshape", [cur], {"shape": (nb, h * sh, wd * sw, c)})
    begin = [dh * (kh - 1) - t, dw * (kw - 1) - l]
    end = [dh * (kh - 1) - b + oph - (sh - 1), dw * (kw - 1) - r + opw - (sw - 1)]
    if min(begin + end) < 0:
        _, ch, cw, _ = graph.tensor(cur).shape
        oh = ch - max(-begin[0], 0) - max(-end[0], 0)
        ow = cw - max(-begin[1], 0) - max(-end[1], 0)
        cur = emit("Slice", [cur], {"starts": (0, max(-begin[0], 0), max(-begin[1], 0), 0),
                                    "steps": (1, 1, 1, 1)}, shape=(nb, oh, ow, c))
    cg = cin // g
    wc = w.reshape(g, cg, ocg, kh, kw)[:, :, :, ::-1, ::-1].transpose(0, 2, 3, 4, 1)
    wname = graph.add_const(n.inputs[1] + "_conv", wc.reshape(g * ocg, kh, kw, cg))
    ins = [cur, wname] + [i for i in n.inputs[2:3] if i]
    pads = (max(begin[0], 0), max(begin[1], 0), max(end[0], 0), max(end[1], 0))
    emit("Conv", ins, {"strides": (1, 1), "dilations": (dh, dw), "pads": pads, "group": g,
                       "clip": NO_CLIP}, out=n.outputs[0], shape=graph.tensor(n.outputs[0]).shape)
    return new


def lower_conv_transpose(graph: ir.Graph) -> ir.Graph:
    for n in [n for n in graph.nodes if n.op == "ConvTranspose"]:
        idx = graph.nodes.index(n)
        new = _lower(graph, n)
        for m in new:
            graph.nodes.remove(m)
        graph.nodes[idx:idx + 1] = new
    return graph
