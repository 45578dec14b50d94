"""Pattern fusion into single unary ops (one LUT each in int8):

- Mul(x, Sigmoid(x))              -> Silu(x)
- Mul(x, HardSigmoid(x; 1/6, 1/2)) -> HardSwish(x)
- x * Clip(x + 3, 0, 6) / 6 in either association (Div by 6 arrives as Mul by 1/6)
                                  -> HardSwish(x)

Runs before activation fusion, so the Clip(0, 6) is still its own node. Every intermediate
tensor must have exactly one reader and not be a graph output.
"""

from __future__ import annotations

import math

from int8rt import ir


def _const_is(graph: ir.Graph, name: str, value: float) -> bool:
    data = graph.const(name)
    return data is not None and data.size == 1 and math.isclose(
        float(data.reshape(-1)[0]), value, rel_tol=1e-6)


def _other(node: ir.Node, name: str) -> str | None:
    if len(node.inputs) != 2 or name not in node.inputs:
        return None
    a, b = node.inputs
    return b if a == name else a


def _plain_mul(node: ir.Node) -> bool:
    return node.op == "Mul" and tuple(node.attrs.get("clip", (-math.inf, math.inf))) == (
        -math.inf, math.inf)


class _Ctx:
    def __init__(self, graph: ir.Graph) -> None:
        self.graph = graph
        self.users = graph.consumers()
        self.prod = graph.producers()
        self.keep = set(graph.meta.get("keep_tensors", ()))

    def sole_reader(self, name: str) -> ir.Node | None:
        """The one reader of an intermediate that fusion may remove (not a graph output, not
        a tensor a QDQ source quantizes: its rounding is part of the model)."""
        r = self.users.get(name, [])
        ok = len(r) == 1 and name not in self.graph.outputs and name not in self.keep
        return r[0] if ok else None


def _replace(graph: ir.Graph, old: list[ir.Node], new: ir.Node) -> None:
    i = min(graph.nodes.index(n) for n in old)
    for n in old:
        graph.nodes.remove(n)
    graph.nodes.insert(i, new)


def _try_gate(c: _Ctx, gate: ir.Node) -> bool:
    """Sigmoid / HardSigmoid(1/6, 1/2) gating its own input."""
    if gate.op == "Sigmoid":
        fused = "Silu"
    elif gate.op == "HardSigmoid" and math.isclose(gate.attrs.get("alpha", 0.2), 1 / 6,
                                                   rel_tol=1e-6) and math.isclose(
            gate.attrs.get("beta", 0.5), 0.5):
        fused = "HardSwish"
    else:
        return False
    x, g = gate.inputs[0], gate.outputs[0]
    m = c.sole_reader(g)
    if m is None or not _plain_mul(m) or _other(m, g) != x:
        return False
    _replace(c.graph, [gate, m], ir.Node(fused, m.name, [x], list(m.outputs)))
    return True


def _try_hardswish(c: _Ctx, clip: ir.Node) -> bool:
    if clip.op != "Clip" or (clip.attrs.get("min"), clip.attrs.get("max")) != (0.0, 6.0):
        return False
    add = c.prod.get(clip.inputs[0])
    if add is None or add.op != "Add" or c.sole_reader(add.outputs[0]) is not clip:
        return False
    if tuple(add.attrs.get("clip", (-math.inf, math.inf))) != (-math.inf, math.inf):
        return False
    consts = [i for i in add.inputs if c.graph.const(i) is not None]
    if len(consts) != 1 or not _const_is(c.graph, consts[0], 3.0):
        return False
    x = _other(add, consts[0])
    m1 = c.sole_reader(clip.outputs[0])
    if m1 is None or not _plain_mul(m1):
        return False
    o1 = _other(m1, clip.outputs[0])
    m2 = c.sole_reader(m1.outputs[0])
    if m2 is None or not _plain_mul(m2):
        return False
    o2 = _other(m2, m1.outputs[0])
    if not ((o1 == x and o2 is not None and _const_is(c.graph, o2, 1 / 6))
            or (o2 == x and o1 is not None and _const_is(c.graph, o1, 1 / 6))):
        return False
    _replace(c.graph, [add, clip, m1, m2], ir.Node("HardSwish", m2.name, [x], list(m2.outputs)))
    return True


def fuse_patterns(graph: ir.Graph) -> ir.Graph:
    changed = True
    while changed:
        changed = False
        c = _Ctx(graph)
        for n in list(graph.nodes):
            if _try_gate(c, n) or _try_hardswish(c, n):
                changed = True
                break
    return graph
