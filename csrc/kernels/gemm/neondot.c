/* NEON dotprod gemm micro-kernel i8_gemm_2x4c16__neondot (Armv8.2 SDOT, Pi 5): same ROWS
 * panel and results as i8_gemm_2x4c16__scalar (gemm.h), bit for bit, for every int8 input.
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

/* sdot: four int8 products summed into each int32 lane */
I8_NEON_GEMM_TILES(neondot, DOTPROD, vdotq_s32)

#endif
