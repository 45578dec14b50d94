"""ARM speed proxy: guest instructions per inference under qemu-user, int8rt vs ONNX Runtime.

    sudo python bench/arm_icount.py                       # every model x CPU model x runtime
    sudo python bench/arm_icount.py --models mobilenet_v2 --cpus cortex-a72 --split
    python bench/arm_icount.py --guest ...                # (inside the chroot; used by the above)

What it does (docs/PLATFORMS.md, "ARM speed proxy"):

1. Host: exports each model's float ONNX (tests/models/torch_nets.py, seeded weights), and
   quantizes it twice from the same calibration images (tests/models/fixtures.py): int8rt's
   `quantize()` (.i8) and ONNX Runtime's `quantize_static` (QDQ, S8S8, per-channel weights,
   MinMax: ORT's default static recipe). Cached in $INT8RT_ARM_CACHE/icount/models.
2. The arm64 Debian rootfs of tools/arm/chroot.sh (cached), plus a venv /opt/ortvenv with
   numpy and ONNX Runtime's own aarch64 wheel from PyPI, plus int8rt cross-compiled from this
   checkout (tools/arm/cross_install.sh, /opt/icount-site-HASH, one directory per checkout
   path so runs from two worktrees side by side never measure each other's build; not
   stripped, so --split can name
   functions), plus the dynamic qemu-aarch64 and its x86-64 libraries, and the counting
   plugin (tools/arm/icount.c) built for the host, under /opt/q.
3. For each (model, CPU model, runtime): this script runs in the chroot under the counting
   qemu twice, doing identical setup and then 1 and 1+N inferences (one thread); instructions
   per inference = (count(1+N) - count(1)) / N. /proc, /sys, /dev are NOT mounted for these
   runs (ONNX Runtime's aarch64 build segfaults at import under qemu-user when they are).

The table lists int8rt int8, ORT int8, ORT fp32, int8rt / ORT int8, instructions per MAC
(MACs of Conv / Gemm / MatMul nodes of the float model) and the kernel path int8rt picked.
--split adds, for int8rt, the instructions per inference per function of the C library
(int8rt/_native/_libint8rt*.so).
Needs root (chroot), the packages of tools/arm/chroot.sh, qemu-user (dynamic qemu-aarch64),
gcc-aarch64-linux-gnu, torch + onnx + onnxruntime on the host.
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
CACHE = Path(os.environ.get("INT8RT_ARM_CACHE", "/var/cache/int8rt-arm"))
WORK = CACHE / "icount"
BASE_ROOTFS = CACHE / "rootfs-arm64"  # tools/arm/chroot.sh's (cached)
ROOTFS = CACHE / "rootfs-arm64-icount"  # a copy: chroot.sh mounts /proc in its own, ORT can't
MODELS = ("mobilenet_v2", "resnet18", "yolov8n")
CPUS = ("cortex-a53", "cortex-a72", "cortex-a76")
RUNTIMES = ("int8rt", "ort-int8", "ort-fp32")
GUEST_PY = "/opt/ortvenv/bin/python3"
SITE = "/opt/icount-site"  # + "-" + a hash of the checkout's path (main sets it)
# block dumps on the host, per process: two runs side by side never read each other's
TMP_B1, TMP_BN, TMP_T1, TMP_TN = (f"/tmp/icount-{k}-{os.getpid()}.txt"
                                  for k in ("b1", "bn", "t1", "tn"))


# ---------------------------------------------------------------- guest side (in the chroot)

def guest(args: argparse.Namespace) -> None:
    """Setup, then args.runs inferences; prints the kernel path / module base as JSON."""
    import numpy as np

    d = Path(args.dir)
    x = np.load(d / f"{args.model}.input.npy")
    info: dict[str, object] = {}
    if args.runtime == "int8rt":
        import int8rt
        from int8rt import _native, session

        if args.fuse != "default":  # the A/B of fused conv / fc epilogues (--fuse on|off)
            session._FUSE_EPILOGUES = args.fuse == "on"
        sess = int8rt.Session(str(d / f"{args.model}.i8"), threads=args.threads)
        feed = {sess.get_inputs()[0].name: x}
        info["isa"] = _native.isa()
        # the kernels live in the package's C library, which every binding module links
        lib = next(Path(_native.__file__).parent.glob("_libint8rt*.so"))
        info["native"] = str(lib)
        info["base"] = _module_base(str(lib))
        run = lambda: sess.run(None, feed)
        if args.tasks:  # per call: kernel, tasks for threads, emulated ns of one thread
            plan = sess.plan_for((x.shape,))
            prof = plan.profile([x], repeats=1, threads=1)
            info["tasks"] = [(k, n, ns) for (_, k, ns), n in zip(prof, plan.call_tasks())]
    else:
        import onnxruntime as ort

        so = ort.SessionOptions()
        so.intra_op_num_threads = 1
        so.inter_op_num_threads = 1
        so.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
        name = f"{args.model}.qdq.onnx" if args.runtime == "ort-int8" else f"{args.model}.onnx"
        sess = ort.InferenceSession(str(d / name), so, providers=["CPUExecutionProvider"])
        feed = {sess.get_inputs()[0].name: x}
        info["isa"] = "ort " + ort.__version__
        run = lambda: sess.run(None, feed)
    for _ in range(args.runs):
        run()
    print("GUEST " + json.dumps(info), flush=True)


def _module_base(path: str) -> int:
    """Load address of an already loaded shared object (dladdr; no /proc in the chroot)."""
    import ctypes

    class DlInfo(ctypes.Structure):
        _fields_ = [("fname", ctypes.c_char_p), ("fbase", ctypes.c_void_p),
                    ("sname", ctypes.c_char_p), ("saddr", ctypes.c_void_p)]

    lib = ctypes.CDLL(path)
    sym = ctypes.cast(lib.i8_plan_run_arena, ctypes.c_void_p)  # any exported function
    info = DlInfo()
    libc = ctypes.CDLL(None)
    if not libc.dladdr(sym, ctypes.byref(info)):
        return 0
    return int(info.fbase or 0)


# ---------------------------------------------------------------- host side

def sh(cmd: list[str] | str, **kw: object) -> subprocess.CompletedProcess:
    return subprocess.run(cmd, check=True, shell=isinstance(cmd, str), **kw)  # type: ignore


def log(msg: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {msg}", file=sys.stderr, flush=True)


def model_available(name: str) -> bool:
    sys.path.insert(0, str(ROOT))
    from tests.models.torch_nets import MODELS as NETS

    return name in NETS


def make_models(names: list[str], out: Path) -> None:
    """Float ONNX, int8rt .i8 and ORT QDQ from the same calibration images; input; MACs."""
    sys.path.insert(0, str(ROOT))
    out.mkdir(parents=True, exist_ok=True)
    for name in names:
        if (out / f"{name}.done").exists():
            continue
        import numpy as np
        import onnx
        from onnxruntime.quantization import (
            CalibrationDataReader,
            QuantFormat,
            QuantType,
            quantize_static,
        )

        import int8rt
        from tests.models.fixtures import calib_and_eval_images, onnx_model_path

        log(f"models: {name}")
        src = onnx_model_path(name)
        shutil.copy(src, out / f"{name}.onnx")
        calib, evalx = calib_and_eval_images(name, n_calib=16, n_eval=1)
        int8rt.quantize(str(src), [calib], progress=False).save(out / f"{name}.i8")
        in_name = onnx.load(str(src)).graph.input[0].name

        class Reader(CalibrationDataReader):
            def __init__(self, feeds: list[dict]) -> None:
                self.it = iter(feeds)

            def get_next(self) -> dict | None:
                return next(self.it, None)

        feeds = [{in_name: calib[i:i + 1]} for i in range(len(calib))]
        quantize_static(str(src), str(out / f"{name}.qdq.onnx"), Reader(feeds),
                        quant_format=QuantFormat.QDQ, per_channel=True,
                        activation_type=QuantType.QInt8, weight_type=QuantType.QInt8)
        np.save(out / f"{name}.input.npy", np.ascontiguousarray(evalx[:1]))
        (out / f"{name}.macs").write_text(str(count_macs(out / f"{name}.onnx")))
        (out / f"{name}.done").write_text("ok")


def count_macs(path: Path) -> int:
    """Multiply-accumulates of the Conv / Gemm / MatMul nodes (shapes from ONNX inference)."""
    import numpy as np
    import onnx
    from onnx import numpy_helper, shape_inference

    m = shape_inference.infer_shapes(onnx.load(str(path)))
    shapes = {}
    for vi in list(m.graph.value_info) + list(m.graph.output) + list(m.graph.input):
        shapes[vi.name] = [d.dim_value for d in vi.type.tensor_type.shape.dim]
    inits = {t.name: numpy_helper.to_array(t).shape for t in m.graph.initializer}
    macs = 0
    for n in m.graph.node:
        if n.op_type == "Conv":
            w = inits.get(n.input[1])
            y = shapes.get(n.output[0])
            if w and y:
                macs += int(np.prod(y)) * int(np.prod(w[1:]))
        elif n.op_type in ("Gemm", "MatMul"):
            w = inits.get(n.input[1])
            y = shapes.get(n.output[0])
            if w and y:
                macs += int(np.prod(y)) * int(w[0] if n.op_type == "MatMul" else
                                              w[1] if any(a.name == "transB" and a.i
                                                          for a in n.attribute) else w[0])
    return macs


def prepare_rootfs(skip_int8rt: bool, src: Path = ROOT) -> None:
    if not (ROOTFS / ".int8rt-ready").exists():
        if not (BASE_ROOTFS / ".int8rt-ready").exists():
            log("no arm64 rootfs: building it (tools/arm/chroot.sh, ROOTFS_ONLY=1)")
            sh(["bash", str(ROOT / "tools/arm/chroot.sh"), "arm64"],
               env={**os.environ, "ROOTFS_ONLY": "1"})
        # from chroot.sh's tarball of the fresh rootfs (its directory may have /proc mounted)
        tgz = CACHE / "rootfs-arm64.tar.zst"
        log(f"unpacking {tgz} as {ROOTFS}")
        tmp = CACHE / "icount-unpack"
        shutil.rmtree(tmp, ignore_errors=True)
        shutil.rmtree(ROOTFS, ignore_errors=True)
        tmp.mkdir(parents=True)
        sh(["tar", "-C", str(tmp), "--zstd", "-xf", str(tgz)])
        (tmp / "rootfs-arm64").rename(ROOTFS)
        tmp.rmdir()
    q = ROOTFS / "opt/q"
    (q / "lib").mkdir(parents=True, exist_ok=True)
    # the dynamic qemu (plugin support), its x86-64 libraries and loader, the plugin
    qemu = shutil.which("qemu-aarch64")
    if not qemu:
        raise SystemExit("qemu-aarch64 (Debian package qemu-user) is needed: it loads plugins")
    # replaced by rename, never rewritten in place: another run may be executing these files
    # right now (rewriting a mapped library kills that qemu with SIGBUS)
    def put(src: str | Path, dst: Path) -> None:
        tmp = dst.with_name(f".{dst.name}.{os.getpid()}")
        shutil.copy(src, tmp)
        os.replace(tmp, dst)

    put(qemu, q / "qemu-aarch64")
    for line in sh(["ldd", qemu], capture_output=True, text=True).stdout.splitlines():
        parts = line.split()
        if "=>" in parts and len(parts) >= 3 and parts[2].startswith("/"):
            put(parts[2], q / "lib" / Path(parts[2]).name)
    put("/lib64/ld-linux-x86-64.so.2", q / "ld-linux-x86-64.so.2")
    # the plugin of this checkout, under a name of its own (SITE's hash)
    plugin = q / f"libicount-{SITE.rsplit('-', 1)[1]}.so"
    tmp = q / f".libicount.{os.getpid()}.so"
    sh(["gcc", "-O2", "-Wall", "-shared", "-fPIC", str(ROOT / "tools/arm/icount.c"), "-o",
        str(tmp)])
    os.replace(tmp, plugin)
    if not (ROOTFS / "opt/ortvenv/.ready").exists():
        log("ortvenv: numpy + onnxruntime aarch64 wheel (pip inside the chroot)")
        with mounted():
            chroot_pip("python3 -m venv /opt/ortvenv && /opt/ortvenv/bin/pip install -q "
                       "--no-cache-dir numpy onnxruntime")
        (ROOTFS / "opt/ortvenv/.ready").write_text("ok")
    if not skip_int8rt:
        log(f"int8rt: cross build of {src} into {SITE}")
        sh(["bash", str(ROOT / "tools/arm/cross_install.sh"), "arm64", str(src),
            SITE], env={**os.environ, "KEEP_SYMBOLS": "1", "ROOTFS": str(ROOTFS)})


class mounted:
    """/proc /sys /dev in the chroot for pip; never during counted runs."""

    def __enter__(self) -> None:
        for d, args in (("proc", ["-t", "proc", "proc"]), ("sys", ["-t", "sysfs", "sys"]),
                        ("dev", ["--bind", "/dev"])):
            (ROOTFS / d).mkdir(exist_ok=True)
            if not is_mount(ROOTFS / d):
                sh(["mount", *args, str(ROOTFS / d)])
        shutil.copy("/etc/resolv.conf", ROOTFS / "etc/resolv.conf")
        shutil.copy("/etc/ssl/certs/ca-certificates.crt", ROOTFS / "etc/ssl/host-ca-bundle.crt")

    def __exit__(self, *exc: object) -> None:
        for d in ("dev", "sys", "proc"):
            if is_mount(ROOTFS / d):
                subprocess.run(["umount", "-l", str(ROOTFS / d)], check=False)


def is_mount(d: Path) -> bool:
    return subprocess.run(["mountpoint", "-q", str(d)], check=False).returncode == 0


def chroot_pip(cmd: str) -> None:
    env = {"HOME": "/root", "LANG": "C.UTF-8", "PATH": "/usr/sbin:/usr/bin:/sbin:/bin",
           "QEMU_CPU": "cortex-a72", "PIP_CERT": "/etc/ssl/host-ca-bundle.crt",
           "PIP_DISABLE_PIP_VERSION_CHECK": "1", "PIP_DEFAULT_TIMEOUT": "180"}
    sh(["chroot", str(ROOTFS), "sh", "-c", cmd], env=env)


def counted(cpu: str, runtime: str, model: str, runs: int, blocks: str | None,
            threads: int = 1, per_thread: bool | None = None,
            tasks: bool = False, fuse: str = "default") -> tuple[int, dict]:
    """One counted guest run: (instructions, guest info); threads: int8rt's session threads;
    per_thread (default: threads > 1): counted per guest thread (info["per_thread"]; with
    blocks, per block and thread in the dump)."""
    if per_thread is None:
        per_thread = threads > 1
    for d in ("proc", "sys", "dev"):
        if is_mount(ROOTFS / d):
            raise SystemExit(f"{ROOTFS / d} is mounted: ONNX Runtime segfaults; umount it")
    out = f"/tmp/icount-{os.getpid()}.txt"  # per host process: runs may go side by side
    plug = (f"/opt/q/libicount-{SITE.rsplit('-', 1)[1]}.so,out={out}"
            + (",blocks=on" if blocks else "") + (",threads=on" if per_thread else ""))
    env = {"HOME": "/root", "LANG": "C.UTF-8", "PATH": "/usr/bin:/bin",
           "PYTHONDONTWRITEBYTECODE": "1", "OMP_NUM_THREADS": "1",
           "PYTHONPATH": SITE, "INT8RT_THREADS": "1"}
    cmd = [shutil.which("chroot") or "/usr/sbin/chroot", str(ROOTFS),
           "/opt/q/ld-linux-x86-64.so.2", "--library-path", "/opt/q/lib",
           "/opt/q/qemu-aarch64", "-cpu", cpu, "-plugin", plug, "-d", "plugin", GUEST_PY,
           SITE + "-arm_icount.py", "--guest", "--runtime", runtime, "--model", model, "--dir",
           "/opt/icount-models", "--runs", str(runs), "--threads", str(threads),
           "--fuse", fuse] + (
               ["--tasks"] if tasks else [])
    r = subprocess.run(cmd, check=False, env=env, capture_output=True, text=True)
    lines = [ln for ln in r.stdout.splitlines() if ln.startswith("GUEST ")]
    if r.returncode or not lines:
        raise RuntimeError(f"guest run failed ({r.returncode}): {' '.join(cmd)}\n"
                           f"{r.stdout[-2000:]}\n{r.stderr[-3000:]}")
    text = (ROOTFS / out.lstrip("/")).read_text()
    if blocks:
        shutil.copy(ROOTFS / out.lstrip("/"), blocks)
    info = json.loads(lines[-1][6:])
    info["per_thread"] = {int(f[1]): int(f[2]) for f in
                          (ln.split() for ln in text.splitlines()) if f[0] == "thread"}
    return int(text.split("\n", 1)[0].split()[1]), info


def _symbols(info: dict, nm: str = "aarch64-linux-gnu-nm",
             root: Path | None = None) -> tuple[list[int], list[str], int]:
    """Start offsets and names of the native module's functions, and its load address (the
    module read under `root`, default the arm64 rootfs, with the `nm` of its architecture)."""
    so = (ROOTFS if root is None else root) / info["native"].lstrip("/")
    nm = sh([nm, "--defined-only", "-n", str(so)], capture_output=True,
            text=True).stdout.split("\n")
    syms = []
    for ln in nm:
        f = ln.split()
        if len(f) == 3 and f[1] in "tTwW":
            syms.append((int(f[0], 16), f[2]))
    syms.sort()
    return [a for a, _ in syms], [n for _, n in syms], int(info["base"])


def _function_of(starts: list[int], names: list[str], base: int, addr: int) -> str:
    import bisect

    off = addr - base
    if off < 0 or not starts or off > starts[-1] + (1 << 20):
        return "(outside int8rt)"
    i = bisect.bisect_right(starts, off) - 1
    return names[i] if i >= 0 else "(outside int8rt)"


def split_per_function(b1: str, bn: str, runs: int, info: dict,
                       info_n: dict | None = None, nm: str = "aarch64-linux-gnu-nm",
                       root: Path | None = None) -> list[tuple[str, float]]:
    """Per-inference instructions per native-module function, from two block dumps (info,
    info_n: each run's guest info; the module's load address can differ between runs; nm /
    root: as _symbols)."""
    starts, names, _ = _symbols(info, nm, root)

    def per_fn(path: str, base: int) -> dict[str, int]:
        acc: dict[str, int] = {}
        for ln in Path(path).read_text().splitlines()[1:]:
            if not ln.startswith("blk "):
                continue
            _, a, _, c = ln.split()
            name = _function_of(starts, names, base, int(a, 16))
            acc[name] = acc.get(name, 0) + int(c)
        return acc

    a = per_fn(b1, int(info["base"]))
    b = per_fn(bn, int((info_n or info)["base"]))
    rows = [(k, (b.get(k, 0) - a.get(k, 0)) / runs) for k in set(a) | set(b)]
    return sorted(rows, key=lambda r: -r[1])


# the thread pool's own functions (csrc/threadpool.c): claiming tasks and spin-waiting, not work
POOL_FNS = {"worker_main", "i8_pool_run", "spin", "now_ns", "work", "i8_pool_acquire",
            "i8_pool_release", "pool_grow", "pool_new"}


def per_thread_work(path: str, info: dict,
                    per_fn: dict[str, int] | None = None) -> tuple[dict[int, int], dict[int, int]]:
    """From a threads=on,blocks=on dump: per guest thread, (instructions in the native module
    outside the pool's functions, all instructions); per_fn (if given) gets the instructions
    per function, all threads together."""
    starts, names, base = _symbols(info)
    work: dict[int, int] = {}
    total: dict[int, int] = {}
    for ln in Path(path).read_text().splitlines()[1:]:
        if not ln.startswith("blkt "):
            continue
        f = ln.split()
        name = _function_of(starts, names, base, int(f[1], 16))
        counted_as_work = name != "(outside int8rt)" and name not in POOL_FNS
        if per_fn is not None:
            per_fn[name] = per_fn.get(name, 0) + sum(int(c) for c in f[3:])
        for i, c in enumerate(f[3:]):
            if c != "0":
                total[i] = total.get(i, 0) + int(c)
                if counted_as_work:
                    work[i] = work.get(i, 0) + int(c)
    return work, total


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--guest", action="store_true", help=argparse.SUPPRESS)
    p.add_argument("--runtime", choices=RUNTIMES)
    p.add_argument("--model")
    p.add_argument("--dir")
    p.add_argument("--runs", type=int, default=3,
                   help="N: extra inferences of the second counted run (default 3)")
    p.add_argument("--models", nargs="+", default=list(MODELS))
    p.add_argument("--cpus", nargs="+", default=list(CPUS))
    p.add_argument("--runtimes", nargs="+", default=list(RUNTIMES), choices=RUNTIMES)
    p.add_argument("--split", action="store_true",
                   help="int8rt: per-function instructions per inference (top 25)")
    p.add_argument("--no-build", action="store_true",
                   help="reuse the int8rt already cross-built into the rootfs")
    p.add_argument("--json", type=Path, help="also write the rows as JSON here")
    p.add_argument("--src", type=Path, default=ROOT,
                   help="the int8rt checkout to cross-build (default: this one; e.g. another "
                        "branch's worktree for a before / after table; needs its generated "
                        "int8rt/_native/*.c)")
    p.add_argument("--tasks", action="store_true", help=argparse.SUPPRESS)
    p.add_argument("--fuse", choices=("default", "on", "off"), default="default",
                   help="int8rt: fused conv / fc epilogue post-ops (int8rt/session.py "
                        "_FUSE_EPILOGUES) forced on or off, for an A/B on one build")
    p.add_argument("--threads-only", action="store_true",
                   help="with --threads: only the split bound and the per-thread table")
    p.add_argument("--threads", type=int, default=1,
                   help="guest side: int8rt threads; host side: also measure the per-thread "
                        "balance of int8rt at 2..THREADS threads")
    args = p.parse_args(argv)
    if args.guest:
        guest(args)
        return 0
    if os.geteuid() != 0:
        raise SystemExit("needs root (chroot)")
    global SITE
    import hashlib

    SITE = "/opt/icount-site-" + hashlib.sha1(str(args.src.resolve()).encode()).hexdigest()[:8]
    models = [m for m in args.models if model_available(m)]
    for m in set(args.models) - set(models):
        log(f"model {m} is not in tests/models/torch_nets.py on this branch: skipped")
    make_models(models, WORK / "models")
    prepare_rootfs(args.no_build, args.src)
    dst = ROOTFS / "opt/icount-models"
    dst.mkdir(parents=True, exist_ok=True)
    for m in models:
        for suffix in (".onnx", ".qdq.onnx", ".i8", ".input.npy"):
            shutil.copy(WORK / "models" / f"{m}{suffix}", dst / f"{m}{suffix}")
    shutil.copy(Path(__file__), ROOTFS / (SITE.lstrip("/") + "-arm_icount.py"))  # this guest side
    rows = []
    for m in (models if not args.threads_only else []):
        macs = int((WORK / "models" / f"{m}.macs").read_text())
        for cpu in args.cpus:
            row: dict[str, object] = {"model": m, "cpu": cpu, "macs": macs}
            for rt in args.runtimes:
                t0 = time.time()
                split = args.split and rt == "int8rt"
                c1, info = counted(cpu, rt, m, 1, TMP_B1 if split else None, fuse=args.fuse)
                cn, info_n = counted(cpu, rt, m, 1 + args.runs, TMP_BN if split else None,
                                     fuse=args.fuse)
                row[rt] = (cn - c1) / args.runs
                if rt == "int8rt":
                    row["path"] = info["isa"]
                log(f"{m} {cpu} {rt}: {row[rt] / 1e6:.1f} M instructions per inference "
                    f"({time.time() - t0:.0f} s)")
                if split:
                    for name, n in split_per_function(TMP_B1, TMP_BN, args.runs, info,
                                                      info_n)[:25]:
                        print(f"    {n / 1e6:9.2f} M  {name}")
            rows.append(row)
    if rows:
        print_table(rows)
    if args.threads > 1:
        split_bound(models, args.cpus[0], args.threads)
        thread_balance(models, args.cpus[0], args.threads, args.runs)
    if args.json:
        args.json.write_text(json.dumps(rows, indent=1))
    return 0


def thread_balance(models: list[str], cpu: str, max_threads: int, runs: int) -> None:
    """int8rt at 1..max_threads threads: instructions per inference per guest thread, in the
    kernels (the native module without the pool's claim / spin-wait code) and in total."""
    print(f"\nint8rt threads on {cpu}: instructions per inference per guest thread (M), "
          "kernel work = the native module without the pool's functions; balance = busiest "
          "thread's work / mean work of the threads; total = every instruction of the thread, "
          "spin-waits included")
    print("| model | threads | kernel work per thread | sum of work | balance | total per thread |")
    print("|---|---|---|---|---|---|")
    growth: list[str] = []
    for m in models:
        fn1: dict[str, float] = {}
        for t in range(1, max_threads + 1):
            _, a = counted(cpu, "int8rt", m, 1, TMP_T1, t, per_thread=True)
            _, b = counted(cpu, "int8rt", m, 1 + runs, TMP_TN, t, per_thread=True)
            fa: dict[str, int] = {}
            fb: dict[str, int] = {}
            wa, ta = per_thread_work(TMP_T1, a, fa)
            wb, tb = per_thread_work(TMP_TN, b, fb)
            fn = {k: (fb.get(k, 0) - fa.get(k, 0)) / runs for k in set(fa) | set(fb)}
            if t == 1:
                fn1 = fn
            else:  # the functions whose summed work grows most with t threads
                up = sorted(((fn.get(k, 0) - fn1.get(k, 0), k) for k in set(fn) | set(fn1)),
                            reverse=True)[:5]
                growth.append(f"  {m}, {t} threads vs 1, work added: " + ", ".join(
                    f"{k} {d / 1e6:+.1f} M" for d, k in up))
            work = sorted(((wb.get(i, 0) - wa.get(i, 0)) / runs for i in wb), reverse=True)
            tot = sorted(((tb.get(i, 0) - ta.get(i, 0)) / runs for i in tb), reverse=True)
            busy = [x for x in work if x > 0.001 * work[0]][:t]
            bal = busy[0] / (sum(busy) / len(busy))
            print(f"| {m} | {t} | " + ", ".join(f"{x / 1e6:.1f}" for x in busy)
                  + f" | {sum(busy) / 1e6:.1f} | {bal:.2f} | "
                  + ", ".join(f"{x / 1e6:.1f}" for x in tot[:t]) + " |", flush=True)
    for line in growth:
        print(line)


def split_bound(models: list[str], cpu: str, max_threads: int) -> None:
    """The split rules against T cores: per call, its task count (plan/split.c, conv2d / fc
    splits) and its one-thread emulated time as the weight; an op of k equal tasks on T
    threads takes ceil(k / T) / k of its time at best, so the model's bound speedup is
    sum(t) / sum(t * ceil(k / T) / k). 'serial' = share of the time in calls of one task."""
    import math

    print(f"\nsplit rules on {cpu}: best speedup the task counts allow (equal tasks, "
          "perfect claiming), weights = one-thread emulated time per call")
    print("| model | calls | serial (1 task) | " +
          " | ".join(f"bound at {t} threads" for t in range(2, max_threads + 1)) +
          " | calls with < T tasks at T = " + str(max_threads) + " (their time share) |")
    print("|---|---|---|" + "---|" * (max_threads - 1) + "---|")
    worst: list[str] = []
    for m in models:
        _, info = counted(cpu, "int8rt", m, 1, None, 1, tasks=True)
        calls = info["tasks"]
        total = sum(ns for _, _, ns in calls)
        serial = sum(ns for _, k, ns in calls if k <= 1) / total
        bounds = []
        for t in range(2, max_threads + 1):
            bounds.append(total / sum(ns * math.ceil(k / t) / k for _, k, ns in calls))
        few = [(kern, k, ns) for kern, k, ns in calls if k < max_threads]
        share = sum(ns for _, _, ns in few) / total
        kinds: dict[str, int] = {}
        for kern, _, _ in few:
            kinds[kern] = kinds.get(kern, 0) + 1
        print(f"| {m} | {len(calls)} | {serial:.1%} | " +
              " | ".join(f"{b:.2f}x" for b in bounds) + f" | {len(few)} ({share:.1%}): " +
              ", ".join(f"{k} x{n}" for k, n in sorted(kinds.items())) + " |", flush=True)
        # where the T = max_threads bound loses against T x: time beyond t / T per call
        t = max_threads
        loss = sorted(((ns * (math.ceil(k / t) / k - 1 / t), kern, k, ns) for kern, k, ns in calls),
                      reverse=True)[:5]
        worst.append(f"  {m}, {t} threads, largest losses: " + "; ".join(
            f"{kern} ({k} tasks, {ns / total:.1%} of the time, loses {lo / total:.1%})"
            for lo, kern, k, ns in loss))
    for line in worst:
        print(line)


def print_table(rows: list[dict]) -> None:
    def m(v: object) -> str:
        return f"{v / 1e6:.0f} M" if isinstance(v, float) else "-"

    print("| model | CPU model | int8rt int8 | ORT int8 | ORT fp32 | int8rt / ORT int8 | "
          "int8rt / ORT fp32 | int8rt insns/MAC | int8rt path |")
    print("|---|---|---|---|---|---|---|---|---|")
    for r in rows:
        a, b, c = r.get("int8rt"), r.get("ort-int8"), r.get("ort-fp32")
        ratio = f"{a / b:.2f}x" if a and b else "-"
        ratio32 = f"{a / c:.2f}x" if a and c else "-"
        ipm = f"{a / r['macs']:.3f}" if a and r["macs"] else "-"
        print(f"| {r['model']} | {r['cpu']} | {m(a)} | {m(b)} | {m(c)} | {ratio} | {ratio32} | "
              f"{ipm} | {r.get('path', '-')} |")


if __name__ == "__main__":
    sys.exit(main())
