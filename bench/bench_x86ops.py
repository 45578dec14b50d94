"""Kernel micro-benchmark of the element-wise families and depthwise convolution on every
kernel path of this machine, interleaved in one process (each round runs every path once),
thread-CPU-time medians (so preemption on a shared machine does not count), ratio to the
first path. Shapes from MobileNetV2-224 and the YOLOv8n-style detector at 320.

    python bench/bench_x86ops.py [--runs 30] [--paths scalar,avx2,avx512vnni]
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path
from typing import Callable

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.machine import cpu_header
from int8rt import _native as nat
from int8rt.kernel_tables import lut_table, silu, softmax_exp_table
from tests.kernels import one_op


def cases() -> dict[str, Callable[[], Callable[[], object]]]:
    """name -> a function that plans the case under the current path and returns its runner
    (one-record plans, tests/kernels/one_op.py)."""
    rng = np.random.default_rng(0)

    def i8(*shape):
        return rng.integers(-128, 128, shape).astype(np.int8)

    img = rng.standard_normal((1, 3, 224, 224)).astype(np.float32)
    x_dw = i8(1, 56, 56, 144)
    w_dw = rng.integers(-127, 128, (144, 3, 3, 1)).astype(np.int8)
    dw = {"w": w_dw, "bias": np.zeros(144, np.int32), "mult": np.full(144, 1e-3, np.float32),
          "stride_h": 1, "stride_w": 1, "dil_h": 1, "dil_w": 1, "pad_t": 1, "pad_l": 1,
          "pad_b": 1, "pad_r": 1, "groups": 144, "x_zp": -3, "y_zp": 5}
    x_lut = i8(1, 80, 80, 64)
    table = lut_table(silu, 0.05, -10, 0.03, -120)
    x_cat = i8(80 * 80, 32)
    y_cat = np.zeros(80 * 80 * 64, np.int8)
    a, b = i8(56 * 56 * 24), i8(56 * 56 * 24)
    add_kw = {"ndim": 1, "shape": [a.size], "a_stride": [1], "b_stride": [1], "a_zp": 3,
              "b_zp": -7, "y_zp": 1, "a_mult": 1 << 21, "b_mult": 3 << 20, "mult": 2.0**-22}
    x_sm = i8(8400, 16)
    sm_table = softmax_exp_table(0.1)
    x_pool = i8(1, 10, 10, 128)
    x_gap = i8(1, 7 * 7, 1280)
    return {
        "quantize+NCHW->NHWC 3x224x224": lambda: one_op.prepare(
            one_op.quantize, img, scale=0.02, zp=-5, c=3, hw=224 * 224),
        "dwconv 3x3 56x56x144": lambda: one_op.prepare(one_op.conv2d, x_dw, **dw),
        "lut 80x80x64": lambda: one_op.prepare(one_op.lut, x_lut, table),
        "requant_copy 6400x32 into 64": lambda: one_op.prepare(
            one_op.requant_copy, x_cat, y_cat, rows=6400, cols=32, x_stride=32, y_stride=64,
            x_offset=0, y_offset=32, x_zp=3, y_zp=-2, mult=np.float32(0.7)),
        "add 56x56x24": lambda: one_op.prepare(one_op.add, a, b, **add_kw),
        "softmax 8400x16": lambda: one_op.prepare(
            one_op.softmax, x_sm, sm_table, rows=8400, cols=16, inv_y_scale=256.0, y_zp=-128),
        "maxpool 5x5 s1 10x10x128": lambda: one_op.prepare(
            one_op.maxpool, x_pool, oh=10, ow=10, kh=5, kw=5, pad_t=2, pad_l=2),
        "global_avgpool 7x7x1280": lambda: one_op.prepare(
            one_op.global_avgpool, x_gap, n=1, hw=49, c=1280, x_zp=3, y_zp=0,
            mult=np.float32(0.01)),
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--runs", type=int, default=30)
    ap.add_argument("--paths", default=",".join(nat.available_isas()))
    args = ap.parse_args()
    paths = args.paths.split(",")
    before = nat.isa()
    print(cpu_header(), flush=True)
    rows = []
    try:
        for name, prepare in cases().items():
            t: dict[str, list[float]] = {p: [] for p in paths}
            run = {}
            for p in paths:  # plan (and pack) under each path, warm up
                nat.set_isa(p)
                run[p] = prepare()
                run[p]()
            for _ in range(args.runs):
                for p in paths:
                    nat.set_isa(p)
                    t0 = time.thread_time_ns()
                    run[p]()
                    t[p].append((time.thread_time_ns() - t0) / 1e3)
            med = {p: float(np.median(v)) for p, v in t.items()}
            rows.append((name, med))
    finally:
        nat.set_isa(before)
    print(f"CPU paths: {', '.join(paths)}; microseconds (thread CPU time), median of "
          f"{args.runs}; ratio to {paths[0]}\n")
    print("| kernel | " + " | ".join(paths) + " | " + " | ".join(
        f"{paths[0]} / {p}" for p in paths[1:]) + " |")
    print("|---" * (2 * len(paths)) + "|")
    for name, med in rows:
        print(f"| {name} | " + " | ".join(f"{med[p]:.1f}" for p in paths) + " | " + " | ".join(
            f"{med[paths[0]] / med[p]:.2f}x" for p in paths[1:]) + " |")


if __name__ == "__main__":
    main()
