"""keep="auto": find the few layers whose int8 error breaks the task, and keep just those float.

A detector or text detector can lose its task (detections, text masks) while whole-tensor
cosine stays at 0.999 (issue 20). Here the task is measured directly: an output metric
(quant.metrics: anchor-mask IoU, binary-mask IoU, argmax agreement, cosine) compares the float
model's outputs with the int8 program's on evaluation samples (by default the first
calibration samples).

1. **Sensitivity pass.** Calibrate once; run the full int8 program (native plan) and score it:
   v0. For every candidate layer (Conv / Gemm) and its region (`layer_region`: the
   activations and elementwise ops after it up to the next layer, which the static plan's
   float fallback runs too), quantize again with that one region float and score the real int8 program: its
   gain = v - v0 is the part of the task error that this layer's quantization error causes
   once propagated through everything after it (on the evaluation data, through the same
   kernels that will run). Layers are ranked by gain.
2. **Greedy keep.** Keep the best-ranked layers float one at a time until the metric reaches
   the search target, then drop again any kept layer the search target holds without (last
   kept first). If `max_keep` layers do not reach it, the best configuration seen is the
   result (never below full int8 on the evaluation samples).
2b. **Float prefix** (when the greedy keep falls short of the search target). Keep float the
   first ops of the graph in topological order, up to just before a Conv / Gemm (so one
   Quantize starts the int8 part), shortest prefix first, until the metric reaches the search
   target; the prefix may hold at most `max_prefix_share` of the model's Conv / Gemm
   multiply-adds (the float kernels' cost). Then its leading ops are given back to int8 one
   at a time while the target holds (an image input loses little in int8, and a stem conv on
   3 channels is slow in float). An activation rounded early is carried through every later
   layer: on PP-OCRv4 DBNet the activation error is spread over dozens of early roundings
   (each alone costs 0.14 of text-mask IoU at most, docs/ACCURACY.md), so no few layers kept
   float recover it, while a prefix of 72 ops (27 % of the multiply-adds) does. The result is
   the first prefix reaching the target, else the best configuration seen (greedy or
   prefix).

3. **Validation** (`keep_auto`, the entry point of quantize(keep="auto")). Steps 1-2 and the
   choice between the plain and the CLE+BC graph (`choose_preparation`) see only the
   *selection* half of the evaluation samples; the choice is accepted only if it beats the
   starting point (plain full int8) on the *validation* half, else the chosen preparation's
   full int8 is tried the same way, else the start is the result (`split_samples`: even /
   odd positions). When step 2's layers reached the search target, step 2b runs as well and
   a prefix that reaches it too is the other candidate: the one of the two scoring higher on
   the validation half is tried first (ties: the layers). Layers chosen to fix a few selection
   samples can fit just those: on PP-OCRv4 DBNet with 40 calibration samples, 5 layers reached
   0.950 there and gave 0.829 on held-out images. On PP-PicoDet a search on 8 calibration images chose 2 layers that cut the
   held-out anchor IoU from 0.956 to 0.861: a choice made on few samples must be checked on
   others before it replaces the plain model.

`target` is the agreement wanted on images the model has not seen. When the evaluation
samples are the calibration samples (the default), the search aims higher: at
`search_target = target + margin * (1 - target)`, i.e. with the default margin 0.5 at half the
allowed disagreement (0.95 for a target of 0.9). The activation ranges were measured on those
very samples, so nothing clips there, and a choice that just reaches the target on them falls
short on other images: on PP-OCRv4 DBNet (docs/ACCURACY.md, CLE+BC) aiming at 0.9 stops at one
float layer, 0.916 on the calibration samples and 0.787 on the held-out images. With held-out
evaluation samples (`--eval`) pass margin=0.

Cost: one quantize + plan + run of the evaluation samples per candidate; no float run beyond
the reference outputs. The result records the metric of the full int8 model and of the
chosen one, the layers kept and the ranking (`graph.meta["quantization"]["keep_auto"]`).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from int8rt.ir import Graph
from int8rt.opset import OPS
from int8rt.quant.metrics import OutputMetric, parse_metric

CANDIDATE_OPS = ("Conv", "Gemm")
# float-capable data movement (out_qparams "same": moves values, rounds nothing)
_MOVES = tuple(op for op, s in OPS.items() if s.out_qparams == "same" and s.lower_f32)
DEFAULT_TARGET = {"cosine": 0.999, "anchor-iou": 0.9, "mask-iou": 0.9, "argmax": 0.9}
# the share of the allowed disagreement (1 - target) kept in reserve when the evaluation
# samples are the calibration samples (module doc)
DEFAULT_MARGIN = 0.5
# evaluation samples keep="auto" takes from the calibration data when given none: half select,
# half validate (keep_auto)
EVAL_SAMPLES = 16
# the largest share of the model's Conv / Gemm multiply-adds a float prefix may hold (step 2b):
# the static plan's f32conv kernels take about 3.5x the time of the int8 ones per model
# (PP-OCRv4 DBNet, AVX-512: all float 0.88x ORT fp32's speed, all int8 3.1x), so a prefix of
# share f costs about 1 + 2.5 f times full int8: 0.4 keeps it within 2x
MAX_PREFIX_SHARE = 0.4


def search_target(target: float, margin: float) -> float:
    """The value keep auto aims for on its evaluation samples so that unseen samples reach
    `target` (module doc)."""
    if not 0.0 <= margin < 1.0 or math.isnan(margin):
        raise ValueError(f"margin must be in [0, 1), got {margin}")
    return target + margin * (1.0 - target)


@dataclass(frozen=True)
class LayerGain:
    node: str
    op: str
    value: float  # the metric with this layer alone kept float
    gain: float  # value - metric of the full int8 model


@dataclass
class Validation:
    """keep_auto's check of the search's choice on the validation samples (module doc)."""

    samples: int  # validation samples
    start: str  # the starting point: plain full int8 (or the preparation the caller forced)
    start_value: float  # its metric on the validation samples
    found: str  # what the search chose on the selection samples, e.g. "CLE+BC, 3 kept"
    found_value: float  # its metric on the validation samples
    accepted: str  # "search", "prefix" (the other candidate), "preparation" (its full int8
    # without kept layers) or "start"
    value: float  # the accepted configuration's metric on the validation samples
    other: str = ""  # the float prefix tried besides layers that met the search target
    other_value: float | None = None  # its metric on the validation samples

    def summary(self) -> str:
        other = ("" if self.other_value is None
                 else f", other ({self.other}) {self.other_value:.4f}")
        return (f"validation on {self.samples} samples the search did not see: start "
                f"({self.start}) {self.start_value:.4f}, found ({self.found}) "
                f"{self.found_value:.4f}{other} -> accepted {self.accepted} ({self.value:.4f})")

    def meta(self) -> dict[str, Any]:
        return {"samples": self.samples, "start": self.start,
                "start_value": float(self.start_value), "found": self.found,
                "found_value": float(self.found_value), "accepted": self.accepted,
                "value": float(self.value),
                **({} if self.other_value is None else
                   {"other": self.other, "other_value": float(self.other_value)})}


@dataclass
class KeepResult:
    graph: Graph
    kept: list[str]
    metric: str
    target: float
    int8_value: float
    final_value: float
    target_met: bool
    ranking: list[LayerGain] = field(default_factory=list)
    evaluations: int = 0
    search_target: float | None = None  # what the search aimed for (None: `target` itself)
    prepared: str = ""  # the float graph's preparation (choose_preparation), "" if not chosen
    validation: Validation | None = None  # the check on samples the search did not see
    prefix: int = 0  # ops of the float prefix (step 2b, leading ops trimmed) that `kept`
    # holds; 0: layers kept (step 2)
    prefix_share: float = 0.0  # its share of the Conv / Gemm multiply-adds

    def summary(self) -> str:
        aim = ("" if self.search_target in (None, self.target)
               else f", searched to {self.search_target:g} on its samples")
        prep = f", {self.prepared}" if self.prepared else ""
        lines = [(f"keep auto ({self.metric}, target {self.target:g}{aim}{prep}): full int8 "
                 f"{self.int8_value:.4f} -> {self.final_value:.4f} "
                 f"({'met' if self.target_met else 'NOT met'}, {self.evaluations} int8 runs)"),
                 self.kept_text()]
        if self.validation is not None:
            lines.append(self.validation.summary())
        return "\n".join(lines)

    def kept_text(self) -> str:
        if self.prefix:
            return (f"float prefix: {self.prefix} ops in graph order, {self.kept[0]} to "
                    f"{self.kept[-1]} ({100 * self.prefix_share:.0f} % of the multiply-adds)")
        return f"layers kept float ({len(self.kept)}): " + (", ".join(self.kept) or "none")

    def meta(self) -> dict[str, Any]:
        return {"metric": self.metric, "target": float(self.target),
                "search_target": float(self.target if self.search_target is None
                                       else self.search_target),
                "prepared": self.prepared,
                "int8_value": float(self.int8_value), "final_value": float(self.final_value),
                "target_met": bool(self.target_met), "kept": list(self.kept),
                "ranking": [[r.node, float(r.gain)] for r in self.ranking[:16]],
                **({} if not self.prefix else
                   {"prefix": {"ops": self.prefix, "first": self.kept[0],
                               "last": self.kept[-1],
                               "share": float(self.prefix_share)}}),
                **({} if self.validation is None else {"validation": self.validation.meta()})}


def run_outputs(run: Callable[[dict[str, np.ndarray]], list[np.ndarray]],
                feeds: Sequence[dict[str, np.ndarray]]) -> list[np.ndarray]:
    """All outputs of `run` over the feeds, each concatenated along the batch axis."""
    per = [run(f) for f in feeds]
    return [np.concatenate([p[k] for p in per]) for k in range(len(per[0]))]


def float_runner(graph: Graph) -> Callable[[dict[str, np.ndarray]], list[np.ndarray]]:
    from int8rt.reference.float_executor import FloatExecutor

    ex = FloatExecutor(graph)
    return lambda feed: [np.asarray(v) for v in
                         (ex.run(feed)[o] for o in graph.outputs)]


def int8_runner(qgraph: Graph) -> Callable[[dict[str, np.ndarray]], list[np.ndarray]]:
    from int8rt.session import Session

    sess = Session(qgraph)
    return lambda feed: sess.run(None, feed)


def layer_region(graph: Graph, name: str, max_len: int = 6) -> list[str]:
    """The layer `name` and the ops after it that run with it in float: followed while each
    output has a single reader that is not itself a Conv / Gemm and has a float32 kernel in
    the static plan (activations, scalar affines, elementwise; lower.FLOAT_OPS). Keeping the
    region float removes the int8 roundings between the layer and the next one, not only the
    layer's own: a float conv alone still writes an int8-rounded activation (issue 20)."""
    from int8rt.lower import FLOAT_OPS

    users = graph.consumers()
    by_name = {n.name: n for n in graph.nodes}
    region = [name]
    node = by_name[name]
    while len(region) < max_len and len(node.outputs) == 1:
        out = node.outputs[0]
        readers = users.get(out, [])
        if out in graph.outputs or len(readers) != 1:
            break
        nxt = readers[0]
        if nxt.op in CANDIDATE_OPS or nxt.op not in FLOAT_OPS or nxt.op in _MOVES:
            break  # data movement rounds nothing: int8 moves it as well
        region.append(nxt.name)
        node = nxt
    return region


