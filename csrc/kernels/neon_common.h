/* Helpers of the NEON kernels outside gemm (dwconv, eltwise, pool, lut, convert): the target
 * attribute and the requantization rule of docs/QUANTIZATION.md §4 on 16 lanes.
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
#ifndef INT8RT_KERNELS_NEON_COMMON_H
#define INT8RT_KERNELS_NEON_COMMON_H

#include <arm_neon.h>
#include <stdint.h>

#if defined(__aarch64__)
#define I8N_FN __attribute__((unused))
#define I8N_ATTR
#else
#define I8N_FN __attribute__((target("fpu=neon"), unused))
#define I8N_ATTR __attribute__((target("fpu=neon")))
#endif

/* round half to even of floats already clamped to [-255, 255] */
I8N_FN static inline int32x4_t i8n_round_even(float32x4_t v) {
#if defined(__aarch64__)
    return vcvtnq_s32_f32(v);
#else
    const float32x4_t magic = vdupq_n_f32(12582912.0f); /* 1.5 * 2^23 */
    return vcvtq_s32_f32(vsubq_f32(vaddq_f32(v, magic), magic));
#endif
}

/* The clamp bounds and zero point of one requantization, as vectors. */
typedef struct {
    float32x4_t lo, hi;
    int16x8_t zp;
} i8n_rq;

I8N_FN static inline i8n_rq i8n_rq_init(int32_t zp, int32_t qmin, int32_t qmax) {
    i8n_rq r;
    r.lo = vdupq_n_f32((float)(qmin - zp));
    r.hi = vdupq_n_f32((float)(qmax - zp));
    r.zp = vdupq_n_s16((int16_t)zp);
    return r;
}

/* 4 lanes: float32(acc) * m, clamped, rounded half to even (no zero point yet) */
I8N_FN static inline int32x4_t i8n_rq4(const i8n_rq *r, int32x4_t acc, float32x4_t m) {
    const float32x4_t v = vmulq_f32(vcvtq_f32_s32(acc), m);
    return i8n_round_even(vminq_f32(vmaxq_f32(v, r->lo), r->hi));
}

/* 8 rounded lanes + zp, narrowed to int8 */
I8N_FN static inline int8x8_t i8n_pack8(const i8n_rq *r, int32x4_t q0, int32x4_t q1) {
    const int16x8_t h = vaddq_s16(vcombine_s16(vmovn_s32(q0), vmovn_s32(q1)), r->zp);
    return vmovn_s16(h);
}

/* 16 accumulators with per-lane multipliers m[0..15] -> 16 int8 */
I8N_FN static inline int8x16_t i8n_requant16(const i8n_rq *r, int32x4_t a0, int32x4_t a1,
                                             int32x4_t a2, int32x4_t a3, const float *m) {
    const int8x8_t lo = i8n_pack8(r, i8n_rq4(r, a0, vld1q_f32(m)), i8n_rq4(r, a1, vld1q_f32(m + 4)));
    const int8x8_t hi =
        i8n_pack8(r, i8n_rq4(r, a2, vld1q_f32(m + 8)), i8n_rq4(r, a3, vld1q_f32(m + 12)));
    return vcombine_s8(lo, hi);
}

/* The same with one multiplier for every lane. */
I8N_FN static inline int8x16_t i8n_requant16_1(const i8n_rq *r, int32x4_t a0, int32x4_t a1,
                                               int32x4_t a2, int32x4_t a3, float32x4_t m) {
    const int8x8_t lo = i8n_pack8(r, i8n_rq4(r, a0, m), i8n_rq4(r, a1, m));
    const int8x8_t hi = i8n_pack8(r, i8n_rq4(r, a2, m), i8n_rq4(r, a3, m));
    return vcombine_s8(lo, hi);
}

/* widening helpers that exist only on aarch64 as single instructions */
I8N_FN static inline int16x8_t i8n_movl_hi(int8x16_t v) {
#if defined(__aarch64__)
    return vmovl_high_s8(v);
#else
    return vmovl_s8(vget_high_s8(v));
#endif
}

I8N_FN static inline int32x4_t i8n_addw_hi(int32x4_t a, int16x8_t v) {
#if defined(__aarch64__)
    return vaddw_high_s16(a, v);
#else
    return vaddw_s16(a, vget_high_s16(v));
#endif
}

#endif
