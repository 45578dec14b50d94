/* Plans re-sized in C for a new input shape (docs/PLAN.md "Shapes").
 *
 * A shape template is a plan whose sizes are shape expressions: every buffer's byte size, every
 * size parameter of every op record and every shape-dependent constant is a polynomial over the
 * shape variables (the free input dimensions: batch, sequence length), each exponent in
 * [0, I8_SHAPE_MAX_DEG]. `i8_plan_reshape` evaluates them for one set of variable values, lays
 * the arena out again (the same liveness allocator as int8rt/plan.py: largest first, first fit),
 * re-derives each op record (base descriptor + patched size fields) and builds an ordinary plan
 * through i8_plan_add_op / i8_plan_finalize, so a reshaped plan passes exactly the footprint and
 * bounds checks of a plan built from Python. Weights are borrowed from the template's constants,
 * never copied or repacked.
 *
 * The template is read only: any number of threads may reshape it at once. Its arrays belong to
 * the caller and must outlive every plan made from it (the plans borrow its constants). */
#ifndef INT8RT_RESHAPE_H
#define INT8RT_RESHAPE_H

#include <stddef.h>
#include <stdint.h>

#include "int8rt/plan.h"

#ifdef __cplusplus
extern "C" {
#endif

#define I8_SHAPE_MAX_VARS 3
#define I8_SHAPE_MAX_DEG 2

/* one term coef * v0^e0 * v1^e1 * ...: mono = e0 + 3 e1 + 9 e2 (base I8_SHAPE_MAX_DEG + 1) */
typedef struct {
    int64_t coef;
    int32_t mono;
} i8_shape_term;

typedef struct {
    int32_t first, count; /* terms[first, first + count) */
} i8_shape_expr;

enum {
    I8_TBUF_ARENA = 0,  /* an intermediate: offset from the allocator, lifetime [first, last] */
    I8_TBUF_INPUT = 1,  /* model input `index` */
    I8_TBUF_OUTPUT = 2, /* model output `index` */
    I8_TBUF_CONST = 3,  /* template const `index` from byte `offset` (a window of a table) */
    I8_TBUF_FILL = 4,   /* a constant whose elem_size-byte elements all equal `value` */
    I8_TBUF_RAMP = 5,   /* int64 elements start + step * (i mod period) (position ids) */
    I8_TBUF_TILE = 6,   /* bytes [offset, offset + period) of template const `index`, repeated
                           (a window of a table broadcast over the batch) */
};

typedef struct {
    int32_t kind, index;
    int32_t nbytes;      /* expr */
    int32_t first, last; /* ARENA: first and last op using it */
    int32_t elem_size;   /* FILL: 1, 2, 4 or 8; RAMP: 8 */
    int32_t period;      /* RAMP: expr of the period in elements; TILE: in bytes */
    int64_t offset;      /* CONST, TILE: bytes into the const */
    int64_t value, step; /* FILL: the element's bytes (little end first); RAMP: start, step */
} i8_shape_buf;

typedef struct {
    int32_t op, width; /* width 4: an int32_t field, 8: an int64_t field */
    int64_t offset;    /* byte offset of the field in the op's i8_op_desc */
    int32_t expr;
} i8_shape_patch;

typedef struct {
    int32_t n_vars;
    int32_t n_terms;
    const i8_shape_term *terms;
    int32_t n_exprs;
    const i8_shape_expr *exprs;
    int32_t n_bufs;
    const i8_shape_buf *bufs;
    int32_t n_inputs, n_outputs; /* every index in [0, n) appears once among INPUT / OUTPUT bufs */
    int32_t n_consts;
    const void *const *const_data; /* 64-byte aligned, borrowed by every plan */
    const int64_t *const_nbytes;
    int32_t n_ops;
    const i8_op_desc *ops;  /* base records; their buffer refs are replaced */
    const int32_t *op_bufs; /* n_ops x 4: buffer of input 0..2 (-1: none), of the output */
    int32_t n_patches;
    const i8_shape_patch *patches;
} i8_shape_template;

/* Evaluates every expr of `t` at `vars` (n_vars values >= 1) into values[n_exprs]. */
int i8_shape_eval(const i8_shape_template *t, const int64_t *vars, int64_t *values, char *err,
                  size_t err_len);

/* A finalized plan for `vars`; values[n_exprs] receives every expr's value (the caller reads
 * the input / output shapes there). On failure *out is NULL and err holds the reason (the
 * op-level message of i8_plan_add_op when a check refuses a record). */
int i8_plan_reshape(const i8_shape_template *t, const int64_t *vars, int64_t *values,
                    int64_t *arena_nbytes, i8_plan **out, char *err, size_t err_len);

#ifdef __cplusplus
}
#endif

#endif
