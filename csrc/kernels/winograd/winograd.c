/* Winograd F(2x2, 3x3): shape and bound checks, weight packing, and the driver (blocking,
 * work units, post-ops) over one kernel set (winograd.h; the arithmetic is documented there
 * and in docs/KERNELS.md). The per-ISA transforms and gemm are wino_tile.h instantiated in
 * wino_avx2.c and wino_emu.c. */
#include <stdlib.h>
#include <string.h>

#include "int8rt/cpu.h"
#include "kernels/gemm/gemm.h"
#include "kernels/winograd/winograd.h"

/* V scratch per block: about this many bytes of transformed input (16 positions x tiles x
 * channels, int16), which stay in L2 while every 16-channel block of U' passes over them */
#define WINO_V_BYTES 196608
/* fewer tile-row blocks than this: split the channels too, so the threads have work */
#define WINO_MIN_BLOCKS 8

static size_t oc16_of(const i8_conv2d_params *p) { return I8_ALIGN_UP((size_t)p->oc, 16); }
static size_t cp16_of(const i8_conv2d_params *p) { return I8_ALIGN_UP((size_t)p->c, 16); }
static size_t kc2_of(const i8_conv2d_params *p) { return ((size_t)p->c + 1) / 2; }
static size_t vec_bytes(const i8_conv2d_params *p) { return I8_ALIGN_UP(oc16_of(p) * 4, 64); }

int32_t i8_wino_covers(const i8_conv2d_params *p) {
    return p->kh == 3 && p->kw == 3 && p->stride_h == 1 && p->stride_w == 1 && p->dil_h == 1 &&
           p->dil_w == 1 && p->groups == 1 && !(p->c == 1 && p->oc == 1);
}

int32_t i8_wino_wanted(const i8_conv2d_params *p) {
    /* INT8RT_WINOGRAD=0: pack im2col instead (A/B benchmarks in one process, a way out) */
    const char *env = getenv("INT8RT_WINOGRAD");
    if (env && !strcmp(env, "0")) return 0;
    /* avx2 only: there the exact int16 vpmaddwd tile does 2.25x fewer of them (the VNNI
     * paths' vpdpbusd does 4 int8 products per lane and stays ahead: docs/KERNELS.md). Whole
     * 16-channel input blocks only: with a channel tail (c = 8, 24) the transform's partial
     * loads cost more than the saved products (bench/winograd_ab.py: 2.7x and 1.07x the
     * im2col time; c = 16: 0.81x, c >= 32: 0.55-0.9x) */
#if defined(__aarch64__)
    /* Armv8.0 NEON without dotprod: smlal by lane (4 products per instruction) against the
     * smull + smlal pair tiles (16 per 3), a smaller margin than AVX2's: also skip images whose
     * 2x2 tiles are mostly partial (7x7: 49 of 64 outputs; under qemu cortex-a72 1.07x the
     * im2col instructions, 14x14 0.91x, 28x28 0.78x: bench/arm_gemm_icount.py) */
    if (i8_isa_current() == I8_ISA_NEON) {
        const int64_t tiles = (int64_t)((p->oh + 1) / 2) * ((p->ow + 1) / 2);
        return p->c % 16 == 0 && 5 * (int64_t)p->oh * p->ow >= 4 * 4 * tiles;
    }
#endif
    return i8_isa_current() == I8_ISA_AVX2 && p->c % 16 == 0;
}

int32_t i8_wino_bound_ok(const i8_conv2d_params *p, const int8_t *w) {
    const size_t k = (size_t)9 * (size_t)p->c;
    for (int32_t j = 0; j < p->oc; j++) {
        int64_t s = 0;
        for (size_t i = 0; i < k; i++) s += abs(w[(size_t)j * k + i]);
        /* |Y'| <= 4 * 128 * s must stay below 2^31 */
        if (s * 512 >= ((int64_t)1 << 31)) return 0;
    }
    return 1;
}

size_t i8_wino_packed_size(const i8_conv2d_params *p) {
    return 2 * vec_bytes(p) + (size_t)16 * oc16_of(p) * kc2_of(p) * 2 * sizeof(int16_t);
}

