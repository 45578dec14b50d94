# csrc/include/int8rt/cpu.h: kernel path ("ISA") selection.
from libc.stdint cimport int32_t as _i32


cdef extern from "int8rt/cpu.h" nogil:
    ctypedef struct i8_cpu_features:
        _i32 avx2, avx_vnni, avx512_vnni, avx512_vbmi, neon, neon_dot
    enum: I8_ISA_COUNT
    void i8_cpu_detect(i8_cpu_features *f)
    const char *i8_isa_name(_i32 isa)
    _i32 i8_isa_from_name(const char *name)
    _i32 i8_isa_available(_i32 isa)
    _i32 i8_isa_init()
    _i32 i8_isa_current()
    _i32 i8_isa_set(_i32 isa)
