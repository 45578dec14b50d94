# cython: language_level=3
# The native plan (csrc/include/int8rt/plan.h): built from Python once per Program by
# int8rt/plan.py, then run with the GIL released. The op params reuse the kernel structs of
# c_kernels.pxd / c_f32conv.pxd.
from libc.stdlib cimport malloc, free
from libc.string cimport memset
cimport numpy as cnp
import numpy as np
from libc.stdint cimport int8_t, int32_t, int64_t

from int8rt._native.c_f32conv cimport i8_f32_conv2d_params, i8_f32_fc_params
from int8rt._native.c_kernels cimport *
from int8rt._native.dynamic import _aligned_bytes

cnp.import_array()

cdef extern from "int8rt/f32.h" nogil:
    enum:
        I8_F32_MAXDIM
    ctypedef struct i8_f32_shape:
        int32_t ndim
        int64_t shape[8]

cdef extern from "int8rt/rnn.h" nogil:
    ctypedef struct i8_rnn_params:
        int64_t seq, batch, input, hidden
        int32_t cell, dirs, reverse, linear_before_reset, has_h0, has_c0, has_lens
    size_t i8_rnn_packed_size(const i8_rnn_params *p)
    void i8_rnn_pack(const i8_rnn_params *p, const int8_t *qw, const float *sw,
                    const int8_t *qr, const float *sr, void *packed)
    const char *i8_rnn_check(const i8_rnn_params *p)

cdef extern from "int8rt/dqconv.h" nogil:
    ctypedef struct i8_dqconv_params:
        int64_t n, c, h, w, m, kh, kw, oh, ow
        int32_t stride_h, stride_w, dil_h, dil_w, pad_t, pad_l, has_bias
        float amax

cdef extern from "kernels/rnn/matvec.h" nogil:
    size_t i8_rnn_mv_packed_size(int32_t n, int32_t k)
    void i8_rnn_mv_pack(int32_t n, int32_t k, const int8_t *w, const float *w_scale, void *packed)
    size_t i8_rnn_mv_scratch_size(int32_t n, int32_t k)
    void i8_rnn_mv_run(const void *packed, const float *bias, const float *a, float *y,
                  void *scratch)

cdef extern from "kernels/rnn/gates.h" nogil:
    void i8_rnn_gate_run(int32_t which, int64_t n, const float *x, float *y)

cdef extern from "int8rt/plan.h" nogil:
    enum:
        I8_OK
        I8_ENOMEM
        I8_EINVAL
        I8_ESTATE
        I8_EDATA
    enum:
        I8_REF_ARENA
        I8_REF_INPUT
        I8_REF_OUTPUT
        I8_REF_CONST
    enum:
        I8_PLAN_MAX_CONSTS
        I8_PLAN_MAX_INPUTS
    enum:
        I8_OP_COUNT  # the kinds themselves are int8rt.records.KIND (plan_ops.h)

    ctypedef struct i8_buf_ref:
        int32_t kind
        int32_t index
        int64_t offset
        int64_t nbytes

    ctypedef struct i8_plan_requant_copy_params:
        i8_requant_copy_params base
        int64_t x_offset, y_offset
    ctypedef struct i8_plan_global_avgpool_params:
        int32_t n, hw, c
        int32_t x_zp, y_zp
        float mult
        int32_t qmin, qmax
    ctypedef struct i8_plan_lut_params:
        int64_t n
    ctypedef struct i8_plan_resize_nearest_params:
        int32_t n, h, w, c, oh, ow
        int64_t elem_size
    ctypedef struct i8_plan_softmax_params:
        int64_t rows, cols
        float inv_y_scale
        int32_t y_zp
    ctypedef struct i8_plan_quant_params:
        int64_t n
        float scale
        int32_t zp
        int64_t c, hw
    ctypedef struct i8_plan_transpose_params:
        int32_t ndim
        int64_t shape[I8_MAX_DIMS]
        int32_t perm[I8_MAX_DIMS]
        int64_t elem_size
    ctypedef struct i8_plan_slice_params:
        int32_t ndim
        int64_t in_shape[I8_MAX_DIMS]
        int64_t start[I8_MAX_DIMS]
        int64_t step[I8_MAX_DIMS]
        int64_t out_shape[I8_MAX_DIMS]
        int64_t elem_size
    ctypedef struct i8_plan_pad_params:
        int32_t ndim
        int64_t in_shape[I8_MAX_DIMS]
        int64_t pad_before[I8_MAX_DIMS]
        int64_t pad_after[I8_MAX_DIMS]
        int32_t mode
        int64_t elem_size
    ctypedef struct i8_plan_copy_params:
        int64_t nbytes
    ctypedef struct i8_plan_f32_binary_params:
        int32_t op, type
        i8_f32_shape s
        int64_t a_stride[8]
        int64_t b_stride[8]
    ctypedef struct i8_plan_f32_unary_params:
        int32_t op
        int64_t n
        float alpha, beta
    ctypedef struct i8_plan_layernorm_params:
        int64_t rows, cols
        float eps
        int32_t has_beta
        int32_t has_residual
    ctypedef struct i8_f32_attention_params:
        int64_t batch, heads, lq, lk, dh
        float scale
        int32_t divide, has_mask
        int64_t mask_stride[4]
        int64_t q_stride[4]
        int64_t k_stride[4]
        int64_t v_stride[4]
        int64_t y_stride[4]
    ctypedef struct i8_plan_rows_params:
        int64_t rows, cols
    ctypedef struct i8_plan_reduce_params:
        int32_t op
        int64_t outer, r, inner
    ctypedef struct i8_plan_matmul_params:
        i8_f32_shape batch
        int64_t a_stride[8]
        int64_t b_stride[8]
        int64_t m, k, n, lda, ldb
    ctypedef struct i8_plan_gather_params:
        int64_t outer, axis, inner, elem_size, nidx
    ctypedef struct i8_plan_strided_copy_params:
        i8_f32_shape s
        int64_t elem_size, x_offset, y_offset
        int64_t x_stride[8]
        int64_t y_stride[8]
    ctypedef struct i8_plan_cast_params:
        int64_t n
        int32_t to "to"
        int32_t from_ "from"
    ctypedef struct i8_plan_where_params:
        i8_f32_shape s
        int64_t elem_size
        int64_t c_stride[8]
        int64_t a_stride[8]
        int64_t b_stride[8]
    ctypedef struct i8_plan_dynq_params:
        int64_t m
        int32_t n, k, per_row, has_bias, act
    ctypedef struct i8_plan_wo_params:
        int64_t m, k, n, group
        int32_t bits, has_bias
    ctypedef struct i8_plan_wo_gather_params:
        int64_t rows, cols, group, nidx
        int32_t bits

    ctypedef union i8_op_params:
        i8_conv2d_params conv2d
        i8_fc_params fc
        i8_binary_params binary
        i8_plan_requant_copy_params requant_copy
        i8_pool_params pool
        i8_plan_global_avgpool_params global_avgpool
        i8_plan_lut_params lut
        i8_plan_resize_nearest_params resize_nearest
        i8_resize_bilinear_params resize_bilinear
        i8_plan_softmax_params softmax
        i8_plan_quant_params quant
        i8_plan_transpose_params transpose
        i8_plan_slice_params slice
        i8_plan_pad_params pad
        i8_plan_copy_params copy
        i8_f32_conv2d_params conv2d_f32
        i8_f32_fc_params fc_f32
        i8_plan_f32_binary_params f32_binary
        i8_plan_f32_unary_params f32_unary
        i8_plan_layernorm_params layernorm
        i8_plan_rows_params rows
        i8_plan_reduce_params reduce
        i8_plan_matmul_params matmul
        i8_plan_gather_params gather
        i8_plan_strided_copy_params strided_copy
        i8_plan_cast_params cast
        i8_plan_where_params where
        i8_plan_dynq_params dynq
        i8_plan_wo_params wo
        i8_plan_wo_gather_params wo_gather
        i8_rnn_params rnn
        i8_dqconv_params dqconv
        i8_f32_attention_params attention

    ctypedef struct i8_op_desc:
        int32_t kind
        int32_t n_inputs
        i8_buf_ref inputs[4]
        i8_buf_ref output
        i8_op_params params
        int32_t n_consts
        const void *consts[I8_PLAN_MAX_CONSTS]
        int64_t const_nbytes[I8_PLAN_MAX_CONSTS]
        int32_t packed_weights

    ctypedef struct i8_plan:
        pass

    const char *i8_status_str(int status)
    const char *i8_plan_op_name(int32_t kind)
    int i8_plan_create(int32_t n_inputs, const int64_t *input_nbytes, int32_t n_outputs,
                       const int64_t *output_nbytes, i8_plan **out)
    void i8_plan_destroy(i8_plan *plan)
    int i8_plan_add_const(i8_plan *plan, const void *data, int64_t nbytes, int32_t *index)
    int i8_plan_add_const_ref(i8_plan *plan, const void *data, int64_t nbytes, int32_t *index)
    int i8_plan_add_op(i8_plan *plan, const i8_op_desc *desc)
    int i8_plan_finalize(i8_plan *plan, int64_t arena_nbytes)
    int64_t i8_plan_set_split_chunk(int64_t chunk)
    const char *i8_plan_error(const i8_plan *plan)
    int32_t i8_plan_num_ops(const i8_plan *plan)
    int64_t i8_plan_arena_total(const i8_plan *plan)
    int64_t i8_plan_scratch_nbytes(const i8_plan *plan)
    int i8_plan_run(const i8_plan *plan, const void *const *inputs, void *const *outputs)
    int i8_plan_run_profiled(const i8_plan *plan, const void *const *inputs,
                             void *const *outputs, int64_t *op_ns)
    int i8_plan_run_threads(const i8_plan *plan, const void *const *inputs,
                            void *const *outputs, int64_t *op_ns, int32_t threads)
    int64_t i8_plan_op_tasks(const i8_plan *plan, int32_t op)
    const void *i8_plan_op_packed(const i8_plan *plan, int32_t op)
    int64_t i8_plan_packed_weights_size(const i8_op_desc *desc)
    int i8_plan_pack_weights(const i8_op_desc *desc, void *blob, int64_t nbytes, char *err,
                             size_t err_len)
    int i8_plan_run_arena(const i8_plan *plan, const void *const *inputs, void *const *outputs,
                          int64_t *op_ns, int32_t threads, void *arena, int64_t arena_nbytes,
                          int32_t *bad_op)
    int64_t i8_plan_arena_size(const i8_plan *plan, int32_t threads)

