"""Dead-node pruning: drop nodes nobody reads and tensors nobody mentions."""

from __future__ import annotations

from int8rt import ir


def prune(graph: ir.Graph) -> ir.Graph:
    graph.prune()
    return graph
