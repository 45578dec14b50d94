"""Calibration: run the float graph over sample data and estimate every activation's range.

The float executor (`int8rt.reference.float_executor.FloatExecutor`) reports each non-constant
tensor as it is produced; one observer per tensor (docs: observers.py) folds the values in and
drops them, so memory is one batch of activations plus the observers' fixed state.
"""

from __future__ import annotations

import copy
import warnings
from collections.abc import Iterable, Iterator, Mapping
from typing import Any, Callable, Union

import numpy as np

from int8rt.ir import Graph
from int8rt.progress import ProgressBar
from int8rt.quant.observers import NonFiniteDataError, Observer, make_observer

Sample = Union[np.ndarray, Mapping[str, np.ndarray]]
ObserverSpec = Union[str, Observer, "tuple[str, dict[str, Any]]"]


def _default_executor(graph: Graph) -> Any:
    from int8rt.reference.float_executor import FloatExecutor

    return FloatExecutor(graph)


def _as_batch(graph: Graph, name: str, arr: Any) -> np.ndarray:
    """The rank rule: an array whose rank equals the model input's is a batch (leading axis =
    samples); one rank less is a single sample, given a batch axis of 1."""
    a = np.asarray(arr, dtype=np.float32)
    rank = len(graph.tensor(name).shape)
    if a.ndim == rank:
        return a
    if a.ndim == rank - 1:
        return a[None]
    raise ValueError(
        f"calibration array for input {name!r} has rank {a.ndim}; the model input has rank "
        f"{rank} (pass a batch of rank {rank} or one sample of rank {rank - 1})"
    )


def _normalize(graph: Graph, item: Sample) -> dict[str, np.ndarray]:
    if isinstance(item, Mapping):
        missing = [n for n in graph.inputs if n not in item]
        extra = [n for n in item if n not in graph.inputs]
        if missing or extra:
            raise ValueError(
                f"calibration sample keys must be the model inputs {graph.inputs}; "
                f"missing {missing}, unexpected {extra}"
            )
        feeds = {n: _as_batch(graph, n, item[n]) for n in graph.inputs}
    else:
        if len(graph.inputs) != 1:
            raise ValueError(
                f"the model has {len(graph.inputs)} inputs {graph.inputs}: calibration samples "
                "must be dicts {input_name: array}"
            )
        feeds = {graph.inputs[0]: _as_batch(graph, graph.inputs[0], item)}
    sizes = {a.shape[0] for a in feeds.values()}
    if len(sizes) != 1:
        raise ValueError(f"calibration inputs disagree on the batch size: {sorted(sizes)}")
    return feeds


def _batches(graph: Graph, data: Iterable[Sample], batch_size: int,
             max_samples: int | None) -> Iterator[dict[str, np.ndarray]]:
    """Regroup the user's items (samples or batches of any size) into batches of exactly
    `batch_size` samples (the last one may be smaller), stopping after `max_samples`."""
    pool: list[dict[str, np.ndarray]] = []
    pooled = 0
    taken = 0
    for item in data:
        if max_samples is not None and taken >= max_samples:
            break
        feeds = _normalize(graph, item)
        n = next(iter(feeds.values())).shape[0]
        if max_samples is not None and taken + n > max_samples:
            n = max_samples - taken
            feeds = {k: v[:n] for k, v in feeds.items()}
        taken += n
        pool.append(feeds)
        pooled += n
        while pooled >= batch_size:
            joined = {k: np.concatenate([p[k] for p in pool]) for k in graph.inputs}
            yield {k: v[:batch_size] for k, v in joined.items()}
            pooled -= batch_size
            pool = [{k: v[batch_size:] for k, v in joined.items()}] if pooled else []
    if pooled:
        yield {k: np.concatenate([p[k] for p in pool]) for k in graph.inputs}


