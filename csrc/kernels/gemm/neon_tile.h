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
#if defined(__aarch64__)
    /* round first, clamp in int8 after saturating narrows: exact, see requant/neon.h */
    const int32x4_t r = vcvtnq_s32_f32(vmulq_f32(vcvtq_f32_s32(acc), vld1q_f32(p->mult)));
    const int16x4_t h = vqadd_s16(vqmovn_s32(r), vdup_n_s16((int16_t)p->rq.y_zp));
    const int32_t q0 = p->rq.qmin < -128 ? -128 : p->rq.qmin > 127 ? 127 : p->rq.qmin;
    const int32_t q1 = p->rq.qmax < -128 ? -128 : p->rq.qmax > 127 ? 127 : p->rq.qmax;
    const int8x8_t b8 = vmin_s8(vmax_s8(vqmovn_s16(vcombine_s16(h, h)), vdup_n_s8((int8_t)q0)),
                                vdup_n_s8((int8_t)q1));
    if (nr == I8_GEMM_NR) {
        const uint32_t w4 = vget_lane_u32(vreinterpret_u32_s8(b8), 0);
        memcpy(c, &w4, sizeof w4);
        return;
    }
    int8_t t8[8];
    vst1_s8(t8, b8);
    memcpy(c, t8, nr);
    return;
#endif
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


/* acc += the 16 products x[i] * y[i], two per int16 lane: SMULL of the low halves, SMLAL2 of
 * the high halves into the same lanes, then SADALP: 3 instructions per 16 products instead of
 * dot16's 4. Exact only if every weight is in [-127, 127] (the contract, docs/QUANTIZATION.md
 * §2): a pair is then at most 2 * 128 * 127 = 32,512 <= 32,767. Two (-128)(-128) products
 * would make 2^15, which wraps: panels holding a -128 weight (pn->w_m128) run dot16. */
NEON_FN static inline int32x4_t dot16_pair(int32x4_t acc, int8x16_t x, int8x16_t y) {
    int16x8_t p = vmull_s8(vget_low_s8(x), vget_low_s8(y));
#if defined(__aarch64__)
    p = vmlal_high_s8(p, x, y);
#else
    p = vmlal_s8(p, vget_high_s8(x), vget_high_s8(y));
#endif
    return vpadalq_s16(acc, p);
}

/* The ROWS micro-kernels of one ARM path (gemm.h signature), with function attribute ATTR and
 * DOT(acc, x, w) adding 16 int8 products into 4 int32 lanes; the paths differ only in DOT
 * (and the target they are compiled for), so the tiles are written once here.
 *   i8_gemm_2x4c16__ISA: rows 0-1 (mr <= 2; a 1-row tile reads row 0 twice, stores it once)
 *   i8_gemm_4x4c16__ISA: rows 0-3 (aarch64: 16 accumulators + 4 activation + 4 weight vectors
 *                        of the 32 registers; per 16 k 8 loads for 16 DOTs, each loaded vector
 *                        used 4 times, against 6 loads for 8 DOTs in the 2x4 tile); missing
 *                        rows read row 0 and are not stored
 * and the tile table of the set: the 4x4 tile on aarch64 (I8_NEON_GEMM_MR = 4), the 2x4 tile
 * on armv7 (16 vector registers; MR 2). One horizontal sum per row and tile. */
/* gcc 12's first scheduling pass hoists all 16 products of a k step ahead of their adds in
 * the 4x4 tile (16 int16 temporaries on top of 24 live vectors) and spills accumulators every
 * step; without it the k loop runs spill-free (checked in the disassembly). */
#define I8_NEON_NOSCHED __attribute__((optimize("no-schedule-insns")))
#define I8_NEON_DOT_ROW4(DOT, R, X)                                                               \
    s##R##0 = DOT(s##R##0, X, y0);                                                            \
    s##R##1 = DOT(s##R##1, X, y1);                                                            \
    s##R##2 = DOT(s##R##2, X, y2);                                                            \
    s##R##3 = DOT(s##R##3, X, y3);
