"""wordEmbeddingLayer through the whole project.

Constructor (MATLAB syntax, defaults, validation), display, the float64
reference (a column of Weights per 1-based word index; OOVMode 'map-to-last',
MATLAB's default, reads the out-of-vocabulary column NumWords+1 of
Dimension-by-(NumWords+1) Weights; 'error'), ONNX at
every supported opset (checker full check + strict shape inference inside
``build``; onnxruntime against the reference, ragged and alone), torch,
trainNetwork, MATLAB text, specs, .mat weights, and the runtime's data
checks (a non-integer or out-of-range index is a clear error, not a crash).

Tolerances: onnxruntime float32 vs the float64 reference, max abs error
<= 1e-5 (ATOL_FLOAT32); torch in float64 vs the reference, 1e-10; a lookup
by hand, exact.
"""

from __future__ import annotations

import numpy as np
import pytest
import scipy.io
import torch
from conftest import assert_matches_reference, onnxruntime_max_opset, run

import lstm2onnx_runtime as rt
from lstm2onnx import (
    LayerError,
    Lstm2OnnxError,
    NetworkError,
    build,
    classificationLayer,
    exportONNXNetwork,
    fullyConnectedLayer,
    initialize,
    lstmLayer,
    reference,
    sequenceInputLayer,
    softmaxLayer,
    trainingOptions,
    trainNetwork,
    wordEmbeddingLayer,
)
from lstm2onnx.builder import MIN_OPSET, max_opset
from lstm2onnx.matlab import from_matlab
from lstm2onnx.matlab.weights import apply_weights, load_weights
from lstm2onnx.matlab.writer import to_matlab
from lstm2onnx.network import layer_table
from lstm2onnx.spec import dump_spec, parse_spec
from lstm2onnx.training.torch_net import TorchNetwork
from lstm2onnx_runtime.errors import RuntimeInputError

OPSETS = list(range(MIN_OPSET, max_opset() + 1))
ORT_MAX = onnxruntime_max_opset()
NUM_WORDS = 12


def text_network(oov: str = "error", mode: str = "sequence", seed: int = 0):
    return initialize([sequenceInputLayer(1), wordEmbeddingLayer(5, NUM_WORDS, OOVMode=oov), lstmLayer(4, OutputMode=mode),
                       fullyConnectedLayer(3)], seed=seed)


def documents(rng: np.random.Generator, n: int, longest: int, low: int = 1, high: int = NUM_WORDS):
    """Ragged sequences of word indices (float32 ``[T, 1]``), their batch padded with 0 (not a word) and int32 lengths."""
    lengths = rng.integers(1, longest + 1, size=n)
    lengths[0] = longest
    docs = [rng.integers(low, high + 1, size=(int(L), 1)).astype(np.float32) for L in lengths]
    padded = np.zeros((n, longest, 1), np.float32)
    for k, d in enumerate(docs):
        padded[k, : len(d)] = d
    return docs, padded, lengths.astype(np.int32)


# -- constructor, validation, display -------------------------------------------------------------


def test_defaults_follow_matlab():
    layer = wordEmbeddingLayer(300, 5000)
    assert (layer.Dimension, layer.NumWords, layer.OOVMode, layer.Weights) == (300, 5000, "map-to-last", None)
    assert (layer.WeightsInitializer, layer.WeightLearnRateFactor, layer.WeightL2Factor) == ("narrow-normal", 1.0, 1.0)
    assert wordEmbeddingLayer(3, 4, "OOVMode", "Error").OOVMode == "error"
    W = initialize([sequenceInputLayer(1), wordEmbeddingLayer(40, 500)], seed=1)[1].Weights
    assert W.shape == (40, 501) and W.dtype == np.float32 and abs(float(W.std()) - 0.01) < 0.001  # narrow-normal: N(0, 0.01²)
    assert initialize([sequenceInputLayer(1), wordEmbeddingLayer(40, 500, OOVMode="error")], seed=1)[1].Weights.shape == (40, 500)


