/* AVX-512 twin of vmath_avx2.c's erf-GELU (int8rt/f32.h): the same operations in the same
 * order on 16 lanes (Cephes exp polynomial, Abramowitz & Stegun 7.1.26 erf, no FMA), so its
 * results are bit-identical to the AVX2 function's, only twice as wide. */
#include <math.h>

#include "int8rt/f32.h"

#if defined(__x86_64__) || defined(__i386__)
#include <immintrin.h>

#define AVX512 __attribute__((target("avx512f,avx512dq")))

AVX512 static inline __attribute__((always_inline)) __m512 exp512(__m512 x) {
    const __mmask16 live = _mm512_cmp_ps_mask(x, _mm512_set1_ps(-87.3f), _CMP_GE_OQ);
    x = _mm512_min_ps(_mm512_max_ps(x, _mm512_set1_ps(-87.3f)), _mm512_set1_ps(88.3f));
    const __m512 n = _mm512_roundscale_ps(_mm512_mul_ps(x, _mm512_set1_ps(1.44269504088896341f)),
                                          _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
    __m512 r = _mm512_sub_ps(x, _mm512_mul_ps(n, _mm512_set1_ps(0.693359375f)));
    r = _mm512_sub_ps(r, _mm512_mul_ps(n, _mm512_set1_ps(-2.12194440e-4f)));
    __m512 p = _mm512_set1_ps(1.9875691500e-4f);
    p = _mm512_add_ps(_mm512_mul_ps(p, r), _mm512_set1_ps(1.3981999507e-3f));
    p = _mm512_add_ps(_mm512_mul_ps(p, r), _mm512_set1_ps(8.3334519073e-3f));
    p = _mm512_add_ps(_mm512_mul_ps(p, r), _mm512_set1_ps(4.1665795894e-2f));
    p = _mm512_add_ps(_mm512_mul_ps(p, r), _mm512_set1_ps(1.6666665459e-1f));
    p = _mm512_add_ps(_mm512_mul_ps(p, r), _mm512_set1_ps(5.0000001201e-1f));
    p = _mm512_add_ps(_mm512_mul_ps(_mm512_mul_ps(p, r), r), _mm512_add_ps(r, _mm512_set1_ps(1.0f)));
    const __m512i e = _mm512_slli_epi32(_mm512_add_epi32(_mm512_cvtps_epi32(n),
                                                         _mm512_set1_epi32(127)), 23);
    return _mm512_maskz_mov_ps(live, _mm512_mul_ps(p, _mm512_castsi512_ps(e)));
}

AVX512 static __m512 gelu512(__m512 x) {
    const __m512 sign = _mm512_set1_ps(-0.0f);
    const __m512 z = _mm512_mul_ps(x, _mm512_set1_ps(0.70710678118654752f));
    const __m512 az = _mm512_andnot_ps(sign, z);
    const __m512 t = _mm512_div_ps(_mm512_set1_ps(1.0f),
                                   _mm512_add_ps(_mm512_set1_ps(1.0f),
                                                 _mm512_mul_ps(_mm512_set1_ps(0.3275911f), az)));
    __m512 p = _mm512_set1_ps(1.061405429f);
    p = _mm512_add_ps(_mm512_mul_ps(p, t), _mm512_set1_ps(-1.453152027f));
    p = _mm512_add_ps(_mm512_mul_ps(p, t), _mm512_set1_ps(1.421413741f));
    p = _mm512_add_ps(_mm512_mul_ps(p, t), _mm512_set1_ps(-0.284496736f));
    p = _mm512_add_ps(_mm512_mul_ps(p, t), _mm512_set1_ps(0.254829592f));
    p = _mm512_mul_ps(p, t);
    const __m512 e = exp512(_mm512_sub_ps(_mm512_setzero_ps(), _mm512_mul_ps(az, az)));
    __m512 erf = _mm512_sub_ps(_mm512_set1_ps(1.0f), _mm512_mul_ps(p, e));
    erf = _mm512_or_ps(erf, _mm512_and_ps(z, sign)); /* erf is odd */
    return _mm512_mul_ps(_mm512_mul_ps(x, _mm512_set1_ps(0.5f)),
                         _mm512_add_ps(_mm512_set1_ps(1.0f), erf));
}

AVX512 int64_t i8_f32_gelu_erf__avx512(int64_t n, const float *x, float *y) {
    int64_t i = 0;
    for (; i + 16 <= n; i += 16) _mm512_storeu_ps(y + i, gelu512(_mm512_loadu_ps(x + i)));
    return i; /* the caller finishes the tail (AVX2, then scalar) */
}

/* One softmax row on 16 lanes (the attention kernel's rows on the avx512vnni path): max,
 * y = exp(x - max) with lane sums in float added in double, y *= 1 / sum. The lane order of
 * the sum differs from the AVX2 row's, so the two agree within the softmax tolerance, not
 * bit for bit; each is deterministic. */
AVX512 void i8_f32_softmax_row__avx512(int64_t n, const float *x, float *y) {
    __m512 mv = _mm512_set1_ps(-INFINITY);
    int64_t i = 0;
    for (; i + 16 <= n; i += 16) mv = _mm512_max_ps(_mm512_loadu_ps(x + i), mv);
    /* vector reductions: a row is only lk floats, so per-row scalar lane loops would cost
     * as much as the row (no NaN lanes: max_ps kept the running max for NaN inputs) */
    float mx = _mm512_reduce_max_ps(mv);
    for (; i < n; i++) mx = x[i] > mx ? x[i] : mx;
    if (mx == -INFINITY) mx = 0.0f; /* a fully masked row: exp(-inf) = 0 everywhere */
    const __m512 m = _mm512_set1_ps(mx);
    __m512 acc = _mm512_setzero_ps();
    for (i = 0; i + 16 <= n; i += 16) {
        const __m512 v = exp512(_mm512_sub_ps(_mm512_loadu_ps(x + i), m));
        _mm512_storeu_ps(y + i, v);
        acc = _mm512_add_ps(acc, v);
    }
    double sum = _mm512_reduce_add_pd(
        _mm512_add_pd(_mm512_cvtps_pd(_mm512_castps512_ps256(acc)),
                      _mm512_cvtps_pd(_mm256_castpd_ps(_mm512_extractf64x4_pd(_mm512_castps_pd(acc), 1)))));
    for (; i < n; i++) {
        y[i] = expf(x[i] - mx);
        sum += y[i];
    }
    const float inv = sum > 0.0 ? (float)(1.0 / sum) : 0.0f;
    const __m512 iv = _mm512_set1_ps(inv);
    for (i = 0; i + 16 <= n; i += 16) _mm512_storeu_ps(y + i, _mm512_mul_ps(_mm512_loadu_ps(y + i), iv));
    for (; i < n; i++) y[i] *= inv;
}
#endif
