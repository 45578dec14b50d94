"""Generates the broadcast-family gemm micro-kernels (csrc/kernels/gemm/tiles_*.c).

The tile is written once, here (TILE below); each instruction set contributes only its
primitives (csrc/kernels/gemm/prim_x86.h, prim_emu.h: load weights, broadcast an activation
group, the dot step, the epilogue) and its tile shapes. Run after editing this file:

    python tools/gen_gemm_tiles.py           # rewrites the files
    python tools/gen_gemm_tiles.py --check   # exit 1 if a committed file is out of date

Why a generator rather than C macros (docs/KERNELS.md, "gemm: the template"): the output is
plain C that reads, debugs and profiles like hand-written code (one named variable per
accumulator register, no 40-line macro bodies), and a new ISA is one entry in SETS.
"""

from __future__ import annotations

import sys
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
OUT = ROOT / "csrc" / "kernels" / "gemm"


@dataclass(frozen=True)
class Set:
    name: str  # primitive prefix and kernel-name suffix (i8_gemm_6x16c4__<name>)
    lanes: int  # int32 lanes per vector
    ku: int  # k per lane group (2: int16 pairs, 4: u8 x s8 quads); a group is 4 bytes
    attr: str  # function attribute macro ("" for portable C)
    header: str  # primitive header
    guard: str  # preprocessor condition ("" for every target)
    tiles: tuple[tuple[int, int], ...]  # (MR, NR), widest NR first; one MR per set
    doc: str
    astep: int = 4  # bytes of a prepared row per k group (16: the group pre-broadcast)
    lane: bool = False  # lane-broadcast dot: one 16-byte row load feeds 4 k groups (NEON sdot)
    pair: bool = False  # quad-pair form: two k quads per int16 product lane (NEON smull + smlal)
    asm_loop: bool = False  # pair form: the 16-wide tile's k loop as one aarch64 asm block
    # the dot reads its weights from memory (a load-op operand, _dotm(acc, x, pointer)) rather
    # than from a register: avx2ubs needs a product and a ones register besides the
    # accumulators, and 6 rows x 2 accumulators + broadcast + ones + product = 15 of 16 ymm
    # only without weight registers (gcc spilled an accumulator of the 6x16 tile otherwise)
    wmem: bool = False
    # a partial row tile of at most small_mr rows runs a small_mr-row tile (generated beside,
    # static) instead of repeating rows: avx2ubs at 16 tokens (6 + 6 + 4 rows) spent an eighth
    # of its products on the repeated rows of the last tile
    small_mr: int = 0


X86 = "defined(I8_GEMM_HAVE_X86)"
SETS = (
    Set("sse2", 4, 2, "", "prim_x86.h", "defined(I8_GEMM_HAVE_SSE2)", ((6, 8),),
        "SSE2 (the x86-64 baseline, the scalar path): pmaddwd on int16 pairs (K2N16 panels), "
        "activation pairs pre-broadcast to 16 bytes by pack_a (no movd + pshufd per row)", 16),
    Set("avx2", 8, 2, "I8_ATTR_AVX2", "prim_x86.h", X86, ((6, 16), (6, 8)),
        "AVX2: vpmaddwd on int16 pairs (K2N16 panels, activations widened to int16)"),
    Set("avx2ubs", 8, 4, "I8_ATTR_AVX2", "prim_x86.h", X86, ((6, 16), (6, 8)),
        "AVX2 on weights within [-64, 64]: vpmaddubsw (u8 x s8 pairs into int16, which cannot "
        "saturate there; weights as its memory operand) + vpmaddwd by ones + vpaddd (K4N16 "
        "panels with w_le64, activations as x ^ 0x80)", wmem=True, small_mr=4),
    Set("avxvnni", 8, 4, "I8_ATTR_AVXVNNI", "prim_x86.h", "defined(I8_GEMM_HAVE_AVXVNNI_VEX)",
        ((6, 16), (6, 8)),
        "AVX-VNNI: VEX ymm vpdpbusd (K4N16 panels, activations as x ^ 0x80)"),
    Set("avxvnni_evex", 8, 4, "I8_ATTR_AVXVNNI_EVEX", "prim_x86.h", X86, ((6, 16), (6, 8)),
        "the avxvnni tiles with the EVEX ymm vpdpbusd (AVX512-VL + AVX512-VNNI CPUs without "
        "AVX-VNNI)"),
    Set("avx512vnni", 16, 4, "I8_ATTR_AVX512VNNI", "prim_x86.h", X86,
        ((8, 48), (8, 32), (8, 16)),
        "AVX512-VNNI: zmm vpdpbusd (K4N16 panels, activations as x ^ 0x80)"),
    Set("avx2_emu", 8, 2, "", "prim_emu.h", "", ((6, 16), (6, 8)),
        "portable emulation of the avx2 tiles"),
    Set("avx2ubs_emu", 8, 4, "", "prim_emu.h", "", ((6, 16), (6, 8)),
        "portable emulation of the avx2ubs tiles (vpmaddubsw's saturation included)",
        wmem=True, small_mr=4),
    Set("avxvnni_emu", 8, 4, "", "prim_emu.h", "", ((6, 16), (6, 8)),
        "portable emulation of the avxvnni tiles"),
    Set("avx512vnni_emu", 16, 4, "", "prim_emu.h", "", ((8, 48), (8, 32), (8, 16)),
        "portable emulation of the avx512vnni tiles"),
    Set("neondot4", 4, 4, "I8_ATTR_NEONDOT", "prim_neon.h", "defined(I8_GEMM_HAVE_NEONDOT)",
        ((5, 16), (5, 8)),
        "NEON dotprod (Armv8.2 sdot, Pi 5): lane-broadcast vdotq_laneq_s32 on s8 x s8 quads "
        "(K4N16S panels, activations as they are)", lane=True, asm_loop=True),
    Set("neondot4_emu", 4, 4, "", "prim_emu.h", "", ((5, 16), (5, 8)),
        "portable emulation of the neondot4 tiles", lane=True),
    Set("neonmlal", 4, 4, "", "prim_neon.h", "defined(__aarch64__)", ((2, 16), (2, 8)),
        "NEON without dotprod (Armv8.0, Pi 3 / Pi 4): smull + smlal of two k quads into int16 "
        "lanes, sadalp into int32 (K4N16S panels without a -128 weight, activations as they "
        "are, each k quad broadcast by pack_a)", 16, pair=True, asm_loop=True),
    Set("neonmull", 4, 4, "", "prim_neon.h", "defined(__aarch64__)", ((2, 16), (2, 8)),
        "NEON without dotprod, one product per int16 lane: smull + sadalp per k quad (K4N16S "
        "panels holding a -128 weight)", 16, pair=True),
    Set("neonmlal_emu", 4, 4, "", "prim_emu.h", "", ((2, 16), (2, 8)),
        "portable emulation of the neonmlal tiles", 16, pair=True),
    Set("neonmull_emu", 4, 4, "", "prim_emu.h", "", ((2, 16), (2, 8)),
        "portable emulation of the neonmull tiles", 16, pair=True),
)

HEADER = """\
/* GENERATED by tools/gen_gemm_tiles.py from its tile template: do not edit; edit the
 * generator (or the primitives in {header}) and rerun it.
 *
 * {doc}.
 * Micro-kernel contract (gemm.h, "micro-kernels"): rows [0, mr) of the prepared activations a
 * (kc elements per row, a multiple of {ku}, row stride a_stride bytes) times output channels
 * [0, nc) of the packed weights w (16-channel blocks of kc / {ku} groups of 4 bytes per channel)
 * into c (row stride c_stride bytes), through the epilogue of p. Rows past mr repeat row
 * mr - 1 (same inputs, same outputs), so a partial tile needs no separate code. */
"""


