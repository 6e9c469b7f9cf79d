"""Converters for property values: MATLAB-style input in, canonical Python out.

Each converter takes the user's value and ``where`` (e.g. ``"lstmLayer
'lstm1': OutputMode"``) and returns the canonical value or raises
:class:`LayerError` saying what was expected and what was given. Numeric
arrays become read-only float32 (the model's precision); vectors are
accepted 1-D or as MATLAB column (n x 1) / row (1 x n) vectors.
"""

from __future__ import annotations

import numbers
import unicodedata
from typing import Any, Callable, Sequence

import numpy as np

from .errors import LayerError

Converter = Callable[[Any, str], Any]


def describe(value: Any) -> str:
    """A short description of a user value for error messages."""
    if isinstance(value, np.ndarray):
        return f"a {'x'.join(map(str, value.shape)) or 'scalar'} {value.dtype} array"
    if isinstance(value, str):
        return repr(value)
    if isinstance(value, (list, tuple)) and len(value) > 6:
        return f"a {type(value).__name__} of {len(value)} items"
    return repr(value)


def _fail(where: str, expected: str, value: Any) -> LayerError:
    return LayerError(f"{where} must be {expected}, got {describe(value)}")


def _is_number(value: Any) -> bool:
    return isinstance(value, numbers.Real) and not isinstance(value, bool)


def _scalar(value: Any) -> Any:
    """Unwrap 1-element arrays/lists (MATLAB scalars are 1x1 matrices)."""
    if isinstance(value, (list, tuple, np.ndarray)):
        arr = np.asarray(value)
        if arr.size == 1 and arr.dtype.kind in "iuf":
            return arr.reshape(()).item()
    if isinstance(value, np.generic):
        return value.item()
    return value


def name_value(function: str, args: tuple, kwargs: dict[str, Any], names: Sequence[str], given: dict[str, Any] | None = None) -> dict[str, Any]:
    """MATLAB's ``'Name', value`` pairs and Python keywords as ``{canonical name: value}``.

    Names match ``names`` case-insensitively, as in MATLAB; odd pair counts,
    non-text names, unknown and repeated names are rejected naming ``function``.
    ``given`` holds options already taken from positional arguments.
    """
    given = dict(given or {})
    if len(args) % 2:
        raise LayerError(f"{function}: name-value arguments must come in pairs, got {len(args)} trailing arguments "
                         f"(the last is {describe(args[-1])})")
    pairs: list[tuple[Any, Any]] = list(given.items())
    for i in range(0, len(args), 2):
        if not isinstance(args[i], (str, np.str_)):
            raise LayerError(f"{function}: expected an option name (a string) at argument {len(given) + i + 1}, got {describe(args[i])}")
        pairs.append((str(args[i]), args[i + 1]))
    pairs += list(kwargs.items())
    by_lower = {name.lower(): name for name in names}
    out: dict[str, Any] = {}
    for key, value in pairs:
        if not isinstance(key, str):
            raise LayerError(f"{function}: option names must be strings, got {describe(key)}")
        name = by_lower.get(key.lower())
        if name is None:
            raise LayerError(f"{function}: unknown option {key!r}; supported options: {', '.join(names)}")
        if name in out:
            raise LayerError(f"{function}: option {name!r} is given more than once")
        out[name] = value
    return out


def text(value: Any, where: str) -> str:
    """A layer Name: any printable text (see :func:`printable`)."""
    if isinstance(value, np.str_):
        value = str(value)
    if not isinstance(value, str):
        raise _fail(where, "a character vector or string", value)
    return printable(value, where)


UNPRINTABLE = ("Cc", "Cf", "Zl", "Zp", "Cs")  # controls (newline, tab, ESC), format (bidi overrides), line/paragraph separators, surrogates


def printable(value: str, where: str) -> str:
    """Names and class names with no control characters, refused here, at layer creation.

    A MATLAB char or string literal cannot hold a newline, and terminals act on
    escape sequences, so such a name could neither be written back as MATLAB
    code (``to_matlab``) nor printed safely. Every other Unicode character
    (quotes, spaces, letters of any script) is allowed and round-trips.
    """
    bad = next((c for c in value if unicodedata.category(c) in UNPRINTABLE), None)
    if bad is not None:
        raise _fail(where, f"text without control characters (found U+{ord(bad):04X})", value)
    return value


