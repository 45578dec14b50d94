/* Portable depthwise convolution: per output pixel, int32 accumulators over channels, one
 * pass per tap over contiguous channels (vectorises at -O2; see gemm/scalar.c for the k16
 * main loop and the exact int16 products). Padding taps read a row of x_zp, so the loop has
 * no per-element branch and the folded bias stays valid (a padding tap adds x_zp * w, which
 * the folded -x_zp * sum(w) cancels). */
#include <string.h>

#include "kernels/dwconv/dwconv.h"
#include "kernels/gemm/gemm.h"

static size_t cs_of(const i8_conv2d_params *p) { return I8_ALIGN_UP((size_t)p->c, 16); }

static size_t npairs_of(const i8_conv2d_params *p) { return ((size_t)p->kh * p->kw + 1) / 2; }

/* byte offsets of the sections after bias: mult, w, w16 */
static size_t off_mult(size_t cs) { return I8_ALIGN_UP(cs * 4, 64); }
static size_t off_w(size_t cs) { return 2 * I8_ALIGN_UP(cs * 4, 64); }
static size_t off_w16(const i8_conv2d_params *p, size_t cs) {
    return off_w(cs) + I8_ALIGN_UP((size_t)p->kh * p->kw * cs, 64);
}

static size_t off_w4(const i8_conv2d_params *p, size_t cs) {
    return off_w16(p, cs) + I8_ALIGN_UP(cs * npairs_of(p) * 2 * sizeof(int16_t), 64);
}

/* the vpdpbusd column layout (x86, 3x3 kernels only): 4 zmm per 16-channel block */
static int has_w4(const i8_conv2d_params *p) {
#if defined(__x86_64__) || defined(__i386__)
    return p->kh == 3 && p->kw == 3;
#else
    (void)p;
    return 0;
#endif
}

/* the vpmaddwd column layout (x86, 3x3 kernels only), after w4 */
static size_t off_w16c(const i8_conv2d_params *p, size_t cs) {
    return off_w4(p, cs) + I8_ALIGN_UP(has_w4(p) ? cs / 16 * I8_DWCONV_W4_BLOCK : 0, 64);
}

static size_t off_flags(const i8_conv2d_params *p, size_t cs) {
    return off_w16c(p, cs) + (has_w4(p) ? cs / 16 * I8_DWCONV_W16C_BLOCK : 0);
}

size_t i8_dwconv_packed_size(const i8_conv2d_params *p) { return off_flags(p, cs_of(p)) + 64; }

void i8_dwconv_sections(const i8_conv2d_params *p, const void *packed, i8_dwconv_packed *s) {
    const unsigned char *base = packed;
    s->cs = cs_of(p);
    s->npairs = npairs_of(p);
    s->bias = (const int32_t *)base;
    s->mult = (const float *)(base + off_mult(s->cs));
    s->w = (const int8_t *)(base + off_w(s->cs));
    s->w16 = (const int16_t *)(base + off_w16(p, s->cs));
    s->w4 = has_w4(p) ? base + off_w4(p, s->cs) : NULL;
    s->w16c = has_w4(p) ? base + off_w16c(p, s->cs) : NULL;
    memcpy(&s->w_m128, base + off_flags(p, s->cs), sizeof s->w_m128);
}

