/* f32conv driver and portable kernels (f32conv.h): packing, im2col, tiling into tasks, path
 * dispatch. Every path computes each output element with the same fmaf chain, so where a
 * tile or a task boundary falls changes no bit. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "kernels/f32conv/f32conv_impl.h"
#include "kernels/x86_paths.h"

static inline float clampf_(float v, float lo, float hi) {
    return v < lo ? lo : (v > hi ? hi : v);
}

/* ---- portable kernels (C99 fmaf: one rounding, as the SIMD paths) ------------------------ */
#define SCALAR_MR 4

static void f32_gemm_ukernel_4x16__scalar(int32_t mr, int32_t nr, int64_t k, const float *a,
                                          size_t lda, const float *b, const float *bias,
                                          float *c, size_t ldc, float lo, float hi) {
    for (int32_t r = 0; r < mr; r++) {
        float acc[F32_NR] = {0};
        const float *ar = a + (size_t)r * lda;
        for (int64_t kk = 0; kk < k; kk++) {
            const float av = ar[kk];
            const float *bk = b + (size_t)kk * F32_NR;
            for (int32_t j = 0; j < F32_NR; j++) acc[j] = fmaf(av, bk[j], acc[j]);
        }
        for (int32_t j = 0; j < nr; j++) c[(size_t)r * ldc + j] = clampf_(acc[j] + bias[j], lo, hi);
    }
}

static void f32_dwconv__scalar(const f32_conv2d_params *p, const float *w, const float *bias,
                               const float *x, float *y, int64_t pix0, int64_t pix1) {
    const int32_t c = p->c;
    for (int64_t pix = pix0; pix < pix1; pix++) {
        const int64_t b = pix / ((int64_t)p->oh * p->ow), rem = pix % ((int64_t)p->oh * p->ow);
        const int32_t oy = (int32_t)(rem / p->ow), ox = (int32_t)(rem % p->ow);
        float *yp = y + (size_t)pix * c;
        for (int32_t ch = 0; ch < c; ch++) yp[ch] = 0.0f;
        for (int32_t ky = 0; ky < p->kh; ky++) {
            const int32_t iy = oy * p->stride_h - p->pad_t + ky * p->dil_h;
            if (iy < 0 || iy >= p->h) continue;
            for (int32_t kx = 0; kx < p->kw; kx++) {
                const int32_t ix = ox * p->stride_w - p->pad_l + kx * p->dil_w;
                if (ix < 0 || ix >= p->w) continue;
                const float *xp = x + (((size_t)b * p->h + iy) * p->w + ix) * c;
                const float *wt = w + ((size_t)ky * p->kw + kx) * c;
                for (int32_t ch = 0; ch < c; ch++) yp[ch] = fmaf(xp[ch], wt[ch], yp[ch]);
            }
        }
        for (int32_t ch = 0; ch < c; ch++) yp[ch] = clampf_(yp[ch] + bias[ch], p->lo, p->hi);
    }
}

/* ---- path selection ---------------------------------------------------------------------- */
int32_t f32conv_path(void) {
#if defined(__x86_64__) || defined(__i386__)
    const int32_t level = i8_x86_level();
    if (level == 2) return 2; /* AVX-512 F: every such CPU has FMA3 */
    if (level == 1 && __builtin_cpu_supports("fma")) return 1;
#endif
    return 0;
}

typedef struct {
    f32_gemm_ukernel gemm;
    int32_t mr;
    f32_dw_kernel dw;
} f32_kernels;

static f32_kernels kernels_now(void) {
    f32_kernels k = {f32_gemm_ukernel_4x16__scalar, SCALAR_MR, f32_dwconv__scalar};
#if defined(__x86_64__) || defined(__i386__)
    switch (f32conv_path()) {
    case 2: k.gemm = f32_gemm_ukernel_12x16__avx512; k.mr = 12; k.dw = f32_dwconv__avx512; break;
    case 1: k.gemm = f32_gemm_ukernel_6x16__avx2; k.mr = 6; k.dw = f32_dwconv__avx2; break;
    default: break;
    }
#endif
    return k;
}

/* ---- conv2d ------------------------------------------------------------------------------ */
static int is_depthwise(const f32_conv2d_params *p) {
    return p->groups == p->c && p->groups == p->oc;
}

/* 1x1, stride 1, no padding: output pixel r reads input row r in place */
static int is_pointwise(const f32_conv2d_params *p) {
    return p->kh == 1 && p->kw == 1 && p->stride_h == 1 && p->stride_w == 1 && p->pad_t == 0 &&
           p->pad_l == 0 && p->pad_b == 0 && p->pad_r == 0 && p->oh == p->h && p->ow == p->w;
}

static size_t panels(int32_t n) { return ((size_t)n + F32_NR - 1) / F32_NR; }

