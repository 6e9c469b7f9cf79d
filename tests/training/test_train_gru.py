"""gruLayer in the torch front end: nn.GRU / the per-step cell against the reference, per-gate factors, trainNetwork.

Tolerances: torch in float64 against the float64 reference 1e-12; trained
networks exported to ONNX (onnxruntime, float32) against the reference 1e-5.
"""

from __future__ import annotations

import itertools

import numpy as np
import pytest
import torch
from conftest import assert_matches_reference, random_batch, run

from lstm2onnx import (
    build,
    classificationLayer,
    fullyConnectedLayer,
    initialize,
    lstmLayer,
    reference,
    regressionLayer,
    sequenceInputLayer,
    softmaxLayer,
    trainingOptions,
    trainNetwork,
)
from lstm2onnx.layers import gruLayer
from lstm2onnx.layers.gru import RESET_GATE_MODES
from lstm2onnx.training.torch_gru import CellGRU, TorchGRU
from lstm2onnx.training.torch_net import TorchNetwork

ACTIVATIONS = list(itertools.product(["sigmoid", "hard-sigmoid"], ["tanh", "softsign"]))


def stack(rng, mode: str, gate: str, state: str, output: str = "sequence"):
    """gru -> gru('last' or not) -> lstm after it, every learnable at unit scale."""
    first = gruLayer(5, ResetGateMode=mode, GateActivationFunction=gate, StateActivationFunction=state, BiasInitializer="narrow-normal",
                     HiddenState=rng.uniform(-0.5, 0.5, 5))
    first = first.__class__(**{**first._non_default(), "Bias": rng.normal(0, 1, 15),
                               **({"RecurrentBias": rng.normal(0, 1, 15)} if mode == RESET_GATE_MODES[2] else {})})
    return [sequenceInputLayer(3), first, gruLayer(4, OutputMode=output, ResetGateMode=mode), lstmLayer(3), fullyConnectedLayer(2)]


@pytest.mark.parametrize("mode,activations", list(itertools.product(RESET_GATE_MODES, ACTIVATIONS)))
def test_torch_equals_reference_in_float64(mode, activations):
    """nn.GRU where it is exact (after-multiplication, recurrent bias; sigmoid/tanh), the cell otherwise; ragged; a one-step
    sequence after OutputMode 'last'; to_layers returns the same learnables."""
    rng = np.random.default_rng(RESET_GATE_MODES.index(mode) * 4 + ACTIVATIONS.index(activations))
    for output in ("sequence", "last"):
        net = initialize(stack(rng, mode, *activations, output), seed=3)
        module = TorchNetwork(net).double()
        exact = mode != "before-multiplication" and activations == ("sigmoid", "tanh")
        assert isinstance(module.stages["layer_gru_1"], TorchGRU if exact else CellGRU)
        batch = random_batch(rng, 6, 10, 3, ragged=True)
        with torch.no_grad():
            y = module(torch.tensor(batch.padded, dtype=torch.float64), torch.tensor(batch.lengths, dtype=torch.int64)).numpy()
        expected = reference.predict(net, batch.sequences)
        assert reference.max_abs_error(y, expected) <= 1e-12
        assert list(module.to_layers()) == list(net)


def test_nn_gru_and_the_cell_agree_in_forward_and_gradients():
    """The two implementations of one layer: same outputs and same gradients per MATLAB learnable (1e-10 in float64)."""
    rng = np.random.default_rng(0)
    for mode in ("after-multiplication", RESET_GATE_MODES[2]):
        net = initialize([sequenceInputLayer(3), gruLayer(4, ResetGateMode=mode, BiasInitializer="narrow-normal")], seed=1)
        layer = net[1]
        fast, cell = TorchGRU(layer).double(), CellGRU(layer).double()
        batch = random_batch(rng, 5, 7, 3, ragged=True)
        x, lengths = torch.tensor(batch.padded, dtype=torch.float64), torch.tensor(batch.lengths)
        outputs = [m(x, lengths)[0] for m in (fast, cell)]
        torch.testing.assert_close(outputs[0], outputs[1], rtol=0, atol=1e-10)
        for out in outputs:
            (out ** 2).sum().backward()
        for name in fast.learnables():
            torch.testing.assert_close(fast.learnables()[name][0].grad, cell.learnables()[name][0].grad, rtol=0, atol=1e-10)
        assert ("RecurrentBias" in fast.learnables()) == (mode == RESET_GATE_MODES[2])
        assert fast.gru.bias_hh_l0.requires_grad == (mode == RESET_GATE_MODES[2])  # frozen at zero without a recurrent bias


