"""trainNetwork end to end on small data: every task, options, info, plots, checkpoints, validation; the data loaders.

Tolerance where numbers are compared: max abs error <= 1e-5.
"""

from __future__ import annotations

import math
import os
import re

import numpy as np
import pytest
import torch
from conftest import ATOL_FLOAT32, run

import lstm2onnx_runtime as rt
from lstm2onnx import (
    LayerError,
    Lstm2OnnxError,
    bilstmLayer,
    build,
    classificationLayer,
    classify,
    dropoutLayer,
    exportONNXNetwork,
    fullyConnectedLayer,
    japaneseVowelsTestData,
    japaneseVowelsTrainData,
    lstmLayer,
    predict,
    reference,
    regressionLayer,
    sequenceInputLayer,
    softmaxLayer,
    trainingOptions,
    trainNetwork,
)
from lstm2onnx.spec import load_spec
from lstm2onnx.training.torch_net import TorchNetwork
from lstm2onnx.training.trainer import _loss_and_accuracy


def toy_classes(n=40, seed=0):
    """Two classes told apart by the sign of the first feature's mean."""
    rng = np.random.default_rng(seed)
    X, Y = [], []
    for k in range(n):
        label = k % 2
        x = rng.normal(0, 1, (int(rng.integers(3, 12)), 4))
        x[:, 0] += 1.5 if label else -1.5
        X.append(x)
        Y.append("up" if label else "down")
    return X, np.array(Y)


def quiet(**kwargs):
    return trainingOptions("adam", Verbose=False, **kwargs)


