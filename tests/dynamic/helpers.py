"""Single-node onnx-layout graphs run through the native plan (one-op plans)."""

from __future__ import annotations

from typing import Any

import numpy as np

from int8rt import ir
from int8rt.dynamic.lower import lower_program
from int8rt.dynamic.specialize import specialize
from int8rt.session import _DynamicPlan


def one_node(op: str, inputs: dict[str, np.ndarray], consts: dict[str, np.ndarray],
             order: list[str], attrs: dict[str, Any] | None = None, n_out: int = 1
             ) -> ir.Graph:
    tensors = {k: ir.Tensor(k, v.shape, "bool" if v.dtype == np.bool_ else str(v.dtype))
               for k, v in inputs.items()}
    for k, v in consts.items():
        tensors[k] = ir.Tensor(k, v.shape, "bool" if v.dtype == np.bool_ else str(v.dtype),
                               data=np.array(v, order="C"))
    outs = [f"y{i}" for i in range(n_out)]
    for o in outs:
        tensors[o] = ir.Tensor(o, (), "float32")
    node = ir.Node(op, "n0", list(order), outs, dict(attrs or {}))
    return ir.Graph([node], tensors, list(inputs), outs, meta={"layout": "onnx"})


def run_native(graph: ir.Graph, feeds: dict[str, np.ndarray]) -> list[np.ndarray]:
    spec = specialize(graph, {k: v.shape for k, v in feeds.items()})
    return _DynamicPlan(lower_program(spec), spec).run([feeds[n] for n in graph.inputs])


def run_op(op: str, inputs: dict[str, np.ndarray], consts: dict[str, np.ndarray] | None = None,
           order: list[str] | None = None, attrs: dict[str, Any] | None = None, n_out: int = 1
           ) -> list[np.ndarray]:
    consts = consts or {}
    order = order or [*inputs, *consts]
    return run_native(one_node(op, inputs, consts, order, attrs, n_out), inputs)
