/* int8 GEMM core shared by fc, conv2d (1x1 and im2col) and dynq (docs/KERNELS.md, "gemm").
 *
 *   c[i, j] = i8_requantize(sum_k a[i, k] * w[j, k] + bias[j], mult[j], y_zp, qmin, qmax)
 * or, with out_f32 (the float32 epilogue of kernels.h), c[i, j] float32 = float32(acc) * mult[j].
 *
 * `a` holds raw int8 activations: the input zero point is not subtracted in the loop because
 * the pack step folds -x_zp * sum_k w[j, k] into bias[j] (docs/QUANTIZATION.md §3), so the
 * inner loop is a plain int8 dot product and padding taps that read x_zp contribute zero.
 *
 * ---- Packed panel (i8_gemm_pack), every section 64-byte aligned relative to the panel start:
 *   header (64 B: layout) | bias [n16] int32 (folded, see below) | mult [n16] float32 | weights
 * in one of three layouts, chosen at pack time from the current path and recorded in the header
 * (kp = k rounded up to I8_GEMM_KB, n4 / n16 = n rounded up to 4 / 16; padding is zero):
 *   I8_GEMM_ROWS   int8 [n4][kp]: one channel's k taps contiguous (scalar without SSE2, armv7
 *                  NEON)
 *   I8_GEMM_K2N16  int16 [n16 / 16][kp / 2][16][2]: per 16-channel block and k pair, the 16
 *                  channels' two taps side by side (avx2, and the scalar path on x86-64 with
 *                  SSE2: pmaddwd of a broadcast int16 activation pair)
 *   I8_GEMM_K4N16  int8 [n16 / 16][kp / 4][16][4]: per 16-channel block and k quad, the 16
 *                  channels' four taps (avxvnni, avx512vnni: vpdpbusd of a broadcast u8 quad)
 *   I8_GEMM_K4N16S the K4N16 bytes for s8 x s8 dots on the raw int8 rows (aarch64: neondot4,
 *                  sdot by element, NEON-dotprod; neonmlal / neonmull, smull + smlal, NEON)
 * On the avx2 path a panel whose weights all have |w| <= 64 is packed K4N16 rather than K2N16
 * (i8_gemm_pack, "w_le64" below): its u8 x s8 vpmaddubsw tiles (avx2ubs) are exact there.
 * K2N16 and K4N16 are both "16-channel blocks of 4-byte groups", so one template serves them
 * (a block of one k group is 64 bytes: one zmm, two ymm). The folded bias is
 * bias - x_zp * sum(w) for ROWS, K2N16 and K4N16S, and bias - (x_zp + 128) * sum(w) for K4N16 (the
 * u8 activations are x + 128). It is stored modulo 2^32: the kernels add it with wrapping
 * arithmetic, so the result is exact whenever the true accumulator fits int32 (the bound
 * lowering enforces), even if the folded constant alone would not. The size does not depend
 * on the layout (the largest), and a panel runs under any path: the path's kernel when it
 * wants that layout, else the layout's portable kernel (dispatch.c).
 *
 * ---- Micro-kernels: ONE signature for every tile of every ISA ------------------------------
 *   void i8_gemm_<MR>x<NR>c<KU>__<isa>(size_t mr, size_t nc, size_t kc, const void *a,
 *        size_t a_stride, const void *w, void *c, size_t c_stride, const i8_gemm_params *p)
 * rows [0, mr <= MR) of a (row stride a_stride bytes) times channels [0, nc <= NR) of the
 * packed weights w (the tile's first channel) into c (row stride c_stride bytes, int8 or
 * float32 elements), through the epilogue p (bias / mult of the tile's first channel). kc is
 * the dot length; KU the k unroll (ROWS tiles: 16, reading raw int8 rows with a k tail; the
 * broadcast tiles: 2 or 4, reading rows the kernel's pack_a prepared: int16 for K2N16, x ^ 0x80
 * for K4N16, zero-padded to kc = kp). Only the driver (dispatch.c) calls them.
 *
 * ---- Adding an ISA (docs/KERNELS.md, "Adding an ISA") ---------------------------------------
 * A broadcast-family ISA provides, in a prim_<arch>.h, the primitive set <isa>_vec, _zero,
 * _loadw (4 bytes per lane of packed weights), _bcast (one 4-byte activation group to every
 * lane), _dot (acc + per-lane group dot, wrapping int32), _rq / _rq_init / _store16 (the
 * requant/ epilogue of 16 channels), plus an entry in tools/gen_gemm_tiles.py (tile shapes),
 * an i8_gemm_kernel descriptor in dispatch.c and its path in cpu.c. A portable _emu set of the
 * same dot keeps its tiles testable on every host. */
