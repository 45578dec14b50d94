"""`int8rt report`: an HTML page (with PNG plots next to it) on how well a model quantizes.

Contents:
- summary table: for every calibration method, the model-output SQNR / cosine / top-1
  agreement of the real int8 program (per-channel and per-tensor weights) against float;
- per-layer error chart: SQNR of every int8 activation (quant.debug.layer_errors) for the
  chosen method;
- activation histograms of the worst layers with each method's clip range drawn on them;
- sensitivity: the ops whose int8 version alone hurts the output most (quant.debug.sensitivity);
- advice: what to try next (another method, per-channel weights, float fallback, QAT).

One streaming pass over the calibration data feeds one observer per method and tensor (the
histogram methods keep 2048 bins each), so memory does not grow with the data. Plotting needs
matplotlib, an optional extra: `pip install int8rt[report]`.
"""

from __future__ import annotations

import html
import math
import os
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from int8rt.quant.observers import HistogramObserver, make_observer

METHODS = ("minmax", "ema", "percentile", "entropy", "mse")


def _matplotlib():
    try:
        import matplotlib
    except ImportError:
        raise ImportError("int8rt report draws its plots with matplotlib, which is not "
                          "installed: pip install 'int8rt[report]' (or pip install "
                          "matplotlib)") from None
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


@dataclass
class MethodScore:
    method: str
    per_channel: bool
    sqnr_db: float
    cosine: float
    top1_agree: float  # nan for outputs that are not class scores


def observe_all(graph: Any, data: Iterable[Any], methods: Iterable[str] = METHODS,
                batch_size: int = 16, max_samples: int | None = None, progress: bool = False
                ) -> tuple[dict[str, dict[str, tuple[float, float]]], dict[str, Any]]:
    """({method: {tensor: (lo, hi)}}, {tensor: histogram observer}) from one pass."""
    from int8rt.progress import ProgressBar
    from int8rt.quant.calibrate import _batches
    from int8rt.reference.float_executor import FloatExecutor

    methods = list(methods)
    obs: dict[str, dict[str, Any]] = {}
    consts = {t.name for t in graph.constants()}

    def observe(name: str, value: np.ndarray) -> None:
        if name in consts or not np.issubdtype(np.asarray(value).dtype, np.floating):
            return
        per = obs.get(name)
        if per is None:
            per = obs[name] = {m: make_observer(m, name) for m in methods}
        for o in per.values():
            o.update(value)

    ex = FloatExecutor(graph)
    bar = ProgressBar(getattr(data, "num_samples", max_samples), desc="observing",
                      unit="sample", enabled=progress)
    try:
        for feeds in _batches(graph, data, batch_size, max_samples):
            for name in graph.inputs:
                observe(name, feeds[name])
            ex.run(feeds, observe=observe)
            bar.update(next(iter(feeds.values())).shape[0])
    finally:
        bar.close()
    if not obs:
        raise ValueError("calibration data is empty")
    bar = ProgressBar(len(obs), desc="choosing ranges", unit="tensor", enabled=progress)
    ranges: dict[str, dict[str, tuple[float, float]]] = {m: {} for m in methods}
    try:
        for t, per in obs.items():  # the entropy (KL) search is the slow part
            for m in methods:
                ranges[m][t] = per[m].range()
            bar.update()
    finally:
        bar.close()
    hist = {t: next((o for o in per.values() if isinstance(o, HistogramObserver)), None)
            for t, per in obs.items()}
    return ranges, hist


def _score(qg: Any, ref: np.ndarray, x: np.ndarray) -> tuple[float, float, float]:
    from int8rt.session import Session

    y = Session(qg).run(None, {qg.inputs[0]: x})[0].astype(np.float64)
    r = ref.astype(np.float64)
    err = float(np.sum((y - r) ** 2))
    sqnr = math.inf if err == 0 else 10 * math.log10(max(float(np.sum(r * r)), 1e-300) / err)
    den = math.sqrt(float(np.sum(r * r)) * float(np.sum(y * y)))
    cos = float(np.sum(r * y) / den) if den else 1.0
    agree = math.nan
    if r.ndim == 2 and r.shape[1] > 1:
        agree = float(np.mean(r.argmax(1) == y.argmax(1)))
    return sqnr, cos, agree


def _task_key(s: MethodScore) -> tuple[float, float]:
    """How the report ranks settings: by the task metric when the output has one (top-1
    agreement for class scores), output SQNR only to break ties; by SQNR otherwise."""
    agree = -1.0 if math.isnan(s.top1_agree) else s.top1_agree
    return agree, s.sqnr_db


