/* AVX2 table lookup, 32 bytes per step, equal to i8_lut__scalar bit for bit.
 *
 * vpshufb looks up 16-entry tables (index bits 0-3 per 128-bit lane) and returns 0 where
 * index bit 7 is set. With u = x + 128 split into halves h = u >> 7 and v = u & 127 (v is the
 * int8 x itself read as unsigned when h = 1, and x + 128 when h = 0), the 8 blocks of 16
 * entries of a half are found with one vpshufb per block and an XOR chain instead of compares:
 *   index_j = v + (0x70 - 16 j)  (wrapping byte add), for j = 0..7:
 *     v in [16 j, 16 j + 16)  ->  index_j in [0x70, 0x80): bit 7 clear, low nibble v & 15;
 *     v >= 16 j + 16          ->  index_j in [0x80, 0xF0): bit 7 set, vpshufb gives 0;
 *     v <  16 j               ->  index_j < 0x70: bit 7 clear, some entry of D_j.
 * So vpshufb(D_j, index_j) is D_j[v & 15] exactly when j >= v >> 4, else 0, and with
 * D_7 = T_7, D_j = T_j ^ T_{j+1} (T_j = entries 16 j .. 16 j + 15 of the half) the XOR over
 * j = 0..7 telescopes to T_{v >> 4}[v & 15]. Both halves are computed and vpblendvb picks by
 * bit 7 of u. The chain of difference tables is built once per call (256 bytes). */
#if defined(__x86_64__) || defined(__i386__)

#include <immintrin.h>
#include <string.h>

#include "kernels/lut/lut.h"
#include "kernels/x86_paths.h"

typedef struct {
    __m256i d[2][8]; /* [half][j]: difference tables, broadcast to both 128-bit lanes */
    __m256i off[8];  /* 0x70 - 16 j in every byte */
} lut_avx2_tables;

I8_AVX2_FN static void tables_init(const int8_t *table, lut_avx2_tables *t) {
    for (int h = 0; h < 2; h++) {
        for (int j = 0; j < 8; j++) {
            int8_t d[16];
            const int8_t *tj = table + 128 * h + 16 * j;
            for (int k = 0; k < 16; k++) d[k] = (int8_t)(j == 7 ? tj[k] : tj[k] ^ tj[k + 16]);
            t->d[h][j] = _mm256_broadcastsi128_si256(_mm_loadu_si128((const __m128i *)d));
        }
    }
    for (int j = 0; j < 8; j++) t->off[j] = _mm256_set1_epi8((char)(0x70 - 16 * j));
}

I8_AVX2_FN static inline __m256i lookup32(const lut_avx2_tables *t, __m256i x) {
    /* u = x ^ 0x80: bit 7 of u is the half; v = u & 127 for both halves: half 0 (x < 0)
     * has v = x + 128, half 1 (x >= 0) has v = x */
    const __m256i u = _mm256_xor_si256(x, _mm256_set1_epi8((char)0x80));
    const __m256i v = _mm256_and_si256(u, _mm256_set1_epi8(0x7F));
    __m256i r0 = _mm256_setzero_si256(), r1 = r0;
    for (int j = 0; j < 8; j++) {
        const __m256i idx = _mm256_add_epi8(v, t->off[j]);
        r0 = _mm256_xor_si256(r0, _mm256_shuffle_epi8(t->d[0][j], idx));
        r1 = _mm256_xor_si256(r1, _mm256_shuffle_epi8(t->d[1][j], idx));
    }
    return _mm256_blendv_epi8(r0, r1, u);
}

I8_AVX2_FN void i8_lut__avx2(int64_t n, const int8_t *table, const int8_t *x, int8_t *y) {
    if (n <= 0) return;
    lut_avx2_tables t;
    tables_init(table, &t);
    int64_t i = 0;
    for (; i + 32 <= n; i += 32)
        _mm256_storeu_si256((__m256i *)(y + i),
                            lookup32(&t, _mm256_loadu_si256((const __m256i *)(x + i))));
    if (i < n) {
        int8_t tx[32] = {0}, ty[32];
        memcpy(tx, x + i, (size_t)(n - i));
        _mm256_storeu_si256((__m256i *)ty, lookup32(&t, _mm256_loadu_si256((const __m256i *)tx)));
        memcpy(y + i, ty, (size_t)(n - i));
    }
}

#endif
