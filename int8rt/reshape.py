"""New input shapes without re-planning in Python: shape templates (docs/PLAN.md "Shapes").

One mechanism for both kinds of graph. A *lowering* says which input dimensions are free and
lowers the graph at given input shapes: `dynamic/reshape.py` for onnx-layout graphs (every
dimension the model leaves free: batch, sequence length; specialize.py + dynamic/lower.py),
`StaticLowering` below for static int8 graphs (the batch, dim 0 of every input; rebatch +
lower.py) and `ImageLowering` for static graphs whose image size may change (the batch and the
image's H / W on one residue class mod the graph's total stride, int8rt/image_size.py).

A *shape pattern* says which free input dimensions are 1 and which are equal to each other; the
distinct free dimensions above 1 are the pattern's *shape variables* (batch, sequence length).
For one pattern, the sizes of a graph's plan are shape expressions over those variables: every
buffer's byte size, every size parameter of every record (rows, strides, m, n, nidx, ...), the
model output shapes and the shape-dependent constants (the folded shape subgraphs of dynamic
graphs: position-embedding windows, position ids, all-ones masks) are polynomials of degree <= 2
in each variable (an attention score buffer is b · heads · s · s floats; a static graph's sizes
are linear in the batch).

The template of a pattern is derived once, in Python: the graph is lowered at the points of a
small grid of variable values (degree + 1 values per variable), the coefficients of each
quantity are solved from the grid exactly (integers, checked by evaluating them back), and then
checked against more lowerings: at values outside the grid and (dynamic graphs) at the shape
that was asked for. A graph whose structure (calls, buffers, constants) changes between the
points, or whose quantities are not such polynomials, or whose shape-dependent constants are not
windows / fills / ramps, has no template: its shapes are planned in Python as before.

After that, a new shape of the pattern is one C call (`_ShapeTemplate.reshape`,
csrc/plan/reshape.c): the expressions are evaluated, the arena is laid out again by liveness,
the records are re-derived and go through i8_plan_add_op / i8_plan_finalize with every check of a
plan built from Python. Weights are never copied or repacked: the dynamic path's are borrowed
constants, the static path's conv / fc weights are blobs packed once per session
(int8rt/packed_weights.py) that every plan borrows.
"""

from __future__ import annotations

import itertools
from collections import OrderedDict
from dataclasses import dataclass
from typing import ClassVar

import numpy as np

from . import ir
from ._native import (
    PLAN_MAX_INPUTS,
    SHAPE_MAX_DEG,
    SHAPE_MAX_VARS,
    _ShapeTemplate,
    resize_index_map,
)
from .dynamic.lower import aligned
from .packed_weights import PackedWeights
from .passes.shape_inference import rebatch
from .plan import NativePlan, liveness
from .program import Program

MAX_INPUTS = PLAN_MAX_INPUTS  # op_bufs rows: the inputs (-1: none), then the output
POINTS = SHAPE_MAX_DEG + 1  # grid values per variable: enough to solve a degree-2 polynomial
MAX_TEMPLATES = 8  # shape patterns a session keeps templates for


class TemplateError(ValueError):
    """The graph's sizes for this pattern are not shape expressions the template supports."""


def pattern_of(free: list[tuple[int, int]], shapes) -> tuple[tuple[int, ...], list[int]]:
    """(labels, variable values): label -1 for a free dim of 1, else the index of its variable
    (dims of equal value share one)."""
    labels, values = [], []
    for i, a in free:
        v = int(shapes[i][a])
        if v == 1:
            labels.append(-1)
            continue
        if v not in values:
            values.append(v)
        labels.append(values.index(v))
    return tuple(labels), values


def monomials(values) -> list[int]:
    """Every monomial's value, index e0 + 3 e1 + 9 e2 (as csrc/plan/reshape.c)."""
    out = []
    for m in range(POINTS ** len(values)):
        r, q = 1, m
        for v in values:
            r *= int(v) ** (q % POINTS)
            q //= POINTS
        out.append(r)
    return out


def _is_int(v) -> bool:
    return isinstance(v, (int, np.integer)) and not isinstance(v, (bool, np.bool_))


@dataclass
class _Sample:
    program: Program
    out_shapes: list[tuple[int, ...]]
    struct: tuple
    slots: list[tuple]
    ints: list[int]
    derived: dict | None = None


