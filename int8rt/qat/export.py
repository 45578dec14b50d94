"""Deploying a trained QATModel: `to_int8rt` (a QuantizedModel / .i8, through a scale table)
and `export_onnx` (a QDQ ONNX model any QDQ consumer reads; int8rt imports it to the same
deployed model).

Both start from `deployed_model_onnx`: the captured graph written as ONNX with every
BatchNorm folded the way the QAT model folds it and every weight and bias replaced by its
fake-quantized value, an exact multiple of its scale. int8rt then recovers the very integers
training used (rint of value / scale), whatever its own folding arithmetic would have given.
"""

from __future__ import annotations

import io
import os

import numpy as np
import onnx
import torch
from onnx import helper, numpy_helper

from int8rt.qat import capture
from int8rt.qat.model import QATModel
from int8rt.quant import params


def _weights(q: QATModel):
    cache: dict[str, tuple[np.ndarray, np.ndarray, np.ndarray]] = {}
    with torch.no_grad():
        for name in q.plan.weighted:
            wq, bq, scales = q.quantized_weights(name)
            cache[name] = (wq.detach().float().numpy(), bq.detach().float().numpy(), scales)
    return cache


def deployed_model_onnx(q: QATModel) -> onnx.ModelProto:
    """The float ONNX model int8rt deploys: folded BatchNorm, fake-quantized weights and
    biases (eval-mode values: running BatchNorm statistics)."""
    was = q.training
    q.eval()
    try:
        cache = _weights(q)
    finally:
        q.train(was)
    return capture.to_onnx(q.gm, weights=lambda node: cache[node.name][:2],
                           folded={c: bn for bn, c in q.plan.folded_bn.items()})


def scale_table(q: QATModel, graph) -> dict:
    """The int8rt scale table of a trained QATModel over `graph`, the canonical graph of
    deployed_model_onnx(q): every int8 activation's (scale, zero point) and each Conv / Gemm's
    per-channel weight scales (docs/QAT.md "Scale tables")."""
    from int8rt.quant.table import make_entry

    qps = q.activation_qparams()
    table = {}
    for name, src in q.origin.items():
        if name in graph.tensors:
            s, z = qps[src]
            table[name] = make_entry(name, "int8", s, z)
    cache = _weights(q)
    for node in graph.nodes:
        if node.op in ("Conv", "Gemm"):
            mod = node.name.removesuffix("/Conv")
            scales = cache[mod][2]
            table[node.inputs[1]] = make_entry(node.inputs[1], "int8", scales,
                                               np.zeros(len(scales), np.int64), 0)
    return table


def to_int8rt(q: QATModel, example_input: torch.Tensor | None = None):
    """The int8rt QuantizedModel of a trained QATModel (save it with `.save("m.i8")`):
    deployed_model_onnx imported by int8rt and quantized with the QAT model's own parameters
    (quant.table.quantize_with_table). `example_input` is unused (kept for old callers)."""
    import int8rt
    from int8rt.api import QuantizedModel
    from int8rt.quant.table import quantize_with_table

    g = int8rt.load_float_model(deployed_model_onnx(q))
    return QuantizedModel(quantize_with_table(g, scale_table(q, g)), g)


def qdq_model(q: QATModel) -> onnx.ModelProto:
    """deployed_model_onnx with QuantizeLinear / DequantizeLinear pairs: one on every int8
    activation (int8, the QAT parameters), int8 per-channel weights and int32 biases."""
    import int8rt

    model = deployed_model_onnx(q)
    g = int8rt.load_float_model(model)
    table = scale_table(q, g)
    qps = q.activation_qparams()
    origins = q.origin
    cache = _weights(q)
    graph = model.graph
    inits = {t.name: t for t in graph.initializer}
    new_nodes: list[onnx.NodeProto] = []
    new_inits: list[onnx.TensorProto] = []

    def qdq_act(name: str) -> tuple[list[onnx.NodeProto], str]:
        s, z = qps[origins[name]]
        sn, zn = f"{name}__scale", f"{name}__zp"
        new_inits.append(numpy_helper.from_array(np.array(s, np.float32), sn))
        new_inits.append(numpy_helper.from_array(np.array(z, np.int8), zn))
        return [helper.make_node("QuantizeLinear", [f"{name}__f", sn, zn], [f"{name}__q"],
                                 name=f"{name}__quantize"),
                helper.make_node("DequantizeLinear", [f"{name}__q", sn, zn], [name],
                                 name=f"{name}__dequantize")], f"{name}__f"

    input_names = {i.name for i in graph.input}
    quantized = [n for n in origins if n in table]
    rename = {}
    for x in input_names & set(quantized):  # readers of a model input read its Q/DQ
        nodes, _ = qdq_act(x)
        nodes[0].input[0] = x
        nodes[1].output[0] = f"{x}__dq"
        rename[x] = f"{x}__dq"
        new_nodes.extend(nodes)
    mods = {}
    for node in graph.node:
        node.input[:] = [rename.get(i, i) for i in node.input]
        if node.op_type in ("Conv", "Gemm", "ConvTranspose"):
            mods[node.name] = node
        outs = list(node.output)
        extra = []
        for k, o in enumerate(outs):
            if o in quantized and o not in input_names:
                nodes, f = qdq_act(o)
                node.output[k] = f
                extra.extend(nodes)
        new_nodes.append(node)
        new_nodes.extend(extra)
    for mod, node in mods.items():
        wq, bq, scales = cache[mod]
        spec = q.plan.weighted[mod]
        axis = 1 if node.op_type == "ConvTranspose" else 0
        shape = [1] * wq.ndim
        shape[axis] = -1
        ints = np.rint(wq.astype(np.float64) / scales.astype(np.float64).reshape(shape))
        w_name = node.input[1]
        s_x = qps[spec.input_point][0]
        s_b = params.bias_scale(s_x, scales).astype(np.float32)
        b_int = np.rint(bq.astype(np.float64) / s_b.astype(np.float64))
        for nm, arr, sc, dtype, ax in ((w_name, ints, scales, np.int8, axis),
                                       (node.input[2] if len(node.input) > 2 else "", b_int,
                                        s_b, np.int32, 0)):
            if not nm:
                continue
            del inits[nm]
            new_inits.append(numpy_helper.from_array(arr.astype(dtype), f"{nm}__int"))
            new_inits.append(numpy_helper.from_array(np.asarray(sc, np.float32), f"{nm}__scale"))
            new_inits.append(numpy_helper.from_array(np.zeros(len(sc), dtype), f"{nm}__zp"))
            new_nodes.insert(0, helper.make_node(
                "DequantizeLinear", [f"{nm}__int", f"{nm}__scale", f"{nm}__zp"], [nm],
                name=f"{nm}__dequantize", axis=ax))
    del graph.node[:]
    graph.node.extend(new_nodes)
    del graph.initializer[:]
    graph.initializer.extend(list(inits.values()) + new_inits)
    return model


def export_onnx(model: QATModel, path: str | os.PathLike[str] | io.BytesIO,
                example_input: torch.Tensor | None = None) -> None:
    """Write the trained model as QDQ ONNX (qdq_model). `int8rt.quantize(path)` imports it to
    the same deployed model as to_int8rt. `example_input` is unused (kept for old callers)."""
    data = qdq_model(model).SerializeToString()
    if isinstance(path, io.BytesIO):
        path.write(data)
    else:
        with open(os.fspath(path), "wb") as f:
            f.write(data)
