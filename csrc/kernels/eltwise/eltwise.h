/* Internal: per-ISA row kernels of the element-wise family (eltwise.c dispatches). */
#ifndef INT8RT_ELTWISE_H
#define INT8RT_ELTWISE_H

#include <stdint.h>

#include "int8rt/kernels.h"

#if defined(__x86_64__) || defined(__i386__)
/* y[i] = op(a[i], b[i]) for i < n, both inputs contiguous (strides 1) */
void i8_add_contig__avx2(const i8_binary_params *p, int64_t n, const int8_t *a, const int8_t *b,
                         int8_t *y);
void i8_mul_contig__avx2(const i8_binary_params *p, int64_t n, const int8_t *a, const int8_t *b,
                         int8_t *y);
void i8_add_contig__avx512(const i8_binary_params *p, int64_t n, const int8_t *a,
                           const int8_t *b, int8_t *y);
void i8_mul_contig__avx512(const i8_binary_params *p, int64_t n, const int8_t *a,
                           const int8_t *b, int8_t *y);
/* b is one element broadcast over the row (sb == 0: scalar or per-channel operand) */
void i8_add_bcast__avx512(const i8_binary_params *p, int64_t n, const int8_t *a,
                          const int8_t *b, int8_t *y);
void i8_mul_bcast__avx512(const i8_binary_params *p, int64_t n, const int8_t *a,
                          const int8_t *b, int8_t *y);
/* one row of the requantizing copy: y[i] = i8_requantize(x[i] - x_zp, mult, y_zp, -128, 127) */
void i8_requant_row__avx2(int64_t n, const int8_t *x, int32_t x_zp, float mult, int32_t y_zp,
                          int8_t *y);
void i8_requant_row__avx512(int64_t n, const int8_t *x, int32_t x_zp, float mult, int32_t y_zp,
                            int8_t *y);
#endif

#endif
