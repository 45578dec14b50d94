"""The instruction-count plugin of the ARM speed proxy (tools/arm/icount.c, bench/arm_icount.py):
built for the host, loaded by Debian's dynamic qemu-aarch64, it counts a known loop exactly.
Skipped unless gcc, the aarch64 cross gcc and qemu-aarch64 (package qemu-user: the -static
build cannot load plugins) are installed."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
_missing = [t for t in ("gcc", "aarch64-linux-gnu-gcc", "qemu-aarch64") if not shutil.which(t)]
pytestmark = pytest.mark.skipif(bool(_missing) or not (ROOT / "tools/arm/icount.c").exists(),
                                reason=f"needs {', '.join(_missing) or 'the source checkout'}")

# n iterations of a loop of a few instructions (6 at gcc 12 -O1: the volatile load, add, store,
# the counter add, compare, branch)
LOOP = r"""
#include <stdio.h>
#include <stdlib.h>
int main(int argc, char **argv) {
    long n = atol(argv[1]);
    volatile long s = 0;
    for (long i = 0; i < n; i++) s += i;
    printf("%d\n", (int)(s & 1));
    return 0;
}
"""


def _count(plugin: Path, exe: Path, n: int, out: Path, blocks: bool = False) -> int:
    arg = f"{plugin},out={out}" + (",blocks=on" if blocks else "")
    r = subprocess.run(["qemu-aarch64", "-cpu", "cortex-a72", "-L", "/usr/aarch64-linux-gnu",
                        "-plugin", arg, "-d", "plugin", str(exe), str(n)], capture_output=True,
                       text=True, timeout=120, check=False)
    assert r.returncode == 0, r.stderr
    first = out.read_text().splitlines()[0].split()
    assert first[0] == "icount"
    assert f"icount {first[1]}" in r.stderr  # the same total on qemu's log
    return int(first[1])


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path, Path]:
    d = tmp_path_factory.mktemp("icount")
    plugin, src, exe = d / "libicount.so", d / "loop.c", d / "loop"
    subprocess.run(["gcc", "-O2", "-Wall", "-Wextra", "-Wno-unused-parameter", "-Werror",
                    "-shared", "-fPIC", str(ROOT / "tools/arm/icount.c"), "-o", str(plugin)],
                   check=True, timeout=120)
    src.write_text(LOOP)
    subprocess.run(["aarch64-linux-gnu-gcc", "-O1", str(src), "-o", str(exe)], check=True,
                   timeout=120)
    return plugin, exe, d


def test_counts_the_loop_slope(built: tuple[Path, Path, Path]) -> None:
    plugin, exe, d = built
    c0 = _count(plugin, exe, 1000, d / "a.txt")
    c1 = _count(plugin, exe, 1000 + 200_000, d / "b.txt")
    # same setup, 200k more iterations of a loop of a few instructions: the difference is a
    # whole number of instructions per iteration, up to the printf of a longer number
    per_iter = (c1 - c0) / 200_000
    assert 3 <= round(per_iter) <= 8
    assert abs(per_iter - round(per_iter)) < 1e-3
    assert _count(plugin, exe, 1000, d / "c.txt") == c0  # deterministic


def test_block_dump_sums_to_the_total(built: tuple[Path, Path, Path]) -> None:
    plugin, exe, d = built
    total = _count(plugin, exe, 5000, d / "blk.txt", blocks=True)
    lines = (d / "blk.txt").read_text().splitlines()[1:]
    assert lines and all(ln.startswith("blk ") for ln in lines)
    assert sum(int(ln.split()[3]) for ln in lines) == total
    assert _count(plugin, exe, 5000, d / "plain.txt") == total


def test_bad_argument_is_refused(built: tuple[Path, Path, Path]) -> None:
    plugin, exe, _ = built
    r = subprocess.run(["qemu-aarch64", "-L", "/usr/aarch64-linux-gnu", "-plugin",
                        f"{plugin},bogus=1", str(exe), "1"], capture_output=True, text=True,
                       timeout=60, check=False)
    assert r.returncode != 0
    assert "bogus" in r.stderr


# the barrier keeps all three workers alive at once, so each has its own vCPU (qemu-user
# reuses the index of a thread that has exited)
THREADS = r"""
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
static pthread_barrier_t start;
static void *work(void *arg) {
    pthread_barrier_wait(&start);
    volatile long s = 0;
    for (long i = 0; i < (long)arg; i++) s += i;
    return NULL;
}
int main(int argc, char **argv) {
    long n = atol(argv[1]);
    pthread_t t[3];
    pthread_barrier_init(&start, 0, 4);
    for (long i = 0; i < 3; i++) pthread_create(&t[i], 0, work, (void *)(n * (i + 1)));
    pthread_barrier_wait(&start);
    for (int i = 0; i < 3; i++) pthread_join(t[i], 0);
    puts("ok");
    return 0;
}
"""


def test_threads_are_counted_apart(built: tuple[Path, Path, Path]) -> None:
    plugin, _, d = built
    src, exe = d / "thr.c", d / "thr"
    src.write_text(THREADS)
    subprocess.run(["aarch64-linux-gnu-gcc", "-O1", "-pthread", str(src), "-o", str(exe)],
                   check=True, timeout=120)

    def per_thread(n: int) -> dict[int, int]:
        out = d / f"thr{n}.txt"
        r = subprocess.run(["qemu-aarch64", "-cpu", "cortex-a72", "-L", "/usr/aarch64-linux-gnu",
                            "-plugin", f"{plugin},out={out},threads=on", str(exe), str(n)],
                           capture_output=True, text=True, timeout=120, check=False)
        assert r.returncode == 0, r.stderr
        lines = out.read_text().splitlines()
        counts = {int(ln.split()[1]): int(ln.split()[2]) for ln in lines[1:]}
        assert sum(counts.values()) == int(lines[0].split()[1])
        return counts

    counts = per_thread(200_000)
    # the main thread plus three workers of n, 2n, 3n iterations
    work = sorted(counts.values())[-3:]
    assert len(counts) == 4
    assert abs(work[1] / work[0] - 2) < 0.01 and abs(work[2] / work[0] - 3) < 0.01
    assert work[0] >= 200_000 * 3  # at least a few instructions per iteration


def test_threads_with_blocks_split_per_block_and_thread(built: tuple[Path, Path, Path]) -> None:
    """threads=on + blocks=on: per block, one count per guest thread ("blkt" lines); they sum
    to the total and, per thread, to what threads=on alone counts for that thread."""
    plugin, _, d = built
    src, exe = d / "thr2.c", d / "thr2"
    src.write_text(THREADS)
    subprocess.run(["aarch64-linux-gnu-gcc", "-O1", "-pthread", str(src), "-o", str(exe)],
                   check=True, timeout=120)

    def run(opts: str, out: Path) -> list[str]:
        r = subprocess.run(["qemu-aarch64", "-cpu", "cortex-a72", "-L", "/usr/aarch64-linux-gnu",
                            "-plugin", f"{plugin},out={out},{opts}", str(exe), "100000"],
                           capture_output=True, text=True, timeout=120, check=False)
        assert r.returncode == 0, r.stderr
        return out.read_text().splitlines()

    both = run("threads=on,blocks=on", d / "tb.txt")
    total = int(both[0].split()[1])
    blkt = [ln.split() for ln in both[1:] if ln.startswith("blkt ")]
    assert blkt
    per_thread = [sum(int(f[3 + i]) for f in blkt) for i in range(len(blkt[0]) - 3)]
    assert sum(per_thread) == total
    alone = {int(ln.split()[1]): int(ln.split()[2])
             for ln in run("threads=on", d / "t.txt")[1:]}
    # the three workers run n, 2n, 3n loop iterations either way; their thread start / exit
    # (the barrier's futex waits) varies by a few hundred instructions with the host's timing
    for x, y in zip(sorted(per_thread)[-3:], sorted(alone.values())[-3:]):
        assert abs(x - y) < 0.005 * y
