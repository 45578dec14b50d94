"""Graph capture: a torch model -> a torch.fx GraphModule and an ONNX model of the same graph
whose tensor names are the fx node names.

int8rt decides where the deployed model rounds by importing, fusing, quantizing and lowering an
ONNX model (int8rt.qat.plan). Emitting that ONNX model from the fx graph ourselves, one fx node
at a time and under the node's own name, is what lets the runtime's answer ("tensor `add_3` is
requantized, `conv_2` is fused away") be read back onto the torch graph without guessing.

Supported (anything else raises a TypeError naming the node): Conv2d, ConvTranspose2d, Linear
(2-D input), BatchNorm2d, ReLU, ReLU6, LeakyReLU, SiLU, Hardswish, Hardsigmoid, Sigmoid, Tanh,
GELU (functional forms too), +, -, * (tensors or Python numbers), torch.cat, flatten, view /
reshape, chunk / split along channels, Upsample / interpolate (nearest or bilinear), MaxPool2d,
AvgPool2d, AdaptiveAvgPool2d(1), Dropout, Identity.
"""

from __future__ import annotations

import operator
from collections.abc import Callable
from typing import Any

import numpy as np
import onnx
import torch
from onnx import TensorProto, helper, numpy_helper
from torch import fx, nn
from torch.fx.passes.shape_prop import ShapeProp
from torch.nn import functional as F

OPSET = 17


def trace(model: nn.Module, example_inputs: tuple[torch.Tensor, ...]) -> fx.GraphModule:
    """torch.fx symbolic trace of `model`, with every node's output shape (ShapeProp on the
    example inputs) in `node.meta["tensor_meta"]`."""
    try:
        gm = fx.symbolic_trace(model)
    except Exception as e:
        raise TypeError(f"QAT: torch.fx cannot trace {type(model).__name__}: {e}") from e
    was = gm.training
    gm.eval()
    with torch.no_grad():
        ShapeProp(gm).propagate(*example_inputs)
    gm.train(was)
    return gm


def shape(node: fx.Node) -> tuple[int, ...]:
    tm = node.meta.get("tensor_meta")
    if tm is None or not hasattr(tm, "shape"):
        raise TypeError(f"QAT: node {node.name!r} does not produce one tensor")
    return tuple(int(d) for d in tm.shape)


_ACT_MODULES = (nn.ReLU, nn.ReLU6, nn.LeakyReLU, nn.SiLU, nn.Hardswish, nn.Hardsigmoid,
                nn.Sigmoid, nn.Tanh, nn.GELU)
_ACT_FUNCS = {F.relu: "relu", torch.relu: "relu", F.relu6: "relu6", F.leaky_relu: "leaky_relu",
              F.silu: "silu", F.hardswish: "hardswish", F.hardsigmoid: "hardsigmoid",
              torch.sigmoid: "sigmoid", F.sigmoid: "sigmoid", torch.tanh: "tanh",
              F.tanh: "tanh", F.gelu: "gelu"}
_ACT_METHODS = {"relu": "relu", "sigmoid": "sigmoid", "tanh": "tanh"}
_BINARY = {operator.add: "Add", torch.add: "Add", operator.iadd: "Add", operator.sub: "Sub",
           torch.sub: "Sub", operator.mul: "Mul", torch.mul: "Mul", operator.imul: "Mul"}
_BINARY_METHODS = {"add": "Add", "sub": "Sub", "mul": "Mul"}


def act_kind(node: fx.Node, mod: nn.Module | None) -> tuple[str, dict] | None:
    """("relu" | "relu6" | ..., attributes) when `node` is an activation, else None."""
    if node.op == "call_module":
        m = mod
        table = {nn.ReLU: "relu", nn.ReLU6: "relu6", nn.LeakyReLU: "leaky_relu",
                 nn.SiLU: "silu", nn.Hardswish: "hardswish", nn.Hardsigmoid: "hardsigmoid",
                 nn.Sigmoid: "sigmoid", nn.Tanh: "tanh", nn.GELU: "gelu"}
        kind = table.get(type(m))
        if kind is None:
            return None
        attrs = {}
        if kind == "leaky_relu":
            attrs["alpha"] = float(m.negative_slope)
        if kind == "gelu":
            attrs["approximate"] = m.approximate
        return kind, attrs
    if node.op == "call_function" and node.target in _ACT_FUNCS:
        kind = _ACT_FUNCS[node.target]
        attrs = {}
        if kind == "leaky_relu":
            ns = node.kwargs.get("negative_slope", node.args[1] if len(node.args) > 1 else 0.01)
            attrs["alpha"] = float(ns)
        if kind == "gelu":
            attrs["approximate"] = node.kwargs.get("approximate", "none")
        return kind, attrs
    if node.op == "call_method" and node.target in _ACT_METHODS:
        return _ACT_METHODS[node.target], {}
    return None


