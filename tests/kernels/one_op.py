"""The native kernels as one-record plans: how the kernel tests call them.

`run(kernel, inputs, params, consts, out_shape, out_dtype)` builds a Program of one call of a
record kind declared in int8rt/records.py and runs it through `NativePlan` on the kernel path
selected now (`_native.set_isa`, the `path` fixture of conftest.py). The plan's own checks
(plan.c's footprint and parameter checks, the binding's dtype and const checks) are the only
ones: what a test sees is what a model sees.

The functions named after the reference kernels (`conv2d`, `maxpool`, `lut`, ...) take the
reference's signature (int8rt/reference/) and fill the size params of the record from the
arrays, so a test calls the reference and the native kernel with one set of arguments:
`assert np.array_equal(ref.maxpool(x, **p), one_op.maxpool(x, **p))`. A size the caller passes
(`h=5`) overrides the array's, which is how the tests reach the plan's footprint checks.

The gemm kernel sets one by one (the `_emu` emulations a plan never picks) keep their own entry
point, `_native.gemm` (tests/kernels/test_gemm.py).
"""

from __future__ import annotations

import contextlib
import functools
from collections.abc import Iterator

import numpy as np

from int8rt import _native
from int8rt.plan import NativePlan
from int8rt.program import Buffer, Call, Program
from int8rt.reference.conv import conv_output_size


@functools.cache
def _dtype(dt) -> str:
    """The Buffer dtype string of a numpy dtype (byte strings by their code, "|S2"): cached,
    numpy's dtype.name is slow next to a small plan."""
    dt = np.dtype(dt)
    return dt.str if dt.kind in "SV" else dt.name


def program(kernel: str, inputs: list[np.ndarray], params: dict, consts: dict | None,
            out_shape, out_dtype: str = "int8", init: np.ndarray | None = None) -> Program:
    """One call of `kernel` from inputs x0, x1, ... to y. `init`: y's contents before the call
    (an extra input copied into y first), for kernels that write part of y (requant_copy)."""
    names = [f"x{i}" for i in range(len(inputs))]
    buffers = {n: Buffer(n, tuple(a.shape), _dtype(a.dtype)) for n, a in zip(names, inputs)}
    buffers["y"] = Buffer("y", tuple(int(d) for d in out_shape), _dtype(out_dtype))
    calls = [Call(kernel, list(names), ["y"], dict(params), dict(consts or {}), node=kernel)]
    if init is not None:
        buffers["y_init"] = Buffer("y_init", tuple(init.shape), _dtype(init.dtype))
        calls.insert(0, Call("copy", ["y_init"], ["y"], {"nbytes": init.nbytes}, node="init"))
        names.append("y_init")
    return Program(calls, buffers, names, ["y"])


def run(kernel: str, inputs: list, params: dict, consts: dict | None = None, *, out_shape,
        out_dtype: str = "int8", init: np.ndarray | None = None, threads: int = 1
        ) -> np.ndarray:
    """The output of one `kernel` call run as a native plan on the current kernel path."""
    inputs = [np.asarray(a) for a in inputs]
    feeds = inputs + ([np.asarray(init)] if init is not None else [])
    prog = program(kernel, inputs, params, consts, out_shape, out_dtype,
                   None if init is None else np.asarray(init))
    plan = NativePlan(prog)
    if _prepared is not None:
        _prepared.append(lambda: plan.run(feeds, threads=threads)[0])
    return plan.run(feeds, threads=threads)[0]


_prepared: list | None = None


def prepare(fn, *args, **kwargs):
    """`fn(*args, **kwargs)` (one of the kernel functions below) as a callable that runs the
    same plan again: planned and packed once, under the kernel path selected now. For timing
    (bench/), where building the plan on every call would swamp small kernels."""
    global _prepared
    _prepared = []
    try:
        fn(*args, **kwargs)
        (runner,) = _prepared
    finally:
        _prepared = None
    return runner


@contextlib.contextmanager
def small_tasks(chunk: int) -> Iterator[None]:
    """Plans built inside split their element-wise / pooling / convert / movement calls into
    tasks of about `chunk` elements (csrc/plan/split.c), so small tensors reach the task
    boundaries that threads run (conv2d / fc and their float versions split themselves)."""
    before = _native.set_split_chunk(chunk)
    try:
        yield
    finally:
        _native.set_split_chunk(before)


def tasks(kernel: str, inputs: list, params: dict, consts: dict | None = None, *, out_shape,
          out_dtype: str = "int8") -> int:
    """How many tasks the plan splits the call into for threads (1: never split)."""
    prog = program(kernel, [np.asarray(a) for a in inputs], params, consts, out_shape, out_dtype)
    return NativePlan(prog).call_tasks()[0]


def _given(given, actual):
    return actual if given is None else given


