/* i8_post_init (requant/requant.h): the per-run form of a conv / fc call's fused post-ops. */
#include <stddef.h>
#include <string.h>

#include "int8rt/cpu.h"
#include "kernels/requant/requant.h"
#if defined(__x86_64__) || defined(__i386__)
#include "kernels/requant/avx2.h"
#include <immintrin.h>
#endif

const i8_post *i8_post_init(i8_post *po, const i8_post_params *pp, const int8_t *table,
                            const int8_t *res, const void *y) {
    const int lut = pp->lut && table, add = pp->add && res;
    if (!lut && !add) return NULL;
    memset(po, 0, sizeof *po);
    po->lut = lut ? table : NULL;
    if (add) {
        /* as integers: the residual and y are different buffers of one arena (or not) */
        po->res_off = (ptrdiff_t)((uintptr_t)res - (uintptr_t)y);
        po->add = 1;
        po->a_zp = pp->a_zp;
        po->b_zp = pp->b_zp;
        po->a_mult = pp->a_mult;
        po->b_mult = pp->b_mult;
        po->mult = pp->mult;
        po->y_zp = pp->y_zp;
        po->qmin = pp->qmin;
        po->qmax = pp->qmax;
    }
#if defined(__x86_64__) || defined(__i386__)
    po->vbmi = i8_cpu_features_cached()->avx512_vbmi;
#endif
    if (lut) {
        /* D_7 = T_7, D_j = T_j ^ T_{j+1} per half (T_j = entries 16 j .. 16 j + 15 of the
         * half): the XOR chain of requant/avx2.h's lookup telescopes to the entry */
        for (int h = 0; h < 2; h++)
            for (int j = 0; j < 8; j++) {
                const int8_t *tj = table + 128 * h + 16 * j;
                for (int k = 0; k < 16; k++)
                    po->lut_diff[h][j][k] = (int8_t)(j == 7 ? tj[k] : tj[k] ^ tj[k + 16]);
            }
    }
    return po;
}

#if defined(__x86_64__) || defined(__i386__)
/* 32 bytes of post->lut[x + 128] with vpshufb (the algorithm of lut/avx2.c): u = x ^ 0x80
 * splits into half h = u >> 7 and v = u & 127; with index_j = v + 0x70 - 16 j, vpshufb(D_j,
 * index_j) is D_j[v & 15] for j >= v >> 4 and 0 (bit 7 set) beyond, so the XOR over the
 * difference tables D_j (i8_post_init; both 128-bit lanes use the same ones) telescopes to
 * T_{v >> 4}[v & 15] of each half; vpblendvb picks the half by bit 7 of u. */
__attribute__((target("avx2"))) static inline __m256i lut32(const i8_post *po, __m256i x) {
    const __m256i u = _mm256_xor_si256(x, _mm256_set1_epi8((char)0x80));
    const __m256i v = _mm256_and_si256(u, _mm256_set1_epi8(0x7F));
    __m256i r0 = _mm256_setzero_si256(), r1 = r0;
    for (int j = 0; j < 8; j++) {
        const __m256i idx = _mm256_add_epi8(v, _mm256_set1_epi8((char)(0x70 - 16 * j)));
        r0 = _mm256_xor_si256(r0, _mm256_shuffle_epi8(_mm256_broadcastsi128_si256(_mm_load_si128(
                                                          (const __m128i *)po->lut_diff[0][j])),
                                                      idx));
        r1 = _mm256_xor_si256(r1, _mm256_shuffle_epi8(_mm256_broadcastsi128_si256(_mm_load_si128(
                                                          (const __m128i *)po->lut_diff[1][j])),
                                                      idx));
    }
    return _mm256_blendv_epi8(r0, r1, u);
}

/* po: the post-ops' constants; pt: the same post-ops' tables (lut_diff) */
__attribute__((target("avx2"))) static inline __m256i post32(const i8_post *po,
                                                             const i8_post *pt, __m256i b,
                                                             const int8_t *res) {
    if (po->lut) b = lut32(pt, b);
    if (po->add) {
        const __m256i r = _mm256_loadu_si256((const __m256i *)res);
        const __m128i lo = i8_avx2_add16(po, _mm256_castsi256_si128(b), _mm256_castsi256_si128(r));
        const __m128i hi =
            i8_avx2_add16(po, _mm256_extracti128_si256(b, 1), _mm256_extracti128_si256(r, 1));
        b = _mm256_inserti128_si256(_mm256_castsi128_si256(lo), hi, 1);
    }
    return b;
}

