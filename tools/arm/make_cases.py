"""Write the ARM kernel case file: inputs + the numpy reference's outputs, for kernel_check.c.

    python tools/arm/make_cases.py OUT.bin

The record format is documented at the top of tools/arm/kernel_check.c. Expected outputs come
from int8rt.reference.* (the oracle), never from the native kernels, so the same file checks
x86, aarch64 and armv7 builds bit-exactly. Deterministic (fixed seed): the file is identical on
every run.
"""

from __future__ import annotations

import math
import struct
import sys
import types
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))
try:
    import int8rt  # noqa: F401
except ImportError:
    # the extension is not built: the oracle needs only the pure-numpy submodules, so load
    # them without running int8rt/__init__.py (which imports the native module)
    _pkg = types.ModuleType("int8rt")
    _pkg.__path__ = [str(ROOT / "int8rt")]
    sys.modules["int8rt"] = _pkg

from int8rt import kernel_tables as kt
from int8rt.reference import conv, convert, elementwise, movement, pooling, resize
from int8rt.reference import softmax as softmax_ref

RNG = np.random.default_rng(20261122)
ZPS = (-128, 0, 127)


class CaseWriter:
    def __init__(self) -> None:
        self.records: list[bytes] = []
        self.counts: dict[str, int] = {}

    def add(self, name: str, label: str, ints: list[int], floats: list[float],
            arrays: list[np.ndarray], expected: np.ndarray) -> None:
        def s(v: str) -> bytes:
            b = v.encode()
            return struct.pack("<H", len(b)) + b

        def a(x: np.ndarray) -> bytes:
            b = np.ascontiguousarray(x).tobytes()  # numpy dtypes here are little-endian hosts'
            return struct.pack("<Q", len(b)) + b

        body = [s(name), s(label), struct.pack("<I", len(ints)),
                struct.pack(f"<{len(ints)}q", *[int(i) for i in ints]),
                struct.pack("<I", len(floats)),
                # raw float32 bits: NaN payloads and -0.0 survive
                np.asarray(floats, dtype=np.float32).astype("<f4").tobytes(),
                struct.pack("<I", len(arrays)), *[a(x) for x in arrays], a(expected)]
        rec = b"".join(body)
        self.records.append(struct.pack("<I", len(rec)) + rec)
        self.counts[name] = self.counts.get(name, 0) + 1

    def write(self, path: Path) -> None:
        assert sys.byteorder == "little"
        path.write_bytes(b"I8RTCAS1" + struct.pack("<I", len(self.records))
                         + b"".join(self.records))


def i8(shape, lo: int = -128, hi: int = 127) -> np.ndarray:
    x = RNG.integers(lo, hi + 1, size=shape).astype(np.int8)
    if x.size >= 2:  # both extremes in every tensor
        x.flat[0], x.flat[-1] = lo, hi
    return x


# Weights: [-127, 127] is the contract (docs/QUANTIZATION.md §2; the quantizer never makes
# -128), and the NEON pair kernels (smull + smlal into int16) rely on it. A foreign model can
# still hold -128: the cases with w_lo=-128 check that those kernels then take an exact path.
W_LO = -127


def scales_mult(n: int, lo: float = 1e-4, hi: float = 0.05) -> np.ndarray:
    return np.exp(RNG.uniform(math.log(lo), math.log(hi), size=n)).astype(np.float32)


def tie_operands(x_shape, w_shape, oc: int, x_zp: int):
    x = np.clip(x_zp + RNG.integers(-2, 3, size=x_shape), -128, 127).astype(np.int8)
    wt = RNG.integers(-3, 4, size=w_shape).astype(np.int8)
    bias = RNG.integers(-20, 21, size=oc).astype(np.int32)
    mult = RNG.choice(np.array([0.5, 0.25, 1.5], dtype=np.float32), size=oc)
    return x, wt, bias, mult


