"""NCHW -> NHWC layout conversion.

Invariant after the pass: every non-constant 4-D tensor holds NHWC data, except the model's
own 4-D inputs and outputs, which keep their names and NCHW layout (a Transpose(0, 2, 3, 1)
follows each input, a Transpose(0, 3, 1, 2) precedes each output). Per op:

- Conv / ConvTranspose / pools / GlobalAveragePool / Resize / unary ops: layout-agnostic
  attributes (spatial pairs), Conv weights [OC, IC/g, KH, KW] -> [OC, KH, KW, IC/g];
  ConvTranspose keeps ONNX's weight layout for `lower_conv_transpose`;
- Concat / Split / Softmax: axis remapped; Slice: starts/steps permuted; Pad: both halves
  permuted; Transpose: perm conjugated by the layout permutation;
- Add / Sub / Mul / Div with a 4-D result: constant operands broadcast to 4-D and permuted,
  lower-rank activations reshaped to 4-D then permuted;
- Reshape (Flatten) from or to 4-D is the one layout-sensitive op: it needs NCHW element
  order, so a Transpose is inserted on that side, unless H*W == 1 or C == 1, where the
  NHWC and NCHW orders coincide and a Reshape suffices.

`simplify_data_movement` then cancels the inverse Transpose pairs this leaves behind.
"""

from __future__ import annotations

from int8rt import ir, opset
from int8rt.passes.shape_inference import set_shapes
from int8rt.passes.simplify import trivial_perm

TO_NHWC = (0, 2, 3, 1)  # nhwc = nchw.transpose(TO_NHWC)
TO_NCHW = (0, 3, 1, 2)
AXIS = (0, 3, 1, 2)  # NCHW axis a lives at NHWC axis AXIS[a]
# layout-agnostic: the op's NHWC form is its definition (opset.SPATIAL_OPS: layout "spatial")
SPATIAL = ("Conv", "ConvTranspose", *opset.SPATIAL_OPS)
ELEMENTWISE = opset.BINARY_OPS


