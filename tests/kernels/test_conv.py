"""conv2d: native kernel == numpy reference, tolerance zero (docs/QUANTIZATION.md §3-§5).

The grid walks every algorithm the pack step can choose (depthwise, direct 1x1, im2col with
any groups) over kernel sizes, strides, dilations, asymmetric pads, odd channel counts, batch,
tiny and non-square images and narrowed clamps; hypothesis covers random shapes and values;
the extremes pin the accumulator bound and the zero-point ends; and the reference itself is
checked against an independent loop-based computation so the oracle is not taken on faith.
"""

from __future__ import annotations

import itertools

import numpy as np
import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from int8rt.reference import conv as ref
from int8rt.reference.requant import requantize
from tests.kernels import one_op


def make_case(rng: np.random.Generator, *, n: int, h: int, w: int, c: int, oc: int, kh: int,
              kw: int, stride=(1, 1), dil=(1, 1), pads=(0, 0, 0, 0), groups: int = 1,
              x_zp: int = 0, y_zp: int = 0, qmin: int = -128, qmax: int = 127):
    """Random operands; mult is scaled to K so outputs spread over the int8 range."""
    x = rng.integers(-128, 128, (n, h, w, c), dtype=np.int8)
    weights = rng.integers(-127, 128, (oc, kh, kw, c // groups), dtype=np.int8)
    k = kh * kw * (c // groups)
    bias = rng.integers(-20000, 20000, oc).astype(np.int32)
    # |acc| is about 74 * 73 * sqrt(K) for uniform operands: aim that at ~40 output steps
    mult = (rng.uniform(0.5, 2.0, oc) * 40.0 / (74 * 73 * np.sqrt(k))).astype(np.float32)
    kwargs = {"w": weights, "bias": bias, "mult": mult, "stride_h": stride[0],
              "stride_w": stride[1], "dil_h": dil[0], "dil_w": dil[1], "pad_t": pads[0],
              "pad_l": pads[1], "pad_b": pads[2], "pad_r": pads[3], "groups": groups,
              "x_zp": x_zp, "y_zp": y_zp, "qmin": qmin, "qmax": qmax}
    return x, kwargs


def check(x: np.ndarray, kwargs: dict) -> np.ndarray:
    expected = ref.conv2d(x, **kwargs)
    got = one_op.conv2d(x, **kwargs)
    assert got.dtype == np.int8 and got.shape == expected.shape
    assert np.array_equal(got, expected), f"{int((got != expected).sum())} mismatches"
    return got


# ---- grid ----------------------------------------------------------------------------------

@pytest.mark.parametrize("k,stride,dil", list(itertools.product((1, 3, 5, 7), (1, 2, 3), (1, 2))))
def test_kernel_stride_dilation(k: int, stride: int, dil: int) -> None:
    rng = np.random.default_rng(k * 100 + stride * 10 + dil)
    pad = dil * (k - 1) // 2
    x, kw = make_case(rng, n=1, h=15, w=11, c=5, oc=6, kh=k, kw=k, stride=(stride, stride),
                      dil=(dil, dil), pads=(pad, pad, pad, pad), x_zp=-7, y_zp=3)
    y = check(x, kw)
    if y.size > 20:
        assert len(np.unique(y)) > 5  # the case exercises the arithmetic, not just the clamp


@pytest.mark.parametrize("pads", [(0, 1, 2, 0), (3, 0, 0, 2), (1, 2, 3, 4), (0, 0, 1, 1),
                                  (2, 2, 0, 0), (4, 4, 4, 4)])
@pytest.mark.parametrize("kh,kw", [(3, 3), (1, 3), (3, 1), (2, 5), (1, 1)])
def test_asymmetric_pads(pads: tuple[int, int, int, int], kh: int, kw: int) -> None:
    rng = np.random.default_rng(sum(pads) * 7 + kh * 3 + kw)
    x, kw_ = make_case(rng, n=2, h=6, w=9, c=3, oc=4, kh=kh, kw=kw, stride=(1, 2), pads=pads,
                       x_zp=100, y_zp=-20)
    check(x, kw_)


@pytest.mark.parametrize("groups,c,oc", [(1, 1, 1), (1, 3, 17), (1, 17, 3), (2, 4, 6),
                                         (2, 6, 2), (4, 8, 12), (4, 4, 8), (4, 36, 20),
                                         (3, 3, 6)])
@pytest.mark.parametrize("k,stride,pad", [(1, 1, 0), (1, 2, 0), (3, 1, 1), (3, 2, 0)])
def test_groups(groups: int, c: int, oc: int, k: int, stride: int, pad: int) -> None:
    rng = np.random.default_rng(groups * 1000 + c * 10 + oc + k)
    x, kw = make_case(rng, n=2, h=5, w=7, c=c, oc=oc, kh=k, kw=k, stride=(stride, stride),
                      pads=(pad,) * 4, groups=groups, x_zp=-128, y_zp=127)
    check(x, kw)


@pytest.mark.parametrize("multiplier", [1, 2])
@pytest.mark.parametrize("c", [1, 3, 16, 17, 40])
@pytest.mark.parametrize("k,stride,dil,pads", [(3, 1, 1, (1, 1, 1, 1)), (3, 2, 1, (0, 1, 1, 0)),
                                               (5, 1, 2, (4, 4, 4, 4)), (3, 3, 1, (2, 0, 0, 2)),
                                               (7, 2, 1, (3, 3, 3, 3)), (1, 1, 1, (0, 0, 0, 0))])
def test_depthwise(multiplier: int, c: int, k: int, stride: int, dil: int,
                   pads: tuple[int, int, int, int]) -> None:
    rng = np.random.default_rng(c * 100 + k * 10 + stride + multiplier)
    x, kw = make_case(rng, n=2, h=9, w=6, c=c, oc=c * multiplier, kh=k, kw=k,
                      stride=(stride, stride), dil=(dil, dil), pads=pads, groups=c, x_zp=37,
                      y_zp=-5)
    check(x, kw)


@pytest.mark.parametrize("n,h,w", [(1, 1, 1), (2, 1, 1), (1, 1, 9), (1, 7, 1), (2, 2, 3),
                                   (1, 3, 17)])
@pytest.mark.parametrize("kind", ["1x1", "3x3", "dw"])
def test_tiny_and_non_square(n: int, h: int, w: int, kind: str) -> None:
    rng = np.random.default_rng(n * 100 + h * 10 + w)
    c, oc, groups, k = {"1x1": (3, 5, 1, 1), "3x3": (4, 7, 1, 3), "dw": (17, 17, 17, 3)}[kind]
    pad = k // 2
    x, kw = make_case(rng, n=n, h=h, w=w, c=c, oc=oc, kh=k, kw=k, pads=(pad,) * 4,
                      groups=groups, x_zp=5, y_zp=1)
    check(x, kw)


@pytest.mark.parametrize("qmin,qmax", [(-128, 127), (0, 127), (-3, 6), (10, 10), (-128, -100)])
@pytest.mark.parametrize("groups,c,oc,k", [(1, 16, 8, 3), (1, 16, 8, 1), (16, 16, 16, 3)])
def test_fused_clamp(qmin: int, qmax: int, groups: int, c: int, oc: int, k: int) -> None:
    rng = np.random.default_rng(qmin + 1000 + qmax)
    x, kw = make_case(rng, n=1, h=6, w=6, c=c, oc=oc, kh=k, kw=k, pads=(k // 2,) * 4,
                      groups=groups, x_zp=-3, y_zp=2, qmin=qmin, qmax=qmax)
    y = check(x, kw)
    assert y.min() >= qmin and y.max() <= qmax


@pytest.mark.parametrize("c,oc", [(15, 9), (16, 8), (17, 7), (64, 33), (100, 4)])
def test_k_tails(c: int, oc: int) -> None:
    """K below, at and above the 16-wide k block, and oc off the 4-wide channel block."""
    rng = np.random.default_rng(c * oc)
    for k, pads in ((1, (0, 0, 0, 0)), (1, (1, 0, 0, 1)), (3, (1, 1, 1, 1))):
        x, kw = make_case(rng, n=1, h=5, w=5, c=c, oc=oc, kh=k, kw=k, pads=pads, x_zp=9)
        check(x, kw)


@pytest.mark.parametrize("c,kh,kw,stride", [(3, 3, 3, 2), (3, 3, 3, 1), (5, 3, 3, 2),
                                             (2, 2, 4, 1), (4, 1, 3, 2), (3, 5, 3, 1)])
def test_stem_rows(c: int, kh: int, kw: int, stride: int) -> None:
    """First-layer shapes whose kernel rows are 8..16 bytes with at most 8 bytes of k padding
    (conv2d.c's two 8-byte moves per row for interior pixels: MobileNetV2's 3x3 stem on 3
    channels, k = 27 in rows of 32) and their neighbours, over several im2col tiles, with
    border pixels between runs of interior ones and a zero point that is not 0."""
    rng = np.random.default_rng(c * 100 + kh * 10 + kw + stride)
    x, kwargs = make_case(rng, n=2, h=61, w=67, c=c, oc=19, kh=kh, kw=kw,
                          stride=(stride, stride), pads=(1, 1, 0, 1), x_zp=-77, y_zp=6)
    y = check(x, kwargs)
    assert len(np.unique(y)) > 20  # the arithmetic is exercised, not only the clamp


def test_large_image_tiles() -> None:
    """More output pixels than one im2col tile, tiles ending mid-row and mid-image."""
    rng = np.random.default_rng(7)
    x, kw = make_case(rng, n=2, h=37, w=29, c=24, oc=20, kh=3, kw=3, pads=(1, 1, 1, 1),
                      x_zp=-1, y_zp=0)
    check(x, kw)
    x, kw = make_case(rng, n=2, h=21, w=13, c=12, oc=20, kh=3, kw=3, pads=(1, 1, 1, 1),
                      groups=2, x_zp=-1, y_zp=0)
    check(x, kw)


# ---- hypothesis ----------------------------------------------------------------------------

@st.composite
def conv_cases(draw):
    groups = draw(st.sampled_from([1, 1, 2, 3, 4]))
    depthwise = draw(st.booleans())
    if depthwise:
        c = draw(st.integers(1, 24))
        groups, oc = c, c * draw(st.sampled_from([1, 1, 2]))
    else:
        c = groups * draw(st.integers(1, 9))
        oc = groups * draw(st.integers(1, 9))
    kh, kw = draw(st.integers(1, 5)), draw(st.integers(1, 5))
    stride = (draw(st.integers(1, 3)), draw(st.integers(1, 3)))
    dil = (draw(st.integers(1, 2)), draw(st.integers(1, 2)))
    pads = tuple(draw(st.integers(0, 3)) for _ in range(4))
    n, h, w = draw(st.integers(1, 2)), draw(st.integers(1, 12)), draw(st.integers(1, 12))
    assume(ref.conv_output_size(h, kh, stride[0], dil[0], pads[0], pads[2]) >= 1)
    assume(ref.conv_output_size(w, kw, stride[1], dil[1], pads[1], pads[3]) >= 1)
    x_zp, y_zp = draw(st.integers(-128, 127)), draw(st.integers(-128, 127))
    qmin = draw(st.integers(-128, 127))
    qmax = draw(st.integers(qmin, 127))
    seed = draw(st.integers(0, 2**32 - 1))
    rng = np.random.default_rng(seed)
    x, kwargs = make_case(rng, n=n, h=h, w=w, c=c, oc=oc, kh=kh, kw=kw, stride=stride, dil=dil,
                          pads=pads, groups=groups, x_zp=x_zp, y_zp=y_zp, qmin=qmin, qmax=qmax)
    if draw(st.booleans()):  # extreme operand values, not just uniform ones
        x = rng.choice(np.array([-128, 127, -127, 0], np.int8), x.shape)
        kwargs["w"] = rng.choice(np.array([-127, 127, 0], np.int8), kwargs["w"].shape)
    kwargs["mult"] = (kwargs["mult"] * np.float32(draw(st.sampled_from([0.1, 1.0, 10.0]))))
    return x, kwargs


@settings(max_examples=250, deadline=None)
@given(conv_cases())
def test_hypothesis(case) -> None:
    x, kwargs = case
    check(x, kwargs)


# ---- extremes ------------------------------------------------------------------------------

@pytest.mark.parametrize("wval", [127, -127])
@pytest.mark.parametrize("kind,c,k", [("3x3", 512, 3), ("1x1", 4608, 1), ("1x1", 16384, 1),
                                      ("3x3", 1820, 3)])
def test_large_k_extremes(wval: int, kind: str, c: int, k: int) -> None:
    """x = -128 with x_zp = 127: every tap is -255 * w, |acc| up to 255 * 127 * K (< 2^31)."""
    kk = k * k * c
    x = np.full((1, 3, 3, c), -128, np.int8)
    weights = np.full((5, k, k, c), wval, np.int8)
    weights[1] = -weights[1]
    weights[2, ..., ::2] = 0
    bias = np.array([0, 1000, -1000, 2**20, -(2**20)], np.int32)
    mult = np.full(5, 100.0 / (255 * 127 * kk), np.float32)
    kw = {"w": weights, "bias": bias, "mult": mult, "stride_h": 1, "stride_w": 1, "dil_h": 1,
          "dil_w": 1, "pad_t": k // 2, "pad_l": k // 2, "pad_b": k // 2, "pad_r": k // 2,
          "groups": 1, "x_zp": 127, "y_zp": 0, "qmin": -128, "qmax": 127}
    y = check(x, kw)
    assert abs(int(y[0, 1, 1, 0])) == 100  # the centre pixel sees all K taps


@pytest.mark.parametrize("x_zp", [-128, 127])
@pytest.mark.parametrize("y_zp", [-128, 127])
@pytest.mark.parametrize("xval", [-128, 127])
def test_zero_point_ends(x_zp: int, y_zp: int, xval: int) -> None:
    rng = np.random.default_rng(abs(x_zp) + abs(y_zp) + abs(xval))
    for groups, c, oc in ((1, 8, 8), (8, 8, 8), (2, 8, 4)):
        x, kw = make_case(rng, n=1, h=5, w=4, c=c, oc=oc, kh=3, kw=3, pads=(1, 0, 2, 1),
                          groups=groups, x_zp=x_zp, y_zp=y_zp)
        x[..., ::2] = xval
        kw["w"][..., 0] = 127
        kw["w"][..., -1] = -127
        check(x, kw)


def test_folded_bias_wraps() -> None:
    """bias - x_zp * sum(w) leaves int32 while the true accumulator does not: the packed bias
    is stored modulo 2^32 and must still give the exact result."""
    c = 2048
    x = np.full((1, 1, 1, c), -128, np.int8)
    weights = np.full((2, 1, 1, c), 127, np.int8)
    bias = np.array([2**31 - 1 - 5000, 2**31 - 1], np.int32)
    mult = np.full(2, 2.0**-24, np.float32)
    kw = {"w": weights, "bias": bias, "mult": mult, "stride_h": 1, "stride_w": 1, "dil_h": 1,
          "dil_w": 1, "pad_t": 0, "pad_l": 0, "pad_b": 0, "pad_r": 0, "groups": 1, "x_zp": -128,
          "y_zp": 0}
    y = check(x, kw)  # acc = bias exactly (every x - x_zp is 0)
    assert y.tolist() == [[[[127, 127]]]]
    kw["pad_t"] = 1  # the im2col path, with a padding row reading x_zp
    check(x, kw)


def test_reference_rejects_accumulator_overflow() -> None:
    c = 66400  # 255 * 127 * 66400 > 2^31
    x = np.full((1, 1, 1, c), 127, np.int8)
    weights = np.full((1, 1, 1, c), 127, np.int8)
    with pytest.raises(OverflowError):
        ref.conv2d(x, w=weights, bias=np.zeros(1, np.int32), mult=np.ones(1, np.float32),
                   stride_h=1, stride_w=1, dil_h=1, dil_w=1, pad_t=0, pad_l=0, pad_b=0,
                   pad_r=0, groups=1, x_zp=-128, y_zp=0)


# ---- the oracle itself ---------------------------------------------------------------------

def loop_conv_acc(x: np.ndarray, kw: dict) -> np.ndarray:
    """Accumulators by the definition: Python ints, taps outside the image skipped (padding
    is a real zero), weights read per group by hand. Independent of conv.py's padding,
    slicing and matmul."""
    weights, groups = kw["w"], kw["groups"]
    n, h, w, _ = x.shape
    oc, kh, kwid, cg = weights.shape
    oh = (h + kw["pad_t"] + kw["pad_b"] - kw["dil_h"] * (kh - 1) - 1) // kw["stride_h"] + 1
    ow = (w + kw["pad_l"] + kw["pad_r"] - kw["dil_w"] * (kwid - 1) - 1) // kw["stride_w"] + 1
    acc = np.zeros((n, oh, ow, oc), np.int64)
    for b, oy, ox, o in itertools.product(range(n), range(oh), range(ow), range(oc)):
        g = o // (oc // groups)
        s = int(kw["bias"][o])
        for ky, kx, ci in itertools.product(range(kh), range(kwid), range(cg)):
            iy = oy * kw["stride_h"] - kw["pad_t"] + ky * kw["dil_h"]
            ix = ox * kw["stride_w"] - kw["pad_l"] + kx * kw["dil_w"]
            if 0 <= iy < h and 0 <= ix < w:
                s += (int(x[b, iy, ix, g * cg + ci]) - kw["x_zp"]) * int(weights[o, ky, kx, ci])
        acc[b, oy, ox, o] = s
    return acc


@pytest.mark.parametrize("groups,c,oc,k,stride,dil,pads", [
    (1, 3, 4, 3, 1, 1, (1, 1, 1, 1)), (1, 2, 3, 3, 2, 2, (2, 0, 1, 3)),
    (2, 4, 2, 2, 1, 1, (0, 1, 1, 0)), (3, 3, 3, 3, 2, 1, (1, 1, 1, 1)),
    (3, 3, 6, 1, 1, 1, (0, 0, 0, 0)),
])
def test_reference_matches_definition(groups, c, oc, k, stride, dil, pads) -> None:
    rng = np.random.default_rng(11 * c + oc)
    x, kw = make_case(rng, n=2, h=5, w=4, c=c, oc=oc, kh=k, kw=k, stride=(stride, stride),
                      dil=(dil, dil), pads=pads, groups=groups, x_zp=-77, y_zp=9)
    acc = loop_conv_acc(x, kw)
    expected = requantize(acc, kw["mult"], kw["y_zp"], kw["qmin"], kw["qmax"])
    assert np.array_equal(ref.conv2d(x, **kw), expected)
    assert np.array_equal(one_op.conv2d(x, **kw), expected)


def test_reference_matches_float_conv() -> None:
    """Dequantize, convolve in float64 (explicit loops, cross-correlation as ONNX defines it),
    quantize: the int8 result is within one step (the float32 multiplier rounds)."""
    rng = np.random.default_rng(3)
    x, kw = make_case(rng, n=1, h=5, w=6, c=2, oc=3, kh=3, kw=2, stride=(2, 1),
                      pads=(1, 0, 1, 1), x_zp=12, y_zp=-4)
    s_x, s_y = 0.05, 0.4
    s_w = rng.uniform(0.001, 0.01, 3)
    kw["mult"] = (s_x * s_w / s_y).astype(np.float32)
    xr = s_x * (x.astype(np.float64) - kw["x_zp"])
    wr = s_w[:, None, None, None] * kw["w"].astype(np.float64)
    br = s_x * s_w * kw["bias"].astype(np.float64)
    y = ref.conv2d(x, **kw)
    xp = np.pad(xr, ((0, 0), (1, 1), (0, 1), (0, 0)))  # pad_t, pad_b, pad_l, pad_r as above
    for oy, ox, o in itertools.product(range(y.shape[1]), range(y.shape[2]), range(3)):
        r = br[o] + sum(xp[0, oy * 2 + ky, ox + kx, ci] * wr[o, ky, kx, ci]
                        for ky in range(3) for kx in range(2) for ci in range(2))
        q = np.clip(np.rint(r / s_y) + kw["y_zp"], -128, 127)
        assert abs(int(y[0, oy, ox, o]) - q) <= 1


# ---- argument checking ---------------------------------------------------------------------

def test_argument_errors() -> None:
    rng = np.random.default_rng(0)
    x, kw = make_case(rng, n=1, h=4, w=4, c=4, oc=4, kh=3, kw=3, pads=(1, 1, 1, 1))
    with pytest.raises(ValueError, match="dtypes"):
        one_op.conv2d(x.astype(np.int16), **kw)
    with pytest.raises(ValueError, match="exactly"):  # a bias that is not int32
        one_op.conv2d(x, **{**kw, "bias": kw["bias"].astype(np.int64) + 2**32})
    with pytest.raises(ValueError, match="exactly"):  # multipliers that are not float32
        one_op.conv2d(x, **{**kw, "mult": kw["mult"].astype(np.float64) + 1e-12})
    # a strided input is copied to contiguous memory by the plan's input handling
    assert np.array_equal(one_op.conv2d(x[:, :, ::2], **kw), ref.conv2d(x[:, :, ::2], **kw))
    with pytest.raises(ValueError):  # an input smaller than the declared n x h x w x c
        one_op.conv2d(x[:, :3], in_shape=x.shape, **kw)
    with pytest.raises(ValueError):
        one_op.conv2d(x, **{**kw, "groups": 3})
    with pytest.raises(ValueError):
        one_op.conv2d(x, **{**kw, "groups": 2})  # w has c/groups = 4 != 2
    with pytest.raises(ValueError):
        one_op.conv2d(x, **{**kw, "bias": kw["bias"][:3]})
    with pytest.raises(ValueError):
        one_op.conv2d(x, **{**kw, "pad_t": 0, "pad_b": 0, "dil_h": 3})  # empty output
    with pytest.raises(ValueError):
        one_op.conv2d(x, **{**kw, "stride_h": 0})
    with pytest.raises(ValueError):
        one_op.conv2d(x, **{**kw, "pad_l": -1})
    with pytest.raises(ValueError):
        one_op.conv2d(x, **{**kw, "qmin": 5, "qmax": 4})
    with pytest.raises(ValueError):
        one_op.conv2d(x, **{**kw, "x_zp": 128})
    with pytest.raises(ValueError):
        one_op.conv2d(np.zeros((1, 0, 4, 4), np.int8), **kw)


def test_read_only_inputs() -> None:
    rng = np.random.default_rng(1)
    x, kw = make_case(rng, n=1, h=4, w=5, c=4, oc=4, kh=3, kw=3, pads=(1, 1, 1, 1))
    for a in (x, kw["w"], kw["bias"], kw["mult"]):
        a.flags.writeable = False
    check(x, kw)


# ---- float32 epilogue (out_f32, docs/QUANTIZATION.md §4) -------------------------------------

def check_f32(x: np.ndarray, kwargs: dict) -> np.ndarray:
    kw = {**kwargs, "out_f32": 1}
    expected = ref.conv2d(x, **kw)
    got = one_op.conv2d(x, **kw)
    assert expected.dtype == np.float32 and got.dtype == np.float32
    assert got.shape == expected.shape == ref.conv2d(x, **kwargs).shape
    assert np.array_equal(got, expected), f"{int((got != expected).sum())} mismatches"
    return got


# (groups, c, oc, k, stride, pads): 1x1 direct, im2col (plain, grouped, strided), depthwise
F32_CASES = [(1, 16, 8, 1, 1, (0, 0, 0, 0)), (1, 3, 17, 1, 1, (0, 0, 0, 0)),
             (2, 8, 6, 1, 1, (0, 0, 0, 0)), (1, 5, 6, 3, 1, (1, 1, 1, 1)),
             (1, 17, 3, 3, 2, (0, 1, 2, 0)), (4, 8, 12, 3, 1, (1, 0, 1, 2)),
             (1, 8, 5, 1, 2, (0, 0, 0, 0)), (8, 8, 8, 3, 1, (1, 1, 1, 1)),
             (17, 17, 17, 3, 2, (0, 1, 1, 0)), (40, 40, 40, 5, 1, (2, 2, 2, 2))]


@pytest.mark.parametrize("x_zp", [-128, 0, 127])
@pytest.mark.parametrize("groups,c,oc,k,stride,pads", F32_CASES)
def test_out_f32(groups: int, c: int, oc: int, k: int, stride: int, pads, x_zp: int) -> None:
    rng = np.random.default_rng(groups * 1000 + c * 10 + oc + k + x_zp)
    x, kw = make_case(rng, n=2, h=6, w=5, c=c, oc=oc, kh=k, kw=k, stride=(stride, stride),
                      pads=pads, groups=groups, x_zp=x_zp, y_zp=-3, qmin=0, qmax=6)
    x[0, ::2, :, ::3] = -128
    x[1, 1::2, :, 1::3] = 127
    kw["mult"] = rng.uniform(-1e-3, 1e-3, oc).astype(np.float32)
    y = check_f32(x, kw)
    # the definition, from the loop-based accumulators: float32(acc) * mult, nothing else
    expected = loop_conv_acc(x, kw).astype(np.float32) * kw["mult"]
    assert np.array_equal(y, expected)
    assert (y < 0).any() and (y > 6).any()  # no clamp, no zero point


@pytest.mark.parametrize("kind,c,k", [("1x1", 16384, 1), ("3x3", 1820, 3), ("dw", 64, 3)])
def test_out_f32_large_k_extremes(kind: str, c: int, k: int) -> None:
    """|acc| near 255 * 127 * K > 2^24: float32(acc) rounds, identically in numpy and C."""
    groups = c if kind == "dw" else 1
    x = np.full((1, 3, 3, c), -128, np.int8)
    weights = np.full((c if kind == "dw" else 4, k, k, c // groups), 127, np.int8)
    weights[1] = -127
    bias = np.zeros(weights.shape[0], np.int32)
    bias[2] = 2**20 + 1
    mult = np.full(weights.shape[0], 3.1e-7, np.float32)
    mult[3] = 1.0
    kw = {"w": weights, "bias": bias, "mult": mult, "stride_h": 1, "stride_w": 1, "dil_h": 1,
          "dil_w": 1, "pad_t": k // 2, "pad_l": k // 2, "pad_b": k // 2, "pad_r": k // 2,
          "groups": groups, "x_zp": 127, "y_zp": 0}
    y = check_f32(x, kw)
    acc = loop_conv_acc(x, kw) if kind == "dw" else None
    if acc is not None:
        assert np.array_equal(y, acc.astype(np.float32) * mult)
    if kind != "dw":
        assert abs(float(y[0, 1, 1, 3])) == float(np.float32(255 * 127 * k * k * c))


def test_out_f32_argument_errors() -> None:
    x, kw = make_case(np.random.default_rng(3), n=1, h=4, w=4, c=3, oc=2, kh=3, kw=3)
    with pytest.raises(ValueError):
        one_op.conv2d(x, **kw, out_f32=2)
