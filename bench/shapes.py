"""New input shapes on one Session (docs/PLAN.md "Shapes"): a MiniLM-shaped dynamic int8
encoder (random weights, exported by torch like tests/dynamic's test encoder) fed sequence
lengths in turn; for each length the first call (plan built for the new shape) against the
median of the next `--runs` calls (steady state), then the process RSS after 10 and after N
distinct (batch, length) shapes.

    python bench/shapes.py [--d 384 --heads 12 --ff 1536 --layers 6 --vocab 30522]
                           [--lengths 16:129] [--runs 5] [--rss-shapes 500] [--threads 1]
                           [--python-planning] [--clock wall|thread]

New shapes are C reshapes of a shape template (int8rt/reshape.py); the first call of a
session builds the template of its shape pattern (batch 1, sequence free). --python-planning
plans every shape in Python instead (specialize + lower + NativePlan: the path before
templates), for a before / after on one machine.

Static mode: a static int8 CNN (tests/models: mobilenet_v2, resnet18, digits_cnn) fed batch
sizes in turn, the same first-call / steady table, the time to a plan alone (C reshape vs the
Python path before templates: rebatch + lower + NativePlan packing its own weights), and the RSS
after 10 and after N distinct batch sizes:

    python bench/shapes.py --static mobilenet_v2 [--batches 1:17] [--rss-shapes 40]
                           [--python-planning] [--clock thread]

The first batch size above 1 builds the session's batch template (three lowerings); that call is
reported on its own line and left out of the ratio summary's "without the first" figure.

Image mode: the fully convolutional detector of tests/fcn_models.py (exported with symbolic
N / H / W, quantized at 64 x 64) fed image sizes in turn; the first call at a size that builds
its (H mod 8, W mod 8) class's template and the first call at a size whose class has one are
reported apart, then the time to a plan alone (C reshape vs shape inference + lower + NativePlan
in Python) and the RSS after 10 and after N distinct sizes:

    python bench/shapes.py --image [--sizes 96:160] [--width 4] [--rss-shapes 300]
                           [--clock thread]
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


def old_path(sess) -> None:
    """A Session planning new batch sizes as before templates: rebatch + lower + a NativePlan
    that packs its own weights."""
    sess._reshaper = None
    sess._packed_weights = None


def static_main(args, clock) -> int:
    from bench.machine import cpu_header
    from int8rt.reshape import ReshapedPlan
    from tests.models.fixtures import calib_and_eval_images, onnx_model_path

    start, stop = (int(v) for v in args.batches.split(":"))
    calib, _ = calib_and_eval_images(args.static, 16, 1)
    qm = int8rt.quantize(str(onnx_model_path(args.static)), [calib], progress=False)
    name = qm.graph.inputs[0]
    one = calib[:1]
    images = np.concatenate([one] * max(stop, args.rss_shapes + 1, 32))

    print(cpu_header())
    print(f"model: {args.static}, threads {args.threads}, clock: {args.clock}"
          f"{', python planning (before templates)' if args.python_planning else ''}")
    t0 = time.perf_counter()
    sess = int8rt.Session(qm, threads=args.threads)
    if args.python_planning:
        old_path(sess)
    print(f"Session load: {(time.perf_counter() - t0) * 1e3:.0f} ms (weights packed, batch "
          f"{one.shape[0]} planned)")
    ratios = []
    print("| batch | first call (ms) | steady (ms) | ratio |\n|---|---|---|---|")
    for b in range(start, stop):
        f = {name: images[:b]}
        t0 = clock()
        sess.run(None, f)
        first = clock() - t0
        steady = []
        for _ in range(args.runs):
            t0 = clock()
            sess.run(None, f)
            steady.append(clock() - t0)
        med = float(np.median(steady))
        ratios.append((b, first / med))
        print(f"| {b} | {first * 1e3:.1f} | {med * 1e3:.1f} | {first / med:.2f} |")
    r = np.array([x for _, x in ratios])
    print(f"\nfirst / steady over {len(r)} batch sizes: median {np.median(r):.2f}, "
          f"max {r.max():.2f}; batch sizes with ratio <= 2: {(r <= 2).sum()}/{len(r)}")
    later = [x for b, x in ratios if b > 2]  # batch 2 built the template (or was batch 1)
    if later:
        print(f"batch sizes after the template's build (> 2): max {max(later):.2f}, "
              f"ratio <= 2: {sum(x <= 2 for x in later)}/{len(later)}")
    made = sum(isinstance(p, ReshapedPlan) for p in sess._plans.values())
    print(f"cached plans made by a C reshape: {made}/{len(sess._plans)}")
    if not args.python_planning:
        # time to a plan alone, interleaved: C reshape vs the path before templates
        py = int8rt.Session(qm, threads=args.threads)
        old_path(py)
        t_c, t_py = [], []
        for b in range(stop, stop + 5):
            shapes = ((b,) + one.shape[1:],)
            t0 = time.perf_counter()
            sess.plan_for(shapes)
            t_c.append(time.perf_counter() - t0)
            t0 = time.perf_counter()
            py.plan_for(shapes)
            t_py.append(time.perf_counter() - t0)
        print(f"planning a new batch size: C reshape {np.median(t_c) * 1e3:.2f} ms, before "
              f"(rebatch + lower + repack) {np.median(t_py) * 1e3:.1f} ms (medians of 5 sizes)")
        del py
    del sess

    sess = int8rt.Session(qm, threads=args.threads)
    if args.python_planning:
        old_path(sess)
    # the largest batch first: its arena (which grows with the batch itself) is then in both
    # figures, and what is left is what each further shape costs
    n = args.rss_shapes
    for i, b in enumerate([n] + list(range(1, n))):
        sess.run(None, {name: images[:b]})
        if i == 9:
            rss10 = rss_mb()
    rss_n = rss_mb()
    arena = max(p.arena_size(args.threads) for p in sess._plans.values()) / 2 ** 20
    print(f"RSS after 10 batch sizes ({n}, 1..9) {rss10:.1f} MB, after {n} ({n}, 1..{n - 1}) "
          f"{rss_n:.1f} MB ({100 * (rss_n / rss10 - 1):+.1f} %); plans cached: "
          f"{len(sess._plans)}, largest arena {arena:.1f} MB")
    return 0


def image_main(args, clock) -> int:
    from bench.machine import cpu_header
    from int8rt.reshape import ReshapedPlan
    from tests import fcn_models

    qm = fcn_models.quantized(fcn_models.export(
        fcn_models.detector(pool=True, width=args.width), 3))
    start, stop = (int(v) for v in args.sizes.split(":"))
    # sizes in turn: H walks the range, W = H + 3 (odd and even, every residue class)
    sizes = [(h, h + 3) for h in range(start, stop)]
    rng = np.random.default_rng(0)
    print(cpu_header())
    print(f"model: tests/fcn_models.py detector, width {args.width} (quantized at 64 x 64), "
          f"threads "
          f"{args.threads}, clock: {args.clock}")
    sess = int8rt.Session(qm, threads=args.threads)
    rows = {"built": [], "reshaped": []}
    print("| H x W | template | first call (ms) | steady (ms) | ratio |\n|---|---|---|---|---|")
    for h, w in sizes:
        f = {"x": rng.standard_normal((1, 3, h, w)).astype(np.float32)}
        known = sess._reshaper.lowering.pattern(((1, 3, h, w),))[0] in sess._reshaper.templates
        t0 = clock()
        sess.run(None, f)
        first = clock() - t0
        steady = []
        for _ in range(args.runs):
            t0 = clock()
            sess.run(None, f)
            steady.append(clock() - t0)
        med = float(np.median(steady))
        kind = "reshaped" if known else "built"
        rows[kind].append(first / med)
        if not known or h % 8 == 0:
            print(f"| {h} x {w} | {kind} | {first * 1e3:.2f} | {med * 1e3:.2f} | "
                  f"{first / med:.2f} |")
    for kind, label in (("built", "first call building its class's template"),
                        ("reshaped", "first call at a size of a class with a template")):
        r = np.array(rows[kind])
        if r.size:
            print(f"{label}: {r.size} sizes, first / steady median {np.median(r):.2f}, max "
                  f"{r.max():.2f}, ratio <= 2: {(r <= 2).sum()}/{r.size}")
    made = sum(isinstance(p, ReshapedPlan) for p in sess._plans.values())
    print(f"cached plans made by a C reshape: {made}/{len(sess._plans)}; templates "
          f"{len(sess._reshaper.templates)}, refused {len(sess._reshaper.refused)}")
    py = int8rt.Session(qm, threads=args.threads)
    py._reshaper = None  # every size: shape inference + lower + NativePlan (packed weights)
    t_c, t_py = [], []
    for h in range(stop, stop + 8):
        shapes = ((1, 3, h, h + 3),)
        t0 = time.perf_counter()
        sess.plan_for(shapes)
        t_c.append(time.perf_counter() - t0)
        t0 = time.perf_counter()
        py.plan_for(shapes)
        t_py.append(time.perf_counter() - t0)
    print(f"planning a new size of a class with a template: C reshape {np.median(t_c) * 1e3:.2f}"
          f" ms, Python (shape inference + lower + NativePlan) {np.median(t_py) * 1e3:.1f} ms "
          "(medians of 8 sizes, interleaved)")
    del py, sess

    sess = int8rt.Session(qm, threads=args.threads)
    n = args.rss_shapes
    # the largest size first, so its arena is in both figures
    todo = [(start + n // 2, start + n // 2 + 3)] + [(start + k // 2, start + (k + 1) // 2 + 3)
                                                     for k in range(1, n)]
    for i, (h, w) in enumerate(todo):
        sess.run(None, {"x": np.zeros((1, 3, h, w), np.float32)})
        if i == 9:
            rss10 = rss_mb()
    rss_n = rss_mb()
    print(f"RSS after 10 sizes {rss10:.1f} MB, after {len(set(todo))} distinct sizes "
          f"{rss_n:.1f} MB ({100 * (rss_n / rss10 - 1):+.1f} %); plans cached: "
          f"{len(sess._plans)}, templates {len(sess._reshaper.templates)}")
    return 0


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
    ap.add_argument("--static", metavar="MODEL", default=None,
                    help="a static CNN of tests/models (mobilenet_v2, resnet18, digits_cnn) fed "
                         "batch sizes instead of the dynamic encoder")
    ap.add_argument("--batches", default="1:17", help="static mode: start:stop (python range)")
    ap.add_argument("--image", action="store_true",
                    help="the fully convolutional detector of tests/fcn_models.py fed image "
                         "sizes instead of the dynamic encoder")
    ap.add_argument("--sizes", default="96:160", help="image mode: H start:stop, W = H + 3")
    ap.add_argument("--width", type=int, default=4, help="image mode: channel multiplier of "
                    "the detector (1: the tests' 8 / 16 channels)")
    args = ap.parse_args(argv)
    clock = time.thread_time if args.clock == "thread" else time.perf_counter
    if args.image:
        return image_main(args, clock)
    if args.static:
        return static_main(args, clock)
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
    from int8rt.reshape import ReshapedPlan

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
