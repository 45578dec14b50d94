"""Leaks and concurrency, in short form: tools/robust/soak.py runs the long versions.

Resident memory is read from /proc (Linux); the bounds are far below what one leaked arena or
one leaked packed-weight stream per iteration would add (tens of MiB over these loops), and
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


def test_many_runs_keep_memory_flat(model) -> None:
    qm, x = model
    sess = int8rt.Session(qm)
    feed = {"input": x[:4]}
    for _ in range(300):
        sess.run(None, feed)
    gc.collect()
    before = _rss()
    for _ in range(3000):
        sess.run(None, feed)
    gc.collect()
    assert _rss() - before < (2 << 20)


def test_session_churn_keeps_memory_flat(model) -> None:
    qm, x = model
    data = qm.to_bytes()

    def once() -> None:
        s = int8rt.Session(data)
        s.run(None, {"input": x[:2]})
        s.run(None, {"input": x[:3]})  # a second cached plan

    for _ in range(10):
        once()
    gc.collect()
    before = _rss()
    for _ in range(120):
        once()
    gc.collect()
    assert _rss() - before < (4 << 20)


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
