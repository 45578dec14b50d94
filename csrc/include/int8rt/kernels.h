/* int8rt kernel API: the only functions the plan executor and the Cython binding call.
 *
 * Every kernel obeys docs/QUANTIZATION.md. In short:
 *   real = scale * (q - zero_point); activations int8 NHWC, per-tensor asymmetric;
 *   weights int8 symmetric (zero point 0), per output channel; bias int32 with scale s_x*s_w;
 *   int32 accumulation; ONE requantization rule (i8_requantize below).
 *
 * Kernels take raw pointers, element counts and a small params struct. They never allocate,
 * never detect the CPU and never derive a scale: every multiplier, table and index map is
 * computed once in Python (int8rt/lower.py) and passed in, so the numpy reference
 * (int8rt/reference/) and every native path see the same float32 constants.
 *
 * Kernels with weights have a pack step run once at plan build: `*_packed_size` + `*_pack`
 * turn natural-layout weights into whatever the selected implementation wants (bias with the
 * zero-point correction folded in, multipliers, reordered weights). `*_scratch_size` is the
 * per-run scratch the kernel may use (im2col rows, ...); the plan carves it from its arena.
 */
#ifndef INT8RT_KERNELS_H
#define INT8RT_KERNELS_H

#include <math.h>
#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#define I8_MAX_DIMS 6

/* ---- the requantization rule (docs/QUANTIZATION.md §4) ------------------------------------
 * q = clamp(rint(float32(acc) * mult) + zp, qmin, qmax), rint = round half to even.
 * Clamping before rounding gives the same result (rint is monotonic and the bounds are
 * integers) and keeps the float->int conversion in range. Needs the default FP environment
 * (round-to-nearest) and no FMA contraction: the build passes -ffp-contract=off. lrintf rounds
 * in the current mode (half to even by default) like nearbyintf, but compiles to one
 * cvtss2si/fcvtns instead of a libm call: 1.7-3.5x faster convolutions (docs/KERNELS.md). */
static inline int8_t i8_requantize(int32_t acc, float mult, int32_t zp, int32_t qmin, int32_t qmax) {
    float v = (float)acc * mult;
    const float lo = (float)(qmin - zp), hi = (float)(qmax - zp);
    v = v < lo ? lo : (v > hi ? hi : v);
    return (int8_t)((int32_t)lrintf(v) + zp);
}

/* ---- fused epilogue post-ops of conv2d and fc (docs/KERNELS.md "Fused epilogues") ----------
 * After its own requantization to int8 q, a conv / fc may apply, in this order:
 *   lut = 1: q = table[q + 128] (256 int8 entries: the activation that consumed the conv's
 *            output: SiLU, hardswish, sigmoid, ...), then
 *   add = 1: y = i8_requantize((q - a_zp) * a_mult + (r - b_zp) * b_mult, mult, y_zp, qmin,
 *            qmax), r the residual tensor's element at the same position (the residual has
 *            y's shape; a = the conv's value, b = the residual, whichever order the Add had)
 * which is bit for bit the unfused program: the conv, then the lut kernel, then the add kernel
 * (the same integer / float32 operations per element). All zero: no post-op. Never with
 * out_f32. The table and residual pointers are arguments of the *_post run functions. */
typedef struct {
    int32_t lut, add;
    int32_t a_zp, b_zp, a_mult, b_mult; /* add: the Add's parameters (|mult| <= 2^22) */
    float mult;
    int32_t y_zp, qmin, qmax;
} i8_post_params;

/* ---- conv2d: NHWC input, any groups, stride, dilation, asymmetric pads ---------------------
 * x: [n, h, w, c] int8; weights (natural layout, unpacked): [oc, kh, kw, c / groups] int8;
 * bias: [oc] int32 (scale s_x * s_w[oc]); mult: [oc] float32 = s_x * s_w[oc] / s_y;
 * y: [n, oh, ow, oc] int8. Padding reads as x_zp (a real zero). Depthwise (groups == c == oc),
 * 1x1 and general convolutions are all this one operator; the pack step picks the algorithm.
 *
 * Float32 epilogue (out_f32 = 1; also in i8_fc_params): a conv / fc followed only by a
 * Dequantize writes float32 y = float32(acc) * mult[c] instead, acc the same int32
 * accumulator (zero-point corrected bias included) and mult[c] = float32(s_x * s_w[c])
 * (computed in float64, one rounding). One IEEE multiply, no zero point, no clamp: y is then
 * a float32 buffer of the same shape (docs/QUANTIZATION.md §4). */
