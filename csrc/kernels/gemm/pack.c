/* Packing for the gemm core (see gemm.h for the layouts and the folded bias), and the
 * activation-row preparation (pack_a) of the broadcast layouts. */
#include <string.h>

#include "int8rt/cpu.h"
#include "kernels/gemm/gemm.h"

#if defined(__aarch64__)
#include <arm_neon.h>
#endif

#define PANEL_HEADER_BYTES 64

static size_t n4_of(int32_t n) { return I8_ALIGN_UP((size_t)n, I8_GEMM_NR); }
static size_t n16_of(int32_t n) { return I8_ALIGN_UP((size_t)n, 16); }
static size_t kp_of(int32_t k) { return I8_ALIGN_UP((size_t)k, I8_GEMM_KB); }

static size_t weight_bytes(int32_t n, int32_t k) {
    const size_t rows = n4_of(n) * kp_of(k);
    /* K2N16 (the largest: int16) exists on every target: its portable kernel can run it */
    const size_t k2n16 = n16_of(n) * kp_of(k) * 2;
    return I8_ALIGN_UP(rows > k2n16 ? rows : k2n16, 64);
}

static size_t vec_bytes(int32_t n) { return I8_ALIGN_UP(n16_of(n) * 4, 64); }

size_t i8_gemm_packed_size(int32_t n, int32_t k) {
    return PANEL_HEADER_BYTES + 2 * vec_bytes(n) + weight_bytes(n, k);
}

size_t i8_gemm_scratch_size(size_t m, int32_t k) {
    /* the widest prepared row (sse2: int16 pairs x 4), I8_GEMM_A_BLOCK_BYTES of them but at
     * least one tile */
    const size_t row = kp_of(k) * I8_GEMM_A_ELEM_MAX;
    size_t rows = I8_GEMM_A_BLOCK_BYTES / row;
    if (rows < I8_GEMM_MR_MAX) rows = I8_GEMM_MR_MAX;
    if (rows > m) rows = m;
    return rows * row + 64; /* + 64: the driver aligns the rows to 64 bytes */
}

void i8_gemm_pack_layout(int32_t layout, int32_t n, int32_t k, const int8_t *w, size_t w_stride,
                         const int32_t *bias, const float *mult, int32_t x_zp, void *packed) {
    const size_t kp = kp_of(k);
    unsigned char *base = packed;
    int32_t *pb = (int32_t *)(base + PANEL_HEADER_BYTES);
    float *pm = (float *)(base + PANEL_HEADER_BYTES + vec_bytes(n));
    unsigned char *pw = base + PANEL_HEADER_BYTES + 2 * vec_bytes(n);
    memset(packed, 0, i8_gemm_packed_size(n, k));
    memcpy(base, &layout, sizeof layout);
    /* K4N16 kernels see x + 128 (u8), so their bias also cancels 128 * sum(w) */
    const int64_t zp = (int64_t)x_zp + (layout == I8_GEMM_K4N16 ? 128 : 0);
    int32_t w_m128 = 0; /* header bytes 4-7: some weight is -128 (gemm.h, w_m128) */
    int32_t w_le64 = 1; /* header bytes 8-11: every |w| <= 64 (gemm.h, w_le64) */
    for (int32_t j = 0; j < n; j++) {
        const int8_t *row = w + (size_t)j * w_stride;
        int64_t sum = 0;
        for (int32_t i = 0; i < k; i++) {
            sum += row[i];
            w_m128 |= row[i] == -128;
            w_le64 &= row[i] >= -64 && row[i] <= 64;
        }
        if (layout == I8_GEMM_ROWS) memcpy(pw + (size_t)j * kp, row, (size_t)k);
        const int64_t b = (bias ? (int64_t)bias[j] : 0) - zp * sum;
        pb[j] = (int32_t)(uint32_t)(uint64_t)b; /* modulo 2^32, see gemm.h */
        pm[j] = mult[j];
    }
    memcpy(base + sizeof layout, &w_m128, sizeof w_m128);
    memcpy(base + 2 * sizeof layout, &w_le64, sizeof w_le64);
    if (layout == I8_GEMM_K2N16) {
        /* [j / 16][i / 2][j % 16][i % 2] int16, written in memory order */
        int16_t *d = (int16_t *)pw;
        for (int32_t j0 = 0; j0 < n; j0 += 16)
            for (size_t i = 0; i < kp; i += 2)
                for (int32_t jj = j0; jj < j0 + 16; jj++, d += 2) {
                    if (jj >= n) continue; /* zero padding channels */
                    const int8_t *row = w + (size_t)jj * w_stride;
                    d[0] = i < (size_t)k ? row[i] : 0;
                    d[1] = i + 1 < (size_t)k ? row[i + 1] : 0;
                }
    } else if (layout == I8_GEMM_K4N16 || layout == I8_GEMM_K4N16S) {
        /* [j / 16][i / 4][j % 16][i % 4] int8, written in memory order */
        int8_t *d = (int8_t *)pw;
        for (int32_t j0 = 0; j0 < n; j0 += 16)
            for (size_t i = 0; i < kp; i += 4)
                for (int32_t jj = j0; jj < j0 + 16; jj++, d += 4) {
                    if (jj >= n) continue;
                    const int8_t *row = w + (size_t)jj * w_stride;
                    for (size_t t = 0; t < 4; t++) d[t] = i + t < (size_t)k ? row[i + t] : 0;
                }
    }
}

