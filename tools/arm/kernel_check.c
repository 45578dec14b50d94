/* kernel_check: runs every case of a case file through the C kernels and compares the output
 * bytes with the expected bytes the numpy reference produced (tools/arm/make_cases.py).
 * Built natively and cross-compiled for aarch64 / armv7 and run under qemu-user by
 * tools/arm/run.sh, so the comparison is bit-exact on every target without Python there.
 *
 *   kernel_check CASEFILE [-v]     prints "path=NAME" (the path the dispatcher selected),
 *                                  the failures, then "N passed, M failed"; exit 1 on any
 *                                  failure or malformed file.
 *   kernel_check --gemm-sets       every gemm kernel set this CPU runs (native and emulated:
 *                                  neon, neon_pair, neondot, neondot4, ...) against the scalar
 *                                  set, byte for byte, over a sweep of m / k / n (partial row
 *                                  and column tiles, k tails), zero points, clamps, the float32
 *                                  epilogue and -128 weights; prints "gemm sets: N passed, M
 *                                  failed" (exit 1 on a failure)
 *   kernel_check --force-neondot   calls the SDOT micro-kernel directly, bypassing dispatch,
 *                                  and prints "sdot ran": under a CPU model without dotprod
 *                                  (qemu -cpu cortex-a72) it must die with SIGILL, which shows
 *                                  that the emulator enforces the model, so the neondot runs
 *                                  of run.sh really prove the dispatch.
 *
 * Case file (all fields little-endian, no padding):
 *   magic "I8RTCAS1" (8 bytes), u32 n_cases, then n_cases records:
 *     u32 body_len                 bytes of the rest of the record (lets a reader skip it)
 *     u16 name_len, name           kernel name (conv2d, fc, add, ...; see run_case below)
 *     u16 label_len, label         human-readable description, printed on failure
 *     u32 n_ints,   i64 ints[]     scalar parameters, kernel-specific order (below)
 *     u32 n_floats, u32 floats[]   float32 parameters as raw bits (NaN payloads survive)
 *     u32 n_arrays, {u64 nbytes, bytes}[]   input arrays, kernel-specific order
 *     u64 out_nbytes, bytes        expected output
 * Per-kernel ints / floats / arrays (struct fields in kernels.h order):
 *   conv2d   ints: the 23 i8_conv2d_params fields; arrays: x, w, bias, mult
 *   conv2d_post  the same + lut, add, a_zp, b_zp, a_mult, b_mult, y_zp, qmin, qmax (fused
 *            post-ops); floats: the add's mult; arrays + table (256), residual (y's shape)
 *   fc       ints: the 8 i8_fc_params fields;      arrays: x, w, bias, mult
 *   add, mul ints: ndim, shape[6], a_stride[6], b_stride[6], a_zp, b_zp, y_zp, a_mult, b_mult,
 *            qmin, qmax; floats: mult; arrays: a, b
 *   requant_copy  ints: rows, cols, x_stride, y_stride, x_zp, y_zp, x_offset, y_offset;
 *            floats: mult; arrays: x, y (initial contents; the output is all of y)
 *   maxpool  ints: the 19 i8_pool_params fields; arrays: x
 *   avgpool  ints: the 19 i8_pool_params fields; arrays: mult_by_count, x
 *   global_avgpool ints: n, hw, c, x_zp, y_zp, qmin, qmax; floats: mult; arrays: x
 *   lut      ints: n; arrays: table, x
 *   resize_nearest ints: n, h, w, c, oh, ow, elem_size; arrays: iy, ix, x
 *   resize_bilinear ints: n, h, w, c, oh, ow, x_zp, y_zp; floats: mult;
 *            arrays: y0, y1, fy, x0, x1, fx, x
 *   softmax  ints: rows, cols, y_zp; floats: inv_y_scale; arrays: exp_table, x
 *   quantize, dequantize ints: n, zp; floats: scale; arrays: x
 *   quantize_nchw   ints: b, c, hw, zp, mid; floats: scale; arrays: x [b, c, hw] float32;
 *                   y [b, hw, c] (two calls: pixels [0, mid), [mid, b * hw))
 *   transpose ints: ndim, elem_size, shape[ndim], perm[ndim]; arrays: x
 *   slice    ints: ndim, elem_size, in_shape[ndim], start[ndim], step[ndim], out_shape[ndim];
 *            arrays: x
 *   pad      ints: ndim, elem_size, mode, in_shape[ndim], before[ndim], after[ndim];
 *            arrays: value, x
 *
 * Every array gets its own malloc'd copy (as the runtime's arena would give an aligned
 * buffer), the output buffer is pre-filled with a sentinel and followed by guard bytes that
 * must survive the call: an out-of-range write fails the case even if the output matches.
 *
 * INT8RT_ISA (environment) names the kernel path under test (int8rt/cpu.h): the kernels
 * select it on first use, as a cap. An unknown name is an error; a known path this CPU or
 * build cannot run (the cap would silently select a lower one) is reported and skipped as
 * "0 passed, 0 failed", so one run.sh target list serves machines with and without it.
 */
