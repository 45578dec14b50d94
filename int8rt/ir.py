"""The graph every layer speaks: a small list of nodes over named tensors.

A float graph comes out of a frontend; passes rewrite it (constant folding, BatchNorm folding,
activation fusion, NCHW -> NHWC); quantization turns it into the same ops over int8 tensors
that carry quantization parameters; lowering turns that into kernel calls. The op names and
attributes each op takes are listed in int8rt/opset.py and docs/ARCHITECTURE.md.

Tensors are identified by name. A tensor with `data` is a constant (an initializer). An empty
string in `Node.inputs` marks an omitted optional input.
"""

from __future__ import annotations

import copy
import itertools
from collections.abc import Container, Iterator
from dataclasses import dataclass, field
from typing import Any

import numpy as np

DTYPES = ("float32", "int8", "uint8", "int32", "int64", "bool")


def fresh_name(base: str, *taken: Container[str]) -> str:
    """`base`, or `base_1`, `base_2`, ... : the first name in none of `taken`."""
    name = base
    for i in itertools.count(1):
        if not any(name in t for t in taken):
            return name
        name = f"{base}_{i}"
    raise AssertionError("unreachable")


@dataclass(frozen=True, eq=False)
class QParams:
    """real = scale * (q - zero_point); per-tensor when `axis` is None, else one entry per
    index along `axis` (weights: axis 0, the output channel)."""

    scale: np.ndarray  # float32, shape () or (C,)
    zero_point: np.ndarray  # int32, same shape as scale
    axis: int | None = None

    @staticmethod
    def per_tensor(scale: float, zero_point: int) -> QParams:
        return QParams(np.asarray(scale, np.float32), np.asarray(zero_point, np.int32), None)

    @property
    def is_per_tensor(self) -> bool:
        return self.axis is None

    def scalar(self) -> tuple[float, int]:
        """(scale, zero_point) of a per-tensor parameter set."""
        if self.axis is not None:
            raise ValueError("per-channel quantization parameters have no single scale")
        return float(self.scale), int(self.zero_point)


@dataclass
class Tensor:
    name: str
    shape: tuple[int, ...]
    dtype: str
    data: np.ndarray | None = None
    qparams: QParams | None = None

    @property
    def is_const(self) -> bool:
        return self.data is not None


@dataclass
class Node:
    op: str
    name: str
    inputs: list[str]
    outputs: list[str]
    attrs: dict[str, Any] = field(default_factory=dict)


@dataclass
class Graph:
    nodes: list[Node]
    tensors: dict[str, Tensor]
    inputs: list[str]
    outputs: list[str]
    name: str = "graph"
    meta: dict[str, Any] = field(default_factory=dict)

    # -- lookups -----------------------------------------------------------------------------
    def tensor(self, name: str) -> Tensor:
        try:
            return self.tensors[name]
        except KeyError:
            raise KeyError(f"graph has no tensor named {name!r}") from None

    def const(self, name: str) -> np.ndarray | None:
        t = self.tensors.get(name)
        return None if t is None else t.data

    def producers(self) -> dict[str, Node]:
        return {out: n for n in self.nodes for out in n.outputs}

    def consumers(self) -> dict[str, list[Node]]:
        users: dict[str, list[Node]] = {}
        for n in self.nodes:
            for name in n.inputs:
                if name:
                    users.setdefault(name, []).append(n)
        return users

    def constants(self) -> Iterator[Tensor]:
        return (t for t in self.tensors.values() if t.is_const)

    # -- edits -------------------------------------------------------------------------------
    def unique_name(self, base: str) -> str:
        return fresh_name(base, self.tensors, {n.name for n in self.nodes})

    def add_const(self, base: str, data: np.ndarray) -> str:
        name = self.unique_name(base)
        data = np.array(data, order="C")  # (ascontiguousarray would turn 0-d into shape (1,))
        self.tensors[name] = Tensor(name, tuple(data.shape), str(data.dtype), data=data)
        return name

    def replace_uses(self, old: str, new: str) -> None:
        for n in self.nodes:
            n.inputs = [new if i == old else i for i in n.inputs]
        self.outputs = [new if o == old else o for o in self.outputs]

    def prune(self) -> None:
        """Drop nodes whose outputs nobody reads and tensors nobody mentions."""
        live = set(self.outputs)
        kept: list[Node] = []
        for n in reversed(self.topological()):
            if any(o in live for o in n.outputs):
                kept.append(n)
                live.update(i for i in n.inputs if i)
        self.nodes = kept[::-1]
        used = live | set(self.inputs)
        self.tensors = {k: v for k, v in self.tensors.items() if k in used}

    def topological(self) -> list[Node]:
        """Nodes in an order where every input is produced before use; raises on a cycle or a
        dangling input name."""
        available = set(self.inputs) | {t.name for t in self.constants()}
        pending = list(self.nodes)
        order: list[Node] = []
        while pending:
            rest = []
            for n in pending:
                if all((not i) or i in available for i in n.inputs):
                    order.append(n)
                    available.update(n.outputs)
                else:
                    rest.append(n)
            if len(rest) == len(pending):
                n = rest[0]
                missing = [i for i in n.inputs if i and i not in available]
                raise ValueError(
                    f"graph is not a DAG or has dangling inputs: node {n.name!r} ({n.op}) "
                    f"waits for {missing}"
                )
            pending = rest
        return order

    def copy(self) -> Graph:
        return copy.deepcopy(self)