__attribute__((target("avx2"))) void i8_post_rows__avx2(const i8_post *po, int8_t *y,
                                                        size_t rows, size_t n, size_t y_row) {
    /* the constants in a private copy: y's int8 stores may alias *po as far as the compiler
     * knows, so it reloaded and re-broadcast the add's seven constants every 16 bytes */
    i8_post pc;
    memcpy(&pc, po, offsetof(i8_post, lut_diff)); /* not the tables: lut32 reads po's */
    const i8_post *const pt = po;
    po = &pc;
    if (y_row == n) { /* contiguous rows (a whole-width block): one row, one tail */
        n *= rows;
        rows = 1;
    }
    for (size_t r = 0; r < rows; r++, y += y_row) {
        size_t i = 0;
        for (; i + 32 <= n; i += 32)
            _mm256_storeu_si256((__m256i *)(y + i),
                                post32(po, pt, _mm256_loadu_si256((const __m256i *)(y + i)),
                                       y + i + po->res_off));
        if (i < n) {
            int8_t tb[32] = {0}, tr[32] = {0};
            memcpy(tb, y + i, n - i);
            if (po->add) memcpy(tr, y + i + po->res_off, n - i);
            _mm256_storeu_si256((__m256i *)tb,
                                post32(po, pt, _mm256_loadu_si256((const __m256i *)tb), tr));
            memcpy(y + i, tb, n - i);
        }
    }
}
#endif

#if defined(__x86_64__) || defined(__i386__)
/* The post-ops over rows of int8 outputs, 64 bytes per step with AVX-512 VBMI (the avx512vnni
 * kernels' table path, only where the CPU has VBMI): the table lookup of lut/avx512.c (two
 * vpermi2b over the four table zmm, bit 7 of x ^ 0x80 picks), then the residual add on four
 * zmm of 16 int32 lanes (the add kernel's arithmetic, eltwise/avx512.c). */
#define I8_POST_VBMI __attribute__((target("avx512f,avx512bw,avx512vl,avx512vbmi")))

I8_POST_VBMI static inline __m512i post64(const i8_post *po, __m512i b, const int8_t *res,
                                          __mmask64 m) {
    if (po->lut) {
        const __m512i u = _mm512_xor_si512(b, _mm512_set1_epi8((char)0x80));
        const __m512i lo = _mm512_permutex2var_epi8(_mm512_loadu_si512(po->lut), u,
                                                    _mm512_loadu_si512(po->lut + 64));
        const __m512i hi = _mm512_permutex2var_epi8(_mm512_loadu_si512(po->lut + 128), u,
                                                    _mm512_loadu_si512(po->lut + 192));
        b = _mm512_mask_blend_epi8(_mm512_movepi8_mask(u), lo, hi);
    }
    if (po->add) {
        const __m512i r = _mm512_maskz_loadu_epi8(m, res);
        __m128i q[4];
        for (int h = 0; h < 4; h++) {
            const __m128i bh = h == 0 ? _mm512_castsi512_si128(b)
                             : h == 1 ? _mm512_extracti32x4_epi32(b, 1)
                             : h == 2 ? _mm512_extracti32x4_epi32(b, 2)
                                      : _mm512_extracti32x4_epi32(b, 3);
            const __m128i rh = h == 0 ? _mm512_castsi512_si128(r)
                             : h == 1 ? _mm512_extracti32x4_epi32(r, 1)
                             : h == 2 ? _mm512_extracti32x4_epi32(r, 2)
                                      : _mm512_extracti32x4_epi32(r, 3);
            const __m512i acc = _mm512_add_epi32(
                _mm512_mullo_epi32(_mm512_sub_epi32(_mm512_cvtepi8_epi32(bh),
                                                    _mm512_set1_epi32(po->a_zp)),
                                   _mm512_set1_epi32(po->a_mult)),
                _mm512_mullo_epi32(_mm512_sub_epi32(_mm512_cvtepi8_epi32(rh),
                                                    _mm512_set1_epi32(po->b_zp)),
                                   _mm512_set1_epi32(po->b_mult)));
            const __m512 v = _mm512_min_ps(
                _mm512_max_ps(_mm512_mul_ps(_mm512_cvtepi32_ps(acc), _mm512_set1_ps(po->mult)),
                              _mm512_set1_ps((float)(po->qmin - po->y_zp))),
                _mm512_set1_ps((float)(po->qmax - po->y_zp)));
            q[h] = _mm512_cvtsepi32_epi8(
                _mm512_add_epi32(_mm512_cvtps_epi32(v), _mm512_set1_epi32(po->y_zp)));
        }
        b = _mm512_inserti32x4(_mm512_inserti32x4(_mm512_inserti32x4(
                                   _mm512_castsi128_si512(q[0]), q[1], 1), q[2], 2), q[3], 3);
    }
    return b;
}

I8_POST_VBMI void i8_post_rows__avx512vbmi(const i8_post *po, int8_t *y, size_t rows, size_t n,
                                           size_t y_row) {
    if (y_row == n) { /* contiguous rows: one row, one tail */
        n *= rows;
        rows = 1;
    }
    for (size_t r = 0; r < rows; r++, y += y_row) {
        size_t i = 0;
        for (; i + 64 <= n; i += 64)
            _mm512_storeu_si512(y + i, post64(po, _mm512_loadu_si512(y + i),
                                              y + i + po->res_off, ~(__mmask64)0));
        if (i < n) { /* masked: no access outside the n elements (of y or the residual) */
            const __mmask64 m = _cvtu64_mask64((~0ull) >> (64 - (n - i)));
            _mm512_mask_storeu_epi8(
                y + i, m, post64(po, _mm512_maskz_loadu_epi8(m, y + i), y + i + po->res_off, m));
        }
    }
}
#endif
