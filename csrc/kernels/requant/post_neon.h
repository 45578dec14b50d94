/* NEON building blocks of the int8 post-ops (aarch64 Advanced SIMD; armv7 NEON through
 * target("fpu=neon")): the 256-entry table lookup and the requantizing residual add on 16
 * lanes, shared by the lut and add kernels (lut/neon.c, eltwise/neon.c) and by the fused
 * epilogue pass i8_post_rows__neon (post_neon.c) that the NEON gemm and depthwise drivers run
 * over the rows they just wrote. Include only inside `#if I8_NEON_KERNELS` (requant/neon.h).
 *
 * Table lookup, y = table[x + 128], i.e. entry u = x ^ 0x80 (the unsigned index):
 *  - aarch64: the table is four 64-byte TBL tables (4 registers each). TBL gives 0 for an
 *    index past its 64 bytes and TBX leaves such a lane alone, so TBL on u, then TBX on
 *    u - 64, u - 128, u - 192 (wrapping in uint8: an index below the table's start becomes
 *    >= 64) write exactly one entry per lane: 1 EOR + 3 SUB + 4 table instructions per 16.
 *  - armv7: VTBL / VTBX reach 32 bytes (four D registers) and 8 lanes: VTBL then 7 VTBX on
 *    u - 32 j per half, the same argument.
 *
 * Residual add (eltwise.c's add, kernels.h i8_post_params): acc = (a - a_zp) * a_mult +
 * (b - b_zp) * b_mult in int32 lanes. The differences are formed in int16 (|x - zp| <= 255),
 * widened, multiplied with MUL / MLA by the multipliers: exact, |acc| <= 2 * 255 * 2^22 < 2^31
 * (the add kernel's bound). Then requant/neon.h's epilogue with the one multiplier: float32
 * conversion, one multiply, round half to even, clamp, + zp, exactly i8_requantize. */
#ifndef INT8RT_REQUANT_POST_NEON_H
#define INT8RT_REQUANT_POST_NEON_H

#include "kernels/requant/neon.h"

/* A table held in registers for a pass (loaded once: 16 q registers on aarch64, all 32 d
 * registers on armv7, where gcc keeps what it can and reloads the rest). */
#if defined(__aarch64__)
typedef struct {
    uint8x16x4_t t[4];
} i8_neon_lut;
#else
typedef struct {
    uint8x8x4_t t[8];
} i8_neon_lut;
#endif

I8N_FN static inline void i8_neon_lut_load(i8_neon_lut *l, const int8_t *table) {
    const uint8_t *t = (const uint8_t *)table;
#if defined(__aarch64__)
    for (int j = 0; j < 4; j++) l->t[j] = vld1q_u8_x4(t + 64 * j);
#else
    for (int j = 0; j < 8; j++) {
        l->t[j].val[0] = vld1_u8(t + 32 * j);
        l->t[j].val[1] = vld1_u8(t + 32 * j + 8);
        l->t[j].val[2] = vld1_u8(t + 32 * j + 16);
        l->t[j].val[3] = vld1_u8(t + 32 * j + 24);
    }
#endif
}

#if !defined(__aarch64__)
I8N_FN static inline uint8x8_t i8_neon_lut8(const i8_neon_lut *l, uint8x8_t u) {
    const uint8x8_t k32 = vdup_n_u8(32);
    uint8x8_t r = vtbl4_u8(l->t[0], u);
    for (int j = 1; j < 8; j++) {
        u = vsub_u8(u, k32);
        r = vtbx4_u8(r, l->t[j], u);
    }
    return r;
}
#endif

/* 16 lanes of table[x + 128] */
I8N_FN static inline int8x16_t i8_neon_lut16(const i8_neon_lut *l, int8x16_t x) {
    const uint8x16_t u = veorq_u8(vreinterpretq_u8_s8(x), vdupq_n_u8(0x80));
#if defined(__aarch64__)
    const uint8x16_t k64 = vdupq_n_u8(64);
    const uint8x16_t u1 = vsubq_u8(u, k64), u2 = vsubq_u8(u1, k64);
    uint8x16_t r = vqtbl4q_u8(l->t[0], u);
    r = vqtbx4q_u8(r, l->t[1], u1);
    r = vqtbx4q_u8(r, l->t[2], u2);
    r = vqtbx4q_u8(r, l->t[3], vsubq_u8(u2, k64));
    return vreinterpretq_s8_u8(r);
#else
    return vreinterpretq_s8_u8(
        vcombine_u8(i8_neon_lut8(l, vget_low_u8(u)), i8_neon_lut8(l, vget_high_u8(u))));
#endif
}

/* The constants of one requantizing add. */
typedef struct {
    int16x8_t a_zp, b_zp;
    int32_t a_mult, b_mult;
    float32x4_t mult;
    i8_neon_requant rq;
} i8_neon_add;

I8N_FN static inline i8_neon_add i8_neon_add_init(int32_t a_zp, int32_t b_zp, int32_t a_mult,
                                                  int32_t b_mult, float mult, int32_t y_zp,
                                                  int32_t qmin, int32_t qmax) {
    i8_neon_add ad;
    ad.a_zp = vdupq_n_s16((int16_t)a_zp);
    ad.b_zp = vdupq_n_s16((int16_t)b_zp);
    ad.a_mult = a_mult;
    ad.b_mult = b_mult;
    ad.mult = vdupq_n_f32(mult);
    ad.rq = i8_neon_requant_init(y_zp, qmin, qmax, 0);
    return ad;
}

/* the add's int32 sums of 16 lanes (channels 0-3 .. 12-15 in acc[0..3]) */
I8N_FN static inline void i8_neon_add_acc16(const i8_neon_add *ad, int8x16_t a, int8x16_t b,
                                            int32x4_t acc[4]) {
    const int16x8_t a0 = vsubq_s16(vmovl_s8(vget_low_s8(a)), ad->a_zp);
    const int16x8_t a1 = vsubq_s16(i8_neon_movl_hi(a), ad->a_zp);
    const int16x8_t b0 = vsubq_s16(vmovl_s8(vget_low_s8(b)), ad->b_zp);
    const int16x8_t b1 = vsubq_s16(i8_neon_movl_hi(b), ad->b_zp);
    const int16x8_t as[2] = {a0, a1}, bs[2] = {b0, b1};
    for (int h = 0; h < 2; h++) {
        acc[2 * h] = vmlaq_n_s32(vmulq_n_s32(vmovl_s16(vget_low_s16(as[h])), ad->a_mult),
                                 vmovl_s16(vget_low_s16(bs[h])), ad->b_mult);
        acc[2 * h + 1] = vmlaq_n_s32(vmulq_n_s32(vmovl_s16(vget_high_s16(as[h])), ad->a_mult),
                                     vmovl_s16(vget_high_s16(bs[h])), ad->b_mult);
    }
}

/* 16 lanes of the requantized add */
I8N_FN static inline int8x16_t i8_neon_add16(const i8_neon_add *ad, int8x16_t a, int8x16_t b) {
    int32x4_t acc[4];
    i8_neon_add_acc16(ad, a, b, acc);
    return i8_neon_requant16_1(&ad->rq, acc[0], acc[1], acc[2], acc[3], ad->mult);
}

#endif
