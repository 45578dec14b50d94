"""Which image sizes a static int8 graph takes (docs/PLAN.md "Image size").

A static graph is calibrated and lowered at one input shape. Its image input's H / W may change
when the ONNX model left them symbolic (the frontend records them in meta["free_dims"]) or when
the user asks (`Session(..., free_image_size=True)`), provided every op follows the new size:

- windows (Conv, MaxPool, AveragePool) with explicit pads (not auto_pad SAME, not ceil_mode:
  their pads were resolved for the import size, `pads_for_size`);
- Resize whose size follows its input by scales or the H / W of another tensor (`size_rule`
  "scales" / "like", frontend/onnx.py), or is constant ("fixed");
- elementwise ops, Concat / Split / Softmax on a non-spatial axis, Pad, Transpose, GlobalAveragePool,
  Quantize / Dequantize; any op (Reshape, Gemm, Slice, ...) whose inputs no longer depend on
  H / W (after a global pool).

`analyze` walks the graph once, giving each axis of each tensor its dependence on the input's
H or W as a slope (a Fraction: 1/2 after a stride-2 conv, 2 after a x2 upsample). Sizes are
floor-affine in H: on a residue class H = r (mod S), S the lcm of every slope's denominator (the
graph's total stride), every size is affine in j = (H - r) / S. That is what lets one shape
template per (r_h, r_w) serve a whole class (int8rt/reshape.py StaticLowering).
"""

from __future__ import annotations

import bisect
import dataclasses
import math
from dataclasses import dataclass
from fractions import Fraction

import numpy as np

from . import ir, opset
from .passes.shape_inference import hw_axes, rebatch

# ops that map each axis of input 0 to the same axis of the output
_SAME_AXES = (set(opset.UNARY_OPS) | set(opset.FLOAT_UNARY_OPS) |
              {"Identity", "Quantize", "Dequantize", "BatchNormalization", "Clip", "Pad"})
_WINDOWS = ("Conv", "MaxPool", "AveragePool")


class FixedImageSize(ValueError):
    """The graph cannot run at another image size; the message says which node and why."""


@dataclass(frozen=True)
class FreeAxis:
    input: int       # index of the model input
    axis: int        # its axis (the input's own layout: NCHW for ONNX models)
    var: str         # "h" or "w"
    period: int      # S: sizes are affine in j on each residue class mod S
    minimum: int     # the smallest size the graph's windows fit (other axes at the base size)
    base: int        # the size the graph was lowered at


@dataclass(frozen=True)
class ImageSizes:
    axes: tuple[FreeAxis, ...]

    def describe(self) -> str:
        return ", ".join(f"{a.var.upper()} >= {a.minimum}" for a in self.axes)


def free_axes(graph: ir.Graph, free: bool | None) -> dict[str, list[int]]:
    """{input: axes that may change}: the dims the ONNX model left symbolic (free=None), H / W
    of every 4-D input (free=True), none (free=False)."""
    if free is False:
        return {}
    if free is None:  # any layout: NCHW's 2, 3 or an NHWC input's 1, 2 (the walk checks)
        meta = graph.meta.get("free_dims")
        return {k: sorted(int(a) for a in v if 1 <= int(a) <= 3)
                for k, v in (meta.items() if isinstance(meta, dict) else ())
                if k in graph.inputs and len(graph.tensor(k).shape) == 4}
    return {n: [2, 3] for n in graph.inputs if len(graph.tensor(n).shape) == 4}


def _dep_rank(graph: ir.Graph, name: str) -> int:
    return len(graph.tensor(name).shape)


