"""Reference kernels: transpose, slice, pad (any dtype, at most 6 axes, no arithmetic)."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from int8rt.reference._checks import check_eq

MAX_DIMS = 6
PAD_MODES = {0: "constant", 1: "reflect", 2: "edge"}


def _as_shape(x: np.ndarray, shape: Sequence[int]) -> np.ndarray:
    shape = tuple(int(d) for d in shape)
    if len(shape) > MAX_DIMS:
        raise ValueError(f"at most {MAX_DIMS} axes, got {len(shape)}")
    check_eq("prod(shape)", int(np.prod(shape, dtype=np.int64)), x.size)
    return np.asarray(x).reshape(shape)


def transpose(x: np.ndarray, *, shape: Sequence[int], perm: Sequence[int]) -> np.ndarray:
    xs = _as_shape(x, shape)
    perm = [int(p) for p in perm]
    if sorted(perm) != list(range(xs.ndim)):
        raise ValueError(f"transpose: perm {perm} is not a permutation of {xs.ndim} axes")
    return np.transpose(xs, perm).copy()  # copy(): C order, and keeps a 0-d array 0-d


def slice(x: np.ndarray, *, in_shape: Sequence[int], start: Sequence[int],
          step: Sequence[int], out_shape: Sequence[int]) -> np.ndarray:
    """y[i] = x[start + i * step] per axis; start is the first element read (normalised)."""
    xs = _as_shape(x, in_shape)
    nd = xs.ndim
    start, step = [int(v) for v in start][:nd], [int(v) for v in step][:nd]
    out_shape = tuple(int(v) for v in out_shape)[:nd]
    if len(start) != nd or len(step) != nd or len(out_shape) != nd:
        raise ValueError("slice: start, step and out_shape need one entry per axis")
    if any(o == 0 for o in out_shape):
        return np.empty(out_shape, dtype=xs.dtype)
    idx = []
    for d in range(nd):
        if step[d] == 0 or out_shape[d] < 0:
            raise ValueError("slice: step must be non-zero and out_shape non-negative")
        i = start[d] + np.arange(out_shape[d], dtype=np.int64) * step[d]
        if i.min() < 0 or i.max() >= xs.shape[d]:
            raise ValueError(f"slice: axis {d} reads outside [0, {xs.shape[d]})")
        idx.append(i)
    return xs[np.ix_(*idx)] if nd else xs.copy()


def _pad_source(n_out: int, before: int, n: int, mode: int) -> np.ndarray:
    """Source index per output position along one axis, -1 for the constant value. reflect
    mirrors without repeating the edge and keeps mirroring past the far end."""
    i = np.arange(n_out, dtype=np.int64) - before
    inside = (i >= 0) & (i < n)
    if mode == 0 or n == 0:
        return np.where(inside, i, -1)
    if mode == 2:
        return np.clip(i, 0, n - 1)
    if n == 1:
        return np.zeros_like(i)
    period = 2 * (n - 1)
    r = np.mod(i, period)
    return np.where(r < n, r, period - r)


def pad(x: np.ndarray, value: np.ndarray | None = None, *, in_shape: Sequence[int],
        pad_before: Sequence[int], pad_after: Sequence[int], mode: int = 0) -> np.ndarray:
    """mode 0 constant (`value`, one element of x's dtype), 1 reflect, 2 edge; negative pads
    crop. Output axis d has in_shape[d] + pad_before[d] + pad_after[d] elements."""
    xs = _as_shape(x, in_shape)
    nd = xs.ndim
    before, after = [int(v) for v in pad_before][:nd], [int(v) for v in pad_after][:nd]
    if len(before) != nd or len(after) != nd:
        raise ValueError("pad: pad_before and pad_after need one entry per axis")
    if int(mode) not in PAD_MODES:
        raise ValueError(f"pad: mode {mode} is not 0 (constant), 1 (reflect) or 2 (edge)")
    fill = np.zeros((), xs.dtype) if value is None else np.asarray(value).reshape(-1)
    if value is not None and (fill.size < 1 or fill.dtype != xs.dtype):
        raise TypeError(f"pad: value must be one element of {xs.dtype}")
    fill = fill.reshape(-1)[0] if fill.ndim else fill
    out_shape = tuple(n + b + a for n, b, a in zip(xs.shape, before, after))
    if any(o < 0 for o in out_shape):
        raise ValueError(f"pad: negative output extent {out_shape}")
    if nd == 0:
        return xs.copy()
    src = [_pad_source(o, b, n, int(mode)) for o, b, n in zip(out_shape, before, xs.shape)]
    if any(o == 0 for o in out_shape):
        return np.empty(out_shape, dtype=xs.dtype)
    y = xs[np.ix_(*[np.maximum(s, 0) for s in src])] if xs.size else np.empty(out_shape,
                                                                                 xs.dtype)
    outside = np.zeros(out_shape, dtype=bool)
    for d, s in enumerate(src):
        view = [1] * nd
        view[d] = out_shape[d]
        outside |= (s < 0).reshape(view)
    y[outside] = fill
    return y


KERNELS = {"transpose": transpose, "slice": slice, "pad": pad}