# gcc's tree PRE treats the row loads as partially redundant (rows past mr alias row mr - 1)
# and hoists every row's broadcast ahead of the dots: with 16 ymm registers that spilled 9
# accumulators in the AVX2 6x16 tile (-40 % at 1024^3). Measured on gcc 12.2.
PRAGMA = """\
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC optimize({opts})
#endif
"""
ASM_MIN_KC = 64  # pair_asm_loop: from this k on its 16 accumulator moves are repaid
LANE_ASM_MIN_KC = 48  # lane_asm_loop from here on (measured: the C loop is cheaper at kc = 16, 32)

# gcc 12's first (pre-allocation) scheduler, on aarch64, hoists the weight loads of a whole k
# step ahead of the products: the NEON tiles then spilled accumulators (2x16 pair tile: 160
# instructions per 16 k with it, 123 without). Measured on aarch64-linux-gnu-gcc 12.2.
PRAGMA_OPTS = {"prim_neon.h": '"no-tree-pre", "no-schedule-insns"'}


def prologue(s: Set, mr: int, nr: int) -> list[str]:
    """The micro-kernel's signature and its row pointers: rows past mr alias row mr - 1 (the
    contract in HEADER), so a partial tile runs the same code (or, with s.small_mr, hands a
    tile of at most small_mr rows to the small tile)."""
    attr = f"{s.attr} " if s.attr else ""
    small = s.small_mr and mr == s.small_mr
    o = [f"{'static ' if small else ''}{attr}void i8_gemm_{mr}x{nr}c{s.ku}__{s.name}(",
         "    size_t mr, size_t nc, size_t kc, const void *a, size_t a_stride, const void *w, void *c,",
         "    size_t c_stride, const i8_gemm_params *p) {"]
    if s.small_mr and mr > s.small_mr:
        o += [f"    if (mr <= {s.small_mr}) {{",
              (f"        i8_gemm_{s.small_mr}x{nr}c{s.ku}__{s.name}(mr, nc, kc, a, a_stride, w, "
               "c, c_stride, p);"),
              "        return;",
              "    }"]
    o += ["    const unsigned char *a0 = (const unsigned char *)a;",
          "    unsigned char *c0 = (unsigned char *)c;"]
    for r in range(1, mr):
        o += [f"    const unsigned char *a{r} = a{r - 1} + a_stride;",
              f"    unsigned char *c{r} = c{r - 1} + c_stride;",
              f"    if (mr <= {r}) {{",
              f"        a{r} = a{r - 1};",
              f"        c{r} = c{r - 1};",
              "    }"]
    return o


def lane_tile(s: Set, mr: int, nr: int) -> str:
    """The lane-broadcast form (s.lane): per 16 bytes of every row (4 k groups, one load), for
    each group l the 16 channels' weights (4 vectors) meet lane l of every row's load; then the
    16-channel epilogue per row. 4x16 on NEON: 16 accumulators + 4 rows + 4 weights = 24 of 32
    vector registers, no horizontal sums."""
    assert nr in (8, 16) and s.lanes == 4
    nv = nr // 4
    p = s.name
    o = prologue(s, mr, nr)
    o += [f"    const size_t bytes = kc; /* {KC_DOC} */",
          "    const unsigned char *wp = (const unsigned char *)w;"]
    for v in range(nv):
        o.append(f"    {p}_vec acc0_{v} = {p}_acc0(p->bias + {4 * v});")
    for r in range(1, mr):
        o += [f"    {p}_vec acc{r}_{v} = acc0_{v};" for v in range(nv)]
    asm = s.asm_loop and nr == 16 and mr == 5
    ind = "    " if asm else ""
    if asm:
        o += lane_asm_loop(p, mr)
        o += ["    " + x for x in lane_tail(p, mr, nv, "a{r}", "w0")]
        o.append("    } else {")
    o.append(f"{ind}    for (size_t q = 0; q + 16 <= bytes; q += 16) {{")
    for r in range(mr):
        o.append(f"{ind}        const {p}_xvec x{r} = {p}_loadx(a{r} + q);")
    o.append(f"{ind}        {p}_wvec {', '.join(f'w{v}' for v in range(nv))};")
    for lane in range(4):
        for v in range(nv):
            off = f"16 * q + {64 * lane + 16 * v}" if 64 * lane + 16 * v else "16 * q"
            o.append(f"{ind}        w{v} = {p}_loadw(wp + {off});")
        for r in range(mr):
            for v in range(nv):
                o.append(f"{ind}        acc{r}_{v} = {p}_dot{lane}(acc{r}_{v}, w{v}, x{r});")
    o.append(f"{ind}    }}")
    o += [ind + x for x in lane_tail(p, mr, nv, "a{r} + (bytes & ~(size_t)15)",
                                     "wp + 16 * (bytes & ~(size_t)15)")]
    if asm:
        o.append("    }")
    o.append(f"    const {p}_rq rq = {p}_rq_init_m(&p->rq, p->mult);")
    o.append(f"    const size_t n0 = nc < {nr} ? nc : {nr};")
    if nv < 4:  # the 16-channel epilogue on fewer vectors (bias / mult pad to 16 channels)
        o.append(f"    const {p}_vec z = {p}_zero();")
    rows = [f"{p}_store16x4(&rq, " + ", ".join(f"acc{r}_{v}" if v < nv else "z"
                                                for v in range(4)) + f", p->mult, c{r}, {{n}});"
            for r in reversed(range(mr))]  # row mr - 1 written last: repeated rows rewrite it
    o += whole_or_partial(nr, rows)
    o.append("}")
    return "\n".join(o) + "\n"


COLS_DOC = """\
/* {name}: the {mr}x16 tile over nb whole 16-channel blocks in one
 * call (the driver's loop order when every weight fits in L1: a row tile meets every column
 * block in turn). Blocks are w_block bytes apart in w; bias, mult and c advance 16 channels
 * per block. int8 output only (p->rq.out_f32 == 0); rows past mr repeat row mr - 1 as in the
 * tile. Arithmetic and results are exactly i8_gemm_{mr}x16c4__{set}'s, block by block
 * (docs/KERNELS.md, "Small-k costs"). */
"""


def lane_cols(s: Set, mr: int) -> str:
    """The column loop of the lane tile for whole 16-channel blocks. Native (asm_loop): one
    aarch64 asm block per call, so the per-tile costs (call, row pointers, callee-saved
    registers, epilogue constants) are paid once per row tile instead of once per 16
    channels; per block: 5 LD1 start the 20 accumulators at the bias, per 16 k one LDR per
    row (register offset, reset per block) and one LD1 of four weight registers per quad,
    the kc % 16 == 8 half step, one LD1 of the 16 multipliers and the requantization of
    requant/neon.h in place (i8_neon_rq8 + i8_neon_finish16, instruction for instruction).
    Portable twin: the same loop over the tile function."""
    name = f"i8_gemm_{mr}x16c4_cols__{s.name}"
    tile_fn = f"i8_gemm_{mr}x16c4__{s.name}"
    attr = f"{s.attr} " if s.attr else ""
    o = [COLS_DOC.format(name=name, mr=mr, set=s.name).rstrip("\n"),
         f"{attr}void {name}(",
         "    size_t mr, size_t nb, size_t kc, const void *a, size_t a_stride, const void *w,",
         "    size_t w_block, void *c, size_t c_stride, const i8_gemm_params *p) {"]
    if not s.asm_loop:
        o += ["    i8_gemm_params q = *p;",
              "    const unsigned char *wb = (const unsigned char *)w;",
              "    unsigned char *cb = (unsigned char *)c;",
              "    for (size_t b = 0; b < nb; b++) {",
              f"        {tile_fn}(mr, 16, kc, a, a_stride, wb + b * w_block, cb + 16 * b,",
              "            c_stride, &q);",
              "        q.bias += 16;",
              "        q.mult += 16;",
              "    }",
              "}"]
        return "\n".join(o) + "\n"
    assert mr == 5
    o += prologue(s, mr, 16)[3:]
    p = s.name
    o += [f"    const {p}_rq rq = {p}_rq_init_m(&p->rq, p->mult);",
          "    const int32_t *bias = p->bias;",
          "    const float *mult = p->mult;",
          "    const unsigned char *wb = (const unsigned char *)w;",
          f"    const int clamp = {CLAMP_TEST};",
          "    /* MobileNetV2's small k with the k steps written out (no k loop, rows at fixed",
          "     * offsets; kc = 16: the rows loaded once per call); weight blocks contiguous */"]
    for kc in COLS_FIXED_KC:
        o.append(f"    if (kc == {kc} && w_block == {16 * -(-kc // 16) * 16}) {{")
        o.append("        if (clamp) {")
        o += ["    " + x for x in cols_asm(mr, kc, True)[1:-1]]  # the braces hold its locals
        o.append("        } else {")
        o += ["    " + x for x in cols_asm(mr, kc, False)[1:-1]]
        o += ["        }", "        return;", "    }"]
    o += ["    if (clamp)"] + cols_asm(mr, None, True) + ["    else"]
    o += cols_asm(mr, None, False) + ["}"]
    return "\n".join(o) + "\n"


