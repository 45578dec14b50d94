"""Numpy reference of the fused attention record (csrc/kernels/f32/attention.c, the
`attention` kernel of int8rt/dynamic/lower.py): the float semantics of the ONNX chain it
replaces, MatMul(q, kt) -> Mul / Div by a scalar -> Add(mask) -> Softmax(last axis) ->
MatMul(., v). The kernel equals it within the float tolerance of docs/TRANSFORMERS.md
(exp polynomial, summation order)."""

from __future__ import annotations

import numpy as np

F32 = np.float32


def attention(q: np.ndarray, kt: np.ndarray, v: np.ndarray, mask: np.ndarray | None,
              scale: float, divide: bool = False) -> np.ndarray:
    """q [B, H, Lq, D], kt [B, H, D, Lk], v [B, H, Lk, D], mask broadcastable to
    [B, H, Lq, Lk] or None -> [B, H, Lq, D] float32."""
    s = np.matmul(q.astype(F32), kt.astype(F32)).astype(F32)
    s = (s / F32(scale) if divide else s * F32(scale)).astype(F32)
    if mask is not None:
        s = (s + mask.astype(F32)).astype(F32)
    mx = s.max(axis=-1, keepdims=True)
    mx = np.where(np.isneginf(mx), F32(0), mx)  # a fully masked row gives zeros
    e = np.exp((s - mx).astype(np.float64))
    tot = e.sum(axis=-1, keepdims=True)
    p = np.where(tot > 0, e / np.where(tot > 0, tot, 1), 0).astype(F32)
    return np.matmul(p, v.astype(F32)).astype(F32)
