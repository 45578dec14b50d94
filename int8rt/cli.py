"""The `int8rt` command: quantize, run, bench, inspect, debug, report, demo.

Conventions (as ONNX Runtime / TFLite users expect them): errors are one line on stderr,
`int8rt CMD: error: ...`, exit code 2; Ctrl-C exits 130 without a traceback and without a
partial output file (outputs are written to a temporary name and renamed when complete);
output piped into `head` ends quietly; `-q` goes before or after the subcommand.
"""

from __future__ import annotations

import argparse
import os
import signal
import sys
import time
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import numpy as np

# ImageNet preprocessing (torchvision's recipe): the defaults shown in --help
DEFAULT_RESIZE, DEFAULT_CROP = 256, 224
EXIT_INTERRUPTED = 130  # 128 + SIGINT, as shells report it


def _shape_arg(text: str) -> tuple[str, tuple[int, ...]]:
    try:
        name, dims = text.split("=", 1)
        return name, tuple(int(d) for d in dims.split(","))
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected NAME=D0,D1,..., got {text!r}") from None


def _names_arg(text: str) -> list[str]:
    return [n for n in (s.strip() for s in text.split(",")) if n]


@contextmanager
def _atomic_output(path: str | os.PathLike[str]) -> Iterator[Path]:
    """A temporary path next to `path`, renamed onto it only when the block completes: an
    error or Ctrl-C leaves no partial file (and an existing file untouched)."""
    final = Path(path)
    tmp = final.with_name(f".{final.name}.{os.getpid()}.tmp{final.suffix}")
    try:
        yield tmp
        os.replace(tmp, final)
    finally:
        if tmp.exists():
            tmp.unlink()


# -- data ---------------------------------------------------------------------------------------
def _is_image(path: str) -> bool:
    from .calib_data import IMAGE_SUFFIXES

    return Path(path).suffix.lower() in IMAGE_SUFFIXES


def _load_input(path: str, preprocess: Any) -> np.ndarray | dict[str, np.ndarray]:
    """One feed from an .npy (the single input), an .npz (one array per input name) or an
    image file (preprocessed like calibration images, batch of 1)."""
    from .calib_data import IMAGE_SUFFIXES

    p = Path(path)
    if p.is_dir():
        raise ValueError(f"--input {path} is a directory: give one .npy, .npz or image file")
    if not p.exists():
        raise FileNotFoundError(f"no such input file: {path}")
    if _is_image(path):
        from PIL import Image

        try:
            with Image.open(p) as img:
                return preprocess(img)[None]
        except OSError as e:
            raise ValueError(f"cannot read image {path}: {e}") from None
    if p.suffix.lower() not in (".npy", ".npz"):
        raise ValueError(f"--input {path}: accepted inputs are .npy (the single input), .npz "
                         f"(one array per input name) or an image ({', '.join(IMAGE_SUFFIXES)})")
    try:
        data = np.load(p, allow_pickle=False)
    except (ValueError, OSError, EOFError) as e:
        raise ValueError(f"--input {path} is not a readable {p.suffix} file: {e}") from None
    if isinstance(data, np.ndarray):
        return data
    return {k: data[k] for k in data.files}


def _model_input(graph: Any) -> tuple[str, tuple[int, ...]] | None:
    """(name, NCHW-or-NHWC shape) of a single-input model, None for several inputs."""
    if len(graph.inputs) != 1:
        return None
    name = graph.inputs[0]
    return name, tuple(graph.tensor(name).shape)


PREPROCESS_FLAGS = ("image_size", "resize", "mean", "std", "channel_order")


