"""A small digits CNN trained with PyTorch's own QAT (torch.ao.quantization eager mode: fused
Conv+BN+ReLU, the x86 QAT qconfig), converted to a quantized model: the "another tool" source
for the QDQ import parity tests."""

from __future__ import annotations

import warnings

import numpy as np
import torch
import torch.ao.quantization as tq
from torch import nn


class AoDigitsNet(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.quant, self.dequant = tq.QuantStub(), tq.DeQuantStub()
        self.c1, self.b1, self.r1 = nn.Conv2d(1, 8, 3, padding=1), nn.BatchNorm2d(8), nn.ReLU()
        self.c2, self.r2 = nn.Conv2d(8, 16, 3, padding=1), nn.ReLU()
        self.pool, self.gap = nn.MaxPool2d(2), nn.AdaptiveAvgPool2d(1)
        self.fc = nn.Linear(16, 10)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.quant(x)
        x = self.pool(self.r2(self.c2(self.r1(self.b1(self.c1(x))))))
        return self.dequant(self.fc(self.gap(x).flatten(1)))


def qat_digits_model(x: np.ndarray, y: np.ndarray, steps: int = 15, seed: int = 0) -> nn.Module:
    """prepare_qat -> `steps` full-batch SGD steps -> convert (a torch quantized model)."""
    torch.manual_seed(seed)
    torch.set_num_threads(1)  # a tiny model: more threads only contend on a shared machine
    model = AoDigitsNet().train()
    model.qconfig = tq.get_default_qat_qconfig("x86")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # torch.ao deprecation notices
        tq.fuse_modules_qat(model, [["c1", "b1", "r1"], ["c2", "r2"]], inplace=True)
        tq.prepare_qat(model, inplace=True)
        xt, yt = torch.from_numpy(x), torch.from_numpy(y)
        opt = torch.optim.SGD(model.parameters(), lr=0.1, momentum=0.9)
        for _ in range(steps):
            loss = nn.functional.cross_entropy(model(xt), yt)
            opt.zero_grad()
            loss.backward()
            opt.step()
        return tq.convert(model.eval())
