/* Float32 kernels for transformer / RNN graphs and the dynamic-quantization plan
 * (docs/TRANSFORMERS.md). Every kernel writes a contiguous output; inputs are addressed
 * through element strides, so broadcasting (stride 0), transposes and slices need no copy.
 *
 * Shapes are at most I8_F32_MAXDIM dimensions. All kernels are scalar C (baseline ISA, no FMA:
 * setup.py builds with -ffp-contract=off); the numpy references live in
 * int8rt/reference/f32.py. Float results equal the reference exactly where the operation
 * order is the same (elementwise, where, gather, copies, cast, the dynamic-quant integer part)
 * and within a tolerance where C's libm or summation order differs (docs/TRANSFORMERS.md). */
#ifndef INT8RT_F32_H
#define INT8RT_F32_H

#include <stddef.h>
#include <stdint.h>

#include "int8rt/kernels.h" /* i8_pool_params */

#define I8_F32_MAXDIM 8

enum {
    /* float arithmetic: the codes int8rt/opset.py declares as `f32_code`; a new one goes
     * before I8_F32_ARITH_END */
    I8_F32_ADD = 0, I8_F32_SUB, I8_F32_MUL, I8_F32_DIV, I8_F32_POW, I8_F32_MAX, I8_F32_MIN,
    I8_F32_PRELU, I8_F32_ARITH_END,
    /* comparisons and logic write uint8 0/1 (ONNX bool) */
    I8_F32_EQUAL = 16, I8_F32_LESS, I8_F32_GREATER, I8_F32_LESS_EQUAL, I8_F32_GREATER_EQUAL,
    I8_F32_AND = 32, I8_F32_OR, I8_F32_XOR,
};

enum {
    I8_F32_RELU = 0, I8_F32_SIGMOID, I8_F32_TANH, I8_F32_ERF, I8_F32_SQRT, I8_F32_GELU_ERF, I8_F32_GELU_TANH,
    I8_F32_EXP, I8_F32_NEG, I8_F32_CLIP, I8_F32_RECIPROCAL, I8_F32_ABS, I8_F32_NOT, I8_F32_LOG,
    /* activations of the static plan's float fallback (alpha / beta: their attributes) */
    I8_F32_HARD_SIGMOID, I8_F32_HARD_SWISH, I8_F32_LEAKY_RELU, I8_F32_SILU,
    /* hard_swish(x) * alpha + beta: HardSwish -> Mul by a scalar -> Add of a scalar fused into
     * one pass (lower.py _fuse_f32_affine), each operation rounded once as the three records */
    I8_F32_HARD_SWISH_AFFINE,
};

/* element types of the typed kernels (cast, binary on non-float inputs) */
enum { I8_F32_T_F32 = 0, I8_F32_T_I64 = 1, I8_F32_T_U8 = 2, I8_F32_T_I32 = 3, I8_F32_T_I8 = 4 };

typedef struct {
    int32_t ndim;
    int64_t shape[I8_F32_MAXDIM];
} i8_f32_shape;

/* y[idx] = a[idx . sa] op b[idx . sb]; a, b of type `t` (f32 ops: t = f32 only; comparisons:
 * f32 or i64; logic: u8). y is f32 for arithmetic, u8 for comparison and logic. */
int i8_f32_binary_run(int32_t op, int32_t t, const i8_f32_shape *s, const void *a,
                       const int64_t *sa, const void *b, const int64_t *sb, void *y);
/* y = op(x) over n elements (f32, except NOT: u8); alpha/beta: clip bounds. */
int i8_f32_unary_run(int32_t op, int64_t n, const void *x, void *y, float alpha, float beta);
/* rows of `cols`: y = (x - mean) / sqrt(var + eps) * gamma + beta (gamma/beta may be NULL) */
void i8_f32_layernorm_run(int64_t rows, int64_t cols, const float *x, const float *gamma,
                           const float *beta, float eps, float *y);
/* MaxPool, NCHW float32: x [n, c, h, w] -> y [n, c, oh, ow] with the int8 maxpool's geometry
 * (kernels.h i8_pool_params; its zero points and clamp unused); taps outside x are skipped,
 * an empty window gives -inf, NaN propagates (kernels/f32/pool.c). */
