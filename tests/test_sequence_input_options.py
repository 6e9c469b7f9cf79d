"""sequenceInputLayer's MinLength and SplitComplexInputs, as MATLAB's reference page defines them.

MinLength: "when training or making predictions with the network, if the input
data has fewer than MinLength time steps, then the software throws an error".
Every path says so here: the float64 reference, training, the runtime (whole
sequences, the one-call 3-D path, streams). SplitComplexInputs: the graphs
take real data, so only false is accepted, and true says why.
"""

from __future__ import annotations

import json
import re

import numpy as np
import onnx
import pytest
from conftest import ATOL_FLOAT32

import lstm2onnx_runtime as rt
from lstm2onnx import (
    Lstm2OnnxError,
    LayerError,
    exportONNXNetwork,
    fullyConnectedLayer,
    initialize,
    lstmLayer,
    reference,
    sequenceInputLayer,
    softmaxLayer,
)
from lstm2onnx.matlab import from_matlab
from lstm2onnx.matlab.writer import to_matlab
from lstm2onnx.spec import dump_spec, parse_spec
from lstm2onnx_runtime import ModelError, RuntimeInputError, StreamPool


def network(min_length=5):
    return [sequenceInputLayer(3, MinLength=min_length), lstmLayer(4, OutputMode="last"), fullyConnectedLayer(2), softmaxLayer()]


def export(tmp_path, layers, **options):
    net = initialize(layers, seed=0)
    path = tmp_path / "net.onnx"
    exportONNXNetwork(net, path, **options)
    return net, path


def test_display_and_defaults():
    layer = sequenceInputLayer(3, MinLength=5)
    assert (layer.MinLength, layer.SplitComplexInputs) == (5, False)
    assert (sequenceInputLayer(3).MinLength, sequenceInputLayer(3).SplitComplexInputs) == (1, False)
    shown = str(layer)
    assert re.search(r"MinLength: 5\n", shown) and re.search(r"SplitComplexInputs: 0\n", shown)


@pytest.mark.parametrize("kwargs,message", [
    ({"MinLength": 0}, "sequenceInputLayer: MinLength must be a positive integer, got 0"),
    ({"MinLength": 2.5}, "sequenceInputLayer: MinLength must be a positive integer, got 2.5"),
    ({"SplitComplexInputs": True}, "sequenceInputLayer: SplitComplexInputs: complex-valued input is not supported"),
    ({"SplitComplexInputs": "no"}, "sequenceInputLayer: SplitComplexInputs must be a logical scalar (true or false)"),
])
def test_bad_values_are_named(kwargs, message):
    with pytest.raises(LayerError, match=re.escape(message)):
        sequenceInputLayer(3, **kwargs)


@pytest.mark.parametrize("size,text", [([28, 28, 1], "2-D image sequences (InputSize [28, 28, 1])"), ([5, 2], "1-D image sequences"),
                                       (np.array([[4, 4, 3, 2]]), "3-D image sequences")])
def test_image_sequence_sizes_say_what_to_do(size, text):
    with pytest.raises(LayerError, match=re.escape(f"sequenceInputLayer: InputSize: {text}") + ".*give each time step's frame as"):
        sequenceInputLayer(size)
    with pytest.raises(LayerError, match=re.escape("InputSize must be a positive integer, got 2.5")):
        sequenceInputLayer(2.5)


def test_matlab_text_spec_and_to_matlab_round_trip():
    layers = from_matlab("layers = [sequenceInputLayer(3, MinLength=5, SplitComplexInputs=false)\n lstmLayer(4, 'OutputMode', 'last')];")
    assert layers[0].MinLength == 5 and layers[0].SplitComplexInputs is False
    assert from_matlab(to_matlab(layers))[0].MinLength == 5
    again, _ = parse_spec(dump_spec(list(layers)))
    assert again[0].MinLength == 5
    assert "MinLength" not in to_matlab([sequenceInputLayer(3)])  # defaults are not written


def test_metadata_holds_min_length_only_when_it_matters(tmp_path):
    _, path = export(tmp_path, network(5))
    io = json.loads({p.key: p.value for p in onnx.load(path).metadata_props}["lstm2onnx.io"])
    assert io["min_length"] == 5
    _, path = export(tmp_path, network(1))
    io = json.loads({p.key: p.value for p in onnx.load(path).metadata_props}["lstm2onnx.io"])
    assert "min_length" not in io  # models without it are unchanged


