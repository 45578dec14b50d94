/* conv2d (kernels.h): the pack step picks the algorithm and records it in a 64-byte header at
 * the start of the packed stream; run dispatches on it. See docs/KERNELS.md, "conv2d".
 *
 *   I8_CONV_DW      groups == c == oc           -> dwconv (tap-major weights, channel loop)
 *   I8_CONV_1X1     1x1, stride 1, no padding   -> gemm straight over the input rows
 *   I8_CONV_IM2COL  anything else               -> im2col of a tile of output pixels into the
 *                                                  scratch, then one gemm per group
 *   I8_CONV_WINO    3x3, stride 1, dilation 1, one group, on the paths i8_wino_wanted names,
 *                   weights within the bound (winograd/winograd.h): Winograd F(2x2, 3x3).
 *                   Chosen at pack time (an im2col shape packed another way): task counts
 *                   are the im2col ones; the stream's size and scratch are Winograd's, read
 *                   from the header (i8_conv2d_stream_bytes / _stream_scratch_size), so only
 *                   a stream that holds Winograd weights is that large.
 *
 * Stream: header | DW: dwconv stream (dwconv.h) | WINO: winograd stream (winograd.h) |
 * otherwise: `groups` gemm panels (gemm.h), one per group, each over that group's ocg output
 * channels and k = kh * kw * c / groups. */
#include <stdint.h>
#include <string.h>

#include "kernels/dwconv/dwconv.h"
#include "kernels/gemm/gemm.h"
#include "kernels/gemm/split.h"
#include "kernels/winograd/winograd.h"

enum { I8_CONV_DW = 1, I8_CONV_1X1 = 2, I8_CONV_IM2COL = 3, I8_CONV_WINO = 4 };

#define CONV_MAGIC 0x56433849u /* "I8CV" */
#define CONV_HEADER_BYTES 64
/* im2col tile target: small enough for L2 together with one weight block; the gemm prepares
 * it (int16 for K2N16: twice this) in its own part of the scratch */
#define IM2COL_TILE_BYTES 65536

typedef struct {
    uint32_t magic;
    int32_t algo;
    int32_t k;   /* dot length per group, kh * kw * c / groups (in (ky, kx, ci) order) */
    int32_t ocg; /* output channels per group */
    uint64_t group_bytes; /* one gemm panel */
} conv_header;

_Static_assert(sizeof(conv_header) <= CONV_HEADER_BYTES, "conv header too large");

static int choose_algo(const i8_conv2d_params *p) {
    if (p->groups == p->c && p->oc == p->c) return I8_CONV_DW;
    if (p->kh == 1 && p->kw == 1 && p->stride_h == 1 && p->stride_w == 1 && p->pad_t == 0 &&
        p->pad_l == 0 && p->pad_b == 0 && p->pad_r == 0)
        return I8_CONV_1X1;
    return I8_CONV_IM2COL;
}

static int32_t group_k(const i8_conv2d_params *p) { return p->kh * p->kw * (p->c / p->groups); }
static size_t kpad(int32_t k) { return I8_ALIGN_UP((size_t)k, I8_GEMM_KB); }

/* Output pixels per im2col tile: about IM2COL_TILE_BYTES of rows, at least 4 (so huge K still
 * gets 2x4 micro-tiles), at most the whole output. */
static size_t tile_pixels(const i8_conv2d_params *p) {
    const size_t total = (size_t)p->n * p->oh * p->ow;
    size_t t = IM2COL_TILE_BYTES / kpad(group_k(p));
    /* whole micro-tiles: a multiple of every tile height once that is most of it; 65536 / 576
     * = 113 pixels left a 1-row tile per im2col tile at 2 rows a tile. x86: 24 (2, 4, 6, 8
     * rows); aarch64: 20 (neonmlal 2, the ROWS tiles 4, neondot4 5 rows) */
#if defined(__aarch64__)
    if (t >= 40)
        t -= t % 20;
    else if (t >= 10) /* huge k (a 3x3 over 512 channels: 14 pixels): two 5-row tiles */
        t -= t % 10;
#else
    if (t >= 48) t -= t % 24;
#endif
    if (t < 4) t = 4;
    return t < total ? t : total;
}

/* Winograd may be packed for this shape: a build with a path that wants it (x86: avx2;
 * aarch64: neon), an im2col shape it covers. Other builds (armv7, ...) never pack it. */
