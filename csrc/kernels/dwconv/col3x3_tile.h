/* The x86 3x3 depthwise "column" kernel, written once over a primitive set and included once
 * per instantiation (col3x3_x86.c: zmm vpdpbusd, ymm VEX vpdpbusd, ymm AVX2 vpmaddwd;
 * col3x3_emu.c: the zmm set's portable emulation). Covers 3x3, dilation 1, stride_w 1 or 2,
 * any stride_h and pads (i8_dwconv_3x3_covers); same packed stream and results as
 * i8_dwconv__scalar (dwconv.h), bit for bit. docs/KERNELS.md "dwconv" has the arithmetic.
 *
 * A column is input column ix of the 3 input rows of an output row, for one block of 16
 * channels; an output pixel is the dot of its 3 columns (ix0 + 0, 1, 2) with the block's 3
 * kernel-column weight vectors, started at the block's bias, then the epilogue. A column is
 * built once and carried to every pixel whose window covers it (3 pixels at stride 1, 2 at
 * stride 2); loop order: output row, 16-channel block, pixel. How a column holds the 3 rows'
 * bytes (u8 x + 128 for vpdpbusd, int16 pairs for vpmaddwd), which bias the block starts from
 * and which epilogue runs are the primitive set's business.
 *
 * Include with
 *   C3_FN          the function name (signature: i8_dwconv_3x3__avx512vnni in dwconv.h),
 *   C3_ATTR        the set's target attribute, or nothing (the template adds always_inline
 *                  to its row helper itself),
 *   C3_P(x)        the primitive named x of the set:
 *     types  ctx (per-call constants), col (one column), wts (a block's weights and bias),
 *            acc (16 int32 accumulators), rq (the epilogue's state)
 *     ctx_init(x_zp)                ctx
 *     rq_init(p, post)              rq (post: the fused post-ops, or NULL; a set whose
 *                                   epilogue has none is only called with NULL)
 *     zcol(&ctx)                    the column of an out-of-image ix (every byte x_zp)
 *     column(&ctx, r0, r1, r2, nr, full)   the column at the three row pointers (channel
 *                                   ch of the block at r[k][ch]); nr <= 16 channels exist,
 *                                   full: nr == 16 (a compile-time constant in each loop)
 *     wload(s, block)               wts of 16-channel block `block` of the packed sections
 *     dot3(&wts, c0, c1, c2)        acc = bias + the 3 columns times the 3 weight vectors
 *     store(&rq, &wts, acc, mult, y, nr, int8)   the epilogue: nr outputs at y (mult: the
 *                                   block's multipliers in channel order; int8, a constant:
 *                                   1 when the output is known to be int8)
 * The helpers below are named C3_FN##_... so several instantiations share a file. */

#define C3_CAT_(a, b) a##b
#define C3_CAT(a, b) C3_CAT_(a, b)
#define C3_ROW C3_CAT(C3_FN, _row)

/* One output row of one 16-channel block. rp[k]: input row k of the window at the block's
 * first channel (or the x_zp row), rs[k]: its pixel stride (c, or 0 for the x_zp row);
 * rows_in (a constant): all three rows are in the image, so they share one running offset,
 * and the output is int8 (float32 output takes the general loops: it is rare).
 * Columns are built in order ix0, ix0 + 1, ...; nx is the next one's index and o0..o2 its
 * offsets in the rows (running offsets: no multiply per column). */
