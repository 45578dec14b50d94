/* x86 micro-kernels of the W4A8 matmul (w4a8.c has the packed layout and the portable twin).
 * Per k octet of a 16-channel block: one 64-byte load, the low nibbles (vpand) and the high
 * nibbles (vpsrlw 4 + vpand) are the unsigned codes u of k0..k0+3 and k0+4..k0+7, vpsubb of
 * the per-channel zero point makes them the signed weights u - z in [-15, 15]; each row's
 * 4 activation bytes (q + 128, broadcast) meet them in vpdpbusd (u8 x s8, exact int32; on
 * AVX2 vpmaddubsw, whose int16 pair sums stay <= 2 * 255 * 15 = 7650, and vpmaddwd). The
 * accumulator of a group starts at -128 * sum(u - z), so it ends at sum q * (u - z) exactly;
 * then f += float(acc) * scale (two roundings, no FMA: the file is built with
 * -ffp-contract=off), and after the last group y = f * s_a + bias. */
#include <string.h>

#include "kernels/dynq/dynq_internal.h"
#include "int8rt/dynq.h"

#if defined(__x86_64__) || defined(__i386__)
#include <immintrin.h>

static inline int32_t load4(const uint8_t *p) {
    int32_t v;
    memcpy(&v, p, 4);
    return v;
}

#define REP8(X) X(0) X(1) X(2) X(3) X(4) X(5) X(6) X(7)
#define REP4(X) X(0) X(1) X(2) X(3)

/* zmm: 16 channels x 8 rows a tile; rows past the end repeat the last row (same inputs,
 * same outputs written again) */
