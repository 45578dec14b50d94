"""validate_graph on in-memory graphs: each rule accepts its edge and refuses one step past."""

from __future__ import annotations

import time
from typing import Callable

import numpy as np
import pytest

from int8rt import ir
from int8rt.validate import GraphValidationError, validate_graph

from .i8_graphs import float_graph, quant_graph


def refuses(graph: ir.Graph, *fragments: str) -> None:
    with pytest.raises(GraphValidationError) as exc:
        validate_graph(graph)
    assert isinstance(exc.value, ValueError)
    for frag in fragments:
        assert frag in str(exc.value), str(exc.value)


def edited(edit: Callable[[ir.Graph], object], make=quant_graph) -> ir.Graph:
    g = make()
    edit(g)
    return g


def test_valid_graphs_pass() -> None:
    validate_graph(float_graph())
    validate_graph(quant_graph())
    validate_graph(quant_graph(1))


def _qp(g: ir.Graph, name: str, scale, zp, axis=None) -> None:
    g.tensors[name].qparams = ir.QParams(np.asarray(scale, np.float32), np.asarray(zp), axis)


@pytest.mark.parametrize("name,zp,ok", [
    ("c", -128, True), ("c", 127, True), ("c", -129, False), ("c", 128, False),
])
def test_int8_zero_point_range(name, zp, ok) -> None:
    g = edited(lambda g: _qp(g, name, 0.1, np.int32(zp)))
    if ok:
        validate_graph(g)
    else:
        refuses(g, f"zero point {zp} is outside [-128, 127]", repr(name))


def test_uint8_and_int32_zero_points() -> None:
    def u8(zp: int):
        def edit(g: ir.Graph) -> None:
            g.tensors["c"].dtype = "uint8"
            _qp(g, "c", 0.1, np.int32(zp))
        return edit
    validate_graph(edited(u8(0)))
    validate_graph(edited(u8(255)))
    refuses(edited(u8(256)), "outside [0, 255]")
    refuses(edited(u8(-1)), "outside [0, 255]")
    refuses(edited(lambda g: g.tensors["b"].qparams.zero_point.__setitem__(2, 1)),
            "zero point 1 is outside [0, 0] for a int32 tensor", "'b'")


@pytest.mark.parametrize("bad", [0.0, -0.5, np.nan, np.inf, -np.inf])
def test_scales_must_be_finite_positive(bad) -> None:
    refuses(edited(lambda g: _qp(g, "c", bad, np.int32(0))), "not a finite positive", "'c'")

    def per_channel(g: ir.Graph) -> None:
        g.tensors["w"].qparams.scale[3] = bad
    refuses(edited(per_channel), "not a finite positive", "'w'")


def test_qparams_shapes_and_types() -> None:
    refuses(edited(lambda g: _qp(g, "c", [0.1], [0])), "per-tensor qparams need 0-d")
    refuses(edited(lambda g: _qp(g, "w", [0.1] * 3, [0] * 3, 0)), "need 4 entries (shape[0])")
    refuses(edited(lambda g: _qp(g, "w", [0.1] * 4, [0] * 4, 4)), "axis 4 is not an axis")
    refuses(edited(lambda g: _qp(g, "w", [0.1] * 4, [0] * 4, -1)), "axis -1")
    refuses(edited(lambda g: setattr(g.tensors["c"], "qparams", ir.QParams(
        np.float64(0.1), np.int32(0)))), "scale must be a float32")
    refuses(edited(lambda g: setattr(g.tensors["c"], "qparams", ir.QParams(
        np.float32(0.1), np.float32(0)))), "zero_point must be an integer")
    refuses(edited(lambda g: setattr(g.tensors["c"], "qparams", ir.QParams(
        0.1, 0))), "scale must be a float32")  # type: ignore[arg-type]
    validate_graph(edited(lambda g: setattr(g.tensors["c"], "qparams", ir.QParams(
        np.float32(0.1), np.int8(0)))))
    refuses(edited(lambda g: setattr(g.tensors["c"], "qparams", (0.1, 0))), "ir.QParams")
    refuses(edited(lambda g: setattr(g.tensors["y"], "qparams", ir.QParams.per_tensor(0.1, 0))),
            "float32 tensor cannot carry")


