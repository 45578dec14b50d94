# The float / dynamic-quantization plan (csrc/include/int8rt/fplan.h) and the dynq packing
# entry points. Built by int8rt/dynamic/plan.py, which checks every footprint before adding a
# record; this binding checks the arrays it is handed (dtype, contiguity, sizes).
from libc.stdint cimport int32_t, int64_t, uint8_t, int8_t
from libc.stdlib cimport malloc, free, calloc
cimport numpy as cnp
import numpy as np

cdef extern from "int8rt/f32.h" nogil:
    enum:
        I8F_MAXDIM
    ctypedef struct i8f_shape:
        int32_t ndim
        int64_t shape[8]

cdef extern from "int8rt/dynq.h" nogil:
    size_t i8dq_packed_size(int32_t n, int32_t k)
    void i8dq_pack(int32_t n, int32_t k, const int8_t *w, const float *w_scale, void *packed)
    size_t i8dq_scratch_size(int64_t m, int64_t k)
    void i8dq_quantize_rows(int64_t m, int64_t k, const float *a, int32_t per_row, int8_t *q,
                            float *s)
    size_t i8wo_scratch_size(int64_t n, int64_t group)

cdef extern from "int8rt/fplan.h" nogil:
    ctypedef struct i8fp_op:
        int32_t kind
        int32_t op
        int32_t in_ "in"[3]
        int32_t out
        int64_t p[8]
        float f[2]
        i8f_shape s
        int64_t st[3][8]
        const void *c[3]
    int64_t i8fp_run(const i8fp_op *ops, int64_t n, void *const *bufs, void *scratch)
    int64_t i8fp_run_profiled(const i8fp_op *ops, int64_t n, void *const *bufs, void *scratch,
                              int64_t *ns)


def dynq_packed_size(int n, int k) -> int:
    return i8dq_packed_size(n, k)


def dynq_scratch_size(int64_t m, int64_t k) -> int:
    return i8dq_scratch_size(m, k)


def wo_scratch_size(int64_t n, int64_t group) -> int:
    return i8wo_scratch_size(n, group)


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
    packed = _aligned_bytes(i8dq_packed_size(n, k))
    cdef cnp.ndarray pk = packed
    i8dq_pack(n, k, <const int8_t *>w.data, <const float *>w_scale.data, pk.data)
    return packed


def dynq_quantize_rows(cnp.ndarray a, bint per_row):
    """(q int8 [m, k], s float32 [m] or [1]) exactly as the plan's dynamic matmul computes."""
    if a.dtype != np.float32 or a.ndim != 2 or not a.flags.c_contiguous:
        raise ValueError("dynq_quantize_rows: a must be a C-contiguous float32 [m, k] array")
    cdef int64_t m = a.shape[0], k = a.shape[1]
    cdef cnp.ndarray q = np.empty((m, k), np.int8)
    cdef cnp.ndarray s = np.empty(m if per_row else 1, np.float32)
    i8dq_quantize_rows(m, k, <const float *>a.data, per_row, <int8_t *>q.data,
                       <float *>s.data)
    return q, s


cdef class _FloatPlan:
    """Op records + the arrays they point into. Not thread safe: the intermediate buffers
    (the arena) belong to the plan, so one run at a time (Session builds one per shape)."""
    cdef i8fp_op *ops
    cdef int64_t n
    cdef int64_t cap
    cdef list keep  # arrays whose memory the records point into

    def __cinit__(self):
        self.ops = NULL
        self.n = 0
        self.cap = 0
        self.keep = []

    def __dealloc__(self):
        free(self.ops)

    def add(self, int kind, int op, ins, int out, p=(), f=(), shape=(), strides=(),
            consts=()):
        cdef i8fp_op *grown
        cdef i8fp_op *o
        cdef cnp.ndarray arr
        if len(p) > 8 or len(f) > 2 or len(shape) > I8F_MAXDIM or len(strides) > 3 \
                or len(ins) > 3 or len(consts) > 3:
            raise ValueError("_FloatPlan.add: too many params")
        if self.n == self.cap:
            self.cap = self.cap * 2 + 16
            grown = <i8fp_op *>calloc(self.cap, sizeof(i8fp_op))
            if grown == NULL:
                raise MemoryError()
            for i in range(self.n):
                grown[i] = self.ops[i]
            free(self.ops)
            self.ops = grown
        o = &self.ops[self.n]
        o.kind = kind
        o.op = op
        for t in range(3):
            o.in_[t] = ins[t] if t < len(ins) else -1
        o.out = out
        for t in range(8):
            o.p[t] = p[t] if t < len(p) else 0
        for t in range(2):
            o.f[t] = f[t] if t < len(f) else 0.0
        o.s.ndim = len(shape)
        for t in range(I8F_MAXDIM):
            o.s.shape[t] = shape[t] if t < len(shape) else 1
        for t in range(3):
            for d in range(I8F_MAXDIM):
                o.st[t][d] = strides[t][d] if t < len(strides) and d < len(strides[t]) else 0
        for t in range(3):
            o.c[t] = NULL
            if t < len(consts) and consts[t] is not None:
                arr = consts[t]
                if not arr.flags.c_contiguous:
                    raise ValueError("_FloatPlan.add: consts must be C-contiguous")
                self.keep.append(arr)
                o.c[t] = <const void *>arr.data
        self.n += 1

    def run(self, list buffers, cnp.ndarray scratch, profile=False):
        """buffers: one C-contiguous array per buffer index. Returns -1, or the index of the
        op that refused its data; with profile, also ns per op."""
        cdef int64_t nb = len(buffers)
        cdef void **ptrs = <void **>malloc(max(nb, 1) * sizeof(void *))
        cdef cnp.ndarray arr
        cdef cnp.ndarray ns
        cdef int64_t bad
        cdef void *sp = scratch.data
        if ptrs == NULL:
            raise MemoryError()
        try:
            for i in range(nb):
                arr = buffers[i]
                if not arr.flags.c_contiguous:
                    raise ValueError(f"_FloatPlan.run: buffer {i} is not C-contiguous")
                ptrs[i] = arr.data
            for i in range(self.n):
                for t in range(3):
                    if self.ops[i].in_[t] >= nb:
                        raise ValueError("_FloatPlan.run: buffer index out of range")
                if self.ops[i].out < 0 or self.ops[i].out >= nb:
                    raise ValueError("_FloatPlan.run: buffer index out of range")
            if profile:
                ns = np.zeros(self.n, np.int64)
                with nogil:
                    bad = i8fp_run_profiled(self.ops, self.n, ptrs, sp, <int64_t *>ns.data)
                return bad, ns
            with nogil:
                bad = i8fp_run(self.ops, self.n, ptrs, sp)
            return bad
        finally:
            free(ptrs)
