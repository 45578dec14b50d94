"""The quantization debugger: where does a PTQ model lose accuracy?

- `layer_errors`: the float graph and the lowered int8 program run side by side on the same
  inputs; every int8 activation is dequantized and compared with its float counterpart (same
  name, docs/ARCHITECTURE.md "Quantized graphs"). The first layer with a low SQNR is usually
  the culprit: error propagates, so later layers inherit it.
- `sensitivity`: one op at a time is (simulated) int8 while everything else stays float, and
  the model output's error is measured. This isolates each op's own contribution.

Both stream over samples: per tensor only running sums are kept (sum ref^2, sum err^2,
sum ref*deq, sum deq^2, max |err|), never the arrays of all samples.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Union

import numpy as np

from int8rt import opset
from int8rt.ir import Graph, Node, QParams
from int8rt.opset import schema
from int8rt.quant.calibrate import _batches
from int8rt.quant.params import dequantize_array, quantize_array
from int8rt.reference import float_ops

Sample = Union[np.ndarray, Mapping[str, np.ndarray]]


@dataclass
class LayerError:
    """The error of one int8 activation against the float graph's value of the same tensor."""

    name: str  # float activation name
    int8_name: str  # the tensor holding its int8 version in the quantized graph
    op: str  # producing op in the quantized graph ("Quantize" for a model input)
    node: str  # producing node's name
    sqnr_db: float  # 10 log10(sum ref^2 / sum (ref - deq)^2); inf when the error is zero
    cosine: float
    max_abs_error: float
    scale: float
    zero_point: int
    count: int  # elements compared (over all samples)
    # the lowest SQNR among the producing op's reported activation inputs (nan if none): the
    # error this layer inherited; sqnr_db well below it means this layer adds the error
    input_sqnr_db: float = math.nan


@dataclass
class OpSensitivity:
    """The model-output error when only `node` runs (simulated) int8."""

    node: str
    op: str
    output: str  # the op's (first) output activation
    sqnr_db: float  # of the model output(s), all outputs pooled
    cosine: float
    max_abs_error: float
    scale: float  # the op output's int8 parameters
    zero_point: int


class _ErrorStats:
    """Running sums for SQNR, cosine similarity and max |error| of ref vs approx."""

    def __init__(self) -> None:
        self.ref2 = 0.0
        self.err2 = 0.0
        self.dot = 0.0
        self.app2 = 0.0
        self.max_abs = 0.0
        self.count = 0

    def update(self, ref: np.ndarray, approx: np.ndarray) -> None:
        # float64 sums: float32 accumulation over a whole data set loses the small error terms
        r = np.asarray(ref, np.float64).reshape(-1)
        a = np.asarray(approx, np.float64).reshape(-1)
        if r.shape != a.shape:
            raise ValueError(f"shape mismatch: float {np.shape(ref)} vs int8 {np.shape(approx)}")
        e = r - a
        self.ref2 += float(r @ r)
        self.err2 += float(e @ e)
        self.dot += float(r @ a)
        self.app2 += float(a @ a)
        if e.size:
            self.max_abs = max(self.max_abs, float(np.abs(e).max()))
        self.count += r.size

    def sqnr_db(self) -> float:
        if self.err2 == 0.0:
            return math.inf
        if self.ref2 == 0.0:
            return -math.inf
        return 10.0 * math.log10(self.ref2 / self.err2)

    def cosine(self) -> float:
        if self.ref2 == 0.0 and self.app2 == 0.0:
            return 1.0
        if self.ref2 == 0.0 or self.app2 == 0.0:
            return 0.0
        return self.dot / math.sqrt(self.ref2 * self.app2)


def _scalar_qp(qp: QParams | None) -> tuple[float, int]:
    if qp is None or not qp.is_per_tensor:
        return math.nan, 0
    return qp.scalar()


