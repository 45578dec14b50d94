"""DynamicSession: runs a dynamic / weight-only / float ONNX-op graph, one native plan per
input shape (a new sequence length or batch re-specializes the graph, once; plans are
cached, least recently used first out)."""

from __future__ import annotations

import os
import threading
from collections import OrderedDict
from typing import Any

import numpy as np

from .. import ir
from .plan import FloatPlan
from .specialize import specialize


class DynamicSession:
    def __init__(self, graph: ir.Graph, max_plans: int = 16) -> None:
        self.graph = graph
        self.max_plans = max_plans
        self._plans: OrderedDict[tuple, FloatPlan] = OrderedDict()
        self._lock = threading.Lock()

    @staticmethod
    def from_file(path: str | os.PathLike[str]) -> DynamicSession:
        from .. import format as i8format
        return DynamicSession(i8format.load(path))

    @property
    def input_names(self) -> list[str]:
        return list(self.graph.inputs)

    def plan_for(self, shapes: tuple[tuple[int, ...], ...]) -> FloatPlan:
        plan = self._plans.get(shapes)
        if plan is None:
            spec = specialize(self.graph, dict(zip(self.graph.inputs, shapes)))
            plan = FloatPlan(spec)
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
