"""Train small recurrent models on real offline data, export them with torch, quantize them
with int8rt's dynamic int8 LSTM / GRU layers, and compare with fp32 (ONNX Runtime): task
accuracy, logit error, and one-thread latency (docs/TRANSFORMERS.md "LSTM and GRU").

Tasks (no download: the data ships with scikit-learn and with Python itself):
- digits: scikit-learn's 8x8 handwritten digits read as a sequence of 8 rows of 8 pixels,
  a bidirectional recurrent layer, mean over time, linear classifier (1347 train / 450 test).
- chars: next-character prediction on the docstrings of Python standard-library modules
  (train on one set of modules, test on others), embedding -> 2-layer recurrent -> linear.

    python tools/rnn_check.py --task digits --cell lstm
    python tools/rnn_check.py --task chars --cell lstm --json figures.json
"""

from __future__ import annotations

import argparse
import importlib
import io
import json
import statistics
import time
import warnings

import numpy as np

TRAIN_MODULES = ("argparse", "collections", "functools", "itertools", "pathlib", "subprocess",
                 "typing", "unittest", "dataclasses", "logging", "json", "re", "shutil")
TEST_MODULES = ("asyncio", "datetime", "decimal", "enum", "inspect", "textwrap")


def stdlib_text(modules) -> str:
    parts = []
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for name in modules:
            mod = importlib.import_module(name)
            for obj in [mod, *vars(mod).values()]:
                doc = getattr(obj, "__doc__", None)
                if isinstance(doc, str) and getattr(obj, "__module__", name) in (name, None):
                    lines = [ln.strip() for ln in doc.splitlines()
                             if ln.strip() and not ln.strip().startswith(">>>")]
                    parts.append(" ".join(lines))
    return "\n".join(dict.fromkeys(parts))


