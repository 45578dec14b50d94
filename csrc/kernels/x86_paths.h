/* Which x86 kernels the element-wise families (lut, eltwise, pool, dwconv, convert) run on
 * the current path (int8rt/cpu.h): 0 portable C, 1 AVX2, 2 AVX-512 (F + BW + VL).
 *
 * The avx512vnni path implies AVX-512 F, BW and VL with the ZMM state enabled by the OS: cpu.c
 * checks all of them before it offers the path, so no second CPU query happens here.
 * AVX-512 VBMI (vpermi2b, for the 256-entry table lookup) is absent on Cascade Lake, so it is
 * a separate feature of cpu.c (i8_cpu_features.avx512_vbmi), not part of any path. */
#ifndef INT8RT_X86_PATHS_H
#define INT8RT_X86_PATHS_H

#include <stdint.h>

#include "int8rt/cpu.h"

#if defined(__x86_64__) || defined(__i386__)


static inline int32_t i8_x86_level(void) {
    const int32_t isa = i8_isa_current();
    if (isa == I8_ISA_AVX512_VNNI) return 2; /* cpu.c selects it only with F, BW and VL */
    return isa == I8_ISA_AVX2 || isa == I8_ISA_AVX_VNNI || isa == I8_ISA_AVX512_VNNI;
}

/* AVX-512 VBMI from the cached CPU features (cpu.c, the only code that looks at the CPU) */
static inline int32_t i8_x86_has_vbmi(void) { return i8_cpu_features_cached()->avx512_vbmi; }

#define I8_AVX2_FN __attribute__((target("avx2")))
#define I8_AVX512_FN __attribute__((target("avx512f,avx512bw,avx512vl")))
#define I8_AVX512VBMI_FN __attribute__((target("avx512f,avx512bw,avx512vl,avx512vbmi")))
#else

static inline int32_t i8_x86_level(void) { return 0; }
#endif

#endif