typedef struct {
    int32_t n, h, w, c;
    int32_t oh, ow, oc;
    int32_t kh, kw;
    int32_t stride_h, stride_w;
    int32_t dil_h, dil_w;
    int32_t pad_t, pad_l, pad_b, pad_r;
    int32_t groups;
    int32_t x_zp, y_zp;
    int32_t qmin, qmax; /* fused activation clamp, in the quantized domain */
    int32_t out_f32;    /* 1: float32 epilogue (below); y_zp, qmin, qmax are then ignored */
    i8_post_params post; /* fused activation table / residual add (above) */
} i8_conv2d_params;

/* Packed sizes follow the algorithm the pack step picks, which depends on the current path
 * and (Winograd's bound) on the weights: i8_conv2d_packed_size is enough for any weights
 * under the current path, i8_conv2d_packed_size_w exactly what i8_conv2d_pack writes for w.
 * A stream runs under every path; i8_conv2d_stream_bytes is the size a stream needs,
 * read from its header: -1 when nbytes cannot hold the header or the header is not one the
 * pack step writes for p (on any path). */
size_t i8_conv2d_packed_size(const i8_conv2d_params *p);
size_t i8_conv2d_packed_size_w(const i8_conv2d_params *p, const int8_t *w);
int64_t i8_conv2d_stream_bytes(const i8_conv2d_params *p, const void *packed, size_t nbytes);
void i8_conv2d_pack(const i8_conv2d_params *p, const int8_t *w, const int32_t *bias,
                    const float *mult, void *packed);
/* The same into `nbytes` of packed: the current path's algorithm if its stream fits, else the
 * shape's im2col / 1x1 / depthwise one; returns the stream bytes written (0: neither fits,
 * nothing written). For callers whose size query may have seen another path. */
size_t i8_conv2d_pack_n(const i8_conv2d_params *p, const int8_t *w, const int32_t *bias,
                        const float *mult, void *packed, size_t nbytes);
/* Scratch to run any stream packed for p (any path); _stream_scratch_size: to run this
 * stream (one i8_conv2d_stream_bytes accepted). */
size_t i8_conv2d_scratch_size(const i8_conv2d_params *p);
size_t i8_conv2d_stream_scratch_size(const i8_conv2d_params *p, const void *packed);
/* y: int8, or float32 when p->out_f32 */
void i8_conv2d_run(const i8_conv2d_params *p, const void *packed, const int8_t *x, void *y,
                   void *scratch);

/* ---- fully connected: y[m, n] = requant(sum_k (x[m, k] - x_zp) * w[n, k] + bias[n]) --------
 * out_f32 = 1: y[m, n] float32 = float32(acc) * mult[n], as for conv2d above. */
typedef struct {
    int32_t m, k, n;
    int32_t x_zp, y_zp;
    int32_t qmin, qmax;
    int32_t out_f32; /* 1: float32 epilogue; y_zp, qmin, qmax are then ignored */
    i8_post_params post; /* fused activation table / residual add (above) */
} i8_fc_params;

size_t i8_fc_packed_size(const i8_fc_params *p);
void i8_fc_pack(const i8_fc_params *p, const int8_t *w, const int32_t *bias, const float *mult,
                void *packed);
size_t i8_fc_scratch_size(const i8_fc_params *p);
/* y: int8, or float32 when p->out_f32 */
void i8_fc_run(const i8_fc_params *p, const void *packed, const int8_t *x, void *y,
               void *scratch);

/* ---- work split for threads (conv2d, fc) ----------------------------------------------------
 * A run is `*_tasks(p)` (>= 1) independent pieces of the output; `*_run_tasks` computes pieces
 * [t0, t1) only, with `scratch` of `*_scratch_size` bytes owned by this caller. All pieces, in
 * any order and split among any number of threads, write exactly what one `*_run` writes. The
 * plan's thread pool hands out contiguous task ranges; a kernel sizes its pieces so that one is
 * a useful unit of work (tiles of output pixels x channel blocks, rows of a depthwise output). */
size_t i8_conv2d_tasks(const i8_conv2d_params *p);
void i8_conv2d_run_tasks(const i8_conv2d_params *p, const void *packed, const int8_t *x, void *y,
                         void *scratch, size_t t0, size_t t1);
size_t i8_fc_tasks(const i8_fc_params *p);
void i8_fc_run_tasks(const i8_fc_params *p, const void *packed, const int8_t *x, void *y,
                     void *scratch, size_t t0, size_t t1);
