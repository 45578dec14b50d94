"""The f32_maxpool record (kernels/f32/pool.c, the dynamic path's MaxPool in ONNX layout) as a
one-call plan: equal to its numpy reference (int8rt/reference/f32_records.py) bit for bit, NaN,
infinities, signed zeros, padding, dilation and the 2x2 stride-2 fast path included; the plan
refuses a geometry whose buffers are too small."""

from __future__ import annotations

import numpy as np
import pytest

from int8rt.plan import NativePlan
from int8rt.program import Buffer, Call, Program
from int8rt.reference.dqconv import pool_geometry
from int8rt.reference.program import run_program

CASES = [  # (n, c, h, w), ONNX MaxPool attributes
    ((1, 3, 8, 12), {"kernel_shape": [2, 2], "strides": [2, 2]}),  # the fast path
    ((2, 2, 9, 7), {"kernel_shape": [2, 2], "strides": [2, 2]}),  # odd sizes: last row unused
    ((1, 4, 8, 6), {"kernel_shape": [2, 1], "strides": [2, 1]}),  # CRNN's last pool
    ((1, 2, 7, 9), {"kernel_shape": [3, 3], "strides": [2, 2], "pads": [1, 1, 1, 1]}),
    ((2, 3, 10, 10), {"kernel_shape": [3, 2], "strides": [1, 2], "dilations": [2, 1],
                      "pads": [2, 0, 1, 1]}),
    ((1, 1, 5, 5), {"kernel_shape": [5, 5], "pads": [2, 2, 2, 2]}),
]


def _program(x_shape, attrs) -> tuple[Program, dict]:
    g = pool_geometry(x_shape, attrs)
    params = {k: g[k] for k in ("n", "c", "h", "w", "oh", "ow", "kh", "kw", "stride_h",
                                "stride_w", "dil_h", "dil_w", "pad_t", "pad_l")}
    out = (g["n"], g["c"], g["oh"], g["ow"])
    bufs = {"x": Buffer("x", tuple(x_shape), "float32"), "y": Buffer("y", out, "float32")}
    return Program([Call("f32_maxpool", ["x"], ["y"], params, {}, node="mp")], bufs, ["x"],
                   ["y"]), params


@pytest.mark.parametrize("case", range(len(CASES)))
def test_native_equals_reference(case):
    shape, attrs = CASES[case]
    rng = np.random.default_rng(case)
    x = rng.standard_normal(shape).astype(np.float32)
    if x.shape[0] * x.shape[1] > 1:
        x[-1, -1] = -np.inf  # a plane of -inf: every window's max is -inf
    # ties of signed zeros, infinities and NaN in the same windows (first of equals stays)
    x[0, 0, 0, :4] = [0.0, -0.0, -0.0, 0.0]
    x[0, 0, 1, :4] = [np.inf, -np.inf, np.nan, 1.0]
    program, _ = _program(shape, attrs)
    want = run_program(program, [x])[0]
    got = NativePlan(program).run([x])[0]
    assert got.shape == want.shape
    assert np.array_equal(got.view(np.uint32), want.view(np.uint32))  # bits: -0.0 and NaN too
    assert np.isnan(want).any()
    assert np.isneginf(want).any() or x.shape[0] * x.shape[1] == 1


def test_reference_equals_onnx_maxpool():
    from int8rt.reference.onnx_ops import OPS

    for shape, attrs in CASES:
        x = np.random.default_rng(1).standard_normal(shape).astype(np.float32)
        program, _ = _program(shape, attrs)
        assert np.array_equal(run_program(program, [x])[0], OPS["MaxPool"]([x], attrs)[0])


def test_plan_refuses_a_short_input():
    program, _params = _program((1, 2, 8, 8), {"kernel_shape": [2, 2], "strides": [2, 2]})
    program.calls[0].params["h"] = 9  # claims more input than the buffer holds
    with pytest.raises(Exception, match="input"):
        NativePlan(program)
