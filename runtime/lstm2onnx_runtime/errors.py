"""The runtime's exception types; every message names the argument or stream and what was expected."""

from __future__ import annotations


class RuntimeInputError(ValueError):
    """Bad data or options passed to predict/classify/stream calls."""


class StreamError(RuntimeInputError):
    """A closed, unknown or busy stream, or a network that cannot stream."""


class NotAStreamError(StreamError, TypeError):
    """Something that is not a :class:`Stream` where streams are expected (a TypeError, and a StreamError as before)."""


class ProviderError(RuntimeError):
    """An execution provider was asked for but is not available."""


class ModelError(ValueError):
    """A file that is not a model this runtime can run (e.g. no lstm2onnx metadata)."""