#include "int8rt/cpu.h"
#include "int8rt/kernels.h"
#include "kernels/gemm/gemm.h"

#include <math.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MAX_INTS 64
#define MAX_FLOATS 8
#define MAX_ARRAYS 8
#define GUARD 64
#define SENTINEL 0xA5

typedef struct {
    const uint8_t *p, *end;
    int bad;
} reader;

typedef struct {
    char name[64], label[256];
    int64_t ints[MAX_INTS];
    float floats[MAX_FLOATS];
    void *arr[MAX_ARRAYS];
    uint64_t arr_n[MAX_ARRAYS];
    uint32_t n_ints, n_floats, n_arrays;
    const uint8_t *expected;
    uint64_t out_n;
} test_case;

/* explicit byte assembly: independent of host endianness and of unaligned-load rules */
static uint64_t rd_le(reader *r, int nbytes) {
    uint64_t v = 0;
    if (r->bad || r->end - r->p < nbytes) {
        r->bad = 1;
        return 0;
    }
    for (int i = 0; i < nbytes; i++) v |= (uint64_t)r->p[i] << (8 * i);
    r->p += nbytes;
    return v;
}

static const uint8_t *rd_bytes(reader *r, uint64_t n) {
    if (r->bad || (uint64_t)(r->end - r->p) < n) {
        r->bad = 1;
        return NULL;
    }
    const uint8_t *q = r->p;
    r->p += n;
    return q;
}

static void rd_str(reader *r, char *dst, size_t cap) {
    uint64_t n = rd_le(r, 2);
    const uint8_t *s = rd_bytes(r, n);
    if (!s || n >= cap) {
        r->bad = 1;
        dst[0] = 0;
        return;
    }
    memcpy(dst, s, n);
    dst[n] = 0;
}

static void free_case(test_case *tc) {
    for (uint32_t i = 0; i < tc->n_arrays; i++) free(tc->arr[i]);
    tc->n_arrays = 0;
}

/* 0 on success; on a malformed record the caller stops (the rest cannot be trusted) */
static int parse_case(reader *r, test_case *tc) {
    memset(tc, 0, sizeof *tc);
    rd_str(r, tc->name, sizeof tc->name);
    rd_str(r, tc->label, sizeof tc->label);
    tc->n_ints = (uint32_t)rd_le(r, 4);
    if (tc->n_ints > MAX_INTS) return -1;
    for (uint32_t i = 0; i < tc->n_ints; i++) tc->ints[i] = (int64_t)rd_le(r, 8);
    tc->n_floats = (uint32_t)rd_le(r, 4);
    if (tc->n_floats > MAX_FLOATS) return -1;
    for (uint32_t i = 0; i < tc->n_floats; i++) {
        uint32_t bits = (uint32_t)rd_le(r, 4);
        memcpy(&tc->floats[i], &bits, 4);
    }
    uint32_t na = (uint32_t)rd_le(r, 4);
    if (na > MAX_ARRAYS) return -1;
    for (uint32_t i = 0; i < na; i++) {
        uint64_t n = rd_le(r, 8);
        const uint8_t *src = rd_bytes(r, n);
        if (!src) return -1;
        tc->arr[i] = malloc(n ? n : 16);
        if (!tc->arr[i]) return -1;
        memcpy(tc->arr[i], src, n);
        tc->arr_n[i] = n;
        tc->n_arrays = i + 1;
    }
    tc->out_n = rd_le(r, 8);
    tc->expected = rd_bytes(r, tc->out_n);
    return r->bad ? -1 : 0;
}

