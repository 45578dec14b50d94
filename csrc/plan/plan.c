/* The plan executor (csrc/include/int8rt/plan.h, docs/PLAN.md).
 *
 * Build time does all the checking: every op's kernel footprint is computed from its params
 * (with overflow-checked 64-bit arithmetic) and compared with the byte size of each referenced
 * buffer, index maps and tables are range-checked, weights are packed. Run time is one aligned
 * allocation and a switch per op. The plan is never written after finalize, which is what makes
 * concurrent runs safe. */
#define _POSIX_C_SOURCE 200809L

#include "int8rt/plan.h"
#include "int8rt/dynq.h"
#include "int8rt/rnn.h"
#include "int8rt/dqconv.h"
#include "int8rt/threadpool.h"
#include "plan/split.h"

#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define ALIGN 64

typedef struct {
    int32_t kind;
    int32_t n_inputs;
    i8_buf_ref in[I8_PLAN_MAX_INPUTS];
    i8_buf_ref out;
    i8_op_params p;
    void *owned[I8_PLAN_MAX_CONSTS]; /* plan-owned consts; conv2d / fc: owned[0] = packed */
    int weights_borrowed; /* owned[0] points into an i8_plan_pack_weights blob: not freed */
    size_t tasks;  /* work split for threads (docs/PLAN.md "Threads"); 1 = never split */
    i8_split split; /* ops other than conv2d / fc: how their tasks map to output slices */
} i8_op;

struct i8_plan {
    int32_t n_inputs, n_outputs;
    int64_t *input_nbytes, *output_nbytes;
    int32_t n_consts, cap_consts;
    void **consts;
    int64_t *const_nbytes;
    unsigned char *const_borrowed; /* 1: i8_plan_add_const_ref memory, not freed here */
    int32_t n_ops, cap_ops;
    i8_op *ops;
    int64_t max_arena_end; /* largest offset + nbytes over ARENA refs */
    int64_t arena_nbytes;  /* buffer part, rounded up to ALIGN */
    int64_t scratch_nbytes;
    int finalized;
    char err[256];
};

static const char *const OP_NAMES[I8_OP_COUNT] = {
#define I8_OP_NAME_(kind, name) name,
    I8_PLAN_OPS(I8_OP_NAME_)
#undef I8_OP_NAME_
};

const char *i8_plan_op_name(int32_t kind) {
    return kind >= 0 && kind < I8_OP_COUNT ? OP_NAMES[kind] : NULL;
}

const char *i8_status_str(int status) {
    switch (status) {
    case I8_OK: return "ok";
    case I8_ENOMEM: return "out of memory";
    case I8_EINVAL: return "invalid argument";
    case I8_ESTATE: return "plan used in the wrong stage (add after finalize / run before)";
    case I8_EDATA: return "an op refused its input data (index out of range)";
    default: return "unknown status";
    }
}

/* ---- aligned memory: malloc + manual alignment, portable C11 ----------------------------- */
static void *alloc64(size_t n) {
    if (n > SIZE_MAX - ALIGN - sizeof(void *)) return NULL;
    unsigned char *raw = malloc(n + ALIGN + sizeof(void *));
    if (!raw) return NULL;
    uintptr_t a = ((uintptr_t)(raw + sizeof(void *)) + ALIGN - 1) & ~(uintptr_t)(ALIGN - 1);
    ((void **)a)[-1] = raw;
    return (void *)a;
}

static void free64(void *p) {
    if (p) free(((void **)p)[-1]);
}

static int fail(i8_plan *plan, int status, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(plan->err, sizeof plan->err, fmt, ap);
    va_end(ap);
    return status;
}

/* ---- overflow-checked sizes: every footprint is a product of caller-given int64s --------- */
#define BAD (-1) /* every footprint helper returns BAD on overflow or a negative factor */

static int64_t mul2(int64_t a, int64_t b) {
    if (a < 0 || b < 0) return BAD;
    if (a != 0 && b > INT64_MAX / a) return BAD;
    return a * b;
}

static int64_t add2(int64_t a, int64_t b) {
    if (a < 0 || b < 0 || b > INT64_MAX - a) return BAD;
    return a + b;
}

static int64_t prod(int32_t n, const int64_t *v) {
    int64_t r = 1;
    for (int32_t i = 0; i < n && r != BAD; i++) r = mul2(r, v[i]);
    return r;
}

static int64_t prod4(int64_t a, int64_t b, int64_t c, int64_t d) {
    return mul2(mul2(mul2(a, b), c), d);
}

static int zp_ok(int32_t zp) { return zp >= -128 && zp <= 127; }

static int clamp_ok(int32_t qmin, int32_t qmax) {
    return qmin >= -128 && qmax <= 127 && qmin <= qmax;
}

/* a fused float clamp: ordered, not NaN (the kernels compare against both bounds) */
static int fclamp_ok(float lo, float hi) { return lo == lo && hi == hi && lo <= hi; }

static int elem_ok(int64_t es) { return es == 1 || es == 2 || es == 4 || es == 8; }

static int int32_range(const void *data, int64_t n, int32_t lo, int32_t hi) {
    const int32_t *v = data;
    for (int64_t i = 0; i < n; i++)
        if (v[i] < lo || v[i] > hi) return 0;
    return 1;
}

/* ---- per-kind preconditions ---------------------------------------------------------------
 * Fills the bytes each input / the output must hold and the byte size of each const, or
 * returns a message. Only what the kernels rely on for memory safety (and a few parameter
 * ranges the arithmetic contract fixes) is checked. */
typedef struct {
    int32_t n_inputs, n_consts;
    int64_t in[I8_PLAN_MAX_INPUTS], out;
    int64_t consts[I8_PLAN_MAX_CONSTS];
    int64_t scratch; /* per-thread scratch bytes of the whole-op call */
} footprint;

/* ---- footprints of the strided float32 records ------------------------------------------- */
static int64_t type_size(int32_t t) {
    switch (t) {
    case I8_F32_T_F32: return 4;
    case I8_F32_T_I64: return 8;
    case I8_F32_T_U8: return 1;
    case I8_F32_T_I32: return 4;
    case I8_F32_T_I8: return 1;
    default: return 0;
    }
}

static int shape_ok(const i8_f32_shape *s, int32_t min_ndim) {
    if (s->ndim < min_ndim || s->ndim > I8_F32_MAXDIM) return 0;
    for (int32_t i = 0; i < s->ndim; i++)
        if (s->shape[i] < 0) return 0;
    return 1;
}

/* Bytes read through element strides `st` (any sign) from element `off` over shape `s`:
 * (highest index + 1) * elem, or BAD when an index can be negative or the sum overflows;
 * 0 when the shape is empty. */
static int64_t strided_need(const i8_f32_shape *s, const int64_t *st, int64_t off, int64_t elem) {
    int64_t lo = off, hi = off;
    if (off < 0) return BAD;
    for (int32_t i = 0; i < s->ndim; i++)
        if (s->shape[i] == 0) return 0;
    for (int32_t i = 0; i < s->ndim; i++) {
        if (st[i] == INT64_MIN) return BAD;
        const int64_t span = mul2(s->shape[i] - 1, st[i] < 0 ? -st[i] : st[i]);
        if (span == BAD) return BAD;
        if (st[i] < 0) lo -= span; /* lo >= -(8 * INT64_MAX / 8): checked below each step */
        else hi = add2(hi, span);
        if (lo < 0 || hi == BAD) return BAD;
    }
    return mul2(add2(hi, 1), elem);
}

/* Geometry shared by the int8 and float32 convolutions (their params have the same fields):
 * positive sizes, groups dividing both channel counts, and the output extent the one the pads
 * and window define (floor division). Returns the reason from the enclosing function. */
#define CONV_GEOMETRY_CHECK(c)                                                                  \
    do {                                                                                        \
        if ((c)->n < 1 || (c)->h < 1 || (c)->w < 1 || (c)->c < 1 || (c)->oh < 1 ||             \
            (c)->ow < 1 || (c)->oc < 1)                                                         \
            return "dimensions must be >= 1";                                                   \
        if ((c)->kh < 1 || (c)->kw < 1 || (c)->stride_h < 1 || (c)->stride_w < 1 ||             \
            (c)->dil_h < 1 || (c)->dil_w < 1 || (c)->groups < 1)                                \
            return "kernel size, stride, dilation and groups must be >= 1";                     \
        if ((c)->pad_t < 0 || (c)->pad_l < 0 || (c)->pad_b < 0 || (c)->pad_r < 0)               \
            return "pads must be >= 0";                                                         \
        if ((c)->c % (c)->groups || (c)->oc % (c)->groups) return "groups must divide c and oc"; \
        const int64_t eh_ = (int64_t)(c)->h + (c)->pad_t + (c)->pad_b -                         \
                            (int64_t)(c)->dil_h * ((c)->kh - 1) - 1;                            \
        const int64_t ew_ = (int64_t)(c)->w + (c)->pad_l + (c)->pad_r -                         \
                            (int64_t)(c)->dil_w * ((c)->kw - 1) - 1;                            \
        if (eh_ < 0 || ew_ < 0 || eh_ / (c)->stride_h + 1 != (c)->oh ||                         \
            ew_ / (c)->stride_w + 1 != (c)->ow)                                                 \
            return "oh / ow do not match h, w, kernel, stride, dilation and pads";              \
    } while (0)

/* The fused post-ops of a conv2d / fc (kernels.h i8_post_params): input 1 is the residual
 * (y's element count, int8), const 3 the 256-entry table. Called after the output footprint
 * is set. */
static const char *post_check(const i8_post_params *pp, int32_t out_f32, footprint *f) {
    if ((pp->lut != 0 && pp->lut != 1) || (pp->add != 0 && pp->add != 1))
        return "post lut / add must be 0 or 1";
    if ((pp->lut || pp->add) && out_f32) return "post-ops need an int8 output (out_f32 = 0)";
    if (pp->add) {
        if (!zp_ok(pp->a_zp) || !zp_ok(pp->b_zp) || !zp_ok(pp->y_zp) ||
            !clamp_ok(pp->qmin, pp->qmax))
            return "post add zero points / clamp out of int8 range";
        /* |a_mult|, |b_mult| <= 2^22 keep the add's int32 sum exact (kernels.h) */
        if (pp->a_mult < -(1 << 22) || pp->a_mult > (1 << 22) || pp->b_mult < -(1 << 22) ||
            pp->b_mult > (1 << 22))
            return "post add multipliers must be within 2^22 in magnitude";
        if (!isfinite(pp->mult)) return "post add mult must be finite";
        f->n_inputs = 2;
        f->in[1] = f->out;
    }
    if (pp->lut) {
        f->consts[f->n_consts] = 256;
        f->n_consts++;
    }
    return NULL;
}

