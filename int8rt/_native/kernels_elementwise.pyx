# cython: language_level=3
# Bindings for the non-convolution kernels (tests, micro-benchmarks). Same names and
# signatures as the numpy reference kernels in int8rt/reference/{elementwise, pooling, resize,
# softmax, convert, movement}.py, so a test can call both with one set of arguments.
# Every argument is checked here (TypeError / ValueError, never a crash): the C kernels trust
# their callers completely. The kernels run without the GIL.

import numpy as np

from libc.stdint cimport int8_t, int32_t, int64_t

from int8rt._native.c_kernels cimport *


_EL_I32 = 2**31 - 1


def _el_array(a, str name, dtype=None, ndim=None):
    if not isinstance(a, np.ndarray):
        raise TypeError(f"{name}: expected a numpy array, got {type(a).__name__}")
    if dtype is not None and a.dtype != dtype:
        raise TypeError(f"{name}: expected dtype {np.dtype(dtype)}, got {a.dtype}")
    if ndim is not None and a.ndim != ndim:
        raise ValueError(f"{name}: expected {ndim} dimensions, got shape {a.shape}")
    if not a.flags.c_contiguous:
        raise ValueError(f"{name}: must be C-contiguous")
    return a


def _el_int(v, str name, lo=-(2**63), hi=2**63 - 1):
    if isinstance(v, bool) or not isinstance(v, (int, np.integer)):
        raise TypeError(f"{name}: expected an integer, got {type(v).__name__}")
    if not lo <= v <= hi:
        raise ValueError(f"{name}={v} outside [{lo}, {hi}]")
    return int(v)


def _el_ints(v, str name, n, lo=-(2**63), hi=2**63 - 1):
    vals = list(v)
    if len(vals) < n:
        raise ValueError(f"{name}: needs {n} entries, got {len(vals)}")
    return [_el_int(x, f"{name}[{i}]", lo, hi) for i, x in enumerate(vals[:n])]


def _el_zp(v, str name):
    return _el_int(v, name, -128, 127)


def _el_clamp(qmin, qmax):
    qmin, qmax = _el_zp(qmin, "qmin"), _el_zp(qmax, "qmax")
    if qmin > qmax:
        raise ValueError(f"qmin={qmin} > qmax={qmax}")
    return qmin, qmax


def _el_float(v, str name, positive=False):
    f = float(v)
    if f != f or f in (float("inf"), float("-inf")):
        raise ValueError(f"{name}={v} must be finite")
    if positive and not np.float32(f) > 0:
        raise ValueError(f"{name}={v} must be positive")
    return f


def _el_check(name, given, actual):
    if given is not None and _el_int(given, name) != actual:
        raise ValueError(f"{name}={given} does not match the array ({actual})")


cdef const void *_el_ro(a) except? NULL:
    # a is C-contiguous: the byte view shares its memory, which `a` keeps alive
    cdef const unsigned char[::1] v = a.reshape(-1).view(np.uint8)
    if v.shape[0] == 0:
        return NULL
    return &v[0]


cdef void *_el_rw(a) except? NULL:
    cdef unsigned char[::1] v = a.reshape(-1).view(np.uint8)
    if v.shape[0] == 0:
        return NULL
    return &v[0]


# ---- binary elementwise ------------------------------------------------------------------------

