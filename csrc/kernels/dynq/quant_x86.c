/* Per-row dynamic quantization straight into the gemm's prepared activation rows (AVX2),
 * for i8_dq_matmul (dynq.c): one pass finds max|a| of a row, a second multiplies by
 * 127 / amax, rounds, clamps to [-127, 127] and writes the element the micro-kernels read
 * (K4N16: the u8 byte q ^ 0x80; K2N16: int16 q), zero-padded to kc. The arithmetic is the
 * scalar i8_dq_quantize_rows' element for element: the same float32 product, vcvtps2dq rounds
 * half to even in the default MXCSR mode exactly as lrintf does, and max(v, mx) keeps mx
 * when v is NaN as `v > mx ? v : mx` does; a NaN or out-of-range product converts to
 * INT32_MIN on both (lrintf's long then clamps to -127, as vpmaxsd does here). */
#include <math.h>
#include <string.h>

#include "kernels/dynq/dynq_internal.h"

#if defined(__x86_64__) || defined(__i386__)
#include <immintrin.h>

#define AVX2 __attribute__((target("avx2")))

AVX2 static float absmax_row(const float *a, int64_t k) {
    const __m256 nosign = _mm256_castsi256_ps(_mm256_set1_epi32(0x7fffffff));
    __m256 m0 = _mm256_setzero_ps(), m1 = _mm256_setzero_ps();
    int64_t i = 0;
    for (; i + 16 <= k; i += 16) {
        /* max_ps(v, m) = v > m ? v : m: a NaN v leaves m (the scalar loop's rule) */
        m0 = _mm256_max_ps(_mm256_and_ps(_mm256_loadu_ps(a + i), nosign), m0);
        m1 = _mm256_max_ps(_mm256_and_ps(_mm256_loadu_ps(a + i + 8), nosign), m1);
    }
    for (; i + 8 <= k; i += 8) m0 = _mm256_max_ps(_mm256_and_ps(_mm256_loadu_ps(a + i), nosign), m0);
    m0 = _mm256_max_ps(m1, m0);
    float lanes[8];
    _mm256_storeu_ps(lanes, m0);
    float mx = 0.0f;
    for (int t = 0; t < 8; t++) mx = lanes[t] > mx ? lanes[t] : mx;
    for (; i < k; i++) {
        const float v = fabsf(a[i]);
        mx = v > mx ? v : mx;
    }
    return mx;
}

/* 8 floats -> 8 int32 q in [-127, 127] */
AVX2 static __m256i q8(const float *a, __m256 inv) {
    const __m256i q = _mm256_cvtps_epi32(_mm256_mul_ps(_mm256_loadu_ps(a), inv));
    return _mm256_max_epi32(_mm256_min_epi32(q, _mm256_set1_epi32(127)), _mm256_set1_epi32(-127));
}

static int32_t q1(float v, float inv) {
    long q = lrintf(v * inv);
    return q > 127 ? 127 : q < -127 ? -127 : (int32_t)q;
}

AVX2 int64_t i8_dq_prepare_rows__avx2(int32_t fmt, int64_t rows, int64_t k, const float *a,
                                     int64_t lda, int64_t kc, void *dst, float *s) {
    const __m256i order = _mm256_setr_epi32(0, 4, 1, 5, 2, 6, 3, 7);
    const __m256i flip = _mm256_set1_epi8((char)0x80);
    for (int64_t r = 0; r < rows; r++) {
        const float *ar = a + r * lda;
        const float amax = absmax_row(ar, k);
        s[r] = amax < I8_DQ_TINY_AMAX ? 1.0f : amax / 127.0f;
        if (fmt == I8_DQ_PREP_U8) {
            uint8_t *d = (uint8_t *)dst + r * kc;
            if (amax < I8_DQ_TINY_AMAX) { /* q = 0: the byte 0x80 */
                memset(d, 0x80, (size_t)k);
                memset(d + k, 0, (size_t)(kc - k));
                continue;
            }
            const __m256 inv = _mm256_set1_ps(127.0f / amax);
            int64_t i = 0;
            for (; i + 32 <= k; i += 32) {
                /* packs keep the values (already in [-127, 127]); the two in-lane packs
                 * interleave 32-bit groups, which the permute puts back in k order */
                const __m256i w01 = _mm256_packs_epi32(q8(ar + i, inv), q8(ar + i + 8, inv));
                const __m256i w23 = _mm256_packs_epi32(q8(ar + i + 16, inv),
                                                       q8(ar + i + 24, inv));
                const __m256i b = _mm256_permutevar8x32_epi32(_mm256_packs_epi16(w01, w23), order);
                _mm256_storeu_si256((__m256i *)(d + i), _mm256_xor_si256(b, flip));
            }
            for (; i < k; i++) d[i] = (uint8_t)((uint8_t)(int8_t)q1(ar[i], 127.0f / amax) ^ 0x80u);
            memset(d + k, 0, (size_t)(kc - k));
        } else {
            int16_t *d = (int16_t *)dst + r * kc;
            if (amax < I8_DQ_TINY_AMAX) {
                memset(d, 0, (size_t)kc * sizeof *d);
                continue;
            }
            const __m256 inv = _mm256_set1_ps(127.0f / amax);
            int64_t i = 0;
            for (; i + 16 <= k; i += 16) {
                const __m256i w = _mm256_packs_epi32(q8(ar + i, inv), q8(ar + i + 8, inv));
                _mm256_storeu_si256((__m256i *)(d + i), _mm256_permute4x64_epi64(w, 0xD8));
            }
            for (; i < k; i++) d[i] = (int16_t)q1(ar[i], 127.0f / amax);
            memset(d + k, 0, (size_t)(kc - k) * sizeof *d);
        }
    }
    return rows;
}

/* y[i, :] = y[i, :] * s[i] + bias (two roundings, as the scalar loop: no FMA) */
AVX2 void i8_dq_scale_rows__avx2(int64_t rows, int64_t n, const float *s, const float *bias,
                                float *y, int64_t ldy) {
    for (int64_t r = 0; r < rows; r++) {
        float *yr = y + r * ldy;
        const __m256 sa = _mm256_set1_ps(s[r]);
        int64_t j = 0;
        if (bias) {
            for (; j + 8 <= n; j += 8)
                _mm256_storeu_ps(yr + j, _mm256_add_ps(_mm256_mul_ps(_mm256_loadu_ps(yr + j), sa),
                                                       _mm256_loadu_ps(bias + j)));
            for (; j < n; j++) yr[j] = yr[j] * s[r] + bias[j];
        } else {
            for (; j + 8 <= n; j += 8)
                _mm256_storeu_ps(yr + j, _mm256_mul_ps(_mm256_loadu_ps(yr + j), sa));
            for (; j < n; j++) yr[j] = yr[j] * s[r];
        }
    }
}
#endif