static int wino_possible(const i8_conv2d_params *p) {
#if defined(__x86_64__) || defined(__i386__) || defined(__aarch64__)
    return choose_algo(p) == I8_CONV_IM2COL && i8_wino_covers(p);
#else
    (void)p;
    return 0;
#endif
}

/* The algorithm i8_conv2d_pack records for p under the current path; w NULL: as if the
 * weights passed Winograd's bound (the largest stream this path may write). */
static int pack_algo(const i8_conv2d_params *p, const int8_t *w) {
    const int algo = choose_algo(p);
    if (algo == I8_CONV_IM2COL && wino_possible(p) && i8_wino_wanted(p) &&
        (!w || i8_wino_bound_ok(p, w)))
        return I8_CONV_WINO;
    return algo;
}

/* Stream bytes of algorithm `algo` for p (header included) */
static size_t algo_bytes(const i8_conv2d_params *p, int algo) {
    switch (algo) {
    case I8_CONV_DW: return CONV_HEADER_BYTES + i8_dwconv_packed_size(p);
    case I8_CONV_WINO: return CONV_HEADER_BYTES + i8_wino_packed_size(p);
    default:
        return CONV_HEADER_BYTES +
               (size_t)p->groups * i8_gemm_packed_size(p->oc / p->groups, group_k(p));
    }
}

/* The header i8_conv2d_pack writes for algorithm `algo` */
static conv_header header_of(const i8_conv2d_params *p, int algo) {
    conv_header h;
    memset(&h, 0, sizeof h);
    h.magic = CONV_MAGIC;
    h.algo = algo;
    h.k = group_k(p);
    h.ocg = p->oc / p->groups;
    if (algo == I8_CONV_1X1 || algo == I8_CONV_IM2COL)
        h.group_bytes = i8_gemm_packed_size(h.ocg, h.k);
    return h;
}

size_t i8_conv2d_packed_size(const i8_conv2d_params *p) {
    return algo_bytes(p, pack_algo(p, NULL));
}

size_t i8_conv2d_packed_size_w(const i8_conv2d_params *p, const int8_t *w) {
    return algo_bytes(p, pack_algo(p, w));
}

int64_t i8_conv2d_stream_bytes(const i8_conv2d_params *p, const void *packed, size_t nbytes) {
    if (!packed || nbytes < CONV_HEADER_BYTES) return -1;
    conv_header h;
    memcpy(&h, packed, sizeof h);
    /* the algorithms a stream for p may record, whatever path packed it: the shape's own, or
     * Winograd for an im2col shape it covers (the kernels run it on every path) */
    const int own = choose_algo(p);
    if (h.algo != own && !(h.algo == I8_CONV_WINO && own == I8_CONV_IM2COL && i8_wino_covers(p)))
        return -1;
    /* the whole 64-byte header as the pack step writes it: magic, k, ocg and the panel size
     * run reads (a stray group_bytes would move every group's panel) */
    unsigned char want[CONV_HEADER_BYTES];
    const conv_header hw = header_of(p, h.algo);
    memset(want, 0, sizeof want);
    memcpy(want, &hw, sizeof hw);
    if (memcmp(want, packed, CONV_HEADER_BYTES)) return -1;
    return (int64_t)algo_bytes(p, h.algo);
}

void i8_conv2d_pack(const i8_conv2d_params *p, const int8_t *w, const int32_t *bias,
                    const float *mult, void *packed) {
    (void)i8_conv2d_pack_n(p, w, bias, mult, packed, SIZE_MAX);
}

size_t i8_conv2d_pack_n(const i8_conv2d_params *p, const int8_t *w, const int32_t *bias,
                        const float *mult, void *packed, size_t nbytes) {
    /* the algorithm is picked once here: the path (set_isa, another thread) or INT8RT_WINOGRAD
     * may change between the caller's size query and this call */
    int algo = pack_algo(p, w);
    if (algo_bytes(p, algo) > nbytes) algo = choose_algo(p);
    if (algo_bytes(p, algo) > nbytes) return 0;
    const conv_header h = header_of(p, algo);
    memset(packed, 0, CONV_HEADER_BYTES);
    unsigned char *body = (unsigned char *)packed + CONV_HEADER_BYTES;
    if (h.algo == I8_CONV_DW) {
        i8_dwconv_pack(p, w, bias, mult, body);
    } else if (h.algo == I8_CONV_WINO) {
        i8_wino_pack(p, w, bias, mult, body);
    } else {
        /* natural weights [oc, kh, kw, c/g]: group g's rows are ocg consecutive rows of k */
        for (int32_t g = 0; g < p->groups; g++)
            i8_gemm_pack(h.ocg, h.k, w + (size_t)g * h.ocg * h.k, (size_t)h.k,
                         bias + (size_t)g * h.ocg, mult + (size_t)g * h.ocg, p->x_zp,
                         body + (size_t)g * h.group_bytes);
    }
    memcpy(packed, &h, sizeof h);
    return algo_bytes(p, algo);
}

