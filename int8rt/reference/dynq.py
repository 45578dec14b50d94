"""Numpy references of the dynamic-quantization and weight-only kernels (int8rt/dynq.h,
csrc/kernels/dynq/dynq.c), bit-exact with the native code, and the float semantics of the
`Linear`, `DynQLinear` and `WOLinear` ops of the dynamic path (registered in onnx_ops.OPS).
docs/QUANTIZATION.md §7 states the arithmetic."""

from __future__ import annotations

import numpy as np

from .onnx_ops import OPS, take_indices

F32 = np.float32


def quantize_rows(a: np.ndarray, per_row: bool) -> tuple[np.ndarray, np.ndarray]:
    """Symmetric int8 of a float32 [m, k]: (q int8 [m, k], s float32 [m] or [1])."""
    a = np.ascontiguousarray(a, F32)
    amax = np.abs(a).max(axis=1) if per_row else np.abs(a).max(keepdims=True).reshape(1)
    amax = amax.astype(F32)
    safe = np.where(amax == 0, F32(1), amax)
    inv = (F32(127) / safe).astype(F32)
    inv_rows = inv[:, None] if per_row else inv[None, :]
    q = np.rint((a * inv_rows).astype(F32))
    q = np.where((amax == 0)[:, None] if per_row else amax[0] == 0, 0, q)
    q = np.clip(q, -127, 127).astype(np.int8)
    s = np.where(amax == 0, F32(1), (amax / F32(127)).astype(F32)).astype(F32)
    return q, s


def dynq_matmul(a: np.ndarray, qw: np.ndarray, sw: np.ndarray, bias: np.ndarray | None,
                per_row: bool) -> np.ndarray:
    """a [m, k] f32, qw [n, k] int8, sw [n] f32 -> y [m, n] f32, as the native kernel."""
    q, s = quantize_rows(a, per_row)
    acc = q.astype(np.int32) @ qw.astype(np.int32).T  # exact: |acc| < 127 * 127 * k
    t = (acc.astype(F32) * sw[None, :]).astype(F32)  # the gemm's float32 epilogue
    sa = s[:, None] if per_row else s[None, :]
    y = (t * sa).astype(F32)
    if bias is not None:
        y = (y + bias[None, :]).astype(F32)
    return y


