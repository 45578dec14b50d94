"""Whole-model latency: int8rt against ONNX Runtime fp32 and int8 (QDQ from the same
calibration images), single thread (--threads N: N for every contender), batch 1, interleaved
in one process, medians.

    python bench/compare.py [--models digits_cnn,mobilenet_v2,resnet18] [--runs 30] [-o table.md]

The machine is shared and noisy, so only ratios measured in one run mean anything.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import int8rt  # noqa: E402
from tests.models.fixtures import calib_and_eval_images, onnx_model_path  # noqa: E402
from tests.models.ort_baseline import _session, ort_quantize_static  # noqa: E402


def measure(models: list[str], runs: int, n_calib: int, threads: int = 1) -> list[dict]:
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
        contenders = {
            "int8rt int8": lambda: ours.run(None, {in_name: x}),
            "ORT fp32": lambda: ort_fp32.run(None, {ort_fp32.get_inputs()[0].name: x}),
            "ORT int8": lambda: ort_int8.run(None, {ort_int8.get_inputs()[0].name: x}),
        }
        times: dict[str, list[float]] = {k: [] for k in contenders}
        for fn in contenders.values():  # warm up
            fn()
        for _ in range(runs):  # interleaved: each round runs every contender once
            for k, fn in contenders.items():
                t0 = time.perf_counter()
                fn()
                times[k].append(time.perf_counter() - t0)
        med = {k: 1e3 * float(np.median(v)) for k, v in times.items()}
        rows.append({"model": name, **med})
        print(f"{name}: " + ", ".join(f"{k} {v:.3f} ms" for k, v in med.items()), flush=True)
    return rows


def table(rows: list[dict]) -> str:
    out = ["| model | int8rt int8 (ms) | ORT fp32 (ms) | ORT int8 (ms) | int8rt / ORT int8 | "
           "int8rt / ORT fp32 |", "|---|---|---|---|---|---|"]
    for r in rows:
        out.append(f"| {r['model']} | {r['int8rt int8']:.3f} | {r['ORT fp32']:.3f} | "
                   f"{r['ORT int8']:.3f} | {r['int8rt int8'] / r['ORT int8']:.2f}x | "
                   f"{r['int8rt int8'] / r['ORT fp32']:.2f}x |")
    return "\n".join(out)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--models", default="digits_cnn,mobilenet_v2,resnet18")
    ap.add_argument("--runs", type=int, default=30)
    ap.add_argument("--calib", type=int, default=16, help="calibration images")
    ap.add_argument("--threads", type=int, default=1, help="threads for every contender")
    ap.add_argument("-o", "--output", help="also write the Markdown table here")
    args = ap.parse_args()
    md = table(measure(args.models.split(","), args.runs, args.calib, args.threads))
    print(md)
    if args.output:
        Path(args.output).write_text(md + "\n")


if __name__ == "__main__":
    main()
