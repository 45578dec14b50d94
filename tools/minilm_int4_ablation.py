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
  asymmetric with the MSE clipping search (int8rt/reference/dynq.py quantize_weight_groups);
- `--extra`: refinements of the asymmetric search tried and not adopted (int8 embedding):
  the squared error weighted per input channel by a data-free estimate of that channel's
  activation power (gamma^2 + beta^2 of the LayerNorm feeding Q / K / V / FFN up; for the
  attention output, sum_j Wv[j, k]^2 times that of V's input), least-squares refits of scale
  and zero point for the chosen codes, and a 2-D grid over the low and high clipping factors;
  and GPTQ (int8rt/quant/gptq.py) with the Linears' input Hessians over 64 calibration
  passages of other modules' docstrings (minilm_check.CALIB_MODULES), symmetric and
  asymmetric.
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


def refined_asym(w_kn: np.ndarray, group: int, power: np.ndarray | None = None,
                 grid2d: bool = False, refits: int = 0) -> np.ndarray:
    """W4A32 weights [K, N] of the asymmetric search with the `--extra` refinements."""
    f32 = np.float32
    w = np.ascontiguousarray(w_kn.T, f32)
    n, k = w.shape
    g = w.reshape(n, k // group, group)
    wt = np.ones((1, k // group, group)) if power is None else \
        (power / power.mean()).reshape(1, k // group, group)
    lo0, hi0 = np.minimum(g.min(2), 0).astype(f32), np.maximum(g.max(2), 0).astype(f32)
    fs = [1 - 0.025 * i for i in range(17)]
    pairs = [(a, b) for a in fs[::2] for b in fs[::2]] if grid2d else [(f, f) for f in fs]
    best = None
    for fl, fh in pairs:
        lo, hi = lo0 * f32(fl), hi0 * f32(fh)
        s = np.where(hi == lo, f32(1), (hi - lo) / f32(15)).astype(f32)
        z = np.clip(np.rint(-lo / s), 0, 15).astype(f32)
        u = np.clip(np.rint(g / s[:, :, None]) + z[:, :, None], 0, 15)
        err = ((((u - z[:, :, None]) * s[:, :, None] - g).astype(np.float64) ** 2) * wt).sum(2)
        if best is None:
            best = [err, s, z, u]
        else:
            bt = err < best[0]
            best = [np.where(bt, err, best[0]), np.where(bt, s, best[1]),
                    np.where(bt, z, best[2]), np.where(bt[:, :, None], u, best[3])]
    s, z, u = best[1], best[2], best[3]
    for _ in range(refits):  # weighted least squares w ~ s * u + m, then z = rint(-m / s)
        su, suu = (wt * u).sum(2), (wt * u * u).sum(2)
        sw, suw, s1 = (wt * g).sum(2), (wt * u * g).sum(2), wt.sum(2) * np.ones_like(su)
        det = s1 * suu - su * su
        ok = det > 1e-12
        s_new = np.where(ok, (s1 * suw - su * sw) / np.where(ok, det, 1), s)
        m_new = np.where(ok, (sw - s_new * su) / s1, -s * z)
        s_new = np.where(s_new > 0, s_new, s).astype(f32)
        z = np.clip(np.rint(-m_new / s_new), 0, 15).astype(f32)
        s = s_new
        u = np.clip(np.rint(g / s[:, :, None]) + z[:, :, None], 0, 15)
        v = u - z[:, :, None]
        den = (wt * v * v).sum(2)
        s = np.where(den > 0, (wt * g * v).sum(2) / np.where(den > 0, den, 1), s).astype(f32)
        s = np.where(s > 0, s, best[1]).astype(f32)
        u = np.clip(np.rint(g / s[:, :, None]) + z[:, :, None], 0, 15)
    return ((u - z[:, :, None]) * s[:, :, None]).astype(f32).reshape(n, k).T


def input_power(model, inits: dict, consumers: dict) -> dict:
    """Per Linear weight name: a data-free estimate of E[x_k^2] of its input channels, or
    None (see the module doc)."""
    prod = {o: nd for nd in model.graph.node for o in nd.output}
    out = {}
    for name, uses in consumers.items():
        node = uses[0][0]
        if name not in inits or inits[name].ndim != 2 or node.op_type != "MatMul":
            continue
        src, hops = prod.get(node.input[0]), 0
        while src is not None and src.op_type != "LayerNormalization" and hops < 3:
            src, hops = prod.get(src.input[0]), hops + 1
        if src is not None and src.op_type == "LayerNormalization":
            gamma = inits[src.input[1]].astype(np.float64)
            beta = inits[src.input[2]].astype(np.float64) if len(src.input) > 2 else 0.0
            out[name] = gamma ** 2 + beta ** 2
        else:
            out[name] = None
    for name, p in list(out.items()):
        node = consumers[name][0][0]
        if p is None and "attention/output" in node.name:
            layer = node.name.split("/attention")[0]
            for v, q in out.items():
                if q is not None and \
                        consumers[v][0][0].name.startswith(layer + "/attention/self/value"):
                    out[name] = (inits[v].astype(np.float64) ** 2 * q[:, None]).sum(0)
    return out


def calibration_hessians(model, mc, tok, inputs: dict[str, str]) -> dict[str, np.ndarray]:
    """XᵀX / N of each Linear's input (weight name -> its input tensor) over 64 passages of
    minilm_check.CALIB_MODULES, run by ONNX Runtime fp32 with those tensors as outputs."""
    import onnx
    import onnxruntime as ort

    m = onnx.ModelProto()
    m.CopyFrom(model)
    for x in sorted(set(inputs.values())):
        m.graph.output.append(onnx.helper.make_tensor_value_info(x, onnx.TensorProto.FLOAT, None))
    so = ort.SessionOptions()
    so.intra_op_num_threads = 1
    sess = ort.InferenceSession(m.SerializeToString(), so, providers=["CPUExecutionProvider"])
    names = [o.name for o in sess.get_outputs()]
    acc: dict[str, np.ndarray] = {}
    count: dict[str, int] = {}
    for t in mc.passages(tok, 64, modules=mc.CALIB_MODULES):
        outs = sess.run(None, {"input_ids": t["input_ids"], "attention_mask": t["attention_mask"]})
        for name, v in zip(names[1:], outs[1:]):
            x = v.reshape(-1, v.shape[-1]).astype(np.float64)
            acc[name] = acc.get(name, 0) + x.T @ x
            count[name] = count.get(name, 0) + x.shape[0]
    return {w: acc[x] / count[x] for w, x in inputs.items()}


def main(argv=None) -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--workdir", default="/tmp/int8rt_minilm")
    ap.add_argument("--group", type=int, default=32)
    ap.add_argument("--sentences", type=int, default=60)
    ap.add_argument("--extra", action="store_true",
                    help="only the refinements of the asymmetric search (module doc)")
    args = ap.parse_args(argv)
    import minilm_check as mc
    import onnx
    import onnxruntime as ort
    from onnx import numpy_helper as nh
    from tokenizers import Tokenizer

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
    if args.extra:
        power = input_power(base, inits, consumers)
        print("| all Linears int4 asymmetric, int8 word embedding | mean cosine | min cosine |"
              "\n|---|---|---|")
        for label, kw in (("MSE clipping (17 shrink factors)", {}),
                          ("input-power weighted error", {"weighted": True}),
                          ("+ 2 least-squares refits", {"refits": 2}),
                          ("weighted + 2 refits", {"weighted": True, "refits": 2}),
                          ("2-D clipping grid, weighted", {"weighted": True, "grid2d": True}),
                          ("2-D grid, weighted + 2 refits",
                           {"weighted": True, "grid2d": True, "refits": 2})):
            weighted = kw.pop("weighted", False)
            plan = {n: (8, "sym") for n in word}
            for n in lin:
                cache[(n, 4, label)] = refined_asym(inits[n], args.group,
                                                    power.get(n) if weighted else None, **kw)
                plan[n] = (4, label)
            mean, mn = variant(plan)
            print(f"| {label} | {mean:.5f} | {mn:.5f} |", flush=True)
        from int8rt.quant.gptq import gptq_int4
        from int8rt.reference.dynq import wo_dequantize

        hess = calibration_hessians(base, mc, tok, {n: consumers[n][0][0].input[0] for n in lin})
        for sym in (True, False):
            label = f"GPTQ, {'symmetric' if sym else 'asymmetric'}"
            plan = {n: (8, "sym") for n in word}
            for n in lin:
                q, sc, *zp = gptq_int4(inits[n], hess[n], args.group, symmetric=sym)
                cache[(n, 4, label)] = wo_dequantize(q, sc, 4, args.group, inits[n].shape[0],
                                                     zp[0] if zp else None).T
                plan[n] = (4, label)
            mean, mn = variant(plan)
            print(f"| {label} | {mean:.5f} | {mn:.5f} |", flush=True)
        return 0
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
