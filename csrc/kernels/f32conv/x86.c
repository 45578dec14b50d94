/* f32conv x86 kernels: AVX2 + FMA (ymm) and AVX-512 F (zmm). One output element per lane,
 * accumulated with vfmadd (one rounding per tap, as fmaf) in tap order from +0.0f, then
 * + bias and the clamp as two ordered comparisons (a NaN passes). */
#if defined(__x86_64__) || defined(__i386__)
#include <immintrin.h>
#include <math.h>
#include <string.h>

#include "kernels/f32conv/f32conv_impl.h"

#define F32_AVX2_FN __attribute__((target("avx2,fma")))
#define F32_AVX512_FN __attribute__((target("avx512f,fma")))

/* ---- AVX2 + FMA ---------------------------------------------------------------------------- */
F32_AVX2_FN static inline __m256 clamp8_(__m256 v, __m256 lo, __m256 hi) {
    v = _mm256_blendv_ps(v, lo, _mm256_cmp_ps(v, lo, _CMP_LT_OQ));
    return _mm256_blendv_ps(v, hi, _mm256_cmp_ps(v, hi, _CMP_GT_OQ));
}

F32_AVX2_FN static inline __attribute__((always_inline)) void
tile_avx2_(const int MR, int32_t nr, int64_t k, const float *a, size_t lda, const float *b,
           const float *bias, float *c, size_t ldc, float lo, float hi) {
    __m256 acc0[6], acc1[6];
#pragma GCC unroll 6
    for (int r = 0; r < MR; r++) acc0[r] = acc1[r] = _mm256_setzero_ps();
    for (int64_t kk = 0; kk < k; kk++) {
        const __m256 b0 = _mm256_loadu_ps(b + kk * F32_NR), b1 = _mm256_loadu_ps(b + kk * F32_NR + 8);
#pragma GCC unroll 6
        for (int r = 0; r < MR; r++) {
            const __m256 av = _mm256_broadcast_ss(a + (size_t)r * lda + kk);
            acc0[r] = _mm256_fmadd_ps(av, b0, acc0[r]);
            acc1[r] = _mm256_fmadd_ps(av, b1, acc1[r]);
        }
    }
    float bb[F32_NR] = {0};
    memcpy(bb, bias, sizeof(float) * (size_t)nr);
    const __m256 bias0 = _mm256_loadu_ps(bb), bias1 = _mm256_loadu_ps(bb + 8);
    const __m256 vlo = _mm256_set1_ps(lo), vhi = _mm256_set1_ps(hi);
#pragma GCC unroll 6
    for (int r = 0; r < MR; r++) {
        const __m256 y0 = clamp8_(_mm256_add_ps(acc0[r], bias0), vlo, vhi);
        const __m256 y1 = clamp8_(_mm256_add_ps(acc1[r], bias1), vlo, vhi);
        float *cr = c + (size_t)r * ldc;
        if (nr == F32_NR) {
            _mm256_storeu_ps(cr, y0);
            _mm256_storeu_ps(cr + 8, y1);
        } else {
            float tmp[F32_NR];
            _mm256_storeu_ps(tmp, y0);
            _mm256_storeu_ps(tmp + 8, y1);
            memcpy(cr, tmp, sizeof(float) * (size_t)nr);
        }
    }
}

F32_AVX2_FN void f32_gemm_ukernel_6x16__avx2(int32_t mr, int32_t nr, int64_t k, const float *a,
                                             size_t lda, const float *b, const float *bias,
                                             float *c, size_t ldc, float lo, float hi) {
    switch (mr) {
    case 1: tile_avx2_(1, nr, k, a, lda, b, bias, c, ldc, lo, hi); break;
    case 2: tile_avx2_(2, nr, k, a, lda, b, bias, c, ldc, lo, hi); break;
    case 3: tile_avx2_(3, nr, k, a, lda, b, bias, c, ldc, lo, hi); break;
    case 4: tile_avx2_(4, nr, k, a, lda, b, bias, c, ldc, lo, hi); break;
    case 5: tile_avx2_(5, nr, k, a, lda, b, bias, c, ldc, lo, hi); break;
    case 6: tile_avx2_(6, nr, k, a, lda, b, bias, c, ldc, lo, hi); break;
    default: break;
    }
}

F32_AVX2_FN static inline float clampf_avx2_(float v, float lo, float hi) {
    return v < lo ? lo : (v > hi ? hi : v);
}

