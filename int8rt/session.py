"""Session: ONNX Runtime's shape over a native int8 plan.

`Session(model).run(None, {"input": x})` validates the feed in Python, then makes one native
call. A plan is built per distinct set of input shapes (e.g. a new batch size) and cached.
"""

from __future__ import annotations

import os
import threading
from dataclasses import dataclass
from typing import Any, Union

import numpy as np

from . import format as i8format
from .ir import Graph
from .lower import lower
from .passes.shape_inference import rebatch
from .plan import NativePlan
from .threads import resolve_threads
from .validate import validate_graph

ModelLike = Union[str, "os.PathLike[str]", bytes, Graph, Any]

_ORT_TYPES = {"float32": "tensor(float)", "int8": "tensor(int8)", "uint8": "tensor(uint8)",
              "int32": "tensor(int32)", "int64": "tensor(int64)"}


@dataclass(frozen=True)
class NodeArg:
    """What `get_inputs()` / `get_outputs()` return, as in ONNX Runtime."""

    name: str
    shape: list[int | str | None]  # a symbolic batch: its ONNX name, or None (as ORT shows)
    type: str
    dtype: str


def is_quantized(graph: Graph) -> bool:
    return any(n.op == "Quantize" for n in graph.nodes)


def load_graph(model: ModelLike) -> Graph:
    """A Graph from a .i8 path or bytes, a Graph, or anything with a `.graph` (QuantizedModel)."""
    if isinstance(model, Graph):
        return model
    if hasattr(model, "graph") and isinstance(model.graph, Graph):
        return model.graph
    if isinstance(model, (str, os.PathLike, bytes)):
        return i8format.load(model)
    raise TypeError(f"expected a .i8 path, bytes, a Graph or a QuantizedModel, got {type(model)}")


class Session:
    def __init__(self, model: ModelLike, threads: int | None = None):
        graph = load_graph(model)
        validate_graph(graph)
        if not is_quantized(graph):
            raise ValueError("this model is a float graph: quantize it first "
                             "(int8rt.quantize(model, calibration_data))")
        self._graph = graph
        # None = the physical cores this process may use (int8rt/threads.py); 1 = no pool
        self.threads: int = resolve_threads(threads)
        self._plans: dict[tuple[tuple[int, ...], ...], NativePlan] = {}
        self._lock = threading.Lock()
        self._plan_for(tuple(tuple(graph.tensor(n).shape) for n in graph.inputs))

    # -- introspection -------------------------------------------------------------------------
    def _args(self, names: list[str]) -> list[NodeArg]:
        out = []
        batch = self._graph.meta.get("batch_dim", {})
        for n in names:
            t = self._graph.tensor(n)
            shape: list[int | str | None] = list(t.shape)
            if n in batch and shape:
                shape[0] = batch[n] or None
            out.append(NodeArg(n, shape, _ORT_TYPES.get(t.dtype, t.dtype), t.dtype))
        return out

    def get_inputs(self) -> list[NodeArg]:
        return self._args(self._graph.inputs)

    def get_outputs(self) -> list[NodeArg]:
        return self._args(self._graph.outputs)

    @property
    def graph(self) -> Graph:
        return self._graph

    # -- running -------------------------------------------------------------------------------
    def _plan_for(self, shapes: tuple[tuple[int, ...], ...]) -> NativePlan:
        plan = self._plans.get(shapes)
        if plan is None:
            with self._lock:
                plan = self._plans.get(shapes)
                if plan is None:
                    g = self._graph
                    if shapes != tuple(tuple(g.tensor(n).shape) for n in g.inputs):
                        g = rebatch(g.copy(), dict(zip(g.inputs, shapes)))
                    plan = NativePlan(lower(g))
                    self._plans[shapes] = plan
        return plan

    def _check_feed(self, feed: dict[str, Any]) -> list[np.ndarray]:
        if not isinstance(feed, dict):
            raise TypeError("input feed must be a dict {input_name: numpy array}")
        names = self._graph.inputs
        unknown = sorted(set(feed) - set(names))
        missing = [n for n in names if n not in feed]
        if unknown or missing:
            raise ValueError(f"input feed mismatch: missing {missing}, unknown {unknown}; "
                             f"model inputs are {names}")
        arrays = []
        for name in names:
            t = self._graph.tensor(name)
            x = feed[name]
            if not isinstance(x, np.ndarray):
                raise TypeError(f"input {name!r} must be a numpy array, got {type(x).__name__}")
            if x.dtype != np.dtype(t.dtype):
                raise TypeError(f"input {name!r} has dtype {x.dtype}, expected {t.dtype}")
            expected = tuple(t.shape)
            if x.ndim != len(expected) or x.shape[1:] != expected[1:]:
                raise ValueError(f"input {name!r} has shape {x.shape}, expected "
                                 f"{('N',) + expected[1:]} (any batch size N >= 1)")
            if x.shape[0] < 1:
                raise ValueError(f"input {name!r} is empty (batch size 0)")
            # C-contiguous and aligned for the dtype: the kernels read float32 through a
            # float pointer, which a misaligned buffer (np.frombuffer at an odd offset) breaks.
            arrays.append(np.require(x, requirements=["C", "A"]))
        batches = {name: a.shape[0] for name, a in zip(names, arrays)}
        if len(set(batches.values())) > 1:
            raise ValueError(f"inputs have different batch sizes {batches}: every input of one "
                             "run needs the same batch size (dim 0)")
        return arrays

    def run(self, output_names: list[str] | None, input_feed: dict[str, Any],
            run_options: Any = None) -> list[np.ndarray]:
        arrays = self._check_feed(input_feed)
        plan = self._plan_for(tuple(a.shape for a in arrays))
        outputs = plan.run(arrays, self.threads)
        if output_names is None:
            return outputs
        if not isinstance(output_names, (list, tuple)) or not all(
                isinstance(n, str) for n in output_names):
            raise TypeError("output_names must be None or a list of output names (str), "
                            f"got {output_names!r}")
        index = {n: i for i, n in enumerate(self._graph.outputs)}
        bad = [n for n in output_names if n not in index]
        if bad:
            raise ValueError(f"unknown output names {bad}; model outputs are {list(index)}")
        return [outputs[index[n]] for n in output_names]

    def profile(self, input_feed: dict[str, Any], repeats: int = 20):
        """Per-call native time: a list of (node, kernel, median ns)."""
        arrays = self._check_feed(input_feed)
        return self._plan_for(tuple(a.shape for a in arrays)).profile(arrays, repeats,
                                                                      self.threads)