def sensitivity_pass(graph: Graph, ranges: Any, feeds: Sequence[dict[str, np.ndarray]],
                     ref: list[np.ndarray], metric: OutputMetric,
                     candidates: Iterable[str], quant_kw: dict[str, Any],
                     base: float | None = None,
                     progress: bool = False) -> tuple[float, list[LayerGain]]:
    """(metric of the full int8 model, layers ranked by the metric gained when each alone is
    kept float: largest first). Every value is measured on the real int8 program."""
    from int8rt.quant.ptq import quantize_graph

    def score(float_nodes: list[str]) -> float:
        float_nodes = [r for n in float_nodes for r in layer_region(graph, n)]
        qg = quantize_graph(graph, ranges, float_nodes=float_nodes, **quant_kw)
        return float(metric(ref, run_outputs(int8_runner(qg), feeds)))

    v0 = score([]) if base is None else base
    ops = {n.name: n.op for n in graph.nodes}
    rows = []
    cands = list(candidates)
    for i, name in enumerate(cands):
        v = score([name])
        rows.append(LayerGain(name, ops[name], v, v - v0))
        if progress:
            print(f"\rsensitivity {i + 1}/{len(cands)}", end="", flush=True)
    if progress and cands:
        print()
    rows.sort(key=lambda r: -r.gain)
    return v0, rows


