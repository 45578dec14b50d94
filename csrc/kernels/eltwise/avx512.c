/* AVX-512 rows of the element-wise family: add / mul on contiguous rows and with a broadcast
 * b (one element over the row), and the requantizing copy; the same results as the scalar
 * rows (eltwise.c), bit for bit. 16 int32 lanes per zmm: widen (vpmovsxbd), the exact int32
 * accumulator of the scalar row (vpmulld cannot overflow: eltwise.c gives the bounds), then
 * the shared epilogue (requant/avx512.h) with bias = 0 and mult broadcast. Tails use masked
 * loads (maskz: lanes beyond n read as 0 and are never stored), so no byte past n is touched. */
#if defined(__x86_64__) || defined(__i386__)

#include <immintrin.h>

#include "kernels/eltwise/eltwise.h"
#include "kernels/requant/avx512.h"
#include "kernels/x86_paths.h"

I8_AVX512_FN static inline __m512i load16(const int8_t *p, __mmask16 m) {
    return _mm512_cvtepi8_epi32(_mm_maskz_loadu_epi8(m, p));
}

I8_AVX512_FN static inline __mmask16 tail_mask(int64_t r) {
    return r >= 16 ? (__mmask16)0xFFFF : (__mmask16)((1u << r) - 1);
}

/* bcast: b[0] for every lane */
I8_AVX512_FN static inline void binary_row(const i8_binary_params *p, int is_add, int bcast,
                                           int64_t n, const int8_t *a, const int8_t *b,
                                           int8_t *y) {
    int32_t zero[16] = {0};
    float mults[16];
    for (int k = 0; k < 16; k++) mults[k] = p->mult;
    const i8_avx512_requant rq = i8_avx512_requant_init(p->y_zp, p->qmin, p->qmax, 0);
    const __m512i azp = _mm512_set1_epi32(p->a_zp), bzp = _mm512_set1_epi32(p->b_zp);
    const __m512i am = _mm512_set1_epi32(p->a_mult), bm = _mm512_set1_epi32(p->b_mult);
    const __m512i bb = _mm512_set1_epi32((int32_t)b[0] - p->b_zp);
    for (int64_t i = 0; i < n; i += 16) {
        const __mmask16 m = tail_mask(n - i);
        const __m512i av = _mm512_sub_epi32(load16(a + i, m), azp);
        const __m512i bv = bcast ? bb : _mm512_sub_epi32(load16(b + i, m), bzp);
        const __m512i acc =
            is_add ? _mm512_add_epi32(_mm512_mullo_epi32(av, am), _mm512_mullo_epi32(bv, bm))
                   : _mm512_mullo_epi32(av, bv);
        i8_avx512_requant16(&rq, acc, zero, mults, y + i, (size_t)(n - i < 16 ? n - i : 16));
    }
}

I8_AVX512_FN void i8_add_contig__avx512(const i8_binary_params *p, int64_t n, const int8_t *a,
                                        const int8_t *b, int8_t *y) {
    binary_row(p, 1, 0, n, a, b, y);
}

I8_AVX512_FN void i8_mul_contig__avx512(const i8_binary_params *p, int64_t n, const int8_t *a,
                                        const int8_t *b, int8_t *y) {
    binary_row(p, 0, 0, n, a, b, y);
}

I8_AVX512_FN void i8_add_bcast__avx512(const i8_binary_params *p, int64_t n, const int8_t *a,
                                       const int8_t *b, int8_t *y) {
    binary_row(p, 1, 1, n, a, b, y);
}

I8_AVX512_FN void i8_mul_bcast__avx512(const i8_binary_params *p, int64_t n, const int8_t *a,
                                       const int8_t *b, int8_t *y) {
    binary_row(p, 0, 1, n, a, b, y);
}

/* acc = x, bias = -x_zp: acc + bias = x - x_zp exactly */
I8_AVX512_FN void i8_requant_copy__avx512(const i8_requant_copy_params *p, const int8_t *x,
                                          int8_t *y) {
    int32_t bias[16];
    float mults[16];
    for (int k = 0; k < 16; k++) {
        bias[k] = -p->x_zp;
        mults[k] = p->mult;
    }
    const i8_avx512_requant rq = i8_avx512_requant_init(p->y_zp, -128, 127, 0);
    const int64_t n = p->cols;
    for (int64_t r = 0; r < p->rows; r++) {
        const int8_t *xr = x + r * p->x_stride;
        int8_t *yr = y + r * p->y_stride;
        for (int64_t i = 0; i < n; i += 16) {
            const __mmask16 m = tail_mask(n - i);
            i8_avx512_requant16(&rq, load16(xr + i, m), bias, mults, yr + i,
                                (size_t)(n - i < 16 ? n - i : 16));
        }
    }
}

#endif
