/* NEON depthwise convolution (aarch64 Advanced SIMD; armv7 NEON via target("fpu=neon")): the
 * same packed stream and results as i8_dwconv__scalar (dwconv.h), bit for bit.
 *
 * Per block of 16 channels, taps go in pairs: SMULL multiplies tap 2t's 16 int8 activations
 * by its 16 weights into int16 lanes and SMLAL adds tap 2t+1's products into the same lanes;
 * SADDW widens the pair sums into the int32 accumulators. Exact because the weights of the
 * stream are checked to lie in [-127, 127] (the weight range of docs/QUANTIZATION.md §2; -128
 * is never produced by the quantizer) and activations in [-128, 127]: each product is at most
 * 128 * 127 = 16,256 in magnitude, a pair at most 32,512 <= 32,767. A stream holding a -128
 * weight (a foreign QDQ model may) would allow (-128)(-128) + (-128)(-128) = 2^15, which wraps
 * in int16, so such a stream runs the scalar kernel instead (the pack records it: dwconv.h,
 * w_m128). The int32 lanes add modulo 2^32 like the scalar sums (exact whenever the
 * true sum fits, §3). A missing odd last tap is a lone SMULL.
 *
 * Loop order: block of 16 channels (its kh * kw weight vectors loaded once: in registers for
 * 3x3 on aarch64), output row, output pixel. Each kernel row has a base pointer and a step per
 * input column (step 0 for a row outside the image: it reads the scratch row of x_zp, which
 * the folded bias cancels, as in scalar.c), so an interior pixel's taps are fixed offsets from
 * kh running pointers; only the border pixels (a tap left or right of the image) test each
 * tap (a select per tap column). The accumulators start at the bias. A channel tail (c % 16) loads through a zero-padded
 * copy, so no load reads past the input, and takes the scalar epilogue (i8_requantize, or the
 * float32 multiply for out_f32 streams), as do float32 outputs; int8 blocks of 16 use
 * requant/neon.h. 3x3 and 5x5 are specialised (the tap loop fully unrolled). */
#if defined(__aarch64__) || (defined(__arm__) && defined(__ARM_FP) && !defined(__SOFTFP__))

#include <string.h>

#include "kernels/dwconv/dwconv.h"
#include "kernels/gemm/gemm.h"
#include "kernels/requant/neon.h"

#define MAX_TAPS 64 /* larger kernels (none in practice) take the scalar kernel */
#define MAX_KH 64
#define INLINE static inline __attribute__((always_inline, unused))

/* 16 bytes at p, of which n (< 16) belong to the tensor: the rest read as 0 */
I8N_FN INLINE int8x16_t load_part(const int8_t *p, size_t n) {
    int8_t t[16] = {0};
    memcpy(t, p, n);
    return vld1q_s8(t);
}

I8N_FN INLINE int8x16_t load_x(const int8_t *p, size_t nch) {
    return nch == 16 ? vld1q_s8(p) : load_part(p, nch);
}

/* a[0..3] += x0 * w0 + x1 * w1 per channel (the pair in int16: exact, see the top) */
I8N_FN INLINE void mac_pair(int8x16_t x0, int8x16_t w0, int8x16_t x1, int8x16_t w1,
                            int32x4_t a[4]) {
    int16x8_t lo = vmull_s8(vget_low_s8(x0), vget_low_s8(w0));
    lo = vmlal_s8(lo, vget_low_s8(x1), vget_low_s8(w1));
#if defined(__aarch64__)
    int16x8_t hi = vmull_high_s8(x0, w0);
    hi = vmlal_high_s8(hi, x1, w1);
#else
    int16x8_t hi = vmull_s8(vget_high_s8(x0), vget_high_s8(w0));
    hi = vmlal_s8(hi, vget_high_s8(x1), vget_high_s8(w1));
#endif
    a[0] = vaddw_s16(a[0], vget_low_s16(lo));
    a[1] = i8_neon_addw_hi(a[1], lo);
    a[2] = vaddw_s16(a[2], vget_low_s16(hi));
    a[3] = i8_neon_addw_hi(a[3], hi);
}

