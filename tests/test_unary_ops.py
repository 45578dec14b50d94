"""Every unary elementwise op opset.py declares, end to end: its real function at known points,
ONNX import + float executor against onnxruntime, and the int8 table lookup (native plan ==
numpy reference, bit for bit; within a step of the float function).

A new unary op needs only its OpSchema and a row of KNOWN here (docs/ARCHITECTURE.md "Adding
an op"); the other tests pick it up from the registry.
"""

from __future__ import annotations

import numpy as np
import pytest

from int8rt import opset

pytest.importorskip("onnx")
pytest.importorskip("onnxruntime")

from tests.frontend.onnx_util import check, helper, make_model, rand

# op -> (attrs, [(x, f(x))]): values of the op's definition from outside int8rt (closed forms
# or published tables), so a wrong declaration fails here and not only against itself
KNOWN: dict[str, tuple[dict, list[tuple[float, float]]]] = {
    "Relu": ({}, [(-2.0, 0.0), (0.0, 0.0), (3.5, 3.5)]),
    "Clip": ({"min": -1.0, "max": 2.0}, [(-3.0, -1.0), (0.5, 0.5), (7.0, 2.0)]),
    "LeakyRelu": ({"alpha": 0.25}, [(-4.0, -1.0), (2.0, 2.0)]),
    "Sigmoid": ({}, [(0.0, 0.5), (np.log(3.0), 0.75)]),
    "HardSigmoid": ({}, [(0.0, 0.5), (-3.0, 0.0), (1.0, 0.7), (3.0, 1.0)]),
    "HardSwish": ({}, [(-3.0, 0.0), (0.0, 0.0), (1.0, 2.0 / 3.0), (3.0, 3.0)]),
    "Tanh": ({}, [(0.0, 0.0), (np.log(2.0), 0.6)]),
    "Silu": ({}, [(0.0, 0.0), (np.log(3.0), 0.75 * np.log(3.0))]),
    # Phi(1) = 0.8413447460685429 (standard normal CDF)
    "Gelu": ({}, [(0.0, 0.0), (1.0, 0.8413447460685429), (-1.0, -0.1586552539314571)]),
    # tanh(ln(1 + e)) = 0.8650983882673103, tanh(ln(1 + 1/e)) = 0.3034014613741089; large |x|:
    # x (tanh -> 1) and -0 (x e^x -> 0)
    "Mish": ({}, [(0.0, 0.0), (1.0, 0.8650983882673103), (-1.0, -0.3034014613741089),
                  (40.0, 40.0), (-40.0, -40.0 * np.exp(-40.0))]),
}

ONNX_OPS = [op for op in opset.UNARY_OPS if opset.OPS[op].onnx]
# the ONNX opset each op needs (the others import at opset 17)
OPSET = {"Gelu": 20, "Mish": 18}


def test_every_unary_op_has_known_values():
    assert sorted(KNOWN) == sorted(opset.UNARY_OPS)


@pytest.mark.parametrize("op", sorted(KNOWN))
def test_known_values(op):
    attrs, points = KNOWN[op]
    f = opset.unary_function(op, attrs)
    x = np.array([p[0] for p in points])
    np.testing.assert_allclose(f(x), [p[1] for p in points], rtol=1e-7, atol=1e-12)  # attrs are float32


def _model(op, shape=(1, 3, 5, 7)):
    node = helper.make_node(op, ["x"], ["y"], name=f"my_{op}")
    return make_model([node], {"x": shape}, ["y"], opset=OPSET.get(op, 17))


@pytest.mark.parametrize("op", ONNX_OPS)
def test_import_and_float_executor_match_onnxruntime(op):
    check(_model(op), {"x": rand(1, 3, 5, 7, scale=4)}, rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("op", ONNX_OPS)
def test_int8_native_equals_reference_and_tracks_the_function(op):
    import int8rt
    from int8rt.lower import lower
    from int8rt.reference.program import run_program

    x = rand(1, 3, 5, 7, scale=4)
    # x among the calibration samples: no clipping at the range ends in the bound below
    calib = [x] + [rand(1, 3, 5, 7, scale=4) for _ in range(3)]
    qm = int8rt.quantize(_model(op), [{"x": c} for c in calib], progress=False)
    assert op in [n.op for n in qm.graph.nodes]  # ran in int8, not float between Q / DQ
    sess = int8rt.Session(qm)
    native = sess.run(None, {"x": x})[0]
    assert np.array_equal(native, run_program(lower(qm.graph), [x])[0])
    # quantized input and output: within two output steps plus the input step's effect
    y = opset.unary_function(op, {})(x.astype(np.float64))
    out = next(t for n in qm.graph.nodes if n.op == op for t in n.outputs)
    inp = next(t for n in qm.graph.nodes if n.op == op for t in n.inputs)
    sy, sx = qm.graph.tensors[out].qparams.scale, qm.graph.tensors[inp].qparams.scale
    slope = 1.2  # |f'| of these functions stays below 1.2 (HardSwish, Gelu, Silu, Mish peak ~1.1)
    assert np.max(np.abs(native - y)) <= 2 * float(np.max(sy)) + slope * float(np.max(sx))