def _preprocess(args: argparse.Namespace, shape: tuple[int, ...] | None,
                stored: dict[str, Any] | None = None) -> Any:
    """Image preprocessing from the flags, filling what was not given from the model's input
    shape: the crop is the model's H, W, a 1-channel input reads images as grayscale, and the
    resize keeps torchvision's ratio (256 for a 224 crop). `stored`: the preprocessing the
    model was calibrated with (graph meta "image_preprocess"), used when no flag is given."""
    from .calib_data import IMAGENET_MEAN, IMAGENET_STD, ImagePreprocess

    if stored and all(getattr(args, f) is None for f in PREPROCESS_FLAGS):
        try:
            return ImagePreprocess(**{k: tuple(v) if isinstance(v, list) else v
                                      for k, v in stored.items()})
        except (TypeError, ValueError):
            pass  # written by another version: fall back to the flags' defaults
    size = tuple(args.image_size) if args.image_size else None
    order = args.channel_order
    if shape is not None and len(shape) == 4:
        c, h, w = (shape[1], shape[2], shape[3]) if args.layout == "CHW" else \
            (shape[3], shape[1], shape[2])
        if size is None:
            size = (h, w)
        if order is None and c == 1:
            order = "L"
    size = size or (DEFAULT_CROP, DEFAULT_CROP)
    order = order or "RGB"
    if args.resize is None:
        resize = round(min(size) * DEFAULT_RESIZE / DEFAULT_CROP)
    else:
        resize = args.resize or None
    mean, std = args.mean or IMAGENET_MEAN, args.std or IMAGENET_STD
    if order == "L" and args.mean is None and args.std is None:
        mean, std = (0.5,), (0.5,)  # ImageNet statistics are per RGB channel
    return ImagePreprocess(size=size, resize=resize, mean=tuple(mean), std=tuple(std),
                           channel_order=order, layout=args.layout)


def _calib_source(args: argparse.Namespace, graph: Any = None) -> Any:
    from .calib_data import calibration_source

    mi = _model_input(graph) if graph is not None else None
    return calibration_source(args.calib, args.calib_samples,
                              _preprocess(args, mi[1] if mi else None),
                              input_names=list(graph.inputs) if graph is not None else None)


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


def _load_float(args: argparse.Namespace) -> Any:
    from .api import load_float_model

    shapes = dict(args.input_shape) if getattr(args, "input_shape", None) else None
    graph = load_float_model(args.model, shapes)
    if any(n.op == "Quantize" for n in graph.nodes):
        raise ValueError(f"{args.model} is already quantized; int8rt {args.command} takes the "
                         "float model (.onnx, or a float .i8)")
    return graph


def _load_float_or_offer_dynamic(args: argparse.Namespace) -> Any:
    """The float graph for static int8, or, when the static path refuses ops that the dynamic
    path runs in float32 (transformer ops: Erf, Pow, Where, LayerNormalization, ...), an
    error that offers that path by name."""
    try:
        # the ONNX importer (and its error type) needs onnx; a float .i8 input does not, and
        # a Pi runtime install has no onnx
        from .frontend.onnx import UnsupportedOpError
    except ImportError:
        return _load_float(args)
    try:
        return _load_float(args)
    except UnsupportedOpError as e:
        offer = _dynamic_offer(args.model)
        if offer:
            raise UnsupportedOpError(f"{e}; {offer}") from None
        raise


def _dynamic_offer(model: str) -> str:
    try:
        from .dynamic.onnx_graph import SUPPORTED
        from .frontend.onnx import load_onnx_model

        ops = {n.op_type for n in load_onnx_model(model).graph.node if n.domain in ("", "ai.onnx")}
    except (ImportError, ValueError, OSError):
        return ""
    if not ops or not ops <= SUPPORTED:
        return ""
    return ("the dynamic path runs every op of this model, those in float32: int8rt quantize "
            f"{model} --dynamic -o MODEL.i8 (int8 MatMul / Gemm weights, activations quantized "
            "per inference)")


def _print_float_ops(graph: Any, asked: bool) -> None:
    """One line per node that runs in float32: op, node name, why. `asked`: also those kept
    float on request (not when a mixed-precision summary lists them)."""
    from .quant.ptq import ASKED, float_node_report

    for op, name, why in float_node_report(graph):
        if asked or why != ASKED:
            print(f"run in float32: {op} node {name!r}: {why}")


