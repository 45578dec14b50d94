"""Output metrics (quant.metrics) and keep="auto" (quant.keep)."""

from __future__ import annotations

import numpy as np
import pytest

import int8rt
from int8rt.quant.keep import auto_keep, float_runner, int8_runner, layer_region, run_outputs
from int8rt.quant.metrics import parse_metric

from .ptq_graphs import dw_separable_graph, images


def _sets(mask: np.ndarray) -> set[tuple[int, ...]]:
    return {tuple(i) for i in np.argwhere(mask)}


def test_anchor_iou_is_the_iou_of_the_anchor_sets() -> None:
    rng = np.random.default_rng(0)
    ref = rng.uniform(0, 0.5, (2, 300, 6))  # [batch, anchors, classes]: class axis last
    got = np.clip(ref + rng.normal(0, 0.05, ref.shape), 0, 1)
    a, b = _sets(ref.max(-1) > 0.25), _sets(got.max(-1) > 0.25)
    want = len(a & b) / len(a | b)
    assert parse_metric("anchor-iou")([ref], [got]) == pytest.approx(want)
    # class axis 1 ([batch, classes, anchors], YOLOv8's layout) is found the same way
    assert parse_metric("anchor-iou")([ref.transpose(0, 2, 1)], [got.transpose(0, 2, 1)]) \
        == pytest.approx(want)
    # box outputs (values outside [0, 1]) are not scores: left out by default
    boxes = rng.normal(0, 50, (2, 300, 4))
    assert parse_metric("anchor-iou")([boxes, ref], [boxes * 2, got]) == pytest.approx(want)
    assert parse_metric("anchor-iou:thr=0.4,outputs=1")([boxes, ref], [boxes, got]) == \
        pytest.approx(len(_sets(ref.max(-1) > .4) & _sets(got.max(-1) > .4))
                      / len(_sets(ref.max(-1) > .4) | _sets(got.max(-1) > .4)))


def test_mask_iou_argmax_cosine() -> None:
    rng = np.random.default_rng(1)
    ref = rng.uniform(0, 1, (3, 1, 20, 20))
    got = np.clip(ref + rng.normal(0, 0.1, ref.shape), 0, 1)
    a, b = _sets(ref > 0.3), _sets(got > 0.3)
    assert parse_metric("mask-iou")([ref], [got]) == pytest.approx(len(a & b) / len(a | b))
    assert parse_metric("mask-iou")([ref], [ref]) == 1.0
    empty = np.zeros_like(ref)
    assert parse_metric("mask-iou")([empty], [empty]) == 1.0  # nothing to find, nothing found
    logits = rng.normal(0, 1, (50, 7))
    noisy = logits + rng.normal(0, 0.5, logits.shape)
    assert parse_metric("argmax")([logits], [noisy]) == pytest.approx(
        float(np.mean(logits.argmax(1) == noisy.argmax(1))))
    c = float(logits.ravel() @ noisy.ravel() / np.linalg.norm(logits) / np.linalg.norm(noisy))
    assert parse_metric("cosine")([logits], [noisy]) == pytest.approx(c)


@pytest.mark.parametrize("spec, why", [
    ("iou", "unknown metric"), ("mask-iou:thr", "bad option"), ("mask-iou:thr=x", "bad option"),
    ("argmax:thr=0.3", "unknown option"), ("cosine:foo=1", "unknown option"),
    ("mask-iou:thr=nan", "bad option")])
def test_bad_specs_are_clear_errors(spec, why) -> None:
    with pytest.raises(ValueError, match=why):
        parse_metric(spec)


def test_metric_names_a_missing_output() -> None:
    with pytest.raises(ValueError, match="no output"):
        parse_metric("mask-iou:outputs=3")([np.zeros(4)], [np.zeros(4)])


def _setup():
    g = dw_separable_graph()
    x = images(24)
    return g, [x[:16]], [{"x": x[i:i + 1]} for i in range(16, 24)]


