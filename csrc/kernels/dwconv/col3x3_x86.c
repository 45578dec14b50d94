/* x86 3x3 depthwise column kernels: the template col3x3_tile.h over three primitive sets,
 * zmm vpdpbusd, ymm VEX vpdpbusd and ymm AVX2 vpmaddwd (col3x3_emu.c: the zmm set emulated in
 * portable C). Every other depthwise shape runs
 * i8_dwconv__avx512vnni (avx512.c) or i8_dwconv__avx2 (avx2.c). docs/KERNELS.md "dwconv".
 *
 * vpdpbusd sets (avx512vnni: zmm; avxvnni: ymm, VEX). vpdpbusd adds, into each int32 lane,
 * the four products of the lane's 4 u8 x s8 byte pairs. Depthwise has one weight per
 * (channel, tap), so the 4 bytes of a lane are 4 taps of ONE channel (the idea of the
 * NEON-dotprod kernel, neondot.c): column lane ch = (x[iy0][ix][ch], x[iy0 + 1][ix][ch],
 * x[iy0 + 2][ix][ch], filler) as u8, and the packed w4 vector of kernel column kx the same
 * interleave of w[0..2][kx][ch] with weight 0 in the filler byte (dwconv.h). A pixel is 3
 * vpdpbusd into 16 int32 lanes in channel order, which the epilogues take as they are.
 *
 * Exactness (docs/QUANTIZATION.md §3): vpdpbusd multiplies unsigned by signed bytes, so the
 * activations enter as u = x ^ 0x80 = x + 128 (0..255) and the accumulator starts from
 * bias'' = bias - 128 * sum(w) over the 9 taps (the w4 section's 4th vector; wrapping int32
 * like the packed bias). Each product is at most 255 * 128 = 2^15 - 2^7 in magnitude, four of
 * them fit in int32 with no saturation (vpdpbusd, not vpdpbusds), and the int32 lanes add
 * modulo 2^32: the result is bias + sum(x * w) modulo 2^32, the scalar kernel's value, for any
 * int8 weight including -128. Padding taps read x_zp (the scratch row, or the constant column
 * x_zp ^ 0x80), which the folded bias cancels, as in scalar.c; filler bytes and channels past
 * c have weight 0 (the packed w4 is zero there), so whatever they read adds 0.
 *
 * zmm column, without AVX512-VBMI: each row's 16 bytes are broadcast to the four 128-bit
 * lanes (vbroadcasti32x4, a load), and one vpshufb index (per lane L: byte 4j + k <- byte
 * 4L + j) picks channels 4L..4L+3 into every lane; the shuffles of rows 1 and 2 write only the
 * bytes 4j + 1, 4j + 2 (merge masks), so 3 vpshufb and one vpxord build a column (the filler
 * byte keeps row 0's copy; its weight is 0). A channel tail (c % 16) loads with byte masks:
 * nothing is read past the tensor; the epilogue's masked store writes nothing past it. Per
 * pixel and 16 channels at stride 1: 3 loads, 3 vpshufb, 1 vpxord, 3 vpdpbusd and the
 * epilogue (requant/avx512.h, with the fused post-ops).
 *
 * ymm column (avxvnni path on CPUs with the VEX vpdpbusd): a 16-channel block is two halves
 * (channels 0-7 and 8-15) against bytes 0-31 and 32-63 of the same w4 vectors; each row's 16
 * bytes broadcast to both 128-bit lanes (vbroadcasti128), then per half and row one vpshufb
 * that puts channel 4L + j (lo; 8 + 4L + j hi) into byte 4j + k of lane L and zeroes the other
 * bytes (index 0x80), ORed together (no byte masks without AVX-512): the filler byte is 0 ^
 * 0x80, weight 0. A channel tail loads its rows through zero-padded 16-byte copies. The AVX2
 * epilogue (requant/avx2.h) takes the two halves as they are; it has no post-ops, so
 * dwconv/dispatch.c runs them over the rows afterwards.
 *
 * AVX2 set (avx2 path; avxvnni path without AVX-VNNI): no u8 x s8 dot without saturation
 * (vpmaddubsw saturates, docs/QAT.md), so int16 pairs and vpmaddwd, exact (products <= 2^14,
 * a pair <= 2^15, wrapping int32 adds from the plain folded bias: the activations stay
 * signed). A column is rows 0 and 1 sign-extended and interleaved, (x0, x1) per channel in the
 * unpack lane order [0-3 | 8-11], [4-7 | 12-15], and row 2 kept as 16 int16; a pixel pairs
 * row 2's taps (2, 0), (2, 1) by one more unpack and tap (2, 2) with itself against weight 0:
 * 10 vpmaddwd (the w16c section's vectors as memory operands) and 10 vpaddd. Its int8
 * epilogue works in that lane order (a3_store). A channel tail reads through zero-padded
 * copies. */