static size_t conv_k(const f32_conv2d_params *p) {
    return (size_t)p->kh * p->kw * (size_t)(p->c / p->groups);
}

/* floats before the bias in the packed stream */
static size_t conv_weight_floats(const f32_conv2d_params *p) {
    if (is_depthwise(p)) return (size_t)p->kh * p->kw * (size_t)p->c;
    return (size_t)p->groups * panels(p->oc / p->groups) * F32_NR * conv_k(p);
}

/* Packed stream: weights, then bias [oc].
 *   general:   [groups][panel][ky][kx][ci][F32_NR]  (a panel: F32_NR output channels)
 *   depthwise: [kh][kw][c]                          (channels innermost, the vector axis) */
size_t f32_conv2d_packed_size(const f32_conv2d_params *p) {
    return sizeof(float) * (conv_weight_floats(p) + (size_t)p->oc);
}

void f32_conv2d_pack(const f32_conv2d_params *p, const float *w, const float *bias,
                     void *packed) {
    float *dst = packed;
    const int32_t kh = p->kh, kw = p->kw;
    if (is_depthwise(p)) {
        for (int32_t t = 0; t < kh * kw; t++)
            for (int32_t ch = 0; ch < p->c; ch++)
                dst[(size_t)t * p->c + ch] = w[(size_t)ch * kh * kw + t];
    } else {
        const int32_t g_n = p->groups, ocg = p->oc / g_n;
        const size_t k = conv_k(p), np = panels(ocg);
        memset(dst, 0, sizeof(float) * conv_weight_floats(p));
        for (int32_t g = 0; g < g_n; g++)
            for (int32_t o = 0; o < ocg; o++) {
                float *panel = dst + ((size_t)g * np + (size_t)o / F32_NR) * k * F32_NR;
                /* natural weights [oc][ky][kx][ci] are already in tap order */
                const float *src = w + (size_t)(g * ocg + o) * k;
                for (size_t kk = 0; kk < k; kk++) panel[kk * F32_NR + (size_t)o % F32_NR] = src[kk];
            }
    }
    memcpy(dst + conv_weight_floats(p), bias, sizeof(float) * (size_t)p->oc);
}

size_t f32_conv2d_scratch_size(const f32_conv2d_params *p) {
    if (is_depthwise(p) || is_pointwise(p)) return 0;
    return sizeof(float) * (size_t)F32_MT * conv_k(p);
}

size_t f32_conv2d_tasks(const f32_conv2d_params *p) {
    const int64_t pix = (int64_t)p->n * p->oh * p->ow;
    const int64_t per = is_depthwise(p) ? F32_DW_MT : F32_MT;
    return (size_t)((pix + per - 1) / per);
}

/* rows [r0, r0 + rows) of the im2col matrix of group g: [rows][kh][kw][cg], zeros for taps
 * in the padding */
static void im2col(const f32_conv2d_params *p, const float *x, int32_t g, int64_t r0,
                   int32_t rows, float *a) {
    const int32_t cg = p->c / p->groups;
    const size_t k = conv_k(p);
    for (int32_t r = 0; r < rows; r++) {
        const int64_t pix = r0 + r;
        const int64_t b = pix / ((int64_t)p->oh * p->ow), rem = pix % ((int64_t)p->oh * p->ow);
        const int32_t oy = (int32_t)(rem / p->ow), ox = (int32_t)(rem % p->ow);
        float *dst = a + (size_t)r * k;
        for (int32_t ky = 0; ky < p->kh; ky++) {
            const int32_t iy = oy * p->stride_h - p->pad_t + ky * p->dil_h;
            for (int32_t kx = 0; kx < p->kw; kx++, dst += cg) {
                const int32_t ix = ox * p->stride_w - p->pad_l + kx * p->dil_w;
                if (iy < 0 || iy >= p->h || ix < 0 || ix >= p->w) {
                    for (int32_t ci = 0; ci < cg; ci++) dst[ci] = 0.0f;
                    continue;
                }
                const float *src = x + (((size_t)b * p->h + iy) * p->w + ix) * p->c + (size_t)g * cg;
                if (cg >= 16) memcpy(dst, src, sizeof(float) * (size_t)cg);
                else for (int32_t ci = 0; ci < cg; ci++) dst[ci] = src[ci];
            }
        }
    }
}