cdef _el_binary(a, b, ndim, shape, a_stride, b_stride, a_zp, b_zp, y_zp, a_mult, b_mult, mult,
                qmin, qmax, bint is_add):
    _el_array(a, "a", np.int8)
    _el_array(b, "b", np.int8)
    cdef i8_binary_params p
    cdef int d
    p.ndim = _el_int(ndim, "ndim", 0, I8_MAX_DIMS)
    dims = _el_ints(shape, "shape", p.ndim, 0, 2**62)
    sa = _el_ints(a_stride, "a_stride", p.ndim, 0, 2**62)
    sb = _el_ints(b_stride, "b_stride", p.ndim, 0, 2**62)
    for d in range(I8_MAX_DIMS):
        p.shape[d] = dims[d] if d < p.ndim else 1
        p.a_stride[d] = sa[d] if d < p.ndim else 0
        p.b_stride[d] = sb[d] if d < p.ndim else 0
    total = int(np.prod(dims, dtype=object)) if dims else 1
    if total:  # the last element each operand is read at must lie inside its buffer
        if sum((n - 1) * s for n, s in zip(dims, sa)) >= a.size:
            raise ValueError(f"a: strides {sa} over {dims} read past its {a.size} elements")
        if sum((n - 1) * s for n, s in zip(dims, sb)) >= b.size:
            raise ValueError(f"b: strides {sb} over {dims} read past its {b.size} elements")
    p.a_zp, p.b_zp, p.y_zp = _el_zp(a_zp, "a_zp"), _el_zp(b_zp, "b_zp"), _el_zp(y_zp, "y_zp")
    # |a_mult|, |b_mult| <= 2^22 is what keeps the int32 add accumulator from overflowing
    p.a_mult = _el_int(a_mult, "a_mult", -(2**22), 2**22) if is_add else 0
    p.b_mult = _el_int(b_mult, "b_mult", -(2**22), 2**22) if is_add else 0
    p.mult = _el_float(mult, "mult")
    p.qmin, p.qmax = _el_clamp(qmin, qmax)
    y = np.empty(tuple(dims), dtype=np.int8)
    cdef const int8_t *ap = <const int8_t *>_el_ro(a)
    cdef const int8_t *bp = <const int8_t *>_el_ro(b)
    cdef int8_t *yp = <int8_t *>_el_rw(y)
    if total:
        with nogil:
            if is_add:
                i8_add_run(&p, ap, bp, yp)
            else:
                i8_mul_run(&p, ap, bp, yp)
    return y


def add(a, b, *, ndim, shape, a_stride, b_stride, a_zp, b_zp, y_zp, a_mult, b_mult, mult,
        qmin=-128, qmax=127):
    """Native i8_add_run over flat int8 a, b with collapsed strides; y has shape[:ndim]."""
    return _el_binary(a, b, ndim, shape, a_stride, b_stride, a_zp, b_zp, y_zp, a_mult, b_mult,
                      mult, qmin, qmax, True)


def mul(a, b, *, ndim, shape, a_stride, b_stride, a_zp, b_zp, y_zp, mult, qmin=-128, qmax=127,
        a_mult=0, b_mult=0):
    """Native i8_mul_run; a_mult / b_mult are accepted and ignored, as in the reference."""
    return _el_binary(a, b, ndim, shape, a_stride, b_stride, a_zp, b_zp, y_zp, 0, 0, mult,
                      qmin, qmax, False)


def requant_copy(x, y, *, rows, cols, x_stride, y_stride, x_offset, y_offset, x_zp, y_zp,
                 mult):
    """Native i8_requant_copy_run: writes rows x cols elements into y (flat, in place)."""
    _el_array(x, "x", np.int8)
    _el_array(y, "y", np.int8)
    if not y.flags.writeable:
        raise ValueError("y: must be writeable")
    cdef i8_requant_copy_params p
    p.rows, p.cols = _el_int(rows, "rows", 0, 2**62), _el_int(cols, "cols", 0, 2**62)
    p.x_stride = _el_int(x_stride, "x_stride", 0, 2**62)
    p.y_stride = _el_int(y_stride, "y_stride", 0, 2**62)
    cdef int64_t xo = _el_int(x_offset, "x_offset", 0, 2**62)
    cdef int64_t yo = _el_int(y_offset, "y_offset", 0, 2**62)
    p.x_zp, p.y_zp = _el_zp(x_zp, "x_zp"), _el_zp(y_zp, "y_zp")
    p.mult = _el_float(mult, "mult")
    if p.rows == 0 or p.cols == 0:
        return y
    # Python ints: (rows - 1) * stride can exceed int64 for values this binding accepts
    rows_, cols_ = int(p.rows), int(p.cols)
    if int(xo) + (rows_ - 1) * int(p.x_stride) + cols_ > x.size:
        raise ValueError("requant_copy: the source range exceeds x")
    if int(yo) + (rows_ - 1) * int(p.y_stride) + cols_ > y.size:
        raise ValueError("requant_copy: the destination range exceeds y")
    cdef const int8_t *xp = <const int8_t *>_el_ro(x) + xo
    cdef int8_t *yp = <int8_t *>_el_rw(y) + yo
    with nogil:
        i8_requant_copy_run(&p, xp, yp)
    return y


