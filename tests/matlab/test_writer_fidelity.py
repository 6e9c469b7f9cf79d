"""``to_matlab`` writes what MATLAB's layer constructors accept, for every layer type lstm2onnx knows.

Each layer is written with options away from their defaults, read back by our MATLAB front end
to the same layers, and the MATLAB syntax points are checked against MATLAB's own sources:

- the ``arguments`` blocks of MATLAB's lstmLayer.m, fullyConnectedLayer.m and sequenceInputLayer.m
  (Deep Learning Toolbox, "Copyright 2015/2017-2023 The MathWorks", as vendored in the public
  repository ml-malaria-prediction/ml-malaria-prediction, utils/*.m): the option names each takes
  (no ``InputSize`` for lstmLayer or fullyConnectedLayer), statistics ``HasRowVectorStats`` false
  (Mean is InputSize-by-1), and classificationLayer.m's Classes ("a string vector, a categorical
  vector, a cell array of character vectors, or 'auto'");
- the reference pages (mathworks.com/help/deeplearning/ref/...): convolution1dLayer(filterSize,
  numFilters, Name=Value) with NumChannels among its options, indexing1dLayer(index),
  lstmProjectedLayer(numHiddenUnits, outputProjectorSize, inputProjectorSize),
  batchNormalizationLayer(Name=Value) setting "TrainedMean, TrainedVariance, Epsilon, Parameters and
  Initialization, Learning Rate and Regularization, and Name" (no NumChannels);
- wordEmbeddingLayer's OOVMode exists from R2023b on; its default 'map-to-last' is what earlier
  releases do, so it is left out;
- numbers: the shortest decimal of each float32, which MATLAB reads as a double and the layer
  stores as single, so the path decimal -> double -> single must give the float32 back.
"""

from __future__ import annotations

import re

import numpy as np
import pytest

from lstm2onnx import initialize
from lstm2onnx.layers import (
    averagePooling1dLayer,
    batchNormalizationLayer,
    bilstmLayer,
    classificationLayer,
    clippedReluLayer,
    convolution1dLayer,
    dropoutLayer,
    eluLayer,
    flattenLayer,
    fullyConnectedLayer,
    geluLayer,
    globalAveragePooling1dLayer,
    globalMaxPooling1dLayer,
    groupNormalizationLayer,
    gruLayer,
    gruProjectedLayer,
    indexing1dLayer,
    instanceNormalizationLayer,
    layerNormalizationLayer,
    leakyReluLayer,
    LAYER_TYPES,
    lstmLayer,
    lstmProjectedLayer,
    maxPooling1dLayer,
    regressionLayer,
    reluLayer,
    selfAttentionLayer,
    sequenceInputLayer,
    sigmoidLayer,
    softmaxLayer,
    softplusLayer,
    swishLayer,
    tanhLayer,
    wordEmbeddingLayer,
)
from lstm2onnx.matlab import from_matlab
from lstm2onnx.matlab.writer import _float32, layer_call, to_matlab

# The name-value options of MATLAB's own constructors (their ``arguments`` blocks, see the module docstring).
MATLAB_OPTIONS = {
    "lstmLayer": {"Name", "OutputMode", "StateActivationFunction", "GateActivationFunction", "HasStateInputs", "HasStateOutputs",
                  "InputWeights", "RecurrentWeights", "Bias", "InputWeightsLearnRateFactor", "RecurrentWeightsLearnRateFactor",
                  "BiasLearnRateFactor", "InputWeightsL2Factor", "RecurrentWeightsL2Factor", "BiasL2Factor",
                  "InputWeightsInitializer", "RecurrentWeightsInitializer", "BiasInitializer", "HiddenState", "CellState"},
    "fullyConnectedLayer": {"Name", "WeightLearnRateFactor", "BiasLearnRateFactor", "WeightsInitializer", "BiasInitializer",
                            "WeightL2Factor", "BiasL2Factor", "Weights", "Bias"},
    "sequenceInputLayer": {"Normalization", "NormalizationDimension", "Name", "Mean", "StandardDeviation", "Min", "Max",
                           "MinLength", "AverageImage", "SplitComplexInputs"},
}


