/* Convolution with static or dynamic int8 activations in ONNX layout (int8rt/dqconv.h). */
#include <math.h>
#include <string.h>

#include "int8rt/dqconv.h"
#include "int8rt/dynq.h"
#include "kernels/gemm/gemm.h"

#define A64(v) (((size_t)(v) + 63) / 64 * 64)
#define LIMIT ((int64_t)1 << 31)

const char *i8_dqconv_check(const i8_dqconv_params *p) {
    if (p->n < 1 || p->c < 1 || p->h < 1 || p->w < 1 || p->m < 1 || p->kh < 1 || p->kw < 1 ||
        p->oh < 1 || p->ow < 1)
        return "n, c, h, w, m, kh, kw, oh, ow must be >= 1";
    if (p->stride_h < 1 || p->stride_w < 1 || p->dil_h < 1 || p->dil_w < 1)
        return "strides and dilations must be >= 1";
    if (p->pad_t < 0 || p->pad_l < 0) return "pads must be >= 0";
    if (p->has_bias != 0 && p->has_bias != 1) return "has_bias must be 0 or 1";
    if (!(p->amax >= 0.0f) || isinf(p->amax)) return "amax must be a finite value >= 0";
    const double k = (double)p->c * (double)p->kh * (double)p->kw;
    const double pix = (double)p->oh * (double)p->ow;
    if (k >= (double)LIMIT / 2 || p->m >= LIMIT || pix * k > 4e18 || pix * p->m * 4 > 4e18 ||
        (double)p->c * p->h * p->w > 4e18 || p->n >= LIMIT)
        return "sizes overflow";
    return NULL;
}

static int64_t kdim(const i8_dqconv_params *p) { return p->c * p->kh * p->kw; }

/* scratch: xq [h*w, c] int8 (NHWC) | cols [oh*ow, K] int8 | yt [oh*ow, m] f32 | gemm scratch */
size_t i8_dqconv_scratch_size(const i8_dqconv_params *p) {
    const int64_t pix = p->oh * p->ow;
    return A64(p->c * p->h * p->w) + A64(pix * kdim(p)) + A64(pix * p->m * 4) +
           i8_gemm_scratch_size((size_t)pix, (int32_t)kdim(p));
}

/* max |x| over n values: 8 running maxima so the compiler can keep them in one vector (a
 * single running maximum is a reduction gcc vectorises only under -ffast-math); max is
 * exact and order-free, so any grouping gives the same value. */
static float abs_max(const float *x, int64_t n) {
    float m[8] = {0};
    int64_t i = 0;
    for (; i + 8 <= n; i += 8)
        for (int j = 0; j < 8; j++) {
            const float v = fabsf(x[i + j]);
            m[j] = v > m[j] ? v : m[j];
        }
    for (; i < n; i++) {
        const float v = fabsf(x[i]);
        m[0] = v > m[0] ? v : m[0];
    }
    float r = m[0];
    for (int j = 1; j < 8; j++) r = m[j] > r ? m[j] : r;
    return r;
}

/* q = clamp(rint(v * inv), -127, 127) for one channel row, written with stride c (NHWC).
 * Clamping before rounding gives the same integer (every value beyond ±127 ends at ±127
 * either way), and after the clamp |v| <= 127 < 2^22, where adding and subtracting 1.5·2^23
 * rounds to the nearest integer, ties to even, exactly as rint in the default rounding mode
 * (the 1.5 keeps negative values in the same binade). No libm call: the loop vectorises. */
static void quantize_row(const float *x, int64_t n, float inv, int8_t *q, int64_t stride) {
    const float magic = 12582912.0f; /* 1.5 * 2^23 */
    for (int64_t i = 0; i < n; i++) {
        float v = x[i] * inv;
        v = v < 127.0f ? v : 127.0f; /* also NaN -> 127: no undefined float -> int cast */
        v = v > -127.0f ? v : -127.0f;
        q[i * stride] = (int8_t)(int32_t)((v + magic) - magic);
    }
}