#ifndef INT8RT_GEMM_H
#define INT8RT_GEMM_H

#include <stddef.h>
#include <stdint.h>

#include "int8rt/kernels.h"
#include "kernels/requant/requant.h"

#define I8_GEMM_MR 2  /* rows of the ROWS micro-tile */
#define I8_GEMM_NR 4  /* output channels of the ROWS micro-tile */
#define I8_GEMM_KB 16 /* k block: weight rows are padded to a multiple of this */
#define I8_GEMM_MR_MAX 16 /* no tile has more rows (scratch sizing) */
#define I8_GEMM_A_ELEM_MAX 8 /* no prepared a element is wider (sse2: int16 x 4) */
/* Prepared activation rows per block: about 128 KB, which stay in L2 (512 KB-1 MB per core on
 * current x86) beside one weight block while every weight block streams past them. Measured
 * on the AVX2 int16 rows (1024^3, 1024x1024x256): 64-256 KB were within noise of each other,
 * 32 KB and 512 KB slower. */
#define I8_GEMM_A_BLOCK_BYTES 131072

/* gcc 12 at -O2 vectorises a small channel loop on its own but not once it is inlined into
 * a deep loop nest; kernels mark such loops' functions I8_NOINLINE. */
#if defined(__GNUC__)
#define I8_NOINLINE __attribute__((noinline))
#else
#define I8_NOINLINE
#endif

#define I8_ALIGN_UP(x, a) (((x) + (size_t)(a) - 1) / (size_t)(a) * (size_t)(a))

enum { I8_GEMM_ROWS = 1, I8_GEMM_K2N16 = 2, I8_GEMM_K4N16 = 3, I8_GEMM_K4N16S = 4 };

typedef struct {
    const int32_t *bias; /* of the tile's first channel (16 readable entries from there) */
    const float *mult;
    i8_rq_params rq;
} i8_gemm_params;

typedef void (*i8_gemm_ukernel)(size_t mr, size_t nc, size_t kc, const void *a, size_t a_stride,
                                const void *w, void *c, size_t c_stride,
                                const i8_gemm_params *p);
/* A tile looped over nb whole 16-channel blocks (w_block bytes apart in w; p: the first
 * block's bias / mult): the K4N16S sdot set's per-tile costs once per row tile
 * (tools/gen_gemm_tiles.py, lane_cols: MR rows, int8 output; lane_cols1: one row, int8 or
 * float32 output). */
typedef void (*i8_gemm_cols_ukernel)(size_t mr, size_t nb, size_t kc, const void *a,
                                     size_t a_stride, const void *w, size_t w_block, void *c,
                                     size_t c_stride, const i8_gemm_params *p);
/* `rows` activation rows of k int8 (row stride src_stride) -> rows of kc prepared elements
 * (zero-padded beyond k), contiguous in dst. */
typedef void (*i8_gemm_pack_a_fn)(size_t rows, const int8_t *src, size_t src_stride, size_t k,
                                  size_t kc, void *dst);

typedef struct {
    uint32_t nr;
    i8_gemm_ukernel fn;
} i8_gemm_tile;

/* A kernel set: the tiles of one ISA for one layout, and how to feed them. */
typedef struct {
    const char *name; /* "avx512vnni", "avx512vnni_emu", ... (the tile names' suffix) */
    int32_t layout;
    int32_t cpu;     /* I8_GEMM_CPU_*: what the CPU must have to run it (dispatch.c) */
    int32_t native;  /* 0: a portable emulation of an ISA's dot primitive */
    uint32_t mr, ku;
    uint32_t a_elem; /* bytes per prepared a element; 0: tiles read the raw a rows */
    i8_gemm_pack_a_fn pack_a;
    const i8_gemm_tile *tiles; /* widest first, {0, NULL}-terminated */
    /* NULL, or the same widths as tiles over any number of rows (mr = the row count): the
     * per-tile setup (bias, epilogue constants, the call) once per call, not per row tile
     * (the NEON quad-pair sets: tools/gen_gemm_tiles.py, pair_rows) */
    const i8_gemm_tile *rows;
    /* 0: exact for every int8 weight; 64: exact only on panels whose weights all have
     * |w| <= 64 (pn->w_le64; avx2ubs: vpmaddubsw's saturating int16 pair sums) */
    int32_t w_max;
} i8_gemm_kernel;

