"""MATLAB layer-array code: a corpus of valid and invalid snippets, the seed page's examples, round trips, fuzzing.

Numerical tolerance: max abs error <= 1e-5 against the float64 reference.
"""

from __future__ import annotations

import re
import time

import numpy as np
import pytest
from conftest import assert_matches_reference, random_batch, run
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from lstm2onnx import (
    bilstmLayer,
    build,
    classificationLayer,
    dropoutLayer,
    fullyConnectedLayer,
    initialize,
    lstmLayer,
    reference,
    regressionLayer,
    sequenceInputLayer,
    softmaxLayer,
)
from lstm2onnx.examples import EXAMPLES
from lstm2onnx.matlab import MatlabError, from_matlab
from lstm2onnx.matlab.writer import to_matlab

# The seed page's examples, as MATLAB text (the variable names and line breaks of the page).
SEED_TEXT = {
    "sequence_to_label": """
inputSize = 12;
numHiddenUnits = 100;
numClasses = 9;
layers = [ ...
    sequenceInputLayer(inputSize)
    lstmLayer(numHiddenUnits,'OutputMode','last')
    fullyConnectedLayer(numClasses)
    softmaxLayer
    classificationLayer]
""",
    "sequence_to_sequence_classification": """
numFeatures = 12; numHiddenUnits = 100; numClasses = 9;
layers = [ ...
    sequenceInputLayer(numFeatures)
    lstmLayer(numHiddenUnits,'OutputMode','sequence')
    fullyConnectedLayer(numClasses)
    softmaxLayer
    classificationLayer];
""",
    "sequence_to_one_regression": """
numFeatures = 12;
numHiddenUnits = 125;
numResponses = 1;
layers = [ ...
    sequenceInputLayer(numFeatures)
    lstmLayer(numHiddenUnits,'OutputMode','last')
    fullyConnectedLayer(numResponses)
    regressionLayer];
""",
    "sequence_to_sequence_regression": """
numFeatures = 12;
numHiddenUnits = 125;
numResponses = 1;
layers = [ ...
    sequenceInputLayer(numFeatures)
    lstmLayer(numHiddenUnits,'OutputMode','sequence')
    fullyConnectedLayer(numResponses)
    regressionLayer];
""",
    "stacked_sequence_to_label": """
numFeatures = 12;
numHiddenUnits1 = 125;
numHiddenUnits2 = 100;
numClasses = 9;
layers = [ ...
    sequenceInputLayer(numFeatures)
    lstmLayer(numHiddenUnits1,'OutputMode','sequence')
    lstmLayer(numHiddenUnits2,'OutputMode','last')
    fullyConnectedLayer(numClasses)
    softmaxLayer
    classificationLayer];
""",
    "stacked_sequence_to_sequence": """
numFeatures = 12;
numHiddenUnits1 = 125;
numHiddenUnits2 = 100;
numClasses = 9;
layers = [ ...
    sequenceInputLayer(numFeatures)
    lstmLayer(numHiddenUnits1,'OutputMode','sequence')
    lstmLayer(numHiddenUnits2,'OutputMode','sequence')
    fullyConnectedLayer(numClasses)
    softmaxLayer
    classificationLayer];
""",
}


@pytest.mark.parametrize("name", list(SEED_TEXT))
def test_seed_examples_as_matlab_text_build_and_match_the_reference(name):
    layers = from_matlab(SEED_TEXT[name])
    assert list(layers) == list(EXAMPLES[name]())
    net = initialize(layers, seed=0)
    batch = random_batch(np.random.default_rng(1), 5, 9, 12, ragged=True)
    (out,) = run(build(net, ragged=True), {"sequences": batch.padded, "sequence_lengths": batch.lengths}).values()
    assert_matches_reference(out, reference.predict(net, batch.sequences))


def test_issue_example():
    text = """
numFeatures = 12;
numHiddenUnits = 125;   % hidden size
layers = [ ...
    sequenceInputLayer(numFeatures, "Name", "in")
    lstmLayer(numHiddenUnits, 'OutputMode', 'sequence', GateActivationFunction="hard-sigmoid")
    dropoutLayer(0.2)
    lstmLayer(numHiddenUnits/5, OutputMode="last")
    fullyConnectedLayer(9)
    softmaxLayer
    classificationLayer];
"""
    assert list(from_matlab(text)) == [
        sequenceInputLayer(12, Name="in"), lstmLayer(125, OutputMode="sequence", GateActivationFunction="hard-sigmoid"),
        dropoutLayer(0.2), lstmLayer(25, OutputMode="last"), fullyConnectedLayer(9), softmaxLayer(), classificationLayer()]


