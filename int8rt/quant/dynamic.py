"""Dynamic and weight-only quantization of the `Linear` ops of a prepared graph
(int8rt/dynamic/prepare.py). No calibration data: weights are quantized here, activations
per inference inside the native plan (docs/QUANTIZATION.md §7).

- mode "dynamic": Linear -> DynQLinear [x, qw int8 [N, K], s_w [N], bias?], per output channel
  symmetric weights; activations symmetric per row (token) or per tensor at run time.
- mode "weight_only": Linear -> WOLinear [x, q, scales [N, K / group], bias?, zero_points?]
  with int8 weights and float32 activations, or packed int4 weights (symmetric, or with
  per-group zero points) and int8 activations per row at run time (W4A8, int8rt/dynq.h);
  Gather tables -> WOGather (int8 or int4, symmetric).
- both modes: LSTM / GRU with constant W, R -> DynQLSTM / DynQGRU [x, qW, sW, qR, sR, B,
  sequence_lens?, initial_h?, initial_c?]: W and R int8 per output channel (one gate row of
  one direction), activations per row and time step at run time (int8rt/include/rnn.h);
  B is made explicit (zeros when absent).
- both modes: Conv (2-D, group 1, constant W) -> DynQConv [x, qW int8 [M, C, KH, KW], sW [M],
  B?]: weights per output channel, activations int8 per image at run time (attribute amax
  absent), or with a calibrated range (amax > 0, set by quant/hybrid.py for mode "static").
- `reduce_range=True` (ONNX Runtime's name and meaning): the int8 weights of DynQLinear and
  DynQConv are quantized to [-64, 64] (s = max|w| / 64, 7 bits) instead of [-127, 127]. Such
  panels run on AVX2 with the u8 x s8 vpmaddubsw tiles (exact there, docs/KERNELS.md
  "avx2ubs"), at the cost of one bit of weight precision; the other paths give the same bits
  as always. LSTM / GRU weights keep 8 bits (their matvec has no such tile).
"""

from __future__ import annotations

import fnmatch
from collections.abc import Iterable

import numpy as np

from .. import ir
from ..reference.dqconv import quantize_conv_weight
from ..reference.dynq import quantize_weight_groups, quantize_weight_per_channel
from ..reference.rnn import quantize_rnn_weights

GROUP_SIZES = (32, 64, 128)


def _quantize_rnn(g: ir.Graph, node: ir.Node) -> None:
    w, r = g.const(node.inputs[1]), g.const(node.inputs[2])
    if w is None or r is None:
        return  # run-time weights: the lowering reports it
    ins = list(node.inputs) + [""] * (8 - len(node.inputs))
    if node.op == "LSTM" and ins[7] and g.const(ins[7]) is not None and g.const(ins[7]).any():
        return  # peepholes: not supported, the lowering reports it
    gates = 4 if node.op == "LSTM" else 3
    qw, sw = quantize_rnn_weights(w)
    qr, sr = quantize_rnn_weights(r)
    b = g.const(ins[3]) if ins[3] else None
    if ins[3] and b is None:
        return
    if b is None:
        b = np.zeros((w.shape[0], 2 * gates * r.shape[2]), np.float32)
    names = [g.add_const(node.inputs[1] + "_q", qw), g.add_const(node.inputs[1] + "_scale", sw),
             g.add_const(node.inputs[2] + "_q", qr), g.add_const(node.inputs[2] + "_scale", sr),
             g.add_const((ins[3] or node.name) + "_bias", np.asarray(b, np.float32))]
    node.inputs = [node.inputs[0], *names, ins[4], ins[5], ins[6] if node.op == "LSTM" else ""]
    while node.inputs and not node.inputs[-1]:
        node.inputs.pop()
    node.op = "DynQ" + node.op


def _quantize_conv(g: ir.Graph, node: ir.Node, qmax: int = 127) -> None:
    w = g.const(node.inputs[1])
    if w is None or w.ndim != 4 or int(node.attrs.get("group", 1)) != 1:
        return  # the lowering reports what it cannot run
    b = g.const(node.inputs[2]) if len(node.inputs) > 2 and node.inputs[2] else None
    if len(node.inputs) > 2 and node.inputs[2] and b is None:
        return
    q, s = quantize_conv_weight(w, qmax)
    names = [g.add_const(node.inputs[1] + "_q", q), g.add_const(node.inputs[1] + "_scale", s)]
    if b is not None:
        names.append(node.inputs[2])
    node.inputs = [node.inputs[0], *names]
    node.op = "DynQConv"


