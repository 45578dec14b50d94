/* Float32 kernels for transformer / RNN graphs and the dynamic-quantization plan
 * (docs/TRANSFORMERS.md). Every kernel writes a contiguous output; inputs are addressed
 * through element strides, so broadcasting (stride 0), transposes and slices need no copy.
 *
 * Shapes are at most I8F_MAXDIM dimensions. All kernels are scalar C (baseline ISA, no FMA:
 * setup.py builds with -ffp-contract=off); the numpy references live in
 * int8rt/reference/f32.py. Float results equal the reference exactly where the operation
 * order is the same (elementwise, where, gather, copies, cast, the dynamic-quant integer part)
 * and within a tolerance where C's libm or summation order differs (docs/TRANSFORMERS.md). */
#ifndef INT8RT_F32_H
#define INT8RT_F32_H

#include <stddef.h>
#include <stdint.h>

#define I8F_MAXDIM 8

enum {
    I8F_ADD = 0, I8F_SUB, I8F_MUL, I8F_DIV, I8F_POW, I8F_MAX, I8F_MIN,
    /* comparisons and logic write uint8 0/1 (ONNX bool) */
    I8F_EQUAL = 16, I8F_LESS, I8F_GREATER, I8F_LESS_EQUAL, I8F_GREATER_EQUAL,
    I8F_AND = 32, I8F_OR, I8F_XOR,
};

enum {
    I8F_RELU = 0, I8F_SIGMOID, I8F_TANH, I8F_ERF, I8F_SQRT, I8F_GELU_ERF, I8F_GELU_TANH,
    I8F_EXP, I8F_NEG, I8F_CLIP, I8F_RECIPROCAL, I8F_ABS, I8F_NOT, I8F_LOG,
    /* activations of the static plan's float fallback (alpha / beta: their attributes) */
    I8F_HARD_SIGMOID, I8F_HARD_SWISH, I8F_LEAKY_RELU, I8F_SILU,
};

/* element types of the typed kernels (cast, binary on non-float inputs) */
enum { I8F_T_F32 = 0, I8F_T_I64 = 1, I8F_T_U8 = 2, I8F_T_I32 = 3, I8F_T_I8 = 4 };

typedef struct {
    int32_t ndim;
    int64_t shape[I8F_MAXDIM];
} i8f_shape;

/* y[idx] = a[idx . sa] op b[idx . sb]; a, b of type `t` (f32 ops: t = f32 only; comparisons:
 * f32 or i64; logic: u8). y is f32 for arithmetic, u8 for comparison and logic. */
int i8f_binary__scalar(int32_t op, int32_t t, const i8f_shape *s, const void *a,
                       const int64_t *sa, const void *b, const int64_t *sb, void *y);
/* y = op(x) over n elements (f32, except NOT: u8); alpha/beta: clip bounds. */
int i8f_unary__scalar(int32_t op, int64_t n, const void *x, void *y, float alpha, float beta);
/* rows of `cols`: y = (x - mean) / sqrt(var + eps) * gamma + beta (gamma/beta may be NULL) */
void i8f_layernorm__scalar(int64_t rows, int64_t cols, const float *x, const float *gamma,
                           const float *beta, float eps, float *y);
/* rows of `cols`: y = exp(x - max) / sum exp(x - max) */
void i8f_softmax__scalar(int64_t rows, int64_t cols, const float *x, float *y);
/* x [outer, r, inner] -> y [outer, inner]; op 0 sum, 1 mean, 2 max */
void i8f_reduce__scalar(int32_t op, int64_t outer, int64_t r, int64_t inner, const float *x,
                        float *y);
/* batched y[b] = a[b] (m x k) . w[b] (k x n); batch index decomposed over `bs` with batch
 * strides sa / sb (elements, 0 broadcasts); a and w rows are contiguous with row strides
 * lda / ldb. */
void i8f_matmul__scalar(const i8f_shape *bs, const int64_t *sa, const int64_t *sb, int64_t m,
                        int64_t k, int64_t n, const float *a, int64_t lda, const float *w,
                        int64_t ldb, float *y);
/* y[i, j] += sum_p a[i, p] * w[p, j] over p in order (no FMA): scalar or AVX2 by the
 * current path (int8rt/cpu.h), bit-identical either way. */
void i8f_gemm_acc(int64_t m, int64_t k, int64_t n, const float *a, int64_t lda,
                  const float *w, int64_t ldw, float *y, int64_t ldy);
/* y[o, j, i] = x[o, idx[j], i] (elements of elem_size bytes); negative indices wrap once;
 * returns -1 (nothing defined written) when an index is outside [-axis, axis). */
int i8f_gather__scalar(int64_t outer, int64_t axis, int64_t inner, int64_t elem_size,
                       const void *x, const int64_t *idx, int64_t nidx, void *y);
/* y[idx . sy + y_off] = x[idx . sx + x_off] over shape s, elements of elem_size bytes:
 * transpose, expand, slice and the pieces of a concat / split. */
void i8f_strided_copy__scalar(const i8f_shape *s, int64_t elem_size, const void *x,
                              int64_t x_off, const int64_t *sx, void *y, int64_t y_off,
                              const int64_t *sy);
/* y = cast(x) over n elements; float -> integer truncates toward zero (ONNX Cast), any
 * non-zero value -> 1 for u8 (bool). */
void i8f_cast__scalar(int64_t n, int32_t from, const void *x, int32_t to, void *y);
/* y[idx] = c[idx . sc] ? a[idx . sa] : b[idx . sb], elements of elem_size bytes */
void i8f_where__scalar(const i8f_shape *s, int64_t elem_size, const uint8_t *c,
                       const int64_t *sc, const void *a, const int64_t *sa, const void *b,
                       const int64_t *sb, void *y);

#endif