/* a few bytes inline (a memcpy call per 1-byte tap costs more than the copy) */
static inline void copy_bytes(int8_t *dst, const int8_t *src, int64_t n) {
    if (n > 16) {
        memcpy(dst, src, (size_t)n);
        return;
    }
    for (int64_t i = 0; i < n; i++) dst[i] = src[i];
}

/* One im2col row (output pixel oy, ox) from the NHWC image: columns in (ky, kx, ci) order, the
 * order the lowering packs W in (int8rt/dynamic/lower.py, dqconv_weight_rows), so a tap is c
 * contiguous bytes, and with dilation 1 a whole kernel row inside the image is one run of
 * kw·c bytes; taps outside the image are zeros (q of 0.0). */
static void im2col_row(const i8_dqconv_params *p, const int8_t *xq, int64_t oy, int64_t ox,
                       int8_t *row) {
    const int64_t C = p->c, KW = p->kw;
    const int64_t ix0 = ox * p->stride_w - p->pad_l;
    const int inside = p->dil_w == 1 && ix0 >= 0 && ix0 + KW <= p->w;
    for (int64_t ky = 0; ky < p->kh; ky++) {
        const int64_t iy = oy * p->stride_h + ky * p->dil_h - p->pad_t;
        int8_t *dst = row + ky * KW * C;
        if (iy < 0 || iy >= p->h) {
            memset(dst, 0, (size_t)(KW * C));
            continue;
        }
        const int8_t *line = xq + iy * p->w * C;
        if (inside) {
            copy_bytes(dst, line + ix0 * C, KW * C);
            continue;
        }
        for (int64_t kx = 0; kx < KW; kx++, dst += C) {
            const int64_t ix = ix0 + kx * p->dil_w;
            if (ix < 0 || ix >= p->w)
                memset(dst, 0, (size_t)C);
            else
                copy_bytes(dst, line + ix * C, C);
        }
    }
}

void i8_dqconv_run(const i8_dqconv_params *p, const float *x, const void *packed,
                  const float *bias, float *y, void *scratch) {
    const int64_t C = p->c, H = p->h, W = p->w, M = p->m;
    const int64_t OH = p->oh, OW = p->ow, pix = OH * OW, K = kdim(p), chw = C * H * W;
    unsigned char *s = scratch;
    int8_t *xq = (int8_t *)s;
    s += A64(chw);
    int8_t *cols = (int8_t *)s;
    s += A64(pix * K);
    float *yt = (float *)s;
    s += A64(pix * M * 4);
    i8_gemm_panel pn;
    i8_gemm_panel_init(&pn, (int32_t)M, (int32_t)K, packed, 0, -128, 127, 1);
    pn.scratch = s;
    pn.scratch_bytes = i8_gemm_scratch_size((size_t)pix, (int32_t)K);
    for (int64_t b = 0; b < p->n; b++) {
        const float *xb = x + b * chw;
        const float amax = p->amax > 0.0f ? p->amax : abs_max(xb, chw);
        float sa = 1.0f;
        if (amax < I8_DQ_TINY_AMAX) { /* int8rt/dynq.h: 127 / amax would overflow */
            memset(xq, 0, (size_t)chw);
        } else {
            const float inv = 127.0f / amax;
            sa = amax / 127.0f;
            for (int64_t ci = 0; ci < C; ci++)
                quantize_row(xb + ci * H * W, H * W, inv, xq + ci, C);
        }
        for (int64_t oy = 0; oy < OH; oy++)
            for (int64_t ox = 0; ox < OW; ox++)
                im2col_row(p, xq, oy, ox, cols + (oy * OW + ox) * K);
        i8_gemm(&pn, (size_t)pix, cols, (size_t)K, yt, (size_t)M);
        float *yb = y + b * M * pix;
        for (int64_t j = 0; j < M; j++) {
            const float bj = bias ? bias[j] : 0.0f;
            float *yr = yb + j * pix;
            if (bias)
                for (int64_t q = 0; q < pix; q++) yr[q] = yt[q * M + j] * sa + bj;
            else
                for (int64_t q = 0; q < pix; q++) yr[q] = yt[q * M + j] * sa;
        }
    }
}
