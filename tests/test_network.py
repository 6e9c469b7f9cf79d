"""Layer arrays: the MATLAB table display, automatic names, network checks and MATLAB's initializers."""

from __future__ import annotations

import re

import numpy as np
import pytest

from lstm2onnx import (
    LayerArray,
    NetworkError,
    analyze,
    bilstmLayer,
    build,
    classificationLayer,
    dropoutLayer,
    fullyConnectedLayer,
    initialize,
    lstmLayer,
    regressionLayer,
    sequenceInputLayer,
    softmaxLayer,
)


def seed_example():
    return [sequenceInputLayer(12), lstmLayer(100), fullyConnectedLayer(9), softmaxLayer(), classificationLayer()]


def test_layer_array_prints_like_matlab():
    text = str(LayerArray(seed_example()))
    expected = """\
  5x1 Layer array with layers:

     1   ''   Sequence Input          Sequence input with 12 dimensions
     2   ''   LSTM                    LSTM with 100 hidden units
     3   ''   Fully Connected         9 fully connected layer
     4   ''   Softmax                 softmax
     5   ''   Classification Output   crossentropyex
"""
    assert text == expected


def test_table_after_analysis_shows_assigned_names():
    layers = [sequenceInputLayer(3), bilstmLayer(4), dropoutLayer(0.2), lstmLayer(2), lstmLayer(2, Name="lstm_1"), lstmLayer(2, OutputMode="last"), regressionLayer()]
    names = [layer.Name for layer in analyze(layers).layers]
    assert names == ["sequenceinput", "bilstm", "dropout", "lstm_2", "lstm_1", "lstm_3", "regressionoutput"]
    table = str(analyze(layers).layers)
    assert re.search(r"2   'bilstm' +BiLSTM +BiLSTM with 4 hidden units", table) and "20% dropout" in table and "mean-squared-error" in table


def test_single_unnamed_layer_gets_the_plain_name():
    assert [layer.Name for layer in analyze(seed_example()).layers] == ["sequenceinput", "lstm", "fc", "softmax", "classoutput"]


def test_sizes_are_inferred():
    net = analyze([sequenceInputLayer(12), bilstmLayer(10), lstmLayer(7, OutputMode="last"), fullyConnectedLayer(3)])
    assert [(i.input_size, i.output_size, i.sequence_output) for i in net.infos] == [(None, 12, True), (12, 20, True), (20, 7, False), (7, 3, False)]
    assert net.layers[1].InputSize == 12 and net.layers[2].InputSize == 20 and net.layers[3].InputSize == 7


BAD_NETWORKS = [
    ([], "the layer array is empty"),
    ([lstmLayer(3)], "layer 1 (lstmLayer): the first layer must be sequenceInputLayer, got lstmLayer"),
    ([sequenceInputLayer(2), sequenceInputLayer(2)], "layer 2 (sequenceInputLayer): a network has one input layer, and it must be the first"),
    ([sequenceInputLayer(2), "lstm"], "element 2 of the layer array is a str, expected a layer"),
    ([sequenceInputLayer(2), softmaxLayer], "element 2 of the layer array is a function, expected a layer (call it: softmaxLayer())"),
    ([sequenceInputLayer(2), lstmLayer(3, InputSize=4)], "layer 2 'lstm' (lstmLayer): InputSize says 4 input features, but the previous layer outputs 2"),
    ([sequenceInputLayer(2), lstmLayer(3, InputWeights=np.zeros((12, 5)))], "layer 2 'lstm' (lstmLayer): InputWeights says 5 input features, but the previous layer outputs 2"),
    ([sequenceInputLayer(2), lstmLayer(3), fullyConnectedLayer(2, Weights=np.zeros((2, 4)))], "layer 3 'fc' (fullyConnectedLayer): Weights says 4 input features, but the previous layer outputs 3"),
    ([sequenceInputLayer(2), bilstmLayer(3), fullyConnectedLayer(2, InputSize=3)], "layer 3 'fc' (fullyConnectedLayer): InputSize says 3 input features, but the previous layer outputs 6"),
    ([sequenceInputLayer(2), lstmLayer(3), regressionLayer(), fullyConnectedLayer(1)], "layer 3 (regressionLayer): an output layer must be the last layer of the array"),
    ([sequenceInputLayer(2), lstmLayer(3), fullyConnectedLayer(2), classificationLayer()], "layer 4 (classificationLayer): a classification layer must follow a softmaxLayer, got fullyConnectedLayer before it"),
    ([sequenceInputLayer(2), lstmLayer(3), fullyConnectedLayer(2), softmaxLayer(), classificationLayer(Classes=["a", "b", "c"])], "layer 5 'classoutput' (classificationLayer): Classes names 3 classes, but the previous layer outputs 2"),
    ([sequenceInputLayer(2, Name="x"), lstmLayer(3, Name="x")], "layer 2 'x' (lstmLayer): layer names must be unique; layer 1 has the same Name"),
]


@pytest.mark.parametrize("layers,message", BAD_NETWORKS, ids=[m for _, m in BAD_NETWORKS])
def test_network_checks_name_the_layer(layers, message):
    with pytest.raises(NetworkError, match=re.escape(message)):
        analyze(layers)
    with pytest.raises(NetworkError, match=re.escape(message)):
        build(layers)


