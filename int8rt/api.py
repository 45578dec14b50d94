"""The user-facing entry points: `quantize()` and the QuantizedModel it returns."""

from __future__ import annotations

import io
import os
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any, Union

from . import format as i8format
from .ir import Graph

ModelSource = Union[str, "os.PathLike[str]", Graph, Any]  # Any: an onnx.ModelProto


def load_float_model(model: ModelSource, input_shapes: dict[str, tuple[int, ...]] | None = None
                     ) -> Graph:
    """A canonical float graph from an .onnx path, an onnx.ModelProto, a float .i8 file or a
    Graph. Only ONNX sources need the optional `onnx` package."""
    if isinstance(model, Graph):
        return model
    if isinstance(model, (str, os.PathLike)):
        path = os.fspath(model)
        if not os.path.exists(path):
            raise FileNotFoundError(f"no such model file: {path}")
        if os.path.isdir(path):
            raise ValueError(f"{path} is a directory, not a model file")
        with open(path, "rb") as f:
            head = f.read(8)
        if head.startswith(i8format.MAGIC):
            return i8format.load(path)
    from .frontend.onnx import import_onnx  # needs the `onnx` extra

    return import_onnx(model, input_shapes=input_shapes)


@dataclass
class QuantizedModel:
    graph: Graph
    float_graph: Graph | None = None
    mixed: Any = None  # quant.mixed.MixedResult when a mixed-precision target was given

    @property
    def float_ops(self) -> list[tuple[str, str, str]]:
        """(op, node name, why) of each node that runs in float32: the ops int8rt has no
        int8 kernel for (run on float32 records between Dequantize and Quantize) and those
        kept float on request (`float_nodes`, `keep`, a mixed-precision search)."""
        from .quant.ptq import float_node_report

        return float_node_report(self.graph)

    def save(self, path: str | os.PathLike[str]) -> None:
        i8format.save(self.graph, path)

    def to_bytes(self) -> bytes:
        buf = io.BytesIO()
        i8format.save(self.graph, buf)
        return buf.getvalue()