def test_tensor_entries() -> None:
    refuses(edited(lambda g: setattr(g.tensors["c"], "name", "other")), "stored under")
    refuses(edited(lambda g: setattr(g.tensors["c"], "dtype", "float16")), "unknown dtype")
    refuses(edited(lambda g: setattr(g.tensors["c"], "shape", (1, -6, 6, 4))), "negative")
    refuses(edited(lambda g: setattr(g.tensors["c"], "shape", (1, 6.0))), "non-integer")
    refuses(edited(lambda g: setattr(g.tensors["c"], "shape", (2**62, 2))), "too large")
    refuses(edited(lambda g: setattr(g.tensors["c"], "shape", "16")), "shape must be")
    refuses(edited(lambda g: setattr(g.tensors["w"], "data", g.tensors["w"].data.reshape(4, 27))),
            "data shape (4, 27) does not match")
    refuses(edited(lambda g: setattr(g.tensors["w"], "data", g.tensors["w"].data.astype(
        np.int16))), "data dtype int16")
    refuses(edited(lambda g: setattr(g.tensors["w"], "data", [1, 2])), "numpy array")
    refuses(edited(lambda g: g.tensors.__setitem__("", ir.Tensor("", (), "int8"))), "empty")
    refuses(edited(lambda g: g.tensors.__setitem__("z", "z")), "not ir.Tensor")
    # Byte order is the writer's business, not a validity question.
    validate_graph(edited(lambda g: setattr(g.tensors["b"], "data", g.tensors["b"].data.astype(
        ">i4"))))


def test_ops_and_arity() -> None:
    refuses(edited(lambda g: setattr(g.nodes[2], "op", "MaxPool3D")), "unknown op 'MaxPool3D'")
    refuses(edited(lambda g: setattr(g.nodes[1], "inputs", ["xq"])),
            "node #1 'conv' (Conv): takes 2..3 inputs, got 1")
    refuses(edited(lambda g: setattr(g.nodes[1], "inputs", ["xq", "w", "b", "b"])),
            "takes 2..3 inputs, got 4")
    refuses(edited(lambda g: setattr(g.nodes[1], "inputs", ["xq", "", "b"])),
            "required input #1 is omitted")
    validate_graph(edited(lambda g: setattr(g.nodes[1], "inputs", ["xq", "w", ""])))
    validate_graph(edited(lambda g: setattr(g.nodes[1], "inputs", ["xq", "w"])))
    refuses(edited(lambda g: setattr(g.nodes[2], "outputs", ["p", "p2"])), "produces 1 outputs")
    refuses(edited(lambda g: setattr(g.nodes[2], "outputs", [""])), "empty")
    refuses(edited(lambda g: setattr(g.nodes[2], "inputs", "c")), "list of names")
    refuses(edited(lambda g: g.nodes.append("node")), "not ir.Node")


def test_attribute_types() -> None:
    def attr(k, v, node=1):
        return edited(lambda g: g.nodes[node].attrs.__setitem__(k, v))
    validate_graph(attr("group", np.int64(1)))
    validate_graph(attr("clip", [0, 6]))  # ints are numbers; lists pass for tuples
    refuses(attr("group", 1.0), "'group' must be a int")
    refuses(attr("group", True), "'group' must be a int")
    refuses(attr("strides", (1, 1, 1)), "'strides' must have 2 entries")
    refuses(attr("strides", (1, 1.5)), "sequence of ints")
    refuses(attr("clip", "relu"), "'clip' must be a sequence of numbers")
    refuses(attr("clip", (0.0,)), "must have 2 entries")
    refuses(attr("group", 2**63), "does not fit in int64")
    refuses(attr("extra", np.zeros(2)), "unsupported value type ndarray")
    refuses(attr("extra", {"a": 1}), "unsupported value type dict")
    refuses(attr("extra", None), "unsupported value type NoneType")
    refuses(attr(3, 1), "attribute name 3")
    validate_graph(attr("extra", ("carried", 1, 2.0, [True])))
    nest: object = 1
    for _ in range(20):
        nest = (nest,)
    refuses(attr("extra", nest), "nests deeper")
    g = float_graph()
    g.nodes[3].attrs["shape"] = (1, 4.0)
    refuses(g, "'shape' must be a sequence of ints")
    g = float_graph()
    g.nodes[5].attrs["axis"] = "last"
    refuses(g, "node #5 'sm' (Softmax) attribute 'axis' must be a int")