# (MATLAB text, the layers it must give)
VALID = [
    ("layers = [sequenceInputLayer(3) lstmLayer(4)];", [sequenceInputLayer(3), lstmLayer(4)]),
    ("layers = [sequenceInputLayer(3), lstmLayer(4)];", [sequenceInputLayer(3), lstmLayer(4)]),
    ("layers = [sequenceInputLayer(3); lstmLayer(4)];", [sequenceInputLayer(3), lstmLayer(4)]),
    ("layers = [sequenceInputLayer(3)\nlstmLayer(4)]", [sequenceInputLayer(3), lstmLayer(4)]),
    ("layers = [sequenceInputLayer(3) ...\n   lstmLayer(4)];", [sequenceInputLayer(3), lstmLayer(4)]),
    ("% comment line\nlayers = [sequenceInputLayer(3)]; % trailing", [sequenceInputLayer(3)]),
    ("%{\nanything lstmLayer( at all\n%}\nlayers = [sequenceInputLayer(3)];", [sequenceInputLayer(3)]),
    ("layers = [sequenceInputLayer(3, 'Name', 'x')];", [sequenceInputLayer(3, Name="x")]),
    ('layers = [sequenceInputLayer(3, "Name", "x")];', [sequenceInputLayer(3, Name="x")]),
    ("layers = [sequenceInputLayer(3, Name='x')];", [sequenceInputLayer(3, Name="x")]),
    ("layers = [sequenceInputLayer(3, 'name', 'it''s')];", [sequenceInputLayer(3, Name="it's")]),
    ('layers = [sequenceInputLayer(3, "Name", "say ""hi""")];', [sequenceInputLayer(3, Name='say "hi"')]),
    ("h = 10; layers = [sequenceInputLayer(2) lstmLayer(2*h)];", [sequenceInputLayer(2), lstmLayer(20)]),
    ("h = 10; layers = [sequenceInputLayer(2) lstmLayer(h/2 + 1)];", [sequenceInputLayer(2), lstmLayer(6)]),
    ("h = 3; layers = [sequenceInputLayer(2) lstmLayer(h^2 - (h - 1))];", [sequenceInputLayer(2), lstmLayer(7)]),
    ("layers = [sequenceInputLayer(2) lstmLayer(floor(7/2))];", [sequenceInputLayer(2), lstmLayer(3)]),
    ("layers = [sequenceInputLayer(2) lstmLayer(3, 'BiasL2Factor', [1 2 1 1])];", [sequenceInputLayer(2), lstmLayer(3, BiasL2Factor=[1, 2, 1, 1])]),
    ("layers = [sequenceInputLayer(2) lstmLayer(3, 'BiasL2Factor', [1, 2, 1, 1])];", [sequenceInputLayer(2), lstmLayer(3, BiasL2Factor=[1, 2, 1, 1])]),
    ("layers = [sequenceInputLayer(2) lstmLayer(2, HiddenState=[0.5; -0.5])];", [sequenceInputLayer(2), lstmLayer(2, HiddenState=[0.5, -0.5])]),
    ("layers = [sequenceInputLayer(2) lstmLayer(2, HiddenState=[0.5 -0.5]')];", [sequenceInputLayer(2), lstmLayer(2, HiddenState=[0.5, -0.5])]),
    ("layers = [sequenceInputLayer(2) lstmLayer(2, CellState=zeros(2,1))];", [sequenceInputLayer(2), lstmLayer(2, CellState=[0, 0])]),
    ("layers = [sequenceInputLayer(2) lstmLayer(2, CellState=0.5*ones(2,1))];", [sequenceInputLayer(2), lstmLayer(2, CellState=[0.5, 0.5])]),
    ("layers = [sequenceInputLayer(2, 'Normalization', 'zscore', 'Mean', [1 2], 'StandardDeviation', [3 4])];",
     [sequenceInputLayer(2, Normalization="zscore", Mean=[1, 2], StandardDeviation=[3, 4])]),
    ("layers = [sequenceInputLayer(2) bilstmLayer(4, 'OutputMode', 'last') fullyConnectedLayer(2) softmaxLayer classificationLayer('Classes', {'a', 'b'})];",
     [sequenceInputLayer(2), bilstmLayer(4, OutputMode="last"), fullyConnectedLayer(2), softmaxLayer(), classificationLayer(Classes=["a", "b"])]),
    ('layers = [sequenceInputLayer(2) lstmLayer(4) fullyConnectedLayer(3) softmaxLayer classificationLayer(Classes=["x" "y" "z"])];',
     [sequenceInputLayer(2), lstmLayer(4), fullyConnectedLayer(3), softmaxLayer(), classificationLayer(Classes=["x", "y", "z"])]),
    ("layers = [sequenceInputLayer(2) lstmLayer(4) fullyConnectedLayer(3) softmaxLayer classificationLayer(Classes=string(1:3))];",
     [sequenceInputLayer(2), lstmLayer(4), fullyConnectedLayer(3), softmaxLayer(), classificationLayer(Classes=["1", "2", "3"])]),
    ("layers = [sequenceInputLayer(2) lstmLayer(4) fullyConnectedLayer(3) softmaxLayer classificationLayer('Classes', categorical([\"a\" \"b\" \"c\"]))];",
     [sequenceInputLayer(2), lstmLayer(4), fullyConnectedLayer(3), softmaxLayer(), classificationLayer(Classes=["a", "b", "c"])]),
    ("layers = sequenceInputLayer(2);\nlayers = [layers; lstmLayer(3)];\nlayers = [layers\n regressionLayer];", [sequenceInputLayer(2), lstmLayer(3), regressionLayer()]),
    ("layers = [sequenceInputLayer(2)];\nlayers(end+1) = lstmLayer(3);\nlayers(end+1) = regressionLayer;", [sequenceInputLayer(2), lstmLayer(3), regressionLayer()]),
    ("layers = [sequenceInputLayer(2) lstmLayer(3) regressionLayer];\nlayers(2) = bilstmLayer(3);", [sequenceInputLayer(2), bilstmLayer(3), regressionLayer()]),
    ("layers = [sequenceInputLayer(2) lstmLayer(3) regressionLayer];\nlgraph = layerGraph(layers);", [sequenceInputLayer(2), lstmLayer(3), regressionLayer()]),
    ("net = dlnetwork([sequenceInputLayer(2) lstmLayer(3)]);", [sequenceInputLayer(2), lstmLayer(3)]),
    ("all = [sequenceInputLayer(2) lstmLayer(3) dropoutLayer lstmLayer(2)];\nlayers = all(1:2);", [sequenceInputLayer(2), lstmLayer(3)]),
    ("layers = [sequenceInputLayer(2) dropoutLayer(0.1, 'Name', 'd')];", [sequenceInputLayer(2), dropoutLayer(0.1, Name="d")]),
    ("layers = [sequenceInputLayer(2)\n    lstmLayer(3, ...\n        'OutputMode', 'last', ... the mode\n        'Name', 'l')];", [sequenceInputLayer(2), lstmLayer(3, OutputMode="last", Name="l")]),
    ("v = [1 2 3]; layers = [sequenceInputLayer(v(end)) lstmLayer(v(2))];", [sequenceInputLayer(3), lstmLayer(2)]),
    ("x = 1e1; layers = [sequenceInputLayer(x) fullyConnectedLayer(2.5e0*2)];", [sequenceInputLayer(10), fullyConnectedLayer(5)]),
    ("layers = [sequenceInputLayer(2) lstmLayer(3, 'InputWeightsLearnRateFactor', 0, \"RecurrentWeightsInitializer\", 'he')];",
     [sequenceInputLayer(2), lstmLayer(3, InputWeightsLearnRateFactor=0, RecurrentWeightsInitializer="he")]),
    ("layers = [sequenceInputLayer(2) fullyConnectedLayer(2, 'Weights', [1 2; 3 4], 'Bias', [0; 1])];",
     [sequenceInputLayer(2), fullyConnectedLayer(2, Weights=[[1, 2], [3, 4]], Bias=[0, 1])]),
    ("layers = [sequenceInputLayer(1) regressionLayer('Name', 'out')]\n", [sequenceInputLayer(1), regressionLayer(Name="out")]),
    ("n = numel([1 2 3 4]); layers = [sequenceInputLayer(n)];", [sequenceInputLayer(4)]),
    ("a = [sequenceInputLayer(2) lstmLayer(3)];\nb = [a; fullyConnectedLayer(1)];", [sequenceInputLayer(2), lstmLayer(3), fullyConnectedLayer(1)]),
]


