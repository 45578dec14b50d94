/* Binary elementwise ops with broadcasting (add, mul) and the requantizing strided copy.
 * Arithmetic: docs/QUANTIZATION.md §4 (table rows Add / Sub, Mul, Concat). */
#include <string.h>

#include "int8rt/cpu.h"
#include "int8rt/kernels.h"
#include "kernels/eltwise/eltwise.h"
#include "kernels/x86_paths.h"

/* One output row: y[i] = op(a[i * sa], b[i * sb]). The row kernels are specialised on the
 * inner strides so the common cases (same shape: 1/1; scalar or row-broadcast b: 1/0;
 * per-channel b over a wider a: both 1 after collapsing) compile to stride-free loops. */
#define DEFINE_ROW(NAME, ACC_EXPR)                                                              \
    static inline void NAME(const i8_binary_params *p, int64_t n, const int8_t *a, int64_t sa, \
                            const int8_t *b, int64_t sb, int8_t *y) {                          \
        const int32_t a_zp = p->a_zp, b_zp = p->b_zp, y_zp = p->y_zp;                          \
        const int32_t a_mult = p->a_mult, b_mult = p->b_mult;                                  \
        const int32_t qmin = p->qmin, qmax = p->qmax;                                          \
        const float mult = p->mult;                                                            \
        (void)a_mult;                                                                          \
        (void)b_mult;                                                                          \
        if (sa == 1 && sb == 1) {                                                              \
            for (int64_t i = 0; i < n; i++) {                                                  \
                const int32_t av = a[i], bv = b[i];                                            \
                y[i] = i8_requantize(ACC_EXPR, mult, y_zp, qmin, qmax);                        \
            }                                                                                  \
        } else if (sa == 1 && sb == 0) {                                                       \
            const int32_t bv = b[0];                                                           \
            for (int64_t i = 0; i < n; i++) {                                                  \
                const int32_t av = a[i];                                                       \
                y[i] = i8_requantize(ACC_EXPR, mult, y_zp, qmin, qmax);                        \
            }                                                                                  \
        } else if (sa == 0 && sb == 1) {                                                       \
            const int32_t av = a[0];                                                           \
            for (int64_t i = 0; i < n; i++) {                                                  \
                const int32_t bv = b[i];                                                       \
                y[i] = i8_requantize(ACC_EXPR, mult, y_zp, qmin, qmax);                        \
            }                                                                                  \
        } else {                                                                               \
            for (int64_t i = 0; i < n; i++) {                                                  \
                const int32_t av = a[i * sa], bv = b[i * sb];                                  \
                y[i] = i8_requantize(ACC_EXPR, mult, y_zp, qmin, qmax);                        \
            }                                                                                  \
        }                                                                                      \
    }

/* add: |a - a_zp| <= 255 and |a_mult|, |b_mult| <= 2^22 (chosen in Python), so
 * |acc| <= 255 * 2^23 < 2^31: the int32 sum cannot overflow. */
DEFINE_ROW(i8_add_row__scalar, (av - a_zp) * a_mult + (bv - b_zp) * b_mult)
/* mul: |acc| <= 255 * 255. */
DEFINE_ROW(i8_mul_row__scalar, (av - a_zp) * (bv - b_zp))

typedef void (*i8_binary_row_fn)(const i8_binary_params *, int64_t, const int8_t *, int64_t,
                                 const int8_t *, int64_t, int8_t *);

/* The general strided N-d walk: an odometer over the outer ndim - 1 axes, the row kernel on
 * the innermost one. y is contiguous, so its offset simply advances by one row each step. */
static inline void i8_binary_walk(const i8_binary_params *p, const int8_t *a, const int8_t *b,
                                     int8_t *y, i8_binary_row_fn row) {
    const int32_t nd = p->ndim;
    if (nd <= 0) { /* a 0-d tensor is one element */
        row(p, 1, a, 0, b, 0, y);
        return;
    }
    for (int32_t d = 0; d < nd; d++)
        if (p->shape[d] <= 0) return;
    const int64_t n = p->shape[nd - 1];
    const int64_t sa = p->a_stride[nd - 1], sb = p->b_stride[nd - 1];
    int64_t idx[I8_MAX_DIMS] = {0};
    int64_t ao = 0, bo = 0;
    for (;;) {
        row(p, n, a + ao, sa, b + bo, sb, y);
        y += n;
        int32_t d = nd - 2;
        for (; d >= 0; d--) {
            ao += p->a_stride[d];
            bo += p->b_stride[d];
            if (++idx[d] < p->shape[d]) break;
            ao -= p->a_stride[d] * p->shape[d];
            bo -= p->b_stride[d] * p->shape[d];
            idx[d] = 0;
        }
        if (d < 0) return;
    }
}

#if defined(__x86_64__) || defined(__i386__)
/* SIMD rows: the contiguous case (and, on AVX-512, a broadcast b: a scalar or per-channel
 * operand) vectorised, every other stride pattern scalar */
#define DEFINE_AVX2_ROW(NAME, CONTIG, SCALAR)                                                 \
    static void NAME(const i8_binary_params *p, int64_t n, const int8_t *a, int64_t sa,        \
                     const int8_t *b, int64_t sb, int8_t *y) {                                 \
        if (sa == 1 && sb == 1)                                                                \
            CONTIG(p, n, a, b, y);                                                             \
        else                                                                                   \
            SCALAR(p, n, a, sa, b, sb, y);                                                     \
    }
