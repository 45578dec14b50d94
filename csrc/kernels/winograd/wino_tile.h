/* The Winograd F(2x2, 3x3) kernels, written once over a small set of primitives (winograd.h:
 * arithmetic; docs/KERNELS.md "Winograd F(2x2,3x3)"). An instantiation file defines, before
 * including this header:
 *
 *   WINO_SET, WINO_SET_NAME   the set's name suffix (i8_wino_kernel__<WINO_SET>), as a string
 *   WINO_ATTR                 function attribute (target("avx2"), or empty)
 *   WINO_NEEDS_AVX2, WINO_POST_INLINE   the descriptor's flags (winograd.h)
 *   WINO_NO_SCHED_INSNS       (optional) compile the gemm without gcc's first scheduling pass
 * input transform, 16 channels as int16 lanes:
 *   wi_vec; wi_load16(const int8_t *) (16 int8 -> int16), wi_set1(int16_t), wi_add, wi_sub
 *   (exact: |V| <= 4 * 128), wi_store(int16_t *, wi_vec)
 * gemm, 16 channels as two halves of 8 int32 lanes:
 *   wg_acc, wg_w, wg_b; wg_zero(), wg_loadw(const int16_t *) (8 channels' int16 pairs),
 *   wg_bcast(const int16_t *) (one int16 pair, as wg_b: to every lane, or NEON's two lanes), wg_dot(acc, b, w) (acc + the
 *   per-lane pair dot: vpmaddwd + vpaddd, wrapping), wg_store(int32_t *, wg_acc)
 * output transform, 8 int32 lanes, wrapping:
 *   wo_vec; wo_load(const int32_t *), wo_add, wo_sub, wo_sra2 (arithmetic >> 2, exact: Y' is
 *   4 * the sum), wo_rq, wo_rq_init(p, po), wo_store16(rq, lo, hi, bias, mult, y, nr) (the
 *   requant/ epilogue of 16 accumulators, bias added there) */
#include <string.h>

#include "kernels/winograd/winograd.h"

#define WINO_CAT2(a, b) a##b
#define WINO_CAT(a, b) WINO_CAT2(a, b)
#define WINO_NAME(f) WINO_CAT(f##__, WINO_SET)

/* o = B^T a over one column of four (or, applied to rows, a B): B^T = [1 0 -1 0; 0 1 1 0;
 * 0 -1 1 0; 0 1 0 -1] */
#define WINO_BT(a0, a1, a2, a3, o0, o1, o2, o3)                                                \
    do {                                                                                       \
        o0 = wi_sub(a0, a2);                                                                   \
        o1 = wi_add(a1, a2);                                                                   \
        o2 = wi_sub(a2, a1);                                                                   \
        o3 = wi_sub(a1, a3);                                                                   \
    } while (0)

/* Tiles [t0, t0 + nt) -> V [16][nt][cp16]: per tile and 16 input channels, the 4x4 window
 * (out-of-image taps read x_zp, like im2col's padding), V = B^T d B. Channels past c read 0
 * (their U' is 0). */
