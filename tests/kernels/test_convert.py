"""quantize / dequantize: native == reference, and both == ONNX QuantizeLinear /
DequantizeLinear (including round-half-to-even ties, saturation, NaN and infinities)."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from int8rt.reference import convert as ref
from tests.kernels import one_op as nat

RNG = np.random.default_rng(5)
SCALES = [1.0, 0.5, 0.1, 0.0123, 3.7, 1e-6, 2.0**-10]
ZPS = [-128, -1, 0, 3, 127]


def _onnx(op: str, x: np.ndarray, scale: float, zp: int) -> np.ndarray:
    # onnx is an extra (a Pi runtime install lacks it): the comparison skips, after the
    # native == reference checks before it have run
    pytest.importorskip("onnx")
    from onnx import TensorProto, helper, numpy_helper
    from onnx.reference import ReferenceEvaluator

    out = TensorProto.INT8 if op == "QuantizeLinear" else TensorProto.FLOAT
    inp = TensorProto.FLOAT if op == "QuantizeLinear" else TensorProto.INT8
    node = helper.make_node(op, ["x", "s", "z"], ["y"])
    graph = helper.make_graph(
        [node], "g", [helper.make_tensor_value_info("x", inp, list(x.shape))],
        [helper.make_tensor_value_info("y", out, list(x.shape))],
        initializer=[numpy_helper.from_array(np.array(scale, np.float32), "s"),
                     numpy_helper.from_array(np.array(zp, np.int8), "z")])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 19)])
    return ReferenceEvaluator(model).run(None, {"x": x})[0]


def _special(scale: float) -> np.ndarray:
    s = np.float32(scale)
    k = np.arange(-300, 300, dtype=np.float32)
    ties = (k + np.float32(0.5)) * s  # exact ties whenever the product is exact
    return np.concatenate([ties, k * s, np.array(
        [0.0, -0.0, 1e-45, -1e-45, 3e38, -3e38, np.finfo(np.float32).max,
         -np.finfo(np.float32).max, 127.5 * s, -128.5 * s, 126.5 * s], np.float32)])


@pytest.mark.parametrize("scale", SCALES)
@pytest.mark.parametrize("zp", ZPS)
def test_quantize(scale, zp):
    x = np.concatenate([_special(scale),
                        (RNG.standard_normal(2000) * 100 * scale).astype(np.float32)])
    y_ref = ref.quantize(x, scale=scale, zp=zp, n=x.size)
    assert np.array_equal(y_ref, nat.quantize(x, scale=scale, zp=zp, n=x.size))
    # onnx.reference casts x / scale to int32 before saturating: undefined beyond int32
    small = np.abs(x.astype(np.float64) / scale) < 2**30
    assert np.array_equal(y_ref[small], _onnx("QuantizeLinear", x[small], scale, zp))


def test_quantize_nan_and_infinities():
    x = np.array([np.nan, -np.nan, np.inf, -np.inf], np.float32)
    for zp in ZPS:
        for impl in (ref, nat):
            assert impl.quantize(x, scale=0.1, zp=zp).tolist() == [zp, zp, 127, -128]


def test_quantize_is_a_division():
    """x / s and x * (1 / s) differ for some float32 values; the kernels must divide."""
    s = np.float32(0.1)
    ties = (np.arange(-128, 128, dtype=np.float32) + np.float32(0.5)) * s
    x = np.concatenate([ties, np.nextafter(ties, np.float32(np.inf)),
                        np.nextafter(ties, np.float32(-np.inf))])
    div, mul = x / s, x * (np.float32(1) / s)
    differs = np.rint(div) != np.rint(mul)
    assert differs.any()  # the test would be vacuous otherwise
    expected = np.clip(np.rint(div), -128, 127).astype(np.int8)
    assert np.array_equal(nat.quantize(x[differs], scale=s, zp=0), expected[differs])
    assert np.array_equal(ref.quantize(x[differs], scale=s, zp=0), expected[differs])


@settings(max_examples=60, deadline=None)
@given(st.lists(st.floats(width=32, allow_nan=True, allow_infinity=True), max_size=50),
       st.floats(2.0**-16, 1024.0, width=32), st.integers(-128, 127))
def test_quantize_hypothesis(values, scale, zp):
    x = np.array(values, np.float32)
    assert np.array_equal(ref.quantize(x, scale=scale, zp=zp), nat.quantize(x, scale=scale, zp=zp))


@pytest.mark.parametrize("scale", SCALES + [1e30])
@pytest.mark.parametrize("zp", ZPS)
def test_dequantize(scale, zp):
    x = np.arange(-128, 128, dtype=np.int8).reshape(4, 64)
    y_ref = ref.dequantize(x, scale=scale, zp=zp, n=x.size)
    y_nat = nat.dequantize(x, scale=scale, zp=zp, n=x.size)
    assert y_ref.dtype == y_nat.dtype == np.float32 and y_nat.shape == x.shape
    assert np.array_equal(y_ref, y_nat)
    assert np.array_equal(y_ref, _onnx("DequantizeLinear", x, scale, zp))


def test_round_trip_and_errors():
    x = np.arange(-128, 128, dtype=np.int8)
    for zp in ZPS:
        assert np.array_equal(nat.quantize(nat.dequantize(x, scale=0.37, zp=zp), scale=0.37,
                                           zp=zp), x)
    with pytest.raises(ValueError):
        nat.quantize(np.zeros(3, np.float32), scale=0.0, zp=0)
    with pytest.raises(ValueError, match="dtypes"):
        nat.quantize(np.zeros(3, np.float64), scale=1.0, zp=0)
    with pytest.raises(ValueError):
        nat.dequantize(x, scale=1.0, zp=128)


# ---- every path: flat and with the NCHW <-> NHWC move fused in ------------------------------

def _hard_values(n: int, scale: float, seed: int) -> np.ndarray:
    """Ties, huge values, infinities, NaN, denormals and random values, shuffled."""
    rng = np.random.default_rng(seed)
    specials = np.concatenate([_special(scale), np.array(
        [np.nan, -np.nan, np.inf, -np.inf, 1e30, -1e30], np.float32)])
    x = (rng.standard_normal(n) * 60 * scale).astype(np.float32)
    k = min(n, specials.size)
    x[rng.permutation(n)[:k]] = rng.permutation(specials)[:k]
    return x


@pytest.mark.parametrize("n", [0, 1, 7, 8, 15, 16, 17, 33, 100, 1200])
def test_quantize_dequantize_every_path(path, n):
    for scale, zp in ((0.5, -128), (0.0123, 3), (1.0, 127), (2.0**-10, 0)):
        x = _hard_values(n, scale, n)
        assert np.array_equal(nat.quantize(x, scale=scale, zp=zp), ref.quantize(x, scale=scale,
                                                                                  zp=zp))
        q = np.random.default_rng(n).integers(-128, 128, n).astype(np.int8)
        assert np.array_equal(nat.dequantize(q, scale=scale, zp=zp),
                              ref.dequantize(q, scale=scale, zp=zp))


NCHW = [(1, 3, 1, 1), (1, 3, 4, 4), (2, 3, 5, 7), (1, 3, 16, 16), (1, 3, 17, 3), (1, 1, 9, 5),
        (2, 2, 3, 11), (1, 4, 6, 6), (1, 5, 1, 33), (1, 16, 3, 3), (1, 19, 2, 9), (3, 3, 1, 40),
        (2, 3, 9, 13)]


@pytest.mark.parametrize("shape", NCHW)
def test_quantize_nchw_every_path(path, shape):
    b, c, h, w = shape
    for scale, zp in ((0.5, -128), (0.0123, 3), (1.0, 127)):
        x = _hard_values(b * c * h * w, scale, h * w).reshape(shape)
        want = ref.quantize(x, scale=scale, zp=zp, c=c, hw=h * w)
        assert np.array_equal(want.reshape(b, h, w, c),
                              ref.quantize(x.transpose(0, 2, 3, 1).copy(), scale=scale, zp=zp))
        got = nat.quantize(x, scale=scale, zp=zp, c=c, hw=h * w)
        assert np.array_equal(got, want.reshape(-1))
        # split into pixel ranges of 2 pixels, the way threads run the call
        with nat.small_tasks(2 * c):
            assert nat.quantize_tasks(x, c=c, hw=h * w) > 1 or b * h * w < 4
            for threads in (2, 3):
                got = nat.quantize(x, scale=scale, zp=zp, c=c, hw=h * w, threads=threads)
                assert np.array_equal(got, want.reshape(-1))


@pytest.mark.parametrize("shape", NCHW)
def test_dequantize_nchw_every_path(path, shape):
    b, c, h, w = shape
    q = np.random.default_rng(c * h).integers(-128, 128, b * h * w * c).astype(np.int8)
    q[:2] = (-128, 127)
    for scale, zp in ((0.5, -128), (0.0123, 3), (1.0, 127)):
        want = ref.dequantize(q, scale=scale, zp=zp, c=c, hw=h * w)
        assert np.array_equal(
            want.reshape(b, c, h, w),
            ref.dequantize(q, scale=scale, zp=zp).reshape(b, h, w, c).transpose(0, 3, 1, 2))
        assert np.array_equal(nat.dequantize(q, scale=scale, zp=zp, c=c, hw=h * w),
                              want.reshape(-1))
        # split into pixel ranges of 2 pixels, the way threads run the call
        with nat.small_tasks(2 * c):
            for threads in (2, 3):
                got = nat.dequantize(q, scale=scale, zp=zp, c=c, hw=h * w, threads=threads)
                assert np.array_equal(got, want.reshape(-1))


def test_nchw_plan_rejects_bad_arguments():
    x = np.zeros(12, np.float32)
    with pytest.raises(ValueError):
        nat.quantize(x, scale=1.0, zp=0, c=5, hw=2)  # c * hw does not divide n
    with pytest.raises(ValueError):
        nat.quantize(x, scale=1.0, zp=0, c=3, hw=-2)
    with pytest.raises(ValueError):
        nat.dequantize(np.zeros(12, np.int8), scale=1.0, zp=0, c=-1, hw=12)
    with pytest.raises(ValueError):
        ref.quantize(x, scale=1.0, zp=0, c=5, hw=2)


def test_lowering_fuses_the_boundary_moves(path, tmp_path):
    """NCHW float in -> conv -> sigmoid -> NCHW float out: the input quantize and the output
    dequantize carry the layout move (no transpose call left), and the native plan equals the
    reference program on this path, at 1 and 2 threads."""
    onnx = pytest.importorskip("onnx")
    from onnx import TensorProto, helper, numpy_helper

    import int8rt
    from int8rt.lower import lower
    from int8rt.plan import NativePlan
    from int8rt.reference.program import run_program

    rng = np.random.default_rng(0)
    w = numpy_helper.from_array(rng.standard_normal((4, 3, 3, 3)).astype(np.float32), "w")
    nodes = [helper.make_node("Conv", ["x", "w"], ["c"], pads=[1, 1, 1, 1]),
             helper.make_node("Sigmoid", ["c"], ["y"])]
    graph = helper.make_graph(
        nodes, "g", [helper.make_tensor_value_info("x", TensorProto.FLOAT, [2, 3, 9, 7])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, [2, 4, 9, 7])], initializer=[w])
    onnx.save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)]),
              tmp_path / "m.onnx")
    calib = rng.standard_normal((4, 3, 9, 7)).astype(np.float32)
    qm = int8rt.quantize(str(tmp_path / "m.onnx"), [calib[:2], calib[2:]], progress=False)
    prog = lower(int8rt.Session(qm).graph)
    kinds = [(c.kernel, c.params.get("c"), c.params.get("hw")) for c in prog.calls]
    assert kinds[0] == ("quantize", 3, 63) and kinds[-1] == ("dequantize", 4, 63)
    assert "transpose" not in [k for k, _, _ in kinds]
    x = rng.standard_normal((2, 3, 9, 7)).astype(np.float32) * 3
    x.reshape(-1)[:3] = (np.nan, np.inf, -np.inf)
    (want,) = run_program(prog, [x])
    for threads in (1, 2):
        (got,) = NativePlan(prog).run([x], threads=threads)
        assert got.shape == (2, 4, 9, 7) and np.array_equal(got, want, equal_nan=True)
