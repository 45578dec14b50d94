"""Import of models quantized by ONNX Runtime's `quantize_dynamic`: their DynamicQuantizeLinear
+ MatMulInteger / ConvInteger patterns and com.microsoft DynamicQuantizeLSTM nodes become the
dynamic path's own DynQLinear / DynQConv / DynQLSTM nodes **with the file's int8 weights and
weight scales** (no re-quantization of the weights). The activations are then quantized by
int8rt's rule (symmetric int8 per row / per image, docs/QUANTIZATION.md §7) instead of ORT's
asymmetric uint8 per tensor: the same weights, a finer activation grid.

ORT's MatMul pattern (onnxruntime/quantization/operators/matmul.py, conv.py):
    x -> DynamicQuantizeLinear -> (xq, x_scale, x_zp)
    MatMulInteger(xq, Wq, x_zp, W_zp) | ConvInteger(xq, Wq, x_zp, W_zp) -> int32
    -> Cast(float) -> Mul(., Mul(x_scale, W_scale)) [-> Add(bias)]
  becomes DynQLinear(x, Wqᵀ [N, K], W_scale [N] [, bias]) / DynQConv(x, Wq, W_scale [M]
  [, bias]). Weight zero points must make Wq - W_zp fit in [-127, 127] (ORT's default QInt8
  weights are symmetric, zero point 0).
DynamicQuantizeLSTM(X, Wq [D, I, 4H], Rq [D, H, 4H], B, lens, h0, c0, P, W_scale, W_zp, R_scale,
  R_zp) becomes DynQLSTM(X, Wqᵀ [D, 4H, I], sW [D, 4H], Rqᵀ, sR, B, lens, h0, c0).
This module works on the ModelProto, before dynamic/onnx_graph.py loads it.
"""

from __future__ import annotations

import numpy as np
import onnx
from onnx import helper, numpy_helper

ORT_DYNAMIC_OPS = ("DynamicQuantizeLinear", "MatMulInteger", "ConvInteger",
                   "DynamicQuantizeLSTM")
_CONV_ATTRS = ("auto_pad", "dilations", "group", "kernel_shape", "pads", "strides")


class OrtImportError(ValueError):
    pass


def is_ort_dynamic(model: onnx.ModelProto) -> bool:
    return any(n.op_type in ORT_DYNAMIC_OPS for n in model.graph.node)


def _centered(q: np.ndarray, zp: np.ndarray | None, axis_len: int, where: str) -> np.ndarray:
    """q - zp as int8 in [-127, 127]; zp scalar or per channel (leading axis of `q`)."""
    v = q.astype(np.int32)
    if zp is not None and np.any(zp):
        z = np.asarray(zp, np.int32)
        v = v - (z.reshape((-1,) + (1,) * (q.ndim - 1)) if z.size == axis_len and z.size > 1
                 else z.reshape(()))
    if v.min(initial=0) < -127 or v.max(initial=0) > 127:
        raise OrtImportError(f"{where}: weights minus zero point leave [-127, 127] (asymmetric "
                             "uint8 weights are not supported; quantize_dynamic with "
                             "weight_type=QInt8, the default, gives symmetric ones)")
    return v.astype(np.int8)


def _per_channel(s: np.ndarray, n: int, where: str) -> np.ndarray:
    s = np.asarray(s, np.float32).reshape(-1)
    if s.size == 1:
        return np.full(n, s[0], np.float32)
    if s.size != n:
        raise OrtImportError(f"{where}: {s.size} weight scales for {n} output channels")
    return np.ascontiguousarray(s)


def key(n: onnx.NodeProto) -> tuple:
    return (n.op_type, n.name, tuple(n.output))


