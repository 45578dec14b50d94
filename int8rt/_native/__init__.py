"""The native core: one extension module per job, all over one shared C library.

- `cpu`: kernel path ("ISA") selection (csrc/include/int8rt/cpu.h), the float fallback's path;
- `plan`: the compiled plan Session runs (csrc/include/int8rt/plan.h), the thread pool;
- `dynamic`: dynamic-int8 / weight-only weight packing and row quantization;
- `kernels_gemm`: the gemm core with one kernel set at a time, the portable `_emu` emulations
  included, and the portable twin of the avx512vnni 3x3 depthwise kernel (tests, bench/): the
  kernel entry points outside a plan. Every other kernel is
  tested and timed as a one-record plan (tests/kernels/one_op.py);
- `bench`: the peak dot-product loop and timed kernels of bench/;
- `_cyutility` (built with Cython >= 3.1): Cython's runtime code, shared by the others.

The C code (csrc/) is compiled once into `_libint8rt` (setup.py), which every module links:
one copy of the kernels and of the process-wide state (the chosen ISA, the thread pool). The C
declarations each module cimports are the .pxd files beside them; tests/test_records.py checks
their structs against the C headers.

`int8rt._native.X` re-exports every module's names, so callers need not know which module
holds a function.
"""

from __future__ import annotations

from . import cpu  # first: its init reads INT8RT_ISA before any other module runs

# isort: split
from . import bench, dynamic, kernels_gemm, plan

for _m in (cpu, dynamic, plan, kernels_gemm, bench):
    globals().update({k: v for k, v in vars(_m).items()
                      if not k.startswith("__") and k not in ("np", "cnp")})
del _m
