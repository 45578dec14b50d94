"""The native plan (int8rt/plan.py, csrc/plan/plan.c): the liveness allocator, whole programs
against numpy oracles (tolerance zero), concurrency, GIL release and error paths.

The oracles here are written from the kernel formulas in kernels.h (conv2d and fc use the
reference in int8rt/reference/conv.py); they check that the plan wires buffers, offsets, params
and consts to the right kernel arguments, not the kernels' arithmetic in depth (the kernel
owners' tests do that)."""

from __future__ import annotations

import threading
import time

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from int8rt.plan import ALIGN, Interval, NativePlan, assign_offsets, liveness
from int8rt.program import Buffer, Call, Program
from int8rt.reference.conv import conv2d as ref_conv2d
from int8rt.reference.conv import fc as ref_fc
from int8rt.reference.requant import requantize

F32 = np.float32


# ---- numpy oracles, from the formulas in csrc/include/int8rt/kernels.h ----------------------
def ref_quantize(x: np.ndarray, scale: float, zp: int) -> np.ndarray:
    q = np.rint(x.astype(F32) / F32(scale)).astype(np.float64) + zp
    return np.clip(q, -128, 127).astype(np.int8)


def ref_dequantize(x: np.ndarray, scale: float, zp: int) -> np.ndarray:
    return (x.astype(np.int32) - zp).astype(F32) * F32(scale)


def ref_add(a, b, a_zp, b_zp, y_zp, a_mult, b_mult, mult, qmin, qmax):
    acc = (a.astype(np.int64) - a_zp) * a_mult + (b.astype(np.int64) - b_zp) * b_mult
    return requantize(acc, F32(mult), y_zp, qmin, qmax)


def ref_mul(a, b, a_zp, b_zp, y_zp, mult, qmin, qmax):
    acc = (a.astype(np.int64) - a_zp) * (b.astype(np.int64) - b_zp)
    return requantize(acc, F32(mult), y_zp, qmin, qmax)


def ref_maxpool(x, kh, kw, sh, sw, pt, pl, oh, ow, qmin, qmax):
    n, h, w, c = x.shape
    y = np.empty((n, oh, ow, c), np.int8)
    for oy in range(oh):
        for ox in range(ow):
            y0, x0 = oy * sh - pt, ox * sw - pl
            win = x[:, max(y0, 0):min(y0 + kh, h), max(x0, 0):min(x0 + kw, w), :]
            y[:, oy, ox, :] = np.clip(win.max(axis=(1, 2)), qmin, qmax)
    return y


def ref_avgpool(x, kh, kw, sh, sw, pt, pl, oh, ow, x_zp, y_zp, mbc, qmin, qmax):
    n, h, w, c = x.shape
    y = np.empty((n, oh, ow, c), np.int8)
    for oy in range(oh):
        for ox in range(ow):
            y0, x0 = oy * sh - pt, ox * sw - pl
            win = x[:, max(y0, 0):min(y0 + kh, h), max(x0, 0):min(x0 + kw, w), :]
            acc = (win.astype(np.int64) - x_zp).sum(axis=(1, 2))
            y[:, oy, ox, :] = requantize(acc, mbc[win.shape[1] * win.shape[2]], y_zp, qmin, qmax)
    return y


def ref_requant_copy_into(y, x, rows, cols, x_stride, y_stride, x_offset, y_offset, x_zp, y_zp,
                          mult):
    xf, yf = x.reshape(-1), y.reshape(-1)
    for r in range(rows):
        src = xf[x_offset + r * x_stride: x_offset + r * x_stride + cols]
        yf[y_offset + r * y_stride: y_offset + r * y_stride + cols] = requantize(
            src.astype(np.int64) - x_zp, F32(mult), y_zp)


def ref_softmax(x, exp_table, inv_y_scale, y_zp):
    m = x.max(axis=-1, keepdims=True).astype(np.int64)
    e = exp_table[m - x]
    s = e.astype(np.int64).sum(axis=-1, keepdims=True).astype(F32)
    v = (e.astype(F32) / s) * F32(inv_y_scale)
    v = np.clip(v, F32(-128 - y_zp), F32(127 - y_zp))
    return (np.rint(v).astype(np.int32) + y_zp).astype(np.int8)