def layer_macs(graph: Graph) -> dict[str, int]:
    """Multiply-adds of each Conv / Gemm node of a shaped graph: output elements times the
    weight elements behind one output (canonical weights are [out, ...]: C_in / group x kernel
    for a Conv, K for a Gemm's W [N, K])."""
    return {n.name: int(np.prod(graph.tensor(n.outputs[0]).shape))
            * int(np.prod(graph.tensor(n.inputs[1]).shape[1:]))
            for n in graph.nodes if n.op in CANDIDATE_OPS}


def float_prefixes(graph: Graph, max_share: float = MAX_PREFIX_SHARE
                   ) -> list[tuple[list[str], float]]:
    """The float prefixes step 2b tries, shortest first: (node names, share of the Conv / Gemm
    multiply-adds they hold). Each is the float32-capable ops (lower.FLOAT_OPS; others such as
    Concat stay int8 in any case) of the graph's topological order before a Conv / Gemm, so
    the int8 part starts at a layer; a prefix holding more than `max_share` of the
    multiply-adds, or the whole graph, is not tried."""
    from int8rt.lower import FLOAT_OPS

    macs = layer_macs(graph)
    total = sum(macs.values())
    order = [n for n in graph.topological() if n.op in FLOAT_OPS]
    cuts: list[tuple[list[str], float]] = []
    done = 0
    for k, node in enumerate(order):
        if node.op in CANDIDATE_OPS and k > 0:
            share = done / total if total else 0.0
            if share > max_share:
                break
            cuts.append(([n.name for n in order[:k]], share))
        done += macs.get(node.name, 0)
    return cuts