def test_hostile_min_length_metadata_is_a_model_error(tmp_path):
    _, path = export(tmp_path, network(5))
    model = onnx.load(path)
    for prop in model.metadata_props:
        if prop.key == "lstm2onnx.io":
            prop.value = prop.value.replace('"min_length": 5', '"min_length": -1')
    onnx.save(model, path)
    with pytest.raises(ModelError, match=re.escape("metadata lstm2onnx.io: 'min_length' must be a positive integer, got -1")):
        rt.load(path)


@pytest.mark.parametrize("ragged", [False, True], ids=["plain", "ragged"])
def test_runtime_refuses_short_sequences_and_runs_the_rest_exactly(tmp_path, rng, ragged):
    net, path = export(tmp_path, network(5), ragged=ragged)
    model = rt.load(path)
    X = [rng.normal(size=(T, 3)).astype(np.float32) for T in (5, 9, 6)]
    assert np.abs(rt.predict(model, X) - reference.predict(net, X)).max() <= ATOL_FLOAT32
    short = [X[0], rng.normal(size=(4, 3)).astype(np.float32)]
    with pytest.raises(RuntimeInputError, match=re.escape("predict: sequence 2 has 4 time steps; the sequenceInputLayer's MinLength is 5")):
        rt.predict(model, short)
    with pytest.raises(RuntimeInputError, match=re.escape("classify: sequence 1 has 4 time steps")):
        rt.classify(model, np.zeros((2, 4, 3), np.float32))  # one contiguous batch: the one-call path checks it too
    with pytest.raises(RuntimeInputError, match="MinLength is 5"):
        rt.predict(model, np.zeros((2, 4, 3), np.float32))


def test_stream_steps_shorter_than_min_length_are_refused(tmp_path, rng):
    _, path = export(tmp_path, network(2)[:2] + [lstmLayer(4)], stateful=True)  # sequence output, stateful
    stream = StreamPool(rt.load(path)).open()
    stream.step(rng.normal(size=(2, 3)).astype(np.float32))
    with pytest.raises(RuntimeInputError, match="has 1 time steps; the sequenceInputLayer's MinLength is 2"):
        stream.step(rng.normal(size=(1, 3)).astype(np.float32))


def test_reference_refuses_short_sequences(rng):
    net = initialize(network(5), seed=0)
    with pytest.raises(Lstm2OnnxError, match=re.escape("sequence 2 has 3 time steps, fewer than sequenceInputLayer 'sequenceinput': MinLength 5")):
        reference.predict(net, [np.zeros((6, 3)), np.zeros((3, 3))])


def test_training_refuses_short_sequences(rng):
    from lstm2onnx.training import predict, trainingOptions, trainNetwork  # torch only here
    from lstm2onnx import classificationLayer
    X = [rng.normal(size=(T, 3)).astype(np.float32) for T in (6, 7, 2, 8)]
    Y = np.array(["a", "b", "a", "b"])
    options = trainingOptions("adam", MaxEpochs=1, MiniBatchSize=3, Verbose=False)
    with pytest.raises(Lstm2OnnxError, match=re.escape("trainNetwork: sequence 3 has 2 time steps, fewer than sequenceInputLayer 'sequenceinput': MinLength 5")):
        trainNetwork(X, Y, [*network(5), classificationLayer()], options)
    net, _ = trainNetwork([x for x in X if len(x) >= 5], Y[[0, 1, 3]], [*network(5), classificationLayer()], options)
    with pytest.raises(Lstm2OnnxError, match=re.escape("predict: sequence 2 has 3 time steps, fewer than sequenceInputLayer 'sequenceinput': MinLength 5")):
        predict(net, [X[0], X[2][:1].repeat(3, 0)])
    assert predict(net, X[:2]).shape == (2, 2)


def test_trainnet_and_minibatchpredict_refuse_short_sequences(rng):
    from lstm2onnx.training import dlnetwork, minibatchpredict, trainingOptions, trainnet
    X = [rng.normal(size=(T, 3)).astype(np.float32) for T in (6, 7, 2)]
    with pytest.raises(Lstm2OnnxError, match=re.escape("trainnet: sequence 3 has 2 time steps, fewer than sequenceInputLayer 'sequenceinput': MinLength 5")):
        trainnet(X, np.array(["a", "b", "a"]), network(5), "crossentropy", trainingOptions("adam", MaxEpochs=1, Verbose=False))
    with pytest.raises(Lstm2OnnxError, match=re.escape("minibatchpredict: sequence 3 has 2 time steps")):
        minibatchpredict(dlnetwork(network(5)), X)
