/* aarch64 NEON input quantize with the NCHW -> NHWC move (convert.h): blocks of 16 pixels of
 * one image, 16 lanes per channel plane, the channels then interleaved into the NHWC pixels by
 * the structure stores ST3 (c = 3, RGB images) / ST4 (c = 4) / ST2 (c = 2), else one byte lane
 * store per pixel. Same bytes as convert.c's quant1 (docs/QUANTIZATION.md §6):
 *   v = x / scale   FDIV, the IEEE float32 division (never a reciprocal multiply);
 *   clamp           FMAX / FMIN against [-128 - zp, 127 - zp]: NaN stays NaN through both
 *                   (unlike FMAXNM), finite values and infinities clamp as the C selects do
 *                   (a -0.0 clamped to +0.0 rounds to the same integer);
 *   round           FCVTNS, round half to even, as lrintf in the default mode; a NaN lane
 *                   converts to 0 (the Arm FPToFixed rule for NaN), so + zp gives zp, the
 *                   scalar code's NaN result, with no select;
 *   + zp            in int16 after narrowing: every lane is in [-128 - zp, 127 - zp], so the
 *                   narrowings are exact and the sum is in [-128, 127].
 * armv7 NEON has no vector division, so armv7 keeps the scalar block. Partial blocks (nr < 16,
 * the end of an image or of a thread's pixel range) take the scalar block too. */
#if defined(__aarch64__)

#include <arm_neon.h>

#include "kernels/convert/convert.h"

/* 4 floats -> 4 int32 lanes of rint(clamp(x / scale)) (NaN -> 0) */
static inline int32x4_t q4(float32x4_t x, float32x4_t s, float32x4_t lo, float32x4_t hi) {
    return vcvtnq_s32_f32(vminq_f32(vmaxq_f32(vdivq_f32(x, s), lo), hi));
}

/* 16 consecutive floats of one plane -> 16 int8 */
static inline int8x16_t q16(const float *x, float32x4_t s, float32x4_t lo, float32x4_t hi,
                            int16x8_t zp) {
    const float32x4x4_t v = vld1q_f32_x4(x);
    const int16x8_t h0 = vmovn_high_s32(vmovn_s32(q4(v.val[0], s, lo, hi)), q4(v.val[1], s, lo, hi));
    const int16x8_t h1 = vmovn_high_s32(vmovn_s32(q4(v.val[2], s, lo, hi)), q4(v.val[3], s, lo, hi));
    return vmovn_high_s16(vmovn_s16(vaddq_s16(h0, zp)), vaddq_s16(h1, zp));
}

void i8_quant_nchw_block__neon(int64_t c, int64_t hw, int64_t nr, const float *xs, float scale,
                               int32_t zp, int8_t *ys) {
    if (nr != 16) {
        i8_quant_nchw_block__scalar(c, hw, nr, xs, scale, zp, ys);
        return;
    }
    const float32x4_t s = vdupq_n_f32(scale);
    const float32x4_t lo = vdupq_n_f32((float)(-128 - zp)), hi = vdupq_n_f32((float)(127 - zp));
    const int16x8_t z = vdupq_n_s16((int16_t)zp);
    if (c == 3) {
        const int8x16x3_t q = {{q16(xs, s, lo, hi, z), q16(xs + hw, s, lo, hi, z),
                                q16(xs + 2 * hw, s, lo, hi, z)}};
        vst3q_s8(ys, q);
    } else if (c == 4) {
        const int8x16x4_t q = {{q16(xs, s, lo, hi, z), q16(xs + hw, s, lo, hi, z),
                                q16(xs + 2 * hw, s, lo, hi, z), q16(xs + 3 * hw, s, lo, hi, z)}};
        vst4q_s8(ys, q);
    } else if (c == 2) {
        const int8x16x2_t q = {{q16(xs, s, lo, hi, z), q16(xs + hw, s, lo, hi, z)}};
        vst2q_s8(ys, q);
    } else if (c == 1) {
        vst1q_s8(ys, q16(xs, s, lo, hi, z));
    } else {
        for (int64_t ch = 0; ch < c; ch++) {
            int8_t t[16];
            vst1q_s8(t, q16(xs + ch * hw, s, lo, hi, z));
            for (int p = 0; p < 16; p++) ys[p * c + ch] = t[p];
        }
    }
}

#endif
