"""Real-world script patterns the front end used to get wrong: a training call given an expression over a layer
array (``layers(1:end-1)``, ``layers([1 2 4 5 6])``, ``[layers(1:3); head]``), the layers of a trained network
building the next one (``layers = net.Layers``, transfer learning), and ``load(fullfile(folder, ...))`` with and
without ``--data``. Scripts are in tests/matlab/scripts/, their data made here (as in test_real_world_scripts.py).
"""

from __future__ import annotations

import re

import h5py
import numpy as np
import pytest
import scipy.io
from conftest import assert_matches_reference, random_batch, run
from test_matfile import write_v73
from test_real_world_scripts import SCRIPTS, labels, sensor_data, sequences, waveform_labels

from lstm2onnx import build, initialize, reference
from lstm2onnx.cli import main
from lstm2onnx.layers import (
    bilstmLayer,
    classificationLayer,
    dropoutLayer,
    fullyConnectedLayer,
    lstmLayer,
    reluLayer,
    sequenceInputLayer,
    softmaxLayer,
)
from lstm2onnx.matlab import MatlabError, read_script

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


def test_the_network_trained_last_is_built_also_when_it_is_given_the_variable(sensors):
    text = ABLATION.replace(LAST_CALL, "netAgain = trainNetwork(X,categorical(Y),layers,options);")
    result = read_script(text, data=sensors)  # after [layers(1:3); ...] (trainNetwork_layers) was assigned and trained
    assert list(result.layers) == [INPUT, BILSTM, dropoutLayer(0.3, Name="drop"), *HEAD] and result.variable == "layers"
    assert ("layer arrays found: layers (line 8), trainNetwork_layers (line 22); building 'layers', the last one trained "
            "(line 26) (choose another with --variable NAME)") in result.notes
    assert list(read_script(text, data=sensors, variable="trainNetwork_layers").layers)[3] == \
        fullyConnectedLayer(32, Name="fc_wide")


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
        with pytest.raises(MatlabError, match=re.escape("2 chains not connected")):
            read_script(text, data=sensors)
        return
    result = read_script(text, data=sensors)
    assert list(result.layers) == expected
    assert result.variable == f"{call.split('(')[0]}_layers"


# -- the layers of a trained network build the next one ----------------------------------------------------------------


@pytest.fixture
def source_and_target(tmp_path):
    rng = np.random.default_rng(11)
    source, target = tmp_path / "sourceData.mat", tmp_path / "targetData.mat"
    scipy.io.savemat(source, {"XSource": sequences(rng, 30, 5), "YSource": labels(30, ["a", "b", "c"])})
    scipy.io.savemat(target, {"XTarget": sequences(rng, 10, 5), "YTarget": labels(10, ["v", "w", "x", "y", "z"])})
    return [source, target]


TRANSFER = {
    "transfer_retrain_head.m": [  # layers = net.Layers; layers(end-2) = fullyConnectedLayer(5, ...); layers(end) = ...
        sequenceInputLayer(5, Name="input"), lstmLayer(96, OutputMode="last", Name="lstm"), dropoutLayer(0.2, Name="drop"),
        fullyConnectedLayer(5, WeightLearnRateFactor=10, BiasLearnRateFactor=10, Name="fc_target"),
        softmaxLayer(Name="softmax"), classificationLayer(Name="output_target")],
    "transfer_feature_layers.m": [  # net.Layers(1:numel(net.Layers)-3), then a head twice net.Layers(2)'s hidden size
        sequenceInputLayer(5), bilstmLayer(48, OutputMode="last"), dropoutLayer(0.1),
        fullyConnectedLayer(96, WeightLearnRateFactor=20, BiasLearnRateFactor=20), reluLayer(), fullyConnectedLayer(5),
        softmaxLayer(), classificationLayer()],
}


@pytest.mark.parametrize("script", TRANSFER)
def test_the_layers_of_a_trained_network_build_the_network_trained_next(script, source_and_target):
    result = read_script((SCRIPTS / script).read_text(), data=source_and_target)
    assert list(result.layers) == TRANSFER[script] and result.variable == "layers"
    assert any(re.fullmatch(r"trainNetwork at line \d+ is not run: the network it returns stands for the layers it is "
                            r"given \(weights come from --weights\)", note) for note in result.notes), result.notes
    listing = {text: what for _, text, what in result.statements}
    assert [what for text, what in listing.items() if text.startswith("netTransfer = trainNetwork")] == ["skipped"]
    assert all(what == "skipped" for text, what in listing.items() if text.startswith(("options", "fprintf")))
    net = initialize(result.layers, seed=3)
    batch = random_batch(np.random.default_rng(4), 3, 9, 5, ragged=True)
    (out,) = run(build(net, ragged=True), {"sequences": batch.padded, "sequence_lengths": batch.lengths}).values()
    assert_matches_reference(out, reference.predict(net, batch.sequences), batch.lengths)


