/* Internal: per-path softmax kernels (softmax.c dispatches); all give the same bytes. */
#ifndef INT8RT_SOFTMAX_H
#define INT8RT_SOFTMAX_H

#include <stdint.h>

#if defined(__x86_64__) || defined(__i386__)
void i8_softmax__avx512(int64_t rows, int64_t cols, const int32_t *exp_table, float inv_y_scale,
                        int32_t y_zp, const int8_t *x, int8_t *y);
#endif

#endif
