"""trainnet, dlnetwork, minibatchpredict, scores2label and predict with state (MATLAB R2023b+ API).

Tolerances: loss functions on float64 tensors against the formulas in float64 numpy: 1e-12;
first-iteration losses and metrics of a float32 run against numpy on the float64 reference's
outputs: 1e-5 (relative 1e-5 for the loss); trained weights of trainnet vs trainNetwork on the
same problem: 1e-5; onnxruntime vs minibatchpredict and the reference: 1e-5.
"""

from __future__ import annotations

import json
import re

import numpy as np
import pytest
import torch
from conftest import ATOL_FLOAT32

import lstm2onnx_runtime as rt
from lstm2onnx import (
    Lstm2OnnxError,
    classificationLayer,
    dlnetwork,
    exportONNXNetwork,
    fullyConnectedLayer,
    initialize,
    lstmLayer,
    minibatchpredict,
    predict,
    reference,
    resetState,
    scores2label,
    sequenceInputLayer,
    sigmoidLayer,
    softmaxLayer,
    trainingOptions,
    trainNetwork,
    trainnet,
)
from lstm2onnx.builder import META_CLASSES
from lstm2onnx.training.losses import Loss, metric_terms, metric_value

# -- the loss functions against their formulas ----------------------------------------------------


def numpy_loss(name: str, Y: np.ndarray, T: np.ndarray, mask: np.ndarray) -> float:
    """trainnet's losses written out: sums over real observations/steps, / M (crossentropy) or / (M K)."""
    m = mask[..., None].astype(np.float64)
    M, K = mask.sum(), Y.shape[-1]
    if name == "crossentropy":
        return float(-(T * np.log(Y) * m).sum() / M)
    if name == "binary-crossentropy":
        return float(-((T * np.log(Y) + (1 - T) * np.log(1 - Y)) * m).sum() / (M * K))
    d = Y - T
    if name in ("mse", "mean-squared-error", "l2loss"):
        return float((d**2 * m).sum() / (M * K))
    if name in ("mae", "mean-absolute-error", "l1loss"):
        return float((np.abs(d) * m).sum() / (M * K))
    assert name == "huber"
    a = np.abs(d)
    return float((np.where(a <= 1, 0.5 * d**2, a - 0.5) * m).sum() / (M * K))


NAMES = ["crossentropy", "binary-crossentropy", "mse", "mean-squared-error", "l2loss", "mae", "mean-absolute-error", "l1loss", "huber"]


@pytest.mark.parametrize("sequence", [False, True], ids=["last", "sequence"])
@pytest.mark.parametrize("name", NAMES)
def test_losses_equal_their_formulas(name, sequence):
    rng = np.random.default_rng(len(name))
    shape = (5, 7, 4) if sequence else (6, 4)
    mask = (np.arange(7)[None, :] < np.array([7, 3, 1, 5, 6])[:, None]) if sequence else np.ones(6, bool)
    if name == "crossentropy":
        logits = rng.standard_normal(shape)
        Y = np.exp(logits) / np.exp(logits).sum(-1, keepdims=True)
        T = np.eye(4)[rng.integers(0, 4, shape[:-1])]
    elif name == "binary-crossentropy":
        Y, T = rng.uniform(0.05, 0.95, shape), rng.integers(0, 2, shape).astype(np.float64)
    else:
        Y, T = rng.standard_normal(shape) * 2, rng.standard_normal(shape)
    expected = numpy_loss(name, Y, T, mask)
    ours = Loss(name)(torch.tensor(Y), torch.tensor(T), torch.tensor(mask), logits=False)
    np.testing.assert_allclose(float(ours), expected, rtol=0, atol=1e-12)
    if name == "crossentropy":  # from the logits of a network ending in softmax: the same value
        ours = Loss(name)(torch.tensor(logits), torch.tensor(T), torch.tensor(mask), logits=True)
        np.testing.assert_allclose(float(ours), expected, rtol=0, atol=1e-12)
    if name == "huber":
        assert np.abs(Y - T).max() > 1 and np.abs(Y - T).min() < 1  # both branches are exercised


