"""Layers -> MATLAB layer-array code that rebuilds them (``from_matlab(to_matlab(x)) == x``)."""

from __future__ import annotations

from dataclasses import fields
from typing import Any, Sequence

import numpy as np

from .. import values
from ..errors import SpecError
from ..layers import Layer

# The positional argument of each constructor (MATLAB's required input).
POSITIONAL = {
    "sequenceInputLayer": "InputSize",
    "lstmLayer": "NumHiddenUnits",
    "bilstmLayer": "NumHiddenUnits",
    "gruLayer": "NumHiddenUnits",
    "lstmProjectedLayer": ("NumHiddenUnits", "OutputProjectorSize", "InputProjectorSize"),
    "gruProjectedLayer": ("NumHiddenUnits", "OutputProjectorSize", "InputProjectorSize"),
    "fullyConnectedLayer": "OutputSize",
    "dropoutLayer": "Probability",
    "leakyReluLayer": "Scale",
    "clippedReluLayer": "Ceiling",
    "eluLayer": "Alpha",
    "convolution1dLayer": ("FilterSize", "NumFilters"),
    "maxPooling1dLayer": "PoolSize",
    "averagePooling1dLayer": "PoolSize",
    "wordEmbeddingLayer": ("Dimension", "NumWords"),
}


def to_matlab(layers: Sequence[Layer], variable: str = "layers", learnables: bool = False) -> str:
    """MATLAB code assigning the layer array to ``variable``; learnable matrices only if ``learnables``."""
    calls = [layer_call(layer, learnables) for layer in layers]
    body = "\n".join(f"    {call}" for call in calls)
    return f"{variable} = [ ...\n{body}];\n"


def layer_call(layer: Layer, learnables: bool = False) -> str:
    spec = layer.to_dict(learnables=learnables)
    function = spec.pop("type")
    args = []
    positional = POSITIONAL.get(function, ())
    for name in (positional,) if isinstance(positional, str) else positional:
        args.append(value_text(getattr(layer, name)))
        spec.pop(name, None)
    order = [f.name for f in fields(layer)]
    values = {name: getattr(layer, name) for name in spec}
    if hasattr(layer, "matlab_values"):  # a layer whose MATLAB properties differ from its spec (gruLayer's 6H Bias)
        values = layer.matlab_values(values)
    for name in sorted(values, key=order.index):
        args.append(f'"{name}", {value_text(values[name])}')
    return f"{function}({', '.join(args)})" if args else function


def value_text(value: Any) -> str:
    """A property value as MATLAB source that parses back to the same float32/str value."""
    if isinstance(value, str):
        return string_literal(value)
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (int, np.integer)):
        return str(int(value))
    if isinstance(value, float):
        return _number(value)
    if isinstance(value, tuple):
        if all(isinstance(v, str) for v in value):
            return "[" + " ".join(value_text(v) for v in value) + "]"
        return "[" + " ".join(_number(v) for v in value) + "]"
    if isinstance(value, np.ndarray):
        if value.ndim == 0:
            return _float32(value.item())
        if value.ndim == 1:
            if value.size > 1 and not value.any():
                return f"zeros({value.size}, 1)"
            return "[" + "; ".join(_float32(v) for v in value) + "]"  # a column, as MATLAB stores Bias, HiddenState, Mean...
        if value.ndim == 3:  # MATLAB has no 3-D literal: its column-major elements, reshaped
            return f"reshape([{' '.join(_float32(v) for v in value.ravel(order='F'))}], {', '.join(map(str, value.shape))})"
        return "[" + "; ".join(" ".join(_float32(v) for v in row) for row in value) + "]"
    raise SpecError(f"cannot write {type(value).__name__} as MATLAB text")


def string_literal(value: str) -> str:
    """A MATLAB string literal: ``"..."`` with ``"`` doubled (the only escape MATLAB string literals have).

    Text with control characters (a newline, ESC, bidi overrides) cannot be a
    MATLAB literal; layers refuse such names and classes when they are created
    (:func:`lstm2onnx.values.printable`), and this is checked again here, since the
    text written is code: an unchecked newline could start a statement of its own.
    """
    return '"' + values.printable(value, "to_matlab: a name or class").replace('"', '""') + '"'


def _number(value: float) -> str:
    text = repr(float(value))
    return text[:-2] if text.endswith(".0") else text


def _float32(value: float) -> str:
    """The shortest decimal that reads back as the same float32."""
    text = str(np.float32(value))
    return text[:-2] if text.endswith(".0") else text