void i8_wino_pack(const i8_conv2d_params *p, const int8_t *w, const int32_t *bias,
                  const float *mult, void *packed) {
    const size_t c = (size_t)p->c, nb = oc16_of(p) / 16, kc2 = kc2_of(p);
    unsigned char *base = packed;
    int32_t *pb = (int32_t *)base;
    float *pm = (float *)(base + vec_bytes(p));
    int16_t *pu = (int16_t *)(base + 2 * vec_bytes(p));
    memset(packed, 0, i8_wino_packed_size(p));
    /* G' = 2 G (rows: 2 0 0 / 1 1 1 / 1 -1 1 / 0 0 2) */
    static const int32_t g2[4][3] = {{2, 0, 0}, {1, 1, 1}, {1, -1, 1}, {0, 0, 2}};
    for (int32_t j = 0; j < p->oc; j++) {
        const int8_t *wj = w + (size_t)j * 9 * c;
        int64_t sum = 0;
        for (size_t i = 0; i < 9 * c; i++) sum += wj[i];
        /* bias - x_zp * sum(w) modulo 2^32, as the gemm panels fold it (gemm.h) */
        pb[j] = (int32_t)((uint32_t)(bias ? bias[j] : 0) -
                          (uint32_t)((int64_t)p->x_zp * sum));
        pm[j] = mult[j];
        for (size_t ci = 0; ci < c; ci++) {
            int32_t g[3][3], t[4][3];
            for (int a = 0; a < 3; a++)
                for (int b = 0; b < 3; b++) g[a][b] = wj[((size_t)a * 3 + b) * c + ci];
            for (int i = 0; i < 4; i++)
                for (int b = 0; b < 3; b++)
                    t[i][b] = g2[i][0] * g[0][b] + g2[i][1] * g[1][b] + g2[i][2] * g[2][b];
            for (int i = 0; i < 4; i++)
                for (int jj = 0; jj < 4; jj++) {
                    /* |U'| <= 9 * 128: int16 */
                    const int32_t u = t[i][0] * g2[jj][0] + t[i][1] * g2[jj][1] +
                                      t[i][2] * g2[jj][2];
                    const size_t xi = (size_t)(4 * i + jj);
                    pu[((xi * nb + (size_t)j / 16) * kc2 + ci / 2) * 32 + (size_t)(j % 16) * 2 +
                       ci % 2] = (int16_t)u;
                }
        }
    }
}

/* ---- blocking ----------------------------------------------------------------------------
 * Tiles are numbered (n, ty, tx) over th = ceil(oh / 2) x tw = ceil(ow / 2) per image; a block
 * is `rows` consecutive tile rows (its output pixels are consecutive NHWC rows of y), sized so
 * that its V fits WINO_V_BYTES (at least one tile row). A unit is a block x a chunk of the
 * 16-channel blocks. */
typedef struct {
    size_t th, tw, tile_rows, rows, blocks, nb, chunks;
} wino_geom;

static void geom_of(const i8_conv2d_params *p, wino_geom *g) {
    g->th = ((size_t)p->oh + 1) / 2;
    g->tw = ((size_t)p->ow + 1) / 2;
    g->tile_rows = (size_t)p->n * g->th;
    size_t tiles = WINO_V_BYTES / (16 * 2 * cp16_of(p));
    if (tiles < 4 * I8_WINO_MR) tiles = 4 * I8_WINO_MR;
    size_t rows = tiles / g->tw;
    if (rows < 1) rows = 1;
    /* up to twice that: the fewest tile rows whose tiles leave the fewest empty rows in the
     * 6-row gemm micro-tiles (14x14: 7 tiles a row, 3 rows = 21 tiles ran 6 + 6 + 6 + 3; 6
     * rows fill 7) */
    g->rows = rows;
    size_t waste = (I8_WINO_MR - rows * g->tw % I8_WINO_MR) % I8_WINO_MR;
    for (size_t r = rows + 1; r <= 2 * rows && r <= g->tile_rows && waste; r++) {
        const size_t w = (I8_WINO_MR - r * g->tw % I8_WINO_MR) % I8_WINO_MR;
        if (w < waste) g->rows = r, waste = w;
    }
    if (g->rows > g->tile_rows) g->rows = g->tile_rows;
    g->blocks = (g->tile_rows + g->rows - 1) / g->rows;
    g->nb = oc16_of(p) / 16;
    g->chunks = 1;
    if (g->blocks < WINO_MIN_BLOCKS) {
        g->chunks = (WINO_MIN_BLOCKS + g->blocks - 1) / g->blocks;
        if (g->chunks > g->nb) g->chunks = g->nb;
    }
}

static size_t v_bytes(const i8_conv2d_params *p, const wino_geom *g) {
    return I8_ALIGN_UP((size_t)16 * g->rows * g->tw * cp16_of(p) * sizeof(int16_t), 64);
}

size_t i8_wino_scratch_size(const i8_conv2d_params *p) {
    wino_geom g;
    geom_of(p, &g);
    /* V, then M [16][tiles][16] int32, + 64 to align the start */
    return 64 + v_bytes(p, &g) + (size_t)16 * g.rows * g.tw * 16 * sizeof(int32_t);
}

size_t i8_wino_units(const i8_conv2d_params *p) {
    wino_geom g;
    geom_of(p, &g);
    return g.blocks * g.chunks;
}

const i8_wino_kernel *i8_wino_kernel_default(void) {
#if defined(__x86_64__) || defined(__i386__)
    /* every x86 path from avx2 up has AVX2 (cpu.c offers them only then) */
    const int32_t isa = i8_isa_current();
    if (isa == I8_ISA_AVX2 || isa == I8_ISA_AVX_VNNI || isa == I8_ISA_AVX512_VNNI)
        return &i8_wino_kernel__avx2;
#endif
#if defined(__aarch64__)
    return &i8_wino_kernel__neon; /* Advanced SIMD is the aarch64 baseline */
#endif
    return &i8_wino_kernel__emu;
}

