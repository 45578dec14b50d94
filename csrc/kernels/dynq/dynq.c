/* Dynamic int8 and weight-only matmuls (int8rt/dynq.h). */
#include <math.h>
#include <string.h>

#include "int8rt/dynq.h"
#include "int8rt/f32.h"
#include "int8rt/cpu.h"
#include "kernels/dynq/dynq_internal.h"
#include "kernels/gemm/gemm.h"

size_t i8_dq_packed_size(int32_t n, int32_t k) { return i8_gemm_packed_size(n, k); }

void i8_dq_pack(int32_t n, int32_t k, const int8_t *w, const float *w_scale, void *packed) {
    /* mult = s_w: the gemm's float32 epilogue then yields float32(acc) * s_w[j] */
    i8_gemm_pack(n, k, w, (size_t)k, NULL, w_scale, 0, packed);
}

const char *i8_dq_kernel_name(int32_t n, int32_t k, const void *packed) {
    i8_gemm_panel pn;
    i8_gemm_panel_init(&pn, n, k, packed, 0, -128, 127, 1);
    return i8_gemm_kernel_for_panel(&pn)->name;
}

/* scratch = q rows [m, k] int8 | s_a [m] float32 | the gemm driver's prepared activation
 * rows (i8_gemm_scratch_size). */
static size_t q_part(int64_t m, int64_t k) {
    return I8_ALIGN_UP((size_t)(m * k), 64) + I8_ALIGN_UP((size_t)m * sizeof(float), 64);
}

size_t i8_dq_scratch_size(int64_t m, int64_t k) {
    return q_part(m, k) + i8_gemm_scratch_size((size_t)m, (int32_t)k);
}

static float absmax(const float *a, int64_t n) {
    float mx = 0.0f;
    for (int64_t i = 0; i < n; i++) {
        const float v = fabsf(a[i]);
        mx = v > mx ? v : mx;
    }
    return mx;
}

static void quantize_span(const float *a, int64_t n, float amax, int8_t *q) {
    if (amax < I8_DQ_TINY_AMAX) {
        memset(q, 0, (size_t)n);
        return;
    }
    const float inv = 127.0f / amax;
    for (int64_t i = 0; i < n; i++) {
        /* lrintf: round half to even in the default mode, like np.rint */
        long v = lrintf(a[i] * inv);
        v = v > 127 ? 127 : v < -127 ? -127 : v;
        q[i] = (int8_t)v;
    }
}

void i8_dq_quantize_rows(int64_t m, int64_t k, const float *a, int32_t per_row, int8_t *q,
                        float *s) {
    if (!per_row) {
        const float amax = absmax(a, m * k);
        quantize_span(a, m * k, amax, q);
        s[0] = amax < I8_DQ_TINY_AMAX ? 1.0f : amax / 127.0f;
        return;
    }
    for (int64_t i = 0; i < m; i++) {
        const float amax = absmax(a + i * k, k);
        quantize_span(a + i * k, k, amax, q + i * k);
        s[i] = amax < I8_DQ_TINY_AMAX ? 1.0f : amax / 127.0f;
    }
}

/* The prepared-row format of kernel set kd when this CPU can quantize straight into it, else
 * 0 (the q rows then go through the driver's own pack_a). */
#if defined(__x86_64__) || defined(__i386__)
static int32_t fused_format(const i8_gemm_kernel *kd) {
    if (i8_isa_current() < I8_ISA_AVX2) return 0;
    if (kd->layout == I8_GEMM_K4N16 && kd->a_elem == 1) return I8_DQ_PREP_U8;
    if (kd->layout == I8_GEMM_K2N16 && kd->a_elem == 2) return I8_DQ_PREP_I16;
    return 0;
}
#endif