#if defined(__x86_64__) || defined(__i386__)

#include <immintrin.h>
#include <string.h>

#include "kernels/dwconv/dwconv.h"
#include "kernels/gemm/gemm.h" /* I8_GEMM_HAVE_AVXVNNI_VEX: the compiler knows the VEX form */
#include "kernels/requant/avx2.h"
#include "kernels/requant/avx512.h"

int i8_dwconv_3x3_covers(const i8_conv2d_params *p) {
    return p->kh == 3 && p->kw == 3 && p->dil_h == 1 && p->dil_w == 1 &&
           (p->stride_w == 1 || p->stride_w == 2) && p->stride_h >= 1;
}

/* ---- zmm: one column per zmm, vpdpbusd ---------------------------------------------------- */
#define Z_TARGET __attribute__((target("avx512f,avx512bw,avx512vl,avx512vnni")))
#define Z_INLINE static inline __attribute__((always_inline, unused)) Z_TARGET

typedef struct {
    __m512i idx, flip, zcol;
} z3_ctx;
typedef __m512i z3_col;
typedef __m512i z3_acc;
typedef struct {
    __m512i w[3], bias;
} z3_wts;
typedef i8_avx512_requant z3_rq;

/* byte masks of rows 1 and 2 within each 4-byte lane */
#define Z3_ROW1 0x2222222222222222ull
#define Z3_ROW2 0x4444444444444444ull

Z_INLINE z3_ctx z3_ctx_init(int32_t x_zp) {
    z3_ctx cx;
    /* per 128-bit lane L: byte 4j + k <- byte 4L + j (k = row, j = channel within the lane) */
    cx.idx = _mm512_set_epi32(0x0f0f0f0f, 0x0e0e0e0e, 0x0d0d0d0d, 0x0c0c0c0c, 0x0b0b0b0b,
                              0x0a0a0a0a, 0x09090909, 0x08080808, 0x07070707, 0x06060606,
                              0x05050505, 0x04040404, 0x03030303, 0x02020202, 0x01010101,
                              0x00000000);
    cx.flip = _mm512_set1_epi8((char)0x80);
    cx.zcol = _mm512_set1_epi8((char)((uint8_t)x_zp ^ 0x80u));
    return cx;
}

Z_INLINE z3_rq z3_rq_init(const i8_conv2d_params *p, const i8_post *post) {
    z3_rq rq = i8_avx512_requant_init(p->y_zp, p->qmin, p->qmax, p->out_f32);
    rq.post = post;
    return rq;
}

Z_INLINE z3_col z3_zcol(const z3_ctx *cx) { return cx->zcol; }

/* 16 bytes of a row (nr of them exist) in all four 128-bit lanes */
Z_INLINE __m512i z3_row16(const int8_t *p, size_t nr, int full) {
    if (full) return _mm512_broadcast_i32x4(_mm_loadu_si128((const __m128i *)p));
    return _mm512_broadcast_i32x4(_mm_maskz_loadu_epi8((__mmask16)((1u << nr) - 1), p));
}

