"""Quantization-aware training for int8rt (optional extra: torch).

    q = int8rt.qat.prepare_qat(float_model, example_batch)   # any torch.fx-traceable model
    ... train q like any torch model ...
    qm = int8rt.qat.to_int8rt(q)                             # the deployed QuantizedModel
    int8rt.qat.export_onnx(q, "model_qdq.onnx")              # or a QDQ ONNX model

Where the QAT model rounds is read off int8rt's own import, quantization and lowering of the
captured graph (int8rt/qat/plan.py); docs/QAT.md explains the recipe and how closely the torch
model predicts the deployed one.
"""

from int8rt.qat.export import deployed_model_onnx, export_onnx, scale_table, to_int8rt
from int8rt.qat.fake_quant import ActQuant, fake_quant_act, fake_quant_weight
from int8rt.qat.model import QATConfig, QATModel, calibrate, prepare_qat

__all__ = ["ActQuant", "QATConfig", "QATModel", "calibrate", "deployed_model_onnx",
           "export_onnx", "fake_quant_act", "fake_quant_weight", "prepare_qat", "scale_table",
           "to_int8rt"]
