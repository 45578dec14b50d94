from __future__ import annotations

import numpy as np
import pytest

pytest.importorskip("onnx")  # extras: a Pi runtime install lacks them
pytest.importorskip("torch")

from .digits import load_digits_test
from .export import export_onnx, op_counts
from .fixtures import calib_and_eval_images, onnx_model_path
from .images import sample_images
from .ort_baseline import cosine, ort_quantize_static, ort_run, sqnr_db


def test_sample_images_deterministic_and_distinct() -> None:
    a = sample_images(40, size=32, seed=3)
    assert a.shape == (40, 3, 32, 32) and a.dtype == np.float32
    assert np.array_equal(a, sample_images(40, size=32, seed=3))
    assert not np.array_equal(a, sample_images(40, size=32, seed=4))
    assert len({x.tobytes() for x in a}) == 40
    # ImageNet normalisation: channel means near 0, stds near 1 on natural images.
    assert np.all(np.abs(a.mean(axis=(0, 2, 3))) < 0.5)
    assert np.all((a.std(axis=(0, 2, 3)) > 0.6) & (a.std(axis=(0, 2, 3)) < 1.6))


def test_metrics() -> None:
    ref = np.array([1.0, 2.0, 3.0])
    assert cosine(ref, 2 * ref) == pytest.approx(1.0)
    assert cosine(ref, -ref) == pytest.approx(-1.0)
    assert sqnr_db(ref, ref) == float("inf")
    # noise = 0.316 * ref: noise energy is 1/10 of the signal energy -> 10 dB
    assert sqnr_db(ref, ref + 0.1 * ref * np.sqrt(10)) == pytest.approx(10.0)


def test_dscnn_export_matches_torch(tmp_path) -> None:
    import torch

    from .torch_nets import build

    model = build("dscnn")
    path = export_onnx(model, tmp_path / "dscnn.onnx", (1, 3, 64, 64))
    x = sample_images(4, size=64, seed=7)
    with torch.no_grad():
        ref = model(torch.from_numpy(x)).numpy()
    np.testing.assert_allclose(ort_run(path, x), ref, rtol=1e-4, atol=1e-4)
    # Eval-mode BN is not input-independent noise: different images give different logits.
    assert ref.std(axis=0).mean() > 0.05


# Exported graphs: these are the op types the ONNX importer must handle for each model.
EXPECTED_OPS = {
    "mobilenet_v2": {"Add": 10, "Clip": 35, "Constant": 70, "Conv": 52, "Flatten": 1, "Gemm": 1,
                     "GlobalAveragePool": 1},
    "resnet18": {"Add": 8, "Conv": 20, "Flatten": 1, "Gemm": 1, "GlobalAveragePool": 1,
                 "MaxPool": 1, "Relu": 17},
    "dscnn": {"Add": 1, "Conv": 7, "Flatten": 1, "Gemm": 1, "GlobalAveragePool": 1, "Relu": 6},
    "digits_cnn": {"Conv": 3, "Flatten": 1, "Gemm": 1, "GlobalAveragePool": 1, "MaxPool": 1,
                   "Relu": 3},
}


@pytest.mark.parametrize("name", list(EXPECTED_OPS))
def test_exported_graph_ops(name: str) -> None:
    path = onnx_model_path(name)
    assert op_counts(path) == EXPECTED_OPS[name]
    _, x = calib_and_eval_images(name, 1, 2)
    y = ort_run(path, x)
    assert y.shape[0] == 2 and np.all(np.isfinite(y))


def test_digits_data_and_fp32_accuracy() -> None:
    d = load_digits_test()
    assert d.x_test.shape == (540, 1, 8, 8) and d.x_test.dtype == np.float32
    assert d.y_test.dtype == np.int64 and d.x_calib.shape == (100, 1, 8, 8)
    assert np.bincount(d.y_test).min() >= 50  # stratified: every class present
    acc = float((ort_run(onnx_model_path("digits_cnn"), d.x_test).argmax(1) == d.y_test).mean())
    assert acc >= 0.97


@pytest.mark.parametrize("method", ["MinMax", "Entropy", "Percentile"])
def test_ort_baseline_digits(tmp_path, method: str) -> None:
    d = load_digits_test()
    fp32 = onnx_model_path("digits_cnn")
    q = ort_quantize_static(fp32, d.x_calib[:32], tmp_path / "q.onnx", method)
    ref, out = ort_run(fp32, d.x_test), ort_run(q, d.x_test)
    assert cosine(ref, out) > 0.99
    assert float((out.argmax(1) == d.y_test).mean()) >= 0.96


def test_ort_baseline_dscnn(tmp_path) -> None:
    calib, held = calib_and_eval_images("dscnn", 32, 16)
    fp32 = onnx_model_path("dscnn")
    ref = ort_run(fp32, held)
    out = ort_run(ort_quantize_static(fp32, calib, tmp_path / "q.onnx"), held)
    assert cosine(ref, out) > 0.98 and sqnr_db(ref, out) > 12.0


@pytest.mark.slow
@pytest.mark.parametrize("name,min_cos", [("mobilenet_v2", 0.95), ("resnet18", 0.99)])
def test_ort_baseline_imagenet_models(tmp_path, name: str, min_cos: float) -> None:
    calib, held = calib_and_eval_images(name, 32, 16)
    fp32 = onnx_model_path(name)
    ref = ort_run(fp32, held)
    out = ort_run(ort_quantize_static(fp32, calib, tmp_path / "q.onnx"), held)
    assert cosine(ref, out) > min_cos
