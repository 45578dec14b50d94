"""The models and data sets of docs/ACCURACY.md: trained here, on data that ships offline.

- `digits_cnn`: the demo CNN (tools/train_demo.py) on scikit-learn's digits, as committed
  (tools/data/digits_cnn.onnx, int8rt/data/digits_test.npz);
- `mobilenet_patches`: a depthwise-separable MobileNet-style CNN (5 dw/pw blocks, BN folded
  at export, ReLU) classifying which scikit-image sample photograph (`skimage.data`, bundled
  in the wheel, 18 photos) a 32x32 patch comes from. Each photo is split spatially: left 70 %
  for training patches, the right 30 % split top / bottom into validation and test, so no
  test pixel was seen in training;
- `mlp_breast_cancer`: a 30-64-32-2 ReLU MLP on scikit-learn's breast_cancer (standardised
  with the training split's statistics).

Training is seeded and single-threaded (deterministic); each model trains in well under two
minutes of CPU. Trained ONNX files and their data are cached under build/accuracy/ (git-ignored).
"""

from __future__ import annotations

import sys
import warnings
from dataclasses import dataclass
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parent.parent
CACHE = REPO / "build" / "accuracy"
SEED = 0


@dataclass
class Task:
    name: str
    onnx: Path
    x_calib: np.ndarray  # from the training split
    x_val: np.ndarray
    y_val: np.ndarray
    x_test: np.ndarray
    y_test: np.ndarray
    description: str


def _export(model, path: Path, shape: tuple[int, ...]) -> Path:
    import onnx
    import torch

    path.parent.mkdir(parents=True, exist_ok=True)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        torch.onnx.export(model.eval(), (torch.zeros(shape),), str(path), dynamo=False,
                          opset_version=17, input_names=["input"], output_names=["output"],
                          do_constant_folding=True)
    onnx.checker.check_model(str(path))
    return path


def _fit(model, x: np.ndarray, y: np.ndarray, epochs: int, lr: float, batch: int,
         augment=None):
    import torch
    from torch import nn

    torch.manual_seed(SEED)
    opt = torch.optim.AdamW(model.parameters(), lr=lr, weight_decay=1e-4)
    steps = epochs * ((len(x) + batch - 1) // batch)
    sched = torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=lr, total_steps=steps)
    xt, yt = torch.from_numpy(x), torch.from_numpy(y)
    gen = torch.Generator().manual_seed(SEED)
    for _ in range(epochs):
        model.train()
        perm = torch.randperm(len(xt), generator=gen)
        for i in range(0, len(xt), batch):
            idx = perm[i:i + batch]
            xb = xt[idx] if augment is None else augment(xt[idx], gen)
            loss = nn.functional.cross_entropy(model(xb), yt[idx])
            opt.zero_grad()
            loss.backward()
            opt.step()
            sched.step()
    return model.eval()


def _torch_setup() -> None:
    import torch

    torch.set_num_threads(1)
    torch.use_deterministic_algorithms(True)


# -- digits CNN (committed) ------------------------------------------------------------------
def digits_cnn() -> Task:
    d = np.load(REPO / "int8rt" / "data" / "digits_test.npz")
    x, y = d["x_test"], d["y_test"]
    # the committed test split is halved: even indices validate (mixed-precision search),
    # odd ones test
    return Task("digits_cnn", REPO / "tools" / "data" / "digits_cnn.onnx", d["x_calib"],
                x[0::2], y[0::2], x[1::2], y[1::2],
                "tools/train_demo.py CNN (3 conv + BN + ReLU, GAP, fc) on sklearn digits 8x8")


# -- MobileNet-style CNN on scikit-image patches -----------------------------------------------
PATCH = 32
MEAN = np.array([0.485, 0.456, 0.406], np.float32)
STD = np.array([0.229, 0.224, 0.225], np.float32)


def _patches(img: np.ndarray, rng: np.random.Generator, n: int, region: tuple[float, float,
             float, float]) -> np.ndarray:
    h, w = img.shape[:2]
    y0, y1 = int(region[0] * h), int(region[1] * h)
    x0, x1 = int(region[2] * w), int(region[3] * w)
    ys = rng.integers(y0, max(y0 + 1, y1 - PATCH + 1), n)
    xs = rng.integers(x0, max(x0 + 1, x1 - PATCH + 1), n)
    out = np.stack([img[a:a + PATCH, b:b + PATCH] for a, b in zip(ys, xs)])
    return ((out - MEAN) / STD).transpose(0, 3, 1, 2).astype(np.float32)