static void *xmalloc(size_t n) {
    void *p = malloc(n ? n : 16);
    if (!p) {
        fprintf(stderr, "out of memory\n");
        exit(2);
    }
    return p;
}

#define I32(k) ((int32_t)tc->ints[k])
#define NEED(ni, nf, na)                                                              \
    do {                                                                              \
        if (tc->n_ints != (ni) || tc->n_floats != (nf) || tc->n_arrays != (na)) {     \
            snprintf(err, errcap, "wrong field counts %u/%u/%u, want %d/%d/%d",       \
                     tc->n_ints, tc->n_floats, tc->n_arrays, (ni), (nf), (na));       \
            return -1;                                                                \
        }                                                                             \
    } while (0)

static void conv_params(const test_case *tc, i8_conv2d_params *p) {
    memset(p, 0, sizeof *p); /* no fused post-ops */
    int32_t *f = &p->n; /* the struct starts with 23 consecutive int32_t fields */
    for (int i = 0; i < 23; i++) f[i] = I32(i);
}

static void pool_params(const test_case *tc, i8_pool_params *p) {
    int32_t *f = &p->n; /* 19 consecutive int32_t fields */
    for (int i = 0; i < 19; i++) f[i] = I32(i);
}

static void binary_params(const test_case *tc, i8_binary_params *p) {
    memset(p, 0, sizeof *p);
    p->ndim = I32(0);
    for (int d = 0; d < I8_MAX_DIMS; d++) {
        p->shape[d] = tc->ints[1 + d];
        p->a_stride[d] = tc->ints[7 + d];
        p->b_stride[d] = tc->ints[13 + d];
    }
    p->a_zp = I32(19), p->b_zp = I32(20), p->y_zp = I32(21);
    p->a_mult = I32(22), p->b_mult = I32(23);
    p->qmin = I32(24), p->qmax = I32(25);
    p->mult = tc->floats[0];
}

static long first_diff(const uint8_t *a, const uint8_t *b, uint64_t n);

/* The thread split (kernels.h "work split"): the tasks run one at a time, last first, into
 * a second buffer must write exactly what the single call wrote into y (n bytes). */
static int tasks_equal_run(const test_case *tc, const void *y, size_t ntasks,
                           void (*task)(const void *ctx, void *y2, size_t t), const void *ctx,
                           char *err, size_t errcap) {
    if (ntasks < 2) return 0;
    uint8_t *y2 = xmalloc(tc->out_n);
    memset(y2, SENTINEL, tc->out_n);
    for (size_t t = ntasks; t-- > 0;) task(ctx, y2, t);
    const long d = first_diff(y2, y, tc->out_n);
    free(y2);
    if (d >= 0) {
        snprintf(err, errcap, "run as %zu tasks differs from one call at byte %ld", ntasks, d);
        return -1;
    }
    return 0;
}

typedef struct {
    const void *p, *packed, *x;
    void *scratch;
} task_ctx;

static void conv_task(const void *ctx, void *y2, size_t t) {
    const task_ctx *c = ctx;
    i8_conv2d_run_tasks(c->p, c->packed, c->x, y2, c->scratch, t, t + 1);
}

static void fc_task(const void *ctx, void *y2, size_t t) {
    const task_ctx *c = ctx;
    i8_fc_run_tasks(c->p, c->packed, c->x, y2, c->scratch, t, t + 1);
}

