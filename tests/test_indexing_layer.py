"""indexing1dLayer (MATLAB R2023b) over time: the first step, or each sequence's own last step.

Tolerances: onnxruntime float32 vs the float64 reference, 1e-5 (ATOL_FLOAT32);
torch in float64 vs the reference, 1e-10; indexing itself is exact.
"""

from __future__ import annotations

import dataclasses
import re

import numpy as np
import pytest
import torch
from conftest import ATOL_FLOAT32, assert_matches_reference, random_batch, run

from lstm2onnx import (
    Indexing1DLayer,
    LayerError,
    Lstm2OnnxError,
    build,
    classificationLayer,
    convolution1dLayer,
    fullyConnectedLayer,
    indexing1dLayer,
    initialize,
    lstmLayer,
    reference,
    sequenceInputLayer,
    softmaxLayer,
    trainingOptions,
    trainNetwork,
)
from lstm2onnx.matlab import from_matlab
from lstm2onnx.matlab.writer import to_matlab
from lstm2onnx.training.torch_net import TorchNetwork


def test_constructor_defaults_and_display():
    assert indexing1dLayer().Index == "first" and indexing1dLayer("last").Index == "last"
    layer = indexing1dLayer("LAST", Name="idx")
    assert (layer.Index, layer.Name, layer.HasPaddingMaskInput) == ("last", "idx", False)
    assert isinstance(layer, Indexing1DLayer) and "1-D indexing (last time step)" in layer.description()
    with pytest.raises(LayerError, match=re.escape("indexing1dLayer: Index must be one of 'first', 'last', got 'middle'")):
        indexing1dLayer("middle")
    with pytest.raises(LayerError, match="HasPaddingMaskInput: true adds a padding-mask input that only a layer graph can connect"):
        indexing1dLayer("last", HasPaddingMaskInput=True)


def test_reference_takes_the_first_or_each_sequences_last_step(rng):
    net = initialize([sequenceInputLayer(2), indexing1dLayer("last")])
    xs = [rng.normal(size=(T, 2)) for T in (3, 7, 1)]
    np.testing.assert_array_equal(reference.predict(net, xs), np.stack([x[-1] for x in xs]))
    net = initialize([sequenceInputLayer(2), indexing1dLayer()])
    np.testing.assert_array_equal(reference.predict(net, xs), np.stack([x[0] for x in xs]))


@pytest.mark.parametrize("ragged", [False, True], ids=["plain", "ragged"])
@pytest.mark.parametrize("index", ["first", "last"])
def test_graph_matches_reference(rng, ragged, index):
    net = initialize([sequenceInputLayer(3), lstmLayer(5), indexing1dLayer(index), fullyConnectedLayer(2), softmaxLayer()], seed=1)
    batch = random_batch(rng, 6, 9, 3, ragged=ragged)
    feeds = {"sequences": batch.padded, **({"sequence_lengths": batch.lengths} if ragged else {})}
    (y,) = run(build(net, ragged=ragged), feeds).values()
    assert_matches_reference(y, reference.predict(net, batch.sequences))


def test_last_after_a_sequence_lstm_is_outputmode_last(rng):
    """lstmLayer('sequence') + indexing1dLayer('last') computes what lstmLayer(OutputMode='last') does."""
    lstm = initialize([sequenceInputLayer(3), lstmLayer(4)], seed=2)[1]
    a = [sequenceInputLayer(3), lstm, indexing1dLayer("last")]
    b = [sequenceInputLayer(3), dataclasses.replace(lstm, OutputMode="last")]
    batch = random_batch(rng, 5, 8, 3, ragged=True)
    feeds = {"sequences": batch.padded, "sequence_lengths": batch.lengths}
    (ya,), (yb,) = run(build(a, ragged=True), feeds).values(), run(build(b, ragged=True), feeds).values()
    np.testing.assert_allclose(ya, yb, rtol=0, atol=ATOL_FLOAT32)


def test_last_reads_the_lengths_after_a_strided_convolution(rng):
    """After a 'same' convolution with Stride 2 each sequence has ceil(T/2) steps: 'last' must read that step."""
    net = initialize([sequenceInputLayer(2), convolution1dLayer(3, 4, Stride=2, Padding="same"), indexing1dLayer("last")], seed=3)
    batch = random_batch(rng, 5, 11, 2, ragged=True)
    (y,) = run(build(net, ragged=True), {"sequences": batch.padded, "sequence_lengths": batch.lengths}).values()
    assert_matches_reference(y, reference.predict(net, batch.sequences))


def test_stateful_graphs_are_refused():
    with pytest.raises(Lstm2OnnxError, match="a stateful graph streams chunks carrying only recurrent state"):
        build([sequenceInputLayer(2), lstmLayer(3), indexing1dLayer("last")], stateful=True)


def test_torch_matches_reference_and_trains(rng):
    net = initialize([sequenceInputLayer(3), lstmLayer(4), indexing1dLayer("last"), fullyConnectedLayer(2)], seed=4)
    xs = [rng.normal(size=(T, 3)) for T in (2, 6, 4)]
    padded = np.zeros((3, 6, 3))
    for n, x in enumerate(xs):
        padded[n, : len(x)] = x
    module = TorchNetwork(net).double().eval()
    with torch.no_grad():
        out = module(torch.from_numpy(padded), torch.tensor([2, 6, 4])).numpy()
    np.testing.assert_allclose(out, reference.predict(net, xs), rtol=0, atol=1e-10)
    X = [rng.normal(size=(int(rng.integers(3, 9)), 3)).astype(np.float32) for _ in range(12)]
    Y = np.array(["a", "b"] * 6)
    layers = [sequenceInputLayer(3), lstmLayer(4), indexing1dLayer("last"), fullyConnectedLayer(2), softmaxLayer(), classificationLayer()]
    trained, _ = trainNetwork(X, Y, layers, trainingOptions("adam", MaxEpochs=2, MiniBatchSize=4, Verbose=False))
    (y,) = run(build(trained.Layers, ragged=True), {"sequences": np.stack([np.pad(x, ((0, 9 - len(x)), (0, 0))) for x in X]),
                                                     "sequence_lengths": np.array([len(x) for x in X], np.int32)}).values()
    assert_matches_reference(y, reference.predict(trained.Layers, X))


def test_matlab_text_and_to_matlab():
    layers = from_matlab('layers = [sequenceInputLayer(3)\n lstmLayer(8)\n indexing1dLayer("last")\n fullyConnectedLayer(2)];')
    assert layers[2].Index == "last"
    assert from_matlab(to_matlab(layers))[2].Index == "last"
    assert from_matlab("layers = [sequenceInputLayer(3) indexing1dLayer(Name='i')];")[1].Index == "first"