static size_t algo_scratch(const i8_conv2d_params *p, int algo) {
    switch (algo) {
    case I8_CONV_DW: return i8_dwconv_scratch_size(p);
    case I8_CONV_1X1: return i8_gemm_scratch_size((size_t)p->n * p->h * p->w, group_k(p));
    case I8_CONV_WINO: return i8_wino_scratch_size(p);
    default:
        return I8_ALIGN_UP(tile_pixels(p) * kpad(group_k(p)), 64) +
               i8_gemm_scratch_size(tile_pixels(p), group_k(p));
    }
}

size_t i8_conv2d_scratch_size(const i8_conv2d_params *p) {
    /* any stream packed for p: the shape's own algorithm, or Winograd where a path packs it */
    const size_t own = algo_scratch(p, choose_algo(p));
    const size_t wino = wino_possible(p) ? algo_scratch(p, I8_CONV_WINO) : 0;
    return own > wino ? own : wino;
}

size_t i8_conv2d_stream_scratch_size(const i8_conv2d_params *p, const void *packed) {
    conv_header h;
    memcpy(&h, packed, sizeof h);
    return algo_scratch(p, h.algo);
}

/* Short copies and fills inline: im2col of a first layer (c = 3) moves 3..21-byte pieces per
 * tap row, where a libc call each cost more than the gemm (measured: MobileNetV2's 3x3 s2 stem
 * took 1.3 ms). Pieces of 4..32 bytes use two overlapping fixed-size moves, which never read
 * or write outside [0, n); longer ones call memcpy / memset. */
static inline void copy_bytes(int8_t *d, const int8_t *s, size_t n) {
    if (n >= 16 && n <= 32) {
        memcpy(d, s, 16);
        memcpy(d + n - 16, s + n - 16, 16);
    } else if (n >= 8 && n < 16) {
        memcpy(d, s, 8);
        memcpy(d + n - 8, s + n - 8, 8);
    } else if (n >= 4 && n < 8) {
        memcpy(d, s, 4);
        memcpy(d + n - 4, s + n - 4, 4);
    } else if (n > 32) {
        /* 32-byte moves and one overlapping last move, inline: the 3x3 rows of ResNet-style
         * layers are 3 * c = 192..1536 bytes, where a libc call per piece cost as much as the
         * copy (measured under qemu: im2col + memcpy were 15 % of a 56x56x64 3x3 conv on
         * the sdot path) */
        const int8_t *const end = s + n - 32;
        if ((n & 63) == 0) {
            /* whole 64-byte steps (3x3 rows of 64..512 channels: 192..1536 bytes): two LDP /
             * STP of q pairs per step, no tail; the general loop below spent about as many
             * instructions on its trip count and tail as on 192 bytes of moves (aarch64) */
            for (const int8_t *const stop = s + n; s < stop; s += 64, d += 64) memcpy(d, s, 64);
            return;
        }
        for (; s < end; s += 32, d += 32) memcpy(d, s, 32); /* one 32-byte load / store pair */
        memcpy(d + (end - s), end, 32); /* the last 1..32 bytes, overlapping what was copied */
    } else {
        for (size_t i = 0; i < n; i++) d[i] = s[i];
    }
}

static inline void fill_bytes(int8_t *d, int8_t v, size_t n) {
    if (n > 32) {
        memset(d, v, n);
        return;
    }
    int8_t pat[16];
    memset(pat, v, sizeof pat); /* constant size: inlined as a register fill */
    if (n >= 16) {
        memcpy(d, pat, 16);
        memcpy(d + n - 16, pat, 16);
    } else if (n >= 8) {
        memcpy(d, pat, 8);
        memcpy(d + n - 8, pat, 8);
    } else if (n >= 4) {
        memcpy(d, pat, 4);
        memcpy(d + n - 4, pat, 4);
    } else {
        for (size_t i = 0; i < n; i++) d[i] = v;
    }
}

