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

#endif