def calibrate(
    graph: Graph,
    data: Iterable[Sample],
    method: str = "minmax",
    observers_per_tensor: Mapping[str, ObserverSpec] | None = None,
    max_samples: int | None = None,
    batch_size: int = 16,
    progress: bool = True,
    *,
    options: Mapping[str, Any] | None = None,
    executor_factory: Callable[[Graph], Any] | None = None,
) -> dict[str, tuple[float, float]]:
    """Observed real range (lo, hi) of every model input and every non-constant tensor.

    `data` yields arrays (single-input models) or {input_name: array} dicts. An array whose
    rank equals the model input's rank is a batch; one rank less is a single sample. Items
    are regrouped into batches of `batch_size` samples per executor run (`max_samples` caps
    the total). If the executor rejects a multi-sample batch on the first run (a graph whose
    Reshape pins the batch dimension), calibration restarts with one sample per run and warns.

    `method` (a key of observers.OBSERVERS, with `options` as its keyword arguments) is the
    default; `observers_per_tensor` overrides it per tensor name with a method name, a
    (method, options) pair, or an Observer instance (used as a template: it is copied, so
    the caller's instance is not modified). `executor_factory(graph)` builds the float
    executor (default: reference.float_executor.FloatExecutor).
    """
    if batch_size < 1:
        raise ValueError(f"batch_size must be >= 1, got {batch_size}")
    if max_samples is not None and max_samples < 1:
        raise ValueError(f"max_samples must be >= 1, got {max_samples}")
    options = dict(options or {})
    overrides = dict(observers_per_tensor or {})
    make_observer(method, **options)  # fail early on a bad method or option
    executor = (executor_factory or _default_executor)(graph)
    skip = {t.name for t in graph.constants()} | set(graph.inputs)

    def new_observer(name: str) -> Observer:
        spec = overrides.get(name)
        if spec is None:
            return make_observer(method, name, **options)
        if isinstance(spec, Observer):
            obs = copy.deepcopy(spec)
            obs.name = obs.name or name
            return obs
        if isinstance(spec, str):
            return make_observer(spec, name)
        m, kw = spec
        return make_observer(m, name, **kw)

    observers: dict[str, Observer] = {}

    def observe(name: str, value: np.ndarray) -> None:
        if name in skip:
            return
        value = np.asarray(value)
        if not np.issubdtype(value.dtype, np.floating):
            return  # not an activation that could be quantized (e.g. an index tensor)
        obs = observers.get(name)
        if obs is None:
            obs = observers[name] = new_observer(name)
        obs.update(value)

    def run(feeds: dict[str, np.ndarray]) -> None:
        # inputs are observed here, not through the executor, so they are never counted twice
        for name in graph.inputs:
            obs = observers.get(name)
            if obs is None:
                obs = observers[name] = new_observer(name)
            obs.update(feeds[name])
        executor.run(feeds, observe=observe)

    total = max_samples
    n_items = getattr(data, "num_samples", None)  # calib_data sources know their sample count
    if n_items is not None:
        total = n_items if total is None else min(total, n_items)
    bar = ProgressBar(total, desc="calibrating", unit="sample", enabled=progress)
    first = True
    one_per_run = False
    try:
        for feeds in _batches(graph, data, batch_size, max_samples):
            n = next(iter(feeds.values())).shape[0]
            if one_per_run and n > 1:
                for i in range(n):
                    run({k: v[i:i + 1] for k, v in feeds.items()})
            else:
                try:
                    run(feeds)
                except NonFiniteDataError:
                    raise
                except Exception as e:
                    if not first or n == 1:
                        raise
                    warnings.warn(
                        f"float executor failed on a batch of {n} samples ({e!r}); "
                        "calibrating one sample per run",
                        RuntimeWarning,
                        stacklevel=2,
                    )
                    observers.clear()  # drop the partial updates of the failed run
                    one_per_run = True
                    for i in range(n):
                        run({k: v[i:i + 1] for k, v in feeds.items()})
            first = False
            bar.update(n)
    finally:
        bar.close()
    if not observers:
        raise ValueError("calibration data is empty: no sample was run")
    return {name: obs.range() for name, obs in observers.items()}
