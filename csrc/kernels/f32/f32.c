/* Float32 kernels of int8rt/f32.h. The N-d kernels walk the output in row-major order with an
 * index counter over all but the last axis and a plain strided loop over the last one, so a
 * broadcast operand (stride 0) or a transposed view costs no copy. */
#include <math.h>
#include <string.h>

#include "int8rt/cpu.h"
#include "int8rt/f32.h"

#if defined(__x86_64__) || defined(__i386__)
/* vmath_avx2.c: each returns how many leading elements it wrote */
int64_t i8_f32_gelu_erf__avx2(int64_t n, const float *x, float *y);
int64_t i8_f32_gelu_erf__avx512(int64_t n, const float *x, float *y); /* same bits, 16 lanes */
int64_t i8_f32_exp__avx2(int64_t n, const float *x, float *y);
int64_t i8_f32_piecewise__avx2(int32_t op, int64_t n, const float *x, float *y, float alpha,
                            float beta);
double i8_f32_exp_shift_sum__avx2(int64_t n, const float *x, float mx, float *y, int64_t *done);
#define I8_F32_HAVE_AVX2() (i8_isa_current() >= I8_ISA_AVX2)
#else
#define I8_F32_HAVE_AVX2() 0
#endif

/* Outer-index walk shared by the N-d kernels: calls BODY(offsets) once per row of the last
 * axis. `off[t]` is the element offset of operand t at the row start (variadic: the body may
 * hold commas). */
#define I8_F32_WALK(S, NOPS, STRIDES, ...)                                                     \
    do {                                                                                     \
        const int32_t nd_ = (S)->ndim;                                                       \
        int64_t cnt_[I8_F32_MAXDIM] = {0};                                                      \
        int64_t off[4] = {0, 0, 0, 0};                                                       \
        int64_t rows_ = 1;                                                                   \
        for (int32_t d_ = 0; d_ + 1 < nd_; d_++) rows_ *= (S)->shape[d_];                    \
        for (int64_t r_ = 0; r_ < rows_; r_++) {                                             \
            __VA_ARGS__;                                                                     \
            for (int32_t d_ = nd_ - 2; d_ >= 0; d_--) {                                      \
                cnt_[d_]++;                                                                  \
                for (int t_ = 0; t_ < (NOPS); t_++) off[t_] += (STRIDES)[t_][d_];            \
                if (cnt_[d_] < (S)->shape[d_]) break;                                        \
                for (int t_ = 0; t_ < (NOPS); t_++) off[t_] -= (STRIDES)[t_][d_] * cnt_[d_]; \
                cnt_[d_] = 0;                                                                \
            }                                                                                \
        }                                                                                    \
    } while (0)

static float f32_op(int32_t op, float a, float b) {
    switch (op) {
    case I8_F32_ADD: return a + b;
    case I8_F32_SUB: return a - b;
    case I8_F32_MUL: return a * b;
    case I8_F32_DIV: return a / b;
    case I8_F32_POW: return b == 2.0f ? a * a : powf(a, b);
    case I8_F32_MAX: return a > b || isnan(a) ? a : b;
    case I8_F32_MIN: return a < b || isnan(a) ? a : b;
    case I8_F32_PRELU: return a < 0.0f ? a * b : a; /* b: the slope; a NaN x passes */
    default: return 0.0f;
    }
}

#define CMP_CASES(A, B)                                                                      \
    case I8_F32_EQUAL: v = (A) == (B); break;                                                   \
    case I8_F32_LESS: v = (A) < (B); break;                                                     \
    case I8_F32_GREATER: v = (A) > (B); break;                                                  \
    case I8_F32_LESS_EQUAL: v = (A) <= (B); break;                                              \
    case I8_F32_GREATER_EQUAL: v = (A) >= (B); break;

