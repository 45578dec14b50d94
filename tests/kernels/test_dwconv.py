"""Depthwise convolution (conv2d with groups == c == oc: csrc/kernels/dwconv/) on every kernel
path: native == numpy reference, tolerance zero, over the shapes that dominate MobileNet- and
YOLO-style nets (3x3 and 5x5, stride 1 and 2) and their edges: channel counts around the
16-channel block (tails), pads on every side, dilation, extreme values and zero points, ties
in the requantization, the fused clamp and the float32 epilogue."""

from __future__ import annotations

import platform

import numpy as np
import pytest
from test_conv import make_case

from int8rt import _native
from int8rt.reference import conv as ref
from tests.kernels import one_op

CHANNELS = [1, 3, 15, 16, 17, 31, 32, 33, 48, 70]


def _check(x: np.ndarray, kwargs: dict, out_f32: int = 0) -> None:
    expected = ref.conv2d(x, **kwargs, out_f32=out_f32)
    got = one_op.conv2d(x, **kwargs, out_f32=out_f32)
    assert got.dtype == expected.dtype and got.shape == expected.shape
    assert np.array_equal(got, expected), f"{int((got != expected).sum())} mismatches"


@pytest.mark.parametrize("c", CHANNELS)
@pytest.mark.parametrize("k,stride", [(3, 1), (3, 2), (5, 1), (5, 2)])
def test_dwconv_every_path(path, c, k, stride):
    rng = np.random.default_rng(c * 100 + k * 10 + stride)
    for h, w, pads in ((9, 11, (k // 2,) * 4), (7, 6, (0, 1, 2, 0)), (k, k + 3, (0, 0, 0, 0))):
        x, kw = make_case(rng, n=2, h=h, w=w, c=c, oc=c, kh=k, kw=k, stride=(stride, stride),
                          pads=pads, groups=c, x_zp=int(rng.integers(-128, 128)),
                          y_zp=int(rng.integers(-128, 128)))
        _check(x, kw)


@pytest.mark.parametrize("c", [16, 17, 40])
def test_dwconv_other_kernels_every_path(path, c):
    """1x1, 2x2, 7x7, non-square, dilated, and a kernel wider than 25 taps (pointer chunks)."""
    rng = np.random.default_rng(c)
    for kh, kw_, dil in ((1, 1, 1), (2, 2, 1), (7, 7, 1), (3, 5, 1), (1, 7, 1), (3, 3, 2),
                         (9, 9, 1)):
        x, kw = make_case(rng, n=1, h=12, w=13, c=c, oc=c, kh=kh, kw=kw_, dil=(dil, dil),
                          pads=(kh // 2, kw_ // 2, kh // 2, kw_ // 2), groups=c, x_zp=-3,
                          y_zp=7)
        _check(x, kw)


@pytest.mark.parametrize("c", [16, 33])
def test_dwconv_extremes_every_path(path, c):
    """All-extreme inputs and weights, zero points at both ends (padding reads x_zp)."""
    rng = np.random.default_rng(7)
    for xval, wval in ((-128, 127), (127, -127), (-128, -127), (127, 127)):
        for x_zp, y_zp in ((-128, 127), (127, -128), (0, 0)):
            x, kw = make_case(rng, n=1, h=6, w=7, c=c, oc=c, kh=3, kw=3, pads=(1, 1, 1, 1),
                              groups=c, x_zp=x_zp, y_zp=y_zp)
            x[:] = xval
            kw["w"][:] = wval
            _check(x, kw)


@pytest.mark.parametrize("c", [17, 32])
def test_dwconv_ties_clamp_and_f32_every_path(path, c):
    """mult = 0.5 / 0.25 puts odd accumulators on .5 ties; fused clamps; float32 epilogue."""
    rng = np.random.default_rng(c)
    x, kw = make_case(rng, n=1, h=8, w=8, c=c, oc=c, kh=3, kw=3, pads=(1, 1, 1, 1), groups=c,
                      x_zp=1, y_zp=-2)
    kw["w"] = rng.integers(-3, 4, kw["w"].shape).astype(np.int8)
    x[:] = rng.integers(-6, 7, x.shape).astype(np.int8)
    kw["bias"] = rng.integers(-9, 10, c).astype(np.int32)
    for mult in (0.5, 0.25, 1.5):
        kw["mult"] = np.full(c, mult, np.float32)
        for qmin, qmax in ((-128, 127), (-2, 127), (-128, 0), (3, 3)):
            _check(x, {**kw, "qmin": qmin, "qmax": qmax})
    kw["mult"] = rng.uniform(1e-3, 1e-1, c).astype(np.float32)
    _check(x, kw, out_f32=1)


@pytest.mark.parametrize("c", [5, 16, 47, 144])
def test_dwconv_3x3_strides_and_small_images_every_path(path, c):
    """3x3 (the column kernels of every x86 path, dwconv/col3x3_tile.h, and what they leave
    to the general kernels): unequal strides (stride_w 1 / 2 in the column kernel, 3 elsewhere), images
    narrower than the window, pads wider than the window's overhang, a weight of -128 (outside
    the contract, still exact) against inputs at both ends."""
    rng = np.random.default_rng(c + 1000)
    for (sh, sw), (h, w), pads in (((1, 2), (9, 10), (1, 1, 1, 1)),
                                   ((2, 1), (8, 7), (1, 0, 1, 2)),
                                   ((3, 2), (11, 9), (0, 1, 1, 1)),
                                   ((2, 3), (7, 11), (1, 1, 1, 1)),
                                   ((1, 1), (1, 1), (1, 1, 1, 1)),
                                   ((2, 2), (2, 1), (2, 2, 2, 2)),
                                   ((1, 1), (3, 4), (2, 0, 0, 2))):
        x, kw = make_case(rng, n=2, h=h, w=w, c=c, oc=c, kh=3, kw=3, stride=(sh, sw), pads=pads,
                          groups=c, x_zp=int(rng.integers(-128, 128)),
                          y_zp=int(rng.integers(-128, 128)))
        _check(x, kw)
    x, kw = make_case(rng, n=1, h=5, w=6, c=c, oc=c, kh=3, kw=3, stride=(2, 2),
                      pads=(1, 1, 1, 1), groups=c, x_zp=-128, y_zp=0)
    x[..., ::2] = 127
    x[..., 1::2] = -128
    kw["w"][::3] = -128
    kw["w"][1::3] = 127
    kw["mult"] = np.full(c, 2.0**-17, np.float32)
    _check(x, kw)


def _emu_cases(c: int):
    """The 3x3 cases of the sweeps above, for the portable twin of the column kernel."""
    rng = np.random.default_rng(c + 2000)
    for stride in ((1, 1), (2, 2), (1, 2), (2, 1), (3, 2)):
        for h, w, pads in ((9, 11, (1, 1, 1, 1)), (7, 6, (0, 1, 2, 0)), (3, 6, (0, 0, 0, 0)),
                           (1, 1, (1, 1, 1, 1)), (2, 1, (2, 2, 2, 2))):
            yield make_case(rng, n=2, h=h, w=w, c=c, oc=c, kh=3, kw=3, stride=stride,
                            pads=pads, groups=c, x_zp=int(rng.integers(-128, 128)),
                            y_zp=int(rng.integers(-128, 128))), 0
    for xval, wval in ((-128, 127), (127, -128), (-128, -128), (127, 127)):
        x, kw = make_case(rng, n=1, h=6, w=7, c=c, oc=c, kh=3, kw=3, stride=(2, 2),
                          pads=(1, 1, 1, 1), groups=c, x_zp=127, y_zp=-128)
        x[:] = xval
        kw["w"][:] = wval
        yield (x, kw), 0
    x, kw = make_case(rng, n=1, h=8, w=8, c=c, oc=c, kh=3, kw=3, pads=(1, 1, 1, 1), groups=c,
                      x_zp=1, y_zp=-2)
    kw["w"] = rng.integers(-3, 4, kw["w"].shape).astype(np.int8)
    x[:] = rng.integers(-6, 7, x.shape).astype(np.int8)
    kw["bias"] = rng.integers(-9, 10, c).astype(np.int32)
    for mult, (qmin, qmax) in ((0.5, (-128, 127)), (0.25, (-2, 127)), (1.5, (3, 3))):
        yield (x, {**kw, "mult": np.full(c, mult, np.float32), "qmin": qmin, "qmax": qmax}), 0
    yield (x, kw), 1


@pytest.mark.skipif(platform.machine().lower() not in ("x86_64", "amd64", "i686", "i386"),
                    reason="the column kernel's w4 weights exist in x86 streams only")
@pytest.mark.parametrize("c", [1, 15, 16, 33, 144])
def test_dwconv_3x3_column_kernel_emulated(c):
    """The avx512vnni 3x3 column kernel's portable twin (dwconv/col3x3_emu.c: the same
    template, packed vectors, column build, carries and emulated vpdpbusd) == the reference on every
    x86 host, AVX512-VNNI or not; shapes it does not cover are refused."""
    for (x, kw), out_f32 in _emu_cases(c):
        if kw["stride_w"] > 2:
            with pytest.raises(ValueError, match="dwconv_3x3_emu"):
                _native.dwconv_3x3_emu(x, **kw, out_f32=out_f32)
            continue
        expected = ref.conv2d(x, **kw, out_f32=out_f32)
        got = _native.dwconv_3x3_emu(x, **kw, out_f32=out_f32)
        assert got.dtype == expected.dtype and np.array_equal(got, expected)