# The clamp to [qmin, qmax] is SQXTN's own saturation when the bounds are the whole int8 range
# (every layer of MobileNetV2: ReLU6 is quantized to [0, 6] -> [-128, 127]), so the column
# loops come without SMAX / SMIN too: 2 of the 23 instructions per row of 16 outputs.
CLAMP_TEST = "p->rq.qmin > -128 || p->rq.qmax < 127"


COLS1_DOC = """\
/* {name}: one row (mr == 1: a classifier at batch 1, the last row of
 * a row block) against nb whole 16-channel blocks, int8 or float32 output; a_stride and
 * c_stride are unused. The 5-row tile would compute that row 5 times (rows past mr repeat
 * it). Results exactly i8_gemm_5x16c4__{set}'s for that row. */
"""


def lane_cols1(s: Set) -> str:
    """lane_cols for a single row: native, one asm block (per 16 k one LDR, per quad one LD1
    of four weight registers and 4 SDOT by element; the epilogue of lane_cols for int8, SCVTF
    + FMUL + one ST1 of four registers for float32, as i8_neon_gemm_store16x4's scalar
    acc * mult); portable twin: the tile with mr = 1."""
    name = f"i8_gemm_1x16c4_cols__{s.name}"
    tile_fn = f"i8_gemm_{s.tiles[0][0]}x16c4__{s.name}"
    attr = f"{s.attr} " if s.attr else ""
    o = [COLS1_DOC.format(name=name, set=s.name).rstrip("\n"),
         f"{attr}void {name}(",
         "    size_t mr, size_t nb, size_t kc, const void *a, size_t a_stride, const void *w,",
         "    size_t w_block, void *c, size_t c_stride, const i8_gemm_params *p) {"]
    if not s.asm_loop:
        o += ["    i8_gemm_params q = *p;",
              "    const unsigned char *wb = (const unsigned char *)w;",
              "    const size_t esz = p->rq.out_f32 ? sizeof(float) : 1;",
              "    for (size_t b = 0; b < nb; b++) {",
              f"        {tile_fn}(1, 16, kc, a, 0, wb + b * w_block,",
              "            (unsigned char *)c + 16 * esz * b, 0, &q);",
              "        q.bias += 16;",
              "        q.mult += 16;",
              "    }",
              "}"]
        return "\n".join(o) + "\n"
    p = s.name
    o += [f"    const {p}_rq rq = {p}_rq_init_m(&p->rq, p->mult);",
          "    const int32_t *bias = p->bias;",
          "    const float *mult = p->mult;",
          "    const unsigned char *wb = (const unsigned char *)w, *wk;",
          "    const unsigned char *a0 = (const unsigned char *)a;",
          "    unsigned char *c0 = (unsigned char *)c;",
          "    size_t xk, cnt;",
          "    const size_t n16 = kc / 16;"]
    acc = [16, 17, 18, 19]

    def step(lanes: range) -> list[str]:
        b = ["ldr q0, [%[a0], %[xk]]", "add %[xk], %[xk], #16"]
        for lane in lanes:
            b.append("ld1 {v4.16b, v5.16b, v6.16b, v7.16b}, [%[wk]], #64")
            b += [f"sdot v{acc[v]}.4s, v{4 + v}.16b, v0.4b[{lane}]" for v in range(4)]
        return b

    head = ["0:", "mov %[xk], #0", "mov %[wk], %[wb]",
            "ld1 {v16.4s, v17.4s, v18.4s, v19.4s}, [%[bias]], #64",
            "cbz %[n16], 2f", "mov %[cnt], %[n16]", "1:"] + step(range(4))
    head += ["subs %[cnt], %[cnt], #1", "b.ne 1b", "2:", "tbz %[kc], #3, 3f"]
    head += step(range(2)) + ["3:", "ld1 {v20.4s, v21.4s, v22.4s, v23.4s}, [%[mult]], #64"]
    head += [f"scvtf v{x}.4s, v{x}.4s" for x in acc]
    head += [f"fmul v{x}.4s, v{x}.4s, v{20 + v}.4s" for v, x in enumerate(acc)]
    tail = ["add %[wb], %[wb], %[wblk]", "subs %[nb], %[nb], #1", "b.ne 0b"]
    int8 = [f"fcvtns v{x}.4s, v{x}.4s" for x in acc]
    int8 += ["sqxtn v16.4h, v16.4s", "sqxtn2 v16.8h, v17.4s", "sqxtn v18.4h, v18.4s",
             "sqxtn2 v18.8h, v19.4s", "sqadd v16.8h, v16.8h, %[zp].8h",
             "sqadd v18.8h, v18.8h, %[zp].8h", "sqxtn v16.8b, v16.8h", "sqxtn2 v16.16b, v18.8h"]
    clamp = ["smax v16.16b, v16.16b, %[qmin].16b", "smin v16.16b, v16.16b, %[qmax].16b"]
    store = ["str q16, [%[c0]], #16"]
    f32 = ["st1 {v16.4s, v17.4s, v18.4s, v19.4s}, [%[c0]], #64"]
    ops = ['            : [xk] "=&r"(xk), [wk] "=&r"(wk), [cnt] "=&r"(cnt), [wb] "+r"(wb),',
           '              [bias] "+r"(bias), [mult] "+r"(mult), [nb] "+r"(nb), [c0] "+r"(c0)',
           '            : [a0] "r"(a0), [n16] "r"(n16), [kc] "r"(kc), [wblk] "r"(w_block),',
           '              [zp] "w"(rq.r.zp), [qmin] "w"(rq.r.qmin), [qmax] "w"(rq.r.qmax)',
           '            : "v0", "v4", "v5", "v6", "v7", "v16", "v17", "v18", "v19", "v20",',
           '              "v21", "v22", "v23", "cc", "memory");']
    o.append(f"    const int clamp = {CLAMP_TEST};")
    for cond, body in (("if (p->rq.out_f32) {", f32), ("} else if (clamp) {", int8 + clamp + store),
                       ("} else {", int8 + store)):
        o += [f"    {cond}", "        __asm__ volatile("]
        o += [f'            "{x}\\n\\t"' for x in head + body + tail]
        o += ops
    o += ["    }", "}"]
    return "\n".join(o) + "\n"


COLS_FIXED_KC = (16, 24, 32)  # lane_cols: k steps written out for these kc