def ref_bilinear(x, y0, y1, fy, x0, x1, fx, x_zp, y_zp, mult):
    xs = x.astype(np.int64) - x_zp
    wy1, wx1 = fy[:, None, None], fx[None, :, None]
    acc = ((2048 - wy1) * (2048 - wx1) * xs[:, y0][:, :, x0] + (2048 - wy1) * wx1 *
           xs[:, y0][:, :, x1] + wy1 * (2048 - wx1) * xs[:, y1][:, :, x0] +
           wy1 * wx1 * xs[:, y1][:, :, x1])
    return requantize(acc, F32(mult), y_zp)


# ---- helpers -------------------------------------------------------------------------------
def rand_i8(rng: np.random.Generator, *shape: int) -> np.ndarray:
    """Random int8 with the extremes -128 and 127 always present."""
    a = rng.integers(-128, 128, size=shape, dtype=np.int8)
    flat = a.reshape(-1)
    flat[0], flat[-1] = -128, 127
    return a


def conv_params(n, h, w, c, oc, k, stride, pad, x_zp, y_zp, qmin=-128, qmax=127, groups=1):
    oh = (h + 2 * pad - k) // stride + 1
    ow = (w + 2 * pad - k) // stride + 1
    return {"n": n, "h": h, "w": w, "c": c, "oh": oh, "ow": ow, "oc": oc, "kh": k, "kw": k, "stride_h": stride,
                "stride_w": stride, "dil_h": 1, "dil_w": 1, "pad_t": pad, "pad_l": pad, "pad_b": pad, "pad_r": pad,
                "groups": groups, "x_zp": x_zp, "y_zp": y_zp, "qmin": qmin, "qmax": qmax}


def conv_consts(rng, oc, k, cg, mult):
    w = rng.integers(-127, 128, size=(oc, k, k, cg), dtype=np.int8)
    w.reshape(-1)[:2] = (-127, 127)
    bias = rng.integers(-5000, 5000, size=oc).astype(np.int32)
    return {"w": w, "bias": bias, "mult": np.full(oc, mult, F32)}


def ref_conv(x, p, consts):
    keys = ("stride_h", "stride_w", "dil_h", "dil_w", "pad_t", "pad_l", "pad_b", "pad_r",
            "groups", "x_zp", "y_zp", "qmin", "qmax")
    return ref_conv2d(x, **consts, **{k: p[k] for k in keys})


# ---- the allocator (pure Python) -----------------------------------------------------------
def check_no_overlap(offsets, sizes, lives):
    names = list(offsets)
    for i, a in enumerate(names):
        assert offsets[a] % ALIGN == 0
        for b in names[i + 1:]:
            if lives[a].overlaps(lives[b]) and sizes[a] and sizes[b]:
                assert (offsets[a] + sizes[a] <= offsets[b] or
                        offsets[b] + sizes[b] <= offsets[a]), (a, b)


def test_chain_reuses_two_slots():
    calls = [Call("lut", [f"b{i}"], [f"b{i + 1}"]) for i in range(10)]
    names = {f"b{i}" for i in range(11)}
    lives = liveness(calls, names)
    sizes = {n: 1000 for n in names}
    offsets, arena = assign_offsets(sizes, lives)
    check_no_overlap(offsets, sizes, lives)
    assert arena == _align(1000) + 1000  # ping-pong between two slots
    assert arena < sum(sizes.values())


def _align(n: int) -> int:
    return (n + ALIGN - 1) // ALIGN * ALIGN


def test_concat_target_live_from_first_write():
    # cat is written at 0 and 2; t is produced at 1 and read at 2: they must not share memory
    calls = [Call("requant_copy", ["a"], ["cat"]), Call("lut", ["a"], ["t"]),
             Call("requant_copy", ["t"], ["cat"]), Call("lut", ["cat"], ["out"])]
    lives = liveness(calls, {"a", "t", "cat", "out"})
    assert lives["cat"] == Interval(0, 3)
    sizes = {"a": 64, "t": 64, "cat": 128, "out": 128}
    offsets, _ = assign_offsets(sizes, lives)
    check_no_overlap(offsets, sizes, lives)