# -- commands -----------------------------------------------------------------------------------
def cmd_quantize(args: argparse.Namespace) -> int:
    from .api import quantize, quantize_dynamic

    if args.reduce_range and not (args.dynamic or args.weight_only):
        raise ValueError("--reduce-range applies to --dynamic (and --weight-only's "
                         "--int8-nodes): static mode has --weight-bits")
    if args.dynamic or args.weight_only:
        calib = None
        if args.weight_only and args.bits == 4 and args.calib:
            # GPTQ (quant/gptq.py): an .npz with one array per model input, samples first
            from .calib_data import calibration_source

            calib = calibration_source(args.calib, args.calib_samples)
        qm = quantize_dynamic(args.model, mode="dynamic" if args.dynamic else "weight_only",
                              per_row=not args.per_tensor_activations, bits=args.bits,
                              group=args.group, symmetric=not args.zero_points,
                              embedding_bits=args.embedding_bits,
                              int8_nodes=args.int8_nodes or (), calibration=calib,
                              reduce_range=args.reduce_range)
        with _atomic_output(args.output) as tmp:
            qm.save(tmp)
        print(f"wrote {args.output}")
        return 0
    shapes = dict(args.input_shape) if args.input_shape else None
    if args.table or not args.calib:  # a scale table, or a QDQ / QOperator model
        qm = quantize(args.model, None, input_shapes=shapes, table=args.table)
        if args.export_table:
            from .quant.table import export_table, save_table

            save_table(export_table(qm.graph), args.export_table)
            print(f"wrote {args.export_table}")
        with _atomic_output(args.output) as tmp:
            qm.save(tmp)
        print(f"wrote {args.output}")
        return 0
    float_graph = _load_float_or_offer_dynamic(args)
    calib = _calib_source(args, float_graph)
    kw: dict[str, Any] = {
        "method": args.method, "per_channel": not args.per_tensor, "progress": not args.quiet,
        "weight_bits": args.weight_bits, "symmetric_activations": args.symmetric_activations,
        "bias_correction": args.bias_correction, "equalize": args.equalize,
        "io_dtype": args.io_dtype, "float_nodes": args.float_nodes or ()}
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
        kw["max_slowdown"] = args.max_slowdown
        if args.max_error is not None:
            kw["max_error"] = args.max_error
        elif args.metric:
            kw["max_drop"] = args.max_drop  # agreement with the float model, all outputs
        else:
            if y_eval is None:
                # no labels: top-1 agreement with the float model is the accuracy proxy
                from .quant.mixed import _float_predict

                y_eval = _float_predict(float_graph)(x_eval).argmax(-1)
                print("--max-drop without labels: metric = top-1 agreement with the float model")
            labels = np.asarray(y_eval).reshape(-1)

            def metric(predict: Callable[[np.ndarray], np.ndarray]) -> float:
                return float(np.mean(predict(x_eval).argmax(-1).reshape(-1) == labels))

            kw["metric"], kw["max_drop"] = metric, args.max_drop
    elif args.max_slowdown is not None:
        raise ValueError("--max-slowdown is the latency budget of --max-drop / --max-error")
    qm = quantize(float_graph, calib, **kw)
    if args.export_table:
        from .quant.table import export_table, save_table

        save_table(export_table(qm.graph), args.export_table)
        print(f"wrote {args.export_table}")
    pre = getattr(calib, "preprocess", None)
    if pre is not None:  # a folder of images: `int8rt run --input photo.jpg` does the same
        qm.graph.meta["image_preprocess"] = {
            "size": list(pre.size), "resize": pre.resize, "mean": [float(v) for v in pre.mean],
            "std": [float(v) for v in pre.std], "scale": float(pre.scale),
            "channel_order": pre.channel_order, "layout": pre.layout}
    _print_float_ops(qm.graph, asked=qm.mixed is None and args.keep != "auto")
    if qm.mixed is not None:
        print(qm.mixed.summary())
        if not qm.mixed.target_met:
            target = (f"--max-drop {args.max_drop}" if args.max_error is None
                      else f"--max-error {args.max_error}")
            budget = (f" within --max-slowdown {args.max_slowdown}"
                      if args.max_slowdown is not None else "")
            print(f"int8rt quantize: error: {target} not reached{budget} (best found above); "
                  f"nothing written. Relax the target or the budget, or leave out {target} "
                  "for plain int8", file=sys.stderr)
            return 1
    q = qm.graph.meta.get("quantization")
    auto = q.get("keep_auto") if isinstance(q, dict) else None
    if auto is not None and args.quiet:
        pre = auto.get("prefix")
        kept = (f"a prefix of {pre['ops']} ops, {pre['first']} to {pre['last']}" if pre
                else ", ".join(auto["kept"]) or "none")
        print(f"keep auto: {auto['metric']} {auto['int8_value']:.4f} -> "
              f"{auto['final_value']:.4f}; kept float: {kept}")
    with _atomic_output(args.output) as tmp:
        qm.save(tmp)
    print(f"wrote {args.output}")
    return 0 if auto is None or auto["target_met"] else 1


