"""Bit-identity of whole-model outputs across machines: x86-64 here, aarch64 / armv7 in the
emulated Pi chroots (tools/arm/chroot.sh).

    python tools/arm/model_hashes.py make DIR      # host: quantize the models, save .i8 + inputs,
                                                   # then print their output hashes
    python tools/arm/model_hashes.py run DIR       # any machine: print output hashes
    python tools/arm/model_hashes.py compare A B   # exit 1 unless every hash in B equals A's

`make` needs torch + onnx (host only): the bundled digits CNN (int8rt/data/digits_cnn.i8,
quantized with its bundled calibration split) and a MobileNetV2 (tests/models/torch_nets.py,
224x224, random seeded weights with real-image BN statistics) exported to ONNX and quantized.
`run` needs only int8rt + numpy: it runs each DIR/NAME.i8 on DIR/NAME.input.npy once per kernel
path this machine can run and prints one line per (model, path): name, path, shape, SHA-256 of
the output array's bytes. Every path of every machine must print the same hash per model.
"""

from __future__ import annotations

import argparse
import hashlib
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[2]
# the checkout (host: its in-place build and tests/; chroot: tests/ only, the installed int8rt)
sys.path.insert(0, str(ROOT))


def make(out: Path) -> None:
    import int8rt
    from int8rt.demo import load_demo

    out.mkdir(parents=True, exist_ok=True)
    graph, x_test, _, x_calib = load_demo()
    int8rt.quantize(graph, [x_calib], progress=False).save(out / "digits_cnn.i8")
    np.save(out / "digits_cnn.input.npy", np.ascontiguousarray(x_test[:64]))

    from tests.models.fixtures import calib_and_eval_images, onnx_model_path

    calib, evalx = calib_and_eval_images("mobilenet_v2", n_calib=16, n_eval=2)
    qm = int8rt.quantize(str(onnx_model_path("mobilenet_v2")), [calib], progress=False)
    qm.save(out / "mobilenet_v2.i8")
    np.save(out / "mobilenet_v2.input.npy", np.ascontiguousarray(evalx))


def run(d: Path) -> list[tuple[str, str, str]]:
    import int8rt
    from int8rt import _native

    rows = []
    for model in sorted(d.glob("*.i8")):
        name = model.stem
        x = np.load(d / f"{name}.input.npy")
        for isa in _native.available_isas():
            _native.set_isa(isa)
            sess = int8rt.Session(str(model))
            t0 = time.perf_counter()
            (y,) = sess.run(None, {sess.get_inputs()[0].name: x})
            dt = time.perf_counter() - t0
            y = np.ascontiguousarray(y)
            digest = hashlib.sha256(y.dtype.str.encode() + y.tobytes()).hexdigest()
            print(f"{name} {isa} {'x'.join(map(str, y.shape))} {digest} {dt:.2f}s", flush=True)
            rows.append((name, isa, digest))
    return rows


def parse(path: Path) -> dict[str, set[str]]:
    hashes: dict[str, set[str]] = {}
    for line in path.read_text().splitlines():
        f = line.split()
        if len(f) >= 4 and len(f[3]) == 64:
            hashes.setdefault(f[0], set()).add(f[3])
    return hashes


def compare(a: Path, b: Path) -> int:
    ha, hb = parse(a), parse(b)
    bad = 0
    for name in sorted(ha.keys() | hb.keys()):
        both = ha.get(name, set()) | hb.get(name, set())
        ok = name in ha and name in hb and len(both) == 1
        bad += not ok
        print(f"{'same' if ok else 'DIFFERENT'} {name}: {a.name} {sorted(ha.get(name, []))} "
              f"{b.name} {sorted(hb.get(name, []))}")
    return 1 if bad or not ha else 0


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    sub = p.add_subparsers(dest="cmd", required=True)
    sub.add_parser("make").add_argument("dir", type=Path)
    sub.add_parser("run").add_argument("dir", type=Path)
    c = sub.add_parser("compare")
    c.add_argument("a", type=Path)
    c.add_argument("b", type=Path)
    args = p.parse_args(argv)
    if args.cmd == "make":
        make(args.dir)
        run(args.dir)
    elif args.cmd == "run":
        run(args.dir)
    else:
        return compare(args.a, args.b)
    return 0


if __name__ == "__main__":
    sys.exit(main())
