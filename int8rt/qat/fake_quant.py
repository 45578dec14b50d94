"""Fake quantization that reproduces int8rt's arithmetic contract (docs/QUANTIZATION.md) in
torch, with straight-through gradients.

- weights: symmetric, per output channel, s[c] = max|w[c]| / qmax (qmax = 127 at 8 bits),
  q = clamp(rint(w / s), -qmax, qmax): int8rt.quant.params computes s (float64, stored as
  float32) and the division is float64, exactly as PTQ and the importer do (§2);
- activations: per tensor, asymmetric over the EMA-observed range widened to include 0,
  s = (hi - lo) / 255, z = clamp(rint(-128 - lo / s)) (params.activation_qparams, §2), and
  q = clamp(rint(x / s) + z, -128, 127) with a float32 division (the §6 Quantize);
- bias: q_b = rint(b / (s_x * s_w[c])) (params.quantize_bias).

`torch.round` rounds half to even like `np.rint`. Gradients pass straight through the
rounding and are zero where the value was clamped (the usual STE).
"""

from __future__ import annotations

import numpy as np
import torch
from torch import nn

from int8rt.quant import params


def _ste(x: torch.Tensor, fq: torch.Tensor, inside: torch.Tensor | None = None) -> torch.Tensor:
    """Forward: fq; backward: the identity (masked to where no clamp applied)."""
    if inside is None:
        return fq.detach() + (x - x.detach())
    return fq.detach() + (x - x.detach()) * inside.to(x.dtype)


def weight_scales(w: torch.Tensor, bits: int = 8) -> np.ndarray:
    """int8rt's per-output-channel weight scales of `w` (float32 numpy)."""
    qp = params.weight_qparams(w.detach().cpu().double().numpy(), axis=0, per_channel=True,
                               bits=bits)
    return np.asarray(qp.scale, np.float32)


def fake_quant_weight(w: torch.Tensor, bits: int = 8) -> tuple[torch.Tensor, np.ndarray]:
    """(fake-quantized w with STE, its float32 scales)."""
    s = weight_scales(w, bits)
    qmax = 2 ** (bits - 1) - 1
    s64 = torch.from_numpy(s.astype(np.float64)).reshape((-1,) + (1,) * (w.dim() - 1))
    q = torch.clamp(torch.round(w.double() / s64), -qmax, qmax)
    fq = (q * s64).to(w.dtype)
    if EXPORTING:  # a constant Q/DQ pair on the (already integer-valued) weights
        return torch.fake_quantize_per_channel_affine(
            fq.detach(), torch.from_numpy(s), torch.zeros(len(s), dtype=torch.int32), 0,
            params.INT8_MIN, params.INT8_MAX), s
    return _ste(w, fq), s


def fake_quant_bias(b: torch.Tensor, x_scale: float, w_scales: np.ndarray) -> torch.Tensor:
    s_b = torch.from_numpy(params.bias_scale(x_scale, w_scales))
    q = torch.clamp(torch.round(b.double() / s_b), params.INT32_MIN, params.INT32_MAX)
    return _ste(b, (q * s_b).to(b.dtype))


# Set by export.export_onnx: fake quantization is then written as torch's fake_quantize ops,
# which torch.onnx.export turns into QuantizeLinear / DequantizeLinear with the same parameters.
EXPORTING = False


def fake_quant_act(x: torch.Tensor, scale: float, zero_point: int) -> torch.Tensor:
    if EXPORTING:
        return torch.fake_quantize_per_tensor_affine(x, float(np.float32(scale)), int(zero_point),
                                                     params.INT8_MIN, params.INT8_MAX)
    s = torch.tensor(np.float32(scale), dtype=torch.float32)
    v = torch.round(x.float() / s) + zero_point
    inside = (v >= params.INT8_MIN) & (v <= params.INT8_MAX)
    q = torch.clamp(v, params.INT8_MIN, params.INT8_MAX)
    fq = ((q - zero_point) * s).to(x.dtype)
    return _ste(x, fq, inside)


class ActQuant(nn.Module):
    """Observes a tensor's range with an exponential moving average of each batch's min and
    max (the first batch initialises it) while training, and fake-quantizes with the int8rt
    parameters of that range. `fixed` gives parameters that do not come from a range
    (Softmax's 1/256, -128)."""

    def __init__(self, momentum: float = 0.01, fixed: tuple[float, int] | None = None) -> None:
        super().__init__()
        self.momentum = momentum
        self.fixed = fixed
        self.register_buffer("lo", torch.tensor(0.0, dtype=torch.float64))
        self.register_buffer("hi", torch.tensor(0.0, dtype=torch.float64))
        self.register_buffer("seen", torch.tensor(False))
        self.observing = True

    def qparams(self) -> tuple[float, int]:
        if self.fixed is not None:
            return self.fixed
        if not bool(self.seen):
            raise RuntimeError("ActQuant has observed no data yet: run the model in training "
                               "mode (or calibrate()) first")
        return params.activation_qparams(float(self.lo), float(self.hi)).scalar()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.training and self.observing and self.fixed is None:
            lo, hi = float(x.detach().min()), float(x.detach().max())
            if not bool(self.seen):
                self.lo.fill_(lo)
                self.hi.fill_(hi)
                self.seen.fill_(True)
            else:
                m = self.momentum
                self.lo.mul_(1 - m).add_(m * lo)
                self.hi.mul_(1 - m).add_(m * hi)
        s, z = self.qparams()
        return fake_quant_act(x, s, z)