def cmd_report(args: argparse.Namespace) -> int:
    from .report import write_report

    float_graph = _load_float(args)
    x_eval = _eval_set(args.eval)[0] if args.eval else None
    out = Path(args.output)
    with _atomic_output(out) as tmp:
        write_report(float_graph, _calib_source(args, float_graph), tmp, method=args.method,
                     per_channel=not args.per_tensor, eval_inputs=x_eval,
                     samples=args.samples, progress=not args.quiet, title=args.model,
                     png_stem=out.with_suffix(""))
    print(f"wrote {out}")
    return 0


def _add_preprocess_args(q: argparse.ArgumentParser, what: str) -> None:
    g = q.add_argument_group(
        f"image preprocessing ({what}; torchvision's ImageNet recipe): decode, RGB, resize the "
        "shorter side, center crop, scale to [0, 1], subtract mean, divide by std")
    g.add_argument("--image-size", type=int, nargs=2, default=None, metavar=("H", "W"),
                   help="crop size (default: the model's input H W when fixed, else "
                        f"{DEFAULT_CROP} {DEFAULT_CROP})")
    g.add_argument("--resize", type=int, default=None,
                   help=f"shorter side before the center crop (default {DEFAULT_RESIZE} for a "
                        f"{DEFAULT_CROP} crop, the same ratio for other sizes; 0: resize "
                        "straight to the crop size)")
    g.add_argument("--mean", type=float, nargs="+", default=None,
                   help="per-channel mean (default ImageNet 0.485 0.456 0.406)")
    g.add_argument("--std", type=float, nargs="+", default=None,
                   help="per-channel std (default ImageNet 0.229 0.224 0.225)")
    g.add_argument("--channel-order", choices=("RGB", "BGR", "L"), default=None,
                   help="default RGB (L for a 1-channel model input)")
    g.add_argument("--layout", choices=("CHW", "HWC"), default="CHW",
                   help="model input layout (default CHW: NCHW models)")


def _add_calib_args(q: argparse.ArgumentParser, required: bool = True) -> None:
    q.add_argument("--calib", required=required,
                   help="calibration data: a folder of images, .npy or .npz"
                        + ("" if required else " (not needed for a QDQ / QOperator model or "
                           "with --table)"))
    q.add_argument("--calib-samples", type=int, default=None, help="use at most N samples")
    q.add_argument("--input-shape", type=_shape_arg, action="append",
                   help="pin an input's shape, for symbolic dimensions: NAME=1,3,224,224 "
                        "(repeatable)")
    _add_preprocess_args(q, "for a folder of images")


