"""docs/ACCURACY.md: int8rt's PTQ against float and ONNX Runtime, on models trained here.

    python tools/accuracy_table.py [-o docs/ACCURACY.md] [--models ...] [--memory-json FILE]

For every model of tools/accuracy_models.py (trained on first use, cached in build/accuracy/):
fp32 test accuracy; int8rt's test accuracy for every calibration method x per-channel /
per-tensor weights x {plain, bias correction, cross-layer equalization, both}; 4-bit weights
for the depthwise model; ONNX Runtime's quantize_static (QDQ; MinMax / Entropy / Percentile;
per-channel and per-tensor) on the same ONNX file and calibration data, in the same run; and
a mixed-precision search on a setting where full int8 misses a 1-point accuracy target.

int8rt accuracies are those of the real int8 program (the native plan). ORT is run two ways:
with its int8 kernels and reduce_range=True (7-bit weights, ORT's advice on x86 without VNNI:
its AVX2 kernels saturate otherwise), and as an exact QDQ simulation (reduce_range=False,
graph optimizations off, so DequantizeLinear -> float op -> QuantizeLinear), i.e. what its
full 8-bit quantization would give on a CPU without the saturation problem. ORT's best is the
best of both. The peak-memory section comes from tools/calib_memory.py (--memory-json, or
--memory to run it here: slow).
"""

from __future__ import annotations

import argparse
import contextlib
import json
import logging
import os
import platform
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "tools"))

import accuracy_models

METHODS = ("minmax", "ema", "percentile", "entropy", "mse")
VARIANTS = (("plain", False, False), ("+BC", True, False), ("+CLE", False, True),
            ("+CLE+BC", True, True))
ORT_METHODS = ("MinMax", "Entropy", "Percentile")


def _accuracy(pred: np.ndarray, y: np.ndarray) -> float:
    return 100.0 * float(np.mean(pred.argmax(-1) == y))


def _int8_predict(graph, x: np.ndarray, batch: int = 256) -> np.ndarray:
    from int8rt.session import Session

    sess = Session(graph)
    name = graph.inputs[0]
    return np.concatenate([sess.run(None, {name: np.ascontiguousarray(x[i:i + batch])})[0]
                           for i in range(0, len(x), batch)])


def _float_predict(graph, x: np.ndarray) -> np.ndarray:
    from int8rt.reference.float_executor import FloatExecutor

    ex = FloatExecutor(graph)
    return np.concatenate([ex.run({graph.inputs[0]: x[i:i + 256]})[graph.outputs[0]]
                           for i in range(0, len(x), 256)])


def int8rt_grid(task, graph, log) -> dict:
    from int8rt.quant.ptq import quantize

    res = {}
    for bits in (8, 4):
        for method in METHODS:
            for pc in (True, False):
                for vname, bc, cle in VARIANTS:
                    if bits == 4 and method not in ("minmax", "mse"):
                        continue
                    t0 = time.perf_counter()
                    qg = quantize(graph, [task.x_calib], method=method, per_channel=pc,
                                  weight_bits=bits, bias_correction=bc, equalize=cle,
                                  progress=False)
                    acc = _accuracy(_int8_predict(qg, task.x_test), task.y_test)
                    res[(bits, method, pc, vname)] = acc
                    log(f"  int8rt w{bits} {method:10s} {'pc' if pc else 'pt'} {vname:8s} "
                        f"{acc:6.2f} %  ({time.perf_counter() - t0:.1f} s)")
    return res


def ort_grid(task, log) -> dict:
    from tests.models.ort_baseline import ort_quantize_static, ort_run

    res = {}
    with tempfile.TemporaryDirectory() as tmp:
        for method in ORT_METHODS:
            for pc in (True, False):
                for rr, optimize, kind in ((True, True, "int8 kernels, reduce_range"),
                                           (False, False, "QDQ simulated, 8-bit")):
                    with open(os.devnull, "w") as null, contextlib.redirect_stdout(null):
                        q = ort_quantize_static(task.onnx, task.x_calib,
                                                Path(tmp) / f"{method}_{pc}_{rr}.onnx", method,
                                                per_channel=pc, reduce_range=rr)
                    acc = _accuracy(ort_run(q, task.x_test, optimize=optimize), task.y_test)
                    res[(method, pc, kind)] = acc
                    log(f"  ORT {method:10s} {'pc' if pc else 'pt'} {kind:28s} {acc:6.2f} %")
    return res


