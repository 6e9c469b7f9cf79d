"""selfAttentionLayer (MATLAB R2023a) through the spec, the reference, the ONNX graph, torch and MATLAB text.

Tolerances: onnxruntime (float32) against the float64 reference 1e-5 (ATOL_FLOAT32); the reference against a
hand-written per-sequence attention 1e-12; a sequence alone against the same sequence in a padded batch, 1e-6
(float32 sums over a different number of padded keys, all weighted 0); torch in float64 against the reference
1e-12; a trained network's ONNX export against torch's float32 outputs 1e-5.
"""

from __future__ import annotations

import dataclasses
import itertools
import re

import numpy as np
import onnx
import pytest
from conftest import ATOL_FLOAT32, assert_matches_reference, random_batch, run

from lstm2onnx import (
    LayerError,
    Lstm2OnnxError,
    NetworkError,
    SelfAttentionLayer,
    build,
    fullyConnectedLayer,
    initialize,
    lstmLayer,
    reference,
    regressionLayer,
    selfAttentionLayer,
    sequenceInputLayer,
)
from lstm2onnx.importer import load_onnx
from lstm2onnx.matlab import from_matlab
from lstm2onnx.matlab.writer import to_matlab

LEARNABLES = ("QueryWeights", "KeyWeights", "ValueWeights", "OutputWeights", "QueryBias", "KeyBias", "ValueBias", "OutputBias")


def feeds(batch, ragged: bool = True) -> dict[str, np.ndarray]:
    return {"sequences": batch.padded, **({"sequence_lengths": batch.lengths} if ragged else {})}


def hand_attention(X: np.ndarray, layer: SelfAttentionLayer) -> np.ndarray:
    """Textbook multihead attention on one unpadded sequence ``[T, C]``, written apart from the reference:
    a loop over query steps, each head's softmax over the keys it may see."""
    W = {k: np.asarray(getattr(layer, k), np.float64) for k in LEARNABLES}
    Q, K, V = (X @ W[f"{k}Weights"].T + W[f"{k}Bias"] for k in ("Query", "Key", "Value"))
    h = layer.NumHeads
    d_k, d_v = Q.shape[1] // h, V.shape[1] // h
    out = np.zeros((len(X), V.shape[1]))
    for s in range(len(X)):
        keys = s + 1 if layer.AttentionMask == "causal" else len(X)
        for i in range(h):
            logits = np.array([Q[s, i * d_k:(i + 1) * d_k] @ K[t, i * d_k:(i + 1) * d_k] for t in range(keys)]) / np.sqrt(d_k)
            p = np.exp(logits - logits.max())
            out[s, i * d_v:(i + 1) * d_v] = (p / p.sum()) @ V[:keys, i * d_v:(i + 1) * d_v]
    return out @ W["OutputWeights"].T + W["OutputBias"]


def unit_scale(layer: SelfAttentionLayer, rng: np.random.Generator) -> SelfAttentionLayer:
    """Every learnable drawn at unit scale, so a wrong head split, scale or mask shows in the numbers."""
    return dataclasses.replace(layer, **{k: rng.normal(0, 0.6, getattr(layer, k).shape) for k in LEARNABLES})


SETTINGS = [  # (NumHeads, NumKeyChannels, options)
    (1, 4, {}),
    (2, 8, {"NumValueChannels": 6}),
    (4, 8, {"OutputSize": 3}),
    (3, 6, {"NumValueChannels": 9, "OutputSize": 7}),
]


def network(rng, heads, keys, options, mask, inputs=5):
    net = initialize([sequenceInputLayer(inputs), selfAttentionLayer(heads, keys, AttentionMask=mask, **options)], seed=heads)
    return [net[0], unit_scale(net[1], rng)]


# -- spec ----------------------------------------------------------------------------------------