@settings(max_examples=60, deadline=None)
@given(st.lists(st.tuples(st.lists(st.integers(0, 14), min_size=1, max_size=2),
                          st.integers(0, 14)), min_size=1, max_size=25),
       st.lists(st.integers(0, 5000), min_size=15, max_size=15))
def test_allocator_random_programs(edges, sizes_list):
    calls = [Call("add", [f"b{i}" for i in ins], [f"b{o}"]) for ins, o in edges]
    names = {n for c in calls for n in (*c.inputs, *c.outputs)}
    lives = liveness(calls, names)
    sizes = {n: sizes_list[int(n[1:])] for n in names}
    offsets, arena = assign_offsets(sizes, lives)
    check_no_overlap(offsets, sizes, lives)
    assert arena <= sum(_align(s) for s in sizes.values())
    assert all(offsets[n] + sizes[n] <= arena for n in names)


# ---- a whole program -----------------------------------------------------------------------
def make_program(rng: np.random.Generator, in_zp: int = -128):
    """quantize -> transpose -> conv2d (3x3) | conv2d (1x1) -> add -> maxpool (ceil) ->
    requant_copy x2 (concat on channels) -> lut -> dequantize; outputs: the float result and
    the maxpool buffer (a model output that later calls also read)."""
    n, c, h, w, oc = 2, 3, 9, 9, 8
    s_in = 0.05
    B = Buffer
    bufs = {b.name: b for b in [
        B("x", (n, c, h, w), "float32"), B("q", (n, c, h, w), "int8"),
        B("t", (n, h, w, c), "int8"), B("c1", (n, h, w, oc), "int8"),
        B("c2", (n, h, w, oc), "int8"), B("s", (n, h, w, oc), "int8"),
        B("m", (n, 5, 5, oc), "int8"), B("cat", (n, 5, 5, 2 * oc), "int8"),
        B("l", (n, 5, 5, 2 * oc), "int8"), B("out", (n, 5, 5, 2 * oc), "float32")]}
    p1 = conv_params(n, h, w, c, oc, 3, 1, 1, x_zp=in_zp, y_zp=127)
    k1 = conv_consts(rng, oc, 3, c, 0.0005)
    p2 = conv_params(n, h, w, c, oc, 1, 1, 0, x_zp=in_zp, y_zp=-3, qmin=-100, qmax=100)
    k2 = conv_consts(rng, oc, 1, c, 0.002)
    add = {"ndim": 1, "shape": [n * h * w * oc], "a_stride": [1], "b_stride": [1], "a_zp": 127, "b_zp": -3,
               "y_zp": 5, "a_mult": 3 << 10, "b_mult": -(5 << 10), "mult": 2.0 ** -12, "qmin": -128, "qmax": 127}
    pool = {"n": n, "h": h, "w": w, "c": oc, "oh": 5, "ow": 5, "kh": 2, "kw": 2, "stride_h": 2, "stride_w": 2, "dil_h": 1,
                "dil_w": 1, "pad_t": 0, "pad_l": 0, "count_include_pad": 0, "x_zp": 5, "y_zp": 5, "qmin": -128,
                "qmax": 120}
    rc1 = {"rows": n * 25, "cols": oc, "x_stride": oc, "y_stride": 2 * oc, "x_offset": 0, "y_offset": 0,
               "x_zp": 5, "y_zp": -128, "mult": 0.75}
    rc2 = dict(rc1, y_offset=oc, x_zp=5, mult=-1.5)
    table = rand_i8(rng, 256)
    calls = [
        Call("quantize", ["x"], ["q"], {"n": n * c * h * w, "scale": s_in, "zp": in_zp}, node="q"),
        Call("transpose", ["q"], ["t"], {"shape": [n, c, h, w], "perm": [0, 2, 3, 1]}, node="tr"),
        Call("conv2d", ["t"], ["c1"], p1, k1, node="conv3"),
        Call("conv2d", ["t"], ["c2"], p2, k2, node="conv1"),
        Call("add", ["c1", "c2"], ["s"], add, node="add"),
        Call("maxpool", ["s"], ["m"], pool, node="pool"),
        Call("requant_copy", ["m"], ["cat"], rc1, node="cat"),
        Call("requant_copy", ["m"], ["cat"], rc2, node="cat"),
        Call("lut", ["cat"], ["l"], {"n": n * 25 * 2 * oc}, {"table": table}, node="act"),
        Call("dequantize", ["l"], ["out"], {"n": n * 25 * 2 * oc, "scale": 0.1, "zp": -128},
             node="dq"),
    ]
    prog = Program(calls, bufs, ["x"], ["out", "m"])

    def oracle(x: np.ndarray) -> list[np.ndarray]:
        q = ref_quantize(x, s_in, in_zp)
        t = np.ascontiguousarray(q.transpose(0, 2, 3, 1))
        c1, c2 = ref_conv(t, p1, k1), ref_conv(t, p2, k2)
        a = {k: add[k] for k in ("a_zp", "b_zp", "y_zp", "a_mult", "b_mult", "mult", "qmin",
                                 "qmax")}
        s = ref_add(c1, c2, **a)
        m = ref_maxpool(s, 2, 2, 2, 2, 0, 0, 5, 5, -128, 120)
        cat = np.zeros((n, 5, 5, 2 * oc), np.int8)
        for rc in (rc1, rc2):
            ref_requant_copy_into(cat, m, **rc)
        lut = table[cat.astype(np.int32) + 128]
        return [ref_dequantize(lut, 0.1, -128), m]

    return prog, oracle


