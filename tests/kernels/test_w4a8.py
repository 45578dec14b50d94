"""The weight-only int4 matmul with int8 activations (W4A8, csrc/kernels/dynq/w4a8.c and
w4a8_x86.c: nibbles unpacked to int8 in registers, vpdpbusd / vpmaddubsw per k group, group
scales in a float32 epilogue) equals its numpy reference (int8rt/reference/dynq.py
w4a8_matmul) bit for bit on every kernel path this CPU runs: symmetric and asymmetric
(zero-point) groups, every group size, channel counts that are not a multiple of the 16-channel
block or the 8-channel half, row counts that are not a multiple of the 8- or 4-row tile,
.5 ties and clamped rows in the activation quantization, all-zero rows, the extreme codes."""

from __future__ import annotations

import numpy as np
import pytest

from int8rt.reference import dynq as ref
from tests.dynamic.helpers import run_op

F32 = np.float32


def activations(m: int, k: int, seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    x = (rng.standard_normal((m, k)) * 3.0).astype(F32)
    if m > 3:
        x[1] = 0.0  # all zero: scale 1, q 0
        x[2, :] = 0.0  # amax 127: 127 / amax = 1, so these products sit on .5 ties
        x[2, :9] = [127.0, 0.5, -0.5, 1.5, -1.5, 2.5, -2.5, 126.5, -127.0]
        x[3] = -x[3] * 1e20  # large magnitudes, still finite
    return x


def weights(n: int, k: int, group: int, symmetric: bool, seed: int):
    rng = np.random.default_rng(seed)
    w = (rng.standard_normal((k, n)) * 0.05).astype(F32)
    w[:, 0] = np.linspace(-1, 1, k)  # a ramp: codes across the whole range
    out = ref.quantize_weight_groups(w, 4, group, symmetric=symmetric)
    q, s = out[0].copy(), out[1]
    zp = None if symmetric else out[2].copy()
    if n > 2:  # the extreme codes: every nibble 0 (-8 / u = 0) or 15 (7 / u = 15)
        q[1] = 0x88 if symmetric else 0x00
        q[2] = 0x77 if symmetric else 0xFF
        if zp is not None:
            zp[1], zp[2] = 15, 0  # u - z = -15 and +15: the largest products
    return q, s, zp


CASES = [(1, 32, 1, 32), (5, 64, 17, 32), (9, 96, 8, 32), (13, 384, 40, 32),
         (64, 384, 48, 64), (130, 256, 23, 128), (33, 1536, 16, 32)]


@pytest.mark.parametrize("symmetric", [True, False], ids=["sym", "asym"])
@pytest.mark.parametrize("m,k,n,group", CASES)
def test_w4a8_every_path(path, m, k, n, group, symmetric):
    x = activations(m, k, seed=m * 100 + k)
    q, s, zp = weights(n, k, group, symmetric, seed=n + k)
    bias = np.random.default_rng(n).standard_normal(n).astype(F32)
    for b in (bias, None):
        consts = {"q": q, "s": s}
        order = ["x", "q", "s"]
        if b is not None:
            consts["b"] = b
            order.append("b")
        if zp is not None:
            if b is None:
                order.append("")  # no bias: an empty input name, as in ONNX
            consts["z"] = zp
            order.append("z")
        (y,) = run_op("WOLinear", {"x": x}, consts, order=order,
                      attrs={"bits": 4, "group": group})
        want = ref.w4a8_matmul(x, q, s, b, group, zp)
        assert np.array_equal(y, want), path


KERNELS = [d["name"] for d in __import__("int8rt")._native.w4_kernels()]


@pytest.mark.parametrize("kernel", KERNELS)
@pytest.mark.parametrize("symmetric", [True, False], ids=["sym", "asym"])
@pytest.mark.parametrize("m,k,n,group", [(1, 32, 1, 32), (13, 384, 40, 32), (9, 256, 23, 64),
                                         (17, 128, 16, 128)])
def test_w4a8_every_row_kernel(kernel, m, k, n, group, symmetric):
    """Each row kernel by name, the portable emulations of the x86 kernels (their tiles,
    halves and tails over plain-C primitives) included, so the structure of a kernel this CPU
    lacks is still checked bit for bit; the avxvnni_evex kernel (the ymm path of AVX512-VNNI
    CPUs without AVX-VNNI) is reachable only this way on a CPU that has both."""
    from int8rt import _native

    info = {d["name"]: d for d in _native.w4_kernels()}[kernel]
    if not info["runnable"]:
        pytest.skip(f"{kernel} does not run on this CPU")
    x = activations(m, k, seed=m + k)
    q, s, zp = weights(n, k, group, symmetric, seed=n * 7 + k)
    packed = _native.w4_pack(q, s, group, zp)
    bias = np.random.default_rng(n).standard_normal(n).astype(F32)
    for b in (bias, None):
        y = _native.w4_matmul_with(kernel, x, packed, n, group, b)
        assert np.array_equal(y, ref.w4a8_matmul(x, q, s, b, group, zp)), kernel


def test_w4a8_reference_is_the_integer_sum():
    """The reference's integer part is sum_k qa * (u - z) per group: checked against a plain
    per-element loop (so the exactness tests above compare with the stated arithmetic)."""
    m, k, n, group = 3, 64, 5, 32
    x = activations(m, k, 7)
    q, s, zp = weights(n, k, group, False, 3)
    qa, sa = ref.quantize_rows(x, True)
    y = np.zeros((m, n), F32)
    for i in range(m):
        for j in range(n):
            f = F32(0)
            for g in range(k // group):
                acc = 0
                for t in range(g * group, (g + 1) * group):
                    byte = int(q[j, t // 2])
                    u = byte & 15 if t % 2 == 0 else byte >> 4
                    acc += int(qa[i, t]) * (u - int(zp[j, g]))
                f = F32(f + F32(F32(acc) * s[j, g]))
            y[i, j] = F32(f * sa[i])
    assert np.array_equal(y, ref.w4a8_matmul(x, q, s, None, group, zp))


def test_w4a8_threads_same_bits():
    """Rows split over tasks (>= 16 rows each) give the bits of one task."""
    from int8rt import ir
    from int8rt.dynamic.lower import lower_program
    from int8rt.dynamic.specialize import specialize
    from int8rt.session import _DynamicPlan

    m, k, n = 100, 384, 40
    x = activations(m, k, 11)
    q, s, _ = weights(n, k, 32, True, 5)
    t = {"x": ir.Tensor("x", (m, k), "float32"), "q": ir.Tensor("q", q.shape, "uint8", data=q),
         "s": ir.Tensor("s", s.shape, "float32", data=s), "y": ir.Tensor("y", (), "float32")}
    g = ir.Graph([ir.Node("WOLinear", "fc", ["x", "q", "s"], ["y"], {"bits": 4, "group": 32})],
                 t, ["x"], ["y"], meta={"layout": "onnx"})
    spec = specialize(g, {"x": x.shape})
    plan = _DynamicPlan(lower_program(spec), spec)
    one = plan.run([x])[0]
    assert np.array_equal(one, ref.w4a8_matmul(x, q, s, None, 32))
    assert np.array_equal(plan.run([x], 2)[0], one)


def test_w4_pack_rejects_bad_input():
    from int8rt import _native

    q = np.zeros((4, 16), np.uint8)
    s = np.ones((4, 1), F32)
    with pytest.raises(ValueError, match="group"):
        _native.w4_pack(q, s, 12)
    with pytest.raises(ValueError, match="scales"):
        _native.w4_pack(q, np.ones((4, 2), F32), 32)
    with pytest.raises(ValueError, match="zero_points"):
        _native.w4_pack(q, s, 32, np.full((4, 1), 16, np.uint8))