def _advice(scores: list[MethodScore], chosen: MethodScore, layers: list[Any],
            sens: list[Any], depthwise: bool, label: dict[str, str] | None = None) -> list[str]:
    out = []
    label = label or {}
    best = max(scores, key=_task_key)
    by_task = not math.isnan(chosen.top1_agree)
    # never recommend what the summary table shows worse on the task metric
    if by_task:
        gain = best.top1_agree > chosen.top1_agree or (
            best.top1_agree == chosen.top1_agree and best.sqnr_db > chosen.sqnr_db + 1.0)
    else:
        gain = best.sqnr_db > chosen.sqnr_db + 1.0
    if gain and best is not chosen:
        weights = ("" if best.per_channel == chosen.per_channel else
                   " with per-channel weights (no --per-tensor)" if best.per_channel else
                   " --per-tensor")
        why = (f"top-1 agreement {best.top1_agree:.3f} vs {chosen.top1_agree:.3f} now, output "
               f"SQNR {best.sqnr_db:.1f} dB vs {chosen.sqnr_db:.1f} dB" if by_task else
               f"output SQNR {best.sqnr_db:.1f} dB vs {chosen.sqnr_db:.1f} dB now")
        out.append(f"Calibrate with <b>--method {best.method}</b>{weights}: {why}.")
    pc = {s.method: s for s in scores if s.per_channel}
    pt = {s.method: s for s in scores if not s.per_channel}
    m = chosen.method
    if m in pc and m in pt and _task_key(pc[m]) > _task_key(pt[m]) and \
            pc[m].sqnr_db > pt[m].sqnr_db + 1.0:
        out.append(f"Per-channel weights matter here ({pc[m].sqnr_db:.1f} dB vs "
                   f"{pt[m].sqnr_db:.1f} dB per tensor): keep them (the default)"
                   + ("; if the target needs per-tensor weights, try <b>--equalize</b> "
                      "(cross-layer equalization) and <b>--bias-correction</b>, made for "
                      "depthwise networks" if depthwise else "") + ".")
    finite = [r.sqnr_db for r in layers if math.isfinite(r.sqnr_db)]
    if finite:
        med = float(np.median(finite))
        bad = [r for r in layers if math.isfinite(r.sqnr_db) and r.sqnr_db < med - 10
               and r.sqnr_db < r.input_sqnr_db - 6]
        for r in bad[:3]:
            out.append(f"Layer <code>{html.escape(label.get(r.name, r.name))}</code> ({r.op}) "
                       "adds most error "
                       f"({r.sqnr_db:.1f} dB vs median {med:.1f} dB): calibrate it with another "
                       "method (observers_per_tensor) or keep it in float.")
    if sens:
        worst = sens[0]
        cand = [s for s in sens if s.op in ("Conv", "Gemm")][:3]
        if cand and worst.sqnr_db < best.sqnr_db + 6:
            names = ", ".join(f"<code>{html.escape(s.node)}</code> ({s.sqnr_db:.1f} dB)"
                              for s in cand)
            out.append(f"Most sensitive ops alone in int8: {names}. Mixed precision keeps "
                       "such ops in float32 when that helps: <b>int8rt quantize --max-drop X "
                       "--max-slowdown 1.5</b> (or --max-error), within the latency budget "
                       "you give; or name them yourself with <b>--float-nodes</b>.")
    if best.sqnr_db < 15:
        out.append("Even the best post-training setting leaves a low output SQNR "
                   f"({best.sqnr_db:.1f} dB): quantization-aware training is the next step.")
    if not out:
        out.append("The int8 model tracks the float one closely; nothing urgent to change.")
    return out


def adjusted_scales(meta: dict) -> list[tuple[str, int, float, float]]:
    """(node, channel, old scale, new scale) of every weight scale PTQ raised so that the int32
    bias and accumulator bound fit (docs/QUANTIZATION.md §3); channel -1 is a per-tensor
    scale."""
    q = (meta or {}).get("quantization")
    adj = q.get("weight_scale_adjusted", {}) if isinstance(q, dict) else {}  # dynamic: a str
    return [(node, int(c), float(old), float(new)) for node, rows in adj.items()
            for c, old, new in rows]


def adjusted_scale_lines(meta: dict) -> list[str]:
    """The adjustments as text lines (int8rt inspect)."""
    rows = adjusted_scales(meta)
    if not rows:
        return []
    head = (f"weight scales raised to fit the int32 bias / accumulator ({len(rows)} "
            "channel(s), docs/QUANTIZATION.md §3):")
    out = [head]
    for node, c, old, new in rows:
        ch = "per-tensor" if c < 0 else f"channel {c}"
        out.append(f"  {node} {ch}: {old:.4g} -> {new:.4g} (x{new / old:.3g})")
    return out


