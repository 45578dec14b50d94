/* How the plan splits one op over threads (docs/PLAN.md, "Threads"); private to csrc/plan.
 *
 * conv2d and fc split themselves (i8_*_tasks / i8_*_run_tasks, kernels.h). The element-wise,
 * pooling, softmax, resize and requantizing-copy ops are split here, without touching their
 * kernels: the output is `units` slices along its outermost non-trivial axis (rows for pooling
 * and resize: n * oh), and a task runs the unchanged kernel on a contiguous range of slices
 * with offset pointers and a narrowed shape. Every element is computed by the same kernel code
 * from the same inputs, so any split gives bit-identical outputs. */
#ifndef INT8RT_PLAN_SPLIT_H
#define INT8RT_PLAN_SPLIT_H

#include <stdint.h>

#include "int8rt/plan.h"

/* Element (or, for pooling, element x tap) count of one task; an op with less than twice this
 * much work stays one task. Measured: docs/PLAN.md. */
#define I8_SPLIT_CHUNK 16384

typedef struct {
    int64_t units; /* slices of the output */
    int64_t per;   /* slices per task */
    int64_t tasks; /* ceil(units / per); 1 = not split */
    int32_t axis;  /* add / mul / f32 binary / batched matmul: the split axis; -1: matmul rows */
} i8_split;

/* The split of an op of kind `kind` (not conv2d / fc) with checked params. */
void i8_split_of(int32_t kind, const i8_op_params *p, i8_split *s);

/* Runs slices [u0, u1) of the op: in[0..n_inputs) / y are the op's resolved pointers, consts
 * its plan-owned constants, exactly as the whole-op call would get them; scratch is the
 * calling thread's slot (the dynamic int8 and weight-only matmuls quantize / dequantize into
 * it). */
void i8_split_run(int32_t kind, const i8_op_params *p, void *const *consts,
                  const void *const *in, void *y, void *scratch, const i8_split *s, int64_t u0,
                  int64_t u1);

#endif