# ---- pooling ---------------------------------------------------------------------------------

cdef _el_pool_params(i8_pool_params *p, x, n, h, w, c, oh, ow, kh, kw, stride_h, stride_w,
                     dil_h, dil_w, pad_t, pad_l, count_include_pad, x_zp, y_zp, qmin, qmax):
    _el_array(x, "x", np.int8, 4)
    p.n, p.h, p.w, p.c = [_el_int(v, "x.shape", 0, _EL_I32) for v in x.shape]
    for name, given, actual in zip("nhwc", (n, h, w, c), x.shape):
        _el_check(name, given, actual)
    p.oh, p.ow = _el_int(oh, "oh", 0, _EL_I32), _el_int(ow, "ow", 0, _EL_I32)
    p.kh, p.kw = _el_int(kh, "kh", 1, _EL_I32), _el_int(kw, "kw", 1, _EL_I32)
    p.stride_h = _el_int(stride_h, "stride_h", 1, _EL_I32)
    p.stride_w = _el_int(stride_w, "stride_w", 1, _EL_I32)
    p.dil_h, p.dil_w = _el_int(dil_h, "dil_h", 1, _EL_I32), _el_int(dil_w, "dil_w", 1, _EL_I32)
    p.pad_t, p.pad_l = _el_int(pad_t, "pad_t", 0, _EL_I32), _el_int(pad_l, "pad_l", 0, _EL_I32)
    p.count_include_pad = 1 if count_include_pad else 0
    p.x_zp, p.y_zp = _el_zp(x_zp, "x_zp"), _el_zp(y_zp, "y_zp")
    p.qmin, p.qmax = _el_clamp(qmin, qmax)
    # window coordinates are int32 in C and |acc| <= 255 * kh * kw must fit int32. The bounds
    # are computed in int64: in C `long` arithmetic they wrapped on 32-bit ARM (long = 32 bits)
    # and a stride of 2^31 - 1 slipped through.
    cdef int64_t reach_h = <int64_t>max(p.oh - 1, 0) * p.stride_h + <int64_t>(p.kh - 1) * p.dil_h
    cdef int64_t reach_w = <int64_t>max(p.ow - 1, 0) * p.stride_w + <int64_t>(p.kw - 1) * p.dil_w
    if reach_h > _EL_I32 or reach_w > _EL_I32 or <int64_t>p.kh * p.kw * 255 > _EL_I32:
        raise ValueError("pool: window geometry exceeds int32")
    return np.empty((p.n, p.oh, p.ow, p.c), dtype=np.int8)


def maxpool(x, *, oh, ow, kh, kw, stride_h=1, stride_w=1, dil_h=1, dil_w=1, pad_t=0, pad_l=0,
            qmin=-128, qmax=127, n=None, h=None, w=None, c=None, count_include_pad=0, x_zp=0,
            y_zp=0):
    """Native i8_maxpool_run: x [n, h, w, c] int8 -> [n, oh, ow, c]."""
    cdef i8_pool_params p
    y = _el_pool_params(&p, x, n, h, w, c, oh, ow, kh, kw, stride_h, stride_w, dil_h, dil_w,
                        pad_t, pad_l, count_include_pad, x_zp, y_zp, qmin, qmax)
    cdef const int8_t *xp = <const int8_t *>_el_ro(x)
    cdef int8_t *yp = <int8_t *>_el_rw(y)
    if y.size:
        with nogil:
            i8_maxpool_run(&p, xp, yp)
    return y


