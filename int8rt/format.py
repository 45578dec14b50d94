"""The `.i8` model file: one int8rt IR graph (float or quantized), as data and never as code.

Layout (docs/FORMAT.md is the specification; this module is its one implementation):

    [header, 64 bytes, little-endian] [metadata: UTF-8 JSON] [zero padding to 64]
    [blob section: tensor bytes, each blob at a 64-byte aligned offset, little-endian]

The reader treats the file as hostile: it checks the header's sizes against the bytes really
there before allocating anything, both CRC32s, every JSON field's type, every blob reference
(in bounds, aligned, exactly the tensor's byte size, no two blobs overlapping, so the decoded
arrays never take more memory than the file) and finally the whole graph
(`validate.validate_graph`). Any violation raises `I8FormatError`.
"""

from __future__ import annotations

import io
import json
import math
import os
import struct
import sys
import zlib
from typing import IO, Any, Union

import numpy as np

from . import ir
from .validate import (
    ITEMSIZE,
    MAX_RANK,
    MAX_TENSOR_BYTES,
    MAX_VALUE_DEPTH,
    GraphValidationError,
    is_int,
    validate_graph,
)

MAGIC = b"\x89I8RT\r\n\x1a"  # non-ASCII first byte and CR LF ^Z: catches text-mode mangling
VERSION = (1, 0)
HEADER = struct.Struct("<8sHHIIIQQQQII")
HEADER_SIZE = HEADER.size  # 64
ALIGN = 64
MAX_HEADER_SIZE = 4096
MAX_META_BYTES = 64 << 20
MAX_INT_DIGITS = 20
# Flag bits 0-15 name features a reader must understand to load the file (none exist in 1.0,
# so any set bit is refused); bits 16-31 are informational and ignored by readers.
REQUIRED_FLAGS_MASK = 0x0000FFFF
FLAG_QUANTIZED = 1 << 16  # informational: some tensor carries quantization parameters

_CHUNK = 16 << 20
_LE = {name: np.dtype(name).newbyteorder("<") for name in ITEMSIZE}

Source = Union[str, "os.PathLike[str]", bytes, bytearray, memoryview, IO[bytes]]


class I8FormatError(ValueError):
    """The bytes are not a valid .i8 model (or the graph cannot be written as one)."""


def _align(n: int) -> int:
    return (n + ALIGN - 1) // ALIGN * ALIGN


# ---------------------------------------------------------------------------------------------
# typed values (attributes and graph meta)
#
# JSON cannot tell a tuple from a list, has no inf/nan and silently keeps the last of two equal
# keys, so every value is an object with exactly one tag naming its type.


def _enc_value(v: Any) -> Any:
    if isinstance(v, (bool, np.bool_)):
        return {"bool": bool(v)}
    if is_int(v):
        return {"int": int(v)}
    if isinstance(v, (float, np.floating)):
        f = float(v)
        if math.isnan(f):
            return {"float": "nan"}
        if math.isinf(f):
            return {"float": "inf" if f > 0 else "-inf"}
        return {"float": f}
    if isinstance(v, str):
        return {"str": v}
    if isinstance(v, tuple):
        return {"tuple": [_enc_value(x) for x in v]}
    if isinstance(v, list):
        return {"list": [_enc_value(x) for x in v]}
    if isinstance(v, dict):
        return {"dict": {k: _enc_value(x) for k, x in v.items()}}
    if v is None:
        return {"none": None}
    raise I8FormatError(f"cannot store a value of type {type(v).__name__}")  # validated before


_NONFINITE = {"inf": math.inf, "-inf": -math.inf, "nan": math.nan}


def _dec_value(obj: Any, where: str, allow_meta: bool, depth: int = 0) -> Any:
    if depth > MAX_VALUE_DEPTH:
        raise I8FormatError(f"{where}: value nests deeper than {MAX_VALUE_DEPTH} levels")
    if not isinstance(obj, dict) or len(obj) != 1:
        raise I8FormatError(f"{where}: a value must be an object with exactly one type tag")
    ((tag, v),) = obj.items()
    if tag == "bool" and isinstance(v, bool):
        return v
    if tag == "int" and is_int(v):
        return v
    if tag == "float":
        if isinstance(v, float):
            return v
        if isinstance(v, str) and v in _NONFINITE:
            return _NONFINITE[v]
    if tag == "str" and isinstance(v, str):
        return v
    if tag in ("tuple", "list") and isinstance(v, list):
        items = [_dec_value(x, f"{where}[{k}]", allow_meta, depth + 1) for k, x in enumerate(v)]
        return tuple(items) if tag == "tuple" else items
    if allow_meta and tag == "dict" and isinstance(v, dict):
        return {k: _dec_value(x, f"{where}[{k!r}]", allow_meta, depth + 1) for k, x in v.items()}
    if allow_meta and tag == "none" and v is None:
        return None
    raise I8FormatError(f"{where}: invalid typed value {{{tag!r}: {type(v).__name__}}}")


