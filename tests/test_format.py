"""The .i8 file: round trips, determinism, the byte layout of docs/FORMAT.md, and hostile files.

Hostile files that must get past the CRCs (to reach the JSON and graph checks) are rebuilt with
`pack`, an independent writer of the documented header.
"""

from __future__ import annotations

import io
import json
import math
import struct
import time
import tracemalloc
import zlib

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from int8rt import format as i8
from int8rt import ir, validate

from .i8_graphs import assert_graphs_equal, float_graph, quant_graph

HDR = struct.Struct("<8sHHIIIQQQQII")


def dump(graph: ir.Graph) -> bytes:
    f = io.BytesIO()
    i8.save(graph, f)
    return f.getvalue()


def split(data: bytes) -> tuple[dict, bytes, tuple]:
    """(metadata document, blob section, header fields) of a file."""
    h = HDR.unpack_from(data)
    meta = json.loads(data[h[4]:h[4] + h[6]])
    return meta, data[h[7]:h[7] + h[8]], h


def pack(meta: dict | bytes, blobs: bytes, *, major: int = 1, minor: int = 0, flags: int = 0,
         **override: int) -> bytes:
    """A file per docs/FORMAT.md with correct checksums; `override` replaces header fields
    (meta_len, blob_offset, blob_len, file_size) after the checksums' inputs are fixed."""
    raw = meta if isinstance(meta, bytes) else json.dumps(meta, separators=(",", ":")).encode()
    off = (64 + len(raw) + 63) // 64 * 64
    f = {"meta_len": len(raw), "blob_offset": off, "blob_len": len(blobs),
         "file_size": off + len(blobs), **override}
    head = HDR.pack(b"\x89I8RT\r\n\x1a", major, minor, flags, 64, zlib.crc32(raw), f["meta_len"],
                    f["blob_offset"], f["blob_len"], f["file_size"], zlib.crc32(blobs), 0)
    head = head[:-4] + struct.pack("<I", zlib.crc32(head[:-4]))
    return head + raw + bytes(off - 64 - len(raw)) + blobs


def rejects(data: bytes, *fragments: str) -> str:
    with pytest.raises(i8.I8FormatError) as exc:
        i8.load(data)
    msg = str(exc.value)
    for frag in fragments:
        assert frag in msg, msg
    return msg


# ------------------------------------------------------------------------------- round trips


@pytest.mark.parametrize("make", [float_graph, quant_graph, lambda: quant_graph(40)])
def test_round_trip_path_bytes_and_stream(make, tmp_path) -> None:
    g = make()
    path = tmp_path / "m.i8"
    i8.save(g, path)
    data = path.read_bytes()
    assert_graphs_equal(g, i8.load(path))
    assert_graphs_equal(g, i8.load(str(path)))
    assert_graphs_equal(g, i8.load(data))
    assert_graphs_equal(g, i8.load(bytearray(data)))
    assert_graphs_equal(g, i8.load(memoryview(data)))
    with open(path, "rb") as f:
        assert_graphs_equal(g, i8.load(f))

    class Pipe(io.RawIOBase):  # not seekable: the reader cannot learn the size up front
        def __init__(self) -> None:
            self.b = io.BytesIO(data)

        def readable(self) -> bool:
            return True

        def readinto(self, buf) -> int:  # type: ignore[override]
            chunk = self.b.read(min(len(buf), 7))
            buf[:len(chunk)] = chunk
            return len(chunk)

    assert_graphs_equal(g, i8.load(io.BufferedReader(Pipe())))


def test_per_channel_qparams_inline_and_blob() -> None:
    small, large = quant_graph(4), quant_graph(40)
    meta_s, _, _ = split(dump(small))
    meta_l, _, _ = split(dump(large))
    w_s = next(t for t in meta_s["tensors"] if t["name"] == "w")["qparams"]
    w_l = next(t for t in meta_l["tensors"] if t["name"] == "w")["qparams"]
    assert isinstance(w_s["scale"], list) and len(w_s["scale"]) == 4
    assert set(w_l["scale"]) == {"offset", "nbytes"} and w_l["scale"]["nbytes"] == 160
    g = i8.load(dump(large))
    assert np.array_equal(g.tensors["w"].qparams.scale, large.tensors["w"].qparams.scale)
    assert g.tensors["b"].dtype == "int32" and g.tensors["b"].qparams.axis == 0