enum {
    I8_GEMM_CPU_ANY = 0,
    I8_GEMM_CPU_AVX2,
    I8_GEMM_CPU_AVXVNNI,      /* VEX vpdpbusd */
    I8_GEMM_CPU_AVX512VNNI,   /* EVEX vpdpbusd, zmm and (VL) ymm */
    I8_GEMM_CPU_NEON,
    I8_GEMM_CPU_NEONDOT,
};

typedef struct {
    int32_t layout;
    int32_t n;  /* output channels */
    int32_t k;  /* dot-product length the caller's rows have readable (k or kp) */
    int32_t kp; /* weight row stride (k rounded up to I8_GEMM_KB) */
    const int32_t *bias;
    const float *mult;
    const unsigned char *w; /* weights in `layout` */
    int32_t y_zp, qmin, qmax;
    int32_t out_f32; /* c is float32 (acc * mult), else int8 (requantized) */
    /* 1 if some weight is -128 (outside the [-127, 127] contract of docs/QUANTIZATION.md §2; a
     * foreign model may hold one): the NEON sets that add two products in int16 (smull +
     * smlal: "neon_pair", "neonmlal" and its twin) must not run it (i8_gemm / i8_gemm_run
     * pick "neon", "neonmull", "neondot4_emu") */
    int32_t w_m128;
    /* 1 if every weight has |w| <= 64 (header bytes 8-11): a u8 x s8 pair sum of vpmaddubsw
     * is then at most 2 * 255 * 64 = 32,640 < 2^15, so it never saturates and the avx2ubs
     * tiles are exact (7-bit weights: ORT's reduce_range, quantize(..., reduce_range=True)) */
    int32_t w_le64;
    /* Per-call work space for the prepared activation rows; callers set it to
     * i8_gemm_scratch_size bytes of their scratch. NULL (or too small) is still correct: the
     * driver then runs a slow portable loop. */
    void *scratch;
    size_t scratch_bytes;
    /* fused post-ops of an int8 output (requant/requant.h; NULL: none): the portable, sse2
     * and zmm tiles apply them in their epilogue (zmm: the residual add only), the driver
     * runs the rest over each row block's output (ymm sets, zmm tables: dispatch.c) or each
     * tile's (NEON) */
    const i8_post *post;
} i8_gemm_panel;

size_t i8_gemm_packed_size(int32_t n, int32_t k);
/* w: n rows of k int8, row stride w_stride; bias may be NULL (zero). Packs for the current
 * path (i8_gemm_pack_layout_for: on avx2, K4N16 when every |w| <= 64); i8_gemm_pack_layout
 * packs a given layout (tests). */
void i8_gemm_pack(int32_t n, int32_t k, const int8_t *w, size_t w_stride, const int32_t *bias,
                  const float *mult, int32_t x_zp, void *packed);
void i8_gemm_pack_layout(int32_t layout, int32_t n, int32_t k, const int8_t *w, size_t w_stride,
                         const int32_t *bias, const float *mult, int32_t x_zp, void *packed);
/* Bytes of pn->scratch that let every kernel run at full speed on up to m rows of k. */
size_t i8_gemm_scratch_size(size_t m, int32_t k);
/* Points `pn` at a packed panel; sets pn->k = k (the caller may raise it to kp). */
void i8_gemm_panel_init(i8_gemm_panel *pn, int32_t n, int32_t k, const void *packed,
                        int32_t y_zp, int32_t qmin, int32_t qmax, int32_t out_f32);

/* The entry fc, conv2d and dynq use: m rows of a (row stride a_stride) into m rows of c (row
 * stride c_stride elements), with the kernel set of the current path (int8rt/cpu.h) for the
 * panel's layout. */
void i8_gemm(const i8_gemm_panel *pn, size_t m, const int8_t *a, size_t a_stride, void *c,
             size_t c_stride);
/* The same with a given kernel set (tests and benchmarks sweep them); kd->layout must equal
 * pn->layout and the CPU must run kd (i8_gemm_kernel_runnable). */