# ---- conv2d / fc ------------------------------------------------------------------------------
def conv_case(w: CaseWriter, n, h, wd, c, oc, kh, kw, s=(1, 1), d=(1, 1), pads=(0, 0, 0, 0),
              groups=1, x_zp=0, y_zp=0, qmin=-128, qmax=127, out_f32=0, mult_hi=0.05,
              extreme=False, ties=False, w_lo=W_LO) -> None:
    cg = c // groups
    x = i8((n, h, wd, c))
    wt = i8((oc, kh, kw, cg), lo=w_lo)
    if extreme:  # largest-magnitude accumulators: x at the far end from x_zp, w = w_lo
        x[...] = -128 if x_zp > 0 else 127
        wt[...] = w_lo
    bias = RNG.integers(-(1 << 16), 1 << 16, size=oc).astype(np.int32)
    mult = scales_mult(oc, 1e-5, mult_hi)
    if ties:  # small accumulators times 1/2 or 1/4: many exact .5 products (half-to-even)
        x, wt, bias, mult = tie_operands(x.shape, wt.shape, oc, x_zp)
    pt, pl, pb, pr = pads
    oh = conv.conv_output_size(h, kh, s[0], d[0], pt, pb)
    ow = conv.conv_output_size(wd, kw, s[1], d[1], pl, pr)
    params = {"stride_h": s[0], "stride_w": s[1], "dil_h": d[0], "dil_w": d[1], "pad_t": pt,
              "pad_l": pl, "pad_b": pb, "pad_r": pr, "groups": groups, "x_zp": x_zp,
              "y_zp": y_zp, "qmin": qmin, "qmax": qmax, "out_f32": out_f32}
    y = conv.conv2d(x, w=wt, bias=bias, mult=mult, **params)
    ints = [n, h, wd, c, oh, ow, oc, kh, kw, s[0], s[1], d[0], d[1], pt, pl, pb, pr, groups,
            x_zp, y_zp, qmin, qmax, out_f32]
    label = (f"x{n}x{h}x{wd}x{c} oc{oc} k{kh}x{kw} s{s} d{d} p{pads} g{groups} "
             f"zp{x_zp}/{y_zp} q[{qmin},{qmax}] f32={out_f32}{' ties' if ties else ''}")
    w.add("conv2d", label, ints, [], [x, wt, bias, mult], y)


def conv_cases(w: CaseWriter) -> None:
    geoms = [  # (n, h, w, c, oc, kh, kw, stride, dil, pads, groups)
        (1, 5, 5, 3, 4, 1, 1, (1, 1), (1, 1), (0, 0, 0, 0), 1),
        (2, 7, 6, 16, 17, 1, 1, (1, 1), (1, 1), (0, 0, 0, 0), 1),
        (1, 9, 9, 8, 8, 1, 1, (2, 2), (1, 1), (0, 0, 0, 0), 1),
        (1, 8, 8, 3, 8, 3, 3, (1, 1), (1, 1), (1, 1, 1, 1), 1),
        (1, 9, 7, 5, 7, 3, 3, (2, 2), (1, 1), (1, 1, 1, 1), 1),
        (1, 10, 10, 4, 6, 3, 3, (2, 1), (1, 1), (0, 1, 1, 0), 1),
        (1, 11, 9, 4, 4, 3, 3, (1, 1), (2, 2), (2, 2, 2, 2), 1),
        (1, 12, 12, 6, 5, 3, 2, (1, 2), (3, 1), (0, 2, 3, 1), 1),
        (2, 6, 7, 33, 20, 3, 3, (1, 1), (1, 1), (1, 0, 2, 1), 1),
        (1, 8, 8, 8, 12, 3, 3, (1, 1), (1, 1), (1, 1, 1, 1), 4),
        (1, 7, 7, 12, 6, 1, 1, (1, 1), (1, 1), (0, 0, 0, 0), 3),
        (1, 9, 9, 16, 16, 3, 3, (1, 1), (1, 1), (1, 1, 1, 1), 16),   # depthwise
        (1, 10, 11, 24, 24, 3, 3, (2, 2), (1, 1), (1, 1, 1, 1), 24),  # depthwise s2
        (2, 8, 8, 17, 17, 5, 5, (1, 1), (2, 2), (4, 3, 4, 2), 17),    # depthwise dil, odd c
        (1, 6, 6, 8, 16, 3, 3, (1, 1), (1, 1), (1, 1, 1, 1), 8),      # channel multiplier 2
        # depthwise shapes of the neondot column kernel: two channel blocks, TF-SAME s2
        # (pads only bottom / right), 5x5 s2, a one-column image, rows wider than its
        # 128-column buffer (segments, s1 and s2), 7 kernel rows (two groups of 4)
        (1, 7, 20, 32, 32, 3, 3, (1, 1), (1, 1), (1, 1, 1, 1), 32),
        (1, 9, 13, 48, 48, 3, 3, (2, 2), (1, 1), (0, 0, 1, 1), 48),
        (1, 6, 9, 16, 16, 5, 5, (2, 2), (1, 1), (2, 2, 2, 2), 16),
        (2, 3, 1, 16, 16, 3, 3, (1, 1), (1, 1), (1, 1, 1, 1), 16),
        (1, 3, 300, 16, 16, 3, 3, (1, 1), (1, 1), (1, 1, 1, 1), 16),
        (1, 4, 301, 24, 24, 3, 3, (2, 2), (1, 1), (1, 1, 1, 1), 24),
        (1, 9, 8, 20, 20, 7, 3, (1, 2), (1, 1), (3, 1, 3, 1), 20),
        (1, 4, 4, 3, 5, 4, 4, (1, 1), (1, 1), (0, 0, 0, 0), 1),       # kernel = input
        (1, 3, 3, 2, 3, 3, 3, (1, 1), (1, 1), (3, 3, 3, 3), 1),       # mostly padding
        # Winograd F(2x2,3x3) (3x3 s1, c a multiple of 16): odd sizes, edge tiles, K tails
        (2, 6, 7, 32, 20, 3, 3, (1, 1), (1, 1), (1, 0, 2, 1), 1),
        (1, 9, 5, 16, 40, 3, 3, (1, 1), (1, 1), (0, 0, 0, 0), 1),
        (1, 16, 16, 32, 32, 1, 1, (1, 1), (1, 1), (0, 0, 0, 0), 1),
    ]
    for g in geoms:
        n, h, wd, c, oc, kh, kw, s, d, pads, groups = g
        for x_zp, y_zp in [(0, 0), (-128, 127), (127, -128), (-5, 3)]:
            for out_f32 in (0, 1):
                conv_case(w, n, h, wd, c, oc, kh, kw, s, d, pads, groups, x_zp, y_zp,
                          out_f32=out_f32)
        conv_case(w, n, h, wd, c, oc, kh, kw, s, d, pads, groups, -128, -128, qmin=-128,
                  qmax=20)  # fused relu6-like clamp
        conv_case(w, n, h, wd, c, oc, kh, kw, s, d, pads, groups, 127, 0, qmin=-3, qmax=127,
                  mult_hi=0.5)
        conv_case(w, n, h, wd, c, oc, kh, kw, s, d, pads, groups, -128, 5, ties=True)
        conv_case(w, n, h, wd, c, oc, kh, kw, s, d, pads, groups, 127, 0, w_lo=-128)
    # layers large enough for the thread split (kernel_check also runs them task by task):
    # MobileNetV2's 7x7 and 14x14 1x1 shapes (row blocks of whole tiles, few pixels), a stem
    # (im2col, 32 channels: row blocks inside one tile), a 7x7 3x3 with channel blocks
    for g in [(1, 7, 7, 160, 960, 1, 1, (1, 1), (1, 1), (0, 0, 0, 0), 1),
              (1, 14, 14, 96, 136, 1, 1, (1, 1), (1, 1), (0, 0, 0, 0), 1),
              (1, 56, 56, 3, 32, 3, 3, (2, 2), (1, 1), (1, 1, 1, 1), 1),
              (1, 7, 7, 96, 200, 3, 3, (1, 1), (1, 1), (1, 1, 1, 1), 1),
              (1, 15, 14, 64, 72, 3, 3, (1, 1), (1, 1), (1, 1, 1, 1), 1)]:
        n, h, wd, c, oc, kh, kw, s, d, pads, groups = g
        conv_case(w, n, h, wd, c, oc, kh, kw, s, d, pads, groups, -5, 3)
    # accumulator extremes: all x at the far end from x_zp, all w = -127 (contract) or -128
    # (foreign), large K
    for x_zp, w_lo in [(-128, -127), (127, -127), (-128, -128), (127, -128)]:
        for out_f32 in (0, 1):
            conv_case(w, 1, 4, 4, 256, 3, 3, 3, pads=(1, 1, 1, 1), x_zp=x_zp, y_zp=0,
                      out_f32=out_f32, extreme=True, mult_hi=1e-4, w_lo=w_lo)
            for k in (3, 5):
                conv_case(w, 1, 5, 5, 64, 64, k, k, pads=(1, 1, 1, 1), groups=64, x_zp=x_zp,
                          y_zp=0, out_f32=out_f32, extreme=True, mult_hi=1e-3, w_lo=w_lo)


