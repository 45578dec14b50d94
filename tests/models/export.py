"""torch -> ONNX export for the test models.

torch 2.13's `torch.onnx.export` defaults to the torch.export-based ("dynamo") exporter, which
needs the `onnxscript` package (not installed here; it is on PyPI). The TorchScript-based
exporter is still available with `dynamo=False` and needs nothing beyond torch and onnx; it only
emits a DeprecationWarning. We use it: in eval mode with constant folding it folds BatchNorm into
the preceding Conv, exports ReLU6 as Clip with min/max given by Constant nodes, and
`torch.flatten(x, 1)` + Linear as Flatten + Gemm.
"""

from __future__ import annotations

import os
import warnings
from pathlib import Path

import torch


def export_onnx(model: torch.nn.Module, path: str | os.PathLike, input_shape: tuple[int, ...],
                opset: int = 17) -> Path:
    """Export `model` (put in eval mode) for a static input of `input_shape`; returns the path.

    Graph input is named "input" and output "output"; all shapes are static.
    """
    import onnx

    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    model = model.eval()
    dummy = torch.zeros(input_shape, dtype=torch.float32)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        torch.onnx.export(model, (dummy,), str(path), dynamo=False, opset_version=opset,
                          input_names=["input"], output_names=["output"],
                          do_constant_folding=True)
    onnx.checker.check_model(str(path))
    return path


def op_counts(path: str | os.PathLike) -> dict[str, int]:
    """Op type -> number of nodes in an ONNX file (for reports and importer coverage checks)."""
    import onnx

    counts: dict[str, int] = {}
    for node in onnx.load(str(path)).graph.node:
        counts[node.op_type] = counts.get(node.op_type, 0) + 1
    return dict(sorted(counts.items()))
