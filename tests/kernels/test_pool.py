"""maxpool / avgpool / global_avgpool: native == reference, reference vs float pooling."""

from __future__ import annotations

import itertools

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from int8rt.kernel_tables import avgpool_mults, global_avgpool_mult
from int8rt.reference import pooling as ref
from tests.kernels import one_op as nat

RNG = np.random.default_rng(7)


def _x(shape):
    x = RNG.integers(-128, 128, size=shape).astype(np.int8)
    if x.size >= 2:
        x.reshape(-1)[:2] = (-128, 127)
    return x


def _geom(h, w, kh, kw, s, d, pt, pl, pb, pr):
    oh = (h + pt + pb - d * (kh - 1) - 1) // s + 1
    ow = (w + pl + pr - d * (kw - 1) - 1) // s + 1
    return {"oh": oh, "ow": ow, "kh": kh, "kw": kw, "stride_h": s, "stride_w": s, "dil_h": d,
            "dil_w": d, "pad_t": pt, "pad_l": pl}


GEOMS = [  # h, w, kh, kw, stride, dil, pad_t, pad_l, pad_b, pad_r
    (8, 8, 2, 2, 2, 1, 0, 0, 0, 0),
    (7, 9, 3, 3, 2, 1, 1, 1, 1, 1),
    (7, 7, 3, 3, 1, 1, 1, 1, 1, 1),
    (6, 5, 3, 2, 1, 2, 2, 1, 2, 0),
    (5, 5, 5, 5, 1, 1, 4, 4, 4, 4),  # windows mostly in padding
    (15, 15, 15, 15, 1, 1, 0, 0, 0, 0),  # large window
    (9, 4, 1, 1, 3, 1, 0, 0, 0, 0),
    (3, 3, 2, 2, 2, 1, 0, 0, 1, 1),  # ceil-mode style trailing pad
]
CHANNELS = [1, 5, 64, 70]
QPARAMS = [(-128, 127, -128, 127), (127, -128, -128, 127), (3, -7, -7, 127), (0, 0, -20, 40)]


@pytest.mark.parametrize("geom", GEOMS)
def test_maxpool_native_equals_reference(geom):
    for c, (x_zp, y_zp, qmin, qmax) in itertools.product(CHANNELS, QPARAMS):
        x = _x((2, geom[0], geom[1], c))
        p = _geom(*geom)
        y_ref = ref.maxpool(x, **p, qmin=qmin, qmax=qmax)
        y_nat = nat.maxpool(x, **p, qmin=qmin, qmax=qmax)
        assert np.array_equal(y_ref, y_nat)


@pytest.mark.parametrize("geom", GEOMS)
@pytest.mark.parametrize("count_include_pad", [0, 1])
def test_avgpool_native_equals_reference(geom, count_include_pad):
    for c, (x_zp, y_zp, qmin, qmax) in itertools.product(CHANNELS, QPARAMS):
        x = _x((2, geom[0], geom[1], c))
        p = _geom(*geom)
        for sx, sy in [(0.1, 0.1), (0.05, 0.013), (1.0, 3.0)]:
            m = avgpool_mults(sx, sy, p["kh"], p["kw"])
            kw = dict(**p, count_include_pad=count_include_pad, x_zp=x_zp, y_zp=y_zp,
                      qmin=qmin, qmax=qmax)
            assert np.array_equal(ref.avgpool(x, m, **kw), nat.avgpool(x, m, **kw))


@settings(max_examples=60, deadline=None)
@given(st.integers(1, 9), st.integers(1, 9), st.integers(1, 4), st.integers(1, 4),
       st.integers(1, 3), st.integers(1, 2), st.integers(0, 2), st.integers(0, 2),
       st.integers(1, 20), st.integers(-128, 127), st.integers(-128, 127), st.booleans())
def test_pool_hypothesis(h, w, kh, kw, s, d, pt, pl, c, x_zp, y_zp, cip):
    p = _geom(h, w, kh, kw, s, d, pt, pl, pt, pl)
    if p["oh"] < 1 or p["ow"] < 1:
        return
    x = _x((1, h, w, c))
    assert np.array_equal(ref.maxpool(x, **p), nat.maxpool(x, **p))
    m = avgpool_mults(0.07, 0.05, kh, kw)
    kwargs = dict(**p, count_include_pad=int(cip), x_zp=x_zp, y_zp=y_zp)
    assert np.array_equal(ref.avgpool(x, m, **kwargs), nat.avgpool(x, m, **kwargs))


