"""Hand-built canonical float graphs for the PTQ-technique tests (NHWC, constants inline)."""

from __future__ import annotations

import numpy as np

from int8rt.ir import Graph, Node, Tensor

RELU = (0.0, float("inf"))


def _const(rng: np.random.Generator, name: str, shape, scale=1.0) -> Tensor:
    data = (rng.standard_normal(shape) * scale).astype(np.float32)
    return Tensor(name, tuple(shape), "float32", data=data)


def dw_separable_graph(seed: int = 0, h: int = 8, classes: int = 5) -> Graph:
    """conv3x3(3->8)+relu -> depthwise3x3(8)+relu -> conv1x1(8->12)+relu -> GAP -> fc.
    The depthwise weights get per-channel magnitudes spread over 3 decades (what BN folding
    does to real depthwise layers), so per-tensor int8 weights lose the small channels."""
    rng = np.random.default_rng(seed)
    c1, c2 = 8, 12
    spread = np.logspace(-1.5, 1.5, c1).astype(np.float32)
    rng.shuffle(spread)
    dw = _const(rng, "dw.w", (c1, 3, 3, 1), 0.3)
    dw.data = (dw.data * spread[:, None, None, None]).astype(np.float32)
    ts = [
        Tensor("x", (1, h, h, 3), "float32"),
        _const(rng, "c1.w", (c1, 3, 3, 3), 0.3), _const(rng, "c1.b", (c1,), 0.1),
        dw, _const(rng, "dw.b", (c1,), 0.1),
        _const(rng, "pw.w", (c2, 1, 1, c1), 0.4), _const(rng, "pw.b", (c2,), 0.1),
        _const(rng, "fc.w", (classes, c2), 0.5), _const(rng, "fc.b", (classes,), 0.1),
        Tensor("a1", (1, h, h, c1), "float32"), Tensor("a2", (1, h, h, c1), "float32"),
        Tensor("a3", (1, h, h, c2), "float32"), Tensor("g", (1, 1, 1, c2), "float32"),
        Tensor("f", (1, c2), "float32"), Tensor("y", (1, classes), "float32"),
    ]
    pads = (1, 1, 1, 1)
    nodes = [
        Node("Conv", "c1", ["x", "c1.w", "c1.b"], ["a1"], {"pads": pads, "clip": RELU}),
        Node("Conv", "dw", ["a1", "dw.w", "dw.b"], ["a2"],
             {"pads": pads, "group": c1, "clip": RELU}),
        Node("Conv", "pw", ["a2", "pw.w", "pw.b"], ["a3"], {"clip": RELU}),
        Node("GlobalAveragePool", "gap", ["a3"], ["g"]),
        Node("Reshape", "flat", ["g"], ["f"], {"shape": (1, c2)}),
        Node("Gemm", "fc", ["f", "fc.w", "fc.b"], ["y"]),
    ]
    return Graph(nodes, {t.name: t for t in ts}, ["x"], ["y"], name="dwsep")


def images(n: int, h: int = 8, seed: int = 1) -> np.ndarray:
    rng = np.random.default_rng(seed)
    # smooth positive-mean images: a non-zero E[x] is what makes weight error shift outputs
    base = rng.uniform(0.0, 1.0, (n, h // 2, h // 2, 3)).astype(np.float32)
    return np.repeat(np.repeat(base, 2, axis=1), 2, axis=2) + np.float32(0.5)