def test_attrs_inf_nan_signed_zero_types_and_meta() -> None:
    g = float_graph()
    attrs = {
        "clip": (-math.inf, math.inf), "value": math.nan, "alpha": -0.0, "beta": 1e-300,
        "big": 2**63 - 1, "small": -(2**63), "flag": True, "s": "h\u00e9llo \ud800 \"q\"",
        "as_list": [1, 2.5, "x", False], "empty": (), "nested": ((1, 2), [3.0, (math.nan,)]),
        "np_types": (np.int64(3), np.float32(0.25), np.bool_(True)),
    }
    g.nodes[1].attrs = dict(attrs)  # Relu: every key is an extra attribute, carried verbatim
    g.nodes[2].attrs = {}
    g.meta = {"none": None, "d": {"k": [1, {"z": math.inf}]}, "f": -math.inf}
    h = i8.load(dump(g))
    got = h.nodes[1].attrs
    assert got["clip"] == (-math.inf, math.inf) and isinstance(got["clip"], tuple)
    assert math.isnan(got["value"]) and math.copysign(1.0, got["alpha"]) == -1.0
    assert got["big"] == 2**63 - 1 and got["small"] == -(2**63) and got["flag"] is True
    assert got["s"] == attrs["s"] and got["as_list"] == [1, 2.5, "x", False]
    assert got["empty"] == () and got["nested"][0] == (1, 2) and isinstance(got["nested"][1], list)
    assert got["np_types"] == (3, 0.25, True) and type(got["np_types"][0]) is int
    assert h.nodes[2].attrs == {}
    assert h.meta["none"] is None and h.meta["d"] == {"k": [1, {"z": math.inf}]}
    g.nodes[1].attrs["np_types"] = (3, 0.25, True)
    assert_graphs_equal(g, h)


def test_zero_d_empty_and_every_dtype() -> None:
    g = float_graph()
    consts = {
        "s0": np.asarray(np.float32(-0.0)),
        "i0": np.asarray(7, np.int64),
        "e": np.zeros((0, 3), np.float32),
        "u": np.arange(256, dtype=np.uint8).reshape(16, 16),
        "i8": np.array([-128, 127, 0], np.int8),
        "b": np.array([[True, False]], bool),
        "i32": np.array([-(2**31), 2**31 - 1], np.int32),
        "i64": np.array([-(2**63), 2**63 - 1], np.int64),
    }
    for k, v in consts.items():
        g.tensors[k] = ir.Tensor(k, v.shape, str(v.dtype), v)
    g.tensors["q0"] = ir.Tensor("q0", (), "int8", np.asarray(5, np.int8),
                                ir.QParams.per_tensor(0.5, 3))
    h = i8.load(dump(g))
    assert_graphs_equal(g, h)
    assert h.tensors["s0"].data.shape == () and h.tensors["e"].data.shape == (0, 3)


def test_loaded_arrays_are_aligned_writable_and_disjoint() -> None:
    g = i8.load(dump(quant_graph(40)))
    arrays = [t.data for t in g.constants()]
    for a in arrays:
        assert a.ctypes.data % 64 == 0 and a.flags.writeable and a.flags.c_contiguous
        assert a.dtype.isnative
    for a in arrays:
        for b in arrays:
            assert a is b or not np.shares_memory(a, b)


def test_big_endian_data_is_written_little_endian() -> None:
    g, h = quant_graph(), quant_graph()
    for t in h.tensors.values():
        if t.data is not None:
            t.data = t.data.astype(t.data.dtype.newbyteorder(">"))
    assert dump(g) == dump(h)
    _, blobs, _ = split(dump(g))
    b = g.tensors["b"].data
    off = next(t for t in split(dump(g))[0]["tensors"] if t["name"] == "b")["data"]["offset"]
    assert blobs[off:off + 4] == int(b[0]).to_bytes(4, "little", signed=True)


# ---------------------------------------------------------------------- layout, determinism


