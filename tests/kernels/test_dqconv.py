"""The dq_conv record (dynamic-int8 convolution on the ONNX-layout path, csrc/kernels/dqconv)
equals its numpy reference exactly on every ISA path, with static and per-image activation
scales. No onnx / onnxruntime / torch: it runs in the Pi chroots too (tools/arm/chroot.sh)."""

from __future__ import annotations

import numpy as np
import pytest

from int8rt.reference.dqconv import quantize_conv_weight
from int8rt.reference.onnx_ops import OPS
from tests.dynamic.helpers import run_op

CONV_CASES = [  # (n, c, h, w), (m, kh, kw), attrs
    ((1, 1, 8, 12), (4, 3, 3), {"pads": [1, 1, 1, 1]}),
    ((2, 3, 9, 7), (5, 3, 2), {"strides": [2, 1], "pads": [1, 0, 2, 1]}),
    ((1, 4, 10, 10), (3, 3, 3), {"dilations": [2, 2], "pads": [2, 2, 2, 2], "strides": [1, 2]}),
    ((2, 6, 5, 6), (7, 1, 1), {}),
    ((1, 2, 6, 9), (3, 5, 3), {"auto_pad": "SAME_UPPER"}),
]


def _conv_case(xs, ws, seed):
    rng = np.random.default_rng(seed)
    x = rng.standard_normal(xs).astype(np.float32)
    w = (rng.standard_normal((ws[0], xs[1], ws[1], ws[2])) * 0.3).astype(np.float32)
    b = rng.standard_normal(ws[0]).astype(np.float32)
    return x, w, b


@pytest.mark.parametrize("case", range(len(CONV_CASES)))
@pytest.mark.parametrize("amax", [0.0, 1.5, 100.0, 127.0])
def test_dq_conv_native_equals_reference(path, case, amax):
    xs, ws, attrs = CONV_CASES[case]
    x, w, b = _conv_case(xs, ws, case)
    x[0, 0, 0, 0] = 3.0  # beyond the static range 1.5: clamped to 127
    if amax == 127.0:  # scale 1: exact .5 ties, rounded to even, and the clamp edges
        x.flat[1:11] = [0.5, 1.5, 2.5, -0.5, -1.5, -2.5, 126.5, -126.5, 127.5, -300.0]
    if xs[0] > 1:
        x[1] = 0.0  # an all-zero image (dynamic scale 1, q = 0)
    q, s = quantize_conv_weight(w)
    q[0].flat[0] = 127
    q[-1].flat[-1] = -127
    attrs = {**attrs, "amax": amax} if amax else attrs
    for consts, order in (({"q": q, "s": s, "b": b}, ["x", "q", "s", "b"]),
                          ({"q": q, "s": s}, ["x", "q", "s"])):
        (got,) = run_op("DynQConv", {"x": x}, consts, order, attrs)
        (ref,) = OPS["DynQConv"]([x, *(consts[k] for k in order[1:])], attrs)
        assert got.shape == ref.shape
        assert np.array_equal(got, ref)
    assert np.abs(got).max() > 0.1