def toy_regression(n=24, seed=0):
    rng = np.random.default_rng(seed)
    X = [rng.normal(0, 1, (int(rng.integers(3, 10)), 3)) for _ in range(n)]
    return X, np.array([[x[:, 0].sum() * 0.3, x[:, 1].mean()] for x in X])


@pytest.mark.parametrize("mode,gate", [("after-multiplication", "sigmoid"), ("before-multiplication", "hard-sigmoid"), (RESET_GATE_MODES[2], "sigmoid")])
def test_train_network_trains_a_gru_and_the_export_matches_the_reference(mode, gate):
    X, Y = toy_regression()
    layers = [sequenceInputLayer(3), gruLayer(6, ResetGateMode=mode, GateActivationFunction=gate),
              gruLayer(5, OutputMode="last", StateActivationFunction="softsign"), fullyConnectedLayer(2), regressionLayer()]
    options = trainingOptions("adam", MaxEpochs=12, MiniBatchSize=6, InitialLearnRate=0.02, Verbose=False)
    net, info = trainNetwork(X, Y, layers, options, seed=0)
    assert info.TrainingLoss[-4:].mean() < 0.7 * info.TrainingLoss[:4].mean()
    before = initialize(layers, seed=0)
    assert np.abs(net.Layers[1].InputWeights - before[1].InputWeights).max() > 1e-3
    assert (net.Layers[1].RecurrentBias is not None) == (mode == RESET_GATE_MODES[2])
    lengths = np.array([len(x) for x in X], np.int32)
    padded = np.zeros((len(X), lengths.max(), 3), np.float32)
    for k, x in enumerate(X):
        padded[k, : len(x)] = x
    (actual,) = run(build(net.Layers, ragged=True), {"sequences": padded, "sequence_lengths": lengths}).values()
    assert_matches_reference(actual, reference.predict(net.Layers, [x.astype(np.float32) for x in X]))


def test_classification_with_a_gru_after_an_lstm():
    rng = np.random.default_rng(1)
    X = [rng.normal(0, 1, (int(rng.integers(3, 9)), 2)) + (k % 2) for k in range(24)]
    Y = np.array(["a", "b"] * 12)
    layers = [sequenceInputLayer(2), lstmLayer(4), gruLayer(4, OutputMode="last"), fullyConnectedLayer(2), softmaxLayer(), classificationLayer()]
    net, info = trainNetwork(X, Y, layers, trainingOptions("adam", MaxEpochs=10, MiniBatchSize=8, InitialLearnRate=0.03, Verbose=False), seed=0)
    assert info.TrainingLoss[-3:].mean() < info.TrainingLoss[:3].mean()
    scores = reference.predict(net.Layers, X)
    assert (np.asarray(net.Classes)[scores.argmax(1)] == Y).mean() >= 0.9


def test_per_gate_factors_freeze_exactly_those_gates():
    """1-by-3 learn-rate factors over r, z, h: a zero freezes that gate's rows; RecurrentBias follows BiasLearnRateFactor."""
    rng = np.random.default_rng(2)
    H = 3
    X = [rng.standard_normal((int(rng.integers(2, 8)), 2)) for _ in range(16)]
    Y = np.array(["a", "b"] * 8)
    for mode in ("after-multiplication", "before-multiplication", RESET_GATE_MODES[2]):
        layers = [sequenceInputLayer(2),
                  gruLayer(H, OutputMode="last", ResetGateMode=mode, InputWeightsLearnRateFactor=[0, 1, 1], RecurrentWeightsLearnRateFactor=[1, 1, 0],
                           BiasLearnRateFactor=[1, 0, 1], BiasInitializer="narrow-normal"),
                  fullyConnectedLayer(2), softmaxLayer(), classificationLayer()]
        before = initialize(layers, seed=0)
        net, _ = trainNetwork(X, Y, layers, trainingOptions("adam", MaxEpochs=3, MiniBatchSize=8, Verbose=False, L2Regularization=0.1), seed=0)
        after = net.Layers
        r, z, h = (slice(k * H, (k + 1) * H) for k in range(3))
        np.testing.assert_array_equal(after[1].InputWeights[r], before[1].InputWeights[r])
        np.testing.assert_array_equal(after[1].RecurrentWeights[h], before[1].RecurrentWeights[h])
        np.testing.assert_array_equal(after[1].Bias[z], before[1].Bias[z])
        trained = [after[1].InputWeights[z] - before[1].InputWeights[z], after[1].RecurrentWeights[r] - before[1].RecurrentWeights[r],
                   after[1].Bias[h] - before[1].Bias[h]]
        if mode == RESET_GATE_MODES[2]:
            np.testing.assert_array_equal(after[1].RecurrentBias[z], before[1].RecurrentBias[z])
            trained.append(after[1].RecurrentBias[r] - before[1].RecurrentBias[r])
        for changed in trained:
            assert np.abs(changed).max() > 1e-4