static const char *check_params(const i8_op_desc *d, footprint *f) {
    const i8_op_params *p = &d->params;
    f->n_inputs = 1;
    f->n_consts = 0;
    f->scratch = 0;
    switch (d->kind) {
    case I8_OP_CONV2D: {
        const i8_conv2d_params *c = &p->conv2d;
        CONV_GEOMETRY_CHECK(c);
        if (!zp_ok(c->x_zp) || !zp_ok(c->y_zp) || !clamp_ok(c->qmin, c->qmax))
            return "zero points / clamp out of int8 range";
        if (c->out_f32 != 0 && c->out_f32 != 1) return "out_f32 must be 0 or 1";
        f->in[0] = prod4(c->n, c->h, c->w, c->c);
        /* bytes: the float32 epilogue writes 4 per element */
        f->out = mul2(prod4(c->n, c->oh, c->ow, c->oc), c->out_f32 ? 4 : 1);
        f->n_consts = 3;
        f->consts[0] = prod4(c->oc, c->kh, c->kw, c->c / c->groups);
        f->consts[1] = mul2(c->oc, 4);
        f->consts[2] = mul2(c->oc, 4);
        return post_check(&c->post, c->out_f32, f);
    }
    case I8_OP_CONV2D_F32: {
        const i8_f32_conv2d_params *c = &p->conv2d_f32;
        CONV_GEOMETRY_CHECK(c);
        if (!fclamp_ok(c->lo, c->hi)) return "clamp bounds must be ordered and not NaN";
        f->in[0] = mul2(prod4(c->n, c->h, c->w, c->c), 4);
        f->out = mul2(prod4(c->n, c->oh, c->ow, c->oc), 4);
        f->n_consts = 2;
        f->consts[0] = mul2(prod4(c->oc, c->kh, c->kw, c->c / c->groups), 4);
        f->consts[1] = mul2(c->oc, 4);
        return NULL;
    }
    case I8_OP_FC_F32: {
        const i8_f32_fc_params *c = &p->fc_f32;
        if (c->m < 1 || c->k < 1 || c->n < 1) return "m, k, n must be >= 1";
        if (!fclamp_ok(c->lo, c->hi)) return "clamp bounds must be ordered and not NaN";
        f->in[0] = mul2(mul2(c->m, c->k), 4);
        f->out = mul2(mul2(c->m, c->n), 4);
        f->n_consts = 2;
        f->consts[0] = mul2(mul2(c->n, c->k), 4);
        f->consts[1] = mul2(c->n, 4);
        return NULL;
    }
    case I8_OP_FC: {
        const i8_fc_params *c = &p->fc;
        if (c->m < 1 || c->k < 1 || c->n < 1) return "m, k, n must be >= 1";
        if (!zp_ok(c->x_zp) || !zp_ok(c->y_zp) || !clamp_ok(c->qmin, c->qmax))
            return "zero points / clamp out of int8 range";
        if (c->out_f32 != 0 && c->out_f32 != 1) return "out_f32 must be 0 or 1";
        f->in[0] = mul2(c->m, c->k);
        f->out = mul2(mul2(c->m, c->n), c->out_f32 ? 4 : 1);
        f->n_consts = 3;
        f->consts[0] = mul2(c->n, c->k);
        f->consts[1] = mul2(c->n, 4);
        f->consts[2] = mul2(c->n, 4);
        return post_check(&c->post, c->out_f32, f);
    }
    case I8_OP_ADD:
    case I8_OP_MUL: {
        const i8_binary_params *c = &p->binary;
        if (c->ndim < 1 || c->ndim > I8_MAX_DIMS) return "ndim must be in [1, I8_MAX_DIMS]";
        f->n_inputs = 2;
        f->out = prod(c->ndim, c->shape);
        int64_t fa = 1, fb = 1;
        for (int32_t i = 0; i < c->ndim; i++) {
            if (c->shape[i] < 0 || c->a_stride[i] < 0 || c->b_stride[i] < 0)
                return "shape and strides must be >= 0";
            fa = add2(fa, mul2(c->shape[i] ? c->shape[i] - 1 : 0, c->a_stride[i]));
            fb = add2(fb, mul2(c->shape[i] ? c->shape[i] - 1 : 0, c->b_stride[i]));
        }
        f->in[0] = f->out == 0 ? 0 : fa;
        f->in[1] = f->out == 0 ? 0 : fb;
        if (!zp_ok(c->a_zp) || !zp_ok(c->b_zp) || !zp_ok(c->y_zp) || !clamp_ok(c->qmin, c->qmax))
            return "zero points / clamp out of int8 range";
        /* |a_mult|, |b_mult| <= 2^22 keep the add's int32 sum exact (kernels.h); mul ignores
         * them */
        if (d->kind == I8_OP_ADD && (c->a_mult < -(1 << 22) || c->a_mult > (1 << 22) ||
                                     c->b_mult < -(1 << 22) || c->b_mult > (1 << 22)))
            return "add multipliers must be within 2^22 in magnitude";
        if (!isfinite(c->mult)) return "mult must be finite";
        return NULL;
    }
    case I8_OP_REQUANT_COPY: {
        const i8_plan_requant_copy_params *c = &p->requant_copy;
        const i8_requant_copy_params *b = &c->base;
        if (b->rows < 0 || b->cols < 0 || b->x_stride < 0 || b->y_stride < 0 ||
            c->x_offset < 0 || c->y_offset < 0)
            return "rows, cols, strides and offsets must be >= 0";
        if (!zp_ok(b->x_zp) || !zp_ok(b->y_zp)) return "zero points out of int8 range";
        if (!isfinite(b->mult)) return "mult must be finite";
        int empty = b->rows == 0 || b->cols == 0;
        /* the last row starts at (rows - 1) * stride and holds cols elements */
        f->in[0] = empty ? 0 : add2(c->x_offset, add2(mul2(b->rows - 1, b->x_stride), b->cols));
        f->out = empty ? 0 : add2(c->y_offset, add2(mul2(b->rows - 1, b->y_stride), b->cols));
        return NULL;
    }
    case I8_OP_MAXPOOL:
    case I8_OP_AVGPOOL:
    case I8_OP_F32_MAXPOOL: {
        const i8_pool_params *c = &p->pool;
        if (c->n < 1 || c->h < 1 || c->w < 1 || c->c < 1 || c->oh < 1 || c->ow < 1)
            return "dimensions must be >= 1";
        if (c->kh < 1 || c->kw < 1 || c->stride_h < 1 || c->stride_w < 1 || c->dil_h < 1 ||
            c->dil_w < 1)
            return "kernel size, stride and dilation must be >= 1";
        if (c->pad_t < 0 || c->pad_l < 0) return "pads must be >= 0";
        /* taps outside the input are skipped by the kernel, so any oh / ow is memory safe
         * (ceil_mode makes the last window hang over the edge) as long as the kernel's int32
         * window arithmetic cannot overflow (a fuzzer found stride 2^31-1) */
        if ((int64_t)(c->oh - 1) * c->stride_h + (int64_t)(c->kh - 1) * c->dil_h > INT32_MAX ||
            (int64_t)(c->ow - 1) * c->stride_w + (int64_t)(c->kw - 1) * c->dil_w > INT32_MAX)
            return "pooling window coordinates exceed int32";
        if (!zp_ok(c->x_zp) || !zp_ok(c->y_zp) || !clamp_ok(c->qmin, c->qmax))
            return "zero points / clamp out of int8 range";
        f->in[0] = prod4(c->n, c->h, c->w, c->c);
        f->out = prod4(c->n, c->oh, c->ow, c->c);
        if (d->kind == I8_OP_F32_MAXPOOL) { /* float32 NCHW: the same element counts */
            f->in[0] = mul2(f->in[0], 4);
            f->out = mul2(f->out, 4);
        }
        if (d->kind == I8_OP_AVGPOOL) {
            f->n_consts = 1;
            f->consts[0] = mul2(add2(mul2(c->kh, c->kw), 1), 4);
        }
        return NULL;
    }
    case I8_OP_GLOBAL_AVGPOOL: {
        const i8_plan_global_avgpool_params *c = &p->global_avgpool;
        if (c->n < 1 || c->hw < 1 || c->c < 1) return "n, hw, c must be >= 1";
        if (!zp_ok(c->x_zp) || !zp_ok(c->y_zp) || !clamp_ok(c->qmin, c->qmax))
            return "zero points / clamp out of int8 range";
        /* the sum of hw values x - x_zp (|.| <= 255) is an int32 */
        if ((int64_t)c->hw * 255 > INT32_MAX) return "hw too large for the int32 accumulator";
        if (!isfinite(c->mult)) return "mult must be finite";
        f->in[0] = prod4(c->n, c->hw, c->c, 1);
        f->out = mul2(c->n, c->c);
        return NULL;
    }
    case I8_OP_LUT:
        if (p->lut.n < 0) return "n must be >= 0";
        f->in[0] = f->out = p->lut.n;
        f->n_consts = 1;
        f->consts[0] = 256;
        return NULL;
    case I8_OP_RESIZE_NEAREST: {
        const i8_plan_resize_nearest_params *c = &p->resize_nearest;
        if (c->n < 1 || c->h < 1 || c->w < 1 || c->c < 1 || c->oh < 1 || c->ow < 1)
            return "dimensions must be >= 1";
        if (!elem_ok(c->elem_size)) return "elem_size must be 1, 2, 4 or 8";
        f->in[0] = mul2(prod4(c->n, c->h, c->w, c->c), c->elem_size);
        f->out = mul2(prod4(c->n, c->oh, c->ow, c->c), c->elem_size);
        f->n_consts = 2;
        f->consts[0] = mul2(c->oh, 4);
        f->consts[1] = mul2(c->ow, 4);
        return NULL;
    }
    case I8_OP_RESIZE_BILINEAR: {
        const i8_resize_bilinear_params *c = &p->resize_bilinear;
        if (c->n < 1 || c->h < 1 || c->w < 1 || c->c < 1 || c->oh < 1 || c->ow < 1)
            return "dimensions must be >= 1";
        if (!zp_ok(c->x_zp) || !zp_ok(c->y_zp)) return "zero points out of int8 range";
        if (!isfinite(c->mult)) return "mult must be finite";
        f->in[0] = prod4(c->n, c->h, c->w, c->c);
        f->out = prod4(c->n, c->oh, c->ow, c->c);
        f->n_consts = 6;
        for (int i = 0; i < 3; i++) f->consts[i] = mul2(c->oh, 4);
        for (int i = 3; i < 6; i++) f->consts[i] = mul2(c->ow, 4);
        return NULL;
    }
    case I8_OP_SOFTMAX: {
        const i8_plan_softmax_params *c = &p->softmax;
        if (c->rows < 0 || c->cols < 1) return "rows must be >= 0 and cols >= 1";
        if (!zp_ok(c->y_zp)) return "zero point out of int8 range";
        if (!isfinite(c->inv_y_scale)) return "inv_y_scale must be finite";
        f->in[0] = f->out = mul2(c->rows, c->cols);
        f->n_consts = 1;
        f->consts[0] = 256 * 4;
        return NULL;
    }
    case I8_OP_QUANTIZE:
    case I8_OP_DEQUANTIZE: {
        const i8_plan_quant_params *c = &p->quant;
        if (c->n < 0) return "n must be >= 0";
        if (!(c->scale > 0.0f) || !isfinite(c->scale)) return "scale must be finite and > 0";
        if (!zp_ok(c->zp)) return "zero point out of int8 range";
        if (c->c < 0 || c->hw < 0) return "c and hw must be >= 0";
        if (c->c > 0 && (c->hw == 0 || c->n % c->c || (c->n / c->c) % c->hw))
            return "n must be a multiple of c * hw";
        f->in[0] = d->kind == I8_OP_QUANTIZE ? mul2(c->n, 4) : c->n;
        f->out = d->kind == I8_OP_QUANTIZE ? c->n : mul2(c->n, 4);
        return NULL;
    }
    case I8_OP_TRANSPOSE: {
        const i8_plan_transpose_params *c = &p->transpose;
        if (c->ndim < 1 || c->ndim > I8_MAX_DIMS) return "ndim must be in [1, I8_MAX_DIMS]";
        if (!elem_ok(c->elem_size)) return "elem_size must be 1, 2, 4 or 8";
        int seen[I8_MAX_DIMS] = {0};
        for (int32_t i = 0; i < c->ndim; i++) {
            if (c->perm[i] < 0 || c->perm[i] >= c->ndim || seen[c->perm[i]]++)
                return "perm is not a permutation of 0..ndim-1";
            if (c->shape[i] < 0) return "shape must be >= 0";
        }
        f->in[0] = f->out = mul2(prod(c->ndim, c->shape), c->elem_size);
        return NULL;
    }
    case I8_OP_SLICE: {
        const i8_plan_slice_params *c = &p->slice;
        if (c->ndim < 1 || c->ndim > I8_MAX_DIMS) return "ndim must be in [1, I8_MAX_DIMS]";
        if (!elem_ok(c->elem_size)) return "elem_size must be 1, 2, 4 or 8";
        for (int32_t i = 0; i < c->ndim; i++) {
            if (c->in_shape[i] < 0 || c->out_shape[i] < 0) return "shapes must be >= 0";
            if (c->step[i] == 0 || c->step[i] == INT64_MIN) return "step must be non-zero";
        }
        f->in[0] = mul2(prod(c->ndim, c->in_shape), c->elem_size);
        f->out = mul2(prod(c->ndim, c->out_shape), c->elem_size);
        if (f->out > 0) {
            for (int32_t i = 0; i < c->ndim; i++) {
                /* first and last index read on this axis must lie in [0, in_shape) */
                int64_t s = c->start[i], n = c->out_shape[i] - 1, st = c->step[i];
                if (s < 0 || s >= c->in_shape[i]) return "start out of range";
                if (st > 0 ? n > (c->in_shape[i] - 1 - s) / st : n > s / -st)
                    return "start + (out_shape - 1) * step out of range";
            }
        }
        return NULL;
    }
    case I8_OP_PAD: {
        const i8_plan_pad_params *c = &p->pad;
        if (c->ndim < 1 || c->ndim > I8_MAX_DIMS) return "ndim must be in [1, I8_MAX_DIMS]";
        if (!elem_ok(c->elem_size)) return "elem_size must be 1, 2, 4 or 8";
        if (c->mode < 0 || c->mode > 2) return "mode must be 0 (constant), 1 (reflect), 2 (edge)";
        int64_t out_shape[I8_MAX_DIMS];
        for (int32_t i = 0; i < c->ndim; i++) {
            int64_t in = c->in_shape[i], b = c->pad_before[i], a = c->pad_after[i];
            if (in < 0) return "in_shape must be >= 0";
            /* a negative pad_after may also crop the leading pad (ONNX Pad allows it; the
             * kernel clips the leading run to the output) */
            if (b < -in || b > INT32_MAX || a > INT32_MAX || a < -in - (b > 0 ? b : 0))
                return "pad out of range";
            out_shape[i] = in + b + a;
            if (out_shape[i] < 0) return "pads crop more than the input";
            /* reflect and edge have no value to fall back on when the axis is empty */
            if (c->mode != 0 && out_shape[i] > 0 && in == 0)
                return "reflect / edge pad of an empty axis";
        }
        f->in[0] = mul2(prod(c->ndim, c->in_shape), c->elem_size);
        f->out = mul2(prod(c->ndim, out_shape), c->elem_size);
        if (c->mode == 0) {
            f->n_consts = 1;
            f->consts[0] = c->elem_size;
        }
        return NULL;
    }
    case I8_OP_COPY:
        if (p->copy.nbytes < 0) return "nbytes must be >= 0";
        f->in[0] = f->out = p->copy.nbytes;
        return NULL;
    case I8_OP_F32_BINARY: {
        const i8_plan_f32_binary_params *c = &p->f32_binary;
        const int arith = c->op >= I8_F32_ADD && c->op < I8_F32_ARITH_END;
        const int cmp = c->op >= I8_F32_EQUAL && c->op <= I8_F32_GREATER_EQUAL;
        const int logic = c->op >= I8_F32_AND && c->op <= I8_F32_XOR;
        if (!(arith && c->type == I8_F32_T_F32) && !(cmp && (c->type == I8_F32_T_F32 ||
                                                          c->type == I8_F32_T_I64)) &&
            !(logic && c->type == I8_F32_T_U8))
            return "op / operand type combination not supported";
        if (!shape_ok(&c->s, 1)) return "shape must have 1..8 dims >= 0";
        for (int32_t i = 0; i < c->s.ndim; i++)
            if (c->a_stride[i] < 0 || c->b_stride[i] < 0) return "strides must be >= 0";
        f->n_inputs = 2;
        f->in[0] = strided_need(&c->s, c->a_stride, 0, type_size(c->type));
        f->in[1] = strided_need(&c->s, c->b_stride, 0, type_size(c->type));
        f->out = mul2(prod(c->s.ndim, c->s.shape), arith ? 4 : 1);
        return NULL;
    }
    case I8_OP_F32_UNARY: {
        const i8_plan_f32_unary_params *c = &p->f32_unary;
        if (c->op < I8_F32_RELU || c->op > I8_F32_HARD_SWISH_AFFINE) return "unknown unary op";
        if (c->n < 0) return "n must be >= 0";
        f->in[0] = f->out = mul2(c->n, c->op == I8_F32_NOT ? 1 : 4);
        return NULL;
    }
    case I8_OP_LAYERNORM: {
        const i8_plan_layernorm_params *c = &p->layernorm;
        if (c->rows < 0 || c->cols < 1) return "rows must be >= 0 and cols >= 1";
        if (c->has_beta != 0 && c->has_beta != 1) return "has_beta must be 0 or 1";
        if (c->has_residual != 0 && c->has_residual != 1) return "has_residual must be 0 or 1";
        f->in[0] = f->out = mul2(mul2(c->rows, c->cols), 4);
        f->n_inputs = 1 + c->has_residual;
        f->in[1] = f->in[0];
        f->scratch = c->has_residual ? mul2(c->cols, 4) : 0;
        f->n_consts = 1 + c->has_beta;
        f->consts[0] = f->consts[1] = mul2(c->cols, 4);
        return NULL;
    }
    case I8_OP_F32_SOFTMAX:
        if (p->rows.rows < 0 || p->rows.cols < 1) return "rows must be >= 0 and cols >= 1";
        f->in[0] = f->out = mul2(mul2(p->rows.rows, p->rows.cols), 4);
        return NULL;
    case I8_OP_REDUCE: {
        const i8_plan_reduce_params *c = &p->reduce;
        if (c->op < 0 || c->op > 2) return "op must be 0 (sum), 1 (mean) or 2 (max)";
        if (c->outer < 0 || c->r < 1 || c->inner < 0) return "outer, inner >= 0 and r >= 1";
        f->in[0] = mul2(prod4(c->outer, c->r, c->inner, 1), 4);
        f->out = mul2(mul2(c->outer, c->inner), 4);
        return NULL;
    }
    case I8_OP_MATMUL: {
        const i8_plan_matmul_params *c = &p->matmul;
        if (!shape_ok(&c->batch, 0)) return "batch shape must have 0..8 dims >= 0";
        if (c->m < 1 || c->k < 1 || c->n < 1) return "m, k, n must be >= 1";
        if (c->lda < c->k || c->ldb < c->n) return "lda must be >= k and ldb >= n";
        for (int32_t i = 0; i < c->batch.ndim; i++)
            if (c->a_stride[i] < 0 || c->b_stride[i] < 0) return "batch strides must be >= 0";
        f->n_inputs = 2;
        /* the last element of the last matrix: batch offset + (m-1) lda + k - 1 */
        const int64_t ea = strided_need(&c->batch, c->a_stride, 0, 1);
        const int64_t eb = strided_need(&c->batch, c->b_stride, 0, 1);
        f->in[0] = ea == 0 ? 0 : mul2(add2(ea - 1, add2(mul2(c->m - 1, c->lda), c->k)), 4);
        f->in[1] = eb == 0 ? 0 : mul2(add2(eb - 1, add2(mul2(c->k - 1, c->ldb), c->n)), 4);
        f->out = mul2(prod4(prod(c->batch.ndim, c->batch.shape), c->m, c->n, 4), 1);
        return NULL;
    }
    case I8_OP_GATHER: {
        const i8_plan_gather_params *c = &p->gather;
        if (c->outer < 0 || c->axis < 0 || c->inner < 0 || c->nidx < 0)
            return "outer, axis, inner and nidx must be >= 0";
        if (!elem_ok(c->elem_size)) return "elem_size must be 1, 2, 4 or 8";
        f->n_inputs = 2;
        f->in[0] = mul2(prod4(c->outer, c->axis, c->inner, 1), c->elem_size);
        f->in[1] = mul2(c->nidx, 8);
        f->out = mul2(prod4(c->outer, c->nidx, c->inner, 1), c->elem_size);
        return NULL;
    }
    case I8_OP_STRIDED_COPY: {
        const i8_plan_strided_copy_params *c = &p->strided_copy;
        if (!shape_ok(&c->s, 1)) return "shape must have 1..8 dims >= 0";
        if (!elem_ok(c->elem_size)) return "elem_size must be 1, 2, 4 or 8";
        f->in[0] = strided_need(&c->s, c->x_stride, c->x_offset, c->elem_size);
        f->out = strided_need(&c->s, c->y_stride, c->y_offset, c->elem_size);
        if (f->in[0] == BAD || f->out == BAD)
            return "an element index is negative or overflows (offset, strides)";
        return NULL;
    }
    case I8_OP_CAST: {
        const i8_plan_cast_params *c = &p->cast;
        if (!type_size(c->from) || !type_size(c->to)) return "unknown element type";
        if (c->n < 0) return "n must be >= 0";
        f->in[0] = mul2(c->n, type_size(c->from));
        f->out = mul2(c->n, type_size(c->to));
        return NULL;
    }
    case I8_OP_WHERE: {
        const i8_plan_where_params *c = &p->where;
        if (!shape_ok(&c->s, 1)) return "shape must have 1..8 dims >= 0";
        if (!elem_ok(c->elem_size)) return "elem_size must be 1, 2, 4 or 8";
        for (int32_t i = 0; i < c->s.ndim; i++)
            if (c->c_stride[i] < 0 || c->a_stride[i] < 0 || c->b_stride[i] < 0)
                return "strides must be >= 0";
        f->n_inputs = 3;
        f->in[0] = strided_need(&c->s, c->c_stride, 0, 1);
        f->in[1] = strided_need(&c->s, c->a_stride, 0, c->elem_size);
        f->in[2] = strided_need(&c->s, c->b_stride, 0, c->elem_size);
        f->out = mul2(prod(c->s.ndim, c->s.shape), c->elem_size);
        return NULL;
    }
    case I8_OP_DYNQ_MATMUL: {
        const i8_plan_dynq_params *c = &p->dynq;
        if (c->m < 1 || c->n < 1 || c->k < 1) return "m, n, k must be >= 1";
        if ((c->per_row != 0 && c->per_row != 1) || (c->has_bias != 0 && c->has_bias != 1))
            return "per_row and has_bias must be 0 or 1";
        if (c->act != I8_DQ_ACT_NONE && c->act != I8_DQ_ACT_GELU_ERF) return "act must be 0 or 1";
        if (mul2(c->m, c->k) > INT64_MAX / 8) return "m * k too large";
        f->n_inputs = 2;
        f->in[0] = mul2(mul2(c->m, c->k), 4);
        f->in[1] = (int64_t)i8_dq_packed_size(c->n, c->k);
        f->out = mul2(mul2(c->m, c->n), 4);
        f->n_consts = c->has_bias;
        f->consts[0] = mul2(c->n, 4);
        f->scratch = (int64_t)i8_dq_scratch_size(c->m, c->k);
        return NULL;
    }
    case I8_OP_WO_MATMUL: {
        const i8_plan_wo_params *c = &p->wo;
        if (c->m < 1 || c->n < 1 || c->k < 1 || c->group < 1) return "m, n, k, group must be >= 1";
        if (c->bits != 4 && c->bits != 8) return "bits must be 4 or 8";
        if (c->k % c->group || (c->bits == 4 && c->group % 2))
            return "group must divide k (and be even for 4 bits)";
        if (c->has_bias != 0 && c->has_bias != 1) return "has_bias must be 0 or 1";
        if (c->bits == 4) { /* W4A8: inputs x, the i8_w4_pack blocks */
            if (c->group % 8) return "group must be a multiple of 8 for 4 bits";
            f->n_inputs = 2;
            f->in[0] = mul2(mul2(c->m, c->k), 4);
            f->in[1] = mul2(mul2((c->n + 15) / 16, c->k / c->group),
                            add2(mul2(c->group, 8), 192));
            f->out = mul2(mul2(c->m, c->n), 4);
            f->n_consts = c->has_bias;
            f->consts[0] = mul2(c->n, 4);
            /* i8_w4_scratch_size: u8 rows, row scales */
            f->scratch = add2(add2(mul2(c->m, c->k), mul2(c->m, 4)), 192);
            return NULL;
        }
        f->n_inputs = 3;
        f->in[0] = mul2(mul2(c->m, c->k), 4);
        f->in[1] = mul2(c->n, c->k);
        f->in[2] = mul2(mul2(c->n, c->k / c->group), 4);
        f->out = mul2(mul2(c->m, c->n), 4);
        f->n_consts = c->has_bias;
        f->consts[0] = mul2(c->n, 4);
        f->scratch = mul2(mul2(c->k, 64), 4); /* i8_wo_scratch_size: a k x 64 float panel */
        return NULL;
    }
    case I8_OP_WO_GATHER: {
        const i8_plan_wo_gather_params *c = &p->wo_gather;
        if (c->rows < 1 || c->cols < 1 || c->group < 1 || c->nidx < 0)
            return "rows, cols, group must be >= 1 and nidx >= 0";
        if (c->bits != 4 && c->bits != 8) return "bits must be 4 or 8";
        if (c->cols % c->group || (c->bits == 4 && c->group % 2))
            return "group must divide cols (and be even for 4 bits)";
        f->n_inputs = 3;
        f->in[0] = mul2(c->nidx, 8);
        f->in[1] = c->bits == 8 ? mul2(c->rows, c->cols) : mul2(c->rows, c->cols / 2);
        f->in[2] = mul2(mul2(c->rows, c->cols / c->group), 4);
        f->out = mul2(mul2(c->nidx, c->cols), 4);
        return NULL;
    }
    case I8_OP_RNN: {
        const i8_rnn_params *c = &p->rnn;
        const char *why = i8_rnn_check(c);
        if (why) return why;
        const int64_t dbh = c->dirs * c->batch * c->hidden;
        const int64_t gh = (c->cell == 0 ? 4 : 3) * c->hidden;
        f->n_inputs = c->has_h0 || c->has_c0 ? 3 : 2;
        f->in[0] = mul2(mul2(mul2(c->seq, c->batch), c->input), 4);
        f->in[1] = (int64_t)i8_rnn_packed_size(c);
        f->in[2] = mul2(mul2(dbh, c->has_h0 + c->has_c0), 4);
        f->out = mul2(i8_rnn_out_size(c), 4);
        f->n_consts = 1 + c->has_lens;
        f->consts[0] = mul2(mul2(c->dirs, 2 * gh), 4);
        f->consts[1] = mul2(c->batch, 4);
        f->scratch = (int64_t)i8_rnn_scratch_size(c);
        return NULL;
    }
    case I8_OP_DQ_CONV: {
        const i8_dqconv_params *c = &p->dqconv;
        const char *why = i8_dqconv_check(c);
        if (why) return why;
        f->n_inputs = 2;
        f->in[0] = mul2(mul2(mul2(mul2(c->n, c->c), c->h), c->w), 4);
        f->in[1] = (int64_t)i8_dq_packed_size((int32_t)c->m, (int32_t)(c->c * c->kh * c->kw));
        f->out = mul2(mul2(mul2(mul2(c->n, c->m), c->oh), c->ow), 4);
        f->n_consts = c->has_bias;
        f->consts[0] = mul2(c->m, 4);
        f->scratch = (int64_t)i8_dqconv_scratch_size(c);
        return NULL;
    }
    case I8_OP_ATTENTION: {
        const i8_f32_attention_params *c = &p->attention;
        if (c->batch < 1 || c->heads < 1 || c->lq < 1 || c->lk < 1 || c->dh < 1)
            return "batch, heads, lq, lk, dh must be >= 1";
        if ((c->divide != 0 && c->divide != 1) || (c->has_mask != 0 && c->has_mask != 1))
            return "divide and has_mask must be 0 or 1";
        if (!isfinite(c->scale) || c->scale == 0.0f) return "scale must be finite and non-zero";
        if (c->q_stride[3] != 1 || c->v_stride[3] != 1 || c->y_stride[3] != 1 ||
            (c->k_stride[3] != 1 && c->k_stride[2] != 1))
            return "q, v, y need stride 1 along dh, kt along lk or dh";
        for (int i = 0; i < 4; i++)
            if (c->q_stride[i] < 0 || c->k_stride[i] < 0 || c->v_stride[i] < 0 ||
                c->y_stride[i] < 0)
                return "strides must be >= 0";
        i8_f32_shape qsh = {4, {c->batch, c->heads, c->lq, c->dh}};
        i8_f32_shape ksh = {4, {c->batch, c->heads, c->dh, c->lk}};
        i8_f32_shape vsh = {4, {c->batch, c->heads, c->lk, c->dh}};
        f->n_inputs = 3 + c->has_mask;
        f->in[0] = strided_need(&qsh, c->q_stride, 0, 4);
        f->in[1] = strided_need(&ksh, c->k_stride, 0, 4);
        f->in[2] = strided_need(&vsh, c->v_stride, 0, 4);
        f->out = strided_need(&qsh, c->y_stride, 0, 4);
        if (f->in[0] == BAD || f->in[1] == BAD || f->in[2] == BAD || f->out == BAD)
            return "strides overflow";
        if (c->has_mask) {
            i8_f32_shape ms = {4, {c->batch, c->heads, c->lq, c->lk}};
            for (int i = 0; i < 4; i++)
                if (c->mask_stride[i] < 0) return "mask strides must be >= 0";
            f->in[3] = strided_need(&ms, c->mask_stride, 0, 4);
            if (f->in[3] == BAD) return "mask strides overflow";
        }
        f->scratch = (int64_t)i8_f32_attention_scratch_size(c);
        if (mul2(mul2(add2(I8_F32_ATT_ROWS, mul2(2, c->dh)), c->lk), 4) == BAD)
            return "scratch size overflows";
        return NULL;
    }
    default:
        return "unknown op kind";
    }
}

