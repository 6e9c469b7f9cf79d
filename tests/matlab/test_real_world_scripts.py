"""Real-world MATLAB training scripts (tests/matlab/scripts/*.m, each naming the public example or pattern it follows)
compiled with the data they load, made here: the layer array built, its options, and for some the ONNX model's
numbers against the float64 reference (max abs error <= 1e-5, onnxruntime float32).

Each script keeps what surrounds the array in the original (plots, printing, training, prediction, local
functions) so the build shows it is skipped, not needed.
"""

from __future__ import annotations

import pathlib
import re
from dataclasses import dataclass, field
from typing import Any, Callable

import numpy as np
import pytest
import scipy.io
from conftest import assert_matches_reference, random_batch, run
from test_matfile import write_v73

from lstm2onnx import build, initialize, reference
from lstm2onnx.cli import main
from lstm2onnx.layers import (
    bilstmLayer,
    classificationLayer,
    convolution1dLayer,
    dropoutLayer,
    fullyConnectedLayer,
    globalAveragePooling1dLayer,
    gruLayer,
    layerNormalizationLayer,
    lstmLayer,
    regressionLayer,
    reluLayer,
    sequenceInputLayer,
    softmaxLayer,
    wordEmbeddingLayer,
)
from lstm2onnx.matlab import MatlabError, read_script

SCRIPTS = pathlib.Path(__file__).parent / "scripts"


def cell(items, shape=None) -> np.ndarray:
    out = np.empty(len(items), dtype=object)
    for k, item in enumerate(items):
        out[k] = item
    return out.reshape(shape or (len(items), 1))


def sequences(rng, count, channels, low=8, high=30, transposed=False):
    """A cell of ``channels``-by-T sequences (T-by-``channels`` when transposed) of random lengths."""
    made = [rng.standard_normal((channels, int(rng.integers(low, high)))) for _ in range(count)]
    return cell([m.T for m in made] if transposed else made)


def labels(count, names):
    return cell([names[k % len(names)] for k in range(count)])


# -- data files, as the scripts load them ----------------------------------------------------------------------------


def vowels_data(tmp_path, rng):
    path = tmp_path / "vowels.mat"
    scipy.io.savemat(path, {"XTrain": sequences(rng, 27, 12), "TTrain": labels(27, [str(k) for k in range(1, 10)])})
    return [path]


def chickenpox_data(tmp_path, rng):
    path = tmp_path / "chickenpox.mat"
    scipy.io.savemat(path, {"data": cell([float(v) for v in rng.integers(100, 900, 60)], (1, 60))})
    return [path]


def waveform_channels_first(tmp_path, rng):
    path = tmp_path / "WaveformData.mat"
    write_v73(path, {"data": sequences(rng, 12, 3, 20, 40)})  # v7.3, as MATLAB saves large data
    return [path]


def waveform_frequencies(tmp_path, rng):
    path = tmp_path / "WaveformData.mat"
    scipy.io.savemat(path, {"data": sequences(rng, 20, 3, 20, 40, transposed=True), "freq": rng.uniform(1, 5, (20, 1))})
    return [path]


def waveform_labels(tmp_path, rng):
    path = tmp_path / "WaveformData.mat"
    scipy.io.savemat(path, {"data": sequences(rng, 16, 3, 20, 40, transposed=True),
                            "labels": labels(16, ["Sine", "Square", "Sawtooth", "Triangle"])})
    return [path]


