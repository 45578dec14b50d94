/* f32conv, portable C (f32conv.h). The inner loops run over contiguous output channels with
 * no dependence between iterations, so the compiler vectorises them without changing the
 * per-channel order of additions (each lane is one output channel's own running sum). */
#include "kernels/f32conv/f32conv.h"

#include <string.h>

static inline float clampf_(float v, float lo, float hi) {
    return v < lo ? lo : (v > hi ? hi : v);
}

/* y[j] += xv * w[j] for j < n. Blocks of 8 with a constant trip count let -O2's
 * straight-line (SLP) vectorizer use 8-wide (AVX) or 2x4-wide (SSE / NEON) multiplies and adds;
 * each lane is still one channel's own product and sum, so the result is unchanged. */
static inline void axpy_(float *restrict y, float xv, const float *restrict w, int32_t n) {
    int32_t j = 0;
    for (; j + 8 <= n; j += 8)
        for (int32_t k = 0; k < 8; k++) y[j + k] += xv * w[j + k];
    for (; j < n; j++) y[j] += xv * w[j];
}

/* y[j] += x[j] * w[j] (depthwise: channels are the vector axis) */
static inline void mac_(float *restrict y, const float *restrict x, const float *restrict w,
                        int32_t n) {
    int32_t j = 0;
    for (; j + 8 <= n; j += 8)
        for (int32_t k = 0; k < 8; k++) y[j + k] += x[j + k] * w[j + k];
    for (; j < n; j++) y[j] += x[j] * w[j];
}

static int is_depthwise(const i8_f32_conv2d_params *p) {
    return p->groups == p->c && p->groups == p->oc;
}

/* Packed stream: weights, then bias [oc].
 *   general:   [groups][kh][kw][cg][ocg]  (output channels innermost: the vector axis)
 *   depthwise: [kh][kw][c]                (channels innermost) */
size_t i8_f32_conv2d_packed_size(const i8_f32_conv2d_params *p) {
    const size_t cg = (size_t)(p->c / p->groups);
    return sizeof(float) * ((size_t)p->oc * p->kh * p->kw * cg + (size_t)p->oc);
}

void i8_f32_conv2d_pack(const i8_f32_conv2d_params *p, const float *w, const float *bias,
                     void *packed) {
    float *dst = packed;
    const int32_t g_n = p->groups, cg = p->c / g_n, ocg = p->oc / g_n;
    const int32_t kh = p->kh, kw = p->kw;
    if (is_depthwise(p)) {
        for (int32_t t = 0; t < kh * kw; t++)
            for (int32_t ch = 0; ch < p->c; ch++) dst[(size_t)t * p->c + ch] = w[(size_t)ch * kh * kw + t];
    } else {
        for (int32_t g = 0; g < g_n; g++)
            for (int32_t ky = 0; ky < kh; ky++)
                for (int32_t kx = 0; kx < kw; kx++)
                    for (int32_t ci = 0; ci < cg; ci++)
                        for (int32_t o = 0; o < ocg; o++) {
                            const int32_t oc = g * ocg + o;
                            dst[((((size_t)g * kh + ky) * kw + kx) * cg + ci) * ocg + o] =
                                w[(((size_t)oc * kh + ky) * kw + kx) * cg + ci];
                        }
    }
    memcpy(dst + (size_t)p->oc * kh * kw * cg, bias, sizeof(float) * (size_t)p->oc);
}

static void f32conv2d__scalar(const i8_f32_conv2d_params *p, const float *wp, const float *bias,
                              const float *x, float *y) {
    const int32_t g_n = p->groups, cg = p->c / g_n, ocg = p->oc / g_n, dw = is_depthwise(p);
    for (int32_t b = 0; b < p->n; b++)
        for (int32_t oy = 0; oy < p->oh; oy++)
            for (int32_t ox = 0; ox < p->ow; ox++) {
                float *restrict yp = y + (((size_t)b * p->oh + oy) * p->ow + ox) * p->oc;
                for (int32_t o = 0; o < p->oc; o++) yp[o] = 0.0f;
                for (int32_t ky = 0; ky < p->kh; ky++) {
                    const int32_t iy = oy * p->stride_h - p->pad_t + ky * p->dil_h;
                    if (iy < 0 || iy >= p->h) continue;
                    for (int32_t kx = 0; kx < p->kw; kx++) {
                        const int32_t ix = ox * p->stride_w - p->pad_l + kx * p->dil_w;
                        if (ix < 0 || ix >= p->w) continue;
                        const float *restrict xp = x + (((size_t)b * p->h + iy) * p->w + ix) * p->c;
                        if (dw) {
                            const float *restrict wt = wp + ((size_t)ky * p->kw + kx) * p->c;
                            mac_(yp, xp, wt, p->c);
                            continue;
                        }
                        for (int32_t g = 0; g < g_n; g++) {
                            const float *restrict wt =
                                wp + ((((size_t)g * p->kh + ky) * p->kw + kx) * cg) * ocg;
                            float *restrict yg = yp + (size_t)g * ocg;
                            for (int32_t ci = 0; ci < cg; ci++)
                                axpy_(yg, xp[g * cg + ci], wt + (size_t)ci * ocg, ocg);
                        }
                    }
                }
                for (int32_t o = 0; o < p->oc; o++) yp[o] = clampf_(yp[o] + bias[o], p->lo, p->hi);
            }
}

void i8_f32_conv2d_run(const i8_f32_conv2d_params *p, const void *packed, const float *x, float *y) {
    const float *wp = packed;
    const size_t nw = (size_t)p->oc * p->kh * p->kw * (size_t)(p->c / p->groups);
    f32conv2d__scalar(p, wp, wp + nw, x, y);
}

/* Packed stream: w transposed to [k][n] (outputs innermost), then bias [n]. */
size_t i8_f32_fc_packed_size(const i8_f32_fc_params *p) {
    return sizeof(float) * ((size_t)p->k * p->n + (size_t)p->n);
}

void i8_f32_fc_pack(const i8_f32_fc_params *p, const float *w, const float *bias, void *packed) {
    float *dst = packed;
    for (int32_t j = 0; j < p->n; j++)
        for (int32_t kk = 0; kk < p->k; kk++) dst[(size_t)kk * p->n + j] = w[(size_t)j * p->k + kk];
    memcpy(dst + (size_t)p->k * p->n, bias, sizeof(float) * (size_t)p->n);
}

static void f32fc__scalar(const i8_f32_fc_params *p, const float *wt, const float *bias,
                          const float *x, float *y) {
    for (int32_t r = 0; r < p->m; r++) {
        float *restrict yr = y + (size_t)r * p->n;
        const float *restrict xr = x + (size_t)r * p->k;
        for (int32_t j = 0; j < p->n; j++) yr[j] = 0.0f;
        for (int32_t kk = 0; kk < p->k; kk++) axpy_(yr, xr[kk], wt + (size_t)kk * p->n, p->n);
        for (int32_t j = 0; j < p->n; j++) yr[j] = clampf_(yr[j] + bias[j], p->lo, p->hi);
    }
}

void i8_f32_fc_run(const i8_f32_fc_params *p, const void *packed, const float *x, float *y) {
    const float *wt = packed;
    f32fc__scalar(p, wt, wt + (size_t)p->k * p->n, x, y);
}
