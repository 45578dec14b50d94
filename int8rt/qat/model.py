"""`prepare_qat`: a float torch.nn.Sequential CNN -> a QATModel whose forward rounds exactly
where int8rt's deployed model rounds.

Where int8rt rounds (docs/ARCHITECTURE.md "Quantized graphs", docs/QUANTIZATION.md §4-§6),
and so where the QATModel fake-quantizes:

- the model input (the boundary Quantize);
- the output of each Conv / Linear, after its fused ReLU / ReLU6 (int8rt fuses them into the
  requantization clamp) — except the last layer when nothing follows it: int8rt writes that
  one's float32 result straight from the accumulator (the fused output Dequantize), so the
  logits are not rounded;
- each AvgPool / global average pool output (its own requantization);
- weights (symmetric per channel) and biases (int32 at s_x * s_w) of every Conv / Linear.

MaxPool, Flatten, Dropout and Identity move values without arithmetic: no rounding.

BatchNorm after a Conv is folded into it when QAT starts, with the float model's running
statistics (conv weight * gamma / sqrt(var + eps), bias adjusted). Training then updates the
folded weights: QAT with frozen BatchNorm statistics, the state PyTorch's own QAT recipe ends
in (`freeze_bn_stats`), and the form int8rt deploys (docs/QAT.md).
"""

from __future__ import annotations

import copy

import torch
from torch import nn

from int8rt.qat.fake_quant import ActQuant, fake_quant_bias, fake_quant_weight

_PASSTHROUGH = (nn.MaxPool2d, nn.Flatten, nn.Dropout, nn.Identity)
_ACTS = {nn.ReLU: (0.0, float("inf")), nn.ReLU6: (0.0, 6.0)}


class _InputScale:
    """Where a layer's input parameters come from (not a submodule: it belongs to the layer
    that produces the input)."""

    def __init__(self, q: ActQuant) -> None:
        self.q = q

    def scale(self) -> float:
        return self.q.qparams()[0]


class QLayer(nn.Module):
    """A Conv2d or Linear with folded BatchNorm, optional fused clamp, fake-quantized weights,
    bias and (unless it writes the logits) output."""

    def __init__(self, layer: nn.Conv2d | nn.Linear, clip: tuple[float, float] | None,
                 out_q: ActQuant | None, in_q: ActQuant, weight_bits: int) -> None:
        super().__init__()
        self.kind = "conv" if isinstance(layer, nn.Conv2d) else "linear"
        self.weight = nn.Parameter(layer.weight.detach().clone())
        bias = layer.bias.detach().clone() if layer.bias is not None else \
            torch.zeros(layer.weight.shape[0])
        self.bias = nn.Parameter(bias)
        if self.kind == "conv":
            if layer.padding_mode != "zeros" or isinstance(layer.padding, str):
                raise ValueError(f"QAT: Conv2d {layer} needs explicit zero padding")
            self.conv_args = {"stride": layer.stride, "padding": layer.padding,
                                  "dilation": layer.dilation, "groups": layer.groups}
        self.clip = clip
        self.out_q = out_q
        self._in = _InputScale(in_q)
        self.weight_bits = weight_bits

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        w, w_scales = fake_quant_weight(self.weight, self.weight_bits)
        b = fake_quant_bias(self.bias, self._in.scale(), w_scales)
        if self.kind == "conv":
            y = nn.functional.conv2d(x, w, b, **self.conv_args)
        else:
            y = nn.functional.linear(x, w, b)
        if self.clip is not None:
            y = torch.clamp(y, self.clip[0], self.clip[1])
        return self.out_q(y) if self.out_q is not None else y


class QPool(nn.Module):
    def __init__(self, pool: nn.Module, out_q: ActQuant) -> None:
        super().__init__()
        self.pool = pool
        self.out_q = out_q

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.out_q(self.pool(x))


class QATModel(nn.Module):
    """The fake-quantized model: input quantizer, then the prepared layers in order."""

    def __init__(self, input_q: ActQuant, layers: list[nn.Module]) -> None:
        super().__init__()
        self.input_q = input_q
        self.layers = nn.Sequential(*layers)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.layers(self.input_q(x))

    def freeze_observers(self) -> None:
        """Stop updating activation ranges (parameters then stay fixed while training on)."""
        for m in self.modules():
            if isinstance(m, ActQuant):
                m.observing = False


def _flatten(model: nn.Module) -> list[nn.Module]:
    if isinstance(model, nn.Sequential):
        return [m for child in model for m in _flatten(child)]
    return [model]


def _fold_bn(conv: nn.Conv2d, bn: nn.BatchNorm2d) -> nn.Conv2d:
    conv = copy.deepcopy(conv)
    with torch.no_grad():
        a = bn.weight / torch.sqrt(bn.running_var + bn.eps)
        b = conv.bias if conv.bias is not None else torch.zeros_like(bn.running_mean)
        conv.weight.mul_(a.reshape(-1, 1, 1, 1))
        conv.bias = nn.Parameter(b * a + bn.bias - bn.running_mean * a)
    return conv


def prepare_qat(model: nn.Module, weight_bits: int = 8, momentum: float = 0.01) -> QATModel:
    """A QATModel for a float nn.Sequential (nested Sequentials flatten) of Conv2d [+
    BatchNorm2d] [+ ReLU/ReLU6], Linear [+ ReLU/ReLU6], MaxPool2d, AvgPool2d,
    AdaptiveAvgPool2d(1), Flatten, Dropout, Identity. `weight_bits` < 8 trains for weights
    quantized to [-(2^(b-1) - 1), 2^(b-1) - 1] (int8rt stores them as int8 unchanged)."""
    mods = _flatten(model)
    input_q = ActQuant(momentum)
    last_q = input_q
    layers: list[nn.Module] = []
    compute_idx = [i for i, m in enumerate(mods) if not isinstance(m, _PASSTHROUGH)]
    i = 0
    while i < len(mods):
        m = mods[i]
        if isinstance(m, (nn.Conv2d, nn.Linear)):
            j = i + 1
            if isinstance(m, nn.Conv2d) and j < len(mods) and isinstance(mods[j], nn.BatchNorm2d):
                m = _fold_bn(m, mods[j])
                j += 1
            clip = None
            if j < len(mods) and type(mods[j]) in _ACTS:
                clip = _ACTS[type(mods[j])]
                j += 1
            is_last = not any(k >= j for k in compute_idx)
            out_q = None if (is_last and clip is None) else ActQuant(momentum)
            layers.append(QLayer(m, clip, out_q, last_q, weight_bits))
            if out_q is not None:
                last_q = out_q
            i = j
        elif isinstance(m, (nn.AvgPool2d, nn.AdaptiveAvgPool2d)):
            if isinstance(m, nn.AdaptiveAvgPool2d) and m.output_size not in (1, (1, 1)):
                raise ValueError(f"QAT: {m} is not a global average pool")
            last_q = ActQuant(momentum)
            layers.append(QPool(m, last_q))
            i += 1
        elif isinstance(m, _PASSTHROUGH):
            if not isinstance(m, nn.Dropout):
                layers.append(m)
            i += 1
        else:
            raise TypeError(f"QAT: layer {i} ({type(m).__name__}) is not supported")
    return QATModel(input_q, layers)
