/* x86 primitives of the broadcast gemm template (tools/gen_gemm_tiles.py, docs/KERNELS.md
 * "gemm"). One set per ISA, each a handful of static inline functions named <set>_<op>:
 *
 *   <set>_vec                 a vector of int32 lanes (8: ymm, 16: zmm), one output channel per
 *                             lane
 *   <set>_zero()              all lanes 0
 *   <set>_acc0(b)             the accumulators' start: `lanes` int32 biases from b (the
 *                             bias is added by the dot loop's first accumulator, not by the
 *                             epilogue: one vector add less per 16 outputs; wrapping either way)
 *   <set>_loadw(p)            the packed weights of `lanes` channels for one k group (4 bytes
 *                             per channel: an int16 pair, or 4 int8)
 *   <set>_bcast(p)            one k group of one activation row (4 bytes) into every lane
 *   <set>_dot(acc, x, w)      acc + the per-lane dot product of the group (wrapping int32)
 *   <set>_rq / _rq_init(p)    the epilogue constants (requant/ of the ISA)
 *   <set>_store16(rq, lo, hi, mult, y, nr)   16 channels (bias included) through the
 *                             epilogue; a 16-lane set ignores hi (4-lane sets: _store8, 8
 *                             channels)
 *   <set>_plain(rq), <set>_store16_plain(rq, v, mult, y)   16-lane sets: int8 output with
 *                             no post-ops, and its 16-channel store without per-call checks
 *                             (the tile's full-width path)
 *
 * Exactness of the dots (docs/QUANTIZATION.md §3):
 *  - avx2 (K2N16, c2): vpmaddwd of int16-held int8 values: each product <= 2^14 in magnitude,
 *    a pair sum <= 2^15, exact in int32; lanes add with wrapping vpaddd.
 *  - vnni (K4N16, c4): vpdpbusd multiplies u8 activations (x ^ 0x80 = x + 128, prepared by
 *    the driver) by s8 weights, sums the 4 products at full precision (<= 4 * 255 * 128 <
 *    2^17) and adds them to the lane without saturation (wrapping), so the lane is
 *    sum (x + 128) w = sum x w + 128 sum w; the pack step folds -128 * sum w into the bias.
 *  - avx2ubs (K4N16, c4, weights within [-64, 64]): the same lane from vpmaddubsw + vpmaddwd
 *    by ones (see avx2ubs_dot).
 * The epilogues are requant/avx2.h (ymm sets) and requant/avx512.h (zmm). */
#ifndef INT8RT_GEMM_PRIM_X86_H
#define INT8RT_GEMM_PRIM_X86_H

#if defined(__x86_64__) || defined(__i386__)

#include <immintrin.h>
#include <string.h>

#include "kernels/gemm/gemm.h"
#include "kernels/requant/avx2.h"
#include "kernels/requant/avx512.h"

static inline int32_t i8_load32(const unsigned char *p) {
    int32_t v;
    memcpy(&v, p, sizeof v);
    return v;
}

/* ---- ymm sets: avx2 (vpmaddwd), avxvnni (VEX vpdpbusd), avxvnni_evex (EVEX ymm vpdpbusd,
 * for CPUs with AVX512-VL + AVX512-VNNI but no AVX-VNNI, e.g. AMD Zen 4) ---------------- */
#define I8_YMM_SET(S, ATTR)                                                                    \
    typedef __m256i S##_vec;                                                                   \
    typedef i8_avx2_requant S##_rq;                                                            \
    ATTR static inline __m256i S##_zero(void) { return _mm256_setzero_si256(); }               \
    ATTR static inline __m256i S##_acc0(const int32_t *b) {                                    \
        return _mm256_loadu_si256((const __m256i *)b);                                         \
    }                                                                                          \
    ATTR static inline __m256i S##_loadw(const unsigned char *p) {                             \
        return _mm256_loadu_si256((const __m256i *)p);                                         \
    }                                                                                          \
    ATTR static inline __m256i S##_bcast(const unsigned char *p) {                             \
        return _mm256_set1_epi32(i8_load32(p));                                                \
    }                                                                                          \
    ATTR static inline i8_avx2_requant S##_rq_init(const i8_rq_params *p) {                    \
        /* no post-ops: the driver runs them after the block (gemm/dispatch.c) */             \
        return i8_avx2_requant_init(p->y_zp, p->qmin, p->qmax, p->out_f32);                    \
    }                                                                                          \
    ATTR static inline void S##_store16(const i8_avx2_requant *rq, __m256i lo, __m256i hi,     \
                                        const float *mult, void *y, size_t nr) {               \
        i8_avx2_requant16_acc(rq, lo, hi, mult, y, nr);                                        \
    }

#define I8_ATTR_AVX2 __attribute__((target("avx2")))
#define I8_ATTR_AVXVNNI __attribute__((target("avx2,avxvnni")))
#define I8_ATTR_AVXVNNI_EVEX __attribute__((target("avx2,avx512f,avx512bw,avx512vl,avx512vnni")))
#define I8_ATTR_AVX512VNNI __attribute__((target("avx2,avx512f,avx512bw,avx512vl,avx512vnni")))

I8_YMM_SET(avx2, I8_ATTR_AVX2)
I8_ATTR_AVX2 static inline __m256i avx2_dot(__m256i acc, __m256i x, __m256i w) {
    return _mm256_add_epi32(acc, _mm256_madd_epi16(x, w));
}

