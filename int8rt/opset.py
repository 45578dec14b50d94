"""The canonical ops of int8rt's IR: the vocabulary between frontends, passes, quantization,
the reference executors and lowering.

After `passes.canonicalize` a graph holds only these ops, in NHWC: 4-D activations are
[N, H, W, C] and axes in attributes refer to that layout. Frontends record here which source
ops map onto which canonical op (README's op table is generated from this registry and from
`frontend.onnx.SUPPORTED_ONNX_OPS`).

Each op is declared here once. A unary elementwise op carries its real function (`fn`): the
float executor (reference/float_ops.py) evaluates it, lowering turns it into the 256-entry
int8 table (lower.py), validation and shape inference take it as a 1-in 1-out op, and with
`onnx=True` the ONNX importer maps the ONNX op of the same name onto it, attributes and their
defaults as declared here (docs/ARCHITECTURE.md "Adding an op"). A binary elementwise op
carries its function (`binary`) and its float32 kernel code (`f32_code`): the float executor
and the dynamic path's numpy evaluation run the function; validation, shape inference and the
layout pass take it as a 2-in 1-out broadcasting op; lowering (static and dynamic) emits the
`f32_binary` record with that code, or the int8 add / mul kernels for Add / Sub / Mul.

`clip` attributes are fused activation bounds in real (float) units: (-inf, inf) for none,
(0, inf) for Relu, (0, 6) for Relu6. In int8 they become the kernel's qmin/qmax.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

import numpy as np

from int8rt import kernel_tables as kt
from int8rt.ops import movement, onnx_float, pooling
from int8rt.ops.schema import OpSchema, ShapeContext

__all__ = ["OpSchema", "ShapeContext"]  # re-exported: the declaration type lives in ops/schema.py

INF = float("inf")
NO_CLIP = (-INF, INF)


_OPS = [
    OpSchema(
        "Conv",
        "2-D convolution, X [N,H,W,C], W [OC,KH,KW,C/group], optional B [OC]; groups cover "
        "depthwise; fused output clamp",
        {"strides": (1, 1), "dilations": (1, 1), "pads": (0, 0, 0, 0), "group": 1,
         "clip": NO_CLIP},
    ),
    OpSchema("Gemm", "fully connected, X [M,K], W [N,K], optional B [N]; fused clamp",
             {"clip": NO_CLIP}),
    # binary elementwise, numpy broadcasting: int8 add / mul kernels for Add, Sub, Mul; the
    # others run in float32 (f32_binary) between Dequantize and Quantize
    OpSchema("Add", "elementwise a + b with numpy broadcasting; fused clamp", {"clip": NO_CLIP},
             binary=np.add, f32_code=0),
    OpSchema("Sub", "elementwise a - b with numpy broadcasting; fused clamp", {"clip": NO_CLIP},
             binary=np.subtract, f32_code=1),
    OpSchema("Mul", "elementwise a * b with numpy broadcasting; fused clamp", {"clip": NO_CLIP},
             binary=np.multiply, f32_code=2),
    OpSchema("Div", "elementwise a / b (float only; division by a constant becomes Mul)",
             int8=False, binary=np.divide, f32_code=3),
    OpSchema("Pow", "a ^ b with numpy broadcasting (float only)", int8=False, binary=np.power,
             f32_code=4, onnx=True),
    OpSchema("Max", "elementwise max of two inputs (float only)", int8=False,
             binary=np.maximum, f32_code=5, onnx=True),
    OpSchema("Min", "elementwise min of two inputs (float only)", int8=False,
             binary=np.minimum, f32_code=6, onnx=True),
    OpSchema("PRelu", "x if x >= 0 else slope * x, slope broadcast to x (float only)",
             int8=False, binary=lambda x, slope: np.where(x < 0, x * slope, x), f32_code=7,
             onnx=True),
    # unary elementwise: int8 runs them all as one 256-entry table lookup
    OpSchema("Relu", "max(x, 0)", fn=lambda x, a: kt.relu(x), onnx=True),
    OpSchema("Clip", "min(max(x, min), max)", {"min": -INF, "max": INF},
             fn=lambda x, a: kt.clip(x, a["min"], a["max"])),
    OpSchema("LeakyRelu", "x if x >= 0 else alpha * x", {"alpha": 0.01},
             fn=lambda x, a: kt.leaky_relu(x, a["alpha"]), onnx=True),
    OpSchema("Sigmoid", "1 / (1 + exp(-x))", fn=lambda x, a: kt.sigmoid(x), onnx=True),
    OpSchema("HardSigmoid", "max(0, min(1, alpha * x + beta))", {"alpha": 0.2, "beta": 0.5},
             fn=lambda x, a: kt.hard_sigmoid(x, a["alpha"], a["beta"]), onnx=True),
    OpSchema("HardSwish", "x * max(0, min(1, x / 6 + 1 / 2))",
             fn=lambda x, a: kt.hard_swish(x), onnx=True),
    OpSchema("Tanh", "tanh(x)", fn=lambda x, a: kt.tanh(x), onnx=True),
    OpSchema("Silu", "x * sigmoid(x) (fused from the Sigmoid + Mul pattern)",
             fn=lambda x, a: kt.silu(x)),
    OpSchema("Gelu", "x * Phi(x); approximate='tanh' for the tanh form",
             {"approximate": "none"},
             fn=lambda x, a: (kt.gelu_tanh if a["approximate"] == "tanh" else kt.gelu)(x),
             onnx=True),
    OpSchema("Mish", "x * tanh(softplus(x)), softplus(x) = log(1 + exp(x))",
             fn=lambda x, a: kt.mish(x), onnx=True),
    # float-only elementwise ops: no int8 kernel, they run in float32 between Dequantize and
    # Quantize records (csrc/kernels/f32), and the report names them
    *[OpSchema(op, summary, int8=False) for op, summary in (
        ("Exp", "e^x (float only)"), ("Log", "ln x (float only)"),
        ("Sqrt", "sqrt x (float only)"), ("Abs", "|x| (float only)"), ("Neg", "-x (float only)"),
        ("Reciprocal", "1 / x (float only)"), ("Erf", "erf x (float only)"))],
    # pooling and data movement: declared whole (shape rule, reference, lowering) in
    # int8rt/ops/
    *pooling.OPS,
    *movement.OPS,
    # float-only ops with ONNX semantics (reductions, LayerNormalization, MatMul of
    # activations, ...): declared whole in int8rt/ops/onnx_float.py
    *onnx_float.OPS,
    OpSchema("Softmax", "softmax over `axis`", {"axis": -1}, out_qparams="fixed"),
    OpSchema("Quantize", "float32 -> int8 with the output's parameters", int8=False),
    OpSchema("Dequantize", "int8 -> float32 with the input's parameters", int8=False),
]

OPS: dict[str, OpSchema] = {op.name: op for op in _OPS}
UNARY_OPS = tuple(op.name for op in _OPS if op.fn is not None)
FLOAT_UNARY_OPS = ("Exp", "Log", "Sqrt", "Abs", "Neg", "Reciprocal", "Erf")
BINARY_OPS = tuple(op.name for op in _OPS if op.binary is not None)
# float-only ops kept with ONNX's attributes and semantics, on NCHW data (ops/onnx_float.py)
ONNX_FLOAT_OPS = tuple(op.name for op in onnx_float.OPS)
# ops with a fused output clamp (`clip`): the producers fuse_activations folds Relu / Clip into
CLAMPED_OPS = tuple(op.name for op in _OPS if "clip" in op.attrs)
# ops declared whole (int8rt/ops/: shape rule, reference, lowering); the consumers read them
# from their schema
DECLARED_OPS = tuple(op.name for op in _OPS if op.lower is not None)
# ops whose NHWC form is their definition (layout "spatial": the layout pass moves their 4-D
# input, constant folding waits for NHWC)
SPATIAL_OPS = tuple(op.name for op in _OPS if op.layout == "spatial")


def schema(op: str) -> OpSchema:
    try:
        return OPS[op]
    except KeyError:
        raise KeyError(f"{op!r} is not an int8rt op") from None


def attrs_with_defaults(op: str, attrs: dict[str, Any]) -> dict[str, Any]:
    return {**schema(op).attrs, **attrs}


def unary_function(op: str, attrs: dict[str, Any]) -> Callable[[np.ndarray], np.ndarray]:
    """The real function of unary op `op` with these node attributes: float64 in, float64 out
    (what lowering tabulates and the float executor evaluates)."""
    s = schema(op)
    if s.fn is None:
        raise KeyError(f"{op!r} is not a unary elementwise op")
    a = {k: float(np.float32(v)) if isinstance(v, float) and math.isfinite(v) else v
         for k, v in attrs_with_defaults(op, attrs).items()}
    fn = s.fn
    return lambda x: fn(np.asarray(x, dtype=np.float64), a)


def binary_function(op: str) -> Callable[[np.ndarray, np.ndarray], np.ndarray]:
    """y = f(a, b) of binary op `op`, numpy broadcasting, any dtype in and out (the float
    executor casts to float32)."""
    s = schema(op)
    if s.binary is None:
        raise KeyError(f"{op!r} is not a binary elementwise op")
    return s.binary


# Graphs of the dynamic path (int8rt/dynamic/, meta layout "onnx") keep ONNX op types and
# semantics; these are the ones it runs (ONNX ops, plus Linear / DynQLinear / WOLinear /
# WOGather, its fused and quantized forms: docs/TRANSFORMERS.md).
ONNX_LAYOUT_OPS = frozenset({
    "Abs", "Add", "And", "Cast", "Ceil", "Clip", "Concat", "ConstantOfShape", "Conv", "Div",
    "Dropout", "DynQConv", "DynQGRU", "DynQLinear", "DynQLSTM", "Equal", "Erf", "Exp", "Expand",
    "Flatten", "Floor", "Gather", "GatherElements",
    "Gelu", "Gemm", "Greater", "GreaterOrEqual", "GRU", "Identity", "LayerNormalization", "Less",
    "LessOrEqual", "Linear", "Log", "LpNormalization", "LSTM", "MatMul", "Max", "MaxPool", "Min",
    "Mul",
    "Neg", "Not", "Or", "Pow", "Range", "Reciprocal", "ReduceL1", "ReduceL2", "ReduceMax",
    "ReduceMean", "ReduceMin", "ReduceSum", "ReduceSumSquare", "Relu", "Reshape", "Shape",
    "Sigmoid", "Size", "Slice", "Softmax", "Split", "Sqrt", "Squeeze", "Sub", "Sum", "Tanh",
    "Transpose", "Unsqueeze", "Where", "WOGather", "WOLinear", "Xor",
}) | frozenset(BINARY_OPS)
