"""Layer constructors: MATLAB name-value syntax, defaults, validation messages, display, spec round trip."""

from __future__ import annotations

import json
import re

import numpy as np
import pytest

from lstm2onnx import (
    LayerError,
    bilstmLayer,
    classificationLayer,
    dropoutLayer,
    fullyConnectedLayer,
    lstmLayer,
    regressionLayer,
    sequenceInputLayer,
    softmaxLayer,
)
from lstm2onnx.layers import Layer


def test_matlab_pairs_keywords_and_case_insensitive_names_agree():
    a = lstmLayer(100, "OutputMode", "last", "Name", "lstm1")
    b = lstmLayer(100, OutputMode="last", Name="lstm1")
    c = lstmLayer(100, "outputmode", "LAST", name="lstm1")
    assert a == b == c
    assert a.OutputMode == "last" and a.Name == "lstm1" and a.NumHiddenUnits == 100


def test_lstm_defaults_follow_matlab():
    layer = lstmLayer(100)
    assert (layer.Name, layer.InputSize, layer.OutputMode) == ("", "auto", "sequence")
    assert (layer.StateActivationFunction, layer.GateActivationFunction) == ("tanh", "sigmoid")
    assert (layer.InputWeightsInitializer, layer.RecurrentWeightsInitializer, layer.BiasInitializer) == ("glorot", "orthogonal", "unit-forget-gate")
    assert layer.InputWeightsLearnRateFactor == layer.RecurrentWeightsLearnRateFactor == layer.BiasLearnRateFactor == 1
    assert layer.InputWeightsL2Factor == layer.RecurrentWeightsL2Factor == 1 and layer.BiasL2Factor == 0
    assert layer.InputWeights is layer.RecurrentWeights is layer.Bias is layer.HiddenState is layer.CellState is None


def test_other_constructors_without_arguments_and_defaults():
    assert softmaxLayer().Name == "" and regressionLayer().Name == ""
    assert classificationLayer().Classes == "auto" and classificationLayer().ClassWeights == "none"
    assert dropoutLayer().Probability == 0.5 and dropoutLayer(0.2).Probability == 0.2
    assert dropoutLayer(0.2, "Name", "d").Name == "d" and dropoutLayer("Name", "d").Probability == 0.5
    fc = fullyConnectedLayer(9)
    assert (fc.InputSize, fc.WeightsInitializer, fc.BiasInitializer, fc.WeightL2Factor, fc.BiasL2Factor) == ("auto", "glorot", "zeros", 1, 0)
    si = sequenceInputLayer(12)
    assert (si.InputSize, si.Normalization, si.NormalizationDimension) == (12, "none", "auto")


def test_factors_scalar_or_one_by_four():
    layer = lstmLayer(4, InputWeightsLearnRateFactor=2, BiasL2Factor=[1, 2, 1, 1], RecurrentWeightsL2Factor=np.array([[0, 1, 1, 1]]))
    assert layer.InputWeightsLearnRateFactor == 2.0
    assert layer.BiasL2Factor == (1.0, 2.0, 1.0, 1.0)
    assert layer.RecurrentWeightsL2Factor == (0.0, 1.0, 1.0, 1.0)


def test_vectors_accepted_as_1d_column_or_row_and_cast_to_float32():
    for value in ([0.5, 1, 2], np.array([[0.5], [1], [2]]), np.array([[0.5, 1, 2]], dtype=np.float64)):
        layer = lstmLayer(3, HiddenState=value)
        assert layer.HiddenState.dtype == np.float32 and layer.HiddenState.shape == (3,)
        np.testing.assert_array_equal(layer.HiddenState, [0.5, 1, 2])
        assert not layer.HiddenState.flags.writeable
    weights = lstmLayer(2, InputWeights=np.ones((8, 3)).tolist()).InputWeights
    assert weights.dtype == np.float32 and weights.shape == (8, 3)
    assert lstmLayer(2, HiddenState=[]).HiddenState is None  # MATLAB's [] means unset


def test_numbers_given_as_matlab_doubles():
    assert lstmLayer(100.0).NumHiddenUnits == 100
    assert sequenceInputLayer(np.float64(12)).InputSize == 12
    assert lstmLayer(np.array([[7]])).NumHiddenUnits == 7


def test_bilstm_sizes():
    layer = bilstmLayer(5, InputSize=3, InputWeights=np.zeros((40, 3)), RecurrentWeights=np.zeros((40, 5)), Bias=np.zeros(40), HiddenState=np.zeros(10))
    assert layer.stacked_units == 40 and layer.state_size == 10