# -- per-layer errors ---------------------------------------------------------------------------
def layer_errors(qm: Any, samples: Iterable[Sample], max_samples: int | None = None,
                 batch_size: int = 16, progress: bool = False) -> list[LayerError]:
    """Per quantized activation: how far its dequantized int8 value is from the float value.

    `qm` is a QuantizedModel (`.graph` quantized, `.float_graph` the float graph it came from).
    `samples` yields arrays or {input: array} dicts like calibration data (a batch or one
    sample each), regrouped into batches of `batch_size`.

    The int8 side is the lowered Program run by the numpy reference runner (bit-identical to
    the native plan), so the errors are those of the deployed kernels. A tensor that lowering
    fuses away never exists in int8 and is absent from the result: e.g. a Conv / Gemm output
    read only by a Dequantize becomes the kernel's float32 epilogue (the classifier's logits).
    Rows come in the quantized graph's topological order. `progress`: a bar over the
    program's calls (the numpy int8 run is the slow part: seconds per op on large images).
    """
    from int8rt.progress import ProgressBar
    from int8rt.reference.float_executor import FloatExecutor

    qg: Graph = qm.graph
    fg: Graph | None = getattr(qm, "float_graph", None)
    if fg is None:
        raise ValueError("layer_errors needs the float graph (QuantizedModel.float_graph)")
    int8_names: dict[str, str] = dict(qg.meta.get("quantization", {}).get("int8_names", {}))
    if not int8_names:
        raise ValueError("the graph has no quantization metadata (int8_names)")
    to_float = {q: f for f, q in int8_names.items()}
    producer = qg.producers()
    order = [o for n in qg.topological() for o in n.outputs if o in to_float]
    if qg.inputs != fg.inputs:
        raise ValueError(f"float inputs {fg.inputs} differ from int8 inputs {qg.inputs}")

    executor = FloatExecutor(fg)
    programs: dict[tuple[tuple[int, ...], ...], Any] = {}
    stats: dict[str, _ErrorStats] = {}
    seen = False
    bar = ProgressBar(None, desc="per-layer errors", unit="op", enabled=progress)
    try:
        for feeds in _batches(fg, samples, batch_size, max_samples):
            seen = True
            _compare_batch(qg, fg, feeds, programs, executor, to_float, int8_names, stats, bar)
    finally:
        bar.close()
    if not seen:
        raise ValueError("no samples")
    return _layer_rows(qg, order, producer, to_float, stats)


def _compare_batch(qg: Graph, fg: Graph, feeds: Mapping[str, np.ndarray], programs: dict,
                   executor: Any, to_float: dict[str, str], int8_names: dict[str, str],
                   stats: dict[str, _ErrorStats], bar: Any) -> None:
    """One batch of layer_errors: the int8 program (numpy reference) and the float graph,
    each activation's error statistics updated (the bar advances once per program call)."""
    from int8rt.lower import lower
    from int8rt.passes.shape_inference import rebatch
    from int8rt.reference.program import run_program

    arrays = [np.ascontiguousarray(feeds[n], np.float32) for n in qg.inputs]
    shapes = tuple(a.shape for a in arrays)
    program = programs.get(shapes)
    if program is None:
        g = qg
        if shapes != tuple(tuple(qg.tensor(n).shape) for n in qg.inputs):
            g = rebatch(qg.copy(), dict(zip(qg.inputs, shapes)))
        program = programs[shapes] = lower(g, fuse_epilogues=False)
    bar.extend(len(program.calls))
    int8_values: dict[str, np.ndarray] = {}

    def keep(name: str, arr: np.ndarray) -> None:
        if name in to_float:  # the last write wins: a Concat is complete after its last copy
            int8_values[name] = arr
        bar.update()

    run_program(program, arrays, observe=keep)

    def compare(name: str, ref: np.ndarray) -> None:
        q_name = int8_names.get(name)
        if q_name is None or q_name not in int8_values:
            return
        deq = dequantize_array(int8_values[q_name], qg.tensor(q_name).qparams)
        stats.setdefault(q_name, _ErrorStats()).update(ref, deq.reshape(np.shape(ref)))

    executor.run(feeds, observe=compare)


def _layer_rows(qg: Graph, order: list[str], producer: Mapping[str, Node],
                to_float: dict[str, str], stats: dict[str, _ErrorStats]) -> list[LayerError]:
    rows: list[LayerError] = []
    by_int8: dict[str, LayerError] = {}
    for q_name in order:
        st = stats.get(q_name)
        if st is None:
            continue
        node = producer[q_name]
        s, z = _scalar_qp(qg.tensor(q_name).qparams)
        inherited = [by_int8[i].sqnr_db for i in node.inputs if i in by_int8]
        row = LayerError(to_float[q_name], q_name, node.op, node.name, st.sqnr_db(),
                         st.cosine(), st.max_abs, s, z, st.count,
                         min(inherited) if inherited else math.nan)
        rows.append(row)
        by_int8[q_name] = row
    return rows


