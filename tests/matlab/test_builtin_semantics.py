"""The script interpreter's builtins where numpy's defaults differ from MATLAB's.

Each case is a statement in a small script and the value MATLAB gives for it,
with the MATLAB documentation (or MathWorks staff answer, or MATLAB's own
function source) that states it. The value is read from the interpreter's
workspace after the script ran, so shapes (1x0 vs 0x0, row vs column) are
checked exactly, NaN included.
"""

from __future__ import annotations

import numpy as np
import pytest

from lstm2onnx.matlab import script
from lstm2onnx.matlab.workspace import Cell, Strings

NAN = np.nan


def evaluate(monkeypatch: pytest.MonkeyPatch, statements: str, names: tuple[str, ...]) -> list:
    """Run ``statements`` in a script whose layer array needs ``names``; their values from its workspace."""
    made: list[script.Evaluator] = []

    class Recording(script.Evaluator):
        def __init__(self, *args, **kwargs) -> None:
            super().__init__(*args, **kwargs)
            made.append(self)

    monkeypatch.setattr(script, "Evaluator", Recording)
    uses = " + ".join(f"0 * numel({name})" for name in names)
    script.read_script(f"{statements}\nlayers = sequenceInputLayer(1 + {uses});")
    return [made[-1].last_values[name] for name in names]


def same(value, expected) -> bool:
    if isinstance(expected, np.ndarray):
        return isinstance(value, np.ndarray) and value.shape == expected.shape and bool(
            np.array_equal(value.astype(float), expected, equal_nan=True))
    if isinstance(expected, (Cell, Strings)):
        return type(value) is type(expected) and value.data.shape == expected.data.shape and \
            value.data.tolist() == expected.data.tolist()
    return value == expected


def m(*rows) -> np.ndarray:
    """A MATLAB matrix literal: m([1, 2], [3, 4]) is [1 2; 3 4]."""
    return np.array(rows, dtype=float)


def cell(*rows) -> Cell:
    data = np.empty((len(rows), len(rows[0])), dtype=object)
    for i, row in enumerate(rows):
        for j, item in enumerate(row):
            data[i, j] = item
    return Cell(data)


MAX = "https://www.mathworks.com/matlabcentral/fileexchange/44702: 'max and min ignore them. ... max(3, NaN) and max([3 NaN]) return 3'"
MAX_DOC = "max doc (R2021a): '[M,I] = max(___) also returns the index'; 'If all elements are NaN, then max returns the first one'"
MAX_EMPTY = "max doc (R2021a): 'If A is an empty array whose first dimension has zero length, then max(A) returns an empty array with the same size as A'"
SUM_EMPTY = "MATLAB Answers 1647265 (Steven Lord): 'sum(zeros(0,0)) ans = 0 ... This is a special case'; Answers 2014321: prod([]) ans = 1"
MEDIAN = "median doc: 'If A is an empty 0-by-0 matrix, median(A) returns NaN'"
ANY = "any doc: 'any ignores entries that are NaN'; MATLAB Answers 2097751: A = nan(1,3); all(A) is 1, any(A) is 0"
LINSPACE = ("linspace doc: 'If n is 1, linspace returns x2. If n is zero or negative, linspace returns an empty 1-by-0 "
            "matrix. If n is not an integer, linspace rounds down and returns floor(n) points'")
SORT = "sort help: MissingPlacement 'auto' (default) 'Places missing elements last for ascending sort and first for descending sort'"
SORT_DIM = "sort doc: 'if A is a matrix, then sort(A,2) sorts the elements of each row'"
UNIQUE = "unique doc (zh): because NaN values are not equal to each other, unique([1 1 NaN NaN]) is [1 NaN NaN]"
ZEROS = "zeros help: 'If any trailing dimensions greater than 2 have a size of 1, then the output, X, does not include those dimensions'"
SPRINTF = ("sprintf doc: 'If you apply a text conversion (either %c or %s) to an integer value, MATLAB converts values that "
           "correspond to valid character codes to characters'; '... a text conversion for a numeric value, MATLAB overrides "
           "the specified conversion, and uses %e'")