# float-graph preparations keep="auto" tries when the caller chose none: (label, equalize,
# bias_correction). CLE + BC together, not each alone: on PP-OCRv4 DBNet each alone moved the
# full int8 text-mask IoU by about 0.01, both together by 0.06 (docs/ACCURACY.md).
PREPARATIONS = (("plain", False, False), ("CLE+BC", True, True))


@dataclass
class Preparation:
    label: str
    graph: Graph  # the prepared float graph
    ranges: Any  # its calibrated activation ranges
    value: float  # the metric of its full int8 program on the evaluation samples
    qgraph: Graph | None = None  # that full int8 program


def choose_preparation(graph: Graph, calibration: Any, eval_feeds: Sequence[dict[str, Any]],
                       metric: str | OutputMetric, *, method: str = "minmax",
                       options: Sequence[tuple[str, bool, bool]] = PREPARATIONS,
                       progress: bool = False, **quant_kw: Any) -> list[Preparation]:
    """Each preparation of `options` (cross-layer equalization and / or bias correction,
    ptq.prepare), calibrated and scored by its full int8 program on `eval_feeds`: best first
    (ties keep the order of `options`, plain before CLE+BC). `calibration` is read once per
    option (twice with bias correction): a re-iterable. Costs one calibration and one int8 run
    of the evaluation samples per option, against one int8 run per layer for the
    sensitivity pass that follows."""
    from int8rt.quant.calibrate import calibrate
    from int8rt.quant.ptq import prepare, quantize_graph

    m = parse_metric(metric)
    feeds = [{k: np.asarray(v, np.float32) for k, v in f.items()} for f in eval_feeds]
    ref = run_outputs(float_runner(graph), feeds)
    found = []
    for label, cle, bc in options:
        g = prepare(graph, calibration, equalize=cle, bias_correction=bc,
                    per_channel=quant_kw.get("per_channel", True),
                    weight_bits=quant_kw.get("weight_bits", 8))
        ranges = calibrate(g, calibration, method=method, progress=progress)
        qg = quantize_graph(g, ranges, **quant_kw)
        found.append(Preparation(label, g, ranges,
                                 float(m(ref, run_outputs(int8_runner(qg), feeds))), qg))
    order = sorted(range(len(found)), key=lambda i: (-found[i].value, i))
    return [found[i] for i in order]


