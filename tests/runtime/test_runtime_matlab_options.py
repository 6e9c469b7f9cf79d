"""lstm2onnx_runtime: MATLAB's predict options as MATLAB scripts pass them.

- ReturnCategorical (SeriesNetwork/DAGNetwork predict and predictAndUpdateState, default false): true gives
  the labels of a classification network (what classify's first output is), outputs of other networks stay
  numbers; classify has no such option. Public MATLAB code passes it as ``'ReturnCategorical', true`` or ``1``.

Tolerance: scores against the float64 reference, max abs error <= 1e-5 (ATOL_FLOAT32); labels exactly.
"""

from __future__ import annotations

import numpy as np
import pytest
from conftest import ATOL_FLOAT32

import lstm2onnx_runtime as rt
from lstm2onnx import (
    classificationLayer,
    exportONNXNetwork,
    fullyConnectedLayer,
    initialize,
    lstmLayer,
    reference,
    regressionLayer,
    sequenceInputLayer,
    softmaxLayer,
)
from lstm2onnx_runtime import RuntimeInputError

CLASSES = np.array(["low", "mid", "high"])


def classifier(mode: str):
    return [sequenceInputLayer(4), lstmLayer(6, OutputMode=mode), fullyConnectedLayer(3), softmaxLayer(),
            classificationLayer(Classes=list(CLASSES))]


def export(tmp_path, layers, **options):
    net = initialize(layers, seed=1)
    exportONNXNetwork(net, tmp_path / "net.onnx", **options)
    return net, rt.load(tmp_path / "net.onnx", "cpu")


def ragged(rng, n: int = 5) -> list[np.ndarray]:
    return [rng.normal(size=(int(rng.integers(2, 9)), 4)).astype(np.float32) for _ in range(n)]


@pytest.mark.parametrize("mode", ["last", "sequence"])
def test_return_categorical_gives_the_labels_of_the_reference_scores(tmp_path, rng, mode):
    net, model = export(tmp_path, classifier(mode), ragged=True, stateful=True)
    X = ragged(rng)
    expected = [CLASSES[s.argmax(-1)] for s in reference.predict(net, X)]
    for call in (lambda: rt.predict(model, X, ReturnCategorical=True), lambda: rt.predict(model, X, "ReturnCategorical", 1),
                 lambda: rt.predictAndUpdateState(model, X, "returncategorical", True, "MiniBatchSize", 2)[1]):
        labels = call()
        for got, want in zip(labels, expected):
            np.testing.assert_array_equal(got, want)
    scores = rt.predict(model, X, ReturnCategorical=False)
    assert max(float(np.abs(s - r).max()) for s, r in zip(scores, reference.predict(net, X))) <= ATOL_FLOAT32


def test_return_categorical_leaves_a_regression_network_numbers(tmp_path, rng):
    net, model = export(tmp_path, [sequenceInputLayer(4), lstmLayer(5, OutputMode="last"), fullyConnectedLayer(2), regressionLayer()])
    X = ragged(rng)
    Y = rt.predict(model, X, ReturnCategorical=True)
    assert Y.dtype == np.float32 and float(np.abs(Y - reference.predict(net, X)).max()) <= ATOL_FLOAT32


def test_return_categorical_is_checked_and_is_not_a_classify_option(tmp_path, rng):
    _, model = export(tmp_path, classifier("last"), stateful=True)
    X = ragged(rng, 2)
    with pytest.raises(RuntimeInputError, match="predict: ReturnCategorical must be true or false, got 'yes'"):
        rt.predict(model, X, ReturnCategorical="yes")
    with pytest.raises(RuntimeInputError, match="option 'ReturnCategorical' is given more than once"):
        rt.predict(model, X, "ReturnCategorical", True, returncategorical=False)
    with pytest.raises(RuntimeInputError, match="classify: unknown option 'ReturnCategorical'"):
        rt.classify(model, X, ReturnCategorical=True)
    with pytest.raises(RuntimeInputError, match="classifyAndUpdateState: unknown option 'ReturnCategorical'"):
        rt.classifyAndUpdateState(model, X, ReturnCategorical=True)

