/* NEON depthwise convolution (aarch64 Advanced SIMD; armv7 NEON via target("fpu=neon")): the
 * same packed stream and results as i8_dwconv__scalar (dwconv.h), bit for bit.
 *
 * Per output pixel and block of 16 channels, taps go in pairs: SMULL multiplies tap 2t's 8
 * int8 activations by its 8 weights into int16 lanes and SMLAL adds tap 2t+1's products into
 * the same lanes; SADDW widens the pair sums into the int32 accumulators. Exact because the
 * weights of the stream are checked to lie in [-127, 127] (the weight range of
 * docs/QUANTIZATION.md §2; -128 is never produced by the quantizer) and activations in
 * [-128, 127]: each product is at most 128 * 127 = 16,256 in magnitude, a pair at most
 * 32,512 <= 32,767. A stream holding a -128 weight (a foreign QDQ model may) would allow
 * (-128)(-128) + (-128)(-128) = 2^15, which wraps in int16, so such a stream runs the scalar
 * kernel instead (one scan of kh * kw * cs weight bytes per call). The int32 lanes add modulo
 * 2^32 like the scalar sums (exact whenever the true sum fits, §3). A missing odd last tap is
 * a lone SMULL.
 *
 * The tap weights come from the tap-major int8 section (w [kh * kw][cs]); 3x3 and 5x5 are
 * specialised (the pair loop fully unrolled). Padding taps point at the scratch row of x_zp
 * (the folded bias cancels them, as in scalar.c). A channel tail (c % 16) copies each tap's
 * last bytes into a zero-padded block, so no load reads past the input.
 * Epilogue: requant/neon.h (int8); out_f32 streams use scalar float multiplies. */
#if defined(__aarch64__) || (defined(__arm__) && defined(__ARM_FP) && !defined(__SOFTFP__))

#include <string.h>

#include "kernels/dwconv/dwconv.h"
#include "kernels/gemm/gemm.h"
#include "kernels/requant/neon.h"

#define MAX_TAPS 64 /* larger kernels (none in practice) take the scalar kernel */

/* the 16 channels at off of every tap, accumulated into 4 int32x4 (channels 0-3 .. 12-15) */
I8N_FN static inline __attribute__((always_inline)) void
block16(const int ntaps, const int8_t *const *src, size_t off, const int8_t *w, size_t cs,
        int32x4_t acc[4]) {
    int32x4_t a0 = vdupq_n_s32(0), a1 = a0, a2 = a0, a3 = a0;
    int t = 0;
#pragma GCC unroll 16
    for (; t + 1 < ntaps; t += 2) {
        const int8x16_t x0 = vld1q_s8(src[t] + off), x1 = vld1q_s8(src[t + 1] + off);
        const int8x16_t w0 = vld1q_s8(w + (size_t)t * cs), w1 = vld1q_s8(w + (size_t)(t + 1) * cs);
        int16x8_t lo = vmull_s8(vget_low_s8(x0), vget_low_s8(w0));
        lo = vmlal_s8(lo, vget_low_s8(x1), vget_low_s8(w1));
#if defined(__aarch64__)
        int16x8_t hi = vmull_high_s8(x0, w0);
        hi = vmlal_high_s8(hi, x1, w1);
#else
        int16x8_t hi = vmull_s8(vget_high_s8(x0), vget_high_s8(w0));
        hi = vmlal_s8(hi, vget_high_s8(x1), vget_high_s8(w1));
#endif
        a0 = vaddw_s16(a0, vget_low_s16(lo));
        a1 = i8n_addw_hi(a1, lo);
        a2 = vaddw_s16(a2, vget_low_s16(hi));
        a3 = i8n_addw_hi(a3, hi);
    }
    if (t < ntaps) {
        const int8x16_t x0 = vld1q_s8(src[t] + off), w0 = vld1q_s8(w + (size_t)t * cs);
        const int16x8_t lo = vmull_s8(vget_low_s8(x0), vget_low_s8(w0));
        const int16x8_t hi = vmull_s8(vget_high_s8(x0), vget_high_s8(w0));
        a0 = vaddw_s16(a0, vget_low_s16(lo));
        a1 = i8n_addw_hi(a1, lo);
        a2 = vaddw_s16(a2, vget_low_s16(hi));
        a3 = i8n_addw_hi(a3, hi);
    }
    acc[0] = a0;
    acc[1] = a1;
    acc[2] = a2;
    acc[3] = a3;
}

