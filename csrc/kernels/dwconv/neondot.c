/* NEON-dotprod depthwise convolution i8_dwconv__neondot (Armv8.2 SDOT, Pi 5): the same packed
 * stream and results as i8_dwconv__scalar (dwconv.h), bit for bit.
 *
 * SDOT adds, into each int32 lane, the four products of the lane's 4 int8 pairs. Depthwise has
 * one weight per (channel, tap), so the 4 bytes of a lane must be 4 taps of ONE channel: the
 * kernel works on "columns", the activations of one input column ix for 4 kernel rows,
 * interleaved so that channel ch's 4-byte lane holds x[iy0 + 0..3 * dil_h][ix][ch] (a 5th..8th
 * kernel row makes a second group of 4; missing rows read the x_zp row and have weight 0).
 * A column of 16 channels is 4 vectors: channels 0-3, 4-7, 8-11, 12-15 (the lane order of the
 * requant epilogue's s0..s3), built with 8 ZIP1/ZIP2 (bytes of row pairs, then halfwords).
 * The weights get the same interleave once per block of 16 channels, per kernel column kx.
 * An output pixel is then kw * groups * 4 SDOTs over columns ox * stride_w + kx * dil_w of
 * the row's column buffer: a column is built once and read by every pixel whose window covers
 * it (3 pixels at stride 1 for 3x3), instead of loading and widening each activation per tap.
 * 3x3: 12 SDOTs per pixel and 16 channels (144 products in 192 lane slots).
 *
 * Exactness: SDOT sums 4 int8 x int8 products (each |p| <= 2^14) into int32 without
 * intermediate rounding, then the int32 lanes add modulo 2^32 like the scalar sums (exact
 * whenever the true sum fits, docs/QUANTIZATION.md §3); any int8 weight, -128 included, is
 * fine (no int16 pair sums here). Padding taps read x_zp (the scratch row, or an x_zp column):
 * the folded bias cancels them, as in scalar.c. Zero-weight filler rows add 0 whatever they
 * read. Epilogue: requant/neon.h (int8); out_f32 streams: scalar float multiplies.
 *
 * Loop order: block of 16 channels (the 3x3 weight vectors stay in registers),
 * output row, segment of up to NEONDOT_COLS columns (the scratch buffer), output pixel.
 * Channel tails (c % 16) load each activation through a zero-padded copy, so no load reads
 * past the input. Shapes it does not cover (more than 8 kernel rows or columns, windows wider
 * than half the buffer) run i8_dwconv__neon.
 *
 * Only these functions carry target("arch=armv8.2-a+dotprod"): with a global -march gcc could
 * emit SDOT anywhere (SIGILL on a Pi 4). */
#if defined(__aarch64__)

#include <string.h>

#include "kernels/dwconv/dwconv.h"
#include "kernels/gemm/gemm.h"
#include "kernels/requant/neon.h"

#define DOTPROD __attribute__((target("arch=armv8.2-a+dotprod")))
#define INLINE static inline __attribute__((always_inline, unused, target("arch=armv8.2-a+dotprod")))

enum { MAX_K = 8 }; /* kernel rows / columns covered: 2 groups of 4 rows */

static size_t groups_of(const i8_conv2d_params *p) { return ((size_t)p->kh + 3) / 4; }

size_t i8_dwconv_neondot_scratch(const i8_conv2d_params *p) {
    /* column buffer (NEONDOT_COLS columns) + interleaved weights, 64 bytes per (column,
     * group); plus 64 for alignment */
    const size_t g = groups_of(p);
    return 64 + (size_t)NEONDOT_COLS * g * 64 + (size_t)MAX_K * 2 * 64;
}

static int covered(const i8_conv2d_params *p) {
    return p->kh >= 1 && p->kh <= MAX_K && p->kw >= 1 && p->kw <= MAX_K &&
           (int64_t)(p->kw - 1) * p->dil_w + 1 <= NEONDOT_COLS / 2 && p->stride_w >= 1 &&
           p->stride_w <= NEONDOT_COLS / 4;
}

/* 4 rows of 16 channels -> 4 vectors, vector v = channels 4v..4v+3, lane = the 4 rows */
INLINE void interleave4(int8x16_t r0, int8x16_t r1, int8x16_t r2, int8x16_t r3, int8x16_t o[4]) {
    const int16x8_t a = vreinterpretq_s16_s8(vzip1q_s8(r0, r1));
    const int16x8_t a2 = vreinterpretq_s16_s8(vzip2q_s8(r0, r1));
    const int16x8_t b = vreinterpretq_s16_s8(vzip1q_s8(r2, r3));
    const int16x8_t b2 = vreinterpretq_s16_s8(vzip2q_s8(r2, r3));
    o[0] = vreinterpretq_s8_s16(vzip1q_s16(a, b));
    o[1] = vreinterpretq_s8_s16(vzip2q_s16(a, b));
    o[2] = vreinterpretq_s8_s16(vzip1q_s16(a2, b2));
    o[3] = vreinterpretq_s8_s16(vzip2q_s16(a2, b2));
}

