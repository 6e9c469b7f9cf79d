"""lstm2onnx_runtime: load, predict, classify, MATLAB options, predictAndUpdateState / resetState.

Numerical tolerance: max abs error <= 1e-5 against the float64 reference.
"""

from __future__ import annotations

import os
import re
import warnings

import numpy as np
import pytest
from conftest import ATOL_FLOAT32

import lstm2onnx_runtime as rt
from lstm2onnx import (
    bilstmLayer,
    classificationLayer,
    exportONNXNetwork,
    fullyConnectedLayer,
    initialize,
    lstmLayer,
    reference,
    regressionLayer,
    sequenceInputLayer,
    softmaxLayer,
)
from lstm2onnx_runtime import RuntimeInputError, StreamError

VARIANTS = [(False, False), (True, False), (False, True), (True, True)]
VARIANT_IDS = ["plain", "ragged", "stateful", "ragged+stateful"]


def classifier(mode="last"):
    return [sequenceInputLayer(4), lstmLayer(6, HiddenState=np.linspace(-0.3, 0.3, 6)), lstmLayer(5, OutputMode=mode),
            fullyConnectedLayer(3), softmaxLayer(), classificationLayer(Classes=["low", "mid", "high"])]


def export(tmp_path, layers, name="net", **options):
    net = initialize(layers, seed=0)
    path = tmp_path / f"{name}.onnx"
    exportONNXNetwork(net, path, **options)
    return net, rt.load(path, "cpu")


def ragged_data(rng, n=11, features=4, t_max=13):
    return [rng.normal(size=(int(rng.integers(1, t_max + 1)), features)).astype(np.float32) for _ in range(n)]


def max_error(actual, expected):
    if isinstance(expected, list):
        return max(float(np.abs(a - e).max()) for a, e in zip(actual, expected))
    return float(np.abs(np.asarray(actual) - expected).max())


@pytest.mark.parametrize("ragged,stateful", VARIANTS, ids=VARIANT_IDS)
@pytest.mark.parametrize("mode", ["last", "sequence"])
def test_predict_every_graph_variant(tmp_path, rng, ragged, stateful, mode):
    net, model = export(tmp_path, classifier(mode), ragged=ragged, stateful=stateful)
    X = ragged_data(rng)
    for size in (1, 3, 128):
        Y = rt.predict(model, X, MiniBatchSize=size)
        assert max_error(Y, reference.predict(net, X)) <= ATOL_FLOAT32
    if mode == "last":
        assert isinstance(Y, np.ndarray) and Y.shape == (11, 3)
    else:
        assert [y.shape for y in Y] == [(len(x), 3) for x in X]


def test_ragged_batch_equals_each_sequence_alone(tmp_path, rng):
    _, model = export(tmp_path, classifier("sequence"), ragged=True)
    X = ragged_data(rng, n=9)
    together = rt.predict(model, X, MiniBatchSize=4)
    for x, y in zip(X, together):
        np.testing.assert_allclose(rt.predict(model, x), y, rtol=0, atol=1e-6)


def test_input_forms(tmp_path, rng):
    net, model = export(tmp_path, classifier("last"), ragged=True)
    x = rng.normal(size=(6, 4)).astype(np.float32)
    assert rt.predict(model, x).shape == (3,)  # one [T, F] sequence -> one [K] result
    batch = rng.normal(size=(5, 6, 4))  # float64 is cast
    assert max_error(rt.predict(model, batch), reference.predict(net, batch)) <= ATOL_FLOAT32
    assert rt.predict(model, list(batch.tolist())).shape == (5, 3)  # nested lists work too
    _, seq_model = export(tmp_path, classifier("sequence"), name="seq")
    assert rt.predict(seq_model, batch).shape == (5, 6, 3)


def test_classify_returns_stored_class_names(tmp_path, rng):
    net, model = export(tmp_path, classifier("last"))
    X = ragged_data(rng)
    labels, scores = rt.classify(model, X, "MiniBatchSize", 4)
    expected = np.array(["low", "mid", "high"])[reference.predict(net, X).argmax(axis=1)]
    assert list(labels) == list(expected) and scores.shape == (11, 3)
    _, seq_model = export(tmp_path, classifier("sequence"), name="seq")
    labels, scores = rt.classify(seq_model, X)
    assert [len(lab) for lab in labels] == [len(x) for x in X] and set(np.concatenate(labels)) <= {"low", "mid", "high"}


