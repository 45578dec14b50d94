/* int8rt plan executor: a whole inference as one native call.
 *
 * A plan is a list of op records, each one call of a kernels.h function over buffer references.
 * It is built once (create, add_const, add_op..., finalize) and is then immutable: `i8_plan_run`
 * only reads the plan and allocates its own arena, so any number of threads may run the same
 * finalized plan at the same time (each with its own input and output memory).
 *
 * Every precondition a kernel relies on for memory safety (buffer footprints, index maps in
 * range, permutations, const sizes) is checked at add-op / finalize time, so the run loop is a
 * plain dispatch with no per-op checks. See docs/PLAN.md.
 */
#ifndef INT8RT_PLAN_H
#define INT8RT_PLAN_H

#include <stddef.h>
#include <stdint.h>

#include "int8rt/f32.h"
#include "int8rt/kernels.h"
#include "int8rt/plan_ops.h"
#include "int8rt/rnn.h"
#include "int8rt/dqconv.h"
#include "kernels/f32conv/f32conv.h"

#ifdef __cplusplus
extern "C" {
#endif

/* ---- status codes ------------------------------------------------------------------------ */
enum {
    I8_OK = 0,
    I8_ENOMEM = 1, /* an allocation failed */
    I8_EINVAL = 2, /* a bad argument: null pointer, size out of range, inconsistent params */
    I8_ESTATE = 3, /* wrong build stage: add after finalize, run before finalize */
    I8_EDATA = 4,  /* run time: an op refused its input data (a gather index out of range) */
};

/* Static description of a status code (never NULL). */
const char *i8_status_str(int status);
/* The op name of record kind `kind` (the Program kernel name), or NULL when out of range. */
const char *i8_plan_op_name(int32_t kind);

/* ---- buffer references ------------------------------------------------------------------- *
 * A reference names a byte region [offset, offset + nbytes) of one container:
 *   ARENA  - the per-run arena (index unused); checked against the arena size at finalize;
 *   INPUT  - model input `index` (caller memory, read only);
 *   OUTPUT - model output `index` (caller memory);
 *   CONST  - constant `index` added with i8_plan_add_const (plan-owned, read only) or
 *            i8_plan_add_const_ref (borrowed: weights packed once and shared by the plans of
 *            every input shape; the caller keeps that memory alive and unchanged).
 * nbytes is the size of the whole buffer the program names; each op checks that its kernel's
 * footprint fits in it. */
enum { I8_REF_ARENA = 0, I8_REF_INPUT = 1, I8_REF_OUTPUT = 2, I8_REF_CONST = 3 };

typedef struct {
    int32_t kind;
    int32_t index;
    int64_t offset;
    int64_t nbytes;
} i8_buf_ref;

/* ---- op records -------------------------------------------------------------------------- */
/* The record kinds, in the order of int8rt/records.py (plan_ops.h is generated from it): the
 * enum value of a kind is its position there. */
typedef enum {
#define I8_OP_ENUM_(kind, name) kind,
    I8_PLAN_OPS(I8_OP_ENUM_)
#undef I8_OP_ENUM_
    I8_OP_COUNT
} i8_op_kind;

/* Parameters of the kernels whose C entry points take loose arguments, plus the element
 * offsets requant_copy applies to its pointers (a Concat input lands at y + y_offset). */
typedef struct {
    i8_requant_copy_params base;
    int64_t x_offset, y_offset; /* elements (= bytes: int8) */
} i8_plan_requant_copy_params;

typedef struct {
    int32_t n, hw, c;
    int32_t x_zp, y_zp;
    float mult;
    int32_t qmin, qmax;
} i8_plan_global_avgpool_params;

typedef struct {
    int64_t n;
} i8_plan_lut_params;

typedef struct {
    int32_t n, h, w, c, oh, ow;
    int64_t elem_size;
} i8_plan_resize_nearest_params;

typedef struct {
    int64_t rows, cols;
    float inv_y_scale;
    int32_t y_zp;
} i8_plan_softmax_params;

typedef struct { /* quantize and dequantize */
    int64_t n;
    float scale;
    int32_t zp;
    /* c = 0: flat. c > 0: the NCHW <-> NHWC move fused in (quantize NCHW -> NHWC, dequantize
     * NHWC -> NCHW) over n = b * c * hw elements (kernels.h, i8_quantize_f32_nchw_run) */
    int64_t c, hw;
} i8_plan_quant_params;

typedef struct {
    int32_t ndim;
    int64_t shape[I8_MAX_DIMS];
    int32_t perm[I8_MAX_DIMS];
    int64_t elem_size;
} i8_plan_transpose_params;

typedef struct {
    int32_t ndim;
    int64_t in_shape[I8_MAX_DIMS];
    int64_t start[I8_MAX_DIMS];
    int64_t step[I8_MAX_DIMS];
    int64_t out_shape[I8_MAX_DIMS];
    int64_t elem_size;
} i8_plan_slice_params;

typedef struct {
    int32_t ndim;
    int64_t in_shape[I8_MAX_DIMS];
    int64_t pad_before[I8_MAX_DIMS];
    int64_t pad_after[I8_MAX_DIMS];
    int32_t mode; /* 0 constant, 1 reflect, 2 edge */
    int64_t elem_size;
} i8_plan_pad_params;

typedef struct {
    int64_t nbytes;
} i8_plan_copy_params;

/* ---- params of the float32 / dynamic / weight-only records (docs/PLAN.md "Record kinds");
 * element strides (int64, 0 broadcasts) address the inputs, outputs are contiguous. */
typedef struct {
    int32_t op, type; /* I8_F32_ADD.. / I8_F32_EQUAL.. / I8_F32_AND..; operand type I8_F32_T_* */
    i8_f32_shape s;
    int64_t a_stride[I8_F32_MAXDIM], b_stride[I8_F32_MAXDIM];
} i8_plan_f32_binary_params;

typedef struct {
    int32_t op; /* I8_F32_RELU.. */
    int64_t n;
    float alpha, beta; /* clip bounds */
} i8_plan_f32_unary_params;

typedef struct {
    int64_t rows, cols;
    float eps;
    int32_t has_beta; /* consts: gamma [cols] (and beta [cols]) float32 */
    int32_t has_residual; /* 1: a second input [rows, cols] added first (Add -> LayerNorm) */
} i8_plan_layernorm_params;

typedef struct {
    int64_t rows, cols;
} i8_plan_rows_params; /* f32 softmax */

typedef struct {
    int32_t op; /* 0 sum, 1 mean, 2 max */
    int64_t outer, r, inner;
} i8_plan_reduce_params;

typedef struct {
    i8_f32_shape batch; /* ndim 0: one matrix */
    int64_t a_stride[I8_F32_MAXDIM], b_stride[I8_F32_MAXDIM]; /* batch strides, elements */
    int64_t m, k, n, lda, ldb;
} i8_plan_matmul_params; /* inputs a, b (b may be a CONST ref: float weights) */

typedef struct {
    int64_t outer, axis, inner, elem_size, nidx;
} i8_plan_gather_params; /* inputs x, idx (int64) */

typedef struct {
    i8_f32_shape s;
    int64_t elem_size, x_offset, y_offset; /* offsets in elements */
    int64_t x_stride[I8_F32_MAXDIM], y_stride[I8_F32_MAXDIM]; /* may be negative (reversed slices) */
} i8_plan_strided_copy_params;

typedef struct {
    int64_t n;
    int32_t from, to; /* I8_F32_T_* */
} i8_plan_cast_params;

typedef struct {
    i8_f32_shape s;
    int64_t elem_size;
    int64_t c_stride[I8_F32_MAXDIM], a_stride[I8_F32_MAXDIM], b_stride[I8_F32_MAXDIM];
} i8_plan_where_params; /* inputs cond (uint8), a, b */

typedef struct {
    int64_t m;
    int32_t n, k, per_row, has_bias;
    int32_t act; /* I8_DQ_ACT_*: GELU fused into the epilogue (int8rt/dynq.h) */
} i8_plan_dynq_params; /* inputs x, packed (i8_dq_pack); const bias [n] float32 if has_bias */

typedef struct {
    int64_t m, k, n, group;
    int32_t bits, has_bias;
} i8_plan_wo_params; /* inputs x, w, scales; const bias [n] float32 if has_bias */

typedef struct {
    int64_t rows, cols, group, nidx;
    int32_t bits;
} i8_plan_wo_gather_params; /* inputs idx (int64), q, scales */

typedef union {
    i8_conv2d_params conv2d;
    i8_fc_params fc;
    i8_binary_params binary; /* add, mul */
    i8_plan_requant_copy_params requant_copy;
    i8_pool_params pool; /* maxpool, avgpool */
    i8_plan_global_avgpool_params global_avgpool;
    i8_plan_lut_params lut;
    i8_plan_resize_nearest_params resize_nearest;
    i8_resize_bilinear_params resize_bilinear;
    i8_plan_softmax_params softmax;
    i8_plan_quant_params quant;
    i8_plan_transpose_params transpose;
    i8_plan_slice_params slice;
    i8_plan_pad_params pad;
    i8_plan_copy_params copy;
    i8_f32_conv2d_params conv2d_f32;
    i8_f32_fc_params fc_f32;
    i8_plan_f32_binary_params f32_binary;
    i8_plan_f32_unary_params f32_unary;
    i8_plan_layernorm_params layernorm;
    i8_plan_rows_params rows;
    i8_plan_reduce_params reduce;
    i8_plan_matmul_params matmul;
    i8_plan_gather_params gather;
    i8_plan_strided_copy_params strided_copy;
    i8_plan_cast_params cast;
    i8_plan_where_params where;
    i8_plan_dynq_params dynq;
    i8_plan_wo_params wo;
    i8_plan_wo_gather_params wo_gather;
    i8_f32_attention_params attention; /* inputs q, kt, v[, mask] float32 */
    i8_rnn_params rnn; /* inputs x, packed (i8_rnn_pack), [h0 | c0] if has_h0 or has_c0;
                        * consts bias [D, 2 G H] float32, lens [B] int32 if has_lens */
    i8_dqconv_params dqconv; /* inputs x, packed (i8_dq_pack); const bias [m] if has_bias */
} i8_op_params;

#define I8_PLAN_MAX_CONSTS 6
#define I8_PLAN_MAX_INPUTS 4

/* One kernel call as the builder describes it. Constants are given in natural layout, in the
 * order of docs/PLAN.md (e.g. conv2d: w, bias, mult); the plan copies or packs them, so the
 * caller's memory may be freed once i8_plan_add_op returns. */
typedef struct {
    int32_t kind; /* i8_op_kind */
    int32_t n_inputs;
    i8_buf_ref inputs[I8_PLAN_MAX_INPUTS];
    i8_buf_ref output;
    i8_op_params params;
    int32_t n_consts;
    const void *consts[I8_PLAN_MAX_CONSTS];
    int64_t const_nbytes[I8_PLAN_MAX_CONSTS];
    /* conv2d, fc, conv2d_f32, fc_f32: 1 = consts[0] is a blob of i8_plan_pack_weights for these
     * params (borrowed: the caller keeps it alive while the plan exists) and the other weight
     * consts (bias, mult) are empty; the fused table, if any, stays consts[3] */
    int32_t packed_weights;
} i8_op_desc;

/* ---- building ---------------------------------------------------------------------------- *
 * input_nbytes[k] / output_nbytes[k]: the byte size of model input / output k; run trusts the
 * caller's buffers to be that large. On failure the builder functions return a status and keep
 * a message for i8_plan_error; the plan stays valid (the failed op is not added). */
typedef struct i8_plan i8_plan;

int i8_plan_create(int32_t n_inputs, const int64_t *input_nbytes, int32_t n_outputs,
                   const int64_t *output_nbytes, i8_plan **out);
void i8_plan_destroy(i8_plan *plan);

/* Copies `nbytes` of data into plan-owned, 64-byte aligned memory; *index names it in refs. */
int i8_plan_add_const(i8_plan *plan, const void *data, int64_t nbytes, int32_t *index);
/* Borrows `data` (64-byte aligned) without copying: the caller keeps it alive and unchanged
 * while the plan exists (the binding holds a reference). For weights shared by many plans. */
int i8_plan_add_const_ref(i8_plan *plan, const void *data, int64_t nbytes, int32_t *index);
int i8_plan_add_op(i8_plan *plan, const i8_op_desc *desc);

/* Weights packed once and shared by every plan of a model (docs/PLAN.md "Shapes"): the blob
 * of a conv2d / fc / conv2d_f32 / fc_f32 descriptor with natural consts (w, bias[, mult]) is a
 * header holding the op kind and the params the packing reads (every field but the sizes that
 * a new batch or image size changes: n, h, w, oh, ow, m) and the kernel's packed stream. A
 * descriptor with packed_weights = 1 then borrows it; i8_plan_add_op refuses a blob whose
 * header does not match its params. Returns the blob's byte size, or -1 (not such an op, or
 * params the plan refuses). */
int64_t i8_plan_packed_weights_size(const i8_op_desc *desc);
/* Packs into `blob` (64-byte aligned, i8_plan_packed_weights_size bytes). I8_EINVAL with a
 * message in err when the descriptor or its consts are refused. */
int i8_plan_pack_weights(const i8_op_desc *desc, void *blob, int64_t nbytes, char *err,
                         size_t err_len);
/* arena_nbytes: the buffer part of the arena (every ARENA ref must fit); the plan appends the
 * largest per-op scratch after it. */
int i8_plan_finalize(i8_plan *plan, int64_t arena_nbytes);
/* Tests: the work per task of the ops that csrc/plan/split.c splits (I8_SPLIT_CHUNK; <= 0
 * restores it). A small chunk splits small ops into many tasks, so a test reaches every task
 * boundary with small tensors. Read when an op is added; process-wide and not thread safe.
 * Returns the previous chunk. */
int64_t i8_plan_set_split_chunk(int64_t chunk);

/* The detailed message of the last failed build call (or ""), valid until the next call. */
const char *i8_plan_error(const i8_plan *plan);

int32_t i8_plan_num_ops(const i8_plan *plan);
/* Total bytes each run allocates: the 64-aligned buffer part plus the scratch part. */
int64_t i8_plan_arena_total(const i8_plan *plan);
int64_t i8_plan_scratch_nbytes(const i8_plan *plan);

/* ---- running ----------------------------------------------------------------------------- *
 * inputs[k] / outputs[k]: caller memory of input_nbytes[k] / output_nbytes[k] bytes. Input and
 * output memory must not overlap each other. Thread safe: the plan is only read. Returns I8_OK,
 * I8_ENOMEM (arena allocation) or I8_EINVAL / I8_ESTATE (null pointer, plan not finalized). */
int i8_plan_run(const i8_plan *plan, const void *const *inputs, void *const *outputs);
/* As i8_plan_run, and op_ns[i] receives the CLOCK_MONOTONIC wall time of op i in ns. */
int i8_plan_run_profiled(const i8_plan *plan, const void *const *inputs, void *const *outputs,
                         int64_t *op_ns);

/* ---- threads (docs/PLAN.md "Threads") ------------------------------------------------------ *
 * As i8_plan_run (op_ns NULL) or i8_plan_run_profiled, on up to `threads` threads: the caller
 * plus workers of the process-wide pool (int8rt/threadpool.h). threads <= 1 is exactly
 * i8_plan_run; a run that finds the pool held by another run runs single-threaded. Outputs are
 * bit-identical for every thread count. The arena holds one scratch slot per thread. */
int i8_plan_run_threads(const i8_plan *plan, const void *const *inputs, void *const *outputs,
                        int64_t *op_ns, int32_t threads);
/* The general run: `arena` (64-byte aligned, arena_nbytes bytes) is caller memory of at least
 * i8_plan_arena_size(plan, threads) bytes, or NULL to allocate one for this run. A session
 * keeps a few arenas and hands one to each run, so the steady state allocates nothing. On
 * I8_EDATA *bad_op (if not NULL) receives the index of the op that refused its data. */
int i8_plan_run_arena(const i8_plan *plan, const void *const *inputs, void *const *outputs,
                      int64_t *op_ns, int32_t threads, void *arena, int64_t arena_nbytes,
                      int32_t *bad_op);
/* Bytes of arena a run on `threads` threads needs (buffers + one scratch slot per thread). */
int64_t i8_plan_arena_size(const i8_plan *plan, int32_t threads);
/* The packed weight stream op `op` runs with (conv2d, fc, conv2d_f32, fc_f32), NULL for other
 * ops: plans that share one blob return the same address (tests compare them). */
const void *i8_plan_op_packed(const i8_plan *plan, int32_t op);
/* Tasks op `op` splits into (1: never split; 0: no such op). */
int64_t i8_plan_op_tasks(const i8_plan *plan, int32_t op);

#ifdef __cplusplus
}
#endif
#endif
