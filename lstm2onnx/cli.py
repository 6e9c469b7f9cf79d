"""The ``lstm2onnx`` command line.

    lstm2onnx build SPEC -o OUT.onnx [--weights W.mat] [--opset N] [--ragged] [--stateful] [--seed S] [--name NAME]
    lstm2onnx inspect MODEL.onnx
    lstm2onnx to-matlab MODEL.onnx [--learnables]
    lstm2onnx verify MODEL.onnx [--provider cpu|cuda|auto] [--tolerance 1e-5]
    lstm2onnx quantize MODEL.onnx -o OUT.onnx [--per-channel] [--check DATA [--labels L]]
    lstm2onnx predict|stream ...   (the runtime's lstm2onnx-run commands)

Errors print one line to stderr and exit with status 1; ``build`` never
leaves a partial output file.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import sys
from typing import Sequence

from ._version import __version__
from .builder import DEFAULT_OPSET, META_CLASSES, META_IO, META_SPEC, exportONNXNetwork
from .errors import Lstm2OnnxError
from .layers import SequenceInputLayer
from .modelfile import shown
from .network import LayerArray
from .spec import load_spec


# lstm2onnx-runtime is not on a package index: it installs from this project's source (a checkout, a git URL, or a wheel)
RUNTIME_INSTALL = "pip install './runtime[cpu]' from a checkout of lstm2onnx (or '.../runtime[gpu]', or a wheel built from it)"


def _positive(text: str) -> int:
    """argparse type: a positive integer (``--batch 0`` is a usage error, not a traceback)."""
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {value}")
    return value


def main(argv: Sequence[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv[:1] in (["predict"], ["stream"]):
        return _runtime_command(argv)
    parser = argparse.ArgumentParser(prog="lstm2onnx", description="MATLAB-style LSTM layer arrays to standard ONNX graphs.")
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    commands = parser.add_subparsers(dest="command", required=True)

    build = commands.add_parser("build", help="build an .onnx file from a JSON/YAML layer spec")
    build.add_argument("spec", help="MATLAB layer-array code (.m), a JSON/YAML layer spec (see the README), "
                       "or an lstm2onnx .onnx model to rebuild (e.g. a stateful copy with --stateful)")
    build.add_argument("-o", "--output", required=True, help="the .onnx file to write")
    build.add_argument("--weights", help="trained learnables saved from MATLAB (.mat v5/v7 or v7.3), one struct per layer Name")
    build.add_argument("--opset", type=int, default=DEFAULT_OPSET, help=f"ONNX opset (default {DEFAULT_OPSET})")
    build.add_argument("--ragged", action="store_true", help="add the sequence_lengths input")
    build.add_argument("--stateful", action="store_true", help="add hidden/cell state inputs and outputs")
    build.add_argument("--seed", type=int, default=0, help="seed for unset learnables (default 0)")
    build.add_argument("--name", help="graph name (default: the spec's name, else 'lstm2onnx')")
    build.add_argument("--bilstm-last", choices=["matlab", "final-state"], default="matlab",
                       help="what a bilstm with OutputMode 'last' returns (default: MATLAB's reading)")
    build.add_argument("--set", dest="matlab_set", action="append", default=[], metavar="NAME=VALUE",
                       help="MATLAB script: a variable's value, a MATLAB literal (100, 'text', [1 2 3], {'a','b'}); "
                            "wins over the script's own assignment (repeatable)")
    build.add_argument("--data", dest="matlab_data", action="append", default=[], metavar="FILE",
                       help="MATLAB script: a .mat (v5/v7/v7.3) or .npz file whose variables the script uses or load()s; "
                            "the only files read (repeatable)")
    build.add_argument("--variable", help="MATLAB script: the layer array to build (default: the last one assigned)")
    build.add_argument("--verbose", action="store_true",
                       help="MATLAB script: list the statements evaluated, skipped and not computed, and the layers built")

    commands.add_parser("predict", help="run a model on a data file (lstm2onnx-run predict; see its --help)")
    commands.add_parser("stream", help="stream time steps from stdin through a model (lstm2onnx-run stream)")
    inspect = commands.add_parser("inspect", help="print a model's layers, inputs/outputs, opset and metadata")
    inspect.add_argument("model", help="an .onnx file")
    to_matlab = commands.add_parser("to-matlab", help="print MATLAB code that rebuilds a model's layer array")
    to_matlab.add_argument("model", help="an .onnx file built by lstm2onnx")
    to_matlab.add_argument("--learnables", action="store_true", help="include the weight matrices")
    verify = commands.add_parser("verify", help="compare onnxruntime with the numpy reference on random inputs")
    verify.add_argument("model", help="an .onnx file built by lstm2onnx")
    verify.add_argument("--provider", default="cpu", choices=["cpu", "cuda", "auto"])
    verify.add_argument("--tolerance", type=float, help="max abs error allowed (default 1e-5; an int8 model: none, report only)")
    verify.add_argument("--batch", type=_positive, default=8, help="random sequences to run (default 8)")
    verify.add_argument("--time", type=_positive, default=20, help="longest random sequence (default 20 steps)")
    verify.add_argument("--seed", type=int, default=0)
    verify.add_argument("--data", help="int8 model: .npy/.npz/.csv sequences to compare on (default: random sequences)")
    verify.add_argument("--labels", help="int8 model: labels of --data for accuracy (.npy, .npz, or one per line)")
    verify.add_argument("--float", dest="float_model", help="int8 model: the float .onnx it came from (default: its weights dequantized)")
    verify.add_argument("--mini-batch-size", type=_positive, default=128, help="int8 model: MiniBatchSize for the speed ratio (default 128)")
    quantize = commands.add_parser("quantize", help="int8 weights with onnxruntime's dynamic quantization (same inputs, outputs, metadata)")
    quantize.add_argument("model", help="an .onnx file built by lstm2onnx")
    quantize.add_argument("-o", "--output", required=True, help="the int8 .onnx file to write")
    quantize.add_argument("--per-channel", action="store_true", help="one weight scale per gate row / output instead of per tensor")
    quantize.add_argument("--reduce-range", action="store_true", help="7-bit weights (CPUs without VNNI)")
    quantize.add_argument("--check", metavar="DATA", help="compare with the float model on DATA (.npy/.npz/.csv): differences, labels, speed")
    quantize.add_argument("--labels", help="labels of DATA for accuracy (.npy, .npz, or one per line)")
    quantize.add_argument("--mini-batch-size", type=_positive, default=128, help="MiniBatchSize for the speed ratio (default 128)")

    from .serving.cli import COMMANDS as SERVING_COMMANDS, add_commands as add_serving_commands, run as run_serving

    add_serving_commands(commands)
    args = parser.parse_args(argv)
    try:
        if args.command in SERVING_COMMANDS:
            return run_serving(args)
        if args.command == "build":
            return _build(args)
        if args.command == "to-matlab":
            return _to_matlab(args)
        if args.command == "verify":
            return _verify(args)
        if args.command == "quantize":
            return _quantize(args)
        return _inspect(args.model)
    except Lstm2OnnxError as error:
        print(f"lstm2onnx {args.command}: error: {error}", file=sys.stderr)
        return 1
    except OSError as error:  # e.g. no permission to write the output folder
        print(f"lstm2onnx {args.command}: error: {error.strerror or error}: {error.filename or ''}".rstrip(": "), file=sys.stderr)
        return 1


def _runtime_command(argv: list[str]) -> int:
    try:
        from lstm2onnx_runtime.cli import main as run_main
    except ImportError:
        print(f"lstm2onnx {argv[0]}: error: needs lstm2onnx-runtime, which is not on a package index: "
              f"{RUNTIME_INSTALL} (see the README's Install section)", file=sys.stderr)
        return 1
    return run_main(argv, prog="lstm2onnx")


def _build(args: argparse.Namespace) -> int:
    if args.spec.lower().endswith(".onnx"):
        return _rebuild(args)
    if args.spec.lower().endswith(".m"):
        layers, spec_name = _read_matlab(args.spec, args), os.path.splitext(os.path.basename(args.spec))[0]
    elif args.matlab_set or args.matlab_data or args.variable or args.verbose:
        raise Lstm2OnnxError("--set, --data, --variable and --verbose are for MATLAB scripts (a SPEC named *.m)")
    else:
        try:
            layers, spec_name = load_spec(args.spec)
        except UnicodeDecodeError as error:
            raise Lstm2OnnxError(f"{args.spec}: not UTF-8 text (byte {error.start}); a spec is JSON or YAML text "
                                 "(an .onnx model is rebuilt only from a file named *.onnx)") from None
    if args.weights:
        from .matlab.weights import apply_weights, load_weights

        layers = apply_weights(layers, load_weights(args.weights))
    layers = _with_placeholder_statistics(layers)
    name = args.name or spec_name or "lstm2onnx"
    exportONNXNetwork(layers, args.output, OpsetVersion=args.opset, NetworkName=name, seed=args.seed,
                      ragged=args.ragged, stateful=args.stateful, bilstm_last=args.bilstm_last)
    print(f"wrote {args.output}")
    return 0


# Statistics that make each Normalization the identity: an untrained network's placeholders, as drawn weights are
IDENTITY_STATISTICS = {"zerocenter": {"Mean": 0.0}, "zscore": {"Mean": 0.0, "StandardDeviation": 1.0},
                       "rescale-zero-one": {"Min": 0.0, "Max": 1.0}, "rescale-symmetric": {"Min": -1.0, "Max": 1.0}}


def _with_placeholder_statistics(layers):
    """A sequenceInputLayer whose Normalization statistics trainNetwork would compute from the training data (and
    neither the layer nor --weights gives) gets the identity's, with a note, so a script's untrained network builds."""
    first = layers[0] if len(layers) and isinstance(layers[0], SequenceInputLayer) else None
    if first is None or not first.missing_statistics():
        return layers
    fill = {k: v for k, v in IDENTITY_STATISTICS[first.Normalization].items() if k in first.missing_statistics()}
    print(f"lstm2onnx build: note: sequenceInputLayer Normalization '{first.Normalization}' has no "
          f"{' or '.join(fill)} (trainNetwork computes them from the training data); built with "
          f"{', '.join(f'{k} {v:g}' for k, v in fill.items())} until you give them (the layer's options, or --weights)",
          file=sys.stderr)
    return [dataclasses.replace(first, **fill), *list(layers)[1:]]


def _rebuild(args: argparse.Namespace) -> int:
    """``build MODEL.onnx -o OUT.onnx [--stateful] [--ragged] ...``: the model's stored spec and learnables, built again.

    The layer array comes from the model's metadata and its weights from its
    initializers (:func:`lstm2onnx.importer.load_onnx`), so the copy computes
    the same numbers; it keeps the original's sequence_lengths input and
    bilstm reading, its graph name unless --name is given, and adds what the
    flags ask for (e.g. the state inputs/outputs of --stateful). An int8 model's
    copy is int8 again, holding exactly its int8 weights, scales and zero points
    (:func:`lstm2onnx.quantize.rebuilt`).
    """
    from .importer import load_onnx
    from .modelfile import read_model, untrusted
    from .quantize import is_quantized, rebuilt

    model = read_model(args.spec)
    with untrusted(args.spec):
        int8 = is_quantized(model)
        layers = None if int8 else load_onnx(model)
        io = json.loads({p.key: p.value for p in model.metadata_props}.get(META_IO, "{}"))
        ragged = args.ragged or bool(io.get("sequence_lengths"))
        bilstm_last = io.get("bilstm_last", args.bilstm_last) if args.bilstm_last == "matlab" else args.bilstm_last
    if args.weights and int8:
        raise Lstm2OnnxError(f"{args.spec} is an int8 model: --weights would replace the weights it was quantized from; "
                             "rebuild its float model with --weights, then run lstm2onnx quantize on the result")
    if args.weights:
        from .matlab.weights import apply_weights, load_weights

        layers = apply_weights(layers, load_weights(args.weights))
    name = args.name or model.graph.name or "lstm2onnx"
    if int8:
        with untrusted(args.spec):
            rebuilt(model, args.output, opset=args.opset, name=name, seed=args.seed, ragged=ragged, stateful=args.stateful, bilstm_last=bilstm_last)
        print(f"wrote {args.output} (int8, with the int8 weights, scales and zero points of {args.spec})")
        return 0
    exportONNXNetwork(layers, args.output, OpsetVersion=args.opset, NetworkName=name, seed=args.seed, ragged=ragged, stateful=args.stateful,
                      bilstm_last=bilstm_last)
    print(f"wrote {args.output}")
    return 0


def _read_matlab(path: str, args: argparse.Namespace | None = None):
    """MATLAB code: UTF-8 with or without a byte-order mark, else Windows-1252 (what MATLAB on Windows saved for years)."""
    from .matlab import from_matlab

    try:
        with open(path, "rb") as handle:
            data = handle.read()
    except OSError as error:
        raise Lstm2OnnxError(f"cannot read {path!r}: {error.strerror}") from None
    if data.startswith((b"\xff\xfe", b"\xfe\xff")) or b"\x00" in data:
        raise Lstm2OnnxError(f"{path}: not UTF-8 text (UTF-16 or binary); save it as UTF-8")
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError:
        try:
            text = data.decode("cp1252")
        except UnicodeDecodeError as error:
            raise Lstm2OnnxError(f"{path}: neither UTF-8 nor Windows-1252 text (byte {error.start})") from None
    if args is None:
        return from_matlab(text)
    return _matlab_script(text, args)


def _matlab_script(text: str, args: argparse.Namespace):
    """A MATLAB script with --set/--data/--variable; notes go to stderr, the --verbose listing to stdout."""
    from .matlab import read_script
    from .matlab.data import parse_set

    workspace = dict(parse_set(option) for option in args.matlab_set)
    result = read_script(text, workspace=workspace, data=args.matlab_data, variable=args.variable)
    for note in result.notes:
        print(f"lstm2onnx build: note: {note}", file=sys.stderr)
    if args.verbose:
        print(result.report())
    return result.layers


def _to_matlab(args: argparse.Namespace) -> int:
    from .importer import load_onnx
    from .matlab.writer import to_matlab
    from .modelfile import read_model, untrusted

    model = read_model(args.model)
    with untrusted(args.model):
        text = to_matlab(load_onnx(model), learnables=args.learnables)
    print(text, end="")
    return 0


def _verify(args: argparse.Namespace) -> int:
    from .modelfile import read_model, untrusted
    from .verify import verify_model

    if _int8_model(args.model) is not None:
        return _verify_int8(args)
    args.tolerance = 1e-5 if args.tolerance is None else args.tolerance
    read_model(args.model)  # the file checks (a folder, /dev/zero, garbage, external data) before verify reads it
    with untrusted(args.model):
        report = verify_model(args.model, provider=args.provider, batch=args.batch, time=args.time, seed=args.seed)
    worst = 0.0
    for name, error in report.items():
        worst = max(worst, error)
        status = "ok" if error <= args.tolerance else "ABOVE TOLERANCE"
        print(f"{name}: max abs error {error:.3e}  {status}")
    print(f"{'PASS' if worst <= args.tolerance else 'FAIL'}: worst {worst:.3e}, tolerance {args.tolerance:g}")
    return 0 if worst <= args.tolerance else 1


def _int8_model(path: str):
    """The model at ``path`` when onnxruntime's int8 operators are in it, else None."""
    from .quantize import is_quantized, load_model

    model = load_model(path)
    return model if is_quantized(model) else None