def test_classes_auto_are_numbered(tmp_path, rng):
    _, model = export(tmp_path, [sequenceInputLayer(2), lstmLayer(3, OutputMode="last"), fullyConnectedLayer(4), softmaxLayer(), classificationLayer()])
    assert model.classes == ("1", "2", "3", "4")
    labels, _ = rt.classify(model, [rng.normal(size=(3, 2))])
    assert labels[0] in model.classes


def test_sequence_length_shortest_truncates_like_matlab(tmp_path, rng):
    net, model = export(tmp_path, classifier("sequence"), ragged=True)
    X = ragged_data(rng, n=6)
    Y = rt.predict(model, X, SequenceLength="shortest", MiniBatchSize=3)
    for start in (0, 3):
        shortest = min(len(x) for x in X[start : start + 3])
        for k in range(start, start + 3):
            assert Y[k].shape == (shortest, 3)
            np.testing.assert_allclose(Y[k], reference.predict(net, [X[k][:shortest]])[0], rtol=0, atol=ATOL_FLOAT32)


@pytest.mark.parametrize("mode", ["last", "sequence"])
def test_integer_sequence_length_runs_in_chunks_with_the_state_carried(tmp_path, rng, mode):
    net, model = export(tmp_path, classifier(mode), ragged=True, stateful=True)
    X = ragged_data(rng, n=7, t_max=20)
    for chunk in (1, 4, 7):
        assert max_error(rt.predict(model, X, SequenceLength=chunk, MiniBatchSize=3), reference.predict(net, X)) <= ATOL_FLOAT32


def test_integer_sequence_length_needs_a_stateful_graph(tmp_path, rng):
    _, model = export(tmp_path, classifier(), ragged=True)
    with pytest.raises(RuntimeInputError, match=r"rebuild it stateful.*needed for SequenceLength=2"):
        rt.predict(model, [np.zeros((5, 4))], SequenceLength=2)
    assert rt.predict(model, [np.zeros((2, 4))], SequenceLength=2).shape == (1, 3)  # short enough: one chunk


def test_padding_options_never_change_a_result(tmp_path, rng):
    _, model = export(tmp_path, classifier("sequence"), ragged=True)
    X = ragged_data(rng)
    base = rt.predict(model, X)
    for options in ({"SequencePaddingValue": 7.5}, {"SequencePaddingDirection": "left"}, {"MiniBatchSize": 2}):
        for a, b in zip(base, rt.predict(model, X, **options)):
            np.testing.assert_array_equal(a, b)


@pytest.mark.parametrize("ragged", [False, True], ids=["plain", "ragged"])
def test_predict_and_update_state_continues_the_sequence(tmp_path, rng, ragged):
    net, model = export(tmp_path, classifier("sequence"), stateful=True, ragged=ragged)
    x = rng.normal(size=(12, 4)).astype(np.float32)
    net1, y1 = rt.predictAndUpdateState(model, x[:5])
    net2, y2 = rt.predictAndUpdateState(net1, x[5:])
    whole = rt.predict(model, x)
    np.testing.assert_allclose(np.concatenate([y1, y2]), whole, rtol=0, atol=1e-6)
    assert max_error([whole], reference.predict(net, [x])) <= ATOL_FLOAT32
    # value semantics: the first network still starts from the beginning; resetState goes back
    np.testing.assert_array_equal(rt.predict(model, x[5:]), rt.predict(rt.resetState(net2), x[5:]))
    assert np.abs(rt.predict(net2, x[5:]) - rt.predict(model, x[5:])).max() > 1e-4


