"""The requantization rule of docs/QUANTIZATION.md §4, in numpy: the one function every integer
reference kernel ends with."""

from __future__ import annotations

import numpy as np


def requantize(acc: np.ndarray, mult: np.ndarray | float, zp: int, qmin: int = -128,
               qmax: int = 127) -> np.ndarray:
    """q = clamp(rint(float32(acc) * mult) + zp, qmin, qmax).

    `acc` holds exact integer accumulators (any integer dtype; values must fit in int32).
    `mult` is float32 (a scalar or an array broadcasting against acc, e.g. per channel on the
    last axis). The multiply happens in float32, one rounding, as in C.
    """
    acc = np.asarray(acc)
    if acc.size and (acc.min() < -(2**31) or acc.max() >= 2**31):
        raise OverflowError("accumulator exceeds int32: the layer breaks the accumulator bound")
    v = acc.astype(np.float32) * np.asarray(mult, dtype=np.float32)
    # clamp first (as C does) so the conversion stays in range; identical result, see §4
    v = np.clip(v, np.float32(qmin - zp), np.float32(qmax - zp))
    return (np.rint(v).astype(np.int32) + int(zp)).astype(np.int8)