int32_t i8_gemm_pack_layout_for(int32_t isa, int32_t n, int32_t k, const int8_t *w,
                                size_t w_stride) {
    const int32_t layout = i8_gemm_layout_for(isa);
#if defined(I8_GEMM_HAVE_X86)
    if (isa == I8_ISA_AVX2) {
        for (int32_t j = 0; j < n; j++)
            for (int32_t i = 0; i < k; i++) {
                const int8_t v = w[(size_t)j * w_stride + (size_t)i];
                if (v < -64 || v > 64) return layout;
            }
        return I8_GEMM_K4N16; /* the avx2ubs tiles (gemm.h, w_le64) */
    }
#else
    (void)n;
    (void)k;
    (void)w;
    (void)w_stride;
#endif
    return layout;
}

void i8_gemm_pack(int32_t n, int32_t k, const int8_t *w, size_t w_stride, const int32_t *bias,
                  const float *mult, int32_t x_zp, void *packed) {
    i8_gemm_pack_layout(i8_gemm_pack_layout_for(i8_isa_current(), n, k, w, w_stride), n, k, w,
                        w_stride, bias, mult, x_zp, packed);
}

void i8_gemm_panel_init(i8_gemm_panel *pn, int32_t n, int32_t k, const void *packed,
                        int32_t y_zp, int32_t qmin, int32_t qmax, int32_t out_f32) {
    const unsigned char *base = packed;
    memcpy(&pn->layout, base, sizeof pn->layout);
    memcpy(&pn->w_m128, base + sizeof pn->layout, sizeof pn->w_m128);
    memcpy(&pn->w_le64, base + 2 * sizeof pn->layout, sizeof pn->w_le64);
    pn->n = n;
    pn->k = k;
    pn->kp = (int32_t)kp_of(k);
    pn->bias = (const int32_t *)(base + PANEL_HEADER_BYTES);
    pn->mult = (const float *)(base + PANEL_HEADER_BYTES + vec_bytes(n));
    pn->w = base + PANEL_HEADER_BYTES + 2 * vec_bytes(n);
    pn->y_zp = y_zp;
    pn->qmin = qmin;
    pn->qmax = qmax;
    pn->out_f32 = out_f32;
    pn->scratch = NULL;
    pn->scratch_bytes = 0;
    pn->post = NULL;
}

/* ---- activation rows for the broadcast tiles: portable versions (the _emu kernels' own, and
 * the reference the AVX2 versions below must equal) ------------------------------------- */
void i8_gemm_pack_a_i16(size_t rows, const int8_t *src, size_t src_stride, size_t k, size_t kc,
                        void *dst) {
    int16_t *d = dst;
    for (size_t r = 0; r < rows; r++, src += src_stride, d += kc) {
        for (size_t i = 0; i < k; i++) d[i] = src[i];
        for (size_t i = k; i < kc; i++) d[i] = 0;
    }
}

/* int16 pairs, each pair written 4 times (16 bytes per k pair): the sse2 tiles' broadcast is
 * then one aligned load */