def model_input(rng, shape=(2, 3, 9, 9)) -> np.ndarray:
    x = rng.normal(0, 4, size=shape).astype(F32)
    x.reshape(-1)[:2] = (1e6, -1e6)  # saturate both ends of the quantizer
    return x


@pytest.mark.parametrize("in_zp", [-128, 0, 127])
def test_program_matches_oracle(in_zp):
    rng = np.random.default_rng(in_zp + 1000)
    prog, oracle = make_program(rng, in_zp)
    plan = NativePlan(prog)
    for _ in range(3):
        x = model_input(rng)
        got, want = plan.run([x]), oracle(x)
        assert len(got) == 2
        for g, w in zip(got, want):
            assert g.dtype == w.dtype and g.shape == w.shape
            assert np.array_equal(g, w)


def test_arena_reuse_and_report():
    plan = NativePlan(make_program(np.random.default_rng(0))[0])
    # q, t, c1, c2, s, cat, l: several are dead before the later ones are born
    assert plan.arena_bytes < plan.buffer_bytes
    assert set(plan.offsets) == {"q", "t", "c1", "c2", "s", "cat", "l"}
    sizes = {n: plan.program.buffers[n].nbytes for n in plan.offsets}
    check_no_overlap(plan.offsets, sizes, plan.lifetimes)
    assert plan.arena_total >= plan.arena_bytes + plan.scratch_bytes
    assert "saved by reuse" in plan.memory_report()


