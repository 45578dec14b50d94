/* The NEON requantization epilogue (aarch64 Advanced SIMD; armv7 NEON), shared by the NEON
 * kernels (dwconv, eltwise, pool; the gemm tiles when they move onto it): the rule of
 * docs/QUANTIZATION.md §4 (i8_requantize in int8rt/kernels.h) on 16 lanes. API, in the
 * pattern of the other ISA epilogues of this folder:
 *   i8_neon_requant  i8_neon_requant_init(y_zp, qmin, qmax, out_f32)
 *   i8_neon_requant16(rq, s0, s1, s2, s3, bias, mult, y, nr)   s0..s3 = channels 0-3 .. 12-15
 *   i8_neon_requant16m / _1: bias already added; 16 int8 lanes with per-lane / one multiplier
 * plus the function attribute I8N_FN / I8N_ATTR for NEON code and a few widening helpers.
 *
 * Requantization, bit for bit i8_requantize (kernels.h): float32(acc) (SCVTF / VCVT.F32.S32
 * round to nearest like the C conversion) times mult with one multiply (nothing is added, so
 * no FMA question), clamp to [qmin - zp, qmax - zp] as max then min (the scalar select, since
 * lo <= hi), round half to even, add zp:
 *  - aarch64: vcvtnq_s32_f32 (FCVTNS: nearest, ties to even, like lrintf in the default mode);
 *  - armv7: NEON has no rounding convert (VCVT truncates). The clamped value lies in
 *    [-255, 255], so (v + 1.5 * 2^23) - 1.5 * 2^23 is exactly rint(v): the add lands in the
 *    binade [2^23, 2^24) where float32 spacing is 1, so it rounds to an integer, half to even
 *    (armv7 NEON always rounds to nearest even), and the subtraction is exact.
 *    armv7 NEON flushes denormals to zero; an int8 result cannot change (a denormal product
 *    rounds to 0 either way), so float32 outputs (out_f32) are computed with scalar code.
 * After the clamp and + zp every lane is in [qmin, qmax] within [-128, 127], so the narrowing
 * moves are exact.
 *
 * aarch64 always has Advanced SIMD. On armv7 every NEON function carries target("fpu=neon"),
 * so the rest of the build keeps the toolchain's baseline (Debian armhf: VFPv3-D16, no NEON)
 * and the dispatchers call NEON code only when HWCAP_NEON is set. Include only inside
 * `#if I8_NEON_KERNELS` (below: aarch64, or armv7 hard-float, as compiled_in() in cpu.c). */
#ifndef INT8RT_REQUANT_NEON_H
#define INT8RT_REQUANT_NEON_H

#include <arm_neon.h>
#include <stdint.h>
#include <string.h>

#include "int8rt/kernels.h"

#if defined(__aarch64__)
#define I8N_FN __attribute__((unused))
#define I8N_ATTR
#else
#define I8N_FN __attribute__((target("fpu=neon"), unused))
#define I8N_ATTR __attribute__((target("fpu=neon")))
#endif

/* round half to even of floats already clamped to [-255, 255] */
I8N_FN static inline int32x4_t i8_neon_round_even(float32x4_t v) {
#if defined(__aarch64__)
    return vcvtnq_s32_f32(v);
#else
    const float32x4_t magic = vdupq_n_f32(12582912.0f); /* 1.5 * 2^23 */
    return vcvtq_s32_f32(vsubq_f32(vaddq_f32(v, magic), magic));
#endif
}

/* The clamp bounds and zero point of one requantization, as vectors. */
typedef struct {
    float32x4_t lo, hi; /* armv7: the float clamp bounds qmin - zp, qmax - zp */
    int8x16_t qmin, qmax; /* aarch64: the clamp in int8 (below) */
    int16x8_t zp;
    int32_t out_f32; /* y is float32 (acc * mult), else int8 */
} i8_neon_requant;

