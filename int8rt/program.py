"""A lowered model: a flat list of kernel calls over named buffers.

`int8rt.lower` produces a Program from a quantized graph, once per model and input shape
(TFLite's Prepare): every multiplier, table, index map and clamp bound is computed there.
Two executors consume the same Program (Eval):

- `int8rt.reference.program.run_program`: numpy kernels, the test oracle;
- `int8rt.plan.NativePlan`: the C executor (one native call per inference).

So the only thing a native-vs-reference test compares is the kernels themselves.

Kernel names and their `params` / `consts` keys (params names equal the C struct fields in
csrc/include/int8rt/kernels.h):

| kernel | inputs -> outputs | params | consts |
|---|---|---|---|
| conv2d | x[, res] -> y | i8_conv2d_params fields (incl. out_f32)[, post params] | w [oc,kh,kw,c/g] int8, bias [oc] int32, mult [oc] f32[, table [256] int8] |
| fc | x[, res] -> y | m, k, n, x_zp, y_zp, qmin, qmax, out_f32[, post params] | w [n,k] int8, bias [n] int32, mult [n] f32[, table [256] int8] |
| add, mul | a, b -> y | ndim, shape, a_stride, b_stride, a_zp, b_zp, y_zp, a_mult, b_mult, mult, qmin, qmax | |
| requant_copy | x -> y | rows, cols, x_stride, y_stride, x_offset, y_offset, x_zp, y_zp, mult | |
| maxpool | x -> y | i8_pool_params fields | |
| avgpool | x -> y | i8_pool_params fields | mult_by_count [kh*kw+1] f32 |
| global_avgpool | x -> y | n, hw, c, x_zp, y_zp, mult, qmin, qmax | |
| lut | x -> y | n | table [256] int8 |
| resize_nearest | x -> y | n, h, w, c, oh, ow | iy [oh] int32, ix [ow] int32 |
| resize_bilinear | x -> y | n, h, w, c, oh, ow, x_zp, y_zp, mult | y0, y1, fy [oh], x0, x1, fx [ow] int32 |
| softmax | x -> y | rows, cols, inv_y_scale, y_zp | exp_table [256] int32 |
| quantize | x(f32) -> y | n, scale, zp[, c, hw] | |
| dequantize | x -> y(f32) | n, scale, zp[, c, hw] | |
| transpose | x -> y | shape, perm | |
| slice | x -> y | in_shape, start, step, out_shape | |
| pad | x -> y | in_shape, pad_before, pad_after, mode | value [1] (element dtype) |
| copy | x -> y | nbytes | |
| conv2d_f32 | x(f32) -> y(f32) | conv2d geometry fields, lo, hi | w [oc,kh,kw,c/g] f32, bias [oc] f32 |
| fc_f32 | x(f32) -> y(f32) | m, k, n, lo, hi | w [n,k] f32, bias [n] f32 |
| f32_binary | a, b -> y | op, type, shape, a_stride, b_stride | |
| f32_unary | x -> y | op (f32.h I8_F32_RELU ... I8_F32_HARD_SWISH_AFFINE), n, alpha, beta | |
| layernorm | x(f32)[, residual(f32)] -> y(f32) | rows, cols, eps, has_beta, has_residual | gamma [cols], beta [cols] f32 |
| f32_softmax | x(f32) -> y(f32) | rows, cols | |
| reduce | x(f32) -> y(f32) | op, outer, r, inner | |
| matmul | a(f32), b(f32) -> y(f32) | batch, a_stride, b_stride, m, k, n, lda, ldb | |
| gather | x, idx(int64) -> y | outer, axis, inner, nidx | |
| strided_copy | x -> y | shape, x_offset, x_stride, y_offset, y_stride | |
| cast | x -> y | n, from, to | |
| where | cond(bool), a, b -> y | shape, c_stride, a_stride, b_stride | |
| dynq_matmul | x(f32), packed -> y(f32) | m, n, k, per_row, has_bias, act (0, 1 = erf GELU) | bias [n] f32 |
| wo_matmul | x(f32), w, scales -> y(f32) (bits 8); x(f32), packed -> y(f32) (bits 4: W4A8, i8_w4_pack) | m, k, n, bits, group, has_bias | bias [n] f32 |
| wo_gather | idx(int64), q, scales -> y(f32) | rows, cols, bits, group, nidx | |
| attention | q, kt, v[, mask] (f32) -> y(f32) | batch, heads, lq, lk, dh, scale, divide, has_mask, mask_stride | |
| rnn | x(f32), packed[, init(f32)] -> y(f32) | seq, batch, input, hidden, cell, dirs, reverse, linear_before_reset, has_h0, has_c0, has_lens | bias [D, 2GH] f32, lens [B] i32 |
| dq_conv | x(f32) NCHW, packed -> y(f32) NCHW | n, c, h, w, m, kh, kw, oh, ow, stride_h, stride_w, dil_h, dil_w, pad_t, pad_l, has_bias, amax | bias [m] f32 |
| f32_maxpool | x(f32) NCHW -> y(f32) NCHW | i8_pool_params geometry fields (c = channels) | |

conv2d / fc post params (the fused epilogue, kernels.h i8_post_params; absent = 0): post_lut
= 1 applies const `table` to the requantized int8 output (y = table[q + 128], the lut kernel),
then post_add = 1 adds input `res` (y's shape) with the add kernel's arithmetic and
parameters add_a_zp, add_a_mult (the conv's value), add_b_zp, add_b_mult (res), add_mult,
add_y_zp, add_qmin, add_qmax: exactly conv2d -> lut -> add (`lower._fuse_epilogues`).
conv2d / fc with out_f32=1 write a float32 y = float32(acc) * mult, mult = s_x * s_w (a
Dequantize fused into its producer, docs/QUANTIZATION.md §4).
quantize / dequantize with c > 0 carry the NCHW <-> NHWC move of the model boundary (quantize:
NCHW [b, c, hw] in, NHWC out; dequantize: NHWC in, NCHW out): `lower` fuses a quantize ->
transpose or transpose -> dequantize pair into one call (csrc/kernels/convert/convert.h).
`requant_copy` writes rows of `cols` elements from `x + x_offset` (row stride `x_stride`) to
`y + y_offset` (row stride `y_stride`); a Concat is one call per input into the same `y`.
conv2d_f32 / fc_f32 are the float fallback of mixed precision (csrc/kernels/f32conv): a Conv /
Gemm kept in float32 between a Dequantize and a Quantize; lo / hi are its fused clamp in real
units (+-FLT_MAX for none).
Data-movement kernels (transpose, slice, pad, resize_nearest, copy, gather, strided_copy,
where) work on any element size: the buffers' dtype decides it.
The float32 / dynamic-int8 / weight-only kernels (f32_binary ... wo_gather) are the records of
transformer graphs (int8rt/dynamic/lower.py, docs/TRANSFORMERS.md); their element types are
codes of csrc/include/int8rt/f32.h, strides are in elements (0 broadcasts), `packed` is a
dynamic-int8 weight panel (`_native.dynq_pack`), `w` / `q` weight-only int8 or int4 weights.
`rnn` is one LSTM / GRU layer (csrc/include/int8rt/rnn.h): `packed` from `_native.rnn_pack`,
init = [h0 | c0] as present, y = [Y | Y_h | Y_c].
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from .records import RECORDS

KERNELS = tuple(r.kernel for r in RECORDS)  # the record kinds of int8rt/records.py


@dataclass(frozen=True)
class Buffer:
    name: str
    shape: tuple[int, ...]
    dtype: str  # numpy dtype name: "int8" inside the plan, "float32" at the model boundary

    @property
    def nbytes(self) -> int:
        return math.prod(int(d) for d in self.shape) * np.dtype(self.dtype).itemsize


@dataclass
class Call:
    kernel: str
    inputs: list[str]
    outputs: list[str]
    params: dict[str, Any] = field(default_factory=dict)
    consts: dict[str, np.ndarray] = field(default_factory=dict)
    node: str = ""  # the IR node this call implements (profiles, error messages)


@dataclass
class Program:
    calls: list[Call]
    buffers: dict[str, Buffer]
    inputs: list[str]  # model input buffers, in Session input order (user layout and dtype)
    outputs: list[str]  # model output buffers, in Session output order
    # constant tensors that calls read as inputs (e.g. an Add operand), by buffer name; each
    # also has a Buffer entry with its shape and dtype
    constants: dict[str, np.ndarray] = field(default_factory=dict)
    # constants the native plan borrows instead of copying (C-contiguous, 64-byte aligned arrays
    # the owner keeps alive and unchanged: weights shared by the plans of every input shape)
    borrowed: set[str] = field(default_factory=set)

    def buffer(self, name: str) -> Buffer:
        return self.buffers[name]
