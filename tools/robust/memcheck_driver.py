"""What tools/robust/memcheck.sh runs under valgrind: every native entry point, a few times.

Each of the fuzzer's seed models (together they use every plan op kind: conv, depthwise, gemm,
pools, LUTs, add/mul, concat, resize, slice, transpose, softmax, quantize/dequantize) is built
into a Session and run on batch sizes 1 and 3 (a second plan), then freed; then a handful of
hostile feeds and corrupted files go through the same path. Valgrind judges the memory traffic;
this script only checks that every run returned finite outputs of the right shape.
"""

from __future__ import annotations

import gc
import sys
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "tools"))

import fuzz

from int8rt import format as i8format
from int8rt.session import Session


def _feed(sess: Session, batch: int, rng: np.random.Generator) -> dict[str, np.ndarray]:
    feed = {}
    for arg in sess.get_inputs():
        shape = (batch, *arg.shape[1:])
        feed[arg.name] = rng.standard_normal(shape).astype(arg.dtype)
    return feed


def main() -> int:
    rng = np.random.default_rng(0)
    runs = 0
    for name, data in fuzz.i8_seeds():
        graph = i8format.load(data)
        if not any(n.op == "Quantize" for n in graph.nodes):
            continue
        sess = Session(graph)
        for batch in (1, 3, 1):
            outs = sess.run(None, _feed(sess, batch, rng))
            assert all(np.isfinite(o).all() for o in outs if o.dtype.kind == "f"), name
            runs += 1
        # A hostile feed and a corrupted file must be refused before C sees them.
        try:
            sess.run(None, {a.name: np.zeros((0, *a.shape[1:]), a.dtype)
                            for a in sess.get_inputs()})
        except ValueError:
            pass
        broken = bytearray(data)
        broken[len(broken) // 2] ^= 0xFF
        try:
            i8format.load(bytes(broken))
        except ValueError:
            pass
        del sess
        gc.collect()
    print(f"memcheck driver: {runs} runs")
    return 0


if __name__ == "__main__":
    sys.exit(main())
