"""Whole-model latency: int8rt against ONNX Runtime fp32 and int8 (QDQ from the same
calibration images) and, where torch is installed, PyTorch's x86 int8 backend (FX, same
calibration images: bench/torch_x86.py); single thread (--threads N: N for every contender),
batch 1, interleaved in one process (each round runs every contender once), medians,
Markdown table.

    python bench/compare.py [--models digits_cnn,mobilenet_v2,resnet18,yolov8n] [--runs 30]
                            [--clock wall|thread] [--threads N] [--no-torch] [-o table.md]

--clock thread times each call in CPU time of the calling thread (time.thread_time) instead
of wall time: on a shared, overloaded machine preemption by other processes then does not
count. Only meaningful with --threads 1, where every contender runs in the calling thread
(int8rt threads=1, ORT intra_op_num_threads=1, torch.set_num_threads(1)); on a quiet machine
both clocks agree. The machine here is shared and noisy: only ratios measured in
one run mean anything.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path
from typing import Callable

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import int8rt
from bench import torch_x86
from tests.models.fixtures import calib_and_eval_images, onnx_model_path
from tests.models.ort_baseline import _session, ort_quantize_static

CLOCKS = {"wall": time.perf_counter, "thread": time.thread_time}


def measure(models: list[str], runs: int, n_calib: int, clock: str = "wall",
            with_torch: bool = True, threads: int = 1) -> list[dict]:
    now = CLOCKS[clock]
    if clock == "thread" and threads != 1:
        raise SystemExit("--clock thread measures one thread: use it with --threads 1")
    rows = []
    work = Path(tempfile.mkdtemp(prefix="int8rt-bench-"))
    for name in models:
        path = onnx_model_path(name)
        calib, evals = calib_and_eval_images(name, n_calib, 1)
        x = evals[:1]
        qm = int8rt.quantize(str(path), [calib], progress=False)
        ours = int8rt.Session(qm, threads=threads)
        ort_fp32 = _session(path, threads=threads)
        ort_int8 = _session(ort_quantize_static(path, calib, work / f"{name}_qdq.onnx"),
                            threads=threads)
        in_name = ours.get_inputs()[0].name
        fp32_feed = {ort_fp32.get_inputs()[0].name: x}
        int8_feed = {ort_int8.get_inputs()[0].name: x}
        contenders: dict[str, Callable[[], object]] = {
            "int8rt int8": lambda s=ours, f={in_name: x}: s.run(None, f),
            "ORT fp32": lambda s=ort_fp32, f=fp32_feed: s.run(None, f),
            "ORT int8": lambda s=ort_int8, f=int8_feed: s.run(None, f),
        }
        if with_torch and name != "digits_cnn" and torch_x86.available():
            torch_run = torch_x86.build_int8(name, calib, threads)
            contenders["torch x86 int8"] = lambda fn=torch_run, xx=x: fn(xx)
        times: dict[str, list[float]] = {k: [] for k in contenders}
        for fn in contenders.values():  # warm up
            fn()
        for _ in range(runs):  # interleaved: each round runs every contender once
            for k, fn in contenders.items():
                t0 = now()
                fn()
                times[k].append(now() - t0)
        med = {k: 1e3 * float(np.median(v)) for k, v in times.items()}
        rows.append({"model": name, **med})
        print(f"{name}: " + ", ".join(f"{k} {v:.3f} ms" for k, v in med.items()), flush=True)
    return rows


def table(rows: list[dict]) -> str:
    out = [("| model | int8rt int8 (ms) | ORT fp32 (ms) | ORT int8 (ms) | torch x86 int8 (ms) | "
            "int8rt / ORT int8 | int8rt / ORT fp32 | int8rt / torch int8 |"),
           "|---|---|---|---|---|---|---|---|"]
    for r in rows:
        t = r.get("torch x86 int8")
        ours = r["int8rt int8"]
        out.append(f"| {r['model']} | {ours:.3f} | {r['ORT fp32']:.3f} | {r['ORT int8']:.3f} | "
                   f"{f'{t:.3f}' if t else '—'} | {ours / r['ORT int8']:.2f}x | "
                   f"{ours / r['ORT fp32']:.2f}x | {f'{ours / t:.2f}x' if t else '—'} |")
    return "\n".join(out)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--models", default="digits_cnn,mobilenet_v2,resnet18,yolov8n")
    ap.add_argument("--runs", type=int, default=30)
    ap.add_argument("--calib", type=int, default=16, help="calibration images")
    ap.add_argument("--clock", choices=sorted(CLOCKS), default="wall")
    ap.add_argument("--no-torch", action="store_true", help="skip PyTorch's x86 int8 backend")
    ap.add_argument("--threads", type=int, default=1, help="threads for every contender")
    ap.add_argument("-o", "--output", help="also write the Markdown table here")
    args = ap.parse_args()
    md = table(measure(args.models.split(","), args.runs, args.calib, args.clock,
                       not args.no_torch, args.threads))
    print(md)
    if args.output:
        Path(args.output).write_text(md + "\n")


if __name__ == "__main__":
    main()
