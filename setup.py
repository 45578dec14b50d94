"""Declares the one native extension; metadata lives in pyproject.toml.

The portable kernels are compiled with baseline flags only (no -march=native): one build runs
on every CPU of its architecture. -ffp-contract=off keeps a*b+c from becoming an FMA, which
would change requantization results (docs/QUANTIZATION.md §4).
"""

from pathlib import Path

import numpy as np
from Cython.Build import cythonize
from setuptools import Extension, setup

HERE = Path(__file__).parent
C_SOURCES = sorted(str(p.relative_to(HERE)) for p in (HERE / "csrc").rglob("*.c"))
C_FLAGS = ["-std=c11", "-O2", "-ffp-contract=off", "-fno-math-errno", "-Wall", "-Wextra",
           "-Wno-unused-parameter", "-Wno-sign-compare", "-Wno-unused-function"]

native = Extension(
    "int8rt._native",
    sources=["int8rt/_native.pyx", *C_SOURCES],
    include_dirs=["csrc/include", "csrc", np.get_include()],
    define_macros=[("NPY_NO_DEPRECATED_API", "NPY_1_7_API_VERSION")],
    extra_compile_args=C_FLAGS,
    extra_link_args=["-pthread"],  # the plan's thread pool (glibc < 2.34 needs libpthread)
)

setup(ext_modules=cythonize([native], language_level=3,
                            compiler_directives={"boundscheck": False, "wraparound": False}))
