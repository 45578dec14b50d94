/* AVX2 gemm micro-kernel: same packed panel and results as i8_gemm_2x4__scalar (gemm.h), bit for
 * bit, for every int8 input.
 *
 * Dot products: 16 int8 of a row and of a weight row are sign-extended to int16 (vpmovsxbw)
 * and multiplied pairwise into int32 with vpmaddwd. Each product is at most 2^14 in magnitude,
 * so a pair sum (<= 2^15) is exact in int32, and the lanes accumulate with wrapping int32 adds,
 * which equal the scalar sums modulo 2^32 (exact whenever the true sum fits, §3). vpmaddubsw is
 * deliberately not used: it is u8 x s8 and saturates its int16 pair sums, which is not exact.
 *
 * Tile: 2 rows x 4 channels = 8 ymm accumulators of 8 partial sums each, reduced with hadd at
 * the end of the tile. A k tail (pn->k not a multiple of 16: fc and direct 1x1 conv) is copied
 * into a zeroed 16-byte block; the packed weights are zero up to kp there, so the block adds
 * exactly the tail products.
 *
 * Epilogue, both rows x 4 channels in one ymm: float32(acc) (vcvtdq2ps, round to nearest
 * like the scalar int -> float conversion) times mult (one vmulps: no FMA anywhere, the file has no
 * -mfma), clamp, vcvtps2dq (current MXCSR rounding = round half to even, like lrintf), + zp.
 * The clamp is max then min, equal to the scalar `v < lo ? lo : (v > hi ? hi : v)` since
 * lo <= hi, so every int8 result is the one i8_requantize returns.
 *
 * Functions carry target("avx2") instead of a global -mavx2, so the rest of the build stays
 * baseline x86-64; only the dispatcher (dispatch.c) calls in here, and only on an AVX2 CPU. */
#if defined(__x86_64__) || defined(__i386__)

#include <immintrin.h>
#include <string.h>

#include "kernels/gemm/gemm.h"

#define AVX2 __attribute__((target("avx2")))

AVX2 static inline __m256i load16(const int8_t *p) {
    return _mm256_cvtepi8_epi16(_mm_loadu_si128((const __m128i *)p));
}

/* Four 8-lane accumulators -> their four totals, in order. */
AVX2 static inline __m128i hsum4(__m256i s0, __m256i s1, __m256i s2, __m256i s3) {
    const __m256i t = _mm256_hadd_epi32(_mm256_hadd_epi32(s0, s1), _mm256_hadd_epi32(s2, s3));
    return _mm_add_epi32(_mm256_castsi256_si128(t), _mm256_extracti128_si256(t, 1));
}

/* Shared epilogue: acc holds 2 rows (or the same row twice) x 4 channels j..j+3 as
 * [row 0 | row 1]; bias and mult are padded to n4 in the panel, so 4 lanes are readable. */