# Fused epilogue post-ops (kernels.h i8_post_params): the conv's int8 output, then a table
# lookup and / or a requantizing residual add, expected = the unfused reference (conv, lut, add).
# The add's multipliers are multiples of 2^17 with mult = 2^-20 or 2^-19: exact .5 ties.
POSTS = {
    "lut": (1, 0, 0, 0, 0, 0, 1.0, 0, -128, 127),
    "add": (0, 1, -7, 100, 1 << 20, -(3 << 19), 2.0 ** -20, 3, -128, 127),
    "lut+add": (1, 1, 127, -128, 3 << 18, 5 << 17, 2.0 ** -19, -128, -128, 90),
}


def conv_post_case(w: CaseWriter, post: str, n, h, wd, c, oc, kh, kw, s=(1, 1),
                   pads=(0, 0, 0, 0), groups=1, x_zp=-9, y_zp=5) -> None:
    lut, add, a_zp, b_zp, a_mult, b_mult, mult_add, py_zp, pqmin, pqmax = POSTS[post]
    cg = c // groups
    x = i8((n, h, wd, c))
    wt = i8((oc, kh, kw, cg), lo=W_LO)
    bias = RNG.integers(-(1 << 14), 1 << 14, size=oc).astype(np.int32)
    mult = scales_mult(oc, 1e-3, 0.05)
    pt, pl, pb, pr = pads
    oh = conv.conv_output_size(h, kh, s[0], 1, pt, pb)
    ow = conv.conv_output_size(wd, kw, s[1], 1, pl, pr)
    params = {"stride_h": s[0], "stride_w": s[1], "dil_h": 1, "dil_w": 1, "pad_t": pt,
              "pad_l": pl, "pad_b": pb, "pad_r": pr, "groups": groups, "x_zp": x_zp,
              "y_zp": y_zp, "qmin": -120, "qmax": 127, "out_f32": 0}
    y = conv.conv2d(x, w=wt, bias=bias, mult=mult, **params)
    table = RNG.integers(-128, 128, 256).astype(np.int8)
    res = i8(y.shape)
    if lut:
        y = elementwise.lut(y, table).reshape(y.shape)
    if add:
        y = elementwise.add(y.reshape(-1), res.reshape(-1), ndim=1, shape=(y.size,),
                            a_stride=(1,), b_stride=(1,), a_zp=a_zp, b_zp=b_zp, y_zp=py_zp,
                            a_mult=a_mult, b_mult=b_mult, mult=mult_add, qmin=pqmin,
                            qmax=pqmax).reshape(y.shape)
    ints = [n, h, wd, c, oh, ow, oc, kh, kw, s[0], s[1], 1, 1, pt, pl, pb, pr, groups, x_zp,
            y_zp, -120, 127, 0, lut, add, a_zp, b_zp, a_mult, b_mult, py_zp, pqmin, pqmax]
    label = (f"x{n}x{h}x{wd}x{c} oc{oc} k{kh}x{kw} s{s} p{pads} g{groups} post={post}")
    w.add("conv2d_post", label, ints, [mult_add], [x, wt, bias, mult, table, res], y)


