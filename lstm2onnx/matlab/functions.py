"""The MATLAB functions the evaluator knows: sizes of data, arithmetic, texts, cells, structs, layer graphs.

Each function takes ``(call, args, nargout)`` where ``call`` gives the budget
and the argument names (for messages), and returns one value, or a tuple of
``nargout`` values. Every result's size is charged before it is made. Layer
functions are not here: they come from :data:`lstm2onnx.layers.LAYER_TYPES`.

Follows MATLAB R2024a's documented behaviour: ``size`` with more outputs than
dimensions gives 1s and folds the rest into the last output; ``max``/``min``/
``sum``/``prod``/``mean`` work along the first dimension that is not 1;
``unique`` sorts and returns a row for a row vector, else a column;
``categories`` returns the sorted unique labels as a column cell array.
"""

from __future__ import annotations

import math
import re
import warnings
from typing import Any, Callable, Protocol

import numpy as np

from ..layers import Layer
from ..network import LayerArray
from .indexing import IndexError_, concatenate, drop_trailing_ones
from .matfile import Opaque
from .workspace import STRING_COST, Budget, Cell, Strings, describe, elements, object_array, shape_of


class FunctionError(Exception):
    """A function got arguments it cannot use (message for the user)."""


class OpaqueData(Exception):
    """A function needs the values of a MATLAB object only MATLAB can read (e.g. a categorical array)."""

    def __init__(self, function: str, argument: str | None, matlab_class: str) -> None:
        super().__init__(function)
        self.function, self.argument, self.matlab_class = function, argument, matlab_class


class CallContext(Protocol):
    budget: Budget
    arg_names: list[str | None]
    pos: int | None


Builtin = Callable[[CallContext, list[Any], int], Any]
FUNCTIONS: dict[str, Builtin] = {}


def builtin(*names: str) -> Callable[[Builtin], Builtin]:
    def register(fn: Builtin) -> Builtin:
        for name in names:
            FUNCTIONS[name] = fn
        return fn

    return register


# Calls the evaluator never runs: what they compute is training, plotting, printing or files.
NEVER_RUN = frozenset({
    "trainingOptions", "trainNetwork", "trainnet", "classify", "predict", "minibatchpredict", "scores2label", "forward",
    "activations", "predictAndUpdateState", "classifyAndUpdateState", "resetState", "figure", "plot", "subplot",
    "title", "xlabel", "ylabel", "legend", "hold", "histogram", "bar", "confusionchart", "analyzeNetwork", "fprintf",
    "disp", "display", "save", "print", "saveas", "exportONNXNetwork", "exportNetworkToTensorFlow", "rng", "tic",
    "toc", "clc", "clear", "close", "clearvars", "warning", "error", "input", "keyboard", "pause", "drawnow",
    "imshow", "stackedplot", "plotconfusion", "deepNetworkDesigner", "addpath", "cd", "system", "eval", "evalin",
    "assignin", "feval", "dos", "unix", "web", "delete", "mkdir", "fopen", "fclose", "fwrite", "fread", "readtable",
    "writetable", "readmatrix", "csvread", "xlsread", "importdata", "audioread", "imread", "datastore",
    "fileDatastore", "arrayDatastore", "transform", "combine", "structfun", "parfeval",
    "batch", "gpuArray", "gather", "disconnectLayers", "removeLayers", "replaceLayer", "dlmread", "readcell",
    "readtimetable", "readvars", "textscan", "textread", "fgetl", "fscanf", "webread", "websave", "unzip",
    "writematrix", "writecell", "dir", "uigetfile",
})
# Of those, the ones that read files: their values come only from --data files (or --set).
FILE_READERS = frozenset({
    "readtable", "readmatrix", "csvread", "xlsread", "importdata", "audioread", "imread", "fread", "dlmread",
    "readcell", "readtimetable", "readvars", "textscan", "textread", "fgetl", "fscanf", "webread", "uigetfile",
})
# Of those, the ones that train, plot, print or save (the others are code lstm2onnx never runs: eval, system, files).
SIDE_EFFECTS = frozenset({
    "trainingOptions", "trainNetwork", "trainnet", "classify", "predict", "minibatchpredict", "scores2label", "forward",
    "activations", "predictAndUpdateState", "classifyAndUpdateState", "resetState", "figure", "plot", "subplot",
    "title", "xlabel", "ylabel", "legend", "hold", "histogram", "bar", "confusionchart", "analyzeNetwork", "fprintf",
    "disp", "display", "save", "print", "saveas", "exportONNXNetwork", "exportNetworkToTensorFlow", "rng", "tic",
    "toc", "clc", "clear", "close", "clearvars", "drawnow", "imshow", "stackedplot", "plotconfusion",
})
# Functions that call a function handle on each element: the evaluator runs them (the handle's body is an
# expression it evaluates like any other, never anything else).
HANDLE_MAPS = frozenset({"cellfun", "arrayfun"})


class Handle:
    """A function handle: ``@name`` or ``@(x) body`` with the variables its body reads, captured when it was made."""

    __slots__ = ("node", "captured")

    def __init__(self, node: Any, captured: dict[str, Any]) -> None:
        self.node, self.captured = node, captured

    def __repr__(self) -> str:
        return f"Handle({self.node.text})"


# Layer-graph functions that make a graph rather than a chain: named in the error.
GRAPH_EDITS = frozenset({"disconnectLayers"})
WRAPPERS = frozenset({"layerGraph", "dlnetwork", "assembleNetwork", "addLayers", "connectLayers", "removeLayers",
                      "replaceLayer"})
CONSTANTS = {"pi": math.pi, "Inf": math.inf, "inf": math.inf, "NaN": math.nan, "nan": math.nan, "eps": float(np.finfo(float).eps)}


# -- conversions --------------------------------------------------------------------------------------


def numbers(value: Any, what: str) -> np.ndarray:
    """A numeric or logical value as float64 (chars as their codes, as MATLAB does)."""
    if isinstance(value, np.ndarray) and value.dtype.kind in "iufb":
        return value.astype(float, copy=False) if value.dtype != float else value
    if isinstance(value, (int, float, np.integer, np.floating)):
        return np.array([[float(value)]])
    if isinstance(value, str):
        return np.array([[float(ord(c)) for c in value]]) if value else np.zeros((0, 0))
    if isinstance(value, Opaque):
        raise OpaqueData(what, None, value.matlab_class)
    raise FunctionError(f"{what} needs numbers, got {describe(value)}")


def scalar(value: Any, what: str) -> float:
    array = numbers(value, what)
    if array.size != 1:
        raise FunctionError(f"{what} needs one number, got {describe(value)}")
    return float(array.reshape(-1)[0])


def integer(value: Any, what: str, low: int = 0) -> int:
    number = scalar(value, what)
    if not number.is_integer() or number < low:
        raise FunctionError(f"{what} needs an integer >= {low}, got {number:g}")
    return int(number)


def text(value: Any, what: str) -> str:
    if isinstance(value, str):
        return value
    if isinstance(value, Strings) and value.data.size == 1:
        return str(value.data.reshape(-1)[0])
    raise FunctionError(f"{what} needs a text, got {describe(value)}")


def number_text(value: float) -> str:
    """MATLAB's ``string(x)``/``num2str(x)`` of one number: integers in full, else 4 decimals' worth."""
    if math.isnan(value):
        return "NaN"
    if math.isinf(value):
        return "Inf" if value > 0 else "-Inf"
    if value.is_integer() and abs(value) < 1e15:
        return str(int(value))
    return f"{value:.5g}"


def texts(value: Any, what: str) -> tuple[list[str], tuple[int, ...]]:
    """The texts of a char vector, string array, cell array of texts, or numbers (as MATLAB's string())."""
    if isinstance(value, str):
        return [value], (1, 1)
    if isinstance(value, Strings):
        return [str(s) for s in value.data.reshape(-1, order="F")], value.data.shape
    if isinstance(value, Cell):
        out = []
        for item in value.data.reshape(-1, order="F"):
            if isinstance(item, str):
                out.append(item)
            elif isinstance(item, Strings) and item.data.size == 1:
                out.append(str(item.data.reshape(-1)[0]))
            else:
                raise FunctionError(f"{what} needs a cell array of texts, got a cell holding {describe(item)}")
        return out, value.data.shape
    if isinstance(value, np.ndarray) and value.dtype.kind in "iufb":
        return [number_text(float(v)) for v in value.reshape(-1, order="F")], value.shape
    if isinstance(value, Opaque):
        raise OpaqueData(what, None, value.matlab_class)
    raise FunctionError(f"{what} needs texts or numbers, got {describe(value)}")