WINO_ATTR static void WINO_NAME(wino_input)(const i8_conv2d_params *p, const int8_t *x,
                                            size_t t0, size_t nt, int16_t *v, size_t cp16) {
    const size_t c = (size_t)p->c, th = ((size_t)p->oh + 1) / 2, tw = ((size_t)p->ow + 1) / 2;
    const size_t xs = nt * cp16; /* int16 elements between transform positions */
    const wi_vec zp = wi_set1((int16_t)p->x_zp);
    for (size_t t = 0; t < nt; t++) {
        const size_t tt = t0 + t, n = tt / (th * tw), ty = tt % (th * tw) / tw, tx = tt % tw;
        const int64_t iy0 = 2 * (int64_t)ty - p->pad_t, ix0 = 2 * (int64_t)tx - p->pad_l;
        const int8_t *src[16];
        for (int i = 0; i < 4; i++)
            for (int j = 0; j < 4; j++) {
                const int64_t iy = iy0 + i, ix = ix0 + j;
                src[4 * i + j] = iy >= 0 && iy < p->h && ix >= 0 && ix < p->w
                                     ? x + (((size_t)n * p->h + (size_t)iy) * p->w + (size_t)ix) * c
                                     : NULL;
            }
        int16_t *vt = v + t * cp16;
        for (size_t c0 = 0; c0 < c; c0 += 16) {
            wi_vec d[16];
            if (c - c0 >= 16) {
                for (int q = 0; q < 16; q++) d[q] = src[q] ? wi_load16(src[q] + c0) : zp;
            } else {
                for (int q = 0; q < 16; q++) {
                    int8_t buf[16] = {0};
                    if (src[q]) memcpy(buf, src[q] + c0, c - c0);
                    d[q] = src[q] ? wi_load16(buf) : zp;
                }
            }
            wi_vec r0, r1, r2, r3, r4, r5, r6, r7, r8, r9, r10, r11, r12, r13, r14, r15;
            /* columns: rows of B^T d */
            WINO_BT(d[0], d[4], d[8], d[12], r0, r4, r8, r12);
            WINO_BT(d[1], d[5], d[9], d[13], r1, r5, r9, r13);
            WINO_BT(d[2], d[6], d[10], d[14], r2, r6, r10, r14);
            WINO_BT(d[3], d[7], d[11], d[15], r3, r7, r11, r15);
            /* rows: (B^T d) B */
            wi_vec o0, o1, o2, o3;
            int16_t *vc = vt + c0;
#define WINO_ROW(i, a0, a1, a2, a3)                                                            \
    WINO_BT(a0, a1, a2, a3, o0, o1, o2, o3);                                                   \
    wi_store(vc + (4 * i + 0) * xs, o0);                                                       \
    wi_store(vc + (4 * i + 1) * xs, o1);                                                       \
    wi_store(vc + (4 * i + 2) * xs, o2);                                                       \
    wi_store(vc + (4 * i + 3) * xs, o3);
            WINO_ROW(0, r0, r1, r2, r3)
            WINO_ROW(1, r4, r5, r6, r7)
            WINO_ROW(2, r8, r9, r10, r11)
            WINO_ROW(3, r12, r13, r14, r15)
#undef WINO_ROW
        }
    }
}

#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC push_options
#pragma GCC optimize("no-tree-pre") /* as the gemm tiles: keep the broadcasts in the loop */
#if defined(WINO_NO_SCHED_INSNS)
/* as the NEON gemm tiles: without the pre-allocation scheduler gcc keeps each row's V load
 * next to its smlal (24 accumulators + 4 U' + 1 V of 32 registers; with it, all six loads
 * were hoisted and accumulators spilled) */
#pragma GCC optimize("no-schedule-insns")
#endif
#endif

/* mr <= 6 rows of V (one transform position, int16 channel pairs) x 16 channels of U' ->
 * m [mr][16] int32. Rows past mr repeat row mr - 1 (not stored). */
WINO_ATTR static void WINO_NAME(wino_gemm)(size_t mr, size_t kc2, const int16_t *v,
                                           size_t v_stride, const int16_t *u, int32_t *m) {
    const int16_t *v0 = v, *v1 = mr > 1 ? v0 + v_stride : v0;
    const int16_t *v2 = mr > 2 ? v1 + v_stride : v1, *v3 = mr > 3 ? v2 + v_stride : v2;
    const int16_t *v4 = mr > 4 ? v3 + v_stride : v3, *v5 = mr > 5 ? v4 + v_stride : v4;
    wg_acc a00 = wg_zero(), a01 = wg_zero(), a10 = wg_zero(), a11 = wg_zero();
    wg_acc a20 = wg_zero(), a21 = wg_zero(), a30 = wg_zero(), a31 = wg_zero();
    wg_acc a40 = wg_zero(), a41 = wg_zero(), a50 = wg_zero(), a51 = wg_zero();
    for (size_t q = 0; q < kc2; q++) {
        const wg_w w0 = wg_loadw(u + 32 * q), w1 = wg_loadw(u + 32 * q + 16);
        wg_b b;
        b = wg_bcast(v0 + 2 * q);
        a00 = wg_dot(a00, b, w0);
        a01 = wg_dot(a01, b, w1);
        b = wg_bcast(v1 + 2 * q);
        a10 = wg_dot(a10, b, w0);
        a11 = wg_dot(a11, b, w1);
        b = wg_bcast(v2 + 2 * q);
        a20 = wg_dot(a20, b, w0);
        a21 = wg_dot(a21, b, w1);
        b = wg_bcast(v3 + 2 * q);
        a30 = wg_dot(a30, b, w0);
        a31 = wg_dot(a31, b, w1);
        b = wg_bcast(v4 + 2 * q);
        a40 = wg_dot(a40, b, w0);
        a41 = wg_dot(a41, b, w1);
        b = wg_bcast(v5 + 2 * q);
        a50 = wg_dot(a50, b, w0);
        a51 = wg_dot(a51, b, w1);
    }
    wg_store(m, a00);
    wg_store(m + 8, a01);
    if (mr > 1) wg_store(m + 16, a10), wg_store(m + 24, a11);
    if (mr > 2) wg_store(m + 32, a20), wg_store(m + 40, a21);
    if (mr > 3) wg_store(m + 48, a30), wg_store(m + 56, a31);
    if (mr > 4) wg_store(m + 64, a40), wg_store(m + 72, a41);
    if (mr > 5) wg_store(m + 80, a50), wg_store(m + 88, a51);
}

