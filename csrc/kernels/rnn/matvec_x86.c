/* Dynamic-int8 matrix-vector dot products on x86 (matvec.h): AVX2 (vpmaddwd on widened
 * int16) and ymm vpdpbusd, VEX (AVX-VNNI) or EVEX (AVX512-VNNI + VL). Four column blocks at
 * a time, so four independent accumulator chains hide the dot instruction's latency. */
#include "kernels/rnn/matvec.h"

#if defined(__x86_64__) || defined(__i386__)
#include <immintrin.h>
#include <math.h>
#include <string.h>

#define HEAD_BYTES 64

typedef struct {
    int32_t n, k, n8, k4;
} mv_head;

static inline const int8_t *blocks(const void *packed, const mv_head *h) {
    return (const int8_t *)((const unsigned char *)packed + HEAD_BYTES) + (size_t)h->n8 * 8;
}
static inline const int32_t *colsums(const void *packed) {
    return (const int32_t *)((const unsigned char *)packed + HEAD_BYTES);
}

/* AVX2: one block (8 columns × 4 k) widened to two int16 vectors of 4 columns × 4 k;
 * vpmaddwd with the 4 activations repeated gives per column two pair sums; the pairs are
 * added at the end (hadd) and put back in column order (permute). */
#define AVX2_FN __attribute__((target("avx2")))

AVX2_FN static inline __m256i finish_avx2(__m256i lo, __m256i hi) {
    /* lo: c0a c0b c1a c1b | c2a c2b c3a c3b ; hi: the same for c4..c7 */
    const __m256i s = _mm256_hadd_epi32(lo, hi); /* c0 c1 c4 c5 | c2 c3 c6 c7 */
    return _mm256_permute4x64_epi64(s, 0xD8);    /* c0 c1 c2 c3 | c4 c5 c6 c7 */
}

AVX2_FN void i8mv_dot__avx2(const void *packed, const int8_t *q, int32_t *acc) {
    const mv_head *h = packed;
    const int8_t *blk = blocks(packed, h);
    const int32_t nb = h->n8 / 8, ng = h->k4 / 4;
    int32_t b = 0;
    for (; b + 2 <= nb; b += 2) {
        __m256i l0 = _mm256_setzero_si256(), h0 = l0, l1 = l0, h1 = l0;
        const int8_t *w0 = blk + (size_t)b * ng * 32, *w1 = w0 + (size_t)ng * 32;
        for (int32_t g = 0; g < ng; g++) {
            int32_t a4;
            memcpy(&a4, q + 4 * g, 4);
            const __m256i a = _mm256_broadcastq_epi64(_mm_cvtepi8_epi16(_mm_cvtsi32_si128(a4)));
            const __m128i x0 = _mm_loadu_si128((const __m128i *)(w0 + g * 32));
            const __m128i y0 = _mm_loadu_si128((const __m128i *)(w0 + g * 32 + 16));
            const __m128i x1 = _mm_loadu_si128((const __m128i *)(w1 + g * 32));
            const __m128i y1 = _mm_loadu_si128((const __m128i *)(w1 + g * 32 + 16));
            l0 = _mm256_add_epi32(l0, _mm256_madd_epi16(_mm256_cvtepi8_epi16(x0), a));
            h0 = _mm256_add_epi32(h0, _mm256_madd_epi16(_mm256_cvtepi8_epi16(y0), a));
            l1 = _mm256_add_epi32(l1, _mm256_madd_epi16(_mm256_cvtepi8_epi16(x1), a));
            h1 = _mm256_add_epi32(h1, _mm256_madd_epi16(_mm256_cvtepi8_epi16(y1), a));
        }
        _mm256_storeu_si256((__m256i *)(acc + b * 8), finish_avx2(l0, h0));
        _mm256_storeu_si256((__m256i *)(acc + b * 8 + 8), finish_avx2(l1, h1));
    }
    for (; b < nb; b++) {
        __m256i l0 = _mm256_setzero_si256(), h0 = l0;
        const int8_t *w0 = blk + (size_t)b * ng * 32;
        for (int32_t g = 0; g < ng; g++) {
            int32_t a4;
            memcpy(&a4, q + 4 * g, 4);
            const __m256i a = _mm256_broadcastq_epi64(_mm_cvtepi8_epi16(_mm_cvtsi32_si128(a4)));
            l0 = _mm256_add_epi32(l0, _mm256_madd_epi16(
                _mm256_cvtepi8_epi16(_mm_loadu_si128((const __m128i *)(w0 + g * 32))), a));
            h0 = _mm256_add_epi32(h0, _mm256_madd_epi16(
                _mm256_cvtepi8_epi16(_mm_loadu_si128((const __m128i *)(w0 + g * 32 + 16))), a));
        }
        _mm256_storeu_si256((__m256i *)(acc + b * 8), finish_avx2(l0, h0));
    }
}

