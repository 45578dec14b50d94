"""Float fallback kernels (csrc/kernels/f32conv) against ONNX Runtime's fp32 Conv / Gemm on
the same shapes, one thread each, interleaved in one process, thread-CPU-time medians; and
each int8rt path (portable C, AVX2 + FMA, AVX-512) against the portable one. Shapes from the
PP-OCRv4 text detector (DBNet, 480x480 input) and PicoDet's stem.

    python bench/bench_f32conv.py [--runs 15]

The int8rt figure runs a one-record plan built per call (tests/kernels/one_op.py): it includes
the plan build and packing the weights (a model packs once at build time), so it
slightly understates the kernel.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.machine import cpu_header
from int8rt import _native as nat
from tests.kernels import one_op

FMAX = float(np.finfo(np.float32).max)

# name: (h, w, c, oc, k, stride, groups)
SHAPES = {
    "stem 3x3 s2 3->16 @480": (480, 480, 3, 16, 3, 2, 1),
    "pw 1x1 16->32 @240": (240, 240, 16, 32, 1, 1, 1),
    "dw 3x3 32 @240": (240, 240, 32, 32, 3, 1, 32),
    "pw 1x1 48->96 @120": (120, 120, 48, 96, 1, 1, 1),
    "dw 3x3 s2 96 @120": (120, 120, 96, 96, 3, 2, 96),
    "3x3 64->64 @60": (60, 60, 64, 64, 3, 1, 1),
    "pw 1x1 192->384 @30": (30, 30, 192, 384, 1, 1, 1),
    "fc 1280->1000 (m=64)": None,
}


def _thread_ns(fn) -> int:
    t = time.thread_time_ns()
    fn()
    return time.thread_time_ns() - t


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--runs", type=int, default=15)
    args = ap.parse_args()
    import onnxruntime as ort
    from onnx import TensorProto, helper, numpy_helper

    print(cpu_header())
    print(f"f32conv path: {nat.f32conv_path_name()}; onnxruntime {ort.__version__}")
    so = ort.SessionOptions()
    so.intra_op_num_threads = 1
    so.inter_op_num_threads = 1
    rng = np.random.default_rng(0)
    paths = [p for p in ("scalar", "avx2", "avx512vnni") if p in nat.available_isas()]
    before = nat.isa()
    print(f"| shape | ORT fp32 ms | int8rt {' | int8rt '.join(paths)} (ms) | ORT / int8rt best |")
    print("|---|---:|" + "---:|" * len(paths) + "---:|")
    for name, shape in SHAPES.items():
        if shape is None:
            x = rng.standard_normal((64, 1280)).astype(np.float32)
            w = rng.standard_normal((1000, 1280)).astype(np.float32)
            b = rng.standard_normal(1000).astype(np.float32)
            node = helper.make_node("Gemm", ["x", "w", "b"], ["y"], transB=1)
            inits = [numpy_helper.from_array(w, "w"), numpy_helper.from_array(b, "b")]
            feeds = {"x": x}

            def ours(x=x, w=w, b=b):
                one_op.fc_f32(x, w=w, bias=b, lo=-FMAX, hi=FMAX)
        else:
            h, wd, c, oc, k, s, g = shape
            x = rng.standard_normal((1, h, wd, c)).astype(np.float32)
            w = rng.standard_normal((oc, k, k, c // g)).astype(np.float32)
            b = rng.standard_normal(oc).astype(np.float32)
            pad = k // 2
            node = helper.make_node("Conv", ["x", "w", "b"], ["y"], strides=[s, s],
                                    pads=[pad] * 4, group=g)
            inits = [numpy_helper.from_array(w.transpose(0, 3, 1, 2).copy(), "w"),
                     numpy_helper.from_array(b, "b")]
            feeds = {"x": x.transpose(0, 3, 1, 2).copy()}
            geo = {"stride_h": s, "stride_w": s, "dil_h": 1, "dil_w": 1, "pad_t": pad,
                   "pad_l": pad, "pad_b": pad, "pad_r": pad, "groups": g, "lo": -FMAX,
                   "hi": FMAX}

            def ours(x=x, w=w, b=b, geo=geo):
                one_op.conv2d_f32(x, w=w, bias=b, **geo)
        graph = helper.make_graph([node], "b", [helper.make_tensor_value_info(
            "x", TensorProto.FLOAT, list(feeds["x"].shape))], [helper.make_tensor_value_info(
                "y", TensorProto.FLOAT, None)], initializer=inits)
        model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
        model.ir_version = 8
        sess = ort.InferenceSession(model.SerializeToString(), so,
                                    providers=["CPUExecutionProvider"])
        times = {"ort": [], **{p: [] for p in paths}}
        for _ in range(args.runs):
            times["ort"].append(_thread_ns(lambda s=sess, f=feeds: s.run(None, f)))
            for p in paths:
                nat.set_isa(p)
                times[p].append(_thread_ns(ours))
        nat.set_isa(before)
        med = {k: statistics.median(v) / 1e6 for k, v in times.items()}
        best = min(med[p] for p in paths)
        cells = " | ".join(f"{med[p]:.3f}" for p in paths)
        print(f"| {name} | {med['ort']:.3f} | {cells} | {med['ort'] / best:.2f}x |")


if __name__ == "__main__":
    main()
