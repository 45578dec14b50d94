/* The requantization epilogue, written once per ISA and shared by every kernel family (gemm,
 * dwconv, and any other kernel that turns int32 accumulators into int8 or float32 outputs).
 *
 * Arithmetic (docs/QUANTIZATION.md §4, i8_requantize in int8rt/kernels.h), per lane:
 *   acc + bias        wrapping int32 add: packed biases are stored modulo 2^32 (i8_gemm_pack)
 *   float32(acc)      round to nearest, like the C int -> float conversion
 *   * mult            one IEEE float32 multiply (no FMA: -ffp-contract=off, no -mfma)
 *   out_f32:          store that float32 (no zero point, no clamp)
 *   else:             clamp to [qmin - zp, qmax - zp] (max then min, equal to the scalar
 *                     ternary since lo <= hi), round half to even (lrintf / vcvtps2dq in the
 *                     default MXCSR mode), + zp, narrow to int8 (exact: already in range).
 *
 * API (stable; each ISA header provides the same three things with its own suffix):
 *   i8_rq_params                      epilogue constants (this file, ISA-neutral)
 *   i8_rq_params_init(y_zp, qmin, qmax, out_f32)
 *   scalar (this file):
 *     i8_requant_row__scalar(rq, acc, bias, mult, y, n)       n lanes, any n
 *   SSE2 (requant/sse2.h, the x86-64 baseline):
 *     i8_sse2_requant  i8_sse2_requant_init(y_zp, qmin, qmax, out_f32)
 *     i8_sse2_requant8_acc(rq, s0, s1, mult, y, nr)             xmm s0 = ch 0-3, s1 = ch 4-7,
 *                                                               bias already added, nr <= 8
 *   AVX2 (requant/avx2.h, callers carry target("avx2")):
 *     i8_avx2_requant  i8_avx2_requant_init(y_zp, qmin, qmax, out_f32)
 *     i8_avx2_requant16(rq, s0, s1, bias, mult, y, nr)          ymm s0 = ch 0-7, s1 = ch 8-15
 *     i8_avx2_requant16_acc(rq, s0, s1, mult, y, nr)            the same, bias already added
 *   AVX-512 (requant/avx512.h, callers carry I8_AVX512_TARGET = avx512f,avx512bw,avx512vl):
 *     i8_avx512_requant  i8_avx512_requant_init(y_zp, qmin, qmax, out_f32)
 *     i8_avx512_requant16(rq, s, bias, mult, y, nr)              zmm s = ch 0-15
 *     i8_avx512_requant16_acc(rq, s, mult, y, nr)                the same, bias already added
 * In all of them bias and mult point at the first lane's channel and must have 16 (resp. n)
 * readable entries; y points at the first output element (int8, or float32 when out_f32);
 * nr <= 16 elements are written, nothing beyond. bias may be NULL in the scalar row only.
 * Each ISA's rq struct also carries `post` (i8_post below, NULL: none), which its epilogue
 * applies in registers (avx2.h, avx512.h) or on the bytes just written (scalar, sse2.h); the
 * NEON kernels' drivers run i8_post_rows__neon over the rows just written. */
#ifndef INT8RT_REQUANT_H
#define INT8RT_REQUANT_H

#include <stddef.h>
#include <stdint.h>

#include "int8rt/kernels.h"

/* The fused post-ops of an int8 epilogue (kernels.h i8_post_params; docs/KERNELS.md "Fused
 * epilogues"), applied to each requantized int8 q, in this order:
 *   lut:  q = lut[q + 128]                          (an activation: SiLU, hardswish, ...)
 *   add:  acc = (q - a_zp) * a_mult + (r - b_zp) * b_mult, q = i8_requantize(acc, mult,
 *         y_zp, qmin, qmax)                          (a residual Add, its own requantization)
 * which is exactly the unfused lut and add kernels run after the conv (the same integer and
 * float32 operations per element). r is the residual element at the output's own position:
 * the residual has y's shape and layout, so it sits res_off bytes from the output element
 * (res_off = res - y for the whole tensors; every kernel only ever offsets y). Built per run
 * by i8_post_init (post.c) from the plan's table and residual pointers. */
typedef struct {
    const int8_t *lut;     /* NULL: no table */
    ptrdiff_t res_off;     /* add only */
    int32_t add;           /* 1: residual add */
    int32_t a_zp, b_zp, a_mult, b_mult;
    float mult;
    int32_t y_zp, qmin, qmax;
    int32_t vbmi;          /* the CPU has AVX-512 VBMI (the zmm epilogue's table lookup) */
    /* the AVX2 lookup's difference tables (post.c i8_post_rows__avx2): [half][j][16] */
    int8_t lut_diff[2][8][16] __attribute__((aligned(16)));
} i8_post;