AVX2 static inline void store_2rows(const i8_gemm_panel *pn, size_t j, __m256i acc, void *c0,
                                    void *c1) {
    const size_t nr = (size_t)pn->n - j < I8_GEMM_NR ? (size_t)pn->n - j : I8_GEMM_NR;
    acc = _mm256_add_epi32(acc, _mm256_broadcastsi128_si256(
                                    _mm_loadu_si128((const __m128i *)(pn->bias + j))));
    const __m256 v = _mm256_mul_ps(_mm256_cvtepi32_ps(acc),
                                   _mm256_broadcast_ps((const __m128 *)(pn->mult + j)));
    if (pn->out_f32) {
        float *f0 = (float *)c0 + j, *f1 = (float *)c1 + j;
        if (nr == I8_GEMM_NR) {
            _mm_storeu_ps(f1, _mm256_extractf128_ps(v, 1));
            _mm_storeu_ps(f0, _mm256_castps256_ps128(v));
        } else {
            float tmp[2 * I8_GEMM_NR];
            _mm256_storeu_ps(tmp, v);
            memcpy(f1, tmp + I8_GEMM_NR, nr * sizeof(float));
            memcpy(f0, tmp, nr * sizeof(float));
        }
        return;
    }
    const __m256 lo = _mm256_set1_ps((float)(pn->qmin - pn->y_zp));
    const __m256 hi = _mm256_set1_ps((float)(pn->qmax - pn->y_zp));
    __m256i q = _mm256_cvtps_epi32(_mm256_min_ps(_mm256_max_ps(v, lo), hi));
    q = _mm256_add_epi32(q, _mm256_set1_epi32(pn->y_zp));
    /* values are already in [qmin, qmax] within [-128, 127]: the saturating packs are exact;
     * packs work per 128-bit lane, so each row's 4 bytes end up at the bottom of its lane */
    q = _mm256_packs_epi32(q, q);
    q = _mm256_packs_epi16(q, q);
    const int32_t w0 = _mm_cvtsi128_si32(_mm256_castsi256_si128(q));
    const int32_t w1 = _mm_cvtsi128_si32(_mm256_extracti128_si256(q, 1));
    /* row 1 first: when c0 == c1 (the 1-row kernel) the stores are the same anyway */
    memcpy((int8_t *)c1 + j, &w1, nr);
    memcpy((int8_t *)c0 + j, &w0, nr);
}

/* Two rows' 4 + 4 accumulators (8 lanes each) -> [row 0 totals | row 1 totals]. */
AVX2 static inline __m256i hsum_2x4(__m256i s00, __m256i s01, __m256i s02, __m256i s03,
                                    __m256i s10, __m256i s11, __m256i s12, __m256i s13) {
    const __m256i r0 =
        _mm256_hadd_epi32(_mm256_hadd_epi32(s00, s01), _mm256_hadd_epi32(s02, s03));
    const __m256i r1 =
        _mm256_hadd_epi32(_mm256_hadd_epi32(s10, s11), _mm256_hadd_epi32(s12, s13));
    /* each r holds its row's 4 totals split over the two 128-bit lanes */
    return _mm256_add_epi32(_mm256_permute2x128_si256(r0, r1, 0x20),
                            _mm256_permute2x128_si256(r0, r1, 0x31));
}

AVX2 void i8_gemm_2x4__avx2(const i8_gemm_panel *pn, size_t j, const int8_t *a0,
                            const int8_t *a1, void *c0, void *c1) {
    const size_t k = (size_t)pn->k, k16 = k & ~(size_t)(I8_GEMM_KB - 1), kp = (size_t)pn->kp;
    const int8_t *w = pn->w + j * kp;
    __m256i s00 = _mm256_setzero_si256(), s01 = s00, s02 = s00, s03 = s00;
    __m256i s10 = s00, s11 = s00, s12 = s00, s13 = s00;
    int8_t t0[I8_GEMM_KB], t1[I8_GEMM_KB];
    for (size_t i = 0; i < k; i += I8_GEMM_KB) {
        const int8_t *p0 = a0 + i, *p1 = a1 + i;
        if (i == k16) { /* k tail: only k - k16 bytes of each row are readable */
            memset(t0, 0, sizeof t0);
            memset(t1, 0, sizeof t1);
            memcpy(t0, p0, k - k16);
            memcpy(t1, p1, k - k16);
            p0 = t0;
            p1 = t1;
        }
        const __m256i x0 = load16(p0), x1 = load16(p1);
        __m256i y = load16(w + i);
        s00 = _mm256_add_epi32(s00, _mm256_madd_epi16(x0, y));
        s10 = _mm256_add_epi32(s10, _mm256_madd_epi16(x1, y));
        y = load16(w + kp + i);
        s01 = _mm256_add_epi32(s01, _mm256_madd_epi16(x0, y));
        s11 = _mm256_add_epi32(s11, _mm256_madd_epi16(x1, y));
        y = load16(w + 2 * kp + i);
        s02 = _mm256_add_epi32(s02, _mm256_madd_epi16(x0, y));
        s12 = _mm256_add_epi32(s12, _mm256_madd_epi16(x1, y));
        y = load16(w + 3 * kp + i);
        s03 = _mm256_add_epi32(s03, _mm256_madd_epi16(x0, y));
        s13 = _mm256_add_epi32(s13, _mm256_madd_epi16(x1, y));
    }
    store_2rows(pn, j, hsum_2x4(s00, s01, s02, s03, s10, s11, s12, s13), c0, c1);
}

