"""MATLAB values outside MATLAB, and the budget every value is checked against before it exists.

Values in a workspace:

- numeric and logical arrays: numpy arrays, at least 2-D (MATLAB's shapes);
- char vectors: ``str``; string arrays: :class:`Strings`; cell arrays: :class:`Cell`;
- scalar structs: ``dict`` (field -> value), as :func:`matfile.read_mat` returns them;
- layers: :class:`~lstm2onnx.layers.Layer` and :class:`~lstm2onnx.network.LayerArray`
  (``layerGraph`` and ``dlnetwork`` of a chain are its layer array);
- what only MATLAB can compute (a ``categorical`` object in a file, a function
  handle): :class:`~lstm2onnx.matlab.matfile.Opaque`.

:class:`Budget` is charged with the size of a value *before* it is computed:
every element counts one unit, a string element ``8 + len // 8`` (a Python
string costs about as much as eight numbers), a cell 8 units per cell. One
value may cost at most :data:`MAX_ELEMENTS`, all values made by one evaluation
together :data:`MAX_TOTAL` (so at most about 200 MB of float64 ever exist),
and evaluation may use :data:`CPU_SECONDS` of CPU time.
"""

from __future__ import annotations

import math
import time
from typing import Any

import numpy as np

from ..layers import Layer
from ..network import LayerArray
from .matfile import Opaque

MAX_ELEMENTS = 4_000_000  # budget units of one value (32 MB of float64)
MAX_TOTAL = 20_000_000  # budget units of all values one evaluation makes (160 MB of float64)
CPU_SECONDS = 1.0  # CPU time of one build (tokens, statements and evaluation); freeing it all comes after
STRING_COST = 8


class Strings:
    """A MATLAB string array: a numpy object array of ``str``, at least 2-D."""

    __slots__ = ("data",)

    def __init__(self, data: np.ndarray) -> None:
        self.data = data

    @classmethod
    def scalar(cls, text: str) -> "Strings":
        out = np.empty((1, 1), dtype=object)
        out[0, 0] = text
        return cls(out)

    def __repr__(self) -> str:
        return f"Strings({self.data.tolist()!r})"

    def __eq__(self, other: Any) -> bool:
        return isinstance(other, Strings) and self.data.shape == other.data.shape and self.data.tolist() == other.data.tolist()


class Cell:
    """A MATLAB cell array: a numpy object array, at least 2-D."""

    __slots__ = ("data",)

    def __init__(self, data: np.ndarray) -> None:
        self.data = data

    def __repr__(self) -> str:
        return f"Cell({self.data.tolist()!r})"

    def __eq__(self, other: Any) -> bool:
        return isinstance(other, Cell) and self.data.shape == other.data.shape and all(
            same(a, b) for a, b in zip(self.data.flat, other.data.flat))


class CSList(list):
    """A comma-separated list (``c{:}``, ``s.f`` of several): spreads into arguments and brackets."""


def object_array(items: list[Any], shape: tuple[int, ...]) -> np.ndarray:
    out = np.empty(len(items), dtype=object)
    for k, item in enumerate(items):
        out[k] = item
    return out.reshape(shape, order="F")


def same(a: Any, b: Any) -> bool:
    if isinstance(a, np.ndarray) and isinstance(b, np.ndarray):
        return a.shape == b.shape and bool(np.array_equal(a, b))
    return type(a) is type(b) and a == b


class BudgetExceeded(Exception):
    """Evaluation would exceed a budget; carries the message and a position (aborts the whole build)."""

    def __init__(self, message: str, pos: int | None) -> None:
        super().__init__(message)
        self.message, self.pos = message, pos


class Budget:
    """Elements and CPU time one build may use; checked before anything is made."""

    def __init__(self, max_elements: int = MAX_ELEMENTS, max_total: int = MAX_TOTAL, cpu_seconds: float = CPU_SECONDS) -> None:
        self.max_elements, self.max_total, self.cpu_seconds = max_elements, max_total, cpu_seconds
        self.total = 0
        self.ticks = 0
        self.deadline = time.process_time() + cpu_seconds

    def charge(self, units: float, pos: int | None, shape: tuple[int, ...] | None = None, what: str = "an array") -> None:
        """Account for a value of ``units`` before it is computed; raise if it would not fit."""
        if units > self.max_elements:
            size = f" of size {'x'.join(str(int(d)) for d in shape)}" if shape is not None else ""
            raise BudgetExceeded(f"{what}{size} is too large (at most {self.max_elements} elements)", pos)
        self.total += units
        if self.total > self.max_total:
            raise BudgetExceeded(f"evaluation would make more than {self.max_total} elements in all", pos)
        self.tick(pos)

    def tick(self, pos: int | None) -> None:
        self.ticks += 1
        if self.ticks & 63 == 0 and time.process_time() > self.deadline:
            raise BudgetExceeded(f"evaluation takes more than {self.cpu_seconds:g} s of CPU time "
                                 "(a loop or recursion that does not end soon?)", pos)


def elements(shape: tuple[int, ...]) -> int:
    return math.prod(int(d) for d in shape)