def patch_data(n_train: int = 400, n_eval: int = 60):
    sys.path.insert(0, str(REPO))
    from tests.models.images import source_images

    rng = np.random.default_rng(SEED)
    parts: dict[str, list] = {"train": [], "val": [], "test": []}
    labels: dict[str, list] = {"train": [], "val": [], "test": []}
    regions = {"train": (0.0, 1.0, 0.0, 0.7), "val": (0.0, 0.5, 0.7, 1.0),
               "test": (0.5, 1.0, 0.7, 1.0)}
    for k, img in enumerate(source_images()):
        for split, region in regions.items():
            n = n_train if split == "train" else n_eval
            parts[split].append(_patches(img, rng, n, region))
            labels[split].append(np.full(n, k, np.int64))
    return {s: (np.concatenate(parts[s]), np.concatenate(labels[s])) for s in parts}


def _mobilenet(classes: int):
    from torch import nn

    def cbr(cin, cout, k, stride=1, groups=1):
        return [nn.Conv2d(cin, cout, k, stride, k // 2, groups=groups, bias=False),
                nn.BatchNorm2d(cout), nn.ReLU(inplace=True)]

    def ds(cin, cout, stride):  # depthwise 3x3 + pointwise 1x1 (MobileNet v1 block)
        return cbr(cin, cin, 3, stride, groups=cin) + cbr(cin, cout, 1)

    return nn.Sequential(*cbr(3, 16, 3), *ds(16, 32, 2), *ds(32, 64, 1), *ds(64, 64, 2),
                         *ds(64, 128, 1), *ds(128, 128, 2), nn.AdaptiveAvgPool2d(1),
                         nn.Flatten(), nn.Linear(128, classes))


def mobilenet_patches(epochs: int = 12) -> Task:
    path = CACHE / "mobilenet_patches.onnx"
    data_path = CACHE / "mobilenet_patches.npz"
    if not path.exists() or not data_path.exists():
        CACHE.mkdir(parents=True, exist_ok=True)
        import torch

        _torch_setup()
        d = patch_data()
        x_tr, y_tr = d["train"]
        model = _mobilenet(int(y_tr.max()) + 1)

        def flip(xb, gen):
            return torch.flip(xb, dims=(3,)) if torch.rand(1, generator=gen) < 0.5 else xb

        _fit(model, x_tr, y_tr, epochs, 5e-3, 64, flip)
        calib = x_tr[np.random.default_rng(SEED).choice(len(x_tr), 256, replace=False)]
        np.savez_compressed(data_path, x_calib=calib, x_val=d["val"][0], y_val=d["val"][1],
                            x_test=d["test"][0], y_test=d["test"][1])
        _export(model, path, (1, 3, PATCH, PATCH))
    d = np.load(data_path)
    return Task("mobilenet_patches", path, d["x_calib"], d["x_val"], d["y_val"], d["x_test"],
                d["y_test"], "MobileNet-v1-style CNN (conv + 5 depthwise-separable blocks, BN, "
                "ReLU) on 32x32 patches of the 18 scikit-image sample photos (18 classes)")


# -- MLP on breast_cancer --------------------------------------------------------------------
def mlp_breast_cancer(epochs: int = 150) -> Task:
    path = CACHE / "mlp_breast_cancer.onnx"
    data_path = CACHE / "mlp_breast_cancer.npz"
    if not path.exists() or not data_path.exists():
        CACHE.mkdir(parents=True, exist_ok=True)
        from sklearn.datasets import load_breast_cancer
        from sklearn.model_selection import train_test_split
        from torch import nn

        _torch_setup()
        x, y = load_breast_cancer(return_X_y=True)
        x_tr, x_te, y_tr, y_te = train_test_split(x, y, test_size=0.4, stratify=y,
                                                  random_state=SEED)
        mu, sd = x_tr.mean(0), x_tr.std(0) + 1e-12
        x_tr, x_te = ((x_tr - mu) / sd).astype(np.float32), ((x_te - mu) / sd).astype(np.float32)
        y_tr, y_te = y_tr.astype(np.int64), y_te.astype(np.int64)
        model = nn.Sequential(nn.Linear(30, 64), nn.ReLU(), nn.Linear(64, 32), nn.ReLU(),
                              nn.Linear(32, 2))
        _fit(model, x_tr, y_tr, epochs, 3e-3, 32)
        np.savez_compressed(data_path, x_calib=x_tr, x_val=x_te[0::2], y_val=y_te[0::2],
                            x_test=x_te[1::2], y_test=y_te[1::2])
        _export(model, path, (1, 30))
    d = np.load(data_path)
    return Task("mlp_breast_cancer", path, d["x_calib"], d["x_val"], d["y_val"], d["x_test"],
                d["y_test"], "MLP 30-64-32-2 (ReLU) on sklearn breast_cancer, standardised")


TASKS = {"digits_cnn": digits_cnn, "mobilenet_patches": mobilenet_patches,
         "mlp_breast_cancer": mlp_breast_cancer}
