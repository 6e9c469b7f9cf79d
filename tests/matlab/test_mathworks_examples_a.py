"""MathWorks documentation examples as people copy them into scripts (tests/matlab/scripts/*.m, each naming the
example and release it follows), compiled with the data they load, made here: the exact layers built, that the
plotting, training, prediction and forecasting around the array is skipped, and for some the ONNX model's numbers
against the float64 reference (max abs error <= 1e-5, onnxruntime float32).

The cases of tests/matlab/test_real_world_scripts.py, in the same form; these follow the other releases of the
same examples (trainnet where those use trainNetwork and the reverse, another data set).
"""

from __future__ import annotations

import re

import numpy as np
import pytest
import scipy.io
from conftest import assert_matches_reference, random_batch, run
from test_real_world_scripts import (
    CLASSIFIER_HEAD,
    SCRIPTS,
    Case,
    case_id,
    cell,
    labels,
    sequences,
    waveform_channels_first,
    waveform_frequencies,
)

from lstm2onnx import build, initialize, reference
from lstm2onnx.layers import (
    convolution1dLayer,
    fullyConnectedLayer,
    globalAveragePooling1dLayer,
    layerNormalizationLayer,
    lstmLayer,
    regressionLayer,
    reluLayer,
    sequenceInputLayer,
    softmaxLayer,
    wordEmbeddingLayer,
)
from lstm2onnx.matlab import MatlabError, read_script

ACTIVITIES = ["Dancing", "Running", "Sitting", "Standing", "Walking"]
FACTORY_CLASSES = ["Electronic Failure", "Leak", "Mechanical Failure", "Software Failure"]

# -- data files, as the scripts load them ----------------------------------------------------------------------------