/* rows [r0, r0 + rows) of output channels of group g, panel by panel, tile by tile */
static void gemm_rows(const f32_kernels *kn, int64_t rows, int64_t k, const float *a,
                      size_t lda, const float *wpanels, const float *bias, int32_t ocg,
                      float *y, size_t ldc, float lo, float hi) {
    const size_t np = panels(ocg);
    for (size_t pi = 0; pi < np; pi++) {
        const int32_t nr = ocg - (int32_t)pi * F32_NR < F32_NR ? ocg - (int32_t)pi * F32_NR : F32_NR;
        const float *b = wpanels + pi * (size_t)k * F32_NR;
        for (int64_t r = 0; r < rows; r += kn->mr) {
            const int32_t mr = rows - r < kn->mr ? (int32_t)(rows - r) : kn->mr;
            kn->gemm(mr, nr, k, a + (size_t)r * lda, lda, b, bias + pi * F32_NR,
                     y + (size_t)r * ldc + pi * F32_NR, ldc, lo, hi);
        }
    }
}

void f32_conv2d_run_tasks(const f32_conv2d_params *p, const void *packed, const float *x,
                          float *y, void *scratch, size_t t0, size_t t1) {
    const f32_kernels kn = kernels_now();
    const float *wp = packed;
    const float *bias = wp + conv_weight_floats(p);
    const int64_t pix = (int64_t)p->n * p->oh * p->ow;
    if (is_depthwise(p)) {
        const int64_t a = (int64_t)t0 * F32_DW_MT, e = (int64_t)t1 * F32_DW_MT;
        kn.dw(p, wp, bias, x, y, a, e < pix ? e : pix);
        return;
    }
    const int32_t g_n = p->groups, cg = p->c / g_n, ocg = p->oc / g_n;
    const size_t k = conv_k(p), np = panels(ocg);
    const int pointwise = is_pointwise(p);
    for (size_t t = t0; t < t1; t++) {
        const int64_t r0 = (int64_t)t * F32_MT;
        const int32_t rows = pix - r0 < F32_MT ? (int32_t)(pix - r0) : F32_MT;
        for (int32_t g = 0; g < g_n; g++) {
            const float *a;
            size_t lda;
            if (pointwise) {
                a = x + (size_t)r0 * p->c + (size_t)g * cg;
                lda = (size_t)p->c;
            } else {
                im2col(p, x, g, r0, rows, scratch);
                a = scratch;
                lda = k;
            }
            gemm_rows(&kn, rows, (int64_t)k, a, lda, wp + (size_t)g * np * k * F32_NR,
                      bias + (size_t)g * ocg, ocg, y + (size_t)r0 * p->oc + (size_t)g * ocg,
                      (size_t)p->oc, p->lo, p->hi);
        }
    }
}

int f32_conv2d_run(const f32_conv2d_params *p, const void *packed, const float *x, float *y,
                   void *scratch) {
    const size_t need = f32_conv2d_scratch_size(p);
    void *own = NULL;
    if (need && !scratch) {
        own = malloc(need);
        if (!own) return -1;
        scratch = own;
    }
    f32_conv2d_run_tasks(p, packed, x, y, scratch, 0, f32_conv2d_tasks(p));
    free(own);
    return 0;
}

/* ---- fc ---------------------------------------------------------------------------------- */
/* Packed stream: panels [panel][k][F32_NR] of w (outputs innermost), then bias [n]. */
size_t f32_fc_packed_size(const f32_fc_params *p) {
    return sizeof(float) * (panels(p->n) * F32_NR * (size_t)p->k + (size_t)p->n);
}

void f32_fc_pack(const f32_fc_params *p, const float *w, const float *bias, void *packed) {
    float *dst = packed;
    const size_t k = (size_t)p->k, nw = panels(p->n) * F32_NR * k;
    memset(dst, 0, sizeof(float) * nw);
    for (int32_t j = 0; j < p->n; j++) {
        float *panel = dst + (size_t)(j / F32_NR) * k * F32_NR;
        for (size_t kk = 0; kk < k; kk++) panel[kk * F32_NR + j % F32_NR] = w[(size_t)j * k + kk];
    }
    memcpy(dst + nw, bias, sizeof(float) * (size_t)p->n);
}

size_t f32_fc_tasks(const f32_fc_params *p) { return ((size_t)p->m + F32_MT - 1) / F32_MT; }

void f32_fc_run_tasks(const f32_fc_params *p, const void *packed, const float *x, float *y,
                      size_t t0, size_t t1) {
    const f32_kernels kn = kernels_now();
    const float *wp = packed;
    const float *bias = wp + panels(p->n) * F32_NR * (size_t)p->k;
    for (size_t t = t0; t < t1; t++) {
        const int64_t r0 = (int64_t)t * F32_MT;
        const int64_t rows = p->m - r0 < F32_MT ? p->m - r0 : F32_MT;
        gemm_rows(&kn, rows, p->k, x + (size_t)r0 * p->k, (size_t)p->k, wp, bias, p->n,
                  y + (size_t)r0 * p->n, (size_t)p->n, p->lo, p->hi);
    }
}

void f32_fc_run(const f32_fc_params *p, const void *packed, const float *x, float *y) {
    f32_fc_run_tasks(p, packed, x, y, 0, f32_fc_tasks(p));
}
