/* 2-D convolution (ONNX Conv, NCHW, group 1) with int8 weights and int8 activations whose
 * scale is either calibrated (static) or taken per image at run time (dynamic), for graphs in
 * ONNX layout (docs/TRANSFORMERS.md "Convolutions on the dynamic path"). One record per conv.
 *
 * Per image b:
 *   amax = p->amax when > 0 (static, calibrated), else max |x[b]| over C·H·W (dynamic);
 *   q = clamp(rint(x[b] * (127 / amax)), -127, 127), s_a = amax / 127 (amax = 0: q = 0,
 *   s_a = 1) -- the dynamic-int8 row rule of int8rt/dynq.h with one row = one image;
 *   cols [OH·OW, KH·KW·C] int8 = im2col(q), columns in (ky, kx, ci) order so that a tap is
 *   one copy of C bytes of the NHWC-quantized image (zero outside it: q of 0.0 is 0);
 *   acc = cols · Wᵀ (int32, exact), W [M, KH·KW·C] int8 per output channel (i8_dq_pack of
 *   ONNX's W [M, C, KH, KW] transposed to [M, KH, KW, C]: dqconv_weight_rows);
 *   y[b, j, p] = (float32(acc[p, j]) * s_w[j]) * s_a + bias[j] (float32, in that order).
 * Every tap is bounds-checked against the image, so any oh / ow reads only inside x. */
#ifndef INT8RT_DQCONV_H
#define INT8RT_DQCONV_H

#include <stddef.h>
#include <stdint.h>

typedef struct {
    int64_t n, c, h, w, m, kh, kw, oh, ow;
    int32_t stride_h, stride_w, dil_h, dil_w, pad_t, pad_l, has_bias;
    float amax; /* > 0: static activation range; 0: dynamic (per image) */
} i8_dqconv_params;

const char *i8_dqconv_check(const i8_dqconv_params *p);
size_t i8_dqconv_scratch_size(const i8_dqconv_params *p);
/* x [n, c, h, w] f32, packed = i8_dq_pack(m, kh*kw*c, W as [m, kh, kw, c]), bias [m] or NULL,
 * y [n, m, oh, ow] */
void i8_dqconv_run(const i8_dqconv_params *p, const float *x, const void *packed,
                  const float *bias, float *y, void *scratch);

#endif
