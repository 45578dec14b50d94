# cython: language_level=3
# The dynamic int8 / weight-only entry points the plan's records do not cover: weight packing
# (done once per session by int8rt/lower_dynamic.py, shared by the plans of every shape),
# scratch sizes and the row quantization tests compare with the numpy reference. The records
# themselves are kinds of the one plan (plan.pyx, csrc/plan/plan.c).
from libc.stdint cimport int32_t, int64_t, uint8_t, int8_t
cimport numpy as cnp
import numpy as np

cdef extern from "int8rt/dynq.h" nogil:
    size_t i8_dq_packed_size(int32_t n, int32_t k)
    void i8_dq_pack(int32_t n, int32_t k, const int8_t *w, const float *w_scale, void *packed)
    const char *i8_dq_kernel_name(int32_t n, int32_t k, const void *packed)
    size_t i8_dq_scratch_size(int64_t m, int64_t k)
    void i8_dq_quantize_rows(int64_t m, int64_t k, const float *a, int32_t per_row, int8_t *q,
                            float *s)
    size_t i8_wo_scratch_size(int64_t k, int64_t group)
    size_t i8_w4_packed_size(int64_t n, int64_t k, int64_t group)
    void i8_w4_pack(int64_t n, int64_t k, int64_t group, const uint8_t *q, const float *scales,
                    const uint8_t *zero_points, void *packed)
    size_t i8_w4_scratch_size(int64_t m, int64_t k)
    int32_t i8_w4_kernel_count()
    const char *i8_w4_kernel_name(int32_t i)
    int32_t i8_w4_kernel_native(int32_t i)
    int32_t i8_w4_kernel_runnable(int32_t i)
    int i8_w4_matmul_kernel(int32_t kernel, int64_t m, int64_t n, int64_t k, int64_t group,
                            const float *a, const void *packed, const float *bias, float *y,
                            void *scratch)

def dynq_packed_size(int n, int k) -> int:
    return i8_dq_packed_size(n, k)


def dynq_scratch_size(int64_t m, int64_t k) -> int:
    return i8_dq_scratch_size(m, k)


def wo_scratch_size(int64_t k, int64_t group) -> int:
    return i8_wo_scratch_size(k, group)


def _aligned_bytes(size_t nbytes):
    """A 64-byte aligned uint8 array of nbytes (a view into a slightly larger allocation)."""
    raw = np.zeros(nbytes + 64, np.uint8)
    start = (-raw.ctypes.data) % 64
    return raw[start:start + nbytes]


def dynq_pack(cnp.ndarray w, cnp.ndarray w_scale):
    """Packs int8 weights w [n, k] (|q| <= 127) with per-row scales into a gemm panel."""
    if w.dtype != np.int8 or w.ndim != 2 or not w.flags.c_contiguous:
        raise ValueError("dynq_pack: w must be a C-contiguous int8 [n, k] array")
    if w_scale.dtype != np.float32 or w_scale.ndim != 1 or w_scale.shape[0] != w.shape[0] \
            or not w_scale.flags.c_contiguous:
        raise ValueError("dynq_pack: w_scale must be float32 [n]")
    cdef int n = w.shape[0], k = w.shape[1]
    packed = _aligned_bytes(i8_dq_packed_size(n, k))
    cdef cnp.ndarray pk = packed
    i8_dq_pack(n, k, <const int8_t *>w.data, <const float *>w_scale.data, pk.data)
    return packed


def dynq_kernel(cnp.ndarray packed, int n, int k) -> str:
    """The gemm kernel set the dynamic matmul runs a dynq_pack panel [n, k] with on the current
    path (avx2: "avx2ubs" when every packed weight is within [-64, 64], else "avx2")."""
    if packed.dtype != np.uint8 or packed.ndim != 1 or packed.shape[0] < i8_dq_packed_size(n, k) \
            or not packed.flags.c_contiguous or packed.ctypes.data % 64:
        raise ValueError("dynq_kernel: packed must be a dynq_pack panel of [n, k]")
    return i8_dq_kernel_name(n, k, packed.data).decode()