def test_constructor_defaults_sizes_and_display():
    layer = selfAttentionLayer(4, 64)
    assert (layer.NumHeads, layer.NumKeyChannels, layer.NumValueChannels, layer.OutputSize) == (4, 64, "auto", "auto")
    assert (layer.AttentionMask, layer.DropoutProbability, layer.HasPaddingMaskInput, layer.HasScoresOutput) == ("none", 0.0, False, False)
    assert (layer.WeightsInitializer, layer.BiasInitializer, layer.BiasL2Factor) == ("glorot", "zeros", 0.0)
    assert "selfAttentionLayer" in repr(layer) and "self attention with 4 heads" in layer.description()
    net = initialize([sequenceInputLayer(10), selfAttentionLayer(2, 8)])
    att = net[1]
    assert (att.NumValueChannels, att.OutputSize, att.InputSize) == (8, 10, 10)  # 'auto': NumKeyChannels, the input channels
    shapes = {k: getattr(att, k).shape for k in LEARNABLES}
    assert shapes == {"QueryWeights": (8, 10), "KeyWeights": (8, 10), "ValueWeights": (8, 10), "OutputWeights": (10, 8),
                      "QueryBias": (8,), "KeyBias": (8,), "ValueBias": (8,), "OutputBias": (10,)}
    bound = np.sqrt(6 / (10 + 8))  # glorot: fan-in the input channels, fan-out NumKeyChannels
    assert np.abs(att.QueryWeights).max() <= bound and np.abs(att.QueryWeights).max() > bound / 2
    assert not att.QueryBias.any() and not att.OutputBias.any()
    assert SelfAttentionLayer.from_dict(att.to_dict()) == att


@pytest.mark.parametrize("call, message", [
    (lambda: selfAttentionLayer(3, 8), "selfAttentionLayer: NumKeyChannels must be divisible by NumHeads (3), got 8"),
    (lambda: selfAttentionLayer(2, 8, NumValueChannels=5), "selfAttentionLayer: NumValueChannels must be divisible by NumHeads (2), got 5"),
    (lambda: selfAttentionLayer(0, 8), "selfAttentionLayer: NumHeads must be a positive integer"),
    (lambda: selfAttentionLayer(2, 8, OutputSize=-1), "selfAttentionLayer: OutputSize must be a positive integer, got -1"),
    (lambda: selfAttentionLayer(2, 8, AttentionMask="future"), "selfAttentionLayer: AttentionMask must be one of 'none', 'causal'"),
    (lambda: selfAttentionLayer(2, 8, DropoutProbability=1), "selfAttentionLayer: DropoutProbability must be a number in the range [0, 1)"),
    (lambda: selfAttentionLayer(2, 8, HasPaddingMaskInput=True), "HasPaddingMaskInput: true adds a padding-mask input"),
    (lambda: selfAttentionLayer(2, 8, HasScoresOutput=True), "HasScoresOutput: true adds the attention scores as a second output"),
    (lambda: selfAttentionLayer(2, 8, QueryWeights=np.ones((6, 3))), "QueryWeights must be a 8-by-InputSize (NumKeyChannels-by-InputSize) matrix, got 6-by-3"),
    (lambda: selfAttentionLayer(2, 8, NumValueChannels=4, OutputWeights=np.ones((3, 8))), "OutputWeights must be a OutputSize-by-4"),
    (lambda: selfAttentionLayer(2, 8, KeyBias=np.ones(4)), "KeyBias must be a 8-by-1 vector (NumKeyChannels), got 4 elements"),
    (lambda: selfAttentionLayer(2, 4, QueryWeights=np.ones((4, 3)), KeyWeights=np.ones((4, 5))), "must have one column per input channel"),
])
def test_bad_sizes_and_options_name_the_property(call, message):
    with pytest.raises(LayerError, match=re.escape(message)):
        call()


def test_weights_that_disagree_with_the_input_are_a_network_error():
    with pytest.raises(NetworkError, match="QueryWeights says 3 input channels, but the previous layer outputs 5"):
        initialize([sequenceInputLayer(5), selfAttentionLayer(1, 2, QueryWeights=np.ones((2, 3)))])


# -- numerics ------------------------------------------------------------------------------------


@pytest.mark.parametrize("heads, keys, options, mask", [(*s, m) for s, m in itertools.product(SETTINGS, ["none", "causal"])])
def test_ragged_graph_matches_reference(rng, heads, keys, options, mask):
    net = network(rng, heads, keys, options, mask)
    batch = random_batch(rng, 6, 9, 5, ragged=True, pad_value=np.nan)  # NaN padding must not reach a valid step
    model = build(net, ragged=True)
    onnx.checker.check_model(model)
    (y,) = run(model, feeds(batch)).values()
    assert_matches_reference(y, reference.predict(net, batch.sequences))


@pytest.mark.parametrize("mask", ["none", "causal"])
def test_full_length_graph_matches_reference(rng, mask):
    net = network(rng, 2, 4, {"OutputSize": 3}, mask)
    batch = random_batch(rng, 3, 7, 5, ragged=False)
    (y,) = run(build(net), feeds(batch, ragged=False)).values()
    assert_matches_reference(y, reference.predict(net, batch.sequences))


