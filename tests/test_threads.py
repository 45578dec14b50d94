"""Threads (csrc/threadpool.c, the task splits of conv2d / fc / dwconv and of the plan's
element-wise ops, Session(threads=)): every thread count gives the single-thread output bit for
bit (and the numpy oracle), concurrent runs and Sessions stay correct, the pool survives
Session churn, fork and interpreter exit. No timing asserts: speed lives in
tools/thread_scaling.py."""

from __future__ import annotations

import multiprocessing
import os
import subprocess
import sys
import textwrap
import threading
import zlib
from pathlib import Path

import numpy as np
import pytest

import int8rt
from int8rt import _native
from int8rt.plan import NativePlan
from int8rt.program import Buffer, Call, Program
from int8rt.reference.conv import conv2d as ref_conv2d
from int8rt.reference.conv import fc as ref_fc
from int8rt.threads import physical_cores, resolve_threads

from .models.fixtures import calib_and_eval_images, onnx_model_path
from .test_plan import (
    F32,
    conv_consts,
    conv_params,
    rand_i8,
    ref_add,
    ref_avgpool,
    ref_dequantize,
    ref_maxpool,
    ref_quantize,
    ref_requant_copy_into,
    ref_softmax,
)

ROOT = Path(__file__).resolve().parents[1]
COUNTS = (2, 3, 5, 8)  # odd counts, and more threads than this 2-core machine has
CONV_KEYS = ("stride_h", "stride_w", "dil_h", "dil_w", "pad_t", "pad_l", "pad_b", "pad_r",
             "groups", "x_zp", "y_zp", "qmin", "qmax")


def single_call_plan(kernel, x_arrays, y_shape, y_dtype, params, consts=None) -> NativePlan:
    bufs = {f"x{i}": Buffer(f"x{i}", a.shape, str(a.dtype)) for i, a in enumerate(x_arrays)}
    bufs["y"] = Buffer("y", tuple(y_shape), y_dtype)
    call = Call(kernel, list(bufs)[:-1], ["y"], params, consts or {})
    return NativePlan(Program([call], bufs, list(bufs)[:-1], ["y"]))


def check_split(plan: NativePlan, inputs: list[np.ndarray], want: np.ndarray | None) -> int:
    """The call is split, and every thread count equals 1 thread (and the oracle)."""
    tasks = plan.call_tasks()[0]
    assert tasks > 1, "shape too small to exercise the split"
    one = plan.run(inputs, 1)[0]
    if want is not None:
        assert one.dtype == want.dtype and np.array_equal(one, want)
    for t in COUNTS:
        assert np.array_equal(plan.run(inputs, t)[0], one), f"{t} threads"
    return tasks


# ---- conv2d: im2col, 1x1, depthwise, grouped; tails and the float32 epilogue ---------------
CONVS = {
    # name: (n, h, w, c, oc, k, stride, pad, groups, out_f32)
    "im2col 3x3": (1, 28, 28, 32, 48, 3, 1, 1, 1, 0),
    "im2col 7x7 few pixels, channel blocks, oc tail": (1, 7, 7, 160, 100, 3, 1, 1, 1, 0),
    "im2col stride 2 batch 2": (2, 15, 17, 24, 40, 3, 2, 1, 1, 0),
    # few output channels, one im2col tile: row blocks smaller than the tile (conv2d.c
    # gemm_split_of), no channel blocks
    "im2col stem, rows inside a tile": (1, 56, 56, 3, 32, 3, 2, 1, 1, 0),
    "1x1 rows": (1, 40, 40, 32, 64, 1, 1, 0, 1, 0),
    "1x1 7x7 channel blocks": (1, 7, 7, 320, 1280, 1, 1, 0, 1, 0),
    "1x1 float32 epilogue": (1, 20, 20, 64, 72, 1, 1, 0, 1, 1),
    "grouped 3x3": (1, 20, 20, 32, 64, 3, 1, 1, 2, 0),
    "depthwise 3x3": (1, 56, 56, 32, 32, 3, 1, 1, 32, 0),
    "depthwise 3x3 stride 2 batch 3": (3, 29, 29, 48, 48, 3, 2, 1, 48, 0),
    "depthwise 5x5 float32": (1, 28, 28, 40, 40, 5, 1, 2, 40, 1),
}


