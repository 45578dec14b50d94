"""PTQ vs QAT on scikit-learn's bundled digits (offline): the table in docs/QAT.md.

For each setting a float model is trained, then
- PTQ: int8rt's post-training quantization (minmax calibration on 200 training images, the
  given weight bit width), deployed and run by int8rt;
- QAT: int8rt.qat.prepare_qat from the float model, fine-tuned with fake quantization, then
  exported to QDQ ONNX and deployed by int8rt; the torch-simulated accuracy (the fake-quantized
  model itself) is reported beside the int8rt-deployed one, with how many test predictions
  agree and the largest logit difference.

    python tools/qat_table.py            # prints the markdown table (about 1-2 min, 1 thread)

Deterministic: fixed seeds, one torch thread.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np
import torch
from torch import nn

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from train_demo import load_split

import int8rt
from int8rt import qat
from int8rt.quant.ptq import quantize as ptq_quantize


def cnn() -> nn.Sequential:
    return nn.Sequential(
        nn.Conv2d(1, 16, 3, padding=1), nn.BatchNorm2d(16), nn.ReLU(),
        nn.Conv2d(16, 32, 3, padding=1), nn.BatchNorm2d(32), nn.ReLU(), nn.MaxPool2d(2),
        nn.Conv2d(32, 32, 3, padding=1), nn.BatchNorm2d(32), nn.ReLU(),
        nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(32, 10))


def depthwise() -> nn.Sequential:
    """A small depthwise-separable net (MobileNet-style blocks, ReLU6)."""
    def block(cin: int, cout: int, stride: int) -> list[nn.Module]:
        return [nn.Conv2d(cin, cin, 3, stride, 1, groups=cin), nn.BatchNorm2d(cin), nn.ReLU6(),
                nn.Conv2d(cin, cout, 1), nn.BatchNorm2d(cout), nn.ReLU6()]
    return nn.Sequential(nn.Conv2d(1, 8, 3, padding=1), nn.BatchNorm2d(8), nn.ReLU6(),
                         *block(8, 16, 1), *block(16, 32, 2), *block(32, 32, 1),
                         nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(32, 10))


def train(model: nn.Module, x: torch.Tensor, y: torch.Tensor, epochs: int, lr: float,
          seed: int) -> None:
    gen = torch.Generator().manual_seed(seed)
    opt = torch.optim.Adam(model.parameters(), lr=lr)
    sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, epochs)
    model.train()
    for _ in range(epochs):
        perm = torch.randperm(len(x), generator=gen)
        for k in range(0, len(x), 64):
            idx = perm[k:k + 64]
            loss = nn.functional.cross_entropy(model(x[idx]), y[idx])
            opt.zero_grad()
            loss.backward()
            opt.step()
        sched.step()
    model.eval()


def export_float(model: nn.Module, path: Path) -> None:
    torch.onnx.export(model, torch.zeros(1, 1, 8, 8), str(path), dynamo=False, opset_version=13,
                      input_names=["input"], output_names=["output"],
                      dynamic_axes={"input": {0: "batch"}, "output": {0: "batch"}})


def run_int8rt(qm, x: np.ndarray) -> np.ndarray:
    return int8rt.Session(qm).run(None, {"input": x})[0]


def evaluate(name: str, make, weight_bits: int, tmp: Path, data, seed: int = 0) -> dict:
    x_tr, x_te, y_tr, y_te = data
    xt, yt = torch.from_numpy(x_tr), torch.from_numpy(y_tr)
    torch.manual_seed(seed)
    model = make()
    train(model, xt, yt, epochs=30, lr=3e-3, seed=seed)
    with torch.no_grad():
        acc_float = float((model(torch.from_numpy(x_te)).argmax(1).numpy() == y_te).mean())
    path = tmp / f"{name}.onnx"
    export_float(model, path)
    graph = int8rt.load_float_model(str(path))
    calib = [x_tr[k:k + 1] for k in range(200)]
    qgraph = ptq_quantize(graph, calib, weight_bits=weight_bits, progress=False)
    acc_ptq = float((run_int8rt(qgraph, x_te).argmax(1) == y_te).mean())

    torch.manual_seed(seed)
    q = qat.prepare_qat(model, weight_bits=weight_bits)
    train(q, xt, yt, epochs=10, lr=5e-4, seed=seed + 1)
    with torch.no_grad():
        sim = q(torch.from_numpy(x_te)).numpy()
    deployed = run_int8rt(qat.to_int8rt(q, torch.from_numpy(x_te[:1])), x_te)
    return {"name": name, "bits": weight_bits, "float": acc_float, "ptq": acc_ptq,
                "qat_sim": float((sim.argmax(1) == y_te).mean()),
                "qat_int8rt": float((deployed.argmax(1) == y_te).mean()),
                "agree": float((sim.argmax(1) == deployed.argmax(1)).mean()),
                "max_logit_diff": float(np.abs(sim - deployed).max())}


SETTINGS = [("cnn", cnn, 8), ("cnn", cnn, 4), ("cnn", cnn, 3), ("depthwise", depthwise, 8),
            ("depthwise", depthwise, 4), ("depthwise", depthwise, 3)]


def main(argv: list[str] | None = None) -> None:
    import tempfile

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.parse_args(argv)
    torch.set_num_threads(1)
    data = load_split()
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for name, make, bits in SETTINGS:
            rows.append(evaluate(name, make, bits, Path(tmp), data))
    print(f"digits (scikit-learn load_digits), {len(data[1])} test images\n")
    print("| model | weight bits | float | PTQ (int8rt) | QAT torch-simulated | "
          "QAT int8rt-deployed | same predictions | max logit diff |")
    print("|---|---|---|---|---|---|---|---|")
    for r in rows:
        print(f"| {r['name']} | {r['bits']} | {r['float']:.2%} | {r['ptq']:.2%} | "
              f"{r['qat_sim']:.2%} | {r['qat_int8rt']:.2%} | {r['agree']:.2%} | "
              f"{r['max_logit_diff']:.2g} |")


if __name__ == "__main__":
    main()
