"""Regenerate README.md's supported-op table from the registries (never edit it by hand).

    python tools/gen_op_table.py          # rewrite README.md in place
    python tools/gen_op_table.py --check  # exit 1 if README.md is stale (the tests run this)
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from int8rt.opset import OPS

BEGIN, END = "<!-- op-table:begin -->", "<!-- op-table:end -->"


def _runs_int8(target: str) -> str:
    """How the op executes: by the canonical op it becomes (the first word of the mapping),
    and float32 for a second form the mapping marks "float32" (ReduceMean over other axes,
    MatMul of activations, Expand of an activation)."""
    head = target.replace("(", " ").split()[0]
    schema = OPS.get(head)
    if head == "Div":
        return "int8 when the divisor is constant (Mul); else float32"
    if schema is not None and not schema.int8:
        return "float32 (between Dequantize and Quantize)"
    first = "int8" if schema is not None else "— (gone before execution)"
    return first + (", or float32 for the form marked float32" if "float32" in target else "")


def op_table() -> str:
    from int8rt.frontend.onnx import SUPPORTED_ONNX_OPS

    rows = ["| ONNX op | becomes | executes as |", "|---|---|---|"]
    for onnx_op, target in sorted(SUPPORTED_ONNX_OPS.items()):
        rows.append(f"| {onnx_op} | {target} | {_runs_int8(target)} |")
    return "\n".join(rows)


def render(readme: str) -> str:
    head, rest = readme.split(BEGIN, 1)
    _, tail = rest.split(END, 1)
    return f"{head}{BEGIN}\n{op_table()}\n{END}{tail}"


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--check", action="store_true")
    args = ap.parse_args()
    path = ROOT / "README.md"
    old = path.read_text()
    new = render(old)
    if args.check:
        if new != old:
            print("README.md op table is stale: run python tools/gen_op_table.py")
            return 1
        return 0
    path.write_text(new)
    return 0


if __name__ == "__main__":
    sys.exit(main())