def _feed(sess: Any, args: argparse.Namespace, cmd: str) -> dict[str, np.ndarray]:
    inputs = sess.get_inputs()
    # a static graph's free image size shows as None: its data and images take the size it
    # was quantized at
    stored = {i.name: tuple(sess.graph.tensor(i.name).shape) for i in inputs}
    if args.input is None:
        # random data of the model's input shapes (free dims: batch 1, others the stored size
        # or 16; integer inputs such as token ids: ones)
        print(f"int8rt {cmd}: no --input given: using random data of the model's input shape",
              file=sys.stderr)
        rng = np.random.default_rng(0)

        def dims(i: Any) -> list[int]:
            return [d if isinstance(d, int) and d > 0 else
                    (1 if k == 0 else stored[i.name][k] if stored[i.name][k] > 0 else 16)
                    for k, d in enumerate(i.shape)]

        return {i.name: np.ones(dims(i), i.dtype) if i.dtype in ("int64", "int32", "bool")
                else rng.standard_normal(dims(i)).astype(i.dtype) for i in inputs}
    shape = tuple(d if isinstance(d, int) and d > 0 else
                  (stored[inputs[0].name][k] if k and stored[inputs[0].name][k] > 0 else 1)
                  for k, d in enumerate(inputs[0].shape))
    prep = sess.graph.meta.get("image_preprocess")
    data = _load_input(args.input, _preprocess(args, shape if len(inputs) == 1 else None,
                                               prep if isinstance(prep, dict) else None))
    if isinstance(data, np.ndarray):
        if len(inputs) != 1:
            raise ValueError(f"the model has {len(inputs)} inputs "
                             f"{[i.name for i in inputs]}: give an .npz with one array each")
        data = {inputs[0].name: data}
    for i in inputs:  # an .npy of float64 or a batch without its axis: say what is expected
        if i.name in data and data[i.name].dtype != np.dtype(i.dtype):
            data[i.name] = data[i.name].astype(i.dtype)
    return data


def _session(args: argparse.Namespace, threads: int | None = None) -> Any:
    from .session import Session

    return Session(args.model, threads=threads)


def cmd_run(args: argparse.Namespace) -> int:
    sess = _session(args)
    outputs = sess.run(None, _feed(sess, args, "run"))
    for arg, out in zip(sess.get_outputs(), outputs):
        print(f"{arg.name}: shape {out.shape} dtype {out.dtype} "
              f"min {out.min():.6g} max {out.max():.6g} mean {out.mean():.6g}")
    if args.output:
        with _atomic_output(args.output) as tmp, open(tmp, "wb") as f:
            np.savez(f, **{a.name: o for a, o in zip(sess.get_outputs(), outputs)})
        print(f"wrote {args.output}")
    return 0


def cmd_bench(args: argparse.Namespace) -> int:
    from .progress import progress

    sess = _session(args, threads=args.threads)
    feed = _feed(sess, args, "bench")
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
        width = max([40] + [len(node) for node, _, _ in rows])
        print(f"\n{'node':{width}s} {'kernel':16s} {'us':>10s} {'%':>6s}")
        for node, kernel, ns in rows:
            print(f"{node:{width}s} {kernel:16s} {ns / 1e3:10.1f} {100 * ns / total:6.1f}")
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
    batch = graph.meta.get("batch_dim")
    batch = batch if isinstance(batch, dict) else {}
    for kind, names in (("input", graph.inputs), ("output", graph.outputs)):
        for name in names:
            t = graph.tensor(name)
            shape: list[Any] = list(t.shape)
            if name in batch and shape:
                shape[0] = batch[name] or "N"
            free = (graph.meta.get("free_dims") or {}).get(name) if kind == "input" else None
            note = " (H / W left symbolic: other image sizes where the graph allows)" \
                if free and graph.meta.get("layout") != "onnx" else ""
            print(f"  {kind} {name}: {t.dtype} {shape}{note}")
    print("  ops: " + ", ".join(f"{op} x{c}" for op, c in ops.most_common()))
    q = graph.meta.get("quantization")
    floats = (q.get("float_nodes") if isinstance(q, dict) else None) or []
    if floats:
        print(f"  kept in float32 ({len(floats)}): " + ", ".join(floats))
    from .quant.ptq import ASKED, float_node_report

    no_int8 = [(op, name, why) for op, name, why in float_node_report(graph) if why != ASKED]
    if no_int8:
        print(f"  run in float32 ({len(no_int8)}):")
        for op, name, why in no_int8:
            print(f"    {op} node {name!r}: {why}")
    if isinstance(q, dict) and q.get("mode") == "static+dynamic":  # quant/hybrid.py
        for key, what in (("static_int8", "static int8 (calibrated)"),
                          ("dynamic_int8", "dynamic int8")):
            print(f"  {what} ({len(q.get(key) or [])}): " + ", ".join(q.get(key) or []))
    for line in adjusted_scale_lines(graph.meta):
        print("  " + line)
    return 0


