"""Kernel-family micro-benchmarks on shapes from MobileNetV2, ResNet-18 and a BERT-base layer,
per kernel path: GOPS (a multiply-add counts 2) and the fraction of the path's measured int8
peak (bench/conftest.py, docs/KERNELS.md "Peak"), printed and stored in extra_info.

    python -m pytest bench/ --benchmark-timer time.thread_time -s

Convolutions and GEMMs are packed once (PackedConv2d); a GEMM m x k x n is a 1x1 convolution
over m pixels, the direct 1x1 path (no im2col), the way fc also runs. The element-wise kernels
run as one-record plans built once (tests/kernels/one_op.py `prepare`): the time includes a
plan run's own work (output allocation, arena), as a model's calls do."""

from __future__ import annotations

import numpy as np
import pytest
from conftest import peak_gops

from int8rt import _native
from tests.kernels import one_op

# (label, n, h, w, c, oc, k, stride, pad, groups)
GEMM = [
    ("gemm 1024x1024x1024", 1, 1024, 1, 1024, 1024, 1, 1, 0, 1),
    ("bert qkv 128x768x768", 1, 128, 1, 768, 768, 1, 1, 0, 1),
    ("bert ffn1 128x768x3072", 1, 128, 1, 768, 3072, 1, 1, 0, 1),
    ("bert ffn2 128x3072x768", 1, 128, 1, 3072, 768, 1, 1, 0, 1),
]
CONV = [
    ("resnet18 conv1 7x7 s2 3->64", 1, 224, 224, 3, 64, 7, 2, 3, 1),
    ("resnet18 56x56 3x3 64->64", 1, 56, 56, 64, 64, 3, 1, 1, 1),
    ("resnet18 28x28 3x3 128->128", 1, 28, 28, 128, 128, 3, 1, 1, 1),
    ("resnet18 14x14 3x3 256->256", 1, 14, 14, 256, 256, 3, 1, 1, 1),
    ("resnet18 7x7 3x3 512->512", 1, 7, 7, 512, 512, 3, 1, 1, 1),
    ("mobilenetv2 56x56 1x1 24->144", 1, 56, 56, 24, 144, 1, 1, 0, 1),
    ("mobilenetv2 14x14 1x1 64->384", 1, 14, 14, 64, 384, 1, 1, 0, 1),
    ("mobilenetv2 7x7 1x1 320->1280", 1, 7, 7, 320, 1280, 1, 1, 0, 1),
    ("mobilenetv2 conv1 3x3 s2 3->32", 1, 224, 224, 3, 32, 3, 2, 1, 1),
]
DWCONV = [
    ("mobilenetv2 dw 112x112x32 3x3", 1, 112, 112, 32, 32, 3, 1, 1, 32),
    ("mobilenetv2 dw 112x112x96 3x3 s2", 1, 112, 112, 96, 96, 3, 2, 1, 96),
    ("mobilenetv2 dw 56x56x144 3x3", 1, 56, 56, 144, 144, 3, 1, 1, 144),
    ("mobilenetv2 dw 14x14x576 3x3", 1, 14, 14, 576, 576, 3, 1, 1, 576),
    ("mobilenetv2 dw 7x7x960 3x3", 1, 7, 7, 960, 960, 3, 1, 1, 960),
    ("dw 28x28x240 5x5 (EfficientNet-style)", 1, 28, 28, 240, 240, 5, 1, 2, 240),
    ("dw 28x28x240 5x5 s2", 1, 28, 28, 240, 240, 5, 2, 2, 240),
]


def _report(benchmark, label: str, path: str, ops: float) -> None:
    t = benchmark.stats.stats.median
    gops = ops / t / 1e9
    frac = gops / peak_gops(path)
    benchmark.extra_info.update({"GOPS": round(gops, 2), "peak_fraction": round(frac, 3),
                                 "path": path})
    print(f"\n{label} [{path}]: {1e3 * t:.3f} ms, {gops:.1f} GOPS, {100 * frac:.0f}% of the "
          f"{peak_gops(path):.0f} GOPS {path} peak")


@pytest.mark.parametrize("case", GEMM + CONV + DWCONV, ids=lambda c: c[0])
def test_conv_family(benchmark, isa: str, case) -> None:
    label, *shape = case
    kernel = _native.PackedConv2d(*shape)
    benchmark.pedantic(kernel.run, rounds=7 if kernel.macs > 2e8 else 30, warmup_rounds=1)
    _report(benchmark, label, isa, 2.0 * kernel.macs)


def _add_case(shape: tuple[int, ...]):
    rng = np.random.default_rng(0)
    size = int(np.prod(shape))
    a = rng.integers(-128, 128, size, dtype=np.int8)
    b = rng.integers(-128, 128, size, dtype=np.int8)
    kw = {"ndim": 1, "shape": (size,), "a_stride": (1,), "b_stride": (1,), "a_zp": 3,
          "b_zp": -4, "y_zp": 1, "a_mult": 1 << 20, "b_mult": 3 << 19, "mult": 2.0**-21}
    return one_op.prepare(one_op.add, a, b, **kw), size


@pytest.mark.parametrize("shape", [(1, 56, 56, 64), (1, 28, 28, 32), (1, 7, 7, 512)],
                         ids=lambda s: "x".join(map(str, s)))
def test_add(benchmark, isa: str, shape) -> None:
    fn, size = _add_case(shape)
    benchmark.pedantic(fn, rounds=50, warmup_rounds=2)
    # element-wise families: "ops" = output elements (bandwidth-bound; no peak fraction
    # meaning beyond comparison between paths)
    _report(benchmark, f"add {shape}", isa, float(size))


def test_maxpool_resnet_stem(benchmark, isa: str) -> None:
    x = np.random.default_rng(0).integers(-128, 128, (1, 112, 112, 64), dtype=np.int8)
    kw = {"oh": 56, "ow": 56, "kh": 3, "kw": 3, "stride_h": 2, "stride_w": 2, "pad_t": 1,
          "pad_l": 1}
    benchmark.pedantic(one_op.prepare(one_op.maxpool, x, **kw), rounds=30, warmup_rounds=1)
    _report(benchmark, "maxpool 112x112x64 3x3 s2", isa, 56.0 * 56 * 64 * 9)


def test_lut(benchmark, isa: str) -> None:
    rng = np.random.default_rng(0)
    x = rng.integers(-128, 128, (1, 56, 56, 144), dtype=np.int8)
    table = rng.integers(-128, 128, 256, dtype=np.int8)
    benchmark.pedantic(one_op.prepare(one_op.lut, x, table), rounds=30, warmup_rounds=1)
    _report(benchmark, "lut 56x56x144", isa, float(x.size))
