/* Portable emulations of the x86 primitive sets (prim_x86.h): the same names with an _emu
 * suffix, in plain C on int32 lanes, exact by construction. The generated *_emu tiles are the
 * native tiles' structure (rows, columns, k groups, tails, packing) over these, so tests check
 * that structure bit for bit on any host, including CPUs (or qemu) without the instruction;
 * they are also the portable runners for a panel packed for a path the current one cannot
 * run. The epilogue is the scalar one (requant/requant.h). */
#ifndef INT8RT_GEMM_PRIM_EMU_H
#define INT8RT_GEMM_PRIM_EMU_H

#include <string.h>

#include "kernels/gemm/gemm.h"
#include "kernels/requant/requant.h"

typedef struct {
    int32_t l[16];
} i8_emu_vec;

static inline uint32_t i8_emu_u32(const unsigned char *p) {
    uint32_t v;
    memcpy(&v, p, sizeof v);
    return v;
}

#define I8_EMU_SET(S, LANES, DOT_LANE)                                                         \
    typedef i8_emu_vec S##_vec;                                                                \
    typedef i8_rq_params S##_rq;                                                               \
    static inline i8_emu_vec S##_zero(void) {                                                  \
        i8_emu_vec v;                                                                          \
        memset(&v, 0, sizeof v);                                                               \
        return v;                                                                              \
    }                                                                                          \
    static inline i8_emu_vec S##_acc0(const int32_t *b) {                                      \
        i8_emu_vec v;                                                                          \
        memset(&v, 0, sizeof v);                                                               \
        memcpy(v.l, b, (LANES) * 4);                                                           \
        return v;                                                                              \
    }                                                                                          \
    static inline i8_emu_vec S##_loadw(const unsigned char *p) {                               \
        i8_emu_vec v;                                                                          \
        memset(&v, 0, sizeof v);                                                               \
        memcpy(v.l, p, (LANES) * 4);                                                           \
        return v;                                                                              \
    }                                                                                          \
    static inline i8_emu_vec S##_bcast(const unsigned char *p) {                               \
        i8_emu_vec v;                                                                          \
        const uint32_t g = i8_emu_u32(p);                                                      \
        for (int t = 0; t < 16; t++) v.l[t] = (int32_t)g;                                      \
        return v;                                                                              \
    }                                                                                          \
    static inline i8_emu_vec S##_dot(i8_emu_vec acc, i8_emu_vec x, i8_emu_vec w) {             \
        for (int t = 0; t < (LANES); t++)                                                      \
            acc.l[t] = (int32_t)((uint32_t)acc.l[t] + (uint32_t)DOT_LANE(x.l[t], w.l[t]));     \
        return acc;                                                                            \
    }                                                                                          \
    static inline i8_rq_params S##_rq_init(const i8_rq_params *p) { return *p; }               \
    static inline void S##_store16(const i8_rq_params *rq, i8_emu_vec lo, i8_emu_vec hi,       \
                                   const float *mult, void *y, size_t nr) {                    \
        int32_t acc[16];                                                                       \
        memcpy(acc, lo.l, (LANES) * 4);                                                        \
        if ((LANES) == 8) memcpy(acc + 8, hi.l, 32);                                           \
        i8_requant_row__scalar(rq, acc, NULL, mult, y, nr);                                    \
    }                                                                                          \
    static inline int S##_plain(const i8_rq_params *rq) { return !rq->out_f32 && !rq->post; }  \
    static inline void S##_store16_plain(const i8_rq_params *rq, i8_emu_vec v,                 \
                                         const float *mult, void *y) {                         \
        S##_store16(rq, v, v, mult, y, 16);                                                    \
    }

/* vpmaddwd lane: two int16 products summed (exact: int8 values, |sum| <= 2^15) */
static inline int32_t i8_emu_madd(int32_t x, int32_t w) {
    const uint32_t ux = (uint32_t)x, uw = (uint32_t)w;
    return (int32_t)(int16_t)(ux & 0xFFFF) * (int16_t)(uw & 0xFFFF) +
           (int32_t)(int16_t)(ux >> 16) * (int16_t)(uw >> 16);
}

/* vpdpbusd lane: four u8 x s8 products summed at full precision (|sum| < 2^17) */
static inline int32_t i8_emu_dpbusd(int32_t x, int32_t w) {
    const uint32_t ux = (uint32_t)x, uw = (uint32_t)w;
    int32_t s = 0;
    for (int b = 0; b < 32; b += 8) s += (int32_t)(uint8_t)(ux >> b) * (int8_t)(uint8_t)(uw >> b);
    return s;
}

/* vpmaddubsw + vpmaddwd by ones lane: u8 x s8 products added in pairs into int16 WITH
 * saturation (as the instruction does), then the two pairs added: the avx2ubs dot, which
 * equals i8_emu_dpbusd whenever every |w| <= 64 (the only panels the set runs) */
