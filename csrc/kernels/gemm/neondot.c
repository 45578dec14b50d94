/* NEON dotprod gemm micro-kernels (Armv8.2 SDOT: Cortex-A76 / Raspberry Pi 5): same packed
 * panel and results as i8_gemm_2x4__scalar (gemm.h), bit for bit, for every int8 input.
 *
 * vdotq_s32 (SDOT) adds, into each int32 lane, the sum of 4 adjacent int8 x int8 products,
 * computed at full precision: |sum| <= 4 * 2^14 = 2^16, so nothing is lost, and the lanes add
 * modulo 2^32 like the scalar sums (exact whenever the true sum fits, §3). One SDOT per 16
 * bytes replaces neon.c's two widening multiplies and two pairwise adds.
 *
 * Same interface assumptions, zero-padded k tail and epilogue (float32 multiply, clamp,
 * FCVTNS round half to even) as neon.c, shared through neon_tile.h.
 *
 * Only these functions carry target("arch=armv8.2-a+dotprod"): a global -march with dotprod
 * would let gcc emit SDOT anywhere and the build would die with SIGILL on a Pi 3 / Pi 4
 * (Cortex-A53 / A72). dispatch.c calls in here only when HWCAP_ASIMDDP is set. aarch64 only:
 * compiles to nothing elsewhere. */
#if defined(__aarch64__)

#include "kernels/gemm/neon_tile.h"

#define DOTPROD __attribute__((target("arch=armv8.2-a+dotprod")))

DOTPROD void i8_gemm_2x4__neondot(const i8_gemm_panel *pn, size_t j, const int8_t *a0,
                                  const int8_t *a1, void *c0, void *c1) {
    const size_t k = (size_t)pn->k, kp = (size_t)pn->kp;
    const int8_t *w = pn->w + j * kp;
    int32x4_t s00 = vdupq_n_s32(0), s01 = s00, s02 = s00, s03 = s00;
    int32x4_t s10 = s00, s11 = s00, s12 = s00, s13 = s00;
    for (size_t i = 0; i < k; i += I8_GEMM_KB) {
        const int8x16_t x0 = load_a(a0 + i, k - i), x1 = load_a(a1 + i, k - i);
        int8x16_t y = vld1q_s8(w + i);
        s00 = vdotq_s32(s00, x0, y);
        s10 = vdotq_s32(s10, x1, y);
        y = vld1q_s8(w + kp + i);
        s01 = vdotq_s32(s01, x0, y);
        s11 = vdotq_s32(s11, x1, y);
        y = vld1q_s8(w + 2 * kp + i);
        s02 = vdotq_s32(s02, x0, y);
        s12 = vdotq_s32(s12, x1, y);
        y = vld1q_s8(w + 3 * kp + i);
        s03 = vdotq_s32(s03, x0, y);
        s13 = vdotq_s32(s13, x1, y);
    }
    store_row(pn, j, hsum4(s00, s01, s02, s03), c0);
    store_row(pn, j, hsum4(s10, s11, s12, s13), c1);
}

DOTPROD void i8_gemm_1x4__neondot(const i8_gemm_panel *pn, size_t j, const int8_t *a0,
                                  void *c0) {
    const size_t k = (size_t)pn->k, kp = (size_t)pn->kp;
    const int8_t *w = pn->w + j * kp;
    int32x4_t s0 = vdupq_n_s32(0), s1 = s0, s2 = s0, s3 = s0;
    for (size_t i = 0; i < k; i += I8_GEMM_KB) {
        const int8x16_t x0 = load_a(a0 + i, k - i);
        s0 = vdotq_s32(s0, x0, vld1q_s8(w + i));
        s1 = vdotq_s32(s1, x0, vld1q_s8(w + kp + i));
        s2 = vdotq_s32(s2, x0, vld1q_s8(w + 2 * kp + i));
        s3 = vdotq_s32(s3, x0, vld1q_s8(w + 3 * kp + i));
    }
    store_row(pn, j, hsum4(s0, s1, s2, s3), c0);
}

#endif