cdef extern from "int8rt/threadpool.h" nogil:
    enum:
        I8_POOL_MAX_THREADS
    void i8_pool_shutdown()
    int32_t i8_pool_workers()


MAX_THREADS = I8_POOL_MAX_THREADS


def thread_pool_shutdown():
    """Joins the process-wide pool's workers (registered with atexit by int8rt.plan); a later
    threaded run builds a new pool. Waits for a run that holds the pool (one inference)."""
    with nogil:
        i8_pool_shutdown()


def set_split_chunk(int64_t chunk) -> int:
    """Tests: the work per task of the ops the plan splits for threads, for the plans built
    from now on (csrc/plan/split.c; <= 0 restores the default). Returns the previous value."""
    return i8_plan_set_split_chunk(chunk)


def thread_pool_workers() -> int:
    """Worker threads alive in the process-wide pool (0 when there is none)."""
    return i8_pool_workers()


from int8rt.records import BY_KERNEL as _RECORDS, KIND as _KIND, RECORDS as _RECORD_LIST


def _check_record_kinds():
    """The records this module was built with are the registry's (plan_ops.h is generated from
    it): a stale build or a hand-edited enum fails here, at import, not with wrong kernels."""
    names = [i8_plan_op_name(k).decode() for k in range(I8_OP_COUNT)]
    want = [r.kernel for r in _RECORD_LIST]
    if names != want:
        raise ImportError("int8rt._native was built with other plan records than "
                          "int8rt/records.py: rebuild (python setup.py build_ext --inplace) "
                          f"or run tools/gen_records.py; built {names}, registry {want}")


_check_record_kinds()

_REF_KINDS = {"arena": I8_REF_ARENA, "input": I8_REF_INPUT, "output": I8_REF_OUTPUT,
              "const": I8_REF_CONST}

_CONV_FIELDS = ("n", "h", "w", "c", "oh", "ow", "oc", "kh", "kw", "stride_h", "stride_w",
                "dil_h", "dil_w", "pad_t", "pad_l", "pad_b", "pad_r", "groups", "x_zp", "y_zp",
                "qmin", "qmax")
_FC_FIELDS = ("m", "k", "n", "x_zp", "y_zp", "qmin", "qmax")
# the fused post-ops of conv2d / fc (kernels.h i8_post_params): Program param name -> field;
# absent: no post-op (all zero)
_POST_FIELDS = {"post_lut": "lut", "post_add": "add", "add_a_zp": "a_zp", "add_b_zp": "b_zp",
                "add_a_mult": "a_mult", "add_b_mult": "b_mult", "add_mult": "mult",
                "add_y_zp": "y_zp", "add_qmin": "qmin", "add_qmax": "qmax"}


_RNN_FIELDS = _RECORDS["rnn"].fields


def _post(params):
    return {field: params.get(key, 0) for key, field in _POST_FIELDS.items()}


cdef int _fill_shape(str kernel, dict params, str key, i8_f32_shape *s, int min_ndim) except -1:
    v = [int(x) for x in params.get(key, ())]
    if not min_ndim <= len(v) <= I8_F32_MAXDIM:
        raise ValueError(f"{kernel}: {key} must have {min_ndim}..{I8_F32_MAXDIM} dims")
    s.ndim = len(v)
    for i in range(I8_F32_MAXDIM):
        s.shape[i] = v[i] if i < len(v) else 1
    return len(v)


cdef int _fill_strides(str kernel, dict params, str key, int64_t *st, int ndim) except -1:
    v = [int(x) for x in params.get(key, ())]
    if len(v) != ndim:
        raise ValueError(f"{kernel}: {key} must have {ndim} entries")
    for i in range(I8_F32_MAXDIM):
        st[i] = v[i] if i < ndim else 0
    return 0


def _pick(kernel, params, fields):
    """The params a struct needs, by C field name (Cython converts the dict to the struct)."""
    try:
        return {f: params[f] for f in fields}
    except KeyError as e:
        raise ValueError(f"{kernel}: missing param {e.args[0]!r}") from None


def _dims(kernel, params, key, ndim):
    v = [int(x) for x in params[key]] if key in params else None
    if v is None:
        raise ValueError(f"{kernel}: missing param {key!r}")
    if len(v) != ndim or not 1 <= ndim <= I8_MAX_DIMS:
        raise ValueError(f"{kernel}: {key} must have ndim = {ndim} entries in [1, {I8_MAX_DIMS}]")
    return v


