"""Scale tables: the JSON format, applying a table to a float model in place of calibration,
exporting a quantized graph's table, and the CLI."""

from __future__ import annotations

import json

import numpy as np
import pytest

pytest.importorskip("onnx")

import int8rt
from int8rt.cli import main
from int8rt.frontend.onnx_qdq import split_qdq
from int8rt.quant.table import (
    export_table,
    load_table,
    make_entry,
    save_table,
    table_document,
)
from tests.models.digits import ONNX_PATH, load_digits_test


@pytest.fixture(scope="module")
def digits():
    return load_digits_test()


def _params(graph) -> dict:
    return {t.name: (t.dtype, np.asarray(t.qparams.scale).tolist(),
                     np.asarray(t.qparams.zero_point).tolist())
            for t in graph.tensors.values() if t.qparams is not None}


def test_exported_table_reproduces_ptq(tmp_path, digits) -> None:
    ptq = int8rt.quantize(str(ONNX_PATH), [digits.x_calib], progress=False)
    path = tmp_path / "scales.json"
    save_table(export_table(ptq.graph), path)
    doc = json.loads(path.read_text())
    assert doc["format"] == "int8rt-scale-table" and doc["version"] == 1
    again = int8rt.quantize(ptq.float_graph, table=path)
    assert _params(again.graph) == _params(ptq.graph)
    x = digits.x_test[:50]
    np.testing.assert_array_equal(int8rt.Session(again).run(None, {"input": x})[0],
                                  int8rt.Session(ptq).run(None, {"input": x})[0])


def test_table_from_qdq_applied_to_float_onnx(tmp_path, digits) -> None:
    """The activations of a QDQ model, as a table over the float model's ONNX names, give the
    same int8 model as importing the QDQ model (weights: int8rt's own per-channel rule, which
    is also ORT's symmetric max rule)."""
    from tests.models.ort_baseline import ort_quantize_static

    qdq = ort_quantize_static(ONNX_PATH, digits.x_calib, tmp_path / "q.onnx",
                              reduce_range=False)
    _, table = split_qdq(str(qdq))
    acts = {k: v for k, v in table.items() if v.axis is None and v.dtype != "int32"}
    save_table(acts, tmp_path / "acts.json")
    via_table = int8rt.quantize(str(ONNX_PATH), table=tmp_path / "acts.json")
    via_qdq = int8rt.quantize(str(qdq))
    x = digits.x_test[:100]
    a = int8rt.Session(via_table).run(None, {"input": x})[0]
    b = int8rt.Session(via_qdq).run(None, {"input": x})[0]
    assert np.mean(np.argmax(a, 1) == np.argmax(b, 1)) >= 0.99


def test_table_format_checks() -> None:
    with pytest.raises(ValueError, match="not an int8rt scale table"):
        load_table({"format": "x", "version": 1, "tensors": {}})
    with pytest.raises(ValueError, match="needs an `axis`"):
        load_table({"format": "int8rt-scale-table", "version": 1,
                    "tensors": {"w": {"dtype": "int8", "scale": [0.1, 0.2]}}})
    with pytest.raises(ValueError, match="outside uint8"):
        make_entry("a", "uint8", 0.1, 300)
    with pytest.raises(ValueError, match="> 0"):
        make_entry("a", "int8", 0.0, 0)
    e = make_entry("a", "uint8", 0.5, 200)
    assert e.qparams().scalar() == (0.5, 72)  # uint8 -> int8: zero point - 128
    assert load_table(table_document({"a": e}))["a"].to_json() == e.to_json()


def test_missing_activation_is_reported(digits) -> None:
    ptq = int8rt.quantize(str(ONNX_PATH), [digits.x_calib], progress=False)
    entries = export_table(ptq.graph)
    conv_out = next(n.outputs[0] for n in ptq.graph.nodes if n.op == "Conv")
    del entries[conv_out]
    with pytest.warns(UserWarning, match="stay float"):
        g = int8rt.quantize(ptq.float_graph, table=entries).graph
    assert any(r.startswith("Conv") for r in g.meta["quantization"]["float_reasons"].values())


def test_cli_table_and_qdq(tmp_path, digits) -> None:
    ptq = int8rt.quantize(str(ONNX_PATH), [digits.x_calib], progress=False)
    save_table(export_table(ptq.graph), tmp_path / "s.json")
    out = tmp_path / "m.i8"
    assert main(["-q", "quantize", str(ONNX_PATH), "--table", str(tmp_path / "s.json"),
                 "--export-table", str(tmp_path / "back.json"), "-o", str(out)]) == 0
    assert out.exists() and json.loads((tmp_path / "back.json").read_text())["tensors"]
    assert main(["-q", "quantize", str(ONNX_PATH), "-o", str(out)]) != 0  # neither given
    from tests.models.ort_baseline import ort_quantize_static

    qdq = ort_quantize_static(ONNX_PATH, digits.x_calib[:20], tmp_path / "q.onnx")
    assert main(["-q", "quantize", str(qdq), "-o", str(tmp_path / "qdq.i8")]) == 0  # no calib
    sess = int8rt.Session(str(tmp_path / "qdq.i8"))
    assert sess.run(None, {"input": digits.x_test[:4]})[0].shape == (4, 10)
