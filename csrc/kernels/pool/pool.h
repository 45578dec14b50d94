/* Pooling kernels per path (docs/KERNELS.md, "pool"): i8_maxpool_run (dispatch.c) picks the
 * kernel of the current path (int8rt/cpu.h); every path gives the same bytes. */
#ifndef INT8RT_POOL_H
#define INT8RT_POOL_H

#include <stdint.h>

#include "int8rt/kernels.h"

/* The in-bounds tap range of one window along one axis: taps t in [t0, t1) read row
 * start + t * dil, which lies in [0, size). */
static inline void i8_pool_tap_range(int32_t start, int32_t k, int32_t dil, int32_t size,
                                     int32_t *t0, int32_t *t1) {
    /* int64: start and the window's far end can exceed int32 for absurd strides/dilations
     * (found by tools/fuzz.py); the clamped tap indices always fit back into [0, k]. */
    const int64_t s = start, d = dil;
    int64_t lo = 0, hi = k;
    if (s < 0) lo = (-s + d - 1) / d;
    /* last valid t: start + t * dil <= size - 1 */
    if (s + (int64_t)(k - 1) * d > (int64_t)size - 1) {
        const int64_t last = (int64_t)size - 1 - s;
        hi = last < 0 ? 0 : last / d + 1;
    }
    if (lo > k) lo = k;
    if (hi < lo) hi = lo;
    *t0 = (int32_t)lo;
    *t1 = (int32_t)hi;
}

/* The in-bounds window of output pixel (oy, ox): taps [ky0, ky1) x [kx0, kx1). */
static inline void i8_pool_window(const i8_pool_params *p, int32_t oy, int32_t ox, int32_t *ky0,
                                  int32_t *ky1, int32_t *kx0, int32_t *kx1) {
    i8_pool_tap_range(oy * p->stride_h - p->pad_t, p->kh, p->dil_h, p->h, ky0, ky1);
    i8_pool_tap_range(ox * p->stride_w - p->pad_l, p->kw, p->dil_w, p->w, kx0, kx1);
}

void i8_maxpool__scalar(const i8_pool_params *p, const int8_t *x, int8_t *y);
void i8_avgpool__scalar(const i8_pool_params *p, const float *mult_by_count, const int8_t *x,
                        int8_t *y);
void i8_global_avgpool__scalar(int32_t n, int32_t hw, int32_t c, int32_t x_zp, int32_t y_zp,
                               float mult, int32_t qmin, int32_t qmax, const int8_t *x,
                               int8_t *y);
#if defined(__x86_64__) || defined(__i386__)
void i8_maxpool__avx2(const i8_pool_params *p, const int8_t *x, int8_t *y);
void i8_maxpool__avx512(const i8_pool_params *p, const int8_t *x, int8_t *y);
void i8_avgpool__avx512(const i8_pool_params *p, const float *mult_by_count, const int8_t *x,
                        int8_t *y);
void i8_global_avgpool__avx2(int32_t n, int32_t hw, int32_t c, int32_t x_zp, int32_t y_zp,
                             float mult, int32_t qmin, int32_t qmax, const int8_t *x, int8_t *y);
void i8_global_avgpool__avx512(int32_t n, int32_t hw, int32_t c, int32_t x_zp, int32_t y_zp,
                               float mult, int32_t qmin, int32_t qmax, const int8_t *x,
                               int8_t *y);
#endif
#if defined(__aarch64__) || (defined(__arm__) && defined(__ARM_FP) && !defined(__SOFTFP__))
#define I8_POOL_NEON 1
void i8_maxpool__neon(const i8_pool_params *p, const int8_t *x, int8_t *y);
void i8_avgpool__neon(const i8_pool_params *p, const float *mult_by_count, const int8_t *x,
                      int8_t *y);
void i8_global_avgpool__neon(int32_t n, int32_t hw, int32_t c, int32_t x_zp, int32_t y_zp,
                             float mult, int32_t qmin, int32_t qmax, const int8_t *x, int8_t *y);
#endif

#endif