/* Checks one reference: container exists, region lies inside it (ARENA: at finalize), region
 * holds `need` bytes. */
static int check_ref(i8_plan *plan, int op, const char *what, const i8_buf_ref *r, int64_t need,
                     int writable) {
    if (r->offset < 0 || r->nbytes < 0 || r->offset > INT64_MAX - r->nbytes)
        return fail(plan, I8_EINVAL, "op %d: %s: negative or overflowing offset / nbytes", op,
                    what);
    int64_t cap = -1;
    switch (r->kind) {
    case I8_REF_ARENA: break;
    case I8_REF_INPUT:
        if (writable) return fail(plan, I8_EINVAL, "op %d: %s: model inputs are read only", op, what);
        if (r->index < 0 || r->index >= plan->n_inputs)
            return fail(plan, I8_EINVAL, "op %d: %s: no model input %d", op, what, r->index);
        cap = plan->input_nbytes[r->index];
        break;
    case I8_REF_OUTPUT:
        if (r->index < 0 || r->index >= plan->n_outputs)
            return fail(plan, I8_EINVAL, "op %d: %s: no model output %d", op, what, r->index);
        cap = plan->output_nbytes[r->index];
        break;
    case I8_REF_CONST:
        if (writable) return fail(plan, I8_EINVAL, "op %d: %s: constants are read only", op, what);
        if (r->index < 0 || r->index >= plan->n_consts)
            return fail(plan, I8_EINVAL, "op %d: %s: no constant %d", op, what, r->index);
        cap = plan->const_nbytes[r->index];
        break;
    default:
        return fail(plan, I8_EINVAL, "op %d: %s: unknown reference kind %d", op, what, r->kind);
    }
    if (cap >= 0 && r->offset + r->nbytes > cap)
        return fail(plan, I8_EINVAL, "op %d: %s: region [%lld, %lld) exceeds its %lld-byte buffer",
                    op, what, (long long)r->offset, (long long)(r->offset + r->nbytes),
                    (long long)cap);
    if (need > r->nbytes)
        return fail(plan, I8_EINVAL, "op %d: %s: kernel needs %lld bytes, buffer has %lld", op,
                    what, (long long)need, (long long)r->nbytes);
    return I8_OK;
}

