"""New input shapes on one Session (docs/PLAN.md "Shapes"): a MiniLM-shaped dynamic int8
encoder (random weights, exported by torch like tests/dynamic's test encoder) fed sequence
lengths in turn; for each length the first call (plan built for the new shape) against the
median of the next `--runs` calls (steady state), then the process RSS after 10 and after N
distinct (batch, length) shapes.

    python bench/shapes.py [--d 384 --heads 12 --ff 1536 --layers 6 --vocab 30522]
                           [--lengths 16:129] [--runs 5] [--rss-shapes 500] [--threads 1]
                           [--python-planning] [--clock wall|thread]

New shapes are C reshapes of a shape template (int8rt/dynamic/reshape.py); the first call of a
session builds the template of its shape pattern (batch 1, sequence free). --python-planning
plans every shape in Python instead (specialize + lower + NativePlan: the path before
templates), for a before / after on one machine.
"""

from __future__ import annotations

import argparse
import io
import os
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import int8rt


def export(vocab: int, d: int, heads: int, ff: int, layers: int) -> bytes:
    import torch

    from tests.dynamic.test_transformer_graphs import TinyEncoder

    m = TinyEncoder(vocab=vocab, d=d, heads=heads, ff=ff, layers=layers).eval()
    m.pos = torch.nn.Embedding(512, d)
    ids = torch.ones(1, 8, dtype=torch.long)
    f = io.BytesIO()
    torch.onnx.export(m, (ids, torch.ones_like(ids)), f, input_names=["ids", "mask"],
                      output_names=["emb"], opset_version=17, dynamo=False,
                      dynamic_axes={"ids": {0: "b", 1: "s"}, "mask": {0: "b", 1: "s"}})
    return f.getvalue()


def rss_mb() -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def feed(b: int, s: int, vocab: int) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(s * 7 + b)
    return {"ids": rng.integers(0, vocab, (b, s)).astype(np.int64),
            "mask": np.ones((b, s), np.int64)}


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--d", type=int, default=384)
    ap.add_argument("--heads", type=int, default=12)
    ap.add_argument("--ff", type=int, default=1536)
    ap.add_argument("--layers", type=int, default=6)
    ap.add_argument("--vocab", type=int, default=30522)
    ap.add_argument("--lengths", default="16:129", help="start:stop (python range)")
    ap.add_argument("--runs", type=int, default=5)
    ap.add_argument("--rss-shapes", type=int, default=500)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--python-planning", action="store_true",
                    help="no shape templates: plan every new shape in Python")
    ap.add_argument("--clock", choices=("wall", "thread"), default="wall",
                    help="thread: CPU time of the calling thread (time.thread_time), which leaves "
                         "out the time other processes of a loaded machine take; meaningful "
                         "with --threads 1 only")
    args = ap.parse_args(argv)
    clock = time.thread_time if args.clock == "thread" else time.perf_counter
    if args.python_planning:
        os.environ["INT8RT_RESHAPE"] = "0"  # Sessions build no shape templates

    import onnx

    model = onnx.load_from_string(export(args.vocab, args.d, args.heads, args.ff, args.layers))
    qm = int8rt.quantize(model, mode="dynamic")
    from bench.machine import cpu_header

    print(cpu_header())
    t0 = time.perf_counter()
    sess = int8rt.Session(qm, threads=args.threads)
    print(f"Session load: {(time.perf_counter() - t0) * 1e3:.0f} ms (weights packed; batch-1 "
          "shape template built unless --python-planning)")
    start, stop = (int(v) for v in args.lengths.split(":"))
    ratios = []
    print(f"clock: {args.clock}")
    print("| tokens | first call (ms) | steady (ms) | ratio |\n|---|---|---|---|")
    for s in range(start, stop):
        f = feed(1, s, args.vocab)
        t0 = clock()
        sess.run(None, f)
        first = clock() - t0
        steady = []
        for _ in range(args.runs):
            t0 = clock()
            sess.run(None, f)
            steady.append(clock() - t0)
        med = float(np.median(steady))
        ratios.append(first / med)
        if s in (start, 32, 64, 96, stop - 1) or s % 16 == 0:
            print(f"| {s} | {first * 1e3:.1f} | {med * 1e3:.1f} | {first / med:.2f} |")
    r = np.array(ratios)
    print(f"\nfirst / steady over {len(r)} lengths: median {np.median(r):.2f}, "
          f"p90 {np.percentile(r, 90):.2f}, max {r.max():.2f}; "
          f"lengths with ratio <= 2: {(r <= 2).sum()}/{len(r)}")
    over = [(s, round(float(x), 2)) for s, x in zip(range(start, stop), r) if x > 2]
    print(f"lengths over 2x (tokens, ratio): {over}")
    if len(r) > 1:
        print(f"without the first length: max {r[1:].max():.2f}, "
              f"lengths with ratio <= 2: {(r[1:] <= 2).sum()}/{len(r) - 1}")
    from int8rt.dynamic.reshape import ReshapedPlan

    made = sum(isinstance(p, ReshapedPlan) for p in sess._plans.values())
    print(f"cached plans made by a C reshape: {made}/{len(sess._plans)}")
    # time to a plan alone (no run): C reshape vs Python planning, interleaved
    if not args.python_planning:
        py = int8rt.Session(qm, threads=args.threads)
        py._reshaper = None
        t_c, t_py = [], []
        for s in range(stop, stop + 10):
            shapes = ((1, s), (1, s))
            t0 = time.perf_counter()
            sess.plan_for(shapes)
            t_c.append(time.perf_counter() - t0)
            t0 = time.perf_counter()
            py.plan_for(shapes)
            t_py.append(time.perf_counter() - t0)
        print(f"planning a new shape: C reshape {np.median(t_c) * 1e3:.2f} ms, "
              f"Python {np.median(t_py) * 1e3:.2f} ms (medians of 10 lengths)")
        del py  # its own copy of the weights would count in the RSS below

    del sess

    sess = int8rt.Session(qm, threads=args.threads)
    shapes = [(b, s) for s in range(4, 400) for b in (1, 2)][:args.rss_shapes]
    for i, (b, s) in enumerate(shapes):
        sess.run(None, feed(b, s, args.vocab))
        if i == 9:
            rss10 = rss_mb()
    rss_n = rss_mb()
    print(f"RSS after 10 shapes {rss10:.1f} MB, after {len(shapes)} shapes {rss_n:.1f} MB "
          f"({100 * (rss_n / rss10 - 1):+.1f} %); plans cached: {len(sess._plans)}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
