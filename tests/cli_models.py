"""Small ONNX models for the CLI tests, built with torch (tests/models/export.py's exporter).

`lcnet`: an orientation-classifier-style network (PP-LCNet's shape: a stride-2 stem, depthwise
3x3 / pointwise 1x1 blocks with HardSwish, a squeeze-excite block with HardSigmoid, global
average pooling, a 1x1 "head" conv and a 4-way classifier): 71 ONNX nodes (torch export, batch
norm folded).
Weights are seeded random with batch-norm statistics that make the activations reasonable, and
the classifier is centred on natural images so that every class occurs.
"""

from __future__ import annotations

import os
import warnings
from pathlib import Path

import numpy as np


def _torch_modules():
    import torch
    from torch import nn

    class DWBlock(nn.Module):
        def __init__(self, cin: int, cout: int, stride: int, se: bool = False) -> None:
            super().__init__()
            self.dw = nn.Sequential(nn.Conv2d(cin, cin, 3, stride, 1, groups=cin, bias=False),
                                    nn.BatchNorm2d(cin), nn.Hardswish())
            self.se = None
            if se:
                self.se = nn.Sequential(nn.AdaptiveAvgPool2d(1), nn.Conv2d(cin, cin // 4, 1),
                                        nn.ReLU(), nn.Conv2d(cin // 4, cin, 1), nn.Hardsigmoid())
            self.pw = nn.Sequential(nn.Conv2d(cin, cout, 1, bias=False), nn.BatchNorm2d(cout),
                                    nn.Hardswish())

        def forward(self, x):
            x = self.dw(x)
            if self.se is not None:
                x = x * self.se(x)
            return self.pw(x)

    class LCNet(nn.Module):
        def __init__(self, width: float = 1.0, classes: int = 4) -> None:
            super().__init__()

            def c(n: int) -> int:
                return max(8, int(n * width) // 8 * 8)

            # PP-LCNet's 13 depthwise blocks, squeeze-excite in the last two
            cfg = [(16, 32, 1), (32, 64, 2), (64, 64, 1), (64, 128, 2), (128, 128, 1),
                   (128, 256, 2)] + [(256, 256, 1)] * 5 + [(256, 512, 2), (512, 512, 1)]
            self.stem = nn.Sequential(nn.Conv2d(3, c(16), 3, 2, 1, bias=False),
                                      nn.BatchNorm2d(c(16)), nn.Hardswish())
            self.blocks = nn.Sequential(*[DWBlock(c(a), c(b), s, se=(i >= len(cfg) - 2))
                                          for i, (a, b, s) in enumerate(cfg)])
            self.pool = nn.AdaptiveAvgPool2d(1)
            self.head = nn.Sequential(nn.Conv2d(c(512), 256, 1), nn.Hardswish())
            self.fc = nn.Linear(256, classes)

        def forward(self, x):
            x = self.head(self.pool(self.blocks(self.stem(x))))
            return self.fc(torch.flatten(x, 1))

    return torch, nn, LCNet


def lcnet_onnx(path: str | os.PathLike, shape: tuple[int, int, int, int] = (1, 3, 48, 192),
               width: float = 0.5, seed: int = 0, dynamic_batch: bool = True,
               center_on: np.ndarray | None = None) -> Path:
    """Export the orientation-classifier-style model; input "x" (batch symbolic when
    `dynamic_batch`), output "y"."""
    import onnx

    torch, nn, LCNet = _torch_modules()
    torch.manual_seed(seed)
    model = LCNet(width).eval()
    rng = np.random.default_rng(seed)
    for m in model.modules():
        if isinstance(m, nn.BatchNorm2d):
            n = m.num_features
            m.running_mean.copy_(torch.from_numpy(rng.normal(0, 0.1, n).astype(np.float32)))
            m.running_var.copy_(torch.from_numpy(rng.uniform(0.5, 2, n).astype(np.float32)))
            m.weight.data.copy_(torch.from_numpy(rng.uniform(0.5, 1.5, n).astype(np.float32)))
    # Centre and scale the classifier on `center_on` (default: natural images) so that the four
    # classes all occur (a random head picks one class for every input: agreement says nothing)
    from tests.models.images import sample_images

    h, w = shape[2], shape[3]
    if center_on is None:
        center_on = sample_images(32, max(h, w), seed=seed + 100)[:, :, :h, :w]
    imgs = torch.from_numpy(np.ascontiguousarray(center_on, np.float32))
    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # one summation order: the same head whatever ran before
    # batch-norm statistics from these images (a random deep net otherwise maps every input
    # to nearly the same features, and the classes would be decided by rounding noise)
    for m in model.modules():
        if isinstance(m, nn.BatchNorm2d):
            m.reset_running_stats()
            m.momentum = None  # cumulative average over the passes below
    model.train()
    with torch.no_grad():
        model(imgs)
    model.eval()
    with torch.no_grad():
        feats = torch.flatten(model.head(model.pool(model.blocks(model.stem(imgs)))), 1)
        logits = feats @ model.fc.weight.T
        mu, sd = logits.mean(0), logits.std(0) + 1e-6
        model.fc.weight.div_(sd[:, None])
        model.fc.bias.copy_(-mu / sd)
    torch.set_num_threads(threads)
    path = Path(path)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        torch.onnx.export(model, (torch.zeros(shape),), str(path), dynamo=False,
                          opset_version=17, input_names=["x"], output_names=["y"],
                          dynamic_axes={"x": {0: "batch"}} if dynamic_batch else None,
                          do_constant_folding=True)
    onnx.checker.check_model(str(path))
    return path


def write_images(folder: str | os.PathLike, n: int, seed: int = 0) -> Path:
    """`n` natural photos (scikit-image's bundled samples, random crops) as PNG files of
    varied sizes, the way a user points --calib at a folder."""
    from PIL import Image

    from tests.models.images import IMAGENET_MEAN, IMAGENET_STD, sample_images

    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    imgs = sample_images(n, 96, seed=seed).transpose(0, 2, 3, 1) * IMAGENET_STD + IMAGENET_MEAN
    for i, a in enumerate(imgs):
        img = Image.fromarray((np.clip(a, 0, 1) * 255).astype(np.uint8))
        img = img.resize((96 + 16 * (i % 4), 96 + 8 * (i % 3)))
        img.save(folder / f"img{i:03d}.{'png' if i % 2 else 'jpg'}")
    return folder


def small_cnn_onnx(path: str | os.PathLike, shape: tuple[int, int, int, int] = (1, 3, 64, 64),
                   symbolic: dict[int, str] | None = None, seed: int = 0) -> Path:
    """Two stride-2 convs, global pooling and a 4-way classifier; input "x", output "y".
    `symbolic` names the input dims exported as symbolic ({0: "batch"} by default)."""
    import onnx

    torch, nn, _ = _torch_modules()
    torch.manual_seed(seed)
    model = nn.Sequential(nn.Conv2d(shape[1], 8, 3, 2, 1), nn.ReLU(), nn.Conv2d(8, 16, 3, 2, 1),
                          nn.ReLU(), nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(16, 4))
    path = Path(path)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        torch.onnx.export(model.eval(), (torch.zeros(shape),), str(path), dynamo=False,
                          opset_version=17, input_names=["x"], output_names=["y"],
                          dynamic_axes={"x": symbolic if symbolic is not None else {0: "batch"}})
    onnx.checker.check_model(str(path))
    return path


def two_input_onnx(path: str | os.PathLike) -> Path:
    """y = conv(x) + conv(z), x and z [N, 3, 16, 16] (the batch symbolic)."""
    torch, nn, _ = _torch_modules()
    torch.manual_seed(0)

    class Two(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.conv = nn.Conv2d(3, 4, 3, 1, 1)

        def forward(self, x, z):
            return self.conv(x) + self.conv(z)

    path = Path(path)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        torch.onnx.export(Two().eval(), (torch.zeros(1, 3, 16, 16), torch.zeros(1, 3, 16, 16)),
                          str(path), dynamo=False, opset_version=17, input_names=["x", "z"],
                          output_names=["y"], dynamic_axes={"x": {0: "n"}, "z": {0: "n"}})
    return path