/* Runs one case into y (already sized out_n + GUARD and sentinel-filled). */
static int run_case(const test_case *tc, void *y, char *err, size_t errcap) {
    const char *k = tc->name;
    void *const *a = tc->arr;
    if (!strcmp(k, "conv2d")) {
        NEED(23, 0, 4);
        i8_conv2d_params p;
        _Static_assert(offsetof(i8_conv2d_params, post) == 23 * sizeof(int32_t),
                       "conv2d params layout");
        conv_params(tc, &p);
        void *packed = xmalloc(i8_conv2d_packed_size(&p));
        void *scratch = xmalloc(i8_conv2d_scratch_size(&p));
        i8_conv2d_pack(&p, a[1], a[2], a[3], packed);
        i8_conv2d_run(&p, packed, a[0], y, scratch);
        const task_ctx ctx = {&p, packed, a[0], scratch};
        const int bad = tasks_equal_run(tc, y, i8_conv2d_tasks(&p), conv_task, &ctx, err, errcap);
        free(packed);
        free(scratch);
        if (bad) return -1;
    } else if (!strcmp(k, "conv2d_post")) {
        /* conv2d + fused post-ops: ints = conv2d's 23, then lut, add, a_zp, b_zp, a_mult,
         * b_mult, y_zp, qmin, qmax; floats = the add's mult; arrays + table, residual */
        NEED(32, 1, 6);
        i8_conv2d_params p;
        conv_params(tc, &p);
        p.post.lut = I32(23), p.post.add = I32(24);
        p.post.a_zp = I32(25), p.post.b_zp = I32(26);
        p.post.a_mult = I32(27), p.post.b_mult = I32(28);
        p.post.mult = tc->floats[0];
        p.post.y_zp = I32(29), p.post.qmin = I32(30), p.post.qmax = I32(31);
        void *packed = xmalloc(i8_conv2d_packed_size(&p));
        void *scratch = xmalloc(i8_conv2d_scratch_size(&p));
        i8_conv2d_pack(&p, a[1], a[2], a[3], packed);
        i8_conv2d_run_post(&p, packed, a[0], y, scratch, a[4], a[5]);
        free(packed);
        free(scratch);
    } else if (!strcmp(k, "fc")) {
        NEED(8, 0, 4);
        i8_fc_params p;
        memset(&p, 0, sizeof p); /* no fused post-ops */
        p.m = I32(0);
        p.k = I32(1);
        p.n = I32(2);
        p.x_zp = I32(3);
        p.y_zp = I32(4);
        p.qmin = I32(5);
        p.qmax = I32(6);
        p.out_f32 = I32(7);
        void *packed = xmalloc(i8_fc_packed_size(&p));
        void *scratch = xmalloc(i8_fc_scratch_size(&p));
        i8_fc_pack(&p, a[1], a[2], a[3], packed);
        i8_fc_run(&p, packed, a[0], y, scratch);
        const task_ctx ctx = {&p, packed, a[0], scratch};
        const int bad = tasks_equal_run(tc, y, i8_fc_tasks(&p), fc_task, &ctx, err, errcap);
        free(packed);
        free(scratch);
        if (bad) return -1;
    } else if (!strcmp(k, "add") || !strcmp(k, "mul")) {
        NEED(26, 1, 2);
        i8_binary_params p;
        binary_params(tc, &p);
        (k[0] == 'a' ? i8_add_run : i8_mul_run)(&p, a[0], a[1], y);
    } else if (!strcmp(k, "requant_copy")) {
        NEED(8, 1, 2);
        i8_requant_copy_params p = {tc->ints[0], tc->ints[1], tc->ints[2], tc->ints[3],
                                    I32(4), I32(5), tc->floats[0]};
        if (tc->arr_n[1] != tc->out_n) {
            snprintf(err, errcap, "requant_copy: y and expected sizes differ");
            return -1;
        }
        memcpy(y, a[1], tc->out_n);
        i8_requant_copy_run(&p, (const int8_t *)a[0] + tc->ints[6], (int8_t *)y + tc->ints[7]);
    } else if (!strcmp(k, "maxpool")) {
        NEED(19, 0, 1);
        i8_pool_params p;
        _Static_assert(sizeof(i8_pool_params) == 19 * sizeof(int32_t), "pool params layout");
        pool_params(tc, &p);
        i8_maxpool_run(&p, a[0], y);
    } else if (!strcmp(k, "avgpool")) {
        NEED(19, 0, 2);
        i8_pool_params p;
        pool_params(tc, &p);
        i8_avgpool_run(&p, a[0], a[1], y);
    } else if (!strcmp(k, "global_avgpool")) {
        NEED(7, 1, 1);
        i8_global_avgpool_run(I32(0), I32(1), I32(2), I32(3), I32(4), tc->floats[0], I32(5),
                              I32(6), a[0], y);
    } else if (!strcmp(k, "lut")) {
        NEED(1, 0, 2);
        i8_lut_run(tc->ints[0], a[0], a[1], y);
    } else if (!strcmp(k, "resize_nearest")) {
        NEED(7, 0, 3);
        i8_resize_nearest_run(I32(0), I32(1), I32(2), I32(3), I32(4), I32(5), a[0], a[1],
                             (size_t)tc->ints[6], a[2], y);
    } else if (!strcmp(k, "resize_bilinear")) {
        NEED(8, 1, 7);
        i8_resize_bilinear_params p = {I32(0), I32(1), I32(2), I32(3), I32(4), I32(5),
                                       I32(6), I32(7), tc->floats[0]};
        i8_resize_bilinear_run(&p, a[0], a[1], a[2], a[3], a[4], a[5], a[6], y);
    } else if (!strcmp(k, "softmax")) {
        NEED(3, 1, 2);
        i8_softmax_run(tc->ints[0], tc->ints[1], a[0], tc->floats[0], I32(2), a[1], y);
    } else if (!strcmp(k, "quantize")) {
        NEED(2, 1, 1);
        i8_quantize_f32_run(tc->ints[0], a[0], tc->floats[0], I32(1), y);
    } else if (!strcmp(k, "quantize_nchw")) {
        NEED(5, 1, 1);
        /* pixels [0, mid) then [mid, b * hw): two calls, as two threads split them */
        const int64_t total = tc->ints[0] * tc->ints[2];
        i8_quantize_f32_nchw_run(tc->ints[1], tc->ints[2], 0, tc->ints[4], a[0],
                                 tc->floats[0], I32(3), y);
        i8_quantize_f32_nchw_run(tc->ints[1], tc->ints[2], tc->ints[4], total, a[0],
                                 tc->floats[0], I32(3), y);
    } else if (!strcmp(k, "dequantize")) {
        NEED(2, 1, 1);
        i8_dequantize_f32_run(tc->ints[0], a[0], tc->floats[0], I32(1), y);
    } else if (!strcmp(k, "transpose") || !strcmp(k, "slice") || !strcmp(k, "pad")) {
        int nd = tc->n_ints >= 2 ? I32(0) : -1;
        int pad = !strcmp(k, "pad");
        int per_axis = k[0] == 't' ? 2 : (k[0] == 's' ? 4 : 3);
        int head = pad ? 3 : 2;
        if (nd < 0 || nd > I8_MAX_DIMS) {
            snprintf(err, errcap, "bad ndim");
            return -1;
        }
        NEED(head + per_axis * nd, 0, pad ? 2 : 1);
        size_t es = (size_t)tc->ints[1];
        const int64_t *v = &tc->ints[head];
        if (k[0] == 't') {
            int32_t perm[I8_MAX_DIMS];
            for (int d = 0; d < nd; d++) perm[d] = (int32_t)v[nd + d];
            i8_transpose_run(nd, v, perm, es, a[0], y);
        } else if (k[0] == 's') {
            i8_slice_run(nd, v, v + nd, v + 2 * nd, v + 3 * nd, es, a[0], y);
        } else {
            i8_pad_run(nd, v, v + nd, v + 2 * nd, I32(2), es, a[0], a[1], y);
        }
    } else {
        snprintf(err, errcap, "unknown kernel");
        return -1;
    }
    return 0;
}