F32_AVX2_FN void f32_dwconv__avx2(const f32_conv2d_params *p, const float *w, const float *bias,
                                  const float *x, float *y, int64_t pix0, int64_t pix1) {
    enum { PX = 4 }; /* output pixels of one row sharing each weight load, as the AVX-512 one */
    const int32_t c = p->c;
    const __m256 vlo = _mm256_set1_ps(p->lo), vhi = _mm256_set1_ps(p->hi);
    int64_t pix = pix0;
    while (pix < pix1) {
        const int64_t b = pix / ((int64_t)p->oh * p->ow), rem = pix % ((int64_t)p->oh * p->ow);
        const int32_t oy = (int32_t)(rem / p->ow), ox0 = (int32_t)(rem % p->ow);
        int32_t np = p->ow - ox0 < PX ? p->ow - ox0 : PX;
        if (pix1 - pix < np) np = (int32_t)(pix1 - pix);
        const int32_t ix_first = ox0 * p->stride_w - p->pad_l;
        const float *xrow = x + (size_t)b * p->h * p->w * c;
        int32_t ch = 0;
        for (; ch + 8 <= c; ch += 8) {
            __m256 acc[PX];
#pragma GCC unroll 4
            for (int q = 0; q < PX; q++) acc[q] = _mm256_setzero_ps();
            for (int32_t ky = 0; ky < p->kh; ky++) {
                const int32_t iy = oy * p->stride_h - p->pad_t + ky * p->dil_h;
                if (iy < 0 || iy >= p->h) continue;
                const float *xr = xrow + (size_t)iy * p->w * c + ch;
                for (int32_t kx = 0; kx < p->kw; kx++) {
                    const __m256 wv = _mm256_loadu_ps(w + ((size_t)ky * p->kw + kx) * c + ch);
                    const int32_t ix0 = ix_first + kx * p->dil_w;
#pragma GCC unroll 4
                    for (int q = 0; q < PX; q++) {
                        const int32_t ix = ix0 + q * p->stride_w;
                        if (q >= np || ix < 0 || ix >= p->w) continue;
                        acc[q] = _mm256_fmadd_ps(_mm256_loadu_ps(xr + (size_t)ix * c), wv, acc[q]);
                    }
                }
            }
            const __m256 vb = _mm256_loadu_ps(bias + ch);
#pragma GCC unroll 4
            for (int q = 0; q < PX; q++)
                if (q < np)
                    _mm256_storeu_ps(y + (size_t)(pix + q) * c + ch,
                                     clamp8_(_mm256_add_ps(acc[q], vb), vlo, vhi));
        }
        for (; ch < c; ch++)
            for (int q = 0; q < np; q++) {
                float acc = 0.0f;
                for (int32_t ky = 0; ky < p->kh; ky++) {
                    const int32_t iy = oy * p->stride_h - p->pad_t + ky * p->dil_h;
                    if (iy < 0 || iy >= p->h) continue;
                    for (int32_t kx = 0; kx < p->kw; kx++) {
                        const int32_t ix = ix_first + q * p->stride_w + kx * p->dil_w;
                        if (ix < 0 || ix >= p->w) continue;
                        acc = fmaf(xrow[((size_t)iy * p->w + ix) * c + ch],
                                   w[((size_t)ky * p->kw + kx) * c + ch], acc);
                    }
                }
                y[(size_t)(pix + q) * c + ch] = clampf_avx2_(acc + bias[ch], p->lo, p->hi);
            }
        pix += np;
    }
}

/* ---- AVX-512 F ------------------------------------------------------------------------------ */
F32_AVX512_FN static inline __m512 clamp16_(__m512 v, __m512 lo, __m512 hi) {
    v = _mm512_mask_blend_ps(_mm512_cmp_ps_mask(v, lo, _CMP_LT_OQ), v, lo);
    return _mm512_mask_blend_ps(_mm512_cmp_ps_mask(v, hi, _CMP_GT_OQ), v, hi);
}

/* One tile of MR rows; always inlined into the dispatcher below with MR a constant, so the
 * accumulators stay in registers and a short tail tile (or fc with m = 1) does only its own
 * rows' work. */
F32_AVX512_FN static inline __attribute__((always_inline)) void
tile_avx512_(const int MR, int32_t nr, int64_t k, const float *a, size_t lda, const float *b,
             const float *bias, float *c, size_t ldc, float lo, float hi) {
    __m512 acc[12];
#pragma GCC unroll 12
    for (int r = 0; r < MR; r++) acc[r] = _mm512_setzero_ps();
    for (int64_t kk = 0; kk < k; kk++) {
        const __m512 bv = _mm512_loadu_ps(b + kk * F32_NR);
#pragma GCC unroll 12
        for (int r = 0; r < MR; r++)
            acc[r] = _mm512_fmadd_ps(_mm512_set1_ps(a[(size_t)r * lda + kk]), bv, acc[r]);
    }
    const __mmask16 m = (__mmask16)((1u << nr) - 1u);
    const __m512 vb = _mm512_maskz_loadu_ps(m, bias);
    const __m512 vlo = _mm512_set1_ps(lo), vhi = _mm512_set1_ps(hi);
#pragma GCC unroll 12
    for (int r = 0; r < MR; r++)
        _mm512_mask_storeu_ps(c + (size_t)r * ldc, m, clamp16_(_mm512_add_ps(acc[r], vb), vlo, vhi));
}