def test_initializers_take_matlabs_fan_in_num_words_plus_one():
    """MATLAB: 'glorot' variance 2/(numIn + numOut), 'he' variance 2/numIn, numIn = NumWords + 1, numOut = Dimension."""
    D, K = 40, 499
    he = initialize([sequenceInputLayer(1), wordEmbeddingLayer(D, K, WeightsInitializer="he")], seed=2)[1].Weights
    assert he.shape == (D, K + 1) and abs(float(he.std()) / np.sqrt(2 / (K + 1)) - 1) < 0.03
    glorot = initialize([sequenceInputLayer(1), wordEmbeddingLayer(D, K, WeightsInitializer="glorot")], seed=2)[1].Weights
    bound = np.sqrt(6 / (K + 1 + D))
    assert 0.99 * bound < float(np.abs(glorot).max()) <= bound


def test_dimension_by_num_words_weights_get_the_oov_column_appended():
    """MATLAB appends a column to Dimension-by-NumWords Weights when training or initializing; initialize draws it with
    WeightsInitializer: the column an unset Weights would get from the same seed."""
    W = np.arange(15, dtype=np.float32).reshape(3, 5)
    given = initialize([sequenceInputLayer(1), wordEmbeddingLayer(3, 5, Weights=W, WeightsInitializer="glorot")], seed=7)[1]
    drawn = initialize([sequenceInputLayer(1), wordEmbeddingLayer(3, 5, WeightsInitializer="glorot")], seed=7)[1]
    assert given.Weights.shape == (3, 6)
    np.testing.assert_array_equal(given.Weights[:, :5], W)
    np.testing.assert_array_equal(given.Weights[:, 5], drawn.Weights[:, 5])
    assert np.abs(given.Weights[:, 5]).max() > 0
    full = np.arange(18, dtype=np.float32).reshape(3, 6)
    np.testing.assert_array_equal(initialize([sequenceInputLayer(1), wordEmbeddingLayer(3, 5, Weights=full)])[1].Weights, full)
    errors = initialize([sequenceInputLayer(1), wordEmbeddingLayer(3, 5, Weights=W, OOVMode="error")])[1]
    np.testing.assert_array_equal(errors.Weights, W)


@pytest.mark.parametrize("make, message", [
    (lambda: wordEmbeddingLayer(0, 5), "wordEmbeddingLayer: Dimension must be a positive integer, got 0"),
    (lambda: wordEmbeddingLayer(3, 2.5), "NumWords must be a positive integer, got 2.5"),
    (lambda: wordEmbeddingLayer(3, 5, "OOVMode", "ignore"), "OOVMode must be one of 'map-to-last', 'error', got 'ignore'"),
    (lambda: wordEmbeddingLayer(3, 5, "Weights", np.zeros((5, 3))),
     "Weights must be a 3-by-5 (Dimension-by-NumWords) or 3-by-6 (Dimension-by-(NumWords+1), the last column for "
     "out-of-vocabulary words) matrix, got 5-by-3"),
    (lambda: wordEmbeddingLayer(3, 5, "Weights", np.zeros((3, 7))), "or 3-by-6 (Dimension-by-(NumWords+1)"),
    (lambda: wordEmbeddingLayer(3, 5, "OOVMode", "error", "Weights", np.zeros((3, 6))),
     "Weights must be a 3-by-5 (Dimension-by-NumWords; OOVMode 'error' has no out-of-vocabulary column) matrix, got 3-by-6"),
    (lambda: wordEmbeddingLayer(3, 5, "WeightsInitializer", "unit-forget-gate"), "WeightsInitializer must be one of 'narrow-normal'"),
    (lambda: wordEmbeddingLayer(3, 5, "WeightL2Factor", -1), "WeightL2Factor must be a nonnegative scalar"),
])
def test_validation_messages(make, message):
    with pytest.raises(LayerError) as error:
        make()
    assert message in str(error.value)


@pytest.mark.parametrize("layers, message", [
    ([sequenceInputLayer(2), wordEmbeddingLayer(3, 5)], "needs sequences of word indices (one feature: sequenceInputLayer(1)), got 2 features"),
    ([sequenceInputLayer(1), lstmLayer(2, OutputMode="last"), wordEmbeddingLayer(3, 5)], "got one time step"),
])
def test_network_checks(layers, message):
    with pytest.raises(NetworkError) as error:
        initialize(layers)
    assert message in str(error.value)


