"""Identity / Dropout removal (the importer maps both, and float-to-float Cast, to Identity)."""

from __future__ import annotations

from int8rt import ir


def remove_identity(graph: ir.Graph) -> ir.Graph:
    for node in [n for n in graph.nodes if n.op == "Identity"]:
        src, dst = node.inputs[0], node.outputs[0]
        producers = graph.producers()
        graph.nodes.remove(node)
        if dst not in graph.outputs:
            graph.replace_uses(dst, src)
        elif src in producers and src not in graph.outputs:
            # keep the output's name: the producer writes it directly
            p = producers[src]
            p.outputs = [dst if o == src else o for o in p.outputs]
            graph.replace_uses(src, dst)
        else:
            # an input or another output passed straight through: a shape-preserving Reshape
            # is the canonical no-op
            shape = tuple(graph.tensor(src).shape)
            graph.nodes.append(ir.Node("Reshape", node.name, [src], [dst], {"shape": shape}))
    return graph