/* lane ch = (r0[ch], r1[ch], r2[ch], r0[ch]) ^ 0x80 */
Z_INLINE z3_col z3_column(const z3_ctx *cx, const int8_t *r0, const int8_t *r1,
                          const int8_t *r2, size_t nr, int full) {
    __m512i v = _mm512_shuffle_epi8(z3_row16(r0, nr, full), cx->idx);
    v = _mm512_mask_shuffle_epi8(v, (__mmask64)Z3_ROW1, z3_row16(r1, nr, full), cx->idx);
    v = _mm512_mask_shuffle_epi8(v, (__mmask64)Z3_ROW2, z3_row16(r2, nr, full), cx->idx);
    return _mm512_xor_si512(v, cx->flip);
}

Z_INLINE z3_wts z3_wload(const i8_dwconv_packed *s, size_t block) {
    const __m512i *wv = (const __m512i *)(s->w4 + block * I8_DWCONV_W4_BLOCK);
    z3_wts t;
    for (int k = 0; k < 3; k++) t.w[k] = _mm512_loadu_si512(wv + k);
    t.bias = _mm512_loadu_si512(wv + 3);
    return t;
}

Z_INLINE z3_acc z3_dot3(const z3_wts *t, z3_col c0, z3_col c1, z3_col c2) {
    __m512i acc = _mm512_dpbusd_epi32(t->bias, c0, t->w[0]);
    acc = _mm512_dpbusd_epi32(acc, c1, t->w[1]);
    return _mm512_dpbusd_epi32(acc, c2, t->w[2]);
}

Z_INLINE void z3_store(const z3_rq *rq, const z3_wts *t, z3_acc acc, const float *mult,
                       unsigned char *y, size_t nr, int int8) {
    (void)t;
    (void)int8;
    i8_avx512_requant16_acc(rq, acc, mult, y, nr);
}

#define C3_FN i8_dwconv_3x3__avx512vnni
#define C3_ATTR Z_TARGET
#define C3_P(x) z3_##x
#include "kernels/dwconv/col3x3_tile.h"
#undef C3_FN
#undef C3_ATTR
#undef C3_P

/* ---- ymm, AVX2: int16 pairs, vpmaddwd ----------------------------------------------------- */
#define YA_TARGET __attribute__((target("avx2")))
#define YA_INLINE static inline __attribute__((always_inline, unused)) YA_TARGET

typedef struct {
    __m256i lo, hi; /* rows 0 and 1 interleaved: (x0, x1) int16 pairs, lane order below */
    __m256i r2;     /* row 2, 16 int16 in channel order */
} a3_col;
typedef struct {
    __m256i lo, hi;
} a3_acc;
typedef struct {
    a3_col zcol;
} a3_ctx;
typedef struct {
    const __m256i *v; /* the block's 14 w16c vectors */
} a3_wts;
typedef struct {
    i8_avx2_requant r; /* the shared epilogue's constants (float32 output) */
    __m256i zp16;      /* y_zp in every int16 lane */
} a3_rq;

YA_INLINE a3_ctx a3_ctx_init(int32_t x_zp) {
    a3_ctx cx;
    cx.zcol.lo = cx.zcol.hi = cx.zcol.r2 = _mm256_set1_epi16((short)x_zp);
    return cx;
}

YA_INLINE a3_rq a3_rq_init(const i8_conv2d_params *p, const i8_post *post) {
    (void)post; /* always NULL: no post-ops in the AVX2 epilogue (dispatch.c) */
    a3_rq rq;
    rq.r = i8_avx2_requant_init(p->y_zp, p->qmin, p->qmax, p->out_f32);
    rq.zp16 = _mm256_set1_epi16((short)p->y_zp);
    return rq;
}

YA_INLINE a3_col a3_zcol(const a3_ctx *cx) { return cx->zcol; }

/* 16 int8 at p (nr of them real; the rest read as 0, weight 0) sign-extended to int16 */
YA_INLINE __m256i a3_row16(const int8_t *p, size_t nr, int full) {
    if (full) return _mm256_cvtepi8_epi16(_mm_loadu_si128((const __m128i *)p));
    int8_t t[16] = {0};
    memcpy(t, p, nr);
    return _mm256_cvtepi8_epi16(_mm_loadu_si128((const __m128i *)t));
}

