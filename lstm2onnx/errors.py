"""The project's exception types.

Every public entry point answers bad input with one of these; the message
names the layer (function and Name, or its position in the array), the
property, what was expected and what was given.
"""

from __future__ import annotations


class Lstm2OnnxError(ValueError):
    """Base class of every error lstm2onnx raises on bad input."""


class LayerError(Lstm2OnnxError):
    """A layer constructor got an unknown option or a bad value."""


class NetworkError(Lstm2OnnxError):
    """A layer array is inconsistent (order, sizes, names, output layers)."""


class SpecError(Lstm2OnnxError):
    """A JSON/YAML layer spec file is malformed."""