def test_display_like_matlab():
    text = str(wordEmbeddingLayer(50, 1000, "Name", "emb"))
    assert text.splitlines()[:12] == [
        "  WordEmbeddingLayer with properties:", "",
        "         Name: 'emb'", "",
        "   Hyperparameters",
        "    Dimension: 50",
        "     NumWords: 1000",
        "      OOVMode: 'map-to-last'", "",
        "   Learnable Parameters",
        "      Weights: []", "",
    ]
    assert "WeightsInitializer: 'narrow-normal'" in wordEmbeddingLayer(2, 3).display(all=True)
    table = layer_table(text_network())
    assert "'word-embedding'   Word Embedding Layer   Word embedding layer with 5 dimensions and 12 unique words" in table


# -- reference ----------------------------------------------------------------------------------------


def test_reference_looks_up_columns_by_hand():
    W = np.arange(12, dtype=np.float64).reshape(3, 4)  # Dimension 3, NumWords 4
    net = [sequenceInputLayer(1), wordEmbeddingLayer(3, 4, Weights=W, OOVMode="error")]
    (y,) = reference.predict(net, [np.array([[4.0], [1.0], [2.0]])])
    np.testing.assert_array_equal(y, W[:, [3, 0, 1]].T)
    W5 = np.arange(15, dtype=np.float64).reshape(3, 5)  # map-to-last: column 5 is the out-of-vocabulary vector
    net = [sequenceInputLayer(1), wordEmbeddingLayer(3, 4, Weights=W5)]
    (y,) = reference.predict(net, [np.array([[0.0], [5.0], [-3.0], [2.0], [4.0], [900.0]])])
    np.testing.assert_array_equal(y, W5[:, [4, 4, 4, 1, 3, 4]].T)


def test_reference_needs_the_oov_column():
    net = [sequenceInputLayer(1), wordEmbeddingLayer(3, 4, Weights=np.ones((3, 4)))]
    with pytest.raises(Lstm2OnnxError, match=r"Weights is Dimension-by-NumWords; OOVMode 'map-to-last' reads column NumWords\+1 = 5.*"
                                             r"initialize the network first"):
        reference.predict(net, [np.array([[1.0]])])
    (y,) = reference.predict(initialize(net), [np.array([[9.0]])])
    np.testing.assert_array_equal(y[0], initialize(net)[1].Weights[:, 4])


@pytest.mark.parametrize("oov, value, message", [
    ("error", 13.0, "sequence 2, time step 3 holds 13; expected an integer word index from 1 to 12"),
    ("error", 0.0, "expected an integer word index from 1 to 12"),
    ("error", 2.5, "holds 2.5"),
    ("map-to-last", 2.5, "holds 2.5; expected an integer word index"),
    ("map-to-last", np.nan, "holds nan"),
])
def test_reference_rejects_bad_indices(oov, value, message):
    bad = np.array([[1.0], [2.0], [value]])
    with pytest.raises(Lstm2OnnxError) as error:
        reference.predict(text_network(oov), [np.array([[3.0]]), bad])
    assert message in str(error.value) and "wordEmbeddingLayer 'word-embedding'" in str(error.value)


# -- ONNX --------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("oov", ["error", "map-to-last"])
@pytest.mark.parametrize("mode", ["sequence", "last"])
def test_onnx_matches_reference_ragged_and_alone(oov, mode, rng):
    net = text_network(oov, mode, seed=int(rng.integers(1000)))
    high = NUM_WORDS + 3 if oov == "map-to-last" else NUM_WORDS  # map-to-last: some indices beyond the vocabulary
    docs, padded, lengths = documents(rng, 6, 9, low=-1 if oov == "map-to-last" else 1, high=high)
    expected = reference.predict(net, docs)
    model = build(net, ragged=True)
    assert_matches_reference(run(model, {"sequences": padded, "sequence_lengths": lengths})["outputs"], expected)
    plain = build(net)
    for k, d in enumerate(docs[:3]):
        alone = run(plain, {"sequences": d[None]})["outputs"]
        assert_matches_reference(alone, [expected[k]] if mode == "sequence" else expected[k : k + 1])