/* 16 bytes at p, of which n (< 16) are inside the tensor: the rest read as 0 */
INLINE int8x16_t load_part(const int8_t *p, size_t n) {
    int8_t t[16] = {0};
    memcpy(t, p, n);
    return vld1q_s8(t);
}

/* The weight columns of the channel block at ch: wb[(kx * G + g) * 64 ..] */
INLINE void build_weights(const i8_conv2d_params *p, const i8_dwconv_packed *s, size_t ch,
                          int8_t *wb, const int KH, const int KW) {
    const int8x16_t z = vdupq_n_s8(0);
#pragma GCC unroll 8
    for (int kx = 0; kx < KW; kx++)
#pragma GCC unroll 2
        for (int g = 0; g < (KH + 3) / 4; g++) {
            int8x16_t r[4];
#pragma GCC unroll 4
            for (int j = 0; j < 4; j++) {
                const int ky = 4 * g + j;
                r[j] = ky < KH ? vld1q_s8(s->w + ((size_t)ky * p->kw + kx) * s->cs + ch) : z;
            }
            int8x16_t o[4];
            interleave4(r[0], r[1], r[2], r[3], o);
            vst1q_s8_x4(wb + ((size_t)kx * ((KH + 3) / 4) + g) * 64,
                        (int8x16x4_t){{o[0], o[1], o[2], o[3]}});
        }
}

/* The 3x3 weight columns for the second output row of a row pair (block): kernel rows 0-2 in
 * lane bytes 1-3, byte 0 zero, so that a column of input rows iy0..iy0 + 3 gives output row
 * oy + 1 (input rows iy0 + 1..iy0 + 3) with these weights and row oy with build_weights'. */
INLINE void build_weights_next_row(const i8_conv2d_params *p, const i8_dwconv_packed *s,
                                   size_t ch, int8_t *wb) {
    const int8x16_t z = vdupq_n_s8(0);
#pragma GCC unroll 3
    for (int kx = 0; kx < 3; kx++) {
        int8x16_t o[4];
        interleave4(z, vld1q_s8(s->w + ((size_t)0 * p->kw + kx) * s->cs + ch),
                    vld1q_s8(s->w + ((size_t)1 * p->kw + kx) * s->cs + ch),
                    vld1q_s8(s->w + ((size_t)2 * p->kw + kx) * s->cs + ch), o);
        vst1q_s8_x4(wb + (size_t)kx * 64, (int8x16x4_t){{o[0], o[1], o[2], o[3]}});
    }
}

/* n >= 1 whole columns of 16 channels, 4 kernel rows (KH == 4; KH == 3: the 4th row is the
 * filler, any bytes) from running row pointers r0..r3 (steps s0..s3 bytes per column, 0 for
 * the x_zp row) into cb, 64 bytes each: the interleave4() of build_columns_n, as one asm loop
 * of 15 instructions per column (14 for KH == 3): LD1 with register post-increments, the 8
 * ZIPs, one ST1 of four registers, SUBS + B.NE. From the C loop gcc 12 made about 20 (a
 * per-row test, separate pointer adds, the loop compare). */
/* columns16's loop tail: rows 0-3 (row 3 in register D: v3, or the filler) interleaved to
 * four taps per channel, stored as 64 bytes, the counter stepped */
#define COLUMNS16_ZIP_STORE(D) \
    "zip1 v4.16b, v0.16b, v1.16b\n\t" "zip2 v5.16b, v0.16b, v1.16b\n\t" \
    "zip1 v6.16b, v2.16b, " D ".16b\n\t" "zip2 v7.16b, v2.16b, " D ".16b\n\t" \
    "zip1 v16.8h, v4.8h, v6.8h\n\t" "zip2 v17.8h, v4.8h, v6.8h\n\t" \
    "zip1 v18.8h, v5.8h, v7.8h\n\t" "zip2 v19.8h, v5.8h, v7.8h\n\t" \
    "st1 {v16.16b, v17.16b, v18.16b, v19.16b}, [%[cb]], #64\n\t" \
    "subs %[n], %[n], #1\n\t" "b.ne 1b\n\t"
