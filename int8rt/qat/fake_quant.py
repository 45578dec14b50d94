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
    return _ste(w, fq), s


def fake_quant_bias(b: torch.Tensor, x_scale: float, w_scales: np.ndarray) -> torch.Tensor:
    s_b = torch.from_numpy(params.bias_scale(x_scale, w_scales))
    q = torch.clamp(torch.round(b.double() / s_b), params.INT32_MIN, params.INT32_MAX)
    return _ste(b, (q * s_b).to(b.dtype))


def fake_quant_act(x: torch.Tensor, scale: float, zero_point: int) -> torch.Tensor:
    s = torch.tensor(np.float32(scale), dtype=torch.float32)
    v = torch.round(x.float() / s) + zero_point
    inside = (v >= params.INT8_MIN) & (v <= params.INT8_MAX)
    q = torch.clamp(v, params.INT8_MIN, params.INT8_MAX)
    fq = ((q - zero_point) * s).to(x.dtype)
    return _ste(x, fq, inside)


def _round_ste(v: torch.Tensor) -> torch.Tensor:
    return torch.round(v).detach() + (v - v.detach())


def _grad_scale(s: torch.Tensor, g: float) -> torch.Tensor:
    """s in the forward pass; its gradient multiplied by g (LSQ's step-size gradient scale)."""
    sg = s * g
    return s.detach() + (sg - sg.detach())  # exactly s in value (no float rounding)


def fake_quant_weight_lsq(w: torch.Tensor, scale: torch.Tensor, bits: int = 8
                          ) -> torch.Tensor:
    """Per-output-channel weight fake quantization with a learnable scale (LSQ, Esser et al.
    2020): the same forward value as fake_quant_weight with these scales, gradients for w
    (straight through, zero where clamped) and for the scale."""
    qmax = 2 ** (bits - 1) - 1
    shape = (-1,) + (1,) * (w.dim() - 1)
    s = _grad_scale(scale, 1.0 / float(np.sqrt(w[0].numel() * qmax))).reshape(shape)
    s64 = s.double()
    q = torch.clamp(_round_ste(w.double() / s64), -qmax, qmax)
    return (q * s64).to(w.dtype)


class ActQuant(nn.Module):
    """Observes a tensor's range with an exponential moving average of each batch's min and
    max (the first batch initialises it) while training, and fake-quantizes with the int8rt
    parameters of that range (params.activation_qparams). `freeze_after`: stop observing after
    that many training batches (None: observe until freeze_observers()). `learnable`: once the
    observer is frozen, the scale becomes a trained parameter (LSQ) and the zero point stays."""

    def __init__(self, momentum: float = 0.01, freeze_after: int | None = None,
                 learnable: bool = False) -> None:
        super().__init__()
        self.momentum = momentum
        self.freeze_after = freeze_after
        self.learnable = learnable
        self.register_buffer("lo", torch.tensor(0.0, dtype=torch.float64))
        self.register_buffer("hi", torch.tensor(0.0, dtype=torch.float64))
        self.register_buffer("seen", torch.tensor(False))
        self.register_buffer("steps", torch.tensor(0, dtype=torch.int64))
        self.register_buffer("observing", torch.tensor(True))
        if learnable:
            self.scale = nn.Parameter(torch.tensor(1.0))
            self.register_buffer("zero_point", torch.tensor(0, dtype=torch.int64))

    def set_range(self, lo: float, hi: float) -> None:
        self.lo.fill_(lo)
        self.hi.fill_(hi)
        self.seen.fill_(True)

    def freeze(self) -> None:
        """Stop observing; a learnable scale starts from the observed parameters."""
        if bool(self.observing) and self.learnable and bool(self.seen):
            s, z = params.activation_qparams(float(self.lo), float(self.hi)).scalar()
            with torch.no_grad():
                self.scale.fill_(float(np.float32(s)))
            self.zero_point.fill_(z)
        self.observing.fill_(False)

    def _learned(self) -> bool:
        return self.learnable and not bool(self.observing)

    def qparams(self) -> tuple[float, int]:
        if self._learned():
            return float(np.float32(self.scale.detach().abs().item())), int(self.zero_point)
        if not bool(self.seen):
            raise RuntimeError("ActQuant has observed no data yet: run the model in training "
                               "mode (or qat.calibrate()) first")
        return params.activation_qparams(float(self.lo), float(self.hi)).scalar()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.training and bool(self.observing):
            lo, hi = float(x.detach().min()), float(x.detach().max())
            if not bool(self.seen):
                self.set_range(lo, hi)
            else:
                m = self.momentum
                self.lo.mul_(1 - m).add_(m * lo)
                self.hi.mul_(1 - m).add_(m * hi)
            self.steps.add_(1)
            if self.freeze_after is not None and int(self.steps) >= self.freeze_after:
                self.freeze()
        if self._learned():
            z = int(self.zero_point)
            s = _grad_scale(self.scale.abs(), 1.0 / float(np.sqrt(x.numel() * 127)))
            v = _round_ste(x.float() / s) + z
            inside = ((v >= params.INT8_MIN) & (v <= params.INT8_MAX)).detach()
            q = torch.where(inside, v, torch.clamp(v, params.INT8_MIN, params.INT8_MAX).detach())
            return ((q - z) * s).to(x.dtype)
        s, z = self.qparams()
        return fake_quant_act(x, s, z)
