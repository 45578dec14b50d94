# cython: language_level=3
# The gemm core with one kernel set at a time (tests/kernels/test_gemm.py,
# tests/kernels/test_fused_epilogue.py, bench/bench_gemm.py) and the portable twin of the
# avx512vnni 3x3 depthwise kernel (tests/kernels/test_dwconv.py): what a plan cannot reach. A
# plan runs the kernels its kernel path picks; the portable `_emu` emulations of other ISAs'
# instructions, and the gemm sets below the CPU's best, are reached only here. Every other kernel
# is tested through one-record plans (tests/kernels/one_op.py), whose checks are plan.c's.
# This entry point has no plan in front of it, so it checks its own arguments (TypeError /
# ValueError, never a crash).

import numpy as np

from libc.stdlib cimport free
from libc.stdint cimport int8_t, int32_t

from int8rt._native.c_gemm cimport *
from int8rt._native.c_kernels cimport *
from int8rt._native.common cimport _conv_malloc


def _check_array(a, str name, dtype, int ndim):
    if not isinstance(a, np.ndarray):
        raise TypeError(f"{name}: expected a numpy array, got {type(a).__name__}")
    if a.dtype != dtype:
        raise TypeError(f"{name}: expected dtype {np.dtype(dtype)}, got {a.dtype}")
    if a.ndim != ndim:
        raise ValueError(f"{name}: expected {ndim} dimensions, got shape {a.shape}")
    if not a.flags.c_contiguous:
        raise ValueError(f"{name}: must be C-contiguous")
    if a.size == 0:
        raise ValueError(f"{name}: empty array {a.shape}")


def _check_int(v, str name, lo, hi):
    if not isinstance(v, (int, np.integer)) or isinstance(v, bool):
        raise TypeError(f"{name}: expected an integer, got {type(v).__name__}")
    if not lo <= v <= hi:
        raise ValueError(f"{name}={v} outside [{lo}, {hi}]")
    return int(v)


def _check_quant(x_zp, y_zp, qmin, qmax):
    x_zp = _check_int(x_zp, "x_zp", -128, 127)
    y_zp = _check_int(y_zp, "y_zp", -128, 127)
    qmin = _check_int(qmin, "qmin", -128, 127)
    qmax = _check_int(qmax, "qmax", -128, 127)
    if qmin > qmax:
        raise ValueError(f"qmin={qmin} > qmax={qmax}")
    return x_zp, y_zp, qmin, qmax


cdef void *_out_ptr(y):
    """Data pointer of the freshly allocated output: int8, or float32 with out_f32."""
    cdef int8_t[::1] yq
    cdef float[::1] yf
    if y.dtype == np.float32:
        yf = y.reshape(-1)
        return &yf[0]
    yq = y.reshape(-1)
    return &yq[0]


_POST_KEYS = ("lut", "add", "a_zp", "b_zp", "a_mult", "b_mult", "mult", "y_zp", "qmin", "qmax")


cdef int _post_args(post, table, res, y, i8_post_params *pp, const int8_t **tp,
                    const int8_t **rp) except -1:
    """The fused post-ops of a kernel binding call (kernels.h i8_post_params): `post` a dict of
    those fields (missing: 0), `table` [256] int8 when post["lut"], `res` int8 of y's shape when
    post["add"]. The arrays must stay alive for the call."""
    cdef const int8_t[::1] tv
    cdef const int8_t[::1] rv
    post = dict(post or {})
    unknown = set(post) - set(_POST_KEYS)
    if unknown:
        raise ValueError(f"post: unknown keys {sorted(unknown)}")
    pp[0] = {f: post.get(f, 0) for f in _POST_KEYS}
    tp[0] = NULL
    rp[0] = NULL
    if pp.lut:
        _check_array(table, "table", np.int8, 1)
        if table.shape[0] != 256:
            raise ValueError("post: table must have 256 entries")
        tv = table
        tp[0] = &tv[0]
    if pp.add:
        _check_array(res, "res", np.int8, y.ndim)
        if res.shape != y.shape or y.dtype != np.int8:
            raise ValueError(f"post: res {res.shape} must have the int8 output's shape {y.shape}")
        if not (-2**22 <= pp.a_mult <= 2**22 and -2**22 <= pp.b_mult <= 2**22):
            raise ValueError("post: add multipliers must be within 2^22 in magnitude")
        _check_quant(pp.a_zp, pp.b_zp, pp.qmin, pp.qmax)
        _check_quant(pp.y_zp, 0, -128, 127)
        rv = res.reshape(-1)
        rp[0] = &rv[0]
    if (pp.lut or pp.add) and y.dtype != np.int8:
        raise ValueError("post: post-ops need an int8 output (out_f32=0)")
    return 0


