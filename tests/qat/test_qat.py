"""int8rt.qat: the fake quantization is int8rt's arithmetic, and a trained QAT model deploys
to int8rt with the same predictions."""

from __future__ import annotations

import numpy as np
import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("onnx")
from torch import nn

import int8rt
from int8rt import qat
from int8rt.quant import params
from tests.models.digits import load_digits_test

RNG = np.random.default_rng(3)


def test_fake_quant_act_is_int8rt_quantize() -> None:
    x = (RNG.standard_normal(5000) * 3).astype(np.float32)
    x[:4] = [np.float32(0.5) * 0.037, 1e9, -1e9, 0.0]
    qp = params.activation_qparams(-2.0, 5.0)
    s, z = qp.scalar()
    want = params.dequantize_array(params.quantize_array(x, qp), qp)
    got = qat.fake_quant_act(torch.from_numpy(x), s, z).numpy()
    np.testing.assert_array_equal(got, want)


@pytest.mark.parametrize("bits", [8, 4])
def test_fake_quant_weight_is_int8rt_weights(bits) -> None:
    w = RNG.standard_normal((6, 3, 3, 3)).astype(np.float32)
    qp = params.weight_qparams(w, bits=bits)
    q = params.quantize_weights(w, qp, bits=bits)
    want = (q.astype(np.float64) * qp.scale.astype(np.float64).reshape(-1, 1, 1, 1))
    got, scales = qat.fake_quant_weight(torch.from_numpy(w), bits)
    np.testing.assert_array_equal(scales, qp.scale)
    np.testing.assert_array_equal(got.detach().numpy(), want.astype(np.float32))


def test_straight_through_gradient() -> None:
    x = torch.tensor([-10.0, -0.3, 0.0, 0.4, 10.0], requires_grad=True)
    qat.fake_quant_act(x, 0.01, 0).sum().backward()  # range [-1.28, 1.27]: ends clamp
    np.testing.assert_array_equal(x.grad.numpy(), [0, 1, 1, 1, 0])


def _net() -> nn.Sequential:
    return nn.Sequential(nn.Conv2d(1, 8, 3, padding=1), nn.BatchNorm2d(8), nn.ReLU(),
                         nn.Conv2d(8, 8, 3, padding=1, groups=8), nn.ReLU6(), nn.MaxPool2d(2),
                         nn.Conv2d(8, 16, 1), nn.ReLU(), nn.AdaptiveAvgPool2d(1), nn.Flatten(),
                         nn.Linear(16, 10))


def _fit(model: nn.Module, x, y, steps: int, lr: float) -> None:
    opt = torch.optim.Adam(model.parameters(), lr=lr)
    model.train()
    for _ in range(steps):
        loss = nn.functional.cross_entropy(model(x), y)
        opt.zero_grad()
        loss.backward()
        opt.step()
    model.eval()


@pytest.mark.parametrize("bits", [8, 4])
def test_qat_model_deploys_with_same_predictions(tmp_path, bits) -> None:
    d = load_digits_test()
    torch.manual_seed(0)
    x, y = torch.from_numpy(d.x_calib), torch.from_numpy(d.y_calib)
    net = _net()
    _fit(net, x, y, 40, 1e-2)
    q = qat.prepare_qat(net, weight_bits=bits)
    _fit(q, x, y, 10, 1e-3)
    with torch.no_grad():
        sim = q(torch.from_numpy(d.x_test)).numpy()
    path = tmp_path / "qat.onnx"
    qat.export_onnx(q, path, x[:1])
    qm = int8rt.quantize(str(path))
    deployed = int8rt.Session(qm).run(None, {"input": d.x_test})[0]
    agree = np.mean(sim.argmax(1) == deployed.argmax(1))
    print(f"\n{bits}-bit QAT: torch {np.mean(sim.argmax(1) == d.y_test):.2%}, int8rt "
          f"{np.mean(deployed.argmax(1) == d.y_test):.2%}, same predictions {agree:.2%}, max "
          f"logit diff {np.abs(sim - deployed).max():.3g}")
    assert agree == 1.0
    # the deployed weights are the trained integers: within +-(2^(bits-1) - 1)
    qmax = 2 ** (bits - 1) - 1
    for n in qm.graph.nodes:
        if n.op in ("Conv", "Gemm"):
            assert np.abs(qm.graph.tensor(n.inputs[1]).data.astype(int)).max() <= qmax


def test_batchnorm_is_folded() -> None:
    torch.manual_seed(1)
    net = nn.Sequential(nn.Conv2d(1, 4, 3, padding=1), nn.BatchNorm2d(4), nn.Flatten(),
                        nn.Linear(256, 3))
    net[1].running_mean.uniform_(-1, 1)
    net[1].running_var.uniform_(0.5, 2)
    net.eval()
    q = qat.prepare_qat(net)
    conv = q.layers[0]
    x = torch.randn(2, 1, 8, 8)
    want = net[1](net[0](x))
    got = nn.functional.conv2d(x, conv.weight, conv.bias, padding=1)
    torch.testing.assert_close(got, want, rtol=1e-5, atol=1e-5)


def test_unsupported_layer_named() -> None:
    with pytest.raises(TypeError, match="LSTM"):
        qat.prepare_qat(nn.Sequential(nn.LSTM(3, 3)))
