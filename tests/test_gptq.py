"""GPTQ for weight-only int4 (int8rt/quant/gptq.py): on inputs with correlated channels and a
few large ones, the layer's output error ||X W − X Ŵ|| is below round-to-nearest's with the
same grid (the point of the method), the result is the ordinary int4 format (codes in range,
scales and zero points per group), and a model quantized with calibration data runs."""

from __future__ import annotations

import numpy as np
import pytest

from int8rt.quant.gptq import gptq_int4
from int8rt.reference.dynq import quantize_weight_groups, wo_dequantize

F32 = np.float32


def layer(k=128, n=24, tokens=600, seed=0):
    rng = np.random.default_rng(seed)
    mix = rng.standard_normal((k, k)) * 0.3 + np.eye(k)  # correlated channels
    x = rng.standard_normal((tokens, k)) @ mix
    x[:, :3] *= 8.0  # a few large channels (as after a LayerNorm with large gammas)
    w = (rng.standard_normal((k, n)) * 0.05).astype(F32)
    return x.astype(F32), w


@pytest.mark.parametrize("symmetric", [True, False], ids=["sym", "asym"])
def test_gptq_output_error_below_round_to_nearest(symmetric):
    x, w = layer()
    h = x.astype(np.float64).T @ x / x.shape[0]
    out = gptq_int4(w, h, 32, symmetric=symmetric)
    rtn = quantize_weight_groups(w, 4, 32, symmetric=symmetric)
    k = w.shape[0]
    zp_g = None if symmetric else out[2]
    zp_r = None if symmetric else rtn[2]
    wg = wo_dequantize(out[0], out[1], 4, 32, k, zp_g).T
    wr = wo_dequantize(rtn[0], rtn[1], 4, 32, k, zp_r).T
    y = x @ w
    err_g = np.linalg.norm(x @ wg - y)
    err_r = np.linalg.norm(x @ wr - y)
    assert err_g < 0.9 * err_r, (err_g, err_r)
    assert out[0].dtype == np.uint8 and out[0].shape == (w.shape[1], k // 2)
    assert out[1].shape == (w.shape[1], k // 32) and (out[1] > 0).all()
    if not symmetric:
        assert out[2].dtype == np.uint8 and out[2].max() <= 15


def test_gptq_dead_channels_and_bad_group():
    x, w = layer(k=64, n=8)
    x[:, 5] = 0.0  # never active: quantized as zero
    h = x.astype(np.float64).T @ x / x.shape[0]
    q, s, z = gptq_int4(w, h, 32, symmetric=False)
    deq = wo_dequantize(q, s, 4, 32, 64, z)
    assert np.all(deq[:, 5] == 0)
    with pytest.raises(ValueError, match="multiple"):
        gptq_int4(w[:48], h[:48, :48], 32)


def test_calibration_only_for_weight_only_int4():
    from int8rt import ir
    from int8rt.quant.dynamic import quantize_weights

    g = ir.Graph([], {}, [], [], meta={"layout": "onnx"})
    with pytest.raises(ValueError, match="int4"):
        quantize_weights(g, "weight_only", bits=8, group=32, calibration=[{}])
    with pytest.raises(ValueError, match="int4"):
        quantize_weights(g, "dynamic", calibration=[{}])
