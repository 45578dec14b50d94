"""resize: index maps vs ONNX Resize (onnx.reference, onnxruntime), native == reference for the
kernels, bilinear within one step of float bilinear."""

from __future__ import annotations

import itertools

import numpy as np
import pytest

from int8rt import kernel_tables as kt
from int8rt.reference import resize as ref
from tests.kernels import one_op as nat

RNG = np.random.default_rng(21)
SIZES = [(1, 1), (1, 3), (2, 5), (3, 2), (3, 5), (4, 8), (5, 3), (6, 4), (7, 13), (8, 3)]
COORD = ["half_pixel", "asymmetric", "align_corners", "pytorch_half_pixel",
         "half_pixel_symmetric"]


def _onnx_resize(data: np.ndarray, out: int, mode: str, coord: str, nearest: str | None = None,
                 scale: float | None = None, opset: int = 19, runtime: str = "reference"):
    """ONNX Resize of a [1, 1, 1, in] float tensor along the last axis (skips without onnx /
    onnxruntime: extras a Pi runtime install lacks)."""
    pytest.importorskip("onnx")
    from onnx import TensorProto, helper, numpy_helper
    from onnx.reference import ReferenceEvaluator

    attrs = {"mode": mode, "coordinate_transformation_mode": coord}
    if nearest:
        attrs["nearest_mode"] = nearest
    inits = [numpy_helper.from_array(np.zeros(0, np.float32), "roi")]
    if scale is None:
        inits += [numpy_helper.from_array(np.zeros(0, np.float32), "scales"),
                  numpy_helper.from_array(np.array([1, 1, 1, out], np.int64), "sizes")]
        inputs = ["x", "roi", "scales", "sizes"]
    else:
        inits.append(numpy_helper.from_array(np.array([1, 1, 1, scale], np.float32), "scales"))
        inputs = ["x", "roi", "scales"]
    node = helper.make_node("Resize", inputs, ["y"], **attrs)
    graph = helper.make_graph(
        [node], "g", [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 1, 1,
                                                                             data.size])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, None)], initializer=inits)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", opset)])
    x = data.astype(np.float32).reshape(1, 1, 1, -1)
    if runtime == "reference":
        return ReferenceEvaluator(model).run(None, {"x": x})[0].reshape(-1)
    model.ir_version = 8
    ort = pytest.importorskip("onnxruntime")
    sess = ort.InferenceSession(model.SerializeToString(), providers=["CPUExecutionProvider"])
    return sess.run(None, {"x": x})[0].reshape(-1)


@pytest.mark.parametrize("coord", COORD)
@pytest.mark.parametrize("nearest", kt.NEAREST_MODES)
def test_nearest_map_matches_onnx_reference(coord, nearest):
    for n_in, n_out in SIZES:
        idx = kt.resize_nearest_map(n_in, n_out, None, coord, nearest)
        got = _onnx_resize(np.arange(n_in), n_out, "nearest", coord, nearest)
        assert np.array_equal(idx, got), (n_in, n_out)


@pytest.mark.parametrize("coord", ["half_pixel", "asymmetric", "tf_half_pixel_for_nn",
                                   "align_corners"])
def test_nearest_map_matches_onnxruntime(coord):
    for (n_in, n_out), nearest in itertools.product(SIZES, kt.NEAREST_MODES):
        idx = kt.resize_nearest_map(n_in, n_out, None, coord, nearest)
        got = _onnx_resize(np.arange(n_in), n_out, "nearest", coord, nearest, opset=13,
                           runtime="ort")
        assert np.array_equal(idx, got), (n_in, n_out, nearest)


@pytest.mark.parametrize("coord", COORD)
def test_linear_map_matches_onnx_reference(coord):
    for n_in, n_out in SIZES:
        i0, i1, w1 = kt.resize_linear_map(n_in, n_out, None, coord)
        assert np.all((0 <= w1) & (w1 <= 2048)) and np.all((0 <= i0) & (i0 <= i1))
        assert np.all(i1 < n_in) and np.all(i1 - i0 <= 1)
        data = RNG.standard_normal(n_in)
        ours = data[i0] + (data[i1] - data[i0]) * (w1 / 2048)
        got = _onnx_resize(data, n_out, "linear", coord)
        # Q11 weights: at most half a 1/2048 step from the exact fraction
        assert np.allclose(ours, got, atol=np.abs(data).max() / 2048 + 1e-5), (n_in, n_out)


@pytest.mark.parametrize("scale", [2.0, 0.5, 1.5, 3.0, 0.75])
def test_maps_with_explicit_scales(scale):
    """With explicit scales, pytorch_half_pixel's "length_resized > 1" is the integer output
    length in onnxruntime (and PyTorch) but scale * in_size in onnx.reference; we follow
    onnxruntime, so that mode is checked against it."""
    for n_in in (2, 3, 4, 5):
        n_out = int(np.floor(n_in * scale))
        for coord in ("half_pixel", "asymmetric", "pytorch_half_pixel"):
            rt = {"opset": 13, "runtime": "ort"} if coord == "pytorch_half_pixel" else {}
            idx = kt.resize_nearest_map(n_in, n_out, scale, coord, "round_prefer_ceil")
            got = _onnx_resize(np.arange(n_in), n_out, "nearest", coord, "round_prefer_ceil",
                               scale=scale, **rt)
            assert np.array_equal(idx, got), (n_in, scale, coord)
            i0, i1, w1 = kt.resize_linear_map(n_in, n_out, scale, coord)
            data = np.arange(n_in, dtype=np.float64) ** 2
            ours = data[i0] + (data[i1] - data[i0]) * (w1 / 2048)
            got = _onnx_resize(data, n_out, "linear", coord, scale=scale, **rt)
            assert np.allclose(ours, got, atol=n_in**2 / 2048), (n_in, scale, coord)


