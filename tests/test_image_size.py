"""Static graphs at a new image size (docs/PLAN.md "Image size", int8rt/image_size.py,
reshape.py ImageLowering, csrc/plan/reshape.c): a torch-exported fully convolutional detector
quantized at 64 x 64 runs at other H / W, odd ones included; each output equals the numpy
reference running the Program lowered directly at that size, bit for bit; the resize index maps
a reshape generates in C equal kernel_tables'; graphs whose ops cannot follow a new size keep
their image size with a reason; the feed check takes free H / W above the graph's minimum."""

from __future__ import annotations

import itertools

import numpy as np
import pytest

import int8rt
from int8rt import kernel_tables as kt
from int8rt._native import resize_index_map
from int8rt.image_size import at_size
from int8rt.lower import lower
from int8rt.reference.program import run_program
from int8rt.reshape import ReshapedPlan
from tests import fcn_models
from tests.concurrency import run_in_threads

pytest.importorskip("torch")

# (N, H, W): the quantization size, odd sizes, sizes below it, batches > 1, classes revisited
SIZES = [(1, 64, 64), (1, 65, 63), (2, 48, 80), (1, 33, 17), (3, 100, 37), (1, 7, 9),
         (1, 1, 1), (1, 72, 64), (1, 80, 64), (2, 57, 41), (1, 65, 79), (4, 16, 24)]


@pytest.fixture(scope="module", params=["nearest", "bilinear"])
def detector(request):
    m = fcn_models.detector(pool=request.param == "nearest", mode=request.param)
    return fcn_models.quantized(fcn_models.export(m, 3 if request.param == "nearest" else 2))


def reference(graph, x: np.ndarray) -> list[np.ndarray]:
    """The Program lowered directly at x's size, run by the numpy reference kernels."""
    program = lower(at_size(graph, {"x": x.shape}))
    return run_program(program, [x])