@pytest.mark.parametrize("text,expected", VALID, ids=[f"valid{k}" for k in range(len(VALID))])
def test_valid_snippets(text, expected):
    assert list(from_matlab(text)) == expected


INVALID = [
    ("layers = [sequenceInputLayer(3) system('rm -rf /')];", 1, 33, "'layers' comes from system(...) (line 1), which lstm2onnx never runs"),
    ("x = eval('1'); layers = [sequenceInputLayer(x)];", 1, 45, 'needs x, which comes from eval(...) (line 1), which lstm2onnx never runs: pass --data FILE holding x, or --set x=<value>'),
    ('layers = [gruLayer(3) fooLayer(2)];', 1, 23, "unsupported layer 'fooLayer' (not a built-in MATLAB layer lstm2onnx knows)"),
    ('layers = [sequenceInputLayer(3) myCustomLayer(2)];', 1, 33, "unsupported layer 'myCustomLayer' (not a built-in MATLAB layer lstm2onnx knows)"),
    ('layers = [sequenceInputLayer(3) lstmLayer(h)];', 1, 43, "undefined variable 'h'"),
    ('layers = [sequenceInputLayer(3) lstmLayer(2.5)];', 1, 33, 'lstmLayer: NumHiddenUnits must be a positive integer, got 2.5'),
    ("layers = [sequenceInputLayer(3) lstmLayer(3, 'OutputMode', 'first')];", 1, 33, "OutputMode must be one of 'sequence', 'last', got 'first'"),
    ("layers = [sequenceInputLayer(3) lstmLayer(3, 'Outputmode')];", 1, 33, 'name-value arguments must come in pairs'),
    ('layers = [sequenceInputLayer(3) lstmLayer(3, Foo=1)];', 1, 33, "unknown option 'Foo'"),
    ("layers = [sequenceInputLayer(3) lstmLayer(OutputMode='last', 3)];", 1, 33, 'positional arguments must come before Name=value arguments'),
    ('layers = [sequenceInputLayer(3) lstmLayer()];', 1, 33, 'missing 1 required positional argument'),
    ('layers = [sequenceInputLayer(3)', 1, 10, "'[' is never closed"),
    ('layers = [sequenceInputLayer(3 lstmLayer(2)];', 1, 44, "']' closes '('"),
    ("layers = [sequenceInputLayer('abc)];", 1, 30, 'string is not closed on its line'),
    ('%{\nlayers = [sequenceInputLayer(3)];', 1, 1, "block comment '%{' is never closed"),
    ("layers = [sequenceInputLayer(3,\n  'Name', 'x')];", 1, 32, "a line break inside '(' needs '...' to continue the line"),
    ('function layers = make()\nend', None, None, "'layers' is never assigned by the statements that run"),
    ('x = 3;', None, None, 'the text defines no layer array'),
    ('layers = [sequenceInputLayer(3) 5];', 1, 10, 'a layer array cannot hold a number'),
    ('a = [1 2; 3]; layers = [sequenceInputLayer(a)];', 1, 5, 'the rows have different numbers of columns'),
    ('a = [1 2] * [3 4]; layers = [sequenceInputLayer(a)];', 1, 11, "sizes (1, 2) and (1, 2) do not agree for '*'"),
    ('a = 10^400; layers = [sequenceInputLayer(a)];', 1, 7, 'gives a non-finite result'),
    ('a = zeros(1e9); layers = [sequenceInputLayer(a)];', 1, 10, 'is too large'),
    ('a = 1:1e12; layers = [sequenceInputLayer(numel(a))];', 1, 6, 'is too large'),
    ('a = 1/0; layers = [sequenceInputLayer(a)];', 1, 6, 'gives a non-finite result'),
    ('layers = [sequenceInputLayer(3)]; layers(5) = lstmLayer(2);', 1, 41, 'index 5 is out of range (1 to 2)'),
    ('layers = [sequenceInputLayer(3)]; layers = layers(0);', 1, 50, 'index 0 is out of range'),
    ('x = 3; y = x.field; layers = [sequenceInputLayer(y)];', 1, 13, "a number has no fields (looking up 'field')"),
    ('s.a = 3; layers = [sequenceInputLayer(s.b)];', 1, 40, "the struct has no field 'b' (its fields: a)"),
    ('layers = [sequenceInputLayer(3)] layers', 1, 34, 'expected the end of the statement'),
    ('layers = [sequenceInputLayer(3) #]', 1, 33, "unexpected character '#'"),
    ("x = 'a' * [1 2; 3 4]; layers = [sequenceInputLayer(x)];", 1, 33, 'InputSize must be a positive integer, got a 2x2'),
    ('x = ((((((((((((((((((((((((((((((((((((((((((((((((((((((((((((((((((1)))))))))))))))))))))))))))))))))))))))))))))))))))))))))))))))))); layers = [sequenceInputLayer(x)];', 1, 37, 'nesting is deeper than 64 levels'),
    ("layers = [sequenceInputLayer(3) lstmLayer(3, 'HiddenState', [1 2])];", 1, 33, 'HiddenState must be a 3-by-1 vector (NumHiddenUnits), got 2 elements'),
    ("layers = [sequenceInputLayer(3, 'Normalization', @myfun)];", 1, 11, "a function handle ('@') cannot be a layer option"),
    ('layers = [sequenceInputLayer(3) connectLayers(1)];', 1, 46, 'connectLayers takes 3 arguments, got 1'),
    ("g = layerGraph(lstmLayer(3, Name='a'));\nlayers = connectLayers(g, 'a', 'a/in');", 2, 23,
     'connectLayers a -> a/in makes a layer graph with branches'),
    ("g = addLayers(layerGraph(lstmLayer(3, Name='a')), lstmLayer(2, Name='b'));\nlayers = connectLayers(g, 'a/hidden', 'b');", 2, 23,
     'connectLayers a/hidden -> b makes a layer graph with branches'),
    ("g = addLayers(layerGraph(lstmLayer(3, Name='a')), lstmLayer(2, Name='b'));\nlayers = dlnetwork(g);", 2, 19,
     "dlnetwork: the layer graph is 2 chains not connected ('a'; 'b')"),
    ('for k = 1:3\n  layers = [sequenceInputLayer(k)];', 1, 1, "'for' is never closed with 'end'"),
    ('c = {1, 2}; layers = [sequenceInputLayer(c{3})];', 1, 43, 'index 3 is out of range (1 to 2)'),
    ('[a, b] = size(ones(2, 3), 1); layers = [sequenceInputLayer(b)];', 1, 14, 'the right side gives 1 values for 2 outputs'),
    ("switch 'x'\n  case 'y'\n    n = 3;\nend\nlayers = [sequenceInputLayer(n)];", 5, 30, "undefined variable 'n'"),
    ('layers = [sequenceInputLayer(3)];\n[net, info] = trainNetwork(X, Y, layers, opts);\nlayers = [sequenceInputLayer(numel(info.TrainingLoss))];',
     3, 36, 'needs info, which comes from trainNetwork(...) (line 2), which lstm2onnx never runs'),  # net.Layers is layers
]


