"""The demo model's data: scikit-learn digits test/calibration split written by tools/train_demo.py.

Stored in the package (int8rt/data/digits_test.npz) so demos and tests need neither
scikit-learn nor torch.
"""

from __future__ import annotations

from pathlib import Path
from typing import NamedTuple

import numpy as np

NPZ_PATH = Path(__file__).resolve().parents[2] / "int8rt" / "data" / "digits_test.npz"
ONNX_PATH = Path(__file__).resolve().parents[2] / "tools" / "data" / "digits_cnn.onnx"


class DigitsData(NamedTuple):
    x_test: np.ndarray  # float32 [540, 1, 8, 8], pixel / 16 in [0, 1]
    y_test: np.ndarray  # int64 [540]
    x_calib: np.ndarray  # float32 [100, 1, 8, 8], from the training split
    y_calib: np.ndarray  # int64 [100]


def load_digits_test(path: str | Path = NPZ_PATH) -> DigitsData:
    with np.load(path) as f:
        return DigitsData(f["x_test"], f["y_test"], f["x_calib"], f["y_calib"])
