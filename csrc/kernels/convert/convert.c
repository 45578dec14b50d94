/* The model boundary: float32 <-> int8 (docs/QUANTIZATION.md §6), flat or with the
 * NCHW <-> NHWC move fused in (convert.h); SIMD kernels in avx2.c / avx512.c. */
#include <string.h>

#include "int8rt/kernels.h"
#include "kernels/convert/convert.h"
#include "kernels/eltwise/eltwise.h"
#include "kernels/x86_paths.h"

/* q = clamp(rint(x / scale) + zp): a true float32 division as ONNX QuantizeLinear specifies
 * (a reciprocal multiply would differ in the last bit, and on ties that flips the result).
 * Clamping the float first keeps the conversion defined for huge or infinite values; NaN fails
 * both comparisons, so it is caught explicitly and maps to zp (a real 0). */
static inline int8_t quant1(float x, float scale, int32_t zp, float lo, float hi) {
    float v = x / scale;
    if (v != v) return (int8_t)zp;
    v = v < lo ? lo : (v > hi ? hi : v);
    return (int8_t)((int32_t)lrintf(v) + zp);
}

void i8_quantize_f32__scalar(int64_t n, const float *x, float scale, int32_t zp, int8_t *y) {
    const float lo = (float)(-128 - zp), hi = (float)(127 - zp);
    for (int64_t i = 0; i < n; i++) y[i] = quant1(x[i], scale, zp, lo, hi);
}

void i8_quantize_f32_run(int64_t n, const float *x, float scale, int32_t zp, int8_t *y) {
#if defined(__aarch64__)
    if (i8_use_neon()) { /* FDIV, 4 lanes (eltwise/neon.c) */
        i8_quantize_f32__neon(n, x, scale, zp, y);
        return;
    }
#endif
#if defined(__x86_64__) || defined(__i386__)
    const int32_t level = i8_x86_level();
    if (level == 2) {
        i8_quantize_f32__avx512(n, x, scale, zp, y);
        return;
    }
    if (level == 1) {
        i8_quantize_f32__avx2(n, x, scale, zp, y);
        return;
    }
#endif
    i8_quantize_f32__scalar(n, x, scale, zp, y);
}

void i8_quant_nchw_block__scalar(int64_t c, int64_t hw, int64_t nr, const float *xs,
                                 float scale, int32_t zp, int8_t *ys) {
    const float lo = (float)(-128 - zp), hi = (float)(127 - zp);
    for (int64_t p = 0; p < nr; p++)
        for (int64_t ch = 0; ch < c; ch++)
            ys[p * c + ch] = quant1(xs[ch * hw + p], scale, zp, lo, hi);
}

void i8_quantize_f32_nchw_run(int64_t c, int64_t hw, int64_t p0, int64_t p1, const float *x,
                              float scale, int32_t zp, int8_t *y) {
    if (c <= 0 || hw <= 0) return;
    i8_quant_block_fn block = i8_quant_nchw_block__scalar;
#if defined(__aarch64__)
    if (i8_use_neon()) block = i8_quant_nchw_block__neon; /* FDIV + ST3 (convert/neon.c) */
#endif
#if defined(__x86_64__) || defined(__i386__)
    const int32_t level = i8_x86_level();
    if (level == 2) block = i8_quant_nchw_block__avx512;
    else if (level == 1) block = i8_quant_nchw_block__avx2;
#endif
    /* blocks of 16 pixels that never cross an image */
    for (int64_t p = p0; p < p1;) {
        const int64_t img = p / hw, s = p % hw;
        int64_t nr = hw - s < p1 - p ? hw - s : p1 - p;
#if defined(__x86_64__) || defined(__i386__)
        if (block == i8_quant_nchw_block__avx2 && c == 3 && nr >= 16) {
            /* the image's whole blocks from here in one call */
            const int64_t nblk = nr / 16;
            i8_quant_nchw3_blocks__avx2(hw, nblk, x + img * c * hw + s, scale, zp, y + p * c);
            p += 16 * nblk;
            continue;
        }
#endif
        if (nr > 16) nr = 16;
        block(c, hw, nr, x + img * c * hw + s, scale, zp, y + p * c);
        p += nr;
    }
}

/* (q - zp) is exact in float32, so the multiply is the only rounding. */
void i8_dequantize_f32_run(int64_t n, const int8_t *x, float scale, int32_t zp, float *y) {
#if defined(__x86_64__) || defined(__i386__)
    const int32_t level = i8_x86_level();
    if (level == 2) {
        i8_dequantize_f32__avx512(n, x, scale, zp, y);
        return;
    }
    if (level == 1) {
        i8_dequantize_f32__avx2(n, x, scale, zp, y);
        return;
    }
#endif
    for (int64_t i = 0; i < n; i++) y[i] = (float)((int32_t)x[i] - zp) * scale;
}

/* NHWC -> NCHW: each block of up to 64 pixels of one image is gathered channel by channel
 * into a contiguous row (a byte gather, cheap next to the float stores), then converted by the
 * flat kernel of the current path straight into the channel's plane. */
void i8_dequantize_f32_nchw_run(int64_t c, int64_t hw, int64_t p0, int64_t p1, const int8_t *x,
                                float scale, int32_t zp, float *y) {
    if (c <= 0 || hw <= 0) return;
    int8_t row[64];
    for (int64_t p = p0; p < p1;) {
        const int64_t img = p / hw, s = p % hw;
        int64_t nr = hw - s < p1 - p ? hw - s : p1 - p;
        if (nr > 64) nr = 64;
        const int8_t *xs = x + p * c;
        float *ys = y + img * c * hw + s;
        for (int64_t ch = 0; ch < c; ch++) {
            if (c == 1) {
                memcpy(row, xs, (size_t)nr);
            } else {
                for (int64_t k = 0; k < nr; k++) row[k] = xs[k * c + ch];
            }
            i8_dequantize_f32_run(nr, row, scale, zp, ys + ch * hw);
        }
        p += nr;
    }
}
