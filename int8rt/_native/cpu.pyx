# cython: language_level=3
# Kernel path ("ISA") selection: a thin binding of csrc/include/int8rt/cpu.h.
from int8rt._native.c_cpu cimport *
from int8rt._native.c_f32conv cimport i8_f32_conv_path



def known_isas() -> list:
    """Every path name int8rt knows, lowest first (not all have kernels on this machine)."""
    return [i8_isa_name(i).decode() for i in range(I8_ISA_COUNT)]


def available_isas() -> list:
    """Paths this build and CPU can run, within the INT8RT_ISA cap, lowest first."""
    return [i8_isa_name(i).decode() for i in range(I8_ISA_COUNT) if i8_isa_available(i)]


def isa() -> str:
    """The kernel path fc / conv2d (and Session) currently use."""
    return i8_isa_name(i8_isa_current()).decode()


def set_isa(name: str) -> None:
    """Switches the kernel path of this process (tests sweep paths with it). ValueError for an
    unknown name or a path the CPU (or the INT8RT_ISA cap) does not allow."""
    cdef _i32 i = i8_isa_from_name(name.encode())
    if i < 0:
        raise ValueError(f"unknown ISA {name!r}; known: {', '.join(known_isas())}")
    if i8_isa_set(i) != 0:
        raise ValueError(f"ISA {name!r} is not available here; available: "
                         f"{', '.join(available_isas())}")


def cpu_features() -> dict:
    """What the CPU (and OS) support, whether or not int8rt has kernels for it yet."""
    cdef i8_cpu_features f
    i8_cpu_detect(&f)
    return {"avx2": bool(f.avx2), "avx_vnni": bool(f.avx_vnni),
            "avx512_vnni": bool(f.avx512_vnni), "avx512_vbmi": bool(f.avx512_vbmi),
            "neon": bool(f.neon),
            "neon_dot": bool(f.neon_dot)}


def f32conv_path_name() -> str:
    """The path the float fallback kernels (csrc/kernels/f32conv) run on now: 'avx512', 'avx2'
    (+ FMA) or 'portable'."""
    return ("portable", "avx2", "avx512")[i8_f32_conv_path()]


def _init_isa() -> None:
    if i8_isa_init() != 0:
        import os
        import warnings
        warnings.warn(f"INT8RT_ISA={os.environ.get('INT8RT_ISA')!r} is not a known ISA "
                      f"({', '.join(known_isas())}); using {isa()!r}", RuntimeWarning,
                      stacklevel=2)


_init_isa()
