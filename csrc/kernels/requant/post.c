/* i8_post_init (requant/requant.h): the per-run form of a conv / fc call's fused post-ops. */
#include <string.h>

#include "int8rt/cpu.h"
#include "kernels/requant/requant.h"

const i8_post *i8_post_init(i8_post *po, const i8_post_params *pp, const int8_t *table,
                            const int8_t *res, const void *y) {
    const int lut = pp->lut && table, add = pp->add && res;
    if (!lut && !add) return NULL;
    memset(po, 0, sizeof *po);
    po->lut = lut ? table : NULL;
    if (add) {
        /* as integers: the residual and y are different buffers of one arena (or not) */
        po->res_off = (ptrdiff_t)((uintptr_t)res - (uintptr_t)y);
        po->add = 1;
        po->a_zp = pp->a_zp;
        po->b_zp = pp->b_zp;
        po->a_mult = pp->a_mult;
        po->b_mult = pp->b_mult;
        po->mult = pp->mult;
        po->y_zp = pp->y_zp;
        po->qmin = pp->qmin;
        po->qmax = pp->qmax;
    }
#if defined(__x86_64__) || defined(__i386__)
    po->vbmi = i8_cpu_features_cached()->avx512_vbmi;
#endif
    if (lut) {
        /* D_7 = T_7, D_j = T_j ^ T_{j+1} per half (T_j = entries 16 j .. 16 j + 15 of the
         * half): the XOR chain of requant/avx2.h's lookup telescopes to the entry */
        for (int h = 0; h < 2; h++)
            for (int j = 0; j < 8; j++) {
                const int8_t *tj = table + 128 * h + 16 * j;
                for (int k = 0; k < 16; k++)
                    po->lut_diff[h][j][k] = (int8_t)(j == 7 ? tj[k] : tj[k] ^ tj[k + 16]);
            }
    }
    return po;
}
