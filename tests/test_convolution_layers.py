"""1-D convolution and pooling over time through the whole project.

Constructors (MATLAB syntax, defaults, validation messages), display, the
float64 reference against MATLAB's formulas worked by hand, ONNX at every
supported opset (checker full check + strict shape inference inside
``build``; onnxruntime against the reference), the padding promise (a ragged
batch gives each sequence its result alone), torch, trainNetwork, MATLAB
text, specs and .mat weights.

Tolerances: onnxruntime float32 vs the float64 reference, max abs error
<= 1e-5 (ATOL_FLOAT32); torch in float64 vs the reference, 1e-10; sums
worked by hand, 1e-12.
"""

from __future__ import annotations

import json

import numpy as np
import pytest
import scipy.io
import torch
from conftest import ATOL_FLOAT32, assert_matches_reference, onnxruntime_max_opset, run

from lstm2onnx import (
    LayerArray,
    LayerError,
    Lstm2OnnxError,
    NetworkError,
    averagePooling1dLayer,
    build,
    classificationLayer,
    convolution1dLayer,
    fullyConnectedLayer,
    globalAveragePooling1dLayer,
    globalMaxPooling1dLayer,
    initialize,
    lstmLayer,
    maxPooling1dLayer,
    reference,
    regressionLayer,
    sequenceInputLayer,
    softmaxLayer,
    trainingOptions,
    trainNetwork,
)
from lstm2onnx.builder import META_IO, MIN_OPSET, max_opset
from lstm2onnx.matlab import from_matlab
from lstm2onnx.matlab.weights import apply_weights, load_weights
from lstm2onnx.matlab.writer import to_matlab
from lstm2onnx.network import layer_table
from lstm2onnx.spec import dump_spec, parse_spec
from lstm2onnx.training.torch_net import TorchNetwork

OPSETS = list(range(MIN_OPSET, max_opset() + 1))
ORT_MAX = onnxruntime_max_opset()

# (id, the time layers, the fewest steps a sequence needs)
STACKS = {
    "conv-default": ([convolution1dLayer(3, 4)], 3),
    "conv-same": ([convolution1dLayer(4, 5, "Padding", "same")], 1),
    "conv-same-stride2": ([convolution1dLayer(3, 4, "Padding", "same", "Stride", 2)], 1),
    "conv-same-stride3-dilated": ([convolution1dLayer(3, 2, "Padding", "same", "Stride", 3, "DilationFactor", 2)], 1),
    "conv-causal-dilated": ([convolution1dLayer(3, 4, "Padding", "causal", "DilationFactor", 2)], 1),
    "conv-manual-padvalue": ([convolution1dLayer(3, 4, "Padding", [2, 1], "PaddingValue", 0.5, "Stride", 2)], 1),
    "conv-scalar-padding": ([convolution1dLayer(5, 3, "Padding", 1, "Stride", 3, "BiasInitializer", "narrow-normal")], 3),
    "max-default": ([maxPooling1dLayer(2)], 2),
    "max-same-stride2": ([maxPooling1dLayer(3, "Stride", 2, "Padding", "same")], 1),
    "max-causal": ([maxPooling1dLayer(3, "Padding", "causal")], 1),
    "max-manual": ([maxPooling1dLayer(3, "Stride", 2, "Padding", [2, 1])], 1),
    "avg-default": ([averagePooling1dLayer(3, "Stride", 2)], 3),
    "avg-same-stride2": ([averagePooling1dLayer(3, "Stride", 2, "Padding", "same")], 1),
    "avg-same-mean": ([averagePooling1dLayer(4, "Stride", 3, "Padding", "same", "PaddingValue", "mean")], 1),
    "avg-manual-mean": ([averagePooling1dLayer(3, "Padding", [2, 1], "PaddingValue", "mean")], 1),
    "avg-causal": ([averagePooling1dLayer(2, "Padding", "causal")], 1),
    "cnn-stack": ([convolution1dLayer(3, 6, "Padding", "causal"), maxPooling1dLayer(2, "Stride", 2),
                   convolution1dLayer(2, 4, "Padding", "same", "Stride", 2), averagePooling1dLayer(2, "Padding", [1, 0])], 2),
}
HEADS = ["sequence", "lstm-last", "global-max", "global-avg"]


