"""Soak, leak and concurrency checks for docs/ROBUSTNESS.md.

    python tools/robust/soak.py                    # the full table (a few minutes)
    python tools/robust/soak.py --runs 2000 --sessions 200 --threads 8 --per-thread 100

Leaks: resident memory (/proc/self/statm) after a warm-up and after N more runs of one Session,
and around a loop that creates, runs and drops Sessions. Concurrency: T Python threads share one
Session (and, separately, each builds its own), every thread runs its own inputs R times, and
every output is compared with the output a single-threaded run gave for the same input.
"""

from __future__ import annotations

import argparse
import gc
import os
import sys
import threading
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "tools"))

from int8rt import format as i8format
from int8rt.api import quantize
from int8rt.demo import load_demo
from int8rt.session import Session

PAGE = os.sysconf("SC_PAGE_SIZE")


def rss_bytes() -> int:
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * PAGE


def models() -> list[tuple[str, object]]:
    """The quantized demo model plus the fuzzer's quantized seed models (every plan op kind)."""
    graph, _, _, x_calib = load_demo()
    out = [("digits CNN (demo)", quantize(graph, [x_calib], progress=False).graph)]
    import fuzz  # tools/fuzz.py
    for name, data in fuzz.i8_seeds():
        g = i8format.load(data)
        if any(n.op == "Quantize" for n in g.nodes) and name != "digits_int8":
            out.append((name, g))
    return out


def big_model(name: str = "dscnn") -> tuple[str, object]:
    """A real-size CNN from the test models (needs torch + onnx), so the pool splits its ops."""
    from tests.models.fixtures import input_shape, onnx_model_path

    shape = input_shape(name)
    calib = [np.random.default_rng(i).standard_normal(shape).astype(np.float32)
             for i in range(4)]
    return f"{name} {shape}", quantize(str(onnx_model_path(name)), calib, progress=False).graph


def feed_for(sess: Session, batch: int, seed: int) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(seed)
    return {a.name: rng.standard_normal((batch, *a.shape[1:])).astype(a.dtype)
            for a in sess.get_inputs()}


def leak_runs(graph, runs: int, warmup: int = 500, threads: int = 1) -> tuple[int, int]:
    sess = Session(graph, threads=threads)
    feed = feed_for(sess, 1, 0)
    for _ in range(warmup):
        sess.run(None, feed)
    gc.collect()
    before = rss_bytes()
    for _ in range(runs):
        sess.run(None, feed)
    gc.collect()
    return before, rss_bytes()


def leak_sessions(graph, count: int, warmup: int = 20) -> tuple[int, int]:
    def once() -> None:
        sess = Session(graph)
        sess.run(None, feed_for(sess, 2, 1))
    for _ in range(warmup):
        once()
    gc.collect()
    before = rss_bytes()
    for _ in range(count):
        once()
    gc.collect()
    return before, rss_bytes()


def concurrent(graph, threads: int, per_thread: int, shared: bool,
               native_threads: int = 1) -> tuple[int, int]:
    """(mismatching outputs, runs): T threads, each with its own inputs, R runs each; the
    expected outputs come from a single-threaded Session, the Sessions under test run on
    `native_threads` pool threads each."""
    ref_sess = Session(graph, threads=1)
    feeds = [feed_for(ref_sess, 1 + t % 3, 100 + t) for t in range(threads)]
    expected = [ref_sess.run(None, f) for f in feeds]
    shared_sess = Session(graph, threads=native_threads)
    mismatches = [0] * threads
    start = threading.Barrier(threads)

    def work(t: int) -> None:
        sess = shared_sess if shared else Session(graph, threads=native_threads)
        start.wait()
        for _ in range(per_thread):
            got = sess.run(None, feeds[t])
            if not all(np.array_equal(a, b) for a, b in zip(got, expected[t])):
                mismatches[t] += 1

    pool = [threading.Thread(target=work, args=(t,)) for t in range(threads)]
    for th in pool:
        th.start()
    for th in pool:
        th.join()
    return sum(mismatches), threads * per_thread


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--runs", type=int, default=10_000)
    ap.add_argument("--sessions", type=int, default=1_000)
    ap.add_argument("--threads", type=int, default=16)
    ap.add_argument("--per-thread", type=int, default=250)
    ap.add_argument("--native-threads", type=int, nargs="+", default=[1, 2],
                    help="pool threads per Session to test (Session(threads=N))")
    ap.add_argument("--big", default="dscnn",
                    help="also soak this test model (tests/models; '' to skip)")
    ap.add_argument("--big-runs", type=int, default=2_000)
    args = ap.parse_args(argv)
    mib = 1 / (1 << 20)
    failed = False
    print("| model | check | count | RSS before (MiB) | RSS after (MiB) | growth (KiB) |")
    print("|---|---|---|---|---|---|")
    all_models = models()
    if args.big:
        all_models.append(big_model(args.big))
    for name, g in all_models:
        runs = args.big_runs if args.big and name.startswith(args.big) else args.runs
        for nt in args.native_threads:
            t0 = time.perf_counter()
            b, a = leak_runs(g, runs, threads=nt)
            print(f"| {name} | runs of one Session, threads={nt} | {runs} | {b * mib:.1f} | "
                  f"{a * mib:.1f} | {(a - b) / 1024:+.0f} |  ({time.perf_counter() - t0:.1f} s)",
                  flush=True)
            failed |= a - b > (4 << 20)
    for name, g in all_models[:2]:
        b, a = leak_sessions(g, args.sessions)
        print(f"| {name} | Session create + run + drop | {args.sessions} | {b * mib:.1f} | "
              f"{a * mib:.1f} | {(a - b) / 1024:+.0f} |", flush=True)
        failed |= a - b > (4 << 20)
    print()
    print("| model | Python threads x runs | Sessions | pool threads per Session "
          "| mismatching outputs |")
    print("|---|---|---|---|---|")
    for name, g in all_models:
        for nt in args.native_threads:
            for shared in (True, False):
                bad, n = concurrent(g, args.threads, args.per_thread, shared, nt)
                print(f"| {name} | {args.threads} x {args.per_thread} = {n} | "
                      f"{'one shared' if shared else 'one per thread'} | {nt} | {bad} |",
                      flush=True)
                failed |= bad != 0
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
