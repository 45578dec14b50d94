"""Quantization-aware training for int8rt (optional extra: torch).

    qat = int8rt.qat.prepare_qat(float_model)        # BatchNorm folded, fake quantization
    ... train qat as any torch model ...
    int8rt.qat.export_onnx(qat, "model_qdq.onnx", example_input)
    qm = int8rt.quantize("model_qdq.onnx")           # the parameters training learned

The fake quantization mirrors int8rt's arithmetic contract (docs/QUANTIZATION.md); docs/QAT.md
explains where it rounds and how closely the torch model predicts the deployed one.
"""

from int8rt.qat.export import export_onnx, to_int8rt
from int8rt.qat.fake_quant import ActQuant, fake_quant_act, fake_quant_weight
from int8rt.qat.model import QATModel, prepare_qat

__all__ = ["ActQuant", "QATModel", "export_onnx", "fake_quant_act", "fake_quant_weight",
           "prepare_qat", "to_int8rt"]