def test_deterministic_bytes(tmp_path) -> None:
    for make in (float_graph, quant_graph):
        a, b = dump(make()), dump(make())
        assert a == b
        assert dump(i8.load(a)) == a  # a load/save cycle reproduces the file
        i8.save(make(), tmp_path / "x.i8")
        assert (tmp_path / "x.i8").read_bytes() == a


def test_header_layout_matches_spec() -> None:
    data = dump(quant_graph(40))
    (magic, major, minor, flags, hsize, mcrc, mlen, boff, blen, fsize, bcrc, hcrc) = \
        HDR.unpack_from(data)
    assert magic == b"\x89I8RT\r\n\x1a" and (major, minor) == (1, 0) and hsize == 64
    assert flags == i8.FLAG_QUANTIZED and split(dump(float_graph()))[2][3] == 0
    assert zlib.crc32(data[:60]) == hcrc and zlib.crc32(data[64:64 + mlen]) == mcrc
    assert boff % 64 == 0 and boff == (64 + mlen + 63) // 64 * 64 and fsize == len(data)
    assert boff + blen == len(data) and zlib.crc32(data[boff:]) == bcrc
    assert data[64 + mlen:boff] == bytes(boff - 64 - mlen)
    meta, blobs, _ = split(data)
    for t in meta["tensors"]:
        if "data" in t:
            assert t["data"]["offset"] % 64 == 0
    # the spec's writer and the real one agree byte for byte
    assert pack(meta, blobs, flags=flags) == data


# ------------------------------------------------------------------------ hostile: headers


def test_truncation_at_every_offset() -> None:
    data = dump(quant_graph())
    assert len(data) < 4096
    for n in range(len(data)):
        with pytest.raises(i8.I8FormatError):
            i8.load(data[:n])
    for n in (0, 10, 64, 100, len(data) - 1):  # the stream path too
        with pytest.raises(i8.I8FormatError, match="truncated"):
            i8.load(io.BufferedReader(io.BytesIO(data[:n])))


def test_trailing_bytes_rejected_but_streams_may_continue() -> None:
    data = dump(float_graph())
    rejects(data + b"\0", "unexpected bytes")
    f = io.BytesIO(data + b"rest")
    i8.load(f)
    assert f.read() == b"rest"


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.data())
def test_random_byte_flips(data) -> None:
    base = _SMALL
    n = data.draw(st.integers(1, 4))
    buf = bytearray(base)
    for _ in range(n):
        i = data.draw(st.integers(0, len(buf) - 1))
        buf[i] = data.draw(st.integers(0, 255))
    _load_or_format_error(bytes(buf))


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.data())
def test_random_metadata_edits_with_valid_checksums(data) -> None:
    """Flips, inserts and deletes inside the JSON, re-packed with correct CRCs, so the JSON,
    blob and graph checks are what must catch them."""
    meta, blobs, _ = split(_SMALL)
    raw = bytearray(json.dumps(meta).encode())
    for _ in range(data.draw(st.integers(1, 3))):
        i = data.draw(st.integers(0, len(raw) - 1))
        kind = data.draw(st.sampled_from(["flip", "insert", "delete", "digit"]))
        c = data.draw(st.sampled_from(list(b'0123456789-.,:[]{}"eE tfn\\') + [0xC3, 0xFF]))
        if kind == "flip":
            raw[i] = c
        elif kind == "insert":
            raw.insert(i, c)
        elif kind == "delete":
            del raw[i]
        elif chr(raw[i]).isdigit():
            raw[i] = ord(str(data.draw(st.integers(0, 9))))
    _load_or_format_error(pack(bytes(raw), blobs))


def _load_or_format_error(data: bytes) -> None:
    try:
        g = i8.load(data)
    except i8.I8FormatError:
        return
    validate.validate_graph(g)


_SMALL = dump(quant_graph(3))