# ---- conv2d / fc (int8rt/reference/conv.py) --------------------------------------------------

def _out_size(size, k, stride, dil, pad_before, pad_after):
    """The output extent, or 0 for geometry the plan is to refuse (stride < 1)."""
    return conv_output_size(size, k, stride, dil, pad_before, pad_after) if stride > 0 else 0


# conv2d / fc post params: the binding-style names of kernels.h i8_post_params -> record params
_POST = {"lut": "post_lut", "add": "post_add", "a_zp": "add_a_zp", "b_zp": "add_b_zp",
         "a_mult": "add_a_mult", "b_mult": "add_b_mult", "mult": "add_mult",
         "y_zp": "add_y_zp", "qmin": "add_qmin", "qmax": "add_qmax"}


def _post(post: dict | None, table, res) -> tuple[dict, dict, list]:
    """(post params, the table const, the residual input) of a fused epilogue (the residual
    only with the add, as the record takes it)."""
    params = {_POST[k]: v for k, v in (post or {}).items()}
    consts = {"table": table} if params.get("post_lut") else {}
    return params, consts, [res] if params.get("post_add") else []


def conv2d(x, res=None, *, w, bias, mult, stride_h, stride_w, dil_h, dil_w, pad_t, pad_l, pad_b,
           pad_r, groups, x_zp, y_zp, qmin=-128, qmax=127, out_f32=0, post=None, table=None,
           threads=1, in_shape=None):
    """x [n, h, w, c] int8 -> [n, oh, ow, oc] int8 (float32 with out_f32). post / table / res:
    the fused epilogue (post: {"lut", "add", "a_zp", ...} as kernels.h names them). in_shape:
    the declared (n, h, w, c) when it is not x's."""
    n, h, wd, c = x.shape if in_shape is None else in_shape
    oc, kh, kw = w.shape[:3]
    oh = _out_size(h, kh, stride_h, dil_h, pad_t, pad_b)
    ow = _out_size(wd, kw, stride_w, dil_w, pad_l, pad_r)
    params = {"n": n, "h": h, "w": wd, "c": c, "oh": oh, "ow": ow, "oc": oc, "kh": kh, "kw": kw,
              "stride_h": stride_h, "stride_w": stride_w, "dil_h": dil_h, "dil_w": dil_w,
              "pad_t": pad_t, "pad_l": pad_l, "pad_b": pad_b, "pad_r": pad_r, "groups": groups,
              "x_zp": x_zp, "y_zp": y_zp, "qmin": qmin, "qmax": qmax, "out_f32": out_f32}
    post_params, post_consts, extra = _post(post, table, res)
    return run("conv2d", [x, *extra], {**params, **post_params},
               {"w": w, "bias": bias, "mult": mult, **post_consts},
               out_shape=(n, max(oh, 0), max(ow, 0), oc),
               out_dtype="float32" if out_f32 == 1 else "int8", threads=threads)


def fc(x, res=None, *, w, bias, mult, x_zp, y_zp, qmin=-128, qmax=127, out_f32=0, post=None,
       table=None, threads=1):
    """x [m, k] int8, w [n, k] -> [m, n] int8 (float32 with out_f32)."""
    m, k = x.shape
    n = w.shape[0]
    params = {"m": m, "k": k, "n": n, "x_zp": x_zp, "y_zp": y_zp, "qmin": qmin, "qmax": qmax,
              "out_f32": out_f32}
    post_params, post_consts, extra = _post(post, table, res)
    return run("fc", [x, *extra], {**params, **post_params},
               {"w": w, "bias": bias, "mult": mult, **post_consts}, out_shape=(m, n),
               out_dtype="float32" if out_f32 == 1 else "int8", threads=threads)


# ---- element-wise (int8rt/reference/elementwise.py) -------------------------------------------

def _binary(kernel, a, b, ndim, shape, a_stride, b_stride, **params):
    out = tuple(shape)[:ndim]
    return run(kernel, [a, b], {"ndim": ndim, "shape": shape, "a_stride": a_stride,
                                "b_stride": b_stride, **params}, out_shape=out)


def add(a, b, *, ndim, shape, a_stride, b_stride, a_zp, b_zp, y_zp, a_mult, b_mult, mult,
        qmin=-128, qmax=127):
    """Flat int8 a, b with collapsed strides (kernel_tables.collapse_broadcast) -> shape."""
    return _binary("add", a, b, ndim, shape, a_stride, b_stride, a_zp=a_zp, b_zp=b_zp,
                   y_zp=y_zp, a_mult=a_mult, b_mult=b_mult, mult=mult, qmin=qmin, qmax=qmax)


