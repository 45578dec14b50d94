"""One-thread latency of int8rt's dynamic-int8 LSTM / GRU layers against ONNX Runtime fp32 on
the recurrent models of tools/rnn_check.py (same architectures; latency does not depend on the
trained values, so the torch initialisation is used), on every int8rt ISA path this CPU runs.
Batch 1; rounds interleave the engines; medians of per-round ratios.

    python tools/rnn_speed.py [--rounds 300] [--json rnn_speed.json]
"""

from __future__ import annotations

import argparse
import io
import json
import statistics
import time
import warnings

import numpy as np

MODELS = {  # name: (cell, input, hidden, layers, bidirectional, steps)
    "digits BiLSTM 64 (8 steps)": ("lstm", 8, 64, 1, True, 8),
    "digits BiGRU 64 (8 steps)": ("gru", 8, 64, 1, True, 8),
    "chars LSTM 2x128 (128 steps)": ("lstm", 32, 128, 2, False, 128),
    "CRNN's BiLSTM 128->48 (24 steps)": ("lstm", 128, 48, 1, True, 24),
}


def export(cell, n_in, hidden, layers, bidir, steps) -> bytes:
    import torch

    torch.manual_seed(0)
    rnn_cls = torch.nn.LSTM if cell == "lstm" else torch.nn.GRU

    class M(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.rnn = rnn_cls(n_in, hidden, num_layers=layers, bidirectional=bidir)
            self.fc = torch.nn.Linear(hidden * (2 if bidir else 1), 10)

        def forward(self, x):
            return self.fc(self.rnn(x)[0])

    f = io.BytesIO()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        torch.onnx.export(M().eval(), (torch.zeros(steps, 1, n_in),), f, input_names=["x"],
                          output_names=["y"], opset_version=17, dynamo=False)
    return f.getvalue()


def measure(rounds: int) -> dict:
    import onnx
    import onnxruntime as ort

    import int8rt
    from int8rt import _native

    paths = [p for p in ("avx512vnni", "avxvnni", "avx2", "scalar")
             if p in _native.available_isas()] or [_native.isa()]
    before = _native.isa()
    out = {"paths": paths, "rows": []}
    opts = ort.SessionOptions()
    opts.intra_op_num_threads = opts.inter_op_num_threads = 1
    for name, spec in MODELS.items():
        b = export(*spec)
        ref = ort.InferenceSession(b, opts, providers=["CPUExecutionProvider"])
        qm = int8rt.quantize(onnx.load_from_string(b), mode="dynamic")
        sessions = {}
        for p in paths:  # weights packed under each path (its gemm layout)
            _native.set_isa(p)
            sessions[p] = int8rt.Session(qm, threads=1)
        x = np.random.default_rng(0).standard_normal((spec[5], 1, spec[1])).astype(np.float32)
        row = {"model": name}
        t_ort = []
        ratios = {p: [] for p in paths}
        times = {p: [] for p in paths}
        for p in paths:
            _native.set_isa(p)
            for _ in range(10):
                ref.run(None, {"x": x})
                sessions[p].run(None, {"x": x})
        for _ in range(rounds):
            t0 = time.perf_counter()
            ref.run(None, {"x": x})
            t_o = time.perf_counter() - t0
            t_ort.append(t_o)
            for p in paths:
                _native.set_isa(p)
                t0 = time.perf_counter()
                sessions[p].run(None, {"x": x})
                t = time.perf_counter() - t0
                times[p].append(t)
                ratios[p].append(t / t_o)
        _native.set_isa(before)
        row["ort_fp32_ms"] = 1e3 * statistics.median(t_ort)
        for p in paths:
            row[f"{p}_ms"] = 1e3 * statistics.median(times[p])
            row[f"{p}_ratio"] = statistics.median(ratios[p])
        out["rows"].append(row)
        print(row, flush=True)
    return out


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--rounds", type=int, default=300)
    ap.add_argument("--json")
    args = ap.parse_args(argv)
    res = measure(args.rounds)
    if args.json:
        with open(args.json, "w") as f:
            json.dump(res, f, indent=1)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
