"""`prepare_qat`: any torch model torch.fx can trace -> a QATModel that trains like it and
rounds exactly where int8rt's deployed program rounds.

The QATModel runs the captured fx graph node by node with the original modules (so it trains
like the original: same parameters, same BatchNorm, Dropout in training mode) and adds, as
int8rt.qat.plan read them off the runtime's own import + quantization + lowering:

- an ActQuant (fake quantization with int8rt's parameters, docs/QUANTIZATION.md §2) on the
  output of every node the deployed program rounds, and nowhere else;
- for every Conv / ConvTranspose / Linear: the BatchNorm int8rt folds into it folded here too,
  per-output-channel fake-quantized weights (int8rt's scales, or learned ones with LSQ) and the
  bias rounded to int32 at s_x * s_w[c] (s_x: the input's rounding point);
- nothing else: a ReLU / ReLU6 int8rt fuses into a conv's clamp is computed by torch before
  the one ActQuant on its output (the clamp and the rounding commute), data movement (max pool,
  nearest upsample, reshape, split, a Concat of tensors with one origin) keeps its input's
  parameters, and a conv writing the model output in float32 has no output rounding.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass

import numpy as np
import torch
from torch import fx, nn
from torch.fx.node import map_arg
from torch.nn import functional as F

from int8rt.qat import capture, fake_quant
from int8rt.qat import plan as qplan
from int8rt.qat.fake_quant import ActQuant, fake_quant_bias, fake_quant_weight


@dataclass(frozen=True)
class QATConfig:
    """Training-recipe options (docs/QAT.md).

    - weight_bits: 2..8; weights train on [-(2^(b-1) - 1), 2^(b-1) - 1], per output channel;
    - momentum: EMA momentum of the activation range observers;
    - observer_steps: training batches after which the observers freeze (None: until
      QATModel.freeze_observers());
    - bn_freeze_steps: training batches during which folded BatchNorms use (and update) batch
      statistics; after that, and always in eval mode, their running statistics (0: frozen
      from the start; None: never frozen);
    - learnable_scales: LSQ-style learned activation scales (after the observers freeze) and
      per-channel weight scales;
    - exact_training: the training forward pass also uses int8rt's integer arithmetic (the
      value the deployed program computes, gradients straight through the float32 fake
      quantization); eval mode always does (QATModel.exact).
    """

    weight_bits: int = 8
    momentum: float = 0.01
    observer_steps: int | None = None
    bn_freeze_steps: int | None = 0
    learnable_scales: bool = False
    exact_training: bool = False


class QATModel(nn.Module):
    """The fake-quantized model. `plan` (int8rt.qat.plan.Plan) says where it rounds."""

    def __init__(self, gm: fx.GraphModule, plan: qplan.Plan, config: QATConfig,
                 example_inputs: tuple[torch.Tensor, ...]) -> None:
        super().__init__()
        self.gm = gm
        self.plan = plan
        self.config = config
        self.example_inputs = tuple(x.detach().clone() for x in example_inputs)
        self.act = nn.ModuleDict({
            name: ActQuant(config.momentum, config.observer_steps, config.learnable_scales)
            for name in plan.points})
        self.register_buffer("train_steps", torch.tensor(0, dtype=torch.int64))
        self._nodes = list(gm.graph.nodes)
        self.weight_scale = nn.ParameterDict()
        if config.learnable_scales:
            for name in plan.weighted:
                w = self._folded(name, None)[0]
                s = fake_quant.weight_scales(self._oc_first(name, w), config.weight_bits)
                self.weight_scale[name] = nn.Parameter(torch.from_numpy(s))
        self._deferred = {w.module for w in plan.weighted.values() if w.bn is not None}
        self._by_bn = {w.bn: w.module for w in plan.weighted.values() if w.bn is not None}
        self.rounded: list[str] = []  # the nodes the last forward pass fake-quantized
        self.exact = True  # eval mode: int8rt's integer arithmetic at every rounding point
        self.origin = self._origins()
        self.keep_values = False  # True: the last forward's rounded values in self.values
        self.values: dict[str, torch.Tensor] = {}

    # -- weights -------------------------------------------------------------------------
    def module(self, name: str) -> nn.Module:
        return self.gm.get_submodule(self._node(name).target)

    def _node(self, name: str) -> fx.Node:
        return next(n for n in self._nodes if n.name == name)

    def _oc_first(self, name: str, w: torch.Tensor) -> torch.Tensor:
        """Weights with the output channel first (ConvTranspose2d keeps it on axis 1)."""
        return w.transpose(0, 1) if isinstance(self.module(name), nn.ConvTranspose2d) else w

    def _bn_live(self) -> bool:
        n = self.config.bn_freeze_steps
        return self.training and (n is None or int(self.train_steps) < n)

    def _folded(self, name: str, x: torch.Tensor | None) -> tuple[torch.Tensor, torch.Tensor]:
        """The float (weight, bias) int8rt deploys for module `name`: its BatchNorm folded in
        with running statistics, or, while BatchNorm is live in training, with the batch's
        (the running ones are updated as nn.BatchNorm2d would)."""
        spec = self.plan.weighted[name]
        m = self.module(name)
        w = m.weight
        oc = w.shape[1] * m.groups if isinstance(m, nn.ConvTranspose2d) else w.shape[0]
        b = m.bias if m.bias is not None else torch.zeros(oc, dtype=w.dtype)
        if spec.bn is None:
            return w, b
        bn = self.module(spec.bn)
        if x is not None and self._bn_live():
            y0 = self._apply(m, x, w, b)  # batch statistics, with their gradients
            mean = y0.mean(dim=(0, 2, 3))
            var = y0.var(dim=(0, 2, 3), unbiased=False)
            with torch.no_grad():
                n = y0.numel() / y0.shape[1]
                mom = bn.momentum if bn.momentum is not None else 0.1
                bn.running_mean.mul_(1 - mom).add_(mom * mean.detach())
                bn.running_var.mul_(1 - mom).add_(mom * var.detach() * n / max(n - 1, 1))
                bn.num_batches_tracked.add_(1)
        else:
            mean, var = bn.running_mean, bn.running_var
        gamma = bn.weight if bn.weight is not None else torch.ones_like(var)
        beta = bn.bias if bn.bias is not None else torch.zeros_like(var)
        a = gamma / torch.sqrt(var + bn.eps)
        if isinstance(m, nn.ConvTranspose2d):
            g = m.groups
            cin, ocg = w.shape[:2]
            wf = (w.reshape(g, cin // g, ocg, *w.shape[2:]) * a.reshape(g, 1, ocg, 1, 1)
                  ).reshape(w.shape)
        else:
            wf = w * a.reshape((-1,) + (1,) * (w.dim() - 1))
        return wf, (b - mean) * a + beta

    def quantized_weights(self, name: str, x: torch.Tensor | None = None
                          ) -> tuple[torch.Tensor, torch.Tensor, np.ndarray]:
        """(fake-quantized weight, fake-quantized bias, float32 weight scales) of module
        `name` as deployed."""
        spec = self.plan.weighted[name]
        w, b = self._folded(name, x)
        bits = self.config.weight_bits
        wo = self._oc_first(name, w)
        if self.config.learnable_scales:
            s_param = self.weight_scale[name]
            scales = s_param.detach().abs().numpy().astype(np.float32)
            wq = fake_quant.fake_quant_weight_lsq(wo, s_param.abs(), bits)
        else:
            wq, scales = fake_quant_weight(wo, bits)
        wq = self._oc_first(name, wq)
        s_x = self.act[spec.input_point].qparams()[0]
        return wq, fake_quant_bias(b, s_x, scales), scales

    @staticmethod
    def _apply(m: nn.Module, x: torch.Tensor, w: torch.Tensor, b: torch.Tensor | None
               ) -> torch.Tensor:
        if isinstance(m, nn.Linear):
            return F.linear(x, w, b)
        if isinstance(m, nn.ConvTranspose2d):
            return F.conv_transpose2d(x, w, b, m.stride, m.padding, m.output_padding, m.groups,
                                      m.dilation)
        pad = capture.conv_pads(m, tuple(x.shape))
        if pad[0] != pad[2] or pad[1] != pad[3]:
            x = F.pad(x, (pad[1], pad[3], pad[0], pad[2]))
            return F.conv2d(x, w, b, m.stride, 0, m.dilation, m.groups)
        return F.conv2d(x, w, b, m.stride, (pad[0], pad[1]), m.dilation, m.groups)

    # -- forward -------------------------------------------------------------------------
    def forward(self, *inputs: torch.Tensor):
        env: dict[str, torch.Tensor] = {}
        rounded: list[str] = []
        held: dict[str, torch.Tensor] = {}  # conv input waiting for its folded BatchNorm
        ins = iter(inputs)
        result = None
        for node in self._nodes:
            name = node.name
            if node.op == "placeholder":
                v = next(ins)
            elif node.op == "output":
                result = map_arg(node.args[0], lambda n: env[n.name])
                break
            elif name in self._deferred:
                held[name] = env[node.args[0].name]
                env[name] = None
                continue
            elif name in self.plan.weighted or name in self._by_bn:
                mod = self._by_bn.get(name, name)
                x = held.pop(mod) if mod in held else env[self._node(mod).args[0].name]
                wq, bq, scales = self.quantized_weights(mod, x)
                v = self._apply(self.module(mod), x, wq, bq)
                spec = self.plan.weighted[mod]
                if self._exact_now(None if spec.float_output else spec.output):
                    v = self._with_exact(v, self._exact_weighted(mod, x, wq, bq, scales))
            else:
                v = self._run(node, env)
                if name in self.plan.ops and self._exact_now(self.plan.ops[name].point):
                    exact = self._exact_op(node, env)
                    if exact is not None:
                        v = self._with_exact(v, exact)
            if name in self.act:
                v = self.act[name](v)
                rounded.append(name)
                if self.keep_values:
                    self.values[name] = v.detach().clone()
            env[name] = v
        self.rounded = rounded
        if self.training:
            self.train_steps.add_(1)
        return result

    def _run(self, node: fx.Node, env: dict[str, torch.Tensor]):
        args = map_arg(node.args, lambda n: env[n.name])
        kwargs = map_arg(node.kwargs, lambda n: env[n.name])
        if node.op == "call_module":
            return self.gm.get_submodule(node.target)(*args, **kwargs)
        if node.op == "call_function":
            return node.target(*args, **kwargs)
        if node.op == "call_method":
            return getattr(args[0], node.target)(*args[1:], **kwargs)
        if node.op == "get_attr":
            return getattr(self.gm, node.target)
        raise TypeError(f"QAT: cannot run node {node.name!r} ({node.op})")

    # -- int8rt's integer arithmetic ------------------------------------------------------
    # The float32 fake quantization above rounds at the same points with the same parameters
    # as the deployed program, but computes each op in float32 on dequantized values: where a
    # value lands within float32 error of a .5 boundary it can round one step apart from
    # int8rt's exact int32 accumulation + float32 requantization (docs/QUANTIZATION.md §4).
    # With `exact`, each rounding point's value is computed the way the runtime computes it:
    # integers recovered from the (on-grid) inputs, accumulated exactly in float64 (every
    # partial sum is an integer below 2^53), requantized with the same float32 multiplier,
    # the same clamp and round-half-to-even. Multipliers and tables come from int8rt's own
    # functions (quant.params, kernel_tables), never restated here.

    def _exact_now(self, point: str | None) -> bool:
        """Use the integer arithmetic for an op rounding at `point` (None: a float output)?
        In training only once that point's observer is frozen (its parameters are final for
        this batch)."""
        if not self.exact:
            return False
        if not self.training:
            return True
        return self.config.exact_training and (point is None or not bool(
            self.act[point].observing))

    @staticmethod
    def _with_exact(v: torch.Tensor, exact: torch.Tensor) -> torch.Tensor:
        """exact's value, v's gradient."""
        return v + (exact.to(v.dtype) - v).detach()

    def _origins(self) -> dict[str, str]:
        """{fx node: the rounding point whose parameters its int8 value has} for the rounding
        points and the nodes that move their values (pools, reshapes, pieces, Concats of one
        origin, nearest upsampling)."""
        out: dict[str, str] = {}
        skip = set(self.plan.weighted) | set(self.plan.folded_bn)
        for n in self.gm.graph.nodes:
            if n.name in self.plan.points:
                out[n.name] = n.name
            elif n.op not in ("placeholder", "output") and n.name not in skip:
                src = next((a for a in n.all_input_nodes if a.name in out), None)
                if src is not None:
                    out[n.name] = out[src.name]
        return out

    def _ints(self, x: torch.Tensor, point: str) -> tuple[torch.Tensor, float, int]:
        """(q - z as float64, s, z) of a value on the grid of rounding point `point`."""
        s, z = self.act[point].qparams()
        s32 = torch.tensor(np.float32(s), dtype=torch.float32)
        return torch.round(x.detach().float() / s32).double(), s, z

    @staticmethod
    def _requant(acc: torch.Tensor, mult, y: tuple[float, int], qmin: int = -128,
                 qmax: int = 127) -> torch.Tensor:
        """reference/requant.py's rule on exact float64 accumulators: the dequantized value
        s_y (clamp(rint(float32(acc) * mult), qmin - z, qmax - z))."""
        s, z = y
        m = torch.as_tensor(np.asarray(mult, np.float32))
        v = acc.float() * m
        v = torch.clamp(v, float(qmin - z), float(qmax - z))
        return torch.round(v) * torch.tensor(np.float32(s), dtype=torch.float32)

    def _out_params(self, point: str, clip) -> tuple[tuple[float, int], int, int]:
        from int8rt.ir import QParams
        from int8rt.quant.params import clamp_bounds

        s, z = self.act[point].qparams()
        qmin, qmax = clamp_bounds(tuple(clip), QParams.per_tensor(s, z))
        return (s, z), qmin, qmax

    def _exact_weighted(self, name: str, x: torch.Tensor, wq: torch.Tensor, bq: torch.Tensor,
                        scales: np.ndarray) -> torch.Tensor:
        from int8rt.quant.params import bias_scale, conv_multipliers

        spec = self.plan.weighted[name]
        xi, s_x, _ = self._ints(x, spec.input_point)
        m = self.module(name)
        shape = [1] * wq.dim()
        shape[1 if isinstance(m, nn.ConvTranspose2d) else 0] = -1
        wi = torch.round(wq.detach().double() / torch.from_numpy(
            scales.astype(np.float64)).reshape(shape))
        s_b = torch.from_numpy(bias_scale(s_x, scales))
        bi = torch.round(bq.detach().double() / s_b)
        acc = self._apply(m, xi, wi, bi)
        cshape = (1, -1) + (1,) * (acc.dim() - 2)
        if spec.float_output:  # the float32 epilogue: float32(acc) * float32(s_x s_w[c])
            mult = torch.from_numpy(bias_scale(s_x, scales).astype(np.float32)).reshape(cshape)
            return acc.float() * mult
        y, qmin, qmax = self._out_params(spec.output, spec.clip)
        mult = conv_multipliers(s_x, scales, y[0]).reshape(cshape)
        return self._requant(acc, mult, y, qmin, qmax)

    def _operand(self, a, node: fx.Node, env) -> tuple[torch.Tensor, float, int]:
        """Integers and parameters of an Add / Mul operand (a Python number is quantized as
        int8rt quantizes a constant operand: its own range, quant/ptq.py plain_const)."""
        from int8rt.quant import params

        if isinstance(a, fx.Node):
            return self._ints(env[a.name], self.origin[a.name])
        qp = params.activation_qparams(min(float(a), 0.0), max(float(a), 0.0))
        s, z = qp.scalar()
        q = params.quantize_array(np.array([a], np.float32), qp)
        return torch.tensor(float(q[0]) - z, dtype=torch.float64), s, z

    def _exact_op(self, node: fx.Node, env) -> torch.Tensor | None:
        from int8rt import kernel_tables as kt
        from int8rt import opset

        op = self.plan.ops[node.name]
        y, qmin, qmax = self._out_params(op.point, op.attrs.get("clip", (-np.inf, np.inf)))
        if op.kernel in ("add", "mul"):
            b_arg = node.args[1] if len(node.args) > 1 else node.kwargs["other"]
            (ai, sa, _), (bi, sb, _) = (self._operand(a, node, env) for a in (node.args[0],
                                                                              b_arg))
            if op.kernel == "mul":
                return self._requant(ai * bi, kt.mul_mult(sa, sb, y[0]), y, qmin, qmax)
            am, bm, mult = kt.add_multipliers(sa, sb, y[0], subtract=op.op == "Sub")
            return self._requant(ai * am + bi * bm, mult, y, qmin, qmax)
        if op.kernel == "lut":
            xi, sx, zx = self._ints(env[node.args[0].name], self.origin[node.args[0].name])
            fn = opset.unary_function(op.op, op.attrs)  # the table lowering builds
            table = torch.from_numpy(kt.lut_table(fn, sx, zx, y[0], y[1]).astype(np.float64))
            q = table[(xi + zx + 128).long()]
            return (q - y[1]).float() * torch.tensor(np.float32(y[0]))
        if op.kernel == "global_avgpool":
            xi, sx, _ = self._ints(env[node.args[0].name], self.origin[node.args[0].name])
            hw = xi.shape[2] * xi.shape[3]
            acc = xi.sum(dim=(2, 3), keepdim=True)
            out = self._requant(acc, kt.global_avgpool_mult(sx, y[0], hw), y)
            return out.reshape(env[node.args[0].name].shape[:2] + (1, 1))
        if op.kernel == "avgpool":
            xi, sx, _ = self._ints(env[node.args[0].name], self.origin[node.args[0].name])
            kh, kw = op.attrs["kernel"]
            sh, sw = op.attrs.get("strides", (1, 1))
            pt, pl, pb, pr = op.attrs.get("pads", (0, 0, 0, 0))
            c = xi.shape[1]
            ones = torch.ones(c, 1, kh, kw, dtype=torch.float64)
            xp = F.pad(xi, (pl, pr, pt, pb))
            acc = F.conv2d(xp, ones, stride=(sh, sw), groups=c)
            if op.attrs.get("count_include_pad", 0):
                count = torch.full_like(acc[:1, :1], kh * kw)
            else:
                inside = F.pad(torch.ones(1, 1, *xi.shape[2:], dtype=torch.float64),
                               (pl, pr, pt, pb))
                count = F.conv2d(inside, ones[:1], stride=(sh, sw))
            mults = torch.from_numpy(kt.avgpool_mults(sx, y[0], kh, kw))
            return self._requant(acc, mults[count.long()], y)
        if op.kernel == "requant_copy":  # Concat: each input requantized to the output's
            parts = []
            for a in node.args[0]:
                xi, sx, _ = self._ints(env[a.name], self.origin[a.name])
                parts.append(self._requant(xi, kt.requant_mult(sx, y[0]), y))
            dim = node.kwargs.get("dim", node.args[1] if len(node.args) > 1 else 0)
            return torch.cat(parts, dim)
        if op.kernel == "resize_bilinear":  # Q11 x Q11 neighbour weights (reference/resize.py)
            xi, sx, _ = self._ints(env[node.args[0].name], self.origin[node.args[0].name])
            (oh, ow), (sh, sw) = op.attrs["size"], op.attrs.get("scales") or (None, None)
            ctm = op.attrs.get("coordinate_transformation_mode", "half_pixel")
            y0, y1, fy = (torch.from_numpy(a.astype(np.int64)) for a in
                          kt.resize_linear_map(xi.shape[2], oh, sh, ctm))
            x0, x1, fx = (torch.from_numpy(a.astype(np.int64)) for a in
                          kt.resize_linear_map(xi.shape[3], ow, sw, ctm))
            wy1, wx1 = fy.double()[:, None], fx.double()[None, :]
            wy0, wx0 = 2048 - wy1, 2048 - wx1
            rows0, rows1 = xi[:, :, y0], xi[:, :, y1]
            acc = (wy0 * wx0 * rows0[..., x0] + wy0 * wx1 * rows0[..., x1]
                   + wy1 * wx0 * rows1[..., x0] + wy1 * wx1 * rows1[..., x1])
            return self._requant(acc, kt.bilinear_mult(sx, y[0]), y)
        return None  # an op without an integer form here: float32 fake quantization only

    # -- recipe --------------------------------------------------------------------------
    def freeze_observers(self) -> None:
        """Stop updating activation ranges (learnable scales then start training)."""
        for q in self.act.values():
            q.freeze()

    def freeze_bn(self) -> None:
        """Folded BatchNorms use their running statistics from now on."""
        self.config = QATConfig(**{**self.config.__dict__,
                                   "bn_freeze_steps": int(self.train_steps)})

    def activation_qparams(self) -> dict[str, tuple[float, int]]:
        """{fx node: (scale, zero point)} of every rounding point."""
        return {k: q.qparams() for k, q in self.act.items()}


def prepare_qat(model: nn.Module, example_inputs: torch.Tensor | tuple[torch.Tensor, ...],
                config: QATConfig | None = None, **options) -> QATModel:
    """A QATModel of `model` (a copy: the original is not changed). `example_inputs`: one
    tensor or a tuple, a batch like the training data (for tracing, shapes and the
    planning run). Options are QATConfig fields (weight_bits=4, learnable_scales=True, ...).

    Activation ranges start unobserved: train in training mode (the EMA observers initialise
    on the first batch) or call qat.calibrate(model, data) first."""
    if config is None:
        config = QATConfig(**options)
    elif options:
        raise TypeError("give a QATConfig or options, not both")
    if not 2 <= config.weight_bits <= 8:
        raise ValueError(f"weight_bits must be in [2, 8], got {config.weight_bits}")
    if isinstance(example_inputs, torch.Tensor):
        example_inputs = (example_inputs,)
    model = copy.deepcopy(model)
    gm = capture.trace(model, example_inputs)
    p = qplan.plan(gm, example_inputs)
    gm.train(model.training)
    q = QATModel(gm, p, config, example_inputs)
    q.train(model.training)
    return q


def calibrate(model: QATModel, data, method: str = "minmax", **options) -> QATModel:
    """Initialise every activation range from int8rt's own PTQ observers (`method`: minmax,
    percentile, mse, entropy, ... as int8rt.quantize takes), run by int8rt's float executor on
    the model's current float weights over `data` (an array / tensor batch or an iterable of
    them). The observers keep updating afterwards unless frozen."""
    import int8rt
    from int8rt.quant.calibrate import calibrate as int8rt_calibrate

    if isinstance(data, torch.Tensor):
        data = [data.detach().numpy()]
    elif isinstance(data, np.ndarray):
        data = [data]
    else:
        data = [d.detach().numpy() if isinstance(d, torch.Tensor) else np.asarray(d)
                for d in data]
    g = int8rt.load_float_model(capture.to_onnx(model.gm))
    ranges = int8rt_calibrate(g, data, method=method, progress=False, **options)
    fx_names = {n.name for n in model._nodes}
    for name, q in model.act.items():
        r = ranges.get(name)
        if r is None:
            found = [k for k in ranges if qplan._to_fx(g, k, fx_names) == name]
            if not found:
                raise KeyError(f"calibration gave no range for rounding point {name!r}")
            r = ranges[found[0]]
        q.set_range(float(r[0]), float(r[1]))
    return model