@pytest.mark.parametrize("oov, columns", [("map-to-last", NUM_WORDS), ("map-to-last", NUM_WORDS + 1), ("error", NUM_WORDS)])
def test_onnx_matches_reference_with_given_weights(oov, columns, rng):
    """Given Weights of either shape: build (which initializes, appending the out-of-vocabulary column to a
    Dimension-by-NumWords array) and the reference of the initialized network agree on in- and out-of-vocabulary words."""
    W = rng.normal(size=(5, columns))
    layers = [sequenceInputLayer(1), wordEmbeddingLayer(5, NUM_WORDS, Weights=W, OOVMode=oov), lstmLayer(4), fullyConnectedLayer(3)]
    net = initialize(layers, seed=5)
    assert net[1].Weights.shape == (5, NUM_WORDS + (oov == "map-to-last"))
    oov_words = oov == "map-to-last"
    docs, padded, lengths = documents(rng, 5, 8, low=-2 if oov_words else 1, high=NUM_WORDS + (5 if oov_words else 0))
    if oov_words:
        docs[0][:3, 0], padded[0, :3, 0] = (0.0, NUM_WORDS + 1.0, 50.0), (0.0, NUM_WORDS + 1.0, 50.0)
    expected = reference.predict(net, docs)
    assert_matches_reference(run(build(layers, ragged=True, seed=5), {"sequences": padded, "sequence_lengths": lengths})["outputs"], expected)


@pytest.mark.parametrize("opset", OPSETS)
def test_every_opset_passes_checker_and_strict_inference(opset, rng):
    net = text_network("map-to-last")
    model = build(net, ragged=True, opset=opset)  # build runs onnx.checker (full) and strict shape inference
    ops = {n.op_type for n in model.graph.node}
    assert {"Gather", "Clip", "Where", "Cast"} <= ops
    if opset <= ORT_MAX:
        docs, padded, lengths = documents(rng, 3, 5)
        assert_matches_reference(run(model, {"sequences": padded, "sequence_lengths": lengths})["outputs"], reference.predict(net, docs))


def test_graph_never_fails_on_out_of_range_indices_in_error_mode():
    """OOVMode 'error' leaves checking to the runtime; the raw graph clips, so onnxruntime never fails inside the Gather."""
    net = text_network("error")
    out = run(build(net), {"sequences": np.array([[[0.0], [99.0], [-5.0]]], np.float32)})["outputs"]
    clipped = reference.predict(net, [np.array([[1.0], [12.0], [1.0]])])[0]
    assert_matches_reference(out, [clipped])


def test_stateful_graph_streams_words(rng):
    net = text_network("error")
    model = build(net, stateful=True)
    docs, _, _ = documents(rng, 1, 8)
    whole = reference.predict(net, docs)[0]
    zeros = np.zeros((1, 4), np.float32)
    first = run(model, {"sequences": docs[0][None, :5], "lstm.HiddenState.in": zeros, "lstm.CellState.in": zeros})
    second = run(model, {"sequences": docs[0][None, 5:], "lstm.HiddenState.in": first["lstm.HiddenState.out"],
                         "lstm.CellState.in": first["lstm.CellState.out"]})
    assert_matches_reference(np.concatenate([first["outputs"], second["outputs"]], axis=1), [whole])


# -- torch and trainNetwork --------------------------------------------------------------------------------


@pytest.mark.parametrize("oov", ["error", "map-to-last"])
def test_torch_forward_matches_reference(oov, rng):
    net = text_network(oov, "sequence", seed=3)
    docs, padded, lengths = documents(rng, 5, 7, low=1, high=NUM_WORDS + (4 if oov == "map-to-last" else 0))
    module = TorchNetwork(net).double().eval()
    with torch.no_grad():
        out = module(torch.from_numpy(padded).double(), torch.from_numpy(lengths).long()).numpy()
    assert_matches_reference(out, reference.predict(net, docs), atol=1e-10)
    entries = {(e.layer, e.name): (e.lr, e.l2) for e in TorchNetwork(text_network()).learnables()}
    assert entries[("word-embedding", "Weights")] == ([1.0], [1.0])


