"""Graph-level checks: what must hold of an `ir.Graph` before anything executes it.

`format.load` runs these on every graph it reads (a model file is untrusted input) and the
Session runs them on graphs that never touched a file. Every violation raises
`GraphValidationError` (a ValueError) naming the tensor or node at fault. The checks are
structural, not semantic: names, types, shapes, dtypes, quantization parameters (the ranges
docs/QUANTIZATION.md §1 allows), op names and arities from `opset.py`, attribute types, and that
the nodes form a DAG over defined tensors. Shape inference and kernel constraints belong to
lowering.
"""

from __future__ import annotations

from collections import deque
from typing import Any

import numpy as np

from . import ir, opset

MAX_NAME_CHARS = 4096
MAX_RANK = 64
# A tensor's byte size must fit in a signed 64-bit integer (numpy's and C's ssize_t).
MAX_TENSOR_BYTES = 2**63 - 1
# Attribute and meta values may nest lists/tuples (and, in meta, dicts) this deep.
MAX_VALUE_DEPTH = 8
INT64_MIN, INT64_MAX = -(2**63), 2**63 - 1

ITEMSIZE = {"float32": 4, "int8": 1, "uint8": 1, "int32": 4, "int64": 8, "bool": 1}
assert set(ITEMSIZE) == set(ir.DTYPES)

# Zero-point ranges by storage dtype (QUANTIZATION.md §1): int32 is bias, whose zero point is 0
# because it adds straight into the accumulator.
ZERO_POINT_RANGE = {"int8": (-128, 127), "uint8": (0, 255), "int32": (0, 0)}

_UNARY = {op: (1, 1, 1, 1) for op in opset.UNARY_OPS}
# op -> (min inputs, max inputs or None, min outputs, max outputs or None). Inputs at index
# >= min inputs are optional and may be "" (omitted). Ops missing here are not arity-checked.
ARITY: dict[str, tuple[int, int | None, int, int | None]] = {
    "Conv": (2, 3, 1, 1),
    "Gemm": (2, 3, 1, 1),
    **{op: (2, 2, 1, 1) for op in opset.BINARY_OPS},
    **_UNARY,
    # pooling and data movement: the arity their declaration states (int8rt/ops/)
    **{op: s.arity for op, s in opset.OPS.items() if s.arity is not None},
    "Softmax": (1, 1, 1, 1),
    "Quantize": (1, 1, 1, 1),
    "Dequantize": (1, 1, 1, 1),
}

# Attribute names whose empty-tuple default stands for a list of ints.
_INT_LIST_ATTRS = {"shape", "perm", "sizes", "starts", "steps", "pads"}


class GraphValidationError(ValueError):
    """The graph breaks a structural rule; the message names the tensor or node."""


def _fail(msg: str) -> None:
    raise GraphValidationError(msg)


def node_ref(i: int, node: Any) -> str:
    name = getattr(node, "name", "?")
    op = getattr(node, "op", "?")
    return f"node #{i} {name!r} ({op})"


def is_int(v: Any) -> bool:
    return isinstance(v, (int, np.integer)) and not isinstance(v, (bool, np.bool_))


def is_number(v: Any) -> bool:
    return is_int(v) or isinstance(v, (float, np.floating))


def _check_name(name: Any, what: str, allow_empty: bool = False) -> None:
    if not isinstance(name, str):
        _fail(f"{what} must be a str, got {type(name).__name__}")
    if not name and not allow_empty:
        _fail(f"{what} is empty")
    if len(name) > MAX_NAME_CHARS:
        _fail(f"{what} is {len(name)} characters long (limit {MAX_NAME_CHARS})")


def check_value(v: Any, where: str, allow_meta: bool = False, depth: int = 0) -> None:
    """A value the .i8 file can hold: bool, int (int64), float (any, incl. inf/nan), str, and
    lists/tuples of values; in graph meta also None and dicts with str keys."""
    if depth > MAX_VALUE_DEPTH:
        _fail(f"{where}: value nests deeper than {MAX_VALUE_DEPTH} levels")
    if isinstance(v, (bool, np.bool_, str, float, np.floating)):
        return
    if is_int(v):
        if not INT64_MIN <= int(v) <= INT64_MAX:
            _fail(f"{where}: integer {int(v)} does not fit in int64")
        return
    if isinstance(v, (list, tuple)):
        for k, x in enumerate(v):
            check_value(x, f"{where}[{k}]", allow_meta, depth + 1)
        return
    if allow_meta and v is None:
        return
    if allow_meta and isinstance(v, dict):
        for k, x in v.items():
            if not isinstance(k, str):
                _fail(f"{where}: dict key {k!r} is not a str")
            check_value(x, f"{where}[{k!r}]", allow_meta, depth + 1)
        return
    _fail(f"{where}: unsupported value type {type(v).__name__}")