def quantize(model: ModelSource, calibration: Any = None,
             method: str = "minmax",
             per_channel: bool = True, input_shapes: dict[str, tuple[int, ...]] | None = None,
             calib_samples: int | None = None, progress: bool = True, *,
             weight_bits: int = 8, symmetric_activations: bool = False,
             bias_correction: bool | None = None, equalize: bool | None = None,
             float_nodes: Iterable[str] | str | None = (), max_error: float | None = None,
             metric: Callable[[Callable[[Any], Any]], float] | None = None,
             max_drop: float | None = None, max_slowdown: float | None = None,
             eval_inputs: Any = None,
             io_dtype: str = "float32", table: Any = None, mode: str = "static",
             keep: str | Iterable[str] | None = None, target: float | None = None,
             **dynamic_options: Any) -> QuantizedModel:
    """Static post-training quantization (mode "static"), or, with no calibration data,
    dynamic int8 (mode "dynamic") / weight-only int8 or int4 (mode "weight_only") quantization
    of an ONNX transformer or RNN graph: see quantize_dynamic (its options pass through) and
    run the result with int8rt.Session.

    `calibration` is an iterable of numpy arrays (single-input models; a batch or one sample)
    or of {input_name: array} dicts, an array [N, ...], or a path: a folder of images
    (calib_data.ImageFolder, ImageNet preprocessing) or an .npy / .npz file. Observers watch
    every activation while the float graph runs on it; their ranges choose the int8
    parameters (docs/QUANTIZATION.md §2).

    Options: `weight_bits` 2-8 (int8 containers); `symmetric_activations` (zero point 0);
    `bias_correction` and `equalize` (cross-layer equalization), see quant.ptq.prepare (None:
    off, except under keep="auto", which tries both off and both on and keeps the one whose
    full int8 model scores higher);
    `float_nodes` to keep by name in float32; `io_dtype` "float32" / "int8" / "uint8" model
    inputs and outputs (integer I/O skips the boundary conversion). A mixed-precision target,
    `max_error` (relative RMS output error vs float on `eval_inputs`, default: the first 64
    calibration samples) or
    `metric(predict) -> float` with `max_drop`, runs quant.mixed.search: the most sensitive
    Conv / Gemm ops stay float32 until the target holds, never ending worse than full int8
    and, with `max_slowdown`, never slower than that factor times full int8 (the result is in
    `.mixed`).

    Task-aware accuracy (quant.keep, quant.metrics): `metric` may also be an output-metric
    spec ("cosine", "anchor-iou[:thr=..]", "mask-iou[:thr=..]", "argmax"): with `max_drop` it
    drives the mixed-precision search over all outputs; with `keep="auto"` a sensitivity pass
    finds the few layers whose int8 error breaks that metric and keeps just those float until
    it reaches `target` (default 0.9; 0.999 for cosine), measured against the float model on
    `eval_inputs` (default: the first 16 calibration samples, on which it aims higher, at half
    the allowed disagreement: quant.keep.search_target); it chooses on the even ones and keeps
    its choice only if it beats plain int8 on the odd ones (quant.keep.keep_auto). `keep` may
    also list node names to keep float (as `float_nodes`).

    Without calibration: a QDQ / QOperator ONNX model is imported with its own scales and zero
    points, and `table` (a scale-table JSON path or document, docs/QAT.md) gives them for a
    float model.
    """
    if mode != "static":
        if calibration is not None and mode == "weight_only":
            dynamic_options["calibration"] = calibration
        return quantize_dynamic(model, mode=mode, **dynamic_options)
    from .calib_data import _first_samples_array, calibration_source
    from .quant.ptq import quantize as ptq_quantize

    routed = _dynamic_path_static(model, calibration, table, method, calib_samples, progress)
    if routed is not None:
        return routed

    given = _given_quantization(model, input_shapes, table, calibration)
    if given is not None:
        return given
    if calibration is None:
        raise ValueError("quantize() needs calibration data, a scale table (table=...) or a "
                         "QDQ / QOperator ONNX model")

    from .quant.metrics import OutputMetric, parse_metric

    output_metric = None
    if isinstance(metric, (str, OutputMetric)):
        output_metric, metric = parse_metric(metric), None
    float_graph = load_float_model(model, input_shapes)
    # None means none; one name given as a string is one name, not its characters
    float_nodes = [] if float_nodes is None else [float_nodes] if isinstance(
        float_nodes, str) else list(float_nodes)
    _check_float_nodes(float_graph, float_nodes)
    calibration = calibration_source(calibration, calib_samples)
    if isinstance(keep, str) and keep != "auto":
        raise ValueError(f"keep must be 'auto' or a list of node names, got {keep!r}")
    if keep == "auto":
        return _keep_auto(float_graph, calibration, output_metric or "cosine", target,
                          eval_inputs, method=method, per_channel=per_channel,
                          weight_bits=weight_bits, symmetric_activations=symmetric_activations,
                          bias_correction=bias_correction, equalize=equalize,
                          io_dtype=io_dtype, progress=progress)
    bias_correction, equalize = bool(bias_correction), bool(equalize)
    if keep is not None:
        float_nodes = [*keep, *float_nodes]
    if output_metric is not None and max_drop is None:
        raise ValueError(f"metric {output_metric.spec!r} needs keep='auto' or max_drop")
    if max_error is not None or metric is not None or output_metric is not None:
        from .quant import mixed

        if io_dtype != "float32":
            raise ValueError("the mixed-precision search compares float outputs: use "
                             "io_dtype='float32' with max_error / metric")
        if eval_inputs is None:
            eval_inputs = _first_samples_array(calibration, 64)
        res = mixed.search(float_graph, calibration, eval_inputs, method=method,
                           per_channel=per_channel, weight_bits=weight_bits,
                           max_error=max_error, metric=metric, max_drop=max_drop,
                           output_metric=output_metric,
                           equalize=equalize, bias_correction=bias_correction,
                           symmetric_activations=symmetric_activations,
                           max_slowdown=max_slowdown, progress=progress)
        return QuantizedModel(res.graph, float_graph, res)
    graph = ptq_quantize(float_graph, calibration, method=method, per_channel=per_channel,
                         max_samples=calib_samples, progress=progress, weight_bits=weight_bits,
                         symmetric_activations=symmetric_activations,
                         bias_correction=bias_correction, equalize=equalize,
                         float_nodes=float_nodes, io_dtype=io_dtype)
    return QuantizedModel(graph, float_graph)



