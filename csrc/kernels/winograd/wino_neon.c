/* Winograd F(2x2, 3x3) with aarch64 NEON (wino_tile.h instantiated), for Armv8.0 cores without
 * dotprod (Cortex-A53 / A72: Pi 3, Pi 4), where the gemm's best exact form is the smull + smlal
 * int16 pair (16 products per 3 instructions). Here each U' pair group (8 channels x 2 input
 * channels, the K2N16-shaped stream) is loaded deinterleaved (ld2: one register per input
 * channel), and smlal / smlal2 by lane multiply it by one V value: 4 int16 x int16 -> int32
 * products per instruction, exact (|U' V| <= 1152 * 512) and wrapping like vpaddd, so the
 * results equal the AVX2 and portable sets bit for bit. Epilogue: requant/neon.h (16 lanes;
 * the scalar row for partial widths and float32 outputs); post-ops: the driver's row pass
 * (i8_post_rows__neon). */
#if defined(__aarch64__)

#include <arm_neon.h>
#include <string.h>

#include "kernels/requant/neon.h"
#include "kernels/winograd/winograd.h"

#define WINO_SET neon
#define WINO_SET_NAME "neon"
#define WINO_ATTR
#define WINO_NEEDS_AVX2 0
#define WINO_POST_INLINE 0
#define WINO_NO_SCHED_INSNS 1

typedef struct {
    int16x8_t a, b;
} wi_vec;
static inline wi_vec wi_load16(const int8_t *s) {
    const int8x16_t v = vld1q_s8(s);
    const wi_vec r = {vmovl_s8(vget_low_s8(v)), vmovl_high_s8(v)};
    return r;
}
static inline wi_vec wi_set1(int16_t x) {
    const wi_vec r = {vdupq_n_s16(x), vdupq_n_s16(x)};
    return r;
}
static inline wi_vec wi_add(wi_vec x, wi_vec y) {
    const wi_vec r = {vaddq_s16(x.a, y.a), vaddq_s16(x.b, y.b)};
    return r;
}
static inline wi_vec wi_sub(wi_vec x, wi_vec y) {
    const wi_vec r = {vsubq_s16(x.a, y.a), vsubq_s16(x.b, y.b)};
    return r;
}
static inline void wi_store(int16_t *d, wi_vec v) {
    vst1q_s16(d, v.a);
    vst1q_s16(d + 8, v.b);
}

typedef struct {
    int32x4_t a, b; /* channels 0-3, 4-7 of the half */
} wg_acc;
typedef int16x8x2_t wg_w; /* val[0]: the 8 channels' U' of the pair's first input channel */
typedef int16x4_t wg_b;
static inline wg_acc wg_zero(void) {
    const wg_acc r = {vdupq_n_s32(0), vdupq_n_s32(0)};
    return r;
}
static inline wg_w wg_loadw(const int16_t *u) { return vld2q_s16(u); }
/* the pair into lanes 0 and 1 (the by-lane products read only those): one `ldr s`; a
 * vld1_dup made gcc add a `dup` per row (71 -> 65 instructions per pair step) */
#define wg_bcast(v)                                                                            \
    vreinterpret_s16_s32(vld1_lane_s32((const int32_t *)(const void *)(v), vdup_n_s32(0), 0))
static inline wg_acc wg_dot_neon(wg_acc acc, int16x4_t b, wg_w w) {
    acc.a = vmlal_lane_s16(acc.a, vget_low_s16(w.val[0]), b, 0);
    acc.b = vmlal_high_lane_s16(acc.b, w.val[0], b, 0);
    acc.a = vmlal_lane_s16(acc.a, vget_low_s16(w.val[1]), b, 1);
    acc.b = vmlal_high_lane_s16(acc.b, w.val[1], b, 1);
    return acc;
}
static inline void wg_store(int32_t *m, wg_acc a) {
    vst1q_s32(m, a.a);
    vst1q_s32(m + 4, a.b);
}

typedef wg_acc wo_vec;
typedef struct {
    i8_neon_requant v;
    i8_rq_params s; /* the scalar row: partial widths, float32 outputs */
} wo_rq;
static inline wo_vec wo_load(const int32_t *m) {
    const wo_vec r = {vld1q_s32(m), vld1q_s32(m + 4)};
    return r;
}
static inline wo_vec wo_add(wo_vec x, wo_vec y) {
    const wo_vec r = {vaddq_s32(x.a, y.a), vaddq_s32(x.b, y.b)};
    return r;
}
static inline wo_vec wo_sub(wo_vec x, wo_vec y) {
    const wo_vec r = {vsubq_s32(x.a, y.a), vsubq_s32(x.b, y.b)};
    return r;
}
static inline wo_vec wo_sra2(wo_vec x) {
    const wo_vec r = {vshrq_n_s32(x.a, 2), vshrq_n_s32(x.b, 2)};
    return r;
}
static inline wo_rq wo_rq_init(const i8_conv2d_params *p, const i8_post *po) {
    (void)po; /* the driver runs the post-ops over the block's rows (i8_post_rows__neon) */
    wo_rq r;
    r.v = i8_neon_requant_init(p->y_zp, p->qmin, p->qmax, p->out_f32);
    r.s = i8_rq_params_init(p->y_zp, p->qmin, p->qmax, p->out_f32);
    return r;
}
static inline void wo_store16(const wo_rq *rq, wo_vec lo, wo_vec hi, const int32_t *bias,
                              const float *mult, void *y, size_t nr) {
    if (nr == 16 && !rq->s.out_f32) {
        /* bias' modulo 2^32: the wrapping add (vaddq_s32) */
        const int8x16_t q = i8_neon_requant16m(
            &rq->v, vaddq_s32(lo.a, vld1q_s32(bias)), vaddq_s32(lo.b, vld1q_s32(bias + 4)),
            vaddq_s32(hi.a, vld1q_s32(bias + 8)), vaddq_s32(hi.b, vld1q_s32(bias + 12)), mult);
        vst1q_s8((int8_t *)y, q);
        return;
    }
    int32_t acc[16];
    wg_store(acc, lo);
    wg_store(acc + 8, hi);
    i8_requant_row__scalar(&rq->s, acc, bias, mult, y, nr);
}

#define wg_dot wg_dot_neon
#include "kernels/winograd/wino_tile.h"

#endif
