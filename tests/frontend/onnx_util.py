"""Small helpers shared by the frontend / passes / reference tests: build one-graph ONNX
models with onnx.helper, run them in onnxruntime and through import_onnx + FloatExecutor."""

from __future__ import annotations

import numpy as np

onnx = __import__("pytest").importorskip("onnx")
ort = __import__("pytest").importorskip("onnxruntime")
from onnx import TensorProto, helper, numpy_helper

from int8rt.frontend.onnx import import_onnx
from int8rt.reference.float_executor import FloatExecutor

RNG = np.random.default_rng(0)


def init(name: str, arr) -> onnx.TensorProto:
    return numpy_helper.from_array(np.asarray(arr), name)


def rand(*shape: int, scale: float = 1.0) -> np.ndarray:
    return (RNG.standard_normal(shape) * scale).astype(np.float32)


def make_model(nodes, inputs: dict[str, tuple], outputs: list[str], inits=(), opset: int = 17,
               out_shapes: dict | None = None) -> onnx.ModelProto:
    vin = [helper.make_tensor_value_info(k, TensorProto.FLOAT, list(v)) for k, v in
           inputs.items()]
    vout = [helper.make_tensor_value_info(o, TensorProto.FLOAT, None) for o in outputs]
    g = helper.make_graph(nodes, "test", vin, vout, initializer=list(inits))
    m = helper.make_model(g, opset_imports=[helper.make_opsetid("", opset)])
    m.ir_version = min(m.ir_version, 8)
    return m


def run_ort(model: onnx.ModelProto, feeds: dict[str, np.ndarray]) -> list[np.ndarray]:
    so = ort.SessionOptions()
    so.graph_optimization_level = ort.GraphOptimizationLevel.ORT_DISABLE_ALL
    sess = ort.InferenceSession(model.SerializeToString(), so,
                                providers=["CPUExecutionProvider"])
    return sess.run(None, feeds)


def run_int8rt(model, feeds, input_shapes=None):
    g = import_onnx(model, input_shapes)
    out = FloatExecutor(g).run(feeds)
    return g, [out[o.name] for o in model.graph.output]


def check(model, feeds, rtol=1e-4, atol=1e-5, input_shapes=None):
    want = run_ort(model, feeds)
    g, got = run_int8rt(model, feeds, input_shapes)
    for w, o in zip(want, got):
        assert o.shape == w.shape, (o.shape, w.shape)
        np.testing.assert_allclose(o, w, rtol=rtol, atol=atol)
    return g
