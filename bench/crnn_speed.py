"""CRNN latency without the training: tools/crnn_check.py's architecture (conv + ReLU + max-pool
x3, bidirectional LSTM, Linear) with seeded random weights, int8rt against ONNX Runtime.

    python bench/crnn_speed.py [--width 96] [--rounds 200] [--profile]

Latency does not depend on what the weights learned, so this measures in seconds what
crnn_check.py measures after half an hour of training. One thread, batch 1, one [1, 1, 32, W]
image; CPU time of the calling thread (every engine runs on it with one thread), medians of
interleaved rounds. --profile adds int8rt's per-record native times.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT), str(ROOT / "tools"), str(ROOT / "bench")]


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--width", type=int, default=96)
    ap.add_argument("--rounds", type=int, default=200)
    ap.add_argument("--profile", action="store_true")
    args = ap.parse_args(argv)

    import crnn_check
    import machine
    import onnx
    import onnxruntime as ort
    import torch

    import int8rt

    torch.manual_seed(0)
    onnx_bytes = crnn_check.export(crnn_check.build().eval())
    rng = np.random.default_rng(0)
    calib = [rng.random((1, 1, crnn_check.HEIGHT, args.width), np.float32) for _ in range(8)]
    x = calib[0]
    opts = ort.SessionOptions()
    opts.intra_op_num_threads = opts.inter_op_num_threads = 1
    prov = ["CPUExecutionProvider"]
    ort_q = crnn_check.ort_quantize_dynamic(onnx_bytes)
    engines = {
        "ORT fp32": ort.InferenceSession(onnx_bytes, opts, providers=prov),
        "ORT quantize_dynamic": ort.InferenceSession(ort_q, opts, providers=prov),
    }
    for name, qm in (
            ("int8rt mode=static", int8rt.quantize(onnx.load_from_string(onnx_bytes), calib,
                                                   mode="static", progress=False)),
            ("int8rt mode=dynamic", int8rt.quantize(onnx.load_from_string(onnx_bytes),
                                                    mode="dynamic"))):
        engines[name] = int8rt.Session(qm, threads=1)

    def run(sess) -> float:
        t = time.thread_time()
        sess.run(None, {"image": x})
        return time.thread_time() - t

    times: dict[str, list[float]] = {k: [] for k in engines}
    for s in engines.values():
        run(s)
    for _ in range(args.rounds):
        for k, s in engines.items():
            times[k].append(run(s))
    base = statistics.median(times["ORT fp32"])
    print(machine.cpu_header() + "\n")
    print(f"`python bench/crnn_speed.py --width {args.width} --rounds {args.rounds}` (one "
          f"thread, batch 1, [1, 1, {crnn_check.HEIGHT}, {args.width}], CPU time of the calling "
          "thread, median of interleaved rounds):\n")
    print("| engine | latency (ms) | × ORT fp32 |")
    print("|---|---|---|")
    for k, v in times.items():
        med = statistics.median(v)
        print(f"| {k} | {med * 1e3:.3f} | {med / base:.2f} |")
    if args.profile:
        sess = engines["int8rt mode=static"]
        print("\nint8rt mode=static, per record (µs, median of 50):")
        for node, kernel, ns in sess.profile({"image": x}, repeats=50):
            print(f"  {kernel:14s} {node:28s} {ns / 1e3:8.1f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
