"""ONNX Runtime as the baseline int8rt is measured against: static QDQ quantization, runs, metrics.

Quantization settings: `quantize_static` with QuantFormat.QDQ and ORT's own defaults for the
types, which are QInt8 activations (asymmetric, per tensor) and QInt8 weights (symmetric), the
"S8S8 QDQ" combination ORT documents as its default and recommended starting point on x86-64.
Weights are per output channel by default here (ORT's own default is per tensor).

`reduce_range` (7-bit weights) defaults to True on x86 CPUs without VNNI, as ORT's
documentation advises: its AVX2 int8 GEMM/conv kernels use VPMADDUBSW, which adds two u8*s8
products into a *saturating* int16, and with full-range weights that saturates (measured here on
an AVX2 EPYC: MobileNetV2's first Conv alone drops to cosine 0.956 vs 0.99992 unoptimized).
`ort_run(..., optimize=False)` runs the QDQ graph as float DequantizeLinear/op/QuantizeLinear,
i.e. the exact fake-quant result without ORT's integer kernels.

Run as a script for the baseline table: `python -m tests.models.ort_baseline [--runs 30]`.
"""

from __future__ import annotations

import os
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import numpy as np

_METHODS = ("MinMax", "Entropy", "Percentile")


class _ArrayReader:
    """CalibrationDataReader over a [N, ...] array, one image per call (models have batch 1)."""

    def __init__(self, input_name: str, data: np.ndarray, batch: int) -> None:
        self._it: Iterator[dict[str, np.ndarray]] = (
            {input_name: np.ascontiguousarray(data[i:i + batch], np.float32)}
            for i in range(0, len(data), batch)
        )

    def get_next(self) -> dict[str, np.ndarray] | None:
        return next(self._it, None)

    def rewind(self) -> None:  # ORT >= 1.17 may call it; the data is consumed once per call
        pass


def _session(path: str | os.PathLike, threads: int = 1, optimize: bool = True):
    import onnxruntime as ort

    opts = ort.SessionOptions()
    if not optimize:
        opts.graph_optimization_level = ort.GraphOptimizationLevel.ORT_DISABLE_ALL
    opts.intra_op_num_threads = threads
    opts.inter_op_num_threads = 1
    opts.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
    opts.log_severity_level = 3
    return ort.InferenceSession(str(path), opts, providers=["CPUExecutionProvider"])


def _batch_of(path: str | os.PathLike) -> int:
    import onnx

    dim = onnx.load(str(path), load_external_data=False).graph.input[0].type.tensor_type.shape.dim
    return dim[0].dim_value if dim and dim[0].dim_value > 0 else 0


def x86_without_vnni() -> bool:
    """True on an x86 CPU lacking AVX-VNNI/AVX512-VNNI (where ORT's u8*s8 int16 pairs saturate)."""
    import platform

    if platform.machine().lower() not in ("x86_64", "amd64", "i386", "i686"):
        return False
    try:
        with open("/proc/cpuinfo") as f:
            flags = f.read()
    except OSError:
        return True
    return "avx512_vnni" not in flags and "avx_vnni" not in flags


def ort_quantize_static(fp32_onnx_path: str | os.PathLike, calib: np.ndarray,
                        out_path: str | os.PathLike, method: str = "MinMax",
                        per_channel: bool = True, reduce_range: bool | None = None) -> Path:
    """Quantize with ORT's static PTQ (QDQ, s8 activations, s8 weights); returns out_path.

    reduce_range=None picks ORT's advice for this CPU (see the module docstring).
    Note: through quantize_static, "Entropy" gives exactly the MinMax ranges: ORT's entropy
    calibrator defaults to num_bins == num_quantized_bins == 128, which leaves a single
    candidate threshold (the full range), and quantize_static offers no option to change it.
    """
    from onnxruntime.quantization import (
        CalibrationDataReader,
        CalibrationMethod,
        QuantFormat,
        QuantType,
        quantize_static,
    )

    if method not in _METHODS:
        raise ValueError(f"method must be one of {_METHODS}, got {method!r}")
    if reduce_range is None:
        reduce_range = x86_without_vnni()
    input_name = _session(fp32_onnx_path).get_inputs()[0].name
    batch = _batch_of(fp32_onnx_path) or len(calib)

    class Reader(_ArrayReader, CalibrationDataReader):
        pass

    out_path = Path(out_path)
    out_path.parent.mkdir(parents=True, exist_ok=True)
    # ORT writes its augmented calibration model to the working directory by default.
    with tempfile.TemporaryDirectory() as tmp:
        cwd = os.getcwd()
        os.chdir(tmp)
        try:
            quantize_static(
                str(fp32_onnx_path), str(out_path), Reader(input_name, calib, batch),
                quant_format=QuantFormat.QDQ, per_channel=per_channel, reduce_range=reduce_range,
                activation_type=QuantType.QInt8, weight_type=QuantType.QInt8,
                calibrate_method=getattr(CalibrationMethod, method),
            )
        finally:
            os.chdir(cwd)
    return out_path


