/* i8_dwconv_3x3__avx512vnni_emu: the template col3x3_tile.h over a portable C emulation of
 * the zmm primitive set of col3x3_x86.c, so the column kernel's structure (column build,
 * carries, tails, packed w4 vectors and bias'') is tested bit-exact on hosts without
 * AVX512-VNNI, as the gemm sets' _emu twins are (docs/KERNELS.md). Lane by lane what the
 * instructions compute: a column is lane ch = three rows' bytes ^ 0x80 and row 0's copy as the
 * filler (vpshufb + merge masks + vpxord), byte-masked channels read 0 ^ 0x80, out-of-image
 * columns the constant x_zp ^ 0x80; dot3 is three vpdpbusd (four u8 x s8 products summed,
 * added to the int32 lane modulo 2^32); the epilogue is the scalar one. x86 only: the w4
 * section exists in x86 streams only (dwconv.h). Not a dispatch target: the binding
 * _native.dwconv_3x3_emu runs it (tests/kernels/test_dwconv.py). */
#include <string.h>

#include "kernels/dwconv/dwconv.h"

#if defined(__x86_64__) || defined(__i386__)

/* out of line: the template inlines its row loop into 6 variants, and a test-only
 * emulation need not be fast (16.4 KB of code inlined, 11.4 KB not; gcc 12 -O2) */
#define I8_EMU_NOINLINE __attribute__((noinline))

typedef struct {
    uint8_t b[64]; /* lane ch: bytes 4 ch .. 4 ch + 3 */
} e3_col;
typedef struct {
    uint32_t v[16];
} e3_acc;
typedef struct {
    uint8_t zu; /* x_zp ^ 0x80 */
} e3_ctx;
typedef struct {
    const unsigned char *w; /* 3 vectors of 64 bytes, then the 16 int32 of bias'' */
} e3_wts;
typedef i8_rq_params e3_rq;

static inline e3_ctx e3_ctx_init(int32_t x_zp) {
    e3_ctx cx = {(uint8_t)((uint8_t)x_zp ^ 0x80u)};
    return cx;
}

static inline e3_rq e3_rq_init(const i8_conv2d_params *p, const i8_post *post) {
    e3_rq rq = i8_rq_params_init(p->y_zp, p->qmin, p->qmax, p->out_f32);
    rq.post = post;
    return rq;
}

static inline e3_col e3_zcol(const e3_ctx *cx) {
    e3_col o;
    memset(o.b, cx->zu, sizeof o.b);
    return o;
}

static I8_EMU_NOINLINE e3_col e3_column(const e3_ctx *cx, const int8_t *r0, const int8_t *r1,
                               const int8_t *r2, size_t nr, int full) {
    (void)cx;
    (void)full;
    const int8_t *const r[3] = {r0, r1, r2};
    e3_col o;
    for (size_t ch = 0; ch < 16; ch++) {
        for (size_t k = 0; k < 3; k++) {
            const int8_t v = ch < nr ? r[k][ch] : 0; /* masked load: 0 */
            o.b[4 * ch + k] = (uint8_t)v ^ 0x80u;
        }
        o.b[4 * ch + 3] = o.b[4 * ch]; /* the shuffle's filler: row 0 again */
    }
    return o;
}

static inline e3_wts e3_wload(const i8_dwconv_packed *s, size_t block) {
    e3_wts t = {s->w4 + block * I8_DWCONV_W4_BLOCK};
    return t;
}

/* acc + per lane the sum of four u8 x s8 products (vpdpbusd: no saturation, wraps) */
static inline void e3_dpbusd(e3_acc *acc, const e3_col *u, const unsigned char *wv) {
    for (size_t ch = 0; ch < 16; ch++) {
        int32_t s = 0;
        for (size_t k = 0; k < 4; k++) s += (int32_t)u->b[4 * ch + k] * (int8_t)wv[4 * ch + k];
        acc->v[ch] += (uint32_t)s;
    }
}

static I8_EMU_NOINLINE e3_acc e3_dot3(const e3_wts *t, e3_col c0, e3_col c1, e3_col c2) {
    e3_acc a;
    memcpy(a.v, t->w + 192, sizeof a.v); /* bias'' */
    e3_dpbusd(&a, &c0, t->w);
    e3_dpbusd(&a, &c1, t->w + 64);
    e3_dpbusd(&a, &c2, t->w + 128);
    return a;
}

static I8_EMU_NOINLINE void e3_store(const e3_rq *rq, const e3_wts *t, e3_acc acc,
                                      const float *mult, unsigned char *y, size_t nr,
                                      int int8) {
    (void)t;
    (void)int8;
    static const int32_t zero16[16] = {0};
    int32_t sacc[16];
    memcpy(sacc, acc.v, sizeof sacc);
    i8_requant_row__scalar(rq, sacc, zero16, mult, y, nr);
}

#define C3_FN i8_dwconv_3x3__avx512vnni_emu
#define C3_ATTR
#define C3_P(x) e3_##x
#include "kernels/dwconv/col3x3_tile.h"
#undef C3_FN
#undef C3_ATTR
#undef C3_P

/* The emulation over a whole conv2d stream (i8_conv2d_pack output), no post-ops: -1 when the
 * stream is not a 3x3 depthwise one the column kernel covers. */
int i8_dwconv_3x3_emu_conv2d(const i8_conv2d_params *p, const void *conv_packed,
                             const int8_t *x, void *y, void *scratch) {
    const void *body = i8_conv2d_dw_stream(p, conv_packed);
    if (!body || !i8_dwconv_3x3_covers(p)) return -1;
    i8_dwconv_3x3__avx512vnni_emu(p, body, x, y, scratch, 0, (size_t)p->n * p->oh, NULL);
    return 0;
}

#else

/* no w4 section off x86 (dwconv.h) */
int i8_dwconv_3x3_emu_conv2d(const i8_conv2d_params *p, const void *conv_packed,
                             const int8_t *x, void *y, void *scratch) {
    (void)p;
    (void)conv_packed;
    (void)x;
    (void)y;
    (void)scratch;
    return -1;
}

#endif
