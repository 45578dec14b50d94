/* Data movement on any element size: transpose, slice, pad. No arithmetic, so one byte-copy
 * implementation serves int8 activations and float32 boundary tensors alike. At most
 * I8_MAX_DIMS axes (the Python side collapses or rejects more). */
#include <string.h>
#if defined(__SSE2__)
#include <emmintrin.h>
#endif

#include "int8rt/kernels.h"

/* Copy one element; a constant size lets the compiler turn memcpy into a single move. */
static inline void copy_elem(char *dst, const char *src, size_t es) {
    switch (es) {
    case 1: *dst = *src; break;
    case 2: memcpy(dst, src, 2); break;
    case 4: memcpy(dst, src, 4); break;
    case 8: memcpy(dst, src, 8); break;
    default: memcpy(dst, src, es);
    }
}

/* The shared gather: y (contiguous, out_shape) [i] = x[base + sum_d i_d * src_stride[d]]
 * (strides in elements, possibly negative or zero). Transpose and slice are this walk with
 * different strides: an odometer over the outer axes, a strided row copy on the last. */
static void strided_gather(int32_t nd, const int64_t *out_shape, const int64_t *src_stride,
                             int64_t base, size_t es, const char *x, char *y) {
    if (nd <= 0) {
        copy_elem(y, x + base * (int64_t)es, es);
        return;
    }
    for (int32_t d = 0; d < nd; d++)
        if (out_shape[d] <= 0) return;
    const int64_t n = out_shape[nd - 1], s = src_stride[nd - 1];
    int64_t idx[I8_MAX_DIMS] = {0};
    int64_t off = base;
    for (;;) {
        const char *src = x + off * (int64_t)es;
        if (s == 1) {
            memcpy(y, src, (size_t)n * es);
        } else if (es == 1) {
            for (int64_t i = 0; i < n; i++) y[i] = src[i * s];
        } else if (es == 4) {
            for (int64_t i = 0; i < n; i++) memcpy(y + i * 4, src + i * s * 4, 4);
        } else {
            for (int64_t i = 0; i < n; i++) copy_elem(y + i * es, src + i * s * (int64_t)es, es);
        }
        y += n * es;
        int32_t d = nd - 2;
        for (; d >= 0; d--) {
            off += src_stride[d];
            if (++idx[d] < out_shape[d]) break;
            off -= src_stride[d] * out_shape[d];
            idx[d] = 0;
        }
        if (d < 0) return;
    }
}

/* row-major element strides of a contiguous tensor */
static inline void contiguous_strides(int32_t nd, const int64_t *shape, int64_t *stride) {
    int64_t s = 1;
    for (int32_t d = nd - 1; d >= 0; d--) {
        stride[d] = s;
        s *= shape[d];
    }
}

/* Byte matrix transpose: y[j * ys + i] = x[i * xs + j] for i < r, j < c. 16 x 16 tiles by
 * four rounds of the same perfect shuffle (out[2k] = unpacklo_epi8(in[k], in[k + 8]),
 * out[2k + 1] = unpackhi_epi8(in[k], in[k + 8]); four rounds of the 16-way shuffle are the
 * transpose), SSE2 = the x86-64 baseline, so no target attribute; edges element by element.
 * Pure data movement: every path gives the same bytes. */
static void transpose2d_u8(int64_t r, int64_t c, const char *x, int64_t xs, char *y,
                             int64_t ys) {
    int64_t i0 = 0;
#if defined(__SSE2__)
    for (; i0 + 16 <= r; i0 += 16) {
        int64_t j0 = 0;
        for (; j0 + 16 <= c; j0 += 16) {
            __m128i a[16], b[16];
            for (int k = 0; k < 16; k++)
                a[k] = _mm_loadu_si128((const __m128i *)(x + (i0 + k) * xs + j0));
            for (int round = 0; round < 4; round++) {
                for (int k = 0; k < 8; k++) {
                    b[2 * k] = _mm_unpacklo_epi8(a[k], a[k + 8]);
                    b[2 * k + 1] = _mm_unpackhi_epi8(a[k], a[k + 8]);
                }
                memcpy(a, b, sizeof a);
            }
            for (int k = 0; k < 16; k++)
                _mm_storeu_si128((__m128i *)(y + (j0 + k) * ys + i0), a[k]);
        }
        for (int64_t j = j0; j < c; j++)
            for (int64_t i = i0; i < i0 + 16; i++) y[j * ys + i] = x[i * xs + j];
    }
#endif
    for (int64_t j = 0; j < c; j++)
        for (int64_t i = i0; i < r; i++) y[j * ys + i] = x[i * xs + j];
}

