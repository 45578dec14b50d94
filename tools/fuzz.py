"""Mutation fuzzer for everything past the .i8 loader: validation, lowering, native plan building.

    python tools/fuzz.py --target i8 --seed 1 --iterations 5000 [--findings fuzz-findings]
    python tools/fuzz.py --target onnx --seed 1 --seconds 300

Targets
  i8    real .i8 models (the bundled float demo, its quantized version and quantized small
        synthetic models) mutated at the byte level (JSON metadata edits with the checksums
        recomputed, so the mutation gets past the CRCs) and at the structure level (the loaded
        ir.Graph: shapes, attributes, qparams, dtypes, constants, names, cycles), then
        save -> load -> Session -> run.
  onnx  small ONNX models (built with onnx.helper, plus tools/data/digits_cnn.onnx) mutated at
        the protobuf-field level, then import_onnx -> quantize -> Session -> run.

Every case runs in-process inside a worker subprocess; this process supervises it. A Python
exception outside the documented classes is a finding (the worker records it); a worker that
dies (segfault, abort) or stops reporting for --timeout seconds (hang) is a finding the
supervisor records, with the reproducer the worker saved before starting the case. Cases are
deterministic: case i of seed s always draws from np.random.default_rng([s, i]).

The finding directory gets, per finding, `<target>-<seed>-<i>.{i8,onnx,pkl}` (the reproducer)
and `.txt` (what happened). Reproduce one with `--replay FILE`.
"""

from __future__ import annotations

import argparse
import copy
import io
import json
import math
import os
import pickle
import re
import struct
import subprocess
import sys
import time
import traceback
import zlib
from pathlib import Path
from typing import Any, Callable

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

TARGETS = ("i8", "onnx", "qdq", "dynamic")
# A MemoryError is an acceptable outcome only when the model really asks for this much.
HUGE_BYTES = 1 << 28
# Address-space cap of the worker, so a huge (but validated) request fails with MemoryError
# instead of swapping the machine or waking the OOM killer.
WORKER_AS_LIMIT = 6 << 30
# The onnx target calibrates in float (numpy); beyond this a case measures numpy, not int8rt.
CALIB_BYTES = 16 << 20


# -- outcome classification -------------------------------------------------------------------
def _acceptable() -> tuple[type, ...]:
    """Exception classes a malformed model may raise: documented, all ValueError subclasses
    (I8FormatError, GraphValidationError, LoweringError, UnsupportedOpError) or TypeError /
    OverflowError. MemoryError is handled separately (see HUGE_BYTES)."""
    return (ValueError, TypeError, OverflowError)


def _graph_bytes(graph: Any) -> int:
    """Largest tensor byte size the graph declares (0 when unknown)."""
    from int8rt.validate import ITEMSIZE

    worst = 0
    for t in getattr(graph, "tensors", {}).values():
        try:
            worst = max(worst, math.prod(int(d) for d in t.shape) * ITEMSIZE.get(t.dtype, 1))
        except Exception:  # noqa: BLE001, S110 - a mangled shape: its size is unknown
            pass
    return worst


class Finding(Exception):
    pass


# How cases ended in this worker (exception class name, or "ran"): shows the fuzzer reaches
# the native plan and not only the validator.
OUTCOMES: dict[str, int] = {}


