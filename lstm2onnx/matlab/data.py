"""Workspace values from outside the script: ``--data FILE`` (.mat, .npz) and ``--set NAME=VALUE``.

Files are read only when named with ``--data``: ``.mat`` through
:func:`lstm2onnx.matlab.matfile.read_mat` (bounded, v5/v7/v7.3), ``.npz``
member by member after checking each member's declared dtype and shape
against the element budget (arrays of Python objects are refused: lstm2onnx
never unpickles). A script's ``load NAME`` / ``load('NAME.mat')`` /
``S = load(...)`` binds from the ``--data`` file whose name matches ``NAME``
(else from all of them); the path the script names is never opened.

``--set`` values are MATLAB literals: a number, a string, a vector or matrix
(``[1 2 3]``), a cell of strings (``{'a','b'}``), ``true``/``false``; a bare word
(``--set modelType=gru``) is the text it spells.
"""

from __future__ import annotations

import math
import os
import re
import zipfile
from typing import Any, Iterable

import numpy as np

from ..errors import SpecError
from .matfile import MAX_ELEMENTS
from .workspace import from_data

NAME = re.compile(r"[A-Za-z][A-Za-z0-9_]*\Z")


class DataFiles:
    """The variables of the ``--data`` files, by file; later files win for a name given twice."""

    def __init__(self, paths: Iterable[str | os.PathLike] = (), max_elements: int = MAX_ELEMENTS) -> None:
        self.paths = [os.fspath(p) for p in paths]
        self.files: dict[str, dict[str, Any]] = {}
        for path in self.paths:
            self.files[path] = {name: from_data(value) for name, value in read_data_file(path, max_elements).items()
                                if not name.startswith("#")}

    def names(self) -> set[str]:
        return {name for variables in self.files.values() for name in variables}

    def variables(self) -> dict[str, Any]:
        out: dict[str, Any] = {}
        for variables in self.files.values():
            out.update(variables)
        return out

    def for_file(self, file: str | None) -> dict[str, Any]:
        """The variables a script's ``load`` of ``file`` binds: the --data file of that name, else all of them."""
        if file:
            stem = _stem(file)
            for path, variables in self.files.items():
                if _stem(path) == stem:
                    return variables
        return self.variables()

    def held(self) -> str:
        names = sorted(self.names())
        if not names:
            return "no variables"
        shown = ", ".join(names[:12])
        return shown + (f" and {len(names) - 12} more" if len(names) > 12 else "")


def _stem(path: str) -> str:
    base = os.path.basename(path.replace("\\", "/"))
    return os.path.splitext(base)[0] if base.lower().endswith((".mat", ".npz")) else base


def read_data_file(path: str, max_elements: int = MAX_ELEMENTS) -> dict[str, Any]:
    """The variables of one ``--data`` file."""
    lower = path.lower()
    if lower.endswith(".mat"):
        from .matfile import read_mat

        return read_mat(path, max_elements=max_elements)
    if lower.endswith(".npz"):
        return read_npz(path, max_elements)
    message = f"--data {path!r}: expected a .mat or .npz file"
    if lower.endswith((".csv", ".txt", ".dat", ".xls", ".xlsx", ".tsv", ".json")):
        message += ("; lstm2onnx reads no spreadsheet or text file (what readtable, xlsread, readmatrix, csvread or "
                    "load return is MATLAB's reading of it): save the variable the script makes from it, e.g. "
                    "data = readmatrix('file.csv'); save('data.mat', 'data'), and pass that .mat, or give the sizes "
                    "with --set")
    raise SpecError(message)


