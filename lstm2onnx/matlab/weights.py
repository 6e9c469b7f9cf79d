"""Trained weights saved from MATLAB (.mat v5/v7 through scipy.io, v7.3/HDF5 through h5py).

Save them in MATLAB as one struct per layer, named by the layer's Name, with
the learnables (and normalization statistics, states) as plain arrays::

    s = struct();
    for i = 1:numel(net.Layers)
        L = net.Layers(i); f = struct();
        for p = ["InputWeights" "RecurrentWeights" "Bias" "Weights" "Mean" "StandardDeviation" "Min" "Max" "HiddenState" "CellState"]
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

FIELDS = ("InputWeights", "RecurrentWeights", "Bias", "Weights", "Mean", "StandardDeviation", "Min", "Max", "HiddenState", "CellState")
SNIPPET_HINT = (
    "save the learnables as plain arrays instead, one struct per layer Name: "
    "s.(L.Name).InputWeights = double(L.InputWeights); ...; save('learnables.mat', '-struct', 's') "
    "(the full snippet is in the README)"
)


def load_weights(path: str | os.PathLike) -> dict[str, dict[str, np.ndarray]]:
    """``{layer Name: {field: array}}`` from a .mat file of either format."""
    path = os.fspath(path)
    if not os.path.isfile(path):
        raise SpecError(f"no weights file at {path!r}")
    with open(path, "rb") as handle:
        head = handle.read(512)
    if head[:8] == b"\x89HDF\r\n\x1a\n" or b"MATLAB 7.3" in head[:128]:
        return _load_hdf5(path)
    return _load_v5(path)


def _requires(module: str):
    import importlib

    try:
        return importlib.import_module(module)
    except ImportError:
        raise SpecError(f"reading .mat files needs {module.split('.')[0]}: pip install 'lstm2onnx[matlab]'") from None


def _load_v5(path: str) -> dict[str, dict[str, np.ndarray]]:
    scipy_io = _requires("scipy.io")

    try:
        data = scipy_io.loadmat(path, squeeze_me=False, struct_as_record=False, mat_dtype=True)
    except NotImplementedError:  # a v7.3 file that did not announce itself in its header
        return _load_hdf5(path)
    except Exception as error:  # scipy raises several types for files it cannot parse
        raise SpecError(f"{path}: not a readable .mat file ({error})") from None
    out: dict[str, dict[str, np.ndarray]] = {}
    for name, value in data.items():
        if name.startswith("__"):
            continue
        if isinstance(value, scipy_io.matlab.MatlabOpaque) or type(value).__name__ == "MatlabFunction":
            raise SpecError(f"{path}: variable {name!r} is a MATLAB object, which cannot be read outside MATLAB; {SNIPPET_HINT}")
        if isinstance(value, np.ndarray) and value.dtype == object and value.size == 1:
            value = value.item()
        if isinstance(value, np.ndarray) and value.dtype.names is None and value.dtype == object:
            raise SpecError(f"{path}: variable {name!r} is a cell array; expected a struct of arrays per layer Name; {SNIPPET_HINT}")
        if isinstance(value, scipy_io.matlab.mat_struct):
            out[name] = {f: np.asarray(getattr(value, f), dtype=np.float64) for f in value._fieldnames}
        elif isinstance(value, np.ndarray) and value.size == 1 and isinstance(value.flat[0], scipy_io.matlab.mat_struct):
            s = value.flat[0]
            out[name] = {f: np.asarray(getattr(s, f), dtype=np.float64) for f in s._fieldnames}
        else:
            raise SpecError(f"{path}: variable {name!r} is {_what(value)}; expected a struct of arrays for the layer of that Name; {SNIPPET_HINT}")
    return out


def _load_hdf5(path: str) -> dict[str, dict[str, np.ndarray]]:
    h5py = _requires("h5py")

    out: dict[str, dict[str, np.ndarray]] = {}
    try:
        handle = h5py.File(path, "r")
    except OSError as error:
        raise SpecError(f"{path}: not a readable .mat v7.3 (HDF5) file ({error})") from None
    with handle:
        for name, item in handle.items():
            if name.startswith("#"):  # MATLAB's #refs# / #subsystem# bookkeeping
                if name == "#subsystem#":
                    raise SpecError(f"{path}: the file holds a MATLAB object, which cannot be read outside MATLAB; {SNIPPET_HINT}")
                continue
            cls = item.attrs.get("MATLAB_class", b"struct")
            cls = cls.decode() if isinstance(cls, bytes) else str(cls)
            if not isinstance(item, h5py.Group) or cls != "struct":
                raise SpecError(f"{path}: variable {name!r} is a MATLAB {cls}; expected a struct of arrays per layer Name; {SNIPPET_HINT}")
            fields = {}
            for field, dataset in item.items():
                if not isinstance(dataset, h5py.Dataset) or dataset.dtype.kind not in "fiu":
                    raise SpecError(f"{path}: {name}.{field} is not a numeric array; {SNIPPET_HINT}")
                fields[field] = np.asarray(dataset[()], dtype=np.float64).T  # HDF5 stores MATLAB's column-major arrays transposed
            out[name] = fields
    return out


def _what(value: Any) -> str:
    if isinstance(value, np.ndarray):
        return f"a {'x'.join(map(str, value.shape))} {value.dtype} array"
    return type(value).__name__


def apply_weights(layers: Sequence[Layer], weights: dict[str, dict[str, np.ndarray]]) -> LayerArray:
    """The layers (names assigned as MATLAB does) with the given fields set; shapes checked per layer and field."""
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