void i8_dwconv_pack(const i8_conv2d_params *p, const int8_t *w, const int32_t *bias,
                    const float *mult, void *packed) {
    const size_t cs = cs_of(p), taps = (size_t)p->kh * p->kw;
    unsigned char *base = packed;
    int32_t *pb = (int32_t *)base;
    float *pm = (float *)(base + I8_ALIGN_UP(cs * 4, 64));
    int8_t *pw = (int8_t *)(base + off_w(cs));
    int16_t *pw16 = (int16_t *)(base + off_w16(p, cs));
    memset(packed, 0, i8_dwconv_packed_size(p));
    int32_t w_m128 = 0;
    for (int32_t ch = 0; ch < p->c; ch++) {
        int64_t sum = 0;
        for (size_t t = 0; t < taps; t++) {
            const int8_t v = w[(size_t)ch * taps + t];
            pw[t * cs + ch] = v;
            sum += v;
            w_m128 |= v == -128;
            /* w16: block ch / 16, pair t / 2, vector lo (channels 0-3, 8-11 of the block) or
             * hi (4-7, 12-15); lane = 8 * (128-bit half) + 2 * (channel within its quarter)
             * + (tap parity): the order _mm256_unpack{lo,hi}_epi16 gives the activations */
            const size_t cb = (size_t)ch % 16, half = cb / 8, quarter = cb % 8 / 4;
            const size_t lane = 8 * half + 2 * (cb % 4) + t % 2;
            pw16[((size_t)ch / 16 * npairs_of(p) + t / 2) * 32 + 16 * quarter + lane] = v;
        }
        /* stored modulo 2^32, added with wrapping arithmetic: see i8_gemm_pack */
        const int64_t b = (bias ? (int64_t)bias[ch] : 0) - (int64_t)p->x_zp * sum;
        pb[ch] = (int32_t)(uint32_t)(uint64_t)b;
        pm[ch] = mult[ch];
        if (has_w4(p)) {
            /* block ch / 16: zmm kx (0..2) holds, per channel lane, w[ky = 0..2][kx] and a 0
             * filler byte; zmm 3 the int32 bias' = folded bias - 128 * sum(w) (the u8
             * activations x + 128 of vpdpbusd, dwconv/col3x3_x86.c), modulo 2^32 */
            unsigned char *blk = base + off_w4(p, cs) + (size_t)ch / 16 * I8_DWCONV_W4_BLOCK;
            const size_t lane = (size_t)ch % 16;
            for (size_t ky = 0; ky < 3; ky++)
                for (size_t kx = 0; kx < 3; kx++)
                    blk[kx * 64 + lane * 4 + ky] = (unsigned char)w[(size_t)ch * 9 + ky * 3 + kx];
            const int32_t bu = (int32_t)(uint32_t)(uint64_t)(b - 128 * sum);
            memcpy(blk + 192 + lane * 4, &bu, sizeof bu);
            /* w16c, block ch / 16: 14 vectors of 32 bytes (col3x3_x86.c, AVX2 set), each as
             * lo (channels 0-3 | 8-11) and hi (4-7 | 12-15), int32 lane 4 * half + ch % 4
             * (the order _mm256_unpack{lo,hi}_epi16 gives the activations): vectors 2 kx,
             * 2 kx + 1 the pair (w[0][kx], w[1][kx]); 6, 7 the pair (w[2][0], w[2][1]); 8, 9
             * (w[2][2], 0); 10, 11 the folded bias as int32 and 12, 13 the float32
             * multipliers in the same lane order */
            unsigned char *bc = base + off_w16c(p, cs) + (size_t)ch / 16 * I8_DWCONV_W16C_BLOCK;
            const size_t half = lane / 8, vhi = lane % 8 / 4, l32 = 4 * half + lane % 4;
            int16_t pair[5][2];
            for (size_t kx = 0; kx < 3; kx++) {
                pair[kx][0] = w[(size_t)ch * 9 + kx];
                pair[kx][1] = w[(size_t)ch * 9 + 3 + kx];
            }
            pair[3][0] = w[(size_t)ch * 9 + 6];
            pair[3][1] = w[(size_t)ch * 9 + 7];
            pair[4][0] = w[(size_t)ch * 9 + 8];
            pair[4][1] = 0;
            for (size_t v = 0; v < 5; v++)
                memcpy(bc + (2 * v + vhi) * 32 + l32 * 4, pair[v], sizeof pair[v]);
            memcpy(bc + (10 + vhi) * 32 + l32 * 4, &pb[ch], sizeof pb[ch]);
            memcpy(bc + (12 + vhi) * 32 + l32 * 4, &mult[ch], sizeof mult[ch]);
        }
    }
    memcpy(base + off_flags(p, cs), &w_m128, sizeof w_m128);
}

size_t i8_dwconv_scratch_size(const i8_conv2d_params *p) {
#if defined(__aarch64__)
    return cs_of(p) * 5 + i8_dwconv_neondot_scratch(p);
#else
    return cs_of(p) * 5;
#endif
}

static I8_NOINLINE void tap(size_t c, int32_t *restrict acc, const int8_t *restrict src,
                       const int8_t *restrict wt) {
    const size_t c16 = c & ~(size_t)15;
    size_t ch = 0;
    for (; ch < c16; ch++) acc[ch] += (int16_t)(src[ch] * wt[ch]);
    for (; ch < c; ch++) acc[ch] += src[ch] * wt[ch];
}

void i8_dwconv__scalar(const i8_conv2d_params *p, const void *packed, const int8_t *x,
                       void *y, void *scratch, size_t r0, size_t r1, const i8_post *post) {
    i8_dwconv_packed s;
    i8_dwconv_sections(p, packed, &s);
    const size_t cs = s.cs, c = (size_t)p->c;
    const int32_t *bias = s.bias;
    const float *mult = s.mult;
    const int8_t *w = s.w;
    int32_t *acc = scratch;
    int8_t *zrow = (int8_t *)(acc + cs);
    /* output row r starts at element r * ow * c of y */
    int8_t *yq = (int8_t *)y + r0 * p->ow * c;
    float *yf = (float *)y + r0 * p->ow * c;
    memset(zrow, p->x_zp, cs);
    for (size_t r = r0; r < r1; r++) {
        const int32_t b = (int32_t)(r / (size_t)p->oh), oy = (int32_t)(r % (size_t)p->oh);
        const int8_t *xb = x + (size_t)b * p->h * p->w * c;
        {
            for (int32_t ox = 0; ox < p->ow; ox++) {
                memset(acc, 0, c * sizeof(int32_t));
                for (int32_t ky = 0; ky < p->kh; ky++) {
                    const int32_t iy = oy * p->stride_h - p->pad_t + ky * p->dil_h;
                    const int row_in = iy >= 0 && iy < p->h;
                    for (int32_t kx = 0; kx < p->kw; kx++) {
                        const int32_t ix = ox * p->stride_w - p->pad_l + kx * p->dil_w;
                        const int8_t *src = row_in && ix >= 0 && ix < p->w
                                                ? xb + ((size_t)iy * p->w + ix) * c
                                                : zrow;
                        tap(c, acc, src, w + (size_t)(ky * p->kw + kx) * cs);
                    }
                }
                /* one branch per output pixel picks the epilogue (kernels.h) */
                if (p->out_f32) {
                    for (size_t ch = 0; ch < c; ch++)
                        yf[ch] = (float)(int32_t)((uint32_t)acc[ch] + (uint32_t)bias[ch]) *
                                 mult[ch];
                    yf += c;
                    continue;
                }
                for (size_t ch = 0; ch < c; ch++)
                    yq[ch] = i8_requantize((int32_t)((uint32_t)acc[ch] + (uint32_t)bias[ch]),
                                           mult[ch], p->y_zp, p->qmin, p->qmax);
                if (post) i8_post_apply__scalar(post, yq, c);
                yq += c;
            }
        }
    }
}
