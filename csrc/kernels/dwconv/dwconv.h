/* Depthwise convolution, NHWC (groups == c == oc): see docs/KERNELS.md, "dwconv".
 *
 * Packed stream (after the conv2d header), sections 64-byte aligned, cs = c rounded up to 16,
 * np = ceil(kh * kw / 2) tap pairs:
 *   bias [cs] int32, zero-point corrected (bias - x_zp * sum over taps of w, §3)
 *   mult [cs] float32
 *   w    [kh * kw][cs] int8 (tap-major so the scalar loop runs over contiguous channels)
 *   w16  [cs / 16][np][2][16] int16: per block of 16 channels and pair of taps (2t, 2t + 1),
 *        the two vectors vpmaddwd multiplies with the interleaved activations of the pair
 *        (avx2.c: "lo" = channels 0-3 | 8-11, "hi" = 4-7 | 12-15, each channel's two taps
 *        side by side; a missing odd last tap has weight 0)
 *   w4   x86, 3x3 kernels only: [cs / 16] blocks of I8_DWCONV_W4_BLOCK bytes, per block 3 vectors
 *        [16 channels][4] int8 (kernel column kx: w[ky = 0..2][kx] and a zero filler byte)
 *        and the int32 bias' [16] = bias - 128 * sum(w) (col3x3_x86.c: vpdpbusd of u8 x + 128)
 *   w16c  x86, 3x3 kernels only: [cs / 16] blocks of I8_DWCONV_W16C_BLOCK bytes, per block 14
 *        vectors of 32 bytes (scalar.c i8_dwconv_pack has the lane order): the int16
 *        vpmaddwd pairs (w[0][kx], w[1][kx]) per kx, (w[2][0], w[2][1]), (w[2][2], 0), then
 *        the folded bias as int32 and mult as float32 (col3x3_x86.c, AVX2 set)
 *   flags [64 bytes]: int32 w_m128, 1 when some weight is -128 (the NEON pair kernel's exact
 *        fallback, neon.c: recorded at pack time, so a run, or each of its row tasks, does not
 *        scan the weights)
 * Both weight layouts are always present (depthwise weights are small), so a stream packed
 * under any path runs under every path.
 * Scratch: acc [cs] int32 + a row of cs bytes holding x_zp, read in place of padding taps;
 * on aarch64 also the column buffer and weight columns of neondot.c.
 *
 * Kernels compute output rows [r0, r1) of the n * oh output rows (row r = image r / oh, output
 * row r % oh), writing exactly those rows of y, so threads can split a run by rows; each call
 * uses only its own scratch. */
#ifndef INT8RT_DWCONV_H
#define INT8RT_DWCONV_H

#include <stddef.h>
#include <stdint.h>

#include "int8rt/kernels.h"
#include "kernels/requant/requant.h"

enum { I8_DWCONV_W4_BLOCK = 4 * 64, I8_DWCONV_W16C_BLOCK = 14 * 32 };
size_t i8_dwconv_packed_size(const i8_conv2d_params *p);
/* w: natural layout [c, kh, kw, 1]; bias may be NULL (zero). */
void i8_dwconv_pack(const i8_conv2d_params *p, const int8_t *w, const int32_t *bias,
                    const float *mult, void *packed);
size_t i8_dwconv_scratch_size(const i8_conv2d_params *p);

/* Section pointers of a packed stream (for the kernels). */
typedef struct {
    const int32_t *bias;
    const float *mult;
    const int8_t *w;
    const int16_t *w16;
    const unsigned char *w4;   /* x86 3x3 only, else NULL */
    const unsigned char *w16c; /* x86 3x3 only, else NULL */
    size_t cs, npairs;
    int32_t w_m128; /* some weight is -128 */
} i8_dwconv_packed;
void i8_dwconv_sections(const i8_conv2d_params *p, const void *packed, i8_dwconv_packed *s);

/* y: int8, or float32 when p->out_f32 (kernels.h); rows [r0, r1) of n * oh; post: the fused
 * post-ops of an int8 y (requant/requant.h), NULL: none */