def check_shape(shape: Any, where: str, dtype: str | None = None) -> tuple[int, ...]:
    """Non-negative ints whose element count (times the itemsize) fits in int64."""
    if not isinstance(shape, (tuple, list)):
        _fail(f"{where}: shape must be a tuple of ints, got {type(shape).__name__}")
    if len(shape) > MAX_RANK:
        _fail(f"{where}: rank {len(shape)} exceeds {MAX_RANK}")
    size = ITEMSIZE.get(dtype, 1) if dtype is not None else 1
    for d in shape:
        if not is_int(d):
            _fail(f"{where}: shape {tuple(shape)!r} holds a non-integer dimension")
        if d < 0:
            _fail(f"{where}: shape {tuple(shape)!r} has a negative dimension")
        size *= int(d)
        if size > MAX_TENSOR_BYTES:
            _fail(f"{where}: shape {tuple(shape)!r} is too large (byte size overflows int64)")
    return tuple(int(d) for d in shape)


def _check_qparams(t: ir.Tensor, shape: tuple[int, ...], where: str) -> None:
    q = t.qparams
    if not isinstance(q, ir.QParams):
        _fail(f"{where}: qparams must be ir.QParams, got {type(q).__name__}")
    if t.dtype not in ZERO_POINT_RANGE:
        _fail(f"{where}: a {t.dtype} tensor cannot carry quantization parameters")
    # numpy scalars (np.float32(s)) are accepted as 0-d arrays; Python floats are not, since
    # they are float64 and the contract stores float32 (QUANTIZATION.md §2).
    scale, zp = q.scale, q.zero_point
    if (not isinstance(scale, (np.ndarray, np.generic))
            or scale.dtype.newbyteorder("=") != np.float32):
        _fail(f"{where}: qparams scale must be a float32 ndarray")
    if not isinstance(zp, (np.ndarray, np.generic)) or zp.dtype.kind not in "iu":
        _fail(f"{where}: qparams zero_point must be an integer ndarray")
    scale, zp = np.asarray(scale), np.asarray(zp)
    if q.axis is None:
        if scale.shape != () or zp.shape != ():
            _fail(f"{where}: per-tensor qparams need 0-d scale and zero_point, got shapes "
                  f"{scale.shape} and {zp.shape}")
    else:
        if not is_int(q.axis) or not 0 <= q.axis < len(shape):
            _fail(f"{where}: qparams axis {q.axis!r} is not an axis of shape {shape}")
        n = shape[q.axis]
        if scale.shape != (n,) or zp.shape != (n,):
            _fail(f"{where}: per-channel qparams along axis {q.axis} need {n} entries "
                  f"(shape[{q.axis}]), got scale {scale.shape} and zero_point {zp.shape}")
    if not np.all(np.isfinite(scale)) or not np.all(scale > 0):
        bad = scale[~(np.isfinite(scale) & (scale > 0))].reshape(-1)[0]
        _fail(f"{where}: qparams scale {float(bad)!r} is not a finite positive float32")
    lo, hi = ZERO_POINT_RANGE[t.dtype]
    if zp.size and (int(zp.min()) < lo or int(zp.max()) > hi):
        bad = zp[(zp < lo) | (zp > hi)].reshape(-1)[0]
        _fail(f"{where}: zero point {int(bad)} is outside [{lo}, {hi}] for a {t.dtype} tensor")


def _check_tensor(key: Any, t: Any) -> None:
    _check_name(key, "tensor name")
    where = f"tensor {key!r}"
    if not isinstance(t, ir.Tensor):
        _fail(f"{where}: entry is a {type(t).__name__}, not ir.Tensor")
    if t.name != key:
        _fail(f"{where}: is stored under the name {t.name!r}")
    if t.dtype not in ir.DTYPES:
        _fail(f"{where}: unknown dtype {t.dtype!r} (expected one of {', '.join(ir.DTYPES)})")
    shape = check_shape(t.shape, where, t.dtype)
    if t.data is not None:
        d = t.data
        if not isinstance(d, np.ndarray):
            _fail(f"{where}: data must be a numpy array, got {type(d).__name__}")
        if d.dtype.hasobject or d.dtype.newbyteorder("=") != np.dtype(t.dtype):
            _fail(f"{where}: data dtype {d.dtype} does not match declared dtype {t.dtype}")
        if d.shape != shape:
            _fail(f"{where}: data shape {d.shape} does not match declared shape {shape}")
    if t.qparams is not None:
        _check_qparams(t, shape, where)


