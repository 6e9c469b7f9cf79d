"""The networks of MATLAB's ``lstmLayer`` page, translated line for line, and the main job.

``python -m lstm2onnx.examples [--out DIR] [--seed S]``:

1. the page's Japanese Vowels example end to end: train the sequence-to-label
   network with the page's options, export it, classify the 370 test sequences
   in onnxruntime and print the accuracy next to MATLAB's documented 0.9270;
2. every other network of the page: build, write the ``.onnx`` file, run it in
   onnxruntime on a ragged batch shaped like the data (12 features, 7 to 29
   steps) and print the layer table, the output shape and the max abs
   difference from the numpy reference; likewise a CNN-LSTM network
   (convolution1dLayer, reluLayer, maxPooling1dLayer before the LSTM).
"""

from __future__ import annotations

import argparse
import os
import time
from typing import Callable

import numpy as np

from .layers import (
    Layer,
    classificationLayer,
    convolution1dLayer,
    fullyConnectedLayer,
    gruLayer,
    lstmLayer,
    maxPooling1dLayer,
    regressionLayer,
    reluLayer,
    sequenceInputLayer,
    softmaxLayer,
)
from .network import LayerArray

numFeatures = 12


def sequence_to_label() -> LayerArray:
    numHiddenUnits, numClasses = 100, 9
    return LayerArray([sequenceInputLayer(numFeatures), lstmLayer(numHiddenUnits, "OutputMode", "last"),
                       fullyConnectedLayer(numClasses), softmaxLayer(), classificationLayer()])


def sequence_to_sequence_classification() -> LayerArray:
    numHiddenUnits, numClasses = 100, 9
    return LayerArray([sequenceInputLayer(numFeatures), lstmLayer(numHiddenUnits, "OutputMode", "sequence"),
                       fullyConnectedLayer(numClasses), softmaxLayer(), classificationLayer()])


def sequence_to_one_regression() -> LayerArray:
    numHiddenUnits, numResponses = 125, 1
    return LayerArray([sequenceInputLayer(numFeatures), lstmLayer(numHiddenUnits, "OutputMode", "last"),
                       fullyConnectedLayer(numResponses), regressionLayer()])


def sequence_to_sequence_regression() -> LayerArray:
    numHiddenUnits, numResponses = 125, 1
    return LayerArray([sequenceInputLayer(numFeatures), lstmLayer(numHiddenUnits, "OutputMode", "sequence"),
                       fullyConnectedLayer(numResponses), regressionLayer()])


def stacked_sequence_to_label() -> LayerArray:
    numHiddenUnits1, numHiddenUnits2, numClasses = 125, 100, 9
    return LayerArray([sequenceInputLayer(numFeatures), lstmLayer(numHiddenUnits1, "OutputMode", "sequence"),
                       lstmLayer(numHiddenUnits2, "OutputMode", "last"), fullyConnectedLayer(numClasses), softmaxLayer(),
                       classificationLayer()])


def stacked_sequence_to_sequence() -> LayerArray:
    numHiddenUnits1, numHiddenUnits2, numClasses = 125, 100, 9
    return LayerArray([sequenceInputLayer(numFeatures), lstmLayer(numHiddenUnits1, "OutputMode", "sequence"),
                       lstmLayer(numHiddenUnits2, "OutputMode", "sequence"), fullyConnectedLayer(numClasses), softmaxLayer(),
                       classificationLayer()])


def cnn_lstm_sequence_to_label() -> LayerArray:
    """A CNN-LSTM front end (issue 10): a causal 1-D convolution and max pooling over time before the LSTM."""
    numFilters, numHiddenUnits, numClasses = 32, 100, 9
    return LayerArray([sequenceInputLayer(numFeatures), convolution1dLayer(3, numFilters, "Padding", "causal"), reluLayer(),
                       maxPooling1dLayer(2, "Stride", 2), lstmLayer(numHiddenUnits, "OutputMode", "last"), fullyConnectedLayer(numClasses),
                       softmaxLayer(), classificationLayer()])


def gru_sequence_to_label() -> LayerArray:
    """A GRU network (issue 10): a gruLayer with a recurrent bias, then a 'before-multiplication' one that outputs the last step."""
    numHiddenUnits1, numHiddenUnits2, numClasses = 125, 100, 9
    return LayerArray([sequenceInputLayer(numFeatures), gruLayer(numHiddenUnits1, "ResetGateMode", "recurrent-bias-after-multiplication"),
                       gruLayer(numHiddenUnits2, "OutputMode", "last", "ResetGateMode", "before-multiplication"), fullyConnectedLayer(numClasses),
                       softmaxLayer(), classificationLayer()])