def analyze(graph: ir.Graph, free: dict[str, list[int]]) -> ImageSizes:
    """The free axes with their period and minimum, or FixedImageSize naming the node that
    fixes the size."""
    free = {k: v for k, v in free.items() if v}
    if not free:
        raise FixedImageSize("the model leaves no image dimension free (its ONNX input has a "
                             "fixed H / W; Session(..., free_image_size=True) asks for any)")
    if len(free) > 1:
        raise FixedImageSize(f"{len(free)} inputs with a free image size (one supported)")
    (name, axes), = free.items()
    if graph.tensor(name).dtype != "float32":
        raise FixedImageSize(f"input {name!r} is not a float32 image")
    if len(axes) > 2:
        raise FixedImageSize(f"input {name!r} has {len(axes)} free dims besides the batch "
                             "(an image has two: H and W)")
    var_of = {a: "hw"[k] for k, a in enumerate(axes)}  # the first free axis is H
    Dep = tuple  # per axis: None (fixed) or (var, slope)
    deps: dict[str, Dep] = {}
    for n in graph.inputs:
        deps[n] = tuple(None for _ in graph.tensor(n).shape)
    deps[name] = tuple((var_of[a], Fraction(1)) if a in axes else None for a in range(4))
    slopes: dict[str, set[Fraction]] = {"h": set(), "w": set()}

    def dep(t: str) -> Dep:
        if t in deps:
            return deps[t]
        return tuple(None for _ in graph.tensor(t).shape)  # constants

    def fail(node: ir.Node, why: str):
        raise FixedImageSize(f"{node.op} node {node.name!r} {why}")

    for node in graph.topological():
        ins = [dep(i) for i in node.inputs if i]
        a, op = node.attrs, node.op
        outs = node.outputs
        if op == "Resize":
            ha, wa = hw_axes(graph, node.inputs[0])
            x = ins[0]
            if any(x[k] is not None for k in range(4) if k not in (ha, wa)):
                fail(node, "resizes an input whose batch / channel axis depends on H / W")
            rule = a.get("size_rule")
            out = list(x)
            oha, owa = hw_axes(graph, outs[0])
            if rule == "scales":
                for k, (src, dst) in enumerate(((ha, oha), (wa, owa))):
                    if x[src] is not None:
                        out[dst] = (x[src][0], x[src][1] * Fraction(float(np.float32(
                            a["scales"][k]))))
            elif rule == "like" and a.get("size_like") in graph.tensors:
                like = dep(a["size_like"])
                la, lw = hw_axes(graph, a["size_like"])
                out[oha], out[owa] = like[la], like[lw]
            elif rule == "fixed":
                out[oha] = out[owa] = None
            else:  # its size may follow a tensor that depends on H / W: not known how
                why = {None: "has a size recorded for the import size only (a graph from an "
                             "older int8rt: re-import the ONNX model)",
                       "unknown": "computes its output size from shapes in a way int8rt does "
                                  "not follow (only sizes taken from another tensor's "
                                  "Shape, or scales)",
                       "like": f"follows the size of {a.get('size_like')!r}, which the graph "
                               "no longer holds"}.get(rule, f"has size rule {rule!r}")
                fail(node, why)
            deps[outs[0]] = tuple(out)
        elif all(all(d is None for d in x) for x in ins):
            for o in outs:
                if o:
                    deps[o] = dep(o)
            continue
        elif op in _WINDOWS:
            if a.get("pads_for_size"):
                fail(node, f"has pads resolved for the import size ({a['pads_for_size']})")
            x = ins[0]
            if x[0] is not None or x[3] is not None:
                fail(node, "has a batch / channel axis that depends on H / W")
            sh, sw = a.get("strides", (1, 1))
            deps[outs[0]] = (None,
                             None if x[1] is None else (x[1][0], x[1][1] / int(sh)),
                             None if x[2] is None else (x[2][0], x[2][1] / int(sw)), None)
        elif op == "GlobalAveragePool":
            x = ins[0]
            deps[outs[0]] = (x[0], None, None, x[3])
        elif op in _SAME_AXES:
            deps[outs[0]] = ins[0]
        elif op in opset.BINARY_OPS:
            rank = _dep_rank(graph, outs[0])
            out = [None] * rank
            for i, x in zip(node.inputs, ins):
                shape = graph.tensor(i).shape
                for k, d in enumerate(x):
                    if d is None:
                        continue
                    j = rank - len(shape) + k
                    if out[j] is not None and out[j] != d:
                        fail(node, "adds / multiplies tensors whose sizes follow H / W "
                                   "differently")
                    out[j] = d
            deps[outs[0]] = tuple(out)
        elif op == "Transpose":
            deps[outs[0]] = tuple(ins[0][p] for p in a["perm"])
        elif op in ("Concat", "Split", "Softmax"):
            rank = len(ins[0])
            ax = int(a.get("axis", -1)) % rank
            if any(x[ax] is not None for x in ins):
                fail(node, "works along an axis that depends on H / W")
            first = ins[0]
            for x in ins[1:]:
                if x != first:
                    fail(node, "joins tensors whose sizes follow H / W differently")
            for o in outs:
                if o:
                    deps[o] = first
        else:
            fail(node, "needs a fixed size for an input that depends on H / W")
        for o in outs:
            for d in deps.get(o, ()):
                if d is not None:
                    slopes[d[0]].add(d[1])
    periods = {v: math.lcm(*[s.denominator for s in ss]) if ss else 1
               for v, ss in slopes.items()}
    index = graph.inputs.index(name)
    base = tuple(graph.tensor(name).shape)
    out = []
    for ax in axes:
        var = var_of[ax]
        out.append(FreeAxis(index, ax, var, periods[var], _minimum(graph, name, ax), base[ax]))
    return ImageSizes(tuple(out))


def shape_view(graph: ir.Graph) -> ir.Graph:
    """A copy whose shapes and node attributes may change, sharing the constants' data (so
    shape inference and lowering at a new size copy no weights)."""
    tensors = {n: dataclasses.replace(t, shape=tuple(t.shape)) for n, t in graph.tensors.items()}
    nodes = [dataclasses.replace(n, inputs=list(n.inputs), outputs=list(n.outputs),
                                 attrs=dict(n.attrs)) for n in graph.nodes]
    return ir.Graph(nodes, tensors, list(graph.inputs), list(graph.outputs), name=graph.name,
                    meta=dict(graph.meta))


def _minimum(graph: ir.Graph, name: str, axis: int) -> int:
    """The smallest size of `axis` at which every window still fits (the other axes at the
    base size): a window that fits an input fits every larger one, so a binary search."""
    base = tuple(graph.tensor(name).shape)

    def fits(n: int) -> bool:
        shape = list(base)
        shape[axis] = n
        try:
            rebatch(shape_view(graph), {name: tuple(shape)})
        except ValueError as e:
            # another mismatch (Concat, broadcast) is not a window failure
            return not ("does not fit" in str(e) or "must be" in str(e))
        return True

    return bisect.bisect_left(range(1, base[axis] + 1), True, key=fits) + 1


def at_size(graph: ir.Graph, shapes: dict[str, tuple[int, ...]]) -> ir.Graph:
    """A shape view of `graph` re-inferred at new input shapes (batch and image size), every
    Concat's joined inputs checked: a ValueError names the node that refuses the size."""
    g = rebatch(shape_view(graph), shapes)
    for node in g.nodes:
        if node.op == "Concat":
            sh = [tuple(g.tensor(i).shape) for i in node.inputs]
            ax = int(node.attrs.get("axis", 0)) % len(sh[0])
            rest = {s[:ax] + s[ax + 1:] for s in sh}
            if len(rest) > 1:
                raise ValueError(f"Concat node {node.name!r} cannot join {sh} at this input "
                                 "size")
    return g
