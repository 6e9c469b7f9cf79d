"""The CUDA execution provider: the reference's numbers (TF32 off), stream state kept on the device.

Skipped where onnxruntime has no CUDAExecutionProvider (install ``lstm2onnx-runtime[gpu]`` on a
GPU machine to run them). Tolerance: max abs error <= 1e-5 against the float64 reference, the
same as on the CPU: cuDNN's float32 LSTM agrees that closely once TF32 is off (the default).
"""

from __future__ import annotations

import numpy as np
import pytest
from conftest import ATOL_FLOAT32, cuda_works
from test_runtime_predict import VARIANT_IDS, VARIANTS, classifier, max_error, ragged_data
from test_runtime_streams import ACTIVATIONS, chunks_of, stacked

import lstm2onnx_runtime as rt
from lstm2onnx import bilstmLayer, classificationLayer, exportONNXNetwork, fullyConnectedLayer, initialize, lstmLayer, reference
from lstm2onnx import sequenceInputLayer, softmaxLayer
from lstm2onnx_runtime import StreamPool

pytestmark = pytest.mark.skipif(not cuda_works(), reason="onnxruntime cannot run on CUDA here (no CUDAExecutionProvider, or no usable GPU)")


def on_cuda(tmp_path, layers, seed=0, **options):
    net = initialize(layers, seed=seed)
    path = tmp_path / "net.onnx"
    exportONNXNetwork(net, path, **options)
    model = rt.load(path, "cuda")
    assert model.on_cuda and model.providers[0] == "CUDAExecutionProvider"
    return net, model


def lstm_placement(model):
    return {name: ep for name, ep in model.node_placement().items() if name.endswith("/LSTM_node")}


@pytest.mark.parametrize("ragged,stateful", VARIANTS, ids=VARIANT_IDS)
@pytest.mark.parametrize("mode", ["last", "sequence"])
def test_predict_every_graph_variant(tmp_path, rng, ragged, stateful, mode):
    net, model = on_cuda(tmp_path, classifier(mode), ragged=ragged, stateful=stateful)
    X = ragged_data(rng)
    for size in (1, 4, 128):
        assert max_error(rt.predict(model, X, MiniBatchSize=size), reference.predict(net, X)) <= ATOL_FLOAT32
    batch = rng.normal(size=(16, 9, 4)).astype(np.float32)  # the one-call serving path
    assert max_error(rt.predict(model, batch), reference.predict(net, list(batch))) <= ATOL_FLOAT32
    assert set(lstm_placement(model).values()) == {"CUDAExecutionProvider"}


def test_long_sequences_and_a_large_batch(tmp_path, rng):
    layers = [sequenceInputLayer(12), lstmLayer(64), lstmLayer(32, OutputMode="last"), fullyConnectedLayer(5), softmaxLayer(), classificationLayer()]
    net, model = on_cuda(tmp_path, layers, seed=3)
    X = rng.normal(size=(96, 300, 12)).astype(np.float32)
    assert max_error(rt.predict(model, X), reference.predict(net, list(X))) <= ATOL_FLOAT32


def test_bilstm(tmp_path, rng):
    layers = [sequenceInputLayer(4), bilstmLayer(5, OutputMode="sequence"), bilstmLayer(3, OutputMode="last"),
              fullyConnectedLayer(3), softmaxLayer(), classificationLayer()]
    net, model = on_cuda(tmp_path, layers, ragged=True)
    X = ragged_data(rng)
    assert max_error(rt.predict(model, X), reference.predict(net, X)) <= ATOL_FLOAT32


@pytest.mark.parametrize("gate,state", ACTIVATIONS)
@pytest.mark.parametrize("chunking", [1, 3, "random", "whole"])
def test_chunked_streaming_on_device_pages(tmp_path, rng, gate, state, chunking):
    """Default activations run on CUDA; hard-sigmoid/softsign LSTM nodes are handed to the CPU, with the same numbers."""
    net, model = on_cuda(tmp_path, stacked(gate, state), seed=1, stateful=True, ragged=True)
    pool = StreamPool(model)
    assert pool.device == "cuda"
    stream = pool.open()
    x = rng.normal(size=(17, 3)).astype(np.float32)
    streamed = np.concatenate([stream.step(c) for c in chunks_of(x, chunking, rng)])
    assert np.abs(streamed - reference.predict(net, [x])[0]).max() <= ATOL_FLOAT32
    expected_ep = "CUDAExecutionProvider" if (gate, state) == ("sigmoid", "tanh") else "CPUExecutionProvider"
    assert set(lstm_placement(model).values()) == {expected_ep}


def test_device_state_round_trip_reset_groups_and_ragged_steps(tmp_path, rng):
    net, model = on_cuda(tmp_path, stacked(), seed=1, stateful=True, ragged=True)
    pool = StreamPool(model, page_size=4)
    x = rng.normal(size=(9, 3)).astype(np.float32)
    a, b = pool.open(), pool.open()
    a.step(x[:4])
    b.set_state(a.get_state())
    np.testing.assert_array_equal(a.step(x[4:]), b.step(x[4:]))
    a.reset()
    np.testing.assert_array_equal(a.step(x), pool.open().step(x))

    group = pool.open_group(5)  # a page of its own, on the device
    xs = rng.normal(size=(5, 10, 3)).astype(np.float32)
    got = np.concatenate([group.step(xs[:, t0:t1]) for t0, t1 in ((0, 1), (1, 4), (4, 10))], axis=1)
    expected = reference.predict(net, list(xs))
    assert max(np.abs(got[k] - expected[k]).max() for k in range(5)) <= ATOL_FLOAT32

    c, d = pool.open(), pool.open()
    chunks = {c: x[:2], d: x[:7]}  # each stream its own chunk length, one batched call
    out = pool.step(chunks)
    for s, chunk in chunks.items():
        assert np.abs(out[s] - reference.predict(net, [chunk])[0]).max() <= ATOL_FLOAT32


def test_predict_and_update_state(tmp_path, rng):
    net, model = on_cuda(tmp_path, classifier("sequence"), stateful=True, ragged=True)
    x = rng.normal(size=(11, 4)).astype(np.float32)
    model, y1 = rt.predictAndUpdateState(model, x[:5])
    model, y2 = rt.predictAndUpdateState(model, x[5:])
    assert np.abs(np.concatenate([y1, y2]) - reference.predict(net, [x])[0]).max() <= ATOL_FLOAT32
