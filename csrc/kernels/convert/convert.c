/* The model boundary: float32 <-> int8 (docs/QUANTIZATION.md §6). */
#include "int8rt/kernels.h"
#include "kernels/eltwise/eltwise.h"

/* q = clamp(rint(x / scale) + zp): a true float32 division as ONNX QuantizeLinear specifies
 * (a reciprocal multiply would differ in the last bit, and on ties that flips the result).
 * Clamping the float first keeps the conversion defined for huge or infinite values; NaN fails
 * both comparisons, so it is caught explicitly and maps to zp (a real 0). */
void i8_quantize_f32_run(int64_t n, const float *x, float scale, int32_t zp, int8_t *y) {
#if defined(__aarch64__)
    if (i8_use_neon()) { /* FDIV, 4 lanes (eltwise/neon.c) */
        i8_quantize_f32__neon(n, x, scale, zp, y);
        return;
    }
#endif
    const float lo = (float)(-128 - zp), hi = (float)(127 - zp);
    for (int64_t i = 0; i < n; i++) {
        float v = x[i] / scale;
        if (v != v) {
            y[i] = (int8_t)zp;
            continue;
        }
        v = v < lo ? lo : (v > hi ? hi : v);
        y[i] = (int8_t)((int32_t)lrintf(v) + zp);
    }
}

/* (q - zp) is exact in float32, so the multiply is the only rounding. */
void i8_dequantize_f32_run(int64_t n, const int8_t *x, float scale, int32_t zp, float *y) {
    for (int64_t i = 0; i < n; i++) y[i] = (float)((int32_t)x[i] - zp) * scale;
}
