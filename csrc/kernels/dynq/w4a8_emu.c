/* Portable emulations of the W4A8 x86 kernels: the row kernel of w4a8_tile.h (the same
 * tiles, halves, k octets, tails and epilogue as w4a8_x86.c) over plain-C primitives that
 * compute what vpand / vpsrlw / vpsubb / vpdpbusd / vpmaddubsw + vpaddw + vpmaddwd /
 * vcvtdq2ps / vmulps / vaddps compute lane by lane, so the tests check each native kernel's
 * structure bit for bit on any host, including CPUs without the instruction. */
#include <string.h>

#include "int8rt/dynq.h"
#include "kernels/dynq/dynq_internal.h"

#define REP8(X) X(0) X(1) X(2) X(3) X(4) X(5) X(6) X(7)
#define REP4(X) X(0) X(1) X(2) X(3)

typedef struct {
    uint8_t v[64];
} w4e_b;
typedef struct {
    int32_t v[16];
} w4e_i;
typedef struct {
    float v[16];
} w4e_f;

static int16_t sat16(int32_t v) { return (int16_t)(v > 32767 ? 32767 : v < -32768 ? -32768 : v); }

/* vpdpbusd lane: u8 a[t] times s8 w[t], t = 0..3, added to the int32 lane (wrapping) */
static int32_t dot_vnni(int32_t c, const uint8_t *a, const uint8_t *wl, const uint8_t *wh) {
    uint32_t s = (uint32_t)c;
    for (int t = 0; t < 4; t++) s += (uint32_t)((int32_t)a[t] * (int8_t)wl[t]);
    for (int t = 0; t < 4; t++) s += (uint32_t)((int32_t)a[4 + t] * (int8_t)wh[t]);
    return (int32_t)s;
}

/* vpmaddubsw (saturating int16 pair sums) of both halves, vpaddw (wrapping), vpmaddwd with
 * ones, vpaddd */
static int32_t dot_avx2(int32_t c, const uint8_t *a, const uint8_t *wl, const uint8_t *wh) {
    int16_t p[2];
    for (int h = 0; h < 2; h++) {
        const int16_t lo = sat16((int32_t)a[2 * h] * (int8_t)wl[2 * h] +
                                 (int32_t)a[2 * h + 1] * (int8_t)wl[2 * h + 1]);
        const int16_t hi = sat16((int32_t)a[4 + 2 * h] * (int8_t)wh[2 * h] +
                                 (int32_t)a[4 + 2 * h + 1] * (int8_t)wh[2 * h + 1]);
        p[h] = (int16_t)(uint16_t)((uint16_t)lo + (uint16_t)hi);
    }
    return (int32_t)((uint32_t)c + (uint32_t)((int32_t)p[0] + (int32_t)p[1]));
}

#define EMU_SET(S, L, DOT)                                                                    \
    static inline w4e_b S##_loadb(const uint8_t *p) {                                         \
        w4e_b r = {{0}};                                                                      \
        memcpy(r.v, p, 4 * (L));                                                              \
        return r;                                                                             \
    }                                                                                         \
    static inline w4e_i S##_loadi(const uint8_t *p) {                                         \
        w4e_i r = {{0}};                                                                      \
        memcpy(r.v, p, 4 * (L));                                                              \
        return r;                                                                             \
    }                                                                                         \
    static inline w4e_b S##_niblo(w4e_b x) {                                                  \
        for (int t = 0; t < 4 * (L); t++) x.v[t] &= 15;                                       \
        return x;                                                                             \
    }                                                                                         \
    static inline w4e_b S##_nibhi(w4e_b x) {                                                  \
        for (int t = 0; t < 4 * (L); t++) x.v[t] = (uint8_t)(x.v[t] >> 4);                   \
        return x;                                                                             \
    }                                                                                         \
    static inline w4e_b S##_subb(w4e_b x, w4e_b y) {                                          \
        for (int t = 0; t < 4 * (L); t++) x.v[t] = (uint8_t)(x.v[t] - y.v[t]);                \
        return x;                                                                             \
    }                                                                                         \
    static inline w4e_i S##_dot(w4e_i c, const uint8_t *a, w4e_b wl, w4e_b wh) {              \
        for (int l = 0; l < (L); l++) c.v[l] = DOT(c.v[l], a, wl.v + 4 * l, wh.v + 4 * l);    \
        return c;                                                                             \
    }                                                                                         \
    static inline w4e_f S##_fzero(void) {                                                     \
        w4e_f r;                                                                              \
        for (int l = 0; l < 16; l++) r.v[l] = 0.0f;                                           \
        return r;                                                                             \
    }                                                                                         \
    static inline w4e_f S##_facc(w4e_f f, w4e_i c, const float *s) {                          \
        for (int l = 0; l < (L); l++) {                                                       \
            const float p = (float)c.v[l] * s[l];                                             \
            f.v[l] = f.v[l] + p;                                                              \
        }                                                                                     \
        return f;                                                                             \
    }                                                                                         \
    static inline void S##_store(float *y, w4e_f f, float sa, const float *bias,             \
                                 int64_t left) {                                              \
        for (int64_t l = 0; l < left; l++) {                                                  \
            const float o = f.v[l] * sa;                                                      \
            y[l] = bias ? o + bias[l] : o;                                                    \
        }                                                                                     \
    }

typedef w4e_b e16_b, e8v_b, e8a_b;
typedef w4e_i e16_i, e8v_i, e8a_i;
typedef w4e_f e16_f, e8v_f, e8a_f;
EMU_SET(e16, 16, dot_vnni)
EMU_SET(e8v, 8, dot_vnni)
EMU_SET(e8a, 8, dot_avx2)

#define W4_ATTR
#define W4_FN i8_w4_rows__avx512vnni_emu
#define W4_P(x) e16_##x
#define W4_L 16
#define W4_MR 8
#define W4_REP REP8
#include "kernels/dynq/w4a8_tile.h"
#undef W4_FN
#undef W4_P
#undef W4_L
#undef W4_MR
#undef W4_REP

#define W4_L 8
#define W4_MR 4
#define W4_REP REP4
#define W4_FN i8_w4_rows__avxvnni_emu
#define W4_P(x) e8v_##x
#include "kernels/dynq/w4a8_tile.h"
#undef W4_FN
#undef W4_P

#define W4_FN i8_w4_rows__avx2_emu
#define W4_P(x) e8a_##x
#include "kernels/dynq/w4a8_tile.h"