NUM2STR = ("MATLAB's num2str.m: non-integers use '%<d+7>.<d>g' with d = min(12, max(1, floor(log10(max(abs(x))))+1)) + 4, "
           "leading blanks removed; num2str doc: num2str(pi) is '3.1416'")
STR2DOUBLE = ("str2double doc: 'Text that represents a number can contain digits, a comma (thousands separator), a decimal "
              "point, a leading + or - sign, an e preceding a power of 10 scale factor'; X = str2double('1,200.34') is 1.2003e+03")
STRCAT = ("strcat doc: 'For character array inputs, strcat removes trailing ASCII whitespace characters ... For cell array "
          "and string array inputs, strcat does not remove trailing white space'")
SCALAR_INDEX = "Octave's (MATLAB-compatible) indexing doc: 'Indexing a scalar with a vector of ones ... a vector the same size as the index vector'"

CASES = [
    # max/min: NaN left out, the first extreme's index, [] / dim / 'all', empty slices
    ("[v, i] = max([3 NaN 5 5]);", ("v", "i"), (m([5]), m([3])), MAX),
    ("[v, i] = min([2 NaN 1]);", ("v", "i"), (m([1]), m([3])), MAX),
    ("[v, i] = max([NaN NaN]);", ("v", "i"), (m([NAN]), m([1])), MAX_DOC),
    ("v = max([1 NaN], 0);", ("v",), (m([1, 0]),), MAX),
    ("v = max([1 NaN; NaN NaN]);", ("v",), (m([1, NAN]),), MAX),
    ("[v, i] = max([NaN -Inf]);", ("v", "i"), (m([-np.inf]), m([2])), MAX),
    ("[v, i] = max([1 NaN 3], [], 'includenan');", ("v", "i"), (m([NAN]), m([2])), "max doc: 'includenan'"),
    ("v = max([1 5; 7 2], [], 'all');", ("v",), (m([7]),), "max doc: 'M = max(A,[],'all') finds the maximum over all elements'"),
    ("v = max(zeros(0, 3));", ("v",), (np.zeros((0, 3)),), MAX_EMPTY),
    ("v = max([]);", ("v",), (np.zeros((0, 0)),), MAX_EMPTY),
    # reductions of [] (0x0): MATLAB's special case
    ("v = sum([]);", ("v",), (m([0]),), SUM_EMPTY),
    ("v = prod([]);", ("v",), (m([1]),), SUM_EMPTY),
    ("v = sum(zeros(2, 0));", ("v",), (np.zeros((1, 0)),), SUM_EMPTY),
    ("v = mean([]);", ("v",), (m([NAN]),), "mean doc: 'If A is an empty 0-by-0 matrix, mean(A) returns NaN'"),
    ("v = std([]);", ("v",), (m([NAN]),), "std doc: a 0-by-0 empty array gives NaN"),
    ("v = median([]);", ("v",), (m([NAN]),), MEDIAN),
    ("v = median(zeros(0, 3));", ("v",), (m([NAN, NAN, NAN]),), MEDIAN),
    ("v = mode([]);", ("v",), (m([NAN]),), "mode doc: 'If A is an empty 0-by-0 matrix, mode(A) returns NaN'"),
    # any/all
    ("v = any([NaN 0]);", ("v",), (m([0]),), ANY),
    ("v = all([NaN NaN NaN]);", ("v",), (m([1]),), ANY),
    ("v = all(zeros(0, 3));", ("v",), (m([1, 1, 1]),), "all along dimension 1 of a 0x3 array: a 1x3 result"),
    ("v = any(zeros(0, 3));", ("v",), (m([0, 0, 0]),), "any along dimension 1 of a 0x3 array: a 1x3 result"),
    ("v = any([]);", ("v",), (m([0]),), "MATLAB Answers discussion 887378: any([]) ans = logical 0"),
    ("v = all([]);", ("v",), (m([1]),), "MATLAB Answers discussion 887378: all([]) ans = logical 1"),
    # cumsum along a dimension the array does not have
    ("v = cumsum([1 2 3], 3);", ("v",), (m([1, 2, 3]),), "cumsum doc: cumsum(A, dim) with dim > ndims(A) returns A"),
    # sizes: trailing singleton dimensions dropped
    ("v = size(zeros(2, 3, 1));", ("v",), (m([2, 3]),), ZEROS),
    ("v = ndims(ones(2, 3, 1, 1));", ("v",), (m([2]),), ZEROS),
    # linspace
    ("v = linspace(0, 1, 1);", ("v",), (m([1]),), LINSPACE),
    ("v = linspace(0, 1, 0);", ("v",), (np.zeros((1, 0)),), LINSPACE),
    ("v = linspace(0, 1, 2.5);", ("v",), (m([0, 1]),), LINSPACE),
    # sort
    ("[v, i] = sort([3 NaN 1 Inf 2], 'descend');", ("v", "i"), (m([NAN, np.inf, 3, 2, 1]), m([2, 4, 1, 5, 3])), SORT),
    ("[v, i] = sort([3 NaN 1 2]);", ("v", "i"), (m([1, 2, 3, NAN]), m([3, 4, 1, 2])), SORT),
    ("v = sort([1 3 2], \"descend\");", ("v",), (m([3, 2, 1]),), "sort doc: direction 'descend' (a string scalar too)"),
    ("v = sort([3 1; 2 4], 2);", ("v",), (m([1, 3], [2, 4]),), SORT_DIM),
    ("[v, i] = sort([3 1; 2 4], 2, 'descend');", ("v", "i"), (m([3, 1], [4, 2]), m([1, 2], [2, 1])), SORT_DIM),
    # unique: NaN values distinct, last
    ("[v, ia, ic] = unique([NaN 2 NaN 1]);", ("v", "ia", "ic"),
     (m([1, 2, NAN, NAN]), m([4], [2], [1], [3]), m([3], [2], [4], [1])), UNIQUE),
    # text
    ("v = sprintf('%s', 65);", ("v",), ("A",), SPRINTF),
    ("v = sprintf('%s|%c', 2.5, 72);", ("v",), ("2.500000e+00|H",), SPRINTF),
    ("v = num2str(123456.789);", ("v",), ("123456.789",), NUM2STR),
    ("v = num2str(pi);", ("v",), ("3.1416",), NUM2STR),
    ("v = num2str([1.5 2 3]);", ("v",), ("1.5           2           3",), NUM2STR),
    ("v = num2str([10 2]);", ("v",), ("10   2",), "num2str of whole numbers: int2str's columns, 2 blanks wider than the widest"),
    ("v = num2str(pi, 8);", ("v",), ("3.1415927",), "num2str doc: num2str(pi, 8) is '3.1415927'"),
    ("v = str2double('1,200.34');", ("v",), (m([1200.34]),), STR2DOUBLE),
    ("v = str2double('1_000');", ("v",), (m([NAN]),), STR2DOUBLE + " (an underscore is none of these)"),
    ("v = str2double({'1', 'x'; '-Inf', '.5'});", ("v",), (m([1, NAN], [-np.inf, 0.5]),), STR2DOUBLE),
    ("v = str2double(5);", ("v",), (m([NAN]),), "str2double doc: 'If str2double cannot convert text to a number, then it returns a NaN value'"),
    ("v = strcat({'a '}, 'b ');", ("v",), (cell(["a b"]),), STRCAT),
    ("v = strcat('a ', sprintf('b\\t'));", ("v",), ("ab",), STRCAT),
    # indexing a scalar with a column
    ("a = 5; v = a([1 1 1]');", ("v",), (m([5], [5], [5]),), SCALAR_INDEX),
]


@pytest.mark.parametrize("statements, names, expected, source", CASES, ids=[case[0] for case in CASES])
def test_builtins_give_what_matlab_gives(monkeypatch, statements, names, expected, source):
    values = evaluate(monkeypatch, statements, names)
    for name, value, want in zip(names, values, expected):
        assert same(value, want), f"{statements} gives {name} = {value!r}; MATLAB gives {want!r} ({source})"
