"""Weights packed once (int8rt/packed_weights.py, plan.h i8_plan_pack_weights): a blob packed for
one batch size runs every batch size bit-identically to a plan that packed its own weights;
blobs for other params, wrong consts and other kinds are refused with Python exceptions."""

from __future__ import annotations

import gc
import weakref

import numpy as np
import pytest

from int8rt import _native
from int8rt.packed_weights import PackedWeights
from int8rt.plan import NativePlan
from int8rt.program import Buffer, Call, Program
from tests.test_plan import conv_consts, conv_params, rand_i8, ref_conv

F32 = np.float32


def one_call(kernel, x, y_shape, y_dtype, params, consts, packed=None):
    bufs = {"x": Buffer("x", x.shape, str(x.dtype)), "y": Buffer("y", tuple(y_shape), y_dtype)}
    return NativePlan(Program([Call(kernel, ["x"], ["y"], params, consts)], bufs, ["x"], ["y"]),
                      packed)


def fc_case(rng, m, k=40, n=24):
    p = {"m": m, "k": k, "n": n, "x_zp": -3, "y_zp": 5, "qmin": -128, "qmax": 127}
    c = {"w": rng.integers(-127, 128, (n, k), dtype=np.int8),
         "bias": rng.integers(-900, 900, n).astype(np.int32),
         "mult": rng.uniform(1e-4, 1e-3, n).astype(F32)}
    return p, c