def every_layer() -> list:
    """One of each layer type, with options away from MATLAB's defaults (sizes left 'auto', as MATLAB leaves them)."""
    return [
        sequenceInputLayer(3, Name="in 'x' \"y\"", Normalization="zscore", Mean=[1.5, -2, 3e-7], StandardDeviation=[1, 2, 0.25],
                           MinLength=4),
        convolution1dLayer(3, 4, Name="c", Stride=2, DilationFactor=2, Padding=[2, 1], PaddingValue=0.5, NumChannels=3,
                           Bias=[0.1, 0.2, 0.3, 0.4], WeightL2Factor=2),
        batchNormalizationLayer(Name="bn", Epsilon=1e-4, MeanDecay=0.2, VarianceDecay=0.3, TrainedMean=[1, 2, 3, 4],
                                TrainedVariance=[1, 1, 2, 2]),
        layerNormalizationLayer(Name="ln", Epsilon=1e-3, OperationDimension="batch-excluded", ScaleL2Factor=0.5),
        maxPooling1dLayer(2, Stride=2, Padding=[1, 0]),
        averagePooling1dLayer(3, Padding="same", PaddingValue="mean"),
        lstmLayer(5, Name="l", StateActivationFunction="softsign", GateActivationFunction="hard-sigmoid",
                  InputWeightsLearnRateFactor=[1, 2, 3, 4], HiddenState=np.arange(5) / 7, BiasInitializer="narrow-normal"),
        bilstmLayer(2, BiasL2Factor=0.5, CellState=[1, 2, 3, 4]),
        gruLayer(3, ResetGateMode="before-multiplication", RecurrentWeightsL2Factor=[1, 0, 2]),
        gruLayer(3, ResetGateMode="recurrent-bias-after-multiplication", Bias=np.arange(18) / 3),
        lstmProjectedLayer(6, 2, 3, OutputMode="sequence", InputProjectorL2Factor=0.5),
        gruProjectedLayer(6, 2, 3, ResetGateMode="before-multiplication"),
        fullyConnectedLayer(4, Name="fc", WeightL2Factor=2, BiasInitializer="ones"),
        leakyReluLayer(0.2), clippedReluLayer(6), eluLayer(0.5), geluLayer(Approximation="tanh"), reluLayer(Name="r"), tanhLayer(),
        sigmoidLayer(), swishLayer(), flattenLayer(Name="f"), dropoutLayer(0.3), softplusLayer(Name="sp"),
        instanceNormalizationLayer(Epsilon=1e-3, OffsetL2Factor=0.5), groupNormalizationLayer(2, NumChannels=4, Scale=[1, 2, 3, 4]),
        groupNormalizationLayer("all-channels", Name="gn"), groupNormalizationLayer("channel-wise", ScaleInitializer="narrow-normal"),
        indexing1dLayer("last", Name="idx"), globalAveragePooling1dLayer(), globalMaxPooling1dLayer(),
        wordEmbeddingLayer(4, 10, WeightL2Factor=0.5), wordEmbeddingLayer(4, 10, OOVMode="error"),
        selfAttentionLayer(2, 8, Name="sa", NumValueChannels=4, OutputSize=3, AttentionMask="causal", DropoutProbability=0.1,
                           WeightsInitializer="he", BiasL2Factor=0.5),
        softmaxLayer(), classificationLayer(Classes=["yes", 'no "really"', "it's"], ClassWeights=[1, 3, 2]),
        regressionLayer(ResponseNames=["r1", "r2"]),
    ]


def calls() -> dict[str, list[str]]:
    out: dict[str, list[str]] = {}
    for layer in every_layer():
        out.setdefault(layer.FUNCTION, []).append(layer_call(layer, learnables=True))
    return out


