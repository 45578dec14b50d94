/* x86 micro-kernels of the W4A8 matmul: the row kernel of w4a8_tile.h over zmm / ymm
 * primitives (w4a8.c has the packed layout and the portable twin; w4a8_emu.c the same kernels
 * over emulated primitives). Per k octet of a 16-channel block: one load, the low nibbles
 * (vpand) and the high nibbles (vpsrlw 4 + vpand) are the unsigned codes u of k0..k0+3 and
 * k0+4..k0+7, vpsubb of the per-channel zero point makes them the signed weights u - z in
 * [-15, 15]; each row's 4 activation bytes (q + 128, broadcast) meet them in vpdpbusd (u8 x
 * s8, exact int32; on AVX2 vpmaddubsw, whose int16 pair sums stay <= 2 * 255 * 15 = 7650, two
 * of them <= 15300 added in int16, then vpmaddwd with ones). The accumulator of a group starts
 * at -128 * sum(u - z), so it ends at sum q * (u - z) exactly; then f += float(acc) * scale
 * (two roundings, no FMA: the build uses -ffp-contract=off), and after the last group
 * y = f * s_a + bias. */
#include <string.h>

#include "int8rt/dynq.h"
#include "kernels/dynq/dynq_internal.h"

#if defined(__x86_64__) || defined(__i386__)
#include <immintrin.h>

#define REP8(X) X(0) X(1) X(2) X(3) X(4) X(5) X(6) X(7)
#define REP4(X) X(0) X(1) X(2) X(3)

static inline int32_t load4(const uint8_t *p) {
    int32_t v;
    memcpy(&v, p, 4);
    return v;
}

/* ---- zmm: 16 channels, 8 rows -------------------------------------------------------- */
#define Z16 __attribute__((target("avx2,avx512f,avx512bw,avx512vl,avx512vnni")))
typedef __m512i z16_b;
typedef __m512i z16_i;
typedef __m512 z16_f;
Z16 static inline z16_b z16_loadb(const uint8_t *p) { return _mm512_loadu_si512(p); }
Z16 static inline z16_i z16_loadi(const uint8_t *p) { return _mm512_loadu_si512(p); }
Z16 static inline z16_b z16_niblo(z16_b v) { return _mm512_and_si512(v, _mm512_set1_epi8(15)); }
Z16 static inline z16_b z16_nibhi(z16_b v) {
    return _mm512_and_si512(_mm512_srli_epi16(v, 4), _mm512_set1_epi8(15));
}
Z16 static inline z16_b z16_subb(z16_b a, z16_b b) { return _mm512_sub_epi8(a, b); }
Z16 static inline z16_i z16_dot(z16_i c, const uint8_t *a, z16_b wl, z16_b wh) {
    c = _mm512_dpbusd_epi32(c, _mm512_set1_epi32(load4(a)), wl);
    return _mm512_dpbusd_epi32(c, _mm512_set1_epi32(load4(a + 4)), wh);
}
Z16 static inline z16_f z16_fzero(void) { return _mm512_setzero_ps(); }
Z16 static inline z16_f z16_facc(z16_f f, z16_i c, const float *s) {
    return _mm512_add_ps(f, _mm512_mul_ps(_mm512_cvtepi32_ps(c), _mm512_loadu_ps(s)));
}
Z16 static inline void z16_store(float *y, z16_f f, float sa, const float *bias, int64_t left) {
    const __mmask16 mk = left >= 16 ? (__mmask16)0xFFFF : (__mmask16)((1u << left) - 1);
    z16_f o = _mm512_mul_ps(f, _mm512_set1_ps(sa));
    if (bias) o = _mm512_add_ps(o, _mm512_maskz_loadu_ps(mk, bias));
    _mm512_mask_storeu_ps(y, mk, o);
}

#define W4_FN i8_w4_rows__avx512vnni
#define W4_ATTR Z16
#define W4_P(x) z16_##x
#define W4_L 16
#define W4_MR 8
#define W4_REP REP8
#include "kernels/dynq/w4a8_tile.h"
#undef W4_FN
#undef W4_ATTR
#undef W4_P
#undef W4_L
#undef W4_MR
#undef W4_REP

