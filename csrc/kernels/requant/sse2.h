/* The SSE2 requantization epilogue of 8 int32 accumulators in two xmm (requant/requant.h: API
 * and arithmetic), for the x86-64 baseline kernels (SSE2 is part of x86-64: no target
 * attribute needed). Per lane exactly i8_requantize: cvtdq2ps (round to nearest), one mulps,
 * max then min against [qmin - zp, qmax - zp], cvtps2dq (current MXCSR rounding = round half
 * to even, like lrintf), + zp, then saturating packs, exact because every value is already in
 * [qmin, qmax]. */
#ifndef INT8RT_REQUANT_SSE2_H
#define INT8RT_REQUANT_SSE2_H

#if defined(__SSE2__)

#include <emmintrin.h>
#include <string.h>

#include "kernels/requant/requant.h"

typedef struct {
    __m128 lo, hi;
    __m128i zp;
    int32_t out_f32;
    const i8_post *post; /* NULL: none; applied to the bytes just stored (requant.h) */
} i8_sse2_requant;

static inline i8_sse2_requant i8_sse2_requant_init(int32_t y_zp, int32_t qmin, int32_t qmax,
                                                   int32_t out_f32) {
    i8_sse2_requant r;
    r.lo = _mm_set1_ps((float)(qmin - y_zp));
    r.hi = _mm_set1_ps((float)(qmax - y_zp));
    r.zp = _mm_set1_epi32(y_zp);
    r.out_f32 = out_f32;
    r.post = NULL;
    return r;
}

/* Channels 0..3 in s0, 4..7 in s1, bias already added; mult holds 8 readable entries; writes
 * nr <= 8 elements of y (int8, or float32 when rq->out_f32). */
static inline void i8_sse2_requant8_acc(const i8_sse2_requant *rq, __m128i s0, __m128i s1,
                                        const float *mult, void *y, size_t nr) {
    const __m128 v0 = _mm_mul_ps(_mm_cvtepi32_ps(s0), _mm_loadu_ps(mult));
    const __m128 v1 = _mm_mul_ps(_mm_cvtepi32_ps(s1), _mm_loadu_ps(mult + 4));
    if (rq->out_f32) {
        float tmp[8];
        _mm_storeu_ps(tmp, v0);
        _mm_storeu_ps(tmp + 4, v1);
        memcpy(y, tmp, nr * sizeof(float));
        return;
    }
    const __m128i q0 = _mm_add_epi32(
        _mm_cvtps_epi32(_mm_min_ps(_mm_max_ps(v0, rq->lo), rq->hi)), rq->zp);
    const __m128i q1 = _mm_add_epi32(
        _mm_cvtps_epi32(_mm_min_ps(_mm_max_ps(v1, rq->lo), rq->hi)), rq->zp);
    const __m128i w = _mm_packs_epi32(q0, q1);
    const __m128i b = _mm_packs_epi16(w, w);
    if (nr == 8) {
        _mm_storel_epi64((__m128i *)y, b);
    } else {
        int8_t tmp[16];
        _mm_storeu_si128((__m128i *)tmp, b);
        memcpy(y, tmp, nr);
    }
    if (rq->post) i8_post_apply__scalar(rq->post, y, nr);
}

#endif
#endif