#define DEFINE_AVX512_ROW(NAME, CONTIG, BCAST, SCALAR)                                        \
    static void NAME(const i8_binary_params *p, int64_t n, const int8_t *a, int64_t sa,        \
                     const int8_t *b, int64_t sb, int8_t *y) {                                 \
        if (sa == 1 && sb == 1)                                                                \
            CONTIG(p, n, a, b, y);                                                             \
        else if (sa == 1 && sb == 0)                                                           \
            BCAST(p, n, a, b, y);                                                              \
        else                                                                                   \
            SCALAR(p, n, a, sa, b, sb, y);                                                     \
    }
DEFINE_AVX2_ROW(i8_add_row__avx2, i8_add_contig__avx2, i8_add_row__scalar)
DEFINE_AVX2_ROW(i8_mul_row__avx2, i8_mul_contig__avx2, i8_mul_row__scalar)
DEFINE_AVX512_ROW(i8_add_row__avx512, i8_add_contig__avx512, i8_add_bcast__avx512,
                  i8_add_row__scalar)
DEFINE_AVX512_ROW(i8_mul_row__avx512, i8_mul_contig__avx512, i8_mul_bcast__avx512,
                  i8_mul_row__scalar)
#endif

#if defined(I8_NEON_KERNELS)
/* NEON rows (neon.c): the contiguous case vectorised, every other stride pattern scalar */
static void i8_add_row__neon(const i8_binary_params *p, int64_t n, const int8_t *a, int64_t sa,
                             const int8_t *b, int64_t sb, int8_t *y) {
    if (sa == 1 && sb == 1)
        i8_add_contig__neon(p, n, a, b, y);
    else
        i8_add_row__scalar(p, n, a, sa, b, sb, y);
}

static void i8_mul_row__neon(const i8_binary_params *p, int64_t n, const int8_t *a, int64_t sa,
                             const int8_t *b, int64_t sb, int8_t *y) {
    if (sa == 1 && sb == 1)
        i8_mul_contig__neon(p, n, a, b, y);
    else
        i8_mul_row__scalar(p, n, a, sa, b, sb, y);
}

int i8_use_neon(void) {
    const int32_t isa = i8_isa_current();
    return isa == I8_ISA_NEON || isa == I8_ISA_NEON_DOT;
}
#endif

void i8_add_run(const i8_binary_params *p, const int8_t *a, const int8_t *b, int8_t *y) {
#if defined(__x86_64__) || defined(__i386__)
    const int32_t level = i8_x86_level();
    if (level >= 1) {
        i8_binary_walk(p, a, b, y, level == 2 ? i8_add_row__avx512 : i8_add_row__avx2);
        return;
    }
#endif
#if defined(I8_NEON_KERNELS)
    if (i8_use_neon()) {
        i8_binary_walk(p, a, b, y, i8_add_row__neon);
        return;
    }
#endif
    i8_binary_walk(p, a, b, y, i8_add_row__scalar);
}

void i8_mul_run(const i8_binary_params *p, const int8_t *a, const int8_t *b, int8_t *y) {
#if defined(__x86_64__) || defined(__i386__)
    const int32_t level = i8_x86_level();
    if (level >= 1) {
        i8_binary_walk(p, a, b, y, level == 2 ? i8_mul_row__avx512 : i8_mul_row__avx2);
        return;
    }
#endif
#if defined(I8_NEON_KERNELS)
    if (i8_use_neon()) {
        i8_binary_walk(p, a, b, y, i8_mul_row__neon);
        return;
    }
#endif
    i8_binary_walk(p, a, b, y, i8_mul_row__scalar);
}

void i8_requant_copy_run(const i8_requant_copy_params *p, const int8_t *x, int8_t *y) {
    const int32_t x_zp = p->x_zp, y_zp = p->y_zp;
    const float mult = p->mult;
    if (mult == 1.0f && x_zp == y_zp) {
        /* same parameters (a Concat input already at the output's scale): the requantization
         * is the identity (x - zp is exact in float32, times 1, in range, + zp), so copy */
        for (int64_t r = 0; r < p->rows; r++)
            memmove(y + r * p->y_stride, x + r * p->x_stride, (size_t)p->cols);
        return;
    }
#if defined(__x86_64__) || defined(__i386__)
    const int32_t level = i8_x86_level();
    if (level >= 1) {
        (level == 2 ? i8_requant_copy__avx512 : i8_requant_copy__avx2)(p, x, y);
        return;
    }
#endif
#if defined(I8_NEON_KERNELS)
    const int neon = i8_use_neon();
#endif
    for (int64_t r = 0; r < p->rows; r++) {
        const int8_t *xr = x + r * p->x_stride;
        int8_t *yr = y + r * p->y_stride;
#if defined(I8_NEON_KERNELS)
        if (neon) {
            i8_requant_copy_row__neon(p->cols, xr, x_zp, mult, y_zp, yr);
            continue;
        }
#endif
        for (int64_t i = 0; i < p->cols; i++)
            yr[i] = i8_requantize((int32_t)xr[i] - x_zp, mult, y_zp, -128, 127);
    }
}
