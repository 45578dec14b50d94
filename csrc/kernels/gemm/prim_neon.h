/* The aarch64 NEON primitive sets of the generated gemm tiles (tools/gen_gemm_tiles.py):
 * neondot4_* (dotprod, "lane" form) and, below, neonmlal_* / neonmull_* (Armv8.0, "pair"
 * form). neondot4: Panels are K4N16S (gemm.h): per 16-channel block and k quad, the
 * 16 channels' four int8 taps; activations are the raw int8 rows (s8 x s8: sdot is signed, so
 * no +128 offset and the bias folds only -x_zp * sum(w)).
 *
 *   _loadx   16 bytes of a row: 4 k quads, one per int32 lane
 *   _loadw   16 bytes of weights: 4 channels x one k quad
 *   _dot<l>  SDOT by element (vdotq_laneq_s32(acc, w, x, l), written as inline asm: from the
 *            intrinsic gcc 12 interleaves the 64 dots of a k step so that the 16 weights of it
 *            are live at once, and spills; 85 -> 80 instructions per 16 k): each int32 lane of acc gets the
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
#include <stddef.h>
#include <string.h>

#include "kernels/gemm/gemm.h"
#include "kernels/requant/neon.h"

#define I8_ATTR_NEONDOT __attribute__((target("arch=armv8.2-a+dotprod")))
#define I8_NEONDOT_FN __attribute__((target("arch=armv8.2-a+dotprod"), always_inline)) static inline
#define I8_NEON64_FN __attribute__((always_inline, unused)) static inline

/* the first nr (< 16) bytes of q to y with lane stores, no memcpy: a call in the tile's
 * epilogue makes gcc keep accumulators in callee-saved / stack slots through the k loop (they
 * are live across it; measured: 6 spill moves per 16 k in the 4x16 sdot tile) */
I8_NEON64_FN void i8_neon_store_partial(void *y, int8x16_t q, size_t nr) {
    int8_t *d = (int8_t *)y;
    if (nr & 8) {
        vst1_s8(d, vget_low_s8(q));
        d += 8;
        q = vextq_s8(q, q, 8);
    }
    if (nr & 4) {
        vst1q_lane_s32((int32_t *)(void *)d, vreinterpretq_s32_s8(q), 0);
        d += 4;
        q = vextq_s8(q, q, 4);
    }
    if (nr & 2) {
        vst1q_lane_s16((int16_t *)(void *)d, vreinterpretq_s16_s8(q), 0);
        d += 2;
        q = vextq_s8(q, q, 2);
    }
    if (nr & 1) vst1q_lane_s8(d, q, 0);
}

/* channels 0..nr-1 (nr <= 16) of one row: float32 acc * mult (scalar, as requant/neon.h), or
 * the int8 requantization of 16 lanes (every NEON gemm set) */
I8_NEON64_FN void i8_neon_gemm_store16x4(const i8_neon_requant *r, int32x4_t s0, int32x4_t s1,
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
    if (nr == 16)
        vst1q_s8((int8_t *)y, q);
    else
        i8_neon_store_partial(y, q, nr);
}

/* The tile epilogue's state: the requantization and the tile's 16 multipliers, loaded once
 * per tile (_rq_init_m), not once per row: the int8 stores of each row may alias the float
 * multipliers as far as gcc knows, so it reloaded them for every row (4 loads per row). */
typedef struct {
    i8_neon_requant r;
    float32x4_t m0, m1, m2, m3;
} i8_neon_gemm_rq;

/* The clamp bounds and zero point from one 16-byte load of the params (y_zp, qmin, qmax,
 * out_f32 are adjacent int32, asserted below): SQXTN twice saturates qmin / qmax to int8 as
 * i8_neon_requant_init's clamp to [-128, 127] does, XTN truncates zp as its (int16_t) cast;
 * about 7 instructions per tile instead of 21 (gcc compiled the scalar clamps to compares
 * and branches), which MobileNetV2's small-k 1x1 layers pay once per 2 (5) rows x 16
 * channels. */
_Static_assert(offsetof(i8_rq_params, y_zp) == 0 && offsetof(i8_rq_params, qmin) == 4 &&
                   offsetof(i8_rq_params, qmax) == 8 && offsetof(i8_rq_params, out_f32) == 12,
               "i8_neon_gemm_rq_init_m loads these four fields as one vector");

I8_NEON64_FN i8_neon_gemm_rq i8_neon_gemm_rq_init_m(const i8_rq_params *p, const float *mult) {
    i8_neon_gemm_rq g;
    const int32x4_t v = vld1q_s32(&p->y_zp); /* y_zp, qmin, qmax, out_f32 */
    const int16x4_t s16 = vqmovn_s32(v);
    const int8x8_t s8 = vqmovn_s16(vcombine_s16(s16, s16));
    g.r.lo = vdupq_n_f32(0.0f); /* armv7's float clamp: unused on aarch64 */
    g.r.hi = g.r.lo;
    g.r.qmin = vdupq_lane_s8(s8, 1);
    g.r.qmax = vdupq_lane_s8(s8, 2);
    g.r.zp = vdupq_lane_s16(vmovn_s32(v), 0);
    g.r.out_f32 = p->out_f32;
    g.m0 = vld1q_f32(mult);
    g.m1 = vld1q_f32(mult + 4);
    g.m2 = vld1q_f32(mult + 8);
    g.m3 = vld1q_f32(mult + 12);
    return g;
}

