"""More real-world MATLAB training scripts after MathWorks examples (tests/matlab/scripts/*.m, each naming the
example it follows), compiled with the data they load, made here: the exact layers built, that the training,
plotting and evaluation around the array is skipped, and for some the ONNX model's numbers against the float64
reference (max abs error <= 1e-5, onnxruntime float32).

The cases of tests/matlab/test_real_world_scripts.py, in the same form.
"""

from __future__ import annotations

import dataclasses
import re

import numpy as np
import pytest
import scipy.io
from conftest import assert_matches_reference, random_batch, run
from test_builtin_semantics import evaluate, m, same
from test_real_world_scripts import SCRIPTS, CLASSIFIER_HEAD, Case, cell, labels, sequences, waveform_labels

from lstm2onnx import build, initialize, reference
from lstm2onnx.layers import (
    bilstmLayer,
    clippedReluLayer,
    dropoutLayer,
    fullyConnectedLayer,
    gruLayer,
    leakyReluLayer,
    lstmLayer,
    regressionLayer,
    reluLayer,
    sequenceInputLayer,
    softmaxLayer,
    tanhLayer,
)
from lstm2onnx.matlab import read_script, script

# -- data files, as the scripts load them ----------------------------------------------------------------------------


def vibration_features(tmp_path, rng):
    """what helperExtractLabeledData gives: one 1-by-12 feature row per observation (the table stays in MATLAB)"""
    path = tmp_path / "FeatureEntire.mat"
    scipy.io.savemat(path, {"featuresAfter": cell([rng.standard_normal((1, 12)) for _ in range(40)])})
    return [path]


BATTERY_TRAIN = "TRAIN_LGHG2@n10degC_to_25degC_Norm_5Inputs.mat"


def battery_cycles(tmp_path, rng):
    """the training file: one 5-by-N sequence X and its SOC Y (1-by-N); a test file the loop also loads"""
    train = tmp_path / BATTERY_TRAIN
    scipy.io.savemat(train, {"X": rng.uniform(0, 1, (5, 600)), "Y": rng.uniform(0, 1, (1, 600))})
    test = tmp_path / "01_TEST_LGHG2@n10degC_Norm_(05_Inputs).mat"
    scipy.io.savemat(test, {"X": rng.uniform(0, 1, (5, 200)), "Y": rng.uniform(0, 1, (1, 200))})
    return [train, test]


def speech_clips(tmp_path, rng):
    """clips of about one second at 16 kHz (some shorter: padded, some longer: cut), the command of each"""
    clips = cell([rng.standard_normal((int(n), 1)) * 0.1 for n in rng.integers(12000, 20000, 12)])
    path = tmp_path / "speechCommandsTrain.mat"
    scipy.io.savemat(path, {"audioTrain": clips, "labelsTrain": labels(12, ["yes", "no", "up", "down", "stop"])})
    return [path]


def traffic(tmp_path, rng):
    path = tmp_path / "trafficData.mat"
    scipy.io.savemat(path, {"XTrain": sequences(rng, 10, 6), "YTrain": rng.standard_normal((10, 1))})
    return [path]


def battery_expected(paths):
    return [sequenceInputLayer(5, Normalization="zerocenter"), fullyConnectedLayer(55), tanhLayer(),
            fullyConnectedLayer(55), leakyReluLayer(0.3), fullyConnectedLayer(1), clippedReluLayer(1), regressionLayer()]


CASES = [
    Case("waveform_custom_loop_adam.m", waveform_labels,
         [sequenceInputLayer(3), lstmLayer(128, OutputMode="last"), fullyConnectedLayer(4), softmaxLayer()], numeric=True),
    Case("vibration_bilstm_autoencoder.m", vibration_features,
         [sequenceInputLayer(1, Name="in"), bilstmLayer(16, Name="bilstm1"), reluLayer(Name="relu1"),
          bilstmLayer(32, Name="bilstm2"), reluLayer(Name="relu2"), bilstmLayer(16, Name="bilstm3"),
          reluLayer(Name="relu3"), fullyConnectedLayer(1, Name="fc")], numeric=True,
         notes=("featuresAfter comes from the --data file",)),
    Case("battery_soc_piecewise.m", battery_cycles, battery_expected, numeric=True),
    Case("speech_features_bilstm.m", speech_clips,
         [sequenceInputLayer(12), bilstmLayer(128), dropoutLayer(0.2), bilstmLayer(64, OutputMode="last"),
          dropoutLayer(0.2), fullyConnectedLayer(5)] + CLASSIFIER_HEAD),
    Case("dnd_gru_layer_graph.m", traffic,
         [sequenceInputLayer(6, Name="sequence", Normalization="zscore"), gruLayer(128, Name="gru_1"),
          dropoutLayer(0.2, Name="dropout_1"), gruLayer(64, OutputMode="last", Name="gru_2"),
          fullyConnectedLayer(32, Name="fc_1"), reluLayer(Name="relu"), fullyConnectedLayer(1, Name="fc_2"),
          regressionLayer(Name="regressionoutput")], numeric=True),
]


def case_id(case: Case) -> str:
    return case.script[:-2]


def compile_case(case: Case, tmp_path):
    paths = case.data(tmp_path, np.random.default_rng(11))
    return paths, read_script((SCRIPTS / case.script).read_text(), workspace=case.set, data=paths, variable=case.variable)