@pytest.mark.parametrize("heads, keys, options, mask", [(*s, m) for s, m in itertools.product(SETTINGS, ["none", "causal"])])
def test_reference_is_textbook_attention_on_each_sequence(rng, heads, keys, options, mask):
    net = network(rng, heads, keys, options, mask)
    xs = [rng.normal(size=(T, 5)) for T in (1, 4, 7)]
    for x, y in zip(xs, reference.predict(net, xs)):
        np.testing.assert_allclose(y, hand_attention(x, net[1]), rtol=0, atol=1e-12)


def test_key_bias_never_changes_an_output(rng):
    """KeyBias adds q·b_K to every score of a query's row, which the softmax over the keys takes out again: no output
    depends on it (reference and ONNX graph), and its gradient is 0 where every other learnable's is not."""
    torch = pytest.importorskip("torch")
    from lstm2onnx.training.torch_attention import SelfAttention

    net = network(rng, 2, 8, {"NumValueChannels": 4}, "causal")
    moved = [net[0], dataclasses.replace(net[1], KeyBias=net[1].KeyBias + rng.normal(0, 5, 8))]
    batch = random_batch(rng, 4, 7, 5, ragged=True)
    for a, b in zip(reference.predict(net, batch.sequences), reference.predict(moved, batch.sequences)):
        np.testing.assert_allclose(a, b, rtol=0, atol=1e-12)
    (a,), (b,) = run(build(net, ragged=True), feeds(batch)).values(), run(build(moved, ragged=True), feeds(batch)).values()
    assert_matches_reference(a, [y[:L] for y, L in zip(b, batch.lengths)])
    module = SelfAttention(moved[1]).double()
    y, _ = module(torch.tensor(batch.padded, dtype=torch.float64), torch.tensor(batch.lengths), True)
    valid = torch.arange(y.shape[1])[None, :, None] < torch.tensor(batch.lengths)[:, None, None]
    torch.where(valid, y, 0.0).square().sum().backward()
    gradients = {k: float(p[0].grad.abs().max()) for k, p in module.learnables().items()}
    assert gradients.pop("KeyBias") < 1e-12 and min(gradients.values()) > 1e-3, gradients


def test_causal_output_at_a_step_ignores_later_steps(rng):
    net = network(rng, 2, 4, {}, "causal")
    x = rng.normal(size=(6, 5))
    changed = x.copy()
    changed[4:] += 10.0
    (a,), (b,) = reference.predict(net, [x]), reference.predict(net, [changed])
    np.testing.assert_array_equal(a[:4], b[:4])
    assert np.abs(a[4:] - b[4:]).min() > 0


@pytest.mark.parametrize("mask", ["none", "causal"])
def test_padding_never_changes_a_result(rng, mask):
    """A sequence run alone (no padding) gives what it gives in a padded batch next to longer ones."""
    net = network(rng, 2, 8, {"NumValueChannels": 4}, mask)
    model = build(net, ragged=True)
    batch = random_batch(rng, 5, 10, 5, ragged=True, pad_value=1e6)
    (together,) = run(model, feeds(batch)).values()
    for n, x in enumerate(batch.sequences):
        (alone,) = run(model, {"sequences": x[None], "sequence_lengths": np.array([len(x)], np.int32)}).values()
        np.testing.assert_allclose(together[n, : len(x)], alone[0], rtol=0, atol=1e-6)


def test_after_an_lstm_and_after_a_last_step(rng):
    """Inside a network, and on one step (OutputMode 'last'), where a step attends to itself alone."""
    net = initialize([sequenceInputLayer(3), lstmLayer(6), selfAttentionLayer(3, 6, AttentionMask="causal"),
                      lstmLayer(4, OutputMode="last"), selfAttentionLayer(2, 4, OutputSize=2)], seed=5)
    batch = random_batch(rng, 5, 8, 3, ragged=True)
    (y,) = run(build(net, ragged=True), feeds(batch)).values()
    assert y.shape == (5, 2)
    assert_matches_reference(y, reference.predict(net, batch.sequences))


def test_stateful_build_is_refused():
    net = initialize([sequenceInputLayer(3), lstmLayer(4), selfAttentionLayer(2, 4)])
    with pytest.raises(Lstm2OnnxError, match="selfAttentionLayer 'selfattention': a stateful graph .* attends to the whole sequence"):
        build(net, stateful=True)


def test_load_onnx_reads_the_learnables_back(rng, tmp_path):
    net = network(rng, 2, 4, {"NumValueChannels": 6, "OutputSize": 3}, "causal")
    path = tmp_path / "att.onnx"
    onnx.save(build(net, ragged=True), path)
    back = load_onnx(path)
    assert back[1] == net[1]