@pytest.mark.parametrize("threads", [1, 2])
def test_every_size_equals_the_reference_lowered_at_that_size(detector, threads):
    sess = int8rt.Session(detector, threads=threads)
    assert sess.get_inputs()[0].shape == ["N", 3, "H", "W"]  # the ONNX names, as ORT shows them
    rng = np.random.default_rng(5)
    for n, h, w in SIZES:
        x = rng.standard_normal((n, 3, h, w)).astype(np.float32)
        got = sess.run(None, {"x": x})
        want = reference(sess.graph, x)
        assert [g.shape for g in got] == [r.shape for r in want]
        assert got[0].shape[2:] == (-(-h // 4), -(-w // 4))  # two stride-2 convs, pads 1
        for g, r in zip(got, want):
            assert np.array_equal(g, r), (n, h, w)
    plans = sess._plans.values()
    # every size but the quantization size is a C reshape of its (r_h, r_w) class's template
    assert sum(isinstance(p, ReshapedPlan) for p in plans) == len(plans) - 1
    assert not sess._reshaper.refused


def test_without_templates_new_sizes_are_planned_in_python(detector, monkeypatch):
    monkeypatch.setenv("INT8RT_RESHAPE", "0")
    sess = int8rt.Session(detector, threads=1)
    assert sess._reshaper is None
    rng = np.random.default_rng(6)
    for n, h, w in [(1, 65, 63), (2, 9, 30)]:
        x = rng.standard_normal((n, 3, h, w)).astype(np.float32)
        for g, r in zip(sess.run(None, {"x": x}), reference(sess.graph, x)):
            assert np.array_equal(g, r), (n, h, w)
    assert not any(isinstance(p, ReshapedPlan) for p in sess._plans.values())


def test_one_template_per_residue_class_and_bounded_caches(detector):
    sess = int8rt.Session(detector, threads=1, max_plans=6)
    x = np.zeros((1, 3, 64, 64), np.float32)
    sess.run(None, {"x": x})
    packs = sess._packed_weights.packs
    image = sess._image
    assert [(a.var, a.period, a.minimum) for a in image.axes] == [("h", 8, 1), ("w", 8, 1)]
    for h, w in [(24, 24), (32, 40), (80, 16)]:  # one class (0, 0): one template
        sess.run(None, {"x": np.zeros((1, 3, h, w), np.float32)})
    assert list(sess._reshaper.templates) == [(-1, 0, 0)]
    for h in range(9, 60, 3):  # many classes and sizes: caches stay bounded
        sess.run(None, {"x": np.zeros((1, 3, h, h + 2), np.float32)})
    assert len(sess._plans) <= 6 and len(sess._reshaper.templates) <= 8
    assert sess._packed_weights.packs == packs  # weights packed once per session


def test_threads_reshaping_and_running_new_sizes_at_once(detector):
    sizes = [(1, 24 + 5 * k, 40 - 3 * k) for k in range(8)]
    rng = np.random.default_rng(7)
    feeds = [rng.standard_normal((n, 3, h, w)).astype(np.float32) for n, h, w in sizes]
    single = int8rt.Session(detector, threads=1)
    want = [single.run(None, {"x": x}) for x in feeds]
    sess = int8rt.Session(detector, threads=2, max_plans=3)  # plans evicted while others run

    def worker(k: int) -> int:
        bad = 0
        for r in range(6):
            i = (k * 3 + r * 5) % len(feeds)
            got = sess.run(None, {"x": feeds[i]})
            bad += sum(not np.array_equal(g, w) for g, w in zip(got, want[i]))
        return bad

    assert run_in_threads(worker, [(k,) for k in range(4)]) == [0] * 4


SCALES = [None, 2.0, 0.5, 1.5, 3.0, 0.75, float(np.float32(1 / 3)), float(np.float32(2.6))]


@pytest.mark.parametrize("ins,outs,scales", [
    ((1, 2, 3, 5, 8), (1, 2, 3, 4, 7, 10, 16, 19), SCALES[:5] + SCALES[6:7]),
    pytest.param(range(1, 10), range(1, 20), SCALES, marks=pytest.mark.slow),
])
def test_resize_index_maps_generated_in_c_equal_kernel_tables(ins, outs, scales):
    for ctm, scale in itertools.product(kt.COORDINATE_MODES, scales):
        for n_in, n_out in itertools.product(ins, outs):
            for nm in kt.NEAREST_MODES:
                want = kt.resize_nearest_map(n_in, n_out, scale, ctm, nm)
                if scale is None:  # lowering gives sizes as the float32 ratio out / in
                    want = kt.resize_nearest_map(n_in, n_out, n_out / n_in, ctm, nm)
                got = resize_index_map("nearest", n_in, n_out, ctm, nm, scale)
                assert np.array_equal(got, want), (ctm, scale, n_in, n_out, nm)
            s = n_out / n_in if scale is None else scale
            for key, want in zip(("linear_i0", "linear_i1", "linear_w1"),
                                 kt.resize_linear_map(n_in, n_out, s, ctm)):
                got = resize_index_map(key, n_in, n_out, ctm, "floor", scale)
                assert np.array_equal(got, want), (key, ctm, scale, n_in, n_out)
    with pytest.raises(ValueError):
        resize_index_map("nearest", 0, 4, "asymmetric")
    with pytest.raises(ValueError):
        resize_index_map("nearest", 4, 4, "asymmetric", "floor", -2.0)
    with pytest.raises(ValueError):  # P / Q beyond the exact int64 range: refused, not wrong
        resize_index_map("nearest", 4, 4, "asymmetric", "floor", float(np.float32(1e-6)))


def test_feed_check_takes_free_h_w_and_refuses_the_rest(detector):
    sess = int8rt.Session(detector, threads=1)
    with pytest.raises(ValueError, match=r"expected \('N', 3, 'H', 'W'\)"):
        sess.run(None, {"x": np.zeros((1, 4, 64, 64), np.float32)})  # channels stay fixed
    with pytest.raises(ValueError, match="empty"):
        sess.run(None, {"x": np.zeros((1, 3, 0, 64), np.float32)})
    with pytest.raises(TypeError):
        sess.run(None, {"x": np.zeros((1, 3, 30, 30), np.float64)})
    fixed = int8rt.Session(detector, threads=1, free_image_size=False)
    fixed.run(None, {"x": np.zeros((2, 3, 64, 64), np.float32)})  # the batch stays free
    with pytest.raises(ValueError, match=r"expected \('N', 3, 64, 64\)"):
        fixed.run(None, {"x": np.zeros((1, 3, 65, 64), np.float32)})


def test_below_the_smallest_size_is_a_clear_error():
    qm = fcn_models.quantized(fcn_models.export(fcn_models.valid_convs(), 1))
    sess = int8rt.Session(qm, threads=1)
    assert [a.minimum for a in sess._image.axes] == [7, 7]
    rng = np.random.default_rng(1)
    for h, w in [(7, 7), (7, 30), (31, 8), (64, 64), (9, 70)]:
        x = rng.standard_normal((1, 3, h, w)).astype(np.float32)
        (y,) = sess.run(None, {"x": x})
        assert y.shape == (1, 4, h - 6, w - 6)
        assert np.array_equal(y, reference(sess.graph, x)[0])
    with pytest.raises(ValueError, match=r"H = 6 is below the smallest size this graph takes "
                                         r"\(H >= 7"):
        sess.run(None, {"x": np.zeros((1, 3, 6, 20), np.float32)})
    with pytest.raises(ValueError, match=r"W = 3 is below"):
        sess.run(None, {"x": np.zeros((1, 3, 20, 3), np.float32)})


@pytest.mark.parametrize("make,why", [
    (fcn_models.classifier, "needs a fixed size"),
    (fcn_models.ceil_pool, r"pads resolved for the import size \(ceil_mode\)"),
])
def test_graphs_that_cannot_follow_a_new_size_keep_theirs(make, why):
    qm = fcn_models.quantized(fcn_models.export(make(), 1))
    sess = int8rt.Session(qm, threads=1)
    assert sess._image is None
    sess.run(None, {"x": np.zeros((2, 3, 64, 64), np.float32)})
    with pytest.raises(ValueError, match=f"the image size is fixed: .*{why}"):
        sess.run(None, {"x": np.zeros((1, 3, 72, 64), np.float32)})
    with pytest.raises(ValueError, match=f"free_image_size=True: .*{why}"):
        int8rt.Session(qm, threads=1, free_image_size=True)


def test_scale_upsample_and_concat_at_a_size_the_graph_cannot_join():
    """F.interpolate(scale_factor=2) + concat with the skip (a YOLO-style neck) only joins at
    even sizes of the deep map: an odd size is refused by name, not run."""
    torch, nn, Fn = fcn_models._torch()

    class Neck(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.a, self.b = nn.Conv2d(3, 4, 3, 1, 1), nn.Conv2d(4, 4, 3, 2, 1)

        def forward(self, x):
            a = Fn.relu(self.a(x))
            return torch.cat([a, Fn.interpolate(Fn.relu(self.b(a)), scale_factor=2.0)], 1)

    torch.manual_seed(4)
    qm = fcn_models.quantized(fcn_models.export(Neck().eval(), 1))
    sess = int8rt.Session(qm, threads=1)
    x = np.random.default_rng(2).standard_normal((1, 3, 30, 18)).astype(np.float32)
    (y,) = sess.run(None, {"x": x})
    assert np.array_equal(y, reference(sess.graph, x)[0])
    with pytest.raises(ValueError, match="Concat node .* cannot join"):
        sess.run(None, {"x": np.zeros((1, 3, 31, 18), np.float32)})


def test_cli_runs_a_free_size_model_at_its_stored_size_and_at_others(detector, tmp_path, capsys):
    from int8rt.cli import main

    path = tmp_path / "det.i8"
    detector.save(path)
    assert main(["inspect", str(path)]) == 0
    assert "H / W left symbolic" in capsys.readouterr().out
    assert main(["run", str(path)]) == 0  # random data: the quantization size
    assert "y0: shape (1, 6, 16, 16)" in capsys.readouterr().out
    np.save(tmp_path / "x.npy", np.zeros((1, 3, 41, 23), np.float32))
    assert main(["run", str(path), "--input", str(tmp_path / "x.npy")]) == 0
    assert "y0: shape (1, 6, 11, 6)" in capsys.readouterr().out


def test_an_nhwc_input_with_symbolic_h_w():
    """A TF-style model: x [N, H, W, 3] transposed to NCHW inside the graph."""
    torch, nn, Fn = fcn_models._torch()

    class Nhwc(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.a, self.b = nn.Conv2d(3, 8, 3, 2, 1), nn.Conv2d(8, 4, 3, 1, 1)

        def forward(self, x):
            return self.b(Fn.relu(self.a(x.permute(0, 3, 1, 2))))

    torch.manual_seed(5)
    import io

    buf = io.BytesIO()
    torch.onnx.export(Nhwc().eval(), torch.zeros(1, 32, 32, 3), buf, input_names=["x"],
                      output_names=["y"], opset_version=13, dynamo=False,
                      dynamic_axes={"x": {0: "N", 1: "H", 2: "W"}, "y": {0: "N"}})
    rng = np.random.default_rng(3)
    qm = int8rt.quantize(buf.getvalue(), [rng.standard_normal((1, 32, 32, 3)).astype(np.float32)
                                          for _ in range(2)],
                         progress=False, input_shapes={"x": (1, 32, 32, 3)})
    sess = int8rt.Session(qm, threads=1)
    assert [(a.axis, a.var, a.period) for a in sess._image.axes] == [(1, "h", 2), (2, "w", 2)]
    for h, w in [(17, 40), (5, 6)]:
        x = rng.standard_normal((1, h, w, 3)).astype(np.float32)
        (y,) = sess.run(None, {"x": x})
        assert y.shape == (1, 4, (h + 1) // 2, (w + 1) // 2)
        assert np.array_equal(y, run_program(lower(at_size(sess.graph, {"x": x.shape})), [x])[0])
    with pytest.raises(ValueError, match=r"expected \('N', 'H', 'W', 3\)"):
        sess.run(None, {"x": np.zeros((1, 17, 40, 4), np.float32)})