INLINE void columns16(const int8_t *r0, const int8_t *r1, const int8_t *r2, const int8_t *r3,
                      size_t s0, size_t s1, size_t s2, size_t s3, int8x16_t filler,
                      int8_t *cb, size_t n, const int KH) {
    if (KH == 4)
        __asm__ volatile("1:\n\t"
                         "ld1 {v0.16b}, [%[r0]], %[s0]\n\t"
                         "ld1 {v1.16b}, [%[r1]], %[s1]\n\t"
                         "ld1 {v2.16b}, [%[r2]], %[s2]\n\t"
                         "ld1 {v3.16b}, [%[r3]], %[s3]\n\t"
                         COLUMNS16_ZIP_STORE("v3")
                         : [r0] "+r"(r0), [r1] "+r"(r1), [r2] "+r"(r2), [r3] "+r"(r3),
                           [cb] "+r"(cb), [n] "+r"(n)
                         : [s0] "r"(s0), [s1] "r"(s1), [s2] "r"(s2), [s3] "r"(s3)
                         : "v0", "v1", "v2", "v3", "v4", "v5", "v6", "v7", "v16", "v17", "v18",
                           "v19", "cc", "memory");
    else
        __asm__ volatile("1:\n\t"
                         "ld1 {v0.16b}, [%[r0]], %[s0]\n\t"
                         "ld1 {v1.16b}, [%[r1]], %[s1]\n\t"
                         "ld1 {v2.16b}, [%[r2]], %[s2]\n\t"
                         COLUMNS16_ZIP_STORE("%[f]")
                         : [r0] "+r"(r0), [r1] "+r"(r1), [r2] "+r"(r2), [cb] "+r"(cb),
                           [n] "+r"(n)
                         : [s0] "r"(s0), [s1] "r"(s1), [s2] "r"(s2), [f] "w"(filler)
                         : "v0", "v1", "v2", "v4", "v5", "v6", "v7", "v16", "v17", "v18",
                           "v19", "cc", "memory");
}

/* Columns ix in [ix0, ix1) of output row (image xb, first input row iy0) into cb, 64 * G
 * bytes each; rows outside the image and columns outside it read x_zp. nch: valid channels
 * of the block (16, or the tail's count: then loads go through load_part). */
INLINE void build_columns_n(const i8_conv2d_params *p, const int8_t *xb, int32_t iy0,
                            size_t ch, size_t nch, const int8_t *zrow, int32_t ix0, int32_t ix1,
                            int8_t *cb, const int KH) {
    const int G = (KH + 3) / 4;
    const size_t c = (size_t)p->c;
    /* per kernel row: base pointer and step per column (step 0: the x_zp row) */
    const int8_t *base[MAX_K];
    size_t step[MAX_K];
    for (int ky = 0; ky < 4 * G; ky++) {
        const int32_t iy = iy0 + ky * p->dil_h;
        if (ky < KH && iy >= 0 && iy < p->h) {
            base[ky] = xb + (size_t)iy * p->w * c + ch;
            step[ky] = c;
        } else {
            base[ky] = zrow + ch; /* zrow holds cs >= ch + 16 bytes */
            step[ky] = 0;
        }
    }
    const int8x16_t zp = vdupq_n_s8((int8_t)p->x_zp);
    const int8x16x4_t zcol = {{zp, zp, zp, zp}};
    int32_t ix = ix0;
    for (; ix < ix1 && ix < 0; ix++, cb += 64 * G)
        for (int g = 0; g < G; g++) vst1q_s8_x4(cb + 64 * g, zcol);
    const int32_t in_end = ix1 < p->w ? ix1 : p->w;
    if ((KH == 3 || KH == 4) && nch == 16 && ix < in_end) { /* the 3x3 kernels' columns */
        columns16(base[0] + (size_t)ix * step[0], base[1] + (size_t)ix * step[1],
                  base[2] + (size_t)ix * step[2], base[3] + (size_t)ix * step[3], step[0],
                  step[1], step[2], step[3], zp, cb, (size_t)(in_end - ix), KH);
        cb += (size_t)64 * (size_t)(in_end - ix);
        ix = in_end;
    }
    for (; ix < in_end; ix++, cb += 64 * G)
#pragma GCC unroll 2
        for (int g = 0; g < G; g++) {
            int8x16_t r[4];
#pragma GCC unroll 4
            for (int j = 0; j < 4; j++) {
                if (4 * g + j >= KH) { /* a filler row: weight 0, any bytes do (no load) */
                    r[j] = zp;
                    continue;
                }
                const int8_t *src = base[4 * g + j] + (size_t)ix * step[4 * g + j];
                /* the x_zp row (step 0) always has 16 readable bytes */
                r[j] = nch == 16 || step[4 * g + j] == 0 ? vld1q_s8(src) : load_part(src, nch);
            }
            int8x16_t o[4];
            interleave4(r[0], r[1], r[2], r[3], o);
            vst1q_s8_x4(cb + 64 * g, (int8x16x4_t){{o[0], o[1], o[2], o[3]}});
        }
    for (; ix < ix1; ix++, cb += 64 * G)
        for (int g = 0; g < G; g++) vst1q_s8_x4(cb + 64 * g, zcol);
}

/* the full-block copy separate from the tail's, so the common loop has no per-load test */
INLINE void build_columns(const i8_conv2d_params *p, const int8_t *xb, int32_t iy0, size_t ch,
                          size_t nch, const int8_t *zrow, int32_t ix0, int32_t ix1, int8_t *cb,
                          const int KH) {
    if (nch == 16)
        build_columns_n(p, xb, iy0, ch, 16, zrow, ix0, ix1, cb, KH);
    else
        build_columns_n(p, xb, iy0, ch, nch, zrow, ix0, ix1, cb, KH);
}

