/* y[i, j] += sum_p a[i, p] * w[p, j], p in increasing order, one rounding per multiply and
 * per add (no FMA): the scalar loop, the AVX2 tiles and the numpy reference
 * (int8rt/reference/dynq.py matmul_f32 / wo_matmul) all round identically, so every path
 * gives the same bits. Used by the float matmuls and the weight-only kernel. */
#include "int8rt/cpu.h"
#include "int8rt/f32.h"

static void acc_rows__scalar(int64_t i0, int64_t i1, int64_t j0, int64_t k, int64_t n,
                             const float *a, int64_t lda, const float *w, int64_t ldw, float *y,
                             int64_t ldy) {
    for (int64_t i = i0; i < i1; i++) {
        float *yr = y + i * ldy;
        const float *ar = a + i * lda;
        for (int64_t p = 0; p < k; p++) {
            const float av = ar[p];
            const float *wr = w + p * ldw;
            for (int64_t j = j0; j < n; j++) yr[j] += av * wr[j];
        }
    }
}

#if defined(__x86_64__) || defined(__i386__)
#include <immintrin.h>

/* 4 rows x 16 columns in 8 ymm accumulators: per p, two weight loads serve four rows. */
__attribute__((target("avx2"))) static void acc_4x16__avx2(int64_t k, const float *a,
                                                           int64_t lda, const float *w,
                                                           int64_t ldw, float *y, int64_t ldy) {
    __m256 c00 = _mm256_loadu_ps(y), c01 = _mm256_loadu_ps(y + 8);
    __m256 c10 = _mm256_loadu_ps(y + ldy), c11 = _mm256_loadu_ps(y + ldy + 8);
    __m256 c20 = _mm256_loadu_ps(y + 2 * ldy), c21 = _mm256_loadu_ps(y + 2 * ldy + 8);
    __m256 c30 = _mm256_loadu_ps(y + 3 * ldy), c31 = _mm256_loadu_ps(y + 3 * ldy + 8);
    for (int64_t p = 0; p < k; p++) {
        const __m256 w0 = _mm256_loadu_ps(w + p * ldw), w1 = _mm256_loadu_ps(w + p * ldw + 8);
        __m256 av = _mm256_broadcast_ss(a + p);
        c00 = _mm256_add_ps(c00, _mm256_mul_ps(av, w0));
        c01 = _mm256_add_ps(c01, _mm256_mul_ps(av, w1));
        av = _mm256_broadcast_ss(a + lda + p);
        c10 = _mm256_add_ps(c10, _mm256_mul_ps(av, w0));
        c11 = _mm256_add_ps(c11, _mm256_mul_ps(av, w1));
        av = _mm256_broadcast_ss(a + 2 * lda + p);
        c20 = _mm256_add_ps(c20, _mm256_mul_ps(av, w0));
        c21 = _mm256_add_ps(c21, _mm256_mul_ps(av, w1));
        av = _mm256_broadcast_ss(a + 3 * lda + p);
        c30 = _mm256_add_ps(c30, _mm256_mul_ps(av, w0));
        c31 = _mm256_add_ps(c31, _mm256_mul_ps(av, w1));
    }
    _mm256_storeu_ps(y, c00);
    _mm256_storeu_ps(y + 8, c01);
    _mm256_storeu_ps(y + ldy, c10);
    _mm256_storeu_ps(y + ldy + 8, c11);
    _mm256_storeu_ps(y + 2 * ldy, c20);
    _mm256_storeu_ps(y + 2 * ldy + 8, c21);
    _mm256_storeu_ps(y + 3 * ldy, c30);
    _mm256_storeu_ps(y + 3 * ldy + 8, c31);
}

__attribute__((target("avx2"))) static void acc_1x16__avx2(int64_t k, const float *a,
                                                           const float *w, int64_t ldw,
                                                           float *y) {
    __m256 c0 = _mm256_loadu_ps(y), c1 = _mm256_loadu_ps(y + 8);
    for (int64_t p = 0; p < k; p++) {
        const __m256 av = _mm256_broadcast_ss(a + p);
        c0 = _mm256_add_ps(c0, _mm256_mul_ps(av, _mm256_loadu_ps(w + p * ldw)));
        c1 = _mm256_add_ps(c1, _mm256_mul_ps(av, _mm256_loadu_ps(w + p * ldw + 8)));
    }
    _mm256_storeu_ps(y, c0);
    _mm256_storeu_ps(y + 8, c1);
}

static void acc__avx2(int64_t m, int64_t k, int64_t n, const float *a, int64_t lda,
                      const float *w, int64_t ldw, float *y, int64_t ldy) {
    const int64_t n16 = n - n % 16;
    /* column blocks outermost: a block of w (k x 16) stays in L1 across all rows */
    for (int64_t j = 0; j < n16; j += 16) {
        int64_t i = 0;
        for (; i + 4 <= m; i += 4)
            acc_4x16__avx2(k, a + i * lda, lda, w + j, ldw, y + i * ldy + j, ldy);
        for (; i < m; i++) acc_1x16__avx2(k, a + i * lda, w + j, ldw, y + i * ldy + j);
    }
    if (n16 < n) acc_rows__scalar(0, m, n16, k, n, a, lda, w, ldw, y, ldy);
}

