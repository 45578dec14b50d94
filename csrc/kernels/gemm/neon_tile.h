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


/* The 2x4 and 1x4 micro-kernels of one ARM path: i8_gemm_2x4__ISA and i8_gemm_1x4__ISA, with
 * function attribute ATTR and DOT(acc, x, w) adding 16 int8 products into 4 int32 lanes. The
 * NEON and NEON-dotprod paths differ only in DOT (and the target they are compiled for), so
 * the tile is written once here. */
#define I8_NEON_GEMM_TILES(ISA, ATTR, DOT)                                                     \
    ATTR void i8_gemm_2x4__##ISA(const i8_gemm_panel *pn, size_t j, const int8_t *a0,         \
                                 const int8_t *a1, void *c0, void *c1) {                      \
        const size_t k = (size_t)pn->k, kp = (size_t)pn->kp;                                  \
        const int8_t *w = pn->w + j * kp;                                                     \
        int32x4_t s00 = vdupq_n_s32(0), s01 = s00, s02 = s00, s03 = s00;                      \
        int32x4_t s10 = s00, s11 = s00, s12 = s00, s13 = s00;                                 \
        for (size_t i = 0; i < k; i += I8_GEMM_KB) {                                          \
            const int8x16_t x0 = load_a(a0 + i, k - i), x1 = load_a(a1 + i, k - i);           \
            int8x16_t y = vld1q_s8(w + i);                                                    \
            s00 = DOT(s00, x0, y);                                                            \
            s10 = DOT(s10, x1, y);                                                            \
            y = vld1q_s8(w + kp + i);                                                         \
            s01 = DOT(s01, x0, y);                                                            \
            s11 = DOT(s11, x1, y);                                                            \
            y = vld1q_s8(w + 2 * kp + i);                                                     \
            s02 = DOT(s02, x0, y);                                                            \
            s12 = DOT(s12, x1, y);                                                            \
            y = vld1q_s8(w + 3 * kp + i);                                                     \
            s03 = DOT(s03, x0, y);                                                            \
            s13 = DOT(s13, x1, y);                                                            \
        }                                                                                     \
        store_row(pn, j, hsum4(s00, s01, s02, s03), c0);                                      \
        store_row(pn, j, hsum4(s10, s11, s12, s13), c1);                                      \
    }                                                                                         \
    ATTR void i8_gemm_1x4__##ISA(const i8_gemm_panel *pn, size_t j, const int8_t *a0,         \
                                 void *c0) {                                                  \
        const size_t k = (size_t)pn->k, kp = (size_t)pn->kp;                                  \
        const int8_t *w = pn->w + j * kp;                                                     \
        int32x4_t s0 = vdupq_n_s32(0), s1 = s0, s2 = s0, s3 = s0;                             \
        for (size_t i = 0; i < k; i += I8_GEMM_KB) {                                          \
            const int8x16_t x0 = load_a(a0 + i, k - i);                                       \
            s0 = DOT(s0, x0, vld1q_s8(w + i));                                                \
            s1 = DOT(s1, x0, vld1q_s8(w + kp + i));                                           \
            s2 = DOT(s2, x0, vld1q_s8(w + 2 * kp + i));                                       \
            s3 = DOT(s3, x0, vld1q_s8(w + 3 * kp + i));                                       \
        }                                                                                     \
        store_row(pn, j, hsum4(s0, s1, s2, s3), c0);                                          \
    }

#endif
