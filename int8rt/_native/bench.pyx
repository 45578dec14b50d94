# cython: language_level=3
# Benchmark support: the peak dot-product loop of a kernel path (csrc/kernels/gemm/peak.c).
from libc.stdint cimport int8_t, int32_t as _i32, int64_t as _i64
from libc.stdlib cimport free

from int8rt._native.c_cpu cimport i8_isa_available, i8_isa_from_name
from int8rt._native.c_gemm cimport i8_peak_ops
from int8rt._native.c_kernels cimport *
from int8rt._native.common cimport _conv_malloc

from .kernels_gemm import _POST_KEYS


def peak_gops(name: str, iters: int = 2_000_000, repeats: int = 5) -> float:
    """Measured peak int8 GOPS of path `name` on this CPU, best of `repeats` timed loops of
    independent dot-product instructions (vpmaddwd ymm for avx2, pmaddwd xmm for scalar on
    x86: docs/KERNELS.md, "Peak"). Timed in CPU time of this thread (time.thread_time), so
    other processes on a shared machine do not count. ValueError for a path the CPU cannot
    run."""
    import time
    cdef _i32 i = i8_isa_from_name(name.encode())
    if i < 0 or not i8_isa_available(i):
        raise ValueError(f"ISA {name!r} is not available here")
    cdef _i64 n = iters
    cdef double ops = 0.0
    best = 0.0
    for _ in range(repeats):
        t0 = time.thread_time()
        with nogil:
            ops = i8_peak_ops(i, n)
        dt = time.thread_time() - t0
        if dt > 0:
            best = max(best, ops / dt / 1e9)
    return best


def fc_run_times(int m, int k, int n, int repeats = 5, int seed = 0) -> list:
    """CPU seconds of this thread (time.thread_time: preemption by other processes does not
    count) of `repeats` runs of one fc (m x k activations, n x k weights, int8
    output) on the current path, the weights packed once beforehand, so the times are the
    kernel alone (bench/: GEMM GOPS). Random int8 data over the full range."""
    import time
    import numpy as np
    rng = np.random.default_rng(seed)
    cdef int8_t[::1] x = rng.integers(-128, 128, m * k, dtype=np.int8)
    cdef int8_t[::1] w = rng.integers(-128, 128, n * k, dtype=np.int8)
    cdef int32_t[::1] bias = rng.integers(-1000, 1000, n).astype(np.int32)
    cdef float[::1] mult = np.full(n, 1e-4, np.float32)
    cdef int8_t[::1] y = np.empty(m * n, np.int8)
    cdef i8_fc_params p
    p.m = m
    p.k = k
    p.n = n
    p.x_zp = 3
    p.y_zp = -2
    p.qmin = -128
    p.qmax = 127
    p.out_f32 = 0
    p.post = {f: 0 for f in _POST_KEYS}
    cdef void *packed = _conv_malloc(i8_fc_packed_size(&p))
    cdef void *scratch = NULL
    out = []
    try:
        scratch = _conv_malloc(i8_fc_scratch_size(&p))
        with nogil:
            i8_fc_pack(&p, &w[0], &bias[0], &mult[0], packed)
            i8_fc_run(&p, packed, &x[0], &y[0], scratch)  # warm up
        for _ in range(repeats):
            t0 = time.thread_time()
            with nogil:
                i8_fc_run(&p, packed, &x[0], &y[0], scratch)
            out.append(time.thread_time() - t0)
    finally:
        free(packed)
        free(scratch)
    return out


cdef class PackedConv2d:
    """A conv2d packed once (on the current path) with random int8 data over the full range,
    for micro-benchmarks that time the kernel alone: `run()` is one i8_conv2d_run, GIL
    released. Shapes as int8rt.reference.conv.conv2d: NHWC x [n, h, w, c], weights [oc, kh, kw, c / groups],
    symmetric padding `pad`."""
    cdef i8_conv2d_params p
    cdef void *packed
    cdef void *scratch
    cdef object x, y
    cdef readonly long macs

    def __cinit__(self, int n, int h, int w, int c, int oc, int k, int stride=1, int pad=0,
                  int groups=1, int seed=0):
        import numpy as np
        self.packed = NULL
        self.scratch = NULL
        if c % groups or oc % groups or k < 1 or stride < 1 or pad < 0:
            raise ValueError("PackedConv2d: bad shape")
        rng = np.random.default_rng(seed)
        self.p.n, self.p.h, self.p.w, self.p.c = n, h, w, c
        self.p.oc, self.p.kh, self.p.kw = oc, k, k
        self.p.stride_h = self.p.stride_w = stride
        self.p.dil_h = self.p.dil_w = 1
        self.p.pad_t = self.p.pad_l = self.p.pad_b = self.p.pad_r = pad
        self.p.groups = groups
        self.p.x_zp, self.p.y_zp, self.p.qmin, self.p.qmax = 3, -2, -128, 127
        self.p.out_f32 = 0
        self.p.post = {f: 0 for f in _POST_KEYS}
        self.p.oh = (h + 2 * pad - k) // stride + 1
        self.p.ow = (w + 2 * pad - k) // stride + 1
        if self.p.oh < 1 or self.p.ow < 1:
            raise ValueError("PackedConv2d: empty output")
        self.macs = n * self.p.oh * self.p.ow * oc * k * k * (c // groups)
        self.x = rng.integers(-128, 128, n * h * w * c, dtype=np.int8)
        self.y = np.empty(n * self.p.oh * self.p.ow * oc, np.int8)
        cdef int8_t[::1] wt = rng.integers(-128, 128, oc * k * k * (c // groups), dtype=np.int8)
        cdef int32_t[::1] bias = rng.integers(-1000, 1000, oc).astype(np.int32)
        cdef float[::1] mult = np.full(oc, 1e-4, np.float32)
        self.packed = _conv_malloc(i8_conv2d_packed_size(&self.p))
        self.scratch = _conv_malloc(i8_conv2d_scratch_size(&self.p))
        with nogil:
            i8_conv2d_pack(&self.p, &wt[0], &bias[0], &mult[0], self.packed)

    def __dealloc__(self):
        free(self.packed)
        free(self.scratch)

    def run(self) -> None:
        cdef int8_t[::1] xv = self.x
        cdef int8_t[::1] yv = self.y
        with nogil:
            i8_conv2d_run(&self.p, self.packed, &xv[0], &yv[0], self.scratch)
