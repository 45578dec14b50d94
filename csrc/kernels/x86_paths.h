/* Which x86 kernels the element-wise families (lut, eltwise, pool, dwconv, convert) run on
 * the current path (int8rt/cpu.h): 0 portable C, 1 AVX2, 2 AVX-512 (F + BW + VL).
 *
 * The avx512vnni path implies AVX-512F with the ZMM state enabled by the OS (cpu.c); every
 * CPU with AVX512-VNNI also has BW and VL (Cascade Lake and later, Zen 4 and later), which
 * these kernels use, and the check below keeps that an explicit condition rather than an
 * assumption. AVX-512 VBMI (vpermi2b, for the 256-entry table lookup) is absent on Cascade
 * Lake, so it is a separate query. */
#ifndef INT8RT_X86_PATHS_H
#define INT8RT_X86_PATHS_H

#include <stdint.h>

#include "int8rt/cpu.h"

#if defined(__x86_64__) || defined(__i386__)


static inline int32_t i8_x86_level(void) {
    const int32_t isa = i8_isa_current();
    if (isa == I8_ISA_AVX512_VNNI && __builtin_cpu_supports("avx512bw") &&
        __builtin_cpu_supports("avx512vl"))
        return 2;
    return isa == I8_ISA_AVX2 || isa == I8_ISA_AVX_VNNI || isa == I8_ISA_AVX512_VNNI;
}

static inline int32_t i8_x86_has_vbmi(void) {
    return __builtin_cpu_supports("avx512vbmi");
}

#define I8_AVX2_FN __attribute__((target("avx2")))
#define I8_AVX512_FN __attribute__((target("avx512f,avx512bw,avx512vl")))
#define I8_AVX512VBMI_FN __attribute__((target("avx512f,avx512bw,avx512vl,avx512vbmi")))
#else

static inline int32_t i8_x86_level(void) { return 0; }
#endif

#endif