void i8_transpose_run(int32_t ndim, const int64_t *shape, const int32_t *perm, size_t elem_size,
                     const void *x, void *y) {
    int64_t in_stride[I8_MAX_DIMS], out_shape[I8_MAX_DIMS], src_stride[I8_MAX_DIMS];
    contiguous_strides(ndim, shape, in_stride);
    for (int32_t i = 0; i < ndim; i++) {
        out_shape[i] = shape[perm[i]];
        src_stride[i] = in_stride[perm[i]];
    }
    /* merge neighbouring output axes that are one run in the source (NHWC -> NCHW: H and W
     * become one axis of stride c); size-1 axes drop out */
    int32_t nd = 0;
    for (int32_t i = 0; i < ndim; i++) {
        if (out_shape[i] == 1) continue;
        if (nd > 0 && src_stride[nd - 1] == src_stride[i] * out_shape[i]) {
            out_shape[nd - 1] *= out_shape[i];
            src_stride[nd - 1] = src_stride[i];
            continue;
        }
        out_shape[nd] = out_shape[i];
        src_stride[nd] = src_stride[i];
        nd++;
    }
    for (int32_t i = 0; i < ndim; i++)
        if (shape[i] <= 0) return;
    /* int8 [.., C, R] from source strides [.., 1, C]: batched byte matrix transposes */
    if (elem_size == 1 && nd >= 2 && src_stride[nd - 2] == 1 &&
        src_stride[nd - 1] == out_shape[nd - 2] && out_shape[nd - 1] >= 16 &&
        out_shape[nd - 2] >= 16) {
        const int64_t rows = out_shape[nd - 1], cols = out_shape[nd - 2], mat = rows * cols;
        int64_t outer = 1;
        for (int32_t d = 0; d < nd - 2; d++) outer *= out_shape[d];
        /* the outer axes: an odometer over their source offsets */
        int64_t idx[I8_MAX_DIMS] = {0}, off = 0;
        const char *xc = (const char *)x;
        char *yc = (char *)y;
        for (int64_t o = 0; o < outer; o++) {
            transpose2d_u8(rows, cols, xc + off, cols, yc + o * mat, rows);
            for (int32_t d = nd - 3; d >= 0; d--) {
                off += src_stride[d];
                if (++idx[d] < out_shape[d]) break;
                off -= src_stride[d] * out_shape[d];
                idx[d] = 0;
            }
        }
        return;
    }
    strided_gather(nd, out_shape, src_stride, 0, elem_size, (const char *)x, (char *)y);
}

void i8_slice_run(int32_t ndim, const int64_t *in_shape, const int64_t *start, const int64_t *step,
                 const int64_t *out_shape, size_t elem_size, const void *x, void *y) {
    int64_t in_stride[I8_MAX_DIMS], src_stride[I8_MAX_DIMS];
    contiguous_strides(ndim, in_shape, in_stride);
    int64_t base = 0;
    for (int32_t d = 0; d < ndim; d++) {
        /* an empty output never reads x, and its start may be anything */
        if (out_shape[d] <= 0) return;
        base += start[d] * in_stride[d];
        src_stride[d] = step[d] * in_stride[d];
    }
    strided_gather(ndim, out_shape, src_stride, base, elem_size, (const char *)x, (char *)y);
}

/* Source index of output position o along an axis of n input elements, or -1 for the
 * constant value. reflect mirrors without repeating the edge (numpy / ONNX "reflect") and
 * keeps mirroring for pads wider than the axis (period 2 (n - 1)). */
static inline int64_t pad_src(int64_t o, int64_t before, int64_t n, int32_t mode) {
    int64_t i = o - before;
    if (i >= 0 && i < n) return i;
    if (mode == 0 || n == 0) return -1;
    if (mode == 2) return i < 0 ? 0 : n - 1;
    if (n == 1) return 0;
    const int64_t period = 2 * (n - 1);
    i %= period;
    if (i < 0) i += period;
    return i < n ? i : period - i;
}

void i8_pad_run(int32_t ndim, const int64_t *in_shape, const int64_t *pad_before,
               const int64_t *pad_after, int32_t mode, size_t elem_size, const void *value,
               const void *x, void *y) {
    const size_t es = elem_size;
    const char *xc = (const char *)x, *val = (const char *)value;
    char *yc = (char *)y;
    if (ndim <= 0) {
        copy_elem(yc, xc, es);
        return;
    }
    int64_t in_stride[I8_MAX_DIMS], out_shape[I8_MAX_DIMS];
    contiguous_strides(ndim, in_shape, in_stride);
    for (int32_t d = 0; d < ndim; d++) {
        out_shape[d] = in_shape[d] + pad_before[d] + pad_after[d];
        if (out_shape[d] <= 0) return;
    }
    const int32_t last = ndim - 1;
    const int64_t n_in = in_shape[last], n_out = out_shape[last], before = pad_before[last];
    /* output positions [mid0, mid1) of the last axis copy a contiguous run of the source row */
    int64_t mid0 = before > 0 ? before : 0;
    if (mid0 > n_out) mid0 = n_out; /* a negative pad_after can crop into the leading pad */
    int64_t mid1 = before + n_in < n_out ? before + n_in : n_out;
    if (mid1 < mid0) mid1 = mid0;
    int64_t idx[I8_MAX_DIMS] = {0};
    for (;;) {
        /* source row offset of the outer index, or -1 when it lies in a constant pad */
        int64_t row = 0;
        for (int32_t d = 0; d < last; d++) {
            const int64_t i = pad_src(idx[d], pad_before[d], in_shape[d], mode);
            if (i < 0) {
                row = -1;
                break;
            }
            row += i * in_stride[d];
        }
        if (row < 0) {
            for (int64_t o = 0; o < n_out; o++) copy_elem(yc + o * es, val, es);
        } else {
            const char *src = xc + row * (int64_t)es;
            for (int64_t o = 0; o < mid0; o++) {
                const int64_t i = pad_src(o, before, n_in, mode);
                copy_elem(yc + o * es, i < 0 ? val : src + i * (int64_t)es, es);
            }
            if (mid1 > mid0)
                memcpy(yc + mid0 * es, src + (mid0 - before) * (int64_t)es,
                       (size_t)(mid1 - mid0) * es);
            for (int64_t o = mid1; o < n_out; o++) {
                const int64_t i = pad_src(o, before, n_in, mode);
                copy_elem(yc + o * es, i < 0 ? val : src + i * (int64_t)es, es);
            }
        }
        yc += n_out * es;
        int32_t d = last - 1;
        for (; d >= 0; d--) {
            if (++idx[d] < out_shape[d]) break;
            idx[d] = 0;
        }
        if (d < 0) return;
    }
}