def test_wrong_magic_and_versions() -> None:
    data = dump(float_graph())
    rejects(b"PK\x03\x04" + data[4:], "bad magic")
    rejects(b"", "truncated")
    rejects(b"\x89I8", "truncated")
    meta, blobs, _ = split(data)
    rejects(pack(meta, blobs, major=2), "version 2.0 is newer", "upgrade")
    rejects(pack(meta, blobs, major=0, minor=9), "version 0.9 is older")
    rejects(pack(meta, blobs, major=2)[:12], "newer")  # reported even if the rest is missing
    rejects(pack(meta, blobs, flags=1), "requires features")
    i8.load(pack(meta, blobs, flags=1 << 20))  # informational bits are ignored
    # A newer minor version may add keys: they are ignored; our own minor refuses them.
    meta2 = dict(meta, future_key={"x": 1})
    meta2["tensors"] = [dict(t, extra=1) for t in meta["tensors"]]
    assert i8.load(pack(meta2, blobs, minor=1)).name == "tiny_float"
    rejects(pack(meta2, blobs), "unknown key")


def test_checksums() -> None:
    data = bytearray(dump(quant_graph()))
    for pos, what in ((13, "header checksum"), (70, "metadata checksum"),
                      (len(data) - 1, "blob section checksum")):
        bad = bytearray(data)
        bad[pos] ^= 0x10
        rejects(bytes(bad), what)


def test_header_sizes_and_offsets() -> None:
    meta, blobs, h = split(dump(quant_graph()))
    size = h[9]
    rejects(pack(meta, blobs, meta_len=2**63), "metadata length")
    rejects(pack(meta, blobs, meta_len=h[6] + 64), "not the aligned end")
    rejects(pack(meta, blobs, blob_offset=h[7] + 64), "not the aligned end")
    rejects(pack(meta, blobs, blob_len=len(blobs) + 1), "file size field")
    rejects(pack(meta, blobs, file_size=size + 1), "file size field")
    rejects(pack(meta, blobs, file_size=2**64 - 1), "file size field")
    # A 1 TB blob section claimed by a header: refused before any allocation.
    huge = 2**40
    data = pack(meta, blobs, blob_len=huge, file_size=h[7] + huge)
    tracemalloc.start()
    t0 = time.perf_counter()
    try:
        rejects(data, "truncated", str(h[7] + huge))
        with pytest.raises(i8.I8FormatError, match="truncated"):
            i8.load(io.BufferedReader(io.BytesIO(data)))  # streamed: stops at the real end
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert time.perf_counter() - t0 < 1.0 and peak < 1 << 20
    rejects(pack(meta, blobs)[:72], "truncated")


def test_nonzero_padding() -> None:
    meta, blobs, h = split(dump(quant_graph()))
    data = bytearray(pack(meta, blobs))
    assert h[7] > 64 + h[6]
    data[64 + h[6]] = 1
    rejects(bytes(data), "padding")


# ---------------------------------------------------------------- hostile: metadata content


def _edit(edit, graph_fn=quant_graph) -> bytes:
    meta, blobs, _ = split(dump(graph_fn()))
    blobs = edit(meta, blobs) or blobs
    return pack(meta, blobs)


def _tensor(meta: dict, name: str) -> dict:
    return next(t for t in meta["tensors"] if t["name"] == name)


@pytest.mark.parametrize("shape,frag", [
    ([2**62, 2**62], "too large"),
    ([2**61, 8], "too large"),  # 2^64 bytes of int8 elements: the product overflows int64
    ([-1, 3, 3, 3], "non-negative"),
    ([4, 3, 3, 3.0], "non-negative ints"),
    ([4, 3, True, 3], "non-negative ints"),
    ("4", "'shape' must be"),
    ([1] * 65, "at most 64"),
    ([4, 3, 3, 2], "needs 72"),
])
def test_bad_shapes(shape, frag) -> None:
    rejects(_edit(lambda m, b: _tensor(m, "w").update(shape=shape)), frag)


def test_huge_dims_on_activation_tensor() -> None:
    rejects(_edit(lambda m, b: _tensor(m, "c").update(shape=[2**40, 2**40])), "too large",
            "'c'")
    rejects(_edit(lambda m, b: _tensor(m, "c").update(shape=[2**64])), "too large")
    rejects(_edit(lambda m, b: _tensor(m, "c").update(shape=[10**30])), "digits")