YA_INLINE a3_col a3_column(const a3_ctx *cx, const int8_t *r0, const int8_t *r1,
                           const int8_t *r2, size_t nr, int full) {
    (void)cx;
    const __m256i a = a3_row16(r0, nr, full), b = a3_row16(r1, nr, full);
    a3_col o;
    o.lo = _mm256_unpacklo_epi16(a, b);
    o.hi = _mm256_unpackhi_epi16(a, b);
    o.r2 = a3_row16(r2, nr, full);
    return o;
}

YA_INLINE a3_wts a3_wload(const i8_dwconv_packed *s, size_t block) {
    a3_wts t = {(const __m256i *)(s->w16c + block * I8_DWCONV_W16C_BLOCK)};
    return t;
}

YA_INLINE a3_acc a3_dot3(const a3_wts *t, a3_col c0, a3_col c1, a3_col c2) {
    const __m256i *v = t->v;
    a3_acc a;
    a.lo = _mm256_add_epi32(_mm256_loadu_si256(v + 10),
                            _mm256_madd_epi16(c0.lo, _mm256_loadu_si256(v + 0)));
    a.hi = _mm256_add_epi32(_mm256_loadu_si256(v + 11),
                            _mm256_madd_epi16(c0.hi, _mm256_loadu_si256(v + 1)));
    a.lo = _mm256_add_epi32(a.lo, _mm256_madd_epi16(c1.lo, _mm256_loadu_si256(v + 2)));
    a.hi = _mm256_add_epi32(a.hi, _mm256_madd_epi16(c1.hi, _mm256_loadu_si256(v + 3)));
    a.lo = _mm256_add_epi32(a.lo, _mm256_madd_epi16(c2.lo, _mm256_loadu_si256(v + 4)));
    a.hi = _mm256_add_epi32(a.hi, _mm256_madd_epi16(c2.hi, _mm256_loadu_si256(v + 5)));
    /* row 2: taps (2, 0) and (2, 1) as one pair, tap (2, 2) paired with itself against
     * weight 0 (no zero register needed) */
    const __m256i p01lo = _mm256_unpacklo_epi16(c0.r2, c1.r2),
                  p01hi = _mm256_unpackhi_epi16(c0.r2, c1.r2);
    const __m256i p2lo = _mm256_unpacklo_epi16(c2.r2, c2.r2),
                  p2hi = _mm256_unpackhi_epi16(c2.r2, c2.r2);
    a.lo = _mm256_add_epi32(a.lo, _mm256_madd_epi16(p01lo, _mm256_loadu_si256(v + 6)));
    a.hi = _mm256_add_epi32(a.hi, _mm256_madd_epi16(p01hi, _mm256_loadu_si256(v + 7)));
    a.lo = _mm256_add_epi32(a.lo, _mm256_madd_epi16(p2lo, _mm256_loadu_si256(v + 8)));
    a.hi = _mm256_add_epi32(a.hi, _mm256_madd_epi16(p2hi, _mm256_loadu_si256(v + 9)));
    return a;
}

/* The AVX2 epilogue (requant/avx2.h: the same operations per lane, so the same values) on
 * the accumulators as they come, lanes [0-3 | 8-11] and [4-7 | 12-15], against the block's
 * multipliers packed in that order (w16c vectors 12, 13): vpackssdw of the two then
 * interleaves them per 128-bit lane into channel order, so int8 output needs no lane permute,
 * and y_zp is added once to the 16 int16 (exact: each value is clamped to [qmin - y_zp,
 * qmax - y_zp] before the conversion, so it and the sum fit int16 and int8). Four
 * instructions per pixel fewer than the shared epilogue behind two lane permutes. float32
 * output permutes and takes the shared epilogue. */