BAD_OPTIONS = [
    (lambda: lstmLayer(100, "OutputMode", "first"), "lstmLayer: OutputMode must be one of 'sequence', 'last', got 'first'"),
    (lambda: lstmLayer(100, Name="l1", StateActivationFunction="relu"), "lstmLayer 'l1': StateActivationFunction must be one of 'tanh', 'softsign', got 'relu'"),
    (lambda: lstmLayer(100, GateActivationFunction="tanh"), "GateActivationFunction must be one of 'sigmoid', 'hard-sigmoid', got 'tanh'"),
    (lambda: lstmLayer(0), "NumHiddenUnits must be a positive integer, got 0"),
    (lambda: lstmLayer(2.5), "NumHiddenUnits must be a positive integer, got 2.5"),
    (lambda: lstmLayer(True), "NumHiddenUnits must be a positive integer, got True"),
    (lambda: lstmLayer("100"), "NumHiddenUnits must be a positive integer, got '100'"),
    (lambda: lstmLayer(10, InputSize="big"), "InputSize must be 'auto' or a positive integer, got 'big'"),
    (lambda: lstmLayer(10, "OutputMode"), "name-value arguments must come in pairs"),
    (lambda: lstmLayer(10, 5, "last"), "expected an option name (a string) at argument 2, got 5"),
    (lambda: lstmLayer(10, "Outputmode", "last", OutputMode="last"), "option 'OutputMode' is given more than once"),
    (lambda: lstmLayer(10, HiddenUnits=3), "lstmLayer: unknown option 'HiddenUnits'; supported options: Name, InputSize, NumHiddenUnits"),
    (lambda: lstmLayer(10, NumHiddenUnits=3), "option 'NumHiddenUnits' is given more than once"),
    (lambda: lstmLayer(10, BiasLearnRateFactor=-1), "BiasLearnRateFactor must be a nonnegative scalar or a 1-by-4 vector"),
    (lambda: lstmLayer(10, BiasLearnRateFactor=[1, 2, 3]), "BiasLearnRateFactor must be a nonnegative scalar or a 1-by-4 vector"),
    (lambda: lstmLayer(10, InputWeightsL2Factor=[1, 1, -1, 1]), "InputWeightsL2Factor must be a nonnegative scalar or a 1-by-4 vector"),
    (lambda: lstmLayer(10, HiddenState=np.zeros(9)), "lstmLayer: HiddenState must be a 10-by-1 vector (NumHiddenUnits), got 9 elements"),
    (lambda: bilstmLayer(10, CellState=np.zeros(10)), "bilstmLayer: CellState must be a 20-by-1 vector (2*NumHiddenUnits), got 10 elements"),
    (lambda: lstmLayer(10, HiddenState=np.zeros((2, 5))), "HiddenState must be a n-by-1 or 1-by-n numeric vector, got a 2x5 float64 array"),
    (lambda: lstmLayer(10, Bias=np.zeros(41)), "Bias must be a 40-by-1 vector (4*NumHiddenUnits), got 41 elements"),
    (lambda: lstmLayer(10, InputWeights=np.zeros((40, 3)), InputSize=4), "InputWeights must be a 40-by-4 (4*NumHiddenUnits-by-InputSize) matrix, got 40-by-3"),
    (lambda: lstmLayer(10, RecurrentWeights=np.zeros((10, 40))), "RecurrentWeights must be a 40-by-10 (4*NumHiddenUnits-by-NumHiddenUnits) matrix, got 10-by-40"),
    (lambda: lstmLayer(10, InputWeights=np.zeros(40)), "InputWeights must be a m-by-n numeric matrix, got a 40 float64 array"),
    (lambda: lstmLayer(2, Bias=["a"] * 8), "Bias must be a n-by-1 or 1-by-n numeric vector"),
    (lambda: lstmLayer(2, Bias=[np.nan] * 8), "lstmLayer: Bias must be finite, got NaN or Inf"),
    (lambda: lstmLayer(2, InputWeightsInitializer="xavier"), "InputWeightsInitializer must be one of 'glorot', 'he', 'orthogonal', 'narrow-normal', 'zeros', 'ones' or a callable"),
    (lambda: lstmLayer(2, BiasInitializer="glorot"), "BiasInitializer must be one of 'unit-forget-gate', 'narrow-normal', 'ones', 'zeros'"),
    (lambda: lstmLayer(2, Name=5), "lstmLayer: Name must be a character vector or string, got 5"),
    (lambda: sequenceInputLayer(0), "sequenceInputLayer: InputSize must be a positive integer, got 0"),
    (lambda: sequenceInputLayer(3, Normalization="minmax"), "Normalization must be one of 'none', 'zerocenter', 'zscore', 'rescale-symmetric', 'rescale-zero-one', got 'minmax'"),
    (lambda: sequenceInputLayer(3, Mean=[1, 2]), "sequenceInputLayer: Mean must be a scalar or a 3-by-1 vector (InputSize), got 2 elements"),
    (lambda: sequenceInputLayer(3, StandardDeviation=[1, -1, 1]), "StandardDeviation must be nonnegative"),
    (lambda: sequenceInputLayer(2, Min=[0, 1], Max=[1, 0.5]), "Max must be greater than or equal to Min for every feature"),
    (lambda: sequenceInputLayer(2, NormalizationDimension="all", Mean=[0, 1]), "Mean must be a scalar when NormalizationDimension is 'all'"),
    (lambda: sequenceInputLayer(2, NormalizationDimension="time"), "NormalizationDimension must be one of 'auto', 'channel', 'element', 'all', got 'time'"),
    (lambda: fullyConnectedLayer(3, Weights=np.zeros((2, 4))), "fullyConnectedLayer: Weights must be a 3-by-InputSize (OutputSize-by-InputSize) matrix, got 2-by-4"),
    (lambda: fullyConnectedLayer(3, Bias=np.zeros(2)), "fullyConnectedLayer: Bias must be a 3-by-1 vector (OutputSize), got 2 elements"),
    (lambda: fullyConnectedLayer(3, WeightL2Factor=[1, 1, 1, 1]), "WeightL2Factor must be a nonnegative scalar"),
    (lambda: dropoutLayer(1.0), "dropoutLayer: Probability must be a number in the range [0, 1), got 1.0"),
    (lambda: dropoutLayer(-0.1), "Probability must be a number in the range [0, 1), got -0.1"),
    (lambda: classificationLayer(Classes=["a"]), "Classes must be 'auto' or a list of at least two unique class names"),
    (lambda: classificationLayer(Classes=["a", "a"]), "Classes must be 'auto' or a list of at least two unique class names"),
    (lambda: classificationLayer(Classes=["a", 1.5]), "Classes must be a list of class names (strings or integers)"),
    (lambda: classificationLayer(Classes=["a", "b"], ClassWeights=[1, 2, 3]), "ClassWeights must be a 2-by-1 vector (one per class), got 3 elements"),
    (lambda: classificationLayer(ClassWeights=[1, -2]), "ClassWeights must be 'none' or a vector of positive weights"),
    (lambda: classificationLayer(ClassWeights=[1, 2]), "ClassWeights needs Classes: name the classes the weights belong to"),
    (lambda: softmaxLayer("Name"), "softmaxLayer: name-value arguments must come in pairs"),
    (lambda: regressionLayer(Classes=["a", "b"]), "regressionLayer: unknown option 'Classes'; supported options: Name"),
]