I8N_FN static inline i8_neon_requant i8_neon_requant_init(int32_t zp, int32_t qmin, int32_t qmax,
                                                          int32_t out_f32) {
    i8_neon_requant r;
    r.lo = vdupq_n_f32((float)(qmin - zp));
    r.hi = vdupq_n_f32((float)(qmax - zp));
    /* kernels get int8 bounds (lowering); anything else is clamped the same way by int8 */
    r.qmin = vdupq_n_s8((int8_t)(qmin < -128 ? -128 : qmin > 127 ? 127 : qmin));
    r.qmax = vdupq_n_s8((int8_t)(qmax < -128 ? -128 : qmax > 127 ? 127 : qmax));
    r.zp = vdupq_n_s16((int16_t)zp);
    r.out_f32 = out_f32;
    return r;
}

#if defined(__aarch64__)
/* aarch64: FCVTNS rounds half to even on any float (saturating beyond int32), so the clamp can
 * follow the rounding, in integers: for integer bounds lo <= hi, rint(clamp(v, lo, hi)) ==
 * clamp(rint(v), lo, hi) (rint is monotone and fixes integers). The rounded lanes narrow with
 * saturation (SQXTN) to int16, get + zp with saturation (SQADD), narrow with saturation to
 * int8, then SMAX / SMIN with qmin / qmax: a lane that saturated was beyond every int8 bound
 * already, so it ends on the same bound as the float clamp would have put it. Saves the two
 * float compares per 4 lanes of the armv7 order. Needs qmin <= qmax within [-128, 127], which
 * the lowering guarantees; i8_neon_requant16* callers with other bounds use the scalar code. */
I8N_FN static inline int16x8_t i8_neon_rq8(int32x4_t a0, int32x4_t a1, float32x4_t m0,
                                       float32x4_t m1) {
    const int32x4_t q0 = vcvtnq_s32_f32(vmulq_f32(vcvtq_f32_s32(a0), m0));
    const int32x4_t q1 = vcvtnq_s32_f32(vmulq_f32(vcvtq_f32_s32(a1), m1));
    return vqmovn_high_s32(vqmovn_s32(q0), q1);
}

I8N_FN static inline int8x16_t i8_neon_finish16(const i8_neon_requant *r, int16x8_t h0,
                                            int16x8_t h1) {
    const int8x16_t q = vqmovn_high_s16(vqmovn_s16(vqaddq_s16(h0, r->zp)), vqaddq_s16(h1, r->zp));
    return vminq_s8(vmaxq_s8(q, r->qmin), r->qmax);
}

/* 16 accumulators with per-lane multipliers m[0..15] -> 16 int8 */
I8N_FN static inline int8x16_t i8_neon_requant16m(const i8_neon_requant *r, int32x4_t a0,
                                                  int32x4_t a1, int32x4_t a2, int32x4_t a3,
                                                  const float *m) {
    return i8_neon_finish16(r, i8_neon_rq8(a0, a1, vld1q_f32(m), vld1q_f32(m + 4)),
                        i8_neon_rq8(a2, a3, vld1q_f32(m + 8), vld1q_f32(m + 12)));
}

/* The same with one multiplier for every lane. */
I8N_FN static inline int8x16_t i8_neon_requant16_1(const i8_neon_requant *r, int32x4_t a0,
                                                   int32x4_t a1, int32x4_t a2, int32x4_t a3,
                                                   float32x4_t m) {
    return i8_neon_finish16(r, i8_neon_rq8(a0, a1, m, m), i8_neon_rq8(a2, a3, m, m));
}
#else
/* armv7: clamp in float first (the 1.5 * 2^23 rounding needs |v| <= 2^22), then round */
I8N_FN static inline int32x4_t i8_neon_rq4(const i8_neon_requant *r, int32x4_t acc, float32x4_t m) {
    const float32x4_t v = vmulq_f32(vcvtq_f32_s32(acc), m);
    return i8_neon_round_even(vminq_f32(vmaxq_f32(v, r->lo), r->hi));
}

