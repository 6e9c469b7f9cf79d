"""MATLAB text -> layers: the front end's public entry points (kept here for existing imports).

The work is done in stages, one module each: :mod:`.lexer` (tokens),
:mod:`.statements` (statements and blocks), :mod:`.expressions` (expression
trees), :mod:`.analysis` (which statements the wanted variable depends on),
:mod:`.evaluator` with :mod:`.functions` and :mod:`.indexing` (bounded
evaluation over a workspace), :mod:`.data` (``--data``/``--set``) and
:mod:`.script` (the whole file). MATLAB text is interpreted, never executed:
no file is opened except the ``--data`` files, and no function outside the
known subset runs.
"""

from __future__ import annotations

from ..layers import LAYER_TYPES
from .evaluator import MATLAB_LAYERS
from .lexer import MAX_INPUT, Token, tokenize
from .problems import MatlabError
from .script import ScriptResult, from_matlab, read_script
from .workspace import MAX_ELEMENTS

MAX_DEPTH = 64
# Kept for callers of the former module: the MATLAB layers lstm2onnx does not build yet.
KNOWN_UNSUPPORTED = MATLAB_LAYERS


def layer_functions() -> list[str]:
    """The MATLAB layer functions lstm2onnx builds (the layer registry)."""
    return sorted(LAYER_TYPES)


__all__ = ["KNOWN_UNSUPPORTED", "MAX_DEPTH", "MAX_ELEMENTS", "MAX_INPUT", "MatlabError", "ScriptResult", "Token",
           "from_matlab", "layer_functions", "read_script", "tokenize"]
