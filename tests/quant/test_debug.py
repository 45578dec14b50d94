"""The quantization debugger on the bundled digits CNN: healthy and deliberately damaged."""

from __future__ import annotations

import math

import numpy as np
import pytest

from int8rt.api import QuantizedModel, quantize
from int8rt.cli import main
from int8rt.demo import _data_file, load_demo
from int8rt.ir import QParams
from int8rt.lower import lower
from int8rt.quant.calibrate import calibrate
from int8rt.quant.debug import (
    LayerError,
    OpSensitivity,
    _ErrorStats,
    format_table,
    layer_errors,
    sensitivity,
)
from int8rt.quant.params import quantize_array
from int8rt.reference.program import run_program

N = 48  # samples compared: the numpy reference program is the slow side


@pytest.fixture(scope="module")
def demo():
    graph, x_test, _, x_calib = load_demo()
    qm = quantize(graph, [x_calib], progress=False)
    return graph, qm, x_test[:N], x_calib


@pytest.fixture(scope="module")
def healthy(demo):
    _, qm, x, _ = demo
    return layer_errors(qm, [x])


def _damaged(qm: QuantizedModel, node_name: str, factor: float) -> QuantizedModel:
    """`node_name`'s int8 weights read `factor` times too large: the weight scale is wrong."""
    g = qm.graph.copy()
    node = next(n for n in g.nodes if n.name == node_name)
    w = g.tensor(node.inputs[1])
    w.qparams = QParams(w.qparams.scale * np.float32(factor), w.qparams.zero_point,
                        w.qparams.axis)
    return QuantizedModel(g, qm.float_graph)


def test_every_quantized_activation_is_reported(demo, healthy) -> None:
    _, qm, _, _ = demo
    names = qm.graph.meta["quantization"]["int8_names"]
    program = lower(qm.graph)
    # present exactly when lowering materialises the int8 tensor (the logits are fused into
    # the last Gemm's float32 epilogue)
    expected = [f for f, q in names.items() if q in program.buffers]
    assert set(expected) != set(names)  # the demo has a fused output: the test covers both
    assert [r.name for r in healthy] == [
        f for n in qm.graph.topological() for o in n.outputs
        for f, q in names.items() if q == o and f in expected
    ]
    for r in healthy:
        assert r.int8_name == names[r.name]
        s, z = qm.graph.tensor(r.int8_name).qparams.scalar()
        assert (r.scale, r.zero_point) == (s, z)
        assert r.count > 0 and r.count % N == 0
    assert healthy[0].op == "Quantize" and {r.op for r in healthy} >= {"Conv", "MaxPool"}
    # input_sqnr_db: the worst reported input of the producing node
    assert math.isnan(healthy[0].input_sqnr_db)
    by_int8 = {r.int8_name: r for r in healthy}
    for r in healthy[1:]:
        node = next(n for n in qm.graph.nodes if n.name == r.node)
        assert r.input_sqnr_db == min(by_int8[i].sqnr_db for i in node.inputs if i in by_int8)


def test_healthy_demo_has_high_sqnr(healthy) -> None:
    for r in healthy:
        assert math.isfinite(r.sqnr_db) and r.sqnr_db > 20, r
        assert 0.999 < r.cosine <= 1 + 1e-12, r
        # a tensor's max error exceeds half a step only through upstream error
        assert r.max_abs_error > 0
    # the model input only carries its own rounding: at most half a step (plus clipping: none,
    # the calibration range covers the test images of the same data set well enough)
    assert healthy[0].max_abs_error <= 0.5 * healthy[0].scale * (1 + 1e-6)


def test_stats_against_direct_formulas() -> None:
    rng = np.random.default_rng(0)
    ref = rng.standard_normal((5, 7)).astype(np.float32)
    app = ref + 0.1 * rng.standard_normal((5, 7)).astype(np.float32)
    st = _ErrorStats()
    st.update(ref[:2], app[:2])  # streamed in two pieces
    st.update(ref[2:], app[2:])
    r, a = ref.astype(np.float64).ravel(), app.astype(np.float64).ravel()
    assert st.sqnr_db() == pytest.approx(10 * np.log10((r @ r) / ((r - a) @ (r - a))), rel=1e-12)
    assert st.cosine() == pytest.approx((r @ a) / np.sqrt((r @ r) * (a @ a)), rel=1e-12)
    assert st.max_abs == pytest.approx(np.abs(r - a).max(), rel=1e-12)
    exact = _ErrorStats()
    exact.update(ref, ref)
    assert exact.sqnr_db() == math.inf and exact.cosine() == pytest.approx(1.0)


