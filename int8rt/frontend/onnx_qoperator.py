"""ONNX QOperator import: each QLinear* node is rewritten as the QDQ pattern it stands for
(DequantizeLinear on its integer inputs, the float op, QuantizeLinear on its output), so one
importer (frontend/onnx_qdq.py) handles both formats with the same rules.

    QLinearConv(x, sx, zx, w, sw, zw, sy, zy, B) == Q(Conv(DQ(x), DQ(w), DQ(B, sx*sw)), sy, zy)

The int32 bias of QLinearConv has scale `sx * sw[c]` and zero point 0 by the op's definition,
so its DequantizeLinear gets that scale (a float32 product, as ONNX Runtime computes it).

Ops that quantize activations at run time (DynamicQuantizeLinear; ConvInteger / MatMulInteger,
whose inputs it produces) have no static form: they are refused here, naming the node; they
belong to dynamic quantization.
"""

from __future__ import annotations

import numpy as np
import onnx
from onnx import helper, numpy_helper

_MS = "com.microsoft"

# op -> (input triples (value, scale, zero point) as input indices, output (scale, zp),
#         the float op, the float op's attributes to keep)
_UNARY = {"QLinearSigmoid": "Sigmoid", "QLinearLeakyRelu": "LeakyRelu",
          "QLinearSoftmax": "Softmax", "QLinearGlobalAveragePool": "GlobalAveragePool",
          "QLinearAveragePool": "AveragePool"}
_BINARY = {"QLinearAdd": "Add", "QLinearMul": "Mul"}
DYNAMIC_OPS = ("DynamicQuantizeLinear", "ConvInteger", "MatMulInteger", "DynamicQuantizeLSTM",
               "DynamicQuantizeMatMul", "MatMulIntegerToFloat")
QOPERATOR_OPS = ("QLinearConv", "QLinearMatMul", "QGemm", "QLinearConcat", *_UNARY, *_BINARY,
                 *DYNAMIC_OPS)
# ops a QOperator model applies straight to integer tensors (they only move values): they get
# the parameters of their input (DQ -> op -> Q with the same scale and zero point)
_MOVEMENT = ("MaxPool", "GlobalMaxPool", "Reshape", "Flatten", "Transpose", "Squeeze",
             "Unsqueeze", "Identity")


class QOperatorError(ValueError):
    """A QOperator node int8rt cannot import statically (the message names the node)."""