def test_concurrent_runs_identical():
    rng = np.random.default_rng(7)
    prog, oracle = make_program(rng)
    plan = NativePlan(prog)
    xs = [model_input(rng) for _ in range(4)]
    want = [oracle(x) for x in xs]
    results: dict[int, list] = {}

    def worker(i: int) -> None:
        results[i] = [plan.run([xs[i]]) for _ in range(20)]

    threads = [threading.Thread(target=worker, args=(i,)) for i in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    for i in range(4):
        for got in results[i]:
            assert all(np.array_equal(g, w) for g, w in zip(got, want[i]))


def conv_chain(rng, n_convs: int) -> NativePlan:
    n, h, w, c = 1, 64, 64, 64
    p = conv_params(n, h, w, c, c, 3, 1, 1, x_zp=0, y_zp=0)
    k = conv_consts(rng, c, 3, c, 1e-4)
    names = ["x"] + [f"a{i}" for i in range(n_convs)]
    bufs = {m: Buffer(m, (n, h, w, c), "int8") for m in names}
    calls = [Call("conv2d", [a], [b], p, k) for a, b in zip(names, names[1:])]
    return NativePlan(Program(calls, bufs, ["x"], [names[-1]]))


def test_gil_released_during_run():
    # one native call long enough (~0.5 s) that a Python thread must run during it; the
    # length adapts to the machine's speed
    rng = np.random.default_rng(3)
    x = rand_i8(rng, 1, 64, 64, 64)
    t0 = time.perf_counter()
    conv_chain(rng, 1).run([x])
    one = time.perf_counter() - t0
    plan = conv_chain(rng, max(1, min(200, int(0.5 / max(one, 1e-4)))))

    counter = [0]
    stop = threading.Event()

    def spin() -> None:
        while not stop.is_set():
            counter[0] += 1

    th = threading.Thread(target=spin)
    th.start()
    try:
        # the spinner's rate when it has the interpreter to itself
        c0, t0 = counter[0], time.perf_counter()
        time.sleep(0.1)
        rate = (counter[0] - c0) / (time.perf_counter() - t0)
        # one long native call: holding the GIL would stop the spinner for all of it
        c0, t0 = counter[0], time.perf_counter()
        plan.run([x])
        elapsed = time.perf_counter() - t0
        during = counter[0] - c0
    finally:
        stop.set()
        th.join()
    assert elapsed > 0.05, "the run is too short to tell"
    # holding the GIL leaves the spinner a few switch intervals (5 ms each) of the run: < 0.1
    assert during > 0.25 * rate * elapsed, (during, rate, elapsed)


def test_profile():
    rng = np.random.default_rng(1)
    prog, _ = make_program(rng)
    plan = NativePlan(prog)
    prof = plan.profile([model_input(rng)], repeats=3)
    assert [(n, k) for n, k, _ in prof] == [(c.node, c.kernel) for c in prog.calls]
    assert all(ns >= 0 for _, _, ns in prof)
    conv = next(ns for node, _, ns in prof if node == "conv3")
    lut = next(ns for node, _, ns in prof if node == "act")
    assert conv > lut  # a 3x3 conv over 2x9x9x3 costs more than 800 table lookups


# ---- every other kernel, wired through the plan --------------------------------------------
def run_single(kernel, x_arrays, y_shape, y_dtype, params, consts=None):
    bufs = {f"x{i}": Buffer(f"x{i}", a.shape, str(a.dtype)) for i, a in enumerate(x_arrays)}
    bufs["y"] = Buffer("y", tuple(y_shape), y_dtype)
    call = Call(kernel, list(bufs)[:-1], ["y"], params, consts or {})
    return NativePlan(Program([call], bufs, list(bufs)[:-1], ["y"])).run(list(x_arrays))[0]


def test_fc_and_mul_and_gap():
    rng = np.random.default_rng(11)
    m, k, n = 3, 300, 17
    x = rand_i8(rng, m, k)
    w = rng.integers(-127, 128, size=(n, k), dtype=np.int8)
    bias = rng.integers(-1000, 1000, size=n).astype(np.int32)
    mult = rng.uniform(1e-4, 1e-3, size=n).astype(F32)
    p = {"m": m, "k": k, "n": n, "x_zp": -128, "y_zp": 127, "qmin": -128, "qmax": 127}
    got = run_single("fc", [x], (m, n), "int8", p, {"w": w, "bias": bias, "mult": mult})
    assert np.array_equal(got, ref_fc(x, w=w, bias=bias, mult=mult, x_zp=-128, y_zp=127))

    a, b = rand_i8(rng, 2, 5, 4), rand_i8(rng, 1, 1, 4)  # b broadcast over rows
    p = {"ndim": 2, "shape": [10, 4], "a_stride": [4, 1], "b_stride": [0, 1], "a_zp": -128, "b_zp": 127,
             "y_zp": 3, "mult": 0.01, "qmin": -128, "qmax": 127}
    got = run_single("mul", [a, b], (2, 5, 4), "int8", p)
    assert np.array_equal(got, ref_mul(a, b, -128, 127, 3, 0.01, -128, 127))

    x = rand_i8(rng, 2, 7, 5)
    p = {"n": 2, "hw": 7, "c": 5, "x_zp": 127, "y_zp": -128, "mult": 0.02, "qmin": -100, "qmax": 127}
    got = run_single("global_avgpool", [x], (2, 5), "int8", p)
    acc = (x.astype(np.int64) - 127).sum(axis=1)
    assert np.array_equal(got, requantize(acc, F32(0.02), -128, -100, 127))


def test_avgpool_softmax_bilinear():
    rng = np.random.default_rng(12)
    x = rand_i8(rng, 1, 7, 6, 5)
    mbc = (1.0 / np.arange(1, 11, dtype=np.float64)).astype(F32)
    mbc = np.concatenate([[F32(0)], mbc[:9]]).astype(F32)  # [kh*kw + 1]
    p = {"n": 1, "h": 7, "w": 6, "c": 5, "oh": 4, "ow": 3, "kh": 3, "kw": 3, "stride_h": 2, "stride_w": 2, "dil_h": 1,
             "dil_w": 1, "pad_t": 1, "pad_l": 0, "count_include_pad": 0, "x_zp": -128, "y_zp": 0, "qmin": -128,
             "qmax": 127}
    got = run_single("avgpool", [x], (1, 4, 3, 5), "int8", p, {"mult_by_count": mbc})
    want = ref_avgpool(x, 3, 3, 2, 2, 1, 0, 4, 3, -128, 0, mbc, -128, 127)
    assert np.array_equal(got, want)

    x = rand_i8(rng, 6, 10)
    table = np.rint(2.0 ** 20 * np.exp(-0.1 * np.arange(256))).astype(np.int32)
    p = {"rows": 6, "cols": 10, "inv_y_scale": 256.0, "y_zp": -128}
    got = run_single("softmax", [x], (6, 10), "int8", p, {"exp_table": table})
    assert np.array_equal(got, ref_softmax(x, table, 256.0, -128))

    x = rand_i8(rng, 1, 4, 5, 3)
    oh, ow = 7, 9
    y0 = np.array([0, 0, 1, 1, 2, 2, 3], np.int32)
    y1 = np.minimum(y0 + 1, 3).astype(np.int32)
    fy = rng.integers(0, 2049, size=oh).astype(np.int32)
    x0 = (np.arange(ow) * 4 // 9).astype(np.int32)
    x1 = np.minimum(x0 + 1, 4).astype(np.int32)
    fx = rng.integers(0, 2049, size=ow).astype(np.int32)
    fx[0], fx[1] = 0, 2048
    mult = 0.9 / 2 ** 22
    p = {"n": 1, "h": 4, "w": 5, "c": 3, "oh": oh, "ow": ow, "x_zp": -128, "y_zp": 127, "mult": mult}
    got = run_single("resize_bilinear", [x], (1, oh, ow, 3), "int8", p,
                     {"y0": y0, "y1": y1, "fy": fy, "x0": x0, "x1": x1, "fx": fx})
    assert np.array_equal(got, ref_bilinear(x, y0, y1, fy, x0, x1, fx, -128, 127, F32(mult)))


@pytest.mark.parametrize("dtype", ["int8", "float32"])
def test_movement_kernels(dtype):
    rng = np.random.default_rng(13)
    x = rng.integers(-128, 128, size=(2, 3, 4, 5)).astype(dtype)
    iy, ix = np.array([0, 0, 2, 1, 2], np.int32), np.array([3, 1, 0], np.int32)
    got = run_single("resize_nearest", [x], (2, 5, 3, 5), dtype,
                     {"n": 2, "h": 3, "w": 4, "c": 5, "oh": 5, "ow": 3}, {"iy": iy, "ix": ix})
    assert np.array_equal(got, x[:, iy][:, :, ix])

    p = {"in_shape": [2, 3, 4, 5], "start": [1, 0, 3, 0], "step": [1, 2, -2, 2],
             "out_shape": [1, 2, 2, 3]}
    got = run_single("slice", [x], (1, 2, 2, 3), dtype, p)
    assert np.array_equal(got, x[1:2, 0::2, 3::-2, 0::2])

    for mode, np_mode in ((0, "constant"), (1, "reflect"), (2, "edge")):
        pads = ([0, 1, 2, 0], [1, 0, 3, -2])
        out_shape = tuple(s + a + b for s, a, b in zip(x.shape, *pads))
        consts = {"value": np.array([-7], dtype)} if mode == 0 else {}
        p = {"in_shape": list(x.shape), "pad_before": pads[0], "pad_after": pads[1], "mode": mode}
        got = run_single("pad", [x], out_shape, dtype, p, consts)
        kw = {"constant_values": -7} if mode == 0 else {}
        want = np.pad(x[..., :3], list(zip(pads[0], [1, 0, 3, 0])), mode=np_mode, **kw)
        assert np.array_equal(got, want), mode

    got = run_single("copy", [x], x.shape, dtype, {"nbytes": x.nbytes})
    assert np.array_equal(got, x)


def test_passthrough_and_duplicate_outputs():
    rng = np.random.default_rng(14)
    table = rand_i8(rng, 256)
    bufs = {"x": Buffer("x", (10,), "int8"), "y": Buffer("y", (10,), "int8")}
    prog = Program([Call("lut", ["x"], ["y"], {"n": 10}, {"table": table})], bufs, ["x"],
                   ["y", "x", "y"])
    x = rand_i8(rng, 10)
    y, xx, y2 = NativePlan(prog).run([x])
    assert np.array_equal(y, table[x.astype(np.int32) + 128])
    assert np.array_equal(xx, x) and np.array_equal(y2, y)


# ---- errors --------------------------------------------------------------------------------
def test_run_rejects_wrong_inputs():
    prog, _ = make_program(np.random.default_rng(0))
    plan = NativePlan(prog)
    x = model_input(np.random.default_rng(0))
    with pytest.raises(ValueError, match="expected 1 inputs"):
        plan.run([])
    with pytest.raises(ValueError, match="float32"):
        plan.run([x.astype(np.float64)])
    with pytest.raises(ValueError, match="float32"):
        plan.run([x.reshape(2, 3, 81)])  # same bytes, wrong shape
    plan.run([np.asfortranarray(x)])  # non-contiguous input: copied, accepted


def test_native_run_checks_arrays():
    prog, _ = make_program(np.random.default_rng(0))
    native = NativePlan(prog)._native
    x = model_input(np.random.default_rng(0))
    outs = [np.empty((2, 5, 5, 16), F32), np.empty((2, 5, 5, 8), np.int8)]
    with pytest.raises(ValueError, match="C-contiguous"):
        native.run([np.asfortranarray(x)], outs)
    with pytest.raises(ValueError, match="bytes"):
        native.run([x[:1]], outs)
    ro = np.empty((2, 5, 5, 8), np.int8)
    ro.flags.writeable = False
    with pytest.raises(ValueError, match="writeable"):
        native.run([x], outs[:1] + [ro])
    native.run([x], outs)


def lut_program(n_param: int, buf_len: int = 10) -> Program:
    bufs = {"x": Buffer("x", (buf_len,), "int8"), "y": Buffer("y", (buf_len,), "int8")}
    call = Call("lut", ["x"], ["y"], {"n": n_param}, {"table": np.zeros(256, np.int8)})
    return Program([call], bufs, ["x"], ["y"])


def test_build_errors():
    with pytest.raises(ValueError, match="kernel needs 11 bytes, buffer has 10"):
        NativePlan(lut_program(11))
    with pytest.raises(ValueError, match="n must be >= 0"):
        NativePlan(lut_program(-1))
    bufs = {"x": Buffer("x", (10,), "int8"), "y": Buffer("y", (10,), "int8"),
            "t": Buffer("t", (10,), "int8")}
    lut = {"n": 10}
    tab = {"table": np.zeros(256, np.int8)}
    with pytest.raises(ValueError, match="before any call writes it"):
        NativePlan(Program([Call("lut", ["t"], ["y"], lut, tab)], bufs, ["x"], ["y"]))
    with pytest.raises(ValueError, match="writes the model input"):
        NativePlan(Program([Call("lut", ["y"], ["x"], lut, tab), Call("lut", ["x"], ["t"], lut,
                                                                      tab)],
                           bufs, ["x", "y"], ["t"]))
    with pytest.raises(ValueError, match="never written"):
        NativePlan(Program([Call("lut", ["x"], ["t"], lut, tab)], bufs, ["x"], ["y"]))
    with pytest.raises(ValueError, match="missing const 'table'"):
        NativePlan(Program([Call("lut", ["x"], ["y"], lut)], bufs, ["x"], ["y"]))
    with pytest.raises(ValueError, match="not exactly int8"):
        NativePlan(Program([Call("lut", ["x"], ["y"], lut, {"table": np.full(256, 300)})],
                           bufs, ["x"], ["y"]))
    with pytest.raises(ValueError, match="unknown kernel"):
        NativePlan(Program([Call("gelu", ["x"], ["y"], lut)], bufs, ["x"], ["y"]))
    with pytest.raises(ValueError, match="missing param 'n'"):
        NativePlan(Program([Call("lut", ["x"], ["y"], {}, tab)], bufs, ["x"], ["y"]))
    with pytest.raises(ValueError, match="dtypes"):
        fbufs = dict(bufs, y=Buffer("y", (10,), "float32"))
        NativePlan(Program([Call("lut", ["x"], ["y"], lut, tab)], fbufs, ["x"], ["y"]))


def test_c_preconditions():
    x = np.zeros((1, 3, 4, 2), np.int8)
    # resize index map out of range
    with pytest.raises(ValueError, match="index map"):
        run_single("resize_nearest", [x], (1, 2, 2, 2), "int8",
                   {"n": 1, "h": 3, "w": 4, "c": 2, "oh": 2, "ow": 2},
                   {"iy": np.array([0, 3], np.int32), "ix": np.array([0, 1], np.int32)})
    # slice reading past the end
    with pytest.raises(ValueError, match="out of range"):
        run_single("slice", [x], (1, 2, 4, 2), "int8",
                   {"in_shape": [1, 3, 4, 2], "start": [0, 2, 0, 0], "step": [1, 1, 1, 1],
                        "out_shape": [1, 2, 4, 2]})
    # transpose with a non-permutation
    with pytest.raises(ValueError, match="permutation"):
        run_single("transpose", [x], (1, 3, 4, 2), "int8",
                   {"shape": [1, 3, 4, 2], "perm": [0, 1, 1, 3]})
    # conv with inconsistent oh
    p = conv_params(1, 3, 4, 2, 4, 3, 1, 1, 0, 0)
    p["oh"] += 1
    with pytest.raises(ValueError, match="oh / ow"):
        run_single("conv2d", [x], (1, 4, 4, 4), "int8", p,
                   conv_consts(np.random.default_rng(0), 4, 3, 2, 0.01))
    # requant_copy footprint past its output buffer (a Concat offset too large)
    with pytest.raises(ValueError, match="kernel needs"):
        run_single("requant_copy", [x], (1, 3, 4, 2), "int8",
                   {"rows": 12, "cols": 2, "x_stride": 2, "y_stride": 2, "x_offset": 0, "y_offset": 1,
                        "x_zp": 0, "y_zp": 0, "mult": 1.0})
    # softmax table that could make a row sum zero
    with pytest.raises(ValueError, match="exp_table"):
        run_single("softmax", [x.reshape(12, 2)], (12, 2), "int8",
                   {"rows": 12, "cols": 2, "inv_y_scale": 256.0, "y_zp": 0},
                   {"exp_table": np.zeros(256, np.int32)})


def test_constant_buffer_input():
    # a constant operand (Program.constants, see docs/PLAN.md) read through a "const" ref
    rng = np.random.default_rng(15)
    a, c = rand_i8(rng, 3, 4), rand_i8(rng, 4)
    bufs = {"a": Buffer("a", (3, 4), "int8"), "c": Buffer("c", (4,), "int8"),
            "y": Buffer("y", (3, 4), "int8")}
    p = {"ndim": 2, "shape": [3, 4], "a_stride": [4, 1], "b_stride": [0, 1], "a_zp": -128, "b_zp": 127,
             "y_zp": 0, "a_mult": 1 << 20, "b_mult": -(1 << 21), "mult": 2.0 ** -21, "qmin": -128, "qmax": 127}
    prog = Program([Call("add", ["a", "c"], ["y"], p)], bufs, ["a"], ["y", "c"])
    prog.constants = {"c": c}
    y, cc = NativePlan(prog).run([a])
    assert np.array_equal(y, ref_add(a, c[None], -128, 127, 0, 1 << 20, -(1 << 21), 2.0 ** -21,
                                     -128, 127))
    assert np.array_equal(cc, c)
