"""Mixed precision: the search keeps sensitive ops float until the target holds."""

from __future__ import annotations

import numpy as np
import pytest

from int8rt.quant import mixed

from .ptq_graphs import dw_separable_graph, images


def test_search_meets_an_error_target_full_int8_misses():
    g = dw_separable_graph()
    x = images(32)
    res = mixed.search(g, [x], x, per_channel=False, weight_bits=4, max_error=0.05,
                       measure_latency=True)
    assert res.int8_value > 0.05  # full int8 (4-bit per-tensor weights) misses the target
    assert res.target_met and res.final_value <= 0.05
    assert 1 <= len(res.float_nodes) < 4
    assert res.float_nodes == [r.node for r in res.ranking if r.op in ("Conv", "Gemm")][
        :len(res.float_nodes)]
    kept = {n.name for n in res.graph.nodes if n.op in ("Conv", "Gemm")
            and res.graph.tensor(n.inputs[0]).dtype == "float32"}
    assert kept == set(res.float_nodes)
    assert res.latency_int8_ms > 0 and res.latency_mixed_ms > 0
    assert "kept in float32" in res.summary()


def test_search_with_a_metric_and_max_drop():
    g = dw_separable_graph()
    x = images(64)
    from int8rt.reference.float_executor import FloatExecutor

    ref = FloatExecutor(g).run({"x": x})["y"]

    def score(predict):  # any user metric, higher is better: here minus the relative error
        return -float(np.sqrt(np.mean((predict(x) - ref) ** 2) / np.mean(ref ** 2)))

    res = mixed.search(g, [x], x, per_channel=False, weight_bits=4, metric=score,
                       max_drop=0.04, measure_latency=False)
    assert res.float_value == 0.0
    assert res.target_met and res.final_value >= -0.04
    assert len(res.steps) > 1 and res.steps[0].value < -0.04  # full int8 misses it
    assert res.steps[-1].ok and all(not s.ok for s in res.steps[:-1])


def test_search_needs_one_target():
    g = dw_separable_graph()
    x = images(4)
    with pytest.raises(ValueError, match="exactly one target"):
        mixed.search(g, [x], x)
    with pytest.raises(ValueError, match="max_drop"):
        mixed.search(g, [x], x, metric=lambda p: 1.0)
