"""Whole MATLAB scripts: each stage alone (tokens, statements, slice), the language forms, data files, real-world
scripts compiled with --data and with --set, function files, the one report of every problem, and the CLI.

Numerical tolerance: max abs error <= 1e-5 (onnxruntime float32) against the float64 reference.
"""

from __future__ import annotations

import pathlib
import re
import time

import numpy as np
import pytest
import scipy.io
from conftest import assert_matches_reference, random_batch, run
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from test_matfile import write_v73

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
from lstm2onnx.cli import main
from lstm2onnx.errors import SpecError
from lstm2onnx.matlab import MatlabError, from_matlab, read_script
from lstm2onnx.matlab import analysis
from lstm2onnx.matlab.data import parse_set, read_npz
from lstm2onnx.matlab.lexer import Source, tokenize
from lstm2onnx.matlab.matfile import Opaque
from lstm2onnx.matlab.statements import split

CLASSIFIER = [sequenceInputLayer(12), lstmLayer(100, OutputMode="last"), fullyConnectedLayer(9), softmaxLayer(), classificationLayer()]


def cell(items, shape=None) -> np.ndarray:
    out = np.empty(len(items), dtype=object)
    for k, item in enumerate(items):
        out[k] = item
    return out.reshape(shape or (len(items), 1))


@pytest.fixture
def vowels(tmp_path):
    """A Japanese-Vowels-like .mat v5 file: XTrain a 20x1 cell of 12xT sequences, YTrain a cellstr of 9 labels."""
    rng = np.random.default_rng(0)
    x = cell([rng.standard_normal((12, int(rng.integers(7, 26)))) for _ in range(20)])
    y = cell([str(1 + k % 9) for k in range(20)])
    path = tmp_path / "JapaneseVowelsTrain.mat"
    scipy.io.savemat(path, {"XTrain": x, "YTrain": y})
    return path


# -- the stages, each alone ----------------------------------------------------------------------------------


def kinds(text):
    return [(t.kind, t.value) for t in tokenize(text)[:-1]]


def test_lexer_tells_quotes_from_transposes_and_reads_command_syntax():
    assert kinds("a = b';") == [("id", "a"), ("op", "="), ("id", "b"), ("op", "'"), ("semi", ";")]
    assert kinds("c = {'it''s', \"say \"\"hi\"\"\"}'") == [
        ("id", "c"), ("op", "="), ("op", "{"), ("str", "it's"), ("comma", ","), ("dstr", 'say "hi"'), ("op", "}"), ("op", "'")]
    assert kinds("[a' 'b']") == [("op", "["), ("id", "a"), ("op", "'"), ("str", "b"), ("op", "]")]
    assert kinds("load WaveformData\nclear; clc; close all\nrng default, hold on") == [
        ("cmd", ("load", ["WaveformData"])), ("nl", "\n"), ("id", "clear"), ("semi", ";"), ("id", "clc"), ("semi", ";"),
        ("cmd", ("close", ["all"])), ("nl", "\n"), ("cmd", ("rng", ["default"])), ("comma", ","), ("cmd", ("hold", ["on"]))]
    assert kinds("x = a - b") == [("id", "x"), ("op", "="), ("id", "a"), ("op", "-"), ("id", "b")]  # not command syntax
    assert kinds("x(end) = 1; end") == [("id", "x"), ("op", "("), ("id", "end"), ("op", ")"), ("op", "="), ("num", 1.0),
                                        ("semi", ";"), ("kw", "end")]


def test_lexer_comments_continuations_and_errors():
    text = "%{\nouter\n  %{\n  inner\n  %}\nstill comment\n%}\nx = [1 ...  comment\n 2] % tail\n"
    assert kinds(text) == [("id", "x"), ("op", "="), ("op", "["), ("num", 1.0), ("num", 2.0), ("op", "]"), ("nl", "\n")]
    assert ("err", "a line break inside '(' needs '...' to continue the line") in kinds("f(1,\n2)")
    assert ("err", "string is not closed on its line") in kinds("x = 'abc\ny = 2")


def test_statements_split_blocks_and_name_their_targets_and_uses():
    text = """
for i = 1:n
    layers(end+1) = lstmLayer(h(i));
end
if mode == 1, [a, ~, b] = f(x); elseif mode == 2, a = 2; else, s.f = g; end
switch name
    case {'a', 'b'}
        y = lstmLayer(3, Name=name);
    otherwise
        y = [];
end
try, z = q; catch err, z = 0; end
function out = helper(v)
out = v + 1;
"""
    program = split(tokenize(text), Source(text))
    assert [s.kind for s in program.statements] == ["for", "if", "switch", "try"]
    loop = program.statements[0]
    inner = loop.parts[0][1][0]
    assert (inner.targets, inner.full, inner.uses) == (["layers"], set(), {"layers", "end", "lstmLayer", "h", "i"})
    branches = program.statements[1].parts
    assert [b[1][0].targets for b in branches] == [["a", "b"], ["a"], ["s"]]
    assert branches[0][1][0].full == {"a", "b"} and branches[2][1][0].full == set()
    assert program.statements[2].parts[0][1][0].uses == {"lstmLayer", "name"}  # Name= is not a read
    assert list(program.functions) == ["helper"] and program.functions["helper"].inputs == ["v"]
    assert not program.function_file


def test_slice_keeps_only_what_the_array_needs():
    text = """
load data
h = 10;                 % needed
k = numel(labels);      % needed
junk = cellfun(@(c) size(c, 2), XTrain);   % not needed
for i = 1:3
    h = h + 1;          % needed: h is read after the loop
    plot(i);            % not needed
end
options = trainingOptions('adam');
layers = [sequenceInputLayer(h) fullyConnectedLayer(k)];
net = trainNetwork(XTrain, labels, layers, options);
"""
    program = split(tokenize(text), Source(text))
    ctx = analysis.context(program, set(), {"labels", "XTrain"})
    marked = analysis.slice_program(program.statements, {"layers"}, ctx)
    lines = sorted(program.source.line_of(s.pos) for s in program.all_statements() if s.sid in marked)
    assert lines == [2, 3, 4, 6, 7, 11]
    assert [name for name, _ in analysis.layer_assignments(program, ctx)] == ["layers"]  # net = trainNetwork(...) is not one


# -- the language forms ------------------------------------------------------------------------------------------