def network(key: str, head: str, rng: np.random.Generator) -> LayerArray:
    time_layers, _ = STACKS[key]
    tail = {
        "sequence": [fullyConnectedLayer(2)],
        "lstm-last": [lstmLayer(4, OutputMode="last"), fullyConnectedLayer(2)],
        "global-max": [globalMaxPooling1dLayer(), fullyConnectedLayer(2)],
        "global-avg": [globalAveragePooling1dLayer(), fullyConnectedLayer(2)],
    }[head]
    return initialize([sequenceInputLayer(3), *time_layers, *tail], seed=int(rng.integers(1000)))


def sequences(rng: np.random.Generator, n: int, shortest: int, longest: int, features: int = 3) -> tuple[list[np.ndarray], np.ndarray, np.ndarray]:
    """Ragged float32 sequences, their padded batch (padding 7.0: it must never matter) and int32 lengths."""
    lengths = rng.integers(shortest, longest + 1, size=n)
    lengths[0] = longest
    seqs = [rng.standard_normal((int(L), features)).astype(np.float32) for L in lengths]
    padded = np.full((n, longest, features), 7.0, np.float32)
    for k, s in enumerate(seqs):
        padded[k, : len(s)] = s
    return seqs, padded, lengths.astype(np.int32)


# -- constructors, validation, display -----------------------------------------------------------


def test_defaults_follow_matlab():
    conv = convolution1dLayer(3, 16)
    assert (conv.FilterSize, conv.NumFilters, conv.NumChannels, conv.Stride, conv.DilationFactor) == (3, 16, "auto", 1, 1)
    assert (conv.PaddingMode, conv.PaddingSize, conv.PaddingValue) == ("manual", (0, 0), 0.0)
    assert (conv.WeightsInitializer, conv.BiasInitializer) == ("glorot", "zeros")
    assert (conv.WeightLearnRateFactor, conv.BiasLearnRateFactor, conv.WeightL2Factor, conv.BiasL2Factor) == (1.0, 1.0, 1.0, 0.0)
    assert conv.Weights is None and conv.Bias is None
    pool = maxPooling1dLayer(2)
    assert (pool.PoolSize, pool.Stride, pool.PaddingMode, pool.PaddingSize) == (2, 1, "manual", (0, 0))
    assert averagePooling1dLayer(2).PaddingValue == 0.0
    causal = convolution1dLayer(3, 2, "Padding", "causal", "DilationFactor", 2)
    assert (causal.PaddingMode, causal.PaddingSize) == ("causal", (4, 0))
    assert convolution1dLayer(3, 2, Padding=2).PaddingSize == (2, 2)
    assert convolution1dLayer(3, 2, "padding", "SAME").PaddingMode == "same"


@pytest.mark.parametrize("make, message", [
    (lambda: convolution1dLayer(0, 3), "convolution1dLayer: FilterSize must be a positive integer, got 0"),
    (lambda: convolution1dLayer(3, 2.5), "NumFilters must be a positive integer, got 2.5"),
    (lambda: convolution1dLayer(3, 2, "Stride", 0), "Stride must be a positive integer, got 0"),
    (lambda: convolution1dLayer(3, 2, "DilationFactor", -1), "DilationFactor must be a positive integer"),
    (lambda: convolution1dLayer(3, 2, "Padding", "valid"), "Padding must be 'same', 'causal', a nonnegative integer or a 1-by-2 vector"),
    (lambda: convolution1dLayer(3, 2, "Padding", [1, 2, 3]), "got [1, 2, 3]"),
    (lambda: convolution1dLayer(3, 2, "Padding", -1), "Padding must be"),
    (lambda: convolution1dLayer(3, 2, "PaddingValue", "replicate"), "PaddingValue must be a finite number (lstm2onnx does not support"),
    (lambda: convolution1dLayer(3, 2, "Weights", np.zeros((3, 4, 5))), "Weights must be a 3-by-NumChannels-by-2 array (FilterSize-by-NumChannels-by-NumFilters), got 3-by-4-by-5"),
    (lambda: convolution1dLayer(3, 2, "NumChannels", 4, "Weights", np.zeros((3, 5, 2))), "must be a 3-by-4-by-2 array"),
    (lambda: convolution1dLayer(3, 2, "Bias", np.zeros(3)), "Bias must be a 2-by-1 vector (NumFilters), got 3 elements"),
    (lambda: convolution1dLayer(3, 2, "WeightsInitializer", "orthogonal"), "WeightsInitializer must be one of 'glorot', 'he'"),
    (lambda: convolution1dLayer(3, 2, "Weights", np.zeros((3, 1, 2, 1, 2))), "Weights must be a FilterSize-by-NumChannels-by-NumFilters numeric array"),
    (lambda: convolution1dLayer(3, 2, "Bogus", 1), "convolution1dLayer: unknown option 'Bogus'"),
    (lambda: maxPooling1dLayer(2, "Padding", [2, 0]), "maxPooling1dLayer: Padding must be smaller than PoolSize (2) on each side, got [2 0]"),
    (lambda: averagePooling1dLayer(2, "PaddingValue", 1), "averagePooling1dLayer: PaddingValue must be 0 or 'mean', got 1"),
    (lambda: averagePooling1dLayer(2, "Stride", 1.5), "Stride must be a positive integer"),
    (lambda: globalMaxPooling1dLayer("PoolSize", 2), "globalMaxPooling1dLayer: unknown option 'PoolSize'"),
])
def test_validation_messages(make, message):
    with pytest.raises(LayerError) as error:
        make()
    assert message in str(error.value)


