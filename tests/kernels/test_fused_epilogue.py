"""Fused epilogue post-ops (kernels.h i8_post_params, docs/KERNELS.md "Fused epilogues"): a
table lookup and a residual add after the requantization, in every gemm kernel set (native
where this CPU runs it, the portable emulations everywhere) and in conv2d on every available
path (depthwise, 1x1, im2col), equal to the unfused reference: the product, then the lut
kernel, then the add kernel. Tolerance zero; the add's multipliers are 2^-shift scales, so
ties (.5 after scaling) occur, and the residual and table cover every int8 code."""

from __future__ import annotations

import numpy as np
import pytest

from int8rt import _native
from int8rt.reference import conv as ref
from int8rt.reference import elementwise as ew
from tests.kernels import one_op
from tests.kernels.test_gemm import SETS, case, fit_weights

POSTS = {
    "lut": {"lut": 1},
    "add": {"add": 1, "a_zp": -7, "b_zp": 100, "a_mult": 1 << 20, "b_mult": -(3 << 19),
            "mult": 2.0 ** -20, "y_zp": 3, "qmin": -128, "qmax": 127},
    # ReLU-clamped add with zero points at the ends, after a table
    "lut+add": {"lut": 1, "add": 1, "a_zp": 127, "b_zp": -128, "a_mult": 3 << 18,
                "b_mult": 5 << 17, "mult": 2.0 ** -19, "y_zp": -128, "qmin": -128, "qmax": 90},
}


def _table(rng: np.random.Generator) -> np.ndarray:
    return rng.integers(-128, 128, 256, dtype=np.int8)


def _expected(y: np.ndarray, post: dict, table: np.ndarray, res: np.ndarray) -> np.ndarray:
    if post.get("lut"):
        y = ew.lut(y, table).reshape(y.shape)
    if post.get("add"):
        y = ew.add(y.reshape(-1), res.reshape(-1), ndim=1, shape=(y.size,), a_stride=(1,),
                   b_stride=(1,), a_zp=post["a_zp"], b_zp=post["b_zp"], y_zp=post["y_zp"],
                   a_mult=post["a_mult"], b_mult=post["b_mult"], mult=post["mult"],
                   qmin=post["qmin"], qmax=post["qmax"]).reshape(y.shape)
    return y


@pytest.mark.parametrize("post", list(POSTS), ids=list(POSTS))
@pytest.mark.parametrize("kd", SETS)
@pytest.mark.parametrize("m,k,n", [(1, 5, 1), (7, 33, 17), (13, 64, 48), (9, 20, 40),
                                   (17, 100, 70)])
def test_gemm_sets_post(kd: dict, post: str, m: int, k: int, n: int) -> None:
    """Partial row and column tiles of every set, and c_cols > n (nothing written past n)."""
    rng = np.random.default_rng(m * 1000 + k * 10 + n)
    a, kw = case(rng, m, k, n, qmin=-100, qmax=120)
    kw["w"] = fit_weights(kd, kw["w"])
    table, cc = _table(rng), n + 3
    res = rng.integers(-128, 128, (m, cc), dtype=np.int8)
    res[0, : min(n, 2)] = (-128, 127)[: min(n, 2)]
    expected = _expected(ref.fc(a, **kw), POSTS[post], table, res[:, :n])
    got = _native.gemm(kd["name"], a, c_cols=cc, **kw, post=POSTS[post], table=table, res=res)
    assert np.array_equal(got[:, :n], expected), \
        f"{kd['name']}: {int((got[:, :n] != expected).sum())} mismatches"
    assert np.all(got[:, n:] == 0x55)