FORMS = [
    ("[numFeatures, ~] = size(zeros(12, 30)); layers = sequenceInputLayer(numFeatures);", [sequenceInputLayer(12)]),
    ("X = zeros(5, 12); [~, n] = size(X); layers = sequenceInputLayer(n);", [sequenceInputLayer(12)]),
    ("X = ones(3, 4, 2); layers = sequenceInputLayer(size(X, 3) + size(X, 2) * ndims(X));", [sequenceInputLayer(14)]),
    ("v = [4 8 15]; layers = [sequenceInputLayer(v(end)) lstmLayer(v(end-1))];", [sequenceInputLayer(15), lstmLayer(8)]),
    ("m = reshape(1:12, 3, 4); c = m(:, 2); layers = sequenceInputLayer(sum(c));", [sequenceInputLayer(15)]),
    ("m = reshape(1:12, 3, 4); layers = sequenceInputLayer(m(end, end) + m(2, :) * [1; 0; 0; 0]);", [sequenceInputLayer(14)]),
    ("params.hidden = 96; params.in = 3; layers = [sequenceInputLayer(params.in) lstmLayer(params.hidden)];",
     [sequenceInputLayer(3), lstmLayer(96)]),
    ("s = struct('n', 4); s.inner.k = 2; layers = sequenceInputLayer(s.n * s.inner.k);", [sequenceInputLayer(8)]),
    ("names = {'a','b','c'}'; layers = [sequenceInputLayer(2) fullyConnectedLayer(3) softmaxLayer classificationLayer(Classes=names)];",
     [sequenceInputLayer(2), fullyConnectedLayer(3), softmaxLayer(), classificationLayer(Classes=["a", "b", "c"])]),
    ("opts = {'OutputMode','last'}; layers = [sequenceInputLayer(2) lstmLayer(64, opts{:})];",
     [sequenceInputLayer(2), lstmLayer(64, OutputMode="last")]),
    ("opts = {'OutputMode','last', 'Name', 'enc'}; layers = [sequenceInputLayer(2); lstmLayer(8, opts{1:2}, opts{3:4})];",
     [sequenceInputLayer(2), lstmLayer(8, OutputMode="last", Name="enc")]),
    ("x = [3 1 2]; layers = sequenceInputLayer(max(x) + min(x) + prod(x) + mean(x));", [sequenceInputLayer(12)]),
    ("y = [2 2 5 7 7 7]; layers = fullyConnectedLayer(numel(unique(y)));", [fullyConnectedLayer(3)]),
    ("layers = fullyConnectedLayer(floor(7/2) + ceil(0.2) + round(2.5) + abs(-1));", [fullyConnectedLayer(8)]),
    # MATLAB's integer conversions round halves away from zero (numpy's round would give 2 and 4) and saturate
    ("layers = fullyConnectedLayer(double(int32(2.5)) + double(uint8(3.5)) + double(int8(-0.5)) + double(uint8(-4)) + double(int16(NaN)));",
     [fullyConnectedLayer(6)]),
    ("layers = fullyConnectedLayer(int8(300) - 120 + str2double(int2str(4.5)));", [fullyConnectedLayer(12)]),
    ("z = zeros(2, 3); o = ones(1, 4); layers = fullyConnectedLayer(numel(z) + length(o) + height(z) + width(z));",
     [fullyConnectedLayer(15)]),
    ("layers = sequenceInputLayer(2);\nlayers(end+1) = lstmLayer(3);\nlayers = [layers; fullyConnectedLayer(1)];\nlayers = [layers, regressionLayer];",
     [sequenceInputLayer(2), lstmLayer(3), fullyConnectedLayer(1), regressionLayer()]),
    ("hidden = [64 32];\nlayers = sequenceInputLayer(5);\nfor i = 1:numel(hidden)\n  layers = [layers\n    lstmLayer(hidden(i), Name=sprintf('lstm_%d', i))];\nend",
     [sequenceInputLayer(5), lstmLayer(64, Name="lstm_1"), lstmLayer(32, Name="lstm_2")]),
    ("layers = sequenceInputLayer(5);\nfor h = [8 4]\n  layers(end+1) = lstmLayer(h, Name=\"lstm\" + h);\nend",
     [sequenceInputLayer(5), lstmLayer(8, Name="lstm8"), lstmLayer(4, Name="lstm4")]),
    ("n = num2str(7); layers = lstmLayer(2, 'Name', strcat('enc_', n, '_', 'a'));", [lstmLayer(2, Name="enc_7_a")]),
    ("layers = lstmLayer(2, 'Name', ['enc' '_' char(65)]);", [lstmLayer(2, Name="enc_A")]),
    ("mode = 'bi';\nif strcmp(mode, 'uni')\n  r = lstmLayer(4);\nelseif mode == \"bi\"\n  r = bilstmLayer(4);\nelse\n  r = fooLayer(4);\nend\nlayers = [sequenceInputLayer(2); r];",
     [sequenceInputLayer(2), bilstmLayer(4)]),
    ("kind = 2;\nswitch kind\n  case 1\n    r = unknownLayer(1);\n  case {2, 3}\n    r = lstmLayer(7);\n  otherwise\n    error('no');\nend\nlayers = r;",
     [lstmLayer(7)]),
    ("name = \"gru\";\nswitch name\n  case 'lstm'\n    h = 1;\n  otherwise\n    h = 2;\nend\nlayers = lstmLayer(h);", [lstmLayer(2)]),
    ("n = 0; k = 0;\nwhile n < 5\n  n = n + 2;\n  if n == 4, continue; end\n  k = k + 1;\nend\nlayers = lstmLayer(10 * n + k);",
     [lstmLayer(62)]),
    ("total = 0;\nfor i = 1:100\n  total = total + i;\n  if total > 10, break; end\nend\nlayers = lstmLayer(total);", [lstmLayer(15)]),
    ("lgraph = layerGraph();\nlgraph = addLayers(lgraph, [sequenceInputLayer(3) lstmLayer(4)]);\nnet = dlnetwork(lgraph);",
     [sequenceInputLayer(3), lstmLayer(4)]),
    ("layers = [sequenceInputLayer(3) lstmLayer(4)];\nlgraph = layerGraph(layers);\nnet = dlnetwork(lgraph, Initialize=false);",
     [sequenceInputLayer(3), lstmLayer(4)]),
    ("layers = [sequenceInputLayer(3) lstmLayer(4) dropoutLayer];\nlayers(3) = [];\nh = layers(2).NumHiddenUnits;\nlayers(end+1) = fullyConnectedLayer(h);",
     [sequenceInputLayer(3), lstmLayer(4), fullyConnectedLayer(4)]),
    ("layers = buildNet(12, [64 32], 9);\n\nfunction layers = buildNet(n, hidden, k)\n  layers = sequenceInputLayer(n);\n"
     "  for h = hidden\n    layers = [layers; lstmLayer(h, OutputMode='sequence')];\n  end\n  layers = [layers; head(k)];\nend\n"
     "function l = head(k)\n  l = [fullyConnectedLayer(k) softmaxLayer];\nend",
     [sequenceInputLayer(12), lstmLayer(64), lstmLayer(32), fullyConnectedLayer(9), softmaxLayer()]),
    ("[a, b] = deal(3, 4); c = {a, b}; layers = sequenceInputLayer(c{2} - c{1} + numel(c));", [sequenceInputLayer(3)]),
    ("x = true && ~false; if x, n = 2; end; layers = sequenceInputLayer(n + (3 > 2) + any([0 1]));", [sequenceInputLayer(4)]),
    ("c = cell(1, 2); c{2} = 'x'; layers = lstmLayer(2, Name=c{2});", [lstmLayer(2, Name="x")]),
    ("!echo never run\nf = @(x) x.^2; g = cellfun(f, {1, 2}); try, q = undefinedThing; catch, q = 1; end\nlayers = lstmLayer(3);",
     [lstmLayer(3)]),
    # function handles: called by cellfun/arrayfun and f(x), on what the evaluator computes anyway
    ("C = {zeros(3, 5), zeros(3, 7)}; L = cellfun(@(x) size(x, 2), C); layers = lstmLayer(sum(L));", [lstmLayer(12)]),
    ("C = {zeros(3, 5), zeros(4, 7)}; D = cellfun(@transpose, C, 'UniformOutput', false); layers = lstmLayer(size(D{2}, 1));",
     [lstmLayer(7)]),
    ("C = {zeros(3, 5), []}; e = cellfun('isempty', C); layers = lstmLayer(1 + 10 * e(2) + islogical(e));", [lstmLayer(12)]),
    ("k = 3; f = @(x) x * k; k = 100; layers = lstmLayer(f(4));", [lstmLayer(12)]),  # k captured when f was made
    ("v = arrayfun(@(i) i^2, 1:3); layers = lstmLayer(sum(v));", [lstmLayer(14)]),
    ("[r, c] = cellfun(@size, {zeros(2, 3), zeros(4, 5)}); layers = lstmLayer(sum(r) * 10 + sum(c));", [lstmLayer(68)]),
    ("X = {[1 2; 3 4], [5; 6]}; Y = cellfun(@(a, b) [a; b], X, {[0 0], 9}, UniformOutput=false); layers = lstmLayer(numel(Y{1}) + numel(Y{2}));",
     [lstmLayer(9)]),
    ("h = helper(2); layers = lstmLayer(h(5));\nfunction f = helper(k)\n  f = @(x) x + k;\nend", [lstmLayer(7)]),
    ("n = cellfun(@numel, {'ab', 'cde'}); layers = lstmLayer(prod(n));", [lstmLayer(6)]),
    ("X = {zeros(3, 5)};\nX = cellfun(@(X) X', X, 'UniformOutput', false);\nlayers = lstmLayer(size(X{1}, 1));",
     [lstmLayer(5)]),  # the parameter X is the function's own; the X after it is the variable, read
    # sets, shapes and counts that sizes are computed with
    ("Y = [3 1 3 2]; [C, ia, ic] = unique(Y); s = unique(Y, 'stable'); layers = lstmLayer(sum(C) * 100 + sum(ia) * 10 + s(1) + numel(ic));",
     [lstmLayer(677)]),  # C = [1 2 3], ia = [2 4 1] (first occurrences), s(1) = 3, 4 indices
    ("Y = {'b'; 'a'; 'b'}; n = countcats(categorical(Y)); layers = lstmLayer(n(1) * 10 + n(2));", [lstmLayer(12)]),
    ("v = sum(ismember([1 2 3 4], [2 4])) * 100 + numel(setdiff([1 2 3 4], [2 4])) * 10 + numel(union([1 2], [2 3]));"
     "\nlayers = lstmLayer(v + numel(intersect({'a','b'}, {'b','c'})));", [lstmLayer(224)]),
    ("layers = lstmLayer(isrow([1 2 3]) + 2 * iscolumn([1; 2]) + 4 * isvector(ones(2)) + 8 * isscalar(5));", [lstmLayer(11)]),
    ("a = size(squeeze(zeros(1, 1, 4)), 1); b = size(permute(zeros(2, 3, 4), [3 1 2])); c = fliplr([1 2 3]);"
     "\nlayers = lstmLayer(a * 1000 + b(1) * 100 + b(2) * 10 + c(1));", [lstmLayer(4423)]),
    ("X = reshape(1:6, 2, 3); C = num2cell(X, 1); R = num2cell(X, 2); E = num2cell(X);"
     "\nlayers = lstmLayer(numel(C) * 100 + size(R{2}, 2) * 10 + E{2, 3} + numel(cell2mat(C)));", [lstmLayer(342)]),
    ("layers = lstmLayer(nnz([1 0 2]) * 100 + median([1 5 3]) * 10 + mode([4 2 2 4 1]) + strlength(\"abcd\"));", [lstmLayer(236)]),
    ("m = any([0 0; 0 1]); layers = lstmLayer(1 + 2 * m(2) + 4 * all([1 1; 0 1], 'all'));", [lstmLayer(3)]),
    ("c = {1, 'a', 3}; c(2) = []; d = {'x'; 'y'; 'z'}; d([1 3]) = []; layers = lstmLayer(numel(c) * 10 + numel(d) + c{2});",
     [lstmLayer(24)]),  # c(k) = [] deletes cells
    ("y = {'a'; 'b'; 'a'}; layers = lstmLayer(sum(y == \"a\") * 10 + sum(y ~= \"a\"));", [lstmLayer(21)]),  # labels == "a"
    # normalisations applied before sizes are read: the values MATLAB gives
    ("X = [1 2 3; 10 20 40]; [Y, ps] = mapminmax(X, 0, 1); Z = mapminmax('apply', X, ps); R = mapminmax('reverse', Z, ps);"
     " v = mapminmax([0 5 10]);\nlayers = lstmLayer(round(1000 * Y(2, 2)) + R(2, 3) + 100 * v(3));", [lstmLayer(473)]),
    ("[z, m, s] = zscore([1 2 3 4]); n = normalize([1 2; 3 5]); r = rescale([2 4 6], -1, 1); q = normalize([0 5 10], 'range');"
     "\nlayers = lstmLayer(round(100 * z(4)) + 10 * m + round(10 * s) + round(1000 * n(2, 2)) + 10000 * (r(1) + 2) + 100 * q(2));",
     [lstmLayer(10000 + 707 + 116 + 25 + 13 + 50)]),
    ("[a, b, c] = parts(3, 4, 5);\nlayers = lstmLayer(a * 100 + b * 10 + c);\nfunction [first, varargout] = parts(varargin)\n"
     "  first = nargin;\n  for k = 2:nargout\n    varargout{k - 1} = varargin{k} + nargout;\n  end\nend", [lstmLayer(378)]),
    # std / var (MATLAB's N-1 normalisation; w = 1: N)
    ("x = [2 4 4 4 5 5 7 9]; layers = lstmLayer(round(100 * std(x)) + var(x, 1));", [lstmLayer(218)]),
    ("X = [1 2 3; 4 6 8]; s = std(X, 0, 2); v = var(X); layers = lstmLayer(s(2) * 10 + sum(v) * 2);", [lstmLayer(70)]),
    # double() of labels: categorical codes 1..K in sorted category order (numerically when the labels are numbers)
    ("Y = categorical({'walk'; 'run'; 'sit'; 'run'}); c = double(Y); layers = lstmLayer(c(1) * 1000 + c(2) * 100 + c(3) * 10 + max(c));",
     [lstmLayer(3123)]),  # run=1, sit=2, walk=3
    ("Y = categorical([10 2 10 7]); c = double(Y'); layers = lstmLayer(c(1) * 100 + c(2) * 10 + numel(unique(double(Y))));",
     [lstmLayer(313)]),  # categories 2, 7, 10 (not '10' < '2' as text)
    ("k = categories(categorical([10 2 7])); layers = lstmLayer(str2double(k{1}) * 10 + numel(k));", [lstmLayer(23)]),
    ("y = [3 1 2]; layers = lstmLayer(max(double(y)) + double('A'));", [lstmLayer(68)]),  # numbers stay; chars give codes
    # data reshaping seen in public code: mat2cell blocks, con2seq's one-step columns, table2array of a data matrix
    ("A = reshape(1:12, 3, 4); C = mat2cell(A, [1 2], [3 1]); D = mat2cell(A', 4);"
     "\nlayers = lstmLayer(size(C{2, 1}, 1) * 1000 + size(C{1, 2}, 2) * 100 + numel(C) * 10 + size(D{1}, 2));", [lstmLayer(2143)]),
    ("S = con2seq(reshape(1:6, 2, 3)); layers = lstmLayer(numel(S) * 10 + size(S{3}, 1));", [lstmLayer(32)]),
    ("T = [1 2 3; 4 5 6]; v = table2array(T(:, 2:end)); layers = lstmLayer(size(v, 2) * 10 + v(2, 1));", [lstmLayer(25)]),
    ("y = (1:6)'; X = lagmatrix(y, 1:2); Z = lagmatrix([1 2 3], -1); X = X(max(1:2)+1:end, :)';"
     "\nlayers = lstmLayer(size(X, 1) * 1000 + size(X, 2) * 100 + X(2, 1) * 10 + sum(isnan(Z)));", [lstmLayer(2411)]),
    # 3-D data: pages as cells, no trailing singleton dimensions
    ("X = reshape(1:70, 5, 7, 2); C = squeeze(num2cell(X, [1 2])); R = num2cell(X, 2); P = X(:, :, 2); P = P(:, ~all(P == 0));"
     "\nlayers = lstmLayer(numel(C) * 1000 + size(C{2}, 2) * 100 + size(R{1, 1, 2}, 2) * 10 + ndims(P) + size(P, 2) - 7);",
     [lstmLayer(2772)]),
    ("[tr, va, te] = dividerand(50, 0.7, 0.15, 0.15); layers = lstmLayer(numel(tr) * 100 + numel(va) * 10 + numel(intersect(tr, te)));",
     [lstmLayer(3480)]),  # round(7.5) = 8 validation, 8 test, 34 training, disjoint
    ("d = [1 2; NaN 3; 4 Inf]; d(any(isnan(d), 2), :) = []; layers = lstmLayer(size(d, 1) * 10 + sum(isfinite(d(:))) + isinf(d(2, 2)));",
     [lstmLayer(24)]),
    # exist('x', 'var') reads the workspace (x is computed for it); files are never there (a first run's branch)
    ("x = 3;\nif exist('x', 'var') && ~exist('net.mat', 'file') && ~isfile('a.csv') && ~isfolder('d')\n  layers = lstmLayer(5);\n"
     "else\n  layers = lstmLayer(6);\nend", [lstmLayer(5)]),
    ("layers = lstmLayer(7 + exist('y', 'var'));", [lstmLayer(7)]),
    # nested functions read their parent's variables; functions after a closed one are its siblings
    ("layers = make(3);\nfunction L = make(n)\n  k = 2 * n;\n  L = lstmLayer(inner(1));\n  function v = inner(a)\n    v = k + a;\n  end\nend",
     [lstmLayer(7)]),
    ("layers = make(3);\nfunction L = make(n)\n  k = n + 1;\n  function v = inner(a)\n    v = k * a;\n  end\n  L = lstmLayer(inner(10));\nend",
     [lstmLayer(40)]),  # statements after the nested function belong to the parent
    ("layers = make(3);\nfunction L = make(n)\n  L = lstmLayer(other(n));\nend\nfunction v = other(a)\n  v = a + 1;\nend", [lstmLayer(4)]),
    ("layers = make(3);\nfunction L = make(n)\n  L = lstmLayer(other(n));\nfunction v = other(a)\n  v = a + 2;\n", [lstmLayer(5)]),
]