@pytest.mark.parametrize("make,message", BAD_OPTIONS, ids=[m for _, m in BAD_OPTIONS])
def test_bad_options_are_rejected_with_a_clear_message(make, message):
    with pytest.raises(LayerError, match=re.escape(message)):
        make()


def test_property_display_is_matlab_like():
    text = str(lstmLayer(100, "Name", "lstm1"))
    lines = [line.strip() for line in text.splitlines()]
    assert lines[0] == "LSTMLayer with properties:"
    for expected in ["Name: 'lstm1'", "Hyperparameters", "InputSize: 'auto'", "NumHiddenUnits: 100", "OutputMode: 'sequence'",
                     "StateActivationFunction: 'tanh'", "GateActivationFunction: 'sigmoid'", "Learnable Parameters",
                     "InputWeights: []", "RecurrentWeights: []", "Bias: []", "State Parameters", "HiddenState: []", "CellState: []"]:
        assert expected in lines
    assert lines.index("Hyperparameters") < lines.index("Learnable Parameters") < lines.index("State Parameters")
    assert "BiasL2Factor: 0" not in lines and "BiasL2Factor: 0" in [x.strip() for x in lstmLayer(3).display(all=True).splitlines()]
    filled = str(lstmLayer(3, InputSize=2, InputWeights=np.zeros((12, 2))))
    assert "InputWeights: [12×2 single]" in filled


def test_repr_names_the_constructor_and_non_defaults():
    assert repr(lstmLayer(100, OutputMode="last")) == "lstmLayer(NumHiddenUnits=100, OutputMode='last')"
    assert repr(softmaxLayer()) == "softmaxLayer()"


ROUND_TRIP = [
    sequenceInputLayer(4, Name="in", Normalization="zscore", Mean=[1, 2, 3, 4], StandardDeviation=2.0),
    lstmLayer(3, InputSize=4, OutputMode="last", GateActivationFunction="hard-sigmoid", BiasL2Factor=[1, 0, 1, 1],
              InputWeights=np.arange(48).reshape(12, 4) / 7, HiddenState=[0.1, 0.2, 0.3]),
    bilstmLayer(2, StateActivationFunction="softsign", RecurrentWeightsInitializer="he"),
    fullyConnectedLayer(2, WeightL2Factor=0.5, Bias=[1, 2]),
    dropoutLayer(0.25),
    softmaxLayer(Name="sm"),
    classificationLayer(Classes=["yes", "no"], ClassWeights=[1, 3]),
    regressionLayer(),
]


@pytest.mark.parametrize("layer", ROUND_TRIP, ids=[layer.FUNCTION for layer in ROUND_TRIP])
def test_to_dict_round_trip_through_json(layer):
    spec = json.loads(json.dumps(layer.to_dict()))
    assert spec["type"] == layer.FUNCTION
    assert Layer.from_dict(spec) == layer


def test_to_dict_without_learnables_keeps_hyperparameters():
    spec = ROUND_TRIP[1].to_dict(learnables=False)
    assert "InputWeights" not in spec and spec["HiddenState"] == pytest.approx([0.1, 0.2, 0.3]) and spec["OutputMode"] == "last"


def test_layers_are_immutable():
    layer = lstmLayer(3)
    with pytest.raises(AttributeError):
        layer.NumHiddenUnits = 4  # type: ignore[misc]