def _verify_int8(args: argparse.Namespace) -> int:
    """``verify`` on an int8 model: against its float model (``--float``, else its weights dequantized) and the reference."""
    from . import quantize as q
    from .modelfile import untrusted

    with untrusted(args.model):
        int8 = _int8_model(args.model)
        if args.float_model:
            original, source = q.load_model(args.float_model), args.float_model
        else:
            original, source = q.float_twin(int8), "rebuilt from the int8 weights (only activation rounding differs)"
        if args.labels and not args.data:
            raise Lstm2OnnxError("--labels are the labels of --data; give --data too")
        if args.data:
            X = q.read_sequences(args.data)
        else:
            X = q.random_sequences(q.dequantized_layers(int8)[0].InputSize, batch=args.batch, time_steps=args.time, seed=args.seed)
        labels = q.read_labels(args.labels) if args.labels else None
        report = q.check(original, int8, X, labels, mini_batch_size=args.mini_batch_size, provider=args.provider, float_source=source)
    print(f"{args.model}: int8 ({', '.join(q.quantization_info(int8)['quantized'])} quantized)")
    print(report)
    if args.tolerance is None:
        return 0
    passed = report.max_abs <= args.tolerance
    print(f"{'PASS' if passed else 'FAIL'}: max abs diff from the float model {report.max_abs:.3e}, tolerance {args.tolerance:g}")
    return 0 if passed else 1


