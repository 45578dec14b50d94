"""Calibration data sources: numpy arrays, .npy / .npz files, and folders of images.

Every source is re-iterable (bias correction and the mixed-precision search read the data
more than once) and deterministic: the same files give the same arrays in the same order
(image files sorted by their path relative to the folder). `num_samples` is the number of
samples the source yields, for progress bars.

Images are preprocessed the usual way (torchvision's ImageNet recipe by default): decode with
Pillow, convert to RGB (or L), resize the shorter side to `resize` with bilinear filtering
(larger if the crop's aspect ratio needs it to fit), center crop to `size`, scale to [0, 1],
subtract `mean` and divide by `std` per channel, optionally reverse the channel order (BGR),
and lay out as CHW (NCHW models, the default) or HWC. Pillow is only imported when a folder is
read.
"""

from __future__ import annotations

import os
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Union

import numpy as np

IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".bmp", ".gif", ".tif", ".tiff", ".webp", ".ppm",
                  ".pgm")
IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)

PathLike = Union[str, "os.PathLike[str]"]


class ArraySource:
    """Samples from one array [N, ...] (or {input: array} with a common N), yielded in
    batches of `batch` samples, at most `limit` samples in all."""

    def __init__(self, data: np.ndarray | dict[str, np.ndarray], limit: int | None = None,
                 batch: int = 16) -> None:
        if isinstance(data, dict):
            sizes = {len(v) for v in data.values()}
            if len(sizes) != 1:
                raise ValueError(f"arrays of the .npz disagree on the sample count: {sizes}")
            n = sizes.pop()
        else:
            data = np.asarray(data)
            if data.ndim == 0:
                raise ValueError("calibration array must have a sample axis")
            n = len(data)
        self.data = data
        self.num_samples = n if limit is None else min(n, int(limit))
        self.batch = int(batch)

    def __len__(self) -> int:
        return (self.num_samples + self.batch - 1) // self.batch

    def __iter__(self) -> Iterator[Any]:
        for i in range(0, self.num_samples, self.batch):
            j = min(i + self.batch, self.num_samples)
            if isinstance(self.data, dict):
                yield {k: np.asarray(v[i:j], np.float32) for k, v in self.data.items()}
            else:
                yield np.asarray(self.data[i:j], np.float32)


def load_array_file(path: PathLike, key: str | None = None, limit: int | None = None,
                    input_names: Sequence[str] | None = None) -> ArraySource:
    """An .npy file (one array [N, ...]) or an .npz: the array `key`, else (when the model's
    `input_names` are known and all in the file) one array per input, else the only array, else
    `x_calib` / `x` / `calib` if present, else every array as {input name: array}."""
    try:
        data = np.load(os.fspath(path), allow_pickle=False)
    except (ValueError, OSError, EOFError) as e:
        raise ValueError(f"{path} is not a readable .npy / .npz file: {e}") from None
    if isinstance(data, np.ndarray):
        return ArraySource(data, limit)
    names = list(data.files)
    if key is None and input_names and all(n in names for n in input_names):
        if len(input_names) == 1:
            return ArraySource(data[input_names[0]], limit)
        return ArraySource({k: data[k] for k in input_names}, limit)
    if key is not None:
        if key not in names:
            raise ValueError(f"{path}: no array {key!r} (has {names})")
        return ArraySource(data[key], limit)
    if len(names) == 1:
        return ArraySource(data[names[0]], limit)
    for k in ("x_calib", "x", "calib"):
        if k in names:
            return ArraySource(data[k], limit)
    return ArraySource({k: data[k] for k in names}, limit)