def test_torch_trains_the_oov_column():
    """Out-of-vocabulary words read column NumWords+1 in torch as in the graph: its gradient is nonzero, the others' zero."""
    net = initialize([sequenceInputLayer(1), wordEmbeddingLayer(3, 4)], seed=1)
    module = TorchNetwork(net).double()
    x = torch.tensor([[[0.0], [7.0]]], dtype=torch.float64)
    module(x, torch.tensor([2])).sum().backward()
    grad = next(p for p in module.parameters() if p.shape == (3, 5)).grad
    assert grad[:, 4].abs().min() > 0 and float(grad[:, :4].abs().max()) == 0.0


def test_train_text_classifier_then_export_matches_reference(rng, tmp_path):
    """Documents that contain word 7 are 'yes'; the trained net separates them and the runtime gives the reference's numbers."""
    docs, labels = [], []
    for k in range(40):
        words = rng.choice([w for w in range(1, NUM_WORDS + 1) if w != 7], size=int(rng.integers(3, 9)))
        if k % 2:
            words[rng.integers(len(words))] = 7
        docs.append(words.astype(np.float32)[:, None])
        labels.append("yes" if k % 2 else "no")
    layers = [sequenceInputLayer(1), wordEmbeddingLayer(8, NUM_WORDS), lstmLayer(8, OutputMode="last"), fullyConnectedLayer(2),
              softmaxLayer(), classificationLayer()]
    net, info = trainNetwork(docs, np.array(labels), layers, trainingOptions("adam", MaxEpochs=40, MiniBatchSize=10, InitialLearnRate=0.05,
                                                                              Verbose=False), seed=0)
    assert info.TrainingLoss[-4:].mean() < 0.5 * info.TrainingLoss[:4].mean()
    path = tmp_path / "text.onnx"
    exportONNXNetwork(net, str(path), ragged=True)
    predicted, scores = rt.classify(rt.load(path, "cpu"), docs)
    assert_matches_reference(scores, reference.predict(net.Layers, docs))
    assert np.mean(np.asarray(predicted) == np.array(labels)) >= 0.9


# -- MATLAB text, specs, .mat weights -------------------------------------------------------------------------


def test_to_matlab_and_spec_round_trips():
    layers = [sequenceInputLayer(1), wordEmbeddingLayer(3, 7, "OOVMode", "error", "Name", "emb", "WeightL2Factor", 0.5), lstmLayer(2)]
    text = to_matlab(layers)
    assert 'wordEmbeddingLayer(3, 7, "Name", "emb", "OOVMode", "error", "WeightL2Factor", 0.5)' in text
    assert all(a == b for a, b in zip(from_matlab(text), layers))
    net = initialize(layers, seed=2)
    back = from_matlab(to_matlab(net, learnables=True))
    np.testing.assert_array_equal(back[1].Weights, net[1].Weights)
    spec_layers, _ = parse_spec(dump_spec(net, learnables=True))
    assert all(a == b for a, b in zip(spec_layers, net))
    assert parse_spec("- sequenceInputLayer: 1\n- wordEmbeddingLayer: [10, 200, OOVMode, map-to-last]\n")[0][1] == \
        wordEmbeddingLayer(10, 200, OOVMode="map-to-last")


def test_specs_write_oov_mode_explicitly():
    """OOVMode's default became MATLAB's 'map-to-last'; specs spell it out so their meaning never depends on a default."""
    assert wordEmbeddingLayer(3, 7).to_dict()["OOVMode"] == "map-to-last"
    assert wordEmbeddingLayer(3, 7, OOVMode="error").to_dict()["OOVMode"] == "error"
    spec_layers, _ = parse_spec(dump_spec([sequenceInputLayer(1), wordEmbeddingLayer(3, 7, OOVMode="error")]))
    assert spec_layers[1].OOVMode == "error"
    assert "OOVMode" in dump_spec([sequenceInputLayer(1), wordEmbeddingLayer(3, 7)])