def test_metrics_equal_their_formulas():
    rng = np.random.default_rng(1)
    Y, T = rng.standard_normal((5, 7, 3)), rng.standard_normal((5, 7, 3))
    mask = np.arange(7)[None, :] < np.array([7, 3, 1, 5, 6])[:, None]
    hits, count = metric_terms("accuracy", torch.tensor(Y), torch.tensor(T), torch.tensor(mask))
    assert metric_value("accuracy", hits, count) == pytest.approx(100 * ((Y.argmax(-1) == T.argmax(-1)) & mask).sum() / mask.sum(), abs=1e-12)
    sse, count = metric_terms("rmse", torch.tensor(Y), torch.tensor(T), torch.tensor(mask))
    expected = np.sqrt((((Y - T) ** 2) * mask[..., None]).sum() / (mask.sum() * 3))
    assert metric_value("rmse", sse, count) == pytest.approx(expected, abs=1e-12)


# -- trainnet ---------------------------------------------------------------------------------------


def data(n=12, features=3, seed=0):
    rng = np.random.default_rng(seed)
    return [rng.standard_normal((int(rng.integers(2, 9)), features)).astype(np.float32) for _ in range(n)]


def first_loss_options(**extra):
    """One iteration over all the data, so info's first loss is the loss at the initial weights."""
    return trainingOptions("sgdm", MaxEpochs=1, MiniBatchSize=12, Shuffle="never", Verbose=False, **extra)


HEADS = {
    "crossentropy": lambda mode: ([lstmLayer(4, OutputMode=mode), fullyConnectedLayer(3), softmaxLayer()]),
    "binary-crossentropy": lambda mode: ([lstmLayer(4, OutputMode=mode), fullyConnectedLayer(3), sigmoidLayer()]),
    "regression": lambda mode: ([lstmLayer(4, OutputMode=mode), fullyConnectedLayer(3)]),
}


@pytest.mark.parametrize("mode", ["last", "sequence"])
@pytest.mark.parametrize("name", NAMES)
def test_first_iteration_loss_is_the_formula_on_the_reference_outputs(name, mode):
    X = data()
    rng = np.random.default_rng(5)
    layers = [sequenceInputLayer(3), *HEADS.get(name, HEADS["regression"])(mode)]
    shapes = [(len(x), 3) for x in X] if mode == "sequence" else [(3,)] * len(X)
    if name == "crossentropy":
        T = [np.eye(3)[rng.integers(0, 3, s[:-1] or None)] for s in shapes]
    elif name == "binary-crossentropy":
        T = [rng.integers(0, 2, s).astype(np.float32) for s in shapes]
    else:
        T = [rng.standard_normal(s).astype(np.float32) * 2 for s in shapes]
    targets = T if mode == "sequence" else np.stack(T)
    _, info = trainnet(X, targets, layers, name, first_loss_options(Metrics="rmse"), seed=3)
    Y = reference.predict(initialize(layers, seed=3), X)
    if mode == "sequence":
        width = max(len(x) for x in X)
        def pad(arrays):  # 0.5 past the end keeps the logs finite; the mask drops those steps
            return np.stack([np.pad(a, ((0, width - len(a)), (0, 0)), constant_values=0.5) for a in arrays])

        Y, T_, mask = pad(Y), pad(T), np.arange(width)[None, :] < np.array([len(x) for x in X])[:, None]
    else:
        T_, mask = np.stack(T), np.ones(len(X), bool)
    expected = numpy_loss(name, np.asarray(Y, np.float64), np.asarray(T_, np.float64), mask)
    np.testing.assert_allclose(info.TrainingHistory["Loss"][0], expected, rtol=1e-5, atol=1e-6)
    rmse = np.sqrt((((np.asarray(Y) - T_) ** 2) * mask[..., None]).sum() / (mask.sum() * 3))
    np.testing.assert_allclose(info.TrainingHistory["RMSE"][0], rmse, rtol=0, atol=1e-5)