AVX2 void i8_gemm_1x4__avx2(const i8_gemm_panel *pn, size_t j, const int8_t *a0, void *c0) {
    const size_t k = (size_t)pn->k, k16 = k & ~(size_t)(I8_GEMM_KB - 1), kp = (size_t)pn->kp;
    const int8_t *w = pn->w + j * kp;
    __m256i s0 = _mm256_setzero_si256(), s1 = s0, s2 = s0, s3 = s0;
    int8_t t0[I8_GEMM_KB];
    for (size_t i = 0; i < k; i += I8_GEMM_KB) {
        const int8_t *p0 = a0 + i;
        if (i == k16) {
            memset(t0, 0, sizeof t0);
            memcpy(t0, p0, k - k16);
            p0 = t0;
        }
        const __m256i x0 = load16(p0);
        s0 = _mm256_add_epi32(s0, _mm256_madd_epi16(x0, load16(w + i)));
        s1 = _mm256_add_epi32(s1, _mm256_madd_epi16(x0, load16(w + kp + i)));
        s2 = _mm256_add_epi32(s2, _mm256_madd_epi16(x0, load16(w + 2 * kp + i)));
        s3 = _mm256_add_epi32(s3, _mm256_madd_epi16(x0, load16(w + 3 * kp + i)));
    }
    const __m128i r = hsum4(s0, s1, s2, s3);
    store_2rows(pn, j, _mm256_set_m128i(r, r), c0, c0);
}

/* ---- K2N16 panels: the 6x16 register-blocked kernel -----------------------------------------
 *
 * Weights are packed as int16 k pairs interleaved over 16 output channels (gemm.h), so one
 * k pair of 16 channels is two ymm loads [ch0: w(k), w(k+1) | ch1: ... | ch7] and
 * [ch8 ... ch15]. An activation pair (a(k), a(k+1)) as one int32 broadcast (vpbroadcastd)
 * times such a vector with vpmaddwd gives, per channel, a(k)w(k) + a(k+1)w(k+1) in int32:
 * every lane is one channel's partial sum, so the tile needs no horizontal reduction at all.
 *
 * Exactness (docs/QUANTIZATION.md §3): activations and weights are int8 values held in int16,
 * so each product is at most 128 * 128 = 2^14 in magnitude and a vpmaddwd pair sum at most
 * 2^15 = 32768, far inside int32 (vpmaddwd only wraps for -32768 * -32768 twice, which int8
 * values cannot reach); the int32 lanes then add with wrapping vpaddd, equal to the scalar
 * sums modulo 2^32 and exact whenever the true accumulator fits int32 (K <= 66000 keeps
 * |sum| <= 2^14 * K < 2^31).
 *
 * Activations: a row block (about I8_GEMM_K2N16_BLOCK_BYTES of int16 rows, pn->scratch) is
 * sign-extended to int16 once (vpmovsxbw) and reused by every 16-channel weight block, so
 * neither the weights nor the activations are widened per k. Rows are zero-padded to kp (the
 * weights are zero there), so the k loop has no tail. Without scratch the tile reads int8
 * pairs and widens them in the loop (vpbroadcastw + vpmovsxbw), slower but equal.
 *
 * Tile: 6 rows x 16 channels: 12 accumulators, 2 weight vectors, 1 broadcast = 15 ymm. Per k
 * pair: 2 weight loads + 6 broadcasts feed 12 vpmaddwd. */

/* One k pair of activations as the int32 pattern vpmaddwd wants in every lane. */
#define PAIR16(p, q) _mm256_set1_epi32(*(const int32_t *)((const int16_t *)(p) + 2 * (q)))
#define PAIR8(p, q) _mm256_cvtepi8_epi16(_mm_set1_epi16(load_pair8((const int8_t *)(p) + 2 * (q))))

