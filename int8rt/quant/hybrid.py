"""Static quantization of graphs the static (NHWC, all-int8) path cannot hold: models with
LSTM / GRU layers, such as CRNN-style OCR (convolutions + recurrent layers + a Linear head).

`quantize(model, calibration, mode="static")` sends such a model here. It runs on the dynamic
path's graph (ONNX layout, docs/TRANSFORMERS.md) and keeps static what it can calibrate:

- Conv -> DynQConv with a calibrated activation range (attribute `amax` > 0): int8 weights per
  output channel, int8 activations with one fixed symmetric scale amax / 127 (the largest
  |activation| seen on the calibration data, method "minmax");
- LSTM / GRU -> DynQLSTM / DynQGRU and MatMul / Gemm -> DynQLinear, dynamic int8 (their
  activations are quantized per row at run time: a recurrent state has no fixed range);
- everything else (ReLU, MaxPool, reshapes, ...) in float32.

The calibration ranges are observed while the dynamic-int8 version of the same graph runs the
calibration samples through the native plan (the convolutions upstream of a conv run with
per-image dynamic scales then); each conv's range is its input's absolute maximum over all
samples. Which op runs how is in graph.meta["quantization"] (and printed with progress=True).
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import numpy as np

from .. import ir

STATIC_OPS = ("DynQConv",)
DYNAMIC_OPS = ("DynQLSTM", "DynQGRU", "DynQLinear")
RNN_ONNX_OPS = ("LSTM", "GRU")


def needs_hybrid(onnx_model: Any) -> bool:
    """True when the ONNX model holds an op only the dynamic path runs (LSTM / GRU)."""
    return any(n.op_type in RNN_ONNX_OPS for n in onnx_model.graph.node)


def _feeds(graph: ir.Graph, sample: Any) -> dict[str, np.ndarray]:
    if isinstance(sample, dict):
        return {k: np.asarray(v) for k, v in sample.items()}
    if len(graph.inputs) != 1:
        raise ValueError("calibration samples of a multi-input model must be dicts "
                         "{input name: array}")
    name = graph.inputs[0]
    x = np.asarray(sample, np.float32)
    if x.ndim == len(graph.tensor(name).shape) - 1:  # one sample without its batch axis
        x = x[None]
    return {name: x}


def calibrate_conv_ranges(qgraph: ir.Graph, samples: Iterable[Any]) -> tuple[dict[str, float],
                                                                              int]:
    """{conv input tensor: max |value|} over the samples, and how many samples ran."""
    from ..session import Session

    watch = sorted({n.inputs[0] for n in qgraph.nodes if n.op == "DynQConv"})
    inner = [w for w in watch if w not in qgraph.inputs]
    probe = qgraph.copy()
    probe.outputs = [*probe.outputs, *[w for w in inner if w not in probe.outputs]]
    sess = Session(probe, threads=1)
    amax = {w: 0.0 for w in watch}
    count = 0
    for sample in samples:
        feeds = _feeds(qgraph, sample)
        outs = dict(zip(probe.outputs, sess.run(None, feeds)))
        outs.update(feeds)
        for w in watch:
            v = np.abs(np.asarray(outs[w], np.float32))
            amax[w] = max(amax[w], float(np.nanmax(v)) if v.size else 0.0)
        count += 1
    if count == 0:
        raise ValueError("the calibration data is empty")
    return amax, count


def quantize_hybrid(model: Any, calibration: Any, method: str = "minmax",
                    calib_samples: int | None = None, progress: bool = True) -> ir.Graph:
    """The static-where-possible quantization of an ONNX model with recurrent layers."""
    from ..calib_data import calibration_source
    from ..dynamic import onnx_graph, prepare
    from .dynamic import quantize_weights

    if method != "minmax":
        raise ValueError(f"a model with LSTM / GRU layers calibrates its convolutions with "
                         f"method='minmax' only, not {method!r}")
    graph = prepare.prepare(onnx_graph.load(model))
    qg = quantize_weights(graph, "dynamic")
    samples = calibration_source(calibration, calib_samples)
    if calib_samples is not None:
        samples = [s for _, s in zip(range(calib_samples), samples)]
    amax, count = calibrate_conv_ranges(qg, samples)
    static, dynamic, flt = [], [], []
    for node in qg.nodes:
        if node.op == "DynQConv":
            a = amax[node.inputs[0]]
            node.attrs["amax"] = float(np.float32(a)) if a > 0 else 0.0
            (static if a > 0 else dynamic).append(node.name)
        elif node.op in DYNAMIC_OPS:
            dynamic.append(node.name)
        elif node.op in ("Conv", "LSTM", "GRU", "Linear", "MatMul"):
            flt.append(node.name)
    qg.meta = {**qg.meta, "quantization": {
        "mode": "static+dynamic", "calibration_samples": count, "method": method,
        "static_int8": static, "dynamic_int8": dynamic, "float32": flt}}
    if progress:
        print(summary(qg))
    return qg


def summary(graph: ir.Graph) -> str:
    q = graph.meta.get("quantization", {})
    ops = {n.name: n.op for n in graph.nodes}

    def names(key):
        v = q.get(key) or []
        return ", ".join(f"{n} ({ops.get(n, '?')})" for n in v) or "none"

    return (f"quantized {len(q.get('static_int8', []))} op(s) static int8 (calibrated on "
            f"{q.get('calibration_samples')} samples): {names('static_int8')}\n"
            f"dynamic int8 (activations per row / image at run time): {names('dynamic_int8')}"
            + (f"\nfloat32: {names('float32')}" if q.get("float32") else ""))