def mul(a, b, *, ndim, shape, a_stride, b_stride, a_zp, b_zp, y_zp, mult, qmin=-128, qmax=127,
        a_mult=0, b_mult=0):
    return _binary("mul", a, b, ndim, shape, a_stride, b_stride, a_zp=a_zp, b_zp=b_zp,
                   y_zp=y_zp, mult=mult, qmin=qmin, qmax=qmax)


def requant_copy(x, y, *, rows, cols, x_stride, y_stride, x_offset, y_offset, x_zp, y_zp, mult):
    """Writes rows x cols elements into y (in place, like the reference); returns y."""
    params = {"rows": rows, "cols": cols, "x_stride": x_stride, "y_stride": y_stride,
              "x_offset": x_offset, "y_offset": y_offset, "x_zp": x_zp, "y_zp": y_zp,
              "mult": mult}
    y[...] = run("requant_copy", [x], params, out_shape=y.shape, init=y)
    return y


def lut(x, table, *, n=None):
    return run("lut", [x], {"n": _given(n, x.size)}, {"table": table}, out_shape=x.shape)


# ---- pooling (int8rt/reference/pooling.py) -----------------------------------------------------

def _pool(kernel, x, consts, oh, ow, kh, kw, n, h, w, c, **params):
    dims = [_given(v, a) for v, a in zip((n, h, w, c), x.shape)] if x.ndim == 4 else [n, h, w, c]
    nn, hh, ww, cc = dims
    params.update(n=nn, h=hh, w=ww, c=cc, oh=oh, ow=ow, kh=kh, kw=kw)
    return run(kernel, [x], params, consts, out_shape=(nn, oh, ow, cc))


def maxpool(x, *, oh, ow, kh, kw, stride_h=1, stride_w=1, dil_h=1, dil_w=1, pad_t=0, pad_l=0,
            qmin=-128, qmax=127, n=None, h=None, w=None, c=None, count_include_pad=0, x_zp=0,
            y_zp=0):
    return _pool("maxpool", x, {}, oh, ow, kh, kw, n, h, w, c, stride_h=stride_h,
                 stride_w=stride_w, dil_h=dil_h, dil_w=dil_w, pad_t=pad_t, pad_l=pad_l,
                 count_include_pad=count_include_pad, x_zp=x_zp, y_zp=y_zp, qmin=qmin,
                 qmax=qmax)


def avgpool(x, mult_by_count, *, oh, ow, kh, kw, stride_h=1, stride_w=1, dil_h=1, dil_w=1,
            pad_t=0, pad_l=0, count_include_pad=0, x_zp=0, y_zp=0, qmin=-128, qmax=127, n=None,
            h=None, w=None, c=None):
    return _pool("avgpool", x, {"mult_by_count": mult_by_count}, oh, ow, kh, kw, n, h, w, c,
                 stride_h=stride_h, stride_w=stride_w, dil_h=dil_h, dil_w=dil_w, pad_t=pad_t,
                 pad_l=pad_l, count_include_pad=count_include_pad, x_zp=x_zp, y_zp=y_zp,
                 qmin=qmin, qmax=qmax)


def global_avgpool(x, *, n, hw, c, x_zp, y_zp, mult, qmin=-128, qmax=127):
    """[n, h, w, c] -> [n, 1, 1, c], or [n, hw, c] -> [n, c]."""
    params = {"n": n, "hw": hw, "c": c, "x_zp": x_zp, "y_zp": y_zp, "mult": mult, "qmin": qmin,
              "qmax": qmax}
    return run("global_avgpool", [x], params, out_shape=(n, 1, 1, c) if x.ndim == 4 else (n, c))


# ---- resize (int8rt/reference/resize.py) -------------------------------------------------------

def resize_nearest(x, iy, ix, *, oh=None, ow=None, n=None, h=None, w=None, c=None):
    """Any element type: y[b, oy, ox] = x[b, iy[oy], ix[ox]]."""
    nn, hh, ww, cc = (_given(v, a) for v, a in zip((n, h, w, c), x.shape))
    oh, ow = _given(oh, len(iy)), _given(ow, len(ix))
    params = {"n": nn, "h": hh, "w": ww, "c": cc, "oh": oh, "ow": ow}
    return run("resize_nearest", [x], params, {"iy": iy, "ix": ix},
               out_shape=(nn, oh, ow, cc), out_dtype=x.dtype)


def resize_bilinear(x, y0, y1, fy, x0, x1, fx, *, x_zp, y_zp, mult, oh=None, ow=None, n=None,
                    h=None, w=None, c=None):
    nn, hh, ww, cc = (_given(v, a) for v, a in zip((n, h, w, c), x.shape))
    oh, ow = _given(oh, len(y0)), _given(ow, len(x0))
    params = {"n": nn, "h": hh, "w": ww, "c": cc, "oh": oh, "ow": ow, "x_zp": x_zp,
              "y_zp": y_zp, "mult": mult}
    consts = {"y0": y0, "y1": y1, "fy": fy, "x0": x0, "x1": x1, "fx": fx}
    return run("resize_bilinear", [x], params, consts, out_shape=(nn, oh, ow, cc))