def _float_pool(xf, p, op, count_include_pad):
    """Straightforward float pooling over explicit window positions."""
    n, h, w, c = xf.shape
    out = np.zeros((n, p["oh"], p["ow"], c))
    for oy, ox in itertools.product(range(p["oh"]), range(p["ow"])):
        taps = [(oy * p["stride_h"] - p["pad_t"] + ky * p["dil_h"],
                 ox * p["stride_w"] - p["pad_l"] + kx * p["dil_w"])
                for ky in range(p["kh"]) for kx in range(p["kw"])]
        vals = [xf[:, iy, ix] for iy, ix in taps if 0 <= iy < h and 0 <= ix < w]
        if op == "max":
            out[:, oy, ox] = np.max(vals, axis=0)
        else:
            div = p["kh"] * p["kw"] if count_include_pad else len(vals)
            out[:, oy, ox] = np.sum(vals, axis=0) / div
    return out


@pytest.mark.parametrize("geom", GEOMS[:4] + GEOMS[5:])
def test_reference_against_float(geom):
    x = _x((2, geom[0], geom[1], 6))
    p = _geom(*geom)
    assert np.array_equal(ref.maxpool(x, **p), _float_pool(x.astype(float), p, "max", 0))
    sx, sy, x_zp, y_zp = 0.04, 0.03, 5, -9
    xf = np.float32(sx) * (x.astype(np.float64) - x_zp)
    for cip in (0, 1):
        y = ref.avgpool(x, avgpool_mults(sx, sy, p["kh"], p["kw"]), **p, count_include_pad=cip,
                        x_zp=x_zp, y_zp=y_zp)
        exact = _float_pool(xf, p, "avg", cip) / np.float32(sy) + y_zp
        assert np.all(np.abs(y - np.clip(exact, -128, 127)) <= 1)


def test_all_padding_window():
    """pad >= kernel extent: no tap in bounds. max gives qmin, avg (no count_include_pad)
    gives y_zp, avg with count_include_pad gives y_zp too (the pads are real zeros)."""
    x = _x((1, 2, 2, 3))
    p = {"oh": 3, "ow": 3, "kh": 2, "kw": 2, "stride_h": 3, "stride_w": 3, "pad_t": 3, "pad_l": 3}
    for impl in (ref, nat):
        assert (impl.maxpool(x, **p, qmin=-5)[0, 0, 0] == -5).all()
        for cip in (0, 1):
            y = impl.avgpool(x, avgpool_mults(0.1, 0.1, 2, 2), **p, count_include_pad=cip,
                             x_zp=4, y_zp=-9)
            assert (y[0, 0, 0] == -9).all()


@pytest.mark.parametrize("shape", [(1, 7, 7, 64), (3, 1, 1, 5), (2, 14, 14, 130),
                                   (1, 64, 64, 3)])
def test_global_avgpool(shape):
    x = _x(shape)
    n, h, w, c = shape
    for x_zp, y_zp, (qmin, qmax) in [(-128, 127, (-128, 127)), (127, -128, (-128, 127)),
                                     (3, 2, (2, 100))]:
        for sx, sy in [(0.1, 0.1), (0.02, 0.3)]:
            kw = {"n": n, "hw": h * w, "c": c, "x_zp": x_zp, "y_zp": y_zp,
                  "mult": global_avgpool_mult(sx, sy, h * w), "qmin": qmin, "qmax": qmax}
            y = ref.global_avgpool(x, **kw)
            assert y.shape == (n, 1, 1, c)
            assert np.array_equal(y, nat.global_avgpool(x, **kw))
            assert np.array_equal(ref.global_avgpool(x.reshape(n, h * w, c), **kw),
                                  nat.global_avgpool(x.reshape(n, h * w, c), **kw))
            exact = (np.float32(sx) * (x.astype(np.float64) - x_zp)).mean(axis=(1, 2))
            exact = np.clip(exact / np.float32(sy) + y_zp, qmin, qmax)
            assert np.all(np.abs(y.reshape(n, c) - exact) <= 1)


