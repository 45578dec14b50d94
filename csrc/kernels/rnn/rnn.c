/* LSTM / GRU layers over dynamic int8 matmuls (int8rt/rnn.h). */
#include <math.h>
#include <string.h>

#include "int8rt/dynq.h"
#include "int8rt/rnn.h"
#include "kernels/rnn/gates.h"
#include "kernels/rnn/matvec.h"

#define A64(n) (((size_t)(n) + 63) / 64 * 64)
#define LIMIT ((int64_t)1 << 31)

static int64_t gates(const i8_rnn_params *p) { return p->cell == 0 ? 4 : 3; }

const char *i8rnn_check(const i8_rnn_params *p) {
    if (p->seq < 1 || p->batch < 1 || p->input < 1 || p->hidden < 1)
        return "seq, batch, input, hidden must be >= 1";
    if (p->seq >= LIMIT || p->batch >= LIMIT || p->input >= LIMIT || p->hidden >= LIMIT / 8)
        return "dimension too large";
    if (p->cell != 0 && p->cell != 1) return "cell must be 0 (LSTM) or 1 (GRU)";
    if (p->dirs != 1 && p->dirs != 2) return "dirs must be 1 or 2";
    if ((p->reverse != 0 && p->reverse != 1) || (p->dirs == 2 && p->reverse))
        return "reverse must be 0 or 1 (0 when bidirectional)";
    if ((p->linear_before_reset != 0 && p->linear_before_reset != 1) ||
        (p->has_h0 != 0 && p->has_h0 != 1) || (p->has_c0 != 0 && p->has_c0 != 1) ||
        (p->has_lens != 0 && p->has_lens != 1))
        return "linear_before_reset, has_h0, has_c0, has_lens must be 0 or 1";
    if (p->cell == 1 && p->has_c0) return "a GRU has no initial cell state";
    /* every buffer below 2^62 bytes: T * B * max(I, G*H) and the weights */
    const double tb = (double)p->seq * (double)p->batch;
    const double gh = (double)gates(p) * (double)p->hidden;
    if (tb * (p->input > gh ? (double)p->input : gh) * 8 > 4e18 ||
        gh * ((double)p->input + (double)p->hidden) * 8 > 4e18)
        return "sizes overflow";
    return NULL;
}

/* panel byte sizes of one direction: W, then R pieces */
static size_t w_bytes(const i8_rnn_params *p) {
    return A64(i8dq_packed_size((int32_t)(gates(p) * p->hidden), (int32_t)p->input));
}
static size_t r0_bytes(const i8_rnn_params *p) {
    const int32_t n = (int32_t)((p->cell == 0 ? 4 : 2) * p->hidden);
    return A64(i8dq_packed_size(n, (int32_t)p->hidden));
}
static size_t r1_bytes(const i8_rnn_params *p) {
    return p->cell == 0 ? 0 : A64(i8dq_packed_size((int32_t)p->hidden, (int32_t)p->hidden));
}
/* the same R pieces as matrix-vector panels (matvec.h), used when the batch is small */
static size_t mv0_bytes(const i8_rnn_params *p) {
    return A64(i8mv_packed_size((int32_t)((p->cell == 0 ? 4 : 2) * p->hidden),
                                (int32_t)p->hidden));
}
static size_t mv1_bytes(const i8_rnn_params *p) {
    return p->cell == 0 ? 0 : A64(i8mv_packed_size((int32_t)p->hidden, (int32_t)p->hidden));
}
static size_t dir_bytes(const i8_rnn_params *p) {
    return w_bytes(p) + r0_bytes(p) + r1_bytes(p) + mv0_bytes(p) + mv1_bytes(p);
}

/* Rows per step below which h·R runs as matrix-vector products (one per batch row) rather
 * than through the gemm driver: the two give the same bits (matvec.h); the matvec skips the
 * driver's set-up per step. Its int32 sums stay exact for H <= 65536. */
