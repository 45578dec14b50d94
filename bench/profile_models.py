"""Per-op profile of whole models (the bench/compare.py models), summed per kernel kind, for
every requested kernel path in one process: where single-thread time goes.

    python bench/profile_models.py [--models mobilenet_v2,resnet18,yolov8n] [--paths scalar,avx2]
                                   [--runs 20] [--top 12]

Uses Session.profile (the same per-op timer as `int8rt bench --profile`), medians per op.
"""

from __future__ import annotations

import argparse
import sys
from collections import defaultdict
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import int8rt
from int8rt import _native
from tests.models.fixtures import calib_and_eval_images, onnx_model_path


def conv_kinds(graph) -> dict[str, str]:
    """Node name -> "conv2d dw 3x3" / "conv2d 1x1" / "conv2d 3x3 s2" ... for Conv nodes."""
    out = {}
    for node in graph.nodes:
        if node.op != "Conv":
            continue
        w = graph.tensors[node.inputs[1]]
        oc, kh, kw = (int(d) for d in w.data.shape[:3]) if w.data is not None else (0, 0, 0)
        group = node.attrs.get("group", 1)
        stride = node.attrs.get("strides", (1, 1))[0]
        kind = "dw " if group > 1 and group == oc else ""
        out[node.name] = f"conv2d {kind}{kh}x{kw}" + (f" s{stride}" if stride > 1 else "")
    return out


def profile(name: str, paths: list[str], runs: int) -> dict[str, dict[str, float]]:
    calib, evals = calib_and_eval_images(name, 16, 1)
    qm = int8rt.quantize(str(onnx_model_path(name)), [calib], progress=False)
    out: dict[str, dict[str, float]] = {}
    for p in paths:
        _native.set_isa(p)
        # a fresh Session per path: weights are packed for the path that is current
        sess = int8rt.Session(qm, threads=1)
        feed = {sess.get_inputs()[0].name: evals[:1]}
        sess.run(None, feed)
        kinds = conv_kinds(sess.graph)
        per: dict[str, float] = defaultdict(float)
        for node, kernel, ns in sess.profile(feed, repeats=runs):
            per[kinds.get(node, kernel)] += ns / 1e6
        out[p] = dict(per)
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--models", default="mobilenet_v2,resnet18,yolov8n")
    ap.add_argument("--paths", default=",".join(_native.available_isas()))
    ap.add_argument("--runs", type=int, default=20)
    args = ap.parse_args()
    paths = args.paths.split(",")
    before = _native.isa()
    try:
        for name in args.models.split(","):
            res = profile(name, paths, args.runs)
            kinds = sorted({k for r in res.values() for k in r},
                           key=lambda k: -res[paths[-1]].get(k, 0.0))
            print(f"\n### {name} (ms per inference, single thread)\n")
            print("| kernel | " + " | ".join(paths) + " |")
            print("|---" * (len(paths) + 1) + "|")
            for k in kinds:
                print(f"| {k} | " + " | ".join(f"{res[p].get(k, 0.0):.3f}" for p in paths)
                      + " |")
            print("| **total** | " + " | ".join(f"{sum(res[p].values()):.3f}" for p in paths)
                  + " |")
    finally:
        _native.set_isa(before)


if __name__ == "__main__":
    main()