static int same_container(const i8_buf_ref *a, const i8_buf_ref *b) {
    return a->kind == b->kind && (a->kind == I8_REF_ARENA || a->index == b->index);
}

static int overlap(const i8_buf_ref *a, const i8_buf_ref *b) {
    return same_container(a, b) && a->nbytes > 0 && b->nbytes > 0 &&
           a->offset < b->offset + b->nbytes && b->offset < a->offset + a->nbytes;
}

/* ---- building ------------------------------------------------------------------------------ */
int i8_plan_create(int32_t n_inputs, const int64_t *input_nbytes, int32_t n_outputs,
                   const int64_t *output_nbytes, i8_plan **out) {
    if (!out || n_inputs < 0 || n_outputs < 0 || (n_inputs && !input_nbytes) ||
        (n_outputs && !output_nbytes))
        return I8_EINVAL;
    *out = NULL;
    for (int32_t i = 0; i < n_inputs; i++)
        if (input_nbytes[i] < 0) return I8_EINVAL;
    for (int32_t i = 0; i < n_outputs; i++)
        if (output_nbytes[i] < 0) return I8_EINVAL;
    i8_plan *plan = calloc(1, sizeof *plan);
    if (!plan) return I8_ENOMEM;
    plan->n_inputs = n_inputs;
    plan->n_outputs = n_outputs;
    plan->input_nbytes = malloc(sizeof(int64_t) * (size_t)(n_inputs + 1));
    plan->output_nbytes = malloc(sizeof(int64_t) * (size_t)(n_outputs + 1));
    if (!plan->input_nbytes || !plan->output_nbytes) {
        i8_plan_destroy(plan);
        return I8_ENOMEM;
    }
    if (n_inputs) memcpy(plan->input_nbytes, input_nbytes, sizeof(int64_t) * (size_t)n_inputs);
    if (n_outputs)
        memcpy(plan->output_nbytes, output_nbytes, sizeof(int64_t) * (size_t)n_outputs);
    *out = plan;
    return I8_OK;
}