static inline int16_t load_pair8(const int8_t *p) {
    int16_t v;
    memcpy(&v, p, sizeof v);
    return v;
}

/* Epilogue of one row x 16 channels (j..j+15; bias and mult are padded to n16). */
AVX2 static inline void store_row16(const i8_gemm_panel *pn, size_t j, __m256i s0, __m256i s1,
                                    unsigned char *c) {
    const size_t nr = (size_t)pn->n - j < 16 ? (size_t)pn->n - j : 16;
    s0 = _mm256_add_epi32(s0, _mm256_loadu_si256((const __m256i *)(pn->bias + j)));
    s1 = _mm256_add_epi32(s1, _mm256_loadu_si256((const __m256i *)(pn->bias + j + 8)));
    const __m256 v0 = _mm256_mul_ps(_mm256_cvtepi32_ps(s0), _mm256_loadu_ps(pn->mult + j));
    const __m256 v1 = _mm256_mul_ps(_mm256_cvtepi32_ps(s1), _mm256_loadu_ps(pn->mult + j + 8));
    if (pn->out_f32) {
        float *f = (float *)c + j;
        if (nr == 16) {
            _mm256_storeu_ps(f, v0);
            _mm256_storeu_ps(f + 8, v1);
        } else {
            float tmp[16];
            _mm256_storeu_ps(tmp, v0);
            _mm256_storeu_ps(tmp + 8, v1);
            memcpy(f, tmp, nr * sizeof(float));
        }
        return;
    }
    /* clamp (max then min: equal to the scalar ternary since lo <= hi), round half to even
     * in the default MXCSR mode like lrintf, + zp, then saturating packs that are exact
     * because every value is already in [qmin, qmax] */
    const __m256 lo = _mm256_set1_ps((float)(pn->qmin - pn->y_zp));
    const __m256 hi = _mm256_set1_ps((float)(pn->qmax - pn->y_zp));
    const __m256i zp = _mm256_set1_epi32(pn->y_zp);
    const __m256i q0 = _mm256_add_epi32(
        _mm256_cvtps_epi32(_mm256_min_ps(_mm256_max_ps(v0, lo), hi)), zp);
    const __m256i q1 = _mm256_add_epi32(
        _mm256_cvtps_epi32(_mm256_min_ps(_mm256_max_ps(v1, lo), hi)), zp);
    /* packs work per 128-bit lane: [q0 0-3, q1 0-3 | q0 4-7, q1 4-7] -> reorder the 64-bit
     * quarters to channel order, then pack the two halves to 16 bytes */
    const __m256i w = _mm256_permute4x64_epi64(_mm256_packs_epi32(q0, q1), 0xD8);
    const __m128i b =
        _mm_packs_epi16(_mm256_castsi256_si128(w), _mm256_extracti128_si256(w, 1));
    if (nr == 16)
        _mm_storeu_si128((__m128i *)((int8_t *)c + j), b);
    else {
        int8_t tmp[16];
        _mm_storeu_si128((__m128i *)tmp, b);
        memcpy((int8_t *)c + j, tmp, nr);
    }
}

