"""pytest-benchmark micro-benchmarks (not collected by the default `pytest` run: testpaths is
tests/). Run:

    python -m pytest bench/ --benchmark-timer time.thread_time [-k gemm]

`--benchmark-timer time.thread_time` times CPU time of the benchmarking thread, which on a
shared machine leaves out time other processes take; every kernel here is single threaded.
"""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.machine import cpu_header
from int8rt import _native

_PEAKS: dict[str, float] = {}


def pytest_report_header(config: pytest.Config) -> str:
    return cpu_header()


def peak_gops(path: str) -> float:
    """Measured int8 peak of a path (csrc/kernels/gemm/peak.c), once per session."""
    if path not in _PEAKS:
        _PEAKS[path] = _native.peak_gops(path, iters=4_000_000, repeats=7)
    return _PEAKS[path]


@pytest.fixture(params=_native.available_isas())
def isa(request: pytest.FixtureRequest):
    before = _native.isa()
    _native.set_isa(request.param)
    yield request.param
    _native.set_isa(before)