# -- one-op sensitivity (simulated int8) --------------------------------------------------------
def _run_float(graph: Graph, feeds: Mapping[str, np.ndarray],
               post: Callable[[Node, str, np.ndarray], np.ndarray] | None = None
               ) -> list[np.ndarray]:
    """The float graph's outputs, with `post(node, name, value)` replacing each node output
    (FloatExecutor has no hook that may change values, so this is its loop, minus the
    memory release)."""
    consts = {t.name: (t.data.astype(np.float32) if t.data.dtype.kind == "f" else t.data)
              for t in graph.constants()}
    env: dict[str, np.ndarray] = {n: np.ascontiguousarray(feeds[n], np.float32)
                                  for n in graph.inputs}

    def shape(name: str) -> tuple[int, ...] | None:
        t = graph.tensors.get(name) if name else None
        return None if t is None else tuple(t.shape)

    for n in graph.topological():
        ins = [(env[i] if i in env else consts[i]) if i else None for i in n.inputs]
        shapes = float_ops.NodeShapes(tuple(shape(i) for i in n.inputs),
                                      tuple(shape(o) for o in n.outputs))
        outs = float_ops.OPS[n.op](ins, opset.attrs_with_defaults(n.op, n.attrs), shapes)
        for name, arr in zip(n.outputs, outs):
            if name:
                env[name] = post(n, name, arr) if post is not None else arr
    return [env[o] if o in env else consts[o] for o in graph.outputs]


def _fake_quant(x: np.ndarray, qp: QParams) -> np.ndarray:
    return dequantize_array(quantize_array(x, qp), qp)


def _simulated(fg: Graph, qg: Graph, node: Node) -> Graph:
    """A copy of the float graph where `node`'s quantized constant inputs (int8 weights,
    int32 bias, int8 operands) are replaced by their dequantized values."""
    qnode = next(n for n in qg.nodes if n.name == node.name)
    g = fg.copy()
    gnode = next(n for n in g.nodes if n.name == node.name)
    for k, (f_in, q_in) in enumerate(zip(node.inputs, qnode.inputs)):
        if not f_in or f_in not in fg.tensors or not fg.tensor(f_in).is_const:
            continue
        qt = qg.tensors.get(q_in)
        if qt is None or qt.data is None or qt.qparams is None:
            continue
        if qt.dtype == "int32":  # bias: real = s_x * s_w[c] * q, in float64 (q can be large)
            scale = np.asarray(qt.qparams.scale, np.float64)
            data = (qt.data.astype(np.float64) * scale).astype(np.float32)
        else:
            data = dequantize_array(qt.data, qt.qparams)
        gnode.inputs[k] = g.add_const(f"{f_in}:fakequant", data)
    return g


