"""Hostile run-time inputs: each either runs correctly or raises a clear Python exception.

The table of these cases and their errors is in docs/ROBUSTNESS.md ("Bad inputs at run time").
"""

from __future__ import annotations

import numpy as np
import pytest

import int8rt
from int8rt.demo import load_demo


@pytest.fixture(scope="module")
def demo():
    graph, x_test, _, x_calib = load_demo()
    qm = int8rt.quantize(graph, [x_calib], progress=False)
    sess = int8rt.Session(qm)
    return sess, x_test[:4]


def _misaligned(x: np.ndarray) -> np.ndarray:
    buf = bytearray(x.nbytes + 1)
    out = np.frombuffer(buf, dtype=x.dtype, count=x.size, offset=1).reshape(x.shape)
    out[...] = x
    return out


def _readonly(x: np.ndarray) -> np.ndarray:
    y = x.copy()
    y.flags.writeable = False
    return y


def _strided(x: np.ndarray) -> np.ndarray:
    big = np.zeros((x.shape[0], x.shape[1], x.shape[2] * 2, x.shape[3] * 3), x.dtype)
    big[:, :, ::2, ::3] = x
    return big[:, :, ::2, ::3]


@pytest.mark.parametrize("make,flag", [(_misaligned, "aligned"), (_readonly, "writeable"),
                                       (_strided, "c_contiguous"),
                                       (np.asfortranarray, "c_contiguous")],
                         ids=["misaligned", "readonly", "strided", "fortran"])
def test_unusual_layouts_give_the_plain_answer(demo, make, flag) -> None:
    sess, x = demo
    y = make(x)
    assert not getattr(y.flags, flag)  # the case really is unusual
    assert np.array_equal(sess.run(None, {"input": y})[0], sess.run(None, {"input": x})[0])


def test_the_caller_array_is_not_written(demo) -> None:
    sess, x = demo
    before = x.copy()
    sess.run(None, {"input": x})
    assert np.array_equal(x, before)


@pytest.mark.parametrize("names,err", [("output", TypeError), (b"output", TypeError),
                                       (3, TypeError), ([0], TypeError),
                                       (["nope"], ValueError)])
def test_bad_output_names(demo, names, err) -> None:
    sess, x = demo
    with pytest.raises(err, match="output"):
        sess.run(names, {"input": x})


def test_huge_batch_is_a_memory_error_not_a_crash(demo) -> None:
    """2^40 images as a zero-stride view: the copy to a contiguous array cannot be made."""
    sess, x = demo
    view = np.lib.stride_tricks.as_strided(x[:1], (1 << 40, *x.shape[1:]),
                                           (0, *x.strides[1:]))
    with pytest.raises(MemoryError):
        sess.run(None, {"input": view})


@pytest.mark.parametrize("value", [np.nan, np.inf, -np.inf, 3e38, -3e38, 1e-45])
def test_extreme_values_everywhere(demo, value) -> None:
    """Every pixel NaN / ±Inf / ±FLT_MAX / denormal: deterministic, finite logits."""
    sess, x = demo
    y = np.full_like(x, value)
    a = sess.run(None, {"input": y})[0]
    assert np.isfinite(a).all()
    assert np.array_equal(a, sess.run(None, {"input": y})[0])


@pytest.mark.parametrize("dtype", [np.float16, np.float64, np.int8, np.uint8, np.int32, bool,
                                   object, np.complex64])
def test_wrong_dtypes_are_type_errors(demo, dtype) -> None:
    sess, x = demo
    with pytest.raises(TypeError, match="dtype"):
        sess.run(None, {"input": x.astype(dtype)})


@pytest.mark.parametrize("shape", [(), (8,), (1, 8, 8), (1, 1, 8, 9), (1, 2, 8, 8),
                                   (1, 1, 1, 8, 8), (0, 1, 8, 8)])
def test_wrong_shapes_are_value_errors(demo, shape) -> None:
    sess, _ = demo
    with pytest.raises(ValueError, match="input 'input'"):
        sess.run(None, {"input": np.zeros(shape, np.float32)})