class _Rewriter:
    def __init__(self, graph: ir.Graph) -> None:
        self.g = graph
        self.orig = {k: tuple(t.shape) for k, t in graph.tensors.items()}
        self.rename: dict[str, str] = {}
        self.nchw_views: dict[str, str] = {}

    def is_act4(self, name: str) -> bool:
        t = self.g.tensors.get(name)
        return bool(name) and t is not None and not t.is_const and len(self.orig[name]) == 4

    def emit(self, op: str, inputs: list[str], outputs: list[str], attrs: dict, name: str,
             out_shape: tuple[int, ...] | None = None) -> None:
        node = ir.Node(op, name, inputs, outputs, attrs)
        if out_shape is not None:
            self.g.tensors[outputs[0]] = ir.Tensor(outputs[0], tuple(out_shape), "float32")
        self.g.nodes.append(node)
        set_shapes(self.g, node)

    def new_name(self, base: str) -> str:
        name = self.g.unique_name(base)
        self.g.tensors[name] = ir.Tensor(name, (), "float32")  # reserve; shape set on emit
        return name

    def src(self, name: str) -> str:
        return self.rename.get(name, name)

    def dst(self, name: str) -> str:
        return self.rename.get(name, name)

    def nchw_view(self, name: str) -> str:
        """A tensor holding the NCHW data of 4-D activation `name`."""
        if name in self.g.inputs:
            return name
        if name not in self.nchw_views:
            v = self.new_name(name + "_nchw")
            self.emit("Transpose", [self.src(name)], [v], {"perm": TO_NCHW}, v)
            self.nchw_views[name] = v
        return self.nchw_views[name]

    def const_nhwc(self, name: str) -> str:
        data = self.g.const(name)
        if data.ndim == 0 or data.size == 1:
            return name
        data = data.reshape((1,) * (4 - data.ndim) + data.shape).transpose(TO_NHWC)
        return self.g.add_const(name + "_nhwc", data)

    def operand4(self, name: str) -> str:
        """An operand of a 4-D elementwise result, in NHWC."""
        if self.g.tensor(name).is_const:
            return self.const_nhwc(name)
        shape = self.orig[name]
        if len(shape) == 4:
            return self.src(name)
        # a lower-rank activation broadcast against NCHW: make it 4-D NCHW, then NHWC
        s4 = (1,) * (4 - len(shape)) + shape
        nhwc = tuple(s4[p] for p in TO_NHWC)
        out = self.new_name(name + "_nhwc")
        if trivial_perm(s4, TO_NHWC):
            self.emit("Reshape", [name], [out], {"shape": nhwc}, out)
        else:
            mid = self.new_name(name + "_4d")
            self.emit("Reshape", [name], [mid], {"shape": s4}, mid)
            self.emit("Transpose", [mid], [out], {"perm": TO_NHWC}, out)
        return out

    def node(self, n: ir.Node) -> None:
        op, a = n.op, dict(n.attrs)
        four_in = self.is_act4(n.inputs[0]) if n.inputs else False
        four_out = any(self.is_act4(o) for o in n.outputs)
        outs = [self.dst(o) for o in n.outputs]
        if op in SPATIAL:
            ins = [self.src(n.inputs[0])] + list(n.inputs[1:])
            if op == "Conv":
                w = self.g.const(n.inputs[1])
                ins[1] = self.g.add_const(n.inputs[1] + "_nhwc", w.transpose(0, 2, 3, 1))
            self.emit(op, ins, outs, a, n.name)
        elif op in opset.UNARY_OPS or op in opset.FLOAT_UNARY_OPS:
            self.emit(op, [self.src(n.inputs[0])], outs, a, n.name)
        elif op in ELEMENTWISE and four_out:
            self.emit(op, [self.operand4(i) for i in n.inputs], outs, a, n.name)
        elif op == "Concat" and four_out:
            a["axis"] = AXIS[a["axis"]]
            self.emit(op, [self.operand4(i) for i in n.inputs], outs, a, n.name)
        elif op in ("Split", "Softmax") and four_in:
            a["axis"] = AXIS[a["axis"]]
            self.emit(op, [self.src(n.inputs[0])], outs, a, n.name)
        elif op == "Slice" and four_in:
            a["starts"] = tuple(a["starts"][p] for p in TO_NHWC)
            a["steps"] = tuple(a["steps"][p] for p in TO_NHWC)
            shape = tuple(self.orig[n.outputs[0]][p] for p in TO_NHWC)
            self.emit(op, [self.src(n.inputs[0])], outs, a, n.name, shape)
        elif op == "Pad" and four_in:
            p = list(a["pads"])
            a["pads"] = tuple(p[k] for k in TO_NHWC) + tuple(p[4 + k] for k in TO_NHWC)
            self.emit(op, [self.src(n.inputs[0])], outs, a, n.name)
        elif op == "Transpose" and four_in:
            perm = a["perm"]
            a["perm"] = tuple(TO_NCHW[perm[TO_NHWC[k]]] for k in range(4))
            self.emit(op, [self.src(n.inputs[0])], outs, a, n.name)
        elif op == "Reshape" and (four_in or four_out):
            x = n.inputs[0]
            if four_in:
                nhwc_shape = tuple(self.orig[x][p] for p in TO_NHWC)
                x = self.src(x) if trivial_perm(nhwc_shape, TO_NCHW) else self.nchw_view(x)
            target = tuple(a["shape"])
            if four_out:
                nhwc = tuple(target[p] for p in TO_NHWC)
                if trivial_perm(target, TO_NHWC):
                    self.emit(op, [x], outs, {"shape": nhwc}, n.name)
                else:
                    mid = self.new_name(n.outputs[0] + "_nchw")
                    self.emit(op, [x], [mid], {"shape": target}, n.name)
                    self.emit("Transpose", [mid], outs, {"perm": TO_NHWC}, n.name + "/nhwc")
            else:
                self.emit(op, [x], outs, a, n.name)
        elif any(self.is_act4(i) for i in n.inputs) or four_out:
            # an op with no NHWC form: run it on NCHW data and convert what it produces
            ins = [self.nchw_view(i) if self.is_act4(i) else i for i in n.inputs]
            tmp = [self.new_name(o + "_nchw") if self.is_act4(o) else d
                   for o, d in zip(n.outputs, outs)]
            self.g.meta["layout"] = "NCHW"
            self.emit(op, ins, tmp, a, n.name)
            self.g.meta["layout"] = "NHWC"
            for o, t, d in zip(n.outputs, tmp, outs):
                if t != d:
                    self.emit("Transpose", [t], [d], {"perm": TO_NHWC}, d)
        else:
            self.emit(op, list(n.inputs), outs, a, n.name)


def to_nhwc(graph: ir.Graph) -> ir.Graph:
    if graph.meta.get("layout", "NHWC") != "NCHW":
        return graph
    old = graph.topological()
    r = _Rewriter(graph)
    graph.nodes = []
    graph.meta["layout"] = "NHWC"
    for i in graph.inputs:
        if r.is_act4(i):
            r.rename[i] = r.new_name(i + "_nhwc")
            r.emit("Transpose", [i], [r.rename[i]], {"perm": TO_NHWC}, r.rename[i])
    outs4 = [o for o in dict.fromkeys(graph.outputs) if r.is_act4(o) and o not in graph.inputs]
    for o in outs4:
        r.rename[o] = r.new_name(o + "_nhwc")
    for n in old:
        r.node(n)
    for o in outs4:
        r.emit("Transpose", [r.rename[o]], [o], {"perm": TO_NCHW}, o + "/to_nchw")
    return graph
