"""Native float / dynamic-quantization kernels (csrc/kernels/f32, csrc/kernels/dynq) against
their numpy references, through the float plan.

Exact (np.array_equal): everything whose operation order the reference reproduces:
elementwise arithmetic and comparisons with broadcasting, where, gather, every copy (transpose,
expand, slice, concat, split), cast, the float matmuls (k-order accumulation), the weight-only
matmul, and the whole dynamic-int8 matmul (row quantization, int32 accumulation, float
epilogue). Tolerance (libm or summation order differs): erf / tanh / sigmoid / exp / gelu
(2 ulp-ish: rtol 1e-6, atol 1e-6), softmax and layer norm (atol 1e-6 / 2e-6).
"""

from __future__ import annotations

import numpy as np
import pytest

from int8rt import _native
from int8rt.reference import dynq as ref
from int8rt.reference.onnx_ops import run_node
from tests.dynamic.helpers import run_op

RNG = np.random.default_rng(7)
F32 = np.float32


def rand(*shape, scale=1.0):
    return (RNG.standard_normal(shape) * scale).astype(F32)


@pytest.mark.parametrize("op", ["Add", "Sub", "Mul", "Div", "Max", "Min"])
@pytest.mark.parametrize("shapes", [((2, 3, 4), (4,)), ((2, 1, 4), (1, 3, 1)), ((5,), ()),
                                    ((1, 12, 7, 7), (1, 1, 1, 7)), ((3, 4), (3, 4))])
def test_binary_exact(op, shapes):
    a, b = rand(*shapes[0]), rand(*shapes[1]) + (F32(3) if op == "Div" else F32(0))
    (y,) = run_op(op, {"a": a, "b": b})
    assert np.array_equal(y, run_node(op, [a, b], {}, "n")[0])


@pytest.mark.parametrize("op", ["Equal", "Less", "Greater", "GreaterOrEqual", "LessOrEqual"])
@pytest.mark.parametrize("dtype", [np.float32, np.int64])
def test_compare_exact(op, dtype):
    a = RNG.integers(-3, 3, (4, 5)).astype(dtype)
    b = RNG.integers(-3, 3, (5,)).astype(dtype)
    (y,) = run_op(op, {"a": a, "b": b})
    assert y.dtype == np.bool_
    assert np.array_equal(y, run_node(op, [a, b], {}, "n")[0])


@pytest.mark.parametrize("op", ["And", "Or", "Xor"])
def test_logic_exact(op):
    a = RNG.integers(0, 2, (3, 1, 4)).astype(bool)
    b = RNG.integers(0, 2, (2, 4)).astype(bool)
    (y,) = run_op(op, {"a": a, "b": b})
    assert np.array_equal(y, run_node(op, [a, b], {}, "n")[0])


def test_not_exact():
    a = RNG.integers(0, 2, (17,)).astype(bool)
    (y,) = run_op("Not", {"a": a})
    assert np.array_equal(y, ~a)


@pytest.mark.parametrize("op", ["Relu", "Neg", "Abs", "Sqrt", "Reciprocal"])
def test_unary_exact(op):
    x = rand(64) + (F32(4) if op in ("Sqrt", "Reciprocal") else F32(0))
    (y,) = run_op(op, {"x": x})
    assert np.array_equal(y, run_node(op, [x], {}, "n")[0])


@pytest.mark.parametrize("op,attrs", [("Erf", {}), ("Tanh", {}), ("Sigmoid", {}), ("Exp", {}),
                                      ("Gelu", {}), ("Gelu", {"approximate": "tanh"})])
def test_unary_libm_tolerance(op, attrs):
    x = rand(1000, scale=3.0)
    (y,) = run_op(op, {"x": x}, attrs=attrs)
    np.testing.assert_allclose(y, run_node(op, [x], attrs, "n")[0], rtol=1e-6, atol=1e-6)


def test_clip_exact():
    x = rand(50)
    (y,) = run_op("Clip", {"x": x}, {"lo": np.array(-0.5, F32), "hi": np.array(0.25, F32)})
    assert np.array_equal(y, np.clip(x, F32(-0.5), F32(0.25)))


def test_softmax_tolerance_and_masked_rows():
    x = rand(3, 5, 33, scale=4.0)
    x[0, 0, :] = -np.inf  # a fully masked row gives zeros, not NaN
    x[1, 1, 5:] = F32(-3.4028235e38)
    (y,) = run_op("Softmax", {"x": x}, attrs={"axis": -1})
    want = run_node("Softmax", [x[1:]], {"axis": -1}, "n")[0]
    np.testing.assert_allclose(y[1:], want, atol=1e-6)
    assert np.array_equal(y[0, 0], np.zeros(33, F32))


