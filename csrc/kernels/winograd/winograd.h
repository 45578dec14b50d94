/* Exact integer Winograd F(2x2, 3x3) for 3x3 / stride 1 / dilation 1 / group 1 convolutions
 * (docs/KERNELS.md, "Winograd F(2x2,3x3)"). conv2d's pack step picks it (a packed layout of
 * the conv record, I8_CONV_WINO in conv2d.c) on the paths listed in i8_wino_wanted, when the
 * weights pass the bound check; run then dispatches here.
 *
 * Arithmetic (Lavin & Gray 2015, "Fast Algorithms for Convolutional Neural Networks"), per
 * output channel k, input channel c and 2x2 output tile with its 4x4 input window d:
 *   V  = B^T d B                   B^T = [1 0 -1 0; 0 1 1 0; 0 -1 1 0; 0 1 0 -1]
 *                                  d raw int8 (padding reads x_zp, as im2col pads), |V| <= 512
 *   U' = G' g G'^T, G' = 2 G       G' = [2 0 0; 1 1 1; 1 -1 1; 0 0 2]: integer, U' = 4 U,
 *                                  |U'| <= 9 * 127 = 1143 (pack time)
 *   M[xi] = sum_c U'[xi] V[xi]     16 small GEMMs (xi = 4 i + j), int16 pairs -> int32
 *                                  (vpmaddwd: |pair| <= 2 * 1143 * 512, no -32768^2 case)
 *   Y' = A^T M A                   A^T = [1 1 1 0; 0 1 -1 -1]; Y' = 4 * sum_c,taps x * w
 * M and Y' wrap modulo 2^32 (every step is linear with integer coefficients), so Y' is exact
 * whenever |4 * sum x w| < 2^31: i8_wino_bound_ok checks 4 * 128 * sum |w| < 2^31 for every
 * channel at pack time (otherwise conv2d packs im2col). Then sum x w = Y' >> 2 exactly, and
 * the conv's accumulator is that + bias' (bias - x_zp * sum w, modulo 2^32, as the gemm panels
 * fold it), through the shared requantization epilogue (requant/) and post-ops.
 *
 * Packed stream (after conv2d's header), 64-byte aligned sections:
 *   bias' [oc16] int32 | mult [oc16] float32 | U' int16 [16 xi][oc16 / 16][kc2][16][2]
 * kc2 = ceil(c / 2) input-channel pairs; per xi and 16-channel block, per channel pair the 16
 * channels' two U' values side by side (the gemm K2N16 shape: one 64-byte group per pair). */
#ifndef INT8RT_WINOGRAD_H
#define INT8RT_WINOGRAD_H

#include <stddef.h>
#include <stdint.h>

#include "int8rt/kernels.h"
#include "kernels/requant/requant.h"

#define I8_WINO_MR 6 /* tiles per gemm micro-tile */

/* Shapes the transform covers: 3x3, stride 1, dilation 1, one group. */
int32_t i8_wino_covers(const i8_conv2d_params *p);
/* Whether the current path packs Winograd for a covered shape (where it measured faster). */
int32_t i8_wino_wanted(const i8_conv2d_params *p);
/* 4 * 128 * sum |w| < 2^31 for every output channel: Y' cannot wrap. */
int32_t i8_wino_bound_ok(const i8_conv2d_params *p, const int8_t *w);
size_t i8_wino_packed_size(const i8_conv2d_params *p);
void i8_wino_pack(const i8_conv2d_params *p, const int8_t *w, const int32_t *bias,
                  const float *mult, void *packed);
size_t i8_wino_scratch_size(const i8_conv2d_params *p);

/* One ISA's kernels (the template wino_tile.h instantiated):
 * input:  tiles [t0, t0 + nt) (flattened n, ty, tx) -> V [16][nt][cp16] int16
 * gemm:   mr <= I8_WINO_MR rows of v (stride v_stride int16) x one 16-channel block of U'
 *         (kc2 pairs) -> m [mr][16] int32
 * output: M [16][nt][16] (channels j0 .. j0 + nc of the block) -> outputs of tiles t0.. */
typedef void (*i8_wino_input_fn)(const i8_conv2d_params *p, const int8_t *x, size_t t0,
                                 size_t nt, int16_t *v, size_t cp16);
typedef void (*i8_wino_gemm_fn)(size_t mr, size_t kc2, const int16_t *v, size_t v_stride,
                                const int16_t *u, int32_t *m);
typedef void (*i8_wino_output_fn)(const i8_conv2d_params *p, const int32_t *m, size_t t0,
                                  size_t nt, size_t j0, size_t nc, const int32_t *bias,
                                  const float *mult, void *y, const i8_post *po);
typedef struct {
    const char *name; /* "avx2", "neon", "emu" */
    int32_t needs_avx2;
    int32_t post_inline; /* its epilogue applies the post-ops (else the driver runs them) */
    i8_wino_input_fn input;
    i8_wino_gemm_fn gemm;
    i8_wino_output_fn output;
} i8_wino_kernel;

extern const i8_wino_kernel i8_wino_kernel__emu;
#if defined(__x86_64__) || defined(__i386__)
extern const i8_wino_kernel i8_wino_kernel__avx2;
#endif
#if defined(__aarch64__)
extern const i8_wino_kernel i8_wino_kernel__neon;
#endif

/* The kernel a packed stream runs with: AVX2 on the x86 paths from avx2 up, NEON on aarch64,
 * else the portable one (a stream runs under every path, as gemm panels do). */
const i8_wino_kernel *i8_wino_kernel_default(void);

/* Work units of a run (tile-row blocks x channel chunks) and units [u0, u1) of them. */
size_t i8_wino_units(const i8_conv2d_params *p);
void i8_wino_run_units(const i8_wino_kernel *kd, const i8_conv2d_params *p, const void *packed,
                       const int8_t *x, void *y, void *scratch, size_t u0, size_t u1,
                       const i8_post *po);

/* Tests: conv2d (no post-ops) through Winograd with the named kernel set ("avx2", "neon", "emu"),
 * whatever the path: 0, or -1 shape not covered, -2 bound check failed, -3 set unknown or not
 * runnable here, -4 out of memory. */
int32_t i8_wino_conv2d_with(const i8_conv2d_params *p, const int8_t *w, const int32_t *bias,
                            const float *mult, const int8_t *x, void *y, const char *kernel);

#endif