def option_names(call: str) -> list[str]:
    """The names of a call's name-value pairs: its top-level arguments (split at commas outside quotes and brackets)
    after the positional ones, every other one."""
    inner = call[call.index("(") + 1:-1] if "(" in call else ""
    args, depth, quoted, start = [], 0, False, 0
    for k, char in enumerate(inner):
        if char == '"':
            quoted = not quoted
        elif not quoted and char in "([":
            depth += 1
        elif not quoted and char in ")]":
            depth -= 1
        elif not quoted and depth == 0 and char == ",":
            args.append(inner[start:k].strip())
            start = k + 1
    args.append(inner[start:].strip())
    first = next((k for k, arg in enumerate(args) if arg.startswith('"') and k % 2 == len(args) % 2), len(args))
    return [arg.strip('"') for arg in args[first::2]]


def test_every_layer_type_is_covered():
    assert set(calls()) == set(LAYER_TYPES)


def test_every_layer_reads_back_the_same():
    layers = every_layer()
    for learnables in (True, False):
        back = list(from_matlab(to_matlab(layers, learnables=learnables)))
        assert len(back) == len(layers)
        for got, layer in zip(back, layers):
            want = layer if learnables else type(layer).from_dict(layer.to_dict(learnables=False))
            assert got == want, layer.FUNCTION


def test_positional_arguments_in_matlabs_order():
    written = calls()
    assert written["convolution1dLayer"][0].startswith("convolution1dLayer(3, 4, ")  # (filterSize, numFilters)
    assert written["maxPooling1dLayer"][0].startswith("maxPooling1dLayer(2, ")  # (poolSize)
    assert written["averagePooling1dLayer"][0].startswith("averagePooling1dLayer(3, ")
    assert written["wordEmbeddingLayer"][0] .startswith("wordEmbeddingLayer(4, 10, ")  # (dimension, numWords)
    assert written["lstmProjectedLayer"][0].startswith("lstmProjectedLayer(6, 2, 3, ")  # (numHiddenUnits, outputProjectorSize, inputProjectorSize)
    assert written["gruProjectedLayer"][0].startswith("gruProjectedLayer(6, 2, 3, ")
    assert written["sequenceInputLayer"][0].startswith("sequenceInputLayer(3, ")
    assert written["lstmLayer"][0].startswith("lstmLayer(5, ") and written["fullyConnectedLayer"][0].startswith("fullyConnectedLayer(4, ")
    for function, text in (("dropoutLayer", "dropoutLayer(0.3)"), ("leakyReluLayer", "leakyReluLayer(0.2)"),
                           ("clippedReluLayer", "clippedReluLayer(6)"), ("eluLayer", "eluLayer(0.5)")):
        assert written[function] == [text]
    # indexing1dLayer(index): the page documents Index positionally; never as an "Index" name-value pair
    assert written["indexing1dLayer"] == ['indexing1dLayer("last", "Name", "idx")']
    assert layer_call(indexing1dLayer()) == 'indexing1dLayer("first")'
    assert from_matlab('layers = [indexing1dLayer("first")];')[0] == indexing1dLayer()


def test_name_value_names_are_matlabs():
    for function, texts in calls().items():
        for text in texts:
            names = option_names(text)
            assert "InputSize" not in names or function == "sequenceInputLayer", text
            if function in MATLAB_OPTIONS:
                assert set(names) <= MATLAB_OPTIONS[function], text
    lstm = calls()["lstmLayer"][0]
    assert '"StateActivationFunction", "softsign"' in lstm and '"GateActivationFunction", "hard-sigmoid"' in lstm
    assert '"BiasInitializer", "narrow-normal"' in lstm
    assert '"InputWeightsLearnRateFactor", [1 2 3 4]' in lstm  # a 1-by-4 row, as MATLAB's (1,:) validation wants
    # MATLAB's spelling of the GRU modes (not the 'before-reset' lstm2onnx once wrote), even when read in the old spelling
    assert '"ResetGateMode", "before-multiplication"' in calls()["gruLayer"][0]
    assert '"ResetGateMode", "before-multiplication"' in layer_call(gruLayer(2, ResetGateMode="before-reset"))


