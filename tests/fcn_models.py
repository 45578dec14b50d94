"""Fully convolutional torch models exported with symbolic N / H / W (tests/test_image_size.py,
bench/shapes.py --image): a small detector (stem conv s2, depthwise + pointwise residual, two
stride-2 convs, an FPN neck that upsamples the deep map to the size of the skip (F.interpolate
with size=skip.shape[-2:], exported as Shape -> Gather -> Concat -> Resize sizes) and concats
it, a x2 scale upsample, two heads and optionally a global pool), plus graphs that keep their
image size for a reason."""

from __future__ import annotations

import io

import numpy as np

QUANT_HW = 64  # the image size the models are calibrated and quantized at


def _torch():
    import torch

    return torch, torch.nn, torch.nn.functional


def detector(pool: bool = True, mode: str = "nearest", seed: int = 0, width: int = 1):
    """width multiplies every channel count (the tests use 1; bench/shapes.py --image 4)."""
    torch, nn, Fn = _torch()
    c1, c2 = 8 * width, 16 * width

    class Detector(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.stem = nn.Conv2d(3, c1, 3, 2, 1)
            self.dw = nn.Conv2d(c1, c1, 3, 1, 1, groups=c1)
            self.pw = nn.Conv2d(c1, c1, 1)
            self.down = nn.Conv2d(c1, c2, 3, 2, 1)
            self.down2 = nn.Conv2d(c2, c2, 3, 2, 1)
            self.lat = nn.Conv2d(c2, c1, 1)
            self.lat2 = nn.Conv2d(c2, c1, 1)
            self.head = nn.Conv2d(c2, 6, 3, 1, 1)
            self.head2 = nn.Conv2d(c2, 4, 1)

        def forward(self, x):
            a = Fn.relu(self.stem(x))
            a = a + Fn.relu(self.pw(Fn.relu(self.dw(a))))  # residual add
            b = Fn.relu(self.down(a))
            c = Fn.relu(self.down2(b))
            kw = {} if mode == "nearest" else {"align_corners": False}
            up = Fn.interpolate(self.lat(c), size=b.shape[-2:], mode=mode, **kw)
            p = torch.cat([up, Fn.relu(self.lat2(b))], 1)
            up2 = Fn.interpolate(p, scale_factor=2, mode=mode, **kw)
            outs = (self.head(p), self.head2(up2))
            return outs + (Fn.adaptive_avg_pool2d(c, 1),) if pool else outs

    torch.manual_seed(seed)
    return Detector().eval()


def valid_convs():
    """Unpadded 5x5 and 3x3 convs: the smallest image is 7 x 7."""
    torch, nn, Fn = _torch()

    class Valid(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.a, self.b = nn.Conv2d(3, 8, 5), nn.Conv2d(8, 4, 3)

        def forward(self, x):
            return self.b(Fn.relu(self.a(x)))

    torch.manual_seed(1)
    return Valid().eval()


def classifier():
    """Conv then flatten + Linear: the Linear needs the import size."""
    torch, nn, Fn = _torch()

    class Classifier(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.c = nn.Conv2d(3, 4, 3, 4, 1)
            self.fc = nn.Linear(4 * 16 * 16, 5)

        def forward(self, x):
            return self.fc(torch.flatten(Fn.relu(self.c(x)), 1))

    torch.manual_seed(2)
    return Classifier().eval()


def ceil_pool():
    """A ceil_mode max pool: its pads were resolved for the import size."""
    torch, nn, Fn = _torch()

    class CeilPool(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.c = nn.Conv2d(3, 4, 3, 1, 1)

        def forward(self, x):
            return Fn.max_pool2d(Fn.relu(self.c(x)), 3, 2, ceil_mode=True)

    torch.manual_seed(3)
    return CeilPool().eval()


def export(model, n_outputs: int, opset: int = 13) -> bytes:
    """ONNX bytes with input x [N, 3, H, W], every one of N / H / W symbolic."""
    torch, _, _ = _torch()
    buf = io.BytesIO()
    outs = [f"y{k}" for k in range(n_outputs)]
    torch.onnx.export(model, torch.zeros(1, 3, QUANT_HW, QUANT_HW), buf, input_names=["x"],
                      output_names=outs, opset_version=opset, dynamo=False,
                      dynamic_axes={"x": {0: "N", 2: "H", 3: "W"},
                                    **{o: {0: "N"} for o in outs}})
    return buf.getvalue()


def quantized(onnx_bytes: bytes, seed: int = 0):
    """The model quantized at 1 x 3 x 64 x 64 (H / W pinned for calibration only)."""
    import int8rt

    rng = np.random.default_rng(seed)
    calib = [rng.standard_normal((1, 3, QUANT_HW, QUANT_HW)).astype(np.float32)
             for _ in range(4)]
    return int8rt.quantize(onnx_bytes, calib, progress=False,
                           input_shapes={"x": (1, 3, QUANT_HW, QUANT_HW)})
