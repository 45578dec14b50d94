"""The gemm core, every kernel set (native where this CPU runs it, and the portable emulations
of every ISA's dot everywhere) == the numpy reference, tolerance zero (docs/QUANTIZATION.md,
docs/KERNELS.md "gemm"). The sweep: k below / equal / above / multiples of every unroll
(2, 4, 16), partial row and column tiles of every tile shape, strided a, padded (im2col) rows,
both clamps, extreme zero points, the float32 epilogue, a long K at the int32 bound, values
that land exactly on .5 after scaling, and the no-scratch fallback. Test ids say native or
emu; the terminal summary lists which sets ran natively (tests/kernels/conftest.py)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from int8rt import _native
from int8rt.reference import conv as ref

ROOT = Path(__file__).resolve().parents[2]
KERNELS = _native.gemm_kernels()


def _param(k: dict):
    kind = "native" if k["native"] else "emu"
    marks = [] if k["runnable"] else [pytest.mark.skip(reason=f"CPU lacks {k['name']}")]
    return pytest.param(k, id=f"{k['name']}-{kind}", marks=marks)


SETS = [_param(k) for k in KERNELS]


def case(rng: np.random.Generator, m: int, k: int, n: int, lda: int | None = None,
         x_zp: int = -11, y_zp: int = 4, qmin: int = -128, qmax: int = 127, steps: float = 40.0):
    a = rng.integers(-128, 128, (m, lda or k), dtype=np.int8)
    w = rng.integers(-127, 128, (n, k), dtype=np.int8)
    bias = rng.integers(-50000, 50000, n).astype(np.int32)
    mult = (rng.uniform(0.5, 2.0, n) * steps / (74 * 73 * np.sqrt(k))).astype(np.float32)
    # tie channels: one tap of weight +-1 and mult 0.5 / 1.5, so about half of their outputs
    # are exactly .5 after scaling (both signs): every case checks round half to even
    for j, wt, mu in ((0, 1, 0.5), (n - 1, -1, 1.5))[: min(n, 2)]:
        w[j] = 0
        w[j, k // 2] = wt
        bias[j] = rng.integers(-20, 21)
        mult[j] = mu
    return a, {"w": w, "bias": bias, "mult": mult, "x_zp": x_zp, "y_zp": y_zp, "qmin": qmin,
               "qmax": qmax}


def fit_weights(kd: dict, w: np.ndarray) -> np.ndarray:
    """w for set kd: a set exact only on small weights (avx2ubs, w_max 64) gets them clipped
    to its bound, so the sweep's extremes (+-127, -128) become +-64."""
    lim = kd["w_max"]
    return np.clip(w, -lim, lim).astype(np.int8) if lim else w


def check(kd: dict, a: np.ndarray, kw: dict, k: int | None = None, c_cols: int | None = None,
          **opts) -> np.ndarray:
    k = a.shape[1] if k is None else k
    kw = {**kw, "w": fit_weights(kd, kw["w"])}
    n = kw["w"].shape[0]
    expected = ref.fc(np.ascontiguousarray(a[:, :k]), **kw, out_f32=opts.get("out_f32", 0))
    got = _native.gemm(kd["name"], a, k=k, c_cols=c_cols, **kw, **opts)
    assert np.array_equal(got[:, :n], expected), \
        f"{kd['name']}: {int((got[:, :n] != expected).sum())} mismatches"
    if c_cols and c_cols > n:  # nothing written past the n columns
        rest = got[:, n:]
        assert (np.isnan(rest).all() if rest.dtype == np.float32 else (rest == 0x55).all())
    return got


def rows_for(kd: dict) -> tuple[int, ...]:
    mr = kd["mr"]
    rows = {1, mr - 1, mr, mr + 1, 2 * mr + 3}
    if kd["w_max"]:  # avx2ubs hands partial tiles of <= 4 rows to its 4-row tile
        rows |= {3, 4, mr + 4}
    return tuple(sorted(rows))