void i8_gemm_run(const i8_gemm_kernel *kd, const i8_gemm_panel *pn, size_t m, const int8_t *a,
                 size_t a_stride, void *c, size_t c_stride);
/* Rows the caller prepared itself in kd's format (kd->pack_a's output: kc = pn->kp elements of
 * kd->a_elem bytes each, zero beyond k, 64-byte aligned rows `row_bytes` apart; the dynamic
 * matmul quantizes float rows straight into it): every channel of the panel, as i8_gemm_run
 * does for one block of rows. */
void i8_gemm_run_rows(const i8_gemm_kernel *kd, const i8_gemm_panel *pn, size_t m,
                      const void *rows, size_t row_bytes, void *c, size_t c_stride);

/* Every kernel set compiled in (native and emulated), and whether this CPU can run one. */
const i8_gemm_kernel *i8_gemm_kernels(size_t *count);
int32_t i8_gemm_kernel_runnable(const i8_gemm_kernel *kd);
/* The layout path `isa` packs, and the kernel set it runs `layout` with. */
int32_t i8_gemm_layout_for(int32_t isa);
/* The layout i8_gemm_pack writes for these weights on path `isa`: i8_gemm_layout_for(isa),
 * except K4N16 on avx2 when every |w| <= 64 (its avx2ubs tiles: a property of the weights,
 * so the results are those of every other path, bit for bit) */
int32_t i8_gemm_pack_layout_for(int32_t isa, int32_t n, int32_t k, const int8_t *w,
                                size_t w_stride);
const i8_gemm_kernel *i8_gemm_kernel_for(int32_t isa, int32_t layout);
/* The set i8_gemm runs pn with on the current path (the w_m128 exceptions included). */
const i8_gemm_kernel *i8_gemm_kernel_for_panel(const i8_gemm_panel *pn);

/* Peak int8 dot-product throughput loop of path `isa` (peak.c): runs `iters` iterations and
 * returns the int8 operations executed (multiply-add = 2); 0 if the CPU lacks the path. */
double i8_peak_ops(int32_t isa, int64_t iters);

/* ROWS tiles (hand-written: horizontal sums per tile; scalar.c, neon_tile.h). */
void i8_gemm_2x4c16__scalar(size_t mr, size_t nc, size_t kc, const void *a, size_t a_stride,
                            const void *w, void *c, size_t c_stride, const i8_gemm_params *p);
extern const i8_gemm_tile i8_gemm_tiles__scalar[];
#if defined(__aarch64__) || (defined(__arm__) && defined(__ARM_FP) && !defined(__SOFTFP__))
#define I8_GEMM_HAVE_NEON 1
/* rows per NEON tile: 4x4 on aarch64 (16 accumulators of 32 registers), 2x4 on armv7 (16) */
#if defined(__aarch64__)
#define I8_NEON_GEMM_MR 4
#else
#define I8_NEON_GEMM_MR 2
#endif
void i8_gemm_2x4c16__neon(size_t mr, size_t nc, size_t kc, const void *a, size_t a_stride,
                          const void *w, void *c, size_t c_stride, const i8_gemm_params *p);
extern const i8_gemm_tile i8_gemm_tiles__neon[];
extern const i8_gemm_tile i8_gemm_tiles__neon_pair[]; /* smull + smlal pairs: w_m128 == 0 */
#endif
#if defined(__aarch64__)
#define I8_GEMM_HAVE_NEONDOT 1
void i8_gemm_2x4c16__neondot(size_t mr, size_t nc, size_t kc, const void *a, size_t a_stride,
                             const void *w, void *c, size_t c_stride, const i8_gemm_params *p);
extern const i8_gemm_tile i8_gemm_tiles__neondot[];
extern const i8_gemm_tile i8_gemm_tiles__neondot4[]; /* generated: K4N16S, lane-broadcast sdot */
void i8_gemm_5x16c4_cols__neondot4(size_t mr, size_t nb, size_t kc, const void *a,
                                   size_t a_stride, const void *w, size_t w_block, void *c,
                                   size_t c_stride, const i8_gemm_params *p);
void i8_gemm_1x16c4_cols__neondot4(size_t mr, size_t nb, size_t kc, const void *a,
                                   size_t a_stride, const void *w, size_t w_block, void *c,
                                   size_t c_stride, const i8_gemm_params *p);