/* 8 rounded lanes + zp, narrowed to int8 (exact: already within [qmin, qmax]) */
I8N_FN static inline int8x8_t i8_neon_pack8(const i8_neon_requant *r, int32x4_t q0, int32x4_t q1) {
    const int16x8_t h = vaddq_s16(vcombine_s16(vmovn_s32(q0), vmovn_s32(q1)), r->zp);
    return vmovn_s16(h);
}

I8N_FN static inline int8x16_t i8_neon_requant16m(const i8_neon_requant *r, int32x4_t a0,
                                                  int32x4_t a1, int32x4_t a2, int32x4_t a3,
                                                  const float *m) {
    const int8x8_t lo =
        i8_neon_pack8(r, i8_neon_rq4(r, a0, vld1q_f32(m)), i8_neon_rq4(r, a1, vld1q_f32(m + 4)));
    const int8x8_t hi =
        i8_neon_pack8(r, i8_neon_rq4(r, a2, vld1q_f32(m + 8)), i8_neon_rq4(r, a3, vld1q_f32(m + 12)));
    return vcombine_s8(lo, hi);
}

I8N_FN static inline int8x16_t i8_neon_requant16_1(const i8_neon_requant *r, int32x4_t a0,
                                                   int32x4_t a1, int32x4_t a2, int32x4_t a3,
                                                   float32x4_t m) {
    const int8x8_t lo = i8_neon_pack8(r, i8_neon_rq4(r, a0, m), i8_neon_rq4(r, a1, m));
    const int8x8_t hi = i8_neon_pack8(r, i8_neon_rq4(r, a2, m), i8_neon_rq4(r, a3, m));
    return vcombine_s8(lo, hi);
}
#endif

/* acc + bias (wrapping int32 adds: biases are stored modulo 2^32), then the int8 or float32
 * epilogue of channels 0..nr-1 (nr <= 16) into y; 16 entries of bias and mult readable */
I8N_FN static inline void i8_neon_requant16(const i8_neon_requant *r, int32x4_t s0, int32x4_t s1,
                                            int32x4_t s2, int32x4_t s3, const int32_t *bias,
                                            const float *mult, void *y, size_t nr) {
    s0 = vaddq_s32(s0, vld1q_s32(bias));
    s1 = vaddq_s32(s1, vld1q_s32(bias + 4));
    s2 = vaddq_s32(s2, vld1q_s32(bias + 8));
    s3 = vaddq_s32(s3, vld1q_s32(bias + 12));
    if (r->out_f32) {
        /* scalar: IEEE denormals on armv7 too (NEON would flush them) */
        int32_t t[16];
        vst1q_s32(t, s0);
        vst1q_s32(t + 4, s1);
        vst1q_s32(t + 8, s2);
        vst1q_s32(t + 12, s3);
        for (size_t i = 0; i < nr; i++) ((float *)y)[i] = (float)t[i] * mult[i];
        return;
    }
    const int8x16_t q = i8_neon_requant16m(r, s0, s1, s2, s3, mult);
    if (nr == 16) {
        vst1q_s8((int8_t *)y, q);
    } else {
        int8_t t[16];
        vst1q_s8(t, q);
        memcpy(y, t, nr);
    }
}

/* widening helpers that exist only on aarch64 as single instructions */
I8N_FN static inline int16x8_t i8_neon_movl_hi(int8x16_t v) {
#if defined(__aarch64__)
    return vmovl_high_s8(v);
#else
    return vmovl_s8(vget_high_s8(v));
#endif
}

I8N_FN static inline int32x4_t i8_neon_addw_hi(int32x4_t a, int16x8_t v) {
#if defined(__aarch64__)
    return vaddw_high_s16(a, v);
#else
    return vaddw_s16(a, vget_high_s16(v));
#endif
}

#endif
