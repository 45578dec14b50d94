/* AVX2 exp / erf-GELU / softmax rows for the float kernels (int8rt/f32.h). Not bit-identical
 * with libm (the polynomials of vmath_poly.h), so the tests compare these paths with a
 * tolerance (tests/kernels/test_f32_dynq.py). No FMA: the file's functions are compiled for
 * avx2 only. */
#include <math.h>

#include "int8rt/f32.h"

#if defined(__x86_64__) || defined(__i386__)
#include <immintrin.h>

#define AVX2 __attribute__((target("avx2")))

/* exp256 / gelu256: vmath_poly.h on 8 lanes */
#define VEC __m256
#define VECI __m256i
#define LIVE __m256
#define ATTR AVX2
#define EXP_FN exp256
#define GELU_FN gelu256
#define V_SET1 _mm256_set1_ps
#define V_ZERO _mm256_setzero_ps
#define V_ADD _mm256_add_ps
#define V_SUB _mm256_sub_ps
#define V_MUL _mm256_mul_ps
#define V_DIV _mm256_div_ps
#define V_MIN _mm256_min_ps
#define V_MAX _mm256_max_ps
#define V_AND _mm256_and_ps
#define V_ANDNOT _mm256_andnot_ps
#define V_OR _mm256_or_ps
#define V_GE(a, b) _mm256_cmp_ps(a, b, _CMP_GE_OQ)
#define V_KEEP(live, v) _mm256_and_ps(v, live)
#define V_ROUND(v) _mm256_round_ps(v, _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC)
#define V_CVT _mm256_cvtps_epi32
#define VI_SET1 _mm256_set1_epi32
#define VI_ADD _mm256_add_epi32
#define VI_SLLI23(v) _mm256_slli_epi32(v, 23)
#define VI_AS_F _mm256_castsi256_ps
#include "vmath_poly.h"

AVX2 int64_t i8_f32_gelu_erf__avx2(int64_t n, const float *x, float *y) {
    int64_t i = 0;
    for (; i + 8 <= n; i += 8) _mm256_storeu_ps(y + i, gelu256(_mm256_loadu_ps(x + i)));
    return i; /* the caller finishes the tail */
}

AVX2 int64_t i8_f32_exp__avx2(int64_t n, const float *x, float *y) {
    int64_t i = 0;
    for (; i + 8 <= n; i += 8) _mm256_storeu_ps(y + i, exp256(_mm256_loadu_ps(x + i)));
    return i;
}

/* one row: y = exp(x - mx), returns the sum (lane sums in float, then double) */
AVX2 double i8_f32_exp_shift_sum__avx2(int64_t n, const float *x, float mx, float *y,
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

AVX2 int64_t i8_f32_piecewise__avx2(int32_t op, int64_t n, const float *x, float *y, float alpha,
                                 float beta) {
    const __m256 zero = _mm256_setzero_ps(), one = _mm256_set1_ps(1.0f);
    const __m256 a = _mm256_set1_ps(alpha), b = _mm256_set1_ps(beta);
    const __m256 sixth = _mm256_set1_ps(1.0f / 6.0f), half = _mm256_set1_ps(0.5f);
    int64_t i = 0;
    for (; i + 8 <= n; i += 8) {
        const __m256 v = _mm256_loadu_ps(x + i);
        __m256 r;
        switch (op) {
        case I8_F32_RELU: /* x > 0 ? x : 0 */
            r = _mm256_blendv_ps(zero, v, _mm256_cmp_ps(v, zero, _CMP_GT_OQ));
            break;
        case I8_F32_CLIP: r = above_(below_(v, a), b); break;
        case I8_F32_HARD_SIGMOID:
            r = above_(below_(_mm256_add_ps(_mm256_mul_ps(a, v), b), zero), one);
            break;
        case I8_F32_HARD_SWISH:
            r = _mm256_mul_ps(v, above_(below_(_mm256_add_ps(_mm256_mul_ps(v, sixth), half),
                                               zero), one));
            break;
        case I8_F32_HARD_SWISH_AFFINE: /* the HardSwish above, then * alpha, then + beta */
            r = _mm256_mul_ps(v, above_(below_(_mm256_add_ps(_mm256_mul_ps(v, sixth), half),
                                               zero), one));
            r = _mm256_add_ps(_mm256_mul_ps(r, a), b);
            break;
        case I8_F32_LEAKY_RELU: /* x >= 0 ? x : alpha x */
            r = _mm256_blendv_ps(_mm256_mul_ps(a, v), v, _mm256_cmp_ps(v, zero, _CMP_GE_OQ));
            break;
        default: return i;
        }
        _mm256_storeu_ps(y + i, r);
    }
    return i;
}
#endif

#if defined(__x86_64__) || defined(__i386__)
/* One softmax row in place or not: vector max (a NaN lane keeps the running max, as the scalar
 * rule), y = exp(x - max) with the sum as i8_f32_exp_shift_sum__avx2, y *= 1 / sum. Returns 0
 * (nothing written) for a row with no finite maximum, which the caller handles. */
AVX2 int i8_f32_softmax_row__avx2(int64_t n, const float *x, float *y) {
    __m256 mv = _mm256_set1_ps(-INFINITY);
    int64_t i = 0;
    for (; i + 8 <= n; i += 8) mv = _mm256_max_ps(_mm256_loadu_ps(x + i), mv);
    float lanes[8];
    _mm256_storeu_ps(lanes, mv);
    float mx = -INFINITY;
    for (int t = 0; t < 8; t++) mx = lanes[t] > mx ? lanes[t] : mx;
    for (; i < n; i++) mx = x[i] > mx ? x[i] : mx;
    if (mx == -INFINITY) mx = 0.0f; /* a fully masked row: exp(-inf) = 0 everywhere */
    int64_t done = 0;
    double sum = i8_f32_exp_shift_sum__avx2(n, x, mx, y, &done);
    for (i = done; i < n; i++) {
        y[i] = expf(x[i] - mx);
        sum += y[i];
    }
    const float inv = sum > 0.0 ? (float)(1.0 / sum) : 0.0f;
    const __m256 iv = _mm256_set1_ps(inv);
    for (i = 0; i + 8 <= n; i += 8) _mm256_storeu_ps(y + i, _mm256_mul_ps(_mm256_loadu_ps(y + i), iv));
    for (; i < n; i++) y[i] *= inv;
    return 1;
}
#endif

#if defined(__x86_64__) || defined(__i386__)
/* x = x * scale (x / scale when `divide`) [+ mask], one rounding per operation as the Mul /
 * Div and Add records; mask contiguous or NULL. */
AVX2 void i8_f32_scale_mask_row__avx2(int64_t n, float *x, float scale, int32_t divide,
                                   const float *mask) {
    const __m256 sv = _mm256_set1_ps(scale);
    int64_t i = 0;
    for (; i + 8 <= n; i += 8) {
        const __m256 v = _mm256_loadu_ps(x + i);
        __m256 t = divide ? _mm256_div_ps(v, sv) : _mm256_mul_ps(v, sv);
        if (mask) t = _mm256_add_ps(t, _mm256_loadu_ps(mask + i));
        _mm256_storeu_ps(x + i, t);
    }
    for (; i < n; i++) {
        float t = divide ? x[i] / scale : x[i] * scale;
        if (mask) t = t + mask[i];
        x[i] = t;
    }
}
#endif
