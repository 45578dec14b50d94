"""Declares the native extensions (int8rt/_native/: a C library and the binding modules over it);
metadata lives in pyproject.toml.

The portable kernels are compiled with baseline flags only (no -march=native): one build runs
on every CPU of its architecture. -ffp-contract=off keeps a*b+c from becoming an FMA, which
would change requantization results (docs/QUANTIZATION.md §4).

Release builds (wheels, `pip install`) carry no debug info: the target Python's `-g` is dropped
and the module is stripped at link (`-s`); on aarch64 that is 4.4 MB -> well under 1 MB
(docs/PLATFORMS.md). INT8RT_DEBUG_BUILD=1 keeps `-g` and the symbols for a debugger.

The Cython-generated glue (int8rt/_native/*.c, the binding modules) holds no kernel (those are
csrc/, -O2, in the C library) and is the longest compile of a `pip install` on a Pi or in the
emulated chroot (tools/arm/chroot.sh). It is compiled for size, -Os on every platform: the
wheel must stay under 1 MB (issue #17). At -O0, which ARM used for compile time (3x less CPU
than -O1 / -Os), the nine modules zip to 1.04 MB on aarch64; at -Os to 0.92 MB
(docs/ARCHITECTURE.md "Native package size"). The cost is compile time: 4.0 -> 12.0 s of CPU
for the nine modules with the aarch64 cross gcc (-O0 -> -Os), spread over up to 4 cores since
the modules compile side by side. Run time barely moves: the glue only converts arguments
(less optimised glue measured 0.5 us more per run of the tiny digits CNN on x86, 11.2 ->
11.7 us; docs/PLATFORMS.md).
"""

import os
import re
from pathlib import Path

import Cython
import numpy as np
from Cython.Build import cythonize
from setuptools import Extension, setup
from setuptools.command.build_ext import build_ext

DEBUG = os.environ.get("INT8RT_DEBUG_BUILD") == "1"

HERE = Path(__file__).parent
GLUE_OPT = "-Os"  # the generated binding modules (see the docstring)
C_SOURCES = sorted(str(p.relative_to(HERE)) for p in (HERE / "csrc").rglob("*.c"))
C_FLAGS = ["-std=c11", "-O2", "-ffp-contract=off", "-fno-math-errno", "-Wall", "-Wextra",
           "-Wno-unused-parameter", "-Wno-sign-compare", "-Wno-unused-function"]

# The C code, compiled once into a shared library of the package (no Python module of its own):
# every binding module links it, so there is one copy of the kernels and of their process-wide
# state (the ISA chosen, the thread pool). Its soname is its file name and the modules find it
# beside themselves ($ORIGIN), in place and installed alike.
LIB_NAME = "int8rt._native._libint8rt"
libint8rt = Extension(
    LIB_NAME,
    sources=C_SOURCES,
    include_dirs=["csrc/include", "csrc"],
    extra_compile_args=C_FLAGS,
    # the plan's thread pool (glibc < 2.34 needs libpthread); -s: strip (see the docstring)
    extra_link_args=["-pthread"] + ([] if DEBUG else ["-s"]),
)

# The binding modules (int8rt/_native/*.pyx), one per job (int8rt/_native/__init__.py).
MODULES = ["cpu", "plan", "dynamic", "kernels_gemm", "bench"]
bindings = [
    Extension(
        f"int8rt._native.{m}",
        sources=[f"int8rt/_native/{m}.pyx"],
        include_dirs=["csrc/include", "csrc", np.get_include()],
        define_macros=[("NPY_NO_DEPRECATED_API", "NPY_1_7_API_VERSION")],
        # the last -O wins; no unwind tables (.eh_frame: C called from Python, never unwound
        # through; 20 KB of the x86 wheel)
        extra_compile_args=[*C_FLAGS, GLUE_OPT, "-fno-asynchronous-unwind-tables"],
        extra_link_args=["-pthread", "-Wl,-rpath,$ORIGIN"] + ([] if DEBUG else ["-s"]),
    )
    for m in MODULES
]

# Cython's runtime utility code (type checks, argument parsing, exception helpers, the
# CyFunction type ...) once, in a module of its own that the binding modules import, instead of
# a copy in each of them: Cython >= 3.1 (`shared_utility_qualified_name`). Older Cython: a
# copy per module, as before (larger wheel, same behaviour).
CY_UTILITY = "int8rt._native._cyutility"
SHARED_UTILITY = tuple(int(v) for v in re.findall(r"\d+", Cython.__version__)[:2]) >= (3, 1)
if SHARED_UTILITY:
    bindings.append(Extension(CY_UTILITY, sources=[], extra_compile_args=[*C_FLAGS, GLUE_OPT],
                              extra_link_args=[] if DEBUG else ["-s"]))


class BuildExt(build_ext):
    """Drops the interpreter's -g / -gN / -gdwarf* flags unless INT8RT_DEBUG_BUILD=1, builds the
    C library first (its C files in parallel) and then the binding modules (in parallel: the
    Cython-generated C of each is a fraction of the old single module's)."""

    def finalize_options(self) -> None:
        super().finalize_options()
        if not self.parallel:
            self.parallel = min(4, os.cpu_count() or 1)

    def build_extensions(self) -> None:
        if not DEBUG:
            cc = getattr(self.compiler, "compiler_so", None)
            if cc:
                self.compiler.compiler_so = [a for a in cc if not re.fullmatch(r"-g\w*", a)]
        self.check_extensions_list(self.extensions)
        lib = next(e for e in self.extensions if e.name == LIB_NAME)
        rest = [e for e in self.extensions if e is not lib]
        lib_path = self.get_ext_fullpath(LIB_NAME)
        lib.extra_link_args = [*lib.extra_link_args, f"-Wl,-soname,{Path(lib_path).name}"]
        self._build_parallel(lib)
        for e in rest:  # linked by file name: DT_NEEDED is the soname, found by the rpath
            if e.name != CY_UTILITY:  # Cython's runtime only: no C of the library
                e.extra_objects = [lib_path]
        self.extensions = rest
        try:
            super().build_extensions()
        finally:
            self.extensions = [lib, *rest]

    def _build_parallel(self, ext: Extension) -> None:
        """build_extension with its C files compiled on `parallel` threads (distutils compiles
        one extension's sources one by one)."""
        from concurrent.futures import ThreadPoolExecutor

        serial = self.compiler.compile

        def compile_all(sources, **kw):
            with ThreadPoolExecutor(max_workers=max(1, int(self.parallel or 1))) as pool:
                objs = pool.map(lambda src: serial([src], **kw), sources)
                return [o for group in objs for o in group]

        self.compiler.compile = compile_all
        try:
            self.build_extension(ext)
        finally:
            self.compiler.compile = serial


setup(cmdclass={"build_ext": BuildExt},
      ext_modules=[libint8rt, *cythonize(
          bindings, language_level=3, nthreads=2,
          # binding=False: plain builtin functions, not Cython's introspectable CyFunction (less
          # code per function); auto_pickle=False: no pickling stubs (no binding object pickles)
          compiler_directives={"boundscheck": False, "wraparound": False, "binding": False,
                               "auto_pickle": False},
          **({"shared_utility_qualified_name": CY_UTILITY} if SHARED_UTILITY else {}))])
