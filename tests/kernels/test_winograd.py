"""Winograd F(2x2, 3x3) (csrc/kernels/winograd/, docs/KERNELS.md "Winograd F(2x2,3x3)"): every
kernel set equal to the reference convolution (int8rt/reference/conv.py, not a Winograd
reference), tolerance zero: the portable `emu` set on every host, `avx2` / `neon` natively
where the CPU has it (`_native.conv2d_winograd` runs a set whatever the path; under qemu the
neon set is checked by tools/arm/run.sh's conv cases); then conv2d plans on the avx2 path,
which packs Winograd for 3x3 / stride 1 / group 1 with whole 16-channel input blocks: fused
post-ops, threads, a stream packed under avx2 run under every path, and the bound fallback
(weights whose 4 * sum could wrap int32 are packed im2col)."""

from __future__ import annotations

import itertools
import platform

import numpy as np
import pytest

from int8rt import _native
from int8rt.reference import conv as ref
from tests.kernels import one_op
from tests.kernels.test_conv import make_case
from tests.kernels.test_fused_epilogue import POSTS, _expected, _table

HAS_AVX2 = "avx2" in _native.available_isas()
AARCH64 = platform.machine().lower() in ("aarch64", "arm64")
SETS = [pytest.param("emu", id="emu")] + [
    pytest.param("avx2", id="avx2-native",
                 marks=pytest.mark.skipif(not HAS_AVX2, reason="CPU without AVX2")),
    pytest.param("neon", id="neon-native",
                 marks=pytest.mark.skipif(not AARCH64, reason="not aarch64"))]


def _kwargs(w, bias, mult, pads=(1, 1, 1, 1), x_zp=0, y_zp=0, qmin=-128, qmax=127,
            out_f32=0) -> dict:
    return {"w": w, "bias": bias, "mult": mult, "stride_h": 1, "stride_w": 1, "dil_h": 1,
            "dil_w": 1, "pad_t": pads[0], "pad_l": pads[1], "pad_b": pads[2], "pad_r": pads[3],
            "groups": 1, "x_zp": x_zp, "y_zp": y_zp, "qmin": qmin, "qmax": qmax,
            "out_f32": out_f32}


def _check_set(kernel: str, x: np.ndarray, kw: dict) -> None:
    expected = ref.conv2d(x, **kw)
    got = _native.conv2d_winograd(kernel, x, **kw)
    assert got.dtype == expected.dtype and got.shape == expected.shape
    assert np.array_equal(got, expected), f"{int((got != expected).sum())} mismatches"


# images: odd / even sizes (edge tiles with 1 or 2 valid rows / columns), one pixel, batch 2
IMAGES = [(1, 1, 1), (1, 2, 3), (1, 5, 5), (2, 7, 4), (1, 9, 13), (1, 16, 16)]
PADS = [(0, 0, 0, 0), (1, 1, 1, 1), (2, 0, 1, 3), (0, 2, 2, 0)]
# channels: odd / even / tails of the 16-lane transform and the 6x16 gemm tile
CHANNELS = [(1, 3), (2, 16), (3, 17), (16, 1), (17, 40), (32, 16), (33, 5), (48, 33)]


@pytest.mark.parametrize("kernel", SETS)
@pytest.mark.parametrize("img,pads,ch", list(itertools.product(IMAGES, PADS, CHANNELS))[::3])
def test_sets_equal_reference(kernel, img, pads, ch) -> None:
    n, h, w = img
    c, oc = ch
    if h + pads[0] + pads[2] < 3 or w + pads[1] + pads[3] < 3:
        pytest.skip("empty output")
    rng = np.random.default_rng(hash((img, pads, ch)) % 2**32)
    x, kw = make_case(rng, n=n, h=h, w=w, c=c, oc=oc, kh=3, kw=3, pads=pads,
                      x_zp=int(rng.integers(-128, 128)), y_zp=int(rng.integers(-128, 128)))
    _check_set(kernel, x, kw)


@pytest.mark.parametrize("kernel", SETS)
@pytest.mark.parametrize("x_zp", [-128, 0, 127])
@pytest.mark.parametrize("xv,wv", [(-128, 127), (-128, -127), (127, 127), (127, -128),
                                   (-128, -128)])
def test_sets_extremes(kernel, x_zp, xv, wv) -> None:
    """Every input and weight at an end (padding at the other zero-point end): |V| = 512 and
    |U'| = 9 * 128 reached; outputs spread over the clamp range, float32 outputs exact."""
    rng = np.random.default_rng(7)
    c, oc = 32, 20
    x = np.full((1, 5, 6, c), xv, np.int8)
    x[0, 2, 3, 5] = -xv - 1 if xv == 127 else 127  # one tap of the other sign
    w = np.full((oc, 3, 3, c), wv, np.int8)
    w[1] = rng.integers(-128, 128, (3, 3, c), dtype=np.int8)
    bias = rng.integers(-2**20, 2**20, oc).astype(np.int32)
    mult = np.full(oc, 1.0 / (9 * c * 128 * 128), np.float32) * 100
    for out_f32 in (0, 1):
        _check_set(kernel, x, _kwargs(w, bias, mult, x_zp=x_zp, y_zp=-5, out_f32=out_f32))


