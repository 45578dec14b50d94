"""The native executor of a Program: one arena laid out by liveness, one C call per inference.

`NativePlan(program)` does everything once: it gives every intermediate buffer an offset in a
single arena (buffers whose lifetimes do not overlap share memory), hands each call to the C
plan builder (which checks every footprint and packs weights) and finalizes the plan. `run`
is then one native call with the GIL released; each call allocates its own arena, so one
NativePlan may be run from several threads at once. See docs/PLAN.md.

This is the only module that executes through `int8rt._native`.
"""

from __future__ import annotations

import atexit
from dataclasses import dataclass

import numpy as np

from int8rt import _native
from int8rt.packed_weights import PackedWeights
from int8rt.program import Call, Program
from int8rt.records import BY_KERNEL, FLOAT_PARAMS, INT8, MOVEMENT, TYPED, record

ALIGN = 64  # arena offsets; also what the C plan aligns the arena itself to

# The process-wide thread pool's workers are joined at interpreter exit (they sleep between
# runs and would die with the process anyway; joining keeps exit and leak checkers clean).
atexit.register(_native.thread_pool_shutdown)

@dataclass(frozen=True)
class Interval:
    """A buffer's lifetime in call indices, both ends inclusive."""

    first: int
    last: int

    def overlaps(self, other: Interval) -> bool:
        return self.first <= other.last and other.first <= self.last


def _align(n: int) -> int:
    return (n + ALIGN - 1) // ALIGN * ALIGN


def liveness(calls: list[Call], names: set[str]) -> dict[str, Interval]:
    """Lifetime of each buffer in `names`: from its first use to its last, over call order.

    A buffer is live from its first *use*, not only its first read: requant_copy calls that
    fill one output in pieces (Concat) keep it live from the first piece on, and a buffer
    written but never read still occupies memory during the call that writes it.
    """
    first: dict[str, int] = {}
    last: dict[str, int] = {}
    for i, call in enumerate(calls):
        for name in (*call.inputs, *call.outputs):
            if name in names:
                first.setdefault(name, i)
                last[name] = i
    return {n: Interval(first[n], last[n]) for n in first}


def assign_offsets(sizes: dict[str, int], lives: dict[str, Interval]) -> tuple[dict[str, int], int]:
    """Greedy by size, first fit: the largest buffers are placed first, each at the lowest
    64-aligned offset where it overlaps no already placed buffer that is live at the same time
    (TFLite's arena planner does the same; large-first keeps big buffers from fragmenting the
    gaps). Returns (offsets, arena size in bytes)."""
    order = sorted(lives, key=lambda n: (-sizes[n], lives[n].first, n))
    placed: list[tuple[int, int, int, int]] = []  # (offset, end, first, last)
    offsets: dict[str, int] = {}
    arena = 0
    for name in order:
        size, life = sizes[name], lives[name]
        first, last = life.first, life.last
        # lifetimes intersect (Interval.overlaps, inlined: this loop is a shape's planning)
        busy = sorted([(o, e) for o, e, f, lt in placed if f <= last and first <= lt and e > o])
        offset = 0
        for o, e in busy:
            if offset + size <= o:
                break
            offset = max(offset, _align(e))
        offsets[name] = offset
        placed.append((offset, offset + size, first, last))
        arena = max(arena, offset + size)
    return offsets, arena


def _integral(value) -> bool:
    """An integer param's value: the C struct conversion would truncate a fractional float."""
    if isinstance(value, (float, np.floating)):
        return float(value).is_integer()
    if isinstance(value, (list, tuple)):
        return all(_integral(v) for v in value)
    return True