def ort_run(path: str | os.PathLike, x: np.ndarray, threads: int = 1,
            optimize: bool = True) -> np.ndarray:
    """Run a one-input model on `x`; a fixed-batch model is run slice by slice and concatenated.

    optimize=False disables ORT's graph rewrites, so a QDQ model runs as float fake-quant.
    """
    sess = _session(path, threads, optimize)
    name = sess.get_inputs()[0].name
    batch = _batch_of(path)
    x = np.ascontiguousarray(x, np.float32)
    if batch == 0 or batch == len(x):
        return sess.run(None, {name: x})[0]
    return np.concatenate([sess.run(None, {name: x[i:i + batch]})[0]
                           for i in range(0, len(x), batch)])


def cosine(a: np.ndarray, b: np.ndarray) -> float:
    """Cosine similarity of the flattened arrays (float64)."""
    a = np.asarray(a, np.float64).ravel()
    b = np.asarray(b, np.float64).ravel()
    den = np.linalg.norm(a) * np.linalg.norm(b)
    return float(a @ b / den) if den > 0 else float(np.array_equal(a, b))


def sqnr_db(ref: np.ndarray, test: np.ndarray) -> float:
    """Signal-to-quantization-noise ratio 10*log10(|ref|^2 / |ref - test|^2); inf if equal."""
    ref = np.asarray(ref, np.float64)
    noise = float(np.sum((ref - np.asarray(test, np.float64)) ** 2))
    signal = float(np.sum(ref ** 2))
    if noise == 0.0:
        return float("inf")
    return 10.0 * float(np.log10(signal / noise)) if signal > 0 else float("-inf")


def bench_latency(paths: dict[str, str | os.PathLike], x: np.ndarray, runs: int = 30,
                  threads: int = 1, warmup: int = 3) -> dict[str, float]:
    """Median wall time (ms) of one `run` per model, with the models interleaved run by run so
    that frequency or load drift hits every model alike."""
    sessions = {k: _session(p, threads) for k, p in paths.items()}
    feeds = {k: {s.get_inputs()[0].name: np.ascontiguousarray(x, np.float32)}
             for k, s in sessions.items()}
    times: dict[str, list[float]] = {k: [] for k in sessions}
    for i in range(warmup + runs):
        for k, s in sessions.items():
            t0 = time.perf_counter()
            s.run(None, feeds[k])
            if i >= warmup:
                times[k].append(time.perf_counter() - t0)
    return {k: 1e3 * float(np.median(v)) for k, v in times.items()}


def main(argv: list[str] | None = None) -> None:
    import argparse

    from .fixtures import calib_and_eval_images, onnx_model_path

    ap = argparse.ArgumentParser(description="ONNX Runtime int8 baseline table")
    ap.add_argument("--models", nargs="*", default=["mobilenet_v2", "resnet18", "digits_cnn"])
    ap.add_argument("--methods", nargs="*", default=["MinMax"])
    ap.add_argument("--runs", type=int, default=30)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--reduce-range", choices=("auto", "on", "off"), default="auto")
    args = ap.parse_args(argv)
    rr = {"auto": None, "on": True, "off": False}[args.reduce_range]
    print(f"reduce_range: {x86_without_vnni() if rr is None else rr}")
    with tempfile.TemporaryDirectory() as tmp:
        for name in args.models:
            fp32 = onnx_model_path(name)
            calib, held = calib_and_eval_images(name, 32, 16)
            ref = ort_run(fp32, held)
            paths: dict[str, str | os.PathLike] = {"fp32": fp32}
            for method in args.methods:
                q = ort_quantize_static(fp32, calib, Path(tmp) / f"{name}_{method}.onnx", method,
                                        reduce_range=rr)
                for optimize in (True, False):
                    out = ort_run(q, held, optimize=optimize)
                    agree = float(np.mean(out.argmax(1) == ref.argmax(1)))
                    kind = "int8 kernels" if optimize else "QDQ fake-quant"
                    print(f"{name:14s} {method:10s} {kind:14s} cosine {cosine(ref, out):.5f}  "
                          f"sqnr {sqnr_db(ref, out):6.2f} dB  top1-agree {agree:.3f}")
                paths[f"int8-{method}"] = q
            lat = bench_latency(paths, held[:1], args.runs, args.threads)
            print(f"{name:14s} latency ms ({args.threads} thread, median of {args.runs}): "
                  + ", ".join(f"{k} {v:.3f}" for k, v in lat.items()))


if __name__ == "__main__":
    main()
