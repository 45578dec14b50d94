"""Shape templates of onnx-layout graphs (int8rt/reshape.py has the mechanism, docs/PLAN.md
"Shapes"): every dimension the model leaves free (stored as 0) is free, the graph is lowered by
specialize.py (shape subgraphs folded) and lower.py, and the shape asked for is one more check
point of a template."""

from __future__ import annotations

from .. import ir
from ..program import Program
from ..reshape import (  # noqa: F401
    MAX_TEMPLATES,
    SHAPE_MAX_VARS,
    ReshapedPlan,
    ShapeTemplate,
    TemplateError,
    graph_tables,
    monomials,
    pattern_of,
)
from ..reshape import Reshaper as _Reshaper
from .lower import lower_program
from .specialize import specialize


def free_dims(graph: ir.Graph) -> list[tuple[int, int]]:
    """(input index, axis) of every dimension the model leaves free (stored as 0)."""
    return [(i, a) for i, n in enumerate(graph.inputs)
            for a, d in enumerate(graph.tensor(n).shape) if d == 0]


def shapes_for(graph: ir.Graph, free, labels, values) -> tuple[tuple[int, ...], ...]:
    shapes = [list(graph.tensor(n).shape) for n in graph.inputs]
    for (i, a), lab in zip(free, labels):
        shapes[i][a] = 1 if lab < 0 else int(values[lab])
    return tuple(tuple(s) for s in shapes)


class DynamicLowering:
    """An onnx-layout graph at given input shapes: specialized, then lowered to float32 /
    dynamic int8 / weight-only records whose weights are borrowed constants (`packed`: the
    session's dynamic int8 panels)."""

    degree = 2  # attention scores are b · heads · s · s
    check_asked = True
    packed_weights = None  # no conv2d / fc records: weights are borrowed constants

    def __init__(self, graph: ir.Graph, packed: dict) -> None:
        self.graph, self.packed = graph, packed
        self.free = free_dims(graph)
        self.tables = graph_tables(graph)

    def shapes_for(self, labels, values) -> tuple[tuple[int, ...], ...]:
        return shapes_for(self.graph, self.free, labels, values)

    def lower(self, shapes) -> tuple[Program, list[tuple[int, ...]]]:
        g = self.graph
        spec = specialize(g, dict(zip(g.inputs, shapes)))
        program = lower_program(spec, self.packed)
        return program, [tuple(int(d) for d in spec.tensor(o).shape) for o in g.outputs]


class Reshaper(_Reshaper):
    """The shape templates of a dynamic-path session."""

    def __init__(self, graph: ir.Graph, packed: dict) -> None:
        super().__init__(DynamicLowering(graph, packed))

    def prepare(self) -> None:
        """Builds, at session load, the template of the pattern a session most often runs
        first: the free dims of axis 0 (the batch) 1, the other free dims tied by axis (ids
        [1, s] and mask [1, s] share s). A guess: a refused or unused template costs only this
        build, and other patterns are built on their first shape."""
        labels, axes = [], []
        for _, a in self.free:
            if a == 0:
                labels.append(-1)
                continue
            if a not in axes:
                axes.append(a)
            labels.append(axes.index(a))
        if axes and len(axes) <= SHAPE_MAX_VARS:
            self._template(tuple(labels), None)
