/* AVX-VNNI depthwise 3x3 convolution i8_dwconv_3x3__avxvnni (avxvnni path on CPUs with the
 * VEX vpdpbusd; dilation 1, stride_w 1 or 2, any pads): the column kernel of avx512_3x3.c in
 * ymm, bit for bit the same results as i8_dwconv__scalar (dwconv.h). Every other shape, and
 * the avxvnni path on CPUs without AVX-VNNI (AVX512-VNNI only: Zen 4, Ice Lake), runs
 * i8_dwconv__avx2.
 *
 * A 16-channel block is two ymm halves (channels 0-7 and 8-15), each lane = one channel's
 * (x[iy0][ix], x[iy0 + 1][ix], x[iy0 + 2][ix], filler) as u8 (x ^ 0x80), against the same
 * packed w4 vectors (bytes 0-31 and 32-63 of a kernel column's 64) and bias'' (avx512_3x3.c
 * for the arithmetic: exact, no saturation, the +128 folded into bias''). Building a column:
 * each row's 16 bytes broadcast to both 128-bit lanes (vbroadcasti128, a load), then per half
 * and row one vpshufb that puts channel 4L + j (lo; 8 + 4L + j hi) into byte 4j + k of lane L
 * and zeroes the other bytes (index 0x80), ORed together: no byte masks without AVX-512. The
 * filler byte is 0 ^ 0x80 with weight 0. Columns are carried between pixels as in
 * avx512_3x3.c; the AVX2 epilogue (requant/avx2.h) takes the two halves as they are, and the
 * fused post-ops run after the rows (dispatch.c), as for the AVX2 kernel. A channel tail
 * (c % 16) loads its rows through zero-padded 16-byte copies, so nothing is read past the
 * input. */
#include "kernels/dwconv/dwconv.h"
#include "kernels/gemm/gemm.h" /* I8_GEMM_HAVE_AVXVNNI_VEX: the compiler knows the VEX form */

#if defined(__x86_64__) || defined(__i386__)
#if defined(I8_GEMM_HAVE_AVXVNNI_VEX)

#include <immintrin.h>
#include <string.h>

#include "kernels/requant/avx2.h"

#define VNNI __attribute__((target("avx2,avxvnni")))
#define INLINE static inline __attribute__((always_inline, unused, target("avx2,avxvnni")))

int i8_dwconv_3x3__avxvnni_built(void) { return 1; }

/* row k's shuffle index for channels base + 4L + j -> byte 4j + k of lane L, 0x80 elsewhere */
INLINE __m256i row_index(int k, int base) {
    int8_t b[32];
    for (int i = 0; i < 32; i++) {
        const int lane = i / 16, j = i % 16 / 4, kk = i % 4;
        b[i] = kk == k ? (int8_t)(base + 4 * lane + j) : (int8_t)0x80;
    }
    return _mm256_loadu_si256((const __m256i *)b);
}

typedef struct {
    __m256i lo, hi;
} col2;

typedef struct {
    __m256i lo[3], hi[3];
    __m256i flip;
} col_idx;

/* the 16 bytes of a row at p (nr of them real) in both 128-bit lanes */
INLINE __m256i row16(const int8_t *p, size_t nr, int full) {
    if (full) return _mm256_broadcastsi128_si256(_mm_loadu_si128((const __m128i *)p));
    int8_t t[16] = {0};
    memcpy(t, p, nr);
    return _mm256_broadcastsi128_si256(_mm_loadu_si128((const __m128i *)t));
}

INLINE col2 build(const col_idx *ci, __m256i a, __m256i b, __m256i c) {
    col2 o;
    o.lo = _mm256_xor_si256(
        _mm256_or_si256(_mm256_or_si256(_mm256_shuffle_epi8(a, ci->lo[0]),
                                        _mm256_shuffle_epi8(b, ci->lo[1])),
                        _mm256_shuffle_epi8(c, ci->lo[2])),
        ci->flip);
    o.hi = _mm256_xor_si256(
        _mm256_or_si256(_mm256_or_si256(_mm256_shuffle_epi8(a, ci->hi[0]),
                                        _mm256_shuffle_epi8(b, ci->hi[1])),
                        _mm256_shuffle_epi8(c, ci->hi[2])),
        ci->flip);
    return o;
}

