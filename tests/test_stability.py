"""Leaks and concurrency, in short form: tools/robust/soak.py runs the long versions.

Resident memory is read from /proc (Linux); the bounds are far below what one leaked arena or
one leaked packed-weight stream per iteration would add, and
far above allocator noise.
"""

from __future__ import annotations

import gc
import os
import sys
import threading

import numpy as np
import pytest

import int8rt
from int8rt.demo import load_demo
from tests.concurrency import WorkerError, plant_worker_raise, run_in_threads

pytestmark = pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads /proc")


def _rss() -> int:
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")


@pytest.fixture(scope="module")
def model():
    graph, x_test, _, x_calib = load_demo()
    return int8rt.quantize(graph, [x_calib], progress=False), x_test


def _growth_per_window(step, windows: int, runs: int) -> list[int]:
    """Resident-memory growth over each of `windows` consecutive windows of `runs` calls.

    A leak grows every window by about the same amount; the allocator (a heap that grows or
    trims its top by a few hundred KiB, a malloc arena a thread touches for the first time)
    moves one window now and then. So the tests bound the *second largest* window: one jump of
    any size does not fail them, a steady leak fails every window. (Small Python-level leaks
    first fill pymalloc's free pools, so a window may show less than the leak; more windows
    than two must grow for a failure, and they do.)
    """
    growth = []
    for _ in range(windows):
        gc.collect()
        before = _rss()
        for _ in range(runs):
            step()
        gc.collect()
        growth.append(_rss() - before)
    return growth


def test_many_runs_keep_memory_flat(model) -> None:
    qm, x = model
    sess = int8rt.Session(qm)
    feed = {"input": x[:4]}
    for _ in range(300):
        sess.run(None, feed)
    growth = _growth_per_window(lambda: sess.run(None, feed), windows=4, runs=2000)
    # 256 KiB per 2000 runs: a leak of 256 bytes per run (measured: a bytearray(256) kept per
    # run grows three of four windows by 0.45-0.55 MiB) fails.
    assert sorted(growth)[-2] < (256 << 10), f"RSS grew in more than one window: {growth}"


def test_session_churn_keeps_memory_flat(model) -> None:
    qm, x = model
    data = qm.to_bytes()

    def once() -> None:
        s = int8rt.Session(data)
        s.run(None, {"input": x[:2]})
        s.run(None, {"input": x[:3]})  # a second cached plan

    for _ in range(10):
        once()
    growth = _growth_per_window(once, windows=4, runs=40)
    # One leaked session holds the 33 KB model, its packed weights, two plans and an arena:
    # 40 of them are well above 1 MiB.
    assert sorted(growth)[-2] < (1 << 20), f"RSS grew in more than one window: {growth}"


def _concurrent_runs(qm, x, shared: bool) -> list[int]:
    """Eight threads run the model 40 times each; the indices of runs that differed from the
    serial result (a worker exception fails the caller through run_in_threads)."""
    ref = int8rt.Session(qm)
    feeds = [{"input": x[t: t + 1 + t % 3]} for t in range(8)]
    expected = [ref.run(None, f)[0] for f in feeds]
    mismatches = []
    barrier = threading.Barrier(len(feeds), timeout=120)

    def work(t: int) -> None:
        sess = ref if shared else int8rt.Session(qm)
        barrier.wait()
        for _ in range(40):
            if not np.array_equal(sess.run(None, feeds[t])[0], expected[t]):
                mismatches.append(t)

    run_in_threads(work, [(t,) for t in range(len(feeds))])
    return mismatches


@pytest.mark.parametrize("shared", [True, False], ids=["one-session", "session-per-thread"])
def test_concurrent_runs_match_serial_runs(model, shared) -> None:
    qm, x = model
    assert _concurrent_runs(qm, x, shared) == []


def test_concurrent_runs_fail_when_a_worker_raises(model, monkeypatch) -> None:
    """The check above must not pass when Session.run raises in the worker threads (a raise
    in a plain threading.Thread is lost): plant one after the serial reference runs."""
    qm, x = model
    plant_worker_raise(monkeypatch)
    with pytest.raises(WorkerError, match="8 of 8 worker threads raised.*planted failure"):
        _concurrent_runs(qm, x, shared=True)
