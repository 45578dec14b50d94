"""Time `int8rt report` per phase on a PP-LCNet-style classifier (tests/cli_models.py: 71 ONNX
nodes, depthwise + HardSwish + squeeze-excite) calibrated on N photos from a folder, as a user
runs it. Prints wall and CPU seconds (time.process_time: on a shared machine the wall time
also counts other processes) per phase; run with OMP_NUM_THREADS=1 for a single-core figure.

    OMP_NUM_THREADS=1 python bench/report_time.py --images 13 --size 224
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--images", type=int, default=13)
    ap.add_argument("--size", type=int, default=224)
    ap.add_argument("--width", type=float, default=1.0)
    args = ap.parse_args()

    import onnx

    from int8rt import report
    from int8rt.api import load_float_model
    from int8rt.calib_data import calibration_source
    from int8rt.cli import _preprocess, build_parser
    from tests.cli_models import lcnet_onnx, write_images

    d = Path(tempfile.mkdtemp())
    model = lcnet_onnx(d / "lcnet.onnx", (1, 3, args.size, args.size), width=args.width)
    write_images(d / "photos", args.images)
    cpu: dict[str, float] = {}

    class Phases(report._Phases):  # the same phases, also in CPU seconds
        def __init__(self, timings):
            super().__init__(timings)
            self.c = time.process_time()

        def done(self, name: str) -> None:
            super().done(name)
            now = time.process_time()
            cpu[name], self.c = now - self.c, now

    report._Phases = Phases
    wall: dict[str, float] = {}
    t0, c0 = time.perf_counter(), time.process_time()
    g = load_float_model(model)
    a = build_parser().parse_args(["report", str(model), "--calib", str(d / "photos"), "-o", "x"])
    src = calibration_source(d / "photos", None, _preprocess(a, tuple(g.tensor("x").shape)))
    report.write_report(g, src, d / "r.html", timings=wall, progress=False)
    print(f"{len(onnx.load(model).graph.node)} ONNX nodes, {args.images} images of "
          f"{args.size}x{args.size}")
    for k, w in wall.items():
        print(f"  {k:12s} wall {w:7.2f} s   cpu {cpu[k]:7.2f} s")
    print(f"  {'total':12s} wall {time.perf_counter() - t0:7.2f} s   "
          f"cpu {time.process_time() - c0:7.2f} s")


if __name__ == "__main__":
    main()