def cost(value: Any) -> float:
    """Budget units of a value (strings by their length, cells by their count)."""
    if isinstance(value, np.ndarray):
        return float(value.size)
    if isinstance(value, str):
        return 1 + len(value) / STRING_COST
    if isinstance(value, Strings):
        return float(sum(STRING_COST + len(s) // STRING_COST for s in value.data.flat))
    if isinstance(value, Cell):
        return float(value.data.size * STRING_COST)
    return 1.0


def shape_of(value: Any) -> tuple[int, ...]:
    """MATLAB's ``size``."""
    if isinstance(value, np.ndarray):
        return tuple(value.shape) if value.ndim >= 2 else ((1, value.size) if value.ndim == 1 else (1, 1))
    if isinstance(value, str):
        return (1 if value else 0, len(value)) if value else (0, 0)
    if isinstance(value, (Strings, Cell)):
        return tuple(value.data.shape)
    if isinstance(value, LayerArray):
        return (len(value), 1)
    return (1, 1)


def describe(value: Any) -> str:
    """A short description for error messages."""
    if isinstance(value, LayerArray):
        return f"a layer array of {len(value)} layers"
    if isinstance(value, Layer):
        return f"a {value.FUNCTION}"
    if isinstance(value, np.ndarray):
        kind = "logical" if value.dtype == bool else "numeric"
        return "a number" if value.size == 1 and kind == "numeric" else f"a {'x'.join(map(str, shape_of(value)))} {kind} array"
    if isinstance(value, str):
        return f"the text {value!r}" if len(value) < 40 else f"a text of {len(value)} characters"
    if isinstance(value, Strings):
        return f"a {'x'.join(map(str, value.data.shape))} string array"
    if isinstance(value, Cell):
        return f"a {'x'.join(map(str, value.data.shape))} cell array"
    if isinstance(value, dict):
        return "a struct"
    if isinstance(value, Opaque):
        return f"a MATLAB {value.matlab_class} object"
    if type(value).__name__ == "Partition":
        return "a cvpartition"
    if type(value).__name__ == "Handle":
        return "a function handle"
    if type(value).__name__ == "Pieces":
        return f"a layer graph of {len(value.chains)} chains not connected"
    return type(value).__name__


def from_python(value: Any) -> Any:
    """A Python value (``workspace=`` of :func:`from_matlab`, a data file's variable) as a MATLAB value.

    Numbers -> 1x1, 1-D numeric sequences -> rows (1-D arrays from ``.npz``: columns,
    see :func:`from_data`), ``str`` -> char, lists of ``str`` -> 1xN cell arrays, dicts -> structs.
    """
    if isinstance(value, (Strings, Cell, Layer, LayerArray, Opaque)):
        return value
    if isinstance(value, bool):
        return np.array([[value]])
    if isinstance(value, (int, float, np.integer, np.floating)):
        return np.array([[float(value)]])
    if isinstance(value, str):
        return value
    if isinstance(value, dict):
        return {str(k): from_python(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        if value and all(isinstance(v, str) for v in value):
            return Cell(object_array(list(value), (1, len(value))))
        array = np.asarray(value)
        if array.dtype.kind in "iufb":
            return np.atleast_2d(array.astype(float) if array.dtype.kind != "b" else array)
        return Cell(object_array([from_python(v) for v in value], (1, len(value))))
    if isinstance(value, np.ndarray):
        return from_data(value, column=False)
    return Opaque(type(value).__name__)


def from_data(value: Any, column: bool = True) -> Any:
    """A variable read from a data file as a MATLAB value (1-D numpy arrays become columns)."""
    if isinstance(value, np.ndarray):
        if value.dtype.kind in "US":
            texts = [str(v) for v in value.reshape(-1, order="F")]
            if value.size == 1:
                return texts[0]
            shape = value.shape if value.ndim >= 2 else ((value.size, 1) if column else (1, value.size))
            return Strings(object_array(texts, shape))
        if value.dtype == object:
            shape = value.shape if value.ndim >= 2 else ((value.size, 1) if column else (1, value.size))
            return Cell(object_array([from_data(v) for v in value.reshape(-1, order="F")], shape))
        if value.dtype.kind in "iufb":
            if value.ndim == 0:
                return value.reshape(1, 1)
            if value.ndim == 1:
                return value.reshape(-1, 1) if column else value.reshape(1, -1)
            return value
        if value.dtype.kind == "c":
            return Opaque("complex")
        return Opaque(str(value.dtype))
    if isinstance(value, dict):
        return {str(k): from_data(v) for k, v in value.items()}
    if isinstance(value, (bool, int, float, np.generic)) and not isinstance(value, (str, bytes)):
        return np.array([[value]], dtype=float if not isinstance(value, (bool, np.bool_)) else bool)
    if isinstance(value, str):
        return value
    return value if isinstance(value, Opaque) else Opaque(type(value).__name__)


def to_python(value: Any) -> Any:
    """A MATLAB value as a layer constructor's argument: numbers, ``str``, lists of ``str``, arrays."""
    if isinstance(value, np.ndarray):
        array = value.astype(float) if value.dtype.kind in "iu" else value
        if array.size == 1:
            item = array.reshape(()).item()
            return item
        return array
    if isinstance(value, Strings):
        texts = [str(s) for s in value.data.reshape(-1, order="F")]
        return texts[0] if value.data.size == 1 else texts
    if isinstance(value, Cell):
        return [to_python(v) for v in value.data.reshape(-1, order="F")]
    return value
