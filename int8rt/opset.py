"""The canonical ops of int8rt's IR: the vocabulary between frontends, passes, quantization,
the reference executors and lowering.

After `passes.canonicalize` a graph holds only these ops, in NHWC: 4-D activations are
[N, H, W, C] and axes in attributes refer to that layout. Frontends record here which source
ops map onto which canonical op (README's op table is generated from this registry and from
`frontend.onnx.SUPPORTED_ONNX_OPS`).

`clip` attributes are fused activation bounds in real (float) units: (-inf, inf) for none,
(0, inf) for Relu, (0, 6) for Relu6. In int8 they become the kernel's qmin/qmax.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

INF = float("inf")
NO_CLIP = (-INF, INF)


@dataclass(frozen=True)
class OpSchema:
    name: str
    summary: str
    attrs: dict[str, Any] = field(default_factory=dict)  # name -> default
    int8: bool = True  # has an int8 kernel (else it runs in float between Dequantize/Quantize)
    # how the int8 output's quantization parameters are chosen:
    #   "observed": from calibration; "same": equal to the first input's (data movement, max
    #   pooling: lets the kernel skip requantization); "fixed": set by the op (softmax)
    out_qparams: str = "observed"


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
    OpSchema("Add", "elementwise a + b with numpy broadcasting; fused clamp", {"clip": NO_CLIP}),
    OpSchema("Sub", "elementwise a - b with numpy broadcasting; fused clamp", {"clip": NO_CLIP}),
    OpSchema("Mul", "elementwise a * b with numpy broadcasting; fused clamp", {"clip": NO_CLIP}),
    OpSchema("Div", "elementwise a / b (float only; division by a constant becomes Mul)",
             int8=False),
    # unary elementwise: int8 runs them all as one 256-entry table lookup
    OpSchema("Relu", "max(x, 0)"),
    OpSchema("Clip", "min(max(x, min), max)", {"min": -INF, "max": INF}),
    OpSchema("LeakyRelu", "x if x >= 0 else alpha * x", {"alpha": 0.01}),
    OpSchema("Sigmoid", "1 / (1 + exp(-x))"),
    OpSchema("HardSigmoid", "max(0, min(1, alpha * x + beta))", {"alpha": 0.2, "beta": 0.5}),
    OpSchema("HardSwish", "x * max(0, min(1, x / 6 + 1 / 2))"),
    OpSchema("Tanh", "tanh(x)"),
    OpSchema("Silu", "x * sigmoid(x) (fused from the Sigmoid + Mul pattern)"),
    OpSchema("Gelu", "x * Phi(x); approximate='tanh' for the tanh form",
             {"approximate": "none"}),
    # float-only elementwise ops: no int8 kernel, they run in float32 between Dequantize and
    # Quantize records (csrc/kernels/f32), and the report names them
    *[OpSchema(op, summary, int8=False) for op, summary in (
        ("Exp", "e^x (float only)"), ("Log", "ln x (float only)"),
        ("Sqrt", "sqrt x (float only)"), ("Abs", "|x| (float only)"), ("Neg", "-x (float only)"),
        ("Reciprocal", "1 / x (float only)"), ("Erf", "erf x (float only)"))],
    *[OpSchema(op, summary, int8=False) for op, summary in (
        ("Pow", "a ^ b with numpy broadcasting (float only)"),
        ("Max", "elementwise max of two inputs (float only)"),
        ("Min", "elementwise min of two inputs (float only)"))],
    OpSchema("MaxPool", "max pooling, NHWC",
             {"kernel": (1, 1), "strides": (1, 1), "pads": (0, 0, 0, 0), "dilations": (1, 1)},
             out_qparams="same"),
    OpSchema("AveragePool", "average pooling, NHWC",
             {"kernel": (1, 1), "strides": (1, 1), "pads": (0, 0, 0, 0),
              "count_include_pad": 0}),
    OpSchema("GlobalAveragePool", "mean over H and W: [N,H,W,C] -> [N,1,1,C]"),
    OpSchema("Reshape", "row-major reshape to attribute `shape` (fully resolved ints)",
             {"shape": ()}, out_qparams="same"),
    OpSchema("Transpose", "permute axes", {"perm": ()}, out_qparams="same"),
    OpSchema("Concat", "join along `axis` (int8 inputs are requantized to the output's "
             "parameters)", {"axis": 0}),
    OpSchema("Split", "split along `axis` into pieces of `sizes`", {"axis": 0, "sizes": ()},
             out_qparams="same"),
    OpSchema("Slice", "per-axis start/step over every axis (resolved), output shape known",
             {"starts": (), "steps": ()}, out_qparams="same"),
    OpSchema("Pad", "pad every axis; mode constant|reflect|edge",
             {"pads": (), "mode": "constant", "value": 0.0}, out_qparams="same"),
    OpSchema("Resize", "spatial resize of NHWC; mode nearest|linear with ONNX coordinate "
             "transformation and nearest modes",
             {"size": (1, 1), "scales": None, "mode": "nearest",
              "coordinate_transformation_mode": "half_pixel",
              "nearest_mode": "round_prefer_floor"}),
    OpSchema("Softmax", "softmax over `axis`", {"axis": -1}, out_qparams="fixed"),
    OpSchema("Quantize", "float32 -> int8 with the output's parameters", int8=False),
    OpSchema("Dequantize", "int8 -> float32 with the input's parameters", int8=False),
]

OPS: dict[str, OpSchema] = {op.name: op for op in _OPS}
UNARY_OPS = ("Relu", "Clip", "LeakyRelu", "Sigmoid", "HardSigmoid", "HardSwish", "Tanh", "Silu",
             "Gelu")
FLOAT_UNARY_OPS = ("Exp", "Log", "Sqrt", "Abs", "Neg", "Reciprocal", "Erf")
FLOAT_BINARY_OPS = ("Pow", "Max", "Min")


def schema(op: str) -> OpSchema:
    try:
        return OPS[op]
    except KeyError:
        raise KeyError(f"{op!r} is not an int8rt op") from None


def attrs_with_defaults(op: str, attrs: dict[str, Any]) -> dict[str, Any]:
    return {**schema(op).attrs, **attrs}


# Graphs of the dynamic path (int8rt/dynamic/, meta layout "onnx") keep ONNX op types and
# semantics; these are the ones it runs (ONNX ops, plus Linear / DynQLinear / WOLinear /
# WOGather, its fused and quantized forms: docs/TRANSFORMERS.md).
ONNX_LAYOUT_OPS = frozenset({
    "Abs", "Add", "And", "Cast", "Ceil", "Clip", "Concat", "ConstantOfShape", "Conv", "Div",
    "Dropout", "DynQConv", "DynQGRU", "DynQLinear", "DynQLSTM", "Equal", "Erf", "Exp", "Expand", "Flatten", "Floor", "Gather", "GatherElements",
    "Gelu", "Gemm", "Greater", "GreaterOrEqual", "GRU", "Identity", "LayerNormalization", "Less",
    "LessOrEqual", "Linear", "Log", "LpNormalization", "LSTM", "MatMul", "Max", "MaxPool", "Min", "Mul",
    "Neg", "Not", "Or", "Pow", "Range", "Reciprocal", "ReduceL1", "ReduceL2", "ReduceMax",
    "ReduceMean", "ReduceMin", "ReduceSum", "ReduceSumSquare", "Relu", "Reshape", "Shape",
    "Sigmoid", "Size", "Slice", "Softmax", "Split", "Sqrt", "Squeeze", "Sub", "Sum", "Tanh",
    "Transpose", "Unsqueeze", "Where", "WOGather", "WOLinear", "Xor",
})