def choice(*allowed: str, aliases: dict[str, str] | None = None) -> Converter:
    """Case-insensitive choice among MATLAB option values; returns the canonical spelling.

    ``aliases``: other spellings still read (each maps to an allowed value), not listed in errors.
    """
    listing = ", ".join(repr(a) for a in allowed)
    spellings = {a.lower(): a for a in allowed} | {k.lower(): v for k, v in (aliases or {}).items()}

    def convert(value: Any, where: str) -> str:
        if isinstance(value, (str, np.str_)) and str(value).lower() in spellings:
            return spellings[str(value).lower()]
        raise _fail(where, f"one of {listing}", value)

    return convert


def positive_int(value: Any, where: str) -> int:
    value = _scalar(value)
    if _is_number(value) and float(value).is_integer() and value > 0:
        return int(value)
    raise _fail(where, "a positive integer", value)


def auto_or_positive_int(value: Any, where: str) -> str | int:
    if isinstance(value, (str, np.str_)):
        if str(value).lower() == "auto":
            return "auto"
        raise _fail(where, "'auto' or a positive integer", value)
    return positive_int(value, where)


def probability(value: Any, where: str) -> float:
    value = _scalar(value)
    if _is_number(value) and 0 <= value < 1:
        return float(value)
    raise _fail(where, "a number in the range [0, 1)", value)


def gate_factor(gates: str, directions: int = 1) -> Converter:
    """A nonnegative learn-rate/L2 factor: scalar, or 1-by-G over the G gates named in ``gates`` (e.g. "ifgo");
    with two ``directions`` (bilstmLayer) also 1-by-2G, the forward direction's gates then the backward's."""
    count, listing = len(gates), ", ".join(gates)
    expected = f"a nonnegative scalar or a 1-by-{count} vector of nonnegative numbers (gates {listing})"
    if directions > 1:
        expected = (f"a nonnegative scalar, a 1-by-{count} vector (gates {listing}, both directions) or a "
                    f"1-by-{count * directions} vector (forward then backward) of nonnegative numbers")

    def convert(value: Any, where: str) -> float | tuple[float, ...]:
        scalar = _scalar(value)
        if _is_number(scalar):
            if np.isfinite(scalar) and scalar >= 0:
                return float(scalar)
            raise _fail(where, expected, value)
        try:
            arr = np.asarray(value, dtype=np.float64)
        except (TypeError, ValueError):
            raise _fail(where, expected, value) from None
        sizes = {count, count * directions}
        if arr.size in sizes and arr.ndim <= 2 and arr.size in arr.shape and np.all(np.isfinite(arr)) and np.all(arr >= 0):
            return tuple(float(v) for v in arr.ravel())
        raise _fail(where, expected, value)

    return convert


factor = gate_factor("ifgo")  # lstmLayer: scalar or 1-by-4 over i, f, g, o
bidirectional_factor = gate_factor("ifgo", directions=2)  # bilstmLayer: also 1-by-8, as MATLAB's bilstmLayer documents


def scalar_factor(value: Any, where: str) -> float:
    """A nonnegative learn-rate/L2 factor that applies to one whole matrix."""
    scalar = _scalar(value)
    if _is_number(scalar) and np.isfinite(scalar) and scalar >= 0:
        return float(scalar)
    raise _fail(where, "a nonnegative scalar", value)


def _numeric_array(value: Any, where: str, expected: str) -> np.ndarray:
    if isinstance(value, (str, bytes, np.str_)) or value is None:
        raise _fail(where, expected, value)
    try:
        arr = np.array(value)
    except (TypeError, ValueError):
        raise _fail(where, expected, value) from None
    if arr.dtype.kind not in "iuf" or arr.dtype == np.bool_:
        raise _fail(where, expected, value)
    arr = arr.astype(np.float32)
    if not np.all(np.isfinite(arr)):
        raise LayerError(f"{where} must be finite, got NaN or Inf")
    arr.flags.writeable = False
    return arr