void i8_plan_destroy(i8_plan *plan) {
    if (!plan) return;
    for (int32_t i = 0; i < plan->n_ops; i++)
        for (int j = plan->ops[i].weights_borrowed; j < I8_PLAN_MAX_CONSTS; j++)
            free64(plan->ops[i].owned[j]);
    for (int32_t i = 0; i < plan->n_consts; i++)
        if (!plan->const_borrowed[i]) free64(plan->consts[i]);
    free(plan->ops);
    free(plan->consts);
    free(plan->const_nbytes);
    free(plan->const_borrowed);
    free(plan->input_nbytes);
    free(plan->output_nbytes);
    free(plan);
}

const char *i8_plan_error(const i8_plan *plan) { return plan ? plan->err : "null plan"; }
int32_t i8_plan_num_ops(const i8_plan *plan) { return plan ? plan->n_ops : 0; }
int64_t i8_plan_scratch_nbytes(const i8_plan *plan) { return plan ? plan->scratch_nbytes : 0; }

int64_t i8_plan_arena_total(const i8_plan *plan) {
    return plan ? plan->arena_nbytes + plan->scratch_nbytes : 0;
}

static void *copy64(const void *src, int64_t n) {
    void *dst = alloc64(n > 0 ? (size_t)n : 1);
    if (dst && n > 0) memcpy(dst, src, (size_t)n);
    return dst;
}

static int add_const(i8_plan *plan, const void *data, int64_t nbytes, int32_t *index,
                     int borrow) {
    if (!plan) return I8_EINVAL;
    plan->err[0] = 0;
    if (plan->finalized) return fail(plan, I8_ESTATE, "add_const after finalize");
    if (!index || nbytes < 0 || (nbytes > 0 && !data))
        return fail(plan, I8_EINVAL, "add_const: null pointer or negative size");
    if (borrow && ((uintptr_t)data % ALIGN || !data))
        return fail(plan, I8_EINVAL, "add_const_ref: data must be 64-byte aligned");
    if (plan->n_consts == plan->cap_consts) {
        int32_t cap = plan->cap_consts ? 2 * plan->cap_consts : 8;
        void **c = realloc(plan->consts, sizeof(void *) * (size_t)cap);
        if (!c) return fail(plan, I8_ENOMEM, "add_const: out of memory");
        plan->consts = c;
        int64_t *s = realloc(plan->const_nbytes, sizeof(int64_t) * (size_t)cap);
        if (!s) return fail(plan, I8_ENOMEM, "add_const: out of memory");
        plan->const_nbytes = s;
        unsigned char *b = realloc(plan->const_borrowed, (size_t)cap);
        if (!b) return fail(plan, I8_ENOMEM, "add_const: out of memory");
        plan->const_borrowed = b;
        plan->cap_consts = cap;
    }
    void *copy = borrow ? (void *)data : copy64(data, nbytes);
    if (!copy) return fail(plan, I8_ENOMEM, "add_const: out of memory");
    plan->consts[plan->n_consts] = copy;
    plan->const_nbytes[plan->n_consts] = nbytes;
    plan->const_borrowed[plan->n_consts] = (unsigned char)borrow;
    *index = plan->n_consts++;
    return I8_OK;
}

int i8_plan_add_const(i8_plan *plan, const void *data, int64_t nbytes, int32_t *index) {
    return add_const(plan, data, nbytes, index, 0);
}

int i8_plan_add_const_ref(i8_plan *plan, const void *data, int64_t nbytes, int32_t *index) {
    return add_const(plan, data, nbytes, index, 1);
}

/* Range checks on const data the kernels index with (index maps, table sums). */
static const char *check_const_values(const i8_op_desc *d) {
    const i8_op_params *p = &d->params;
    if (d->kind == I8_OP_RESIZE_NEAREST) {
        if (!int32_range(d->consts[0], p->resize_nearest.oh, 0, p->resize_nearest.h - 1) ||
            !int32_range(d->consts[1], p->resize_nearest.ow, 0, p->resize_nearest.w - 1))
            return "index map entry out of [0, h) / [0, w)";
    } else if (d->kind == I8_OP_RESIZE_BILINEAR) {
        const i8_resize_bilinear_params *c = &p->resize_bilinear;
        if (!int32_range(d->consts[0], c->oh, 0, c->h - 1) ||
            !int32_range(d->consts[1], c->oh, 0, c->h - 1) ||
            !int32_range(d->consts[3], c->ow, 0, c->w - 1) ||
            !int32_range(d->consts[4], c->ow, 0, c->w - 1))
            return "y0 / y1 / x0 / x1 entry out of [0, h) / [0, w)";
        if (!int32_range(d->consts[2], c->oh, 0, 2048) || !int32_range(d->consts[5], c->ow, 0, 2048))
            return "fy / fx entry out of [0, 2048]";
    } else if (d->kind == I8_OP_RNN && p->rnn.has_lens) {
        if (!int32_range(d->consts[1], p->rnn.batch, 1, (int32_t)p->rnn.seq))
            return "sequence_lens entry out of [1, seq]";
    } else if (d->kind == I8_OP_AVGPOOL) {
        /* a non-finite multiplier saturates every output silently (the removed avgpool
         * binding refused it; the plan is the one place left to check) */
        const float *m = d->consts[0];
        const int64_t n = (int64_t)p->pool.kh * p->pool.kw + 1;
        for (int64_t i = 0; i < n; i++)
            if (!isfinite(m[i])) return "mult_by_count entries must be finite";
    } else if (d->kind == I8_OP_SOFTMAX) {
        /* entry 0 (the row maximum itself) > 0 and none negative: the row sum is never 0 */
        const int32_t *t = d->consts[0];
        if (t[0] <= 0 || !int32_range(t, 256, 0, INT32_MAX))
            return "exp_table must be >= 0 with exp_table[0] > 0";
    }
    return NULL;
}

/* ---- weights packed once per model (plan.h i8_plan_pack_weights) --------------------------- *
 * Blob = a PACK_HEADER-byte header, then the kernel's packed stream (so the stream stays
 * 64-byte aligned). The header's key is the op's param struct with the size fields a new input
 * shape changes set to 0: the packing reads none of them (conv2d picks its algorithm from the
 * geometry and channels alone, fc packs n x k), so one blob serves every batch size. Every
 * field of these structs is 4 bytes wide, so a struct copy has no padding bytes to compare. */
#define PACK_HEADER 256
#define PACK_MAGIC 0x4b503849u /* "I8PK" */

typedef struct {
    uint32_t magic;
    int32_t kind;
    int64_t stream_bytes;
    unsigned char key[PACK_HEADER - 16];
} pack_header;

_Static_assert(sizeof(pack_header) == PACK_HEADER, "pack header size");
_Static_assert(sizeof(i8_conv2d_params) <= PACK_HEADER - 16, "conv2d key too large");
_Static_assert(sizeof(i8_fc_params) <= PACK_HEADER - 16, "fc key too large");
_Static_assert(sizeof(i8_f32_conv2d_params) <= PACK_HEADER - 16, "conv2d_f32 key too large");
_Static_assert(sizeof(i8_f32_fc_params) <= PACK_HEADER - 16, "fc_f32 key too large");

/* the weight consts a packed blob replaces (0: the kind has no packed weights) */
static int weight_consts(int32_t kind) {
    return kind == I8_OP_CONV2D || kind == I8_OP_FC ? 3
         : kind == I8_OP_CONV2D_F32 || kind == I8_OP_FC_F32 ? 2 : 0;
}

static void pack_key(const i8_op_desc *d, unsigned char *key) {
    memset(key, 0, PACK_HEADER - 16);
    i8_op_params p = d->params;
    switch (d->kind) {
    case I8_OP_CONV2D:
        p.conv2d.n = p.conv2d.h = p.conv2d.w = p.conv2d.oh = p.conv2d.ow = 0;
        memcpy(key, &p.conv2d, sizeof p.conv2d);
        break;
    case I8_OP_FC:
        p.fc.m = 0;
        memcpy(key, &p.fc, sizeof p.fc);
        break;
    case I8_OP_CONV2D_F32:
        p.conv2d_f32.n = p.conv2d_f32.h = p.conv2d_f32.w = 0;
        p.conv2d_f32.oh = p.conv2d_f32.ow = 0;
        memcpy(key, &p.conv2d_f32, sizeof p.conv2d_f32);
        break;
    default:
        p.fc_f32.m = 0;
        memcpy(key, &p.fc_f32, sizeof p.fc_f32);
    }
}

