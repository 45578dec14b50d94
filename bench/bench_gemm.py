"""gemm-core kernels per kernel path (ISA): fc and the conv shapes of docs/KERNELS.md, plus
whole-model Session latency, every path in one process, interleaved, medians.

    python bench/bench_gemm.py [--runs 15] [--models mobilenet_v2,resnet18] [--no-models]
    python bench/bench_gemm.py --peak-only     # just the GEMM-vs-peak table

It first prints the CPU model, the ISA flags present, then per path the GEMM M=N=K=1024
throughput (weights packed once, CPU time of this thread, best of 7) against that path's
measured peak (docs/KERNELS.md, "Peak").

Kernel timings run one-record plans built on every call (tests/kernels/one_op.py), so they
include the weight packing and the plan build (small next to the gemm at these sizes). GOPS counts a multiply-add as two
operations. The machine is shared and noisy: only ratios from one run mean much.
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
from int8rt import _native
from tests.kernels import one_op


def _fc_case(m: int, k: int, n: int) -> tuple[Callable[[], object], int]:
    rng = np.random.default_rng(0)
    x = rng.integers(-128, 128, (m, k), dtype=np.int8)
    kw = {"w": rng.integers(-127, 128, (n, k), dtype=np.int8),
          "bias": rng.integers(-1000, 1000, n).astype(np.int32),
          "mult": np.full(n, 1e-4, np.float32), "x_zp": 3, "y_zp": -2}
    return (lambda: one_op.fc(x, **kw)), m * k * n


def _conv_case(hw: int, c: int, oc: int, k: int, stride: int = 1, dw: bool = False
               ) -> tuple[Callable[[], object], int]:
    rng = np.random.default_rng(1)
    groups = c if dw else 1
    pad = k // 2
    x = rng.integers(-128, 128, (1, hw, hw, c), dtype=np.int8)
    kw = {"w": rng.integers(-127, 128, (oc, k, k, c // groups), dtype=np.int8),
          "bias": rng.integers(-1000, 1000, oc).astype(np.int32),
          "mult": np.full(oc, 1e-4, np.float32), "stride_h": stride, "stride_w": stride,
          "dil_h": 1, "dil_w": 1, "pad_t": pad, "pad_l": pad, "pad_b": pad, "pad_r": pad,
          "groups": groups, "x_zp": 3, "y_zp": -2}
    oh = (hw + 2 * pad - k) // stride + 1
    return (lambda: one_op.conv2d(x, **kw)), oh * oh * oc * k * k * (c // groups)


def kernel_cases() -> dict[str, tuple[Callable[[], object], int]]:
    return {
        "fc 1024x1024x1024": _fc_case(1024, 1024, 1024),
        "fc 1x1024x1000 (classifier, m=1)": _fc_case(1, 1024, 1000),
        "conv 56x56, 64->64, 3x3": _conv_case(56, 64, 64, 3),
        "conv 56x56, 64->256, 1x1": _conv_case(56, 64, 256, 1),
        "conv 112x112, 32, dw 3x3 (no gemm)": _conv_case(112, 32, 32, 3, dw=True),
        "conv 224x224, 3->32, 3x3 s2": _conv_case(224, 3, 32, 3, stride=2),
        "conv 14x14, 256->256, 3x3": _conv_case(14, 256, 256, 3),
    }


def model_cases(models: list[str]) -> dict[str, tuple[Callable[[], object], int]]:
    import int8rt
    from tests.models.fixtures import calib_and_eval_images, onnx_model_path

    out = {}
    for name in models:
        calib, evals = calib_and_eval_images(name, 16, 1)
        qm = int8rt.quantize(str(onnx_model_path(name)), [calib], progress=False)
        sess = int8rt.Session(qm, threads=1)
        feed = {sess.get_inputs()[0].name: evals[:1]}
        out[f"Session {name} (batch 1)"] = ((lambda s=sess, f=feed: s.run(None, f)), 0)
    return out


def measure(cases: dict[str, tuple[Callable[[], object], int]], paths: list[str], runs: int
            ) -> list[dict]:
    rows = []
    for label, (fn, macs) in cases.items():
        times: dict[str, list[float]] = {p: [] for p in paths}
        for p in paths:  # warm up every path
            _native.set_isa(p)
            fn()
        for _ in range(runs):  # interleaved: each round runs every path once
            for p in paths:
                _native.set_isa(p)
                t0 = time.perf_counter()
                fn()
                times[p].append(time.perf_counter() - t0)
        med = {p: float(np.median(v)) for p, v in times.items()}
        rows.append({"case": label, "macs": macs, **med})
        print(f"{label}: " + ", ".join(f"{p} {1e3 * t:.2f} ms" for p, t in med.items()),
              flush=True)
    return rows


def peak_table(paths: list[str], m: int = 1024, k: int = 1024, n: int = 1024) -> str:
    out = [f"| path | GEMM {m}x{k}x{n} GOPS | peak GOPS | % of peak |", "|---|---|---|---|"]
    for p in paths:
        _native.set_isa(p)
        t = min(_native.fc_run_times(m, k, n, repeats=7))
        gops, peak = 2 * m * k * n / t / 1e9, _native.peak_gops(p)
        out.append(f"| {p} | {gops:.1f} | {peak:.1f} | {100 * gops / peak:.0f} % |")
        print(out[-1], flush=True)
    return "\n".join(out)


def table(rows: list[dict], paths: list[str]) -> str:
    head = "| case | " + " | ".join(f"{p} ms (GOPS)" for p in paths)
    head += f" | {paths[0]} / {paths[-1]} |"
    out = [head, "|---" * (len(paths) + 2) + "|"]
    for r in rows:
        cells = []
        for p in paths:
            g = f" ({2 * r['macs'] / r[p] / 1e9:.1f})" if r["macs"] else ""
            cells.append(f"{1e3 * r[p]:.2f}{g}")
        out.append(f"| {r['case']} | " + " | ".join(cells)
                   + f" | {r[paths[0]] / r[paths[-1]]:.2f}x |")
    return "\n".join(out)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--runs", type=int, default=15)
    ap.add_argument("--models", default="mobilenet_v2,resnet18")
    ap.add_argument("--no-models", action="store_true")
    ap.add_argument("--peak-only", action="store_true")
    ap.add_argument("-o", "--output", help="also write the Markdown table here")
    args = ap.parse_args()
    paths = _native.available_isas()
    before = _native.isa()
    print(cpu_header(), flush=True)
    try:
        md = cpu_header() + "\n\n" + peak_table(paths)
        if not args.peak_only:
            cases = kernel_cases()
            if not args.no_models:
                cases.update(model_cases(args.models.split(",")))
            md += "\n\n" + table(measure(cases, paths, args.runs), paths)
    finally:
        _native.set_isa(before)
    print(md)
    if args.output:
        Path(args.output).write_text(md + "\n")


if __name__ == "__main__":
    main()