def _is_empty(value: Any) -> bool:
    if value is None:
        return True
    if isinstance(value, (list, tuple)) and len(value) == 0:
        return True
    return isinstance(value, np.ndarray) and value.size == 0


def vector(length: int | None = None, *, scalar_ok: bool = False) -> Converter:
    """An optional numeric vector (``[]``/None means unset), returned 1-D float32.

    ``length`` fixes the number of elements; ``scalar_ok`` also accepts one
    number (kept as a 0-d array), as MATLAB does for per-feature statistics.
    """
    size = f"{length}" if length is not None else "n"
    expected = f"a {size}-by-1 or 1-by-{size} numeric vector"
    if scalar_ok:
        expected = f"a numeric scalar or {expected}"

    def convert(value: Any, where: str) -> np.ndarray | None:
        if _is_empty(value):
            return None
        arr = _numeric_array(value, where, expected)
        if scalar_ok and arr.size == 1 and (length is None or length != 1):
            return arr.reshape(())
        if arr.ndim > 2 or (arr.ndim == 2 and 1 not in arr.shape):  # a scalar is MATLAB's 1-by-1 vector
            raise _fail(where, expected, value)
        flat = arr.reshape(-1)
        if length is not None and flat.size != length:
            raise _fail(where, expected, value)
        return flat

    return convert


def matrix(rows: int | None = None, cols: int | None = None) -> Converter:
    """An optional 2-D numeric matrix (``[]``/None means unset), returned float32."""
    expected = f"a {rows if rows is not None else 'm'}-by-{cols if cols is not None else 'n'} numeric matrix"

    def convert(value: Any, where: str) -> np.ndarray | None:
        if _is_empty(value):
            return None
        arr = _numeric_array(value, where, expected)
        if arr.ndim == 0:  # MATLAB's 1-by-1 matrix, e.g. `[0.5]` read back from MATLAB text
            arr = arr.reshape(1, 1)
        if arr.ndim != 2 or (rows is not None and arr.shape[0] != rows) or (cols is not None and arr.shape[1] != cols):
            raise _fail(where, expected, value)
        return arr

    return convert


def initializer(*names: str) -> Converter:
    """A MATLAB initializer name, or a Python callable ``f(shape) -> array`` (MATLAB's function handle)."""
    listing = ", ".join(repr(n) for n in names)

    def convert(value: Any, where: str) -> str | Callable:
        if callable(value):
            return value
        for name in names:
            if isinstance(value, (str, np.str_)) and name.lower() == str(value).lower():
                return name
        raise _fail(where, f"one of {listing} or a callable f(shape) -> array", value)

    return convert


def classes(value: Any, where: str) -> str | tuple[str, ...]:
    """'auto' or the class names (strings or integers, unique, at least two)."""
    if isinstance(value, (str, np.str_)):
        if str(value).lower() == "auto":
            return "auto"
        raise _fail(where, "'auto' or a list of at least two unique class names", value)
    try:
        items = list(np.asarray(value, dtype=object).reshape(-1))
    except (TypeError, ValueError):
        raise _fail(where, "'auto' or a list of class names", value) from None
    names = []
    for item in items:
        if isinstance(item, (np.generic,)):
            item = item.item()
        if isinstance(item, bool) or not isinstance(item, (str, numbers.Integral)):
            raise _fail(where, "a list of class names (strings or integers)", value)
        names.append(printable(str(item), where))
    if len(names) < 2 or len(set(names)) != len(names):
        raise _fail(where, "'auto' or a list of at least two unique class names", value)
    return tuple(names)


def class_weights(value: Any, where: str) -> str | np.ndarray:
    if isinstance(value, (str, np.str_)):
        if str(value).lower() == "none":
            return "none"
        raise _fail(where, "'none' or a vector of positive weights, one per class", value)
    arr = vector()(value, where)
    if arr is None or np.any(arr <= 0):
        raise _fail(where, "'none' or a vector of positive weights, one per class", value)
    return arr
