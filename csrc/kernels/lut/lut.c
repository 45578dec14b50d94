/* Table lookup: every elementwise unary function on int8 (docs/QUANTIZATION.md §4). The table
 * already holds clamp(rint(f(s_x (q - z_x)) / s_y) + z_y), so the kernel has no arithmetic. */
#include "int8rt/kernels.h"
#include "kernels/eltwise/eltwise.h"

void i8_lut_run(int64_t n, const int8_t *table, const int8_t *x, int8_t *y) {
#if defined(I8_NEON_KERNELS)
    if (i8_use_neon()) { /* TBL / VTBL (eltwise/neon.c) */
        i8_lut__neon(n, table, x, y);
        return;
    }
#endif
    /* index with the unsigned byte: x + 128 == (uint8_t)x ^ 0x80 */
    for (int64_t i = 0; i < n; i++) y[i] = table[(uint8_t)x[i] ^ 0x80u];
}
