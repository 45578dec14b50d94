"""int8rt: an int8 inference runtime for edge CPUs.

    qm = int8rt.quantize("model.onnx", calibration_arrays)
    qm.save("model.i8")
    sess = int8rt.Session("model.i8")
    outputs = sess.run(None, {"input": x})
"""

from .api import QuantizedModel, load_float_model, quantize, quantize_dynamic
from .dynamic.session import DynamicSession
from .session import NodeArg, Session

__version__ = "0.1.0"
__all__ = [
           "DynamicSession",
           "NodeArg",
           "QuantizedModel",
           "Session",
           "__version__",
           "load_float_model",
           "quantize",
           "quantize_dynamic",
]