def _exact(kernel, key, value, dtype):
    """`value` as a C-contiguous array of `dtype`, refusing any conversion that changes a value
    (a float64 multiplier is not silently rounded to float32 here: lowering owns rounding)."""
    a = np.asarray(value)
    b = np.ascontiguousarray(a, dtype=dtype)
    if a.dtype != b.dtype and not np.array_equal(b, a):
        raise ValueError(f"{kernel}: const {key!r} ({a.dtype}) is not exactly {np.dtype(dtype)}")
    return b


def _record_struct(str kernel, rec, dict params):
    """The params struct of a record declared with `fields` (int8rt/records.py), as the dict
    Cython converts to it: `defaults` fill the params a call may leave out, a dotted field
    fills a nested struct, an `arrays` field takes a list of `ndim` ints (zero-padded to
    I8_MAX_DIMS) and `ndim` is their length."""
    if rec.defaults:
        params = {**dict(rec.defaults), **params}
    nd = 0
    if rec.arrays:
        if "ndim" in params:
            nd = params["ndim"]
        else:
            nd = len(params.get(rec.arrays[0], ()))
    d = {}
    for f in rec.fields:
        if f in rec.arrays:
            v = _dims(kernel, params, f, nd)
            value = v + [0] * (I8_MAX_DIMS - len(v))
        elif f == "ndim" and rec.arrays:
            value = nd
        else:
            key = f.rpartition(".")[2]
            if key not in params:
                raise ValueError(f"{kernel}: missing param {key!r}")
            value = params[key]
        outer, _, inner = f.rpartition(".")
        (d.setdefault(outer, {}) if outer else d)[inner] = value
    return d


cdef int _set_member(str member, dict d, i8_op_params *p) except -1:
    """Stores a params dict (_record_struct) in union member `member` of i8_op_params: the
    only per-member code of the records declared with `fields` (Cython converts the dict to
    the member's struct, refusing missing, extra or out-of-range values)."""
    if member == "pool":
        p.pool = d
    elif member == "binary":
        p.binary = d
    elif member == "requant_copy":
        p.requant_copy = d
    elif member == "global_avgpool":
        p.global_avgpool = d
    elif member == "lut":
        p.lut = d
    elif member == "resize_nearest":
        p.resize_nearest = d
    elif member == "resize_bilinear":
        p.resize_bilinear = d
    elif member == "softmax":
        p.softmax = d
    elif member == "quant":
        p.quant = d
    elif member == "transpose":
        p.transpose = d
    elif member == "slice":
        p.slice = d
    elif member == "pad":
        p.pad = d
    elif member == "copy":
        p.copy = d
    elif member == "conv2d_f32":
        p.conv2d_f32 = d
    elif member == "fc_f32":
        p.fc_f32 = d
    elif member == "f32_unary":
        p.f32_unary = d
    elif member == "layernorm":
        p.layernorm = d
    elif member == "rows":
        p.rows = d
    elif member == "reduce":
        p.reduce = d
    elif member == "gather":
        p.gather = d
    elif member == "dynq":
        p.dynq = d
    elif member == "wo":
        p.wo = d
    elif member == "wo_gather":
        p.wo_gather = d
    elif member == "rnn":
        p.rnn = d
    elif member == "dqconv":
        p.dqconv = d
    else:
        raise ValueError(f"union member {member!r} has no table-driven fill (_set_member)")
    return 0


cdef int _fill_params(str kernel, dict params, i8_op_params *p) except -1:
    """A record declared with `fields` is filled from them (_record_struct); the others,
    whose structs take renamed params, computed defaults or shapes padded with ones, by hand
    below."""
    cdef int i, nd
    rec = _RECORDS.get(kernel)
    if rec is None:
        raise ValueError(f"unknown kernel {kernel!r}")
    if rec.fields is not None:
        return _set_member(rec.member, _record_struct(kernel, rec, params), p)
    if kernel == "conv2d":
        d = _pick(kernel, params, _CONV_FIELDS)
        # the float32 epilogue is opt-in: a call without it writes int8 as before
        d["out_f32"] = params.get("out_f32", 0)
        d["post"] = _post(params)
        p.conv2d = d
    elif kernel == "fc":
        d = _pick(kernel, params, _FC_FIELDS)
        d["out_f32"] = params.get("out_f32", 0)
        d["post"] = _post(params)
        p.fc = d
    elif kernel == "f32_binary":
        d = _pick(kernel, params, ("op", "type"))
        p.f32_binary.op = d["op"]
        p.f32_binary.type = d["type"]
        nd = _fill_shape(kernel, params, "shape", &p.f32_binary.s, 1)
        _fill_strides(kernel, params, "a_stride", p.f32_binary.a_stride, nd)
        _fill_strides(kernel, params, "b_stride", p.f32_binary.b_stride, nd)
    elif kernel == "matmul":
        d = _pick(kernel, params, ("m", "k", "n", "lda", "ldb"))
        p.matmul.m = d["m"]
        p.matmul.k = d["k"]
        p.matmul.n = d["n"]
        p.matmul.lda = d["lda"]
        p.matmul.ldb = d["ldb"]
        nd = _fill_shape(kernel, params, "batch", &p.matmul.batch, 0)
        _fill_strides(kernel, params, "a_stride", p.matmul.a_stride, nd)
        _fill_strides(kernel, params, "b_stride", p.matmul.b_stride, nd)
    elif kernel == "strided_copy":
        d = _pick(kernel, params, ("elem_size", "x_offset", "y_offset"))
        p.strided_copy.elem_size = d["elem_size"]
        p.strided_copy.x_offset = d["x_offset"]
        p.strided_copy.y_offset = d["y_offset"]
        nd = _fill_shape(kernel, params, "shape", &p.strided_copy.s, 1)
        _fill_strides(kernel, params, "x_stride", p.strided_copy.x_stride, nd)
        _fill_strides(kernel, params, "y_stride", p.strided_copy.y_stride, nd)
    elif kernel == "cast":
        d = _pick(kernel, params, ("n", "from", "to"))
        p.cast.n = d["n"]
        p.cast.from_ = d["from"]
        p.cast.to = d["to"]
    elif kernel == "where":
        p.where.elem_size = _pick(kernel, params, ("elem_size",))["elem_size"]
        nd = _fill_shape(kernel, params, "shape", &p.where.s, 1)
        _fill_strides(kernel, params, "c_stride", p.where.c_stride, nd)
        _fill_strides(kernel, params, "a_stride", p.where.a_stride, nd)
        _fill_strides(kernel, params, "b_stride", p.where.b_stride, nd)
    elif kernel == "attention":
        d = _pick(kernel, params, ("batch", "heads", "lq", "lk", "dh", "scale", "divide",
                                   "has_mask"))
        p.attention.batch = d["batch"]
        p.attention.heads = d["heads"]
        p.attention.lq = d["lq"]
        p.attention.lk = d["lk"]
        p.attention.dh = d["dh"]
        p.attention.scale = d["scale"]
        p.attention.divide = d["divide"]
        p.attention.has_mask = d["has_mask"]
        b, h, lq, lk, dh = d["batch"], d["heads"], d["lq"], d["lk"], d["dh"]
        # default strides: contiguous [b, h, lq, dh] / [b, h, dh, lk] / [b, h, lk, dh]
        defaults = {"mask_stride": (0, 0, 0, 0), "q_stride": (h * lq * dh, lq * dh, dh, 1),
                    "k_stride": (h * dh * lk, dh * lk, lk, 1),
                    "v_stride": (h * lk * dh, lk * dh, dh, 1),
                    "y_stride": (h * lq * dh, lq * dh, dh, 1)}
        for key, dflt in defaults.items():
            st = [int(x) for x in params.get(key, dflt)]
            if len(st) != 4:
                raise ValueError(f"attention: {key} must have 4 entries")
            for i in range(4):
                if key == "mask_stride":
                    p.attention.mask_stride[i] = st[i]
                elif key == "q_stride":
                    p.attention.q_stride[i] = st[i]
                elif key == "k_stride":
                    p.attention.k_stride[i] = st[i]
                elif key == "v_stride":
                    p.attention.v_stride[i] = st[i]
                else:
                    p.attention.y_stride[i] = st[i]
    else:
        raise ValueError(f"unknown kernel {kernel!r}")
    return 0