EXAMPLES: dict[str, Callable[[], LayerArray]] = {
    "sequence_to_label": sequence_to_label,
    "sequence_to_sequence_classification": sequence_to_sequence_classification,
    "sequence_to_one_regression": sequence_to_one_regression,
    "sequence_to_sequence_regression": sequence_to_sequence_regression,
    "stacked_sequence_to_label": stacked_sequence_to_label,
    "stacked_sequence_to_sequence": stacked_sequence_to_sequence,
    "gru_sequence_to_label": gru_sequence_to_label,
    "cnn_lstm_sequence_to_label": cnn_lstm_sequence_to_label,
}


def japanese_vowels_shaped_batch(rng: np.random.Generator, n: int = 27) -> list[np.ndarray]:
    """Random sequences with the data set's shape: 12 features, 7 to 29 time steps."""
    return [rng.standard_normal((int(rng.integers(7, 30)), numFeatures)).astype(np.float32) for _ in range(n)]


def run_example(name: str, layers: list[Layer], out_dir: str, seed: int = 0) -> dict:
    """Build, export, run in onnxruntime, and compare with the reference; return what was measured."""
    import onnxruntime as ort

    from . import reference
    from .builder import exportONNXNetwork
    from .network import initialize

    net = initialize(layers, seed)
    path = os.path.join(out_dir, f"{name}.onnx")
    exportONNXNetwork(net, path, ragged=True)
    sequences = japanese_vowels_shaped_batch(np.random.default_rng(seed))
    lengths = np.array([len(s) for s in sequences], np.int32)
    padded = np.zeros((len(sequences), lengths.max(), numFeatures), np.float32)
    for k, s in enumerate(sequences):
        padded[k, : len(s)] = s
    session = ort.InferenceSession(path, providers=["CPUExecutionProvider"])
    start = time.perf_counter()
    (output,) = session.run(None, {"sequences": padded, "sequence_lengths": lengths})
    elapsed = time.perf_counter() - start
    expected = reference.predict(net, sequences)
    error = reference.max_abs_error(output, expected)
    return {"path": path, "net": net, "shape": output.shape, "error": error, "ms": 1e3 * elapsed}


MATLAB_ACCURACY = 0.9270  # the page's figure for this recipe


def japanese_vowels(out_dir: str, seed: int = 0, verbose: bool = False, plots: bool = True, layers: list | None = None) -> dict:
    """The page's example, line for line: train, export, classify the test set in onnxruntime.

    ``layers`` replaces the page's layer array (e.g. parsed from models/japanese_vowels/net.m).
    """
    import lstm2onnx_runtime as rt

    from .builder import exportONNXNetwork
    from .datasets import japaneseVowelsTestData, japaneseVowelsTrainData
    from .training import classify, trainingOptions, trainNetwork

    XTrain, YTrain = japaneseVowelsTrainData()
    inputSize, numHiddenUnits, numClasses = 12, 100, 9
    if layers is None:
        layers = [sequenceInputLayer(inputSize), lstmLayer(numHiddenUnits, "OutputMode", "last"), fullyConnectedLayer(numClasses),
                  softmaxLayer(), classificationLayer()]
    maxEpochs, miniBatchSize = 100, 27
    options = trainingOptions("adam", "ExecutionEnvironment", "cpu", "MaxEpochs", maxEpochs, "MiniBatchSize", miniBatchSize,
                              "GradientThreshold", 1, "Verbose", verbose, "Plots", "training-progress" if plots else "none")
    start = time.perf_counter()
    net, info = trainNetwork(XTrain, YTrain, layers, options, seed=seed, plot_file=os.path.join(out_dir, "training-progress.png"))
    seconds = time.perf_counter() - start
    XTest, YTest = japaneseVowelsTestData()
    torch_labels, _ = classify(net, XTest, "MiniBatchSize", miniBatchSize)
    path = os.path.join(out_dir, "japanese_vowels.onnx")
    exportONNXNetwork(net, path, ragged=True, NetworkName="japanese_vowels")
    labels, _ = rt.classify(rt.load(path, "cpu"), XTest, MiniBatchSize=miniBatchSize)
    return {"net": net, "info": info, "path": path, "seconds": seconds, "accuracy": float(np.mean(labels == YTest)),
            "torch_accuracy": float(np.mean(torch_labels == YTest))}