# -- training ------------------------------------------------------------------------------------


def test_torch_forward_equals_reference(rng):
    torch = pytest.importorskip("torch")
    from lstm2onnx.training.torch_net import TorchNetwork

    for (heads, keys, options), mask in itertools.product(SETTINGS, ["none", "causal"]):
        net = network(rng, heads, keys, options, mask)
        batch = random_batch(rng, 5, 8, 5, ragged=True)
        module = TorchNetwork(net).double().eval()
        with torch.no_grad():
            y = module(torch.tensor(batch.padded, dtype=torch.float64), torch.tensor(batch.lengths, dtype=torch.int64)).numpy()
        assert_matches_reference(y, reference.predict(net, batch.sequences), atol=1e-12)
        assert list(module.to_layers()) == list(net)
        names = {learnable.name: (learnable.lr, learnable.l2) for learnable in module.learnables()}
        assert names["QueryWeights"] == ([1.0], [1.0]) and names["OutputBias"] == ([1.0], [0.0])  # Weight*/Bias* factors


def test_train_a_few_steps_moves_every_learnable_and_the_export_equals_torch():
    torch = pytest.importorskip("torch")
    from lstm2onnx import trainingOptions, trainNetwork
    from lstm2onnx.training.torch_net import TorchNetwork

    batch = random_batch(np.random.default_rng(7), 16, 8, 3, ragged=True)
    X, padded, lengths = batch.sequences, batch.padded, batch.lengths
    Y = [np.cumsum(x[:, :2], axis=0) * 0.3 for x in X]
    layers = [sequenceInputLayer(3), selfAttentionLayer(2, 4, AttentionMask="causal", BiasInitializer="narrow-normal",
                                                        DropoutProbability=0.1),
              fullyConnectedLayer(2), regressionLayer()]
    options = trainingOptions("adam", MaxEpochs=3, MiniBatchSize=8, InitialLearnRate=0.02, Verbose=False)
    net, _ = trainNetwork(X, Y, layers, options, seed=0)
    before, after = initialize(layers, seed=0), net.Layers
    for k in LEARNABLES:  # KeyBias has gradient 0 (test_key_bias_never_changes_an_output): Adam moves it by rounding noise alone
        if k != "KeyBias":
            assert np.abs(getattr(after[1], k) - getattr(before[1], k)).max() > 1e-4, k
    with torch.no_grad():
        expected = TorchNetwork(after).eval().outputs(torch.tensor(padded), torch.tensor(lengths, dtype=torch.int64)).numpy()
    (actual,) = run(build(after, ragged=True), {"sequences": padded, "sequence_lengths": lengths}).values()
    assert_matches_reference(actual, [e[:L] for e, L in zip(expected, lengths)])
    assert_matches_reference(actual, reference.predict(after, X))


# -- MATLAB text ---------------------------------------------------------------------------------


def test_matlab_text_parses_and_writes_back():
    layers = from_matlab(
        'layers = [sequenceInputLayer(64)\n'
        '    selfAttentionLayer(4, 64)\n'
        '    selfAttentionLayer(8, 64, AttentionMask="causal", NumValueChannels=32, OutputSize=16, DropoutProbability=0.1, Name="att")\n'
        "    selfAttentionLayer(2, 4, 'WeightsInitializer', 'he', 'BiasL2Factor', 2)];")
    assert (layers[1].NumHeads, layers[1].NumKeyChannels) == (4, 64)
    att = layers[2]
    assert (att.Name, att.AttentionMask, att.NumValueChannels, att.OutputSize, att.DropoutProbability) == ("att", "causal", 32, 16, 0.1)
    assert (layers[3].WeightsInitializer, layers[3].BiasL2Factor) == ("he", 2.0)
    text = to_matlab(layers)
    assert "selfAttentionLayer(4, 64)" in text and 'selfAttentionLayer(8, 64, "Name", "att", "NumValueChannels", 32' in text
    assert list(from_matlab(text)) == list(layers)
    net = initialize(layers)
    written = to_matlab(net, learnables=True)
    assert "InputSize" not in written.split("\n", 2)[2]  # not a MATLAB option of selfAttentionLayer
    back = from_matlab(written)
    for k in LEARNABLES:
        np.testing.assert_array_equal(getattr(back[2], k), getattr(net[2], k))
    with pytest.raises(Lstm2OnnxError, match="NumKeyChannels must be divisible by NumHeads"):
        from_matlab("layers = [sequenceInputLayer(3) selfAttentionLayer(3, 64)];")