/* avx2ubs (K4N16 panels whose weights all have |w| <= 64, gemm.h w_le64): vpmaddubsw multiplies
 * the u8 activations (x + 128 <= 255) by the s8 weights and adds adjacent products into int16
 * with saturation; with |w| <= 64 a pair is at most 2 * 255 * 64 = 32,640 < 2^15, so it never
 * saturates. vpmaddwd by ones then adds the two pairs of each 4-byte group into int32 (exact),
 * vpaddd into the lane (wrapping): the vpdpbusd lane, 3 instructions per 32 products. */
I8_YMM_SET(avx2ubs, I8_ATTR_AVX2)
/* The tiles pass the weights' address (gen_gemm_tiles.py, wmem): vpmaddubsw reads them as its
 * memory operand (inline asm: gcc otherwise loads them into registers once per k group, and
 * the 6x16 tile then spills an accumulator). Both 8-channel halves of a k group are in the
 * same 64-byte line. */
I8_ATTR_AVX2 static inline __m256i avx2ubs_dotm(__m256i acc, __m256i x, const unsigned char *w) {
    __m256i pairs;
    __asm__("vpmaddubsw %2, %1, %0" : "=x"(pairs) : "x"(x), "m"(*(const __m256i *)w));
    return _mm256_add_epi32(acc, _mm256_madd_epi16(pairs, _mm256_set1_epi16(1)));
}

#if defined(I8_GEMM_HAVE_AVXVNNI_VEX)
I8_YMM_SET(avxvnni, I8_ATTR_AVXVNNI)
I8_ATTR_AVXVNNI static inline __m256i avxvnni_dot(__m256i acc, __m256i x, __m256i w) {
    return _mm256_dpbusd_avx_epi32(acc, x, w); /* VEX: AVX-VNNI */
}
#endif

I8_YMM_SET(avxvnni_evex, I8_ATTR_AVXVNNI_EVEX)
I8_ATTR_AVXVNNI_EVEX static inline __m256i avxvnni_evex_dot(__m256i acc, __m256i x, __m256i w) {
    return _mm256_dpbusd_epi32(acc, x, w); /* EVEX: AVX512-VNNI + VL */
}

/* ---- xmm set: sse2 (the x86-64 baseline: the scalar path's tiles), 8-channel chunks ---- */
#include "kernels/requant/sse2.h"
typedef __m128i sse2_vec;
typedef i8_sse2_requant sse2_rq;
static inline __m128i sse2_zero(void) { return _mm_setzero_si128(); }
static inline __m128i sse2_acc0(const int32_t *b) { return _mm_loadu_si128((const __m128i *)b); }
static inline __m128i sse2_loadw(const unsigned char *p) {
    return _mm_loadu_si128((const __m128i *)p);
}
/* the group already sits in all 4 lanes (i8_gemm_pack_a_i16x4), 16-byte aligned */
static inline __m128i sse2_bcast(const unsigned char *p) {
    return _mm_load_si128((const __m128i *)p);
}
static inline __m128i sse2_dot(__m128i acc, __m128i x, __m128i w) {
    return _mm_add_epi32(acc, _mm_madd_epi16(x, w));
}
static inline i8_sse2_requant sse2_rq_init(const i8_rq_params *p) {
    i8_sse2_requant r = i8_sse2_requant_init(p->y_zp, p->qmin, p->qmax, p->out_f32);
    r.post = p->post;
    return r;
}
static inline void sse2_store8(const i8_sse2_requant *rq, __m128i lo, __m128i hi,
                               const float *mult, void *y, size_t nr) {
    i8_sse2_requant8_acc(rq, lo, hi, mult, y, nr);
}

/* ---- zmm set: avx512vnni ------------------------------------------------------------- */
typedef __m512i avx512vnni_vec;
typedef i8_avx512_requant avx512vnni_rq;
I8_ATTR_AVX512VNNI static inline __m512i avx512vnni_zero(void) { return _mm512_setzero_si512(); }
I8_ATTR_AVX512VNNI static inline __m512i avx512vnni_acc0(const int32_t *b) {
    return _mm512_loadu_si512(b);
}
I8_ATTR_AVX512VNNI static inline __m512i avx512vnni_loadw(const unsigned char *p) {
    return _mm512_loadu_si512(p);
}
I8_ATTR_AVX512VNNI static inline __m512i avx512vnni_bcast(const unsigned char *p) {
    return _mm512_set1_epi32(i8_load32(p));
}
I8_ATTR_AVX512VNNI static inline __m512i avx512vnni_dot(__m512i acc, __m512i x, __m512i w) {
    return _mm512_dpbusd_epi32(acc, x, w);
}
I8_ATTR_AVX512VNNI static inline i8_avx512_requant avx512vnni_rq_init(const i8_rq_params *p) {
    i8_avx512_requant r = i8_avx512_requant_init(p->y_zp, p->qmin, p->qmax, p->out_f32);
    r.post = p->post;
    return r;
}
/* int8 output without post-ops: the tile's full-width stores may skip the per-call checks */
I8_ATTR_AVX512VNNI static inline int avx512vnni_plain(const i8_avx512_requant *rq) {
    return !rq->out_f32 && !rq->post;
}
I8_ATTR_AVX512VNNI static inline void avx512vnni_store16_plain(const i8_avx512_requant *rq,
                                                               __m512i s, const float *mult,
                                                               void *y) {
    i8_avx512_requant16_int8(rq, s, mult, y);
}
I8_ATTR_AVX512VNNI static inline void avx512vnni_store16(const i8_avx512_requant *rq, __m512i lo,
                                                         __m512i hi, const float *mult, void *y,
                                                         size_t nr) {
    (void)hi;
    i8_avx512_requant16_acc(rq, lo, mult, y, nr);
}

#endif
#endif