static void scale_rows(int64_t rows, int32_t n, const float *s, int32_t per_row,
                       const float *bias, float *y) {
#if defined(__x86_64__) || defined(__i386__)
    if (per_row && i8_isa_current() >= I8_ISA_AVX512_VNNI) {
        i8_dq_scale_rows__avx512(rows, n, s, bias, y, n);
        return;
    }
    if (per_row && i8_isa_current() >= I8_ISA_AVX2) {
        i8_dq_scale_rows__avx2(rows, n, s, bias, y, n);
        return;
    }
#endif
    for (int64_t i = 0; i < rows; i++) {
        const float sa = s[per_row ? i : 0];
        float *yr = y + i * n;
        if (bias)
            for (int32_t j = 0; j < n; j++) yr[j] = yr[j] * sa + bias[j];
        else
            for (int32_t j = 0; j < n; j++) yr[j] = yr[j] * sa;
    }
}

static void activate(int32_t act, int64_t count, float *y) {
    if (act == I8_DQ_ACT_GELU_ERF) i8_f32_unary_run(I8_F32_GELU_ERF, count, y, y, 0.0f, 0.0f);
}

void i8_dq_matmul(int64_t m, int32_t n, int32_t k, const void *packed, const float *bias,
                 const float *a, int32_t per_row, float *y, void *scratch) {
    i8_dq_matmul_act(m, n, k, packed, bias, a, per_row, I8_DQ_ACT_NONE, y, scratch);
}

void i8_dq_matmul_act(int64_t m, int32_t n, int32_t k, const void *packed, const float *bias,
                     const float *a, int32_t per_row, int32_t act, float *y, void *scratch) {
    int8_t *q = scratch;
    float *s = (float *)((unsigned char *)scratch + I8_ALIGN_UP((size_t)(m * k), 64));
    i8_gemm_panel pn;
    i8_gemm_panel_init(&pn, n, k, packed, 0, -128, 127, 1);
    pn.scratch = (unsigned char *)scratch + q_part(m, k);
    pn.scratch_bytes = i8_gemm_scratch_size((size_t)m, k);
#if defined(__x86_64__) || defined(__i386__)
    /* the panel's set: on avx2 a K4N16 panel of weights within [-64, 64] runs the u8 avx2ubs
     * tiles (gemm.h, w_le64) and takes u8 rows like the VNNI sets */
    const i8_gemm_kernel *kd = i8_gemm_kernel_for_panel(&pn);
    const int32_t fmt = per_row ? fused_format(kd) : 0;
    if (fmt) {
        /* per row block: quantize into the prepared rows (L2-sized, as the driver's blocks),
         * run every channel over them, scale the block's outputs while they are in cache */
        const size_t kc = (size_t)pn.kp, row = kc * kd->a_elem;
        const uintptr_t p0 = (uintptr_t)pn.scratch, p1 = (p0 + 63) & ~(uintptr_t)63;
        const size_t avail = pn.scratch_bytes - (p1 - p0);
        size_t mb = I8_GEMM_A_BLOCK_BYTES / row;
        mb = mb < kd->mr ? kd->mr : mb - mb % kd->mr;
        if (mb * row > avail) mb = avail / row;
        if (mb > 0) {
            for (int64_t i0 = 0; i0 < m; i0 += (int64_t)mb) {
                const int64_t cnt = m - i0 < (int64_t)mb ? m - i0 : (int64_t)mb;
                if (fmt == I8_DQ_PREP_U8 && i8_isa_current() >= I8_ISA_AVX512_VNNI)
                    i8_dq_prepare_rows_u8__avx512(cnt, k, a + i0 * k, k, (int64_t)kc, (void *)p1,
                                                 s + i0);
                else
                    i8_dq_prepare_rows__avx2(fmt, cnt, k, a + i0 * k, k, (int64_t)kc,
                                            (void *)p1, s + i0);
                i8_gemm_run_rows(kd, &pn, (size_t)cnt, (const void *)p1, row, y + i0 * n,
                                 (size_t)n);
                scale_rows(cnt, n, s + i0, 1, bias, y + i0 * n);
                activate(act, cnt * n, y + i0 * n);
            }
            return;
        }
    }
#endif
    i8_dq_quantize_rows(m, k, a, per_row, q, s);
    i8_gemm(&pn, (size_t)m, q, (size_t)k, y, (size_t)n);
    scale_rows(m, n, s, per_row, bias, y);
    activate(act, m * n, y);
}

