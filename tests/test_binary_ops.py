"""Every binary elementwise op opset.py declares, end to end: its real function at known points,
ONNX import + float executor against onnxruntime (a constant per-channel operand and two model
inputs), and the quantized model: the native plan equals the numpy reference program bit for
bit and stays near onnxruntime's float result (the int8 ops in int8, the float-only ones on the
float32 `f32_binary` record with the op's `f32_code`).

A new binary op needs only its OpSchema and a row of KNOWN here (docs/ARCHITECTURE.md "Adding
an op"); the other tests pick it up from the registry.
"""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pytest

from int8rt import opset

pytest.importorskip("onnx")
pytest.importorskip("onnxruntime")

from tests.frontend.onnx_util import check, helper, init, make_model, rand, run_ort

# op -> [((a, b), f(a, b))]: values of the op's definition (ONNX's operator docs), so a wrong
# declaration fails here and not only against itself
KNOWN: dict[str, list[tuple[tuple[float, float], float]]] = {
    "Add": [((2.0, 3.0), 5.0), ((-1.5, 1.5), 0.0)],
    "Sub": [((2.0, 3.0), -1.0)],
    "Mul": [((2.0, -3.0), -6.0)],
    "Div": [((3.0, 2.0), 1.5), ((-1.0, 4.0), -0.25)],
    "Pow": [((2.0, 3.0), 8.0), ((4.0, 0.5), 2.0)],
    "Max": [((2.0, 3.0), 3.0), ((-1.0, -2.0), -1.0)],
    "Min": [((2.0, 3.0), 2.0), ((-1.0, -2.0), -2.0)],
    "PRelu": [((-2.0, 0.25), -0.5), ((3.0, 0.25), 3.0), ((0.0, 5.0), 0.0)],
}

OPS = sorted(opset.BINARY_OPS)
# operands that keep every op finite and away from its edges (Pow of a negative base, Div by
# values near 0)
POSITIVE = {"Pow", "Div"}


def _operand(op, *shape):
    x = rand(*shape, scale=2)
    return np.abs(x) + np.float32(0.5) if op in POSITIVE else x


def _model(op, b_const: bool):
    """x [1, 3, 5, 7] (op) b -> y; b a per-channel initializer [3, 1, 1] or a second input."""
    node = helper.make_node(op, ["x", "b"], ["y"], name=f"my_{op}")
    inputs = {"x": (1, 3, 5, 7)} if b_const else {"x": (1, 3, 5, 7), "b": (1, 3, 5, 7)}
    inits = [init("b", _operand(op, 3, 1, 1))] if b_const else []
    return make_model([node], inputs, ["y"], inits)


def test_every_binary_op_has_known_values():
    assert sorted(KNOWN) == OPS


@pytest.mark.parametrize("op", OPS)
def test_known_values(op):
    f = opset.binary_function(op)
    a = np.array([p[0][0] for p in KNOWN[op]], np.float32)
    b = np.array([p[0][1] for p in KNOWN[op]], np.float32)
    np.testing.assert_allclose(f(a, b), [p[1] for p in KNOWN[op]], rtol=1e-7)


def _f32_codes() -> dict[str, int]:
    """I8_F32_* name -> value of the arithmetic enum of csrc/include/int8rt/f32.h."""
    text = (Path(__file__).resolve().parent.parent / "csrc/include/int8rt/f32.h").read_text()
    body = re.search(r"enum \{([^}]*I8_F32_ARITH_END[^}]*)\}", text).group(1)
    body = re.sub(r"/\*.*?\*/", "", body, flags=re.DOTALL)
    codes, value = {}, -1
    for item in (i.strip() for i in body.split(",")):
        if not item:
            continue
        name, _, given = (t.strip() for t in item.partition("="))
        value = int(given) if given else value + 1
        codes[name] = value
    return codes


def test_f32_codes_match_the_c_kernel_and_its_reference():
    """opset's f32_code of each op is the C constant of its name, inside the arithmetic range
    plan.c accepts, with the same arithmetic in the numpy reference of the record."""
    from int8rt.reference.f32_records import F32_ARITH

    if not (Path(__file__).resolve().parent.parent / "csrc").exists():
        pytest.skip("needs the source checkout's C headers")
    codes = _f32_codes()
    for op in OPS:
        code = opset.OPS[op].f32_code
        assert codes[f"I8_F32_{op.upper()}"] == code, op
        assert 0 <= code < codes["I8_F32_ARITH_END"] and code in F32_ARITH, op
    assert len({opset.OPS[op].f32_code for op in OPS}) == len(OPS)


@pytest.mark.parametrize("b_const", [True, False], ids=["const", "input"])
@pytest.mark.parametrize("op", OPS)
def test_import_and_float_executor_match_onnxruntime(op, b_const):
    feeds = {"x": _operand(op, 1, 3, 5, 7)}
    if not b_const:
        feeds["b"] = _operand(op, 1, 3, 5, 7)
    check(_model(op, b_const), feeds, rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("op", OPS)
def test_quantized_native_equals_reference_and_tracks_onnxruntime(op):
    """Two model inputs (a constant divisor would turn Div into Mul)."""
    import int8rt
    from int8rt.lower import lower
    from int8rt.reference.program import run_program

    model = _model(op, b_const=False)
    x, b = _operand(op, 1, 3, 5, 7), _operand(op, 1, 3, 5, 7)
    calib = [{"x": x, "b": b}] + [{"x": _operand(op, 1, 3, 5, 7), "b": _operand(op, 1, 3, 5, 7)}
                                  for _ in range(3)]
    qm = int8rt.quantize(model, calib, progress=False)
    node = next(n for n in qm.graph.nodes if n.op == op)
    in_int8 = qm.graph.tensors[node.outputs[0]].dtype == "int8"
    assert in_int8 == opset.OPS[op].int8  # int8 kernel, or float32 between Q / DQ
    native = int8rt.Session(qm).run(None, {"x": x, "b": b})[0]
    assert np.array_equal(native, run_program(lower(qm.graph), [x, b])[0])
    (want,) = run_ort(model, {"x": x, "b": b})
    # within the effect of half a quantization step on each operand, plus one output step (the
    # model's inputs and output are quantized at the boundary: tensors "<name>:int8")
    sa, sb, sy = (float(np.max(qm.graph.tensors[f"{n}:int8"].qparams.scale))
                  for n in ("x", "b", "y"))
    f = opset.binary_function(op)
    spread = np.max([np.abs(f(x + da, b + db) - want) for da in (-sa / 2, sa / 2)
                     for db in (-sb / 2, sb / 2)], axis=0)
    assert np.all(np.abs(native - want) <= spread + sy + 1e-5 * np.abs(want) + 1e-6)


@pytest.mark.parametrize("op", OPS)
def test_dynamic_path_matches_onnxruntime(op):
    """The dynamic path (ONNX layout, docs/TRANSFORMERS.md) runs the op on the same f32_binary
    record; float weights mode: nothing quantized, so onnxruntime's float result to rounding."""
    import int8rt

    model = _model(op, b_const=False)
    feeds = {"x": _operand(op, 1, 3, 5, 7), "b": _operand(op, 1, 3, 5, 7)}
    qm = int8rt.quantize_dynamic(model, mode="float")
    got = int8rt.Session(qm).run(None, feeds)[0]
    np.testing.assert_allclose(got, run_ort(model, feeds)[0], rtol=1e-5, atol=1e-6)