cdef i8_buf_ref _ref(object r) except *:
    cdef i8_buf_ref out
    try:
        kind, index, offset, nbytes = r
        out.kind = _REF_KINDS[kind]
    except (KeyError, TypeError, ValueError):
        raise ValueError(f"buffer ref must be (kind in {tuple(_REF_KINDS)}, index, offset, "
                         f"nbytes), got {r!r}") from None
    out.index = index
    out.offset = offset
    out.nbytes = nbytes
    return out


cdef object _status_error(int st, const char *msg):
    text = msg.decode("utf-8", "replace") if msg != NULL and msg[0] else ""
    text = text or i8_status_str(st).decode()
    if st == I8_ENOMEM:
        return MemoryError(text)
    if st == I8_ESTATE:
        return RuntimeError(text)
    return ValueError(text)


class PlanDataError(ValueError):
    """An op refused its input data at run time (a gather index out of range); `op` is its
    index in the plan."""

    def __init__(self, int op):
        super().__init__(f"op {op} refused its input: an index out of range")
        self.op = op


cdef int _fill_desc(str kernel, input_refs, output_refs, dict params, dict consts,
                    i8_op_desc *d, list keep, bint params_only=False) except -1:
    """One op descriptor from a call (kernel, buffer refs, params, consts); the converted
    consts are appended to `keep`, which must outlive every use of `d`. params_only: no
    consts (a descriptor only compared, never added)."""
    if kernel not in _RECORDS:
        raise ValueError(f"unknown kernel {kernel!r}")
    rec = _RECORDS[kernel]
    const_specs = rec.consts
    memset(d, 0, sizeof(i8_op_desc))
    d.kind = _KIND[kernel]
    _fill_params(kernel, params, &d.params)
    input_refs = list(input_refs)
    output_refs = list(output_refs)
    if not 1 <= len(input_refs) <= I8_PLAN_MAX_INPUTS or len(output_refs) != 1:
        raise ValueError(f"{kernel}: takes 1 to {I8_PLAN_MAX_INPUTS} inputs and 1 output, "
                         f"got {len(input_refs)} and {len(output_refs)}")
    d.n_inputs = len(input_refs)
    for i, r in enumerate(input_refs):
        d.inputs[i] = _ref(r)
    d.output = _ref(output_refs[0])
    if rec.optional_const is not None:
        flag, key = rec.optional_const
        v = params.get(flag, 0)
        if not (bool(v) if rec.optional_when == 1 else v == rec.optional_when):
            const_specs = tuple(c for c in const_specs if c[0] != key)
    if params_only:
        return 0
    first = 0
    if "packed" in consts:  # weights packed once per model (pack_weights), borrowed
        first = PACKED_WEIGHT_CONSTS.get(kernel, 0)
        blob = consts["packed"]
        if not first:
            raise ValueError(f"{kernel}: has no packed weights")
        if not isinstance(blob, np.ndarray) or blob.dtype != np.uint8 or \
                not blob.flags.c_contiguous:
            raise ValueError(f"{kernel}: packed weights must be a C-contiguous uint8 array "
                             "from pack_weights")
        keep.append(blob)
        d.consts[0] = cnp.PyArray_DATA(blob)
        d.const_nbytes[0] = blob.nbytes
        d.packed_weights = 1
    for i, (key, dtype) in enumerate(const_specs):
        if i < first:
            continue
        if key not in consts:
            raise ValueError(f"{kernel}: missing const {key!r}")
        a = (np.ascontiguousarray(consts[key]) if dtype is None
             else _exact(kernel, key, consts[key], dtype))
        keep.append(a)
        d.consts[i] = cnp.PyArray_DATA(a)
        d.const_nbytes[i] = a.nbytes
    d.n_consts = len(const_specs)
    return 0


# the weight consts (w, bias[, mult]) one packed blob replaces
PACKED_WEIGHT_CONSTS = {"conv2d": 3, "fc": 3, "conv2d_f32": 2, "fc_f32": 2}


def pack_weights(str kernel, dict params, dict consts):
    """The packed weight blob of a conv2d / fc / conv2d_f32 / fc_f32 call (natural consts w,
    bias[, mult]): a 64-byte aligned uint8 array that add_call takes as consts {"packed": blob}
    (plus the fused table, if any) for any batch size of that layer, borrowing it (plan.h
    i8_plan_pack_weights)."""
    if kernel not in PACKED_WEIGHT_CONSTS:
        raise ValueError(f"{kernel}: has no packed weights")
    cdef i8_op_desc d
    keep = []
    n_in = 2 if params.get("post_add", 0) else 1
    _fill_desc(kernel, [_NO_REF] * n_in, [_NO_REF], params, consts, &d, keep)
    cdef int64_t n = i8_plan_packed_weights_size(&d)
    cdef char err[256]
    err[0] = 0
    blob = _aligned_bytes(max(n, 64))
    cdef cnp.ndarray b = blob
    st = i8_plan_pack_weights(&d, cnp.PyArray_DATA(b), n, err, sizeof(err))
    if st != I8_OK:
        raise _status_error(st, err)
    return blob[:n]


