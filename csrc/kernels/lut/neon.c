/* NEON table lookup (aarch64; armv7 via target("fpu=neon")): y = table[x + 128], the same
 * bytes as lut.c. The lookup of 16 lanes is requant/post_neon.h's (shared with the fused
 * epilogue pass): aarch64 TBL + 3 TBX over four 64-byte tables, armv7 VTBL + 7 VTBX over
 * 32-byte tables per 8 lanes. The scalar tail indexes with the unsigned byte, as lut.c. */
#if defined(__aarch64__) || (defined(__arm__) && defined(__ARM_FP) && !defined(__SOFTFP__))

#include "kernels/eltwise/eltwise.h"
#include "kernels/requant/post_neon.h"

I8N_ATTR void i8_lut__neon(int64_t n, const int8_t *table, const int8_t *x, int8_t *y) {
    i8_neon_lut l;
    i8_neon_lut_load(&l, table);
    int64_t i = 0;
    for (; i + 16 <= n; i += 16) vst1q_s8(y + i, i8_neon_lut16(&l, vld1q_s8(x + i)));
    for (; i < n; i++) y[i] = table[(uint8_t)x[i] ^ 0x80u];
}

#endif
