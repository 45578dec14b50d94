"""Every int8 / float-fallback / movement record kind (int8rt/records.py) as a one-call Program:
the native plan equals the numpy reference bit for bit on every kernel path this CPU runs.

This drives the kernels through the plan, the way a model runs them (the plan's own checks, its
packing, its dispatch), with the same oracle as the per-kernel tests. A record added to the
registry without a sample here fails `test_every_record_has_a_sample`.
"""

from __future__ import annotations

import math
import zlib

import numpy as np
import pytest

from int8rt import _native
from int8rt import kernel_tables as kt
from int8rt.plan import NativePlan
from int8rt.program import Buffer, Call, Program
from int8rt.records import INT8, MOVEMENT, RECORDS
from int8rt.reference.program import run_program

I8 = np.int8


def _i8(rng, *shape):
    return rng.integers(-128, 128, shape, dtype=I8)


def _conv_geometry(n, h, w, c, oc, k, stride, pad, groups):
    oh = (h + 2 * pad - k) // stride + 1
    ow = (w + 2 * pad - k) // stride + 1
    return {"n": n, "h": h, "w": w, "c": c, "oh": oh, "ow": ow, "oc": oc, "kh": k, "kw": k, "stride_h": stride,
                "stride_w": stride, "dil_h": 1, "dil_w": 1, "pad_t": pad, "pad_l": pad, "pad_b": pad, "pad_r": pad,
                "groups": groups}


