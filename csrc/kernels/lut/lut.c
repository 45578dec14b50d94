/* Table lookup: every elementwise unary function on int8 (docs/QUANTIZATION.md §4). The table
 * already holds clamp(rint(f(s_x (q - z_x)) / s_y) + z_y), so the kernel has no arithmetic.
 * Per path: AVX-512 VBMI (avx512.c) where the CPU has it on the avx512vnni path, else AVX2
 * (avx2.c) on any x86 SIMD path, TBL / VTBL (neon.c) on ARM NEON, else the loop below. */
#include "int8rt/kernels.h"
#include "kernels/eltwise/eltwise.h"
#include "kernels/lut/lut.h"
#include "kernels/x86_paths.h"

void i8_lut__scalar(int64_t n, const int8_t *table, const int8_t *x, int8_t *y) {
    /* index with the unsigned byte: x + 128 == (uint8_t)x ^ 0x80 */
    for (int64_t i = 0; i < n; i++) y[i] = table[(uint8_t)x[i] ^ 0x80u];
}

void i8_lut_run(int64_t n, const int8_t *table, const int8_t *x, int8_t *y) {
#if defined(I8_NEON_KERNELS)
    if (i8_use_neon()) {
        i8_lut__neon(n, table, x, y);
        return;
    }
#endif
#if defined(__x86_64__) || defined(__i386__)
    const int32_t level = i8_x86_level();
    if (level == 2 && i8_x86_has_vbmi()) {
        i8_lut__avx512vbmi(n, table, x, y);
        return;
    }
    if (level >= 1) {
        i8_lut__avx2(n, table, x, y);
        return;
    }
#endif
    i8_lut__scalar(n, table, x, y);
}