@pytest.mark.parametrize("post", list(POSTS), ids=list(POSTS))
def test_gemm_no_scratch_fallback_post(post: str) -> None:
    rng = np.random.default_rng(11)
    a, kw = case(rng, 5, 23, 20)
    table = _table(rng)
    res = rng.integers(-128, 128, (5, 20), dtype=np.int8)
    expected = _expected(ref.fc(a, **kw), POSTS[post], table, res)
    for kd in _native.gemm_kernels():
        if kd["runnable"] and not kd["w_max"]:
            got = _native.gemm(kd["name"], a, **kw, scratch=False, post=POSTS[post],
                               table=table, res=res)
            assert np.array_equal(got, expected), kd["name"]
    for kd in _native.gemm_kernels():  # the small-weight sets (avx2ubs) on weights they take
        if kd["runnable"] and kd["w_max"]:
            kw7 = {**kw, "w": fit_weights(kd, kw["w"])}
            want = _expected(ref.fc(a, **kw7), POSTS[post], table, res)
            got = _native.gemm(kd["name"], a, **kw7, scratch=False, post=POSTS[post],
                               table=table, res=res)
            assert np.array_equal(got, want), kd["name"]


CONVS = {  # name: (x shape, oc, k, groups, stride, pad)
    "dw3x3": ((1, 6, 9, 40), 40, 3, 40, 1, 1),
    "dw5x5s2": ((1, 9, 8, 24), 24, 5, 24, 2, 2),
    "1x1": ((2, 5, 7, 24), 40, 1, 1, 1, 0),
    "im2col": ((1, 7, 6, 12), 33, 3, 1, 1, 1),
    "grouped": ((1, 5, 5, 16), 24, 3, 4, 2, 1),
}


@pytest.mark.parametrize("post", list(POSTS), ids=list(POSTS))
@pytest.mark.parametrize("conv", list(CONVS), ids=list(CONVS))
def test_conv2d_post_every_path(path: str, conv: str, post: str) -> None:
    shape, oc, k, groups, stride, pad = CONVS[conv]
    rng = np.random.default_rng(len(conv) * 7 + len(post))
    x = rng.integers(-128, 128, shape, dtype=np.int8)
    w = rng.integers(-127, 128, (oc, k, k, shape[3] // groups), dtype=np.int8)
    bias = rng.integers(-3000, 3000, oc).astype(np.int32)
    mult = (rng.uniform(0.5, 2.0, oc) * 30 / (74 * 73 * np.sqrt(k * k * shape[3] / groups))
            ).astype(np.float32)
    kw = {"w": w, "bias": bias, "mult": mult, "stride_h": stride, "stride_w": stride,
          "dil_h": 1, "dil_w": 1, "pad_t": pad, "pad_l": pad, "pad_b": pad, "pad_r": pad,
          "groups": groups, "x_zp": -9, "y_zp": 5, "qmin": -120, "qmax": 127}
    y0 = ref.conv2d(x, **kw)
    table = _table(rng)
    res = rng.integers(-128, 128, y0.shape, dtype=np.int8)
    got = one_op.conv2d(x, res, **kw, post=POSTS[post], table=table)
    assert np.array_equal(got, _expected(y0, POSTS[post], table, res)), path


def test_binding_refuses_bad_post() -> None:
    rng = np.random.default_rng(0)
    a, kw = case(rng, 3, 8, 4)
    name = _native.gemm_kernels()[0]["name"]
    with pytest.raises(ValueError, match="table"):
        _native.gemm(name, a, **kw, post={"lut": 1}, table=np.zeros(10, np.int8))
    with pytest.raises(ValueError, match="shape"):
        _native.gemm(name, a, **kw, post=POSTS["add"], res=np.zeros((3, 5), np.int8))
    with pytest.raises(ValueError, match="unknown"):
        _native.gemm(name, a, **kw, post={"relu": 1})


def test_bench_helpers_run_without_post_ops() -> None:
    """The benchmark bindings fill the post params themselves (no post-op, nothing missing)."""
    assert len(_native.fc_run_times(4, 8, 4, repeats=2)) == 2
    conv = _native.PackedConv2d(1, 5, 5, 8, 8, 3, pad=1)
    conv.run()
    assert conv.macs == 5 * 5 * 8 * 8 * 9
