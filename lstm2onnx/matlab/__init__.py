"""MATLAB interop: scripts and layer-array code in (interpreted lazily, never executed), MATLAB weights in, MATLAB text out."""

from .parser import MatlabError, ScriptResult, from_matlab, read_script

__all__ = ["MatlabError", "ScriptResult", "from_matlab", "read_script"]