def cmd_demo(args: argparse.Namespace) -> int:
    from .demo import format_report, run_demo

    print(format_report(run_demo(runs=args.runs, progress=not args.quiet)))
    return 0


def cmd_debug(args: argparse.Namespace) -> int:
    from .api import quantize
    from .calib_data import calibration_source
    from .quant.debug import format_table, layer_errors, sensitivity

    float_graph = _load_float(args)
    calib = _calib_source(args, float_graph)
    mi = _model_input(float_graph)
    data = (calibration_source(args.input, None, _preprocess(args, mi[1] if mi else None),
                               input_names=list(float_graph.inputs)) if args.input else calib)
    qm = quantize(float_graph, calib, method=args.method, progress=not args.quiet)
    print(f"per-layer error of the int8 model vs float ({args.samples} samples max):")
    print(format_table(layer_errors(qm, data, max_samples=args.samples,
                                    progress=not args.quiet)))
    if args.sensitivity:
        print("\nsensitivity: model-output error with one op alone in (simulated) int8:")
        print(format_table(sensitivity(float_graph, calib, data, method=args.method,
                                       max_samples=args.samples, progress=not args.quiet)))
    return 0


def _method_help() -> str:
    # imported here so `int8rt --help` and the other commands do not load the quantizer
    from .quant.observers import OBSERVERS

    return f"calibration method: {', '.join(sorted(OBSERVERS))} (default minmax)"