def cols_for(kd: dict) -> tuple[int, ...]:
    out = {1, 3, 4, 5}
    for nr in kd["tiles"]:
        out |= {nr - 1, nr, nr + 1}
    out |= {kd["tiles"][0] * 2 + 17}
    return tuple(sorted(x for x in out if x > 0))


K_SWEEP = (1, 2, 3, 4, 5, 7, 8, 15, 16, 17, 24, 31, 32, 33, 56, 63, 64, 100)


@pytest.mark.parametrize("k", K_SWEEP)
@pytest.mark.parametrize("kd", SETS)
def test_shapes(kd: dict, k: int) -> None:
    """Every partial row / column tile of every tile width, k around every unroll."""
    rng = np.random.default_rng(k)
    for m in rows_for(kd):
        for n in cols_for(kd):
            a, kw = case(rng, m, k, n)
            check(kd, a, kw)


@pytest.mark.parametrize("kd", SETS)
@pytest.mark.parametrize("k,lda", [(5, 9), (16, 40), (33, 48), (100, 101)])
def test_strided_a_and_c(kd: dict, k: int, lda: int) -> None:
    """a rows longer than k (the 1x1 conv of a group), c rows longer than n."""
    rng = np.random.default_rng(lda)
    for n in (7, 16, 40):
        a, kw = case(rng, kd["mr"] + 3, k, n, lda=lda)
        check(kd, a, kw, k=k, c_cols=n + 9)
        check(kd, a, {**kw, "mult": kw["mult"] * np.float32(1000)}, k=k, c_cols=n + 3,
              out_f32=1)


@pytest.mark.parametrize("kd", SETS)
@pytest.mark.parametrize("m,k,n", [(601, 16, 40), (300, 24, 16), (517, 64, 33), (9, 1000, 40)])
def test_row_chunks_and_wide_panels(kd: dict, m: int, k: int, n: int) -> None:
    """Many rows (the driver's chunks of rows per `_rows` call, an odd last row) and a panel
    too large for the rows-outer loop (k = 1000: each column block over every row at once)."""
    rng = np.random.default_rng(m + k)
    a, kw = case(rng, m, k, n)
    check(kd, a, kw, c_cols=n + 5)
    check(kd, a, {**kw, "mult": kw["mult"] * np.float32(1000)}, out_f32=1)


@pytest.mark.parametrize("kd", SETS)
@pytest.mark.parametrize("k", (3, 16, 27, 100))
def test_padded_rows(kd: dict, k: int) -> None:
    """Rows zero-padded to kp and the panel's k raised to kp, as the im2col conv runs it."""
    rng = np.random.default_rng(k + 7)
    a, kw = case(rng, 2 * kd["mr"] + 1, k, 37)
    check(kd, a, kw, pad_rows=True)


@pytest.mark.parametrize("kd", SETS)
@pytest.mark.parametrize("qmin,qmax", [(-128, 127), (0, 127), (-3, 6), (10, 10)])
@pytest.mark.parametrize("x_zp,y_zp", [(-128, -128), (127, 127), (-128, 127), (127, -128)])
def test_zero_points_and_clamps(kd: dict, qmin: int, qmax: int, x_zp: int, y_zp: int) -> None:
    rng = np.random.default_rng(qmin * 7 + qmax * 3 + x_zp - y_zp + 1000)
    a, kw = case(rng, kd["mr"] + 2, 70, 35, x_zp=x_zp, y_zp=y_zp, qmin=qmin, qmax=qmax,
                 steps=200.0)
    a[:, ::3] = -128
    a[:, 1::3] = 127
    kw["w"][:, ::5] = -127
    kw["w"][:, 1::5] = 127
    y = check(kd, a, kw)
    assert y.min() >= qmin and y.max() <= qmax
    assert (y == qmin).any() and (y == qmax).any()  # both clamps active