@pytest.mark.parametrize("kernel", SETS)
def test_sets_ties_and_clamps(kernel) -> None:
    """Multipliers 0.5 / 0.25 make .5 ties (half to even), narrowed clamps."""
    rng = np.random.default_rng(3)
    x, kw = make_case(rng, n=1, h=6, w=7, c=16, oc=18, kh=3, kw=3, pads=(1, 1, 1, 1),
                      x_zp=5, y_zp=2, qmin=-100, qmax=90)
    kw["w"] = rng.integers(-2, 3, kw["w"].shape, dtype=np.int8)
    kw["mult"] = np.where(np.arange(18) % 2, 0.5, 0.25).astype(np.float32)
    _check_set(kernel, x, kw)


@pytest.mark.parametrize("kernel", SETS)
def test_sets_at_the_bound(kernel) -> None:
    """4 * sum x w within 2^31 by a hair (c = 3640, every product -128 * 127 * 9 c): exact; one
    channel more and the binding refuses (the plan falls back to im2col: below)."""
    c = 3640
    x = np.full((1, 2, 2, c), -128, np.int8)
    w = np.full((2, 3, 3, c), 127, np.int8)
    kw = _kwargs(w, np.array([7, -2**31], np.int32), np.full(2, 1e-7, np.float32), x_zp=-128)
    assert 4 * 128 * 127 * 9 * c < 2**31
    _check_set(kernel, x, kw)
    x2 = np.full((1, 2, 2, c + 40), -128, np.int8)
    w2 = np.full((2, 3, 3, c + 40), 127, np.int8)
    with pytest.raises(ValueError, match="bound"):
        _native.conv2d_winograd(kernel, x2, **{**kw, "w": w2})


def test_binding_refuses() -> None:
    rng = np.random.default_rng(0)
    x, kw = make_case(rng, n=1, h=5, w=5, c=4, oc=4, kh=3, kw=3, stride=(2, 1))
    with pytest.raises(ValueError, match="stride"):
        _native.conv2d_winograd("emu", x, **kw)
    x, kw = make_case(rng, n=1, h=5, w=5, c=4, oc=4, kh=3, kw=3, groups=2)
    with pytest.raises(ValueError, match="group"):
        _native.conv2d_winograd("emu", x, **kw)
    x, kw = make_case(rng, n=1, h=5, w=5, c=4, oc=4, kh=3, kw=3)
    with pytest.raises(ValueError, match="kernel set"):
        _native.conv2d_winograd("avx512", x, **kw)


# ---- through plans: the avx2 path packs Winograd --------------------------------------------

@pytest.fixture
def avx2():
    if not HAS_AVX2:
        pytest.skip("CPU without AVX2")
    before = _native.isa()
    _native.set_isa("avx2")
    yield
    _native.set_isa(before)


@pytest.mark.parametrize("threads", [1, 2])
@pytest.mark.parametrize("shape", [(1, 9, 11, 32, 40), (2, 14, 14, 64, 64), (1, 3, 4, 16, 8)])
def test_plan_avx2(avx2, threads, shape) -> None:
    n, h, w, c, oc = shape
    rng = np.random.default_rng(sum(shape))
    x, kw = make_case(rng, n=n, h=h, w=w, c=c, oc=oc, kh=3, kw=3, pads=(1, 0, 2, 1),
                      x_zp=-17, y_zp=9)
    # threads: the task split is im2col's; task ranges map onto Winograd units
    assert np.array_equal(one_op.conv2d(x, **kw, threads=threads), ref.conv2d(x, **kw))


@pytest.mark.parametrize("post", list(POSTS), ids=list(POSTS))
def test_plan_avx2_post(avx2, post) -> None:
    """The avx2 set's post-ops run over each block's output rows (channel chunks included)."""
    rng = np.random.default_rng(len(post))
    x, kw = make_case(rng, n=1, h=7, w=7, c=32, oc=48, kh=3, kw=3, pads=(1, 1, 1, 1),
                      x_zp=-9, y_zp=5, qmin=-120, qmax=127)
    y0 = ref.conv2d(x, **kw)
    table = _table(rng)
    res = rng.integers(-128, 128, y0.shape, dtype=np.int8)
    for threads in (1, 2):
        got = one_op.conv2d(x, res, **kw, post=POSTS[post], table=table, threads=threads)
        assert np.array_equal(got, _expected(y0, POSTS[post], table, res))


def test_packed_under_avx2_runs_under_every_path(avx2) -> None:
    """A Winograd stream runs on any path: the avx2 set from avx2 up, the portable set below
    (its epilogue applies the post-ops itself)."""
    rng = np.random.default_rng(11)
    x, kw = make_case(rng, n=1, h=10, w=9, c=16, oc=24, kh=3, kw=3, pads=(1, 1, 1, 1), x_zp=4)
    y0 = ref.conv2d(x, **kw)
    table = _table(rng)
    runner = one_op.prepare(one_op.conv2d, x, **kw, post={"lut": 1}, table=table)
    expected = _expected(y0, {"lut": 1}, table, None)
    for path in _native.available_isas():
        _native.set_isa(path)
        assert np.array_equal(runner(), expected), path


def test_plan_bound_fallback(avx2) -> None:
    """Weights past the bound (4 * 128 * sum |w| >= 2^31: c = 3680 all 127 against -128 inputs
    would wrap Y') pack im2col instead, and the result is still exact."""
    c = 3680
    x = np.full((1, 2, 3, c), -128, np.int8)
    w = np.full((2, 3, 3, c), 127, np.int8)
    kw = _kwargs(w, np.array([5, -5], np.int32), np.full(2, 1e-7, np.float32))
    assert 4 * 128 * 127 * 9 * c >= 2**31
    assert np.array_equal(one_op.conv2d(x, **kw), ref.conv2d(x, **kw))
