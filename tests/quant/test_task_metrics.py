"""Output metrics (quant.metrics) and keep="auto" (quant.keep)."""

from __future__ import annotations

import numpy as np
import pytest

import int8rt
from int8rt.quant.keep import (
    auto_keep,
    choose_preparation,
    float_runner,
    int8_runner,
    keep_auto,
    layer_region,
    run_outputs,
    search_target,
    split_samples,
)
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
    each value measured on the real int8 program (margin 0: the search aims at the target
    itself)."""
    g, calib, feeds = _setup()
    res = auto_keep(g, calib, feeds, "cosine", 0.999, per_channel=False, weight_bits=4,
                    margin=0.0)
    assert res.int8_value < 0.999 <= res.final_value and res.target_met
    assert res.ranking[0].node == "dw" and "dw" in res.kept
    assert 0 < len(res.kept) < 4  # not every layer
    # each kept layer with its region (the ops after it up to the next layer)
    assert res.graph.meta["quantization"]["float_nodes"] == sorted(
        {r for k in res.kept for r in layer_region(g, k)})
    ref = run_outputs(float_runner(g), feeds)
    got = run_outputs(int8_runner(res.graph), feeds)
    assert parse_metric("cosine")(ref, got) == pytest.approx(res.final_value)


def test_search_target_halves_the_allowed_disagreement() -> None:
    assert search_target(0.9, 0.5) == pytest.approx(0.95)
    assert search_target(0.999, 0.5) == pytest.approx(0.9995)
    assert search_target(0.9, 0.0) == 0.9
    for bad in (1.0, -0.1, float("nan")):
        with pytest.raises(ValueError, match="margin"):
            search_target(0.9, bad)


def test_keep_auto_aims_above_the_target_on_its_own_samples() -> None:
    """The default margin: samples the ranges were measured on flatter the int8 model, so the
    search must reach 0.9995 there for a target of 0.999, keeping more than margin 0 does."""
    g, calib, feeds = _setup()
    kw = {"per_channel": False, "weight_bits": 4}
    plain = auto_keep(g, calib, feeds, "cosine", 0.999, margin=0.0, **kw)
    res = auto_keep(g, calib, feeds, "cosine", 0.999, **kw)
    assert res.search_target == pytest.approx(0.9995) and res.target == 0.999
    assert res.target_met and res.final_value >= 0.9995
    assert plain.final_value < 0.9995  # so the margin changed the choice ...
    assert len(res.kept) > len(plain.kept)  # ... by keeping more layers float
    assert res.meta()["search_target"] == pytest.approx(0.9995)


def test_choose_preparation_ranks_plain_and_cle_bc_by_their_full_int8_metric() -> None:
    """Each option's value is the metric of exactly the model quantize() makes with those
    options; the list is best first."""
    g, calib, feeds = _setup()
    x = np.concatenate([f["x"] for f in feeds])
    kw = {"per_channel": False, "weight_bits": 4}
    preps = choose_preparation(g, calib, feeds, "cosine", **kw)
    assert sorted(p.label for p in preps) == ["CLE+BC", "plain"]
    assert preps[0].value >= preps[1].value
    ref = run_outputs(float_runner(g), feeds)
    for p in preps:
        on = p.label == "CLE+BC"
        qm = int8rt.quantize(g, calib, progress=False, equalize=on, bias_correction=on, **kw)
        got = run_outputs(int8_runner(qm.graph), [{"x": x[i:i + 1]} for i in range(len(x))])
        assert parse_metric("cosine")(ref, got) == pytest.approx(p.value)


def test_quantize_keep_auto_chooses_the_preparation_unless_told() -> None:
    g, calib, feeds = _setup()
    x = np.concatenate([f["x"] for f in feeds])
    kw = {"per_channel": False, "weight_bits": 4, "progress": False, "keep": "auto",
          "metric": "cosine", "target": 0.99}
    # its default: the first 16 calibration samples, of which the even ones select
    own = [{"x": calib[0][i:i + 1]} for i in range(0, 16, 2)]
    best = choose_preparation(g, calib, own, "cosine", per_channel=False, weight_bits=4)[0]
    meta = int8rt.quantize(g, calib, **kw).graph.meta["quantization"]["keep_auto"]
    assert meta["prepared"] == best.label and meta["int8_value"] == pytest.approx(best.value)
    assert meta["search_target"] == pytest.approx(0.995)  # evaluated on calibration samples
    v = meta["validation"]  # the odd ones of the 16 validate: never below plain int8 there
    assert v["samples"] == 8 and v["start"] == "plain"
    assert v["value"] > v["start_value"] or (v["accepted"] == "start"
                                             and v["value"] == v["start_value"])
    told = int8rt.quantize(g, calib, equalize=False, bias_correction=False, eval_inputs=x,
                           **kw).graph.meta["quantization"]["keep_auto"]
    assert told["prepared"] == "plain"
    assert told["search_target"] == pytest.approx(0.99)  # held-out samples: no margin
    both = int8rt.quantize(g, calib, equalize=True, bias_correction=True, eval_inputs=x,
                           **kw).graph.meta["quantization"]["keep_auto"]
    assert both["prepared"] == "CLE+BC"


def test_split_samples_is_fixed_and_interleaved() -> None:
    feeds = [{"x": np.full((1, 2), i, np.float32)} for i in range(7)]
    sel, val = split_samples(feeds)
    assert [int(f["x"][0, 0]) for f in sel] == [0, 2, 4, 6]
    assert [int(f["x"][0, 0]) for f in val] == [1, 3, 5]
    again = split_samples(feeds)
    assert all(a is b for a, b in zip(sel + val, again[0] + again[1], strict=True))


def _validation_value(g, qgraph, feeds) -> float:
    val = split_samples(feeds)[1]
    return parse_metric("cosine")(run_outputs(float_runner(g), val),
                                  run_outputs(int8_runner(qgraph), val))


def test_keep_auto_searches_on_one_half_and_checks_on_the_other() -> None:
    """The layers are chosen on the selection half; the validation half, which the search
    never saw, confirms the choice beats plain full int8 there; every recorded value is the
    real int8 program's."""
    g, calib, _ = _setup()
    feeds = [{"x": calib[0][i:i + 1]} for i in range(16)]
    kw = {"per_channel": False, "weight_bits": 4}
    res = keep_auto(g, calib, feeds, "cosine", 0.99, **kw)
    v = res.validation
    assert v.samples == 8 and v.start == "plain" and v.accepted == "search" and res.kept
    assert v.value > v.start_value
    assert v.value == pytest.approx(_validation_value(g, res.graph, feeds))
    plain = int8rt.quantize(g, calib, progress=False, **kw).graph
    assert v.start_value == pytest.approx(_validation_value(g, plain, feeds))
    # the search saw only the even samples: on them alone it keeps the same layers
    plain_only = keep_auto(g, calib, feeds, "cosine", 0.99, options=(("plain", False, False),),
                           **kw)
    alone = auto_keep(g, calib, split_samples(feeds)[0], "cosine", 0.99, **kw)
    assert alone.kept == plain_only.kept and alone.final_value == plain_only.final_value
    assert res.meta()["validation"] == v.meta()


