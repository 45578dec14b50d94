/* Max / average / global average pooling, NHWC (docs/QUANTIZATION.md §4, AveragePool rows).
 * Channels are the contiguous axis, so each kernel walks the window taps and, per tap, a block
 * of up to POOL_BLOCK channels into a small stack accumulator: unit-stride loads, no scratch. */
#include "int8rt/cpu.h"
#include "kernels/pool/pool.h"

#define POOL_BLOCK 64

/* max: the output has the input's parameters, so no requantization; only the fused clamp.
 * A window with no in-bounds tap (only possible with pads >= the kernel extent) yields qmin. */
void i8_maxpool__scalar(const i8_pool_params *p, const int8_t *x, int8_t *y) {
    const int32_t c = p->c;
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
                for (int32_t c0 = 0; c0 < c; c0 += POOL_BLOCK) {
                    const int32_t cn = c - c0 < POOL_BLOCK ? c - c0 : POOL_BLOCK;
                    int8_t m[POOL_BLOCK];
                    for (int32_t j = 0; j < cn; j++) m[j] = -128;
                    for (int32_t ky = ky0; ky < ky1; ky++) {
                        const int64_t iy = iy0 + ky * p->dil_h;
                        for (int32_t kx = kx0; kx < kx1; kx++) {
                            const int64_t ix = ix0 + kx * p->dil_w;
                            const int8_t *xp = xb + (iy * p->w + ix) * c + c0;
                            for (int32_t j = 0; j < cn; j++) m[j] = xp[j] > m[j] ? xp[j] : m[j];
                        }
                    }
                    int8_t *yp = y + (((int64_t)b * p->oh + oy) * p->ow + ox) * c + c0;
                    for (int32_t j = 0; j < cn; j++) {
                        const int32_t v = m[j];
                        yp[j] = (int8_t)(v < p->qmin ? p->qmin : (v > p->qmax ? p->qmax : v));
                    }
                }
            }
        }
    }
}

/* avg: acc = sum (x - x_zp) over in-bounds taps; |acc| <= 255 * kh * kw, far inside int32 for
 * any real window. The divisor indexes a float32 table built in Python, so no division here;
 * mult_by_count[0] = 0 makes an all-padding window (without count_include_pad) produce y_zp. */
void i8_avgpool__scalar(const i8_pool_params *p, const float *mult_by_count, const int8_t *x,
                        int8_t *y) {
    const int32_t c = p->c, x_zp = p->x_zp;
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
                /* sum raw values, subtract taps * x_zp once: the same integer */
                const int32_t zp_sum = taps * x_zp;
                for (int32_t c0 = 0; c0 < c; c0 += POOL_BLOCK) {
                    const int32_t cn = c - c0 < POOL_BLOCK ? c - c0 : POOL_BLOCK;
                    int32_t acc[POOL_BLOCK];
                    for (int32_t j = 0; j < cn; j++) acc[j] = 0;
                    for (int32_t ky = ky0; ky < ky1; ky++) {
                        const int64_t iy = iy0 + ky * p->dil_h;
                        for (int32_t kx = kx0; kx < kx1; kx++) {
                            const int64_t ix = ix0 + kx * p->dil_w;
                            const int8_t *xp = xb + (iy * p->w + ix) * c + c0;
                            for (int32_t j = 0; j < cn; j++) acc[j] += xp[j];
                        }
                    }
                    int8_t *yp = y + (((int64_t)b * p->oh + oy) * p->ow + ox) * c + c0;
                    for (int32_t j = 0; j < cn; j++)
                        yp[j] = i8_requantize(acc[j] - zp_sum, mult, p->y_zp, p->qmin, p->qmax);
                }
            }
        }
    }
}

/* acc = sum over hw of (x - x_zp): |acc| <= 255 * hw, int32 for hw < 8.4M pixels. */
void i8_global_avgpool__scalar(int32_t n, int32_t hw, int32_t c, int32_t x_zp, int32_t y_zp,
                               float mult, int32_t qmin, int32_t qmax, const int8_t *x,
                               int8_t *y) {
    const int32_t zp_sum = hw * x_zp;
    for (int32_t b = 0; b < n; b++) {
        const int8_t *xb = x + (int64_t)b * hw * c;
        for (int32_t c0 = 0; c0 < c; c0 += POOL_BLOCK) {
            const int32_t cn = c - c0 < POOL_BLOCK ? c - c0 : POOL_BLOCK;
            int32_t acc[POOL_BLOCK];
            for (int32_t j = 0; j < cn; j++) acc[j] = 0;
            for (int32_t i = 0; i < hw; i++) {
                const int8_t *xp = xb + (int64_t)i * c + c0;
                for (int32_t j = 0; j < cn; j++) acc[j] += xp[j];
            }
            int8_t *yp = y + (int64_t)b * c + c0;
            for (int32_t j = 0; j < cn; j++)
                yp[j] = i8_requantize(acc[j] - zp_sum, mult, y_zp, qmin, qmax);
        }
    }
}
