/* NEON pooling (aarch64; armv7 via target("fpu=neon")): the same results as pool.c, bit for
 * bit, vectorised over 16-channel blocks (NHWC keeps them contiguous).
 *
 * max: one SMAX per in-bounds tap into a register that starts at -128 (the scalar start value),
 * then the scalar clamp order "v < qmin ? qmin : min(v, qmax)" as SMIN + compare + select, so
 * even qmin > qmax gives the scalar bytes. Limits outside int8 go to the scalar kernel.
 * avg / global avg: the raw int8 values are summed in int16 lanes (SADDW) for at most 256 taps
 * ([-128 * 256, 127 * 256] = [-32768, 32512] fits int16 exactly), then widened into int32
 * (SADDW), so the sums equal the scalar int32 sums; then acc - taps * x_zp and the
 * requantization of requant/neon.h with the window's multiplier.
 * The last c % 16 channels of every pixel take the scalar loop; no load or store touches a
 * byte outside the tensors. */
#if defined(__aarch64__) || (defined(__arm__) && defined(__ARM_FP) && !defined(__SOFTFP__))

#include "kernels/requant/neon.h"
#include "kernels/pool/pool.h"

I8N_ATTR void i8_maxpool__neon(const i8_pool_params *p, const int8_t *x, int8_t *y) {
    if (p->qmin < -128 || p->qmin > 127 || p->qmax < -128 || p->qmax > 127) {
        i8_maxpool__scalar(p, x, y);
        return;
    }
    const int32_t c = p->c, c16 = c & ~15;
    const int8x16_t lo = vdupq_n_s8((int8_t)p->qmin), hi = vdupq_n_s8((int8_t)p->qmax);
    for (int32_t b = 0; b < p->n; b++) {
        const int8_t *xb = x + (int64_t)b * p->h * p->w * c;
        for (int32_t oy = 0; oy < p->oh; oy++) {
            const int32_t iy0 = oy * p->stride_h - p->pad_t;
            int32_t ky0, ky1;
            i8_pool_tap_range(iy0, p->kh, p->dil_h, p->h, &ky0, &ky1);
            for (int32_t ox = 0; ox < p->ow; ox++) {
                const int32_t ix0 = ox * p->stride_w - p->pad_l;
                int32_t kx0, kx1;
                i8_pool_tap_range(ix0, p->kw, p->dil_w, p->w, &kx0, &kx1);
                int8_t *yp = y + (((int64_t)b * p->oh + oy) * p->ow + ox) * c;
                for (int32_t c0 = 0; c0 < c16; c0 += 16) {
                    int8x16_t m = vdupq_n_s8(-128);
                    for (int32_t ky = ky0; ky < ky1; ky++) {
                        const int64_t iy = iy0 + (int64_t)ky * p->dil_h;
                        for (int32_t kx = kx0; kx < kx1; kx++) {
                            const int64_t ix = ix0 + (int64_t)kx * p->dil_w;
                            m = vmaxq_s8(m, vld1q_s8(xb + (iy * p->w + ix) * c + c0));
                        }
                    }
                    vst1q_s8(yp + c0, vbslq_s8(vcltq_s8(m, lo), lo, vminq_s8(m, hi)));
                }
                for (int32_t j = c16; j < c; j++) {
                    int32_t v = -128;
                    for (int32_t ky = ky0; ky < ky1; ky++) {
                        const int64_t iy = iy0 + (int64_t)ky * p->dil_h;
                        for (int32_t kx = kx0; kx < kx1; kx++) {
                            const int64_t ix = ix0 + (int64_t)kx * p->dil_w;
                            const int32_t xv = xb[(iy * p->w + ix) * c + j];
                            v = xv > v ? xv : v;
                        }
                    }
                    yp[j] = (int8_t)(v < p->qmin ? p->qmin : (v > p->qmax ? p->qmax : v));
                }
            }
        }
    }
}

/* int32 sums of 16 channels over `count` rows of x spaced `step` bytes (int16 partial sums of
 * at most 256 rows each, see the top) */
I8N_FN static inline void sum16(const int8_t *x, int64_t step, int64_t count, int32x4_t acc[4]) {
    int32x4_t a0 = vdupq_n_s32(0), a1 = a0, a2 = a0, a3 = a0;
    for (int64_t i0 = 0; i0 < count; i0 += 256) {
        const int64_t i1 = count - i0 < 256 ? count : i0 + 256;
        int16x8_t s0 = vdupq_n_s16(0), s1 = s0;
        for (int64_t i = i0; i < i1; i++) {
            const int8x16_t v = vld1q_s8(x + i * step);
            s0 = vaddw_s8(s0, vget_low_s8(v));
#if defined(__aarch64__)
            s1 = vaddw_high_s8(s1, v);
#else
            s1 = vaddw_s8(s1, vget_high_s8(v));
#endif
        }
        a0 = vaddw_s16(a0, vget_low_s16(s0));
        a1 = i8_neon_addw_hi(a1, s0);
        a2 = vaddw_s16(a2, vget_low_s16(s1));
        a3 = i8_neon_addw_hi(a3, s1);
    }
    acc[0] = a0;
    acc[1] = a1;
    acc[2] = a2;
    acc[3] = a3;
}