def test_keep_auto_falls_back_to_plain_int8_when_validation_disagrees(monkeypatch) -> None:
    """A choice that does worse than plain full int8 on the validation samples is refused:
    here the search is made to return a 2-bit model (worse everywhere), and keep_auto ends
    with exactly the plain int8 model, no layer float."""
    import int8rt.quant.keep as keep_mod
    from int8rt.quant.ptq import quantize_graph

    real = keep_mod.auto_keep

    def bad_search(graph, calibration, feeds, metric, target, **kw):
        res = real(graph, calibration, feeds, metric, target, **kw)
        res.graph = quantize_graph(graph, kw["ranges"], per_channel=False, weight_bits=2,
                                   float_nodes=["fc"])
        res.kept = ["fc"]
        return res

    monkeypatch.setattr(keep_mod, "auto_keep", bad_search)
    g, calib, _ = _setup()
    feeds = [{"x": calib[0][i:i + 1]} for i in range(16)]
    kw = {"per_channel": False, "weight_bits": 4}
    res = keep_auto(g, calib, feeds, "cosine", 0.99, options=(("plain", False, False),), **kw)
    v = res.validation
    assert v.found == "plain, 1 kept" and v.found_value < v.start_value
    assert v.accepted == "start" and v.value == v.start_value and res.kept == []
    plain = int8rt.quantize(g, calib, progress=False, **kw).graph
    assert not res.graph.meta["quantization"].get("float_nodes")
    assert _validation_value(g, res.graph, feeds) == _validation_value(g, plain, feeds)
    # without validation the bad choice would stand
    unchecked = keep_auto(g, calib, feeds, "cosine", 0.99, options=(("plain", False, False),),
                          validate=False, **kw)
    assert unchecked.kept == ["fc"] and unchecked.validation is None


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
            "--target", "0.99", "-o", str(out)]
    assert main(args) == 0
    text = capsys.readouterr().out
    kept = i8format.load(out).meta["quantization"]["keep_auto"]["kept"]
    assert kept and "keep auto: cosine" in text
    assert text.split("kept float: ")[1].split("\n")[0] == ", ".join(kept)
    # an unreachable target exits 1 (the file is still written, as for --max-drop)
    assert main(args[:-4] + ["--target", "1.0", "-o", str(out)]) == 1