def _quantize(args: argparse.Namespace) -> int:
    from . import quantize as q
    from .modelfile import untrusted

    if os.path.exists(args.output) and os.path.exists(args.model) and os.path.samefile(args.output, args.model):
        raise Lstm2OnnxError(f"the output {args.output!r} is the model itself; write the int8 model to another file")
    if args.labels and not args.check:
        raise Lstm2OnnxError("--labels are the labels of --check DATA; give --check too")
    original = q.load_model(args.model)
    # the data files are read before anything is written, so a bad one leaves no int8 file behind
    X = q.read_sequences(args.check) if args.check else None
    labels = q.read_labels(args.labels) if args.labels else None
    with untrusted(args.model):
        int8 = q.quantize(original, args.output, per_channel=args.per_channel, reduce_range=args.reduce_range)
    info = q.quantization_info(int8)
    kept = f"; left float32: {', '.join(f'{k} ({v})' for k, v in info['float'].items())}" if info["float"] else ""
    print(f"wrote {args.output}: int8 {', '.join(f'{k} ({v})' for k, v in info['quantized'].items())}{kept}")
    if X is not None:
        print(q.check(original, int8, X, labels, mini_batch_size=args.mini_batch_size, float_source=args.model))
    return 0


def _inspect(path: str) -> int:
    from .modelfile import read_model, untrusted

    model = read_model(path)
    with untrusted(path):
        text = describe_model(model, path)
    print(text)
    return 0


