"""PTQ vs QAT vs float on a residual model trained on real offline data: the table in
docs/QAT.md.

Data: grayscale 16x16 patches of scikit-image's bundled photographs and textures (offline),
one class per image; training patches come from the left 70 % of each image, test patches from
the right 25 %, so no test pixel was seen in training. Model: a small MobileNetV2-style network
(inverted residual blocks with residual adds, depthwise 3x3, ReLU6, BatchNorm), trained in
float. Then, at each weight bit width:

- PTQ: int8rt's post-training quantization with every observer method and with / without bias
  correction; the best test accuracy of these is reported (the best int8rt method, chosen on
  the test set: a generous baseline);
- QAT: int8rt.qat.prepare_qat from the float model, qat.calibrate (int8rt's minmax observers),
  6 epochs of fine-tuning (Adam, lr 2e-4, cosine) with the float model's BatchNorm statistics
  frozen (folded) from the start and the range observers frozen after one epoch, then
  deployed with qat.to_int8rt and run by int8rt. "simulated" is the QAT model itself in eval
  mode; "agree" is the share of test patches on which the simulated and deployed predictions
  are equal, "identical outputs" whether every logit is bit-identical.

    python tools/qat_table.py                 # the markdown table in docs/QAT.md
    python tools/qat_table.py --bits 3 --lsq --data digits --width 4   # other settings

Deterministic: fixed seeds, one torch thread.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np
import torch
from torch import nn
from torch.nn import functional as F

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import int8rt
from int8rt import qat
from int8rt.quant.ptq import quantize as ptq_quantize

IMAGES = ["brick", "grass", "gravel", "camera", "coins", "moon", "cell", "clock", "page", "text",
          "astronaut", "coffee", "chelsea", "rocket", "immunohistochemistry", "hubble_deep_field"]
PATCH = 16


def _take(rng: np.random.Generator, img: np.ndarray, n: int, lo: float, hi: float
          ) -> np.ndarray:
    """n random patches whose left edge lies in [lo, hi) of the image's width."""
    h, w = img.shape
    ys = rng.integers(0, h - PATCH, n)
    xs = rng.integers(int(lo * (w - PATCH)), int(hi * (w - PATCH)), n)
    return np.stack([img[y:y + PATCH, x:x + PATCH] for y, x in zip(ys, xs)])


def load_patches(n_train: int = 200, n_test: int = 60, seed: int = 0):
    """(x_train, x_test, y_train, y_test): float32 [N, 1, 16, 16] in [0, 1], int64 labels."""
    import skimage.color
    import skimage.data

    rng = np.random.default_rng(seed)
    xs_tr, xs_te, ys_tr, ys_te = [], [], [], []
    for label, name in enumerate(IMAGES):
        img = getattr(skimage.data, name)()
        if img.ndim == 3:
            img = skimage.color.rgb2gray(img[..., :3])
        else:
            img = img.astype(np.float64) / 255.0
        xs_tr.append(_take(rng, img, n_train, 0.0, 0.7))
        xs_te.append(_take(rng, img, n_test, 0.75, 1.0))
        ys_tr += [label] * n_train
        ys_te += [label] * n_test
    x_tr = np.concatenate(xs_tr)[:, None].astype(np.float32)
    x_te = np.concatenate(xs_te)[:, None].astype(np.float32)
    return x_tr, x_te, np.array(ys_tr, np.int64), np.array(ys_te, np.int64)


def load_digits16():
    """scikit-learn's bundled 8x8 digits (the project's usual split, tools/train_demo.py),
    upscaled to 16x16 (bilinear)."""
    sys.path.insert(0, str(Path(__file__).resolve().parent))
    from train_demo import load_split

    x_tr, x_te, y_tr, y_te = load_split()

    def up(a: np.ndarray) -> np.ndarray:
        return F.interpolate(torch.from_numpy(a), size=(PATCH, PATCH), mode="bilinear",
                             align_corners=False).numpy()

    return up(x_tr), up(x_te), y_tr, y_te


DATASETS = {"patches": (load_patches, len(IMAGES)), "digits": (load_digits16, 10)}


