/* Convolution with static or dynamic int8 activations in ONNX layout (int8rt/dqconv.h). */
#include <math.h>
#include <string.h>

#include "int8rt/dqconv.h"
#include "int8rt/dynq.h"
#include "kernels/gemm/gemm.h"

#define A64(v) (((size_t)(v) + 63) / 64 * 64)
#define LIMIT ((int64_t)1 << 31)

const char *i8dqconv_check(const i8_dqconv_params *p) {
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

/* scratch: xq [c*h*w] int8 | cols [oh*ow, K] int8 | yt [oh*ow, m] f32 | gemm scratch */
size_t i8dqconv_scratch_size(const i8_dqconv_params *p) {
    const int64_t pix = p->oh * p->ow;
    return A64(p->c * p->h * p->w) + A64(pix * kdim(p)) + A64(pix * p->m * 4) +
           i8_gemm_scratch_size((size_t)pix, (int32_t)kdim(p));
}

void i8dqconv_run(const i8_dqconv_params *p, const float *x, const void *packed,
                  const float *bias, float *y, void *scratch) {
    const int64_t C = p->c, H = p->h, W = p->w, M = p->m, KH = p->kh, KW = p->kw;
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
        float amax = p->amax;
        if (amax == 0.0f)
            for (int64_t i = 0; i < chw; i++) {
                const float v = fabsf(xb[i]);
                amax = v > amax ? v : amax;
            }
        float sa = 1.0f;
        if (amax == 0.0f) {
            memset(xq, 0, (size_t)chw);
        } else {
            const float inv = 127.0f / amax;
            sa = amax / 127.0f;
            for (int64_t i = 0; i < chw; i++) {
                long v = lrintf(xb[i] * inv);
                v = v > 127 ? 127 : v < -127 ? -127 : v;
                xq[i] = (int8_t)v;
            }
        }
        /* im2col: row p = (oy, ox), column (ci, ky, kx), the order of W's [C, KH, KW] */
        for (int64_t oy = 0; oy < OH; oy++)
            for (int64_t ox = 0; ox < OW; ox++) {
                int8_t *row = cols + (oy * OW + ox) * K;
                for (int64_t ci = 0; ci < C; ci++)
                    for (int64_t ky = 0; ky < KH; ky++) {
                        const int64_t iy = oy * p->stride_h + ky * p->dil_h - p->pad_t;
                        int8_t *dst = row + (ci * KH + ky) * KW;
                        if (iy < 0 || iy >= H) {
                            memset(dst, 0, (size_t)KW);
                            continue;
                        }
                        const int8_t *src = xq + (ci * H + iy) * W;
                        for (int64_t kx = 0; kx < KW; kx++) {
                            const int64_t ix = ox * p->stride_w + kx * p->dil_w - p->pad_l;
                            dst[kx] = ix < 0 || ix >= W ? 0 : src[ix];
                        }
                    }
            }
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