/* Weight-only matmul by column panels: the weights of I8WO_PANEL output channels are
 * dequantized for the whole k once per call into a [k][panel] block (L2-sized), then every
 * row is accumulated over all of k in one pass of the float tiles, so y is written once per
 * panel instead of once per k group. The sum still starts at the bias and runs in k order
 * (one rounding per multiply and per add): the numbers are those of the reference. */
#define I8WO_PANEL 64

size_t i8_wo_scratch_size(int64_t k, int64_t group) {
    (void)group;
    return (size_t)(k * I8WO_PANEL) * sizeof(float);
}

void i8_wo_matmul_run(int64_t m, int64_t k, int64_t n, const float *a, const void *w,
                         int32_t bits, int64_t group, const float *scales, const float *bias,
                         float *y, void *scratch) {
    float *blk = scratch; /* [k][nb]: nb channels' weights, dequantized, transposed */
    const int64_t ng = k / group;
    for (int64_t j0 = 0; j0 < n; j0 += I8WO_PANEL) {
        const int64_t nb = n - j0 < I8WO_PANEL ? n - j0 : I8WO_PANEL;
        for (int64_t jj = 0; jj < nb; jj++) {
            const int64_t j = j0 + jj;
            for (int64_t g = 0; g < ng; g++) {
                const float sc = scales[j * ng + g];
                const int64_t k0 = g * group;
                if (bits == 8) {
                    const int8_t *wr = (const int8_t *)w + j * k + k0;
                    for (int64_t t = 0; t < group; t++) blk[(k0 + t) * nb + jj] = sc * (float)wr[t];
                } else {
                    const uint8_t *wr = (const uint8_t *)w + (j * k + k0) / 2;
                    for (int64_t t = 0; t < group; t += 2) {
                        const uint8_t b = wr[t / 2];
                        /* sign-extend each nibble: (v ^ 8) - 8 maps 0..15 onto -8..7 */
                        blk[(k0 + t) * nb + jj] = sc * (float)(((b & 15) ^ 8) - 8);
                        blk[(k0 + t + 1) * nb + jj] = sc * (float)(((b >> 4) ^ 8) - 8);
                    }
                }
            }
        }
        for (int64_t i = 0; i < m; i++)
            for (int64_t jj = 0; jj < nb; jj++) y[i * n + j0 + jj] = bias ? bias[j0 + jj] : 0.0f;
        i8_f32_gemm_acc(m, k, nb, a, k, blk, nb, y + j0, n);
    }
}

int i8_wo_gather_run(int64_t rows, int64_t cols, const void *q, int32_t bits, int64_t group,
                        const float *scales, const int64_t *idx, int64_t nidx, float *y) {
    for (int64_t j = 0; j < nidx; j++)
        if (idx[j] < -rows || idx[j] >= rows) return -1;
    const int64_t ng = cols / group;
    for (int64_t j = 0; j < nidx; j++) {
        const int64_t r = idx[j] < 0 ? idx[j] + rows : idx[j];
        const float *sr = scales + r * ng;
        float *yr = y + j * cols;
        /* group by group, the scale hoisted (the same products as element by element) */
        for (int64_t g = 0; g < ng; g++) {
            const float sc = sr[g];
            float *yg = yr + g * group;
            if (bits == 8) {
                const int8_t *qg = (const int8_t *)q + r * cols + g * group;
                for (int64_t c = 0; c < group; c++) yg[c] = sc * (float)qg[c];
            } else {
                const uint8_t *qg = (const uint8_t *)q + r * (cols / 2) + g * group / 2;
                for (int64_t c = 0; c < group; c += 2) {
                    const uint8_t b = qg[c / 2];
                    yg[c] = sc * (float)(((b & 15) ^ 8) - 8);
                    yg[c + 1] = sc * (float)(((b >> 4) ^ 8) - 8);
                }
            }
        }
    }
    return 0;
}
