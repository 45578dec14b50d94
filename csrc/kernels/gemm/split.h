/* Work split of one gemm-shaped kernel call (fc, 1x1 conv, im2col conv) into tasks for the
 * plan's thread pool (kernels.h, "work split"; docs/PLAN.md, "Threads").
 *
 * A task is (a block of rows, one group, a block of output channels), numbered row block
 * major, then group, then channel block, so a contiguous task range that stays in one row
 * block covers contiguous channels (its caller prepares those rows once). A call gets about
 * one task per SPLIT_TASK_MACS of work (2 to SPLIT_MAX_TASKS). Rows are split first (every row
 * block reads the same weights, and its output rows are contiguous); output channels are split
 * as well when there are fewer than SPLIT_CH_BELOW row blocks (late layers with 7x7 outputs,
 * an m = 1 classifier), up to about SPLIT_CH_TASKS tasks, and then each thread reads only its
 * part of the weights. A call below
 * SPLIT_MIN_MACS stays one task: the pool would cost more than it saves.
 *
 * The channel split relies on the gemm.h panel layouts: output channel j's bias and multiplier
 * are entry j, and whenever j is a multiple of 16 its weights start at byte j * kp (ROWS,
 * K4N16) or j * kp * 2 (K2N16: int16), so a channel range that starts on a multiple of 16 is
 * a panel of its own (i8_gemm_panel_cols). */
#ifndef INT8RT_GEMM_SPLIT_H
#define INT8RT_GEMM_SPLIT_H

#include "kernels/gemm/gemm.h"

#define SPLIT_MIN_MACS ((size_t)1 << 18) /* ~10 us on one AVX2 core; below: one task */
#define SPLIT_TASK_MACS ((size_t)1 << 18) /* target work per task */
#define SPLIT_MAX_TASKS 64                /* per call: enough to balance 8+ threads */
#define SPLIT_CH_BELOW 8   /* channel blocks only below this many row blocks (x groups) */
#define SPLIT_CH_TASKS 16  /* and then about this many tasks */
/* row blocks: multiples of this many rows at least, the height of the build's tallest native
 * tile where it is cheap to respect: aarch64's neondot4 4x16 and ROWS 4x4 tiles (neonmlal's
 * 2-row tiles divide it). A 2- or 6-row block on a 4-row tile runs half-empty tiles: measured
 * under qemu (bench/arm_gemm_icount.py --tasks, cortex-a76), MobileNetV2's 7x7 1x1 layers ran
 * 2.0x their one-call instructions as 2-row tasks, its 14x14 ones 1.4x as 6-row tasks. */
#if defined(__aarch64__)
#define SPLIT_ROW_UNIT 4
#else
#define SPLIT_ROW_UNIT I8_GEMM_MR
#endif
/* channel blocks: multiples of 16 channels (the K2N16 / K4N16 weight blocks, whole ROWS
 * tiles; int8 output rows of neighbouring blocks then rarely share a cache line) */
#define SPLIT_CH_STEP 16

typedef struct {
    size_t m, rows, row_tasks; /* rows per row block (the last may be shorter) */
    size_t groups;
    size_t n, chans, ch_tasks; /* per group: channels per block */
} i8_gemm_split;

/* m rows, `groups` groups of n output channels each, dot length k. row_unit: row blocks are
 * multiples of it (the im2col tile, so a block is whole tiles), raised to SPLIT_ROW_UNIT. */
static inline void i8_gemm_split_init(i8_gemm_split *s, size_t m, size_t n, size_t k,
                                      size_t groups, size_t row_unit) {
    s->m = m;
    s->groups = groups;
    s->n = n;
    s->rows = m;
    s->row_tasks = 1;
    s->chans = n;
    s->ch_tasks = 1;
    if (row_unit < SPLIT_ROW_UNIT) row_unit = SPLIT_ROW_UNIT;
    const double macs = (double)m * (double)n * (double)k * (double)groups;
    if (m == 0 || n == 0 || macs < (double)SPLIT_MIN_MACS) return;
    size_t target = (size_t)(macs / (double)SPLIT_TASK_MACS);
    if (target > SPLIT_MAX_TASKS) target = SPLIT_MAX_TASKS;
    if (target < 2) target = 2;
    /* row blocks: as many as the target asks for per group, in whole units */
    const size_t units = (m + row_unit - 1) / row_unit;
    size_t per_group = (target + groups - 1) / groups;
    size_t rb = per_group < units ? per_group : units;
    if (rb < 1) rb = 1;
    const size_t units_per_block = (units + rb - 1) / rb;
    s->rows = units_per_block * row_unit;
    s->row_tasks = (m + s->rows - 1) / s->rows;
    /* channel blocks only when there are too few row blocks to balance the threads: every
     * task prepares its rows itself (im2col of its tile, the gemm's int16 a rows), so k
     * channel blocks repeat that work k times (ResNet-18's 7x7 layers had 16 blocks of each
     * 14-pixel tile, its 56x56 layers 2). Then aim at SPLIT_CH_TASKS tasks in all. */
    const size_t blocks = s->row_tasks * groups;
    if (blocks < SPLIT_CH_BELOW && 2 * blocks <= target) {
        size_t want = target / blocks;
        const size_t enough = (SPLIT_CH_TASKS + blocks - 1) / blocks;
        if (want > enough) want = enough;
        const size_t steps = (n + SPLIT_CH_STEP - 1) / SPLIT_CH_STEP;
        if (want > steps) want = steps;
        if (want > 1) {
            const size_t per = (steps + want - 1) / want;
            s->chans = per * SPLIT_CH_STEP;
            s->ch_tasks = (n + s->chans - 1) / s->chans;
        }
    }
}

static inline size_t i8_gemm_split_tasks(const i8_gemm_split *s) {
    return s->row_tasks * s->groups * s->ch_tasks;
}

/* Task t: rows [*r0, *r1), group *g, channels [*j0, *j1) of that group. */
static inline void i8_gemm_split_task(const i8_gemm_split *s, size_t t, size_t *r0, size_t *r1,
                                      size_t *g, size_t *j0, size_t *j1) {
    const size_t ci = t % s->ch_tasks, rest = t / s->ch_tasks;
    const size_t ri = rest / s->groups;
    *g = rest % s->groups;
    *r0 = ri * s->rows;
    *r1 = *r0 + s->rows < s->m ? *r0 + s->rows : s->m;
    *j0 = ci * s->chans;
    *j1 = *j0 + s->chans < s->n ? *j0 + s->chans : s->n;
}

/* Channels [j0, j1) of a panel as a panel (j0 a multiple of SPLIT_CH_STEP, so of 16); the
 * caller offsets its output by j0 elements. */
static inline i8_gemm_panel i8_gemm_panel_cols(const i8_gemm_panel *pn, size_t j0, size_t j1) {
    i8_gemm_panel s = *pn;
    s.n = (int32_t)(j1 - j0);
    s.bias += j0;
    s.mult += j0;
    /* channel j0 (a multiple of 16) of [n16 / 16][kp / ku][16][ku] starts at element j0 * kp */
    s.w += j0 * (size_t)pn->kp * (pn->layout == I8_GEMM_K2N16 ? 2 : 1);
    return s;
}

#endif
