"""Every given scale is taken (scale tables / QDQ): data movement and max pooling whose output
parameters differ from their input's get a requantizing table in lowering, Softmax writes the
given output scale; the result is the source's dequantize -> op -> quantize."""

from __future__ import annotations

import numpy as np
import pytest

import int8rt
from int8rt.ir import Graph, Node, Tensor
from int8rt.lower import lower
from int8rt.quant.table import make_entry, quantize_with_table
from int8rt.reference.program import run_program

TABLE = {  # name: (dtype, scale, zero point)
    "x": ("int8", 0.05, -10), "p": ("int8", 0.08, 3), "r": ("int8", 0.06, -2),
    "t": ("uint8", 0.07, 120), "s": ("uint8", 1 / 255, 0),
}


def _graph() -> Graph:
    ts = [Tensor("x", (1, 6, 6, 3), "float32"), Tensor("p", (1, 3, 3, 3), "float32"),
          Tensor("r", (1, 27), "float32"), Tensor("t", (27, 1), "float32"),
          Tensor("s", (1, 27), "float32")]
    nodes = [
        Node("MaxPool", "pool", ["x"], ["p"], {"kernel": (2, 2), "strides": (2, 2)}),
        Node("Reshape", "flat", ["p"], ["r"], {"shape": (1, 27)}),
        Node("Transpose", "tr", ["r"], ["t"], {"perm": (1, 0)}),
        Node("Reshape", "back", ["t"], ["s0"], {"shape": (1, 27)}),
        Node("Softmax", "sm", ["s0"], ["s"], {"axis": -1}),
    ]
    ts.append(Tensor("s0", (1, 27), "float32"))
    return Graph(nodes, {t.name: t for t in ts}, ["x"], ["s"])


def _q(v: np.ndarray, name: str) -> np.ndarray:
    """Exact quantize in int8rt's int8 domain (uint8 zero points move by -128), float64."""
    dtype, s, z = TABLE[name]
    z = z - 128 if dtype == "uint8" else z
    return np.clip(np.rint(v / np.float64(np.float32(s))) + z, -128, 127)


def _dq(q: np.ndarray, name: str) -> np.ndarray:
    dtype, s, z = TABLE[name]
    z = z - 128 if dtype == "uint8" else z
    return (q - z) * np.float64(np.float32(s))


def test_requantized_movement_and_softmax_equal_qdq_semantics() -> None:
    table = {k: make_entry(k, d, s, z) for k, (d, s, z) in TABLE.items()}
    qg = quantize_with_table(_graph(), table)
    # every op stays int8 with the given parameters (used to be a ValueError)
    assert qg.meta["quantization"]["float_nodes"] == []
    sm = next(n for n in qg.nodes if n.op == "Softmax")
    assert qg.tensor(sm.outputs[0]).qparams.scalar() == (np.float32(1 / 255), -128)
    program = lower(qg)
    assert sum(c.kernel == "lut" for c in program.calls) == 3  # pool, flat, tr requantize
    x = np.random.default_rng(0).uniform(-7, 7, (1, 6, 6, 3)).astype(np.float32)
    seen: dict[str, np.ndarray] = {}
    run_program(program, [x], observe=lambda n, a: seen.__setitem__(n, a.copy()))
    qx = _q(x.astype(np.float64), "x")
    want_p = _q(_dq(qx, "x").reshape(1, 3, 2, 3, 2, 3).max(axis=(2, 4)), "p")
    assert np.array_equal(seen["p"], want_p)
    want_r = _q(_dq(want_p, "p").reshape(1, 27), "r")
    assert np.array_equal(seen["r"], want_r)
    want_t = _q(_dq(want_r, "r").T, "t")
    assert np.array_equal(seen["t"], want_t)
    v = _dq(want_t, "t").reshape(1, 27)
    e = np.exp(v - v.max())
    want_s = _q(e / e.sum(), "s")
    int8_s = qg.meta["quantization"]["int8_names"]["s"]
    assert np.abs(seen[int8_s].astype(int) - want_s).max() <= 1  # softmax: ties only
    # the native plan equals the reference program
    got = int8rt.Session(qg).run(None, {"x": x})[0]
    ref = _dq(seen[int8_s].astype(np.float64), "s").astype(np.float32)
    np.testing.assert_allclose(got, ref, rtol=0, atol=1e-7)


@pytest.mark.parametrize("op", ["Reshape", "MaxPool"])
def test_equal_parameters_add_no_table(op) -> None:
    """Without a given output entry, data movement keeps its input's parameters: no lut."""
    table = {"x": make_entry("x", "int8", 0.05, -10)}
    g = _graph()
    g.nodes = [n for n in g.nodes if n.op == op][:1]
    out = g.nodes[0].outputs[0]
    g.outputs = [out]
    g.tensors = {k: v for k, v in g.tensors.items() if k in ("x", out)}
    if op == "Reshape":
        g.nodes[0].inputs = ["x"]
        g.nodes[0].attrs = {"shape": (1, 108)}
        g.tensors[out] = Tensor(out, (1, 108), "float32")
    program = lower(quantize_with_table(g, table))
    assert not any(c.kernel == "lut" for c in program.calls)
