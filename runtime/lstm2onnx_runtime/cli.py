"""``lstm2onnx-run``: run lstm2onnx models from the shell (numpy + onnxruntime only).

    lstm2onnx-run predict MODEL.onnx DATA.(npz|npy|csv) [--provider cpu|cuda|auto] [--mini-batch-size N]
                  [--format text|json|csv|npz] [-o OUT | -o -]
    lstm2onnx-run stream MODEL.onnx [--provider ...]
    lstm2onnx-run --version

DATA: ``.npy`` holds one ``[time, features]`` sequence or a ``[batch, time,
features]`` array; ``.npz`` holds one sequence per array (file order) or one
3-D array; ``.csv`` holds one sequence, a row per time step (see
:mod:`lstm2onnx_runtime.datafiles`: UTF-8 with or without a BOM, ``,`` ``;``
tab or space separated, an optional header row). What was read is printed to
stderr.

Output: printed as text by default. ``--format`` picks text, json, csv or npz;
``-o OUT`` writes OUT exactly (never another name), atomically (a temporary
file in the same folder, then a rename: a full disk leaves the previous OUT as
it was), in the format given by ``--format`` or else by OUT's extension
(.txt, .json, .csv, .npz); ``-o -`` writes to stdout. ``-o`` naming the data
file or the model is refused.

``stream`` reads one time step per line (numbers separated by commas or
spaces), prints the output for that step and keeps the state; a line
``reset`` goes back to the initial state. Bad lines are reported on stderr
and skipped; the exit status is then 1 (0 when every line was used), so a
script notices.

Exit status: 0 success, 1 an error (one line on stderr), 2 a usage error
(argparse). Writing into a closed pipe (``predict ... | head``) ends quietly
with status 0, as Unix tools do.
"""

from __future__ import annotations

import argparse
import csv
import io
import json
import os
import sys
from typing import Any, Sequence, TextIO

import numpy as np

from . import __version__
from ._files import atomic_write
from .datafiles import read_data
from .errors import ModelError, ProviderError, RuntimeInputError
from .inference import classify, predict
from .network import Network, load
from .streams import StreamPool

FORMATS = ("text", "json", "csv", "npz")
_EXTENSIONS = {".txt": "text", ".json": "json", ".csv": "csv", ".npz": "npz"}