@pytest.mark.parametrize("text,line,column,message", INVALID, ids=[f"invalid{k}" for k in range(len(INVALID))])
def test_invalid_snippets_name_line_and_column(text, line, column, message):
    with pytest.raises(MatlabError, match=re.escape(message)) as info:
        from_matlab(text)
    if line is not None:
        assert (info.value.line, info.value.column) == (line, column)
        source_line = text.splitlines()[line - 1]
        if len(source_line) > 100:  # a long line is shown as a window around the column
            return
        assert re.search(rf"\n( +){re.escape(source_line)}\n\1{' ' * (column - 1)}\^", str(info.value))


def test_corpus_is_big_enough():
    assert len(VALID) + len(INVALID) >= 40 and len(VALID) >= 20 and len(INVALID) >= 20


# -- round trip ------------------------------------------------------------------------------------

ROUND_TRIP = [
    [sequenceInputLayer(4, Name="in", Normalization="zscore", Mean=[1.5, -2, 3e-7, 4], StandardDeviation=0.1),
     lstmLayer(3, OutputMode="last", GateActivationFunction="hard-sigmoid", BiasL2Factor=[1, 0, 1, 1], HiddenState=[0.1, 0.2, 0.3]),
     fullyConnectedLayer(2, WeightL2Factor=0.5), softmaxLayer(), classificationLayer(Classes=["yes", 'no "really"'], ClassWeights=[1, 3])],
    [sequenceInputLayer(1, Normalization="rescale-symmetric", Min=-1, Max=2), bilstmLayer(2, StateActivationFunction="softsign"),
     dropoutLayer(0.25), fullyConnectedLayer(1), regressionLayer(Name="r")],
]


