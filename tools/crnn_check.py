"""Train a small CRNN-style OCR model (convolutions + bidirectional LSTM + CTC head) on
rendered digit strings, export it with torch, and compare int8rt's quantizations with fp32
(docs/TRANSFORMERS.md "CRNN"):

- int8rt `quantize(..., mode="static")` with calibration images: the convolutions run with
  calibrated int8 activations, the LSTM and the Linear head dynamically (reported);
- int8rt `quantize(..., mode="dynamic")`: convolutions with per-image dynamic int8 activations;
- ONNX Runtime `quantize_dynamic` (ConvInteger / MatMulInteger / DynamicQuantizeLSTM), run by
  ONNX Runtime and imported by int8rt with its own int8 weights.

Data: strings of 3-8 digits drawn with PIL (Pillow's bundled font at random sizes, offsets,
stroke widths and a small shear, light noise), 32 pixels high, variable width (a multiple of
8). No download. Sequence accuracy = the greedy CTC decoding equals the string exactly.

    python tools/crnn_check.py                      # train, evaluate, print the figures
    python tools/crnn_check.py --json figures.json  # and write them
"""

from __future__ import annotations

import argparse
import io
import json
import statistics
import tempfile
import time
import warnings
from pathlib import Path

import numpy as np

HEIGHT = 32
BLANK = 10  # CTC blank class; classes 0-9 are the digits


def render(text: str, rng: np.random.Generator) -> np.ndarray:
    """One string as a float32 [32, W] image in [0, 1] (ink = 1), W a multiple of 8."""
    from PIL import Image, ImageDraw, ImageFont

    size = int(rng.integers(18, 27))
    font = ImageFont.load_default(size=size)
    stroke = int(rng.integers(0, 2))
    x0, y0, x1, y1 = font.getbbox(text, stroke_width=stroke)
    w = int(np.ceil((x1 - x0 + 8 + rng.integers(0, 9)) / 8) * 8)
    img = Image.new("L", (w, HEIGHT), 0)
    d = ImageDraw.Draw(img)
    dy = (HEIGHT - (y1 - y0)) / 2 - y0 + rng.uniform(-2, 2)
    d.text((4 - x0 + rng.uniform(0, 3), dy), text, fill=int(rng.integers(170, 256)),
           font=font, stroke_width=stroke, stroke_fill=255)
    shear = rng.uniform(-0.25, 0.25)
    img = img.transform(img.size, Image.AFFINE, (1, shear, -shear * HEIGHT / 2, 0, 1, 0),
                        resample=Image.BILINEAR)
    a = np.asarray(img, np.float32) / 255.0
    a = a + rng.normal(0, 0.05, a.shape).astype(np.float32)
    return np.clip(a, 0, 1).astype(np.float32)


def dataset(n: int, seed: int) -> list[tuple[np.ndarray, str]]:
    rng = np.random.default_rng(seed)
    out = []
    for _ in range(n):
        text = "".join(str(d) for d in rng.integers(0, 10, int(rng.integers(3, 9))))
        out.append((render(text, rng), text))
    return out


def build(hidden: int = 48, width: int = 16):
    import torch

    class CRNN(torch.nn.Module):
        def __init__(self):
            super().__init__()
            c = torch.nn.Conv2d
            self.cnn = torch.nn.Sequential(
                c(1, width, 3, padding=1), torch.nn.ReLU(), torch.nn.MaxPool2d(2),
                c(width, 2 * width, 3, padding=1), torch.nn.ReLU(), torch.nn.MaxPool2d(2),
                c(2 * width, 2 * width, 3, padding=1), torch.nn.ReLU(),
                torch.nn.MaxPool2d((2, 1)))
            self.rnn = torch.nn.LSTM(2 * width * 4, hidden, bidirectional=True)
            self.fc = torch.nn.Linear(2 * hidden, BLANK + 1)

        def forward(self, x):  # x [B, 1, 32, W] -> logits [W / 4, B, 11]
            f = self.cnn(x)  # [B, 2 * width, 4, W / 4]
            b, c, h, w = f.shape
            f = f.permute(3, 0, 1, 2).reshape(w, b, c * h)
            return self.fc(self.rnn(f)[0])

    return CRNN()


def batches(data, bs: int, rng: np.random.Generator):
    """Batches padded to their widest image (background 0), with the CTC targets."""
    idx = rng.permutation(len(data))
    for i in range(0, len(idx) - bs + 1, bs):
        items = [data[j] for j in idx[i:i + bs]]
        w = max(a.shape[1] for a, _ in items)
        x = np.zeros((bs, 1, HEIGHT, w), np.float32)
        for k, (a, _) in enumerate(items):
            x[k, 0, :, :a.shape[1]] = a
        yield x, [t for _, t in items]


