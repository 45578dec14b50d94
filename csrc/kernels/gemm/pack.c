/* Packing for the gemm core: see gemm.h for the layout. */
#include <string.h>

#include "kernels/gemm/gemm.h"

static size_t n4_of(int32_t n) { return I8_ALIGN_UP((size_t)n, I8_GEMM_NR); }
static size_t kp_of(int32_t k) { return I8_ALIGN_UP((size_t)k, I8_GEMM_KB); }

size_t i8_gemm_packed_size(int32_t n, int32_t k) {
    const size_t n4 = n4_of(n);
    return 2 * I8_ALIGN_UP(n4 * 4, 64) + I8_ALIGN_UP(n4 * kp_of(k), 64);
}

void i8_gemm_pack(int32_t n, int32_t k, const int8_t *w, size_t w_stride, const int32_t *bias,
                  const float *mult, int32_t x_zp, void *packed) {
    const size_t n4 = n4_of(n), kp = kp_of(k);
    unsigned char *base = packed;
    int32_t *pb = (int32_t *)base;
    float *pm = (float *)(base + I8_ALIGN_UP(n4 * 4, 64));
    int8_t *pw = (int8_t *)(base + 2 * I8_ALIGN_UP(n4 * 4, 64));
    memset(packed, 0, i8_gemm_packed_size(n, k));
    for (int32_t j = 0; j < n; j++) {
        const int8_t *row = w + (size_t)j * w_stride;
        int64_t sum = 0;
        for (int32_t i = 0; i < k; i++) sum += row[i];
        memcpy(pw + (size_t)j * kp, row, (size_t)k);
        /* bias - x_zp * sum(w), §3. Stored modulo 2^32: the kernel adds it with wrapping
         * arithmetic, so the result is exact whenever the true accumulator fits int32 (the
         * bound lowering enforces), even if this folded constant alone would not. */
        const int64_t b = (bias ? (int64_t)bias[j] : 0) - (int64_t)x_zp * sum;
        pb[j] = (int32_t)(uint32_t)(uint64_t)b;
        pm[j] = mult[j];
    }
}

void i8_gemm_panel_init(i8_gemm_panel *pn, int32_t n, int32_t k, const void *packed,
                        int32_t y_zp, int32_t qmin, int32_t qmax, int32_t out_f32) {
    const size_t n4 = n4_of(n);
    const unsigned char *base = packed;
    pn->n = n;
    pn->k = k;
    pn->kp = (int32_t)kp_of(k);
    pn->bias = (const int32_t *)base;
    pn->mult = (const float *)(base + I8_ALIGN_UP(n4 * 4, 64));
    pn->w = (const int8_t *)(base + 2 * I8_ALIGN_UP(n4 * 4, 64));
    pn->y_zp = y_zp;
    pn->qmin = qmin;
    pn->qmax = qmax;
    pn->out_f32 = out_f32;
}