@pytest.mark.parametrize("layers", ROUND_TRIP, ids=["classifier", "regressor"])
def test_to_matlab_round_trip(layers):
    assert list(from_matlab(to_matlab(layers))) == layers


def test_to_matlab_with_learnables_round_trips_bit_exact():
    net = initialize([sequenceInputLayer(3), lstmLayer(4), fullyConnectedLayer(2)], seed=7)
    assert list(from_matlab(to_matlab(net, learnables=True))) == list(net)


def test_one_element_vectors_and_matrices_round_trip():
    """MATLAB reads `[0.5]` as a 1-by-1 matrix: a valid one-unit HiddenState, Bias or Weights, not a type error."""
    net = initialize([sequenceInputLayer(1), lstmLayer(1, HiddenState=[0.5]), fullyConnectedLayer(1), regressionLayer()], seed=2)
    text = to_matlab(net, learnables=True)
    assert '"HiddenState", [0.5]' in text and '"Bias", [0; 1; 0; 0]' in text  # vectors as MATLAB's columns
    assert list(from_matlab(text)) == list(net)


@st.composite
def layer_arrays(draw):
    layers = [sequenceInputLayer(draw(st.integers(1, 20)), Name=draw(st.sampled_from(["", "in", "input_1"])))]
    for k in range(draw(st.integers(0, 3))):
        make = draw(st.sampled_from([lstmLayer, bilstmLayer]))
        options = {}
        if draw(st.booleans()):
            options["OutputMode"] = "sequence"
        if draw(st.booleans()):
            options["GateActivationFunction"] = draw(st.sampled_from(["sigmoid", "hard-sigmoid"]))
        if draw(st.booleans()):
            options["BiasLearnRateFactor"] = draw(st.one_of(st.floats(0, 10, allow_subnormal=False), st.lists(st.floats(0, 10, allow_subnormal=False), min_size=4, max_size=4)))
        hidden = draw(st.integers(1, 50))
        if draw(st.booleans()):
            options["HiddenState"] = draw(st.lists(st.floats(-1e6, 1e6, width=32, allow_subnormal=False), min_size=hidden * (2 if make is bilstmLayer else 1),
                                                  max_size=hidden * (2 if make is bilstmLayer else 1)))
        layers.append(make(hidden, **options))
    if draw(st.booleans()):
        layers.append(dropoutLayer(draw(st.floats(0, 0.99, allow_subnormal=False))))
    layers.append(fullyConnectedLayer(draw(st.integers(1, 9)), Name=draw(st.text("abcxyz_'\" ", max_size=6))))
    return layers


