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
 * nr <= 16 elements are written, nothing beyond. bias may be NULL in the scalar row only. */
#ifndef INT8RT_REQUANT_H
#define INT8RT_REQUANT_H

#include <stddef.h>
#include <stdint.h>

#include "int8rt/kernels.h"

typedef struct {
    int32_t y_zp, qmin, qmax;
    int32_t out_f32; /* y is float32 (acc * mult), else int8 (requantized) */
} i8_rq_params;

static inline i8_rq_params i8_rq_params_init(int32_t y_zp, int32_t qmin, int32_t qmax,
                                             int32_t out_f32) {
    const i8_rq_params r = {y_zp, qmin, qmax, out_f32};
    return r;
}

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
}

#endif