/* vpdpbusd: u8 activations (q XOR 0x80 = q + 128) times s8 weights, minus 128 · colsum */
#define VNNI_BODY(DPBUSD)                                                                     \
    const mv_head *h = packed;                                                                \
    const int8_t *blk = blocks(packed, h);                                                    \
    const int32_t *cs = colsums(packed);                                                      \
    const int32_t nb = h->n8 / 8, ng = h->k4 / 4;                                             \
    const __m256i flip = _mm256_set1_epi32((int32_t)0x80808080u);                             \
    int32_t b = 0;                                                                            \
    for (; b + 4 <= nb; b += 4) {                                                             \
        __m256i s0 = _mm256_setzero_si256(), s1 = s0, s2 = s0, s3 = s0;                       \
        const int8_t *w = blk + (size_t)b * ng * 32;                                          \
        const size_t st = (size_t)ng * 32;                                                    \
        for (int32_t g = 0; g < ng; g++) {                                                    \
            int32_t a4;                                                                       \
            memcpy(&a4, q + 4 * g, 4);                                                        \
            const __m256i a = _mm256_xor_si256(_mm256_set1_epi32(a4), flip);                  \
            s0 = DPBUSD(s0, a, _mm256_loadu_si256((const __m256i *)(w + g * 32)));            \
            s1 = DPBUSD(s1, a, _mm256_loadu_si256((const __m256i *)(w + st + g * 32)));       \
            s2 = DPBUSD(s2, a, _mm256_loadu_si256((const __m256i *)(w + 2 * st + g * 32)));   \
            s3 = DPBUSD(s3, a, _mm256_loadu_si256((const __m256i *)(w + 3 * st + g * 32)));   \
        }                                                                                     \
        const __m256i *c = (const __m256i *)(cs + b * 8);                                     \
        _mm256_storeu_si256((__m256i *)(acc + b * 8),                                         \
                            _mm256_sub_epi32(s0, _mm256_slli_epi32(_mm256_loadu_si256(c), 7)));  \
        _mm256_storeu_si256((__m256i *)(acc + b * 8 + 8),                                     \
                            _mm256_sub_epi32(s1, _mm256_slli_epi32(_mm256_loadu_si256(c + 1), 7))); \
        _mm256_storeu_si256((__m256i *)(acc + b * 8 + 16),                                    \
                            _mm256_sub_epi32(s2, _mm256_slli_epi32(_mm256_loadu_si256(c + 2), 7))); \
        _mm256_storeu_si256((__m256i *)(acc + b * 8 + 24),                                    \
                            _mm256_sub_epi32(s3, _mm256_slli_epi32(_mm256_loadu_si256(c + 3), 7))); \
    }                                                                                         \
    for (; b < nb; b++) {                                                                     \
        __m256i s0 = _mm256_setzero_si256();                                                  \
        const int8_t *w = blk + (size_t)b * ng * 32;                                          \
        for (int32_t g = 0; g < ng; g++) {                                                    \
            int32_t a4;                                                                       \
            memcpy(&a4, q + 4 * g, 4);                                                        \
            const __m256i a = _mm256_xor_si256(_mm256_set1_epi32(a4), flip);                  \
            s0 = DPBUSD(s0, a, _mm256_loadu_si256((const __m256i *)(w + g * 32)));            \
        }                                                                                     \
        const __m256i c = _mm256_loadu_si256((const __m256i *)(cs + b * 8));                  \
        _mm256_storeu_si256((__m256i *)(acc + b * 8),                                         \
                            _mm256_sub_epi32(s0, _mm256_slli_epi32(c, 7)));                   \
    }