def test_layernorm_tolerance():
    x = rand(4, 7, 384, scale=5.0) + F32(3)
    g, b = rand(384), rand(384)
    attrs = {"axis": -1, "epsilon": 1e-12}
    (y,) = run_op("LayerNormalization", {"x": x}, {"g": g, "b": b}, attrs=attrs)
    np.testing.assert_allclose(y, run_node("LayerNormalization", [x, g, b], attrs, "n")[0],
                               atol=2e-6, rtol=1e-5)


@pytest.mark.parametrize("op", ["ReduceSum", "ReduceMean", "ReduceMax"])
@pytest.mark.parametrize("axes", [[1], [-1], [0, 1]])
def test_reduce(op, axes):
    x = rand(3, 6, 5)
    attrs = {"axes": axes, "keepdims": 1}
    (y,) = run_op(op, {"x": x}, attrs=attrs)
    want = run_node(op, [x], attrs, "n")[0]
    if op == "ReduceMax" or axes == [1]:  # non-last axis: float32 in index order, like numpy
        assert np.array_equal(y, want) or op != "ReduceMax"
    np.testing.assert_allclose(y, want, rtol=1e-6, atol=1e-6)


@pytest.mark.parametrize("sa,sb", [((5, 7), (7, 3)), ((2, 3, 5, 7), (2, 3, 7, 4)),
                                   ((2, 1, 5, 7), (3, 7, 4)), ((7,), (7, 2)),
                                   ((9, 33), (33, 37)), ((1, 2, 13, 32), (1, 2, 32, 48))])
def test_matmul_exact(sa, sb):
    a, b = rand(*sa), rand(*sb)
    (y,) = run_op("MatMul", {"a": a, "b": b})
    a2 = a.reshape(1, -1) if a.ndim == 1 else a
    bb = np.broadcast_to(b, np.broadcast_shapes(a2.shape[:-2], b.shape[:-2]) + b.shape[-2:])
    ab = np.broadcast_to(a2, bb.shape[:-2] + a2.shape[-2:])
    want = np.stack([ref.matmul_f32(x, w) for x, w in
                     zip(ab.reshape(-1, *ab.shape[-2:]), bb.reshape(-1, *bb.shape[-2:]))])
    assert np.array_equal(y.reshape(-1), want.reshape(-1))


@pytest.mark.parametrize("per_row", [True, False])
def test_quantize_rows_exact(per_row):
    a = rand(9, 70, scale=2.0)
    a[3] = 0.0  # an all-zero row: scale 1, q 0
    a[4, :5] = [127.5, -127.5, 0.5, -0.5, 1.5]  # ties at the rounding point
    # rows where 127 / amax overflows float32 are zero rows (dynq.h I8_DQ_TINY_AMAX); the
    # native code turned them into -127 everywhere (0 * inf = NaN, lrintf(+-inf) = INT_MIN)
    a[5] = np.where(np.arange(70) % 3, 1e-38, 0.0) * np.where(np.arange(70) % 2, 1, -1)
    a[6] = 0.0
    a[6, :4] = [1e-40, -3e-41, 0.0, 2.0 ** -122]  # subnormals, just below the bound
    a[7] = 0.0
    a[7, :3] = [2.0 ** -121, -(2.0 ** -121), 2.0 ** -122]  # at the bound: quantized as usual
    q, s = _native.dynq_quantize_rows(a, per_row)
    rq, rs = ref.quantize_rows(a, per_row)
    assert np.array_equal(q, rq) and np.array_equal(s, rs)
    assert q.min() >= -127
    if per_row:
        assert not q[5].any() and not q[6].any() and s[5] == s[6] == 1.0
        assert q[7, :3].tolist() == [127, -127, 64]
    tiny = np.full((3, 40), 1e-39, np.float32)  # a whole tensor of them, per tensor too
    q, s = _native.dynq_quantize_rows(tiny, per_row)
    assert not q.any() and np.all(s == 1.0)


@pytest.mark.parametrize("per_row", [True, False])
@pytest.mark.parametrize("m,k,n", [(1, 16, 4), (7, 33, 9), (64, 384, 40), (3, 1536, 5)])
def test_dynq_matmul_exact(per_row, m, k, n):
    x = rand(m, k, scale=3.0)
    w = rand(k, n)
    w[:, 0] = 0.0  # an all-zero channel
    qw, sw = ref.quantize_weight_per_channel(w)
    qw[1, :] = 127  # extremes: every product at its maximum
    bias = rand(n)
    (y,) = run_op("DynQLinear", {"x": x}, {"qw": qw, "sw": sw, "b": bias},
                  attrs={"per_row": int(per_row)})
    assert np.array_equal(y, ref.dynq_matmul(x, qw, sw, bias, per_row))


