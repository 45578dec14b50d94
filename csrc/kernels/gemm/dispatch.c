/* The gemm entry fc and conv2d call: one table lookup on the current path (int8rt/cpu.h) per
 * gemm call, never per tile. Paths without their own gemm fall back to the best one below. */
#include "int8rt/cpu.h"
#include "kernels/gemm/gemm.h"

typedef void (*gemm_fn)(const i8_gemm_panel *, size_t, const int8_t *, size_t, void *, size_t);

#if defined(__x86_64__) || defined(__i386__)
#define GEMM_AVX2 i8_gemm__avx2
#else
#define GEMM_AVX2 i8_gemm__scalar /* never selected: cpu.c reports avx2 only on x86 */
#endif

static const gemm_fn GEMM[I8_ISA_COUNT] = {
    [I8_ISA_SCALAR] = i8_gemm__scalar,
    [I8_ISA_AVX2] = GEMM_AVX2,
    [I8_ISA_AVX_VNNI] = GEMM_AVX2,
    [I8_ISA_AVX512_VNNI] = GEMM_AVX2,
};

void i8_gemm(const i8_gemm_panel *pn, size_t m, const int8_t *a, size_t a_stride, void *c,
             size_t c_stride) {
    GEMM[i8_isa_current()](pn, m, a, a_stride, c, c_stride);
}
