/* Weight-only int4 matmul with int8 activations (W4A8; int8rt/dynq.h "int4"): the int4
 * weights are packed once per session into 16-channel blocks that the micro-kernels unpack
 * into int8 in registers, the activations are quantized per row as in the dynamic int8
 * matmul, each k group is an exact int32 dot product, and the group scales are applied in
 * float32 per group in k order. Portable C here; x86 kernels in w4a8_x86.c, the same
 * integers and the same float32 operations in the same order, so every path gives the bits
 * of int8rt/reference/dynq.py w4a8_matmul. */
#include <string.h>

#include "int8rt/cpu.h"
#include "int8rt/dynq.h"
#include "kernels/dynq/dynq_internal.h"
#include "kernels/gemm/gemm.h"

/* Packed layout, per 16-channel block b (channels 16b .. 16b + 15; channels past n are zero
 * with zero scale), per k group g, I8_W4_GROUP_BYTES(group) bytes:
 *   group / 8 "octets" of 64 bytes: byte 4c + t (c = channel in the block, t = 0..3) holds
 *     u[k0 + t] in its low nibble and u[k0 + 4 + t] in its high nibble (k0 = first k of the
 *     octet), u in [0, 15] the unsigned int4 code;
 *   64 bytes: the zero point z of channel c in bytes 4c .. 4c + 3 (for vpsubb: w = u - z in
 *     [-15, 15], a signed byte);
 *   16 int32: -128 * sum over the group of (u - z) (the activations enter vpdpbusd as the
 *     unsigned byte q + 128: starting the accumulator here cancels the 128 exactly);
 *   16 float32: the group's scale per channel.
 * A 64-byte octet is one zmm (16 channels x 4 k per nibble half), or two ymm of 8 channels. */
#define W4_META 192

size_t i8_w4_group_bytes(int64_t group) { return (size_t)group * 8 + W4_META; }

size_t i8_w4_packed_size(int64_t n, int64_t k, int64_t group) {
    return (size_t)((n + 15) / 16) * (size_t)(k / group) * i8_w4_group_bytes(group);
}

void i8_w4_pack(int64_t n, int64_t k, int64_t group, const uint8_t *q, const float *scales,
                const uint8_t *zero_points, void *packed) {
    const int64_t ng = k / group, nb = (n + 15) / 16;
    const size_t gs = i8_w4_group_bytes(group);
    memset(packed, 0, i8_w4_packed_size(n, k, group));
    for (int64_t b = 0; b < nb; b++)
        for (int64_t g = 0; g < ng; g++) {
            uint8_t *gp = (uint8_t *)packed + ((size_t)(b * ng + g)) * gs;
            uint8_t *zb = gp + group * 8;
            int32_t *corr = (int32_t *)(zb + 64);
            float *sc = (float *)(zb + 128);
            for (int64_t c = 0; c < 16 && b * 16 + c < n; c++) {
                const int64_t j = b * 16 + c;
                /* symmetric files hold two's complement nibbles q in [-8, 7]: u = q + 8 =
                 * nibble ^ 8, zero point 8 */
                const int32_t z = zero_points ? zero_points[j * ng + g] : 8;
                const uint8_t flip = zero_points ? 0 : 8;
                int32_t sum = 0;
                for (int64_t t = 0; t < group; t++) {
                    const int64_t kk = g * group + t;
                    const uint8_t byte = q[j * (k / 2) + kk / 2];
                    const uint8_t u = (uint8_t)(((kk & 1) ? byte >> 4 : byte & 15) ^ flip);
                    sum += (int32_t)u - z;
                    const int64_t o = t / 8, r = t % 8;
                    uint8_t *dst = gp + o * 64 + c * 4 + (r & 3);
                    *dst |= (uint8_t)(r < 4 ? u : u << 4);
                }
                memset(zb + c * 4, z, 4);
                corr[c] = -128 * sum;
                sc[c] = scales[j * ng + g];
            }
        }
}

size_t i8_w4_scratch_size(int64_t m, int64_t k) {
    return I8_ALIGN_UP((size_t)(m * k), 64) + I8_ALIGN_UP((size_t)m * sizeof(float), 64) + 64;
}

/* rows of u8 activations (q + 128, row stride k) times the packed blocks: the portable
 * twin of the x86 kernels, operation for operation */
static void w4_rows(int64_t rows, int64_t n, int64_t k, int64_t group, const uint8_t *a,
                    const float *sa, const void *packed, const float *bias, float *y) {
    const int64_t ng = k / group, nb = (n + 15) / 16;
    const size_t gs = i8_w4_group_bytes(group);
    for (int64_t i = 0; i < rows; i++) {
        const uint8_t *ar = a + i * k;
        for (int64_t b = 0; b < nb; b++) {
            float f[16] = {0};
            for (int64_t g = 0; g < ng; g++) {
                const uint8_t *gp = (const uint8_t *)packed + (size_t)(b * ng + g) * gs;
                const uint8_t *zb = gp + group * 8;
                const int32_t *corr = (const int32_t *)(zb + 64);
                const float *sc = (const float *)(zb + 128);
                for (int c = 0; c < 16; c++) {
                    int32_t acc = corr[c];
                    const int32_t z = zb[c * 4];
                    for (int64_t o = 0; o < group / 8; o++) {
                        const uint8_t *wb = gp + o * 64 + c * 4;
                        const uint8_t *ak = ar + g * group + o * 8;
                        for (int t = 0; t < 4; t++)
                            acc += (int32_t)ak[t] * ((wb[t] & 15) - z) +
                                   (int32_t)ak[4 + t] * ((wb[t] >> 4) - z);
                    }
                    f[c] = f[c] + (float)acc * sc[c];
                }
            }
            for (int c = 0; c < 16 && b * 16 + c < n; c++) {
                const int64_t j = b * 16 + c;
                y[i * n + j] = bias ? f[c] * sa[i] + bias[j] : f[c] * sa[i];
            }
        }
    }
}

