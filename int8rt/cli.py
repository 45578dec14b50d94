"""The `int8rt` command: quantize, run, bench, inspect, debug, demo."""

from __future__ import annotations

import argparse
import sys
import time
from collections import Counter

import numpy as np


def _shape_arg(text: str) -> tuple[str, tuple[int, ...]]:
    try:
        name, dims = text.split("=", 1)
        return name, tuple(int(d) for d in dims.split(","))
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected NAME=D0,D1,..., got {text!r}") from None


def _load_arrays(path: str) -> list[np.ndarray] | list[dict[str, np.ndarray]]:
    """Calibration or input data from .npy (one array) or .npz (one array per input name)."""
    data = np.load(path, allow_pickle=False)
    if isinstance(data, np.ndarray):
        return [data]
    return [{k: data[k] for k in data.files}]


def _calib_source(args: argparse.Namespace):
    from .calib_data import ImagePreprocess, calibration_source

    pre = ImagePreprocess(size=tuple(args.image_size), resize=args.resize or None,
                          mean=tuple(args.mean), std=tuple(args.std),
                          channel_order=args.channel_order, layout=args.layout)
    return calibration_source(args.calib, args.calib_samples, pre)


def _eval_set(path: str) -> tuple[np.ndarray, np.ndarray | None]:
    """(inputs, labels or None) from an .npz (x / x_test / x_calib, y / y_test / labels) or
    an .npy of inputs."""
    data = np.load(path, allow_pickle=False)
    if isinstance(data, np.ndarray):
        return data.astype(np.float32), None
    x = next((data[k] for k in ("x", "x_test", "x_eval", "x_calib") if k in data.files), None)
    if x is None:
        raise ValueError(f"{path}: expected an array x / x_test / x_eval / x_calib")
    y = next((data[k] for k in ("y", "y_test", "y_eval", "labels", "y_calib")
              if k in data.files), None)
    return x.astype(np.float32), y


def cmd_quantize(args: argparse.Namespace) -> int:
    from .api import load_float_model, quantize, quantize_dynamic

    if args.dynamic or args.weight_only:
        qm = quantize_dynamic(args.model, mode="dynamic" if args.dynamic else "weight_only",
                              per_row=not args.per_tensor_activations, bits=args.bits,
                              group=args.group)
        qm.save(args.output)
        print(f"wrote {args.output}")
        return 0
    shapes = dict(args.input_shape) if args.input_shape else None
    if args.table or not args.calib:  # a scale table, or a QDQ / QOperator model
        qm = quantize(args.model, None, input_shapes=shapes, table=args.table)
        if args.export_table:
            from .quant.table import export_table, save_table

            save_table(export_table(qm.graph), args.export_table)
            print(f"wrote {args.export_table}")
        qm.save(args.output)
        print(f"wrote {args.output}")
        return 0
    calib = _calib_source(args)
    kw = {"method": args.method, "per_channel": not args.per_tensor, "input_shapes": shapes,
          "progress": not args.quiet, "weight_bits": args.weight_bits,
          "symmetric_activations": args.symmetric_activations,
          "bias_correction": args.bias_correction, "equalize": args.equalize,
          "io_dtype": args.io_dtype}
    if args.keep:
        kw["keep"] = "auto" if args.keep == "auto" else [k for k in args.keep.split(",") if k]
        kw["target"] = args.target
        if args.eval:
            kw["eval_inputs"] = _eval_set(args.eval)[0]
    if args.metric:
        kw["metric"] = args.metric  # an output-metric spec (quant/metrics.py)
    if args.max_drop is not None or args.max_error is not None:
        from .calib_data import _first_samples_array

        if args.eval:
            x_eval, y_eval = _eval_set(args.eval)
        else:
            x_eval, y_eval = _first_samples_array(calib, 256), None
        kw["eval_inputs"] = x_eval
        if args.max_error is not None:
            kw["max_error"] = args.max_error
        elif args.metric:
            kw["max_drop"] = args.max_drop  # agreement with the float model, all outputs
        else:
            if y_eval is None:
                # no labels: top-1 agreement with the float model is the accuracy proxy
                from .quant.mixed import _float_predict

                y_eval = _float_predict(load_float_model(args.model, shapes))(x_eval).argmax(-1)
                print("--max-drop without labels: metric = top-1 agreement with the float model")
            labels = np.asarray(y_eval).reshape(-1)

            def metric(predict) -> float:
                return float(np.mean(predict(x_eval).argmax(-1).reshape(-1) == labels))

            kw["metric"], kw["max_drop"] = metric, args.max_drop
    qm = quantize(args.model, calib, **kw)
    if qm.mixed is not None:
        print(qm.mixed.summary())
    q = qm.graph.meta.get("quantization")
    auto = q.get("keep_auto") if isinstance(q, dict) else None
    if auto is not None and args.quiet:
        print(f"keep auto: {auto['metric']} {auto['int8_value']:.4f} -> "
              f"{auto['final_value']:.4f}; kept float: {', '.join(auto['kept']) or 'none'}")
    qm.save(args.output)
    print(f"wrote {args.output}")
    met = auto is None or auto["target_met"]
    return 0 if (qm.mixed is None or qm.mixed.target_met) and met else 1


