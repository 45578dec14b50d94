"""GPTQ for weight-only int4 (mode "weight_only", bits 4, with calibration data).

GPTQ (Frantar, Ashkboos, Hoefler, Alistarh, "GPTQ: Accurate Post-Training Quantization for
Generative Pre-trained Transformers", ICLR 2023) quantizes a Linear's weights one input
channel (k) at a time and spreads each channel's rounding error over the channels not yet
quantized, weighted by the inverse of the layer's input Hessian H = XᵀX / N (X the Linear's
inputs on calibration data), which minimises ||X W − X Ŵ||² greedily instead of the weight
error ||W − Ŵ||². Written here from the paper's algorithm: dampened H (1 % of its mean
diagonal), the upper Cholesky factor U of H⁻¹, lazy block updates of 128 channels, and the
group parameters (scale, zero point) of each group of `group` channels chosen, by the same
MSE clipping search as quantize_weight_groups, on the error-compensated weights when the
sweep reaches the group's first channel. The result is the ordinary weight-only int4 format
(packed codes, scales [, zero points]): the kernels and their reference do not change.
"""

from __future__ import annotations

from collections.abc import Iterable

import numpy as np

from .. import ir
from ..reference.dynq import quantize_weight_groups

DAMP = 0.01
BLOCK = 128


def linear_hessians(graph: ir.Graph, feeds: Iterable[dict[str, np.ndarray]],
                    names: Iterable[str]) -> dict[str, np.ndarray]:
    """H = XᵀX / N (float64 [k, k]) of the tensors `names` (Linear inputs, last axis k) over
    the calibration feeds, the graph run by the numpy reference (dynamic/specialize.py)."""
    from ..dynamic.specialize import evaluate

    names = list(dict.fromkeys(names))
    acc: dict[str, np.ndarray] = {}
    count: dict[str, int] = {}
    for feed in feeds:
        vals = evaluate(graph, feed)
        for n in names:
            x = np.asarray(vals[n], np.float64)
            x = x.reshape(-1, x.shape[-1])
            acc[n] = acc.get(n, 0) + x.T @ x
            count[n] = count.get(n, 0) + x.shape[0]
    if not acc:
        raise ValueError("weight-only GPTQ: the calibration data holds no sample")
    return {n: acc[n] / count[n] for n in acc}


def gptq_int4(w_kn: np.ndarray, h: np.ndarray, group: int, symmetric: bool = True):
    """GPTQ of W [K, N] (input channels first, as Linear holds it) with input Hessian h
    [K, K]: (q uint8 [N, K / 2], scales [N, K / group]) or, asymmetric, (q, scales,
    zero_points), in quantize_weight_groups' format."""
    w = np.ascontiguousarray(w_kn.T, np.float64)  # [n, k]: one row per output channel
    n, k = w.shape
    if k % group or BLOCK % group:
        raise ValueError(f"k = {k} is not a multiple of the group size {group}")
    h = np.array(h, np.float64)
    dead = np.diag(h) == 0  # channels never active: quantize them as zero
    h[dead, dead] = 1.0
    w[:, dead] = 0.0
    h[np.diag_indices(k)] += DAMP * np.mean(np.diag(h))
    u_inv = np.linalg.cholesky(np.linalg.inv(h)).T  # upper U with H⁻¹ = UᵀU
    codes = np.zeros((n, k), np.int16)  # u (asymmetric) or q (symmetric)
    ng = k // group
    scales = np.zeros((n, ng), np.float32)
    zeros = np.zeros((n, ng), np.uint8)
    s = z = None
    for b0 in range(0, k, BLOCK):
        b1 = min(b0 + BLOCK, k)
        wb = w[:, b0:b1].copy()
        err = np.zeros_like(wb)
        ub = u_inv[b0:b1, b0:b1]
        for i in range(b1 - b0):
            col = b0 + i
            if col % group == 0:  # this group's parameters from the compensated weights
                out = quantize_weight_groups(wb[:, i:i + group].T.astype(np.float32), 4,
                                             group, symmetric=symmetric)
                s = out[1][:, 0].astype(np.float64)
                scales[:, col // group] = out[1][:, 0]
                if not symmetric:
                    z = out[2][:, 0].astype(np.float64)
                    zeros[:, col // group] = out[2][:, 0]
            # the rounding of quantize_weight_groups: rint(w / s) (float32), clamped
            r = np.rint((wb[:, i].astype(np.float32) / s.astype(np.float32)).astype(np.float32))
            if symmetric:
                c = np.clip(r, -8, 7)
                deq = c * s
            else:
                c = np.clip(r + z, 0, 15)
                deq = (c - z) * s
            codes[:, col] = c
            e = (wb[:, i] - deq) / ub[i, i]
            wb[:, i:] -= np.outer(e, ub[i, i:])
            err[:, i] = e
        w[:, b1:] -= err @ u_inv[b0:b1, b1:]
    nib = (codes & 15).astype(np.uint8)
    packed = np.ascontiguousarray((nib[:, 0::2] | (nib[:, 1::2] << 4)).astype(np.uint8))
    if symmetric:
        return packed, scales
    return packed, scales, zeros
