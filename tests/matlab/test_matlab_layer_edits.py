"""MATLAB scripts that change a layer array after building it, pass it inline, or train a dlnetwork in a loop, and
the one report of every problem in the array and the loop that builds it (issue 9's outside-in audit)."""

from __future__ import annotations

import pathlib

import numpy as np
import pytest
import scipy.io

from lstm2onnx import (
    bilstmLayer,
    classificationLayer,
    dropoutLayer,
    fullyConnectedLayer,
    lstmLayer,
    regressionLayer,
    sequenceInputLayer,
    softmaxLayer,
)
from lstm2onnx.matlab import MatlabError, from_matlab, read_script


def specs(layers):
    return [(type(layer).__name__, layer.Name, getattr(layer, "NumHiddenUnits", getattr(layer, "OutputSize", None)))
            for layer in layers]


# -- every problem at once -----------------------------------------------------------------------------------------


def test_every_unresolved_name_in_the_array_is_reported_at_once():
    text = "layers = [sequenceInputLayer(numFeatures)\n    lstmLayer(undefinedHidden)\n    myAttentionLayer(32)\n" \
           "    fullyConnectedLayer(numClasses)];\n"
    with pytest.raises(MatlabError) as info:
        from_matlab(text)
    error = info.value
    assert str(error).startswith("4 problems stop the build:")
    assert [p[1:] for p in error.problems] == [(1, 30), (2, 15), (3, 5), (4, 25)]
    for name in ("numFeatures", "undefinedHidden", "numClasses"):
        assert f"undefined variable {name!r}" in str(error) and f"--set {name}=<value>" in str(error)
    assert str(error).endswith("the layer array needs numClasses, numFeatures, undefinedHidden: give them directly with "
                               "--set numClasses=<value> --set numFeatures=<value> --set undefinedHidden=<value>")
    assert "unsupported layer 'myAttentionLayer'" in str(error)
    assert "\n          lstmLayer(undefinedHidden)\n" + " " * 20 + "^" in str(error)


def test_a_user_layer_appended_in_a_loop_is_reported_and_the_hint_names_the_loop_bound():
    text = """layers = sequenceInputLayer(numFeatures);
for i = 1:numLayers
    layers = [layers; myResidualLSTM(64,i)];
end
layers = [layers; fullyConnectedLayer(numClasses)];
"""
    with pytest.raises(MatlabError) as info:
        from_matlab(text)
    message = str(info.value)
    assert message.startswith("4 problems stop the build:")
    assert [p[1:] for p in info.value.problems] == [(1, 29), (2, 11), (3, 23), (5, 39)]
    assert "unsupported layer 'myResidualLSTM': not a built-in MATLAB layer lstm2onnx knows nor a function of this file" \
        in message
    assert "--set i=" not in message
    assert message.endswith("the layer array needs numFeatures, numLayers, numClasses: give them directly with "
                            "--set numFeatures=<value> --set numLayers=<value> --set numClasses=<value>")


def test_a_loop_variable_is_never_suggested_even_when_its_bound_is_computed_from_a_failed_value():
    text = """sizes = hiddenSizesFromData;
layers = sequenceInputLayer(3);
for k = 1:numel(sizes)
    layers(end+1) = lstmLayer(sizes(k));
end
"""
    with pytest.raises(MatlabError) as info:
        from_matlab(text)
    assert "--set k=" not in str(info.value) and "--set sizes=<value>" in str(info.value)


def test_the_user_layers_in_index_assignments_are_reported():
    with pytest.raises(MatlabError, match="unsupported layer 'myGate': not a built-in"):
        from_matlab("layers = [sequenceInputLayer(3) lstmLayer(4)];\nlayers(end+1) = myGate(4);\n")


def test_an_unknown_function_outside_a_layer_array_is_not_called_a_layer():
    with pytest.raises(MatlabError) as info:
        from_matlab("h = myHelper(3);\nlayers = [sequenceInputLayer(3) lstmLayer(h)];\n")
    assert "unsupported layer" not in str(info.value) and "needs h, which comes from myHelper(...)" in str(info.value)


# -- a dlnetwork in a custom training loop ---------------------------------------------------------------------------