/* n output pixels of a segment from the column buffer; FULL (16 channels, int8 output) is
 * the common case, compiled apart from the channel-tail / float32 one */
INLINE void pixels(const i8_dwconv_packed *s, const i8_neon_requant *rq, const int8_t *colbuf,
                   const int8x16x4_t wk[3], const int8_t *wb, unsigned char *yp, int32_t n,
                   int32_t sw, int32_t dw, size_t c, size_t ch, const size_t nch,
                   const int out_f32, const int KH, const int KW) {
    const int G = (KH + 3) / 4, keep = KW * G <= 3;
    const size_t esz = out_f32 ? 4 : 1;
    /* bias' and the multipliers are loaded per pixel (two LDP each) rather than
     * held: the 12 weight vectors of 3x3 then stay in registers without spills */
    const int32_t *bias = s->bias + ch;
    const float *mult = s->mult + ch;
    for (int32_t i = 0; i < n; i++, yp += c * esz) {
        /* separate loads (LDP pairs): an LD1 of 4 needs 4 consecutive registers, and gcc then
         * copies them into the accumulators */
        int32x4_t a0 = vld1q_s32(bias), a1 = vld1q_s32(bias + 4), a2 = vld1q_s32(bias + 8),
                  a3 = vld1q_s32(bias + 12);
        const int8_t *col = colbuf + (size_t)i * sw * 64 * G;
#pragma GCC unroll 8
        for (int kx = 0; kx < KW; kx++)
#pragma GCC unroll 2
            for (int g = 0; g < G; g++) {
                const int8x16x4_t xv = vld1q_s8_x4(col + ((size_t)kx * dw * G + g) * 64);
                const int8x16x4_t wv =
                    keep ? wk[kx * G + g] : vld1q_s8_x4(wb + ((size_t)kx * G + g) * 64);
                a0 = vdotq_s32(a0, xv.val[0], wv.val[0]);
                a1 = vdotq_s32(a1, xv.val[1], wv.val[1]);
                a2 = vdotq_s32(a2, xv.val[2], wv.val[2]);
                a3 = vdotq_s32(a3, xv.val[3], wv.val[3]);
            }
        if (out_f32) {
            /* scalar float epilogue (kernels.h): the bias is already in the sums */
            int32_t t[16];
            vst1q_s32_x4(t, (int32x4x4_t){{a0, a1, a2, a3}});
            for (size_t k = 0; k < nch; k++) ((float *)yp)[k] = (float)t[k] * s->mult[ch + k];
            continue;
        }
        const int8x16_t q =
            i8_neon_finish16(rq, i8_neon_rq8(a0, a1, vld1q_f32(mult), vld1q_f32(mult + 4)),
                         i8_neon_rq8(a2, a3, vld1q_f32(mult + 8), vld1q_f32(mult + 12)));
        if (nch == 16) {
            vst1q_s8((int8_t *)yp, q);
        } else {
            int8_t t[16];
            vst1q_s8(t, q);
            memcpy(yp, t, nch);
        }
    }
}

/* The common case's pixel loop on its own (3x3, 16 channels, int8 output), one asm block:
 * per pixel one LD1 of four registers starts the sums at bias', the three columns come with
 * register post-increments (tap_step, tap_step, then back to the next pixel's first column),
 * 12 SDOT against the 12 weight vectors held in v16-v27, one LD1 of the 16 multipliers, the
 * requantization of requant/neon.h (i8_neon_rq8 + i8_neon_finish16, the same instructions in
 * the same order of operations), one ST1 with a register post-increment, SUBS + B.NE: 42
 * instructions per pixel and 16 channels. From the intrinsics gcc 12 made 51 (bias' and the
 * multipliers as LDP + 2 LDR each, an ADD per column pointer, STR + ADD, a separate counter
 * compare); held in registers instead, the 12 weights, 4 sums, 4 column and the epilogue's
 * constants left no room for them (docs/KERNELS.md, dwconv). Same arithmetic as pixels(). */
/* Requantization of the four int32 sums v<a>..v<d> (multipliers in v28-v31) into 16 int8
 * in v<a>: requant/neon.h's i8_neon_rq8 + i8_neon_finish16, instruction for instruction. */