/* The x4 form (the rows the neonmlal / neonmull tiles read, gemm.h i8_gemm_pack_a_s8x4): every
 * 4-byte k quad of the row stored 4 times, so a row of kp bytes takes 4 * kp. n is a multiple
 * of 4 and d, s start on a quad of the row. A fill needs no form of its own: x4 of a run of
 * equal bytes is 4 times as many of them. */
#if defined(__aarch64__)
#include <arm_neon.h>
static inline void quads_x4(int8_t *d, int8x16_t v) {
    const int32x4_t x = vreinterpretq_s32_s8(v);
    int32x4x4_t q;
    q.val[0] = vdupq_laneq_s32(x, 0);
    q.val[1] = vdupq_laneq_s32(x, 1);
    q.val[2] = vdupq_laneq_s32(x, 2);
    q.val[3] = vdupq_laneq_s32(x, 3);
    vst1q_s32_x4((int32_t *)(void *)d, q);
}
#endif

static inline void copy_x4(int8_t *d, const int8_t *s, size_t n) {
    size_t i = 0;
#if defined(__aarch64__)
    for (; i + 16 <= n; i += 16) quads_x4(d + 4 * i, vld1q_s8(s + i));
#endif
    for (; i < n; i += 4)
        for (size_t t = 0; t < 4; t++) memcpy(d + 4 * i + 4 * t, s + i, 4);
}

/* Rows [p0, p0 + cnt) of the im2col matrix of group g (one row per output pixel, pixels in
 * NHWC order across the batch), each kp bytes: taps in (ky, kx, ci) order like the weights,
 * out-of-image taps = x_zp (a real zero, cancelled by the folded bias), then zeros up to kp
 * (the packed weights are zero there too). Branches are per tap segment, never per element. */
/* x4: the rows in the x4 form (copy_x4; 4 * kp bytes each), for a kernel set whose pack_a
 * is i8_gemm_pack_a_s8x4, when every piece starts on a quad (c / groups a multiple of 4):
 * one pass instead of im2col and then the gemm's broadcast of the same bytes. */