def mixed_row(task, graph, bits: int, per_channel: bool, method: str, max_drop: float,
              fp32_val: float, log) -> dict:
    from int8rt.quant import mixed

    def metric(predict) -> float:
        return float(np.mean(np.concatenate([predict(task.x_val[i:i + 256])
                                             for i in range(0, len(task.x_val), 256)]
                                            ).argmax(-1) == task.y_val))

    res = mixed.search(graph, [task.x_calib], task.x_val[:64], method=method,
                       per_channel=per_channel, weight_bits=bits, metric=metric,
                       max_drop=max_drop)
    full = quantize_full(graph, task, bits, per_channel, method)
    row = {"bits": bits, "per_channel": per_channel, "method": method, "max_drop": max_drop,
               "float_val": 100 * res.float_value, "int8_val": 100 * res.int8_value,
               "mixed_val": 100 * res.final_value, "met": res.target_met,
               "float_nodes": res.float_nodes, "steps": len(res.steps),
               "test_int8": _accuracy(_int8_predict(full, task.x_test), task.y_test),
               "test_mixed": _accuracy(_int8_predict(res.graph, task.x_test), task.y_test),
               "lat_int8": res.latency_int8_ms, "lat_mixed": res.latency_mixed_ms}
    log(f"  mixed: {row}")
    return row


def quantize_full(graph, task, bits, per_channel, method):
    from int8rt.quant.ptq import quantize

    return quantize(graph, [task.x_calib], method=method, per_channel=per_channel,
                    weight_bits=bits, progress=False)


# -- markdown -------------------------------------------------------------------------------
def _best(d: dict) -> tuple[tuple, float]:
    k = max(d, key=lambda k: d[k])
    return k, d[k]