cdef class _NativePlan:
    """A native plan under construction, then immutable and runnable from any thread.

    `inputs` / `outputs`: one (nbytes, dtype) per model input / output; `run` checks the caller's
    arrays against them. Buffer refs are tuples (kind, index, offset, nbytes) with kind one of
    "arena" (index ignored, offset in the arena), "input", "output", "const" (index from
    add_const)."""

    cdef i8_plan *plan
    cdef readonly tuple input_specs, output_specs
    cdef bint finalized
    cdef list _borrowed  # arrays whose memory add_const_ref lent the plan

    def __cinit__(self, inputs=(), outputs=()):
        self.input_specs = tuple((int(n), np.dtype(t)) for n, t in inputs)
        self.output_specs = tuple((int(n), np.dtype(t)) for n, t in outputs)
        cdef int32_t ni = len(self.input_specs), no = len(self.output_specs)
        cdef int64_t *sizes = <int64_t *>malloc(sizeof(int64_t) * (ni + no + 1))
        if sizes == NULL:
            raise MemoryError()
        for i in range(ni):
            sizes[i] = self.input_specs[i][0]
        for i in range(no):
            sizes[ni + i] = self.output_specs[i][0]
        st = i8_plan_create(ni, sizes, no, sizes + ni, &self.plan)
        free(sizes)
        if st != I8_OK:
            raise _status_error(st, NULL)

    def __dealloc__(self):
        i8_plan_destroy(self.plan)

    def add_const_ref(self, cnp.ndarray data) -> int:
        """Lends the plan a C-contiguous, 64-byte aligned, read-only array without copying it
        (weights packed once and shared by the plans of every input shape): the plan keeps a
        reference to it. Returns its index for ("const", k, ...)."""
        if not data.flags.c_contiguous or data.ctypes.data % 64:
            raise ValueError("add_const_ref: the array must be C-contiguous and 64-byte aligned")
        cdef int32_t index = 0
        st = i8_plan_add_const_ref(self.plan, cnp.PyArray_DATA(data), data.nbytes, &index)
        if st != I8_OK:
            raise _status_error(st, i8_plan_error(self.plan))
        if self._borrowed is None:
            self._borrowed = []
        self._borrowed.append(data)
        return index

    def arena_size(self, int threads=1) -> int:
        """Bytes of arena a run on `threads` threads needs (run(arena=...))."""
        return i8_plan_arena_size(self.plan, threads)

    def add_const(self, data) -> int:
        """Copies a constant buffer into the plan; returns its index for ("const", k, ...)."""
        a = np.ascontiguousarray(data)
        cdef int32_t index = 0
        st = i8_plan_add_const(self.plan, cnp.PyArray_DATA(a), a.nbytes, &index)
        if st != I8_OK:
            raise _status_error(st, i8_plan_error(self.plan))
        return index

    def add_call(self, str kernel, input_refs, output_refs, dict params, dict consts):
        """Appends one kernel call. Consts are copied (or packed), so they may be freed after;
        a {"packed": blob} of pack_weights is borrowed (the plan keeps a reference)."""
        cdef i8_op_desc d
        keep = []  # the converted consts, alive until add_op has copied them
        _fill_desc(kernel, input_refs, output_refs, params, consts, &d, keep)
        st = i8_plan_add_op(self.plan, &d)
        if st != I8_OK:
            raise _status_error(st, i8_plan_error(self.plan))
        if d.packed_weights:  # borrowed, not copied: alive as long as this plan
            if self._borrowed is None:
                self._borrowed = []
            self._borrowed.append(consts["packed"])

    def finalize(self, int64_t arena_size):
        st = i8_plan_finalize(self.plan, arena_size)
        if st != I8_OK:
            raise _status_error(st, i8_plan_error(self.plan))
        self.finalized = True

    @property
    def num_ops(self) -> int:
        return i8_plan_num_ops(self.plan)

    @property
    def arena_total(self) -> int:
        """Bytes each run allocates: buffers (64-aligned) plus the largest kernel scratch."""
        return i8_plan_arena_total(self.plan)

    @property
    def scratch_bytes(self) -> int:
        return i8_plan_scratch_nbytes(self.plan)

    cdef void **_pointers(self, list arrays, tuple specs, bint writable, str what) except NULL:
        if len(arrays) != len(specs):
            raise ValueError(f"expected {len(specs)} {what} arrays, got {len(arrays)}")
        cdef void **ptrs = <void **>malloc(sizeof(void *) * (len(specs) + 1))
        if ptrs == NULL:
            raise MemoryError()
        for i, (a, (nbytes, dtype)) in enumerate(zip(arrays, specs)):
            if (not isinstance(a, np.ndarray) or a.dtype != dtype or a.nbytes != nbytes
                    or not a.flags.c_contiguous or (writable and not a.flags.writeable)):
                free(ptrs)
                raise ValueError(
                    f"{what} {i}: expected a C-contiguous{' writeable' if writable else ''} "
                    f"{dtype} array of {nbytes} bytes, got "
                    f"{type(a).__name__ if not isinstance(a, np.ndarray) else a.dtype}"
                    f"{'' if not isinstance(a, np.ndarray) else f' array of {a.nbytes} bytes'}")
            ptrs[i] = cnp.PyArray_DATA(a)
        return ptrs

    def op_packed_address(self, int32_t op) -> int:
        """Address of the packed weights op `op` runs with (0: none): plans sharing one blob
        give the same address."""
        if not 0 <= op < self.num_ops:
            raise IndexError(f"op {op} out of range [0, {self.num_ops})")
        return <size_t>i8_plan_op_packed(self.plan, op)

    def op_tasks(self, int32_t op) -> int:
        """Tasks op `op` splits into for threads (1: never split)."""
        if not 0 <= op < self.num_ops:
            raise IndexError(f"op {op} out of range [0, {self.num_ops})")
        return i8_plan_op_tasks(self.plan, op)

    def run(self, list inputs, list outputs, bint profile=False, int threads=1, arena=None):
        """Runs the plan once with the GIL released, on up to `threads` threads (the caller and
        the process-wide pool; 1 = no pool); with profile, returns per-op ns. `arena`: a
        writeable, C-contiguous, 64-byte aligned uint8 array of at least arena_size(1) bytes
        to run in (a run then allocates nothing; it uses no more threads than the arena has
        scratch slots for), or None to allocate one for this run. The caller must not hand one
        arena to two runs at the same time."""
        if threads < 1:
            raise ValueError(f"threads must be >= 1, got {threads}")
        if not self.finalized:
            raise RuntimeError("run before finalize")
        cdef void *arena_ptr = NULL
        cdef int64_t arena_n = 0
        if arena is not None:
            if (not isinstance(arena, np.ndarray) or arena.dtype != np.uint8
                    or not arena.flags.c_contiguous or not arena.flags.writeable
                    or arena.ctypes.data % 64 or arena.nbytes < i8_plan_arena_size(self.plan, 1)):
                raise ValueError("arena must be a writeable, C-contiguous, 64-byte aligned uint8 "
                                 f"array of at least {i8_plan_arena_size(self.plan, 1)} bytes")
            arena_ptr = cnp.PyArray_DATA(arena)
            arena_n = arena.nbytes
        # private copies: the arrays stay referenced even if the caller's lists change while
        # C runs without the GIL
        inputs = list(inputs)
        outputs = list(outputs)
        cdef void **ins = self._pointers(inputs, self.input_specs, False, "input")
        cdef void **outs
        try:
            outs = self._pointers(outputs, self.output_specs, True, "output")
        except BaseException:
            free(ins)
            raise
        cdef cnp.ndarray ns
        cdef int64_t *ns_ptr = NULL
        if profile:
            ns = np.zeros(max(self.num_ops, 1), dtype=np.int64)
            ns_ptr = <int64_t *>cnp.PyArray_DATA(ns)
        cdef int st
        cdef int32_t bad_op = -1
        cdef int32_t nthreads = min(threads, I8_POOL_MAX_THREADS)
        with nogil:
            st = i8_plan_run_arena(self.plan, <const void *const *>ins, outs, ns_ptr, nthreads,
                                   arena_ptr, arena_n, &bad_op)
        free(ins)
        free(outs)
        if st == I8_EDATA:
            raise PlanDataError(bad_op)
        if st != I8_OK:
            raise _status_error(st, NULL)
        return ns[:self.num_ops] if profile else None

    def run_profiled(self, list inputs, list outputs, int threads=1):
        """As run; returns an int64 array of per-op wall times in ns (CLOCK_MONOTONIC)."""
        return self.run(inputs, outputs, True, threads)


