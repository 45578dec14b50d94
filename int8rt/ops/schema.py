"""`OpSchema`: the one declaration of a canonical op (int8rt/opset.py collects them).

Every field is read by the code that needs it, never restated there (docs/ARCHITECTURE.md
"Adding an op"): the ONNX importer, validation, shape inference, the layout pass, constant
folding, the float executor, quantization and lowering all look an op up here.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np

Shape = tuple[int, ...]


@dataclass(frozen=True)
class ShapeContext:
    """What a shape rule may know besides its input shapes and attributes."""

    node: str  # the node's name, for error messages
    spatial: tuple[int, int, int]  # (h axis, w axis, channel axis) of 4-D activations
    # the output shapes the graph recorded (None: no tensor yet); Slice keeps its own
    outputs: tuple[Shape | None, ...]
    # (H, W) of another 4-D tensor of the graph, None if it has none (a Resize whose sizes the
    # exporter computed from a skip tensor's Shape follows that tensor to a new image size)
    hw_of: Callable[[str], tuple[int, int] | None] = lambda name: None


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
    # unary elementwise ops: y = fn(x, attrs) on real values, float64 in and out, attrs with
    # their defaults and float attributes rounded to float32 (ONNX stores them as float32)
    fn: Callable[[np.ndarray, dict[str, Any]], np.ndarray] | None = None
    # binary elementwise ops: y = binary(a, b) with numpy broadcasting, on numpy arrays of any
    # dtype (the float executor's float32, the dynamic path's integer shape arithmetic)
    binary: Callable[[np.ndarray, np.ndarray], np.ndarray] | None = None
    # the float32 kernel's op code (csrc/include/int8rt/f32.h I8_F32_*: the f32_binary record),
    # what the float fallback of the static plan and the dynamic plan run
    f32_code: int | None = None
    # imported 1:1 from the ONNX op of the same name (attributes as declared, ONNX defaults)
    onnx: bool = False
    # --- ops declared whole (pooling and data movement: int8rt/ops/*.py) ---------------------
    # (min inputs, max inputs or None, min outputs, max outputs or None): validate.py's check
    arity: tuple[int, int | None, int, int | None] | None = None
    # output shapes from input shapes: shape(ins, attrs as the node holds them, ShapeContext)
    shape: Callable[[list[Shape], dict[str, Any], ShapeContext], list[Shape]] | None = None
    # the output shape is the recorded one, not derived from the attributes (Slice: they hold
    # no ends); shape_inference.rebatch carries a whole batch axis over to a new batch size
    recorded_shape: bool = False
    # how the NCHW -> NHWC layout pass rewrites it: "spatial" (4-D input moved to NHWC,
    # attributes kept: the op's NHWC form is its definition, and constant folding waits for
    # NHWC), "custom" (attributes that name axes: its branch in passes/layout.py) or "onnx"
    # (no NHWC form: it keeps ONNX's meaning and runs on NCHW data, the pass's generic rule;
    # ops/onnx_float.py)
    layout: str | None = None
    # attribute checks beyond their types (validate.py): check(attrs, n_inputs, n_outputs) ->
    # what is wrong, or "" (a model file is untrusted input)
    check: Callable[[dict[str, Any], int, int], str] | None = None
    # the float32 NHWC implementation (reference/float_ops.py signature: ins, attrs with
    # defaults, NodeShapes -> outputs): the float executor, constant folding, calibration
    reference: Callable[..., list[np.ndarray]] | None = None
    # lowering to plan records: lower(lw, node) with lw the lowering context (lower._Lowerer:
    # shapes, quantization parameters, emit); for int8 tensors, and for float32 ones too when
    # lower_f32 is the same function
    lower: Callable[[Any, Any], None] | None = None
    # lowering of a node left in float32 (mixed precision, lower.FLOAT_OPS); None: int8 only
    lower_f32: Callable[[Any, Any], None] | None = None