I8N_FN INLINE void mac_one(int8x16_t x0, int8x16_t w0, int32x4_t a[4]) {
    const int16x8_t lo = vmull_s8(vget_low_s8(x0), vget_low_s8(w0));
#if defined(__aarch64__)
    const int16x8_t hi = vmull_high_s8(x0, w0);
#else
    const int16x8_t hi = vmull_s8(vget_high_s8(x0), vget_high_s8(w0));
#endif
    a[0] = vaddw_s16(a[0], vget_low_s16(lo));
    a[1] = i8_neon_addw_hi(a[1], lo);
    a[2] = vaddw_s16(a[2], vget_low_s16(hi));
    a[3] = i8_neon_addw_hi(a[3], hi);
}

/* the sums (bias included) of channels ch..ch+nch-1 -> y */
I8N_FN INLINE void store_out(const i8_conv2d_params *p, const i8_neon_requant *rq,
                             const float *mult, int32x4_t a[4], void *y, size_t nch,
                             int out_f32) {
    if (nch == 16 && !out_f32) {
        vst1q_s8((int8_t *)y, i8_neon_requant16m(rq, a[0], a[1], a[2], a[3], mult));
        return;
    }
    int32_t t[16];
    vst1q_s32(t, a[0]);
    vst1q_s32(t + 4, a[1]);
    vst1q_s32(t + 8, a[2]);
    vst1q_s32(t + 12, a[3]);
    if (out_f32) /* scalar: IEEE denormals on armv7 too (NEON would flush them) */
        for (size_t k = 0; k < nch; k++) ((float *)y)[k] = (float)t[k] * mult[k];
    else
        for (size_t k = 0; k < nch; k++)
            ((int8_t *)y)[k] = i8_requantize(t[k], mult[k], p->y_zp, p->qmin, p->qmax);
}

/* One pixel: activations xv[t] (t = ky * KW + kx), weights wt[t]. */
I8N_FN INLINE void pixel(const i8_conv2d_params *p, const i8_neon_requant *rq,
                         const i8_dwconv_packed *s, size_t ch, const int8x16_t *xv,
                         const int8x16_t *wt, void *y, size_t nch, int out_f32, const int T) {
    int32x4_t a[4];
    a[0] = vld1q_s32(s->bias + ch);
    a[1] = vld1q_s32(s->bias + ch + 4);
    a[2] = vld1q_s32(s->bias + ch + 8);
    a[3] = vld1q_s32(s->bias + ch + 12);
    int t = 0;
#pragma GCC unroll 32
    for (; t + 1 < T; t += 2)
        mac_pair(xv[t], wt[t], xv[t + 1], wt[t + 1], a);
    if (t < T) mac_one(xv[t], wt[t], a);
    store_out(p, rq, s->mult + ch, a, y, nch, out_f32);
}

/* A border pixel (some tap left or right of the image): every tap tested. */
I8N_FN INLINE void border(const i8_conv2d_params *p, const i8_neon_requant *rq,
                                      const i8_dwconv_packed *s, size_t ch,
                                      const int8_t *const *base, const size_t *step,
                                      const int8_t *zrow, int32_t ox, const int8x16_t *wt,
                                      void *y, size_t nch, int out_f32, const int KH,
                                      const int KW) {
    int8x16_t xv[MAX_TAPS];
    const int32_t sw = p->stride_w, dw = p->dil_w, pad_l = p->pad_l, iw = p->w;
#pragma GCC unroll 8
    for (int kx = 0; kx < KW; kx++) {
        const int32_t ix = ox * sw - pad_l + kx * dw;
        const int in = ix >= 0 && ix < iw;
#pragma GCC unroll 8
        for (int ky = 0; ky < KH; ky++)
            xv[ky * KW + kx] = load_x(in ? base[ky] + (size_t)ix * step[ky] : zrow + ch, nch);
    }
    pixel(p, rq, s, ch, xv, wt, y, nch, out_f32, KH * KW);
}

/* The interior pixels of one output row in the common case (3x3, 16 channels, int8 output)
 * in a function of its own: gcc then keeps the 9 weight vectors and the epilogue's constants in
 * registers (inlined in block() it reloaded the clamp bounds, zero point and the bias / mult
 * pointers per pixel). row[ky]: kernel row ky's first tap of the first pixel; px[ky] / tap[ky]:
 * its step per pixel / per kernel column (0 for a row of the x_zp scratch). Same arithmetic
 * as pixel(). */
