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

/* acc += the 16 products x[i] * y[i], two per int16 lane: SMULL of the low halves, SMLAL2 of
 * the high halves into the same lanes, then SADALP. Exact only if every weight is in
 * [-127, 127] (the contract, docs/QUANTIZATION.md §2): a pair is then at most
 * 2 * 128 * 127 = 32,512 <= 32,767. With a -128 weight two (-128)(-128) products make 2^15,
 * which wraps: the drivers check pn->w_m128 and use dot16 for such panels. */
NEON_FN static inline int32x4_t dot16_pair(int32x4_t acc, int8x16_t x, int8x16_t y) {
    int16x8_t p = vmull_s8(vget_low_s8(x), vget_low_s8(y));
#if defined(__aarch64__)
    p = vmlal_high_s8(p, x, y);
#else
    p = vmlal_s8(p, vget_high_s8(x), vget_high_s8(y));
#endif
    return vpadalq_s16(acc, p);
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

/* A 4x4 tile (aarch64: 16 accumulators + 4 activation + 4 weight vectors of the 32) over the
 * I8_GEMM_ROWS layout: rows a0..a3, channels j..j+3. Per 16 k: 8 loads and 16 DOTs, each
 * loaded vector used 4 times (the 2x4 tile loads 6 vectors per 8 DOTs). Then one horizontal
 * sum per row. */
#define I8_NEON_GEMM_TILE4(NAME, ATTR, DOT)                                                    \
    ATTR static void NAME(const i8_gemm_panel *pn, size_t j, const int8_t *a0,                \
                          const int8_t *a1, const int8_t *a2, const int8_t *a3,               \
                          unsigned char *c0, unsigned char *c1, unsigned char *c2,            \
                          unsigned char *c3) {                                                \
        const size_t k = (size_t)pn->k, kp = (size_t)pn->kp;                                  \
        const int8_t *w = pn->w + j * kp;                                                     \
        int32x4_t s00 = vdupq_n_s32(0), s01 = s00, s02 = s00, s03 = s00;                      \
        int32x4_t s10 = s00, s11 = s00, s12 = s00, s13 = s00;                                 \
        int32x4_t s20 = s00, s21 = s00, s22 = s00, s23 = s00;                                 \
        int32x4_t s30 = s00, s31 = s00, s32 = s00, s33 = s00;                                 \
        for (size_t i = 0; i < k; i += I8_GEMM_KB) {                                          \
            int8x16_t x0, x1, x2, x3;                                                         \
            if (k - i >= I8_GEMM_KB) {                                                        \
                x0 = vld1q_s8(a0 + i);                                                        \
                x1 = vld1q_s8(a1 + i);                                                        \
                x2 = vld1q_s8(a2 + i);                                                        \
                x3 = vld1q_s8(a3 + i);                                                        \
            } else {                                                                          \
                x0 = load_a(a0 + i, k - i);                                                   \
                x1 = load_a(a1 + i, k - i);                                                   \
                x2 = load_a(a2 + i, k - i);                                                   \
                x3 = load_a(a3 + i, k - i);                                                   \
            }                                                                                 \
            const int8x16_t w0 = vld1q_s8(w + i), w1 = vld1q_s8(w + kp + i);                  \
            const int8x16_t w2 = vld1q_s8(w + 2 * kp + i), w3 = vld1q_s8(w + 3 * kp + i);     \
            s00 = DOT(s00, x0, w0);                                                           \
            s01 = DOT(s01, x0, w1);                                                           \
            s02 = DOT(s02, x0, w2);                                                           \
            s03 = DOT(s03, x0, w3);                                                           \
            s10 = DOT(s10, x1, w0);                                                           \
            s11 = DOT(s11, x1, w1);                                                           \
            s12 = DOT(s12, x1, w2);                                                           \
            s13 = DOT(s13, x1, w3);                                                           \
            s20 = DOT(s20, x2, w0);                                                           \
            s21 = DOT(s21, x2, w1);                                                           \
            s22 = DOT(s22, x2, w2);                                                           \
            s23 = DOT(s23, x2, w3);                                                           \
            s30 = DOT(s30, x3, w0);                                                           \
            s31 = DOT(s31, x3, w1);                                                           \
            s32 = DOT(s32, x3, w2);                                                           \
            s33 = DOT(s33, x3, w3);                                                           \
        }                                                                                     \
        store_row(pn, j, hsum4(s00, s01, s02, s03), c0);                                      \
        store_row(pn, j, hsum4(s10, s11, s12, s13), c1);                                      \
        store_row(pn, j, hsum4(s20, s21, s22, s23), c2);                                      \
        store_row(pn, j, hsum4(s30, s31, s32, s33), c3);                                      \
    }

/* The whole-gemm driver of one ARM path over the I8_GEMM_ROWS layout (dispatch.c calls it
 * instead of its generic 2x4 loop): the row blocking of dispatch.c, then per channel block of
 * 4 the rows in 4x4 tiles (aarch64; armv7 has 16 vector registers, so TILE2 there), the last
 * rows in the 2x4 / 1x4 tiles. */
#if defined(__aarch64__)
#define I8_NEON_GEMM_MR 4
#else
#define I8_NEON_GEMM_MR 2
#endif
#define I8_NEON_GEMM_DRIVER(NAME, ATTR, TILE4, TILE2, TILE1)                                   \
    ATTR void NAME(const i8_gemm_panel *pn, size_t m, const int8_t *a, size_t a_stride,       \
                   void *c, size_t c_row) {                                                   \
        unsigned char *cb = c;                                                                \
        size_t mb = 16384 / ((size_t)pn->k + 1);                                              \
        mb = mb < 4 ? 4 : mb - mb % 4;                                                        \
        for (size_t i0 = 0; i0 < m; i0 += mb) {                                               \
            const size_t i1 = m - i0 < mb ? m : i0 + mb;                                      \
            for (size_t j = 0; j < (size_t)pn->n; j += I8_GEMM_NR) {                          \
                size_t i = i0;                                                                \
                if (I8_NEON_GEMM_MR == 4)                                                     \
                    for (; i + 4 <= i1; i += 4)                                               \
                        TILE4(pn, j, a + i * a_stride, a + (i + 1) * a_stride,               \
                              a + (i + 2) * a_stride, a + (i + 3) * a_stride, cb + i * c_row, \
                              cb + (i + 1) * c_row, cb + (i + 2) * c_row,                     \
                              cb + (i + 3) * c_row);                                          \
                for (; i + 2 <= i1; i += 2)                                                   \
                    TILE2(pn, j, a + i * a_stride, a + (i + 1) * a_stride, cb + i * c_row,    \
                          cb + (i + 1) * c_row);                                              \
                if (i < i1) TILE1(pn, j, a + i * a_stride, cb + i * c_row);                   \
            }                                                                                 \
        }                                                                                     \
    }

#endif