@pytest.mark.parametrize("ragged", [True, False], ids=["ragged", "equal-length groups"])
def test_update_state_with_a_batch_keeps_one_state_per_sequence(tmp_path, rng, ragged):
    net, model = export(tmp_path, classifier("last"), stateful=True, ragged=ragged)
    X = ragged_data(rng, n=5)
    rest = ragged_data(rng, n=5)
    updated, labels, _ = rt.classifyAndUpdateState(model, X, MiniBatchSize=2)
    assert len(labels) == 5
    second = rt.predict(updated, rest)
    whole = [np.concatenate([a, b]) for a, b in zip(X, rest)]
    assert max_error(second, reference.predict(net, whole)) <= ATOL_FLOAT32
    with pytest.raises(RuntimeInputError, match="the network's state holds 5 sequences .* but 2 were given; pass 5 sequences or call resetState"):
        rt.predict(updated, rest[:2])


def test_streaming_functions_refuse_graphs_that_cannot_stream(tmp_path):
    _, plain = export(tmp_path, classifier(), name="plain")
    with pytest.raises(StreamError, match=re.escape("has no state inputs; rebuild it stateful: lstm2onnx.build(layers, stateful=True)")):
        rt.predictAndUpdateState(plain, np.zeros((3, 4)))
    _, bi = export(tmp_path, [sequenceInputLayer(4), bilstmLayer(3), fullyConnectedLayer(1), regressionLayer()], name="bi")
    with pytest.raises(StreamError, match="has a bilstmLayer, whose backward direction needs the whole sequence"):
        rt.predictAndUpdateState(bi, np.zeros((3, 4)))
    assert rt.predict(bi, np.zeros((3, 4))).shape == (3, 1)  # but it predicts


BAD_INPUT = [
    (lambda: [np.zeros((5, 3))], "predict: sequence 1 has 3 features per time step, expected 4"),
    (lambda: [np.zeros((4, 9))], "sequence 1 has 9 features per time step, expected 4; it looks like MATLAB's features-by-time layout: pass its transpose (x.T)"),
    (lambda: [np.zeros((2, 4)), np.zeros((0, 4))], "predict: sequence 2 is empty (0 time steps)"),
    (lambda: [np.array([["a"] * 4])], "predict: sequence 1 has dtype <U1; expected numbers"),
    (lambda: [np.zeros(4)], "predict: sequence 1 must be a [time, 4] array, got shape (4,)"),
    (lambda: [np.array([[0, 0, np.nan, 0]])], "predict: sequence 1 contains NaN or Inf (time step 1, feature 3)"),
    (lambda: [np.array([[0, 0, 0, 0], [np.inf, 0, 0, 0]])], "contains NaN or Inf (time step 2, feature 1)"),
    (lambda: [], "predict: no sequences given"),
    (lambda: "x", "predict: expected a list of [time, 4] arrays"),
]


@pytest.mark.parametrize("make,message", BAD_INPUT, ids=[m for _, m in BAD_INPUT])
def test_bad_input_is_named(tmp_path, make, message):
    _, model = export(tmp_path, classifier())
    with pytest.raises(RuntimeInputError, match=re.escape(message)):
        rt.predict(model, make())


@pytest.mark.parametrize("kwargs,message", [
    ({"MiniBatchSize": 0}, "MiniBatchSize must be a positive integer, got 0"),
    ({"SequenceLength": "long"}, "SequenceLength must be 'longest', 'shortest' or a positive integer"),
    ({"SequencePaddingValue": float("nan")}, "SequencePaddingValue must be a finite number"),
    ({"SequencePaddingDirection": "up"}, "SequencePaddingDirection must be 'right' or 'left'"),
    ({"BatchSize": 3}, "unknown option 'BatchSize'; supported options: MiniBatchSize, SequenceLength"),
    ({"ExecutionEnvironment": "tpu"}, "ExecutionEnvironment must be one of 'auto', 'cpu', 'gpu', 'multi-gpu', 'parallel', got 'tpu'"),
    ({"Acceleration": 1}, "Acceleration must be one of 'auto', 'mex', 'none', got 1"),
])
def test_bad_options(tmp_path, kwargs, message):
    _, model = export(tmp_path, classifier())
    with pytest.raises(RuntimeInputError, match=re.escape(message)):
        rt.predict(model, [np.zeros((2, 4))], **kwargs)