#define ACC_ROW(r, LOAD)                                                                     \
    if (mr > r) {                                                                            \
        const __m256i x = LOAD(a##r, q);                                                     \
        c##r##0 = _mm256_add_epi32(c##r##0, _mm256_madd_epi16(x, w0));                      \
        c##r##1 = _mm256_add_epi32(c##r##1, _mm256_madd_epi16(x, w1));                       \
    }
#define SAVE_ROW(r)                                                                          \
    if (mr > r) {                                                                            \
        _mm256_storeu_si256((__m256i *)acc[r], c##r##0);                                     \
        _mm256_storeu_si256((__m256i *)(acc[r] + 8), c##r##1);                               \
    }

/* The k loop of an mr-row tile (activations a0.. as int16 rows when wide, else int8 rows;
 * nq k pairs; the 16-channel weight block wb) into acc[mr][16]. A separate, non-inlined
 * function per mr: inlined into the block loop, gcc 12 hoisted all six broadcasts ahead of
 * the multiplies and spilled accumulators to the stack, which halved the speed. */
#define KLOOP_FN(name, T, LOAD, MR)                                                          \
    AVX2 I8_NOINLINE static void name(size_t nq, const T *a, size_t as, const int16_t *wb,    \
                                      int32_t acc[6][16]) {                                  \
        const int mr = MR;                                                                   \
        const T *a0 = a, *a1 = a + as, *a2 = a + 2 * as, *a3 = a + 3 * as, *a4 = a + 4 * as, \
                *a5 = a + 5 * as;                                                            \
        (void)a1, (void)a2, (void)a3, (void)a4, (void)a5;                                    \
        __m256i c00 = _mm256_setzero_si256(), c01 = c00, c10 = c00, c11 = c00, c20 = c00,    \
                c21 = c00, c30 = c00, c31 = c00, c40 = c00, c41 = c00, c50 = c00, c51 = c00; \
        for (size_t q = 0; q < nq; q++) {                                                    \
            const __m256i w0 = _mm256_loadu_si256((const __m256i *)(wb + 32 * q));           \
            const __m256i w1 = _mm256_loadu_si256((const __m256i *)(wb + 32 * q + 16));      \
            ACC_ROW(0, LOAD) ACC_ROW(1, LOAD) ACC_ROW(2, LOAD) ACC_ROW(3, LOAD)              \
            ACC_ROW(4, LOAD) ACC_ROW(5, LOAD)                                                \
        }                                                                                    \
        SAVE_ROW(0) SAVE_ROW(1) SAVE_ROW(2) SAVE_ROW(3) SAVE_ROW(4) SAVE_ROW(5)              \
    }

#define KLOOPS(prefix, T, LOAD)                                                              \
    KLOOP_FN(prefix##1, T, LOAD, 1) KLOOP_FN(prefix##2, T, LOAD, 2)                          \
    KLOOP_FN(prefix##3, T, LOAD, 3) KLOOP_FN(prefix##4, T, LOAD, 4)                          \
    KLOOP_FN(prefix##5, T, LOAD, 5) KLOOP_FN(prefix##6, T, LOAD, 6)

KLOOPS(kloop_wide, int16_t, PAIR16)
KLOOPS(kloop_narrow, int8_t, PAIR8)

typedef void (*kloop_wide_fn)(size_t, const int16_t *, size_t, const int16_t *, int32_t[6][16]);
typedef void (*kloop_narrow_fn)(size_t, const int8_t *, size_t, const int16_t *,
                                int32_t[6][16]);
static const kloop_wide_fn KLOOP_WIDE[7] = {NULL, kloop_wide1, kloop_wide2, kloop_wide3,
                                            kloop_wide4, kloop_wide5, kloop_wide6};
static const kloop_narrow_fn KLOOP_NARROW[7] = {NULL, kloop_narrow1, kloop_narrow2,
                                                kloop_narrow3, kloop_narrow4, kloop_narrow5,
                                                kloop_narrow6};

/* Rows [0, m) of a block against every 16-channel weight block: 6-row tiles, then one tile of
 * the remaining 1..5 rows; each tile's accumulators go through the epilogue per row. Loop
 * order: when all the weights fit in L1 (small K and N: MobileNet's 1x1 convolutions), each
 * row tile meets every channel block while its rows are in L1; otherwise each channel block
 * (in L1) meets every row tile of the block (in L2). */
#define TILE_STEP(TABLE)                                                                         do {                                                                                             const size_t mr = m - i < 6 ? m - i : 6;                                                     TABLE[mr](nq, a + i * as, as, pn->w16 + j * kp, acc);                                        for (size_t r = 0; r < mr; r++)                                                                  store_row16(pn, j, _mm256_loadu_si256((const __m256i *)acc[r]),                                          _mm256_loadu_si256((const __m256i *)(acc[r] + 8)),                                           c + (i + r) * c_row);                                                    } while (0)
#define WEIGHTS_IN_L1_BYTES 24576
#define BLOCK_FN(name, T, TABLE)                                                                 AVX2 static void name(const i8_gemm_panel *pn, size_t m, size_t nq, const T *a,                                    size_t as, unsigned char *c, size_t c_row) {                               const size_t n = (size_t)pn->n, kp = (size_t)pn->kp;                                         int32_t acc[6][16];                                                                          if (I8_ALIGN_UP(n, 16) * kp * 2 <= WEIGHTS_IN_L1_BYTES) {                                        for (size_t i = 0; i < m; i += 6)                                                                for (size_t j = 0; j < n; j += 16) TILE_STEP(TABLE);                                 } else {                                                                                         for (size_t j = 0; j < n; j += 16)                                                               for (size_t i = 0; i < m; i += 6) TILE_STEP(TABLE);                                  }                                                                                        }

BLOCK_FN(block_wide, int16_t, KLOOP_WIDE)
BLOCK_FN(block_narrow, int8_t, KLOOP_NARROW)

/* a row of k int8 -> kp int16, zero beyond k */
AVX2 static void widen_row(const int8_t *src, size_t k, size_t kp, int16_t *dst) {
    const size_t k16 = k & ~(size_t)15;
    size_t i = 0;
    for (; i < k16; i += 16)
        _mm256_store_si256((__m256i *)(dst + i),
                           _mm256_cvtepi8_epi16(_mm_loadu_si128((const __m128i *)(src + i))));
    if (i < k) {
        int8_t t[16] = {0};
        memcpy(t, src + i, k - i);
        _mm256_store_si256((__m256i *)(dst + i),
                           _mm256_cvtepi8_epi16(_mm_loadu_si128((const __m128i *)t)));
        i += 16;
    }
    for (; i < kp; i += 16) _mm256_store_si256((__m256i *)(dst + i), _mm256_setzero_si256());
}

AVX2 void i8_gemm_k2n16__avx2(const i8_gemm_panel *pn, size_t m, const int8_t *a, size_t a_stride,
                              void *c, size_t c_row) {
    const size_t k = (size_t)pn->k, kp = (size_t)pn->kp;
    unsigned char *cb = c;
    /* rows of int16 the scratch holds, 32-byte aligned, a multiple of the tile height */
    int16_t *wide = NULL;
    size_t mb = 0;
    if (pn->scratch) {
        const uintptr_t p0 = (uintptr_t)pn->scratch, p1 = (p0 + 31) & ~(uintptr_t)31;
        const size_t avail = pn->scratch_bytes > p1 - p0 ? pn->scratch_bytes - (p1 - p0) : 0;
        size_t rows = I8_GEMM_K2N16_BLOCK_BYTES / (kp * 2);
        if (rows * kp * 2 > avail) rows = avail / (kp * 2);
        rows -= rows % I8_GEMM_K2N16_MR;
        if (rows) {
            wide = (int16_t *)p1;
            mb = rows;
        }
    }
    if (!wide) {
        /* int8 pairs straight from a, which has only k readable bytes per row: with k even
         * the pairs cover them exactly; an odd k without scratch (no caller here does that)
         * takes the portable kernel rather than reading past a row */
        if (k % 2) {
            i8_gemm_k2n16__scalar(pn, m, a, a_stride, c, c_row);
            return;
        }
        block_narrow(pn, m, k / 2, a, a_stride, cb, c_row);
        return;
    }
    for (size_t i0 = 0; i0 < m; i0 += mb) {
        const size_t rows = m - i0 < mb ? m - i0 : mb;
        for (size_t r = 0; r < rows; r++) widen_row(a + (i0 + r) * a_stride, k, kp, wide + r * kp);
        block_wide(pn, rows, kp / 2, wide, kp, cb + i0 * c_row, c_row);
    }
}

#endif
