"""LSTM / GRU layers (the `rnn` plan record, csrc/kernels/rnn): native == numpy reference
exactly, the float reference == ONNX Runtime, dynamic int8 close to ONNX Runtime's fp32, and
bad graphs refused with a clear error. onnx / onnxruntime are imported by the tests that build
ONNX graphs, so the native == reference tests also run where they are not installed (the Pi
chroots of tools/arm/chroot.sh)."""

from __future__ import annotations

import numpy as np
import pytest

import int8rt
from int8rt.dynamic.lower import LoweringError
from int8rt.reference.onnx_ops import OPS
from int8rt.reference.rnn import quantize_rnn_weights
from tests.dynamic.helpers import run_op

DIRS = {"forward": 1, "reverse": 1, "bidirectional": 2}


def weights(cell, d, i, h, seed, scale=0.5):
    rng = np.random.default_rng(seed)
    g = 4 if cell == "LSTM" else 3
    w = (rng.standard_normal((d, g * h, i)) * scale).astype(np.float32)
    r = (rng.standard_normal((d, g * h, h)) * scale).astype(np.float32)
    b = (rng.standard_normal((d, 2 * g * h)) * 0.2).astype(np.float32)
    return w, r, b


def dynq_inputs(cell, x, w, r, b, lens=None, h0=None, c0=None):
    """inputs / consts / order of a DynQLSTM / DynQGRU node (as quant/dynamic.py makes it)."""
    qw, sw = quantize_rnn_weights(w)
    qr, sr = quantize_rnn_weights(r)
    inputs = {"x": x}
    consts = {"qw": qw, "sw": sw, "qr": qr, "sr": sr, "b": b}
    order = ["x", "qw", "sw", "qr", "sr", "b", "", "", ""]
    if lens is not None:
        consts["lens"] = lens
        order[6] = "lens"
    if h0 is not None:
        inputs["h0"] = h0
        order[7] = "h0"
    if c0 is not None and cell == "LSTM":
        inputs["c0"] = c0
        order[8] = "c0"
    while not order[-1]:
        order.pop()
    return inputs, consts, order


CASES = [  # cell, direction, T, B, I, H, lens?, init?, linear_before_reset
    ("LSTM", "forward", 5, 2, 3, 4, False, False, 0),
    ("LSTM", "reverse", 6, 3, 5, 8, True, True, 0),
    ("LSTM", "bidirectional", 9, 4, 7, 16, True, True, 0),
    ("LSTM", "bidirectional", 1, 1, 1, 1, False, False, 0),
    ("GRU", "forward", 7, 2, 3, 5, False, True, 1),
    ("GRU", "reverse", 5, 3, 4, 6, True, False, 0),
    ("GRU", "bidirectional", 8, 3, 6, 12, True, True, 1),
    ("GRU", "bidirectional", 4, 2, 5, 7, False, True, 0),
]


def _case(cell, direction, t, b, i, h, with_lens, with_init, seed, xscale=1.0):
    d = DIRS[direction]
    rng = np.random.default_rng(seed + 100)
    x = (rng.standard_normal((t, b, i)) * xscale).astype(np.float32)
    w, r, bias = weights(cell, d, i, h, seed)
    lens = rng.integers(1, t + 1, b).astype(np.int32) if with_lens else None
    if lens is not None:
        lens[0] = t
    h0 = rng.standard_normal((d, b, h)).astype(np.float32) if with_init else None
    c0 = rng.standard_normal((d, b, h)).astype(np.float32) if with_init else None
    return x, w, r, bias, lens, h0, c0


@pytest.mark.parametrize("case", CASES, ids=lambda c: "-".join(map(str, c)))
@pytest.mark.parametrize("xscale", [1.0, 1e4, 0.0])
def test_native_equals_reference(path, case, xscale):
    cell, direction, t, b, i, h, with_lens, with_init, lbr = case
    x, w, r, bias, lens, h0, c0 = _case(cell, direction, t, b, i, h, with_lens, with_init, 3,
                                        xscale)
    inputs, consts, order = dynq_inputs(cell, x, w, r, bias, lens, h0, c0)
    attrs = {"hidden_size": h, "direction": direction, "linear_before_reset": lbr}
    n_out = 3 if cell == "LSTM" else 2
    got = run_op("DynQ" + cell, inputs, consts, order, attrs, n_out)
    ref = OPS["DynQ" + cell]([{**inputs, **consts}.get(k) if k else None for k in order], attrs)
    assert len(got) == len(ref) == n_out
    for g_, r_ in zip(got, ref):
        assert g_.shape == r_.shape
        assert np.array_equal(g_, r_)
    if xscale == 1.0:
        assert np.abs(got[0]).max() > 0.05  # the layer did something