def train(model, data, epochs: int, seed: int = 0, log=print):
    import torch

    torch.manual_seed(seed)
    rng = np.random.default_rng(seed)
    bs = 32
    steps = epochs * (len(data) // bs)
    opt = torch.optim.Adam(model.parameters(), lr=3e-3)
    sched = torch.optim.lr_scheduler.OneCycleLR(opt, 3e-3, total_steps=steps)
    ctc = torch.nn.CTCLoss(blank=BLANK, zero_infinity=True)
    model.train()
    for ep in range(epochs):
        for x, texts in batches(data, bs, rng):
            out = model(torch.from_numpy(x)).log_softmax(-1)
            tgt = torch.tensor([int(c) for t in texts for c in t])
            lens = torch.tensor([len(t) for t in texts])
            loss = ctc(out, tgt, torch.full((bs,), out.shape[0], dtype=torch.long), lens)
            opt.zero_grad()
            loss.backward()
            opt.step()
            sched.step()
        log(f"  epoch {ep + 1}/{epochs}: loss {loss.item():.3f}", flush=True)
    return model.eval()


def export(model) -> bytes:
    import torch

    f = io.BytesIO()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        torch.onnx.export(model, (torch.zeros(1, 1, HEIGHT, 64),), f, input_names=["image"],
                          output_names=["logits"], opset_version=17, dynamo=False,
                          dynamic_axes={"image": {0: "b", 3: "w"}, "logits": {0: "t", 1: "b"}})
    return f.getvalue()


def decode(logits: np.ndarray) -> str:
    """Greedy CTC: best class per step, repeats merged, blanks dropped (logits [T, 1, 11])."""
    best = logits[:, 0].argmax(-1)
    out, prev = [], BLANK
    for c in best:
        if c != prev and c != BLANK:
            out.append(str(int(c)))
        prev = c
    return "".join(out)


def evaluate(run, data) -> tuple[float, list[np.ndarray]]:
    outs = [run(a[None, None]) for a, _ in data]
    acc = float(np.mean([decode(o) == t for o, (_, t) in zip(outs, data)]))
    return acc, outs


def ort_quantize_dynamic(onnx_bytes: bytes) -> bytes:
    """ONNX Runtime's own dynamic quantization of the model (defaults: QInt8 weights)."""
    from onnxruntime.quantization import quantize_dynamic

    with tempfile.TemporaryDirectory() as d:
        src, dst = Path(d) / "m.onnx", Path(d) / "m_q.onnx"
        src.write_bytes(onnx_bytes)
        quantize_dynamic(str(src), str(dst))
        return dst.read_bytes()


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--train", type=int, default=3000, help="training images")
    ap.add_argument("--test", type=int, default=500, help="test images")
    ap.add_argument("--calib", type=int, default=64, help="calibration images (from training)")
    ap.add_argument("--epochs", type=int, default=8)
    ap.add_argument("--rounds", type=int, default=30, help="latency rounds (interleaved)")
    ap.add_argument("--json", help="write the figures here")
    args = ap.parse_args(argv)

    import onnx
    import onnxruntime as ort
    import torch

    import int8rt

    torch.set_num_threads(2)
    t0 = time.perf_counter()
    tr, te = dataset(args.train, 1), dataset(args.test, 2)
    print(flush=True)
    print(f"rendered {len(tr)} training / {len(te)} test images in "
          f"{time.perf_counter() - t0:.1f} s; widths {min(a.shape[1] for a, _ in te)}.."
          f"{max(a.shape[1] for a, _ in te)}")
    t0 = time.perf_counter()
    model = train(build(), tr, args.epochs)
    train_s = time.perf_counter() - t0
    print(f"  trained in {train_s:.0f} s")
    onnx_bytes = export(model)
    opts = ort.SessionOptions()
    opts.intra_op_num_threads = opts.inter_op_num_threads = 1
    ref = ort.InferenceSession(onnx_bytes, opts, providers=["CPUExecutionProvider"])
    ort_q_bytes = ort_quantize_dynamic(onnx_bytes)
    ort_q = ort.InferenceSession(ort_q_bytes, opts, providers=["CPUExecutionProvider"])

    calib = [a[None, None] for a, _ in tr[:args.calib]]
    q_static = int8rt.quantize(onnx.load_from_string(onnx_bytes), calib, mode="static",
                               progress=False)
    q_dyn = int8rt.quantize(onnx.load_from_string(onnx_bytes), mode="dynamic")
    q_ort = int8rt.quantize(onnx.load_from_string(ort_q_bytes), mode="dynamic")
    engines = {
        "ort_fp32": lambda x: ref.run(None, {"image": x})[0],
        "ort_quantize_dynamic": lambda x: ort_q.run(None, {"image": x})[0],
    }
    for name, qm in (("int8rt_static", q_static), ("int8rt_dynamic", q_dyn),
                     ("int8rt_ort_file", q_ort)):
        sess = int8rt.Session(qm, threads=1)
        engines[name] = lambda x, s=sess: s.run(None, {"image": x})[0]
    figures = {"train_images": len(tr), "test_images": len(te), "epochs": args.epochs,
               "train_seconds": round(train_s, 1),
               "static_report": q_static.graph.meta.get("quantization")}
    outs = {}
    for name, run in engines.items():
        acc, outs[name] = evaluate(run, te)
        figures[f"seq_accuracy_{name}"] = acc
    base = outs["ort_fp32"]
    for name in engines:
        if name != "ort_fp32":
            err = [np.abs(o - b) for o, b in zip(outs[name], base)]
            figures[f"max_abs_logit_err_{name}"] = float(max(e.max() for e in err))
            figures[f"mean_abs_logit_err_{name}"] = float(np.mean([e.mean() for e in err]))
    figures["logit_range"] = float(max(np.abs(b).max() for b in base))
    # latency: one thread, batch 1, one 96-pixel-wide image, interleaved rounds
    x = next(a for a, _ in te if a.shape[1] == 96)[None, None] if any(
        a.shape[1] == 96 for a, _ in te) else te[0][0][None, None]
    times = {k: [] for k in engines}
    for run in engines.values():
        run(x)
    for _ in range(args.rounds):
        for k, run in engines.items():
            t = time.perf_counter()
            run(x)
            times[k].append(time.perf_counter() - t)
    for k, v in times.items():
        figures[f"latency_ms_{k}"] = 1e3 * statistics.median(v)
    figures["latency_input"] = list(x.shape)
    for k, v in figures.items():
        print(f"{k:40s} {v:.5g}" if isinstance(v, float) else f"{k:40s} {v}")
    if args.json:
        Path(args.json).write_text(json.dumps(figures, indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
