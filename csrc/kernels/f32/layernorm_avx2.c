/* Layer norm rows on AVX2, with the residual add fused in (int8rt/f32.h i8_f32_layernorm_res):
 * v = x + r (one float32 rounding, as the separate Add record), mean and variance summed in
 * double (four lanes, so the order differs from the scalar loop's: the result matches it and
 * the float64 reference within the layer norm tolerance), then ((v - mean) * inv) * gamma +
 * beta in float32 in the scalar kernel's order. */
#include <math.h>

#include "int8rt/f32.h"

#if defined(__x86_64__) || defined(__i386__)
#include <immintrin.h>

#define AVX2 __attribute__((target("avx2")))

AVX2 static __m256 load_v(const float *x, const float *r, int64_t i) {
    const __m256 v = _mm256_loadu_ps(x + i);
    return r ? _mm256_add_ps(v, _mm256_loadu_ps(r + i)) : v;
}

AVX2 static double hsum(__m256d a) {
    double t[4];
    _mm256_storeu_pd(t, a);
    return (t[0] + t[1]) + (t[2] + t[3]);
}

AVX2 void i8_f32_layernorm_rows__avx2(int64_t rows, int64_t cols, const float *x, const float *res,
                                   const float *gamma, const float *beta, float eps, float *y) {
    const int64_t c8 = cols - cols % 8;
    for (int64_t row = 0; row < rows; row++) {
        const float *xr = x + row * cols;
        const float *rr = res ? res + row * cols : NULL;
        float *yr = y + row * cols;
        __m256d s0 = _mm256_setzero_pd(), s1 = _mm256_setzero_pd();
        for (int64_t i = 0; i < c8; i += 8) {
            const __m256 v = load_v(xr, rr, i);
            s0 = _mm256_add_pd(s0, _mm256_cvtps_pd(_mm256_castps256_ps128(v)));
            s1 = _mm256_add_pd(s1, _mm256_cvtps_pd(_mm256_extractf128_ps(v, 1)));
        }
        double sum = hsum(_mm256_add_pd(s0, s1));
        for (int64_t i = c8; i < cols; i++) sum += rr ? (double)(xr[i] + rr[i]) : (double)xr[i];
        const double mean = sum / (double)cols;
        const __m256d md = _mm256_set1_pd(mean);
        s0 = _mm256_setzero_pd();
        s1 = _mm256_setzero_pd();
        for (int64_t i = 0; i < c8; i += 8) {
            const __m256 v = load_v(xr, rr, i);
            const __m256d d0 = _mm256_sub_pd(_mm256_cvtps_pd(_mm256_castps256_ps128(v)), md);
            const __m256d d1 = _mm256_sub_pd(_mm256_cvtps_pd(_mm256_extractf128_ps(v, 1)), md);
            s0 = _mm256_add_pd(s0, _mm256_mul_pd(d0, d0));
            s1 = _mm256_add_pd(s1, _mm256_mul_pd(d1, d1));
        }
        double sq = hsum(_mm256_add_pd(s0, s1));
        for (int64_t i = c8; i < cols; i++) {
            const double d = (rr ? xr[i] + rr[i] : xr[i]) - mean;
            sq += d * d;
        }
        const float inv = (float)(1.0 / sqrt(sq / (double)cols + (double)eps));
        const float m = (float)mean;
        const __m256 mv = _mm256_set1_ps(m), iv = _mm256_set1_ps(inv);
        for (int64_t i = 0; i < c8; i += 8) {
            __m256 v = _mm256_mul_ps(_mm256_sub_ps(load_v(xr, rr, i), mv), iv);
            if (gamma) v = _mm256_mul_ps(v, _mm256_loadu_ps(gamma + i));
            if (beta) v = _mm256_add_ps(v, _mm256_loadu_ps(beta + i));
            _mm256_storeu_ps(yr + i, v);
        }
        for (int64_t i = c8; i < cols; i++) {
            float v = ((rr ? xr[i] + rr[i] : xr[i]) - m) * inv;
            if (gamma) v *= gamma[i];
            if (beta) v += beta[i];
            yr[i] = v;
        }
    }
}
#endif