void i8_gemm_pack_a_i16x4(size_t rows, const int8_t *src, size_t src_stride, size_t k, size_t kc,
                          void *dst) {
    int16_t *d = dst;
    for (size_t r = 0; r < rows; r++, src += src_stride, d += 4 * kc)
        for (size_t i = 0; i < kc; i += 2) {
            const int16_t x0 = i < k ? src[i] : 0, x1 = i + 1 < k ? src[i + 1] : 0;
            for (size_t t = 0; t < 4; t++) {
                d[4 * i + 2 * t] = x0;
                d[4 * i + 2 * t + 1] = x1;
            }
        }
}

void i8_gemm_pack_a_s8(size_t rows, const int8_t *src, size_t src_stride, size_t k, size_t kc,
                       void *dst) {
    int8_t *d = dst;
    for (size_t r = 0; r < rows; r++, src += src_stride, d += kc) {
        memcpy(d, src, k);
        memset(d + k, 0, kc - k);
    }
}

#if defined(__aarch64__)
/* the 4 quads of v, each broadcast to 16 bytes, to d[0..63]: 4 DUP + one ST1 of four registers
 * (asm: from vdupq_laneq_s32 gcc 12 reloaded each quad as a scalar first, 12 instructions
 * per 16 bytes with the loop) */
static inline void quads_x4(int8_t *d, int8x16_t v) {
    __asm__("dup v16.4s, %[v].s[0]\n\t"
            "dup v17.4s, %[v].s[1]\n\t"
            "dup v18.4s, %[v].s[2]\n\t"
            "dup v19.4s, %[v].s[3]\n\t"
            "st1 {v16.4s, v17.4s, v18.4s, v19.4s}, [%[d]]"
            :
            : [d] "r"(d), [v] "w"(v)
            : "v16", "v17", "v18", "v19", "memory");
}

/* n (a multiple of 64) contiguous bytes of s, every quad broadcast to 16 bytes, to d: per 64
 * bytes one LD1 of four registers, 16 DUP, four ST1 of four (post-incremented), one counter:
 * 23 instructions per 64 bytes */
static inline void quads_x4_stream(int8_t *d, const int8_t *s, size_t n) {
    size_t steps = n / 64;
    __asm__ volatile(
        "1:\n\t"
        "ld1 {v0.16b, v1.16b, v2.16b, v3.16b}, [%[s]], #64\n\t"
        "dup v16.4s, v0.s[0]\n\t"
        "dup v17.4s, v0.s[1]\n\t"
        "dup v18.4s, v0.s[2]\n\t"
        "dup v19.4s, v0.s[3]\n\t"
        "dup v20.4s, v1.s[0]\n\t"
        "dup v21.4s, v1.s[1]\n\t"
        "dup v22.4s, v1.s[2]\n\t"
        "dup v23.4s, v1.s[3]\n\t"
        "st1 {v16.4s, v17.4s, v18.4s, v19.4s}, [%[d]], #64\n\t"
        "dup v24.4s, v2.s[0]\n\t"
        "dup v25.4s, v2.s[1]\n\t"
        "dup v26.4s, v2.s[2]\n\t"
        "dup v27.4s, v2.s[3]\n\t"
        "st1 {v20.4s, v21.4s, v22.4s, v23.4s}, [%[d]], #64\n\t"
        "dup v16.4s, v3.s[0]\n\t"
        "dup v17.4s, v3.s[1]\n\t"
        "dup v18.4s, v3.s[2]\n\t"
        "dup v19.4s, v3.s[3]\n\t"
        "st1 {v24.4s, v25.4s, v26.4s, v27.4s}, [%[d]], #64\n\t"
        "st1 {v16.4s, v17.4s, v18.4s, v19.4s}, [%[d]], #64\n\t"
        "subs %[n], %[n], #1\n\t"
        "b.ne 1b"
        : [d] "+r"(d), [s] "+r"(s), [n] "+r"(steps)
        :
        : "v0", "v1", "v2", "v3", "v16", "v17", "v18", "v19", "v20", "v21", "v22", "v23",
          "v24", "v25", "v26", "v27", "cc", "memory");
}
#endif

/* Each k quad of a raw int8 row broadcast to 16 bytes (4 * kc bytes per row, zero beyond k):
 * the neonmlal / neonmull tiles load a quad ready for SMULL against 4 channels' quads instead
 * of a DUP per quad, row and column block (gen_gemm_tiles.py, pair_tile). */