def test_native_equals_reference_batched_gemm_step(path):
    """batch >= 4 runs h·R through the gemm driver instead of the matrix-vector kernel: the
    same bits either way"""
    x, w, r, bias, lens, h0, c0 = _case("LSTM", "bidirectional", 5, 6, 7, 24, True, True, 11)
    inputs, consts, order = dynq_inputs("LSTM", x, w, r, bias, lens, h0, c0)
    attrs = {"hidden_size": 24, "direction": "bidirectional"}
    got = run_op("DynQLSTM", inputs, consts, order, attrs, 3)
    ref = OPS["DynQLSTM"]([{**inputs, **consts}.get(k) if k else None for k in order], attrs)
    for g_, r_ in zip(got, ref):
        assert np.array_equal(g_, r_)


@pytest.mark.parametrize("n,k", [(1, 1), (7, 5), (8, 4), (40, 33), (256, 64), (24, 130)])
def test_matvec_equals_dynq_reference(path, n, k):
    """the recurrent step's matrix-vector kernel (every path, tails in n and k, extremes:
    weights at +-127, an all-zero row, a row with one huge value, .5 ties after scaling)"""
    from int8rt._native import rnn_matvec
    from int8rt.reference.dynq import dynq_matmul

    rng = np.random.default_rng(n * 1000 + k)
    qw = rng.integers(-127, 128, (n, k)).astype(np.int8)
    qw[0, :] = 127
    qw[-1, ::2] = -127
    sw = (rng.random(n) * 0.01 + 1e-4).astype(np.float32)
    bias = rng.standard_normal(n).astype(np.float32)
    a = rng.standard_normal((5, k)).astype(np.float32)
    a[1] = 0.0
    a[2, 0] = 1e6
    a[3] = np.arange(k, dtype=np.float32) - k / 2  # many exact .5 ties after 127 / amax
    a[3, 0] = 127.0 if k > 1 else a[3, 0]
    for b in (bias, None):
        got = rnn_matvec(qw, sw, b, a)
        assert np.array_equal(got, dynq_matmul(a, qw, sw, b, True))


def test_gates_equal_reference_and_stay_near_libm(path):
    """sigma / tanh of the gate kernels: bit-identical with the numpy reference on every
    path, and within the documented absolute error of libm's double functions (gates.h)"""
    import math

    from int8rt._native import rnn_gate
    from int8rt.reference.rnn import sigmoid, tanh

    x = np.concatenate([np.linspace(-30, 30, 200003, dtype=np.float32),
                        np.float32([0.0, -0.0, 1e-30, -1e-30, 88.0, -88.0, 100.0, -100.0,
                                    1e30, -1e30, np.inf, -np.inf])])
    for which, ref, exact in ((0, sigmoid, lambda v: 1 / (1 + math.exp(-v)) if v > -700 else 0.0),
                              (1, tanh, math.tanh)):
        got = rnn_gate(which, x)
        assert np.array_equal(got, ref(x))
        libm = np.array([exact(float(v)) for v in x], np.float64)
        err = np.abs(got.astype(np.float64) - libm)
        assert err.max() <= (2e-7 if which == 0 else 3e-7), (which, err.max())
    assert np.isnan(rnn_gate(0, np.float32([np.nan]))).all()
    assert np.isnan(rnn_gate(1, np.float32([np.nan]))).all()


