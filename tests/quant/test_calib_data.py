"""Calibration data sources: arrays, .npy / .npz files, image folders (deterministic)."""

from __future__ import annotations

import numpy as np
import pytest

from int8rt.calib_data import (
    ArraySource,
    ImageFolder,
    ImagePreprocess,
    calibration_source,
    load_array_file,
)


def _write_images(root, n=7, seed=0):
    Image = pytest.importorskip("PIL.Image")  # Pillow: an extra

    rng = np.random.default_rng(seed)
    names = [f"img_{(i * 5) % n:02d}.png" for i in range(n)]  # written out of order
    (root / "sub").mkdir()
    for k, name in enumerate(names):
        w, h = 40 + 3 * k, 30 + 2 * k
        a = rng.integers(0, 256, (h, w, 3), dtype=np.uint8)
        Image.fromarray(a).save(root / ("sub" if k % 2 else ".") / name)
    (root / "notes.txt").write_text("not an image")
    return names


def test_image_folder_is_deterministic_and_preprocessed(tmp_path):
    _write_images(tmp_path)
    pre = ImagePreprocess(size=(24, 20), resize=28)
    a = ImageFolder(tmp_path, pre, batch=3)
    b = ImageFolder(tmp_path, pre, batch=4)
    assert a.num_samples == 7 and len(a) == 3
    rel = [p.relative_to(tmp_path).as_posix() for p in a.files]
    assert rel == sorted(rel)
    xa = np.concatenate(list(a))
    xb = np.concatenate(list(b))
    assert xa.shape == (7, 3, 24, 20) and xa.dtype == np.float32
    assert np.array_equal(xa, xb)  # batching does not change the data
    assert np.array_equal(xa, np.concatenate(list(a)))  # re-iterable, same order
    # the mean / std normalisation: values of uniform noise centre near (0.5 - mean) / std
    want = (0.5 - np.array([0.485, 0.456, 0.406])) / np.array([0.229, 0.224, 0.225])
    np.testing.assert_allclose(xa.mean(axis=(0, 2, 3)), want, atol=0.15)


def test_image_preprocess_layout_and_channel_order(tmp_path):
    Image = pytest.importorskip("PIL.Image")  # Pillow: an extra

    a = np.zeros((10, 12, 3), np.uint8)
    a[..., 0] = 255  # pure red
    Image.fromarray(a).save(tmp_path / "red.png")
    plain = {"size": (10, 12), "resize": None, "mean": (0.0,), "std": (1.0,)}
    chw = ImageFolder(tmp_path, ImagePreprocess(**plain)).load(tmp_path / "red.png")
    hwc_bgr = ImageFolder(tmp_path, ImagePreprocess(**plain, channel_order="BGR",
                                                    layout="HWC")).load(tmp_path / "red.png")
    gray = ImageFolder(tmp_path, ImagePreprocess(**plain, channel_order="L")).load(
        tmp_path / "red.png")
    assert chw.shape == (3, 10, 12) and np.allclose(chw[0], 1.0) and np.allclose(chw[1:], 0)
    assert hwc_bgr.shape == (10, 12, 3) and np.allclose(hwc_bgr[..., 2], 1.0)
    assert gray.shape == (1, 10, 12)
    with pytest.raises(ValueError, match="layout"):
        ImagePreprocess(layout="NCWH")


def test_array_sources(tmp_path):
    x = np.arange(2 * 3 * 4, dtype=np.float32).reshape(6, 4)
    np.save(tmp_path / "x.npy", x)
    np.savez(tmp_path / "d.npz", x_calib=x, y_calib=np.arange(6))
    for src in (load_array_file(tmp_path / "x.npy"), load_array_file(tmp_path / "d.npz"),
                calibration_source(str(tmp_path / "d.npz")), ArraySource(x, batch=4)):
        assert np.array_equal(np.concatenate(list(src)), x)
    lim = calibration_source(str(tmp_path / "x.npy"), limit=5)
    assert lim.num_samples == 5 and np.concatenate(list(lim)).shape == (5, 4)
    with pytest.raises(FileNotFoundError):
        calibration_source(str(tmp_path / "missing.npz"))
    with pytest.raises(ValueError, match="no image files"):
        ImageFolder(tmp_path)
    it = calibration_source(iter([x[:2], x[2:]]))
    assert np.array_equal(np.concatenate(list(it)), np.concatenate(list(it)))


def test_cli_quantize_from_image_folder_with_options(tmp_path):
    from int8rt import format as i8format
    from int8rt.cli import main
    from int8rt.session import Session

    from .ptq_graphs import dw_separable_graph

    g = dw_separable_graph(h=8)
    i8format.save(g, tmp_path / "m.i8")
    (tmp_path / "imgs").mkdir()
    _write_images(tmp_path / "imgs", n=5)
    out = tmp_path / "q.i8"
    rc = main(["-q", "quantize", str(tmp_path / "m.i8"), "--calib", str(tmp_path / "imgs"),
               "--image-size", "8", "8", "--resize", "10", "--layout", "HWC",
               "--method", "mse", "--per-tensor", "--weight-bits", "6", "--bias-correction",
               "--equalize", "--io-dtype", "uint8", "--calib-samples", "4", "-o", str(out)])
    assert rc == 0
    qg = i8format.load(out)
    meta = qg.meta["quantization"]
    assert meta["weight_bits"] == 6 and meta["per_channel"] is False
    sess = Session(qg)
    assert sess.get_inputs()[0].dtype == "uint8"
    y = sess.run(None, {"x": np.zeros((1, 8, 8, 3), np.uint8)})[0]
    assert y.dtype == np.uint8 and y.shape == (1, 5)