def test_network_field_assignments_in_a_training_loop_keep_the_network():
    text = """numFeatures = 12; numClasses = 9;
layers = [sequenceInputLayer(numFeatures, MinLength=1)
    lstmLayer(128, OutputMode="last")
    fullyConnectedLayer(numClasses)
    softmaxLayer];
net = dlnetwork(layers);
for epoch = 1:30
    [loss,gradients,state] = dlfeval(@modelLoss,net,X,T);
    net.State = state;
    net.Learnables = dlupdate(@(w,g) w - 0.01*g, net.Learnables, gradients);
    [net,avgG,avgSqG] = adamupdate(net,gradients,[],[],epoch);
end
"""
    result = read_script(text)
    assert result.variable == "net"
    assert [type(layer).__name__ for layer in result.layers] == ["SequenceInputLayer", "LSTMLayer", "FullyConnectedLayer",
                                                                 "SoftmaxLayer"]
    assert result.layers[1].NumHiddenUnits == 128 and result.layers[2].OutputSize == 9


def test_a_single_layer_variable_still_takes_property_assignments():
    layers = from_matlab("l = lstmLayer(10);\nl.Name = 'enc';\nlayers = [sequenceInputLayer(2); l];\n")
    assert layers[1].Name == "enc"


# -- layer property assignment ---------------------------------------------------------------------------------------


def test_writable_layer_properties_are_set(tmp_path):
    rng = np.random.default_rng(0)
    cells = np.empty((6, 1), dtype=object)
    for k in range(6):
        cells[k, 0] = rng.standard_normal((4, 5 + k))
    path = tmp_path / "d.mat"
    scipy.io.savemat(path, {"XTrain": cells, "YTrain": np.array(["a", "b", "c", "a", "b", "c"], dtype=object).reshape(-1, 1)})
    text = """load d.mat
numFeatures = size(XTrain{1},1);
layers = [sequenceInputLayer(numFeatures)
    lstmLayer(20, 'OutputMode', 'last')
    fullyConnectedLayer(3)
    softmaxLayer
    classificationLayer];
layers(1).Normalization = 'zscore';
layers(1).Mean = mean([XTrain{:}],2);
layers(1).StandardDeviation = std([XTrain{:}],0,2);
layers(2).Name = 'lstm_main';
layers(2).InputWeights = ones(80, 4);
layers(3).WeightLearnRateFactor = 0;
layers(end).Classes = categories(categorical(YTrain));
"""
    layers = from_matlab(text, data=[path])
    steps = np.hstack([cells[k, 0] for k in range(6)])
    assert layers[0].Normalization == "zscore"
    np.testing.assert_allclose(layers[0].Mean.reshape(-1), steps.mean(axis=1), rtol=1e-6)
    np.testing.assert_allclose(layers[0].StandardDeviation.reshape(-1), steps.std(axis=1, ddof=1), rtol=1e-6)
    assert layers[1].Name == "lstm_main" and layers[1].InputWeights.shape == (80, 4)
    assert layers[2].WeightLearnRateFactor == 0
    assert tuple(layers[4].Classes) == ("a", "b", "c")


@pytest.mark.parametrize("assignment,message", [
    ("layers(2).OutputMode = 'last';", r"OutputMode is read-only in MATLAB \(set it when creating the layer"),
    ("layers(2).NumHiddenUnits = 8;", "NumHiddenUnits is read-only in MATLAB"),
    ("layers(1).InputSize = 4;", "InputSize is read-only in MATLAB"),
    ("layers(2).Colour = 4;", "lstmLayer has no property 'Colour'"),
    ("layers(3).WeightLearnRateFactor = 'fast';", "WeightLearnRateFactor"),
    ("layers(1:2).Name = 'x';", "a nested assignment needs one element"),
    ("two = layers(1:2); two.Name = 'x'; layers = two;", "setting 'Name' needs one layer, got 2"),
])
def test_read_only_unknown_and_invalid_properties_are_refused(assignment, message):
    text = f"layers = [sequenceInputLayer(3) lstmLayer(5) fullyConnectedLayer(2)];\n{assignment}\n"
    with pytest.raises(MatlabError, match=message) as info:
        from_matlab(text)
    assert info.value.line == 2