def avgpool(x, mult_by_count, *, oh, ow, kh, kw, stride_h=1, stride_w=1, dil_h=1, dil_w=1,
            pad_t=0, pad_l=0, count_include_pad=0, x_zp=0, y_zp=0, qmin=-128, qmax=127, n=None,
            h=None, w=None, c=None):
    """Native i8_avgpool_run: x [n, h, w, c] int8, mult_by_count [kh*kw+1] f32."""
    cdef i8_pool_params p
    y = _el_pool_params(&p, x, n, h, w, c, oh, ow, kh, kw, stride_h, stride_w, dil_h, dil_w,
                        pad_t, pad_l, count_include_pad, x_zp, y_zp, qmin, qmax)
    _el_array(mult_by_count, "mult_by_count", np.float32, 1)
    if mult_by_count.shape[0] != p.kh * p.kw + 1:
        raise ValueError(f"mult_by_count: needs kh * kw + 1 = {p.kh * p.kw + 1} entries")
    if not np.all(np.isfinite(mult_by_count)):
        raise ValueError("mult_by_count: must be finite")
    cdef const int8_t *xp = <const int8_t *>_el_ro(x)
    cdef const float *mp = <const float *>_el_ro(mult_by_count)
    cdef int8_t *yp = <int8_t *>_el_rw(y)
    if y.size:
        with nogil:
            i8_avgpool_run(&p, mp, xp, yp)
    return y


def global_avgpool(x, *, n, hw, c, x_zp, y_zp, mult, qmin=-128, qmax=127):
    """Native i8_global_avgpool_run: x [n, h, w, c] -> [n, 1, 1, c], or [n, hw, c] -> [n, c]."""
    _el_array(x, "x", np.int8)
    cdef int32_t n_ = _el_int(n, "n", 0, _EL_I32), hw_ = _el_int(hw, "hw", 0, _EL_I32)
    cdef int32_t c_ = _el_int(c, "c", 0, _EL_I32)
    if x.ndim < 2 or x.size != n_ * hw_ * c_ or x.shape[0] != n_ or x.shape[x.ndim - 1] != c_:
        raise ValueError(f"global_avgpool: x of shape {x.shape} is not n={n}, hw={hw}, c={c}")
    if hw_ * 255 > _EL_I32:
        raise ValueError("global_avgpool: hw too large for the int32 accumulator")
    cdef int32_t xz = _el_zp(x_zp, "x_zp"), yz = _el_zp(y_zp, "y_zp")
    cdef int32_t lo, hi
    lo, hi = _el_clamp(qmin, qmax)
    cdef float m = _el_float(mult, "mult")
    out_shape = (n, 1, 1, c) if x.ndim == 4 else (n, c)
    y = np.empty(out_shape, dtype=np.int8)
    cdef const int8_t *xp = <const int8_t *>_el_ro(x)
    cdef int8_t *yp = <int8_t *>_el_rw(y)
    if y.size:
        with nogil:
            i8_global_avgpool_run(n_, hw_, c_, xz, yz, m, lo, hi, xp, yp)
    return y


# ---- lookup table ----------------------------------------------------------------------------

def lut(x, table, *, n=None):
    """Native i8_lut_run: y[i] = table[x[i] + 128], y has x's shape."""
    _el_array(x, "x", np.int8)
    _el_array(table, "table", np.int8)
    if table.size != 256:
        raise ValueError("table: needs 256 entries")
    _el_check("n", n, x.size)
    y = np.empty(x.shape, dtype=np.int8)
    cdef int64_t count = x.size
    cdef const int8_t *xp = <const int8_t *>_el_ro(x)
    cdef const int8_t *tp = <const int8_t *>_el_ro(table)
    cdef int8_t *yp = <int8_t *>_el_rw(y)
    with nogil:
        i8_lut_run(count, tp, xp, yp)
    return y


# ---- resize ----------------------------------------------------------------------------------

def _el_index(idx, str name, int32_t size, count):
    _el_array(idx, name, np.int32, 1)
    _el_check(f"len({name})", count, idx.shape[0])
    if idx.size and (idx.min() < 0 or idx.max() >= size):
        raise ValueError(f"{name}: indexes outside [0, {size})")
    return idx


def _el_resize_x(x, n, h, w, c, dtype=None):
    _el_array(x, "x", dtype, 4)
    dims = [_el_int(v, "x.shape", 0, _EL_I32) for v in x.shape]
    for name, given, actual in zip("nhwc", (n, h, w, c), x.shape):
        _el_check(name, given, actual)
    return dims


