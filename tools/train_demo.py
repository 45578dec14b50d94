"""Train the bundled demo model: a small CNN on scikit-learn's digits (8x8 grayscale, 10 classes).

    python tools/train_demo.py [--onnx tools/data/digits_cnn.onnx] \
        [--npz int8rt/data/digits_test.npz] [--i8 int8rt/data/digits_cnn.i8]

Deterministic (fixed seeds, one thread). Writes
- the test set and a calibration set as an .npz: x_test float32 [N,1,8,8] already preprocessed
  (pixel / 16, so in [0, 1]), y_test int64, x_calib float32 [100,1,8,8] from the training split,
  y_calib int64;
- the trained float model as ONNX (opset 17, input "input" [1,1,8,8], output "output" [1,10]
  logits), exported with torch's TorchScript-based exporter (needs no onnxscript);
- the same model imported into int8rt's own float format (.i8), which is what the package ships:
  `int8rt demo` then needs no onnx. `--convert-only` redoes just this step from the ONNX file.
Reaches >= 97 % test accuracy in a few seconds of CPU time.
"""

from __future__ import annotations

import argparse
import sys
import time
import warnings
from pathlib import Path

import numpy as np
import torch
from torch import nn

SEED = 0
TEST_FRACTION = 0.3
N_CALIB = 100


class DigitsCNN(nn.Module):
    """conv3x3(16)-bn-relu, conv3x3(32)-bn-relu, maxpool 2, conv3x3(64)-bn-relu, GAP, fc(10)."""

    def __init__(self) -> None:
        super().__init__()

        def cbr(cin: int, cout: int) -> list[nn.Module]:
            return [nn.Conv2d(cin, cout, 3, padding=1, bias=False), nn.BatchNorm2d(cout),
                    nn.ReLU(inplace=True)]

        self.features = nn.Sequential(*cbr(1, 16), *cbr(16, 32), nn.MaxPool2d(2), *cbr(32, 64),
                                      nn.AdaptiveAvgPool2d(1))
        self.fc = nn.Linear(64, 10)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc(torch.flatten(self.features(x), 1))


def load_split() -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    from sklearn.datasets import load_digits
    from sklearn.model_selection import train_test_split

    digits = load_digits()
    # Pixels are integers 0..16; /16 maps them to [0, 1], exactly representable in float32.
    x = (digits.images.astype(np.float32) / 16.0)[:, None, :, :]
    y = digits.target.astype(np.int64)
    x_tr, x_te, y_tr, y_te = train_test_split(x, y, test_size=TEST_FRACTION, stratify=y,
                                              random_state=SEED)
    return x_tr, x_te, y_tr, y_te


def train(x_tr: np.ndarray, y_tr: np.ndarray, epochs: int = 40) -> DigitsCNN:
    torch.manual_seed(SEED)
    model = DigitsCNN()
    opt = torch.optim.AdamW(model.parameters(), lr=3e-3, weight_decay=1e-4)
    sched = torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=1e-2, total_steps=epochs * (
        (len(x_tr) + 63) // 64))
    xt, yt = torch.from_numpy(x_tr), torch.from_numpy(y_tr)
    gen = torch.Generator().manual_seed(SEED)
    for _ in range(epochs):
        model.train()
        perm = torch.randperm(len(xt), generator=gen)
        for i in range(0, len(xt), 64):
            idx = perm[i:i + 64]
            xb = xt[idx]
            # One-pixel random shifts: cheap augmentation that helps on 8x8 digits.
            dy, dx = (int(v) for v in torch.randint(-1, 2, (2,), generator=gen))
            xb = torch.roll(xb, shifts=(dy, dx), dims=(2, 3))
            loss = nn.functional.cross_entropy(model(xb), yt[idx])
            opt.zero_grad()
            loss.backward()
            opt.step()
            sched.step()
    return model.eval()


@torch.no_grad()
def accuracy(model: nn.Module, x: np.ndarray, y: np.ndarray) -> float:
    return float((model(torch.from_numpy(x)).argmax(1).numpy() == y).mean())


def export(model: nn.Module, path: Path) -> None:
    import onnx

    path.parent.mkdir(parents=True, exist_ok=True)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        torch.onnx.export(model, (torch.zeros(1, 1, 8, 8),), str(path), dynamo=False,
                          opset_version=17, input_names=["input"], output_names=["output"],
                          do_constant_folding=True)
    onnx.checker.check_model(str(path))


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--onnx", type=Path, default=Path("tools/data/digits_cnn.onnx"))
    ap.add_argument("--i8", type=Path, default=Path("int8rt/data/digits_cnn.i8"))
    ap.add_argument("--convert-only", action="store_true",
                    help="only import --onnx into --i8 (no training)")
    ap.add_argument("--npz", type=Path, default=Path("int8rt/data/digits_test.npz"))
    ap.add_argument("--epochs", type=int, default=40)
    args = ap.parse_args(argv)
    if args.convert_only:
        convert(args.onnx, args.i8)
        return

    torch.set_num_threads(1)
    torch.use_deterministic_algorithms(True)
    t0 = time.perf_counter()
    x_tr, x_te, y_tr, y_te = load_split()
    model = train(x_tr, y_tr, args.epochs)
    acc = accuracy(model, x_te, y_te)
    train_acc = accuracy(model, x_tr, y_tr)
    print(f"trained in {time.perf_counter() - t0:.1f} s: train acc {train_acc:.4f}, "
          f"test acc {acc:.4f} ({len(y_te)} images)")
    if acc < 0.97:
        raise SystemExit(f"test accuracy {acc:.4f} < 0.97")

    # Calibration images: a stratified-enough, seeded subset of the training split.
    calib_idx = np.random.default_rng(SEED).choice(len(x_tr), N_CALIB, replace=False)
    args.npz.parent.mkdir(parents=True, exist_ok=True)
    np.savez_compressed(args.npz, x_test=x_te, y_test=y_te, x_calib=x_tr[calib_idx],
                        y_calib=y_tr[calib_idx])
    export(model, args.onnx)
    print(f"wrote {args.npz} ({args.npz.stat().st_size} B), {args.onnx} "
          f"({args.onnx.stat().st_size} B)")
    convert(args.onnx, args.i8)


def convert(onnx_path: Path, i8_path: Path) -> None:
    """Import the ONNX model into a canonical float graph and save it as .i8."""
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # run from a checkout
    from int8rt import format as i8format
    from int8rt.frontend.onnx import import_onnx

    graph = import_onnx(str(onnx_path))
    graph.name = "digits_cnn"
    i8_path.parent.mkdir(parents=True, exist_ok=True)
    i8format.save(graph, i8_path)
    print(f"wrote {i8_path} ({i8_path.stat().st_size} B): "
          f"{', '.join(n.op for n in graph.nodes)}")


if __name__ == "__main__":
    main()
