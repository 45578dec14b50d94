"""Where the deployed program rounds, read off int8rt's own import, quantization and lowering.

`plan(gm, example_inputs)` writes the captured float graph as ONNX (capture.py: tensor names
are fx node names), imports it with int8rt's frontend (canonicalization: BatchNorm folding,
NHWC, pattern and activation fusion), quantizes it with PTQ's rewrite (parameters from
int8rt's observers on the example inputs: only *where* matters here, not the values) and
lowers it to the Program the runtime executes. Then:

- a **rounding point** is the output buffer of a call that writes int8 values it computed
  (Quantize, conv, fc, add, mul, LUT, average pools, bilinear resize, a Concat input
  requantized to the output's parameters); calls that only move int8 values (copy, transpose,
  slice, pad, max pool, nearest resize, a requant_copy with equal parameters) do not round,
  and a conv / fc writing the float32 model output from its accumulator does not round;
- each rounding buffer is mapped back to the fx node whose output it holds (through the
  layout pass's renames: Transpose / Reshape chains that keep parameters);
- each Conv / Gemm is mapped to its fx module, the BatchNorm int8rt folded into it, and the
  rounding point whose parameters its input carries (its bias scale is s_x * s_w).

So a change of int8rt's fusion rules (what folds, what fuses into a clamp, what becomes a
table) changes this plan, and the QAT model follows: there is no second list of rules here.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import torch
from torch import fx

from int8rt.ir import Graph
from int8rt.lower import lower
from int8rt.opset import NO_CLIP, schema
from int8rt.program import Program
from int8rt.qat import capture

# kernels that only move int8 values: their output has the input's parameters (lower.py)
MOVING_KERNELS = frozenset({"copy", "transpose", "slice", "pad", "maxpool", "resize_nearest"})


def rounding_buffers(program: Program) -> dict[str, str]:
    """{int8 buffer: kernel} of every buffer the program writes by rounding (see module doc).
    A Concat writes its output with one requant_copy per input: the output rounds when any
    input is requantized (the others are copied unchanged)."""
    out: dict[str, str] = {}
    for call in program.calls:
        for y in call.outputs:
            if program.buffers[y].dtype != "int8" or call.kernel in MOVING_KERNELS:
                continue
            if call.kernel == "requant_copy":
                p = call.params
                if p["mult"] == 1.0 and p["x_zp"] == p["y_zp"]:
                    continue
            if call.kernel == "lut" and call.node.endswith(":quantize"):
                pass  # a uint8 input's byte flip would land here; float32 I/O never does
            out[y] = call.kernel
    return out


@dataclass
class Weighted:
    """A Conv / Gemm of the deployed graph and where it came from."""

    module: str  # fx node of the Conv2d / ConvTranspose2d / Linear
    bn: str | None  # fx node of the BatchNorm2d folded into it
    input_point: str  # fx node (rounding point) whose parameters its input has
    output: str  # fx node holding its (fused) output
    float_output: bool  # writes the float32 model output straight from the accumulator
    clip: tuple[float, float]  # the fused activation's bounds (real units)


@dataclass
class RoundingOp:
    """A non-weighted op whose output the deployed program rounds: the fx node computing it,
    the kernel, int8rt's canonical op and attributes, and the rounding point (the fx node
    whose value is the rounded output: the op itself or its fused ReLU)."""

    kernel: str
    op: str
    attrs: dict
    point: str


@dataclass
class Plan:
    points: dict[str, str]  # fx node -> the kernel that rounds it
    weighted: dict[str, Weighted]  # by module fx node
    folded_bn: dict[str, str]  # BatchNorm fx node -> the conv fx node it folds into
    ops: dict[str, RoundingOp]  # by the fx node computing the op
    graph: Graph  # int8rt's canonical float graph of the capture
    qgraph: Graph  # quantized with observed ranges of the example inputs
    program: Program
    ranges: dict[str, tuple[float, float]] = field(default_factory=dict)  # by fx node


def _to_fx(g: Graph, name: str, fx_names: set[str]) -> str | None:
    """The fx node whose value canonical tensor `name` holds: itself, or across the layout
    pass's Transposes / Reshapes (which keep their input's parameters)."""
    if name in fx_names:
        return name
    users = g.consumers()
    prod = g.producers()
    seen = set()
    cur = name
    while cur not in seen:  # forward: x_nhwc -> Transpose -> x
        seen.add(cur)
        us = users.get(cur, [])
        if len(us) != 1 or schema(us[0].op).out_qparams != "same":
            break
        cur = us[0].outputs[0]
        if cur in fx_names:
            return cur
    cur = name
    while cur in prod and schema(prod[cur].op).out_qparams == "same":  # backward
        cur = prod[cur].inputs[0]
        if cur in fx_names:
            return cur
    return None


def map_points(g: Graph, qg: Graph, program: Program, fx_names: set[str]):
    """(points {fx node: kernel}, {int8 buffer: fx node} of the rounding buffers, origin) for
    the deployed program of quantized graph `qg` (float graph `g`); origin(buffer) is the fx
    node (a rounding point) whose parameters an int8 buffer carries."""
    to_float = {q: f for f, q in qg.meta["quantization"]["int8_names"].items()}

    points: dict[str, str] = {}
    buf_to_fx: dict[str, str] = {}
    for buf, kernel in rounding_buffers(program).items():
        fname = to_float.get(buf, buf)
        target = _to_fx(g, fname, fx_names)
        if target is None:
            raise TypeError(f"QAT: the deployed program rounds tensor {fname!r} (kernel "
                            f"{kernel}), which is no node of the captured graph")
        if target in points:
            raise TypeError(f"QAT: the deployed program rounds node {target!r} twice")
        points[target] = kernel
        buf_to_fx[buf] = target

    qprod = qg.producers()
    moved = {y for c in program.calls if c.kernel in MOVING_KERNELS for y in c.outputs}
    concat_in: dict[str, list[str]] = {}
    for c in program.calls:
        if c.kernel == "requant_copy":
            concat_in.setdefault(c.outputs[0], []).append(c.inputs[0])

    def origin(buf: str) -> str:
        """The rounding point whose parameters int8 buffer `buf` carries."""
        cur = buf
        while cur not in buf_to_fx:
            if cur in concat_in:  # a Concat that copied every input unchanged
                found = {origin(i) for i in concat_in[cur]}
                if len(found) == 1:
                    return found.pop()
            node = qprod.get(cur)
            if node is None or cur not in moved:
                raise TypeError(f"QAT: tensor {cur!r} of the deployed graph has parameters "
                                "from no rounding point")
            cur = node.inputs[0]
        return buf_to_fx[cur]

    # A Concat whose inputs all had its parameters at planning time copies them unchanged.
    # That holds whatever the ranges only when the inputs share one rounding point (e.g.
    # y and MaxPool(y)); otherwise the equality was a coincidence of these ranges and the
    # Concat is a rounding point of its own.
    for buf, ins in concat_in.items():
        if buf in buf_to_fx:
            continue
        try:
            if len({origin(i) for i in ins}) == 1:
                continue
        except TypeError:
            pass
        target = _to_fx(g, to_float.get(buf, buf), fx_names)
        if target is None:
            raise TypeError(f"QAT: Concat output {buf!r} is no node of the captured graph")
        points[target] = "requant_copy"
        buf_to_fx[buf] = target

    return points, buf_to_fx, origin


def plan(gm: fx.GraphModule, example_inputs: tuple[torch.Tensor, ...],
         ranges_from: list[np.ndarray] | None = None) -> Plan:
    import int8rt
    from int8rt.quant.calibrate import calibrate
    from int8rt.quant.ptq import quantize_graph

    onnx_model = capture.to_onnx(gm)
    g = int8rt.load_float_model(onnx_model)
    fx_nodes = {n.name: n for n in gm.graph.nodes}
    fx_names = set(fx_nodes)
    data = ranges_from if ranges_from is not None else [x.detach().numpy()
                                                         for x in example_inputs]
    if len(g.inputs) != 1:
        data = [dict(zip(g.inputs, data))]
    ranges = calibrate(g, data, progress=False)
    qg = quantize_graph(g, ranges)
    program = lower(qg, fuse_epilogues=False)  # one record per op, as mirrored here
    meta = qg.meta["quantization"]
    to_float = {q: f for f, q in meta["int8_names"].items()}
    points, buf_to_fx, origin = map_points(g, qg, program, fx_names)

    floats = {c.node for c in program.calls
              if c.kernel in ("conv2d", "fc") and c.params.get("out_f32")}
    modules = {n.name for n in gm.graph.nodes if n.op == "call_module"}
    weighted: dict[str, Weighted] = {}
    folded: dict[str, str] = {}
    for node in qg.nodes:
        if node.op not in ("Conv", "Gemm"):
            continue
        mod = node.name.removesuffix("/Conv")  # ConvTranspose: passes/conv_transpose.py
        if mod not in modules:
            raise TypeError(f"QAT: deployed {node.op} {node.name!r} is no module of the "
                            "captured graph")
        users = list(fx_nodes[mod].users)
        bn = None
        if len(users) == 1 and users[0].op == "call_module" and \
                type(gm.get_submodule(users[0].target)).__name__ == "BatchNorm2d" and \
                mod not in g.tensors:  # int8rt folded it: the conv's own output is gone
            bn = users[0].name
            folded[bn] = mod
        y = node.outputs[0]
        out = _to_fx(g, to_float.get(y, y), fx_names) or (bn or mod)
        weighted[mod] = Weighted(mod, bn, origin(node.inputs[0]), out, node.name in floats,
                                 tuple(node.attrs.get("clip", NO_CLIP)))
    for n in gm.graph.nodes:
        if n.op == "call_module" and type(gm.get_submodule(n.target)).__name__ == \
                "BatchNorm2d" and n.name not in folded:
            raise TypeError(f"QAT: BatchNorm2d {n.name!r} does not follow a Conv it can fold "
                            "into (int8rt would run it as a separate Mul + Add)")
    qnodes = {n.name: n for n in qg.nodes}
    ops: dict[str, RoundingOp] = {}
    for c in program.calls:
        y = c.outputs[0]
        if y in buf_to_fx and c.node in fx_names and c.node not in weighted and \
                c.kernel != "quantize":
            n = qnodes[c.node]
            ops[c.node] = RoundingOp(c.kernel, n.op, dict(n.attrs), buf_to_fx[y])
    fx_ranges = {}
    for f, r in ranges.items():
        t = _to_fx(g, f, fx_names)
        if t is not None and t not in fx_ranges:
            fx_ranges[t] = (float(r[0]), float(r[1]))
    return Plan(points, weighted, folded, ops, g, qg, program, fx_ranges)