#define RQ16_ASM(a, b, c, d) \
    "scvtf v" #a ".4s, v" #a ".4s\n\t" "scvtf v" #b ".4s, v" #b ".4s\n\t" \
    "scvtf v" #c ".4s, v" #c ".4s\n\t" "scvtf v" #d ".4s, v" #d ".4s\n\t" \
    "fmul v" #a ".4s, v" #a ".4s, v28.4s\n\t" "fmul v" #b ".4s, v" #b ".4s, v29.4s\n\t" \
    "fmul v" #c ".4s, v" #c ".4s, v30.4s\n\t" "fmul v" #d ".4s, v" #d ".4s, v31.4s\n\t" \
    "fcvtns v" #a ".4s, v" #a ".4s\n\t" "fcvtns v" #b ".4s, v" #b ".4s\n\t" \
    "fcvtns v" #c ".4s, v" #c ".4s\n\t" "fcvtns v" #d ".4s, v" #d ".4s\n\t" \
    "sqxtn v" #a ".4h, v" #a ".4s\n\t" "sqxtn2 v" #a ".8h, v" #b ".4s\n\t" \
    "sqxtn v" #c ".4h, v" #c ".4s\n\t" "sqxtn2 v" #c ".8h, v" #d ".4s\n\t" \
    "sqadd v" #a ".8h, v" #a ".8h, %[zp].8h\n\t" "sqadd v" #c ".8h, v" #c ".8h, %[zp].8h\n\t" \
    "sqxtn v" #a ".8b, v" #a ".8h\n\t" "sqxtn2 v" #a ".16b, v" #c ".8h\n\t"
/* pixels3x3's asm template in three parts: the clamp (SMAX / SMIN) is left out when the
 * bounds are the whole int8 range, which SQXTN's saturation already is (every depthwise
 * layer of MobileNetV2: ReLU6 is quantized to [0, 6] -> [-128, 127]) */
#define PIXELS3X3_HEAD \
    "ld1 {v16.16b, v17.16b, v18.16b, v19.16b}, [%[wb]], #64\n\t" \
    "ld1 {v20.16b, v21.16b, v22.16b, v23.16b}, [%[wb]], #64\n\t" \
    "ld1 {v24.16b, v25.16b, v26.16b, v27.16b}, [%[wb]]\n\t" \
    "1:\n\t" \
    "ld1 {v4.4s, v5.4s, v6.4s, v7.4s}, [%[bias]]\n\t" \
    "ld1 {v0.16b, v1.16b, v2.16b, v3.16b}, [%[col]], %[tap]\n\t" \
    "sdot v4.4s, v0.16b, v16.16b\n\t" \
    "sdot v5.4s, v1.16b, v17.16b\n\t" \
    "sdot v6.4s, v2.16b, v18.16b\n\t" \
    "sdot v7.4s, v3.16b, v19.16b\n\t" \
    "ld1 {v0.16b, v1.16b, v2.16b, v3.16b}, [%[col]], %[tap]\n\t" \
    "sdot v4.4s, v0.16b, v20.16b\n\t" \
    "sdot v5.4s, v1.16b, v21.16b\n\t" \
    "sdot v6.4s, v2.16b, v22.16b\n\t" \
    "sdot v7.4s, v3.16b, v23.16b\n\t" \
    "ld1 {v0.16b, v1.16b, v2.16b, v3.16b}, [%[col]], %[back]\n\t" \
    "sdot v4.4s, v0.16b, v24.16b\n\t" \
    "sdot v5.4s, v1.16b, v25.16b\n\t" \
    "sdot v6.4s, v2.16b, v26.16b\n\t" \
    "sdot v7.4s, v3.16b, v27.16b\n\t" \
    "ld1 {v28.4s, v29.4s, v30.4s, v31.4s}, [%[mult]]\n\t" \
    RQ16_ASM(4, 5, 6, 7)
#define PIXELS3X3_CLAMP \
    "smax v4.16b, v4.16b, %[qmin].16b\n\t" \
    "smin v4.16b, v4.16b, %[qmax].16b\n\t"
#define PIXELS3X3_TAIL \
    "st1 {v4.16b}, [%[y]], %[ystep]\n\t" \
    "subs %[cnt], %[cnt], #1\n\t" \
    "b.ne 1b\n\t"
#define PIXELS3X3_OPERANDS \
    : [wb] "+r"(wb), [col] "+r"(colbuf), [y] "+r"(yp), [cnt] "+r"(cnt) \
    : [bias] "r"(bias), [mult] "r"(mult), [tap] "r"(tap_step), [back] "r"(back), \
      [ystep] "r"(y_step), [zp] "w"(rq.zp), [qmin] "w"(rq.qmin), [qmax] "w"(rq.qmax) \
    : "v0", "v1", "v2", "v3", "v4", "v5", "v6", "v7", "v16", "v17", "v18", "v19", "v20", \
      "v21", "v22", "v23", "v24", "v25", "v26", "v27", "v28", "v29", "v30", "v31", "cc", \
      "memory"

/* Two pixels a turn at stride 1 (pixels3x3): pixel i reads columns i..i + 2, pixel i + 1
 * columns i + 1..i + 3, so 4 column loads serve both (6 one at a time) and one load of
 * the multipliers: 75 instructions per pair without the clamp, 79 with it (80 / 84 one
 * pixel at a time). v4-v7 and v8-v11 the two pixels' sums. */
