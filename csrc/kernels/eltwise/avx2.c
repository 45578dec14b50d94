/* AVX2 rows of the binary element-wise ops for the contiguous case (both strides 1: same-shape
 * residual adds, the common case after collapse_broadcast), 16 elements per step; the same
 * results as the scalar rows (eltwise.c), bit for bit.
 *
 * add: acc = (a - a_zp) * a_mult + (b - b_zp) * b_mult in int32 (vpmulld: exact, since
 * |a - a_zp| <= 255 and |a_mult|, |b_mult| <= 2^22 keep |acc| < 2^31, as in the scalar row);
 * mul: acc = (a - a_zp) * (b - b_zp). Then i8_requantize lane by lane: float32(acc) times mult
 * (one vmulps, no FMA), clamp max-then-min (equal to the scalar ternary since lo <= hi),
 * vcvtps2dq (MXCSR round half to even, like lrintf), + zp, exact saturating packs. A tail of
 * fewer than 16 elements goes through zero-padded copies. */
#if defined(__x86_64__) || defined(__i386__)

#include <immintrin.h>
#include <string.h>

#include "kernels/eltwise/eltwise.h"
#include "kernels/requant/avx2.h"

#define AVX2 __attribute__((target("avx2")))

AVX2 static inline __m256i widen8(const int8_t *p) {
    return _mm256_cvtepi8_epi32(_mm_loadl_epi64((const __m128i *)p));
}

AVX2 static inline __m256 requant_f(__m256i acc, __m256 mult, __m256 lo, __m256 hi) {
    return _mm256_min_ps(_mm256_max_ps(_mm256_mul_ps(_mm256_cvtepi32_ps(acc), mult), lo), hi);
}

AVX2 static inline void binary16(const i8_binary_params *p, int is_add, const int8_t *a,
                                 const int8_t *b, int8_t *y) {
    const __m256i azp = _mm256_set1_epi32(p->a_zp), bzp = _mm256_set1_epi32(p->b_zp);
    const __m256 mult = _mm256_set1_ps(p->mult);
    const __m256 lo = _mm256_set1_ps((float)(p->qmin - p->y_zp));
    const __m256 hi = _mm256_set1_ps((float)(p->qmax - p->y_zp));
    const __m256i yzp = _mm256_set1_epi32(p->y_zp);
    __m256i acc[2];
    for (int h = 0; h < 2; h++) {
        const __m256i av = _mm256_sub_epi32(widen8(a + 8 * h), azp);
        const __m256i bv = _mm256_sub_epi32(widen8(b + 8 * h), bzp);
        if (is_add)
            acc[h] = _mm256_add_epi32(_mm256_mullo_epi32(av, _mm256_set1_epi32(p->a_mult)),
                                      _mm256_mullo_epi32(bv, _mm256_set1_epi32(p->b_mult)));
        else
            acc[h] = _mm256_mullo_epi32(av, bv);
    }
    const __m256i q0 = _mm256_add_epi32(_mm256_cvtps_epi32(requant_f(acc[0], mult, lo, hi)), yzp);
    const __m256i q1 = _mm256_add_epi32(_mm256_cvtps_epi32(requant_f(acc[1], mult, lo, hi)), yzp);
    const __m256i w = _mm256_permute4x64_epi64(_mm256_packs_epi32(q0, q1), 0xD8);
    _mm_storeu_si128((__m128i *)y,
                     _mm_packs_epi16(_mm256_castsi256_si128(w), _mm256_extracti128_si256(w, 1)));
}

AVX2 static void binary_contig(const i8_binary_params *p, int is_add, int64_t n,
                               const int8_t *a, const int8_t *b, int8_t *y) {
    int64_t i = 0;
    for (; i + 16 <= n; i += 16) binary16(p, is_add, a + i, b + i, y + i);
    if (i < n) {
        int8_t ta[16] = {0}, tb[16] = {0}, ty[16];
        memcpy(ta, a + i, (size_t)(n - i));
        memcpy(tb, b + i, (size_t)(n - i));
        binary16(p, is_add, ta, tb, ty);
        memcpy(y + i, ty, (size_t)(n - i));
    }
}

AVX2 void i8_add_contig__avx2(const i8_binary_params *p, int64_t n, const int8_t *a,
                              const int8_t *b, int8_t *y) {
    binary_contig(p, 1, n, a, b, y);
}

AVX2 void i8_mul_contig__avx2(const i8_binary_params *p, int64_t n, const int8_t *a,
                              const int8_t *b, int8_t *y) {
    binary_contig(p, 0, n, a, b, y);
}

/* The requantizing copy through the shared epilogue (requant/avx2.h): acc = x, bias = -x_zp
 * (so acc + bias = x - x_zp, exact), mult broadcast; 16 elements per step, a zero-padded copy
 * for each row's tail. */
AVX2 void i8_requant_copy__avx2(const i8_requant_copy_params *p, const int8_t *x, int8_t *y) {
    int32_t bias[16];
    float mults[16];
    for (int k = 0; k < 16; k++) {
        bias[k] = -p->x_zp;
        mults[k] = p->mult;
    }
    const i8_avx2_requant rq = i8_avx2_requant_init(p->y_zp, -128, 127, 0);
    const int64_t n = p->cols;
    for (int64_t r = 0; r < p->rows; r++) {
        const int8_t *xr = x + r * p->x_stride;
        int8_t *yr = y + r * p->y_stride;
        int64_t i = 0;
        for (; i + 16 <= n; i += 16)
            i8_avx2_requant16(&rq, widen8(xr + i), widen8(xr + i + 8), bias, mults, yr + i, 16);
        if (i < n) {
            int8_t t[16] = {0};
            memcpy(t, xr + i, (size_t)(n - i));
            i8_avx2_requant16(&rq, widen8(t), widen8(t + 8), bias, mults, yr + i,
                              (size_t)(n - i));
        }
    }
}

#endif
