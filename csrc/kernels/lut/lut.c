/* Table lookup: every elementwise unary function on int8 (docs/QUANTIZATION.md §4). The table
 * already holds clamp(rint(f(s_x (q - z_x)) / s_y) + z_y), so the kernel has no arithmetic.
 * Per path: AVX-512 VBMI (lut_avx512.c) where the CPU has it on the avx512vnni path, else AVX2
 * (lut_avx2.c) on any x86 SIMD path, else the loop below. */
#include "int8rt/kernels.h"
#include "kernels/lut/lut.h"
#include "kernels/x86_paths.h"

void i8_lut__scalar(int64_t n, const int8_t *table, const int8_t *x, int8_t *y) {
    /* index with the unsigned byte: x + 128 == (uint8_t)x ^ 0x80 */
    for (int64_t i = 0; i < n; i++) y[i] = table[(uint8_t)x[i] ^ 0x80u];
}

void i8_lut_run(int64_t n, const int8_t *table, const int8_t *x, int8_t *y) {
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
