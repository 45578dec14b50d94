"""One line of platform facts for docs/PLATFORMS.md: machine, Python, numpy, where int8rt is
installed, its installed size, the kernel paths, and the `import int8rt` time.

    python tools/arm/platform_info.py [--runs 5]

The import time is the median over fresh interpreters (`python -c "import int8rt"` timed inside
the child, numpy included, since int8rt imports it), so the page cache is warm but nothing is
imported yet. Run it outside the checkout, or the in-tree package may shadow the installed one.
"""

from __future__ import annotations

import argparse
import platform
import statistics
import subprocess
import sys
from pathlib import Path

CHILD = ("import time; t = time.perf_counter(); import int8rt; "
         "print(time.perf_counter() - t)")


def package_size(pkg_dir: Path) -> int:
    return sum(p.stat().st_size for p in pkg_dir.rglob("*") if p.is_file()
               and "__pycache__" not in p.parts)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--runs", type=int, default=5)
    args = p.parse_args(argv)
    times = [float(subprocess.run([sys.executable, "-c", CHILD], capture_output=True, text=True,
                                  check=True).stdout) for _ in range(args.runs)]
    import numpy as np

    import int8rt
    from int8rt import _native

    pkg = Path(int8rt.__file__).parent
    print(f"machine={platform.machine()} python={platform.python_version()} "
          f"numpy={np.__version__} int8rt={int8rt.__version__} at {pkg}")
    print(f"installed size={package_size(pkg) / 1024:.0f} KiB "
          f"(native modules {sum(f.stat().st_size for f in pkg.glob('_native/*.so')) / 1024:.0f}"
          f" KiB)")
    print(f"kernel path={_native.isa()} available={','.join(_native.available_isas())} "
          f"cpu={_native.cpu_features()}")
    print(f"import int8rt: median {statistics.median(times):.3f} s over {args.runs} "
          f"(min {min(times):.3f}, max {max(times):.3f})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