def write_report(model: Any, calibration: Any, output: str | os.PathLike, method: str = "minmax",
                 per_channel: bool = True, eval_inputs: np.ndarray | None = None,
                 samples: int = 64, progress: bool = False, hist_layers: int = 6,
                 sensitivity_ops: int | None = 40,
                 input_shapes: dict[str, tuple[int, ...]] | None = None,
                 title: str | None = None, png_stem: str | os.PathLike | None = None,
                 timings: dict[str, float] | None = None) -> Path:
    """Write the report to `output` (.html) and its PNGs beside it; returns the html path.

    `png_stem`: where the PNGs go (`<stem>_layers.png`, ...; default: `output` without its
    suffix), so the CLI can write the page under a temporary name. `title`: the model name the
    page shows (default: the path, or the graph's name). `timings`, if given, receives the
    seconds each phase took (the progress bars show the same phases)."""
    plt = _matplotlib()
    from int8rt.api import QuantizedModel, load_float_model
    from int8rt.calib_data import _first_samples_array, calibration_source
    from int8rt.progress import ProgressBar
    from int8rt.quant.debug import layer_errors, sensitivity
    from int8rt.quant.ptq import quantize_graph
    from int8rt.reference.float_executor import FloatExecutor

    if method not in METHODS:
        raise ValueError(f"unknown method {method!r}; choose one of {METHODS}")
    out = Path(output)
    out.parent.mkdir(parents=True, exist_ok=True)
    stem = Path(png_stem) if png_stem is not None else out.with_suffix("")
    phase = _Phases(timings)
    g = load_float_model(model, input_shapes)
    if len(g.inputs) != 1:
        raise ValueError("int8rt report supports single-input models")
    calib = calibration_source(calibration)
    x = (np.asarray(eval_inputs, np.float32)[:samples] if eval_inputs is not None
         else _first_samples_array(calib, samples))
    phase.done("load")
    ranges, hists = observe_all(g, calib, progress=progress)
    ref = FloatExecutor(g).run({g.inputs[0]: x})[g.outputs[0]]
    phase.done("observe")

    scores = []
    bar = ProgressBar(2 * len(METHODS), desc="scoring methods", unit="config",
                      enabled=progress)
    try:
        for m in METHODS:
            for pc in (True, False):
                qg = quantize_graph(g, ranges[m], per_channel=pc)
                scores.append(MethodScore(m, pc, *_score(qg, ref, x)))
                bar.update()
    finally:
        bar.close()
    phase.done("methods")
    chosen = next(s for s in scores if s.method == method and s.per_channel == per_channel)
    qg = quantize_graph(g, ranges[method], per_channel=per_channel)
    # numpy reference of the int8 program: 8 samples give each layer's SQNR from thousands of
    # values at least; more only cost time
    layers = layer_errors(QuantizedModel(qg, g), [x[:8]], progress=progress)
    phase.done("layers")
    # one float run per op: only the ops mixed precision / --float-nodes can keep in float
    # (Conv, Gemm), on 4 samples (the ranking, not the value, is what the advice uses)
    cand = [n.name for n in g.nodes if n.op in ("Conv", "Gemm")]
    sens = sensitivity(g, [], x[:4], method=method, per_channel=per_channel,
                       ranges=ranges[method], ops=cand, progress=progress)
    if sensitivity_ops is not None:
        sens = sens[:sensitivity_ops]
    phase.done("sensitivity")
    depthwise = any(n.op == "Conv" and int(n.attrs.get("group", 1)) > 1 for n in g.nodes)
    # One naming everywhere: a tensor is shown by the source model's node that produces it
    # (the names `--float-nodes`, the sensitivity table and `bench --profile` use).
    producer = {o: n.name for n in g.nodes for o in n.outputs}
    label = {r.name: producer.get(r.name, r.name) for r in layers}
    bar = ProgressBar(3, desc="drawing charts", unit="chart", enabled=progress)

    # -- plots ------------------------------------------------------------------------------
    pngs = {}
    fig, ax = plt.subplots(figsize=(10, max(3.0, 0.28 * len(layers) + 1.2)))
    names = [label[r.name] if len(label[r.name]) <= 40 else "..." + label[r.name][-37:]
             for r in layers]
    vals = [r.sqnr_db if math.isfinite(r.sqnr_db) else 80.0 for r in layers]
    colors = ["#c0392b" if v < 20 else "#e67e22" if v < 30 else "#27ae60" for v in vals]
    ax.barh(range(len(vals)), vals, color=colors)
    ax.set_yticks(range(len(vals)), names, fontsize=8)
    ax.invert_yaxis()
    ax.set_xlabel("SQNR (dB), int8 vs float, higher is better")
    ax.set_title(f"Per-layer error ({method}, {'per-channel' if per_channel else 'per-tensor'}"
                 " weights)")
    ax.axvline(20, color="#999", lw=0.8, ls="--")
    ax.grid(axis="x", alpha=0.3)
    fig.tight_layout()
    pngs["layers"] = stem.with_name(stem.name + "_layers.png")
    fig.savefig(pngs["layers"], dpi=110)
    plt.close(fig)
    bar.update()

    fig, ax = plt.subplots(figsize=(8, 3.6))
    w = 0.38
    idx = np.arange(len(METHODS))
    for k, pc in enumerate((True, False)):
        v = [next(s.sqnr_db for s in scores if s.method == m and s.per_channel == pc)
             for m in METHODS]
        ax.bar(idx + (k - 0.5) * w, v, w, label="per-channel" if pc else "per-tensor")
    ax.set_xticks(idx, METHODS)
    ax.set_ylabel("model-output SQNR (dB)")
    ax.set_title("Calibration methods (weights per-channel / per-tensor)")
    ax.legend(loc="lower right", framealpha=0.9)
    ax.grid(axis="y", alpha=0.3)
    fig.tight_layout()
    pngs["methods"] = stem.with_name(stem.name + "_methods.png")
    fig.savefig(pngs["methods"], dpi=110)
    plt.close(fig)
    bar.update()

    worst = sorted((r for r in layers if r.name in hists and hists[r.name] is not None),
                   key=lambda r: r.sqnr_db)[:hist_layers]
    if worst:
        cols = 2
        rows = (len(worst) + cols - 1) // cols
        fig, axes = plt.subplots(rows, cols, figsize=(11, 3.2 * rows), squeeze=False)
        styles = dict(zip(METHODS, ["#000000", "#8e44ad", "#2980b9", "#c0392b", "#27ae60"]))
        for ax, r in zip(axes.flat, worst):
            counts, edges = hists[r.name].histogram()
            nz = np.nonzero(counts)[0]
            lo_i, hi_i = (nz[0], nz[-1] + 1) if nz.size else (0, len(counts))
            c, e = counts[lo_i:hi_i], edges[lo_i:hi_i + 1]
            step = max(1, len(c) // 160)  # regroup for display: ~160 visible bars
            cut = len(c) // step * step
            if step > 1 and cut:
                c = np.append(c[:cut].reshape(-1, step).sum(1), c[cut:].sum())
                e = np.append(e[:cut + 1:step], e[-1]) if cut < len(e) - 1 else e[::step]
                c = c[:len(e) - 1]
            ax.stairs(c, e, fill=True, color="#bdc3c7", baseline=0.5)
            ax.set_yscale("log")
            for m in METHODS:
                lo, hi = ranges[m][r.name]
                for v, ls in ((lo, ":"), (hi, "-")):
                    ax.axvline(v, color=styles[m], ls=ls, lw=1.2,
                               label=m if ls == "-" else None)
            short = label[r.name] if len(label[r.name]) <= 45 else "..." + label[r.name][-42:]
            ax.set_title(f"{short}  ({r.sqnr_db:.1f} dB)", fontsize=9)
            ax.set_xlabel("activation value")
            ax.legend(fontsize=7, loc="upper right")
        for ax in list(axes.flat)[len(worst):]:
            ax.axis("off")
        fig.suptitle("Activation histograms (log counts) with each method's clip range "
                     "(solid: hi, dotted: lo)", fontsize=10)
        fig.tight_layout()
        pngs["hist"] = stem.with_name(stem.name + "_histograms.png")
        fig.savefig(pngs["hist"], dpi=110)
        plt.close(fig)
    bar.update()
    bar.close()
    phase.done("charts")

    # -- html -------------------------------------------------------------------------------
    def fmt(v: float, p: int = 2) -> str:
        return "-" if isinstance(v, float) and math.isnan(v) else (
            "inf" if v == math.inf else f"{v:.{p}f}")

    rows_m = "".join(
        f"<tr{' class=chosen' if s is chosen else ''}><td>{s.method}</td>"
        f"<td>{'per-channel' if s.per_channel else 'per-tensor'}</td><td>{fmt(s.sqnr_db)}</td>"
        f"<td>{fmt(s.cosine, 5)}</td><td>{fmt(s.top1_agree, 3)}</td></tr>" for s in scores)
    rows_l = "".join(
        f"<tr><td><code title=\"tensor {html.escape(r.name)}\">{html.escape(label[r.name])}"
        f"</code></td><td>{r.op}</td>"
        f"<td>{fmt(r.sqnr_db)}</td><td>{fmt(r.sqnr_db - r.input_sqnr_db) if math.isfinite(r.input_sqnr_db) and math.isfinite(r.sqnr_db) else '-'}</td>"
        f"<td>{fmt(r.cosine, 5)}</td><td>{r.max_abs_error:.4g}</td><td>{r.scale:.4g}</td>"
        f"<td>{r.zero_point}</td></tr>" for r in layers)
    rows_s = "".join(
        f"<tr><td><code>{html.escape(s.node)}</code></td><td>{s.op}</td>"
        f"<td>{fmt(s.sqnr_db)}</td><td>{fmt(s.cosine, 5)}</td></tr>" for s in sens)
    advice = "".join(f"<li>{a}</li>" for a in _advice(scores, chosen, layers, sens, depthwise,
                                                       label))
    adj = adjusted_scales(qg.meta)
    rows_a = "".join(
        f"<tr><td><code>{html.escape(n)}</code></td><td>{'all' if c < 0 else c}</td>"
        f"<td>{o:.4g}</td><td>{w:.4g}</td><td>{w / o:.3g}</td></tr>" for n, c, o, w in adj)
    adj_html = (
        "<h2>Weight scales raised to fit int32</h2><p>These output channels' int32 bias or "
        "worst-case accumulator did not fit with the usual max|w|/127 scale (batch-norm-folded "
        "channels with near-zero weights and a large bias); their weight scale was raised to "
        "the smallest float32 value that fits (docs/QUANTIZATION.md §3).</p><table><tr>"
        "<th>node</th><th>channel</th><th>scale before</th><th>scale used</th><th>ratio</th>"
        f"</tr>{rows_a}</table>" if adj else "")
    imgs = "".join(f'<p><img src="{p.name}" alt="{k}"></p>' for k, p in pngs.items())
    name = html.escape(title if title is not None else str(model)
                       if isinstance(model, (str, os.PathLike)) else g.name)
    page = f"""<!doctype html>
<html><head><meta charset="utf-8"><title>int8rt report: {name}</title>
<style>body{{font-family:sans-serif;max-width:1100px;margin:2em auto;color:#222}}
table{{border-collapse:collapse;margin:1em 0}}td,th{{border:1px solid #ccc;padding:3px 8px;
font-size:13px;text-align:right}}td:first-child,th:first-child{{text-align:left}}
tr.chosen{{background:#fdf2c9}}img{{max-width:100%}}code{{font-size:12px}}</style></head>
<body><h1>Quantization report</h1>
<p>Model <code>{name}</code>; {len(g.nodes)} nodes; calibration method <b>{method}</b>,
{'per-channel' if per_channel else 'per-tensor'} weights; model-output errors measured on
{len(x)} samples (per-layer errors on {min(len(x), 8)}, sensitivity on {min(len(x), 4)}) through
the int8 program (bit-identical to the native plan) against the float graph.</p>
<h2>What to try next</h2><ul>{advice}</ul>
<h2>Summary: model output vs float, per method</h2>
<table><tr><th>method</th><th>weights</th><th>output SQNR dB</th><th>cosine</th>
<th>top-1 agreement</th></tr>{rows_m}</table>
{imgs}
<h2>Per-layer error ({method})</h2>
<p>"vs in": this layer's SQNR minus its worst input's; the most negative rows add the error.</p>
<table><tr><th>node</th><th>op</th><th>SQNR dB</th><th>vs in</th><th>cosine</th>
<th>max |err|</th><th>scale</th><th>zp</th></tr>{rows_l}</table>
{adj_html}
<h2>Sensitivity: output SQNR with one Conv / Gemm alone in int8</h2>
<table><tr><th>node</th><th>op</th><th>output SQNR dB</th><th>cosine</th></tr>{rows_s}</table>
</body></html>
"""
    out.write_text(page, encoding="utf-8")
    phase.done("html")
    return out


class _Phases:
    """Seconds per report phase, into `timings` when the caller asked for them."""

    def __init__(self, timings: dict[str, float] | None) -> None:
        import time

        self._clock = time.perf_counter
        self.timings, self.t = timings, self._clock()

    def done(self, name: str) -> None:
        now = self._clock()
        if self.timings is not None:
            self.timings[name] = now - self.t
        self.t = now
