"""BatchNorm folding (NCHW stage, before the layout pass).

y = (x - mean) * a + beta with a = gamma / sqrt(var + eps). After a Conv (or ConvTranspose)
whose output feeds only this BatchNormalization, `a` scales the weights of each output channel
and the bias becomes (b - mean) * a + beta. Anywhere else it becomes Mul(x, a) + Add(beta'),
two elementwise ops over channel-shaped constants.
"""

from __future__ import annotations

import numpy as np

from int8rt import ir
from int8rt.opset import NO_CLIP

F32 = np.float32


def _fold_into(graph: ir.Graph, conv: ir.Node, a: np.ndarray, shift: np.ndarray) -> None:
    """Scale `conv`'s output channels by a and add shift (= beta - mean * a)."""
    w = graph.const(conv.inputs[1]).astype(np.float64)
    if conv.op == "Conv":
        w = w * a[:, None, None, None]
    else:  # ConvTranspose weight [C, OC/g, KH, KW]: output channel g * OCg + o
        g = int(conv.attrs.get("group", 1))
        c, ocg = w.shape[:2]
        w = (w.reshape(g, c // g, ocg, *w.shape[2:]) * a.reshape(g, 1, ocg, 1, 1)).reshape(
            w.shape)
    b = graph.const(conv.inputs[2]).astype(np.float64) if len(conv.inputs) > 2 and \
        conv.inputs[2] else np.zeros(a.shape)
    base = conv.name or "conv"
    conv.inputs = [conv.inputs[0], graph.add_const(base + "_w_bn", w.astype(F32)),
                   graph.add_const(base + "_b_bn", (b * a + shift).astype(F32))]


def fold_batchnorm(graph: ir.Graph) -> ir.Graph:
    for bn in [n for n in graph.nodes if n.op == "BatchNormalization"]:
        x = bn.inputs[0]
        gamma, beta, mean, var = (graph.const(i).astype(np.float64) for i in bn.inputs[1:5])
        a = gamma / np.sqrt(var + bn.attrs.get("epsilon", 1e-5))
        shift = beta - mean * a
        prod = graph.producers().get(x)
        users = graph.consumers().get(x, [])
        if (prod is not None and prod.op in ("Conv", "ConvTranspose") and len(users) == 1
                and x not in graph.outputs and graph.tensor(prod.inputs[1]).is_const):
            _fold_into(graph, prod, a, shift)
            prod.outputs = [bn.outputs[0]]
            graph.nodes.remove(bn)
            continue
        rank = len(graph.tensor(x).shape)
        cshape = (len(a),) + (1,) * max(rank - 2, 0)
        mid = graph.unique_name(bn.outputs[0] + "_bn_scaled")
        graph.tensors[mid] = ir.Tensor(mid, tuple(graph.tensor(x).shape), "float32")
        i = graph.nodes.index(bn)
        graph.nodes[i:i + 1] = [
            ir.Node("Mul", bn.name + "/scale",
                    [x, graph.add_const(bn.name + "_scale", a.astype(F32).reshape(cshape))],
                    [mid], {"clip": NO_CLIP}),
            ir.Node("Add", bn.name + "/shift",
                    [mid, graph.add_const(bn.name + "_shift", shift.astype(F32).reshape(cshape))],
                    [bn.outputs[0]], {"clip": NO_CLIP}),
        ]
    return graph
