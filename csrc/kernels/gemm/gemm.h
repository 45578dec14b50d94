/* int8 GEMM core shared by fc and conv2d (docs/KERNELS.md, "gemm").
 *
 *   c[i, j] = i8_requantize(sum_k a[i, k] * w[j, k] + bias[j], mult[j], y_zp, qmin, qmax)
 * or, with out_f32 (the float32 epilogue of kernels.h), c[i, j] float32 = float32(acc) * mult[j].
 *
 * `a` holds raw int8 activations: the input zero point is not subtracted in the loop because
 * the pack step folds -x_zp * sum_k w[j, k] into bias[j] (docs/QUANTIZATION.md §3), so the
 * inner loop is a plain int8 dot product and padding taps that read x_zp contribute zero.
 *
 * Packed panel (i8_gemm_pack), every section 64-byte aligned relative to the panel start:
 *   bias [n4] int32 (zero-point corrected) | mult [n4] float32 | w [n4][kp] int8
 * n4 = n rounded up to I8_GEMM_NR, kp = k rounded up to I8_GEMM_KB; padding is zero, so a
 * caller may run the dot product over kp columns when its rows are zero-padded too. */
#ifndef INT8RT_GEMM_H
#define INT8RT_GEMM_H

#include <stddef.h>
#include <stdint.h>

#include "int8rt/kernels.h"

#define I8_GEMM_MR 2  /* rows of a per micro-tile */
#define I8_GEMM_NR 4  /* output channels per micro-tile */
#define I8_GEMM_KB 16 /* k block: weight rows are padded to a multiple of this */

/* gcc 12 at -O2 vectorises a small channel loop on its own but not once it is inlined into
 * a deep loop nest; kernels mark such loops' functions I8_NOINLINE. */
#if defined(__GNUC__)
#define I8_NOINLINE __attribute__((noinline))
#else
#define I8_NOINLINE
#endif

#define I8_ALIGN_UP(x, a) (((x) + (size_t)(a) - 1) / (size_t)(a) * (size_t)(a))

typedef struct {
    int32_t n;  /* output channels */
    int32_t k;  /* dot-product length the kernel runs (k or kp) */
    int32_t kp; /* weight row stride */
    const int32_t *bias;
    const float *mult;
    const int8_t *w;
    int32_t y_zp, qmin, qmax;
    int32_t out_f32; /* c is float32 (acc * mult), else int8 (requantized) */
} i8_gemm_panel;

size_t i8_gemm_packed_size(int32_t n, int32_t k);
/* w: n rows of k int8, row stride w_stride; bias may be NULL (zero). */
void i8_gemm_pack(int32_t n, int32_t k, const int8_t *w, size_t w_stride, const int32_t *bias,
                  const float *mult, int32_t x_zp, void *packed);
/* Points `pn` at a packed panel; sets pn->k = k (the caller may raise it to kp). */
void i8_gemm_panel_init(i8_gemm_panel *pn, int32_t n, int32_t k, const void *packed,
                        int32_t y_zp, int32_t qmin, int32_t qmax, int32_t out_f32);

/* Micro-kernels, one pair per ISA: output channels [j, j + I8_GEMM_NR) of one or two rows of
 * a (pn->k readable bytes each) into the matching elements of c rows (int8, or float32 when
 * pn->out_f32). Only the driver in dispatch.c calls them, after checking the CPU. */
typedef void (*i8_gemm_2x4_fn)(const i8_gemm_panel *pn, size_t j, const int8_t *a0,
                               const int8_t *a1, void *c0, void *c1);
typedef void (*i8_gemm_1x4_fn)(const i8_gemm_panel *pn, size_t j, const int8_t *a0, void *c0);

void i8_gemm_2x4__scalar(const i8_gemm_panel *pn, size_t j, const int8_t *a0,
                         const int8_t *a1, void *c0, void *c1);
void i8_gemm_1x4__scalar(const i8_gemm_panel *pn, size_t j, const int8_t *a0, void *c0);
#if defined(__x86_64__) || defined(__i386__)
void i8_gemm_2x4__avx2(const i8_gemm_panel *pn, size_t j, const int8_t *a0,
                       const int8_t *a1, void *c0, void *c1);
void i8_gemm_1x4__avx2(const i8_gemm_panel *pn, size_t j, const int8_t *a0, void *c0);
#endif
/* neon.c: aarch64, and armv7 hard-float (NEON in target("fpu=neon") functions) */
#if defined(__aarch64__) || (defined(__arm__) && defined(__ARM_FP) && !defined(__SOFTFP__))
#define I8_GEMM_HAVE_NEON 1
void i8_gemm_2x4__neon(const i8_gemm_panel *pn, size_t j, const int8_t *a0,
                       const int8_t *a1, void *c0, void *c1);
void i8_gemm_1x4__neon(const i8_gemm_panel *pn, size_t j, const int8_t *a0, void *c0);
#endif
/* neondot.c: aarch64 SDOT (target("arch=armv8.2-a+dotprod")) */
#if defined(__aarch64__)
#define I8_GEMM_HAVE_NEONDOT 1
void i8_gemm_2x4__neondot(const i8_gemm_panel *pn, size_t j, const int8_t *a0,
                          const int8_t *a1, void *c0, void *c1);
void i8_gemm_1x4__neondot(const i8_gemm_panel *pn, size_t j, const int8_t *a0, void *c0);
#endif

/* The entry fc and conv2d use: m rows of a (row stride a_stride) into m rows of c (row stride
 * c_stride elements), with the micro-kernels of the current path (int8rt/cpu.h). */
void i8_gemm(const i8_gemm_panel *pn, size_t m, const int8_t *a, size_t a_stride, void *c,
             size_t c_stride);

#endif
