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
from tests.test_plan import conv_consts, conv_params, rand_i8

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
