"""Trained weights saved from MATLAB (.mat v5/v7 through scipy.io, v7.3/HDF5 through h5py).

Save them in MATLAB as one struct per layer, named by the layer's Name, with
the learnables (and normalization statistics, states) as plain arrays::

    s = struct();
    for i = 1:numel(net.Layers)
        L = net.Layers(i); f = struct();
        for p = ["InputWeights" "RecurrentWeights" "Bias" "RecurrentBias" "InputProjector" "OutputProjector" "Weights" "Mean" "StandardDeviation" "Min" "Max" "HiddenState" "CellState" "TrainedMean" "TrainedVariance" "Offset" "Scale"]
            if isprop(L, p) && ~isempty(L.(p)), f.(p) = double(L.(p)); end
        end
        if ~isempty(fieldnames(f)), s.(L.Name) = f; end
    end
    save("learnables.mat", "-struct", "s")          % add "-v7.3" for HDF5

A saved network object (``save net.mat net``) cannot be read outside MATLAB;
the error says to save the arrays as above instead.
"""

from __future__ import annotations

import dataclasses
import os
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


def load_weights(path: str | os.PathLike) -> dict[str, dict[str, np.ndarray]]:
    """``{layer Name: {field: array}}`` from a .mat file of either format, read within :mod:`.matfile`'s bounds."""
    path = os.fspath(path)
    variables = read_mat(path)
    if not variables:
        raise SpecError(f"{path}: the file holds no variables; expected one struct of arrays per layer Name; {SNIPPET_HINT}")
    out: dict[str, dict[str, np.ndarray]] = {}
    for name, value in variables.items():
        if name.startswith("#"):
            raise SpecError(f"{path}: the file holds a MATLAB object, which cannot be read outside MATLAB; {SNIPPET_HINT}")
        if isinstance(value, Opaque):
            raise SpecError(f"{path}: variable {name!r} is a MATLAB {value.matlab_class}, which cannot be read outside MATLAB; {SNIPPET_HINT}")
        if not isinstance(value, dict):
            raise SpecError(f"{path}: variable {name!r} is {_what(value)}; expected a struct of arrays per layer Name; {SNIPPET_HINT}")
        out[name] = {field: _numeric(path, f"{name}.{field}", array) for field, array in value.items()}
    return out


def _numeric(path: str, label: str, value: Any) -> np.ndarray:
    """A real numeric field as float64, or a SpecError that says what it is instead."""
    if isinstance(value, np.ndarray) and value.dtype.kind in "fiub":
        return np.asarray(value, dtype=np.float64)
    if isinstance(value, np.ndarray) and value.dtype.kind == "c":
        raise SpecError(f"{path}: {label} is complex; learnables must be real")
    raise SpecError(f"{path}: {label} is {_what(value)}, not a numeric array; {SNIPPET_HINT}")


def _what(value: Any) -> str:
    if isinstance(value, Opaque):
        return f"a MATLAB {value.matlab_class}"
    if isinstance(value, str):
        return "text (a char array)"
    if isinstance(value, dict):
        return "a struct"
    if isinstance(value, np.ndarray):
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
    for name, fields in weights.items():
        if name not in by_name:
            raise SpecError(f"weights for layer {name!r}, but the network has no layer of that Name (layers: {', '.join(by_name)})")
        layer = out[by_name[name]]
        allowed = {f.name for f in dataclasses.fields(layer)} & set(FIELDS)
        for field in fields:
            if field not in allowed:
                raise SpecError(f"weights for {layer.FUNCTION} {name!r}: unknown field {field!r}; expected one of {', '.join(sorted(allowed))}")
        try:
            out[by_name[name]] = dataclasses.replace(layer, **fields)
        except Lstm2OnnxError as error:
            raise SpecError(f"weights for layer {name!r}: {error}") from None
    result = LayerArray(out)
    analyze(result, need_statistics=False)  # sizes of the new learnables against their neighbours
    return result
