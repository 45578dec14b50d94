"""Session: ONNX Runtime's shape over the native plan, for every kind of .i8 model.

`Session(model).run(None, {"input": x})` validates the feed in Python, then makes one native
call. Static int8 (and mixed precision, QDQ-imported) graphs and the onnx-layout graphs of the
dynamic path (float, dynamic int8, weight-only int8/int4) lower to one Program format and run
on one plan executor (docs/PLAN.md). A plan is made per distinct set of input shapes (a new
batch size, sequence length or image size where the graph allows: one C reshape of a shape
template, int8rt/reshape.py, int8rt/image_size.py) and kept in
a bounded cache (least recently used out); weights are packed once per session and shared by
every shape's plan. Runs take an arena from a small
per-session pool, so the steady state allocates no arena and no run waits for another.
"""

from __future__ import annotations

import dataclasses
import os
import threading
from collections import OrderedDict
from dataclasses import dataclass
from typing import Any, Union

import numpy as np

from . import _native, image_size
from . import format as i8format
from .ir import Graph
from .lower import lower
from .packed_weights import PackedWeights
from .passes.shape_inference import rebatch
from .plan import NativePlan
from .reshape import ImageLowering, Reshaper, StaticLowering
from .threads import resolve_threads
from .validate import validate_graph

# Fused conv / fc epilogues (lower._fuse_epilogues) on every platform: the post-ops run in
# SIMD code inside or right after the kernel (x86 epilogues / row passes, the NEON row pass
# i8_post_rows__neon), cheaper than the separate table / add records (docs/PLATFORMS.md:
# qemu instructions per inference, fused vs separate). A module attribute so the tools can
# A/B it (bench/arm_icount.py --fuse).
_FUSE_EPILOGUES = True

ModelLike = Union[str, "os.PathLike[str]", bytes, Graph, Any]

_ORT_TYPES = {"float32": "tensor(float)", "int8": "tensor(int8)", "uint8": "tensor(uint8)",
              "int32": "tensor(int32)", "int64": "tensor(int64)", "bool": "tensor(bool)"}
MAX_PLANS = 16  # plans (input shapes) a session keeps; older shapes are re-planned on demand
MAX_ARENAS = 4  # idle arenas a session keeps for the next runs


@dataclass(frozen=True)
class NodeArg:
    """What `get_inputs()` / `get_outputs()` return, as in ONNX Runtime."""

    name: str
    shape: list[int | str | None]  # a symbolic batch: its ONNX name, or None (as ORT shows)
    type: str
    dtype: str


def is_quantized(graph: Graph) -> bool:
    # a static model whose every op was kept float (mixed precision) has no Quantize left
    q = graph.meta.get("quantization")
    return any(n.op == "Quantize" for n in graph.nodes) or (
        isinstance(q, dict) and q.get("scheme") == "static")


def load_graph(model: ModelLike) -> Graph:
    """A Graph from a .i8 path or bytes, a Graph, or anything with a `.graph` (QuantizedModel)."""
    if isinstance(model, Graph):
        return model
    if hasattr(model, "graph") and isinstance(model.graph, Graph):
        return model.graph
    if isinstance(model, (str, os.PathLike, bytes)):
        return i8format.load(model)
    raise TypeError(f"expected a .i8 path, bytes, a Graph or a QuantizedModel, got {type(model)}")


def is_dynamic(graph: Graph) -> bool:
    """A graph of the dynamic path (int8rt.quantize(..., mode="dynamic" / "weight_only" /
    "float")): ONNX layout and ops, free dimensions 0."""
    return graph.meta.get("layout") == "onnx"


def _aligned_constants(graph: Graph) -> Graph:
    """A shallow copy of `graph` whose constants are C-contiguous and 64-byte aligned, so the
    plans of every input shape borrow them (one copy of the weights per session)."""
    from .dynamic.lower import aligned

    tensors = {name: t if t.data is None else dataclasses.replace(t, data=aligned(t.data))
               for name, t in graph.tensors.items()}
    return Graph(list(graph.nodes), tensors, list(graph.inputs), list(graph.outputs),
                 name=graph.name, meta=dict(graph.meta))