def read_npz(path: str, max_elements: int = MAX_ELEMENTS) -> dict[str, np.ndarray]:
    """The arrays of an ``.npz`` file, never unpickling; each member's header is checked before its data is read."""
    if not os.path.isfile(path):
        raise SpecError(f"no .npz file at {path!r}")
    left = max_elements
    out: dict[str, np.ndarray] = {}
    try:
        archive = zipfile.ZipFile(path)
    except (zipfile.BadZipFile, OSError) as error:
        raise SpecError(f"{path}: not an .npz file ({error})") from None
    with archive:
        for info in archive.infolist():
            if not info.filename.endswith(".npy"):
                continue
            name = info.filename[:-4]
            with archive.open(info) as handle:
                shape, dtype = _npy_header(handle, path, name)
                if dtype.hasobject:
                    raise SpecError(f"{path}: {name!r} holds Python objects, which lstm2onnx never unpickles "
                                    "(save numbers or strings, e.g. numpy.savez(file, X=np.stack(...)))")
                count = math.prod(shape)
                units = count * max(1, dtype.itemsize // 8)
                if units > left:
                    raise SpecError(f"{path}: {name!r} declares {count:,} elements of {dtype}, more than the "
                                    f"{max_elements:,} a data file may hold")
                left -= units
            with archive.open(info) as handle:
                try:
                    array = np.lib.format.read_array(handle, allow_pickle=False)
                except (ValueError, OSError, EOFError) as error:
                    raise SpecError(f"{path}: {name!r} cannot be read: {error}") from None
            out[name] = array
    return out


def _npy_header(handle: Any, path: str, name: str) -> tuple[tuple[int, ...], np.dtype]:
    fmt = np.lib.format
    try:
        version = fmt.read_magic(handle)
        if version == (1, 0):
            shape, _, dtype = fmt.read_array_header_1_0(handle)
        elif version == (2, 0):
            shape, _, dtype = fmt.read_array_header_2_0(handle)
        else:
            shape, _, dtype = fmt._read_array_header(handle, version)  # 3.0: a utf-8 header, same fields
    except (ValueError, OSError, EOFError) as error:
        raise SpecError(f"{path}: {name!r} is not a numpy array ({error})") from None
    return tuple(int(d) for d in shape), dtype


def parse_set(option: str) -> tuple[str, Any]:
    """``NAME=VALUE`` of ``--set`` as (name, MATLAB value); NAME may be a struct field, ``params.hidden``."""
    name, sep, value = option.partition("=")
    name = name.strip()
    if not sep or not all(NAME.match(part) for part in name.split(".")):
        raise SpecError(f"--set {option!r}: expected NAME=VALUE with a MATLAB variable name (or NAME.FIELD), "
                        "e.g. --set numHiddenUnits=100")
    return name, parse_literal(value.strip(), f"--set {name}")


_LITERAL_WORDS = frozenset({"true", "false", "pi", "Inf", "inf", "NaN", "nan"})


def parse_literal(text: str, where: str = "the value") -> Any:
    """A MATLAB literal (number, string, vector/matrix, cell of strings) as a workspace value."""
    from .analysis import context
    from .evaluator import EvalError, Evaluator, Frame
    from .expressions import ParseError, parse_expression
    from .lexer import Source, tokenize
    from .statements import Program
    from .workspace import Budget, BudgetExceeded

    expected = "a MATLAB literal: a number, a string, a vector such as [1 2 3] or a cell of strings such as {'a','b'}"
    tokens = tokenize(text)[:-1]
    if len(tokens) == 1 and tokens[0].kind == "id" and tokens[0].value not in _LITERAL_WORDS:
        return tokens[0].value  # a bare word is text, as in command syntax (the shell ate the quotes of --set mode="gru")
    bad = next((t for t in tokens if t.kind in ("err", "cmd", "kw") or (t.kind == "id" and t.value not in _LITERAL_WORDS)), None)
    if not tokens or bad is not None:
        got = "nothing" if not tokens else repr(text)
        raise SpecError(f"{where}: expected {expected}, got {got}")
    program = Program(Source(text), [], {}, False)
    evaluator = Evaluator(program, Budget(), context(program, set(), set()), DataFiles(), {})
    try:
        return evaluator.value(parse_expression(tokens, len(text)), Frame({}, set()))
    except (ParseError, EvalError, BudgetExceeded) as error:
        raise SpecError(f"{where}: expected {expected}, got {text!r} ({error})") from None
