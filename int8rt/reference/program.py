"""Run a Program with the numpy reference kernels: the oracle the native plan must equal."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from ..program import Program
from .kernels import REFERENCE_KERNELS, call_kernel


def run_program(program: Program, inputs: list[np.ndarray],
                observe: Callable[[str, np.ndarray], None] | None = None) -> list[np.ndarray]:
    """The program's outputs. `observe(buffer name, array)`, if given, is called after every
    call with the buffer it wrote (the live array: copy it to keep it). A Concat's output is
    written by several requant_copy calls, so it is reported once per call, complete only at
    the last one."""
    if len(inputs) != len(program.inputs):
        raise ValueError(f"expected {len(program.inputs)} inputs, got {len(inputs)}")
    values: dict[str, np.ndarray] = dict(program.constants)
    for name, arr in zip(program.inputs, inputs):
        buf = program.buffer(name)
        values[name] = np.ascontiguousarray(arr, dtype=buf.dtype).reshape(buf.shape)
    for call in program.calls:
        out = program.buffer(call.outputs[0])
        args = [values[i] for i in call.inputs]
        if call.kernel == "requant_copy":  # writes a column range of an existing output
            y = values.setdefault(out.name, np.zeros(out.shape, out.dtype))
            REFERENCE_KERNELS["requant_copy"](args[0].reshape(-1), y.reshape(-1),
                                              **call.consts, **call.params)
            if observe is not None:
                observe(out.name, y)
            continue
        result = call_kernel(call.kernel, args, call.consts, call.params)
        values[out.name] = np.asarray(result, dtype=out.dtype).reshape(out.shape)
        if observe is not None:
            observe(out.name, values[out.name])
    return [values[name] for name in program.outputs]