#define IM2COL_COPY(d, s, n) (x4 ? copy_x4((d), (s), (n)) : copy_bytes((d), (s), (n)))
#define IM2COL_FILL(d, v, n) fill_bytes((d), (v), x4 ? 4 * (n) : (n))
__attribute__((always_inline)) static inline void
im2col_impl(const i8_conv2d_params *p, int32_t g, size_t p0, size_t cnt, size_t kp,
            const int8_t *x, int8_t *dst, const int x4) {
    const size_t e = x4 ? 4 : 1; /* bytes of a row per byte of the im2col row */
    const size_t cg = (size_t)(p->c / p->groups), k = (size_t)group_k(p);
    const size_t row_bytes = (size_t)p->w * p->c;
    /* groups == 1 and dil_w == 1: the in-image taps of one kernel row are contiguous in x */
    const int merge = p->groups == 1 && p->dil_w == 1;
    int32_t ox = (int32_t)(p0 % (size_t)p->ow);
    int32_t oy = (int32_t)(p0 / (size_t)p->ow % (size_t)p->oh);
    int32_t b = (int32_t)(p0 / ((size_t)p->ow * p->oh));
    for (size_t r = 0; r < cnt; r++, dst += e * kp) {
        const int8_t *xb = x + (size_t)b * p->h * row_bytes + (size_t)g * cg;
        const int32_t base_x = ox * p->stride_w - p->pad_l;
        /* in-image taps of a kernel row are kx in [kx_lo, kx_hi) since ix grows with kx */
        int32_t kx_lo = base_x >= 0 ? 0 : (-base_x + p->dil_w - 1) / p->dil_w;
        int32_t kx_hi = p->w - base_x <= 0 ? 0 : (p->w - base_x + p->dil_w - 1) / p->dil_w;
        if (kx_lo > p->kw) kx_lo = p->kw;
        if (kx_hi > p->kw) kx_hi = p->kw;
        if (kx_hi < kx_lo) kx_hi = kx_lo;
        int8_t *d = dst;
        const int32_t iy0 = oy * p->stride_h - p->pad_t;
        if (merge && kx_lo == 0 && kx_hi == p->kw && iy0 >= 0 &&
            iy0 + (p->kh - 1) * p->dil_h < p->h) {
            /* an interior pixel: every kernel row is one contiguous piece of x, no fills (a
             * 7x7 stem on 3 channels spent ~500 instructions per pixel on the general path's
             * per-row bounds and empty fills, measured under qemu) */
            const size_t nb = (size_t)p->kw * cg, step = (size_t)p->dil_h * row_bytes;
            const int8_t *src = xb + (size_t)iy0 * row_bytes + (size_t)base_x * p->c;
            /* the run of interior pixels of this output row that starts here, in one loop:
             * each the previous one's source moved stride_w pixels (the bounds above cost
             * about as much per pixel as a 3x3 x 64-channel row copy; measured under qemu) */
            const int32_t last_in = p->w - 1 - (p->kw - 1) * p->dil_w + p->pad_l;
            int32_t ox_end = last_in / p->stride_w + 1; /* last_in >= base_x + pad_l >= 0 */
            if (ox_end > p->ow) ox_end = p->ow;
            size_t run = (size_t)(ox_end - ox);
            if (run > cnt - r) run = cnt - r;
            const size_t sx = (size_t)p->stride_w * p->c;
            if (!x4 && nb >= 8 && nb <= 16 && k >= 8 && kp - k <= 8) {
                /* kernel rows of 8..16 bytes (a 3x3 stem on 3 channels: 9) and at most 8
                 * bytes of padding: 8 zero bytes at the row's end first (the copies after
                 * them restore any of [kp - 8, k)), then two overlapping 8-byte moves per
                 * kernel row, without copy_bytes' size dispatch per piece (measured under
                 * qemu: the general loop spent ~70 instructions per stem pixel) */
                for (size_t j = 0; j < run; j++, src += sx) {
                    int8_t *dj = dst + j * kp;
                    const uint64_t zero = 0;
                    memcpy(dj + kp - 8, &zero, 8);
                    const int8_t *s = src;
                    for (int32_t ky = 0; ky < p->kh; ky++, dj += nb, s += step) {
                        memcpy(dj, s, 8);
                        memcpy(dj + nb - 8, s + nb - 8, 8);
                    }
                }
            } else {
                for (size_t j = 0; j < run; j++, src += sx) {
                    d = dst + j * e * kp;
                    const int8_t *s = src;
                    for (int32_t ky = 0; ky < p->kh; ky++, d += e * nb, s += step)
                        IM2COL_COPY(d, s, nb);
                    if (kp > k) IM2COL_FILL(d, 0, kp - k);
                }
            }
            r += run - 1;
            dst += (run - 1) * e * kp;
            ox += (int32_t)run - 1;
            if (++ox == p->ow) {
                ox = 0;
                if (++oy == p->oh) {
                    oy = 0;
                    b++;
                }
            }
            continue;
        }
        for (int32_t ky = 0; ky < p->kh; ky++) {
            const int32_t iy = oy * p->stride_h - p->pad_t + ky * p->dil_h;
            if (iy < 0 || iy >= p->h) {
                IM2COL_FILL(d, (int8_t)p->x_zp, (size_t)p->kw * cg);
                d += e * p->kw * cg;
                continue;
            }
            IM2COL_FILL(d, (int8_t)p->x_zp, (size_t)kx_lo * cg);
            d += e * kx_lo * cg;
            const int8_t *src = xb + (size_t)iy * row_bytes;
            if (merge) {
                const size_t nb = (size_t)(kx_hi - kx_lo) * cg;
                IM2COL_COPY(d, src + (size_t)(base_x + kx_lo) * p->c, nb);
                d += e * nb;
            } else {
                for (int32_t kx = kx_lo; kx < kx_hi; kx++, d += e * cg)
                    IM2COL_COPY(d, src + (size_t)(base_x + kx * p->dil_w) * p->c, cg);
            }
            IM2COL_FILL(d, (int8_t)p->x_zp, (size_t)(p->kw - kx_hi) * cg);
            d += e * (p->kw - kx_hi) * cg;
        }
        IM2COL_FILL(dst + e * k, 0, kp - k);
        if (++ox == p->ow) {
            ox = 0;
            if (++oy == p->oh) {
                oy = 0;
                b++;
            }
        }
    }
}

#undef IM2COL_COPY
#undef IM2COL_FILL

