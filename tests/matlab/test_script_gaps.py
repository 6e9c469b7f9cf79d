"""Real-world script patterns the front end used to get wrong: a training call given an expression over a layer
array (``layers(1:end-1)``, ``layers([1 2 4 5 6])``, ``[layers(1:3); head]``), the layers of a trained network
building the next one (``layers = net.Layers``, transfer learning), and ``load(fullfile(folder, ...))`` with and
without ``--data``. Scripts are in tests/matlab/scripts/, their data made here (as in test_real_world_scripts.py).
"""

from __future__ import annotations

import re

import numpy as np
import pytest
from test_real_world_scripts import SCRIPTS, sensor_data

from lstm2onnx.layers import (
    bilstmLayer,
    classificationLayer,
    dropoutLayer,
    fullyConnectedLayer,
    reluLayer,
    sequenceInputLayer,
    softmaxLayer,
)
from lstm2onnx.matlab import read_script

ABLATION = (SCRIPTS / "ablation_selected_layers.m").read_text()
LAST_CALL = "netNoDropout = trainNetwork(X,categorical(Y),layers([1 2 4 5 6]),options);"
INPUT, BILSTM = sequenceInputLayer(6, Name="input"), bilstmLayer(64, OutputMode="last", Name="bilstm")
HEAD = [fullyConnectedLayer(3, Name="fc"), softmaxLayer(Name="softmax"), classificationLayer(Name="output")]


@pytest.fixture
def sensors(tmp_path):
    return sensor_data(tmp_path, np.random.default_rng(11))


def test_the_array_variable_itself_is_still_there_to_choose(sensors):
    result = read_script(ABLATION, data=sensors, variable="layers")
    assert list(result.layers) == [INPUT, BILSTM, dropoutLayer(0.3, Name="drop"), *HEAD]


@pytest.mark.parametrize("call,expected", [
    ("trainNetwork(X,categorical(Y),layers(2:end),options)", [BILSTM, dropoutLayer(0.3, Name="drop"), *HEAD]),
    ("trainNetwork(X,categorical(Y),layers([1:2, end-2:end]),options)", [INPUT, BILSTM, *HEAD]),
    ("trainNetwork(X,categorical(Y),[layers(1:2); layers(4:end)],options)", [INPUT, BILSTM, *HEAD]),
    ("trainnet(X,categorical(Y),layers(1:end-1),'crossentropy',options)", [INPUT, BILSTM, dropoutLayer(0.3, Name="drop"), *HEAD[:2]]),
    ("trainNetwork(X,categorical(Y),removeLayers(layerGraph(layers),'drop'),options)", None),  # two pieces, not joined
    ("trainNetwork(X,categorical(Y),layerGraph(layers(1:end-1)),options)", [INPUT, BILSTM, dropoutLayer(0.3, Name="drop"),
                                                                             *HEAD[:2]]),
])
def test_the_last_training_call_builds_the_expression_it_is_given(sensors, call, expected):
    text = ABLATION.replace(LAST_CALL, f"netNoDropout = {call};")
    if expected is None:
        with pytest.raises(Exception, match=re.escape("2 chains not connected")):
            read_script(text, data=sensors)
        return
    result = read_script(text, data=sensors)
    assert list(result.layers) == expected
    assert result.variable == f"{call.split('(')[0]}_layers"