@pytest.mark.parametrize("kd", SETS)
@pytest.mark.parametrize("mult", (0.5, 0.25, 1.5))
def test_half_ties(kd: dict, mult: float) -> None:
    """acc * mult exactly on .5 for many outputs: round half to even, both signs."""
    rng = np.random.default_rng(int(mult * 100))
    m, k, n = 2 * kd["mr"] + 1, 24, 40
    a = rng.integers(-4, 5, (m, k), dtype=np.int8)
    w = rng.integers(-3, 4, (n, k), dtype=np.int8)
    kw = {"w": w, "bias": rng.integers(-5, 6, n).astype(np.int32),
          "mult": np.full(n, mult, np.float32), "x_zp": 1, "y_zp": -3, "qmin": -128,
          "qmax": 127}
    acc = (a.astype(np.int64) - 1) @ w.T.astype(np.int64) + kw["bias"]
    frac = np.abs(acc * mult) % 1
    assert (frac == 0.5).mean() > 0.2  # the test exercises ties
    check(kd, a, kw)


@pytest.mark.parametrize("kd", SETS)
def test_float32_epilogue(kd: dict) -> None:
    rng = np.random.default_rng(11)
    for n in (5, 16, 50):
        a, kw = case(rng, kd["mr"] + 1, 37, n, x_zp=17)
        kw["mult"] = rng.uniform(-1e-3, 1e-3, n).astype(np.float32)
        kw["mult"][0] = 1e-40  # a denormal multiplier stays a denormal product
        check(kd, a, kw, out_f32=1)


@pytest.mark.parametrize("kd", SETS)
def test_long_k_at_the_int32_bound(kd: dict) -> None:
    """K = 66000 (the lowering's bound) with every product at its largest: |acc| just below
    2^31, while the folded bias alone (-(x_zp [+ 128]) * sum w) is far outside int32."""
    k, n = 66000, 3
    a = np.full((2, k), -128, np.int8)
    w = np.full((n, k), -127, np.int8)
    w[1] = 127
    w[2, ::2] = 127
    kw = {"w": w, "bias": np.array([1000, -1000, 7], np.int32),
          "mult": np.full(n, 1.0, np.float32), "x_zp": 127, "y_zp": 0, "qmin": -128,
          "qmax": 127}
    acc = (a.astype(np.int64) - 127) @ w.T.astype(np.int64) + kw["bias"]
    assert np.abs(acc).max() > 2**31 - 2**24 and np.abs(acc).max() < 2**31
    check(kd, a, kw, out_f32=1)
    check(kd, a, {**kw, "mult": np.full(n, 1e-7, np.float32)})


@pytest.mark.parametrize("kd", SETS)
def test_without_scratch(kd: dict) -> None:
    """A caller without work space gets the driver's portable loop, same results."""
    rng = np.random.default_rng(3)
    a, kw = case(rng, 9, 33, 21)
    check(kd, a, kw, scratch=False)
    check(kd, a, kw, scratch=False, pad_rows=True)


@pytest.mark.parametrize("kd", SETS)
def test_minus_128_weights(kd: dict) -> None:
    # -128 is outside the weight contract (docs/QUANTIZATION.md §2) but a foreign model may
    # hold it: with every weight and activation -128, any two products added in one int16 lane
    # (neon_pair, neonmlal and its twin) reach 32,768 and wrap. The driver must run such a
    # panel with one product per lane (neon, neonmull, the neondot4 twin) and stay exact.
    rng = np.random.default_rng(128)
    for m, k, n in ((3, 16, 17), (5, 40, 33)):
        a, kw = case(rng, m, k, n, x_zp=0, y_zp=0, steps=4.0)
        a[:] = -128
        kw["w"][1:n - 1] = -128
        kw["mult"][:] = np.float32(1.0 / (2 ** 14 * k))
        check(kd, a, kw)


W_MAX_SETS = [_param(k) for k in KERNELS if k["w_max"]]


