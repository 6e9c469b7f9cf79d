"""predict/classify on the torch side with MATLAB's options; results bit-stable across MiniBatchSize.

Tolerances: bit equality (rtol=0, atol=0) between calls that differ only in MiniBatchSize, the
padding options, the other sequences passed along, ExecutionEnvironment 'cpu'/'auto' or Acceleration;
1e-5 (max abs) against the float64 reference.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch
from conftest import ATOL_FLOAT32

from lstm2onnx import (
    Lstm2OnnxError,
    bilstmLayer,
    classificationLayer,
    classify,
    fullyConnectedLayer,
    initialize,
    lstmLayer,
    predict,
    reference,
    sequenceInputLayer,
    softmaxLayer,
)


def network(mode: str, bi: bool = False):
    make = bilstmLayer if bi else lstmLayer
    return initialize([sequenceInputLayer(3), make(6, OutputMode="sequence"), lstmLayer(5, OutputMode=mode), fullyConnectedLayer(4),
                       softmaxLayer(), classificationLayer(Classes=["a", "b", "c", "d"])], seed=3)


def ragged(n: int, seed: int = 0) -> list[np.ndarray]:
    rng = np.random.default_rng(seed)
    return [rng.standard_normal((int(rng.integers(1, 25)), 3)).astype(np.float32) for _ in range(n)]


def max_error(ours, expected) -> float:
    if isinstance(expected, list):
        return max(float(np.abs(a - e).max()) for a, e in zip(ours, expected))
    return float(np.abs(np.asarray(ours) - expected).max())


@pytest.mark.parametrize("mode", ["last", "sequence"])
def test_results_are_bit_stable_across_mini_batch_sizes(mode):
    net, X = network(mode), ragged(40)
    results = [predict(net, X, MiniBatchSize=size) for size in (1, 3, 128)]
    for other in results[1:]:
        if mode == "last":
            np.testing.assert_array_equal(other, results[0])
        else:
            for a, b in zip(other, results[0]):
                np.testing.assert_array_equal(a, b)
    assert max_error(results[0], reference.predict(net, X)) <= ATOL_FLOAT32


def test_a_sequence_scores_the_same_alone_and_among_others():
    net, X = network("last"), ragged(12, seed=1)
    together = predict(net, X, MiniBatchSize=5)
    for k in (0, 7, 11):
        np.testing.assert_array_equal(predict(net, X[k]), together[k])
        np.testing.assert_array_equal(predict(net, X[k:] + X[:k], MiniBatchSize=4)[0], together[k])


def test_matlab_options_are_accepted_and_padding_cannot_change_a_result():
    net, X = network("last"), ragged(9, seed=2)
    plain = predict(net, X)
    for options in ({"SequencePaddingDirection": "left"}, {"SequencePaddingValue": 7.5}, {"ExecutionEnvironment": "cpu"},
                    {"ExecutionEnvironment": "auto"}, {"Acceleration": "none"}, {"Acceleration": "mex"}, {"SequenceLength": "longest"}):
        np.testing.assert_array_equal(predict(net, X, **options), plain, err_msg=str(options))
    labels, scores = classify(net, X, "SequencePaddingDirection", "left", "MiniBatchSize", 2, "ExecutionEnvironment", "cpu")
    np.testing.assert_array_equal(scores, plain)
    assert list(labels) == list(np.array(["a", "b", "c", "d"])[plain.argmax(1)])


def test_shortest_truncates_each_input_order_group_to_its_shortest_sequence():
    net, X = network("sequence"), ragged(7, seed=4)
    Y = predict(net, X, SequenceLength="shortest", MiniBatchSize=3)
    for start in range(0, 7, 3):
        group = X[start : start + 3]
        shortest = min(len(x) for x in group)
        expected = reference.predict(net, [x[:shortest] for x in group])
        assert [len(y) for y in Y[start : start + 3]] == [shortest] * len(group)
        assert max_error(Y[start : start + 3], expected) <= ATOL_FLOAT32


@pytest.mark.parametrize("mode", ["last", "sequence"])
def test_integer_sequence_length_runs_chunks_with_the_state_carried(mode):
    net, X = network(mode), ragged(6, seed=5)
    assert max_error(predict(net, X, SequenceLength=4, MiniBatchSize=2), reference.predict(net, X)) <= ATOL_FLOAT32


def test_integer_sequence_length_is_refused_for_a_bilstm_when_it_would_split():
    net = network("last", bi=True)
    with pytest.raises(Lstm2OnnxError, match="layer 'bilstm' is a bilstmLayer, whose backward direction needs the whole sequence.*SequenceLength=3"):
        predict(net, [np.ones((5, 3), np.float32)], SequenceLength=3)
    short = [np.ones((3, 3), np.float32)]
    np.testing.assert_array_equal(predict(net, short, SequenceLength=3), predict(net, short))  # no split, nothing to carry


@pytest.mark.parametrize("options,message", [
    ({"MiniBatchSize": 0}, "classify: MiniBatchSize must be a positive integer, got 0"),
    ({"SequenceLength": "middle"}, "classify: SequenceLength must be one of 'longest', 'shortest', got 'middle'"),
    ({"SequenceLength": 2.5}, "classify: SequenceLength must be a positive integer, got 2.5"),
    ({"SequencePaddingValue": float("nan")}, "classify: SequencePaddingValue must be a number in (-inf, inf), got nan"),
    ({"SequencePaddingDirection": "up"}, "SequencePaddingDirection must be one of 'right', 'left', got 'up'"),
    ({"ExecutionEnvironment": "tpu"}, "ExecutionEnvironment must be one of 'auto', 'cpu', 'gpu', 'multi-gpu', 'parallel', got 'tpu'"),
    ({"Acceleration": "fast"}, "Acceleration must be one of 'auto', 'mex', 'none', got 'fast'"),
    ({"BatchSize": 3}, "unknown option 'BatchSize'"),
])
def test_bad_options_are_named(options, message):
    with pytest.raises(Exception, match=message.replace("(", r"\(").replace(")", r"\)")):
        classify(network("last"), ragged(2), **options)


@pytest.mark.skipif(torch.cuda.is_available(), reason="checks the message where torch sees no CUDA device")
def test_gpu_without_cuda_is_an_error():
    with pytest.raises(Lstm2OnnxError, match="ExecutionEnvironment 'gpu' was asked for, but torch sees no CUDA device"):
        predict(network("last"), ragged(2), ExecutionEnvironment="gpu")


def test_input_forms_and_bad_shapes():
    net = network("sequence")
    X = np.random.default_rng(6).standard_normal((4, 5, 3)).astype(np.float32)
    Y = predict(net, X)
    assert isinstance(Y, np.ndarray) and Y.shape == (4, 5, 4)
    np.testing.assert_array_equal(predict(net, X[1]), Y[1])
    with pytest.raises(Lstm2OnnxError, match=r"sequence 1 must be a non-empty \[time, 3\] array, got shape \(3, 5\); it looks like MATLAB's"):
        predict(net, [X[0].T])
