/* The gemm entry fc and conv2d call. The row blocking lives here once; each ISA contributes
 * only its two micro-kernels, looked up on the current path (int8rt/cpu.h) once per gemm call,
 * never per tile. Paths without their own micro-kernels use the best one below them. */
#include "int8rt/cpu.h"
#include "kernels/gemm/gemm.h"

typedef struct {
    i8_gemm_2x4_fn tile2;
    i8_gemm_1x4_fn tile1;
} gemm_kernels;

#define SCALAR {i8_gemm_2x4__scalar, i8_gemm_1x4__scalar}
#if defined(__x86_64__) || defined(__i386__)
#define AVX2 {i8_gemm_2x4__avx2, i8_gemm_1x4__avx2}
#else
#define AVX2 SCALAR /* never selected: cpu.c reports avx2 only on x86 */
#endif
#if defined(I8_GEMM_HAVE_NEON)
#define NEON {i8_gemm_2x4__neon, i8_gemm_1x4__neon}
#else
#define NEON SCALAR /* never selected: cpu.c reports neon only on ARM */
#endif
#if defined(I8_GEMM_HAVE_NEONDOT)
#define NEONDOT {i8_gemm_2x4__neondot, i8_gemm_1x4__neondot}
#else
#define NEONDOT NEON
#endif

static const gemm_kernels GEMM[I8_ISA_COUNT] = {
    [I8_ISA_SCALAR] = SCALAR,
    [I8_ISA_NEON] = NEON,
    [I8_ISA_NEON_DOT] = NEONDOT,
    [I8_ISA_AVX2] = AVX2,
    [I8_ISA_AVX_VNNI] = AVX2,
    [I8_ISA_AVX512_VNNI] = AVX2,
};

void i8_gemm(const i8_gemm_panel *pn, size_t m, const int8_t *a, size_t a_stride, void *c,
             size_t c_stride) {
    const int32_t isa = i8_isa_current();
    const gemm_kernels kn = GEMM[isa];
    /* c rows in bytes: the epilogue writes int8 or float32 elements */
    const size_t c_row = c_stride * (pn->out_f32 ? sizeof(float) : 1);
    if (pn->layout == I8_GEMM_K2N16) {
        /* the layout the AVX2 paths pack (pack.c); other paths run it portably */
#if defined(__x86_64__) || defined(__i386__)
        if (isa == I8_ISA_AVX2 || isa == I8_ISA_AVX_VNNI || isa == I8_ISA_AVX512_VNNI) {
            i8_gemm_k2n16__avx2(pn, m, a, a_stride, c, c_row);
            return;
        }
#endif
        i8_gemm_k2n16__scalar(pn, m, a, a_stride, c, c_row);
        return;
    }
#if defined(I8_GEMM_HAVE_NEON)
    if (isa == I8_ISA_NEON) { /* 4x4 tiles, smull + smlal pairs (neon.c, neon_tile.h) */
        i8_gemm_rows__neon(pn, m, a, a_stride, c, c_row);
        return;
    }
#endif
#if defined(I8_GEMM_HAVE_NEONDOT)
    if (isa == I8_ISA_NEON_DOT) { /* 4x4 SDOT tiles (neondot.c) */
        i8_gemm_rows__neondot(pn, m, a, a_stride, c, c_row);
        return;
    }
#endif
    unsigned char *cb = c;
    /* Blocks of rows (about 16 KB of a) stay in L1/L2 while every channel block of the weights
     * streams past them, so neither operand is re-read from memory once per micro-tile. */
    size_t mb = 16384 / ((size_t)pn->k + 1);
    mb = mb < I8_GEMM_MR ? I8_GEMM_MR : mb - mb % I8_GEMM_MR;
    for (size_t i0 = 0; i0 < m; i0 += mb) {
        const size_t i1 = m - i0 < mb ? m : i0 + mb;
        for (size_t j = 0; j < (size_t)pn->n; j += I8_GEMM_NR) {
            size_t i = i0;
            for (; i + I8_GEMM_MR <= i1; i += I8_GEMM_MR)
                kn.tile2(pn, j, a + i * a_stride, a + (i + 1) * a_stride, cb + i * c_row,
                         cb + (i + 1) * c_row);
            if (i < i1) kn.tile1(pn, j, a + i * a_stride, cb + i * c_row);
        }
    }
}
