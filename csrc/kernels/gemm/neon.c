/* NEON gemm micro-kernel i8_gemm_2x4c16__neon (ARMv8.0 Advanced SIMD; armv7 NEON): same ROWS
 * panel and results as i8_gemm_2x4c16__scalar (gemm.h), bit for bit, for every int8 input.
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

/* dot16: one product per int16 lane, widened pairwise into int32 (neon_tile.h) */
I8_NEON_GEMM_TILES(neon, NEON_FN, dot16)

#endif