def test_labels_accuracy_and_a_custom_loss():
    X = data()
    labels = np.array(["b", "a", "c"] * 4)
    layers = [sequenceInputLayer(3), *HEADS["crossentropy"]("last")]
    net, info = trainnet(X, labels, layers, "crossentropy", first_loss_options(Metrics="accuracy"), seed=2)
    assert net.Classes == ("a", "b", "c")  # MATLAB's categories: sorted
    P = reference.predict(initialize(layers, seed=2), X)
    index = np.array([("a", "b", "c").index(v) for v in labels])
    np.testing.assert_allclose(info.TrainingHistory["Loss"][0], -np.log(P[np.arange(12), index]).mean(), rtol=1e-5)
    assert info.TrainingHistory["Accuracy"][0] == pytest.approx(100 * np.mean(P.argmax(1) == index))

    def quartic(Y, T):
        return ((Y - T) ** 4).mean()

    R = np.random.default_rng(0).standard_normal((12, 3)).astype(np.float32)
    reg = [sequenceInputLayer(3), *HEADS["regression"]("last")]
    _, info = trainnet(X, R, reg, quartic, first_loss_options(), seed=2)
    expected = ((reference.predict(initialize(reg, seed=2), X) - R) ** 4).mean()
    np.testing.assert_allclose(info.TrainingHistory["Loss"][0], expected, rtol=1e-5)
    assert list(info.TrainingHistory) == ["Iteration", "Epoch", "Loss", "LearnRate"]  # MATLAB's TrainingInfo columns


def test_trainnet_and_trainnetwork_train_the_same_weights():
    """crossentropy on labels after softmax is classificationLayer's loss ('last': both / N): same solver, clipping,
    schedule, L2 and shuffling give the same network (to float32 rounding)."""
    X = data(24)
    labels = np.array(["p", "q", "r"] * 8)
    body = [sequenceInputLayer(3), lstmLayer(5, OutputMode="last"), fullyConnectedLayer(3), softmaxLayer()]
    options = trainingOptions("adam", MaxEpochs=3, MiniBatchSize=8, Verbose=False, GradientThreshold=0.5, L2Regularization=0.01,
                              LearnRateSchedule="piecewise", LearnRateDropPeriod=2, Shuffle="every-epoch")
    old, old_info = trainNetwork(X, labels, [*body, classificationLayer()], options, seed=4)
    new, new_info = trainnet(X, labels, body, "crossentropy", options, seed=4)
    np.testing.assert_allclose(new_info.TrainingHistory["Loss"], old_info.TrainingLoss, rtol=0, atol=1e-5)
    for a, b in zip(new.Layers, old.Layers):
        for name in ("InputWeights", "RecurrentWeights", "Bias", "Weights"):
            if getattr(a, name, None) is not None:
                np.testing.assert_allclose(getattr(a, name), getattr(b, name), rtol=0, atol=1e-5, err_msg=f"{a.Name}.{name}")


def test_several_metrics_each_get_their_columns():
    """Metrics=["accuracy", "rmse"]: both tracked, each with MATLAB's column, on training and validation data; the
    objective metric (here rmse) is the one the verbose table shows and patience watches."""
    X, XV = data(), data(8, seed=7)
    labels, validation_labels = np.array(["b", "a", "c"] * 4), np.array(["a", "c"] * 4)
    layers = [sequenceInputLayer(3), *HEADS["crossentropy"]("last")]
    options = first_loss_options(Metrics=["accuracy", "rmse"], ObjectiveMetricName="rmse", ValidationData=(XV, validation_labels))
    net, info = trainnet(X, labels, layers, "crossentropy", options, seed=2)
    assert list(info.TrainingHistory) == ["Iteration", "Epoch", "Loss", "Accuracy", "RMSE", "LearnRate"]
    assert list(info.ValidationHistory) == ["Iteration", "Loss", "Accuracy", "RMSE"]
    P = reference.predict(initialize(layers, seed=2), X)
    onehot = np.eye(3)[[("a", "b", "c").index(v) for v in labels]]
    assert info.TrainingHistory["Accuracy"][0] == pytest.approx(100 * np.mean(P.argmax(1) == onehot.argmax(1)))
    np.testing.assert_allclose(info.TrainingHistory["RMSE"][0], np.sqrt(((P - onehot) ** 2).mean()), rtol=0, atol=1e-5)
    # one iteration: the validation at iteration 1 (after its update) saw the network trainnet returns
    assert list(info.ValidationHistory["Iteration"]) == [1]
    PV, onehot_v = minibatchpredict(net, XV), np.eye(3)[[("a", "b", "c").index(v) for v in validation_labels]]
    assert info.ValidationHistory["Accuracy"][0] == pytest.approx(100 * np.mean(PV.argmax(1) == onehot_v.argmax(1)))
    np.testing.assert_allclose(info.ValidationHistory["RMSE"][0], np.sqrt(((PV - onehot_v) ** 2).mean()), rtol=0, atol=1e-5)


