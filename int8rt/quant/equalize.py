"""Cross-layer equalization (Nagel et al. 2019, "Data-Free Quantization Through Weight
Equalization and Bias Correction", §4.1) on the canonical float graph.

For two consecutive layers y = f(W1 x + b1), z = W2 y + b2 with f positively homogeneous
(identity or ReLU: f(x / s) = f(x) / s for s > 0), scaling output channel i of layer 1 by 1 / s_i
and input channel i of layer 2 by s_i leaves z unchanged. Choosing
s_i = sqrt(r1_i / r2_i), r1_i = max|W1[i, ...]| and r2_i = max|W2[:, ..., i]|, makes both ranges
sqrt(r1_i r2_i): channels whose weights were tiny next to the tensor-wide maximum (the usual
problem of depthwise convolutions after BN folding) gain resolution under per-tensor weights.
Iterated over all pairs until the scales settle.

Pairs: Conv -> Conv (plain or depthwise on either side) and Gemm -> Gemm, where the first
layer's output is read only by the second and is not a model output. A fused clip other than
none / ReLU (0, inf) — ReLU6's (0, 6) — is not positively homogeneous: relu6(x / s) differs from
relu6(x) / s, so such pairs are skipped, as the paper does (it replaces ReLU6 by ReLU, which
changes the model; we prefer not to change it silently).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from int8rt.ir import Graph, Node

_HOMOGENEOUS = {(-math.inf, math.inf), (0.0, math.inf)}


@dataclass
class EqualizedPair:
    first: str  # node names
    second: str
    scales: np.ndarray  # s_i of the last iteration (output channel i of `first` divided by s_i)


def _clip(node: Node) -> tuple[float, float]:
    lo, hi = node.attrs.get("clip", (-math.inf, math.inf))
    return float(lo), float(hi)


def _in_channel_view(node: Node, w: np.ndarray) -> tuple[str, int] | None:
    """How input channel i appears in `node`'s weights: ("plain", axis) for W[..., i] on `axis`,
    ("depthwise", mult) for rows [i*mult, (i+1)*mult); None if not supported."""
    if node.op == "Gemm":
        return ("plain", 1)
    groups = int(node.attrs.get("group", 1))
    if groups == 1:
        return ("plain", 3)
    if w.shape[3] == 1:  # depthwise: one input channel per group
        return ("depthwise", w.shape[0] // groups)
    return None


def _out_channel_ok(node: Node, w: np.ndarray) -> bool:
    # output channel i of a Conv / Gemm is row i of its weights for any groups
    return node.op in ("Conv", "Gemm")


def find_pairs(graph: Graph) -> list[tuple[Node, Node]]:
    consts = {t.name for t in graph.constants()}
    users = graph.consumers()
    outputs = set(graph.outputs)
    reads: dict[str, int] = {}
    for n in graph.nodes:
        for i in n.inputs:
            reads[i] = reads.get(i, 0) + 1

    def own(node: Node) -> bool:
        # rescaling a constant another node also reads would change that node too
        return all(reads.get(c, 0) == 1 for c in node.inputs[1:3] if c)

    pairs = []
    for n1 in graph.topological():
        if n1.op not in ("Conv", "Gemm") or _clip(n1) not in _HOMOGENEOUS:
            continue
        if n1.inputs[1] not in consts or (len(n1.inputs) > 2 and n1.inputs[2]
                                            and n1.inputs[2] not in consts):
            continue
        y = n1.outputs[0]
        u = users.get(y, [])
        if len(u) != 1 or y in outputs or u[0].op != n1.op or u[0].inputs[0] != y:
            continue
        n2 = u[0]
        if n2.inputs[1] not in consts or not own(n1) or not own(n2):
            continue
        w2 = graph.const(n2.inputs[1])
        if _in_channel_view(n2, w2) is None:
            continue
        pairs.append((n1, n2))
    return pairs


def _in_ranges(view: tuple[str, int], w2: np.ndarray, c: int) -> np.ndarray:
    kind, arg = view
    a = np.abs(w2.astype(np.float64))
    if kind == "plain":
        axes = tuple(i for i in range(a.ndim) if i != arg)
        return a.max(axis=axes)
    return a.reshape(c, arg, -1).max(axis=(1, 2))


def _scale_in(view: tuple[str, int], w2: np.ndarray, s: np.ndarray) -> np.ndarray:
    kind, arg = view
    if kind == "plain":
        shape = [1] * w2.ndim
        shape[arg] = s.size
        return w2 * s.reshape(shape)
    return w2 * np.repeat(s, arg).reshape(-1, *([1] * (w2.ndim - 1)))


def equalize(graph: Graph, iterations: int = 20, tol: float = 1e-4) -> list[EqualizedPair]:
    """Cross-layer equalization of `graph` in place; returns the pairs it rescaled. The float
    function is unchanged up to float rounding."""
    pairs = find_pairs(graph)
    result = {(a.name, b.name): EqualizedPair(a.name, b.name, np.ones(0)) for a, b in pairs}
    for _ in range(iterations):
        worst = 0.0
        for n1, n2 in pairs:
            w1 = graph.const(n1.inputs[1]).astype(np.float64)
            w2 = graph.const(n2.inputs[1]).astype(np.float64)
            c = w1.shape[0]
            view = _in_channel_view(n2, w2)
            r1 = np.abs(w1).reshape(c, -1).max(axis=1)
            r2 = _in_ranges(view, w2, c)
            if r2.size != c:
                continue
            ok = (r1 > 0) & (r2 > 0)
            s = np.ones(c)
            s[ok] = np.sqrt(r1[ok] / r2[ok])
            worst = max(worst, float(np.abs(np.log(s)).max(initial=0.0)))
            graph.tensors[n1.inputs[1]].data = (w1 / s.reshape(-1, *([1] * (w1.ndim - 1)))
                                                ).astype(np.float32)
            if len(n1.inputs) > 2 and n1.inputs[2]:
                b = graph.const(n1.inputs[2]).astype(np.float64)
                graph.tensors[n1.inputs[2]].data = (b / s).astype(np.float32)
            graph.tensors[n2.inputs[1]].data = _scale_in(view, w2, s).astype(np.float32)
            result[(n1.name, n2.name)].scales = s
        if worst < tol:
            break
    return list(result.values())