@pytest.mark.parametrize("case", CASES, ids=[case_id(c) for c in CASES])
def test_the_example_builds_the_layers_it_trains(case, tmp_path):
    paths, result = compile_case(case, tmp_path)
    expected = case.expected(paths) if callable(case.expected) else case.expected
    assert list(result.layers) == expected
    for note in case.notes:
        assert any(note in n for n in result.notes), (note, result.notes)
    listing = result.statements
    assert any(what == "skipped" for _, _, what in listing), "the training and plotting around the array is skipped"
    trained = [what for _, text, what in listing  # a custom training loop: the loop that calls dlfeval
               if re.match(r"(\[\w+(, *\w+)*\]|\w+) = (trainNetwork|trainnet)\(|while ", text)]
    assert trained and all(what == "skipped" for what in trained)


NUMERIC = [c for c in CASES if c.numeric]


def battery_statistics(paths):  # what trainNetwork computes for 'zerocenter': the mean per feature of XTrain
    return {"Mean": scipy.io.loadmat(paths[0])["X"].mean(axis=1)}


def traffic_statistics(paths):  # 'zscore': mean and standard deviation per feature over all time steps
    steps = np.hstack(list(scipy.io.loadmat(paths[0])["XTrain"].reshape(-1)))
    return {"Mean": steps.mean(axis=1), "StandardDeviation": steps.std(axis=1, ddof=1)}


STATISTICS = {"battery_soc_piecewise.m": battery_statistics, "dnd_gru_layer_graph.m": traffic_statistics}


@pytest.mark.parametrize("case", NUMERIC, ids=[case_id(c) for c in NUMERIC])
def test_the_built_network_matches_the_reference(case, tmp_path):
    paths, result = compile_case(case, tmp_path)
    layers = list(result.layers)
    if case.script in STATISTICS:  # the statistics training computes, from the data the script trains on
        layers[0] = dataclasses.replace(layers[0], **STATISTICS[case.script](paths))
    net = initialize(layers, seed=3)
    batch = random_batch(np.random.default_rng(4), 4, 9, layers[0].InputSize, ragged=True)
    (out,) = run(build(net, ragged=True), {"sequences": batch.padded, "sequence_lengths": batch.lengths}).values()
    assert_matches_reference(out, reference.predict(net, batch.sequences), batch.lengths)


# -- what the feature loop computes ------------------------------------------------------------------------------------


def frame_features(x: np.ndarray, frame: int = 400, segment: int = 16000) -> np.ndarray:
    """numpy's version of speech_features_bilstm.m's per-clip features: 12-by-numFrames"""
    x = np.concatenate([x, np.zeros(max(segment - x.size, 0))])[:segment]
    frames = x[: x.size // frame * frame].reshape(-1, frame).T
    eps = np.finfo(float).eps
    peak = np.abs(frames).max(axis=0)
    sub = frames.reshape(frame // 8, 8, -1, order="F")
    return np.vstack([np.log10((frames ** 2).sum(axis=0) + eps),
                      np.abs(np.diff(np.sign(frames), axis=0)).sum(axis=0) / (2 * frame),
                      peak, peak / np.sqrt((frames ** 2).mean(axis=0) + eps),
                      np.log10((sub ** 2).sum(axis=0) + eps)])


def test_the_feature_loop_computes_what_matlab_computes(monkeypatch, tmp_path):
    """the statistics the script standardizes with come from the features of every clip, padded or cut"""
    made: list[script.Evaluator] = []
    start = script.Evaluator.__init__
    monkeypatch.setattr(script.Evaluator, "__init__", lambda self, *args, **kw: (made.append(self), start(self, *args, **kw))[1])
    paths = speech_clips(tmp_path, np.random.default_rng(11))
    read_script((SCRIPTS / "speech_features_bilstm.m").read_text(), data=paths)
    clips = [c.reshape(-1) for c in scipy.io.loadmat(paths[0])["audioTrain"].reshape(-1)]
    steps = np.hstack([frame_features(c) for c in clips])
    values = made[-1].last_values
    np.testing.assert_allclose(values["M"].reshape(-1), steps.mean(axis=1), rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(values["S"].reshape(-1), steps.std(axis=1, ddof=1), rtol=1e-12, atol=1e-12)


DIFF = "diff doc (MATLAB): differences along the first dimension whose size is not 1; diff(X,n) is diff applied n times"


@pytest.mark.parametrize("statements,expected", [
    ("v = diff([1 1 2 3 5 8 13 21]);", m([0, 1, 1, 2, 3, 5, 8])),
    ("v = diff([1 1 1; 5 5 5; 25 25 25]);", m([4, 4, 4], [20, 20, 20])),
    ("v = diff([0 5 15 30 50 75 105], 2);", m([5, 5, 5, 5, 5])),
    ("v = diff([1 3 6; 2 2 2], 1, 2);", m([2, 3], [0, 0])),
    ("v = diff([1 4 9]', 1, 1);", m([3], [5])),
    ("v = diff([1 4 9], 0);", m([1, 4, 9])),
    ("v = diff([1 4 9], 1, 1);", np.zeros((0, 3))),  # along a dimension of size 1: empty there
    ("v = diff([1 4 9], 3);", np.zeros((1, 0))),
])
def test_diff_gives_what_matlab_gives(monkeypatch, statements, expected):
    (value,) = evaluate(monkeypatch, statements, ("v",))
    assert same(value, expected), f"{statements} gives {value!r}; MATLAB gives {expected!r} ({DIFF})"
