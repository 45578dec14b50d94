/* The gemm driver: one row / column blocking for every kernel set (gemm.h, docs/KERNELS.md
 * "gemm"), the table of kernel sets, and which set each path packs and runs. The kernel set is
 * looked up once per gemm call, never per tile. */
#include <string.h>

#include "int8rt/cpu.h"
#include "kernels/gemm/gemm.h"

#define SET(NAME, LAYOUT, CPU, NATIVE, MR, KU, AELEM, PACK_A)                                 \
    {#NAME, LAYOUT, CPU, NATIVE, MR, KU, AELEM, PACK_A, i8_gemm_tiles__##NAME, NULL, 0}
/* a set whose tiles also come as `_rows` functions (any number of rows per call) */
#define SET_ROWS(NAME, LAYOUT, CPU, NATIVE, MR, KU, AELEM, PACK_A)                            \
    {#NAME, LAYOUT, CPU, NATIVE, MR, KU, AELEM, PACK_A, i8_gemm_tiles__##NAME,                \
     i8_gemm_rows__##NAME, 0}
/* a set exact only on panels whose weights all have |w| <= W_MAX (gemm.h, w_le64) */
#define SET_W(NAME, LAYOUT, CPU, NATIVE, MR, KU, AELEM, PACK_A, W_MAX)                         \
    {#NAME, LAYOUT, CPU, NATIVE, MR, KU, AELEM, PACK_A, i8_gemm_tiles__##NAME, NULL, W_MAX}

/* rows of the avx2ubs tiles (tools/gen_gemm_tiles.py) */
#define AVX2UBS_MR 6

/* Every set compiled in. Native x86 sets prepare rows with AVX2 code (every VNNI CPU has
 * AVX2); the _emu sets with portable code, so they run on any host. */
static const i8_gemm_kernel KERNELS[] = {
    SET(scalar, I8_GEMM_ROWS, I8_GEMM_CPU_ANY, 1, 2, 16, 0, NULL),
#if defined(I8_GEMM_HAVE_NEON)
    SET(neon, I8_GEMM_ROWS, I8_GEMM_CPU_NEON, 1, I8_NEON_GEMM_MR, 16, 0, NULL),
    SET(neon_pair, I8_GEMM_ROWS, I8_GEMM_CPU_NEON, 1, I8_NEON_GEMM_MR, 16, 0, NULL),
#endif
#if defined(I8_GEMM_HAVE_NEONDOT) /* aarch64 */
    SET_ROWS(neonmlal, I8_GEMM_K4N16S, I8_GEMM_CPU_NEON, 1, 2, 4, 4, i8_gemm_pack_a_s8x4),
    SET_ROWS(neonmull, I8_GEMM_K4N16S, I8_GEMM_CPU_NEON, 1, 2, 4, 4, i8_gemm_pack_a_s8x4),
    SET(neondot, I8_GEMM_ROWS, I8_GEMM_CPU_NEONDOT, 1, I8_NEON_GEMM_MR, 16, 0, NULL),
    SET(neondot4, I8_GEMM_K4N16S, I8_GEMM_CPU_NEONDOT, 1, 5, 4, 1, i8_gemm_pack_a_s8),
#endif
#if defined(I8_GEMM_HAVE_SSE2)
    SET(sse2, I8_GEMM_K2N16, I8_GEMM_CPU_ANY, 1, 6, 2, 8, i8_gemm_pack_a_i16x4),
#endif
#if defined(I8_GEMM_HAVE_X86)
    SET(avx2, I8_GEMM_K2N16, I8_GEMM_CPU_AVX2, 1, 6, 2, 2, i8_gemm_pack_a_i16__avx2),
    SET_W(avx2ubs, I8_GEMM_K4N16, I8_GEMM_CPU_AVX2, 1, AVX2UBS_MR, 4, 1, i8_gemm_pack_a_u8__avx2,
          64),
#if defined(I8_GEMM_HAVE_AVXVNNI_VEX)
    SET(avxvnni, I8_GEMM_K4N16, I8_GEMM_CPU_AVXVNNI, 1, 6, 4, 1, i8_gemm_pack_a_u8__avx2),
#endif
    SET(avxvnni_evex, I8_GEMM_K4N16, I8_GEMM_CPU_AVX512VNNI, 1, 6, 4, 1,
        i8_gemm_pack_a_u8__avx2),
    SET(avx512vnni, I8_GEMM_K4N16, I8_GEMM_CPU_AVX512VNNI, 1, 8, 4, 1, i8_gemm_pack_a_u8__avx2),
#endif
    SET(avx2_emu, I8_GEMM_K2N16, I8_GEMM_CPU_ANY, 0, 6, 2, 2, i8_gemm_pack_a_i16),
    SET_W(avx2ubs_emu, I8_GEMM_K4N16, I8_GEMM_CPU_ANY, 0, AVX2UBS_MR, 4, 1, i8_gemm_pack_a_u8,
          64),
    SET(avxvnni_emu, I8_GEMM_K4N16, I8_GEMM_CPU_ANY, 0, 6, 4, 1, i8_gemm_pack_a_u8),
    SET(avx512vnni_emu, I8_GEMM_K4N16, I8_GEMM_CPU_ANY, 0, 8, 4, 1, i8_gemm_pack_a_u8),
    SET(neondot4_emu, I8_GEMM_K4N16S, I8_GEMM_CPU_ANY, 0, 5, 4, 1, i8_gemm_pack_a_s8),
    SET_ROWS(neonmlal_emu, I8_GEMM_K4N16S, I8_GEMM_CPU_ANY, 0, 2, 4, 4, i8_gemm_pack_a_s8x4),
    SET_ROWS(neonmull_emu, I8_GEMM_K4N16S, I8_GEMM_CPU_ANY, 0, 2, 4, 4, i8_gemm_pack_a_s8x4),
};
#define NKERNELS (sizeof KERNELS / sizeof KERNELS[0])

static const i8_gemm_kernel *by_name(const char *name) {
    for (size_t i = 0; i < NKERNELS; i++)
        if (!strcmp(KERNELS[i].name, name)) return &KERNELS[i];
    return NULL;
}

const i8_gemm_kernel *i8_gemm_kernels(size_t *count) {
    *count = NKERNELS;
    return KERNELS;
}

int32_t i8_gemm_kernel_runnable(const i8_gemm_kernel *kd) {
    const i8_cpu_features *f = i8_cpu_features_cached();
    switch (kd->cpu) {
    case I8_GEMM_CPU_ANY: return 1;
    case I8_GEMM_CPU_AVX2: return f->avx2;
    case I8_GEMM_CPU_AVXVNNI: return f->avx2 && f->avx_vnni;
    case I8_GEMM_CPU_AVX512VNNI: return f->avx2 && f->avx512_vnni;
    case I8_GEMM_CPU_NEON: return f->neon;
    case I8_GEMM_CPU_NEONDOT: return f->neon && f->neon_dot;
    default: return 0;
    }
}

int32_t i8_gemm_layout_for(int32_t isa) {
    switch (isa) {
#if defined(I8_GEMM_HAVE_SSE2)
    case I8_ISA_SCALAR: return I8_GEMM_K2N16; /* the baseline's SSE2 tiles */
#endif
#if defined(I8_GEMM_HAVE_X86)
    case I8_ISA_AVX2: return I8_GEMM_K2N16;
    case I8_ISA_AVX_VNNI:
    case I8_ISA_AVX512_VNNI: return I8_GEMM_K4N16;
#endif
#if defined(I8_GEMM_HAVE_NEONDOT) /* aarch64 (armv7 NEON keeps the ROWS 2x4 tiles) */
    case I8_ISA_NEON: return I8_GEMM_K4N16S;     /* neonmlal: smull + smlal pair tiles */
    case I8_ISA_NEON_DOT: return I8_GEMM_K4N16S; /* neondot4: lane-broadcast sdot tiles */
#endif
    default: return I8_GEMM_ROWS;
    }
}

/* The path's own set when it wants `layout`, else the layout's portable set (a panel packed
 * under another path: tests sweeping paths, an INT8RT_ISA cap set between pack and run). */
const i8_gemm_kernel *i8_gemm_kernel_for(int32_t isa, int32_t layout) {
    const char *name = "scalar";
    if (i8_gemm_layout_for(isa) == layout) {
        switch (isa) {
        case I8_ISA_SCALAR: name = layout == I8_GEMM_K2N16 ? "sse2" : "scalar"; break;
        case I8_ISA_NEON: name = layout == I8_GEMM_K4N16S ? "neonmlal" : "neon"; break;
        case I8_ISA_NEON_DOT: name = layout == I8_GEMM_K4N16S ? "neondot4" : "neondot"; break;
        case I8_ISA_AVX2: name = "avx2"; break;
        /* avxvnni on a CPU with AVX512-VNNI + VL but no AVX-VNNI (AMD Zen 4): the same ymm
         * tiles with the EVEX encoding of vpdpbusd (docs/KERNELS.md) */
        case I8_ISA_AVX_VNNI:
            name = i8_cpu_features_cached()->avx_vnni ? "avxvnni" : "avxvnni_evex";
            break;
        case I8_ISA_AVX512_VNNI: name = "avx512vnni"; break;
        default: break;
        }
    } else if (layout == I8_GEMM_K2N16) {
        name = "avx2_emu";
    } else if (layout == I8_GEMM_K4N16) {
        name = "avx512vnni_emu";
    } else if (layout == I8_GEMM_K4N16S) {
        name = "neondot4_emu";
    }
    const i8_gemm_kernel *kd = by_name(name);
    if (!kd) /* a native set this compiler could not build: the layout's portable set */
        kd = by_name(layout == I8_GEMM_K2N16    ? "avx2_emu"
                     : layout == I8_GEMM_K4N16  ? "avx512vnni_emu"
                     : layout == I8_GEMM_K4N16S ? "neondot4_emu"
                                                : "scalar");
    return kd;
}

/* Portable loop over any layout, for a caller without enough scratch (slow, rare). */
static int32_t weight_at(const i8_gemm_panel *pn, size_t j, size_t i) {
    const size_t kp = (size_t)pn->kp;
    switch (pn->layout) {
    case I8_GEMM_K2N16:
        return ((const int16_t *)pn->w)[(j / 16) * 16 * kp + (i / 2) * 32 + (j % 16) * 2 + i % 2];
    case I8_GEMM_K4N16:
    case I8_GEMM_K4N16S:
        return ((const int8_t *)pn->w)[(j / 16) * 16 * kp + (i / 4) * 64 + (j % 16) * 4 + i % 4];
    default: return ((const int8_t *)pn->w)[j * kp + i];
    }
}

static void gemm_portable(const i8_gemm_panel *pn, size_t m, const int8_t *a, size_t a_stride,
                          unsigned char *c, size_t c_row) {
    i8_rq_params rq = i8_rq_params_init(pn->y_zp, pn->qmin, pn->qmax, pn->out_f32);
    rq.post = pn->post;
    const size_t esz = pn->out_f32 ? sizeof(float) : 1;
    /* the K4N16 bias also cancels 128 * sum(w): add it back over the readable k */
    const int32_t off = pn->layout == I8_GEMM_K4N16 ? 128 : 0;
    for (size_t i = 0; i < m; i++)
        for (size_t j = 0; j < (size_t)pn->n; j++) {
            uint32_t acc = 0;
            for (size_t q = 0; q < (size_t)pn->k; q++)
                acc += (uint32_t)((a[i * a_stride + q] + off) * weight_at(pn, j, q));
            const int32_t s = (int32_t)acc;
            i8_requant_row__scalar(&rq, &s, pn->bias + j, pn->mult + j, c + i * c_row + j * esz,
                                   1);
        }
}

/* The widest tile whose columns all exist: nr <= the remaining channels rounded up to the
 * narrowest tile (the panel pads channels to 16, the ROWS layout to 4). */
static const i8_gemm_tile *tile_for(const i8_gemm_tile *tiles, size_t rem) {
    const i8_gemm_tile *t = tiles;
    size_t narrow = tiles[0].nr;
    for (const i8_gemm_tile *u = tiles; u->nr; u++) narrow = u->nr;
    const size_t have = I8_ALIGN_UP(rem, narrow);
    while (t[1].nr && t->nr > have) t++;
    return t;
}

/* Byte offset of channel j (a multiple of 4) in the packed weights: ROWS rows of kp bytes;
 * K2N16 / K4N16 blocks of 16 channels (16 * kp * 2 or 16 * kp bytes), 4 bytes per channel
 * and k group inside a block (an 8-wide tile may start mid-block). */
static size_t weight_offset(const i8_gemm_panel *pn, size_t j) {
    if (pn->layout == I8_GEMM_ROWS) return j * (size_t)pn->kp;
    const size_t block = (size_t)pn->kp * 16 * (pn->layout == I8_GEMM_K2N16 ? 2 : 1);
    return j / 16 * block + j % 16 * 4;
}

#define WEIGHTS_IN_L1_BYTES 24576
#define MAX_COL_BLOCKS 128
/* prepared rows per _rows call on the rows-outer path: half a 32 KB L1D (Cortex-A53 / A72),
 * so a chunk stays cached across its column blocks */
#define ROWS_CHUNK_BYTES 16384

/* Rows [0, m) of a (prepared or raw) against every channel: each tile covers mr rows and the
 * widest fitting column block. Loop order: when all the weights fit in L1 (small K and N:
 * MobileNet's 1x1 convolutions) each row tile meets every column block while its rows are in
 * L1; otherwise each column block (in L1) meets every row tile of the block (in L2). */
/* The ymm sets' epilogue (requant/avx2.h) has no post-ops; it works on 16 bytes at a time: its table lookup costs
 * per 16 bytes what a separate pass costs per 32 (measured: YOLOv8n 5 % slower with it in the
 * tiles), and its residual add measured 1-2 % slower than the separate add kernel. So their
 * post-ops run over each row block's output right after the block (i8_post_rows__avx2, 32
 * bytes per step, the block still in L1/L2): the separate passes' arithmetic without their
 * trip through memory. */
static int post_after_block(const i8_gemm_kernel *kd, const i8_gemm_panel *pn) {
#if defined(I8_GEMM_HAVE_NEON)
    /* The NEON tiles' epilogues (neon_tile.h, prim_neon.h) have no post-ops: they run over
     * each row block's output right after the block, 16 bytes per step (i8_post_rows__neon:
     * TBL lookup, the add in NEON). */
    return pn->post && kd->native &&
           (kd->cpu == I8_GEMM_CPU_NEON || kd->cpu == I8_GEMM_CPU_NEONDOT);
#elif defined(__x86_64__) || defined(__i386__)
    if (!pn->post || !kd->native) return 0;
    if (kd->cpu == I8_GEMM_CPU_AVX2 || kd->cpu == I8_GEMM_CPU_AVXVNNI ||
        !strcmp(kd->name, "avxvnni_evex"))
        return 1;
    /* the zmm epilogue adds the residual in registers, but a table costs less in a pass of
     * 64 bytes per step after the block (i8_post_rows__avx512vbmi; without VBMI the AVX2 one)
     * than 16 bytes at a time in the epilogue (measured YOLOv8n 2 % slower) */
    return kd->cpu == I8_GEMM_CPU_AVX512VNNI && pn->post->lut;
#else
    (void)kd;
    (void)pn;
    return 0;
#endif
}

static void run_block_tiles(const i8_gemm_kernel *kd, const i8_gemm_panel *pn, size_t m,
                            size_t kc, const void *a, size_t a_stride, unsigned char *c,
                            size_t c_row);

/* The set's tile looped over whole 16-channel blocks in one call (gemm.h), or NULL: for
 * row tiles of `rows` rows (1 or up to MR), with float32 output or not. The MR-row one takes
 * int8 output only; a single row has its own (the MR-row tile would compute it MR times). */
static i8_gemm_cols_ukernel cols_for(const i8_gemm_kernel *kd, size_t rows, int32_t out_f32) {
#if defined(I8_GEMM_HAVE_NEONDOT)
    if (kd->tiles == i8_gemm_tiles__neondot4)
        return rows == 1 ? i8_gemm_1x16c4_cols__neondot4
                         : out_f32 ? NULL : i8_gemm_5x16c4_cols__neondot4;
#endif
    if (kd->tiles == i8_gemm_tiles__neondot4_emu)
        return rows == 1 ? i8_gemm_1x16c4_cols__neondot4_emu
                         : out_f32 ? NULL : i8_gemm_5x16c4_cols__neondot4_emu;
    return NULL;
}

static void run_block(const i8_gemm_kernel *kd, const i8_gemm_panel *pn, size_t m, size_t kc,
                      const void *a, size_t a_stride, unsigned char *c, size_t c_row) {
#if defined(I8_GEMM_HAVE_NEON)
    if (post_after_block(kd, pn)) {
        i8_gemm_panel q = *pn;
        q.post = NULL;
        run_block_tiles(kd, &q, m, kc, a, a_stride, c, c_row);
        i8_post_rows__neon(pn->post, (int8_t *)c, m, (size_t)pn->n, c_row);
        return;
    }
#elif defined(__x86_64__) || defined(__i386__)
    if (post_after_block(kd, pn)) {
        i8_gemm_panel q = *pn;
        q.post = NULL;
        run_block_tiles(kd, &q, m, kc, a, a_stride, c, c_row);
        if (pn->post->vbmi && kd->cpu == I8_GEMM_CPU_AVX512VNNI)
            i8_post_rows__avx512vbmi(pn->post, (int8_t *)c, m, (size_t)pn->n, c_row);
        else
            i8_post_rows__avx2(pn->post, (int8_t *)c, m, (size_t)pn->n, c_row);
        return;
    }
#endif
    run_block_tiles(kd, pn, m, kc, a, a_stride, c, c_row);
}

static void run_block_tiles(const i8_gemm_kernel *kd, const i8_gemm_panel *pn, size_t m,
                            size_t kc, const void *a, size_t a_stride, unsigned char *c,
                            size_t c_row) {
    const size_t n = (size_t)pn->n, mr = kd->mr, esz = pn->out_f32 ? sizeof(float) : 1;
    const unsigned char *ab = a;
    i8_gemm_params p;
    p.rq = i8_rq_params_init(pn->y_zp, pn->qmin, pn->qmax, pn->out_f32);
    p.rq.post = pn->post;
    const size_t wbytes = I8_ALIGN_UP(n, 16) * kc * (pn->layout == I8_GEMM_K2N16 ? 2 : 1);
    if (wbytes <= WEIGHTS_IN_L1_BYTES) {
        /* the column blocks once, not per row tile: with small k (MobileNet's 1x1 expansions,
         * k = 16..32) the tile choice and offsets cost a fifth of the tile itself */
        /* each block's params (bias and mult from its channel on) and output offset made
         * here too, so a call in the row loop only loads its arguments (MobileNetV2 on avx2,
         * tens of thousands of tile calls per inference: this function 1.49 M -> 1.16 M
         * instructions, measured under qemu) */
        struct {
            i8_gemm_ukernel fn;
            size_t nc, j, c_off;
            const unsigned char *w;
            i8_gemm_params p;
        } cb[MAX_COL_BLOCKS];
        size_t nb = 0;
        for (size_t j = 0; j < n && nb < MAX_COL_BLOCKS; nb++) {
            const i8_gemm_tile *t = tile_for(kd->tiles, n - j);
            cb[nb].fn = t->fn;
            cb[nb].nc = n - j < t->nr ? n - j : t->nr;
            cb[nb].j = j;
            cb[nb].c_off = j * esz;
            cb[nb].w = pn->w + weight_offset(pn, j);
            cb[nb].p = p;
            cb[nb].p.bias = pn->bias + j;
            cb[nb].p.mult = pn->mult + j;
            j += cb[nb].nc;
        }
        if (cb[nb - 1].j + cb[nb - 1].nc == n && kd->rows) {
            /* the sets with _rows functions: per chunk of rows that stays in L1, one call
             * per column block (the per-tile setup once per chunk, not per row tile) */
            size_t chunk = ROWS_CHUNK_BYTES / (a_stride ? a_stride : 1) / mr * mr;
            if (chunk < mr) chunk = mr;
            for (size_t b = 0; b < nb; b++) cb[b].fn = tile_for(kd->rows, n - cb[b].j)->fn;
            for (size_t i = 0; i < m; i += chunk) {
                const size_t rows = m - i < chunk ? m - i : chunk;
                const unsigned char *ai = ab + i * a_stride;
                unsigned char *ci = c + i * c_row;
                for (size_t b = 0; b < nb; b++)
                    cb[b].fn(rows, cb[b].nc, kc, ai, a_stride, cb[b].w, ci + cb[b].c_off, c_row,
                             &cb[b].p);
            }
            return;
        }
        if (cb[nb - 1].j + cb[nb - 1].nc == n) {
            const i8_gemm_cols_ukernel cols_mr = cols_for(kd, mr, pn->out_f32),
                                       cols_1 = cols_for(kd, 1, pn->out_f32);
            if (!cols_mr && !cols_1) {
                for (size_t i = 0; i < m; i += mr) {
                    const size_t rows = m - i < mr ? m - i : mr;
                    const unsigned char *ai = ab + i * a_stride;
                    unsigned char *ci = c + i * c_row;
                    for (size_t b = 0; b < nb; b++)
                        cb[b].fn(rows, cb[b].nc, kc, ai, a_stride, cb[b].w, ci + cb[b].c_off,
                                 c_row, &cb[b].p);
                }
                return;
            }
            /* whole 16-channel blocks (cb[0, n / 16): tile_for picks 16 while 16 remain) in
             * one call per row tile: the per-tile costs once per row tile (MobileNetV2's
             * k = 16..32 layers on sdot, docs/KERNELS.md) */
            const size_t wblock = weight_offset(pn, 16);
            for (size_t i = 0; i < m; i += mr) {
                const size_t rows = m - i < mr ? m - i : mr;
                const unsigned char *ai = ab + i * a_stride;
                unsigned char *ci = c + i * c_row;
                const i8_gemm_cols_ukernel cols = rows == 1 ? cols_1 : cols_mr;
                const size_t nfull = cols ? n / 16 : 0;
                if (nfull)
                    cols(rows, nfull, kc, ai, a_stride, pn->w, wblock, ci, c_row, &cb[0].p);
                for (size_t b = nfull; b < nb; b++)
                    cb[b].fn(rows, cb[b].nc, kc, ai, a_stride, cb[b].w, ci + cb[b].c_off, c_row,
                             &cb[b].p);
            }
            return;
        }
        for (size_t i = 0; i < m; i += mr) { /* more column blocks than cb holds */
            const size_t rows = m - i < mr ? m - i : mr;
            for (size_t j = 0; j < n;) {
                const i8_gemm_tile *t = tile_for(kd->tiles, n - j);
                const size_t nc = n - j < t->nr ? n - j : t->nr;
                p.bias = pn->bias + j;
                p.mult = pn->mult + j;
                t->fn(rows, nc, kc, ab + i * a_stride, a_stride, pn->w + weight_offset(pn, j),
                      c + i * c_row + j * esz, c_row, &p);
                j += nc;
            }
        }
        return;
    }
    /* whole 16-channel blocks in groups whose weights fit in L1, each group met by every
     * row tile in one call per row tile (the rows stay in L2 as below), where the set has
     * such calls for every row tile; the rest one tile at a time */
    size_t j = 0;
    const i8_gemm_cols_ukernel cols_mr = cols_for(kd, mr, pn->out_f32),
                               cols_1 = cols_for(kd, 1, pn->out_f32);
    if (cols_1 && (m == 1 || cols_mr)) { /* every row tile has one */
        const size_t wblock = weight_offset(pn, 16), full = n / 16;
        const size_t group = WEIGHTS_IN_L1_BYTES / wblock ? WEIGHTS_IN_L1_BYTES / wblock : 1;
        for (size_t b0 = 0; b0 < full; b0 += group) {
            const size_t nblk = full - b0 < group ? full - b0 : group;
            p.bias = pn->bias + 16 * b0;
            p.mult = pn->mult + 16 * b0;
            for (size_t i = 0; i < m; i += mr) {
                const size_t rows = m - i < mr ? m - i : mr;
                (rows == 1 ? cols_1 : cols_mr)(rows, nblk, kc, ab + i * a_stride, a_stride,
                                               pn->w + b0 * wblock, wblock,
                                               c + i * c_row + 16 * b0 * esz, c_row, &p);
            }
        }
        j = 16 * full;
    }
    while (j < n) {
        const i8_gemm_tile *t = tile_for(kd->tiles, n - j);
        const size_t nc = n - j < t->nr ? n - j : t->nr;
        p.bias = pn->bias + j;
        p.mult = pn->mult + j;
        const unsigned char *w = pn->w + weight_offset(pn, j);
        if (kd->rows) { /* every row of the block in one call */
            tile_for(kd->rows, n - j)->fn(m, nc, kc, ab, a_stride, w, c + j * esz, c_row, &p);
            j += nc;
            continue;
        }
        for (size_t i = 0; i < m; i += mr) {
            const size_t rows = m - i < mr ? m - i : mr;
            t->fn(rows, nc, kc, ab + i * a_stride, a_stride, w, c + i * c_row + j * esz, c_row,
                  &p);
        }
        j += nc;
    }
}

/* kd, or the set that replaces it on this panel: never the int16 pairs on a panel with a -128
 * weight (gemm.h, w_m128), nor the vpmaddubsw tiles on one with a weight beyond 64 (w_le64):
 * not exact there */
static const i8_gemm_kernel *exact_for(const i8_gemm_kernel *kd, const i8_gemm_panel *pn) {
    if (kd->w_max && !pn->w_le64) return by_name("avx512vnni_emu"); /* K4N16's portable set */
    if (!pn->w_m128) return kd;
#if defined(I8_GEMM_HAVE_NEON)
    if (kd->tiles == i8_gemm_tiles__neon_pair) return by_name("neon");
#endif
#if defined(I8_GEMM_HAVE_NEONDOT)
    if (kd->tiles == i8_gemm_tiles__neonmlal) return by_name("neonmull");
#endif
    /* the portable twins swap as the NEON sets do */
    if (kd->tiles == i8_gemm_tiles__neonmlal_emu) return by_name("neonmull_emu");
    return kd;
}

void i8_gemm_run(const i8_gemm_kernel *kd, const i8_gemm_panel *pn, size_t m, const int8_t *a,
                 size_t a_stride, void *c, size_t c_stride) {
    kd = exact_for(kd, pn);
    unsigned char *cb = c;
    /* c rows in bytes: the epilogue writes int8 or float32 elements */
    const size_t c_row = c_stride * (pn->out_f32 ? sizeof(float) : 1);
    if (m == 0 || pn->n <= 0) return;
    if (!kd->pack_a) {
        /* ROWS tiles read the raw rows, k tail included, in blocks of about 16 KB of a that
         * stay in L1/L2 while every channel block streams past them */
        size_t mb = 16384 / ((size_t)pn->k + 1);
        mb = mb < kd->mr ? kd->mr : mb - mb % kd->mr;
        for (size_t i0 = 0; i0 < m; i0 += mb)
            run_block(kd, pn, m - i0 < mb ? m - i0 : mb, (size_t)pn->k, a + i0 * a_stride,
                      a_stride, cb + i0 * c_row, c_row);
        return;
    }
    /* prepared rows: kc = kp elements each, 64-byte aligned, blocks of whole tiles */
    const size_t kc = (size_t)pn->kp, row = kc * kd->a_elem;
    if (kd->pack_a == i8_gemm_pack_a_s8 && (size_t)pn->k == kc) {
        /* s8 tiles read raw int8 rows: when the caller's rows already hold kp readable bytes
         * (im2col rows; 1x1 convolutions and fc with k a multiple of 16) the copy would be
         * the identity. Blocks of I8_GEMM_A_BLOCK_BYTES keep the rows in L2 as below. */
        size_t mb = I8_GEMM_A_BLOCK_BYTES / kc;
        mb = mb < kd->mr ? kd->mr : mb - mb % kd->mr;
        for (size_t i0 = 0; i0 < m; i0 += mb)
            run_block(kd, pn, m - i0 < mb ? m - i0 : mb, kc, (const unsigned char *)a + i0 * a_stride,
                      a_stride, cb + i0 * c_row, c_row);
        return;
    }
    const uintptr_t p0 = (uintptr_t)pn->scratch, p1 = (p0 + 63) & ~(uintptr_t)63;
    const size_t avail = pn->scratch && pn->scratch_bytes > p1 - p0 ? pn->scratch_bytes - (p1 - p0)
                                                                    : 0;
    size_t mb = I8_GEMM_A_BLOCK_BYTES / row;
    mb = mb < kd->mr ? kd->mr : mb - mb % kd->mr;
    if (mb * row > avail) mb = avail / row / kd->mr * kd->mr;
    if (mb == 0 && avail / row >= m) mb = m; /* fewer rows than a tile: they all fit */
    if (mb == 0) {
        gemm_portable(pn, m, a, a_stride, cb, c_row);
        return;
    }
    unsigned char *rows = (unsigned char *)p1;
    /* The K4N16S tiles (NEON) take a dot length of k rounded up to 8, not kp: with k = 24
     * (MobileNetV2) they skip the last 8 bytes of padding (gen_gemm_tiles.py, lane_tail /
     * pair_tail); the rows stay kp wide. */
    const size_t kdot = pn->layout == I8_GEMM_K4N16S ? I8_ALIGN_UP((size_t)pn->k, 8) : kc;
    for (size_t i0 = 0; i0 < m; i0 += mb) {
        const size_t cnt = m - i0 < mb ? m - i0 : mb;
        kd->pack_a(cnt, a + i0 * a_stride, a_stride, (size_t)pn->k, kc, rows);
        run_block(kd, pn, cnt, kdot < kc ? kdot : kc, rows, row, cb + i0 * c_row, c_row);
    }
}

void i8_gemm_run_rows(const i8_gemm_kernel *kd, const i8_gemm_panel *pn, size_t m,
                      const void *rows, size_t row_bytes, void *c, size_t c_stride) {
    if (m == 0 || pn->n <= 0) return;
    run_block(kd, pn, m, (size_t)pn->kp, rows, row_bytes, c,
              c_stride * (pn->out_f32 ? sizeof(float) : 1));
}

const i8_gemm_kernel *i8_gemm_kernel_for_panel(const i8_gemm_panel *pn) {
    const int32_t isa = i8_isa_current();
    const i8_gemm_kernel *kd = i8_gemm_kernel_for(isa, pn->layout);
#if defined(I8_GEMM_HAVE_X86)
    /* a K4N16 panel of weights within [-64, 64] on the avx2 path: u8 x s8 vpmaddubsw, exact
     * there (gemm.h, w_le64), whichever path packed it */
    if (isa == I8_ISA_AVX2 && pn->layout == I8_GEMM_K4N16 && pn->w_le64) kd = by_name("avx2ubs");
#endif
#if defined(I8_GEMM_HAVE_NEON)
    /* the neon set with two products per int16 lane, when every weight is in [-127, 127]
     * (a K4N16S panel with a -128 weight: neonmull instead of neonmlal) */
    if (!pn->w_m128 && !strcmp(kd->name, "neon")) kd = by_name("neon_pair");
#endif
    return exact_for(kd, pn);
}

void i8_gemm(const i8_gemm_panel *pn, size_t m, const int8_t *a, size_t a_stride, void *c,
             size_t c_stride) {
    i8_gemm_run(i8_gemm_kernel_for_panel(pn), pn, m, a, a_stride, c, c_stride);
}
