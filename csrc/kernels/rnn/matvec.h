/* Dynamic-int8 matrix-vector product for the recurrent step h·R (one row at a time): the
 * same arithmetic as i8dq_matmul with per-row activations (int8rt/dynq.h), so the two are
 * interchangeable bit for bit:
 *   q = clamp(rint(a * (127 / amax)), -127, 127), s_a = amax / 127 (1 when amax = 0),
 *   acc[j] = sum_k q[k] * w[j, k] (int32, exact), y[j] = (float(acc[j]) * s_w[j]) * s_a + b[j].
 *
 * Packed layout "K4N8": a header (n, k, padded sizes), colsum [n8] int32 (sum_k w[j, k]),
 * s_w [n8] float32, then the weights in blocks of 8 output columns × 4 k, [n8 / 8][k4 / 4][8][4]
 * int8, zero padded (n8 = n rounded up to 8, k4 = k rounded up to 4). One ymm register holds
 * one block: vpdpbusd (AVX-VNNI, VEX or EVEX) adds 4 products per column lane; it takes
 * unsigned activations, so the kernel feeds q + 128 (q XOR 0x80) and subtracts
 * 128 · colsum[j]. AVX2 widens the block to int16 and uses vpmaddwd (k pairs), then adds the
 * pairs. Every path is exact integer arithmetic, so all give the same acc. */
#ifndef INT8RT_RNN_MATVEC_H
#define INT8RT_RNN_MATVEC_H

#include <stddef.h>
#include <stdint.h>

size_t i8mv_packed_size(int32_t n, int32_t k);
void i8mv_pack(int32_t n, int32_t k, const int8_t *w, const float *w_scale, void *packed);
size_t i8mv_scratch_size(int32_t n, int32_t k);
/* y [n] = dynq(a [k]) · Wᵀ + bias (bias may be NULL) on the current ISA path */
void i8mv_run(const void *packed, const float *bias, const float *a, float *y, void *scratch);

/* acc [n8] from q [k4] (int8, zero padded), one per path */
void i8mv_dot__scalar(const void *packed, const int8_t *q, int32_t *acc);
#if defined(__x86_64__) || defined(__i386__)
void i8mv_dot__avx2(const void *packed, const int8_t *q, int32_t *acc);
void i8mv_dot__avxvnni(const void *packed, const int8_t *q, int32_t *acc);
void i8mv_dot__avxvnni_evex(const void *packed, const int8_t *q, int32_t *acc);
/* the row quantization and epilogue steps; each returns how many leading elements it did
 * (absmax: all) */
float i8mv_absmax__avx2(int32_t k, const float *a);
int32_t i8mv_quantize__avx2(int32_t k, const float *a, float inv, int8_t *q);
int32_t i8mv_epilogue__avx2(int32_t n, const int32_t *acc, const float *sw, float sa,
                            const float *bias, float *y);
#endif

#endif
