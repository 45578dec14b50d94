/* Winograd F(2x2, 3x3) with AVX2 (wino_tile.h instantiated): vpmovsxbw + vpaddw / vpsubw input
 * transform, vpmaddwd + vpaddd gemm (int16 U' x int16 V pairs), vpaddd / vpsubd / vpsrad
 * output transform, the requant/avx2.h epilogue (post-ops: the driver's row pass). */
#if defined(__x86_64__) || defined(__i386__)

#include <immintrin.h>
#include <string.h>

#include "kernels/requant/avx2.h"
#include "kernels/winograd/winograd.h"

#define WINO_SET avx2
#define WINO_SET_NAME "avx2"
#define WINO_ATTR __attribute__((target("avx2")))
#define WINO_NEEDS_AVX2 1
#define WINO_POST_INLINE 0

typedef __m256i wi_vec;
WINO_ATTR static inline wi_vec wi_load16(const int8_t *s) {
    return _mm256_cvtepi8_epi16(_mm_loadu_si128((const __m128i *)s));
}
WINO_ATTR static inline wi_vec wi_set1(int16_t v) { return _mm256_set1_epi16(v); }
WINO_ATTR static inline wi_vec wi_add(wi_vec a, wi_vec b) { return _mm256_add_epi16(a, b); }
WINO_ATTR static inline wi_vec wi_sub(wi_vec a, wi_vec b) { return _mm256_sub_epi16(a, b); }
WINO_ATTR static inline void wi_store(int16_t *d, wi_vec v) {
    _mm256_storeu_si256((__m256i *)d, v);
}

typedef __m256i wg_acc;
typedef __m256i wg_w;
typedef __m256i wg_b;
WINO_ATTR static inline wg_acc wg_zero(void) { return _mm256_setzero_si256(); }
WINO_ATTR static inline wg_w wg_loadw(const int16_t *u) {
    return _mm256_loadu_si256((const __m256i *)u);
}
WINO_ATTR static inline wg_w wg_bcast(const int16_t *v) {
    int32_t pair;
    memcpy(&pair, v, sizeof pair);
    return _mm256_set1_epi32(pair);
}
WINO_ATTR static inline wg_acc wg_dot(wg_acc acc, wg_w b, wg_w w) {
    return _mm256_add_epi32(acc, _mm256_madd_epi16(b, w));
}
WINO_ATTR static inline void wg_store(int32_t *m, wg_acc a) {
    _mm256_storeu_si256((__m256i *)m, a);
}

typedef __m256i wo_vec;
typedef i8_avx2_requant wo_rq;
WINO_ATTR static inline wo_vec wo_load(const int32_t *m) {
    return _mm256_loadu_si256((const __m256i *)m);
}
WINO_ATTR static inline wo_vec wo_add(wo_vec a, wo_vec b) { return _mm256_add_epi32(a, b); }
WINO_ATTR static inline wo_vec wo_sub(wo_vec a, wo_vec b) { return _mm256_sub_epi32(a, b); }
WINO_ATTR static inline wo_vec wo_sra2(wo_vec a) { return _mm256_srai_epi32(a, 2); }
WINO_ATTR static inline wo_rq wo_rq_init(const i8_conv2d_params *p, const i8_post *po) {
    (void)po; /* the driver runs the post-ops over the block's rows (i8_post_rows__avx2) */
    return i8_avx2_requant_init(p->y_zp, p->qmin, p->qmax, p->out_f32);
}
WINO_ATTR static inline void wo_store16(const wo_rq *rq, wo_vec lo, wo_vec hi,
                                        const int32_t *bias, const float *mult, void *y,
                                        size_t nr) {
    i8_avx2_requant16(rq, lo, hi, bias, mult, y, nr);
}

#include "kernels/winograd/wino_tile.h"

#endif