@pytest.mark.parametrize("ref,frag", [
    ({"offset": -64, "nbytes": 108}, "non-negative"),
    ({"offset": 0, "nbytes": -108}, "non-negative"),
    ({"offset": 2**63, "nbytes": 108}, "non-negative"),
    ({"offset": 2**63 - 64, "nbytes": 108}, "outside"),
    ({"offset": 4096, "nbytes": 108}, "outside"),
    ({"offset": 3, "nbytes": 108}, "aligned"),
    ({"offset": 0, "nbytes": 107}, "needs 108"),
    ({"offset": 0}, "missing key 'nbytes'"),
    ({"offset": "0", "nbytes": 108}, "non-negative"),
    ({"offset": 0.0, "nbytes": 108}, "non-negative"),
    ([0, 108], "expected a JSON object"),
])
def test_bad_blob_refs(ref, frag) -> None:
    rejects(_edit(lambda m, b: _tensor(m, "w").update(data=ref)), frag, "'w'")


def test_overlapping_blobs() -> None:
    def edit(m: dict, b: bytes) -> None:
        _tensor(m, "b")["data"] = {"offset": 0, "nbytes": 16}
    rejects(_edit(edit), "overlaps")

    def many(m: dict, b: bytes) -> None:  # many tensors sharing one blob: a decompression bomb
        for k in range(50):
            m["tensors"].append(dict(_tensor(m, "w"), name=f"w{k}"))
    rejects(_edit(many), "overlaps")


def test_bad_bool_bytes() -> None:
    g = float_graph()
    g.tensors["m"] = ir.Tensor("m", (3,), "bool", np.array([True, False, True]))
    meta, blobs, _ = split(dump(g))
    off = _tensor(meta, "m")["data"]["offset"]
    blobs = blobs[:off] + b"\x02" + blobs[off + 1:]
    rejects(pack(meta, blobs), "bool", "'m'")


@pytest.mark.parametrize("scale,frag", [
    (0.0, "finite positive"), (-0.5, "finite positive"), (1e39, "finite positive"),
    (1e-50, "finite positive"), ("nan", "must be a number"), (True, "must be a number"),
    ({"float": "nan"}, "must be a number"),
])
def test_bad_per_tensor_scales(scale, frag) -> None:
    rejects(_edit(lambda m, b: _tensor(m, "c")["qparams"].update(scale=scale)), frag, "'c'")


def test_nan_scale_literal_rejected() -> None:
    meta, blobs, _ = split(dump(quant_graph()))
    _tensor(meta, "c")["qparams"]["scale"] = 12345.5
    raw = json.dumps(meta).encode()
    for lit, frag in ((b"NaN", "non-JSON constant"), (b"Infinity", "non-JSON constant"),
                      (b"1e999", "overflows")):
        rejects(pack(raw.replace(b"12345.5", lit), blobs), frag)


def test_bad_per_channel_scales_in_blob() -> None:
    g = quant_graph(40)
    meta, blobs, _ = split(dump(g))
    ref = _tensor(meta, "w")["qparams"]["scale"]
    for value, frag in ((np.nan, "finite positive"), (0.0, "finite positive"),
                        (-1.0, "finite positive"), (np.inf, "finite positive")):
        s = np.frombuffer(blobs, np.uint8).copy()
        s[ref["offset"] + 4 * 7:ref["offset"] + 4 * 8] = np.array([value], "<f4").view(np.uint8)
        rejects(pack(meta, s.tobytes()), frag, "'w'")
    _tensor(meta, "w")["qparams"]["scale"] = dict(ref, nbytes=158)
    rejects(pack(meta, blobs), "multiple of 4")
    _tensor(meta, "w")["qparams"]["scale"] = dict(ref, nbytes=156)
    rejects(pack(meta, blobs), "need 40 entries")


@pytest.mark.parametrize("name,zp,frag", [
    ("c", 128, "outside [-128, 127]"), ("c", -129, "outside [-128, 127]"),
    ("c", 2**31, "does not fit in int32"), ("c", 1.0, "zero_point an int"),
])
def test_bad_zero_points(name, zp, frag) -> None:
    rejects(_edit(lambda m, b: _tensor(m, name)["qparams"].update(zero_point=zp)), frag)