def _attr_rule(name: str, default: Any) -> tuple[str, int | None]:
    """(kind, required length) of a schema attribute, from its default value."""
    if isinstance(default, bool):
        return "bool", None
    if isinstance(default, int):
        return "int", None
    if isinstance(default, float):
        return "number", None
    if isinstance(default, str):
        return "str", None
    if isinstance(default, tuple):
        if not default:
            return ("ints" if name in _INT_LIST_ATTRS else "any"), None
        if all(is_int(x) for x in default):
            return "ints", len(default)
        return "numbers", len(default)
    return "any", None


def _has_kind(v: Any, kind: str) -> bool:
    if kind == "bool":
        return isinstance(v, (bool, np.bool_))
    if kind == "int":
        return is_int(v)
    if kind == "number":
        return is_number(v)
    if kind == "str":
        return isinstance(v, str)
    if kind == "ints":
        return isinstance(v, (tuple, list)) and all(is_int(x) for x in v)
    if kind == "numbers":
        return isinstance(v, (tuple, list)) and all(is_number(x) for x in v)
    return True


def _check_attrs(ref: str, node: ir.Node) -> None:
    attrs = node.attrs
    if not isinstance(attrs, dict):
        _fail(f"{ref}: attrs must be a dict, got {type(attrs).__name__}")
    defaults = opset.OPS[node.op].attrs
    for key, v in attrs.items():
        if not isinstance(key, str) or not key:
            _fail(f"{ref}: attribute name {key!r} is not a non-empty str")
        where = f"{ref} attribute {key!r}"
        check_value(v, where)
        if key not in defaults:
            continue  # extra attributes are carried, not interpreted
        kind, length = _attr_rule(key, defaults[key])
        if not _has_kind(v, kind):
            want = {"number": "a number", "ints": "a sequence of ints",
                    "numbers": "a sequence of numbers"}.get(kind, f"a {kind}")
            _fail(f"{where} must be {want}, got {v!r}")
        if length is not None and len(v) != length:
            _fail(f"{where} must have {length} entries, got {len(v)}")
    check = opset.OPS[node.op].check
    why = check(attrs, len(node.inputs), len(node.outputs)) if check is not None else ""
    if why:
        _fail(f"{ref}: {why}")


def _check_onnx_layout_node(i: int, n: Any) -> None:
    """A node of a dynamic-path graph (meta layout "onnx", int8rt/dynamic/): ONNX op types
    with ONNX attributes, which the canonical schemas below do not describe."""
    if not isinstance(n, ir.Node):
        _fail(f"node #{i} is a {type(n).__name__}, not ir.Node")
    if not isinstance(n.op, str) or n.op not in opset.ONNX_LAYOUT_OPS:
        _fail(f"node #{i} {n.name!r}: unknown op {n.op!r} for an onnx-layout graph")
    _check_name(n.name, f"node #{i} name", allow_empty=True)
    ref = node_ref(i, n)
    for field in ("inputs", "outputs"):
        names = getattr(n, field)
        if not isinstance(names, (list, tuple)):
            _fail(f"{ref}: {field} must be a list of names")
        for name in names:
            _check_name(name, f"{ref} {field[:-1]} name", allow_empty=field == "inputs")
    if not isinstance(n.attrs, dict):
        _fail(f"{ref}: attrs must be a dict")
    for key, v in n.attrs.items():
        check_value(v, f"{ref} attribute {key!r}")