/* The same with the fused post-ops of p->post: `table` (256 int8) when post.lut, `res` (y's
 * shape, int8, not overlapping y) when post.add; the functions above pass NULL for both, which
 * runs no post-op. */
void i8_conv2d_run_post(const i8_conv2d_params *p, const void *packed, const int8_t *x, void *y,
                        void *scratch, const int8_t *table, const int8_t *res);
void i8_fc_run_post(const i8_fc_params *p, const void *packed, const int8_t *x, void *y,
                    void *scratch, const int8_t *table, const int8_t *res);
void i8_conv2d_run_tasks_post(const i8_conv2d_params *p, const void *packed, const int8_t *x,
                              void *y, void *scratch, size_t t0, size_t t1, const int8_t *table,
                              const int8_t *res);
void i8_fc_run_tasks_post(const i8_fc_params *p, const void *packed, const int8_t *x, void *y,
                          void *scratch, size_t t0, size_t t1, const int8_t *table,
                          const int8_t *res);

/* ---- binary elementwise with broadcasting ---------------------------------------------------
 * y has `shape` (contiguous, row-major); a and b are read at index . a_stride / b_stride
 * (element strides; 0 on a broadcast axis). Python collapses shapes to at most I8_MAX_DIMS.
 *   add: acc = (a - a_zp) * a_mult + (b - b_zp) * b_mult  (int32; Sub uses a negative b_mult)
 *   mul: acc = (a - a_zp) * (b - b_zp)
 *   y = i8_requantize(acc, mult, y_zp, qmin, qmax)
 * For add, Python picks a_mult, b_mult (|.| <= 2^22, so |acc| < 2^31) and mult = 2^-shift. */
typedef struct {
    int32_t ndim;
    int64_t shape[I8_MAX_DIMS];
    int64_t a_stride[I8_MAX_DIMS];
    int64_t b_stride[I8_MAX_DIMS];
    int32_t a_zp, b_zp, y_zp;
    int32_t a_mult, b_mult; /* add only */
    float mult;
    int32_t qmin, qmax;
} i8_binary_params;

void i8_add_run(const i8_binary_params *p, const int8_t *a, const int8_t *b, int8_t *y);
void i8_mul_run(const i8_binary_params *p, const int8_t *a, const int8_t *b, int8_t *y);

/* ---- requantizing strided copy: concat inputs, parameter changes ----------------------------
 * for r < rows, i < cols: y[r * y_stride + i] = i8_requantize(x[r * x_stride + i] - x_zp,
 * mult, y_zp, -128, 127). Concat along any axis is one call per input into its column range. */
typedef struct {
    int64_t rows, cols;
    int64_t x_stride, y_stride;
    int32_t x_zp, y_zp;
    float mult;
} i8_requant_copy_params;

void i8_requant_copy_run(const i8_requant_copy_params *p, const int8_t *x, int8_t *y);

/* ---- pooling, NHWC --------------------------------------------------------------------------
 * Windows start at (oy * stride_h - pad_t, ox * stride_w - pad_l); taps outside the input are
 * skipped. max: output params equal input params (max commutes with the affine map), no
 * requantization. avg: acc = sum of (x - x_zp) over in-bounds taps; the divisor is the in-bounds
 * tap count, or kh * kw when count_include_pad (padding is a real zero, contributing 0);
 * y = i8_requantize(acc, mult_by_count[divisor], y_zp, qmin, qmax), mult_by_count has
 * kh * kw + 1 entries, mult_by_count[d] = s_x / (s_y * d). */
typedef struct {
    int32_t n, h, w, c;
    int32_t oh, ow;
    int32_t kh, kw;
    int32_t stride_h, stride_w;
    int32_t dil_h, dil_w;
    int32_t pad_t, pad_l;
    int32_t count_include_pad;
    int32_t x_zp, y_zp;
    int32_t qmin, qmax;
} i8_pool_params;

void i8_maxpool_run(const i8_pool_params *p, const int8_t *x, int8_t *y);
void i8_avgpool_run(const i8_pool_params *p, const float *mult_by_count, const int8_t *x,
                    int8_t *y);
/* x: [n, hw, c] -> y: [n, c]; acc = sum over hw of (x - x_zp); y = requant(acc, mult, ...). */
void i8_global_avgpool_run(int32_t n, int32_t hw, int32_t c, int32_t x_zp, int32_t y_zp,
                           float mult, int32_t qmin, int32_t qmax, const int8_t *x, int8_t *y);