def test_bad_per_channel_qparams() -> None:
    def zp(v):
        return lambda m, b: _tensor(m, "w")["qparams"].update(zero_point=v)
    rejects(_edit(zp([0, 0, 0, 200])), "outside [-128, 127]", "'w'")
    rejects(_edit(zp([0, 0, 0])), "need 4 entries")
    rejects(_edit(zp([0, 0, 0, "0"])), "int32 numbers")
    rejects(_edit(lambda m, b: _tensor(m, "b")["qparams"].update(zero_point=[0, 0, 1, 0])),
            "outside [0, 0]", "int32", "'b'")
    rejects(_edit(lambda m, b: _tensor(m, "w")["qparams"].update(axis=4)), "axis 4")
    rejects(_edit(lambda m, b: _tensor(m, "w")["qparams"].update(axis=-1)), "axis")
    rejects(_edit(lambda m, b: _tensor(m, "w")["qparams"].update(scale="x")), "list or a blob")
    rejects(_edit(lambda m, b: _tensor(m, "w")["qparams"].pop("axis")), "missing key 'axis'")
    rejects(_edit(lambda m, b: _tensor(m, "y").update(qparams=_tensor(m, "c")["qparams"])),
            "float32 tensor cannot carry")


def test_graph_level_violations() -> None:
    def node(m, name):
        return next(n for n in m["nodes"] if n["name"] == name)
    rejects(_edit(lambda m, b: node(m, "pool").update(op="FancyPool")), "unknown op", "'pool'")
    rejects(_edit(lambda m, b: node(m, "pool").update(inputs=["nope"])), "'nope'", "'pool'",
            "not defined")
    rejects(_edit(lambda m, b: m.update(outputs=["ghost"])), "'ghost'")
    rejects(_edit(lambda m, b: node(m, "q").update(inputs=["p"])), "cycle")
    rejects(_edit(lambda m, b: node(m, "pool").update(outputs=["c"])), "already defined",
            "'c'")
    rejects(_edit(lambda m, b: m["tensors"].append(dict(_tensor(m, "x")))), "defined twice",
            "'x'")
    rejects(_edit(lambda m, b: node(m, "conv").update(inputs=["xq"])), "takes 2..3 inputs")
    rejects(_edit(lambda m, b: node(m, "conv")["attrs"].update(strides={"str": "1,1"})),
            "'strides'", "sequence of ints")
    rejects(_edit(lambda m, b: node(m, "conv").update(attrs=[])), "'attrs' must be dict")
    rejects(_edit(lambda m, b: _tensor(m, "x").update(dtype="float16")), "unknown dtype")


@pytest.mark.parametrize("value,frag", [
    ({"int": 1.5}, "invalid typed value"), ({"float": "Infinity"}, "invalid typed value"),
    ({"bool": 1}, "invalid typed value"), ({"int": 1, "float": 1.0}, "exactly one type tag"),
    ({"dict": {}}, "invalid typed value"),  # dicts only in graph meta
    ({"none": None}, "invalid typed value"), (7, "exactly one type tag"),
    ({"int": 10**19}, "does not fit in int64"), ({"int": 10**25}, "digits"),
])
def test_bad_attr_values(value, frag) -> None:
    def edit(m, b):
        m["nodes"][1]["attrs"]["x"] = value
    rejects(_edit(edit), frag)


def test_duplicate_json_keys() -> None:
    meta, blobs, _ = split(dump(float_graph()))
    raw = json.dumps(meta, separators=(",", ":")).encode()
    rejects(pack(raw.replace(b'"name":"tiny_float"', b'"name":"a","name":"b"', 1), blobs),
            "repeats the key 'name'")


def test_json_bombs() -> None:
    meta, blobs, _ = split(dump(float_graph()))
    t0 = time.perf_counter()
    rejects(pack(b"[" * 200_000 + b"]" * 200_000, blobs), "nests too deeply")
    deep: dict = {"int": 1}
    for _ in range(50):
        deep = {"list": [deep]}
    meta["meta"]["deep"] = deep
    rejects(pack(meta, blobs), "nests deeper")
    meta["meta"]["deep"] = {"str": "x"}
    # A huge string: the header's length field is refused before a byte is read...
    raw = json.dumps(meta).encode()
    rejects(pack(raw, blobs, meta_len=1 << 40), "exceeds the limit")
    # ...and a long name that does fit is refused by the graph checks.
    meta["name"] = "n" * 100_000
    rejects(pack(meta, blobs), "graph name is 100000 characters")
    rejects(pack(b"\xff" + raw[1:], blobs), "UTF-8")
    rejects(pack(b'{"name": 1', blobs), "not valid JSON")
    rejects(pack(b"[]", blobs), "expected a JSON object")
    rejects(pack(b"9" * 5000, blobs), "digits")
    assert time.perf_counter() - t0 < 5