def conv_post_cases(w: CaseWriter) -> None:
    geoms = [  # every path of conv2d: depthwise 3x3 s1 / s2 / 5x5 (channel tails), 1x1 gemm
        # (partial row and column tiles), im2col, grouped
        ((1, 6, 9, 40), 40, 3, (1, 1), (1, 1, 1, 1), 40),
        ((1, 9, 13, 48), 48, 3, (2, 2), (0, 0, 1, 1), 48),
        ((1, 9, 8, 24), 24, 5, (2, 2), (2, 2, 2, 2), 24),
        ((2, 5, 7, 24), 40, 1, (1, 1), (0, 0, 0, 0), 1),
        ((1, 14, 14, 32), 64, 1, (1, 1), (0, 0, 0, 0), 1),
        ((1, 7, 6, 12), 33, 3, (1, 1), (1, 1, 1, 1), 1),
        ((1, 5, 5, 16), 24, 3, (2, 2), (1, 1, 1, 1), 4),
        # the NEON pass's tails: 1400 contiguous bytes (not a multiple of 16), rows of 36
        # channels of a 72-channel output (per group: 16 + 16 + an overlapping last 16)
        ((1, 5, 7, 24), 40, 1, (1, 1), (0, 0, 0, 0), 1),
        ((1, 6, 5, 16), 72, 3, (1, 1), (1, 1, 1, 1), 2),
        ((1, 7, 9, 32), 40, 3, (1, 1), (1, 1, 1, 1), 1),  # Winograd: the driver's row pass
    ]
    for (n, h, wd, c), oc, k, s, pads, groups in geoms:
        for post in POSTS:
            conv_post_case(w, post, n, h, wd, c, oc, k, k, s, pads, groups)


def fc_case(w: CaseWriter, m, k, n, x_zp, y_zp, qmin=-128, qmax=127, out_f32=0,
            extreme=False, mult_hi=0.05, ties=False, w_lo=W_LO) -> None:
    x, wt = i8((m, k)), i8((n, k), lo=w_lo)
    if extreme:
        x[...] = -128 if x_zp > 0 else 127
        wt[...] = RNG.choice(np.array([w_lo, 127], dtype=np.int8), size=wt.shape)
        wt[0] = w_lo
    # bias bounded so |acc| stays in int32 even at K = 16384 (255 * 128 * K < 2^29)
    bias = RNG.integers(-(1 << 20), 1 << 20, size=n).astype(np.int32)
    mult = scales_mult(n, 1e-7, mult_hi)
    if ties:
        x, wt, bias, mult = tie_operands(x.shape, wt.shape, n, x_zp)
    y = conv.fc(x, w=wt, bias=bias, mult=mult, x_zp=x_zp, y_zp=y_zp, qmin=qmin, qmax=qmax,
                out_f32=out_f32)
    w.add("fc", f"m{m} k{k} n{n} zp{x_zp}/{y_zp} q[{qmin},{qmax}] f32={out_f32}",
          [m, k, n, x_zp, y_zp, qmin, qmax, out_f32], [], [x, wt, bias, mult], y)


def fc_cases(w: CaseWriter) -> None:
    for m, k, n in [(1, 1, 1), (1, 7, 3), (3, 16, 16), (4, 33, 17), (5, 64, 10), (1, 1000, 12),
                    (7, 128, 65), (2, 4096, 8), (1, 16384, 4)]:
        for x_zp, y_zp in [(0, 0), (-128, 127), (127, -128), (13, -7)]:
            for out_f32 in (0, 1):
                fc_case(w, m, k, n, x_zp, y_zp, out_f32=out_f32)
        fc_case(w, m, k, n, 3, -128, qmin=-128, qmax=0, mult_hi=0.5)
        if k <= 128:
            fc_case(w, m, k, n, 127, -1, ties=True)
    for k in (255, 4096, 16384):
        for x_zp, w_lo in [(-128, -127), (127, -127), (-128, -128), (127, -128)]:
            for out_f32 in (0, 1):
                fc_case(w, 2, k, 5, x_zp, 0, out_f32=out_f32, extreme=True,
                        mult_hi=1.0 / (k * 300), w_lo=w_lo)
    fc_case(w, 3, 100, 9, 127, 0, w_lo=-128)