@pytest.mark.parametrize("oov, columns", [("map-to-last", NUM_WORDS + 1), ("map-to-last", NUM_WORDS), ("error", NUM_WORDS)])
def test_mat_weights(oov, columns, tmp_path, rng):
    weights = {"word-embedding": {"Weights": rng.normal(size=(5, columns))}}
    scipy.io.savemat(tmp_path / "w.mat", {"emb": weights["word-embedding"]})  # MATLAB struct names cannot hold '-'
    layers = [sequenceInputLayer(1), wordEmbeddingLayer(5, NUM_WORDS, Name="emb", OOVMode=oov), lstmLayer(4)]
    net = apply_weights(layers, load_weights(tmp_path / "w.mat"))
    np.testing.assert_array_equal(net[1].Weights, weights["word-embedding"]["Weights"].astype(np.float32))


def test_mat_weights_of_the_wrong_width_name_the_layer(tmp_path, rng):
    scipy.io.savemat(tmp_path / "w.mat", {"emb": {"Weights": rng.normal(size=(5, NUM_WORDS + 1))}})
    layers = [sequenceInputLayer(1), wordEmbeddingLayer(5, NUM_WORDS, Name="emb", OOVMode="error"), lstmLayer(4)]
    with pytest.raises(Lstm2OnnxError, match=r"weights for layer 'emb': .*Weights must be a 5-by-12 .* got 5-by-13"):
        apply_weights(layers, load_weights(tmp_path / "w.mat"))


def test_matlab_script_with_matlab_trained_weights_builds_and_maps_oov_words(tmp_path, rng):
    """A MATLAB script and the learnables of the network MATLAB trained (Weights Dimension-by-(NumWords+1)) through
    ``lstm2onnx build script.m --weights learnables.mat``: out-of-vocabulary words (0 = doc2sequence's padding, > NumWords)
    read the trained last column, in the graph as in the reference."""
    import onnx

    from lstm2onnx.cli import main

    (tmp_path / "net.m").write_text(
        "numWords = 12;\n"
        "layers = [sequenceInputLayer(1)\n"
        "    wordEmbeddingLayer(5, numWords, Name=\"emb\")\n"
        "    lstmLayer(4, OutputMode=\"last\", Name=\"lstm\")\n"
        "    fullyConnectedLayer(3, Name=\"fc\")\n"
        "    softmaxLayer(Name=\"sm\")\n"
        "    classificationLayer(Name=\"out\")];\n"
        "opts = trainingOptions(\"adam\");\n"
        "net = trainNetwork(XTrain, YTrain, layers, opts);\n"
    )
    learned = {"emb": {"Weights": rng.normal(size=(5, NUM_WORDS + 1))},
               "lstm": {"InputWeights": rng.normal(size=(16, 5)), "RecurrentWeights": rng.normal(size=(16, 4)), "Bias": rng.normal(size=(16, 1))},
               "fc": {"Weights": rng.normal(size=(3, 4)), "Bias": rng.normal(size=(3, 1))}}
    scipy.io.savemat(tmp_path / "learnables.mat", learned)
    out = tmp_path / "net.onnx"
    assert main(["build", str(tmp_path / "net.m"), "--weights", str(tmp_path / "learnables.mat"), "--ragged", "-o", str(out)]) == 0
    expected_net = apply_weights(from_matlab((tmp_path / "net.m").read_text()), load_weights(tmp_path / "learnables.mat"))
    assert expected_net[1].OOVMode == "map-to-last" and expected_net[1].Weights.shape == (5, NUM_WORDS + 1)
    docs = [np.array([[0.0], [3.0], [13.0]], np.float32), np.array([[40.0], [12.0]], np.float32), np.array([[2.0]], np.float32)]
    expected = reference.predict(expected_net, docs)
    oov_only = reference.predict(expected_net, [np.array([[13.0], [0.0]])])
    only_last = np.repeat(learned["emb"]["Weights"][:, -1:], NUM_WORDS + 1, axis=1)  # every word reads the trained last column
    by_hand = [sequenceInputLayer(1), wordEmbeddingLayer(5, NUM_WORDS, Weights=only_last), *expected_net[2:]]
    np.testing.assert_allclose(oov_only, reference.predict(by_hand, [np.array([[1.0], [5.0]])]), rtol=0, atol=1e-12)
    padded = np.zeros((3, 3, 1), np.float32)
    for k, d in enumerate(docs):
        padded[k, : len(d)] = d
    (scores,) = run(onnx.load(out), {"sequences": padded, "sequence_lengths": np.array([3, 2, 1], np.int32)}).values()
    assert_matches_reference(scores, expected)
    predicted = rt.predict(rt.load(out, "cpu"), docs)
    assert_matches_reference(predicted, expected)