def test_transpose_perm_and_split_sizes() -> None:
    def extra(node: ir.Node, out: list[str]) -> Callable[[ir.Graph], None]:
        def edit(g: ir.Graph) -> None:
            for o in out:
                g.tensors[o] = ir.Tensor(o, (1,), "float32")
            g.nodes.append(node)
        return edit
    validate_graph(edited(extra(ir.Node("Transpose", "t", ["y"], ["t"], {"perm": (0, 1)}),
                                ["t"]), float_graph))
    refuses(edited(extra(ir.Node("Transpose", "t", ["y"], ["t"], {"perm": (0, 0)}), ["t"]),
                   float_graph), "not a permutation")
    validate_graph(edited(extra(ir.Node("Split", "s", ["y"], ["s0", "s1"],
                                        {"axis": 1, "sizes": (2, 3)}), ["s0", "s1"]), float_graph))
    refuses(edited(extra(ir.Node("Split", "s", ["y"], ["s0", "s1"],
                                 {"axis": 1, "sizes": (5,)}), ["s0", "s1"]), float_graph),
            "1 split sizes but 2 outputs")


def test_definitions() -> None:
    refuses(edited(lambda g: g.nodes[2].inputs.__setitem__(0, "ghost")),
            "node #2 'pool' (MaxPool): input 'ghost' is not defined")
    refuses(edited(lambda g: g.outputs.append("ghost")), "graph output 'ghost' is not defined")
    refuses(edited(lambda g: g.inputs.append("ghost")), "graph input 'ghost' has no tensor")
    refuses(edited(lambda g: g.inputs.append("w")), "graph input 'w' is also a constant")
    refuses(edited(lambda g: g.inputs.append("x")), "graph input 'x' is listed twice")
    refuses(edited(lambda g: g.outputs.append("y")), "graph output 'y' is listed twice")
    refuses(edited(lambda g: setattr(g.nodes[2], "outputs", ["c"])),
            "output 'c' is already defined as the output of node #1 'conv'")
    refuses(edited(lambda g: setattr(g.nodes[2], "outputs", ["w"])),
            "output 'w' is already defined as a constant")
    refuses(edited(lambda g: setattr(g.nodes[0], "outputs", ["x"])),
            "output 'x' is already defined as a graph input")
    refuses(edited(lambda g: setattr(g.nodes[2], "outputs", ["p_new"])),
            "output 'p_new' has no tensor entry")
    g = quant_graph()
    del g.tensors["c"]
    refuses(g, "output 'c' has no tensor entry")
    # A graph output may be an input or a constant (an identity / constant model).
    validate_graph(edited(lambda g: g.outputs.extend(["x", "w"])))


def test_cycles() -> None:
    refuses(edited(lambda g: g.nodes[0].inputs.__setitem__(0, "p")), "cycle", "node #")
    refuses(edited(lambda g: g.nodes[2].inputs.__setitem__(0, "p")), "cycle", "'pool'")
    # Order in the list does not matter, only the dependencies.
    validate_graph(edited(lambda g: g.nodes.reverse()))


def test_graph_fields() -> None:
    refuses(edited(lambda g: setattr(g, "name", 5)), "graph name must be a str")
    refuses(edited(lambda g: setattr(g, "name", "n" * 5000)), "5000 characters")
    refuses(edited(lambda g: setattr(g, "meta", [])), "meta must be a dict")
    refuses(edited(lambda g: g.meta.__setitem__("arr", np.zeros(2))), "graph meta['arr']")
    refuses(edited(lambda g: g.meta.__setitem__("d", {1: 2})), "dict key 1")
    refuses(edited(lambda g: setattr(g, "inputs", "x")), "list of names")
    refuses(ir.Node("Relu", "r", [], []), "expected an ir.Graph")  # type: ignore[arg-type]


def test_long_reversed_chain_is_linear_time() -> None:
    n = 20_000
    t0 = time.perf_counter()
    tensors = {f"t{i}": ir.Tensor(f"t{i}", (1,), "float32") for i in range(n + 1)}
    nodes = [ir.Node("Relu", f"r{i}", [f"t{i}"], [f"t{i + 1}"]) for i in range(n)][::-1]
    g = ir.Graph(nodes, tensors, ["t0"], [f"t{n}"])
    build = time.perf_counter() - t0  # linear work: scales the bound on a slow (emulated) CPU
    t0 = time.perf_counter()
    validate_graph(g)
    # a quadratic walk of 20k nodes takes minutes; a linear one a fraction of a second natively
    assert time.perf_counter() - t0 < max(2.0, 40 * build)
    g.nodes[0].inputs = [f"t{n}"]  # close the loop
    refuses(g, "cycle")
