"""How many threads a Session uses by default: the physical cores this process may run on.

Linux (x86 and ARM alike): the CPUs in `os.sched_getaffinity(0)` (taskset, cgroup cpusets and
container limits on the affinity mask all show up there), grouped by core through sysfs
`/sys/devices/system/cpu/cpuN/topology/`: two CPUs are SMT siblings of one physical core when
they have the same (physical_package_id, core_id) (x86 hyper-threads; Raspberry Pi and other
ARM cores report one CPU per core, so the count is their CPU count; on big.LITTLE every core
counts). Where the topology files are missing, every allowed CPU counts as a core. Elsewhere
`os.cpu_count()`. SMT siblings share a core's int8 dot-product units, so a second thread per
core mostly adds contention to these compute-bound kernels. See docs/PLAN.md, "Threads".
"""

from __future__ import annotations

import os
from pathlib import Path

_SYSFS = Path("/sys/devices/system/cpu")


def _core_of(cpu: int) -> tuple[str, str] | None:
    topo = _SYSFS / f"cpu{cpu}" / "topology"
    try:
        return ((topo / "physical_package_id").read_text().strip(),
                (topo / "core_id").read_text().strip())
    except OSError:
        return None


def physical_cores() -> int:
    """Physical cores among the CPUs this process may run on (>= 1)."""
    try:
        cpus = sorted(os.sched_getaffinity(0))
    except (AttributeError, OSError):
        return max(os.cpu_count() or 1, 1)
    cores: set[tuple[str, str] | tuple[str, int]] = set()
    for cpu in cpus:
        # a CPU without topology files is a core of its own
        cores.add(_core_of(cpu) or ("cpu", cpu))
    return max(len(cores), 1)


def resolve_threads(threads: int | None) -> int:
    """The thread count a Session runs with: `threads`, or physical_cores() for None."""
    if threads is None:
        return physical_cores()
    if isinstance(threads, bool) or not isinstance(threads, int) or threads < 1:
        raise ValueError(f"threads must be a positive integer or None, got {threads!r}")
    return threads