@pytest.mark.parametrize("text,expected", FORMS, ids=[f"form{k}" for k in range(len(FORMS))])
def test_forms(text, expected):
    assert list(from_matlab(text)) == expected


def test_a_for_loop_over_a_cell_and_a_while_with_data():
    text = "sizes = {8, 4};\nlayers = sequenceInputLayer(2);\nfor s = sizes\n  layers(end+1) = lstmLayer(s{1});\nend"
    assert list(from_matlab(text)) == [sequenceInputLayer(2), lstmLayer(8), lstmLayer(4)]


# -- --set, --variable, notes ----------------------------------------------------------------------------------------


def test_set_wins_over_the_scripts_assignment_with_a_note():
    text = "numHiddenUnits = 100;\nlayers = [sequenceInputLayer(3) lstmLayer(numHiddenUnits)];"
    result = read_script(text, workspace={"numHiddenUnits": 7})
    assert list(result.layers) == [sequenceInputLayer(3), lstmLayer(7)]
    assert result.notes == ["--set numHiddenUnits replaces the script's assignment at line 1"]
    assert ("line    1: skipped: --set numHiddenUnits wins: numHiddenUnits = 100") in result.report()


STRUCT_SCRIPT = """params.hidden = 64;
params.in = 3;
params.numClasses = numel(categories(YTrain));
layers = [sequenceInputLayer(params.in) lstmLayer(params.hidden) fullyConnectedLayer(params.numClasses)];"""


@pytest.mark.parametrize("workspace", [{"params.hidden": 96, "params.numClasses": 4},
                                       {"params": {"hidden": 96, "numClasses": 4}}], ids=["path", "nested"])
def test_set_a_struct_field_wins_and_keeps_the_other_fields(workspace):
    result = read_script(STRUCT_SCRIPT, workspace=workspace)  # YTrain is never needed: params.numClasses is given
    assert list(result.layers) == [sequenceInputLayer(3), lstmLayer(96), fullyConnectedLayer(4)]
    assert result.notes == ["--set params.hidden replaces the script's assignment at line 1",
                            "--set params.numClasses replaces the script's assignment at line 3"]
    assert "line    1: skipped: --set params.hidden wins: params.hidden = 64" in result.report()
    assert "line    2: evaluated params.in = 3" in result.report()


def test_set_struct_fields_over_a_whole_struct_and_into_a_function_files_input():
    text = "cfg = struct('hidden', 64, 'in', 3);\ncfg.opt.k = 2;\nlayers = [sequenceInputLayer(cfg.in * cfg.opt.k) lstmLayer(cfg.hidden)];"
    result = read_script(text, workspace={"cfg.hidden": 7, "cfg.opt.k": 5})
    assert list(result.layers) == [sequenceInputLayer(15), lstmLayer(7)]
    assert "--set cfg.hidden, cfg.opt.k is put over the struct cfg assigned at line 1" in result.notes
    function_file = "function layers = makeNet(opts)\nlayers = [sequenceInputLayer(opts.in) lstmLayer(opts.hidden)];\nend"
    assert list(from_matlab(function_file, workspace={"opts.in": 2, "opts.hidden": 5})) == [sequenceInputLayer(2), lstmLayer(5)]
    with pytest.raises(MatlabError, match="'cfg' is given whole and 'cfg.hidden' as a field"):
        from_matlab(text, workspace={"cfg": 1, "cfg.hidden": 2})
    with pytest.raises(MatlabError, match="'cfg.2x' is not a MATLAB variable name"):
        from_matlab(text, workspace={"cfg.2x": 1})