def resize_nearest(x, iy, ix, *, oh=None, ow=None, n=None, h=None, w=None, c=None):
    """Native i8_resize_nearest_run: any element type, y[b, oy, ox] = x[b, iy[oy], ix[ox]]."""
    cdef int32_t nn, hh, ww, cc
    nn, hh, ww, cc = _el_resize_x(x, n, h, w, c)
    _el_index(iy, "iy", hh, oh)
    _el_index(ix, "ix", ww, ow)
    cdef int32_t ohh = iy.shape[0], oww = ix.shape[0]
    y = np.empty((nn, ohh, oww, cc), dtype=x.dtype)
    cdef size_t es = x.itemsize
    cdef const void *xp = _el_ro(x)
    cdef const int32_t *iyp = <const int32_t *>_el_ro(iy)
    cdef const int32_t *ixp = <const int32_t *>_el_ro(ix)
    cdef void *yp = _el_rw(y)
    if y.size:
        with nogil:
            i8_resize_nearest_run(nn, hh, ww, cc, ohh, oww, iyp, ixp, es, xp, yp)
    return y


def resize_bilinear(x, y0, y1, fy, x0, x1, fx, *, x_zp, y_zp, mult, oh=None, ow=None, n=None,
                    h=None, w=None, c=None):
    """Native i8_resize_bilinear_run with Q11 weights fy, fx in [0, 2048]."""
    cdef i8_resize_bilinear_params p
    p.n, p.h, p.w, p.c = _el_resize_x(x, n, h, w, c, np.int8)
    for name, idx, size, count in (("y0", y0, p.h, oh), ("y1", y1, p.h, oh),
                                   ("x0", x0, p.w, ow), ("x1", x1, p.w, ow)):
        _el_index(idx, name, size, count)
    _el_index(fy, "fy", 2049, y0.shape[0])
    _el_index(fx, "fx", 2049, x0.shape[0])
    if y1.shape[0] != y0.shape[0] or x1.shape[0] != x0.shape[0]:
        raise ValueError("resize: index maps of one axis must have equal lengths")
    p.oh, p.ow = y0.shape[0], x0.shape[0]
    p.x_zp, p.y_zp = _el_zp(x_zp, "x_zp"), _el_zp(y_zp, "y_zp")
    p.mult = _el_float(mult, "mult")
    y = np.empty((p.n, p.oh, p.ow, p.c), dtype=np.int8)
    cdef const int32_t *y0p = <const int32_t *>_el_ro(y0)
    cdef const int32_t *y1p = <const int32_t *>_el_ro(y1)
    cdef const int32_t *fyp = <const int32_t *>_el_ro(fy)
    cdef const int32_t *x0p = <const int32_t *>_el_ro(x0)
    cdef const int32_t *x1p = <const int32_t *>_el_ro(x1)
    cdef const int32_t *fxp = <const int32_t *>_el_ro(fx)
    cdef const int8_t *xp = <const int8_t *>_el_ro(x)
    cdef int8_t *yp = <int8_t *>_el_rw(y)
    if y.size:
        with nogil:
            i8_resize_bilinear_run(&p, y0p, y1p, fyp, x0p, x1p, fxp, xp, yp)
    return y


# ---- softmax ---------------------------------------------------------------------------------

def softmax(x, exp_table, *, inv_y_scale, y_zp, rows=None, cols=None):
    """Native i8_softmax_run over the last axis of x; y has x's shape."""
    _el_array(x, "x", np.int8)
    _el_array(exp_table, "exp_table", np.int32)
    if exp_table.size != 256 or exp_table.min() < 0 or exp_table.reshape(-1)[0] <= 0:
        raise ValueError("exp_table: needs 256 non-negative entries with T[0] > 0")
    cdef int64_t c_ = x.shape[x.ndim - 1] if x.ndim else 1
    cdef int64_t r_ = x.size // c_ if c_ else 0
    _el_check("cols", cols, c_)
    _el_check("rows", rows, r_)
    cdef float inv = _el_float(inv_y_scale, "inv_y_scale", positive=True)
    cdef int32_t zp = _el_zp(y_zp, "y_zp")
    y = np.empty(x.shape, dtype=np.int8)
    cdef const int32_t *tp = <const int32_t *>_el_ro(exp_table)
    cdef const int8_t *xp = <const int8_t *>_el_ro(x)
    cdef int8_t *yp = <int8_t *>_el_rw(y)
    if y.size:
        with nogil:
            i8_softmax_run(r_, c_, tp, inv, zp, xp, yp)
    return y


# ---- model boundary ----------------------------------------------------------------------------

