"""Layers -> MATLAB layer-array code that rebuilds them (``from_matlab(to_matlab(x)) == x``).

The text is what MATLAB's constructors accept (checked against their pages and argument
blocks, tests/matlab/test_writer_fidelity.py): required inputs positional in MATLAB's order,
name-value pairs in MATLAB's spelling, vectors in MATLAB's orientation, numbers that read back
as the same float32, long arrays continued over lines with ``...``. Options at MATLAB's default
that only newer releases know (wordEmbeddingLayer's ``OOVMode`` 'map-to-last', R2023b) are
left out, so the text runs in the releases before too.
"""

from __future__ import annotations

from dataclasses import fields
from typing import Any, Sequence

import numpy as np

from .. import values
from ..errors import SpecError
from ..layers import Layer

# The positional arguments of each constructor (MATLAB's required inputs, or its optional leading one), in order.
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
    "selfAttentionLayer": ("NumHeads", "NumKeyChannels"),
    "indexing1dLayer": "Index",  # indexing1dLayer(index): the page documents Index positionally only
    "groupNormalizationLayer": "NumGroups",
}

# Options left out at these values: MATLAB's default, which releases before the option existed also give.
DEFAULTS_LEFT_OUT = {
    "wordEmbeddingLayer": {"OOVMode": "map-to-last"},
}

# Vectors MATLAB stores as rows (1-by-n); every other vector is written as a column, as MATLAB stores
# Bias, HiddenState, Mean, TrainedMean...
ROWS = {
    "convolution1dLayer": ("Bias",),  # 1-by-NumFilters
}

WIDTH = 100  # characters of numbers on one line before a ``...`` continuation


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
    for name, default in DEFAULTS_LEFT_OUT.get(function, {}).items():
        if spec.get(name) == default:
            spec.pop(name)
    order = [f.name for f in fields(layer)]
    values = {name: getattr(layer, name) for name in spec}
    if hasattr(layer, "matlab_values"):  # a layer whose MATLAB properties differ from its spec (gruLayer's 6H Bias)
        values = layer.matlab_values(values)
    rows = ROWS.get(function, ())
    for name in sorted(values, key=order.index):
        value = values[name]
        if name in rows and isinstance(value, np.ndarray) and value.ndim == 1:
            value = value.reshape(1, -1)
        args.append(f'"{name}", {value_text(value)}')
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
            return _bracketed([_float32(v) + ";" for v in value])  # a column, as MATLAB stores Bias, HiddenState, Mean...
        if value.ndim == 3:  # MATLAB has no 3-D literal: its column-major elements, reshaped
            return f"reshape({_bracketed([_float32(v) for v in value.ravel(order='F')])}, {', '.join(map(str, value.shape))})"
        return _bracketed([_float32(v) + (";" if j == value.shape[1] - 1 else "") for row in value for j, v in enumerate(row)])
    raise SpecError(f"cannot write {type(value).__name__} as MATLAB text")


def _bracketed(items: list[str]) -> str:
    """``[a b; c d]`` from its elements (each ending in ``;`` where a row ends), continued with `` ...`` and a new
    line when a line reaches WIDTH characters, so no line of the text grows with the array (a break between
    elements inside brackets, after ``...``, separates them as a space does)."""
    items = list(items)
    if items and items[-1].endswith(";"):
        items[-1] = items[-1][:-1]
    lines, line = [], ""
    for item in items:
        if line and len(line) + 1 + len(item) > WIDTH:
            lines.append(line)
            line = item
        else:
            line = f"{line} {item}" if line else item
    lines.append(line)
    return "[" + " ...\n        ".join(lines) + "]"


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