def cmd_report(args: argparse.Namespace) -> int:
    from .report import write_report

    x_eval = _eval_set(args.eval)[0] if args.eval else None
    path = write_report(args.model, _calib_source(args), args.output, method=args.method,
                        per_channel=not args.per_tensor, eval_inputs=x_eval,
                        samples=args.samples, progress=not args.quiet)
    print(f"wrote {path}")
    return 0


def _add_calib_args(q: argparse.ArgumentParser, required: bool = True) -> None:
    q.add_argument("--calib", required=required,
                   help="calibration data: a folder of images, .npy or .npz (quantize: not "
                        "needed for a QDQ / QOperator model or with --table)")
    q.add_argument("--calib-samples", type=int, default=None, help="use at most N samples")
    g = q.add_argument_group("image preprocessing (folder calibration data)")
    g.add_argument("--image-size", type=int, nargs=2, default=(224, 224), metavar=("H", "W"))
    g.add_argument("--resize", type=int, default=256,
                   help="shorter side before the center crop (0: resize straight to size)")
    g.add_argument("--mean", type=float, nargs="+", default=(0.485, 0.456, 0.406))
    g.add_argument("--std", type=float, nargs="+", default=(0.229, 0.224, 0.225))
    g.add_argument("--channel-order", choices=("RGB", "BGR", "L"), default="RGB")
    g.add_argument("--layout", choices=("CHW", "HWC"), default="CHW")


def _feed(sess, path: str | None) -> dict[str, np.ndarray]:
    if path is None:  # random data of the model's input shapes (free: batch 1, others 16)
        rng = np.random.default_rng(0)
        return {i.name: (np.ones if i.dtype in ("int64", "int32", "bool") else lambda s, t:
                         rng.standard_normal(s).astype(t))(
                    [d or (16 if k else 1) for k, d in enumerate(i.shape)], i.dtype)
                for i in sess.get_inputs()}
    data = _load_arrays(path)[0]
    if isinstance(data, np.ndarray):
        return {sess.get_inputs()[0].name: data}
    return data


def cmd_run(args: argparse.Namespace) -> int:
    from .session import Session

    sess = Session(args.model)
    outputs = sess.run(None, _feed(sess, args.input))
    for arg, out in zip(sess.get_outputs(), outputs):
        print(f"{arg.name}: shape {out.shape} dtype {out.dtype} "
              f"min {out.min():.6g} max {out.max():.6g} mean {out.mean():.6g}")
    if args.output:
        np.savez(args.output, **{a.name: o for a, o in zip(sess.get_outputs(), outputs)})
        print(f"wrote {args.output}")
    return 0


def cmd_bench(args: argparse.Namespace) -> int:
    from .progress import progress
    from .session import Session

    sess = Session(args.model, threads=args.threads)
    feed = _feed(sess, args.input)
    for _ in range(args.warmup):
        sess.run(None, feed)
    times = []
    for _ in progress(range(args.runs), total=args.runs, desc="bench", enabled=not args.quiet):
        t0 = time.perf_counter()
        sess.run(None, feed)
        times.append(time.perf_counter() - t0)
    ms = np.array(times) * 1e3
    print(f"{args.model}: median {np.median(ms):.3f} ms, p10 {np.percentile(ms, 10):.3f} ms, "
          f"p90 {np.percentile(ms, 90):.3f} ms over {args.runs} runs")
    if args.profile:
        rows = sess.profile(feed, repeats=args.runs)
        total = sum(ns for _, _, ns in rows) or 1
        print(f"\n{'node':40s} {'kernel':16s} {'us':>10s} {'%':>6s}")
        for node, kernel, ns in rows:
            print(f"{node[:40]:40s} {kernel:16s} {ns / 1e3:10.1f} {100 * ns / total:6.1f}")
    return 0


