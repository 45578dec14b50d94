/* AVX512-VNNI depthwise 3x3 convolution i8_dwconv_3x3__avx512vnni (dilation 1, stride 1 or 2,
 * any pads): the same packed stream and results as i8_dwconv__scalar (dwconv.h), bit for bit.
 * Every other depthwise shape runs i8_dwconv__avx512vnni (avx512.c).
 *
 * vpdpbusd adds, into each int32 lane, the four products of the lane's 4 u8 x s8 byte pairs.
 * Depthwise has one weight per (channel, tap), so the 4 bytes of a lane must be 4 taps of ONE
 * channel (the idea of the NEON-dotprod kernel, neondot.c): a "column" is the activations of
 * one input column ix in the 3 input rows of an output row, 16 channels x 4 bytes = one zmm,
 * lane ch = (x[iy0][ix][ch], x[iy0 + 1][ix][ch], x[iy0 + 2][ix][ch], filler), and the weight
 * vector of kernel column kx the same interleave of w[0..2][kx][ch] with weight 0 in the
 * filler byte. An output pixel is then 3 vpdpbusd over columns ox * stride - pad_l + 0, 1, 2
 * into one zmm of 16 int32 accumulators in channel order: the epilogue (requant/avx512.h)
 * takes it as it is. A column is built once and kept in a register for every pixel whose
 * window covers it (3 pixels at stride 1, 2 at stride 2); the 3 weight vectors of a channel
 * block stay in registers for the whole output row. Per pixel and 16 channels at stride 1:
 * 3 broadcast loads, 3 vpshufb, 1 vpxord, 3 vpdpbusd and the epilogue, against 9 loads with
 * sign extension, 10 unpacks and 10 ymm vpdpwssd in avx512.c.
 *
 * Building a column without AVX512-VBMI: each row's 16 bytes are broadcast to the four
 * 128-bit lanes (vbroadcasti32x4, a load), and one vpshufb index (per lane L: byte 4j + k <-
 * byte 4L + j) picks channels 4L..4L+3 into every lane; the row k's shuffle writes only the
 * bytes 4j + k (a merge mask), so 3 vpshufb build the column (the filler byte keeps row 0's
 * copy; its weight is 0).
 *
 * Exactness (docs/QUANTIZATION.md §3): vpdpbusd multiplies unsigned by signed bytes, so the
 * activations enter as u = x ^ 0x80 = x + 128 (0..255) and the accumulator starts from
 * bias' = bias - 128 * sum(w) over the 9 taps (the packed w4 section, dwconv.h, with the
 * weight vectors in this layout; wrapping int32 like the packed bias).
 * Each product is at most 255 * 128 = 2^15 - 2^7 in magnitude, four of them fit in int32 with
 * no saturation (vpdpbusd, not vpdpbusds), and the int32 lanes add modulo 2^32: the result is
 * bias + sum(x * w) modulo 2^32, the scalar kernel's value. Padding taps read x_zp (the
 * scratch row, or a constant column of x_zp ^ 0x80), which the folded bias cancels, as in
 * scalar.c; filler bytes and channels past c have weight 0 (the packed w is zero there), so
 * whatever they read adds 0. Channel tails (c % 16) load with byte masks: nothing is read or
 * written past the tensor. */
#if defined(__x86_64__) || defined(__i386__)

#include <immintrin.h>
#include <string.h>

#include "kernels/dwconv/dwconv.h"
#include "kernels/requant/avx512.h"

#define TARGET "avx512f,avx512bw,avx512vl,avx512vnni"
#define VNNI __attribute__((target(TARGET)))
#define INLINE static inline __attribute__((always_inline, unused, target(TARGET)))

int i8_dwconv_3x3_covers(const i8_conv2d_params *p) {
    return p->kh == 3 && p->kw == 3 && p->dil_h == 1 && p->dil_w == 1 &&
           (p->stride_w == 1 || p->stride_w == 2) && p->stride_h >= 1;
}

/* per 128-bit lane L: byte 4j + k <- byte 4L + j (k = row, j = channel within the lane) */
INLINE __m512i column_index(void) {
    return _mm512_set_epi32(0x0f0f0f0f, 0x0e0e0e0e, 0x0d0d0d0d, 0x0c0c0c0c,
                            0x0b0b0b0b, 0x0a0a0a0a, 0x09090909, 0x08080808,
                            0x07070707, 0x06060606, 0x05050505, 0x04040404,
                            0x03030303, 0x02020202, 0x01010101, 0x00000000);
}

/* byte masks of rows 1 and 2 within each 4-byte lane */
#define ROW1 0x2222222222222222ull
#define ROW2 0x4444444444444444ull

/* 16 bytes of a row (m: the channels that exist) in all four 128-bit lanes */
INLINE __m512i row16(const int8_t *p, __mmask16 m, int full) {
    if (full) return _mm512_broadcast_i32x4(_mm_loadu_si128((const __m128i *)p));
    return _mm512_broadcast_i32x4(_mm_maskz_loadu_epi8(m, p));
}

/* the interleave of three rows' 16 channels: lane ch = (r0[ch], r1[ch], r2[ch], r0[ch]) (the
 * filler byte meets weight 0) */
INLINE __m512i interleave3(__m512i a, __m512i b, __m512i c, __m512i idx) {
    __m512i v = _mm512_shuffle_epi8(a, idx);
    v = _mm512_mask_shuffle_epi8(v, (__mmask64)ROW1, b, idx);
    return _mm512_mask_shuffle_epi8(v, (__mmask64)ROW2, c, idx);
}