I8N_ATTR static I8_NOINLINE void interior3x3(const i8_neon_requant *rqp, const int32_t *bias,
                                             const float *mult, const int8x16_t *wt,
                                             const int8_t *const *row, const size_t *px,
                                             const size_t *tap, unsigned char *yp,
                                             size_t y_step, int32_t n) {
    const i8_neon_requant rq = *rqp;
    int8x16_t w[9];
    for (int t = 0; t < 9; t++) w[t] = wt[t];
    const int8_t *r0 = row[0], *r1 = row[1], *r2 = row[2];
    const size_t p0 = px[0], p1 = px[1], p2 = px[2], t0 = tap[0], t1 = tap[1], t2 = tap[2];
    for (int32_t i = 0; i < n; i++, r0 += p0, r1 += p1, r2 += p2, yp += y_step) {
        int32x4_t a[4];
        a[0] = vld1q_s32(bias);
        a[1] = vld1q_s32(bias + 4);
        a[2] = vld1q_s32(bias + 8);
        a[3] = vld1q_s32(bias + 12);
        mac_pair(vld1q_s8(r0), w[0], vld1q_s8(r0 + t0), w[1], a);
        mac_pair(vld1q_s8(r0 + 2 * t0), w[2], vld1q_s8(r1), w[3], a);
        mac_pair(vld1q_s8(r1 + t1), w[4], vld1q_s8(r1 + 2 * t1), w[5], a);
        mac_pair(vld1q_s8(r2), w[6], vld1q_s8(r2 + t2), w[7], a);
        mac_one(vld1q_s8(r2 + 2 * t2), w[8], a);
        vst1q_s8((int8_t *)yp, i8_neon_requant16m(&rq, a[0], a[1], a[2], a[3], mult));
    }
}

/* Channels [ch, ch + nch) of output rows [r0, r1). */
I8N_FN INLINE void block(const i8_conv2d_params *p, const i8_dwconv_packed *s,
                         const i8_neon_requant *rq, const int8_t *x, unsigned char *y,
                         const int8_t *zrow, size_t ch, size_t r0, size_t r1, size_t nch,
                         int out_f32, const int KH, const int KW) {
    const int T = KH * KW;
    const size_t c = (size_t)p->c, esz = out_f32 ? 4 : 1;
    int8x16_t wt[MAX_TAPS];
#pragma GCC unroll 32
    for (int t = 0; t < T; t++) wt[t] = vld1q_s8(s->w + (size_t)t * s->cs + ch);
    const int32_t sw = p->stride_w, dw = p->dil_w, pad_l = p->pad_l, iw = p->w;
    /* output columns [ox_lo, ox_hi) have all kw taps inside the row (driver.h's bounds) */
    const int32_t span_w = (KW - 1) * dw;
    int32_t ox_lo = pad_l <= 0 ? 0 : (pad_l + sw - 1) / sw;
    int32_t ox_hi = iw - span_w + pad_l <= 0 ? 0 : (iw - span_w + pad_l - 1) / sw + 1;
    if (ox_hi > p->ow) ox_hi = p->ow;
    if (ox_lo > ox_hi) ox_lo = ox_hi;
    int8x16_t xv[MAX_TAPS];
    for (size_t r = r0; r < r1; r++) {
        const int32_t b = (int32_t)(r / (size_t)p->oh), oy = (int32_t)(r % (size_t)p->oh);
        const int8_t *xb = x + (size_t)b * p->h * iw * c;
        const int32_t iy0 = oy * p->stride_h - p->pad_t;
        /* per kernel row: the address of input column 0 and the step per column */
        const int8_t *base[MAX_KH];
        size_t step[MAX_KH];
#pragma GCC unroll 8
        for (int ky = 0; ky < KH; ky++) {
            const int32_t iy = iy0 + ky * p->dil_h;
            const int in = iy >= 0 && iy < p->h;
            base[ky] = in ? xb + (size_t)iy * iw * c + ch : zrow + ch;
            step[ky] = in ? c : 0;
        }
        unsigned char *yp = y + (r * (size_t)p->ow * c + ch) * esz;
        /* border pixels (left of ox_lo, from ox_hi on) test each tap; one copy of each loop
         * body (left and right borders share it: the build is slow enough under emulation) */
        for (int32_t ox = 0; ox < p->ow;) {
            if (ox < ox_lo || ox >= ox_hi) {
                border(p, rq, s, ch, base, step, zrow, ox, wt, yp, nch, out_f32, KH, KW);
                ox++;
                yp += c * esz;
                continue;
            }
            if (KH == 3 && KW == 3 && nch == 16 && !out_f32) { /* the common case */
                const size_t ix0 = (size_t)(ox * sw - pad_l);
                const int8_t *row[3];
                size_t px[3], tap[3];
                for (int ky = 0; ky < 3; ky++) {
                    row[ky] = base[ky] + ix0 * step[ky];
                    px[ky] = (size_t)sw * step[ky];
                    tap[ky] = (size_t)dw * step[ky];
                }
                interior3x3(rq, s->bias + ch, s->mult + ch, wt, row, px, tap, yp, c,
                            ox_hi - ox);
                yp += (size_t)(ox_hi - ox) * c;
                ox = ox_hi;
                continue;
            }
            for (; ox < ox_hi; ox++, yp += c * esz) { /* interior: fixed offsets */
                const size_t ix0 = (size_t)(ox * sw - pad_l);
#pragma GCC unroll 8
                for (int ky = 0; ky < KH; ky++) {
                    const int8_t *row = base[ky] + ix0 * step[ky];
                    const size_t d = (size_t)dw * step[ky];
#pragma GCC unroll 8
                    for (int kx = 0; kx < KW; kx++)
                        xv[ky * KW + kx] = load_x(row + (size_t)kx * d, nch);
                }
                pixel(p, rq, s, ch, xv, wt, yp, nch, out_f32, T);
            }
        }
    }
}

