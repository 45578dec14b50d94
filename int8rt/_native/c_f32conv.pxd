# csrc/kernels/f32conv/f32conv.h: the float32 fallback convolutions (the plan's records; the
# cpu module asks which path they run on).
from libc.stdint cimport int32_t

cdef extern from "kernels/f32conv/f32conv.h" nogil:
    ctypedef struct i8_f32_conv2d_params:
        int32_t n, h, w, c, oh, ow, oc, kh, kw, stride_h, stride_w, dil_h, dil_w
        int32_t pad_t, pad_l, pad_b, pad_r, groups
        float lo, hi
    ctypedef struct i8_f32_fc_params:
        int32_t m, k, n
        float lo, hi

    size_t i8_f32_conv2d_packed_size(const i8_f32_conv2d_params *p)
    void i8_f32_conv2d_pack(const i8_f32_conv2d_params *p, const float *w, const float *bias,
                         void *packed)
    size_t i8_f32_conv2d_scratch_size(const i8_f32_conv2d_params *p)
    int i8_f32_conv2d_run(const i8_f32_conv2d_params *p, const void *packed, const float *x,
                       float *y, void *scratch)
    void i8_f32_conv2d_run_tasks(const i8_f32_conv2d_params *p, const void *packed, const float *x,
                              float *y, void *scratch, size_t t0, size_t t1)
    size_t i8_f32_conv2d_tasks(const i8_f32_conv2d_params *p)
    int32_t i8_f32_conv_path()
    size_t i8_f32_fc_packed_size(const i8_f32_fc_params *p)
    void i8_f32_fc_pack(const i8_f32_fc_params *p, const float *w, const float *bias, void *packed)
    void i8_f32_fc_run(const i8_f32_fc_params *p, const void *packed, const float *x, float *y)
