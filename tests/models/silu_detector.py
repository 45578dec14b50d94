"""A small YOLOv8-style detector for the QDQ and task-accuracy tests: SiLU convs, a C2f-like
split / concat block, SPPF max pooling, a nearest-upsample + concat neck and a decoupled head
with a DFL box branch (Softmax over 16 bins, then a fixed 1x1 "expectation" conv) and sigmoid
class scores. Random seeded weights with BN statistics from real images (as torch_nets), so
its activations have realistic ranges. Two outputs: boxes [N, 4, A] and scores [N, C, A]."""

from __future__ import annotations

import numpy as np
import torch
from torch import nn


def _cbs(cin: int, cout: int, k: int = 3, s: int = 1) -> nn.Sequential:
    return nn.Sequential(nn.Conv2d(cin, cout, k, s, k // 2, bias=False), nn.BatchNorm2d(cout),
                         nn.SiLU())


class _C2f(nn.Module):
    def __init__(self, c: int) -> None:
        super().__init__()
        self.cv1 = _cbs(c, c, 1)
        self.m = nn.Sequential(_cbs(c // 2, c // 2), _cbs(c // 2, c // 2))
        self.cv2 = _cbs(c + c // 2, c, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        a, b = self.cv1(x).chunk(2, 1)
        return self.cv2(torch.cat([a, b, self.m(b)], 1))


class _SPPF(nn.Module):
    def __init__(self, c: int) -> None:
        super().__init__()
        self.cv1 = _cbs(c, c // 2, 1)
        self.pool = nn.MaxPool2d(5, 1, 2)
        self.cv2 = _cbs(c * 2, c, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.cv1(x)
        y1 = self.pool(x)
        y2 = self.pool(y1)
        return self.cv2(torch.cat([x, y1, y2, self.pool(y2)], 1))


class SiluDetector(nn.Module):
    REG = 16  # DFL bins

    def __init__(self, classes: int = 8) -> None:
        super().__init__()
        self.stem = nn.Sequential(_cbs(3, 16, 3, 2), _cbs(16, 32, 3, 2), _C2f(32))
        self.down = nn.Sequential(_cbs(32, 64, 3, 2), _C2f(64), _SPPF(64))
        self.up = nn.Upsample(scale_factor=2, mode="nearest")
        self.neck = _cbs(96, 32, 1)
        self.box = nn.Sequential(_cbs(32, 32), nn.Conv2d(32, 4 * self.REG, 1))
        self.cls = nn.Sequential(_cbs(32, 32), nn.Conv2d(32, classes, 1))
        self.dfl = nn.Conv2d(self.REG, 1, 1, bias=False)
        self.dfl.weight.data = torch.arange(self.REG, dtype=torch.float32).view(1, -1, 1, 1)
        self.dfl.requires_grad_(False)

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        p3 = self.stem(x)
        p4 = self.down(p3)
        f = self.neck(torch.cat([self.up(p4), p3], 1))
        n, _, h, w = f.shape
        a = h * w
        box = self.box(f).view(n, 4, self.REG, a).transpose(2, 1).softmax(1)
        box = self.dfl(box).view(n, 4, a)
        return box, self.cls(f).view(n, -1, a).sigmoid()


INPUT_SHAPE = (1, 3, 128, 128)


def build(seed: int = 0) -> nn.Module:
    from .images import sample_images
    from .torch_nets import _lowpass_init, _randomize_bn_affine, calibrate_bn

    torch.manual_seed(seed)
    model = SiluDetector()
    gen = torch.Generator().manual_seed(seed + 1)
    _lowpass_init(model, gen)
    model.dfl.weight.data = torch.arange(SiluDetector.REG, dtype=torch.float32).view(1, -1, 1, 1)
    _randomize_bn_affine(model, gen)
    calibrate_bn(model, sample_images(32, size=INPUT_SHAPE[-1], seed=1000))
    # class logits mostly negative (sparse detections, as a trained detector's are)
    model.cls[-1].bias.data -= 3.0
    return model.eval()


def export(path, seed: int = 0):
    """Export to ONNX (opset 17, static shapes); outputs "boxes" and "scores"."""
    import warnings

    import onnx

    model = build(seed)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        torch.onnx.export(model, (torch.zeros(INPUT_SHAPE),), str(path), dynamo=False,
                          opset_version=17, input_names=["input"],
                          output_names=["boxes", "scores"], do_constant_folding=True)
    onnx.checker.check_model(str(path))
    return path


def images(n: int, seed: int) -> np.ndarray:
    from .images import sample_images

    return sample_images(n, size=INPUT_SHAPE[-1], seed=seed)
