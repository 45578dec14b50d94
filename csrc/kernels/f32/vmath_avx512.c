/* AVX-512 twin of vmath_avx2.c's erf-GELU (int8rt/f32.h): vmath_poly.h's operations in the
 * same order on 16 lanes (no FMA), so its results are bit-identical to the AVX2 function's,
 * only twice as wide. */
#include <math.h>

#include "int8rt/f32.h"

#if defined(__x86_64__) || defined(__i386__)
#include <immintrin.h>

#define AVX512 __attribute__((target("avx512f,avx512dq")))

/* exp512 / gelu512: vmath_poly.h on 16 lanes */
#define VEC __m512
#define VECI __m512i
#define LIVE __mmask16
#define ATTR AVX512
#define EXP_FN exp512
#define GELU_FN gelu512
#define V_SET1 _mm512_set1_ps
#define V_ZERO _mm512_setzero_ps
#define V_ADD _mm512_add_ps
#define V_SUB _mm512_sub_ps
#define V_MUL _mm512_mul_ps
#define V_DIV _mm512_div_ps
#define V_MIN _mm512_min_ps
#define V_MAX _mm512_max_ps
#define V_AND _mm512_and_ps
#define V_ANDNOT _mm512_andnot_ps
#define V_OR _mm512_or_ps
#define V_GE(a, b) _mm512_cmp_ps_mask(a, b, _CMP_GE_OQ)
#define V_KEEP(live, v) _mm512_maskz_mov_ps(live, v)
#define V_ROUND(v) _mm512_roundscale_ps(v, _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC)
#define V_CVT _mm512_cvtps_epi32
#define VI_SET1 _mm512_set1_epi32
#define VI_ADD _mm512_add_epi32
#define VI_SLLI23(v) _mm512_slli_epi32(v, 23)
#define VI_AS_F _mm512_castsi512_ps
#include "vmath_poly.h"

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