def onnx_rnn(cell, direction, h, x, w, r, b, lens, h0, c0, lbr):
    pytest.importorskip("onnx")
    from onnx import TensorProto, helper, numpy_helper

    d = DIRS[direction]
    t, bsz, _ = x.shape
    inits = [numpy_helper.from_array(a, n) for a, n in ((w, "W"), (r, "R"), (b, "B"))]
    names = ["x", "W", "R", "B", "", "", ""]
    feeds = {"x": x}
    inputs = [helper.make_tensor_value_info("x", TensorProto.FLOAT, list(x.shape))]
    if lens is not None:
        inits.append(numpy_helper.from_array(lens, "lens"))
        names[4] = "lens"
    for k, (a, n) in enumerate(((h0, "h0"), (c0, "c0"))):
        if a is not None and (n == "h0" or cell == "LSTM"):
            inputs.append(helper.make_tensor_value_info(n, TensorProto.FLOAT, list(a.shape)))
            feeds[n] = a
            names[5 + k] = n
    while not names[-1]:
        names.pop()
    outs = ["y", "yh", "yc"][:3 if cell == "LSTM" else 2]
    attrs = {"hidden_size": h, "direction": direction}
    if cell == "GRU":
        attrs["linear_before_reset"] = lbr
    node = helper.make_node(cell, names, outs, name="rnn0", **attrs)
    out_info = [helper.make_tensor_value_info(o, TensorProto.FLOAT, None) for o in outs]
    g = helper.make_graph([node], "g", inputs, out_info, initializer=inits)
    model = helper.make_model(g, opset_imports=[helper.make_opsetid("", 17)])
    _ = (d, t, bsz)
    return model, feeds


@pytest.mark.parametrize("case", CASES, ids=lambda c: "-".join(map(str, c)))
def test_against_onnxruntime(case):
    ort = pytest.importorskip("onnxruntime")
    cell, direction, t, b, i, h, with_lens, with_init, lbr = case
    x, w, r, bias, lens, h0, c0 = _case(cell, direction, t, b, i, h, with_lens, with_init, 5)
    model, feeds = onnx_rnn(cell, direction, h, x, w, r, bias, lens, h0, c0, lbr)
    ref = ort.InferenceSession(model.SerializeToString(),
                               providers=["CPUExecutionProvider"]).run(None, feeds)
    # the float reference has ONNX Runtime's semantics (sequence_lens, reverse, states)
    flt = OPS[cell]([x, w, r, bias, lens, h0, c0 if cell == "LSTM" else None],
                    {"hidden_size": h, "direction": direction, "linear_before_reset": lbr})
    for a, e in zip(flt, ref):
        np.testing.assert_allclose(a, e, atol=2e-6)
    # dynamic int8 through the whole path: documented tolerance (docs/TRANSFORMERS.md)
    sess = int8rt.Session(int8rt.quantize(model, mode="dynamic").graph)
    got = sess.run(None, feeds)
    for a, e in zip(got, ref):
        assert a.shape == e.shape
        assert np.abs(a - e).max() < 0.05


def test_bad_graphs_are_refused():
    x, w, r, bias, _, _, _ = _case("LSTM", "forward", 4, 2, 3, 4, False, False, 1)
    model, feeds = onnx_rnn("LSTM", "forward", 4, x, w, r, bias, np.array([4, 0], np.int32),
                            None, None, 0)
    sess = int8rt.Session(int8rt.quantize(model, mode="dynamic").graph)
    with pytest.raises(LoweringError, match=r"sequence_lens must be \[2\] values in \[1, 4\]"):
        sess.run(None, feeds)
    model, feeds = onnx_rnn("LSTM", "forward", 4, x, w, r, bias, None, None, None, 0)
    with pytest.raises(LoweringError, match="float LSTM"):
        int8rt.Session(int8rt.quantize(model, mode="float").graph).run(None, feeds)
    from onnx import helper  # onnx_rnn skipped the test if it is missing

    model.graph.node[0].attribute.append(helper.make_attribute("layout", 1))
    with pytest.raises(ValueError, match="layout 1"):  # at load, when the weights are packed
        int8rt.Session(int8rt.quantize(model, mode="dynamic").graph)


def test_rnn_pack_checks_its_arrays():
    from int8rt._native import rnn_pack

    params = {"seq": 1, "batch": 1, "input": 3, "hidden": 4, "cell": 0, "dirs": 1,
              "reverse": 0, "linear_before_reset": 0, "has_h0": 0, "has_c0": 0, "has_lens": 0}
    q = np.zeros((1, 16, 3), np.int8)
    s = np.ones((1, 16), np.float32)
    with pytest.raises(ValueError, match="qr must be"):
        rnn_pack(params, q, s, q, s)
    with pytest.raises(ValueError, match="cell must be"):
        rnn_pack({**params, "cell": 2}, q, s, q, s)
