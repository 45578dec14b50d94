"""Per-layer comparison of QDQ runtimes with the exact ONNX QDQ semantics.

For every Conv of a QDQ model (DequantizeLinear inputs -> Conv -> optional Relu / Clip ->
QuantizeLinear), the exact value is computed from the integers a runtime actually fed that
layer: dequantize (q - z) * s in float64, the convolution in float64 (integer products exact),
the model's bias dequantized, the activation, then quantize with round half to even and
saturation. A runtime's int8 output element is "off" when it differs from that value, and "off
beyond a tie" when it differs by more than one step or the exact value is farther than 1e-3 of a
step from a .5 tie (the only place where float32 requantization may legitimately round the
other way: docs/QUANTIZATION.md §4).

The runtimes: int8rt (the numpy reference program, bit-identical to the native plan) and ONNX
Runtime with its graph optimizations (QDQ fused into integer QLinearConv kernels), with every
quantized conv input and output exposed as a graph output.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

TIE_EPS = 1e-3
_RANGE = {"int8": (-128, 127), "uint8": (0, 255)}


@dataclass
class ConvSpec:
    """One QDQ conv of the source model, in ONNX terms (NCHW)."""

    name: str
    x_q: str  # the quantized tensor the conv's input DequantizeLinear reads
    y_q: str  # the QuantizeLinear output after the conv (and its activation)
    y_src: str  # the float tensor that QuantizeLinear quantizes
    w: np.ndarray  # int (OC, C/g, KH, KW)
    w_scale: np.ndarray  # (OC,)
    b: np.ndarray | None  # int32 (OC,)
    b_scale: np.ndarray | None
    x_scale: float
    x_zp: int
    y_scale: float
    y_zp: int
    y_dtype: str
    strides: tuple[int, int] = (1, 1)
    pads: tuple[int, int, int, int] = (0, 0, 0, 0)  # top, left, bottom, right
    dilations: tuple[int, int] = (1, 1)
    group: int = 1
    clip: tuple[float, float] = (-np.inf, np.inf)


@dataclass
class Count:
    elements: int = 0
    off: int = 0
    beyond_tie: int = 0
    max_steps: int = 0
    layers: dict[str, int] = field(default_factory=dict)  # layer -> elements beyond a tie

    def add(self, name: str, got: np.ndarray, exact_t: np.ndarray, spec: ConvSpec) -> None:
        lo, hi = _RANGE[spec.y_dtype]
        want = np.clip(np.rint(exact_t) + spec.y_zp, lo, hi)
        diff = np.abs(got.astype(np.int64) - want)
        off = diff != 0
        frac = np.abs(exact_t - np.floor(exact_t) - 0.5)
        beyond = off & ((diff > 1) | (frac > TIE_EPS))
        self.elements += got.size
        self.off += int(off.sum())
        self.beyond_tie += int(beyond.sum())
        self.max_steps = max(self.max_steps, int(diff.max(initial=0)))
        if beyond.any():
            self.layers[name] = self.layers.get(name, 0) + int(beyond.sum())


def conv_specs(model) -> list[ConvSpec]:
    """Every Conv whose input, weights (and bias) are dequantized and whose output (directly or
    through one Relu / Clip) is quantized."""
    from onnx import numpy_helper

    g = model.graph
    inits = {t.name: numpy_helper.to_array(t) for t in g.initializer}
    for n in g.node:
        if n.op_type == "Constant":
            inits[n.output[0]] = numpy_helper.to_array(n.attribute[0].t)
    prod = {o: n for n in g.node for o in n.output}
    users: dict[str, list] = {}
    for n in g.node:
        for i in n.input:
            users.setdefault(i, []).append(n)

    def dq(name: str):
        n = prod.get(name)
        if n is None or n.op_type != "DequantizeLinear":
            return None
        s = inits[n.input[1]]
        z = inits[n.input[2]] if len(n.input) > 2 and n.input[2] else np.zeros_like(s, np.int8)
        return n.input[0], s, z

    out = []
    for n in g.node:
        if n.op_type != "Conv":
            continue
        x, w, b = dq(n.input[0]), dq(n.input[1]), dq(n.input[2]) if len(n.input) > 2 else None
        if x is None or w is None or w[0] not in inits:
            continue
        y, clip = n.output[0], (-np.inf, np.inf)
        nxt = users.get(y, [])
        if len(nxt) == 1 and nxt[0].op_type in ("Relu", "Clip"):
            a = nxt[0]
            if a.op_type == "Relu":
                clip = (0.0, np.inf)
            else:
                lo = float(inits[a.input[1]]) if len(a.input) > 1 and a.input[1] else -np.inf
                hi = float(inits[a.input[2]]) if len(a.input) > 2 and a.input[2] else np.inf
                clip = (lo, hi)
            y = a.output[0]
            nxt = users.get(y, [])
        q = next((u for u in nxt if u.op_type == "QuantizeLinear"), None)
        if q is None:
            continue
        ys = inits[q.input[1]]
        yz = inits[q.input[2]] if len(q.input) > 2 and q.input[2] else np.zeros((), np.uint8)
        attrs = {a.name: a for a in n.attribute}
        ints = {k: tuple(attrs[k].ints) for k in ("strides", "pads", "dilations") if k in attrs}
        p = ints.get("pads", (0, 0, 0, 0))
        oc = inits[w[0]].shape[0]
        out.append(ConvSpec(
            name=n.name, x_q=x[0], y_q=q.output[0], y_src=y, w=inits[w[0]].astype(np.int64),
            w_scale=np.broadcast_to(np.asarray(w[1], np.float64), (oc,)),
            b=None if b is None else inits[b[0]].astype(np.int64),
            b_scale=None if b is None else np.broadcast_to(np.asarray(b[1], np.float64), (oc,)),
            x_scale=float(x[1]), x_zp=int(x[2]), y_scale=float(ys), y_zp=int(yz),
            y_dtype=str(np.asarray(yz).dtype), strides=ints.get("strides", (1, 1)),
            pads=(p[0], p[1], p[2], p[3]), dilations=ints.get("dilations", (1, 1)),
            group=int(attrs["group"].i) if "group" in attrs else 1, clip=clip))
    return out


def exact_steps(spec: ConvSpec, xq: np.ndarray) -> np.ndarray:
    """act(conv(dequantize(xq))) / s_y in float64, NCHW: the exact value before the rounding."""
    n, c, h, w = xq.shape
    oc, cg, kh, kw = spec.w.shape
    g = spec.group
    (sh, sw), (dh, dw) = spec.strides, spec.dilations
    pt, pl, pb, pr = spec.pads
    xc = np.zeros((n, c, h + pt + pb, w + pl + pr), np.float64)
    xc[:, :, pt:pt + h, pl:pl + w] = xq.astype(np.float64) - spec.x_zp  # padding is real 0
    oh = (h + pt + pb - dh * (kh - 1) - 1) // sh + 1
    ow = (w + pl + pr - dw * (kw - 1) - 1) // sw + 1
    wg = spec.w.astype(np.float64).reshape(g, oc // g, cg, kh, kw)
    acc = np.zeros((n, g, oc // g, oh, ow), np.float64)  # integer sums, exact in float64
    for i in range(kh):
        for j in range(kw):
            xs = xc[:, :, i * dh:i * dh + sh * (oh - 1) + 1:sh, j * dw:j * dw + sw * (ow - 1) + 1:sw]
            acc += np.einsum("ngcyx,goc->ngoyx", xs.reshape(n, g, cg, oh, ow), wg[..., i, j],
                             optimize=True)
    acc = acc.reshape(n, oc, oh, ow)
    v = spec.x_scale * spec.w_scale[None, :, None, None] * acc
    if spec.b is not None:
        v = v + (spec.b * spec.b_scale)[None, :, None, None]
    v = np.clip(v, *spec.clip)
    return v / spec.y_scale


def count_ort(path, specs: list[ConvSpec], images: np.ndarray) -> Count:
    """ONNX Runtime, graph optimizations on, every conv's quantized input / output exposed."""
    import onnx
    import onnxruntime as ort

    m = onnx.load(str(path))
    names = {s.x_q for s in specs} | {s.y_q for s in specs}
    have = {o.name for o in m.graph.output}
    for nm in sorted(names - have):
        m.graph.output.append(onnx.ValueInfoProto(name=nm))
    so = ort.SessionOptions()
    so.intra_op_num_threads = 1
    sess = ort.InferenceSession(m.SerializeToString(), so, providers=["CPUExecutionProvider"])
    outs = [o.name for o in sess.get_outputs()]
    inp = sess.get_inputs()[0].name
    count = Count()
    for k in range(len(images)):
        vals = dict(zip(outs, sess.run(None, {inp: images[k:k + 1]})))
        for s in specs:
            count.add(s.name, vals[s.y_q], exact_steps(s, vals[s.x_q]), s)
    return count