EXAMPLES = {
    "quantize": """examples:
  int8rt quantize model.onnx --calib calib.npy -o model.i8
  int8rt quantize model.onnx --calib images/ -o model.i8      # crop = the model's input H, W
  int8rt quantize model.onnx --calib images/ --input-shape x=1,3,48,192 -o model.i8
  int8rt quantize model.onnx --calib images/ --max-drop 0.01 --max-slowdown 1.5 -o model.i8
  int8rt quantize model.onnx --calib calib.npy --float-nodes /head/Conv -o model.i8
  int8rt quantize qdq_model.onnx -o model.i8                 # the model's own scales
  int8rt quantize encoder.onnx --dynamic -o encoder.i8""",
    "run": """examples:
  int8rt run model.i8 --input x.npy -o out.npz
  int8rt run model.i8 --input photo.png                      # preprocessed like --calib images
  int8rt run model.i8                                        # random data (said on stderr)""",
    "bench": """examples:
  int8rt bench model.i8 --runs 200 --profile
  int8rt bench model.i8 --input x.npy --threads 1""",
    "inspect": """examples:
  int8rt inspect model.i8""",
    "debug": """examples:
  int8rt debug model.onnx --calib calib.npy
  int8rt debug model.onnx --calib images/ --sensitivity""",
    "report": """examples:
  int8rt report model.onnx --calib calib.npy -o report.html
  int8rt report model.onnx --calib images/ --input-shape x=1,3,48,192 -o report.html""",
    "demo": """examples:
  int8rt demo""",
}


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="int8rt", description="int8 inference runtime")
    p.add_argument("-q", "--quiet", action="store_true", help="no progress bars")
    # -q after the subcommand too: SUPPRESS keeps the subparser from resetting the value
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("-q", "--quiet", action="store_true", default=argparse.SUPPRESS,
                        help="no progress bars")
    sub = p.add_subparsers(dest="command", required=True)

    def add(name: str, help: str) -> argparse.ArgumentParser:
        return sub.add_parser(name, help=help, parents=[common], epilog=EXAMPLES[name],
                              formatter_class=argparse.RawDescriptionHelpFormatter)

    q = add("quantize", "calibrate a float model and write a .i8 file")
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
    q.add_argument("--zero-points", action="store_true",
                   help="weight-only int4: asymmetric groups (a zero point per group)")
    q.add_argument("--embedding-bits", type=int, choices=(4, 8), default=None,
                   help="weight-only: bits of the embedding (Gather) tables (default --bits)")
    q.add_argument("--int8-nodes", nargs="+", metavar="PATTERN",
                   help="weight-only: Linear nodes (fnmatch patterns of node names) kept "
                   "dynamic int8, e.g. '*/intermediate/*'")
    q.add_argument("--reduce-range", action="store_true",
                   help="dynamic: int8 MatMul/Gemm/Conv weights in [-64, 64] (7 bits, ONNX "
                        "Runtime's reduce_range): faster on AVX2-only CPUs, slightly less "
                        "accurate")
    q.add_argument("--per-tensor-activations", action="store_true",
                   help="dynamic: one activation scale per tensor instead of per row (token)")
    q.add_argument("--method", default="minmax", help=_method_help())
    q.add_argument("--per-tensor", action="store_true", help="per-tensor weight scales")
    q.add_argument("--weight-bits", type=int, default=8, help="weight bits, 2-8 (default 8)")
    q.add_argument("--symmetric-activations", action="store_true",
                   help="activation zero points 0")
    q.add_argument("--bias-correction", action=argparse.BooleanOptionalAction, default=None,
                   help="correct the output shift weight quantization causes (default off; "
                        "--keep auto without --[no-]equalize / --[no-]bias-correction tries "
                        "both off and both on and keeps the better)")
    q.add_argument("--equalize", action=argparse.BooleanOptionalAction, default=None,
                   help="cross-layer equalization (default off; see --bias-correction)")
    q.add_argument("--io-dtype", choices=("float32", "int8", "uint8"), default="float32",
                   help="dtype of the model inputs and outputs (integer I/O skips the "
                        "boundary conversion)")
    q.add_argument("--float-nodes", type=_names_arg, default=None, metavar="NAME,...",
                   help="keep these Conv / Gemm nodes (the source model's node names, as "
                        "`int8rt report` and `bench --profile` show them) in float32")
    q.add_argument("--max-drop", type=float, default=None,
                   help="mixed precision: keep sensitive ops float until the top-1 accuracy "
                        "drop is at most X (0.01 = 1 point); labels from --eval, else top-1 "
                        "agreement with the float model")
    q.add_argument("--max-error", type=float, default=None,
                   help="mixed precision: relative RMS output error target")
    q.add_argument("--max-slowdown", type=float, default=None,
                   help="mixed precision latency budget: at most X times the full-int8 "
                        "latency (measured; default: no limit)")
    q.add_argument("--keep", default=None,
                   help="'auto': keep float just the layers whose int8 error breaks --metric "
                        "(a sensitivity pass on the real int8 program), or node names "
                        "(comma separated) to keep float")
    q.add_argument("--metric", default=None,
                   help="output metric vs the float model for --keep auto / --max-drop: "
                        "cosine, anchor-iou[:thr=0.25], mask-iou[:thr=0.3], argmax "
                        "(options: thr=, axis=, outputs=0+1)")
    q.add_argument("--target", type=float, default=None,
                   help="--keep auto: the metric to reach on unseen inputs (default 0.9; cosine "
                        "0.999); without --eval it aims at half the allowed disagreement on "
                        "the calibration samples it is measured on")
    q.add_argument("--eval", default=None,
                   help="evaluation .npz (x, y) for --max-drop / --max-error / --keep auto")
    q.add_argument("-o", "--output", required=True, help="output .i8 path")
    q.set_defaults(fn=cmd_quantize)

    r = add("run", "run a .i8 model once")
    r.add_argument("model")
    r.add_argument("--input", help=".npy (single input), .npz (one array per input) or an "
                                   "image file; random data if omitted")
    r.add_argument("-o", "--output", help="write outputs to this .npz")
    _add_preprocess_args(r, "for an image --input; default: what the model was calibrated "
                            "with, if it was calibrated on a folder")
    r.set_defaults(fn=cmd_run)

    b = add("bench", "time a .i8 model")
    b.add_argument("model")
    b.add_argument("--input", help=".npy, .npz or an image; random data if omitted")
    b.add_argument("--runs", type=int, default=100)
    b.add_argument("--warmup", type=int, default=10)
    b.add_argument("--threads", type=int, default=None)
    b.add_argument("--profile", action="store_true", help="print time per op")
    _add_preprocess_args(b, "for an image --input; default: what the model was calibrated "
                            "with, if it was calibrated on a folder")
    b.set_defaults(fn=cmd_bench)

    i = add("inspect", "describe a .i8 model")
    i.add_argument("model")
    i.set_defaults(fn=cmd_inspect)

    g = add("debug", "per-layer int8-vs-float error of a quantized model")
    g.add_argument("model", help=".onnx or float .i8 model")
    _add_calib_args(g)
    g.add_argument("--input", help="evaluation data (a folder of images, .npy or .npz); "
                                   "default: the calib data")
    g.add_argument("--samples", type=int, default=64, help="compare on at most N samples")
    g.add_argument("--method", default="minmax", help=_method_help())
    g.add_argument("--sensitivity", action="store_true",
                   help="also rank ops by output error when quantized alone (slower)")
    g.set_defaults(fn=cmd_debug)

    rp = add("report", "HTML report: per-layer error, histograms, advice")
    rp.add_argument("model", help=".onnx or float .i8 model")
    _add_calib_args(rp)
    rp.add_argument("--method", default="minmax", help=_method_help())
    rp.add_argument("--per-tensor", action="store_true", help="per-tensor weight scales")
    rp.add_argument("--eval", default=None, help="evaluation .npz / .npy (default: calib)")
    rp.add_argument("--samples", type=int, default=64, help="compare on at most N samples")
    rp.add_argument("-o", "--output", required=True, help="output .html (PNGs next to it)")
    rp.set_defaults(fn=cmd_report)

    d = add("demo", "quantize and run the bundled digits CNN")
    d.add_argument("--runs", type=int, default=200, help="latency samples")
    d.set_defaults(fn=cmd_demo)
    return p


def _error_message(e: BaseException) -> str:
    if isinstance(e, (FileNotFoundError, IsADirectoryError, PermissionError)) and e.filename:
        return f"{e.strerror or e}: {e.filename}"
    if isinstance(e, KeyError):  # str(KeyError) is the quoted key only
        return f"missing {e}"
    return str(e) or type(e).__name__


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        rc = args.fn(args)
        sys.stdout.flush()  # here, so a closed pipe is handled below, not at interpreter exit
        return rc
    except KeyboardInterrupt:
        # outputs are renamed into place only when complete (_atomic_output): nothing partial
        print(f"\nint8rt {args.command}: interrupted", file=sys.stderr)
        return EXIT_INTERRUPTED
    except BrokenPipeError:
        # `int8rt inspect m.i8 | head`: the reader went away; say nothing more. Python would
        # complain again when it flushes stdout at exit, so point stdout at /dev/null.
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        return 128 + getattr(signal, "SIGPIPE", 13)
    except (ValueError, TypeError, OSError, EOFError, MemoryError, ImportError, KeyError,
            RuntimeError) as e:
        print(f"int8rt {args.command}: error: {_error_message(e)}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