def test_sequence_to_label_trains_and_exports(tmp_path):
    X, Y = toy_classes()
    layers = [sequenceInputLayer(4, Normalization="zscore"), lstmLayer(8, OutputMode="last"), dropoutLayer(0.1), fullyConnectedLayer(2),
              softmaxLayer(), classificationLayer()]
    net, info = trainNetwork(X, Y, layers, quiet(MaxEpochs=15, MiniBatchSize=8, InitialLearnRate=0.01), seed=1)
    assert net.Classes == ("down", "up") and net.Layers[-1].Classes == ("down", "up")
    frames = np.concatenate(X)
    np.testing.assert_allclose(net.Layers[0].Mean, frames.mean(0), rtol=1e-6)  # statistics from the training data
    np.testing.assert_allclose(net.Layers[0].StandardDeviation, frames.std(0), rtol=1e-6)
    assert len(info.TrainingLoss) == 15 * (40 // 8) and info.OutputNetworkIteration == 75
    assert info.TrainingLoss[-5:].mean() < info.TrainingLoss[:5].mean()
    labels, scores = classify(net, X, MiniBatchSize=7)
    assert np.mean(labels == Y) >= 0.9
    path = tmp_path / "toy.onnx"
    exportONNXNetwork(net, path)
    ort_labels, ort_scores = rt.classify(rt.load(path, "cpu"), X)
    assert list(ort_labels) == list(labels)
    assert np.abs(ort_scores - scores).max() <= ATOL_FLOAT32
    assert np.abs(scores - reference.predict(net.Layers, X)).max() <= ATOL_FLOAT32


@pytest.mark.parametrize("gate,state", [("hard-sigmoid", "softsign"), ("sigmoid", "tanh")])
def test_sequence_to_sequence_classification(gate, state):
    X, Y = toy_classes(24)
    Yseq = [np.array([y] * len(x)) for x, y in zip(X, Y)]
    layers = [sequenceInputLayer(4), bilstmLayer(5, GateActivationFunction=gate, StateActivationFunction=state), fullyConnectedLayer(2),
              softmaxLayer(), classificationLayer()]
    net, info = trainNetwork(X, Yseq, layers, quiet(MaxEpochs=4, MiniBatchSize=6), seed=0)
    labels, scores = classify(net, X)
    assert [len(lab) for lab in labels] == [len(x) for x in X]
    expected = reference.predict(net.Layers, X)
    assert max(np.abs(s - e).max() for s, e in zip(scores, expected)) <= ATOL_FLOAT32
    assert np.all(np.isfinite(info.TrainingLoss)) and np.all(info.TrainingAccuracy <= 100)


@pytest.mark.parametrize("mode", ["last", "sequence"])
def test_regression(mode):
    rng = np.random.default_rng(0)
    X = [rng.normal(size=(int(rng.integers(2, 9)), 3)) for _ in range(30)]
    Y = [x[:, :2].cumsum(0) for x in X] if mode == "sequence" else np.array([x[:, :2].sum(0) for x in X])
    layers = [sequenceInputLayer(3), lstmLayer(16, OutputMode=mode), fullyConnectedLayer(2), regressionLayer()]
    net, info = trainNetwork(X, Y, layers, trainingOptions("sgdm", MaxEpochs=20, MiniBatchSize=10, Verbose=False, InitialLearnRate=0.05), seed=0)
    assert np.all(np.isnan(info.TrainingAccuracy))
    assert info.TrainingLoss[-3:].mean() < info.TrainingLoss[:3].mean()
    out = predict(net, X)
    expected = reference.predict(net.Layers, X)
    assert max(np.abs(o - e).max() for o, e in zip(out, expected)) <= ATOL_FLOAT32


def test_padding_never_leaks_into_the_loss():
    """The gradient on a padded batch equals the mean of each sequence's gradient computed alone."""
    layers = [sequenceInputLayer(3), lstmLayer(4, OutputMode="last"), fullyConnectedLayer(2), softmaxLayer(), classificationLayer(Classes=["a", "b"])]
    from lstm2onnx import initialize

    module = TorchNetwork(initialize(layers, seed=0))
    rng = np.random.default_rng(1)
    short, long = rng.normal(size=(2, 3)).astype(np.float32), rng.normal(size=(9, 3)).astype(np.float32)
    labels = torch.tensor([0, 1])

    def grad(x, lengths, y):
        module.zero_grad()
        loss, _ = _loss_and_accuracy(module, module(torch.from_numpy(x), torch.tensor(lengths)), y, torch.tensor(lengths), None)
        loss.backward()
        return np.concatenate([p.grad.numpy().ravel() for p in module.parameters() if p.grad is not None])

    padded = np.full((2, 9, 3), 1e3, np.float32)  # loud padding
    padded[0, :2], padded[1] = short, long
    together = grad(padded, [2, 9], labels)
    alone = (grad(short[None], [2], labels[:1]) + grad(long[None], [9], labels[1:])) / 2
    np.testing.assert_allclose(together, alone, rtol=0, atol=1e-6)


def test_verbose_table_plot_and_checkpoints(tmp_path, capsys):
    X, Y = toy_classes(16)
    (tmp_path / "ck").mkdir()  # MATLAB's trainingOptions requires an existing CheckpointPath
    options = trainingOptions("rmsprop", MaxEpochs=3, MiniBatchSize=4, VerboseFrequency=5, Plots="training-progress",
                              CheckpointPath=str(tmp_path / "ck"), ValidationData=(X[:6], Y[:6]), ValidationFrequency=4,
                              LearnRateSchedule="piecewise", LearnRateDropPeriod=1, LearnRateDropFactor=0.5)
    net, info = trainNetwork(X, Y, [sequenceInputLayer(4), lstmLayer(3, OutputMode="last"), fullyConnectedLayer(2), softmaxLayer(), classificationLayer()],
                             options)
    printed = capsys.readouterr().out
    assert "|  Epoch  |  Iteration  |  Time Elapsed  |  Mini-batch  |  Validation  |" in printed
    rows = [line for line in printed.splitlines() if re.match(r"\|\s+\d+ \|", line)]
    assert [int(r.split("|")[2]) for r in rows] == [1, 4, 5, 8, 10, 12]  # first, every 5th, validations, last
    assert os.path.isfile(info.PlotFile) and info.PlotFile.endswith(".png")
    assert f"training progress plot written to {info.PlotFile}" in printed
    checkpoints = sorted(os.listdir(tmp_path / "ck"))
    assert len([c for c in checkpoints if c.startswith("net_checkpoint__")]) == 3
    restored, _ = load_spec(tmp_path / "ck" / [c for c in checkpoints if c.startswith("net_checkpoint__12__")][0])
    assert list(restored) == list(net.Layers)
    np.testing.assert_allclose(info.BaseLearnRate, np.repeat([0.001, 0.0005, 0.00025], 4))
    measured = ~np.isnan(info.ValidationLoss)
    assert list(np.flatnonzero(measured) + 1) == [1, 4, 8, 12]
    assert not math.isnan(info.FinalValidationAccuracy)


def test_validation_patience_stops_training():
    X, Y = toy_classes(12)
    options = quiet(MaxEpochs=50, MiniBatchSize=4, InitialLearnRate=1e-12, ValidationData=(X, Y), ValidationFrequency=1, ValidationPatience=2)
    _, info = trainNetwork(X, Y, [sequenceInputLayer(4), lstmLayer(3, OutputMode="last"), fullyConnectedLayer(2), softmaxLayer(), classificationLayer()],
                           options)
    assert info.StoppedEarly and len(info.TrainingLoss) == 3


def test_training_runs_with_tf32_off_and_restores_the_flags(monkeypatch):
    """cuDNN would run float32 LSTMs in TF32 on Ampere+ GPUs; trainNetwork turns it off and puts the user's flags back."""
    from lstm2onnx.training import solver

    seen = []
    step = solver.MatlabSolver.step

    def watching(self, rate):
        seen.append((torch.backends.cudnn.allow_tf32, torch.backends.cuda.matmul.allow_tf32))
        return step(self, rate)

    monkeypatch.setattr(solver.MatlabSolver, "step", watching)
    saved = torch.backends.cudnn.allow_tf32, torch.backends.cuda.matmul.allow_tf32  # (monkeypatch cannot undo these)
    torch.backends.cudnn.allow_tf32 = torch.backends.cuda.matmul.allow_tf32 = True
    try:
        X, Y = toy_classes(8)
        layers = [sequenceInputLayer(4), lstmLayer(3, OutputMode="last"), fullyConnectedLayer(2), softmaxLayer(), classificationLayer()]
        trainNetwork(X, Y, layers, quiet(MaxEpochs=1, MiniBatchSize=4))
        assert seen and set(seen) == {(False, False)}
        assert torch.backends.cudnn.allow_tf32 and torch.backends.cuda.matmul.allow_tf32
        with pytest.raises(Exception, match="MiniBatchSize 9 is larger"):
            trainNetwork(X, Y, layers, quiet(MaxEpochs=1, MiniBatchSize=9))
        assert torch.backends.cudnn.allow_tf32 and torch.backends.cuda.matmul.allow_tf32
    finally:
        torch.backends.cudnn.allow_tf32, torch.backends.cuda.matmul.allow_tf32 = saved


def test_shortest_sequence_length_and_shuffling_are_deterministic():
    X, Y = toy_classes(12)
    layers = [sequenceInputLayer(4), lstmLayer(3, OutputMode="last"), fullyConnectedLayer(2), softmaxLayer(), classificationLayer()]
    a, _ = trainNetwork(X, Y, layers, quiet(MaxEpochs=2, MiniBatchSize=4, SequenceLength="shortest", Shuffle="every-epoch"), seed=3)
    b, _ = trainNetwork(X, Y, layers, quiet(MaxEpochs=2, MiniBatchSize=4, SequenceLength="shortest", Shuffle="every-epoch"), seed=3)
    assert list(a.Layers) == list(b.Layers)


@pytest.mark.parametrize("call,message", [
    (lambda: trainingOptions("sgd"), "solverName must be one of 'sgdm', 'adam', 'rmsprop', got 'sgd'"),
    (lambda: trainingOptions("adam", MaxEpoch=3), "unknown option 'MaxEpoch'; supported options: InitialLearnRate, MaxEpochs"),
    (lambda: trainingOptions("adam", "MaxEpochs"), "name-value arguments must come in pairs"),
    (lambda: trainingOptions("adam", MaxEpochs=0), "MaxEpochs must be a positive integer, got 0"),
    (lambda: trainingOptions("adam", InitialLearnRate=-1), "InitialLearnRate must be a number in (0, inf), got -1"),
    (lambda: trainingOptions("sgdm", Momentum=1.5), "Momentum must be a number in [0, 1], got 1.5"),
    (lambda: trainingOptions("adam", GradientThresholdMethod="max"), "GradientThresholdMethod must be one of 'l2norm', 'global-l2norm', 'absolute-value'"),
    (lambda: trainingOptions("adam", Shuffle="always"), "Shuffle must be one of 'once', 'every-epoch', 'never'"),
    (lambda: trainingOptions("adam", Plots="tensorboard"), "Plots must be one of 'none', 'training-progress'"),
    (lambda: trainingOptions("adam", ExecutionEnvironment="tpu"), "ExecutionEnvironment must be one of 'auto', 'cpu', 'gpu'"),
    (lambda: trainingOptions("adam", Verbose="yes"), "Verbose must be true or false"),
    (lambda: trainingOptions("adam", ValidationData=[1, 2, 3]), "ValidationData must be a pair (XValidation, YValidation)"),
    (lambda: trainingOptions("adam", MaxEpochs=3, maxepochs=4), "option 'MaxEpochs' is given more than once"),
])
def test_bad_training_options(call, message):
    with pytest.raises(LayerError, match=re.escape(message)):
        call()


def test_training_defaults_are_matlabs():
    sgdm, adam, rms = trainingOptions("sgdm"), trainingOptions("adam"), trainingOptions("rmsprop")
    assert (sgdm.InitialLearnRate, adam.InitialLearnRate, rms.InitialLearnRate) == (0.01, 0.001, 0.001)
    assert (adam.SquaredGradientDecayFactor, rms.SquaredGradientDecayFactor, adam.GradientDecayFactor) == (0.999, 0.9, 0.9)
    assert (adam.MaxEpochs, adam.MiniBatchSize, adam.L2Regularization, adam.Shuffle, adam.GradientThreshold) == (30, 128, 1e-4, "once", math.inf)
    assert (adam.ValidationFrequency, adam.ValidationPatience, adam.VerboseFrequency, adam.Verbose) == (50, math.inf, 50, True)


def test_bad_training_data():
    X, Y = toy_classes(8)
    layers = [sequenceInputLayer(4), lstmLayer(3, OutputMode="last"), fullyConnectedLayer(2), softmaxLayer(), classificationLayer()]
    with pytest.raises(Lstm2OnnxError, match=re.escape("sequence 2 must be a non-empty, finite [time, 4] array, got shape (4, 7); it looks like MATLAB's features-by-time layout: pass x.T")):
        trainNetwork([X[0], np.zeros((4, 7))] + X[2:], Y, layers, quiet())
    with pytest.raises(Lstm2OnnxError, match="8 sequences but 7 responses/labels"):
        trainNetwork(X, Y[:7], layers, quiet())
    with pytest.raises(Lstm2OnnxError, match=re.escape("MiniBatchSize 128 is larger than the 8 training sequences")):
        trainNetwork(X, Y, layers, quiet())
    with pytest.raises(Lstm2OnnxError, match="are not among the classes"):
        trainNetwork(X, Y, layers[:-1] + [classificationLayer(Classes=["x", "y"])], quiet(MiniBatchSize=4))
    with pytest.raises(Lstm2OnnxError, match="needs a classificationLayer or regressionLayer"):
        trainNetwork(X, Y, layers[:-2], quiet(MiniBatchSize=4))
    with pytest.raises(Lstm2OnnxError, match="SequenceLength 5 splits sequences into chunks .* which a bilstmLayer cannot do"):
        trainNetwork(X, Y, [layers[0], bilstmLayer(3, OutputMode="last"), *layers[2:]], quiet(MiniBatchSize=4, SequenceLength=5))


@pytest.mark.skipif(torch.cuda.is_available(), reason="this machine has CUDA; the error is for machines without it")
def test_gpu_requested_without_cuda():
    X, Y = toy_classes(8)
    with pytest.raises(Lstm2OnnxError, match="ExecutionEnvironment 'gpu' was asked for, but torch sees no CUDA device"):
        trainNetwork(X, Y, [sequenceInputLayer(4), lstmLayer(3, OutputMode="last"), fullyConnectedLayer(2), softmaxLayer(), classificationLayer()],
                     quiet(MiniBatchSize=4, ExecutionEnvironment="gpu"))


def test_japanese_vowels_loaders():
    XTrain, YTrain = japaneseVowelsTrainData()
    XTest, YTest = japaneseVowelsTestData()
    assert len(XTrain) == 270 and len(XTest) == 370
    assert all(x.shape[1] == 12 for x in XTrain + XTest)
    assert min(len(x) for x in XTrain + XTest) == 7 and max(len(x) for x in XTrain + XTest) == 29
    assert sorted(set(YTrain)) == [str(k) for k in range(1, 10)] and list(np.unique(YTrain, return_counts=True)[1]) == [30] * 9
    np.testing.assert_array_equal(XTrain[0][0, :3], [1.860936, -0.207383, 0.261557])  # the first frame of the .ts file


def test_classify_works_on_an_initialized_layer_array(rng):
    from lstm2onnx import initialize

    net = initialize([sequenceInputLayer(2), lstmLayer(3, OutputMode="last"), fullyConnectedLayer(3), softmaxLayer(), classificationLayer()], 0)
    X = [rng.normal(size=(4, 2)), rng.normal(size=(2, 2))]
    labels, scores = classify(net, X)
    assert set(labels) <= {"1", "2", "3"}
    (onnx_scores,) = run(build(net, ragged=True), {"sequences": np.stack([X[0], np.pad(X[1], ((0, 2), (0, 0)))]).astype(np.float32),
                                                   "sequence_lengths": np.array([4, 2], np.int32)}).values()
    assert np.abs(onnx_scores - scores).max() <= ATOL_FLOAT32


def test_integer_sequence_length_trains_in_chunks_with_the_state_carried():
    """SequenceLength S: each mini-batch runs as chunks of S steps, one update per chunk, the state carried (detached).

    Checked against the same procedure written out with the torch module directly (sgdm without momentum,
    so each update is -lr * gradient), to 1e-6.
    """
    from lstm2onnx import initialize

    rng = np.random.default_rng(0)
    X = [rng.normal(size=(L, 3)) for L in (7, 4, 9, 2)]
    Y = [x[:, :1].cumsum(0) for x in X]
    layers = [sequenceInputLayer(3), lstmLayer(5), fullyConnectedLayer(1), regressionLayer()]
    options = trainingOptions("sgdm", MaxEpochs=1, MiniBatchSize=4, Momentum=0, L2Regularization=0, Shuffle="never",
                              SequenceLength=3, InitialLearnRate=0.1, Verbose=False)
    net, info = trainNetwork(X, Y, layers, options, seed=2)
    assert len(info.TrainingLoss) == 3  # ceil(9 / 3) chunks of the one mini-batch

    module = TorchNetwork(initialize(layers, seed=2))
    lengths = np.array([len(x) for x in X])
    state, previous = None, np.arange(len(X))
    for start in (0, 3, 6):
        rows = np.flatnonzero(lengths > start)
        steps = np.minimum(lengths[rows] - start, 3)
        x = np.zeros((len(rows), steps.max(), 3), np.float32)
        y = np.zeros((len(rows), steps.max(), 1), np.float32)
        for j, r in enumerate(rows):
            x[j, : steps[j]] = X[r][start : start + steps[j]]
            y[j, : steps[j]] = Y[r][start : start + steps[j]]
        if state is not None:
            keep = torch.from_numpy(lengths[previous] > start)
            state = {k: (h[:, keep], c[:, keep]) for k, (h, c) in state.items()}
        final = {}
        module.zero_grad()
        out = module(torch.from_numpy(x), torch.from_numpy(steps), state, final)
        t_lengths = torch.from_numpy(steps)
        valid = (torch.arange(out.shape[1])[None, :] < t_lengths[:, None]).float()[..., None]
        loss = (((out - torch.from_numpy(y)) ** 2 * valid).sum(dim=(1, 2)) / (2 * t_lengths.float())).sum() / len(rows)
        loss.backward()
        with torch.no_grad():
            for p in module.parameters():
                if p.grad is not None:
                    p -= 0.1 * p.grad
        state = {k: (h.detach(), c.detach()) for k, (h, c) in final.items()}
        previous = rows
    expected = module.to_layers()
    for a, b in zip(net.Layers, expected):
        for name in ("InputWeights", "RecurrentWeights", "Bias", "Weights"):
            if getattr(a, name, None) is not None:
                np.testing.assert_allclose(getattr(a, name), getattr(b, name), rtol=0, atol=1e-6, err_msg=name)


def test_a_chunk_longer_than_every_sequence_changes_nothing():
    X, Y = toy_classes(12)
    layers = [sequenceInputLayer(4), lstmLayer(3, OutputMode="last"), fullyConnectedLayer(2), softmaxLayer(), classificationLayer()]
    a, _ = trainNetwork(X, Y, layers, quiet(MaxEpochs=2, MiniBatchSize=4), seed=1)
    b, _ = trainNetwork(X, Y, layers, quiet(MaxEpochs=2, MiniBatchSize=4, SequenceLength=100), seed=1)
    for la, lb in zip(a.Layers, b.Layers):
        for name in ("InputWeights", "RecurrentWeights", "Bias", "Weights"):
            if getattr(la, name, None) is not None:
                np.testing.assert_allclose(getattr(la, name), getattr(lb, name), rtol=0, atol=1e-6)