def _dynamic_path_static(model: ModelSource, calibration: Any, table: Any, method: str,
                         calib_samples: int | None, progress: bool) -> QuantizedModel | None:
    """mode "static" for ONNX models the static path cannot hold: with LSTM / GRU layers
    (quant/hybrid.py: calibrated convs, dynamic recurrent layers), or already quantized by ONNX
    Runtime's quantize_dynamic (imported with their own int8 weights). None: neither."""
    if isinstance(model, Graph) or (isinstance(model, (str, os.PathLike)) and
                                    _is_i8(os.fspath(model))):
        return None
    from .dynamic.ort_integer import is_ort_dynamic
    from .frontend.onnx import load_onnx_model
    from .quant.hybrid import needs_hybrid

    onnx_model = load_onnx_model(model)
    if is_ort_dynamic(onnx_model):
        if calibration is not None or table is not None:
            raise ValueError("the model is already quantized by ONNX Runtime's "
                             "quantize_dynamic (DynamicQuantizeLinear / MatMulInteger / "
                             "ConvInteger): it takes neither calibration data nor a scale "
                             "table; quantize(model) or mode='dynamic' runs it with its own "
                             "int8 weights")
        return quantize_dynamic(onnx_model)
    if not needs_hybrid(onnx_model):
        return None
    if table is not None:
        raise ValueError("a model with LSTM / GRU layers takes calibration data, not a scale "
                         "table")
    if calibration is None:
        raise ValueError("quantize() needs calibration data for the convolutions of a model "
                         "with LSTM / GRU layers (or mode='dynamic', which needs none)")
    from .quant.hybrid import quantize_hybrid

    return QuantizedModel(quantize_hybrid(onnx_model, calibration, method, calib_samples,
                                          progress))


def _check_float_nodes(graph: Graph, float_nodes: Iterable[str]) -> None:
    """The static plan has float32 kernels for lower.FLOAT_OPS (Conv / Gemm on csrc/kernels/
    f32conv, elementwise, activations, softmax, global pooling and data movement on csrc/
    kernels/f32); any other op kept float would give a model no plan can run, so refuse it
    here, by name."""
    from .lower import FLOAT_OPS

    ops = {n.name: n.op for n in graph.nodes}
    bad = [f"{n!r} ({ops[n]})" for n in float_nodes if n in ops and ops[n] not in FLOAT_OPS]
    if bad:
        raise ValueError(f"float_nodes / --float-nodes: {', '.join(bad)} cannot run in float32: "
                         f"int8rt has float kernels for {', '.join(sorted(FLOAT_OPS))}")


def _keep_auto(float_graph: Graph, calibration: Any, metric: Any, target: float | None,
               eval_inputs: Any, *, method: str, per_channel: bool, weight_bits: int,
               symmetric_activations: bool, bias_correction: bool | None,
               equalize: bool | None, io_dtype: str, progress: bool) -> QuantizedModel:
    import numpy as np

    from .calib_data import _first_samples_array
    from .quant.keep import DEFAULT_MARGIN, EVAL_SAMPLES, PREPARATIONS, keep_auto
    from .quant.ptq import reiterable

    if len(float_graph.inputs) != 1:
        raise ValueError("keep='auto' supports single-input models")
    if io_dtype != "float32":
        raise ValueError("keep='auto' compares float outputs: use io_dtype='float32'")
    calibration = reiterable(calibration)
    x = np.asarray(eval_inputs if eval_inputs is not None
                   else _first_samples_array(calibration, EVAL_SAMPLES), np.float32)
    shape = tuple(float_graph.tensor(float_graph.inputs[0]).shape)
    if x.ndim == len(shape) - 1:  # samples without their batch axis
        x = x[:, None]
    feeds = [{float_graph.inputs[0]: x[i:i + 1]} for i in range(len(x))]
    quant_kw = {"per_channel": per_channel, "weight_bits": weight_bits,
                "symmetric_activations": symmetric_activations, "io_dtype": io_dtype}
    if equalize is None and bias_correction is None:  # not chosen: the better of the options
        options = PREPARATIONS
    else:
        cle, bc = bool(equalize), bool(bias_correction)
        options = ((("+".join(n for n, on in (("CLE", cle), ("BC", bc)) if on) or "plain"),
                    cle, bc),)
    # held-out evaluation samples need no margin (quant.keep module doc)
    margin = DEFAULT_MARGIN if eval_inputs is None else 0.0
    res = keep_auto(float_graph, calibration, feeds, metric, target, method=method,
                    options=options, margin=margin, progress=progress, **quant_kw)
    res.graph.meta["quantization"]["keep_auto"] = res.meta()
    if progress:
        print(res.summary())
    return QuantizedModel(res.graph, float_graph)