def _check_generated(gen: dict, calls) -> None:
    """A record const the template generates in C (a resize index map) must equal the
    lowering's at every sample shape."""
    for c in calls:
        want = np.asarray(c.consts[gen["const"]])
        got = resize_index_map(gen["kind"], int(c.params[gen["in"]]), int(c.params[gen["out"]]),
                               gen["ctm"], gen["nearest"], gen["scale"])
        if not np.array_equal(got, want):
            raise TemplateError(f"{c.kernel}: the generated {gen['const']!r} differs from the "
                                "lowering's")


def _sample(program: Program, out_shapes, derived=()) -> _Sample:
    """The structure (what must not change between shapes) and the integer quantities (what
    may) of one lowering. `derived`: (call, float param) pairs the template computes from a
    size (left out of the structure; checked by the template)."""
    struct, slots, ints = [], [], []
    for i, c in enumerate(program.calls):
        sig = [c.kernel, tuple(c.inputs), tuple(c.outputs), tuple(sorted(c.consts))]
        for k in sorted(c.params):
            v = c.params[k]
            if (i, k) in derived:
                continue
            if isinstance(v, (list, tuple)):
                sig.append((k, len(v)))
                for j, e in enumerate(v):
                    if _is_int(e):
                        slots.append(("param", i, k, j))
                        ints.append(int(e))
                    else:
                        sig.append((k, j, repr(e)))
            elif _is_int(v):
                slots.append(("param", i, k, -1))
                ints.append(int(v))
            else:
                sig.append((k, repr(v)))
        struct.append(tuple(sig))
    for name in sorted(program.buffers):
        b = program.buffers[name]
        struct.append((name, b.dtype, len(b.shape)))
        slots.append(("nbytes", name))
        ints.append(int(b.nbytes))
    for k, s in enumerate(out_shapes):
        struct.append(("out", k, len(s)))
        for j, d in enumerate(s):
            slots.append(("out", k, j))
            ints.append(d)
    struct += [tuple(program.inputs), tuple(program.outputs), tuple(sorted(program.constants))]
    return _Sample(program, out_shapes, tuple(struct), slots, ints)


def _same(arrs: list[np.ndarray]) -> bool:
    a0 = arrs[0]
    return all(a is a0 or (a.dtype == a0.dtype and a.shape == a0.shape and
                           np.array_equal(a, a0)) for a in arrs[1:])


def _ramp(flat: np.ndarray) -> tuple[int, int, int] | None:
    """(start, step, period) when int64 data is start + step * (i mod period)."""
    if flat.dtype != np.int64 or flat.size < 2:
        return None
    start, step = int(flat[0]), int(flat[1] - flat[0])
    want = start + step * np.arange(flat.size, dtype=np.int64)
    bad = np.flatnonzero(flat != want)
    period = int(bad[0]) if bad.size else flat.size
    if period < 2 or not np.array_equal(
            flat, start + step * (np.arange(flat.size, dtype=np.int64) % period)):
        return None
    return start, step, period


def _period(flat: np.ndarray) -> int:
    """The smallest p such that `flat` is flat[:p] repeated (its size when none is)."""
    n = flat.size
    for p in np.flatnonzero(flat[1:] == flat[0])[:64] + 1:
        if n % p == 0 and np.array_equal(flat[p:], flat[:n - p]):
            return int(p)
    return n


def _at(flat: np.ndarray, table: np.ndarray, off: int) -> bool:
    tf = table.reshape(-1)
    return tf.dtype == flat.dtype and off + flat.size <= tf.size and \
        np.array_equal(tf[off:off + flat.size], flat)


def _window(flat: np.ndarray, tables: list[np.ndarray]) -> tuple[int, int] | None:
    """(table index, element offset) of a table whose flat data holds `flat` contiguously."""
    n = flat.size
    for t, table in enumerate(tables):
        tf = table.reshape(-1)
        if tf.dtype != flat.dtype or tf.size < n or n == 0:
            continue
        for off in np.flatnonzero(tf[:tf.size - n + 1] == flat[0])[:64]:
            if np.array_equal(tf[off:off + n], flat):
                return t, int(off)
    return None


