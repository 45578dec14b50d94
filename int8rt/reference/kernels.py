"""Registry of the numpy reference kernels, by the kernel names of int8rt/program.py.

`call_kernel` runs one Call's kernel: fn(*input_arrays, **consts, **params), returning the
output array. A few kernels take their sizes from the arrays themselves, so the registry
adapts those calls (drops the size params the C struct needs, flattens add/mul operands).
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from . import conv, convert, elementwise, f32_records, f32conv, movement, pooling, resize, softmax


def _conv2d(x: np.ndarray, *, consts: dict, params: dict) -> np.ndarray:
    # the C struct names the input width `w`, the weights constant is also `w`: keep them apart
    sizes = ("n", "h", "w", "c", "oh", "ow", "oc", "kh", "kw")
    return conv.conv2d(x, **consts, **{k: v for k, v in params.items() if k not in sizes})


def _conv2d_f32(x: np.ndarray, *, consts: dict, params: dict) -> np.ndarray:
    sizes = ("n", "h", "w", "c", "oh", "ow", "oc", "kh", "kw")  # the input width is `w` too
    return f32conv.conv2d_f32(x, **consts, **{k: v for k, v in params.items() if k not in sizes})


def _lut(x: np.ndarray, **kw) -> np.ndarray:
    # uint8 model I/O: the kernel reads bytes as int8 (lower._U8_FLIP)
    return elementwise.lut(x.view(np.int8) if x.dtype == np.uint8 else x, **kw)


def _fc(x: np.ndarray, *, m: int, k: int, n: int, **kw) -> np.ndarray:
    return conv.fc(x.reshape(m, k), **kw)


def _binary(fn: Callable[..., np.ndarray]) -> Callable[..., np.ndarray]:
    return lambda a, b, **kw: fn(a.reshape(-1), b.reshape(-1), **kw)


def _copy(x: np.ndarray | None = None, *, nbytes: int, data: np.ndarray | None = None
          ) -> np.ndarray:
    src = data if x is None else x
    if src is None or src.nbytes != nbytes:
        raise ValueError("copy: source size does not match nbytes")
    return src.copy()


REFERENCE_KERNELS: dict[str, Callable[..., np.ndarray]] = {
    **elementwise.KERNELS, **movement.KERNELS, **pooling.KERNELS, **resize.KERNELS,
    **softmax.KERNELS, **convert.KERNELS, **f32_records.KERNELS, "fc_f32": f32conv.fc_f32,
    "add": _binary(elementwise.add),
    "mul": _binary(elementwise.mul),
    "fc": _fc,
    "lut": _lut,
    "copy": _copy,
}


def call_kernel(kernel: str, args: list[np.ndarray], consts: dict, params: dict) -> np.ndarray:
    if kernel == "conv2d":
        return _conv2d(*args, consts=consts, params=params)
    if kernel == "conv2d_f32":
        return _conv2d_f32(*args, consts=consts, params=params)
    return REFERENCE_KERNELS[kernel](*args, **consts, **params)