/* the packed stream's bytes for a descriptor with natural consts, under the current path
 * (conv2d: the algorithm the pack step picks, which reads the path and the weights) */
static int64_t stream_size(const i8_op_desc *d) {
    switch (d->kind) {
    case I8_OP_CONV2D: return (int64_t)i8_conv2d_packed_size_w(&d->params.conv2d, d->consts[0]);
    case I8_OP_FC: return (int64_t)i8_fc_packed_size(&d->params.fc);
    case I8_OP_CONV2D_F32: return (int64_t)i8_f32_conv2d_packed_size(&d->params.conv2d_f32);
    default: return (int64_t)i8_f32_fc_packed_size(&d->params.fc_f32);
    }
}

/* the packing stream of a descriptor whose params check_params accepted, into `n` bytes
 * (stream_size's, queried before): returns the bytes written. conv2d picks its algorithm
 * again here, and writes less (its im2col stream) or nothing (0) should the kernel path have
 * changed in between; the other kinds' sizes do not depend on the path. */
static int64_t pack_stream(const i8_op_desc *d, void *out, int64_t n) {
    const i8_op_params *p = &d->params;
    switch (d->kind) {
    case I8_OP_CONV2D:
        return (int64_t)i8_conv2d_pack_n(&p->conv2d, d->consts[0], d->consts[1], d->consts[2],
                                         out, (size_t)n);
    case I8_OP_FC: i8_fc_pack(&p->fc, d->consts[0], d->consts[1], d->consts[2], out); break;
    case I8_OP_CONV2D_F32: i8_f32_conv2d_pack(&p->conv2d_f32, d->consts[0], d->consts[1], out);
                           break;
    default: i8_f32_fc_pack(&p->fc_f32, d->consts[0], d->consts[1], out);
    }
    return n;
}

/* the bytes a packed stream (nbytes, after the blob header) needs, whatever path packed it:
 * conv2d reads the algorithm its header records (-1: no header the pack step writes for
 * these params); the other kinds' streams are path independent */
static int64_t stream_need(const i8_op_desc *d, const void *stream, int64_t nbytes) {
    if (d->kind == I8_OP_CONV2D)
        return i8_conv2d_stream_bytes(&d->params.conv2d, stream, (size_t)nbytes);
    return stream_size(d);
}

/* the index of the first weight const (natural w, bias[, mult]) of the wrong size or null,
 * or -1 when they all fit */
static int bad_weight_const(const i8_op_desc *d, const footprint *f) {
    for (int i = 0; i < weight_consts(d->kind); i++)
        if (d->n_consts <= i || f->consts[i] == BAD || d->const_nbytes[i] != f->consts[i] ||
            (f->consts[i] > 0 && !d->consts[i]))
            return i;
    return -1;
}

int64_t i8_plan_packed_weights_size(const i8_op_desc *d) {
    footprint f;
    if (!d || d->kind < 0 || d->kind >= I8_OP_COUNT || !weight_consts(d->kind) ||
        d->packed_weights || check_params(d, &f) || bad_weight_const(d, &f) >= 0)
        return -1;
    int64_t n = stream_size(d);
    return n < 0 || n > INT64_MAX - PACK_HEADER ? -1 : PACK_HEADER + n;
}

int i8_plan_pack_weights(const i8_op_desc *d, void *blob, int64_t nbytes, char *err,
                         size_t err_len) {
#define PACK_FAIL(...) do { if (err && err_len) snprintf(err, err_len, __VA_ARGS__); \
                            return I8_EINVAL; } while (0)
    if (!d || !blob) PACK_FAIL("null pointer");
    if (d->kind < 0 || d->kind >= I8_OP_COUNT || !weight_consts(d->kind))
        PACK_FAIL("only conv2d, fc, conv2d_f32 and fc_f32 have packed weights");
    const char *name = OP_NAMES[d->kind];
    if (d->packed_weights) PACK_FAIL("%s: the descriptor's weights are packed already", name);
    footprint f;
    const char *msg = check_params(d, &f);
    if (msg) PACK_FAIL("%s: %s", name, msg);
    /* the consts first: the size reads the weights (conv2d's Winograd bound) */
    const int i = bad_weight_const(d, &f);
    if (i >= 0)
        PACK_FAIL("%s: const %d has %lld bytes, needs %lld", name, i,
                  (long long)(d->n_consts > i ? d->const_nbytes[i] : 0),
                  (long long)f.consts[i]);
    if (nbytes != i8_plan_packed_weights_size(d) || (uintptr_t)blob % ALIGN)
        PACK_FAIL("%s: the blob must be 64-byte aligned and %lld bytes", name,
                  (long long)i8_plan_packed_weights_size(d));
    /* the header after the stream: a blob whose stream came out another size (the path
     * changed since the size query) gets no valid header */
    memset(blob, 0, PACK_HEADER);
    if (pack_stream(d, (unsigned char *)blob + PACK_HEADER, nbytes - PACK_HEADER) !=
        nbytes - PACK_HEADER)
        PACK_FAIL("%s: the kernel path changed while packing; pack again", name);
#undef PACK_FAIL
    pack_header h;
    memset(&h, 0, sizeof h);
    h.magic = PACK_MAGIC;
    h.kind = d->kind;
    h.stream_bytes = nbytes - PACK_HEADER;
    pack_key(d, h.key);
    memcpy(blob, &h, sizeof h);
    return I8_OK;
}

/* NULL when consts[0] is a blob of exactly this op's params, whatever path packed it; else
 * why not. Every size is checked before the bytes it covers are read: the blob header, then
 * the stream's own header (conv2d: the algorithm it records), then the stream's size. */
static const char *check_blob(const i8_op_desc *d) {
    const void *blob = d->consts[0];
    if (!blob || (uintptr_t)blob % ALIGN) return "packed weights must be 64-byte aligned";
    const int64_t nbytes = d->const_nbytes[0];
    if (nbytes < PACK_HEADER) return "packed weights: wrong size";
    pack_header h, want;
    memcpy(&h, blob, sizeof h);
    memset(&want, 0, sizeof want);
    pack_key(d, want.key);
    if (h.magic != PACK_MAGIC || h.kind != d->kind || memcmp(h.key, want.key, sizeof h.key))
        return "packed weights were packed for other params";
    if (h.stream_bytes != nbytes - PACK_HEADER) return "packed weights: wrong size";
    const unsigned char *stream = (const unsigned char *)blob + PACK_HEADER;
    const int64_t need = stream_need(d, stream, h.stream_bytes);
    if (need < 0) return "packed weights: the stream header is not one packed for these params";
    if (need != h.stream_bytes) return "packed weights: wrong size for the packed algorithm";
    return NULL;
}

