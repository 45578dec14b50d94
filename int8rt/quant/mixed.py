"""Automatic mixed precision: keep the ops int8 hurts most in float32 until a target holds.

1. Calibrate once; rank the candidate ops (Conv / Gemm, with their fused activation) by
   `debug.sensitivity` (model-output SQNR with that op alone in int8: worst first).
2. Quantize with the k most sensitive ops kept float (ptq.quantize_graph float_nodes; lowering
   runs them on the f32conv kernels inside the same native plan), for k = 0, 1, 2, ... and stop
   at the first k that meets the target. Each step is measured on the real int8 program run by
   the native plan, not on the simulation used for ranking.

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
from int8rt.quant.calibrate import calibrate
from int8rt.quant.ptq import prepare, quantize_graph, reiterable

Predict = Callable[[np.ndarray], np.ndarray]
CANDIDATE_OPS = ("Conv", "Gemm")


@dataclass
class MixedStep:
    float_nodes: list[str]
    value: float  # the error (max_error target) or the metric (metric target)
    ok: bool


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

    def summary(self) -> str:
        kind = "metric" if not math.isnan(self.float_value) else "output rel. RMS error"
        lines = [f"mixed precision: target {'met' if self.target_met else 'NOT met'}; "
                 f"{kind}: full int8 {self.int8_value:.4f} -> mixed {self.final_value:.4f}"
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
           measure_latency: bool = True, progress: bool = False) -> MixedResult:
    """Keep the most sensitive Conv / Gemm ops in float32 until the target holds (module doc).

    `eval_inputs`: a batch [N, ...] of the (single) model input for the error target and for
    the sensitivity ranking (its first `sensitivity_samples`); with a metric, `metric` decides
    what data it evaluates on. Returns the first configuration meeting the target, or the
    all-candidates-float one (target_met False) if none does.
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
    eval_inputs = np.asarray(eval_inputs, np.float32)
    calibration = reiterable(calibration)
    g = prepare(graph, calibration, equalize=equalize, bias_correction=bias_correction,
                per_channel=per_channel, weight_bits=weight_bits)
    ranges = calibrate(g, calibration, method=method, progress=progress)
    ranking = sensitivity(g, [], eval_inputs[:sensitivity_samples], method=method,
                          per_channel=per_channel, weight_bits=weight_bits, ranges=ranges,
                          symmetric_activations=symmetric_activations)
    order = [r.node for r in ranking if r.op in CANDIDATE_OPS]
    if max_float_ops is not None:
        order = order[:max_float_ops]

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

    steps: list[MixedStep] = []
    chosen = None
    for k in range(len(order) + 1):
        kept = order[:k]
        qg = quantize_graph(g, ranges, per_channel=per_channel, weight_bits=weight_bits,
                            float_nodes=kept, symmetric_activations=symmetric_activations)
        value, ok = measure(qg)
        steps.append(MixedStep(list(kept), value, ok))
        if progress:
            print(f"mixed precision: {k} op(s) float -> {value:.4f} {'ok' if ok else ''}")
        chosen = (qg, kept, ok, value)
        if k == 0:
            full = qg
        if ok:
            break
    assert chosen is not None
    qg, kept, ok, value = chosen
    result = MixedResult(qg, list(kept), ok, float_value, steps[0].value, value, steps, ranking)
    if measure_latency:
        result.latency_int8_ms, result.latency_mixed_ms = _median_latency(
            [full, qg], eval_inputs[:1])
    return result
