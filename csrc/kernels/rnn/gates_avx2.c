/* Gate math, AVX2: the portable C of gates.c eight lanes at a time, operation for operation
 * (no FMA; the division is IEEE like the scalar one), so the results are bit-identical. */
#include "kernels/rnn/gates.h"

#if defined(__x86_64__) || defined(__i386__)
#include <immintrin.h>

#define AVX2 __attribute__((target("avx2")))
#define SET1 _mm256_set1_ps
#define ADD _mm256_add_ps
#define SUB _mm256_sub_ps
#define MUL _mm256_mul_ps

AVX2 static inline __m256 gexp8(__m256 v) {
    /* maxps / minps return their second operand when one is NaN: with v second, a NaN stays
     * NaN as in the scalar clamp (v < lo ? lo : v > hi ? hi : v) */
    v = _mm256_min_ps(SET1(88.3f), _mm256_max_ps(SET1(-87.3f), v));
    const __m256 n = _mm256_round_ps(MUL(v, SET1(1.44269504088896341f)),
                                     _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
    __m256 r = SUB(v, MUL(n, SET1(0.693359375f)));
    r = SUB(r, MUL(n, SET1(-2.12194440e-4f)));
    __m256 p = SET1(1.9875691500e-4f);
    p = ADD(MUL(p, r), SET1(1.3981999507e-3f));
    p = ADD(MUL(p, r), SET1(8.3334519073e-3f));
    p = ADD(MUL(p, r), SET1(4.1665795894e-2f));
    p = ADD(MUL(p, r), SET1(1.6666665459e-1f));
    p = ADD(MUL(p, r), SET1(5.0000001201e-1f));
    p = ADD(MUL(MUL(p, r), r), ADD(r, SET1(1.0f)));
    const __m256i e = _mm256_slli_epi32(_mm256_add_epi32(_mm256_cvtps_epi32(n),
                                                         _mm256_set1_epi32(127)), 23);
    return MUL(p, _mm256_castsi256_ps(e));
}

AVX2 static inline __m256 gsig8(__m256 v) {
    return _mm256_div_ps(SET1(1.0f), ADD(SET1(1.0f), gexp8(SUB(_mm256_setzero_ps(), v))));
}

AVX2 static inline __m256 gtanh8(__m256 v) {
    const __m256 sign = SET1(-0.0f);
    const __m256 a = _mm256_andnot_ps(sign, v);
    const __m256 t = SUB(SET1(1.0f), _mm256_div_ps(SET1(2.0f), ADD(SET1(1.0f), gexp8(ADD(a, a)))));
    /* scalar: v < 0 ? -t : t; -0.0 and +0.0 inputs both give t = +0 there, so flip the sign
     * only where v < 0 */
    const __m256 neg = _mm256_cmp_ps(v, _mm256_setzero_ps(), _CMP_LT_OQ);
    return _mm256_xor_ps(t, _mm256_and_ps(neg, sign));
}

#define L(p) _mm256_loadu_ps(p)

AVX2 int64_t i8rnn_lstm_row__avx2(int64_t H, const float *xg, const float *hg, float *c,
                                  float *h, float *y) {
    int64_t j = 0;
    for (; j + 8 <= H; j += 8) {
        const __m256 gi = gsig8(ADD(L(xg + j), L(hg + j)));
        const __m256 go = gsig8(ADD(L(xg + H + j), L(hg + H + j)));
        const __m256 gf = gsig8(ADD(L(xg + 2 * H + j), L(hg + 2 * H + j)));
        const __m256 gc = gtanh8(ADD(L(xg + 3 * H + j), L(hg + 3 * H + j)));
        const __m256 cn = ADD(MUL(gf, L(c + j)), MUL(gi, gc));
        _mm256_storeu_ps(c + j, cn);
        const __m256 hn = MUL(go, gtanh8(cn));
        _mm256_storeu_ps(h + j, hn);
        _mm256_storeu_ps(y + j, hn);
    }
    return j;
}

AVX2 int64_t i8rnn_gru_row__avx2(int64_t H, int32_t lbr, const float *xg, const float *hg,
                                 const float *hh, float *h, float *y) {
    int64_t j = 0;
    for (; j + 8 <= H; j += 8) {
        const __m256 z = gsig8(ADD(L(xg + j), L(hg + j)));
        __m256 n;
        if (lbr) {
            const __m256 r = gsig8(ADD(L(xg + H + j), L(hg + H + j)));
            n = gtanh8(ADD(L(xg + 2 * H + j), MUL(r, L(hh + j))));
        } else {
            n = gtanh8(ADD(L(xg + 2 * H + j), L(hh + j)));
        }
        const __m256 hn = ADD(MUL(SUB(SET1(1.0f), z), n), MUL(z, L(h + j)));
        _mm256_storeu_ps(h + j, hn);
        _mm256_storeu_ps(y + j, hn);
    }
    return j;
}

AVX2 int64_t i8rnn_gru_reset__avx2(int64_t H, const float *xg, const float *hg, const float *h,
                                   float *t) {
    int64_t j = 0;
    for (; j + 8 <= H; j += 8)
        _mm256_storeu_ps(t + j, MUL(gsig8(ADD(L(xg + H + j), L(hg + H + j))), L(h + j)));
    return j;
}

AVX2 int64_t i8rnn_sigmoid__avx2(int64_t n, const float *x, float *y) {
    int64_t i = 0;
    for (; i + 8 <= n; i += 8) _mm256_storeu_ps(y + i, gsig8(L(x + i)));
    return i;
}

AVX2 int64_t i8rnn_tanh__avx2(int64_t n, const float *x, float *y) {
    int64_t i = 0;
    for (; i + 8 <= n; i += 8) _mm256_storeu_ps(y + i, gtanh8(L(x + i)));
    return i;
}
#endif