def rnn_pack(dict params, cnp.ndarray qw, cnp.ndarray sw, cnp.ndarray qr, cnp.ndarray sr):
    """The packed weight blob of an `rnn` record (i8_rnn_pack): qw [D, G*H, I] int8, sw
    [D, G*H] float32, qr [D, G*H, H] int8, sr [D, G*H] float32 (ONNX gate order)."""
    cdef i8_rnn_params p = _pick("rnn", params, _RNN_FIELDS)
    cdef const char *why = i8_rnn_check(&p)
    if why != NULL:
        raise ValueError(f"rnn_pack: {why.decode()}")
    g = 4 if p.cell == 0 else 3
    want = {"qw": ((p.dirs, g * p.hidden, p.input), np.int8),
            "sw": ((p.dirs, g * p.hidden), np.float32),
            "qr": ((p.dirs, g * p.hidden, p.hidden), np.int8),
            "sr": ((p.dirs, g * p.hidden), np.float32)}
    for name, arr in (("qw", qw), ("sw", sw), ("qr", qr), ("sr", sr)):
        shape, dt = want[name]
        a = <object>arr
        if a.dtype != dt or tuple(a.shape) != shape or not a.flags.c_contiguous:
            raise ValueError(f"rnn_pack: {name} must be C-contiguous {np.dtype(dt).name} "
                             f"{shape}, got {a.dtype} {tuple(a.shape)}")
    packed = _aligned_bytes(i8_rnn_packed_size(&p))
    cdef cnp.ndarray pk = packed
    i8_rnn_pack(&p, <const int8_t *>qw.data, <const float *>sw.data, <const int8_t *>qr.data,
               <const float *>sr.data, pk.data)
    return packed


def rnn_matvec(cnp.ndarray qw, cnp.ndarray sw, object bias, cnp.ndarray a):
    """Test hook of the recurrent step's matrix-vector kernel (kernels/rnn/matvec.h) on the
    current ISA path: qw [n, k] int8, sw [n] float32, bias [n] float32 or None, a [m, k]
    float32 -> y [m, n] (each row quantized on its own)."""
    if qw.dtype != np.int8 or qw.ndim != 2 or not qw.flags.c_contiguous:
        raise ValueError("rnn_matvec: qw must be C-contiguous int8 [n, k]")
    cdef int32_t n = qw.shape[0], k = qw.shape[1]
    if n < 1 or k < 1 or k > 65536:
        raise ValueError("rnn_matvec: need n >= 1 and 1 <= k <= 65536")
    cdef cnp.ndarray s = np.ascontiguousarray(sw, np.float32).reshape(n)
    cdef cnp.ndarray x = np.ascontiguousarray(a, np.float32)
    if x.ndim != 2 or x.shape[1] != k:
        raise ValueError(f"rnn_matvec: a must be [m, {k}]")
    cdef cnp.ndarray b = None if bias is None else np.ascontiguousarray(bias, np.float32).reshape(n)
    packed = _aligned_bytes(i8_rnn_mv_packed_size(n, k))
    cdef cnp.ndarray pk = packed
    i8_rnn_mv_pack(n, k, <const int8_t *>qw.data, <const float *>s.data, pk.data)
    cdef cnp.ndarray scratch = _aligned_bytes(i8_rnn_mv_scratch_size(n, k))
    cdef cnp.ndarray y = np.empty((x.shape[0], n), np.float32)
    cdef Py_ssize_t i
    cdef const float *bp = NULL
    if b is not None:
        bp = <const float *>b.data
    for i in range(x.shape[0]):
        i8_rnn_mv_run(pk.data, bp,
                 <const float *>x.data + i * k, <float *>y.data + i * n, scratch.data)
    return y


def rnn_gate(int which, cnp.ndarray x):
    """Test hook of the gate functions (kernels/rnn/gates.h) on the current ISA path:
    which 0 sigma, 1 tanh; x float32 (any shape) -> float32 of its shape."""
    if which not in (0, 1):
        raise ValueError("rnn_gate: which must be 0 (sigma) or 1 (tanh)")
    cdef cnp.ndarray a = np.ascontiguousarray(x, np.float32)
    cdef cnp.ndarray y = np.empty_like(a)
    i8_rnn_gate_run(which, a.size, <const float *>a.data, <float *>y.data)
    return y


# ---- shape templates (csrc/include/int8rt/reshape.h) ----------------------------------------
# A plan whose sizes are shape expressions, re-sized in C for each new input shape. Built once
# per session and shape pattern by int8rt/dynamic/reshape.py; part of this module because it
# builds _NativePlan objects and op descriptors (_fill_desc) directly.
from libc.string cimport memcmp

cdef extern from "int8rt/reshape.h" nogil:
    enum:
        I8_SHAPE_MAX_VARS
        I8_SHAPE_MAX_DEG
    ctypedef struct i8_shape_term:
        int64_t coef
        int32_t mono
    ctypedef struct i8_shape_expr:
        int32_t first, count
    ctypedef struct i8_shape_buf:
        int32_t kind, index, nbytes, first, last, elem_size, period
        int64_t offset, value, step
    ctypedef struct i8_shape_patch:
        int32_t op, width
        int64_t offset
        int32_t expr
    ctypedef struct i8_shape_gen:
        int32_t op, slot, kind, in_expr, out_expr, ctm, nearest, scale_from_sizes
        float scale
    ctypedef struct i8_shape_fpatch:
        int32_t op, expr
        int64_t offset
        double num, den
    ctypedef struct i8_shape_template:
        int32_t n_vars
        int32_t n_terms
        const i8_shape_term *terms
        int32_t n_exprs
        const i8_shape_expr *exprs
        int32_t n_bufs
        const i8_shape_buf *bufs
        int32_t n_inputs, n_outputs
        int32_t n_consts
        const void *const *const_data
        const int64_t *const_nbytes
        int32_t n_ops
        const i8_op_desc *ops
        const int32_t *op_bufs
        int32_t n_patches
        const i8_shape_patch *patches
        int32_t n_gens
        const i8_shape_gen *gens
        int32_t n_fpatches
        const i8_shape_fpatch *fpatches
    int i8_resize_index_map(int32_t kind, int64_t in_size, int64_t out_size, int32_t ctm,
                            int32_t nearest, int32_t scale_from_sizes, float scale,
                            int32_t *dst)
    int i8_shape_eval(const i8_shape_template *t, const int64_t *vars, int64_t *values,
                      char *err, size_t err_len)
    int i8_plan_reshape(const i8_shape_template *t, const int64_t *vars, int64_t *values,
                        int64_t *arena_nbytes, i8_plan **out, char *err, size_t err_len)

SHAPE_MAX_VARS = I8_SHAPE_MAX_VARS
SHAPE_MAX_DEG = I8_SHAPE_MAX_DEG
PLAN_MAX_INPUTS = I8_PLAN_MAX_INPUTS
_TBUF_KINDS = {"arena": 0, "input": 1, "output": 2, "const": 3, "fill": 4, "ramp": 5, "tile": 6}
_NO_REF = ("arena", 0, 0, 0)
# generated record consts (reshape.h i8_shape_gen): resize index maps along one axis
_TGEN_KINDS = {"nearest": 0, "linear_i0": 1, "linear_i1": 2, "linear_w1": 3}
_CTM = {"half_pixel": 0, "asymmetric": 1, "align_corners": 2, "pytorch_half_pixel": 3,
        "tf_half_pixel_for_nn": 4, "half_pixel_symmetric": 5}
_NEAREST = {"round_prefer_floor": 0, "round_prefer_ceil": 1, "floor": 2, "ceil": 3}


