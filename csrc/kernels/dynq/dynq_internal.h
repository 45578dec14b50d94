/* Pieces of the dynamic int8 matmul shared by dynq.c and its ISA files. */
#ifndef INT8RT_DYNQ_INTERNAL_H
#define INT8RT_DYNQ_INTERNAL_H

#include <stdint.h>

#include "int8rt/dynq.h"

/* the prepared activation element a gemm kernel set reads (kernels/gemm/gemm.h) */
enum { I8_DQ_PREP_U8 = 1 /* K4N16: q ^ 0x80 */, I8_DQ_PREP_I16 = 2 /* K2N16: int16 q */ };

/* W4A8 row kernels (w4a8_x86.c, w4a8_emu.c over w4a8_tile.h): rows of u8 activations
 * (q + 128, row stride k), their scales sa, the i8_w4_pack blocks -> y [rows, n] */
#define I8_W4_ROWS_ARGS                                                                       \
    int64_t rows, int64_t n, int64_t k, int64_t group, const uint8_t *a, const float *sa,    \
        const void *packed, const float *bias, float *y
/* the x86 kernels' structure over portable primitives (every host) */
void i8_w4_rows__avx512vnni_emu(I8_W4_ROWS_ARGS);
void i8_w4_rows__avxvnni_emu(I8_W4_ROWS_ARGS);
void i8_w4_rows__avx2_emu(I8_W4_ROWS_ARGS);

#if defined(__x86_64__) || defined(__i386__)
/* rows of a (row stride lda floats) -> prepared rows of kc elements (zero beyond k) in dst,
 * their scales in s; returns rows */
int64_t i8_dq_prepare_rows__avx2(int32_t fmt, int64_t rows, int64_t k, const float *a,
                                int64_t lda, int64_t kc, void *dst, float *s);
void i8_dq_scale_rows__avx2(int64_t rows, int64_t n, const float *s, const float *bias,
                           float *y, int64_t ldy);
/* the same on 16 lanes, same bytes / bits (quant_avx512.c; the avx512vnni path) */
int64_t i8_dq_prepare_rows_u8__avx512(int64_t rows, int64_t k, const float *a, int64_t lda,
                                     int64_t kc, void *dst, float *s);
void i8_dq_scale_rows__avx512(int64_t rows, int64_t n, const float *s, const float *bias,
                             float *y, int64_t ldy);
void i8_w4_rows__avx512vnni(I8_W4_ROWS_ARGS);
void i8_w4_rows__avxvnni(I8_W4_ROWS_ARGS);
void i8_w4_rows__avxvnni_evex(I8_W4_ROWS_ARGS);
void i8_w4_rows__avx2(I8_W4_ROWS_ARGS);
#endif

#endif