def test_cli_set_a_struct_field(tmp_path, capsys):
    script = tmp_path / "train.m"
    script.write_text(STRUCT_SCRIPT)
    out = tmp_path / "net.onnx"
    assert main(["build", str(script), "-o", str(out), "--set", "params.hidden=96", "--set", "params.numClasses=4"]) == 0
    assert "note: --set params.hidden replaces the script's assignment at line 1" in capsys.readouterr().err
    assert parse_set("a.b.c=2")[0] == "a.b.c"
    with pytest.raises(SpecError, match="expected NAME=VALUE"):
        parse_set("a..b=2")


@pytest.mark.parametrize("literal,value", [
    ("100", np.array([[100.0]])), ("-2.5e1", np.array([[-25.0]])), ("[1 2 3]", np.array([[1.0, 2.0, 3.0]])),
    ("[1; 2]", np.array([[1.0], [2.0]])), ("'text'", "text"), ("true", np.array([[True]])), ("gru", "gru"),
])
def test_set_literals(literal, value):
    name, parsed = parse_set(f"x={literal}")
    assert name == "x" and type(parsed) is type(value) and np.array_equal(parsed, value)


def test_set_cell_and_string_literals_reach_the_layers():
    _, classes = parse_set("classes={'yes','no'}")
    _, name = parse_set('name="enc"')
    text = "layers = [sequenceInputLayer(2) lstmLayer(3, Name=name) fullyConnectedLayer(2) softmaxLayer classificationLayer(Classes=classes)];"
    assert list(from_matlab(text, workspace={"classes": classes, "name": name})) == [
        sequenceInputLayer(2), lstmLayer(3, Name="enc"), fullyConnectedLayer(2), softmaxLayer(), classificationLayer(Classes=["yes", "no"])]


@pytest.mark.parametrize("option,message", [
    ("x", "expected NAME=VALUE"), ("1x=3", "expected NAME=VALUE"), ("x=", "got nothing"),
    ("x=system('ls')", "expected a MATLAB literal"), ("x=[1 2", "expected a MATLAB literal"), ("x=a+1", "expected a MATLAB literal"),
])
def test_bad_set_options(option, message):
    with pytest.raises(SpecError, match=re.escape(message)):
        parse_set(option)


def test_variable_picks_an_array_and_the_default_names_the_others():
    text = "encoder = [sequenceInputLayer(3) lstmLayer(8)];\ndecoder = [sequenceInputLayer(8) lstmLayer(3)];"
    result = read_script(text)
    assert result.variable == "decoder" and list(result.layers) == [sequenceInputLayer(8), lstmLayer(3)]
    assert result.notes == ["layer arrays found: encoder (line 1), decoder (line 2); building 'decoder', the last one assigned "
                            "(choose another with --variable NAME)"]
    assert list(from_matlab(text, variable="encoder")) == [sequenceInputLayer(3), lstmLayer(8)]
    with pytest.raises(MatlabError, match=r"assigns no variable 'nope' \(layer arrays found: encoder, decoder\)"):
        from_matlab(text, variable="nope")
    with pytest.raises(MatlabError, match="'x' is not a layer array: it holds a number"):
        from_matlab("x = 3;" + text, variable="x")


# -- data ---------------------------------------------------------------------------------------------------------------------

SIZES_SCRIPT = """
load JapaneseVowelsTrain
numFeatures = size(XTrain{1},1);
numClasses = numel(categories(YTrain));
layers = [sequenceInputLayer(numFeatures) lstmLayer(100,'OutputMode','last') fullyConnectedLayer(numClasses) softmaxLayer classificationLayer];
"""


def test_mat_v5_cell_of_sequences_and_cellstr_labels(vowels):
    assert list(from_matlab(SIZES_SCRIPT, data=[vowels])) == CLASSIFIER


def test_mat_v73_with_numeric_labels(tmp_path):
    rng = np.random.default_rng(1)
    path = tmp_path / "JapaneseVowelsTrain.mat"
    write_v73(path, {"XTrain": cell([rng.standard_normal((12, 5)) for _ in range(4)], (1, 4)),
                     "YTrain": np.arange(1.0, 10.0).reshape(-1, 1)})
    assert list(from_matlab(SIZES_SCRIPT, data=[path])) == CLASSIFIER


def test_npz_numeric_matrices_and_string_labels(tmp_path):
    path = tmp_path / "train.npz"
    np.savez(path, X=np.zeros((30, 12)), Y=np.array([f"c{k % 9}" for k in range(30)]), counts=np.arange(5))
    text = "[~, numFeatures] = size(X);\nnumClasses = numel(unique(Y));\nm = max(counts) + sum(counts);\n" \
           "layers = [sequenceInputLayer(numFeatures) lstmLayer(m * 10) fullyConnectedLayer(numClasses)];"
    assert list(from_matlab(text, data=[path])) == [sequenceInputLayer(12), lstmLayer(140), fullyConnectedLayer(9)]
    assert read_npz(str(path))["counts"].tolist() == [0, 1, 2, 3, 4]


def test_npz_members_are_checked_before_reading(tmp_path):
    path = tmp_path / "objects.npz"
    np.savez(path, X=np.array([{"a": 1}], dtype=object))
    with pytest.raises(SpecError, match="holds Python objects, which lstm2onnx never unpickles"):
        from_matlab("layers = sequenceInputLayer(size(X, 1));", data=[path])
    big = tmp_path / "big.npz"
    np.savez(big, X=np.zeros(1000))
    with pytest.raises(SpecError, match="declares 1,000 elements of float64, more than the 100"):
        read_npz(str(big), max_elements=100)


def test_load_with_wildcard_names_binds_the_matching_variables(vowels):
    text = "S = load(path, 'XT*');\nlayers = sequenceInputLayer(size(S.XTrain{1}, 1) + 10 * numel(fieldnames(S)));"
    assert list(from_matlab(text, data=[vowels])) == [sequenceInputLayer(22)]  # S holds XTrain only
    text = "S = load(path, 'XTrain', 'Y*');\nlayers = sequenceInputLayer(numel(fieldnames(S)));"
    assert list(from_matlab(text, data=[vowels])) == [sequenceInputLayer(2)]


def test_load_forms_bind_from_the_data_files_only(vowels, tmp_path):
    for load in ["load JapaneseVowelsTrain", "load('JapaneseVowelsTrain.mat')", "load /somewhere/else/JapaneseVowelsTrain.mat XTrain YTrain",
                 "S = load('JapaneseVowelsTrain.mat'); XTrain = S.XTrain; YTrain = S.YTrain;",
                 "XTrain = load('JapaneseVowelsTrain.mat').XTrain; S = load('x.mat', 'YTrain'); YTrain = S.YTrain;",
                 "load(fullfile(dataFolder, 'JapaneseVowelsTrain.mat'))"]:
        assert list(from_matlab(SIZES_SCRIPT.replace("load JapaneseVowelsTrain", load), data=[vowels])) == CLASSIFIER, load
    with pytest.raises(MatlabError, match=re.escape("XTrain = S.XTrain (line 2) needs S, which comes from data "
                                                    "(load('JapaneseVowelsTrain.mat'), line 2;")):
        from_matlab(SIZES_SCRIPT.replace("load JapaneseVowelsTrain", "S = load('JapaneseVowelsTrain.mat'); XTrain = S.XTrain; YTrain = S.YTrain;"))


def test_a_value_from_missing_data_names_the_variable_statement_and_both_ways_out():
    with pytest.raises(MatlabError) as info:
        from_matlab(SIZES_SCRIPT)
    message = str(info.value)
    assert ("numFeatures = size(XTrain{1},1) (line 3) needs XTrain, which comes from data (load JapaneseVowelsTrain, line 2; "
            "lstm2onnx reads only files given with --data): pass --data FILE holding XTrain, "
            "or --set numFeatures=<value>") in message
    assert "numClasses = numel(categories(YTrain)) (line 4) needs YTrain" in message
    assert message.endswith("the layer array needs numClasses, numFeatures: give them directly with "
                            "--set numClasses=<value> --set numFeatures=<value>")
    assert [(line, column) for _, line, column in info.value.problems] == [(3, 20), (4, 31)]
    assert list(from_matlab(SIZES_SCRIPT, workspace={"numFeatures": 12, "numClasses": 9})) == CLASSIFIER


def test_opaque_categorical_labels_say_how_to_save_them():
    with pytest.raises(MatlabError, match=re.escape("categories needs the values of YTrain, a MATLAB categorical object")) as info:
        from_matlab(SIZES_SCRIPT.replace("load JapaneseVowelsTrain", "XTrain = {zeros(12, 3)};"),
                    workspace={"YTrain": Opaque("categorical")})
    assert "YTrain = cellstr(string(YTrain))" in str(info.value) and "--set numClasses=<value>" in str(info.value)
    assert (info.value.line, info.value.column) == (4, 31)


