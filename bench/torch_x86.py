"""PyTorch's x86 int8 backend as a bench/compare.py contender: the same architecture and
weights the ONNX file was exported from (tests/models/torch_nets.build, seeded), quantized
with FX graph mode (`torch.ao.quantization`, the 'x86' qconfig mapping, static
post-training: observers calibrated on the same calibration images as int8rt and ORT),
converted, run under torch.inference_mode with torch.set_num_threads(threads)."""

from __future__ import annotations

from typing import Callable

import numpy as np


def available() -> bool:
    try:
        import torch  # noqa: F401
        from torch.ao.quantization import quantize_fx  # noqa: F401
    except ImportError:
        return False
    return True


def build_int8(name: str, calib: np.ndarray, threads: int = 1) -> Callable[[np.ndarray], object]:
    """A callable running model `name` through PyTorch's x86 int8 kernels."""
    import torch
    from torch.ao.quantization import get_default_qconfig_mapping
    from torch.ao.quantization.quantize_fx import convert_fx, prepare_fx

    from tests.models.torch_nets import build

    torch.set_num_threads(threads)
    torch.backends.quantized.engine = "x86"
    model = build(name).eval()
    example = (torch.from_numpy(np.ascontiguousarray(calib[:1])),)
    prepared = prepare_fx(model, get_default_qconfig_mapping("x86"), example)
    with torch.inference_mode():
        for img in calib:
            prepared(torch.from_numpy(np.ascontiguousarray(img[None])))
    qmodel = convert_fx(prepared)

    def run(x: np.ndarray) -> object:
        with torch.inference_mode():
            return qmodel(torch.from_numpy(x))

    return run
