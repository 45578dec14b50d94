"""Automatic mixed precision: keep the ops int8 hurts most in float32 until a target holds.

1. Calibrate once; if full int8 already meets the target, that is the result. Else rank the
   candidate ops (Conv / Gemm, with their fused activation) by
   `debug.sensitivity` (model-output SQNR with that op alone in int8: worst first).
2. Float configurations (ptq.quantize_graph float_nodes; lowering runs the float ops on the
   f32conv kernels inside the same native plan) are tried in two passes, each measured on the
   real int8 program run by the native plan, not on the simulation used for ranking:
   greedy, where an op stays float only if that strictly improves on the best so far; then,
   if the target is still missed, cumulative (the k most sensitive ops, k = 1, 2, ...: two
   float ops can help where each alone hurts). A configuration over `max_slowdown` x the
   full-int8 latency is not evaluated (and in the cumulative pass that op is skipped). Stop as
   soon as the target holds; else the best configuration seen is the result.

So the result is never worse than full int8 on the evaluation data (full int8 is the first
configuration, and only a strictly better one replaces the best) and never slower than the
budget (measured: interleaved median runs of the candidate and the full-int8 plan).

Targets:
- `max_error`: relative RMS error of the model outputs against the float graph,
  sqrt(sum (y_int8 - y_float)^2 / sum y_float^2), over the evaluation samples;
- `metric` + `max_drop`: `metric(predict) -> float` (higher is better, e.g. accuracy), where
  `predict(x)` maps a batch of inputs to the model's first output; the target is
  metric(float) - metric(int8) <= max_drop.

The result says which ops stayed float and what that costs in latency (median of interleaved
runs of the full-int8 and the mixed plan on one sample).
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from int8rt.ir import Graph
from int8rt.progress import ProgressBar
from int8rt.quant.calibrate import calibrate
from int8rt.quant.ptq import prepare, quantize_graph, reiterable

Predict = Callable[[np.ndarray], np.ndarray]
CANDIDATE_OPS = ("Conv", "Gemm")


@dataclass
class MixedStep:
    float_nodes: list[str]
    value: float  # the error (max_error target) or the metric (metric target)
    ok: bool
    slowdown: float = 1.0  # measured latency / full-int8 latency (nan: not measured)
    kept: bool = True  # it improved on the best configuration so far (within budget)


@dataclass
class MixedResult:
    graph: Graph  # the chosen quantized graph
    float_nodes: list[str]  # ops kept in float32, most sensitive first
    target_met: bool
    float_value: float  # metric of the float model (nan for the error target)
    int8_value: float  # error / metric of the full int8 model
    final_value: float
    steps: list[MixedStep] = field(default_factory=list)
    ranking: list[Any] = field(default_factory=list)  # debug.OpSensitivity rows
    latency_int8_ms: float = math.nan
    latency_mixed_ms: float = math.nan
    max_slowdown: float | None = None

    def summary(self) -> str:
        kind = "metric" if not math.isnan(self.float_value) else "output rel. RMS error"
        lines = [f"mixed precision: target {'met' if self.target_met else 'NOT met'}; "
                 f"{kind}: full int8 {self.int8_value:.4f} -> "
                 f"{'mixed' if self.float_nodes else 'kept full int8'} {self.final_value:.4f}"
                 + (f" (float {self.float_value:.4f})" if kind == "metric" else ""),
                 f"ops kept in float32 ({len(self.float_nodes)}): "
                 + (", ".join(self.float_nodes) or "none")]
        if not math.isnan(self.latency_mixed_ms):
            lines.append(f"latency (1 sample, median): int8 {self.latency_int8_ms:.3f} ms, "
                         f"mixed {self.latency_mixed_ms:.3f} ms "
                         f"({self.latency_mixed_ms / self.latency_int8_ms:.2f}x)")
        return "\n".join(lines)


def _session_predict(graph: Graph) -> Predict:
    from int8rt.session import Session

    sess = Session(graph)
    name = graph.inputs[0]

    def predict(x: np.ndarray) -> np.ndarray:
        return sess.run(None, {name: np.ascontiguousarray(x, np.float32)})[0]

    predict.graph = graph  # lets an all-outputs metric (output_metric) run the same model
    return predict


def _float_predict(graph: Graph) -> Predict:
    from int8rt.reference.float_executor import FloatExecutor

    ex = FloatExecutor(graph)
    out = graph.outputs[0]
    name = graph.inputs[0]

    def predict(x: np.ndarray) -> np.ndarray:
        return ex.run({name: np.asarray(x, np.float32)})[out]

    return predict


def _output_metric_target(graph: Graph, spec: Any, eval_inputs: np.ndarray
                          ) -> Callable[[Predict], float]:
    """A search metric from a quant.metrics spec: agreement of every output with the float
    graph's on `eval_inputs` (the float model scores 1). `predict` is only used to find which
    model is being measured: the quantized graph behind a _session_predict is run for all of
    its outputs."""
    from int8rt.quant.keep import float_runner, int8_runner, run_outputs
    from int8rt.quant.metrics import parse_metric

    m = parse_metric(spec)
    x = np.asarray(eval_inputs, np.float32)
    feeds = [{graph.inputs[0]: x[i:i + 1]} for i in range(len(x))]
    ref = run_outputs(float_runner(graph), feeds)

    def metric(predict: Predict) -> float:
        qg = getattr(predict, "graph", None)
        if qg is None:  # the float model itself
            return 1.0
        return float(m(ref, run_outputs(int8_runner(qg), feeds)))

    return metric


def _median_latency(graphs: Sequence[Graph], x: np.ndarray, runs: int = 30) -> list[float]:
    from int8rt.session import Session

    sessions = [Session(g) for g in graphs]
    feeds = [{g.inputs[0]: x} for g in graphs]
    times: list[list[float]] = [[] for _ in graphs]
    for i in range(runs + 3):
        for k, s in enumerate(sessions):  # interleaved: drift hits both alike
            t0 = time.perf_counter()
            s.run(None, feeds[k])
            if i >= 3:
                times[k].append(time.perf_counter() - t0)
    return [1e3 * float(np.median(t)) for t in times]


def search(graph: Graph, calibration: Iterable[Any], eval_inputs: np.ndarray, *,
           method: str = "minmax", per_channel: bool = True, weight_bits: int = 8,
           max_error: float | None = None, metric: Callable[[Predict], float] | None = None,
           max_drop: float | None = None, output_metric: Any = None, equalize: bool = False,
           bias_correction: bool = False, symmetric_activations: bool = False,
           sensitivity_samples: int = 32, max_float_ops: int | None = None,
           max_slowdown: float | None = None,
           latency_ratio: Callable[[Graph, Graph, np.ndarray], float] | None = None,
           measure_latency: bool = True, progress: bool = False) -> MixedResult:
    """Keep the most sensitive Conv / Gemm ops in float32 until the target holds (module doc).

    `eval_inputs`: a batch [N, ...] of the (single) model input for the error target and for
    the sensitivity ranking (its first `sensitivity_samples`); with a metric, `metric` decides
    what data it evaluates on. Returns the first configuration meeting the target, or the best
    one found (target_met False) if none does: never worse than full int8 (module doc).

    `max_slowdown`: latency budget, a factor over the full-int8 latency; `latency_ratio(full,
    candidate, x)` measures it (default: interleaved medians of native runs on one sample).
    """
    from int8rt.quant.debug import sensitivity

    if output_metric is not None:  # a quant.metrics spec over all outputs vs the float model
        if metric is not None:
            raise ValueError("give metric or output_metric, not both")
        metric = _output_metric_target(graph, output_metric, eval_inputs)
    if (max_error is None) == (metric is None):
        raise ValueError("give exactly one target: max_error, or metric with max_drop")
    if metric is not None and max_drop is None:
        raise ValueError("a metric target needs max_drop (the largest allowed metric drop)")
    if len(graph.inputs) != 1:
        raise ValueError("mixed-precision search supports single-input models")
    if max_slowdown is not None and not max_slowdown >= 1.0:
        raise ValueError(f"max_slowdown must be >= 1 (a factor over full int8), got "
                         f"{max_slowdown}")
    if latency_ratio is None:
        def latency_ratio(a: Graph, b: Graph, x: np.ndarray) -> float:
            ta, tb = _median_latency([a, b], x, runs=15)
            return tb / ta
    eval_inputs = np.asarray(eval_inputs, np.float32)
    calibration = reiterable(calibration)
    g = prepare(graph, calibration, equalize=equalize, bias_correction=bias_correction,
                per_channel=per_channel, weight_bits=weight_bits)
    ranges = calibrate(g, calibration, method=method, progress=progress)

    if metric is not None:
        float_value = float(metric(_float_predict(graph)))

        def measure(qg: Graph) -> tuple[float, bool]:
            v = float(metric(_session_predict(qg)))
            return v, float_value - v <= max_drop + 1e-12
    else:
        float_value = math.nan
        ref = _float_predict(graph)(eval_inputs)

        def measure(qg: Graph) -> tuple[float, bool]:
            y = _session_predict(qg)(eval_inputs).astype(np.float64)
            den = float(np.sum(ref.astype(np.float64) ** 2)) or 1.0
            err = math.sqrt(float(np.sum((y - ref) ** 2)) / den)
            return err, err <= max_error

    def better(a: float, b: float) -> bool:  # a strictly better than b
        return a > b + 1e-12 if metric is not None else a < b - 1e-12

    def build(kept: list[str]) -> Graph:
        return quantize_graph(g, ranges, per_channel=per_channel, weight_bits=weight_bits,
                              float_nodes=kept, symmetric_activations=symmetric_activations)

    x1 = eval_inputs[:1]
    full = build([])
    value0, ok0 = measure(full)
    steps: list[MixedStep] = [MixedStep([], value0, ok0)]
    ranking: list[Any] = []
    if not ok0:  # the ranking costs one float run per op: only when full int8 falls short
        ranking = sensitivity(g, [], eval_inputs[:sensitivity_samples], method=method,
                              per_channel=per_channel, weight_bits=weight_bits, ranges=ranges,
                              symmetric_activations=symmetric_activations, progress=progress)
    order = [r.node for r in ranking if r.op in CANDIDATE_OPS]
    if max_float_ops is not None:
        order = order[:max_float_ops]
    best: dict[str, Any] = {"g": full, "nodes": [], "value": value0, "ok": ok0,
                            "slowdown": 1.0}
    seen: dict[tuple[str, ...], MixedStep] = {}

    def attempt(trial: list[str]) -> MixedStep:
        """Measure keeping `trial` float (once per set); the best within budget so far is
        `best`. A configuration over the latency budget is not evaluated (value nan)."""
        key = tuple(sorted(trial))
        if key in seen:
            return seen[key]
        bar.update()
        qg = build(trial)
        slowdown = math.nan
        if max_slowdown is not None:
            slowdown = latency_ratio(full, qg, x1)
            if slowdown > max_slowdown:
                step = seen[key] = MixedStep(list(trial), math.nan, False, slowdown, False)
                steps.append(step)
                return step
        value, ok = measure(qg)
        improved = better(value, best["value"])
        step = seen[key] = MixedStep(list(trial), value, ok, slowdown, improved)
        steps.append(step)
        if improved:
            best.update(g=qg, nodes=list(trial), value=value, ok=ok, slowdown=slowdown)
        return step

    bar = ProgressBar(2 * len(order), desc="mixed precision", unit="config",
                      enabled=progress and not ok0)
    try:
        # pass 1, greedy: an op stays float only if that improves on the best so far
        kept: list[str] = []
        for node in ([] if ok0 else order):
            if attempt(kept + [node]).kept:
                kept = kept + [node]
                if best["ok"]:
                    break
        # pass 2, cumulative (ops interact: two float ops can help where each alone hurts):
        # the k most sensitive ops that fit the budget, k = 1, 2, ...; the best seen wins
        cur: list[str] = []
        for node in ([] if best["ok"] else order):
            step = attempt(cur + [node])
            if not math.isnan(step.value) or max_slowdown is None:
                cur = cur + [node]
            if best["ok"]:
                break
    finally:
        bar.close()
    best_g, best_value, best_ok = best["g"], best["value"], best["ok"]
    best_slowdown, kept = best["slowdown"], best["nodes"]
    result = MixedResult(best_g, list(kept), best_ok, float_value, value0, best_value, steps,
                         ranking)
    result.max_slowdown = max_slowdown
    if measure_latency:
        if kept and max_slowdown is not None:
            # the measurement the budget was checked with
            result.latency_int8_ms = _median_latency([full], x1)[0]
            result.latency_mixed_ms = result.latency_int8_ms * best_slowdown
        else:
            result.latency_int8_ms, result.latency_mixed_ms = _median_latency([full, best_g], x1)
    return result
