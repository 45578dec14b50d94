/* The depthwise row driver shared by the SIMD paths (avx2.c, avx512.c): output rows [r0, r1),
 * per output pixel the kh * kw tap pointers (interior pixels: one add per tap; border pixels:
 * bounds-checked, out-of-image taps point at the scratch row of x_zp), then the path's pixel
 * kernel: PIXEL(ntaps, &s, &rq, c, src, y, esz) specialised for 3x3 and 5x5, PIXEL_ANY for
 * any other tap count. ATTR is the path's target attribute, RQ_TYPE / RQ_INIT its requant
 * epilogue (requant/), RQ_POST(rq, post) hands it the fused post-ops (or asserts there are
 * none: the AVX2 epilogue has no post-ops, dispatch.c runs them after the rows). A macro so each path's copy is compiled with its own target. */
#ifndef INT8RT_DWCONV_DRIVER_H
#define INT8RT_DWCONV_DRIVER_H

#define I8_DWCONV_DEFINE_DRIVER(NAME, ATTR, RQ_TYPE, RQ_INIT, RQ_POST, PIXEL, PIXEL_ANY)        \
ATTR void NAME(const i8_conv2d_params *p, const void *packed, const int8_t *x, void *y,            \
               void *scratch, size_t r0, size_t r1, const i8_post *post) {                         \
    i8_dwconv_packed s;                                                                            \
    i8_dwconv_sections(p, packed, &s);                                                             \
    const size_t c = (size_t)p->c, esz = p->out_f32 ? sizeof(float) : 1;                           \
    const int ntaps = p->kh * p->kw;                                                               \
    RQ_TYPE rq = RQ_INIT(p->y_zp, p->qmin, p->qmax, p->out_f32);                                   \
    RQ_POST(rq, post);                                                                             \
    int8_t *zrow = (int8_t *)scratch + s.cs * 4; /* the scalar kernel's layout of the scratch */   \
    memset(zrow, p->x_zp, s.cs);                                                                   \
    /* tap pointers of one pixel; kh * kw may exceed MAX_TAPS_FAST only for huge kernels,          \
     * which then take one pointer array of up to 1024 taps in chunks (larger: rows of taps) */    \
    const int8_t *src[1024];                                                                       \
    const int fits = ntaps <= 1024;                                                                \
    unsigned char *yb = (unsigned char *)y + r0 * (size_t)p->ow * c * esz;                         \
    /* interior pixels (every tap in the image): tap t is at a fixed offset from the pixel's       \
     * first tap, so the pointers are one add each instead of per-tap bounds checks */             \
    ptrdiff_t tap_off[1024];                                                                       \
    if (fits)                                                                                      \
        for (int32_t ky = 0, t = 0; ky < p->kh; ky++)                                              \
            for (int32_t kx = 0; kx < p->kw; kx++, t++)                                            \
                tap_off[t] = ((ptrdiff_t)ky * p->dil_h * p->w + (ptrdiff_t)kx * p->dil_w) *        \
                             (ptrdiff_t)c;                                                         \
    /* output columns [ox_lo, ox_hi) have all kx taps inside the row */                            \
    const int32_t span_w = (p->kw - 1) * p->dil_w;                                                 \
    int32_t ox_lo = p->pad_l <= 0 ? 0 : (p->pad_l + p->stride_w - 1) / p->stride_w;                \
    int32_t ox_hi = p->w - span_w + p->pad_l <= 0                                                  \
                        ? 0                                                                        \
                        : (p->w - span_w + p->pad_l - 1) / p->stride_w + 1;                        \
    if (ox_hi > p->ow) ox_hi = p->ow;                                                              \
    if (ox_lo > ox_hi) ox_lo = ox_hi;                                                              \
    for (size_t r = r0; r < r1; r++) {                                                             \
        const int32_t b = (int32_t)(r / (size_t)p->oh), oy = (int32_t)(r % (size_t)p->oh);         \
        const int8_t *xb = x + (size_t)b * p->h * p->w * c;                                        \
        const int32_t iy0 = oy * p->stride_h - p->pad_t;                                           \
        const int rows_in = iy0 >= 0 && iy0 + (p->kh - 1) * p->dil_h < p->h;                       \
        for (int32_t ox = 0; ox < p->ow; ox++, yb += c * esz) {                                    \
            if (!fits) {                                                                           \
                /* > 1024 taps: never seen in practice; the portable kernel does the row */        \
                continue;                                                                          \
            }                                                                                      \
            if (rows_in && ox >= ox_lo && ox < ox_hi) {                                            \
                const int8_t *p0 =                                                                 \
                    xb + ((size_t)iy0 * p->w + (size_t)(ox * p->stride_w - p->pad_l)) * c;         \
                for (int t = 0; t < ntaps; t++) src[t] = p0 + tap_off[t];                          \
            } else {                                                                               \
                int t = 0;                                                                         \
                for (int32_t ky = 0; ky < p->kh; ky++) {                                           \
                    const int32_t iy = iy0 + ky * p->dil_h;                                        \
                    const int row_in = iy >= 0 && iy < p->h;                                       \
                    for (int32_t kx = 0; kx < p->kw; kx++, t++) {                                  \
                        const int32_t ix = ox * p->stride_w - p->pad_l + kx * p->dil_w;            \
                        src[t] = row_in && ix >= 0 && ix < p->w                                    \
                                     ? xb + ((size_t)iy * p->w + ix) * c                           \
                                     : zrow;                                                       \
                    }                                                                              \
                }                                                                                  \
            }                                                                                      \
            switch (ntaps) {                                                                       \
            case 9: PIXEL(9, &s, &rq, c, src, yb, esz); break;                                     \
            case 25: PIXEL(25, &s, &rq, c, src, yb, esz); break;                                   \
            default: PIXEL_ANY(ntaps, &s, &rq, c, src, yb, esz); break;                            \
            }                                                                                      \
        }                                                                                          \
        if (!fits) i8_dwconv__scalar(p, packed, x, y, scratch, r, r + 1, post);                    \
    }                                                                                              \
}

#endif