# -- the runtime's data checks ------------------------------------------------------------------------------


@pytest.mark.parametrize("oov, bad, message", [
    ("error", 13.0, "sequence 2, time step 2 holds 13; expected an integer word index from 1 to 12 (the model's wordEmbeddingLayer "),
    ("error", 0.0, "holds 0; expected an integer word index from 1 to 12"),
    ("error", 1.5, "holds 1.5; expected an integer word index from 1 to 12"),
    ("map-to-last", 1.5, "holds 1.5; expected an integer word index (OOVMode 'map-to-last' maps those outside 1..12 to the "
                         "out-of-vocabulary vector)"),
])
def test_runtime_rejects_bad_word_indices(oov, bad, message, tmp_path):
    path = tmp_path / "m.onnx"
    exportONNXNetwork(text_network(oov), str(path), ragged=True)
    net = rt.load(path, "cpu")
    docs = [np.array([[1.0], [2.0]], np.float32), np.array([[3.0], [bad]], np.float32)]
    with pytest.raises(RuntimeInputError) as error:
        rt.predict(net, docs)
    assert message in str(error.value)
    with pytest.raises(RuntimeInputError):
        rt.predict(net, np.stack(docs))  # the whole-batch path checks too
    if oov == "map-to-last":  # out-of-vocabulary words are data, read as the out-of-vocabulary vector (column 13)
        oov_docs = [np.array([[1.0], [40.0], [0.0], [13.0]], np.float32), np.array([[-4.0]], np.float32)]
        for got, expected in zip(rt.predict(net, oov_docs), reference.predict(text_network(oov), oov_docs)):
            assert_matches_reference(got[None], [expected])


def test_load_onnx_and_verify(tmp_path):
    from lstm2onnx.importer import load_onnx
    from lstm2onnx.verify import verify_model

    net = text_network("map-to-last", seed=4)
    path = tmp_path / "text.onnx"
    exportONNXNetwork(net, str(path), ragged=True)
    assert all(a == b for a, b in zip(load_onnx(path), net))
    assert max(verify_model(path).values()) <= 1e-5  # verify feeds integer word indices


def test_streams_check_word_indices(tmp_path, rng):
    """StreamPool steps are checked like predict's sequences, before any state moves."""
    path = tmp_path / "text.onnx"
    net = text_network("error")
    exportONNXNetwork(net, str(path), stateful=True, ragged=True)
    pool = rt.StreamPool(rt.load(path, "cpu"))
    a, b = pool.open(), pool.open()
    docs, _, _ = documents(rng, 2, 6)
    with pytest.raises(RuntimeInputError, match=r"sequence 1, time step 2 holds 0; expected an integer word index from 1 to 12"):
        a.step(np.array([[1.0], [0.0]], np.float32))
    with pytest.raises(RuntimeInputError, match=r"sequence 2, time step 1 holds 2.5"):
        pool.step({a: docs[0][:2], b: np.array([[2.5], [1.0]], np.float32)})
    with pytest.raises(RuntimeInputError, match="holds 13"):
        pool.step({a: docs[0][:2], b: np.array([[13.0]], np.float32)})
    group = pool.open_group(2)
    with pytest.raises(RuntimeInputError, match=r"StreamGroup.step: sequence 2, time step 1 holds 0"):
        group.step(np.array([[[1.0]], [[0.0]]], np.float32))
    outputs = [a.step(docs[0][:3]), a.step(docs[0][3:])]  # nothing moved before: the steps continue from the start
    assert_matches_reference(np.concatenate(outputs)[None], [reference.predict(net, docs[:1])[0]])
