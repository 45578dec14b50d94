/* AVX-512 twin of quant_x86.c for the VNNI paths (u8 prepared rows only): 16 lanes, the same
 * float32 product, vcvtps2dq rounding (half to even, as lrintf), clamp and NaN rules, so the
 * bytes are those of the AVX2 and scalar code. vpmovdb narrows the clamped int32 exactly. */
#include <math.h>
#include <string.h>

#include "kernels/dynq/dynq_internal.h"

#if defined(__x86_64__) || defined(__i386__)
#include <immintrin.h>

#define AVX512 __attribute__((target("avx512f,avx512bw,avx512vl")))

AVX512 static float absmax_row(const float *a, int64_t k) {
    __m512 m0 = _mm512_setzero_ps(), m1 = _mm512_setzero_ps();
    int64_t i = 0;
    /* max_ps(v, m) = v > m ? v : m: a NaN v leaves m (the scalar loop's rule) */
    for (; i + 32 <= k; i += 32) {
        m0 = _mm512_max_ps(_mm512_abs_ps(_mm512_loadu_ps(a + i)), m0);
        m1 = _mm512_max_ps(_mm512_abs_ps(_mm512_loadu_ps(a + i + 16)), m1);
    }
    for (; i + 16 <= k; i += 16) m0 = _mm512_max_ps(_mm512_abs_ps(_mm512_loadu_ps(a + i)), m0);
    /* lanes hold no NaN (max_ps kept the running max): the reduction order cannot matter */
    float mx = _mm512_reduce_max_ps(_mm512_max_ps(m1, m0));
    for (; i < k; i++) {
        const float v = fabsf(a[i]);
        mx = v > mx ? v : mx;
    }
    return mx;
}

static int32_t q1(float v, float inv) {
    long q = lrintf(v * inv);
    return q > 127 ? 127 : q < -127 ? -127 : (int32_t)q;
}

AVX512 int64_t i8_dq_prepare_rows_u8__avx512(int64_t rows, int64_t k, const float *a,
                                            int64_t lda, int64_t kc, void *dst, float *s) {
    const __m128i flip = _mm_set1_epi8((char)0x80);
    const __m512i hi = _mm512_set1_epi32(127), lo = _mm512_set1_epi32(-127);
    for (int64_t r = 0; r < rows; r++) {
        const float *ar = a + r * lda;
        uint8_t *d = (uint8_t *)dst + r * kc;
        const float amax = absmax_row(ar, k);
        s[r] = amax < I8_DQ_TINY_AMAX ? 1.0f : amax / 127.0f;
        if (amax < I8_DQ_TINY_AMAX) { /* q = 0: the byte 0x80 */
            memset(d, 0x80, (size_t)k);
            memset(d + k, 0, (size_t)(kc - k));
            continue;
        }
        const float invs = 127.0f / amax;
        const __m512 inv = _mm512_set1_ps(invs);
        int64_t i = 0;
        for (; i + 16 <= k; i += 16) {
            __m512i q = _mm512_cvtps_epi32(_mm512_mul_ps(_mm512_loadu_ps(ar + i), inv));
            q = _mm512_max_epi32(_mm512_min_epi32(q, hi), lo);
            _mm_storeu_si128((__m128i *)(d + i), _mm_xor_si128(_mm512_cvtepi32_epi8(q), flip));
        }
        for (; i < k; i++) d[i] = (uint8_t)((uint8_t)(int8_t)q1(ar[i], invs) ^ 0x80u);
        memset(d + k, 0, (size_t)(kc - k));
    }
    return rows;
}

/* y[i, :] = y[i, :] * s[i] + bias (two roundings, no FMA) */
AVX512 void i8_dq_scale_rows__avx512(int64_t rows, int64_t n, const float *s, const float *bias,
                                    float *y, int64_t ldy) {
    for (int64_t r = 0; r < rows; r++) {
        float *yr = y + r * ldy;
        const __m512 sa = _mm512_set1_ps(s[r]);
        int64_t j = 0;
        if (bias) {
            for (; j + 16 <= n; j += 16)
                _mm512_storeu_ps(yr + j, _mm512_add_ps(_mm512_mul_ps(_mm512_loadu_ps(yr + j), sa),
                                                       _mm512_loadu_ps(bias + j)));
            for (; j < n; j++) yr[j] = yr[j] * s[r] + bias[j];
        } else {
            for (; j + 16 <= n; j += 16)
                _mm512_storeu_ps(yr + j, _mm512_mul_ps(_mm512_loadu_ps(yr + j), sa));
            for (; j < n; j++) yr[j] = yr[j] * s[r];
        }
    }
}
#endif