#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC pop_options
#endif

/* Y' = A^T M A of 8 channels (one half of a 16-channel block) of tile t, then >> 2:
 * A^T = [1 1 1 0; 0 1 -1 -1]; y[2 i + j] = the output (i, j), wrapping int32 */
WINO_ATTR static inline void WINO_NAME(wino_out8)(const int32_t *mt, size_t xs, wo_vec y[4]) {
    wo_vec s[2][4];
    for (int j = 0; j < 4; j++) {
        const wo_vec m0 = wo_load(mt + (0 + j) * xs), m1 = wo_load(mt + (4 + j) * xs);
        const wo_vec m2 = wo_load(mt + (8 + j) * xs), m3 = wo_load(mt + (12 + j) * xs);
        s[0][j] = wo_add(wo_add(m0, m1), m2);
        s[1][j] = wo_sub(wo_sub(m1, m2), m3);
    }
    for (int i = 0; i < 2; i++) {
        y[2 * i] = wo_sra2(wo_add(wo_add(s[i][0], s[i][1]), s[i][2]));
        y[2 * i + 1] = wo_sra2(wo_sub(wo_sub(s[i][1], s[i][2]), s[i][3]));
    }
}

/* M [16][nt][16] of channels j0 .. j0 + nc -> the outputs of tiles t0 .. t0 + nt (those inside
 * oh x ow), through the epilogue (bias' and mult from j0: 16 readable entries). */
WINO_ATTR static void WINO_NAME(wino_output)(const i8_conv2d_params *p, const int32_t *m,
                                             size_t t0, size_t nt, size_t j0, size_t nc,
                                             const int32_t *bias, const float *mult, void *y,
                                             const i8_post *po) {
    const size_t oh = (size_t)p->oh, ow = (size_t)p->ow, oc = (size_t)p->oc;
    const size_t th = (oh + 1) / 2, tw = (ow + 1) / 2, xs = nt * 16;
    const size_t esz = p->out_f32 ? sizeof(float) : 1;
    const wo_rq rq = wo_rq_init(p, po);
    for (size_t t = 0; t < nt; t++) {
        const size_t tt = t0 + t, n = tt / (th * tw), ty = tt % (th * tw) / tw, tx = tt % tw;
        wo_vec lo[4], hi[4];
        WINO_NAME(wino_out8)(m + t * 16, xs, lo);
        WINO_NAME(wino_out8)(m + t * 16 + 8, xs, hi);
        for (size_t i = 0; i < 2; i++) {
            const size_t oy = 2 * ty + i;
            if (oy >= oh) break;
            for (size_t j = 0; j < 2; j++) {
                const size_t ox = 2 * tx + j;
                if (ox >= ow) break;
                unsigned char *yp =
                    (unsigned char *)y + (((n * oh + oy) * ow + ox) * oc + j0) * esz;
                wo_store16(&rq, lo[2 * i + j], hi[2 * i + j], bias + j0, mult + j0, yp, nc);
            }
        }
    }
}

const i8_wino_kernel WINO_CAT(i8_wino_kernel__, WINO_SET) = {
    WINO_SET_NAME, WINO_NEEDS_AVX2, WINO_POST_INLINE, WINO_NAME(wino_input),
    WINO_NAME(wino_gemm), WINO_NAME(wino_output)};
