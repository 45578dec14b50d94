"""Checks that an sdist holds everything a from-source build needs (tools/arm/chroot.sh runs it).

    python tools/arm/check_sdist.py dist/int8rt-X.tar.gz

Required: setup.py, pyproject.toml, every C source and header under csrc/, the Cython sources
(int8rt/**/*.pyx, *.pxi, *.pxd), every Python module of the int8rt package and its data files, as
tracked by git in this checkout. Compiled build products (*.so, *.o, *.pyc) must not be in it.
The sdist also carries int8rt/_native/*.c, which setup.py's cythonize generates while the sdist
is made (setuptools ships an extension's sources); Cython stays a build requirement
(pyproject.toml), so a build works with or without that file.
"""

from __future__ import annotations

import subprocess
import sys
import tarfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
NEEDED_PREFIXES = ("csrc/", "int8rt/")
FORBIDDEN_SUFFIXES = (".so", ".o", ".pyc")


def tracked() -> list[str]:
    out = subprocess.run(["git", "-C", str(ROOT), "ls-files"], capture_output=True, text=True,
                         check=True).stdout.split()
    return [f for f in out if f.startswith(NEEDED_PREFIXES)] + ["setup.py", "pyproject.toml",
                                                                "MANIFEST.in"]


def main(argv: list[str]) -> int:
    sdist = Path(argv[1])
    with tarfile.open(sdist) as tf:
        names = tf.getnames()
    top = names[0].split("/")[0]
    have = {n[len(top) + 1:] for n in names if n.startswith(top + "/")}
    missing = [f for f in tracked() if f not in have]
    extra = [f for f in have if f.endswith(FORBIDDEN_SUFFIXES)]
    size = sdist.stat().st_size
    print(f"sdist {sdist.name}: {len(have)} files, {size / 1024:.0f} KiB; "
          f"{len(missing)} tracked build inputs missing, {len(extra)} build products")
    for f in missing:
        print(f"  missing: {f}")
    for f in extra:
        print(f"  build product: {f}")
    return 1 if missing or extra else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
