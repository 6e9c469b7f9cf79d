"""Trained weights saved from MATLAB (.mat v5/v7 through scipy.io, v7.3/HDF5 through h5py).

Save them in MATLAB as one struct per layer, named by the layer's Name, with
the learnables (and normalization statistics, states) as plain arrays::

    s = struct();
    for i = 1:numel(net.Layers)
        L = net.Layers(i); f = struct();
        for p = ["InputWeights" "RecurrentWeights" "Bias" "RecurrentBias" "InputProjector" "OutputProjector" "Weights" "Mean" "StandardDeviation" "Min" "Max" "HiddenState" "CellState" "TrainedMean" "TrainedVariance" "Offset" "Scale"]
            if isprop(L, p) && ~isempty(L.(p))
                v = L.(p); if isa(v, "dlarray"), v = extractdata(v); end
                f.(p) = double(gather(v));
            end
        end
        if ~isempty(fieldnames(f)), s.(matlab.lang.makeValidName(L.Name)) = f; end
    end
    save("learnables.mat", "-struct", "s")          % add "-v7.3" for HDF5

A layer Name that is not a valid field name ('lstm-1', 'fc 2') is found under
``matlab.lang.makeValidName(L.Name)`` ('lstm_1', 'fc2'), as code that writes
``s.(matlab.lang.makeValidName(L.Name))`` saves it. The structs may also sit one level
down (``save("w.mat", "s")`` without ``-struct``; several such variables, e.g. one from
``net.Learnables`` and one from ``net.State``, are merged).

A saved network object (``save net.mat net``), a ``table`` (``net.Learnables``), a
``dlarray`` or a ``gpuArray`` cannot be read outside MATLAB; the error names the
variable and says what to save instead (``extractdata``, ``gather``, a loop over the table).
"""

from __future__ import annotations

import dataclasses
import os
import re
from typing import Any, Sequence

import numpy as np

from ..errors import Lstm2OnnxError, SpecError
from ..layers import Layer
from ..network import LayerArray, analyze
from .matfile import Opaque, read_mat

FIELDS = ("InputWeights", "RecurrentWeights", "Bias", "RecurrentBias", "InputProjector", "OutputProjector", "Weights", "Mean", "StandardDeviation", "Min", "Max", "HiddenState", "CellState",
          "TrainedMean", "TrainedVariance", "Offset", "Scale")
SNIPPET_HINT = (
    "save the learnables as plain arrays instead, one struct per layer Name: "
    "s.(L.Name).InputWeights = double(L.InputWeights); ...; save('learnables.mat', '-struct', 's') "
    "(the full snippet is in the README)"
)
TABLE_HINT = (
    "save one struct per layer instead: s = struct(); T = net.Learnables; for k = 1:height(T), v = T.Value{k}; "
    "if isa(v, 'dlarray'), v = extractdata(v); end; s.(matlab.lang.makeValidName(T.Layer(k))).(T.Parameter(k)) = double(gather(v)); end; "
    "save('learnables.mat', '-struct', 's') (the same loop over net.State adds TrainedMean, TrainedVariance, HiddenState, CellState)"
)
OBJECT_HINTS = {  # what to save instead of a MATLAB class that only MATLAB can read
    "dlarray": "save its numbers: double(gather(extractdata(v)))",
    "gpuArray": "save its numbers: double(gather(v))",
    "parallel.gpu.GPUArray": "save its numbers: double(gather(v))",
    "table": TABLE_HINT,
}


def load_weights(path: str | os.PathLike) -> dict[str, dict[str, np.ndarray]]:
    """``{layer Name: {field: array}}`` from a .mat file of either format, read within :mod:`.matfile`'s bounds.

    A variable is one layer's struct (its fields arrays), or a struct of such structs (all its fields structs).
    """
    path = os.fspath(path)
    variables = read_mat(path)
    if not variables:
        raise SpecError(f"{path}: the file holds no variables; expected one struct of arrays per layer Name; {SNIPPET_HINT}")
    out: dict[str, dict[str, np.ndarray]] = {}
    # a saved object first, by its name; MATLAB's store of object data ('#subsystem#') last, if no variable showed one
    for name, value in sorted(variables.items(), key=lambda item: (item[0].startswith("#"), not isinstance(item[1], Opaque))):
        if name.startswith("#"):
            raise SpecError(f"{path}: the file holds a MATLAB object, which cannot be read outside MATLAB; {SNIPPET_HINT}")
        if isinstance(value, Opaque):
            raise SpecError(f"{path}: variable {name!r} is a MATLAB {value.matlab_class}, which cannot be read outside MATLAB; {_hint(value)}")
        if not isinstance(value, dict):
            raise SpecError(f"{path}: variable {name!r} is {_what(value)}; expected a struct of arrays per layer Name{_bare(name)}; {SNIPPET_HINT}")
        layers = {name: value}
        if value and all(isinstance(v, dict) for v in value.values()) and not set(value) & set(FIELDS):  # save(f, 's') without '-struct'
            layers = {f"{name}.{layer}": fields for layer, fields in value.items()}
        for label, fields in layers.items():
            layer = label.rpartition(".")[2]
            for field, array in fields.items():
                if field in out.get(layer, {}):
                    raise SpecError(f"{path}: {label}.{field} is given twice (also in another variable); keep one")
                out.setdefault(layer, {})[field] = _numeric(path, f"{label}.{field}", array)
    return out