# -- model seeds --------------------------------------------------------------------------------
def _onnx_models() -> list[tuple[str, Any]]:
    """Small float ONNX models covering conv / relu / pool / gemm / concat / resize / slice."""
    import onnx
    from onnx import TensorProto, helper, numpy_helper

    rng = np.random.default_rng(0)

    def init(name: str, shape: tuple[int, ...], dtype: Any = np.float32) -> Any:
        if dtype == np.int64:
            return numpy_helper.from_array(np.asarray(shape, np.int64), name)
        return numpy_helper.from_array((rng.standard_normal(shape) * 0.3).astype(dtype), name)

    def model(name: str, nodes: list, inits: list, in_shape: list[int],
              out_shape: list[int]) -> Any:
        g = helper.make_graph(
            nodes, name,
            [helper.make_tensor_value_info("x", TensorProto.FLOAT, in_shape)],
            [helper.make_tensor_value_info("y", TensorProto.FLOAT, out_shape)], inits)
        m = helper.make_model(g, opset_imports=[helper.make_opsetid("", 13)])
        m.ir_version = 8
        return m

    mk = helper.make_node
    models = [
        ("conv_relu_pool", model("conv_relu_pool", [
            mk("Conv", ["x", "w", "b"], ["c"], kernel_shape=[3, 3], pads=[1, 1, 1, 1],
               strides=[1, 1]),
            mk("Relu", ["c"], ["r"]),
            mk("MaxPool", ["r"], ["p"], kernel_shape=[2, 2], strides=[2, 2]),
            mk("AveragePool", ["p"], ["y"], kernel_shape=[2, 2], strides=[1, 1]),
        ], [init("w", (4, 3, 3, 3)), init("b", (4,))], [1, 3, 8, 8], [1, 4, 3, 3])),
        ("dwconv_gemm", model("dwconv_gemm", [
            mk("Conv", ["x", "w"], ["c"], kernel_shape=[3, 3], group=4, pads=[0, 0, 0, 0]),
            mk("GlobalAveragePool", ["c"], ["g"]),
            mk("Flatten", ["g"], ["f"], axis=1),
            mk("Gemm", ["f", "fw", "fb"], ["y"], transB=1),
        ], [init("w", (4, 1, 3, 3)), init("fw", (5, 4)), init("fb", (5,))],
            [1, 4, 6, 6], [1, 5])),
        ("concat_resize_slice", model("concat_resize_slice", [
            mk("Conv", ["x", "w"], ["a"], kernel_shape=[1, 1]),
            mk("Relu", ["x"], ["r"]),
            mk("Concat", ["a", "r"], ["c"], axis=1),
            mk("Resize", ["c", "", "scales"], ["z"], mode="nearest"),
            mk("Slice", ["z", "starts", "ends", "axes"], ["y"]),
        ], [init("w", (2, 2, 1, 1)),
            numpy_helper.from_array(np.array([1, 1, 2, 2], np.float32), "scales"),
            numpy_helper.from_array(np.array([1, 0], np.int64), "starts"),
            numpy_helper.from_array(np.array([3, 6], np.int64), "ends"),
            numpy_helper.from_array(np.array([1, 2], np.int64), "axes")],
            [1, 2, 4, 4], [1, 2, 6, 8])),
        ("add_softmax_transpose", model("add_softmax_transpose", [
            mk("Conv", ["x", "w", "b"], ["a"], kernel_shape=[3, 3], pads=[1, 1, 1, 1]),
            mk("Add", ["a", "x"], ["s"]),
            mk("Transpose", ["s"], ["t"], perm=[0, 2, 3, 1]),
            mk("Softmax", ["t"], ["y"], axis=-1),
        ], [init("w", (2, 2, 3, 3)), init("b", (2,))], [1, 2, 5, 5], [1, 5, 5, 2])),
    ]
    path = ROOT / "tools" / "data" / "digits_cnn.onnx"
    if path.exists():
        models.append(("digits_cnn", onnx.load(str(path))))
    return models


def _qdq_models() -> list[tuple[str, Any]]:
    """ONNX models that carry their own quantization (QDQ, as ORT / PyTorch export it) for the
    qdq target, and float transformer-style models for the dynamic target."""
    from onnx import TensorProto, helper, numpy_helper

    rng = np.random.default_rng(1)
    mk = helper.make_node

    def arr(name: str, a: np.ndarray) -> Any:
        return numpy_helper.from_array(a, name)

    def model(name: str, nodes: list, inits: list, in_shape: list[int], opset: int) -> Any:
        g = helper.make_graph(
            nodes, name, [helper.make_tensor_value_info("x", TensorProto.FLOAT, in_shape)],
            [helper.make_tensor_value_info("y", TensorProto.FLOAT, None)], inits)
        m = helper.make_model(g, opset_imports=[helper.make_opsetid("", opset)])
        m.ir_version = 8
        return m

    qdq = model("qdq_conv", [
        mk("QuantizeLinear", ["x", "sx", "zx"], ["xq"]),
        mk("DequantizeLinear", ["xq", "sx", "zx"], ["xd"]),
        mk("DequantizeLinear", ["wq", "sw", "zw"], ["wd"], axis=0),
        mk("Conv", ["xd", "wd", "b"], ["c"], kernel_shape=[3, 3], pads=[1, 1, 1, 1]),
        mk("Relu", ["c"], ["r"]),
        mk("QuantizeLinear", ["r", "sr", "zr"], ["rq"]),
        mk("DequantizeLinear", ["rq", "sr", "zr"], ["rd"]),
        mk("MaxPool", ["rd"], ["p"], kernel_shape=[2, 2], strides=[2, 2]),
        mk("QuantizeLinear", ["p", "sr", "zr"], ["pq"]),
        mk("DequantizeLinear", ["pq", "sr", "zr"], ["y"]),
    ], [arr("sx", np.float32(0.02)), arr("zx", np.uint8(128)),
        arr("wq", rng.integers(-127, 128, (4, 3, 3, 3)).astype(np.int8)),
        arr("sw", np.full(4, 0.01, np.float32)), arr("zw", np.zeros(4, np.int8)),
        arr("b", (rng.standard_normal(4) * 0.1).astype(np.float32)),
        arr("sr", np.float32(0.05)), arr("zr", np.uint8(0))], [1, 3, 8, 8], 13)
    dyn = model("encoder_block", [
        mk("LayerNormalization", ["x", "g", "beta"], ["n"], axis=-1),
        mk("MatMul", ["n", "w1"], ["m1"]),
        mk("Add", ["m1", "b1"], ["a1"]),
        mk("Tanh", ["a1"], ["t"]),
        mk("MatMul", ["t", "w2"], ["m2"]),
        mk("Softmax", ["m2"], ["y"], axis=-1),
    ], [arr("g", np.ones(8, np.float32)), arr("beta", np.zeros(8, np.float32)),
        arr("w1", rng.standard_normal((8, 6)).astype(np.float32)),
        arr("b1", rng.standard_normal(6).astype(np.float32)),
        arr("w2", rng.standard_normal((6, 5)).astype(np.float32))], [1, 4, 8], 17)
    return [("qdq_conv", qdq), ("encoder_block", dyn)]


