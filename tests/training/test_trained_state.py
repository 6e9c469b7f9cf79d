"""predictAndUpdateState / classifyAndUpdateState / resetState on the network trainNetwork returns.

Tolerance: 1e-5 (max abs) against the float64 reference run on the concatenated sequences, and
against the runtime's predictAndUpdateState on the same network exported stateful (both float32).
"""

from __future__ import annotations

import numpy as np
import pytest
from conftest import ATOL_FLOAT32

import lstm2onnx_runtime as rt
from lstm2onnx import (
    Lstm2OnnxError,
    bilstmLayer,
    classificationLayer,
    classify,
    classifyAndUpdateState,
    exportONNXNetwork,
    fullyConnectedLayer,
    lstmLayer,
    predict,
    predictAndUpdateState,
    reference,
    resetState,
    sequenceInputLayer,
    softmaxLayer,
    trainingOptions,
    trainNetwork,
)

CLASSES = ["x", "y", "z"]


def trained(mode: str, bi: bool = False):
    """A small network after two epochs of trainNetwork (labels per step for sequence output)."""
    rng = np.random.default_rng(0)
    X = [rng.standard_normal((int(rng.integers(3, 12)), 3)).astype(np.float32) for _ in range(24)]
    Y = [rng.choice(CLASSES, len(x)) for x in X] if mode == "sequence" else rng.choice(CLASSES, 24)
    first = bilstmLayer(4) if bi else lstmLayer(5, HiddenState=np.linspace(-0.4, 0.4, 5), CellState=np.linspace(0.3, -0.3, 5))
    layers = [sequenceInputLayer(3), first, lstmLayer(4, OutputMode=mode), fullyConnectedLayer(3), softmaxLayer(), classificationLayer()]
    net, _ = trainNetwork(X, Y, layers, trainingOptions("adam", MaxEpochs=2, MiniBatchSize=8, Verbose=False), seed=1)
    return net


def max_error(actual, expected) -> float:
    if isinstance(expected, list):
        return max(float(np.abs(a - e).max()) for a, e in zip(actual, expected))
    return float(np.abs(np.asarray(actual) - expected).max())


def chunks(rng, n: int):
    """Three chunks per sequence, of different lengths per sequence."""
    return [[rng.standard_normal((int(rng.integers(1, 7)), 3)).astype(np.float32) for _ in range(n)] for _ in range(3)]


@pytest.mark.parametrize("mode", ["last", "sequence"])
def test_chunks_continue_the_sequences_as_the_reference_and_the_runtime(tmp_path, mode):
    net = trained(mode)
    parts = chunks(np.random.default_rng(2), 4)
    whole = [np.concatenate(p) for p in zip(*parts)]
    path = tmp_path / "net.onnx"
    exportONNXNetwork(net, path, stateful=True, ragged=True)
    served = rt.load(path, "cpu")
    ours, theirs = net, served
    outputs = []
    for part in parts:
        ours, Y = predictAndUpdateState(ours, part, MiniBatchSize=3)
        theirs, Y_rt = rt.predictAndUpdateState(theirs, part, MiniBatchSize=3)
        assert max_error(Y, Y_rt) <= ATOL_FLOAT32
        outputs.append(Y)
    expected = reference.predict(net.Layers, whole)
    if mode == "last":  # the output after each chunk is the output after the sequence so far
        assert max_error(outputs[-1], expected) <= ATOL_FLOAT32
        assert max_error(outputs[0], reference.predict(net.Layers, parts[0])) <= ATOL_FLOAT32
    else:
        assert max_error([np.concatenate(o) for o in zip(*outputs)], expected) <= ATOL_FLOAT32
    runtime_state = {(t.layer, t.key): value for t, value in zip(served.info.state_tensors, theirs.state)}
    assert set(runtime_state) == {(name, key) for name in ours.state for key in ("HiddenState", "CellState")}
    for name, (h, c) in ours.state.items():  # the carried state itself equals the runtime's
        assert h.shape == (4, net.Layers[[layer.Name for layer in net.Layers].index(name)].NumHiddenUnits)
        assert max_error(h, runtime_state[name, "HiddenState"]) <= ATOL_FLOAT32
        assert max_error(c, runtime_state[name, "CellState"]) <= ATOL_FLOAT32


def test_value_semantics_and_reset_to_the_initial_state():
    net = trained("last")
    rng = np.random.default_rng(3)
    x, y = rng.standard_normal((6, 3)).astype(np.float32), rng.standard_normal((4, 3)).astype(np.float32)
    fresh = predict(net, y)
    updated, _ = predictAndUpdateState(net, x)
    np.testing.assert_array_equal(predict(net, y), fresh)  # the input network is not changed
    continued = predict(updated, y)  # predict starts from the network's state, as MATLAB's does
    assert max_error(continued, reference.predict(net.Layers, [np.concatenate([x, y])])[0]) <= ATOL_FLOAT32
    assert np.abs(continued - fresh).max() > 1e-4
    np.testing.assert_array_equal(predict(resetState(updated), y), fresh)  # back to HiddenState/CellState (non-zero here)
    assert net.Layers[1].HiddenState is not None and np.abs(net.Layers[1].HiddenState).max() > 0.1


def test_classify_and_update_state_labels_and_state_count():
    net = trained("last")
    rng = np.random.default_rng(4)
    first, second = chunks(rng, 5)[:2]
    updated, labels, scores = classifyAndUpdateState(net, first)
    assert list(labels) == list(np.array(CLASSES)[scores.argmax(1)])
    labels2, scores2 = classify(updated, second)
    whole = [np.concatenate(p) for p in zip(first, second)]
    assert max_error(scores2, reference.predict(net.Layers, whole)) <= ATOL_FLOAT32
    with pytest.raises(Lstm2OnnxError, match="the network's state holds 5 sequences .* but 2 were given; pass 5 sequences or call resetState"):
        predict(updated, second[:2])


def test_one_sequence_state_and_sequence_length_chunks_inside_a_call():
    net = trained("sequence")
    x = np.random.default_rng(5).standard_normal((17, 3)).astype(np.float32)
    updated, Y1 = predictAndUpdateState(net, x[:9], SequenceLength=4)
    _, Y2 = predictAndUpdateState(updated, x[9:], SequenceLength=4)
    assert Y1.shape == (9, 3) and Y2.shape == (8, 3)
    assert max_error(np.concatenate([Y1, Y2]), reference.predict(net.Layers, [x])[0]) <= ATOL_FLOAT32


def test_a_bilstm_network_cannot_carry_state():
    net = trained("last", bi=True)
    with pytest.raises(Lstm2OnnxError, match="predictAndUpdateState: layer 'bilstm' is a bilstmLayer, whose backward direction needs the whole sequence"):
        predictAndUpdateState(net, np.zeros((4, 3), np.float32))
    np.testing.assert_array_equal(predict(resetState(net), np.ones((4, 3), np.float32)), predict(net, np.ones((4, 3), np.float32)))
    assert predict(net, np.zeros((4, 3), np.float32)).shape == (3,)  # but it predicts


def test_a_layer_array_has_no_state_to_update():
    with pytest.raises(Lstm2OnnxError, match="predictAndUpdateState: expected a trained network .* got list"):
        predictAndUpdateState([sequenceInputLayer(3), lstmLayer(2)], np.zeros((4, 3), np.float32))
