"""ReturnCategorical, MATLAB's option of SeriesNetwork/DAGNetwork predict and predictAndUpdateState (default false).

True gives a classification network's labels (classify's first output) in place of its scores; the outputs
of a network without a classificationLayer stay numbers, as MATLAB returns labels for classification output
layers only. classify, classifyAndUpdateState and a dlnetwork's predict have no such option in MATLAB and
refuse it. Public MATLAB code passes it as ``'ReturnCategorical', true`` or ``1``.

Tolerance: scores 1e-5 (max abs) against the float64 reference; labels exactly (the reference's argmax).
"""

from __future__ import annotations

import numpy as np
import pytest
from conftest import ATOL_FLOAT32

from lstm2onnx import (
    LayerError,
    classificationLayer,
    classify,
    classifyAndUpdateState,
    dlnetwork,
    fullyConnectedLayer,
    initialize,
    lstmLayer,
    predict,
    predictAndUpdateState,
    reference,
    regressionLayer,
    sequenceInputLayer,
    softmaxLayer,
    trainingOptions,
    trainNetwork,
)

CLASSES = np.array(["a", "b", "c"])


def layers(mode: str, output=None):
    return [sequenceInputLayer(3), lstmLayer(5, OutputMode=mode), fullyConnectedLayer(3), softmaxLayer(),
            output if output is not None else classificationLayer(Classes=list(CLASSES))]


def ragged(n: int, seed: int) -> list[np.ndarray]:
    rng = np.random.default_rng(seed)
    return [rng.standard_normal((int(rng.integers(2, 9)), 3)).astype(np.float32) for _ in range(n)]


@pytest.mark.parametrize("mode", ["last", "sequence"])
def test_predict_returns_the_labels_of_the_reference_scores(mode):
    net, X = initialize(layers(mode), seed=2), ragged(5, seed=1)
    expected = [CLASSES[s.argmax(-1)] for s in reference.predict(net, X)]
    for labels in (predict(net, X, ReturnCategorical=True), predict(net, X, "ReturnCategorical", 1, "MiniBatchSize", 2)):
        for got, want in zip(labels, expected):
            np.testing.assert_array_equal(got, want)
    scores = predict(net, X, "returncategorical", False)
    assert max(float(np.abs(s - r).max()) for s, r in zip(scores, reference.predict(net, X))) <= ATOL_FLOAT32


def test_predict_and_update_state_returns_labels_and_carries_the_state():
    rng = np.random.default_rng(0)
    X = [rng.standard_normal((int(rng.integers(3, 8)), 3)).astype(np.float32) for _ in range(8)]
    net, _ = trainNetwork(X, rng.choice(CLASSES, 8), layers("last", classificationLayer()),
                          trainingOptions("adam", MaxEpochs=1, MiniBatchSize=4, Verbose=False), seed=1)
    first, second = ragged(3, seed=3), ragged(3, seed=4)
    updated, labels = predictAndUpdateState(net, first, ReturnCategorical=True)
    _, scores = classifyAndUpdateState(net, first)[1:]
    np.testing.assert_array_equal(labels, np.asarray(net.Classes)[scores.argmax(1)])
    _, labels2 = predictAndUpdateState(updated, second, ReturnCategorical=True)
    whole = reference.predict(net.Layers, [np.concatenate(p) for p in zip(first, second)])
    np.testing.assert_array_equal(labels2, np.asarray(net.Classes)[whole.argmax(1)])


def test_a_regression_network_keeps_its_numbers():
    net, X = initialize(layers("last", regressionLayer())[:3] + [regressionLayer()], seed=2), ragged(4, seed=5)
    Y = predict(net, X, ReturnCategorical=True)
    assert Y.dtype == np.float32 and float(np.abs(Y - reference.predict(net, X)).max()) <= ATOL_FLOAT32


def test_functions_without_the_option_refuse_it_and_bad_values_are_named():
    net, X = initialize(layers("last"), seed=2), ragged(2, seed=6)
    with pytest.raises(LayerError, match="predict: ReturnCategorical must be true or false, got 'yes'"):
        predict(net, X, ReturnCategorical="yes")
    with pytest.raises(LayerError, match="classify: unknown option 'ReturnCategorical'"):
        classify(net, X, ReturnCategorical=True)
    with pytest.raises(LayerError, match="predict: unknown option 'ReturnCategorical'"):
        predict(dlnetwork(layers("last")[:-1]), X, ReturnCategorical=True)  # a dlnetwork's predict (R2023b+) has none