int i8_f32_binary_run(int32_t op, int32_t t, const i8_f32_shape *s, const void *a,
                       const int64_t *sa, const void *b, const int64_t *sb, void *y) {
    if (s->ndim < 1 || s->ndim > I8_F32_MAXDIM) return -1;
    const int64_t ys = 1;
    int64_t sy[I8_F32_MAXDIM];
    {
        int64_t acc = 1;
        for (int32_t d = s->ndim - 1; d >= 0; d--) { sy[d] = acc; acc *= s->shape[d]; }
    }
    const int64_t *strides[3] = {sa, sb, sy};
    const int64_t n = s->shape[s->ndim - 1], la = sa[s->ndim - 1], lb = sb[s->ndim - 1];
    (void)ys;
    if (op < I8_F32_EQUAL) {
        if (t != I8_F32_T_F32) return -1;
        const float *af = a, *bf = b;
        float *yf = y;
        I8_F32_WALK(s, 3, strides, {
            const float *pa = af + off[0], *pb = bf + off[1];
            float *py = yf + off[2];
            /* contiguous or scalar-broadcast rows: loops without strides, which the compiler
             * vectorises (the same one operation per element, so the same bytes) */
            if (op <= I8_F32_MUL && ((la == 1 && (lb == 1 || lb == 0)) || (la == 0 && lb == 1))) {
                if (la == 0) {
                    const float av = pa[0];
                    if (op == I8_F32_ADD) for (int64_t i = 0; i < n; i++) py[i] = av + pb[i];
                    else if (op == I8_F32_SUB) for (int64_t i = 0; i < n; i++) py[i] = av - pb[i];
                    else for (int64_t i = 0; i < n; i++) py[i] = av * pb[i];
                } else if (lb == 0) {
                    const float bv = pb[0];
                    if (op == I8_F32_ADD) for (int64_t i = 0; i < n; i++) py[i] = pa[i] + bv;
                    else if (op == I8_F32_SUB) for (int64_t i = 0; i < n; i++) py[i] = pa[i] - bv;
                    else for (int64_t i = 0; i < n; i++) py[i] = pa[i] * bv;
                } else {
                    if (op == I8_F32_ADD) for (int64_t i = 0; i < n; i++) py[i] = pa[i] + pb[i];
                    else if (op == I8_F32_SUB) for (int64_t i = 0; i < n; i++) py[i] = pa[i] - pb[i];
                    else for (int64_t i = 0; i < n; i++) py[i] = pa[i] * pb[i];
                }
            } else {
            switch (op) { /* one branch per row, so each loop is a plain vectorisable loop */
            case I8_F32_ADD: for (int64_t i = 0; i < n; i++) py[i] = pa[i * la] + pb[i * lb]; break;
            case I8_F32_SUB: for (int64_t i = 0; i < n; i++) py[i] = pa[i * la] - pb[i * lb]; break;
            case I8_F32_MUL: for (int64_t i = 0; i < n; i++) py[i] = pa[i * la] * pb[i * lb]; break;
            case I8_F32_DIV: for (int64_t i = 0; i < n; i++) py[i] = pa[i * la] / pb[i * lb]; break;
            default: for (int64_t i = 0; i < n; i++) py[i] = f32_op(op, pa[i * la], pb[i * lb]);
            }
            }
        });
        return 0;
    }
    uint8_t *yu = y;
    if (op < I8_F32_AND) {
        if (t == I8_F32_T_F32) {
            const float *af = a, *bf = b;
            I8_F32_WALK(s, 3, strides, {
                for (int64_t i = 0; i < n; i++) {
                    const float x0 = af[off[0] + i * la], x1 = bf[off[1] + i * lb];
                    int v = 0;
                    switch (op) { CMP_CASES(x0, x1) }
                    yu[off[2] + i] = (uint8_t)v;
                }
            });
            return 0;
        }
        if (t == I8_F32_T_I64) {
            const int64_t *ai = a, *bi = b;
            I8_F32_WALK(s, 3, strides, {
                for (int64_t i = 0; i < n; i++) {
                    const int64_t x0 = ai[off[0] + i * la], x1 = bi[off[1] + i * lb];
                    int v = 0;
                    switch (op) { CMP_CASES(x0, x1) }
                    yu[off[2] + i] = (uint8_t)v;
                }
            });
            return 0;
        }
        if (t == I8_F32_T_U8) {
            const uint8_t *au = a, *bu = b;
            I8_F32_WALK(s, 3, strides, {
                for (int64_t i = 0; i < n; i++) {
                    const int x0 = au[off[0] + i * la], x1 = bu[off[1] + i * lb];
                    int v = 0;
                    switch (op) { CMP_CASES(x0, x1) }
                    yu[off[2] + i] = (uint8_t)v;
                }
            });
            return 0;
        }
        return -1;
    }
    if (t != I8_F32_T_U8) return -1;
    const uint8_t *au = a, *bu = b;
    I8_F32_WALK(s, 3, strides, {
        for (int64_t i = 0; i < n; i++) {
            const int x0 = au[off[0] + i * la] != 0, x1 = bu[off[1] + i * lb] != 0;
            yu[off[2] + i] = (uint8_t)(op == I8_F32_AND ? (x0 & x1) : op == I8_F32_OR ? (x0 | x1)
                                                                              : (x0 ^ x1));
        }
    });
    return 0;
}

