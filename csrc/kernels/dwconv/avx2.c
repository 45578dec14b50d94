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

#include "kernels/dwconv/driver.h"
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

/* post-ops: always NULL here (dwconv/dispatch.c runs them over the rows afterwards) */
#define NO_POST(rq, post) (void)(post)
I8_DWCONV_DEFINE_DRIVER(i8_dwconv__avx2, AVX2, i8_avx2_requant, i8_avx2_requant_init, NO_POST,
                        pixel, pixel_any)

#endif
