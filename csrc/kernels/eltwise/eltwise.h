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
/* the requantizing copy (kernels.h, i8_requant_copy_run) */
void i8_requant_copy__avx2(const i8_requant_copy_params *p, const int8_t *x, int8_t *y);
void i8_requant_copy__avx512(const i8_requant_copy_params *p, const int8_t *x, int8_t *y);
#endif

#if defined(__aarch64__) || (defined(__arm__) && defined(__ARM_FP) && !defined(__SOFTFP__))
#define I8_NEON_KERNELS 1
/* NEON (neon.c): the contiguous rows, the requantizing copy row, lut, quantize (aarch64) */
void i8_add_contig__neon(const i8_binary_params *p, int64_t n, const int8_t *a, const int8_t *b,
                         int8_t *y);
void i8_mul_contig__neon(const i8_binary_params *p, int64_t n, const int8_t *a, const int8_t *b,
                         int8_t *y);
void i8_requant_copy_row__neon(int64_t n, const int8_t *x, int32_t x_zp, float mult,
                               int32_t y_zp, int8_t *y);
void i8_lut__neon(int64_t n, const int8_t *table, const int8_t *x, int8_t *y);
#if defined(__aarch64__)
void i8_quantize_f32__neon(int64_t n, const float *x, float scale, int32_t zp, int8_t *y);
#endif
/* 1 when the current path (int8rt/cpu.h) runs NEON kernels */
int i8_use_neon(void);
#endif

#endif
