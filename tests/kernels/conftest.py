"""Says in the pytest terminal summary which gemm kernel sets ran natively on this CPU and
which only as portable emulations (tests/kernels/test_gemm.py; docs/KERNELS.md, "gemm")."""

from __future__ import annotations


def pytest_terminal_summary(terminalreporter, exitstatus, config) -> None:
    from int8rt import _native

    ks = _native.gemm_kernels()
    native = [k["name"] for k in ks if k["native"] and k["runnable"]]
    missing = [k["name"] for k in ks if k["native"] and not k["runnable"]]
    emulated = [k["name"] for k in ks if not k["native"]]
    terminalreporter.write_line(
        f"gemm kernel sets: native here: {', '.join(native)}; emulated (portable C): "
        f"{', '.join(emulated)}; native not runnable on this CPU (skipped): "
        f"{', '.join(missing) or 'none'}")