def test_cli_leaves_equalize_and_bias_correction_to_keep_auto_unless_given() -> None:
    from int8rt.cli import build_parser

    def parsed(*flags: str):
        a = build_parser().parse_args(["quantize", "m.onnx", "--calib", "c.npy", "--keep",
                                       "auto", "-o", "m.i8", *flags])
        return a.equalize, a.bias_correction

    assert parsed() == (None, None)
    assert parsed("--equalize", "--bias-correction") == (True, True)
    assert parsed("--no-equalize", "--no-bias-correction") == (False, False)


def test_layer_macs_and_float_prefixes() -> None:
    """Multiply-adds by hand for the 8x8 graph; the prefixes end just before each layer after
    the first, shortest first, and stop at the share limit."""
    from int8rt.quant.keep import float_prefixes, layer_macs

    g = dw_separable_graph()
    macs = layer_macs(g)
    assert macs == {"c1": 64 * 8 * 27, "dw": 64 * 8 * 9, "pw": 64 * 12 * 8, "fc": 5 * 12}
    total = sum(macs.values())
    cuts = float_prefixes(g, 1.0)
    assert [names for names, _ in cuts] == [["c1"], ["c1", "dw"], ["c1", "dw", "pw", "gap",
                                                                  "flat"]]
    assert [share for _, share in cuts] == pytest.approx(
        [macs["c1"] / total, (macs["c1"] + macs["dw"]) / total,
         (total - macs["fc"]) / total])
    assert [n for n, _ in float_prefixes(g, 0.75)] == [["c1"], ["c1", "dw"]]
    assert [n for n, _ in float_prefixes(g, 0.7)] == [["c1"]]
    assert float_prefixes(g, 0.5) == []


def test_keep_auto_tries_float_prefixes_when_few_layers_fall_short() -> None:
    """One layer kept float (max_keep=1) does not reach cosine 0.998 with 4-bit per-tensor
    weights; the float prefix step then takes the shortest prefix that does and gives its
    leading ops back to int8 while the target holds; every value it reports is the real
    int8 program's."""
    from int8rt.quant.calibrate import calibrate
    from int8rt.quant.keep import float_prefixes, layer_macs
    from int8rt.quant.ptq import quantize_graph

    g, calib, feeds = _setup()
    kw = {"per_channel": False, "weight_bits": 4, "margin": 0.0, "max_keep": 1}
    few = auto_keep(g, calib, feeds, "cosine", 0.998, max_prefix_share=0.0, **kw)
    assert not few.target_met and few.prefix == 0 and len(few.kept) == 1
    res = auto_keep(g, calib, feeds, "cosine", 0.998, max_prefix_share=1.0, **kw)
    assert res.target_met and res.prefix == len(res.kept) > 0
    assert res.graph.meta["quantization"]["float_nodes"] == sorted(res.kept)
    ranges = calibrate(g, calib, progress=False)
    ref = run_outputs(float_runner(g), feeds)

    def value(names: list[str]) -> float:
        qg = quantize_graph(g, ranges, per_channel=False, weight_bits=4, float_nodes=names)
        return parse_metric("cosine")(ref, run_outputs(int8_runner(qg), feeds))

    values = [value(names) for names, _ in float_prefixes(g, 1.0)]
    first = next(i for i, v in enumerate(values) if v >= 0.998)
    assert first == 2  # two shorter prefixes fall short
    whole = float_prefixes(g, 1.0)[first][0]
    assert whole[len(whole) - len(res.kept):] == res.kept  # a trimmed prefix ...
    assert res.final_value >= 0.998 and res.final_value == pytest.approx(value(res.kept))
    assert len(res.kept) == 1 or value(res.kept[1:]) < 0.998  # ... trimmed as far as it holds
    macs = layer_macs(g)
    assert res.prefix_share == pytest.approx(sum(macs.get(n, 0) for n in res.kept)
                                             / sum(macs.values()))
    assert res.meta()["prefix"] == {"ops": res.prefix, "first": res.kept[0],
                                    "last": res.kept[-1],
                                    "share": pytest.approx(res.prefix_share)}
    assert "float prefix: " in res.summary()
    with pytest.raises(ValueError, match="max_prefix_share"):
        auto_keep(g, calib, feeds, "cosine", 0.998, max_prefix_share=1.5)


