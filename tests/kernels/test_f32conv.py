"""f32conv (float fallback): native kernel == numpy reference, tolerance zero.

Float sums are order-dependent, so this equality holds only because both sides add the same
float32 products in the same order (csrc/kernels/f32conv/f32conv.h). The grid covers the
depthwise path, grouped and plain convolutions, strides, dilations, asymmetric pads, batches,
both clamps, and large K; the reference is also checked against a float64 computation.
"""

from __future__ import annotations

import itertools
import zlib

import numpy as np
import pytest

from int8rt import _native
from int8rt.reference import f32conv as ref

FMAX = float(np.finfo(np.float32).max)


def _case(rng, *, n, h, w, c, oc, kh, kw, stride=(1, 1), dil=(1, 1), pads=(0, 0, 0, 0),
          groups=1, lo=-FMAX, hi=FMAX):
    x = rng.standard_normal((n, h, w, c)).astype(np.float32)
    wt = rng.standard_normal((oc, kh, kw, c // groups)).astype(np.float32)
    b = rng.standard_normal(oc).astype(np.float32)
    kw_ = {"w": wt, "bias": b, "stride_h": stride[0], "stride_w": stride[1], "dil_h": dil[0],
               "dil_w": dil[1], "pad_t": pads[0], "pad_l": pads[1], "pad_b": pads[2], "pad_r": pads[3],
               "groups": groups, "lo": lo, "hi": hi}
    return x, kw_


GRID = [
    {"n": 1, "h": 5, "w": 6, "c": 3, "oc": 4, "kh": 3, "kw": 3, "pads": (1, 1, 1, 1)},
    {"n": 2, "h": 7, "w": 5, "c": 8, "oc": 8, "kh": 3, "kw": 3, "groups": 8, "pads": (1, 0, 2, 1)},  # depthwise
    {"n": 1, "h": 9, "w": 9, "c": 6, "oc": 12, "kh": 3, "kw": 3, "groups": 6, "stride": (2, 2)},  # multiplier 2
    {"n": 1, "h": 6, "w": 6, "c": 8, "oc": 6, "kh": 2, "kw": 2, "groups": 2, "dil": (2, 1)},
    {"n": 3, "h": 4, "w": 4, "c": 17, "oc": 5, "kh": 1, "kw": 1},
    {"n": 1, "h": 8, "w": 7, "c": 4, "oc": 9, "kh": 5, "kw": 3, "stride": (2, 1), "pads": (2, 1, 2, 1)},
    {"n": 1, "h": 3, "w": 3, "c": 300, "oc": 7, "kh": 3, "kw": 3, "pads": (1, 1, 1, 1)},  # K = 2700
]


@pytest.mark.parametrize("case", GRID)
@pytest.mark.parametrize("clamp", [(-FMAX, FMAX), (0.0, FMAX), (0.0, 6.0), (-0.5, 0.25)])
def test_conv2d_f32_native_equals_reference(case, clamp):
    rng = np.random.default_rng(zlib.crc32(str(case).encode()))
    x, kw = _case(rng, **case, lo=clamp[0], hi=clamp[1])
    got = _native.conv2d_f32(x, **kw)
    want = ref.conv2d_f32(x, **kw)
    assert got.dtype == np.float32 and got.shape == want.shape
    assert np.array_equal(got, want)


def test_conv2d_f32_reference_matches_float64():
    rng = np.random.default_rng(3)
    x, kw = _case(rng, n=1, h=6, w=5, c=4, oc=4, kh=3, kw=3, groups=2, pads=(1, 1, 1, 1))
    got = ref.conv2d_f32(x, **kw)
    xp = np.pad(x.astype(np.float64), ((0, 0), (1, 1), (1, 1), (0, 0)))
    w = kw["w"].astype(np.float64)
    want = np.zeros(got.shape)
    for oy, ox, o in itertools.product(range(6), range(5), range(4)):
        g = o // 2
        want[0, oy, ox, o] = np.sum(xp[0, oy:oy + 3, ox:ox + 3, 2 * g:2 * g + 2] * w[o]) \
            + kw["bias"][o]
    np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("m,k,n", [(1, 1, 1), (3, 17, 5), (2, 1280, 10), (5, 64, 33)])
@pytest.mark.parametrize("clamp", [(-FMAX, FMAX), (0.0, 6.0)])
def test_fc_f32_native_equals_reference(m, k, n, clamp):
    rng = np.random.default_rng(m * 1000 + k + n)
    x = rng.standard_normal((m, k)).astype(np.float32)
    w = rng.standard_normal((n, k)).astype(np.float32)
    b = rng.standard_normal(n).astype(np.float32)
    got = _native.fc_f32(x, w=w, bias=b, lo=clamp[0], hi=clamp[1])
    want = ref.fc_f32(x, w=w, bias=b, lo=clamp[0], hi=clamp[1])
    assert np.array_equal(got, want)
    np.testing.assert_allclose(want, np.clip(x.astype(np.float64) @ w.T.astype(np.float64) + b,
                                             *clamp), rtol=1e-4, atol=1e-4)


def test_f32_kernels_refuse_bad_input():
    x = np.zeros((1, 4, 4, 2), np.float32)
    w = np.zeros((2, 3, 3, 2), np.float32)
    b = np.zeros(2, np.float32)
    geo = {"stride_h": 1, "stride_w": 1, "dil_h": 1, "dil_w": 1, "pad_t": 0, "pad_l": 0, "pad_b": 0, "pad_r": 0,
               "groups": 1}
    with pytest.raises(TypeError):
        _native.conv2d_f32(x.astype(np.int8), w=w, bias=b, lo=0, hi=1, **geo)
    with pytest.raises(ValueError):
        _native.conv2d_f32(x, w=w, bias=b, lo=1.0, hi=0.0, **geo)
    with pytest.raises(ValueError):
        _native.conv2d_f32(x, w=w[:, :, :, :1], bias=b, lo=0, hi=1, **geo)
    with pytest.raises(ValueError):
        _native.fc_f32(np.zeros((2, 3), np.float32), w=np.zeros((4, 5), np.float32),
                       bias=np.zeros(4, np.float32), lo=0, hi=1)