class _ArenaPool:
    """A few arenas kept between runs: a run takes one (or allocates one when none is idle or
    the idle one is too small) and gives it back; at most MAX_ARENAS stay. list.pop / append
    are atomic under the GIL, so no run ever waits for another."""

    def __init__(self) -> None:
        self._idle: list[np.ndarray] = []

    def take(self, nbytes: int) -> np.ndarray:
        try:
            arena = self._idle.pop()
        except IndexError:
            arena = None
        if arena is None or arena.nbytes < nbytes:
            # a little headroom, so a session cycling through nearby shapes stops reallocating
            arena = _native._aligned_bytes(max(64, nbytes + nbytes // 8))
        return arena

    def give(self, arena: np.ndarray) -> None:
        if len(self._idle) < MAX_ARENAS:
            self._idle.append(arena)


class Session:
    def __init__(self, model: ModelLike, threads: int | None = None,
                 max_plans: int = MAX_PLANS, free_image_size: bool | None = None):
        """model: a .i8 path or bytes, a Graph, or a QuantizedModel, of any kind int8rt writes
        (static int8, mixed precision, QDQ-imported, dynamic int8, weight-only, float onnx
        layout). threads: None = the physical cores this process may use; 1 = no pool.
        max_plans: input shapes whose plans stay cached. free_image_size (static graphs):
        None = the image H / W the ONNX model left symbolic may change, True = H / W of the
        image input may change (ValueError when an op of the graph cannot follow a new size),
        False = the image size stays the one the graph was quantized at."""
        graph = load_graph(model)
        validate_graph(graph)
        self._dynamic = is_dynamic(graph)
        if not self._dynamic and not is_quantized(graph):
            raise ValueError("this model is a float graph: quantize it first "
                             "(int8rt.quantize(model, calibration_data), or mode='dynamic')")
        if self._dynamic:
            graph = _aligned_constants(graph)
        self._graph = graph
        # None = the physical cores this process may use (int8rt/threads.py); 1 = no pool
        self.threads: int = resolve_threads(threads)
        if max_plans < 1:
            raise ValueError(f"max_plans must be >= 1, got {max_plans}")
        self.max_plans = max_plans
        self._plans: OrderedDict[tuple[tuple[int, ...], ...], NativePlan] = OrderedDict()
        self._lock = threading.Lock()  # the plan cache only; runs never take it
        self._arenas = _ArenaPool()
        self._packed: dict[str, np.ndarray] = {}  # dynamic int8 weight panels, all shapes
        # static conv / fc weights, packed once and borrowed by the plan of every batch size
        self._packed_weights = PackedWeights()
        self._reshaper = None  # shape templates (int8rt/reshape.py); None: plan in Python
        # static graphs: the image axes that may change (int8rt/image_size.py), or why none
        self._image: image_size.ImageSizes | None = None
        self._image_refusal = ""
        self._free_dims: dict[str, set[int]] = {n: {0} for n in graph.inputs}
        reshape = os.environ.get("INT8RT_RESHAPE", "1") != "0"
        if self._dynamic:  # packed at load, not by the first run
            from .dynamic.lower import pack_weights
            from .dynamic.reshape import Reshaper as DynamicReshaper

            pack_weights(graph, self._packed)
            if reshape:
                self._reshaper = DynamicReshaper(graph, self._packed)
                self._reshaper.prepare()  # the batch-1 template, so no first call builds it
        else:
            free = image_size.free_axes(graph, free_image_size)
            try:
                self._image = image_size.analyze(graph, free) if free else None
            except image_size.FixedImageSize as e:
                if free_image_size:
                    raise ValueError(f"free_image_size=True: this graph keeps its image size: "
                                     f"{e}") from None
                self._image_refusal = str(e)
            if reshape:  # a template is built by the first shape of its pattern asked for
                lowering = StaticLowering(graph, self._packed_weights, _FUSE_EPILOGUES) \
                    if self._image is None else \
                    ImageLowering(graph, self._packed_weights, _FUSE_EPILOGUES, self._image)
                self._reshaper = Reshaper(lowering)
            if self._image is not None:
                for ax in self._image.axes:
                    self._free_dims[graph.inputs[ax.input]].add(ax.axis)
            self._plan_for(tuple(tuple(graph.tensor(n).shape) for n in graph.inputs))

    # -- introspection -------------------------------------------------------------------------
    def _args(self, names: list[str]) -> list[NodeArg]:
        out = []
        batch = self._graph.meta.get("batch_dim")
        batch = batch if isinstance(batch, dict) else {}
        for n in names:
            t = self._graph.tensor(n)
            shape: list[int | str | None] = [d if d > 0 or not self._dynamic else None
                                             for d in t.shape]
            if n in batch and shape and not self._dynamic:
                shape[0] = batch[n] or None  # a symbolic batch by its ONNX name, as ORT
            if not self._dynamic and n in self._graph.inputs:
                named = (self._graph.meta.get("dim_params") or {}).get(n) or {}
                for a in self._free_dims[n] - {0}:
                    shape[a] = named.get(str(a))  # a free image size: its ONNX name or None
            out.append(NodeArg(n, shape, _ORT_TYPES.get(t.dtype, t.dtype), t.dtype))
        return out

    def get_inputs(self) -> list[NodeArg]:
        return self._args(self._graph.inputs)

    def get_outputs(self) -> list[NodeArg]:
        return self._args(self._graph.outputs)

    @property
    def graph(self) -> Graph:
        return self._graph

    @property
    def input_names(self) -> list[str]:
        return list(self._graph.inputs)

    @property
    def kind(self) -> str:
        """"static" (int8 NHWC graph) or "dynamic" (onnx-layout graph of the dynamic path)."""
        return "dynamic" if self._dynamic else "static"

    # -- planning ------------------------------------------------------------------------------
    def _build(self, shapes: tuple[tuple[int, ...], ...]) -> NativePlan:
        g = self._graph
        if self._dynamic:
            from .dynamic.lower import lower_program
            from .dynamic.specialize import specialize

            if self._reshaper is not None:  # a new shape: one C reshape of its pattern's plan
                plan = self._reshaper.plan(shapes)
                if plan is not None:
                    return plan
            spec = specialize(g, dict(zip(g.inputs, shapes)))
            return _DynamicPlan(lower_program(spec, self._packed), spec)
        if shapes != tuple(tuple(g.tensor(n).shape) for n in g.inputs):
            if self._reshaper is not None:  # a new batch / image size: one C reshape
                plan = self._reshaper.plan(shapes)
                if plan is not None:
                    return plan
            if self._image is not None:  # no template: shape inference at the new size
                g = image_size.at_size(g, dict(zip(g.inputs, shapes)))
            else:
                g = rebatch(g.copy(), dict(zip(g.inputs, shapes)))
        return NativePlan(lower(g, fuse_epilogues=_FUSE_EPILOGUES), self._packed_weights)

    def _plan_for(self, shapes: tuple[tuple[int, ...], ...]) -> NativePlan:
        # fast path without the lock: OrderedDict's get / move_to_end are atomic under the GIL
        plan = self._plans.get(shapes)
        if plan is not None:
            try:
                self._plans.move_to_end(shapes)
            except KeyError:  # evicted by a concurrent build: still a valid plan to run
                pass
            return plan
        with self._lock:  # one build at a time; runs of cached shapes never wait here
            plan = self._plans.get(shapes)
            if plan is not None:
                return plan
            plan = self._build(shapes)
            self._plans[shapes] = plan
            while len(self._plans) > self.max_plans:
                self._plans.popitem(last=False)
            return plan

    def plan_for(self, shapes: tuple[tuple[int, ...], ...]) -> NativePlan:
        """The plan for one set of input shapes (built on first use)."""
        return self._plan_for(tuple(tuple(int(d) for d in s) for s in shapes))

    # -- feeds ---------------------------------------------------------------------------------
    def _check_feed(self, feed: dict[str, Any]) -> list[np.ndarray]:
        """One validation for every kind of model (docs/PLAN.md "Feeds"): exactly the model's
        inputs, numpy arrays of exactly the model's dtype (no silent casts: float64 into a
        float32 model is a TypeError), its rank, every fixed dimension (static graphs: every
        dimension but the batch), no empty dimension. NaN in a float input reads as a real 0 on
        every path (static: Quantize maps it to the zero point; dynamic: replaced before the
        run)."""
        if not isinstance(feed, dict):
            raise TypeError("input feed must be a dict {input_name: numpy array}")
        names = self._graph.inputs
        unknown = sorted(set(feed) - set(names))
        missing = [n for n in names if n not in feed]
        if unknown or missing:
            raise ValueError(f"input feed mismatch: missing {missing}, unknown {unknown}; "
                             f"model inputs are {names}")
        arrays = []
        names_idx = {n: i for i, n in enumerate(names)}
        for name in names:
            t = self._graph.tensor(name)
            x = feed[name]
            if not isinstance(x, np.ndarray):
                raise TypeError(f"input {name!r} must be a numpy array, got {type(x).__name__}")
            if x.dtype != np.dtype(t.dtype):
                raise TypeError(f"input {name!r} has dtype {x.dtype}, expected {t.dtype}")
            expected = tuple(t.shape)
            if self._dynamic:
                fixed = tuple(d if d > 0 else "?" for d in expected)
                if x.ndim != len(expected) or any(
                        m > 0 and m != d for m, d in zip(expected, x.shape)):
                    raise ValueError(f"input {name!r} has shape {x.shape}, expected {fixed} "
                                     "(? = any size >= 1)")
            elif x.ndim != len(expected) or any(
                    m != d for k, (m, d) in enumerate(zip(expected, x.shape))
                    if k not in self._free_dims[name]):
                image = self._image.axes if self._image is not None else ()
                free = {a.axis: a.var.upper() for a in image if a.input == names_idx[name]}
                want = tuple("N" if k == 0 else free.get(k, d) for k, d in enumerate(expected))
                why = " (any batch size N >= 1"
                if self._image is not None:
                    why += f", {self._image.describe()})"
                else:
                    why += ")" + (f"; the image size is fixed: {self._image_refusal}"
                                  if self._image_refusal else "")
                raise ValueError(f"input {name!r} has shape {x.shape}, expected {want}{why}")
            if 0 in x.shape:
                raise ValueError(f"input {name!r} is empty (shape {x.shape})")
            if self._image is not None and not self._dynamic:
                for ax in self._image.axes:
                    if self._graph.inputs[ax.input] == name and x.shape[ax.axis] < ax.minimum:
                        raise ValueError(
                            f"input {name!r} has shape {x.shape}: {ax.var.upper()} = "
                            f"{x.shape[ax.axis]} is below the smallest size this graph takes "
                            f"({ax.var.upper()} >= {ax.minimum}: a smaller image leaves a "
                            "window of a conv / pool without input)")
            # C-contiguous and aligned for the dtype: the kernels read float32 through a
            # float pointer, which a misaligned buffer (np.frombuffer at an odd offset) breaks.
            x = np.require(x, requirements=["C", "A"])
            if self._dynamic and x.dtype.kind == "f" and np.isnan(x).any():
                x = np.where(np.isnan(x), x.dtype.type(0), x)
            arrays.append(x)
        batches = {name: a.shape[0] if a.ndim else 1 for name, a in zip(names, arrays)}
        if not self._dynamic and len(set(batches.values())) > 1:
            # (a dynamic graph's dim 0 need not be a batch: an RNN state is [layers, N, H])
            raise ValueError(f"inputs have different batch sizes {batches}: every input of one "
                             "run needs the same batch size (dim 0)")
        return arrays

    # -- running -------------------------------------------------------------------------------
    def run(self, output_names: list[str] | None, input_feed: dict[str, Any],
            run_options: Any = None) -> list[np.ndarray]:
        arrays = self._check_feed(input_feed)
        if output_names is not None:
            if not isinstance(output_names, (list, tuple)) or not all(
                    isinstance(n, str) for n in output_names):
                raise TypeError("output_names must be None or a list of output names (str), "
                                f"got {output_names!r}")
            index = {n: i for i, n in enumerate(self._graph.outputs)}
            bad = [n for n in output_names if n not in index]
            if bad:
                raise ValueError(f"unknown output names {bad}; model outputs are {list(index)}")
        plan = self._plan_for(tuple(a.shape for a in arrays))
        arena = self._arenas.take(plan.arena_size(self.threads))
        try:
            outputs = plan.run(arrays, self.threads, arena)
        finally:
            self._arenas.give(arena)
        if output_names is None:
            return outputs
        return [outputs[index[n]] for n in output_names]

    def profile(self, input_feed: dict[str, Any], repeats: int = 20):
        """Per-call native time: a list of (node, kernel, median ns)."""
        arrays = self._check_feed(input_feed)
        return self._plan_for(tuple(a.shape for a in arrays)).profile(arrays, repeats,
                                                                      self.threads)


class _DynamicPlan(NativePlan):
    """The plan of one input shape of a dynamic-path graph: outputs take the graph's shapes
    (a Reshape at the end of the graph aliases a buffer of another shape)."""

    def __init__(self, program, graph: Graph) -> None:
        super().__init__(program)
        self._out_shapes = [tuple(graph.tensor(o).shape) for o in graph.outputs]

    def run(self, inputs, threads=1, arena=None):
        outs = super().run(inputs, threads, arena)
        return [o.reshape(s) for o, s in zip(outs, self._out_shapes)]