# ---------------------------------------------------------------------------------------------
# writing


def _le_bytes(a: np.ndarray, dtype: str) -> np.ndarray:
    """The array's elements as little-endian bytes (a flat uint8 view, copied only if needed)."""
    a = np.ascontiguousarray(a, dtype=_LE[dtype])
    return a.reshape(-1).view(np.uint8)


class _BlobWriter:
    def __init__(self) -> None:
        self.blobs: list[tuple[int, np.ndarray]] = []
        self.end = 0

    def add(self, raw: np.ndarray) -> dict[str, int]:
        offset = _align(self.end)
        self.blobs.append((offset, raw))
        self.end = offset + raw.size
        return {"offset": offset, "nbytes": int(raw.size)}


# Per-channel parameters with at most this many entries are written inline in the JSON (where
# they are readable); longer ones go to a blob.
_INLINE_QPARAMS = 16


def _enc_qparams(q: ir.QParams, blobs: _BlobWriter) -> dict[str, Any]:
    scale = np.asarray(q.scale, np.float32)
    zp = np.asarray(q.zero_point, np.int64)
    if q.axis is None:
        return {"axis": None, "scale": float(scale), "zero_point": int(zp)}
    if scale.size <= _INLINE_QPARAMS:
        s_enc: Any = [float(x) for x in scale]
        z_enc: Any = [int(x) for x in zp]
    else:
        s_enc = blobs.add(_le_bytes(scale, "float32"))
        z_enc = blobs.add(_le_bytes(zp, "int32"))
    return {"axis": int(q.axis), "scale": s_enc, "zero_point": z_enc}


def _encode(graph: ir.Graph) -> tuple[bytes, _BlobWriter, int]:
    blobs = _BlobWriter()
    tensors = []
    flags = 0
    for t in graph.tensors.values():
        entry: dict[str, Any] = {"name": t.name, "dtype": t.dtype,
                                 "shape": [int(d) for d in t.shape]}
        if t.data is not None:
            entry["data"] = blobs.add(_le_bytes(t.data, t.dtype))
        if t.qparams is not None:
            entry["qparams"] = _enc_qparams(t.qparams, blobs)
            flags |= FLAG_QUANTIZED
        tensors.append(entry)
    nodes = [
        {"op": n.op, "name": n.name, "inputs": list(n.inputs), "outputs": list(n.outputs),
         "attrs": {k: _enc_value(v) for k, v in n.attrs.items()}}
        for n in graph.nodes
    ]
    doc = {
        "name": graph.name,
        "inputs": list(graph.inputs),
        "outputs": list(graph.outputs),
        "meta": {k: _enc_value(v) for k, v in graph.meta.items()},
        "tensors": tensors,
        "nodes": nodes,
    }
    # ASCII-only JSON (non-ASCII escaped) is valid UTF-8 and survives lone surrogates in names;
    # no whitespace and insertion order keep the bytes deterministic.
    meta = json.dumps(doc, ensure_ascii=True, allow_nan=False, separators=(",", ":"))
    return meta.encode("ascii"), blobs, flags