def human_activity(tmp_path, rng):
    x = sequences(rng, 6, 3, 50, 80)
    steps = ["Dancing", "Running", "Sitting", "Standing", "Walking"]
    y = cell([cell([steps[(t // 10) % 5] for t in range(s.shape[1])], (1, s.shape[1])) for s in x.reshape(-1)])
    path = tmp_path / "HumanActivityTrain.mat"
    scipy.io.savemat(path, {"XTrain": x, "YTrain": y})
    return [path]


def turbofan(tmp_path, rng):
    x = cell([np.vstack([rng.standard_normal((3, t)), np.full((2, t), 7.0), rng.standard_normal((16, t)),
                         np.zeros((3, t))]) for t in rng.integers(30, 60, 8)])  # 5 constant rows of 24
    y = cell([np.arange(s.shape[1], 0, -1.0).reshape(1, -1) + 100 for s in x.reshape(-1)])
    path = tmp_path / "turbofan.mat"
    scipy.io.savemat(path, {"XTrain": x, "YTrain": y})
    return [path]


def sensor_data(tmp_path, rng):
    path = tmp_path / "sensorData.mat"
    scipy.io.savemat(path, {"X": sequences(rng, 30, 6), "Y": labels(30, ["idle", "walk", "run"])})
    return [path]


def physionet(tmp_path, rng):
    path = tmp_path / "PhysionetData.mat"
    scipy.io.savemat(path, {"Signals": sequences(rng, 10, 1, 100, 200), "Labels": labels(10, ["A", "N"])})
    return [path]


def train_data(tmp_path, rng):
    path = tmp_path / "trainData.mat"
    x = cell([rng.normal(5.0, 3.0, (4, int(t))) for t in rng.integers(10, 30, 24)])
    scipy.io.savemat(path, {"XTrain": x, "YTrain": labels(24, ["left", "right", "up"])})
    return [path]


def signals(tmp_path, rng):
    path = tmp_path / "signals.mat"
    x = sequences(rng, 10, 5, 10, 30)
    y = cell([rng.standard_normal((2, s.shape[1])) for s in x.reshape(-1)])
    scipy.io.savemat(path, {"XTrain": x, "YTrain": y})
    return [path]


def config_data(tmp_path, rng):
    path = tmp_path / "data.mat"
    scipy.io.savemat(path, {"XTrain": sequences(rng, 20, 8), "YTrain": np.array([[1, 2, 3, 4, 5] * 4]).T.astype(float)})
    return [path]


def sequence_labels_sorted(tmp_path, rng):
    """labels 1..4 stored sorted by class (a split that missed a class would show in numClasses)."""
    path = tmp_path / "data_seq.mat"
    scipy.io.savemat(path, {"seqs": sequences(rng, 40, 7), "labels": np.repeat([1.0, 2.0, 3.0, 4.0], 10).reshape(-1, 1)})
    return [path]


def feature_matrix(tmp_path, rng):
    path = tmp_path / "features.mat"
    scipy.io.savemat(path, {"features": rng.standard_normal((50, 17)), "labels": labels(50, ["ok", "fault"])})
    return [path]


def custom_loop_data(tmp_path, rng):
    path = tmp_path / "sequenceData.mat"
    scipy.io.savemat(path, {"XTrain": sequences(rng, 12, 5), "TTrain": labels(12, ["a", "b", "c", "d", "e", "f", "g"])})
    return [path]


def recording(tmp_path, rng):
    path = tmp_path / "modeldist.npz"  # one recording, time steps in rows, as numpy saves a matrix
    np.savez(path, data=rng.standard_normal((400, 56)))
    return [path]


def quality_features(tmp_path, rng):
    path = tmp_path / "quality.mat"
    write_v73(path, {"XTrain": sequences(rng, 6, 40, 5, 9), "YTrain": rng.uniform(1, 5, (6, 1))})
    return [path]


def factory_labels(tmp_path, rng):
    path = tmp_path / "reports.npz"  # the labels as a numpy string array; the table itself stays in MATLAB
    np.savez(path, YTrain=np.array(["Electronic Failure", "Leak", "Mechanical Failure", "Software Failure"] * 5))
    return [path]


def gestures(tmp_path, rng):
    path = tmp_path / "gestures.mat"
    write_v73(path, {"XTrain": sequences(rng, 9, 11), "YTrain": labels(9, ["swipe", "tap", "pinch"])})
    return [path]


def waveform_imbalanced(tmp_path, rng):
    path = tmp_path / "WaveformData.mat"
    scipy.io.savemat(path, {"data": sequences(rng, 60, 3, 20, 40, transposed=True),
                            "labels": labels(60, ["Sine", "Square", "Sawtooth", "Triangle"])})  # 15 of each
    return [path]


def turbofan_time_major(tmp_path, rng):
    x = cell([np.hstack([rng.standard_normal((t, 4)), np.full((t, 3), 2.0), rng.standard_normal((t, 10))])
              for t in rng.integers(30, 60, 6)])  # time-by-17, 3 constant columns
    y = cell([np.arange(s.shape[0], 0, -1.0).reshape(-1, 1) for s in x.reshape(-1)])
    path = tmp_path / "turbofan.mat"
    scipy.io.savemat(path, {"XTrain": x, "TTrain": y})
    return [path]


def spreadsheet(tmp_path, rng):
    path = tmp_path / "dataset.npz"  # what xlsread would give: observations in rows, the target last
    np.savez(path, data=rng.standard_normal((120, 6)))
    return [path]


def characters(tmp_path, rng):
    alphabet = list("abcdefghij")
    xs, ys = [], []
    for length in (12, 7, 9):
        codes = rng.integers(0, len(alphabet), length + 1)
        xs.append(np.eye(len(alphabet))[:, codes[:-1]])
        ys.append(cell([alphabet[c] for c in codes[1:]], (1, length)))
    path = tmp_path / "textData.mat"
    scipy.io.savemat(path, {"XTrain": cell(xs), "YTrain": cell(ys)})
    return [path]


def laser_series(tmp_path, rng):
    path = tmp_path / "lasertrain.npz"  # what load('Data/lasertrain.dat') gives: one column of samples
    np.savez(path, train_data=rng.uniform(0, 255, (120, 1)))
    return [path]


def feature_rows(tmp_path, rng, names=None):
    """one observation per row of modelTrainMat; labels 1..4 (or texts) and the seed the script reads"""
    path = tmp_path / "features.mat"
    ys = np.array([[1.0, 2.0, 3.0, 4.0] * 4]).T if names is None else labels(16, names)
    scipy.io.savemat(path, {"modelTrainMat": rng.standard_normal((16, 30)), "trainLabels": ys, "rngSeed": 7.0})
    return [path]


def feature_rows_text_labels(tmp_path, rng):
    return feature_rows(tmp_path, rng, ["sit", "walk", "run"])


def trial_matrices(tmp_path, rng):
    path = tmp_path / "trials.mat"  # time steps in rows: 6 inputs, 2 outputs
    scipy.io.savemat(path, {"XTrain": rng.standard_normal((150, 6)), "YTrain": rng.standard_normal((150, 2))})
    return [path]


def glove_recordings(tmp_path, rng):
    path = tmp_path / "glove.mat"
    scipy.io.savemat(path, {"features": sequences(rng, 30, 11, 20, 60), "labels": np.array([[1.0, 2.0] * 15]).T})
    return [path]


def load_table(tmp_path, rng):
    path = tmp_path / "load_data.npz"  # the table's values: a time column and 3 measurements
    np.savez(path, T=np.hstack([np.arange(300.0).reshape(-1, 1), rng.uniform(100, 900, (300, 3))]))
    return [path]


def regression_sheet(tmp_path, rng):
    path = tmp_path / "sheet.npz"  # 103 samples of 7 inputs and 1 output, as xlsread gives them
    np.savez(path, res=rng.uniform(0, 10, (103, 8)))
    return [path]


def power_quality(tmp_path, rng):
    data = rng.standard_normal((60, 5))
    data[:, -1] = np.arange(60) % 3 + 1  # 3 classes in the last column
    data[[4, 17], 2] = np.nan  # incomplete rows the script deletes
    path = tmp_path / "power_quality.npz"
    np.savez(path, data=data)
    return [path]


def raw_channels(tmp_path, rng):
    path = tmp_path / "raw.mat"
    scipy.io.savemat(path, {"raw": rng.standard_normal((4, 50))})
    return [path]


def decomposed_series(tmp_path, rng):
    path = tmp_path / "components.npz"  # the column xlsread gives and the components emd would
    np.savez(path, data=rng.standard_normal((90, 1)), imf=rng.standard_normal((3, 90)))
    return [path]


def two_series(tmp_path, rng):
    path = tmp_path / "series.mat"  # the script loads 'y*': both series, nothing else
    scipy.io.savemat(path, {"y_train": rng.standard_normal((80, 1)), "y_test": rng.standard_normal((20, 1)),
                            "x_unused": np.zeros((1, 1))})
    return [path]


def no_data(tmp_path, rng):
    return []


# -- the cases --------------------------------------------------------------------------------------------------------


@dataclass
class Case:
    script: str
    data: Callable[[pathlib.Path, np.random.Generator], list[pathlib.Path]]
    expected: list[Any] | Callable[[list[pathlib.Path]], list[Any]]  # the layers, or how to compute them from the data
    set: dict[str, Any] = field(default_factory=dict)
    numeric: bool = False  # compare the built model with the reference
    notes: tuple[str, ...] = ()  # texts some note must contain
    variable: str | None = None


CLASSIFIER_HEAD = [softmaxLayer(), classificationLayer()]


def zscore_expected(paths: list[pathlib.Path]) -> list[Any]:
    steps = np.hstack(list(scipy.io.loadmat(paths[0])["XTrain"].reshape(-1)))
    return [sequenceInputLayer(4, Normalization="zscore", Mean=steps.mean(axis=1), StandardDeviation=steps.std(axis=1, ddof=1)),
            lstmLayer(64), lstmLayer(32, OutputMode="last"), fullyConnectedLayer(3)] + CLASSIFIER_HEAD


def rescale_expected(paths: list[pathlib.Path]) -> list[Any]:
    data = scipy.io.loadmat(paths[0])
    steps = np.hstack(list(data["XTrain"].reshape(-1)))
    return [sequenceInputLayer(5, Normalization="rescale-symmetric", Min=steps.min(axis=1), Max=steps.max(axis=1)),
            bilstmLayer(96), fullyConnectedLayer(2), regressionLayer()]


CASES = [
    Case("japanese_vowels_trainnet.m", vowels_data,
         [sequenceInputLayer(12), bilstmLayer(100, OutputMode="last"), fullyConnectedLayer(9), softmaxLayer()], numeric=True,
         notes=("XTrain comes from the --data file ([XTrain,TTrain] = japaneseVowelsTrainData at line 3 is not evaluated",)),
    Case("chickenpox_forecast.m", chickenpox_data,
         [sequenceInputLayer(1), lstmLayer(200), fullyConnectedLayer(1), regressionLayer()], numeric=True),
    Case("waveform_forecast_trainnet.m", waveform_channels_first,
         [sequenceInputLayer(3), lstmLayer(128), fullyConnectedLayer(3)], numeric=True),
    Case("human_activity_seq2seq.m", human_activity,
         [sequenceInputLayer(3), lstmLayer(200), fullyConnectedLayer(5)] + CLASSIFIER_HEAD),
    Case("turbofan_rul.m", turbofan,
         [sequenceInputLayer(19), lstmLayer(200), fullyConnectedLayer(50), dropoutLayer(0.5), fullyConnectedLayer(1),
          regressionLayer()], numeric=True),
    Case("waveform_seq2one_regression.m", waveform_frequencies,
         [sequenceInputLayer(3, Normalization="zscore", Mean=np.zeros(3), StandardDeviation=np.ones(3)),
          lstmLayer(100, OutputMode="last", Name="lstm_16"), fullyConnectedLayer(1)]),  # floor(0.8 * 20) = 16
    Case("waveform_conv1d.m", waveform_labels,
         [sequenceInputLayer(3), convolution1dLayer(5, 32, Padding="causal"), reluLayer(), layerNormalizationLayer(),
          convolution1dLayer(5, 64, Padding="causal"), reluLayer(), layerNormalizationLayer(), globalAveragePooling1dLayer(),
          fullyConnectedLayer(4), softmaxLayer()]),
    Case("text_word_embedding.m", no_data,
         [sequenceInputLayer(1), wordEmbeddingLayer(50, 417), lstmLayer(80, OutputMode="last"), fullyConnectedLayer(4)]
         + CLASSIFIER_HEAD, set={"numWords": 417, "numClasses": 4}),
    Case("text_word_embedding.m", factory_labels,  # YTrain = dataTrain.Category fails; the --data file's YTrain stands
         [sequenceInputLayer(1), wordEmbeddingLayer(50, 417), lstmLayer(80, OutputMode="last"), fullyConnectedLayer(4)]
         + CLASSIFIER_HEAD, set={"numWords": 417},
         notes=("YTrain comes from the --data file (YTrain = dataTrain.Category at line 19 is not evaluated",)),
    Case("gru_stacked_dropout.m", sensor_data,
         [sequenceInputLayer(6, Name="in"), gruLayer(128, Name="gru1"), dropoutLayer(0.2, Name="drop1"),
          gruLayer(64, OutputMode="last", Name="gru2"), dropoutLayer(0.2, Name="drop2"), fullyConnectedLayer(3, Name="fc"),
          softmaxLayer(Name="softmax"), classificationLayer(Name="output")], numeric=True),
    Case("ecg_bilstm_features.m", physionet,
         [sequenceInputLayer(2), bilstmLayer(100, OutputMode="last"), fullyConnectedLayer(2)] + CLASSIFIER_HEAD,
         set={"numFeatures": 2}),
    Case("zscore_input_normalization.m", train_data, zscore_expected, numeric=True),
    Case("rescale_symmetric_input.m", signals, rescale_expected, numeric=True),
    Case("struct_config.m", config_data,
         [sequenceInputLayer(8, Name="input"), lstmLayer(128, Name="lstm1"), dropoutLayer(0.3, Name="drop1"),
          lstmLayer(64, OutputMode="last", Name="lstm2"), dropoutLayer(0.3, Name="drop2"), fullyConnectedLayer(5, Name="fc"),
          softmaxLayer(Name="sm"), classificationLayer(Name="out")]),
    Case("struct_config.m", config_data,
         [sequenceInputLayer(8, Name="input"), lstmLayer(96, Name="lstm1"), dropoutLayer(0.3, Name="drop1"),
          lstmLayer(48, OutputMode="last", Name="lstm2"), dropoutLayer(0.3, Name="drop2"), fullyConnectedLayer(5, Name="fc"),
          softmaxLayer(Name="sm"), classificationLayer(Name="out")], set={"cfg.numHiddenUnits": 96},
         notes=("--set cfg.numHiddenUnits replaces the script's assignment at line 4",)),
    Case("randperm_holdout.m", sequence_labels_sorted,
         [sequenceInputLayer(7), bilstmLayer(50, OutputMode="last"), fullyConnectedLayer(4)] + CLASSIFIER_HEAD,
         notes=("random draws replaced by fixed ones: randperm (line 6)",)),
    Case("cvpartition_features.m", feature_matrix,
         [sequenceInputLayer(17), lstmLayer(40, OutputMode="last"), fullyConnectedLayer(2)] + CLASSIFIER_HEAD,
         notes=("random draws replaced by fixed ones: cvpartition (line 4)",)),
    Case("buildLstmClassifier.m", no_data,
         [sequenceInputLayer(12, Name="in"), lstmLayer(100, OutputMode="last", Name="rnn"), fullyConnectedLayer(9, Name="fc"),
          softmaxLayer(Name="softmax"), classificationLayer(Name="classoutput")], set={"numFeatures": 12, "numClasses": 9}),
    Case("buildLstmClassifier.m", no_data,
         [sequenceInputLayer(3, Name="in"), bilstmLayer(16, OutputMode="last", Name="rnn"), fullyConnectedLayer(2, Name="fc"),
          softmaxLayer(Name="softmax"), classificationLayer(Name="classoutput")],
         set={"numFeatures": 3, "numClasses": 2, "numHiddenUnits": 16, "bidirectional": True}),
    Case("dlnetwork_custom_loop.m", custom_loop_data,
         [sequenceInputLayer(5), gruLayer(96, OutputMode="last"), fullyConnectedLayer(7), softmaxLayer()], numeric=True),
    Case("switch_model_type.m", no_data,
         [sequenceInputLayer(9, Name="input"), bilstmLayer(64, OutputMode="last"), fullyConnectedLayer(6), softmaxLayer()]),
    Case("imbalanced_class_weights.m", waveform_imbalanced,  # 15 Sine, 15 Square, 10 Sawtooth, 15 Triangle
         [sequenceInputLayer(3), bilstmLayer(120, OutputMode="last"), fullyConnectedLayer(4), softmaxLayer(),
          classificationLayer(Classes=["Sawtooth", "Sine", "Square", "Triangle"],
                              ClassWeights=55 / (4 * np.array([10.0, 15.0, 15.0, 15.0])))]),
    Case("turbofan_rul_trainnet.m", turbofan_time_major,
         [sequenceInputLayer(14), lstmLayer(200), fullyConnectedLayer(50), dropoutLayer(0.5), fullyConnectedLayer(1)]),
    Case("xlsread_mapminmax.m", spreadsheet,
         [sequenceInputLayer(5), lstmLayer(64), dropoutLayer(0.1), lstmLayer(32), fullyConnectedLayer(1), regressionLayer()],
         numeric=True, notes=("data comes from the --data file (xlsread(...) at line 6 is not run)",)),
    Case("text_generation_chars.m", characters,
         lambda paths: [sequenceInputLayer(10), lstmLayer(400), dropoutLayer(0.2), lstmLayer(400), dropoutLayer(0.2),
                        fullyConnectedLayer(len({str(c[0]) for y in scipy.io.loadmat(paths[0])["YTrain"].reshape(-1)
                                                 for c in y.reshape(-1)}))] + CLASSIFIER_HEAD),
    Case("dnd_exported_graph.m", gestures,
         [sequenceInputLayer(11, Name="sequence"), bilstmLayer(128, OutputMode="last", Name="bilstm"),
          dropoutLayer(0.3, Name="dropout"), fullyConnectedLayer(3, Name="fc"), softmaxLayer(Name="softmax"),
          classificationLayer(Name="classoutput")], numeric=True),
    Case("matrix_sequence_regression.m", recording,
         [sequenceInputLayer(20, Normalization="zscore"), lstmLayer(150), reluLayer(), fullyConnectedLayer(3), regressionLayer()],
         notes=("data comes from the --data file",)),
    Case("TrainGRUModel.m", quality_features,
         [sequenceInputLayer(40), fullyConnectedLayer(256), dropoutLayer(0.25), reluLayer(), gruLayer(64),
          gruLayer(32, OutputMode="last"), fullyConnectedLayer(1), regressionLayer()], variable="layers", numeric=True),
    Case("switch_model_type.m", no_data,
         [sequenceInputLayer(9, Name="input"), gruLayer(64, OutputMode="last"), fullyConnectedLayer(6), softmaxLayer()],
         set={"modelType": "GRU"}),
    Case("laser_grid_search.m", laser_series,  # the array left by the grid-search loop: its last hidden size
         [sequenceInputLayer(1), lstmLayer(100), fullyConnectedLayer(1), regressionLayer()], numeric=True,
         notes=("train_data comes from the --data file (load('Data/lasertrain.dat') at line 15 is not run)",)),
    Case("kfold_features_loop.m", feature_rows,  # mat2cell in a loop; numClasses = max(double(YTrain))
         [sequenceInputLayer(30), lstmLayer(100, OutputMode="last"), fullyConnectedLayer(4)] + CLASSIFIER_HEAD, numeric=True),
    Case("kfold_features_loop.m", feature_rows_text_labels,  # labels saved as text: double() gives the codes 1..3
         [sequenceInputLayer(30), lstmLayer(100, OutputMode="last"), fullyConnectedLayer(3)] + CLASSIFIER_HEAD),
    Case("fcn_trainLSTM.m", trial_matrices,
         [sequenceInputLayer(6), lstmLayer(32, Name="lstm_1"), dropoutLayer(0.2, Name="drop_1"),
          lstmLayer(32, Name="lstm_2"), dropoutLayer(0.2, Name="drop_2"), fullyConnectedLayer(2), regressionLayer()],
         set={"netVar.NV": 32, "netVar.NL": 2}, numeric=True,
         notes=("the first output of fcn_trainLSTM, LSTM_results, is not a layer array: building 'layers'",
                "with netVar from --set and XTrain, YTrain from --data")),
    Case("trainLstm_glove.m", glove_recordings,
         [sequenceInputLayer(11), bilstmLayer(100, OutputMode="last"), fullyConnectedLayer(2)] + CLASSIFIER_HEAD,
         notes=("the first output of trainLstm_glove, net, is not a layer array: building 'layers'",)),
    Case("readtable_sliding_window.m", load_table,  # 24 lags of 3 columns; con2seq makes one-step sequences
         [sequenceInputLayer(72, Name="input"), lstmLayer(128, Name="lstm1"), dropoutLayer(0.2, Name="drop1"),
          gruLayer(64, OutputMode="last", Name="gru2"), fullyConnectedLayer(1, Name="fc"), regressionLayer(Name="out")],
         numeric=True, notes=("T comes from the --data file (readtable(...) at line 8 is not run)",)),
    Case("xlsread_reshape4d_regression.m", regression_sheet,
         [sequenceInputLayer(7), lstmLayer(6, OutputMode="last"), reluLayer(), fullyConnectedLayer(1), regressionLayer()],
         numeric=True, notes=("res comes from the --data file (xlsread(...) at line 11 is not run)",)),
    Case("readmatrix_exist_guard.m", power_quality,
         [sequenceInputLayer(4, Normalization="zscore"), lstmLayer(50, OutputMode="last"), fullyConnectedLayer(3)]
         + CLASSIFIER_HEAD,
         notes=("exist('trainedNet.mat', 'file') at line 21 is taken as false",
                "data comes from the --data file (readmatrix(...) at line 7 is not run)")),
    Case("WeatherGruModel.m", no_data,  # x_in has no default: --set on the object's property
         [sequenceInputLayer(9), gruLayer(64), gruLayer(32, OutputMode="last"), fullyConnectedLayer(1), regressionLayer()],
         set={"net.x_in": 9}, numeric=True,
         notes=("classdef WeatherGruModel: building the layer array of method Create; net holds the property defaults",)),
    Case("emd_component_loop.m", decomposed_series,  # the last component's network: 12 lags in
         [sequenceInputLayer(12), lstmLayer(200), fullyConnectedLayer(1), regressionLayer()], numeric=True),
    Case("emd_component_loop.m", no_data,  # emd cannot run: the loop runs once, numFeatures given
         [sequenceInputLayer(12), lstmLayer(200), fullyConnectedLayer(1), regressionLayer()], set={"numFeatures": 12},
         notes=("for i = 1:c (line 17): the range cannot be computed; the loop that builds the layer array ran once",)),
    Case("lagmatrix_autoregressive.m", two_series,
         [sequenceInputLayer(8, Name="input"), bilstmLayer(64, OutputMode="last", Name="bilstm"),
          dropoutLayer(0.25, Name="drop"), fullyConnectedLayer(1, Name="fc"), regressionLayer(Name="output")], numeric=True),
    Case("trainnet_local_prepare.m", raw_channels,
         [sequenceInputLayer(4, Name="in"), lstmLayer(32, Name="lstm_1"), lstmLayer(64, Name="lstm_2"),
          fullyConnectedLayer(4, Name="fc")], numeric=True),
    Case("trainnet_migrated_output_layer.m", waveform_labels,  # trainnet(X, T, layers(1:end-1), ...): no classificationLayer
         [sequenceInputLayer(3), lstmLayer(120, OutputMode="last"), fullyConnectedLayer(4), softmaxLayer()], numeric=True,
         notes=("building 'trainnet_layers', the last one assigned",)),
    Case("ablation_selected_layers.m", sensor_data,  # the last network trained: layers([1 2 4 5 6]), no dropout
         [sequenceInputLayer(6, Name="input"), bilstmLayer(64, OutputMode="last", Name="bilstm"),
          fullyConnectedLayer(3, Name="fc"), softmaxLayer(Name="softmax"), classificationLayer(Name="output")], numeric=True,
         notes=("layer arrays found: layers (line 8), trainNetwork_layers (line 26)",)),
]


def case_id(case: Case) -> str:
    return case.script[:-2] + ("+set" if case.set else "")


@pytest.fixture(params=CASES, ids=[case_id(c) for c in CASES])
def built(request, tmp_path):
    case: Case = request.param
    paths = case.data(tmp_path, np.random.default_rng(11))
    result = read_script((SCRIPTS / case.script).read_text(), workspace=case.set, data=paths, variable=case.variable)
    return case, paths, result


def test_the_script_builds_the_layers_it_names(built):
    case, paths, result = built
    expected = case.expected(paths) if callable(case.expected) else case.expected
    assert list(result.layers) == expected
    for note in case.notes:
        assert any(note in n for n in result.notes), (note, result.notes)
    listing = result.statements
    if not (SCRIPTS / case.script).read_text().startswith("function"):
        assert any(what == "skipped" for _, _, what in listing), "the training and plotting around the array is skipped"
    trained = [what for _, text, what in listing if re.match(r"(\[\w+(, *\w+)*\]|\w+) = (trainNetwork|trainnet)\(", text)]
    assert all(what == "skipped" for what in trained)


NUMERIC = [c for c in CASES if c.numeric]


@pytest.mark.parametrize("case", NUMERIC, ids=[case_id(c) for c in NUMERIC])
def test_the_built_network_matches_the_reference(case, tmp_path):
    paths = case.data(tmp_path, np.random.default_rng(11))
    layers = read_script((SCRIPTS / case.script).read_text(), workspace=case.set, data=paths, variable=case.variable).layers
    net = initialize(layers, seed=3)
    features = layers[0].InputSize
    batch = random_batch(np.random.default_rng(4), 4, 9, features, ragged=True)
    (out,) = run(build(net, ragged=True), {"sequences": batch.padded, "sequence_lengths": batch.lengths}).values()
    assert_matches_reference(out, reference.predict(net, batch.sequences), batch.lengths)


@pytest.mark.parametrize("script,needs", [
    ("ecg_bilstm_features.m", "the layer array needs numFeatures: give them directly with --set numFeatures=<value>"),
    ("text_word_embedding.m", "the layer array needs numClasses, numWords: give them directly with --set numClasses=<value> "
                              "--set numWords=<value>"),
])
def test_sizes_only_matlab_computes_say_which_values_to_set(script, needs):
    with pytest.raises(MatlabError) as info:
        read_script((SCRIPTS / script).read_text())
    assert str(info.value).endswith(needs)


def test_the_first_problem_of_a_long_chain_suggests_the_value_the_layer_array_reads():
    with pytest.raises(MatlabError) as info:  # afibX needs segmentSignals' output; the array needs numFeatures
        read_script((SCRIPTS / "ecg_bilstm_features.m").read_text())
    first = info.value.problems[0][0].split("\n")[0]
    assert first.startswith("line 15, column 9: afibX = Signals(Labels=='A') (line 15) needs Signals, which comes from "
                            "segmentSignals(...) (line 14)")
    assert first.endswith("pass --data FILE holding Signals, or --set numFeatures=<value> (what the layer array reads)")


def test_scripts_reading_files_without_data_say_where_the_values_come_from():
    with pytest.raises(MatlabError) as info:
        read_script((SCRIPTS / "readtable_sliding_window.m").read_text())
    assert str(info.value).startswith(
        "line 9, column 22: values = table2array(T(:, 2:end)) (line 9) needs T, which comes from readtable(...) (line 8), "
        "which reads a file: lstm2onnx reads no file but those given with --data: pass --data FILE holding T, "
        "or --set inputSize=<value> (what the layer array reads)")
    with pytest.raises(MatlabError) as info:
        read_script((SCRIPTS / "laser_grid_search.m").read_text())
    assert "needs train_data, which comes from data (load('Data/lasertrain.dat'), line 15;" in str(info.value)
    assert str(info.value).endswith("give them directly with --set numFeatures=<value>")


def test_a_class_property_without_a_default_says_how_to_set_it():
    with pytest.raises(MatlabError, match=re.escape("the struct has no field 'x_in' (its fields: y_out, k_hid1, k_hid2, "
                                                    "mb_size, max_epoch): give it with --set net.x_in=<value>")):
        read_script((SCRIPTS / "WeatherGruModel.m").read_text())
    result = read_script((SCRIPTS / "WeatherGruModel.m").read_text(), workspace={"net": {"x_in": 5, "k_hid2": 8}})
    assert list(result.layers)[:3] == [sequenceInputLayer(5), gruLayer(64), gruLayer(8, OutputMode="last")]
    assert "--set net.k_hid2 replaces the script's assignment at line 11" in result.notes


def test_a_loop_whose_count_comes_from_a_toolbox_call_asks_for_the_size_the_array_reads():
    with pytest.raises(MatlabError) as info:
        read_script((SCRIPTS / "emd_component_loop.m").read_text())
    assert str(info.value).endswith("the layer array needs numFeatures: give them directly with --set numFeatures=<value>")
    assert "or --set numFeatures=<value> (what the layer array reads)" in info.value.problems[0][0]


def test_the_spreadsheet_a_script_reads_is_not_a_data_file(tmp_path, capsys):
    sheet = tmp_path / "load_data.csv"
    sheet.write_text("time,a,b,c\n0,1,2,3\n")
    out = tmp_path / "load.onnx"
    assert main(["build", str(SCRIPTS / "readtable_sliding_window.m"), "-o", str(out), "--data", str(sheet)]) == 1
    err = capsys.readouterr().err
    assert "expected a .mat or .npz file; lstm2onnx reads no spreadsheet or text file" in err
    assert "data = readmatrix('file.csv'); save('data.mat', 'data')" in err and not out.exists()


def test_unsupported_layers_of_a_cnn_lstm_script_are_reported_at_once():
    with pytest.raises(MatlabError) as info:
        read_script((SCRIPTS / "cnn_lstm_unsupported.m").read_text())
    problems = [(text.split(":", 1)[1].split("(")[0].strip(), line) for text, line, _ in info.value.problems]
    assert problems == [("unsupported layer 'sequenceFoldingLayer': a MATLAB layer lstm2onnx does not build yet", 11),
                        ("unsupported layer 'convolution2dLayer': a MATLAB layer lstm2onnx does not build yet", 12),
                        ("unsupported layer 'sequenceUnfoldingLayer': a MATLAB layer lstm2onnx does not build yet", 15),
                        ("connectLayers fold/miniBatchSize -> unfold/miniBatchSize makes a layer graph with branches", 23)]


def test_cli_builds_real_world_scripts_with_data_and_set(tmp_path, capsys):
    rng = np.random.default_rng(11)
    out = tmp_path / "rul.onnx"
    data = turbofan(tmp_path, rng)
    assert main(["build", str(SCRIPTS / "turbofan_rul.m"), "-o", str(out), "--data", str(data[0]), "--verbose"]) == 0
    listing = capsys.readouterr().out
    assert "evaluated numFeatures = size(XTrain{1},1)" in listing
    assert "evaluated sequenceLengths = cellfun(@(X) size(X,2), XTrain)" in listing  # the sort order YTrain{1} comes from
    assert "skipped   net = trainNetwork(XTrain,YTrain,layers,options)" in listing and out.exists()
    out = tmp_path / "cfg.onnx"
    data = config_data(tmp_path, rng)
    assert main(["build", str(SCRIPTS / "struct_config.m"), "-o", str(out), "--data", str(data[0]),
                 "--set", "cfg.numHiddenUnits=96", "--set", "cfg.dropout=0.1"]) == 0
    err = capsys.readouterr().err
    assert "note: --set cfg.numHiddenUnits replaces the script's assignment at line 4" in err and out.exists()
    out = tmp_path / "gru.onnx"
    assert main(["build", str(SCRIPTS / "switch_model_type.m"), "-o", str(out), "--set", "modelType=GRU", "--verbose"]) == 0
    listing = capsys.readouterr().out  # the shell took the quotes of modelType="GRU": a bare word is text
    assert "'layers' is a 4-layer array:" in listing and "GRU with 64 hidden units" in listing and out.exists()
    out = tmp_path / "load.onnx"
    data = load_table(tmp_path, rng)
    assert main(["build", str(SCRIPTS / "readtable_sliding_window.m"), "-o", str(out), "--data", str(data[0])]) == 0
    assert "note: T comes from the --data file (readtable(...) at line 8 is not run)" in capsys.readouterr().err
    assert out.exists()
    out = tmp_path / "fn.onnx"
    assert main(["build", str(SCRIPTS / "buildLstmClassifier.m"), "-o", str(out), "--set", "numFeatures=12",
                 "--set", "numClasses=9", "--set", "bidirectional=true"]) == 0
    assert out.exists()
