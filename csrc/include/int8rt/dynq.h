/* Dynamic quantization and weight-only quantized matmuls (docs/QUANTIZATION.md §7,
 * docs/TRANSFORMERS.md).
 *
 * Dynamic int8:  y[i, j] = (float32(acc[i, j]) * s_w[j]) * s_a[i] + bias[j],
 *   acc[i, j] = sum_k qa[i, k] * qw[j, k] (int32, exact),
 *   qa[i, k] = clamp(rint(a[i, k] * (127 / amax_i)), -127, 127), s_a[i] = amax_i / 127,
 *   amax_i = max_k |a[i, k]| (per row = per token) or over the whole matrix (per tensor);
 *   an all-zero row (amax < I8_DQ_TINY_AMAX below) gets s_a = 1 (its q are all 0). Symmetric: no zero point, so no
 *   run-time correction term. The product goes through the gemm driver (kernels/gemm), whose
 *   out_f32 epilogue computes float32(acc) * s_w[j]; the s_a multiply and the bias add follow.
 *
 * Weight-only: w [n, k] int8, or int4 packed two per byte along k (low nibble first,
 *   two's complement in [-8, 7]), one float32 scale per (row j, group of `group` k);
 *   y[i, :] = bias + sum_k a[i, k] * (s[j, k / group] * q[j, k]) accumulated in k order in
 *   float32. */
#ifndef INT8RT_DYNQ_H
#define INT8RT_DYNQ_H

#include <stddef.h>
#include <stdint.h>

/* A row (or image) whose amax is below 2^-121 quantizes as an all-zero row (q = 0, s_a = 1):
 * 127 / amax would overflow float32 there (FLT_MAX * 2^-121 > 127 > FLT_MAX * amax for
 * amax < 3.73e-37), giving q = 0 * inf = NaN and +-inf, which lrintf / cvtps turn into
 * INT_MIN. Dropping values below 3.8e-37 changes no float32 result they could reach. The
 * numpy references use the same bound (int8rt/reference/dynq.py TINY_AMAX). */
#define I8_DQ_TINY_AMAX 0x1p-121f

size_t i8_dq_packed_size(int32_t n, int32_t k);
/* w [n, k] int8 (symmetric, |q| <= 127), w_scale [n] */
void i8_dq_pack(int32_t n, int32_t k, const int8_t *w, const float *w_scale, void *packed);
/* The name of the gemm kernel set i8_dq_matmul runs this packed panel with on the current path
 * ("avx2", "avx2ubs" for weights within [-64, 64] on avx2, "avx512vnni", ...) */
const char *i8_dq_kernel_name(int32_t n, int32_t k, const void *packed);
size_t i8_dq_scratch_size(int64_t m, int64_t k);
/* q [m, k] int8, s [m] (per_row) or s[0] (per tensor) */
void i8_dq_quantize_rows(int64_t m, int64_t k, const float *a, int32_t per_row, int8_t *q,
                        float *s);
/* a [m, k] f32 (row stride k) -> y [m, n] f32; bias [n] or NULL */
enum { I8_DQ_ACT_NONE = 0, I8_DQ_ACT_GELU_ERF = 1 };
/* the same, then y = act(y) (the f32_unary GELU kernel's arithmetic, on each row block while
 * it is in cache) */
void i8_dq_matmul_act(int64_t m, int32_t n, int32_t k, const void *packed, const float *bias,
                     const float *a, int32_t per_row, int32_t act, float *y, void *scratch);
void i8_dq_matmul(int64_t m, int32_t n, int32_t k, const void *packed, const float *bias,
                 const float *a, int32_t per_row, float *y, void *scratch);

size_t i8_wo_scratch_size(int64_t k, int64_t group); /* bytes for a k x 64 float panel */
/* bits 8 or 4; scales [n, k / group]; k % group == 0 */
void i8_wo_matmul_run(int64_t m, int64_t k, int64_t n, const float *a, const void *w,
                         int32_t bits, int64_t group, const float *scales, const float *bias,
                         float *y, void *scratch);

/* Weight-only int4 with int8 activations (W4A8; mode "weight_only", bits 4):
 *   y[i, j] = f[i, j] * s_a[i] + bias[j],  f = sum over groups g in k order of
 *   float32(acc_g[i, j]) * s[j, g] (f starts at 0; each product and sum rounded to float32),
 *   acc_g[i, j] = sum_{k in g} qa[i, k] * (u[j, k] - z[j, g]) (int32, exact),
 * qa / s_a the dynamic matmul's per-row activations (above), u the unsigned int4 code and z
 * the group's zero point (symmetric files: u = q + 8, z = 8). q [n, k / 2] as above (two's
 * complement nibbles), or unsigned codes with zero_points [n, k / group] (asymmetric).
 * group a multiple of 8 dividing k. The packed blocks (i8_w4_pack, once per session) hold
 * the codes, zero points and scales in the micro-kernels' order (kernels/dynq/w4a8.c). */
size_t i8_w4_group_bytes(int64_t group);
size_t i8_w4_packed_size(int64_t n, int64_t k, int64_t group);
void i8_w4_pack(int64_t n, int64_t k, int64_t group, const uint8_t *q, const float *scales,
                const uint8_t *zero_points, void *packed);
size_t i8_w4_scratch_size(int64_t m, int64_t k);
void i8_w4_matmul(int64_t m, int64_t n, int64_t k, int64_t group, const float *a,
                  const void *packed, const float *bias, float *y, void *scratch);
/* The row kernels compiled in (scalar, avx2, avxvnni, avxvnni_evex, avx512vnni and the
 * portable emulations *_emu), and i8_w4_matmul through kernel i (-1: not runnable here). */
int32_t i8_w4_kernel_count(void);
const char *i8_w4_kernel_name(int32_t i);
int32_t i8_w4_kernel_native(int32_t i);
int32_t i8_w4_kernel_runnable(int32_t i);
int i8_w4_matmul_kernel(int32_t kernel, int64_t m, int64_t n, int64_t k, int64_t group,
                        const float *a, const void *packed, const float *bias, float *y,
                        void *scratch);

/* Embedding lookup from a weight-only table q [rows, cols] (layout as above, groups along
 * cols): y[j, :] = s[idx[j], c / group] * q[idx[j], c]. Returns -1 when an index is outside
 * [-rows, rows) (nothing defined written). */
int i8_wo_gather_run(int64_t rows, int64_t cols, const void *q, int32_t bits, int64_t group,
                        const float *scales, const int64_t *idx, int64_t nidx, float *y);

#endif