def test_vectors_have_matlabs_orientation():
    written = calls()
    assert '"Mean", [1.5; -2; 3e-07]' in written["sequenceInputLayer"][0]  # InputSize-by-1 ('HasRowVectorStats', false)
    assert '"TrainedMean", [1; 2; 3; 4]' in written["batchNormalizationLayer"][0]
    assert '"CellState", [1; 2; 3; 4]' in written["bilstmLayer"][0]
    assert '"ClassWeights", [1; 3; 2]' in written["classificationLayer"][0]
    assert '"Bias", [0.1 0.2 0.3 0.4]' in written["convolution1dLayer"][0]  # convolution1dLayer's Bias is 1-by-NumFilters
    assert '"Padding", [2 1]' in written["convolution1dLayer"][0]  # [left right]
    # gruLayer's recurrent-bias mode: MATLAB's one 6H-by-1 Bias [b; b_R], no RecurrentBias option
    bias = re.search(r'"Bias", \[([^\]]*)\]', written["gruLayer"][1]).group(1)
    assert bias.count(";") == 17 and '"RecurrentBias"' not in written["gruLayer"][1]


def test_text_values_are_matlab_literals():
    written = calls()
    assert '"Name", "in \'x\' ""y"""' in written["sequenceInputLayer"][0]  # " doubled; ' needs no escape in a string
    assert '"Classes", ["yes" "no ""really""" "it\'s"]' in written["classificationLayer"][0]  # a string array
    assert '"ResponseNames", ["r1" "r2"]' in written["regressionLayer"][0]
    assert '"Padding", "same", "PaddingValue", "mean"' in written["averagePooling1dLayer"][0]


def test_options_only_newer_releases_know_are_left_out_at_their_default():
    assert calls()["wordEmbeddingLayer"] == ['wordEmbeddingLayer(4, 10, "WeightL2Factor", 0.5)',
                                             'wordEmbeddingLayer(4, 10, "OOVMode", "error")']
    assert from_matlab("layers = [wordEmbeddingLayer(4, 10)];")[0].OOVMode == "map-to-last"


def test_long_arrays_are_continued_over_lines_and_read_back_bit_exact():
    net = initialize([sequenceInputLayer(7), convolution1dLayer(3, 5), lstmLayer(40), fullyConnectedLayer(3), regressionLayer()], seed=3)
    text = to_matlab(net, learnables=True)
    lines = text.splitlines()
    assert len(lines) > 100 and max(map(len, lines)) < 250
    assert all(lines[k - 1].endswith(" ...") for k, line in enumerate(lines) if line.startswith("        "))  # each a continuation
    for got, want in zip(from_matlab(text), net):
        for name in ("InputWeights", "RecurrentWeights", "Bias", "Weights"):
            if getattr(want, name, None) is not None:
                assert np.array_equal(getattr(got, name), getattr(want, name)), (want.FUNCTION, name)


def test_numbers_survive_matlabs_decimal_double_single_path():
    """MATLAB parses a literal to double; the layer stores single: every float32 must come back from its text."""
    rng = np.random.default_rng(0)
    x = rng.integers(0, 2**32, 100_000, dtype=np.uint64).astype(np.uint32).view(np.float32)
    x = np.concatenate([x[np.isfinite(x)], np.array([np.finfo(np.float32).tiny, np.finfo(np.float32).max, 1e-45, -0.0, 16777217],
                                                     dtype=np.float32)])
    back = np.array([float(_float32(v)) for v in x]).astype(np.float32)
    assert np.array_equal(back.view(np.uint32), x.view(np.uint32))
