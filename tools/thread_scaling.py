"""Thread scaling of whole models: 1 thread against N threads on the same Session's plan,
interleaved in one process (each round runs every thread count once), medians, and a check
that every thread count gives bit-identical outputs.

    python tools/thread_scaling.py [--models resnet18,mobilenet_v2] [--threads 1,2] [--runs 40]

The machine may be shared: only the ratio within one run means anything (docs/PLAN.md).
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import int8rt
from tests.models.fixtures import calib_and_eval_images, onnx_model_path


def measure(name: str, counts: list[int], runs: int,
            n_calib: int) -> tuple[dict[int, float], dict[int, float]]:
    """(median ms, min ms) per thread count."""
    calib, evals = calib_and_eval_images(name, n_calib, 1)
    qm = int8rt.quantize(str(onnx_model_path(name)), [calib], progress=False)
    sess = int8rt.Session(qm, threads=1)
    plan = sess._plan_for((evals[:1].shape,))
    x = [evals[:1]]
    ref = plan.run(x, 1)
    for t in counts:  # warm up (and builds the pool) + bit-exactness across thread counts
        out = plan.run(x, t)
        if not all(np.array_equal(a, b) for a, b in zip(ref, out)):
            raise SystemExit(f"{name}: {t} threads differ from 1 thread")
    times: dict[int, list[float]] = {t: [] for t in counts}
    for _ in range(runs):
        for t in counts:
            t0 = time.perf_counter()
            plan.run(x, t)
            times[t].append(time.perf_counter() - t0)
    return ({t: 1e3 * float(np.median(v)) for t, v in times.items()},
            {t: 1e3 * float(np.min(v)) for t, v in times.items()})


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--models", default="resnet18,mobilenet_v2")
    ap.add_argument("--threads", default="1,2", help="thread counts, the first is the base")
    ap.add_argument("--runs", type=int, default=40)
    ap.add_argument("--calib", type=int, default=8, help="calibration images")
    args = ap.parse_args()
    counts = [int(t) for t in args.threads.split(",")]
    print("| model | " + " | ".join(f"{t} thr median (ms)" for t in counts) + " | " +
          " | ".join(f"speed-up {t} thr (median / min)" for t in counts[1:]) + " |")
    print("|---" * (2 * len(counts)) + "|")
    for name in args.models.split(","):
        med, low = measure(name, counts, args.runs, args.calib)
        b, bl = med[counts[0]], low[counts[0]]
        print(f"| {name} | " + " | ".join(f"{med[t]:.3f}" for t in counts) + " | " +
              " | ".join(f"{b / med[t]:.2f}x / {bl / low[t]:.2f}x" for t in counts[1:]) + " |",
              flush=True)


if __name__ == "__main__":
    main()
