"""Where a benchmark ran: the CPU model, the ISA flags int8rt detects and its kernel paths.

Every speed figure in this project is printed under this line (issue: benchmarks that say
where they ran): the same model can take different int8rt paths on different CPUs.
"""

from __future__ import annotations

from pathlib import Path

from int8rt import _native


def cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith(("model name", "Model")):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return "unknown CPU"


def cpu_header() -> str:
    flags = [k for k, v in _native.cpu_features().items() if v]
    return (f"CPU: {cpu_model()}; ISA flags: {', '.join(flags) or 'none'}; int8rt paths: "
            f"{', '.join(_native.available_isas())} (this run: {_native.isa()})")
