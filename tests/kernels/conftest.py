"""Fixtures of the kernel tests. `path`: per-path sweeps for the element-wise kernel families (lut, eltwise, pool, dwconv, convert):
the `path` fixture runs a test once per kernel path this CPU can run, with the path in the
test id (`test_x[avx512vnni-...]`), so the report says which paths ran natively. Paths the
CPU lacks are reported as skips rather than left out silently."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from int8rt import _native

AVAILABLE = _native.available_isas()
_X86 = ("scalar", "avx2", "avx512vnni")
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