def _given_quantization(model: ModelSource, input_shapes: dict[str, tuple[int, ...]] | None,
                        table: Any, calibration: Any) -> QuantizedModel | None:
    """A QuantizedModel from parameters the source gives (QDQ model or scale table), or None
    when the model must be calibrated."""
    if table is not None and calibration is not None:
        raise ValueError("give calibration data or a scale table, not both")
    onnx_model = None
    if not isinstance(model, Graph) and not (
            isinstance(model, (str, os.PathLike)) and _is_i8(os.fspath(model))):
        from .frontend.onnx import load_onnx_model
        from .frontend.onnx_qdq import has_quantization

        onnx_model = load_onnx_model(model)
        if has_quantization(onnx_model):
            if table is not None or calibration is not None:
                raise ValueError("the model is already quantized (QDQ / QOperator): it takes "
                                 "neither calibration data nor a scale table")
            from .frontend.onnx_qdq import import_quantized_onnx

            return QuantizedModel(import_quantized_onnx(onnx_model, input_shapes))
    if table is None:
        return None
    if onnx_model is not None:
        from .frontend.onnx_qdq import apply_table_onnx

        float_graph, graph = apply_table_onnx(onnx_model, table, input_shapes)
        return QuantizedModel(graph, float_graph)
    from .quant.table import quantize_with_table

    float_graph = load_float_model(model, input_shapes)
    return QuantizedModel(quantize_with_table(float_graph, table), float_graph)


def _is_i8(path: str) -> bool:
    if not os.path.exists(path):
        raise FileNotFoundError(f"no such model file: {path}")
    if os.path.isdir(path):
        raise ValueError(f"{path} is a directory, not a model file")
    with open(path, "rb") as f:
        return f.read(8).startswith(i8format.MAGIC)


def quantize_dynamic(model: ModelSource, mode: str = "dynamic", per_row: bool = True,
                     bits: int = 8, group: int = 64, float_graph: bool = False,
                     symmetric: bool = True, embedding_bits: int | None = None,
                     int8_nodes: Iterable[str] = (),
                     calibration: Iterable[dict] | None = None,
                     reduce_range: bool = False) -> QuantizedModel:
    """The dynamic path (docs/TRANSFORMERS.md): the ONNX graph keeps its ops and layout,
    MatMul / Gemm with constant weights become int8 per-channel weights whose activations are
    quantized per inference (mode "dynamic", per row = per token unless per_row=False), or
    int8 / packed int4 weights with per-group scales and float activations (mode
    "weight_only", bits 8 or 4, group 32 / 64 / 128; int4 runs with int8 activations per
    token, W4A8). Weight-only options: `symmetric=False` (int4 groups with zero points),
    `embedding_bits` (the Gather tables' bits, default `bits`), `int8_nodes` (fnmatch
    patterns of node names kept dynamic int8), `calibration` (int4: an iterable of feed
    dicts; GPTQ on the Linears' input Hessians, quant/gptq.py). `reduce_range=True` (ONNX
    Runtime's option): int8 MatMul / Gemm / Conv weights in [-64, 64] (7 bits), which run
    on AVX2-only CPUs with the faster vpmaddubsw gemm tiles (docs/TRANSFORMERS.md). mode
    "float" keeps float32 weights (the same plan with float matmuls: a baseline)."""
    from .dynamic import onnx_graph, prepare
    from .quant.dynamic import quantize_weights

    if isinstance(model, Graph):
        graph = model
    elif isinstance(model, (str, os.PathLike)) and _is_i8(os.fspath(model)):
        graph = i8format.load(model)
    else:
        from .dynamic.ort_integer import import_ort_dynamic
        from .frontend.onnx import load_onnx_model

        graph = prepare.prepare(onnx_graph.load(import_ort_dynamic(load_onnx_model(model))))
    if mode == "float":
        return QuantizedModel(graph, graph)
    return QuantizedModel(quantize_weights(graph, mode, per_row=per_row, bits=bits,
                                           group=group, symmetric=symmetric,
                                           embedding_bits=embedding_bits,
                                           int8_nodes=int8_nodes,
                                           calibration=calibration,
                                           reduce_range=reduce_range), graph)