static inline int32_t i8_emu_sat16(int32_t v) { return v > 32767 ? 32767 : v < -32768 ? -32768 : v; }
static inline int32_t i8_emu_ubs(int32_t x, int32_t w) {
    const uint32_t ux = (uint32_t)x, uw = (uint32_t)w;
    int32_t s = 0;
    for (int b = 0; b < 32; b += 16)
        s += i8_emu_sat16((int32_t)(uint8_t)(ux >> b) * (int8_t)(uint8_t)(uw >> b) +
                          (int32_t)(uint8_t)(ux >> (b + 8)) * (int8_t)(uint8_t)(uw >> (b + 8)));
    return s;
}

I8_EMU_SET(avx2_emu, 8, i8_emu_madd)
I8_EMU_SET(avx2ubs_emu, 8, i8_emu_ubs)
/* the avx2ubs tiles' dot on the weights' address (gen_gemm_tiles.py, wmem) */
static inline i8_emu_vec avx2ubs_emu_dotm(i8_emu_vec acc, i8_emu_vec x, const unsigned char *w) {
    return avx2ubs_emu_dot(acc, x, avx2ubs_emu_loadw(w));
}
I8_EMU_SET(avxvnni_emu, 8, i8_emu_dpbusd)
I8_EMU_SET(avx512vnni_emu, 16, i8_emu_dpbusd)

/* The neondot4 set (prim_neon.h, lane form): SDOT by element. A vector holds 4 int32 lanes;
 * _loadx / _loadw read 16 bytes (4 groups of 4 int8); _dot<l> adds to lane t the full-precision
 * s8 x s8 dot of w's group t with x's group l. */
static inline int32_t i8_emu_sdot(int32_t x, int32_t w) {
    const uint32_t ux = (uint32_t)x, uw = (uint32_t)w;
    int32_t s = 0;
    for (int b = 0; b < 32; b += 8)
        s += (int32_t)(int8_t)(uint8_t)(ux >> b) * (int8_t)(uint8_t)(uw >> b);
    return s;
}

typedef i8_emu_vec neondot4_emu_vec;
typedef i8_emu_vec neondot4_emu_xvec;
typedef i8_emu_vec neondot4_emu_wvec;
typedef i8_rq_params neondot4_emu_rq;

static inline i8_emu_vec neondot4_emu_acc0(const int32_t *b) {
    i8_emu_vec v;
    memset(&v, 0, sizeof v);
    memcpy(v.l, b, 16);
    return v;
}

static inline i8_emu_vec neondot4_emu_loadx(const unsigned char *p) {
    i8_emu_vec v;
    memset(&v, 0, sizeof v);
    memcpy(v.l, p, 16);
    return v;
}
#define neondot4_emu_loadw neondot4_emu_loadx

static inline i8_emu_vec i8_emu_sdot_lane(i8_emu_vec acc, i8_emu_vec w, i8_emu_vec x, int l) {
    for (int t = 0; t < 4; t++)
        acc.l[t] = (int32_t)((uint32_t)acc.l[t] + (uint32_t)i8_emu_sdot(x.l[l], w.l[t]));
    return acc;
}
#define neondot4_emu_dot0(acc, w, x) i8_emu_sdot_lane(acc, w, x, 0)
#define neondot4_emu_dot1(acc, w, x) i8_emu_sdot_lane(acc, w, x, 1)
#define neondot4_emu_dot2(acc, w, x) i8_emu_sdot_lane(acc, w, x, 2)
#define neondot4_emu_dot3(acc, w, x) i8_emu_sdot_lane(acc, w, x, 3)

static inline i8_emu_vec neondot4_emu_zero(void) {
    i8_emu_vec v;
    memset(&v, 0, sizeof v);
    return v;
}
#define neonmlal_emu_zero neondot4_emu_zero
static inline i8_rq_params neondot4_emu_rq_init(const i8_rq_params *p) { return *p; }
/* (the NEON sets load the multipliers once per tile here; the twin reads them per row) */
#define neondot4_emu_rq_init_m(p, mult) neondot4_emu_rq_init(p)
static inline void neondot4_emu_store16x4(const i8_rq_params *rq, i8_emu_vec s0, i8_emu_vec s1,
                                          i8_emu_vec s2, i8_emu_vec s3, const float *mult,
                                          void *y, size_t nr) {
    int32_t acc[16];
    memcpy(acc, s0.l, 16);
    memcpy(acc + 4, s1.l, 16);
    memcpy(acc + 8, s2.l, 16);
    memcpy(acc + 12, s3.l, 16);
    i8_requant_row__scalar(rq, acc, NULL, mult, y, nr);
}

/* The neonmlal set (prim_neon.h, pair form): vectors of 4 int32 lanes / 16 int8 bytes. _loadx
 * reads 16 bytes (a quad broadcast by pack_a_s8x4), _loadw2 two vectors; _dotlo / _dothi take bytes 0-7 / 8-15 of the weights
 * (two channels' quads) against the broadcast quads A and B, form each int16 lane as the
 * product of A plus the product of B (wrapped to int16 as SMULL + SMLAL would: exact under
 * the |w| <= 127 contract) and add int16 lanes 2t, 2t + 1 into int32 lane t (SADALP). */
typedef i8_emu_vec neonmlal_emu_vec;
typedef i8_emu_vec neonmlal_emu_xvec;
typedef struct {
    i8_emu_vec val[2];
} neonmlal_emu_wvec2;
typedef i8_rq_params neonmlal_emu_rq;