void i8_w4_matmul(int64_t m, int64_t n, int64_t k, int64_t group, const float *a,
                  const void *packed, const float *bias, float *y, void *scratch) {
    uint8_t *q = scratch;
    float *sa = (float *)((unsigned char *)scratch + I8_ALIGN_UP((size_t)(m * k), 64));
#if defined(__x86_64__) || defined(__i386__)
    const int isa = i8_isa_current();
    if (isa >= I8_ISA_AVX2) {
        /* u8 rows q ^ 0x80 = q + 128, the bytes of the dynamic int8 matmul's VNNI rows */
        if (isa >= I8_ISA_AVX512_VNNI)
            i8_dq_prepare_rows_u8__avx512(m, k, a, k, k, q, sa);
        else
            i8_dq_prepare_rows__avx2(I8_DQ_PREP_U8, m, k, a, k, k, q, sa);
        if (isa >= I8_ISA_AVX512_VNNI)
            i8_w4_rows__avx512vnni(m, n, k, group, q, sa, packed, bias, y);
        else if (isa == I8_ISA_AVX_VNNI && i8_cpu_features_cached()->avx_vnni)
            i8_w4_rows__avxvnni(m, n, k, group, q, sa, packed, bias, y);
        else if (isa == I8_ISA_AVX_VNNI)
            i8_w4_rows__avxvnni_evex(m, n, k, group, q, sa, packed, bias, y);
        else
            i8_w4_rows__avx2(m, n, k, group, q, sa, packed, bias, y);
        return;
    }
#endif
    i8_dq_quantize_rows(m, k, a, 1, (int8_t *)q, sa);
    for (int64_t t = 0; t < m * k; t++) q[t] ^= 0x80;
    w4_rows(m, n, k, group, q, sa, packed, bias, y);
}

/* Every W4A8 row kernel compiled in, for the tests (tests/kernels/test_w4a8.py run each one
 * this CPU can run, the emulations everywhere). */
typedef struct {
    const char *name;
    void (*fn)(I8_W4_ROWS_ARGS);
    int32_t native;
} w4_kernel;

static const w4_kernel W4_KERNELS[] = {
    {"scalar", w4_rows, 1},
#if defined(__x86_64__) || defined(__i386__)
    {"avx2", i8_w4_rows__avx2, 1},
    {"avxvnni", i8_w4_rows__avxvnni, 1},
    {"avxvnni_evex", i8_w4_rows__avxvnni_evex, 1},
    {"avx512vnni", i8_w4_rows__avx512vnni, 1},
#endif
    {"avx2_emu", i8_w4_rows__avx2_emu, 0},
    {"avxvnni_emu", i8_w4_rows__avxvnni_emu, 0},
    {"avx512vnni_emu", i8_w4_rows__avx512vnni_emu, 0},
};

int32_t i8_w4_kernel_count(void) { return (int32_t)(sizeof W4_KERNELS / sizeof W4_KERNELS[0]); }

const char *i8_w4_kernel_name(int32_t i) {
    return i >= 0 && i < i8_w4_kernel_count() ? W4_KERNELS[i].name : NULL;
}

int32_t i8_w4_kernel_native(int32_t i) {
    return i >= 0 && i < i8_w4_kernel_count() ? W4_KERNELS[i].native : 0;
}

int32_t i8_w4_kernel_runnable(int32_t i) {
    if (i < 0 || i >= i8_w4_kernel_count()) return 0;
#if defined(__x86_64__) || defined(__i386__)
    const i8_cpu_features *f = i8_cpu_features_cached();
    const char *nm = W4_KERNELS[i].name;
    if (!strcmp(nm, "avx2")) return f->avx2;
    if (!strcmp(nm, "avxvnni")) return f->avx_vnni;
    if (!strcmp(nm, "avxvnni_evex") || !strcmp(nm, "avx512vnni")) return f->avx512_vnni;
#endif
    return 1;
}

int i8_w4_matmul_kernel(int32_t kernel, int64_t m, int64_t n, int64_t k, int64_t group,
                        const float *a, const void *packed, const float *bias, float *y,
                        void *scratch) {
    if (!i8_w4_kernel_runnable(kernel)) return -1;
    uint8_t *q = scratch;
    float *sa = (float *)((unsigned char *)scratch + I8_ALIGN_UP((size_t)(m * k), 64));
    i8_dq_quantize_rows(m, k, a, 1, (int8_t *)q, sa);
    for (int64_t t = 0; t < m * k; t++) q[t] ^= 0x80;
    W4_KERNELS[kernel].fn(m, n, k, group, q, sa, packed, bias, y);
    return 0;
}
