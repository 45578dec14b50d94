"""Empirical bias correction (Nagel et al. 2019, §4.2): quantizing the weights W to W_q shifts
a layer's expected pre-activation output by E[(W_q - W) x] = dW E[x] per output channel. That
shift is estimated on calibration data (x the float model's input to the layer, streamed batch
by batch: only per-channel sums are kept) and subtracted from the float bias before the bias is
quantized to int32, so the int8 layer's mean output matches the float one.

The estimate is conv(x, dW) (or x dW^T for Gemm) averaged over batch and pixels: exact for
the padding pattern of each output pixel, which the simple dW E[x] form is not.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import numpy as np

from int8rt import opset
from int8rt.ir import Graph
from int8rt.quant import params
from int8rt.quant.calibrate import _batches
from int8rt.reference import float_ops
from int8rt.reference.float_executor import FloatExecutor


def weight_error(w: np.ndarray, per_channel: bool, bits: int) -> np.ndarray:
    """W_q - W for the weights PTQ will store (the same parameters and rounding)."""
    qp = params.weight_qparams(w, axis=0, per_channel=per_channel, bits=bits)
    wq = params.quantize_weights(w, qp, bits=bits)
    return (params.dequantize_array(wq, qp).astype(np.float64) - w.astype(np.float64)
            ).astype(np.float32)


def output_shift(graph: Graph, data: Iterable[Any], per_channel: bool = True, bits: int = 8,
                 max_samples: int | None = None, batch_size: int = 16,
                 nodes: Iterable[str] | None = None) -> dict[str, np.ndarray]:
    """Per Conv / Gemm node: E[conv(x, W_q - W)] per output channel on `data` (float inputs)."""
    wanted = set(nodes) if nodes is not None else None
    targets = {}
    for n in graph.topological():
        if n.op not in ("Conv", "Gemm") or (wanted is not None and n.name not in wanted):
            continue
        w = graph.const(n.inputs[1])
        if w is None:
            continue
        targets.setdefault(n.inputs[0], []).append(
            (n, weight_error(w, per_channel, bits),
             {**opset.attrs_with_defaults(n.op, n.attrs), "clip": opset.NO_CLIP}))
    sums = {n.name: np.zeros(graph.const(n.inputs[1]).shape[0]) for v in targets.values()
            for n, _, _ in v}
    counts = dict.fromkeys(sums, 0)
    shapes = float_ops.NodeShapes((None, None, None), (None,))

    def observe(name: str, value: np.ndarray) -> None:
        for n, dw, attrs in targets.get(name, ()):
            y = float_ops.OPS[n.op]([np.asarray(value, np.float32), dw, None], attrs, shapes)[0]
            y = y.reshape(-1, y.shape[-1]).astype(np.float64)
            sums[n.name] += y.sum(axis=0)
            counts[n.name] += y.shape[0]

    ex = FloatExecutor(graph)
    for feeds in _batches(graph, data, batch_size, max_samples):
        for name in graph.inputs:  # the executor does not report its own inputs
            observe(name, feeds[name])
        ex.run(feeds, observe=observe)
    return {k: (sums[k] / counts[k]).astype(np.float32) for k in sums if counts[k]}


def correct_biases(graph: Graph, data: Iterable[Any], per_channel: bool = True, bits: int = 8,
                   max_samples: int | None = None, batch_size: int = 16) -> dict[str, np.ndarray]:
    """Subtract each Conv / Gemm's expected weight-quantization shift from its float bias, in
    place (a bias is created when absent). Returns the shifts that were removed."""
    shifts = output_shift(graph, data, per_channel, bits, max_samples, batch_size)
    for n in graph.nodes:
        if n.name not in shifts:
            continue
        oc = shifts[n.name].size
        if len(n.inputs) > 2 and n.inputs[2]:
            b = graph.const(n.inputs[2]).astype(np.float64)
            new = (b - shifts[n.name]).astype(np.float32)
            if sum(i == n.inputs[2] for m in graph.nodes for i in m.inputs) > 1:
                n.inputs[2] = graph.add_const(f"{n.inputs[2]}:corrected", new)  # shared bias
            else:
                graph.tensors[n.inputs[2]].data = new
        else:
            name = graph.add_const(f"{n.name}:bias", (-shifts[n.name]).astype(np.float32))
            n.inputs = [*n.inputs[:2], name] if len(n.inputs) >= 2 else n.inputs
            assert graph.const(name).shape == (oc,)
    return shifts