#define MV_MAX_BATCH 4
static int use_mv(const i8_rnn_params *p) {
    return p->batch < MV_MAX_BATCH && p->hidden <= 65536;
}

size_t i8rnn_packed_size(const i8_rnn_params *p) { return (size_t)p->dirs * dir_bytes(p); }

void i8rnn_pack(const i8_rnn_params *p, const int8_t *qw, const float *sw, const int8_t *qr,
                const float *sr, void *packed) {
    const int64_t H = p->hidden, I = p->input, GH = gates(p) * H;
    unsigned char *dst = packed;
    memset(packed, 0, i8rnn_packed_size(p));
    for (int32_t d = 0; d < p->dirs; d++) {
        unsigned char *base = dst + (size_t)d * dir_bytes(p);
        i8dq_pack((int32_t)GH, (int32_t)I, qw + d * GH * I, sw + d * GH, base);
        const int64_t n0 = p->cell == 0 ? GH : 2 * H;
        i8dq_pack((int32_t)n0, (int32_t)H, qr + d * GH * H, sr + d * GH, base + w_bytes(p));
        if (p->cell == 1)
            i8dq_pack((int32_t)H, (int32_t)H, qr + d * GH * H + 2 * H * H, sr + d * GH + 2 * H,
                      base + w_bytes(p) + r0_bytes(p));
        unsigned char *mv = base + w_bytes(p) + r0_bytes(p) + r1_bytes(p);
        i8mv_pack((int32_t)n0, (int32_t)H, qr + d * GH * H, sr + d * GH, mv);
        if (p->cell == 1)
            i8mv_pack((int32_t)H, (int32_t)H, qr + d * GH * H + 2 * H * H, sr + d * GH + 2 * H,
                      mv + mv0_bytes(p));
    }
}

/* scratch: xw [T*B, GH] | hr [B, GH] | h [B, H] | c [B, H] | t1 [B, H] | t2 [B, H] | dynq */
static size_t dq_bytes(const i8_rnn_params *p) {
    const size_t a = i8dq_scratch_size(p->seq * p->batch, p->input);
    const size_t b = i8dq_scratch_size(p->batch, p->hidden);
    const size_t c = i8mv_scratch_size((int32_t)(gates(p) * p->hidden), (int32_t)p->hidden);
    const size_t ab = a > b ? a : b;
    return A64(ab > c ? ab : c);
}

size_t i8rnn_scratch_size(const i8_rnn_params *p) {
    const int64_t TB = p->seq * p->batch, BH = p->batch * p->hidden, GH = gates(p) * p->hidden;
    return A64((size_t)(TB * GH) * 4) + A64((size_t)(p->batch * GH) * 4) +
           4 * A64((size_t)BH * 4) + dq_bytes(p);
}

int64_t i8rnn_out_size(const i8_rnn_params *p) {
    const int64_t dbh = p->dirs * p->batch * p->hidden;
    return p->seq * dbh + (p->cell == 0 ? 2 : 1) * dbh;
}

/* y [B, n] = dynq(a [B, k]) · R_piece + bias: per batch row through the matvec panel, or
 * one gemm (same bits) */
static void rmul(int mv, int64_t B, int64_t n, int64_t k, const void *panel, const void *mvp,
                 const float *bias, const float *a, float *y, void *dq) {
    if (!mv) {
        i8dq_matmul(B, (int32_t)n, (int32_t)k, panel, bias, a, 1, y, dq);
        return;
    }
    for (int64_t b = 0; b < B; b++) i8mv_run(mvp, bias, a + b * k, y + b * n, dq);
}