def test_a_categorical_object_in_a_v73_file_says_how_to_save_it(tmp_path):
    import h5py

    path = tmp_path / "labels.mat"
    write_v73(path, {"XTrain": np.zeros((12, 3))})
    with h5py.File(path, "a") as f:  # how MATLAB stores an object: a reference into its subsystem, decoded only by MATLAB
        stored = f.create_dataset("YTrain", data=np.array([[3707764736, 2, 1, 1, 1, 1]], dtype=np.uint32).T)
        stored.attrs["MATLAB_class"] = np.bytes_("categorical")
        stored.attrs["MATLAB_object_decode"] = np.int32(3)
    text = "load labels\nnumClasses = numel(categories(YTrain));\nlayers = [sequenceInputLayer(3) fullyConnectedLayer(numClasses)];"
    with pytest.raises(MatlabError, match=re.escape("YTrain, a MATLAB categorical object that only MATLAB can read: save its labels "
                                                    "as text, e.g. YTrain = cellstr(string(YTrain))")) as info:
        from_matlab(text, data=[path])
    assert (info.value.line, info.value.column) == (2, 31) and "or pass --set numClasses=<value>" in str(info.value)
    assert list(from_matlab(text, data=[path], workspace={"numClasses": 4})) == [sequenceInputLayer(3), fullyConnectedLayer(4)]


# -- real-world scripts ------------------------------------------------------------------------------------------------------------

JAPANESE_VOWELS = """
%% Sequence Classification Using Deep Learning (as written from MATLAB's example)
clear; clc; close all
rng default

load JapaneseVowelsTrain
% [XTrain,YTrain] = japaneseVowelsTrainData;

figure
plot(XTrain{1}')
xlabel("Time Step")
title("Training Observation 1")
numFeatures = size(XTrain{1},1);
legend("Feature " + string(1:numFeatures),Location="northeastoutside")

numObservations = numel(XTrain);
for i=1:numObservations
    sequence = XTrain{i};
    sequenceLengths(i) = size(sequence,2);
end
[sequenceLengths,idx] = sort(sequenceLengths);
XTrain = XTrain(idx);
YTrain = YTrain(idx);

figure
bar(sequenceLengths)
ylim([0 30])

inputSize = numFeatures;
numHiddenUnits = 100;
numClasses = numel(categories(YTrain));

layers = [ ...
    sequenceInputLayer(inputSize)
    bilstmLayer(numHiddenUnits,'OutputMode','last')
    fullyConnectedLayer(numClasses)
    softmaxLayer
    classificationLayer]

maxEpochs = 100;
miniBatchSize = 27;
options = trainingOptions('adam', ...
    'ExecutionEnvironment','cpu', ...
    'GradientThreshold',1, ...
    'MaxEpochs',maxEpochs, ...
    'MiniBatchSize',miniBatchSize, ...
    'SequenceLength','longest', ...
    'Shuffle','never', ...
    'Verbose',0, ...
    'Plots','training-progress');
net = trainNetwork(XTrain,YTrain,layers,options);

[XTest,YTest] = japaneseVowelsTestData;
YPred = classify(net,XTest,'MiniBatchSize',miniBatchSize,'SequenceLength','longest');
acc = sum(YPred == YTest)./numel(YTest)
fprintf('Accuracy: %.2f%%\\n', acc*100);
save net.mat net
"""
VOWELS_LAYERS = [sequenceInputLayer(12), bilstmLayer(100, OutputMode="last"), fullyConnectedLayer(9), softmaxLayer(), classificationLayer()]

WAVEFORM = """
load WaveformData
numChannels = size(data{1},2);
idx = [3 4 5 12];
figure
tiledlayout(2,2)
for i = 1:4
    nexttile
    stackedplot(data{idx(i)},DisplayLabels="Channel "+string(1:numChannels))
    xlabel("Time Step")
    title("Class: " + string(labels(idx(i))))
end
classNames = categories(labels)
numObservations = numel(data);
[idxTrain,idxValidation,idxTest] = trainingPartitions(numObservations,[0.8 0.1 0.1]);
XTrain = data(idxTrain);
TTrain = labels(idxTrain);
XValidation = data(idxValidation);
TValidation = labels(idxValidation);

numHiddenUnits = 120;
numClasses = numel(classNames);
layers = [
    sequenceInputLayer(numChannels)
    bilstmLayer(numHiddenUnits,OutputMode="last")
    fullyConnectedLayer(numClasses)
    softmaxLayer];
options = trainingOptions("adam", ...
    MaxEpochs=200, ...
    InitialLearnRate=0.002,...
    GradientThreshold=1, ...
    Shuffle="never", ...
    Plots="training-progress", ...
    Metrics="accuracy", ...
    Verbose=false);
net = trainnet(XTrain,TTrain,layers,"crossentropy",options);
scores = minibatchpredict(net,XTest);
YTest = scores2label(scores,classNames);
acc = mean(YTest == TTest)
figure
confusionchart(TTest,YTest)
"""

SEQ2SEQ_LAYERS = [sequenceInputLayer(14), lstmLayer(200), fullyConnectedLayer(50), dropoutLayer(0.5), fullyConnectedLayer(1), regressionLayer()]


def test_japanese_vowels_script_with_data(vowels):
    result = read_script(JAPANESE_VOWELS, data=[vowels])
    assert list(result.layers) == VOWELS_LAYERS
    report = result.report()
    for line in ["line    3: skipped   clear", "line   13: evaluated numFeatures = size(XTrain{1},1)",
                 "line   51: skipped   net = trainNetwork(XTrain,YTrain,layers,options)",
                 "line   53: skipped   [XTest,YTest] = japaneseVowelsTestData", "line   57: skipped   save"]:
        assert line in report, line
    assert "'layers' is a 5-layer array:" in report and "BiLSTM with 100 hidden units" in report


def test_japanese_vowels_script_with_set_only():
    assert list(from_matlab(JAPANESE_VOWELS, workspace={"inputSize": 12, "numClasses": 9})) == VOWELS_LAYERS


def test_waveform_script_with_data_and_with_set(tmp_path):
    rng = np.random.default_rng(2)
    path = tmp_path / "WaveformData.mat"
    scipy.io.savemat(path, {"data": cell([rng.standard_normal((int(rng.integers(50, 90)), 3)) for _ in range(16)]),
                            "labels": cell(["Sine", "Square", "Sawtooth", "Triangle"] * 4)})
    expected = [sequenceInputLayer(3), bilstmLayer(120, OutputMode="last"), fullyConnectedLayer(4), softmaxLayer()]
    assert list(from_matlab(WAVEFORM, data=[path])) == expected
    assert list(from_matlab(WAVEFORM, workspace={"numChannels": 3, "numClasses": 4})) == expected


def test_sequence_to_sequence_regression_script_with_data(tmp_path):
    rng = np.random.default_rng(3)
    x = cell([np.vstack([rng.standard_normal((14, 40)), np.ones((10, 40))]) for _ in range(6)])  # 10 constant rows removed
    y = cell([np.linspace(200, 0, 40).reshape(1, -1) for _ in range(6)])
    mat = tmp_path / "turbofan.mat"
    scipy.io.savemat(mat, {"XTrain": x, "YTrain": y})
    script = (pathlib.Path(__file__).parent / "scripts" / "turbofan_rul.m").read_text()
    result = read_script(script, data=[mat])  # constant rows removed in place: 24 - 10 = 14 features
    assert list(result.layers) == SEQ2SEQ_LAYERS
    assert result.notes == ["XTrain comes from the --data file (processTurboFanDataTrain(...) at line 6 is not run)",
                            "YTrain comes from the --data file (processTurboFanDataTrain(...) at line 6 is not run)"]
    with pytest.raises(MatlabError, match=r"needs XTrain, which comes from processTurboFanDataTrain\(\.\.\.\) \(line 6\), which "
                                          r"lstm2onnx does not evaluate"):
        from_matlab(script)


def test_the_built_script_network_matches_the_reference(vowels):
    net = initialize(from_matlab(JAPANESE_VOWELS, data=[vowels]), seed=0)
    batch = random_batch(np.random.default_rng(4), 5, 9, 12, ragged=True)
    (out,) = run(build(net, ragged=True), {"sequences": batch.padded, "sequence_lengths": batch.lengths}).values()
    assert_matches_reference(out, reference.predict(net, batch.sequences))


# -- function files --------------------------------------------------------------------------------------------------------------

FUNCTION_FILE = """function layers = createModel(inputSize, numClasses, numHiddenUnits)
%CREATEMODEL  The classifier: one LSTM and a softmax head.
if nargin < 3
    numHiddenUnits = 100;
end
disp("building")
layers = [sequenceInputLayer(inputSize)
    lstmLayer(numHiddenUnits, OutputMode="last")
    fullyConnectedLayer(numClasses)
    softmaxLayer
    classificationLayer];
end
"""


def test_function_file_inputs_come_from_set():
    result = read_script(FUNCTION_FILE, workspace={"inputSize": 12, "numClasses": 9})
    assert list(result.layers) == CLASSIFIER
    assert result.notes == ["function file: building layers = createModel(inputSize, numClasses, numHiddenUnits) "
                            "with inputSize, numClasses from --set"]
    assert list(from_matlab(FUNCTION_FILE, workspace={"inputSize": 12, "numClasses": 9, "numHiddenUnits": 5}))[1] == \
        lstmLayer(5, OutputMode="last")
    with pytest.raises(MatlabError, match=re.escape("needs numClasses, an input of createModel that is not given: "
                                                    "pass --set numClasses=<value>")):
        from_matlab(FUNCTION_FILE, workspace={"inputSize": 12})