def binary_kind(node: fx.Node) -> str | None:
    if node.op == "call_function" and node.target in _BINARY:
        return _BINARY[node.target]
    if node.op == "call_method" and node.target in _BINARY_METHODS:
        return _BINARY_METHODS[node.target]
    return None


def _is_shape_query(node: fx.Node) -> bool:
    """x.size(), x.size(d), x.shape, x.shape[d], x.dim(): integers, not tensors."""
    if node.op == "call_method" and node.target in ("size", "dim"):
        return True
    if node.op == "call_function" and node.target is getattr and node.args[1] == "shape":
        return True
    return node.op == "call_function" and node.target is operator.getitem and isinstance(
        node.args[0], fx.Node) and _is_shape_query(node.args[0])


def _pair(v: Any) -> tuple[int, int]:
    return (int(v), int(v)) if isinstance(v, int) else (int(v[0]), int(v[1]))


def conv_pads(m: nn.Conv2d, in_shape: tuple[int, ...]) -> tuple[int, int, int, int]:
    """ONNX pads (top, left, bottom, right) of a zero-padded Conv2d."""
    if m.padding_mode != "zeros":
        raise TypeError(f"QAT: {m} pads with {m.padding_mode!r}; only zero padding is "
                        "supported")
    if isinstance(m.padding, str):
        if m.padding == "valid":
            return (0, 0, 0, 0)
        pads = []  # 'same' (stride 1): total = dilation * (k - 1), the extra one at the end
        for k, d in zip(m.kernel_size, m.dilation):
            total = d * (k - 1)
            pads.append((total // 2, total - total // 2))
        return (pads[0][0], pads[1][0], pads[0][1], pads[1][1])
    ph, pw = _pair(m.padding)
    return (ph, pw, ph, pw)


class Emitter:
    """Writes the fx graph as ONNX. `weights(node)` may override the (weight, bias) of a
    Conv / ConvTranspose / Linear call (the deploy export passes the folded, fake-quantized
    ones) and `folded` maps conv nodes to the BatchNorm node folded into them: the conv then
    writes the BatchNorm's output and the BatchNorm is left out."""

    def __init__(self, gm: fx.GraphModule,
                 weights: Callable[[fx.Node], tuple[np.ndarray, np.ndarray | None]] | None = None,
                 folded: dict[str, str] | None = None) -> None:
        self.gm = gm
        self.mods = dict(gm.named_modules())
        self.weights = weights
        self.folded = dict(folded or {})
        self.skip_bn = frozenset(self.folded.values())
        self.nodes: list[onnx.NodeProto] = []
        self.inits: list[onnx.TensorProto] = []
        self.names: set[str] = set()
        self.outputs: list[str] = []

    # -- helpers -------------------------------------------------------------------------
    def const(self, base: str, arr: np.ndarray) -> str:
        name = base
        k = 0
        while name in self.names:
            k += 1
            name = f"{base}_{k}"
        self.names.add(name)
        self.inits.append(numpy_helper.from_array(np.ascontiguousarray(arr), name))
        return name

    def add(self, op: str, ins: list[str], outs: list[str], name: str, **attrs: Any) -> None:
        self.nodes.append(helper.make_node(op, ins, outs, name=name, **attrs))

    def arg(self, a: Any, node: fx.Node) -> str:
        if isinstance(a, fx.Node):
            return a.name
        if isinstance(a, (int, float)):
            return self.const(f"{node.name}_const", np.array(float(a), np.float32))
        raise TypeError(f"QAT: node {node.name!r} has an operand of type {type(a).__name__}")

    def module(self, node: fx.Node) -> nn.Module:
        return self.mods[node.target]

    # -- the graph -----------------------------------------------------------------------
    def run(self) -> onnx.ModelProto:
        inputs = []
        for node in self.gm.graph.nodes:
            if node.op == "placeholder":
                s = shape(node)
                inputs.append(helper.make_tensor_value_info(
                    node.name, TensorProto.FLOAT, ["batch", *s[1:]]))
            elif node.op == "output":
                outs = node.args[0]
                outs = outs if isinstance(outs, (tuple, list)) else (outs,)
                for o in outs:
                    if not isinstance(o, fx.Node):
                        raise TypeError("QAT: model outputs must be tensors")
                    self.outputs.append(o.name)
            else:
                self.node(node)
        # a tensor output twice, or an input returned as is, gets its own Identity name
        outputs = []
        for o in self.outputs:
            outputs.append(helper.make_tensor_value_info(o, TensorProto.FLOAT, None))
        graph = helper.make_graph(self.nodes, "qat_capture", inputs, outputs, self.inits)
        return helper.make_model(graph, opset_imports=[helper.make_opsetid("", OPSET)],
                                 producer_name="int8rt.qat")

    def node(self, node: fx.Node) -> None:
        if _is_shape_query(node):
            return  # x.size(...) / x.shape[...]: Python ints, folded into the Reshape target
        mod = self.module(node) if node.op == "call_module" else None
        act = act_kind(node, mod)
        y = node.name
        if act is not None:
            self.activation(node, act[0], act[1])
        elif node.op == "call_module" and isinstance(mod, (nn.Conv2d, nn.ConvTranspose2d,
                                                            nn.Linear)):
            self.weighted(node, mod)
        elif node.op == "call_module" and isinstance(mod, nn.BatchNorm2d):
            x = node.args[0].name
            if node.name in self.skip_bn:
                return
            c = mod.num_features
            w = mod.weight.detach() if mod.weight is not None else torch.ones(c)
            b = mod.bias.detach() if mod.bias is not None else torch.zeros(c)
            ins = [x] + [self.const(f"{node.target}.{k}", v.float().numpy()) for k, v in (
                ("weight", w), ("bias", b), ("running_mean", mod.running_mean),
                ("running_var", mod.running_var))]
            self.add("BatchNormalization", ins, [y], y, epsilon=float(mod.eps))
        elif node.op == "call_module" and isinstance(mod, (nn.Dropout, nn.Identity)):
            self.add("Identity", [node.args[0].name], [y], y)
        elif node.op == "call_module" and isinstance(mod, nn.MaxPool2d):
            self.maxpool(node, mod.kernel_size, mod.stride, mod.padding, mod.dilation,
                         mod.ceil_mode)
        elif node.op == "call_function" and node.target is F.max_pool2d:
            a = list(node.args) + [None] * 6
            kw = node.kwargs
            k = kw.get("kernel_size", a[1])
            self.maxpool(node, k, kw.get("stride", a[2]) or k, kw.get("padding", a[3] or 0),
                         kw.get("dilation", a[4] or 1), kw.get("ceil_mode", a[5] or False))
        elif node.op == "call_module" and isinstance(mod, nn.AvgPool2d):
            k, s = _pair(mod.kernel_size), _pair(mod.stride or mod.kernel_size)
            p = _pair(mod.padding)
            if mod.ceil_mode or mod.divisor_override:
                raise TypeError(f"QAT: {node.name!r}: AvgPool2d ceil_mode / divisor_override")
            self.add("AveragePool", [node.args[0].name], [y], y, kernel_shape=list(k),
                     strides=list(s), pads=[p[0], p[1], p[0], p[1]],
                     count_include_pad=int(mod.count_include_pad))
        elif (node.op == "call_module" and isinstance(mod, nn.AdaptiveAvgPool2d)) or (
                node.op == "call_function" and node.target is F.adaptive_avg_pool2d):
            size = mod.output_size if mod is not None else node.args[1]
            if size not in (1, (1, 1), [1, 1]):
                raise TypeError(f"QAT: {node.name!r}: adaptive average pooling to {size} "
                                "(only global, output size 1)")
            self.add("GlobalAveragePool", [node.args[0].name], [y], y)
        elif binary_kind(node) is not None:
            op = binary_kind(node)
            a, b = node.args[0], node.args[1] if len(node.args) > 1 else node.kwargs["other"]
            if "alpha" in node.kwargs:
                raise TypeError(f"QAT: {node.name!r}: add/sub with alpha")
            self.add(op, [self.arg(a, node), self.arg(b, node)], [y], y)
        elif node.op == "call_function" and node.target is torch.cat:
            xs = node.args[0]
            dim = node.kwargs.get("dim", node.args[1] if len(node.args) > 1 else 0)
            self.add("Concat", [x.name for x in xs], [y], y, axis=int(dim))
        elif (node.op == "call_module" and isinstance(mod, nn.Flatten)) or (
                node.op in ("call_function", "call_method") and node.target in (
                    torch.flatten, "flatten", "view", "reshape")):
            target = list(shape(node))
            if target and target[0] == shape(node.args[0])[0]:
                target[0] = -1  # the batch dimension follows the input
            self.add("Reshape", [node.args[0].name,
                                 self.const(f"{y}_shape", np.array(target, np.int64))], [y], y)
        elif node.op in ("call_function", "call_method") and node.target in (
                torch.chunk, torch.split, "chunk", "split"):
            self.split(node)
        elif node.op == "call_function" and node.target is operator.getitem:
            src = node.args[0]
            if not (isinstance(src, fx.Node) and src.meta.get("qat_split")):
                raise TypeError(f"QAT: node {node.name!r}: indexing is supported only on "
                                "the pieces of chunk / split")
            # the Split wrote this piece under the getitem node's name (split() below)
        elif (node.op == "call_module" and isinstance(mod, nn.Upsample)) or (
                node.op == "call_function" and node.target is F.interpolate):
            self.resize(node, mod)
        else:
            what = type(mod).__name__ if mod is not None else getattr(
                node.target, "__name__", str(node.target))
            raise TypeError(f"QAT: node {node.name!r} ({node.op} {what}) is not supported")

    def activation(self, node: fx.Node, kind: str, attrs: dict) -> None:
        x, y = node.args[0].name, node.name
        if kind == "relu":
            self.add("Relu", [x], [y], y)
        elif kind == "relu6":
            lo = self.const(f"{y}_min", np.array(0.0, np.float32))
            hi = self.const(f"{y}_max", np.array(6.0, np.float32))
            self.add("Clip", [x, lo, hi], [y], y)
        elif kind == "leaky_relu":
            self.add("LeakyRelu", [x], [y], y, alpha=attrs["alpha"])
        elif kind == "silu":  # int8rt fuses x * Sigmoid(x) into one Silu table
            self.add("Sigmoid", [x], [f"{y}__sigmoid"], f"{y}__sigmoid")
            self.add("Mul", [x, f"{y}__sigmoid"], [y], y)
        elif kind == "hardswish":
            self.add("HardSwish", [x], [y], y)
        elif kind == "hardsigmoid":
            self.add("HardSigmoid", [x], [y], y, alpha=1.0 / 6.0, beta=0.5)
        elif kind == "sigmoid":
            self.add("Sigmoid", [x], [y], y)
        elif kind == "tanh":
            self.add("Tanh", [x], [y], y)
        elif kind == "gelu":
            self.add("Gelu", [x], [y], y, approximate=attrs["approximate"])

    def weighted(self, node: fx.Node, m: nn.Module) -> None:
        x, y = node.args[0].name, self.folded.get(node.name, node.name)
        if self.weights is not None:
            w, b = self.weights(node)
        else:
            w = m.weight.detach().float().numpy()
            b = m.bias.detach().float().numpy() if m.bias is not None else None
        ins = [x, self.const(f"{node.target}.weight", w)]
        if b is not None:
            ins.append(self.const(f"{node.target}.bias", b))
        if isinstance(m, nn.Linear):
            if len(shape(node.args[0])) != 2:
                raise TypeError(f"QAT: Linear {node.name!r} on a rank-"
                                f"{len(shape(node.args[0]))} input (2-D only)")
            self.add("Gemm", ins, [y], node.name, transB=1)
        elif isinstance(m, nn.Conv2d):
            self.add("Conv", ins, [y], node.name, kernel_shape=list(m.kernel_size),
                     strides=list(_pair(m.stride)),
                     pads=list(conv_pads(m, shape(node.args[0]))),
                     dilations=list(_pair(m.dilation)), group=int(m.groups))
        else:
            if m.padding_mode != "zeros":
                raise TypeError(f"QAT: {node.name!r}: ConvTranspose2d {m.padding_mode!r}")
            ph, pw = _pair(m.padding)
            self.add("ConvTranspose", ins, [y], node.name, kernel_shape=list(m.kernel_size),
                     strides=list(_pair(m.stride)), pads=[ph, pw, ph, pw],
                     output_padding=list(_pair(m.output_padding)),
                     dilations=list(_pair(m.dilation)), group=int(m.groups))

    def maxpool(self, node: fx.Node, k, s, p, d, ceil: bool) -> None:
        k, s, p, d = _pair(k), _pair(s if s is not None else k), _pair(p), _pair(d)
        y = node.name
        self.add("MaxPool", [node.args[0].name], [y], y, kernel_shape=list(k),
                 strides=list(s), pads=[p[0], p[1], p[0], p[1]], dilations=list(d),
                 ceil_mode=int(bool(ceil)))

    def split(self, node: fx.Node) -> None:
        x = node.args[0]
        dim = node.kwargs.get("dim", node.args[2] if len(node.args) > 2 else 0)
        pieces = [u for u in node.users if u.op == "call_function" and
                  u.target is operator.getitem]
        if len(pieces) != len(node.users):
            raise TypeError(f"QAT: node {node.name!r}: the pieces of a chunk / split must "
                            "be used by indexing")
        n_in = shape(x)[int(dim)]
        if node.target in (torch.chunk, "chunk"):
            n = node.kwargs.get("chunks", node.args[1])
            step = -(-n_in // n)
            sizes = [min(step, n_in - k) for k in range(0, n_in, step)]
        else:
            spec = node.kwargs.get("split_size_or_sections", node.args[1])
            if isinstance(spec, int):
                sizes = [min(spec, n_in - k) for k in range(0, n_in, spec)]
            else:
                sizes = [int(v) for v in spec]
        by_index = {int(u.args[1]): u.name for u in pieces}
        outs = [by_index.get(k, f"{node.name}__unused{k}") for k in range(len(sizes))]
        node.meta["qat_split"] = True
        self.add("Split", [x.name, self.const(f"{node.name}_sizes", np.array(sizes, np.int64))],
                 outs, node.name, axis=int(dim))

    def resize(self, node: fx.Node, mod: nn.Module | None) -> None:
        if mod is not None:
            mode, align = mod.mode, mod.align_corners
        else:
            mode = node.kwargs.get("mode", "nearest")
            align = node.kwargs.get("align_corners")
        if mode not in ("nearest", "bilinear"):
            raise TypeError(f"QAT: {node.name!r}: interpolation mode {mode!r}")
        xs, ys = shape(node.args[0]), shape(node)
        if mode == "nearest":  # torch: src = floor(dst * in / out)
            attrs = {"mode": "nearest", "coordinate_transformation_mode": "asymmetric",
                     "nearest_mode": "floor"}
        else:
            ctm = "align_corners" if align else "pytorch_half_pixel"
            attrs = {"mode": "linear", "coordinate_transformation_mode": ctm}
        if ys[2] % xs[2] or ys[3] % xs[3]:
            raise TypeError(f"QAT: {node.name!r}: resize by a non-integer factor")
        scales = self.const(f"{node.name}_scales", np.array(
            [1.0, 1.0, ys[2] // xs[2], ys[3] // xs[3]], np.float32))
        self.add("Resize", [node.args[0].name, "", scales], [node.name], node.name, **attrs)


def to_onnx(gm: fx.GraphModule, **kw: Any) -> onnx.ModelProto:
    return Emitter(gm, **kw).run()
