"""Run a canonical float graph in numpy: the calibration engine and the float oracle.

Shapes come from the feeds, so any batch size works even though the graph's shapes were
resolved for one batch (Reshape and Slice carry dim 0 over, see float_ops). Intermediate
arrays are dropped after their last reader so a batch of 16 MobileNet-size images stays small.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from int8rt import ir, opset
from int8rt.reference import float_ops

Observer = Callable[[str, np.ndarray], None]


class FloatExecutor:
    def __init__(self, graph: ir.Graph) -> None:
        self.graph = graph
        self.order = graph.topological()
        for n in self.order:
            if n.op not in float_ops.OPS:
                raise ValueError(f"node {n.name!r}: op {n.op!r} has no float implementation")
        self._attrs = [opset.attrs_with_defaults(n.op, n.attrs) for n in self.order]
        self._shapes = [
            float_ops.NodeShapes(
                tuple(self._shape(i) for i in n.inputs), tuple(self._shape(o) for o in n.outputs)
            )
            for n in self.order
        ]
        self._consts = {
            t.name: (t.data.astype(np.float32) if t.data.dtype.kind == "f" else t.data)
            for t in graph.constants()
        }
        # index of the last node reading each tensor: free it after that node runs
        last: dict[str, int] = {}
        for k, n in enumerate(self.order):
            for i in n.inputs:
                if i:
                    last[i] = k
        self._last = last

    def _shape(self, name: str) -> tuple[int, ...] | None:
        t = self.graph.tensors.get(name) if name else None
        return None if t is None else tuple(t.shape)

    def run(
        self, feeds: dict[str, np.ndarray], observe: Observer | None = None
    ) -> dict[str, np.ndarray]:
        g = self.graph
        env: dict[str, np.ndarray] = {}
        for name in g.inputs:
            if name not in feeds:
                raise ValueError(f"missing feed for graph input {name!r}")
            arr = np.ascontiguousarray(feeds[name], dtype=np.float32)
            want = g.tensors[name].shape
            if arr.ndim != len(want) or tuple(arr.shape[1:]) != tuple(want[1:]):
                raise ValueError(
                    f"input {name!r}: got shape {arr.shape}, graph expects {tuple(want)} "
                    "(only the batch dimension may differ)"
                )
            env[name] = arr
            if observe is not None:
                observe(name, arr)
        keep = set(g.outputs)
        for k, n in enumerate(self.order):
            ins = [
                (env[i] if i in env else self._consts[i]) if i else None for i in n.inputs
            ]
            outs = float_ops.OPS[n.op](ins, self._attrs[k], self._shapes[k])
            for name, arr in zip(n.outputs, outs):
                if name:
                    env[name] = arr
                    if observe is not None:
                        observe(name, arr)
            for i in n.inputs:
                if i and self._last.get(i) == k and i not in keep and i in env \
                        and i not in g.inputs:
                    del env[i]
        return {o: (env[o] if o in env else self._consts[o]) for o in g.outputs}