@pytest.mark.parametrize("kd", W_MAX_SETS)
@pytest.mark.parametrize("k", (1, 2, 3, 4, 5, 7, 8, 16, 17, 31, 33, 64, 100, 385))
def test_small_weight_sets_at_their_bound(kd: dict, k: int) -> None:
    """avx2ubs (vpmaddubsw): every u8 x s8 pair at the int16 edge, 2 * 255 * (+-64) =
    +-32,640 (activations 127 -> u8 255, weights +-64), activations -128 (u8 0) too, k tails
    around every unroll; == the reference."""
    lim = kd["w_max"]
    rng = np.random.default_rng(k + 64)
    m, n = 2 * kd["mr"] + 1, 40
    a = np.full((m, k), 127, np.int8)
    a[1] = -128
    a[2, ::2] = -128
    a[3:] = rng.choice(np.array([-128, 127, 0, -1], np.int8), (m - 3, k))
    w = rng.choice(np.array([-lim, lim], np.int8), (n, k))
    w[0], w[1] = lim, -lim
    kw = {"w": w, "bias": rng.integers(-9, 10, n).astype(np.int32),
          "mult": np.full(n, 1.0 / (255 * lim * k), np.float32) * 100, "x_zp": -128,
          "y_zp": 0, "qmin": -128, "qmax": 127}
    check(kd, a, kw)
    check(kd, a, {**kw, "x_zp": 0}, out_f32=1)


@pytest.mark.parametrize("kd", W_MAX_SETS)
def test_small_weight_sets_refuse_larger_weights(kd: dict) -> None:
    a = np.zeros((2, 4), np.int8)
    for bad in (kd["w_max"] + 1, -kd["w_max"] - 1, -128):
        w = np.zeros((3, 4), np.int8)
        w[1, 2] = bad
        with pytest.raises(ValueError, match="exact only for weights within"):
            _native.gemm(kd["name"], a, w=w, bias=np.zeros(3, np.int32),
                         mult=np.ones(3, np.float32), x_zp=0, y_zp=0)


def test_every_x86_set_has_an_emulation() -> None:
    names = {k["name"] for k in KERNELS}
    assert "neonmlal_emu" in names and "neondot4_emu" in names  # the aarch64 sets' twins
    # the x86 sets (native on an x86 host); on an ARM host KERNELS lists the NEON sets instead,
    # whose twins are the two named above. sse2: the x86-64 baseline, native on every x86 host
    for k in KERNELS:
        if (k["native"] and k["layout"] != "rows" and k["name"] != "sse2"
                and not k["name"].startswith("neon")):
            base = k["name"].removesuffix("_evex")
            assert f"{base}_emu" in names, k["name"]
            emu = next(e for e in KERNELS if e["name"] == f"{base}_emu")
            assert (emu["mr"], emu["tiles"], emu["layout"]) == (k["mr"], k["tiles"], k["layout"])


def test_bad_input() -> None:
    a = np.zeros((2, 4), np.int8)
    kw = {"w": np.zeros((3, 4), np.int8), "bias": np.zeros(3, np.int32),
          "mult": np.ones(3, np.float32), "x_zp": 0, "y_zp": 0}
    with pytest.raises(ValueError, match="unknown kernel"):
        _native.gemm("nope", a, **kw)
    with pytest.raises(ValueError):
        _native.gemm("scalar", a, k=5, **kw)
    with pytest.raises(ValueError):
        _native.gemm("scalar", a, c_cols=2, **kw)
    with pytest.raises(TypeError):
        _native.gemm("scalar", a.astype(np.int16), **kw)


def test_generated_tiles_are_up_to_date() -> None:
    if not (ROOT / "tools" / "gen_gemm_tiles.py").exists():  # an installed package's tests
        pytest.skip("needs the source checkout (tools/gen_gemm_tiles.py, csrc/)")
    r = subprocess.run([sys.executable, str(ROOT / "tools" / "gen_gemm_tiles.py"), "--check"],
                       capture_output=True, text=True, check=False)
    assert r.returncode == 0, r.stdout + r.stderr
