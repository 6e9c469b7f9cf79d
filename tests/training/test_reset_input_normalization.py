"""trainingOptions' ResetInputNormalization (MATLAB: true by default, ``1 (true)`` in trainingOptions' display).

MATLAB's trainer resets the input layer's normalization statistics when the option is true and then computes
those that are empty from the training data; with false it computes only the empty ones. Expected values are
computed here in numpy from the training frames (per feature, over every time step of every sequence);
the layer stores float32, so they agree to rtol 1e-6.
"""

from __future__ import annotations

import numpy as np
import pytest

from lstm2onnx import classificationLayer, fullyConnectedLayer, lstmLayer, sequenceInputLayer, softmaxLayer, trainingOptions, trainNetwork
from lstm2onnx.errors import LayerError


def data():
    rng = np.random.default_rng(5)
    X = [rng.normal([3.0, -2.0, 0.5], [2.0, 0.5, 1.0], (int(rng.integers(3, 9)), 3)) for _ in range(12)]
    return X, np.array(["a", "b"] * 6), np.concatenate(X)


def train(first, **options):
    X, Y, _ = data()
    layers = [first, lstmLayer(4, OutputMode="last"), fullyConnectedLayer(2), softmaxLayer(), classificationLayer()]
    net, _ = trainNetwork(X, Y, layers, trainingOptions("sgdm", MaxEpochs=1, MiniBatchSize=6, Verbose=False, **options), seed=0)
    return net.Layers[0]


def test_default_replaces_given_statistics_with_the_training_datas():
    assert trainingOptions("adam").ResetInputNormalization is True
    _, _, frames = data()
    layer = train(sequenceInputLayer(3, Normalization="zscore", Mean=[10.0, 10.0, 10.0], StandardDeviation=[7.0, 7.0, 7.0]))
    np.testing.assert_allclose(layer.Mean, frames.mean(axis=0), rtol=1e-6)
    np.testing.assert_allclose(layer.StandardDeviation, frames.std(axis=0), rtol=1e-6)
    layer = train(sequenceInputLayer(3, Normalization="rescale-symmetric", Min=[-9.0] * 3, Max=[9.0] * 3))
    np.testing.assert_allclose(layer.Min, frames.min(axis=0), rtol=1e-6)
    np.testing.assert_allclose(layer.Max, frames.max(axis=0), rtol=1e-6)


def test_false_keeps_given_statistics_and_computes_missing_ones():
    _, _, frames = data()
    layer = train(sequenceInputLayer(3, Normalization="zscore", Mean=[10.0, 10.0, 10.0], StandardDeviation=[7.0, 7.0, 7.0]),
                  ResetInputNormalization=False)
    np.testing.assert_array_equal(layer.Mean, [10.0, 10.0, 10.0])
    np.testing.assert_array_equal(layer.StandardDeviation, [7.0, 7.0, 7.0])
    layer = train(sequenceInputLayer(3, Normalization="zscore", Mean=[10.0, 10.0, 10.0]), ResetInputNormalization=0)
    np.testing.assert_array_equal(layer.Mean, [10.0, 10.0, 10.0])
    np.testing.assert_allclose(layer.StandardDeviation, frames.std(axis=0), rtol=1e-6)


def test_option_as_matlab_writes_it():
    assert trainingOptions("adam", "resetinputnormalization", 0).ResetInputNormalization is False
    with pytest.raises(LayerError, match="ResetInputNormalization must be true or false"):
        trainingOptions("adam", ResetInputNormalization="no")


@pytest.mark.parametrize("dimension", ["auto", "channel", "element"])
def test_statistics_are_per_feature_for_every_per_feature_dimension(dimension):
    """'element' is MATLAB's per-element statistics: for vector sequences the elements are the features, so it computes
    what 'channel' (and 'auto') compute; 'all' gives one scalar over every feature."""
    _, _, frames = data()
    layer = train(sequenceInputLayer(3, Normalization="zscore", NormalizationDimension=dimension))
    np.testing.assert_allclose(layer.Mean, frames.mean(axis=0), rtol=1e-6)
    np.testing.assert_allclose(layer.StandardDeviation, frames.std(axis=0), rtol=1e-6)
    layer = train(sequenceInputLayer(3, Normalization="zscore", NormalizationDimension="all"))
    np.testing.assert_allclose(layer.Mean, frames.mean(), rtol=1e-6)