def pad6(v) -> list[int]:
    """A per-axis field of i8_binary_params: always I8_MAX_DIMS entries."""
    return list(v) + [0] * (6 - len(v))


# ---- elementwise --------------------------------------------------------------------------------
def binary_cases(w: CaseWriter) -> None:
    shapes = [((17,), (17,)), ((2, 3, 4, 5), (5,)), ((1, 6, 6, 8), (1, 1, 1, 8)),
              ((4, 1, 7), (1, 5, 1)), ((3, 1), (1, 4)), ((1,), (9, 9)), ((2, 3, 1, 4, 1, 3),
              (1, 3, 5, 1, 2, 3)), ((64, 65), (64, 65)), ((1,), (1,))]
    scale_sets = [(0.02, 0.03, 0.04), (0.1, 0.001, 0.05), (1.0, 1.0, 0.01), (1e-3, 0.5, 0.6),
                  (0.05, 0.05, 1e-4)]
    for sa, sb in shapes:
        ndim, out, ast, bst = kt.collapse_broadcast(sa, sb)
        for i, (xa, xb, xy) in enumerate(scale_sets):
            a, b = i8(sa), i8(sb)
            a_zp, b_zp, y_zp = ZPS[i % 3], ZPS[(i + 1) % 3], ZPS[(i + 2) % 3]
            qmin, qmax = (-128, 127) if i % 2 == 0 else (y_zp if y_zp < 127 else -128, 127)
            for kind in ("add", "sub", "mul"):
                if kind == "mul":
                    am, bm, m = 0, 0, kt.mul_mult(xa, xb, xy)
                    y = elementwise.mul(a, b, ndim=ndim, shape=out, a_stride=ast, b_stride=bst,
                                        a_zp=a_zp, b_zp=b_zp, y_zp=y_zp, mult=m, qmin=qmin,
                                        qmax=qmax)
                else:
                    am, bm, m = kt.add_multipliers(xa, xb, xy, subtract=kind == "sub")
                    y = elementwise.add(a, b, ndim=ndim, shape=out, a_stride=ast, b_stride=bst,
                                        a_zp=a_zp, b_zp=b_zp, y_zp=y_zp, a_mult=am, b_mult=bm,
                                        mult=m, qmin=qmin, qmax=qmax)
                ints = [ndim, *pad6(out), *pad6(ast), *pad6(bst), a_zp, b_zp, y_zp, am, bm, qmin,
                        qmax]
                w.add("mul" if kind == "mul" else "add",
                      f"{kind} {sa}x{sb} s({xa},{xb},{xy}) zp({a_zp},{b_zp},{y_zp})",
                      ints, [float(m)], [a, b], y)
    # add multiplier limits: |A| = |B| = 2^22 with the extreme operands
    a, b = np.array([-128, 127, 127, -128], np.int8), np.array([127, -128, 127, -128], np.int8)
    for am, bm in [(1 << 22, 1 << 22), (1 << 22, -(1 << 22)), (-(1 << 22), 1)]:
        for a_zp, b_zp in [(127, -128), (-128, 127)]:
            m = np.float32(2.0 ** -22)
            y = elementwise.add(a, b, ndim=1, shape=[4], a_stride=[1], b_stride=[1], a_zp=a_zp,
                                b_zp=b_zp, y_zp=0, a_mult=am, b_mult=bm, mult=m)
            w.add("add", f"add limits A={am} B={bm} zp({a_zp},{b_zp})",
                  [1, 4, 0, 0, 0, 0, 0, 1, 0, 0, 0, 0, 0, 1, 0, 0, 0, 0, 0, a_zp, b_zp, 0, am,
                   bm, -128, 127], [float(m)], [a, b], y)


def requant_copy_cases(w: CaseWriter) -> None:
    for rows, cols, xs, ys, xo, yo in [(1, 1, 1, 1, 0, 0), (1, 100, 100, 100, 0, 0),
                                       (7, 13, 20, 30, 3, 5), (16, 64, 64, 128, 0, 64),
                                       (5, 3, 3, 9, 1, 6)]:
        for x_zp, y_zp, sx, sy in [(0, 0, 0.1, 0.1), (-128, 127, 0.02, 0.05),
                                   (127, -128, 0.3, 0.01), (5, -5, 1e-3, 1.0),
                                   (-1, 2, 0.5, 1.0), (127, 0, 0.25, 1.0)]:  # exact .5 ties
            x = i8(xo + (rows - 1) * xs + cols + 2)
            y0 = i8(yo + (rows - 1) * ys + cols + 3)
            m = kt.requant_mult(sx, sy)
            y = elementwise.requant_copy(x, y0.copy(), rows=rows, cols=cols, x_stride=xs,
                                         y_stride=ys, x_offset=xo, y_offset=yo, x_zp=x_zp,
                                         y_zp=y_zp, mult=m)
            w.add("requant_copy", f"{rows}x{cols} str({xs},{ys}) off({xo},{yo}) zp({x_zp},"
                  f"{y_zp}) m={m}", [rows, cols, xs, ys, x_zp, y_zp, xo, yo], [float(m)],
                  [x, y0], y)


