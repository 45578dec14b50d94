# Bindings for the float32 fallback kernels (csrc/kernels/f32conv/f32conv.h), for tests and
# micro-benchmarks. Same signatures as int8rt.reference.f32conv. The plan (_plan.pxi) reuses
# the struct declarations below.

cdef extern from "kernels/f32conv/f32conv.h" nogil:
    ctypedef struct f32_conv2d_params:
        int32_t n, h, w, c, oh, ow, oc, kh, kw, stride_h, stride_w, dil_h, dil_w
        int32_t pad_t, pad_l, pad_b, pad_r, groups
        float lo, hi
    ctypedef struct f32_fc_params:
        int32_t m, k, n
        float lo, hi

    size_t f32_conv2d_packed_size(const f32_conv2d_params *p)
    void f32_conv2d_pack(const f32_conv2d_params *p, const float *w, const float *bias,
                         void *packed)
    size_t f32_conv2d_scratch_size(const f32_conv2d_params *p)
    int f32_conv2d_run(const f32_conv2d_params *p, const void *packed, const float *x,
                       float *y, void *scratch)
    void f32_conv2d_run_tasks(const f32_conv2d_params *p, const void *packed, const float *x,
                              float *y, void *scratch, size_t t0, size_t t1)
    size_t f32_conv2d_tasks(const f32_conv2d_params *p)
    int32_t f32conv_path()
    size_t f32_fc_packed_size(const f32_fc_params *p)
    void f32_fc_pack(const f32_fc_params *p, const float *w, const float *bias, void *packed)
    void f32_fc_run(const f32_fc_params *p, const void *packed, const float *x, float *y)


def _f32_bounds(lo, hi):
    lo, hi = float(np.float32(lo)), float(np.float32(hi))
    if lo != lo or hi != hi or lo > hi:
        raise ValueError(f"clamp bounds lo={lo}, hi={hi} must be ordered and not NaN")
    return lo, hi


def conv2d_f32(x, *, w, bias, stride_h, stride_w, dil_h, dil_w, pad_t, pad_l, pad_b, pad_r,
               groups, lo, hi, task_step=None, **_sizes):
    """Native f32_conv2d: x [n, h, w, c] float32, w [oc, kh, kw, c / groups] float32,
    bias [oc] float32 -> y [n, oh, ow, oc] float32. `task_step`: run the op's tasks in
    chunks of that many (tests: the bytes must not depend on the split)."""
    _conv_check_array(x, "x", np.float32, 4)
    _conv_check_array(w, "w", np.float32, 4)
    _conv_check_array(bias, "bias", np.float32, 1)
    cdef int32_t big = 2**31 - 1
    cdef f32_conv2d_params p
    p.n, p.h, p.w, p.c = [_conv_check_int(v, "x.shape", 1, big) for v in x.shape]
    p.oc, p.kh, p.kw = [_conv_check_int(v, "w.shape", 1, big) for v in w.shape[:3]]
    p.stride_h = _conv_check_int(stride_h, "stride_h", 1, big)
    p.stride_w = _conv_check_int(stride_w, "stride_w", 1, big)
    p.dil_h = _conv_check_int(dil_h, "dil_h", 1, big)
    p.dil_w = _conv_check_int(dil_w, "dil_w", 1, big)
    p.pad_t = _conv_check_int(pad_t, "pad_t", 0, big)
    p.pad_l = _conv_check_int(pad_l, "pad_l", 0, big)
    p.pad_b = _conv_check_int(pad_b, "pad_b", 0, big)
    p.pad_r = _conv_check_int(pad_r, "pad_r", 0, big)
    p.groups = _conv_check_int(groups, "groups", 1, big)
    p.lo, p.hi = _f32_bounds(lo, hi)
    if p.c % p.groups or p.oc % p.groups or w.shape[3] != p.c // p.groups:
        raise ValueError(f"conv2d_f32: x {x.shape} and w {w.shape} do not match groups={groups}")
    if bias.shape[0] != p.oc:
        raise ValueError(f"conv2d_f32: bias {bias.shape} must be [{p.oc}]")
    oh = (x.shape[1] + pad_t + pad_b - dil_h * (p.kh - 1) - 1) // stride_h + 1
    ow = (x.shape[2] + pad_l + pad_r - dil_w * (p.kw - 1) - 1) // stride_w + 1
    if oh < 1 or ow < 1:
        raise ValueError(f"conv2d_f32: empty output {oh}x{ow}")
    p.oh = _conv_check_int(oh, "oh", 1, big)
    p.ow = _conv_check_int(ow, "ow", 1, big)
    y = np.empty((p.n, p.oh, p.ow, p.oc), dtype=np.float32)
    cdef const float[::1] xv = x.reshape(-1)
    cdef const float[::1] wv = w.reshape(-1)
    cdef const float[::1] bv = bias
    cdef float[::1] yv = y.reshape(-1)
    cdef void *packed = _conv_malloc(f32_conv2d_packed_size(&p))
    cdef void *scratch = NULL
    cdef size_t t, tasks = f32_conv2d_tasks(&p)
    cdef size_t step = 1 if task_step is None else max(1, int(task_step))
    try:
        scratch = _conv_malloc(f32_conv2d_scratch_size(&p) or 1)
        with nogil:
            f32_conv2d_pack(&p, &wv[0], &bv[0], packed)
            if step >= tasks:
                f32_conv2d_run(&p, packed, &xv[0], &yv[0], scratch)
            else:  # the tasks in chunks, the way a thread pool hands them out
                t = 0
                while t < tasks:
                    f32_conv2d_run_tasks(&p, packed, &xv[0], &yv[0], scratch, t,
                                         min(t + step, tasks))
                    t += step
    finally:
        free(packed)
        free(scratch)
    return y


def f32conv_path_name():
    """The path the float fallback kernels run on now: 'avx512', 'avx2' (+ FMA) or
    'portable'."""
    return ("portable", "avx2", "avx512")[f32conv_path()]


def fc_f32(x, *, w, bias, lo, hi, m=None, k=None, n=None):
    """Native f32_fc: x [m, k] float32, w [n, k] float32, bias [n] -> y [m, n] float32."""
    _conv_check_array(x, "x", np.float32, 2)
    _conv_check_array(w, "w", np.float32, 2)
    _conv_check_array(bias, "bias", np.float32, 1)
    cdef int32_t big = 2**31 - 1
    cdef f32_fc_params p
    p.m = _conv_check_int(x.shape[0], "m", 1, big)
    p.k = _conv_check_int(x.shape[1], "k", 1, big)
    p.n = _conv_check_int(w.shape[0], "n", 1, big)
    p.lo, p.hi = _f32_bounds(lo, hi)
    if w.shape[1] != p.k or bias.shape[0] != p.n:
        raise ValueError(f"fc_f32: x {x.shape}, w {w.shape}, bias {bias.shape} do not match")
    y = np.empty((p.m, p.n), dtype=np.float32)
    cdef const float[::1] xv = x.reshape(-1)
    cdef const float[::1] wv = w.reshape(-1)
    cdef const float[::1] bv = bias
    cdef float[::1] yv = y.reshape(-1)
    cdef void *packed = _conv_malloc(f32_fc_packed_size(&p))
    try:
        with nogil:
            f32_fc_pack(&p, &wv[0], &bv[0], packed)
            f32_fc_run(&p, packed, &xv[0], &yv[0])
    finally:
        free(packed)
    return y
