"""Fused conv epilogues on or off (docs/KERNELS.md "Fused epilogues"): the same quantized model
as two Sessions, one lowered with `lower._fuse_epilogues` disabled, outputs checked identical,
then interleaved single-thread runs in one process, thread CPU time, medians.

    INT8RT_ISA=avx512vnni python bench/fused_epilogue_ab.py [--models yolov8n,...] [--runs 40]
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path
from unittest import mock

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import int8rt
from bench.machine import cpu_header
from int8rt import lower as lower_mod
from tests.models.fixtures import calib_and_eval_images, onnx_model_path


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--models", default="mobilenet_v2,resnet18,yolov8n")
    ap.add_argument("--runs", type=int, default=40)
    args = ap.parse_args()
    print(cpu_header())
    for name in args.models.split(","):
        calib, evals = calib_and_eval_images(name, 8, 1)
        x = evals[:1]
        qm = int8rt.quantize(str(onnx_model_path(name)), [calib], progress=False)
        fused = int8rt.Session(qm, threads=1)
        with mock.patch.object(lower_mod, "_fuse_epilogues", lambda *a: None):
            plain = int8rt.Session(qm, threads=1)
        feed = {fused.get_inputs()[0].name: x}
        assert all(np.array_equal(u, v) for u, v in zip(fused.run(None, feed),
                                                         plain.run(None, feed)))
        times: tuple[list[float], list[float]] = ([], [])
        for _ in range(args.runs):
            for s, t in zip((fused, plain), times):
                t0 = time.thread_time()
                s.run(None, feed)
                t.append(time.thread_time() - t0)
        mf, mp = (1e3 * float(np.median(t)) for t in times)
        print(f"{name}: fused {mf:.3f} ms, unfused {mp:.3f} ms, fused / unfused {mf / mp:.3f}",
              flush=True)


if __name__ == "__main__":
    main()
