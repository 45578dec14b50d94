"""Activation fusion: Relu / Clip after Conv, Gemm, Add, Sub or Mul becomes the producer's
`clip` attribute (real-valued bounds), when the producer's output has no other reader.

Consecutive clamps compose: clip(clip(x, a, b), c, d) = clip(x, max(a, c), min(b, d)) whenever
the two ranges overlap, so Relu followed by Clip(0, 6) fuses too.
"""

from __future__ import annotations

import math

from int8rt import ir, opset

PRODUCERS = opset.CLAMPED_OPS  # the ops with a fused output clamp (their `clip` attribute)


def _bounds(node: ir.Node) -> tuple[float, float] | None:
    if node.op == "Relu":
        return (0.0, math.inf)
    if node.op == "Clip":
        return (float(node.attrs.get("min", -math.inf)), float(node.attrs.get("max", math.inf)))
    return None


def fuse_activations(graph: ir.Graph) -> ir.Graph:
    # a tensor a QDQ source quantizes between producer and activation keeps its rounding
    keep = set(graph.meta.get("keep_tensors", ()))
    changed = True
    while changed:
        changed = False
        users = graph.consumers()
        for p in graph.nodes:
            if p.op not in PRODUCERS or p.outputs[0] in graph.outputs or p.outputs[0] in keep:
                continue
            readers = users.get(p.outputs[0], [])
            if len(readers) != 1 or _bounds(readers[0]) is None:
                continue
            act = readers[0]
            lo, hi = _bounds(act)
            lo0, hi0 = p.attrs.get("clip", (-math.inf, math.inf))
            new = (max(lo0, lo), min(hi0, hi))
            if new[0] > new[1]:
                continue
            p.attrs["clip"] = new
            p.outputs = list(act.outputs)
            graph.nodes.remove(act)
            changed = True
            break
    return graph