def test_matlab_environment_options_are_accepted_and_change_nothing(tmp_path, rng):
    """MATLAB scripts pass ExecutionEnvironment/Acceleration; the provider is load's choice, so they cannot change a number.
    Asking for another device than the loaded one is said in a warning, not silently dropped."""
    net, model = export(tmp_path, classifier())
    X = ragged_data(rng)
    plain = rt.predict(model, X)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # matching or 'auto' requests say nothing
        for environment in ("auto", "cpu", "CPU"):
            for acceleration in ("auto", "mex", "none"):
                same = rt.predict(model, X, "ExecutionEnvironment", environment, "Acceleration", acceleration)
                assert all(np.array_equal(a, b) for a, b in zip(same, plain))
        _, scores = rt.classify(model, X, ExecutionEnvironment="cpu", Acceleration="mex")
        assert all(np.array_equal(a, b) for a, b in zip(scores, plain))
    for environment in ("gpu", "multi-gpu", "parallel"):
        with pytest.warns(UserWarning, match=re.escape(f"predict: ExecutionEnvironment '{environment}' has no effect; this network runs on CPUExecutionProvider")):
            other = rt.predict(model, X, ExecutionEnvironment=environment)
        assert all(np.array_equal(a, b) for a, b in zip(other, plain))


@pytest.mark.parametrize("stateful", [False, True], ids=["one-call path", "general path"])
def test_nan_in_a_3d_batch_is_named(tmp_path, stateful):
    _, model = export(tmp_path, classifier(), stateful=stateful)
    X = np.zeros((3, 4, 4), np.float32)
    X[2, 1, 3] = np.inf
    with pytest.raises(RuntimeInputError, match=re.escape("predict contains NaN or Inf (sequence 3, time step 2, feature 4)")):
        rt.predict(model, X)


@pytest.mark.parametrize("stateful", [False, True], ids=["one-call path", "general path"])
def test_huge_finite_values_are_not_mistaken_for_nan(tmp_path, rng, stateful):
    """The NaN check's dot product overflows for values near 1e19 and above; such data is still finite and must run."""
    net, model = export(tmp_path, classifier(), stateful=stateful)
    X = rng.normal(size=(3, 5, 4)).astype(np.float32)
    X[1, 2, 0] = 1e30
    assert not np.isfinite(np.vdot(X, X))
    assert max_error(rt.predict(model, X), reference.predict(net, list(X))) <= ATOL_FLOAT32


def test_nan_policy_allow_lets_nan_through(tmp_path):
    """With 'allow' the data reaches onnxruntime, whose LSTM kernel turns NaN into finite numbers without a word,
    which is why 'error' is the default."""
    export(tmp_path, classifier())
    nan = [np.full((2, 4), np.nan)]
    with pytest.raises(RuntimeInputError, match="contains NaN"):
        rt.predict(rt.load(tmp_path / "net.onnx", "cpu"), nan)
    out = rt.predict(rt.load(tmp_path / "net.onnx", "cpu", nan_policy="allow"), nan)
    assert out.shape == (1, 3)
    with pytest.raises(ValueError, match="nan_policy must be one of 'error', 'allow'"):
        rt.load(tmp_path / "net.onnx", nan_policy="ignore")
    with pytest.raises(ValueError, match="tf32 must be True or False, got 'no'"):
        rt.load(tmp_path / "net.onnx", tf32="no")


def test_load_errors(tmp_path):
    with pytest.raises(rt.ModelError, match="no model file"):
        rt.load(tmp_path / "missing.onnx")
    (tmp_path / "junk.onnx").write_bytes(b"junk")
    with pytest.raises(rt.ModelError, match="onnxruntime cannot load"):
        rt.load(tmp_path / "junk.onnx")
    with pytest.raises(rt.ProviderError, match="provider must be one of 'auto', 'cpu', 'cuda', got 'tpu'"):
        rt.load(tmp_path / "junk.onnx", "tpu")