int i8_f32_unary_run(int32_t op, int64_t n, const void *xv, void *yv, float alpha,
                      float beta) {
    if (op == I8_F32_NOT) {
        const uint8_t *x = xv;
        uint8_t *y = yv;
        for (int64_t i = 0; i < n; i++) y[i] = (uint8_t)(x[i] == 0);
        return 0;
    }
    const float *x = xv;
    float *y = yv;
#if defined(__x86_64__) || defined(__i386__)
    if (I8_F32_HAVE_AVX2() && (op == I8_F32_RELU || op == I8_F32_CLIP || op == I8_F32_HARD_SIGMOID ||
                            op == I8_F32_HARD_SWISH || op == I8_F32_LEAKY_RELU ||
                            op == I8_F32_HARD_SWISH_AFFINE)) {
        const int64_t done = i8_f32_piecewise__avx2(op, n, x, y, alpha, beta);
        x += done;
        y += done;
        n -= done;
    }
#endif
    switch (op) {
    case I8_F32_RELU: for (int64_t i = 0; i < n; i++) y[i] = x[i] > 0.0f ? x[i] : 0.0f; break;
    case I8_F32_SIGMOID:
        for (int64_t i = 0; i < n; i++) y[i] = 1.0f / (1.0f + expf(-x[i]));
        break;
    case I8_F32_TANH: for (int64_t i = 0; i < n; i++) y[i] = tanhf(x[i]); break;
    case I8_F32_ERF: for (int64_t i = 0; i < n; i++) y[i] = erff(x[i]); break;
    case I8_F32_SQRT: for (int64_t i = 0; i < n; i++) y[i] = sqrtf(x[i]); break;
    case I8_F32_GELU_ERF: {
        /* 0.5 x (1 + erf(x / sqrt 2)), the exporters' decomposed order */
        int64_t i0 = 0;
#if defined(__x86_64__) || defined(__i386__)
        if (i8_isa_current() >= I8_ISA_AVX512_VNNI) i0 = i8_f32_gelu_erf__avx512(n, x, y);
        if (I8_F32_HAVE_AVX2()) i0 += i8_f32_gelu_erf__avx2(n - i0, x + i0, y + i0);
#endif
        for (int64_t i = i0; i < n; i++)
            y[i] = x[i] * 0.5f * (1.0f + erff(x[i] * 0.70710678118654752f));
        break;
    }
    case I8_F32_GELU_TANH:
        for (int64_t i = 0; i < n; i++) {
            const float v = x[i];
            y[i] = 0.5f * v * (1.0f + tanhf(0.79788456080286536f * (v + 0.044715f * v * v * v)));
        }
        break;
    case I8_F32_EXP: {
        int64_t i0 = 0;
#if defined(__x86_64__) || defined(__i386__)
        if (I8_F32_HAVE_AVX2()) i0 = i8_f32_exp__avx2(n, x, y);
#endif
        for (int64_t i = i0; i < n; i++) y[i] = expf(x[i]);
        break;
    }
    case I8_F32_LOG: for (int64_t i = 0; i < n; i++) y[i] = logf(x[i]); break;
    case I8_F32_NEG: for (int64_t i = 0; i < n; i++) y[i] = -x[i]; break;
    case I8_F32_ABS: for (int64_t i = 0; i < n; i++) y[i] = fabsf(x[i]); break;
    case I8_F32_RECIPROCAL: for (int64_t i = 0; i < n; i++) y[i] = 1.0f / x[i]; break;
    case I8_F32_CLIP:
        for (int64_t i = 0; i < n; i++) {
            const float v = x[i] < alpha ? alpha : x[i];
            y[i] = v > beta ? beta : v;
        }
        break;
    /* ONNX definitions, each float32 operation rounded once (the build does not contract
     * to FMA), so numpy float32 reproduces them exactly; a NaN passes through the clamps */
    case I8_F32_HARD_SIGMOID:
        for (int64_t i = 0; i < n; i++) {
            const float v = alpha * x[i] + beta;
            y[i] = v < 0.0f ? 0.0f : (v > 1.0f ? 1.0f : v);
        }
        break;
    case I8_F32_HARD_SWISH: /* x * hard_sigmoid(x; 1/6, 1/2) */
        for (int64_t i = 0; i < n; i++) {
            const float v = x[i] * (1.0f / 6.0f) + 0.5f;
            y[i] = x[i] * (v < 0.0f ? 0.0f : (v > 1.0f ? 1.0f : v));
        }
        break;
    case I8_F32_HARD_SWISH_AFFINE: /* (x * hard_sigmoid(x; 1/6, 1/2)) * alpha + beta */
        for (int64_t i = 0; i < n; i++) {
            const float v = x[i] * (1.0f / 6.0f) + 0.5f;
            const float h = x[i] * (v < 0.0f ? 0.0f : (v > 1.0f ? 1.0f : v));
            y[i] = h * alpha + beta;
        }
        break;
    case I8_F32_LEAKY_RELU:
        for (int64_t i = 0; i < n; i++) y[i] = x[i] >= 0.0f ? x[i] : alpha * x[i];
        break;
    case I8_F32_SILU:
        for (int64_t i = 0; i < n; i++) y[i] = x[i] / (1.0f + expf(-x[i]));
        break;
    default: return -1;
    }
    return 0;
}