ARGUMENTS_FILE = """function layers = makeNet(numFeatures, numHiddenUnits, opts)
arguments
    numFeatures (1,1) {mustBeInteger, mustBePositive}
    numHiddenUnits (1,1) {mustBeInteger} = 2 * numFeatures
    opts.Mode string {mustBeMember(opts.Mode, ["last", "sequence"])} = "last"
    opts.Name = "rnn"
end
arguments (Output)
    layers (:,1) nnet.cnn.layer.Layer
end
layers = [sequenceInputLayer(numFeatures) lstmLayer(numHiddenUnits, OutputMode=opts.Mode, Name=opts.Name)];
end
"""


def test_an_arguments_block_gives_defaults_for_inputs_not_given():
    assert list(from_matlab(ARGUMENTS_FILE, workspace={"numFeatures": 3})) == [
        sequenceInputLayer(3), lstmLayer(6, OutputMode="last", Name="rnn")]
    assert list(from_matlab(ARGUMENTS_FILE, workspace={"numFeatures": 3, "numHiddenUnits": 5, "opts.Mode": "sequence"})) == [
        sequenceInputLayer(3), lstmLayer(5, Name="rnn")]
    script = "layers = g(4);\nfunction y = g(a, b)\narguments\n  a double\n  b (1,1) double = a + 3\nend\ny = lstmLayer(a + b);\nend"
    assert list(from_matlab(script)) == [lstmLayer(11)]
    with pytest.raises(MatlabError, match="needs numFeatures, an input of makeNet that is not given"):
        from_matlab(ARGUMENTS_FILE)


def test_training_updates_do_not_redefine_the_layer_array():
    text = """layers = [sequenceInputLayer(3) lstmLayer(4)];
net = dlnetwork(layers);
for epoch = 1:10
    [loss, gradients] = dlfeval(@modelLoss, net, X, T);
    [net, avg, avgSq] = adamupdate(net, gradients, avg, avgSq, epoch);
end
net = trainnet(X, T, net, "mse", options);
"""
    result = read_script(text)
    assert result.variable == "net" and list(result.layers) == [sequenceInputLayer(3), lstmLayer(4)]
    assert [what for _, _, what in result.statements] == ["evaluated", "evaluated", "skipped", "skipped"]


def test_the_listing_says_which_statements_could_not_be_computed(tmp_path):
    """--verbose lists a statement the array depends on whose value could not be computed as 'not computed', not
    'evaluated', when the build still succeeds (here a later value comes from the --data file); a try whose catch
    handled the failure was computed."""
    path = tmp_path / "features.mat"
    cell = np.empty((2, 1), dtype=object)
    cell[0, 0], cell[1, 0] = np.zeros((3, 5)), np.zeros((3, 4))
    scipy.io.savemat(path, {"featuresAfter": cell})
    text = """load("features.mat");
idx = cvpartition(featureAll.label, 'holdout', 0.1);
featureTrain = featureAll(idx.training, :);
featuresAfter = helperExtractLabeledData(featureTrain, "After");
try
    numHiddenUnits = config.hidden;
catch
    numHiddenUnits = 8;
end
numChannels = size(featuresAfter{1}, 1);
layers = [sequenceInputLayer(numChannels) lstmLayer(numHiddenUnits)];
"""
    result = read_script(text, data=[path])
    assert list(result.layers) == [sequenceInputLayer(3), lstmLayer(8)]
    assert [what for _, _, what in result.statements] == [
        "evaluated", "not computed", "not computed", "evaluated", "evaluated", "evaluated", "evaluated"]


def test_a_layer_array_made_in_another_file_says_to_build_that_file():
    with pytest.raises(MatlabError, match=re.escape("lgraph = createLgraph(...) at line 2 calls createLgraph, which is not in this "
                                                    "file: build createLgraph.m itself")):
        from_matlab("numFeatures = 12;\nlgraph = createLgraph(numFeatures, 9);\nnet = trainNetwork(X, Y, lgraph, opts);")


# -- every problem at once -----------------------------------------------------------------------------------------------------------


def test_every_problem_is_reported_at_once_with_line_column_and_caret():
    text = """
numFeatures = size(XTrain{1},1);
h = myHelper(3);
layers = [sequenceInputLayer(numFeatures)
    myAttentionLayer(64)
    lstmLayer(h)
    customNormLayer
    fullyConnectedLayer(k, 'Name', 'fc']
"""
    with pytest.raises(MatlabError) as info:
        from_matlab(text)
    error = info.value
    assert str(error).startswith("6 problems stop the build:")
    assert [p[1:] for p in error.problems] == [(2, 20), (5, 5), (6, 15), (7, 5), (8, 25), (8, 40)]
    text_of = [p[0] for p in error.problems]
    assert "undefined variable 'XTrain' in numFeatures = size(XTrain{1},1) (line 2): pass --set XTrain=<value>" in text_of[0]
    assert "unsupported layer 'myAttentionLayer'" in text_of[1] and "unsupported layer 'customNormLayer'" in text_of[3]
    assert "needs h, which comes from myHelper(...) (line 3), which lstm2onnx does not evaluate" in text_of[2]
    assert "undefined variable 'k'" in text_of[4]
    assert text_of[5].startswith("line 8, column 40: ']' closes '('")
    assert "\n          fullyConnectedLayer(k, 'Name', 'fc']\n" + " " * 45 + "^" in str(error)


def test_unsupported_layers_and_unresolved_names_together():
    text = """
layers = [sequenceInputLayer(3)
    myAttentionLayer(64)
    lstmLayer(h)
    customNormLayer
    fullyConnectedLayer(2)];
"""
    with pytest.raises(MatlabError) as info:
        from_matlab(text)
    error = info.value
    assert str(error).startswith("3 problems stop the build:")
    assert [(line, column) for _, line, column in error.problems] == [(3, 5), (4, 15), (5, 5)]
    assert "unsupported layer 'myAttentionLayer' (not a built-in MATLAB layer lstm2onnx knows)" in str(error)
    assert "undefined variable 'h'" in str(error)
    assert "unsupported layer 'customNormLayer'" in str(error)
    assert "          myAttentionLayer(64)\n          ^" in str(error)


def test_the_report_is_capped_at_20():
    text = "layers = [" + " ".join(f"custom{k}Layer" for k in range(30)) + "];"
    with pytest.raises(MatlabError) as info:
        from_matlab(text)
    assert str(info.value).startswith("30 problems stop the build:") and "... and 10 more" in str(info.value)
    assert str(info.value).count("unsupported layer") == 20


def test_unneeded_statements_that_fail_are_skipped_lazily():
    text = """
x = cellfun(@(s) size(s, 2), XTrain, 'UniformOutput', false);
y = undefinedFunction(z{3});
w = [1 2; 3];          % would fail if evaluated
q = (((;               % cannot even be parsed
while true, k = k + 1; end
try
    error('boom');
catch err
    disp(err.message)
end
layers = [sequenceInputLayer(4) lstmLayer(8)];
"""
    result = read_script(text)
    assert list(result.layers) == [sequenceInputLayer(4), lstmLayer(8)]
    assert [what for _, _, what in result.statements].count("skipped") == 6


# -- the command line --------------------------------------------------------------------------------------------------------------


def test_cli_build_with_data_set_variable_and_verbose(tmp_path, vowels, capsys):
    script = tmp_path / "train.m"
    script.write_text(JAPANESE_VOWELS + "\nsmall = [sequenceInputLayer(numFeatures) lstmLayer(4)];\n")
    out = tmp_path / "net.onnx"
    assert main(["build", str(script), "-o", str(out), "--data", str(vowels), "--variable", "layers", "--verbose"]) == 0
    captured = capsys.readouterr()
    assert "line   13: evaluated numFeatures = size(XTrain{1},1)" in captured.out and out.exists()
    assert main(["build", str(script), "-o", str(out), "--set", "numFeatures=12", "--set", "numClasses=9"]) == 0
    captured = capsys.readouterr()
    assert "note: layer arrays found: layers (line 33), small (line 59); building 'small'" in captured.err
    assert "note: --set numFeatures replaces the script's assignment at line 13" in captured.err


def test_cli_build_reports_every_problem_and_writes_nothing(tmp_path, capsys):
    script = tmp_path / "train.m"
    script.write_text(SIZES_SCRIPT)
    out = tmp_path / "net.onnx"
    assert main(["build", str(script), "-o", str(out)]) == 1
    err = capsys.readouterr().err
    assert "2 problems stop the build:" in err and "--set numFeatures=<value>" in err and not out.exists()
    assert main(["build", str(script), "-o", str(out), "--set", "numFeatures=[1 2"]) == 1
    assert "--set numFeatures: expected a MATLAB literal" in capsys.readouterr().err
    spec = tmp_path / "net.json"
    spec.write_text('[{"type": "sequenceInputLayer", "InputSize": 3}]')
    assert main(["build", str(spec), "-o", str(out), "--set", "x=1"]) == 1
    assert "--set, --data, --variable and --verbose are for MATLAB scripts" in capsys.readouterr().err
    assert not out.exists()