__attribute__((target("avx2,avx512f,avx512bw,avx512vl,avx512vnni"))) void
i8_w4_rows__avx512vnni(int64_t rows, int64_t n, int64_t k, int64_t group, const uint8_t *a,
                       const float *sa, const void *packed, const float *bias, float *y) {
    const int64_t ng = k / group, nb = (n + 15) / 16, no = group / 8;
    const size_t gs = i8_w4_group_bytes(group);
    const __m512i low = _mm512_set1_epi8(0x0F);
    for (int64_t row0 = 0; row0 < rows; row0 += 8) {
        const int64_t mr = rows - row0 < 8 ? rows - row0 : 8;
#define ROWP(r) const int64_t i##r = row0 + (r < mr ? r : mr - 1); const uint8_t *a##r = a + i##r * k;
        REP8(ROWP)
        for (int64_t b = 0; b < nb; b++) {
            const uint8_t *bp = (const uint8_t *)packed + (size_t)(b * ng) * gs;
#define FZERO(r) __m512 f##r = _mm512_setzero_ps();
            REP8(FZERO)
            for (int64_t g = 0; g < ng; g++) {
                const uint8_t *gp = bp + (size_t)g * gs;
                const uint8_t *meta = gp + group * 8;
                const __m512i zb = _mm512_loadu_si512(meta);
                const __m512i corr = _mm512_loadu_si512(meta + 64);
#define ACCI(r) __m512i c##r = corr;
                REP8(ACCI)
                const int64_t kg = g * group;
                for (int64_t o = 0; o < no; o++) {
                    const __m512i v = _mm512_loadu_si512(gp + o * 64);
                    const __m512i wl = _mm512_sub_epi8(_mm512_and_si512(v, low), zb);
                    const __m512i wh =
                        _mm512_sub_epi8(_mm512_and_si512(_mm512_srli_epi16(v, 4), low), zb);
                    const int64_t kk = kg + o * 8;
#define DOT(r)                                                                               \
    c##r = _mm512_dpbusd_epi32(c##r, _mm512_set1_epi32(load4(a##r + kk)), wl);                \
    c##r = _mm512_dpbusd_epi32(c##r, _mm512_set1_epi32(load4(a##r + kk + 4)), wh);
                    REP8(DOT)
                }
                const __m512 sc = _mm512_loadu_ps((const float *)(meta + 128));
#define FACC(r) f##r = _mm512_add_ps(f##r, _mm512_mul_ps(_mm512_cvtepi32_ps(c##r), sc));
                REP8(FACC)
            }
            const int64_t left = n - b * 16;
            const __mmask16 mk = left >= 16 ? (__mmask16)0xFFFF : (__mmask16)((1u << left) - 1);
            const __m512 bv = bias ? _mm512_maskz_loadu_ps(mk, bias + b * 16) : _mm512_setzero_ps();
#define STORE(r)                                                                             \
    {                                                                                        \
        __m512 o_ = _mm512_mul_ps(f##r, _mm512_set1_ps(sa[i##r]));                            \
        if (bias) o_ = _mm512_add_ps(o_, bv);                                                \
        _mm512_mask_storeu_ps(y + i##r * n + b * 16, mk, o_);                                \
    }
            REP8(STORE)
#undef STORE
#undef FACC
#undef DOT
#undef ACCI
#undef FZERO
#undef ROWP
        }
    }
}

/* ymm: 8 channels (one half of a 16-channel block: bytes 32h .. 32h + 31 of each 64-byte
 * piece) x 4 rows a tile. DOT4 is vpdpbusd (VEX or EVEX) or the AVX2 pair. */
#define YMM_BODY(DOT4)                                                                        \
    const int64_t ng = k / group, nb = (n + 15) / 16, no = group / 8;                         \
    const size_t gs = i8_w4_group_bytes(group);                                               \
    const __m256i low = _mm256_set1_epi8(0x0F);                                               \
    for (int64_t row0 = 0; row0 < rows; row0 += 4) {                                                \
        const int64_t mr = rows - row0 < 4 ? rows - row0 : 4;                                     \
        YROWP(0) YROWP(1) YROWP(2) YROWP(3)                                                   \
        for (int64_t b = 0; b < nb; b++)                                                      \
            for (int h = 0; h < 2; h++) {                                                     \
                const int64_t j0 = b * 16 + h * 8;                                            \
                if (j0 >= n) break;                                                           \
                const uint8_t *bp = (const uint8_t *)packed + (size_t)(b * ng) * gs + h * 32; \
                __m256 f0 = _mm256_setzero_ps(), f1 = f0, f2 = f0, f3 = f0;                   \
                for (int64_t g = 0; g < ng; g++) {                                            \
                    const uint8_t *gp = bp + (size_t)g * gs;                                  \
                    const uint8_t *meta = gp + group * 8;                                     \
                    const __m256i zb = _mm256_loadu_si256((const __m256i *)meta);             \
                    const __m256i corr = _mm256_loadu_si256((const __m256i *)(meta + 64));    \
                    __m256i c0 = corr, c1 = corr, c2 = corr, c3 = corr;                       \
                    const int64_t kg = g * group;                                             \
                    for (int64_t o = 0; o < no; o++) {                                        \
                        const __m256i v = _mm256_loadu_si256((const __m256i *)(gp + o * 64)); \
                        const __m256i wl = _mm256_sub_epi8(_mm256_and_si256(v, low), zb);     \
                        const __m256i wh = _mm256_sub_epi8(                                   \
                            _mm256_and_si256(_mm256_srli_epi16(v, 4), low), zb);              \
                        const int64_t kk = kg + o * 8;                                        \
                        c0 = DOT4(c0, a0 + kk, wl, wh);                                       \
                        c1 = DOT4(c1, a1 + kk, wl, wh);                                       \
                        c2 = DOT4(c2, a2 + kk, wl, wh);                                       \
                        c3 = DOT4(c3, a3 + kk, wl, wh);                                       \
                    }                                                                         \
                    const __m256 sc = _mm256_loadu_ps((const float *)(meta + 128));           \
                    f0 = _mm256_add_ps(f0, _mm256_mul_ps(_mm256_cvtepi32_ps(c0), sc));        \
                    f1 = _mm256_add_ps(f1, _mm256_mul_ps(_mm256_cvtepi32_ps(c1), sc));        \
                    f2 = _mm256_add_ps(f2, _mm256_mul_ps(_mm256_cvtepi32_ps(c2), sc));        \
                    f3 = _mm256_add_ps(f3, _mm256_mul_ps(_mm256_cvtepi32_ps(c3), sc));        \
                }                                                                             \
                const int64_t left = n - j0 < 8 ? n - j0 : 8;                                 \
                YSTORE(0, f0) YSTORE(1, f1) YSTORE(2, f2) YSTORE(3, f3)                       \
            }                                                                                 \
    }

#define YROWP(r)                                                                              \
    const int64_t i##r = row0 + (r < mr ? r : mr - 1);                                          \
    const uint8_t *a##r = a + i##r * k;
/* the float epilogue in 8 lanes, then the valid channels out (a tail block is narrower) */
#define YSTORE(r, f)                                                                          \
    {                                                                                         \
        __m256 o_ = _mm256_mul_ps(f, _mm256_set1_ps(sa[i##r]));                                \
        float *yr = y + i##r * n + j0;                                                        \
        if (left == 8) {                                                                      \
            if (bias) o_ = _mm256_add_ps(o_, _mm256_loadu_ps(bias + j0));                     \
            _mm256_storeu_ps(yr, o_);                                                         \
        } else {                                                                              \
            float t_[8];                                                                      \
            _mm256_storeu_ps(t_, o_);                                                         \
            for (int64_t c = 0; c < left; c++) yr[c] = bias ? t_[c] + bias[j0 + c] : t_[c];   \
        }                                                                                     \
    }

#define DOT_VNNI_VEX(c, ap, wl, wh)                                                           \
    _mm256_dpbusd_avx_epi32(_mm256_dpbusd_avx_epi32(c, _mm256_set1_epi32(load4(ap)), wl),     \
                            _mm256_set1_epi32(load4((ap) + 4)), wh)
#define DOT_VNNI_EVEX(c, ap, wl, wh)                                                          \
    _mm256_dpbusd_epi32(_mm256_dpbusd_epi32(c, _mm256_set1_epi32(load4(ap)), wl),             \
                        _mm256_set1_epi32(load4((ap) + 4)), wh)
/* vpmaddubsw: u8 activations x s8 weights, pairs summed in int16 (<= 7650 each, two of them
 * <= 15300: no saturation), then vpmaddwd with ones widens the pairs of pairs to int32 */
#define DOT_AVX2(c, ap, wl, wh)                                                               \
    _mm256_add_epi32(c, _mm256_madd_epi16(                                                    \
        _mm256_add_epi16(_mm256_maddubs_epi16(_mm256_set1_epi32(load4(ap)), wl),              \
                         _mm256_maddubs_epi16(_mm256_set1_epi32(load4((ap) + 4)), wh)),       \
        _mm256_set1_epi16(1)))

__attribute__((target("avx2,avxvnni"))) void
i8_w4_rows__avxvnni(int64_t rows, int64_t n, int64_t k, int64_t group, const uint8_t *a,
                    const float *sa, const void *packed, const float *bias, float *y) {
    YMM_BODY(DOT_VNNI_VEX)
}

__attribute__((target("avx2,avx512f,avx512vl,avx512vnni"))) void
i8_w4_rows__avxvnni_evex(int64_t rows, int64_t n, int64_t k, int64_t group, const uint8_t *a,
                         const float *sa, const void *packed, const float *bias, float *y) {
    YMM_BODY(DOT_VNNI_EVEX)
}

__attribute__((target("avx2"))) void
i8_w4_rows__avx2(int64_t rows, int64_t n, int64_t k, int64_t group, const uint8_t *a,
                 const float *sa, const void *packed, const float *bias, float *y) {
    YMM_BODY(DOT_AVX2)
}
#endif