def cols_asm(mr: int, kc: int | None, clamp: bool) -> list[str]:
    """lane_cols' asm block: kc None, any kc (per block the 5 row pointers from memory, then
    the k loop of lane_asm_loop: post-incremented row loads, two 16-k steps per SUBS + B.NE,
    90.5 instructions per 16 k as the tile's); else the steps of that kc written out
    (weights contiguous across blocks: w_block = 16 * kp)."""
    acc = [[12 + 4 * r + v for v in range(4)] for r in range(mr)]
    fixed = kc is not None
    hoist = kc == 16  # the rows (v0-v4) stay loaded for every block
    ins = []
    if hoist:
        ins += [f"ldr q{r}, [%[a{r}]]" for r in range(mr)]
    ins += ["0:"] + ([] if fixed else ["ldp %[p0], %[p1], [%[rows]]",
                                       "ldp %[p2], %[p3], [%[rows], #16]",
                                       "ldr %[p4], [%[rows], #32]", "mov %[wk], %[wb]"])
    for r in range(mr):
        regs = ", ".join(f"v{x}.4s" for x in acc[r])
        ins.append(f"ld1 {{{regs}}}, [%[bias]]" + (", #64" if r == mr - 1 else ""))

    def step(lanes: range, at: int | None) -> list[str]:
        if hoist:
            b = []
        elif at is None:
            b = [f"ldr q{r}, [%[p{r}]], #16" for r in range(mr)]
        else:
            b = [f"ldr q{r}, [%[a{r}]" + (f", #{at}]" if at else "]") for r in range(mr)]
        for lane in lanes:
            b.append("ld1 {v8.16b, v9.16b, v10.16b, v11.16b}, [%[" + ("wb" if fixed else "wk")
                     + "]], #64")
            b += [f"sdot v{acc[r][v]}.4s, v{8 + v}.16b, v{r}.4b[{lane}]"
                  for r in range(mr) for v in range(4)]
        return b

    if fixed:
        for q in range(kc // 16):
            ins += step(range(4), 16 * q)
        if kc % 16:
            ins += step(range(2), 16 * (kc // 16))
            ins.append(f"add %[wb], %[wb], #{(16 - kc % 16) * 16}")  # kp's zero padding
    else:
        body = step(range(4), None)  # an odd step first, then two per iteration
        ins += ["cbz %[n16], 2f", "mov %[cnt], %[n16]", "tbz %[cnt], #0, 4f"] + body
        ins += ["4:", "lsr %[cnt], %[cnt], #1", "cbz %[cnt], 2f", "1:"] + body + body
        ins += ["subs %[cnt], %[cnt], #1", "b.ne 1b", "2:", "tbz %[kc], #3, 3f"]
        ins += step(range(2), None) + ["3:"]
    ins.append("ld1 {v8.4s, v9.4s, v10.4s, v11.4s}, [%[mult]], #64")
    for r in reversed(range(mr)):  # row mr - 1 written last: repeated rows rewrite it equal
        A, B, C, D = acc[r]
        ins += [f"scvtf v{x}.4s, v{x}.4s" for x in acc[r]]
        ins += [f"fmul v{x}.4s, v{x}.4s, v{8 + v}.4s" for v, x in enumerate(acc[r])]
        ins += [f"fcvtns v{x}.4s, v{x}.4s" for x in acc[r]]
        ins += [f"sqxtn v{A}.4h, v{A}.4s", f"sqxtn2 v{A}.8h, v{B}.4s",
                f"sqxtn v{C}.4h, v{C}.4s", f"sqxtn2 v{C}.8h, v{D}.4s",
                f"sqadd v{A}.8h, v{A}.8h, %[zp].8h", f"sqadd v{C}.8h, v{C}.8h, %[zp].8h",
                f"sqxtn v{A}.8b, v{A}.8h", f"sqxtn2 v{A}.16b, v{C}.8h",
                *([f"smax v{A}.16b, v{A}.16b, %[qmin].16b",
                   f"smin v{A}.16b, v{A}.16b, %[qmax].16b"] if clamp else []),
                f"str q{A}, [%[c{r}]], #16" if fixed else f"str q{A}, [%[c{r}], %[xj]]"]
    ins += ([] if fixed else ["add %[xj], %[xj], #16", "add %[wb], %[wb], %[wblk]"])
    ins += ["subs %[nb], %[nb], #1", "b.ne 0b"]
    clob = [f'"v{i}"' for i in list(range(mr)) + list(range(8, 32))]
    if fixed:  # 26 operands: the output pointers post-incremented
        o = ["    {",
             "        unsigned char *d0 = c0, *d1 = c1, *d2 = c2, *d3 = c3, *d4 = c4;"]
        outs = ['[wb] "+r"(wb), [bias] "+r"(bias), [mult] "+r"(mult), [nb] "+r"(nb),',
                ", ".join(f'[c{r}] "+r"(d{r})' for r in range(mr))]
        ins_ops = [", ".join(f'[a{r}] "r"(a{r})' for r in range(mr)) + ",",
                   '[zp] "w"(rq.r.zp), [qmin] "w"(rq.r.qmin), [qmax] "w"(rq.r.qmax)']
    else:  # 29 operands (an asm statement takes 30)
        o = ["    {",
             "        /* the row pointers through memory: an asm statement takes 30 operands */",
             "        const unsigned char *rows[5] = {a0, a1, a2, a3, a4};",
             "        const unsigned char *wk, *p0, *p1, *p2, *p3, *p4;",
             "        size_t xj = 0, cnt;",
             "        const size_t n16 = kc / 16;"]
        outs = [", ".join(f'[p{r}] "=&r"(p{r})' for r in range(mr)) + ",",
                '[wk] "=&r"(wk), [cnt] "=&r"(cnt), [xj] "+r"(xj),',
                '[wb] "+r"(wb), [bias] "+r"(bias), [mult] "+r"(mult), [nb] "+r"(nb)']
        ins_ops = ['[rows] "r"(rows),',
                   ", ".join(f'[c{r}] "r"(c{r})' for r in range(mr)) + ",",
                   '[n16] "r"(n16), [kc] "r"(kc), [wblk] "r"(w_block), [zp] "w"(rq.r.zp),',
                   '[qmin] "w"(rq.r.qmin), [qmax] "w"(rq.r.qmax)']
    o += ["        /* v5-v7 (not clobbered) hold zp, qmin, qmax */", "        __asm__ volatile("]
    o += [f'            "{x}\\n\\t"' for x in ins]
    o += ["            : " + outs[0]] + ["              " + x for x in outs[1:]]
    o += ["            : " + ins_ops[0]] + ["              " + x for x in ins_ops[1:]]
    o += [f'            : {", ".join(clob[:10])},',
          f'              {", ".join(clob[10:20])},',
          f'              {", ".join(clob[20:])}, "cc", "memory");',
          "    }"]
    return o


def unrolled_twice(body: list[str]) -> list[str]:
    """An asm k loop of %[n] >= 1 steps run two steps per iteration: one SUBS + B.NE per 32 k
    instead of per 16 k; an odd step first (TBZ), then n / 2 iterations (3 instructions per
    call for one per 16 k saved)."""
    return (["tbz %[n], #0, 2f"] + body + ["2:", "lsr %[n], %[n], #1", "cbz %[n], 3f", "1:"]
            + body + body + ["subs %[n], %[n], #1", "b.ne 1b", "3:"])


def lane_asm_loop(p: str, mr: int) -> list[str]:
    """The 5x16 lane tile's k loop as one aarch64 asm block, for kc >= LANE_ASM_MIN_KC: per 16
    k, one post-incremented LDR per row (4 k quads), per quad the 16 channels' weights in one
    LD1 of four registers (post-increment), 80 SDOT by element, and SUBS + B.NE per two steps
    (unrolled_twice): 90.5 instructions per 1280 products (1.13 per SDOT) against 80 per 1024
    (1.25) for the 4x16 tile from the intrinsics (gcc loads the weights with 8 LDP and keeps
    an index and a compare). Registers: v0-v4 the rows, v8-v11 the weights, v12-v31 the 20 accumulators
    (rows past mr repeat row mr - 1 through their own pointer register, so the post-increments
    stay independent). The accumulators start at the bias inside the block and leave through
    memory (5 ST1 of four registers); an asm statement cannot take 20 in-out operands."""
    assert mr == 5
    ins = ["ld1 {v12.4s, v13.4s, v14.4s, v15.4s}, [%[bias]]"]
    ins += [f"mov v{12 + 4 * r + v}.16b, v{12 + v}.16b" for r in range(1, mr) for v in range(4)]
    body = [f"ldr q{r}, [%[a{r}]], #16" for r in range(mr)]
    for lane in range(4):
        body.append("ld1 {v8.16b, v9.16b, v10.16b, v11.16b}, [%[w]], #64")
        body += [f"sdot v{12 + 4 * r + v}.4s, v{8 + v}.16b, v{r}.4b[{lane}]"
                 for r in range(mr) for v in range(4)]
    ins += unrolled_twice(body)
    ins += [f"st1 {{v{12 + 4 * r}.4s, v{13 + 4 * r}.4s, v{14 + 4 * r}.4s, v{15 + 4 * r}.4s}}, "
            f"[%[acc]], #64" for r in range(mr)]
    clob = ", ".join(f'"v{i}"' for i in list(range(mr)) + list(range(8, 32)))
    o = ["    if (bytes >= LANE_ASM_MIN_KC) { /* lane_asm_loop in tools/gen_gemm_tiles.py */",
         f"        {p}_vec acc[{4 * mr}];",
         "        size_t n = bytes / 16;",
         "        const unsigned char *w0 = wp;",
         "        void *accp = acc;",
         "        __asm__ volatile("]
    o += [f'            "{x}\\n\\t"' for x in ins]
    o += ["            : " + ", ".join(f'[a{r}] "+r"(a{r})' for r in range(mr))
          + ', [w] "+r"(w0),',
          '              [n] "+r"(n), [acc] "+r"(accp)',
          '            : [bias] "r"(p->bias)',
          f"            : {clob}, \"cc\", \"memory\");"]
    o += [f"        acc{r}_{v} = acc[{4 * r + v}];" for r in range(mr) for v in range(4)]
    return o


# the dot length kc of the NEON K4N16S tiles: the driver passes k rounded up to 8, not kp
KC_DOC = "kc int8 per row: k rounded up to 8 (rows and weight blocks: kp)"


def lane_tail(p: str, mr: int, nv: int, arow: str, wbase: str) -> list[str]:
    """kc % 16 == 8 (k = 24, 40, ...: MobileNetV2's k = 24 layers): lanes 0 and 1 (two k
    quads) of one more 16-byte row load, instead of a whole step over zero padding (quads 2,
    3 of it are the padding of kp; the load stays inside the kp-byte row). arow / wbase: the
    rows' and weights' position after the whole steps ({r}: the row)."""
    o = ["    if (bytes & 8) { /* lane_tail in tools/gen_gemm_tiles.py */",
         f"        const unsigned char *wt = {wbase};"]
    for r in range(mr):
        o.append(f"        const {p}_xvec x{r} = {p}_loadx({arow.format(r=r)});")
    o.append(f"        {p}_wvec {', '.join(f'w{v}' for v in range(nv))};")
    for lane in (0, 1):
        for v in range(nv):
            off = 64 * lane + 16 * v
            o.append(f"        w{v} = {p}_loadw(wt{f' + {off}' if off else ''});")
        for r in range(mr):
            for v in range(nv):
                o.append(f"        acc{r}_{v} = {p}_dot{lane}(acc{r}_{v}, w{v}, x{r});")
    o.append("    }")
    return o


def pair_k_loop(s: Set, p: str, mr: int, nr: int, ng: int) -> list[str]:
    """The quad-pair k loop: the asm loop (2x16 tiles of sets with one) with the C loop as its
    fallback for short k, else the C loop alone."""
    if not (s.asm_loop and nr == 16 and mr == 2):
        return pair_c_loop(s, mr, ng)
    return (pair_asm_loop(p) + ["    " + x for x in pair_tail(p, mr, ng, "a{r}", "w0")]
            + ["    } else {"] + ["    " + x for x in pair_c_loop(s, mr, ng)] + ["    }"])


def pair_c_loop(s: Set, mr: int, ng: int) -> list[str]:
    """The pair form's k loop in primitives (intrinsics / the portable twin)."""
    p = s.name
    o = []
    o.append("    for (size_t q = 0; q + 16 <= bytes; q += 16) { /* two quad pairs */")
    assert s.astep == 16  # pack_a stores every quad broadcast: one 16-byte load, no DUP
    for sub in (0, 1):  # quads 2 sub (A) and 2 sub + 1 (B)
        o += pair_step(p, mr, ng, sub, "a{r} + 4 * q", "wp + 16 * q")
    o.append("    }")
    o += pair_tail(p, mr, ng, "a{r} + 4 * (bytes & ~(size_t)15)",
                   "wp + 16 * (bytes & ~(size_t)15)")
    return o


def pair_step(p: str, mr: int, ng: int, sub: int, arow: str, wbase: str) -> list[str]:
    """One quad pair (quads 2 sub and 2 sub + 1 of a 16-byte k step) of the pair form."""
    o = []
    for r in range(mr):
        a = arow.format(r=r)
        o.append(f"        const {p}_xvec xa{r}_{sub} = {p}_loadx({a} + {32 * sub});")
        o.append(f"        const {p}_xvec xb{r}_{sub} = {p}_loadx({a} + {32 * sub + 16});")
    for gp in range(ng // 2):  # channel groups 2 gp, 2 gp + 1: two weight vectors per load
        wo = 128 * sub + 32 * gp
        o.append(f"        const {p}_wvec2 wa{gp}_{sub} = {p}_loadw2({wbase} + {wo});")
        o.append(f"        const {p}_wvec2 wb{gp}_{sub} = {p}_loadw2({wbase} + {wo + 64});")
        for i in (0, 1):
            g = 2 * gp + i
            for r in range(mr):
                for h, half in ((0, "lo"), (1, "hi")):
                    v = 2 * g + h
                    o.append(f"        acc{r}_{v} = {p}_dot{half}(acc{r}_{v}, "
                             f"wa{gp}_{sub}.val[{i}], xa{r}_{sub}, wb{gp}_{sub}.val[{i}], "
                             f"xb{r}_{sub});")
    return o


def pair_tail(p: str, mr: int, ng: int, arow: str, wbase: str) -> list[str]:
    """kc % 16 == 8: the first quad pair of one more step only (the second is kp's zero
    padding); as lane_tail."""
    return (["    if (bytes & 8) { /* pair_tail in tools/gen_gemm_tiles.py */"]
            + pair_step(p, mr, ng, 0, arow, wbase) + ["    }"])


def pair_asm_block(ng: int = 4) -> list[str]:
    """8 k of the 2 x (4 ng) pair tile in asm (one quad pair): per row one LD1 of its two
    broadcast quads, the channels' weights of each quad in one LD1 (four registers for 16
    channels; two for 8, stepping over the 16-channel block's other half), all
    post-incremented, then 12 ng SMULL / SMLAL / SADALP into v16-v31 (row r, channel group g:
    lo v(16 + 2 ng r + 2 g), hi the next)."""
    wx = ", #64" if ng == 4 else ", %[ws]"  # 8 wide: 32 bytes of each 64-byte quad
    wa = ", ".join(f"v{4 + g}.16b" for g in range(ng))
    wb = ", ".join(f"v{8 + g}.16b" for g in range(ng))
    body = ["ld1 {v0.16b, v1.16b}, [%[a0]], #32", "ld1 {v2.16b, v3.16b}, [%[a1]], #32",
            f"ld1 {{{wa}}}, [%[w]]{wx}", f"ld1 {{{wb}}}, [%[w]]{wx}"]
    for g in range(ng):
        for r in (0, 1):
            t0, t1 = 12 + 2 * r, 13 + 2 * r
            xa, xb = 2 * r, 2 * r + 1
            acc = 16 + 2 * ng * r + 2 * g
            body += [f"smull v{t0}.8h, v{4 + g}.8b, v{xa}.8b",
                     f"smull2 v{t1}.8h, v{4 + g}.16b, v{xa}.16b",
                     f"smlal v{t0}.8h, v{8 + g}.8b, v{xb}.8b",
                     f"smlal2 v{t1}.8h, v{8 + g}.16b, v{xb}.16b",
                     f"sadalp v{acc}.4s, v{t0}.8h",
                     f"sadalp v{acc + 1}.4s, v{t1}.8h"]
    return body


def pair_rows_asm(p: str, nr: int) -> list[str]:
    """The 2 x nr pair tile's whole row loop as one asm block (aarch64; int8 output, all nr
    channels: the common case), for every kc: per row tile the accumulators start at the
    zipped bias (LD1s of four registers from bz, made once per call), the k loop of
    pair_asm_loop (and an 8-k tail), then ADDP folds and the requantization of
    requant/neon.h in the same order of operations (SCVTF, FMUL by the multiplier, FCVTNS,
    SQXTN to int16, SQADD y_zp, SQXTN to int8, SMAX qmin, SMIN qmax: bit for bit
    i8_neon_rq8 / i8_neon_finish16, lane by lane), its constant vectors reloaded per tile (kv:
    3 loads; the k loop needs all 32 registers). A partial last row tile reads and writes row
    0 twice (CSEL), as the C tile. 2x16: about 60 instructions per tile besides the k loop,
    against about 110 from C (MobileNetV2's k = 16..32 layers)."""
    ng = nr // 4
    nacc = 2 * ng  # accumulators per row
    bz = [f"v{16 + i}.4s" for i in range(2 * nacc)]
    ins = ["4:",
           "mov %[a0], %[ab]",
           "add %[a1], %[ab], %[as]",
           "add %[c1], %[cb], %[cs]",
           "cmp %[rows], #1",
           "csel %[a1], %[a0], %[a1], eq",
           "csel %[c1], %[cb], %[c1], eq",
           "mov %[w], %[wb]",
           "lsr %[n], %[kc], #4"]
    for r in (0, 1):  # row r: the zipped bias, four registers per LD1
        for h in range(0, nacc, 4):
            regs = ", ".join(bz[r * nacc + h: r * nacc + h + 4])
            ins.append(f"ld1 {{{regs}}}, [%[{'bz' if h == 0 else 'bz2'}]]")
    ins += unrolled_twice(pair_asm_block(ng) + pair_asm_block(ng))
    ins += ["tbz %[kc], #3, 5f"] + pair_asm_block(ng) + ["5:"]
    for r in (0, 1):  # fold the lane pairs: channels 4g..4g + 3 in v(16 + nacc r + 2 g)
        ins += [f"addp v{16 + nacc * r + 2 * g}.4s, v{16 + nacc * r + 2 * g}.4s, "
                f"v{17 + nacc * r + 2 * g}.4s" for g in range(ng)]
    mregs = ", ".join(f"v{g}.4s" for g in range(ng))
    ins += [f"ld1 {{{mregs}}}, [%[k]]",  # the multipliers
            "ldr q4, [%[k], #64]",  # y_zp (int16 lanes)
            "ldp q5, q6, [%[k], #80]"]  # qmin, qmax (int8 lanes)
    for r, (t0, t1) in ((0, (7, 8)), (1, (9, 10))):
        acc = [16 + nacc * r + 2 * g for g in range(ng)]
        ins += [f"scvtf v{a}.4s, v{a}.4s" for a in acc]
        ins += [f"fmul v{a}.4s, v{a}.4s, v{g}.4s" for g, a in enumerate(acc)]
        ins += [f"fcvtns v{a}.4s, v{a}.4s" for a in acc]
        if ng == 4:
            ins += [f"sqxtn v{t0}.4h, v{acc[0]}.4s", f"sqxtn2 v{t0}.8h, v{acc[1]}.4s",
                    f"sqxtn v{t1}.4h, v{acc[2]}.4s", f"sqxtn2 v{t1}.8h, v{acc[3]}.4s",
                    f"sqadd v{t0}.8h, v{t0}.8h, v4.8h", f"sqadd v{t1}.8h, v{t1}.8h, v4.8h",
                    f"sqxtn v{t0}.8b, v{t0}.8h", f"sqxtn2 v{t0}.16b, v{t1}.8h",
                    f"smax v{t0}.16b, v{t0}.16b, v5.16b", f"smin v{t0}.16b, v{t0}.16b, v6.16b"]
        else:
            ins += [f"sqxtn v{t0}.4h, v{acc[0]}.4s", f"sqxtn2 v{t0}.8h, v{acc[1]}.4s",
                    f"sqadd v{t0}.8h, v{t0}.8h, v4.8h", f"sqxtn v{t0}.8b, v{t0}.8h",
                    f"smax v{t0}.8b, v{t0}.8b, v5.8b", f"smin v{t0}.8b, v{t0}.8b, v6.8b"]
    st = "q" if ng == 4 else "d"
    ins += [f"str {st}9, [%[c1]]",  # row 1 first: a partial tile's repeated row 0 ends equal
            f"str {st}7, [%[cb]]",
            "add %[ab], %[ab], %[as2]",
            "add %[cb], %[cb], %[cs2]",
            "subs %[rows], %[rows], #2",
            "b.hi 4b"]
    clob = ", ".join(f'"v{i}"' for i in range(32))
    o = [f"    if (nc == {nr} && !rq.r.out_f32 && m) {{ /* pair_rows_asm in tools/gen_gemm_tiles.py */",
         "        int8x16_t kv[7]; /* multipliers, y_zp, qmin, qmax as the epilogue's vectors */",
         "        kv[0] = vreinterpretq_s8_f32(rq.m0);",
         "        kv[1] = vreinterpretq_s8_f32(rq.m1);",
         "        kv[2] = vreinterpretq_s8_f32(rq.m2);",
         "        kv[3] = vreinterpretq_s8_f32(rq.m3);",
         "        kv[4] = vreinterpretq_s8_s16(rq.r.zp);",
         "        kv[5] = rq.r.qmin;",
         "        kv[6] = rq.r.qmax;",
         f"        const {p}_vec bz[{nacc}] = {{{', '.join(f'b_{i}' for i in range(nacc))}}};",
         "        const unsigned char *ab = (const unsigned char *)a, *a0, *a1, *w0;",
         "        unsigned char *cb = (unsigned char *)c, *c1;",
         "        size_t rows = m, n;",
         "        __asm__ volatile("]
    o += [f'            "{x}\\n\\t"' for x in ins]
    bz2 = "[bz2] \"r\"(bz + 4), " if nacc > 4 else ""
    ws = ", [ws] \"r\"((size_t)64)" if ng == 2 else ""
    o += ['            : [ab] "+r"(ab), [cb] "+r"(cb), [rows] "+r"(rows), [a0] "=&r"(a0),',
          '              [a1] "=&r"(a1), [c1] "=&r"(c1), [w] "=&r"(w0), [n] "=&r"(n)',
          '            : [as] "r"(a_stride), [cs] "r"(c_stride), [as2] "r"(2 * a_stride),',
          '              [cs2] "r"(2 * c_stride), [wb] "r"(wp), [kc] "r"(bytes), [bz] "r"(bz),',
          f'              {bz2}[k] "r"(kv){ws}',
          f"            : {clob}, \"cc\", \"memory\");",
          "        return;",
          "    }"]
    return o


def pair_asm_loop(p: str) -> list[str]:
    """The 2x16 pair tile's k loop as one asm block (aarch64), for kc >= ASM_MIN_KC: per 16 k,
    per row one LD1 of the two broadcast quads of each quad pair (post-increment), per quad
    the 16 channels' weights in one LD1 of four registers, then the 96 SMULL / SMLAL /
    SADALP; the counter and the post-incremented pointers leave one loop instruction per 16 k
    (unrolled_twice): 105 per 16 k (96 of them the arithmetic) against 113 from the intrinsics (gcc neither uses the
    multi-register loads with post-increment nor keeps the loop to one counter). v0-v3 hold
    the activations, v4-v11 the weights, v12-v15 the int16 products (two per row, so the two
    rows' chains interleave), v16-v31 the accumulators: an asm statement takes at most 30
    operands (an in-out one counts twice), so they start at the bias inside the block and
    leave through memory (8 STP, 8 LDP per call), which the loop repays from kc = 64 on."""
    accs = [f"acc{r}_{v}" for r in (0, 1) for v in range(8)]
    # the accumulators start at the bias inside the block (as _acc0lo / _acc0hi: bias of
    # channels 4g..4g + 3 zipped with zero, row 1 a copy), not through memory: 18
    # instructions instead of the C side's 19 plus 8 stores and 8 loads
    ins = ["ld1 {v8.4s, v9.4s, v10.4s, v11.4s}, [%[bias]]", "movi v0.16b, #0"]
    for g in range(4):
        ins += [f"zip1 v{16 + 2 * g}.4s, v{8 + g}.4s, v0.4s",
                f"zip2 v{17 + 2 * g}.4s, v{8 + g}.4s, v0.4s"]
    ins += [f"mov v{24 + i}.16b, v{16 + i}.16b" for i in range(8)]
    ins += unrolled_twice(pair_asm_block() + pair_asm_block())
    ins += [f"stp q{16 + 2 * i}, q{17 + 2 * i}, [%[acc], #{32 * i}]" for i in range(8)]
    clob = ", ".join(f'"v{i}"' for i in range(32))
    o = ["    if (bytes >= ASM_MIN_KC) { /* pair_asm_loop in tools/gen_gemm_tiles.py */",
         f"        {p}_vec acc[16];",
         "        size_t n = bytes / 16;",
         "        const unsigned char *w0 = wp;",
         "        __asm__ volatile("]
    o += [f'            "{x}\\n\\t"' for x in ins]
    o += ['            : [a0] "+r"(a0), [a1] "+r"(a1), [w] "+r"(w0), [n] "+r"(n)',
          "            : [acc] \"r\"(acc), [bias] \"r\"(p->bias)",
          f"            : {clob}, \"cc\", \"memory\");"]
    o += [f"        {a} = acc[{i}];" for i, a in enumerate(accs)]
    return o


def pair_tile(s: Set, mr: int, nr: int) -> str:
    """The quad-pair form (s.pair), for NEON without dotprod: the prepared rows hold every k
    quad broadcast to 16 bytes (pack_a, astep 16: a load instead of a DUP per quad and row,
    paid once per row instead of once per column block); for each pair of quads (A, B) of a
    16-byte k step, and for each 4-channel group g the weights of A and B (one vector each: 4
    channels x 4 taps; loaded two groups at a time) meet them in _dotlo (channels 4g, 4g + 1)
    and _dothi (4g + 2, 4g + 3): smull of A + smlal of B put two products in each int16 lane,
    sadalp adds lane pairs into int32. Each accumulator lane thus holds half of one channel's
    dot (taps 0, 1 or 2, 3 of every quad); _fold adds the halves (addp) once, after the k
    loop. 2x16 on NEON: 16 accumulators + 4 broadcasts + 4 weights + 2 int16 products = 26
    of 32 registers (3 rows would need 35)."""
    assert nr in (8, 16) and s.lanes == 4
    ng = nr // 4  # 4-channel groups
    p = s.name
    o = prologue(s, mr, nr)
    o += [f"    const size_t bytes = kc; /* {KC_DOC} */",
          "    const unsigned char *wp = (const unsigned char *)w;"]
    for g in range(ng):  # the bias in the first half of each channel's lane pair
        o.append(f"    {p}_vec acc0_{2 * g} = {p}_acc0lo(p->bias + {4 * g});")
        o.append(f"    {p}_vec acc0_{2 * g + 1} = {p}_acc0hi(p->bias + {4 * g});")
    for r in range(1, mr):
        o += [f"    {p}_vec acc{r}_{v} = acc0_{v};" for v in range(2 * ng)]
    o += pair_k_loop(s, p, mr, nr, ng)
    o.append(f"    const {p}_rq rq = {p}_rq_init_m(&p->rq, p->mult);")
    o.append(f"    const size_t n0 = nc < {nr} ? nc : {nr};")
    if ng < 4:  # the 16-channel epilogue on fewer vectors (bias / mult pad to 16 channels)
        o.append(f"    const {p}_vec z = {p}_zero();")
    rows = []
    for r in reversed(range(mr)):  # row mr - 1 written last: repeated rows rewrite it equal
        folds = ", ".join(f"{p}_fold(acc{r}_{2 * g}, acc{r}_{2 * g + 1})" if g < ng else "z"
                          for g in range(4))
        rows.append(f"{p}_store16x4(&rq, {folds},\n"
                    f"                      p->mult, c{r}, {{n}});")
    o += whole_or_partial(nr, rows)
    o.append("}")
    return "\n".join(o) + "\n"


def pair_rows(s: Set, mr: int, nr: int) -> str:
    """The pair tile over any number of rows (`_rows`, the driver's call per column block and
    chunk of rows): the tile's body in a loop over its row tiles, with the per-tile setup
    made once per call (the bias zipped into lane pairs, the epilogue's constants and
    multipliers, the call itself). MobileNetV2's 1x1 layers with k = 16..32 run about 130
    instructions per 2x16 tile besides their 96-288 products, most of it that setup."""
    ng = nr // 4
    p = s.name
    o = [f"void i8_gemm_{mr}x{nr}c{s.ku}__{s.name}_rows(",
         "    size_t m, size_t nc, size_t kc, const void *a, size_t a_stride, const void *w, void *c,",
         "    size_t c_stride, const i8_gemm_params *p) {",
         f"    const size_t bytes = kc; /* {KC_DOC} */",
         "    const unsigned char *wp = (const unsigned char *)w;"]
    for g in range(ng):
        o.append(f"    const {p}_vec b_{2 * g} = {p}_acc0lo(p->bias + {4 * g});")
        o.append(f"    const {p}_vec b_{2 * g + 1} = {p}_acc0hi(p->bias + {4 * g});")
    o.append(f"    const {p}_rq rq = {p}_rq_init_m(&p->rq, p->mult);")
    o.append(f"    const size_t n0 = nc < {nr} ? nc : {nr};")
    if ng < 4:
        o.append(f"    const {p}_vec z = {p}_zero();")
    if s.asm_loop and mr == 2:
        o += pair_rows_asm(p, nr)
    o.append(f"    for (size_t i = 0; i < m; i += {mr}) {{")
    body = ["    const unsigned char *a0 = (const unsigned char *)a + i * a_stride;",
            "    unsigned char *c0 = (unsigned char *)c + i * c_stride;"]
    for r in range(1, mr):
        body += [f"    const unsigned char *a{r} = a{r - 1} + a_stride;",
                 f"    unsigned char *c{r} = c{r - 1} + c_stride;",
                 f"    if (m - i <= {r}) {{",
                 f"        a{r} = a{r - 1};",
                 f"        c{r} = c{r - 1};",
                 "    }"]
    for r in range(mr):
        body += [f"    {p}_vec acc{r}_{v} = b_{v};" for v in range(2 * ng)]
    body += pair_k_loop(s, p, mr, nr, ng)
    rows = []
    for r in reversed(range(mr)):
        folds = ", ".join(f"{p}_fold(acc{r}_{2 * g}, acc{r}_{2 * g + 1})" if g < ng else "z"
                          for g in range(4))
        rows.append(f"{p}_store16x4(&rq, {folds},\n"
                    f"                      p->mult, c{r}, {{n}});")
    body += whole_or_partial(nr, rows)
    o += ["    " + x for x in body]
    o.append("    }")
    o.append("}")
    return "\n".join(o) + "\n"


def whole_or_partial(nr: int, rows: list[str]) -> list[str]:
    """The NEON tiles' row stores twice: all nr channels (a constant: the store's width test
    folds away, about 2 instructions per row) or the first n0 (the last column block)."""
    o = [f"    if (n0 == {nr}) {{"]
    o += ["        " + r.format(n=nr).replace("\n", "\n    ") for r in rows]
    o.append("    } else {")
    o += ["        " + r.format(n="n0").replace("\n", "\n    ") for r in rows]
    o.append("    }")
    return o


def tile(s: Set, mr: int, nr: int) -> str:
    if s.lane:
        return lane_tile(s, mr, nr)
    if s.pair:
        return pair_tile(s, mr, nr)
    nv = nr // s.lanes
    p = s.name
    o = prologue(s, mr, nr)
    o += [f"    const size_t bytes = kc / {s.ku} * 4; /* of one prepared row */",
          "    const unsigned char *wp = (const unsigned char *)w;"]
    if nr > 16:
        o.append("    const size_t bs = bytes * 16; /* one 16-channel weight block */")
    # the accumulators start at the bias (row 0 loads it, the other rows copy)
    for v in range(nv):
        o.append(f"    {p}_vec acc0_{v} = {p}_acc0(p->bias + {v * s.lanes});")
    for r in range(1, mr):
        o += [f"    {p}_vec acc{r}_{v} = acc0_{v};" for v in range(nv)]
    # (two k groups per iteration, tried for avx2ubs: gcc 12 then spilled 6 accumulators)
    o.append("    for (size_t q = 0; q < bytes; q += 4) {")
    o += tile_kstep(s, mr, nr, nv, "q")
    o.append("    }")
    return tile_epilogue(s, mr, nr, nv, o)


def tile_kstep(s: Set, mr: int, nr: int, nv: int, q: str) -> list[str]:
    """One k group of the broadcast tile: the weights of nr channels, per row a broadcast and
    nv dots; q: the group's byte offset in a prepared row."""
    p = s.name
    o = []
    for v in range(nv):
        ch = v * s.lanes
        qq = f"({q})" if " " in q else q
        off = " + ".join(x for x in (f"{ch // 16} * bs" if ch >= 16 else "",
                                     f"{(ch % 16) * 4}" if ch % 16 else "", f"16 * {qq}") if x)
        if ch // 16 == 1:
            off = off.replace("1 * bs", "bs")
        if s.wmem:
            o.append(f"        const unsigned char *const w{v} = wp + {off};")
        else:
            o.append(f"        const {p}_vec w{v} = {p}_loadw(wp + {off});")
    o.append(f"        {p}_vec x;")
    dot = "dotm" if s.wmem else "dot"
    for r in range(mr):
        arow = f"a{r} + {q}" if s.astep == 4 else f"a{r} + {s.astep // 4} * {qq}"
        o.append(f"        x = {p}_bcast({arow});")
        for v in range(nv):
            o.append(f"        acc{r}_{v} = {p}_{dot}(acc{r}_{v}, x, w{v});")
    return o


def tile_epilogue(s: Set, mr: int, nr: int, nv: int, o: list[str]) -> str:
    p = s.name
    if nr > (8 if s.lanes == 4 else 16):
        o.append("    const size_t esz = p->rq.out_f32 ? sizeof(float) : 1;")
    o.append(f"    const {p}_rq rq = {p}_rq_init(&p->rq);")
    cs = 8 if s.lanes == 4 else 16  # channels per epilogue call (<set>_store<cs>)
    per16 = cs // s.lanes
    chunks = max(1, nr // cs)
    if s.lanes == 16:
        # int8, no post-ops, every column (the common case): straight-line stores, the
        # epilogue's per-call checks hoisted (with K = 16 they were much of the tile's time)
        o.append(f"    if (nc == {nr} && {p}_plain(&rq)) {{")
        for r in reversed(range(mr)):
            for v in range(nv):
                o.append(f"        {p}_store16_plain(&rq, acc{r}_{v}, p->mult + {16 * v}, "
                         f"c{r} + {16 * v});")
        o.append("        return;")
        o.append("    }")
    o.append(f"    const size_t n0 = nc < {cs} ? nc : {cs};")
    for h in range(1, chunks):
        o.append(f"    const size_t n{h} = nc > {cs * h} ? "
                 f"(nc - {cs * h} < {cs} ? nc - {cs * h} : {cs}) : 0;")
    for r in reversed(range(mr)):  # row mr - 1 written last: repeated rows rewrite it equal
        for h in range(chunks):
            lo = f"acc{r}_{h * per16}"
            hi = f"acc{r}_{h * per16 + 1}" if per16 == 2 and h * per16 + 1 < nv else \
                f"{p}_zero()" if per16 == 2 else lo
            if h == 0:
                o.append(f"    {p}_store{cs}(&rq, {lo}, {hi}, p->mult, c{r}, n0);")
            else:
                o.append(f"    if (n{h})")
                o.append(f"        {p}_store{cs}(&rq, {lo}, {hi}, p->mult + {cs * h}, "
                         f"c{r} + {cs * h} * esz, n{h});")
    o.append("}")
    return "\n".join(o) + "\n"


def render(s: Set) -> str:
    out = [HEADER.format(header=s.header, doc=s.doc, ku=s.ku)]
    if s.asm_loop and s.pair:
        out.append(f"#define ASM_MIN_KC {ASM_MIN_KC} /* pair_asm_loop */\n")
    if s.asm_loop and s.lane:
        out.append(f"#define LANE_ASM_MIN_KC {LANE_ASM_MIN_KC} /* lane_asm_loop */\n")
    out.append('#include "kernels/gemm/gemm.h" /* the guards below */\n')
    if s.guard:
        out.append(f"#if {s.guard}\n")
    out.append(f'#include "kernels/gemm/{s.header}"\n')
    out.append(PRAGMA.format(opts=PRAGMA_OPTS.get(s.header, '"no-tree-pre"')))
    for mr, nr in s.tiles:
        assert nr % s.lanes == 0 and (nr % 16 == 0 or nr <= 8) and mr == s.tiles[0][0]
        if s.small_mr:
            out.append(tile(s, s.small_mr, nr))
        out.append(tile(s, mr, nr))
        if s.pair:
            out.append(pair_rows(s, mr, nr))
    if s.lane:
        out.append(lane_cols(s, s.tiles[0][0]))
        out.append(lane_cols1(s))
    fns = "".join(f"    {{{nr}, i8_gemm_{mr}x{nr}c{s.ku}__{s.name}}},\n" for mr, nr in s.tiles)
    out.append(f"const i8_gemm_tile i8_gemm_tiles__{s.name}[] = {{\n{fns}    {{0, NULL}}}};\n")
    if s.pair:  # the same widths over any number of rows (kernel set .rows, dispatch.c)
        fns = "".join(f"    {{{nr}, i8_gemm_{mr}x{nr}c{s.ku}__{s.name}_rows}},\n"
                      for mr, nr in s.tiles)
        out.append(f"const i8_gemm_tile i8_gemm_rows__{s.name}[] = {{\n{fns}    {{0, NULL}}}};\n")
    if s.guard:
        out.append("#endif\n")
    return "\n".join(out)


def main(argv: list[str]) -> int:
    check = "--check" in argv
    stale = []
    for s in SETS:
        path = OUT / f"tiles_{s.name}.c"
        text = render(s)
        if check:
            if not path.exists() or path.read_text() != text:
                stale.append(str(path.relative_to(ROOT)))
        else:
            path.write_text(text)
    if stale:
        print("out of date (run python tools/gen_gemm_tiles.py):", *stale, sep="\n  ")
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
