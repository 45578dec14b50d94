/* Internal: per-path kernels of the table lookup (lut.c dispatches). Every one computes
 * y[i] = table[x[i] + 128] for i < n, bit for bit. */
#ifndef INT8RT_LUT_H
#define INT8RT_LUT_H

#include <stdint.h>

void i8_lut__scalar(int64_t n, const int8_t *table, const int8_t *x, int8_t *y);
#if defined(__x86_64__) || defined(__i386__)
void i8_lut__avx2(int64_t n, const int8_t *table, const int8_t *x, int8_t *y);
void i8_lut__avx512vbmi(int64_t n, const int8_t *table, const int8_t *x, int8_t *y);
#endif

#endif