class _Rewriter:
    def __init__(self, model: onnx.ModelProto) -> None:
        self.model = model
        self.taken = {x for n in model.graph.node for x in (*n.input, *n.output)}
        self.taken |= {t.name for t in model.graph.initializer}
        self.inits = {t.name: t for t in model.graph.initializer}
        self.new_inits: list[onnx.TensorProto] = []
        self.nodes: list[onnx.NodeProto] = []
        # integer tensor -> its (scale, zero point) names, for the movement ops that read it
        self.qparams_of: dict[str, tuple[str, str]] = {}

    def fresh(self, base: str) -> str:
        name, k = base, 0
        while name in self.taken:
            k += 1
            name = f"{base}_{k}"
        self.taken.add(name)
        return name

    def dq(self, name: str, x: str, s: str, z: str, axis: int | None = None) -> str:
        out = self.fresh(f"{x}/dq")
        kw = {} if axis is None else {"axis": axis}
        self.nodes.append(helper.make_node("DequantizeLinear", [x, s, z] if z else [x, s],
                                           [out], name=f"{name}/dq_{len(self.nodes)}", **kw))
        return out

    def q(self, name: str, y_float: str, s: str, z: str, y: str) -> None:
        self.qparams_of[y] = (s, z)
        self.nodes.append(helper.make_node("QuantizeLinear", [y_float, s, z] if z else
                                           [y_float, s], [y], name=f"{name}/q"))

    def const(self, name: str) -> np.ndarray:
        if name not in self.inits:
            raise KeyError(name)
        return numpy_helper.to_array(self.inits[name])

    def rewrite(self, idx: int, n: onnx.NodeProto) -> None:
        name = n.name or f"{n.op_type}_{idx}"
        op, ins = n.op_type, list(n.input) + [""] * 9
        attrs = list(n.attribute)
        if op in DYNAMIC_OPS:
            raise QOperatorError(
                f"{op} node {name!r} quantizes activations at run time (dynamic "
                "quantization); int8rt's static import cannot run it")
        if op == "QLinearConv":
            x = self.dq(name, ins[0], ins[1], ins[2])
            w_scale = ins[4]
            axis = 0 if self.const(w_scale).size > 1 else None
            w = self.dq(name, ins[3], ins[4], ins[5], axis)
            conv_in = [x, w]
            if ins[8]:
                sx, sw = self.const(ins[1]).astype(np.float32), self.const(w_scale)
                bs = self.fresh(f"{name}/bias_scale")
                self.new_inits.append(numpy_helper.from_array(
                    (sx * sw.astype(np.float32)).astype(np.float32).reshape(sw.shape), bs))
                conv_in.append(self.dq(name, ins[8], bs, "", axis))
            yf = self.fresh(f"{n.output[0]}/float")
            self.nodes.append(helper.make_node("Conv", conv_in, [yf], name=name))
            self.nodes[-1].attribute.extend(attrs)
            self.q(name, yf, ins[6], ins[7], n.output[0])
        elif op == "QGemm":
            a = self.dq(name, ins[0], ins[1], ins[2])
            b_scale = self.const(ins[4])
            trans_b = next((x.i for x in attrs if x.name == "transB"), 0)
            axis = (0 if trans_b else 1) if b_scale.size > 1 else None
            gemm_in = [a, self.dq(name, ins[3], ins[4], ins[5], axis)]
            if ins[6]:
                sa = self.const(ins[1]).astype(np.float32)
                bs = self.fresh(f"{name}/bias_scale")
                self.new_inits.append(numpy_helper.from_array(
                    (sa * b_scale.astype(np.float32)).astype(np.float32).reshape(b_scale.shape),
                    bs))
                gemm_in.append(self.dq(name, ins[6], bs, "", 0 if axis is not None else None))
            keep = [x for x in attrs if x.name in ("transA", "transB", "alpha")]
            if ins[7]:
                yf = self.fresh(f"{n.output[0]}/float")
                self.nodes.append(helper.make_node("Gemm", gemm_in, [yf], name=name))
                self.nodes[-1].attribute.extend(keep)
                self.q(name, yf, ins[7], ins[8], n.output[0])
            else:  # no output scale: the result is float
                self.nodes.append(helper.make_node("Gemm", gemm_in, [n.output[0]], name=name))
                self.nodes[-1].attribute.extend(keep)
        elif op == "QLinearMatMul":
            a = self.dq(name, ins[0], ins[1], ins[2])
            b_scale = self.const(ins[4]) if ins[4] in self.inits else np.zeros(())
            b = self.dq(name, ins[3], ins[4], ins[5], 1 if b_scale.size > 1 else None)
            yf = self.fresh(f"{n.output[0]}/float")
            self.nodes.append(helper.make_node("MatMul", [a, b], [yf], name=name))
            self.q(name, yf, ins[6], ins[7], n.output[0])
        elif op in _BINARY:
            a = self.dq(name, ins[0], ins[1], ins[2])
            b = self.dq(name, ins[3], ins[4], ins[5])
            yf = self.fresh(f"{n.output[0]}/float")
            self.nodes.append(helper.make_node(_BINARY[op], [a, b], [yf], name=name))
            self.q(name, yf, ins[6], ins[7], n.output[0])
        elif op in _UNARY:
            keep = [a for a in attrs if a.name != "channels_last"]
            if any(a.name == "channels_last" and a.i for a in attrs):
                raise QOperatorError(f"{op} node {name!r}: channels_last=1 is not supported")
            if op == "QLinearSoftmax":
                # the contrib op carries the ONNX opset its axis semantics follow; int8rt's
                # importer implements the opset-13 form (one axis)
                version = next((a.i for a in attrs if a.name == "opset"), 13)
                if version < 13:
                    raise QOperatorError(f"QLinearSoftmax node {name!r}: opset {version} "
                                         "(flattening) semantics are not supported")
                keep = [a for a in keep if a.name != "opset"]
            x = self.dq(name, ins[0], ins[1], ins[2])
            yf = self.fresh(f"{n.output[0]}/float")
            self.nodes.append(helper.make_node(_UNARY[op], [x], [yf], name=name))
            self.nodes[-1].attribute.extend(keep)
            self.q(name, yf, ins[3], ins[4], n.output[0])
        elif op == "QLinearConcat":
            rest = list(n.input)
            ys, yz, triples = rest[0], rest[1], rest[2:]
            if len(triples) % 3:
                raise QOperatorError(f"QLinearConcat node {name!r}: inputs are not "
                                     "(value, scale, zero point) triples")
            xs = [self.dq(name, *triples[k:k + 3]) for k in range(0, len(triples), 3)]
            yf = self.fresh(f"{n.output[0]}/float")
            self.nodes.append(helper.make_node("Concat", xs, [yf], name=name))
            self.nodes[-1].attribute.extend(attrs)
            self.q(name, yf, ys, yz, n.output[0])
        else:  # pragma: no cover - QOPERATOR_OPS and the branches above agree
            raise AssertionError(op)

    def run(self) -> onnx.ModelProto:
        g = self.model.graph
        changed = False
        for idx, n in enumerate(g.node):
            if n.op_type == "QuantizeLinear":
                self.qparams_of[n.output[0]] = (n.input[1], n.input[2] if len(n.input) > 2
                                                else "")
            if n.op_type in _MOVEMENT and n.input and n.input[0] in self.qparams_of:
                s_name, z_name = self.qparams_of[n.input[0]]
                name = n.name or f"{n.op_type}_{idx}"
                x = self.dq(name, n.input[0], s_name, z_name)
                m = onnx.NodeProto()
                m.CopyFrom(n)
                m.input[0] = x
                yf = self.fresh(f"{n.output[0]}/float")
                m.output[0] = yf
                self.nodes.append(m)
                self.q(name, yf, s_name, z_name, n.output[0])
                changed = True
                continue
            if n.op_type in QOPERATOR_OPS and n.domain in ("", "ai.onnx", _MS):
                try:
                    self.rewrite(idx, n)
                except KeyError as e:
                    raise QOperatorError(f"{n.op_type} node {n.name or idx!r}: {e} must be a "
                                         "constant (an initializer)") from None
                changed = True
            else:
                self.nodes.append(n)
        if not changed:
            return self.model
        m = onnx.ModelProto()
        m.CopyFrom(self.model)
        del m.graph.node[:]
        m.graph.node.extend(self.nodes)
        m.graph.initializer.extend(self.new_inits)
        if not any(o.domain in ("", "ai.onnx") for o in m.opset_import):
            m.opset_import.append(helper.make_opsetid("", 13))
        return m


def qoperator_to_qdq(model: onnx.ModelProto) -> onnx.ModelProto:
    """The model with every QOperator node replaced by its QDQ pattern (the same object when
    there is none)."""
    return _Rewriter(model).run()
