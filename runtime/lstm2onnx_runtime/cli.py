"""``lstm2onnx-run``: run lstm2onnx models from the shell (numpy + onnxruntime only).

    lstm2onnx-run predict MODEL.onnx DATA.(npz|npy|csv) [--provider cpu|cuda|auto] [--mini-batch-size N] [-o OUT.npz]
    lstm2onnx-run stream MODEL.onnx [--provider ...]

DATA: ``.npy`` holds one ``[time, features]`` sequence or a ``[batch, time,
features]`` array; ``.npz`` holds one sequence per array (file order) or one
3-D array; ``.csv`` holds one sequence, a row per time step (a header row is
skipped). ``stream`` reads one time step per line (numbers separated by
commas or spaces), prints the output for that step and keeps the state; a
line ``reset`` goes back to the initial state.
"""

from __future__ import annotations

import argparse
import os
import sys
from typing import Sequence, TextIO

import numpy as np

from .errors import ModelError, ProviderError, RuntimeInputError
from .inference import classify, predict
from .network import Network, load
from .streams import StreamPool


def main(argv: Sequence[str] | None = None, *, prog: str = "lstm2onnx-run") -> int:
    parser = argparse.ArgumentParser(prog=prog, description="Run lstm2onnx models with onnxruntime.")
    commands = parser.add_subparsers(dest="command", required=True)
    p = commands.add_parser("predict", help="predict (or classify) the sequences in a data file")
    p.add_argument("model")
    p.add_argument("data", help=".npy, .npz or .csv")
    p.add_argument("--provider", default="auto", choices=["auto", "cpu", "cuda"])
    p.add_argument("--mini-batch-size", type=int, default=128)
    p.add_argument("-o", "--output", help="write the results to this .npz file instead of printing them")
    s = commands.add_parser("stream", help="read one time step per line on stdin, print each step's output")
    s.add_argument("model")
    s.add_argument("--provider", default="auto", choices=["auto", "cpu", "cuda"])
    args = parser.parse_args(argv)
    try:
        net = load(args.model, args.provider)
        if args.command == "predict":
            return _predict(net, args)
        return stream(net, sys.stdin, sys.stdout, sys.stderr)
    except (RuntimeInputError, ModelError, ProviderError, OSError) as error:
        print(f"{prog} {args.command}: error: {error}", file=sys.stderr)
        return 1


def read_data(path: str) -> list[np.ndarray] | np.ndarray:
    extension = os.path.splitext(path)[1].lower()
    if extension == ".npy":
        return np.load(path, allow_pickle=False)
    if extension == ".npz":
        with np.load(path, allow_pickle=False) as archive:
            arrays = [archive[name] for name in archive.files]
        return arrays[0] if len(arrays) == 1 and arrays[0].ndim == 3 else arrays
    if extension == ".csv":
        with open(path, encoding="utf-8") as handle:
            lines = [line for line in handle.read().splitlines() if line.strip()]
        if lines and not _is_numeric_row(lines[0]):
            lines = lines[1:]
        try:
            return np.array([[float(v) for v in line.split(",")] for line in lines], np.float32)
        except ValueError as error:
            raise RuntimeInputError(f"{path}: every row after the header must be numbers separated by commas ({error})") from None
    raise RuntimeInputError(f"{path}: expected a .npy, .npz or .csv file")


def _is_numeric_row(line: str) -> bool:
    try:
        [float(v) for v in line.split(",")]
        return True
    except ValueError:
        return False


def _predict(net: Network, args: argparse.Namespace) -> int:
    data = read_data(args.data)
    if net.info.task == "classification":
        labels, scores = classify(net, data, MiniBatchSize=args.mini_batch_size)
    else:
        labels, scores = None, predict(net, data, MiniBatchSize=args.mini_batch_size)
    if args.output:
        results = {}
        if isinstance(scores, list):
            results.update({f"output_{k}": y for k, y in enumerate(scores)})
            if labels is not None:
                results.update({f"labels_{k}": np.asarray(lab) for k, lab in enumerate(labels)})
        else:
            results["outputs"] = np.asarray(scores)
            if labels is not None:
                results["labels"] = np.asarray(labels)
        np.savez(args.output, **results)
        print(f"wrote {args.output}")
        return 0
    items = scores if isinstance(scores, list) or np.ndim(scores) > 1 else [scores]
    names = labels if labels is not None and (isinstance(labels, list) or np.ndim(labels) > 0) else [labels]
    for k, y in enumerate(items):
        label = f"{names[k] if np.ndim(names[k]) == 0 else ' '.join(map(str, names[k]))}  " if labels is not None else ""
        print(f"{k + 1}: {label}{np.array2string(np.asarray(y), precision=6, max_line_width=200)}")
    return 0


def stream(net: Network, lines: TextIO, out: TextIO, err: TextIO) -> int:
    """One time step per input line -> one output line; 'reset' restarts; bad lines are reported and skipped."""
    pool = StreamPool(net)
    s = pool.open()
    classes = net.classes if net.info.task == "classification" else None
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
            continue
        y = y[-1] if y.ndim == 2 else y
        prefix = f"{classes[int(y.argmax())]} " if classes else ""
        print(prefix + " ".join(f"{v:.6g}" for v in y), file=out, flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
