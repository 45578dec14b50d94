"""Numpy references of the dynamic-quantization and weight-only kernels (int8rt/dynq.h,
csrc/kernels/dynq/dynq.c), bit-exact with the native code, and the float semantics of the
`Linear`, `DynQLinear` and `WOLinear` ops of the dynamic path (registered in onnx_ops.OPS).
docs/QUANTIZATION.md §7 states the arithmetic."""

from __future__ import annotations

import numpy as np

from .onnx_ops import OPS, take_indices

F32 = np.float32
# Rows with amax below 2^-121 quantize as all-zero rows (q = 0, s = 1): 127 / amax overflows
# float32 there (csrc/include/int8rt/dynq.h I8_DQ_TINY_AMAX, the same bound).
TINY_AMAX = F32(2.0 ** -121)


def quantize_rows(a: np.ndarray, per_row: bool) -> tuple[np.ndarray, np.ndarray]:
    """Symmetric int8 of a float32 [m, k]: (q int8 [m, k], s float32 [m] or [1])."""
    a = np.ascontiguousarray(a, F32)
    amax = np.abs(a).max(axis=1) if per_row else np.abs(a).max(keepdims=True).reshape(1)
    amax = amax.astype(F32)
    zero = amax < TINY_AMAX
    safe = np.where(zero, F32(1), amax)
    inv = (F32(127) / safe).astype(F32)
    inv_rows = inv[:, None] if per_row else inv[None, :]
    q = np.rint((a * inv_rows).astype(F32))
    q = np.where(zero[:, None] if per_row else zero[0], 0, q)
    q = np.clip(q, -127, 127).astype(np.int8)
    s = np.where(zero, F32(1), (amax / F32(127)).astype(F32)).astype(F32)
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


def quantize_weight_per_channel(w_kn: np.ndarray, qmax: int = 127
                                ) -> tuple[np.ndarray, np.ndarray]:
    """W [K, N] float -> (qw [N, K] int8 in [-qmax, qmax], s [N] f32), symmetric per output
    channel: s = max|w| / qmax (1 for an all-zero channel). qmax 127, or 64 for ONNX Runtime's
    `reduce_range` (7-bit weights: the AVX2 vpmaddubsw gemm tiles are exact on them,
    docs/KERNELS.md "avx2ubs")."""
    if qmax not in (127, 64):
        raise ValueError(f"weight qmax must be 127 or 64 (reduce_range), not {qmax}")
    w = np.ascontiguousarray(w_kn.T, F32)
    amax = np.abs(w).max(axis=1).astype(F32)
    s = np.where(amax == 0, F32(1), (amax / F32(qmax)).astype(F32)).astype(F32)
    q = np.clip(np.rint(w / s[:, None]), -qmax, qmax).astype(np.int8)
    return np.ascontiguousarray(q), s


