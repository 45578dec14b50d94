/* Helpers shared by the NEON and NEON-dotprod gemm micro-kernels (neon.c, neondot.c): the
 * horizontal sums, the zero-padded k-tail load and the requantizing epilogue. The arithmetic
 * and its exactness argument are described at the top of neon.c. Include only from files
 * that are themselves guarded to ARM targets. */
#ifndef INT8RT_GEMM_NEON_TILE_H
#define INT8RT_GEMM_NEON_TILE_H

#include <arm_neon.h>
#include <string.h>

#include "kernels/gemm/gemm.h"

#if defined(__aarch64__)
#define NEON_FN
#else
#define NEON_FN __attribute__((target("fpu=neon")))
#endif

/* The four totals of four accumulators, in order. */
NEON_FN static inline int32x4_t hsum4(int32x4_t s0, int32x4_t s1, int32x4_t s2, int32x4_t s3) {
#if defined(__aarch64__)
    return vpaddq_s32(vpaddq_s32(s0, s1), vpaddq_s32(s2, s3));
#else
    const int32x2_t d0 = vadd_s32(vget_low_s32(s0), vget_high_s32(s0));
    const int32x2_t d1 = vadd_s32(vget_low_s32(s1), vget_high_s32(s1));
    const int32x2_t d2 = vadd_s32(vget_low_s32(s2), vget_high_s32(s2));
    const int32x2_t d3 = vadd_s32(vget_low_s32(s3), vget_high_s32(s3));
    return vcombine_s32(vpadd_s32(d0, d1), vpadd_s32(d2, d3));
#endif
}

/* acc += the 16 products x[i] * y[i], one per int16 lane (see the bound above). */
NEON_FN static inline int32x4_t dot16(int32x4_t acc, int8x16_t x, int8x16_t y) {
    acc = vpadalq_s16(acc, vmull_s8(vget_low_s8(x), vget_low_s8(y)));
#if defined(__aarch64__)
    return vpadalq_s16(acc, vmull_high_s8(x, y));
#else
    return vpadalq_s16(acc, vmull_s8(vget_high_s8(x), vget_high_s8(y)));
#endif
}

/* Round half to even of values already clamped to [-255, 255] (see the header comment). */
NEON_FN static inline int32x4_t round_even(float32x4_t v) {
#if defined(__aarch64__)
    return vcvtnq_s32_f32(v);
#else
    const float32x4_t magic = vdupq_n_f32(12582912.0f); /* 1.5 * 2^23 */
    return vcvtq_s32_f32(vsubq_f32(vaddq_f32(v, magic), magic));
#endif
}

/* One row's 4 totals (channels j..j+3) through the epilogue into c row. */
NEON_FN static inline void store_row(const i8_gemm_panel *pn, size_t j, int32x4_t acc, void *c) {
    const size_t nr = (size_t)pn->n - j < I8_GEMM_NR ? (size_t)pn->n - j : I8_GEMM_NR;
    acc = vaddq_s32(acc, vld1q_s32(pn->bias + j)); /* wraps like add_wrap in scalar.c */
    if (pn->out_f32) {
        float *cf = (float *)c + j;
#if defined(__aarch64__)
        const float32x4_t v = vmulq_f32(vcvtq_f32_s32(acc), vld1q_f32(pn->mult + j));
        if (nr == I8_GEMM_NR) {
            vst1q_f32(cf, v);
        } else {
            float tmp[I8_GEMM_NR];
            vst1q_f32(tmp, v);
            memcpy(cf, tmp, nr * sizeof(float));
        }
#else
        /* scalar VFP: IEEE denormals (NEON would flush them) */
        int32_t s[I8_GEMM_NR];
        vst1q_s32(s, acc);
        for (size_t t = 0; t < nr; t++) cf[t] = (float)s[t] * pn->mult[j + t];
#endif
        return;
    }
    const float32x4_t v = vmulq_f32(vcvtq_f32_s32(acc), vld1q_f32(pn->mult + j));
    const float32x4_t lo = vdupq_n_f32((float)(pn->qmin - pn->y_zp));
    const float32x4_t hi = vdupq_n_f32((float)(pn->qmax - pn->y_zp));
    int32x4_t q = round_even(vminq_f32(vmaxq_f32(v, lo), hi));
    q = vaddq_s32(q, vdupq_n_s32(pn->y_zp));
    /* q is in [qmin, qmax] within [-128, 127]: the narrowing moves are exact */
    const int8x8_t b = vmovn_s16(vcombine_s16(vmovn_s32(q), vmovn_s32(q)));
    int8_t tmp[8];
    vst1_s8(tmp, b);
    memcpy((int8_t *)c + j, tmp, nr);
}

/* The 16 bytes of a row at i, or its zero-padded tail block when fewer remain. */
NEON_FN static inline int8x16_t load_a(const int8_t *p, size_t left) {
    if (left >= I8_GEMM_KB) return vld1q_s8(p);
    int8_t t[I8_GEMM_KB] = {0};
    memcpy(t, p, left);
    return vld1q_s8(t);
}

#endif