def save(graph: ir.Graph, path_or_file: str | os.PathLike[str] | IO[bytes]) -> None:
    """Write `graph` as an .i8 file. The graph is validated first; an invalid graph raises
    I8FormatError and nothing is written."""
    try:
        validate_graph(graph)
    except GraphValidationError as e:
        raise I8FormatError(f"cannot save an invalid graph: {e}") from e
    meta, blobs, flags = _encode(graph)
    if len(meta) > MAX_META_BYTES:
        raise I8FormatError(f"graph metadata is {len(meta)} bytes (limit {MAX_META_BYTES})")
    blob_offset = _align(HEADER_SIZE + len(meta))
    blob_crc = 0
    pos = 0
    for offset, raw in blobs.blobs:
        blob_crc = zlib.crc32(bytes(offset - pos), blob_crc)
        blob_crc = zlib.crc32(raw, blob_crc)
        pos = offset + raw.size
    head = HEADER.pack(MAGIC, VERSION[0], VERSION[1], flags, HEADER_SIZE, zlib.crc32(meta),
                       len(meta), blob_offset, blobs.end, blob_offset + blobs.end, blob_crc, 0)
    head = head[:-4] + struct.pack("<I", zlib.crc32(head[:-4]))

    def write(f: IO[bytes]) -> None:
        f.write(head)
        f.write(meta)
        f.write(bytes(blob_offset - HEADER_SIZE - len(meta)))
        pos = 0
        for offset, raw in blobs.blobs:
            f.write(bytes(offset - pos))
            f.write(memoryview(raw))
            pos = offset + raw.size

    if isinstance(path_or_file, (str, os.PathLike)):
        with open(path_or_file, "wb") as f:
            write(f)
    else:
        write(path_or_file)


# ---------------------------------------------------------------------------------------------
# reading


def _read_exact(f: IO[bytes], n: int, what: str) -> bytes:
    # Chunked so that a size nobody checked (a stream of unknown length) costs at most the bytes
    # that really arrive.
    parts = []
    left = n
    while left:
        chunk = f.read(min(left, _CHUNK))
        if not chunk:
            raise I8FormatError(f"file is truncated: {what} needs {n} bytes, got {n - left}")
        parts.append(chunk)
        left -= len(chunk)
    return b"".join(parts)


def _parse_int(s: str) -> int:
    if len(s) > MAX_INT_DIGITS:
        raise I8FormatError(f"metadata holds an integer of {len(s)} digits")
    return int(s)


def _parse_float(s: str) -> float:
    f = float(s)
    if not math.isfinite(f):
        raise I8FormatError(f"metadata number {s[:40]!r} overflows a float")
    return f


def _parse_constant(s: str) -> Any:
    raise I8FormatError(f"metadata holds the non-JSON constant {s} (non-finite floats are tagged)")