@pytest.mark.parametrize("kind", ["conv2d", "conv2d dw", "fc", "conv2d_f32", "fc_f32"])
def test_one_blob_every_batch_bit_identical(kind):
    rng = np.random.default_rng(3)
    packed = PackedWeights()
    addresses = set()
    for n in (1, 2, 5):
        if kind.startswith("conv2d"):
            groups = 6 if kind == "conv2d dw" else 1
            p = conv_params(n, 7, 5, 6, 6, 3, 1, 1, -2, 3, groups=groups)
            c = conv_consts(np.random.default_rng(9), 6, 3, 6 // groups, 0.003)
            x = rand_i8(rng, n, 7, 5, 6)
            y_shape, y_dt = (n, p["oh"], p["ow"], 6), "int8"
            if kind == "conv2d_f32":
                p = {k: v for k, v in p.items() if k not in ("x_zp", "y_zp", "qmin", "qmax")}
                p.update(lo=-3.0, hi=3.0)
                c = {"w": c["w"].astype(F32) / 64, "bias": c["bias"].astype(F32) / 1000}
                x, y_dt = x.astype(F32) / 32, "float32"
        elif kind == "fc":
            p, c = fc_case(np.random.default_rng(9), n)
            x, y_shape, y_dt = rand_i8(rng, n, 40), (n, 24), "int8"
        else:
            p = {"m": n, "k": 40, "n": 24, "lo": -2.0, "hi": 2.0}
            g = np.random.default_rng(9)
            c = {"w": g.standard_normal((24, 40)).astype(F32) / 8,
                 "bias": g.standard_normal(24).astype(F32)}
            x, y_shape, y_dt = rng.standard_normal((n, 40)).astype(F32), (n, 24), "float32"
        own = one_call(kind.split()[0], x, y_shape, y_dt, p, c)
        shared = one_call(kind.split()[0], x, y_shape, y_dt, p, c, packed)
        assert np.array_equal(own.run([x])[0], shared.run([x])[0]), n
        addresses.add(shared._native.op_packed_address(0))
        assert own._native.op_packed_address(0) not in addresses
    assert packed.packs == 1 and len(addresses) == 1  # one blob, borrowed by all three plans


def test_blob_for_other_params_is_refused():
    rng = np.random.default_rng(4)
    p, c = fc_case(rng, 2)
    blob = _native.pack_weights("fc", p, c)
    x = rand_i8(rng, 2, 40)
    for key, value in (("x_zp", 0), ("n", 23), ("y_zp", 6)):
        q = dict(p, **{key: value})
        n = q["n"]
        cc = {"w": c["w"][:n], "bias": c["bias"][:n], "mult": c["mult"][:n], "packed": blob}
        with pytest.raises(ValueError, match="packed weights"):
            one_call("fc", x, (2, n), "int8", q, cc)
    # the size the packing ignores (m) may differ: the same blob runs 7 rows
    x7 = rand_i8(rng, 7, 40)
    got = one_call("fc", x7, (7, 24), "int8", dict(p, m=7), {"packed": blob}).run([x7])[0]
    want = one_call("fc", x7, (7, 24), "int8", dict(p, m=7), c).run([x7])[0]
    assert np.array_equal(got, want)


def test_pack_weights_refuses_bad_calls():
    rng = np.random.default_rng(5)
    p, c = fc_case(rng, 1)
    with pytest.raises(ValueError, match="no packed weights"):
        _native.pack_weights("add", {}, {})
    with pytest.raises(ValueError, match="const 0 has"):
        _native.pack_weights("fc", p, dict(c, w=c["w"][:, :39].copy()))
    with pytest.raises(ValueError, match=">= 1|must be"):
        _native.pack_weights("fc", dict(p, k=0), c)
    blob = _native.pack_weights("fc", p, c)
    with pytest.raises(ValueError, match="already"):  # a blob is not packed twice
        _native.pack_weights("fc", p, {"packed": blob})
    with pytest.raises(ValueError, match="C-contiguous uint8"):
        one_call("fc", rand_i8(rng, 1, 40), (1, 24), "int8", p, {"packed": blob.view(np.int8)})
    with pytest.raises(ValueError, match="no packed weights"):  # only conv2d / fc kinds
        one_call("lut", rand_i8(rng, 4), (4,), "int8", {"n": 4},
                 {"table": np.zeros(256, np.int8), "packed": blob})
    short = _native._aligned_bytes(blob.nbytes - 64)
    short[:] = blob[:-64]
    with pytest.raises(ValueError, match="wrong size"):
        one_call("fc", rand_i8(rng, 1, 40), (1, 24), "int8", p, {"packed": short})


def test_a_plan_keeps_its_borrowed_blob_alive():
    rng = np.random.default_rng(6)
    p, c = fc_case(rng, 3)
    x = rand_i8(rng, 3, 40)
    want = one_call("fc", x, (3, 24), "int8", p, c).run([x])[0]
    packed = PackedWeights()
    plan = one_call("fc", x, (3, 24), "int8", p, c, packed)
    blob = weakref.ref(next(iter(packed._blobs.values())))
    del packed
    gc.collect()
    assert blob() is not None  # the session's cache is gone, the plan still borrows it
    junk = [np.full(blob().nbytes, 0x55, np.uint8) for _ in range(8)]  # reuse freed memory
    assert np.array_equal(plan.run([x])[0], want)
    del plan, junk
    gc.collect()
    assert blob() is None


# ---- conv2d blobs: the size of the algorithm the stream holds (Winograd only where packed) --

PATHS = _native.available_isas()
WINO_PATHS = {"avx2", "neon"}  # the paths that pack Winograd F(2x2, 3x3) (winograd.c)


def with_isa(path, fn):
    before = _native.isa()
    _native.set_isa(path)
    try:
        return fn()
    finally:
        _native.set_isa(before)


def wino_case(rng, n=1, c=32, oc=24):
    """A 3x3 / stride 1 conv that Winograd covers, whole 16-channel input blocks"""
    p = conv_params(n, 9, 10, c, oc, 3, 1, 1, -7, 4)
    return p, conv_consts(rng, oc, 3, c, 0.0005), rand_i8(rng, n, 9, 10, c)


def wino_stream_bytes(c, oc):
    # conv header | bias' int32, mult float32 (oc16 each, 64-aligned) | U' int16
    # [16][oc16 / 16][ceil(c / 2)][16][2] (winograd.h)
    oc16 = -(-oc // 16) * 16
    return 64 + 2 * (-(-oc16 * 4 // 64) * 64) + 16 * oc16 * ((c + 1) // 2) * 2 * 2


@pytest.mark.skipif("avx2" not in PATHS, reason="CPU without AVX2")
def test_conv_blob_is_winograd_sized_only_where_packed(monkeypatch):
    rng = np.random.default_rng(21)
    p, c, _ = wino_case(rng)
    blobs = {path: with_isa(path, lambda: _native.pack_weights("conv2d", p, c))
             for path in PATHS}
    assert blobs["avx2"].nbytes == 256 + wino_stream_bytes(32, 24)
    # the other paths pack gemm panels (each path its layout, one size: gemm.h), smaller
    for path in PATHS:
        if path not in WINO_PATHS:
            assert blobs[path].nbytes == blobs["scalar"].nbytes, path
    assert blobs["scalar"].nbytes < blobs["avx2"].nbytes
    # avx2 without Winograd (INT8RT_WINOGRAD=0, read at pack time) packs panels of that size
    monkeypatch.setenv("INT8RT_WINOGRAD", "0")
    assert with_isa("avx2", lambda: _native.pack_weights("conv2d", p, c)).nbytes == \
        blobs["scalar"].nbytes
    monkeypatch.delenv("INT8RT_WINOGRAD")
    # weights past Winograd's bound: avx2 packs im2col, and the blob is im2col's size exactly
    big = dict(p, c=3680, oc=2)
    bc = {"w": np.full((2, 3, 3, 3680), 127, np.int8), "bias": np.array([5, -5], np.int32),
          "mult": np.full(2, 1e-7, F32)}
    assert with_isa("avx2", lambda: _native.pack_weights("conv2d", big, bc)).nbytes == \
        with_isa("scalar", lambda: _native.pack_weights("conv2d", big, bc)).nbytes


@pytest.mark.parametrize("pack_path", PATHS)
def test_conv_blob_runs_under_every_path(pack_path):
    """A blob (Winograd or im2col, whichever pack_path packs) runs bit-identically under every
    path, with a scratch sized for its own algorithm"""
    rng = np.random.default_rng(22)
    p, c, x = wino_case(rng, n=2)
    blob = with_isa(pack_path, lambda: _native.pack_weights("conv2d", p, c))
    want = ref_conv(x, p, c)
    for run_path in PATHS:
        plan = with_isa(run_path, lambda: one_call("conv2d", x, want.shape, "int8", p,
                                                   {"packed": blob}))
        for path in PATHS:
            got = with_isa(path, lambda plan=plan: plan.run([x])[0])
            assert np.array_equal(got, want), (pack_path, run_path, path)


def _refused(p, x, blob, match):
    y_shape = (p["n"], p["oh"], p["ow"], p["oc"])
    with pytest.raises(ValueError, match=match):
        one_call("conv2d", x, y_shape, "int8", p, {"packed": blob})


def _copy(blob, nbytes=None):
    out = _native._aligned_bytes(blob.nbytes if nbytes is None else nbytes)
    out[:] = 0
    n = min(out.nbytes, blob.nbytes)
    out[:n] = blob[:n]
    return out


def _set_i32(blob, offset, value):
    blob[offset:offset + 4] = np.array([value], "<i4").view(np.uint8)


def _set_i64(blob, offset, value):
    blob[offset:offset + 8] = np.array([value], "<i8").view(np.uint8)


PACK_HEADER, CONV_ALGO, CONV_K = 256, 256 + 4, 256 + 8  # blob header; conv header fields
IM2COL, WINO = 3, 4


@pytest.mark.parametrize("pack_path", PATHS)
def test_tampered_conv_blob_is_refused(pack_path):
    """The footprint check reads the stream's recorded algorithm (after checking the blob holds
    the header) and requires that algorithm's size: a header changed to Winograd on an
    im2col-sized stream, a truncated stream with a consistent blob header, a header the pack
    step never writes are refused with ValueError before any kernel reads them."""
    rng = np.random.default_rng(23)
    p, c, x = wino_case(rng)
    blob = with_isa(pack_path, lambda: _native.pack_weights("conv2d", p, c))
    algo = int(blob[CONV_ALGO:CONV_ALGO + 4].view("<i4")[0])
    assert algo in (IM2COL, WINO)
    other = _copy(blob)
    _set_i32(other, CONV_ALGO, WINO if algo == IM2COL else IM2COL)
    _refused(p, x, other, "packed weights")
    # truncated: the blob header's stream size says so too, so only the algorithm's size
    # tells (a stream cut to its conv header, and one 64 bytes short)
    for nbytes in (PACK_HEADER + 64, blob.nbytes - 64):
        short = _copy(blob, nbytes)
        _set_i64(short, 8, nbytes - PACK_HEADER)
        _refused(p, x, short, "wrong size")
    # no room for the conv header at all
    bare = _copy(blob, PACK_HEADER)
    _set_i64(bare, 8, 0)
    _refused(p, x, bare, "stream header")
    # other header fields (dot length k, magic) and an unknown algorithm
    for offset, value in ((CONV_K, 9 * 32 + 1), (256, 0), (CONV_ALGO, 7), (CONV_ALGO, 1)):
        bad = _copy(blob)
        _set_i32(bad, offset, value)
        _refused(p, x, bad, "stream header")
    # a shape Winograd does not cover (3x3 stride 2, an im2col shape) recording it
    q = conv_params(1, 9, 10, 32, 24, 3, 2, 1, -7, 4)
    sblob = _native.pack_weights("conv2d", q, c)
    _set_i32(sblob, CONV_ALGO, WINO)
    _refused(q, rand_i8(rng, 1, 9, 10, 32), sblob, "stream header")
    # a 1x1 conv's stream recorded as Winograd, grown to Winograd's size (3x3 weights)
    one = conv_params(1, 9, 10, 32, 24, 1, 1, 0, -7, 4)
    oblob = _native.pack_weights("conv2d", one, conv_consts(rng, 24, 1, 32, 0.001))
    grown = _copy(oblob, PACK_HEADER + wino_stream_bytes(32, 24))
    _set_i64(grown, 8, grown.nbytes - PACK_HEADER)
    _set_i32(grown, CONV_ALGO, WINO)
    _refused(one, rand_i8(rng, 1, 9, 10, 32), grown, "stream header")
