"""The `int8rt` command, run in-process on the bundled demo model."""

from __future__ import annotations

import numpy as np
import pytest

from int8rt.cli import main
from int8rt.demo import _data_file, load_demo


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    d = tmp_path_factory.mktemp("cli")
    model = d / "digits_float.i8"
    model.write_bytes(_data_file("digits_cnn.i8").read_bytes())
    _, x_test, _, x_calib = load_demo()
    np.save(d / "calib.npy", x_calib)
    np.save(d / "x.npy", x_test[:3])
    return d, model


def test_quantize_inspect_run_bench(files, capsys) -> None:
    d, model = files
    out = d / "digits_int8.i8"
    assert main(["-q", "quantize", str(model), "--calib", str(d / "calib.npy"),
                 "--calib-samples", "50", "-o", str(out)]) == 0
    assert out.exists()
    assert main(["inspect", str(out)]) == 0
    text = capsys.readouterr().out
    assert "quantized: yes" in text and "Conv x3" in text
    assert main(["run", str(out), "--input", str(d / "x.npy"), "-o", str(d / "y.npz")]) == 0
    assert np.load(d / "y.npz")["output"].shape == (3, 10)
    assert main(["-q", "bench", str(out), "--runs", "5", "--warmup", "1", "--profile"]) == 0
    text = capsys.readouterr().out
    assert "median" in text and "conv2d" in text


def test_demo(capsys) -> None:
    assert main(["-q", "demo", "--runs", "5"]) == 0
    text = capsys.readouterr().out
    assert "accuracy" in text and "int8" in text and "KiB" in text


def test_errors_exit_2_with_a_message(files, capsys) -> None:
    d, _ = files
    assert main(["run", str(d / "missing.i8")]) == 2
    assert "error" in capsys.readouterr().err
    bad = d / "bad.i8"
    bad.write_bytes(b"not a model")
    assert main(["inspect", str(bad)]) == 2
