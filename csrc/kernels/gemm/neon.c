/* NEON gemm micro-kernels (ARMv8.0 Advanced SIMD on aarch64, NEON-VFPv4 on armv7): same packed
 * panel and results as i8_gemm_2x4__scalar (gemm.h), bit for bit, for every int8 input.
 *
 * Interface assumptions (all from gemm.h, nothing else): weight row j + t starts at
 * pn->w + (j + t) * pn->kp and rows j..j+3 exist (n is padded to I8_GEMM_NR with zero rows);
 * pn->k bytes of each a row are readable; bias / mult are padded to n4, so 4 lanes load.
 *
 * Dot products: per 16 bytes, vmull_s8 multiplies 8 int8 pairs into 8 int16 lanes, and
 * vpadalq_s16 adds adjacent int16 pairs into the int32 accumulator. Each int16 lane holds ONE
 * product, |a * w| <= 128 * 128 = 2^14 <= 32767, so it is exact. Accumulating a second product
 * in int16 (vmlal_s8) is deliberately not done: two products can reach 2 * 2^14 = 2^15 (both
 * -128 * -128), which wraps in int16. The pair sum vpadal forms (<= 2^15) is exact in int32, and
 * the int32 lanes add modulo 2^32 like the scalar sums (exact whenever the true sum fits, §3).
 *
 * A k tail (pn->k not a multiple of 16) is copied into a zeroed 16-byte block; the packed
 * weights are zero up to kp, so the block adds exactly the tail products.
 *
 * Epilogue: float32(acc + bias) (vcvtq_f32_s32 rounds to nearest like the scalar int -> float
 * conversion) times mult with one vmulq_f32 (no FMA: nothing is added to the product), clamp to
 * [qmin - zp, qmax - zp] as max then min (equal to the scalar select since lo <= hi), then
 * round half to even:
 *  - aarch64: vcvtnq_s32_f32 (FCVTNS, ties to even, like lrintf in the default FPCR mode);
 *  - armv7: NEON has no round-to-nearest convert (vcvtq_s32_f32 truncates). The clamped value
 *    is in [-255, 255], so (v + 1.5 * 2^23) - 1.5 * 2^23 is exactly rint(v): adding 1.5 * 2^23
 *    puts every |v| <= 2^22 in the binade where the float32 spacing is 1, so the add itself
 *    rounds to an integer, half to even (armv7 NEON always rounds to nearest even), and the
 *    subtraction is exact; the truncating convert of that integer is then exact too.
 *    armv7 NEON also flushes denormals to zero. For the int8 epilogue this cannot change a
 *    result (a denormal product rounds to 0, like the flushed one, and |acc| < 2^31 times a
 *    denormal mult is < 2^-95, also 0). The float32 epilogue must keep denormals, so on armv7
 *    it multiplies with scalar VFP instructions (IEEE, denormals kept under Linux's FPSCR).
 *
 * aarch64 always has Advanced SIMD. On armv7 the functions carry target("fpu=neon") (NEON with
 * VFPv3: Cortex-A8 upward), so the rest of the build keeps the toolchain's baseline (Debian
 * armhf: VFPv3-D16, no NEON) and dispatch.c calls in here only when HWCAP_NEON is set.
 * Compiles to nothing elsewhere (x86, armv7 soft-float). */
#if defined(__aarch64__) || (defined(__arm__) && defined(__ARM_FP) && !defined(__SOFTFP__))

#include "kernels/gemm/neon_tile.h"

NEON_FN void i8_gemm_2x4__neon(const i8_gemm_panel *pn, size_t j, const int8_t *a0,
                               const int8_t *a1, void *c0, void *c1) {
    const size_t k = (size_t)pn->k, kp = (size_t)pn->kp;
    const int8_t *w = pn->w + j * kp;
    int32x4_t s00 = vdupq_n_s32(0), s01 = s00, s02 = s00, s03 = s00;
    int32x4_t s10 = s00, s11 = s00, s12 = s00, s13 = s00;
    for (size_t i = 0; i < k; i += I8_GEMM_KB) {
        const int8x16_t x0 = load_a(a0 + i, k - i), x1 = load_a(a1 + i, k - i);
        int8x16_t y = vld1q_s8(w + i);
        s00 = dot16(s00, x0, y);
        s10 = dot16(s10, x1, y);
        y = vld1q_s8(w + kp + i);
        s01 = dot16(s01, x0, y);
        s11 = dot16(s11, x1, y);
        y = vld1q_s8(w + 2 * kp + i);
        s02 = dot16(s02, x0, y);
        s12 = dot16(s12, x1, y);
        y = vld1q_s8(w + 3 * kp + i);
        s03 = dot16(s03, x0, y);
        s13 = dot16(s13, x1, y);
    }
    store_row(pn, j, hsum4(s00, s01, s02, s03), c0);
    store_row(pn, j, hsum4(s10, s11, s12, s13), c1);
}

NEON_FN void i8_gemm_1x4__neon(const i8_gemm_panel *pn, size_t j, const int8_t *a0, void *c0) {
    const size_t k = (size_t)pn->k, kp = (size_t)pn->kp;
    const int8_t *w = pn->w + j * kp;
    int32x4_t s0 = vdupq_n_s32(0), s1 = s0, s2 = s0, s3 = s0;
    for (size_t i = 0; i < k; i += I8_GEMM_KB) {
        const int8x16_t x0 = load_a(a0 + i, k - i);
        s0 = dot16(s0, x0, vld1q_s8(w + i));
        s1 = dot16(s1, x0, vld1q_s8(w + kp + i));
        s2 = dot16(s2, x0, vld1q_s8(w + 2 * kp + i));
        s3 = dot16(s3, x0, vld1q_s8(w + 3 * kp + i));
    }
    store_row(pn, j, hsum4(s0, s1, s2, s3), c0);
}

#endif