def test_validation_history_and_objective_metric_patience():
    X, XV = data(24), data(8, seed=9)
    rng = np.random.default_rng(3)
    T, TV = rng.standard_normal((24, 3)).astype(np.float32), rng.standard_normal((8, 3)).astype(np.float32)
    layers = [sequenceInputLayer(3), *HEADS["regression"]("last")]
    options = trainingOptions("adam", MaxEpochs=40, MiniBatchSize=8, Verbose=False, ValidationData=(XV, TV), ValidationFrequency=3,
                              ValidationPatience=2, Metrics="rmse", ObjectiveMetricName="rmse", InitialLearnRate=0.05)
    net, info = trainnet(X, T, layers, "mse", options, seed=0)
    history = info.ValidationHistory
    assert list(history) == ["Iteration", "Loss", "RMSE"]
    assert history["Iteration"][0] == 1 and np.all(np.diff(history["Iteration"][1:-1]) == 3)
    # for mse the validation rmse is the square root of the loss
    np.testing.assert_allclose(history["RMSE"], np.sqrt(history["Loss"]), rtol=1e-5)
    assert info.StopReason == "Met validation criterion"  # the training data are noise: validation stops improving
    best = np.minimum.accumulate(history["RMSE"])
    assert np.all(history["RMSE"][-2:] >= best[-3])


def test_formats_matlab_layout_arrays():
    rng = np.random.default_rng(4)
    X = rng.standard_normal((12, 6, 3)).astype(np.float32)
    T = rng.standard_normal((12, 6, 2)).astype(np.float32)
    layers = [sequenceInputLayer(3), lstmLayer(4), fullyConnectedLayer(2)]
    _, native = trainnet(X, T, layers, "mse", first_loss_options(), seed=1)
    options = first_loss_options(InputDataFormats="CTB", TargetDataFormats="CTB")
    net, matlab = trainnet(X.transpose(2, 1, 0), T.transpose(2, 1, 0), layers, "mse", options, seed=1)
    np.testing.assert_array_equal(matlab.TrainingHistory["Loss"], native.TrainingHistory["Loss"])
    cells = [x.T for x in X]  # MATLAB's cell array of C-by-T sequences
    np.testing.assert_array_equal(minibatchpredict(net, cells, InputDataFormats="CTB"), minibatchpredict(net, X))


@pytest.mark.parametrize("args,message", [
    (("softmax-loss", {}), "lossFcn must be one of 'crossentropy'"),
    (("mse", {"Metrics": "rmse", "ObjectiveMetricName": "accuracy"}), "ObjectiveMetricName 'accuracy' must be 'loss' or one of the Metrics"),
])
def test_bad_arguments(args, message):
    loss, extra = args
    with pytest.raises(Lstm2OnnxError, match=message):
        trainnet(data(), np.zeros((12, 3), np.float32), [sequenceInputLayer(3), *HEADS["regression"]("last")], loss, first_loss_options(**extra))


def test_bad_targets_and_layers():
    layers = [sequenceInputLayer(3), *HEADS["crossentropy"]("last")]
    with pytest.raises(Lstm2OnnxError, match=r"the labels hold 2 classes \['a', 'b'\] but the network has 3 outputs"):
        trainnet(data(), np.array(["a", "b"] * 6), layers, "crossentropy", first_loss_options())
    with pytest.raises(Lstm2OnnxError, match=r"targets must be \[12, 3\] \(the network's outputs\), got shape \(12, 2\)"):
        trainnet(data(), np.zeros((12, 2)), layers, "mse", first_loss_options())
    with pytest.raises(Lstm2OnnxError, match="targets must be numeric arrays for this loss"):
        trainnet(data(), np.array(["a", "b", "c"] * 4), layers, "mse", first_loss_options())
    with pytest.raises(Lstm2OnnxError, match="trainnet: classificationLayer: output layers are not used by trainnet"):
        trainnet(data(), np.array(["a", "b", "c"] * 4), [*layers, classificationLayer()], "crossentropy", first_loss_options())