def lut_cases(w: CaseWriter) -> None:
    fns = [kt.relu, kt.sigmoid, kt.tanh, kt.hard_swish, kt.gelu, kt.silu]
    for i, fn in enumerate(fns):
        for x_zp, y_zp in [(-128, -128), (127, 0), (3, 127)]:
            table = kt.lut_table(fn, 0.05, x_zp, 0.02, y_zp)
            n = [1, 255, 256, 1000, 4099][(i + x_zp) % 5]
            x = i8(n)
            w.add("lut", f"{fn.__name__} n{n} zp({x_zp},{y_zp})", [n], [], [table, x],
                  elementwise.lut(x, table))
    table = np.arange(-128, 128, dtype=np.int8)[::-1].copy()  # every byte value both ways
    x = np.arange(-128, 128, dtype=np.int8)
    w.add("lut", "reverse table, all inputs", [256], [], [table, x], elementwise.lut(x, table))


# ---- pooling ------------------------------------------------------------------------------------
def pool_cases(w: CaseWriter) -> None:
    geoms = [  # n, h, w, c, kh, kw, stride, dil, pad_t, pad_l, pad_b, pad_r
        (1, 6, 6, 3, 2, 2, (2, 2), (1, 1), 0, 0, 0, 0),
        (2, 7, 7, 16, 3, 3, (2, 2), (1, 1), 1, 1, 1, 1),
        (1, 9, 8, 5, 3, 3, (1, 1), (1, 1), 1, 1, 1, 1),
        (1, 10, 10, 4, 3, 2, (2, 3), (2, 1), 2, 0, 1, 2),
        (1, 5, 5, 7, 5, 5, (1, 1), (1, 1), 2, 2, 2, 2),
        (1, 3, 3, 2, 3, 3, (1, 1), (1, 1), 2, 2, 2, 2),  # windows entirely in the padding
        (1, 13, 13, 33, 7, 7, (6, 6), (1, 1), 0, 0, 0, 0),
    ]
    for n, h, wd, c, kh, kw, s, d, pt, pl, pb, pr in geoms:
        oh = conv.conv_output_size(h, kh, s[0], d[0], pt, pb)
        ow = conv.conv_output_size(wd, kw, s[1], d[1], pl, pr)
        for x_zp, y_zp, qmin, qmax in [(0, 0, -128, 127), (-128, 127, -128, 127),
                                       (127, -128, -100, 100), (-128, -128, -128, -1)]:
            x = i8((n, h, wd, c))
            geo = {"oh": oh, "ow": ow, "kh": kh, "kw": kw, "stride_h": s[0], "stride_w": s[1],
                   "dil_h": d[0], "dil_w": d[1], "pad_t": pt, "pad_l": pl}
            for cip in (0, 1):
                ints = [n, h, wd, c, oh, ow, kh, kw, s[0], s[1], d[0], d[1], pt, pl, cip, x_zp,
                        y_zp, qmin, qmax]
                label = f"{(n, h, wd, c)} k{kh}x{kw} s{s} d{d} p({pt},{pl}) zp({x_zp},{y_zp})"
                if cip == 0:
                    y = pooling.maxpool(x, qmin=qmin, qmax=qmax, **geo)
                    w.add("maxpool", label + f" q[{qmin},{qmax}]", ints, [], [x], y)
                mults = kt.avgpool_mults(0.05, [0.05, 0.01, 0.2, 0.003][(x_zp + cip) % 4], kh, kw)
                y = pooling.avgpool(x, mults, count_include_pad=cip, x_zp=x_zp, y_zp=y_zp,
                                    qmin=qmin, qmax=qmax, **geo)
                w.add("avgpool", label + f" cip{cip}", ints, [], [mults, x], y)
    for n, hw, c in [(1, 1, 1), (1, 49, 64), (2, 3136, 16), (3, 100, 33), (1, 65536, 2)]:
        for x_zp, y_zp, sy in [(0, 0, 0.05), (-128, 127, 0.01), (127, -128, 0.2)]:
            x = i8((n, hw, c))
            m = kt.global_avgpool_mult(0.05, sy, hw)
            y = pooling.global_avgpool(x, n=n, hw=hw, c=c, x_zp=x_zp, y_zp=y_zp, mult=m)
            w.add("global_avgpool", f"n{n} hw{hw} c{c} zp({x_zp},{y_zp})",
                  [n, hw, c, x_zp, y_zp, -128, 127], [float(m)], [x], y)