# -- a layer array written inside the training call -------------------------------------------------------------------


def test_an_inline_layer_array_passed_to_trainNetwork_is_built():
    text = ("net = trainNetwork(XTrain, YTrain, [sequenceInputLayer(12) lstmLayer(50,'OutputMode','last') "
            "fullyConnectedLayer(5) softmaxLayer classificationLayer], trainingOptions('adam'));\n")
    result = read_script(text)
    assert result.variable == "trainNetwork_layers"
    assert specs(result.layers) == specs([sequenceInputLayer(12), lstmLayer(50, OutputMode="last"), fullyConnectedLayer(5),
                                          softmaxLayer(), classificationLayer()])
    assert any("written inside the trainNetwork call" in note for note in result.notes)


def test_a_local_function_call_as_the_layers_argument_is_built_and_trainnet_too(tmp_path):
    rng = np.random.default_rng(1)
    cells = np.empty((4, 1), dtype=object)
    for k in range(4):
        cells[k, 0] = rng.standard_normal((7, 10))
    path = tmp_path / "train.mat"
    scipy.io.savemat(path, {"X": cells, "Y": np.array(["u", "v", "w", "u"], dtype=object).reshape(-1, 1)})
    text = """load train.mat
K = numel(categories(categorical(Y)));
opts = trainingOptions("adam", MaxEpochs=5);
net = trainNetwork(X, categorical(Y), build_layers(size(X{1},1), K), opts);
net2 = trainnet(X, Y, [sequenceInputLayer(size(X{1},1)) lstmLayer(9,OutputMode="last") fullyConnectedLayer(K) softmaxLayer], ...
    "crossentropy", opts);

function layers = build_layers(C, K)
layers = [sequenceInputLayer(C)
    bilstmLayer(20, OutputMode="last")
    fullyConnectedLayer(K)
    softmaxLayer
    classificationLayer];
end
"""
    built = from_matlab(text, data=[path], variable="trainNetwork_layers")
    assert specs(built) == specs([sequenceInputLayer(7), bilstmLayer(20, OutputMode="last"), fullyConnectedLayer(3),
                                  softmaxLayer(), classificationLayer()])
    last = read_script(text, data=[path])
    assert last.variable == "trainnet_layers"
    assert specs(last.layers) == specs([sequenceInputLayer(7), lstmLayer(9, OutputMode="last"), fullyConnectedLayer(3),
                                        softmaxLayer()])


def test_a_function_that_returns_nothing_builds_the_array_it_trains(tmp_path):
    text = """function train_model()
% loads data, trains and saves: no outputs
load vowels.mat XTrain YTrain
YTrain = categorical(YTrain);
net = trainNetwork(XTrain, YTrain, build_layers(size(XTrain{1},1), numel(categories(YTrain))), ...
    trainingOptions('adam'));
save('model.mat','net');
end

function layers = build_layers(nIn, nOut)
layers = [sequenceInputLayer(nIn)
    lstmLayer(64,'OutputMode','last')
    fullyConnectedLayer(nOut)
    softmaxLayer
    classificationLayer];
end
"""
    path = tmp_path / "vowels.mat"
    cells = np.empty((3, 1), dtype=object)
    cells[0, 0], cells[1, 0], cells[2, 0] = np.ones((12, 4)), np.ones((12, 6)), np.ones((12, 5))
    scipy.io.savemat(path, {"XTrain": cells, "YTrain": np.array([["a"], ["b"], ["a"]], dtype=object)})
    result = read_script(text, data=[path])
    assert result.variable == "trainNetwork_layers"
    assert specs(result.layers) == specs([sequenceInputLayer(12), lstmLayer(64, OutputMode="last"), fullyConnectedLayer(2),
                                          softmaxLayer(), classificationLayer()])
    assert ("function train_model returns nothing: building 'trainNetwork_layers', the last layer array it assigns "
            "(choose another with --variable NAME)") in result.notes
    assert not any("written inside" in note for note in result.notes)
    with pytest.raises(MatlabError, match="function f returns nothing; its first output should be the layer array"):
        read_script("function f()\ndisp(1);\nend\n")


