"""Output metrics beyond cosine: does the quantized model still do the task?

Whole-tensor cosine stays at 0.999 while a detector loses most of its detections (issue 20):
the few values that decide the task (scores near the threshold, a text probability map near
0.3) are a tiny part of the tensor. A metric here compares the float model's outputs with the
quantized model's on the same inputs and returns an agreement in [0, 1] (1 = the same task
result):

| spec | what it measures |
|---|---|
| `cosine` | cosine similarity of all outputs, flattened (the old alarm) |
| `anchor-iou[:thr=0.25]` | detection: the set of anchors whose best class score exceeds `thr`, IoU of the float and quantized sets |
| `mask-iou[:thr=0.3]` | segmentation / text detection: IoU of the binary masks `output > thr` |
| `argmax` | classification / segmentation: fraction of positions whose argmax over the class axis agrees |

Options follow a colon, comma separated: `thr=`, `axis=` (the class axis, default: the
non-batch axis with the fewest entries) and `outputs=` (output indices joined by `+`, default:
for the score metrics, every output whose float values all lie in [0, 1], i.e. probabilities;
else all). Example: `anchor-iou:thr=0.2,outputs=1`. The IoUs are pooled over all samples
(intersections and unions summed), and two empty sets agree (1.0).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

METRICS = ("cosine", "anchor-iou", "mask-iou", "argmax")
_DEFAULT_THR = {"anchor-iou": 0.25, "mask-iou": 0.3}


@dataclass(frozen=True)
class OutputMetric:
    """A parsed metric spec; call it with the float and the quantized outputs (lists of arrays,
    one per model output, any batch)."""

    kind: str
    thr: float = 0.0
    axis: int | None = None
    outputs: tuple[int, ...] | None = None

    @property
    def spec(self) -> str:
        opts = []
        if self.kind in _DEFAULT_THR:
            opts.append(f"thr={self.thr:g}")
        if self.axis is not None:
            opts.append(f"axis={self.axis}")
        if self.outputs is not None:
            opts.append("outputs=" + "+".join(map(str, self.outputs)))
        return self.kind + (":" + ",".join(opts) if opts else "")

    def _select(self, ref: Sequence[np.ndarray]) -> list[int]:
        if self.outputs is not None:
            bad = [i for i in self.outputs if not 0 <= i < len(ref)]
            if bad:
                raise ValueError(f"metric {self.spec}: no output {bad} (the model has "
                                 f"{len(ref)})")
            return list(self.outputs)
        if self.kind in ("anchor-iou", "mask-iou"):
            probs = [i for i, r in enumerate(ref) if r.size and np.nanmin(r) >= 0
                     and np.nanmax(r) <= 1]
            if probs:
                return probs
        return list(range(len(ref)))

    def _class_axis(self, shape: tuple[int, ...]) -> int:
        if self.axis is not None:
            return self.axis % len(shape)
        if len(shape) < 2:
            return 0
        return min(range(1, len(shape)), key=lambda a: (shape[a], a))

    def __call__(self, ref: Sequence[np.ndarray], got: Sequence[np.ndarray]) -> float:
        if len(ref) != len(got):
            raise ValueError(f"{len(ref)} float outputs but {len(got)} quantized ones")
        idx = self._select(ref)
        r = [np.asarray(ref[i], np.float64) for i in idx]
        g = [np.asarray(got[i], np.float64) for i in idx]
        for a, b in zip(r, g):
            if a.shape != b.shape:
                raise ValueError(f"output shapes differ: {a.shape} vs {b.shape}")
        if self.kind == "cosine":
            a = np.concatenate([x.ravel() for x in r])
            b = np.concatenate([x.ravel() for x in g])
            na, nb = np.linalg.norm(a), np.linalg.norm(b)
            if na == 0 or nb == 0:
                return 1.0 if na == nb else 0.0
            return float(a @ b / (na * nb))
        if self.kind == "argmax":
            same = total = 0
            for a, b in zip(r, g):
                ax = self._class_axis(a.shape)
                eq = np.argmax(a, axis=ax) == np.argmax(b, axis=ax)
                same += int(eq.sum())
                total += eq.size
            return same / total if total else 1.0
        inter = union = 0
        for a, b in zip(r, g):
            if self.kind == "anchor-iou":
                ax = self._class_axis(a.shape)
                ma, mb = a.max(axis=ax) > self.thr, b.max(axis=ax) > self.thr
            else:
                ma, mb = a > self.thr, b > self.thr
            inter += int(np.sum(ma & mb))
            union += int(np.sum(ma | mb))
        return inter / union if union else 1.0


def parse_metric(spec: str | OutputMetric) -> OutputMetric:
    """An OutputMetric from a spec string (module doc), or the metric itself."""
    if isinstance(spec, OutputMetric):
        return spec
    kind, _, rest = str(spec).strip().partition(":")
    if kind not in METRICS:
        raise ValueError(f"unknown metric {kind!r}; choose one of {', '.join(METRICS)}")
    thr, axis, outputs = _DEFAULT_THR.get(kind, 0.0), None, None
    for opt in filter(None, (o.strip() for o in rest.split(","))):
        key, eq, val = opt.partition("=")
        try:
            if not eq:
                raise ValueError
            if key == "thr" and kind in _DEFAULT_THR:
                thr = float(val)
                if not np.isfinite(thr):
                    raise ValueError
            elif key == "axis":
                axis = int(val)
            elif key == "outputs":
                outputs = tuple(int(v) for v in val.split("+"))
            else:
                raise KeyError(key)
        except KeyError:
            raise ValueError(f"metric {kind}: unknown option {key!r}") from None
        except ValueError:
            raise ValueError(f"metric {kind}: bad option {opt!r}") from None
    return OutputMetric(kind, thr, axis, outputs)
