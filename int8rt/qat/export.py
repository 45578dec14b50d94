"""Export a trained QATModel as a QDQ ONNX model that int8rt imports with exactly the
parameters training used (frontend/onnx_qdq.py), and the one-call deploy path."""

from __future__ import annotations

import io
import os
import warnings

import torch

from int8rt.qat import fake_quant
from int8rt.qat.model import QATModel


def export_onnx(model: QATModel, path: str | os.PathLike[str] | io.BytesIO,
                example_input: torch.Tensor, opset: int = 13) -> None:
    """Write `model` (eval mode: frozen parameters) as QDQ ONNX: a QuantizeLinear /
    DequantizeLinear pair at each fake-quantization point with its int8 scale and zero point,
    and constant Q/DQ pairs on the weights (per output channel). Biases are written as their
    fake-quantized float values (exact multiples of s_x * s_w), which int8rt re-quantizes to
    the same integers."""
    was_training = model.training
    model.eval()
    fake_quant.EXPORTING = True
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # tracer notices about Python floats (the scales)
            torch.onnx.export(model, example_input, path, dynamo=False, opset_version=opset,
                              input_names=["input"], output_names=["output"],
                              dynamic_axes={"input": {0: "batch"}, "output": {0: "batch"}})
    finally:
        fake_quant.EXPORTING = False
        model.train(was_training)


def to_int8rt(model: QATModel, example_input: torch.Tensor):
    """The int8rt QuantizedModel of a trained QATModel (export to QDQ ONNX, then import)."""
    import onnx

    import int8rt

    buf = io.BytesIO()
    export_onnx(model, buf, example_input)
    return int8rt.quantize(onnx.load_from_string(buf.getvalue()))