/* index of the first differing byte, or -1 */
static long first_diff(const uint8_t *a, const uint8_t *b, uint64_t n) {
    for (uint64_t i = 0; i < n; i++)
        if (a[i] != b[i]) return (long)i;
    return -1;
}

/* One 1x4 tile through the SDOT kernel, no CPU check: 0 if it ran and got the right sum. */
static int force_neondot(void) {
#if defined(I8_GEMM_HAVE_NEONDOT)
    int8_t w[I8_GEMM_NR * I8_GEMM_KB], a[I8_GEMM_KB];
    int32_t bias[I8_GEMM_NR] = {0};
    float mult[I8_GEMM_NR] = {1, 1, 1, 1}, c[I8_GEMM_NR];
    for (int i = 0; i < I8_GEMM_KB; i++) a[i] = (int8_t)(i - 8);
    for (int i = 0; i < I8_GEMM_NR * I8_GEMM_KB; i++) w[i] = (int8_t)(3 - i % 7);
    const i8_gemm_params prm = {.bias = bias, .mult = mult,
                                .rq = {.y_zp = 0, .qmin = -128, .qmax = 127, .out_f32 = 1}};
    i8_gemm_2x4c16__neondot(1, I8_GEMM_NR, I8_GEMM_KB, a, I8_GEMM_KB, w, c, 0, &prm);
    for (int t = 0; t < I8_GEMM_NR; t++) {
        int32_t s = 0;
        for (int i = 0; i < I8_GEMM_KB; i++) s += a[i] * w[t * I8_GEMM_KB + i];
        if (c[t] != (float)s) {
            printf("sdot ran, wrong result\n");
            return 1;
        }
    }
    printf("sdot ran\n");
    return 0;
#else
    printf("no neondot kernel in this build\n");
    return 2;
#endif
}