YA_INLINE void a3_store(const a3_rq *rq, const a3_wts *t, a3_acc acc, const float *mult,
                        unsigned char *y, size_t nr, int int8) {
    if (!int8 && rq->r.out_f32) {
        /* lanes [0-3 | 8-11] and [4-7 | 12-15] -> channels 0-7 and 8-15 */
        i8_avx2_requant16_acc(&rq->r, _mm256_permute2x128_si256(acc.lo, acc.hi, 0x20),
                              _mm256_permute2x128_si256(acc.lo, acc.hi, 0x31), mult, y, nr);
        return;
    }
    const __m256 v0 =
        _mm256_mul_ps(_mm256_cvtepi32_ps(acc.lo), _mm256_loadu_ps((const float *)(t->v + 12)));
    const __m256 v1 =
        _mm256_mul_ps(_mm256_cvtepi32_ps(acc.hi), _mm256_loadu_ps((const float *)(t->v + 13)));
    const __m256i q0 = _mm256_cvtps_epi32(_mm256_min_ps(_mm256_max_ps(v0, rq->r.lo), rq->r.hi));
    const __m256i q1 = _mm256_cvtps_epi32(_mm256_min_ps(_mm256_max_ps(v1, rq->r.lo), rq->r.hi));
    /* [0-3, 4-7 | 8-11, 12-15] as int16, + y_zp */
    const __m256i w = _mm256_add_epi16(_mm256_packs_epi32(q0, q1), rq->zp16);
    const __m128i b = _mm_packs_epi16(_mm256_castsi256_si128(w), _mm256_extracti128_si256(w, 1));
    i8_store_s8x16(y, b, nr);
}

#define C3_FN i8_dwconv_3x3__avx2
#define C3_ATTR YA_TARGET
#define C3_P(x) a3_##x
#include "kernels/dwconv/col3x3_tile.h"
#undef C3_FN
#undef C3_ATTR
#undef C3_P

/* ---- ymm: a column in two halves, VEX vpdpbusd ---------------------------------------------- */
#if defined(I8_GEMM_HAVE_AVXVNNI_VEX)
#define YV_TARGET __attribute__((target("avx2,avxvnni")))
#define YV_INLINE static inline __attribute__((always_inline, unused)) YV_TARGET

typedef struct {
    __m256i lo, hi;
} y3_col;
typedef y3_col y3_acc;
typedef struct {
    __m256i lo[3], hi[3], flip;
    y3_col zcol;
} y3_ctx;
typedef struct {
    y3_col w[3], bias;
} y3_wts;
typedef i8_avx2_requant y3_rq;

int i8_dwconv_3x3__avxvnni_built(void) { return 1; }

/* row k's shuffle index: channel base + 4L + j -> byte 4j + k of lane L, 0x80 elsewhere */
YV_INLINE __m256i y3_row_index(int k, int base) {
    int8_t b[32];
    for (int i = 0; i < 32; i++) {
        const int lane = i / 16, j = i % 16 / 4, kk = i % 4;
        b[i] = kk == k ? (int8_t)(base + 4 * lane + j) : (int8_t)0x80;
    }
    return _mm256_loadu_si256((const __m256i *)b);
}

YV_INLINE y3_ctx y3_ctx_init(int32_t x_zp) {
    y3_ctx cx;
    for (int k = 0; k < 3; k++) {
        cx.lo[k] = y3_row_index(k, 0);
        cx.hi[k] = y3_row_index(k, 8);
    }
    cx.flip = _mm256_set1_epi8((char)0x80);
    cx.zcol.lo = cx.zcol.hi = _mm256_set1_epi8((char)((uint8_t)x_zp ^ 0x80u));
    return cx;
}

YV_INLINE y3_rq y3_rq_init(const i8_conv2d_params *p, const i8_post *post) {
    (void)post; /* always NULL: no post-ops in the AVX2 epilogue (dispatch.c) */
    return i8_avx2_requant_init(p->y_zp, p->qmin, p->qmax, p->out_f32);
}

YV_INLINE y3_col y3_zcol(const y3_ctx *cx) { return cx->zcol; }

