# Small helpers several binding modules share (inline: compiled into each module).
from libc.stdlib cimport malloc


cdef inline void *_conv_malloc(size_t nbytes) except NULL:
    # malloc(0) may return NULL; always ask for at least one (16-byte aligned) block
    cdef void *ptr = malloc(nbytes if nbytes else 16)
    if ptr == NULL:
        raise MemoryError()
    return ptr