@pytest.mark.parametrize("layers, message", [
    ([sequenceInputLayer(3), lstmLayer(2, OutputMode="last"), convolution1dLayer(2, 2)], "layer 3 'conv1d' (convolution1dLayer) works over time and needs sequence input"),
    ([sequenceInputLayer(3), globalMaxPooling1dLayer(), maxPooling1dLayer(2)], "(maxPooling1dLayer) works over time"),
    ([sequenceInputLayer(3), convolution1dLayer(2, 2, NumChannels=4)], "NumChannels says 4 input channels, but the previous layer outputs 3"),
    ([sequenceInputLayer(3), convolution1dLayer(2, 2, Weights=np.zeros((2, 5, 2)))], "Weights says 5 input channels, but the previous layer outputs 3"),
])
def test_network_checks(layers, message):
    with pytest.raises(NetworkError) as error:
        initialize(layers)
    assert message in str(error.value)


def test_display_like_matlab():
    text = str(convolution1dLayer(3, 10, "Padding", "causal", "Name", "c1"))
    assert text.splitlines()[:14] == [
        "  Convolution1DLayer with properties:", "",
        "              Name: 'c1'", "",
        "   Hyperparameters",
        "        FilterSize: 3",
        "       NumChannels: 'auto'",
        "        NumFilters: 10",
        "            Stride: 1",
        "    DilationFactor: 1",
        "       PaddingMode: 'causal'",
        "       PaddingSize: [2 0]",
        "      PaddingValue: 0", "",
    ]
    net = initialize([sequenceInputLayer(2), convolution1dLayer(3, 4), maxPooling1dLayer(2, Stride=2), averagePooling1dLayer(2, Padding="same"),
                      globalMaxPooling1dLayer()])
    assert "           Weights: [3×2×4 single]" in str(net[1])
    assert "       PoolSize: 2\n         Stride: 2\n    PaddingMode: 'manual'\n    PaddingSize: [0 0]" in str(net[2])
    assert "WeightLearnRateFactor: 1" in net[1].display(all=True)
    table = layer_table(net)
    assert "'conv1d'          1-D Convolution          4 3 convolutions with stride 1 and padding [0 0]" in table
    assert "'maxpool1d'       1-D Max Pooling          max pooling with pool size 2, stride 2 and padding [0 0]" in table
    assert "1-D Average Pooling      average pooling with pool size 2, stride 1 and padding 'same'" in table
    assert "'gmpool1d'        1-D Global Max Pooling   1-D global max pooling" in table


def test_glorot_initializer_uses_filter_fan_in_and_out():
    conv = initialize([sequenceInputLayer(5), convolution1dLayer(3, 7)], seed=4)[1]
    bound = np.sqrt(6.0 / (3 * 5 + 3 * 7))  # MATLAB: fan-in FilterSize*NumChannels, fan-out FilterSize*NumFilters
    assert conv.Weights.shape == (3, 5, 7) and conv.Weights.dtype == np.float32
    assert np.abs(conv.Weights).max() <= bound and np.abs(conv.Weights).max() > 0.8 * bound
    assert np.all(conv.Bias == 0) and conv.Bias.shape == (7,)
    he = initialize([sequenceInputLayer(5), convolution1dLayer(3, 400, WeightsInitializer="he")], seed=4)[1]
    assert abs(he.Weights.std() - np.sqrt(2.0 / 15)) < 0.01


# -- the reference against MATLAB's formulas ---------------------------------------------------------


