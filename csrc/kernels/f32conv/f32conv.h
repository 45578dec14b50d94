/* f32conv: float32 fallback kernels for ops kept in float by mixed precision (int8rt/quant/
 * mixed.py). A Conv / Gemm the int8 model cannot afford to quantize runs here, between a
 * Dequantize and a Quantize, inside the same native plan.
 *
 * The arithmetic is fixed so that the numpy reference (int8rt/reference/f32conv.py) equals it
 * bit for bit: every product is one IEEE float32 multiply, every sum one float32 add (the build
 * passes -ffp-contract=off, so no FMA), accumulated from 0.0f in tap order (ky, kx, ci) for
 * conv2d and k order for fc; then one add of the bias, then the clamp. Padding taps are skipped
 * (they would add a zero). The clamp is written with comparisons, so a NaN passes through in
 * both implementations alike.
 */
#ifndef INT8RT_F32CONV_H
#define INT8RT_F32CONV_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/* x [n, h, w, c] f32 NHWC; natural weights [oc, kh, kw, c / groups] f32; bias [oc] f32;
 * y [n, oh, ow, oc] f32 = clamp(sum + bias, lo, hi). lo / hi: the fused activation in real
 * units (lowering passes -FLT_MAX / FLT_MAX for none: the plan refuses non-finite params). */
typedef struct {
    int32_t n, h, w, c;
    int32_t oh, ow, oc;
    int32_t kh, kw;
    int32_t stride_h, stride_w;
    int32_t dil_h, dil_w;
    int32_t pad_t, pad_l, pad_b, pad_r;
    int32_t groups;
    float lo, hi;
} i8_f32_conv2d_params;

size_t i8_f32_conv2d_packed_size(const i8_f32_conv2d_params *p);
void i8_f32_conv2d_pack(const i8_f32_conv2d_params *p, const float *w, const float *bias, void *packed);
void i8_f32_conv2d_run(const i8_f32_conv2d_params *p, const void *packed, const float *x, float *y);

/* y[m, j] = clamp(sum_k x[m, k] * w[j, k] + bias[j], lo, hi); natural w [n, k]. */
typedef struct {
    int32_t m, k, n;
    float lo, hi;
} i8_f32_fc_params;

size_t i8_f32_fc_packed_size(const i8_f32_fc_params *p);
void i8_f32_fc_pack(const i8_f32_fc_params *p, const float *w, const float *bias, void *packed);
void i8_f32_fc_run(const i8_f32_fc_params *p, const void *packed, const float *x, float *y);

#ifdef __cplusplus
}
#endif
#endif
