"""Deterministic natural-image batches for calibration and accuracy tests.

Source: the sample images bundled inside the scikit-image wheel (``skimage/data/*.png|jpg``,
loaded through ``skimage.data``). Only images shipped in the wheel are used, so nothing is
downloaded (``eagle``, ``lily``, ``kidney``, ... need pooch and a network and are excluded).
Their licences are listed in scikit-image's ``skimage/data/README.txt`` (public domain or
CC0/CC-BY, NASA, etc.).

A small set of source photographs becomes 100-200 distinct inputs by random crops (area and
aspect jitter), horizontal flips and mild brightness/contrast jitter, all drawn from a seeded
``numpy.random.Generator``, so the same (n, size, seed) always gives the same array.
"""

from __future__ import annotations

import functools

import numpy as np

# ImageNet channel statistics: the preprocessing every torchvision-style classifier expects.
IMAGENET_MEAN = np.array([0.485, 0.456, 0.406], np.float32)
IMAGENET_STD = np.array([0.229, 0.224, 0.225], np.float32)

# Bundled in the scikit-image wheel (verified to load with no network, skimage 0.26).
COLOR_IMAGES = (
    "astronaut", "coffee", "chelsea", "rocket", "hubble_deep_field",
    "immunohistochemistry", "retina", "colorwheel", "stereo_motorcycle",
)
GRAY_IMAGES = ("camera", "coins", "moon", "grass", "gravel", "brick", "clock", "cell", "page")

# Sources are shrunk once so that crops never resize from megapixel images (speed only).
_MAX_SIDE = 512


def _to_rgb_float(img: np.ndarray) -> np.ndarray:
    img = np.asarray(img)
    if img.dtype == np.bool_:
        img = img.astype(np.float32)
    elif img.dtype == np.uint8:
        img = img.astype(np.float32) / 255.0
    else:
        img = img.astype(np.float32)
    if img.ndim == 2:
        img = np.repeat(img[:, :, None], 3, axis=2)
    return np.ascontiguousarray(img[:, :, :3])


@functools.lru_cache(maxsize=1)
def source_images() -> tuple[np.ndarray, ...]:
    """The source photographs as float32 HWC RGB in [0, 1], longest side <= 512."""
    import skimage.data
    from skimage.transform import rescale

    out = []
    for name in COLOR_IMAGES + GRAY_IMAGES:
        img = getattr(skimage.data, name)()
        if isinstance(img, tuple):  # stereo_motorcycle -> (left, right, disparity)
            img = img[0]
        img = _to_rgb_float(img)
        factor = _MAX_SIDE / max(img.shape[:2])
        if factor < 1.0:
            img = rescale(img, factor, channel_axis=2, anti_aliasing=True).astype(np.float32)
        out.append(img)
    return tuple(out)


def _crop(img: np.ndarray, rng: np.random.Generator, size: int) -> np.ndarray:
    from skimage.transform import resize

    h, w = img.shape[:2]
    # Random-resized-crop: 25-100 % of the area, aspect ratio in [3/4, 4/3] (log-uniform).
    area = rng.uniform(0.25, 1.0) * h * w
    aspect = float(np.exp(rng.uniform(np.log(3 / 4), np.log(4 / 3))))
    ch = int(min(h, round(np.sqrt(area / aspect))))
    cw = int(min(w, round(np.sqrt(area * aspect))))
    y = int(rng.integers(0, h - ch + 1))
    x = int(rng.integers(0, w - cw + 1))
    crop = img[y:y + ch, x:x + cw]
    if rng.random() < 0.5:
        crop = crop[:, ::-1]
    crop = resize(crop, (size, size), order=1, anti_aliasing=True).astype(np.float32)
    # Brightness/contrast jitter keeps crops of the same photo from being near-duplicates.
    contrast = rng.uniform(0.8, 1.2)
    brightness = rng.uniform(-0.08, 0.08)
    mean = crop.mean()
    return np.clip((crop - mean) * contrast + mean + brightness, 0.0, 1.0)


def sample_images(n: int, size: int = 224, seed: int = 0) -> np.ndarray:
    """`n` distinct images, float32 [n, 3, size, size] NCHW, ImageNet-normalised.

    Different seeds give different crops; use disjoint seeds for calibration and evaluation.
    """
    sources = source_images()
    rng = np.random.default_rng(seed)
    # Cycle through a seeded permutation so every source photo appears before any repeats.
    order = np.concatenate([rng.permutation(len(sources)) for _ in range(n // len(sources) + 1)])
    batch = np.empty((n, 3, size, size), np.float32)
    for i in range(n):
        img = _crop(sources[order[i]], rng, size)
        batch[i] = ((img - IMAGENET_MEAN) / IMAGENET_STD).transpose(2, 0, 1)
    return batch