void i8_wino_run_units(const i8_wino_kernel *kd, const i8_conv2d_params *p, const void *packed,
                       const int8_t *x, void *y, void *scratch, size_t u0, size_t u1,
                       const i8_post *po) {
    wino_geom g;
    geom_of(p, &g);
    const size_t cp16 = cp16_of(p), kc2 = kc2_of(p), oc = (size_t)p->oc;
    const unsigned char *base = packed;
    const int32_t *bias = (const int32_t *)base;
    const float *mult = (const float *)(base + vec_bytes(p));
    const int16_t *u = (const int16_t *)(base + 2 * vec_bytes(p));
    unsigned char *sb = (unsigned char *)I8_ALIGN_UP((uintptr_t)scratch, 64);
    int16_t *v = (int16_t *)sb;
    int32_t *m = (int32_t *)(sb + v_bytes(p, &g));
    if (u1 > g.blocks * g.chunks) u1 = g.blocks * g.chunks;
    size_t un = u0;
    while (un < u1) {
        /* units un.. of one block are consecutive chunks: one input transform for them */
        const size_t b = un / g.chunks, c_lo = un % g.chunks;
        const size_t c_hi = c_lo + (u1 - un) < g.chunks ? c_lo + (u1 - un) : g.chunks;
        un += c_hi - c_lo;
        const size_t tr0 = b * g.rows;
        const size_t tr1 = tr0 + g.rows < g.tile_rows ? tr0 + g.rows : g.tile_rows;
        const size_t t0 = tr0 * g.tw, nt = (tr1 - tr0) * g.tw;
        kd->input(p, x, t0, nt, v, cp16);
        const size_t jb0 = c_lo * g.nb / g.chunks, jb1 = c_hi * g.nb / g.chunks;
        for (size_t jb = jb0; jb < jb1; jb++) {
            for (size_t xi = 0; xi < 16; xi++) {
                const int16_t *uxi = u + (xi * g.nb + jb) * kc2 * 32;
                for (size_t r0 = 0; r0 < nt; r0 += I8_WINO_MR)
                    kd->gemm(nt - r0 < I8_WINO_MR ? nt - r0 : I8_WINO_MR, kc2,
                             v + (xi * nt + r0) * cp16, cp16, uxi, m + (xi * nt + r0) * 16);
            }
            const size_t j0 = jb * 16, nc = oc - j0 < 16 ? oc - j0 : 16;
            kd->output(p, m, t0, nt, j0, nc, bias, mult, y, po);
        }
        if (po && !kd->post_inline && jb1 > jb0) {
            /* the block's output pixels are consecutive rows of y (tile rows tr0 .. tr1) */
            const size_t oh = (size_t)p->oh, ow = (size_t)p->ow;
            const size_t n0 = tr0 / g.th, y0 = 2 * (tr0 % g.th);
            const size_t n1 = (tr1 - 1) / g.th, y1 = 2 * ((tr1 - 1) % g.th) + 2;
            const size_t px0 = (n0 * oh + y0) * ow, px1 = (n1 * oh + (y1 < oh ? y1 : oh)) * ow;
            const size_t j0 = jb0 * 16, j1 = jb1 * 16 < oc ? jb1 * 16 : oc;
            int8_t *yb = (int8_t *)y + px0 * oc + j0;
#if defined(__x86_64__) || defined(__i386__)
            i8_post_rows__avx2(po, yb, px1 - px0, j1 - j0, oc);
#elif defined(__aarch64__)
            i8_post_rows__neon(po, yb, px1 - px0, j1 - j0, oc);
#else
            (void)yb, (void)px1, (void)j1;
#endif
        }
    }
}

int32_t i8_wino_conv2d_with(const i8_conv2d_params *p, const int8_t *w, const int32_t *bias,
                            const float *mult, const int8_t *x, void *y, const char *kernel) {
    const i8_wino_kernel *kd = NULL;
    if (!strcmp(kernel, "emu")) kd = &i8_wino_kernel__emu;
#if defined(__x86_64__) || defined(__i386__)
    if (!strcmp(kernel, "avx2") && i8_cpu_features_cached()->avx2) kd = &i8_wino_kernel__avx2;
#endif
#if defined(__aarch64__)
    if (!strcmp(kernel, "neon")) kd = &i8_wino_kernel__neon;
#endif
    if (!kd) return -3;
    if (!i8_wino_covers(p)) return -1;
    if (!i8_wino_bound_ok(p, w)) return -2;
    void *packed = malloc(i8_wino_packed_size(p)), *scratch = malloc(i8_wino_scratch_size(p));
    if (!packed || !scratch) {
        free(packed);
        free(scratch);
        return -4;
    }
    i8_wino_pack(p, w, bias, mult, packed);
    i8_wino_run_units(kd, p, packed, x, y, scratch, 0, i8_wino_units(p), NULL);
    free(packed);
    free(scratch);
    return 0;
}