def test_sequence_length_chunks_carry_the_gru_state():
    """SequenceLength 3 trains a GRU stack in chunks with its hidden-only state carried; the loss still falls."""
    X, Y = toy_regression(12, seed=3)
    Yseq = [np.repeat(y[None, :1], len(x), 0) for x, y in zip(X, Y)]
    layers = [sequenceInputLayer(3), gruLayer(4), lstmLayer(3), fullyConnectedLayer(1), regressionLayer()]
    options = trainingOptions("adam", MaxEpochs=8, MiniBatchSize=4, SequenceLength=3, InitialLearnRate=0.02, Verbose=False)
    net, info = trainNetwork(X, Yseq, layers, options, seed=0)
    assert np.all(np.isfinite(info.TrainingLoss))

    def error(layers) -> float:
        return float(np.mean([((y - t) ** 2).mean() for y, t in zip(reference.predict(layers, X), Yseq)]))

    assert error(net.Layers) < 0.5 * error(initialize(layers, seed=0))


def test_torch_predict_and_update_state_streams_gru_stacks():
    """The torch front end's predictAndUpdateState carries hidden-only GRU state next to LSTM (h, c): chunks == whole (1e-5)."""
    from lstm2onnx.training import predict, predictAndUpdateState
    from lstm2onnx.training.inference import resetState

    rng = np.random.default_rng(4)
    layers = [sequenceInputLayer(3), gruLayer(4, HiddenState=rng.uniform(-0.5, 0.5, 4)), lstmLayer(3),
              gruLayer(2, ResetGateMode="before-multiplication"), fullyConnectedLayer(1), regressionLayer()]
    X = [rng.normal(size=(9, 3)).astype(np.float32), rng.normal(size=(9, 3)).astype(np.float32)]
    net, _ = trainNetwork(X, [x[:, :1].cumsum(0) for x in X], layers, trainingOptions("adam", MaxEpochs=2, MiniBatchSize=2, Verbose=False))
    whole = predict(net, X)
    state, pieces = net, []
    for start, stop in ((0, 4), (4, 5), (5, 9)):
        state, Y = predictAndUpdateState(state, [x[start:stop] for x in X])
        pieces.append(Y)
    for k in range(2):
        np.testing.assert_allclose(np.concatenate([p[k] for p in pieces]), whole[k], rtol=0, atol=1e-5)
        assert reference.max_abs_error(whole[k][None], [reference.predict(net.Layers, [X[k]])[0]]) <= 1e-5
    np.testing.assert_allclose(predict(resetState(state), X)[0], whole[0], rtol=0, atol=1e-6)


def test_torch_runs_a_one_step_sequence_after_output_mode_last():
    """Issue 9 item 6 in the torch front end: the stacks of tests/test_gru.py (lstm, bilstm, gru after 'last') in float64."""
    from test_gru import ONE_STEP_STACKS

    for name, make in ONE_STEP_STACKS.items():
        rng = np.random.default_rng(len(name))
        net = initialize([sequenceInputLayer(3), *make(rng)], seed=4)
        batch = random_batch(rng, 6, 11, 3, ragged=True)
        with torch.no_grad():
            y = TorchNetwork(net).double()(torch.tensor(batch.padded, dtype=torch.float64), torch.tensor(batch.lengths)).numpy()
        assert y.ndim == 2, name
        assert np.abs(y - reference.predict(net, batch.sequences)).max() <= 1e-12, name
