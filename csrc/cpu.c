/* CPU feature detection and kernel path selection (int8rt/cpu.h). */
#define _GNU_SOURCE /* getauxval on glibc targets */
#include "int8rt/cpu.h"

#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

#if defined(__x86_64__) || defined(__i386__)
#define I8_X86 1
#include <cpuid.h>
#elif defined(__aarch64__) && defined(__linux__)
#define I8_ARM64_LINUX 1
#include <sys/auxv.h>
#elif defined(__arm__) && defined(__linux__)
#define I8_ARM32_LINUX 1
#include <sys/auxv.h>
#endif

#if defined(__aarch64__)
#define I8_A64 1
#else
#define I8_A64 0
#endif

static const char *const NAMES[I8_ISA_COUNT] = {"scalar",  "neon",    "neondot",
                                               "avx2",    "avxvnni", "avx512vnni"};

#if I8_X86
/* XCR0 via the raw opcode: the _xgetbv intrinsic would need -mxsave on the whole file. Only
 * called once CPUID reports OSXSAVE, otherwise xgetbv itself faults. */
static uint64_t xgetbv0(void) {
    uint32_t eax, edx;
    __asm__ volatile("xgetbv" : "=a"(eax), "=d"(edx) : "c"(0));
    return ((uint64_t)edx << 32) | eax;
}
#endif

void i8_cpu_detect(i8_cpu_features *f) {
    memset(f, 0, sizeof *f);
#if I8_X86
    unsigned a, b, c, d;
    if (!__get_cpuid(1, &a, &b, &c, &d)) return;
    const int osxsave = (c >> 27) & 1, avx = (c >> 28) & 1;
    if (!osxsave || !avx) return;
    const uint64_t xcr0 = xgetbv0();
    /* the OS saves XMM (bit 1) and YMM (bit 2) state; AVX-512 also needs opmask + ZMM (5-7) */
    const int ymm_ok = (xcr0 & 0x6) == 0x6, zmm_ok = (xcr0 & 0xE6) == 0xE6;
    if (!ymm_ok || __get_cpuid_max(0, 0) < 7) return;
    __cpuid_count(7, 0, a, b, c, d);
    const unsigned leaf7_ebx = b, leaf7_ecx = c, max_sub = a;
    f->avx2 = (int32_t)((leaf7_ebx >> 5) & 1);
    /* AVX512-VNNI kernels also use F (bit 16), BW (30) and VL (31): EVEX ymm, masked stores;
     * every CPU with VNNI has them, but check rather than assume */
    const int avx512_fbwvl = zmm_ok && ((leaf7_ebx >> 16) & 1) && ((leaf7_ebx >> 30) & 1) &&
                             ((leaf7_ebx >> 31) & 1);
    f->avx512_vnni = (int32_t)(avx512_fbwvl && ((leaf7_ecx >> 11) & 1));
    /* VBMI is ECX bit 1; its kernels (the 256-entry vpermi2b table lookup) also use F/BW/VL */
    f->avx512_vbmi = (int32_t)(avx512_fbwvl && ((leaf7_ecx >> 1) & 1));
    if (max_sub >= 1) {
        __cpuid_count(7, 1, a, b, c, d);
        f->avx_vnni = (int32_t)((a >> 4) & 1);
    }
#elif I8_ARM64_LINUX
    /* Advanced SIMD is part of the AArch64 baseline; HWCAP_ASIMDDP is bit 20 of AT_HWCAP.
     * Never /proc/cpuinfo: under qemu-user it shows the host's CPU. */
    f->neon = 1;
    f->neon_dot = (int32_t)((getauxval(AT_HWCAP) >> 20) & 1);
#elif I8_ARM32_LINUX
    f->neon = (int32_t)((getauxval(AT_HWCAP) >> 12) & 1); /* HWCAP_NEON */
#endif
}

