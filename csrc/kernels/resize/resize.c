/* Resize, NHWC. Coordinate transformation and rounding modes live in the index maps built in
 * Python (int8rt/kernel_tables.py); the kernels only gather (nearest) or blend (bilinear). */
#include <string.h>

#include "int8rt/kernels.h"

/* Nearest: each output pixel is one input pixel's whole channel vector, so one memcpy of
 * c * elem_size bytes per pixel, independent of the element type. */
void i8_resize_nearest_run(int32_t n, int32_t h, int32_t w, int32_t c, int32_t oh, int32_t ow,
                          const int32_t *iy, const int32_t *ix, size_t elem_size, const void *x,
                          void *y) {
    const size_t pix = (size_t)c * elem_size;
    const char *xc = (const char *)x;
    char *yc = (char *)y;
    for (int32_t b = 0; b < n; b++) {
        const char *xb = xc + (size_t)b * h * w * pix;
        for (int32_t oy = 0; oy < oh; oy++) {
            const char *xrow = xb + (size_t)iy[oy] * w * pix;
            for (int32_t ox = 0; ox < ow; ox++) {
                memcpy(yc, xrow + (size_t)ix[ox] * pix, pix);
                yc += pix;
            }
        }
    }
}

/* Bilinear with Q11 weights: wy, wx in [0, 2048], the four products sum to 2^22, so
 * |acc| <= 2^22 * 255 < 2^31 and the float multiply by s_x / (s_y 2^22) is the only rounding
 * (docs/QUANTIZATION.md §4, Resize row). */
void i8_resize_bilinear_run(const i8_resize_bilinear_params *p, const int32_t *y0,
                            const int32_t *y1, const int32_t *fy, const int32_t *x0,
                            const int32_t *x1, const int32_t *fx, const int8_t *x, int8_t *y) {
    const int32_t c = p->c, x_zp = p->x_zp, y_zp = p->y_zp;
    const float mult = p->mult;
    for (int32_t b = 0; b < p->n; b++) {
        const int8_t *xb = x + (int64_t)b * p->h * p->w * c;
        for (int32_t oy = 0; oy < p->oh; oy++) {
            const int32_t wy1 = fy[oy], wy0 = 2048 - wy1;
            const int8_t *r0 = xb + (int64_t)y0[oy] * p->w * c;
            const int8_t *r1 = xb + (int64_t)y1[oy] * p->w * c;
            for (int32_t ox = 0; ox < p->ow; ox++) {
                const int32_t wx1 = fx[ox], wx0 = 2048 - wx1;
                const int32_t w00 = wy0 * wx0, w01 = wy0 * wx1, w10 = wy1 * wx0, w11 = wy1 * wx1;
                const int8_t *p00 = r0 + (int64_t)x0[ox] * c, *p01 = r0 + (int64_t)x1[ox] * c;
                const int8_t *p10 = r1 + (int64_t)x0[ox] * c, *p11 = r1 + (int64_t)x1[ox] * c;
                for (int32_t j = 0; j < c; j++) {
                    const int32_t acc = w00 * (p00[j] - x_zp) + w01 * (p01[j] - x_zp) +
                                        w10 * (p10[j] - x_zp) + w11 * (p11[j] - x_zp);
                    *y++ = i8_requantize(acc, mult, y_zp, -128, 127);
                }
            }
        }
    }
}
