"""Train the Japanese Vowels model with the MATLAB page's recipe, or report accuracy over several seeds.

    python models/japanese_vowels/train.py                 # seed 0: writes japanese_vowels.onnx and training-progress.png here
    python models/japanese_vowels/train.py --out /tmp/jv   # the same into another folder (e.g. to check it is deterministic)
    python models/japanese_vowels/train.py --seeds 5       # seeds 0..4: median/min/max test accuracy (nothing written here)

The recipe (net.m and the page's trainingOptions): adam, MaxEpochs 100, MiniBatchSize 27,
GradientThreshold 1, ExecutionEnvironment 'cpu'. Accuracy is measured by classifying the 370
test sequences with onnxruntime on the exported model.
"""

from __future__ import annotations

import argparse
import os
import statistics
import tempfile

from lstm2onnx.examples import MATLAB_ACCURACY, japanese_vowels
from lstm2onnx.matlab import from_matlab

HERE = os.path.dirname(os.path.abspath(__file__))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--seeds", type=int, help="train this many seeds (0, 1, ...) and report median/min/max accuracy")
    parser.add_argument("--out", default=HERE, help="folder for japanese_vowels.onnx and training-progress.png (default: here)")
    args = parser.parse_args()
    with open(os.path.join(HERE, "net.m"), encoding="utf-8") as handle:
        spec = from_matlab(handle.read())
    if args.seeds:
        accuracies, times = [], []
        for seed in range(args.seeds):
            with tempfile.TemporaryDirectory() as folder:
                result = japanese_vowels(folder, seed=seed, plots=False, layers=spec)
            accuracies.append(result["accuracy"])
            times.append(result["seconds"])
            print(f"seed {seed}: test accuracy {result['accuracy']:.4f} (onnxruntime), trained in {result['seconds']:.1f} s")
        print(f"{args.seeds} seeds: median {statistics.median(accuracies):.4f}, min {min(accuracies):.4f}, max {max(accuracies):.4f} "
              f"(MATLAB's documented figure {MATLAB_ACCURACY:.4f}); median training time {statistics.median(times):.1f} s")
        return 0
    os.makedirs(args.out, exist_ok=True)
    result = japanese_vowels(args.out, seed=args.seed, layers=spec)
    correct = round(result["accuracy"] * 370)
    print(f"seed {args.seed}: test accuracy {result['accuracy']:.4f} ({correct} of 370) in onnxruntime (MATLAB {MATLAB_ACCURACY:.4f}); "
          f"trained in {result['seconds']:.1f} s; wrote {os.path.relpath(result['path'])} and {os.path.relpath(result['info'].PlotFile)}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