# -- dlnetwork, predict with state, minibatchpredict, scores2label, export ---------------------------


def test_dlnetwork_is_initialized_and_refuses_output_layers():
    layers = [sequenceInputLayer(3), lstmLayer(4, OutputMode="last"), fullyConnectedLayer(2), softmaxLayer()]
    net = dlnetwork(layers, seed=5)
    assert net.Initialized and net.InputNames == ["sequenceinput"] and net.OutputNames == ["softmax"]
    assert list(net.Layers) == list(initialize(layers, seed=5))
    assert [(row[0], row[1]) for row in net.Learnables] == [("lstm", "InputWeights"), ("lstm", "RecurrentWeights"), ("lstm", "Bias"),
                                                            ("fc", "Weights"), ("fc", "Bias")]
    np.testing.assert_array_equal(net.Learnables["fc", "Weights"], net.Layers[2].Weights)
    assert net.Learnables["Parameter"] == net.Learnables.Parameter and len(net.Learnables["Value"]) == len(net.Learnables)
    with pytest.raises(KeyError, match="no column 'Values': the columns are 'Layer', 'Parameter', 'Value'"):
        net.Learnables["Values"]
    assert net.State["lstm", "HiddenState"].shape == (4, 1)
    with pytest.raises(Lstm2OnnxError, match="dlnetwork: classificationLayer: output layers are not supported in a dlnetwork"):
        dlnetwork([*layers, classificationLayer()])


def test_predict_with_state_continues_sequences_and_reset_returns():
    net = dlnetwork([sequenceInputLayer(3), lstmLayer(4, HiddenState=np.linspace(-0.5, 0.5, 4)), lstmLayer(3), fullyConnectedLayer(2)], seed=1)
    rng = np.random.default_rng(2)
    first = [rng.standard_normal((5, 3)).astype(np.float32) for _ in range(3)]
    second = [rng.standard_normal((int(k), 3)).astype(np.float32) for k in (2, 7, 4)]
    Y1, state = predict(net, first, return_state=True)
    assert state["lstm_1", "HiddenState"].shape == (4, 3) and state["lstm_2", "CellState"].shape == (3, 3)
    fresh = predict(net, second)
    net.State = state
    Y2 = predict(net, second)
    whole = reference.predict(net.Layers, [np.concatenate(p) for p in zip(first, second)])
    assert max(float(np.abs(np.concatenate([a, b]) - w).max()) for a, b, w in zip(Y1, Y2, whole)) <= ATOL_FLOAT32
    reset = resetState(net)
    for a, b in zip(predict(reset, second), fresh):
        np.testing.assert_array_equal(a, b)
    assert reset.State["lstm_1", "HiddenState"].shape == (4, 1)
    np.testing.assert_allclose(reset.State["lstm_1", "HiddenState"][:, 0], np.linspace(-0.5, 0.5, 4), rtol=0, atol=1e-7)
    with pytest.raises(Lstm2OnnxError, match=r"State lstm_1/HiddenState must be 4-by-N, got shape \(3, 3\)"):
        net.State = type(state)(state.Layer, state.Parameter, (np.zeros((3, 3)),) + state.Value[1:])


def test_minibatchpredict_is_bit_stable_and_uniform_output():
    net = dlnetwork([sequenceInputLayer(3), lstmLayer(4), fullyConnectedLayer(2), softmaxLayer()], seed=2)
    X = data(10)
    results = [minibatchpredict(net, X, MiniBatchSize=size) for size in (1, 3, 128)]
    assert isinstance(results[0], list)  # ragged sequence outputs
    for other in results[1:]:
        for a, b in zip(other, results[0]):
            np.testing.assert_array_equal(a, b)
    equal = np.stack([x[:2] for x in X])
    assert minibatchpredict(net, equal).shape == (10, 2, 2)
    assert isinstance(minibatchpredict(net, equal, UniformOutput=False), list)


