"""A MobileNetV2-shaped torch model (random weights) exported to ONNX, for end-to-end tests."""

from __future__ import annotations

import io

import pytest

torch = pytest.importorskip("torch")
nn = torch.nn


def _cbr(cin: int, cout: int, k: int = 3, s: int = 1, g: int = 1, act: bool = True):
    layers = [nn.Conv2d(cin, cout, k, s, k // 2, groups=g, bias=False), nn.BatchNorm2d(cout)]
    if act:
        layers.append(nn.ReLU6())
    return layers


class InvertedResidual(nn.Module):
    def __init__(self, cin: int, cout: int, s: int, t: int) -> None:
        super().__init__()
        hid = cin * t
        layers = [] if t == 1 else _cbr(cin, hid, 1)
        layers += _cbr(hid, hid, 3, s, hid) + _cbr(hid, cout, 1, act=False)
        self.body = nn.Sequential(*layers)
        self.res = s == 1 and cin == cout

    def forward(self, x):
        return x + self.body(x) if self.res else self.body(x)


def mobilenet_v2(width: float = 1.0, classes: int = 1000) -> nn.Module:
    cfg = [(1, 16, 1, 1), (6, 24, 2, 2), (6, 32, 3, 2), (6, 64, 4, 2), (6, 96, 3, 1),
           (6, 160, 3, 2), (6, 320, 1, 1)]
    c = int(32 * width)
    layers = _cbr(3, c, 3, 2)
    for t, co, n, s in cfg:
        co = int(co * width)
        for i in range(n):
            layers.append(InvertedResidual(c, co, s if i == 0 else 1, t))
            c = co
    layers += _cbr(c, 1280, 1)
    model = nn.Sequential(*layers, nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(1280, classes))
    torch.manual_seed(0)
    for m in model.modules():
        if isinstance(m, nn.BatchNorm2d):  # non-trivial statistics so folding is exercised
            m.running_mean.uniform_(-0.5, 0.5)
            m.running_var.uniform_(0.5, 2.0)
            m.weight.data.uniform_(0.5, 1.5)
            m.bias.data.uniform_(-0.2, 0.2)
    return model.eval()


def export(model: nn.Module, shape: tuple[int, ...], opset: int = 13, dynamic_batch=True) -> bytes:
    buf = io.BytesIO()
    kw = {"dynamic_axes": {"x": {0: "N"}, "y": {0: "N"}}} if dynamic_batch else {}
    torch.onnx.export(model, torch.zeros(shape), buf, input_names=["x"], output_names=["y"],
                      opset_version=opset, dynamo=False, **kw)
    return buf.getvalue()