/* Mean and variance in double: one pass each over a row of at most a few thousand floats, so
 * the float32 result does not depend on the summation order to within its last bit almost
 * always (the reference does the same in float64). */
void i8_f32_layernorm_run(int64_t rows, int64_t cols, const float *x, const float *gamma,
                           const float *beta, float eps, float *y) {
    for (int64_t r = 0; r < rows; r++) {
        const float *xr = x + r * cols;
        float *yr = y + r * cols;
        double sum = 0.0;
        for (int64_t i = 0; i < cols; i++) sum += xr[i];
        const double mean = sum / (double)cols;
        double sq = 0.0;
        for (int64_t i = 0; i < cols; i++) {
            const double d = xr[i] - mean;
            sq += d * d;
        }
        const float inv = (float)(1.0 / sqrt(sq / (double)cols + (double)eps));
        const float m = (float)mean;
        for (int64_t i = 0; i < cols; i++) {
            float v = (xr[i] - m) * inv;
            if (gamma) v *= gamma[i];
            if (beta) v += beta[i];
            yr[i] = v;
        }
    }
}

#if defined(__x86_64__) || defined(__i386__)
void i8_f32_layernorm_rows__avx2(int64_t rows, int64_t cols, const float *x, const float *res,
                              const float *gamma, const float *beta, float eps, float *y);
#endif

void i8_f32_layernorm_res(int64_t rows, int64_t cols, const float *x, const float *res,
                       const float *gamma, const float *beta, float eps, float *y,
                       float *scratch) {
#if defined(__x86_64__) || defined(__i386__)
    if (I8_F32_HAVE_AVX2()) {
        i8_f32_layernorm_rows__avx2(rows, cols, x, res, gamma, beta, eps, y);
        return;
    }
#endif
    if (!res) {
        i8_f32_layernorm_run(rows, cols, x, gamma, beta, eps, y);
        return;
    }
    /* the sum row by row into scratch (cols floats), then the plain kernel */
    for (int64_t r = 0; r < rows; r++) {
        for (int64_t i = 0; i < cols; i++) scratch[i] = x[r * cols + i] + res[r * cols + i];
        i8_f32_layernorm_run(1, cols, scratch, gamma, beta, eps, y + r * cols);
    }
}