def test_save_refuses_invalid_graph(tmp_path) -> None:
    g = float_graph()
    g.nodes[0].op = "Bogus"
    with pytest.raises(i8.I8FormatError, match="cannot save an invalid graph.*Bogus"):
        i8.save(g, tmp_path / "bad.i8")
    assert not (tmp_path / "bad.i8").exists()
    g = float_graph()
    g.meta["arr"] = np.zeros(3)
    with pytest.raises(i8.I8FormatError, match="unsupported value type ndarray"):
        i8.save(g, io.BytesIO())


def test_load_rejects_other_types() -> None:
    with pytest.raises(TypeError):
        i8.load(123)  # type: ignore[arg-type]
    with pytest.raises(FileNotFoundError):
        i8.load("/nonexistent/model.i8")


_JSON_LEAF = st.one_of(
    st.none(), st.booleans(), st.integers(-(2**70), 2**70),
    st.sampled_from([0, -1, 1, 63, 64, 2**31, 2**32, 2**63 - 1, 2**63, -(2**63)]),
    st.floats(allow_nan=False, allow_infinity=False), st.text(max_size=8),
    st.sampled_from(["", "x", "w", "c", "Conv", "int8", "float32", "nan", "inf", "int", "tuple"]),
)
_JSON_VALUE = st.recursive(
    _JSON_LEAF,
    lambda inner: st.one_of(st.lists(inner, max_size=4),
                            st.dictionaries(st.sampled_from(
                                ["int", "float", "str", "list", "tuple", "offset", "nbytes",
                                 "axis", "scale", "zero_point", "x"]), inner, max_size=3)),
    max_leaves=8,
)


def _paths(doc, prefix=()):
    yield prefix
    if isinstance(doc, dict):
        for k, v in doc.items():
            yield from _paths(v, prefix + (k,))
    elif isinstance(doc, list):
        for i, v in enumerate(doc):
            yield from _paths(v, prefix + (i,))


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.data())
def test_structured_metadata_fuzz(data) -> None:
    """Replace, delete or duplicate random parts of the JSON document (valid JSON, valid CRCs):
    every type, range and reference check is reachable this way."""
    meta, blobs, _ = split(_SMALL)
    for _ in range(data.draw(st.integers(1, 3))):
        paths = list(_paths(meta))[1:]
        path = paths[data.draw(st.integers(0, len(paths) - 1))]
        parent = meta
        for k in path[:-1]:
            parent = parent[k]
        action = data.draw(st.sampled_from(["replace", "delete", "duplicate"]))
        if action == "replace":
            parent[path[-1]] = data.draw(_JSON_VALUE)
        elif action == "delete":
            del parent[path[-1]]
        elif isinstance(parent, list):
            parent.append(json.loads(json.dumps(parent[path[-1]])))
    _load_or_format_error(pack(meta, blobs))


def test_longer_header_of_a_newer_minor_version() -> None:
    meta, blobs, _ = split(dump(float_graph()))
    raw = json.dumps(meta, separators=(",", ":")).encode()
    hs = 128
    off = (hs + len(raw) + 63) // 64 * 64
    head = HDR.pack(b"\x89I8RT\r\n\x1a", 1, 3, 0, hs, zlib.crc32(raw), len(raw), off, len(blobs),
                    off + len(blobs), zlib.crc32(blobs), 0)
    head = head[:-4] + struct.pack("<I", zlib.crc32(head[:-4]))
    data = head + b"\xee" * (hs - 64) + raw + bytes(off - hs - len(raw)) + blobs
    assert_graphs_equal(float_graph(), i8.load(data))
    rejects(data[:100], "truncated")
    bad = bytearray(head)
    bad[16:20] = struct.pack("<I", 8192)
    bad[60:64] = struct.pack("<I", zlib.crc32(bytes(bad[:60])))
    rejects(bytes(bad) + data[64:], "header size 8192")
