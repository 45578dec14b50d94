"""Declares the one native extension; metadata lives in pyproject.toml.

The portable kernels are compiled with baseline flags only (no -march=native): one build runs
on every CPU of its architecture. -ffp-contract=off keeps a*b+c from becoming an FMA, which
would change requantization results (docs/QUANTIZATION.md §4).

Release builds (wheels, `pip install`) carry no debug info: the target Python's `-g` is dropped
and the module is stripped at link (`-s`); on aarch64 that is 4.4 MB -> well under 1 MB
(docs/PLATFORMS.md). INT8RT_DEBUG_BUILD=1 keeps `-g` and the symbols for a debugger.

The Cython-generated glue (int8rt/_native.c, 4.6 MB of C) holds no kernel (those are csrc/,
-O2) and is the longest single compile of a `pip install` on a Pi or in the emulated chroot
(tools/arm/chroot.sh), so it gets less optimisation: -O1 on x86 (half the compile time of -O2:
65 s -> 30 s native here), -O0 on ARM (3x faster again: 9.7 s -> 3.0 s of CPU time; measured
cost: MobileNetV2 on qemu's cortex-a76 62.7 M -> 62.8 M instructions per inference, and
0.5 us more per run of the tiny digits CNN on x86, 11.2 -> 11.7 us).
"""

import os
import platform
import re
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
from Cython.Build import cythonize
from setuptools import Extension, setup
from setuptools.command.build_ext import build_ext

DEBUG = os.environ.get("INT8RT_DEBUG_BUILD") == "1"

HERE = Path(__file__).parent
_ARM = platform.machine().lower().startswith(("aarch64", "arm"))
GLUE_OPT = "-O0" if _ARM else "-O1"  # the generated _native.c (see the docstring)
C_SOURCES = sorted(str(p.relative_to(HERE)) for p in (HERE / "csrc").rglob("*.c"))
C_FLAGS = ["-std=c11", "-O2", "-ffp-contract=off", "-fno-math-errno", "-Wall", "-Wextra",
           "-Wno-unused-parameter", "-Wno-sign-compare", "-Wno-unused-function"]

native = Extension(
    "int8rt._native",
    sources=["int8rt/_native.pyx", *C_SOURCES],
    include_dirs=["csrc/include", "csrc", np.get_include()],
    define_macros=[("NPY_NO_DEPRECATED_API", "NPY_1_7_API_VERSION")],
    extra_compile_args=C_FLAGS,
    # the plan's thread pool (glibc < 2.34 needs libpthread); -s: strip (see the docstring)
    extra_link_args=["-pthread"] + ([] if DEBUG else ["-s"]),
)


class BuildExt(build_ext):
    """Drops the interpreter's -g / -gN / -gdwarf* flags unless INT8RT_DEBUG_BUILD=1, and
    compiles the C files of the extension in parallel, up to 4 at once (setuptools' own
    --parallel only runs separate extensions side by side, and this is one extension: its ~50
    files went one by one). The generated _native.c starts first, since it alone bounds the
    total; on a 4-core Pi the kernel files compile beside it."""

    def build_extensions(self) -> None:
        if not DEBUG:
            cc = getattr(self.compiler, "compiler_so", None)
            if cc:
                self.compiler.compiler_so = [a for a in cc if not re.fullmatch(r"-g\w*", a)]
        compile_one = getattr(self.compiler, "_compile", None)
        if compile_one is not None:
            def glue_opt(obj, src, ext, cc_args, extra_postargs, pp_opts):  # type: ignore
                if Path(src).name == "_native.c":  # the last -O wins
                    extra_postargs = [*extra_postargs, GLUE_OPT]
                return compile_one(obj, src, ext, cc_args, extra_postargs, pp_opts)

            self.compiler._compile = glue_opt
            self.compiler.compile = self._parallel_compile
        super().build_extensions()

    def _parallel_compile(self, sources, output_dir=None, macros=None, include_dirs=None,
                          debug=False, extra_preargs=None, extra_postargs=None, depends=None):
        """CCompiler.compile with the per-file _compile calls on a thread pool (each one runs
        the compiler as a subprocess); the first error is raised, as the serial loop does."""
        cc = self.compiler
        macros, objects, extra_postargs, pp_opts, build = cc._setup_compile(
            output_dir, macros, include_dirs, sources, depends, extra_postargs)
        cc_args = cc._get_cc_args(pp_opts, debug, extra_preargs)
        todo = sorted((obj for obj in objects if obj in build),
                      key=lambda obj: -os.path.getsize(build[obj][0]))  # largest first
        jobs = max(1, min(4, os.cpu_count() or 1, len(todo)))
        with ThreadPoolExecutor(jobs) as pool:
            for _ in pool.map(lambda obj: cc._compile(obj, *build[obj], cc_args, extra_postargs,
                                                       pp_opts), todo):
                pass
        return objects


setup(cmdclass={"build_ext": BuildExt},
      ext_modules=cythonize([native], language_level=3,
                            compiler_directives={"boundscheck": False, "wraparound": False}))
