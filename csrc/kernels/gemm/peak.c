/* Peak int8 multiply-add throughput of a kernel path, for the benchmarks' "fraction of peak"
 * (bench/, docs/KERNELS.md "Peak"). Each function runs `iters` iterations of a loop of
 * independent dot-product instructions (12 destinations, so neither latency nor a dependency
 * chain limits it) and returns the int8 operations done (a multiply-add counts 2), which the
 * caller divides by its own wall time. Inline asm: the compiler must neither fold nor hoist
 * the identical instructions.
 *
 *   avx2:       vpmaddwd ymm: 16 int16 products summed pairwise = 32 ops; this is the
 *               instruction the AVX2 gemm / dwconv kernels are built on
 *   avxvnni:    vpdpbusd ymm: 32 u8 x s8 products accumulated = 64 ops (VEX when the CPU
 *               has AVX-VNNI, else EVEX: the encoding the avxvnni gemm tiles use there)
 *   avx512vnni: vpdpbusd zmm: 64 products = 128 ops
 *   scalar: pmaddwd xmm (SSE2, baseline x86-64): what gcc -O2 makes of the portable
 *           kernels' int16-product loops = 16 ops; on other targets a plain C loop of 12
 *           independent int32 multiply-adds (2 ops each) */
#include "int8rt/cpu.h"
#include "kernels/gemm/gemm.h"

#if defined(__x86_64__) || defined(__i386__)
#define R12(op, reg)                                                                          \
    op " %%" reg "14, %%" reg "15, %%" reg "0\n\t" op " %%" reg "14, %%" reg "15, %%" reg     \
       "1\n\t" op " %%" reg "14, %%" reg "15, %%" reg "2\n\t" op " %%" reg "14, %%" reg      \
       "15, %%" reg "3\n\t" op " %%" reg "14, %%" reg "15, %%" reg "4\n\t" op " %%" reg      \
       "14, %%" reg "15, %%" reg "5\n\t" op " %%" reg "14, %%" reg "15, %%" reg "6\n\t" op   \
       " %%" reg "14, %%" reg "15, %%" reg "7\n\t" op " %%" reg "14, %%" reg "15, %%" reg    \
       "8\n\t" op " %%" reg "14, %%" reg "15, %%" reg "9\n\t" op " %%" reg "14, %%" reg      \
       "15, %%" reg "10\n\t" op " %%" reg "14, %%" reg "15, %%" reg "11\n\t"
#define CLOBBER                                                                               \
    "xmm0", "xmm1", "xmm2", "xmm3", "xmm4", "xmm5", "xmm6", "xmm7", "xmm8", "xmm9", "xmm10",  \
        "xmm11"

__attribute__((target("avx2"))) static double peak_avx2(int64_t iters) {
    for (int64_t i = 0; i < iters; i++) __asm__ volatile(R12("vpmaddwd", "ymm")::: CLOBBER);
    return (double)iters * 12 * 32;
}

/* gas needs {vex} / {evex} to pick vpdpbusd's encoding explicitly */
#if defined(I8_GEMM_HAVE_AVXVNNI_VEX)
__attribute__((target("avx2,avxvnni"))) static double peak_avxvnni_vex(int64_t iters) {
    for (int64_t i = 0; i < iters; i++)
        __asm__ volatile(R12("%{vex%} vpdpbusd", "ymm")::: CLOBBER);
    return (double)iters * 12 * 64;
}
#endif

__attribute__((target("avx512f,avx512vl,avx512vnni"))) static double peak_avxvnni_evex(
    int64_t iters) {
    for (int64_t i = 0; i < iters; i++)
        __asm__ volatile(R12("%{evex%} vpdpbusd", "ymm")::: CLOBBER);
    return (double)iters * 12 * 64;
}

__attribute__((target("avx512f,avx512vnni"))) static double peak_avx512vnni(int64_t iters) {
    for (int64_t i = 0; i < iters; i++) __asm__ volatile(R12("vpdpbusd", "zmm")::: CLOBBER);
    return (double)iters * 12 * 128;
}

static double peak_sse2(int64_t iters) {
    /* pmaddwd is two-operand: src, dst (dst *= ...), so the destinations stay independent */
    for (int64_t i = 0; i < iters; i++)
        __asm__ volatile(
            "pmaddwd %%xmm15, %%xmm0\n\tpmaddwd %%xmm15, %%xmm1\n\tpmaddwd %%xmm15, %%xmm2\n\t"
            "pmaddwd %%xmm15, %%xmm3\n\tpmaddwd %%xmm15, %%xmm4\n\tpmaddwd %%xmm15, %%xmm5\n\t"
            "pmaddwd %%xmm15, %%xmm6\n\tpmaddwd %%xmm15, %%xmm7\n\tpmaddwd %%xmm15, %%xmm8\n\t"
            "pmaddwd %%xmm15, %%xmm9\n\tpmaddwd %%xmm15, %%xmm10\n\tpmaddwd %%xmm15, %%xmm11\n\t"
            ::: CLOBBER);
    return (double)iters * 12 * 16;
}
#else
static double peak_c(int64_t iters) {
    volatile int32_t sink;
    int32_t s[12] = {0}, a = 3, b = 5;
    for (int64_t i = 0; i < iters; i++) {
        for (int t = 0; t < 12; t++) s[t] += a * b;
        __asm__ volatile("" : "+r"(a), "+r"(b)); /* opaque: no hoisting of a * b */
    }
    int32_t t = 0;
    for (int u = 0; u < 12; u++) t += s[u];
    sink = t;
    (void)sink;
    return (double)iters * 12 * 2;
}
#endif

double i8_peak_ops(int32_t isa, int64_t iters) {
#if defined(__x86_64__) || defined(__i386__)
    const i8_cpu_features *f = i8_cpu_features_cached();
    switch (isa) {
    case I8_ISA_AVX2: return f->avx2 ? peak_avx2(iters) : 0.0;
    case I8_ISA_AVX_VNNI:
#if defined(I8_GEMM_HAVE_AVXVNNI_VEX)
        if (f->avx_vnni) return peak_avxvnni_vex(iters);
#endif
        return f->avx512_vnni ? peak_avxvnni_evex(iters) : 0.0;
    case I8_ISA_AVX512_VNNI: return f->avx512_vnni ? peak_avx512vnni(iters) : 0.0;
    default: return peak_sse2(iters);
    }
#else
    return peak_c(iters);
#endif
}