# ---- resize, softmax, convert, movement ---------------------------------------------------------
def resize_cases(w: CaseWriter) -> None:
    for (h, wd, oh, ow), ctm, nm in [((4, 4, 8, 8), "half_pixel", "round_prefer_floor"),
                                     ((5, 7, 10, 3), "asymmetric", "floor"),
                                     ((6, 6, 13, 11), "align_corners", "round_prefer_ceil"),
                                     ((8, 8, 4, 4), "pytorch_half_pixel", "ceil"),
                                     ((1, 1, 3, 5), "half_pixel", "round_prefer_floor")]:
        for c, dtype in [(3, np.int8), (16, np.int8), (2, np.float32)]:
            x = i8((2, h, wd, c)) if dtype == np.int8 else RNG.standard_normal(
                (2, h, wd, c)).astype(np.float32)
            iy = kt.resize_nearest_map(h, oh, None, ctm, nm)
            ix = kt.resize_nearest_map(wd, ow, None, ctm, nm)
            y = resize.resize_nearest(x, iy, ix)
            w.add("resize_nearest", f"{h}x{wd}->{oh}x{ow} c{c} {ctm} {nm} {x.dtype}",
                  [2, h, wd, c, oh, ow, x.itemsize], [], [iy, ix, x], y)
        for x_zp, y_zp, sy in [(0, 0, 0.05), (-128, 127, 0.02), (127, -128, 0.1)]:
            c = 5
            x = i8((2, h, wd, c))
            y0, y1, fy = kt.resize_linear_map(h, oh, None, ctm)
            x0, x1, fx = kt.resize_linear_map(wd, ow, None, ctm)
            m = kt.bilinear_mult(0.05, sy)
            y = resize.resize_bilinear(x, y0, y1, fy, x0, x1, fx, x_zp=x_zp, y_zp=y_zp, mult=m)
            w.add("resize_bilinear", f"{h}x{wd}->{oh}x{ow} {ctm} zp({x_zp},{y_zp})",
                  [2, h, wd, c, oh, ow, x_zp, y_zp], [float(m)], [y0, y1, fy, x0, x1, fx, x], y)