__attribute__((target("avx2,avxvnni"))) void i8mv_dot__avxvnni(const void *packed,
                                                                const int8_t *q, int32_t *acc) {
    VNNI_BODY(_mm256_dpbusd_avx_epi32)
}

__attribute__((target("avx2,avx512f,avx512vl,avx512vnni"))) void
i8mv_dot__avxvnni_evex(const void *packed, const int8_t *q, int32_t *acc) {
    VNNI_BODY(_mm256_dpbusd_epi32)
}
#endif

#if defined(__x86_64__) || defined(__i386__)
/* Row quantization and the float epilogue, 8 lanes at a time; the same float32 operations
 * as the portable code in matvec.c (max ignoring NaN as `v > mx ? v : mx` does; cvtps rounds
 * half to even like lrintf in the default rounding mode). */
AVX2_FN float i8mv_absmax__avx2(int32_t k, const float *a) {
    const __m256 mask = _mm256_castsi256_ps(_mm256_set1_epi32(0x7fffffff));
    __m256 m = _mm256_setzero_ps();
    int32_t i = 0;
    for (; i + 8 <= k; i += 8) m = _mm256_max_ps(_mm256_and_ps(_mm256_loadu_ps(a + i), mask), m);
    float lanes[8], mx = 0.0f;
    _mm256_storeu_ps(lanes, m);
    for (int t = 0; t < 8; t++) mx = lanes[t] > mx ? lanes[t] : mx;
    for (; i < k; i++) {
        const float v = fabsf(a[i]);
        mx = v > mx ? v : mx;
    }
    return mx;
}

AVX2_FN int32_t i8mv_quantize__avx2(int32_t k, const float *a, float inv, int8_t *q) {
    const __m256 vi = _mm256_set1_ps(inv);
    const __m256i lo = _mm256_set1_epi32(-127), hi = _mm256_set1_epi32(127);
    int32_t i = 0;
    for (; i + 8 <= k; i += 8) {
        __m256i v = _mm256_cvtps_epi32(_mm256_mul_ps(_mm256_loadu_ps(a + i), vi));
        v = _mm256_min_epi32(_mm256_max_epi32(v, lo), hi);
        const __m128i w = _mm_packs_epi32(_mm256_castsi256_si128(v), _mm256_extracti128_si256(v, 1));
        _mm_storel_epi64((__m128i *)(q + i), _mm_packs_epi16(w, w));
    }
    return i;
}

AVX2_FN int32_t i8mv_epilogue__avx2(int32_t n, const int32_t *acc, const float *sw, float sa,
                                    const float *bias, float *y) {
    const __m256 vs = _mm256_set1_ps(sa);
    int32_t j = 0;
    for (; j + 8 <= n; j += 8) {
        const __m256 t = _mm256_mul_ps(_mm256_cvtepi32_ps(_mm256_loadu_si256((const __m256i *)(acc + j))),
                                       _mm256_loadu_ps(sw + j));
        __m256 v = _mm256_mul_ps(t, vs);
        if (bias) v = _mm256_add_ps(v, _mm256_loadu_ps(bias + j));
        _mm256_storeu_ps(y + j, v);
    }
    return j;
}
#endif
