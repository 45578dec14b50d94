# Benchmark support: the peak dot-product loop of a kernel path (csrc/kernels/gemm/peak.c).
from libc.stdint cimport int64_t as _i64

cdef extern from "kernels/gemm/gemm.h" nogil:
    double i8_peak_ops(_i32 isa, _i64 iters)


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