int i8_plan_add_op(i8_plan *plan, const i8_op_desc *d) {
    if (!plan) return I8_EINVAL;
    plan->err[0] = 0;
    if (plan->finalized) return fail(plan, I8_ESTATE, "add_op after finalize");
    const int op = plan->n_ops;
    if (!d) return fail(plan, I8_EINVAL, "op %d: null descriptor", op);
    if (d->kind < 0 || d->kind >= I8_OP_COUNT)
        return fail(plan, I8_EINVAL, "op %d: unknown kind %d", op, d->kind);
    const char *name = OP_NAMES[d->kind];

    footprint f;
    const char *msg = check_params(d, &f);
    if (msg) return fail(plan, I8_EINVAL, "op %d (%s): %s", op, name, msg);
    int bad = f.out == BAD || f.scratch == BAD;
    for (int i = 0; i < f.n_inputs; i++) bad |= f.in[i] == BAD;
    if (bad) return fail(plan, I8_EINVAL, "op %d (%s): buffer size overflows", op, name);
    if (d->n_inputs != f.n_inputs)
        return fail(plan, I8_EINVAL, "op %d (%s): takes %d inputs, got %d", op, name, f.n_inputs,
                    d->n_inputs);
    if (d->n_consts != f.n_consts)
        return fail(plan, I8_EINVAL, "op %d (%s): takes %d consts, got %d", op, name, f.n_consts,
                    d->n_consts);
    const int packed = d->packed_weights ? weight_consts(d->kind) : 0;
    if (d->packed_weights && (d->packed_weights != 1 || !packed))
        return fail(plan, I8_EINVAL, "op %d (%s): packed_weights must be 0%s", op, name,
                    weight_consts(d->kind) ? " or 1" : " (no packed weights for this kind)");
    if (packed) {
        if ((msg = check_blob(d))) return fail(plan, I8_EINVAL, "op %d (%s): %s", op, name, msg);
        for (int i = 1; i < packed; i++)
            if (d->const_nbytes[i] != 0)
                return fail(plan, I8_EINVAL, "op %d (%s): const %d must be empty with packed "
                            "weights", op, name, i);
    }
    for (int i = packed; i < f.n_consts; i++) {
        if (f.consts[i] == BAD || d->const_nbytes[i] != f.consts[i])
            return fail(plan, I8_EINVAL, "op %d (%s): const %d has %lld bytes, needs %lld", op,
                        name, i, (long long)d->const_nbytes[i], (long long)f.consts[i]);
        if (f.consts[i] > 0 && !d->consts[i])
            return fail(plan, I8_EINVAL, "op %d (%s): const %d is null", op, name, i);
    }
    msg = check_const_values(d);
    if (msg) return fail(plan, I8_EINVAL, "op %d (%s): %s", op, name, msg);

    int st;
    static const char *const IN_NAMES[I8_PLAN_MAX_INPUTS] = {"input 0", "input 1", "input 2",
                                                                  "input 3"};
    for (int i = 0; i < f.n_inputs; i++)
        if ((st = check_ref(plan, op, IN_NAMES[i], &d->inputs[i], f.in[i], 0))) return st;
    if ((st = check_ref(plan, op, "output", &d->output, f.out, 1))) return st;
    /* no kernel is specified to work in place */
    for (int i = 0; i < f.n_inputs; i++)
        if (overlap(&d->inputs[i], &d->output))
            return fail(plan, I8_EINVAL, "op %d (%s): output overlaps input %d", op, name, i);

    if (plan->n_ops == plan->cap_ops) {
        int32_t cap = plan->cap_ops ? 2 * plan->cap_ops : 16;
        i8_op *ops = realloc(plan->ops, sizeof(i8_op) * (size_t)cap);
        if (!ops) return fail(plan, I8_ENOMEM, "op %d: out of memory", op);
        plan->ops = ops;
        plan->cap_ops = cap;
    }
    i8_op *r = &plan->ops[plan->n_ops];
    memset(r, 0, sizeof *r);
    r->kind = d->kind;
    r->n_inputs = d->n_inputs;
    for (int i = 0; i < d->n_inputs; i++) r->in[i] = d->inputs[i];
    r->out = d->output;
    r->p = d->params;

    int64_t scratch = f.scratch;
    if (weight_consts(d->kind)) {
        /* conv2d / fc: weights, bias and multipliers become one packed stream in the kernel's
         * layout; float fallback: weights reordered (outputs innermost), the bias behind
         * them. Packed here, or borrowed from a blob packed once for every plan. */
        if (packed) {
            r->owned[0] = (unsigned char *)d->consts[0] + PACK_HEADER;
            r->weights_borrowed = 1;
        } else {
            int64_t n = stream_size(d);
            r->owned[0] = alloc64(n ? (size_t)n : 1);
            if (!r->owned[0])
                return fail(plan, I8_ENOMEM, "op %d (%s): out of memory", op, name);
            if (pack_stream(d, r->owned[0], n) <= 0 && n > 0) {
                free64(r->owned[0]);
                return fail(plan, I8_EINVAL, "op %d (%s): the kernel path changed while "
                            "packing", op, name);
            }
        }
        if (d->kind == I8_OP_CONV2D) /* what the stream's algorithm runs with */
            scratch = (int64_t)i8_conv2d_stream_scratch_size(&r->p.conv2d, r->owned[0]);
        else if (d->kind == I8_OP_FC)
            scratch = (int64_t)i8_fc_scratch_size(&r->p.fc);
        else if (d->kind == I8_OP_CONV2D_F32)
            scratch = (int64_t)i8_f32_conv2d_scratch_size(&r->p.conv2d_f32);
        if (f.n_consts > 3) { /* the fused table (post_check): owned[1] */
            r->owned[1] = copy64(d->consts[3], d->const_nbytes[3]);
            if (!r->owned[1]) {
                if (!r->weights_borrowed) free64(r->owned[0]);
                return fail(plan, I8_ENOMEM, "op %d (%s): out of memory", op, name);
            }
        }
    } else {
        for (int i = 0; i < f.n_consts; i++) {
            r->owned[i] = copy64(d->consts[i], d->const_nbytes[i]);
            if (!r->owned[i]) {
                for (int j = 0; j < i; j++) free64(r->owned[j]);
                return fail(plan, I8_ENOMEM, "op %d (%s): out of memory", op, name);
            }
        }
    }
    if (scratch < 0 || scratch > INT64_MAX / 2) {
        if (!r->weights_borrowed) free64(r->owned[0]);
        free64(r->owned[1]);
        return fail(plan, I8_EINVAL, "op %d (%s): scratch size overflows", op, name);
    }
    if (scratch > plan->scratch_nbytes) plan->scratch_nbytes = scratch;
    if (d->kind == I8_OP_CONV2D) r->tasks = i8_conv2d_tasks(&r->p.conv2d);
    else if (d->kind == I8_OP_FC) r->tasks = i8_fc_tasks(&r->p.fc);
    else if (d->kind == I8_OP_CONV2D_F32) r->tasks = i8_f32_conv2d_tasks(&r->p.conv2d_f32);
    else if (d->kind == I8_OP_FC_F32) r->tasks = i8_f32_fc_tasks(&r->p.fc_f32);
    else {
        i8_split_of(d->kind, &r->p, &r->split);
        r->tasks = (size_t)r->split.tasks;
    }
    if (r->tasks < 1) r->tasks = 1;
    for (int i = 0; i < d->n_inputs; i++)
        if (d->inputs[i].kind == I8_REF_ARENA && d->inputs[i].offset + d->inputs[i].nbytes >
                                                     plan->max_arena_end)
            plan->max_arena_end = d->inputs[i].offset + d->inputs[i].nbytes;
    if (d->output.kind == I8_REF_ARENA && d->output.offset + d->output.nbytes > plan->max_arena_end)
        plan->max_arena_end = d->output.offset + d->output.nbytes;
    plan->n_ops++;
    return I8_OK;
}

int i8_plan_finalize(i8_plan *plan, int64_t arena_nbytes) {
    if (!plan) return I8_EINVAL;
    plan->err[0] = 0;
    if (plan->finalized) return fail(plan, I8_ESTATE, "finalize called twice");
    if (arena_nbytes < 0 || arena_nbytes > INT64_MAX / 4)
        return fail(plan, I8_EINVAL, "finalize: arena size %lld out of range",
                    (long long)arena_nbytes);
    if (plan->max_arena_end > arena_nbytes)
        return fail(plan, I8_EINVAL, "finalize: a buffer ends at byte %lld of a %lld-byte arena",
                    (long long)plan->max_arena_end, (long long)arena_nbytes);
    /* scratch starts on a 64-byte boundary after the buffers */
    plan->arena_nbytes = (arena_nbytes + ALIGN - 1) / ALIGN * ALIGN;
    plan->scratch_nbytes = (plan->scratch_nbytes + ALIGN - 1) / ALIGN * ALIGN;
    if ((uint64_t)(plan->arena_nbytes + plan->scratch_nbytes) > (uint64_t)(SIZE_MAX / 2))
        return fail(plan, I8_EINVAL, "finalize: arena too large for this platform");
    plan->finalized = 1;
    return I8_OK;
}

/* ---- running ------------------------------------------------------------------------------- */
typedef struct {
    char *arena;
    const void *const *inputs;
    void *const *outputs;
    void *const *consts;
} bases;

static inline char *resolve(const bases *b, const i8_buf_ref *r) {
    switch (r->kind) {
    case I8_REF_ARENA: return b->arena + r->offset;
    case I8_REF_INPUT: return (char *)b->inputs[r->index] + r->offset;
    case I8_REF_OUTPUT: return (char *)b->outputs[r->index] + r->offset;
    default: return (char *)b->consts[r->index] + r->offset;
    }
}

/* The whole-op call. Returns 0, or -1 when the op refused its data (a gather index out of
 * range: the only check that depends on values, so it stays in the kernel). */
static int exec_op(const i8_op *op, const bases *b, void *scratch) {
    const i8_op_params *p = &op->p;
    const void *x = resolve(b, &op->in[0]);
    const void *x1 = op->n_inputs > 1 ? resolve(b, &op->in[1]) : NULL;
    const void *x2 = op->n_inputs > 2 ? resolve(b, &op->in[2]) : NULL;
    void *y = resolve(b, &op->out);
    void *const *c = op->owned;
    switch (op->kind) {
    case I8_OP_CONV2D: i8_conv2d_run_post(&p->conv2d, c[0], x, y, scratch, c[1], x1); break;
    case I8_OP_FC: i8_fc_run_post(&p->fc, c[0], x, y, scratch, c[1], x1); break;
    case I8_OP_ADD: i8_add_run(&p->binary, x, x1, y); break;
    case I8_OP_MUL: i8_mul_run(&p->binary, x, x1, y); break;
    case I8_OP_REQUANT_COPY:
        i8_requant_copy_run(&p->requant_copy.base, (const int8_t *)x + p->requant_copy.x_offset,
                            (int8_t *)y + p->requant_copy.y_offset);
        break;
    case I8_OP_MAXPOOL: i8_maxpool_run(&p->pool, x, y); break;
    case I8_OP_AVGPOOL: i8_avgpool_run(&p->pool, c[0], x, y); break;
    case I8_OP_GLOBAL_AVGPOOL: {
        const i8_plan_global_avgpool_params *g = &p->global_avgpool;
        i8_global_avgpool_run(g->n, g->hw, g->c, g->x_zp, g->y_zp, g->mult, g->qmin, g->qmax, x, y);
        break;
    }
    case I8_OP_LUT: i8_lut_run(p->lut.n, c[0], x, y); break;
    case I8_OP_RESIZE_NEAREST: {
        const i8_plan_resize_nearest_params *r = &p->resize_nearest;
        i8_resize_nearest_run(r->n, r->h, r->w, r->c, r->oh, r->ow, c[0], c[1],
                             (size_t)r->elem_size, x, y);
        break;
    }
    case I8_OP_RESIZE_BILINEAR:
        i8_resize_bilinear_run(&p->resize_bilinear, c[0], c[1], c[2], c[3], c[4], c[5], x, y);
        break;
    case I8_OP_SOFTMAX:
        i8_softmax_run(p->softmax.rows, p->softmax.cols, c[0], p->softmax.inv_y_scale,
                       p->softmax.y_zp, x, y);
        break;
    case I8_OP_QUANTIZE:
        if (p->quant.c > 0)
            i8_quantize_f32_nchw_run(p->quant.c, p->quant.hw, 0, p->quant.n / p->quant.c, x,
                                     p->quant.scale, p->quant.zp, y);
        else
            i8_quantize_f32_run(p->quant.n, x, p->quant.scale, p->quant.zp, y);
        break;
    case I8_OP_DEQUANTIZE:
        if (p->quant.c > 0)
            i8_dequantize_f32_nchw_run(p->quant.c, p->quant.hw, 0, p->quant.n / p->quant.c, x,
                                       p->quant.scale, p->quant.zp, y);
        else
            i8_dequantize_f32_run(p->quant.n, x, p->quant.scale, p->quant.zp, y);
        break;
    case I8_OP_TRANSPOSE:
        i8_transpose_run(p->transpose.ndim, p->transpose.shape, p->transpose.perm,
                        (size_t)p->transpose.elem_size, x, y);
        break;
    case I8_OP_SLICE:
        i8_slice_run(p->slice.ndim, p->slice.in_shape, p->slice.start, p->slice.step,
                    p->slice.out_shape, (size_t)p->slice.elem_size, x, y);
        break;
    case I8_OP_PAD:
        i8_pad_run(p->pad.ndim, p->pad.in_shape, p->pad.pad_before, p->pad.pad_after, p->pad.mode,
                  (size_t)p->pad.elem_size, c[0], x, y);
        break;
    case I8_OP_COPY:
        if (p->copy.nbytes) memcpy(y, x, (size_t)p->copy.nbytes);
        break;
    case I8_OP_CONV2D_F32: return i8_f32_conv2d_run(&p->conv2d_f32, c[0], x, y, scratch);
    case I8_OP_FC_F32: i8_f32_fc_run(&p->fc_f32, c[0], x, y); break;
    case I8_OP_F32_BINARY: {
        const i8_plan_f32_binary_params *q = &p->f32_binary;
        return i8_f32_binary_run(q->op, q->type, &q->s, x, q->a_stride, x1, q->b_stride, y);
    }
    case I8_OP_F32_UNARY:
        return i8_f32_unary_run(p->f32_unary.op, p->f32_unary.n, x, y, p->f32_unary.alpha,
                                 p->f32_unary.beta);
    case I8_OP_LAYERNORM:
        i8_f32_layernorm_res(p->layernorm.rows, p->layernorm.cols, x,
                          p->layernorm.has_residual ? x1 : NULL, c[0],
                          p->layernorm.has_beta ? c[1] : NULL, p->layernorm.eps, y, scratch);
        break;
    case I8_OP_F32_SOFTMAX: i8_f32_softmax_run(p->rows.rows, p->rows.cols, x, y); break;
    case I8_OP_REDUCE:
        i8_f32_reduce_run(p->reduce.op, p->reduce.outer, p->reduce.r, p->reduce.inner, x, y);
        break;
    case I8_OP_MATMUL: {
        const i8_plan_matmul_params *q = &p->matmul;
        i8_f32_matmul_run(&q->batch, q->a_stride, q->b_stride, q->m, q->k, q->n, x, q->lda, x1,
                           q->ldb, y);
        break;
    }
    case I8_OP_GATHER: {
        const i8_plan_gather_params *q = &p->gather;
        return i8_f32_gather_run(q->outer, q->axis, q->inner, q->elem_size, x, x1, q->nidx, y);
    }
    case I8_OP_STRIDED_COPY: {
        const i8_plan_strided_copy_params *q = &p->strided_copy;
        for (int32_t i = 0; i < q->s.ndim; i++)
            if (q->s.shape[i] == 0) return 0;
        i8_f32_strided_copy_run(&q->s, q->elem_size, x, q->x_offset, q->x_stride, y,
                                 q->y_offset, q->y_stride);
        break;
    }
    case I8_OP_CAST: i8_f32_cast_run(p->cast.n, p->cast.from, x, p->cast.to, y); break;
    case I8_OP_WHERE: {
        const i8_plan_where_params *q = &p->where;
        i8_f32_where_run(&q->s, q->elem_size, x, q->c_stride, x1, q->a_stride, x2, q->b_stride,
                          y);
        break;
    }
    case I8_OP_DYNQ_MATMUL: {
        const i8_plan_dynq_params *q = &p->dynq;
        i8_dq_matmul_act(q->m, q->n, q->k, x1, q->has_bias ? c[0] : NULL, x, q->per_row, q->act,
                        y, scratch);
        break;
    }
    case I8_OP_WO_MATMUL: {
        const i8_plan_wo_params *q = &p->wo;
        if (q->bits == 4)
            i8_w4_matmul(q->m, q->n, q->k, q->group, x, x1, q->has_bias ? c[0] : NULL, y,
                         scratch);
        else
            i8_wo_matmul_run(q->m, q->k, q->n, x, x1, q->bits, q->group, x2,
                             q->has_bias ? c[0] : NULL, y, scratch);
        break;
    }
    case I8_OP_WO_GATHER: {
        const i8_plan_wo_gather_params *q = &p->wo_gather;
        return i8_wo_gather_run(q->rows, q->cols, x1, q->bits, q->group, x2, x, q->nidx, y);
    }
    case I8_OP_RNN:
        i8_rnn_run(&p->rnn, x, x1, c[0], x2, p->rnn.has_lens ? c[1] : NULL, y, scratch);
        break;
    case I8_OP_DQ_CONV:
        i8_dqconv_run(&p->dqconv, x, x1, p->dqconv.has_bias ? c[0] : NULL, y, scratch);
        break;
    case I8_OP_F32_MAXPOOL: i8_f32_maxpool_run(&p->pool, x, y); break;
    case I8_OP_ATTENTION: {
        const i8_f32_attention_params *q = &p->attention;
        const void *x3 = op->n_inputs > 3 ? resolve(b, &op->in[3]) : NULL;
        i8_f32_attention(q, 0, q->batch * q->heads, x, x1, x2, x3, y, scratch);
        break;
    }
    }
    return 0;
}