def auto_keep(graph: Graph, calibration: Iterable[Any], eval_feeds: Sequence[dict[str, Any]],
              metric: str | OutputMetric = "cosine", target: float | None = None, *,
              method: str = "minmax", max_keep: int = 8, candidates: Sequence[str] | None = None,
              ranges: Any = None, margin: float = DEFAULT_MARGIN,
              max_prefix_share: float = MAX_PREFIX_SHARE, reference: Graph | None = None,
              layers: bool = True, progress: bool = False, **quant_kw: Any) -> KeepResult:
    """Quantize `graph` keeping float just the layers that break `metric` (module doc).
    `eval_feeds`: a few {input: array} samples the metric is measured on; `target` is the
    agreement wanted on unseen samples and the search aims at search_target(target, margin)
    on `eval_feeds` (margin=0 when they are held out from the calibration data). When `max_keep`
    layers do not reach it, float prefixes of up to `max_prefix_share` of the multiply-adds are
    tried (step 2b; 0 turns that off; `layers=False` skips steps 1-2 and tries prefixes
    only). `reference`: the float model the metric compares with
    (default `graph`); keep_auto passes the model before preparation, since a bias-corrected
    graph's float outputs are not the model's (on PP-OCRv4 DBNet they moved the selection
    value of one configuration from 0.980 to 0.951). `quant_kw` go to ptq.quantize_graph
    (per_channel, weight_bits, symmetric_activations, io_dtype)."""
    from int8rt.quant.calibrate import calibrate
    from int8rt.quant.ptq import quantize_graph

    m = parse_metric(metric)
    target = DEFAULT_TARGET[m.kind] if target is None else float(target)
    if not 0.0 <= target <= 1.0 or math.isnan(target):
        raise ValueError(f"target must be in [0, 1], got {target}")
    aim = search_target(target, margin)
    if max_keep < 0:
        raise ValueError(f"max_keep must be >= 0, got {max_keep}")
    if not 0.0 <= max_prefix_share <= 1.0 or math.isnan(max_prefix_share):
        raise ValueError(f"max_prefix_share must be in [0, 1], got {max_prefix_share}")
    feeds = [{k: np.asarray(v, np.float32) for k, v in f.items()} for f in eval_feeds]
    if not feeds:
        raise ValueError("keep='auto' needs evaluation samples")
    if ranges is None:
        ranges = calibrate(graph, calibration, method=method, progress=progress)
    ref = run_outputs(float_runner(graph if reference is None else reference), feeds)
    evaluations = 0

    def build(float_nodes: list[str], regions: bool = True) -> tuple[Graph, float]:
        nonlocal evaluations
        evaluations += 1
        if regions:
            float_nodes = [r for n in float_nodes for r in layer_region(graph, n)]
        qg = quantize_graph(graph, ranges, float_nodes=float_nodes, **quant_kw)
        return qg, float(m(ref, run_outputs(int8_runner(qg), feeds)))

    full, v0 = build([])
    if v0 >= aim or max_keep == 0:
        return KeepResult(full, [], m.spec, target, v0, v0, v0 >= aim, [], evaluations, aim)
    if candidates is None:
        candidates = [n.name for n in graph.topological() if n.op in CANDIDATE_OPS]
    ranking: list[LayerGain] = []
    if layers:
        _, ranking = sensitivity_pass(graph, ranges, feeds, ref, m, candidates, quant_kw,
                                      base=v0, progress=progress)
        evaluations += len(ranking)
    best: tuple = (full, [], v0)  # (graph, kept, value[, prefix share])
    kept: list[str] = []
    chosen = None
    for row in ranking[:max_keep]:
        if row.gain <= 0 and kept:
            break
        kept.append(row.node)
        qg, v = build(kept)
        if v > best[2]:
            best = (qg, list(kept), v)
        if v >= aim:
            chosen = (qg, list(kept), v)
            break
    if chosen is None:
        # step 2b: a float prefix, shortest first, its leading ops trimmed (module doc)
        macs = layer_macs(graph)
        total = sum(macs.values()) or 1
        for nodes, share in float_prefixes(graph, max_prefix_share):
            qg, v = build(nodes, regions=False)
            if v > best[2]:
                best = (qg, nodes, v, share)
            if v >= aim:
                while len(nodes) > 1:
                    g2, v2 = build(nodes[1:], regions=False)
                    if v2 < aim:
                        break
                    qg, nodes, v = g2, nodes[1:], v2
                share = sum(macs.get(n, 0) for n in nodes) / total
                return KeepResult(qg, nodes, m.spec, target, v0, v, True, ranking,
                                  evaluations, aim, prefix=len(nodes), prefix_share=share)
        qg, kept, v = best[:3]
        prefix = (len(kept), best[3]) if len(best) > 3 else (0, 0.0)
        return KeepResult(qg, kept, m.spec, target, v0, v, False, ranking, evaluations, aim,
                          prefix=prefix[0], prefix_share=prefix[1])
    qg, kept, v = chosen
    for name in reversed(kept[:-1]):  # the last one was needed to reach the target
        trial = [k for k in kept if k != name]
        g2, v2 = build(trial)
        if v2 >= aim:
            qg, kept, v = g2, trial, v2
    return KeepResult(qg, kept, m.spec, target, v0, v, True, ranking, evaluations, aim)


