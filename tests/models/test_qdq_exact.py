"""ORT-made QDQ models import with zero float nodes and are as exact as ONNX Runtime itself.

ONNX Runtime's quantize_static (QDQ, per-channel int8 weights, full 8-bit range: no
reduce_range) quantizes a SiLU detector (Softmax / Sigmoid / Concat / MaxPool / Resize: ORT
writes Softmax's output as 1/255, which int8rt used to refuse), MobileNetV2 and ResNet-18. Every
conv's int8 output is compared with the exact QDQ value computed from the integers that runtime
fed the layer (tests/models/qdq_exact.py), for int8rt and for ORT's optimized integer kernels.
int8rt may differ only at .5 ties, and never in more elements than ORT.

`python -m tests.models.test_qdq_exact` prints the table of docs/QAT.md.
"""

from __future__ import annotations

import sys
import warnings
from pathlib import Path

import numpy as np
import pytest

onnx = pytest.importorskip("onnx")
pytest.importorskip("onnxruntime")
pytest.importorskip("torch")

import int8rt
from tests.models import qdq_exact as qe


def _ort_qdq(fp32: Path, calib: np.ndarray, out: Path, activation: str = "QInt8") -> Path:
    from onnxruntime.quantization import (
        CalibrationDataReader,
        QuantFormat,
        QuantType,
        quantize_static,
    )

    class Reader(CalibrationDataReader):
        def __init__(self) -> None:
            self.it = iter([{"input": calib[i:i + 1]} for i in range(len(calib))])

        def get_next(self):
            return next(self.it, None)

    import logging
    import os
    import tempfile

    logging.getLogger().setLevel(logging.ERROR)  # ORT's "consider pre-processing" advice
    cwd = os.getcwd()
    with tempfile.TemporaryDirectory() as tmp:
        os.chdir(tmp)  # ORT writes its augmented model to the working directory
        try:
            quantize_static(str(fp32), str(out), Reader(), quant_format=QuantFormat.QDQ,
                            per_channel=True, reduce_range=False,
                            activation_type=getattr(QuantType, activation),
                            weight_type=QuantType.QInt8)
        finally:
            os.chdir(cwd)
    return out


def _import(path: Path):
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # an op left float warns: none may
        qm = int8rt.quantize(str(path))
    assert qm.graph.meta["quantization"]["float_nodes"] == []
    assert not any(n.op in ("Conv", "Gemm") and qm.graph.tensor(n.inputs[0]).dtype == "float32"
                   for n in qm.graph.nodes)
    return qm


def _model(name: str, tmp: Path) -> tuple[Path, np.ndarray, np.ndarray]:
    """fp32 ONNX path, calibration images, evaluation images."""
    if name == "silu_detector":
        from tests.models import silu_detector

        path = silu_detector.export(tmp / "det.onnx")
        return path, silu_detector.images(8, 1), silu_detector.images(2, 2)
    from tests.models.fixtures import calib_and_eval_images, onnx_model_path

    calib, ev = calib_and_eval_images(name, n_calib=8, n_eval=2)
    return onnx_model_path(name), calib, ev


def parity(name: str, tmp: Path, activation: str = "QInt8", n_eval: int | None = None):
    fp32, calib, ev = _model(name, tmp)
    if n_eval is not None:
        ev = ev[:n_eval]
    path = _ort_qdq(fp32, calib, tmp / f"{name}_{activation}_qdq.onnx", activation)
    qm = _import(path)
    specs = qe.conv_specs(onnx.load(str(path)))
    ours = qe.count_int8rt(qm.graph, specs, ev)
    theirs = qe.count_ort(path, specs, ev)
    return qm, path, ev, specs, ours, theirs


def _check(specs, ours: qe.Count, theirs: qe.Count) -> None:
    assert specs and ours.elements == theirs.elements > 0
    assert ours.beyond_tie == 0, ours.layers
    assert ours.max_steps <= 1
    assert ours.off <= max(theirs.off, ours.elements // 100_000)


@pytest.mark.parametrize("activation", ["QInt8", "QUInt8"])
def test_silu_detector_qdq_exact(tmp_path, activation) -> None:
    qm, path, ev, specs, ours, theirs = parity("silu_detector", tmp_path, activation)
    _check(specs, ours, theirs)
    # Softmax took ORT's own output parameters (1/255), not int8rt's PTQ choice (1/256)
    sm = next(n for n in qm.graph.nodes if n.op == "Softmax")
    assert np.isclose(float(qm.graph.tensor(sm.outputs[0]).qparams.scalar()[0]), 1 / 255)
    # whole outputs against ORT's unoptimized (float fake-quant) run of the same file, in
    # output steps: a tie upstream may move an element by one step, rarely two
    import onnxruntime as ort

    so = ort.SessionOptions()
    so.graph_optimization_level = ort.GraphOptimizationLevel.ORT_DISABLE_ALL
    ref = ort.InferenceSession(str(path), so, providers=["CPUExecutionProvider"])
    sess = int8rt.Session(qm)
    names = qm.graph.meta["quantization"]["int8_names"]
    for k in range(len(ev)):
        got = sess.run(None, {"input": ev[k:k + 1]})
        want = ref.run(None, {"input": ev[k:k + 1]})
        for o, a, b in zip(qm.graph.outputs, got, want):
            steps = np.abs(a - b) / qm.graph.tensor(names[o]).qparams.scalar()[0]
            assert steps.max() <= 2.01 and (steps < 1.01).mean() >= 0.99, (o, steps.max())


@pytest.mark.slow  # two 224x224 CNNs: export, ORT calibration, numpy reference runs (~2 min)
@pytest.mark.parametrize("name", ["mobilenet_v2", "resnet18"])
def test_classifier_qdq_exact(tmp_path, name) -> None:
    _, _, _, specs, ours, theirs = parity(name, tmp_path, n_eval=1)
    _check(specs, ours, theirs)


def main() -> None:
    import platform
    import tempfile

    import onnxruntime as ort

    n_eval = int(sys.argv[1]) if len(sys.argv) > 1 else 2
    print(f"onnxruntime {ort.__version__}, {platform.machine()}; per-conv elements vs exact "
          f"QDQ semantics, {n_eval} image(s) each")
    print("| model | conv elements | int8rt off (beyond a tie, max steps) | "
          "ORT optimized off (beyond a tie, max steps) |")
    print("|---|---:|---:|---:|")
    with tempfile.TemporaryDirectory() as tmp:
        for name in ("mobilenet_v2", "resnet18", "silu_detector"):
            _, _, _, _, a, b = parity(name, Path(tmp), n_eval=n_eval)
            print(f"| {name} | {a.elements:,} | {a.off} ({a.beyond_tie}, {a.max_steps}) | "
                  f"{b.off} ({b.beyond_tie}, {b.max_steps}) |", flush=True)


if __name__ == "__main__":
    main()
