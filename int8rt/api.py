"""The user-facing entry points: `quantize()` and the QuantizedModel it returns."""

from __future__ import annotations

import io
import os
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any, Union

from . import format as i8format
from .ir import Graph

ModelSource = Union[str, "os.PathLike[str]", Graph, Any]  # Any: an onnx.ModelProto


def load_float_model(model: ModelSource, input_shapes: dict[str, tuple[int, ...]] | None = None
                     ) -> Graph:
    """A canonical float graph from an .onnx path, an onnx.ModelProto, a float .i8 file or a
    Graph. Only ONNX sources need the optional `onnx` package."""
    if isinstance(model, Graph):
        return model
    if isinstance(model, (str, os.PathLike)):
        path = os.fspath(model)
        if not os.path.exists(path):
            raise FileNotFoundError(f"no such model file: {path}")
        with open(path, "rb") as f:
            head = f.read(8)
        if head.startswith(i8format.MAGIC):
            return i8format.load(path)
    from .frontend.onnx import import_onnx  # needs the `onnx` extra

    return import_onnx(model, input_shapes=input_shapes)


@dataclass
class QuantizedModel:
    graph: Graph
    float_graph: Graph | None = None

    def save(self, path: str | os.PathLike[str]) -> None:
        i8format.save(self.graph, path)

    def to_bytes(self) -> bytes:
        buf = io.BytesIO()
        i8format.save(self.graph, buf)
        return buf.getvalue()


def quantize(model: ModelSource, calibration: Iterable[Any] | None = None, method: str = "minmax",
             per_channel: bool = True, input_shapes: dict[str, tuple[int, ...]] | None = None,
             calib_samples: int | None = None, progress: bool = True, mode: str = "static",
             **dynamic_options: Any) -> QuantizedModel:
    """Static post-training quantization (mode "static"), or, with no calibration data,
    dynamic int8 (mode "dynamic") / weight-only int8 or int4 (mode "weight_only") quantization
    of an ONNX transformer or RNN graph (int8rt.quantize_dynamic; run the result with
    int8rt.DynamicSession).

    `calibration` is an iterable of numpy arrays (single-input models; a batch or one sample)
    or of {input_name: array} dicts. Observers watch every activation while the float graph
    runs on it; their ranges choose the int8 parameters (docs/QUANTIZATION.md §2).
    """
    if mode != "static":
        return quantize_dynamic(model, mode=mode, **dynamic_options)
    if calibration is None:
        raise ValueError("static quantization needs calibration data; mode='dynamic' needs none")
    from .quant.ptq import quantize as ptq_quantize

    float_graph = load_float_model(model, input_shapes)
    graph = ptq_quantize(float_graph, calibration, method=method, per_channel=per_channel,
                         max_samples=calib_samples, progress=progress)
    return QuantizedModel(graph, float_graph)


def _is_i8(path: str) -> bool:
    with open(path, "rb") as f:
        return f.read(8).startswith(i8format.MAGIC)


def quantize_dynamic(model: ModelSource, mode: str = "dynamic", per_row: bool = True,
                     bits: int = 8, group: int = 64, float_graph: bool = False
                     ) -> QuantizedModel:
    """The dynamic path (docs/TRANSFORMERS.md): the ONNX graph keeps its ops and layout,
    MatMul / Gemm with constant weights become int8 per-channel weights whose activations are
    quantized per inference (mode "dynamic", per row = per token unless per_row=False), or
    int8 / packed int4 weights with per-group scales and float activations (mode
    "weight_only", bits 8 or 4, group 32 / 64 / 128). mode "float" keeps float32 weights (the
    same plan with float matmuls: a baseline)."""
    from .dynamic import onnx_graph, prepare
    from .quant.dynamic import quantize_weights

    if isinstance(model, Graph):
        graph = model
    elif isinstance(model, (str, os.PathLike)) and _is_i8(os.fspath(model)):
        graph = i8format.load(model)
    else:
        graph = prepare.prepare(onnx_graph.load(model))
    if mode == "float":
        return QuantizedModel(graph, graph)
    return QuantizedModel(quantize_weights(graph, mode, per_row=per_row, bits=bits,
                                           group=group), graph)