/* One output row of one 16-channel block. rp[k]: input row k of the window at channel ch
 * (or the x_zp row), rs[k]: its pixel stride (c, or 0 for the x_zp row). */
INLINE void row_block(const int stride, const int full, __mmask16 m, const int8_t *const rp[3],
                      const size_t rs[3], int32_t ix0, int32_t w, int32_t ow,
                      const __m512i *wv, const float *mult, const i8_avx512_requant *rq,
                      unsigned char *y, size_t ystep, size_t nr, __m512i zcol) {
    const __m512i idx = column_index(), flip = _mm512_set1_epi8((char)0x80);
    const __m512i w0 = _mm512_loadu_si512(wv), w1 = _mm512_loadu_si512(wv + 1),
                  w2 = _mm512_loadu_si512(wv + 2), b = _mm512_loadu_si512(wv + 3);
#define COLUMN(ix)                                                                          \
    ((ix) < 0 || (ix) >= w                                                                  \
         ? zcol                                                                             \
         : _mm512_xor_si512(interleave3(row16(rp[0] + (size_t)(ix) * rs[0], m, full),       \
                                        row16(rp[1] + (size_t)(ix) * rs[1], m, full),       \
                                        row16(rp[2] + (size_t)(ix) * rs[2], m, full), idx), \
                            flip))
    __m512i c0 = COLUMN(ix0), c1 = stride == 1 ? COLUMN(ix0 + 1) : zcol;
    for (int32_t ox = 0; ox < ow; ox++, y += ystep) {
        const int32_t ix = ix0 + ox * stride;
        __m512i c2;
        if (stride == 1) {
            c2 = COLUMN(ix + 2);
        } else {
            c1 = COLUMN(ix + 1);
            c2 = COLUMN(ix + 2);
        }
        __m512i acc = _mm512_dpbusd_epi32(b, c0, w0);
        acc = _mm512_dpbusd_epi32(acc, c1, w1);
        acc = _mm512_dpbusd_epi32(acc, c2, w2);
        i8_avx512_requant16_acc(rq, acc, mult, y, nr);
        if (stride == 1) {
            c0 = c1;
            c1 = c2;
        } else {
            c0 = c2;
        }
    }
#undef COLUMN
}

VNNI void i8_dwconv_3x3__avx512vnni(const i8_conv2d_params *p, const void *packed,
                                    const int8_t *x, void *y, void *scratch, size_t r0,
                                    size_t r1, const i8_post *post) {
    i8_dwconv_packed s;
    i8_dwconv_sections(p, packed, &s);
    const size_t c = (size_t)p->c, esz = p->out_f32 ? sizeof(float) : 1;
    i8_avx512_requant rq = i8_avx512_requant_init(p->y_zp, p->qmin, p->qmax, p->out_f32);
    rq.post = post;
    int8_t *zrow = (int8_t *)scratch + s.cs * 4; /* the scalar kernel's layout of the scratch */
    memset(zrow, p->x_zp, s.cs);
    const __m512i zcol = _mm512_set1_epi8((char)((uint8_t)p->x_zp ^ 0x80u));
    const size_t ystep = c * esz;
    for (size_t r = r0; r < r1; r++) {
        const int32_t b = (int32_t)(r / (size_t)p->oh), oy = (int32_t)(r % (size_t)p->oh);
        const int8_t *xb = x + (size_t)b * p->h * p->w * c;
        const int32_t iy0 = oy * p->stride_h - p->pad_t;
        const int8_t *rows[3];
        size_t rs[3];
        for (int k = 0; k < 3; k++) {
            const int32_t iy = iy0 + k;
            const int in = iy >= 0 && iy < p->h;
            rows[k] = in ? xb + (size_t)iy * p->w * c : zrow;
            rs[k] = in ? c : 0;
        }
        unsigned char *yr = (unsigned char *)y + r * (size_t)p->ow * c * esz;
        const int32_t ix0 = -p->pad_l;
        for (size_t ch = 0; ch < c; ch += 16) {
            const size_t nr = c - ch < 16 ? c - ch : 16;
            const __mmask16 m = nr == 16 ? (__mmask16)0xFFFF : (__mmask16)((1u << nr) - 1);
            const int8_t *rp[3] = {rows[0] + ch, rows[1] + ch, rows[2] + ch};
            const __m512i *wv = (const __m512i *)(s.w4 + ch / 16 * I8_DWCONV_W4_BLOCK);
            unsigned char *yc = yr + ch * esz;
            /* constant stride and mask-or-not: each combination its own unrolled loop */
            if (p->stride_w == 1) {
                if (nr == 16)
                    row_block(1, 1, m, rp, rs, ix0, p->w, p->ow, wv, s.mult + ch, &rq, yc,
                              ystep, 16, zcol);
                else
                    row_block(1, 0, m, rp, rs, ix0, p->w, p->ow, wv, s.mult + ch, &rq, yc,
                              ystep, nr, zcol);
            } else {
                if (nr == 16)
                    row_block(2, 1, m, rp, rs, ix0, p->w, p->ow, wv, s.mult + ch, &rq, yc,
                              ystep, 16, zcol);
                else
                    row_block(2, 0, m, rp, rs, ix0, p->w, p->ow, wv, s.mult + ch, &rq, yc,
                              ystep, nr, zcol);
            }
        }
    }
}

#endif