def split_samples(feeds: Sequence[Any]) -> tuple[list[Any], list[Any]]:
    """(selection, validation): the samples at even positions and at odd positions. Fixed and
    interleaved, so a set sorted by kind (photos, then pages of text, ...) puts samples of each
    kind in both halves; no randomness, so the same data always gives the same split."""
    return list(feeds[0::2]), list(feeds[1::2])


def keep_auto(graph: Graph, calibration: Any, eval_feeds: Sequence[dict[str, Any]],
              metric: str | OutputMetric = "cosine", target: float | None = None, *,
              method: str = "minmax", options: Sequence[tuple[str, bool, bool]] = PREPARATIONS,
              margin: float = DEFAULT_MARGIN, validate: bool = True,
              max_prefix_share: float = MAX_PREFIX_SHARE, progress: bool = False,
              **quant_kw: Any) -> KeepResult:
    """keep="auto" end to end (module doc): choose the preparation (choose_preparation) and
    the layers to keep float (auto_keep) on the selection half of `eval_feeds`, then accept
    that choice only if it beats the starting point on the validation half, which the search
    never saw (split_samples). The starting point is the first of `options` (plain full int8
    by default); when the search's choice does not beat it there, its preparation's full int8
    is tried the same way, else the starting point is the result. So keep="auto" never ends
    worse than plain int8 on samples it did not choose on. `validate=False` (or fewer than 2
    samples): the search uses all samples and its choice stands."""
    m = parse_metric(metric)
    feeds = [{k: np.asarray(v, np.float32) for k, v in f.items()} for f in eval_feeds]
    if not feeds:
        raise ValueError("keep='auto' needs evaluation samples")
    sel, val = split_samples(feeds) if validate and len(feeds) >= 2 else (feeds, [])
    preps = choose_preparation(graph, calibration, sel, m, method=method, options=options,
                               progress=progress, **quant_kw)
    best = preps[0]
    res = auto_keep(best.graph, calibration, sel, m, target, method=method, ranges=best.ranges,
                    margin=margin, max_prefix_share=max_prefix_share, reference=graph,
                    progress=progress, **quant_kw)
    res.prepared = best.label
    if not val:
        return res
    alt = None
    if res.target_met and res.kept and not res.prefix and max_prefix_share > 0:
        # layers reached the search target on the selection samples, which they were chosen
        # to fix; a float prefix that reaches it too is the other candidate, and the
        # validation samples decide (module doc, step 3)
        alt = auto_keep(best.graph, calibration, sel, m, target, method=method,
                        ranges=best.ranges, margin=margin, max_prefix_share=max_prefix_share,
                        reference=graph, layers=False, **quant_kw)
        res.evaluations += alt.evaluations
        if not alt.target_met:
            alt = None
    start = next(p for p in preps if p.label == options[0][0])
    ref = run_outputs(float_runner(graph), val)

    def on_val(qg: Graph) -> float:
        res.evaluations += 1
        return float(m(ref, run_outputs(int8_runner(qg), val)))

    start_val = on_val(start.qgraph)
    found = (f"{best.label}, float prefix of {res.prefix} ops" if res.prefix
             else f"{best.label}, {len(res.kept)} kept")
    found_val = start_val if best is start and not res.kept else on_val(res.graph)
    # (label, graph, kept, selection value, validation value), the search's preference first
    trials = [("search", res.graph, res.kept, res.final_value, found_val)]
    other, other_val = "", None
    if alt is not None:
        other = f"{best.label}, float prefix of {alt.prefix} ops"
        other_val = on_val(alt.graph)
        if other_val > found_val:  # ties keep the layers: fewer float ops
            trials.insert(0, ("prefix", alt.graph, alt.kept, alt.final_value, other_val))
        else:
            trials.append(("prefix", alt.graph, alt.kept, alt.final_value, other_val))
    if res.kept and best is not start:
        trials.append(("preparation", best.qgraph, [], best.value, on_val(best.qgraph)))
    accepted = next((t for t in trials if t[4] > start_val), None)
    if accepted is None:
        accepted = ("start", start.qgraph, [], start.value, start_val)
        res.prepared = start.label
    label, res.graph, res.kept, res.final_value, value = accepted
    if label == "prefix":
        res.prefix, res.prefix_share = alt.prefix, alt.prefix_share
    elif label != "search":
        res.prefix, res.prefix_share = 0, 0.0
    if label == "start":
        res.int8_value = start.value
    res.target_met = res.final_value >= (res.search_target or res.target) and \
        value >= res.target
    res.validation = Validation(len(val), start.label, start_val, found, found_val, label,
                                value, other, other_val)
    return res