#define PIXELS3X3_PAIR_HEAD \
    "ld1 {v16.16b, v17.16b, v18.16b, v19.16b}, [%[wb]], #64\n\t" \
    "ld1 {v20.16b, v21.16b, v22.16b, v23.16b}, [%[wb]], #64\n\t" \
    "ld1 {v24.16b, v25.16b, v26.16b, v27.16b}, [%[wb]]\n\t" \
    "1:\n\t" \
    "ld1 {v4.4s, v5.4s, v6.4s, v7.4s}, [%[bias]]\n\t" \
    "ld1 {v8.4s, v9.4s, v10.4s, v11.4s}, [%[bias]]\n\t" \
    "ld1 {v0.16b, v1.16b, v2.16b, v3.16b}, [%[col]], #64\n\t" \
    "sdot v4.4s, v0.16b, v16.16b\n\t" \
    "sdot v5.4s, v1.16b, v17.16b\n\t" \
    "sdot v6.4s, v2.16b, v18.16b\n\t" \
    "sdot v7.4s, v3.16b, v19.16b\n\t" \
    "ld1 {v0.16b, v1.16b, v2.16b, v3.16b}, [%[col]], #64\n\t" \
    "sdot v4.4s, v0.16b, v20.16b\n\t" \
    "sdot v5.4s, v1.16b, v21.16b\n\t" \
    "sdot v6.4s, v2.16b, v22.16b\n\t" \
    "sdot v7.4s, v3.16b, v23.16b\n\t" \
    "sdot v8.4s, v0.16b, v16.16b\n\t" \
    "sdot v9.4s, v1.16b, v17.16b\n\t" \
    "sdot v10.4s, v2.16b, v18.16b\n\t" \
    "sdot v11.4s, v3.16b, v19.16b\n\t" \
    "ld1 {v0.16b, v1.16b, v2.16b, v3.16b}, [%[col]], #64\n\t" \
    "sdot v4.4s, v0.16b, v24.16b\n\t" \
    "sdot v5.4s, v1.16b, v25.16b\n\t" \
    "sdot v6.4s, v2.16b, v26.16b\n\t" \
    "sdot v7.4s, v3.16b, v27.16b\n\t" \
    "sdot v8.4s, v0.16b, v20.16b\n\t" \
    "sdot v9.4s, v1.16b, v21.16b\n\t" \
    "sdot v10.4s, v2.16b, v22.16b\n\t" \
    "sdot v11.4s, v3.16b, v23.16b\n\t" \
    "ld1 {v0.16b, v1.16b, v2.16b, v3.16b}, [%[col]], %[back]\n\t" \
    "sdot v8.4s, v0.16b, v24.16b\n\t" \
    "sdot v9.4s, v1.16b, v25.16b\n\t" \
    "sdot v10.4s, v2.16b, v26.16b\n\t" \
    "sdot v11.4s, v3.16b, v27.16b\n\t" \
    "ld1 {v28.4s, v29.4s, v30.4s, v31.4s}, [%[mult]]\n\t" \
    RQ16_ASM(4, 5, 6, 7)
#define PIXELS3X3_PAIR_CLAMP_A \
    "smax v4.16b, v4.16b, %[qmin].16b\n\t" \
    "smin v4.16b, v4.16b, %[qmax].16b\n\t"
#define PIXELS3X3_PAIR_MID \
    "st1 {v4.16b}, [%[y]], %[ystep]\n\t" \
    RQ16_ASM(8, 9, 10, 11)
#define PIXELS3X3_PAIR_CLAMP_B \
    "smax v8.16b, v8.16b, %[qmin].16b\n\t" \
    "smin v8.16b, v8.16b, %[qmax].16b\n\t"
#define PIXELS3X3_PAIR_TAIL \
    "st1 {v8.16b}, [%[y]], %[ystep]\n\t" \
    "subs %[cnt], %[cnt], #1\n\t" \
    "b.ne 1b\n\t"
#define PIXELS3X3_PAIR_OPERANDS \
    : [wb] "+r"(wp), [col] "+r"(colbuf), [y] "+r"(yp), [cnt] "+r"(pairs) \
    : [bias] "r"(bias), [mult] "r"(mult), [back] "r"((size_t)0 - 64), \
      [ystep] "r"(y_step), [zp] "w"(rq.zp), [qmin] "w"(rq.qmin), [qmax] "w"(rq.qmax) \
    : "v0", "v1", "v2", "v3", "v4", "v5", "v6", "v7", "v8", "v9", "v10", "v11", "v16", \
      "v17", "v18", "v19", "v20", "v21", "v22", "v23", "v24", "v25", "v26", "v27", "v28", \
      "v29", "v30", "v31", "cc", "memory"