def quantize_weights(graph: ir.Graph, mode: str = "dynamic", per_row: bool = True,
                     bits: int = 8, group: int = 64, min_size: int = 0,
                     symmetric: bool = True, embedding_bits: int | None = None,
                     int8_nodes: Iterable[str] = (),
                     calibration: Iterable[dict] | None = None,
                     reduce_range: bool = False) -> ir.Graph:
    """A copy of `graph` with its Linear ops quantized; Linears whose weight has fewer than
    `min_size` elements (or whose K is not a multiple of `group`, weight-only) stay float.

    Weight-only options: `symmetric=False` gives int4 groups a zero point (asymmetric, the
    WOLinear's 5th input); `embedding_bits` (4 or 8, default `bits`) for the Gather tables
    (always symmetric); `int8_nodes`: fnmatch patterns of Linear node names that become
    dynamic int8 (DynQLinear) instead, for the few matrices int4 hurts most; `calibration`
    (feed dicts, int4 only): GPTQ (quant/gptq.py) with the Linears' input Hessians on them.
    `reduce_range`: the int8 weights of DynQLinear / DynQConv in [-64, 64] (module doc)."""
    if mode not in ("dynamic", "weight_only"):
        raise ValueError(f"mode must be 'dynamic' or 'weight_only', not {mode!r}")
    if not isinstance(reduce_range, (bool, np.bool_)):
        raise TypeError(f"reduce_range must be True or False, not {reduce_range!r}")
    wq_max = 64 if reduce_range else 127  # int8 weight bound of DynQLinear / DynQConv
    emb_bits = bits if embedding_bits is None else embedding_bits
    if mode == "weight_only" and (bits not in (4, 8) or group not in GROUP_SIZES or
                                  emb_bits not in (4, 8)):
        raise ValueError(f"weight-only quantization takes bits 4 or 8 and a group size in "
                         f"{GROUP_SIZES}, not bits={bits}, group={group}, "
                         f"embedding_bits={embedding_bits}")
    if isinstance(int8_nodes, str):
        int8_nodes = [int8_nodes]
    int8_nodes = list(int8_nodes)
    g = graph.copy()
    hessians = {}
    if calibration is not None:
        if mode != "weight_only" or bits != 4:
            raise ValueError("calibration data (GPTQ) applies to weight-only int4 only")
        from .gptq import linear_hessians

        xs = [n.inputs[0] for n in g.nodes if n.op == "Linear" and
              g.const(n.inputs[1]) is not None and g.const(n.inputs[1]).size >= min_size and
              not any(fnmatch.fnmatchcase(n.name, p) for p in int8_nodes)]
        hessians = linear_hessians(graph, calibration, xs)
    for node in g.nodes:
        if mode == "weight_only" and node.op == "Gather" and int(node.attrs.get("axis", 0)) == 0:
            bits_t = emb_bits
            table = g.const(node.inputs[0])
            if table is None or table.ndim != 2 or table.dtype != "float32" or \
                    table.shape[1] % group or table.size < max(min_size, 1) or \
                    g.const(node.inputs[1]) is not None:
                continue
            # rows = tokens: quantize_weight_groups takes [K, N] and groups along K
            q, s = quantize_weight_groups(table.T, bits_t, group)
            qn = g.add_const(node.inputs[0] + f"_q{bits_t}", q)
            sn = g.add_const(node.inputs[0] + "_gscale", s)
            node.op, node.attrs = "WOGather", {"bits": bits_t, "group": group}
            node.inputs = [qn, sn, node.inputs[1]]
        if node.op in ("LSTM", "GRU"):
            _quantize_rnn(g, node)
            continue
        if node.op == "Conv":
            _quantize_conv(g, node, wq_max)
            continue
        if node.op != "Linear":
            continue
        w = g.const(node.inputs[1])
        if w is None or w.size < min_size:
            continue
        k = w.shape[0]
        bias = node.inputs[2:3]
        if mode == "dynamic" or any(fnmatch.fnmatchcase(node.name, p) for p in int8_nodes):
            qw, sw = quantize_weight_per_channel(w, wq_max)
            qn = g.add_const(node.inputs[1] + "_q", qw)
            sn = g.add_const(node.inputs[1] + "_scale", sw)
            node.op, node.attrs = "DynQLinear", {"per_row": int(per_row)}
        else:
            if k % group:
                continue
            asym = bits == 4 and not symmetric
            if bits == 4 and node.inputs[0] in hessians:
                from .gptq import gptq_int4

                q, s, *zp = gptq_int4(w, hessians[node.inputs[0]], group, symmetric=not asym)
            else:
                q, s, *zp = quantize_weight_groups(w, bits, group, symmetric=not asym)
            qn = g.add_const(node.inputs[1] + f"_q{bits}", q)
            sn = g.add_const(node.inputs[1] + "_gscale", s)
            node.op, node.attrs = "WOLinear", {"bits": bits, "group": group}
            if asym:  # inputs x, q, scales, bias or "", zero points
                zn = g.add_const(node.inputs[1] + "_gzero", zp[0])
                node.inputs = [node.inputs[0], qn, sn, bias[0] if bias else "", zn]
                continue
        node.inputs = [node.inputs[0], qn, sn, *bias]
    g.prune()
    for node in g.nodes:  # outputs nobody reads (Y_h, Y_c) keep a tensor entry (prune drops it)
        if node.op in ("DynQLSTM", "DynQGRU"):
            for o in node.outputs:
                if o and o not in g.tensors:
                    g.tensors[o] = ir.Tensor(o, (), "float32")
    g.meta = {**g.meta, "quantization": mode}
    if reduce_range:
        g.meta["weight_range"] = "reduce_range: int8 weights of DynQLinear / DynQConv in [-64, 64]"
    return g