/* channels 0..nr-1 (nr <= 16) of one row with the tile's multipliers: float32 acc * mult
 * (scalar, as requant/neon.h), or the int8 requantization of 16 lanes */
I8_NEON64_FN void i8_neon_gemm_store16x4m(const i8_neon_gemm_rq *g, int32x4_t s0, int32x4_t s1,
                                          int32x4_t s2, int32x4_t s3, const float *mult, void *y,
                                          size_t nr) {
    if (g->r.out_f32) {
        i8_neon_gemm_store16x4(&g->r, s0, s1, s2, s3, mult, y, nr);
        return;
    }
    const int8x16_t q = i8_neon_finish16(&g->r, i8_neon_rq8(s0, s1, g->m0, g->m1),
                                         i8_neon_rq8(s2, s3, g->m2, g->m3));
    if (nr == 16)
        vst1q_s8((int8_t *)y, q);
    else
        i8_neon_store_partial(y, q, nr);
}

typedef int32x4_t neondot4_vec;
typedef int8x16_t neondot4_xvec;
typedef int8x16_t neondot4_wvec;
typedef i8_neon_gemm_rq neondot4_rq;

I8_NEONDOT_FN int32x4_t neondot4_acc0(const int32_t *b) { return vld1q_s32(b); }
I8_NEONDOT_FN int32x4_t neondot4_zero(void) { return vdupq_n_s32(0); }
I8_NEONDOT_FN int8x16_t neondot4_loadx(const unsigned char *p) {
    return vld1q_s8((const int8_t *)p);
}
I8_NEONDOT_FN int8x16_t neondot4_loadw(const unsigned char *p) {
    return vld1q_s8((const int8_t *)p);
}
I8_NEONDOT_FN int32x4_t neondot4_dot0(int32x4_t acc, int8x16_t w, int8x16_t x) {
    __asm__("sdot %0.4s, %1.16b, %2.4b[0]" : "+w"(acc) : "w"(w), "w"(x));
    return acc;
}
I8_NEONDOT_FN int32x4_t neondot4_dot1(int32x4_t acc, int8x16_t w, int8x16_t x) {
    __asm__("sdot %0.4s, %1.16b, %2.4b[1]" : "+w"(acc) : "w"(w), "w"(x));
    return acc;
}
I8_NEONDOT_FN int32x4_t neondot4_dot2(int32x4_t acc, int8x16_t w, int8x16_t x) {
    __asm__("sdot %0.4s, %1.16b, %2.4b[2]" : "+w"(acc) : "w"(w), "w"(x));
    return acc;
}
I8_NEONDOT_FN int32x4_t neondot4_dot3(int32x4_t acc, int8x16_t w, int8x16_t x) {
    __asm__("sdot %0.4s, %1.16b, %2.4b[3]" : "+w"(acc) : "w"(w), "w"(x));
    return acc;
}
I8_NEONDOT_FN i8_neon_gemm_rq neondot4_rq_init_m(const i8_rq_params *p, const float *mult) {
    return i8_neon_gemm_rq_init_m(p, mult);
}
/* channels 0..nr-1 (nr <= 16) of one row */
I8_NEONDOT_FN void neondot4_store16x4(const i8_neon_gemm_rq *g, int32x4_t s0, int32x4_t s1,
                                      int32x4_t s2, int32x4_t s3, const float *mult, void *y,
                                      size_t nr) {
    i8_neon_gemm_store16x4m(g, s0, s1, s2, s3, mult, y, nr);
}

/* ---- neonmlal / neonmull: the quad-pair form (tools/gen_gemm_tiles.py, pair_tile) for NEON
 * without dotprod (Armv8.0: Cortex-A53 / A72, Pi 3 / Pi 4), on the same K4N16S panels and raw
 * int8 rows as neondot4.
 *
 *   _loadx   16 bytes of a prepared row: one k quad in every int32 lane (pack_a_s8x4)
 *   _loadw2  32 bytes of weights (one LDP): two 4-channel groups x one k quad
 *   _dotlo   acc + the products of quads A and B for the low 8 bytes (channels 0, 1 of the
 *            vector), _dothi the high 8 (channels 2, 3). neonmlal: SMULL of A then SMLAL of B
 *            put two products in each int16 lane: |w| <= 127 (docs/QUANTIZATION.md §2: the
 *            quantizer never makes -128) and |x| <= 128, so |sum| <= 2 * 127 * 128 = 32,512
 *            fits int16 exactly; SADALP then adds adjacent int16 lanes (taps t, t + 1 of one
 *            channel) into an int32 lane. Three instructions per 16 products. neonmull (panels
 *            with a -128 weight, w_m128, where a pair can reach 32,768): SMULL + SADALP per
 *            quad, one product per int16 lane (|p| <= 16,384), exact for any int8.
 *            Accumulator lanes: [c0 taps 0-1, c0 taps 2-3, c1 taps 0-1, c1 taps 2-3] (summed
 *            over all quads), wrapping int32 like the scalar sums.
 *   _acc0lo / _acc0hi  the bias of channels 0, 1 / 2, 3 in the first lane of each pair
 *   _fold    ADDP of the lo and hi accumulators: the 4 channels' full dots, in order */
