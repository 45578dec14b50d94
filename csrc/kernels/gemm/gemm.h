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
 *   header (64 B: layout) | bias [n16] int32 (zero-point corrected) | mult [n16] float32 |
 *   weights, in one of two layouts chosen at pack time from the current path:
 *     I8_GEMM_ROWS   int8 [n4][kp], one output channel's k taps contiguous (scalar, NEON)
 *     I8_GEMM_K2N16  int16 [n16 / 16][kp / 2][16][2]: per block of 16 output channels, per
 *                    k pair, the 16 channels' two taps side by side (AVX2: one vpmaddwd of a
 *                    broadcast activation pair against 8 channels, no horizontal sums and no
 *                    per-k sign extension of the weights)
 * n4 / n16 = n rounded up to 4 / 16, kp = k rounded up to I8_GEMM_KB; padding is zero, so a
 * caller may run the dot product over kp columns when its rows are zero-padded too. The size is
 * the same for both layouts (the larger one), so it does not depend on the path, and the run
 * dispatches on the recorded layout: a panel packed under one path runs correctly under any
 * other (a K2N16 panel on a non-AVX2 path uses a portable kernel for that layout). */
#ifndef INT8RT_GEMM_H
#define INT8RT_GEMM_H

#include <stddef.h>
#include <stdint.h>

#include "int8rt/kernels.h"

#define I8_GEMM_MR 2  /* rows of a per micro-tile */
#define I8_GEMM_NR 4  /* output channels per micro-tile */
#define I8_GEMM_KB 16 /* k block: weight rows are padded to a multiple of this */
/* K2N16 (AVX2) micro-tile: 6 rows x 16 channels = 12 ymm accumulators + 2 weight vectors + 1
 * broadcast activation pair, 15 of the 16 ymm registers. */
#define I8_GEMM_K2N16_MR 6
/* Activation rows the K2N16 kernel widens to int16 per block: about 128 KB of int16 rows,
 * which stay in L2 (512 KB per core here) beside one 16-channel weight block while every
 * weight block streams past them. Measured (1024^3, 1024x1024x256): 64-256 KB were within
 * noise of each other, 32 KB and 512 KB slower. */
#define I8_GEMM_K2N16_BLOCK_BYTES 131072

/* gcc 12 at -O2 vectorises a small channel loop on its own but not once it is inlined into
 * a deep loop nest; kernels mark such loops' functions I8_NOINLINE. */
#if defined(__GNUC__)
#define I8_NOINLINE __attribute__((noinline))
#else
#define I8_NOINLINE
/* Peak int8 dot-product throughput loop of path `isa` (peak.c): runs `iters` iterations and
 * returns the int8 operations executed (multiply-add = 2); 0 if the CPU lacks the path. */
double i8_peak_ops(int32_t isa, int64_t iters);

#endif

#define I8_ALIGN_UP(x, a) (((x) + (size_t)(a) - 1) / (size_t)(a) * (size_t)(a))

enum { I8_GEMM_ROWS = 1, I8_GEMM_K2N16 = 2 };

typedef struct {
    int32_t layout; /* I8_GEMM_ROWS or I8_GEMM_K2N16 (from the panel header) */
    int32_t n;  /* output channels */
    int32_t k;  /* dot-product length the kernel runs (k or kp) */
    int32_t kp; /* weight row stride */
    const int32_t *bias;
    const float *mult;
    const int8_t *w;      /* I8_GEMM_ROWS weights */
    const int16_t *w16;   /* I8_GEMM_K2N16 weights */
    int32_t y_zp, qmin, qmax;
    int32_t out_f32; /* c is float32 (acc * mult), else int8 (requantized) */
    /* 1 if some weight is -128 (outside the [-127, 127] contract; a foreign model may hold
     * one): kernels that add two products in int16 (NEON smull + smlal) must not run */
    int32_t w_m128;
    /* Optional per-call work space of the K2N16 kernel (activation rows widened to int16
     * once per row block). panel_init sets NULL; callers set it to i8_gemm_scratch_size bytes
     * of their scratch. NULL (or too small) is correct too, just slower (no int16 rows). */
    void *scratch;
    size_t scratch_bytes;
} i8_gemm_panel;