@pytest.mark.parametrize("node", ["/features/features.0/Conv", "/features/features.7/Conv"])
def test_damaged_layer_is_worst(demo, healthy, node) -> None:
    _, qm, x, _ = demo
    rows = layer_errors(_damaged(qm, node, 4.0), [x])
    worst = min(rows, key=lambda r: r.sqnr_db)
    assert worst.node == node, format_table(rows)
    assert worst.sqnr_db < 10
    # and it is where the error is added: the largest drop below its input's SQNR
    drop = min(rows[1:], key=lambda r: r.sqnr_db - r.input_sqnr_db)
    assert drop.node == node
    # upstream of the damage nothing changed
    before = {r.name: r.sqnr_db for r in healthy}
    for r in rows[: [r.node for r in rows].index(node)]:
        assert r.sqnr_db == before[r.name]
    text = format_table(rows)
    assert [ln for ln in text.splitlines() if ln.endswith("<- worst")] == [
        ln for ln in text.splitlines() if worst.name in ln
    ]


def test_sensitivity_ranks_a_bad_op_first(demo) -> None:
    graph, _, x, x_calib = demo
    ranges = calibrate(graph, [x_calib], progress=False)
    rows = sensitivity(graph, None, [x], ranges=ranges)
    assert all(isinstance(r, OpSensitivity) for r in rows)
    assert [r.sqnr_db for r in rows] == sorted(r.sqnr_db for r in rows)
    assert all(r.sqnr_db > 20 and math.isfinite(r.sqnr_db) for r in rows), format_table(rows)
    # a far too narrow calibrated range for one Conv output clips it: that op must come first
    # (the last Conv: its reader, GlobalAveragePool, has its own range; a MaxPool reader would
    # inherit the bad parameters and tie)
    bad = "/features/features.7/Conv"
    y = next(n for n in graph.nodes if n.name == bad).outputs[0]
    lo, hi = ranges[y]
    bad_rows = sensitivity(graph, None, [x], ranges={**ranges, y: (lo, hi / 20)})
    assert bad_rows[0].node == bad, format_table(bad_rows)
    assert bad_rows[0].sqnr_db < min(r.sqnr_db for r in rows) - 10
    others = {r.node: r.sqnr_db for r in rows}
    for r in bad_rows[1:]:  # the other ops' simulations do not use that range
        assert r.sqnr_db == others[r.node], r
    only = sensitivity(graph, None, [x], ranges=ranges, ops=[bad])
    assert [r.node for r in only] == [bad]
    with pytest.raises(ValueError, match="not int8-quantizable"):
        sensitivity(graph, None, [x], ranges=ranges, ops=["nope"])


def test_run_program_observe_sees_every_buffer(demo) -> None:
    _, qm, x, _ = demo
    program = lower(qm.graph)
    seen: dict[str, np.ndarray] = {}
    order: list[str] = []

    def observe(name: str, arr: np.ndarray) -> None:
        seen[name] = arr.copy()
        order.append(name)

    outs = run_program(program, [x[:1]], observe=observe)
    plain = run_program(program, [x[:1]])
    assert all(np.array_equal(a, b) for a, b in zip(outs, plain))
    assert order == [c.outputs[0] for c in program.calls]
    assert set(seen) == set(program.buffers) - set(program.inputs)
    for name, out in zip(program.outputs, outs):
        assert np.array_equal(seen[name], out)
    # the first call quantizes the input: its observed buffer is that quantization
    q = program.calls[0].outputs[0]
    assert np.array_equal(seen[q].reshape(-1),
                          quantize_array(x[:1], qm.graph.tensor(q).qparams).reshape(-1))


def test_format_table_layout(healthy) -> None:
    text = format_table(healthy)
    lines = text.splitlines()
    assert lines[0].split()[:2] == ["tensor", "op"] and "SQNR" in lines[0]
    assert len(lines) == 2 + len(healthy)
    assert sum(ln.endswith("<- worst") for ln in lines) == 1
    assert format_table([]) == "(no rows)"
    row = LayerError("t", "t", "Conv", "n", math.inf, 1.0, 0.0, 0.5, 0, 1)
    assert "inf" in format_table([row])


def test_cli_debug(tmp_path, capsys) -> None:
    model = tmp_path / "digits_float.i8"
    model.write_bytes(_data_file("digits_cnn.i8").read_bytes())
    x_calib = load_demo()[3]
    np.save(tmp_path / "calib.npy", x_calib)
    assert main(["-q", "debug", str(model), "--calib", str(tmp_path / "calib.npy"),
                 "--samples", "16", "--sensitivity"]) == 0
    text = capsys.readouterr().out
    assert "SQNR" in text and "/features/features.0/Conv" in text
    assert text.count("<- worst") == 2  # one per table
    assert "sensitivity" in text