static int64_t now_ns(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

/* ---- threads: one op's tasks over the pool (docs/PLAN.md "Threads") ---------------------- */
typedef struct {
    const i8_op *op;
    const bases *b;
    char *scratch;       /* thread t uses scratch + t * scratch_slot */
    size_t scratch_slot;
} op_job;

static void op_task(void *vjob, size_t t0, size_t t1, int32_t thread) {
    const op_job *j = vjob;
    const i8_op *op = j->op;
    const i8_op_params *p = &op->p;
    void *scratch = j->scratch ? j->scratch + (size_t)thread * j->scratch_slot : NULL;
    const void *x = resolve(j->b, &op->in[0]);
    void *y = resolve(j->b, &op->out);
    if (op->kind == I8_OP_CONV2D || op->kind == I8_OP_FC) {
        /* the fused post-ops' table (owned[1]) and residual (input 1), when present */
        const int8_t *res = op->n_inputs > 1 ? (const int8_t *)resolve(j->b, &op->in[1]) : NULL;
        if (op->kind == I8_OP_CONV2D)
            i8_conv2d_run_tasks_post(&p->conv2d, op->owned[0], x, y, scratch, t0, t1,
                                     op->owned[1], res);
        else
            i8_fc_run_tasks_post(&p->fc, op->owned[0], x, y, scratch, t0, t1, op->owned[1],
                                 res);
    } else if (op->kind == I8_OP_CONV2D_F32) {
        i8_f32_conv2d_run_tasks(&p->conv2d_f32, op->owned[0], x, y, scratch, t0, t1);
    } else if (op->kind == I8_OP_FC_F32) {
        i8_f32_fc_run_tasks(&p->fc_f32, op->owned[0], x, y, t0, t1);
    } else {
        const void *in[I8_PLAN_MAX_INPUTS] = {x, NULL, NULL, NULL};
        for (int i = 1; i < op->n_inputs; i++) in[i] = resolve(j->b, &op->in[i]);
        const int64_t per = op->split.per;
        i8_split_run(op->kind, p, op->owned, in, y, scratch, &op->split, (int64_t)t0 * per,
                     (int64_t)t1 * per);
    }
}

/* One op: split over the pool when there is one and the op has tasks to share, else the
 * plain whole-op call (so threads = 1 runs exactly the single-threaded code). Ops that can
 * refuse their data (gathers) are never split. */
static int exec_op_on(i8_pool *pool, const i8_op *op, const bases *b, char *scratch,
                      size_t scratch_slot) {
    if (pool && op->tasks > 1) {
        op_job j = {op, b, scratch, scratch_slot};
        i8_pool_run(pool, op->tasks, op_task, &j);
        return 0;
    }
    return exec_op(op, b, scratch);
}

int64_t i8_plan_arena_size(const i8_plan *plan, int32_t threads) {
    if (!plan) return 0;
    if (threads < 1) threads = 1;
    if (threads > I8_POOL_MAX_THREADS) threads = I8_POOL_MAX_THREADS;
    return plan->arena_nbytes + (int64_t)threads * plan->scratch_nbytes;
}

int i8_plan_run_arena(const i8_plan *plan, const void *const *inputs, void *const *outputs,
                      int64_t *op_ns, int32_t threads, void *arena_mem, int64_t arena_nbytes,
                      int32_t *bad_op) {
    if (!plan) return I8_EINVAL;
    if (!plan->finalized) return I8_ESTATE;
    if ((plan->n_inputs && !inputs) || (plan->n_outputs && !outputs)) return I8_EINVAL;
    for (int32_t i = 0; i < plan->n_inputs; i++)
        if (!inputs[i] && plan->input_nbytes[i]) return I8_EINVAL;
    for (int32_t i = 0; i < plan->n_outputs; i++)
        if (!outputs[i] && plan->output_nbytes[i]) return I8_EINVAL;
    if (arena_mem && ((uintptr_t)arena_mem % ALIGN || arena_nbytes < i8_plan_arena_size(plan, 1)))
        return I8_EINVAL;
    /* the pool for this run, or none (threads = 1, or another run holds it: then this run
     * is single-threaded in its caller); got = the threads this run has, caller included */
    int32_t got = 1;
    if (arena_mem && threads > 1) {
        /* no more threads than the caller's arena has scratch slots for */
        const int64_t slots = plan->scratch_nbytes
                                  ? (arena_nbytes - plan->arena_nbytes) / plan->scratch_nbytes
                                  : threads;
        if (slots < threads) threads = (int32_t)(slots > 0 ? slots : 1);
    }
    i8_pool *pool = threads > 1 ? i8_pool_acquire(threads, &got) : NULL;
    /* the plan itself is never written, so runs may overlap in time: each has its own arena
     * (the caller's, or one allocated here); the scratch part has one slot per thread */
    const size_t slot = (size_t)plan->scratch_nbytes;
    const size_t total = (size_t)plan->arena_nbytes + (size_t)got * slot;
    char *arena = arena_mem;
    if (!arena) {
        arena = total ? alloc64(total) : NULL;
        if (total && !arena) {
            i8_pool_release(pool);
            return I8_ENOMEM;
        }
    }
    bases b = {arena, inputs, outputs, (void *const *)plan->consts};
    char *scratch = arena && slot ? arena + plan->arena_nbytes : NULL;
    int st = I8_OK;
    for (int32_t i = 0; i < plan->n_ops; i++) {
        const int64_t t0 = op_ns ? now_ns() : 0;
        if (exec_op_on(pool, &plan->ops[i], &b, scratch, slot) != 0) {
            if (bad_op) *bad_op = i;
            st = I8_EDATA;
            break;
        }
        if (op_ns) op_ns[i] = now_ns() - t0;
    }
    i8_pool_release(pool);
    if (arena != arena_mem) free64(arena);
    return st;
}

int i8_plan_run(const i8_plan *plan, const void *const *inputs, void *const *outputs) {
    return i8_plan_run_arena(plan, inputs, outputs, NULL, 1, NULL, 0, NULL);
}

int i8_plan_run_profiled(const i8_plan *plan, const void *const *inputs, void *const *outputs,
                         int64_t *op_ns) {
    if (!op_ns) return I8_EINVAL;
    return i8_plan_run_arena(plan, inputs, outputs, op_ns, 1, NULL, 0, NULL);
}

int i8_plan_run_threads(const i8_plan *plan, const void *const *inputs, void *const *outputs,
                        int64_t *op_ns, int32_t threads) {
    return i8_plan_run_arena(plan, inputs, outputs, op_ns, threads, NULL, 0, NULL);
}

const void *i8_plan_op_packed(const i8_plan *plan, int32_t op) {
    if (!plan || op < 0 || op >= plan->n_ops || !weight_consts(plan->ops[op].kind)) return NULL;
    return plan->ops[op].owned[0];
}

int64_t i8_plan_op_tasks(const i8_plan *plan, int32_t op) {
    if (!plan || op < 0 || op >= plan->n_ops) return 0;
    return (int64_t)plan->ops[op].tasks;
}
