/* f32conv: float32 fallback kernels for ops kept in float by mixed precision (int8rt/quant/
 * mixed.py, keep.py). A Conv / Gemm the int8 model cannot afford to quantize runs here, between
 * a Dequantize and a Quantize, inside the same native plan.
 *
 * Arithmetic contract (what makes every path equal the numpy reference int8rt/reference/
 * f32conv.py bit for bit, and the result independent of the ISA path, the tiling and the
 * thread count): each output element is
 *     acc = 0.0f; for each tap in order: acc = fmaf(x, w, acc);  y = clamp(acc + bias, lo, hi)
 * with one fused multiply-add (a single rounding, IEEE 754 fusedMultiplyAdd) per tap, taps in
 * (ky, kx, ci) order for conv2d and k order for fc, padding taps contributing 0 * w (a zero:
 * the sum is unchanged), then one float32 add of the bias and the clamp as two comparisons (a
 * NaN passes through). The SIMD paths keep one output element per vector lane, so they run the
 * same per-element sequence; the portable path calls C99 fmaf (correctly rounded in software
 * where the CPU has no FMA). The reference emulates fmaf exactly in float64 with rounding to
 * odd (docs/KERNELS.md "f32conv").
 *
 * Against the exact (float64) value the error is that of a float32 dot product of length
 * K + 1: |y - exact| <= gamma_{K+1} * (sum |x * w| + |bias|), gamma_n = n u / (1 - n u),
 * u = 2^-24 (Higham, Accuracy and Stability of Numerical Algorithms, 2nd ed., eq. 3.5); the
 * tests check this bound.
 *
 * Paths: AVX-512 F (zmm, 12x16 tiles), AVX2 + FMA (ymm, 6x16 tiles), portable C. Depthwise
 * convolutions run a channels-as-lanes kernel, everything else one GEMM over an im2col view
 * (a 1x1 / stride 1 / unpadded conv and fc read the input rows in place).
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
} f32_conv2d_params;

size_t f32_conv2d_packed_size(const f32_conv2d_params *p);
void f32_conv2d_pack(const f32_conv2d_params *p, const float *w, const float *bias, void *packed);
/* bytes of per-thread scratch a run needs (the im2col tile); 0 when none */
size_t f32_conv2d_scratch_size(const f32_conv2d_params *p);
/* tasks a run splits into (blocks of output pixels); any split of [0, tasks) over threads
 * gives the same bytes */
size_t f32_conv2d_tasks(const f32_conv2d_params *p);
/* scratch: f32_conv2d_scratch_size bytes, or NULL (then allocated here; returns -1 when that
 * fails, else 0) */
int f32_conv2d_run(const f32_conv2d_params *p, const void *packed, const float *x, float *y,
                   void *scratch);
void f32_conv2d_run_tasks(const f32_conv2d_params *p, const void *packed, const float *x,
                          float *y, void *scratch, size_t t0, size_t t1);

/* y[m, j] = clamp(sum_k x[m, k] * w[j, k] + bias[j], lo, hi); natural w [n, k]. */
typedef struct {
    int32_t m, k, n;
    float lo, hi;
} f32_fc_params;

size_t f32_fc_packed_size(const f32_fc_params *p);
void f32_fc_pack(const f32_fc_params *p, const float *w, const float *bias, void *packed);
size_t f32_fc_tasks(const f32_fc_params *p);
void f32_fc_run(const f32_fc_params *p, const void *packed, const float *x, float *y);
void f32_fc_run_tasks(const f32_fc_params *p, const void *packed, const float *x, float *y,
                      size_t t0, size_t t1);

/* the path f32conv runs on now: 0 portable C, 1 AVX2 + FMA, 2 AVX-512 F (for benchmarks) */
int32_t f32conv_path(void);

#ifdef __cplusplus
}
#endif
#endif
