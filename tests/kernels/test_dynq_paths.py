"""The dynamic int8 matmul on every kernel path this CPU runs (csrc/kernels/dynq): on AVX2 and
up the rows are quantized straight into the gemm's prepared activation rows (u8 for the VNNI
sets, int16 for avx2) in blocks; the result must equal the numpy reference bit for bit on
every path, including k tails that are not a multiple of the vector width, rows longer than
one block, an all-zero row, round-half-to-even ties and rows at the clamp."""

from __future__ import annotations

import numpy as np
import pytest

from int8rt.reference import dynq as ref
from tests.dynamic.helpers import run_op

F32 = np.float32


def activations(m: int, k: int, seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    x = (rng.standard_normal((m, k)) * 3.0).astype(F32)
    if m > 3:
        x[1] = 0.0  # all zero: scale 1, q 0
        # amax 127 makes 127 / amax exactly 1: these products sit on .5 ties
        x[2, :] = 0.0
        x[2, :min(k, 9)] = [127.0, 0.5, -0.5, 1.5, -1.5, 2.5, -2.5, 126.5, -127.0][:min(k, 9)]
        x[3] = -x[3] * 1e20  # large magnitudes, still finite
    return x


@pytest.mark.parametrize("m,k,n", [(1, 7, 3), (5, 33, 17), (17, 100, 40), (64, 384, 48),
                                   (300, 1536, 20), (9, 2055, 33)])
def test_dynq_matmul_every_path(path, m, k, n):
    x = activations(m, k, seed=m * 1000 + k)
    rng = np.random.default_rng(k)
    qw = rng.integers(-127, 128, (n, k), dtype=np.int16).astype(np.int8)
    qw[0] = 127  # every product at its maximum
    sw = (rng.random(n) * 0.02 + 1e-3).astype(F32)
    bias = rng.standard_normal(n).astype(F32)
    for b in (bias, None):
        consts = {"qw": qw, "sw": sw} if b is None else {"qw": qw, "sw": sw, "b": b}
        (y,) = run_op("DynQLinear", {"x": x}, consts, attrs={"per_row": 1})
        assert np.array_equal(y, ref.dynq_matmul(x, qw, sw, b, True)), path
