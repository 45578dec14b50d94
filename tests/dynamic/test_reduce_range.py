"""`reduce_range=True` (ONNX Runtime's option): dynamic-int8 weights in [-64, 64], which the
avx2 path runs on the vpmaddubsw tiles (avx2ubs, chosen when the weights are packed). The
option end to end: API and CLI, the file round trip, every Linear's weights at the 7-bit
bound, the session equal to the numpy reference on each path, close to float."""

from __future__ import annotations

import numpy as np
import pytest

import int8rt
from int8rt import _native

torch = pytest.importorskip("torch")
onnx = pytest.importorskip("onnx")

from .test_transformer_graphs import cos, export, feeds


@pytest.fixture(scope="module")
def model():
    return onnx.load_from_string(export(17))


@pytest.fixture(scope="module")
def rr_model(model):
    return int8rt.quantize(model, mode="dynamic", reduce_range=True)


def linear_weights(graph):
    return [(n, graph.const(n.inputs[1]), graph.const(n.inputs[2]))
            for n in graph.nodes if n.op == "DynQLinear"]


def test_weights_at_the_7bit_bound(model, rr_model):
    full = {n.name: (q, s) for n, q, s in linear_weights(int8rt.quantize(model, mode="dynamic")
                                                         .graph)}
    lins = linear_weights(rr_model.graph)
    assert lins and set(full) == {n.name for n, _, _ in lins}
    for n, q, s in lins:
        assert q.dtype == np.int8 and np.abs(q).max(axis=1).tolist() == [64] * q.shape[0], n.name
        q8, s8 = full[n.name]
        assert np.abs(q8).max() == 127
        # the same per-channel amax: s = amax / 64 instead of amax / 127
        np.testing.assert_allclose(s * 64, s8 * 127, rtol=1e-6)
    assert "reduce_range" in rr_model.graph.meta["weight_range"]


def test_session_equals_reference_on_each_path(rr_model, tmp_path):
    """Through the file, on the avx2 path (its panels on the avx2ubs tiles) and the CPU's best:
    the numpy reference of every op (float ops such as attention round differently, hence
    the tolerance), and close to the float model."""
    from int8rt.dynamic.specialize import evaluate

    rr_model.save(tmp_path / "m.i8")
    g = int8rt.Session(str(tmp_path / "m.i8")).graph
    paths = [p for p in ("avx2", _native.isa()) if p in _native.available_isas()]
    before = _native.isa()
    outs = {}
    try:
        for p in dict.fromkeys(paths):
            _native.set_isa(p)
            if p == "avx2":
                names = {_native.dynq_kernel(_native.dynq_pack(q, s), q.shape[0], q.shape[1])
                         for _, q, s in linear_weights(g)}
                assert names == {"avx2ubs"}
            sess = int8rt.Session(str(tmp_path / "m.i8"), threads=1)
            f = feeds(2, 11, seed=3)
            (outs[p],) = sess.run(None, f)
            r = evaluate(g, f)[g.outputs[0]]
            np.testing.assert_allclose(outs[p], r, rtol=1e-4, atol=1e-5)
    finally:
        _native.set_isa(before)
    flt = int8rt.Session(int8rt.quantize(onnx.load_from_string(export(17)), mode="float").graph)
    for b, s in ((1, 8), (3, 21)):
        f = feeds(b, s, seed=s)
        assert cos(int8rt.Session(rr_model).run(None, f)[0], flt.run(None, f)[0]).min() >= 0.99


def test_cli_reduce_range(tmp_path):
    from int8rt import cli

    src = tmp_path / "m.onnx"
    src.write_bytes(export(17))
    out = tmp_path / "m.i8"
    assert cli.main(["quantize", str(src), "--dynamic", "--reduce-range", "-o", str(out)]) == 0
    g = int8rt.Session(str(out)).graph
    assert all(np.abs(q).max() == 64 for _, q, _ in linear_weights(g))
    (y,) = int8rt.Session(str(out)).run(None, feeds(2, 9))
    assert y.shape == (2, 64) and np.isfinite(y).all()
    try:  # static mode has no such option: refused, not ignored
        code = cli.main(["quantize", str(src), "--reduce-range", "-o", str(tmp_path / "s.i8")])
    except (ValueError, SystemExit) as e:
        assert "reduce-range" in str(e)
    else:
        assert code != 0
    assert not (tmp_path / "s.i8").exists()


def test_bad_reduce_range(model):
    with pytest.raises(TypeError, match="reduce_range"):
        int8rt.quantize(model, mode="dynamic", reduce_range="yes")
