/* Fused scaled-dot-product attention of one or more heads (int8rt/f32.h i8_f32_attention): per
 * head, a tile of I8_F32_ATT_ROWS query rows at a time
 *     s = (q_tile . k^T) * scale (or / scale)  + mask     [rows, lk]  (the tile, in scratch)
 *     p = softmax(s) over j
 *     y_tile = p . v
 * so no [lq, lk] score matrix is ever stored, only rows x lk floats. The two products are
 * i8_f32_gemm_acc (k-order float32 sums, no FMA: the float matmul's own arithmetic), the scale
 * and mask are one rounding each, as the separate Mul / Add records; the softmax row is the
 * f32_softmax kernel's (exp polynomial on AVX2). A head's result depends only on its own
 * data, never on how heads are split over threads. */
#include <math.h>
#include <string.h>

#include "int8rt/cpu.h"
#include "int8rt/f32.h"

#if defined(__x86_64__) || defined(__i386__)
int i8_f32_softmax_row__avx2(int64_t n, const float *x, float *y);
void i8_f32_softmax_row__avx512(int64_t n, const float *x, float *y);
void i8_f32_scale_mask_row__avx2(int64_t n, float *x, float scale, int32_t divide,
                              const float *mask);
#endif

/* s * scale (or s / scale) + mask[j * mj] over one score row */
static void scale_mask_row(int64_t n, float *s, float scale, int32_t divide, const float *mask,
                           int64_t mj) {
#if defined(__x86_64__) || defined(__i386__)
    if ((!mask || mj == 1) && i8_isa_current() >= I8_ISA_AVX2) {
        i8_f32_scale_mask_row__avx2(n, s, scale, divide, mask);
        return;
    }
#endif
    for (int64_t j = 0; j < n; j++) {
        float t = divide ? s[j] / scale : s[j] * scale;
        if (mask) t = t + mask[j * mj];
        s[j] = t;
    }
}

static void softmax_row(int64_t n, float *x) {
#if defined(__x86_64__) || defined(__i386__)
    if (i8_isa_current() >= I8_ISA_AVX512_VNNI) {
        i8_f32_softmax_row__avx512(n, x, x);
        return;
    }
    if (i8_isa_current() >= I8_ISA_AVX2) {
        i8_f32_softmax_row__avx2(n, x, x);
        return;
    }
#endif
    i8_f32_softmax_run(1, n, x, x);
}

size_t i8_f32_attention_scratch_size(const i8_f32_attention_params *p) {
    return (size_t)(I8_F32_ATT_ROWS + 2 * p->dh) * (size_t)p->lk * sizeof(float);
}

void i8_f32_attention(const i8_f32_attention_params *p, int64_t bh0, int64_t bh1, const float *q,
                   const float *kt, const float *v, const float *mask, float *y,
                   float *scratch) {
    const int64_t lq = p->lq, lk = p->lk, dh = p->dh;
    const int64_t *qs = p->q_stride, *ks = p->k_stride, *vs = p->v_stride, *ys = p->y_stride;
    float *packed_k = scratch + I8_F32_ATT_ROWS * lk; /* [dh][lk] when K is read by rows */
    float *packed_v = packed_k + dh * lk;           /* [lk][dh] when V rows are apart */
    for (int64_t bh = bh0; bh < bh1; bh++) {
        const int64_t b = bh / p->heads, h = bh % p->heads;
        const float *qh = q + b * qs[0] + h * qs[1], *vh = v + b * vs[0] + h * vs[1];
        const float *kh = kt + b * ks[0] + h * ks[1];
        int64_t ldk = ks[2];
        if (ks[3] != 1) { /* K rows (stride 1 along dh): transpose this head once, 8 rows
                           * at a time (8 read streams, 8 consecutive floats written per d) */
            int64_t j = 0;
            for (; j + 8 <= lk; j += 8)
                for (int64_t d = 0; d < dh; d++) {
                    float *dst = packed_k + d * lk + j;
                    const float *src = kh + j * ks[3] + d;
                    for (int t = 0; t < 8; t++) dst[t] = src[t * ks[3]];
                }
            for (; j < lk; j++)
                for (int64_t d = 0; d < dh; d++) packed_k[d * lk + j] = kh[j * ks[3] + d];
            kh = packed_k;
            ldk = lk;
        }
        int64_t ldv = vs[2];
        if (ldv != dh) {
            /* V rows of a [b, l, heads, dh] projection are heads * dh apart: one copy per
             * head into [lk][dh] (measured faster than the ·V tiles striding over them) */
            for (int64_t j = 0; j < lk; j++)
                memcpy(packed_v + j * dh, vh + j * ldv, (size_t)dh * sizeof(float));
            vh = packed_v;
            ldv = dh;
        }
        float *yh = y + b * ys[0] + h * ys[1];
        const float *mh = mask ? mask + b * p->mask_stride[0] + h * p->mask_stride[1] : NULL;
        for (int64_t i0 = 0; i0 < lq; i0 += I8_F32_ATT_ROWS) {
            const int64_t rows = lq - i0 < I8_F32_ATT_ROWS ? lq - i0 : I8_F32_ATT_ROWS;
            float *s = scratch;
            memset(s, 0, (size_t)(rows * lk) * sizeof(float));
            i8_f32_gemm_acc(rows, dh, lk, qh + i0 * qs[2], qs[2], kh, ldk, s, lk);
            for (int64_t r = 0; r < rows; r++) {
                float *sr = s + r * lk;
                scale_mask_row(lk, sr, p->scale, p->divide,
                               mh ? mh + (i0 + r) * p->mask_stride[2] : NULL, p->mask_stride[3]);
                softmax_row(lk, sr);
            }
            float *yt = yh + i0 * ys[2];
            for (int64_t r = 0; r < rows; r++) memset(yt + r * ys[2], 0, (size_t)dh * sizeof(float));
            i8_f32_gemm_acc(rows, lk, dh, s, lk, vh, ldv, yt, ys[2]);
        }
    }
}