def quantize_weight_groups(w_kn: np.ndarray, bits: int, group: int, symmetric: bool = True,
                           clip_search: bool = True):
    """W [K, N] -> (q, scales [N, K / group]) symmetric, or (q, scales, zero_points uint8
    [N, K / group]) asymmetric (bits 4 only). q int8 [N, K] (bits 8) or uint8 [N, K / 2]
    (bits 4, two per byte, low nibble = even k).

    Symmetric: zero point 0, q in [-qmax - 1, qmax] (qmax = 127 or 7), the nibble holds q in
    two's complement. Asymmetric int4: the nibble holds u in [0, 15], w ~ s * (u - z) with a
    per-group zero point z in [0, 15] (the group's range [min(w, 0), max(w, 0)] mapped onto
    [0, 15]).

    MSE clipping (int4, `clip_search`): each group's range is shrunk by the factor f, among
    CLIP_FACTORS (symmetric) or ASYM_CLIP_FACTORS (asymmetric), that gives the least squared
    reconstruction error sum((s * (u - z) - w)^2): clipping the few largest weights buys a
    finer step for all the others (the grid search for the MSE-optimal clipping threshold of
    Banner et al., "Post training 4-bit quantization of convolutional networks for
    rapid-deployment", NeurIPS 2019; the same search per group as AWQ's auto-clip, Lin et
    al., MLSys 2024). Without it the range is the group's max |w| (min / max)."""
    w = np.ascontiguousarray(w_kn.T, F32)
    n, k = w.shape
    if k % group:
        raise ValueError(f"k = {k} is not a multiple of the group size {group}")
    if not symmetric and bits != 4:
        raise ValueError("asymmetric (zero-point) groups are int4 only")
    qmax = 127 if bits == 8 else 7
    g = w.reshape(n, k // group, group)
    if not symmetric:
        lo = np.minimum(g.min(axis=2), 0).astype(F32)
        hi = np.maximum(g.max(axis=2), 0).astype(F32)
        best = None
        for f in (ASYM_CLIP_FACTORS if clip_search else (1.0,)):
            span = ((hi - lo) * F32(f)).astype(F32)
            s = np.where(span == 0, F32(1), (span / F32(15)).astype(F32)).astype(F32)
            z = np.clip(np.rint((-lo * F32(f)) / s), 0, 15).astype(F32)
            u = np.clip(np.rint(g / s[:, :, None]) + z[:, :, None], 0, 15)
            err = (((u - z[:, :, None]) * s[:, :, None] - g).astype(np.float64) ** 2).sum(axis=2)
            if best is None:
                best = [err, s, z, u]
            else:
                better = err < best[0]
                best = [np.where(better, err, best[0]), np.where(better, s, best[1]),
                        np.where(better, z, best[2]), np.where(better[:, :, None], u, best[3])]
        u = best[3].astype(np.uint8).reshape(n, k)
        packed = (u[:, 0::2] | (u[:, 1::2] << 4)).astype(np.uint8)
        return np.ascontiguousarray(packed), best[1].astype(F32), best[2].astype(np.uint8)
    amax = np.abs(g).max(axis=2).astype(F32)
    safe = np.where(amax == 0, F32(1), amax)
    best_s = (safe / F32(qmax)).astype(F32)
    if bits == 4 and clip_search:
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
ASYM_CLIP_FACTORS = tuple(1.0 - 0.025 * i for i in range(17))  # 1.0 .. 0.6


def int4_values(q: np.ndarray, k: int, zero_points: np.ndarray | None = None,
                group: int = 32) -> np.ndarray:
    """The integers [N, K] (int16) packed int4 weights stand for: q - z per group, where the
    nibble is two's complement (symmetric, no zero points) or u in [0, 15] with zero points."""
    lo = (q & 15).astype(np.int16)
    hi = (q >> 4).astype(np.int16)
    vals = np.empty((q.shape[0], k), np.int16)
    if zero_points is None:
        vals[:, 0::2] = (lo ^ 8) - 8
        vals[:, 1::2] = (hi ^ 8) - 8
        return vals
    vals[:, 0::2] = lo
    vals[:, 1::2] = hi
    return vals - np.repeat(zero_points.astype(np.int16), group, axis=1)


def wo_dequantize(q: np.ndarray, scales: np.ndarray, bits: int, group: int, k: int,
                  zero_points: np.ndarray | None = None) -> np.ndarray:
    """The float32 weights [N, K] the weight-only kernel computes, element by element."""
    vals = int4_values(q, k, zero_points, group) if bits == 4 else q.astype(np.int16)
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


def w4a8_matmul(a: np.ndarray, q: np.ndarray, scales: np.ndarray, bias: np.ndarray | None,
                group: int, zero_points: np.ndarray | None = None) -> np.ndarray:
    """Bit-exact with i8_w4_matmul (int8rt/dynq.h): a [m, k] f32 quantized per row as in
    dynq_matmul; per k group an exact int32 dot product with the int4 values (q - z);
    f = sum over groups in order of float32(acc_g) * s[:, g] from 0 (float32 roundings);
    y = f * s_a (+ bias)."""
    m, k = a.shape
    qa, sa = quantize_rows(a, True)
    w = int4_values(q, k, zero_points, group)  # [n, k] int16
    n, ng = w.shape[0], k // group
    # |acc| <= 127 * 15 * group: exact in int32 (and in float32 below 2^24)
    acc = np.einsum("mgt,ngt->gmn", qa.reshape(m, ng, group).astype(np.int32),
                    w.reshape(n, ng, group).astype(np.int32))
    f = np.zeros((m, n), F32)
    for g in range(ng):
        f = (f + (acc[g].astype(F32) * scales[None, :, g]).astype(F32)).astype(F32)
    y = (f * sa[:, None]).astype(F32)
    if bias is not None:
        y = (y + bias[None, :].astype(F32)).astype(F32)
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
    # inputs x, q, scales[, bias][, zero_points]. int4: the W4A8 kernel's exact arithmetic;
    # int8: float semantics (np.matmul order; the kernel's k-order sum is wo_matmul above)
    x = ins[0]
    bits, group = int(attrs["bits"]), int(attrs["group"])
    bias = ins[3] if len(ins) > 3 and ins[3] is not None and ins[3].size else None
    zp = ins[4] if len(ins) > 4 else None
    if bits == 4:
        y = w4a8_matmul(_rows(x), ins[1], ins[2], bias, group, zp)
        return [y.reshape(*x.shape[:-1], y.shape[-1])]
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
