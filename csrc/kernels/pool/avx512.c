/* AVX-512 pooling (avx512vnni path): the same results as the portable kernels (pool.c), bit
 * for bit, vectorised over the contiguous channels; channel tails use masked loads and stores
 * (nothing read or written outside the channels).
 *
 * max: 64 channels per zmm, vpmaxsb over the in-bounds taps from -128 (the scalar start), then
 * the fused clamp (max with qmin, min with qmax: equal to the scalar ternary since
 * qmin <= qmax; a clamp outside the int8 range falls back to the portable loop).
 * avg / global avg: 16 channels per zmm, int32 sums of the raw values (vpmovsxbd + vpaddd),
 * then the shared epilogue (requant/avx512.h) with bias = -(taps * x_zp), which equals the
 * scalar acc - zp_sum, and the window's mult broadcast. */
#if defined(__x86_64__) || defined(__i386__)

#include <immintrin.h>

#include "kernels/pool/pool.h"
#include "kernels/requant/avx512.h"
#include "kernels/x86_paths.h"

I8_AVX512_FN static inline __mmask64 mask64(int32_t r) {
    return r >= 64 ? ~(__mmask64)0 : (((__mmask64)1 << r) - 1);
}

I8_AVX512_FN static inline __mmask16 mask16(int32_t r) {
    return r >= 16 ? (__mmask16)0xFFFF : (__mmask16)((1u << r) - 1);
}

I8_AVX512_FN void i8_maxpool__avx512(const i8_pool_params *p, const int8_t *x, int8_t *y) {
    if (p->qmin < -128 || p->qmin > 127 || p->qmax < -128 || p->qmax > 127 || p->qmin > p->qmax) {
        i8_maxpool__scalar(p, x, y);
        return;
    }
    const int32_t c = p->c;
    const __m512i lo = _mm512_set1_epi8((char)p->qmin), hi = _mm512_set1_epi8((char)p->qmax);
    const __m512i start = _mm512_set1_epi8((char)-128);
    for (int32_t b = 0; b < p->n; b++) {
        const int8_t *xb = x + (int64_t)b * p->h * p->w * c;
        for (int32_t oy = 0; oy < p->oh; oy++) {
            const int64_t iy0 = (int64_t)oy * p->stride_h - p->pad_t;
            for (int32_t ox = 0; ox < p->ow; ox++) {
                const int64_t ix0 = (int64_t)ox * p->stride_w - p->pad_l;
                int32_t ky0, ky1, kx0, kx1;
                i8_pool_window(p, oy, ox, &ky0, &ky1, &kx0, &kx1);
                int8_t *yp = y + (((int64_t)b * p->oh + oy) * p->ow + ox) * c;
                for (int32_t c0 = 0; c0 < c; c0 += 64) {
                    const __mmask64 m = mask64(c - c0);
                    __m512i v = start;
                    for (int32_t ky = ky0; ky < ky1; ky++) {
                        const int8_t *row = xb + (iy0 + (int64_t)ky * p->dil_h) * p->w * c + c0;
                        for (int32_t kx = kx0; kx < kx1; kx++)
                            v = _mm512_max_epi8(
                                v, _mm512_maskz_loadu_epi8(
                                       m, row + (ix0 + (int64_t)kx * p->dil_w) * c));
                    }
                    _mm512_mask_storeu_epi8(yp + c0, m,
                                            _mm512_min_epi8(_mm512_max_epi8(v, lo), hi));
                }
            }
        }
    }
}

I8_AVX512_FN void i8_avgpool__avx512(const i8_pool_params *p, const float *mult_by_count,
                                     const int8_t *x, int8_t *y) {
    const int32_t c = p->c;
    const i8_avx512_requant rq = i8_avx512_requant_init(p->y_zp, p->qmin, p->qmax, 0);
    for (int32_t b = 0; b < p->n; b++) {
        const int8_t *xb = x + (int64_t)b * p->h * p->w * c;
        for (int32_t oy = 0; oy < p->oh; oy++) {
            const int64_t iy0 = (int64_t)oy * p->stride_h - p->pad_t;
            for (int32_t ox = 0; ox < p->ow; ox++) {
                const int64_t ix0 = (int64_t)ox * p->stride_w - p->pad_l;
                int32_t ky0, ky1, kx0, kx1;
                i8_pool_window(p, oy, ox, &ky0, &ky1, &kx0, &kx1);
                const int32_t taps = (ky1 - ky0) * (kx1 - kx0);
                const int32_t divisor = p->count_include_pad ? p->kh * p->kw : taps;
                int32_t bias[16];
                float mults[16];
                for (int k = 0; k < 16; k++) {
                    bias[k] = -(taps * p->x_zp);
                    mults[k] = mult_by_count[divisor];
                }
                int8_t *yp = y + (((int64_t)b * p->oh + oy) * p->ow + ox) * c;
                for (int32_t c0 = 0; c0 < c; c0 += 16) {
                    const __mmask16 m = mask16(c - c0);
                    __m512i acc = _mm512_setzero_si512();
                    for (int32_t ky = ky0; ky < ky1; ky++) {
                        const int8_t *row = xb + (iy0 + (int64_t)ky * p->dil_h) * p->w * c + c0;
                        for (int32_t kx = kx0; kx < kx1; kx++)
                            acc = _mm512_add_epi32(
                                acc, _mm512_cvtepi8_epi32(_mm_maskz_loadu_epi8(
                                         m, row + (ix0 + (int64_t)kx * p->dil_w) * c)));
                    }
                    i8_avx512_requant16(&rq, acc, bias, mults, yp + c0,
                                        (size_t)(c - c0 < 16 ? c - c0 : 16));
                }
            }
        }
    }
}

I8_AVX512_FN void i8_global_avgpool__avx512(int32_t n, int32_t hw, int32_t c, int32_t x_zp,
                                            int32_t y_zp, float mult, int32_t qmin,
                                            int32_t qmax, const int8_t *x, int8_t *y) {
    int32_t bias[16];
    float mults[16];
    for (int k = 0; k < 16; k++) {
        bias[k] = -(hw * x_zp);
        mults[k] = mult;
    }
    const i8_avx512_requant rq = i8_avx512_requant_init(y_zp, qmin, qmax, 0);
    for (int32_t b = 0; b < n; b++) {
        const int8_t *xb = x + (int64_t)b * hw * c;
        for (int32_t c0 = 0; c0 < c; c0 += 16) {
            const __mmask16 m = mask16(c - c0);
            __m512i acc = _mm512_setzero_si512();
            for (int32_t i = 0; i < hw; i++)
                acc = _mm512_add_epi32(
                    acc, _mm512_cvtepi8_epi32(_mm_maskz_loadu_epi8(m, xb + (int64_t)i * c + c0)));
            i8_avx512_requant16(&rq, acc, bias, mults, y + (int64_t)b * c + c0,
                                (size_t)(c - c0 < 16 ? c - c0 : 16));
        }
    }
}

#endif
