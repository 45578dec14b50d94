/* CPU feature detection and the kernel path ("ISA") choice: the one place in int8rt that looks
 * at the CPU (docs/KERNELS.md, "Kernel paths and dispatch").
 *
 * A path is a set of kernel implementations. Paths are ordered (scalar < avx2 < ...); the
 * current path is chosen once, lazily or by i8_isa_init() at module import: the best path that
 * is compiled in, supported by the CPU (and OS), and not above the cap in the environment
 * variable INT8RT_ISA. A cap above what the machine has falls back to the best available path,
 * never to an instruction the CPU lacks. i8_isa_set() lets tests sweep every available path in
 * one process. The current path is the only mutable global state in the C code. */
#ifndef INT8RT_CPU_H
#define INT8RT_CPU_H

#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

typedef enum {
    I8_ISA_SCALAR = 0,      /* portable C, every target */
    I8_ISA_NEON = 1,        /* ARM Advanced SIMD: AArch64 baseline, armv7 with NEON-VFPv4 */
    I8_ISA_NEON_DOT = 2,    /* AArch64 sdot (Armv8.2 dotprod: Cortex-A76 / Pi 5) */
    I8_ISA_AVX2 = 3,        /* x86-64 AVX2 (int16 vpmaddwd dot products) */
    I8_ISA_AVX_VNNI = 4,    /* x86 ymm vpdpbusd: VEX (Alder Lake, N100, Zen 5), or EVEX on
                               AVX512-VNNI CPUs without AVX-VNNI (Zen 4) */
    I8_ISA_AVX512_VNNI = 5, /* x86 zmm vpdpbusd (AVX-512 F/BW/VL + VNNI) */
    I8_ISA_COUNT = 6
} i8_isa;
/* Paths of one architecture are ordered by capability; the order across architectures only
 * matters for the INT8RT_ISA cap, where a name of the other architecture caps at scalar (x86
 * reading "neon") or at the best ARM path (ARM reading "avx2"). */

/* CPU features, each usable only if the OS also saves the register state (XCR0). */
typedef struct {
    int32_t avx2;
    int32_t avx_vnni;    /* VEX-encoded vpdpbusd (Alder Lake, Zen 5) */
    int32_t avx512_vnni; /* EVEX vpdpbusd (AVX-512 F, BW, VL + VNNI, ZMM state enabled) */
    int32_t avx512_vbmi; /* vpermi2b / vpermb (AVX-512 F, BW, VL + VBMI, ZMM state enabled):
                            not a path of its own; the avx512vnni path's table lookups use it
                            where present (absent on Cascade Lake) */
    int32_t neon;        /* Advanced SIMD usable (always on AArch64; HWCAP_NEON on armv7) */
    int32_t neon_dot;    /* AArch64 sdot/udot (HWCAP_ASIMDDP) */
} i8_cpu_features;

void i8_cpu_detect(i8_cpu_features *f);
/* i8_cpu_detect's answer, detected once per process. */
const i8_cpu_features *i8_cpu_features_cached(void);

/* Name of a path ("scalar", "avx2", ...), or NULL when out of range. */
const char *i8_isa_name(int32_t isa);
/* Path number of a name, or -1 if the name is unknown. */
int32_t i8_isa_from_name(const char *name);
/* Nonzero when path `isa` is compiled in, the CPU can run it and it is within the env cap. */
int32_t i8_isa_available(int32_t isa);
/* (Re)reads INT8RT_ISA and selects the best available path. Returns 0, or -1 when INT8RT_ISA
 * holds an unknown name (which is then ignored: no cap). */
int32_t i8_isa_init(void);
/* Current path (initialises on first use). */
int32_t i8_isa_current(void);
/* Selects an available path: 0 on success, -1 if it is not available (nothing changes). */
int32_t i8_isa_set(int32_t isa);

#ifdef __cplusplus
}
#endif

#endif