def test_workspace_values_are_checked():
    with pytest.raises(MatlabError, match="'2x' is not a MATLAB variable name"):
        from_matlab("layers = lstmLayer(3);", workspace={"2x": 1})
    text = "layers = [sequenceInputLayer(2) fullyConnectedLayer(numel(c)) softmaxLayer classificationLayer(Classes=c)];"
    layers = from_matlab(text, workspace={"c": ["a", "b"]})
    assert layers[-1] == classificationLayer(Classes=["a", "b"])


# -- fuzzing the whole interpreter -------------------------------------------------------------------------------------------------

SCRIPT_ALPHABET = st.sampled_from(
    list("[](){}'\";,.%=+-*/^:~@ \n0123456789") + ["...", "%{\n", "\n%}\n", "for i = 1:3\n", "if x\n", "elseif y\n", "else\n",
                                                  "switch s\n", "case 1\n", "otherwise\n", "while n < 3\n", "try\n", "catch e\n",
                                                  "end\n", "function y = f(x)\n", "break\n", "return\n", "load d\n", "hold on\n",
                                                  "layers", "x", "n", "c{1}", "s.f", "end", "lstmLayer(3)", "sequenceInputLayer(2)",
                                                  "layers(end+1) = ", "[layers; ", "size(", "numel(", "opts{:}", "fooLayer"])


@settings(max_examples=300, deadline=None, derandomize=True, suppress_health_check=[HealthCheck.too_slow])
@given(pieces=st.lists(SCRIPT_ALPHABET, max_size=50))
def test_fuzz_script_soup_gives_only_matlab_errors(pieces):
    text = "".join(pieces)
    start = time.process_time()
    try:
        from_matlab(text, workspace={"x": 1, "s": "a"})
    except MatlabError:
        pass
    assert time.process_time() - start < 2.0


# -- random draws: randperm, cvpartition, rand -------------------------------------------------------------------------------------

RANDOM_SPLIT = """
load data
rng(42)
idx = randperm(numel(X));
numTrain = floor(0.8 * numel(X));
XTrain = X(idx(1:numTrain));
YTrain = Y(idx(1:numTrain));
cv = cvpartition(Y, 'HoldOut', 0.25);
XVal = X(test(cv));
numFeatures = size(XTrain{1}, 1);
numClasses = numel(categories(YTrain));
layers = [sequenceInputLayer(numFeatures) lstmLayer(numel(XVal)) fullyConnectedLayer(numClasses)];
"""


