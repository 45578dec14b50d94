# csrc/kernels/gemm/gemm.h: the gemm core per kernel set, and the peak loop.
from libc.stdint cimport int8_t, int32_t, int64_t, uint32_t

from int8rt._native.c_kernels cimport i8_post_params

# the fused post-ops as the epilogues read them (kernels/requant/requant.h), built from the
# params by i8_post_init; opaque here but for `add`
cdef extern from "kernels/requant/requant.h" nogil:
    ctypedef struct i8_post:
        int32_t add
    const i8_post *i8_post_init(i8_post *po, const i8_post_params *pp, const int8_t *table,
                                const int8_t *res, const void *y)

cdef extern from "kernels/gemm/gemm.h" nogil:
    ctypedef void (*i8_gemm_ukernel)(size_t, size_t, size_t, const void *, size_t, const void *,
                                     void *, size_t, const void *)
    ctypedef struct i8_gemm_tile:
        uint32_t nr
    ctypedef struct i8_gemm_kernel:
        const char *name
        int32_t layout
        int32_t native
        uint32_t mr, ku, a_elem
        const i8_gemm_tile *tiles
        int32_t w_max
    ctypedef struct i8_gemm_panel:
        int32_t layout, n, k, kp
        void *scratch
        size_t scratch_bytes
        const i8_post *post
    const i8_gemm_kernel *i8_gemm_kernels(size_t *count)
    int32_t i8_gemm_kernel_runnable(const i8_gemm_kernel *kd)
    size_t i8_gemm_packed_size(int32_t n, int32_t k)
    void i8_gemm_pack_layout(int32_t layout, int32_t n, int32_t k, const int8_t *w,
                             size_t w_stride, const int32_t *bias, const float *mult,
                             int32_t x_zp, void *packed)
    size_t i8_gemm_scratch_size(size_t m, int32_t k)
    void i8_gemm_panel_init(i8_gemm_panel *pn, int32_t n, int32_t k, const void *packed,
                            int32_t y_zp, int32_t qmin, int32_t qmax, int32_t out_f32)
    void i8_gemm_run(const i8_gemm_kernel *kd, const i8_gemm_panel *pn, size_t m,
                     const int8_t *a, size_t a_stride, void *c, size_t c_stride)
    double i8_peak_ops(int32_t isa, int64_t iters)