class _Rewriter:
    def __init__(self, model: onnx.ModelProto):
        self.model = model
        self.inits = {t.name: t for t in model.graph.initializer}
        self.producer = {o: n for n in model.graph.node for o in n.output if o}
        self.users: dict[str, list[onnx.NodeProto]] = {}
        for n in model.graph.node:
            for i in n.input:
                self.users.setdefault(i, []).append(n)
        self.new_inits: list[onnx.TensorProto] = []
        self.dead: set[tuple] = set()  # node keys (protobuf wrappers have no stable id())

    def arr(self, name: str) -> np.ndarray | None:
        """An initializer, a Constant's value, or a Reshape of those (ORT reshapes conv
        biases and per-channel scales with one)."""
        t = self.inits.get(name)
        if t is not None:
            return numpy_helper.to_array(t)
        n = self.producer.get(name)
        if n is not None and n.op_type == "Constant" and n.attribute and \
                n.attribute[0].name == "value":
            return numpy_helper.to_array(n.attribute[0].t)
        if n is not None and n.op_type == "Reshape":
            a, shape = self.arr(n.input[0]), self.arr(n.input[1])
            if a is not None and shape is not None and not np.any(np.asarray(shape) == 0):
                return a.reshape(tuple(int(v) for v in shape))
        return None

    def add(self, name: str, a: np.ndarray) -> str:
        self.new_inits.append(numpy_helper.from_array(a, name))
        return name

    def only_user(self, name: str, op: str) -> onnx.NodeProto | None:
        us = self.users.get(name, [])
        outs = {o.name for o in self.model.graph.output}
        if len(us) != 1 or us[0].op_type != op or name in outs:
            return None
        return us[0]

    def integer_op(self, node: onnx.NodeProto) -> onnx.NodeProto:
        where = f"{node.op_type} node {node.name!r}"
        dql = self.producer.get(node.input[0])
        if dql is None or dql.op_type != "DynamicQuantizeLinear":
            raise OrtImportError(f"{where}: its input does not come from DynamicQuantizeLinear")
        wq = self.arr(node.input[1])
        if wq is None:
            raise OrtImportError(f"{where}: the weights must be an initializer")
        if len(node.input) > 2 and node.input[2] and node.input[2] != dql.output[2]:
            raise OrtImportError(f"{where}: unexpected activation zero point")
        wzp = self.arr(node.input[3]) if len(node.input) > 3 and node.input[3] else None
        cast = self.only_user(node.output[0], "Cast")
        mul = cast and self.only_user(cast.output[0], "Mul")
        if mul is None:
            raise OrtImportError(f"{where}: not followed by Cast -> Mul (ORT's pattern)")
        other = mul.input[1] if mul.input[0] == cast.output[0] else mul.input[0]
        smul = self.producer.get(other)
        if smul is None or smul.op_type != "Mul" or dql.output[1] not in smul.input:
            raise OrtImportError(f"{where}: the scale is not x_scale * W_scale")
        ws = self.arr(smul.input[1] if smul.input[0] == dql.output[1] else smul.input[0])
        if ws is None:
            raise OrtImportError(f"{where}: W_scale must be an initializer")
        base = node.name or node.output[0]
        out = mul.output[0]
        self.dead.update({key(cast), key(mul)})  # the node itself is replaced
        if node.op_type == "MatMulInteger":
            if wq.ndim != 2:
                raise OrtImportError(f"{where}: weights must be 2-D [K, N]")
            n = wq.shape[1]
            q = _centered(wq.T, None if wzp is None else np.asarray(wzp).reshape(-1), n, where)
            ins = [dql.input[0], self.add(base + "_ortq", np.ascontiguousarray(q)),
                   self.add(base + "_ortscale", _per_channel(ws, n, where))]
            ins, out = self.fold_bias(ins, out, n, 0)
            return helper.make_node("DynQLinear", ins, [out], name=base, per_row=1)
        if wq.ndim != 4:
            raise OrtImportError(f"{where}: weights must be 4-D [M, C, KH, KW]")
        m = wq.shape[0]
        q = _centered(wq, None if wzp is None else np.asarray(wzp).reshape(-1), m, where)
        ins = [dql.input[0], self.add(base + "_ortq", np.ascontiguousarray(q)),
               self.add(base + "_ortscale", _per_channel(ws, m, where))]
        ins, out = self.fold_bias(ins, out, m, 2)
        attrs = {a.name: helper.get_attribute_value(a) for a in node.attribute
                 if a.name in _CONV_ATTRS}
        attrs = {k: v.decode() if isinstance(v, bytes) else v for k, v in attrs.items()}
        return helper.make_node("DynQConv", ins, [out], name=base, **attrs)

    def fold_bias(self, ins: list[str], out: str, n: int, trailing: int):
        """An Add of a constant bias right after (ORT keeps the float bias Add): folded in.
        `trailing`: how many size-1 axes follow the channel axis in the bias' shape."""
        add = self.only_user(out, "Add")
        if add is None:
            return ins, out
        b = self.arr(add.input[1] if add.input[0] == out else add.input[0])
        if b is None or b.dtype != np.float32 or b.size != n or \
                b.shape[len(b.shape) - trailing - 1:] not in ((n,) + (1,) * trailing,):
            return ins, out
        self.dead.add(key(add))
        return ins + [self.add((add.name or add.output[0]) + "_ortbias",
                               np.ascontiguousarray(b.reshape(n)))], add.output[0]

    def lstm(self, node: onnx.NodeProto) -> onnx.NodeProto:
        where = f"DynamicQuantizeLSTM node {node.name!r}"
        ins = list(node.input) + [""] * (12 - len(node.input))
        wq, rq = self.arr(ins[1]), self.arr(ins[2])
        sw, wzp, sr, rzp = (self.arr(ins[k]) if ins[k] else None for k in (8, 9, 10, 11))
        if wq is None or rq is None or sw is None or sr is None:
            raise OrtImportError(f"{where}: W, R and their scales must be initializers")
        if ins[7]:
            raise OrtImportError(f"{where}: peephole weights (P) are not supported")
        d, _, g4 = wq.shape
        hsz = g4 // 4

        def conv(q, zp, s):
            qt = np.ascontiguousarray(np.transpose(q, (0, 2, 1)))  # [D, 4H, K]
            if zp is not None and np.any(zp):
                z = np.broadcast_to(np.asarray(zp, np.int32).reshape(d, -1), (d, g4))
                qt = qt.astype(np.int32) - z[:, :, None]
            qt = np.asarray(qt, np.int32)
            if qt.min(initial=0) < -127 or qt.max(initial=0) > 127:
                raise OrtImportError(f"{where}: weights minus zero point leave [-127, 127]")
            sc = np.broadcast_to(np.asarray(s, np.float32).reshape(d, -1), (d, g4))
            return qt.astype(np.int8), np.ascontiguousarray(sc, np.float32)

        qw, sw2 = conv(wq, wzp, sw)
        qr, sr2 = conv(rq, rzp, sr)
        base = node.name or node.output[0]
        b = self.arr(ins[3]) if ins[3] else None
        if ins[3] and b is None:
            raise OrtImportError(f"{where}: B must be an initializer")
        if b is None:
            b = np.zeros((d, 8 * hsz), np.float32)
        new = [ins[0], self.add(base + "_ortWq", qw), self.add(base + "_ortWs", sw2),
               self.add(base + "_ortRq", qr), self.add(base + "_ortRs", sr2),
               self.add(base + "_ortB", np.asarray(b, np.float32)), ins[4], ins[5], ins[6]]
        while new and not new[-1]:
            new.pop()
        attrs = {a.name: helper.get_attribute_value(a) for a in node.attribute}
        attrs = {k: (v.decode() if isinstance(v, bytes) else
                     [x.decode() for x in v] if isinstance(v, list) and v and
                     isinstance(v[0], bytes) else v) for k, v in attrs.items()}
        return helper.make_node("DynQLSTM", new, list(node.output), name=base, **attrs)


