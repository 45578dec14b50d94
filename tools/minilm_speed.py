"""all-MiniLM-L6-v2 speed table: int8rt dynamic int8 (VNNI path and INT8RT_ISA=avx2) and
weight-only int4 against ONNX Runtime `quantize_dynamic` (per-channel QInt8) and ORT fp32,
one thread, batch 1, at 16 / 64 / 128 tokens of real text, plus two threads against one.

    HF_HUB_OFFLINE=1 python tools/minilm_speed.py [--workdir DIR] [--runs 30] [--write-docs]

Uses the files tools/minilm_check.py writes into --workdir (run it first). One-thread times
are CPU seconds of the calling thread (time.thread_time: both engines run the whole inference
on the caller's thread with one thread, and preemption by other jobs on a shared machine does
not count); the two-thread figure is wall time (thread CPU time cannot show a speed-up). Every
one-thread figure is a median over --runs interleaved runs (the engines take turns run by
run); the two-thread figure takes turns in blocks of 10 back-to-back runs (see below).
--write-docs replaces the block between the minilm-speed markers in docs/TRANSFORMERS.md and
README.md with the table.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
for p in (ROOT, ROOT / "tools", ROOT / "bench"):
    if str(p) not in sys.path:
        sys.path.insert(0, str(p))

BEGIN, END = "<!-- minilm-speed:begin -->", "<!-- minilm-speed:end -->"
LENGTHS = (16, 64, 128)
BLOCK = 10  # back-to-back runs per session in the two-thread figure


def feeds_at(tok, length: int) -> dict:
    """A real passage (stdlib docstrings, as minilm_check) cut to `length` tokens, [SEP] last."""
    import minilm_check

    text = " ".join(s for _, s in minilm_check.stdlib_sentences()[:400])
    ids = tok.encode(text).ids[:length]
    ids[-1] = tok.token_to_id("[SEP]")
    ids = np.array([ids], np.int64)
    return {"input_ids": ids, "attention_mask": np.ones_like(ids)}


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--workdir", default="/tmp/int8rt_minilm")
    ap.add_argument("--runs", type=int, default=30)
    ap.add_argument("--write-docs", action="store_true")
    args = ap.parse_args(argv)

    import machine
    import minilm_check
    import onnxruntime as ort
    from tokenizers import Tokenizer

    import int8rt
    from int8rt import _native

    work = Path(args.workdir)
    fp32, ortq = work / "minilm_fp32.onnx", work / "minilm_ort_dynamic_pc.onnx"
    tok = Tokenizer.from_file(str(minilm_check.model_dir() / "tokenizer.json"))
    tok.no_truncation()
    tok.no_padding()
    best = _native.isa()
    header = machine.cpu_header()

    so = ort.SessionOptions()
    so.intra_op_num_threads = 1
    so.inter_op_num_threads = 1
    so.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
    prov = ["CPUExecutionProvider"]
    engines = {"ORT fp32": (None, ort.InferenceSession(str(fp32), so, providers=prov)),
               "ORT quantize_dynamic (per-channel)":
                   (None, ort.InferenceSession(str(ortq), so, providers=prov))}
    for isa in dict.fromkeys((best, "avx2")):
        if isa in _native.available_isas():
            _native.set_isa(isa)  # weights are packed for the path the session loads under
            engines[f"int8rt dynamic int8 ({isa})"] = (
                isa, int8rt.Session(str(work / "minilm_dyn.i8"), threads=1))
    # 7-bit weights (reduce_range): on avx2 the vpmaddubsw tiles (avx2ubs)
    for isa in dict.fromkeys((best, "avx2")):
        if isa in _native.available_isas() and (work / "minilm_dyn_rr.i8").exists():
            _native.set_isa(isa)
            engines[f"{minilm_check.RR} ({isa})"] = (
                isa, int8rt.Session(str(work / "minilm_dyn_rr.i8"), threads=1))
    # weight-only int4 runs as W4A8 (int8 activations, int4 weights unpacked in registers)
    int4 = {"int8rt weight-only int4 g32": "minilm_wo4.i8",
            minilm_check.INT4_ASYM: "minilm_wo4_asym_emb8.i8",
            minilm_check.INT4_MIXED: "minilm_wo4_asym_emb8_ffnup8.i8",
            minilm_check.INT4_GPTQ: "minilm_wo4_asym_emb8_gptq.i8"}
    for isa in dict.fromkeys((best, "avx2")):
        for label, fname in int4.items():
            if isa not in _native.available_isas() or not (work / fname).exists() or \
                    (isa != best and fname != "minilm_wo4.i8"):
                continue
            _native.set_isa(isa)
            engines[f"{label} ({isa})"] = (isa, int8rt.Session(str(work / fname), threads=1))
    _native.set_isa(best)

    def run(name: str, feed: dict) -> float:
        isa, sess = engines[name]
        if isa:
            _native.set_isa(isa)
        t0 = time.thread_time()
        sess.run(None, feed)
        return time.thread_time() - t0

    per: dict[str, dict[int, float]] = {n: {} for n in engines}
    for length in LENGTHS:
        feed = feeds_at(tok, length)
        times: dict[str, list[float]] = {n: [] for n in engines}
        for n in engines:
            run(n, feed)
            run(n, feed)
        for _ in range(args.runs):
            for n in engines:
                times[n].append(run(n, feed))
        for n in engines:
            per[n][length] = statistics.median(times[n]) * 1e3
        print(f"{length} tokens: " + ", ".join(f"{n} {per[n][length]:.2f} ms" for n in engines),
              flush=True)
    _native.set_isa(best)

    # two threads vs one, wall time, 128 tokens: blocks of BLOCK back-to-back runs per
    # session, the blocks interleaved. Back to back is how a caller runs one session (the
    # pool's workers spin through the gaps between runs); alternating sessions run by run
    # would put them to sleep before every two-thread run and time their wake-up instead.
    feed = feeds_at(tok, 128)
    s1 = int8rt.Session(str(work / "minilm_dyn.i8"), threads=1)
    s2 = int8rt.Session(str(work / "minilm_dyn.i8"), threads=2)
    walls: dict[int, list[float]] = {1: [], 2: []}
    for s in (s1, s2, s1, s2):
        s.run(None, feed)
    for _ in range(max(args.runs // BLOCK, 1)):
        for k, s in ((1, s1), (2, s2)):
            for _ in range(BLOCK):
                t0 = time.perf_counter()
                s.run(None, feed)
                walls[k].append(time.perf_counter() - t0)
    w1, w2 = (statistics.median(walls[k]) * 1e3 for k in (1, 2))

    base = per["ORT quantize_dynamic (per-channel)"]
    lines = [f"{header}", "",
             (f"`python tools/minilm_speed.py --runs {args.runs}` (one thread, batch 1, CPU time "
             "of the calling thread, median of interleaved runs; ratio = time / ORT "
             "quantize_dynamic per-channel at the same length):"), "",
             "| engine | " + " | ".join(f"{L} tokens (ms)" for L in LENGTHS) + " | " +
             " | ".join(f"× ORT dyn @{L}" for L in LENGTHS) + " |",
             "|---|" + "---|" * (2 * len(LENGTHS))]
    for n in engines:
        lines.append(f"| {n} | " + " | ".join(f"{per[n][L]:.2f}" for L in LENGTHS) + " | " +
                     " | ".join(f"{per[n][L] / base[L]:.2f}" for L in LENGTHS) + " |")
    fp = per["ORT fp32"]
    w4 = [n for n in engines if "int4" in n]
    lines += ["", "Weight-only int4 against ORT fp32 (time / ORT fp32 at 16 / 64 / 128 tokens): " +
              "; ".join(f"{n}: " + " / ".join(f"{per[n][L] / fp[L]:.2f}" for L in LENGTHS)
                        for n in w4) + "."]
    lines += ["", (f"Two threads vs one, int8rt dynamic int8 ({best}), 128 tokens, wall time "
              f"(median of {len(walls[1])} runs, in interleaved blocks of {BLOCK} back-to-back "
              "runs per session): 1 thread "
              f"{w1:.2f} ms, 2 threads {w2:.2f} ms, speed-up {w1 / w2:.2f}×.")]
    table = "\n".join(lines)
    print("\n" + table)
    if args.write_docs:
        for doc in (ROOT / "docs" / "TRANSFORMERS.md", ROOT / "README.md"):
            text = doc.read_text()
            if BEGIN in text and END in text:
                head, rest = text.split(BEGIN, 1)
                _, tail = rest.split(END, 1)
                doc.write_text(f"{head}{BEGIN}\n{table}\n{END}{tail}")
                print(f"updated {doc.relative_to(ROOT)}")
            else:
                print(f"{doc.relative_to(ROOT)}: no {BEGIN} marker, not updated")
    return 0


if __name__ == "__main__":
    sys.exit(main())