def test_scores2label():
    scores = np.array([[0.1, 0.7, 0.2], [0.5, 0.3, 0.2]])
    assert list(scores2label(scores, ["x", "y", "z"])) == ["y", "x"]
    assert list(scores2label(scores.T, ["x", "y", "z"], 1)) == ["y", "x"]  # MATLAB's dim: the classes along the first dimension
    assert list(scores2label(scores, ["x", "y", "z"], 2)) == list(scores2label(scores, ["x", "y", "z"], -1)) == ["y", "x"]
    assert list(scores2label(scores, ["x", "y", "z"], "auto")) == ["y", "x"]
    for bad in (0, 3, -3, True, "last"):
        with pytest.raises(Lstm2OnnxError, match=re.escape("scores2label: dim must be 'auto' or a dimension of the scores counted from 1")):
            scores2label(scores, ["x", "y", "z"], bad)
    assert [list(v) for v in scores2label([scores, scores[:1]], ["x", "y", "z"])] == [["y", "x"], ["y"]]
    with pytest.raises(Lstm2OnnxError, match=r"scores2label: 2 class names but the scores have 3 entries along dimension auto"):
        scores2label(scores, ["x", "y"])


def test_trained_dlnetwork_exports_and_serves_minibatchpredicts_scores(tmp_path):
    X = data(24)
    labels = np.array(["up", "down", "flat"] * 8)
    layers = [sequenceInputLayer(3), lstmLayer(6), lstmLayer(5, OutputMode="last"), fullyConnectedLayer(3), softmaxLayer()]
    net, _ = trainnet(X, labels, layers, "crossentropy", trainingOptions("adam", MaxEpochs=3, MiniBatchSize=8, Verbose=False))
    path = tmp_path / "net.onnx"
    exportONNXNetwork(net, path, ragged=True)
    served = rt.load(path, "cpu")
    import onnx

    assert json.loads({p.key: p.value for p in onnx.load(path).metadata_props}[META_CLASSES]) == ["down", "flat", "up"]
    Xtest = data(9, seed=7)
    scores = minibatchpredict(net, Xtest)
    assert float(np.abs(rt.predict(served, Xtest) - scores).max()) <= ATOL_FLOAT32
    assert float(np.abs(reference.predict(net.Layers, Xtest) - scores).max()) <= ATOL_FLOAT32
    served_labels, _ = rt.classify(served, Xtest)
    assert list(served_labels) == list(scores2label(scores, net.Classes)) == list(scores2label(scores, net))


def test_verbose_table_names_the_rmse_metric(capsys):
    T = np.random.default_rng(1).standard_normal((12, 3)).astype(np.float32)
    options = trainingOptions("adam", MaxEpochs=1, MiniBatchSize=12, Verbose=True, Metrics="rmse")
    _, info = trainnet(data(), T, [sequenceInputLayer(3), *HEADS["regression"]("last")], "mse", options)
    text = capsys.readouterr().out
    assert "|     RMSE     |     RMSE     |" in text and "Accuracy" not in text
    row = next(line for line in text.splitlines() if line.startswith("|       1 |           1 |"))
    assert f"{info.TrainingHistory['RMSE'][0]:12.4f}" in row and "%" not in row


def test_dlnetwork_class_names_go_to_the_metadata(tmp_path):
    import onnx

    layers = [sequenceInputLayer(3), lstmLayer(4, OutputMode="last"), fullyConnectedLayer(2), softmaxLayer()]
    path = tmp_path / "net.onnx"
    exportONNXNetwork(dlnetwork(layers, Classes=["no", "yes"]), path)
    assert json.loads({p.key: p.value for p in onnx.load(path).metadata_props}[META_CLASSES]) == ["no", "yes"]
    exportONNXNetwork(dlnetwork(layers), path)
    assert json.loads({p.key: p.value for p in onnx.load(path).metadata_props}[META_CLASSES]) is None
    with pytest.raises(Lstm2OnnxError, match="dlnetwork: 3 class names for a network with 2 outputs"):
        dlnetwork(layers, Classes=["a", "b", "c"])


def test_package_functions_stay_functions_after_their_modules_load():
    """A submodule named like a package function would replace it once imported (a second trainnet call got a module)."""
    import importlib

    import lstm2onnx.training as training

    for name in ("_trainnet", "_dlnetwork", "inference", "trainer"):
        importlib.import_module(f"lstm2onnx.training.{name}")
    for name in training.__all__:
        assert callable(getattr(training, name)) and not isinstance(getattr(training, name), type(importlib)), name