def resize_index_map(str kind, int64_t in_size, int64_t out_size, str ctm,
                     str nearest="round_prefer_floor", scale=None):
    """One axis of a resize index map as a reshape generates it (i8_resize_index_map):
    kind "nearest" (kernel_tables.resize_nearest_map) or "linear_i0" / "linear_i1" /
    "linear_w1" (resize_linear_map's three arrays); scale None: float32(out / in)."""
    if kind not in _TGEN_KINDS or ctm not in _CTM or nearest not in _NEAREST:
        raise ValueError(f"resize_index_map: unknown kind / mode {kind!r} {ctm!r} {nearest!r}")
    if out_size < 1:
        raise ValueError(f"resize_index_map: out_size {out_size} < 1")
    cdef cnp.ndarray out = np.empty(out_size, np.int32)
    st = i8_resize_index_map(_TGEN_KINDS[kind], in_size, out_size, _CTM[ctm], _NEAREST[nearest],
                             1 if scale is None else 0, 0.0 if scale is None else scale,
                             <int32_t *>cnp.PyArray_DATA(out))
    if st != I8_OK:
        raise ValueError(f"resize_index_map: sizes {in_size} -> {out_size}, scale {scale!r} "
                         "refused")
    return out


cdef tuple _float_slot(str kernel, dict params, str key, int n_inputs):
    """(byte offset) of the float32 descriptor field that param `key` fills: the 4 aligned
    bytes that hold float32(1.5) in the descriptor made with 1.5 and float32(-2.75) in the one
    made with -2.75, in three pairs of fills (struct padding is not initialized)."""
    cdef i8_op_desc d0, d1
    cdef const unsigned char *a = <const unsigned char *>&d0
    cdef const unsigned char *b = <const unsigned char *>&d1
    cdef size_t i, n = sizeof(i8_op_desc)
    pa, pb = np.float32(1.5).tobytes(), np.float32(-2.75).tobytes()
    hits = None
    for _ in range(3):
        _fill_desc(kernel, [_NO_REF] * n_inputs, [_NO_REF], dict(params, **{key: 1.5}), {},
                   &d0, [], True)
        _fill_desc(kernel, [_NO_REF] * n_inputs, [_NO_REF], dict(params, **{key: -2.75}), {},
                   &d1, [], True)
        now = {i for i in range(0, n - 3, 4)
               if bytes(a[i + j] for j in range(4)) == pa and
               bytes(b[i + j] for j in range(4)) == pb}
        hits = now if hits is None else hits & now
    if not hits or len(hits) != 1:
        raise ValueError(f"{kernel}: param {key!r} is not one float32 field")
    return (min(hits),)


def _probe(dict params, str key, int idx, int v):
    p = dict(params)
    if idx < 0:
        p[key] = v
    else:
        lst = list(p[key])
        lst[idx] = v
        p[key] = lst
    return p


cdef tuple _field_slot(str kernel, dict params, str key, int idx, int n_inputs):
    """(byte offset, width) of the descriptor field that param `key` (element `idx` of a list
    param, -1 for a scalar) fills: the bytes that are 0x00 in the descriptor made with the value
    0 and 0xFF in the one made with -1. Struct padding is not initialized (Cython fills a struct
    from a dict through a temporary), so a byte counts only if it shows that pattern in three
    pairs of fills. None when no field holds the param (the kernel does not read it)."""
    cdef i8_op_desc d0, d1
    cdef const unsigned char *a = <const unsigned char *>&d0
    cdef const unsigned char *b = <const unsigned char *>&d1
    cdef size_t i, n = sizeof(i8_op_desc)
    hits = None
    for _ in range(3):
        _fill_desc(kernel, [_NO_REF] * n_inputs, [_NO_REF], _probe(params, key, idx, 0), {},
                   &d0, [], True)
        _fill_desc(kernel, [_NO_REF] * n_inputs, [_NO_REF], _probe(params, key, idx, -1), {},
                   &d1, [], True)
        now = {i for i in range(n) if a[i] == 0 and b[i] == 0xFF}
        hits = now if hits is None else hits & now
    if not hits:
        return None
    lo = min(hits)
    run = 0
    while lo + run in hits:
        run += 1
    if any(h >= lo + run for h in hits):
        raise ValueError(f"{kernel}: param {key!r} fills more than one field")
    # an int32 field followed by padding that happens to read 0x00 / 0xFF is taken as 8 bytes
    # only when 8-aligned: the upper 4 bytes then land in padding, harmlessly
    if run >= 8 and lo % 8 == 0:
        return (lo, 8)
    if run >= 4 and lo % 4 == 0:
        return (lo, 4)
    raise ValueError(f"{kernel}: param {key!r} is not one int32 / int64 field")