cdef int _conv_args(x, w, bias, mult, stride_h, stride_w, dil_h, dil_w, pad_t, pad_l, pad_b,
                    pad_r, groups, x_zp, y_zp, qmin, qmax, out_f32,
                    i8_conv2d_params *p) except -1:
    """conv2d's arguments (int8rt.reference.conv), checked, into p (no post-ops)."""
    _check_array(x, "x", np.int8, 4)
    _check_array(w, "w", np.int8, 4)
    _check_array(bias, "bias", np.int32, 1)
    _check_array(mult, "mult", np.float32, 1)
    cdef int32_t big = 2**31 - 1
    p[0].n, p[0].h, p[0].w, p[0].c = [_check_int(v, "x.shape", 1, big) for v in x.shape]
    p[0].oc, p[0].kh, p[0].kw = [_check_int(v, "w.shape", 1, big) for v in w.shape[:3]]
    p[0].stride_h = _check_int(stride_h, "stride_h", 1, big)
    p[0].stride_w = _check_int(stride_w, "stride_w", 1, big)
    p[0].dil_h = _check_int(dil_h, "dil_h", 1, big)
    p[0].dil_w = _check_int(dil_w, "dil_w", 1, big)
    p[0].pad_t = _check_int(pad_t, "pad_t", 0, big)
    p[0].pad_l = _check_int(pad_l, "pad_l", 0, big)
    p[0].pad_b = _check_int(pad_b, "pad_b", 0, big)
    p[0].pad_r = _check_int(pad_r, "pad_r", 0, big)
    p[0].groups = _check_int(groups, "groups", 1, big)
    p[0].x_zp, p[0].y_zp, p[0].qmin, p[0].qmax = _check_quant(x_zp, y_zp, qmin, qmax)
    p[0].out_f32 = _check_int(out_f32, "out_f32", 0, 1)
    p[0].post = {f: 0 for f in _POST_KEYS}
    if p[0].c % p[0].groups or p[0].oc % p[0].groups or w.shape[3] != p[0].c // p[0].groups:
        raise ValueError(f"conv2d: x {x.shape} and w {w.shape} do not match groups={groups}")
    if bias.shape[0] != p[0].oc or mult.shape[0] != p[0].oc:
        raise ValueError(f"conv2d: bias {bias.shape} / mult {mult.shape} must be [{p[0].oc}]")
    if int(p[0].kh) * int(p[0].kw) * int(w.shape[3]) > big:  # Python ints: no int32 wrap-around
        raise ValueError("conv2d: kh * kw * c / groups exceeds int32")
    # int64 arithmetic in Python: no wrap-around before the check
    oh = (x.shape[1] + pad_t + pad_b - dil_h * (p[0].kh - 1) - 1) // stride_h + 1
    ow = (x.shape[2] + pad_l + pad_r - dil_w * (p[0].kw - 1) - 1) // stride_w + 1
    if oh < 1 or ow < 1:
        raise ValueError(f"conv2d: empty output {oh}x{ow}")
    p[0].oh = _check_int(oh, "oh", 1, big)
    p[0].ow = _check_int(ow, "ow", 1, big)

    return 0


# ---- the portable twin of the avx512vnni 3x3 depthwise column kernel -------------------------

cdef extern from "kernels/dwconv/dwconv.h" nogil:
    int i8_dwconv_3x3_emu_conv2d(const i8_conv2d_params *p, const void *conv_packed,
                                 const int8_t *x, void *y, void *scratch)


def dwconv_3x3_emu(x, *, w, bias, mult, stride_h, stride_w, dil_h, dil_w, pad_t, pad_l, pad_b,
                   pad_r, groups, x_zp, y_zp, qmin=-128, qmax=127, out_f32=0):
    """conv2d's arguments (int8rt.reference.conv), run by the portable twin of the avx512vnni
    3x3 depthwise column kernel (csrc/kernels/dwconv/col3x3_emu.c; x86 builds), whatever
    the CPU: a plan never picks it. ValueError for a shape that kernel does not cover (not
    depthwise 3x3, dilation 1, stride_w 1 or 2) and on other architectures."""
    cdef i8_conv2d_params p
    _conv_args(x, w, bias, mult, stride_h, stride_w, dil_h, dil_w, pad_t, pad_l, pad_b, pad_r,
               groups, x_zp, y_zp, qmin, qmax, out_f32, &p)

    y = np.empty((p.n, p.oh, p.ow, p.oc), dtype=np.float32 if p.out_f32 else np.int8)
    cdef const int8_t[::1] xv = x.reshape(-1)
    cdef const int8_t[::1] wv = w.reshape(-1)
    cdef const int32_t[::1] bv = bias
    cdef const float[::1] mv = mult
    cdef void *yp = _out_ptr(y)
    cdef void *packed = NULL
    cdef void *scratch = NULL
    cdef int rc = 0
    try:
        packed = _conv_malloc(i8_conv2d_packed_size(&p))
        scratch = _conv_malloc(i8_conv2d_scratch_size(&p))
        with nogil:
            i8_conv2d_pack(&p, &wv[0], &bv[0], &mv[0], packed)
            rc = i8_dwconv_3x3_emu_conv2d(&p, packed, &xv[0], yp, scratch)
    finally:
        free(packed)
        free(scratch)
    if rc:
        raise ValueError("dwconv_3x3_emu: not a depthwise 3x3 (dilation 1, stride_w 1 or 2) "
                         "shape, or not an x86 build")
    return y