def softmax_cases(w: CaseWriter) -> None:
    for cols in (1, 2, 3, 16, 17, 100, 1000, 4096):
        for s_x in (1e-3, 0.1, 4.0):
            rows = max(1, 2000 // cols)
            x = i8((rows, cols))
            x[min(1, rows - 1)] = 127
            table = kt.softmax_exp_table(s_x)
            for y_zp, inv in [(-128, 256.0), (0, 100.0), (127, 7.5)]:
                y = softmax_ref.softmax(x, table, inv_y_scale=inv, y_zp=y_zp)
                w.add("softmax", f"{rows}x{cols} s_x{s_x} zp{y_zp} inv{inv}",
                      [rows, cols, y_zp], [inv], [table, x], y)


def convert_cases(w: CaseWriter) -> None:
    special = np.array([np.nan, np.inf, -np.inf, -0.0, 0.0, 0.5, 1.5, 2.5, -0.5, -1.5, -2.5,
                        126.5, 127.5, -128.5, -127.5, 1e30, -1e30, 3.4e38, 1e-45, -1e-45,
                        np.float32(2**24 + 1), 8388607.5], dtype=np.float32)
    for scale in (1.0, 0.5, 0.0078125, 0.1, 3e-3, 1e-30, 7.0):
        for zp in ZPS + (-3,):
            with np.errstate(over="ignore", invalid="ignore"):  # inf * scale, nan * scale
                scaled = special * np.float32(scale)
            x = np.concatenate([special, scaled,
                                RNG.standard_normal(300).astype(np.float32) * np.float32(
                                    scale * 100)]).astype(np.float32)
            x = np.concatenate([x, -np.arange(-128, 128, dtype=np.float32) * np.float32(scale)
                                + np.float32(scale) * 0.5])
            w.add("quantize", f"scale{scale} zp{zp} n{x.size}", [x.size, zp], [scale], [x],
                  convert.quantize(x, scale=scale, zp=zp))
            q = np.concatenate([np.arange(-128, 128, dtype=np.int8), i8(77)])
            w.add("dequantize", f"scale{scale} zp{zp} n{q.size}", [q.size, zp], [scale], [q],
                  convert.dequantize(q, scale=scale, zp=zp))


def quantize_nchw_cases(w: CaseWriter) -> None:
    """The input quantize with the NCHW -> NHWC move: blocks of 16 pixels and partial ones
    (hw % 16, and kernel_check splits the pixels at `mid` as two threads would), c = 1..5
    (the NEON path interleaves 2 / 3 / 4 with ST2 / ST3 / ST4), special values in every plane."""
    special = np.array([np.nan, np.inf, -np.inf, -0.0, 0.5, 1.5, -2.5, 127.5, -128.5, 1e30],
                       dtype=np.float32)
    for b, c, hw, mid in [(1, 3, 64, 29), (2, 3, 37, 40), (1, 3, 16, 16), (1, 1, 40, 7),
                          (1, 2, 33, 17), (2, 4, 21, 21), (1, 5, 48, 32), (1, 3, 7, 3)]:
        for scale, zp in [(1.0, 0), (0.0078125, -128), (0.1, 3), (3e-3, 127)]:
            x = (RNG.standard_normal((b, c, hw)) * 100 * scale).astype(np.float32)
            flat = x.reshape(-1)
            flat[::7][:special.size] = special[:flat[::7][:special.size].size] * np.float32(scale)
            flat[3::11][:4] = np.float32(scale) * np.float32(0.5) * np.array(
                [1, 3, -5, 255], dtype=np.float32)[:flat[3::11][:4].size]  # exact ties
            with np.errstate(over="ignore", invalid="ignore"):
                y = convert.quantize(x, scale=scale, zp=zp, c=c, hw=hw)
            w.add("quantize_nchw", f"b{b} c{c} hw{hw} mid{mid} scale{scale} zp{zp}",
                  [b, c, hw, zp, mid], [scale], [x], y)


def movement_cases(w: CaseWriter) -> None:
    shapes_perms = [((3,), (0,)), ((4, 5), (1, 0)), ((2, 3, 4), (2, 0, 1)),
                    ((1, 8, 8, 3), (0, 3, 1, 2)), ((2, 3, 4, 5), (3, 2, 1, 0)),
                    ((2, 1, 3, 2, 2), (4, 2, 0, 3, 1)), ((2, 2, 3, 1, 2, 3), (5, 0, 4, 2, 1, 3))]
    for dtype in (np.int8, np.float32):
        for shape, perm in shapes_perms:
            x = (i8(shape) if dtype == np.int8
                 else RNG.standard_normal(shape).astype(np.float32))
            y = movement.transpose(x, shape=shape, perm=perm)
            w.add("transpose", f"{shape} perm{perm} {x.dtype}",
                  [len(shape), x.itemsize, *shape, *perm], [], [x], y)
        for shape, start, step, out in [((10,), (2,), (3,), (3,)), ((10,), (9,), (-2,), (5,)),
                                        ((4, 6, 5), (1, 0, 4), (2, 1, -1), (2, 6, 5)),
                                        ((3, 8, 8, 4), (0, 1, 7, 1), (1, 2, -3, 2),
                                         (3, 4, 3, 2)),
                                        ((2, 3, 4, 5, 2, 3), (1, 2, 0, 4, 1, 0),
                                         (1, -1, 2, -2, -1, 1), (1, 3, 2, 3, 2, 3))]:
            x = (i8(shape) if dtype == np.int8
                 else RNG.standard_normal(shape).astype(np.float32))
            y = movement.slice(x, in_shape=shape, start=start, step=step, out_shape=out)
            w.add("slice", f"{shape} start{start} step{step} {x.dtype}",
                  [len(shape), x.itemsize, *shape, *start, *step, *out], [], [x], y)
        for shape, before, after in [((5,), (2,), (3,)), ((4, 5), (1, 0), (2, 3)),
                                     ((1, 6, 6, 3), (0, 1, 2, 0), (0, 2, 1, 0)),
                                     ((3, 7), (-1, 2), (1, -2)), ((2, 4, 5), (0, -2, 3),
                                                                  (1, 4, -3)),
                                     ((2, 1, 3, 2, 2, 3), (1, 0, 1, 0, 1, 0),
                                      (0, 1, 0, 1, 0, 1))]:
            x = (i8(shape) if dtype == np.int8
                 else RNG.standard_normal(shape).astype(np.float32))
            for mode in (0, 1, 2):
                if mode == 1 and any(b >= n or a >= n for n, b, a in zip(shape, before, after)):
                    continue  # ONNX reflect needs pads < size
                value = np.array([-128 if dtype == np.int8 else -3.5], dtype=dtype)
                y = movement.pad(x, value, in_shape=shape, pad_before=before, pad_after=after,
                                 mode=mode)
                w.add("pad", f"{shape} {before}/{after} mode{mode} {x.dtype}",
                      [len(shape), x.itemsize, mode, *shape, *before, *after], [], [value, x], y)


def build() -> CaseWriter:
    w = CaseWriter()
    for gen in (conv_cases, conv_post_cases, fc_cases, binary_cases, requant_copy_cases,
                lut_cases, pool_cases, resize_cases, softmax_cases, convert_cases, quantize_nchw_cases, movement_cases):
        gen(w)
    return w


def main(argv: list[str]) -> int:
    out = Path(argv[1] if len(argv) > 1 else "arm_cases.bin")
    w = build()
    w.write(out)
    print(f"{len(w.records)} cases ({out.stat().st_size} bytes) -> {out}: "
          + ", ".join(f"{k} {v}" for k, v in w.counts.items()))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