def render(results: dict, memory: list | None, seconds: float) -> str:
    lines = ["# Accuracy of post-training quantization", "",
             ("Produced by `python tools/accuracy_table.py` "
             f"({time.strftime('%Y-%m-%d')}, {platform.machine()}"
             + (f", {seconds / 60:.1f} min" if seconds else "")
             + " on a shared, heavily loaded 2-vCPU machine); re-run it to reproduce every number below. Models are "
             "trained by the project on data that ships with scikit-learn / scikit-image "
             "(tools/accuracy_models.py, deterministic). Accuracies are top-1 on a held-out "
             "test split, in %; int8rt figures are the real int8 program run by the native "
             "plan. Calibration: the model's calibration set from the training split "
             "(digits: 100 images, patches: 256, breast_cancer: the 341 training rows)."), "",
             ("Legend: **pc** / **pt** = per-channel / per-tensor weights; **BC** = bias "
             "correction, **CLE** = cross-layer equalization (Nagel et al. 2019); "
             "activations are per-tensor asymmetric int8 throughout. 4-bit weights (int8 "
             "containers) are run for minmax and mse only."), ""]
    lines += [("Reproduce: `python tools/accuracy_table.py --json build/accuracy/raw.json` "
              "(trains and caches the models on first use, then runs everything below except "
              "the memory section), `python tools/calib_memory.py --json "
              "build/accuracy/mem.json`, then `python tools/accuracy_table.py --render-only "
              "build/accuracy/raw.json --memory-json build/accuracy/mem.json` to write this "
              "page with both (or pass `--memory` to run everything in one go)."), "",
              ("ONNX Runtime settings: `quantize_static`, QuantFormat.QDQ, QInt8 activations "
              "and weights, calibrate_method MinMax / Entropy / Percentile, per_channel on and "
              "off, the same ONNX file and calibration arrays; run (a) with its int8 kernels "
              "and reduce_range=True, ORT's advice on x86 without VNNI (full-range weights "
              "saturate its AVX2 kernels), and (b) with reduce_range=False as the exact QDQ "
              "simulation (graph optimizations off). Through quantize_static, Entropy yields "
              "the MinMax ranges (its calibrator's defaults leave one candidate threshold; "
              "tests/models/ort_baseline.py)."), ""]
    lines += ["## Summary", "",
              "| model | fp32 | int8rt best | setting | ORT best | ORT setting | int8rt - ORT |",
              "|---|---|---|---|---|---|---|"]
    for name, r in results.items():
        ik, iv = _best({k: v for k, v in r["int8rt"].items() if k[0] == 8})
        ok, ov = _best(r["ort"])
        lines.append(f"| {name} | {r['fp32']:.2f} | {iv:.2f} | {ik[1]} "
                     f"{'pc' if ik[2] else 'pt'} {ik[3]} | {ov:.2f} | {ok[0]} "
                     f"{'pc' if ok[1] else 'pt'}, {ok[2]} | {iv - ov:+.2f} |")
    lines += ["", "## Observations (computed from the tables below)", ""]
    for name, r in results.items():
        ik, iv = _best({k: v for k, v in r["int8rt"].items() if k[0] == 8})
        lines.append(f"- {name}: best 8-bit int8rt setting is {iv - r['fp32']:+.2f} points from "
                     f"fp32 ({ik[1]} {'pc' if ik[2] else 'pt'} {ik[3]}).")
        for bits in sorted({k[0] for k in r["int8rt"]}, reverse=True):
            base = r["int8rt"].get((bits, "minmax", False, "plain"))
            pt = {k: v for k, v in r["int8rt"].items() if k[0] == bits and not k[2]}
            if base is None or not pt:
                continue
            bk, bv = _best(pt)
            pc = r["int8rt"].get((bits, "minmax", True, "plain"))
            if bv - base >= 2.0:
                lines.append(f"  - {bits}-bit weights: per-tensor minmax loses "
                             f"{r['fp32'] - base:.2f} points ({base:.2f} %); per-tensor "
                             f"{bk[1]} {bk[3]} recovers it to {bv:.2f} % (per-channel "
                             f"minmax: {pc:.2f} %).")
    lines.append("")
    for name, r in results.items():
        lines += [f"## {name}", "", r["description"], "",
                  (f"fp32 test accuracy: **{r['fp32']:.2f} %** ({r['n_test']} test samples; "
                  f"one sample = {100 / r['n_test']:.2f} points)."), ""]
        for bits in sorted({k[0] for k in r["int8rt"]}, reverse=True):
            lines += [f"### int8rt, {bits}-bit weights", "",
                      "| method | weights | " + " | ".join(v[0] for v in VARIANTS) + " |",
                      "|---|---|" + "---|" * len(VARIANTS)]
            for method in METHODS:
                for pc in (True, False):
                    cells = [r["int8rt"].get((bits, method, pc, v[0])) for v in VARIANTS]
                    if all(c is None for c in cells):
                        continue
                    lines.append(f"| {method} | {'pc' if pc else 'pt'} | " + " | ".join(
                        "-" if c is None else f"{c:.2f}" for c in cells) + " |")
            lines.append("")
        lines += ["### ONNX Runtime quantize_static (QDQ, same ONNX file and calibration data)",
                  "", ("| method | weights | int8 kernels, reduce_range=True | QDQ simulated, "
                  "reduce_range=False |"), "|---|---|---|---|"]
        for method in ORT_METHODS:
            for pc in (True, False):
                a = r["ort"][(method, pc, "int8 kernels, reduce_range")]
                b = r["ort"][(method, pc, "QDQ simulated, 8-bit")]
                lines.append(f"| {method} | {'pc' if pc else 'pt'} | {a:.2f} | {b:.2f} |")
        lines.append("")
        m = r.get("mixed")
        if m:
            lines += ["### Automatic mixed precision", "",
                      (f"Setting: {m['bits']}-bit weights, "
                      f"{'per-channel' if m['per_channel'] else 'per-tensor'}, {m['method']}; "
                      f"target: at most {100 * m['max_drop']:.0f} point(s) below fp32 on the "
                      "validation split (the search's metric), checked on the test split."), "",
                      "| | validation | test |", "|---|---|---|",
                      f"| fp32 | {m['float_val']:.2f} | {r['fp32']:.2f} |",
                      f"| full int8 | {m['int8_val']:.2f} | {m['test_int8']:.2f} |",
                      (f"| mixed ({len(m['float_nodes'])} op(s) float32) | {m['mixed_val']:.2f}"
                      f" | {m['test_mixed']:.2f} |"), "",
                      f"Target {'met' if m['met'] else 'NOT met'} after {m['steps']} "
                      f"evaluations. Kept in float32: "
                      + ", ".join(f"`{n}`" for n in m["float_nodes"]) + ". Latency (1 sample, "
                      f"median of interleaved runs): int8 {m['lat_int8']:.3f} ms, mixed "
                      f"{m['lat_mixed']:.3f} ms ({m['lat_mixed'] / m['lat_int8']:.2f}x).", ""]
    lines += ["## Calibration memory (MobileNetV2, 224x224, 200 images)", ""]
    if memory:
        lines += [("`python tools/calib_memory.py`: one fresh process per method (int8rt only, "
                  "no torch), MobileNetV2 of tests/models/torch_nets.py (3.5 M parameters), 200 "
                  "natural-image crops streamed in batches of 16; peak = VmHWM."), "",
                  "| method | peak RSS (MB) | RSS with model loaded (MB) | calibration time (s) |",
                  "|---|---|---|---|"]
        for row in memory:
            lines.append(f"| {row['method']} | {row['peak_mb']:.0f} | "
                         f"{row['rss_before_mb']:.0f} | {row['seconds']:.0f} |")
        lines.append("")
        worst = max(row["peak_mb"] for row in memory)
        lines.append(f"Every method stays under 2 GB: the worst peak is {worst:.0f} MB.")
    else:
        lines.append("Not measured in this run (pass --memory or --memory-json).")
    lines.append("")
    return "\n".join(lines)


