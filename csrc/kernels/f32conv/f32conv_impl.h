/* f32conv internals shared by the driver (f32conv.c) and the x86 kernels (x86.c). */
#ifndef INT8RT_F32CONV_IMPL_H
#define INT8RT_F32CONV_IMPL_H

#include <stddef.h>
#include <stdint.h>

#include "kernels/f32conv/f32conv.h"

/* Weights are packed in panels of F32_NR output channels: panel[k][F32_NR], zero columns past
 * the last channel. F32_MT output rows (pixels) make one task; it is a multiple of every
 * path's tile height (4, 6, 12), so a task is whole tiles but for the last one. */
#define F32_NR 16
#define F32_MT 48
#define F32_DW_MT 64

/* c[r][j] = clamp(sum_kk fma-chain a[r][kk] * b[kk][j] + bias[j], lo, hi) for r < mr,
 * j < nr (nr <= F32_NR, mr <= the kernel's tile height); reads bias[0 .. nr). */
typedef void (*f32_gemm_ukernel)(int32_t mr, int32_t nr, int64_t k, const float *a, size_t lda,
                                 const float *b, const float *bias, float *c, size_t ldc,
                                 float lo, float hi);

/* depthwise: output pixels [pix0, pix1) of p (groups == c == oc), weights [kh * kw][c] */
typedef void (*f32_dw_kernel)(const f32_conv2d_params *p, const float *w, const float *bias,
                              const float *x, float *y, int64_t pix0, int64_t pix1);

#if defined(__x86_64__) || defined(__i386__)
void f32_gemm_ukernel_6x16__avx2(int32_t mr, int32_t nr, int64_t k, const float *a, size_t lda,
                                 const float *b, const float *bias, float *c, size_t ldc,
                                 float lo, float hi);
void f32_gemm_ukernel_12x16__avx512(int32_t mr, int32_t nr, int64_t k, const float *a,
                                    size_t lda, const float *b, const float *bias, float *c,
                                    size_t ldc, float lo, float hi);
void f32_dwconv__avx2(const f32_conv2d_params *p, const float *w, const float *bias,
                      const float *x, float *y, int64_t pix0, int64_t pix1);
void f32_dwconv__avx512(const f32_conv2d_params *p, const float *w, const float *bias,
                        const float *x, float *y, int64_t pix0, int64_t pix1);
#endif

#endif