def japanese_vowels_trainnet(out_dir: str, seed: int = 0, maxEpochs: int = 100) -> dict:
    """The same example in MATLAB's R2023b+ form: no output layer, trainnet with "crossentropy",
    minibatchpredict and scores2label; exported and classified in onnxruntime with the class names
    the network carries."""
    import lstm2onnx_runtime as rt

    from .builder import exportONNXNetwork
    from .datasets import japaneseVowelsTestData, japaneseVowelsTrainData
    from .training import minibatchpredict, scores2label, trainingOptions, trainnet

    XTrain, TTrain = japaneseVowelsTrainData()
    layers = [sequenceInputLayer(12), lstmLayer(100, OutputMode="last"), fullyConnectedLayer(9), softmaxLayer()]
    options = trainingOptions("adam", ExecutionEnvironment="cpu", MaxEpochs=maxEpochs, MiniBatchSize=27, GradientThreshold=1,
                              Metrics="accuracy", Verbose=False)
    start = time.perf_counter()
    net, info = trainnet(XTrain, TTrain, layers, "crossentropy", options, seed=seed)
    seconds = time.perf_counter() - start
    XTest, TTest = japaneseVowelsTestData()
    scores = minibatchpredict(net, XTest, MiniBatchSize=27)
    torch_labels = scores2label(scores, net.Classes)
    path = os.path.join(out_dir, "japanese_vowels_trainnet.onnx")
    exportONNXNetwork(net, path, ragged=True, NetworkName="japanese_vowels_trainnet")
    labels, _ = rt.classify(rt.load(path, "cpu"), XTest, MiniBatchSize=27)
    return {"net": net, "info": info, "path": path, "seconds": seconds, "accuracy": float(np.mean(labels == TTest)),
            "torch_accuracy": float(np.mean(torch_labels == TTest))}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", default="out", help="folder for the .onnx files and the training plot (default: out)")
    parser.add_argument("--seed", type=int, default=0, help="seed for initialization, shuffling and dropout (default 0)")
    args = parser.parse_args(argv)
    os.makedirs(args.out, exist_ok=True)
    print("== Japanese Vowels, sequence-to-label (MATLAB's lstmLayer example): training 100 epochs on the CPU ...")
    vowels = japanese_vowels(args.out, seed=args.seed)
    print(vowels["net"].Layers)
    print(f"  trained in {vowels['seconds']:.1f} s; model {vowels['path']}; plot {vowels['info'].PlotFile}")
    print(f"  test accuracy in onnxruntime: {vowels['accuracy']:.4f}   (MATLAB's documented figure: {MATLAB_ACCURACY:.4f}; "
          f"torch: {vowels['torch_accuracy']:.4f})\n")
    print("== The same, written for R2023b+: trainnet(XTrain, TTrain, layers, \"crossentropy\", options), minibatchpredict, scores2label ...")
    modern = japanese_vowels_trainnet(args.out, seed=args.seed)
    print(f"  trained in {modern['seconds']:.1f} s; model {modern['path']}")
    print(f"  test accuracy in onnxruntime: {modern['accuracy']:.4f}   (MATLAB's documented figure: {MATLAB_ACCURACY:.4f}; "
          f"torch: {modern['torch_accuracy']:.4f})\n")
    print(">> layer = lstmLayer(100, 'Name', 'lstm1')")
    print(lstmLayer(100, "Name", "lstm1"))
    worst = 0.0
    for name, make in EXAMPLES.items():
        layers = make()
        result = run_example(name, layers, args.out)
        worst = max(worst, result["error"])
        print(f"== {name}  ->  {result['path']}")
        print(layers)
        print(f"  onnxruntime CPU output {result['shape']} for 27 sequences of 7..29 steps in {result['ms']:.2f} ms; "
              f"max |onnxruntime - numpy reference| = {result['error']:.2e}\n")
    status = "OK" if worst <= 1e-5 else "ABOVE TOLERANCE"
    print(f"{len(EXAMPLES)} networks built and run; worst difference from the reference {worst:.2e} (tolerance 1e-5): {status}")
    for form, result in (("trainNetwork", vowels), ("trainnet", modern)):
        print(f"Japanese Vowels test accuracy ({form}) {result['accuracy']:.4f} vs MATLAB's {MATLAB_ACCURACY:.4f}: "
              f"{'reached' if result['accuracy'] >= MATLAB_ACCURACY else 'NOT reached'}")
    return 0 if worst <= 1e-5 else 1


if __name__ == "__main__":
    raise SystemExit(main())