F32_AVX512_FN void f32_gemm_ukernel_12x16__avx512(int32_t mr, int32_t nr, int64_t k,
                                                  const float *a, size_t lda, const float *b,
                                                  const float *bias, float *c, size_t ldc,
                                                  float lo, float hi) {
    switch (mr) {
#define F32_TILE_CASE(R) \
    case R: tile_avx512_(R, nr, k, a, lda, b, bias, c, ldc, lo, hi); break;
        F32_TILE_CASE(1) F32_TILE_CASE(2) F32_TILE_CASE(3) F32_TILE_CASE(4) F32_TILE_CASE(5)
        F32_TILE_CASE(6) F32_TILE_CASE(7) F32_TILE_CASE(8) F32_TILE_CASE(9) F32_TILE_CASE(10)
        F32_TILE_CASE(11) F32_TILE_CASE(12)
#undef F32_TILE_CASE
    default: break;
    }
}

/* Depthwise: PX = 4 neighbouring output pixels of one row at a time share each weight vector
 * load; a group whose taps all fall inside the row skips the per-tap bounds tests. */
#define F32_DW_PX 4

F32_AVX512_FN void f32_dwconv__avx512(const f32_conv2d_params *p, const float *w,
                                      const float *bias, const float *x, float *y, int64_t pix0,
                                      int64_t pix1) {
    const int32_t c = p->c;
    const __m512 vlo = _mm512_set1_ps(p->lo), vhi = _mm512_set1_ps(p->hi);
    int64_t pix = pix0;
    while (pix < pix1) {
        const int64_t b = pix / ((int64_t)p->oh * p->ow), rem = pix % ((int64_t)p->oh * p->ow);
        const int32_t oy = (int32_t)(rem / p->ow), ox0 = (int32_t)(rem % p->ow);
        /* pixels of this group: same output row, inside [pix, pix1) */
        int32_t np = p->ow - ox0 < F32_DW_PX ? p->ow - ox0 : F32_DW_PX;
        if (pix1 - pix < np) np = (int32_t)(pix1 - pix);
        const int32_t ix_first = ox0 * p->stride_w - p->pad_l;
        const int inside = ix_first >= 0 &&
                           ix_first + (np - 1) * p->stride_w + (p->kw - 1) * p->dil_w < p->w;
        const float *xrow = x + (size_t)b * p->h * p->w * c;
        for (int32_t ch = 0; ch < c; ch += 16) {
            const __mmask16 m = c - ch >= 16 ? (__mmask16)0xFFFF
                                             : (__mmask16)((1u << (c - ch)) - 1u);
            __m512 acc[F32_DW_PX];
#pragma GCC unroll 4
            for (int q = 0; q < F32_DW_PX; q++) acc[q] = _mm512_setzero_ps();
            for (int32_t ky = 0; ky < p->kh; ky++) {
                const int32_t iy = oy * p->stride_h - p->pad_t + ky * p->dil_h;
                if (iy < 0 || iy >= p->h) continue;
                const float *xr = xrow + (size_t)iy * p->w * c + ch;
                for (int32_t kx = 0; kx < p->kw; kx++) {
                    const __m512 wv =
                        _mm512_maskz_loadu_ps(m, w + ((size_t)ky * p->kw + kx) * c + ch);
                    const int32_t ix0 = ix_first + kx * p->dil_w;
                    if (inside && np == F32_DW_PX) {
#pragma GCC unroll 4
                        for (int q = 0; q < F32_DW_PX; q++)
                            acc[q] = _mm512_fmadd_ps(
                                _mm512_maskz_loadu_ps(m, xr + (size_t)(ix0 + q * p->stride_w) * c),
                                wv, acc[q]);
                    } else {
#pragma GCC unroll 4
                        for (int q = 0; q < F32_DW_PX; q++) {
                            const int32_t ix = ix0 + q * p->stride_w;
                            if (q >= np || ix < 0 || ix >= p->w) continue;
                            acc[q] = _mm512_fmadd_ps(_mm512_maskz_loadu_ps(m, xr + (size_t)ix * c),
                                                     wv, acc[q]);
                        }
                    }
                }
            }
            const __m512 vb = _mm512_maskz_loadu_ps(m, bias + ch);
#pragma GCC unroll 4
            for (int q = 0; q < F32_DW_PX; q++)
                if (q < np)
                    _mm512_mask_storeu_ps(y + (size_t)(pix + q) * c + ch, m,
                                          clamp16_(_mm512_add_ps(acc[q], vb), vlo, vhi));
        }
        pix += np;
    }
}
#endif
