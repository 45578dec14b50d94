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


def quantize(model: ModelSource, calibration: Iterable[Any] | None = None,
             method: str = "minmax", per_channel: bool = True,
             input_shapes: dict[str, tuple[int, ...]] | None = None,
             calib_samples: int | None = None, progress: bool = True,
             table: Any = None) -> QuantizedModel:
    """Static post-training quantization.

    `calibration` is an iterable of numpy arrays (single-input models; a batch or one sample)
    or of {input_name: array} dicts. Observers watch every activation while the float graph
    runs on it; their ranges choose the int8 parameters (docs/QUANTIZATION.md §2).

    Without calibration: a QDQ / QOperator ONNX model is imported with its own scales and zero
    points, and `table` (a scale-table JSON path or document, docs/QAT.md) gives them for a
    float model.
    """
    from .quant.ptq import quantize as ptq_quantize

    given = _given_quantization(model, input_shapes, table, calibration)
    if given is not None:
        return given
    if calibration is None:
        raise ValueError("quantize() needs calibration data, a scale table (table=...) or a "
                         "QDQ / QOperator ONNX model")

    float_graph = load_float_model(model, input_shapes)
    graph = ptq_quantize(float_graph, calibration, method=method, per_channel=per_channel,
                         max_samples=calib_samples, progress=progress)
    return QuantizedModel(graph, float_graph)


def _given_quantization(model: ModelSource, input_shapes: dict[str, tuple[int, ...]] | None,
                        table: Any, calibration: Any) -> QuantizedModel | None:
    """A QuantizedModel from parameters the source gives (QDQ model or scale table), or None
    when the model must be calibrated."""
    if table is not None and calibration is not None:
        raise ValueError("give calibration data or a scale table, not both")
    onnx_model = None
    if not isinstance(model, Graph) and not (
            isinstance(model, (str, os.PathLike)) and _is_i8(os.fspath(model))):
        import onnx

        from .frontend.onnx_qdq import has_quantization

        onnx_model = model if isinstance(model, onnx.ModelProto) else onnx.load(os.fspath(model))
        if has_quantization(onnx_model):
            if table is not None or calibration is not None:
                raise ValueError("the model is already quantized (QDQ / QOperator): it takes "
                                 "neither calibration data nor a scale table")
            from .frontend.onnx_qdq import import_quantized_onnx

            return QuantizedModel(import_quantized_onnx(onnx_model, input_shapes))
    if table is None:
        return None
    if onnx_model is not None:
        from .frontend.onnx_qdq import apply_table_onnx

        float_graph, graph = apply_table_onnx(onnx_model, table, input_shapes)
        return QuantizedModel(graph, float_graph)
    from .quant.table import quantize_with_table

    float_graph = load_float_model(model, input_shapes)
    return QuantizedModel(quantize_with_table(float_graph, table), float_graph)


def _is_i8(path: str) -> bool:
    if not os.path.exists(path):
        raise FileNotFoundError(f"no such model file: {path}")
    with open(path, "rb") as f:
        return f.read(8).startswith(i8format.MAGIC)
