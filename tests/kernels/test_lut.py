"""lut: native == reference; the tables built by kernel_tables against the float functions and
against ONNX's own definitions of the activations."""

from __future__ import annotations

import functools

import numpy as np
import pytest

from int8rt import kernel_tables as kt
from int8rt.reference import elementwise as ref
from tests.kernels import one_op as nat

RNG = np.random.default_rng(3)

FUNCTIONS = {
    "relu": kt.relu,
    "relu6": functools.partial(kt.clip, lo=0.0, hi=6.0),
    "leaky_relu": functools.partial(kt.leaky_relu, alpha=0.1),
    "sigmoid": kt.sigmoid,
    "hard_sigmoid": kt.hard_sigmoid,
    "hard_swish": kt.hard_swish,
    "tanh": kt.tanh,
    "silu": kt.silu,
    "gelu": kt.gelu,
    "gelu_tanh": kt.gelu_tanh,
}
QPARAMS = [(0.05, -128, 0.03, -128), (0.1, 0, 0.1, 0), (0.02, 127, 0.01, 127),
           (1.0, 5, 0.004, -3)]


@pytest.mark.parametrize("name", sorted(FUNCTIONS))
def test_table_within_half_a_step_of_the_function(name):
    q = np.arange(-128, 128)
    for sx, x_zp, sy, y_zp in QPARAMS:
        t = kt.lut_table(FUNCTIONS[name], sx, x_zp, sy, y_zp)
        assert t.dtype == np.int8 and t.shape == (256,)
        real = FUNCTIONS[name](np.float64(np.float32(sx)) * (q - x_zp))
        exact = real / np.float64(np.float32(sy)) + y_zp
        inside = (exact > -128.5) & (exact < 127.5)
        assert np.all(np.abs(t[inside] - exact[inside]) <= 0.5 + 1e-9)
        assert np.all(t[exact <= -128.5] == -128) and np.all(t[exact >= 127.5] == 127)


def test_table_clamp_and_nan():
    t = kt.lut_table(kt.relu, 0.1, 0, 0.1, 0, qmin=-3, qmax=50)
    assert t.min() == 0 and t.max() == 50
    t = kt.lut_table(lambda x: np.full_like(x, np.nan), 0.1, 0, 0.1, 9)
    assert (t == 9).all()
    t = kt.lut_table(lambda x: x * np.inf, 0.1, 0, 0.1, 0)
    assert t[0] == -128 and t[128] == 0 and t[255] == 127


ONNX_OPS = [("Relu", {}, kt.relu), ("Sigmoid", {}, kt.sigmoid), ("Tanh", {}, kt.tanh),
            ("HardSigmoid", {"alpha": 0.3, "beta": 0.4},
             functools.partial(kt.hard_sigmoid, alpha=0.3, beta=0.4)),
            ("HardSwish", {}, kt.hard_swish),
            ("LeakyRelu", {"alpha": 0.2}, functools.partial(kt.leaky_relu, alpha=0.2)),
            ("Gelu", {}, kt.gelu), ("Gelu", {"approximate": "tanh"}, kt.gelu_tanh)]


@pytest.mark.parametrize("op,attrs,fn", ONNX_OPS)
def test_functions_match_onnx(op, attrs, fn):
    pytest.importorskip("onnx")  # an extra: a Pi runtime install lacks it
    from onnx import TensorProto, helper
    from onnx.reference import ReferenceEvaluator

    x = np.linspace(-12, 12, 481)
    node = helper.make_node(op, ["x"], ["y"], **attrs)
    graph = helper.make_graph([node], "g", [helper.make_tensor_value_info("x", TensorProto.DOUBLE,
                                                                          [x.size])],
                              [helper.make_tensor_value_info("y", TensorProto.DOUBLE, [x.size])])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 20)])
    (expected,) = ReferenceEvaluator(model).run(None, {"x": x})
    # ONNX attributes are float32, and onnx.reference evaluates some ops in float32
    assert np.allclose(fn(x), expected, rtol=1e-6, atol=1e-7)


def test_silu_and_gelu_shapes():
    x = np.linspace(-8, 8, 33)
    assert np.allclose(kt.silu(x), x / (1 + np.exp(-x)))
    assert np.allclose(kt.gelu(x), kt.gelu_tanh(x), atol=1e-3)


@pytest.mark.parametrize("shape", [(256,), (1, 7, 7, 33), (0,), (3, 1000), ()])
def test_lut_native_equals_reference(shape):
    x = RNG.integers(-128, 128, size=shape).astype(np.int8)
    tables = [RNG.integers(-128, 128, size=256).astype(np.int8),
              kt.lut_table(kt.sigmoid, 0.05, -128, 1 / 256, -128)]
    for table in tables:
        y_ref, y_nat = ref.lut(x, table, n=x.size), nat.lut(x, table, n=x.size)
        assert y_ref.shape == y_nat.shape == x.shape
        assert np.array_equal(y_ref, y_nat)
    full = np.arange(-128, 128, dtype=np.int8)
    assert np.array_equal(nat.lut(full, tables[0]), tables[0])


def test_plan_rejects_bad_arguments():
    x = np.zeros(4, np.int8)
    with pytest.raises(ValueError):
        nat.lut(x, np.zeros(255, np.int8))
    with pytest.raises(ValueError, match="exactly"):  # a uint8 table that is not int8
        nat.lut(x, np.full(256, 200, np.uint8))
    with pytest.raises(ValueError):
        nat.lut(x, np.zeros(256, np.int8), n=5)


# ---- every path: all 256 inputs at every lane position, lengths around the vector widths ----


@pytest.mark.parametrize("n", [0, 1, 15, 16, 17, 31, 32, 33, 63, 64, 65, 127, 128, 129, 256,
                               1000])
def test_lut_every_path(path, n):
    rng = np.random.default_rng(n)
    for table in (rng.integers(-128, 128, 256).astype(np.int8),
                  np.arange(-128, 128).astype(np.int8)[::-1].copy(),
                  kt.lut_table(kt.silu, 0.05, -7, 0.02, -100)):
        for shift in range(0, 256, 37):  # every input value lands on varied lane positions
            x = ((np.arange(n) + shift) % 256 - 128).astype(np.int8)
            assert np.array_equal(nat.lut(x, table), ref.lut(x, table))
        x = rng.integers(-128, 128, n).astype(np.int8)
        assert np.array_equal(nat.lut(x, table), ref.lut(x, table))


def test_lut_every_path_offset_buffers(path):
    """Unaligned starts and a tail that ends exactly at the end of the buffer."""
    table = RNG.integers(-128, 128, 256).astype(np.int8)
    buf = RNG.integers(-128, 128, 300).astype(np.int8)
    for start in range(0, 70, 7):
        x = buf[start:]
        assert np.array_equal(nat.lut(x, table), ref.lut(x, table))
