# cython: language_level=3
"""The native core: kernel entry points (used by tests and micro-benchmarks) and the compiled
plan that Session runs. One module; each part lives in its own .pxi so the pieces stay small."""

include "_kernels_decl.pxi"
include "_kernels_conv.pxi"
include "_kernels_elementwise.pxi"
include "_kernels_f32conv.pxi"
include "_plan.pxi"
include "_reshape.pxi"
include "_cpu.pxi"
include "_dynamic.pxi"
include "_bench.pxi"