/* ---- table lookup: any elementwise unary function on int8 ---------------------------------
 * y[i] = table[x[i] + 128]; Python builds the 256 entries from the float function and both
 * tensors' quantization parameters (relu, clip, sigmoid, tanh, hardswish, silu, gelu, ...). */
void i8_lut_run(int64_t n, const int8_t *table, const int8_t *x, int8_t *y);

/* ---- resize, NHWC ---------------------------------------------------------------------------
 * nearest: y[b, oy, ox, :] = x[b, iy[oy], ix[ox], :]; index maps computed in Python from the
 *   ONNX coordinate transformation and nearest mode. Works on any element size.
 * bilinear: per output row oy: y0[oy], y1[oy], fy[oy] in [0, 2048] (Q11 weight of y1); likewise
 *   x. acc = sum of (2048 - fy | fy) * (2048 - fx | fx) * (x - x_zp)  (|acc| <= 2^22 * 255),
 *   y = i8_requantize(acc, mult, y_zp, -128, 127), mult = s_x / (s_y * 2^22). */
void i8_resize_nearest_run(int32_t n, int32_t h, int32_t w, int32_t c, int32_t oh, int32_t ow,
                          const int32_t *iy, const int32_t *ix, size_t elem_size, const void *x,
                          void *y);
typedef struct {
    int32_t n, h, w, c;
    int32_t oh, ow;
    int32_t x_zp, y_zp;
    float mult;
} i8_resize_bilinear_params;

void i8_resize_bilinear_run(const i8_resize_bilinear_params *p, const int32_t *y0,
                            const int32_t *y1, const int32_t *fy, const int32_t *x0,
                            const int32_t *x1, const int32_t *fx, const int8_t *x, int8_t *y);

/* ---- softmax over the innermost axis -------------------------------------------------------
 * x: [rows, cols]. For each row: m = max; e(i) = exp_table[m - x(i)] (int32, Q20 values of
 * exp(-s_x * d) built in Python); sum = int64 sum of e; v = ((float)e / (float)sum) * inv_y_scale
 * (two float32 roundings, in that order); y = clamp(rint(v) + y_zp, -128, 127). */
void i8_softmax_run(int64_t rows, int64_t cols, const int32_t *exp_table, float inv_y_scale,
                    int32_t y_zp, const int8_t *x, int8_t *y);

/* ---- model boundary ------------------------------------------------------------------------
 * quantize:   y = clamp(rint(x / scale) + zp, -128, 127) (ONNX QuantizeLinear divides);
 *             NaN -> zp, +Inf -> 127, -Inf -> -128.
 * dequantize: y = (float)(x - zp) * scale. */
void i8_quantize_f32_run(int64_t n, const float *x, float scale, int32_t zp, int8_t *y);
void i8_dequantize_f32_run(int64_t n, const int8_t *x, float scale, int32_t zp, float *y);
/* The same with the layout move fused in: quantize reads NCHW x [b, c, hw] and writes NHWC
 * y [b, hw, c]; dequantize reads NHWC x [b, hw, c] and writes NCHW y [b, c, hw]. Both compute
 * the output pixels [p0, p1) of the b * hw pixels (threads split by pixels); x and y are the
 * whole tensors. */
void i8_quantize_f32_nchw_run(int64_t c, int64_t hw, int64_t p0, int64_t p1, const float *x,
                              float scale, int32_t zp, int8_t *y);
void i8_dequantize_f32_nchw_run(int64_t c, int64_t hw, int64_t p0, int64_t p1, const int8_t *x,
                                float scale, int32_t zp, float *y);

/* ---- data movement: any element size (int8 activations, float32 at the model boundary) ---- */
/* y = transpose(x, perm); x has `shape`. */
void i8_transpose_run(int32_t ndim, const int64_t *shape, const int32_t *perm, size_t elem_size,
                     const void *x, void *y);
/* y[i] = x[start + i * step] per axis (step may be negative); y has out_shape. */
void i8_slice_run(int32_t ndim, const int64_t *in_shape, const int64_t *start, const int64_t *step,
                 const int64_t *out_shape, size_t elem_size, const void *x, void *y);
/* mode 0 constant (value points at one element), 1 reflect, 2 edge. Negative pads crop. */
void i8_pad_run(int32_t ndim, const int64_t *in_shape, const int64_t *pad_before,
               const int64_t *pad_after, int32_t mode, size_t elem_size, const void *value,
               const void *x, void *y);

#ifdef __cplusplus
}
#endif
#endif
