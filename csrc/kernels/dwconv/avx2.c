/* AVX2 depthwise convolution: the same packed stream and results as i8_dwconv__scalar
 * (dwconv.h), bit for bit, vectorised over channels (NHWC keeps them contiguous).
 *
 * Per output pixel and block of 16 channels, the taps go in pairs (2t, 2t + 1): both taps'
 * 16 int8 activations are sign-extended to int16 (vpmovsxbw) and interleaved
 * (vpunpck{l,h}wd), so one vpmaddwd against the packed w16 vector of the pair gives, per
 * channel, x(2t) w(2t) + x(2t+1) w(2t+1) in int32: 2 taps x 8 channels per instruction.
 * Exact: int8 products are at most 2^14 in magnitude, a pair sum at most 2^15, and the int32
 * lanes add with wrapping vpaddd, equal to the scalar sums modulo 2^32 (exact whenever the
 * true accumulator fits, §3; a depthwise sum of kh * kw taps is far below that). A missing
 * odd last tap reads the x_zp row against weight 0.
 *
 * The accumulators come out as channels [0-3 | 8-11] and [4-7 | 12-15] (the lane order of
 * the unpacks); one lane permute each restores channel order for the shared epilogue
 * (requant/avx2.h). 3x3 and 5x5 kernels are specialised (tap loop fully unrolled, the
 * pair weights of a block stay in registers or L1); any other size takes the same loop with
 * a run-time tap count. Strides, dilations and pads only change the per-pixel tap pointers:
 * an out-of-image tap points at the scratch row of x_zp, so there is no per-element branch.
 * A channel tail (c not a multiple of 16) copies each tap's last c % 16 bytes into a
 * zero-padded block, so no load reads past the input. */
#if defined(__x86_64__) || defined(__i386__)

#include <immintrin.h>
#include <string.h>

#include "kernels/dwconv/dwconv.h"
#include "kernels/requant/avx2.h"

#define AVX2 __attribute__((target("avx2")))
#define MAX_TAPS_FAST 25 /* tap pointer array on the stack; larger kernels take pointer chunks */

AVX2 static inline __m256i load_x(const int8_t *p) {
    return _mm256_cvtepi8_epi16(_mm_loadu_si128((const __m128i *)p));
}

/* One 16-channel block of one pixel over `ntaps` taps (pointers already offset to the block),
 * w16 = the block's pair vectors. Always inlined so a constant ntaps unrolls. */
AVX2 static inline __attribute__((always_inline)) void
block16(const int ntaps, const int8_t *const *src, size_t off, const int16_t *w16,
        __m256i *lo_acc, __m256i *hi_acc) {
    __m256i lo = *lo_acc, hi = *hi_acc;
    for (int t = 0; t + 1 < ntaps; t += 2) {
        const __m256i xa = load_x(src[t] + off), xb = load_x(src[t + 1] + off);
        const int16_t *wp = w16 + (size_t)(t / 2) * 32;
        lo = _mm256_add_epi32(lo, _mm256_madd_epi16(_mm256_unpacklo_epi16(xa, xb),
                                                    _mm256_loadu_si256((const __m256i *)wp)));
        hi = _mm256_add_epi32(
            hi, _mm256_madd_epi16(_mm256_unpackhi_epi16(xa, xb),
                                  _mm256_loadu_si256((const __m256i *)(wp + 16))));
    }
    if (ntaps % 2) {
        /* last tap alone: its partner lane holds weight 0, so pair it with zeros */
        const __m256i xa = load_x(src[ntaps - 1] + off), z = _mm256_setzero_si256();
        const int16_t *wp = w16 + (size_t)(ntaps / 2) * 32;
        lo = _mm256_add_epi32(lo, _mm256_madd_epi16(_mm256_unpacklo_epi16(xa, z),
                                                    _mm256_loadu_si256((const __m256i *)wp)));
        hi = _mm256_add_epi32(
            hi, _mm256_madd_epi16(_mm256_unpackhi_epi16(xa, z),
                                  _mm256_loadu_si256((const __m256i *)(wp + 16))));
    }
    *lo_acc = lo;
    *hi_acc = hi;
}

