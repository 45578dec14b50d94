"""`int8rt report`: the HTML page and its PNGs are written and name what they should."""

from __future__ import annotations

import numpy as np
import pytest

from int8rt import format as i8format

from .ptq_graphs import dw_separable_graph, images


@pytest.mark.slow  # matplotlib rendering: ~10-30 s
def test_report_writes_html_and_pngs(tmp_path):
    pytest.importorskip("matplotlib")
    from int8rt.report import write_report

    g = dw_separable_graph()
    model = tmp_path / "m.i8"
    i8format.save(g, model)
    np.save(tmp_path / "calib.npy", images(8))
    out = write_report(str(model), str(tmp_path / "calib.npy"), tmp_path / "r" / "rep.html",
                       method="entropy", per_channel=False, samples=4)
    page = out.read_text()
    for png in ("rep_layers.png", "rep_methods.png", "rep_histograms.png"):
        assert (out.parent / png).stat().st_size > 5000
        assert f'src="{png}"' in page
    assert "What to try next" in page and "entropy" in page and "<td>a2</td>" not in page
    assert page.count("<tr") > 10


def test_report_needs_matplotlib(monkeypatch):
    import builtins

    from int8rt import report

    real = builtins.__import__

    def no_mpl(name, *a, **kw):
        if name == "matplotlib" or name.startswith("matplotlib."):
            raise ImportError("no matplotlib")
        return real(name, *a, **kw)

    monkeypatch.setattr(builtins, "__import__", no_mpl)
    with pytest.raises(ImportError, match=r"int8rt\[report\]"):
        report._matplotlib()
