"""trainingOptions' OutputNetwork: 'last-iteration' (default), 'best-validation-loss', 'best-validation', 'auto'.

MATLAB returns the network of the iteration with the lowest validation loss
('best-validation-loss'), or the best ObjectiveMetricName ('best-validation');
'auto' is 'best-validation' when there is validation data. Checked by
recomputing the returned network's validation loss: it must be the smallest
one recorded, at the iteration info names.
"""

from __future__ import annotations

import re

import numpy as np
import pytest

from lstm2onnx import (
    LayerError,
    Lstm2OnnxError,
    classificationLayer,
    fullyConnectedLayer,
    lstmLayer,
    sequenceInputLayer,
    softmaxLayer,
    trainingOptions,
    trainNetwork,
)
from lstm2onnx.training import minibatchpredict, trainnet

from test_train_network import toy_classes


def layers(output=True):
    chain = [sequenceInputLayer(4), lstmLayer(5, OutputMode="last"), fullyConnectedLayer(2), softmaxLayer()]
    return chain + [classificationLayer()] if output else chain


def options(**kwargs):
    # a learning rate large enough that the validation loss goes up and down
    return trainingOptions("adam", Verbose=False, MaxEpochs=12, MiniBatchSize=5, InitialLearnRate=0.3, ValidationFrequency=1, **kwargs)


def cross_entropy(scores, labels, classes):
    index = np.array([list(classes).index(y) for y in labels])
    return float(-np.log(np.asarray(scores, np.float64)[np.arange(len(index)), index]).mean())


@pytest.fixture(scope="module")
def data():
    XV, YV = toy_classes(14, seed=4)
    YV[:4] = np.where(YV[:4] == "up", "down", "up")  # wrong labels: the validation loss rises again as training grows sure
    return toy_classes(20, seed=3), (XV, YV)


def test_best_validation_loss_returns_the_best_iterations_network(data):
    (X, Y), (XV, YV) = data
    net, info = trainNetwork(X, Y, layers(), options(ValidationData=(XV, YV), OutputNetwork="best-validation-loss"))
    best = int(np.nanargmin(info.ValidationLoss))  # the first smallest
    assert best + 1 < len(info.ValidationLoss), "the run should have a best validation before its last iteration"
    assert info.OutputNetworkIteration == best + 1
    assert info.FinalValidationLoss == pytest.approx(info.ValidationLoss[best], rel=1e-5)
    from lstm2onnx.training import predict

    assert cross_entropy(predict(net, XV), YV, net.Classes) == pytest.approx(info.ValidationLoss[best], rel=1e-4)


def test_last_iteration_is_the_default(data):
    (X, Y), (XV, YV) = data
    assert trainingOptions("adam").OutputNetwork == "last-iteration"
    _, info = trainNetwork(X, Y, layers(), options(ValidationData=(XV, YV)))
    assert info.OutputNetworkIteration == len(info.TrainingLoss)
    assert info.FinalValidationLoss == pytest.approx(info.ValidationLoss[-1], rel=1e-5)


def test_auto_is_best_validation_with_validation_data_and_last_without(data):
    (X, Y), (XV, YV) = data
    _, info = trainNetwork(X, Y, layers(), options(ValidationData=(XV, YV), OutputNetwork="auto"))
    assert info.OutputNetworkIteration == int(np.nanargmin(info.ValidationLoss)) + 1  # trainNetwork's objective is the loss
    _, info = trainNetwork(X, Y, layers(), options(OutputNetwork="auto"))
    assert info.OutputNetworkIteration == len(info.TrainingLoss)


def test_best_validation_follows_the_objective_metric(data):
    (X, Y), (XV, YV) = data
    net, info = trainnet(X, Y, layers(output=False), "crossentropy",
                         options(ValidationData=(XV, YV), OutputNetwork="best-validation", Metrics="accuracy", ObjectiveMetricName="accuracy"))
    history = info.ValidationHistory
    best = int(np.argmax(history["Accuracy"]))
    assert info.OutputNetworkIteration == history["Iteration"][best]
    labels = np.array(net.Classes)[minibatchpredict(net, XV).argmax(1)]
    assert 100 * np.mean(labels == YV) == pytest.approx(history["Accuracy"][best])


def test_best_network_needs_validation_data(data):
    (X, Y), _ = data
    for choice in ("best-validation-loss", "best-validation"):
        with pytest.raises(Lstm2OnnxError, match=re.escape(f"trainingOptions: OutputNetwork '{choice}' needs ValidationData")):
            trainNetwork(X, Y, layers(), options(OutputNetwork=choice))
    with pytest.raises(LayerError, match=re.escape("OutputNetwork must be one of 'last-iteration', 'best-validation-loss', 'best-validation', 'auto'")):
        trainingOptions("adam", OutputNetwork="best")