@settings(max_examples=60, deadline=None, derandomize=True, suppress_health_check=[HealthCheck.too_slow])
@given(layers=layer_arrays())
def test_generated_arrays_round_trip(layers):
    assert list(from_matlab(to_matlab(layers))) == layers


# -- fuzzing ---------------------------------------------------------------------------------------

MATLAB_ALPHABET = st.sampled_from(list("[](){}'\";,.%!@=+-*/^:~ \n\t0123456789eE") + ["...", "%{", "%}", "lstmLayer", "sequenceInputLayer",
                                                                                        "layers", "end", "zeros", "'last'", "OutputMode", "x"])


@settings(max_examples=300, deadline=None, derandomize=True, suppress_health_check=[HealthCheck.too_slow])
@given(pieces=st.lists(MATLAB_ALPHABET, max_size=60))
def test_fuzz_token_soup_gives_only_matlab_errors(pieces):
    text = "".join(pieces)
    start = time.perf_counter()
    try:
        from_matlab(text)
    except MatlabError:
        pass
    assert time.perf_counter() - start < 2.0


@settings(max_examples=300, deadline=None, derandomize=True, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.binary(max_size=400))
def test_fuzz_random_bytes_give_only_matlab_errors(data):
    text = data.decode("latin-1")
    start = time.perf_counter()
    try:
        from_matlab(text)
    except MatlabError:
        pass
    assert time.perf_counter() - start < 2.0


def test_large_input_is_bounded():
    with pytest.raises(MatlabError, match="at most 1000000 are read"):
        from_matlab("x = 1;\n" * 200_000)
    start = time.perf_counter()
    with pytest.raises(MatlabError):
        from_matlab("x = " + "[" * 100_000)
    assert time.perf_counter() - start < 2.0