/* Deterministic xorshift for the gemm sweep. */
static uint32_t rng_state = 2463534242u;
static uint32_t rnd(void) {
    rng_state ^= rng_state << 13;
    rng_state ^= rng_state >> 17;
    rng_state ^= rng_state << 5;
    return rng_state;
}

/* One gemm case through set kd and through the scalar set (each on a panel of its own
 * layout): 0 if the outputs are byte-identical. */
static int gemm_case(const i8_gemm_kernel *kd, const i8_gemm_kernel *ref, int m, int k, int n,
                     int x_zp, int qmin, int qmax, int out_f32, int m128) {
    const size_t esz = out_f32 ? 4 : 1, cbytes = (size_t)m * (size_t)n * esz;
    int8_t *a = xmalloc((size_t)m * (size_t)k), *w = xmalloc((size_t)n * (size_t)k);
    int32_t *bias = xmalloc((size_t)n * 4);
    float *mult = xmalloc((size_t)n * 4);
    for (int i = 0; i < m * k; i++) a[i] = (int8_t)(rnd() & 0xFF);
    for (int i = 0; i < n * k; i++) w[i] = (int8_t)((int)(rnd() % 255) - 127);
    if (m128) w[(rnd() % (uint32_t)n) * (uint32_t)k + rnd() % (uint32_t)k] = -128;
    for (int j = 0; j < n; j++) {
        bias[j] = (int32_t)(rnd() % 100001) - 50000;
        mult[j] = (0.5f + (float)(rnd() % 1000) / 666.0f) * 40.0f / (74.0f * 73.0f) /
                  sqrtf((float)k);
    }
    const size_t psz = i8_gemm_packed_size(n, k), ssz = i8_gemm_scratch_size((size_t)m, k);
    unsigned char *out[2];
    for (int t = 0; t < 2; t++) {
        const i8_gemm_kernel *kk = t ? ref : kd;
        void *packed = xmalloc(psz), *scratch = xmalloc(ssz);
        i8_gemm_pack_layout(kk->layout, n, k, w, (size_t)k, bias, mult, x_zp, packed);
        i8_gemm_panel pn;
        i8_gemm_panel_init(&pn, n, k, packed, 3, qmin, qmax, out_f32);
        pn.scratch = scratch;
        pn.scratch_bytes = ssz;
        out[t] = xmalloc(cbytes + GUARD);
        memset(out[t], SENTINEL, cbytes + GUARD);
        i8_gemm_run(kk, &pn, (size_t)m, a, (size_t)k, out[t], (size_t)n);
        free(packed);
        free(scratch);
    }
    int bad = memcmp(out[0], out[1], cbytes + GUARD) != 0;
    if (bad)
        printf("FAIL gemm %s m=%d k=%d n=%d x_zp=%d q=[%d,%d] f32=%d m128=%d\n", kd->name, m, k,
               n, x_zp, qmin, qmax, out_f32, m128);
    free(out[0]);
    free(out[1]);
    free(a);
    free(w);
    free(bias);
    free(mult);
    return bad;
}