def conv_bn(cin: int, cout: int, k: int, stride: int = 1, groups: int = 1,
            act: bool = True) -> nn.Sequential:
    layers = [nn.Conv2d(cin, cout, k, stride, k // 2, groups=groups, bias=False),
              nn.BatchNorm2d(cout)]
    return nn.Sequential(*layers, nn.ReLU6()) if act else nn.Sequential(*layers)


class InvertedResidual(nn.Module):
    def __init__(self, cin: int, cout: int, stride: int, expand: int) -> None:
        super().__init__()
        h = cin * expand
        self.block = nn.Sequential(conv_bn(cin, h, 1), conv_bn(h, h, 3, stride, h),
                                   conv_bn(h, cout, 1, act=False))
        self.residual = stride == 1 and cin == cout

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = self.block(x)
        return x + y if self.residual else y


class ResidualNet(nn.Module):
    def __init__(self, classes: int, w: int = 8) -> None:
        super().__init__()
        a, b, c = 2 * w, 3 * w, 4 * w
        self.features = nn.Sequential(
            conv_bn(1, a, 3), InvertedResidual(a, a, 1, 2), InvertedResidual(a, b, 2, 4),
            InvertedResidual(b, b, 1, 4), InvertedResidual(b, c, 2, 4),
            InvertedResidual(c, c, 1, 4), conv_bn(c, 8 * w, 1))
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.fc = nn.Linear(8 * w, classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc(torch.flatten(self.pool(self.features(x)), 1))


def train(model: nn.Module, x: np.ndarray, y: np.ndarray, epochs: int, lr: float,
          seed: int) -> None:
    gen = torch.Generator().manual_seed(seed)
    opt = torch.optim.Adam(model.parameters(), lr=lr)
    sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, epochs)
    xt, yt = torch.from_numpy(x), torch.from_numpy(y)
    for _ in range(epochs):
        model.train()
        perm = torch.randperm(len(xt), generator=gen)
        for k in range(0, len(xt), 64):
            idx = perm[k:k + 64]
            loss = F.cross_entropy(model(xt[idx]), yt[idx])
            opt.zero_grad()
            loss.backward()
            opt.step()
        sched.step()
    model.eval()


def accuracy(logits: np.ndarray, y: np.ndarray) -> float:
    return float((logits.argmax(1) == y).mean())


def best_ptq(graph, x_tr: np.ndarray, x_te: np.ndarray, y_te: np.ndarray,
             bits: int) -> tuple[float, str]:
    calib = [x_tr[k:k + 1] for k in range(0, len(x_tr), max(1, len(x_tr) // 256))]
    best = (-1.0, "")
    for method in ("minmax", "percentile", "mse", "entropy"):
        for bc in (False, True):
            qg = ptq_quantize(graph, calib, method=method, weight_bits=bits, progress=False,
                              bias_correction=bc)
            acc = accuracy(int8rt.Session(qg).run(None, {"x": x_te})[0], y_te)
            best = max(best, (acc, method + (" + bias correction" if bc else "")))
    return best


def evaluate(bits: int, model: nn.Module, data, qat_epochs: int, lr: float, bn_epochs: float,
             lsq: bool, seed: int = 0) -> dict:
    x_tr, x_te, y_tr, y_te = data
    graph = int8rt.load_float_model(qat.capture.to_onnx(
        qat.capture.trace(model, (torch.from_numpy(x_tr[:2]),))))
    acc_ptq, method = best_ptq(graph, x_tr, x_te, y_te, bits)

    steps_per_epoch = (len(x_tr) + 63) // 64
    q = qat.prepare_qat(model, torch.from_numpy(x_tr[:64]), weight_bits=bits,
                        bn_freeze_steps=int(bn_epochs * steps_per_epoch),
                        observer_steps=steps_per_epoch, learnable_scales=lsq)
    qat.calibrate(q, torch.from_numpy(x_tr[::4]))
    train(q, x_tr, y_tr, epochs=qat_epochs, lr=lr, seed=seed + 1)
    with torch.no_grad():
        sim = q(torch.from_numpy(x_te)).numpy()
    deployed = int8rt.Session(qat.to_int8rt(q)).run(None, {"x": x_te})[0]
    return {"bits": bits, "ptq": acc_ptq, "ptq_method": method, "qat_sim": accuracy(sim, y_te),
            "qat_int8rt": accuracy(deployed, y_te),
            "agree": float((sim.argmax(1) == deployed.argmax(1)).mean()),
            "identical": bool(np.array_equal(sim, deployed))}


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--bits", type=int, nargs="+", default=[4, 8])
    ap.add_argument("--epochs", type=int, default=20, help="float training epochs")
    ap.add_argument("--qat-epochs", type=int, default=6)
    ap.add_argument("--width", type=int, default=8, help="channels = multiples of this")
    ap.add_argument("--qat-lr", type=float, default=2e-4)
    ap.add_argument("--bn-epochs", type=float, default=0.0,
                    help="QAT epochs with live BatchNorm statistics before they freeze")
    ap.add_argument("--lsq", action="store_true", help="learnable scales (LSQ)")
    ap.add_argument("--data", choices=sorted(DATASETS), default="patches")
    ap.add_argument("--float-cache", help="save / load the float model's state_dict here")
    args = ap.parse_args(argv)
    torch.set_num_threads(1)
    t0 = time.time()
    load, classes = DATASETS[args.data]
    data = load()
    torch.manual_seed(0)
    model = ResidualNet(classes, args.width)
    if args.float_cache and Path(args.float_cache).exists():
        model.load_state_dict(torch.load(args.float_cache))
    else:
        train(model, data[0], data[2], epochs=args.epochs, lr=3e-3, seed=0)
        if args.float_cache:
            torch.save(model.state_dict(), args.float_cache)
    model.eval()
    with torch.no_grad():
        acc_float = accuracy(model(torch.from_numpy(data[1])).numpy(), data[3])
    rows = [evaluate(bits, model, data, args.qat_epochs, args.qat_lr, args.bn_epochs, args.lsq)
            for bits in args.bits]
    what = (f"scikit-image patches, {len(IMAGES)} classes" if args.data == "patches" else
            "scikit-learn digits upscaled, 10 classes")
    print(f"{what}: {len(data[0])} training / {len(data[1])} test images of {PATCH}x{PATCH}; "
          f"residual MobileNetV2-style net (width {args.width}); int8 activations; "
          f"{time.time() - t0:.0f} s\n")
    print("| weight bits | float | PTQ (best int8rt method) | QAT simulated | QAT int8rt-deployed "
          "| same predictions | identical outputs |")
    print("|---|---|---|---|---|---|---|")
    for r in rows:
        print(f"| {r['bits']} | {acc_float:.2%} | {r['ptq']:.2%} ({r['ptq_method']}) | "
              f"{r['qat_sim']:.2%} | {r['qat_int8rt']:.2%} | {r['agree']:.2%} | "
              f"{'yes' if r['identical'] else 'no'} |")


if __name__ == "__main__":
    main()
