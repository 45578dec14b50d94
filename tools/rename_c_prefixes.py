"""One C prefix scheme for kernels and plan code (docs/KERNELS.md "Names"): the rename.

    python tools/rename_c_prefixes.py           # rewrite every tracked C / Cython / doc / tool file
    python tools/rename_c_prefixes.py --check   # list old-scheme names still present; exit 1 if any

The scheme: every C name the library exports or a header declares starts with `i8_` (macros and
enum constants `I8_`), then the family (`f32_` float32 kernels, `dq_` dynamic int8, `wo_`
weight-only, `rnn_`, `neon_` NEON helpers, `plan_`, `gemm_` ...); a dispatching entry point ends
in `_run`; a suffix `__<isa>` means the function runs exactly that ISA's code (`__scalar`:
portable C only, never a call into SIMD code).

Idempotent and purely textual (whole identifiers): run it again after merging a branch that
still uses the old names (the lead re-runs it after later merges), then rebuild.
"""

from __future__ import annotations

import argparse
import re
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
SUFFIXES = (".c", ".h", ".pyx", ".pxd", ".pxi", ".md", ".py", ".sh")
SKIP = {"tools/rename_c_prefixes.py"}  # this file names the old scheme on purpose

# (old identifier regex, replacement), applied in order to whole identifiers
RULES: list[tuple[str, str]] = [
    # float32 kernels of transformer graphs (kernels/f32, int8rt/f32.h): the `__scalar` entry
    # points dispatch to AVX2 parts (exp, erf, the gemm) -> `_run`
    (r"i8f_(binary|unary|layernorm|softmax|reduce|matmul|gather|strided_copy|cast|where)__scalar",
     r"i8_f32_\1_run"),
    (r"i8f_(\w+)", r"i8_f32_\1"),
    (r"I8F_(\w+)", r"I8_F32_\1"),
    # float fallback convolutions (kernels/f32conv)
    (r"f32_(conv2d|fc)_(params|pack|packed_size|scratch_size|tasks|run|run_tasks)",
     r"i8_f32_\1_\2"),
    (r"f32conv_path", r"i8_f32_conv_path"),
    # weight-only: the `__scalar` entry points call the AVX2 float gemm
    (r"i8wo_(matmul|gather)__scalar", r"i8_wo_\1_run"),
    (r"i8wo_(\w+)", r"i8_wo_\1"),
    (r"i8dq_(\w+)", r"i8_dq_\1"),
    (r"I8DQ_(\w+)", r"I8_DQ_\1"),
    # recurrent gate rows (kernels/rnn/gates.h): the ISA-dispatching entry points -> `_run`
    (r"i8rnn_(lstm_row|gru_row|gru_reset)", r"i8_rnn_\1_run"),
    (r"i8rnn_gate_fn", r"i8_rnn_gate_run"),
    (r"i8rnn_(\w+)", r"i8_rnn_\1"),
    # the recurrent step's matrix-vector product (kernels/rnn/matvec.h)
    (r"i8mv_(\w+)", r"i8_rnn_mv_\1"),
    # Conv in ONNX layout with dynamic / static int8 activations (int8rt/dqconv.h)
    (r"i8dqconv_(\w+)", r"i8_dqconv_\1"),
    (r"i8n_(\w+)", r"i8_neon_\1"),
    # element-size-generic movement kernels (`x_` = any type): entry points and their statics
    (r"x_(pad|slice|transpose|resize_nearest)_run", r"i8_\1_run"),
    (r"x_gather__scalar", r"strided_gather"),
    (r"x_(copy_elem|contiguous_strides|transpose2d_u8|pad_src)", r"\1"),
    # the int8 broadcast walker takes the row kernel (scalar, AVX2 or AVX-512) as an argument
    (r"i8_binary__scalar", r"i8_binary_walk"),
    # plan record kinds named by their Program kernel (int8rt/records.py)
    (r"I8_OP_F32_(LAYERNORM|REDUCE|MATMUL|ATTENTION)", r"I8_OP_\1"),
]
_COMPILED = [(re.compile(rf"\b{old}\b"), new) for old, new in RULES]
# what --check reports: any identifier of the old scheme
OLD = re.compile(r"\b(i8f_\w+|I8F_\w+|f32conv_path\b|"
                 r"f32_(?:conv2d|fc)_(?:params|pack|packed_size|scratch_size|tasks|run|run_tasks)\b|"
                 r"i8wo_\w+|i8dq_\w+|I8DQ_\w+|i8rnn_\w+|i8mv_\w+|i8dqconv_\w+|i8n_\w+|"
                 r"x_(?:pad|slice|transpose|resize_nearest)_run|"
                 r"x_gather__scalar|i8_binary__scalar|"
                 r"I8_OP_F32_(?:LAYERNORM|REDUCE|MATMUL|ATTENTION))")


def files() -> list[Path]:
    out = subprocess.run(["git", "-C", str(ROOT), "ls-files"], capture_output=True, text=True,
                         check=True).stdout.split()
    return [ROOT / f for f in out if f.endswith(SUFFIXES) and f not in SKIP
            and (ROOT / f).is_file()]


def rename(text: str) -> str:
    for rx, new in _COMPILED:
        text = rx.sub(new, text)
    return text


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--check", action="store_true")
    args = ap.parse_args()
    left = 0
    for f in files():
        text = f.read_text()
        if args.check:
            for m in OLD.finditer(text):
                line = text.count("\n", 0, m.start()) + 1
                print(f"{f.relative_to(ROOT)}:{line}: {m.group(0)}")
                left += 1
            continue
        new = rename(text)
        if new != text:
            f.write_text(new)
            print(f"renamed in {f.relative_to(ROOT)}")
    return 1 if left else 0


if __name__ == "__main__":
    sys.exit(main())