def test_keep_auto_drops_the_prefix_record_when_validation_refuses_it(monkeypatch) -> None:
    """A float prefix that loses to plain int8 on the validation samples is refused like any
    choice, and the result no longer reports a prefix."""
    import int8rt.quant.keep as keep_mod
    from int8rt.quant.ptq import quantize_graph

    real = keep_mod.auto_keep

    def bad_prefix(graph, calibration, feeds, metric, target, **kw):
        res = real(graph, calibration, feeds, metric, target, **kw)
        res.graph = quantize_graph(graph, kw["ranges"], per_channel=False, weight_bits=2,
                                   float_nodes=["c1"])
        res.kept, res.prefix, res.prefix_share = ["c1"], 1, 0.5
        return res

    monkeypatch.setattr(keep_mod, "auto_keep", bad_prefix)
    g, calib, _ = _setup()
    feeds = [{"x": calib[0][i:i + 1]} for i in range(16)]
    res = keep_auto(g, calib, feeds, "cosine", 0.99, options=(("plain", False, False),),
                    per_channel=False, weight_bits=4)
    assert res.validation.found == "plain, float prefix of 1 ops"
    assert res.validation.accepted == "start" and res.kept == [] and res.prefix == 0
    assert "prefix" not in res.meta() and "layers kept float (0)" in res.summary()


def test_keep_auto_validates_a_float_prefix_against_the_layers() -> None:
    """When layers reach the search target, a float prefix that reaches it too is the other
    candidate and the validation samples decide: here the prefix (its stem conv given back to
    int8) beats the one layer the greedy keep chose, and both values are the real int8
    programs' on the validation half."""
    g, calib, _ = _setup()
    feeds = [{"x": calib[0][i:i + 1]} for i in range(16)]
    kw = {"per_channel": False, "weight_bits": 4}
    layers_only = keep_auto(g, calib, feeds, "cosine", 0.99, max_prefix_share=0.0, **kw)
    assert layers_only.kept == ["fc"] and layers_only.validation.other_value is None
    res = keep_auto(g, calib, feeds, "cosine", 0.99, max_prefix_share=1.0, **kw)
    v = res.validation
    assert v.found == "plain, 1 kept" and v.found_value == layers_only.validation.found_value
    assert v.other == "plain, float prefix of 4 ops" and v.accepted == "prefix"
    assert v.value == v.other_value > v.found_value > v.start_value
    assert res.kept == ["dw", "pw", "gap", "flat"] and res.prefix == 4  # c1 back in int8
    assert v.value == pytest.approx(_validation_value(g, res.graph, feeds))
    assert res.meta()["validation"]["other_value"] == pytest.approx(v.other_value)
    assert "other (plain, float prefix of 4 ops)" in res.summary()


def test_cli_names_a_float_prefix_by_its_ends(tmp_path, capsys, monkeypatch) -> None:
    """-q prints a chosen prefix as its op count and end ops, not every name (72 on DBNet);
    the file records them all. The 8x8 graph's prefixes hold over 40 % of its multiply-adds,
    so the limit is lifted here."""
    import functools

    import int8rt.quant.keep as keep_mod
    from int8rt import format as i8format
    from int8rt.cli import main

    monkeypatch.setattr(keep_mod, "keep_auto",
                        functools.partial(keep_mod.keep_auto, max_prefix_share=1.0))
    g, calib, _ = _setup()
    i8format.save(g, tmp_path / "m.i8")
    np.save(tmp_path / "calib.npy", calib[0])
    out = tmp_path / "q.i8"
    assert main(["-q", "quantize", str(tmp_path / "m.i8"), "--calib",
                 str(tmp_path / "calib.npy"), "--per-tensor", "--weight-bits", "4", "--keep",
                 "auto", "--metric", "cosine", "--target", "0.99", "-o", str(out)]) == 0
    meta = i8format.load(out).meta["quantization"]["keep_auto"]
    assert meta["kept"] == ["dw", "pw", "gap", "flat"] and meta["prefix"]["ops"] == 4
    assert "kept float: a prefix of 4 ops, dw to flat\n" in capsys.readouterr().out