static inline __attribute__((always_inline, unused)) C3_ATTR void
C3_ROW(const int stride, const int full, const int rows_in, size_t nr,
       const int8_t *const rp[3], const size_t rs[3], int32_t ix0, int32_t w, int32_t ow,
       const C3_P(wts) * wt, const float *mult, const C3_P(rq) * rq, unsigned char *y,
       size_t ystep, const C3_P(ctx) * cx) {
    const int8_t *const q0 = rp[0], *const q1 = rp[1], *const q2 = rp[2];
    const ptrdiff_t d0 = (ptrdiff_t)rs[0], d1 = rows_in ? d0 : (ptrdiff_t)rs[1],
                    d2 = rows_in ? d0 : (ptrdiff_t)rs[2];
    ptrdiff_t o0 = ix0 * d0, o1 = ix0 * d1, o2 = ix0 * d2;
    int32_t nx = ix0;
    /* the next column (checked: out of the image it is the x_zp column), then step to the
     * one after it */
#define C3_STEP()                                                                               \
    do {                                                                                        \
        nx++;                                                                                   \
        o0 += d0;                                                                               \
        if (!rows_in) {                                                                         \
            o1 += d1;                                                                           \
            o2 += d2;                                                                           \
        }                                                                                       \
    } while (0)
#define C3_IN(col)                                                                              \
    ((col) = C3_P(column)(cx, q0 + o0, q1 + (rows_in ? o0 : o1), q2 + (rows_in ? o0 : o2), nr, \
                          full))
#define C3_NEXT(col)                                                                            \
    do {                                                                                        \
        if ((uint32_t)nx < (uint32_t)w)                                                         \
            C3_IN(col);                                                                         \
        else                                                                                    \
            (col) = C3_P(zcol)(cx);                                                             \
        C3_STEP();                                                                              \
    } while (0)
#define C3_NEXT_IN(col)                                                                         \
    do {                                                                                        \
        C3_IN(col);                                                                             \
        C3_STEP();                                                                              \
    } while (0)
#define C3_PIXEL(a, b, c)                                                                       \
    do {                                                                                        \
        C3_P(store)(rq, wt, C3_P(dot3)(wt, a, b, c), mult, y, nr, rows_in);                     \
        y += ystep;                                                                             \
    } while (0)
    /* rows_in (the bulk of the work): first the pixels whose new columns are all inside the
     * image, unrolled so the carried columns change roles instead of being copied (3 pixels a
     * turn at stride 1, 2 at stride 2) and without bounds checks; then, and for the other
     * rows, one checked pixel a turn */
    C3_P(col) c0, c1, c2;
    int32_t ox = 0;
    C3_NEXT(c0);
    if (stride == 1) {
        C3_NEXT(c1);
        /* pixel ox builds column ix0 + 2 + ox */
        const int32_t n_in = !rows_in || nx < 0 ? 0 : w - nx < ow ? w - nx : ow;
        for (; ox + 3 <= n_in; ox += 3) {
            C3_NEXT_IN(c2);
            C3_PIXEL(c0, c1, c2);
            C3_NEXT_IN(c0);
            C3_PIXEL(c1, c2, c0);
            C3_NEXT_IN(c1);
            C3_PIXEL(c2, c0, c1);
        }
        for (; ox < ow; ox++) {
            C3_NEXT(c2);
            C3_PIXEL(c0, c1, c2);
            c0 = c1;
            c1 = c2;
        }
    } else {
        /* pixel ox builds columns ix0 + 1 + 2 ox and ix0 + 2 + 2 ox */
        const int32_t n_in = !rows_in || nx < 0 ? 0 : (w - nx) / 2 < ow ? (w - nx) / 2 : ow;
        for (; ox + 2 <= n_in; ox += 2) {
            C3_NEXT_IN(c1);
            C3_NEXT_IN(c2);
            C3_PIXEL(c0, c1, c2);
            C3_NEXT_IN(c1);
            C3_NEXT_IN(c0);
            C3_PIXEL(c2, c1, c0);
        }
        for (; ox < ow; ox++) {
            C3_NEXT(c1);
            C3_NEXT(c2);
            C3_PIXEL(c0, c1, c2);
            c0 = c2;
        }
    }
#undef C3_PIXEL
#undef C3_NEXT_IN
#undef C3_NEXT
#undef C3_IN
#undef C3_STEP
}

C3_ATTR void C3_FN(const i8_conv2d_params *p, const void *packed, const int8_t *x, void *y,
                   void *scratch, size_t r0, size_t r1, const i8_post *post) {
    i8_dwconv_packed s;
    i8_dwconv_sections(p, packed, &s);
    const size_t c = (size_t)p->c, esz = p->out_f32 ? sizeof(float) : 1;
    const C3_P(rq) rq = C3_P(rq_init)(p, post);
    int8_t *zrow = (int8_t *)scratch + s.cs * 4; /* the scalar kernel's layout of the scratch */
    memset(zrow, p->x_zp, s.cs);
    const C3_P(ctx) cx = C3_P(ctx_init)(p->x_zp);
    const size_t ystep = c * esz;
    for (size_t r = r0; r < r1; r++) {
        const int32_t b = (int32_t)(r / (size_t)p->oh), oy = (int32_t)(r % (size_t)p->oh);
        const int8_t *xb = x + (size_t)b * p->h * p->w * c;
        const int32_t iy0 = oy * p->stride_h - p->pad_t;
        const int8_t *rows[3];
        size_t rs[3];
        const int rows_in = iy0 >= 0 && iy0 + 2 < p->h && !p->out_f32;
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
            const C3_P(wts) wt = C3_P(wload)(&s, ch / 16);
            unsigned char *yc = yr + ch * esz;
            /* constant stride, full-or-tail and rows: each combination its own loops */
#define C3_ROW_CALL(stride, full, rows_in, nr)                                                  \
    C3_ROW(stride, full, rows_in, nr, rp, rs, ix0, p->w, p->ow, &wt, s.mult + ch, &rq, yc,      \
           ystep, &cx)
            if (p->stride_w == 1) {
                if (nr == 16 && rows_in)
                    C3_ROW_CALL(1, 1, 1, 16);
                else if (nr == 16)
                    C3_ROW_CALL(1, 1, 0, 16);
                else
                    C3_ROW_CALL(1, 0, 0, nr);
            } else {
                if (nr == 16 && rows_in)
                    C3_ROW_CALL(2, 1, 1, 16);
                else if (nr == 16)
                    C3_ROW_CALL(2, 1, 0, 16);
                else
                    C3_ROW_CALL(2, 0, 0, nr);
            }
#undef C3_ROW_CALL
        }
    }
}

#undef C3_ROW
