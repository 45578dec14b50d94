"""A small float executor and hand-built canonical graphs for the quantization tests.

The real float executor lives in int8rt.reference.float_executor (another branch); this stand-in
implements only the ops the test graphs use, with the same interface:
`StandInExecutor(graph).run(feeds, observe=None) -> {output_name: array}`, calling
observe(name, array) for every non-constant tensor a node produces.
"""

from __future__ import annotations

from typing import Callable

import numpy as np

from int8rt.ir import Graph, Node, Tensor
from int8rt.opset import attrs_with_defaults


def _conv_nhwc(x: np.ndarray, w: np.ndarray, b: np.ndarray | None, strides, pads) -> np.ndarray:
    n, h, wd, _ = x.shape
    oc, kh, kw, _ = w.shape
    top, left, bottom, right = pads
    xp = np.pad(x, ((0, 0), (top, bottom), (left, right), (0, 0)))
    oh = (h + top + bottom - kh) // strides[0] + 1
    ow = (wd + left + right - kw) // strides[1] + 1
    y = np.zeros((n, oh, ow, oc), np.float64)
    for i in range(kh):
        for j in range(kw):
            patch = xp[:, i:i + strides[0] * oh:strides[0], j:j + strides[1] * ow:strides[1], :]
            y += patch.astype(np.float64) @ w[:, i, j, :].astype(np.float64).T
    if b is not None:
        y += b
    return y.astype(np.float32)


def _clip(y: np.ndarray, clip) -> np.ndarray:
    lo, hi = clip
    return np.clip(y, np.float32(lo), np.float32(hi)).astype(np.float32)


class StandInExecutor:
    def __init__(self, graph: Graph) -> None:
        self.graph = graph
        self.batches: list[int] = []  # leading dims of the feeds of each run (for tests)

    def run(self, feeds: dict[str, np.ndarray],
            observe: Callable[[str, np.ndarray], None] | None = None) -> dict[str, np.ndarray]:
        g = self.graph
        env: dict[str, np.ndarray] = {t.name: t.data for t in g.constants()}
        env.update({k: np.asarray(v, np.float32) for k, v in feeds.items()})
        self.batches.append(next(iter(feeds.values())).shape[0])
        for node in g.topological():
            outs = self._op(node, [env[i] if i else None for i in node.inputs])
            for name, val in zip(node.outputs, outs):
                env[name] = val
                if observe is not None:
                    observe(name, val)
        return {o: env[o] for o in g.outputs}

    @staticmethod
    def _op(node: Node, xs: list) -> list[np.ndarray]:
        a = attrs_with_defaults(node.op, node.attrs)
        op = node.op
        with np.errstate(over="ignore", invalid="ignore"):
            if op == "Conv":
                b = xs[2] if len(xs) > 2 else None
                y = _conv_nhwc(xs[0], xs[1], b, a["strides"], a["pads"])
                return [_clip(y, a["clip"])]
            if op == "Gemm":
                y = xs[0].astype(np.float64) @ xs[1].astype(np.float64).T
                if len(xs) > 2 and xs[2] is not None:
                    y = y + xs[2]
                return [_clip(y.astype(np.float32), a["clip"])]
            if op in ("Add", "Sub", "Mul"):
                f = {"Add": np.add, "Sub": np.subtract, "Mul": np.multiply}[op]
                return [_clip(f(xs[0], xs[1]).astype(np.float32), a["clip"])]
            if op == "Div":
                return [(xs[0] / xs[1]).astype(np.float32)]
            if op == "Relu":
                return [np.maximum(xs[0], np.float32(0))]
            if op == "Transpose":
                return [np.ascontiguousarray(np.transpose(xs[0], a["perm"]))]
            if op == "Reshape":
                return [xs[0].reshape(a["shape"])]  # literal: the batch dimension is pinned
            if op == "MaxPool":
                kh, kw = a["kernel"]
                sh, sw = a["strides"]
                x = xs[0]
                n, h, w, c = x.shape
                oh, ow = (h - kh) // sh + 1, (w - kw) // sw + 1
                y = np.full((n, oh, ow, c), -np.inf, np.float32)
                for i in range(kh):
                    for j in range(kw):
                        y = np.maximum(y, x[:, i:i + sh * oh:sh, j:j + sw * ow:sw, :])
                return [y]
            if op == "Softmax":
                x = xs[0].astype(np.float64)
                e = np.exp(x - x.max(axis=a["axis"], keepdims=True))
                return [(e / e.sum(axis=a["axis"], keepdims=True)).astype(np.float32)]
        raise NotImplementedError(op)