static void im2col(const i8_conv2d_params *p, int32_t g, size_t p0, size_t cnt, size_t kp,
                   const int8_t *x, int8_t *dst) {
    im2col_impl(p, g, p0, cnt, kp, x, dst, 0);
}

static void im2col_x4(const i8_conv2d_params *p, int32_t g, size_t p0, size_t cnt, size_t kp,
                      const int8_t *x, int8_t *dst) {
    im2col_impl(p, g, p0, cnt, kp, x, dst, 1);
}

/* Output pixels [p0, p0 + cnt) of group g through the panel `sub` (its channels from y's j0
 * on, y already offset there): im2col of them into the scratch, then the gemm; or, when the
 * panel's kernel set reads x4 rows and the pieces fall on quads, im2col_x4 straight into
 * that form, in blocks of whole tiles that fill the scratch (all of it: the plain tile's
 * space is not needed then). scratch_bytes: i8_conv2d_scratch_size's. */
static void im2col_gemm(const i8_conv2d_params *p, int32_t g, size_t p0, size_t cnt, size_t kp,
                        const int8_t *x, void *scratch, size_t scratch_bytes,
                        const i8_gemm_panel *sub, unsigned char *y, size_t oc, size_t esz) {
    const i8_gemm_kernel *kd = i8_gemm_kernel_for_panel(sub);
    if (kd->pack_a == i8_gemm_pack_a_s8x4 && (p->c / p->groups) % 4 == 0) {
        size_t mb = scratch_bytes / (4 * kp);
        mb -= mb % kd->mr;
        if (mb >= kd->mr) {
            for (size_t b0 = 0; b0 < cnt; b0 += mb) {
                const size_t bc = cnt - b0 < mb ? cnt - b0 : mb;
                im2col_x4(p, g, p0 + b0, bc, kp, x, scratch);
                i8_gemm_run_rows(kd, sub, bc, scratch, 4 * kp, y + b0 * oc * esz, oc);
            }
            return;
        }
    }
    im2col(p, g, p0, cnt, kp, x, scratch);
    i8_gemm_panel q = *sub;
    q.scratch = (unsigned char *)scratch + I8_ALIGN_UP(tile_pixels(p) * kp, 64);
    q.scratch_bytes = scratch_bytes - I8_ALIGN_UP(tile_pixels(p) * kp, 64);
    i8_gemm(&q, cnt, scratch, kp, y, oc);
}

const void *i8_conv2d_dw_stream(const i8_conv2d_params *p, const void *conv_packed) {
    conv_header h;
    memcpy(&h, conv_packed, sizeof h);
    if (h.magic != CONV_MAGIC || h.algo != I8_CONV_DW || choose_algo(p) != I8_CONV_DW)
        return NULL;
    return (const unsigned char *)conv_packed + CONV_HEADER_BYTES;
}

void i8_conv2d_run(const i8_conv2d_params *p, const void *packed, const int8_t *x, void *y,
                   void *scratch) {
    i8_conv2d_run_post(p, packed, x, y, scratch, NULL, NULL);
}

