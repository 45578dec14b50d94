/* Portable ROWS micro-kernel i8_gemm_2x4c16__scalar (gemm.h): 2 rows of a x 4 output channels,
 * the raw int8 rows read directly (kc readable bytes each, weights zero-padded to kp).
 *
 * Written for gcc/clang auto-vectorisation at -O2 (gcc's "very cheap" cost model vectorises
 * only loops whose trip count is a known multiple of the vector width, hence the k16 main loop
 * plus a short scalar tail). Each int8 x int8 product is at most 128 * 128 = 2^14 in
 * magnitude, so it is exact in int16; the compiler then widens int16 products into int32
 * accumulators (pmaddwd-like), which is faster than widening each operand to int32.
 * Partial sums stay below 2^14 * K < 2^31 for K < 131072 (lowering enforces K <= 66000, §3);
 * the lanes wrap modulo 2^32 like the SIMD kernels. Epilogue: requant/requant.h. */
#include "kernels/gemm/gemm.h"

void i8_gemm_2x4c16__scalar(size_t mr, size_t nc, size_t kc, const void *a, size_t a_stride,
                            const void *w, void *c, size_t c_stride, const i8_gemm_params *p) {
    const int8_t *restrict a0 = a;
    const int8_t *restrict a1 = mr > 1 ? a0 + a_stride : a0;
    const size_t kp = I8_ALIGN_UP(kc, I8_GEMM_KB), k16 = kc & ~(size_t)(I8_GEMM_KB - 1);
    const int8_t *restrict w0 = w;
    const int8_t *restrict w1 = w0 + kp, *restrict w2 = w1 + kp, *restrict w3 = w2 + kp;
    int32_t s00 = 0, s01 = 0, s02 = 0, s03 = 0, s10 = 0, s11 = 0, s12 = 0, s13 = 0;
    size_t i = 0;
    for (; i < k16; i++) {
        const int16_t x0 = a0[i], x1 = a1[i];
        s00 += (int16_t)(x0 * w0[i]);
        s01 += (int16_t)(x0 * w1[i]);
        s02 += (int16_t)(x0 * w2[i]);
        s03 += (int16_t)(x0 * w3[i]);
        s10 += (int16_t)(x1 * w0[i]);
        s11 += (int16_t)(x1 * w1[i]);
        s12 += (int16_t)(x1 * w2[i]);
        s13 += (int16_t)(x1 * w3[i]);
    }
    for (; i < kc; i++) {
        const int16_t x0 = a0[i], x1 = a1[i];
        s00 += x0 * w0[i];
        s01 += x0 * w1[i];
        s02 += x0 * w2[i];
        s03 += x0 * w3[i];
        s10 += x1 * w0[i];
        s11 += x1 * w1[i];
        s12 += x1 * w2[i];
        s13 += x1 * w3[i];
    }
    const int32_t r0[I8_GEMM_NR] = {s00, s01, s02, s03}, r1[I8_GEMM_NR] = {s10, s11, s12, s13};
    i8_requant_row__scalar(&p->rq, r0, p->bias, p->mult, c, nc);
    if (mr > 1)
        i8_requant_row__scalar(&p->rq, r1, p->bias, p->mult, (unsigned char *)c + c_stride, nc);
}

const i8_gemm_tile i8_gemm_tiles__scalar[] = {{I8_GEMM_NR, i8_gemm_2x4c16__scalar}, {0, NULL}};
