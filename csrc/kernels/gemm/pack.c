/* Packing for the gemm core: see gemm.h for the layouts. */
#include <string.h>

#include "int8rt/cpu.h"
#include "kernels/gemm/gemm.h"

#if defined(__x86_64__) || defined(__i386__)
#define HAVE_K2N16 1
#else
#define HAVE_K2N16 0 /* no kernel wants it: the panel stays int8-sized */
#endif

#define PANEL_HEADER_BYTES 64

static size_t n4_of(int32_t n) { return I8_ALIGN_UP((size_t)n, I8_GEMM_NR); }
static size_t n16_of(int32_t n) { return I8_ALIGN_UP((size_t)n, 16); }
static size_t kp_of(int32_t k) { return I8_ALIGN_UP((size_t)k, I8_GEMM_KB); }

static size_t weight_bytes(int32_t n, int32_t k) {
    const size_t rows = n4_of(n) * kp_of(k);
    const size_t k2n16 = HAVE_K2N16 ? n16_of(n) * kp_of(k) * 2 : 0;
    return I8_ALIGN_UP(rows > k2n16 ? rows : k2n16, 64);
}

static size_t vec_bytes(int32_t n) { return I8_ALIGN_UP(n16_of(n) * 4, 64); }

size_t i8_gemm_packed_size(int32_t n, int32_t k) {
    return PANEL_HEADER_BYTES + 2 * vec_bytes(n) + weight_bytes(n, k);
}

size_t i8_gemm_scratch_size(size_t m, int32_t k) {
    if (!HAVE_K2N16) return 0;
    const size_t row = kp_of(k) * 2;
    size_t rows = I8_GEMM_K2N16_BLOCK_BYTES / row;
    if (rows < I8_GEMM_K2N16_MR) rows = I8_GEMM_K2N16_MR;
    const size_t need = I8_ALIGN_UP(m, I8_GEMM_K2N16_MR);
    if (rows > need) rows = need;
    return rows * row + 64; /* + 64: the kernel aligns its rows to 32 bytes */
}

static int32_t layout_for_current_path(void) {
#if HAVE_K2N16
    const int32_t isa = i8_isa_current();
    if (isa == I8_ISA_AVX2 || isa == I8_ISA_AVX_VNNI || isa == I8_ISA_AVX512_VNNI)
        return I8_GEMM_K2N16;
#endif
    return I8_GEMM_ROWS;
}

void i8_gemm_pack(int32_t n, int32_t k, const int8_t *w, size_t w_stride, const int32_t *bias,
                  const float *mult, int32_t x_zp, void *packed) {
    const size_t kp = kp_of(k);
    const int32_t layout = layout_for_current_path();
    unsigned char *base = packed;
    int32_t *pb = (int32_t *)(base + PANEL_HEADER_BYTES);
    float *pm = (float *)(base + PANEL_HEADER_BYTES + vec_bytes(n));
    unsigned char *pw = base + PANEL_HEADER_BYTES + 2 * vec_bytes(n);
    memset(packed, 0, i8_gemm_packed_size(n, k));
    memcpy(base, &layout, sizeof layout);
    int32_t w_m128 = 0; /* header bytes 4-7: some weight is -128 (gemm.h, w_m128) */
    for (int32_t j = 0; j < n; j++) {
        const int8_t *row = w + (size_t)j * w_stride;
        int64_t sum = 0;
        for (int32_t i = 0; i < k; i++) {
            sum += row[i];
            w_m128 |= row[i] == -128;
        }
        if (layout == I8_GEMM_ROWS) memcpy(pw + (size_t)j * kp, row, (size_t)k);
        /* bias - x_zp * sum(w), §3. Stored modulo 2^32: the kernel adds it with wrapping
         * arithmetic, so the result is exact whenever the true accumulator fits int32 (the
         * bound lowering enforces), even if this folded constant alone would not. */
        const int64_t b = (bias ? (int64_t)bias[j] : 0) - (int64_t)x_zp * sum;
        pb[j] = (int32_t)(uint32_t)(uint64_t)b;
        pm[j] = mult[j];
    }
    memcpy(base + sizeof layout, &w_m128, sizeof w_m128);
    if (layout == I8_GEMM_K2N16) {
        /* [j / 16][i / 2][j % 16][i % 2], int16 (gemm.h), written in memory order */
        int16_t *d = (int16_t *)pw;
        for (int32_t j0 = 0; j0 < n; j0 += 16)
            for (size_t i = 0; i < kp; i += 2)
                for (int32_t jj = j0; jj < j0 + 16; jj++, d += 2) {
                    if (jj >= n) continue; /* zero padding channels */
                    const int8_t *row = w + (size_t)jj * w_stride;
                    d[0] = i < (size_t)k ? row[i] : 0;
                    d[1] = i + 1 < (size_t)k ? row[i + 1] : 0;
                }
    }
}

void i8_gemm_panel_init(i8_gemm_panel *pn, int32_t n, int32_t k, const void *packed,
                        int32_t y_zp, int32_t qmin, int32_t qmax, int32_t out_f32) {
    const unsigned char *base = packed;
    memcpy(&pn->layout, base, sizeof pn->layout);
    memcpy(&pn->w_m128, base + sizeof pn->layout, sizeof pn->w_m128);
    pn->n = n;
    pn->k = k;
    pn->kp = (int32_t)kp_of(k);
    pn->bias = (const int32_t *)(base + PANEL_HEADER_BYTES);
    pn->mult = (const float *)(base + PANEL_HEADER_BYTES + vec_bytes(n));
    pn->w = (const int8_t *)(base + PANEL_HEADER_BYTES + 2 * vec_bytes(n));
    pn->w16 = (const int16_t *)(base + PANEL_HEADER_BYTES + 2 * vec_bytes(n));
    pn->y_zp = y_zp;
    pn->qmin = qmin;
    pn->qmax = qmax;
    pn->out_f32 = out_f32;
    pn->scratch = NULL;
    pn->scratch_bytes = 0;
}
