/* Softmax over the innermost axis (docs/QUANTIZATION.md §4, Softmax). Two passes per row: the
 * max, then the exact int64 sum of table values; the third pass re-reads the table instead of
 * storing e(i), so the kernel needs no scratch. */
#include "int8rt/kernels.h"
#include "kernels/softmax/softmax.h"
#include "kernels/x86_paths.h"

void i8_softmax_run(int64_t rows, int64_t cols, const int32_t *exp_table, float inv_y_scale,
                    int32_t y_zp, const int8_t *x, int8_t *y) {
#if defined(__x86_64__) || defined(__i386__)
    if (i8_x86_level() == 2) { /* AVX-512 (avx512.c); the AVX2 path runs this loop */
        i8_softmax__avx512(rows, cols, exp_table, inv_y_scale, y_zp, x, y);
        return;
    }
#endif
    const float lo = (float)(-128 - y_zp), hi = (float)(127 - y_zp);
    for (int64_t r = 0; r < rows; r++) {
        const int8_t *xr = x + r * cols;
        int8_t *yr = y + r * cols;
        int32_t m = -128;
        for (int64_t i = 0; i < cols; i++) m = xr[i] > m ? xr[i] : m;
        int64_t sum = 0;
        for (int64_t i = 0; i < cols; i++) sum += exp_table[m - xr[i]];
        /* sum >= T[0] > 0 whenever cols > 0; the int64 -> float32 conversion rounds once */
        const float fsum = (float)sum;
        for (int64_t i = 0; i < cols; i++) {
            float v = ((float)exp_table[m - xr[i]] / fsum) * inv_y_scale;
            v = v < lo ? lo : (v > hi ? hi : v);
            yr[i] = (int8_t)((int32_t)lrintf(v) + y_zp);
        }
    }
}
