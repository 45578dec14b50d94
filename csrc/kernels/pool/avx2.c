/* AVX2 max pooling: the same results as i8_maxpool__scalar (pool.c), bit for bit, vectorised
 * over channels (NHWC keeps them contiguous).
 *
 * Per output pixel and block of 32 channels, one vpmaxsb per in-bounds tap into a register
 * that starts at -128 (the scalar start value, so an all-padding window also yields the
 * clamp of -128). Signed byte max is exact: no widening, no rounding. The fused clamp
 * follows the scalar order exactly, "v < qmin ? qmin : min(v, qmax)" (vpminsb, then a
 * vpcmpgtb mask and vpblendvb), so even qmin > qmax gives the scalar bytes. A 16-channel
 * remainder takes the same steps in xmm registers, the last c % 16 channels the scalar loop;
 * no load or store touches a byte outside the tensors. Limits outside int8 (never produced by
 * the lowering, but the C entry point accepts int32) go to the scalar kernel. */
#if defined(__x86_64__) || defined(__i386__)

#include <immintrin.h>

#include "kernels/pool/pool.h"
#include "kernels/requant/avx2.h"

#define AVX2 __attribute__((target("avx2")))

AVX2 static inline __m256i clamp32(__m256i v, __m256i lo, __m256i hi) {
    return _mm256_blendv_epi8(_mm256_min_epi8(v, hi), lo, _mm256_cmpgt_epi8(lo, v));
}

AVX2 static inline __m128i clamp16(__m128i v, __m128i lo, __m128i hi) {
    return _mm_blendv_epi8(_mm_min_epi8(v, hi), lo, _mm_cmpgt_epi8(lo, v));
}

AVX2 void i8_maxpool__avx2(const i8_pool_params *p, const int8_t *x, int8_t *y) {
    if (p->qmin < -128 || p->qmin > 127 || p->qmax < -128 || p->qmax > 127) {
        i8_maxpool__scalar(p, x, y);
        return;
    }
    const int32_t c = p->c;
    const int32_t c32 = c & ~31, c16 = c & ~15;
    const __m256i lo = _mm256_set1_epi8((char)p->qmin), hi = _mm256_set1_epi8((char)p->qmax);
    const __m256i start = _mm256_set1_epi8((char)-128);
    const __m128i lo16 = _mm256_castsi256_si128(lo), hi16 = _mm256_castsi256_si128(hi);
    const __m128i start16 = _mm256_castsi256_si128(start);
    for (int32_t b = 0; b < p->n; b++) {
        const int8_t *xb = x + (int64_t)b * p->h * p->w * c;
        for (int32_t oy = 0; oy < p->oh; oy++) {
            const int32_t iy0 = oy * p->stride_h - p->pad_t;
            int32_t ky0, ky1;
            i8_pool_tap_range(iy0, p->kh, p->dil_h, p->h, &ky0, &ky1);
            for (int32_t ox = 0; ox < p->ow; ox++) {
                const int32_t ix0 = ox * p->stride_w - p->pad_l;
                int32_t kx0, kx1;
                i8_pool_tap_range(ix0, p->kw, p->dil_w, p->w, &kx0, &kx1);
                int8_t *yp = y + (((int64_t)b * p->oh + oy) * p->ow + ox) * c;
                for (int32_t c0 = 0; c0 < c32; c0 += 32) {
                    __m256i m = start;
                    for (int32_t ky = ky0; ky < ky1; ky++) {
                        const int64_t iy = iy0 + ky * p->dil_h;
                        const int8_t *row = xb + iy * p->w * c + c0;
                        for (int32_t kx = kx0; kx < kx1; kx++) {
                            const int64_t ix = ix0 + kx * p->dil_w;
                            const __m256i v = _mm256_loadu_si256((const __m256i *)(row + ix * c));
                            m = _mm256_max_epi8(m, v);
                        }
                    }
                    _mm256_storeu_si256((__m256i *)(yp + c0), clamp32(m, lo, hi));
                }
                if (c16 > c32) {
                    __m128i m = start16;
                    for (int32_t ky = ky0; ky < ky1; ky++) {
                        const int64_t iy = iy0 + ky * p->dil_h;
                        const int8_t *row = xb + iy * p->w * c + c32;
                        for (int32_t kx = kx0; kx < kx1; kx++) {
                            const int64_t ix = ix0 + kx * p->dil_w;
                            m = _mm_max_epi8(m, _mm_loadu_si128((const __m128i *)(row + ix * c)));
                        }
                    }
                    _mm_storeu_si128((__m128i *)(yp + c32), clamp16(m, lo16, hi16));
                }
                for (int32_t j = c16; j < c; j++) {
                    int32_t v = -128;
                    for (int32_t ky = ky0; ky < ky1; ky++) {
                        const int64_t iy = iy0 + ky * p->dil_h;
                        for (int32_t kx = kx0; kx < kx1; kx++) {
                            const int64_t ix = ix0 + kx * p->dil_w;
                            const int32_t t = xb[(iy * p->w + ix) * c + j];
                            v = t > v ? t : v;
                        }
                    }
                    yp[j] = (int8_t)(v < p->qmin ? p->qmin : (v > p->qmax ? p->qmax : v));
                }
            }
        }
    }
}

/* Global average pooling, 16 channels per step: int32 sums of the raw values (vpmovsxbd +
 * vpaddd, exact: |sum| <= 128 hw), then the shared epilogue with bias = -hw * x_zp (the same
 * integer as the scalar acc - zp_sum; wrapping adds agree whenever that fits int32, as the
 * scalar kernel requires) and mult broadcast. Channels past the last full block: the portable
 * loop on a one-image, one-channel-range view. */
AVX2 void i8_global_avgpool__avx2(int32_t n, int32_t hw, int32_t c, int32_t x_zp, int32_t y_zp,
                                  float mult, int32_t qmin, int32_t qmax, const int8_t *x,
                                  int8_t *y) {
    int32_t bias[16];
    float mults[16];
    for (int k = 0; k < 16; k++) {
        bias[k] = -(hw * x_zp);
        mults[k] = mult;
    }
    const i8_avx2_requant rq = i8_avx2_requant_init(y_zp, qmin, qmax, 0);
    const int32_t c16 = c & ~15;
    for (int32_t b = 0; b < n; b++) {
        const int8_t *xb = x + (int64_t)b * hw * c;
        for (int32_t c0 = 0; c0 < c16; c0 += 16) {
            __m256i a0 = _mm256_setzero_si256(), a1 = a0;
            for (int32_t i = 0; i < hw; i++) {
                const int8_t *xp = xb + (int64_t)i * c + c0;
                a0 = _mm256_add_epi32(
                    a0, _mm256_cvtepi8_epi32(_mm_loadl_epi64((const __m128i *)xp)));
                a1 = _mm256_add_epi32(
                    a1, _mm256_cvtepi8_epi32(_mm_loadl_epi64((const __m128i *)(xp + 8))));
            }
            i8_avx2_requant16(&rq, a0, a1, bias, mults, y + (int64_t)b * c + c0, 16);
        }
        for (int32_t j = c16; j < c; j++) {
            int32_t acc = 0;
            for (int32_t i = 0; i < hw; i++) acc += xb[(int64_t)i * c + j];
            y[(int64_t)b * c + j] = i8_requantize(acc - hw * x_zp, mult, y_zp, qmin, qmax);
        }
    }
}

#endif