# ---- the gemm core itself, per kernel set ------------------------------------------------------


_GEMM_LAYOUTS = {1: "rows", 2: "k2n16", 3: "k4n16", 4: "k4n16s"}


def gemm_kernels() -> list:
    """Every gemm kernel set compiled in (csrc/kernels/gemm/dispatch.c): dicts with name,
    layout, native (0: portable emulation of an ISA's dot), runnable (this CPU can run it),
    mr, ku, tiles (the tile widths nr) and w_max (0: any int8 weight; else the set runs only
    panels whose weights are all within [-w_max, w_max])."""
    cdef size_t count = 0
    cdef const i8_gemm_kernel *ks = i8_gemm_kernels(&count)
    out = []
    for i in range(count):
        tiles = []
        t = 0
        while ks[i].tiles[t].nr:
            tiles.append(int(ks[i].tiles[t].nr))
            t += 1
        out.append({"name": ks[i].name.decode(), "layout": _GEMM_LAYOUTS[ks[i].layout],
                    "native": bool(ks[i].native),
                    "runnable": bool(i8_gemm_kernel_runnable(&ks[i])), "mr": int(ks[i].mr),
                    "ku": int(ks[i].ku), "tiles": tiles, "w_max": int(ks[i].w_max)})
    return out


def gemm(str kernel, a, *, w, bias, mult, x_zp, y_zp, qmin=-128, qmax=127, out_f32=0, k=None,
         c_cols=None, pad_rows=False, scratch=True, post=None, table=None, res=None):
    """The gemm core with one kernel set: a [m, lda] int8 (the first k columns are the rows:
    a strided a when k < lda), w [n, k] -> c [m, c_cols] (c_cols >= n; columns from n on are
    returned as the kernel left them: 0x55 bytes / NaN floats beforehand). pad_rows: the rows
    are copied zero-padded to kp and the panel's k raised to kp, as the im2col conv does.
    scratch=False runs without work space (the driver's portable fallback). post / table /
    res: the fused post-ops (_post_args; res [m, c_cols] like c)."""
    cdef size_t count = 0
    cdef const i8_gemm_kernel *ks = i8_gemm_kernels(&count)
    cdef const i8_gemm_kernel *kd = NULL
    for i in range(count):
        if ks[i].name.decode() == kernel:
            kd = &ks[i]
    if kd == NULL:
        raise ValueError(f"gemm: unknown kernel set {kernel!r}")
    if not i8_gemm_kernel_runnable(kd):
        raise ValueError(f"gemm: this CPU cannot run kernel set {kernel!r}")
    _check_array(a, "a", np.int8, 2)
    _check_array(w, "w", np.int8, 2)
    _check_array(bias, "bias", np.int32, 1)
    _check_array(mult, "mult", np.float32, 1)
    cdef int32_t big = 2**31 - 1
    cdef size_t m = _check_int(a.shape[0], "m", 1, big)
    cdef int32_t kk = _check_int(a.shape[1] if k is None else k, "k", 1, a.shape[1])
    cdef int32_t n = _check_int(w.shape[0], "n", 1, big)
    if kd.w_max and np.abs(w.astype(np.int16)).max(initial=0) > kd.w_max:
        raise ValueError(f"gemm: kernel set {kernel!r} is exact only for weights within "
                         f"[-{kd.w_max}, {kd.w_max}]")
    if w.shape[1] != kk or bias.shape[0] != n or mult.shape[0] != n:
        raise ValueError(f"gemm: w {w.shape}, bias {bias.shape}, mult {mult.shape} do not "
                         f"match k={kk}")
    cdef size_t cc = n if c_cols is None else _check_int(c_cols, "c_cols", n, big)
    x_zp, y_zp, qmin, qmax = _check_quant(x_zp, y_zp, qmin, qmax)
    out_f32 = _check_int(out_f32, "out_f32", 0, 1)
    cdef size_t kp = (kk + 15) // 16 * 16
    if pad_rows:
        rows = np.zeros((m, kp), np.int8)
        rows[:, :kk] = a[:, :kk]
        a = rows
    if out_f32:
        c = np.full((m, cc), np.nan, np.float32)
    else:
        c = np.full((m, cc), 0x55, np.int8)
    cdef const int8_t[::1] av = a.reshape(-1)
    cdef size_t lda = a.shape[1]
    cdef const int8_t[::1] wv = w.reshape(-1)
    cdef const int32_t[::1] bv = bias
    cdef const float[::1] mv = mult
    cdef void *cp = _out_ptr(c)
    cdef void *packed = NULL
    cdef void *work = NULL
    cdef i8_gemm_panel pn
    cdef int32_t layout = kd.layout, xz = x_zp, yz = y_zp, lo = qmin, hi = qmax, f32 = out_f32
    cdef int32_t run_k = <int32_t>kp if pad_rows else kk
    cdef i8_post_params pp
    cdef i8_post po
    cdef const int8_t *tp
    cdef const int8_t *rp
    _post_args(post, table, res, c, &pp, &tp, &rp)
    try:
        packed = _conv_malloc(i8_gemm_packed_size(n, kk))
        if scratch:
            work = _conv_malloc(i8_gemm_scratch_size(m, kk))
        with nogil:
            i8_gemm_pack_layout(layout, n, kk, &wv[0], kk, &bv[0], &mv[0], xz, packed)
            i8_gemm_panel_init(&pn, n, kk, packed, yz, lo, hi, f32)
            pn.k = run_k
            pn.scratch = work
            pn.scratch_bytes = i8_gemm_scratch_size(m, kk) if work != NULL else 0
            pn.post = i8_post_init(&po, &pp, tp, rp, cp)
            i8_gemm_run(kd, &pn, m, &av[0], lda, cp, cc)
    finally:
        free(packed)
        free(work)
    return c