def test_missing_normalization_statistics_are_reported_at_build_time():
    layers = [sequenceInputLayer(3, Normalization="zscore", Mean=[0, 0, 0]), lstmLayer(2)]
    with pytest.raises(NetworkError, match=re.escape("layer 1 'sequenceinput' (sequenceInputLayer): Normalization 'zscore' needs StandardDeviation")):
        build(layers)
    analyze(layers, need_statistics=False)  # training computes them; the structure itself is fine


def test_not_a_list():
    with pytest.raises(NetworkError, match="expected a list of layers"):
        analyze("sequenceInputLayer(3)")


class TestInitializers:
    def test_glorot_orthogonal_unit_forget_gate(self):
        I, H = 12, 100
        net = initialize([sequenceInputLayer(I), lstmLayer(H)], seed=0)
        W, R, b = net[1].InputWeights, net[1].RecurrentWeights, net[1].Bias
        bound = np.sqrt(6 / (I + 4 * H))
        assert W.shape == (4 * H, I) and np.abs(W).max() <= bound and np.abs(W).max() > 0.95 * bound
        assert abs(W.std() - bound / np.sqrt(3)) < 0.05 * bound  # uniform on ±bound has std bound/√3
        np.testing.assert_allclose(R.T.astype(np.float64) @ R, np.eye(H), atol=1e-5)  # orthonormal columns
        np.testing.assert_array_equal(b[H : 2 * H], 1.0)
        np.testing.assert_array_equal(np.concatenate([b[:H], b[2 * H :]]), 0.0)
        assert net[1].HiddenState is None and net[1].CellState is None  # unset states mean zeros

    def test_orthogonal_columns_signed_by_diag_r(self):
        H = 6
        net = initialize([sequenceInputLayer(2), lstmLayer(H)], seed=3)
        rng = np.random.default_rng((3, 2, 1))  # layer 2, parameter 1 (RecurrentWeights)
        Q, R = np.linalg.qr(rng.standard_normal((4 * H, H)))
        np.testing.assert_allclose(net[1].RecurrentWeights, Q * np.sign(np.diag(R)), atol=1e-7)

    def test_bilstm_forget_gates_and_per_direction_orthogonal(self):
        H = 5
        net = initialize([sequenceInputLayer(3), bilstmLayer(H)], seed=1)
        b, R = net[1].Bias, net[1].RecurrentWeights.astype(np.float64)
        for d in range(2):
            np.testing.assert_array_equal(b[d * 4 * H + H : d * 4 * H + 2 * H], 1.0)
            block = R[d * 4 * H : (d + 1) * 4 * H]
            np.testing.assert_allclose(block.T @ block, np.eye(H), atol=1e-6)
        assert b.sum() == 2 * H

    def test_fc_glorot_and_zero_bias(self):
        net = initialize([sequenceInputLayer(3), lstmLayer(50), fullyConnectedLayer(20)], seed=0)
        W = net[2].Weights
        assert np.abs(W).max() <= np.sqrt(6 / 70) and np.all(net[2].Bias == 0)

    @pytest.mark.parametrize("name", ["he", "narrow-normal", "zeros", "ones", "orthogonal", "glorot"])
    def test_other_initializers(self, name):
        net = initialize([sequenceInputLayer(40), lstmLayer(30, InputWeightsInitializer=name, RecurrentWeightsInitializer=name, BiasInitializer="narrow-normal")], seed=0)
        W = net[1].InputWeights.astype(np.float64)
        expected_std = {"he": np.sqrt(2 / 40), "narrow-normal": 0.01, "glorot": np.sqrt(2 / (40 + 120))}
        if name in expected_std:
            assert abs(W.std() - expected_std[name]) < 0.05 * expected_std[name]
        elif name == "orthogonal":
            np.testing.assert_allclose(W.T @ W, np.eye(40), atol=1e-5)
        else:
            assert np.all(W == (name == "ones"))
        assert abs(net[1].Bias.std() - 0.01) < 0.002

    def test_callable_initializer_like_a_matlab_function_handle(self):
        net = initialize([sequenceInputLayer(2), lstmLayer(3, InputWeightsInitializer=lambda shape: np.full(shape, 0.5))], seed=0)
        np.testing.assert_array_equal(net[1].InputWeights, 0.5)
        with pytest.raises(Exception, match="must return an array of shape"):
            initialize([sequenceInputLayer(2), lstmLayer(3, InputWeightsInitializer=lambda shape: np.zeros(3))], seed=0)

    def test_given_learnables_are_kept_and_do_not_shift_other_draws(self):
        a = initialize([sequenceInputLayer(2), lstmLayer(3)], seed=5)
        b = initialize([sequenceInputLayer(2), lstmLayer(3, InputWeights=np.ones((12, 2)))], seed=5)
        np.testing.assert_array_equal(b[1].InputWeights, 1.0)
        np.testing.assert_array_equal(a[1].RecurrentWeights, b[1].RecurrentWeights)

    def test_seed_must_be_a_nonnegative_integer(self):
        with pytest.raises(NetworkError, match="seed must be a nonnegative integer, got -1"):
            initialize(seed_example(), seed=-1)
