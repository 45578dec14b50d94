"""AVX2-only x86 speed proxy: instructions per inference under qemu-user, int8rt vs ONNX Runtime.

    python bench/x86_icount.py                                   # every model x CPU model
    python bench/x86_icount.py --models mobilenet_v2 --cpus Haswell --split
    HF_HUB_OFFLINE=1 python bench/x86_icount.py --minilm /tmp/int8rt_minilm   # the encoder

Why: the issue targets name an AVX2-only CPU (no VNNI), and the machines here all have VNNI,
so ONNX Runtime on them never runs its AVX2 kernels. qemu-user 7.2 emulates AVX2 (not VNNI,
not AVX-512), and with `-cpu Haswell` (Intel) or `-cpu EPYC-Rome` (AMD Zen 2) both engines
see an AVX2-only CPU through CPUID and pick their AVX2 kernels. The host's own Python runs
under the dynamic `qemu-x86_64` with the counting plugin of the ARM rig (tools/arm/icount.c),
the same recipe as bench/arm_icount.py: identical setup, then 1 and 1 + N inferences, one
thread; instructions per inference = (count(1 + N) - count(1)) / N. Models, calibration and
ORT's QDQ file are those of bench/arm_icount.py (same cache). --minilm DIR counts the
sentence encoder instead (the files tools/minilm_check.py writes into DIR: int8rt dynamic int8
against ORT `quantize_dynamic` per-channel and ORT fp32, the passage of tools/minilm_speed.py
cut to 16 / 64 / 128 tokens).

What it is not: a time. x86 instructions differ in cost more than ARM ones do (a `vpmaddwd`
and a `vpmaddubsw` cost the same, a gather or a division do not), and the count ignores
caches. It ranks kernels that do the same kind of work, such as two int8 GEMMs on the same
vector width, as docs/PLATFORMS.md explains for the ARM proxy.
Needs qemu-user (the dynamic qemu-x86_64: the -static build has no plugins), gcc, torch +
onnx + onnxruntime on the host.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "bench"))
import arm_icount

CPUS = ("Haswell", "EPYC-Rome")
WORK = Path(os.environ.get("INT8RT_X86_ICOUNT", "/tmp/int8rt-x86-icount"))


# int8rt-rr: the 7-bit weights of quantize(..., reduce_range=True) (minilm_check.py writes
# it): the avx2 path runs them on the vpmaddubsw tiles (avx2ubs)
MINILM_RUNTIMES = {"int8rt": "minilm_dyn.i8", "int8rt-rr": "minilm_dyn_rr.i8",
                   "ort-dyn": "minilm_ort_dynamic_pc.onnx", "ort-fp32": "minilm_fp32.onnx"}
MINILM_LENGTHS = (16, 64, 128)


def minilm_guest(args: argparse.Namespace) -> None:
    """Guest side of --minilm: setup, then args.runs inferences at args.length tokens."""
    sys.path[:0] = [str(ROOT / "tools")]
    import minilm_check
    import minilm_speed
    from tokenizers import Tokenizer

    tok = Tokenizer.from_file(str(minilm_check.model_dir() / "tokenizer.json"))
    tok.no_truncation()
    tok.no_padding()
    feed = minilm_speed.feeds_at(tok, args.length)
    path = str(Path(args.dir) / MINILM_RUNTIMES[args.runtime])
    if args.runtime.startswith("int8rt"):
        import int8rt
        from int8rt import _native

        sess = int8rt.Session(path, threads=1)
        lib = next(Path(_native.__file__).parent.glob("_libint8rt*.so"))
        info = {"isa": _native.isa(), "native": str(lib),
                "base": arm_icount._module_base(str(lib))}
    else:
        import onnxruntime as ort

        so = ort.SessionOptions()
        so.intra_op_num_threads = so.inter_op_num_threads = 1
        so.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
        sess = ort.InferenceSession(path, so, providers=["CPUExecutionProvider"])
        info = {"isa": "ort " + ort.__version__}
    sess.run(None, feed)  # setup includes one run: a first-shape plan is not what is counted
    for _ in range(args.runs):
        sess.run(None, feed)
    print("GUEST " + json.dumps(info), flush=True)


def plugin() -> Path:
    """The counting plugin, built for the host once per checkout state of icount.c."""
    src = ROOT / "tools/arm/icount.c"
    so = WORK / f"libicount-{int(src.stat().st_mtime)}.so"
    if not so.exists():
        WORK.mkdir(parents=True, exist_ok=True)
        tmp = so.with_name(f".{so.name}.{os.getpid()}")
        arm_icount.sh(["gcc", "-O2", "-Wall", "-shared", "-fPIC", str(src), "-o", str(tmp)])
        os.replace(tmp, so)
    return so


def counted(cpu: str, runtime: str, model: str, runs: int,
            blocks: str | None = None, guest: list[str] | None = None) -> tuple[int, dict]:
    """One counted run of this checkout's int8rt (or ORT) under qemu-x86_64 -cpu CPU."""
    qemu = shutil.which("qemu-x86_64")
    if not qemu:
        raise SystemExit("qemu-x86_64 (Debian package qemu-user) is needed: it loads plugins")
    out = WORK / f"count-{os.getpid()}.txt"
    plug = f"{plugin()},out={out}" + (",blocks=on" if blocks else "")
    env = {**os.environ, "OMP_NUM_THREADS": "1", "INT8RT_THREADS": "1",
           "PYTHONDONTWRITEBYTECODE": "1",
           "PYTHONPATH": os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")])}
    env.pop("INT8RT_ISA", None)  # the path is whatever int8rt picks on that CPU model
    # setarch -R: no address randomisation, so runs repeat their layout (--split still reads
    # each dump with its own run's module address)
    cmd = ["setarch", "x86_64", "-R", qemu, "-cpu", cpu, "-plugin", plug, "-d", "plugin",
           sys.executable]
    cmd += guest + ["--runs", str(runs)] if guest else [
        str(ROOT / "bench/arm_icount.py"), "--guest", "--runtime", runtime, "--model", model,
        "--dir", str(arm_icount.WORK / "models"), "--runs", str(runs), "--threads", "1"]
    r = subprocess.run(cmd, check=False, env=env, capture_output=True, text=True)
    lines = [ln for ln in r.stdout.splitlines() if ln.startswith("GUEST ")]
    if r.returncode or not lines:
        raise RuntimeError(f"guest run failed ({r.returncode}): {' '.join(cmd)}\n"
                           f"{r.stdout[-2000:]}\n{r.stderr[-3000:]}")
    text = out.read_text()
    if blocks:
        shutil.copy(out, blocks)
    out.unlink()
    return int(text.split("\n", 1)[0].split()[1]), json.loads(lines[-1][6:])


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--models", nargs="+", default=list(arm_icount.MODELS))
    p.add_argument("--cpus", nargs="+", default=list(CPUS),
                   help="qemu -cpu models without VNNI (default: %(default)s)")
    p.add_argument("--runtimes", nargs="+", default=list(arm_icount.RUNTIMES),
                   choices=arm_icount.RUNTIMES)
    p.add_argument("--runs", type=int, default=3,
                   help="N: extra inferences of the second counted run (default 3)")
    p.add_argument("--split", action="store_true",
                   help="int8rt: per-function instructions per inference (top 25)")
    p.add_argument("--json", type=Path, help="also write the rows as JSON here")
    p.add_argument("--minilm", type=Path, metavar="DIR",
                   help="count the sentence encoder of tools/minilm_check.py's DIR instead")
    p.add_argument("--lengths", type=int, nargs="+", help="--minilm: token counts")
    p.add_argument("--minilm-runtimes", nargs="+", choices=list(MINILM_RUNTIMES),
                   help="--minilm: engines (default: all)")
    p.add_argument("--guest-minilm", action="store_true", help=argparse.SUPPRESS)
    p.add_argument("--runtime", help=argparse.SUPPRESS)
    p.add_argument("--length", type=int, help=argparse.SUPPRESS)
    p.add_argument("--dir", help=argparse.SUPPRESS)
    args = p.parse_args(argv)
    if args.guest_minilm:
        minilm_guest(args)
        return 0
    if args.minilm:
        return minilm_main(args)
    models = [m for m in args.models if arm_icount.model_available(m)]
    arm_icount.make_models(models, arm_icount.WORK / "models")
    rows = []
    for m in models:
        macs = int((arm_icount.WORK / "models" / f"{m}.macs").read_text())
        for cpu in args.cpus:
            row: dict[str, object] = {"model": m, "cpu": cpu, "macs": macs}
            for rt in args.runtimes:
                t0 = time.time()
                split = args.split and rt == "int8rt"
                b1, bn = (str(WORK / "b1.txt"), str(WORK / "bn.txt")) if split else (None, None)
                c1, info = counted(cpu, rt, m, 1, b1)
                cn, info_n = counted(cpu, rt, m, 1 + args.runs, bn)
                row[rt] = (cn - c1) / args.runs
                if rt == "int8rt":
                    row["path"] = info["isa"]
                arm_icount.log(f"{m} {cpu} {rt} ({info['isa']}): {row[rt] / 1e6:.1f} M "
                               f"instructions per inference ({time.time() - t0:.0f} s)")
                if split:
                    for name, n in arm_icount.split_per_function(
                            b1, bn, args.runs, info, info_n, nm="nm", root=Path("/"))[:25]:
                        print(f"    {n / 1e6:9.2f} M  {name}")
            rows.append(row)
    arm_icount.print_table(rows)
    if args.json:
        args.json.write_text(json.dumps(rows, indent=1))
    return 0


def minilm_main(args: argparse.Namespace) -> int:
    per: dict[tuple[str, str, int], float] = {}
    lengths = args.lengths or MINILM_LENGTHS
    runtimes = [rt for rt in MINILM_RUNTIMES if rt in (args.minilm_runtimes or MINILM_RUNTIMES)]
    for cpu in args.cpus:
        for length in lengths:
            for rt in runtimes:
                guest = [str(Path(__file__).resolve()), "--guest-minilm", "--runtime", rt,
                         "--length", str(length), "--dir", str(args.minilm)]
                t0 = time.time()
                split = args.split and rt.startswith("int8rt")
                b1, bn = (str(WORK / "b1.txt"), str(WORK / "bn.txt")) if split else (None, None)
                c1, info = counted(cpu, rt, "minilm", 1, b1, guest=guest)
                cn, info_n = counted(cpu, rt, "minilm", 1 + args.runs, bn, guest=guest)
                per[cpu, rt, length] = (cn - c1) / args.runs
                arm_icount.log(f"minilm {cpu} {rt} ({info['isa']}) {length} tokens: "
                               f"{per[cpu, rt, length] / 1e6:.1f} M instructions per "
                               f"inference ({time.time() - t0:.0f} s)")
                if split:
                    for name, n in arm_icount.split_per_function(
                            b1, bn, args.runs, info, info_n, nm="nm", root=Path("/"))[:25]:
                        print(f"    {n / 1e6:9.2f} M  {name}")
    print("| CPU model | tokens | int8rt dynamic int8 | int8rt 7-bit weights (reduce_range) | "
          "ORT quantize_dynamic (per-channel) | ORT fp32 | int8rt / ORT dyn | "
          "int8rt 7-bit / ORT dyn | int8rt / ORT fp32 |")
    print("|---|---|---|---|---|---|---|---|---|")
    def m(v: float | None) -> str:
        return f"{v / 1e6:.1f} M" if v else "-"

    def r(a: float | None, b: float | None) -> str:
        return f"{a / b:.2f}x" if a and b else "-"

    for cpu in args.cpus:
        for n in lengths:
            a, a7, b, c = (per.get((cpu, rt, n)) for rt in MINILM_RUNTIMES)
            print(f"| {cpu} | {n} | {m(a)} | {m(a7)} | {m(b)} | {m(c)} | {r(a, b)} | "
                  f"{r(a7, b)} | {r(a, c)} |")
    if args.json:
        args.json.write_text(json.dumps([{"cpu": k[0], "runtime": k[1], "tokens": k[2],
                                          "instructions": v} for k, v in per.items()],
                                        indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
