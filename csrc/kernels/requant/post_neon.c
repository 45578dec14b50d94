/* i8_post_rows__neon (requant/requant.h): the fused post-ops of the NEON conv / fc / depthwise
 * epilogues, 16 bytes per step over the int8 rows a kernel has just written (still in L1 /
 * L2), with the table lookup and requantizing add of post_neon.h: the lut and add kernels'
 * arithmetic without their trip through memory and their records. The NEON tiles' epilogues
 * end in registers of 16 int8 lanes, like this pass's loads, so the pass costs a load and a
 * store per 16 outputs on top of the post-ops themselves (docs/KERNELS.md "Fused epilogues").
 * Bit for bit i8_post1 (requant.h), i.e. the unfused program. */
#if defined(__aarch64__) || (defined(__arm__) && defined(__ARM_FP) && !defined(__SOFTFP__))

#include <string.h>

#include "kernels/requant/post_neon.h"
#include "kernels/requant/requant.h"

/* LUT, ADD: compile-time in each specialisation, so the loop carries no test */
I8N_FN static inline __attribute__((always_inline)) void rows(const i8_post *po, int8_t *y,
                                                              size_t nrows, size_t n,
                                                              size_t y_row, const int LUT,
                                                              const int ADD) {
    i8_neon_lut l;
    if (LUT) i8_neon_lut_load(&l, po->lut);
    const i8_neon_add ad = i8_neon_add_init(po->a_zp, po->b_zp, po->a_mult, po->b_mult,
                                            po->mult, po->y_zp, po->qmin, po->qmax);
    const ptrdiff_t ro = po->res_off;
    for (size_t r = 0; r < nrows; r++, y += y_row) {
        size_t i = 0;
        if (n >= 16 && n % 16) {
            /* the tail as the last 16 bytes, overlapping the loop's: loaded before the loop
             * writes any of them, so the overlap gets the same bytes twice (the post-ops are
             * element-wise, in place), and no copies through a buffer */
            int8x16_t t = vld1q_s8(y + n - 16);
            if (LUT) t = i8_neon_lut16(&l, t);
            if (ADD) t = i8_neon_add16(&ad, t, vld1q_s8(y + n - 16 + ro));
            for (; i + 16 <= n; i += 16) {
                int8x16_t v = vld1q_s8(y + i);
                if (LUT) v = i8_neon_lut16(&l, v);
                if (ADD) v = i8_neon_add16(&ad, v, vld1q_s8(y + i + ro));
                vst1q_s8(y + i, v);
            }
            vst1q_s8(y + n - 16, t);
            continue;
        }
        for (; i + 16 <= n; i += 16) {
            int8x16_t v = vld1q_s8(y + i);
            if (LUT) v = i8_neon_lut16(&l, v);
            if (ADD) v = i8_neon_add16(&ad, v, vld1q_s8(y + i + ro));
            vst1q_s8(y + i, v);
        }
        if (i < n) { /* n < 16: through zero-padded copies, nothing read or written beyond n */
            int8_t tv[16] = {0}, tr[16] = {0};
            memcpy(tv, y + i, n - i);
            if (ADD) memcpy(tr, y + i + ro, n - i);
            int8x16_t v = vld1q_s8(tv);
            if (LUT) v = i8_neon_lut16(&l, v);
            if (ADD) v = i8_neon_add16(&ad, v, vld1q_s8(tr));
            vst1q_s8(tv, v);
            memcpy(y + i, tv, n - i);
        }
    }
}

I8N_ATTR void i8_post_rows__neon(const i8_post *po, int8_t *y, size_t nrows, size_t n,
                                 size_t y_row) {
    if (y_row == n) { /* contiguous rows (a whole-width block): one row, one tail */
        n *= nrows;
        nrows = 1;
    }
    if (po->lut && po->add)
        rows(po, y, nrows, n, y_row, 1, 1);
    else if (po->lut)
        rows(po, y, nrows, n, y_row, 1, 0);
    else if (po->add)
        rows(po, y, nrows, n, y_row, 0, 1);
}

#endif
