"""The dynamic int8 matmul on every kernel path this CPU runs (csrc/kernels/dynq): on AVX2 and
up the rows are quantized straight into the gemm's prepared activation rows (u8 for the VNNI
sets, int16 for avx2) in blocks; the result must equal the numpy reference bit for bit on
every path, including k tails that are not a multiple of the vector width, rows longer than
one block, an all-zero row, round-half-to-even ties and rows at the clamp."""

from __future__ import annotations

import numpy as np
import pytest

from int8rt.reference import dynq as ref
from tests.dynamic.helpers import run_op

F32 = np.float32


def activations(m: int, k: int, seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    x = (rng.standard_normal((m, k)) * 3.0).astype(F32)
    if m > 3:
        x[1] = 0.0  # all zero: scale 1, q 0
        # amax 127 makes 127 / amax exactly 1: these products sit on .5 ties
        x[2, :] = 0.0
        x[2, :min(k, 9)] = [127.0, 0.5, -0.5, 1.5, -1.5, 2.5, -2.5, 126.5, -127.0][:min(k, 9)]
        x[3] = -x[3] * 1e20  # large magnitudes, still finite
    return x


@pytest.mark.parametrize("m,k,n", [(1, 7, 3), (5, 33, 17), (17, 100, 40), (64, 384, 48),
                                   (300, 1536, 20), (9, 2055, 33)])
def test_dynq_matmul_every_path(path, m, k, n):
    x = activations(m, k, seed=m * 1000 + k)
    rng = np.random.default_rng(k)
    qw = rng.integers(-127, 128, (n, k), dtype=np.int16).astype(np.int8)
    qw[0] = 127  # every product at its maximum
    sw = (rng.random(n) * 0.02 + 1e-3).astype(F32)
    bias = rng.standard_normal(n).astype(F32)
    for b in (bias, None):
        consts = {"qw": qw, "sw": sw} if b is None else {"qw": qw, "sw": sw, "b": b}
        (y,) = run_op("DynQLinear", {"x": x}, consts, attrs={"per_row": 1})
        assert np.array_equal(y, ref.dynq_matmul(x, qw, sw, b, True)), path


def gelu_graph(m, k, n, qw, sw, bias):
    from int8rt import ir

    t = {"x": ir.Tensor("x", (m, k), "float32"),
         "qw": ir.Tensor("qw", qw.shape, "int8", data=qw),
         "sw": ir.Tensor("sw", sw.shape, "float32", data=sw),
         "b": ir.Tensor("b", bias.shape, "float32", data=bias),
         "h": ir.Tensor("h", (), "float32"), "y": ir.Tensor("y", (), "float32")}
    nodes = [ir.Node("DynQLinear", "fc", ["x", "qw", "sw", "b"], ["h"], {"per_row": 1}),
             ir.Node("Gelu", "act", ["h"], ["y"])]
    return ir.Graph(nodes, t, ["x"], ["y"], meta={"layout": "onnx"})


@pytest.mark.parametrize("m,k,n", [(3, 40, 19), (130, 384, 1536)])
def test_dynq_gelu_epilogue_equals_separate_records(path, m, k, n):
    """GELU fused into the dynamic matmul's epilogue gives the bits of the DynQLinear record
    followed by the Gelu record (the same GELU code, applied per row block)."""
    from int8rt.dynamic.lower import lower_program
    from int8rt.dynamic.specialize import specialize
    from int8rt.session import _DynamicPlan

    rng = np.random.default_rng(m + n)
    x = (rng.standard_normal((m, k)) * 2).astype(F32)
    qw = rng.integers(-127, 128, (n, k), dtype=np.int16).astype(np.int8)
    sw = (rng.random(n) * 0.01 + 1e-3).astype(F32)
    bias = rng.standard_normal(n).astype(F32)
    g = gelu_graph(m, k, n, qw, sw, bias)
    spec = specialize(g, {"x": x.shape})
    prog = lower_program(spec)
    assert [c.kernel for c in prog.calls] == ["dynq_matmul"]
    plan = _DynamicPlan(prog, spec)
    (y,) = plan.run([x])
    (h,) = run_op("DynQLinear", {"x": x}, {"qw": qw, "sw": sw, "b": bias}, attrs={"per_row": 1})
    (want,) = run_op("Gelu", {"h": h})
    assert np.array_equal(y, want)
    assert np.array_equal(plan.run([x], 2)[0], y)  # threads split rows: same bits


def test_gelu_avx512_equals_avx2():
    """The 16-lane erf-GELU does the AVX2 function's operations in its order: same bits."""
    from int8rt import _native

    if not {"avx2", "avx512vnni"} <= set(_native.available_isas()):
        pytest.skip("needs the avx2 and avx512vnni paths")
    x = np.concatenate([np.linspace(-12, 12, 4001, dtype=F32),
                        np.random.default_rng(1).standard_normal(999).astype(F32) * 3])
    before = _native.isa()
    outs = {}
    try:
        for isa in ("avx2", "avx512vnni"):
            _native.set_isa(isa)
            outs[isa] = run_op("Gelu", {"x": x})[0]
    finally:
        _native.set_isa(before)
    assert np.array_equal(outs["avx2"], outs["avx512vnni"])


@pytest.mark.parametrize("bits", [8])
@pytest.mark.parametrize("m,k,n", [(3, 64, 150), (40, 96, 64), (1, 32, 7)])
def test_weight_only_panels_every_path(path, bits, m, k, n):
    """The weight-only int8 matmul dequantizes 64-channel panels over the whole k (the last
    one narrower) and accumulates in k order from the bias: exact against the reference on
    every path, with and without bias. (int4 runs as W4A8: tests/kernels/test_w4a8.py.)"""
    rng = np.random.default_rng(m + k + n + bits)
    x = (rng.standard_normal((m, k)) * 2).astype(F32)
    q, s = ref.quantize_weight_groups(rng.standard_normal((k, n)).astype(F32), bits, 32)
    bias = rng.standard_normal(n).astype(F32)
    for b in (bias, None):
        consts = {"q": q, "s": s} if b is None else {"q": q, "s": s, "b": b}
        (y,) = run_op("WOLinear", {"x": x}, consts, attrs={"bits": bits, "group": 32})
        assert np.array_equal(y, ref.wo_matmul(x, q, s, b, bits, 32)), path


# ---- 7-bit weights (reduce_range): the avx2ubs tiles, chosen at pack time ----------------------


def seven_bit_weights(n: int, k: int, seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    qw = rng.integers(-64, 65, (n, k), dtype=np.int16).astype(np.int8)
    qw[0] = 64  # every u8 x s8 pair at +2 * 255 * 64 = 32,640 where x = 127
    if n > 1:
        qw[1] = -64
    return qw


@pytest.mark.parametrize("m,k,n", [(1, 7, 3), (5, 33, 17), (17, 100, 40), (64, 384, 48),
                                   (9, 2055, 33)])
def test_dynq_matmul_7bit_weights_every_path(path, m, k, n):
    """Weights within [-64, 64]: on avx2 the rows go u8 into the vpmaddubsw tiles (avx2ubs);
    every path equals the reference bit for bit, activations at +-127 (u8 1 / 255) included."""
    from int8rt import _native

    x = activations(m, k, seed=m + k)
    x[0, ::2] = 50.0  # q = +-127 in the first row (amax 50)
    x[0, 1::2] = -50.0
    qw = seven_bit_weights(n, k, seed=k)
    sw = (np.random.default_rng(n).random(n) * 0.02 + 1e-3).astype(F32)
    bias = np.linspace(-1, 1, n, dtype=F32)
    packed = _native.dynq_pack(qw, sw)
    want = {"avx2": "avx2ubs", "scalar": "sse2"}.get(path)
    if want:  # which set the matmul runs: the new tile on avx2 (x86-64 scalar: sse2 K2N16)
        assert _native.dynq_kernel(packed, n, k) == want
    for b in (bias, None):
        consts = {"qw": qw, "sw": sw} if b is None else {"qw": qw, "sw": sw, "b": b}
        (y,) = run_op("DynQLinear", {"x": x}, consts, attrs={"per_row": 1})
        assert np.array_equal(y, ref.dynq_matmul(x, qw, sw, b, True)), path


def test_pack_time_choice_of_the_avx2ubs_tiles():
    """On the avx2 path a panel takes the vpmaddubsw tiles only when every weight is within
    [-64, 64] (a 65 or a -65 anywhere keeps the exact int16 tiles); other paths keep their
    own sets, and a small-weight panel packed on avx2 runs exactly on every other path."""
    from int8rt import _native

    if "avx2" not in _native.available_isas():
        pytest.skip("needs the avx2 path")
    n, k = 40, 70
    sw = np.full(n, 0.01, F32)
    small = seven_bit_weights(n, k, seed=1)
    before = _native.isa()
    try:
        _native.set_isa("avx2")
        assert _native.dynq_kernel(_native.dynq_pack(small, sw), n, k) == "avx2ubs"
        for bad in (65, -65, 127, -127):
            w = small.copy()
            w[n - 1, k - 1] = bad  # the very last weight of the padded panel
            assert _native.dynq_kernel(_native.dynq_pack(w, sw), n, k) == "avx2", bad
        # a plan lowered (weights packed: K4N16 for avx2ubs) on avx2, run under every path
        from int8rt.dynamic.lower import lower_program
        from int8rt.dynamic.specialize import specialize
        from int8rt.session import _DynamicPlan
        from tests.dynamic.helpers import one_node

        x = activations(7, k, seed=5)
        g = one_node("DynQLinear", {"x": x}, {"qw": small, "sw": sw}, ["x", "qw", "sw"],
                     {"per_row": 1})
        spec = specialize(g, {"x": x.shape})
        prog = lower_program(spec)
        packed = _native.dynq_pack(small, sw)
        for other in _native.available_isas():
            _native.set_isa(other)
            name = _native.dynq_kernel(packed, n, k)
            assert name == {"scalar": "avx512vnni_emu", "avx2": "avx2ubs"}.get(other, name)
            assert name in {"avx512vnni_emu", "avx2ubs", "avxvnni", "avxvnni_evex", "avx512vnni"}
            (y,) = _DynamicPlan(prog, spec).run([x])
            assert np.array_equal(y, ref.dynq_matmul(x, small, sw, None, True)), other
    finally:
        _native.set_isa(before)
