/* NEON rows of the element-wise family (aarch64; armv7 via target("fpu=neon")): the contiguous
 * add / mul rows, the requantizing copy and the float32 -> int8 quantize (the table lookup is
 * lut/neon.c). Same results as the scalar code (eltwise.c, convert/convert.c), bit for bit.
 *
 * add: requant/post_neon.h's i8_neon_add16 (shared with the fused epilogue pass): acc =
 * (a - a_zp) * a_mult + (b - b_zp) * b_mult in int32 lanes, exact (|acc| < 2^31);
 * mul: acc = (a - a_zp) * (b - b_zp) with SMULL on int16 differences (|d| <= 255). Then the
 * requantization of requant/neon.h with the one multiplier. A tail of fewer than 16 elements
 * goes through zero-padded copies.
 *
 * quantize (aarch64 only): v = x / scale with FDIV (a true IEEE float32 division, as
 * convert.c and ONNX QuantizeLinear), clamp, FCVTNS, + zp; NaN lanes (x / scale != itself)
 * become zp, as in convert.c (FMAX / FMIN would carry the NaN through, so the lanes are
 * replaced by a select). armv7 NEON has no division: the scalar code runs there. */
#if defined(__aarch64__) || (defined(__arm__) && defined(__ARM_FP) && !defined(__SOFTFP__))

#include <string.h>

#include "kernels/eltwise/eltwise.h"
#include "kernels/requant/post_neon.h"

/* add: post_neon.h's requantizing add; mul: the products of the int16 differences */
I8N_FN static inline void binary16(const i8_neon_add *ad,
                                   int is_add, const int8_t *a, const int8_t *b, int8_t *y) {
    const int8x16_t av = vld1q_s8(a), bv = vld1q_s8(b);
    if (is_add) {
        vst1q_s8(y, i8_neon_add16(ad, av, bv));
        return;
    }
    /* differences in int16: |x - zp| <= 255 */
    const int16x8_t a0 = vsubq_s16(vmovl_s8(vget_low_s8(av)), ad->a_zp);
    const int16x8_t a1 = vsubq_s16(i8_neon_movl_hi(av), ad->a_zp);
    const int16x8_t b0 = vsubq_s16(vmovl_s8(vget_low_s8(bv)), ad->b_zp);
    const int16x8_t b1 = vsubq_s16(i8_neon_movl_hi(bv), ad->b_zp);
    const int32x4_t acc0 = vmull_s16(vget_low_s16(a0), vget_low_s16(b0));
    const int32x4_t acc1 = vmull_s16(vget_high_s16(a0), vget_high_s16(b0));
    const int32x4_t acc2 = vmull_s16(vget_low_s16(a1), vget_low_s16(b1));
    const int32x4_t acc3 = vmull_s16(vget_high_s16(a1), vget_high_s16(b1));
    vst1q_s8(y, i8_neon_requant16_1(&ad->rq, acc0, acc1, acc2, acc3, ad->mult));
}

I8N_ATTR static void binary_contig(const i8_binary_params *p, int is_add, int64_t n,
                                   const int8_t *a, const int8_t *b, int8_t *y) {
    const i8_neon_add ad = i8_neon_add_init(p->a_zp, p->b_zp, p->a_mult, p->b_mult, p->mult,
                                            p->y_zp, p->qmin, p->qmax);
    int64_t i = 0;
    for (; i + 16 <= n; i += 16) binary16(&ad, is_add, a + i, b + i, y + i);
    if (i < n) {
        int8_t ta[16] = {0}, tb[16] = {0}, ty[16];
        memcpy(ta, a + i, (size_t)(n - i));
        memcpy(tb, b + i, (size_t)(n - i));
        binary16(&ad, is_add, ta, tb, ty);
        memcpy(y + i, ty, (size_t)(n - i));
    }
}

I8N_ATTR void i8_add_contig__neon(const i8_binary_params *p, int64_t n, const int8_t *a,
                                  const int8_t *b, int8_t *y) {
    binary_contig(p, 1, n, a, b, y);
}

I8N_ATTR void i8_mul_contig__neon(const i8_binary_params *p, int64_t n, const int8_t *a,
                                  const int8_t *b, int8_t *y) {
    binary_contig(p, 0, n, a, b, y);
}

/* y[i] = requant(x[i] - x_zp) over one row; |x - x_zp| <= 255 */
I8N_FN static inline int8x16_t copy16(const i8_neon_requant *rq, int16x8_t xzp, float32x4_t m,
                                      int8x16_t x) {
    const int16x8_t d0 = vsubq_s16(vmovl_s8(vget_low_s8(x)), xzp);
    const int16x8_t d1 = vsubq_s16(i8_neon_movl_hi(x), xzp);
    return i8_neon_requant16_1(rq, vmovl_s16(vget_low_s16(d0)), vmovl_s16(vget_high_s16(d0)),
                           vmovl_s16(vget_low_s16(d1)), vmovl_s16(vget_high_s16(d1)), m);
}

I8N_ATTR void i8_requant_copy_row__neon(int64_t n, const int8_t *x, int32_t x_zp, float mult,
                                        int32_t y_zp, int8_t *y) {
    const i8_neon_requant rq = i8_neon_requant_init(y_zp, -128, 127, 0);
    const int16x8_t xzp = vdupq_n_s16((int16_t)x_zp);
    const float32x4_t m = vdupq_n_f32(mult);
    int64_t i = 0;
    for (; i + 16 <= n; i += 16) vst1q_s8(y + i, copy16(&rq, xzp, m, vld1q_s8(x + i)));
    if (i < n) {
        int8_t tx[16] = {0}, ty[16];
        memcpy(tx, x + i, (size_t)(n - i));
        vst1q_s8(ty, copy16(&rq, xzp, m, vld1q_s8(tx)));
        memcpy(y + i, ty, (size_t)(n - i));
    }
}

#if defined(__aarch64__)
void i8_quantize_f32__neon(int64_t n, const float *x, float scale, int32_t zp, int8_t *y) {
    const float32x4_t s = vdupq_n_f32(scale);
    const float32x4_t lo = vdupq_n_f32((float)(-128 - zp)), hi = vdupq_n_f32((float)(127 - zp));
    const int32x4_t z = vdupq_n_s32(zp);
    int64_t i = 0;
    for (; i + 8 <= n; i += 8) {
        int32x4_t q[2];
        for (int h = 0; h < 2; h++) {
            const float32x4_t v = vdivq_f32(vld1q_f32(x + i + 4 * h), s);
            const uint32x4_t num = vceqq_f32(v, v); /* false on NaN */
            const int32x4_t r = vcvtnq_s32_f32(vminq_f32(vmaxq_f32(v, lo), hi));
            q[h] = vbslq_s32(num, vaddq_s32(r, z), z);
        }
        /* every lane is in [-128, 127]: exact narrowing */
        const int16x8_t h16 = vcombine_s16(vmovn_s32(q[0]), vmovn_s32(q[1]));
        vst1_s8(y + i, vmovn_s16(h16));
    }
    for (; i < n; i++) {
        float v = x[i] / scale;
        if (v != v) {
            y[i] = (int8_t)zp;
            continue;
        }
        const float lo1 = (float)(-128 - zp), hi1 = (float)(127 - zp);
        v = v < lo1 ? lo1 : (v > hi1 ? hi1 : v);
        y[i] = (int8_t)((int32_t)lrintf(v) + zp);
    }
}
#endif

#endif
