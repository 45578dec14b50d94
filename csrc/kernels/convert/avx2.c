/* AVX2 model-boundary conversions (convert.h gives the element rule), 16 elements per step;
 * the same bits as the scalar loops: vdivps is the IEEE float32 division, NaN lanes (vcmpps
 * unordered) are replaced by zp after the conversion, the clamp is max then min (equal to the
 * scalar ternary for non-NaN values since lo <= hi; +-Inf clamp to the bounds), vcvtps2dq
 * rounds half to even like lrintf, and the saturating packs are exact on in-range values. */
#if defined(__x86_64__) || defined(__i386__)

#include <immintrin.h>
#include <string.h>

#include "kernels/convert/convert.h"
#include "kernels/x86_paths.h"

typedef struct {
    __m256 scale, lo, hi;
    __m256i zp;
} quant_k;

I8_AVX2_FN static inline quant_k quant_init(float scale, int32_t zp) {
    quant_k k = {_mm256_set1_ps(scale), _mm256_set1_ps((float)(-128 - zp)),
                 _mm256_set1_ps((float)(127 - zp)), _mm256_set1_epi32(zp)};
    return k;
}

I8_AVX2_FN static inline __m256i quant8(const quant_k *k, __m256 x) {
    const __m256 v = _mm256_div_ps(x, k->scale);
    const __m256 nan = _mm256_cmp_ps(v, v, _CMP_UNORD_Q);
    const __m256i q = _mm256_add_epi32(
        _mm256_cvtps_epi32(_mm256_min_ps(_mm256_max_ps(v, k->lo), k->hi)), k->zp);
    return _mm256_blendv_epi8(q, k->zp, _mm256_castps_si256(nan));
}

/* 16 int32 (in range) -> 16 int8 in order */
I8_AVX2_FN static inline __m128i narrow16(__m256i q0, __m256i q1) {
    const __m256i w = _mm256_permute4x64_epi64(_mm256_packs_epi32(q0, q1), 0xD8);
    return _mm_packs_epi16(_mm256_castsi256_si128(w), _mm256_extracti128_si256(w, 1));
}

I8_AVX2_FN static inline __m128i quant16(const quant_k *k, const float *x) {
    return narrow16(quant8(k, _mm256_loadu_ps(x)), quant8(k, _mm256_loadu_ps(x + 8)));
}

I8_AVX2_FN void i8_quantize_f32__avx2(int64_t n, const float *x, float scale, int32_t zp,
                                      int8_t *y) {
    const quant_k k = quant_init(scale, zp);
    int64_t i = 0;
    for (; i + 16 <= n; i += 16) _mm_storeu_si128((__m128i *)(y + i), quant16(&k, x + i));
    if (i < n) {
        float t[16] = {0};
        int8_t q[16];
        memcpy(t, x + i, (size_t)(n - i) * sizeof(float));
        _mm_storeu_si128((__m128i *)q, quant16(&k, t));
        memcpy(y + i, q, (size_t)(n - i));
    }
}

/* Interleave three planes of 16 bytes into 48 bytes r0 g0 b0 r1 g1 b1 ...: output byte
 * j = 3 p + ch comes from plane ch, byte p; each output vector ORs one vpshufb per plane
 * (index -1 = 0x80 gives 0 where the byte belongs to another plane). */
/* [output vector o][plane ch][byte j]: output byte e = 16 o + j is byte e / 3 of plane e % 3 */
static const int8_t INTERLEAVE3[3][3][16] = {
    {{0, -1, -1, 1, -1, -1, 2, -1, -1, 3, -1, -1, 4, -1, -1, 5},
     {-1, 0, -1, -1, 1, -1, -1, 2, -1, -1, 3, -1, -1, 4, -1, -1},
     {-1, -1, 0, -1, -1, 1, -1, -1, 2, -1, -1, 3, -1, -1, 4, -1}},
    {{-1, -1, 6, -1, -1, 7, -1, -1, 8, -1, -1, 9, -1, -1, 10, -1},
     {5, -1, -1, 6, -1, -1, 7, -1, -1, 8, -1, -1, 9, -1, -1, 10},
     {-1, 5, -1, -1, 6, -1, -1, 7, -1, -1, 8, -1, -1, 9, -1, -1}},
    {{-1, 11, -1, -1, 12, -1, -1, 13, -1, -1, 14, -1, -1, 15, -1, -1},
     {-1, -1, 11, -1, -1, 12, -1, -1, 13, -1, -1, 14, -1, -1, 15, -1},
     {10, -1, -1, 11, -1, -1, 12, -1, -1, 13, -1, -1, 14, -1, -1, 15}}};