def quantize(x, *, scale, zp, n=None):
    """Native i8_quantize_f32_run: float32 -> int8, same shape."""
    _el_array(x, "x", np.float32)
    _el_check("n", n, x.size)
    cdef float s = _el_float(scale, "scale", positive=True)
    cdef int32_t z = _el_zp(zp, "zp")
    y = np.empty(x.shape, dtype=np.int8)
    cdef int64_t count = x.size
    cdef const float *xp = <const float *>_el_ro(x)
    cdef int8_t *yp = <int8_t *>_el_rw(y)
    with nogil:
        i8_quantize_f32_run(count, xp, s, z, yp)
    return y


def dequantize(x, *, scale, zp, n=None):
    """Native i8_dequantize_f32_run: int8 -> float32, same shape."""
    _el_array(x, "x", np.int8)
    _el_check("n", n, x.size)
    cdef float s = _el_float(scale, "scale")
    cdef int32_t z = _el_zp(zp, "zp")
    y = np.empty(x.shape, dtype=np.float32)
    cdef int64_t count = x.size
    cdef const int8_t *xp = <const int8_t *>_el_ro(x)
    cdef float *yp = <float *>_el_rw(y)
    with nogil:
        i8_dequantize_f32_run(count, xp, s, z, yp)
    return y


def _el_nchw(x, c, hw, p0, p1):
    cdef int64_t c_ = _el_int(c, "c", 1, 2**62), hw_ = _el_int(hw, "hw", 1, 2**62)
    if x.size % (c_ * hw_):
        raise ValueError(f"c * hw = {c_ * hw_} does not divide {x.size} elements")
    pixels = x.size // c_
    p1 = pixels if p1 is None else p1
    cdef int64_t a = _el_int(p0, "p0", 0, pixels), b = _el_int(p1, "p1", 0, pixels)
    if a > b:
        raise ValueError("p0 > p1")
    return c_, hw_, a, b


def quantize_nchw(x, *, scale, zp, c, hw, p0=0, p1=None, fill=0):
    """Native i8_quantize_f32_nchw_run: float32 NCHW [b, c, hw] -> flat int8 NHWC [b, hw, c];
    only pixels [p0, p1) are written (the rest of y holds `fill`)."""
    _el_array(x, "x", np.float32)
    cdef float s = _el_float(scale, "scale", positive=True)
    cdef int32_t z = _el_zp(zp, "zp")
    cdef int64_t c_, hw_, a, b
    c_, hw_, a, b = _el_nchw(x, c, hw, p0, p1)
    y = np.full(x.size, fill, dtype=np.int8)
    cdef const float *xp = <const float *>_el_ro(x)
    cdef int8_t *yp = <int8_t *>_el_rw(y)
    with nogil:
        i8_quantize_f32_nchw_run(c_, hw_, a, b, xp, s, z, yp)
    return y


def dequantize_nchw(x, *, scale, zp, c, hw, p0=0, p1=None, fill=0.0):
    """Native i8_dequantize_f32_nchw_run: int8 NHWC [b, hw, c] -> flat float32 NCHW
    [b, c, hw]; only pixels [p0, p1) are written (the rest of y holds `fill`)."""
    _el_array(x, "x", np.int8)
    cdef float s = _el_float(scale, "scale")
    cdef int32_t z = _el_zp(zp, "zp")
    cdef int64_t c_, hw_, a, b
    c_, hw_, a, b = _el_nchw(x, c, hw, p0, p1)
    y = np.full(x.size, fill, dtype=np.float32)
    cdef const int8_t *xp = <const int8_t *>_el_ro(x)
    cdef float *yp = <float *>_el_rw(y)
    with nogil:
        i8_dequantize_f32_nchw_run(c_, hw_, a, b, xp, s, z, yp)
    return y


# ---- data movement -----------------------------------------------------------------------------

def _el_shape(x, shape, str name):
    _el_array(x, "x")
    dims = [_el_int(v, f"{name}[{i}]", 0, 2**62) for i, v in enumerate(shape)]
    if len(dims) > I8_MAX_DIMS:
        raise ValueError(f"{name}: at most {I8_MAX_DIMS} axes, got {len(dims)}")
    if int(np.prod(dims, dtype=object)) != x.size:
        raise ValueError(f"{name} {tuple(dims)} does not match x of {x.size} elements")
    return dims