def test_what_training_reports_is_still_not_computed(source_and_target):
    text = (SCRIPTS / "transfer_retrain_head.m").read_text()
    text = text.replace("numTargetClasses = numel(categories(categorical(YTarget)));",
                        "numTargetClasses = numel(info.TrainingAccuracy);")
    with pytest.raises(MatlabError, match=re.escape("needs info, which comes from trainNetwork(...) (line 20), which "
                                                    "lstm2onnx never runs (training, plotting and printing are skipped)")):
        read_script(text, data=source_and_target)


def test_the_layers_of_a_saved_network_are_refused_with_what_to_do(tmp_path):
    saved, new = tmp_path / "pretrainedNet.mat", tmp_path / "newData.mat"
    write_v73(saved, {"classes": 3.0})
    with h5py.File(saved, "a") as handle:  # what MATLAB writes for an object: a reference into its subsystem
        dataset = handle.create_dataset("net", data=np.array([[3707764736, 2, 1, 1, 1, 1]], dtype=np.uint32))
        dataset.attrs["MATLAB_class"] = np.bytes_("SeriesNetwork")
        dataset.attrs["MATLAB_object_decode"] = np.int32(3)
    scipy.io.savemat(new, {"XTrain": sequences(np.random.default_rng(2), 6, 4), "YTrain": labels(6, ["p", "q"])})
    with pytest.raises(MatlabError) as info:
        read_script((SCRIPTS / "finetune_saved_network.m").read_text(), data=[saved, new])
    assert str(info.value).startswith(
        "line 8, column 10: layers = net.Layers (line 8): net is a MATLAB SeriesNetwork object, which only MATLAB can "
        "read (lstm2onnx takes no layers from a saved network): write its layer array in the script, or build the "
        "script that trained it, and give the trained weights with --weights")


# -- load(fullfile(folder, ...)): only the --data files are read ---------------------------------------------------------

EXAMPLE_FOLDER = (SCRIPTS / "load_example_folder.m").read_text()
WAVEFORM = [sequenceInputLayer(3), lstmLayer(64, OutputMode="last"), fullyConnectedLayer(4), softmaxLayer(), classificationLayer()]


def test_load_of_a_fullfile_path_binds_from_the_data_file(tmp_path):
    paths = waveform_labels(tmp_path, np.random.default_rng(11))
    result = read_script(EXAMPLE_FOLDER, data=paths)
    assert list(result.layers) == WAVEFORM and not result.notes
    renamed = paths[0].rename(tmp_path / "waves.mat")  # matlabroot is not known: the path matches any --data file
    assert list(read_script(EXAMPLE_FOLDER, data=[renamed]).layers) == WAVEFORM
    local = EXAMPLE_FOLDER.replace('fullfile(matlabroot,"examples","deeplearning_shared","data")', '"data"')
    result = read_script(local, data=[renamed])  # a path it computes and no --data file of that name: a note says so
    assert list(result.layers) == WAVEFORM
    assert ("load data/WaveformData.mat (line 5) binds data, labels from the --data file waves.mat: no --data file is "
            "named data/WaveformData.mat") in result.notes
    named = waveform_labels(tmp_path, np.random.default_rng(12))[0]  # two --data files: the path's name picks one
    other = tmp_path / "other.mat"
    scipy.io.savemat(other, {"data": sequences(np.random.default_rng(1), 4, 7, transposed=True), "labels": labels(4, ["a"])})
    for listed in ("", ', "data", "labels"'):
        text = local.replace('"WaveformData.mat"))', f'"WaveformData.mat"){listed})')
        for data in ([other, named], [named, other]):
            assert list(read_script(text, data=data).layers) == WAVEFORM, (listed, data)


def test_load_of_a_fullfile_path_without_data_names_the_load_and_reads_nothing(tmp_path, monkeypatch, capsys):
    folder = tmp_path / "examples" / "deeplearning_shared" / "data"
    folder.mkdir(parents=True)
    waveform_labels(folder, np.random.default_rng(11))  # the file the script names is there: it is not read
    waveform_labels(tmp_path, np.random.default_rng(11))
    monkeypatch.chdir(tmp_path)
    with pytest.raises(MatlabError) as info:
        read_script(EXAMPLE_FOLDER)
    first = info.value.problems[0][0]
    assert first.startswith("line 7, column 20: numChannels = size(data{1},2) (line 7) needs data, which comes from data "
                            "(load(fullfile(dataFolder,\"WaveformData.mat\")), line 5; lstm2onnx reads only files given "
                            "with --data): pass --data FILE holding data, or --set numChannels=<value>"), first
    assert "numClasses = numel(unique(labels)) (line 8) needs labels" in str(info.value)
    assert main(["build", str(SCRIPTS / "load_example_folder.m"), "-o", str(tmp_path / "w.onnx")]) == 1
    assert "pass --data FILE holding data" in capsys.readouterr().err and not (tmp_path / "w.onnx").exists()
    assert main(["build", str(SCRIPTS / "load_example_folder.m"), "-o", str(tmp_path / "w.onnx"),
                 "--data", str(folder / "WaveformData.mat")]) == 0