I8N_FN static inline __attribute__((always_inline)) void
pixel(const int ntaps, const i8_conv2d_params *p, const i8_dwconv_packed *s,
      const i8_neon_requant *rq,
      const int8_t *const *src, void *y) {
    const size_t c = (size_t)p->c, c16 = c & ~(size_t)15, esz = p->out_f32 ? 4 : 1;
    int32x4_t acc[4];
    for (size_t ch = 0; ch < c16; ch += 16) {
        block16(ntaps, src, ch, s->w + ch, s->cs, acc);
        i8_neon_requant16(rq, acc[0], acc[1], acc[2], acc[3], s->bias + ch, s->mult + ch,
                          (unsigned char *)y + ch * esz, 16);
    }
    if (c16 < c) {
        int8_t tail[MAX_TAPS][16];
        const int8_t *tp[MAX_TAPS];
        for (int t = 0; t < ntaps; t++) {
            memset(tail[t], 0, 16);
            memcpy(tail[t], src[t] + c16, c - c16);
            tp[t] = tail[t];
        }
        block16(ntaps, tp, 0, s->w + c16, s->cs, acc);
        i8_neon_requant16(rq, acc[0], acc[1], acc[2], acc[3], s->bias + c16, s->mult + c16,
                          (unsigned char *)y + c16 * esz, c - c16);
    }
}

I8N_ATTR static I8_NOINLINE void pixel9(const i8_conv2d_params *p, const i8_dwconv_packed *s,
                                        const i8_neon_requant *rq, const int8_t *const *src,
                                        void *y) {
    pixel(9, p, s, rq, src, y);
}

I8N_ATTR static I8_NOINLINE void pixel25(const i8_conv2d_params *p, const i8_dwconv_packed *s,
                                         const i8_neon_requant *rq, const int8_t *const *src,
                                         void *y) {
    pixel(25, p, s, rq, src, y);
}

I8N_ATTR static I8_NOINLINE void pixel_any(int ntaps, const i8_conv2d_params *p,
                                           const i8_dwconv_packed *s, const i8_neon_requant *rq,
                                           const int8_t *const *src, void *y) {
    pixel(ntaps, p, s, rq, src, y);
}

/* 1 if some packed weight is -128 (pairs could then wrap in int16: see the top) */
I8N_FN static int has_minus128(const i8_dwconv_packed *s, size_t taps) {
    const size_t nb = taps * s->cs; /* the section is zero-padded to cs per tap */
    uint8x16_t any = vdupq_n_u8(0);
    const int8x16_t m128 = vdupq_n_s8(-128);
    for (size_t i = 0; i < nb; i += 16) any = vorrq_u8(any, vceqq_s8(vld1q_s8(s->w + i), m128));
#if defined(__aarch64__)
    return vmaxvq_u8(any) != 0;
#else
    const uint8x8_t d = vorr_u8(vget_low_u8(any), vget_high_u8(any));
    return vget_lane_u64(vreinterpret_u64_u8(d), 0) != 0;
#endif
}

I8N_ATTR void i8_dwconv__neon(const i8_conv2d_params *p, const void *packed, const int8_t *x,
                              void *y, void *scratch, size_t r0, size_t r1) {
    i8_dwconv_packed s;
    i8_dwconv_sections(p, packed, &s);
    const int taps = p->kh * p->kw;
    if (taps > MAX_TAPS || has_minus128(&s, (size_t)taps)) {
        i8_dwconv__scalar(p, packed, x, y, scratch, r0, r1, NULL);
        return;
    }
    const size_t c = (size_t)p->c, esz = p->out_f32 ? 4 : 1;
    int8_t *zrow = scratch; /* cs bytes of x_zp: padding taps read it */
    memset(zrow, p->x_zp, s.cs);
    const i8_neon_requant rq = i8_neon_requant_init(p->y_zp, p->qmin, p->qmax, p->out_f32);
    unsigned char *yp = (unsigned char *)y + r0 * (size_t)p->ow * c * esz;
    const int8_t *src[MAX_TAPS];
    for (size_t r = r0; r < r1; r++) {
        const int32_t b = (int32_t)(r / (size_t)p->oh), oy = (int32_t)(r % (size_t)p->oh);
        const int8_t *xb = x + (size_t)b * p->h * p->w * c;
        /* the input row of each ky (NULL: outside the image) */
        const int8_t *rows[MAX_TAPS];
        for (int32_t ky = 0; ky < p->kh; ky++) {
            const int32_t iy = oy * p->stride_h - p->pad_t + ky * p->dil_h;
            rows[ky] = iy >= 0 && iy < p->h ? xb + (size_t)iy * p->w * c : NULL;
        }
        for (int32_t ox = 0; ox < p->ow; ox++, yp += c * esz) {
            int t = 0;
            for (int32_t ky = 0; ky < p->kh; ky++)
                for (int32_t kx = 0; kx < p->kw; kx++, t++) {
                    const int32_t ix = ox * p->stride_w - p->pad_l + kx * p->dil_w;
                    src[t] = rows[ky] && ix >= 0 && ix < p->w ? rows[ky] + (size_t)ix * c : zrow;
                }
            if (taps == 9)
                pixel9(p, &s, &rq, src, yp);
            else if (taps == 25)
                pixel25(p, &s, &rq, src, yp);
            else
                pixel_any(taps, p, &s, &rq, src, yp);
        }
    }
}

#endif
