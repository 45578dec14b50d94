"""int8rt vs ORT int8 latency ratio of one source tree, for before/after comparisons of two
checkouts (each run in its own process): single thread, batch 1, interleaved, CPU time of the
calling thread (time.thread_time, so preemption on a shared machine does not count), medians.

    python bench/before_after.py /work/main && python bench/before_after.py /work/wt-kern
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

import numpy as np


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("root", help="checkout whose int8rt (built in place) is measured")
    ap.add_argument("--models", default="mobilenet_v2,resnet18")
    ap.add_argument("--runs", type=int, default=15)
    args = ap.parse_args()
    sys.path.insert(0, args.root)
    import int8rt
    from tests.models.fixtures import calib_and_eval_images, onnx_model_path
    from tests.models.ort_baseline import _session, ort_quantize_static

    work = Path(tempfile.mkdtemp(prefix="int8rt-ba-"))
    for name in args.models.split(","):
        calib, evals = calib_and_eval_images(name, 16, 1)
        x = evals[:1]
        qm = int8rt.quantize(str(onnx_model_path(name)), [calib], progress=False)
        ours = int8rt.Session(qm, threads=1)
        ort = _session(ort_quantize_static(onnx_model_path(name), calib, work / f"{name}.onnx"),
                       threads=1)
        feeds = ({ours.get_inputs()[0].name: x}, {ort.get_inputs()[0].name: x})
        times: tuple[list[float], list[float]] = ([], [])
        for sess, feed in zip((ours, ort), feeds):
            sess.run(None, feed)  # warm up
        for _ in range(args.runs):
            for sess, feed, ts in zip((ours, ort), feeds, times):
                t0 = time.thread_time()
                sess.run(None, feed)
                ts.append(time.thread_time() - t0)
        a, b = (1e3 * float(np.median(t)) for t in times)
        print(f"{args.root} {name}: int8rt {a:.2f} ms, ORT int8 {b:.2f} ms, ratio {a / b:.2f}",
              flush=True)


if __name__ == "__main__":
    main()