def test_a_layers_variable_passed_to_trainNetwork_is_not_renamed():
    result = read_script("layers = [sequenceInputLayer(3) lstmLayer(4)];\nnet = trainNetwork(X, Y, layers, opts);\n")
    assert result.variable == "layers"
    wrapped = read_script("layers = [sequenceInputLayer(3) lstmLayer(4)];\nnet = trainNetwork(X, Y, layerGraph(layers), opts);\n")
    assert wrapped.variable == "layers" and not wrapped.notes


# -- graph edits ---------------------------------------------------------------------------------------------------------


def test_removeLayers_of_chain_ends_then_addLayers_and_connectLayers():
    text = """layers = [sequenceInputLayer(3); lstmLayer(5); fullyConnectedLayer(1); regressionLayer];
lgraph = layerGraph(layers);
lgraph = removeLayers(lgraph, 'regressionoutput');
lgraph = addLayers(lgraph, regressionLayer('Name', 'rout'));
lgraph = connectLayers(lgraph, 'fc', 'rout');
"""
    layers = from_matlab(text)
    assert [layer.Name for layer in layers] == ["sequenceinput", "lstm", "fc", "rout"]
    assert isinstance(layers[3], type(regressionLayer()))
    net = from_matlab("layers = [sequenceInputLayer(3) lstmLayer(5) fullyConnectedLayer(2) softmaxLayer "
                      "classificationLayer('Name','cls')];\nnet = dlnetwork(removeLayers(layerGraph(layers), 'cls'));\n")
    assert [layer.Name for layer in net] == ["sequenceinput", "lstm", "fc", "softmax"]


def test_removeLayers_in_the_middle_leaves_two_pieces_until_connected():
    text = """layers = [sequenceInputLayer(3) lstmLayer(5,'Name','a') lstmLayer(6,'Name','b') fullyConnectedLayer(2)];
lgraph = removeLayers(layerGraph(layers), {'b'});
"""
    with pytest.raises(MatlabError, match=r"2 chains not connected \('sequenceinput' -> 'a'; 'fc'\): connect them"):
        from_matlab(text)
    joined = from_matlab(text + "lgraph = connectLayers(lgraph, 'a', 'fc');\n")
    assert [layer.Name for layer in joined] == ["sequenceinput", "a", "fc"]
    with pytest.raises(MatlabError, match="removeLayers: the layer graph has no layer named 'zz'"):
        from_matlab(text.replace("{'b'}", "'zz'"))


def test_replaceLayer_puts_the_new_layers_in_the_same_place():
    text = """layers = [sequenceInputLayer(12) lstmLayer(100, 'Name', 'lstm1') fullyConnectedLayer(9) softmaxLayer];
lgraph = layerGraph(layers);
lgraph = replaceLayer(lgraph, 'lstm1', [bilstmLayer(80, 'OutputMode', 'sequence', 'Name', 'lstm1') lstmLayer(8, 'Name', 'x')]);
"""
    layers = from_matlab(text)
    assert [(type(layer).__name__, layer.Name) for layer in layers] == [
        ("SequenceInputLayer", "sequenceinput"), ("BiLSTMLayer", "lstm1"), ("LSTMLayer", "x"),
        ("FullyConnectedLayer", "fc"), ("SoftmaxLayer", "softmax")]
    with pytest.raises(MatlabError, match="ReconnectBy is 'name' or 'order'"):
        from_matlab(text.replace("'Name', 'x')]", "'Name', 'x')], 'ReconnectBy', 'guess'"))


# -- inputParser -----------------------------------------------------------------------------------------------------------

MAKE_MODEL = """function layers = makeModel(numFeatures, varargin)
p = inputParser;
p.FunctionName = 'makeModel';
addRequired(p, 'numFeatures', @isnumeric);
addOptional(p, 'numClasses', 5);
addParameter(p, 'HiddenUnits', 100, @(x) x > 0);
p.addParameter('Mode', "last");
parse(p, numFeatures, varargin{:});
r = p.Results;
layers = [sequenceInputLayer(r.numFeatures)
    lstmLayer(r.HiddenUnits, OutputMode=r.Mode)
    fullyConnectedLayer(p.Results.numClasses)];
end
"""


