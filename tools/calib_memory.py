"""Peak memory of calibrating a MobileNetV2-size model on 200 images, one process per method.

    python tools/calib_memory.py [--images 200] [--methods minmax ema percentile entropy mse]

The parent builds and exports MobileNetV2 (tests/models/torch_nets.py, 224x224, 3.5 M
parameters) once. Each method then runs in a fresh child process that imports only int8rt
(no torch), loads the ONNX file, streams 200 natural-image crops (tests/models/images.py:
scikit-image sample photos, batches generated on the fly) through quant.calibrate, and reports
VmHWM (peak resident set) from /proc/self/status, plus the RSS just before calibration (model
loaded) so the calibration's own share is visible. Needs torch, onnx, scikit-image; Linux.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
METHODS = ("minmax", "ema", "percentile", "entropy", "mse")

CHILD = r"""
import json, sys, time
sys.path.insert(0, {repo!r})
def status(key):
    for line in open("/proc/self/status"):
        if line.startswith(key):
            return int(line.split()[1]) / 1024.0
from int8rt.api import load_float_model
from int8rt.quant.calibrate import calibrate
from tests.models.images import sample_images
g = load_float_model({model!r})
n, batch = {images}, 16
def data():
    for i in range(0, n, batch):
        yield sample_images(min(batch, n - i), 224, seed=1000 + i)
before = status("VmRSS")
t0 = time.perf_counter()
ranges = calibrate(g, data(), method={method!r}, progress=False, batch_size=batch)
print(json.dumps(dict(method={method!r}, tensors=len(ranges), seconds=time.perf_counter() - t0,
                      rss_before_mb=before, peak_mb=status("VmHWM"))))
"""


def main(argv: list[str] | None = None) -> list[dict]:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--images", type=int, default=200)
    ap.add_argument("--methods", nargs="*", default=list(METHODS))
    ap.add_argument("--json", type=Path, default=None, help="also write the rows here")
    args = ap.parse_args(argv)
    sys.path.insert(0, str(REPO))
    from tests.models.export import export_onnx
    from tests.models.torch_nets import MODELS, build

    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        model = export_onnx(build("mobilenet_v2"), Path(tmp) / "mobilenet_v2.onnx",
                            MODELS["mobilenet_v2"][1])
        for method in args.methods:
            code = CHILD.format(repo=str(REPO), model=str(model), images=args.images,
                                method=method)
            t0 = time.perf_counter()
            out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                                 check=True)
            row = json.loads(out.stdout.strip().splitlines()[-1])
            rows.append(row)
            print(f"{method:10s} peak RSS {row['peak_mb']:7.1f} MB (model loaded: "
                  f"{row['rss_before_mb']:6.1f} MB), {row['tensors']} tensors, calibration "
                  f"{row['seconds']:.1f} s (process {time.perf_counter() - t0:.1f} s)",
                  flush=True)
    if args.json:
        args.json.write_text(json.dumps(rows, indent=1))
    return rows


if __name__ == "__main__":
    main()
