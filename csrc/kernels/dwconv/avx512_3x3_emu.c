/* i8_dwconv_3x3__avx512vnni_emu: the AVX512-VNNI 3x3 column kernel (avx512_3x3.c) in portable
 * C, step for step, so its structure is tested bit-exact on hosts without AVX512-VNNI (the
 * gemm sets' _emu twins do the same, docs/KERNELS.md): the same packed w4 vectors and bias'',
 * columns built the same way (lane ch = three rows' bytes ^ 0x80 and row 0's copy as the
 * filler; byte-masked channels read 0 ^ 0x80; out-of-image columns the constant x_zp ^ 0x80;
 * out-of-image rows the x_zp row with pixel step 0), carried between pixels the same way
 * (stride 1: two columns, stride 2: one), one emulated vpdpbusd per column (four u8 x s8
 * products summed, added to the int32 lane modulo 2^32), then the portable epilogue. x86 only:
 * the w4 section exists in x86 streams only (dwconv.h). Not a dispatch target: the binding
 * _native.dwconv_3x3_emu runs it (tests/kernels/test_dwconv.py). */
#include <string.h>

#include "kernels/dwconv/dwconv.h"

#if defined(__x86_64__) || defined(__i386__)

typedef struct {
    uint8_t b[64]; /* lane ch: bytes 4 ch .. 4 ch + 3 */
} column;

static void build(column *o, const int8_t *const rp[3], const size_t rs[3], int32_t ix,
                  int32_t w, size_t nr, uint8_t zu) {
    if (ix < 0 || ix >= w) {
        memset(o->b, zu, sizeof o->b);
        return;
    }
    for (size_t ch = 0; ch < 16; ch++) {
        for (size_t k = 0; k < 3; k++) {
            const int8_t v = ch < nr ? rp[k][(size_t)ix * rs[k] + ch] : 0; /* masked: 0 */
            o->b[4 * ch + k] = (uint8_t)v ^ 0x80u;
        }
        o->b[4 * ch + 3] = o->b[4 * ch]; /* the shuffle's filler: row 0 again */
    }
}

/* acc + per lane the sum of four u8 x s8 products (vpdpbusd: no saturation, wraps) */
static void dpbusd(uint32_t acc[16], const column *u, const unsigned char *wv) {
    for (size_t ch = 0; ch < 16; ch++) {
        int32_t s = 0;
        for (size_t k = 0; k < 4; k++) s += (int32_t)u->b[4 * ch + k] * (int8_t)wv[4 * ch + k];
        acc[ch] += (uint32_t)s;
    }
}

void i8_dwconv_3x3__avx512vnni_emu(const i8_conv2d_params *p, const void *packed,
                                   const int8_t *x, void *y, void *scratch, size_t r0,
                                   size_t r1, const i8_post *post) {
    i8_dwconv_packed s;
    i8_dwconv_sections(p, packed, &s);
    const size_t c = (size_t)p->c, esz = p->out_f32 ? sizeof(float) : 1;
    i8_rq_params rq = i8_rq_params_init(p->y_zp, p->qmin, p->qmax, p->out_f32);
    rq.post = post;
    int8_t *zrow = (int8_t *)scratch + s.cs * 4;
    memset(zrow, p->x_zp, s.cs);
    const uint8_t zu = (uint8_t)p->x_zp ^ 0x80u;
    const int32_t zero16[16] = {0};
    const int stride = p->stride_w;
    for (size_t r = r0; r < r1; r++) {
        const int32_t b = (int32_t)(r / (size_t)p->oh), oy = (int32_t)(r % (size_t)p->oh);
        const int8_t *xb = x + (size_t)b * p->h * p->w * c;
        const int32_t iy0 = oy * p->stride_h - p->pad_t;
        const int8_t *rows[3];
        size_t rs[3];
        for (int k = 0; k < 3; k++) {
            const int32_t iy = iy0 + k;
            const int in = iy >= 0 && iy < p->h;
            rows[k] = in ? xb + (size_t)iy * p->w * c : zrow;
            rs[k] = in ? c : 0;
        }
        unsigned char *yr = (unsigned char *)y + r * (size_t)p->ow * c * esz;
        const int32_t ix0 = -p->pad_l;
        for (size_t ch = 0; ch < c; ch += 16) {
            const size_t nr = c - ch < 16 ? c - ch : 16;
            const int8_t *rp[3] = {rows[0] + ch, rows[1] + ch, rows[2] + ch};
            const unsigned char *wv = s.w4 + ch / 16 * I8_DWCONV_W4_BLOCK;
            column c0, c1, c2;
            build(&c0, rp, rs, ix0, p->w, nr, zu);
            if (stride == 1) build(&c1, rp, rs, ix0 + 1, p->w, nr, zu);
            for (int32_t ox = 0; ox < p->ow; ox++) {
                const int32_t ix = ix0 + ox * stride;
                if (stride != 1) build(&c1, rp, rs, ix + 1, p->w, nr, zu);
                build(&c2, rp, rs, ix + 2, p->w, nr, zu);
                uint32_t acc[16];
                memcpy(acc, wv + 192, sizeof acc); /* bias'' */
                dpbusd(acc, &c0, wv);
                dpbusd(acc, &c1, wv + 64);
                dpbusd(acc, &c2, wv + 128);
                int32_t sacc[16];
                memcpy(sacc, acc, sizeof sacc);
                i8_requant_row__scalar(&rq, sacc, zero16, s.mult + ch,
                                       yr + ((size_t)ox * c + ch) * esz, nr);
                if (stride == 1) {
                    c0 = c1;
                    c1 = c2;
                } else {
                    c0 = c2;
                }
            }
        }
    }
}

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