def test_a_function_file_with_an_inputParser_takes_the_defaults_and_set_by_input_name():
    defaults = read_script(MAKE_MODEL, {"numFeatures": 7})
    assert specs(defaults.layers) == specs([sequenceInputLayer(7), lstmLayer(100, OutputMode="last"), fullyConnectedLayer(5)])
    given = read_script(MAKE_MODEL, {"numFeatures": 7, "HiddenUnits": 33, "numClasses": 2, "Mode": "sequence"})
    assert specs(given.layers) == specs([sequenceInputLayer(7), lstmLayer(33), fullyConnectedLayer(2)])
    assert given.layers[1].OutputMode == "sequence"
    assert "--set HiddenUnits is the value of the inputParser input 'HiddenUnits' (parse at line 8)" in given.notes
    with pytest.raises(MatlabError, match="needs numFeatures, an input of makeModel that is not given"):
        read_script(MAKE_MODEL)


def test_a_local_function_parses_the_name_value_inputs_of_its_call():
    text = """layers = makeNet(12, 3, 'hidden', 32, 'Extra', 1);
function layers = makeNet(c, varargin)
p = inputParser;
p.KeepUnmatched = true;
addOptional(p, 'k', 9);
addParameter(p, 'HiddenUnits', 100);
parse(p, varargin{:});
layers = [sequenceInputLayer(c); bilstmLayer(p.Results.HiddenUnits); fullyConnectedLayer(p.Results.k)];
if ~isempty(p.UsingDefaults), layers = []; end
end
"""
    assert specs(from_matlab(text)) == specs([sequenceInputLayer(12), bilstmLayer(32), fullyConnectedLayer(3)])
    with pytest.raises(MatlabError, match=r"inputParser: 'Extra' is not a parameter \(parameters: HiddenUnits\)"):
        from_matlab(text.replace("p.KeepUnmatched = true;", ""))
    with pytest.raises(MatlabError, match="the optional input 'k' needs a default value"):
        from_matlab(text.replace("addOptional(p, 'k', 9)", "addOptional(p, 'k')"))
    with pytest.raises(MatlabError, match=r"p.Results is read before parse"):
        from_matlab(text.replace("parse(p, varargin{:});", ""))


# -- data files ------------------------------------------------------------------------------------------------------------


def test_a_load_of_another_name_says_which_data_file_the_variables_came_from(tmp_path):
    path = tmp_path / "vowels.mat"
    cells = np.empty((2, 1), dtype=object)
    cells[0, 0], cells[1, 0] = np.ones((12, 4)), np.ones((12, 6))
    scipy.io.savemat(path, {"XTrain": cells})
    text = "load HumanActivityTrain\nlayers = [sequenceInputLayer(size(XTrain{1},1)) lstmLayer(4)];\n"
    result = read_script(text, data=[path])
    assert result.layers[0].InputSize == 12
    assert ("load HumanActivityTrain (line 1) binds XTrain from the --data file vowels.mat: no --data file is named "
            "HumanActivityTrain") in result.notes
    same = tmp_path / "HumanActivityTrain.mat"
    scipy.io.savemat(same, {"XTrain": cells})
    assert not any("binds" in note for note in read_script(text, data=[same]).notes)


def test_num2cell_of_a_permuted_3d_array_gives_the_sequences(tmp_path):
    path = tmp_path / "feat.npz"
    np.savez(path, X=np.random.default_rng(2).standard_normal((20, 10, 16)), y=np.arange(20) % 3)
    text = """load feat.npz
XTrain = squeeze(num2cell(permute(X, [3 2 1]), [1 2]));
layers = [sequenceInputLayer(size(XTrain{1}, 1)) lstmLayer(4, 'OutputMode', 'last') fullyConnectedLayer(numel(XTrain))];
"""
    layers = from_matlab(text, data=[path])
    assert layers[0].InputSize == 16 and layers[2].OutputSize == 20