# ---- softmax, quantize / dequantize (reference/softmax.py, convert.py) --------------------

def softmax(x, exp_table, *, inv_y_scale, y_zp, rows=None, cols=None):
    """Over the last axis of x."""
    c = x.shape[-1] if x.ndim else 1
    params = {"rows": _given(rows, x.size // c if c else 0), "cols": _given(cols, c),
              "inv_y_scale": inv_y_scale, "y_zp": y_zp}
    return run("softmax", [x], params, {"exp_table": exp_table}, out_shape=x.shape)


def quantize(x, *, scale, zp, n=None, c=0, hw=0, threads=1):
    """float32 -> int8 of x's shape; with c, hw: NCHW [b, c, hw] in, flat NHWC out."""
    params = {"n": _given(n, x.size), "scale": scale, "zp": zp, "c": c, "hw": hw}
    return run("quantize", [x], params, out_shape=(x.size,) if c else x.shape,
               threads=threads)


def quantize_tasks(x, *, c=0, hw=0) -> int:
    params = {"n": x.size, "scale": 1.0, "zp": 0, "c": c, "hw": hw}
    return tasks("quantize", [x], params, out_shape=(x.size,))


def dequantize(x, *, scale, zp, n=None, c=0, hw=0, threads=1):
    """int8 -> float32 of x's shape; with c, hw: NHWC in, flat NCHW [b, c, hw] out."""
    params = {"n": _given(n, x.size), "scale": scale, "zp": zp, "c": c, "hw": hw}
    return run("dequantize", [x], params, out_shape=(x.size,) if c else x.shape,
               out_dtype="float32", threads=threads)


# ---- data movement (int8rt/reference/movement.py) -----------------------------------------

def transpose(x, *, shape, perm):
    """Any element type; x flat or of `shape`."""
    shape, perm = tuple(shape), tuple(perm)
    out = tuple(shape[p] for p in perm if 0 <= p < len(shape))
    return run("transpose", [x], {"shape": shape, "perm": perm}, out_shape=out,
               out_dtype=x.dtype)


def slice(x, *, in_shape, start, step, out_shape):
    params = {"in_shape": in_shape, "start": start, "step": step, "out_shape": out_shape}
    return run("slice", [x], params, out_shape=out_shape, out_dtype=x.dtype)


def pad(x, value=None, *, in_shape, pad_before, pad_after, mode=0):
    """mode 0 constant (value: one element of x's dtype, default 0), 1 reflect, 2 edge."""
    out = tuple(n + b + a for n, b, a in zip(in_shape, pad_before, pad_after))
    consts = {"value": np.zeros(1, x.dtype) if value is None else value} if mode == 0 else {}
    params = {"in_shape": tuple(in_shape), "pad_before": tuple(pad_before),
              "pad_after": tuple(pad_after), "mode": mode}
    return run("pad", [x], params, consts, out_shape=tuple(max(o, 0) for o in out),
               out_dtype=x.dtype)


# ---- float fallback (int8rt/reference/f32conv.py) -----------------------------------------

def conv2d_f32(x, *, w, bias, stride_h, stride_w, dil_h, dil_w, pad_t, pad_l, pad_b, pad_r,
               groups, lo, hi, threads=1):
    n, h, wd, c = x.shape
    oc, kh, kw = w.shape[:3]
    oh = _out_size(h, kh, stride_h, dil_h, pad_t, pad_b)
    ow = _out_size(wd, kw, stride_w, dil_w, pad_l, pad_r)
    params = {"n": n, "h": h, "w": wd, "c": c, "oh": oh, "ow": ow, "oc": oc, "kh": kh, "kw": kw,
              "stride_h": stride_h, "stride_w": stride_w, "dil_h": dil_h, "dil_w": dil_w,
              "pad_t": pad_t, "pad_l": pad_l, "pad_b": pad_b, "pad_r": pad_r, "groups": groups,
              "lo": lo, "hi": hi}
    return run("conv2d_f32", [x], params, {"w": w, "bias": bias},
               out_shape=(n, max(oh, 0), max(ow, 0), oc), out_dtype="float32",
               threads=threads)


def fc_f32(x, *, w, bias, lo, hi, m=None, k=None, n=None):
    m, k = _given(m, x.shape[0]), _given(k, x.shape[1])
    n = _given(n, w.shape[0])
    return run("fc_f32", [x], {"m": m, "k": k, "n": n, "lo": lo, "hi": hi},
               {"w": w, "bias": bias}, out_shape=(m, n), out_dtype="float32")

