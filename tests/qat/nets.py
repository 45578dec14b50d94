"""Small versions of the architectures QAT must handle (issue 22): MobileNetV2-style inverted
residuals with ReLU6, ResNet-18-style basic blocks, and a YOLOv8n-style detector (Conv-BN-SiLU,
C2f with chunk + Concat, SPPF max pools, nearest Upsample, two-scale head). Same structure as
the full models, a few channels wide, so prepare + train + deploy takes seconds."""

from __future__ import annotations

import torch
from torch import nn


def conv_bn(cin: int, cout: int, k: int = 3, stride: int = 1, groups: int = 1,
            act: type[nn.Module] | None = nn.ReLU) -> nn.Sequential:
    layers: list[nn.Module] = [nn.Conv2d(cin, cout, k, stride, k // 2, groups=groups,
                                         bias=False), nn.BatchNorm2d(cout)]
    if act is not None:
        layers.append(act())
    return nn.Sequential(*layers)


class InvertedResidual(nn.Module):
    def __init__(self, cin: int, cout: int, stride: int, expand: int) -> None:
        super().__init__()
        hidden = cin * expand
        self.block = nn.Sequential(conv_bn(cin, hidden, 1, act=nn.ReLU6),
                                   conv_bn(hidden, hidden, 3, stride, hidden, act=nn.ReLU6),
                                   conv_bn(hidden, cout, 1, act=None))
        self.residual = stride == 1 and cin == cout

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = self.block(x)
        return x + y if self.residual else y


class TinyMobileNetV2(nn.Module):
    def __init__(self, num_classes: int = 10, cin: int = 3) -> None:
        super().__init__()
        self.features = nn.Sequential(
            conv_bn(cin, 8, 3, 2, act=nn.ReLU6), InvertedResidual(8, 8, 1, 1),
            InvertedResidual(8, 12, 2, 4), InvertedResidual(12, 12, 1, 4),
            InvertedResidual(12, 16, 2, 4), InvertedResidual(16, 16, 1, 4),
            conv_bn(16, 32, 1, act=nn.ReLU6))
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.dropout = nn.Dropout(0.1)
        self.classifier = nn.Linear(32, num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.pool(self.features(x))
        return self.classifier(self.dropout(torch.flatten(x, 1)))


class BasicBlock(nn.Module):
    def __init__(self, cin: int, cout: int, stride: int) -> None:
        super().__init__()
        self.conv1 = conv_bn(cin, cout, 3, stride)
        self.conv2 = conv_bn(cout, cout, 3, act=None)
        self.shortcut: nn.Module = nn.Identity()
        if stride != 1 or cin != cout:
            self.shortcut = conv_bn(cin, cout, 1, stride, act=None)
        self.relu = nn.ReLU(inplace=True)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.relu(self.conv2(self.conv1(x)) + self.shortcut(x))


class TinyResNet18(nn.Module):
    """ResNet-18's layout ([2, 2, 2, 2] basic blocks, max-pool stem) at width `w`."""

    def __init__(self, num_classes: int = 10, cin: int = 3, w: int = 8) -> None:
        super().__init__()
        self.stem = nn.Sequential(conv_bn(cin, w, 3), nn.MaxPool2d(3, 2, 1))
        blocks: list[nn.Module] = []
        c = w
        for cout, stride in ((w, 1), (2 * w, 2), (4 * w, 2), (8 * w, 2)):
            blocks += [BasicBlock(c, cout, stride), BasicBlock(cout, cout, 1)]
            c = cout
        self.layers = nn.Sequential(*blocks)
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.fc = nn.Linear(c, num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc(torch.flatten(self.pool(self.layers(self.stem(x))), 1))


def conv_silu(cin: int, cout: int, k: int = 3, stride: int = 1) -> nn.Sequential:
    return conv_bn(cin, cout, k, stride, act=nn.SiLU)


class Bottleneck(nn.Module):
    def __init__(self, c: int, shortcut: bool = True) -> None:
        super().__init__()
        self.cv1, self.cv2 = conv_silu(c, c), conv_silu(c, c)
        self.add = shortcut

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = self.cv2(self.cv1(x))
        return x + y if self.add else y


class C2f(nn.Module):
    def __init__(self, cin: int, cout: int, n: int = 1, shortcut: bool = True) -> None:
        super().__init__()
        self.c = cout // 2
        self.cv1 = conv_silu(cin, 2 * self.c, 1)
        self.cv2 = conv_silu((2 + n) * self.c, cout, 1)
        self.m = nn.ModuleList(Bottleneck(self.c, shortcut) for _ in range(n))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        parts = self.cv1(x).chunk(2, 1)  # indexed, not unpacked: torch.fx traces indexing
        y = [parts[0], parts[1]]
        for m in self.m:
            y.append(m(y[-1]))
        return self.cv2(torch.cat(y, 1))


class SPPF(nn.Module):
    def __init__(self, cin: int, cout: int) -> None:
        super().__init__()
        c = cin // 2
        self.cv1, self.cv2 = conv_silu(cin, c, 1), conv_silu(4 * c, cout, 1)
        self.m = nn.MaxPool2d(5, 1, 2)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.cv1(x)
        y1 = self.m(x)
        y2 = self.m(y1)
        return self.cv2(torch.cat([x, y1, y2, self.m(y2)], 1))


class TinyYOLOv8(nn.Module):
    """YOLOv8n's backbone / neck / head pattern at a few channels: strides 8 and 16."""

    def __init__(self, num_outputs: int = 6, cin: int = 3, w: int = 8) -> None:
        super().__init__()
        self.b0 = conv_silu(cin, w, 3, 2)
        self.b1 = conv_silu(w, 2 * w, 3, 2)
        self.b2 = C2f(2 * w, 2 * w)
        self.b3 = conv_silu(2 * w, 4 * w, 3, 2)
        self.b4 = C2f(4 * w, 4 * w)
        self.b5 = conv_silu(4 * w, 4 * w, 3, 2)
        self.sppf = SPPF(4 * w, 4 * w)
        self.up = nn.Upsample(scale_factor=2, mode="nearest")
        self.n1 = C2f(8 * w, 4 * w, shortcut=False)
        self.down = conv_silu(4 * w, 4 * w, 3, 2)
        self.n2 = C2f(8 * w, 4 * w, shortcut=False)
        self.head8 = nn.Sequential(conv_silu(4 * w, 2 * w), nn.Conv2d(2 * w, num_outputs, 1))
        self.head16 = nn.Sequential(conv_silu(4 * w, 2 * w), nn.Conv2d(2 * w, num_outputs, 1))

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        p3 = self.b4(self.b3(self.b2(self.b1(self.b0(x)))))
        p4 = self.sppf(self.b5(p3))
        n3 = self.n1(torch.cat([self.up(p4), p3], 1))
        n4 = self.n2(torch.cat([self.down(n3), p4], 1))
        return self.head8(n3), self.head16(n4)


def randomize_bn(model: nn.Module, seed: int = 0) -> nn.Module:
    """Non-trivial BatchNorm statistics and affine parameters (as a trained net has)."""
    gen = torch.Generator().manual_seed(seed)
    for m in model.modules():
        if isinstance(m, nn.BatchNorm2d):
            c = m.num_features
            m.weight.data = torch.exp(torch.randn(c, generator=gen) * 0.3)
            m.bias.data = torch.randn(c, generator=gen) * 0.2
            m.running_mean.data = torch.randn(c, generator=gen) * 0.2
            m.running_var.data = torch.exp(torch.randn(c, generator=gen) * 0.3)
    return model