def _feed_shape(m: Any) -> tuple[int, ...]:
    """The (possibly mutated) declared input shape, each dim clamped into [1, 16]."""
    dims = m.graph.input[0].type.tensor_type.shape.dim if len(m.graph.input) else []
    return tuple(min(max(int(d.dim_value), 1), 16) for d in dims)


def _calibration(graph: Any, rng: np.random.Generator, n: int = 4) -> list[np.ndarray]:
    shape = tuple(graph.tensor(graph.inputs[0]).shape)
    return [rng.standard_normal((n,) + shape[1:]).astype(np.float32)]


def _quantize(graph: Any, rng: np.random.Generator) -> Any:
    from int8rt.quant.ptq import quantize

    return quantize(graph, _calibration(graph, rng), progress=False)


_SEEDS: dict[str, list[tuple[str, bytes]]] = {}


def i8_seeds() -> list[tuple[str, bytes]]:
    """(name, .i8 bytes) of the real models the i8 target mutates."""
    if "i8" in _SEEDS:
        return _SEEDS["i8"]
    from int8rt import format as i8format
    from int8rt.demo import _data_file, load_demo
    from int8rt.frontend.onnx import import_onnx

    seeds = [("digits_float", _data_file("digits_cnn.i8").read_bytes())]
    graph, _, _, x_calib = load_demo()
    q = __import__("int8rt").quantize(graph, [x_calib[:16]], progress=False).graph
    seeds.append(("digits_int8", _to_bytes(q)))
    # Mixed precision: one Conv and the classifier kept in float32 (the f32 fallback kernels
    # and the Dequantize/Quantize boundaries around them).
    float_convs = [n.name for n in graph.nodes if n.op in ("Conv", "Gemm")][1::2]
    mixed = __import__("int8rt").quantize(graph, [x_calib[:16]], progress=False,
                                          float_nodes=float_convs).graph
    seeds.append(("digits_mixed", _to_bytes(mixed)))
    rng = np.random.default_rng(0)
    for name, m in _onnx_models():
        if name == "digits_cnn":
            continue
        g = _quantize(import_onnx(m), rng)
        buf = io.BytesIO()
        i8format.save(g, buf)
        seeds.append((name + "_int8", buf.getvalue()))
    _SEEDS["i8"] = seeds
    return seeds


def _to_bytes(graph: Any) -> bytes:
    from int8rt import format as i8format

    buf = io.BytesIO()
    i8format.save(graph, buf)
    return buf.getvalue()


# -- the pipeline under test ---------------------------------------------------------------------
def run_session(graph_or_bytes: Any, rng: np.random.Generator) -> None:
    """load (if bytes) -> Session -> run on a correctly shaped input, as a user would."""
    from int8rt import format as i8format
    from int8rt.session import Session

    graph = i8format.load(graph_or_bytes) if isinstance(graph_or_bytes, bytes) else graph_or_bytes
    sess = Session(graph)
    feed = {}
    for arg in sess.get_inputs():
        shape = tuple(arg.shape)
        if arg.dtype == "float32":
            feed[arg.name] = rng.standard_normal(shape).astype(np.float32)
        else:
            feed[arg.name] = rng.integers(-128, 128, shape).astype(arg.dtype)
    sess.run(None, feed)


# -- generic value mutation ----------------------------------------------------------------------
INTERESTING_INTS = [0, -1, 1, 2, 3, -2, 7, 64, 127, 128, -128, 255, 256, 1000, 2**15, 2**31 - 1,
                    2**31, -(2**31), 2**32, 2**40, 2**62, 2**63 - 1, -(2**63)]
INTERESTING_FLOATS = [0.0, -0.0, -1.0, 1.0, 0.5, 1e-45, 1e-30, 1e30, 3.4e38, float("inf"),
                      float("-inf"), float("nan"), 2.0**31, -(2.0**31), 1e300]


def mutate_int(v: int, rng: np.random.Generator) -> int:
    """An int64 (what .i8 and ONNX fields hold) near v or at a boundary."""
    r = rng.random()
    if r < 0.6:
        return int(rng.choice(INTERESTING_INTS))
    if r < 0.8:
        return min(max(int(v) + int(rng.integers(-3, 4)), -(2**63)), 2**63 - 1)
    return int(rng.integers(-(2**20), 2**20))


def mutate_value(v: Any, rng: np.random.Generator) -> Any:
    if isinstance(v, bool):
        return not v
    if isinstance(v, (int, np.integer)):
        return mutate_int(int(v), rng)
    if isinstance(v, (float, np.floating)):
        return float(rng.choice(INTERESTING_FLOATS)) if rng.random() < 0.7 else float(v) * 3
    if isinstance(v, str):
        return str(rng.choice(["", "nearest", "linear", "cubic", "reflect", "edge", "constant",
                               "tanh", "align_corners", "asymmetric", "half_pixel", "floor",
                               "ceil", "x" * 50]))
    if isinstance(v, (tuple, list)):
        items = list(v)
        r = rng.random()
        if items and r < 0.6:
            k = int(rng.integers(len(items)))
            items[k] = mutate_value(items[k], rng)
        elif items and r < 0.75:
            items.pop(int(rng.integers(len(items))))
        elif r < 0.9:
            items.append(items[-1] if items else 0)
        else:
            rng.shuffle(items)
        return tuple(items)
    return v