void i8_gemm_pack_a_s8x4(size_t rows, const int8_t *src, size_t src_stride, size_t k, size_t kc,
                         void *dst) {
    int8_t *d = dst;
#if defined(__aarch64__)
    if (k == kc && src_stride == k) {
        /* contiguous rows without padding (1x1 convolutions with k a multiple of 16: NHWC
         * rows back to back): the block is one stream (quads_x4_stream), no per-row loop */
        const size_t total = rows * k, whole = total / 64 * 64;
        if (whole) quads_x4_stream(d, src, whole);
        for (size_t i = whole; i < total; i += 16) quads_x4(d + 4 * i, vld1q_s8(src + i));
        return;
    }
#endif
    for (size_t r = 0; r < rows; r++, src += src_stride, d += 4 * kc) {
#if defined(__aarch64__)
        /* kc is a multiple of 16: whole 16-byte steps, those past the end of k (the last
         * partial one and the zero padding) through a zeroed copy */
        size_t i = 0;
        for (; i + 16 <= k; i += 16) quads_x4(d + 4 * i, vld1q_s8(src + i));
        for (; i < kc; i += 16) {
            int8_t t[16] = {0};
            if (i < k) memcpy(t, src + i, k - i);
            quads_x4(d + 4 * i, vld1q_s8(t));
        }
#else
        for (size_t i = 0; i < kc; i += 4) {
            int8_t quad[4];
            for (size_t t = 0; t < 4; t++) quad[t] = i + t < k ? src[i + t] : 0;
            for (size_t t = 0; t < 4; t++) memcpy(d + 4 * i + 4 * t, quad, 4);
        }
#endif
    }
}

/* x ^ 0x80 = x + 128 as u8: the unsigned operand of vpdpbusd (gemm.h, K4N16). The padding
 * value is irrelevant (the weights are zero there); 0 keeps it deterministic. */
void i8_gemm_pack_a_u8(size_t rows, const int8_t *src, size_t src_stride, size_t k, size_t kc,
                       void *dst) {
    uint8_t *d = dst;
    for (size_t r = 0; r < rows; r++, src += src_stride, d += kc) {
        for (size_t i = 0; i < k; i++) d[i] = (uint8_t)src[i] ^ 0x80u;
        for (size_t i = k; i < kc; i++) d[i] = 0;
    }
}

#if defined(__x86_64__) || defined(__i386__)
#include <immintrin.h>

#define AVX2 __attribute__((target("avx2")))

/* vpshufb indices for a tail of t = 1..15 bytes held in the top t bytes of a vector: the 16
 * bytes at tail_shift + 16 - t are 16 - t, ..., 15 (the tail moved to bytes 0 .. t - 1),
 * then 0x80 (zero) */
static const int8_t tail_shift[32] = {
    0,    1,    2,    3,    4,    5,    6,    7,    8,    9,    10,   11,   12,   13,   14,
    15,   -128, -128, -128, -128, -128, -128, -128, -128, -128, -128, -128, -128, -128, -128,
    -128, -128};

