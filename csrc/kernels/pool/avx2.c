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

#endif