DOTPROD static I8_NOINLINE void pixels3x3(const i8_neon_requant *rqp, const int32_t *bias,
                                          const float *mult, const int8_t *colbuf,
                                          const int8_t *wb, unsigned char *yp, int32_t n,
                                          size_t col_step, size_t tap_step, size_t y_step,
                                          int clamp) {
    if (n <= 0) return;
    const i8_neon_requant rq = *rqp;
    size_t cnt = (size_t)n;
    if (col_step == 64 && tap_step == 64 && n >= 2) { /* stride and dilation 1 */
        size_t pairs = (size_t)n / 2;
        const int8_t *wp = wb;
        if (clamp)
            __asm__ volatile(PIXELS3X3_PAIR_HEAD PIXELS3X3_PAIR_CLAMP_A PIXELS3X3_PAIR_MID
                                 PIXELS3X3_PAIR_CLAMP_B PIXELS3X3_PAIR_TAIL
                                     PIXELS3X3_PAIR_OPERANDS);
        else
            __asm__ volatile(PIXELS3X3_PAIR_HEAD PIXELS3X3_PAIR_MID PIXELS3X3_PAIR_TAIL
                                 PIXELS3X3_PAIR_OPERANDS);
        if (!(n & 1)) return;
        cnt = 1;
    }
    const size_t back = col_step - 2 * tap_step; /* modulo 2^64: may step backwards */
    if (clamp)
        __asm__ volatile(PIXELS3X3_HEAD PIXELS3X3_CLAMP PIXELS3X3_TAIL PIXELS3X3_OPERANDS);
    else
        __asm__ volatile(PIXELS3X3_HEAD PIXELS3X3_TAIL PIXELS3X3_OPERANDS);
}

/* One block of 16 channels over output rows [r0, r1). KH, KW: compile-time in the
 * specialisations (3x3, 5x5), else the runtime kh, kw. */
INLINE void block(const i8_conv2d_params *p, const i8_dwconv_packed *s, const i8_neon_requant *rq,
                  const int8_t *x, unsigned char *y, const int8_t *zrow, int8_t *colbuf,
                  int8_t *wb, size_t ch, size_t r0, size_t r1, const int KH, const int KW,
                  const int SPLIT) {
    const int G = (KH + 3) / 4;
    const size_t c = (size_t)p->c, nch = c - ch < 16 ? c - ch : 16;
    const size_t esz = p->out_f32 ? 4 : 1;
    build_weights(p, s, ch, wb, KH, KW);
    /* 3x3: the 12 weight vectors live in registers for the whole block */
    const int keep = KW * G <= 3;
    int8x16x4_t wk[3];
    if (keep) {
        wk[0] = vld1q_s8_x4(wb);
        if (KW * G > 1) wk[1] = vld1q_s8_x4(wb + 64);
        if (KW * G > 2) wk[2] = vld1q_s8_x4(wb + 128);
    }
    /* the epilogue's constants as values: y stores could alias *rq, *p in gcc's eyes */
    const i8_neon_requant rql = *rq;
    const int clamp = p->qmin > -128 || p->qmax < 127; /* else SQXTN's saturation is the clamp */
    /* SPLIT (the 3x3 / 5x5 specialisations): the common case gets its own copy */
    const int out_f32 = p->out_f32, fast = SPLIT && !out_f32 && nch == 16;
    const int32_t sw = p->stride_w, dw = p->dil_w;
    /* output pixels per segment: their columns fit the buffer */
    const int32_t span = (KW - 1) * dw + 1;
    const int32_t seg = (NEONDOT_COLS - span) / sw + 1;
    /* Row pairs (3x3, vertical stride and dilation 1, int8, 16 channels): output rows oy and
     * oy + 1 read input rows iy0..iy0 + 3, which is exactly one 4-row column (the 4th row is
     * a zero-weight filler for a single row). So one column build serves both rows: row oy
     * with the weights as built above (4th lane byte 0), row oy + 1 with the same kernel rows
     * shifted one byte up (build_weights_next_row). Halves the column builds of the stride-1
     * 3x3 layers (MobileNetV2: most of its depthwise). */
    const int pairs = KH == 3 && KW == 3 && SPLIT && fast && p->stride_h == 1 && p->dil_h == 1;
    int8_t *wb_next = wb + 3 * 64; /* scratch: MAX_K * 2 * 64 bytes of weight columns */
    if (pairs && r1 - r0 >= 2) build_weights_next_row(p, s, ch, wb_next);
    for (size_t r = r0; r < r1; r++) {
        const int32_t b = (int32_t)(r / (size_t)p->oh), oy = (int32_t)(r % (size_t)p->oh);
        const int8_t *xb = x + (size_t)b * p->h * p->w * c;
        const int32_t iy0 = oy * p->stride_h - p->pad_t;
        unsigned char *yrow = y + (r * (size_t)p->ow * c + ch) * esz;
        if (KH == 3 && KW == 3 && SPLIT && pairs && r + 1 < r1 && oy + 1 < p->oh) {
            unsigned char *ynext = yrow + (size_t)p->ow * c;
            for (int32_t ox0 = 0; ox0 < p->ow; ox0 += seg) {
                const int32_t n = p->ow - ox0 < seg ? p->ow - ox0 : seg;
                const int32_t ix0 = ox0 * sw - p->pad_l;
                build_columns(p, xb, iy0, ch, 16, zrow, ix0, ix0 + (n - 1) * sw + span, colbuf,
                              4);
                pixels3x3(&rql, s->bias + ch, s->mult + ch, colbuf, wb, yrow + (size_t)ox0 * c,
                          n, (size_t)sw * 64, (size_t)dw * 64, c, clamp);
                pixels3x3(&rql, s->bias + ch, s->mult + ch, colbuf, wb_next,
                          ynext + (size_t)ox0 * c, n, (size_t)sw * 64, (size_t)dw * 64, c,
                          clamp);
            }
            r++; /* the pair's second row */
            continue;
        }
        for (int32_t ox0 = 0; ox0 < p->ow; ox0 += seg) {
            const int32_t n = p->ow - ox0 < seg ? p->ow - ox0 : seg;
            const int32_t ix0 = ox0 * sw - p->pad_l;
            if (SPLIT)
                build_columns(p, xb, iy0, ch, nch, zrow, ix0, ix0 + (n - 1) * sw + span, colbuf,
                              KH);
            else
                build_columns_n(p, xb, iy0, ch, nch, zrow, ix0, ix0 + (n - 1) * sw + span,
                                colbuf, KH);
            if (fast && KH == 3 && KW == 3)
                pixels3x3(&rql, s->bias + ch, s->mult + ch, colbuf, wb, yrow + (size_t)ox0 * c,
                          n, (size_t)sw * 64, (size_t)dw * 64, c, clamp);
            else if (fast)
                pixels(s, &rql, colbuf, wk, wb, yrow + (size_t)ox0 * c, n, sw, dw, c, ch, 16, 0,
                       KH, KW);
            else
                pixels(s, &rql, colbuf, wk, wb, yrow + (size_t)ox0 * c * esz, n, sw, dw, c, ch,
                       nch, out_f32, KH, KW);
        }
    }
}

