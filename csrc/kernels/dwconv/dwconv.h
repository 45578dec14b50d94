/* Depthwise convolution, NHWC (groups == c == oc): see docs/KERNELS.md, "dwconv".
 *
 * Packed stream (after the conv2d header), sections 64-byte aligned, cs = c rounded up to 16:
 *   bias [cs] int32, zero-point corrected (bias - x_zp * sum over taps of w, §3)
 *   mult [cs] float32
 *   w    [kh * kw][cs] int8 (tap-major so the inner loop runs over contiguous channels)
 * Scratch: acc [cs] int32 + a row of cs bytes holding x_zp, read in place of padding taps. */
#ifndef INT8RT_DWCONV_H
#define INT8RT_DWCONV_H

#include <stddef.h>
#include <stdint.h>

#include "int8rt/kernels.h"

size_t i8_dwconv_packed_size(const i8_conv2d_params *p);
/* w: natural layout [c, kh, kw, 1]; bias may be NULL (zero). */
void i8_dwconv_pack(const i8_conv2d_params *p, const int8_t *w, const int32_t *bias,
                    const float *mult, void *packed);
size_t i8_dwconv_scratch_size(const i8_conv2d_params *p);
/* Output rows [r0, r1) of the n * oh rows (row r = image r / oh, output row r % oh), written
 * at their place in y; nothing else of y is touched (the plan's threads split these rows).
 * y: int8, or float32 when p->out_f32 (kernels.h) */
void i8_dwconv__scalar(const i8_conv2d_params *p, const void *packed, const int8_t *x,
                       void *y, void *scratch, size_t r0, size_t r1);

#endif
