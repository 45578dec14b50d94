"""Numpy implementations of the ONNX ops that transformer and RNN exports use, with ONNX
semantics (broadcasting, negative axes, opset-13+ input forms). They serve two jobs in the
dynamic path (int8rt/dynamic/): evaluating the shape subgraphs that specialization folds into
constants, and running a graph in float32 as the accuracy reference.

Each function takes (inputs, attrs) with omitted optional inputs as None and returns a list of
outputs.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

import numpy as np

from .. import opset
from .f32_math import sqrt_f32

F32 = np.float32
OpFn = Callable[[list[Any], dict[str, Any]], list[np.ndarray]]
OPS: dict[str, OpFn] = {}

# ONNX TensorProto element types the dynamic path handles
ONNX_DTYPES = {1: np.float32, 2: np.uint8, 3: np.int8, 6: np.int32, 7: np.int64, 9: np.bool_,
               11: np.float64, 10: np.float16}


def _op(*names: str) -> Callable[[OpFn], OpFn]:
    def deco(fn: OpFn) -> OpFn:
        for n in names:
            OPS[n] = fn
        return fn
    return deco


def _axes(x: np.ndarray, ins: list[Any], attrs: dict[str, Any], k: int = 1) -> tuple[int, ...]:
    ax = ins[k] if len(ins) > k and ins[k] is not None else attrs.get("axes")
    if ax is None:
        return tuple(range(x.ndim))
    return tuple(int(a) % x.ndim for a in np.atleast_1d(ax))


_BIN = {"Add": np.add, "Sub": np.subtract, "Mul": np.multiply, "Pow": np.power,
        "Equal": np.equal, "Less": np.less, "Greater": np.greater,
        "LessOrEqual": np.less_equal, "GreaterOrEqual": np.greater_equal,
        "And": np.logical_and, "Or": np.logical_or, "Xor": np.logical_xor}
def _binary(f):
    return lambda ins, attrs: [np.asarray(f(ins[0], ins[1]))]


def _unary(f):
    return lambda ins, attrs: [np.asarray(f(ins[0]))]


for _name, _fn in _BIN.items():
    OPS[_name] = _binary(_fn)


@_op("Div")
def _div(ins, attrs):
    a, b = ins
    if np.issubdtype(np.asarray(a).dtype, np.integer):
        return [np.asarray(np.trunc(a / b).astype(np.asarray(a).dtype))]
    return [np.asarray(a / b)]


def _fold_variadic(fn):
    def run(ins, attrs):
        out = ins[0]
        for x in ins[1:]:
            out = fn(out, x)
        return [np.asarray(out)]
    return run


OPS["Max"] = _fold_variadic(np.maximum)
OPS["Min"] = _fold_variadic(np.minimum)
OPS["Sum"] = _fold_variadic(np.add)

def _sqrt(x: np.ndarray) -> np.ndarray:
    return sqrt_f32(x) if x.dtype == np.float32 else np.sqrt(x)


_UN = {"Relu": lambda x: np.maximum(x, 0).astype(x.dtype), "Tanh": np.tanh,
       "Sigmoid": lambda x: (1 / (1 + np.exp(-x))).astype(x.dtype), "Sqrt": _sqrt,
       "Exp": np.exp, "Log": np.log, "Neg": np.negative, "Abs": np.abs, "Not": np.logical_not,
       "Reciprocal": lambda x: (1 / x).astype(x.dtype), "Floor": np.floor, "Ceil": np.ceil}
for _name, _fn in _UN.items():
    OPS[_name] = _unary(_fn)


def erf(x: np.ndarray) -> np.ndarray:
    return np.vectorize(math.erf, otypes=[np.float64])(x).astype(x.dtype)


@_op("Erf")
def _erf(ins, attrs):
    return [erf(ins[0])]


@_op("Gelu")
def _gelu(ins, attrs):
    x = ins[0]
    if attrs.get("approximate", "none") == "tanh":
        y = 0.5 * x * (1 + np.tanh(np.sqrt(2 / np.pi) * (x + 0.044715 * x ** 3)))
    else:
        y = 0.5 * x * (1 + erf(x / np.sqrt(2.0).astype(x.dtype)))
    return [y.astype(x.dtype)]


@_op("Clip")
def _clip(ins, attrs):
    x = ins[0]
    lo = ins[1] if len(ins) > 1 and ins[1] is not None else attrs.get("min", -np.inf)
    hi = ins[2] if len(ins) > 2 and ins[2] is not None else attrs.get("max", np.inf)
    return [np.clip(x, lo, hi).astype(x.dtype)]


@_op("Identity", "Dropout")
def _identity(ins, attrs):
    return [ins[0]]


@_op("Cast")
def _cast(ins, attrs):
    return [np.asarray(ins[0]).astype(ONNX_DTYPES[int(attrs["to"])])]


@_op("Shape")
def _shape(ins, attrs):
    shp = np.array(np.shape(ins[0]), np.int64)
    return [shp[attrs.get("start", 0):attrs.get("end", None)]]


@_op("Size")
def _size(ins, attrs):
    return [np.array(np.size(ins[0]), np.int64)]


@_op("ConstantOfShape")
def _const_of_shape(ins, attrs):
    v = attrs.get("value")
    v = np.zeros(1, F32) if v is None else \
        np.asarray(v, attrs.get("value_dtype")).reshape(-1)
    return [np.full(tuple(int(d) for d in ins[0]), v[0], v.dtype)]


@_op("Range")
def _range(ins, attrs):
    start, limit, delta = (np.asarray(i) for i in ins)
    return [np.arange(start, limit, delta).astype(start.dtype)]


def take_indices(idx: np.ndarray, n: int) -> np.ndarray:
    """ONNX Gather indices (int32 / int64, negatives count from the end) as np.intp for np.take,
    range-checked in int64 first: np.take casts indices to intp only under the 'safe' rule, which
    refuses int64 where intp is 32 bits (armv7), and a plain cast would wrap an out-of-range
    int64 index into range there."""
    i = np.asarray(idx).astype(np.int64)
    if i.size and (int(i.min()) < -n or int(i.max()) >= n):
        raise IndexError(f"Gather: an index is out of range [{-n}, {n})")
    return i.astype(np.intp)


@_op("Gather")
def _gather(ins, attrs):
    x, idx = ins
    axis = int(attrs.get("axis", 0))
    return [np.take(x, take_indices(idx, x.shape[axis]), axis=axis)]


@_op("GatherElements")
def _gather_elements(ins, attrs):
    x, idx = ins
    axis = int(attrs.get("axis", 0)) % x.ndim
    idx = np.where(idx < 0, idx + x.shape[axis], idx)
    return [np.take_along_axis(x, idx, axis=axis)]


@_op("Unsqueeze")
def _unsqueeze(ins, attrs):
    x = ins[0]
    ax = ins[1] if len(ins) > 1 and ins[1] is not None else attrs["axes"]
    nd = np.ndim(x) + len(np.atleast_1d(ax))
    return [np.expand_dims(x, tuple(int(a) % nd for a in np.atleast_1d(ax)))]


@_op("Squeeze")
def _squeeze(ins, attrs):
    x = ins[0]
    ax = ins[1] if len(ins) > 1 and ins[1] is not None else attrs.get("axes")
    if ax is None:
        return [np.squeeze(x)]
    return [np.squeeze(x, tuple(int(a) % x.ndim for a in np.atleast_1d(ax)))]


def reshape_target(in_shape: tuple[int, ...], target: np.ndarray, allowzero: int = 0
                   ) -> tuple[int, ...]:
    dims = [int(d) for d in target]
    if not allowzero:
        if any(d == 0 and i >= len(in_shape) for i, d in enumerate(dims)):
            raise ValueError(f"Reshape: a 0 (copy) entry past the input's rank in {dims} "
                             f"for shape {tuple(in_shape)}")
        dims = [in_shape[i] if d == 0 else d for i, d in enumerate(dims)]
    if dims.count(-1) > 1:
        raise ValueError(f"Reshape: more than one -1 in {dims}")
    if -1 in dims:
        known = int(np.prod([d for d in dims if d != -1]))
        dims[dims.index(-1)] = int(np.prod(in_shape)) // max(known, 1)
    return tuple(dims)


@_op("Reshape")
def _reshape(ins, attrs):
    x = ins[0]
    return [np.reshape(x, reshape_target(np.shape(x), ins[1], int(attrs.get("allowzero", 0))))]


@_op("Flatten")
def _flatten(ins, attrs):
    x = ins[0]
    axis = int(attrs.get("axis", 1))
    axis = axis + x.ndim if axis < 0 else axis  # axis == ndim is legal: [prod, 1]
    lead = int(np.prod(x.shape[:axis]))
    return [x.reshape(lead, -1)]


@_op("Transpose")
def _transpose(ins, attrs):
    perm = attrs.get("perm")
    return [np.transpose(ins[0], None if perm is None else tuple(perm))]


@_op("Concat")
def _concat(ins, attrs):
    return [np.concatenate([np.asarray(i) for i in ins if i is not None],
                           axis=int(attrs["axis"]))]


@_op("Split")
def _split(ins, attrs):
    x = ins[0]
    axis = int(attrs.get("axis", 0)) % x.ndim
    sizes = ins[1] if len(ins) > 1 and ins[1] is not None else attrs.get("split")
    if sizes is None:
        n = int(attrs.get("num_outputs", attrs.get("_num_outputs", 1)))
        sizes = [x.shape[axis] // n] * n
    cuts = np.cumsum(np.asarray(sizes, np.int64))[:-1]
    return list(np.split(x, cuts, axis=axis))


def slice_spec(shape: tuple[int, ...], starts, ends, axes, steps) -> list[slice]:
    nd = len(shape)
    if nd == 0:
        raise ValueError("Slice of a scalar")
    if axes is None and len(starts) > nd:
        raise ValueError(f"Slice: {len(starts)} starts for a rank-{nd} input")
    axes = list(range(len(starts))) if axes is None else [int(a) % nd for a in axes]
    steps = [1] * len(starts) if steps is None else [int(s) for s in steps]
    if len(set(axes)) != len(axes) or not (len(starts) == len(ends) == len(axes) == len(steps)):
        raise ValueError("Slice: starts, ends, axes and steps need one distinct axis each")
    if 0 in steps:
        raise ValueError("Slice: a step of 0")
    sl = [slice(None)] * nd
    for a, s, e, st in zip(axes, starts, ends, steps):
        sl[a] = slice(int(s), int(e), st)  # Python slicing clamps like ONNX Slice
    return sl


@_op("Slice")
def _slice(ins, attrs):
    x = ins[0]
    sl = slice_spec(x.shape, ins[1], ins[2], ins[3] if len(ins) > 3 else None,
                    ins[4] if len(ins) > 4 else None)
    return [x[tuple(sl)]]


@_op("Expand")
def _expand(ins, attrs):
    x = ins[0]
    shape = np.broadcast_shapes(x.shape, tuple(int(d) for d in ins[1]))
    return [np.broadcast_to(x, shape).copy()]


@_op("Where")
def _where(ins, attrs):
    return [np.where(ins[0], ins[1], ins[2])]


@_op("MatMul")
def _matmul(ins, attrs):
    return [np.matmul(ins[0], ins[1])]


@_op("Gemm")
def _gemm(ins, attrs):
    a, b = ins[0], ins[1]
    if attrs.get("transA", 0):
        a = a.T
    if attrs.get("transB", 0):
        b = b.T
    y = attrs.get("alpha", 1.0) * (a @ b)
    if len(ins) > 2 and ins[2] is not None:
        y = y + attrs.get("beta", 1.0) * ins[2]
    return [y.astype(F32)]


@_op("Softmax")
def _softmax(ins, attrs):
    x = ins[0]
    axis = int(attrs.get("axis", -1))
    e = np.exp(x - np.max(x, axis=axis, keepdims=True))
    return [(e / np.sum(e, axis=axis, keepdims=True)).astype(x.dtype)]


@_op("LayerNormalization")
def _layernorm(ins, attrs):
    x = ins[0]
    axis = int(attrs.get("axis", -1)) % x.ndim
    red = tuple(range(axis, x.ndim))
    mean = x.mean(axis=red, keepdims=True, dtype=np.float64)
    var = ((x - mean) ** 2).mean(axis=red, keepdims=True)
    y = (x - mean) / np.sqrt(var + attrs.get("epsilon", 1e-5))
    y = y * ins[1]
    if len(ins) > 2 and ins[2] is not None:
        y = y + ins[2]
    return [y.astype(x.dtype)]


def _reduce(fn):
    def run(ins, attrs):
        x = ins[0]
        axes = _axes(x, ins, attrs)
        if len(ins) > 1 and ins[1] is not None and np.size(ins[1]) == 0 \
                and attrs.get("noop_with_empty_axes", 0):
            return [x]
        return [np.asarray(fn(x, axis=axes, keepdims=bool(attrs.get("keepdims", 1))))
                .astype(x.dtype)]
    return run


OPS["ReduceMean"] = _reduce(np.mean)
OPS["ReduceSum"] = _reduce(np.sum)
OPS["ReduceMax"] = _reduce(np.max)
OPS["ReduceMin"] = _reduce(np.min)
OPS["ReduceSumSquare"] = _reduce(lambda x, axis, keepdims: np.sum(x * x, axis=axis,
                                                                   keepdims=keepdims))
OPS["ReduceL2"] = _reduce(lambda x, axis, keepdims: _sqrt(np.sum(x * x, axis=axis,
                                                               keepdims=keepdims)))
OPS["ReduceL1"] = _reduce(lambda x, axis, keepdims: np.sum(np.abs(x), axis=axis,
                                                           keepdims=keepdims))


@_op("LpNormalization")
def _lp_normalization(ins, attrs):
    x = ins[0]
    axis, p = int(attrs.get("axis", -1)), int(attrs.get("p", 2))
    norm = np.sum(np.abs(x), axis=axis, keepdims=True) if p == 1 else \
        _sqrt(np.sum(x * x, axis=axis, keepdims=True))
    return [(x / norm).astype(x.dtype)]



# the binary elementwise ops opset.py declares and no rule above covers (Div: integer
# division; Max / Min / Sum: variadic)
for _name in opset.BINARY_OPS:
    OPS.setdefault(_name, _binary(opset.binary_function(_name)))

def run_node(op: str, ins: list[Any], attrs: dict[str, Any], where: str) -> list[np.ndarray]:
    fn = OPS.get(op)
    if fn is None:
        raise NotImplementedError(f"{op} (node {where!r}) has no float implementation in the "
                                  "dynamic path")
    return fn(ins, attrs)