def _check_node(i: int, n: Any) -> None:
    if not isinstance(n, ir.Node):
        _fail(f"node #{i} is a {type(n).__name__}, not ir.Node")
    if not isinstance(n.op, str) or n.op not in opset.OPS:
        _fail(f"node #{i} {n.name!r}: unknown op {n.op!r}")
    _check_name(n.name, f"node #{i} name", allow_empty=True)
    ref = node_ref(i, n)
    for field in ("inputs", "outputs"):
        names = getattr(n, field)
        if not isinstance(names, (list, tuple)):
            _fail(f"{ref}: {field} must be a list of names")
        for name in names:
            _check_name(name, f"{ref} {field[:-1]} name", allow_empty=field == "inputs")
    if n.op in ARITY:
        in_min, in_max, out_min, out_max = ARITY[n.op]
        ni, no = len(n.inputs), len(n.outputs)
        if ni < in_min or (in_max is not None and ni > in_max):
            want = f"{in_min}" if in_min == in_max else f"{in_min}..{in_max or ''}"
            _fail(f"{ref}: takes {want} inputs, got {ni}")
        if no < out_min or (out_max is not None and no > out_max):
            want = f"{out_min}" if out_min == out_max else f"{out_min}..{out_max or ''}"
            _fail(f"{ref}: produces {want} outputs, got {no}")
        for k in range(min(in_min, ni)):
            if not n.inputs[k]:
                _fail(f"{ref}: required input #{k} is omitted")
    _check_attrs(ref, n)


def _check_acyclic(nodes: list[ir.Node]) -> None:
    # Kahn's algorithm, linear in nodes + edges (ir.Graph.topological is quadratic in the worst
    # case, which a hostile file could exploit).
    producer = {o: i for i, n in enumerate(nodes) for o in n.outputs}
    users: list[list[int]] = [[] for _ in nodes]
    indegree = [0] * len(nodes)
    for i, n in enumerate(nodes):
        for p in {producer[x] for x in n.inputs if x in producer}:
            users[p].append(i)
            indegree[i] += 1
    ready = deque(i for i, d in enumerate(indegree) if d == 0)
    done = 0
    while ready:
        i = ready.popleft()
        done += 1
        for u in users[i]:
            indegree[u] -= 1
            if indegree[u] == 0:
                ready.append(u)
    if done != len(nodes):
        i = next(k for k, d in enumerate(indegree) if d > 0)
        _fail(f"graph has a cycle through {node_ref(i, nodes[i])}")


def validate_graph(graph: ir.Graph) -> None:
    """Raise GraphValidationError unless `graph` is structurally sound (see module doc)."""
    if not isinstance(graph, ir.Graph):
        _fail(f"expected an ir.Graph, got {type(graph).__name__}")
    _check_name(graph.name, "graph name", allow_empty=True)
    if not isinstance(graph.meta, dict):
        _fail("graph meta must be a dict")
    check_value(graph.meta, "graph meta", allow_meta=True)
    if not isinstance(graph.tensors, dict):
        _fail("graph tensors must be a dict name -> ir.Tensor")
    for key, t in graph.tensors.items():
        _check_tensor(key, t)
    if not isinstance(graph.nodes, list):
        _fail("graph nodes must be a list")
    onnx_layout = graph.meta.get("layout") == "onnx"
    for i, n in enumerate(graph.nodes):
        (_check_onnx_layout_node if onnx_layout else _check_node)(i, n)

    tensors = graph.tensors
    # Every name has exactly one definition: a graph input, a constant or one node output.
    defined: dict[str, str] = {}
    for field in ("inputs", "outputs"):
        names = getattr(graph, field)
        if not isinstance(names, (list, tuple)):
            _fail(f"graph {field} must be a list of names")
        for name in names:
            _check_name(name, f"graph {field[:-1]} name")
        seen: set[str] = set()
        for name in names:
            if name in seen:
                _fail(f"graph {field[:-1]} {name!r} is listed twice")
            seen.add(name)
    for name in graph.inputs:
        t = tensors.get(name)
        if t is None:
            _fail(f"graph input {name!r} has no tensor entry")
        if t.is_const:
            _fail(f"graph input {name!r} is also a constant")
        defined[name] = "a graph input"
    for t in tensors.values():
        if t.is_const:
            defined[t.name] = "a constant"
    for i, n in enumerate(graph.nodes):
        for o in n.outputs:
            if o in defined:
                _fail(f"{node_ref(i, n)}: output {o!r} is already defined as {defined[o]}")
            if o not in tensors:
                _fail(f"{node_ref(i, n)}: output {o!r} has no tensor entry")
            defined[o] = f"the output of {node_ref(i, n)}"
    for i, n in enumerate(graph.nodes):
        for x in n.inputs:
            if x and x not in defined:
                _fail(f"{node_ref(i, n)}: input {x!r} is not defined (not a graph input, "
                      f"constant or node output)")
    for name in graph.outputs:
        if name not in defined:
            _fail(f"graph output {name!r} is not defined (not a graph input, constant or "
                  f"node output)")
    _check_acyclic(graph.nodes)
