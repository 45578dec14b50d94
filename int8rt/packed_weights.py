"""Weights packed once per Session and shared by the plans of every input shape (docs/PLAN.md
"Shapes").

A conv2d / fc (or float fallback conv2d_f32 / fc_f32) call's weights, bias and multipliers are
packed into the kernel's layout by `_native.pack_weights` into one blob (plan.h
i8_plan_pack_weights); every plan of the session, built from Python or reshaped in C, borrows
it (consts {"packed": blob}). The packing reads no size a new batch changes (n, h, w, oh, ow of
a conv, m of an fc), so one blob serves every batch: the key of a call is its kernel, its output
buffer, the kernel path it was packed for and every param but those sizes, and the C plan checks
the blob's header against the record's params again.
"""

from __future__ import annotations

import threading

import numpy as np

from . import _native
from .program import Call
from .records import record

# params of these records that the packing does not read (the input shape's sizes)
SIZE_PARAMS = {"conv2d": frozenset(("n", "h", "w", "oh", "ow")), "fc": frozenset(("m",)),
               "conv2d_f32": frozenset(("n", "h", "w", "oh", "ow")),
               "fc_f32": frozenset(("m",))}


def _key(kernel: str, output: str, params: dict) -> tuple:
    drop = SIZE_PARAMS[kernel]
    rest = tuple(sorted((k, repr(v)) for k, v in params.items() if k not in drop))
    return kernel, output, _native.isa(), rest


class PackedWeights:
    """The packed weight blobs of one session, by call. `packs` counts the blobs made (tests:
    the same count after many batch sizes)."""

    def __init__(self) -> None:
        self._blobs: dict[tuple, np.ndarray] = {}
        self._lock = threading.Lock()
        self.packs = 0

    def __len__(self) -> int:
        return len(self._blobs)

    def consts(self, call: Call, params: dict, consts: dict) -> dict:
        """The consts to hand add_call: the weight consts replaced by the call's blob (packed
        on first use), the others (the fused table) as they are."""
        n = _native.PACKED_WEIGHT_CONSTS.get(call.kernel, 0)
        if not n:
            return consts
        key = _key(call.kernel, call.outputs[0], params)
        blob = self._blobs.get(key)
        if blob is None:
            with self._lock:
                blob = self._blobs.get(key)
                if blob is None:
                    blob = _native.pack_weights(call.kernel, params, consts)
                    self._blobs[key] = blob
                    self.packs += 1
        weights = {k for k, _ in record(call.kernel).consts[:n]}
        out = {k: v for k, v in consts.items() if k not in weights}
        out["packed"] = blob
        return out
