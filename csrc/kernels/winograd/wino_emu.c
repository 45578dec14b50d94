/* Winograd F(2x2, 3x3) in portable C (wino_tile.h instantiated over plain int16 / int32 lanes):
 * the exact twin of the AVX2 set (same packing, blocking, tile tails and wrapping arithmetic,
 * vpmaddwd written lane by lane), with the scalar epilogue (post-ops included). It runs a
 * Winograd-packed conv on CPUs without AVX2 and is swept by the tests on every host. */
#include <string.h>

#include "kernels/winograd/winograd.h"

#define WINO_SET emu
#define WINO_SET_NAME "emu"
#define WINO_ATTR
#define WINO_NEEDS_AVX2 0
#define WINO_POST_INLINE 1

typedef struct {
    int16_t l[16];
} wi_vec;
static inline wi_vec wi_load16(const int8_t *s) {
    wi_vec v;
    for (int i = 0; i < 16; i++) v.l[i] = s[i];
    return v;
}
static inline wi_vec wi_set1(int16_t x) {
    wi_vec v;
    for (int i = 0; i < 16; i++) v.l[i] = x;
    return v;
}
/* |V| <= 4 * 128 and every partial sum smaller: no int16 overflow */
static inline wi_vec wi_add(wi_vec a, wi_vec b) {
    for (int i = 0; i < 16; i++) a.l[i] = (int16_t)(a.l[i] + b.l[i]);
    return a;
}
static inline wi_vec wi_sub(wi_vec a, wi_vec b) {
    for (int i = 0; i < 16; i++) a.l[i] = (int16_t)(a.l[i] - b.l[i]);
    return a;
}
static inline void wi_store(int16_t *d, wi_vec v) { memcpy(d, v.l, sizeof v.l); }

typedef struct {
    int32_t l[8];
} wg_acc;
typedef struct {
    int16_t l[16];
} wg_w;
typedef wg_w wg_b;
static inline wg_acc wg_zero(void) {
    wg_acc a;
    memset(&a, 0, sizeof a);
    return a;
}
static inline wg_w wg_loadw(const int16_t *u) {
    wg_w w;
    memcpy(w.l, u, sizeof w.l);
    return w;
}
static inline wg_w wg_bcast(const int16_t *v) {
    wg_w b;
    for (int i = 0; i < 8; i++) b.l[2 * i] = v[0], b.l[2 * i + 1] = v[1];
    return b;
}
/* vpmaddwd + vpaddd per lane: the pair sum is exact in int32 (|U'| <= 1152, |V| <= 512), the
 * accumulation wraps modulo 2^32 like vpaddd */
static inline wg_acc wg_dot(wg_acc acc, wg_w b, wg_w w) {
    for (int i = 0; i < 8; i++) {
        const int32_t pair = (int32_t)b.l[2 * i] * w.l[2 * i] +
                             (int32_t)b.l[2 * i + 1] * w.l[2 * i + 1];
        acc.l[i] = (int32_t)((uint32_t)acc.l[i] + (uint32_t)pair);
    }
    return acc;
}
static inline void wg_store(int32_t *m, wg_acc a) { memcpy(m, a.l, sizeof a.l); }

typedef wg_acc wo_vec;
typedef i8_rq_params wo_rq;
static inline wo_vec wo_load(const int32_t *m) {
    wo_vec v;
    memcpy(v.l, m, sizeof v.l);
    return v;
}
static inline wo_vec wo_add(wo_vec a, wo_vec b) {
    for (int i = 0; i < 8; i++) a.l[i] = (int32_t)((uint32_t)a.l[i] + (uint32_t)b.l[i]);
    return a;
}
static inline wo_vec wo_sub(wo_vec a, wo_vec b) {
    for (int i = 0; i < 8; i++) a.l[i] = (int32_t)((uint32_t)a.l[i] - (uint32_t)b.l[i]);
    return a;
}
/* Y' = 4 * sum exactly (bound checked at pack time): the division is exact, no rounding */
static inline wo_vec wo_sra2(wo_vec a) {
    for (int i = 0; i < 8; i++) a.l[i] /= 4;
    return a;
}
static inline wo_rq wo_rq_init(const i8_conv2d_params *p, const i8_post *po) {
    wo_rq rq = i8_rq_params_init(p->y_zp, p->qmin, p->qmax, p->out_f32);
    rq.post = po;
    return rq;
}
static inline void wo_store16(const wo_rq *rq, wo_vec lo, wo_vec hi, const int32_t *bias,
                              const float *mult, void *y, size_t nr) {
    int32_t acc[16];
    memcpy(acc, lo.l, sizeof lo.l);
    memcpy(acc + 8, hi.l, sizeof hi.l);
    i8_requant_row__scalar(rq, acc, bias, mult, y, nr);
}

#include "kernels/winograd/wino_tile.h"