def sensitivity(graph_float: Graph, calibration: Iterable[Sample], samples: Iterable[Sample],
                method: str = "minmax", per_channel: bool = True,
                max_samples: int | None = None, batch_size: int = 16,
                ops: Sequence[str] | None = None, ranges: Mapping[str, Any] | None = None,
                progress: bool = False, weight_bits: int = 8,
                symmetric_activations: bool = False) -> list[OpSensitivity]:
    """Rank the ops by how much quantizing each one alone hurts the model output.

    For every op that PTQ would make int8 (or only the node names in `ops`), the float graph
    runs with that op simulated in int8: its quantized constants (int8 weights, int32 bias,
    int8 operands) replaced by their dequantized values and its output passed through
    quantize -> dequantize with the parameters PTQ chose from `calibration`
    (quant.calibrate ranges, or `ranges` if given). Everything else stays float32.

    This is a simulation ("fake quantization"), not the int8 kernels: the accumulation is in
    float and the requantization rounds once instead of through the integer multiplier. Those
    differences are at most one output step, far below the errors that matter here: the
    weight rounding and the output step/clipping, which the simulation reproduces exactly.
    Because every other op is exact, the output error is this op's own contribution (error
    propagation from earlier layers is excluded), which is what ranks ops for keeping them in
    float or recalibrating them. Cost: one float run per op and batch.

    Returns one row per op, worst output SQNR first.
    """
    from int8rt.progress import ProgressBar
    from int8rt.quant.calibrate import calibrate
    from int8rt.quant.ptq import quantize_graph

    if ranges is None:
        ranges = calibrate(graph_float, calibration, method=method, progress=progress)
    qg = quantize_graph(graph_float, ranges, per_channel=per_channel, weight_bits=weight_bits,
                        symmetric_activations=symmetric_activations)
    int8_names = qg.meta["quantization"]["int8_names"]
    candidates = [n for n in graph_float.topological() if schema(n.op).int8
                  and n.outputs and n.outputs[0] in int8_names]
    if ops is not None:
        wanted = set(ops)
        unknown = wanted - {n.name for n in candidates}
        if unknown:
            raise ValueError(f"not int8-quantizable nodes of this graph: {sorted(unknown)}")
        candidates = [n for n in candidates if n.name in wanted]

    batches = list(_batches(graph_float, samples, batch_size, max_samples))
    if not batches:
        raise ValueError("no samples")
    refs = [_run_float(graph_float, b) for b in batches]
    rows = []
    bar = ProgressBar(len(candidates), desc="sensitivity", unit="op", enabled=progress)
    for node in candidates:
        g = _simulated(graph_float, qg, node)
        out_qp = {o: qg.tensor(int8_names[o]).qparams for o in node.outputs if o in int8_names}

        def post(n: Node, name: str, arr: np.ndarray, target: str = node.name,
                 qps: dict = out_qp) -> np.ndarray:
            if n.name == target and name in qps:
                return _fake_quant(arr, qps[name])
            return arr

        st = _ErrorStats()
        for b, ref in zip(batches, refs):
            for r, y in zip(ref, _run_float(g, b, post)):
                st.update(r, y)
        s, z = _scalar_qp(out_qp.get(node.outputs[0]))
        rows.append(OpSensitivity(node.name, node.op, node.outputs[0], st.sqnr_db(),
                                  st.cosine(), st.max_abs, s, z))
        bar.update()
    bar.close()
    rows.sort(key=lambda r: r.sqnr_db)
    return rows


# -- text table ---------------------------------------------------------------------------------
def _fmt_db(v: float) -> str:
    return "inf" if v == math.inf else "-inf" if v == -math.inf else f"{v:.2f}"


def _fmt_delta(v: float, ref: float) -> str:
    if math.isnan(ref) or not (math.isfinite(v) and math.isfinite(ref)):
        return "-"
    d = v - ref
    return f"{0.0 if abs(d) < 0.005 else d:+.2f}"  # no "-0.00" for a lossless move


def format_table(rows: Sequence[LayerError | OpSensitivity], max_name: int = 48) -> str:
    """A text table of `layer_errors` or `sensitivity` rows; the worst SQNR is marked `<-`."""
    if not rows:
        return "(no rows)"

    def cut(s: str) -> str:
        return s if len(s) <= max_name else "..." + s[-(max_name - 3):]

    if isinstance(rows[0], LayerError):
        # "vs in": SQNR minus the worst input's; the most negative is where error is added
        head = ["tensor", "op", "SQNR dB", "vs in", "cosine", "max|err|", "scale", "zp"]
        body = [[cut(r.name), r.op, _fmt_db(r.sqnr_db), _fmt_delta(r.sqnr_db, r.input_sqnr_db),
                 f"{r.cosine:.5f}", f"{r.max_abs_error:.4g}", f"{r.scale:.4g}",
                 str(r.zero_point)] for r in rows]
    else:
        head = ["node (alone in int8)", "op", "out SQNR dB", "cosine", "max|err|", "scale", "zp"]
        body = [[cut(r.node), r.op, _fmt_db(r.sqnr_db), f"{r.cosine:.5f}",
                 f"{r.max_abs_error:.4g}", f"{r.scale:.4g}", str(r.zero_point)] for r in rows]
    worst = min(range(len(rows)), key=lambda i: rows[i].sqnr_db)
    widths = [max(len(head[c]), *(len(b[c]) for b in body)) for c in range(len(head))]
    left = {0, 1}

    def line(cells: list[str]) -> str:
        return "  ".join(c.ljust(w) if i in left else c.rjust(w)
                         for i, (c, w) in enumerate(zip(cells, widths)))

    out = [line(head), "  ".join("-" * w for w in widths)]
    for i, b in enumerate(body):
        out.append(line(b) + ("  <- worst" if i == worst else ""))
    return "\n".join(out)
