"""Padding invariance: with sequence_lengths, padding a ragged batch never changes a valid output.

Compared bit for bit against the same batch with less padding, and to the
reference within 1e-5.
"""

from __future__ import annotations

import numpy as np
import pytest
from conftest import assert_matches_reference, random_batch, run

from lstm2onnx import bilstmLayer, build, fullyConnectedLayer, initialize, lstmLayer, reference, sequenceInputLayer, softmaxLayer


def networks():
    return {
        "lstm-last": [sequenceInputLayer(4), lstmLayer(6), lstmLayer(5, OutputMode="last"), fullyConnectedLayer(3), softmaxLayer()],
        "lstm-sequence": [sequenceInputLayer(4), lstmLayer(6, GateActivationFunction="hard-sigmoid"), fullyConnectedLayer(3)],
        "bilstm-last": [sequenceInputLayer(4), bilstmLayer(6), bilstmLayer(5, OutputMode="last"), fullyConnectedLayer(3)],
        "bilstm-sequence": [sequenceInputLayer(4), bilstmLayer(6, StateActivationFunction="softsign"), softmaxLayer()],
    }


def valid_parts(output, lengths, sequence):
    return [output[n, :L] for n, L in enumerate(lengths)] if sequence else [output[n] for n in range(len(lengths))]


@pytest.mark.parametrize("kind", list(networks()))
@pytest.mark.parametrize("pad", ["zeros", "garbage", "nan"])
def test_appending_padding_changes_nothing(kind, pad):
    rng = np.random.default_rng(len(kind))
    net = initialize(networks()[kind], seed=1)
    model = build(net, ragged=True, stateful=not kind.startswith("bilstm"))  # a bilstm cannot be stateful
    sequence = kind.endswith("sequence")
    batch = random_batch(rng, 10, 12, 4, ragged=True)
    base = run(model, {"sequences": batch.padded, "sequence_lengths": batch.lengths, **zero_states(model, 10)})
    for extra in (1, 7, 40):
        wider = np.concatenate([batch.padded, np.zeros((10, extra, 4), np.float32)], axis=1)
        for n, L in enumerate(batch.lengths):
            fill = {"zeros": 0.0, "nan": np.nan, "garbage": rng.normal(0, 1e3, (wider.shape[1] - L, 4))}[pad]
            wider[n, L:] = fill
        out = run(model, {"sequences": wider, "sequence_lengths": batch.lengths, **zero_states(model, 10)})
        for name in base:  # the network output and every final state
            is_sequence = sequence and name == model.graph.output[0].name
            for a, b in zip(valid_parts(base[name], batch.lengths, is_sequence), valid_parts(out[name], batch.lengths, is_sequence)):
                np.testing.assert_array_equal(a, b)
    first = next(iter(base.values()))
    assert_matches_reference(first, reference.predict(net, batch.sequences))


def zero_states(model, n):
    return {i.name: np.zeros((n, i.type.tensor_type.shape.dim[1].dim_value), np.float32) for i in model.graph.input if i.name.endswith(".in")}


def test_batch_composition_never_changes_a_result():
    """Unlike MATLAB's padded mini-batches: a sequence's result is the same in any batch (MiniBatchSize 1 semantics)."""
    rng = np.random.default_rng(0)
    net = initialize([sequenceInputLayer(3), bilstmLayer(5, OutputMode="last"), fullyConnectedLayer(2)], seed=0)
    model = build(net, ragged=True)
    short = rng.normal(size=(3, 3)).astype(np.float32)
    (alone,) = run(model, {"sequences": short[None], "sequence_lengths": np.array([3], np.int32)}).values()
    long = rng.normal(size=(50, 3)).astype(np.float32)
    padded = np.zeros((2, 50, 3), np.float32)
    padded[0, :3], padded[1] = short, long
    (together,) = run(model, {"sequences": padded, "sequence_lengths": np.array([3, 50], np.int32)}).values()
    np.testing.assert_allclose(together[0], alone[0], rtol=0, atol=1e-6)
    assert_matches_reference(together, reference.predict(net, [short, long]))