TASK_SECTION = "## Detection and text detection heads"


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("-o", "--output", type=Path, default=REPO / "docs" / "ACCURACY.md")
    ap.add_argument("--models", nargs="*", default=list(accuracy_models.TASKS))
    ap.add_argument("--memory", action="store_true", help="run tools/calib_memory.py (slow)")
    ap.add_argument("--memory-json", type=Path, default=None,
                    help="rows written by tools/calib_memory.py --json")
    ap.add_argument("--json", type=Path, default=None, help="also dump raw results")
    ap.add_argument("--render-only", type=Path, default=None,
                    help="re-render the page from a --json dump of an earlier run (e.g. to "
                         "add --memory-json) without recomputing")
    args = ap.parse_args(argv)
    from int8rt.api import load_float_model

    logging.getLogger().setLevel(logging.ERROR)  # ORT's quantizer logs advice per call

    def log(msg: str) -> None:
        print(msg, flush=True)

    results = {}
    if args.render_only:
        import ast

        raw = json.loads(args.render_only.read_text())
        for r in raw.values():
            r["int8rt"] = {ast.literal_eval(k): v for k, v in r["int8rt"].items()}
            r["ort"] = {ast.literal_eval(k): v for k, v in r["ort"].items()}
        results = raw
        args.models = []
    for name in args.models:
        t_model = time.perf_counter()
        task = accuracy_models.TASKS[name]()
        graph = load_float_model(str(task.onnx))
        fp32 = _accuracy(_float_predict(graph, task.x_test), task.y_test)
        fp32_val = _accuracy(_float_predict(graph, task.x_val), task.y_val)
        log(f"{name}: fp32 test {fp32:.2f} %, val {fp32_val:.2f} %")
        r = {"description": task.description, "fp32": fp32, "n_test": len(task.y_test),
                 "int8rt": int8rt_grid(task, graph, log), "ort": ort_grid(task, log)}
        # mixed precision: the harshest 8- or 4-bit setting whose full-int8 validation
        # accuracy misses the 1-point target
        if name == "mobilenet_patches":
            r["mixed"] = mixed_row(task, graph, 4, False, "minmax", 0.01, fp32_val, log)
        r["seconds"] = time.perf_counter() - t_model
        results[name] = r
    memory = None
    if args.memory:
        import calib_memory

        memory = calib_memory.main([])
    elif args.memory_json:
        memory = json.loads(args.memory_json.read_text())
    text = render(results, memory, sum(r.get("seconds", 0.0) for r in results.values()))
    # the detector section is made by tools/task_accuracy.py (pretrained wheel models): kept
    if args.output.exists():
        old = args.output.read_text()
        at = old.find(TASK_SECTION)
        if at >= 0:
            text = text.rstrip("\n") + "\n\n" + old[at:]
    args.output.write_text(text)
    if args.json:
        args.json.write_text(json.dumps({n: {**r, "int8rt": {str(k): v for k, v in
                                                              r["int8rt"].items()},
                                             "ort": {str(k): v for k, v in r["ort"].items()}}
                                         for n, r in results.items()}, indent=1))
    log(f"wrote {args.output}")


if __name__ == "__main__":
    main()