@pytest.mark.skipif(rt._ort.cuda_available(), reason="this onnxruntime has CUDA; the message is for machines without it")
def test_cuda_requested_without_cuda(tmp_path):
    export(tmp_path, classifier())
    with pytest.raises(rt.ProviderError, match="provider 'cuda' was asked for, but this onnxruntime has no CUDAExecutionProvider"):
        rt.load(tmp_path / "net.onnx", "cuda")
    assert rt.load(tmp_path / "net.onnx", "auto").providers == ("CPUExecutionProvider",)


def test_cuda_sessions_get_tf32_off_unless_asked(monkeypatch):
    """Ampere+ GPUs compute float32 products in TF32 by default (about 1e-3 off); the runtime turns it off."""
    monkeypatch.setattr(rt._ort, "cuda_available", lambda: True)
    monkeypatch.delenv("NVIDIA_TF32_OVERRIDE", raising=False)
    assert rt.session_providers("cuda", tf32=True) == [("CUDAExecutionProvider", {"use_tf32": "1"}), "CPUExecutionProvider"]
    assert "NVIDIA_TF32_OVERRIDE" not in os.environ
    assert rt.session_providers("auto") == [("CUDAExecutionProvider", {"use_tf32": "0"}), "CPUExecutionProvider"]
    assert os.environ["NVIDIA_TF32_OVERRIDE"] == "0"  # for the cuDNN LSTM kernel, which has no session switch
    monkeypatch.setenv("NVIDIA_TF32_OVERRIDE", "1")  # a user's own setting is left alone
    rt.session_providers("cuda")
    assert os.environ["NVIDIA_TF32_OVERRIDE"] == "1"
    monkeypatch.setattr(rt._ort, "cuda_available", lambda: False)
    assert rt.session_providers("auto") == ["CPUExecutionProvider"]


def test_cuda_libraries_from_nvidia_wheels_are_preloaded_once(monkeypatch):
    """onnxruntime-gpu looks on the system library path only; CUDA/cuDNN pip wheels need onnxruntime.preload_dlls."""
    calls = []
    monkeypatch.delenv("NVIDIA_TF32_OVERRIDE", raising=False)  # session_providers sets it; restored after the test
    monkeypatch.setattr(rt._ort, "cuda_available", lambda: True)
    monkeypatch.setattr(rt._ort.ort, "preload_dlls", lambda: calls.append("preload"), raising=False)
    monkeypatch.setattr(rt._ort.importlib.util, "find_spec", lambda name: object() if name == "nvidia" else None)
    rt._ort.preload_cuda_libraries.cache_clear()
    try:
        assert rt.session_providers("cpu") == ["CPUExecutionProvider"] and calls == []
        rt.session_providers("cuda")
        rt.session_providers("auto")
        assert calls == ["preload"]
    finally:
        rt._ort.preload_cuda_libraries.cache_clear()


def test_node_placement_lists_every_node(tmp_path):
    _, model = export(tmp_path, classifier(), stateful=True)
    placement = model.node_placement()  # nodes as onnxruntime runs them, after its fusions
    assert placement["lstm_1/LSTM_node"] == placement["lstm_2/LSTM_node"] == "CPUExecutionProvider"
    assert any(name.startswith("fc/MatMul") for name in placement) and set(placement.values()) == {"CPUExecutionProvider"}


def test_fast_run_equals_the_public_run(tmp_path, rng):
    _, model = export(tmp_path, classifier("sequence"), ragged=True)
    x = rng.normal(size=(2, 5, 4)).astype(np.float32)
    feeds = {"sequences": x, "sequence_lengths": np.array([5, 3], np.int32)}
    fast = rt._ort.fast_run(model.session)
    assert fast.__self__ is model.session._sess  # this onnxruntime has the bound C++ session

    class WithoutBoundSession:  # another onnxruntime version: only the public API
        run = model.session.run

    fallback = rt._ort.fast_run(WithoutBoundSession())
    public = model.session.run(["probabilities"], feeds)[0]
    np.testing.assert_array_equal(fast(["probabilities"], feeds, None)[0], public)
    np.testing.assert_array_equal(fallback(["probabilities"], feeds, None)[0], public)
