"""The ONNX backend node conformance cases for every op int8rt imports (cases.py: which ops,
how each case runs). Every case either passes, or is in refusals.REFUSED and int8rt refuses
it with a clear error (checked: a refused case that starts working fails here, so the list
stays true), or is a known wrong result in refusals.WRONG (strict xfail)."""

from __future__ import annotations

import pytest

pytest.importorskip("onnx")

from tests.conformance.cases import FLOAT_OPS, QUANT_OPS, cases_for
from tests.conformance.refusals import REFUSED, WRONG
from tests.conformance.runner import REFUSALS, run_case


def _params():
    for op in (*QUANT_OPS, *FLOAT_OPS):
        for case in cases_for(op):
            marks = []
            if case.name in WRONG:
                marks.append(pytest.mark.xfail(strict=True, raises=AssertionError,
                                               reason=WRONG[case.name]))
            yield pytest.param(case, id=case.name, marks=marks)


CASES = list(_params())


def test_every_listed_case_exists() -> None:
    names = {p.values[0].name for p in CASES}
    assert not (set(REFUSED) | set(WRONG)) - names


@pytest.mark.parametrize("case", CASES)
def test_backend_case(case) -> None:
    if case.name in REFUSED:
        with pytest.raises(REFUSALS):
            run_case(case)
        pytest.skip(f"refused: {REFUSED[case.name]}")  # reported as a skip with its reason
    run_case(case)
