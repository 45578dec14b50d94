"""int8rt.qat: the fake quantization is int8rt's arithmetic, the QAT model rounds exactly where
the deployed program rounds (read off int8rt's lowering, checked here against the deployed
model built by another route), and trained models deploy with the simulated outputs."""

from __future__ import annotations

import io

import numpy as np
import pytest

torch = pytest.importorskip("torch")
onnx = pytest.importorskip("onnx")
from torch import nn

import int8rt
from int8rt import qat
from int8rt.lower import lower
from int8rt.qat import plan as qplan
from int8rt.quant import params
from int8rt.reference.program import run_program
from int8rt.session import rebatch
from tests.qat import nets

RNG = np.random.default_rng(3)


def test_fake_quant_act_is_int8rt_quantize() -> None:
    x = (RNG.standard_normal(5000) * 3).astype(np.float32)
    x[:4] = [np.float32(0.5) * 0.037, 1e9, -1e9, 0.0]
    qp = params.activation_qparams(-2.0, 5.0)
    s, z = qp.scalar()
    want = params.dequantize_array(params.quantize_array(x, qp), qp)
    got = qat.fake_quant_act(torch.from_numpy(x), s, z).numpy()
    np.testing.assert_array_equal(got, want)


@pytest.mark.parametrize("bits", [8, 4])
def test_fake_quant_weight_is_int8rt_weights(bits) -> None:
    w = RNG.standard_normal((6, 3, 3, 3)).astype(np.float32)
    qp = params.weight_qparams(w, bits=bits)
    q = params.quantize_weights(w, qp, bits=bits)
    want = (q.astype(np.float64) * qp.scale.astype(np.float64).reshape(-1, 1, 1, 1))
    got, scales = qat.fake_quant_weight(torch.from_numpy(w), bits)
    np.testing.assert_array_equal(scales, qp.scale)
    np.testing.assert_array_equal(got.detach().numpy(), want.astype(np.float32))


def test_straight_through_gradient() -> None:
    x = torch.tensor([-10.0, -0.3, 0.0, 0.4, 10.0], requires_grad=True)
    qat.fake_quant_act(x, 0.01, 0).sum().backward()  # range [-1.28, 1.27]: ends clamp
    np.testing.assert_array_equal(x.grad.numpy(), [0, 1, 1, 1, 0])


def test_learnable_scale_same_forward_and_has_gradients() -> None:
    q = qat.ActQuant(learnable=True)
    q.train()
    x = torch.randn(200) * 2
    q(x)
    q.freeze()
    s, z = q.qparams()
    xg = x.clone().requires_grad_(True)
    y = q(xg)
    np.testing.assert_array_equal(y.detach().numpy(), qat.fake_quant_act(x, s, z).numpy())
    (y * torch.randn(200)).sum().backward()
    assert q.scale.grad is not None and float(q.scale.grad) != 0.0
    w = torch.randn(4, 3, 3, 3, requires_grad=True)
    scales = torch.from_numpy(qat.fake_quant.weight_scales(w, 4)).requires_grad_(True)
    wq = qat.fake_quant.fake_quant_weight_lsq(w, scales, 4)
    np.testing.assert_array_equal(wq.detach().numpy(), qat.fake_quant_weight(w, 4)[0].detach())
    wq.sum().backward()
    assert scales.grad is not None and w.grad is not None


# -- whole models --------------------------------------------------------------------------
MODELS = {"mobilenet_v2": nets.TinyMobileNetV2, "resnet18": nets.TinyResNet18,
          "yolov8n": nets.TinyYOLOv8}


def _outputs(y) -> list[torch.Tensor]:
    return [y] if isinstance(y, torch.Tensor) else list(y)


def _train(q: qat.QATModel, steps: int, seed: int = 0) -> None:
    """A few SGD steps on random images and a regression target (the point is that
    parameters, BatchNorm statistics and ranges move, not what they learn)."""
    gen = torch.Generator().manual_seed(seed)
    opt = torch.optim.SGD(q.parameters(), lr=0.02, momentum=0.9)
    q.train()
    for _ in range(steps):
        x = torch.randn(8, 3, 32, 32, generator=gen)
        loss = sum((o - 0.1).square().mean() for o in _outputs(q(x)))
        opt.zero_grad()
        loss.backward()
        opt.step()
    q.eval()