@pytest.mark.parametrize("name", list(CONVS))
def test_conv2d_threads_equal_one_thread(name):
    n, h, w, c, oc, k, stride, pad, groups, out_f32 = CONVS[name]
    rng = np.random.default_rng(zlib.crc32(name.encode()))
    p = conv_params(n, h, w, c, oc, k, stride, pad, x_zp=-128, y_zp=5, qmin=-120, qmax=127,
                    groups=groups)
    consts = conv_consts(rng, oc, k, c // groups, 3e-4)
    x = rand_i8(rng, n, h, w, c)
    if out_f32:
        p["out_f32"] = 1
    want = ref_conv2d(x, **consts, out_f32=out_f32, **{key: p[key] for key in CONV_KEYS})
    shape = (n, p["oh"], p["ow"], oc)
    plan = single_call_plan("conv2d", [x], shape, "float32" if out_f32 else "int8", p, consts)
    check_split(plan, [x], want)


@pytest.mark.parametrize("m,k,n", [(1, 512, 1000), (1, 1280, 500), (96, 256, 64), (5, 700, 300)])
def test_fc_threads_equal_one_thread(m, k, n):
    rng = np.random.default_rng(m * 7 + n)
    x = rand_i8(rng, m, k)
    w = rng.integers(-127, 128, size=(n, k), dtype=np.int8)
    bias = rng.integers(-1000, 1000, size=n).astype(np.int32)
    mult = rng.uniform(1e-5, 1e-4, size=n).astype(F32)
    p = {"m": m, "k": k, "n": n, "x_zp": 3, "y_zp": -7, "qmin": -128, "qmax": 127}
    consts = {"w": w, "bias": bias, "mult": mult}
    want = ref_fc(x, w=w, bias=bias, mult=mult, x_zp=3, y_zp=-7)
    check_split(single_call_plan("fc", [x], (m, n), "int8", p, consts), [x], want)


# ---- the ops the plan splits itself --------------------------------------------------------
def test_add_broadcast_split():
    rng = np.random.default_rng(1)
    a, b = rand_i8(rng, 1, 37, 30, 40), rand_i8(rng, 1, 1, 30, 40)  # b broadcast on rows
    p = {"ndim": 3, "shape": [37, 30, 40], "a_stride": [1200, 40, 1], "b_stride": [0, 40, 1],
             "a_zp": -128, "b_zp": 127, "y_zp": 3, "a_mult": 3 << 10, "b_mult": -(5 << 10), "mult": 2.0 ** -12,
             "qmin": -128, "qmax": 127}
    want = ref_add(a, b, -128, 127, 3, 3 << 10, -(5 << 10), 2.0 ** -12, -128, 127)
    check_split(single_call_plan("add", [a, b], a.shape, "int8", p), [a, b], want)


def test_lut_quantize_dequantize_split():
    rng = np.random.default_rng(2)
    x = rand_i8(rng, 50_001)  # odd: the last task is short
    table = rand_i8(rng, 256)
    plan = single_call_plan("lut", [x], x.shape, "int8", {"n": x.size}, {"table": table})
    check_split(plan, [x], table[x.astype(np.int32) + 128])
    f = rng.normal(0, 3, size=(3, 20_011)).astype(F32)
    plan = single_call_plan("quantize", [f], f.shape, "int8", {"n": f.size, "scale": 0.02, "zp": -3})
    check_split(plan, [f], ref_quantize(f, 0.02, -3))
    plan = single_call_plan("dequantize", [x], x.shape, "float32", {"n": x.size, "scale": 0.1,
                                                                         "zp": 7})
    check_split(plan, [x], ref_dequantize(x, 0.1, 7))


@pytest.mark.parametrize("kind", ["maxpool", "avgpool"])
def test_pool_split(kind):
    rng = np.random.default_rng(3)
    x = rand_i8(rng, 2, 57, 43, 24)
    # ceil mode (the last window hangs over) and a top pad: row slices move pad_t
    oh, ow = 29, 22
    p = {"n": 2, "h": 57, "w": 43, "c": 24, "oh": oh, "ow": ow, "kh": 3, "kw": 3, "stride_h": 2, "stride_w": 2, "dil_h": 1,
             "dil_w": 1, "pad_t": 1, "pad_l": 1, "count_include_pad": 0, "x_zp": -5, "y_zp": 9, "qmin": -128,
             "qmax": 120}
    if kind == "maxpool":
        want = ref_maxpool(x, 3, 3, 2, 2, 1, 1, oh, ow, -128, 120)
        consts = None
    else:
        mbc = np.concatenate([[0.0], 0.9 / np.arange(1, 10)]).astype(F32)
        want = ref_avgpool(x, 3, 3, 2, 2, 1, 1, oh, ow, -5, 9, mbc, -128, 120)
        consts = {"mult_by_count": mbc}
    check_split(single_call_plan(kind, [x], (2, oh, ow, 24), "int8", p, consts), [x], want)


@pytest.mark.parametrize("rows", [300, 1])
def test_requant_copy_split(rows):
    rng = np.random.default_rng(4)
    cols = 200 if rows > 1 else 70_000
    x = rand_i8(rng, rows, cols)
    y_shape = (rows, 2 * cols) if rows > 1 else (1, cols + 5)
    p = {"rows": rows, "cols": cols, "x_stride": cols, "y_stride": y_shape[1], "x_offset": 0,
             "y_offset": y_shape[1] - cols, "x_zp": 7, "y_zp": -100, "mult": 0.625}
    plan = single_call_plan("requant_copy", [x], y_shape, "int8", p)
    # the output is only partly written (a Concat piece): compare the written range
    want = np.zeros(y_shape, np.int8)
    ref_requant_copy_into(want, x, **p)
    tasks = plan.call_tasks()[0]
    assert tasks > 1
    sl = np.s_[:, y_shape[1] - cols:]
    one = plan.run([x], 1)[0]
    assert np.array_equal(one[sl], want[sl])
    for t in COUNTS:
        assert np.array_equal(plan.run([x], t)[0][sl], one[sl])


def test_softmax_and_resize_split():
    rng = np.random.default_rng(5)
    x = rand_i8(rng, 400, 100)
    table = np.rint(2.0 ** 20 * np.exp(-0.1 * np.arange(256))).astype(np.int32)
    p = {"rows": 400, "cols": 100, "inv_y_scale": 256.0, "y_zp": -128}
    plan = single_call_plan("softmax", [x], x.shape, "int8", p, {"exp_table": table})
    check_split(plan, [x], ref_softmax(x, table, 256.0, -128))

    x = rand_i8(rng, 2, 20, 15, 16)
    oh, ow = 40, 30
    iy = (np.arange(oh) // 2).astype(np.int32)
    ix = (np.arange(ow) // 2).astype(np.int32)
    p = {"n": 2, "h": 20, "w": 15, "c": 16, "oh": oh, "ow": ow}
    plan = single_call_plan("resize_nearest", [x], (2, oh, ow, 16), "int8", p, {"iy": iy, "ix": ix})
    check_split(plan, [x], x[:, iy][:, :, ix])

    y0 = (np.arange(oh) // 2).astype(np.int32)
    y1 = np.minimum(y0 + 1, 19).astype(np.int32)
    fy = rng.integers(0, 2049, size=oh).astype(np.int32)
    x0 = (np.arange(ow) // 2).astype(np.int32)
    x1 = np.minimum(x0 + 1, 14).astype(np.int32)
    fx = rng.integers(0, 2049, size=ow).astype(np.int32)
    p = {"n": 2, "h": 20, "w": 15, "c": 16, "oh": oh, "ow": ow, "x_zp": -128, "y_zp": 127, "mult": 0.9 / 2 ** 22}
    consts = {"y0": y0, "y1": y1, "fy": fy, "x0": x0, "x1": x1, "fx": fx}
    plan = single_call_plan("resize_bilinear", [x], (2, oh, ow, 16), "int8", p, consts)
    check_split(plan, [x], None)  # the oracle of test_plan covers the kernel's arithmetic


def test_small_ops_are_not_split():
    rng = np.random.default_rng(6)
    x = rand_i8(rng, 1000)
    plan = single_call_plan("lut", [x], x.shape, "int8", {"n": 1000},
                            {"table": rand_i8(rng, 256)})
    assert plan.call_tasks() == [1]
    assert np.array_equal(plan.run([x], 4)[0], plan.run([x], 1)[0])


# ---- Sessions: whole models, concurrency, churn --------------------------------------------
@pytest.fixture(scope="module")
def digits():
    # the ONNX model lives in the source checkout (tools/data); the Pi chroots have neither
    pytest.importorskip("onnx")
    if not onnx_model_path("digits_cnn").exists():
        pytest.skip("needs the source checkout's digits model")
    calib, evals = calib_and_eval_images("digits_cnn", 8, 16)
    qm = int8rt.quantize(str(onnx_model_path("digits_cnn")), [calib], progress=False)
    return qm, evals


def test_session_threads_equal_one_thread(digits):
    qm, evals = digits
    one = int8rt.Session(qm, threads=1)
    name = one.get_inputs()[0].name
    want = one.run(None, {name: evals})[0]
    plan = one._plan_for((evals.shape,))
    assert max(plan.call_tasks()) > 1
    for t in (None, *COUNTS):
        sess = int8rt.Session(qm, threads=t)
        assert np.array_equal(sess.run(None, {name: evals})[0], want), t


def test_concurrent_python_threads_and_sessions(digits):
    """4 Python threads x 25 runs, on one 2-thread Session and on a second Session (3 threads)
    at once: a run that finds the pool busy runs on its own thread; mismatches must be 0."""
    qm, evals = digits
    ref = int8rt.Session(qm, threads=1)
    name = ref.get_inputs()[0].name
    xs = [evals[i:i + 4] for i in range(0, 16, 4)]
    want = [ref.run(None, {name: x})[0] for x in xs]
    shared = [int8rt.Session(qm, threads=2), int8rt.Session(qm, threads=3)]
    mismatches = []
    runs = []

    def worker(i: int) -> None:
        sess = shared[i % 2]
        for r in range(25):
            j = (i + r) % 4
            got = sess.run(None, {name: xs[j]})[0]
            runs.append(1)
            if not np.array_equal(got, want[j]):
                mismatches.append((i, r))

    ts = [threading.Thread(target=worker, args=(i,)) for i in range(4)]
    for t in ts:
        t.start()
    for t in ts:
        t.join(timeout=120)
    assert not any(t.is_alive() for t in ts)
    assert len(runs) == 100 and mismatches == []


def _pool_threads_alive() -> int:
    """Threads of this process that the worker pool started (csrc/threadpool.c names them).
    Counting every thread would also count ones other tests or libraries start or end."""
    names = []
    for tid in os.listdir("/proc/self/task"):
        try:
            names.append(Path(f"/proc/self/task/{tid}/comm").read_text().strip())
        except OSError:  # the thread ended between listdir and read
            pass
    return names.count("int8rt-worker")


def test_session_churn_does_not_leak_threads(digits):
    qm, evals = digits
    name = int8rt.Session(qm, threads=1).get_inputs()[0].name
    int8rt.Session(qm, threads=4).run(None, {name: evals})  # the pool exists with 3 workers
    before = _pool_threads_alive()
    assert before == _native.thread_pool_workers() >= 3
    for t in (2, 3, 4) * 10:
        sess = int8rt.Session(qm, threads=t)
        sess.run(None, {name: evals})
        del sess
    assert _pool_threads_alive() == before  # one pool for the process, not one per Session
    assert 3 <= _native.thread_pool_workers() < _native.MAX_THREADS


def test_shutdown_then_rebuild(digits):
    qm, evals = digits
    sess = int8rt.Session(qm, threads=2)
    name = sess.get_inputs()[0].name
    want = sess.run(None, {name: evals})[0]
    _native.thread_pool_shutdown()
    assert _native.thread_pool_workers() == 0
    _native.thread_pool_shutdown()  # twice is harmless
    assert np.array_equal(sess.run(None, {name: evals})[0], want)
    assert _native.thread_pool_workers() >= 1


def _child_run(qm, x, queue) -> None:
    sess = int8rt.Session(qm, threads=2)
    queue.put(sess.run(None, {sess.get_inputs()[0].name: x})[0])


def test_fork_child_runs_threaded(digits):
    qm, evals = digits
    sess = int8rt.Session(qm, threads=2)
    name = sess.get_inputs()[0].name
    want = sess.run(None, {name: evals})[0]  # the parent's pool is up and has run
    assert _native.thread_pool_workers() >= 1
    ctx = multiprocessing.get_context("fork")
    queue = ctx.Queue()
    child = ctx.Process(target=_child_run, args=(qm, evals, queue))
    child.start()
    got = queue.get(timeout=60)
    child.join(timeout=60)
    assert child.exitcode == 0
    assert np.array_equal(got, want)
    assert np.array_equal(sess.run(None, {name: evals})[0], want)  # the parent's pool still works


def test_interpreter_exit_does_not_hang():
    """Exit while the pool is up, a daemon thread is mid-run in a loop and the main thread has
    just run threaded: the process must end promptly with status 0."""
    code = textwrap.dedent("""
        import sys, threading
        sys.path.insert(0, {root!r})
        import numpy as np
        from tests.test_threads import single_call_plan
        from tests.test_plan import conv_params, conv_consts, rand_i8
        rng = np.random.default_rng(0)
        p = conv_params(1, 28, 28, 32, 32, 3, 1, 1, x_zp=0, y_zp=0)
        plan = single_call_plan("conv2d", [rand_i8(rng, 1, 28, 28, 32)], (1, 28, 28, 32),
                                "int8", p, conv_consts(rng, 32, 3, 32, 1e-4))
        x = [rand_i8(rng, 1, 28, 28, 32)]
        def loop():
            while True:
                plan.run(x, 2)
        threading.Thread(target=loop, daemon=True).start()
        for _ in range(20):
            plan.run(x, 2)
        print("done")
    """).format(root=str(ROOT))
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60,
                       check=False)
    assert r.returncode == 0, r.stderr
    assert r.stdout.strip() == "done"


# ---- the default thread count ----------------------------------------------------------------
def test_default_threads_is_physical_cores():
    cores = physical_cores()
    assert 1 <= cores <= len(os.sched_getaffinity(0))
    assert resolve_threads(None) == cores
    assert resolve_threads(3) == 3
    for bad in (0, -1, 1.5, True, "2"):
        with pytest.raises(ValueError):
            resolve_threads(bad)


# ---- the pool on its own: native, ThreadSanitizer, and ARM under qemu-user ---------------------
POOL_BUILDS = {
    "native": (["gcc"], [], None),
    "tsan": (["gcc"], ["-fsanitize=thread", "-g"], None),
    "aarch64": (["aarch64-linux-gnu-gcc"], ["-march=armv8-a"],
                ["qemu-aarch64-static", "-L", "/usr/aarch64-linux-gnu"]),
    "armv7": (["arm-linux-gnueabihf-gcc"],
              ["-march=armv7-a", "-mfpu=neon-vfpv4", "-mfloat-abi=hard"],
              ["qemu-arm-static", "-L", "/usr/arm-linux-gnueabihf"]),
}


@pytest.mark.parametrize("build", list(POOL_BUILDS))
def test_pool_stress_c(build, tmp_path):
    """tools/pool_check.c: 3 callers competing for the pool, every task run exactly once."""
    import shutil

    cc, flags, runner = POOL_BUILDS[build]
    if not (ROOT / "tools/pool_check.c").exists() or not (ROOT / "csrc/threadpool.c").exists():
        pytest.skip("needs the source checkout (tools/pool_check.c, csrc/threadpool.c)")
    if shutil.which(cc[0]) is None or (runner and shutil.which(runner[0]) is None):
        pytest.skip(f"{cc[0]} / {runner and runner[0]} not installed")
    exe = tmp_path / "pool_check"
    cmd = [*cc, "-std=c11", "-O2", "-Wall", "-Wextra", "-Werror", *flags,
           f"-I{ROOT / 'csrc/include'}", str(ROOT / "tools/pool_check.c"),
           str(ROOT / "csrc/threadpool.c"), "-pthread", "-o", str(exe)]
    built = subprocess.run(cmd, capture_output=True, text=True, timeout=120, check=False)
    if build == "tsan" and built.returncode != 0 and "tsan" in built.stderr:
        pytest.skip("libtsan not installed")
    assert built.returncode == 0, built.stderr
    r = subprocess.run([*(runner or []), str(exe)], capture_output=True, text=True, timeout=120,
                       check=False)
    assert r.returncode == 0, r.stdout + r.stderr
    assert r.stdout.startswith("ok ") and "WARNING: ThreadSanitizer" not in r.stderr