/* Paths with kernels in this build, whatever the CPU. */
static int compiled_in(int32_t isa) {
#if I8_X86
    /* the VNNI kernels carry target attributes, so any x86 gcc/clang build has them */
    return isa == I8_ISA_SCALAR || isa == I8_ISA_AVX2 || isa == I8_ISA_AVX_VNNI ||
           isa == I8_ISA_AVX512_VNNI;
#elif defined(__aarch64__) || (defined(__arm__) && defined(__ARM_FP) && !defined(__SOFTFP__))
    /* kernels for NEON paths are added per family; a family without them uses scalar. On
     * armv7 hard-float the NEON kernels carry target("fpu=neon"), so they are compiled in
     * even when the toolchain's baseline (Debian armhf: VFPv3-D16) has no NEON; the CPU
     * check (HWCAP_NEON) decides at run time. */
    return isa == I8_ISA_SCALAR || isa == I8_ISA_NEON || (isa == I8_ISA_NEON_DOT && I8_A64);
#else
    return isa == I8_ISA_SCALAR;
#endif
}

static int cpu_supports(int32_t isa, const i8_cpu_features *f) {
    switch (isa) {
    case I8_ISA_SCALAR: return 1;
    case I8_ISA_NEON: return f->neon;
    case I8_ISA_NEON_DOT: return f->neon && f->neon_dot;
    case I8_ISA_AVX2: return f->avx2;
    /* avxvnni also runs on AVX512-VNNI CPUs without AVX-VNNI (AMD Zen 4): the same ymm tiles
     * with the EVEX encoding of vpdpbusd (kernels/gemm/dispatch.c, docs/KERNELS.md) */
    case I8_ISA_AVX_VNNI: return f->avx2 && (f->avx_vnni || f->avx512_vnni);
    case I8_ISA_AVX512_VNNI: return f->avx2 && f->avx512_vnni;
    default: return 0;
    }
}

const char *i8_isa_name(int32_t isa) {
    return isa >= 0 && isa < I8_ISA_COUNT ? NAMES[isa] : NULL;
}

int32_t i8_isa_from_name(const char *name) {
    for (int32_t i = 0; i < I8_ISA_COUNT; i++)
        if (!strcmp(name, NAMES[i])) return i;
    return -1;
}

/* The cap from INT8RT_ISA: the highest path allowed (unset, empty or unknown: no cap). Read on
 * every call rather than cached, so the current path stays the only global state. */
static int32_t env_cap(int *unknown) {
    const char *s = getenv("INT8RT_ISA");
    *unknown = 0;
    if (!s || !*s) return I8_ISA_COUNT - 1;
    const int32_t i = i8_isa_from_name(s);
    if (i < 0) {
        *unknown = 1;
        return I8_ISA_COUNT - 1;
    }
    return i;
}

/* Detected once: CPUID can cost microseconds under a hypervisor, and the answer never
 * changes. Racing first calls store identical values. */
static i8_cpu_features cached_features;
static _Atomic int32_t features_ready = 0;

const i8_cpu_features *i8_cpu_features_cached(void) {
    if (!atomic_load_explicit(&features_ready, memory_order_acquire)) {
        i8_cpu_features f;
        i8_cpu_detect(&f);
        cached_features = f;
        atomic_store_explicit(&features_ready, 1, memory_order_release);
    }
    return &cached_features;
}

int32_t i8_isa_available(int32_t isa) {
    int unknown;
    if (isa < 0 || isa >= I8_ISA_COUNT || isa > env_cap(&unknown) || !compiled_in(isa))
        return 0;
    return cpu_supports(isa, i8_cpu_features_cached());
}

/* -1 until the first selection. Relaxed atomics: every value ever stored is a valid path, so a
 * racing first use merely selects the same path twice. */
static _Atomic int32_t current_isa = -1;

int32_t i8_isa_init(void) {
    int unknown;
    (void)env_cap(&unknown);
    int32_t best = I8_ISA_SCALAR;
    for (int32_t i = I8_ISA_COUNT - 1; i > I8_ISA_SCALAR; i--)
        if (i8_isa_available(i)) {
            best = i;
            break;
        }
    atomic_store_explicit(&current_isa, best, memory_order_relaxed);
    return unknown ? -1 : 0;
}

int32_t i8_isa_current(void) {
    int32_t isa = atomic_load_explicit(&current_isa, memory_order_relaxed);
    if (isa < 0) {
        (void)i8_isa_init();
        isa = atomic_load_explicit(&current_isa, memory_order_relaxed);
    }
    return isa;
}

int32_t i8_isa_set(int32_t isa) {
    if (!i8_isa_available(isa)) return -1;
    atomic_store_explicit(&current_isa, isa, memory_order_relaxed);
    return 0;
}
