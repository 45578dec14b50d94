"""Float32 operations the references need correctly rounded on every platform numpy runs on.

numpy's own float32 `np.sqrt` is not: on armv7 (no vector square root in NEON) its SIMD loop
is a reciprocal-square-root estimate (`vrsqrteq_f32`) refined by Newton-Raphson steps, which
misses the IEEE result by an ulp in about 3 of 10 inputs under qemu cortex-a7 (numpy 1.24,
Debian bookworm armhf), while the C kernels' `sqrtf` is the VFP `vsqrt.f32`, correctly rounded.
On x86 / aarch64 numpy uses the hardware instruction and both agree.

sqrt_f32 takes the square root in float64 and rounds once to float32. That is the correctly
rounded float32 square root: double rounding is innocuous for sqrt when the wider format has
at least 2p + 2 bits of precision (53 >= 2 * 24 + 2; S. A. Figueroa, "When is double rounding
innocuous?", ACM SIGNUM Newsletter 30(3), 1995). numpy's float64 sqrt has no vector path on
armv7 and calls the IEEE scalar one.
"""

from __future__ import annotations

import numpy as np


def sqrt_f32(x: np.ndarray) -> np.ndarray:
    """IEEE float32 square root of `x` (any float array; NaN for negatives, -0 stays -0)."""
    with np.errstate(invalid="ignore"):
        return np.sqrt(np.asarray(x, np.float32).astype(np.float64)).astype(np.float32)
