/* The float / dynamic-quantization plan: a flat list of op records over a table of buffer
 * pointers, run in one native call (docs/TRANSFORMERS.md). Built by int8rt/dynamic/plan.py
 * through int8rt/_dynamic.pxi, which checks every footprint in Python before a record is
 * added; the run loop only dispatches. */
#ifndef INT8RT_FPLAN_H
#define INT8RT_FPLAN_H

#include <stddef.h>
#include <stdint.h>

#include "int8rt/f32.h"

enum {
    I8FP_BINARY = 0, I8FP_UNARY, I8FP_LAYERNORM, I8FP_SOFTMAX, I8FP_REDUCE, I8FP_MATMUL,
    I8FP_GATHER, I8FP_COPY, I8FP_CAST, I8FP_WHERE, I8FP_DYNQ_MATMUL, I8FP_WO_MATMUL,
    I8FP_WO_GATHER,
    I8FP_KIND_COUNT
};

typedef struct {
    int32_t kind, op;
    int32_t in[3]; /* buffer indices, -1 when unused */
    int32_t out;
    int64_t p[8];  /* scalar params, per kind (fplan.c) */
    float f[2];
    i8f_shape s;
    int64_t st[3][I8F_MAXDIM]; /* element strides of the inputs (N-d kinds) */
    const void *c[3];          /* consts: plan-owned memory kept alive by the binding */
} i8fp_op;

/* Runs ops[0..n) over buffer pointers `bufs`; `scratch` holds the largest op scratch.
 * Returns -1 on success, else the index of the op that refused its data (a gather index out
 * of range). */
int64_t i8fp_run(const i8fp_op *ops, int64_t n, void *const *bufs, void *scratch);
/* nanoseconds per op into ns[0..n) */
int64_t i8fp_run_profiled(const i8fp_op *ops, int64_t n, void *const *bufs, void *scratch,
                          int64_t *ns);

#endif
