"""Run a function in several threads and fail on any exception a worker raised.

A plain `threading.Thread` loses an exception raised in its target (it is printed to stderr
and the thread simply ends), so a concurrency test whose workers only record mismatches passes
even when every call raises. `run_in_threads` re-raises the first worker exception in the
calling thread, naming how many workers failed.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Sequence
from typing import Any


class WorkerError(AssertionError):
    """At least one worker thread raised; the first exception is the __cause__."""


def run_in_threads(target: Callable[..., Any], args: Sequence[tuple]) -> list[Any]:
    """Start one thread per entry of `args` calling target(*entry), wait for all of them and
    return their results in order; raise WorkerError if any worker raised."""
    results: list[Any] = [None] * len(args)
    errors: list[tuple[int, BaseException]] = []
    lock = threading.Lock()

    def wrap(i: int, a: tuple) -> None:
        try:
            results[i] = target(*a)
        except BaseException as e:  # noqa: BLE001 - every worker failure must reach the test
            with lock:
                errors.append((i, e))

    threads = [threading.Thread(target=wrap, args=(i, a)) for i, a in enumerate(args)]
    for th in threads:
        th.start()
    for th in threads:
        th.join()
    if errors:
        errors.sort(key=lambda e: e[0])
        i, first = errors[0]
        raise WorkerError(f"{len(errors)} of {len(args)} worker threads raised; worker {i}: "
                          f"{type(first).__name__}: {first}") from first
    return results


def plant_worker_raise(monkeypatch: Any) -> None:
    """Make int8rt.Session.run raise in every thread but the calling one, so a test can show
    that its concurrency check fails when workers fail (instead of losing the exception)."""
    import int8rt

    real_run = int8rt.Session.run
    main = threading.get_ident()

    def planted(self, *a, **kw):
        if threading.get_ident() != main:
            raise RuntimeError("planted failure")
        return real_run(self, *a, **kw)

    monkeypatch.setattr(int8rt.Session, "run", planted)
