"""DynamicSession: runs a dynamic / weight-only / float ONNX-op graph, one native plan per
input shape (a new sequence length or batch re-specializes the graph, once; plans are
cached, least recently used first out)."""

from __future__ import annotations

import threading
from collections import OrderedDict
from typing import Any

import numpy as np

from .. import ir
from .plan import FloatPlan
from .specialize import specialize


class DynamicSession:
    def __init__(self, model: Any, max_plans: int = 16) -> None:
        """model: an onnx-layout ir.Graph, a QuantizedModel from int8rt.quantize_dynamic, or
        a .i8 path / bytes holding one."""
        if isinstance(model, ir.Graph):
            graph = model
        elif isinstance(getattr(model, "graph", None), ir.Graph):
            graph = model.graph
        else:
            from .. import format as i8format
            graph = i8format.load(model)
        if graph.meta.get("layout") != "onnx":
            raise ValueError("DynamicSession runs graphs of the dynamic path (int8rt.quantize("
                             "model, mode='dynamic')); use int8rt.Session for static int8")
        self.graph = graph
        self.max_plans = max_plans
        self._plans: OrderedDict[tuple, FloatPlan] = OrderedDict()
        self._packed: dict[str, np.ndarray] = {}  # packed weights, shared by all plans
        self._lock = threading.Lock()

    @property
    def input_names(self) -> list[str]:
        return list(self.graph.inputs)

    def plan_for(self, shapes: tuple[tuple[int, ...], ...]) -> FloatPlan:
        plan = self._plans.get(shapes)
        if plan is None:
            spec = specialize(self.graph, dict(zip(self.graph.inputs, shapes)))
            plan = FloatPlan(spec, self._packed)
            self._plans[shapes] = plan
            while len(self._plans) > self.max_plans:
                self._plans.popitem(last=False)
        else:
            self._plans.move_to_end(shapes)
        return plan

    def _feeds(self, feed: dict[str, Any]) -> list[np.ndarray]:
        missing = [n for n in self.graph.inputs if n not in feed]
        extra = sorted(set(feed) - set(self.graph.inputs))
        if missing or extra:
            raise ValueError(f"feed must name exactly the inputs {self.graph.inputs}; "
                             f"missing {missing}, unknown {extra}")
        return [np.asarray(feed[n]) for n in self.graph.inputs]

    def run(self, output_names: list[str] | None, feed: dict[str, Any]) -> list[np.ndarray]:
        arrs = self._feeds(feed)
        with self._lock:
            plan = self.plan_for(tuple(tuple(a.shape) for a in arrs))
            outs = plan.run(arrs)
        if output_names is None:
            return outs
        index = {n: i for i, n in enumerate(self.graph.outputs)}
        return [outs[index[n]] for n in output_names]

    def profile(self, feed: dict[str, Any]) -> list[tuple[str, str, int]]:
        arrs = self._feeds(feed)
        with self._lock:
            plan = self.plan_for(tuple(tuple(a.shape) for a in arrs))
            return plan.run(arrs, profile=True)[1]