@pytest.fixture
def labelled(tmp_path):
    """100 sequences of 7 features, labels sorted by class (25 each): a split that missed a class would show."""
    rng = np.random.default_rng(5)
    path = tmp_path / "data.mat"
    scipy.io.savemat(path, {"X": cell([rng.standard_normal((7, int(rng.integers(5, 12)))) for _ in range(100)]),
                            "Y": cell([["a", "b", "c", "d"][k // 25] for k in range(100)])})
    return path


def test_randperm_and_cvpartition_are_fixed_draws_with_matlabs_sizes(labelled):
    result = read_script(RANDOM_SPLIT, data=[labelled])
    assert list(result.layers) == [sequenceInputLayer(7), lstmLayer(25), fullyConnectedLayer(4)]
    assert result.notes == ["random draws replaced by fixed ones: randperm (line 4), cvpartition (line 8); only the sizes they "
                            "lead to (feature and class counts) are meaningful, not which observations they pick"]
    again = read_script(RANDOM_SPLIT, data=[labelled])
    assert list(again.layers) == list(result.layers)


@pytest.mark.parametrize("expression,expected", [
    ("c = cvpartition(100, 'HoldOut', 0.2); v = [c.TestSize c.TrainSize c.NumTestSets c.NumObservations];", [20, 80, 1, 100]),
    ("c = cvpartition(10, 'HoldOut', 0.25); v = [c.TestSize sum(test(c)) sum(training(c))];", [3, 3, 7]),  # round(2.5) = 3
    ("c = cvpartition(50, 'Holdout', 7); v = [sum(test(c)) size(training(c))];", [7, 50, 1]),
    ("c = cvpartition(10, 'KFold', 3); v = [c.TestSize c.NumTestSets sum(test(c, 1) & test(c, 2))];", [4, 3, 3, 3, 0]),
    ("c = cvpartition({'a','a','a','a','b','b','b','b'}, 'HoldOut', 0.5); y = {'a','a','a','a','b','b','b','b'};"
     " v = [sum(strcmp(y(test(c)), 'a')) sum(strcmp(y(test(c)), 'b'))];", [2, 2]),  # stratified by the labels
    ("c = cvpartition(6, 'Leaveout'); v = [c.NumTestSets c.TestSize(1)];", [6, 1]),
    ("c = cvpartition(6, 'Resubstitution'); v = [c.TrainSize sum(training(c)) sum(test(c))];", [6, 6, 6]),
    ("p = randperm(10); v = [sort(p) numel(randperm(10, 3)) numel(unique(randperm(10, 3)))];", list(range(1, 11)) + [3, 3]),
    ("v = [size(rand(3)) size(randn(2, 5)) size(randi(4, 1, 6)) all(randi([2 3], 1, 50) >= 2)];", [3, 3, 2, 5, 1, 6, 1]),
])
def test_random_draw_functions(expression, expected):
    text = expression + "\nlayers = fullyConnectedLayer(sum(v .* (1:numel(v))));"
    total = sum(value * (k + 1) for k, value in enumerate(expected))
    assert list(from_matlab(text)) == [fullyConnectedLayer(total)]


@pytest.mark.parametrize("text,message", [
    ("v = cvpartition(10, 'HoldOut', 1.5);", "HoldOut must be a fraction in (0, 1) or an integer from 1 to n-1, got 1.5"),
    ("v = cvpartition(10, 'HoldOut', 10);", "HoldOut must be a fraction in (0, 1) or an integer from 1 to n-1, got 10"),
    ("v = cvpartition(10, 'KFold', 11);", "KFold must be at most the number of observations (10), got 11"),
    ("v = cvpartition(10, 'Bogus', 1);", "unknown option 'bogus'"),
    ("c = cvpartition(10, 'KFold', 2); v = test(c, 3);", "test: test set 3 does not exist (the partition has 2)"),
    ("c = cvpartition(10, 'KFold', 2); v = c.Nope;", "a cvpartition has no property 'Nope'"),
    ("v = training(5);", "training needs a cvpartition, got a number"),
    ("v = randperm(3, 4);", "randperm: k (4) must be at most n (3)"),
])
def test_random_draw_errors(text, message):
    with pytest.raises(MatlabError, match=re.escape(message)):
        from_matlab(text + "\nlayers = fullyConnectedLayer(numel(v));")


def test_random_draws_are_sized_before_they_are_made():
    for text in ["p = randperm(1e9);", "r = rand(1e5);", "c = cvpartition(1e8, 'KFold', 10);"]:
        start = time.process_time()
        with pytest.raises(MatlabError, match="too large"):
            from_matlab(text + "\nlayers = fullyConnectedLayer(2);\nlayers(end+1) = fullyConnectedLayer(numel(" + text[0] + "));")
        assert time.process_time() - start < 1.0


def test_a_failure_whose_value_is_replaced_later_is_not_reported(tmp_path):
    path = tmp_path / "labels.npz"
    np.savez(path, Y=np.array(["a", "b", "c", "a"]))
    text = "T = readtable('x.csv');\nY = T.Label;\nlayers = fullyConnectedLayer(numel(categories(Y)));"
    result = read_script(text, data=[path])
    assert list(result.layers) == [fullyConnectedLayer(3)]
    assert result.notes == ["Y comes from the --data file (Y = T.Label at line 2 is not evaluated: it needs T)"]
    text = "k = undefinedThing + 1;\nif true\n  k = 4;\nend\nlayers = fullyConnectedLayer(k);"  # evaluated, then replaced
    assert list(from_matlab(text)) == [fullyConnectedLayer(4)]
    with pytest.raises(MatlabError, match="undefined variable 'undefinedThing'"):
        from_matlab("k = undefinedThing + 1;\nlayers = fullyConnectedLayer(k);")


def test_training_partitions_of_mathworks_examples_split_as_the_supporting_function_does(tmp_path):
    rng = np.random.default_rng(6)
    path = tmp_path / "WaveformData.mat"
    scipy.io.savemat(path, {"data": cell([rng.standard_normal((3, 20)) for _ in range(25)]),
                            "labels": cell([["Sine", "Square"][k % 2] for k in range(25)])})
    text = """load WaveformData
numObservations = numel(data);
[idxTrain,idxValidation,idxTest] = trainingPartitions(numObservations,[0.8 0.1 0.1]);
XTrain = data(idxTrain);
TTrain = labels(idxTrain);
numChannels = size(XTrain{1},1);
layers = [sequenceInputLayer(numChannels) lstmLayer(numel(idxTrain) * 100 + numel(idxValidation) * 10 + numel(idxTest))
          fullyConnectedLayer(numel(categories(TTrain)))];"""
    result = read_script(text, data=[path])  # floor(0.8*25) = 20, floor(0.1*25) = 2, the rest 3
    assert list(result.layers) == [sequenceInputLayer(3), lstmLayer(2023), fullyConnectedLayer(2)]
    assert result.notes == ["random draws replaced by fixed ones: trainingPartitions (line 3); only the sizes they lead to "
                            "(feature and class counts) are meaningful, not which observations they pick"]
    local = text + "\nfunction [a, b, c] = trainingPartitions(n, ~)\na = 1:n; b = 1; c = 2;\nend"  # the file's own wins
    assert list(read_script(local, data=[path]).layers)[1] == lstmLayer(2511)


def test_double_of_opaque_categorical_labels_says_how_to_save_them():
    text = "numClasses = max(double(YTrain));\nlayers = [sequenceInputLayer(3) fullyConnectedLayer(numClasses)];"
    with pytest.raises(MatlabError, match=re.escape("double needs the values of YTrain, a MATLAB categorical object that only "
                                                    "MATLAB can read: save its labels as text, e.g. YTrain = cellstr(string(YTrain))")) as info:
        from_matlab(text, workspace={"YTrain": Opaque("categorical")})
    assert str(info.value).endswith("give them directly with --set numClasses=<value>")
    text = "Y = double(YTrain);\nnumClasses = numel(unique(Y));\nlayers = [sequenceInputLayer(3) fullyConnectedLayer(numClasses)];"
    with pytest.raises(MatlabError) as info:
        from_matlab(text, workspace={"YTrain": Opaque("categorical")})
    assert "or --set numClasses=<value> (what the layer array reads)" in info.value.problems[0][0]  # not --set Y
    assert list(from_matlab(text, workspace={"YTrain": ["b", "a", "c", "a"]})) == [sequenceInputLayer(3), fullyConnectedLayer(3)]


def test_a_value_deep_in_a_chain_suggests_setting_what_the_layer_array_reads():
    text = ("[Signals, Labels] = segmentSignals(raw);\nafibX = Signals(Labels == 'A');\nX = [afibX; afibX];\n"
            "feats = cellfun(@(x) [x; x], X, 'UniformOutput', false);\nnumFeatures = size(feats{1}, 1);\n"
            "layers = [sequenceInputLayer(numFeatures) bilstmLayer(10, 'OutputMode', 'last') fullyConnectedLayer(2)];")
    with pytest.raises(MatlabError) as info:
        from_matlab(text)
    first = info.value.problems[0][0]
    assert "afibX = Signals(Labels == 'A') (line 2) needs Signals, which comes from segmentSignals(...) (line 1)" in first
    assert first.split("\n")[0].endswith("pass --data FILE holding Signals, or --set numFeatures=<value> (what the layer array reads)")
    assert str(info.value).endswith("the layer array needs numFeatures: give them directly with --set numFeatures=<value>")
    assert list(from_matlab(text, workspace={"numFeatures": 2}))[0] == sequenceInputLayer(2)


def test_file_readers_and_text_loads_say_the_value_comes_from_data(tmp_path):
    text = ("T = readtable('load.csv');\nv = table2array(T);\nx = load('Data/laser.dat');\n"
            "layers = [sequenceInputLayer(size(v, 2) + size(x, 1)) lstmLayer(4)];")
    with pytest.raises(MatlabError) as info:
        from_matlab(text)
    message = str(info.value)
    assert ("v = table2array(T) (line 2) needs T, which comes from readtable(...) (line 1), which reads a file: lstm2onnx "
            "reads no file but those given with --data: pass --data FILE holding T") in message
    assert "comes from data (load('Data/laser.dat'), line 3; lstm2onnx reads only files given with --data)" in message
    path = tmp_path / "d.npz"  # x = load('file.dat') is the matrix of the text file: the --data file's x stands for it
    np.savez(path, T=np.zeros((5, 3)), x=np.zeros((2, 1)))
    assert list(from_matlab(text, data=[path]))[0] == sequenceInputLayer(5)


@pytest.mark.parametrize("text,words", [
    ("function layers = f(n)\n  layers = lstmLayer(n);\nendfunction", ["endfunction"]),
    ("n = 4;\nfor k = 1:2\n  n = n + 1;\nendfor\nif n > 3 % big\n  n = 5;\nendif\nlayers = lstmLayer(n);", ["endfor", "endif"]),
    ("while false\nendwhile;\nswitch 1\n  case 1\nendswitch\nlayers = lstmLayer(2);", ["endwhile", "endswitch"]),
])
def test_octave_block_ends_are_named_as_octave(text, words):
    with pytest.raises(MatlabError) as info:
        from_matlab(text)
    assert [message.split(":")[1].strip() for message, _, _ in info.value.problems] == [
        f"'{word}' is Octave, not MATLAB" for word in words]
    assert "MATLAB ends every block with 'end'" in str(info.value)


def test_a_nested_function_is_not_called_without_its_parent():
    text = "layers = lstmLayer(inner(2));\nfunction L = make(n)\n  k = n;\n  function v = inner(a)\n    v = k + a;\n  end\nend"
    with pytest.raises(MatlabError, match="undefined variable 'k'"):
        from_matlab(text)


def test_set_wins_in_the_script_not_inside_the_functions_it_calls():
    text = "n = 3;\nlayers = lstmLayer(f(5));\nfunction y = f(n)\n  n = n * 2;\n  y = n + 1;\nend"
    result = read_script(text, workspace={"n": 100})
    assert list(result.layers) == [lstmLayer(11)]  # f's own n: 5 * 2 + 1
    assert result.notes == ["--set n replaces the script's assignment at line 1"]
    text = "p.k = 1;\nlayers = lstmLayer(g(p));\nfunction y = g(p)\n  p.k = p.k + 10;\n  y = p.k;\nend"
    assert list(from_matlab(text, workspace={"p.k": 4})) == [lstmLayer(14)]


def test_file_tests_are_false_with_a_note():
    result = read_script("if ~exist('trainedNet.mat', 'file')\n  layers = lstmLayer(5);\nelse\n  load trainedNet.mat\nend")
    assert list(result.layers) == [lstmLayer(5)]
    assert "exist('trainedNet.mat', 'file') at line 1 is taken as false: lstm2onnx sees no files" in result.notes[0]


@pytest.mark.parametrize("text,message,column", [
    ("n = 3;\nn += 1;\nlayers = lstmLayer(n);", "'+=' is Octave, not MATLAB: write n = n + ...", 1),
    ("n = 3;\nif n != 2\n  n = 4;\nend\nlayers = lstmLayer(n);", "'!=' is Octave, not MATLAB: write '~='", 6),
    ("n = 3;\nm = f(n*=2);\nlayers = lstmLayer(n);", "'*=' is Octave, not MATLAB: write x = x * ...", 8),
])
def test_octave_operators_are_named_as_octave(text, message, column):
    with pytest.raises(MatlabError, match=re.escape(message)) as info:
        from_matlab(text)
    assert (info.value.line, info.value.column) == (2, column)


def test_octave_words_used_as_names_are_plain_matlab():
    assert list(from_matlab("endfor = 3; layers = lstmLayer(endfor + 1);")) == [lstmLayer(4)]


def test_a_function_file_whose_first_output_is_not_the_layers_builds_the_array_it_assigns():
    text = ("function [net, info] = trainIt(numFeatures)\nlayers = [sequenceInputLayer(numFeatures) lstmLayer(8)];\n"
            "opts.layers = layers;\n[net, info] = trainNetwork(X, Y, layers, opts);\nend")
    result = read_script(text, workspace={"numFeatures": 3})
    assert list(result.layers) == [sequenceInputLayer(3), lstmLayer(8)] and result.variable == "layers"
    assert any("the first output of trainIt, net, is not a layer array: building 'layers'" in n for n in result.notes)
    trained = read_script(text, workspace={"numFeatures": 3}, variable="net")  # the trained network has those layers
    assert list(trained.layers) == list(result.layers)
    with pytest.raises(MatlabError, match=re.escape("'info' comes from trainNetwork(...) (line 4), which lstm2onnx never runs")):
        read_script(text, workspace={"numFeatures": 3}, variable="info")


@pytest.mark.parametrize("text,message", [
    ("classdef M\n  properties\n    n = 3\n  end\n  methods\n    function obj = M()\n    end\n  end\nend",
     "classdef M: no method assigns a layer array"),
    ("classdef M\n  methods\n    function L = make(obj)\n      L = lstmLayer(4);\n    end\n  end\n", "classdef M is never closed with 'end'"),
])
def test_classdef_errors(text, message):
    with pytest.raises(MatlabError, match=re.escape(message)):
        from_matlab(text)


def test_classdef_methods_and_property_defaults():
    text = ("classdef Model < handle\n  properties (Access = public)\n    hidden = 2 * 8\n    classes\n  end\n"
            "  events\n    Trained\n  end\n  methods (Static)\n    function n = twice(k)\n      n = 2 * k;\n    end\n  end\n"
            "  methods\n    function layers = build(obj)\n      layers = [lstmLayer(obj.hidden) fullyConnectedLayer(Model.twice(obj.classes))];\n"
            "    end\n  end\nend")
    with pytest.raises(MatlabError):
        from_matlab(text, workspace={"obj.classes": 3})  # Model.twice: a static call through the class is not modelled
    text = text.replace("Model.twice(obj.classes)", "twice(obj.classes)")
    assert list(from_matlab(text, workspace={"obj.classes": 3})) == [lstmLayer(16), fullyConnectedLayer(6)]
    assert list(from_matlab(text, workspace={"obj": {"classes": 2, "hidden": 5}})) == [lstmLayer(5), fullyConnectedLayer(4)]
