/* Plans re-sized in C for a new input shape (docs/PLAN.md "Shapes").
 *
 * A shape template is a plan whose sizes are shape expressions: every buffer's byte size, every
 * size parameter of every op record and every shape-dependent constant is a polynomial over the
 * shape variables (the free input dimensions: batch, sequence length, image size), each exponent
 * in [0, I8_SHAPE_MAX_DEG] (an image size enters as its index j on a residue class mod the
 * graph's total stride, int8rt/image_size.py). Record data that follows the size otherwise is
 * generated: resize index maps (i8_shape_gen) and float fields derived from a size
 * (i8_shape_fpatch). `i8_plan_reshape` evaluates them for one set of variable values, lays
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

/* A record const generated for the new size: a resize's index map along one axis
 * (i8_resize_index_map, ONNX Resize coordinates in exact rational arithmetic), written to
 * consts[slot] of op `op` (int32, values of out_expr elements). */
enum {
    I8_TGEN_NEAREST = 0,   /* source index, clamped to [0, in) */
    I8_TGEN_LINEAR_I0 = 1, /* bilinear lower neighbour */
    I8_TGEN_LINEAR_I1 = 2, /* bilinear upper neighbour */
    I8_TGEN_LINEAR_W1 = 3, /* bilinear Q11 weight of the upper neighbour */
};
enum { /* coordinate_transformation_mode (int8rt/kernel_tables.py COORDINATE_MODES order) */
    I8_CTM_HALF_PIXEL = 0, I8_CTM_ASYMMETRIC = 1, I8_CTM_ALIGN_CORNERS = 2,
    I8_CTM_PYTORCH_HALF_PIXEL = 3, I8_CTM_TF_HALF_PIXEL_FOR_NN = 4,
    I8_CTM_HALF_PIXEL_SYMMETRIC = 5,
};
enum { /* nearest_mode (kernel_tables.py NEAREST_MODES order) */
    I8_NEAREST_ROUND_PREFER_FLOOR = 0, I8_NEAREST_ROUND_PREFER_CEIL = 1, I8_NEAREST_FLOOR = 2,
    I8_NEAREST_CEIL = 3,
};

typedef struct {
    int32_t op, slot;       /* the generated array is the op's consts[slot] */
    int32_t kind;           /* I8_TGEN_* */
    int32_t in_expr, out_expr;
    int32_t ctm, nearest;   /* I8_CTM_*, I8_NEAREST_* */
    int32_t scale_from_sizes; /* 1: scale = (float)((double)out / in), as lowering computes it
                               * from sizes; 0: `scale` (the model's float32 scale) */
    float scale;
} i8_shape_gen;

/* A float32 field derived from a size: (float)(num / (den * value of expr)), the double
 * arithmetic of the lowering (a global average pool's s_x / (s_y H W)). */
typedef struct {
    int32_t op, expr;
    int64_t offset; /* byte offset of the float field in the op's i8_op_desc */
    double num, den;
} i8_shape_fpatch;

/* One axis of a resize index map (kind I8_TGEN_*) into dst[out_size]: bit-identical to
 * int8rt/kernel_tables.py resize_nearest_map / resize_linear_map. scale_from_sizes as in
 * i8_shape_gen. I8_EINVAL for sizes outside [1, 2^24], a non-positive scale, or one whose
 * lowest-terms P / Q (float32 M 2^E) has P or Q above 2^32 (e.g. a scale below 2^-8 with a
 * full mantissa): the template is then refused and such sizes are planned in Python. */
int i8_resize_index_map(int32_t kind, int64_t in_size, int64_t out_size, int32_t ctm,
                        int32_t nearest, int32_t scale_from_sizes, float scale, int32_t *dst);

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
    const int32_t *op_bufs; /* n_ops x (I8_PLAN_MAX_INPUTS + 1): buffer of each input (-1:
                             * none), then of the output */
    int32_t n_patches;
    const i8_shape_patch *patches;
    int32_t n_gens; /* sorted by op */
    const i8_shape_gen *gens;
    int32_t n_fpatches; /* sorted by op */
    const i8_shape_fpatch *fpatches;
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