static inline i8_emu_vec neonmlal_emu_acc0lo(const int32_t *b) {
    i8_emu_vec v;
    memset(&v, 0, sizeof v);
    v.l[0] = b[0];
    v.l[2] = b[1];
    return v;
}
static inline i8_emu_vec neonmlal_emu_acc0hi(const int32_t *b) { return neonmlal_emu_acc0lo(b + 2); }
#define neonmlal_emu_loadx neondot4_emu_loadx
static inline neonmlal_emu_wvec2 neonmlal_emu_loadw2(const unsigned char *p) {
    neonmlal_emu_wvec2 v;
    v.val[0] = neondot4_emu_loadx(p);
    v.val[1] = neondot4_emu_loadx(p + 16);
    return v;
}

static inline i8_emu_vec i8_emu_mlal_half(i8_emu_vec acc, i8_emu_vec wa, i8_emu_vec xa,
                                          i8_emu_vec wb, i8_emu_vec xb, int half) {
    const int8_t *a = (const int8_t *)wa.l + 8 * half, *b = (const int8_t *)wb.l + 8 * half;
    const int8_t *p = (const int8_t *)xa.l + 8 * half, *q = (const int8_t *)xb.l + 8 * half;
    for (int t = 0; t < 4; t++) {
        int32_t s = 0;
        for (int u = 2 * t; u < 2 * t + 2; u++) s += (int16_t)(a[u] * p[u] + b[u] * q[u]);
        acc.l[t] = (int32_t)((uint32_t)acc.l[t] + (uint32_t)s);
    }
    return acc;
}
#define neonmlal_emu_dotlo(acc, wa, xa, wb, xb) i8_emu_mlal_half(acc, wa, xa, wb, xb, 0)
#define neonmlal_emu_dothi(acc, wa, xa, wb, xb) i8_emu_mlal_half(acc, wa, xa, wb, xb, 1)
static inline i8_emu_vec neonmlal_emu_fold(i8_emu_vec lo, i8_emu_vec hi) {
    i8_emu_vec v;
    memset(&v, 0, sizeof v);
    v.l[0] = (int32_t)((uint32_t)lo.l[0] + (uint32_t)lo.l[1]);
    v.l[1] = (int32_t)((uint32_t)lo.l[2] + (uint32_t)lo.l[3]);
    v.l[2] = (int32_t)((uint32_t)hi.l[0] + (uint32_t)hi.l[1]);
    v.l[3] = (int32_t)((uint32_t)hi.l[2] + (uint32_t)hi.l[3]);
    return v;
}
#define neonmlal_emu_rq_init neondot4_emu_rq_init
#define neonmlal_emu_rq_init_m neondot4_emu_rq_init_m
#define neonmlal_emu_store16x4 neondot4_emu_store16x4

/* The neonmull set (panels with a -128 weight): the same lanes, but one product per int16
 * lane (SMULL + SADALP per quad; |p| <= 16,384 fits int16 for any int8), so no pair of
 * products can wrap. */
typedef i8_emu_vec neonmull_emu_vec;
typedef i8_emu_vec neonmull_emu_xvec;
typedef neonmlal_emu_wvec2 neonmull_emu_wvec2;
typedef i8_rq_params neonmull_emu_rq;
static inline i8_emu_vec i8_emu_mull_half(i8_emu_vec acc, i8_emu_vec wa, i8_emu_vec xa,
                                          i8_emu_vec wb, i8_emu_vec xb, int half) {
    const int8_t *a = (const int8_t *)wa.l + 8 * half, *b = (const int8_t *)wb.l + 8 * half;
    const int8_t *p = (const int8_t *)xa.l + 8 * half, *q = (const int8_t *)xb.l + 8 * half;
    for (int t = 0; t < 4; t++) {
        int32_t s = 0;
        for (int u = 2 * t; u < 2 * t + 2; u++)
            s += (int16_t)(a[u] * p[u]) + (int16_t)(b[u] * q[u]);
        acc.l[t] = (int32_t)((uint32_t)acc.l[t] + (uint32_t)s);
    }
    return acc;
}
#define neonmull_emu_dotlo(acc, wa, xa, wb, xb) i8_emu_mull_half(acc, wa, xa, wb, xb, 0)
#define neonmull_emu_dothi(acc, wa, xa, wb, xb) i8_emu_mull_half(acc, wa, xa, wb, xb, 1)
#define neonmull_emu_zero neondot4_emu_zero
#define neonmull_emu_acc0lo neonmlal_emu_acc0lo
#define neonmull_emu_acc0hi neonmlal_emu_acc0hi
#define neonmull_emu_loadx neonmlal_emu_loadx
#define neonmull_emu_loadw2 neonmlal_emu_loadw2
#define neonmull_emu_fold neonmlal_emu_fold
#define neonmull_emu_rq_init neondot4_emu_rq_init
#define neonmull_emu_rq_init_m neondot4_emu_rq_init_m
#define neonmull_emu_store16x4 neondot4_emu_store16x4

#endif
