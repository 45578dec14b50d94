# Everything the binding may touch in csrc/include/int8rt/kernels.h, and nothing else.
from libc.stdint cimport int8_t, int32_t, int64_t

cdef extern from "int8rt/kernels.h" nogil:
    enum: I8_MAX_DIMS

    int8_t i8_requantize(int32_t acc, float mult, int32_t zp, int32_t qmin, int32_t qmax)

    ctypedef struct i8_post_params:
        int32_t lut, add
        int32_t a_zp, b_zp, a_mult, b_mult
        float mult
        int32_t y_zp, qmin, qmax
    ctypedef struct i8_conv2d_params:
        int32_t n, h, w, c
        int32_t oh, ow, oc
        int32_t kh, kw
        int32_t stride_h, stride_w
        int32_t dil_h, dil_w
        int32_t pad_t, pad_l, pad_b, pad_r
        int32_t groups
        int32_t x_zp, y_zp
        int32_t qmin, qmax
        int32_t out_f32
        i8_post_params post
    size_t i8_conv2d_packed_size(const i8_conv2d_params *p)
    void i8_conv2d_pack(const i8_conv2d_params *p, const int8_t *w, const int32_t *bias,
                        const float *mult, void *packed)
    size_t i8_conv2d_scratch_size(const i8_conv2d_params *p)
    void i8_conv2d_run(const i8_conv2d_params *p, const void *packed, const int8_t *x,
                       void *y, void *scratch)
    void i8_conv2d_run_post(const i8_conv2d_params *p, const void *packed, const int8_t *x,
                            void *y, void *scratch, const int8_t *table, const int8_t *res)

    ctypedef struct i8_fc_params:
        int32_t m, k, n
        int32_t x_zp, y_zp
        int32_t qmin, qmax
        int32_t out_f32
        i8_post_params post
    size_t i8_fc_packed_size(const i8_fc_params *p)
    void i8_fc_pack(const i8_fc_params *p, const int8_t *w, const int32_t *bias,
                    const float *mult, void *packed)
    size_t i8_fc_scratch_size(const i8_fc_params *p)
    void i8_fc_run(const i8_fc_params *p, const void *packed, const int8_t *x, void *y,
                   void *scratch)
    void i8_fc_run_post(const i8_fc_params *p, const void *packed, const int8_t *x, void *y,
                        void *scratch, const int8_t *table, const int8_t *res)

    ctypedef struct i8_binary_params:
        int32_t ndim
        int64_t shape[I8_MAX_DIMS]
        int64_t a_stride[I8_MAX_DIMS]
        int64_t b_stride[I8_MAX_DIMS]
        int32_t a_zp, b_zp, y_zp
        int32_t a_mult, b_mult
        float mult
        int32_t qmin, qmax
    void i8_add_run(const i8_binary_params *p, const int8_t *a, const int8_t *b, int8_t *y)
    void i8_mul_run(const i8_binary_params *p, const int8_t *a, const int8_t *b, int8_t *y)

    ctypedef struct i8_requant_copy_params:
        int64_t rows, cols
        int64_t x_stride, y_stride
        int32_t x_zp, y_zp
        float mult
    void i8_requant_copy_run(const i8_requant_copy_params *p, const int8_t *x, int8_t *y)

    ctypedef struct i8_pool_params:
        int32_t n, h, w, c
        int32_t oh, ow
        int32_t kh, kw
        int32_t stride_h, stride_w
        int32_t dil_h, dil_w
        int32_t pad_t, pad_l
        int32_t count_include_pad
        int32_t x_zp, y_zp
        int32_t qmin, qmax
    void i8_maxpool_run(const i8_pool_params *p, const int8_t *x, int8_t *y)
    void i8_avgpool_run(const i8_pool_params *p, const float *mult_by_count, const int8_t *x,
                        int8_t *y)
    void i8_global_avgpool_run(int32_t n, int32_t hw, int32_t c, int32_t x_zp, int32_t y_zp,
                               float mult, int32_t qmin, int32_t qmax, const int8_t *x,
                               int8_t *y)

    void i8_lut_run(int64_t n, const int8_t *table, const int8_t *x, int8_t *y)

    void i8_resize_nearest_run(int32_t n, int32_t h, int32_t w, int32_t c, int32_t oh,
                              int32_t ow, const int32_t *iy, const int32_t *ix,
                              size_t elem_size, const void *x, void *y)
    ctypedef struct i8_resize_bilinear_params:
        int32_t n, h, w, c
        int32_t oh, ow
        int32_t x_zp, y_zp
        float mult
    void i8_resize_bilinear_run(const i8_resize_bilinear_params *p, const int32_t *y0,
                                const int32_t *y1, const int32_t *fy, const int32_t *x0,
                                const int32_t *x1, const int32_t *fx, const int8_t *x,
                                int8_t *y)

    void i8_softmax_run(int64_t rows, int64_t cols, const int32_t *exp_table,
                        float inv_y_scale, int32_t y_zp, const int8_t *x, int8_t *y)

    void i8_quantize_f32_run(int64_t n, const float *x, float scale, int32_t zp, int8_t *y)
    void i8_quantize_f32_nchw_run(int64_t c, int64_t hw, int64_t p0, int64_t p1, const float *x,
                                  float scale, int32_t zp, int8_t *y)
    void i8_dequantize_f32_nchw_run(int64_t c, int64_t hw, int64_t p0, int64_t p1,
                                    const int8_t *x, float scale, int32_t zp, float *y)
    void i8_dequantize_f32_run(int64_t n, const int8_t *x, float scale, int32_t zp, float *y)

    void i8_transpose_run(int32_t ndim, const int64_t *shape, const int32_t *perm,
                         size_t elem_size, const void *x, void *y)
    void i8_slice_run(int32_t ndim, const int64_t *in_shape, const int64_t *start,
                     const int64_t *step, const int64_t *out_shape, size_t elem_size,
                     const void *x, void *y)
    void i8_pad_run(int32_t ndim, const int64_t *in_shape, const int64_t *pad_before,
                   const int64_t *pad_after, int32_t mode, size_t elem_size, const void *value,
                   const void *x, void *y)
