/* Gate math, portable C, and the ISA dispatch (gates.h states the arithmetic). */
#include <math.h>

#include "kernels/rnn/gates.h"
#include "kernels/x86_paths.h"

/* Cephes expf constants (gates.h) */
#define EXP_LO (-87.3f)
#define EXP_HI 88.3f
#define LOG2E 1.44269504088896341f
#define LN2_HI 0.693359375f
#define LN2_LO (-2.12194440e-4f)

static inline float gexp(float v) {
    v = v < EXP_LO ? EXP_LO : v > EXP_HI ? EXP_HI : v;
    const float n = rintf(v * LOG2E);
    float r = v - n * LN2_HI;
    r = r - n * LN2_LO;
    float p = 1.9875691500e-4f;
    p = p * r + 1.3981999507e-3f;
    p = p * r + 8.3334519073e-3f;
    p = p * r + 4.1665795894e-2f;
    p = p * r + 1.6666665459e-1f;
    p = p * r + 5.0000001201e-1f;
    p = p * r * r + (r + 1.0f);
    union { uint32_t u; float f; } e = {(uint32_t)((int32_t)n + 127) << 23};
    return p * e.f;
}

static inline float gsig(float v) { return 1.0f / (1.0f + gexp(-v)); }

static inline float gtanh(float v) {
    const float a = fabsf(v);
    const float t = 1.0f - 2.0f / (1.0f + gexp(a + a));
    return v < 0.0f ? -t : t;
}

void i8rnn_lstm_row__scalar(int64_t H, const float *xg, const float *hg, float *c, float *h,
                            float *y, int64_t from) {
    for (int64_t j = from; j < H; j++) {
        const float gi = gsig(xg[j] + hg[j]);
        const float go = gsig(xg[H + j] + hg[H + j]);
        const float gf = gsig(xg[2 * H + j] + hg[2 * H + j]);
        const float gc = gtanh(xg[3 * H + j] + hg[3 * H + j]);
        const float cn = gf * c[j] + gi * gc;
        c[j] = cn;
        h[j] = go * gtanh(cn);
        y[j] = h[j];
    }
}

void i8rnn_gru_row__scalar(int64_t H, int32_t lbr, const float *xg, const float *hg,
                           const float *hh, float *h, float *y, int64_t from) {
    for (int64_t j = from; j < H; j++) {
        const float z = gsig(xg[j] + hg[j]);
        float n;
        if (lbr) {
            const float r = gsig(xg[H + j] + hg[H + j]);
            n = gtanh(xg[2 * H + j] + r * hh[j]);
        } else {
            n = gtanh(xg[2 * H + j] + hh[j]);
        }
        h[j] = (1.0f - z) * n + z * h[j];
        y[j] = h[j];
    }
}

void i8rnn_gru_reset__scalar(int64_t H, const float *xg, const float *hg, const float *h,
                             float *t, int64_t from) {
    for (int64_t j = from; j < H; j++) t[j] = gsig(xg[H + j] + hg[H + j]) * h[j];
}

void i8rnn_sigmoid__scalar(int64_t n, const float *x, float *y, int64_t from) {
    for (int64_t i = from; i < n; i++) y[i] = gsig(x[i]);
}

void i8rnn_tanh__scalar(int64_t n, const float *x, float *y, int64_t from) {
    for (int64_t i = from; i < n; i++) y[i] = gtanh(x[i]);
}

#if defined(__x86_64__) || defined(__i386__)
#define AVX2_ON() (i8_x86_level() >= 1)
#else
#define AVX2_ON() 0
#endif

void i8rnn_lstm_row(int64_t H, const float *xg, const float *hg, float *c, float *h, float *y) {
    int64_t done = 0;
#if defined(__x86_64__) || defined(__i386__)
    if (AVX2_ON()) done = i8rnn_lstm_row__avx2(H, xg, hg, c, h, y);
#endif
    i8rnn_lstm_row__scalar(H, xg, hg, c, h, y, done);
}

void i8rnn_gru_row(int64_t H, int32_t lbr, const float *xg, const float *hg, const float *hh,
                   float *h, float *y) {
    int64_t done = 0;
#if defined(__x86_64__) || defined(__i386__)
    if (AVX2_ON()) done = i8rnn_gru_row__avx2(H, lbr, xg, hg, hh, h, y);
#endif
    i8rnn_gru_row__scalar(H, lbr, xg, hg, hh, h, y, done);
}

void i8rnn_gru_reset(int64_t H, const float *xg, const float *hg, const float *h, float *t) {
    int64_t done = 0;
#if defined(__x86_64__) || defined(__i386__)
    if (AVX2_ON()) done = i8rnn_gru_reset__avx2(H, xg, hg, h, t);
#endif
    i8rnn_gru_reset__scalar(H, xg, hg, h, t, done);
}

void i8rnn_gate_fn(int32_t which, int64_t n, const float *x, float *y) {
    int64_t done = 0;
#if defined(__x86_64__) || defined(__i386__)
    if (AVX2_ON()) done = which ? i8rnn_tanh__avx2(n, x, y) : i8rnn_sigmoid__avx2(n, x, y);
#endif
    if (which) i8rnn_tanh__scalar(n, x, y, done);
    else i8rnn_sigmoid__scalar(n, x, y, done);
}