class NativePlan:
    """A Program compiled for the C executor.

    Attributes: `arena_bytes` (buffer part of the per-run arena), `buffer_bytes` (sum of the
    intermediate buffers' sizes: what the arena would be without reuse), `scratch_bytes`
    (largest kernel scratch, appended to the arena), `offsets` (arena offset per buffer).
    """

    def __init__(self, program: Program, packed_weights: PackedWeights | None = None) -> None:
        """packed_weights: the session's packed conv / fc weights, which this plan borrows
        (packing the ones not there yet); None: the plan packs and owns its own."""
        self.program = program
        self.packed_weights = packed_weights
        bufs = program.buffers
        constants: dict[str, np.ndarray] = dict(program.constants)
        self._check_dataflow(program, constants)

        io = set(program.inputs) | set(program.outputs) | set(constants)
        used = {n for c in program.calls for n in (*c.inputs, *c.outputs)}
        inner = used - io
        self.lifetimes = liveness(program.calls, inner)
        self.offsets, self.arena_bytes = assign_offsets(
            {n: bufs[n].nbytes for n in inner}, self.lifetimes)
        self.buffer_bytes = sum(bufs[n].nbytes for n in inner)

        self._in_bufs = [bufs[n] for n in program.inputs]
        self._out_bufs = [bufs[n] for n in program.outputs]
        self._native = _native._NativePlan(
            [(b.nbytes, b.dtype) for b in self._in_bufs],
            [(b.nbytes, b.dtype) for b in self._out_bufs])

        refs: dict[str, tuple[str, int, int, int]] = {}
        for name, data in constants.items():
            arr = np.asarray(data, dtype=bufs[name].dtype)
            if not arr.flags.c_contiguous:  # (ascontiguousarray would make a 0-d array 1-d)
                arr = np.array(arr, order="C")
            if arr.shape != tuple(bufs[name].shape):
                raise ValueError(f"constant {name!r}: shape {arr.shape} != {bufs[name].shape}")
            if name in program.borrowed and arr.ctypes.data % ALIGN == 0:
                index = self._native.add_const_ref(arr)  # shared, not copied
            else:
                index = self._native.add_const(arr)
            refs[name] = ("const", index, 0, arr.nbytes)
        # an output that is also an input (or listed twice) is filled by a copy after the run
        self._out_copies: list[tuple[int, str, int]] = []
        self._const_outs: list[np.ndarray] = []
        for k, name in enumerate(program.outputs):
            if name in program.inputs:
                self._out_copies.append((k, "input", program.inputs.index(name)))
            elif name in constants:
                self._out_copies.append((k, "const", len(self._const_outs)))
                self._const_outs.append(np.asarray(constants[name], dtype=bufs[name].dtype))
            elif name in refs:
                self._out_copies.append((k, "output", program.outputs.index(name)))
            else:
                refs[name] = ("output", k, 0, bufs[name].nbytes)
        for k, name in enumerate(program.inputs):
            refs.setdefault(name, ("input", k, 0, bufs[name].nbytes))
        for name in inner:
            refs[name] = ("arena", 0, self.offsets[name], bufs[name].nbytes)

        for i, call in enumerate(program.calls):
            try:
                params = self._params(call)
                self._native.add_call(call.kernel, [refs[n] for n in call.inputs],
                                      [refs[n] for n in call.outputs], params,
                                      self._consts(call, params))
            except ValueError as e:
                raise ValueError(f"call {i} ({call.kernel}, node {call.node!r}): {e}") from None
        self._native.finalize(self.arena_bytes)
        self.scratch_bytes: int = self._native.scratch_bytes

    @staticmethod
    def _check_dataflow(program: Program, constants: dict[str, np.ndarray]) -> None:
        """Every buffer is read only after something defined it; model inputs and constants are
        never written (the C plan would refuse too, with a less helpful message)."""
        defined = set(program.inputs) | set(constants)
        readonly = set(defined)
        for i, call in enumerate(program.calls):
            if call.kernel not in BY_KERNEL:
                raise ValueError(f"call {i}: unknown kernel {call.kernel!r}")
            for name in (*call.inputs, *call.outputs):
                if name not in program.buffers:
                    raise ValueError(f"call {i} ({call.kernel}): unknown buffer {name!r}")
            for name in call.inputs:
                if name not in defined:
                    raise ValueError(f"call {i} ({call.kernel}) reads {name!r} before any call "
                                     "writes it")
            for name in call.outputs:
                if name in readonly:
                    raise ValueError(f"call {i} ({call.kernel}) writes the model input or "
                                     f"constant {name!r}")
                defined.add(name)
        for name in program.outputs:
            if name not in defined:
                raise ValueError(f"model output {name!r} is never written")

    def _params(self, call: Call) -> dict:
        bufs = self.program.buffers
        dts = [bufs[n].dtype for n in (*call.inputs, *call.outputs)]
        params = dict(call.params)
        for key, value in params.items():
            if key not in FLOAT_PARAMS and not _integral(value):
                raise ValueError(f"param {key}={value!r} is not an integer")
        rule = record(call.kernel).dtypes
        if rule == TYPED:  # element types are params, checked in C
            return params
        if rule == MOVEMENT:
            if len(set(dts)) != 1:
                raise ValueError(f"input and output dtypes differ: {dts}")
            params["elem_size"] = np.dtype(dts[0]).itemsize
        else:
            want = ("int8",) * len(dts) if rule == INT8 else rule
            if call.kernel in ("conv2d", "fc") and params.get("out_f32", 0):
                want = ("int8", "float32")  # the float32 epilogue (kernels.h)
            if call.kernel == "lut" and tuple(dts) in (("uint8", "int8"), ("int8", "uint8")):
                want = tuple(dts)  # uint8 model I/O: a byte map (lower._U8_FLIP)
            if tuple(dts) != want:
                raise ValueError(f"buffer dtypes {dts}, expected {want}")
        return params

    def _consts(self, call: Call, params: dict) -> dict[str, np.ndarray]:
        consts = dict(call.consts)
        if self.packed_weights is not None:
            consts = self.packed_weights.consts(call, params, consts)
        if call.kernel == "pad" and "value" in consts:
            # the pad value is one element of the buffers' own dtype
            dt = np.dtype(self.program.buffers[call.inputs[0]].dtype)
            v = np.asarray(consts["value"]).reshape(-1)
            cast = v.astype(dt)
            if v.size != 1 or not np.array_equal(cast, v):
                raise ValueError(f"pad value {v!r} is not one exact {dt} element")
            consts["value"] = cast
        return consts

    def _arrays(self, inputs: list[np.ndarray]) -> tuple[list[np.ndarray], list[np.ndarray]]:
        if len(inputs) != len(self._in_bufs):
            raise ValueError(f"expected {len(self._in_bufs)} inputs, got {len(inputs)}")
        ins = []
        for b, a in zip(self._in_bufs, inputs):
            a = np.asarray(a)
            if a.dtype != np.dtype(b.dtype) or a.shape != tuple(b.shape):
                raise ValueError(f"input {b.name!r}: expected {b.dtype}{list(b.shape)}, got "
                                 f"{a.dtype}{list(a.shape)}")
            ins.append(np.ascontiguousarray(a))
        outs = [np.empty(b.shape, dtype=b.dtype) for b in self._out_bufs]
        return ins, outs

    def _copy_outputs(self, ins: list[np.ndarray], outs: list[np.ndarray]) -> None:
        for k, kind, j in self._out_copies:
            src = {"input": ins, "output": outs, "const": self._const_outs}[kind]
            outs[k][...] = src[j]

    def run(self, inputs: list[np.ndarray], threads: int = 1,
            arena: np.ndarray | None = None) -> list[np.ndarray]:
        """One inference on up to `threads` threads (bit-identical outputs for any count).
        Inputs must match the program's input buffers in dtype and shape. `arena`: memory to
        run in (`arena_size(threads)` bytes, 64-byte aligned, used by one run at a time), or
        None to allocate one for this run."""
        ins, outs = self._arrays(inputs)
        try:
            self._native.run(ins, outs, False, threads, arena)
        except _native.PlanDataError as e:
            call = self.program.calls[e.op]
            raise ValueError(f"{call.kernel} (node {call.node!r}) refused its input: an index "
                             "out of range") from None
        self._copy_outputs(ins, outs)
        return outs

    def arena_size(self, threads: int = 1) -> int:
        """Bytes of arena a run on `threads` threads uses (buffers + a scratch slot per
        thread)."""
        return self._native.arena_size(threads)

    def profile(self, inputs: list[np.ndarray], repeats: int = 10,
                threads: int = 1) -> list[tuple[str, str, int]]:
        """(node, kernel, median ns over `repeats` runs) per call, in call order."""
        ins, outs = self._arrays(inputs)
        try:
            times = np.stack([self._native.run_profiled(ins, outs, threads)
                              for _ in range(max(repeats, 1))])
        except _native.PlanDataError as e:
            call = self.program.calls[e.op]
            raise ValueError(f"{call.kernel} (node {call.node!r}) refused its input: an index "
                             "out of range") from None
        med = np.median(times, axis=0)
        return [(c.node, c.kernel, int(t)) for c, t in zip(self.program.calls, med)]

    def call_tasks(self) -> list[int]:
        """Tasks each call splits into for threads (1: always runs on one thread)."""
        return [self._native.op_tasks(i) for i in range(self._native.num_ops)]

    @property
    def arena_total(self) -> int:
        """Bytes each run allocates: the 64-aligned buffer part plus the scratch part."""
        return self._native.arena_total

    def memory_report(self) -> str:
        saved = 1 - self.arena_bytes / self.buffer_bytes if self.buffer_bytes else 0.0
        return (f"{len(self.offsets)} intermediate buffers, {self.buffer_bytes} bytes in total; "
                f"arena {self.arena_bytes} bytes ({saved:.0%} saved by reuse) + scratch "
                f"{self.scratch_bytes} bytes")