#define I8_NEON_GEMM_TILES(ISA, ATTR, DOT)                                                     \
    ATTR void i8_gemm_2x4c16__##ISA(size_t mr, size_t nc, size_t kc, const void *a,           \
                                    size_t a_stride, const void *w, void *c, size_t c_stride,  \
                                    const i8_gemm_params *p) {                                 \
        const size_t k = kc, kp = I8_ALIGN_UP(kc, I8_GEMM_KB);                                \
        /* a local copy: the stores through c (char) could alias *p, and gcc would reload and \
         * recompute the epilogue constants for every row */                                  \
        const i8_gemm_params pv = *p;                                                         \
        const int8_t *a0 = a, *a1 = mr > 1 ? a0 + a_stride : a0;                              \
        const int8_t *wr = w;                                                                 \
        int32x4_t s00 = vdupq_n_s32(0), s01 = s00, s02 = s00, s03 = s00;                      \
        int32x4_t s10 = s00, s11 = s00, s12 = s00, s13 = s00;                                 \
        for (size_t i = 0; i < k; i += I8_GEMM_KB) {                                          \
            const int8x16_t x0 = load_a(a0 + i, k - i), x1 = load_a(a1 + i, k - i);           \
            const int8x16_t y0 = vld1q_s8(wr + i), y1 = vld1q_s8(wr + kp + i);                \
            const int8x16_t y2 = vld1q_s8(wr + 2 * kp + i), y3 = vld1q_s8(wr + 3 * kp + i);   \
            I8_NEON_DOT_ROW4(DOT, 0, x0)                                                           \
            I8_NEON_DOT_ROW4(DOT, 1, x1)                                                           \
        }                                                                                     \
        store_row(&pv, hsum4(s00, s01, s02, s03), c, nc);                                       \
        if (mr > 1)                                                                           \
            store_row(&pv, hsum4(s10, s11, s12, s13), (unsigned char *)c + c_stride, nc);       \
    }                                                                                         \
    ATTR I8_NEON_NOSCHED void i8_gemm_4x4c16__##ISA(size_t mr, size_t nc, size_t kc,         \
                                                    const void *a, size_t a_stride,            \
                                                    const void *w, void *c, size_t c_stride,   \
                                                    const i8_gemm_params *p) {                 \
        const size_t k = kc, kp = I8_ALIGN_UP(kc, I8_GEMM_KB);                                \
        /* a local copy: the stores through c (char) could alias *p, and gcc would reload and \
         * recompute the epilogue constants for every row */                                  \
        const i8_gemm_params pv = *p;                                                         \
        const int8_t *a0 = a, *a1 = mr > 1 ? a0 + a_stride : a0;                              \
        const int8_t *a2 = mr > 2 ? a0 + 2 * a_stride : a0, *a3 = mr > 3 ? a0 + 3 * a_stride : a0; \
        const int8_t *wr = w;                                                                 \
        int32x4_t s00 = vdupq_n_s32(0), s01 = s00, s02 = s00, s03 = s00;                      \
        int32x4_t s10 = s00, s11 = s00, s12 = s00, s13 = s00;                                 \
        int32x4_t s20 = s00, s21 = s00, s22 = s00, s23 = s00;                                 \
        int32x4_t s30 = s00, s31 = s00, s32 = s00, s33 = s00;                                 \
        size_t i = 0;                                                                         \
        for (; i + I8_GEMM_KB <= k; i += I8_GEMM_KB) {                                        \
            const int8x16_t x0 = vld1q_s8(a0 + i), x1 = vld1q_s8(a1 + i);                     \
            const int8x16_t x2 = vld1q_s8(a2 + i), x3 = vld1q_s8(a3 + i);                     \
            const int8x16_t y0 = vld1q_s8(wr + i), y1 = vld1q_s8(wr + kp + i);                \
            const int8x16_t y2 = vld1q_s8(wr + 2 * kp + i), y3 = vld1q_s8(wr + 3 * kp + i);   \
            I8_NEON_DOT_ROW4(DOT, 0, x0)                                                      \
            I8_NEON_DOT_ROW4(DOT, 1, x1)                                                      \
            I8_NEON_DOT_ROW4(DOT, 2, x2)                                                      \
            I8_NEON_DOT_ROW4(DOT, 3, x3)                                                      \
        }                                                                                     \
        if (i < k) { /* the k tail: zero-padded copies of the rows (weights are zero there) */ \
            const int8x16_t x0 = load_a(a0 + i, k - i), x1 = load_a(a1 + i, k - i);           \
            const int8x16_t x2 = load_a(a2 + i, k - i), x3 = load_a(a3 + i, k - i);           \
            const int8x16_t y0 = vld1q_s8(wr + i), y1 = vld1q_s8(wr + kp + i);                \
            const int8x16_t y2 = vld1q_s8(wr + 2 * kp + i), y3 = vld1q_s8(wr + 3 * kp + i);   \
            I8_NEON_DOT_ROW4(DOT, 0, x0)                                                      \
            I8_NEON_DOT_ROW4(DOT, 1, x1)                                                      \
            I8_NEON_DOT_ROW4(DOT, 2, x2)                                                      \
            I8_NEON_DOT_ROW4(DOT, 3, x3)                                                      \
        }                                                                                     \
        unsigned char *cb = c;                                                                \
        store_row(&pv, hsum4(s00, s01, s02, s03), cb, nc);                                      \
        if (mr > 1) store_row(&pv, hsum4(s10, s11, s12, s13), cb + c_stride, nc);               \
        if (mr > 2) store_row(&pv, hsum4(s20, s21, s22, s23), cb + 2 * c_stride, nc);           \
        if (mr > 3) store_row(&pv, hsum4(s30, s31, s32, s33), cb + 3 * c_stride, nc);           \
    }                                                                                         \
    const i8_gemm_tile i8_gemm_tiles__##ISA[] = {                                             \
        {I8_GEMM_NR, I8_NEON_GEMM_MR == 4 ? i8_gemm_4x4c16__##ISA : i8_gemm_2x4c16__##ISA},   \
        {0, NULL}};

#endif