def _t(name: str, shape, data=None) -> Tensor:
    if data is not None:
        data = np.asarray(data)
        return Tensor(name, tuple(data.shape), str(data.dtype), data=data)
    return Tensor(name, tuple(shape), "float32")


def chain_graph(seed: int = 0) -> Graph:
    """x [1,3,8,8] NCHW -> Transpose -> Conv 3x3 (+ReLU clip) -> Add const -> MaxPool 2x2 ->
    Reshape [1,64] -> Gemm (no bias) -> Softmax -> y [1,10]."""
    rng = np.random.default_rng(seed)
    w1 = rng.normal(0, 0.5, (4, 3, 3, 3)).astype(np.float32)
    w1[2] *= 0.01  # a channel with a much smaller range: per-channel scales must differ
    b1 = rng.normal(0, 0.1, 4).astype(np.float32)
    k = rng.normal(0, 0.3, 4).astype(np.float32)
    w2 = rng.normal(0, 0.2, (10, 64)).astype(np.float32)
    tensors = [
        _t("x", (1, 3, 8, 8)), _t("t0", (1, 8, 8, 3)), _t("c1", (1, 8, 8, 4)),
        _t("a1", (1, 8, 8, 4)), _t("p1", (1, 4, 4, 4)), _t("r1", (1, 64)),
        _t("g1", (1, 10)), _t("y", (1, 10)),
        _t("conv.w", None, w1), _t("conv.b", None, b1), _t("add.k", None, k),
        _t("fc.w", None, w2),
    ]
    nodes = [
        Node("Transpose", "to_nhwc", ["x"], ["t0"], {"perm": (0, 2, 3, 1)}),
        Node("Conv", "conv", ["t0", "conv.w", "conv.b"], ["c1"],
             {"pads": (1, 1, 1, 1), "clip": (0.0, float("inf"))}),
        Node("Add", "add", ["c1", "add.k"], ["a1"]),
        Node("MaxPool", "pool", ["a1"], ["p1"], {"kernel": (2, 2), "strides": (2, 2)}),
        Node("Reshape", "flatten", ["p1"], ["r1"], {"shape": (1, 64)}),
        Node("Gemm", "fc", ["r1", "fc.w"], ["g1"]),
        Node("Softmax", "softmax", ["g1"], ["y"], {"axis": -1}),
    ]
    return Graph(nodes, {t.name: t for t in tensors}, ["x"], ["y"], name="chain")


def fallback_graph(seed: int = 1) -> Graph:
    """x [N,4] -> Gemm (+bias) -> h -> Div const (float only) -> d -> Mul const -> y.
    Outputs: y and d (d is also read by the int8 Mul)."""
    rng = np.random.default_rng(seed)
    tensors = [
        _t("x", (1, 4)), _t("h", (1, 6)), _t("d", (1, 6)), _t("y", (1, 6)),
        _t("fc.w", None, rng.normal(0, 1, (6, 4)).astype(np.float32)),
        _t("fc.b", None, rng.normal(0, 1, 6).astype(np.float32)),
        _t("two", None, np.array(2.0, np.float32)),
        _t("scale", None, rng.uniform(-2, 2, 6).astype(np.float32)),
    ]
    nodes = [
        Node("Gemm", "fc", ["x", "fc.w", "fc.b"], ["h"]),
        Node("Div", "half", ["h", "two"], ["d"]),
        Node("Mul", "mul", ["d", "scale"], ["y"]),
    ]
    return Graph(nodes, {t.name: t for t in tensors}, ["x"], ["y", "d"], name="fallback")


def record_all(graph: Graph, feeds: dict[str, np.ndarray]) -> dict[str, list[np.ndarray]]:
    """Every tensor value the stand-in produces for `feeds`, inputs included."""
    seen: dict[str, list[np.ndarray]] = {k: [np.asarray(v, np.float32)] for k, v in feeds.items()}
    StandInExecutor(graph).run(feeds, lambda n, a: seen.setdefault(n, []).append(a.copy()))
    return seen
