"""MATLAB interop: layer-array code in (parsed, never evaluated), MATLAB weights in, MATLAB text out."""

from .parser import MatlabError, from_matlab

__all__ = ["MatlabError", "from_matlab"]