void i8_conv2d_run_post(const i8_conv2d_params *p, const void *packed, const int8_t *x, void *y,
                        void *scratch, const int8_t *table, const int8_t *res) {
    conv_header h;
    memcpy(&h, packed, sizeof h);
    const unsigned char *body = (const unsigned char *)packed + CONV_HEADER_BYTES;
    i8_post post;
    const i8_post *po = p->out_f32 ? NULL : i8_post_init(&post, &p->post, table, res, y);
    if (h.algo == I8_CONV_DW) {
        i8_dwconv_run(p, body, x, y, scratch, 0, (size_t)p->n * p->oh, po);
        return;
    }
    if (h.algo == I8_CONV_WINO) {
        i8_wino_run_units(i8_wino_kernel_default(), p, body, x, y, scratch, 0,
                          i8_wino_units(p), po);
        return;
    }
    const size_t cg = (size_t)(p->c / p->groups), oc = (size_t)p->oc;
    /* y offsets below are in elements: int8, or float32 with the float epilogue */
    const size_t esz = p->out_f32 ? sizeof(float) : 1;
    unsigned char *yb = y;
    i8_gemm_panel pn;
    if (h.algo == I8_CONV_1X1) {
        /* the input rows (pixels) are the gemm's a rows; group g reads channels g*cg.. */
        const size_t m = (size_t)p->n * p->h * p->w;
        for (int32_t g = 0; g < p->groups; g++) {
            i8_gemm_panel_init(&pn, h.ocg, h.k, body + (size_t)g * h.group_bytes, p->y_zp,
                               p->qmin, p->qmax, p->out_f32);
            pn.scratch = scratch;
            pn.scratch_bytes = i8_gemm_scratch_size(m, h.k);
            pn.post = po;
            i8_gemm(&pn, m, x + (size_t)g * cg, (size_t)p->c,
                    yb + (size_t)g * h.ocg * esz, oc);
        }
        return;
    }
    const size_t total = (size_t)p->n * p->oh * p->ow, tile = tile_pixels(p);
    const size_t kp = kpad(h.k);
    /* scratch: the im2col tile, then the gemm's own part */
    const size_t tile_bytes = I8_ALIGN_UP(tile * kp, 64);
    for (size_t p0 = 0; p0 < total; p0 += tile) {
        const size_t cnt = total - p0 < tile ? total - p0 : tile;
        for (int32_t g = 0; g < p->groups; g++) {
            i8_gemm_panel_init(&pn, h.ocg, h.k, body + (size_t)g * h.group_bytes, p->y_zp,
                               p->qmin, p->qmax, p->out_f32);
            pn.k = (int32_t)kp; /* im2col rows are zero-padded to kp, so no k tail */
            pn.post = po;
            im2col_gemm(p, g, p0, cnt, kp, x, scratch,
                        tile_bytes + i8_gemm_scratch_size(tile, h.k), &pn,
                        yb + (p0 * oc + (size_t)g * h.ocg) * esz, oc, esz);
        }
    }
}

/* ---- work split (kernels.h) ------------------------------------------------------------
 * depthwise: one task per output row (of n * oh), or one task for a call too small to share;
 * 1x1 and im2col: i8_gemm_split (kernels/gemm/split.h) over the output pixels, whose row blocks
 * are whole im2col tiles (or finer, gemm_split_of), so each task im2cols only its own pixels
 * into its own scratch. */
static size_t dw_rows_per_task(const i8_conv2d_params *p) {
    const size_t rows = (size_t)p->n * p->oh;
    const double macs = (double)rows * p->ow * p->c * p->kh * p->kw;
    return macs < (double)SPLIT_MIN_MACS ? rows : 1;
}

/* im2col row blocks are whole tiles, unless that leaves too few of them for the threads
 * (split.h then splits the channels) and the group has few channels (ocg <= IM2COL_FINE_OCG):
 * then every channel block would im2col the whole tile again for a small gemm (MobileNetV2's
 * 3x3 stem, 32 channels: 7 tiles x 2 channel blocks, 1.35-1.46x its one-call instructions
 * under qemu, bench/arm_gemm_icount.py --tasks), so the rows are split finer instead: a block
 * smaller than a tile im2cols only its own pixels. Layers with many channels keep the channel
 * split (each task then reads only its part of a large weight matrix). */
#define IM2COL_FINE_OCG 64

static void gemm_split_of(const i8_conv2d_params *p, int algo, i8_gemm_split *s) {
    const size_t ocg = (size_t)(p->oc / p->groups), k = (size_t)group_k(p);
    if (algo == I8_CONV_1X1) {
        i8_gemm_split_init(s, (size_t)p->n * p->h * p->w, ocg, k, (size_t)p->groups, 1);
        return;
    }
    const size_t m = (size_t)p->n * p->oh * p->ow, tile = tile_pixels(p);
    const size_t tiles = (m + tile - 1) / tile * (size_t)p->groups;
    const int fine = tiles < SPLIT_CH_BELOW && ocg <= IM2COL_FINE_OCG;
    i8_gemm_split_init(s, m, ocg, k, (size_t)p->groups, fine ? 1 : tile);
}

size_t i8_conv2d_tasks(const i8_conv2d_params *p) {
    const int algo = choose_algo(p);
    if (algo == I8_CONV_DW) {
        const size_t rows = (size_t)p->n * p->oh, per = dw_rows_per_task(p);
        return (rows + per - 1) / per;
    }
    i8_gemm_split s;
    gemm_split_of(p, algo, &s);
    return i8_gemm_split_tasks(&s);
}