def human_activity_targets(tmp_path, rng):
    """HumanActivityTrain.mat as the R2024 example has it: XTrain and the per-time-step labels TTrain"""
    x = sequences(rng, 6, 3, 50, 80)
    t = cell([cell([ACTIVITIES[(k // 10) % 5] for k in range(s.shape[1])], (1, s.shape[1])) for s in x.reshape(-1)])
    path = tmp_path / "HumanActivityTrain.mat"
    scipy.io.savemat(path, {"XTrain": x, "TTrain": t})
    return [path]


def vowels_train_and_test(tmp_path, rng):
    """what japaneseVowelsTrainData and japaneseVowelsTestData return, saved in one file"""
    speakers = [str(k) for k in range(1, 10)]
    path = tmp_path / "vowels.mat"
    scipy.io.savemat(path, {"XTrain": sequences(rng, 27, 12), "TTrain": labels(27, speakers),
                            "XValidation": sequences(rng, 18, 12), "TValidation": labels(18, speakers)})
    return [path]


def factory_word_count(tmp_path, rng):
    """what a MATLAB session can save for the script: enc.NumWords as numWords, and the training labels"""
    path = tmp_path / "reports.npz"
    np.savez(path, numWords=np.array(417.0), TTrain=np.array(FACTORY_CLASSES * 5))
    return [path]


def no_data(tmp_path, rng):
    return []


# -- the cases --------------------------------------------------------------------------------------------------------

FACTORY_LAYERS = [sequenceInputLayer(1), wordEmbeddingLayer(50, 417), lstmLayer(80, OutputMode="last"),
                  fullyConnectedLayer(4), softmaxLayer()]

CASES = [
    Case("human_activity_seq2seq_trainnet.m", human_activity_targets,
         [sequenceInputLayer(3), lstmLayer(200), fullyConnectedLayer(5), softmaxLayer()], numeric=True),
    Case("waveform_forecast_closed_loop.m", waveform_channels_first,
         [sequenceInputLayer(3), lstmLayer(128), fullyConnectedLayer(3), regressionLayer()], numeric=True),
    Case("japanese_vowels_conv1d.m", vowels_train_and_test,
         [sequenceInputLayer(12), convolution1dLayer(3, 32, Padding="causal"), reluLayer(), layerNormalizationLayer(),
          convolution1dLayer(3, 64, Padding="causal"), reluLayer(), layerNormalizationLayer(),
          globalAveragePooling1dLayer(), fullyConnectedLayer(9)] + CLASSIFIER_HEAD, numeric=True,
         notes=("XTrain comes from the --data file ([XTrain,TTrain] = japaneseVowelsTrainData at line 4 is not evaluated",)),
    Case("factory_reports_trainnet.m", no_data, FACTORY_LAYERS, set={"numWords": 417, "numClasses": 4},
         notes=("--set numWords replaces the script's assignment at line 54",)),
    Case("factory_reports_trainnet.m", factory_word_count, FACTORY_LAYERS,  # enc.NumWords saved from MATLAB
         notes=("numWords comes from the --data file (numWords = enc.NumWords at line 54 is not evaluated: it needs enc)",
                "TTrain comes from the --data file (TTrain = dataTrain.Category at line 23 is not evaluated")),
    Case("waveform_seq2one_trainnet.m", waveform_frequencies,  # the statistics are trainnet's, made when it trains
         [sequenceInputLayer(3, Normalization="zscore"), lstmLayer(100, OutputMode="last"), fullyConnectedLayer(1)]),
]


@pytest.fixture(params=CASES, ids=[case_id(c) for c in CASES])
def built(request, tmp_path):
    case: Case = request.param
    paths = case.data(tmp_path, np.random.default_rng(11))
    return case, read_script((SCRIPTS / case.script).read_text(), workspace=case.set, data=paths)


def test_the_example_builds_the_layers_it_names(built):
    case, result = built
    assert list(result.layers) == case.expected
    for note in case.notes:
        assert any(note in n for n in result.notes), (note, result.notes)
    listing = result.statements
    trained = [what for _, text, what in listing if re.match(r"(\w+) = (trainNetwork|trainnet)\(", text)]
    assert trained == ["skipped"]
    after = [what for _, text, what in listing if re.search(r"predictAndUpdateState|minibatchpredict|classify\(|"
                                                             r"predict\(|scores2label", text)]
    assert after and set(after) == {"skipped"}, "the evaluation after training is not run"


NUMERIC = [c for c in CASES if c.numeric]


@pytest.mark.parametrize("case", NUMERIC, ids=[case_id(c) for c in NUMERIC])
def test_the_built_network_matches_the_reference(case, tmp_path):
    paths = case.data(tmp_path, np.random.default_rng(11))
    layers = read_script((SCRIPTS / case.script).read_text(), workspace=case.set, data=paths).layers
    net = initialize(layers, seed=5)
    batch = random_batch(np.random.default_rng(6), 3, 12, layers[0].InputSize, ragged=True)
    (out,) = run(build(net, ragged=True), {"sequences": batch.padded, "sequence_lengths": batch.lengths}).values()
    assert_matches_reference(out, reference.predict(net, batch.sequences), batch.lengths)


def test_the_word_count_only_wordencoding_knows_is_asked_for_by_name():
    """wordEncoding counts the words MATLAB's tokenizer finds in the CSV file lstm2onnx does not read: the error
    names the call and both ways out (the value itself, or a --data file holding it)."""
    with pytest.raises(MatlabError) as info:
        read_script((SCRIPTS / "factory_reports_trainnet.m").read_text())
    message = str(info.value)
    assert [line for _, line, _ in info.value.problems] == [9, 54]  # data.Category = categorical(data.Category): once
    assert ("numWords = enc.NumWords (line 54) needs enc, which comes from wordEncoding(...) (line 35), which lstm2onnx "
            "does not evaluate (not a MATLAB function it knows, nor a local function of the file): pass --data FILE "
            "holding enc, or --set numWords=<value>") in message
    assert message.endswith("the layer array needs numClasses, numWords: give them directly with --set "
                            "numClasses=<value> --set numWords=<value>")
