"""Shape-independent rewrites of an ONNX-op graph, run once after loading:

- MatMul / Gemm with a constant 2-D weight (and a constant bias Add after it) -> `Linear`
  [x, W [K, N], bias [N]?]: the op dynamic and weight-only quantization rewrite;
- the decomposed layer norm ReduceMean / Sub / Pow / ReduceMean / Add / Sqrt / Div
  (/ Mul gamma / Add beta) -> LayerNormalization;
- the erf GELU x * 0.5 * (1 + erf(x / sqrt 2)) in its exporter orders -> Gelu.
"""

from __future__ import annotations

import numpy as np

from .. import ir

LINEAR_OPS = ("Linear", "DynQLinear", "WOLinear")


def _scalar(graph: ir.Graph, name: str) -> float | None:
    arr = graph.const(name)
    if arr is None or arr.size != 1 or not np.issubdtype(arr.dtype, np.floating):
        return None
    return float(arr.reshape(()))


def _single_user(users: dict[str, list[ir.Node]], name: str, graph: ir.Graph) -> ir.Node | None:
    us = users.get(name, [])
    if len(us) != 1 or name in graph.outputs:
        return None
    return us[0]


def _other(node: ir.Node, name: str) -> str | None:
    if len(node.inputs) != 2 or name not in node.inputs:
        return None
    return node.inputs[1] if node.inputs[0] == name else node.inputs[0]


def fuse_linear(graph: ir.Graph) -> None:
    for node in graph.nodes:
        if node.op == "MatMul":
            w = graph.const(node.inputs[1])
            if w is None or w.ndim != 2 or w.dtype != np.float32 or graph.const(node.inputs[0]) \
                    is not None:
                continue
            node.op, node.attrs = "Linear", {}
        elif node.op == "Gemm":
            a = node.attrs
            w = graph.const(node.inputs[1])
            if w is None or a.get("transA", 0) or a.get("alpha", 1.0) != 1.0 \
                    or a.get("beta", 1.0) != 1.0:
                continue
            if a.get("transB", 0):
                w = np.ascontiguousarray(w.T)
            bias = node.inputs[2] if len(node.inputs) > 2 and node.inputs[2] else ""
            if bias and (graph.const(bias) is None or graph.const(bias).ndim != 1):
                continue
            wname = graph.add_const(node.inputs[1] + "_kn", w.astype(np.float32))
            node.op, node.attrs = "Linear", {}
            node.inputs = [node.inputs[0], wname] + ([bias] if bias else [])
    users = graph.consumers()
    dead: set[int] = set()
    for node in graph.nodes:
        if node.op != "Linear" or len(node.inputs) != 2:
            continue
        add = _single_user(users, node.outputs[0], graph)
        if add is None or add.op != "Add":
            continue
        b = _other(add, node.outputs[0])
        n = graph.const(node.inputs[1]).shape[1]
        bias = graph.const(b) if b else None
        if bias is None or bias.dtype != np.float32 or bias.size != n or \
                bias.shape[-1:] != (n,):
            continue
        node.inputs.append(graph.add_const(b + "_bias", bias.reshape(n)))
        node.outputs = list(add.outputs)
        dead.add(id(add))
    graph.nodes = [n for n in graph.nodes if id(n) not in dead]


def _last_axis_reduce(graph: ir.Graph, node: ir.Node) -> bool:
    if node.op != "ReduceMean" or not node.attrs.get("keepdims", 1):
        return False
    axes = node.attrs.get("axes")
    if axes is None and len(node.inputs) > 1:
        axes = graph.const(node.inputs[1])
    return axes is not None and [int(a) for a in np.atleast_1d(axes)] == [-1]