void i8_f32_softmax_run(int64_t rows, int64_t cols, const float *x, float *y) {
    for (int64_t r = 0; r < rows; r++) {
        const float *xr = x + r * cols;
        float *yr = y + r * cols;
        float mx = -INFINITY;
        for (int64_t i = 0; i < cols; i++) mx = xr[i] > mx ? xr[i] : mx;
        if (mx == -INFINITY) mx = 0.0f; /* a fully masked row: exp(-inf) = 0 everywhere */
        double sum = 0.0;
        int64_t i0 = 0;
#if defined(__x86_64__) || defined(__i386__)
        if (I8_F32_HAVE_AVX2()) sum = i8_f32_exp_shift_sum__avx2(cols, xr, mx, yr, &i0);
#endif
        for (int64_t i = i0; i < cols; i++) {
            yr[i] = expf(xr[i] - mx);
            sum += yr[i];
        }
        const float inv = sum > 0.0 ? (float)(1.0 / sum) : 0.0f;
        for (int64_t i = 0; i < cols; i++) yr[i] *= inv;
    }
}

void i8_f32_reduce_run(int32_t op, int64_t outer, int64_t r, int64_t inner, const float *x,
                        float *y) {
    for (int64_t o = 0; o < outer; o++) {
        float *yo = y + o * inner;
        const float *xo = x + o * r * inner;
        if (op == 2) {
            for (int64_t i = 0; i < inner; i++) yo[i] = -INFINITY;
            for (int64_t k = 0; k < r; k++)
                for (int64_t i = 0; i < inner; i++) {
                    const float v = xo[k * inner + i];
                    yo[i] = v > yo[i] ? v : yo[i];
                }
            continue;
        }
        /* float32 accumulation in index order, like the reference's np.add.reduce over a
         * non-last axis (pairwise summation only applies along the contiguous axis) */
        for (int64_t i = 0; i < inner; i++) yo[i] = 0.0f;
        for (int64_t k = 0; k < r; k++)
            for (int64_t i = 0; i < inner; i++) yo[i] += xo[k * inner + i];
        if (op == 1)
            for (int64_t i = 0; i < inner; i++) yo[i] /= (float)r;
    }
}

static void matmul_2d(int64_t m, int64_t k, int64_t n, const float *a, int64_t lda,
                      const float *w, int64_t ldb, float *y) {
    for (int64_t i = 0; i < m * n; i++) y[i] = 0.0f;
    i8_f32_gemm_acc(m, k, n, a, lda, w, ldb, y, n);
}

void i8_f32_matmul_run(const i8_f32_shape *bs, const int64_t *sa, const int64_t *sb, int64_t m,
                        int64_t k, int64_t n, const float *a, int64_t lda, const float *w,
                        int64_t ldb, float *y) {
    int64_t batch = 1;
    for (int32_t d = 0; d < bs->ndim; d++) batch *= bs->shape[d];
    int64_t cnt[I8_F32_MAXDIM] = {0};
    int64_t oa = 0, ob = 0;
    for (int64_t b = 0; b < batch; b++) {
        matmul_2d(m, k, n, a + oa, lda, w + ob, ldb, y + b * m * n);
        for (int32_t d = bs->ndim - 1; d >= 0; d--) {
            cnt[d]++;
            oa += sa[d];
            ob += sb[d];
            if (cnt[d] < bs->shape[d]) break;
            oa -= sa[d] * cnt[d];
            ob -= sb[d] * cnt[d];
            cnt[d] = 0;
        }
    }
}

int i8_f32_gather_run(int64_t outer, int64_t axis, int64_t inner, int64_t elem_size,
                       const void *x, const int64_t *idx, int64_t nidx, void *y) {
    for (int64_t j = 0; j < nidx; j++)
        if (idx[j] < -axis || idx[j] >= axis) return -1;
    const size_t row = (size_t)(inner * elem_size);
    const unsigned char *xb = x;
    unsigned char *yb = y;
    for (int64_t o = 0; o < outer; o++)
        for (int64_t j = 0; j < nidx; j++) {
            const int64_t t = idx[j] < 0 ? idx[j] + axis : idx[j];
            memcpy(yb + ((size_t)(o * nidx + j)) * row, xb + ((size_t)(o * axis + t)) * row, row);
        }
    return 0;
}