def dynq_quantize_rows(cnp.ndarray a, bint per_row):
    """(q int8 [m, k], s float32 [m] or [1]) exactly as the plan's dynamic matmul computes."""
    if a.dtype != np.float32 or a.ndim != 2 or not a.flags.c_contiguous:
        raise ValueError("dynq_quantize_rows: a must be a C-contiguous float32 [m, k] array")
    cdef int64_t m = a.shape[0], k = a.shape[1]
    cdef cnp.ndarray q = np.empty((m, k), np.int8)
    cdef cnp.ndarray s = np.empty(m if per_row else 1, np.float32)
    i8_dq_quantize_rows(m, k, <const float *>a.data, per_row, <int8_t *>q.data,
                       <float *>s.data)
    return q, s


def w4_pack(cnp.ndarray q, cnp.ndarray scales, int64_t group, zero_points=None):
    """Packs weight-only int4 weights q uint8 [n, k / 2] (two's complement nibbles, or
    unsigned codes with zero_points uint8 [n, k / group]) and their scales float32
    [n, k / group] into the W4A8 kernels' blocks (int8rt/dynq.h i8_w4_pack)."""
    if q.dtype != np.uint8 or q.ndim != 2 or not q.flags.c_contiguous:
        raise ValueError("w4_pack: q must be a C-contiguous uint8 [n, k / 2] array")
    cdef int64_t n = q.shape[0], k = 2 * q.shape[1]
    if group < 8 or group % 8 or k % group:
        raise ValueError(f"w4_pack: group {group} must be a multiple of 8 dividing k = {k}")
    if scales.dtype != np.float32 or not scales.flags.c_contiguous or \
            scales.shape[0] != n or scales.shape[1] != k // group:
        raise ValueError(f"w4_pack: scales must be float32 [{n}, {k // group}]")
    cdef cnp.ndarray zp
    cdef const uint8_t *zptr = NULL
    if zero_points is not None:
        zp = zero_points
        if zp.dtype != np.uint8 or not zp.flags.c_contiguous or zp.ndim != 2 or \
                zp.shape[0] != n or zp.shape[1] != k // group or (zp.size and zp.max() > 15):
            raise ValueError(f"w4_pack: zero_points must be uint8 [{n}, {k // group}] in "
                             "[0, 15]")
        zptr = <const uint8_t *>zp.data
    packed = _aligned_bytes(i8_w4_packed_size(n, k, group))
    cdef cnp.ndarray pk = packed
    i8_w4_pack(n, k, group, <const uint8_t *>q.data, <const float *>scales.data, zptr, pk.data)
    return packed


def w4_kernels():
    """The W4A8 row kernels compiled in: [{name, native, runnable}] (int8rt/dynq.h)."""
    return [{"name": i8_w4_kernel_name(i).decode(), "native": bool(i8_w4_kernel_native(i)),
             "runnable": bool(i8_w4_kernel_runnable(i))} for i in range(i8_w4_kernel_count())]


def w4_matmul_with(str kernel, cnp.ndarray a, cnp.ndarray packed, int64_t n, int64_t group,
                   bias=None):
    """y = the W4A8 matmul of a float32 [m, k] with w4_pack blocks through the named row
    kernel (tests: every kernel, emulations included, against the reference)."""
    names = [d["name"] for d in w4_kernels()]
    if kernel not in names:
        raise ValueError(f"unknown W4A8 kernel {kernel!r} (have {names})")
    if a.dtype != np.float32 or a.ndim != 2 or not a.flags.c_contiguous:
        raise ValueError("w4_matmul_with: a must be a C-contiguous float32 [m, k] array")
    cdef int64_t m = a.shape[0], k = a.shape[1]
    if group < 8 or group % 8 or k % group or \
            packed.nbytes != (n + 15) // 16 * (k // group) * (8 * group + 192):
        raise ValueError("w4_matmul_with: packed does not match n, k and group")
    cdef cnp.ndarray b
    cdef const float *bp = NULL
    if bias is not None:
        b = np.ascontiguousarray(bias, np.float32)
        if b.shape[0] != n:
            raise ValueError(f"w4_matmul_with: bias must be [{n}]")
        bp = <const float *>b.data
    cdef cnp.ndarray y = np.empty((m, n), np.float32)
    cdef cnp.ndarray scratch = _aligned_bytes(i8_w4_scratch_size(m, k))
    cdef cnp.ndarray pk = np.ascontiguousarray(packed)
    if i8_w4_matmul_kernel(names.index(kernel), m, n, k, group, <const float *>a.data, pk.data,
                           bp, <float *>y.data, scratch.data) != 0:
        raise ValueError(f"W4A8 kernel {kernel!r} cannot run on this CPU")
    return y
