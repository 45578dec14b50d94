# Shape templates (csrc/include/int8rt/reshape.h): a plan whose sizes are shape expressions,
# re-sized in C for each new input shape. Built once per session and shape pattern by
# int8rt/dynamic/reshape.py. Included by _native.pyx after _plan.pxi (op descriptors).
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
    int i8_shape_eval(const i8_shape_template *t, const int64_t *vars, int64_t *values,
                      char *err, size_t err_len)
    int i8_plan_reshape(const i8_shape_template *t, const int64_t *vars, int64_t *values,
                        int64_t *arena_nbytes, i8_plan **out, char *err, size_t err_len)

SHAPE_MAX_VARS = I8_SHAPE_MAX_VARS
SHAPE_MAX_DEG = I8_SHAPE_MAX_DEG
_TBUF_KINDS = {"arena": 0, "input": 1, "output": 2, "const": 3, "fill": 4, "ramp": 5, "tile": 6}
_NO_REF = ("arena", 0, 0, 0)


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
                 list output_dtypes, list consts, list calls, op_bufs, list patches):
        self.input_exprs = tuple(b["nbytes"] for b in sorted(
            (b for b in bufs if b["kind"] == "input"), key=lambda b: b["index"]))
        self.output_exprs = tuple(b["nbytes"] for b in sorted(
            (b for b in bufs if b["kind"] == "output"), key=lambda b: b["index"]))
        """terms: (coef, monomial) rows; exprs: (first, count) rows; bufs: dicts of
        i8_shape_buf fields (kind by name); consts: 64-byte aligned C-contiguous arrays;
        calls: (kernel, params, consts, n_inputs) of the base records; op_bufs: n_calls x 4
        buffer ids; patches: (call, param key, element or -1, expr)."""
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
        cdef cnp.ndarray ob = np.ascontiguousarray(np.asarray(op_bufs, np.int32).reshape(-1, 4))
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
        self._arrays = (tm, ex, bf, cn, ob, pt)
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
