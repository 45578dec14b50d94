/* MaxPool on float32 in ONNX layout (NCHW), the f32_maxpool record of the dynamic path
 * (int8rt/f32.h). Geometry as the int8 maxpool's (i8_pool_params, kernels/pool/pool.h): taps
 * outside the image are skipped, as ONNX's -inf padding does; a window with no tap inside
 * gives -inf.
 *
 * Each output is m = -inf, then for every in-bounds tap in row-major order
 * m = (v > m || v != v) ? v : m: NaN propagates, and of equal values (0.0 and -0.0) the first
 * tap's stays, exactly the numpy reference's rule (int8rt/reference/f32_records.py). */
#include <math.h>

#include "int8rt/f32.h"
#include "kernels/pool/pool.h"

static inline float max_step(float m, float v) { return (v > m || v != v) ? v : m; }

/* the common CRNN / CNN case, a 2x2 window of stride 2 wholly inside the plane */
static void plane_2x2s2(const float *x, int32_t w, int32_t oh, int32_t ow, float *y) {
    for (int32_t oy = 0; oy < oh; oy++) {
        const float *r0 = x + (int64_t)(2 * oy) * w, *r1 = r0 + w;
        float *yr = y + (int64_t)oy * ow;
        for (int32_t ox = 0; ox < ow; ox++) {
            float m = -INFINITY;
            m = max_step(m, r0[2 * ox]);
            m = max_step(m, r0[2 * ox + 1]);
            m = max_step(m, r1[2 * ox]);
            m = max_step(m, r1[2 * ox + 1]);
            yr[ox] = m;
        }
    }
}

static void plane_any(const i8_pool_params *p, const float *x, float *y) {
    for (int32_t oy = 0; oy < p->oh; oy++)
        for (int32_t ox = 0; ox < p->ow; ox++) {
            int32_t ky0, ky1, kx0, kx1;
            i8_pool_window(p, oy, ox, &ky0, &ky1, &kx0, &kx1);
            float m = -INFINITY;
            for (int32_t ky = ky0; ky < ky1; ky++) {
                const int64_t iy = (int64_t)oy * p->stride_h - p->pad_t + (int64_t)ky * p->dil_h;
                const float *row = x + iy * p->w;
                for (int32_t kx = kx0; kx < kx1; kx++)
                    m = max_step(m, row[(int64_t)ox * p->stride_w - p->pad_l +
                                        (int64_t)kx * p->dil_w]);
            }
            y[(int64_t)oy * p->ow + ox] = m;
        }
}

void i8_f32_maxpool_run(const i8_pool_params *p, const float *x, float *y) {
    const int64_t planes = (int64_t)p->n * p->c, in = (int64_t)p->h * p->w;
    const int64_t out = (int64_t)p->oh * p->ow;
    const int fast = p->kh == 2 && p->kw == 2 && p->stride_h == 2 && p->stride_w == 2 &&
                     p->dil_h == 1 && p->dil_w == 1 && p->pad_t == 0 && p->pad_l == 0 &&
                     2 * p->oh <= p->h && 2 * p->ow <= p->w;
    for (int64_t i = 0; i < planes; i++) {
        if (fast)
            plane_2x2s2(x + i * in, p->w, p->oh, p->ow, y + i * out);
        else
            plane_any(p, x + i * in, y + i * out);
    }
}
