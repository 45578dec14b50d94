from __future__ import annotations

import numpy as np
import pytest

pytest.importorskip("onnx")  # an extra: a Pi runtime install lacks it

from int8rt import ir
from int8rt.frontend.onnx import import_onnx
from int8rt.reference import float_ops
from int8rt.reference.float_executor import FloatExecutor
from tests.frontend.onnx_util import helper, init, make_model, rand, run_ort


def _model():
    nodes = [helper.make_node("Conv", ["x", "w"], ["a"], pads=[1, 1, 1, 1]),
             helper.make_node("Relu", ["a"], ["b"]),
             helper.make_node("Conv", ["b", "dw"], ["c"], pads=[1, 1, 1, 1], group=4,
                              strides=[2, 2]),
             helper.make_node("GlobalAveragePool", ["c"], ["p"]),
             helper.make_node("Flatten", ["p"], ["f"]),
             helper.make_node("Gemm", ["f", "fw", "fb"], ["y"], transB=1)]
    inits = [init("w", rand(4, 3, 3, 3)), init("dw", rand(8, 1, 3, 3)),
             init("fw", rand(5, 8)), init("fb", rand(5))]
    return make_model(nodes, {"x": ("N", 3, 12, 10)}, ["y"], inits)


def test_observe_sees_every_activation_and_input():
    g = import_onnx(_model())
    seen: dict[str, tuple] = {}
    FloatExecutor(g).run({"x": rand(3, 3, 12, 10)}, observe=lambda n, a: seen.setdefault(
        n, a.shape))
    acts = {t.name for t in g.tensors.values() if not t.is_const}
    assert set(seen) == acts
    assert seen["x"] == (3, 3, 12, 10)


@pytest.mark.parametrize("batch", [1, 4, 16])
def test_any_batch_size(batch):
    m = _model()
    x = rand(batch, 3, 12, 10)
    got = FloatExecutor(import_onnx(m)).run({"x": x})["y"]
    np.testing.assert_allclose(got, run_ort(m, {"x": x})[0], rtol=1e-4, atol=1e-5)


def test_bad_feed_shape():
    ex = FloatExecutor(import_onnx(_model()))
    with pytest.raises(ValueError, match="only the batch"):
        ex.run({"x": rand(1, 3, 12, 11)})
    with pytest.raises(ValueError, match="missing feed"):
        ex.run({})


def test_conv_matches_direct_loops():
    """im2col / depthwise paths against a naive definition (tiny sizes)."""
    rng = np.random.default_rng(1)
    for group, c, oc in [(1, 3, 4), (3, 3, 6), (2, 4, 6)]:
        x = rng.standard_normal((2, 6, 5, c)).astype(np.float32)
        w = rng.standard_normal((oc, 3, 2, c // group)).astype(np.float32)
        attrs = {"strides": (2, 1), "dilations": (1, 2), "pads": (1, 2, 0, 1), "group": group,
                 "clip": (-1.0, 1.0)}
        y = float_ops.conv([x, w, None], attrs, None)[0]
        xp = np.pad(x, ((0, 0), (1, 0), (2, 1), (0, 0)))
        oh, ow = y.shape[1:3]
        ref = np.zeros_like(y)
        cg, ocg = c // group, oc // group
        for o in range(oc):
            gi = o // ocg
            for i in range(oh):
                for j in range(ow):
                    patch = xp[:, 2 * i:2 * i + 3, j:j + 3:2, gi * cg:(gi + 1) * cg]
                    ref[:, i, j, o] = (patch * w[o]).sum(axis=(1, 2, 3))
        np.testing.assert_allclose(y, np.clip(ref, -1, 1), rtol=1e-5, atol=1e-5)


def test_hand_built_nhwc_graph():
    t = {"x": ir.Tensor("x", (1, 4, 4, 2), "float32"),
         "y": ir.Tensor("y", (1, 2, 2, 2), "float32")}
    g = ir.Graph([ir.Node("MaxPool", "mp", ["x"], ["y"], {"kernel": (2, 2), "strides": (2, 2)})],
                 t, ["x"], ["y"])
    x = np.arange(32, dtype=np.float32).reshape(1, 4, 4, 2)
    y = FloatExecutor(g).run({"x": x})["y"]
    np.testing.assert_array_equal(y, x.reshape(1, 2, 2, 2, 2, 2).max(axis=(2, 4)))


def test_torch_mobilenet_v2_small():
    import onnx

    from tests.reference.mobilenet_util import export, mobilenet_v2

    torch = pytest.importorskip("torch")
    model = mobilenet_v2(width=0.35, classes=10)
    data = export(model, (1, 3, 64, 64))
    g = import_onnx(onnx.load_from_string(data))
    ops = {n.op for n in g.nodes}
    assert ops <= {"Conv", "Add", "GlobalAveragePool", "Reshape", "Gemm", "Transpose"}
    assert all(n.attrs["clip"] == (0.0, 6.0) for n in g.nodes if n.op == "Conv"
               and n.attrs["group"] > 1)  # every depthwise conv carries its fused ReLU6
    x = rand(4, 3, 64, 64)
    with torch.no_grad():
        want = model(torch.from_numpy(x)).numpy()
    got = FloatExecutor(g).run({"x": x})["y"]
    np.testing.assert_allclose(got, want, rtol=1e-3, atol=1e-4)