/* the 16 bytes of a row at p (nr of them real) in both 128-bit lanes */
YV_INLINE __m256i y3_row16(const int8_t *p, size_t nr, int full) {
    if (full) return _mm256_broadcastsi128_si256(_mm_loadu_si128((const __m128i *)p));
    int8_t t[16] = {0};
    memcpy(t, p, nr);
    return _mm256_broadcastsi128_si256(_mm_loadu_si128((const __m128i *)t));
}

YV_INLINE y3_col y3_column(const y3_ctx *cx, const int8_t *r0, const int8_t *r1,
                           const int8_t *r2, size_t nr, int full) {
    const __m256i a = y3_row16(r0, nr, full), b = y3_row16(r1, nr, full),
                  c = y3_row16(r2, nr, full);
    y3_col o;
    o.lo = _mm256_xor_si256(
        _mm256_or_si256(_mm256_or_si256(_mm256_shuffle_epi8(a, cx->lo[0]),
                                        _mm256_shuffle_epi8(b, cx->lo[1])),
                        _mm256_shuffle_epi8(c, cx->lo[2])),
        cx->flip);
    o.hi = _mm256_xor_si256(
        _mm256_or_si256(_mm256_or_si256(_mm256_shuffle_epi8(a, cx->hi[0]),
                                        _mm256_shuffle_epi8(b, cx->hi[1])),
                        _mm256_shuffle_epi8(c, cx->hi[2])),
        cx->flip);
    return o;
}

YV_INLINE y3_wts y3_wload(const i8_dwconv_packed *s, size_t block) {
    const __m256i *wv = (const __m256i *)(s->w4 + block * I8_DWCONV_W4_BLOCK);
    y3_wts t;
    for (int k = 0; k < 3; k++) {
        t.w[k].lo = _mm256_loadu_si256(wv + 2 * k);
        t.w[k].hi = _mm256_loadu_si256(wv + 2 * k + 1);
    }
    t.bias.lo = _mm256_loadu_si256(wv + 6);
    t.bias.hi = _mm256_loadu_si256(wv + 7);
    return t;
}

YV_INLINE y3_acc y3_dot3(const y3_wts *t, y3_col c0, y3_col c1, y3_col c2) {
    y3_acc a;
    a.lo = _mm256_dpbusd_avx_epi32(t->bias.lo, c0.lo, t->w[0].lo);
    a.hi = _mm256_dpbusd_avx_epi32(t->bias.hi, c0.hi, t->w[0].hi);
    a.lo = _mm256_dpbusd_avx_epi32(a.lo, c1.lo, t->w[1].lo);
    a.hi = _mm256_dpbusd_avx_epi32(a.hi, c1.hi, t->w[1].hi);
    a.lo = _mm256_dpbusd_avx_epi32(a.lo, c2.lo, t->w[2].lo);
    a.hi = _mm256_dpbusd_avx_epi32(a.hi, c2.hi, t->w[2].hi);
    return a;
}

YV_INLINE void y3_store(const y3_rq *rq, const y3_wts *t, y3_acc acc, const float *mult,
                        unsigned char *y, size_t nr, int int8) {
    (void)t;
    (void)int8;
    i8_avx2_requant16_acc(rq, acc.lo, acc.hi, mult, y, nr);
}

#define C3_FN i8_dwconv_3x3__avxvnni
#define C3_ATTR YV_TARGET
#define C3_P(x) y3_##x
#include "kernels/dwconv/col3x3_tile.h"
#undef C3_FN
#undef C3_ATTR
#undef C3_P

#else

int i8_dwconv_3x3__avxvnni_built(void) { return 0; }
void i8_dwconv_3x3__avxvnni(const i8_conv2d_params *p, const void *packed, const int8_t *x,
                            void *y, void *scratch, size_t r0, size_t r1, const i8_post *post) {
    i8_dwconv__avx2(p, packed, x, y, scratch, r0, r1, post); /* never called: not built */
}

#endif
#endif