def _conv2d(rng, groups):
    g = _conv_geometry(1, 7, 6, 8, 8, 3, 1, 1, groups)
    w = _i8(rng, 8, 3, 3, 8 // groups)
    consts = {"w": w, "bias": rng.integers(-5000, 5000, 8, dtype=np.int32),
              "mult": rng.uniform(1e-3, 4e-3, 8).astype(np.float32)}
    params = {**g, "x_zp": -3, "y_zp": 5, "qmin": -128, "qmax": 127}
    return [_i8(rng, 1, 7, 6, 8)], params, consts, (1, g["oh"], g["ow"], 8), "int8"


def _fc(rng):
    consts = {"w": _i8(rng, 5, 19), "bias": rng.integers(-900, 900, 5, dtype=np.int32),
              "mult": rng.uniform(2e-3, 6e-3, 5).astype(np.float32)}
    params = {"m": 3, "k": 19, "n": 5, "x_zp": 7, "y_zp": -2, "qmin": -128, "qmax": 127}
    return [_i8(rng, 3, 19)], params, consts, (3, 5), "int8"


def _binary(rng, kernel):
    a_shape, b_shape = (2, 3, 16), (16,)
    ndim, shape, a_st, b_st = kt.collapse_broadcast(a_shape, b_shape)
    params = {"ndim": ndim, "shape": shape, "a_stride": a_st, "b_stride": b_st, "a_zp": 3, "b_zp": -7,
                  "y_zp": 1, "qmin": -128, "qmax": 127}
    if kernel == "add":
        a_mult, b_mult, mult = kt.add_multipliers(0.05, 0.03, 0.07)
        params.update(a_mult=a_mult, b_mult=b_mult, mult=float(mult))
    else:
        params.update(mult=float(kt.mul_mult(0.05, 0.03, 0.02)))
    return [_i8(rng, *a_shape), _i8(rng, *b_shape)], params, {}, (2, 3, 16), "int8"


def _pool(rng, kernel):
    p = {"n": 1, "h": 7, "w": 8, "c": 5, "oh": 4, "ow": 4, "kh": 3, "kw": 3, "stride_h": 2, "stride_w": 2, "dil_h": 1,
             "dil_w": 1, "pad_t": 1, "pad_l": 1, "count_include_pad": 0, "x_zp": -4, "y_zp": 2, "qmin": -128,
             "qmax": 127}
    consts = {"mult_by_count": kt.avgpool_mults(0.05, 0.04, 3, 3)} if kernel == "avgpool" else {}
    if kernel == "maxpool":
        p.update(x_zp=0, y_zp=0)
    return [_i8(rng, 1, 7, 8, 5)], p, consts, (1, 4, 4, 5), "int8"


def _movement_slice(rng):
    params = {"in_shape": (4, 6, 5), "start": (3, 1, 0), "step": (-1, 2, 1), "out_shape": (3, 3, 5)}
    return [_i8(rng, 4, 6, 5)], params, {}, (3, 3, 5), "int8"


def _sample(kernel, rng):
    """(inputs, params, consts, output shape, output dtype) of one valid call."""
    if kernel == "conv2d":
        return _conv2d(rng, 1)
    if kernel == "fc":
        return _fc(rng)
    if kernel in ("add", "mul"):
        return _binary(rng, kernel)
    if kernel == "requant_copy":
        params = {"rows": 3, "cols": 4, "x_stride": 4, "y_stride": 4, "x_offset": 0, "y_offset": 0, "x_zp": 5,
                      "y_zp": -9, "mult": float(kt.requant_mult(0.05, 0.11))}
        return [_i8(rng, 3, 4)], params, {}, (3, 4), "int8"
    if kernel in ("maxpool", "avgpool"):
        return _pool(rng, kernel)
    if kernel == "global_avgpool":
        params = {"n": 2, "hw": 12, "c": 7, "x_zp": -3, "y_zp": 4,
                      "mult": float(kt.global_avgpool_mult(0.05, 0.03, 12)), "qmin": -128, "qmax": 127}
        return [_i8(rng, 2, 12, 7)], params, {}, (2, 7), "int8"
    if kernel == "lut":
        table = kt.lut_table(kt.sigmoid, 0.06, -10, 1 / 256, -128)
        return [_i8(rng, 3, 50)], {"n": 150}, {"table": table}, (3, 50), "int8"
    if kernel == "resize_nearest":
        consts = {"iy": kt.resize_nearest_map(4, 7), "ix": kt.resize_nearest_map(5, 9)}
        params = {"n": 1, "h": 4, "w": 5, "c": 3, "oh": 7, "ow": 9}
        return [_i8(rng, 1, 4, 5, 3)], params, consts, (1, 7, 9, 3), "int8"
    if kernel == "resize_bilinear":
        y0, y1, fy = kt.resize_linear_map(4, 7)
        x0, x1, fx = kt.resize_linear_map(5, 9)
        consts = {"y0": y0, "y1": y1, "fy": fy, "x0": x0, "x1": x1, "fx": fx}
        params = {"n": 1, "h": 4, "w": 5, "c": 3, "oh": 7, "ow": 9, "x_zp": 2, "y_zp": -1,
                      "mult": float(kt.bilinear_mult(0.05, 0.04))}
        return [_i8(rng, 1, 4, 5, 3)], params, consts, (1, 7, 9, 3), "int8"
    if kernel == "softmax":
        params = {"rows": 4, "cols": 10, "inv_y_scale": 256.0, "y_zp": -128}
        return ([_i8(rng, 4, 10)], params, {"exp_table": kt.softmax_exp_table(0.1)}, (4, 10),
                "int8")
    if kernel == "quantize":
        x = (rng.standard_normal(37) * 3).astype(np.float32)
        return [x], {"n": 37, "scale": 0.02, "zp": -5}, {}, (37,), "int8"
    if kernel == "dequantize":
        return [_i8(rng, 37)], {"n": 37, "scale": 0.02, "zp": -5}, {}, (37,), "float32"
    if kernel == "transpose":
        return [_i8(rng, 3, 4, 5)], {"shape": (3, 4, 5), "perm": (2, 0, 1)}, {}, (5, 3, 4), "int8"
    if kernel == "slice":
        return _movement_slice(rng)
    if kernel == "pad":
        params = {"in_shape": (3, 4), "pad_before": (1, 2), "pad_after": (2, 0), "mode": 0}
        return [_i8(rng, 3, 4)], params, {"value": np.array([7], I8)}, (6, 6), "int8"
    if kernel == "copy":
        return [_i8(rng, 5, 6)], {"nbytes": 30}, {}, (5, 6), "int8"
    if kernel == "conv2d_f32":
        g = _conv_geometry(1, 6, 5, 4, 3, 3, 2, 1, 1)
        consts = {"w": rng.standard_normal((3, 3, 3, 4)).astype(np.float32),
                  "bias": rng.standard_normal(3).astype(np.float32)}
        x = rng.standard_normal((1, 6, 5, 4)).astype(np.float32)
        return [x], {**g, "lo": 0.0, "hi": 6.0}, consts, (1, g["oh"], g["ow"], 3), "float32"
    if kernel == "fc_f32":
        consts = {"w": rng.standard_normal((4, 9)).astype(np.float32),
                  "bias": rng.standard_normal(4).astype(np.float32)}
        x = rng.standard_normal((2, 9)).astype(np.float32)
        return [x], {"m": 2, "k": 9, "n": 4, "lo": -math.inf, "hi": math.inf}, consts, (2, 4), "float32"
    raise KeyError(kernel)


# the records a one-call Program can run with the numpy reference as the oracle (the float32 /
# dynamic / weight-only records of transformer graphs are checked against onnxruntime instead)
KERNELS = [r.kernel for r in RECORDS if r.dtypes in (INT8, MOVEMENT) or r.kernel.endswith("_f32")
           or r.kernel in ("quantize", "dequantize")]


def one_call_program(kernel, inputs, params, consts, out_shape, out_dtype) -> Program:
    names = [f"x{i}" for i in range(len(inputs))]
    buffers = {n: Buffer(n, tuple(a.shape), a.dtype.name) for n, a in zip(names, inputs)}
    buffers["y"] = Buffer("y", tuple(out_shape), out_dtype)
    return Program([Call(kernel, names, ["y"], dict(params), dict(consts), node=kernel)],
                   buffers, names, ["y"])


def test_every_record_has_a_sample():
    rng = np.random.default_rng(0)
    for kernel in KERNELS:
        _sample(kernel, rng)  # KeyError: the record needs a sample here
    assert {"conv2d", "fc", "lut", "pad", "conv2d_f32"} <= set(KERNELS)


@pytest.mark.parametrize("kernel", KERNELS + ["conv2d_depthwise"])
def test_one_call_plan_equals_reference_on_every_path(kernel):
    rng = np.random.default_rng(zlib.crc32(kernel.encode()))
    if kernel == "conv2d_depthwise":  # the dwconv kernels behind conv2d
        kernel, sample = "conv2d", _conv2d(rng, 8)
    else:
        sample = _sample(kernel, rng)
    program = one_call_program(kernel, *sample)
    inputs = sample[0]
    want = run_program(program, inputs)[0]
    before = _native.isa()
    try:
        for path in _native.available_isas():
            _native.set_isa(path)
            got = NativePlan(program).run(inputs)[0]  # packed and dispatched under `path`
            assert got.dtype == want.dtype and got.shape == want.shape
            assert np.array_equal(got, want, equal_nan=True), (kernel, path)
    finally:
        _native.set_isa(before)