def _bare(name: str) -> str:
    """For a variable named like a field (InputWeights = net.Layers(2).InputWeights): where it must go."""
    if name in FIELDS:
        return f" (a bare {name} does not say which layer it belongs to: save it as s.<layer Name>.{name})"
    return ""


def _hint(value: Opaque) -> str:
    return OBJECT_HINTS.get(value.matlab_class, SNIPPET_HINT)


def _numeric(path: str, label: str, value: Any) -> np.ndarray:
    """A real numeric field as float64, or a SpecError that says what it is instead."""
    if isinstance(value, np.ndarray) and value.dtype.kind in "fiub":
        return np.asarray(value, dtype=np.float64)
    if isinstance(value, np.ndarray) and value.dtype.kind == "c":
        raise SpecError(f"{path}: {label} is complex; learnables must be real")
    raise SpecError(f"{path}: {label} is {_what(value)}, not a numeric array; {_hint(value) if isinstance(value, Opaque) else SNIPPET_HINT}")


def _what(value: Any) -> str:
    if isinstance(value, Opaque):
        return f"a MATLAB {value.matlab_class}"
    if isinstance(value, str):
        return "text (a char array)"
    if isinstance(value, dict):
        return "a struct"
    if isinstance(value, np.ndarray):
        if value.dtype == object and value.size and all(isinstance(v, dict) for v in value.flat):
            return f"a {'x'.join(map(str, value.shape))} struct array"
        if value.dtype == object:
            return "a cell array"
        return f"a {'x'.join(map(str, value.shape))} {value.dtype} array"
    return type(value).__name__


def apply_weights(layers: Sequence[Layer], weights: dict[str, dict[str, np.ndarray]]) -> LayerArray:
    """The layers (names assigned as MATLAB does) with the given fields set; shapes checked per layer and field."""
    if not any(weights.values()):
        raise SpecError("the weights file sets no learnable: expected one struct per layer Name with fields such as InputWeights")
    named = analyze(layers, need_statistics=False).layers
    by_name = {layer.Name: k for k, layer in enumerate(named)}
    out = list(named)
    given: dict[int, str] = {}
    for name, fields in weights.items():
        index = _layer_index(name, by_name)
        if index in given:
            raise SpecError(f"weights for layer {named[index].Name!r} are given as {given[index]!r} and as {name!r}; keep one")
        given[index] = name
        name = named[index].Name
        layer = out[index]
        allowed = {f.name for f in dataclasses.fields(layer)} & set(FIELDS)
        for field in fields:
            if field not in allowed:
                raise SpecError(f"weights for {layer.FUNCTION} {name!r}: unknown field {field!r}; expected one of {', '.join(sorted(allowed))}")
        try:
            out[index] = dataclasses.replace(layer, **fields)
        except Lstm2OnnxError as error:
            raise SpecError(f"weights for layer {name!r}: {error}") from None
    result = LayerArray(out)
    analyze(result, need_statistics=False)  # sizes of the new learnables against their neighbours
    return result


def _layer_index(name: str, by_name: dict[str, int]) -> int:
    """The layer a struct field names: its Name, or ``matlab.lang.makeValidName`` of its Name when that is unique."""
    if name in by_name:
        return by_name[name]
    matches = [layer for layer in by_name if make_valid_name(layer) == name]
    if len(matches) == 1:
        return by_name[matches[0]]
    if matches:
        raise SpecError(f"weights for layer {name!r}: layers {', '.join(map(repr, matches))} all become {name!r} under matlab.lang.makeValidName; "
                        "give them names that are valid field names")
    raise SpecError(f"weights for layer {name!r}, but the network has no layer of that Name (layers: {', '.join(by_name)}); "
                    "expected a struct named by each layer's Name, or matlab.lang.makeValidName of it")


MATLAB_KEYWORDS = frozenset("break case catch classdef continue else elseif end for function global if otherwise parfor persistent return spmd switch try while".split())


def make_valid_name(name: str) -> str:
    """MATLAB's ``matlab.lang.makeValidName`` (default options): the struct field a layer Name becomes."""
    name = re.sub(r"\s+([a-z])", lambda m: m.group(1).upper(), name.strip())  # whitespace out, next lowercase letter up
    name = re.sub(r"[^A-Za-z0-9_]", "_", re.sub(r"\s+", "", name))
    if name in MATLAB_KEYWORDS:
        name = "x" + name[0].upper() + name[1:]
    elif not name[:1].isascii() or not name[:1].isalpha():
        name = "x" + name
    return name[:63]  # namelengthmax