size_t i8_gemm_packed_size(int32_t n, int32_t k);
/* w: n rows of k int8, row stride w_stride; bias may be NULL (zero). */
void i8_gemm_pack(int32_t n, int32_t k, const int8_t *w, size_t w_stride, const int32_t *bias,
                  const float *mult, int32_t x_zp, void *packed);
/* Bytes of pn->scratch that let the K2N16 kernel run at full speed on up to m rows of k. */
size_t i8_gemm_scratch_size(size_t m, int32_t k);
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
/* Peak int8 dot-product throughput loop of path `isa` (peak.c): runs `iters` iterations and
 * returns the int8 operations executed (multiply-add = 2); 0 if the CPU lacks the path. */
double i8_peak_ops(int32_t isa, int64_t iters);

#endif

/* Whole-gemm drivers of the K2N16 layout (same arguments as i8_gemm, c_row in bytes). */
void i8_gemm_k2n16__scalar(const i8_gemm_panel *pn, size_t m, const int8_t *a, size_t a_stride,
                           void *c, size_t c_row);
#if defined(__x86_64__) || defined(__i386__)
void i8_gemm_k2n16__avx2(const i8_gemm_panel *pn, size_t m, const int8_t *a, size_t a_stride,
                         void *c, size_t c_row);
/* Peak int8 dot-product throughput loop of path `isa` (peak.c): runs `iters` iterations and
 * returns the int8 operations executed (multiply-add = 2); 0 if the CPU lacks the path. */
double i8_peak_ops(int32_t isa, int64_t iters);

#endif
/* neon.c: aarch64, and armv7 hard-float (NEON in target("fpu=neon") functions) */
#if defined(__aarch64__) || (defined(__arm__) && defined(__ARM_FP) && !defined(__SOFTFP__))
#define I8_GEMM_HAVE_NEON 1
void i8_gemm_2x4__neon(const i8_gemm_panel *pn, size_t j, const int8_t *a0,
                       const int8_t *a1, void *c0, void *c1);
void i8_gemm_1x4__neon(const i8_gemm_panel *pn, size_t j, const int8_t *a0, void *c0);
/* whole-gemm drivers of the ROWS layout (4x4 tiles on aarch64; same arguments as i8_gemm,
 * c_row in bytes) */
void i8_gemm_rows__neon(const i8_gemm_panel *pn, size_t m, const int8_t *a, size_t a_stride,
                        void *c, size_t c_row);
#endif
/* neondot.c: aarch64 SDOT (target("arch=armv8.2-a+dotprod")) */
#if defined(__aarch64__)
#define I8_GEMM_HAVE_NEONDOT 1
void i8_gemm_2x4__neondot(const i8_gemm_panel *pn, size_t j, const int8_t *a0,
                          const int8_t *a1, void *c0, void *c1);
void i8_gemm_1x4__neondot(const i8_gemm_panel *pn, size_t j, const int8_t *a0, void *c0);
void i8_gemm_rows__neondot(const i8_gemm_panel *pn, size_t m, const int8_t *a, size_t a_stride,
                           void *c, size_t c_row);
#endif

/* The entry fc and conv2d use: m rows of a (row stride a_stride) into m rows of c (row stride
 * c_stride elements), with the micro-kernels of the current path (int8rt/cpu.h). */
void i8_gemm(const i8_gemm_panel *pn, size_t m, const int8_t *a, size_t a_stride, void *c,
             size_t c_stride);

/* Peak int8 dot-product throughput loop of path `isa` (peak.c): runs `iters` iterations and
 * returns the int8 operations executed (multiply-add = 2); 0 if the CPU lacks the path. */
double i8_peak_ops(int32_t isa, int64_t iters);

#endif