I8_AVX2_FN static inline void interleave3(__m128i a, __m128i b, __m128i c, int8_t *y) {
    const __m128i pl[3] = {a, b, c};
    for (int o = 0; o < 3; o++) {
        __m128i r = _mm_setzero_si128();
        for (int ch = 0; ch < 3; ch++) {
            const __m128i idx = _mm_loadu_si128((const __m128i *)INTERLEAVE3[o][ch]);
            r = _mm_or_si128(r, _mm_shuffle_epi8(pl[ch], idx));
        }
        _mm_storeu_si128((__m128i *)(y + 16 * o), r);
    }
}

/* One block of nr <= 16 pixels: quantize each channel plane's 16 floats (full vectors only
 * when all 16 pixels lie in the block, else through a zero-padded copy), then write the block
 * pixel-major: a vpshufb interleave for 3 channels, a byte scatter otherwise. */
I8_AVX2_FN void i8_quant_nchw_block__avx2(int64_t c, int64_t hw, int64_t nr, const float *xs,
                                          float scale, int32_t zp, int8_t *ys) {
    const quant_k k = quant_init(scale, zp);
    if (c == 3 && nr == 16) {
        interleave3(quant16(&k, xs), quant16(&k, xs + hw), quant16(&k, xs + 2 * hw), ys);
        return;
    }
    int8_t tile[16];
    for (int64_t ch = 0; ch < c; ch++) {
        const float *src = xs + ch * hw;
        __m128i q;
        if (nr == 16) {
            q = quant16(&k, src);
        } else {
            float t[16] = {0};
            memcpy(t, src, (size_t)nr * sizeof(float));
            q = quant16(&k, t);
        }
        _mm_storeu_si128((__m128i *)tile, q);
        for (int64_t p = 0; p < nr; p++) ys[p * c + ch] = tile[p];
    }
}

/* nblk whole blocks of 16 pixels of a 3-channel image in one call (the model's usual RGB
 * input): the constants made once and no call per block (measured under qemu, MobileNetV2's
 * 224x224x3 input: ~217 -> ~100 instructions per block) */
I8_AVX2_FN void i8_quant_nchw3_blocks__avx2(int64_t hw, int64_t nblk, const float *xs,
                                           float scale, int32_t zp, int8_t *ys) {
    const quant_k k = quant_init(scale, zp);
    for (int64_t b = 0; b < nblk; b++, xs += 16, ys += 48)
        interleave3(quant16(&k, xs), quant16(&k, xs + hw), quant16(&k, xs + 2 * hw), ys);
}

I8_AVX2_FN void i8_dequantize_f32__avx2(int64_t n, const int8_t *x, float scale, int32_t zp,
                                        float *y) {
    const __m256 s = _mm256_set1_ps(scale);
    const __m256i z = _mm256_set1_epi32(zp);
    int64_t i = 0;
    for (; i + 8 <= n; i += 8) {
        const __m256i q = _mm256_cvtepi8_epi32(_mm_loadl_epi64((const __m128i *)(x + i)));
        _mm256_storeu_ps(y + i, _mm256_mul_ps(_mm256_cvtepi32_ps(_mm256_sub_epi32(q, z)), s));
    }
    for (; i < n; i++) y[i] = (float)((int32_t)x[i] - zp) * scale;
}

#endif