void i8_f32_strided_copy_run(const i8_f32_shape *s, int64_t elem_size, const void *x,
                              int64_t x_off, const int64_t *sx, void *y, int64_t y_off,
                              const int64_t *sy) {
    const int64_t *strides[2] = {sx, sy};
    const int64_t n = s->shape[s->ndim - 1], lx = sx[s->ndim - 1], ly = sy[s->ndim - 1];
    const unsigned char *xb = (const unsigned char *)x + x_off * elem_size;
    unsigned char *yb = (unsigned char *)y + y_off * elem_size;
    if (elem_size == 4) {
        I8_F32_WALK(s, 2, strides, {
            const uint32_t *px = (const uint32_t *)(xb) + off[0];
            uint32_t *py = (uint32_t *)(yb) + off[1];
            if (lx == 1 && ly == 1) memcpy(py, px, (size_t)n * 4);
            else for (int64_t i = 0; i < n; i++) py[i * ly] = px[i * lx];
        });
        return;
    }
    I8_F32_WALK(s, 2, strides, {
        for (int64_t i = 0; i < n; i++)
            memcpy(yb + (off[1] + i * ly) * elem_size, xb + (off[0] + i * lx) * elem_size,
                   (size_t)elem_size);
    });
}

static double load_as_double(int32_t t, const void *x, int64_t i) {
    switch (t) {
    case I8_F32_T_F32: return ((const float *)x)[i];
    case I8_F32_T_I64: return (double)((const int64_t *)x)[i];
    case I8_F32_T_U8: return ((const uint8_t *)x)[i];
    case I8_F32_T_I32: return ((const int32_t *)x)[i];
    case I8_F32_T_I8: return ((const int8_t *)x)[i];
    default: return 0.0;
    }
}

void i8_f32_cast_run(int64_t n, int32_t from, const void *x, int32_t to, void *y) {
    if (from == I8_F32_T_I64 && to == I8_F32_T_I64) {
        memcpy(y, x, (size_t)n * 8);
        return;
    }
    for (int64_t i = 0; i < n; i++) {
        if (from == I8_F32_T_I64 && to != I8_F32_T_F32) { /* integer -> integer: no double detour */
            const int64_t v = ((const int64_t *)x)[i];
            if (to == I8_F32_T_U8) ((uint8_t *)y)[i] = (uint8_t)(v != 0);
            else if (to == I8_F32_T_I32) ((int32_t *)y)[i] = (int32_t)v;
            else ((int8_t *)y)[i] = (int8_t)v;
            continue;
        }
        const double v = load_as_double(from, x, i);
        switch (to) {
        case I8_F32_T_F32: ((float *)y)[i] = from == I8_F32_T_I64 ? (float)((const int64_t *)x)[i]
                                                            : (float)v; break;
        case I8_F32_T_I64: ((int64_t *)y)[i] = (int64_t)v; break;
        case I8_F32_T_U8: ((uint8_t *)y)[i] = (uint8_t)(v != 0.0); break;
        case I8_F32_T_I32: ((int32_t *)y)[i] = (int32_t)v; break;
        case I8_F32_T_I8: ((int8_t *)y)[i] = (int8_t)v; break;
        default: break;
        }
    }
}

void i8_f32_where_run(const i8_f32_shape *s, int64_t elem_size, const uint8_t *c,
                       const int64_t *sc, const void *a, const int64_t *sa, const void *b,
                       const int64_t *sb, void *y) {
    int64_t sy[I8_F32_MAXDIM];
    int64_t acc = 1;
    for (int32_t d = s->ndim - 1; d >= 0; d--) { sy[d] = acc; acc *= s->shape[d]; }
    const int64_t *strides[4] = {sc, sa, sb, sy};
    const int32_t L = s->ndim - 1;
    const int64_t n = s->shape[L];
    const unsigned char *ab = a, *bb = b;
    unsigned char *yb = y;
    I8_F32_WALK(s, 4, strides, {
        for (int64_t i = 0; i < n; i++) {
            const unsigned char *src = c[off[0] + i * sc[L]] ? ab + (off[1] + i * sa[L]) * elem_size
                                                             : bb + (off[2] + i * sb[L]) * elem_size;
            memcpy(yb + (off[3] + i) * elem_size, src, (size_t)elem_size);
        }
    });
}
