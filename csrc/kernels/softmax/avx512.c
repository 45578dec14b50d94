/* AVX-512 softmax over rows (avx512vnni path), 16 columns per zmm; the same bytes as the
 * portable loop (softmax.c):
 *   max     vpmaxsd over the row's columns (masked-off lanes read as -128, the scalar start);
 *   sum     e = exp_table[m - x] by vpgatherdd (masked-off lanes gather nothing and stay 0),
 *           summed exactly in int64 lanes (the scalar sum is int64), then one int64 -> float32
 *           conversion in C, as the scalar code does;
 *   output  float32(e) (vcvtdq2ps: round to nearest, like the C conversion) / fsum (vdivps,
 *           IEEE) * inv_y_scale (one vmulps, no FMA), clamp max-then-min, vcvtps2dq (half to
 *           even), + y_zp, vpmovdb (exact: in range), masked store. */
#if defined(__x86_64__) || defined(__i386__)

#include <immintrin.h>

#include "kernels/softmax/softmax.h"
#include "kernels/x86_paths.h"

I8_AVX512_FN static inline __mmask16 mask16(int64_t r) {
    return r >= 16 ? (__mmask16)0xFFFF : (__mmask16)((1u << r) - 1);
}

I8_AVX512_FN static inline __m512i load16(const int8_t *p, __mmask16 m) {
    /* masked-off lanes: -128 */
    return _mm512_cvtepi8_epi32(_mm_mask_loadu_epi8(_mm_set1_epi8((char)-128), m, p));
}

I8_AVX512_FN void i8_softmax__avx512(int64_t rows, int64_t cols, const int32_t *exp_table,
                                     float inv_y_scale, int32_t y_zp, const int8_t *x,
                                     int8_t *y) {
    const __m512 lo = _mm512_set1_ps((float)(-128 - y_zp));
    const __m512 hi = _mm512_set1_ps((float)(127 - y_zp));
    const __m512 inv = _mm512_set1_ps(inv_y_scale);
    const __m512i zp = _mm512_set1_epi32(y_zp);
    for (int64_t r = 0; r < rows; r++) {
        const int8_t *xr = x + r * cols;
        int8_t *yr = y + r * cols;
        __m512i vm = _mm512_set1_epi32(-128);
        for (int64_t i = 0; i < cols; i += 16)
            vm = _mm512_max_epi32(vm, load16(xr + i, mask16(cols - i)));
        const __m512i m = _mm512_set1_epi32(_mm512_reduce_max_epi32(vm));
        __m512i s0 = _mm512_setzero_si512(), s1 = s0;
        for (int64_t i = 0; i < cols; i += 16) {
            const __mmask16 k = mask16(cols - i);
            const __m512i e = _mm512_mask_i32gather_epi32(
                _mm512_setzero_si512(), k, _mm512_sub_epi32(m, load16(xr + i, k)), exp_table, 4);
            s0 = _mm512_add_epi64(s0, _mm512_cvtepi32_epi64(_mm512_castsi512_si256(e)));
            s1 = _mm512_add_epi64(s1, _mm512_cvtepi32_epi64(_mm512_extracti64x4_epi64(e, 1)));
        }
        const int64_t sum = _mm512_reduce_add_epi64(_mm512_add_epi64(s0, s1));
        const __m512 fsum = _mm512_set1_ps((float)sum);
        for (int64_t i = 0; i < cols; i += 16) {
            const __mmask16 k = mask16(cols - i);
            const __m512i e = _mm512_mask_i32gather_epi32(
                _mm512_setzero_si512(), k, _mm512_sub_epi32(m, load16(xr + i, k)), exp_table, 4);
            const __m512 v = _mm512_mul_ps(_mm512_div_ps(_mm512_cvtepi32_ps(e), fsum), inv);
            const __m512i q = _mm512_add_epi32(
                _mm512_cvtps_epi32(_mm512_min_ps(_mm512_max_ps(v, lo), hi)), zp);
            _mm_mask_storeu_epi8(yr + i, k, _mm512_cvtepi32_epi8(q));
        }
    }
}

#endif