def describe_model(model, path: str = "<model>") -> str:
    """The text ``lstm2onnx inspect`` prints; control characters in names and metadata are shown escaped."""
    from onnx import TensorProto, helper

    meta = {p.key: p.value for p in model.metadata_props}
    opset = next((o.version for o in model.opset_import if o.domain in ("", "ai.onnx")), None)
    lines = [f"{path}: graph '{model.graph.name}', opset {opset}, IR version {model.ir_version}, "
             f"producer {model.producer_name or '?'} {model.producer_version}".rstrip(), ""]
    if META_SPEC in meta:
        try:
            lines += str(LayerArray.from_dict(json.loads(meta[META_SPEC]))).rstrip().split("\n")
        except (Lstm2OnnxError, ValueError, TypeError, KeyError, AttributeError, RecursionError) as error:
            lines.append(f"  (the layer spec in the metadata cannot be read: {type(error).__name__}: {str(error)[:200]})")
        lines.append("")

    def shape(value) -> str:
        dims = [d.dim_param or str(d.dim_value) for d in value.type.tensor_type.shape.dim]
        return f"{TensorProto.DataType.Name(value.type.tensor_type.elem_type).lower():<8}[{', '.join(dims)}]"

    initializers = {t.name for t in model.graph.initializer}
    width = max(len(v.name) for v in [*model.graph.input, *model.graph.output])
    lines.append("  inputs:")
    lines += [f"    {v.name:<{width}}  {shape(v)}" for v in model.graph.input if v.name not in initializers]
    lines.append("  outputs:")
    lines += [f"    {v.name:<{width}}  {shape(v)}" for v in model.graph.output]
    if meta.get(META_CLASSES, "null") != "null":
        lines += ["", f"  classes: {', '.join(json.loads(meta[META_CLASSES]))}"]
    lstm_nodes = [n for n in model.graph.node if n.op_type == "LSTM"]
    if lstm_nodes:
        lines += ["", "  LSTM nodes (onnxruntime CUDA provider):"]
        for node in lstm_nodes:
            attrs = {a.name: helper.get_attribute_value(a) for a in node.attribute}
            acts = [a.decode() for a in attrs.get("activations", [])] or ["Sigmoid", "Tanh", "Tanh"]
            fallback = sorted({"activations"} & set(attrs) | {"activation_alpha", "activation_beta", "clip"} & set(attrs))
            where = f"falls back to CPU (carries {', '.join(fallback)})" if fallback else "runs on CUDA"
            lines.append(f"    {node.name}: hidden {attrs['hidden_size']}, {attrs.get('direction', b'forward').decode()}, "
                         f"{'/'.join(acts[:3])} -> {where}")
    gru_nodes = [n for n in model.graph.node if n.op_type == "GRU"]
    if gru_nodes:  # cuDNN's GRU is linear_before_reset=1 only: onnxruntime's CUDA provider hands 0 to the CPU
        lines += ["", "  GRU nodes (onnxruntime CUDA provider):"]
        for node in gru_nodes:
            attrs = {a.name: helper.get_attribute_value(a) for a in node.attribute}
            acts = [a.decode() for a in attrs.get("activations", [])] or ["Sigmoid", "Tanh"]
            fallback = sorted({"activations", "activation_alpha", "activation_beta", "clip"} & set(attrs))
            linear = attrs.get("linear_before_reset", 0)
            reasons = ([] if linear else ["linear_before_reset=0"]) + ([f"carries {', '.join(fallback)}"] if fallback else [])
            where = f"falls back to CPU ({'; '.join(reasons)})" if reasons else "runs on CUDA"
            lines.append(f"    {node.name}: hidden {attrs['hidden_size']}, linear_before_reset={linear}, {'/'.join(acts[:2])} -> {where}")
    if META_IO in meta:
        io = json.loads(meta[META_IO])
        lines += ["", f"  task: {io['task']}, output '{io['output']}' ({'sequence' if io['sequence_output'] else 'one step'} per sequence)"]
    lines += _describe_quantization(model)
    others = {k: v for k, v in meta.items() if k not in (META_SPEC, META_CLASSES, META_IO, "lstm2onnx.quantization")}
    if others:
        lines += ["", "  metadata:"] + [f"    {k}: {v if len(v) < 80 else v[:77] + '...'}" for k, v in others.items()]
    return "\n".join(shown(line) for line in lines)  # each entry is one line: an embedded newline is data, shown escaped


def _describe_quantization(model) -> list[str]:
    """``inspect``'s lines on an int8 model: how it was quantized, which layers are, which stayed float32."""
    from .quantize import quantization_info

    info = quantization_info(model)
    if info is None:
        return []
    lines = ["", f"  quantized: int8 by {info['method']}" + (f" (onnxruntime {info['onnxruntime']})" if "onnxruntime" in info else "")]
    if "weights" in info:
        lines.append(f"    weights {info['weights']}; activations {info['activations']}")
    lines += [f"    {name}: {op} (int8)" for name, op in info["quantized"].items()]
    lines += [f"    {name}: {op} (float32: onnxruntime has no int8 kernel for it)" if op == "GRU" else f"    {name}: {op} (float32)"
              for name, op in info["float"].items()]
    if "DynamicQuantizeLSTM" in info["quantized"].values():
        lines.append("    DynamicQuantizeLSTM has a CPU kernel only: under the CUDA provider those nodes run on the CPU")
    return lines


if __name__ == "__main__":
    sys.exit(main())