static int gemm_sets(void) {
    static const int ms[] = {1, 2, 3, 4, 5, 7, 9, 13};
    static const int ks[] = {1, 3, 4, 5, 15, 16, 17, 24, 31, 33, 56, 64, 100};
    static const int ns[] = {1, 3, 4, 5, 15, 16, 17, 20, 33, 48, 50};
    static const int zps[] = {-128, 127, -11, 0};
    size_t count = 0;
    const i8_gemm_kernel *ks_ = i8_gemm_kernels(&count), *ref = NULL;
    for (size_t i = 0; i < count; i++)
        if (!strcmp(ks_[i].name, "scalar")) ref = &ks_[i];
    long passed = 0, failed = 0;
    for (size_t i = 0; i < count; i++) {
        const i8_gemm_kernel *kd = &ks_[i];
        if (kd == ref || !i8_gemm_kernel_runnable(kd)) continue;
        long f0 = failed;
        for (size_t a = 0; a < sizeof ms / sizeof *ms; a++)
            for (size_t b = 0; b < sizeof ks / sizeof *ks; b++)
                for (size_t c = 0; c < sizeof ns / sizeof *ns; c++) {
                    const int v = (int)(rnd() % 8), zp = zps[rnd() % 4];
                    const int bad = gemm_case(kd, ref, ms[a], ks[b], ns[c], zp,
                                              v & 1 ? -40 : -128, v & 1 ? 50 : 127, v >> 1 & 1,
                                              v >> 2 & 1);
                    failed += bad;
                    passed += !bad;
                }
        /* weights beyond the driver's L1 bound (WEIGHTS_IN_L1_BYTES, dispatch.c): the
         * channels-outer order, whole 16-channel blocks in groups (sdot: one call per group
         * and row tile), a partial block after them */
        static const int big[][3] = {{13, 600, 90}, {7, 400, 64}, {11, 1600, 40}, {6, 104, 250},
                                     {1, 1280, 72}, {1, 1280, 56}};
        for (size_t b = 0; b < sizeof big / sizeof *big; b++) {
            const int v = (int)(rnd() % 8), zp = zps[rnd() % 4];
            const int bad = gemm_case(kd, ref, big[b][0], big[b][1], big[b][2], zp,
                                      v & 1 ? -40 : -128, v & 1 ? 50 : 127, v >> 1 & 1, 0);
            failed += bad;
            passed += !bad;
        }
        /* many rows (the driver's row chunks per _rows call, an odd last row) and a panel
         * too large for the rows-outer loop (k = 1000) */
        static const int many[][3] = {{601, 16, 40}, {300, 24, 16}, {517, 64, 33}, {9, 1000, 40}};
        for (size_t b = 0; b < sizeof many / sizeof *many; b++)
            for (int v = 0; v < 8; v++) {
                const int bad = gemm_case(kd, ref, many[b][0], many[b][1], many[b][2], zps[v % 4],
                                          v & 1 ? -40 : -128, v & 1 ? 50 : 127, v >> 1 & 1,
                                          v >> 2 & 1);
                failed += bad;
                passed += !bad;
            }
        printf("gemm set %s: %s\n", kd->name, failed == f0 ? "ok" : "FAILED");
    }
    printf("gemm sets: %ld passed, %ld failed\n", passed, failed);
    return failed ? 1 : 0;
}