def _prepared(name: str, bits: int = 8, **kw) -> qat.QATModel:
    torch.manual_seed(0)
    model = nets.randomize_bn(MODELS[name]()).eval()
    q = qat.prepare_qat(model, torch.randn(8, 3, 32, 32), weight_bits=bits, bn_freeze_steps=2,
                        observer_steps=3, **kw)
    _train(q, 4)
    return q


@pytest.mark.parametrize("name,bits,lsq", [("mobilenet_v2", 8, False), ("resnet18", 8, False),
                                           ("yolov8n", 8, False), ("resnet18", 4, False),
                                           ("mobilenet_v2", 4, True)])
def test_trained_model_deploys_with_simulated_outputs(name, bits, lsq) -> None:
    q = _prepared(name, bits, learnable_scales=lsq)
    if lsq:  # the learned scales moved away from the observed / max-abs ones
        assert all(float(p.grad.abs().sum()) > 0 for p in q.weight_scale.values())
    x = torch.randn(64, 3, 32, 32, generator=torch.Generator().manual_seed(9))
    with torch.no_grad():
        sim = [o.numpy() for o in _outputs(q(x))]
    qm = qat.to_int8rt(q)
    deployed = int8rt.Session(qm).run(None, {"x": x.numpy()})
    for s, d in zip(sim, deployed):  # eval mode computes int8rt's integer arithmetic
        np.testing.assert_array_equal(s, d)
    # export_onnx (QDQ) gives the same deployed model as to_int8rt
    buf = io.BytesIO()
    qat.export_onnx(q, buf)
    qm2 = int8rt.quantize(onnx.load_from_string(buf.getvalue()))
    for d, d2 in zip(deployed, int8rt.Session(qm2).run(None, {"x": x.numpy()})):
        np.testing.assert_array_equal(d, d2)
    # the deployed weights are the trained integers, within +-(2^(bits-1) - 1)
    qmax = 2 ** (bits - 1) - 1
    for n in qm.graph.nodes:
        if n.op in ("Conv", "Gemm"):
            assert np.abs(qm.graph.tensor(n.inputs[1]).data.astype(int)).max() <= qmax


@pytest.mark.parametrize("name", ["resnet18", "yolov8n"])
def test_rounds_exactly_where_the_deployed_program_rounds(name) -> None:
    """The deployed model is built by another route than the plan (scale table over the
    folded, fake-quantized export, not PTQ over the float capture). Its program's rounding
    buffers, mapped to fx nodes, must be exactly the nodes the QAT forward rounded, and hold
    the same values."""
    q = _prepared(name)
    qm = qat.to_int8rt(q)
    x = torch.randn(4, 3, 32, 32)
    # unfused: every rounding point a buffer (the fused epilogues give the same bytes)
    program = lower(rebatch(qm.graph.copy(), {"x": tuple(x.shape)}), fuse_epilogues=False)
    fx_names = {n.name for n in q.gm.graph.nodes}
    points, buf_to_fx, _ = qplan.map_points(qm.float_graph, qm.graph, program, fx_names)
    q.keep_values = True
    with torch.no_grad():
        q(x)
    assert sorted(q.rounded) == sorted(points)
    assert len(set(q.rounded)) == len(q.rounded)
    seen = {}
    run_program(program, [x.numpy()], lambda b, v: seen.__setitem__(b, v.copy()))
    # an input quantize with the NCHW -> NHWC move fused in (lower._fuse_boundary_moves)
    # writes NHWC like every other call
    nhwc_quantize = {c.outputs[0] for c in program.calls if c.kernel == "quantize"
                     and c.params.get("c")}
    for buf, node in buf_to_fx.items():
        s, z = qm.graph.tensor(buf).qparams.scalar()
        deployed = (seen[buf].astype(np.float32) - z) * np.float32(s)
        sim = q.values[node].numpy()
        if sim.ndim == 4 and (points[node] != "quantize" or buf in nhwc_quantize):
            sim = sim.transpose(0, 2, 3, 1)  # NHWC inside the program
        np.testing.assert_array_equal(sim, deployed, err_msg=node)