def _charge_texts(call: CallContext, items: list[str]) -> None:
    call.budget.charge(sum(STRING_COST + len(s) // STRING_COST for s in items), call.pos, (len(items),))


def _opaque_check(call: CallContext, name: str, args: list[Any]) -> None:
    for k, value in enumerate(args):
        if isinstance(value, Opaque):
            raise OpaqueData(name, call.arg_names[k] if k < len(call.arg_names) else None, value.matlab_class)


def _nargs(name: str, args: list[Any], low: int, high: int) -> None:
    if not low <= len(args) <= high:
        want = f"{low}" if low == high else f"{low} to {high}"
        raise FunctionError(f"{name} takes {want} arguments, got {len(args)}")


# -- sizes ------------------------------------------------------------------------------------------


def _size_of(value: Any) -> tuple[int, ...]:
    if isinstance(value, Opaque):
        return (1, 1)
    return shape_of(value)


@builtin("size")
def _size(call: CallContext, args: list[Any], nargout: int) -> Any:
    _nargs("size", args, 1, 2)
    shape = _size_of(args[0])
    if len(args) == 2:
        dims = numbers(args[1], "size's dimension").reshape(-1)
        out = []
        for d in dims:
            if not float(d).is_integer() or d < 1:
                raise FunctionError(f"size's dimension must be a positive integer, got {d:g}")
            out.append(shape[int(d) - 1] if int(d) <= len(shape) else 1)
        return np.array([out], dtype=float)
    if nargout <= 1:
        return np.array([shape], dtype=float)
    dims = list(shape) + [1] * max(0, nargout - len(shape))
    return tuple(np.array([[float(d)]]) for d in dims[: nargout - 1] + [elements(tuple(dims[nargout - 1:]))])


@builtin("numel")
def _numel(call: CallContext, args: list[Any], nargout: int) -> Any:
    _nargs("numel", args, 1, 1)
    return np.array([[float(elements(_size_of(args[0])))]])


@builtin("length")
def _length(call: CallContext, args: list[Any], nargout: int) -> Any:
    _nargs("length", args, 1, 1)
    shape = _size_of(args[0])
    return np.array([[0.0 if 0 in shape else float(max(shape))]])


def _dimension(index: int, name: str) -> Builtin:
    def size_along(call: CallContext, args: list[Any], nargout: int) -> Any:
        _nargs(name, args, 1, 1)
        shape = _size_of(args[0])
        return np.array([[float(shape[index])]])

    return size_along


FUNCTIONS["height"] = _dimension(0, "height")
FUNCTIONS["width"] = _dimension(1, "width")


@builtin("ndims")
def _ndims(call: CallContext, args: list[Any], nargout: int) -> Any:
    _nargs("ndims", args, 1, 1)
    return np.array([[float(len(_size_of(args[0])))]])


@builtin("isempty")
def _isempty(call: CallContext, args: list[Any], nargout: int) -> Any:
    _nargs("isempty", args, 1, 1)
    return np.array([[0 in _size_of(args[0])]])


# -- reductions and element-wise arithmetic ---------------------------------------------------------------


def _first_dim(shape: tuple[int, ...]) -> int:
    return next((k for k, d in enumerate(shape) if d != 1), 0)


def _option(value: Any) -> str | None:
    """An option such as 'all' or "descend", lower-cased: a char vector or a string scalar (None for anything else)."""
    if isinstance(value, str):
        return value.lower()
    if isinstance(value, Strings) and value.data.size == 1:
        return str(value.data.reshape(-1)[0]).lower()
    return None


def _zero_by_zero(x: np.ndarray, args: list[Any]) -> bool:
    """MATLAB's special case of a reduction without a dimension: sum([]) is 0, prod([]) 1, mean/median/std([]) NaN
    (a 0x0 input gives a scalar, where along dimension 1 it would give a 1x0 result)."""
    return len(args) == 1 and x.shape == (0, 0)


def _reduction(name: str, fn: Callable[..., np.ndarray]) -> Builtin:
    def reduce(call: CallContext, args: list[Any], nargout: int) -> Any:
        _opaque_check(call, name, args)
        _nargs(name, args, 1, 2)
        x = numbers(args[0], name)
        if len(args) == 2 and _option(args[1]) == "all" or _zero_by_zero(x, args):
            with np.errstate(all="ignore"), warnings.catch_warnings():
                warnings.simplefilter("ignore", RuntimeWarning)  # mean of nothing is NaN, as MATLAB's
                return np.array([[float(fn(x))]]) if x.size else np.array([[float(fn(np.zeros(0)))]])
        axis = integer(args[1], f"{name}'s dimension", 1) - 1 if len(args) == 2 else _first_dim(x.shape)
        if axis >= x.ndim:
            return x.copy()
        with np.errstate(all="ignore"):
            out = fn(x, axis=axis, keepdims=True)
        return np.asarray(out, dtype=float)

    return reduce


FUNCTIONS["sum"] = _reduction("sum", np.sum)
FUNCTIONS["prod"] = _reduction("prod", np.prod)
FUNCTIONS["mean"] = _reduction("mean", np.mean)


def _spread(name: str, root: bool) -> Builtin:
    """``std``/``var(x, w, dim)``: w = 0 normalises by N-1 (N for one element), w = 1 by N."""

    def spread(call: CallContext, args: list[Any], nargout: int) -> Any:
        _opaque_check(call, name, args)
        _nargs(name, args, 1, 3)
        x = numbers(args[0], name)
        weight = 0.0 if len(args) < 2 or (isinstance(args[1], np.ndarray) and args[1].size == 0) else scalar(args[1], f"{name}'s weight")
        if weight not in (0.0, 1.0):
            raise FunctionError(f"{name}: the weight must be 0 or 1 (weight vectors are not supported), got {weight:g}")
        if len(args) == 3 and _option(args[2]) == "all" or x.shape == (0, 0) and len(args) < 3:
            x, axis = x.reshape(-1, 1), 0
        else:
            axis = integer(args[2], f"{name}'s dimension", 1) - 1 if len(args) == 3 else _first_dim(x.shape)
        if axis >= x.ndim:
            return np.zeros_like(x)
        call.budget.charge(2 * x.size, call.pos, x.shape)
        count = x.shape[axis]
        ddof = 0 if weight == 1.0 or count <= 1 else 1
        with np.errstate(all="ignore"):
            out = np.var(x, axis=axis, ddof=ddof, keepdims=True) if count else np.full(
                tuple(1 if k == axis else d for k, d in enumerate(x.shape)), np.nan)
        return np.sqrt(out) if root else out

    return spread


FUNCTIONS["std"] = _spread("std", True)
FUNCTIONS["var"] = _spread("var", False)


def _extreme(name: str, larger: bool) -> Builtin:
    """``max``/``min`` as MATLAB's: NaN is left out unless ``'includenan'`` (``max([3 NaN 5])`` is 5, ``max(NaN, 0)``
    is 0; a slice of NaN only gives NaN at index 1), the index is the first extreme's, ``[]``/dim/``'all'``, and
    an empty slice gives an empty result (``max(zeros(0, 3))`` is 0x3)."""

    def extreme(call: CallContext, args: list[Any], nargout: int) -> Any:
        _opaque_check(call, name, args)
        _nargs(name, args, 1, 4)
        rest = list(args[1:])
        include_nan = False
        if rest and _option(rest[-1]) in ("omitnan", "includenan"):
            include_nan = _option(rest.pop()) == "includenan"
            if len(rest) == 1 and isinstance(rest[0], np.ndarray) and rest[0].size == 0:
                rest = []  # max(A, [], 'omitnan')
        if len(rest) == 1:
            a, b = numbers(args[0], name), numbers(rest[0], name)
            try:
                shape = np.broadcast_shapes(a.shape, b.shape)
            except ValueError:
                raise FunctionError(f"{name}: sizes {shape_of(a)} and {shape_of(b)} do not agree") from None
            call.budget.charge(elements(shape), call.pos, shape)
            pair = (np.maximum if larger else np.minimum) if include_nan else (np.fmax if larger else np.fmin)
            return np.asarray(pair(a, b), dtype=float)
        if len(rest) not in (0, 2) or rest and not (isinstance(rest[0], np.ndarray) and rest[0].size == 0):
            raise FunctionError(f"{name} takes {name}(A), {name}(A, B), {name}(A, [], dim) or {name}(A, [], 'all')")
        x = numbers(args[0], name)
        option = _option(rest[1]) if rest else None
        if option is not None:
            if option != "all":
                raise FunctionError(f"{name}: unknown option {option!r} (dim, 'all', 'omitnan', 'includenan')")
            x = x.reshape(-1, 1, order="F") if x.size else np.zeros((0, 0))
        axis = integer(rest[1], f"{name}'s dimension", 1) - 1 if rest and option is None else _first_dim(x.shape)
        if axis >= x.ndim:
            return (x.copy(), np.ones_like(x)) if nargout > 1 else x.copy()
        call.budget.charge(2 * x.size, call.pos, x.shape)
        if x.shape[axis] == 0:
            return (x.copy(), x.copy()) if nargout > 1 else x.copy()
        nan = np.isnan(x)
        with np.errstate(all="ignore"):
            best = (np.max if larger else np.min)(np.where(nan, -np.inf if larger else np.inf, x), axis=axis, keepdims=True)
        hit = (x == best) & ~nan
        if include_nan:
            hit = np.where(nan.any(axis=axis, keepdims=True), nan, hit)
        index = np.argmax(hit, axis=axis, keepdims=True)  # the first hit; 0 in a slice of NaN only
        value = np.take_along_axis(x, index, axis=axis)
        return (value, index.astype(float) + 1) if nargout > 1 else value

    return extreme


FUNCTIONS["max"] = _extreme("max", True)
FUNCTIONS["min"] = _extreme("min", False)


def _elementwise(name: str, fn: Callable[[np.ndarray], np.ndarray]) -> Builtin:
    def apply(call: CallContext, args: list[Any], nargout: int) -> Any:
        _opaque_check(call, name, args)
        _nargs(name, args, 1, 1)
        if name in _CONVERSIONS and isinstance(args[0], (str, Strings, Cell)):
            x = category_codes(call, args[0], name)
        else:
            x = numbers(args[0], name)
        call.budget.charge(x.size, call.pos, x.shape)
        with np.errstate(all="ignore"):
            return np.asarray(fn(x), dtype=float)

    return apply


_CONVERSIONS = {"double", "single", "int8", "int16", "int32", "int64", "uint8", "uint16", "uint32", "uint64"}


def category_codes(call: CallContext, value: Any, name: str) -> np.ndarray:
    """``double(Y)`` of labels: a char vector gives its character codes; texts (a categorical array saved as a
    string array or cellstr, as lstm2onnx models categorical) give MATLAB's category codes, 1..K in the order of
    ``categories(Y)`` (sorted; numerically when every label is a number, as ``categorical`` of numbers sorts)."""
    if isinstance(value, str):
        call.budget.charge(len(value), call.pos)
        return np.array([[float(ord(c)) for c in value]]).reshape(1, len(value))
    items, shape = texts(value, name)
    call.budget.charge(len(items), call.pos, shape)
    order = sorted(set(items), key=_category_key(items))
    code = {label: k for k, label in enumerate(order, 1)}
    return np.array([float(code[label]) for label in items]).reshape(shape, order="F")


def _category_key(items: list[str]) -> Callable[[str], Any]:
    try:
        values = {label: float(label) for label in set(items)}
    except ValueError:
        return lambda label: label
    return lambda label: values[label]


def _matlab_round(x: np.ndarray) -> np.ndarray:
    """MATLAB's round: halves away from zero (numpy's round takes halves to even: round(2.5) is 2 there, 3 here)."""
    return np.where(x >= 0, np.floor(x + 0.5), -np.floor(-x + 0.5))


def _to_integer(bits: int, signed: bool) -> Callable[[np.ndarray], np.ndarray]:
    """MATLAB's int8(x) ... uint64(x): rounded as round does, saturated to the type's range, NaN to 0."""
    low, high = (-(2 ** (bits - 1)), 2 ** (bits - 1) - 1) if signed else (0, 2**bits - 1)
    return lambda x: np.nan_to_num(np.clip(_matlab_round(x), low, high), nan=0.0)


for _name, _fn in {"floor": np.floor, "ceil": np.ceil, "round": _matlab_round,
                   "fix": np.trunc, "abs": np.abs, "sqrt": np.sqrt, "exp": np.exp, "log": np.log, "log2": np.log2,
                   "log10": np.log10, "sign": np.sign, "double": lambda x: x, "single": lambda x: x.astype(np.float32).astype(float),
                   **{f"{'' if signed else 'u'}int{bits}": _to_integer(bits, signed) for bits in (8, 16, 32, 64) for signed in (True, False)}}.items():
    FUNCTIONS[_name] = _elementwise(_name, _fn)


def _binary_numeric(name: str, fn: Callable[[np.ndarray, np.ndarray], np.ndarray]) -> Builtin:
    def apply(call: CallContext, args: list[Any], nargout: int) -> Any:
        _nargs(name, args, 2, 2)
        a, b = numbers(args[0], name), numbers(args[1], name)
        try:
            shape = np.broadcast_shapes(a.shape, b.shape)
        except ValueError:
            raise FunctionError(f"{name}: sizes {shape_of(a)} and {shape_of(b)} do not agree") from None
        call.budget.charge(elements(shape), call.pos, shape)
        with np.errstate(all="ignore"):
            return np.asarray(fn(a, b), dtype=float)

    return apply


FUNCTIONS["mod"] = _binary_numeric("mod", lambda a, b: np.where(b == 0, a, a - np.floor(a / np.where(b == 0, 1, b)) * b))
FUNCTIONS["rem"] = _binary_numeric("rem", lambda a, b: np.where(b == 0, a, a - np.trunc(a / np.where(b == 0, 1, b)) * b))


def _test(name: str, fn: Callable[[np.ndarray], np.ndarray]) -> Builtin:
    def apply(call: CallContext, args: list[Any], nargout: int) -> Any:
        _opaque_check(call, name, args)
        _nargs(name, args, 1, 1)
        x = numbers(args[0], name)
        call.budget.charge(x.size, call.pos, x.shape)
        return fn(x)

    return apply


FUNCTIONS["isnan"] = _test("isnan", np.isnan)
FUNCTIONS["isinf"] = _test("isinf", np.isinf)
FUNCTIONS["isfinite"] = _test("isfinite", np.isfinite)


@builtin("logical")
def _logical(call: CallContext, args: list[Any], nargout: int) -> Any:
    _nargs("logical", args, 1, 1)
    return numbers(args[0], "logical") != 0


@builtin("any", "all")
def _any_all(call: CallContext, args: list[Any], nargout: int) -> Any:
    """``any``/``all`` along the first dimension that is not 1 (or ``dim``, or ``'all'``); ``any`` ignores NaN,
    ``all`` counts it as nonzero (MATLAB: any(NaN) is 0, all(NaN) is 1); ``any([])`` is 0 and ``all([])`` 1, while
    ``all(zeros(0, 3))`` is 1x3."""
    _nargs(call.name, args, 1, 2)
    values = numbers(args[0], call.name)
    x = (values != 0) & ~np.isnan(values) if call.name == "any" else values != 0
    reduce = np.any if call.name == "any" else np.all
    if len(args) == 2 and _option(args[1]) == "all" or _zero_by_zero(x, args):
        return np.array([[bool(reduce(x))]])
    axis = integer(args[1], f"{call.name}'s dimension", 1) - 1 if len(args) == 2 else _first_dim(x.shape)
    return reduce(x, axis=axis, keepdims=True) if axis < x.ndim else x.copy()


def _sizes(call: CallContext, args: list[Any], name: str) -> tuple[int, ...]:
    dims: list[float] = []
    for a in args:
        if isinstance(a, str):  # 'double', 'single', 'like'
            continue
        dims += [float(v) for v in numbers(a, name).reshape(-1)[:64]]
    if not dims:
        dims = [1.0]
    if any(not math.isfinite(d) or not d.is_integer() for d in dims):
        raise FunctionError(f"{name} needs integer sizes")
    shape = tuple(max(int(d), 0) for d in (dims * 2 if len(dims) == 1 else dims))
    while len(shape) > 2 and shape[-1] == 1:  # zeros(2, 3, 1) is 2x3 (ndims 2), as MATLAB drops trailing 1s
        shape = shape[:-1]
    call.budget.charge(elements(shape), call.pos, shape)
    return shape


def _filled(name: str, value: Any) -> Builtin:
    def make(call: CallContext, args: list[Any], nargout: int) -> Any:
        return np.full(_sizes(call, args, name), value)

    return make


FUNCTIONS["zeros"] = _filled("zeros", 0.0)
FUNCTIONS["ones"] = _filled("ones", 1.0)
FUNCTIONS["true"] = _filled("true", True)
FUNCTIONS["false"] = _filled("false", False)


@builtin("cell")
def _cell(call: CallContext, args: list[Any], nargout: int) -> Any:
    from .indexing import _empty_cells

    shape = _sizes(call, args, "cell")
    return Cell(_empty_cells(elements(shape)).reshape(shape))


@builtin("linspace")
def _linspace(call: CallContext, args: list[Any], nargout: int) -> Any:
    """``linspace(x1, x2, n)``: n points (default 100); as MATLAB, n = 1 gives x2, n <= 0 a 1x0 row, and a
    non-integer n floor(n) points."""
    _nargs("linspace", args, 2, 3)
    n = scalar(args[2], "linspace's count") if len(args) == 3 else 100.0
    if not math.isfinite(n):
        raise FunctionError(f"linspace's count must be a finite number, got {n:g}")
    count = max(int(math.floor(n)), 0)
    call.budget.charge(count, call.pos, (1, count))
    low, high = scalar(args[0], "linspace"), scalar(args[1], "linspace")
    return np.array([[high]]) if count == 1 else np.linspace(low, high, count).reshape(1, -1)


def _set_items(value: Any, name: str) -> tuple[list[Any], bool, Callable[[list[Any], tuple[int, ...]], Any]]:
    """The elements of a numeric or text array (column-major), whether it is a row, and how to wrap a result."""
    row = len(shape_of(value)) == 2 and shape_of(value)[0] == 1
    if isinstance(value, np.ndarray):
        flat = numbers(value, name).reshape(-1, order="F")
        return [float(v) for v in flat], row, lambda items, shape: np.array(items, dtype=float).reshape(shape)
    if isinstance(value, str):  # a char vector: its characters
        return list(value), row, lambda items, shape: "".join(items)
    items, _ = texts(value, name)
    wrap = Cell if isinstance(value, Cell) else Strings
    return items, row, lambda out, shape: wrap(object_array(out, shape))


@builtin("unique")
def _unique(call: CallContext, args: list[Any], nargout: int) -> Any:
    """``[C, ia, ic] = unique(A)`` (sorted; ``'stable'``: in order of first appearance)."""
    _opaque_check(call, "unique", args)
    _nargs("unique", args, 1, 3)
    items, row, wrap = _set_items(args[0], "unique")
    call.budget.charge(3 * len(items), call.pos, (len(items),))
    if isinstance(args[0], (Cell, Strings)):
        _charge_texts(call, items)
    stable = any(_option(a) == "stable" for a in args[1:])
    keys = [(1, k) if item != item else (0, item) for k, item in enumerate(items)]  # each NaN distinct, sorted last
    first: dict[Any, int] = {}
    for k, key in enumerate(keys):
        first.setdefault(key, k)
    order = list(first) if stable else sorted(first)
    shape = (1, len(order)) if row else (len(order), 1)
    result = wrap([items[first[key]] for key in order], shape)
    if nargout <= 1:
        return result
    place = {key: k for k, key in enumerate(order)}
    ia = np.array([[float(first[key] + 1)] for key in order])
    ic = np.array([[float(place[key] + 1)] for key in keys])
    return (result, ia, ic)[:nargout]


@builtin("countcats")
def _countcats(call: CallContext, args: list[Any], nargout: int) -> Any:
    """Counts per category, in ``categories`` order (labels modelled as their texts: sorted unique values)."""
    _opaque_check(call, "countcats", args)
    _nargs("countcats", args, 1, 1)
    items, row, _ = _set_items(args[0], "countcats")
    counts: dict[Any, int] = {}
    for item in items:
        counts[item] = counts.get(item, 0) + 1
    out = [float(counts[k]) for k in sorted(counts)]
    return np.array(out).reshape((1, -1) if row else (-1, 1))


def _set_operation(name: str) -> Builtin:
    def operate(call: CallContext, args: list[Any], nargout: int) -> Any:
        _opaque_check(call, name, args)
        _nargs(name, args, 2, 3)
        left, row, wrap = _set_items(args[0], name)
        right, right_row, _ = _set_items(args[1], name)
        call.budget.charge(len(left) + len(right), call.pos, (len(left) + len(right),))
        if name == "ismember":
            members = set(right)
            return np.array([item in members for item in left]).reshape(shape_of(args[0]), order="F")
        if name == "setdiff":
            out = sorted(set(left) - set(right))
        elif name == "intersect":
            out = sorted(set(left) & set(right))
        else:
            out = sorted(set(left) | set(right))
        as_row = row and (right_row or name == "setdiff")
        return wrap(out, (1, len(out)) if as_row else (len(out), 1))

    return operate


for _name in ("ismember", "setdiff", "intersect", "union"):
    FUNCTIONS[_name] = _set_operation(_name)


def _shape_test(name: str, test: Callable[[tuple[int, ...]], bool]) -> Builtin:
    def check(call: CallContext, args: list[Any], nargout: int) -> Any:
        _nargs(name, args, 1, 1)
        return np.array([[bool(test(_size_of(args[0])))]])

    return check


FUNCTIONS["isrow"] = _shape_test("isrow", lambda s: len(s) == 2 and s[0] == 1)
FUNCTIONS["iscolumn"] = _shape_test("iscolumn", lambda s: len(s) == 2 and s[1] == 1)
FUNCTIONS["isvector"] = _shape_test("isvector", lambda s: len(s) == 2 and 1 in s)
FUNCTIONS["isscalar"] = _shape_test("isscalar", lambda s: all(d == 1 for d in s))
FUNCTIONS["ismatrix"] = _shape_test("ismatrix", lambda s: len(s) == 2)


def _rearranged(name: str) -> Builtin:
    """squeeze / permute / fliplr / flipud / flip on numeric, cell and string arrays (a view, then copied)."""

    def rearrange(call: CallContext, args: list[Any], nargout: int) -> Any:
        _nargs(name, args, 1, 2)
        value = args[0]
        array, wrap = (value.data, type(value)) if isinstance(value, (Cell, Strings)) else (numbers(value, name), lambda a: a)
        call.budget.charge(array.size, call.pos, array.shape)
        if name == "squeeze":
            kept = tuple(d for d in array.shape if d != 1)
            out = array.reshape(kept + (1,) * (2 - len(kept)) if len(kept) < 2 else kept, order="F") \
                if array.ndim > 2 else array
        elif name == "permute":
            order = [integer(v, "permute's order", 1) - 1 for v in numbers(args[1], "permute").reshape(-1)] if len(args) == 2 else []
            if sorted(order) != list(range(len(order))) or len(order) < array.ndim:
                raise FunctionError("permute needs a permutation of 1..ndims")
            out = np.transpose(array.reshape(array.shape + (1,) * (len(order) - array.ndim)), order)
            while out.ndim > 2 and out.shape[-1] == 1:
                out = out.reshape(out.shape[:-1])
        elif name == "fliplr":
            out = array[:, ::-1]
        elif name == "flipud":
            out = array[::-1]
        else:
            dim = integer(args[1], "flip's dimension", 1) - 1 if len(args) == 2 else _first_dim(array.shape)
            out = np.flip(array, axis=dim) if dim < array.ndim else array
        return wrap(np.array(out, copy=True))

    return rearrange


for _name in ("squeeze", "permute", "fliplr", "flipud", "flip"):
    FUNCTIONS[_name] = _rearranged(_name)


@builtin("nnz")
def _nnz(call: CallContext, args: list[Any], nargout: int) -> Any:
    _nargs("nnz", args, 1, 1)
    return np.array([[float(np.count_nonzero(numbers(args[0], "nnz")))]])


@builtin("median", "mode")
def _median_mode(call: CallContext, args: list[Any], nargout: int) -> Any:
    """``median``/``mode`` along the first dimension that is not 1 (``mode``: the smallest most frequent value)."""
    _opaque_check(call, call.name, args)
    _nargs(call.name, args, 1, 2)
    x = numbers(args[0], call.name)
    if _zero_by_zero(x, args):
        return np.array([[math.nan]])  # median([]) and mode([]) are NaN
    axis = integer(args[1], f"{call.name}'s dimension", 1) - 1 if len(args) == 2 else _first_dim(x.shape)
    if axis >= x.ndim:
        return x.copy()
    if x.size == 0:  # median(zeros(0, 3)) is NaN(1, 3)
        return np.full(tuple(1 if k == axis else d for k, d in enumerate(x.shape)), math.nan)
    call.budget.charge(2 * x.size, call.pos, x.shape)
    if call.name == "median":
        return np.median(x, axis=axis, keepdims=True)

    def most(column: np.ndarray) -> float:
        values, counts = np.unique(column, return_counts=True)
        return float(values[np.argmax(counts)])

    return np.apply_along_axis(most, axis, x).reshape(tuple(1 if k == axis else d for k, d in enumerate(x.shape)))


def _two_d(value: Any, name: str) -> np.ndarray:
    """The elements of a 2-D numeric, cell or string array (what num2cell/mat2cell split)."""
    array = value.data if isinstance(value, (Cell, Strings)) else numbers(value, name)
    if array.ndim != 2:
        raise FunctionError(f"{name} is supported for 2-D arrays")
    return array


@builtin("num2cell")
def _num2cell(call: CallContext, args: list[Any], nargout: int) -> Any:
    """``num2cell(A)``: one cell per element; ``num2cell(A, dim)``: the slices along ``dim`` (1: columns, 2: rows)."""
    _nargs("num2cell", args, 1, 2)
    value = args[0]
    if len(args) == 2 and isinstance(value, np.ndarray) and (value.ndim > 2 or np.size(args[1]) > 1):
        return _num2cell_slices(call, numbers(value, "num2cell"), args[1])
    array = _two_d(value, "num2cell")
    call.budget.charge(array.size + STRING_COST * array.size, call.pos, array.shape)
    if len(args) == 1:
        items = [array[i:i + 1, j:j + 1].copy() for j in range(array.shape[1]) for i in range(array.shape[0])]
        return Cell(object_array(items, array.shape))
    dim = integer(args[1], "num2cell's dimension", 1)
    if dim == 1:
        return Cell(object_array([array[:, j:j + 1].copy() for j in range(array.shape[1])], (1, array.shape[1])))
    if dim == 2:
        return Cell(object_array([array[i:i + 1, :].copy() for i in range(array.shape[0])], (array.shape[0], 1)))
    raise FunctionError("num2cell's dimension must be 1 or 2")


def _num2cell_slices(call: CallContext, array: np.ndarray, dims: Any) -> Any:
    """``num2cell(A, dims)`` of an N-D array: one cell per index of the other dimensions, each holding the
    whole extent of ``dims`` (``squeeze(num2cell(X, [1 2]))``: the C-by-T pages of a C-by-T-by-N array)."""
    kept = {integer(d, "num2cell's dimension", 1) - 1 for d in numbers(dims, "num2cell's dimensions").reshape(-1)}
    shape = array.shape + (1,) * (max(kept, default=0) + 1 - array.ndim)
    array = array.reshape(shape)
    out_shape = tuple(1 if k in kept else n for k, n in enumerate(shape))
    call.budget.charge(array.size + STRING_COST * int(np.prod(out_shape)), call.pos, out_shape)
    items = []
    for index in np.ndindex(*out_shape[::-1]):  # column-major order of the cells
        index = index[::-1]
        picks = tuple(slice(None) if k in kept else slice(index[k], index[k] + 1) for k in range(len(shape)))
        items.append(drop_trailing_ones(array[picks].copy()))
    return Cell(object_array(items, out_shape))


@builtin("mat2cell")
def _mat2cell(call: CallContext, args: list[Any], nargout: int) -> Any:
    """``mat2cell(A, rowSizes, colSizes)`` of a 2-D array (``colSizes`` defaults to all columns): the blocks."""
    _nargs("mat2cell", args, 2, 3)
    value = args[0]
    array = _two_d(value, "mat2cell")
    cuts = []
    for k, arg in enumerate(args[1:3]):
        sizes = numbers(arg, "mat2cell's block sizes").reshape(-1)
        if np.any(sizes < 0) or np.any(sizes != np.round(sizes)) or sizes.sum() != array.shape[k]:
            raise FunctionError(f"mat2cell: the block sizes of dimension {k + 1} must be whole numbers adding up to "
                                f"{array.shape[k]}, got {sizes.sum():g}")
        cuts.append(np.concatenate([[0], np.cumsum(sizes)]).astype(int))
    if len(cuts) == 1:
        cuts.append(np.array([0, array.shape[1]]))
    call.budget.charge(array.size + STRING_COST * (len(cuts[0]) - 1) * (len(cuts[1]) - 1), call.pos, array.shape)
    rows, cols = len(cuts[0]) - 1, len(cuts[1]) - 1
    wrap = type(value) if isinstance(value, (Cell, Strings)) else (lambda block: block)
    blocks = [wrap(array[cuts[0][i]:cuts[0][i + 1], cuts[1][j]:cuts[1][j + 1]].copy())
              for j in range(cols) for i in range(rows)]
    return Cell(object_array(blocks, (rows, cols)))


@builtin("lagmatrix")
def _lagmatrix(call: CallContext, args: list[Any], nargout: int) -> Any:
    """``lagmatrix(Y, lags)`` (Econometrics Toolbox): for each lag, Y's columns shifted down by it, NaN above
    (a negative lag leads, NaN below); a row vector Y is one series."""
    _nargs("lagmatrix", args, 2, 2)
    y = numbers(args[0], "lagmatrix")
    if y.ndim != 2:
        raise FunctionError("lagmatrix needs a vector or a matrix of series in columns")
    if y.shape[0] == 1:
        y = y.T
    lags = numbers(args[1], "lagmatrix's lags").reshape(-1)
    if np.any(lags != np.round(lags)):
        raise FunctionError("lagmatrix's lags must be whole numbers")
    rows, cols = y.shape
    call.budget.charge(rows * cols * lags.size, call.pos, (rows, cols * lags.size))
    out = np.full((rows, cols * lags.size), np.nan)
    for k, lag in enumerate(lags.astype(int)):
        block = out[:, k * cols:(k + 1) * cols]
        if lag >= 0:
            block[lag:] = y[:rows - lag] if lag < rows else block[lag:]
        else:
            block[:rows + lag] = y[-lag:]
    return out


@builtin("con2seq")
def _con2seq(call: CallContext, args: list[Any], nargout: int) -> Any:
    """``con2seq(B)`` (Deep Learning Toolbox's shallow-network helper): a 1-by-Q cell of the columns of B, one
    time step each."""
    _nargs("con2seq", args, 1, 1)
    return _num2cell(call, [args[0], 1.0], nargout)


@builtin("table2array")
def _table2array(call: CallContext, args: list[Any], nargout: int) -> Any:
    """``table2array(T)``: a table from readtable is the --data file's matrix (or cell) of that name already."""
    _nargs("table2array", args, 1, 1)
    value = args[0]
    if isinstance(value, (np.ndarray, Cell)):
        return value
    raise FunctionError(f"table2array needs the table's values as a matrix (save table2array(T) in the --data file), "
                        f"got {describe(value)}")


@builtin("cell2mat")
def _cell2mat(call: CallContext, args: list[Any], nargout: int) -> Any:
    _nargs("cell2mat", args, 1, 1)
    if not isinstance(args[0], Cell):
        raise FunctionError(f"cell2mat needs a cell array, got {describe(args[0])}")
    data = args[0].data
    rows = [[data[i, j] for j in range(data.shape[1])] for i in range(data.shape[0])] if data.ndim == 2 else []
    try:
        return concatenate(rows, call.budget, call.pos) if rows and rows[0] else np.zeros((0, 0))
    except IndexError_ as error:
        raise FunctionError(f"cell2mat: {error}") from None


@builtin("strlength")
def _strlength(call: CallContext, args: list[Any], nargout: int) -> Any:
    _nargs("strlength", args, 1, 1)
    items, shape = texts(args[0], "strlength")
    return np.array([float(len(s)) for s in items]).reshape(shape, order="F")


@builtin("sort")
def _sort(call: CallContext, args: list[Any], nargout: int) -> Any:
    """``[B, I] = sort(A, dim, 'ascend'/'descend')`` (stable) along the first dimension that is not 1 or ``dim``;
    NaN goes last ascending and first descending (MATLAB's MissingPlacement 'auto')."""
    _opaque_check(call, "sort", args)
    _nargs("sort", args, 1, 3)
    descend, dim = False, None
    for a in args[1:]:
        option = _option(a)
        if option is not None:
            if option not in ("ascend", "descend"):
                raise FunctionError(f"sort: unknown option {option!r} (dim, 'ascend', 'descend')")
            descend = option == "descend"
        else:
            dim = integer(a, "sort's dimension", 1) - 1
    value = args[0]
    if isinstance(value, np.ndarray):
        x = numbers(value, "sort")
        axis = _first_dim(x.shape) if dim is None else dim
        if axis >= x.ndim:
            return (x.copy(), np.ones_like(x)) if nargout > 1 else x.copy()
        call.budget.charge(2 * x.size, call.pos, x.shape)
        order = np.argsort(-x if descend else x, axis=axis, kind="stable")  # NaN last
        if descend:  # then NaN first, the others kept in their order (a second stable sort)
            order = np.take_along_axis(order, np.argsort(~np.isnan(np.take_along_axis(x, order, axis=axis)), axis=axis,
                                                         kind="stable"), axis=axis)
        out = np.take_along_axis(x, order, axis=axis)
        return (out, order.astype(float) + 1) if nargout > 1 else out
    items, shape = texts(value, "sort")
    order = sorted(range(len(items)), key=lambda k: items[k], reverse=descend)
    _charge_texts(call, items)
    wrap = Cell if isinstance(value, Cell) else Strings
    out = wrap(object_array([items[k] for k in order], shape))
    index = np.array([float(k + 1) for k in order]).reshape(shape, order="F")
    return (out, index) if nargout > 1 else out


@builtin("cumsum")
def _cumsum(call: CallContext, args: list[Any], nargout: int) -> Any:
    _nargs("cumsum", args, 1, 2)
    x = numbers(args[0], "cumsum")
    axis = integer(args[1], "cumsum's dimension", 1) - 1 if len(args) == 2 else _first_dim(x.shape)
    call.budget.charge(x.size, call.pos, x.shape)
    return np.cumsum(x, axis=axis) if axis < x.ndim else x.copy()  # cumsum([1 2 3], 3) is [1 2 3]


@builtin("diff")
def _diff(call: CallContext, args: list[Any], nargout: int) -> Any:
    """``diff(X)``, ``diff(X, n)``, ``diff(X, n, dim)``: differences of neighbours. Without ``dim``, each of the n
    differences is along the first dimension longer than 1 of what the previous one left (MATLAB's recursion, so
    ``diff([1 4 9], 3)`` runs out: empty along the dimension last differenced); along a given ``dim``, n at least
    that length gives an empty result there."""
    _nargs("diff", args, 1, 3)
    x = numbers(args[0], "diff")
    order = integer(args[1], "diff's order n", 0) if len(args) > 1 else 1
    call.budget.charge(x.size, call.pos, x.shape)
    if len(args) == 3:
        axis = integer(args[2], "diff's dimension", 1) - 1
        if axis >= x.ndim:
            shape = x.shape + (1,) * (axis + 1 - x.ndim)
            return np.zeros(shape[:axis] + (0,) + shape[axis + 1:]) if order else x.copy()
        return np.diff(x, n=order, axis=axis) if order else x.copy()
    axis = _first_dim(x.shape)
    for _ in range(order):
        if x.size == 0 or all(d == 1 for d in x.shape):  # run out: empty along the dimension last differenced
            return np.zeros(x.shape[:axis] + (0,) + x.shape[axis + 1:])
        axis = _first_dim(x.shape)
        x = np.diff(x, axis=axis)
    return x


@builtin("find")
def _find(call: CallContext, args: list[Any], nargout: int) -> Any:
    _nargs("find", args, 1, 2)
    x = numbers(args[0], "find")
    hits = np.flatnonzero(x.reshape(-1, order="F") != 0).astype(float) + 1
    if len(args) == 2:
        hits = hits[: integer(args[1], "find's count")]
    return hits.reshape(1, -1) if x.ndim == 2 and x.shape[0] == 1 else hits.reshape(-1, 1)


@builtin("categories")
def _categories(call: CallContext, args: list[Any], nargout: int) -> Any:
    _opaque_check(call, "categories", args)
    _nargs("categories", args, 1, 1)
    value = args[0]
    if isinstance(value, np.ndarray):
        out = [number_text(v) for v in np.unique(numbers(value, "categories").reshape(-1))]
    else:
        items = texts(value, "categories")[0]
        out = sorted(set(items), key=_category_key(items))
    _charge_texts(call, out)
    return Cell(object_array(out, (len(out), 1)))


# -- texts --------------------------------------------------------------------------------------------


def _text_array(name: str, wrap: Callable[[np.ndarray], Any], most: int = 1) -> Builtin:
    """string / cellstr / categorical (modelled as the string array of the labels: enough for categories,
    numel and Classes)."""

    def make(call: CallContext, args: list[Any], nargout: int) -> Any:
        _opaque_check(call, name, args)
        _nargs(name, args, 1, most)
        if isinstance(args[0], np.ndarray):
            call.budget.charge(args[0].size * STRING_COST, call.pos, args[0].shape, "a string array")
        items, shape = texts(args[0], name)
        if name == "cellstr" and isinstance(args[0], str):  # cellstr('a ') is {'a'}: trailing whitespace removed
            items = [s.rstrip(_TRAILING) for s in items]
        _charge_texts(call, items)
        return wrap(object_array(items, shape))

    return make


FUNCTIONS["categorical"] = _text_array("categorical", Strings, 3)
FUNCTIONS["string"] = _text_array("string", Strings)
FUNCTIONS["cellstr"] = _text_array("cellstr", Cell)


@builtin("char")
def _char(call: CallContext, args: list[Any], nargout: int) -> Any:
    _nargs("char", args, 1, 1)
    value = args[0]
    if isinstance(value, np.ndarray):
        codes = numbers(value, "char").reshape(-1)
        call.budget.charge(1 + codes.size / STRING_COST, call.pos)
        return "".join(chr(int(c)) if 0 <= c < 0x110000 else "?" for c in codes)
    items, _ = texts(value, "char")
    if len(items) == 1:
        return items[0]
    width = max(len(s) for s in items)
    return Strings(object_array([s.ljust(width) for s in items], (len(items), 1)))


@builtin("num2str", "int2str")
def _num2str(call: CallContext, args: list[Any], nargout: int) -> Any:
    _nargs("num2str", args, 1, 2)
    if isinstance(args[0], str):
        return args[0]
    array = numbers(args[0], call.name)
    if array.size == 0:
        return ""
    if array.ndim != 2 or array.shape[0] != 1:
        raise FunctionError(f"{call.name} of a {describe(array)} makes a char matrix (one row of text per row), which "
                            "lstm2onnx does not model: give it a row")
    x = array.reshape(-1)
    call.budget.charge(x.size * 2, call.pos, (x.size,))
    if len(args) == 2:
        if isinstance(args[1], str):
            return _format(args[1], list(x), call)
        digits = integer(args[1], "num2str's precision", 1)
        return _num2str_fields(x, digits + 7, f".{digits}g")
    if call.name == "int2str":
        x = _matlab_round(x)
    if np.all(x == np.trunc(x)):  # whole numbers: int2str's columns, 2 blanks wider than the widest
        return _num2str_fields(x, None, ".0f")
    finite = np.abs(x[np.isfinite(x)])
    top = float(finite.max()) if finite.size else 0.0
    digits = (1 if top == 0 else min(12, max(1, math.floor(math.log10(top)) + 1))) + 4  # num2str(pi) is '3.1416'
    return _num2str_fields(x, digits + 7, f".{digits}g")


def _num2str_fields(x: np.ndarray, width: int | None, spec: str) -> str:
    """MATLAB's num2str of a row: each number right-aligned in a field of ``width`` (None: 2 wider than the widest
    number), then the leading blanks removed."""
    fields = [f"{v:{spec}}" if math.isfinite(v) else number_text(float(v)) for v in x]
    width = max(map(len, fields)) + 2 if width is None else width
    return "".join(f.rjust(width) for f in fields).lstrip()


_SPEC = re.compile(r"%(?P<flags>[-+ 0#]*)(?P<width>\d+|\*)?(?:\.(?P<prec>\d+))?(?P<conv>[diuoxXfeEgGcs%])")
_ESCAPES = {"n": "\n", "t": "\t", "\\": "\\", "r": "\r", "a": "\a", "b": "\b", "f": "\f", "v": "\v"}


def _unescape(fmt: str) -> str:
    return re.sub(r"\\(.)", lambda m: _ESCAPES.get(m.group(1), m.group(0)), fmt).replace("%%", "\x00")


def _format(fmt: str, values: list[Any], call: CallContext) -> str:
    """MATLAB's sprintf: the format is reused while arguments are left; output stops at a spec without one."""
    fmt = _unescape(fmt)
    specs = [m for m in _SPEC.finditer(fmt) if m.group("conv") != "%"]
    out: list[str] = []
    k = 0
    size = 0
    while True:
        last = 0
        stopped = False
        for m in specs:
            out.append(fmt[last:m.start()])
            last = m.end()
            if k >= len(values):
                if values:
                    stopped = True
                    break
                continue
            out.append(_convert(m, values[k]))
            size += len(out[-1])
            k += 1
        if not stopped:
            out.append(fmt[last:])
        size += len(fmt)
        call.budget.charge(size / STRING_COST, call.pos)
        if stopped or k >= len(values) or not specs:
            break
    return "".join(out).replace("\x00", "%")


def _convert(m: re.Match, value: Any) -> str:
    conv = m.group("conv")
    spec = "%" + (m.group("flags") or "") + (m.group("width") or "").replace("*", "") + (f".{m.group('prec')}" if m.group("prec") else "")
    if conv in "sc" and not isinstance(value, str):
        # MATLAB: a text conversion of an integer that is a character code gives the character
        # (sprintf('%s', 65) is 'A'); of any other number it is overridden by %e
        if not (float(value).is_integer() and 0 <= value < 0x110000):
            return "%e" % float(value) if math.isfinite(value) else number_text(float(value))
        value = chr(int(value))
    if conv == "s":
        return (spec + "s") % value
    if conv == "c":
        return value
    if isinstance(value, str):
        return value
    if not math.isfinite(value):
        return number_text(value)
    if conv in "diu":
        return (spec + "d") % int(value) if float(value).is_integer() else (spec + "e") % float(value)
    if conv in "oxX":
        return (spec + conv) % int(value)
    return (spec + conv) % float(value)


@builtin("sprintf", "compose")
def _sprintf(call: CallContext, args: list[Any], nargout: int) -> Any:
    if not args:
        raise FunctionError("sprintf needs a format")
    fmt = text(args[0], "sprintf's format")
    values: list[Any] = []
    for a in args[1:]:
        if isinstance(a, str):
            values.append(a)
        elif isinstance(a, (Strings, Cell)):
            values += texts(a, "sprintf")[0]
        else:
            values += [float(v) for v in numbers(a, "sprintf").reshape(-1, order="F")[: call.budget.max_elements]]
    result = _format(fmt, values, call)
    return Strings.scalar(result) if call.name == "compose" or isinstance(args[0], Strings) else result


@builtin("fullfile")
def _fullfile(call: CallContext, args: list[Any], nargout: int) -> Any:
    """``fullfile(folder, ..., name)``: the parts joined with '/', as on Linux (only a name: ``load`` matches it
    against the --data files, and no path is ever opened)."""
    if not args:
        raise FunctionError("fullfile needs at least one part")
    parts = [text(a, "fullfile's part") for a in args]
    out = "/".join(p.rstrip("/\\") if k < len(parts) - 1 else p for k, p in enumerate(parts) if p)
    call.budget.charge(1 + len(out) / STRING_COST, call.pos)
    return Strings.scalar(out) if any(isinstance(a, Strings) for a in args) else out


# strcat removes these from the end of its char arguments (not of cells' or strings' texts), as MATLAB documents
_TRAILING = " \t\v\n\r\f"


@builtin("strcat")
def _strcat(call: CallContext, args: list[Any], nargout: int) -> Any:
    if any(isinstance(a, (Strings, Cell)) for a in args):
        columns = [([a.rstrip(_TRAILING)], (1, 1)) if isinstance(a, str) else texts(a, "strcat") for a in args]
        count = max(len(items) for items, _ in columns)
        for items, _ in columns:
            if len(items) not in (1, count):
                raise FunctionError("strcat: the arguments have different numbers of texts")
        joined = ["".join(items[k if len(items) > 1 else 0] for items, _ in columns) for k in range(count)]
        _charge_texts(call, joined)
        shape = next(shape for items, shape in columns if len(items) == count)
        wrap = Cell if any(isinstance(a, Cell) for a in args) and not any(isinstance(a, Strings) for a in args) else Strings
        return wrap(object_array(joined, shape))
    parts = [text(a, "strcat").rstrip(_TRAILING) if isinstance(a, str) else text(a, "strcat") for a in args]
    out = "".join(parts)
    call.budget.charge(1 + len(out) / STRING_COST, call.pos)
    return out


def _text_map(name: str, fn: Callable[[str], str]) -> Builtin:
    def apply(call: CallContext, args: list[Any], nargout: int) -> Any:
        _nargs(name, args, 1, 1)
        value = args[0]
        items, shape = texts(value, name)
        out = [fn(s) for s in items]
        _charge_texts(call, out)
        if isinstance(value, str):
            return out[0]
        return (Cell if isinstance(value, Cell) else Strings)(object_array(out, shape))

    return apply


FUNCTIONS["upper"] = _text_map("upper", str.upper)
FUNCTIONS["lower"] = _text_map("lower", str.lower)
FUNCTIONS["strtrim"] = _text_map("strtrim", str.strip)


@builtin("strjoin", "join")
def _strjoin(call: CallContext, args: list[Any], nargout: int) -> Any:
    _nargs("strjoin", args, 1, 2)
    items, _ = texts(args[0], "strjoin")
    sep = _unescape(text(args[1], "strjoin's delimiter")).replace("\x00", "%") if len(args) == 2 else " "
    out = sep.join(items)
    call.budget.charge(1 + len(out) / STRING_COST, call.pos)
    return Strings.scalar(out) if isinstance(args[0], Strings) else out


@builtin("strrep")
def _strrep(call: CallContext, args: list[Any], nargout: int) -> Any:
    _nargs("strrep", args, 3, 3)
    old, new = text(args[1], "strrep"), text(args[2], "strrep")
    items, shape = texts(args[0], "strrep")
    if old and new and len(new) > len(old):
        growth = sum(s.count(old) for s in items) * (len(new) - len(old))
        call.budget.charge(growth / STRING_COST, call.pos)
    out = [s.replace(old, new) if old else s for s in items]
    if isinstance(args[0], str):
        return out[0]
    return (Cell if isinstance(args[0], Cell) else Strings)(object_array(out, shape))


def _compare_texts(name: str, fold: bool) -> Builtin:
    def compare(call: CallContext, args: list[Any], nargout: int) -> Any:
        _nargs(name, args, 2, 2)
        a, b = args
        try:
            left, right = texts(a, name)[0], texts(b, name)[0]
        except FunctionError:
            return np.array([[False]])
        if isinstance(a, np.ndarray) or isinstance(b, np.ndarray):
            return np.array([[False]])
        if fold:
            left, right = [s.lower() for s in left], [s.lower() for s in right]
        if len(left) == 1 and len(right) == 1:
            return np.array([[left[0] == right[0]]])
        many, one = (left, right) if len(left) >= len(right) else (right, left)
        shape = shape_of(a) if len(left) >= len(right) else shape_of(b)
        if len(one) == 1:
            return np.array([s == one[0] for s in many]).reshape(shape, order="F")
        if len(one) != len(many):
            raise FunctionError(f"{name}: the arguments have different numbers of texts")
        return np.array([s == t for s, t in zip(left, right)]).reshape(shape, order="F")

    return compare


FUNCTIONS["strcmp"] = _compare_texts("strcmp", False)
FUNCTIONS["strcmpi"] = _compare_texts("strcmpi", True)


@builtin("str2double")
def _str2double(call: CallContext, args: list[Any], nargout: int) -> Any:
    """MATLAB's str2double: digits with commas as thousands separators, a decimal point, a sign, an exponent, Inf
    and NaN; anything else (and any input that is not text) is NaN."""
    _nargs("str2double", args, 1, 1)
    value = args[0]
    if isinstance(value, Cell):
        items = [s if isinstance(s, str) else str(s.data.reshape(-1)[0]) if isinstance(s, Strings) and s.data.size == 1
                 else None for s in value.data.reshape(-1, order="F")]
        shape = value.data.shape
    elif isinstance(value, (str, Strings)):
        items, shape = texts(value, "str2double")
    else:
        return np.array([[math.nan]])

    def parse(s: str | None) -> float:
        s = (s or "").strip()
        if _DOUBLE.fullmatch(s):
            return float(s.replace(",", ""))
        return float(s) if s.lower().lstrip("+-") in ("inf", "nan") else math.nan

    return np.array([parse(s) for s in items]).reshape(shape if len(shape) >= 2 else (1, len(items)), order="F")


_DOUBLE = re.compile(r"[+-]?(?:\d[\d,]*(?:\.\d*)?|\.\d+)(?:[eE][+-]?\d+)?")


@builtin("isequal")
def _isequal(call: CallContext, args: list[Any], nargout: int) -> Any:
    from .workspace import same

    if len(args) < 2:
        raise FunctionError("isequal needs two or more arguments")
    first = args[0]
    return np.array([[all(same(first, other) for other in args[1:])]])


def _is_kind(name: str, test: Callable[[Any], bool]) -> Builtin:
    def check(call: CallContext, args: list[Any], nargout: int) -> Any:
        _nargs(name, args, 1, 1)
        return np.array([[bool(test(args[0]))]])

    return check


FUNCTIONS["isnumeric"] = _is_kind("isnumeric", lambda v: isinstance(v, np.ndarray) and v.dtype.kind in "iuf")
FUNCTIONS["islogical"] = _is_kind("islogical", lambda v: isinstance(v, np.ndarray) and v.dtype == bool)
FUNCTIONS["ischar"] = _is_kind("ischar", lambda v: isinstance(v, str))
FUNCTIONS["isstring"] = _is_kind("isstring", lambda v: isinstance(v, Strings))
FUNCTIONS["iscell"] = _is_kind("iscell", lambda v: isinstance(v, Cell))
FUNCTIONS["isstruct"] = _is_kind("isstruct", lambda v: isinstance(v, dict))
FUNCTIONS["iscellstr"] = _is_kind("iscellstr", lambda v: isinstance(v, Cell) and all(isinstance(s, str) for s in v.data.flat))


# -- cells, structs, arrays ------------------------------------------------------------------------------


@builtin("deal")
def _deal(call: CallContext, args: list[Any], nargout: int) -> Any:
    if len(args) == 1:
        return tuple([args[0]] * max(nargout, 1)) if nargout > 1 else args[0]
    if nargout > len(args) or (nargout > 1 and nargout != len(args)):
        raise FunctionError(f"deal: {len(args)} inputs for {nargout} outputs")
    return tuple(args) if nargout > 1 else args[0]


@builtin("struct")
def _struct(call: CallContext, args: list[Any], nargout: int) -> Any:
    if len(args) % 2:
        raise FunctionError("struct needs field-value pairs")
    out: dict[str, Any] = {}
    for k in range(0, len(args), 2):
        value = args[k + 1]
        if isinstance(value, Cell):
            if value.data.size != 1:
                raise FunctionError("struct arrays are not supported: give each field one value (or {value})")
            value = value.data.reshape(-1)[0]
        out[text(args[k], "struct's field name")] = value
    return out


@builtin("fieldnames")
def _fieldnames(call: CallContext, args: list[Any], nargout: int) -> Any:
    _nargs("fieldnames", args, 1, 1)
    if not isinstance(args[0], dict):
        raise FunctionError(f"fieldnames needs a struct, got {describe(args[0])}")
    names = list(args[0])
    return Cell(object_array(names, (len(names), 1)))


@builtin("isfield")
def _isfield(call: CallContext, args: list[Any], nargout: int) -> Any:
    _nargs("isfield", args, 2, 2)
    if not isinstance(args[0], dict):
        return np.array([[False]])
    names, shape = texts(args[1], "isfield")
    return np.array([s in args[0] for s in names]).reshape(shape, order="F")


@builtin("horzcat", "vertcat")
def _cat(call: CallContext, args: list[Any], nargout: int) -> Any:
    rows = [list(args)] if call.name == "horzcat" else [[a] for a in args]
    try:
        return concatenate(rows, call.budget, call.pos)
    except IndexError_ as error:
        raise FunctionError(f"{call.name}: {error}") from None


@builtin("cat")
def _cat_dim(call: CallContext, args: list[Any], nargout: int) -> Any:
    if not args:
        raise FunctionError("cat needs a dimension")
    dim = integer(args[0], "cat's dimension", 1)
    if dim > 2:
        raise FunctionError("cat along dimensions above 2 is not supported")
    rows = [list(args[1:])] if dim == 2 else [[a] for a in args[1:]]
    try:
        return concatenate(rows, call.budget, call.pos)
    except IndexError_ as error:
        raise FunctionError(f"cat: {error}") from None


@builtin("repmat")
def _repmat(call: CallContext, args: list[Any], nargout: int) -> Any:
    _nargs("repmat", args, 2, 3)
    value = args[0]
    reps = _sizes(call, [np.zeros((1, 1))], "repmat") and [integer(a, "repmat's count") for a in args[1:]]
    if len(reps) == 1:
        reps = reps * 2
    if isinstance(value, (Layer, LayerArray)):
        layers = list(value) if isinstance(value, LayerArray) else [value]
        count = elements(tuple(reps))
        call.budget.charge(len(layers) * count, call.pos)
        return LayerArray(layers * count)
    array, wrap = (value.data, type(value)) if isinstance(value, (Cell, Strings)) else (numbers(value, "repmat"), lambda a: a)
    shape = tuple(d * r for d, r in zip(array.shape, reps))
    call.budget.charge(elements(shape), call.pos, shape)
    return wrap(np.tile(array, reps))


@builtin("reshape")
def _reshape(call: CallContext, args: list[Any], nargout: int) -> Any:
    if len(args) < 2:
        raise FunctionError("reshape needs a size")
    value = args[0]
    array, wrap = (value.data, type(value)) if isinstance(value, (Cell, Strings)) else (numbers(value, "reshape"), lambda a: a)
    dims: list[int | None] = []
    for a in args[1:]:
        if isinstance(a, np.ndarray) and a.size == 0:
            dims.append(None)
        else:
            dims += [integer(v, "reshape's size") for v in numbers(a, "reshape").reshape(-1)]
    known = elements(tuple(d for d in dims if d is not None))
    if None in dims:
        if dims.count(None) > 1 or known == 0 or array.size % known:
            raise FunctionError("reshape: the sizes do not fit the number of elements")
        dims = [array.size // known if d is None else d for d in dims]
    if elements(tuple(dims)) != array.size:  # type: ignore[arg-type]
        raise FunctionError(f"reshape: {array.size} elements cannot become {'x'.join(map(str, dims))}")
    return wrap(array.reshape(tuple(dims), order="F"))  # type: ignore[arg-type]


@builtin("transpose")
def _transpose_fn(call: CallContext, args: list[Any], nargout: int) -> Any:
    from .evaluator import transpose

    _nargs("transpose", args, 1, 1)
    return transpose(args[0], call)


# -- layer graphs ---------------------------------------------------------------------------------------


def _layers(value: Any, name: str) -> LayerArray:
    if isinstance(value, LayerArray):
        return value
    if isinstance(value, Layer):
        return LayerArray([value])
    if isinstance(value, np.ndarray) and value.size == 0:
        return LayerArray()
    raise FunctionError(f"{name} needs a layer array, got {describe(value)}")


def plain_ports(source: str, target: str) -> bool:
    """``'a'``/``'a/out'`` to ``'b'``/``'b/in'``: a connection a chain can have (not ``'fold/miniBatchSize'``)."""
    return source.split("/")[1:] in ([], ["out"]) and target.split("/")[1:] in ([], ["in"])


def branch_message(source: str, target: str) -> str:
    return (f"connectLayers {source} -> {target} makes a layer graph with branches (or joins layers that are not "
            "the end of one chain and the start of another); lstm2onnx builds chains of layers (put the layers in one array)")


class Pieces:
    """A layer graph of several chains not connected yet (``addLayers`` of a second array, as Deep Network
    Designer's generated code does); ``connectLayers`` from the end of one to the start of another joins them."""

    __slots__ = ("chains",)

    def __init__(self, chains: list[LayerArray]) -> None:
        self.chains = chains

    def describe(self) -> str:
        return "; ".join(" -> ".join(repr(layer.Name) for layer in chain) for chain in self.chains)


def _graph_layers(value: Any, name: str) -> LayerArray:
    if isinstance(value, Pieces):
        raise FunctionError(f"{name}: the layer graph is {len(value.chains)} chains not connected ({value.describe()}): "
                            "connect them with connectLayers, or put the layers in one array")
    return _layers(value, name)


@builtin("layerGraph", "assembleNetwork")
def _layer_graph(call: CallContext, args: list[Any], nargout: int) -> Any:
    _nargs(call.name, args, 0, 1)
    return LayerArray(_graph_layers(args[0], call.name)) if args else LayerArray()


@builtin("connectLayers")
def _connect_layers(call: CallContext, args: list[Any], nargout: int) -> Any:
    """``connectLayers(lgraph, 's', 'd')`` (``'s/out'``, ``'d/in'``): joins the chain ending at ``s`` to the one
    starting at ``d``. Any other connection makes a branch, which lstm2onnx does not build."""
    _nargs("connectLayers", args, 3, 3)
    graph = args[0]
    chains = list(graph.chains) if isinstance(graph, Pieces) else [_layers(graph, "connectLayers")]
    source, target = text(args[1], "connectLayers' source"), text(args[2], "connectLayers' destination")
    ends = {chain[-1].Name: k for k, chain in enumerate(chains) if len(chain) and chain[-1].Name}
    starts = {chain[0].Name: k for k, chain in enumerate(chains) if len(chain) and chain[0].Name}
    a, b = ends.get(source.split("/")[0]), starts.get(target.split("/")[0])
    if not plain_ports(source, target) or a is None or b is None or a == b:
        raise FunctionError(branch_message(source, target))
    joined = LayerArray(list(chains[a]) + list(chains[b]))
    rest = [chain for k, chain in enumerate(chains) if k not in (a, b)]
    return joined if not rest else Pieces([joined] + rest)


@builtin("dlnetwork")
def _dlnetwork(call: CallContext, args: list[Any], nargout: int) -> Any:
    if args and isinstance(args[0], Pieces):
        _graph_layers(args[0], "dlnetwork")
    if not args:
        return LayerArray()
    rest = args[1:]
    if len(rest) % 2:
        raise FunctionError("dlnetwork takes a layer array and name-value options")
    for k in range(0, len(rest), 2):
        option = text(rest[k], "dlnetwork's option").lower()
        if option not in ("initialize", "inputs", "outputnames"):
            raise FunctionError(f"dlnetwork: unknown option {option!r}")
    return LayerArray(_layers(args[0], "dlnetwork"))


@builtin("addLayers")
def _add_layers(call: CallContext, args: list[Any], nargout: int) -> Any:
    _nargs("addLayers", args, 2, 2)
    layers = _layers(args[1], "addLayers")
    chains = list(args[0].chains) if isinstance(args[0], Pieces) else [_layers(args[0], "addLayers")]
    chains = [chain for chain in chains if len(chain)] + ([LayerArray(layers)] if len(layers) else [])
    if len(chains) <= 1:
        return chains[0] if chains else LayerArray()
    return Pieces(chains)  # not connected yet: connectLayers joins them


def _named_chains(graph: Any, name: str) -> list[LayerArray]:
    """The chains of a layer graph, each layer with the name MATLAB's layerGraph gives it ('lstm', 'fc_2'...)."""
    from ..network import _assign_names

    chains = list(graph.chains) if isinstance(graph, Pieces) else [_layers(graph, name)]
    return [LayerArray(_assign_names(list(chain))) for chain in chains if len(chain)]


def _find_layer(chains: list[LayerArray], wanted: str, name: str) -> tuple[int, int]:
    for c, chain in enumerate(chains):
        for k, layer in enumerate(chain):
            if layer.Name == wanted:
                return c, k
    known = ", ".join(repr(layer.Name) for chain in chains for layer in chain)
    raise FunctionError(f"{name}: the layer graph has no layer named {wanted!r} (its layers: {known})")


def _graph(chains: list[LayerArray]) -> Any:
    chains = [chain for chain in chains if len(chain)]
    return chains[0] if len(chains) == 1 else Pieces(chains) if chains else LayerArray()


@builtin("removeLayers")
def _remove_layers(call: CallContext, args: list[Any], nargout: int) -> Any:
    """``removeLayers(lgraph, names)``: as MATLAB, the layers and their connections go and nothing is reconnected:
    removing a chain's first or last layers leaves a chain, removing one in the middle leaves two pieces that
    connectLayers can join again."""
    _nargs("removeLayers", args, 2, 2)
    chains = _named_chains(args[0], "removeLayers")
    for wanted in texts(args[1], "removeLayers' layer names")[0]:
        c, k = _find_layer(chains, wanted, "removeLayers")
        chain = list(chains[c])
        chains[c:c + 1] = [LayerArray(chain[:k]), LayerArray(chain[k + 1:])]
        chains = [piece for piece in chains if len(piece)]
    return _graph(chains)


@builtin("replaceLayer")
def _replace_layer(call: CallContext, args: list[Any], nargout: int) -> Any:
    """``replaceLayer(lgraph, name, larray)`` (``ReconnectBy`` 'name' or 'order'): the layers of ``larray``, in a
    chain, take the named layer's place and connections."""
    if len(args) not in (3, 5):
        raise FunctionError("replaceLayer takes (lgraph, layerName, larray) and the option ReconnectBy")
    if len(args) == 5:
        option, how = text(args[3], "replaceLayer's option"), text(args[4], "ReconnectBy")
        if option.lower() != "reconnectby" or how.lower() not in ("name", "order"):
            raise FunctionError(f"replaceLayer: unknown option {option!r} = {how!r} (ReconnectBy is 'name' or 'order')")
    chains = _named_chains(args[0], "replaceLayer")
    c, k = _find_layer(chains, text(args[1], "replaceLayer's layer name"), "replaceLayer")
    new = _layers(args[2], "replaceLayer")
    if not len(new):
        raise FunctionError("replaceLayer needs at least one layer to put in the graph")
    chain = list(chains[c])
    chains[c] = LayerArray(chain[:k] + list(new) + chain[k + 1:])
    return _graph(chains)


# -- random draws, replaced by fixed ones ----------------------------------------------------------------
#
# A network's sizes never depend on which observations a random split picks (the feature count of X(idx) is
# that of X; a stratified or large split keeps every class), so randperm, cvpartition and rand/randn/randi
# evaluate to one fixed draw (the same each build), and the evaluator notes that only sizes are meaningful.

RANDOM_DRAWS = frozenset({"randperm", "cvpartition", "rand", "randn", "randi", "trainingPartitions", "dividerand"})
_SEED = 0


def _draws() -> np.random.Generator:
    return np.random.default_rng(_SEED)


@builtin("randperm")
def _randperm(call: CallContext, args: list[Any], nargout: int) -> Any:
    """``randperm(n)``: a permutation of 1..n; ``randperm(n, k)``: k distinct values of 1..n (a fixed draw)."""
    _nargs("randperm", args, 1, 2)
    n = integer(args[0], "randperm's n")
    k = integer(args[1], "randperm's k") if len(args) == 2 else n
    if k > n:
        raise FunctionError(f"randperm: k ({k}) must be at most n ({n})")
    call.budget.charge(n + k, call.pos, (1, n))
    return (_draws().permutation(n)[:k].astype(float) + 1).reshape(1, -1)


@builtin("dividerand")
def _dividerand(call: CallContext, args: list[Any], nargout: int) -> Any:
    """``[trainInd, valInd, testInd] = dividerand(Q, trainRatio, valRatio, testRatio)`` (the shallow-network
    split): the ratios normalised, round(valRatio*Q) validation and round(testRatio*Q) test indices, the rest
    training; rows of indices from one fixed permutation."""
    _nargs("dividerand", args, 1, 4)
    q = integer(args[0], "dividerand's Q")
    ratios = [float(numbers(a, "dividerand's ratio").reshape(-1)[0]) for a in args[1:]] + [0.7, 0.15, 0.15][len(args) - 1:]
    if any(r < 0 for r in ratios) or sum(ratios) <= 0:
        raise FunctionError("dividerand's ratios must be non-negative and not all zero")
    total = sum(ratios)
    n_val, n_test = (int(math.floor(r / total * q + 0.5)) for r in ratios[1:])  # MATLAB rounds halves up
    call.budget.charge(2 * q, call.pos, (1, q))
    order = _draws().permutation(q).astype(float) + 1
    cut = q - n_val - n_test
    parts = [np.sort(order[:cut]), np.sort(order[cut:cut + n_val]), np.sort(order[cut + n_val:])]
    return tuple(p.reshape(1, -1) for p in parts[:max(1, nargout)]) if nargout > 1 else parts[0].reshape(1, -1)


@builtin("rand", "randn")
def _rand(call: CallContext, args: list[Any], nargout: int) -> Any:
    shape = _sizes(call, args, call.name)
    draws = _draws()
    return draws.random(shape) if call.name == "rand" else draws.standard_normal(shape)


@builtin("randi")
def _randi(call: CallContext, args: list[Any], nargout: int) -> Any:
    """``randi(imax, sz...)`` / ``randi([imin imax], sz...)``: integers (a fixed draw)."""
    if not args:
        raise FunctionError("randi needs the largest integer, imax")
    bounds = numbers(args[0], "randi's range").reshape(-1)
    if bounds.size not in (1, 2) or not all(float(b).is_integer() for b in bounds):
        raise FunctionError("randi needs an integer imax or [imin imax]")
    low, high = (1.0, float(bounds[0])) if bounds.size == 1 else (float(bounds[0]), float(bounds[1]))
    if high < low:
        raise FunctionError(f"randi: the range [{low:g} {high:g}] is empty")
    shape = _sizes(call, args[1:], "randi")
    return _draws().integers(int(low), int(high), size=shape, endpoint=True).astype(float)


@builtin("trainingPartitions")
def _training_partitions(call: CallContext, args: list[Any], nargout: int) -> Any:
    """``[idxTrain, idxValidation, idxTest] = trainingPartitions(n, [0.8 0.1 0.1])``: the supporting function of
    MathWorks' examples (a random permutation of 1..n; each part but the last takes floor(split*n) indices, the
    last the rest). A local function of that name in the file is called instead."""
    _nargs("trainingPartitions", args, 2, 2)
    n = integer(args[0], "trainingPartitions' numObservations", 1)
    splits = [float(v) for v in numbers(args[1], "trainingPartitions' splits").reshape(-1)]
    if not splits or any(not 0 < v < 1 for v in splits) and len(splits) > 1 or abs(sum(splits) - 1) > 1e-9:
        raise FunctionError(f"trainingPartitions: the splits must be fractions in (0, 1) that sum to 1, got {splits}")
    if nargout > len(splits):
        raise FunctionError(f"trainingPartitions: {len(splits)} splits give {len(splits)} outputs, {nargout} asked for")
    call.budget.charge(2 * n, call.pos, (1, n))
    order = _draws().permutation(n).astype(float) + 1
    parts, start = [], 0
    for fraction in splits[:-1]:
        size = int(math.floor(fraction * n))
        parts.append(order[start:start + size].reshape(1, -1))
        start += size
    parts.append(order[start:].reshape(1, -1))
    return tuple(parts[:nargout]) if nargout > 1 else parts[0]


class Partition:
    """A ``cvpartition``: the test observations of each test set as logical masks (a fixed draw)."""

    PROPERTIES = ("NumObservations", "NumTestSets", "TrainSize", "TestSize", "Type")

    def __init__(self, kind: str, tests: list[np.ndarray]) -> None:
        self.kind, self.tests = kind, tests

    def property(self, name: str) -> Any:
        n = self.tests[0].size
        if name == "NumObservations":
            return np.array([[float(n)]])
        if name == "NumTestSets":
            return np.array([[float(len(self.tests))]])
        if name in ("TrainSize", "TestSize"):
            counts = [float(t.sum()) if name == "TestSize" else float(n - t.sum()) for t in self.tests]
            if self.kind == "resubstitution":
                counts = [float(n)]
            return np.array([counts])
        if name == "Type":
            return self.kind
        raise FunctionError(f"a cvpartition has no property {name!r} (its properties: {', '.join(self.PROPERTIES)})")

    def mask(self, which: str, index: int) -> np.ndarray:
        if not 1 <= index <= len(self.tests):
            raise FunctionError(f"{which}: test set {index} does not exist (the partition has {len(self.tests)})")
        test = self.tests[index - 1]
        if self.kind == "resubstitution":
            return np.ones((test.size, 1), dtype=bool)
        return (test if which == "test" else ~test).reshape(-1, 1).copy()


def _split_counts(n: int, k: int) -> list[int]:
    """k fold sizes of n observations, differing by at most one (the first ones larger)."""
    return [n // k + (1 if j < n % k else 0) for j in range(k)]


def _shares(total: int, sizes: list[int]) -> list[int]:
    """``total`` split over groups in proportion to their sizes (largest remainders first): a stratified holdout."""
    n = sum(sizes)
    ideal = [total * size / n for size in sizes]
    out = [int(math.floor(x)) for x in ideal]
    for j in sorted(range(len(sizes)), key=lambda j: out[j] - ideal[j])[: total - sum(out)]:
        out[j] += 1
    return out


def _holdout_size(p: float, n: int) -> int:
    """MATLAB's holdout test size: round(p*n) for 0 < p < 1, p itself for an integer p >= 1."""
    if 0 < p < 1:
        return int(math.floor(p * n + 0.5))
    if p >= 1 and float(p).is_integer() and p < n:
        return int(p)
    raise FunctionError(f"cvpartition: HoldOut must be a fraction in (0, 1) or an integer from 1 to n-1, got {p:g} (n = {n})")


@builtin("cvpartition")
def _cvpartition(call: CallContext, args: list[Any], nargout: int) -> Any:
    """``cvpartition(n or group, 'HoldOut', p | 'KFold', k | 'Leaveout' | 'Resubstitution', 'Stratify', tf)``.

    A group (labels) stratifies, as MATLAB does by default: each class is split in the same proportion.
    """
    if not args:
        raise FunctionError("cvpartition needs n or a grouping variable")
    _opaque_check(call, "cvpartition", args)
    first = args[0]
    groups: list[str] | None = None
    if isinstance(first, np.ndarray) and first.size == 1:
        n = integer(first, "cvpartition's n", 1)
    else:
        groups = texts(first, "cvpartition's group")[0]
        n = len(groups)
    call.budget.charge(4 * n, call.pos, (n, 1))
    rest = args[1:]
    kind, amount, stratify = "kfold", 10.0, groups is not None
    k = 0
    while k < len(rest):
        option = text(rest[k], "cvpartition's option").lower()
        if option in ("leaveout", "resubstitution"):
            kind = option
            k += 1
            continue
        if k + 1 >= len(rest):
            raise FunctionError(f"cvpartition: {option!r} needs a value")
        if option in ("holdout", "kfold"):
            kind, amount = option, scalar(rest[k + 1], f"cvpartition's {option}")
        elif option == "stratify":
            stratify = groups is not None and bool(scalar(rest[k + 1], "cvpartition's Stratify"))
        else:
            raise FunctionError(f"cvpartition: unknown option {option!r} (known: HoldOut, KFold, Leaveout, Resubstitution, "
                                "Stratify)")
        k += 2
    members = [np.arange(n)]
    if stratify and groups is not None:
        order: dict[str, list[int]] = {}
        for j, label in enumerate(groups):
            order.setdefault(label, []).append(j)
        members = [np.array(order[label]) for label in sorted(order)]
    draws = _draws()
    members = [draws.permutation(m) for m in members]
    if kind == "resubstitution":
        return Partition(kind, [np.zeros(n, dtype=bool)])
    if kind == "leaveout":
        if n > 10_000:
            raise FunctionError(f"cvpartition: Leaveout on {n} observations makes {n} test sets; lstm2onnx builds at most 10000")
        call.budget.charge(n * n / 8, call.pos, (n, n))
        return Partition(kind, [np.arange(n) == j for j in range(n)])
    if kind == "holdout":
        test = np.zeros(n, dtype=bool)
        for m, size in zip(members, _shares(_holdout_size(amount, n), [m.size for m in members])):
            test[m[:size]] = True
        return Partition(kind, [test])
    folds = integer(amount, "cvpartition's KFold", 1)
    if folds > n or folds > 10_000:
        raise FunctionError(f"cvpartition: KFold must be at most the number of observations ({n}), got {folds}")
    call.budget.charge(n * folds / 8, call.pos, (n, folds))
    tests = [np.zeros(n, dtype=bool) for _ in range(folds)]
    for m in members:
        start = 0
        for j, size in enumerate(_split_counts(m.size, folds)):
            tests[j][m[start:start + size]] = True
            start += size
    return Partition(kind, tests)


@builtin("training", "test")
def _partition_mask(call: CallContext, args: list[Any], nargout: int) -> Any:
    """``training(c)`` / ``test(c, i)``: the logical n-by-1 mask of a cvpartition's i-th training or test set."""
    _nargs(call.name, args, 1, 2)
    if not isinstance(args[0], Partition):
        raise FunctionError(f"{call.name} needs a cvpartition, got {describe(args[0])}")
    index = 1 if len(args) == 1 else integer(args[1], f"{call.name}'s test set", 1)
    call.budget.charge(args[0].tests[0].size, call.pos)
    return args[0].mask(call.name, index)


# -- size-preserving normalisations that scripts apply before reading sizes ----------------------------------


@builtin("mapminmax")
def _mapminmax(call: CallContext, args: list[Any], nargout: int) -> Any:
    """``[Y, PS] = mapminmax(X, ymin, ymax)`` (rows mapped to [ymin, ymax], default [-1, 1]); ``mapminmax('apply',
    X, PS)`` and ``mapminmax('reverse', Y, PS)`` with the settings struct it returned."""
    if args and isinstance(args[0], str):
        _nargs("mapminmax", args, 3, 3)
        mode = args[0].lower()
        settings = args[2]
        if mode not in ("apply", "reverse") or not isinstance(settings, dict) or not {"gain", "xoffset", "ymin"} <= set(settings):
            raise FunctionError("mapminmax: expected mapminmax('apply' or 'reverse', X, PS) with the PS mapminmax returned")
        x = numbers(args[1], "mapminmax")
        call.budget.charge(x.size, call.pos, x.shape)
        gain, offset, low = (numbers(settings[k], "mapminmax") for k in ("gain", "xoffset", "ymin"))
        with np.errstate(all="ignore"):
            return (x - offset) * gain + low if mode == "apply" else (x - low) / gain + offset
    _nargs("mapminmax", args, 1, 3)
    x = numbers(args[0], "mapminmax")
    low = scalar(args[1], "mapminmax's ymin") if len(args) > 1 else -1.0
    high = scalar(args[2], "mapminmax's ymax") if len(args) > 2 else 1.0
    call.budget.charge(2 * x.size, call.pos, x.shape)
    xmin, xmax = (x.min(axis=1, keepdims=True), x.max(axis=1, keepdims=True)) if x.size else (np.zeros((x.shape[0], 1)),) * 2
    span = xmax - xmin
    gain = np.where(span == 0, 1.0, (high - low) / np.where(span == 0, 1.0, span))
    y = (x - xmin) * gain + low
    settings = {"name": "mapminmax", "xrows": np.array([[float(x.shape[0])]]), "xmax": xmax, "xmin": xmin,
                "xrange": span, "yrows": np.array([[float(x.shape[0])]]), "ymax": np.array([[high]]),
                "ymin": np.array([[low]]), "yrange": np.array([[high - low]]), "gain": gain, "xoffset": xmin}
    return (y, settings) if nargout > 1 else y


@builtin("zscore")
def _zscore(call: CallContext, args: list[Any], nargout: int) -> Any:
    """``[Z, mu, sigma] = zscore(X, w, dim)``: along the first dimension that is not 1 by default."""
    _opaque_check(call, "zscore", args)
    _nargs("zscore", args, 1, 3)
    x = numbers(args[0], "zscore")
    dims = [args[2]] if len(args) == 3 else []
    mu = FUNCTIONS["mean"](call, [x] + dims, 1)
    sigma = FUNCTIONS["std"](call, [x, args[1] if len(args) > 1 else np.zeros((0, 0))] + dims, 1)
    call.budget.charge(x.size, call.pos, x.shape)
    with np.errstate(all="ignore"):
        z = np.where(sigma == 0, x - mu, (x - mu) / np.where(sigma == 0, 1.0, sigma))
    return (z, mu, sigma)[: max(nargout, 1)] if nargout > 1 else z


@builtin("normalize", "rescale")
def _normalize(call: CallContext, args: list[Any], nargout: int) -> Any:
    """``normalize(X)`` (z-scores; ``normalize(X, dim)``, ``normalize(X, 'range')``) and ``rescale(X, l, u)``:
    values of the same size (what a network's sizes depend on)."""
    _opaque_check(call, call.name, args)
    if not args:
        raise FunctionError(f"{call.name} needs an array")
    x = numbers(args[0], call.name)
    call.budget.charge(2 * x.size, call.pos, x.shape)
    with np.errstate(all="ignore"):
        if call.name == "rescale":
            low = scalar(args[1], "rescale's lower bound") if len(args) > 1 else 0.0
            high = scalar(args[2], "rescale's upper bound") if len(args) > 2 else 1.0
            span = x.max() - x.min() if x.size else 0.0
            return np.full(x.shape, low) if span == 0 else low + (x - x.min()) / span * (high - low)
        rest = list(args[1:])
        dim = [rest.pop(0)] if rest and not isinstance(rest[0], str) else []
        method = text(rest[0], "normalize's method").lower() if rest else "zscore"
        if method == "zscore":
            return _zscore(call, [x, np.zeros((0, 0))] + dim, 1)
        if method == "range":
            axis = integer(dim[0], "normalize's dimension", 1) - 1 if dim else _first_dim(x.shape)
            low, high = x.min(axis=axis, keepdims=True), x.max(axis=axis, keepdims=True)
            return np.where(high == low, 0.0, (x - low) / np.where(high == low, 1.0, high - low))
    raise FunctionError(f"normalize: method {method!r} is not supported (zscore, range)")