def test_keep_auto_finds_the_layer_that_breaks_the_output() -> None:
    """Per-tensor 4-bit weights: the depthwise layer (channel magnitudes over 3 decades) loses
    its small channels; keep auto ranks it first and reaches the target with a few layers,
    each value measured on the real int8 program."""
    g, calib, feeds = _setup()
    res = auto_keep(g, calib, feeds, "cosine", 0.999, per_channel=False, weight_bits=4)
    assert res.int8_value < 0.999 <= res.final_value and res.target_met
    assert res.ranking[0].node == "dw" and "dw" in res.kept
    assert 0 < len(res.kept) < 4  # not every layer
    # each kept layer with its region (the ops after it up to the next layer)
    assert res.graph.meta["quantization"]["float_nodes"] == sorted(
        {r for k in res.kept for r in layer_region(g, k)})
    ref = run_outputs(float_runner(g), feeds)
    got = run_outputs(int8_runner(res.graph), feeds)
    assert parse_metric("cosine")(ref, got) == pytest.approx(res.final_value)


def test_keep_auto_keeps_nothing_when_int8_already_meets_the_target() -> None:
    g, calib, feeds = _setup()
    res = auto_keep(g, calib, feeds, "argmax", 0.9)
    assert res.kept == [] and res.target_met and res.evaluations == 1


def test_quantize_keep_auto_and_names(tmp_path) -> None:
    g, calib, feeds = _setup()
    x = np.concatenate([f["x"] for f in feeds])
    qm = int8rt.quantize(g, calib, progress=False, per_channel=False, weight_bits=4,
                         keep="auto", metric="cosine", target=0.999, eval_inputs=x)
    meta = qm.graph.meta["quantization"]["keep_auto"]
    assert meta["target_met"] and "dw" in meta["kept"]
    qm.save(tmp_path / "m.i8")  # the record survives the file format
    assert int8rt.format.load(tmp_path / "m.i8").meta["quantization"]["keep_auto"] == meta
    named = int8rt.quantize(g, calib, progress=False, keep=["dw"])
    assert named.graph.meta["quantization"]["float_nodes"] == ["dw"]
    with pytest.raises(ValueError, match="keep must be"):
        int8rt.quantize(g, calib, progress=False, keep="all")
    with pytest.raises(ValueError, match="io_dtype='float32'"):
        int8rt.quantize(g, calib, progress=False, keep="auto", io_dtype="int8")
    with pytest.raises(ValueError, match="needs keep='auto' or max_drop"):
        int8rt.quantize(g, calib, progress=False, metric="mask-iou")


def test_mixed_search_takes_an_output_metric() -> None:
    """--metric with --max-drop: the search target is agreement of all outputs with float."""
    g, calib, feeds = _setup()
    x = np.concatenate([f["x"] for f in feeds])
    qm = int8rt.quantize(g, calib, progress=False, per_channel=False, weight_bits=4,
                         metric="cosine", max_drop=0.001, eval_inputs=x)
    assert qm.mixed.target_met and qm.mixed.float_value == 1.0
    assert qm.mixed.int8_value < 0.999 <= qm.mixed.final_value


def test_cli_keep_auto(tmp_path, capsys) -> None:
    from int8rt import format as i8format
    from int8rt.cli import main

    g, calib, _ = _setup()
    i8format.save(g, tmp_path / "m.i8")
    np.save(tmp_path / "calib.npy", calib[0])
    out = tmp_path / "q.i8"
    args = ["-q", "quantize", str(tmp_path / "m.i8"), "--calib", str(tmp_path / "calib.npy"),
            "--per-tensor", "--weight-bits", "4", "--keep", "auto", "--metric", "cosine",
            "--target", "0.999", "-o", str(out)]
    assert main(args) == 0
    text = capsys.readouterr().out
    assert "keep auto: cosine" in text and "dw" in text.split("kept float:")[1]
    # an unreachable target exits 1 (the file is still written, as for --max-drop)
    assert main(args[:-4] + ["--target", "1.0", "-o", str(out)]) == 1