/* 4 rows x 32 columns in 8 zmm accumulators: the AVX2 tile's arithmetic (one mul and one add
 * per product, k order) on 16 lanes, so the bits are the same, at twice the width. */
#define AVX512F __attribute__((target("avx512f")))
AVX512F static void acc_4x32__avx512(int64_t k, const float *a, int64_t lda, const float *w,
                                     int64_t ldw, float *y, int64_t ldy) {
    __m512 c00 = _mm512_loadu_ps(y), c01 = _mm512_loadu_ps(y + 16);
    __m512 c10 = _mm512_loadu_ps(y + ldy), c11 = _mm512_loadu_ps(y + ldy + 16);
    __m512 c20 = _mm512_loadu_ps(y + 2 * ldy), c21 = _mm512_loadu_ps(y + 2 * ldy + 16);
    __m512 c30 = _mm512_loadu_ps(y + 3 * ldy), c31 = _mm512_loadu_ps(y + 3 * ldy + 16);
    for (int64_t p = 0; p < k; p++) {
        const __m512 w0 = _mm512_loadu_ps(w + p * ldw), w1 = _mm512_loadu_ps(w + p * ldw + 16);
        __m512 av = _mm512_set1_ps(a[p]);
        c00 = _mm512_add_ps(c00, _mm512_mul_ps(av, w0));
        c01 = _mm512_add_ps(c01, _mm512_mul_ps(av, w1));
        av = _mm512_set1_ps(a[lda + p]);
        c10 = _mm512_add_ps(c10, _mm512_mul_ps(av, w0));
        c11 = _mm512_add_ps(c11, _mm512_mul_ps(av, w1));
        av = _mm512_set1_ps(a[2 * lda + p]);
        c20 = _mm512_add_ps(c20, _mm512_mul_ps(av, w0));
        c21 = _mm512_add_ps(c21, _mm512_mul_ps(av, w1));
        av = _mm512_set1_ps(a[3 * lda + p]);
        c30 = _mm512_add_ps(c30, _mm512_mul_ps(av, w0));
        c31 = _mm512_add_ps(c31, _mm512_mul_ps(av, w1));
    }
    _mm512_storeu_ps(y, c00);
    _mm512_storeu_ps(y + 16, c01);
    _mm512_storeu_ps(y + ldy, c10);
    _mm512_storeu_ps(y + ldy + 16, c11);
    _mm512_storeu_ps(y + 2 * ldy, c20);
    _mm512_storeu_ps(y + 2 * ldy + 16, c21);
    _mm512_storeu_ps(y + 3 * ldy, c30);
    _mm512_storeu_ps(y + 3 * ldy + 16, c31);
}

AVX512F static void acc_1x32__avx512(int64_t k, const float *a, const float *w, int64_t ldw,
                                     float *y) {
    __m512 c0 = _mm512_loadu_ps(y), c1 = _mm512_loadu_ps(y + 16);
    for (int64_t p = 0; p < k; p++) {
        const __m512 av = _mm512_set1_ps(a[p]);
        c0 = _mm512_add_ps(c0, _mm512_mul_ps(av, _mm512_loadu_ps(w + p * ldw)));
        c1 = _mm512_add_ps(c1, _mm512_mul_ps(av, _mm512_loadu_ps(w + p * ldw + 16)));
    }
    _mm512_storeu_ps(y, c0);
    _mm512_storeu_ps(y + 16, c1);
}

static void acc__avx512(int64_t m, int64_t k, int64_t n, const float *a, int64_t lda,
                        const float *w, int64_t ldw, float *y, int64_t ldy) {
    const int64_t n32 = n - n % 32;
    for (int64_t j = 0; j < n32; j += 32) {
        int64_t i = 0;
        for (; i + 4 <= m; i += 4)
            acc_4x32__avx512(k, a + i * lda, lda, w + j, ldw, y + i * ldy + j, ldy);
        for (; i < m; i++) acc_1x32__avx512(k, a + i * lda, w + j, ldw, y + i * ldy + j);
    }
    /* the last < 32 columns: the AVX2 tiles (and their scalar tail) */
    if (n32 < n) acc__avx2(m, k, n - n32, a, lda, w + n32, ldw, y + n32, ldy);
}
#endif

void i8_f32_gemm_acc(int64_t m, int64_t k, int64_t n, const float *a, int64_t lda,
                  const float *w, int64_t ldw, float *y, int64_t ldy) {
#if defined(__x86_64__) || defined(__i386__)
    if (i8_isa_current() >= I8_ISA_AVX512_VNNI) { /* the path that has AVX-512 F */
        acc__avx512(m, k, n, a, lda, w, ldw, y, ldy);
        return;
    }
    if (i8_isa_current() >= I8_ISA_AVX2) {
        acc__avx2(m, k, n, a, lda, w, ldw, y, ldy);
        return;
    }
#endif
    acc_rows__scalar(0, m, 0, k, n, a, lda, w, ldw, y, ldy);
}
