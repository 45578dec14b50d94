/* Portable gemm micro-kernel: I8_GEMM_MR rows of a x I8_GEMM_NR output channels.
 *
 * Written for gcc/clang auto-vectorisation at -O2 (gcc's "very cheap" cost model vectorises
 * only loops whose trip count is a known multiple of the vector width, hence the k16 main loop
 * plus a short scalar tail). Each int8 x int8 product is at most 128 * 128 = 2^14 in
 * magnitude, so it is exact in int16; the compiler then widens int16 products into int32
 * accumulators (pmaddwd-like), which is faster than widening each operand to int32.
 * Partial sums stay below 2^14 * K < 2^31 for K < 131072 (lowering enforces K <= 66000, §3). */
#include "kernels/gemm/gemm.h"

/* acc + bias modulo 2^32 (see i8_gemm_pack): defined behaviour, exact when the true sum fits. */
static inline int32_t add_wrap(int32_t acc, int32_t bias) {
    return (int32_t)((uint32_t)acc + (uint32_t)bias);
}

/* One branch per micro-tile row picks the epilogue, so the int8 path keeps its element loop. */
static inline void store_row(const i8_gemm_panel *pn, size_t j, const int32_t s[I8_GEMM_NR],
                             void *c) {
    const size_t nr = (size_t)pn->n - j < I8_GEMM_NR ? (size_t)pn->n - j : I8_GEMM_NR;
    if (pn->out_f32) {
        /* float32 epilogue (kernels.h): one IEEE multiply, no zero point, no clamp */
        float *cf = (float *)c + j;
        for (size_t t = 0; t < nr; t++)
            cf[t] = (float)add_wrap(s[t], pn->bias[j + t]) * pn->mult[j + t];
        return;
    }
    int8_t *cq = (int8_t *)c + j;
    for (size_t t = 0; t < nr; t++)
        cq[t] = i8_requantize(add_wrap(s[t], pn->bias[j + t]), pn->mult[j + t], pn->y_zp,
                              pn->qmin, pn->qmax);
}

void i8_gemm_2x4__scalar(const i8_gemm_panel *pn, size_t j, const int8_t *restrict a0,
                       const int8_t *restrict a1, void *c0, void *c1) {
    const size_t k = (size_t)pn->k, k16 = k & ~(size_t)(I8_GEMM_KB - 1);
    const int8_t *restrict w0 = pn->w + j * (size_t)pn->kp;
    const int8_t *restrict w1 = w0 + pn->kp, *restrict w2 = w1 + pn->kp;
    const int8_t *restrict w3 = w2 + pn->kp;
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
    for (; i < k; i++) {
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
    store_row(pn, j, r0, c0);
    store_row(pn, j, r1, c1);
}

void i8_gemm_1x4__scalar(const i8_gemm_panel *pn, size_t j, const int8_t *restrict a0,
                       void *c0) {
    const size_t k = (size_t)pn->k, k16 = k & ~(size_t)(I8_GEMM_KB - 1);
    const int8_t *restrict w0 = pn->w + j * (size_t)pn->kp;
    const int8_t *restrict w1 = w0 + pn->kp, *restrict w2 = w1 + pn->kp;
    const int8_t *restrict w3 = w2 + pn->kp;
    int32_t s0 = 0, s1 = 0, s2 = 0, s3 = 0;
    size_t i = 0;
    for (; i < k16; i++) {
        const int16_t x0 = a0[i];
        s0 += (int16_t)(x0 * w0[i]);
        s1 += (int16_t)(x0 * w1[i]);
        s2 += (int16_t)(x0 * w2[i]);
        s3 += (int16_t)(x0 * w3[i]);
    }
    for (; i < k; i++) {
        const int16_t x0 = a0[i];
        s0 += x0 * w0[i];
        s1 += x0 * w1[i];
        s2 += x0 * w2[i];
        s3 += x0 * w3[i];
    }
    const int32_t r0[I8_GEMM_NR] = {s0, s1, s2, s3};
    store_row(pn, j, r0, c0);
}

/* Portable kernel for K2N16 panels (gemm.h): only runs when a panel packed under the AVX2
 * path is run with a lower path selected afterwards (tests sweeping paths, an INT8RT_ISA cap
 * set between pack and run), so it favours plainness over speed. */
void i8_gemm_k2n16__scalar(const i8_gemm_panel *pn, size_t m, const int8_t *a, size_t a_stride,
                           void *c, size_t c_row) {
    const size_t n = (size_t)pn->n, k = (size_t)pn->k, kp = (size_t)pn->kp;
    unsigned char *cb = c;
    for (size_t i = 0; i < m; i++) {
        const int8_t *ar = a + i * a_stride;
        for (size_t j0 = 0; j0 < n; j0 += I8_GEMM_NR) {
            int32_t s[I8_GEMM_NR] = {0, 0, 0, 0};
            for (size_t t = 0; t < I8_GEMM_NR && j0 + t < n; t++) {
                const size_t j = j0 + t;
                const int16_t *blk = pn->w16 + (j / 16) * 16 * kp + (j % 16) * 2;
                int32_t acc = 0;
                for (size_t q = 0; q < k; q++) acc += ar[q] * blk[(q / 2) * 32 + q % 2];
                s[t] = acc;
            }
            store_row(pn, j0, s, cb + i * c_row);
        }
    }
}
