"""The f32_unary HARD_SWISH_AFFINE record (kernels/f32/f32.c, vmath_avx2.c): hard_swish(x) *
alpha + beta, the HardSwish -> scalar Mul -> scalar Add chain that lower._fuse_f32_affine
makes one pass. On every kernel path it equals its numpy reference and the three records it
replaces, bit for bit: the clamp's edges (x = -3, 3), signed zeros, NaN, infinities, a length
that leaves a tail for the portable loop after the AVX2 vectors."""

from __future__ import annotations

import numpy as np
import pytest

from int8rt.reference.f32_records import f32_unary as ref_unary
from tests.kernels import one_op

HARD_SWISH, HARD_SWISH_AFFINE = 15, 18
F32 = np.float32


def _values(n: int, seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    x = (rng.standard_normal(n) * 4).astype(F32)
    edges = np.array([-3, 3, -0.0, 0.0, np.nan, np.inf, -np.inf, 1e30, -1e30, 2.9999998,
                      -2.9999998, 3.0000002, -3.0000002, np.finfo(F32).tiny], F32)
    k = min(n, edges.size)
    x[:k] = edges[:k]
    return x


def _unary(x, op, alpha, beta):
    return one_op.run("f32_unary", [x], {"op": op, "n": x.size, "alpha": alpha, "beta": beta},
                      out_shape=x.shape, out_dtype="float32")


def _binary_scalar(x, c, op):
    """the f32_binary record of x op c, c a one-element constant (stride 0)"""
    return one_op.run("f32_binary", [x, np.array([c], F32)],
                      {"op": op, "type": 0, "shape": (x.size,), "a_stride": (1,),
                       "b_stride": (0,)}, out_shape=x.shape, out_dtype="float32")


@pytest.mark.parametrize("n", [1, 7, 8, 660, 4099])
@pytest.mark.parametrize("alpha, beta", [(1.37, -0.21), (-0.5, 3.0), (1.0, 0.0)])
def test_native_equals_reference_and_the_unfused_chain(path, n, alpha, beta):
    x = _values(n, n)
    a, b = float(F32(alpha)), float(F32(beta))
    got = _unary(x, HARD_SWISH_AFFINE, a, b)
    want = ref_unary(x, op=HARD_SWISH_AFFINE, n=n, alpha=a, beta=b)
    assert np.array_equal(got.view(np.uint32), want.view(np.uint32)), path
    # the three records the fusion replaces, run natively one by one (Mul = 2, Add = 0)
    chain = _binary_scalar(_binary_scalar(_unary(x, HARD_SWISH, 0.0, 0.0), a, 2), b, 0)
    assert np.array_equal(got.view(np.uint32), chain.view(np.uint32)), path


def test_reference_is_the_float32_sequence():
    """the reference against a plain float32 loop of the definition, element by element"""
    x = _values(64, 3)
    a, b = F32(0.75), F32(-1.5)
    want = np.empty_like(x)
    for i, v in enumerate(x):
        s = v * F32(1 / 6) + F32(0.5)
        h = v * (F32(0) if s < 0 else (F32(1) if s > 1 else s))
        want[i] = h * a + b
    got = ref_unary(x, op=HARD_SWISH_AFFINE, n=x.size, alpha=float(a), beta=float(b))
    assert np.array_equal(got.view(np.uint32), want.view(np.uint32))
