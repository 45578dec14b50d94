/* Pooling kernels of the current path (int8rt/cpu.h, kernels/x86_paths.h), looked up once per
 * call. Average pooling has an AVX-512 kernel only on x86 (its AVX2 path runs the portable loop); ARM
 * NEON kernels are in neon.c. */
#include "kernels/pool/pool.h"
#include "kernels/x86_paths.h"

#if defined(I8_POOL_NEON)
static int use_neon(void) {
    const int32_t isa = i8_isa_current();
    return isa == I8_ISA_NEON || isa == I8_ISA_NEON_DOT;
}
#endif

void i8_maxpool_run(const i8_pool_params *p, const int8_t *x, int8_t *y) {
#if defined(__x86_64__) || defined(__i386__)
    const int32_t level = i8_x86_level();
    if (level == 2) {
        i8_maxpool__avx512(p, x, y);
        return;
    }
    if (level == 1) {
        i8_maxpool__avx2(p, x, y);
        return;
    }
#endif
#if defined(I8_POOL_NEON)
    if (use_neon()) {
        i8_maxpool__neon(p, x, y);
        return;
    }
#endif
    i8_maxpool__scalar(p, x, y);
}

void i8_avgpool_run(const i8_pool_params *p, const float *mult_by_count, const int8_t *x,
                    int8_t *y) {
#if defined(__x86_64__) || defined(__i386__)
    if (i8_x86_level() == 2) {
        i8_avgpool__avx512(p, mult_by_count, x, y);
        return;
    }
#endif
#if defined(I8_POOL_NEON)
    if (use_neon()) {
        i8_avgpool__neon(p, mult_by_count, x, y);
        return;
    }
#endif
    i8_avgpool__scalar(p, mult_by_count, x, y);
}

void i8_global_avgpool_run(int32_t n, int32_t hw, int32_t c, int32_t x_zp, int32_t y_zp,
                           float mult, int32_t qmin, int32_t qmax, const int8_t *x, int8_t *y) {
#if defined(__x86_64__) || defined(__i386__)
    const int32_t level = i8_x86_level();
    if (level == 2) {
        i8_global_avgpool__avx512(n, hw, c, x_zp, y_zp, mult, qmin, qmax, x, y);
        return;
    }
    if (level == 1) {
        i8_global_avgpool__avx2(n, hw, c, x_zp, y_zp, mult, qmin, qmax, x, y);
        return;
    }
#endif
#if defined(I8_POOL_NEON)
    if (use_neon()) {
        i8_global_avgpool__neon(n, hw, c, x_zp, y_zp, mult, qmin, qmax, x, y);
        return;
    }
#endif
    i8_global_avgpool__scalar(n, hw, c, x_zp, y_zp, mult, qmin, qmax, x, y);
}
