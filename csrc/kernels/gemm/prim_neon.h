/* The NEON dotprod primitive set of the generated broadcast-family tiles (tools/gen_gemm_tiles.py,
 * "lane" form): neondot4_*. Panels are K4N16S (gemm.h): per 16-channel block and k quad, the
 * 16 channels' four int8 taps; activations are the raw int8 rows (s8 x s8: sdot is signed, so
 * no +128 offset and the bias folds only -x_zp * sum(w)).
 *
 *   _loadx   16 bytes of a row: 4 k quads, one per int32 lane
 *   _loadw   16 bytes of weights: 4 channels x one k quad
 *   _dot<l>  vdotq_laneq_s32(acc, w, x, l) (SDOT by element): each int32 lane of acc gets the
 *            full-precision sum of 4 int8 x int8 products of its channel's quad and quad l of
 *            x (|sum| <= 4 * 2^14 = 2^16: exact); the lanes add modulo 2^32 like the scalar
 *            sums (exact whenever the true sum fits, docs/QUANTIZATION.md §3)
 *   _store16x4  the 16-channel epilogue of requant/neon.h (bias already in the accumulators)
 *
 * Every function carries target("arch=armv8.2-a+dotprod") (as neondot.c: the rest of the build
 * must not emit SDOT); dispatch.c runs these tiles only when HWCAP_ASIMDDP is set. */
#ifndef INT8RT_GEMM_PRIM_NEON_H
#define INT8RT_GEMM_PRIM_NEON_H

#include <arm_neon.h>
#include <string.h>

#include "kernels/gemm/gemm.h"
#include "kernels/requant/neon.h"

#define I8_ATTR_NEONDOT __attribute__((target("arch=armv8.2-a+dotprod")))
#define I8_NEONDOT_FN __attribute__((target("arch=armv8.2-a+dotprod"), always_inline)) static inline

typedef int32x4_t neondot4_vec;
typedef int8x16_t neondot4_xvec;
typedef int8x16_t neondot4_wvec;
typedef i8_neon_requant neondot4_rq;

I8_NEONDOT_FN int32x4_t neondot4_acc0(const int32_t *b) { return vld1q_s32(b); }
I8_NEONDOT_FN int8x16_t neondot4_loadx(const unsigned char *p) {
    return vld1q_s8((const int8_t *)p);
}
I8_NEONDOT_FN int8x16_t neondot4_loadw(const unsigned char *p) {
    return vld1q_s8((const int8_t *)p);
}
I8_NEONDOT_FN int32x4_t neondot4_dot0(int32x4_t acc, int8x16_t w, int8x16_t x) {
    return vdotq_laneq_s32(acc, w, x, 0);
}
I8_NEONDOT_FN int32x4_t neondot4_dot1(int32x4_t acc, int8x16_t w, int8x16_t x) {
    return vdotq_laneq_s32(acc, w, x, 1);
}
I8_NEONDOT_FN int32x4_t neondot4_dot2(int32x4_t acc, int8x16_t w, int8x16_t x) {
    return vdotq_laneq_s32(acc, w, x, 2);
}
I8_NEONDOT_FN int32x4_t neondot4_dot3(int32x4_t acc, int8x16_t w, int8x16_t x) {
    return vdotq_laneq_s32(acc, w, x, 3);
}
I8_NEONDOT_FN i8_neon_requant neondot4_rq_init(const i8_rq_params *p) {
    return i8_neon_requant_init(p->y_zp, p->qmin, p->qmax, p->out_f32);
}
/* channels 0..nr-1 (nr <= 16) of one row: float32 acc * mult (scalar, as requant/neon.h), or
 * the int8 requantization of 16 lanes */
I8_NEONDOT_FN void neondot4_store16x4(const i8_neon_requant *r, int32x4_t s0, int32x4_t s1,
                                      int32x4_t s2, int32x4_t s3, const float *mult, void *y,
                                      size_t nr) {
    if (r->out_f32) {
        int32_t t[16];
        vst1q_s32(t, s0);
        vst1q_s32(t + 4, s1);
        vst1q_s32(t + 8, s2);
        vst1q_s32(t + 12, s3);
        for (size_t i = 0; i < nr; i++) ((float *)y)[i] = (float)t[i] * mult[i];
        return;
    }
    const int8x16_t q = i8_neon_requant16m(r, s0, s1, s2, s3, mult);
    if (nr == 16) {
        vst1q_s8((int8_t *)y, q);
    } else {
        int8_t t[16];
        vst1q_s8(t, q);
        memcpy(y, t, nr);
    }
}

#endif
