"""MATLAB's option values and defaults, spelled as MATLAB spells them (a guard against another 'before-reset').

Each row is a property's documented value set, in MATLAB's spelling, and its documented default (R2023b-R2024b
reference pages, https://www.mathworks.com/help/deeplearning/ref/<layer>.html and .../trainingoptions.html).
Every listed value must be accepted as written and kept in that spelling, so that a MATLAB script runs and
``to_matlab`` writes back what MATLAB accepts. Values MATLAB has that lstm2onnx does not support are left out
(see the value lists' own tests for what is refused).
"""

from __future__ import annotations

import pytest

from lstm2onnx.layers import LAYER_TYPES
from lstm2onnx.training.options import trainingOptions

REQUIRED = {
    "sequenceInputLayer": {"InputSize": 3},
    "lstmLayer": {"NumHiddenUnits": 2},
    "bilstmLayer": {"NumHiddenUnits": 2},
    "gruLayer": {"NumHiddenUnits": 2},
    "lstmProjectedLayer": {"NumHiddenUnits": 4, "OutputProjectorSize": 2, "InputProjectorSize": 2},
    "gruProjectedLayer": {"NumHiddenUnits": 4, "OutputProjectorSize": 2, "InputProjectorSize": 2},
    "fullyConnectedLayer": {"OutputSize": 2},
    "convolution1dLayer": {"FilterSize": 3, "NumFilters": 2},
    "maxPooling1dLayer": {"PoolSize": 3},
    "averagePooling1dLayer": {"PoolSize": 3},
    "wordEmbeddingLayer": {"Dimension": 2, "NumWords": 5},
}

WEIGHTS = ("glorot", "he", "orthogonal", "narrow-normal", "zeros", "ones")
BIASES = ("zeros", "narrow-normal", "ones")
RECURRENT = ("lstmLayer", "bilstmLayer", "gruLayer", "lstmProjectedLayer", "gruProjectedLayer")
LSTMS = ("lstmLayer", "bilstmLayer", "lstmProjectedLayer")
GRUS = ("gruLayer", "gruProjectedLayer")

# (layer, property, MATLAB's default, MATLAB's values that lstm2onnx supports)
LAYER_VALUES = [
    ("sequenceInputLayer", "Normalization", "none", ("none", "zerocenter", "zscore", "rescale-symmetric", "rescale-zero-one")),
    ("sequenceInputLayer", "NormalizationDimension", "auto", ("auto", "channel", "element", "all")),
    *[(f, "OutputMode", "sequence", ("sequence", "last")) for f in RECURRENT],
    *[(f, "StateActivationFunction", "tanh", ("tanh", "softsign")) for f in RECURRENT],
    *[(f, "GateActivationFunction", "sigmoid", ("sigmoid", "hard-sigmoid")) for f in RECURRENT],
    *[(f, "ResetGateMode", "after-multiplication",
       ("after-multiplication", "before-multiplication", "recurrent-bias-after-multiplication")) for f in GRUS],
    *[(f, "InputWeightsInitializer", "glorot", WEIGHTS) for f in RECURRENT],
    *[(f, "RecurrentWeightsInitializer", "orthogonal", WEIGHTS) for f in RECURRENT],
    *[(f, "BiasInitializer", "unit-forget-gate", ("unit-forget-gate", "narrow-normal", "ones")) for f in LSTMS],
    *[(f, "BiasInitializer", "zeros", BIASES) for f in GRUS],
    *[(f, p, "orthogonal", WEIGHTS) for f in ("lstmProjectedLayer", "gruProjectedLayer")
      for p in ("InputProjectorInitializer", "OutputProjectorInitializer")],
    ("fullyConnectedLayer", "WeightsInitializer", "glorot", WEIGHTS),
    ("fullyConnectedLayer", "BiasInitializer", "zeros", BIASES),
    ("convolution1dLayer", "WeightsInitializer", "glorot", ("glorot", "he", "narrow-normal", "zeros", "ones")),
    ("convolution1dLayer", "BiasInitializer", "zeros", BIASES),
    ("convolution1dLayer", "Padding", (0, 0), ("same", "causal")),
    ("maxPooling1dLayer", "Padding", (0, 0), ("same", "causal")),
    ("averagePooling1dLayer", "Padding", (0, 0), ("same", "causal")),
    ("averagePooling1dLayer", "PaddingValue", 0.0, ("mean",)),
    ("batchNormalizationLayer", "OffsetInitializer", "zeros", BIASES),
    ("batchNormalizationLayer", "ScaleInitializer", "ones", BIASES),
    ("layerNormalizationLayer", "OperationDimension", "auto", ("auto", "channel-only", "spatial-channel", "batch-excluded")),
    ("geluLayer", "Approximation", "none", ("none", "tanh")),
    ("indexing1dLayer", "Index", "first", ("first", "last")),
    ("wordEmbeddingLayer", "WeightsInitializer", "narrow-normal", WEIGHTS),
    # MATLAB's page (since R2023b) lists "map-to-last" first; it was the only behaviour before R2023b
    ("wordEmbeddingLayer", "OOVMode", "map-to-last", ("map-to-last", "error")),
]


@pytest.mark.parametrize(("function", "prop", "default", "spellings"), LAYER_VALUES,
                         ids=[f"{f}.{p}" for f, p, _, _ in LAYER_VALUES])
def test_layer_values_are_matlabs(function, prop, default, spellings):
    cls = LAYER_TYPES[function]
    if default is not None:
        assert getattr(cls(**REQUIRED.get(function, {})), prop) == default
    for value in spellings:
        layer = cls(**REQUIRED.get(function, {}), **{prop: value})
        assert getattr(layer, prop) == value
        assert type(layer).from_dict(layer.to_dict()) == layer  # the spec keeps MATLAB's spelling


# (option, MATLAB's default, MATLAB's values that lstm2onnx supports)
TRAINING_VALUES = [
    ("LearnRateSchedule", "none", ("none", "piecewise")),
    ("GradientThresholdMethod", "l2norm", ("l2norm", "global-l2norm", "absolute-value")),
    ("Shuffle", "once", ("once", "every-epoch", "never")),
    ("SequenceLength", "longest", ("longest", "shortest")),
    ("SequencePaddingDirection", "right", ("right", "left")),
    ("Plots", "none", ("none", "training-progress")),
    ("ExecutionEnvironment", "auto", ("auto", "cpu", "gpu")),
    ("BatchNormalizationStatistics", "population", ("population", "moving")),
    ("OutputNetwork", "last-iteration", ("last-iteration", "best-validation-loss", "best-validation", "auto")),
    ("ObjectiveMetricName", "loss", ("loss", "accuracy", "rmse")),
]


@pytest.mark.parametrize(("option", "default", "spellings"), TRAINING_VALUES, ids=[o for o, _, _ in TRAINING_VALUES])
def test_training_option_values_are_matlabs(option, default, spellings):
    assert getattr(trainingOptions("adam"), option) == default
    for value in spellings:
        assert getattr(trainingOptions("adam", **{option: value}), option) == value


def test_solver_names_are_matlabs():
    assert [trainingOptions(s).Solver for s in ("sgdm", "adam", "rmsprop")] == ["sgdm", "adam", "rmsprop"]
