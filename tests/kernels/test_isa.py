"""Kernel paths (ISAs): every path the machine can run gives the numpy reference's results
bit for bit, and the path selection (INT8RT_ISA cap, set_isa) behaves as documented
(docs/KERNELS.md, "Kernel paths and dispatch").

The conv2d, fc, element-wise and pool suites are re-collected here under a module fixture that
switches the path, so one pytest run sweeps them over every available path (their own modules
run on the default, best path)."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
import test_conv
import test_eltwise
import test_fc
import test_pool
from hypothesis import given, settings
from hypothesis import strategies as st

from int8rt import _native
from int8rt.reference import conv as ref
from tests.kernels import one_op

PATHS = _native.available_isas()
ROOT = Path(__file__).resolve().parents[2]  # the subprocess imports this checkout's int8rt


@pytest.fixture(scope="module", params=PATHS, autouse=True)
def isa_path(request: pytest.FixtureRequest) -> Iterator[str]:
    # module scope: hypothesis rejects function-scoped fixtures around @given tests
    before = _native.isa()
    _native.set_isa(request.param)
    assert _native.isa() == request.param
    yield request.param
    _native.set_isa(before)


# Native-vs-reference tests of the families with per-path kernels (gemm users, depthwise inside
# conv2d, element-wise add / mul, max pooling), re-collected under the path fixture. Tests of
# the reference alone do not depend on the path.
for _mod in (test_conv, test_fc, test_eltwise, test_pool):
    for _name, _fn in vars(_mod).items():
        if _name.startswith("test_") and "reference" not in _name and callable(_fn):
            globals()[f"test_{_mod.__name__[5:]}__{_name[5:]}"] = _fn
del _mod, _name, _fn


def test_path_is_what_runs(isa_path: str) -> None:
    assert _native.isa() == isa_path


# ---- extra gemm checks across paths: shapes around the 2x4 tile and the 16-wide k block ----

def _fc_case(rng: np.random.Generator, m: int, k: int, n: int, lo: int = -128, hi: int = 128):
    x = rng.integers(lo, hi, (m, k), dtype=np.int8)
    w = rng.integers(lo, hi, (n, k), dtype=np.int8)
    bias = rng.integers(-(2**20), 2**20, n).astype(np.int32)
    mult = (rng.uniform(0.5, 2.0, n) * 30.0 / (74 * 73 * np.sqrt(k))).astype(np.float32)
    return x, {"w": w, "bias": bias, "mult": mult, "x_zp": int(rng.integers(-128, 128)),
               "y_zp": int(rng.integers(-128, 128))}


@settings(max_examples=60, deadline=None)
@given(m=st.integers(1, 9), k=st.integers(1, 80), n=st.integers(1, 13),
       out_f32=st.sampled_from([0, 1]), seed=st.integers(0, 2**32 - 1))
def test_fc_random_shapes(m: int, k: int, n: int, out_f32: int, seed: int) -> None:
    x, kw = _fc_case(np.random.default_rng(seed), m, k, n)
    kw["out_f32"] = out_f32
    assert np.array_equal(one_op.fc(x, **kw), ref.fc(x, **kw))


@pytest.mark.parametrize("xv,wv", [(-128, -128), (-128, 127), (127, 127)])
def test_fc_extreme_products_large_k(xv: int, wv: int) -> None:
    # every product at its extreme (2^14 for -128 * -128), K odd so the k tail is exercised;
    # x_zp = 0 so the true accumulator is xv * wv * K, inside int32 (QUANTIZATION.md §3)
    k = 65_521
    x = np.full((3, k), xv, np.int8)
    w = np.full((5, k), wv, np.int8)
    kw = {"w": w, "bias": np.zeros(5, np.int32), "mult": np.full(5, 1.0 / 2**23, np.float32),
          "x_zp": 0, "y_zp": 0}
    for f32 in (0, 1):
        got = one_op.fc(x, **kw, out_f32=f32)
        assert np.array_equal(got, ref.fc(x, **kw, out_f32=f32))


def test_requantize_ties_round_half_even() -> None:
    # acc * mult lands exactly on .5 steps: the vector epilogue must round ties to even like
    # lrintf, and the clamp must bite at both ends
    k, n = 1, 8
    x = np.arange(-128, 128, dtype=np.int8).reshape(-1, 1)
    w = np.ones((n, k), np.int8)
    kw = {"w": w, "bias": np.zeros(n, np.int32), "mult": np.full(n, 0.5, np.float32),
          "x_zp": 0, "y_zp": 3, "qmin": -100, "qmax": 50}
    got = one_op.fc(x, **kw)
    assert np.array_equal(got, ref.fc(x, **kw))
    assert np.array_equal(got[:, 0], np.clip(np.rint(x[:, 0] * 0.5) + 3, -100, 50))


# ---- selection ------------------------------------------------------------------------------

def test_scalar_always_available() -> None:
    assert PATHS[0] == "scalar"
    assert set(PATHS) <= set(_native.known_isas())


def test_unknown_name_is_value_error() -> None:
    before = _native.isa()
    with pytest.raises(ValueError, match="unknown ISA 'sse9'"):
        _native.set_isa("sse9")
    assert _native.isa() == before


def test_unavailable_path_is_value_error() -> None:
    missing = [n for n in _native.known_isas() if n not in PATHS]
    if not missing:
        pytest.skip("every known path is available here")
    before = _native.isa()
    with pytest.raises(ValueError, match="not available"):
        _native.set_isa(missing[-1])
    assert _native.isa() == before


def test_features_match_paths() -> None:
    feats = _native.cpu_features()
    assert set(feats) == {"avx2", "avx_vnni", "avx512_vnni", "avx512_vbmi", "neon", "neon_dot"}
    if not os.environ.get("INT8RT_ISA"):
        assert ("avx2" in PATHS) == feats["avx2"]


def _isa_in_subprocess(env_isa: str) -> tuple[list[str], str]:
    code = "from int8rt import _native; print(_native.isa(), *_native.available_isas())"
    env = {**os.environ, "INT8RT_ISA": env_isa}
    out = subprocess.run([sys.executable, "-W", "error::RuntimeWarning", "-c", code],
                         check=False, env=env, cwd=ROOT, capture_output=True, text=True)
    return out.stdout.split(), out.stderr


def test_env_cap_scalar() -> None:
    words, err = _isa_in_subprocess("scalar")
    assert words == ["scalar", "scalar"], err


def test_env_cap_above_machine_falls_back() -> None:
    # a cap above the CPU selects the best path the CPU has, never an illegal instruction
    words, err = _isa_in_subprocess(_native.known_isas()[-1])
    best = [n for n in _native.known_isas() if n in _native.available_isas()][-1]
    assert words[0] == best, err


def test_env_unknown_name_warns() -> None:
    words, err = _isa_in_subprocess("bogus")
    assert not words and "RuntimeWarning" in err and "bogus" in err


# ---- AVX2 K2N16 gemm tiles (6 rows x 16 channels) and the int16 row blocks ------------------

@pytest.mark.parametrize("m", [1, 5, 6, 7, 13])
@pytest.mark.parametrize("n", [1, 15, 16, 17, 33])
@pytest.mark.parametrize("k", [1, 2, 3, 17, 130])
def test_fc_tile_edges(m: int, n: int, k: int) -> None:
    # partial row tiles (m % 6), partial channel blocks (n % 16), odd k and k not a
    # multiple of the 16-wide widening block; both epilogues
    x, kw = _fc_case(np.random.default_rng(m * 1000 + n * 10 + k), m, k, n)
    for f32 in (0, 1):
        assert np.array_equal(one_op.fc(x, **kw, out_f32=f32), ref.fc(x, **kw, out_f32=f32))


@pytest.mark.parametrize("m,k", [(700, 100), (90, 1536), (13, 4608)])
def test_fc_row_blocks(m: int, k: int) -> None:
    # more rows than one int16 row block of the scratch (~128 KB), so blocks and the last
    # partial block are exercised; K up to ResNet-18's 3x3x512
    x, kw = _fc_case(np.random.default_rng(m + k), m, k, 40)
    assert np.array_equal(one_op.fc(x, **kw), ref.fc(x, **kw))


@pytest.mark.parametrize("x_zp,y_zp", [(-128, 127), (127, -128), (0, 0)])
def test_fc_extremes_zero_point_ends(x_zp: int, y_zp: int) -> None:
    rng = np.random.default_rng(7)
    m, k, n = 8, 1000, 20
    x = rng.choice(np.array([-128, 127], np.int8), (m, k))
    w = rng.choice(np.array([-128, 127], np.int8), (n, k))
    kw = {"w": w, "bias": rng.integers(-(2**24), 2**24, n).astype(np.int32),
          "mult": np.full(n, 1.0 / 2**17, np.float32), "x_zp": x_zp, "y_zp": y_zp}
    assert np.array_equal(one_op.fc(x, **kw), ref.fc(x, **kw))


# ---- depthwise (AVX2: pairs of taps over 16-channel blocks) -------------------------------

def _dw_case(rng: np.random.Generator, c: int, k: tuple[int, int], stride: int, dil: int,
             pads: tuple[int, int, int, int], h: int = 9, w: int = 10, x_zp: int = 37,
             y_zp: int = -5, extreme: bool = False):
    if extreme:
        x = rng.choice(np.array([-128, 127], np.int8), (2, h, w, c))
        wt = rng.choice(np.array([-128, 127], np.int8), (c, k[0], k[1], 1))
    else:
        x = rng.integers(-128, 128, (2, h, w, c), dtype=np.int8)
        wt = rng.integers(-128, 128, (c, k[0], k[1], 1), dtype=np.int8)
    taps = k[0] * k[1]
    kw = {"w": wt, "bias": rng.integers(-20000, 20000, c).astype(np.int32),
          "mult": (rng.uniform(0.5, 2.0, c) * 40.0 / (74 * 73 * np.sqrt(taps))
                   ).astype(np.float32),
          "stride_h": stride, "stride_w": stride, "dil_h": dil, "dil_w": dil,
          "pad_t": pads[0], "pad_l": pads[1], "pad_b": pads[2], "pad_r": pads[3],
          "groups": c, "x_zp": x_zp, "y_zp": y_zp}
    return x, kw


@pytest.mark.parametrize("c", [1, 8, 16, 17, 31, 48, 104])
@pytest.mark.parametrize("k,stride,dil,pads", [
    ((3, 3), 1, 1, (1, 1, 1, 1)), ((3, 3), 2, 1, (0, 1, 1, 0)), ((3, 3), 2, 1, (1, 1, 1, 1)),
    ((5, 5), 1, 1, (2, 2, 2, 2)), ((5, 5), 2, 1, (1, 2, 2, 1)), ((5, 5), 1, 2, (4, 4, 4, 4)),
    ((1, 3), 1, 1, (0, 1, 0, 1)), ((2, 2), 1, 1, (0, 0, 1, 1)), ((7, 7), 2, 1, (3, 3, 3, 3)),
    ((1, 1), 1, 1, (0, 0, 0, 0))])
def test_depthwise_sweep(c: int, k: tuple[int, int], stride: int, dil: int,
                         pads: tuple[int, int, int, int]) -> None:
    # channel tails (c % 16), odd and even tap counts (1, 3, 4, 9, 25, 49: beyond 25 taps the
    # AVX2 kernel works in chunks), strides, dilation, pads on every side; both epilogues
    x, kw = _dw_case(np.random.default_rng(c * 1000 + k[0] * 10 + stride), c, k, stride, dil,
                     pads)
    for f32 in (0, 1):
        assert np.array_equal(one_op.conv2d(x, **kw, out_f32=f32),
                              ref.conv2d(x, **kw, out_f32=f32))


@pytest.mark.parametrize("x_zp,y_zp", [(-128, 127), (127, -128)])
@pytest.mark.parametrize("k", [(3, 3), (5, 5), (11, 11)])
def test_depthwise_extremes(x_zp: int, y_zp: int, k: tuple[int, int]) -> None:
    # operands only -128 / 127 and zero points at the ends: every pair sum at its bound
    x, kw = _dw_case(np.random.default_rng(k[0]), 40, k, 1, 1, (k[0] // 2,) * 4, h=12, w=12,
                     x_zp=x_zp, y_zp=y_zp, extreme=True)
    kw["mult"] = np.full(40, 1.0 / 2**12, np.float32)
    assert np.array_equal(one_op.conv2d(x, **kw), ref.conv2d(x, **kw))


# ---- a plan packed under one path runs under every other ---------------------------------

def test_packed_under_one_path_runs_under_all() -> None:
    import int8rt
    from tests.models.digits import NPZ_PATH
    from tests.models.fixtures import calib_and_eval_images, onnx_model_path

    name = "digits_cnn"
    # the ONNX model and its data live in the source checkout (tools/data, int8rt/data);
    # against an installed package (the Pi chroots) the test has nothing to load
    pytest.importorskip("onnx")
    if not onnx_model_path(name).exists() or not NPZ_PATH.exists():
        pytest.skip("needs the source checkout's digits model and data")
    calib, evals = calib_and_eval_images(name, 8, 4)
    qm = int8rt.quantize(str(onnx_model_path(name)), [calib], progress=False)
    before = _native.isa()
    try:
        outs, packed_bytes = {}, {}
        for pack_path in PATHS:
            _native.set_isa(pack_path)
            sess = int8rt.Session(qm, threads=1)
            feed = {sess.get_inputs()[0].name: evals}
            # the plan of this batch size is built (its weights packed) under pack_path; the
            # runs under the other paths reuse it: no blob is packed after this one
            outs[pack_path, pack_path] = sess.run(None, feed)[0]
            packs = sess._packed_weights.packs
            packed_bytes[pack_path] = sum(b.nbytes for b in sess._packed_weights._blobs.values())
            for run_path in PATHS:
                _native.set_isa(run_path)
                outs[pack_path, run_path] = sess.run(None, feed)[0]
            assert sess._packed_weights.packs == packs, pack_path
        first = next(iter(outs.values()))
        for key, out in outs.items():
            assert np.array_equal(out, first), key
        # the model's 3x3 convs over 16 and 32 channels: Winograd under avx2 (larger streams),
        # im2col panels on the paths that never pack Winograd (the same bytes on each)
        if "avx2" in PATHS:
            assert packed_bytes["avx2"] > packed_bytes["scalar"]
        for path in PATHS:
            if path not in ("avx2", "neon"):
                assert packed_bytes[path] == packed_bytes["scalar"], path
    finally:
        _native.set_isa(before)
