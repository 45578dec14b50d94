"""Argument checks shared by the reference kernels: a params value that contradicts the arrays
is a lowering bug, so it raises instead of being silently ignored."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np


def check_eq(name: str, given: Any, actual: Any) -> None:
    if given is not None and given != actual:
        raise ValueError(f"{name}={given!r} does not match the array ({actual!r})")


def check_dtype(name: str, x: np.ndarray, dtype: str) -> np.ndarray:
    x = np.asarray(x)
    if x.dtype != np.dtype(dtype):
        raise TypeError(f"{name} must be {dtype}, got {x.dtype}")
    return x


def check_zp(name: str, zp: int) -> int:
    if not -128 <= int(zp) <= 127:
        raise ValueError(f"{name}={zp} outside [-128, 127]")
    return int(zp)


def check_clamp(qmin: int, qmax: int) -> tuple[int, int]:
    if not -128 <= int(qmin) <= int(qmax) <= 127:
        raise ValueError(f"bad clamp [{qmin}, {qmax}]")
    return int(qmin), int(qmax)


def ints(name: str, values: Sequence[int], n: int) -> list[int]:
    values = [int(v) for v in values]
    if len(values) < n:
        raise ValueError(f"{name} needs {n} entries, got {len(values)}")
    return values[:n]
