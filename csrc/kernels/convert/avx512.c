/* AVX-512 model-boundary conversions (convert.h gives the element rule), 16 floats per zmm;
 * the same bits as the scalar loops for the reasons given in avx2.c (vdivps is IEEE division,
 * NaN lanes masked to zp, max-then-min clamp, vcvtps2dq half to even, vpmovdb exact on
 * in-range values). Tails use masked loads and stores: nothing outside the n elements is
 * read or written. */
#if defined(__x86_64__) || defined(__i386__)

#include <immintrin.h>

#include "kernels/convert/convert.h"
#include "kernels/x86_paths.h"

typedef struct {
    __m512 scale, lo, hi;
    __m512i zp;
} quant_k;

I8_AVX512_FN static inline quant_k quant_init(float scale, int32_t zp) {
    quant_k k = {_mm512_set1_ps(scale), _mm512_set1_ps((float)(-128 - zp)),
                 _mm512_set1_ps((float)(127 - zp)), _mm512_set1_epi32(zp)};
    return k;
}

I8_AVX512_FN static inline __m128i quant16(const quant_k *k, __m512 x) {
    const __m512 v = _mm512_div_ps(x, k->scale);
    const __mmask16 nan = _mm512_cmp_ps_mask(v, v, _CMP_UNORD_Q);
    __m512i q = _mm512_add_epi32(
        _mm512_cvtps_epi32(_mm512_min_ps(_mm512_max_ps(v, k->lo), k->hi)), k->zp);
    q = _mm512_mask_mov_epi32(q, nan, k->zp);
    return _mm512_cvtepi32_epi8(q);
}

I8_AVX512_FN static inline __mmask16 mask16(int64_t r) {
    return r >= 16 ? (__mmask16)0xFFFF : (__mmask16)((1u << r) - 1);
}

I8_AVX512_FN void i8_quantize_f32__avx512(int64_t n, const float *x, float scale, int32_t zp,
                                          int8_t *y) {
    const quant_k k = quant_init(scale, zp);
    int64_t i = 0;
    for (; i + 16 <= n; i += 16)
        _mm_storeu_si128((__m128i *)(y + i), quant16(&k, _mm512_loadu_ps(x + i)));
    if (i < n) {
        const __mmask16 m = mask16(n - i);
        _mm_mask_storeu_epi8(y + i, m, quant16(&k, _mm512_maskz_loadu_ps(m, x + i)));
    }
}

/* 3 channels: the 48 output bytes r0 g0 b0 r1 ... as one vpermb over the three planes
 * (the planes at bytes 0, 16, 32 of one zmm: index e / 3 + 16 * (e % 3) selects plane
 * e % 3's byte e / 3), stored with a 48-byte mask. Other channel counts: a byte scatter of the
 * quantized planes. */
/* output byte e (< 48) = byte e / 3 of plane e % 3, the planes at bytes 0, 16, 32 */
static const int8_t INTERLEAVE3[64] = {
    0, 16, 32, 1, 17, 33, 2, 18, 34, 3, 19, 35, 4, 20, 36, 5,
    21, 37, 6, 22, 38, 7, 23, 39, 8, 24, 40, 9, 25, 41, 10, 26,
    42, 11, 27, 43, 12, 28, 44, 13, 29, 45, 14, 30, 46, 15, 31, 47,
    0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
};

I8_AVX512VBMI_FN static void interleave3__avx512vbmi(__m128i a, __m128i b, __m128i c,
                                                     int8_t *y) {
    const __m512i ab = _mm512_inserti32x4(_mm512_castsi128_si512(a), b, 1);
    const __m512i abc = _mm512_inserti32x4(ab, c, 2);
    const __m512i r = _mm512_permutexvar_epi8(_mm512_loadu_si512(INTERLEAVE3), abc);
    _mm512_mask_storeu_epi8(y, (__mmask64)0xFFFFFFFFFFFFull, r);
}

I8_AVX512_FN void i8_quant_nchw_block__avx512(int64_t c, int64_t hw, int64_t nr,
                                              const float *xs, float scale, int32_t zp,
                                              int8_t *ys) {
    const quant_k k = quant_init(scale, zp);
    const __mmask16 m = mask16(nr);
    if (c == 3 && nr == 16 && __builtin_cpu_supports("avx512vbmi")) {
        interleave3__avx512vbmi(quant16(&k, _mm512_loadu_ps(xs)),
                                quant16(&k, _mm512_loadu_ps(xs + hw)),
                                quant16(&k, _mm512_loadu_ps(xs + 2 * hw)), ys);
        return;
    }
    int8_t tile[16];
    for (int64_t ch = 0; ch < c; ch++) {
        _mm_storeu_si128((__m128i *)tile, quant16(&k, _mm512_maskz_loadu_ps(m, xs + ch * hw)));
        for (int64_t p = 0; p < nr; p++) ys[p * c + ch] = tile[p];
    }
}

I8_AVX512_FN void i8_dequantize_f32__avx512(int64_t n, const int8_t *x, float scale,
                                            int32_t zp, float *y) {
    const __m512 s = _mm512_set1_ps(scale);
    const __m512i z = _mm512_set1_epi32(zp);
    for (int64_t i = 0; i < n; i += 16) {
        const __mmask16 m = mask16(n - i);
        const __m512i q = _mm512_cvtepi8_epi32(_mm_maskz_loadu_epi8(m, x + i));
        _mm512_mask_storeu_ps(y + i, m,
                              _mm512_mul_ps(_mm512_cvtepi32_ps(_mm512_sub_epi32(q, z)), s));
    }
}

#endif
