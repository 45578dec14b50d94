/* Dynamic-int8 matrix-vector product: packing, the portable path and the dispatch
 * (matvec.h states the arithmetic). */
#include <math.h>
#include <string.h>

#include "int8rt/cpu.h"
#include "int8rt/dynq.h"
#include "kernels/rnn/matvec.h"
#include "kernels/x86_paths.h"

typedef struct {
    int32_t n, k, n8, k4;
} mv_head;

#define HEAD_BYTES 64
#define UP(v, m) (((v) + (m)-1) / (m) * (m))

size_t i8_rnn_mv_packed_size(int32_t n, int32_t k) {
    const size_t n8 = UP((size_t)n, 8), k4 = UP((size_t)k, 4);
    return HEAD_BYTES + n8 * 8 + n8 * k4;
}

void i8_rnn_mv_pack(int32_t n, int32_t k, const int8_t *w, const float *w_scale, void *packed) {
    unsigned char *p = packed;
    const mv_head h = {n, k, (int32_t)UP(n, 8), (int32_t)UP(k, 4)};
    memset(p, 0, i8_rnn_mv_packed_size(n, k));
    memcpy(p, &h, sizeof h);
    int32_t *colsum = (int32_t *)(p + HEAD_BYTES);
    float *sw = (float *)(colsum + h.n8);
    int8_t *blk = (int8_t *)(sw + h.n8);
    for (int32_t j = 0; j < n; j++) {
        int32_t s = 0;
        for (int32_t t = 0; t < k; t++) {
            const int8_t v = w[(size_t)j * k + t];
            s += v;
            /* block j / 8, k group t / 4, lane j % 8, byte t % 4 */
            blk[((size_t)(j / 8) * (h.k4 / 4) + t / 4) * 32 + (j % 8) * 4 + t % 4] = v;
        }
        colsum[j] = s;
        sw[j] = w_scale[j];
    }
}

size_t i8_rnn_mv_scratch_size(int32_t n, int32_t k) {
    return UP((size_t)k, 64) + 64 + UP((size_t)n, 8) * 4 + 64;
}

void i8_rnn_mv_dot__scalar(const void *packed, const int8_t *q, int32_t *acc) {
    const mv_head *h = packed;
    const int32_t nb = h->n8 / 8, ng = h->k4 / 4;
    const int8_t *blk = (const int8_t *)((const unsigned char *)packed + HEAD_BYTES) +
                        (size_t)h->n8 * 8;
    /* blocks in memory order (sequential reads); 8 column sums in locals */
    for (int32_t b = 0; b < nb; b++) {
        int32_t s[8] = {0};
        const int8_t *wv = blk + (size_t)b * ng * 32;
        for (int32_t g = 0; g < ng; g++, wv += 32) {
            const int32_t a0 = q[4 * g], a1 = q[4 * g + 1], a2 = q[4 * g + 2], a3 = q[4 * g + 3];
            for (int32_t l = 0; l < 8; l++)
                s[l] += a0 * wv[4 * l] + a1 * wv[4 * l + 1] + a2 * wv[4 * l + 2] +
                        a3 * wv[4 * l + 3];
        }
        memcpy(acc + (size_t)b * 8, s, sizeof s);
    }
}

/* absmax and quantization of one row, as i8_dq_quantize_rows (per row) */
static float quantize_row(int32_t k, int32_t k4, const float *a, int8_t *q, int x86) {
    float mx = 0.0f;
    int32_t i = 0;
#if defined(__x86_64__) || defined(__i386__)
    if (x86) mx = i8_rnn_mv_absmax__avx2(k, a);
    else
#endif
        for (; i < k; i++) {
            const float v = fabsf(a[i]);
            mx = v > mx ? v : mx;
        }
    memset(q, 0, (size_t)k4);
    if (mx < I8_DQ_TINY_AMAX) return 1.0f;
    const float inv = 127.0f / mx;
    i = 0;
#if defined(__x86_64__) || defined(__i386__)
    if (x86) i = i8_rnn_mv_quantize__avx2(k, a, inv, q);
#endif
    for (; i < k; i++) {
        long v = lrintf(a[i] * inv);
        v = v > 127 ? 127 : v < -127 ? -127 : v;
        q[i] = (int8_t)v;
    }
    return mx / 127.0f;
}

void i8_rnn_mv_run(const void *packed, const float *bias, const float *a, float *y, void *scratch) {
    const mv_head *h = packed;
    int8_t *q = scratch;
    int32_t *acc = (int32_t *)((unsigned char *)scratch + UP((size_t)h->k, 64) + 64);
    const int32_t isa = i8_isa_current();
    (void)isa; /* only the x86 dispatch below reads it (-Werror=unused-variable on ARM) */
    const int x86 = i8_x86_level() >= 1;
    const float sa = quantize_row(h->k, h->k4, a, q, x86);
#if defined(__x86_64__) || defined(__i386__)
    if (isa == I8_ISA_AVX512_VNNI) i8_rnn_mv_dot__avxvnni_evex(packed, q, acc);
    else if (isa == I8_ISA_AVX_VNNI)
        (i8_cpu_features_cached()->avx_vnni ? i8_rnn_mv_dot__avxvnni
                                            : i8_rnn_mv_dot__avxvnni_evex)(packed, q, acc);
    else if (isa == I8_ISA_AVX2) i8_rnn_mv_dot__avx2(packed, q, acc);
    else i8_rnn_mv_dot__scalar(packed, q, acc);
#else
    (void)isa; /* one path off x86 */
    i8_rnn_mv_dot__scalar(packed, q, acc);
#endif
    const float *sw = (const float *)((const unsigned char *)packed + HEAD_BYTES) + h->n8;
    int32_t j = 0;
#if defined(__x86_64__) || defined(__i386__)
    if (x86) j = i8_rnn_mv_epilogue__avx2(h->n, acc, sw, sa, bias, y);
#endif
    for (; j < h->n; j++) {
        const float t = (float)acc[j] * sw[j];
        y[j] = bias ? t * sa + bias[j] : t * sa;
    }
}