/* generated, K4N16S on Armv8.0 NEON: smull + smlal pairs (w_m128 == 0) / smull per product */
extern const i8_gemm_tile i8_gemm_tiles__neonmlal[];
extern const i8_gemm_tile i8_gemm_rows__neonmlal[];
extern const i8_gemm_tile i8_gemm_tiles__neonmull[];
extern const i8_gemm_tile i8_gemm_rows__neonmull[];
#endif

/* Generated broadcast tiles (tools/gen_gemm_tiles.py -> tiles_<set>.c). */
#if defined(__x86_64__) || defined(__i386__)
#define I8_GEMM_HAVE_X86 1
/* VEX vpdpbusd (target("avxvnni"), _mm256_dpbusd_avx_epi32) needs gcc 11 / clang 12; older
 * compilers build without the `avxvnni` set, and an AVX-VNNI-only CPU then runs K4N16 panels
 * with the portable set (slow but exact; the path stays selectable). */
#if (defined(__clang__) && __clang_major__ >= 12) || (!defined(__clang__) && __GNUC__ >= 11)
#define I8_GEMM_HAVE_AVXVNNI_VEX 1
#endif
#if defined(__SSE2__) /* always on x86-64: the scalar path's K2N16 tiles */
#define I8_GEMM_HAVE_SSE2 1
extern const i8_gemm_tile i8_gemm_tiles__sse2[];
#endif
extern const i8_gemm_tile i8_gemm_tiles__avx2[];
extern const i8_gemm_tile i8_gemm_tiles__avx2ubs[]; /* K4N16 panels with w_le64 */
extern const i8_gemm_tile i8_gemm_tiles__avxvnni[];
extern const i8_gemm_tile i8_gemm_tiles__avxvnni_evex[];
extern const i8_gemm_tile i8_gemm_tiles__avx512vnni[];
void i8_gemm_pack_a_i16__avx2(size_t rows, const int8_t *src, size_t src_stride, size_t k,
                              size_t kc, void *dst);
void i8_gemm_pack_a_u8__avx2(size_t rows, const int8_t *src, size_t src_stride, size_t k,
                             size_t kc, void *dst);
#endif
extern const i8_gemm_tile i8_gemm_tiles__avx2_emu[];
extern const i8_gemm_tile i8_gemm_tiles__avx2ubs_emu[];
extern const i8_gemm_tile i8_gemm_tiles__avxvnni_emu[];
extern const i8_gemm_tile i8_gemm_tiles__avx512vnni_emu[];
extern const i8_gemm_tile i8_gemm_tiles__neondot4_emu[];
void i8_gemm_5x16c4_cols__neondot4_emu(size_t mr, size_t nb, size_t kc, const void *a,
                                       size_t a_stride, const void *w, size_t w_block, void *c,
                                       size_t c_stride, const i8_gemm_params *p);
void i8_gemm_1x16c4_cols__neondot4_emu(size_t mr, size_t nb, size_t kc, const void *a,
                                       size_t a_stride, const void *w, size_t w_block, void *c,
                                       size_t c_stride, const i8_gemm_params *p);
extern const i8_gemm_tile i8_gemm_tiles__neonmlal_emu[];
extern const i8_gemm_tile i8_gemm_rows__neonmlal_emu[];
extern const i8_gemm_tile i8_gemm_tiles__neonmull_emu[];
extern const i8_gemm_tile i8_gemm_rows__neonmull_emu[];
void i8_gemm_pack_a_i16(size_t rows, const int8_t *src, size_t src_stride, size_t k, size_t kc,
                        void *dst);
void i8_gemm_pack_a_u8(size_t rows, const int8_t *src, size_t src_stride, size_t k, size_t kc,
                       void *dst);
/* raw int8 rows zero-padded to kc (the s8 x s8 K4N16S tiles) */
void i8_gemm_pack_a_s8(size_t rows, const int8_t *src, size_t src_stride, size_t k, size_t kc,
                       void *dst);
/* every k quad broadcast to 16 bytes (the neonmlal / neonmull tiles) */
void i8_gemm_pack_a_s8x4(size_t rows, const int8_t *src, size_t src_stride, size_t k, size_t kc,
                         void *dst);
void i8_gemm_pack_a_i16x4(size_t rows, const int8_t *src, size_t src_stride, size_t k, size_t kc,
                          void *dst);

#endif