def test_dynq_matmul_extreme_activations():
    x = np.full((4, 64), -1e30, F32)  # amax huge: q = -127 everywhere
    x[1] = 1e-30
    x[2] = 1e-39  # 127 / amax overflows: a zero row (through each path's row quantizer)
    x[3, ::2] = 3e-38
    x[3, 1::2] = 0.0
    qw = np.full((8, 64), -127, np.int8)
    sw = np.full(8, 0.01, F32)
    (y,) = run_op("DynQLinear", {"x": x}, {"qw": qw, "sw": sw}, attrs={"per_row": 1})
    assert np.array_equal(y, ref.dynq_matmul(x, qw, sw, None, True))


@pytest.mark.parametrize("bits", [8, 4])
@pytest.mark.parametrize("group", [32, 64, 128])
def test_weight_only_matmul_exact(bits, group):
    k, n, m = 256, 24, 5
    w = rand(k, n)
    q, s = ref.quantize_weight_groups(w, bits, group)
    x, bias = rand(m, k), rand(n)
    (y,) = run_op("WOLinear", {"x": x}, {"q": q, "s": s, "b": bias},
                  attrs={"bits": bits, "group": group})
    # int8: float32 activations (wo_matmul); int4: int8 activations (W4A8, w4a8_matmul)
    want = ref.wo_matmul(x, q, s, bias, 8, group) if bits == 8 else \
        ref.w4a8_matmul(x, q, s, bias, group)
    assert np.array_equal(y, want)


def test_int4_packing_roundtrip_extremes():
    w = np.zeros((64, 2), F32)
    w[:, 0] = np.linspace(-1, 1, 64)
    w[0, 1], w[1, 1] = -8.0, 7.0
    q, s = ref.quantize_weight_groups(w, 4, 32)
    deq = ref.wo_dequantize(q, s, 4, 32, 64)
    assert deq.shape == (2, 64)
    vals = np.rint(deq / np.repeat(s, 32, axis=1))
    assert vals.min() >= -8 and vals.max() <= 7
    assert np.abs(deq - w.T).max() <= np.repeat(s, 32, axis=1).max() * 0.5 + 1e-7


@pytest.mark.parametrize("bits", [8, 4])
def test_weight_only_gather_exact(bits):
    table = rand(50, 64)
    q, s = ref.quantize_weight_groups(table.T, bits, 32)
    idx = np.array([[0, 49, -1, 7]], np.int64)
    (y,) = run_op("WOGather", {"i": idx}, {"q": q, "s": s}, order=["q", "s", "i"],
                  attrs={"bits": bits, "group": 32})
    assert np.array_equal(y, run_node("WOGather", [q, s, idx], {"bits": bits, "group": 32},
                                      "n")[0])


def test_gather_exact_and_out_of_range():
    table = rand(10, 6)
    idx = np.array([[1, -2, 9]], np.int64)
    (y,) = run_op("Gather", {"i": idx}, {"t": table}, order=["t", "i"])
    assert np.array_equal(y, table[idx])
    with pytest.raises(ValueError, match="Gather|gather"):
        run_op("Gather", {"i": np.array([[10]], np.int64)}, {"t": table}, order=["t", "i"])


def test_copies_exact():
    x = rand(2, 3, 4, 5)
    (y,) = run_op("Transpose", {"x": x}, attrs={"perm": [0, 2, 3, 1]})
    assert np.array_equal(y, x.transpose(0, 2, 3, 1))
    (y,) = run_op("Expand", {"x": x[:, :1]}, {"s": np.array([2, 3, 4, 5], np.int64)})
    assert np.array_equal(y, np.broadcast_to(x[:, :1], x.shape))
    (y,) = run_op("Slice", {"x": x}, {"st": np.array([1, -1], np.int64),
                                      "en": np.array([4, 0], np.int64),
                                      "ax": np.array([2, 3], np.int64),
                                      "sp": np.array([2, -2], np.int64)})
    assert np.array_equal(y, x[:, :, 1:4:2, -1:0:-2])
    (y,) = run_op("Concat", {"a": x, "b": x[:, :2]}, attrs={"axis": 1})
    assert np.array_equal(y, np.concatenate([x, x[:, :2]], axis=1))
    ys = run_op("Split", {"x": x}, {"sz": np.array([1, 3], np.int64)}, attrs={"axis": 2},
                n_out=2)
    assert np.array_equal(ys[0], x[:, :, :1]) and np.array_equal(ys[1], x[:, :, 1:])


def test_cast_and_where_exact():
    m = RNG.integers(0, 2, (2, 6)).astype(np.int64)
    (y,) = run_op("Cast", {"m": m}, attrs={"to": 1})
    assert y.dtype == F32 and np.array_equal(y, m.astype(F32))
    (y,) = run_op("Cast", {"m": m}, attrs={"to": 9})
    assert np.array_equal(y, m.astype(bool))
    c = RNG.integers(0, 2, (2, 1, 6)).astype(bool)
    a, b = rand(2, 3, 6), np.array(-1e9, F32)
    (y,) = run_op("Where", {"c": c, "a": a}, {"b": b}, order=["c", "a", "b"])
    assert np.array_equal(y, np.where(c, a, b))