# -- structure-level mutations of an ir.Graph ----------------------------------------------------
def _pick(rng: np.random.Generator, seq: list) -> Any:
    return seq[int(rng.integers(len(seq)))] if seq else None


def _m_shape(g: Any, rng: np.random.Generator) -> None:
    t = _pick(rng, list(g.tensors.values()))
    shape = list(t.shape)
    r = rng.random()
    if shape and r < 0.7:
        k = int(rng.integers(len(shape)))
        shape[k] = int(rng.choice([0, -1, 1, 2, shape[k] + 1, max(shape[k] - 1, 0), 2**31,
                                   2**40, 2**62, 1000]))
    elif shape and r < 0.85:
        shape.pop(int(rng.integers(len(shape))))
    else:
        shape.insert(int(rng.integers(len(shape) + 1)), int(rng.choice([1, 2, 3])))
    t.shape = tuple(shape)
    if t.data is not None and rng.random() < 0.5:  # keep data consistent so validation passes
        try:
            n = math.prod(shape)
            if 0 <= n <= 1 << 20 and min(shape, default=0) >= 0:
                flat = np.resize(t.data.reshape(-1), n)
                t.data = flat.reshape(shape)
        except ValueError:
            pass


def _m_attr(g: Any, rng: np.random.Generator) -> None:
    from int8rt import opset

    nodes = g.nodes
    n = _pick(rng, nodes)
    if n is None:
        return
    keys = sorted(set(n.attrs) | set(opset.OPS.get(n.op).attrs if n.op in opset.OPS else ()))
    key = _pick(rng, keys)
    if key is None:
        return
    cur = n.attrs.get(key, opset.OPS[n.op].attrs.get(key) if n.op in opset.OPS else 0)
    n.attrs[key] = mutate_value(cur, rng)
    if rng.random() < 0.1:
        n.attrs.pop(key, None)


def _m_qparams(g: Any, rng: np.random.Generator) -> None:
    from int8rt.ir import QParams

    ts = [t for t in g.tensors.values() if t.qparams is not None]
    t = _pick(rng, ts)
    if t is None:
        return
    q = t.qparams
    scale, zp, axis = np.array(q.scale), np.array(q.zero_point), q.axis
    r = rng.random()
    if r < 0.4:
        flat = scale.reshape(-1)
        if flat.size:
            flat[int(rng.integers(flat.size))] = np.float32(rng.choice(INTERESTING_FLOATS))
    elif r < 0.7:
        flat = zp.reshape(-1)
        if flat.size:
            flat[int(rng.integers(flat.size))] = int(rng.choice([-129, -128, 127, 128, 255, 256,
                                                                 -1, 1, 2**31 - 1, -(2**31)]))
    elif r < 0.85:
        axis = None if axis is not None else int(rng.integers(-1, len(t.shape) + 1))
    else:
        n = int(rng.integers(0, 5))
        scale, zp = np.ones(n, np.float32) * 0.1, np.zeros(n, np.int32)
        axis = 0
    t.qparams = QParams(scale.astype(np.float32), zp, axis)


def _m_dtype(g: Any, rng: np.random.Generator) -> None:
    from int8rt.ir import DTYPES

    t = _pick(rng, list(g.tensors.values()))
    t.dtype = str(_pick(rng, list(DTYPES)))
    if t.data is not None and rng.random() < 0.7:
        t.data = t.data.astype(t.dtype)
    if rng.random() < 0.3:
        t.qparams = None