/* All channels of one output pixel; src[t] = tap t's input pixel (channel 0) or the x_zp row. */
AVX2 static inline __attribute__((always_inline)) void
pixel(const int ntaps, const i8_dwconv_packed *s, const i8_avx2_requant *rq, size_t c,
      const int8_t *const *src, unsigned char *y, size_t esz) {
    const size_t c16 = c & ~(size_t)15;
    for (size_t ch = 0; ch < c16; ch += 16) {
        __m256i lo = _mm256_setzero_si256(), hi = lo;
        block16(ntaps, src, ch, s->w16 + ch * s->npairs * 2, &lo, &hi);
        i8_avx2_requant16(rq, _mm256_permute2x128_si256(lo, hi, 0x20),
                          _mm256_permute2x128_si256(lo, hi, 0x31), s->bias + ch, s->mult + ch,
                          y + ch * esz, 16);
    }
    if (c16 < c) {
        /* channel tail: zero-padded copies of each tap's last c - c16 bytes */
        int8_t tail[MAX_TAPS_FAST][16];
        const int8_t *tp[MAX_TAPS_FAST];
        __m256i lo = _mm256_setzero_si256(), hi = lo;
        for (int t0 = 0; t0 < ntaps; t0 += MAX_TAPS_FAST - 1) {
            /* chunks of an even number of taps keep the pair order of the packed weights */
            const int nt = ntaps - t0 < MAX_TAPS_FAST - 1 ? ntaps - t0 : MAX_TAPS_FAST - 1;
            for (int t = 0; t < nt; t++) {
                memset(tail[t], 0, 16);
                memcpy(tail[t], src[t0 + t] + c16, c - c16);
                tp[t] = tail[t];
            }
            block16(nt, tp, 0, s->w16 + c16 * s->npairs * 2 + (size_t)(t0 / 2) * 32, &lo, &hi);
        }
        i8_avx2_requant16(rq, _mm256_permute2x128_si256(lo, hi, 0x20),
                          _mm256_permute2x128_si256(lo, hi, 0x31), s->bias + c16,
                          s->mult + c16, y + c16 * esz, c - c16);
    }
}

/* General tap count (beyond MAX_TAPS_FAST taps: chunks of an even number of taps). */
AVX2 static void pixel_any(int ntaps, const i8_dwconv_packed *s, const i8_avx2_requant *rq,
                           size_t c, const int8_t *const *src, unsigned char *y, size_t esz) {
    if (ntaps <= MAX_TAPS_FAST) {
        pixel(ntaps, s, rq, c, src, y, esz);
        return;
    }
    const size_t c16 = c & ~(size_t)15;
    for (size_t ch = 0; ch < c16; ch += 16) {
        __m256i lo = _mm256_setzero_si256(), hi = lo;
        for (int t0 = 0; t0 < ntaps; t0 += MAX_TAPS_FAST - 1) {
            const int nt = ntaps - t0 < MAX_TAPS_FAST - 1 ? ntaps - t0 : MAX_TAPS_FAST - 1;
            block16(nt, src + t0, ch, s->w16 + ch * s->npairs * 2 + (size_t)(t0 / 2) * 32, &lo,
                    &hi);
        }
        i8_avx2_requant16(rq, _mm256_permute2x128_si256(lo, hi, 0x20),
                          _mm256_permute2x128_si256(lo, hi, 0x31), s->bias + ch, s->mult + ch,
                          y + ch * esz, 16);
    }
    if (c16 < c) {
        __m256i lo = _mm256_setzero_si256(), hi = lo;
        int8_t tail[MAX_TAPS_FAST][16];
        const int8_t *tp[MAX_TAPS_FAST];
        for (int t0 = 0; t0 < ntaps; t0 += MAX_TAPS_FAST - 1) {
            const int nt = ntaps - t0 < MAX_TAPS_FAST - 1 ? ntaps - t0 : MAX_TAPS_FAST - 1;
            for (int t = 0; t < nt; t++) {
                memset(tail[t], 0, 16);
                memcpy(tail[t], src[t0 + t] + c16, c - c16);
                tp[t] = tail[t];
            }
            block16(nt, tp, 0, s->w16 + c16 * s->npairs * 2 + (size_t)(t0 / 2) * 32, &lo, &hi);
        }
        i8_avx2_requant16(rq, _mm256_permute2x128_si256(lo, hi, 0x20),
                          _mm256_permute2x128_si256(lo, hi, 0x31), s->bias + c16,
                          s->mult + c16, y + c16 * esz, c - c16);
    }
}