I8N_ATTR void i8_global_avgpool__neon(int32_t n, int32_t hw, int32_t c, int32_t x_zp,
                                      int32_t y_zp, float mult, int32_t qmin, int32_t qmax,
                                      const int8_t *x, int8_t *y) {
    const int32_t zp_sum = hw * x_zp, c16 = c & ~15;
    const i8_neon_requant rq = i8_neon_requant_init(y_zp, qmin, qmax, 0);
    const int32x4_t zs = vdupq_n_s32(zp_sum);
    const float32x4_t m = vdupq_n_f32(mult);
    for (int32_t b = 0; b < n; b++) {
        const int8_t *xb = x + (int64_t)b * hw * c;
        int8_t *yp = y + (int64_t)b * c;
        for (int32_t c0 = 0; c0 < c16; c0 += 16) {
            int32x4_t a[4];
            sum16(xb + c0, c, hw, a);
            vst1q_s8(yp + c0, i8_neon_requant16_1(&rq, vsubq_s32(a[0], zs), vsubq_s32(a[1], zs),
                                              vsubq_s32(a[2], zs), vsubq_s32(a[3], zs), m));
        }
        for (int32_t j = c16; j < c; j++) {
            int32_t acc = 0;
            for (int32_t i = 0; i < hw; i++) acc += xb[(int64_t)i * c + j];
            yp[j] = i8_requantize(acc - zp_sum, mult, y_zp, qmin, qmax);
        }
    }
}

I8N_ATTR void i8_avgpool__neon(const i8_pool_params *p, const float *mult_by_count,
                               const int8_t *x, int8_t *y) {
    const int32_t c = p->c, x_zp = p->x_zp, c16 = c & ~15;
    const i8_neon_requant rq = i8_neon_requant_init(p->y_zp, p->qmin, p->qmax, 0);
    for (int32_t b = 0; b < p->n; b++) {
        const int8_t *xb = x + (int64_t)b * p->h * p->w * c;
        for (int32_t oy = 0; oy < p->oh; oy++) {
            const int32_t iy0 = oy * p->stride_h - p->pad_t;
            int32_t ky0, ky1;
            i8_pool_tap_range(iy0, p->kh, p->dil_h, p->h, &ky0, &ky1);
            for (int32_t ox = 0; ox < p->ow; ox++) {
                const int32_t ix0 = ox * p->stride_w - p->pad_l;
                int32_t kx0, kx1;
                i8_pool_tap_range(ix0, p->kw, p->dil_w, p->w, &kx0, &kx1);
                const int32_t taps = (ky1 - ky0) * (kx1 - kx0);
                const int32_t divisor = p->count_include_pad ? p->kh * p->kw : taps;
                const float mult = mult_by_count[divisor];
                const int32_t zp_sum = taps * x_zp;
                const int32x4_t zs = vdupq_n_s32(zp_sum);
                int8_t *yp = y + (((int64_t)b * p->oh + oy) * p->ow + ox) * c;
                for (int32_t c0 = 0; c0 < c16; c0 += 16) {
                    int32x4_t a0 = vdupq_n_s32(0), a1 = a0, a2 = a0, a3 = a0;
                    for (int32_t ky = ky0; ky < ky1; ky++) {
                        const int64_t iy = iy0 + (int64_t)ky * p->dil_h;
                        const int64_t ixs = ix0 + (int64_t)kx0 * p->dil_w;
                        int32x4_t a[4];
                        sum16(xb + (iy * p->w + ixs) * c + c0, (int64_t)p->dil_w * c,
                              kx1 - kx0, a);
                        a0 = vaddq_s32(a0, a[0]);
                        a1 = vaddq_s32(a1, a[1]);
                        a2 = vaddq_s32(a2, a[2]);
                        a3 = vaddq_s32(a3, a[3]);
                    }
                    vst1q_s8(yp + c0, i8_neon_requant16_1(&rq, vsubq_s32(a0, zs),
                                                      vsubq_s32(a1, zs), vsubq_s32(a2, zs),
                                                      vsubq_s32(a3, zs), vdupq_n_f32(mult)));
                }
                for (int32_t j = c16; j < c; j++) {
                    int32_t acc = 0;
                    for (int32_t ky = ky0; ky < ky1; ky++) {
                        const int64_t iy = iy0 + (int64_t)ky * p->dil_h;
                        for (int32_t kx = kx0; kx < kx1; kx++) {
                            const int64_t ix = ix0 + (int64_t)kx * p->dil_w;
                            acc += xb[(iy * p->w + ix) * c + j];
                        }
                    }
                    yp[j] = i8_requantize(acc - zp_sum, mult, p->y_zp, p->qmin, p->qmax);
                }
            }
        }
    }
}

#endif
