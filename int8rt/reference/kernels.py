"""Registry of the numpy reference kernels, by the kernel names of int8rt/program.py.

`call_kernel` runs one Call's kernel: fn(*input_arrays, **consts, **params), returning the
output array. A few kernels take their sizes from the arrays themselves, so the registry
adapts those calls (drops the size params the C struct needs, flattens add/mul operands).
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from . import conv, convert, elementwise, f32_records, f32conv, movement, pooling, resize, softmax

# params of the fused post-ops of conv2d / fc (program.py; kernels.h i8_post_params)
POST_PARAMS = ("post_lut", "post_add", "add_a_zp", "add_b_zp", "add_a_mult", "add_b_mult",
               "add_mult", "add_y_zp", "add_qmin", "add_qmax")


def _split_post(consts: dict, params: dict) -> tuple[dict, dict, dict, np.ndarray | None]:
    """(the product's own consts, its own params, the post params, the fused table)."""
    post = {k: params[k] for k in POST_PARAMS if k in params}
    own = {k: v for k, v in params.items() if k not in POST_PARAMS}
    return {k: v for k, v in consts.items() if k != "table"}, own, post, consts.get("table")


def _post(y: np.ndarray, res: np.ndarray | None, table: np.ndarray | None, post: dict
          ) -> np.ndarray:
    """The fused post-ops as the unfused program runs them: the lut kernel, then the add
    kernel with the residual as operand b (y's shape, element for element)."""
    if post.get("post_lut", 0):
        if table is None:
            raise ValueError("post_lut needs the const 'table'")
        y = elementwise.lut(y, table).reshape(y.shape)
    if post.get("post_add", 0):
        if res is None or res.size != y.size or y.dtype != np.int8:
            raise ValueError("post_add needs an int8 output and a residual of the output's size")
        y = elementwise.add(y.reshape(-1), res.reshape(-1), ndim=1, shape=(y.size,),
                            a_stride=(1,), b_stride=(1,), a_zp=post["add_a_zp"],
                            b_zp=post["add_b_zp"], y_zp=post["add_y_zp"],
                            a_mult=post["add_a_mult"], b_mult=post["add_b_mult"],
                            mult=post["add_mult"], qmin=post["add_qmin"],
                            qmax=post["add_qmax"]).reshape(y.shape)
    elif res is not None:
        raise ValueError("a second input needs post_add")
    return y


def _conv2d(x: np.ndarray, res: np.ndarray | None = None, *, consts: dict, params: dict
            ) -> np.ndarray:
    # the C struct names the input width `w`, the weights constant is also `w`: keep them apart
    sizes = ("n", "h", "w", "c", "oh", "ow", "oc", "kh", "kw")
    consts, params, post, table = _split_post(consts, params)
    y = conv.conv2d(x, **consts, **{k: v for k, v in params.items() if k not in sizes})
    return _post(y, res, table, post)


def _conv2d_f32(x: np.ndarray, *, consts: dict, params: dict) -> np.ndarray:
    sizes = ("n", "h", "w", "c", "oh", "ow", "oc", "kh", "kw")  # the input width is `w` too
    return f32conv.conv2d_f32(x, **consts, **{k: v for k, v in params.items() if k not in sizes})


def _lut(x: np.ndarray, **kw) -> np.ndarray:
    # uint8 model I/O: the kernel reads bytes as int8 (lower._U8_FLIP)
    return elementwise.lut(x.view(np.int8) if x.dtype == np.uint8 else x, **kw)


def _fc(x: np.ndarray, res: np.ndarray | None = None, *, consts: dict, params: dict
        ) -> np.ndarray:
    consts, params, post, table = _split_post(consts, params)
    m, k = params.pop("m"), params.pop("k")
    params.pop("n")
    return _post(conv.fc(x.reshape(m, k), **consts, **params), res, table, post)


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
    "lut": _lut,
    "copy": _copy,
}


def call_kernel(kernel: str, args: list[np.ndarray], consts: dict, params: dict) -> np.ndarray:
    if kernel == "conv2d":
        return _conv2d(*args, consts=consts, params=params)
    if kernel == "fc":
        return _fc(*args, consts=consts, params=params)
    if kernel == "conv2d_f32":
        return _conv2d_f32(*args, consts=consts, params=params)
    return REFERENCE_KERNELS[kernel](*args, **consts, **params)