def _copy(msg, cls):
    out = cls()
    out.CopyFrom(msg)
    return out


def import_ort_dynamic(model: onnx.ModelProto) -> onnx.ModelProto:
    """`model` with ORT's dynamic-quantization patterns replaced (a copy), or `model` itself
    when it has none."""
    if not is_ort_dynamic(model):
        return model
    m = onnx.ModelProto()
    m.CopyFrom(model)
    rw = _Rewriter(m)
    replaced: dict[tuple, onnx.NodeProto] = {}
    for node in m.graph.node:
        if node.op_type in ("MatMulInteger", "ConvInteger"):
            replaced[key(node)] = rw.integer_op(node)
        elif node.op_type == "DynamicQuantizeLSTM":
            replaced[key(node)] = rw.lstm(node)
    nodes = [replaced.get(key(n), n) for n in m.graph.node if key(n) not in rw.dead]
    # drop what only fed the replaced patterns (DynamicQuantizeLinear, the scale Muls)
    outs = {o.name for o in m.graph.output}
    while True:
        used = {i for n in nodes for i in n.input} | outs
        keep = [n for n in nodes if any(o in used for o in n.output if o)]
        if len(keep) == len(nodes):
            break
        nodes = keep
    left = [f"{n.op_type} node {n.name!r}" for n in nodes if n.op_type in ORT_DYNAMIC_OPS]
    if left:
        raise OrtImportError("ONNX Runtime dynamic-quantization nodes outside the patterns "
                             f"int8rt imports (docs/TRANSFORMERS.md): {', '.join(left)}")
    nodes = [_copy(n, onnx.NodeProto) for n in nodes]  # clearing the field may drop views
    del m.graph.node[:]
    m.graph.node.extend(nodes)
    used = {i for n in nodes for i in n.input}
    keep_inits = [_copy(t, onnx.TensorProto) for t in m.graph.initializer if t.name in used]
    del m.graph.initializer[:]
    m.graph.initializer.extend(keep_inits + [t for t in rw.new_inits if t.name in used])
    return m