# ---- Winograd F(2x2, 3x3) with a given kernel set ---------------------------------------------

cdef extern from "kernels/winograd/winograd.h" nogil:
    int32_t i8_wino_conv2d_with(const i8_conv2d_params *p, const int8_t *w, const int32_t *bias,
                                const float *mult, const int8_t *x, void *y, const char *kernel)


def conv2d_winograd(str kernel, x, *, w, bias, mult, stride_h, stride_w, dil_h, dil_w, pad_t,
                    pad_l, pad_b, pad_r, groups, x_zp, y_zp, qmin=-128, qmax=127, out_f32=0):
    """conv2d's arguments (int8rt.reference.conv) through the Winograd F(2x2, 3x3) kernels of
    set `kernel` ("avx2", "emu": csrc/kernels/winograd/), whatever the path (a plan picks
    Winograd only on the paths where it is faster). ValueError for a shape it does not cover
    (3x3, stride 1, dilation 1, one group), weights past its bound (conv2d then packs im2col),
    or a set this CPU cannot run."""
    cdef i8_conv2d_params p
    _conv_args(x, w, bias, mult, stride_h, stride_w, dil_h, dil_w, pad_t, pad_l, pad_b, pad_r,
               groups, x_zp, y_zp, qmin, qmax, out_f32, &p)
    y = np.empty((p.n, p.oh, p.ow, p.oc), dtype=np.float32 if p.out_f32 else np.int8)
    cdef const int8_t[::1] xv = x.reshape(-1)
    cdef const int8_t[::1] wv = w.reshape(-1)
    cdef const int32_t[::1] bv = bias
    cdef const float[::1] mv = mult
    cdef void *yp = _out_ptr(y)
    kb = kernel.encode()
    cdef const char *kn = kb
    cdef int32_t rc
    with nogil:
        rc = i8_wino_conv2d_with(&p, &wv[0], &bv[0], &mv[0], &xv[0], yp, kn)
    if rc == -1:
        raise ValueError("conv2d_winograd: not a 3x3 / stride 1 / dilation 1 / group 1 shape")
    if rc == -2:
        raise ValueError("conv2d_winograd: weights past the bound (4 * 128 * sum |w| >= 2^31)")
    if rc == -3:
        raise ValueError(f"conv2d_winograd: kernel set {kernel!r} unknown or not runnable here")
    if rc:
        raise MemoryError("conv2d_winograd: out of memory")
    return y