def fuse_layernorm(graph: ir.Graph) -> None:
    prod = graph.producers()
    users = graph.consumers()
    dead: set[int] = set()
    for div in graph.nodes:
        if div.op != "Div":
            continue
        sqrt = prod.get(div.inputs[1])
        sub = prod.get(div.inputs[0])
        if sqrt is None or sub is None or sqrt.op != "Sqrt" or sub.op != "Sub":
            continue
        add_eps = prod.get(sqrt.inputs[0])
        if add_eps is None or add_eps.op != "Add":
            continue
        var = prod.get(add_eps.inputs[0]) or prod.get(add_eps.inputs[1])
        eps_name = _other(add_eps, var.outputs[0]) if var is not None else None
        eps = _scalar(graph, eps_name) if eps_name else None
        if var is None or eps is None or not _last_axis_reduce(graph, var):
            continue
        pw = prod.get(var.inputs[0])
        if pw is None or pw.op != "Pow" or pw.inputs[0] != sub.outputs[0] or \
                _scalar(graph, pw.inputs[1]) != 2.0:
            continue
        mean = prod.get(sub.inputs[1])
        if mean is None or not _last_axis_reduce(graph, mean) or mean.inputs[0] != sub.inputs[0]:
            continue
        x = sub.inputs[0]
        inner = [mean, sub, pw, var, add_eps, sqrt]
        if any(len(users.get(n.outputs[0], [])) != (2 if n is sub else 1) for n in inner):
            continue
        out, gamma, beta, tail = div.outputs[0], None, None, [div]
        mul = _single_user(users, out, graph)
        if mul is not None and mul.op == "Mul" and graph.const(_other(mul, out) or "") \
                is not None:
            gamma, out = _other(mul, out), mul.outputs[0]
            tail.append(mul)
            add = _single_user(users, out, graph)
            if add is not None and add.op == "Add" and graph.const(_other(add, out) or "") \
                    is not None:
                beta, out = _other(add, out), add.outputs[0]
                tail.append(add)
        if gamma is None:
            continue  # LayerNormalization needs a scale; a bare normalization stays decomposed
        ins = [x, gamma] + ([beta] if beta else [])
        ln = ir.Node("LayerNormalization", div.name + "/fused", ins, [out],
                     {"axis": -1, "epsilon": eps})
        for n in inner + tail:
            dead.add(id(n))
        div.op, div.inputs, div.outputs, div.attrs = ln.op, ln.inputs, ln.outputs, ln.attrs
        dead.discard(id(div))
    graph.nodes = [n for n in graph.nodes if id(n) not in dead]


def fuse_gelu(graph: ir.Graph) -> None:
    prod = graph.producers()
    users = graph.consumers()
    dead: set[int] = set()
    for erf in graph.nodes:
        if erf.op != "Erf":
            continue
        div = prod.get(erf.inputs[0])
        if div is None:
            continue
        if div.op == "Div":
            c = _scalar(graph, div.inputs[1])
            ok = c is not None and abs(c - np.sqrt(2.0)) < 1e-4
        elif div.op == "Mul":
            c = _scalar(graph, _other(div, div.inputs[0]) or "")
            ok = c is not None and abs(c - 1 / np.sqrt(2.0)) < 1e-4
        else:
            ok = False
        if not ok:
            continue
        x = div.inputs[0]
        add = _single_user(users, erf.outputs[0], graph)
        if add is None or add.op != "Add" or _scalar(graph, _other(add, erf.outputs[0]) or "") \
                != 1.0:
            continue
        m1 = _single_user(users, add.outputs[0], graph)
        if m1 is None or m1.op != "Mul":
            continue
        o1 = _other(m1, add.outputs[0])
        chain = [div, erf, add, m1]
        if o1 == x:  # x * (1 + erf) then * 0.5
            m2 = _single_user(users, m1.outputs[0], graph)
            if m2 is None or m2.op != "Mul" or _scalar(graph, _other(m2, m1.outputs[0]) or "") \
                    != 0.5:
                continue
            chain.append(m2)
        else:  # (x * 0.5) * (1 + erf)
            half = prod.get(o1 or "")
            if half is None or half.op != "Mul" or half.inputs[0] != x or \
                    _scalar(graph, half.inputs[1]) != 0.5:
                continue
            if len(users.get(half.outputs[0], [])) != 1:
                continue
            chain.append(half)
        if len(users.get(div.outputs[0], [])) != 1:
            continue
        # x*(1+erf)*0.5 ends at the second Mul; (x*0.5)*(1+erf) at the first
        out = chain[-1].outputs[0] if o1 == x else m1.outputs[0]
        for n in chain:
            dead.add(id(n))
        keep = erf
        keep.op, keep.inputs, keep.outputs, keep.attrs = "Gelu", [x], [out], {"approximate":
                                                                              "none"}
        dead.discard(id(keep))
    graph.nodes = [n for n in graph.nodes if id(n) not in dead]


def drop_identities(graph: ir.Graph) -> None:
    """Identity / Dropout (inference) forward their input: exporters route shared weights
    through them, which would hide the constants the fusions look for."""
    kept = []
    for node in graph.nodes:
        if node.op in ("Identity", "Dropout") and node.outputs[0] not in graph.outputs:
            graph.replace_uses(node.outputs[0], node.inputs[0])
        else:
            kept.append(node)
    graph.nodes = kept


def prepare(graph: ir.Graph) -> ir.Graph:
    graph = graph.copy()
    drop_identities(graph)
    fuse_linear(graph)
    fuse_layernorm(graph)
    fuse_gelu(graph)
    graph.nodes = graph.topological()
    graph.prune()
    return graph
