"""Data-movement cleanup after the layout pass.

- a Transpose that moves only size-1 axes is a Reshape (same memory order);
- Transpose after Transpose composes into one (or nothing, when the composition is the
  identity: the NCHW<->NHWC pairs the layout pass leaves between layout-sensitive ops);
- Reshape after Reshape is one Reshape; a Reshape to its input's own shape disappears.

Tensors that are graph outputs keep their names (and so their producers).
"""

from __future__ import annotations

from int8rt import ir


def trivial_perm(shape: tuple[int, ...], perm: tuple[int, ...]) -> bool:
    moved = [p for p in perm if shape[p] != 1]
    return moved == sorted(moved)


def _step(graph: ir.Graph) -> bool:
    prod = graph.producers()
    for n in graph.nodes:
        if n.op not in ("Transpose", "Reshape"):
            continue
        src = n.inputs[0]
        if graph.tensor(src).is_const:
            continue
        in_shape = tuple(graph.tensor(src).shape)
        out_shape = tuple(graph.tensor(n.outputs[0]).shape)
        if n.op == "Transpose" and trivial_perm(in_shape, tuple(n.attrs["perm"])):
            n.op, n.attrs = "Reshape", {"shape": out_shape}
            return True
        if in_shape == out_shape and n.outputs[0] not in graph.outputs and (
                n.op == "Reshape" or tuple(n.attrs["perm"]) == tuple(range(len(in_shape)))):
            graph.nodes.remove(n)
            graph.replace_uses(n.outputs[0], src)
            return True
        p = prod.get(src)
        if p is None or p.op != n.op:
            continue
        if n.op == "Reshape":
            n.inputs = [p.inputs[0]]
            return True
        p1, p2 = tuple(p.attrs["perm"]), tuple(n.attrs["perm"])
        n.inputs = [p.inputs[0]]
        n.attrs = {"perm": tuple(p1[k] for k in p2)}
        return True
    return False


def simplify_data_movement(graph: ir.Graph) -> ir.Graph:
    while _step(graph):
        graph.prune()
    graph.prune()
    return graph
