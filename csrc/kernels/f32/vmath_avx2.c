/* AVX2 exp / erf-GELU / softmax rows for the float kernels (int8rt/f32.h). Not bit-identical
 * with libm: exp is the Cephes expf polynomial after a ln 2 range reduction (relative error
 * about 2e-7), erf the Abramowitz & Stegun 7.1.26 form (absolute error <= 1.5e-7), so the
 * tests compare these paths with a tolerance (tests/kernels/test_f32_dynq.py). No FMA: the
 * file's functions are compiled for avx2 only. */
#include <math.h>

#include "int8rt/f32.h"

#if defined(__x86_64__) || defined(__i386__)
#include <immintrin.h>

#define AVX2 __attribute__((target("avx2")))

AVX2 static __m256 exp256(__m256 x) {
    /* below -87.3 the result is 0 (exp would be subnormal): -inf and masked scores give 0 */
    const __m256 live = _mm256_cmp_ps(x, _mm256_set1_ps(-87.3f), _CMP_GE_OQ);
    x = _mm256_min_ps(_mm256_max_ps(x, _mm256_set1_ps(-87.3f)), _mm256_set1_ps(88.3f));
    const __m256 n = _mm256_round_ps(_mm256_mul_ps(x, _mm256_set1_ps(1.44269504088896341f)),
                                     _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
    __m256 r = _mm256_sub_ps(x, _mm256_mul_ps(n, _mm256_set1_ps(0.693359375f)));
    r = _mm256_sub_ps(r, _mm256_mul_ps(n, _mm256_set1_ps(-2.12194440e-4f)));
    __m256 p = _mm256_set1_ps(1.9875691500e-4f);
    p = _mm256_add_ps(_mm256_mul_ps(p, r), _mm256_set1_ps(1.3981999507e-3f));
    p = _mm256_add_ps(_mm256_mul_ps(p, r), _mm256_set1_ps(8.3334519073e-3f));
    p = _mm256_add_ps(_mm256_mul_ps(p, r), _mm256_set1_ps(4.1665795894e-2f));
    p = _mm256_add_ps(_mm256_mul_ps(p, r), _mm256_set1_ps(1.6666665459e-1f));
    p = _mm256_add_ps(_mm256_mul_ps(p, r), _mm256_set1_ps(5.0000001201e-1f));
    p = _mm256_add_ps(_mm256_mul_ps(_mm256_mul_ps(p, r), r), _mm256_add_ps(r, _mm256_set1_ps(1.0f)));
    /* 2^n by building the exponent field: n in [-126, 127] after the clamp */
    const __m256i e = _mm256_slli_epi32(_mm256_add_epi32(_mm256_cvtps_epi32(n),
                                                         _mm256_set1_epi32(127)), 23);
    return _mm256_and_ps(_mm256_mul_ps(p, _mm256_castsi256_ps(e)), live);
}

AVX2 static __m256 gelu256(__m256 x) {
    const __m256 sign = _mm256_set1_ps(-0.0f);
    const __m256 z = _mm256_mul_ps(x, _mm256_set1_ps(0.70710678118654752f));
    const __m256 az = _mm256_andnot_ps(sign, z);
    const __m256 t = _mm256_div_ps(_mm256_set1_ps(1.0f),
                                   _mm256_add_ps(_mm256_set1_ps(1.0f),
                                                 _mm256_mul_ps(_mm256_set1_ps(0.3275911f), az)));
    __m256 p = _mm256_set1_ps(1.061405429f);
    p = _mm256_add_ps(_mm256_mul_ps(p, t), _mm256_set1_ps(-1.453152027f));
    p = _mm256_add_ps(_mm256_mul_ps(p, t), _mm256_set1_ps(1.421413741f));
    p = _mm256_add_ps(_mm256_mul_ps(p, t), _mm256_set1_ps(-0.284496736f));
    p = _mm256_add_ps(_mm256_mul_ps(p, t), _mm256_set1_ps(0.254829592f));
    p = _mm256_mul_ps(p, t);
    const __m256 e = exp256(_mm256_sub_ps(_mm256_setzero_ps(), _mm256_mul_ps(az, az)));
    __m256 erf = _mm256_sub_ps(_mm256_set1_ps(1.0f), _mm256_mul_ps(p, e));
    erf = _mm256_or_ps(erf, _mm256_and_ps(z, sign)); /* erf is odd */
    return _mm256_mul_ps(_mm256_mul_ps(x, _mm256_set1_ps(0.5f)),
                         _mm256_add_ps(_mm256_set1_ps(1.0f), erf));
}

AVX2 int64_t i8f_gelu_erf__avx2(int64_t n, const float *x, float *y) {
    int64_t i = 0;
    for (; i + 8 <= n; i += 8) _mm256_storeu_ps(y + i, gelu256(_mm256_loadu_ps(x + i)));
    return i; /* the caller finishes the tail */
}

AVX2 int64_t i8f_exp__avx2(int64_t n, const float *x, float *y) {
    int64_t i = 0;
    for (; i + 8 <= n; i += 8) _mm256_storeu_ps(y + i, exp256(_mm256_loadu_ps(x + i)));
    return i;
}

/* one row: y = exp(x - mx), returns the sum (lane sums in float, then double) */
AVX2 double i8f_exp_shift_sum__avx2(int64_t n, const float *x, float mx, float *y,
                                    int64_t *done) {
    __m256 acc = _mm256_setzero_ps();
    const __m256 m = _mm256_set1_ps(mx);
    int64_t i = 0;
    for (; i + 8 <= n; i += 8) {
        const __m256 v = exp256(_mm256_sub_ps(_mm256_loadu_ps(x + i), m));
        _mm256_storeu_ps(y + i, v);
        acc = _mm256_add_ps(acc, v);
    }
    float lanes[8];
    _mm256_storeu_ps(lanes, acc);
    double s = 0.0;
    for (int t = 0; t < 8; t++) s += lanes[t];
    *done = i;
    return s;
}
/* Piecewise-linear activations (clip, relu, hard_sigmoid, hard_swish, leaky_relu) with the
 * portable loop's exact operations: one multiply, one add (no FMA in this file), and each
 * ternary `v < lo ? lo : v` as an ordered compare and a blend, so a NaN passes through as in
 * C and the bytes equal the scalar loop's. The scalar loop's data-dependent branches cost a
 * misprediction per element on real activations (16 ns / element measured on DBNet). */
AVX2 static inline __m256 below_(__m256 v, __m256 lo) {
    return _mm256_blendv_ps(v, lo, _mm256_cmp_ps(v, lo, _CMP_LT_OQ));
}

AVX2 static inline __m256 above_(__m256 v, __m256 hi) {
    return _mm256_blendv_ps(v, hi, _mm256_cmp_ps(v, hi, _CMP_GT_OQ));
}

AVX2 int64_t i8f_piecewise__avx2(int32_t op, int64_t n, const float *x, float *y, float alpha,
                                 float beta) {
    const __m256 zero = _mm256_setzero_ps(), one = _mm256_set1_ps(1.0f);
    const __m256 a = _mm256_set1_ps(alpha), b = _mm256_set1_ps(beta);
    const __m256 sixth = _mm256_set1_ps(1.0f / 6.0f), half = _mm256_set1_ps(0.5f);
    int64_t i = 0;
    for (; i + 8 <= n; i += 8) {
        const __m256 v = _mm256_loadu_ps(x + i);
        __m256 r;
        switch (op) {
        case I8F_RELU: /* x > 0 ? x : 0 */
            r = _mm256_blendv_ps(zero, v, _mm256_cmp_ps(v, zero, _CMP_GT_OQ));
            break;
        case I8F_CLIP: r = above_(below_(v, a), b); break;
        case I8F_HARD_SIGMOID:
            r = above_(below_(_mm256_add_ps(_mm256_mul_ps(a, v), b), zero), one);
            break;
        case I8F_HARD_SWISH:
            r = _mm256_mul_ps(v, above_(below_(_mm256_add_ps(_mm256_mul_ps(v, sixth), half),
                                               zero), one));
            break;
        case I8F_LEAKY_RELU: /* x >= 0 ? x : alpha x */
            r = _mm256_blendv_ps(_mm256_mul_ps(a, v), v, _mm256_cmp_ps(v, zero, _CMP_GE_OQ));
            break;
        default: return i;
        }
        _mm256_storeu_ps(y + i, r);
    }
    return i;
}
#endif
