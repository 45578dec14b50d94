"""f32conv (float fallback): native kernel == numpy reference, tolerance zero, on every path
this CPU runs (portable C with fmaf, AVX2 + FMA, AVX-512), and both within the float32 dot
product error bound of the exact (float64) result.

Float sums are order-dependent, so the equality holds because every path and the reference
run the same fused multiply-add chain per output element (csrc/kernels/f32conv/f32conv.h); the
reference emulates float32 FMA exactly (round to odd, int8rt/reference/f32conv.py), which is
itself checked against the hardware. The grid covers the depthwise path, grouped and plain
convolutions, 1x1 convolutions read in place, strides, dilations, asymmetric pads, batches,
both clamps, channel counts off the 16-wide panels and large K. The split of an op into tasks
(threads) must not change a bit.
"""

from __future__ import annotations

import itertools
import zlib
from fractions import Fraction

import numpy as np
import pytest

from int8rt.reference import f32conv as ref
from tests.kernels import one_op

FMAX = float(np.finfo(np.float32).max)


def _case(rng, *, n, h, w, c, oc, kh, kw, stride=(1, 1), dil=(1, 1), pads=(0, 0, 0, 0),
          groups=1, lo=-FMAX, hi=FMAX):
    x = rng.standard_normal((n, h, w, c)).astype(np.float32)
    wt = rng.standard_normal((oc, kh, kw, c // groups)).astype(np.float32)
    b = rng.standard_normal(oc).astype(np.float32)
    kw_ = {"w": wt, "bias": b, "stride_h": stride[0], "stride_w": stride[1], "dil_h": dil[0],
           "dil_w": dil[1], "pad_t": pads[0], "pad_l": pads[1], "pad_b": pads[2],
           "pad_r": pads[3], "groups": groups, "lo": lo, "hi": hi}
    return x, kw_


GRID = [
    {"n": 1, "h": 5, "w": 6, "c": 3, "oc": 4, "kh": 3, "kw": 3, "pads": (1, 1, 1, 1)},
    {"n": 2, "h": 7, "w": 5, "c": 8, "oc": 8, "kh": 3, "kw": 3, "groups": 8,
     "pads": (1, 0, 2, 1)},  # depthwise
    {"n": 1, "h": 9, "w": 9, "c": 6, "oc": 12, "kh": 3, "kw": 3, "groups": 6,
     "stride": (2, 2)},  # multiplier 2
    {"n": 1, "h": 6, "w": 6, "c": 8, "oc": 6, "kh": 2, "kw": 2, "groups": 2, "dil": (2, 1)},
    {"n": 3, "h": 4, "w": 4, "c": 17, "oc": 5, "kh": 1, "kw": 1},
    {"n": 1, "h": 8, "w": 7, "c": 4, "oc": 9, "kh": 5, "kw": 3, "stride": (2, 1),
     "pads": (2, 1, 2, 1)},
    {"n": 1, "h": 3, "w": 3, "c": 300, "oc": 7, "kh": 3, "kw": 3, "pads": (1, 1, 1, 1)},  # K = 2700
    {"n": 2, "h": 7, "w": 9, "c": 24, "oc": 37, "kh": 1, "kw": 1},  # in place, 3 panels, tail
    {"n": 1, "h": 9, "w": 8, "c": 21, "oc": 21, "kh": 3, "kw": 3, "groups": 21,
     "pads": (1, 1, 1, 1), "stride": (2, 2)},  # depthwise, 16 + 5 lanes
    {"n": 1, "h": 10, "w": 11, "c": 16, "oc": 32, "kh": 1, "kw": 1, "groups": 2},  # grouped 1x1
]


def _dot_bound(xw_abs_sum: np.ndarray, k: int) -> np.ndarray:
    """gamma_{k+1} * (sum |x w| + |b|) (Higham 2002, eq. 3.5), u = 2^-24"""
    u = 2.0 ** -24
    n = k + 1
    return n * u / (1 - n * u) * xw_abs_sum


def _conv64(x, kw):
    """exact-ish float64 conv (and sum |x w| + |b|) by the reference's loop, in float64"""
    x64 = x.astype(np.float64)
    w = kw["w"].astype(np.float64)
    oc, kh, kwid, cg = w.shape
    g = kw["groups"]
    n, h, wd, _c = x.shape
    pt, pl, pb, pr = kw["pad_t"], kw["pad_l"], kw["pad_b"], kw["pad_r"]
    sh, sw, dh, dw = kw["stride_h"], kw["stride_w"], kw["dil_h"], kw["dil_w"]
    oh = (h + pt + pb - dh * (kh - 1) - 1) // sh + 1
    ow = (wd + pl + pr - dw * (kwid - 1) - 1) // sw + 1
    xp = np.pad(x64, ((0, 0), (pt, pb), (pl, pr), (0, 0)))
    acc = np.zeros((n, oh, ow, oc))
    mag = np.zeros((n, oh, ow, oc))
    ocg = oc // g
    for ky in range(kh):
        for kx in range(kwid):
            win = xp[:, ky * dh:ky * dh + sh * (oh - 1) + 1:sh, kx * dw:kx * dw + sw * (ow - 1) + 1:sw]
            for o in range(oc):
                part = win[..., (o // ocg) * cg:(o // ocg + 1) * cg] * w[o, ky, kx]
                acc[..., o] += part.sum(-1)
                mag[..., o] += np.abs(part).sum(-1)
    b = kw["bias"].astype(np.float64)
    return acc + b, mag + np.abs(b), kh * kwid * cg


@pytest.mark.parametrize("case", GRID)
@pytest.mark.parametrize("clamp", [(-FMAX, FMAX), (0.0, FMAX), (0.0, 6.0), (-0.5, 0.25)])
def test_conv2d_f32_native_equals_reference(case, clamp, path):
    rng = np.random.default_rng(zlib.crc32(str(case).encode()))
    x, kw = _case(rng, **case, lo=clamp[0], hi=clamp[1])
    got = one_op.conv2d_f32(x, **kw)
    want = ref.conv2d_f32(x, **kw)
    assert got.dtype == np.float32 and got.shape == want.shape
    assert np.array_equal(got, want)


@pytest.mark.parametrize("case", GRID)
def test_conv2d_f32_within_float32_dot_bound(case):
    rng = np.random.default_rng(zlib.crc32(str(case).encode()) + 1)
    x, kw = _case(rng, **case)
    got = one_op.conv2d_f32(x, **kw).astype(np.float64)
    exact, mag, k = _conv64(x, kw)
    err = np.abs(got - exact)
    assert np.all(err <= _dot_bound(mag, k)), float(np.max(err / np.maximum(mag, 1e-30)))


@pytest.mark.parametrize("case", [GRID[0], GRID[1], GRID[7], GRID[8], GRID[9]])
@pytest.mark.parametrize("threads", [2, 3, 4])
def test_conv2d_f32_task_split_changes_no_bit(case, threads):
    """The plan hands the op's tasks to `threads` threads: the bytes must not change."""
    rng = np.random.default_rng(11)
    x, kw = _case(rng, **{**case, "h": 17, "w": 13}) if case["kh"] == 1 else _case(rng, **case)
    whole = one_op.conv2d_f32(x, **kw)
    assert np.array_equal(one_op.conv2d_f32(x, **kw, threads=threads), whole)


def _fma_oracle(a: float, b: float, c: float) -> np.float32:
    """fma rounded once to float32 (nearest, ties to even), from the exact rational value"""
    e = Fraction(a) * Fraction(b) + Fraction(c)
    near = np.float32(float(e))  # within one float32 ulp of the answer
    cands = [np.nextafter(near, np.float32(-np.inf)), near, np.nextafter(near, np.float32(np.inf))]
    return min(cands, key=lambda v: (abs(Fraction(float(v)) - e), int(v.view(np.int32)) & 1))


def test_fma32_emulation_is_correctly_rounded():
    rng = np.random.default_rng(5)
    a = rng.standard_normal(400).astype(np.float32)
    b = rng.standard_normal(400).astype(np.float32)
    # addends from far below to far above the product: the double-rounding cases of a plain
    # float64 a * b + c, and ties
    c = (rng.standard_normal(400) * 2.0 ** rng.integers(-40, 40, 400)).astype(np.float32)
    c[:50] = -(a[:50].astype(np.float64) * b[:50]).astype(np.float32)  # near cancellation
    got = ref.fma32(a, b, c)
    for i in range(len(a)):
        assert got[i] == _fma_oracle(float(a[i]), float(b[i]), float(c[i])), i


def test_fma_chain_native_equals_emulation_on_hard_cases(path):
    """The CPU's FMA (each path's kernel) against ref.fma32 where rounding is delicate: a
    2-term fc chain fma(x1, 1, fma(x0, 1, 0)) with x1 down to 2^-30 of x0 and odd mantissas."""
    rng = np.random.default_rng(6)
    m = 4096
    x = np.stack([rng.standard_normal(m),
                  rng.standard_normal(m) * 2.0 ** rng.integers(-30, 30, m)], 1).astype(np.float32)
    w = rng.standard_normal((3, 2)).astype(np.float32)
    zero = np.zeros(3, np.float32)
    assert np.array_equal(one_op.fc_f32(x, w=w, bias=zero, lo=-FMAX, hi=FMAX),
                          ref.fc_f32(x, w=w, bias=zero, lo=-FMAX, hi=FMAX))


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


@pytest.mark.parametrize("m,k,n", [(1, 1, 1), (3, 17, 5), (2, 1280, 10), (5, 64, 33),
                                   (50, 40, 16)])
@pytest.mark.parametrize("clamp", [(-FMAX, FMAX), (0.0, 6.0)])
def test_fc_f32_native_equals_reference(m, k, n, clamp, path):
    rng = np.random.default_rng(m * 1000 + k + n)
    x = rng.standard_normal((m, k)).astype(np.float32)
    w = rng.standard_normal((n, k)).astype(np.float32)
    b = rng.standard_normal(n).astype(np.float32)
    got = one_op.fc_f32(x, w=w, bias=b, lo=clamp[0], hi=clamp[1])
    want = ref.fc_f32(x, w=w, bias=b, lo=clamp[0], hi=clamp[1])
    assert np.array_equal(got, want)
    np.testing.assert_allclose(want, np.clip(x.astype(np.float64) @ w.T.astype(np.float64) + b,
                                             *clamp), rtol=1e-4, atol=1e-4)


def test_f32_kernels_refuse_bad_input():
    x = np.zeros((1, 4, 4, 2), np.float32)
    w = np.zeros((2, 3, 3, 2), np.float32)
    b = np.zeros(2, np.float32)
    geo = {"stride_h": 1, "stride_w": 1, "dil_h": 1, "dil_w": 1, "pad_t": 0, "pad_l": 0,
           "pad_b": 0, "pad_r": 0, "groups": 1}
    with pytest.raises(ValueError, match="dtypes"):
        one_op.conv2d_f32(x.astype(np.int8), w=w, bias=b, lo=0, hi=1, **geo)
    with pytest.raises(ValueError):
        one_op.conv2d_f32(x, w=w, bias=b, lo=1.0, hi=0.0, **geo)
    with pytest.raises(ValueError):
        one_op.conv2d_f32(x, w=w[:, :, :, :1], bias=b, lo=0, hi=1, **geo)
    with pytest.raises(ValueError):
        one_op.fc_f32(np.zeros((2, 3), np.float32), w=np.zeros((4, 5), np.float32),
                       bias=np.zeros(4, np.float32), lo=0, hi=1)
