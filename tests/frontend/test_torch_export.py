"""A torch.onnx-exported model mixing the exporter's real patterns (shape subgraphs, Resize
with computed sizes, reflect Pad, ConvTranspose, hardswish/silu, view-flatten of an NHWC
tensor) against torch itself."""

from __future__ import annotations

import io

import numpy as np
import pytest

torch = pytest.importorskip("torch")
onnx = pytest.importorskip("onnx")

from int8rt.frontend.onnx import import_onnx
from int8rt.reference.float_executor import FloatExecutor

nn, Fn = torch.nn, torch.nn.functional


class Mix(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.c1, self.bn = nn.Conv2d(3, 8, 3, 2, 1), nn.BatchNorm2d(8)
        self.up = nn.ConvTranspose2d(8, 4, 4, 2, 1)
        self.c2 = nn.Conv2d(12, 6, 3, padding=1)
        self.fc = nn.Linear(72, 10)

    def forward(self, x):
        a = Fn.hardswish(self.bn(self.c1(x)))
        b = Fn.silu(self.up(a))
        c = torch.cat([b, Fn.interpolate(a, scale_factor=2, mode="nearest")], 1)
        c = Fn.leaky_relu(self.c2(Fn.pad(c, (1, 0, 0, 1), mode="reflect")), 0.1)
        c = Fn.interpolate(c, size=(5, 5), mode="bilinear", align_corners=False)
        c = Fn.max_pool2d(c, 2, 1, ceil_mode=True)[:, :, 1:, :]
        f = c.reshape(c.size(0), -1)
        return torch.softmax(self.fc(f), dim=1) + torch.sigmoid(f[:, 3:4] * 2)


@pytest.mark.parametrize("opset", [11, 17])
def test_torch_mix(opset):
    torch.manual_seed(0)
    m = Mix().eval()
    with torch.no_grad():
        m.bn.running_mean.uniform_(-1, 1)
        m.bn.running_var.uniform_(0.5, 2)
    x = torch.randn(3, 3, 16, 16)
    buf = io.BytesIO()
    torch.onnx.export(m, x[:1], buf, input_names=["x"], output_names=["y"],
                      opset_version=opset, dynamo=False, dynamic_axes={"x": {0: "N"}})
    g = import_onnx(onnx.load_from_string(buf.getvalue()))
    ops = [n.op for n in g.nodes]
    assert "HardSwish" in ops and "Silu" in ops and "BatchNormalization" not in ops
    with torch.no_grad():
        want = m(x).numpy()
    got = FloatExecutor(g).run({"x": x.numpy()})["y"]
    np.testing.assert_allclose(got, want, rtol=1e-4, atol=1e-5)