def test_map_errors():
    with pytest.raises(ValueError):
        kt.resize_nearest_map(4, 8, None, "tf_crop_and_resize")
    with pytest.raises(ValueError):
        kt.resize_nearest_map(4, 8, None, "half_pixel", "nearest")
    with pytest.raises(ValueError):
        kt.resize_linear_map(0, 8)


@pytest.mark.parametrize("dtype", [np.int8, np.float32, np.int16, np.float64])
@pytest.mark.parametrize("shape,out", [((1, 4, 5, 3), (8, 10)), ((2, 7, 3, 16), (3, 9)),
                                       ((1, 1, 1, 70), (4, 4)), ((1, 6, 6, 1), (6, 6))])
def test_nearest_native_equals_reference(dtype, shape, out):
    x = RNG.integers(-128, 128, size=shape).astype(dtype)
    iy = kt.resize_nearest_map(shape[1], out[0], None, "asymmetric", "floor")
    ix = kt.resize_nearest_map(shape[2], out[1], None, "half_pixel", "round_prefer_ceil")
    y_ref = ref.resize_nearest(x, iy, ix, oh=out[0], ow=out[1])
    y_nat = nat.resize_nearest(x, iy, ix, oh=out[0], ow=out[1])
    assert y_nat.dtype == x.dtype and y_nat.shape == (shape[0], *out, shape[3])
    assert np.array_equal(y_ref, y_nat)


@pytest.mark.parametrize("shape,out", [((1, 4, 5, 3), (8, 10)), ((2, 7, 3, 16), (3, 9)),
                                       ((1, 1, 1, 70), (4, 4)), ((1, 9, 9, 5), (16, 20)),
                                       ((1, 5, 5, 2), (5, 5))])
@pytest.mark.parametrize("coord", ["half_pixel", "align_corners", "asymmetric"])
def test_bilinear_native_equals_reference(shape, out, coord):
    x = RNG.integers(-128, 128, size=shape).astype(np.int8)
    x.reshape(-1)[:2] = (-128, 127)
    ymaps = kt.resize_linear_map(shape[1], out[0], None, coord)
    xmaps = kt.resize_linear_map(shape[2], out[1], None, coord)
    for x_zp, y_zp, sx, sy in [(-128, 127, 0.1, 0.1), (127, -128, 0.1, 0.1), (3, -4, 0.05, 0.2),
                               (0, 0, 1.0, 0.01)]:
        kw = {"x_zp": x_zp, "y_zp": y_zp, "mult": kt.bilinear_mult(sx, sy), "oh": out[0],
              "ow": out[1]}
        y_ref = ref.resize_bilinear(x, *ymaps, *xmaps, **kw)
        assert np.array_equal(y_ref, nat.resize_bilinear(x, *ymaps, *xmaps, **kw))


def test_bilinear_against_float():
    x = RNG.integers(-128, 128, size=(1, 5, 7, 4)).astype(np.int8)
    sx, sy, x_zp, y_zp = 0.03, 0.025, -7, 5
    ymaps = kt.resize_linear_map(5, 11, None, "half_pixel")
    xmaps = kt.resize_linear_map(7, 4, None, "half_pixel")
    y = ref.resize_bilinear(x, *ymaps, *xmaps, x_zp=x_zp, y_zp=y_zp, mult=kt.bilinear_mult(sx, sy))
    # separable float bilinear with onnx.reference, one axis at a time on the real values
    xf = np.float32(sx) * (x.astype(np.float64) - x_zp)
    exact = np.empty((1, 11, 4, 4))
    for c in range(4):
        rows = np.stack([_onnx_resize(xf[0, i, :, c], 4, "linear", "half_pixel")
                         for i in range(5)])
        for j in range(4):
            exact[0, :, j, c] = _onnx_resize(rows[:, j], 11, "linear", "half_pixel")
    exact = np.clip(exact / np.float32(sy) + y_zp, -128, 127)
    assert np.all(np.abs(y - exact) <= 1)


def test_plan_rejects_bad_maps():
    x = np.zeros((1, 4, 4, 2), np.int8)
    good = np.zeros(3, np.int32)
    with pytest.raises(ValueError):
        nat.resize_nearest(x, np.array([0, 4], np.int32), good)
    with pytest.raises(ValueError, match="exactly"):  # a map that is not int32
        nat.resize_nearest(x, good.astype(np.int64) + 2**32, good)
    with pytest.raises(ValueError):
        nat.resize_bilinear(x, good, good, np.full(3, 2049, np.int32), good, good, good,
                            x_zp=0, y_zp=0, mult=1.0)
