/* NEON table lookup (aarch64; armv7 via target("fpu=neon")): y = table[x + 128], the same
 * bytes as lut.c.
 *
 * aarch64: the 256-byte table is four 64-byte TBL tables; TBL gives 0
 * for an index past its table and TBX leaves the lane alone, so TBL on (x ^ 0x80) then TBX
 * on the index minus 64, 128, 192 (wrapping in uint8) picks exactly one table entry per lane.
 * armv7: the same with VTBL / VTBX over 32-byte tables (four D registers), 8 lanes at a time.
 * The scalar tail indexes with the unsigned byte, as lut.c. */
#if defined(__aarch64__) || (defined(__arm__) && defined(__ARM_FP) && !defined(__SOFTFP__))

#include "kernels/eltwise/eltwise.h"
#include "kernels/requant/neon.h"

#if defined(__aarch64__)
void i8_lut__neon(int64_t n, const int8_t *table, const int8_t *x, int8_t *y) {
    const uint8_t *t = (const uint8_t *)table;
    uint8x16x4_t t0, t1, t2, t3;
    t0 = vld1q_u8_x4(t);
    t1 = vld1q_u8_x4(t + 64);
    t2 = vld1q_u8_x4(t + 128);
    t3 = vld1q_u8_x4(t + 192);
    const uint8x16_t flip = vdupq_n_u8(0x80), k64 = vdupq_n_u8(64);
    int64_t i = 0;
    for (; i + 16 <= n; i += 16) {
        const uint8x16_t idx = veorq_u8(vld1q_u8((const uint8_t *)x + i), flip);
        uint8x16_t r = vqtbl4q_u8(t0, idx);
        const uint8x16_t i1 = vsubq_u8(idx, k64), i2 = vsubq_u8(i1, k64);
        r = vqtbx4q_u8(r, t1, i1);
        r = vqtbx4q_u8(r, t2, i2);
        r = vqtbx4q_u8(r, t3, vsubq_u8(i2, k64));
        vst1q_u8((uint8_t *)y + i, r);
    }
    for (; i < n; i++) y[i] = table[(uint8_t)x[i] ^ 0x80u];
}

#else
I8N_ATTR void i8_lut__neon(int64_t n, const int8_t *table, const int8_t *x, int8_t *y) {
    uint8x8x4_t t[8];
    for (int j = 0; j < 8; j++) {
        t[j].val[0] = vld1_u8((const uint8_t *)table + 32 * j);
        t[j].val[1] = vld1_u8((const uint8_t *)table + 32 * j + 8);
        t[j].val[2] = vld1_u8((const uint8_t *)table + 32 * j + 16);
        t[j].val[3] = vld1_u8((const uint8_t *)table + 32 * j + 24);
    }
    const uint8x8_t flip = vdup_n_u8(0x80), k32 = vdup_n_u8(32);
    int64_t i = 0;
    for (; i + 8 <= n; i += 8) {
        uint8x8_t idx = veor_u8(vld1_u8((const uint8_t *)x + i), flip);
        uint8x8_t r = vtbl4_u8(t[0], idx);
        for (int j = 1; j < 8; j++) {
            idx = vsub_u8(idx, k32);
            r = vtbx4_u8(r, t[j], idx);
        }
        vst1_u8((uint8_t *)y + i, r);
    }
    for (; i < n; i++) y[i] = table[(uint8_t)x[i] ^ 0x80u];
}
#endif

#endif
