"""The C kernels built for aarch64 and armv7 and run under qemu-user (tools/arm/run.sh) give
bit-for-bit the numpy reference's outputs. Skipped unless the cross compilers and qemu-user
are installed (the script never runs apt-get from here: ARM_INSTALL=0)."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
TOOLS = ("gcc", "aarch64-linux-gnu-gcc", "arm-linux-gnueabihf-gcc", "qemu-aarch64-static",
         "qemu-arm-static", "bash", "dpkg")
SYSROOTS = ("/usr/aarch64-linux-gnu/lib", "/usr/arm-linux-gnueabihf/lib")
# target -> the kernel paths its CPU model must run (neondot only where the model has dotprod)
TARGETS = {"x86-64": ("scalar", "avx2"), "aarch64 cortex-a72": ("scalar", "neon"),
           "aarch64 cortex-a76": ("scalar", "neon", "neondot"),
           "aarch64 max": ("scalar", "neon", "neondot"),
           "armv7 cortex-a7": ("scalar", "neon"), "armv7 cortex-a15": ("scalar", "neon"),
           "armv7 default flags cortex-a7": ("scalar", "neon")}
# target -> the path the dispatcher must select by itself (INT8RT_ISA unset)
DISPATCH = {"aarch64 cortex-a72": "neon", "aarch64 cortex-a76": "neondot",
            "aarch64 max": "neondot", "armv7 cortex-a7": "neon", "armv7 cortex-a15": "neon",
            "armv7 default flags cortex-a7": "neon"}

_missing = [t for t in TOOLS if shutil.which(t) is None] + [
    d for d in SYSROOTS if not os.path.isdir(d)]
pytestmark = [pytest.mark.skipif(
    bool(_missing), reason=f"ARM cross toolchain / qemu-user not installed (missing: "
    f"{', '.join(_missing)}); install with: bash tools/arm/run.sh (as root)"),
    pytest.mark.skipif(not (ROOT / "tools/arm/run.sh").is_file(),
                       reason="needs the source checkout (tools/arm, csrc): cross-builds it")]


@pytest.fixture(scope="module")
def arm_run(tmp_path_factory: pytest.TempPathFactory) -> subprocess.CompletedProcess:
    """One run of the whole matrix (about 10 s idle, 3 min on a 2-core host at load 20: the
    timeout leaves room for that), shared by the tests below."""
    env = {**os.environ, "ARM_INSTALL": "0", "PYTHON": sys.executable,
           "ARM_BUILD": str(tmp_path_factory.mktemp("arm"))}
    return subprocess.run(["bash", str(ROOT / "tools/arm/run.sh")], env=env, cwd=ROOT, check=False,
                          capture_output=True, text=True, timeout=1800)


def test_all_targets_pass(arm_run: subprocess.CompletedProcess) -> None:
    out = arm_run.stdout + arm_run.stderr
    assert arm_run.returncode == 0, out[-4000:]
    n_cases = int(re.search(r"^(\d+) cases", out, re.MULTILINE).group(1))
    assert n_cases >= 500
    # one run per (target, path); kernel_check skips avx2 ("0 passed") only on a CPU without it
    runs = re.findall(r"^ok +.* isa=(\w+): (\d+) passed, 0 failed", arm_run.stdout, re.MULTILINE)
    assert len(runs) == sum(len(paths) for paths in TARGETS.values()), out[-4000:]
    assert all(int(n) == n_cases or (isa != "scalar" and int(n) == 0) for isa, n in runs), runs
    last = arm_run.stdout.strip().splitlines()[-1]
    assert last == f"{sum(int(n) for _, n in runs)} passed, 0 failed", out[-4000:]


@pytest.mark.parametrize("target,path", [(t, p) for t, ps in TARGETS.items() for p in ps
                                         if p != "avx2"])
def test_target_ran(arm_run: subprocess.CompletedProcess, target: str, path: str) -> None:
    # each (target, path) must have run every case; a silently skipped one would pass the total
    n_cases = re.search(r"^(\d+) cases", arm_run.stdout, re.MULTILINE)
    assert n_cases, arm_run.stdout[-2000:] + arm_run.stderr[-2000:]
    ok = re.search(rf"^ok +{re.escape(target)}.* isa={path}: {n_cases.group(1)} passed, 0 failed",
                   arm_run.stdout, re.MULTILINE)
    assert ok, arm_run.stdout[-4000:]


@pytest.mark.parametrize("target,path", sorted(DISPATCH.items()))
def test_dispatch_picks_best_path(arm_run: subprocess.CompletedProcess, target: str,
                                  path: str) -> None:
    # neondot only where the CPU model has dotprod: cortex-a72 must get plain neon
    ok = re.search(rf"^ok +{re.escape(target)}( \(.*\))? dispatch: path={path}$",
                   arm_run.stdout, re.MULTILINE)
    assert ok, arm_run.stdout[-4000:]


def test_qemu_enforces_dotprod(arm_run: subprocess.CompletedProcess) -> None:
    # SDOT called without the dispatcher dies on cortex-a72 and runs on cortex-a76, so the
    # neondot results above are only reachable on models that really have the instruction
    assert re.search(r"^ok +aarch64 cortex-a72 forced sdot: SIGILL", arm_run.stdout, re.MULTILINE)
    assert re.search(r"^ok +aarch64 cortex-a76 forced sdot: sdot ran$", arm_run.stdout,
                     re.MULTILINE)


# target -> native gemm kernel sets its CPU model must run in kernel_check --gemm-sets (each
# against the scalar set over a shape / zero point / clamp / epilogue / -128 weight sweep)
GEMM_SETS = {"x86-64": ("sse2", "neondot4_emu", "neonmlal_emu", "neonmull_emu"),
             "aarch64 cortex-a72": ("neon", "neon_pair", "neonmlal", "neonmull"),
             "aarch64 cortex-a76": ("neon", "neon_pair", "neonmlal", "neonmull", "neondot",
                                    "neondot4"),
             "aarch64 max": ("neon", "neon_pair", "neondot", "neondot4"),
             "armv7 cortex-a7": ("neon", "neon_pair"), "armv7 cortex-a15": ("neon", "neon_pair")}


@pytest.mark.parametrize("target", sorted(GEMM_SETS))
def test_gemm_sets_equal_scalar(arm_run: subprocess.CompletedProcess, target: str) -> None:
    ok = re.search(rf"^ok +{re.escape(target)}( \(.*\))? gemm sets: (\d+) passed, 0 failed "
                   r"\[([a-z0-9_ ]*)\]", arm_run.stdout, re.MULTILINE)
    assert ok, arm_run.stdout[-4000:]
    assert int(ok.group(2)) >= 5000
    ran = set(ok.group(3).split())
    assert set(GEMM_SETS[target]) <= ran, (target, ran)
    # a72 has no dotprod: the sdot sets must not be reported as run there
    if "a72" in target or "armv7" in target:
        assert not ran & {"neondot", "neondot4"}, ran