def transpose(x, *, shape, perm):
    """Native i8_transpose_run: any element type, at most 6 axes."""
    dims = _el_shape(x, shape, "shape")
    cdef int32_t nd = len(dims)
    pv = _el_ints(perm, "perm", nd, 0, nd - 1)
    if sorted(pv) != list(range(nd)) or len(list(perm)) != nd:
        raise ValueError(f"perm {list(perm)} is not a permutation of {nd} axes")
    cdef int64_t sh[I8_MAX_DIMS]
    cdef int32_t pm[I8_MAX_DIMS]
    cdef int i
    for i in range(nd):
        sh[i], pm[i] = dims[i], pv[i]
    y = np.empty(tuple(dims[p] for p in pv), dtype=x.dtype)
    cdef size_t es = x.itemsize
    cdef const void *xp = _el_ro(x)
    cdef void *yp = _el_rw(y)
    if y.size:
        with nogil:
            i8_transpose_run(nd, sh, pm, es, xp, yp)
    return y


def slice(x, *, in_shape, start, step, out_shape):
    """Native i8_slice_run: y[i] = x[start + i * step] per axis (step may be negative)."""
    dims = _el_shape(x, in_shape, "in_shape")
    cdef int32_t nd = len(dims)
    st = _el_ints(start, "start", nd)
    sp = _el_ints(step, "step", nd)
    od = _el_ints(out_shape, "out_shape", nd, 0, 2**62)
    y = np.empty(tuple(od), dtype=x.dtype)
    if y.size == 0 and nd:
        return y
    cdef int64_t ish[I8_MAX_DIMS]
    cdef int64_t sst[I8_MAX_DIMS]
    cdef int64_t ssp[I8_MAX_DIMS]
    cdef int64_t osh[I8_MAX_DIMS]
    cdef int i
    for i in range(nd):
        if sp[i] == 0:
            raise ValueError(f"step[{i}] must be non-zero")
        last = st[i] + (od[i] - 1) * sp[i]
        if not (0 <= st[i] < dims[i] and 0 <= last < dims[i]):
            raise ValueError(f"slice: axis {i} reads outside [0, {dims[i]})")
        ish[i], sst[i], ssp[i], osh[i] = dims[i], st[i], sp[i], od[i]
    cdef size_t es = x.itemsize
    cdef const void *xp = _el_ro(x)
    cdef void *yp = _el_rw(y)
    with nogil:
        i8_slice_run(nd, ish, sst, ssp, osh, es, xp, yp)
    return y


def pad(x, value=None, *, in_shape, pad_before, pad_after, mode=0):
    """Native i8_pad_run: mode 0 constant (value: one element of x's dtype), 1 reflect, 2 edge;
    negative pads crop."""
    dims = _el_shape(x, in_shape, "in_shape")
    cdef int32_t nd = len(dims)
    pb = _el_ints(pad_before, "pad_before", nd, -(2**62), 2**62)
    pa = _el_ints(pad_after, "pad_after", nd, -(2**62), 2**62)
    cdef int32_t md = _el_int(mode, "mode", 0, 2)
    if value is None:
        value = np.zeros(1, dtype=x.dtype)
    _el_array(value, "value", x.dtype)
    if value.size < 1:
        raise ValueError("value: needs one element")
    od = [n + b + a for n, b, a in zip(dims, pb, pa)]
    if any(o < 0 for o in od):
        raise ValueError(f"pad: negative output extent {tuple(od)}")
    y = np.empty(tuple(od), dtype=x.dtype)
    if y.size == 0:
        return y
    cdef int64_t ish[I8_MAX_DIMS]
    cdef int64_t bef[I8_MAX_DIMS]
    cdef int64_t aft[I8_MAX_DIMS]
    cdef int i
    for i in range(nd):
        ish[i], bef[i], aft[i] = dims[i], pb[i], pa[i]
    cdef size_t es = x.itemsize
    cdef const void *xp = _el_ro(x)
    cdef const void *vp = _el_ro(value)
    cdef void *yp = _el_rw(y)
    with nogil:
        i8_pad_run(nd, ish, bef, aft, md, es, vp, xp, yp)
    return y