def test_plan_rejects_bad_arguments():
    x = _x((1, 4, 4, 3))
    p = _geom(4, 4, 2, 2, 2, 1, 0, 0, 0, 0)
    with pytest.raises(ValueError):
        nat.avgpool(x, np.zeros(4, np.float32), **p)  # needs 5 entries
    with pytest.raises(ValueError, match="exactly"):  # multipliers that are not float32
        nat.avgpool(x, np.full(5, 0.1, np.float64), **p)
    for bad in (np.inf, -np.inf, np.nan):  # would saturate or scramble every output
        m = np.full(5, 0.1, np.float32)
        m[2] = bad
        with pytest.raises(ValueError, match="finite"):
            nat.avgpool(x, m, **p)
    with pytest.raises(ValueError):
        nat.maxpool(x, **p, c=4)  # x's 48 elements are not 1 x 4 x 4 x 4
    with pytest.raises(ValueError):
        nat.maxpool(x, **{**p, "stride_h": 0})
    with pytest.raises(ValueError):
        nat.maxpool(x, **p, h=5)


@pytest.mark.parametrize("kind", ["max", "avg"])
def test_huge_stride_is_refused_before_c(kind):
    """stride 2^31 - 1 overflowed the kernel's int32 window arithmetic once (tools/fuzz.py
    found it as a segfault through a plan): the binding and the plan both refuse such
    geometry, and the kernel itself now does its tap-range math in int64."""
    x = np.arange(16, dtype=np.int8).reshape(1, 4, 4, 1)
    kw = {"oh": 2, "ow": 1, "kh": 2, "kw": 2, "stride_h": 2**31 - 1, "stride_w": 1}
    with pytest.raises(ValueError, match="int32"):
        if kind == "max":
            nat.maxpool(x, **kw)
        else:
            nat.avgpool(x, avgpool_mults(0.5, 0.5, 2, 2), x_zp=0, y_zp=0, **kw)


@pytest.mark.parametrize("c", [16, 31, 32, 33, 47, 48, 96, 113])
def test_maxpool_channel_blocks(c):
    # the AVX2 kernel's 32-channel blocks, 16-channel remainder and scalar tail (and the
    # ResNet stem shape 3x3 s2 pad 1), extremes and clamps at both ends
    for geom, (qmin, qmax) in itertools.product(
            [(9, 9, 3, 3, 2, 1, 1, 1, 1, 1), (6, 7, 2, 3, 1, 2, 2, 0, 0, 2)],
            [(-128, 127), (-128, -128), (127, 127), (-5, 9)]):
        x = _x((2, geom[0], geom[1], c))
        x[0, 0, :, :] = -128
        x[1, -1, :, :] = 127
        p = _geom(*geom)
        assert np.array_equal(ref.maxpool(x, **p, qmin=qmin, qmax=qmax),
                              nat.maxpool(x, **p, qmin=qmin, qmax=qmax))


# ---- every path: channel tails around 16 / 32 / 64, ties, clamps ----------------------------

TAIL_CHANNELS = [1, 15, 16, 17, 31, 33, 63, 64, 65, 130]


@pytest.mark.parametrize("c", TAIL_CHANNELS)
def test_pools_every_path(path, c):
    rng = np.random.default_rng(c)
    for geom in (GEOMS[1], GEOMS[3], GEOMS[4], (10, 10, 5, 5, 1, 1, 2, 2, 2, 2)):
        x = _x((1, geom[0], geom[1], c))
        p = _geom(*geom)
        for x_zp, y_zp, qmin, qmax in QPARAMS + [(0, 0, 5, 5)]:
            assert np.array_equal(ref.maxpool(x, **p, qmin=qmin, qmax=qmax),
                                  nat.maxpool(x, **p, qmin=qmin, qmax=qmax))
            for cip in (0, 1):
                # mult = 1/2, 1/4: odd sums land on .5 ties
                mbc = np.array([0.0] + [rng.choice([0.5, 0.25, 1 / d])
                                        for d in range(1, p["kh"] * p["kw"] + 1)], np.float32)
                kw = {**p, "count_include_pad": cip, "x_zp": x_zp, "y_zp": y_zp, "qmin": qmin,
                      "qmax": qmax}
                assert np.array_equal(ref.avgpool(x, mbc, **kw), nat.avgpool(x, mbc, **kw))


@pytest.mark.parametrize("c", TAIL_CHANNELS)
def test_global_avgpool_every_path(path, c):
    for hw in (1, 3, 49):
        x = _x((2, hw, c))
        for x_zp, y_zp, qmin, qmax in QPARAMS:
            for mult in (0.5, 0.25, 1 / hw, 2.0**-10):
                kw = {"n": 2, "hw": hw, "c": c, "x_zp": x_zp, "y_zp": y_zp,
                      "mult": np.float32(mult), "qmin": qmin, "qmax": qmax}
                assert np.array_equal(ref.global_avgpool(x, **kw), nat.global_avgpool(x, **kw))
