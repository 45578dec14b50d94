/* The AVX2 requantization epilogue of 16 int32 accumulators (requant/requant.h: API and
 * arithmetic), shared by every AVX2 and AVX-VNNI kernel (gemm, dwconv, ...). Include only from
 * files whose callers carry target("avx2").
 *
 * Per lane, exactly i8_requantize (kernels.h) / the float32 epilogue:
 *   acc + bias (wrapping vpaddd: bias is stored modulo 2^32, see i8_gemm_pack),
 *   float32(acc) (vcvtdq2ps rounds to nearest like the scalar int -> float conversion),
 *   times mult (one vmulps; no FMA: the build has -ffp-contract=off and no -mfma),
 *   clamp to [qmin - zp, qmax - zp] as max then min (equal to the scalar ternary since
 *   lo <= hi), vcvtps2dq (current MXCSR rounding = round half to even, like lrintf), + zp,
 *   then saturating packs, which are exact because every value is already in [qmin, qmax]. */
#ifndef INT8RT_REQUANT_AVX2_H
#define INT8RT_REQUANT_AVX2_H

#if defined(__x86_64__) || defined(__i386__)

#include <immintrin.h>
#include <string.h>

#include "kernels/requant/requant.h"

typedef struct {
    __m256 lo, hi;
    __m256i zp;
    int32_t out_f32;
} i8_avx2_requant;

/* No post-ops in this 16-byte epilogue: the AVX2 kernels run them over their output rows
 * after a block, 32 bytes per step (requant.h i8_post_rows__avx2, docs/KERNELS.md "Fused
 * epilogues"). The residual add of 16 int8 q (requant.h i8_post1) against r, the 16 residual
 * bytes, for that pass: the add kernel's arithmetic (eltwise/avx2.c) per lane: int32 products (vpmulld, exact: |acc| <
 * 2^31), vcvtdq2ps, one vmulps, clamp, vcvtps2dq (half to even), + zp, exact packs. */
/* The first nr <= 16 bytes of b to y: one store for a whole vector, else through a stack copy
 * (y may have only nr writable bytes). SSE2, so no target attribute. */
static inline void i8_store_s8x16(void *y, __m128i b, size_t nr) {
    if (nr == 16) {
        _mm_storeu_si128((__m128i *)y, b);
    } else {
        int8_t tmp[16];
        _mm_storeu_si128((__m128i *)tmp, b);
        memcpy(y, tmp, nr);
    }
}

__attribute__((target("avx2"))) static inline __m128i i8_avx2_add16(const i8_post *po, __m128i q,
                                                                    __m128i r) {
    const __m256i azp = _mm256_set1_epi32(po->a_zp), bzp = _mm256_set1_epi32(po->b_zp);
    const __m256i am = _mm256_set1_epi32(po->a_mult), bm = _mm256_set1_epi32(po->b_mult);
    const __m256 m = _mm256_set1_ps(po->mult);
    const __m256 lo = _mm256_set1_ps((float)(po->qmin - po->y_zp));
    const __m256 hi = _mm256_set1_ps((float)(po->qmax - po->y_zp));
    __m256i o[2];
    for (int h = 0; h < 2; h++) {
        const __m128i qh = h ? _mm_srli_si128(q, 8) : q, rh = h ? _mm_srli_si128(r, 8) : r;
        const __m256i acc = _mm256_add_epi32(
            _mm256_mullo_epi32(_mm256_sub_epi32(_mm256_cvtepi8_epi32(qh), azp), am),
            _mm256_mullo_epi32(_mm256_sub_epi32(_mm256_cvtepi8_epi32(rh), bzp), bm));
        const __m256 v = _mm256_min_ps(_mm256_max_ps(_mm256_mul_ps(_mm256_cvtepi32_ps(acc), m), lo), hi);
        o[h] = _mm256_add_epi32(_mm256_cvtps_epi32(v), _mm256_set1_epi32(po->y_zp));
    }
    const __m256i w = _mm256_permute4x64_epi64(_mm256_packs_epi32(o[0], o[1]), 0xD8);
    return _mm_packs_epi16(_mm256_castsi256_si128(w), _mm256_extracti128_si256(w, 1));
}

__attribute__((target("avx2"))) static inline i8_avx2_requant
i8_avx2_requant_init(int32_t y_zp, int32_t qmin, int32_t qmax, int32_t out_f32) {
    i8_avx2_requant r;
    r.lo = _mm256_set1_ps((float)(qmin - y_zp));
    r.hi = _mm256_set1_ps((float)(qmax - y_zp));
    r.zp = _mm256_set1_epi32(y_zp);
    r.out_f32 = out_f32;
    return r;
}

/* Channels 0..7 in s0, 8..15 in s1, bias already added (a kernel that starts its accumulators
 * at the bias); mult holds 16 readable entries; writes nr <= 16 elements of y (int8, or
 * float32 when rq->out_f32). */
__attribute__((target("avx2"))) static inline void
i8_avx2_requant16_acc(const i8_avx2_requant *rq, __m256i s0, __m256i s1, const float *mult,
                      void *y, size_t nr) {
    const __m256 v0 = _mm256_mul_ps(_mm256_cvtepi32_ps(s0), _mm256_loadu_ps(mult));
    const __m256 v1 = _mm256_mul_ps(_mm256_cvtepi32_ps(s1), _mm256_loadu_ps(mult + 8));
    if (rq->out_f32) {
        float *f = y;
        if (nr == 16) {
            _mm256_storeu_ps(f, v0);
            _mm256_storeu_ps(f + 8, v1);
        } else {
            float tmp[16];
            _mm256_storeu_ps(tmp, v0);
            _mm256_storeu_ps(tmp + 8, v1);
            memcpy(f, tmp, nr * sizeof(float));
        }
        return;
    }
    const __m256i q0 =
        _mm256_add_epi32(_mm256_cvtps_epi32(_mm256_min_ps(_mm256_max_ps(v0, rq->lo), rq->hi)),
                         rq->zp);
    const __m256i q1 =
        _mm256_add_epi32(_mm256_cvtps_epi32(_mm256_min_ps(_mm256_max_ps(v1, rq->lo), rq->hi)),
                         rq->zp);
    /* packs work per 128-bit lane: [q0 0-3, q1 0-3 | q0 4-7, q1 4-7]; reorder the 64-bit
     * quarters to channel order, then pack the two halves to 16 bytes */
    const __m256i w = _mm256_permute4x64_epi64(_mm256_packs_epi32(q0, q1), 0xD8);
    const __m128i b = _mm_packs_epi16(_mm256_castsi256_si128(w), _mm256_extracti128_si256(w, 1));
    i8_store_s8x16(y, b, nr);
}

/* Channels 0..7 in s0, 8..15 in s1; bias and mult hold 16 readable entries; writes nr <= 16
 * elements of y (int8, or float32 when rq->out_f32). */
__attribute__((target("avx2"))) static inline void
i8_avx2_requant16(const i8_avx2_requant *rq, __m256i s0, __m256i s1, const int32_t *bias,
                  const float *mult, void *y, size_t nr) {
    s0 = _mm256_add_epi32(s0, _mm256_loadu_si256((const __m256i *)bias));
    s1 = _mm256_add_epi32(s1, _mm256_loadu_si256((const __m256i *)(bias + 8)));
    i8_avx2_requant16_acc(rq, s0, s1, mult, y, nr);
}

#endif
#endif
