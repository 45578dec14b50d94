/* AVX-512 depthwise convolution (avx512vnni path): the same packed stream and results as
 * i8_dwconv__scalar (dwconv.h), bit for bit; the AVX2 kernel (avx2.c) with VNNI and masks.
 *
 * Per output pixel, block of 16 channels and pair of taps (2t, 2t + 1): both taps' 16 int8
 * activations sign-extended to int16 and interleaved exactly as avx2.c does in its two ymm
 * halves ("lo" = channels 0-3 | 8-11, "hi" = 4-7 | 12-15, each channel's two taps side by
 * side), each half multiplied with its packed w16 vector by one ymm vpdpwssd (AVX512-VL +
 * VNNI: the pairwise int16 products summed into the int32 lane, wrapping like vpmaddwd +
 * vpaddd), then both halves joined into one zmm [lo | hi] for the epilogue: 2 taps x
 * 16 channels. Exact for the reasons given in avx2.c (|x| <= 128, |w| <= 128: a pair sum is at
 * most 2^15, no int16 product overflows). The lanes come out as channels
 * [0-3, 8-11, 4-7, 12-15] in 128-bit quarters; one vshufi64x2 restores channel order for the
 * shared epilogue (requant/avx512.h). A channel tail (c % 16) uses masked loads (masked-off
 * lanes read as 0) and the epilogue's masked store: no copies, nothing read or written past
 * the channels. Measured on Zen 4 (bench/bench_x86ops.py, 3x3 56x56x144): ~5 % faster than
 * the AVX2 kernel; a zmm-operand variant (one vinserti64x4 per tap pair) was ~4 % slower. */
#if defined(__x86_64__) || defined(__i386__)

#include <immintrin.h>
#include <string.h>

#include "kernels/dwconv/driver.h"
#include "kernels/dwconv/dwconv.h"
#include "kernels/requant/avx512.h"

#define AVX512 __attribute__((target("avx512f,avx512bw,avx512vl,avx512vnni")))
#define MAX_TAPS_FAST 25 /* as in avx2.c */

/* full blocks use a plain load (it folds into vpmovsxbw); a masked load only for the tail */
AVX512 static inline __attribute__((always_inline)) __m256i load_x(const int8_t *p,
                                                                   __mmask16 m) {
    if (m == (__mmask16)0xFFFF) return _mm256_cvtepi8_epi16(_mm_loadu_si128((const __m128i *)p));
    return _mm256_cvtepi8_epi16(_mm_maskz_loadu_epi8(m, p));
}

/* one 16-channel block of one pixel over `ntaps` taps; always inlined so a constant ntaps
 * unrolls. Two ymm accumulators (lo = channels 0-3 | 8-11, hi = 4-7 | 12-15) rather than one
 * zmm: a zmm operand would need a lane insert per tap pair, and on CPUs that split 512-bit
 * operations in two (Zen 4) the extra shuffle made the kernel slower than AVX2; the ymm
 * vpdpwssd (AVX512-VL + VNNI) keeps AVX2's shuffles and drops its vpaddd. */
AVX512 static inline __attribute__((always_inline)) __m512i
block16(const int ntaps, const int8_t *const *src, size_t off, __mmask16 m, const int16_t *w16,
        __m512i acc) {
    __m256i lo = _mm512_castsi512_si256(acc), hi = _mm512_extracti64x4_epi64(acc, 1);
    for (int t = 0; t + 1 < ntaps; t += 2) {
        const __m256i xa = load_x(src[t] + off, m), xb = load_x(src[t + 1] + off, m);
        const int16_t *wp = w16 + (size_t)(t / 2) * 32;
        lo = _mm256_dpwssd_epi32(lo, _mm256_unpacklo_epi16(xa, xb),
                                 _mm256_loadu_si256((const __m256i *)wp));
        hi = _mm256_dpwssd_epi32(hi, _mm256_unpackhi_epi16(xa, xb),
                                 _mm256_loadu_si256((const __m256i *)(wp + 16)));
    }
    if (ntaps % 2) {
        /* last tap alone: its partner lane holds weight 0, so pair it with zeros */
        const __m256i xa = load_x(src[ntaps - 1] + off, m), z = _mm256_setzero_si256();
        const int16_t *wp = w16 + (size_t)(ntaps / 2) * 32;
        lo = _mm256_dpwssd_epi32(lo, _mm256_unpacklo_epi16(xa, z),
                                 _mm256_loadu_si256((const __m256i *)wp));
        hi = _mm256_dpwssd_epi32(hi, _mm256_unpackhi_epi16(xa, z),
                                 _mm256_loadu_si256((const __m256i *)(wp + 16)));
    }
    return _mm512_inserti64x4(_mm512_castsi256_si512(lo), hi, 1);
}

/* quarters [0-3, 8-11, 4-7, 12-15] -> channel order */
AVX512 static inline __m512i channel_order(__m512i acc) {
    return _mm512_shuffle_i64x2(acc, acc, _MM_SHUFFLE(3, 1, 2, 0));
}

/* All channels of one output pixel, any tap count (pointer chunks of an even number of taps
 * keep the pair order of the packed weights). */
AVX512 static inline __attribute__((always_inline)) void
pixel(const int ntaps, const i8_dwconv_packed *s, const i8_avx512_requant *rq, size_t c,
      const int8_t *const *src, unsigned char *y, size_t esz) {
    for (size_t ch = 0; ch < c; ch += 16) {
        const size_t nr = c - ch < 16 ? c - ch : 16;
        const __mmask16 m = nr == 16 ? (__mmask16)0xFFFF : (__mmask16)((1u << nr) - 1);
        const int16_t *w = s->w16 + ch * s->npairs * 2;
        __m512i acc = _mm512_setzero_si512();
        if (ntaps <= MAX_TAPS_FAST && nr == 16) {
            acc = block16(ntaps, src, ch, (__mmask16)0xFFFF, w, acc); /* constant: plain loads */
        } else if (ntaps <= MAX_TAPS_FAST) {
            acc = block16(ntaps, src, ch, m, w, acc);
        } else {
            for (int t0 = 0; t0 < ntaps; t0 += MAX_TAPS_FAST - 1) {
                const int nt = ntaps - t0 < MAX_TAPS_FAST - 1 ? ntaps - t0 : MAX_TAPS_FAST - 1;
                acc = block16(nt, src + t0, ch, m, w + (size_t)(t0 / 2) * 32, acc);
            }
        }
        i8_avx512_requant16(rq, channel_order(acc), s->bias + ch, s->mult + ch, y + ch * esz,
                            nr);
    }
}

AVX512 static void pixel_any(int ntaps, const i8_dwconv_packed *s, const i8_avx512_requant *rq,
                             size_t c, const int8_t *const *src, unsigned char *y, size_t esz) {
    pixel(ntaps, s, rq, c, src, y, esz);
}

#define SET_POST(rq, p) (rq).post = (p)
I8_DWCONV_DEFINE_DRIVER(i8_dwconv__avx512vnni, AVX512, i8_avx512_requant, i8_avx512_requant_init,
                        SET_POST, pixel, pixel_any)

#endif
