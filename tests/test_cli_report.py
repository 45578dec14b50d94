"""`int8rt report` as issue 21 asks: advice ranked by the task metric (never a method its own
table shows worse), the source model's node names everywhere, a progress bar per phase."""

from __future__ import annotations

import importlib.util
import re
from types import SimpleNamespace

import numpy as np
import pytest

from int8rt.report import MethodScore, _advice


def _scores(chosen_agree: float, other_agree: float) -> list[MethodScore]:
    return [MethodScore("minmax", True, 20.0, 0.99, chosen_agree),
            MethodScore("minmax", False, 18.0, 0.98, chosen_agree),
            MethodScore("percentile", True, 26.0, 0.995, other_agree),
            MethodScore("percentile", False, 24.0, 0.99, other_agree)]


def test_advice_never_recommends_a_method_worse_on_the_task_metric() -> None:
    # the case: percentile has the higher output SQNR but the lower top-1 agreement
    scores = _scores(0.769, 0.692)
    advice = " ".join(_advice(scores, scores[0], [], [], depthwise=True))
    assert "--method percentile" not in advice
    # better on agreement: recommended, and the reason is the task metric
    scores = _scores(0.692, 0.769)
    advice = " ".join(_advice(scores, scores[0], [], [], depthwise=True))
    assert "--method percentile" in advice and "top-1 agreement 0.769 vs 0.692" in advice
    # no task metric (not class scores): output SQNR decides
    scores = _scores(float("nan"), float("nan"))
    advice = " ".join(_advice(scores, scores[0], [], [], depthwise=True))
    assert "--method percentile" in advice and "26.0 dB vs 20.0 dB" in advice


def test_advice_names_layers_by_their_node() -> None:
    scores = _scores(0.9, 0.9)
    layers = [SimpleNamespace(name=f"t{i}_output_0", op="Conv", sqnr_db=40.0,
                              input_sqnr_db=45.0) for i in range(6)]
    layers.append(SimpleNamespace(name="bad_output_0", op="Conv", sqnr_db=10.0,
                                  input_sqnr_db=40.0))
    advice = " ".join(_advice(scores, scores[0], layers, [], False,
                              {"bad_output_0": "/features/Conv_7"}))
    assert "/features/Conv_7" in advice and "bad_output_0" not in advice


@pytest.mark.skipif(importlib.util.find_spec("matplotlib") is None,
                    reason="report plots need matplotlib (the report extra)")
def test_report_names_nodes_and_shows_every_phase(tmp_path, capsys) -> None:
    pytest.importorskip("onnx")
    pytest.importorskip("torch")
    import onnx

    from int8rt.api import load_float_model
    from int8rt.report import write_report
    from tests.cli_models import small_cnn_onnx
    from tests.models.images import sample_images

    path = small_cnn_onnx(tmp_path / "m.onnx")
    source = {n.name for n in onnx.load(path).graph.node}
    # the source names, plus int8rt's own boundary nodes (x_nhwc), as `bench --profile` shows
    nodes = {n.name for n in load_float_model(path).nodes}
    timings: dict[str, float] = {}
    out = write_report(str(path), sample_images(6, 64), tmp_path / "r.html", samples=6,
                       progress=True, timings=timings)
    page = out.read_text()
    err = capsys.readouterr().err
    for desc in ("observing", "choosing ranges", "scoring methods", "per-layer errors",
                 "sensitivity", "drawing charts"):
        assert f"{desc}:" in err, desc
    assert set(timings) >= {"observe", "methods", "layers", "sensitivity", "charts"}
    # per-layer rows show the node (the tensor only in a tooltip); sensitivity rows too
    layer_table = page.split("<h2>Per-layer error", 1)[1].split("<h2>", 1)[0]
    shown = re.findall(r'<code title="tensor [^"]*">([^<]*)</code>', layer_table)
    assert shown and all(name in nodes or name == "x" for name in shown), shown
    assert sum(name in source for name in shown) >= 4, shown
    sens_table = page.split("<h2>Sensitivity", 1)[1]
    assert re.findall(r"<code>([^<]*)</code>", sens_table)
    assert all(name in nodes for name in re.findall(r"<code>([^<]*)</code>", sens_table))
    assert np.isfinite(sum(timings.values()))
