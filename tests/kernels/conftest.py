"""Fixtures and summary of the kernel tests.

- `path`: per-path sweeps for the element-wise kernel families (lut, eltwise, pool, dwconv,
  convert, softmax, movement): runs a test once per kernel path this CPU can run, with the path
  in the test id (`test_x[avx512vnni-...]`). Paths the CPU lacks are reported as skips rather
  than left out silently.
- The terminal summary says which gemm kernel sets ran natively on this CPU and which only as
  portable emulations (tests/kernels/test_gemm.py; docs/KERNELS.md, "gemm"), and which paths
  the `path` sweeps ran.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from int8rt import _native

AVAILABLE = _native.available_isas()
_X86 = ("scalar", "avx2", "avxvnni", "avx512vnni")
KNOWN = list(_X86) if "avx2" in AVAILABLE or AVAILABLE == ["scalar"] else list(AVAILABLE)


@pytest.fixture(params=KNOWN)
def path(request: pytest.FixtureRequest) -> Iterator[str]:
    if request.param not in AVAILABLE:
        pytest.skip(f"path {request.param} is not available on this CPU / build")
    before = _native.isa()
    _native.set_isa(request.param)
    try:
        yield request.param
    finally:
        _native.set_isa(before)


def pytest_terminal_summary(terminalreporter, exitstatus, config) -> None:
    ks = _native.gemm_kernels()
    native = [k["name"] for k in ks if k["native"] and k["runnable"]]
    missing = [k["name"] for k in ks if k["native"] and not k["runnable"]]
    emulated = [k["name"] for k in ks if not k["native"]]
    terminalreporter.write_line(
        f"gemm kernel sets: native here: {', '.join(native)}; emulated (portable C): "
        f"{', '.join(emulated)}; native not runnable on this CPU (skipped): "
        f"{', '.join(missing) or 'none'}")
    terminalreporter.write_line(
        f"element-wise / dwconv per-path sweeps ran on: {', '.join(AVAILABLE)}; not available "
        f"here (skipped): {', '.join(p for p in KNOWN if p not in AVAILABLE) or 'none'}")