def quantize_weight_per_channel(w_kn: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """W [K, N] float -> (qw [N, K] int8 in [-127, 127], s [N] f32), symmetric per output
    channel: s = max|w| / 127 (1 for an all-zero channel)."""
    w = np.ascontiguousarray(w_kn.T, F32)
    amax = np.abs(w).max(axis=1).astype(F32)
    s = np.where(amax == 0, F32(1), (amax / F32(127)).astype(F32)).astype(F32)
    q = np.clip(np.rint(w / s[:, None]), -127, 127).astype(np.int8)
    return np.ascontiguousarray(q), s


def quantize_weight_groups(w_kn: np.ndarray, bits: int, group: int
                           ) -> tuple[np.ndarray, np.ndarray]:
    """W [K, N] -> (q, scales [N, K / group]); q int8 [N, K] (bits 8) or uint8 [N, K / 2]
    (bits 4, two per byte, low nibble = even k). Symmetric, zero point 0, q in
    [-qmax - 1, qmax] (qmax = 127 or 7). Each group's scale is the one, among
    s = max|w| * f / qmax for f in CLIP_FACTORS, with the least squared rounding error
    (an MSE clipping search: for int4, clipping the largest weights a little buys a finer step
    for all the others)."""
    w = np.ascontiguousarray(w_kn.T, F32)
    n, k = w.shape
    if k % group:
        raise ValueError(f"k = {k} is not a multiple of the group size {group}")
    qmax = 127 if bits == 8 else 7
    g = w.reshape(n, k // group, group)
    amax = np.abs(g).max(axis=2).astype(F32)
    safe = np.where(amax == 0, F32(1), amax)
    best_s = (safe / F32(qmax)).astype(F32)
    if bits == 4:
        best_err = np.full(amax.shape, np.inf, np.float64)
        for f in CLIP_FACTORS:
            s = (safe * F32(f) / F32(qmax)).astype(F32)
            q = np.clip(np.rint(g / s[:, :, None]), -qmax - 1, qmax)
            err = ((q * s[:, :, None] - g) ** 2).sum(axis=2)
            better = err < best_err
            best_s = np.where(better, s, best_s)
            best_err = np.where(better, err, best_err)
    q = np.clip(np.rint(g / best_s[:, :, None]), -qmax - 1, qmax).astype(np.int8).reshape(n, k)
    if bits == 8:
        return q, best_s
    nib = (q.astype(np.int16) & 15).astype(np.uint8)
    packed = (nib[:, 0::2] | (nib[:, 1::2] << 4)).astype(np.uint8)
    return np.ascontiguousarray(packed), best_s


CLIP_FACTORS = (1.0, 0.95, 0.9, 0.85, 0.8, 0.75, 0.7, 1.0625, 1.125)


def wo_dequantize(q: np.ndarray, scales: np.ndarray, bits: int, group: int, k: int
                  ) -> np.ndarray:
    """The float32 weights [N, K] the weight-only kernel computes, element by element."""
    if bits == 4:
        lo = (q & 15).astype(np.int16)
        hi = (q >> 4).astype(np.int16)
        vals = np.empty((q.shape[0], k), np.int16)
        vals[:, 0::2] = (lo ^ 8) - 8
        vals[:, 1::2] = (hi ^ 8) - 8
    else:
        vals = q.astype(np.int16)
    s = np.repeat(scales, group, axis=1)
    return (s * vals.astype(F32)).astype(F32)


def wo_matmul(a: np.ndarray, q: np.ndarray, scales: np.ndarray, bias: np.ndarray | None,
              bits: int, group: int) -> np.ndarray:
    """Bit-exact with i8_wo_matmul_run: float32 accumulation in k order from the bias."""
    m, k = a.shape
    w = wo_dequantize(q, scales, bits, group, k)  # [n, k]
    y = np.zeros((m, w.shape[0]), F32) if bias is None else np.tile(bias.astype(F32), (m, 1))
    for t in range(k):
        y = (y + (a[:, t:t + 1] * w[None, :, t]).astype(F32)).astype(F32)
    return y


def matmul_f32(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Bit-exact with i8_f32_matmul_run (2-D): y = sum_k a[:, k] * b[k, :] in k order."""
    y = np.zeros((a.shape[0], b.shape[1]), F32)
    for t in range(a.shape[1]):
        y = (y + (a[:, t:t + 1] * b[None, t, :]).astype(F32)).astype(F32)
    return y


def _rows(x: np.ndarray) -> np.ndarray:
    return x.reshape(-1, x.shape[-1])


def _linear(ins, attrs):
    x, w = ins[0], ins[1]
    y = np.matmul(x, w).astype(F32)
    if len(ins) > 2 and ins[2] is not None:
        y = (y + ins[2]).astype(F32)
    return [y]


def _dynq_linear(ins, attrs):
    x = ins[0]
    bias = ins[3] if len(ins) > 3 else None
    y = dynq_matmul(_rows(x), ins[1], ins[2], bias, bool(attrs.get("per_row", 1)))
    return [y.reshape(*x.shape[:-1], y.shape[-1])]


def _wo_linear(ins, attrs):
    # float semantics (np.matmul order); the kernel's k-order sum is wo_matmul above
    x = ins[0]
    w = wo_dequantize(ins[1], ins[2], int(attrs["bits"]), int(attrs["group"]), x.shape[-1])
    y = np.matmul(x, w.T).astype(F32)
    if len(ins) > 3 and ins[3] is not None:
        y = (y + ins[3]).astype(F32)
    return [y]


def _wo_gather(ins, attrs):
    q, scales, idx = ins
    bits, group = int(attrs["bits"]), int(attrs["group"])
    cols = q.shape[1] * (2 if bits == 4 else 1)
    table = wo_dequantize(q, scales, bits, group, cols)  # same products as the kernel
    return [np.take(table, take_indices(idx, table.shape[0]), axis=0)]


OPS["WOGather"] = _wo_gather
OPS["Linear"] = _linear
OPS["DynQLinear"] = _dynq_linear
OPS["WOLinear"] = _wo_linear
