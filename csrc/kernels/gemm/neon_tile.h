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

/* One row's 4 totals (channels 0..3 of the tile) through the epilogue into c. */
NEON_FN static inline void store_row(const i8_gemm_params *p, int32x4_t acc, void *c, size_t nr) {
    acc = vaddq_s32(acc, vld1q_s32(p->bias)); /* wraps like i8_add_wrap */
    if (p->rq.out_f32) {
        float *cf = c;
#if defined(__aarch64__)
        const float32x4_t v = vmulq_f32(vcvtq_f32_s32(acc), vld1q_f32(p->mult));
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
        for (size_t t = 0; t < nr; t++) cf[t] = (float)s[t] * p->mult[t];
#endif
        return;
    }
    const float32x4_t v = vmulq_f32(vcvtq_f32_s32(acc), vld1q_f32(p->mult));
    const float32x4_t lo = vdupq_n_f32((float)(p->rq.qmin - p->rq.y_zp));
    const float32x4_t hi = vdupq_n_f32((float)(p->rq.qmax - p->rq.y_zp));
    int32x4_t q = round_even(vminq_f32(vmaxq_f32(v, lo), hi));
    q = vaddq_s32(q, vdupq_n_s32(p->rq.y_zp));
    /* q is in [qmin, qmax] within [-128, 127]: the narrowing moves are exact */
    const int8x8_t b = vmovn_s16(vcombine_s16(vmovn_s32(q), vmovn_s32(q)));
    int8_t tmp[8];
    vst1_s8(tmp, b);
    memcpy(c, tmp, nr);
}

/* The 16 bytes of a row at i, or its zero-padded tail block when fewer remain. */
NEON_FN static inline int8x16_t load_a(const int8_t *p, size_t left) {
    if (left >= I8_GEMM_KB) return vld1q_s8(p);
    int8_t t[I8_GEMM_KB] = {0};
    memcpy(t, p, left);
    return vld1q_s8(t);
}


/* The 2x4 ROWS micro-kernel of one ARM path, i8_gemm_2x4c16__ISA (gemm.h signature), and its
 * tile table, with function attribute ATTR and DOT(acc, x, w) adding 16 int8 products into 4
 * int32 lanes. The NEON and NEON-dotprod paths differ only in DOT (and the target they are
 * compiled for), so the tile is written once here. A 1-row tile (mr == 1) reads row 0 twice
 * and stores it once. */
#define I8_NEON_GEMM_TILES(ISA, ATTR, DOT)                                                     \
    ATTR void i8_gemm_2x4c16__##ISA(size_t mr, size_t nc, size_t kc, const void *a,           \
                                    size_t a_stride, const void *w, void *c, size_t c_stride,  \
                                    const i8_gemm_params *p) {                                 \
        const size_t k = kc, kp = I8_ALIGN_UP(kc, I8_GEMM_KB);                                \
        const int8_t *a0 = a, *a1 = mr > 1 ? a0 + a_stride : a0;                              \
        const int8_t *wr = w;                                                                 \
        int32x4_t s00 = vdupq_n_s32(0), s01 = s00, s02 = s00, s03 = s00;                      \
        int32x4_t s10 = s00, s11 = s00, s12 = s00, s13 = s00;                                 \
        for (size_t i = 0; i < k; i += I8_GEMM_KB) {                                          \
            const int8x16_t x0 = load_a(a0 + i, k - i), x1 = load_a(a1 + i, k - i);           \
            int8x16_t y = vld1q_s8(wr + i);                                                   \
            s00 = DOT(s00, x0, y);                                                            \
            s10 = DOT(s10, x1, y);                                                            \
            y = vld1q_s8(wr + kp + i);                                                        \
            s01 = DOT(s01, x0, y);                                                            \
            s11 = DOT(s11, x1, y);                                                            \
            y = vld1q_s8(wr + 2 * kp + i);                                                    \
            s02 = DOT(s02, x0, y);                                                            \
            s12 = DOT(s12, x1, y);                                                            \
            y = vld1q_s8(wr + 3 * kp + i);                                                    \
            s03 = DOT(s03, x0, y);                                                            \
            s13 = DOT(s13, x1, y);                                                            \
        }                                                                                     \
        store_row(p, hsum4(s00, s01, s02, s03), c, nc);                                       \
        if (mr > 1)                                                                           \
            store_row(p, hsum4(s10, s11, s12, s13), (unsigned char *)c + c_stride, nc);       \
    }                                                                                         \
    const i8_gemm_tile i8_gemm_tiles__##ISA[] = {{I8_GEMM_NR, i8_gemm_2x4c16__##ISA}, {0, NULL}};

#endif