typedef struct {
    int32_t y_zp, qmin, qmax;
    int32_t out_f32; /* y is float32 (acc * mult), else int8 (requantized) */
    const i8_post *post; /* NULL: none; only with int8 outputs */
} i8_rq_params;

static inline i8_rq_params i8_rq_params_init(int32_t y_zp, int32_t qmin, int32_t qmax,
                                             int32_t out_f32) {
    const i8_rq_params r = {y_zp, qmin, qmax, out_f32, NULL};
    return r;
}

/* The post-ops of one requantized element q whose output position is y. */
static inline int8_t i8_post1(const i8_post *po, int8_t q, const int8_t *y) {
    if (po->lut) q = po->lut[(uint8_t)q ^ 0x80u];
    if (po->add) {
        const int32_t r = y[po->res_off];
        /* |q - a_zp| <= 255 and |a_mult|, |b_mult| <= 2^22: no int32 overflow (the add
         * kernel's bound, eltwise.c) */
        const int32_t acc = (q - po->a_zp) * po->a_mult + (r - po->b_zp) * po->b_mult;
        q = i8_requantize(acc, po->mult, po->y_zp, po->qmin, po->qmax);
    }
    return q;
}

/* The post-ops over n int8 outputs already written at y (in place): the epilogue of kernels
 * without an in-register one (the SSE2 tiles, the scalar kernels). */
static inline void i8_post_apply__scalar(const i8_post *po, int8_t *y, size_t n) {
    for (size_t t = 0; t < n; t++) y[t] = i8_post1(po, y[t], y + t);
}

#if defined(__x86_64__) || defined(__i386__)
/* The post-ops over `rows` rows of n int8 outputs already written (row stride y_row bytes), 32
 * bytes per step (AVX2; post.c): the AVX2 kernels' table lookup, which costs about as much per
 * 16 bytes in their 16-byte epilogue as per 32 bytes here (docs/KERNELS.md "Fused
 * epilogues"). Only on CPUs with AVX2. */
void i8_post_rows__avx2(const i8_post *po, int8_t *y, size_t rows, size_t n, size_t y_row);
/* The same 64 bytes per step with AVX-512 VBMI (only where po->vbmi): the avx512vnni kernels'
 * pass when a table is fused (a 16-byte lookup in their epilogue measured 2 % slower). */
void i8_post_rows__avx512vbmi(const i8_post *po, int8_t *y, size_t rows, size_t n,
                              size_t y_row);
#endif

#if defined(__aarch64__) || (defined(__arm__) && defined(__ARM_FP) && !defined(__SOFTFP__))
/* The post-ops over rows of int8 outputs, 16 bytes per step with NEON (post_neon.c: TBL / TBX
 * lookup, the add's requantization in NEON): the pass the NEON gemm and depthwise drivers run
 * over the rows just written, their epilogues having no post-ops. Only where NEON is selected
 * (armv7: HWCAP_NEON). */
void i8_post_rows__neon(const i8_post *po, int8_t *y, size_t rows, size_t n, size_t y_row);
#endif

/* Fills po from a conv / fc call's post params, table and residual (kernels.h); returns po,
 * or NULL when no post-op is active (out_f32 outputs never have one). */
const i8_post *i8_post_init(i8_post *po, const i8_post_params *pp, const int8_t *table,
                            const int8_t *res, const void *y);

/* acc + bias modulo 2^32: defined behaviour, exact whenever the true sum fits int32 (§3). */
static inline int32_t i8_add_wrap(int32_t acc, int32_t bias) {
    return (int32_t)((uint32_t)acc + (uint32_t)bias);
}

/* The portable epilogue of n accumulators (the one every SIMD epilogue must equal). */
static inline void i8_requant_row__scalar(const i8_rq_params *rq, const int32_t *acc,
                                          const int32_t *bias, const float *mult, void *y,
                                          size_t n) {
    if (rq->out_f32) {
        float *f = y;
        for (size_t t = 0; t < n; t++)
            f[t] = (float)i8_add_wrap(acc[t], bias ? bias[t] : 0) * mult[t];
        return;
    }
    int8_t *q = y;
    for (size_t t = 0; t < n; t++)
        q[t] = i8_requantize(i8_add_wrap(acc[t], bias ? bias[t] : 0), mult[t], rq->y_zp,
                             rq->qmin, rq->qmax);
    if (rq->post) i8_post_apply__scalar(rq->post, q, n);
}

#endif