/* rows of k int8 -> kc int16, zero beyond k; dst 32-byte aligned, kc a multiple of 16 */
AVX2 void i8_gemm_pack_a_i16__avx2(size_t rows, const int8_t *src, size_t src_stride, size_t k,
                                   size_t kc, void *dst) {
    int16_t *d = dst;
    if (k == kc && src_stride == k) {
        /* contiguous rows without padding (1x1 convolutions on NHWC, c a multiple of 16): one
         * flat run of rows * k bytes, 64 a turn; per row the loop bounds and tail checks cost
         * as much as the widening (measured under qemu: ~27 instructions per MobileNetV2 row) */
        const size_t n = rows * k, n64 = n & ~(size_t)63;
        size_t i = 0;
        for (; i < n64; i += 64) { /* written out: gcc -O2 keeps a 4-trip inner loop */
            const __m128i *const s = (const __m128i *)(src + i);
            __m256i *const o = (__m256i *)(d + i);
            _mm256_store_si256(o, _mm256_cvtepi8_epi16(_mm_loadu_si128(s)));
            _mm256_store_si256(o + 1, _mm256_cvtepi8_epi16(_mm_loadu_si128(s + 1)));
            _mm256_store_si256(o + 2, _mm256_cvtepi8_epi16(_mm_loadu_si128(s + 2)));
            _mm256_store_si256(o + 3, _mm256_cvtepi8_epi16(_mm_loadu_si128(s + 3)));
        }
        for (; i < n; i += 16) /* n is a multiple of 16: kc is */
            _mm256_store_si256((__m256i *)(d + i),
                               _mm256_cvtepi8_epi16(_mm_loadu_si128((const __m128i *)(src + i))));
        return;
    }
    const size_t k16 = k & ~(size_t)15, k32 = k & ~(size_t)31;
    /* a tail of k - k16 < 16 bytes, k >= 16: the 16 bytes that end at k (in the row), moved
     * down to byte 0 by vpshufb and zero above (index bit 7 set), with the indices loaded
     * once per call: no copy through the stack and no memcpy call per row (MobileNetV2's
     * stem, k = 27, and its k = 24 expansions) */
    const int shuffled_tail = k > k16 && k >= 16;
    const __m128i tail_idx = _mm_loadu_si128(
        (const __m128i *)(tail_shift + 16 - (shuffled_tail ? k - k16 : 0)));
    for (size_t r = 0; r < rows; r++, src += src_stride, d += kc) {
        size_t i = 0;
        for (; i < k32; i += 32) { /* two 16-byte steps a turn: half the loop overhead */
            _mm256_store_si256((__m256i *)(d + i),
                               _mm256_cvtepi8_epi16(_mm_loadu_si128((const __m128i *)(src + i))));
            _mm256_store_si256(
                (__m256i *)(d + i + 16),
                _mm256_cvtepi8_epi16(_mm_loadu_si128((const __m128i *)(src + i + 16))));
        }
        if (i < k16) {
            _mm256_store_si256((__m256i *)(d + i),
                               _mm256_cvtepi8_epi16(_mm_loadu_si128((const __m128i *)(src + i))));
            i += 16;
        }
        if (shuffled_tail) {
            const __m128i last = _mm_loadu_si128((const __m128i *)(src + k - 16));
            _mm256_store_si256((__m256i *)(d + i),
                               _mm256_cvtepi8_epi16(_mm_shuffle_epi8(last, tail_idx)));
            i += 16;
        } else if (i < k) { /* k < 16: fewer bytes in the row than one load */
            int8_t t[16] = {0};
            memcpy(t, src + i, k - i);
            _mm256_store_si256((__m256i *)(d + i),
                               _mm256_cvtepi8_epi16(_mm_loadu_si128((const __m128i *)t)));
            i += 16;
        }
        for (; i < kc; i += 16) _mm256_store_si256((__m256i *)(d + i), _mm256_setzero_si256());
    }
}

/* rows of k int8 -> kc u8 (x ^ 0x80), zero beyond k; kc a multiple of 16 */
AVX2 void i8_gemm_pack_a_u8__avx2(size_t rows, const int8_t *src, size_t src_stride, size_t k,
                                  size_t kc, void *dst) {
    uint8_t *d = dst;
    const __m256i s32 = _mm256_set1_epi8((char)0x80);
    const __m128i s16 = _mm_set1_epi8((char)0x80);
    const size_t k16 = k & ~(size_t)15;
    for (size_t r = 0; r < rows; r++, src += src_stride, d += kc) {
        size_t i = 0;
        for (; i + 32 <= k16; i += 32)
            _mm256_storeu_si256(
                (__m256i *)(d + i),
                _mm256_xor_si256(_mm256_loadu_si256((const __m256i *)(src + i)), s32));
        for (; i < k16; i += 16)
            _mm_storeu_si128((__m128i *)(d + i),
                             _mm_xor_si128(_mm_loadu_si128((const __m128i *)(src + i)), s16));
        if (i < k) {
            /* the tail block: x ^ 0x80 for the k - i bytes, 0 after them */
            int8_t t[16];
            memset(t, (char)0x80, sizeof t);
            memcpy(t, src + i, k - i);
            _mm_storeu_si128((__m128i *)(d + i),
                             _mm_xor_si128(_mm_loadu_si128((const __m128i *)t), s16));
            i += 16;
        }
        for (; i < kc; i += 16) _mm_storeu_si128((__m128i *)(d + i), _mm_setzero_si128());
    }
}
#endif