def test_exact_training_forward_is_the_deployed_value() -> None:
    q = _prepared("resnet18", exact_training=True)
    x = torch.randn(8, 3, 32, 32)
    with torch.no_grad():
        want = q(x)
    q.train()  # BatchNorm and observers are frozen by now: training computes the same values
    y = q(x)
    np.testing.assert_array_equal(y.detach().numpy(), want.numpy())
    y.square().mean().backward()
    assert all(p.grad is not None for p in q.parameters() if p.requires_grad)


def test_follows_the_runtime_fusion_rules(monkeypatch) -> None:
    """Change int8rt's activation fusion (no ReLU fused into Add) and the QAT model rounds the
    Add and the ReLU separately, still equal to the deployed program."""
    import importlib

    fa = importlib.import_module("int8rt.passes.fuse_activations")  # the module, not the pass

    def kinds(q, kernel):
        return sorted(n for n, k in q.plan.points.items() if k == kernel)

    q = _prepared("resnet18")
    relus = [n.name for n in q.gm.graph.nodes if n.name.endswith("_relu")]
    assert len(relus) == 8 and kinds(q, "add") == relus  # each ReLU fused into its Add
    assert kinds(q, "lut") == []
    monkeypatch.setattr(fa, "PRODUCERS", ("Conv", "Gemm"))
    q2 = _prepared("resnet18")
    assert kinds(q2, "lut") == relus  # now a table of its own after the Add ...
    adds = kinds(q2, "add")
    assert len(adds) == 8 and not set(adds) & set(relus)  # ... which rounds on its own
    x = torch.randn(16, 3, 32, 32)
    with torch.no_grad():
        sim = q2(x).numpy()
    assert set(relus) | set(adds) <= set(q2.rounded)
    deployed = int8rt.Session(qat.to_int8rt(q2)).run(None, {"x": x.numpy()})[0]
    np.testing.assert_array_equal(sim, deployed)


@pytest.mark.parametrize("method", ["minmax", "percentile"])
def test_calibrate_uses_int8rt_ptq_observers(method) -> None:
    """qat.calibrate gives every rounding point the parameters int8rt's PTQ (same observer)
    gives that tensor."""
    torch.manual_seed(0)
    model = nets.randomize_bn(nets.TinyYOLOv8()).eval()
    data = torch.randn(16, 3, 32, 32)
    q = qat.prepare_qat(model, data[:4])
    qat.calibrate(q, data, method=method)
    float_onnx = qat.capture.to_onnx(q.gm)
    qm = int8rt.quantize(float_onnx, data.numpy(), method=method, progress=False)
    table = int8rt.quant.table.export_table(qm.graph)
    got = q.activation_qparams()
    assert got and set(got) <= set(table)
    for name, qp in got.items():
        assert qp == table[name].qparams().scalar(), name


def test_batchnorm_folding_and_freezing() -> None:
    torch.manual_seed(1)
    net = nn.Sequential(nn.Conv2d(3, 4, 3, padding=1), nn.BatchNorm2d(4), nn.ReLU(),
                        nn.Flatten(), nn.Linear(4 * 8 * 8, 3))
    nets.randomize_bn(net).eval()
    x = torch.randn(6, 3, 8, 8)
    q = qat.prepare_qat(net, x, bn_freeze_steps=2)
    (conv,) = [w for w in q.plan.weighted.values() if w.bn is not None]
    w, b = q._folded(conv.module, None)
    want = net[1](net[0](x))
    got = nn.functional.conv2d(x, w, b, padding=1)
    torch.testing.assert_close(got, want, rtol=1e-5, atol=1e-5)
    bn = q.module(conv.bn)
    q.train()
    before = bn.running_mean.clone()
    q(x)
    assert not torch.equal(bn.running_mean, before)  # live: batch statistics, running updated
    q(x)
    frozen = bn.running_mean.clone()
    q(x)
    torch.testing.assert_close(bn.running_mean, frozen, rtol=0, atol=0)  # after 2 steps


