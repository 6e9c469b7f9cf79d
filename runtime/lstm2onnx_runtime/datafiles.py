"""Reading the command line's data files (``.npy``, ``.npz``, ``.csv``) without trusting them.

Every reader answers a truncated, garbage or oversized file with a
:class:`RuntimeInputError` naming the file, never a numpy/zipfile traceback,
and returns a short description of what it read (the CLI prints it).

- ``.npy``: one ``[time, features]`` sequence or a ``[batch, time, features]``
  array. Opened memory-mapped first, so a header that declares more data than
  the file holds is refused before anything is allocated.
- ``.npz``: one sequence per array (file order) or one 3-D array; each
  member's declared size is checked against its stored size before it is read.
- ``.csv``: one sequence, a row per time step. Decoded as UTF-8 with an
  optional byte-order mark (Excel's "CSV UTF-8"), fields separated by
  ``,`` ``;`` tabs or runs of spaces (the first that makes every row the same
  count of numbers; with ``;``, decimal commas are accepted), quotes allowed.
  The first row is a header only if it does not parse as numbers.
"""

from __future__ import annotations

import csv
import os
import zipfile
from typing import Any

import numpy as np

from .errors import RuntimeInputError

DELIMITERS = (",", ";", "\t", None)  # None: runs of whitespace
_NAMES = {",": "','", ";": "';'", "\t": "tab", None: "spaces"}


def read_data(path: str) -> tuple[list[np.ndarray] | np.ndarray, str]:
    """``(data, description)`` for a ``.npy``, ``.npz`` or ``.csv`` file."""
    extension = os.path.splitext(path)[1].lower()
    if extension == ".npy":
        array = _read_npy(path)
        return array, f"array {_shape(array.shape)} {array.dtype}"
    if extension == ".npz":
        arrays = _read_npz(path)
        if len(arrays) == 1 and arrays[0].ndim == 3:
            return arrays[0], f"array {_shape(arrays[0].shape)} {arrays[0].dtype}"
        return arrays, f"{len(arrays)} sequences ({', '.join(_shape(a.shape) for a in arrays[:3])}{', ...' if len(arrays) > 3 else ''})"
    if extension == ".csv":
        return read_csv(path)
    raise RuntimeInputError(f"{path}: expected a .npy, .npz or .csv file")


def _shape(shape: tuple[int, ...]) -> str:
    return " x ".join(map(str, shape)) if shape else "scalar"


def _numeric(path: str, array: Any, what: str = "") -> np.ndarray:
    if not isinstance(array, np.ndarray) or array.dtype.kind not in "fiu":
        dtype = getattr(array, "dtype", type(array).__name__)
        raise RuntimeInputError(f"{path}: {what}holds {dtype}, expected numbers (float or int)")
    return array


def _read_npy(path: str) -> np.ndarray:
    try:
        array = np.load(path, mmap_mode="r", allow_pickle=False)
        return np.array(_numeric(path, array))
    except RuntimeInputError:
        raise
    except OSError as error:
        raise RuntimeInputError(f"{path}: cannot read it ({error.strerror or error})") from None
    except Exception as error:  # numpy raises ValueError, EOFError, ... for damaged files
        raise RuntimeInputError(f"{path}: not a readable .npy file ({_first_line(error)})") from None


def _read_npz(path: str) -> list[np.ndarray]:
    try:
        with zipfile.ZipFile(path) as archive:
            members = [info for info in archive.infolist() if info.filename.endswith(".npy")]
            if not members:
                raise RuntimeInputError(f"{path}: the archive holds no arrays")
            arrays = []
            for info in members:
                with archive.open(info) as member:
                    version = np.lib.format.read_magic(member)
                    read_header = np.lib.format.read_array_header_1_0 if version == (1, 0) else np.lib.format.read_array_header_2_0
                    shape, _, dtype = read_header(member, max_header_size=10000)
                    declared = int(np.prod(shape, dtype=object)) * dtype.itemsize
                    stored = info.file_size - member.tell()
                    if dtype.hasobject or declared != stored:
                        raise ValueError(f"member {info.filename!r} declares {_shape(shape)} {dtype} but stores {stored} bytes")
                with archive.open(info) as member:
                    arrays.append(np.array(_numeric(path, np.lib.format.read_array(member, allow_pickle=False), f"{info.filename[:-4]!r} ")))
            return arrays
    except RuntimeInputError:
        raise
    except OSError as error:
        if isinstance(error, zipfile.BadZipFile) or error.strerror is None:
            raise RuntimeInputError(f"{path}: not a readable .npz file ({_first_line(error)})") from None
        raise RuntimeInputError(f"{path}: cannot read it ({error.strerror})") from None
    except Exception as error:  # zipfile/numpy raise BadZipFile, ValueError, EOFError, zlib.error, ... for damaged files
        raise RuntimeInputError(f"{path}: not a readable .npz file ({_first_line(error)})") from None


def _first_line(error: Exception) -> str:
    return (str(error).splitlines() or [type(error).__name__])[0][:200]


def read_csv(path: str) -> tuple[np.ndarray, str]:
    """``([rows, columns] float32, description)``; see the module docstring for the rules."""
    try:
        with open(path, encoding="utf-8-sig", newline="") as handle:
            text = handle.read()
    except UnicodeDecodeError:
        raise RuntimeInputError(f"{path}: not UTF-8 text (in Excel, save as 'CSV UTF-8')") from None
    except OSError as error:
        raise RuntimeInputError(f"{path}: cannot read it ({error.strerror or error})") from None
    lines = [line for line in text.splitlines() if line.strip()]
    if not lines:
        raise RuntimeInputError(f"{path}: no rows")
    best = None
    for delimiter in DELIMITERS:
        rows = _split(lines, delimiter)
        header = _numbers(rows[0], delimiter) is None
        body = rows[1:] if header else rows
        values = [_numbers(row, delimiter) for row in body]
        bad = next((k for k, v in enumerate(values) if v is None or len(v) != len(values[0])), None)
        if body and bad is None and (not header or len(rows[0]) == len(values[0])):
            data = np.array(values, np.float32)
            note = ", header row skipped" if header else ""
            return data, f"{data.shape[0]} rows x {data.shape[1]} columns (separated by {_NAMES[delimiter]}{note})"
        good = len(body) if bad is None else bad
        if best is None or good > best[0]:
            best = (good, (1 + header + (bad or 0)), lines[int(header) + (bad or 0)] if body else lines[0])
    _, number, line = best
    raise RuntimeInputError(
        f"{path}: row {number} is not numbers like the rows before it (separated by ',', ';', tabs or spaces; "
        f"only the first row may be a header): {line[:80]!r}"
    )


def _split(lines: list[str], delimiter: str | None) -> list[list[str]]:
    if delimiter is None:
        return [line.split() for line in lines]
    return [[field.strip() for field in row] for row in csv.reader(lines, delimiter=delimiter)]


def _numbers(fields: list[str], delimiter: str | None) -> list[float] | None:
    """The fields as floats, or None if one is not a number (with ';', '1,5' is 1.5)."""
    try:
        return [float(f) for f in fields] if fields else None
    except ValueError:
        if delimiter != ";":
            return None
    try:
        return [float(f.replace(",", ".")) for f in fields]
    except ValueError:
        return None
