"""`int8rt demo`: quantize the bundled digits CNN and show what int8 costs and buys.

The model (tools/train_demo.py trained it on scikit-learn's bundled 8x8 digits) ships as a
float int8rt graph with its held-out test split, so the demo needs neither onnx nor network.
"""

from __future__ import annotations

import time
from importlib import resources

import numpy as np

from . import format as i8format
from .api import quantize
from .reference.float_executor import FloatExecutor
from .session import Session

MODEL = "digits_cnn.i8"
DATA = "digits_test.npz"


def _data_file(name: str):
    return resources.files("int8rt").joinpath("data", name)


def load_demo():
    """(float graph, x_test, y_test, x_calib) of the bundled demo."""
    graph = i8format.load(_data_file(MODEL).read_bytes())
    with _data_file(DATA).open("rb") as f:
        d = np.load(f)
        return graph, d["x_test"], d["y_test"], d["x_calib"]


def _median_ms(fn, runs: int) -> float:
    times = []
    for _ in range(runs):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return 1e3 * float(np.median(times))


def run_demo(runs: int = 200, progress: bool = True) -> dict[str, float]:
    graph, x_test, y_test, x_calib = load_demo()
    input_name = graph.inputs[0]
    float_exec = FloatExecutor(graph)
    fp32_logits = float_exec.run({input_name: x_test})[graph.outputs[0]]
    fp32_acc = float(np.mean(fp32_logits.argmax(axis=1) == y_test))

    qm = quantize(graph, [x_calib], progress=progress)
    sess = Session(qm)
    int8_logits = sess.run(None, {input_name: x_test})[0]
    int8_acc = float(np.mean(int8_logits.argmax(axis=1) == y_test))

    one = x_test[:1]
    int8_ms = _median_ms(lambda: sess.run(None, {input_name: one}), runs)
    fp32_ms = _median_ms(lambda: float_exec.run({input_name: one}), max(10, runs // 10))
    float_bytes = len(_data_file(MODEL).read_bytes())
    int8_bytes = len(qm.to_bytes())
    return {
        "test_images": len(y_test), "fp32_accuracy": fp32_acc, "int8_accuracy": int8_acc,
        "fp32_bytes": float_bytes, "int8_bytes": int8_bytes, "int8_ms": int8_ms,
        "fp32_numpy_ms": fp32_ms,
    }


def format_report(r: dict[str, float]) -> str:
    return "\n".join([
        f"int8rt demo: digits CNN, {r['test_images']} held-out images",
        (f"  accuracy   fp32 {100 * r['fp32_accuracy']:6.2f} %   "
         f"int8 {100 * r['int8_accuracy']:6.2f} %"
         f"   (drop {100 * (r['fp32_accuracy'] - r['int8_accuracy']):+.2f} points)"),
        (f"  model size fp32 {r['fp32_bytes'] / 1024:6.1f} KiB  "
         f"int8 {r['int8_bytes'] / 1024:6.1f} KiB"
         f"  ({r['fp32_bytes'] / r['int8_bytes']:.1f}x smaller)"),
        (f"  latency    int8 {r['int8_ms']:.3f} ms/image (native plan, 1 thread); "
         f"fp32 {r['fp32_numpy_ms']:.3f} ms/image (numpy reference executor)"),
    ])