def cmd_inspect(args: argparse.Namespace) -> int:
    from . import format as i8format
    from .report import adjusted_scale_lines

    graph = i8format.load(args.model)
    ops = Counter(n.op for n in graph.nodes)
    consts = [t for t in graph.tensors.values() if t.is_const]
    print(f"{args.model}: graph {graph.name!r}, {len(graph.nodes)} nodes, "
          f"{len(consts)} constants ({sum(t.data.nbytes for t in consts) / 1024:.1f} KiB)")
    quantized = any(n.op == "Quantize" for n in graph.nodes)
    dyn = sorted({n.op for n in graph.nodes} & {"DynQLinear", "WOLinear", "WOGather"})
    if graph.meta.get("layout") == "onnx":  # the dynamic path: same Session, same plan
        print(f"  quantized: {', '.join(dyn) or 'no (float)'} (dynamic path, onnx layout)")
    else:
        print(f"  quantized: {'yes' if quantized else 'no (float graph)'}")
    for kind, names in (("input", graph.inputs), ("output", graph.outputs)):
        for name in names:
            t = graph.tensor(name)
            print(f"  {kind} {name}: {t.dtype} {list(t.shape)}")
    print("  ops: " + ", ".join(f"{op} x{c}" for op, c in ops.most_common()))
    for line in adjusted_scale_lines(graph.meta):
        print("  " + line)
    return 0


def cmd_demo(args: argparse.Namespace) -> int:
    from .demo import format_report, run_demo

    print(format_report(run_demo(runs=args.runs, progress=not args.quiet)))
    return 0


def cmd_debug(args: argparse.Namespace) -> int:
    from .api import load_float_model, quantize
    from .quant.debug import format_table, layer_errors, sensitivity

    float_graph = load_float_model(args.model)
    calib = _load_arrays(args.calib)
    data = _load_arrays(args.input) if args.input else calib
    qm = quantize(float_graph, calib, method=args.method, progress=not args.quiet)
    print(f"per-layer error of the int8 model vs float ({args.samples} samples max):")
    print(format_table(layer_errors(qm, data, max_samples=args.samples)))
    if args.sensitivity:
        print("\nsensitivity: model-output error with one op alone in (simulated) int8:")
        print(format_table(sensitivity(float_graph, calib, data, method=args.method,
                                       max_samples=args.samples, progress=not args.quiet)))
    return 0