def _positive(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {value}")
    return value


def main(argv: Sequence[str] | None = None, *, prog: str = "lstm2onnx-run") -> int:
    parser = argparse.ArgumentParser(prog=prog, description="Run lstm2onnx models with onnxruntime.")
    parser.add_argument("--version", action="version", version=f"%(prog)s (lstm2onnx-runtime) {__version__}")
    commands = parser.add_subparsers(dest="command", required=True)
    p = commands.add_parser("predict", help="predict (or classify) the sequences in a data file")
    p.add_argument("model")
    p.add_argument("data", help=".npy, .npz or .csv")
    p.add_argument("--provider", default="auto", choices=["auto", "cpu", "cuda"])
    p.add_argument("--mini-batch-size", type=_positive, default=128)
    p.add_argument("--format", choices=FORMATS, help="text (default when printing), json, csv or npz (default: from -o's extension)")
    p.add_argument("-o", "--output", help="write the results to this file (exactly this name), or '-' for stdout")
    s = commands.add_parser("stream", help="read one time step per line on stdin, print each step's output")
    s.add_argument("model")
    s.add_argument("--provider", default="auto", choices=["auto", "cpu", "cuda"])
    args = parser.parse_args(argv)
    try:
        if args.command == "predict":
            target, form = _output_target(args)  # refused before the model is even loaded
            net = load(args.model, args.provider)
            return _predict(net, args, target, form, prog)
        return stream(load(args.model, args.provider), sys.stdin, sys.stdout, sys.stderr)
    except (RuntimeInputError, ModelError, ProviderError) as error:
        print(f"{prog} {args.command}: error: {error}", file=sys.stderr)
        return 1
    except BrokenPipeError:
        return _closed_pipe()
    except OSError as error:
        print(f"{prog} {args.command}: error: {error.strerror or error}{f': {error.filename}' if error.filename else ''}", file=sys.stderr)
        return 1


def _closed_pipe() -> int:
    """The reader went away (``| head``): stop quietly, exit 0, and keep Python from complaining at exit.

    The recipe of Python's signal documentation: point stdout at /dev/null so the
    interpreter's final flush does not raise again.
    """
    devnull = os.open(os.devnull, os.O_WRONLY)
    try:
        os.dup2(devnull, sys.stdout.fileno())
    except (OSError, ValueError):  # stdout is not a real file (e.g. captured in tests)
        pass
    finally:
        os.close(devnull)
    return 0


def _output_target(args: argparse.Namespace) -> tuple[str | None, str]:
    """``(path or None for stdout, format)``; refuses an output that is the data or the model file."""
    out = args.output
    if out is None or out == "-":
        return None, args.format or "text"
    form = args.format or _EXTENSIONS.get(os.path.splitext(out)[1].lower())
    if form is None:
        raise RuntimeInputError(f"-o {out!r}: cannot tell the format from the extension; use .txt, .json, .csv or .npz, or give --format")
    for role, path in (("data", args.data), ("model", args.model)):
        if _same_file(out, path):
            raise RuntimeInputError(f"-o {out!r} is the {role} file; choose another output name")
    if os.path.isdir(out):
        raise RuntimeInputError(f"-o {out!r} is a folder; give a file name")
    return out, form


def _same_file(a: str, b: str) -> bool:
    try:
        return os.path.samefile(a, b)
    except OSError:  # one does not exist (yet)
        return os.path.abspath(a) == os.path.abspath(b)


def _predict(net: Network, args: argparse.Namespace, target: str | None, form: str, prog: str) -> int:
    data, description = read_data(args.data)
    if net.info.task == "classification":
        labels, scores = classify(net, data, MiniBatchSize=args.mini_batch_size)
    else:
        labels, scores = None, predict(net, data, MiniBatchSize=args.mini_batch_size)
    print(f"{prog} predict: read {args.data}: {description}", file=sys.stderr)  # after the checks: an error stays one line
    single = isinstance(data, np.ndarray) and data.ndim == 2  # one sequence: one result, whatever its shape
    outputs = [scores] if single else list(scores)
    names = None if labels is None else [labels] if single else list(labels)
    if target is None:
        if form == "npz":
            raise RuntimeInputError("--format npz writes a binary file: give -o OUT.npz")
        sys.stdout.write(_render(form, outputs, names, net))
        sys.stdout.flush()
        return 0
    with atomic_write(target, text=form != "npz") as handle:
        if form == "npz":
            np.savez(handle, **_arrays(scores, labels))
        else:
            handle.write(_render(form, outputs, names, net))
    print(f"{prog} predict: wrote {target} ({form}, {len(outputs)} results)", file=sys.stderr)
    return 0


def _arrays(scores: Any, labels: Any) -> dict[str, np.ndarray]:
    """The ``.npz`` layout: ``outputs`` (and ``labels``), or ``output_k`` (and ``labels_k``) per ragged sequence."""
    if isinstance(scores, list):
        results = {f"output_{k}": y for k, y in enumerate(scores)}
        if labels is not None:
            results.update({f"labels_{k}": np.asarray(lab) for k, lab in enumerate(labels)})
        return results
    results = {"outputs": np.asarray(scores)}
    if labels is not None:
        results["labels"] = np.asarray(labels)
    return results


def _render(form: str, outputs: list, labels: list | None, net: Network) -> str:
    """text: one numbered line per sequence; json: ``{"task", "classes", "results": [{"sequence", "label", "output"}]}``;
    csv: a header, then one row per sequence (one-step outputs) or per time step (``sequence, step, ...``)."""
    if form == "json":
        results = []
        for k, y in enumerate(outputs):
            item: dict[str, Any] = {"sequence": k + 1}
            if labels is not None:
                item["label"] = np.asarray(labels[k]).tolist()
            item["output"] = np.asarray(y, np.float64).tolist()
            results.append(item)
        classes = list(net.classes) if net.info.task == "classification" else None
        return json.dumps({"task": net.info.task, "classes": classes, "results": results}) + "\n"
    if form == "csv":
        buffer = io.StringIO()
        writer = csv.writer(buffer, lineterminator="\n")
        columns = list(net.classes) if net.info.task == "classification" else [f"output_{j + 1}" for j in range(net.info.output_size)]
        per_step = net.info.sequence_output
        writer.writerow(["sequence", *(["step"] if per_step else []), *(["label"] if labels is not None else []), *columns])
        for k, y in enumerate(outputs):
            rows = np.asarray(y).reshape(-1, net.info.output_size)
            steps = np.asarray(labels[k]).reshape(-1) if labels is not None else None
            for t, row in enumerate(rows):
                label = [steps[t]] if steps is not None else []
                writer.writerow([k + 1, *([t + 1] if per_step else []), *label, *(f"{v:.9g}" for v in row)])
        return buffer.getvalue()
    lines = []
    for k, y in enumerate(outputs):
        label = ""
        if labels is not None:
            label = f"{labels[k] if np.ndim(labels[k]) == 0 else ' '.join(map(str, labels[k]))}  "
        lines.append(f"{k + 1}: {label}{np.array2string(np.asarray(y), precision=6, max_line_width=200)}\n")
    return "".join(lines)


def stream(net: Network, lines: TextIO, out: TextIO, err: TextIO) -> int:
    """One time step per input line -> one output line; 'reset' restarts; bad lines are reported and skipped.

    Returns 1 if any line was skipped (after all lines were read), else 0.
    """
    pool = StreamPool(net)
    s = pool.open()
    classes = net.classes if net.info.task == "classification" else None
    skipped = 0
    for number, line in enumerate(lines, 1):
        text = line.strip()
        if not text or text.startswith("#"):
            continue
        if text.lower() == "reset":
            s.reset()
            print("reset", file=out, flush=True)
            continue
        try:
            values = [float(v) for v in text.replace(",", " ").split()]
            y = s.step(np.array([values], np.float32))
        except (ValueError, RuntimeInputError) as error:
            print(f"line {number}: {error}", file=err, flush=True)
            skipped += 1
            continue
        y = y[-1] if y.ndim == 2 else y
        prefix = f"{classes[int(y.argmax())]} " if classes else ""
        print(prefix + " ".join(f"{v:.6g}" for v in y), file=out, flush=True)
    if skipped:
        print(f"stream: skipped {skipped} bad line{'s' if skipped != 1 else ''}", file=err, flush=True)
    return 1 if skipped else 0


if __name__ == "__main__":
    sys.exit(main())