/* ---- ymm: 8 channels (half a block), 4 rows; three dot primitives ---------------------- */
#define YMM_SET(S, ATTR, DOT_BODY)                                                            \
    typedef __m256i S##_b;                                                                    \
    typedef __m256i S##_i;                                                                    \
    typedef __m256 S##_f;                                                                     \
    ATTR static inline S##_b S##_loadb(const uint8_t *p) {                                    \
        return _mm256_loadu_si256((const __m256i *)p);                                        \
    }                                                                                         \
    ATTR static inline S##_i S##_loadi(const uint8_t *p) {                                    \
        return _mm256_loadu_si256((const __m256i *)p);                                        \
    }                                                                                         \
    ATTR static inline S##_b S##_niblo(S##_b v) {                                             \
        return _mm256_and_si256(v, _mm256_set1_epi8(15));                                     \
    }                                                                                         \
    ATTR static inline S##_b S##_nibhi(S##_b v) {                                             \
        return _mm256_and_si256(_mm256_srli_epi16(v, 4), _mm256_set1_epi8(15));               \
    }                                                                                         \
    ATTR static inline S##_b S##_subb(S##_b a, S##_b b) { return _mm256_sub_epi8(a, b); }     \
    ATTR static inline S##_i S##_dot(S##_i c, const uint8_t *a, S##_b wl, S##_b wh) {         \
        const __m256i a0 = _mm256_set1_epi32(load4(a)), a1 = _mm256_set1_epi32(load4(a + 4)); \
        DOT_BODY                                                                              \
    }                                                                                         \
    ATTR static inline S##_f S##_fzero(void) { return _mm256_setzero_ps(); }                  \
    ATTR static inline S##_f S##_facc(S##_f f, S##_i c, const float *s) {                     \
        return _mm256_add_ps(f, _mm256_mul_ps(_mm256_cvtepi32_ps(c), _mm256_loadu_ps(s)));    \
    }                                                                                         \
    ATTR static inline void S##_store(float *y, S##_f f, float sa, const float *bias,         \
                                      int64_t left) {                                         \
        S##_f o = _mm256_mul_ps(f, _mm256_set1_ps(sa));                                       \
        if (left == 8) {                                                                      \
            if (bias) o = _mm256_add_ps(o, _mm256_loadu_ps(bias));                            \
            _mm256_storeu_ps(y, o);                                                           \
            return;                                                                           \
        }                                                                                     \
        float t[8];                                                                           \
        _mm256_storeu_ps(t, o);                                                               \
        for (int64_t c = 0; c < left; c++) y[c] = bias ? t[c] + bias[c] : t[c];               \
    }

#define YV __attribute__((target("avx2,avxvnni")))
#define YE __attribute__((target("avx2,avx512f,avx512vl,avx512vnni")))
#define YA __attribute__((target("avx2")))
YMM_SET(y8v, YV, return _mm256_dpbusd_avx_epi32(_mm256_dpbusd_avx_epi32(c, a0, wl), a1, wh);)
YMM_SET(y8e, YE, return _mm256_dpbusd_epi32(_mm256_dpbusd_epi32(c, a0, wl), a1, wh);)
YMM_SET(y8a, YA,
        return _mm256_add_epi32(c, _mm256_madd_epi16(_mm256_add_epi16(
                                        _mm256_maddubs_epi16(a0, wl), _mm256_maddubs_epi16(a1, wh)),
                                    _mm256_set1_epi16(1)));)

#define W4_L 8
#define W4_MR 4
#define W4_REP REP4

#define W4_FN i8_w4_rows__avxvnni
#define W4_ATTR YV
#define W4_P(x) y8v_##x
#include "kernels/dynq/w4a8_tile.h"
#undef W4_FN
#undef W4_ATTR
#undef W4_P

#define W4_FN i8_w4_rows__avxvnni_evex
#define W4_ATTR YE
#define W4_P(x) y8e_##x
#include "kernels/dynq/w4a8_tile.h"
#undef W4_FN
#undef W4_ATTR
#undef W4_P

#define W4_FN i8_w4_rows__avx2
#define W4_ATTR YA
#define W4_P(x) y8a_##x
#include "kernels/dynq/w4a8_tile.h"
#endif