void i8rnn_run(const i8_rnn_params *p, const float *x, const void *packed, const float *bias,
               const float *init, const int32_t *lens, float *y, void *scratch) {
    const int64_t T = p->seq, B = p->batch, I = p->input, H = p->hidden, D = p->dirs;
    const int64_t G = gates(p), GH = G * H, BH = B * H;
    unsigned char *s = scratch;
    float *xw = (float *)s;
    s += A64((size_t)(T * B * GH) * 4);
    float *hr = (float *)s;
    s += A64((size_t)(B * GH) * 4);
    float *h = (float *)s;
    s += A64((size_t)BH * 4);
    float *c = (float *)s;
    s += A64((size_t)BH * 4);
    float *t1 = (float *)s;
    s += A64((size_t)BH * 4);
    float *t2 = (float *)s;
    s += A64((size_t)BH * 4);
    void *dq = s;
    float *Y = y, *Yh = y + T * D * BH, *Yc = Yh + D * BH;
    memset(Y, 0, (size_t)(T * D * BH) * 4);
    const float *h0 = p->has_h0 ? init : NULL;
    const float *c0 = p->has_c0 ? init + (p->has_h0 ? D * BH : 0) : NULL;
    const int mv = use_mv(p);
    for (int64_t d = 0; d < D; d++) {
        const int rev = D == 2 ? (int)d : p->reverse;
        const unsigned char *pk = (const unsigned char *)packed + (size_t)d * dir_bytes(p);
        const void *pw = pk, *pr0 = pk + w_bytes(p), *pr1 = pk + w_bytes(p) + r0_bytes(p);
        const unsigned char *mv0 = pk + w_bytes(p) + r0_bytes(p) + r1_bytes(p);
        const unsigned char *mv1 = mv0 + mv0_bytes(p);
        const float *wb = bias + d * 2 * GH, *rb = wb + GH;
        i8dq_matmul(T * B, (int32_t)GH, (int32_t)I, pw, wb, x, 1, xw, dq);
        if (h0) memcpy(h, h0 + d * BH, (size_t)BH * 4);
        else memset(h, 0, (size_t)BH * 4);
        if (c0) memcpy(c, c0 + d * BH, (size_t)BH * 4);
        else memset(c, 0, (size_t)BH * 4);
        for (int64_t st = 0; st < T; st++) {
            if (p->cell == 0) {
                rmul(mv, B, GH, H, pr0, mv0, rb, h, hr, dq);
            } else {
                rmul(mv, B, 2 * H, H, pr0, mv0, rb, h, hr, dq);
                if (p->linear_before_reset) rmul(mv, B, H, H, pr1, mv1, rb + 2 * H, h, t1, dq);
            }
            if (p->cell == 1 && !p->linear_before_reset) {
                /* r for every row first: t2 = r ⊙ H, then t1 = dynq(t2, R_h) + Rb_h */
                for (int64_t b = 0; b < B; b++) {
                    const int64_t len = lens ? lens[b] : T;
                    const int64_t t = st >= len ? 0 : rev ? len - 1 - st : st;
                    i8rnn_gru_reset(H, xw + (t * B + b) * GH, hr + b * 2 * H, h + b * H,
                                    t2 + b * H);
                }
                rmul(mv, B, H, H, pr1, mv1, rb + 2 * H, t2, t1, dq);
            }
            for (int64_t b = 0; b < B; b++) {
                const int64_t len = lens ? lens[b] : T;
                if (st >= len) continue;
                const int64_t t = rev ? len - 1 - st : st;
                const float *xg = xw + (t * B + b) * GH;
                float *hb = h + b * H, *cb = c + b * H;
                float *yt = Y + ((t * D + d) * B + b) * H;
                if (p->cell == 0)
                    i8rnn_lstm_row(H, xg, hr + b * GH, cb, hb, yt);
                else
                    i8rnn_gru_row(H, p->linear_before_reset, xg, hr + b * 2 * H, t1 + b * H, hb,
                                  yt);
            }
        }
        memcpy(Yh + d * BH, h, (size_t)BH * 4);
        if (p->cell == 0) memcpy(Yc + d * BH, c, (size_t)BH * 4);
    }
}
