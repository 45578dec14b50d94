"""Small hand-built IR graphs shared by the format and validation tests."""

from __future__ import annotations

import math

import numpy as np

from int8rt import ir
from int8rt.opset import NO_CLIP


def float_graph() -> ir.Graph:
    """Conv -> Relu -> GlobalAveragePool -> Reshape -> Gemm -> Softmax, NHWC, float32."""
    rng = np.random.default_rng(0)
    T = ir.Tensor
    tensors = {
        "x": T("x", (1, 8, 8, 3), "float32"),
        "w": T("w", (4, 3, 3, 3), "float32", rng.standard_normal((4, 3, 3, 3), np.float32)),
        "b": T("b", (4,), "float32", rng.standard_normal(4, dtype=np.float32)),
        "c": T("c", (1, 8, 8, 4), "float32"),
        "r": T("r", (1, 8, 8, 4), "float32"),
        "g": T("g", (1, 1, 1, 4), "float32"),
        "f": T("f", (1, 4), "float32"),
        "fw": T("fw", (5, 4), "float32", rng.standard_normal((5, 4), np.float32)),
        "l": T("l", (1, 5), "float32"),
        "y": T("y", (1, 5), "float32"),
    }
    nodes = [
        ir.Node("Conv", "conv", ["x", "w", "b"], ["c"],
                {"strides": (1, 1), "pads": (1, 1, 1, 1), "group": 1, "clip": NO_CLIP}),
        ir.Node("Relu", "relu", ["c"], ["r"]),
        ir.Node("GlobalAveragePool", "gap", ["r"], ["g"]),
        ir.Node("Reshape", "flat", ["g"], ["f"], {"shape": (1, 4)}),
        ir.Node("Gemm", "fc", ["f", "fw", ""], ["l"], {"clip": (0.0, 6.0)}),
        ir.Node("Softmax", "sm", ["l"], ["y"], {"axis": -1}),
    ]
    return ir.Graph(nodes, tensors, ["x"], ["y"], "tiny_float",
                    {"producer": "tests", "labels": ["a", "b", "c", "d", "e"],
                     "mean": (0.5, 0.5, 0.5), "opts": {"nested": [1, 2.5, None, True]}})


def quant_graph(channels: int = 4) -> ir.Graph:
    """Quantize -> Conv (int8 weights per channel, int32 bias) -> MaxPool -> Dequantize."""
    rng = np.random.default_rng(1)
    oc = channels
    qp = ir.QParams.per_tensor
    w = rng.integers(-127, 128, (oc, 3, 3, 3), dtype=np.int8)
    w[0, 0, 0, 0] = -127
    w_scale = rng.uniform(1e-3, 1e-1, oc).astype(np.float32)
    w_q = ir.QParams(w_scale, np.zeros(oc, np.int32), axis=0)
    b_q = ir.QParams((np.float32(0.02) * w_scale).astype(np.float32), np.zeros(oc, np.int32), 0)
    T = ir.Tensor
    tensors = {
        "x": T("x", (1, 6, 6, 3), "float32"),
        "xq": T("xq", (1, 6, 6, 3), "int8", qparams=qp(0.02, -128)),
        "w": T("w", (oc, 3, 3, 3), "int8", w, w_q),
        "b": T("b", (oc,), "int32", rng.integers(-(2**31), 2**31 - 1, oc, dtype=np.int32), b_q),
        "c": T("c", (1, 6, 6, oc), "int8", qparams=qp(0.05, 127)),
        "p": T("p", (1, 3, 3, oc), "int8", qparams=qp(0.05, 127)),
        "y": T("y", (1, 3, 3, oc), "float32"),
    }
    nodes = [
        ir.Node("Quantize", "q", ["x"], ["xq"]),
        ir.Node("Conv", "conv", ["xq", "w", "b"], ["c"],
                {"pads": (1, 1, 1, 1), "clip": (0.0, float("inf"))}),
        ir.Node("MaxPool", "pool", ["c"], ["p"], {"kernel": (2, 2), "strides": (2, 2)}),
        ir.Node("Dequantize", "dq", ["p"], ["y"]),
    ]
    return ir.Graph(nodes, tensors, ["x"], ["y"], "tiny_quant", {"quantized": True})


def assert_graphs_equal(a: ir.Graph, b: ir.Graph) -> None:
    """Exact equality, including dtypes, tuple-vs-list, nan and the sign of zero."""
    assert a.name == b.name and a.inputs == b.inputs and a.outputs == b.outputs
    assert _same(a.meta, b.meta)
    assert list(a.tensors) == list(b.tensors)
    for k, ta in a.tensors.items():
        tb = b.tensors[k]
        assert (ta.name, tuple(ta.shape), ta.dtype) == (tb.name, tuple(tb.shape), tb.dtype), k
        assert (ta.data is None) == (tb.data is None), k
        if ta.data is not None:
            assert tb.data.dtype == np.dtype(ta.dtype) and tb.data.shape == ta.data.shape, k
            assert ta.data.tobytes() == tb.data.astype(ta.data.dtype).tobytes(), k
        assert (ta.qparams is None) == (tb.qparams is None), k
        if ta.qparams is not None:
            qa, qb = ta.qparams, tb.qparams
            assert qa.axis == qb.axis, k
            assert qb.scale.dtype == np.float32 and qb.zero_point.dtype == np.int32, k
            assert np.array_equal(qa.scale, qb.scale) and qa.scale.shape == qb.scale.shape, k
            assert np.array_equal(qa.zero_point, qb.zero_point), k
            assert qa.zero_point.shape == qb.zero_point.shape, k
    assert len(a.nodes) == len(b.nodes)
    for na, nb in zip(a.nodes, b.nodes):
        assert (na.op, na.name, na.inputs, na.outputs) == (nb.op, nb.name, nb.inputs, nb.outputs)
        assert _same(na.attrs, nb.attrs), (na.attrs, nb.attrs)


def _same(x: object, y: object) -> bool:
    if type(x) is not type(y):
        return False
    if isinstance(x, float):
        return (math.isnan(x) and math.isnan(y)) or (x == y and str(x) == str(y))
    if isinstance(x, (list, tuple)):
        return len(x) == len(y) and all(_same(p, q) for p, q in zip(x, y))
    if isinstance(x, dict):
        return list(x) == list(y) and all(_same(x[k], y[k]) for k in x)
    return x == y
