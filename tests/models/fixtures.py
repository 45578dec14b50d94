"""Exported test models, built and exported once per process (and so once per pytest session).

Plain functions (`onnx_model_path`) work from any test or script; the pytest fixtures below wrap
them. tests/models/conftest.py registers the fixtures for tests in this folder; elsewhere use
`pytest_plugins` or import the function.
"""

from __future__ import annotations

import atexit
import shutil
import tempfile
import threading
from pathlib import Path

import numpy as np
import pytest

_REPO = Path(__file__).resolve().parents[2]
# Pre-exported models committed in the repository (no torch training needed at test time).
BUNDLED = {"digits_cnn": _REPO / "tools" / "data" / "digits_cnn.onnx"}

_lock = threading.Lock()
_cache_dir: Path | None = None
_paths: dict[str, Path] = {}


def _dir() -> Path:
    global _cache_dir
    if _cache_dir is None:
        _cache_dir = Path(tempfile.mkdtemp(prefix="int8rt-models-"))
        atexit.register(shutil.rmtree, _cache_dir, True)
    return _cache_dir


def model_names() -> list[str]:
    from .torch_nets import MODELS

    return list(MODELS) + list(BUNDLED)


def input_shape(name: str) -> tuple[int, ...]:
    if name in BUNDLED:
        import onnx

        dims = onnx.load(str(BUNDLED[name])).graph.input[0].type.tensor_type.shape.dim
        return tuple(d.dim_value for d in dims)
    from .torch_nets import MODELS

    return MODELS[name][1]


def onnx_model_path(name: str) -> Path:
    """Path of the float ONNX file of a test model: "mobilenet_v2", "resnet18", "dscnn" (built
    and exported on first use), or "digits_cnn" (committed file)."""
    if name in BUNDLED:
        return BUNDLED[name]
    with _lock:
        if name not in _paths:
            from .export import export_onnx
            from .torch_nets import MODELS, build

            _paths[name] = export_onnx(build(name), _dir() / f"{name}.onnx", MODELS[name][1])
        return _paths[name]


def calib_and_eval_images(name: str, n_calib: int = 32, n_eval: int = 16
                          ) -> tuple[np.ndarray, np.ndarray]:
    """Disjoint calibration and evaluation inputs for a model (seeds 1 and 2)."""
    if name == "digits_cnn":
        from .digits import load_digits_test

        d = load_digits_test()
        return d.x_calib[:n_calib], d.x_test[:n_eval]
    from .images import sample_images

    size = input_shape(name)[-1]
    return sample_images(n_calib, size, seed=1), sample_images(n_eval, size, seed=2)


@pytest.fixture(scope="session")
def mobilenet_v2_onnx() -> Path:
    return onnx_model_path("mobilenet_v2")


@pytest.fixture(scope="session")
def resnet18_onnx() -> Path:
    return onnx_model_path("resnet18")


@pytest.fixture(scope="session")
def dscnn_onnx() -> Path:
    return onnx_model_path("dscnn")


@pytest.fixture(scope="session")
def digits_cnn_onnx() -> Path:
    return onnx_model_path("digits_cnn")