def test_indexing1dLayer_and_lstmProjectedLayer_build_from_a_script():
    from lstm2onnx.matlab.evaluator import MATLAB_LAYERS

    layers = from_matlab("""layers = [sequenceInputLayer(12)
    lstmProjectedLayer(64, 8, 6, OutputMode="sequence")
    indexing1dLayer("last")
    fullyConnectedLayer(3)
    softmaxLayer];""")
    assert [type(layer).__name__ for layer in layers] == ["SequenceInputLayer", "LSTMProjectedLayer", "Indexing1DLayer",
                                                          "FullyConnectedLayer", "SoftmaxLayer"]
    assert "indexing1dLayer" not in MATLAB_LAYERS


def test_a_value_the_array_reads_directly_is_suggested_as_itself(tmp_path):
    path = tmp_path / "vowels73.mat"
    cells = np.empty((2, 1), dtype=object)
    cells[0, 0], cells[1, 0] = np.ones((12, 4)), np.ones((12, 6))
    scipy.io.savemat(path, {"XTrain": cells})
    text = """load('vowels73.mat')
inputSize = size(XTrain{1}, 1);
layers = [sequenceInputLayer(inputSize)
    lstmLayer(numHidden, "OutputMode", "last")
    fullyConnectedLayer(numClasses)];
"""
    with pytest.raises(MatlabError) as info:
        from_matlab(text, data=[path])
    message = str(info.value)
    assert "needs numHidden, which comes from data" in message and "or --set numHidden=<value>\n" in message
    assert message.endswith("the layer array needs numClasses, numHidden: give them directly with "
                            "--set numClasses=<value> --set numHidden=<value>")


# -- real-world-style scripts ------------------------------------------------------------------------------------------------

SCRIPTS = pathlib.Path(__file__).parent / "scripts"


def activity_data(path, rng, channels=3, count=8):
    cells = np.empty((count, 1), dtype=object)
    for k in range(count):
        cells[k, 0] = rng.standard_normal((channels, 30 + 3 * k))
    labels = np.array([["Walking"], ["Sitting"], ["Standing"], ["Walking"]] * (count // 4), dtype=object)
    scipy.io.savemat(path, {"XTrain": cells, "YTrain": labels})
    return cells


def test_custom_loop_with_state_updates_and_property_assignments(tmp_path):
    path = tmp_path / "HumanActivityTrain.mat"
    cells = activity_data(path, np.random.default_rng(3))
    result = read_script((SCRIPTS / "custom_loop_state_update.m").read_text(), data=[path])
    assert result.variable == "net"
    steps = np.hstack([cells[k, 0] for k in range(cells.shape[0])])
    first, lstm, fc = result.layers[0], result.layers[1], result.layers[3]
    np.testing.assert_allclose(first.Mean.reshape(-1), steps.mean(axis=1), rtol=1e-6)
    np.testing.assert_allclose(first.StandardDeviation.reshape(-1), steps.std(axis=1, ddof=1), rtol=1e-6)
    assert lstm.Name == "lstm_activity" and lstm.NumHiddenUnits == 200
    assert fc.OutputSize == 3 and fc.WeightLearnRateFactor == 0
    assert len(result.layers) == 5


def test_a_training_function_with_an_inputParser_and_an_inline_array(tmp_path):
    path = tmp_path / "activity.mat"
    activity_data(path, np.random.default_rng(4), channels=6)
    text = (SCRIPTS / "trainLstm_inputParser.m").read_text()
    default = read_script(text, data=[path])
    assert default.variable == "trainNetwork_layers"
    assert specs(default.layers) == specs([sequenceInputLayer(6, Name="in"), lstmLayer(100, OutputMode="last", Name="rnn"),
                                           dropoutLayer(0.2, Name="drop"), fullyConnectedLayer(3, Name="fc"),
                                           softmaxLayer(Name="sm"), classificationLayer(Name="out")])
    given = read_script(text, {"HiddenUnits": 16, "Bidirectional": True, "Dropout": 0.5}, data=[path])
    assert isinstance(given.layers[1], type(bilstmLayer(4))) and given.layers[1].NumHiddenUnits == 16
    assert given.layers[2].Probability == 0.5
    assert "--set Bidirectional is the value of the inputParser input 'Bidirectional' (parse at line 12)" in given.notes
