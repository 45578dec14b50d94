/* AVX-512 VBMI table lookup, 64 bytes per step, equal to i8_lut__scalar bit for bit.
 *
 * The 256-byte table is four zmm registers. vpermi2b indexes 128 bytes (two registers) with
 * bits 0-6 of each index byte, so with u = x ^ 0x80 (= x + 128 as an unsigned byte) one
 * vpermi2b over entries 0-127 and one over 128-255 give both candidates, and bit 7 of u
 * (vpmovb2m) selects between them. The tail uses masked loads and stores, which touch no
 * memory outside the n elements. */
#if defined(__x86_64__) || defined(__i386__)

#include <immintrin.h>

#include "kernels/lut/lut.h"
#include "kernels/x86_paths.h"

I8_AVX512VBMI_FN static inline __m512i lookup64(__m512i t0, __m512i t1, __m512i t2, __m512i t3,
                                                __m512i x) {
    const __m512i u = _mm512_xor_si512(x, _mm512_set1_epi8((char)0x80));
    const __m512i lo = _mm512_permutex2var_epi8(t0, u, t1);
    const __m512i hi = _mm512_permutex2var_epi8(t2, u, t3);
    return _mm512_mask_blend_epi8(_mm512_movepi8_mask(u), lo, hi);
}

I8_AVX512VBMI_FN void i8_lut__avx512vbmi(int64_t n, const int8_t *table, const int8_t *x,
                                         int8_t *y) {
    if (n <= 0) return;
    const __m512i t0 = _mm512_loadu_si512(table), t1 = _mm512_loadu_si512(table + 64);
    const __m512i t2 = _mm512_loadu_si512(table + 128), t3 = _mm512_loadu_si512(table + 192);
    int64_t i = 0;
    for (; i + 64 <= n; i += 64)
        _mm512_storeu_si512(y + i, lookup64(t0, t1, t2, t3, _mm512_loadu_si512(x + i)));
    if (i < n) {
        const __mmask64 m = _cvtu64_mask64((~0ull) >> (64 - (n - i)));
        _mm512_mask_storeu_epi8(y + i, m,
                                lookup64(t0, t1, t2, t3, _mm512_maskz_loadu_epi8(m, x + i)));
    }
}

#endif