/* the common case (16 channels, int8 out) compiled apart from the tail / float32 one */
I8N_ATTR static I8_NOINLINE void block3x3(const i8_conv2d_params *p, const i8_dwconv_packed *s,
                                          const i8_neon_requant *rq, const int8_t *x,
                                          unsigned char *y, const int8_t *zrow, size_t ch,
                                          size_t r0, size_t r1, size_t nch, int out_f32) {
    if (nch == 16 && !out_f32)
        block(p, s, rq, x, y, zrow, ch, r0, r1, 16, 0, 3, 3);
    else
        block(p, s, rq, x, y, zrow, ch, r0, r1, nch, out_f32, 3, 3);
}

I8N_ATTR static I8_NOINLINE void block5x5(const i8_conv2d_params *p, const i8_dwconv_packed *s,
                                          const i8_neon_requant *rq, const int8_t *x,
                                          unsigned char *y, const int8_t *zrow, size_t ch,
                                          size_t r0, size_t r1, size_t nch, int out_f32) {
    if (nch == 16 && !out_f32)
        block(p, s, rq, x, y, zrow, ch, r0, r1, 16, 0, 5, 5);
    else
        block(p, s, rq, x, y, zrow, ch, r0, r1, nch, out_f32, 5, 5);
}

I8N_ATTR static I8_NOINLINE void block_any(const i8_conv2d_params *p, const i8_dwconv_packed *s,
                                           const i8_neon_requant *rq, const int8_t *x,
                                           unsigned char *y, const int8_t *zrow, size_t ch,
                                           size_t r0, size_t r1, size_t nch, int out_f32) {
    block(p, s, rq, x, y, zrow, ch, r0, r1, nch, out_f32, p->kh, p->kw);
}

I8N_ATTR void i8_dwconv__neon(const i8_conv2d_params *p, const void *packed, const int8_t *x,
                              void *y, void *scratch, size_t r0, size_t r1) {
    i8_dwconv_packed s;
    i8_dwconv_sections(p, packed, &s);
    const int taps = p->kh * p->kw;
    /* a -128 weight: pairs could wrap in int16 (see the top); flagged by the pack */
    if (taps > MAX_TAPS || p->kh > MAX_KH || s.w_m128) {
        i8_dwconv__scalar(p, packed, x, y, scratch, r0, r1, NULL);
        return;
    }
    const size_t c = (size_t)p->c;
    int8_t *zrow = scratch; /* cs bytes of x_zp: padding taps read it */
    memset(zrow, p->x_zp, s.cs);
    const i8_neon_requant rq = i8_neon_requant_init(p->y_zp, p->qmin, p->qmax, p->out_f32);
    for (size_t ch = 0; ch < c; ch += 16) {
        const size_t nch = c - ch < 16 ? c - ch : 16;
        if (p->kh == 3 && p->kw == 3)
            block3x3(p, &s, &rq, x, y, zrow, ch, r0, r1, nch, p->out_f32);
        else if (p->kh == 5 && p->kw == 5)
            block5x5(p, &s, &rq, x, y, zrow, ch, r0, r1, nch, p->out_f32);
        else
            block_any(p, &s, &rq, x, y, zrow, ch, r0, r1, nch, p->out_f32);
    }
}

#endif