void i8_dwconv__scalar(const i8_conv2d_params *p, const void *packed, const int8_t *x,
                       void *y, void *scratch, size_t r0, size_t r1, const i8_post *post);
#if defined(__x86_64__) || defined(__i386__)
void i8_dwconv__avx2(const i8_conv2d_params *p, const void *packed, const int8_t *x, void *y,
                     void *scratch, size_t r0, size_t r1, const i8_post *post);
void i8_dwconv__avx512vnni(const i8_conv2d_params *p, const void *packed, const int8_t *x,
                           void *y, void *scratch, size_t r0, size_t r1, const i8_post *post);
/* 3x3, dilation 1, stride_w 1 or 2 (i8_dwconv_3x3_covers): the column kernel, one template
 * (col3x3_tile.h) instantiated per primitive set (col3x3_x86.c, col3x3_emu.c), weights from
 * the w4 section. avx512vnni: zmm vpdpbusd, with the fused post-ops */
int i8_dwconv_3x3_covers(const i8_conv2d_params *p);
void i8_dwconv_3x3__avx512vnni(const i8_conv2d_params *p, const void *packed, const int8_t *x,
                               void *y, void *scratch, size_t r0, size_t r1,
                               const i8_post *post);
/* avxvnni path on CPUs with AVX-VNNI: ymm VEX vpdpbusd; post must be NULL (dispatch.c runs
 * the post-ops after the rows); _built: 0 if the compiler lacks AVX-VNNI (then unused) */
int i8_dwconv_3x3__avxvnni_built(void);
void i8_dwconv_3x3__avxvnni(const i8_conv2d_params *p, const void *packed, const int8_t *x,
                            void *y, void *scratch, size_t r0, size_t r1, const i8_post *post);
/* every x86 CPU (avx2 path, and avxvnni without AVX-VNNI): ymm vpmaddwd over int16 pairs,
 * weights from the w16c section; post must be NULL (dispatch.c) */
void i8_dwconv_3x3__avx2(const i8_conv2d_params *p, const void *packed, const int8_t *x,
                         void *y, void *scratch, size_t r0, size_t r1, const i8_post *post);
/* the zmm set emulated in portable C (col3x3_emu.c; tests): no dispatch target */
void i8_dwconv_3x3__avx512vnni_emu(const i8_conv2d_params *p, const void *packed,
                                   const int8_t *x, void *y, void *scratch, size_t r0,
                                   size_t r1, const i8_post *post);
#endif
#if defined(__aarch64__) || (defined(__arm__) && defined(__ARM_FP) && !defined(__SOFTFP__))
/* no post-ops: i8_dwconv_run applies them to the rows it wrote */
void i8_dwconv__neon(const i8_conv2d_params *p, const void *packed, const int8_t *x, void *y,
                     void *scratch, size_t r0, size_t r1);
#endif
#if defined(__aarch64__)
/* SDOT over interleaved columns (neondot.c); its column buffer holds NEONDOT_COLS columns */
enum { NEONDOT_COLS = 128 };
void i8_dwconv__neondot(const i8_conv2d_params *p, const void *packed, const int8_t *x, void *y,
                        void *scratch, size_t r0, size_t r1);
/* its scratch beyond the portable kernel's (i8_dwconv_scratch_size includes it) */
size_t i8_dwconv_neondot_scratch(const i8_conv2d_params *p);
#endif
/* that twin over a whole conv2d stream, rows [0, n * oh), no post-ops; -1 if the stream is
 * not a depthwise 3x3 one the column kernel covers, or off x86 (_native.dwconv_3x3_emu) */
int i8_dwconv_3x3_emu_conv2d(const i8_conv2d_params *p, const void *conv_packed,
                             const int8_t *x, void *y, void *scratch);
/* The depthwise stream inside a conv2d stream (conv/conv2d.c), NULL if it holds none. */
const void *i8_conv2d_dw_stream(const i8_conv2d_params *p, const void *conv_packed);
/* The kernel of the current path (int8rt/cpu.h). */
void i8_dwconv_run(const i8_conv2d_params *p, const void *packed, const int8_t *x, void *y,
                   void *scratch, size_t r0, size_t r1, const i8_post *post);

#endif