def test_kitchen_sink_ops_deploy() -> None:
    """The other supported ops: ConvTranspose, Hardswish, Hardsigmoid, LeakyReLU, Sigmoid,
    Tanh, GELU, average pool, bilinear upsampling, Mul, Sub."""

    class Net(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.c1 = nets.conv_bn(3, 8, act=nn.Hardswish)
            self.c2 = nn.Conv2d(8, 8, 3, 2, 1)
            self.up = nn.ConvTranspose2d(8, 8, 2, 2)
            self.bn = nn.BatchNorm2d(8)
            self.c3 = nn.Conv2d(8, 8, 1)
            self.pool = nn.AvgPool2d(2)
            self.bil = nn.Upsample(scale_factor=2, mode="bilinear", align_corners=False)
            self.fc = nn.Linear(8, 4)

        def forward(self, x):
            a = self.c1(x)
            b = nn.functional.leaky_relu(self.c2(a), 0.1)
            u = torch.sigmoid(self.bn(self.up(b))) * torch.tanh(a)
            v = nn.functional.gelu(self.c3(u)) - nn.functional.hardsigmoid(a)
            w = self.bil(self.pool(v))
            return self.fc(torch.flatten(nn.functional.adaptive_avg_pool2d(w, 1), 1))

    torch.manual_seed(2)
    net = nets.randomize_bn(Net()).eval()
    q = qat.prepare_qat(net, torch.randn(8, 3, 16, 16), observer_steps=2)
    gen = torch.Generator().manual_seed(1)
    opt = torch.optim.SGD(q.parameters(), lr=0.01)
    q.train()
    for _ in range(3):
        loss = q(torch.randn(8, 3, 16, 16, generator=gen)).square().mean()
        opt.zero_grad()
        loss.backward()
        opt.step()
    q.eval()
    kinds = set(q.plan.points.values())
    assert {"lut", "mul", "add", "avgpool", "resize_bilinear", "global_avgpool"} <= kinds
    x = torch.randn(64, 3, 16, 16)
    with torch.no_grad():
        sim = q(x).numpy()
    qm = qat.to_int8rt(q)
    deployed = int8rt.Session(qm).run(None, {"x": x.numpy()})[0]
    np.testing.assert_array_equal(sim, deployed)
    # the float32 fake quantization training uses is the same function up to near-ties
    q.exact = False
    with torch.no_grad():
        sim_float = q(x).numpy()
    assert np.abs(sim_float - sim).max() < 0.05 * np.abs(sim).max()


def test_unsupported_node_named() -> None:
    class Net(nn.Module):
        def forward(self, x):
            return torch.sin(x)

    with pytest.raises(TypeError, match="sin"):
        qat.prepare_qat(Net(), torch.randn(1, 3, 4, 4))


def test_shape_queries_and_functional_forms() -> None:
    """x.view(x.size(0), -1), torch.relu, F.max_pool2d: traced and deployed exactly."""

    class Net(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.c = nn.Conv2d(3, 4, 3, padding=1)
            self.fc = nn.Linear(4 * 4 * 4, 2)

        def forward(self, x):
            y = nn.functional.max_pool2d(torch.relu(self.c(x)), 2)
            return self.fc(y.view(y.size(0), -1))

    torch.manual_seed(0)
    q = qat.prepare_qat(Net().eval(), torch.randn(4, 3, 8, 8))
    q.train()
    q(torch.randn(4, 3, 8, 8))
    q.eval()
    x = torch.randn(5, 3, 8, 8)
    with torch.no_grad():
        sim = q(x).numpy()
    deployed = int8rt.Session(qat.to_int8rt(q)).run(None, {"x": x.numpy()})[0]
    np.testing.assert_array_equal(sim, deployed)
    assert sorted(q.rounded) == ["relu", "x"]