DOTPROD static I8_NOINLINE void block3x3(const i8_conv2d_params *p, const i8_dwconv_packed *s,
                                         const i8_neon_requant *rq, const int8_t *x,
                                         unsigned char *y, const int8_t *zrow, int8_t *colbuf,
                                         int8_t *wb, size_t ch, size_t r0, size_t r1) {
    block(p, s, rq, x, y, zrow, colbuf, wb, ch, r0, r1, 3, 3, 1);
}

DOTPROD static I8_NOINLINE void block5x5(const i8_conv2d_params *p, const i8_dwconv_packed *s,
                                         const i8_neon_requant *rq, const int8_t *x,
                                         unsigned char *y, const int8_t *zrow, int8_t *colbuf,
                                         int8_t *wb, size_t ch, size_t r0, size_t r1) {
    block(p, s, rq, x, y, zrow, colbuf, wb, ch, r0, r1, 5, 5, 1);
}

DOTPROD static I8_NOINLINE void block_any(const i8_conv2d_params *p, const i8_dwconv_packed *s,
                                          const i8_neon_requant *rq, const int8_t *x,
                                          unsigned char *y, const int8_t *zrow, int8_t *colbuf,
                                          int8_t *wb, size_t ch, size_t r0, size_t r1) {
    block(p, s, rq, x, y, zrow, colbuf, wb, ch, r0, r1, p->kh, p->kw, 0);
}

DOTPROD void i8_dwconv__neondot(const i8_conv2d_params *p, const void *packed, const int8_t *x,
                                void *y, void *scratch, size_t r0, size_t r1) {
    if (!covered(p)) {
        i8_dwconv__neon(p, packed, x, y, scratch, r0, r1);
        return;
    }
    i8_dwconv_packed s;
    i8_dwconv_sections(p, packed, &s);
    /* scratch: acc [cs] int32 (unused here) + the x_zp row [cs] (scalar.c's layout), then
     * 64-byte aligned: the column buffer, the weight columns */
    int8_t *zrow = (int8_t *)scratch + s.cs * 4;
    memset(zrow, p->x_zp, s.cs);
    uintptr_t a = (uintptr_t)(zrow + s.cs);
    int8_t *colbuf = (int8_t *)((a + 63) & ~(uintptr_t)63);
    int8_t *wb = colbuf + (size_t)NEONDOT_COLS * groups_of(p) * 64;
    const i8_neon_requant rq = i8_neon_requant_init(p->y_zp, p->qmin, p->qmax, p->out_f32);
    for (size_t ch = 0; ch < (size_t)p->c; ch += 16) {
        if (p->kh == 3 && p->kw == 3)
            block3x3(p, &s, &rq, x, y, zrow, colbuf, wb, ch, r0, r1);
        else if (p->kh == 5 && p->kw == 5)
            block5x5(p, &s, &rq, x, y, zrow, colbuf, wb, ch, r0, r1);
        else
            block_any(p, &s, &rq, x, y, zrow, colbuf, wb, ch, r0, r1);
    }
}

#endif