def _method_help() -> str:
    # imported here so `int8rt --help` and the other commands do not load the quantizer
    from .quant.observers import OBSERVERS

    return f"calibration method: {', '.join(sorted(OBSERVERS))} (default minmax)"


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="int8rt", description="int8 inference runtime")
    p.add_argument("-q", "--quiet", action="store_true", help="no progress bars")
    sub = p.add_subparsers(dest="command", required=True)

    q = sub.add_parser("quantize", help="calibrate a float model and write a .i8 file")
    q.add_argument("model", help=".onnx or float .i8 model")
    _add_calib_args(q, required=False)
    q.add_argument("--table", help="scale table (JSON, docs/QAT.md) in place of calibration")
    q.add_argument("--export-table", help="also write the model's scale table to this JSON")
    q.add_argument("--dynamic", action="store_true",
                   help="dynamic int8 (no calibration): int8 MatMul/Gemm weights, activations "
                        "quantized per inference (transformers, RNNs)")
    q.add_argument("--weight-only", action="store_true",
                   help="weight-only int8/int4 MatMul/Gemm and embedding weights, float "
                        "activations")
    q.add_argument("--bits", type=int, default=8, choices=(4, 8), help="weight-only bits")
    q.add_argument("--group", type=int, default=64, choices=(32, 64, 128),
                   help="weight-only group size")
    q.add_argument("--per-tensor-activations", action="store_true",
                   help="dynamic: one activation scale per tensor instead of per row (token)")
    q.add_argument("--method", default="minmax", help=_method_help())
    q.add_argument("--per-tensor", action="store_true", help="per-tensor weight scales")
    q.add_argument("--weight-bits", type=int, default=8, help="weight bits, 2-8 (default 8)")
    q.add_argument("--symmetric-activations", action="store_true",
                   help="activation zero points 0")
    q.add_argument("--bias-correction", action="store_true",
                   help="correct the output shift weight quantization causes")
    q.add_argument("--equalize", action="store_true", help="cross-layer equalization")
    q.add_argument("--io-dtype", choices=("float32", "int8", "uint8"), default="float32",
                   help="dtype of the model inputs and outputs (integer I/O skips the "
                        "boundary conversion)")
    q.add_argument("--max-drop", type=float, default=None,
                   help="mixed precision: keep sensitive ops float until the top-1 accuracy "
                        "drop is at most X (0.01 = 1 point); labels from --eval")
    q.add_argument("--max-error", type=float, default=None,
                   help="mixed precision: relative RMS output error target")
    q.add_argument("--keep", default=None,
                   help="'auto': keep float just the layers whose int8 error breaks --metric "
                        "(a sensitivity pass on the real int8 program), or node names "
                        "(comma separated) to keep float")
    q.add_argument("--metric", default=None,
                   help="output metric vs the float model for --keep auto / --max-drop: "
                        "cosine, anchor-iou[:thr=0.25], mask-iou[:thr=0.3], argmax "
                        "(options: thr=, axis=, outputs=0+1)")
    q.add_argument("--target", type=float, default=None,
                   help="--keep auto: the metric to reach (default 0.9; cosine 0.999)")
    q.add_argument("--eval", default=None,
                   help="evaluation .npz (x, y) for --max-drop / --max-error / --keep auto")
    q.add_argument("--input-shape", type=_shape_arg, action="append",
                   help="pin an input's shape: NAME=1,3,224,224 (repeatable)")
    q.add_argument("-o", "--output", required=True, help="output .i8 path")
    q.set_defaults(fn=cmd_quantize)

    r = sub.add_parser("run", help="run a .i8 model once")
    r.add_argument("model")
    r.add_argument("--input", help=".npy (single input) or .npz; random if omitted")
    r.add_argument("-o", "--output", help="write outputs to this .npz")
    r.set_defaults(fn=cmd_run)

    b = sub.add_parser("bench", help="time a .i8 model")
    b.add_argument("model")
    b.add_argument("--input", help=".npy or .npz; random if omitted")
    b.add_argument("--runs", type=int, default=100)
    b.add_argument("--warmup", type=int, default=10)
    b.add_argument("--threads", type=int, default=None)
    b.add_argument("--profile", action="store_true", help="print time per op")
    b.set_defaults(fn=cmd_bench)

    i = sub.add_parser("inspect", help="describe a .i8 model")
    i.add_argument("model")
    i.set_defaults(fn=cmd_inspect)

    g = sub.add_parser("debug", help="per-layer int8-vs-float error of a quantized model")
    g.add_argument("model", help=".onnx or float .i8 model")
    g.add_argument("--calib", required=True, help="calibration data: .npy or .npz")
    g.add_argument("--input", help="evaluation data (.npy or .npz); default: the calib data")
    g.add_argument("--samples", type=int, default=64, help="compare on at most N samples")
    g.add_argument("--method", default="minmax", help=_method_help())
    g.add_argument("--sensitivity", action="store_true",
                   help="also rank ops by output error when quantized alone (slower)")
    g.set_defaults(fn=cmd_debug)

    rp = sub.add_parser("report", help="HTML report: per-layer error, histograms, advice")
    rp.add_argument("model", help=".onnx or float .i8 model")
    _add_calib_args(rp)
    rp.add_argument("--method", default="minmax", help=_method_help())
    rp.add_argument("--per-tensor", action="store_true", help="per-tensor weight scales")
    rp.add_argument("--eval", default=None, help="evaluation .npz / .npy (default: calib)")
    rp.add_argument("--samples", type=int, default=64, help="compare on at most N samples")
    rp.add_argument("-o", "--output", required=True, help="output .html (PNGs next to it)")
    rp.set_defaults(fn=cmd_report)

    d = sub.add_parser("demo", help="quantize and run the bundled digits CNN")
    d.add_argument("--runs", type=int, default=200, help="latency samples")
    d.set_defaults(fn=cmd_demo)
    return p


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return args.fn(args)
    except (ValueError, TypeError, OSError, EOFError, MemoryError) as e:
        print(f"int8rt {args.command}: error: {e}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
