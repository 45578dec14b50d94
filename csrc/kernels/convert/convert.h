/* Internal: per-path kernels of the model-boundary conversions (convert.c dispatches).
 *
 * Element rule (kernels.h, docs/QUANTIZATION.md §6), identical on every path:
 *   quantize    q = clamp(rint(x / scale) + zp): a true float32 division (vdivps is the IEEE
 *               division, so SIMD gives the bits of the scalar '/'), NaN -> zp, clamp in float
 *               before the conversion, round half to even (lrintf / vcvtps2dq in the default
 *               MXCSR mode);
 *   dequantize  x = float32(q - zp) * scale (the difference is exact, one rounding).
 * The layout-changing forms move between the user's NCHW and the plan's NHWC in the same pass:
 * tensor [b, c, hw] (NCHW, hw = h * w) <-> [b, hw, c] (NHWC), and compute the output pixels
 * [p0, p1) of the b * hw pixels (pixel p = image p / hw, position p % hw), so threads can split
 * by pixels; x and y are the whole tensors. */
#ifndef INT8RT_CONVERT_H
#define INT8RT_CONVERT_H

#include <stdint.h>

/* One block of nr <= 16 pixels of one image (xs: channel 0 of the first pixel of the block in
 * the NCHW tensor, plane stride hw; ys: the block's first NHWC pixel). */
typedef void (*i8_quant_block_fn)(int64_t c, int64_t hw, int64_t nr, const float *xs,
                                  float scale, int32_t zp, int8_t *ys);

void i8_quantize_f32__scalar(int64_t n, const float *x, float scale, int32_t zp, int8_t *y);
void i8_quant_nchw_block__scalar(int64_t c, int64_t hw, int64_t nr, const float *xs,
                                 float scale, int32_t zp, int8_t *ys);
#if defined(__aarch64__)
void i8_quant_nchw_block__neon(int64_t c, int64_t hw, int64_t nr, const float *xs, float scale,
                               int32_t zp, int8_t *ys);
#endif
#if defined(__x86_64__) || defined(__i386__)
void i8_quantize_f32__avx2(int64_t n, const float *x, float scale, int32_t zp, int8_t *y);
void i8_quantize_f32__avx512(int64_t n, const float *x, float scale, int32_t zp, int8_t *y);
void i8_quant_nchw_block__avx2(int64_t c, int64_t hw, int64_t nr, const float *xs, float scale,
                               int32_t zp, int8_t *ys);
void i8_quant_nchw_block__avx512(int64_t c, int64_t hw, int64_t nr, const float *xs,
                                 float scale, int32_t zp, int8_t *ys);
void i8_dequantize_f32__avx512(int64_t n, const int8_t *x, float scale, int32_t zp, float *y);
/* nblk whole 16-pixel blocks of a 3-channel image, as nblk calls of the block function */
void i8_quant_nchw3_blocks__avx2(int64_t hw, int64_t nblk, const float *xs, float scale,
                                 int32_t zp, int8_t *ys);
void i8_dequantize_f32__avx2(int64_t n, const int8_t *x, float scale, int32_t zp, float *y);
#endif

#endif
