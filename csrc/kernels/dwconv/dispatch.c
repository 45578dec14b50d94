/* Depthwise kernel of the current path (int8rt/cpu.h), looked up once per call. */
#include "int8rt/cpu.h"
#include "kernels/dwconv/dwconv.h"
#include "kernels/x86_paths.h"

void i8_dwconv_run(const i8_conv2d_params *p, const void *packed, const int8_t *x, void *y,
                   void *scratch, size_t r0, size_t r1, const i8_post *post) {
#if defined(__x86_64__) || defined(__i386__)
    const int32_t level = i8_x86_level();
    if (level == 2) { /* level 2 is the avx512vnni path: vpdpwssd is there */
        /* a table: post-ops over the rows afterwards, 64 bytes per step (gemm/dispatch.c) */
        const int rows_after = post && post->lut;
        if (i8_dwconv_3x3_covers(p))
            i8_dwconv_3x3__avx512vnni(p, packed, x, y, scratch, r0, r1, rows_after ? NULL : post);
        else
            i8_dwconv__avx512vnni(p, packed, x, y, scratch, r0, r1, rows_after ? NULL : post);
        if (rows_after) {
            const size_t row = (size_t)p->ow * p->c;
            if (post->vbmi)
                i8_post_rows__avx512vbmi(post, (int8_t *)y + r0 * row, r1 - r0, row, row);
            else
                i8_post_rows__avx2(post, (int8_t *)y + r0 * row, r1 - r0, row, row);
        }
        return;
    }
    if (level == 1) {
        /* post-ops 32 bytes per step over the rows just written (requant.h
         * i8_post_rows__avx2), cheaper than in the 16-byte AVX2 epilogue (gemm/dispatch.c) */
        const int rows_after = post != NULL;
        /* 3x3 column kernels (col3x3_x86.c): the VEX vpdpbusd one on the avxvnni path of a
         * CPU with AVX-VNNI, the vpmaddwd one otherwise (avx2 path, and an AVX512-VNNI-only
         * CPU on the avxvnni path) */
        if (i8_dwconv_3x3_covers(p)) {
            if (i8_isa_current() == I8_ISA_AVX_VNNI && i8_cpu_features_cached()->avx_vnni &&
                i8_dwconv_3x3__avxvnni_built())
                i8_dwconv_3x3__avxvnni(p, packed, x, y, scratch, r0, r1, NULL);
            else
                i8_dwconv_3x3__avx2(p, packed, x, y, scratch, r0, r1, NULL);
        } else
            i8_dwconv__avx2(p, packed, x, y, scratch, r0, r1, rows_after ? NULL : post);
        if (rows_after) {
            const size_t row = (size_t)p->ow * p->c;
            i8_post_rows__avx2(post, (int8_t *)y + r0 * row, r1 - r0, row, row);
        }
        return;
    }
#endif
#if defined(__aarch64__) || (defined(__arm__) && defined(__ARM_FP) && !defined(__SOFTFP__))
    const int32_t arm = i8_isa_current();
    if (arm == I8_ISA_NEON || arm == I8_ISA_NEON_DOT) {
#if defined(__aarch64__)
        if (arm == I8_ISA_NEON_DOT)
            i8_dwconv__neondot(p, packed, x, y, scratch, r0, r1);
        else
#endif
            i8_dwconv__neon(p, packed, x, y, scratch, r0, r1);
        /* the NEON epilogues have no post-ops: one NEON pass over the rows just written */
        if (post) {
            const size_t row = (size_t)p->ow * p->c;
            i8_post_rows__neon(post, (int8_t *)y + r0 * row, r1 - r0, row, row);
        }
        return;
    }
#endif
    i8_dwconv__scalar(p, packed, x, y, scratch, r0, r1, post);
}
