"""Winograd F(2x2, 3x3) against the im2col gemm on the 3x3 stride-1 convolutions of ResNet-18
(224), the YOLOv8n-style detector (320) and MobileNetV2 (none: its 3x3 are depthwise or
stride 2), as one-record plans on one kernel path, interleaved in one process: each round runs
every variant once; thread-CPU-time medians (preemption on a shared machine does not count).
`INT8RT_WINOGRAD=0` at plan time packs im2col (csrc/kernels/winograd/winograd.c).

    python bench/winograd_ab.py [--runs 31] [--path avx2] [--extra-paths avx512vnni]
    python bench/winograd_ab.py --models resnet18,yolov8n,mobilenet_v2 [--runs 15]

--models: whole models instead (the calibration of bench/before_after.py), one Session packed
with Winograd and one without, on the same path, interleaved, single thread.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.machine import cpu_header
from int8rt import _native as nat
from tests.kernels import one_op

# (name, h = w, c, oc): 3x3, stride 1, pad 1, batch 1
LAYERS = [
    ("resnet18 56x56 64->64", 56, 64, 64),
    ("resnet18 28x28 128->128", 28, 128, 128),
    ("resnet18 14x14 256->256", 14, 256, 256),
    ("resnet18 7x7 512->512", 7, 512, 512),
    ("yolov8n 80x80 8->8", 80, 8, 8),
    ("80x80 16->16", 80, 16, 16),
    ("80x80 24->24", 80, 24, 24),
    ("40x40 16->32", 40, 16, 32),
    ("40x40 32->24", 40, 32, 24),
    ("40x40 48->48", 40, 48, 48),
    ("yolov8n 40x40 32->32", 40, 32, 32),
    ("yolov8n 40x40 64->64", 40, 64, 64),
    ("yolov8n 20x20 64->64", 20, 64, 64),
    ("yolov8n 10x10 128->128", 10, 128, 128),
]


def plan(path: str, wino: bool, h: int, c: int, oc: int):
    rng = np.random.default_rng(0)
    x = rng.integers(-128, 128, (1, h, h, c), dtype=np.int8)
    kw = {"w": rng.integers(-127, 128, (oc, 3, 3, c), dtype=np.int8),
          "bias": rng.integers(-999, 999, oc).astype(np.int32),
          "mult": np.full(oc, 1e-4, np.float32), "stride_h": 1, "stride_w": 1, "dil_h": 1,
          "dil_w": 1, "pad_t": 1, "pad_l": 1, "pad_b": 1, "pad_r": 1, "groups": 1, "x_zp": 3,
          "y_zp": 0}
    nat.set_isa(path)
    if wino:
        os.environ.pop("INT8RT_WINOGRAD", None)
    else:
        os.environ["INT8RT_WINOGRAD"] = "0"
    try:
        return one_op.prepare(one_op.conv2d, x, **kw)
    finally:
        os.environ.pop("INT8RT_WINOGRAD", None)


def models(names: list[str], path: str, runs: int) -> None:
    import int8rt
    from tests.models.fixtures import calib_and_eval_images, onnx_model_path

    nat.set_isa(path)
    print(f"path {path}; single thread; ratio = Winograd / im2col session time")
    for name in names:
        calib, evals = calib_and_eval_images(name, 16, 1)
        x = evals[:1]
        qm = int8rt.quantize(str(onnx_model_path(name)), [calib], progress=False)
        sessions = []
        for wino in (False, True):
            if not wino:
                os.environ["INT8RT_WINOGRAD"] = "0"
            try:
                sessions.append(int8rt.Session(qm, threads=1))
            finally:
                os.environ.pop("INT8RT_WINOGRAD", None)
        feed = {sessions[0].get_inputs()[0].name: x}
        outs = [s.run(None, feed)[0] for s in sessions]  # warm up
        assert np.array_equal(outs[0], outs[1]), name
        times: list[list[float]] = [[], []]
        for _ in range(runs):
            for sess, t in zip(sessions, times):
                nat.set_isa(path)
                t0 = time.thread_time()
                sess.run(None, feed)
                t.append(time.thread_time() - t0)
        a, b = (1e3 * float(np.median(t)) for t in times)
        print(f"{name:14s} im2col {a:8.2f} ms  winograd {b:8.2f} ms  ratio {b / a:.2f}",
              flush=True)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--runs", type=int, default=31)
    ap.add_argument("--path", default="avx2")
    ap.add_argument("--extra-paths", default="", help="im2col on these paths too (reference)")
    ap.add_argument("--models", default="", help="whole models (comma-separated) instead")
    args = ap.parse_args()
    print(cpu_header())
    if args.models:
        models(args.models.split(","), args.path, args.runs)
        return
    extra = [p for p in args.extra_paths.split(",") if p and p in nat.available_isas()]
    print(f"path {args.path}; ratio = time / im2col time on {args.path} (< 1: faster)")
    cols = ["im2col", "winograd"] + [f"im2col@{p}" for p in extra]
    print(f"{'layer':28s} {'im2col ms':>10s} " + " ".join(f"{c:>16s}" for c in cols[1:]))
    for name, h, c, oc in LAYERS:
        # a plan runs its kernels on the path current at run time: set it before each run
        variants = [(args.path, False), (args.path, True)] + [(p, False) for p in extra]
        runners = [(p, plan(p, w, h, c, oc)) for p, w in variants]
        times: list[list[float]] = [[] for _ in runners]
        for _ in range(args.runs):
            for (p, r), t in zip(runners, times):
                nat.set_isa(p)
                t0 = time.thread_time()
                r()
                t.append(time.thread_time() - t0)
        med = [float(np.median(t)) for t in times]
        print(f"{name:28s} {med[0] * 1e3:10.3f} " +
              " ".join(f"{m / med[0]:16.2f}" for m in med[1:]))


if __name__ == "__main__":
    main()
