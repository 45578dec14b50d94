/* Run loop of the float / dynamic plan (int8rt/fplan.h). Params per kind:
 *   BINARY   op, p[0] element type; s, st[0], st[1]
 *   UNARY    op, p[0] n; f[0], f[1] clip bounds
 *   LAYERNORM p[0] rows, p[1] cols; f[0] eps; c[0] gamma, c[1] beta (may be NULL)
 *   SOFTMAX  p[0] rows, p[1] cols
 *   REDUCE   op, p[0] outer, p[1] r, p[2] inner
 *   MATMUL   s batch shape, st[0], st[1] batch strides; p[0] m, p[1] k, p[2] n, p[3] lda,
 *            p[4] ldb; in[1] the weights (a buffer or a const buffer)
 *   GATHER   p[0] outer, p[1] axis, p[2] inner, p[3] elem size, p[4] nidx; in[1] indices
 *   COPY     s, p[0] elem size, p[1] x offset, p[2] y offset; st[0] x, st[1] y strides
 *   CAST     p[0] n, p[1] from, p[2] to
 *   WHERE    s, p[0] elem size; st[0..2] strides of cond, a, b
 *   DYNQ_MATMUL p[0] m, p[1] n, p[2] k, p[3] per_row; c[0] packed, c[1] bias
 *   WO_MATMUL   p[0] m, p[1] k, p[2] n, p[3] bits, p[4] group; c[0] w, c[1] scales, c[2] bias
 *   WO_GATHER   p[0] rows, p[1] cols, p[2] bits, p[3] group, p[4] nidx; c[0] q, c[1] scales;
 *               in[0] the indices */
#define _POSIX_C_SOURCE 200809L
#include <time.h>

#include "int8rt/dynq.h"
#include "int8rt/fplan.h"

static int run_op(const i8fp_op *o, void *const *bufs, void *scratch) {
    const void *x = o->in[0] >= 0 ? bufs[o->in[0]] : NULL;
    const void *x1 = o->in[1] >= 0 ? bufs[o->in[1]] : NULL;
    const void *x2 = o->in[2] >= 0 ? bufs[o->in[2]] : NULL;
    void *y = bufs[o->out];
    switch (o->kind) {
    case I8FP_BINARY:
        return i8f_binary__scalar(o->op, (int32_t)o->p[0], &o->s, x, o->st[0], x1, o->st[1], y);
    case I8FP_UNARY: return i8f_unary__scalar(o->op, o->p[0], x, y, o->f[0], o->f[1]);
    case I8FP_LAYERNORM:
        i8f_layernorm__scalar(o->p[0], o->p[1], x, o->c[0], o->c[1], o->f[0], y);
        return 0;
    case I8FP_SOFTMAX: i8f_softmax__scalar(o->p[0], o->p[1], x, y); return 0;
    case I8FP_REDUCE: i8f_reduce__scalar(o->op, o->p[0], o->p[1], o->p[2], x, y); return 0;
    case I8FP_MATMUL:
        i8f_matmul__scalar(&o->s, o->st[0], o->st[1], o->p[0], o->p[1], o->p[2], x, o->p[3],
                           x1, o->p[4], y);
        return 0;
    case I8FP_GATHER:
        return i8f_gather__scalar(o->p[0], o->p[1], o->p[2], o->p[3], x, x1, o->p[4], y);
    case I8FP_COPY:
        i8f_strided_copy__scalar(&o->s, o->p[0], x, o->p[1], o->st[0], y, o->p[2], o->st[1]);
        return 0;
    case I8FP_CAST: i8f_cast__scalar(o->p[0], (int32_t)o->p[1], x, (int32_t)o->p[2], y); return 0;
    case I8FP_WHERE:
        i8f_where__scalar(&o->s, o->p[0], x, o->st[0], x1, o->st[1], x2, o->st[2], y);
        return 0;
    case I8FP_DYNQ_MATMUL:
        i8dq_matmul(o->p[0], (int32_t)o->p[1], (int32_t)o->p[2], o->c[0], o->c[1], x,
                    (int32_t)o->p[3], y, scratch);
        return 0;
    case I8FP_WO_MATMUL:
        i8wo_matmul__scalar(o->p[0], o->p[1], o->p[2], x, o->c[0], (int32_t)o->p[3], o->p[4],
                            o->c[1], o->c[2], y, scratch);
        return 0;
    case I8FP_WO_GATHER:
        return i8wo_gather__scalar(o->p[0], o->p[1], o->c[0], (int32_t)o->p[2], o->p[3], o->c[1],
                                   x, o->p[4], y);
    default: return -1;
    }
}

int64_t i8fp_run(const i8fp_op *ops, int64_t n, void *const *bufs, void *scratch) {
    for (int64_t i = 0; i < n; i++)
        if (run_op(&ops[i], bufs, scratch) != 0) return i;
    return -1;
}

static int64_t now_ns(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

int64_t i8fp_run_profiled(const i8fp_op *ops, int64_t n, void *const *bufs, void *scratch,
                          int64_t *ns) {
    for (int64_t i = 0; i < n; i++) {
        const int64_t t0 = now_ns();
        if (run_op(&ops[i], bufs, scratch) != 0) return i;
        ns[i] = now_ns() - t0;
    }
    return -1;
}
