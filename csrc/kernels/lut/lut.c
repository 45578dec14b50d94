/* Table lookup: every elementwise unary function on int8 (docs/QUANTIZATION.md §4). The table
 * already holds clamp(rint(f(s_x (q - z_x)) / s_y) + z_y), so the kernel has no arithmetic. */
#include "int8rt/kernels.h"

void i8_lut_run(int64_t n, const int8_t *table, const int8_t *x, int8_t *y) {
    /* index with the unsigned byte: x + 128 == (uint8_t)x ^ 0x80 */
    for (int64_t i = 0; i < n; i++) y[i] = table[(uint8_t)x[i] ^ 0x80u];
}