cdef class _ShapeTemplate:
    """The C template and the arrays it points into (kept alive here; the plans made from it
    keep the template alive, since they borrow its constants)."""

    cdef i8_shape_template t
    cdef i8_op_desc *ops
    cdef const void **const_data
    cdef readonly object _arrays  # numpy arrays the C structs point into
    cdef readonly list _keep      # consts of the op descriptors
    cdef readonly list consts
    cdef readonly tuple input_dtypes, output_dtypes
    cdef readonly tuple input_exprs, output_exprs  # the exprs of the model I/O byte sizes

    def __cinit__(self):
        self.ops = NULL
        self.const_data = NULL

    def __dealloc__(self):
        free(self.ops)
        free(self.const_data)

    def __init__(self, int n_vars, terms, exprs, list bufs, list input_dtypes,
                 list output_dtypes, list consts, list calls, op_bufs, list patches,
                 list gens=None, list fpatches=None):
        self.input_exprs = tuple(b["nbytes"] for b in sorted(
            (b for b in bufs if b["kind"] == "input"), key=lambda b: b["index"]))
        self.output_exprs = tuple(b["nbytes"] for b in sorted(
            (b for b in bufs if b["kind"] == "output"), key=lambda b: b["index"]))
        """terms: (coef, monomial) rows; exprs: (first, count) rows; bufs: dicts of
        i8_shape_buf fields (kind by name); consts: 64-byte aligned C-contiguous arrays;
        calls: (kernel, params, consts, n_inputs) of the base records; op_bufs: n_calls x
        (I8_PLAN_MAX_INPUTS + 1) buffer ids; patches: (call, param key, element or -1, expr);
        gens: (call, const key, kind, in expr, out expr, ctm, nearest, scale or None) resize
        index maps generated per shape; fpatches: (call, float param key, num, den, expr)."""
        if not 0 <= n_vars <= I8_SHAPE_MAX_VARS:
            raise ValueError(f"{n_vars} shape variables (at most {I8_SHAPE_MAX_VARS})")
        cdef cnp.ndarray tm = np.zeros(max(len(terms), 1), dtype=[("coef", "<i8"), ("mono", "<i4"),
                                                                  ("pad", "<i4")])
        for k, (c, m) in enumerate(terms):
            tm[k] = (c, m, 0)
        if sizeof(i8_shape_term) != 16 or sizeof(i8_shape_expr) != 8:
            raise RuntimeError("unexpected i8_shape_term / i8_shape_expr layout")
        cdef cnp.ndarray ex = np.ascontiguousarray(np.asarray(exprs, np.int32).reshape(-1, 2))
        cdef cnp.ndarray bf = np.zeros(max(len(bufs), 1) * sizeof(i8_shape_buf), np.uint8)
        cdef i8_shape_buf *bp = <i8_shape_buf *>cnp.PyArray_DATA(bf)
        for k, b in enumerate(bufs):
            bp[k].kind = _TBUF_KINDS[b["kind"]]
            bp[k].index = b.get("index", 0)
            bp[k].nbytes = b["nbytes"]
            bp[k].first = b.get("first", 0)
            bp[k].last = b.get("last", 0)
            bp[k].elem_size = b.get("elem_size", 0)
            bp[k].period = b.get("period", 0)
            bp[k].offset = b.get("offset", 0)
            bp[k].value = b.get("value", 0)
            bp[k].step = b.get("step", 0)
        self.consts = list(consts)
        cdef cnp.ndarray cn = np.array([a.nbytes for a in consts] or [0], np.int64)
        self.const_data = <const void **>malloc(sizeof(void *) * (len(consts) + 1))
        if self.const_data == NULL:
            raise MemoryError()
        for k, a in enumerate(consts):
            if not a.flags.c_contiguous or a.ctypes.data % 64:
                raise ValueError("template consts must be C-contiguous and 64-byte aligned")
            self.const_data[k] = cnp.PyArray_DATA(a)
        self.ops = <i8_op_desc *>malloc(sizeof(i8_op_desc) * (len(calls) + 1))
        if self.ops == NULL:
            raise MemoryError()
        self._keep = []
        for k, (kernel, params, cconsts, n_in) in enumerate(calls):
            _fill_desc(kernel, [_NO_REF] * n_in, [_NO_REF], params, cconsts, &self.ops[k],
                       self._keep, False)
        cdef cnp.ndarray ob = np.ascontiguousarray(
            np.asarray(op_bufs, np.int32).reshape(-1, I8_PLAN_MAX_INPUTS + 1))
        if ob.shape[0] != len(calls):
            raise ValueError("op_bufs needs one row per call")
        cdef cnp.ndarray pt = np.zeros(max(len(patches), 1) * sizeof(i8_shape_patch), np.uint8)
        cdef i8_shape_patch *pp = <i8_shape_patch *>cnp.PyArray_DATA(pt)
        n_patch = 0
        for op, key, idx, expr in sorted(patches, key=lambda p: p[0]):
            kernel, params, _, n_in = calls[op]
            slot = _field_slot(kernel, params, key, idx, n_in)
            if slot is None:
                continue
            pp[n_patch].op = op
            pp[n_patch].offset = slot[0]
            pp[n_patch].width = slot[1]
            pp[n_patch].expr = expr
            n_patch += 1
        gens, fpatches = gens or [], fpatches or []
        cdef cnp.ndarray gt = np.zeros(max(len(gens), 1) * sizeof(i8_shape_gen), np.uint8)
        cdef i8_shape_gen *gp = <i8_shape_gen *>cnp.PyArray_DATA(gt)
        for k, (op, key, kind, e_in, e_out, ctm, nearest, scale) in enumerate(
                sorted(gens, key=lambda g: g[0])):
            kernel, params, _, n_in = calls[op]
            names = [c for c, _ in _RECORDS[kernel].consts]
            if key not in names:
                raise ValueError(f"{kernel}: no const {key!r} to generate")
            gp[k].op, gp[k].slot = op, names.index(key)
            gp[k].kind = _TGEN_KINDS[kind]
            gp[k].in_expr, gp[k].out_expr = e_in, e_out
            gp[k].ctm, gp[k].nearest = _CTM[ctm], _NEAREST[nearest]
            gp[k].scale_from_sizes = 1 if scale is None else 0
            gp[k].scale = 0.0 if scale is None else scale
        cdef cnp.ndarray ft = np.zeros(max(len(fpatches), 1) * sizeof(i8_shape_fpatch), np.uint8)
        cdef i8_shape_fpatch *fp = <i8_shape_fpatch *>cnp.PyArray_DATA(ft)
        for k, (op, key, num, den, expr) in enumerate(sorted(fpatches, key=lambda f: f[0])):
            kernel, params, _, n_in = calls[op]
            fp[k].op, fp[k].expr = op, expr
            fp[k].offset = _float_slot(kernel, params, key, n_in)[0]
            fp[k].num, fp[k].den = num, den
        self._arrays = (tm, ex, bf, cn, ob, pt, gt, ft)
        self.t.n_gens = len(gens)
        self.t.gens = gp
        self.t.n_fpatches = len(fpatches)
        self.t.fpatches = fp
        self.t.n_vars = n_vars
        self.t.n_terms = len(terms)
        self.t.terms = <const i8_shape_term *>cnp.PyArray_DATA(tm)
        self.t.n_exprs = ex.shape[0]
        self.t.exprs = <const i8_shape_expr *>cnp.PyArray_DATA(ex)
        self.t.n_bufs = len(bufs)
        self.t.bufs = bp
        self.t.n_inputs = len(input_dtypes)
        self.t.n_outputs = len(output_dtypes)
        self.t.n_consts = len(consts)
        self.t.const_data = self.const_data
        self.t.const_nbytes = <const int64_t *>cnp.PyArray_DATA(cn)
        self.t.n_ops = len(calls)
        self.t.ops = self.ops
        self.t.op_bufs = <const int32_t *>cnp.PyArray_DATA(ob)
        self.t.n_patches = n_patch
        self.t.patches = pp
        self.input_dtypes = tuple(np.dtype(t) for t in input_dtypes)
        self.output_dtypes = tuple(np.dtype(t) for t in output_dtypes)

    @property
    def n_patches(self) -> int:
        return self.t.n_patches

    def _vars(self, vars):
        v = np.ascontiguousarray(np.asarray(vars, np.int64).reshape(-1))
        if v.shape[0] != self.t.n_vars:
            raise ValueError(f"expected {self.t.n_vars} shape variables, got {v.shape[0]}")
        return v

    def eval(self, vars):
        """Every expr's value at `vars` (int64 array)."""
        cdef cnp.ndarray v = self._vars(vars)
        cdef cnp.ndarray out = np.zeros(max(self.t.n_exprs, 1), np.int64)
        cdef char err[256]
        err[0] = 0
        st = i8_shape_eval(&self.t, <const int64_t *>cnp.PyArray_DATA(v),
                           <int64_t *>cnp.PyArray_DATA(out), err, sizeof(err))
        if st != I8_OK:
            raise _status_error(st, err)
        return out[:self.t.n_exprs]

    def reshape(self, vars):
        """(a finalized _NativePlan for `vars`, every expr's value, the arena's buffer bytes):
        one C call, the GIL released."""
        cdef cnp.ndarray v = self._vars(vars)
        cdef cnp.ndarray values = np.zeros(max(self.t.n_exprs, 1), np.int64)
        cdef char err[256]
        err[0] = 0
        cdef i8_plan *plan = NULL
        cdef int64_t arena = 0
        cdef int st
        cdef const int64_t *vp = <const int64_t *>cnp.PyArray_DATA(v)
        cdef int64_t *valp = <int64_t *>cnp.PyArray_DATA(values)
        with nogil:
            st = i8_plan_reshape(&self.t, vp, valp, &arena, &plan, err, sizeof(err))
        if st != I8_OK:
            raise _status_error(st, err)
        cdef _NativePlan p = _NativePlan.__new__(_NativePlan)
        i8_plan_destroy(p.plan)
        p.plan = plan
        sizes = [int(values[e]) for e in self.input_exprs]
        p.input_specs = tuple(zip(sizes, self.input_dtypes))
        sizes = [int(values[e]) for e in self.output_exprs]
        p.output_specs = tuple(zip(sizes, self.output_dtypes))
        p.finalized = True
        p._borrowed = [self]
        return p, values[:self.t.n_exprs], arena