typedef int32x4_t neonmlal_vec;
typedef int8x16_t neonmlal_xvec;
typedef int8x16x2_t neonmlal_wvec2;
typedef i8_neon_gemm_rq neonmlal_rq;
typedef int32x4_t neonmull_vec;
typedef int8x16_t neonmull_xvec;
typedef int8x16x2_t neonmull_wvec2;
typedef i8_neon_gemm_rq neonmull_rq;

I8_NEON64_FN int32x4_t i8_neon_acc0lo(const int32_t *b) {
    return vzip1q_s32(vld1q_s32(b), vdupq_n_s32(0));
}
I8_NEON64_FN int32x4_t i8_neon_acc0hi(const int32_t *b) {
    return vzip2q_s32(vld1q_s32(b), vdupq_n_s32(0));
}
I8_NEON64_FN int8x16_t i8_neon_loadx(const unsigned char *p) {
    return vld1q_s8((const int8_t *)p);
}
I8_NEON64_FN int8x16x2_t i8_neon_loadw2(const unsigned char *p) {
    int8x16x2_t w; /* two adjacent loads, which gcc pairs into one LDP (LD1 {x2} takes no offset) */
    w.val[0] = vld1q_s8((const int8_t *)p);
    w.val[1] = vld1q_s8((const int8_t *)p + 16);
    return w;
}
I8_NEON64_FN int32x4_t i8_neon_fold(int32x4_t lo, int32x4_t hi) { return vpaddq_s32(lo, hi); }
I8_NEON64_FN int32x4_t i8_neon_zero(void) { return vdupq_n_s32(0); }

/* the three instructions in one asm statement: from the intrinsics gcc 12 (-O2) interleaves
 * the tile's 32 int16 products so that they outlive the register file (measured: 10 moves and
 * 6 spills per 16 k in the 2x16 tile) */
I8_NEON64_FN int32x4_t neonmlal_dotlo(int32x4_t acc, int8x16_t wa, int8x16_t xa, int8x16_t wb,
                                      int8x16_t xb) {
    int16x8_t t;
    __asm__("smull %1.8h, %2.8b, %3.8b\n\t"
            "smlal %1.8h, %4.8b, %5.8b\n\t"
            "sadalp %0.4s, %1.8h"
            : "+w"(acc), "=&w"(t)
            : "w"(wa), "w"(xa), "w"(wb), "w"(xb));
    return acc;
}
I8_NEON64_FN int32x4_t neonmlal_dothi(int32x4_t acc, int8x16_t wa, int8x16_t xa, int8x16_t wb,
                                      int8x16_t xb) {
    int16x8_t t;
    __asm__("smull2 %1.8h, %2.16b, %3.16b\n\t"
            "smlal2 %1.8h, %4.16b, %5.16b\n\t"
            "sadalp %0.4s, %1.8h"
            : "+w"(acc), "=&w"(t)
            : "w"(wa), "w"(xa), "w"(wb), "w"(xb));
    return acc;
}
I8_NEON64_FN int32x4_t neonmull_dotlo(int32x4_t acc, int8x16_t wa, int8x16_t xa, int8x16_t wb,
                                      int8x16_t xb) {
    acc = vpadalq_s16(acc, vmull_s8(vget_low_s8(wa), vget_low_s8(xa)));
    return vpadalq_s16(acc, vmull_s8(vget_low_s8(wb), vget_low_s8(xb)));
}
I8_NEON64_FN int32x4_t neonmull_dothi(int32x4_t acc, int8x16_t wa, int8x16_t xa, int8x16_t wb,
                                      int8x16_t xb) {
    acc = vpadalq_s16(acc, vmull_high_s8(wa, xa));
    return vpadalq_s16(acc, vmull_high_s8(wb, xb));
}

#define neonmlal_zero i8_neon_zero
#define neonmlal_acc0lo i8_neon_acc0lo
#define neonmlal_acc0hi i8_neon_acc0hi
#define neonmlal_loadx i8_neon_loadx
#define neonmlal_loadw2 i8_neon_loadw2
#define neonmlal_fold i8_neon_fold
#define neonmlal_rq_init_m i8_neon_gemm_rq_init_m
#define neonmlal_store16x4 i8_neon_gemm_store16x4m
#define neonmull_zero i8_neon_zero
#define neonmull_acc0lo i8_neon_acc0lo
#define neonmull_acc0hi i8_neon_acc0hi
#define neonmull_loadx i8_neon_loadx
#define neonmull_loadw2 i8_neon_loadw2
#define neonmull_fold i8_neon_fold
#define neonmull_rq_init_m i8_neon_gemm_rq_init_m
#define neonmull_store16x4 i8_neon_gemm_store16x4m

#endif