@pytest.mark.parametrize("T, stride, window, expected", [
    (7, 1, 3, (1, 1)), (7, 1, 4, (1, 2)), (7, 2, 3, (1, 1)), (8, 2, 3, (0, 1)), (8, 3, 5, (1, 2)), (9, 3, 2, (0, 0)), (10, 3, 5, (2, 2)),
])
def test_same_padding_split(T, stride, window, expected):
    """total = max((ceil(T/s)-1)s + D - T, 0), left floor(total/2), the odd step on the right; T_out = ceil(T/s)."""
    layer = maxPooling1dLayer(window, Stride=stride, Padding="same")
    assert layer.pads(T) == expected
    assert layer.output_length(T) == -(-T // stride)


def test_reference_by_hand():
    W = np.array([[[1.0]], [[-2.0]]])  # K=2, C=1, F=1: y[j] = x̃[j·s] - 2 x̃[j·s + d] + 0.5
    net = [sequenceInputLayer(1), convolution1dLayer(2, 1, Weights=W, Bias=[0.5], Padding=[1, 0], PaddingValue=3.0, DilationFactor=2, Stride=2)]
    x = np.array([[1.0], [2.0], [4.0], [8.0], [16.0]])
    (y,) = reference.predict(net, [x])
    padded = [3.0, 1.0, 2.0, 4.0, 8.0, 16.0]  # one step of PaddingValue before
    expected = [padded[j] - 2 * padded[j + 2] + 0.5 for j in (0, 2)]  # T_out = floor((5 + 1 - 3)/2) + 1 = 2
    np.testing.assert_allclose(y[:, 0], expected, rtol=0, atol=1e-12)

    x = np.array([[1.0], [5.0], [-2.0], [3.0]])
    (m,) = reference.predict([sequenceInputLayer(1), maxPooling1dLayer(3, Padding="same", Stride=2)], [x])
    np.testing.assert_allclose(m[:, 0], [5.0, 3.0], atol=1e-12)  # total 1 -> [1 5 -2 | 3 pad]: windows [1 5 -2], [-2 3 -inf]
    (a,) = reference.predict([sequenceInputLayer(1), averagePooling1dLayer(3, Padding="same", Stride=2)], [x])
    np.testing.assert_allclose(a[:, 0], [4.0 / 3, 1.0 / 3], atol=1e-12)  # padding counts as zeros
    (a,) = reference.predict([sequenceInputLayer(1), averagePooling1dLayer(3, Padding="same", Stride=2, PaddingValue="mean")], [x])
    np.testing.assert_allclose(a[:, 0], [4.0 / 3, 1.0 / 2], atol=1e-12)  # padding left out of the count
    g = reference.predict([sequenceInputLayer(1), globalAveragePooling1dLayer()], [x, x[:2]])
    np.testing.assert_allclose(g[:, 0], [7.0 / 4, 3.0], atol=1e-12)
    g = reference.predict([sequenceInputLayer(1), globalMaxPooling1dLayer()], [x, x[:1]])
    np.testing.assert_allclose(g[:, 0], [5.0, 1.0], atol=1e-12)


def test_reference_rejects_a_sequence_too_short_for_the_window():
    net = initialize([sequenceInputLayer(2), convolution1dLayer(4, 2, Padding=[1, 0])])
    with pytest.raises(Lstm2OnnxError, match=r"sequence 2 reaches this layer with 2 time steps; its window of 4 steps with padding \[1, 0\] needs at least 3"):
        reference.predict(net, [np.zeros((5, 2)), np.zeros((2, 2))])


# -- ONNX -------------------------------------------------------------------------------------------


@pytest.mark.parametrize("head", HEADS)
@pytest.mark.parametrize("key", list(STACKS))
def test_onnx_matches_reference_and_keeps_the_padding_promise(key, head, rng):
    net = network(key, head, rng)
    seqs, padded, lengths = sequences(rng, 5, max(STACKS[key][1], 1), 11)
    expected = reference.predict(net, seqs)
    ragged = build(net, ragged=True)
    out = run(ragged, {"sequences": padded, "sequence_lengths": lengths})[ragged.graph.output[0].name]
    if head == "sequence":
        out_lengths = [len(e) for e in expected]
        assert out.shape[1] == max(out_lengths)
    assert_matches_reference(out, expected)
    plain = build(net)
    for k, s in enumerate(seqs[:3]):  # each sequence alone, in the plain graph: the same numbers as in the batch
        alone = run(plain, {"sequences": s[None]})[plain.graph.output[0].name]
        assert_matches_reference(alone, [expected[k]] if head == "sequence" else expected[k : k + 1])


@pytest.mark.parametrize("opset", OPSETS)
def test_every_opset_passes_checker_and_strict_inference(opset, rng):
    net = initialize([sequenceInputLayer(3), convolution1dLayer(3, 4, Padding="same", Stride=2), maxPooling1dLayer(2, Padding=[1, 0]),
                      averagePooling1dLayer(3, Padding="same", Stride=2, PaddingValue="mean"), lstmLayer(3),
                      globalMaxPooling1dLayer(), fullyConnectedLayer(2)])
    seqs, padded, lengths = sequences(rng, 4, 1, 9)
    for ragged in (False, True):
        model = build(net, ragged=ragged, opset=opset)  # build runs onnx.checker (full) and strict shape inference
        assert model.opset_import[0].version == opset
        if opset <= ORT_MAX:
            feeds = {"sequences": padded, "sequence_lengths": lengths} if ragged else {"sequences": seqs[0][None]}
            out = run(model, feeds)["outputs"]
            assert_matches_reference(out, reference.predict(net, seqs if ragged else seqs[:1]))


def test_graph_operators_and_interface():
    net = initialize([sequenceInputLayer(3), convolution1dLayer(3, 4, Stride=2, Padding="causal"), maxPooling1dLayer(2), fullyConnectedLayer(2)])
    model = build(net, ragged=True)
    ops = [n.op_type for n in model.graph.node]
    assert ops.count("Conv") == 1 and ops.count("MaxPool") == 1 and ops.count("Pad") == 1
    conv = next(n for n in model.graph.node if n.op_type == "Conv")
    assert {a.name: list(a.ints) for a in conv.attribute} == {"kernel_shape": [3], "strides": [2], "dilations": [1]}
    out = model.graph.output[0]
    assert [d.dim_param or d.dim_value for d in out.type.tensor_type.shape.dim] == ["batch", "output_time", 2]
    same = build(initialize([sequenceInputLayer(3), convolution1dLayer(3, 4, Padding="same")]), ragged=True)
    assert [d.dim_param for d in same.graph.output[0].type.tensor_type.shape.dim][:2] == ["batch", "time"]
    assert json.loads(dict((p.key, p.value) for p in model.metadata_props)[META_IO])["sequence_lengths"] == "sequence_lengths"


@pytest.mark.parametrize("layer", [convolution1dLayer(2, 2), maxPooling1dLayer(2), averagePooling1dLayer(2), globalAveragePooling1dLayer(),
                                   globalMaxPooling1dLayer()], ids=lambda layer: layer.FUNCTION)
def test_stateful_graphs_are_refused(layer):
    with pytest.raises(Lstm2OnnxError, match=r"stateful graph streams chunks carrying only recurrent state \(MATLAB's predictAndUpdateState\)"):
        build([sequenceInputLayer(3), lstmLayer(2), layer, fullyConnectedLayer(2)], stateful=True)


# -- torch and trainNetwork ----------------------------------------------------------------------------


@pytest.mark.parametrize("head", HEADS)
@pytest.mark.parametrize("key", list(STACKS))
def test_torch_forward_matches_reference(key, head, rng):
    net = network(key, head, rng)
    seqs, padded, lengths = sequences(rng, 5, max(STACKS[key][1], 1), 10)
    module = TorchNetwork(net).double().eval()
    with torch.no_grad():
        out = module(torch.from_numpy(padded).double(), torch.from_numpy(lengths).long()).numpy()
    assert_matches_reference(out, reference.predict(net, [s.astype(np.float64) for s in seqs]), atol=1e-10)


def test_torch_learnables_and_factors():
    net = initialize([sequenceInputLayer(3), convolution1dLayer(2, 4, WeightLearnRateFactor=2, BiasL2Factor=0.5, WeightL2Factor=3), fullyConnectedLayer(2)])
    module = TorchNetwork(net)
    entries = {(e.layer, e.name): (e.lr, e.l2) for e in module.learnables()}
    assert entries[("conv1d", "Weights")] == ([2.0], [3.0]) and entries[("conv1d", "Bias")] == ([1.0], [0.5])
    back = module.to_layers()
    assert all(a == b for a, b in zip(back, net))


def test_train_cnn_lstm_then_export_matches_reference(rng):
    """A CNN-LSTM classifies whether a bump comes early or late; the exported graph equals the reference on ragged data."""
    X, Y = [], []
    for k in range(48):
        T = int(rng.integers(8, 16))
        x = rng.normal(0, 0.3, (T, 2)).astype(np.float32)
        late = k % 2
        at = int(rng.integers(T // 2 + 1, T - 1)) if late else int(rng.integers(0, T // 2 - 1))
        x[at : at + 2, 0] += 2.0
        X.append(x)
        Y.append("late" if late else "early")
    layers = [sequenceInputLayer(2), convolution1dLayer(3, 6, Padding="causal"), maxPooling1dLayer(2, Stride=2),
              lstmLayer(8, OutputMode="last"), fullyConnectedLayer(2), softmaxLayer(), classificationLayer()]
    options = trainingOptions("adam", MaxEpochs=30, MiniBatchSize=12, InitialLearnRate=0.02, Verbose=False, Plots="none")
    net, info = trainNetwork(X, np.array(Y), layers, options, seed=0)
    assert info.TrainingLoss[-4:].mean() < 0.5 * info.TrainingLoss[:4].mean()
    model = build(net.Layers, ragged=True)
    lengths = np.array([len(x) for x in X], np.int32)
    padded = np.zeros((len(X), lengths.max(), 2), np.float32)
    for k, x in enumerate(X):
        padded[k, : len(x)] = x
    scores = run(model, {"sequences": padded, "sequence_lengths": lengths})["probabilities"]
    assert_matches_reference(scores, reference.predict(net.Layers, X))
    assert np.mean(np.array(net.Classes)[scores.argmax(1)] == np.array(Y)) >= 0.9


# -- MATLAB text, specs, .mat weights -------------------------------------------------------------------


def every_layer() -> list:
    return [sequenceInputLayer(3), convolution1dLayer(3, 4, "Padding", "same", "Stride", 2, "PaddingValue", 0.5, "Name", "c"),
            convolution1dLayer(2, 3, "Padding", [2, 1], "DilationFactor", 2, "WeightsInitializer", "he", "BiasL2Factor", 1),
            convolution1dLayer(2, 3, "Padding", "causal", "NumChannels", 3, "WeightLearnRateFactor", 0),
            maxPooling1dLayer(2, "Padding", [1, 0], "Stride", 2), averagePooling1dLayer(3, "Padding", "same", "PaddingValue", "mean"),
            averagePooling1dLayer(2, "Padding", "causal"), lstmLayer(3), globalAveragePooling1dLayer("Name", "gap"),
            fullyConnectedLayer(2), regressionLayer()]


def test_to_matlab_round_trip():
    layers = every_layer()
    text = to_matlab(layers)
    assert 'convolution1dLayer(3, 4, "Name", "c", "Stride", 2, "Padding", "same", "PaddingValue", 0.5)' in text
    assert 'maxPooling1dLayer(2, "Stride", 2, "Padding", [1 0])' in text
    assert 'averagePooling1dLayer(3, "Padding", "same", "PaddingValue", "mean")' in text
    back = from_matlab(text)
    assert len(back) == len(layers) and all(a == b for a, b in zip(back, layers))
    matlab = from_matlab("layers = [sequenceInputLayer(2)\n convolution1dLayer(5, 8, 'Padding', 'causal', 'DilationFactor', 2)\n"
                         " maxPooling1dLayer(2, 'Stride', 2)\n globalMaxPooling1dLayer\n fullyConnectedLayer(3)];")
    assert matlab[1] == convolution1dLayer(5, 8, Padding="causal", DilationFactor=2) and matlab[3] == globalMaxPooling1dLayer()
    net = initialize(layers, seed=1)
    with_weights = to_matlab(net, learnables=True)
    assert '"Weights", reshape([' in with_weights  # MATLAB has no 3-D literal: K x C x F, column-major
    assert all(a == b for a, b in zip(from_matlab(with_weights), net))


def test_spec_round_trip_with_learnables(rng):
    net = initialize(every_layer(), seed=3)
    layers, name = parse_spec(dump_spec(net, name="cnn", learnables=True))
    assert name == "cnn" and all(a == b for a, b in zip(layers, net))
    yaml_layers, _ = parse_spec("- sequenceInputLayer: 3\n- convolution1dLayer: [3, 8, Padding, causal]\n- maxPooling1dLayer: {PoolSize: 2, Stride: 2}\n"
                                "- averagePooling1dLayer: [2, PaddingValue, mean]\n- globalAveragePooling1dLayer\n")
    assert yaml_layers[1] == convolution1dLayer(3, 8, Padding="causal") and yaml_layers[2] == maxPooling1dLayer(2, Stride=2)
    assert yaml_layers[3].PaddingValue == "mean" and yaml_layers[4] == globalAveragePooling1dLayer()


@pytest.mark.parametrize("fmt", ["v5", "v7.3"])
def test_mat_weights(tmp_path, rng, fmt):
    """MATLAB saves Weights as FilterSize-by-NumChannels-by-NumFilters and Bias as 1-by-NumFilters."""
    from matlab.test_matlab_weights_and_cli import write_v73

    layers = [sequenceInputLayer(3), convolution1dLayer(3, 4, Padding="same"), convolution1dLayer(2, 1), fullyConnectedLayer(2)]
    weights = {"conv1d_1": {"Weights": rng.normal(size=(3, 3, 4)), "Bias": rng.normal(size=(1, 4))},
               "conv1d_2": {"Weights": rng.normal(size=(2, 4)), "Bias": rng.normal(size=(1, 1))}}  # NumFilters 1: MATLAB drops the 3rd dim
    path = tmp_path / "w.mat"
    if fmt == "v7.3":
        write_v73(path, weights)
    else:
        scipy.io.savemat(path, weights)
    net = apply_weights(layers, load_weights(path))
    np.testing.assert_array_equal(net[1].Weights, weights["conv1d_1"]["Weights"].astype(np.float32))
    assert net[2].Weights.shape == (2, 4, 1) and net[2].Bias.shape == (1,)
    seqs, padded, lengths = sequences(rng, 3, 2, 8)
    model = build(net, ragged=True)
    assert_matches_reference(run(model, {"sequences": padded, "sequence_lengths": lengths})["outputs"], reference.predict(initialize(net), seqs))


# -- the runtime --------------------------------------------------------------------------------------------


def test_runtime_predicts_changed_lengths_and_rejects_short_sequences(tmp_path, rng):
    import lstm2onnx_runtime as rt
    from lstm2onnx_runtime.errors import RuntimeInputError

    from lstm2onnx import exportONNXNetwork

    net = initialize([sequenceInputLayer(3), convolution1dLayer(3, 4, Stride=2), averagePooling1dLayer(2, Padding="same", Stride=2),
                      fullyConnectedLayer(2)])
    path = tmp_path / "cnn.onnx"
    exportONNXNetwork(net, str(path), ragged=True)
    model = rt.load(path, "cpu")
    seqs, padded, _ = sequences(rng, 7, 3, 12)
    expected = reference.predict(net, seqs)
    out = rt.predict(model, seqs, MiniBatchSize=3)
    assert [len(o) for o in out] == [len(e) for e in expected]  # floor((L - 3)/2) + 1, then ceil(./2)
    assert_matches_reference(np.stack([np.pad(o, ((0, 6 - len(o)), (0, 0))) for o in out]), expected)
    whole = rt.predict(model, padded[:, :9].copy())  # equal lengths as one [N, T, F] array
    assert_matches_reference(whole, reference.predict(net, list(padded[:, :9])))
    with pytest.raises(RuntimeInputError, match=r"sequence 2 has 2 time steps; this network's convolution/pooling windows need at least 3"):
        rt.predict(model, [seqs[0], seqs[0][:2]])
    with pytest.raises(RuntimeInputError, match="need at least 3"):
        rt.predict(model, padded[:, :2].copy())
    assert set(model.node_placement().values()) == {"CPUExecutionProvider"}


@pytest.mark.parametrize("windows", [{"window": 3}, [{"padding": "valid", "window": 3, "stride": 1}], [{"padding": [1], "window": 2, "stride": 1}],
                                     [{"padding": "same", "window": 0, "stride": 1}]])
def test_runtime_refuses_damaged_window_metadata(tmp_path, windows):
    import lstm2onnx_runtime as rt
    import onnx
    from lstm2onnx_runtime.errors import ModelError

    model = build(initialize([sequenceInputLayer(2), convolution1dLayer(3, 2)]))
    props = {p.key: p.value for p in model.metadata_props}
    io = json.loads(props[META_IO])
    io["time_windows"] = windows
    onnx.helper.set_model_props(model, {**props, META_IO: json.dumps(io)})
    onnx.save(model, tmp_path / "bad.onnx")
    with pytest.raises(ModelError, match="metadata lstm2onnx.io: 'time_windows' must be a list|time window"):
        rt.load(tmp_path / "bad.onnx", "cpu")


def test_train_sequence_to_sequence_needs_length_keeping_windows(rng):
    X = [rng.normal(size=(int(rng.integers(4, 9)), 2)).astype(np.float32) for _ in range(8)]
    Y = [x[:, :1].cumsum(0) for x in X]
    options = trainingOptions("adam", MaxEpochs=2, MiniBatchSize=4, Verbose=False, Plots="none")
    with pytest.raises(Lstm2OnnxError, match=r"convolution1dLayer 'conv1d' changes the sequence length, so the network's sequence output"):
        trainNetwork(X, Y, [sequenceInputLayer(2), convolution1dLayer(3, 4, Stride=2), fullyConnectedLayer(1), regressionLayer()], options)
    net, _ = trainNetwork(X, Y, [sequenceInputLayer(2), convolution1dLayer(3, 4, Padding="causal"), maxPooling1dLayer(2, Padding="same"),
                                 lstmLayer(3), fullyConnectedLayer(1), regressionLayer()], options, seed=0)
    expected = reference.predict(net.Layers, X)
    assert [len(y) for y in expected] == [len(x) for x in X]
    padded = np.zeros((len(X), max(len(x) for x in X), 2), np.float32)
    for k, x in enumerate(X):
        padded[k, : len(x)] = x
    out = run(build(net.Layers, ragged=True), {"sequences": padded, "sequence_lengths": np.array([len(x) for x in X], np.int32)})
    assert_matches_reference(out["responses"], expected)


def test_load_onnx_and_verify(tmp_path):
    from lstm2onnx import exportONNXNetwork
    from lstm2onnx.importer import load_onnx
    from lstm2onnx.verify import verify_model

    net = initialize([sequenceInputLayer(3), convolution1dLayer(4, 5, Padding=[1, 0], Stride=2, BiasInitializer="narrow-normal"),
                      averagePooling1dLayer(3, PaddingValue="mean", Padding="same"), lstmLayer(4), globalMaxPooling1dLayer(),
                      fullyConnectedLayer(2)], seed=5)
    path = tmp_path / "cnn.onnx"
    exportONNXNetwork(net, str(path), ragged=True)
    back = load_onnx(path)
    assert all(a == b for a, b in zip(back, net))
    report = verify_model(path, time=12)  # lengths from the shortest the windows allow (3) to 12
    assert max(report.values()) <= ATOL_FLOAT32


def test_torch_rejects_a_sequence_too_short_for_the_window():
    module = TorchNetwork(initialize([sequenceInputLayer(2), convolution1dLayer(4, 2, Padding=[1, 0]), lstmLayer(2)]))
    with pytest.raises(Lstm2OnnxError, match=r"sequence 2 reaches this layer with 2 time steps; its window of 4 steps with padding \[1, 0\] needs at least 3"):
        module(torch.zeros(2, 5, 2), torch.tensor([5, 2]))


def test_runtime_streaming_a_convolution_network_is_a_clear_error(tmp_path):
    import lstm2onnx_runtime as rt
    from lstm2onnx_runtime.errors import StreamError

    from lstm2onnx import exportONNXNetwork

    path = tmp_path / "cnn.onnx"
    exportONNXNetwork(initialize([sequenceInputLayer(2), convolution1dLayer(2, 3, Padding="causal"), lstmLayer(2)]), str(path))
    with pytest.raises(StreamError, match=r"has convolution or pooling over time; MATLAB's predictAndUpdateState carries only recurrent state"):
        rt.predictAndUpdateState(rt.load(path, "cpu"), [np.zeros((3, 2), np.float32)])


def test_weights_initializer_function_handle_gets_matlab_sizes():
    seen = []

    def init(sz):
        seen.append(tuple(sz))
        return np.arange(np.prod(sz), dtype=float).reshape(sz)

    conv = initialize([sequenceInputLayer(2), convolution1dLayer(3, 4, WeightsInitializer=init)])[1]
    assert seen == [(3, 2, 4)]
    np.testing.assert_array_equal(conv.Weights, np.arange(24, dtype=np.float32).reshape(3, 2, 4))
    with pytest.raises(LayerError, match="WeightsInitializer: the initializer callable failed"):
        initialize([sequenceInputLayer(2), convolution1dLayer(3, 4, WeightsInitializer=lambda sz: np.zeros(5))])
