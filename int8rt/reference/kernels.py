"""Registry of the numpy reference kernels, by the kernel names of int8rt/program.py.

Each entry is called as fn(*input_arrays, **consts, **params) with a Call's fields and returns
the output array. A few kernels take their sizes from the arrays themselves, so the registry
adapts those calls (drops the size params the C struct needs, flattens add/mul operands).
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from . import conv, convert, elementwise, movement, pooling, resize, softmax

def _conv2d(x: np.ndarray, *, w: np.ndarray, n: int, h: int, c: int, oh: int, ow: int,
            oc: int, kh: int, kw: int, **params) -> np.ndarray:
    # `w` here is the weights const: the input width param is also named w in the C struct,
    # and the Call carries params and consts in one namespace, so lowering names the width
    # "w" only in params -> see _split_conv_kwargs in reference/program.py
    return conv.conv2d(x, w=w, **params)


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
    **softmax.KERNELS, **convert.KERNELS,
    "add": _binary(elementwise.add),
    "mul": _binary(elementwise.mul),
    "conv2d": _conv2d,
    "fc": _fc,
    "copy": _copy,
}