void i8_conv2d_run_tasks(const i8_conv2d_params *p, const void *packed, const int8_t *x, void *y,
                         void *scratch, size_t t0, size_t t1) {
    i8_conv2d_run_tasks_post(p, packed, x, y, scratch, t0, t1, NULL, NULL);
}

void i8_conv2d_run_tasks_post(const i8_conv2d_params *p, const void *packed, const int8_t *x,
                              void *y, void *scratch, size_t t0, size_t t1, const int8_t *table,
                              const int8_t *res) {
    conv_header h;
    memcpy(&h, packed, sizeof h);
    const unsigned char *body = (const unsigned char *)packed + CONV_HEADER_BYTES;
    if (t1 <= t0) return;
    i8_post post;
    const i8_post *po = p->out_f32 ? NULL : i8_post_init(&post, &p->post, table, res, y);
    if (h.algo == I8_CONV_DW) {
        const size_t rows = (size_t)p->n * p->oh, per = dw_rows_per_task(p);
        const size_t r0 = t0 * per, r1 = t1 * per < rows ? t1 * per : rows;
        if (r0 < r1) i8_dwconv_run(p, body, x, y, scratch, r0, r1, po);
        return;
    }
    if (h.algo == I8_CONV_WINO) {
        /* the task count is im2col's (i8_conv2d_tasks knows only p): task t runs Winograd
         * units [t * U / T, (t + 1) * U / T), so any split of the T tasks covers every unit
         * once */
        const size_t tasks = i8_conv2d_tasks(p), units = i8_wino_units(p);
        if (t1 > tasks) t1 = tasks;
        const size_t u0 = t0 * units / tasks, u1 = t1 * units / tasks;
        if (u0 < u1) i8_wino_run_units(i8_wino_kernel_default(), p, body, x, y, scratch, u0, u1, po);
        return;
    }
    i8_gemm_split s;
    gemm_split_of(p, h.algo, &s);
    const size_t cg = (size_t)(p->c / p->groups), oc = (size_t)p->oc, kp = kpad(h.k);
    const size_t esz = p->out_f32 ? sizeof(float) : 1, tile = tile_pixels(p);
    unsigned char *yb = y;
    size_t t = t0;
    const size_t tasks = i8_gemm_split_tasks(&s);
    if (t1 > tasks) t1 = tasks;
    while (t < t1) {
        /* tasks t.. of one row block and group are consecutive channel blocks: one pass */
        size_t r0, r1, g, j0, j1;
        i8_gemm_split_task(&s, t, &r0, &r1, &g, &j0, &j1);
        const size_t ci = t % s.ch_tasks;
        const size_t ce = ci + (t1 - t) < s.ch_tasks ? ci + (t1 - t) : s.ch_tasks;
        j1 = ce * s.chans < s.n ? ce * s.chans : s.n;
        t += ce - ci;
        i8_gemm_panel pn;
        i8_gemm_panel_init(&pn, h.ocg, h.k, body + g * h.group_bytes, p->y_zp, p->qmin, p->qmax,
                           p->out_f32);
        pn.post = po;
        if (h.algo == I8_CONV_1X1) {
            i8_gemm_panel sub = i8_gemm_panel_cols(&pn, j0, j1);
            sub.scratch = scratch; /* the whole scratch is the gemm's (int16 rows) */
            sub.scratch_bytes = i8_gemm_scratch_size((size_t)p->n * p->h * p->w, h.k);
            i8_gemm(&sub, r1 - r0, x + r0 * p->c + g * cg, (size_t)p->c,
                    yb + (r0 * oc + g * h.ocg + j0) * esz, oc);
            continue;
        }
        pn.k = (int32_t)kp; /* im2col rows are zero-padded to kp, so no k tail */
        const i8_gemm_panel sub = i8_gemm_panel_cols(&pn, j0, j1);
        /* scratch: the im2col tile, then the gemm's own part (as in i8_conv2d_run) */
        const size_t scratch_bytes = I8_ALIGN_UP(tile * kp, 64) + i8_gemm_scratch_size(tile, h.k);
        for (size_t p0 = r0; p0 < r1; p0 += tile) {
            const size_t cnt = r1 - p0 < tile ? r1 - p0 : tile;
            im2col_gemm(p, (int32_t)g, p0, cnt, kp, x, scratch, scratch_bytes, &sub,
                        yb + (p0 * oc + g * h.ocg + j0) * esz, oc, esz);
        }
    }
}
