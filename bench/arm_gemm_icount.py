"""Kernel-level ARM proxy: guest instructions of the gemm-side layers (non-depthwise convs and
the classifier) of MobileNetV2-224 and ResNet-18-224 under qemu-aarch64, per layer and per
CPU model, without the arm64 rootfs (bench/arm_icount.py measures whole models in it).

    python bench/arm_gemm_icount.py [--models mobilenet_v2 resnet18] [--cpus cortex-a72 cortex-a76]
                                    [--per-layer] [--isa neon] [--json out.json] [--tasks]

Builds tools/arm/conv_layers.c with every csrc/ file for aarch64 (the project's flags, as
tools/arm/run.sh) and the counting plugin tools/arm/icount.c for the host, then runs each
layer under the dynamic qemu-aarch64 with the plugin: instructions per run =
(count(1 + R runs) - count(1 run)) / R. Needs gcc-aarch64-linux-gnu, libc6-dev-arm64-cross,
qemu-user (dynamic qemu-aarch64: the static build has no plugins).

--tasks: also counts each layer run as its thread-split tasks one at a time (*_run_tasks(t,
t + 1), what the thread pool's single-task claims execute summed over the threads, for any
thread count) and prints split / whole: the work a split repeats (row preparation, im2col).
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
CFLAGS = ["-std=c11", "-O2", "-ffp-contract=off", "-fno-math-errno", "-march=armv8-a",
          "-mtune=cortex-a53", f"-I{ROOT}/csrc/include", f"-I{ROOT}/csrc"]


def build(out: Path) -> tuple[Path, Path]:
    srcs = sorted(str(p) for p in (ROOT / "csrc").rglob("*.c"))
    exe, plugin = out / "conv_layers", out / "libicount.so"
    subprocess.run(["aarch64-linux-gnu-gcc", *CFLAGS, *srcs, str(ROOT / "tools/arm/conv_layers.c"),
                    "-lm", "-pthread", "-o", str(exe)], check=True)
    subprocess.run(["gcc", "-O2", "-shared", "-fPIC", str(ROOT / "tools/arm/icount.c"), "-o",
                    str(plugin)], check=True)
    return exe, plugin


def count(exe: Path, plugin: Path, cpu: str, args: list[str], isa: str | None) -> int:
    """Guest instructions of one run of the layer program."""
    with tempfile.NamedTemporaryFile(suffix=".icount") as f:
        env = dict(os.environ, QEMU_CPU=cpu)
        env.pop("INT8RT_ISA", None)
        if isa:
            env["INT8RT_ISA"] = isa
        subprocess.run(["qemu-aarch64", "-L", "/usr/aarch64-linux-gnu", "-cpu", cpu, "-plugin",
                        f"{plugin},out={f.name}", str(exe), *args], check=True, env=env,
                       stdout=subprocess.DEVNULL)
        return int(Path(f.name).read_text().split()[1])


def layers(exe: Path, model: str) -> list[tuple[int, str, float]]:
    out = subprocess.run(["qemu-aarch64", "-L", "/usr/aarch64-linux-gnu", "-cpu", "cortex-a72",
                          str(exe), model, "list"], check=True, capture_output=True, text=True)
    rows = []
    for line in out.stdout.splitlines()[1:]:
        i, *desc, macs = line.split()
        rows.append((int(i), " ".join(desc), float(macs)))
    return rows


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--models", nargs="+", default=["mobilenet_v2", "resnet18"])
    ap.add_argument("--cpus", nargs="+", default=["cortex-a72", "cortex-a76"])
    ap.add_argument("--isa", help="INT8RT_ISA cap (default: the dispatcher's choice)")
    ap.add_argument("--per-layer", action="store_true", help="one row per layer")
    ap.add_argument("--reps", type=int, default=2, help="extra runs R (default 2)")
    ap.add_argument("--build", type=Path, help="build directory (default: a temp dir)")
    ap.add_argument("--json", type=Path)
    ap.add_argument("--tasks", action="store_true",
                    help="also count the layers run task by task (the thread split's work)")
    a = ap.parse_args(argv)
    out = a.build or Path(tempfile.mkdtemp(prefix="int8rt-gemm-icount."))
    out.mkdir(parents=True, exist_ok=True)
    exe, plugin = build(out)
    results = []
    for model in a.models:
        ls = layers(exe, model)
        for cpu in a.cpus:
            def one(idx: int, tail: tuple[str, ...] = (), cpu: str = cpu,
                    model: str = model) -> int:
                base = count(exe, plugin, cpu, [model, str(idx), "1", *tail], a.isa)
                more = count(exe, plugin, cpu, [model, str(idx), str(1 + a.reps), *tail],
                             a.isa)
                return (more - base) // a.reps
            idxs = [i for i, _, _ in ls] if a.per_layer else [-1]
            with ThreadPoolExecutor(2) as ex:
                counts = list(ex.map(one, idxs))
                split = list(ex.map(lambda i: one(i, ("tasks",)), idxs)) if a.tasks else None
            macs = sum(m for _, _, m in ls)
            total = sum(counts)
            print(f"{model} {cpu}: {total / 1e6:.2f} M instructions, {macs / 1e6:.0f} M MACs, "
                  f"{total / macs:.4f} per MAC" + (f"; run as tasks {sum(split) / 1e6:.2f} M, "
                                                    f"{sum(split) / total:.3f}x"
                                                    if split else ""), flush=True)
            if a.per_layer:
                for j, ((i, desc, m), c) in enumerate(zip(ls, counts)):
                    print(f"  {i:3d} {desc:32s} {c / 1e6:8.3f} M  {c / m:.4f}/MAC" +
                          (f"  tasks {split[j] / 1e6:8.3f} M {split[j] / c:.3f}x"
                           if split else ""))
            results.append({"model": model, "cpu": cpu, "isa": a.isa, "instructions": total,
                            "macs": macs, "per_layer": counts if a.per_layer else None,
                            "tasks": split})
    if a.json:
        a.json.write_text(json.dumps(results, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