/* One output row of one 16-channel block (avx512_3x3.c row_block, two halves). */
INLINE void row_block(const int stride, const int full, size_t nr, const int8_t *const rp[3],
                      const size_t rs[3], int32_t ix0, int32_t w, int32_t ow,
                      const unsigned char *wv, const float *mult, const i8_avx2_requant *rq,
                      unsigned char *y, size_t ystep, const col_idx *ci, col2 zcol) {
    const __m256i w0l = _mm256_loadu_si256((const __m256i *)wv),
                  w0h = _mm256_loadu_si256((const __m256i *)(wv + 32)),
                  w1l = _mm256_loadu_si256((const __m256i *)(wv + 64)),
                  w1h = _mm256_loadu_si256((const __m256i *)(wv + 96)),
                  w2l = _mm256_loadu_si256((const __m256i *)(wv + 128)),
                  w2h = _mm256_loadu_si256((const __m256i *)(wv + 160)),
                  bl = _mm256_loadu_si256((const __m256i *)(wv + 192)),
                  bh = _mm256_loadu_si256((const __m256i *)(wv + 224));
#define COLUMN(ix)                                                                           \
    ((ix) < 0 || (ix) >= w ? zcol                                                            \
                           : build(ci, row16(rp[0] + (size_t)(ix) * rs[0], nr, full),        \
                                   row16(rp[1] + (size_t)(ix) * rs[1], nr, full),            \
                                   row16(rp[2] + (size_t)(ix) * rs[2], nr, full)))
    col2 c0 = COLUMN(ix0), c1 = stride == 1 ? COLUMN(ix0 + 1) : zcol;
    for (int32_t ox = 0; ox < ow; ox++, y += ystep) {
        const int32_t ix = ix0 + ox * stride;
        col2 c2;
        if (stride == 1) {
            c2 = COLUMN(ix + 2);
        } else {
            c1 = COLUMN(ix + 1);
            c2 = COLUMN(ix + 2);
        }
        __m256i lo = _mm256_dpbusd_avx_epi32(bl, c0.lo, w0l);
        __m256i hi = _mm256_dpbusd_avx_epi32(bh, c0.hi, w0h);
        lo = _mm256_dpbusd_avx_epi32(lo, c1.lo, w1l);
        hi = _mm256_dpbusd_avx_epi32(hi, c1.hi, w1h);
        lo = _mm256_dpbusd_avx_epi32(lo, c2.lo, w2l);
        hi = _mm256_dpbusd_avx_epi32(hi, c2.hi, w2h);
        i8_avx2_requant16_acc(rq, lo, hi, mult, y, nr);
        if (stride == 1) {
            c0 = c1;
            c1 = c2;
        } else {
            c0 = c2;
        }
    }
#undef COLUMN
}

VNNI void i8_dwconv_3x3__avxvnni(const i8_conv2d_params *p, const void *packed, const int8_t *x,
                                 void *y, void *scratch, size_t r0, size_t r1) {
    i8_dwconv_packed s;
    i8_dwconv_sections(p, packed, &s);
    const size_t c = (size_t)p->c, esz = p->out_f32 ? sizeof(float) : 1;
    const i8_avx2_requant rq = i8_avx2_requant_init(p->y_zp, p->qmin, p->qmax, p->out_f32);
    int8_t *zrow = (int8_t *)scratch + s.cs * 4; /* the scalar kernel's layout of the scratch */
    memset(zrow, p->x_zp, s.cs);
    col_idx ci;
    for (int k = 0; k < 3; k++) {
        ci.lo[k] = row_index(k, 0);
        ci.hi[k] = row_index(k, 8);
    }
    ci.flip = _mm256_set1_epi8((char)0x80);
    col2 zcol;
    zcol.lo = zcol.hi = _mm256_set1_epi8((char)((uint8_t)p->x_zp ^ 0x80u));
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
            const int8_t *rp[3] = {rows[0] + ch, rows[1] + ch, rows[2] + ch};
            const unsigned char *wv = s.w4 + ch / 16 * I8_DWCONV_W4_BLOCK;
            unsigned char *yc = yr + ch * esz;
            if (p->stride_w == 1) {
                if (nr == 16)
                    row_block(1, 1, 16, rp, rs, ix0, p->w, p->ow, wv, s.mult + ch, &rq, yc,
                              ystep, &ci, zcol);
                else
                    row_block(1, 0, nr, rp, rs, ix0, p->w, p->ow, wv, s.mult + ch, &rq, yc,
                              ystep, &ci, zcol);
            } else {
                if (nr == 16)
                    row_block(2, 1, 16, rp, rs, ix0, p->w, p->ow, wv, s.mult + ch, &rq, yc,
                              ystep, &ci, zcol);
                else
                    row_block(2, 0, nr, rp, rs, ix0, p->w, p->ow, wv, s.mult + ch, &rq, yc,
                              ystep, &ci, zcol);
            }
        }
    }
}

#else

int i8_dwconv_3x3__avxvnni_built(void) { return 0; }
void i8_dwconv_3x3__avxvnni(const i8_conv2d_params *p, const void *packed, const int8_t *x,
                            void *y, void *scratch, size_t r0, size_t r1) {
    i8_dwconv__avx2(p, packed, x, y, scratch, r0, r1, NULL); /* never called: not built */
}

#endif
#endif
