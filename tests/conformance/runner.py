"""Run one backend case through int8rt (cases.py explains how)."""

from __future__ import annotations

import warnings

import numpy as np

from tests.conformance.cases import QUANT_OPS, Case, freeze_inputs, wrap_quantized

# what int8rt raises for a model form it does not take (never a numeric mismatch)
REFUSALS = (ValueError, NotImplementedError, KeyError)


def run_float_case(case: Case) -> None:
    from int8rt.frontend.onnx import import_onnx
    from int8rt.reference.float_executor import FloatExecutor

    model, feeds = freeze_inputs(case.model, case.inputs, set(range(len(case.inputs))))
    try:
        out = FloatExecutor(import_onnx(model)).run(feeds)
    except REFUSALS:
        model, feeds = freeze_inputs(case.model, case.inputs, {0})
        out = FloatExecutor(import_onnx(model)).run(feeds)
    for vi, want in zip(case.model.graph.output, case.outputs):
        got = out[vi.name]
        assert got.shape == want.shape, (vi.name, got.shape, want.shape)
        np.testing.assert_allclose(got, want, rtol=max(case.rtol, 1e-5),
                                   atol=max(case.atol, 1e-6), err_msg=vi.name)


def run_quant_case(case: Case) -> None:
    import int8rt

    model, feeds, expected = wrap_quantized(case)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # nothing may silently stay float
        qm = int8rt.quantize(model)
    sess = int8rt.Session(qm)
    got = sess.run(None, feeds)
    for vi, g, want in zip(model.graph.output, got, expected):
        assert g.shape == want.shape, (vi.name, g.shape, want.shape)
        np.testing.assert_array_equal(g, want, err_msg=vi.name)


def run_case(case: Case) -> None:
    (run_quant_case if case.op in QUANT_OPS else run_float_case)(case)


if __name__ == "__main__":  # list every case's outcome (to maintain the expected-refusal list)
    import sys
    import traceback

    from tests.conformance.cases import FLOAT_OPS, cases_for

    ops = sys.argv[1:] or [*QUANT_OPS, *FLOAT_OPS]
    for op in ops:
        for c in cases_for(op):
            try:
                run_case(c)
                print(f"PASS {c.name}")
            except REFUSALS as e:
                print(f"REFUSED {c.name}: {type(e).__name__}: {str(e)[:200]}")
            except Exception as e:  # noqa: BLE001 - a report, not a test
                print(f"FAIL {c.name}: {type(e).__name__}: {str(e)[:300]}")
                if "-v" in sys.argv:
                    traceback.print_exc()