@dataclass(frozen=True)
class ImagePreprocess:
    size: tuple[int, int] = (224, 224)  # (height, width) after the center crop
    resize: int | None = 256  # shorter side before cropping; None: resize straight to size
    mean: Sequence[float] = IMAGENET_MEAN
    std: Sequence[float] = IMAGENET_STD
    scale: float = 1.0 / 255.0  # applied to the 0..255 pixel values before mean / std
    channel_order: str = "RGB"  # "RGB", "BGR" or "L" (grayscale, one channel)
    layout: str = "CHW"  # "CHW" (NCHW models) or "HWC"

    def __post_init__(self) -> None:
        if self.channel_order not in ("RGB", "BGR", "L"):
            raise ValueError(f"channel_order must be RGB, BGR or L, got {self.channel_order!r}")
        if self.layout not in ("CHW", "HWC"):
            raise ValueError(f"layout must be CHW or HWC, got {self.layout!r}")
        c = 1 if self.channel_order == "L" else 3
        if len(self.mean) not in (1, c) or len(self.std) not in (1, c):
            raise ValueError(f"mean / std need 1 or {c} values")
        if any(s == 0 for s in self.std):
            raise ValueError("std must not contain 0")

    def __call__(self, img: Any) -> np.ndarray:
        from PIL import Image

        img = img.convert("L" if self.channel_order == "L" else "RGB")
        th, tw = self.size
        if self.resize is None:
            img = img.resize((tw, th), Image.BILINEAR)
        else:
            w, h = img.size
            r = self.resize / min(w, h)
            # round like torchvision: the shorter side becomes exactly `resize`
            nw, nh = (self.resize, max(1, round(h * r))) if w <= h else \
                (max(1, round(w * r)), self.resize)
            if nw < tw or nh < th:
                # a crop of another aspect ratio (e.g. 48 x 192 text lines) than the shorter
                # side covers: scale up just enough that the crop fits
                r = max(tw / w, th / h)
                nw, nh = max(tw, round(w * r)), max(th, round(h * r))
            img = img.resize((nw, nh), Image.BILINEAR)
            w, h = img.size
            left, top = round((w - tw) / 2.0), round((h - th) / 2.0)
            img = img.crop((left, top, left + tw, top + th))
        a = np.asarray(img, dtype=np.float32)
        if a.ndim == 2:
            a = a[:, :, None]
        a = a * np.float32(self.scale)
        a = (a - np.asarray(self.mean, np.float32)) / np.asarray(self.std, np.float32)
        if self.channel_order == "BGR":
            a = a[:, :, ::-1]
        if self.layout == "CHW":
            a = a.transpose(2, 0, 1)
        return np.ascontiguousarray(a, np.float32)


class ImageFolder:
    """Every image file under `root` (recursively, sorted by relative path: deterministic),
    preprocessed by `preprocess`, yielded as batches [B, C, H, W] (or [B, H, W, C])."""

    def __init__(self, root: PathLike, preprocess: ImagePreprocess | None = None,
                 limit: int | None = None, batch: int = 16) -> None:
        self.root = Path(root)
        if not self.root.is_dir():
            raise FileNotFoundError(f"no such image folder: {self.root}")
        files = sorted((p for p in self.root.rglob("*")
                        if p.is_file() and p.suffix.lower() in IMAGE_SUFFIXES),
                       key=lambda p: p.relative_to(self.root).as_posix())
        if not files:
            raise ValueError(f"{self.root}: no image files ({', '.join(IMAGE_SUFFIXES)})")
        self.files = files if limit is None else files[:int(limit)]
        self.preprocess = preprocess or ImagePreprocess()
        self.batch = int(batch)

    @property
    def num_samples(self) -> int:
        return len(self.files)

    def __len__(self) -> int:
        return (len(self.files) + self.batch - 1) // self.batch

    def load(self, path: Path) -> np.ndarray:
        from PIL import Image

        try:
            with Image.open(path) as img:
                return self.preprocess(img)
        except OSError as e:
            raise ValueError(f"cannot read image {path}: {e}") from e

    def __iter__(self) -> Iterator[np.ndarray]:
        for i in range(0, len(self.files), self.batch):
            yield np.stack([self.load(p) for p in self.files[i:i + self.batch]])


def calibration_source(spec: Any, limit: int | None = None,
                       preprocess: ImagePreprocess | None = None,
                       input_names: Sequence[str] | None = None) -> Any:
    """Whatever the user gave, as a re-iterable source: a folder path (ImageFolder), an .npy /
    .npz path (an .npz with an array per name in `input_names` feeds those inputs), an array, a
    dict of arrays, or any other iterable (returned as is when it is a list or tuple, else
    materialised up to `limit` items)."""
    if isinstance(spec, (str, os.PathLike)):
        p = Path(spec)
        if p.is_dir():
            return ImageFolder(p, preprocess, limit)
        if not p.exists():
            raise FileNotFoundError(f"no such calibration data: {p}")
        if p.suffix.lower() in (".npy", ".npz"):
            return load_array_file(p, limit=limit, input_names=input_names)
        raise ValueError(f"calibration data must be a folder of images, .npy or .npz: {p}")
    if isinstance(spec, (np.ndarray, dict)):
        return ArraySource(spec, limit)
    from int8rt.quant.ptq import reiterable

    return reiterable(spec, limit)


def _first_samples_array(data: Any, n: int) -> np.ndarray:
    """The first `n` samples of a single-input source as one float32 array [n, ...]."""
    parts, got = [], 0
    for item in data:
        if isinstance(item, dict):
            if len(item) != 1:
                raise ValueError("a multi-input model needs explicit evaluation inputs")
            item = next(iter(item.values()))
        a = np.asarray(item, np.float32)
        parts.append(a)
        got += len(a)
        if got >= n:
            break
    if not parts:
        raise ValueError("calibration data is empty")
    return np.concatenate(parts)[:n]