def _m_const(g: Any, rng: np.random.Generator) -> None:
    ts = [t for t in g.tensors.values() if t.is_const]
    t = _pick(rng, ts)
    if t is None:
        return
    r = rng.random()
    flat = t.data.reshape(-1)
    if r < 0.4:  # resize, shape kept consistent (a wrongly sized weight behind valid metadata)
        n = int(rng.choice([0, 1, max(flat.size // 2, 1), flat.size + 1, flat.size * 2]))
        t.data = np.resize(flat, n).reshape(n)
        t.shape = (n,)
    elif r < 0.6:  # truncated without updating the shape
        t.data = flat[: flat.size // 2].copy()
    elif r < 0.8 and flat.size and t.data.dtype.kind in "iu":
        info = np.iinfo(t.data.dtype)
        d = t.data.copy()
        d.reshape(-1)[:] = info.max if rng.random() < 0.5 else info.min
        t.data = d
    else:  # becomes a non-constant, or a non-constant becomes constant
        other = _pick(rng, [x for x in g.tensors.values() if not x.is_const])
        if other is not None and rng.random() < 0.5:
            try:
                other.data = np.zeros(other.shape, other.dtype)
            except (ValueError, MemoryError, TypeError):
                pass
        else:
            t.data = None


def _m_names(g: Any, rng: np.random.Generator) -> None:
    nodes = g.nodes
    if not nodes:
        return
    r = rng.random()
    n = _pick(rng, nodes)
    if r < 0.2 and n.inputs:  # dangling input
        n.inputs[int(rng.integers(len(n.inputs)))] = "no_such_tensor"
    elif r < 0.4 and n.inputs:  # cycle: read a later node's output
        later = nodes[nodes.index(n):]
        m = _pick(rng, later)
        n.inputs[int(rng.integers(len(n.inputs)))] = _pick(rng, m.outputs)
    elif r < 0.55:  # duplicated output
        m = _pick(rng, nodes)
        n.outputs[int(rng.integers(len(n.outputs)))] = _pick(rng, m.outputs)
    elif r < 0.65 and n.inputs:  # omitted input
        n.inputs[int(rng.integers(len(n.inputs)))] = ""
    elif r < 0.75:  # extra or missing input
        if rng.random() < 0.5 and n.inputs:
            n.inputs.pop()
        else:
            n.inputs.append(_pick(rng, list(g.tensors)))
    elif r < 0.85:  # rewire to another existing tensor (a shape mismatch behind valid names)
        if n.inputs:
            n.inputs[int(rng.integers(len(n.inputs)))] = _pick(rng, list(g.tensors))
    elif r < 0.92:
        g.outputs.append(_pick(rng, list(g.tensors)))
    else:
        g.nodes.remove(n) if rng.random() < 0.5 else g.nodes.insert(
            int(rng.integers(len(nodes))), copy.deepcopy(n))


def _m_op(g: Any, rng: np.random.Generator) -> None:
    from int8rt import opset

    n = _pick(rng, g.nodes)
    if n is not None:
        n.op = str(_pick(rng, sorted(opset.OPS)))


GRAPH_MUTATORS: list[tuple[float, Callable[[Any, np.random.Generator], None]]] = [
    (3, _m_shape), (4, _m_attr), (2, _m_qparams), (1, _m_dtype), (2, _m_const), (2, _m_names),
    (1, _m_op),
]


def mutate_graph(g: Any, rng: np.random.Generator) -> None:
    weights = np.array([w for w, _ in GRAPH_MUTATORS], float)
    for _ in range(int(rng.integers(1, 4))):
        fn = GRAPH_MUTATORS[int(rng.choice(len(weights), p=weights / weights.sum()))][1]
        fn(g, rng)


# -- byte-level mutations of an .i8 file ----------------------------------------------------------
_HEADER = struct.Struct("<8sHHIIIQQQQII")
_NUMBER = re.compile(rb"-?\d+(?:\.\d+)?(?:[eE][-+]?\d+)?")


def fix_checksums(data: bytearray) -> None:
    """Recompute the metadata, blob and header CRCs so a mutation reaches the decoder."""
    if len(data) < _HEADER.size:
        return
    f = list(_HEADER.unpack_from(data))
    header_size, meta_len, blob_offset, file_size = f[4], f[6], f[7], f[9]
    f[5] = zlib.crc32(bytes(data[header_size:header_size + meta_len]))
    f[10] = zlib.crc32(bytes(data[blob_offset:file_size]))
    head = _HEADER.pack(*f[:-1], 0)
    data[:_HEADER.size] = head[:-4] + struct.pack("<I", zlib.crc32(head[:-4]))


def mutate_bytes(data: bytes, rng: np.random.Generator) -> bytes:
    out = bytearray(data)
    f = _HEADER.unpack_from(out)
    header_size, meta_len, blob_offset, file_size = f[4], f[6], f[7], f[9]
    meta = bytes(out[header_size:header_size + meta_len])
    r = rng.random()
    if r < 0.55:  # rewrite a number in the JSON metadata (shapes, attrs, offsets, qparams)
        spans = [m.span() for m in _NUMBER.finditer(meta)]
        for _ in range(int(rng.integers(1, 4))):
            if not spans:
                break
            a, b = spans[int(rng.integers(len(spans)))]
            old = meta[a:b]
            new = str(mutate_int(int(float(old)) if old.lstrip(b"-").isdigit() else 1, rng))
            meta = meta[:a] + new.encode() + meta[b:]
            spans = [m.span() for m in _NUMBER.finditer(meta)]
        blob = bytes(out[blob_offset:file_size])
        meta_len = len(meta)
        blob_offset = (header_size + meta_len + 63) // 64 * 64
        body = meta + bytes(blob_offset - header_size - meta_len) + blob
        head = list(f)
        head[6], head[7], head[9] = meta_len, blob_offset, blob_offset + len(blob)
        out = bytearray(_HEADER.pack(*head)) + bytearray(header_size - _HEADER.size) + body
    elif r < 0.75:  # swap two quoted strings (names, dtypes, ops)
        strs = [m.span() for m in re.finditer(rb'"[^"\\]{1,40}"', meta)]
        if len(strs) >= 2:
            (a, b), (c, d) = sorted([strs[int(rng.integers(len(strs)))] for _ in range(2)])
            if b <= c:
                meta = meta[:a] + meta[c:d] + meta[b:c] + meta[a:b] + meta[d:]
                out[header_size:header_size + meta_len] = meta
    elif r < 0.9 and file_size > blob_offset:  # corrupt weights / qparam blobs
        for _ in range(int(rng.integers(1, 16))):
            k = int(rng.integers(blob_offset, file_size))
            out[k] = int(rng.integers(256))
    else:  # raw flips anywhere (checksums fixed or not)
        for _ in range(int(rng.integers(1, 8))):
            k = int(rng.integers(len(out)))
            out[k] ^= 1 << int(rng.integers(8))
        if rng.random() < 0.2:
            return bytes(out[: int(rng.integers(len(out)))])
        if rng.random() < 0.5:
            return bytes(out)
    fix_checksums(out)
    return bytes(out)


# -- ONNX protobuf-field mutations --------------------------------------------------------------
def mutate_onnx(m: Any, rng: np.random.Generator) -> None:
    from onnx import AttributeProto, TensorProto

    g = m.graph
    for _ in range(int(rng.integers(1, 4))):
        r = rng.random()
        nodes = list(g.node)
        n = _pick(rng, nodes)
        if r < 0.3 and n is not None and len(n.attribute):
            a = n.attribute[int(rng.integers(len(n.attribute)))]
            if a.type == AttributeProto.INT:
                a.i = mutate_int(a.i, rng)
            elif a.type == AttributeProto.INTS and len(a.ints):
                vals = list(mutate_value(tuple(a.ints), rng))
                del a.ints[:]
                a.ints.extend(int(np.clip(v, -(2**63), 2**63 - 1)) for v in vals)
            elif a.type == AttributeProto.FLOAT:
                a.f = float(rng.choice(INTERESTING_FLOATS))
            elif a.type == AttributeProto.STRING:
                a.s = mutate_value("", rng).encode()
        elif r < 0.4 and n is not None:
            n.op_type = str(_pick(rng, ["Conv", "Relu", "MaxPool", "AveragePool", "Gemm",
                                        "Concat", "Resize", "Slice", "Add", "Flatten",
                                        "Reshape", "Transpose", "Softmax", "Foo", "Identity",
                                        "GlobalAveragePool", "BatchNormalization", "Pad"]))
        elif r < 0.55 and len(g.initializer):
            t = g.initializer[int(rng.integers(len(g.initializer)))]
            rr = rng.random()
            if rr < 0.4 and len(t.dims):
                k = int(rng.integers(len(t.dims)))
                t.dims[k] = int(rng.choice([0, 1, 2, t.dims[k] + 1, max(t.dims[k] - 1, 0),
                                            2**31, 2**40, -1]))
            elif rr < 0.7:
                from onnx import numpy_helper

                try:
                    arr = numpy_helper.to_array(t).reshape(-1)
                except ValueError:
                    continue
                cut = int(rng.integers(0, max(arr.size, 1) + 2))
                raw = np.resize(arr, cut).tobytes() if arr.size else b""
                t.ClearField("float_data")
                t.ClearField("int64_data")
                t.raw_data = raw
            elif rr < 0.85 and t.data_type == TensorProto.FLOAT:
                from onnx import numpy_helper

                try:
                    arr = numpy_helper.to_array(t).copy()
                except ValueError:  # already inconsistent from an earlier mutation
                    continue
                if arr.size:
                    arr.reshape(-1)[int(rng.integers(arr.size))] = rng.choice(INTERESTING_FLOATS)
                    t.CopyFrom(numpy_helper.from_array(arr.astype(np.float32), t.name))
            else:
                t.data_type = int(rng.choice([TensorProto.INT8, TensorProto.INT64,
                                              TensorProto.DOUBLE, TensorProto.FLOAT16]))
        elif r < 0.7:
            vi = g.input[0]
            dims = vi.type.tensor_type.shape.dim
            if len(dims):
                k = int(rng.integers(len(dims)))
                if rng.random() < 0.8:
                    dims[k].dim_value = int(rng.choice([0, 1, 2, 3, 7, 64, 2**31, 2**40]))
                else:
                    dims[k].dim_param = "n"
            if rng.random() < 0.1:
                dims.add().dim_value = 2
        elif r < 0.85 and n is not None and len(n.input):
            k = int(rng.integers(len(n.input)))
            names = ([i.name for i in g.initializer] + [o for x in nodes for o in x.output]
                     + ["", "dangling"])
            n.input[k] = str(_pick(rng, names))
        elif r < 0.92 and n is not None:
            if rng.random() < 0.5 and len(n.input) > 1:
                del n.input[-1]
            else:
                n.input.append(str(_pick(rng, [i.name for i in g.initializer] or ["x"])))
        elif n is not None:
            if rng.random() < 0.5:
                n.output[0] = str(_pick(rng, [o for x in nodes for o in x.output] + ["x"]))
            else:
                g.node.remove(n)


# -- one case -------------------------------------------------------------------------------------
def make_case(target: str, seed: int, i: int) -> tuple[str, bytes, np.random.Generator]:
    """(suffix, reproducer bytes, rng for the run) of case i. For the i8 target the reproducer
    is an .i8 file (graph mutations are saved through format.save, whose own refusal is an
    acceptable outcome); for onnx a serialized ModelProto."""
    rng = np.random.default_rng([seed, i])
    if target == "i8":
        seeds = i8_seeds()
        _, data = seeds[int(rng.integers(len(seeds)))]
        if rng.random() < 0.35:
            return ".i8", mutate_bytes(data, rng), rng
        from int8rt import format as i8format

        g = i8format.load(data)
        mutate_graph(g, rng)
        return ".pkl", pickle.dumps(g), rng
    if target == "onnx":
        models = _onnx_models()
        _, m = models[int(rng.integers(len(models)))]
        m = copy.deepcopy(m)
        mutate_onnx(m, rng)
        return ".onnx", m.SerializeToString(), rng
    if target in ("qdq", "dynamic"):
        _, m = _qdq_models()[0 if target == "qdq" else 1]
        m = copy.deepcopy(m)
        mutate_onnx(m, rng)
        return (".qdq" if target == "qdq" else ".dyn"), m.SerializeToString(), rng
    raise ValueError(f"unknown target {target!r}")


def execute(target: str, suffix: str, data: bytes, rng: np.random.Generator) -> None:
    """Run one case; raise Finding for an unacceptable outcome."""
    graph: Any = None
    try:
        if suffix == ".pkl":
            graph = pickle.loads(data)
            data = _to_bytes(graph)  # format.save validates; its refusal is acceptable
            suffix = ".i8"
        if suffix == ".i8":
            from int8rt import format as i8format

            graph = i8format.load(data)
            run_session(graph, rng)
            OUTCOMES["ran"] = OUTCOMES.get("ran", 0) + 1
            return
        import onnx

        if suffix in (".qdq", ".dyn"):
            import int8rt

            m = onnx.load_from_string(data)
            feed = {"x": rng.standard_normal(_feed_shape(m)).astype(np.float32)}
            if suffix == ".qdq":  # the model's own scales: no calibration
                graph = int8rt.quantize(m, progress=False).graph
                run_session(graph, rng)
            else:
                graph = int8rt.quantize(m, mode="dynamic").graph
                int8rt.Session(graph).run(None, feed)
            OUTCOMES["ran"] = OUTCOMES.get("ran", 0) + 1
            return

        from int8rt.frontend.onnx import import_onnx

        graph = import_onnx(onnx.load_from_string(data))
        if _graph_bytes(graph) > CALIB_BYTES:
            return  # calibration is a float numpy run: a huge model is slow, not wrong
        q = _quantize(graph, rng)
        graph = q
        run_session(q, rng)
        OUTCOMES["ran"] = OUTCOMES.get("ran", 0) + 1
    except _acceptable() as e:
        OUTCOMES[type(e).__name__] = OUTCOMES.get(type(e).__name__, 0) + 1
        return
    except MemoryError as e:
        if _graph_bytes(graph) >= HUGE_BYTES:
            return
        raise Finding(f"MemoryError for a graph of at most {_graph_bytes(graph)} bytes: {e}\n"
                      + traceback.format_exc()) from e
    except RecursionError as e:
        raise Finding("RecursionError\n" + traceback.format_exc()) from e
    except Exception as e:
        raise Finding(f"{type(e).__name__}: {e}\n" + traceback.format_exc()) from e


# -- worker and supervisor ------------------------------------------------------------------------
def _save_finding(findings: Path, target: str, seed: int, i: int, suffix: str, data: bytes,
                  report: str) -> Path:
    findings.mkdir(parents=True, exist_ok=True)
    stem = findings / f"{target}-{seed}-{i}"
    stem.with_suffix(suffix).write_bytes(data)
    stem.with_suffix(".txt").write_text(
        f"target {target} seed {seed} case {i}\nreplay: python tools/fuzz.py --replay "
        f"{stem.with_suffix(suffix)}\n\n{report}\n")
    return stem


def worker(target: str, seed: int, start: int, stop: int, findings: Path) -> None:
    """Run cases [start, stop); before each case the reproducer goes to findings/current.*,
    and a line `case i` goes to stdout, so the supervisor can attribute a crash or hang."""
    # AddressSanitizer reserves terabytes of shadow address space: no cap under tools/sanitize.sh
    if "asan" not in os.environ.get("LD_PRELOAD", "") and "ASAN_OPTIONS" not in os.environ:
        try:
            import resource

            resource.setrlimit(resource.RLIMIT_AS, (WORKER_AS_LIMIT, WORKER_AS_LIMIT))
        except (ImportError, ValueError, OSError):
            pass
    import warnings

    warnings.simplefilter("ignore")
    findings.mkdir(parents=True, exist_ok=True)
    for i in range(start, stop):
        suffix, data, rng = make_case(target, seed, i)
        (findings / f".current-{target}").write_bytes(suffix.encode() + b"\n" + data)
        print(f"case {i}", flush=True)
        try:
            execute(target, suffix, data, rng)
        except Finding as f:
            _save_finding(findings, target, seed, i, suffix, data, str(f))
            print(f"finding {i}", flush=True)
    print("outcomes " + json.dumps(OUTCOMES), flush=True)
    print("done", flush=True)


def _pump(stream: Any, lines: Any) -> None:
    for x in stream:
        lines.put(x)
    lines.put(None)


def supervise(target: str, seed: int, iterations: int | None, seconds: float | None,
              findings: Path, timeout: float, quiet: bool = False) -> dict[str, Any]:
    """Run the worker until the budget is spent, restarting it after a crash or hang."""
    import queue
    import threading

    t0 = time.monotonic()
    stop = iterations if iterations is not None else 1 << 62
    i = 0
    found: list[int] = []
    crashes = 0
    done_cases = 0
    outcomes: dict[str, int] = {}
    chunk = 200 if iterations is None else min(200, max(stop, 1))
    while i < stop and (seconds is None or time.monotonic() - t0 < seconds):
        end = min(stop, i + chunk)
        cmd = [sys.executable, str(Path(__file__).resolve()), "--worker", "--target", target,
               "--seed", str(seed), "--start", str(i), "--stop", str(end),
               "--findings", str(findings)]
        proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                text=True, cwd=str(ROOT))
        lines: queue.Queue = queue.Queue()
        errbuf: list[str] = []
        threading.Thread(target=_pump, args=(proc.stdout, lines), daemon=True).start()
        threading.Thread(target=errbuf.extend, args=(proc.stderr,), daemon=True).start()
        current = i - 1
        finished = False
        while True:
            try:
                line = lines.get(timeout=timeout if current >= i else timeout + 60)
            except queue.Empty:  # hang
                proc.kill()
                proc.wait()
                crashes += 1
                _record_crash(findings, target, seed, current, f"hang: no progress in "
                              f"{timeout} s")
                found.append(current)
                break
            if line is None:
                rc = proc.wait()
                if rc != 0 and not finished and current < i:
                    raise RuntimeError(f"fuzz worker failed before its first case (exit code "
                                       f"{rc}):\n" + "".join(errbuf)[-4000:])
                if rc != 0 and not finished:
                    crashes += 1
                    _record_crash(findings, target, seed, current,
                                  f"worker died with exit code {rc}\n" + "".join(errbuf)[-4000:])
                    found.append(current)
                break
            line = line.strip()
            if line.startswith("case "):
                current = int(line.split()[1])
                done_cases += 1
                if not quiet and done_cases % 250 == 0:
                    print(f"[{target}] {done_cases} cases, {len(found)} findings, "
                          f"{time.monotonic() - t0:.0f} s", flush=True)
            elif line.startswith("finding "):
                found.append(int(line.split()[1]))
                if not quiet:
                    print(f"[{target}] finding at case {line.split()[1]}", flush=True)
            elif line.startswith("outcomes "):
                for k, v in json.loads(line[9:]).items():
                    outcomes[k] = outcomes.get(k, 0) + v
            elif line == "done":
                finished = True
            if seconds is not None and time.monotonic() - t0 >= seconds:
                proc.kill()
                proc.wait()
                break
        i = max(current + 1, i + 1) if not finished else end
    return {"target": target, "seed": seed, "cases": done_cases, "findings": sorted(set(found)),
            "crashes": crashes, "outcomes": outcomes, "seconds": round(time.monotonic() - t0, 1)}


def _record_crash(findings: Path, target: str, seed: int, i: int, why: str) -> None:
    cur = findings / f".current-{target}"
    if not cur.exists():
        return
    raw = cur.read_bytes()
    suffix, data = raw.split(b"\n", 1)
    _save_finding(findings, target, seed, i, suffix.decode(), data, why)


def replay(path: Path) -> int:
    """Re-run one saved reproducer in this process (a crash crashes it)."""
    data = path.read_bytes()
    suffix = path.suffix
    target = {".onnx": "onnx", ".qdq": "qdq", ".dyn": "dynamic"}.get(suffix, "i8")
    try:
        execute(target, suffix, data, np.random.default_rng(0))
    except Finding as f:
        print(f)
        return 1
    print("acceptable outcome")
    return 0


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--target", choices=TARGETS + ("all",), default="all")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--iterations", type=int, default=None)
    ap.add_argument("--seconds", type=float, default=None)
    ap.add_argument("--timeout", type=float, default=20.0, help="seconds per case (hang)")
    ap.add_argument("--findings", type=Path, default=ROOT / "fuzz-findings")
    ap.add_argument("--json", action="store_true", help="print the summary as JSON")
    ap.add_argument("--quiet", action="store_true")
    ap.add_argument("--replay", type=Path)
    ap.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    ap.add_argument("--start", type=int, default=0, help=argparse.SUPPRESS)
    ap.add_argument("--stop", type=int, default=0, help=argparse.SUPPRESS)
    a = ap.parse_args(argv)
    if a.replay:
        return replay(a.replay)
    if a.worker:
        worker(a.target, a.seed, a.start, a.stop, a.findings)
        return 0
    if a.iterations is None and a.seconds is None:
        a.iterations = 1000
    targets = TARGETS if a.target == "all" else (a.target,)
    results = [supervise(t, a.seed, a.iterations, a.seconds, a.findings, a.timeout, a.quiet)
               for t in targets]
    for r in results:
        if a.json:
            print(json.dumps(r))
        else:
            print(f"{r['target']}: {r['cases']} cases in {r['seconds']} s, "
                  f"{len(r['findings'])} findings ({r['crashes']} crashes/hangs)"
                  + (f" at cases {r['findings'][:20]}" if r["findings"] else "")
                  + f"; outcomes {r['outcomes']}")
    return 1 if any(r["findings"] for r in results) else 0


if __name__ == "__main__":
    sys.exit(main())
