/* Max-pool kernel of the current path (int8rt/cpu.h), looked up once per call. */
#include "int8rt/cpu.h"
#include "kernels/pool/pool.h"

void i8_maxpool_run(const i8_pool_params *p, const int8_t *x, int8_t *y) {
#if defined(__x86_64__) || defined(__i386__)
    const int32_t isa = i8_isa_current();
    if (isa == I8_ISA_AVX2 || isa == I8_ISA_AVX_VNNI || isa == I8_ISA_AVX512_VNNI) {
        i8_maxpool__avx2(p, x, y);
        return;
    }
#endif
#if defined(I8_POOL_NEON)
    const int32_t arm = i8_isa_current();
    if (arm == I8_ISA_NEON || arm == I8_ISA_NEON_DOT) {
        i8_maxpool__neon(p, x, y);
        return;
    }
#endif
    i8_maxpool__scalar(p, x, y);
}