def _pairs(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    d: dict[str, Any] = {}
    for k, v in pairs:
        if k in d:
            raise I8FormatError(f"metadata object repeats the key {k!r}")
        d[k] = v
    return d


def _parse_json(raw: bytes) -> Any:
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as e:
        raise I8FormatError(f"metadata is not valid UTF-8 ({e.reason} at byte {e.start})") from None
    try:
        return json.loads(text, object_pairs_hook=_pairs, parse_int=_parse_int,
                          parse_float=_parse_float, parse_constant=_parse_constant)
    except RecursionError:
        raise I8FormatError("metadata JSON nests too deeply") from None
    except json.JSONDecodeError as e:
        raise I8FormatError(f"metadata is not valid JSON: {e}") from None


class _Doc:
    """Typed access to one JSON object of the metadata, with unknown-key policing."""

    def __init__(self, obj: Any, where: str, keys: set[str], strict: bool) -> None:
        if not isinstance(obj, dict):
            raise I8FormatError(f"{where}: expected a JSON object")
        if strict:
            extra = set(obj) - keys
            if extra:
                raise I8FormatError(f"{where}: unknown key(s) {sorted(extra)}")
        self.obj, self.where = obj, where

    def get(self, key: str, kind: str, optional: bool = False) -> Any:
        if key not in self.obj:
            if optional:
                return None
            raise I8FormatError(f"{self.where}: missing key {key!r}")
        v = self.obj[key]
        ok = {
            "str": isinstance(v, str),
            "list": isinstance(v, list),
            "dict": isinstance(v, dict),
            "strs": isinstance(v, list) and all(isinstance(x, str) for x in v),
            "size": is_int(v) and 0 <= v <= MAX_TENSOR_BYTES,
            "any": True,
        }[kind]
        if not ok:
            want = {"strs": "a list of strings", "size": "a non-negative int64"}.get(kind, kind)
            raise I8FormatError(f"{self.where}: {key!r} must be {want}")
        return v


class _Blobs:
    """The blob section, read into one 64-byte aligned buffer; hands out non-overlapping views."""

    def __init__(self, data: np.ndarray, strict: bool) -> None:
        self.data = data
        self.strict = strict
        self.spans: list[tuple[int, int, str]] = []

    def view(self, ref: Any, where: str) -> np.ndarray:
        d = _Doc(ref, f"{where} blob reference", {"offset", "nbytes"}, self.strict)
        offset, nbytes = d.get("offset", "size"), d.get("nbytes", "size")
        if offset % ALIGN:
            raise I8FormatError(f"{where}: blob offset {offset} is not {ALIGN}-byte aligned")
        if offset + nbytes > self.data.size:
            raise I8FormatError(f"{where}: blob [{offset}, {offset + nbytes}) lies outside the "
                                f"{self.data.size}-byte blob section")
        if nbytes:
            self.spans.append((offset, nbytes, where))
        return self.data[offset:offset + nbytes]

    def check_disjoint(self) -> None:
        # Overlapping blobs would let a small file decode into many large arrays.
        end, owner = 0, ""
        for offset, nbytes, where in sorted(self.spans):
            if offset < end:
                raise I8FormatError(f"{where}: blob overlaps the blob of {owner}")
            end, owner = offset + nbytes, where


def _typed_array(raw: np.ndarray, dtype: str, where: str) -> np.ndarray:
    """Reinterpret little-endian bytes (an aligned view) as native `dtype`, in place."""
    if dtype == "bool" and raw.size and int(raw.max()) > 1:
        raise I8FormatError(f"{where}: bool data holds a byte other than 0 or 1")
    a = raw.view(_LE[dtype])
    if sys.byteorder == "big" and a.dtype.itemsize > 1:
        a.byteswap(inplace=True)
    return a.view(np.dtype(dtype))


def _dec_shape(v: Any, where: str, dtype: str) -> tuple[int, ...]:
    if not isinstance(v, list) or len(v) > MAX_RANK:
        raise I8FormatError(f"{where}: shape must be a list of at most {MAX_RANK} ints")
    size = ITEMSIZE[dtype]
    for d in v:
        if not is_int(d) or d < 0:
            raise I8FormatError(f"{where}: shape {v} must hold non-negative ints")
        size *= d
        if size > MAX_TENSOR_BYTES:
            raise I8FormatError(f"{where}: shape {v} is too large (byte size overflows int64)")
    return tuple(v)


def _dec_qparams(obj: Any, where: str, blobs: _Blobs, strict: bool) -> ir.QParams:
    d = _Doc(obj, f"{where} qparams", {"axis", "scale", "zero_point"}, strict)
    if "axis" not in obj:
        raise I8FormatError(f"{where} qparams: missing key 'axis'")
    axis, s, z = obj["axis"], d.get("scale", "any"), d.get("zero_point", "any")
    if axis is None:
        if not isinstance(s, (int, float)) or isinstance(s, bool) or not is_int(z):
            raise I8FormatError(f"{where} qparams: per-tensor scale must be a number and "
                                f"zero_point an int")
        if not -(2**31) <= z < 2**31:
            raise I8FormatError(f"{where} qparams: zero point {z} does not fit in int32")
        with np.errstate(over="ignore"):
            return ir.QParams(np.asarray(s, np.float32), np.asarray(z, np.int32), None)
    if not is_int(axis) or axis < 0:
        raise I8FormatError(f"{where} qparams: axis must be null or a non-negative int")
    scale = _dec_channel_values(s, where, "scale", "float32", blobs)
    zp = _dec_channel_values(z, where, "zero_point", "int32", blobs)
    return ir.QParams(scale, zp, int(axis))


def _dec_channel_values(v: Any, where: str, key: str, dtype: str, blobs: _Blobs) -> np.ndarray:
    if isinstance(v, list):
        if dtype == "float32":
            ok = all(isinstance(x, (int, float)) and not isinstance(x, bool) for x in v)
        else:
            ok = all(is_int(x) and -(2**31) <= x < 2**31 for x in v)
        if not ok:
            raise I8FormatError(f"{where} qparams: {key} entries must be {dtype} numbers")
        with np.errstate(over="ignore"):
            return np.array(v, dtype=dtype).reshape(len(v))
    if isinstance(v, dict):
        raw = blobs.view(v, f"{where} qparams {key}")
        if raw.size % 4:
            raise I8FormatError(f"{where} qparams: {key} blob size {raw.size} is not a multiple "
                                f"of 4")
        return np.array(raw.view(_LE[dtype]), dtype=dtype)  # a native copy
    raise I8FormatError(f"{where} qparams: {key} must be a list or a blob reference")


_TOP_KEYS = {"name", "inputs", "outputs", "meta", "tensors", "nodes"}
_TENSOR_KEYS = {"name", "shape", "dtype", "data", "qparams"}
_NODE_KEYS = {"op", "name", "inputs", "outputs", "attrs"}


def _decode(meta: bytes, blob_data: np.ndarray, strict: bool) -> ir.Graph:
    doc = _Doc(_parse_json(meta), "metadata", _TOP_KEYS, strict)
    blobs = _Blobs(blob_data, strict)
    tensors: dict[str, ir.Tensor] = {}
    for i, obj in enumerate(doc.get("tensors", "list")):
        td = _Doc(obj, f"tensor #{i}", _TENSOR_KEYS, strict)
        name = td.get("name", "str")
        where = f"tensor {name!r}"
        if name in tensors:
            raise I8FormatError(f"{where} is defined twice")
        dtype = td.get("dtype", "str")
        if dtype not in ITEMSIZE:
            raise I8FormatError(f"{where}: unknown dtype {dtype!r}")
        shape = _dec_shape(td.get("shape", "list"), where, dtype)
        data = None
        if "data" in obj:
            raw = blobs.view(obj["data"], where)
            want = math.prod(shape) * ITEMSIZE[dtype]
            if raw.size != want:
                raise I8FormatError(f"{where}: blob holds {raw.size} bytes, shape {list(shape)} "
                                    f"of {dtype} needs {want}")
            data = _typed_array(raw, dtype, where).reshape(shape)
        qparams = None
        if "qparams" in obj:
            qparams = _dec_qparams(obj["qparams"], where, blobs, strict)
        tensors[name] = ir.Tensor(name, shape, dtype, data, qparams)
    blobs.check_disjoint()

    nodes = []
    for i, obj in enumerate(doc.get("nodes", "list")):
        nd = _Doc(obj, f"node #{i}", _NODE_KEYS, strict)
        op, name = nd.get("op", "str"), nd.get("name", "str")
        where = f"node #{i} {name!r} ({op})"
        attrs_obj = nd.get("attrs", "dict")
        attrs = {k: _dec_value(v, f"{where} attribute {k!r}", False) for k, v in attrs_obj.items()}
        nodes.append(ir.Node(op, name, list(nd.get("inputs", "strs")),
                             list(nd.get("outputs", "strs")), attrs))
    meta_obj = doc.get("meta", "dict")
    graph_meta = {k: _dec_value(v, f"graph meta {k!r}", True) for k, v in meta_obj.items()}
    return ir.Graph(nodes, tensors, list(doc.get("inputs", "strs")),
                    list(doc.get("outputs", "strs")), doc.get("name", "str"), graph_meta)


def looks_like_onnx(head: bytes) -> bool:
    """True when `head` (a file's first bytes) starts like a serialized onnx.ModelProto: field 1
    (ir_version, a small varint: tag 0x08) followed by one of the fields exporters write next
    (producer_name 0x12, producer_version 0x1a, domain 0x22, model_version 0x28, doc_string
    0x32, graph 0x3a, opset_import 0x42). Only used to word an error message."""
    return (len(head) >= 3 and head[0] == 0x08 and 1 <= head[1] <= 0x7f
            and head[2] in (0x12, 0x1a, 0x22, 0x28, 0x32, 0x3a, 0x42))


def _read_header(f: IO[bytes]) -> tuple[int, ...]:
    head = f.read(HEADER_SIZE)
    if len(head) < len(MAGIC) and MAGIC.startswith(head):
        raise I8FormatError(f"file is truncated: {len(head)} bytes, not even a header")
    if head[:len(MAGIC)] != MAGIC:
        if looks_like_onnx(head):
            raise I8FormatError("this is an ONNX model, not an .i8 file: quantize it first: "
                                "int8rt quantize MODEL.onnx --calib DATA -o MODEL.i8 (Python: "
                                "int8rt.quantize(model, calibration).save(...))")
        raise I8FormatError("not an int8rt .i8 model file (bad magic bytes)")
    if len(head) >= 12:
        major, minor = struct.unpack_from("<HH", head, 8)
        if major != VERSION[0]:
            newer = "newer" if major > VERSION[0] else "older"
            raise I8FormatError(
                f".i8 format version {major}.{minor} is {newer} than this int8rt reads "
                f"({VERSION[0]}.x); {'upgrade int8rt' if major > VERSION[0] else 're-export'}")
    if len(head) < HEADER_SIZE:
        raise I8FormatError(f"file is truncated: header needs {HEADER_SIZE} bytes, got "
                            f"{len(head)}")
    fields = HEADER.unpack(head)
    if zlib.crc32(head[:-4]) != fields[-1]:
        raise I8FormatError("header checksum mismatch (file corrupted)")
    return fields


def _load_stream(f: IO[bytes], available: int | None, exact: bool) -> ir.Graph:
    (_, _major, minor, flags, header_size, meta_crc, meta_len, blob_offset, blob_len, file_size,
     blob_crc, _) = _read_header(f)
    unknown = flags & REQUIRED_FLAGS_MASK
    if unknown:
        raise I8FormatError(f"file requires features this int8rt does not know (flags "
                            f"0x{unknown:04x})")
    if not HEADER_SIZE <= header_size <= MAX_HEADER_SIZE:
        raise I8FormatError(f"header size {header_size} outside [{HEADER_SIZE}, "
                            f"{MAX_HEADER_SIZE}]")
    if meta_len > MAX_META_BYTES:
        raise I8FormatError(f"metadata length {meta_len} exceeds the limit {MAX_META_BYTES}")
    if blob_offset != _align(header_size + meta_len):
        raise I8FormatError(f"blob section offset {blob_offset} is not the aligned end of the "
                            f"metadata ({_align(header_size + meta_len)})")
    if file_size != blob_offset + blob_len:
        raise I8FormatError(f"file size field {file_size} != blob offset {blob_offset} + blob "
                            f"length {blob_len}")
    if available is not None:
        if available < file_size:
            raise I8FormatError(f"file is truncated: header says {file_size} bytes, only "
                                f"{available} present")
        if exact and available > file_size:
            raise I8FormatError(f"{available - file_size} unexpected bytes after the end of the "
                                f"model ({file_size} bytes)")
    # Bytes of a longer header written by a later minor version: not interpreted.
    _read_exact(f, header_size - HEADER_SIZE, "header")
    meta = _read_exact(f, meta_len, "metadata")
    if zlib.crc32(meta) != meta_crc:
        raise I8FormatError("metadata checksum mismatch (file corrupted)")
    pad = _read_exact(f, blob_offset - header_size - meta_len, "padding")
    if pad.count(0) != len(pad):
        raise I8FormatError("non-zero padding between metadata and blob section")

    # One 64-byte aligned buffer for all tensors: decoded arrays are aligned views into it. Its
    # size was checked against the bytes present; a stream of unknown length is read first.
    streamed = None if available is not None else _read_exact(f, blob_len, "blob section")
    buf = np.empty(blob_len + ALIGN, np.uint8)
    start = (-buf.ctypes.data) % ALIGN
    blob_data = buf[start:start + blob_len]
    if streamed is None and hasattr(f, "readinto"):
        view = memoryview(blob_data)
        got = 0
        while got < blob_len:
            k = f.readinto(view[got:got + _CHUNK])
            if not k:
                raise I8FormatError(f"file is truncated: blob section needs {blob_len} bytes, "
                                    f"got {got}")
            got += k
    else:
        if streamed is None:
            streamed = _read_exact(f, blob_len, "blob section")
        blob_data[:] = np.frombuffer(streamed, np.uint8)
    if zlib.crc32(blob_data) != blob_crc:
        raise I8FormatError("blob section checksum mismatch (file corrupted)")

    graph = _decode(meta, blob_data, strict=minor <= VERSION[1])
    try:
        validate_graph(graph)
    except GraphValidationError as e:
        raise I8FormatError(f"invalid graph in model file: {e}") from e
    return graph


def load(source: Source) -> ir.Graph:
    """Read an .i8 model from a path, a bytes-like object or a binary file object. Raises
    I8FormatError for anything that is not a valid model (OSError for I/O failures)."""
    if isinstance(source, (str, os.PathLike)):
        with open(source, "rb") as f:
            return _load_stream(f, os.fstat(f.fileno()).st_size, exact=True)
    if isinstance(source, (bytes, bytearray, memoryview)):
        try:
            mv = memoryview(source).cast("B")
        except TypeError:
            raise I8FormatError("a model buffer must be C-contiguous bytes") from None
        stream = io.BytesIO(source if isinstance(source, bytes) else mv)
        return _load_stream(stream, mv.nbytes, exact=True)
    if not hasattr(source, "read"):
        raise TypeError(f"load() takes a path, bytes or a binary file, not "
                        f"{type(source).__name__}")
    available = None
    try:
        if source.seekable():
            pos = source.tell()
            available = source.seek(0, io.SEEK_END) - pos
            source.seek(pos)
    except (AttributeError, OSError):
        available = None
    return _load_stream(source, available, exact=False)