def count_int8rt(qgraph, specs: list[ConvSpec], images: np.ndarray) -> Count:
    """int8rt's reference program (bit-identical to the native plan): each conv's int8 input
    and output, mapped back to the source's dtype (uint8 = int8 + 128) and NCHW."""
    from int8rt.lower import lower
    from int8rt.reference.program import run_program

    program = lower(qgraph)
    conv_calls = {c.node: c for c in program.calls if c.kernel == "conv2d"}
    by_name = {s.name: s for s in specs}
    count = Count()
    wanted = {b for c in conv_calls.values() for b in (*c.inputs, *c.outputs)}
    vals: dict[str, np.ndarray] = {}

    def keep(name: str, arr: np.ndarray) -> None:
        if name in wanted:
            vals[name] = arr.copy()

    for k in range(len(images)):
        vals.clear()
        run_program(program, [images[k:k + 1]], observe=keep)
        for node, call in conv_calls.items():
            s = by_name.get(node)
            if s is None or call.params["out_f32"]:
                continue
            shift = 128 if s.y_dtype == "uint8" else 0
            xq = vals[call.inputs[0]].astype(np.int64).transpose(0, 3, 1, 2) + shift
            yq = vals[call.outputs[0]].astype(np.int64).transpose(0, 3, 1, 2) + shift
            count.add(s.name, yq, exact_steps(s, xq), s)
    return count
