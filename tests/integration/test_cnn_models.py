"""End to end on real-architecture CNNs: ONNX export -> int8rt quantize -> native Session.

Checks the two promises of the foundation: the native plan equals the numpy reference program
bit for bit on whole models, and int8rt's int8 outputs are at least as close to fp32 as
ONNX Runtime's own static quantization (MinMax, per-channel, QDQ) from the same calibration
images.
"""

from __future__ import annotations

import numpy as np
import pytest

pytest.importorskip("torch")
pytest.importorskip("onnxruntime")

import int8rt
from int8rt.lower import lower
from int8rt.reference.program import run_program

from ..models.fixtures import calib_and_eval_images, onnx_model_path
from ..models.ort_baseline import cosine, ort_quantize_static, ort_run, sqnr_db

N_CALIB, N_EVAL = 16, 8


@pytest.fixture(scope="module", params=["mobilenet_v2", "resnet18", "dscnn"])
def quantized(request):
    name = request.param
    path = onnx_model_path(name)
    calib, evals = calib_and_eval_images(name, N_CALIB, N_EVAL)
    qm = int8rt.quantize(str(path), [calib], method="minmax", per_channel=True, progress=False)
    return name, path, calib, evals, qm


def test_native_plan_equals_reference_program(quantized) -> None:
    name, _, _, evals, qm = quantized
    sess = int8rt.Session(qm)
    x = evals[:1]
    native = sess.run(None, {sess.get_inputs()[0].name: x})[0]
    reference = run_program(lower(qm.graph), [x])[0]
    assert np.array_equal(native, reference), name


def test_every_kernel_path_equals_reference(quantized) -> None:
    """Whole models on every kernel path this CPU runs (scalar, avx2, avxvnni, avx512vnni on
    an AVX512-VNNI machine; docs/KERNELS.md), each packed and run under that path: all equal the
    reference program bit for bit."""
    from int8rt import _native

    name, _, _, evals, qm = quantized
    x = evals[:1]
    reference = run_program(lower(qm.graph), [x])[0]
    before = _native.isa()
    try:
        for path in _native.available_isas():
            _native.set_isa(path)
            sess = int8rt.Session(qm)
            got = sess.run(None, {sess.get_inputs()[0].name: x})[0]
            assert np.array_equal(got, reference), (name, path)
    finally:
        _native.set_isa(before)


def test_threads_equal_single_thread(quantized) -> None:
    """2, 3 and 8 threads (more than this machine's cores) give the 1-thread output bit for bit,
    on a batch of 2 (docs/PLAN.md, "Threads")."""
    name, _, _, evals, qm = quantized
    x = evals[:2]
    one = int8rt.Session(qm, threads=1)
    feed = {one.get_inputs()[0].name: x}
    want = one.run(None, feed)[0]
    for t in (2, 3, 8):
        assert np.array_equal(int8rt.Session(qm, threads=t).run(None, feed)[0], want), (name, t)


def test_at_least_as_close_to_fp32_as_onnxruntime(quantized, tmp_path) -> None:
    name, path, calib, evals, qm = quantized
    fp32 = ort_run(path, evals)
    sess = int8rt.Session(qm)
    ours = sess.run(None, {sess.get_inputs()[0].name: evals})[0]
    ort_q = ort_quantize_static(path, calib, tmp_path / f"{name}_qdq.onnx", "MinMax",
                                per_channel=True)
    theirs = ort_run(ort_q, evals)
    ours_cos, theirs_cos = cosine(fp32, ours), cosine(fp32, theirs)
    ours_sqnr, theirs_sqnr = sqnr_db(fp32, ours), sqnr_db(fp32, theirs)
    print(f"{name}: int8rt cos {ours_cos:.5f} sqnr {ours_sqnr:.2f} dB | "
          f"onnxruntime cos {theirs_cos:.5f} sqnr {theirs_sqnr:.2f} dB")
    assert ours_cos >= theirs_cos
    assert ours_sqnr >= theirs_sqnr


def test_batch_size_can_change(quantized) -> None:
    name, _, _, evals, qm = quantized
    sess = int8rt.Session(qm)
    feed_name = sess.get_inputs()[0].name
    batched = sess.run(None, {feed_name: evals[:3]})[0]
    singles = np.concatenate([sess.run(None, {feed_name: evals[i:i + 1]})[0] for i in range(3)])
    assert np.array_equal(batched, singles), name