AVX2 void i8_dwconv__avx2(const i8_conv2d_params *p, const void *packed, const int8_t *x, void *y,
                          void *scratch, size_t r0, size_t r1) {
    i8_dwconv_packed s;
    i8_dwconv_sections(p, packed, &s);
    const size_t c = (size_t)p->c, esz = p->out_f32 ? sizeof(float) : 1;
    const int ntaps = p->kh * p->kw;
    const i8_avx2_requant rq = i8_avx2_requant_init(p->y_zp, p->qmin, p->qmax, p->out_f32);
    int8_t *zrow = (int8_t *)scratch + s.cs * 4; /* the scalar kernel's layout of the scratch */
    memset(zrow, p->x_zp, s.cs);
    /* tap pointers of one pixel; kh * kw may exceed MAX_TAPS_FAST only for huge kernels,
     * which then take one pointer array of up to 1024 taps in chunks (larger: rows of taps) */
    const int8_t *src[1024];
    const int fits = ntaps <= 1024;
    unsigned char *yb = (unsigned char *)y + r0 * (size_t)p->ow * c * esz;
    /* interior pixels (every tap in the image): tap t is at a fixed offset from the pixel's
     * first tap, so the pointers are one add each instead of per-tap bounds checks */
    ptrdiff_t tap_off[1024];
    if (fits)
        for (int32_t ky = 0, t = 0; ky < p->kh; ky++)
            for (int32_t kx = 0; kx < p->kw; kx++, t++)
                tap_off[t] = ((ptrdiff_t)ky * p->dil_h * p->w + (ptrdiff_t)kx * p->dil_w) *
                             (ptrdiff_t)c;
    /* output columns [ox_lo, ox_hi) have all kx taps inside the row */
    const int32_t span_w = (p->kw - 1) * p->dil_w;
    int32_t ox_lo = p->pad_l <= 0 ? 0 : (p->pad_l + p->stride_w - 1) / p->stride_w;
    int32_t ox_hi = p->w - span_w + p->pad_l <= 0
                        ? 0
                        : (p->w - span_w + p->pad_l - 1) / p->stride_w + 1;
    if (ox_hi > p->ow) ox_hi = p->ow;
    if (ox_lo > ox_hi) ox_lo = ox_hi;
    for (size_t r = r0; r < r1; r++) {
        const int32_t b = (int32_t)(r / (size_t)p->oh), oy = (int32_t)(r % (size_t)p->oh);
        const int8_t *xb = x + (size_t)b * p->h * p->w * c;
        const int32_t iy0 = oy * p->stride_h - p->pad_t;
        const int rows_in = iy0 >= 0 && iy0 + (p->kh - 1) * p->dil_h < p->h;
        for (int32_t ox = 0; ox < p->ow; ox++, yb += c * esz) {
            if (!fits) {
                /* > 1024 taps: never seen in practice; the portable kernel does the row */
                continue;
            }
            if (rows_in && ox >= ox_lo && ox < ox_hi) {
                const int8_t *p0 =
                    xb + ((size_t)iy0 * p->w + (size_t)(ox * p->stride_w - p->pad_l)) * c;
                for (int t = 0; t < ntaps; t++) src[t] = p0 + tap_off[t];
            } else {
                int t = 0;
                for (int32_t ky = 0; ky < p->kh; ky++) {
                    const int32_t iy = iy0 + ky * p->dil_h;
                    const int row_in = iy >= 0 && iy < p->h;
                    for (int32_t kx = 0; kx < p->kw; kx++, t++) {
                        const int32_t ix = ox * p->stride_w - p->pad_l + kx * p->dil_w;
                        src[t] = row_in && ix >= 0 && ix < p->w
                                     ? xb + ((size_t)iy * p->w + ix) * c
                                     : zrow;
                    }
                }
            }
            switch (ntaps) {
            case 9: pixel(9, &s, &rq, c, src, yb, esz); break;
            case 25: pixel(25, &s, &rq, c, src, yb, esz); break;
            default: pixel_any(ntaps, &s, &rq, c, src, yb, esz); break;
            }
        }
        if (!fits) i8_dwconv__scalar(p, packed, x, y, scratch, r, r + 1);
    }
}

#endif