class ShapeTemplate:
    """One shape pattern's template: the C template, the base calls (node names for profiles
    and errors), and where the model I/O shapes are among the exprs."""

    def __init__(self, lowering, labels: tuple[int, ...],
                 check_values: list[int] | None = None) -> None:
        nv = lowering.n_vars(labels) if hasattr(lowering, "n_vars") else max(labels) + 1
        if not 1 <= nv <= SHAPE_MAX_VARS:
            raise TemplateError(f"{nv} shape variables (1 to {SHAPE_MAX_VARS} supported)")
        deg = lowering.degree
        if not 1 <= deg <= SHAPE_MAX_DEG:
            raise TemplateError(f"degree {deg} (1 to {SHAPE_MAX_DEG} supported)")
        self.lowering, self.labels, self.n_vars = lowering, labels, nv
        grid = [tuple(2 + POINTS * j + e for j, e in enumerate(es))
                for es in itertools.product(range(deg + 1), repeat=nv)]
        far = tuple(13 + 7 * j for j in range(nv))  # outside the grid, distinct
        check = tuple(check_values or far)
        points = grid + [far] + ([check] if check not in grid and check != far else [])
        generated = getattr(lowering, "generated", None)  # record consts made per shape
        derived_of = getattr(lowering, "derived_floats", None)  # float params made per shape
        try:
            samples = []
            for p in points:
                program, outs = lowering.lower(lowering.shapes_for(labels, p))
                derived = derived_of(program) if derived_of else {}
                samples.append(_sample(program, outs, derived))
                samples[-1].derived = derived
        except Exception as e:  # noqa: BLE001 - e.g. a sample length the graph refuses
            raise TemplateError(f"lowering at a sample shape failed: {e}") from None
        base = samples[0]
        if any(s.struct != base.struct for s in samples[1:]):
            raise TemplateError("the lowered structure differs between shapes")
        gens = generated(base.program) if generated else {}
        for i, call in enumerate(base.program.calls):  # record consts (bias, gamma, lens)
            for key in call.consts:
                if (i, key) in gens:
                    _check_generated(gens[(i, key)], [s.program.calls[i] for s in samples])
                elif not _same([np.asarray(s.program.calls[i].consts[key]) for s in samples]):
                    raise TemplateError(f"call {i} ({call.kernel}): const {key!r} depends on "
                                        "the shape")
        for (i, key), (num, den, size_key) in base.derived.items():
            for smp in samples:  # the C formula, in the same double arithmetic
                c = smp.program.calls[i]
                if np.float32(num / (den * c.params[size_key])) != np.float32(c.params[key]):
                    raise TemplateError(f"call {i} ({c.kernel}): {key!r} is not "
                                        f"{num!r} / ({den!r} * {size_key})")
        slots = list(base.slots)
        ints = [list(s.ints) for s in samples]
        consts = self._classify(lowering.tables, samples, slots, ints)

        # solve the coefficients on the grid, exactly, and check them everywhere: the
        # monomials of exponents <= deg (the grid's), the others' coefficients 0
        q = np.array(ints, dtype=np.int64)
        v = np.array([monomials(p) for p in points], dtype=np.int64)
        cols = [m for m in range(v.shape[1])
                if all((m // POINTS ** j) % POINTS <= deg for j in range(nv))]
        ng = len(grid)
        sub = np.rint(np.linalg.solve(v[:ng, cols].astype(np.float64),
                                      q[:ng].astype(np.float64)))
        if np.abs(sub).max(initial=0) > 2 ** 52:
            raise TemplateError("shape expression coefficients out of range")
        coef = np.zeros((v.shape[1], q.shape[1]), np.int64)
        coef[cols] = sub.astype(np.int64)
        if not np.array_equal(v @ coef, q):
            raise TemplateError(f"a size is not a polynomial of degree <= {deg} in each "
                                "dimension")
        self._build(base, slots, coef, consts, gens)

    # -- constants -----------------------------------------------------------------------------
    def _classify(self, tables, samples, slots, ints) -> dict[str, dict]:
        """Every program constant: fixed (the same array at every shape), a window of a graph
        constant (`tables`), a fill or a ramp; the period of a ramp becomes one more
        quantity."""
        out = {}
        for name in sorted(samples[0].program.constants):
            arrs = [np.asarray(s.program.constants[name]) for s in samples]
            if _same(arrs):
                out[name] = {"kind": "fixed", "data": arrs[0]}
                continue
            flats = [a.reshape(-1) for a in arrs]
            if all(f.size > 0 for f in flats) and len({f.dtype for f in flats}) == 1 and \
                    flats[0].dtype.itemsize in (1, 2, 4, 8) and \
                    len({f[0].tobytes() for f in flats}) == 1 and \
                    all((f == f[0]).all() for f in flats):
                value = int.from_bytes(flats[0][:1].tobytes(), "little", signed=True)
                out[name] = {"kind": "fill", "value": value,
                             "elem_size": flats[0].dtype.itemsize}
                continue
            ramps = [_ramp(f) for f in flats]
            if all(r is not None for r in ramps) and len({r[:2] for r in ramps}) == 1:
                out[name] = {"kind": "ramp", "value": ramps[0][0], "step": ramps[0][1],
                             "elem_size": 8}
                slots.append(("period", name))
                for row, r in zip(ints, ramps):
                    row.append(r[2])
                continue
            w = _window(flats[0], tables)
            if w is not None and all(_at(f, tables[w[0]], w[1]) for f in flats[1:]):
                t, off = w
                out[name] = {"kind": "window", "data": aligned(tables[t]),
                             "offset": off * flats[0].dtype.itemsize}
                continue
            periods = [_period(f) for f in flats]
            w = _window(flats[0][:periods[0]], tables)
            if w is not None and all(_at(f[:p], tables[w[0]], w[1]) and
                                     np.array_equal(f, np.tile(f[:p], f.size // p))
                                     for f, p in zip(flats[1:], periods[1:])):
                t, off = w
                size = flats[0].dtype.itemsize
                out[name] = {"kind": "tile", "data": aligned(tables[t]), "offset": off * size}
                slots.append(("period", name))
                for row, p in zip(ints, periods):
                    row.append(p * size)
                continue
            raise TemplateError(f"constant {name!r} depends on the shape in a way the template "
                                "does not model")
        return out

    # -- the C template ------------------------------------------------------------------------
    def _build(self, base: _Sample, slots, coef: np.ndarray, consts, gens) -> None:
        prog = base.program
        keys: dict[tuple[int, ...], int] = {}
        terms: list[tuple[int, int]] = []
        exprs: list[tuple[int, int]] = []
        slot_expr: dict[tuple, int] = {}
        for k, slot in enumerate(slots):
            col = tuple(int(c) for c in coef[:, k])
            e = keys.get(col)
            if e is None:
                nz = [(c, m) for m, c in enumerate(col) if c]
                e = keys[col] = len(exprs)
                exprs.append((len(terms), len(nz)))
                terms.extend(nz)
            slot_expr[slot] = e
        constant = {e for col, e in keys.items() if not any(col[1:])}

        io = set(prog.inputs) | set(prog.outputs) | set(prog.constants)
        if len(set(prog.outputs)) != len(prog.outputs) or \
                set(prog.outputs) & (set(prog.inputs) | set(prog.constants)):
            raise TemplateError("a model output that is an input, a constant or listed twice")
        used = [n for c in prog.calls for n in (*c.inputs, *c.outputs)]
        lives = liveness(prog.calls, set(used) - io)
        names = list(dict.fromkeys([*prog.inputs, *prog.outputs, *used]))
        bid = {n: i for i, n in enumerate(names)}
        bufs, table_arrays, table_index = [], [], {}

        def table(arr):
            if id(arr) not in table_index:
                table_index[id(arr)] = len(table_arrays)
                table_arrays.append(arr)
            return table_index[id(arr)]

        for n in names:
            b = {"nbytes": slot_expr[("nbytes", n)]}
            if n in prog.inputs:
                b.update(kind="input", index=prog.inputs.index(n))
            elif n in prog.outputs:
                b.update(kind="output", index=prog.outputs.index(n))
            elif n in consts:
                c = consts[n]
                if c["kind"] in ("fixed", "window", "tile"):
                    data = c["data"]
                    if not (data.flags.c_contiguous and data.ctypes.data % 64 == 0):
                        data = aligned(data)
                    b.update(kind="tile" if c["kind"] == "tile" else "const",
                             index=table(data), offset=c.get("offset", 0),
                             period=slot_expr.get(("period", n), 0))
                else:
                    b.update(kind=c["kind"], value=c["value"], step=c.get("step", 0),
                             elem_size=c["elem_size"],
                             period=slot_expr.get(("period", n), 0))
            else:
                b.update(kind="arena", first=lives[n].first, last=lives[n].last)
            bufs.append(b)
        calls, op_bufs, patches = [], [], []
        typed = _Typed(prog, self.lowering.packed_weights)
        for i, c in enumerate(prog.calls):
            params = NativePlan._params(typed, c)
            calls.append((c.kernel, params, dict(NativePlan._consts(typed, c, params)),
                          len(c.inputs)))
            ids = [bid[n] for n in c.inputs] + [-1] * (MAX_INPUTS - len(c.inputs))
            op_bufs.append(ids + [bid[c.outputs[0]]])
        for slot, e in slot_expr.items():
            if slot[0] == "param" and e not in constant:
                patches.append((slot[1], slot[2], slot[3], e))
        gen_rows = [(i, key, g["kind"], slot_expr[("param", i, g["in"], -1)],
                     slot_expr[("param", i, g["out"], -1)], g["ctm"], g["nearest"], g["scale"])
                    for (i, key), g in gens.items()]
        fpatches = [(i, key, num, den, slot_expr[("param", i, size_key, -1)])
                    for (i, key), (num, den, size_key) in base.derived.items()]
        self.native = _ShapeTemplate(
            self.n_vars, terms, exprs or [(0, 0)], bufs,
            [prog.buffers[n].dtype for n in prog.inputs],
            [prog.buffers[n].dtype for n in prog.outputs], table_arrays, calls, op_bufs, patches,
            gen_rows, fpatches)
        self.calls = prog.calls
        self.in_dtypes = [np.dtype(prog.buffers[n].dtype) for n in prog.inputs]
        self.out_dtypes = [np.dtype(prog.buffers[n].dtype) for n in prog.outputs]
        self.out_exprs = [[slot_expr[("out", k, j)] for j in range(len(s))]
                          for k, s in enumerate(base.out_shapes)]
        self.arena_exprs = [slot_expr[("nbytes", n)] for n in names if n in lives]

    def plan(self, shapes, values: list[int]) -> ReshapedPlan:
        native, vals, arena = self.native.reshape(values)
        out_shapes = [tuple(int(vals[e]) for e in ex) for ex in self.out_exprs]
        buffer_bytes = int(sum(int(vals[e]) for e in self.arena_exprs))
        return ReshapedPlan(native, self, [tuple(s) for s in shapes], out_shapes, int(arena),
                            buffer_bytes)


class _Typed:
    """What NativePlan._params / _consts read from a plan: the program's buffers and the
    session's packed weights."""

    def __init__(self, program: Program, packed_weights: PackedWeights | None) -> None:
        self.program = program
        self.packed_weights = packed_weights


class _Calls:
    def __init__(self, calls) -> None:
        self.calls = calls


class ReshapedPlan(NativePlan):
    """The plan of one input shape made by a shape template: runs, profiles and reports like a
    NativePlan built from Python (`program` holds only the calls: node names, kernels)."""

    def __init__(self, native, template: ShapeTemplate, in_shapes, out_shapes, arena: int,
                 buffer_bytes: int) -> None:
        self._native = native
        self.program = _Calls(template.calls)
        self._in = list(zip(in_shapes, template.in_dtypes))
        self._out = list(zip(out_shapes, template.out_dtypes))
        self._out_copies, self._const_outs = [], []
        self.arena_bytes = arena
        self.buffer_bytes = buffer_bytes
        self.scratch_bytes = native.scratch_bytes
        self.offsets = {}
        self.lifetimes = {}

    def _arrays(self, inputs):
        if len(inputs) != len(self._in):
            raise ValueError(f"expected {len(self._in)} inputs, got {len(inputs)}")
        ins = []
        for k, ((shape, dt), a) in enumerate(zip(self._in, inputs)):
            a = np.asarray(a)
            if a.dtype != dt or a.shape != shape:
                raise ValueError(f"input {k}: expected {dt}{list(shape)}, got "
                                 f"{a.dtype}{list(a.shape)}")
            ins.append(np.ascontiguousarray(a))
        return ins, [np.empty(s, dtype=dt) for s, dt in self._out]

    def memory_report(self) -> str:
        saved = 1 - self.arena_bytes / self.buffer_bytes if self.buffer_bytes else 0.0
        return (f"reshaped plan: intermediate buffers {self.buffer_bytes} bytes in total; "
                f"arena {self.arena_bytes} bytes ({saved:.0%} saved by reuse) + scratch "
                f"{self.scratch_bytes} bytes")


class Reshaper:
    """A session's shape templates, one per shape pattern (bounded, least recently used out),
    and the patterns that have none (planned in Python)."""

    def __init__(self, lowering) -> None:
        self.lowering = lowering
        self.free = lowering.free
        self.templates: OrderedDict[tuple, ShapeTemplate] = OrderedDict()
        self.refused: OrderedDict[tuple, str] = OrderedDict()

    def _template(self, labels, values) -> ShapeTemplate | None:
        if labels in self.refused:
            return None
        tpl = self.templates.get(labels)
        if tpl is not None:
            self.templates.move_to_end(labels)
            return tpl
        try:
            tpl = ShapeTemplate(self.lowering, labels,
                                values if self.lowering.check_asked else None)
        except Exception as e:  # noqa: BLE001 - any failure only means: plan in Python
            # (a shape that cannot be planned then fails there, with that path's error)
            self.refused[labels] = f"{type(e).__name__}: {e}"
            while len(self.refused) > 64:
                self.refused.popitem(last=False)
            return None
        self.templates[labels] = tpl
        while len(self.templates) > MAX_TEMPLATES:
            self.templates.popitem(last=False)
        return tpl

    def plan(self, shapes) -> ReshapedPlan | None:
        """The plan for `shapes` made by its pattern's template, or None (no template: the
        caller plans in Python)."""
        if hasattr(self.lowering, "pattern"):
            pv = self.lowering.pattern(shapes)
            if pv is None:
                return None
            labels, values = pv
        else:
            labels, values = pattern_of(self.free, shapes)
        if not values or len(values) > SHAPE_MAX_VARS:
            return None
        tpl = self._template(labels, values)
        return None if tpl is None else tpl.plan(shapes, values)


def graph_tables(graph: ir.Graph) -> list[np.ndarray]:
    """The graph's constant arrays: where a shape-dependent program constant may be a window."""
    return [t.data for t in graph.tensors.values() if t.data is not None
            and isinstance(t.data, np.ndarray) and t.data.size > 1]


class StaticLowering:
    """A static int8 graph at a batch size: free dims are dim 0 of every input (one shape
    variable, since every input of a run has the same batch), lowered by rebatch + lower.py.
    Its sizes are linear in the batch (degree 1: a grid of batch 2 and 3, checked at 13)."""

    degree = 1
    check_asked = False  # 3 lowerings per template: the grid and the far point

    def __init__(self, graph: ir.Graph, packed_weights: PackedWeights,
                 fuse_epilogues: bool) -> None:
        self.graph, self.packed_weights, self.fuse = graph, packed_weights, fuse_epilogues
        self.base = tuple(tuple(graph.tensor(n).shape) for n in graph.inputs)
        self.free = [(i, 0) for i in range(len(graph.inputs))]
        self.tables = graph_tables(graph)

    def shapes_for(self, labels, values) -> tuple[tuple[int, ...], ...]:
        shapes = [list(s) for s in self.base]
        for (i, a), lab in zip(self.free, labels):
            shapes[i][a] = 1 if lab < 0 else int(values[lab])
        return tuple(tuple(s) for s in shapes)

    def lower(self, shapes) -> tuple[Program, list[tuple[int, ...]]]:
        from .lower import lower

        g = self.graph
        if tuple(shapes) != self.base:
            g = rebatch(g.copy(), dict(zip(g.inputs, shapes)))
        program = lower(g, fuse_epilogues=self.fuse)
        return program, [tuple(program.buffers[o].shape) for o in program.outputs]


class ImageLowering(StaticLowering):
    """A static int8 graph at a batch size and an image size (docs/PLAN.md "Image size"). The
    shape variables are the batch (when > 1) and, per free image axis, v = j - j0 + 1 where
    size = r + S j (S the graph's total stride, image_size.analyze; j0 the first j whose size
    fits the graph's windows, so v >= 1 covers every size the graph takes). On one residue class
    (r_h, r_w) every size is affine in each variable (degree 1: a grid of 2 values per variable,
    checked at a far point); the pattern's labels are (batch 1 or variable, r_h, r_w). A
    resize's index maps and a global average pool's multiplier follow the size: the template
    generates them in C (`generated`, `derived_floats`)."""

    def __init__(self, graph: ir.Graph, packed_weights: PackedWeights, fuse_epilogues: bool,
                 image) -> None:
        super().__init__(graph, packed_weights, fuse_epilogues)
        self.image = image
        self._nodes = {n.name: n for n in graph.nodes}

    @staticmethod
    def _j0(ax, r: int) -> int:
        return max(0, -(-(ax.minimum - r) // ax.period))

    def pattern(self, shapes) -> tuple[tuple[int, ...], list[int]] | None:
        b = int(shapes[0][0])
        labels, values = [-1 if b == 1 else 0], ([] if b == 1 else [b])
        for ax in self.image.axes:
            n = int(shapes[ax.input][ax.axis])
            r = n % ax.period
            v = (n - r) // ax.period - self._j0(ax, r) + 1
            if v < 1:
                return None
            labels.append(r)
            values.append(v)
        return tuple(labels), values

    def n_vars(self, labels) -> int:
        return int(labels[0] >= 0) + len(self.image.axes)

    def shapes_for(self, labels, values) -> tuple[tuple[int, ...], ...]:
        shapes = [list(s) for s in self.base]
        vals = list(values)
        b = vals.pop(0) if labels[0] >= 0 else 1
        for s in shapes:
            s[0] = b
        for ax, r, v in zip(self.image.axes, labels[1:], vals):
            shapes[ax.input][ax.axis] = r + ax.period * (int(v) - 1 + self._j0(ax, r))
        return tuple(tuple(s) for s in shapes)

    def lower(self, shapes) -> tuple[Program, list[tuple[int, ...]]]:
        from .image_size import at_size
        from .lower import lower

        g = self.graph
        if tuple(shapes) != self.base:
            g = at_size(g, dict(zip(g.inputs, shapes)))
        program = lower(g, fuse_epilogues=self.fuse)
        return program, [tuple(program.buffers[o].shape) for o in program.outputs]

    _MAPS: ClassVar[dict[str, tuple]] = {"resize_nearest": (("iy", "nearest", "h", "oh", 0), ("ix", "nearest", "w", "ow", 1)),
             "resize_bilinear": (("y0", "linear_i0", "h", "oh", 0), ("y1", "linear_i1", "h", "oh", 0),
                                 ("fy", "linear_w1", "h", "oh", 0), ("x0", "linear_i0", "w", "ow", 1),
                                 ("x1", "linear_i1", "w", "ow", 1), ("fx", "linear_w1", "w", "ow", 1))}

    def generated(self, program: Program) -> dict[tuple[int, str], dict]:
        """The resize index maps of the program's calls, as the template generates them (the
        node's coordinate and nearest modes; its float32 scales, or out / in for sizes)."""
        out = {}
        for i, c in enumerate(program.calls):
            node = self._nodes.get(c.node)
            if c.kernel not in self._MAPS or node is None or node.op != "Resize":
                continue
            a = node.attrs
            scales = a.get("scales") if a.get("size_rule") not in ("like", "fixed", "unknown") \
                else None
            for key, kind, size_in, size_out, k in self._MAPS[c.kernel]:
                out[(i, key)] = {"const": key, "kind": kind, "in": size_in, "out": size_out,
                                 "ctm": a.get("coordinate_transformation_mode", "half_pixel"),
                                 "nearest": a.get("nearest_mode", "round_prefer_floor"),
                                 "scale": None if scales is None else float(scales[k])}
        return out

    def derived_floats(self, program: Program) -> dict[tuple[int, str], tuple]:
        """A global average pool's multiplier s_x / (s_y H W) (kernel_tables.global_avgpool_mult)
        as (s_x, s_y, the param holding H W)."""
        from .kernel_tables import _f64

        out = {}
        for i, c in enumerate(program.calls):
            node = self._nodes.get(c.node)
            if c.kernel != "global_avgpool" or node is None:
                continue
            qx = self.graph.tensor(node.inputs[0]).qparams
            qy = self.graph.tensor(node.outputs[0]).qparams
            if qx is None or qy is None:
                continue
            out[(i, "mult")] = (_f64(qx.scalar()[0]), _f64(qy.scalar()[0]), "hw")
        return out