void i8_f32_maxpool_run(const i8_pool_params *p, const float *x, float *y);
/* rows of `cols`: y = exp(x - max) / sum exp(x - max) */
void i8_f32_softmax_run(int64_t rows, int64_t cols, const float *x, float *y);
/* x [outer, r, inner] -> y [outer, inner]; op 0 sum, 1 mean, 2 max */
void i8_f32_reduce_run(int32_t op, int64_t outer, int64_t r, int64_t inner, const float *x,
                        float *y);
/* batched y[b] = a[b] (m x k) . w[b] (k x n); batch index decomposed over `bs` with batch
 * strides sa / sb (elements, 0 broadcasts); a and w rows are contiguous with row strides
 * lda / ldb. */
void i8_f32_matmul_run(const i8_f32_shape *bs, const int64_t *sa, const int64_t *sb, int64_t m,
                        int64_t k, int64_t n, const float *a, int64_t lda, const float *w,
                        int64_t ldb, float *y);
/* y[i, j] += sum_p a[i, p] * w[p, j] over p in order (no FMA): scalar or AVX2 by the
 * current path (int8rt/cpu.h), bit-identical either way. */
void i8_f32_gemm_acc(int64_t m, int64_t k, int64_t n, const float *a, int64_t lda,
                  const float *w, int64_t ldw, float *y, int64_t ldy);
/* y[o, j, i] = x[o, idx[j], i] (elements of elem_size bytes); negative indices wrap once;
 * returns -1 (nothing defined written) when an index is outside [-axis, axis). */
int i8_f32_gather_run(int64_t outer, int64_t axis, int64_t inner, int64_t elem_size,
                       const void *x, const int64_t *idx, int64_t nidx, void *y);
/* y[idx . sy + y_off] = x[idx . sx + x_off] over shape s, elements of elem_size bytes:
 * transpose, expand, slice and the pieces of a concat / split. */
void i8_f32_strided_copy_run(const i8_f32_shape *s, int64_t elem_size, const void *x,
                              int64_t x_off, const int64_t *sx, void *y, int64_t y_off,
                              const int64_t *sy);
/* y = cast(x) over n elements; float -> integer truncates toward zero (ONNX Cast), any
 * non-zero value -> 1 for u8 (bool). */
void i8_f32_cast_run(int64_t n, int32_t from, const void *x, int32_t to, void *y);
/* y[idx] = c[idx . sc] ? a[idx . sa] : b[idx . sb], elements of elem_size bytes */
void i8_f32_where_run(const i8_f32_shape *s, int64_t elem_size, const uint8_t *c,
                       const int64_t *sc, const void *a, const int64_t *sa, const void *b,
                       const int64_t *sb, void *y);

/* Layer norm of rows of x + res (res NULL: of x; the sum rounded to float32 first, as an Add
 * record would), AVX2 when the path has it; scratch: cols floats (the scalar path's sum). */
void i8_f32_layernorm_res(int64_t rows, int64_t cols, const float *x, const float *res,
                       const float *gamma, const float *beta, float eps, float *y,
                       float *scratch);

/* Fused attention (kernels/f32/attention.c): for each (batch b, head h) in [bh0, bh1) of
 * batch * heads, y[b, h] = softmax((q[b, h] . kt[b, h]) * scale + mask[b, h]) . v[b, h] with
 * q [batch, heads, lq, dh], kt [batch, heads, dh, lk] (K transposed), v [batch, heads, lk,
 * dh] and y [batch, heads, lq, dh], each read / written through element strides over its
 * four axes (so the heads of a [batch, len, heads, dh] projection are read in place and y
 * can land in [batch, lq, heads, dh] order): q, v and y need stride 1 along dh; kt stride 1
 * along lk, or along dh (then each head's K is packed to [dh][lk] in scratch). The additive
 * float mask (optional) is read through mask_stride likewise (0: broadcast). `divide`:
 * s / scale instead of s * scale. Scores exist only for I8_F32_ATT_ROWS query rows at a time
 * (scratch: i8_f32_attention_scratch_size bytes). */
#define I8_F32_ATT_ROWS 8
typedef struct {
    int64_t batch, heads, lq, lk, dh;
    float scale;
    int32_t divide, has_mask;
    int64_t mask_stride[4];
    int64_t q_stride[4], k_stride[4], v_stride[4], y_stride[4];
} i8_f32_attention_params;
size_t i8_f32_attention_scratch_size(const i8_f32_attention_params *p);
void i8_f32_attention(const i8_f32_attention_params *p, int64_t bh0, int64_t bh1, const float *q,
                   const float *kt, const float *v, const float *mask, float *y,
                   float *scratch);

#endif