int main(int argc, char **argv) {
    if (argc < 2) {
        fprintf(stderr, "usage: %s CASEFILE [-v] | --gemm-sets | --force-neondot\n", argv[0]);
        return 2;
    }
    if (!strcmp(argv[1], "--force-neondot")) return force_neondot();
    if (!strcmp(argv[1], "--gemm-sets")) return gemm_sets();
    int verbose = argc > 2 && !strcmp(argv[2], "-v");
    const char *isa = getenv("INT8RT_ISA");
    if (isa && *isa) {
        const int32_t want = i8_isa_from_name(isa);
        if (want < 0) {
            fprintf(stderr, "INT8RT_ISA=%s: unknown kernel path\n", isa);
            return 2;
        }
        if (i8_isa_current() != want) {
            printf("INT8RT_ISA=%s not available here (best: %s): skipped\n0 passed, 0 failed\n",
                   isa, i8_isa_name(i8_isa_current()));
            return 0;
        }
    }
    printf("path=%s\n", i8_isa_name(i8_isa_current()));
    FILE *f = fopen(argv[1], "rb");
    if (!f) {
        perror(argv[1]);
        return 2;
    }
    fseek(f, 0, SEEK_END);
    long size = ftell(f);
    fseek(f, 0, SEEK_SET);
    uint8_t *buf = xmalloc((size_t)size);
    if (size < 12 || fread(buf, 1, (size_t)size, f) != (size_t)size) {
        fprintf(stderr, "%s: cannot read\n", argv[1]);
        return 2;
    }
    fclose(f);
    if (memcmp(buf, "I8RTCAS1", 8)) {
        fprintf(stderr, "%s: not a case file\n", argv[1]);
        return 2;
    }
    reader r = {buf + 8, buf + size, 0};
    uint32_t n_cases = (uint32_t)rd_le(&r, 4);
    long passed = 0, failed = 0;
    for (uint32_t ci = 0; ci < n_cases; ci++) {
        uint64_t body = rd_le(&r, 4);
        const uint8_t *start = rd_bytes(&r, body);
        test_case tc;
        reader cr = {start, start ? start + body : NULL, start == NULL};
        if (parse_case(&cr, &tc) || cr.p != cr.end) {
            fprintf(stderr, "case %u: malformed record\n", ci);
            free_case(&tc);
            failed += n_cases - ci;
            break;
        }
        uint8_t *y = xmalloc(tc.out_n + GUARD);
        memset(y, SENTINEL, tc.out_n + GUARD);
        char err[200] = "";
        int bad = run_case(&tc, y, err, sizeof err);
        if (!bad) {
            long d = first_diff(y, tc.expected, tc.out_n);
            for (int g = 0; g < GUARD && d < 0; g++)
                if (y[tc.out_n + g] != SENTINEL) {
                    snprintf(err, sizeof err, "wrote past the output (guard byte %d)", g);
                    bad = 1;
                    break;
                }
            if (d >= 0) {
                snprintf(err, sizeof err, "byte %ld of %llu: got 0x%02x, want 0x%02x", d,
                         (unsigned long long)tc.out_n, y[d], tc.expected[d]);
                bad = 1;
            }
        }
        if (bad) {
            failed++;
            printf("FAIL case %u %s [%s]: %s\n", ci, tc.name, tc.label, err);
        } else {
            passed++;
            if (verbose) printf("ok   case %u %s [%s]\n", ci, tc.name, tc.label);
        }
        free(y);
        free_case(&tc);
    }
    if (!r.bad && r.p != r.end) {
        fprintf(stderr, "trailing bytes after %u cases\n", n_cases);
        failed++;
    }
    free(buf);
    printf("%ld passed, %ld failed\n", passed, failed);
    return failed ? 1 : 0;
}