def build(task: str, cell: str, vocab: int = 0):
    import torch

    rnn_cls = torch.nn.LSTM if cell == "lstm" else torch.nn.GRU

    class Digits(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.rnn = rnn_cls(8, 64, bidirectional=True)
            self.fc = torch.nn.Linear(128, 10)

        def forward(self, x):  # x [T=8, B, 8]
            y = self.rnn(x)[0]
            return self.fc(y.mean(0))

    class Chars(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.emb = torch.nn.Embedding(vocab, 32)
            self.rnn = rnn_cls(32, 128, num_layers=2)
            self.fc = torch.nn.Linear(128, vocab)

        def forward(self, ids):  # ids [T, B]
            return self.fc(self.rnn(self.emb(ids))[0])

    return Digits() if task == "digits" else Chars()


def data(task: str, seq: int = 128):
    if task == "digits":
        from sklearn.datasets import load_digits
        from sklearn.model_selection import train_test_split

        d = load_digits()
        x = (d.images / 16.0).astype(np.float32)  # [N, 8 rows, 8 cols]
        xtr, xte, ytr, yte = train_test_split(x, d.target, test_size=450, random_state=0,
                                              stratify=d.target)
        return (xtr.transpose(1, 0, 2), ytr), (xte.transpose(1, 0, 2), yte), 0
    train, test = stdlib_text(TRAIN_MODULES), stdlib_text(TEST_MODULES)
    chars = sorted(set(train))
    index = {c: i + 1 for i, c in enumerate(chars)}  # 0: a character not seen in training

    def ids(text):
        a = np.array([index.get(c, 0) for c in text], np.int64)
        n = (len(a) - 1) // seq
        x = a[:n * seq].reshape(n, seq).T.copy()
        y = a[1:n * seq + 1].reshape(n, seq).T.copy()
        return x, y

    return ids(train), ids(test), len(chars) + 1


def train(model, task, tr, epochs, seed=0):
    import torch

    torch.manual_seed(seed)
    opt = torch.optim.Adam(model.parameters(), lr=3e-3)
    x, y = torch.from_numpy(tr[0]), torch.from_numpy(tr[1]).long()
    n = x.shape[1]
    bs = 32
    sched = torch.optim.lr_scheduler.OneCycleLR(opt, 3e-3, total_steps=epochs * (n // bs))
    for ep in range(epochs):
        perm = torch.randperm(n)
        for i in range(0, n - bs + 1, bs):  # full batches only
            sel = perm[i:i + bs]
            out = model(x[:, sel])
            loss = torch.nn.functional.cross_entropy(out.reshape(-1, out.shape[-1]),
                                                     y[..., sel].reshape(-1) if task == "chars"
                                                     else y[sel])
            opt.zero_grad()
            loss.backward()
            opt.step()
            sched.step()
        print(f"  epoch {ep + 1}/{epochs}: loss {loss.item():.3f}", flush=True)
    return model.eval()


def export(model, task, example) -> bytes:
    import torch

    f = io.BytesIO()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        torch.onnx.export(model, (torch.from_numpy(example),), f, input_names=["x"],
                          output_names=["logits"], opset_version=17, dynamo=False,
                          dynamic_axes={"x": {0: "t", 1: "b"}, "logits": {0: "t", 1: "b"}}
                          if task == "chars" else {"x": {1: "b"}, "logits": {0: "b"}})
    return f.getvalue()


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--task", choices=("digits", "chars"), default="digits")
    ap.add_argument("--cell", choices=("lstm", "gru"), default="lstm")
    ap.add_argument("--epochs", type=int, default=0, help="0: the task's default")
    ap.add_argument("--rounds", type=int, default=20, help="latency rounds (interleaved)")
    ap.add_argument("--json", help="write the figures here")
    args = ap.parse_args(argv)

    import onnxruntime as ort
    import torch

    import int8rt

    torch.set_num_threads(2)
    tr, te, vocab = data(args.task)
    epochs = args.epochs or (40 if args.task == "digits" else 6)
    print(f"training {args.task} {args.cell} ({epochs} epochs, {tr[0].shape[1]} sequences)")
    t0 = time.perf_counter()
    model = train(build(args.task, args.cell, vocab), args.task, tr, epochs)
    print(f"  trained in {time.perf_counter() - t0:.0f} s")
    onnx_bytes = export(model, args.task, te[0][:, :2])
    opts = ort.SessionOptions()
    opts.intra_op_num_threads = opts.inter_op_num_threads = 1
    ref = ort.InferenceSession(onnx_bytes, opts, providers=["CPUExecutionProvider"])
    import onnx

    qm = int8rt.quantize(onnx.load_from_string(onnx_bytes), mode="dynamic")
    sess = int8rt.Session(qm, threads=1)
    x, y = te
    (r,) = ref.run(None, {"x": x})
    (q,) = sess.run(None, {"x": x})
    acc = {k: float((v.argmax(-1) == y).mean()) for k, v in (("fp32", r), ("int8", q))}
    err = np.abs(q - r)
    figures = {
        "task": args.task, "cell": args.cell, "test_items": int(y.size),
        "accuracy_fp32_ort": acc["fp32"], "accuracy_int8rt_dynamic": acc["int8"],
        "accuracy_delta_points": 100 * (acc["int8"] - acc["fp32"]),
        "argmax_agreement": float((q.argmax(-1) == r.argmax(-1)).mean()),
        "max_abs_logit_err": float(err.max()),
        "mean_abs_logit_err": float(err.mean()),
        "logit_range": float(np.abs(r).max()),
    }
    # latency: batch 1, one thread, interleaved rounds over one sequence
    one = np.ascontiguousarray(x[:, :1])
    t_ort, t_i8 = [], []
    for _ in range(args.rounds):
        t0 = time.perf_counter()
        ref.run(None, {"x": one})
        t1 = time.perf_counter()
        sess.run(None, {"x": one})
        t2 = time.perf_counter()
        t_ort.append(t1 - t0)
        t_i8.append(t2 - t1)
    figures["latency_ms_ort_fp32"] = 1e3 * statistics.median(t_ort)
    figures["latency_ms_int8rt"] = 1e3 * statistics.median(t_i8)
    figures["latency_ratio_int8rt_over_ort"] = statistics.median(
        a / b for a, b in zip(t_i8, t_ort))
    figures["latency_input"] = list(one.shape)
    for k, v in figures.items():
        print(f"{k:32s} {v:.5g}" if isinstance(v, float) else f"{k:32s} {v}")
    if args.json:
        with open(args.json, "w") as f:
            json.dump(figures, f, indent=1)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
