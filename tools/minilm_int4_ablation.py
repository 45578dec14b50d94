"""Where weight-only int4 loses accuracy on all-MiniLM-L6-v2, and what each standard remedy buys.

    HF_HUB_OFFLINE=1 python tools/minilm_int4_ablation.py [--workdir DIR] [--group 32]

Weight quantization only (W4A32): each variant replaces some of the fp32 model's weights by
their quantize-dequantize values and runs the result in ONNX Runtime fp32, so the figure is
the weight error alone, with nothing from int8rt's kernels (tools/minilm_check.py measures
the .i8 files end to end). Cosine of the normalised sentence embedding against fp32 over the
passages of tools/minilm_check.py. Variants:

- per-matrix ablation: one kind of matrix (Q, K, V, attention output, FFN up, FFN down, word
  embedding, position embedding) in int4, everything else fp32;
- schemes for all Linears (+ the word embedding in int4 / int8 / fp32): symmetric absmax,
  symmetric with the MSE clipping search, asymmetric min/max (per-group zero point),
  asymmetric with the MSE clipping search (int8rt/reference/dynq.py quantize_weight_groups).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "tools"))


def fake_quant(w_kn: np.ndarray, bits: int, group: int, scheme: str) -> np.ndarray:
    """The float weights [K, N] int8rt's weight-only file holds for `scheme`."""
    from int8rt.reference.dynq import quantize_weight_groups, wo_dequantize

    sym = scheme.startswith("sym")
    clip = scheme.endswith("mse")
    out = quantize_weight_groups(w_kn, bits, group, symmetric=sym or bits == 8,
                                 clip_search=clip)
    z = out[2] if len(out) == 3 else None
    return wo_dequantize(out[0], out[1], bits, group, w_kn.shape[0], z).T


def main(argv=None) -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--workdir", default="/tmp/int8rt_minilm")
    ap.add_argument("--group", type=int, default=32)
    ap.add_argument("--sentences", type=int, default=60)
    args = ap.parse_args(argv)
    import onnx
    import onnxruntime as ort
    from onnx import numpy_helper as nh
    from tokenizers import Tokenizer

    import minilm_check as mc

    base = onnx.load(str(Path(args.workdir) / "minilm_fp32.onnx"))
    consumers = {}
    for node in base.graph.node:
        for i, name in enumerate(node.input):
            consumers.setdefault(name, []).append((node, i))
    inits = {t.name: nh.to_array(t) for t in base.graph.initializer}
    # name the Linears by the node that reads them: /encoder/layer.N/attention/self/query/MatMul
    kinds = {}
    for name, arr in inits.items():
        if arr.ndim != 2 or arr.size < 4096:
            continue
        node = consumers.get(name, [(None, 0)])[0][0]
        label = node.name if node is not None else name
        if node is not None and node.op_type == "Gather":
            kind = "word embedding" if arr.shape[0] > 1000 else "position embedding" \
                if arr.shape[0] == 512 else "type embedding"
        elif "query" in label:
            kind = "Q"
        elif "key" in label:
            kind = "K"
        elif "value" in label:
            kind = "V"
        elif "attention/output" in label:
            kind = "attention output"
        elif "intermediate" in label:
            kind = "FFN up"
        elif "output" in label:
            kind = "FFN down"
        else:
            kind = "other"
        kinds[name] = kind

    tok = Tokenizer.from_file(str(mc.model_dir() / "tokenizer.json"))
    tok.no_truncation()
    tok.no_padding()
    texts = mc.passages(tok, args.sentences)
    so = ort.SessionOptions()
    so.intra_op_num_threads = 1

    def embed(model) -> list[np.ndarray]:
        sess = ort.InferenceSession(model.SerializeToString(), so,
                                    providers=["CPUExecutionProvider"])
        return [sess.run(None, {"input_ids": t["input_ids"],
                                "attention_mask": t["attention_mask"]})[0] for t in texts]

    ref = embed(base)
    cache: dict = {}

    def variant(plan: dict[str, tuple[int, str]]) -> tuple[float, float]:
        m = onnx.ModelProto()
        m.CopyFrom(base)
        for t in m.graph.initializer:
            if t.name in plan:
                bits, scheme = plan[t.name]
                key = (t.name, bits, scheme)
                if key not in cache:
                    w = inits[t.name]
                    # a Gather table's rows are tokens: group along the row (transpose)
                    emb = kinds[t.name].endswith("embedding")
                    cache[key] = (fake_quant(w.T, bits, args.group, scheme).T if emb else
                                  fake_quant(w, bits, args.group, scheme))
                t.CopyFrom(nh.from_array(cache[key].astype(np.float32), t.name))
        cos = [mc.cosine(a, b) for a, b in zip(embed(m), ref)]
        return float(np.mean(cos)), float(np.min(cos))

    lin = [n for n, k in kinds.items() if not k.endswith("embedding")]
    word = [n for n, k in kinds.items() if k == "word embedding"]
    print(f"{len(texts)} passages, group {args.group}; W4A32 (ORT fp32 on fake-quantized "
          "weights), cosine vs fp32: mean / min\n")
    print("| int4 (symmetric, MSE clipping) only in | mean cosine | min cosine |\n|---|---|---|")
    for kind in sorted(set(kinds.values())):
        names = [n for n, k in kinds.items() if k == kind]
        mean, mn = variant({n: (4, "sym_mse") for n in names})
        print(f"| {kind} ({len(names)}) | {mean:.5f} | {mn:.5f} |", flush=True)
    print("\n| Linears | word embedding | mean cosine | min cosine |\n|---|---|---|---|")
    for scheme in ("sym", "sym_mse", "asym", "asym_mse"):
        for emb in ("int4 " + scheme, "int8 sym", "fp32"):
            plan = {n: (4, scheme) for n in lin}
            if emb.startswith("int4"):
                plan.update({n: (4, scheme) for n in word})
            elif emb.startswith("int8"):
                plan.update({n: (8, "sym") for n in word})
            mean, mn = variant(plan)
            print(f"| int4 {scheme} | {emb} | {mean:.5f} | {mn:.5f} |", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
