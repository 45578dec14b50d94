"""Regenerate the measured tables of docs/TRANSFORMERS.md: the LSTM / GRU latency table
(tools/rnn_speed.py) and the CRNN accuracy / latency table (tools/crnn_check.py: trains the
model, a few minutes on 2 cores). Each table goes between its markers
`<!-- BEGIN table:NAME -->` / `<!-- END table:NAME -->`, under a line naming the CPU.

    python tools/transformers_tables.py                       # measure both, rewrite the doc
    python tools/transformers_tables.py --crnn-json fig.json  # reuse a crnn_check --json run
"""

from __future__ import annotations

import argparse
import json
import re
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
DOC = ROOT / "docs" / "TRANSFORMERS.md"
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "tools"))


def rnn_table(res: dict, cpu: str) -> str:
    paths = res["paths"]
    head = "| model | ORT fp32 (ms) | " + " | ".join(f"int8rt {p} (ms, × ORT)" for p in paths)
    lines = [(f"Measured on: {cpu}. One thread, batch 1, median of interleaved rounds "
             "(`python tools/rnn_speed.py`); × ORT is the median per-round ratio "
             "(< 1: faster than ONNX Runtime fp32)."), "",
             head + " |", "|---" * (2 + len(paths)) + "|"]
    for r in res["rows"]:
        cells = [f"{r[p + '_ms']:.3f} ({r[p + '_ratio']:.2f})" for p in paths]
        lines.append(f"| {r['model']} | {r['ort_fp32_ms']:.3f} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def crnn_table(f: dict, cpu: str) -> str:
    eng = [("ort_fp32", "ONNX Runtime fp32"),
           ("int8rt_static", 'int8rt `mode="static"` (calibrated convs, dynamic LSTM / Linear)'),
           ("int8rt_dynamic", 'int8rt `mode="dynamic"`'),
           ("ort_quantize_dynamic", "ONNX Runtime `quantize_dynamic` file, run by ORT"),
           ("int8rt_ort_file", "the same ORT file, run by int8rt (its own int8 weights)")]
    base = f["seq_accuracy_ort_fp32"]
    lines = [(f"Measured on: {cpu}. {f['train_images']} training / {f['test_images']} test "
             f"images, {f['epochs']} epochs ({f['train_seconds']:.0f} s); latency: one thread, "
             f"batch 1, one image {f['latency_input']}, median of interleaved rounds "
             "(`python tools/crnn_check.py`)."), "",
             ("| engine | sequence accuracy | Δ vs fp32 (points) | max \\|logit err\\| "
             f"(logit range {f['logit_range']:.1f}) | mean \\|logit err\\| | latency (ms) |"),
             "|---|---|---|---|---|---|"]
    for key, name in eng:
        acc = f[f"seq_accuracy_{key}"]
        err = ("—", "—") if key == "ort_fp32" else (
            f"{f[f'max_abs_logit_err_{key}']:.3f}", f"{f[f'mean_abs_logit_err_{key}']:.4f}")
        lines.append(f"| {name} | {100 * acc:.2f} % | {100 * (acc - base):+.2f} | {err[0]} | "
                     f"{err[1]} | {f[f'latency_ms_{key}']:.3f} |")
    return "\n".join(lines)


def replace(doc: str, name: str, body: str) -> str:
    pat = re.compile(rf"(<!-- BEGIN table:{name} -->\n).*?(<!-- END table:{name} -->)", re.DOTALL)
    if not pat.search(doc):
        raise SystemExit(f"{DOC}: markers of table {name!r} not found")
    return pat.sub(lambda m: m.group(1) + body + "\n" + m.group(2), doc)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--rnn-json", help="figures of a tools/rnn_speed.py --json run")
    ap.add_argument("--crnn-json", help="figures of a tools/crnn_check.py --json run")
    ap.add_argument("--rounds", type=int, default=300)
    args = ap.parse_args(argv)
    from bench.machine import cpu_header

    cpu = cpu_header()
    if args.rnn_json:
        rnn = json.loads(Path(args.rnn_json).read_text())
    else:
        import rnn_speed

        rnn = rnn_speed.measure(args.rounds)
    if args.crnn_json:
        crnn = json.loads(Path(args.crnn_json).read_text())
    else:
        import crnn_check

        with tempfile.TemporaryDirectory() as d:
            out = Path(d) / "crnn.json"
            crnn_check.main(["--json", str(out)])
            crnn = json.loads(out.read_text())
    doc = DOC.read_text()
    doc = replace(doc, "rnn-speed", rnn_table(rnn, cpu))
    doc = replace(doc, "crnn", crnn_table(crnn, cpu))
    DOC.write_text(doc)
    print(f"rewrote the rnn-speed and crnn tables of {DOC}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
