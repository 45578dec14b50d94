"""Static post-training quantization: canonical float graph + activation ranges -> int8 graph.

The conventions (docs/ARCHITECTURE.md "Quantized graphs", docs/QUANTIZATION.md §1-§2):

- the op list is kept; every activation tensor of an op with an int8 kernel becomes int8 with
  per-tensor QParams (from its observed range, its input's parameters for data movement, or
  fixed for Softmax), keeping its float-graph name so float and int8 runs compare by name;
- model inputs and outputs stay float32 under their names: a Quantize follows each input, a
  Dequantize precedes each output (the int8 tensor feeding it is renamed `<name>:int8`);
- an op without an int8 kernel stays float: its int8 inputs pass through Dequantize
  (`<name>:float`) and its output through Quantize (`<name>:int8`) where int8 ops read it;
- Conv / Gemm weights become symmetric int8 (per output channel by default) and their bias,
  created as zeros when absent, int32 with scale s_x * s_w; other float constants read by an
  int8 op (Add / Sub / Mul operands, ...) become per-tensor int8 with their own range.

Fused activations (`clip`) stay in real units; lowering turns them into kernel bounds with
params.clamp_bounds. Their effect is already in the observed range of the op's output.
`graph.meta["quantization"]["int8_names"]` maps each float activation name to the tensor that
holds its int8 version.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

import numpy as np

from int8rt.ir import Graph, Node, QParams, Tensor, fresh_name
from int8rt.opset import schema
from int8rt.quant import params

# out_qparams="fixed" ops and their parameters (docs/QUANTIZATION.md §4, Softmax)
FIXED_QPARAMS: dict[str, tuple[float, int]] = {"Softmax": (1.0 / 256.0, -128)}

# model input / output dtypes: float32 (Quantize / Dequantize at the boundary), int8 (the int8
# tensors themselves) or uint8 (the same values with zero point + 128, converted by a byte map)
IO_DTYPES = ("float32", "int8", "uint8")

# ops whose weights (input 1) and bias (input 2) get the Conv/Gemm treatment
WEIGHTED_OPS = ("Conv", "Gemm")


class _Quantizer:
    def __init__(self, graph: Graph, ranges: Mapping[str, Any], per_channel: bool,
                 weight_bits: int, float_nodes: Iterable[str] = (),
                 symmetric_activations: bool = False, io_dtype: str = "float32") -> None:
        if io_dtype not in IO_DTYPES:
            raise ValueError(f"io_dtype must be one of {IO_DTYPES}, got {io_dtype!r}")
        self.io_dtype = io_dtype
        self.g = graph
        self.ranges = ranges
        self.per_channel = per_channel
        self.weight_bits = weight_bits
        self.symmetric = bool(symmetric_activations)
        self.float_nodes = set(float_nodes)
        unknown = self.float_nodes - {n.name for n in graph.nodes}
        if unknown:
            raise ValueError(f"float_nodes names no node of the graph: {sorted(unknown)}")
        self.order = graph.topological()
        for n in self.order:
            if n.op in ("Quantize", "Dequantize"):
                raise ValueError(f"graph is already quantized (node {n.name!r} is a {n.op})")
            schema(n.op)  # raises on an op outside the canonical set
        self.consts = {t.name for t in graph.constants()}
        self.producer = graph.producers()
        self.bridges = self._float_bridges(graph)
        # how many input slots read each constant: a constant read once is quantized in place
        self.uses: dict[str, int] = {}
        for n in self.order:
            for i in n.inputs:
                if i:
                    self.uses[i] = self.uses.get(i, 0) + 1
        # the dtype each activation is produced in
        self.home: dict[str, str] = {x: "float" for x in graph.inputs}
        for n in self.order:
            for o in n.outputs:
                self.home[o] = "int8" if self.is_int8(n) else "float"
        for name in self.home:
            t = graph.tensor(name)
            if t.dtype != "float32":
                raise ValueError(f"activation {name!r} is {t.dtype}; PTQ expects a float32 graph")
        self.qp: dict[str, QParams] = {}
        self.nodes: list[Node] = []
        self.converted: dict[tuple[str, str], str] = {}
        # int8-produced model outputs: the int8 tensor is renamed, the float name is the
        # Dequantize output
        self.renamed: dict[str, str] = {}
        for y in dict.fromkeys(graph.outputs):
            if self.home.get(y) == "int8":
                self.renamed[y] = self._reserve(f"{y}:int8")
                self.converted[(y, "float")] = y
        self.const_cache: dict[str, str] = {}
        self.node_names = {n.name for n in graph.nodes}
        # weight-scale adjustment (fit_weight_scales): on unless the weights are given as
        # integers (QDQ imports), whose scales must stay the source's
        self.fit_scales = True
        self.adjusted: dict[str, list[list]] = {}  # node -> [[channel, old scale, new scale]]

    def is_int8(self, node: Node) -> bool:
        """Runs as an int8 kernel: the op has one, mixed precision did not keep it float and
        it is no bridge between float32 ops (_float_bridges)."""
        return schema(node.op).int8 and node.name not in self.float_nodes \
            and node.name not in self.bridges

    def _float_bridges(self, graph: Graph) -> set[str]:
        """Nodes with an int8 kernel that would sit between ops without one: every activation
        they read is made by such a node and every reader of their outputs is one (e.g. the
        Clip between ReduceL2 and Expand / Div of torch's F.normalize). In int8 each would
        cost a Quantize / Dequantize round trip and one more rounding; they run in float32
        instead, when the static plan has a float32 form of their op. Conv / Gemm stay int8
        (their int8 kernels are the speed), and nodes kept float on request do not count
        (mixed precision chooses its float regions itself)."""
        from int8rt.lower import FLOAT_OPS

        users = graph.consumers()
        outputs = set(graph.outputs)
        bridges: set[str] = set()

        def is_float(n: Node) -> bool:
            return not schema(n.op).int8 or n.name in bridges

        changed = True
        while changed:
            changed = False
            for n in self.order:
                if is_float(n) or n.op not in FLOAT_OPS or n.op in WEIGHTED_OPS or \
                        n.name in self.float_nodes:
                    continue
                acts = [i for i in n.inputs if i and i not in self.consts]
                made = [self.producer.get(i) for i in acts]
                readers = [u for o in n.outputs for u in users.get(o, [])]
                if acts and all(p is not None and is_float(p) for p in made) and readers and \
                        all(is_float(u) for u in readers) and not outputs & set(n.outputs):
                    bridges.add(n.name)
                    changed = True
        return bridges

    def weight_params(self, node: Node, w: np.ndarray) -> tuple[QParams, np.ndarray]:
        """The int8 weight parameters and values of a Conv / Gemm node (int8rt.quant.table
        overrides this to apply given scales)."""
        wqp = params.weight_qparams(w, axis=0, per_channel=self.per_channel,
                                    bits=self.weight_bits)
        return wqp, params.quantize_weights(w, wqp, bits=self.weight_bits)

    # -- names ---------------------------------------------------------------------------
    def _reserve(self, base: str) -> str:
        name = self.g.unique_name(base)
        self.g.tensors[name] = Tensor(name, (), "float32")  # placeholder, filled in later
        return name

    def _node_name(self, base: str) -> str:
        # new nodes are not in g.nodes until the end: avoid their names by hand
        name = fresh_name(base, self.node_names, self.g.tensors)
        self.node_names.add(name)
        return name

    # -- activation parameters -----------------------------------------------------------
    def given_output(self, name: str) -> QParams | None:
        """Parameters given from outside for an activation (scale tables, QDQ imports); PTQ
        derives every one itself."""
        return None

    def observed(self, name: str) -> QParams:
        if name not in self.ranges:
            raise KeyError(
                f"no calibration range for tensor {name!r}: run quant.calibrate on this graph"
            )
        lo, hi = self.ranges[name]
        if self.symmetric:
            return params.symmetric_activation_qparams(float(lo), float(hi))
        return params.activation_qparams(float(lo), float(hi))

    def act_qp(self, name: str) -> QParams:
        """The int8 parameters of activation `name` (its int8 version if it is float-made)."""
        if name in self.qp:
            return self.qp[name]
        if name in self.consts:
            raise ValueError(f"{name!r} is a constant, not an activation")
        node = self.producer.get(name)
        given = self.given_output(name)
        if node is None or not self.is_int8(node):
            qp = self.observed(name)
        elif given is not None:
            # parameters the source chose for a "same" / "fixed" op's output: lowering
            # requantizes data movement (docs/QUANTIZATION.md §4) and Softmax takes any scale
            qp = given
        else:
            rule = schema(node.op).out_qparams
            if rule == "observed":
                qp = self.observed(name)
            elif rule == "same":
                src = node.inputs[0]
                if src in self.consts:
                    raise ValueError(
                        f"{node.op} node {node.name!r} moves a constant: fold it before PTQ"
                    )
                qp = self.act_qp(src)
            elif rule == "fixed":
                if node.op not in FIXED_QPARAMS:
                    raise ValueError(f"{node.op} has fixed output parameters but none are known")
                qp = QParams.per_tensor(*FIXED_QPARAMS[node.op])
            else:
                raise ValueError(f"unknown out_qparams rule {rule!r} of {node.op}")
        self.qp[name] = qp
        return qp

    # -- dtype boundaries ----------------------------------------------------------------
    def as_int8(self, name: str) -> str:
        if self.home[name] == "int8":
            return self.renamed.get(name, name)
        key = (name, "int8")
        if key not in self.converted:
            q = self._reserve(f"{name}:int8")
            self.g.tensors[q] = Tensor(q, self.g.tensor(name).shape, "int8",
                                       qparams=self.act_qp(name))
            self.nodes.append(Node("Quantize", self._node_name(f"{name}:quantize"), [name], [q]))
            self.converted[key] = q
        return self.converted[key]

    def as_float(self, name: str) -> str:
        if self.home[name] == "float":
            return name
        key = (name, "float")
        if key not in self.converted:
            f = self._reserve(f"{name}:float")
            self.g.tensors[f] = Tensor(f, self.g.tensor(name).shape, "float32")
            self.nodes.append(
                Node("Dequantize", self._node_name(f"{name}:dequantize"), [name], [f]))
            self.converted[key] = f
        return self.converted[key]

    # -- constants -----------------------------------------------------------------------
    def _put_const(self, orig: str, base: str, data: np.ndarray, qp: QParams,
                   shared_ok: bool) -> str:
        """Store a quantized constant: in place of `orig` when this is its only use, else under
        a new name (cached per `orig` when the result does not depend on the consumer)."""
        if orig and self.uses.get(orig, 0) == 1:
            name = orig
        elif shared_ok and orig in self.const_cache:
            return self.const_cache[orig]
        else:
            name = self._reserve(base)
            if shared_ok and orig:
                self.const_cache[orig] = name
        data = np.ascontiguousarray(data)
        self.g.tensors[name] = Tensor(name, tuple(data.shape), str(data.dtype), data=data,
                                      qparams=qp)
        return name

    def _float_const(self, name: str, what: str) -> np.ndarray:
        t = self.g.tensor(name)
        if t.data is None:
            raise NotImplementedError(f"{what} {name!r} is not a constant: static PTQ needs "
                                      "constant weights")
        if not np.issubdtype(t.data.dtype, np.floating):
            raise ValueError(f"{what} {name!r} has dtype {t.data.dtype}, expected float")
        return t.data

    def weighted(self, node: Node) -> list[str]:
        x, w_name = node.inputs[0], node.inputs[1]
        b_name = node.inputs[2] if len(node.inputs) > 2 else ""
        if x in self.consts:
            raise ValueError(f"{node.op} node {node.name!r} has a constant input: fold it first")
        w = self._float_const(w_name, f"{node.op} weight")
        wqp, wq = self.weight_params(node, w)
        oc = w.shape[0]
        if b_name:
            b = self._float_const(b_name, f"{node.op} bias")
            if b.shape != (oc,):
                raise ValueError(f"{node.op} node {node.name!r}: bias shape {b.shape}, "
                                 f"expected ({oc},)")
        else:
            b = np.zeros(oc, np.float32)
        x_scale, _ = self.act_qp(x).scalar()
        changes = []
        if self.fit_scales:
            # docs/QUANTIZATION.md §3 "Weight-scale adjustment": a channel whose int32 bias or
            # accumulator bound does not fit gets the smallest scale increase that fits
            wqp, changes = params.fit_weight_scales(w, wqp, b, x_scale, self.weight_bits)
            if changes:
                wq = params.quantize_weights(w, wqp, bits=self.weight_bits)
                self.adjusted[node.name] = [[c, old, new] for c, old, new in changes]
        # adjusted weights depend on this node's input scale: not shared with other readers
        w_new = self._put_const(w_name, f"{w_name}:int8", wq, wqp, shared_ok=not changes)
        bq = params.quantize_bias(b, x_scale, wqp.scale)
        s_b = params.bias_scale(x_scale, wqp.scale).astype(np.float32)
        bqp = QParams(s_b, np.zeros(s_b.shape, np.int32), None if wqp.axis is None else 0)
        # the bias depends on this node's input scale: never shared between consumers
        base = f"{b_name}:int32" if b_name else f"{node.name}:bias"
        b_new = self._put_const(b_name, base, bq, bqp, shared_ok=False)
        return [self.as_int8(x), w_new, b_new, *node.inputs[3:]]

    def plain_const(self, name: str) -> str:
        data = self.g.tensor(name).data
        if not np.issubdtype(data.dtype, np.floating):
            return name  # integer constants (indices, shapes) are not quantized
        d = np.asarray(data, np.float64)
        if not np.isfinite(d).all():
            raise ValueError(f"constant {name!r} contains NaN or Inf")
        lo, hi = (float(d.min()), float(d.max())) if d.size else (0.0, 0.0)
        qp = params.activation_qparams(lo, hi)
        return self._put_const(name, f"{name}:int8", params.quantize_array(data, qp), qp,
                               shared_ok=True)

    # -- model I/O dtype ---------------------------------------------------------------------
    def _set_io(self, g: Graph) -> None:
        """int8 / uint8 I/O: drop the boundary Quantize / Dequantize (int8: the int8 tensor
        takes the model input's / output's name) or make them uint8 <-> int8 conversions."""
        if self.io_dtype == "float32":
            return

        def retype(name: str, like: str) -> None:
            t = g.tensor(like)
            qp = t.qparams
            if self.io_dtype == "uint8":
                s, z = qp.scalar()
                qp = QParams.per_tensor(s, z + 128)
            g.tensors[name] = Tensor(name, g.tensor(name).shape, self.io_dtype, qparams=qp)

        def rename(old: str, new: str) -> None:
            for n in g.nodes:
                n.inputs = [new if i == old else i for i in n.inputs]
                n.outputs = [new if o == old else o for o in n.outputs]
            del g.tensors[old]

        for x in g.inputs:
            readers = [n for n in g.nodes if x in n.inputs]
            if any(n.op != "Quantize" for n in readers) or len(readers) != 1:
                raise ValueError(f"io_dtype={self.io_dtype}: model input {x!r} is read by a "
                                 "float op; it cannot be given as integers")
            q = readers[0].outputs[0]
            retype(x, q)
            if self.io_dtype == "int8":
                g.nodes.remove(readers[0])
                rename(q, x)
        for y in dict.fromkeys(g.outputs):
            prod = next((n for n in g.nodes if y in n.outputs), None)
            if prod is None or prod.op != "Dequantize":
                raise ValueError(f"io_dtype={self.io_dtype}: model output {y!r} is computed "
                                 "in float; it cannot be returned as integers")
            q = prod.inputs[0]
            retype(y, q)
            if self.io_dtype == "int8":
                g.nodes.remove(prod)
                rename(q, y)

    # -- the rewrite ---------------------------------------------------------------------
    def run(self) -> Graph:
        g = self.g
        # parameters first: "same" follows a node's original inputs, rewritten below
        for node in self.order:
            if self.is_int8(node):
                for o in node.outputs:
                    self.act_qp(o)
        for node in self.order:
            if not self.is_int8(node):
                node.inputs = [i if (not i or i in self.consts) else self.as_float(i)
                               for i in node.inputs]
                self.nodes.append(node)
                continue
            if node.op in WEIGHTED_OPS:
                node.inputs = self.weighted(node)
            else:
                node.inputs = [
                    "" if not i else self.plain_const(i) if i in self.consts else self.as_int8(i)
                    for i in node.inputs
                ]
            outputs = list(node.outputs)
            for o in outputs:
                name = self.renamed.get(o, o)
                g.tensors[name] = Tensor(name, g.tensor(o).shape, "int8", qparams=self.act_qp(o))
            node.outputs = [self.renamed.get(o, o) for o in outputs]
            self.nodes.append(node)
            for o in outputs:
                if o in self.renamed:  # a model output: back to float under its own name
                    self.nodes.append(Node("Dequantize", self._node_name(f"{o}:dequantize"),
                                           [self.renamed[o]], [o]))
        g.nodes = self.nodes
        # float constants whose every use now reads a quantized copy
        read = {i for n in g.nodes for i in n.inputs if i} | set(g.outputs)
        for name in self.consts:
            if name not in read:
                del g.tensors[name]
        int8_names = {}
        for name, dom in self.home.items():
            if dom == "int8":
                int8_names[name] = self.renamed.get(name, name)
            elif (name, "int8") in self.converted:
                int8_names[name] = self.converted[(name, "int8")]
        if self.io_dtype == "int8":  # the boundary int8 tensors now carry the model's names
            for name in (*g.inputs, *g.outputs):
                if name in int8_names:
                    int8_names[name] = name
        self._set_io(g)
        g.meta["quantization"] = {
            "scheme": "static",
            "per_channel": bool(self.per_channel),
            "weight_bits": int(self.weight_bits),
            "symmetric_activations": self.symmetric,
            "io_dtype": self.io_dtype,
            "float_nodes": sorted(self.float_nodes),
            # every node that runs in float32: those asked for, and ops without an int8 kernel
            "float_ops": sorted(n.name for n in self.order if not self.is_int8(n)
                                and n.op not in ("Quantize", "Dequantize")),
            # and why, node name -> "op: reason" (float_node_report)
            "float_reasons": {n.name: f"{n.op}: " + (ASKED if n.name in self.float_nodes
                                                      else BRIDGE if n.name in self.bridges
                                                      else NO_KERNEL)
                              for n in self.order if not self.is_int8(n)
                              and n.op not in ("Quantize", "Dequantize")},
            "int8_names": int8_names,
        }
        if self.adjusted:
            g.meta["quantization"]["weight_scale_adjusted"] = self.adjusted
        return g


ASKED = "kept float on request (--float-nodes / float_nodes / keep)"
NO_KERNEL = "no int8 kernel for the op"
BRIDGE = "between float32 ops (int8 would add a Quantize / Dequantize round trip)"


def float_node_report(graph: Graph) -> list[tuple[str, str, str]]:
    """(op, node name, why) of every node a statically quantized graph runs in float32, in
    graph order: ops without an int8 kernel (their float32 records run between Dequantize and
    Quantize in the same plan), those kept float on request, and (scale tables, QDQ imports)
    those the source gives no quantization parameters. meta "float_reasons" holds the why as
    "op: reason"; files written before it say NO_KERNEL / ASKED."""
    q = graph.meta.get("quantization")
    if not isinstance(q, dict):
        return []
    names = set(q.get("float_ops") or ()) | set(q.get("float_nodes") or ())
    asked = set(q.get("float_nodes") or ())
    reasons = q.get("float_reasons") if isinstance(q.get("float_reasons"), dict) else {}
    out = []
    for n in graph.nodes:
        if n.name not in names:
            continue
        why = str(reasons.get(n.name) or (ASKED if n.name in asked else NO_KERNEL))
        out.append((n.op, n.name, why.removeprefix(f"{n.op}: ")))
    return out


def quantize_graph(graph: Graph, ranges: Mapping[str, Any], per_channel: bool = True,
                   weight_bits: int = 8, float_nodes: Iterable[str] = (),
                   symmetric_activations: bool = False, io_dtype: str = "float32") -> Graph:
    """A quantized copy of the canonical float `graph`, given the observed real range
    (lo, hi) of each activation (`calibrate`'s result). The input graph is not modified.

    `float_nodes`: names of nodes to keep in float32 (mixed precision): they read Dequantize'd
    inputs and their outputs are quantized where int8 ops read them; a Conv / Gemm among them
    keeps float32 weights and runs the f32conv fallback kernels. `symmetric_activations`:
    activation zero points 0 (s = max|range| / 127) instead of the asymmetric default.
    `io_dtype`: "float32" (default), "int8" or "uint8" model inputs and outputs (IO_DTYPES)."""
    g = graph.copy()
    float_nodes = list(float_nodes)
    _uncorrect_float_biases(g, float_nodes)
    return _Quantizer(g, ranges, per_channel, weight_bits, float_nodes,
                      symmetric_activations, io_dtype).run()


# graph.meta key under which prepare() keeps the biases bias correction replaced: {node name:
# its float bias before the correction, None when it had none}
UNCORRECTED_BIASES = "uncorrected_biases"


def _uncorrect_float_biases(g: Graph, float_nodes: Iterable[str]) -> None:
    """Give the Conv / Gemm nodes kept float32 their bias from before bias correction, in
    place. The correction subtracts the mean output shift of the layer's *int8* weights; a layer
    kept float runs its float weights, so the subtracted shift would be an error of its own (on
    PP-OCRv4 DBNet with CLE+BC it made keeping more layers float lower the text-mask IoU)."""
    originals = g.meta.pop(UNCORRECTED_BIASES, None) or {}
    by_name = {n.name: n for n in g.nodes}
    for name in float_nodes:
        if name not in originals or name not in by_name:
            continue
        n, b = by_name[name], originals[name]
        oc = g.const(n.inputs[1]).shape[0]
        data = np.zeros(oc, np.float32) if b is None else np.asarray(b, np.float32)
        n.inputs[2] = g.add_const(f"{n.inputs[2]}:uncorrected", data)


def prepare(graph: Graph, calibration_data: Iterable[Any], *, equalize: bool = False,
            bias_correction: bool = False, per_channel: bool = True, weight_bits: int = 8,
            max_samples: int | None = None, batch_size: int = 16) -> Graph:
    """The float graph PTQ quantizes: a copy, cross-layer equalized (quant.equalize) and/or
    with its biases corrected for the weight quantization error (quant.bias_correction).
    Bias correction needs the data again: pass a re-iterable (list, array)."""
    g = graph.copy()
    if equalize:
        from int8rt.quant.equalize import equalize as cle

        cle(g)
    if bias_correction:
        from int8rt.quant.bias_correction import correct_biases

        before = {n.name: (None if len(n.inputs) < 3 or not n.inputs[2]
                           else g.const(n.inputs[2]).copy())
                  for n in g.nodes if n.op in ("Conv", "Gemm")}
        shifts = correct_biases(g, calibration_data, per_channel=per_channel, bits=weight_bits,
                                max_samples=max_samples, batch_size=batch_size)
        g.meta[UNCORRECTED_BIASES] = {k: before[k] for k in shifts}
    return g


def quantize(graph: Graph, calibration_data: Iterable[Any], method: str = "minmax",
             per_channel: bool = True, weight_bits: int = 8, *, equalize: bool = False,
             bias_correction: bool = False, symmetric_activations: bool = False,
             float_nodes: Iterable[str] = (), io_dtype: str = "float32",
             **calibrate_kw: Any) -> Graph:
    """Calibrate `graph` on `calibration_data` with observer `method`, then quantize it.
    `equalize` / `bias_correction`: see `prepare` (the data is then read twice, so a one-shot
    iterator is materialised first). `calibrate_kw` go to quant.calibrate.calibrate
    (observers_per_tensor, max_samples, batch_size, progress, options, executor_factory)."""
    from int8rt.quant.calibrate import calibrate

    if bias_correction:
        calibration_data = reiterable(calibration_data, calibrate_kw.get("max_samples"))
    g = prepare(graph, calibration_data, equalize=equalize, bias_correction=bias_correction,
                per_channel=per_channel, weight_bits=weight_bits,
                max_samples=calibrate_kw.get("max_samples"),
                batch_size=calibrate_kw.get("batch_size", 16))
    ranges = calibrate(g, calibration_data, method=method, **calibrate_kw)
    return quantize_graph(g, ranges, per_channel=per_channel, weight_bits=weight_bits,
                          float_nodes=float_nodes, symmetric_activations=symmetric_activations,
                          io_dtype=io_dtype)


def reiterable(data: Iterable[Any], max_items: int | None = None) -> Iterable[Any]:
    """`data` itself when it can be iterated again (a list, tuple, array or a Sized object
    with __getitem__), else its first `max_items` items (all if None) as a list."""
    if isinstance(data, (list, tuple, np.ndarray)) or hasattr(data, "__len__"):
        return data
    out = []
    for item in data:
        out.append(item)
        if max_items is not None and len(out) >= max_items:
            break
    return out
