/* The AVX-512 requantization epilogue of 16 int32 accumulators in one zmm (requant/requant.h:
 * API and arithmetic), shared by every AVX-512 kernel (gemm's avx512vnni tiles, dwconv, ...).
 * Include only from files whose callers carry I8_AVX512_TARGET.
 *
 * Per lane exactly i8_requantize: vpaddd (wraps like i8_add_wrap), vcvtdq2ps (round to
 * nearest), one vmulps, max then min against [qmin - zp, qmax - zp], vcvtps2dq (current MXCSR
 * rounding = round half to even, like lrintf), + zp, then vpmovsdb to 16 bytes: its
 * saturation never triggers because every value is already in [qmin, qmax]. Partial blocks
 * (nr < 16) use masked stores, which never touch memory outside the nr elements. */
#ifndef INT8RT_REQUANT_AVX512_H
#define INT8RT_REQUANT_AVX512_H

#if defined(__x86_64__) || defined(__i386__)

#include <immintrin.h>

#include "kernels/requant/requant.h"

#define I8_AVX512_TARGET __attribute__((target("avx512f,avx512bw,avx512vl")))

typedef struct {
    __m512 lo, hi;
    __m512i zp;
    int32_t out_f32;
    const i8_post *post; /* NULL: none (requant.h) */
} i8_avx512_requant;

/* The residual add of 16 requantized bytes b (requant.h i8_post1) whose first output element
 * is y, nr <= 16 real (mask m), in one
 * zmm (the add kernel's arithmetic, eltwise/avx512.c; a masked load of the residual). */
I8_AVX512_TARGET static inline __m128i i8_avx512_post16(const i8_post *po, __m128i b,
                                                        const void *y, __mmask16 m) {
    /* tables never reach this epilogue: the kernels run them after the block, 64 bytes per
     * step (requant.h i8_post_rows__avx512vbmi) */
    if (po->add) {
        const __m128i r = _mm_maskz_loadu_epi8(m, (const int8_t *)y + po->res_off);
        const __m512i acc = _mm512_add_epi32(
            _mm512_mullo_epi32(_mm512_sub_epi32(_mm512_cvtepi8_epi32(b), _mm512_set1_epi32(po->a_zp)),
                               _mm512_set1_epi32(po->a_mult)),
            _mm512_mullo_epi32(_mm512_sub_epi32(_mm512_cvtepi8_epi32(r), _mm512_set1_epi32(po->b_zp)),
                               _mm512_set1_epi32(po->b_mult)));
        const __m512 v = _mm512_min_ps(
            _mm512_max_ps(_mm512_mul_ps(_mm512_cvtepi32_ps(acc), _mm512_set1_ps(po->mult)),
                          _mm512_set1_ps((float)(po->qmin - po->y_zp))),
            _mm512_set1_ps((float)(po->qmax - po->y_zp)));
        b = _mm512_cvtsepi32_epi8(
            _mm512_add_epi32(_mm512_cvtps_epi32(v), _mm512_set1_epi32(po->y_zp)));
    }
    return b;
}

I8_AVX512_TARGET static inline i8_avx512_requant
i8_avx512_requant_init(int32_t y_zp, int32_t qmin, int32_t qmax, int32_t out_f32) {
    i8_avx512_requant r;
    r.lo = _mm512_set1_ps((float)(qmin - y_zp));
    r.hi = _mm512_set1_ps((float)(qmax - y_zp));
    r.zp = _mm512_set1_epi32(y_zp);
    r.out_f32 = out_f32;
    r.post = NULL;
    return r;
}

/* v = acc * mult (16 lanes) -> 16 int8: clamp, round half to even, + zp, narrow */
I8_AVX512_TARGET static inline __m128i i8_avx512_requant16_bytes(const i8_avx512_requant *rq,
                                                                 __m512 v) {
    const __m512i q = _mm512_add_epi32(
        _mm512_cvtps_epi32(_mm512_min_ps(_mm512_max_ps(v, rq->lo), rq->hi)), rq->zp);
    /* narrow in a register, then a plain store: the memory form of vpmovsdb is much slower
     * on AMD Zen 4 (measured: MobileNetV2's K = 16 1x1 convs, epilogue-bound) */
    return _mm512_cvtsepi32_epi8(q);
}

/* The common case with its checks hoisted by the caller (rq->out_f32 == 0, rq->post == NULL,
 * all 16 channels): 16 int8 of y, no branch (the gemm tiles' full int8 tiles: with K = 16 the
 * per-call checks of i8_avx512_requant16_acc were a good part of the epilogue). */
I8_AVX512_TARGET static inline void i8_avx512_requant16_int8(const i8_avx512_requant *rq,
                                                             __m512i s, const float *mult,
                                                             void *y) {
    const __m512 v = _mm512_mul_ps(_mm512_cvtepi32_ps(s), _mm512_loadu_ps(mult));
    _mm_storeu_si128((__m128i *)y, i8_avx512_requant16_bytes(rq, v));
}

/* Channels 0..15 in s, bias already added; mult holds 16 readable entries; writes nr <= 16
 * elements of y (int8, or float32 when rq->out_f32). */
I8_AVX512_TARGET static inline void i8_avx512_requant16_acc(const i8_avx512_requant *rq,
                                                            __m512i s, const float *mult,
                                                            void *y, size_t nr) {
    const __m512 v = _mm512_mul_ps(_mm512_cvtepi32_ps(s), _mm512_loadu_ps(mult));
    const __mmask16 m = nr >= 16 ? (__mmask16)0xFFFF : (__mmask16)((1u << nr) - 1);
    if (rq->out_f32) {
        _mm512_mask_storeu_ps(y, m, v);
        return;
    }
    __m128i b = i8_avx512_requant16_bytes(rq, v);
    if (rq->post) b = i8_avx512_post16(rq->post, b, y, m);
    if (nr >= 16)
        _mm_storeu_si128((__m128i *)y, b);
    else
        _mm_mask_storeu_epi8(y, m, b);
}

/* Channels 0..15 in s; bias and mult hold 16 readable entries; writes nr <= 16 elements of y
 * (int8, or float32 when rq->out_f32). */
I8_AVX512_TARGET static inline void i8_avx512_requant16(const i8_avx512_requant *rq, __m512i s,
                                                        const int32_t *bias, const float *mult,
                                                        void *y, size_t nr) {
    i8_avx512_requant16_acc(rq, _mm512_add_epi32(s, _mm512_loadu_si512(bias)), mult, y, nr);
}

#endif
#endif
