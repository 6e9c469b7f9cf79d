"""Reading .mat files that may be hostile: bounded, and never outside the file named.

:func:`read_mat` returns a file's variables as plain Python values:

- numeric and logical arrays: numpy arrays in MATLAB's shape (at least 2-D);
- char arrays: ``str`` (one row) or a numpy array of ``str`` rows;
- cell arrays: numpy object arrays in MATLAB's shape, each element converted;
- scalar structs: ``dict`` of fields (struct arrays: a numpy object array of dicts);
- what cannot be read outside MATLAB (objects such as ``categorical``, function
  handles, sparse matrices): an :class:`Opaque` naming the MATLAB class; a v7.3
  file that stores object data also gets the entry ``"#subsystem#"``.

Every size is checked against an element budget *before* anything is
allocated or decompressed: the declared shapes of HDF5 datasets (v7.3), and
for v5/v7 files a streaming pre-scan of the file's tags, which stops at the
first array whose declared dimensions exceed what is left of the budget (so a
few kilobytes of compressed zeros cannot expand into gigabytes). In v7.3 files
external storage, virtual datasets, external and soft links are refused: an
HDF5 file can otherwise make its reader open any local file.
"""

from __future__ import annotations

import os
import struct
import zlib
from dataclasses import dataclass
from typing import Any, BinaryIO, Callable

import numpy as np

from ..errors import SpecError

MAX_ELEMENTS = 2**26  # per file: 64 Mi numbers (512 MiB as float64); far above any sequence network's learnables
MAX_DEPTH = 32  # cells in cells / structs in structs
HDF5_SIGNATURE = b"\x89HDF\r\n\x1a\n"


@dataclass(frozen=True)
class Opaque:
    """A value that only MATLAB can read (an object, a function handle, a sparse matrix)."""

    matlab_class: str

    def __repr__(self) -> str:
        return f"<MATLAB {self.matlab_class}>"


def read_mat(path: str | os.PathLike, *, max_elements: int = MAX_ELEMENTS) -> dict[str, Any]:
    """The variables of a .mat file (v5/v7 through scipy.io, v7.3 through h5py), within ``max_elements``."""
    path = os.fspath(path)
    if not os.path.isfile(path):
        raise SpecError(f"no .mat file at {path!r}")
    with open(path, "rb") as handle:
        head = handle.read(128)
    if head[:8] == HDF5_SIGNATURE or b"MATLAB 7.3" in head:
        return _read_hdf5(path, max_elements)
    return _read_v5(path, max_elements)


def _requires(module: str):
    import importlib

    try:
        return importlib.import_module(module)
    except ImportError:
        raise SpecError(f"reading .mat files needs {module.split('.')[0]}: pip install 'lstm2onnx[matlab]'") from None


class _Budget:
    """Elements left to read from one file."""

    def __init__(self, path: str, limit: int) -> None:
        self.path, self.limit, self.left = path, limit, limit

    def take(self, count: int, what: str) -> None:
        if count > self.left:
            told = "more than" if count > self.limit else "which with the arrays before it is more than"
            raise SpecError(
                f"{self.path}: {what} declares {count:,} elements, {told} the {self.limit:,} a .mat file may hold "
                "(lstm2onnx.matlab.matfile.MAX_ELEMENTS); refusing to read it"
            )
        self.left -= count


# -- v7.3 (HDF5) -----------------------------------------------------------------------------------


def _read_hdf5(path: str, max_elements: int) -> dict[str, Any]:
    h5py = _requires("h5py")
    try:
        handle = h5py.File(path, "r")
    except OSError as error:
        raise SpecError(f"{path}: not a readable .mat v7.3 (HDF5) file ({error})") from None
    reader = _Hdf5Reader(h5py, handle, _Budget(path, max_elements))
    with handle:
        try:
            names = reader.members(handle, "")
            variables = {name: reader.value(f"/{name}", name, 0) for name in names if not name.startswith("#")}
            if "#subsystem#" in names:  # MATLAB's store of object data: some variable refers to an object
                variables["#subsystem#"] = Opaque("object")
            return variables
        except SpecError:
            raise
        except (OSError, KeyError, ValueError, TypeError, RuntimeError) as error:  # what h5py raises on damaged files
            raise SpecError(f"{path}: damaged .mat v7.3 file ({error})") from None


class _Hdf5Reader:
    def __init__(self, h5py: Any, handle: Any, budget: _Budget) -> None:
        self.h5py, self.handle, self.budget = h5py, handle, budget

    def members(self, group: Any, where: str) -> list[str]:
        """The group's member names, after refusing every link that is not a plain hard link."""
        names = list(group.keys())
        for name in names:
            link = group.get(name, getlink=True)
            if not isinstance(link, self.h5py.HardLink):
                kind = "an external link" if isinstance(link, self.h5py.ExternalLink) else "a soft link"
                raise SpecError(f"{self.budget.path}: {where}/{name} is {kind}; MATLAB never writes links, refusing to follow it")
        return names

    def value(self, path: str, label: str, depth: int) -> Any:
        if depth > MAX_DEPTH:
            raise SpecError(f"{self.budget.path}: {label} is nested more than {MAX_DEPTH} levels deep")
        item = self.handle[path]
        cls = _attr_text(item.attrs.get("MATLAB_class", b""))
        if isinstance(item, self.h5py.Group):
            if "MATLAB_object_decode" in item.attrs or cls not in ("struct", ""):
                return Opaque(cls or "object")
            return {field: self.value(f"{path}/{field}", f"{label}.{field}", depth + 1) for field in self.members(item, label)}
        dataset = self._checked(item, label)
        if "MATLAB_object_decode" in dataset.attrs:
            return Opaque(cls or "object")
        if "MATLAB_sparse" in dataset.attrs:
            return Opaque("sparse")
        if dataset.attrs.get("MATLAB_empty", 0):
            return "" if cls == "char" else np.zeros((0, 0))
        if dataset.dtype.kind == "O" or cls == "cell":  # object references: a cell array
            refs = dataset[()]
            cells = np.empty(refs.shape, dtype=object)
            for index, ref in np.ndenumerate(refs):
                target = self.handle[ref]
                cells[index] = self.value(target.name, f"{label}{{{index}}}", depth + 1)
            return _matlab_shape(cells.T)
        if dataset.dtype.names is not None:  # complex: a compound of real and imag
            if set(dataset.dtype.names) != {"real", "imag"}:
                raise SpecError(f"{self.budget.path}: {label} is a compound HDF5 type MATLAB does not write")
            raw = dataset[()]
            return _matlab_shape((raw["real"] + 1j * raw["imag"]).T)
        if dataset.dtype.kind not in "fiub":
            raise SpecError(f"{self.budget.path}: {label} has HDF5 type {dataset.dtype}, which MATLAB does not write")
        data = _matlab_shape(np.asarray(dataset[()]).T)  # HDF5 stores MATLAB's column-major arrays transposed
        if cls == "char":
            return _char(data)
        return data.astype(bool) if cls == "logical" else data

    def _checked(self, dataset: Any, label: str) -> Any:
        if dataset.is_virtual:
            raise SpecError(f"{self.budget.path}: {label} is a virtual dataset (data in other files); refusing to read it")
        if dataset.external:
            raise SpecError(f"{self.budget.path}: {label} keeps its data in an external file; refusing to read it")
        count = int(np.prod(dataset.shape, dtype=np.float64)) if dataset.shape is not None else 0
        self.budget.take(count, label)
        return dataset


def _attr_text(value: Any) -> str:
    return value.decode("ascii", "replace") if isinstance(value, bytes) else str(value)


# -- v5 / v7 (scipy.io) ----------------------------------------------------------------------------


def _read_v5(path: str, max_elements: int) -> dict[str, Any]:
    with open(path, "rb") as handle:
        try:
            _prescan_v5(handle, path, _Budget(path, max_elements))
        except (zlib.error, struct.error, OverflowError) as error:
            raise SpecError(f"{path}: not a readable .mat file ({error})") from None
    scipy_io = _requires("scipy.io")
    try:
        data = scipy_io.loadmat(path, squeeze_me=False, struct_as_record=False, chars_as_strings=True)
    except NotImplementedError:  # a v7.3 file that did not announce itself in its header
        return _read_hdf5(path, max_elements)
    except Exception as error:  # scipy raises many types for files it cannot parse
        raise SpecError(f"{path}: not a readable .mat file ({error})") from None
    return {_v5_name(name, value): _from_scipy(value, scipy_io) for name, value in data.items() if not name.startswith("__")}


def _v5_name(name: str, value: Any) -> str:
    """The variable's name; scipy before 1.18 files every classdef object (string, table, network) under 'None'."""
    if name == "None" and type(value).__name__ == "MatlabOpaque":
        try:
            return _opaque_field(value, ("s0",)) or name
        except (IndexError, KeyError, TypeError, ValueError, StopIteration):
            return name
    return name


def _from_scipy(value: Any, scipy_io: Any) -> Any:
    matlab = scipy_io.matlab
    if isinstance(value, matlab.MatlabOpaque) or type(value).__name__ == "MatlabFunction":
        return Opaque(_opaque_class(value))
    if isinstance(value, matlab.MatlabObject):  # an old-style (pre-classdef) object: a struct with a class
        return Opaque(str(value.classname))
    if isinstance(value, matlab.mat_struct):
        return {field: _from_scipy(getattr(value, field), scipy_io) for field in value._fieldnames}
    if hasattr(value, "tocsc"):  # scipy.sparse
        return Opaque("sparse")
    if not isinstance(value, np.ndarray):
        return value
    if value.dtype.kind == "U":
        return _char(value)
    if value.dtype == object:
        out = np.empty(value.shape, dtype=object)
        for index, element in np.ndenumerate(value):
            out[index] = _from_scipy(element, scipy_io)
        if out.size == 1 and isinstance(out.flat[0], dict) and _is_struct(value):
            return out.flat[0]
        return out
    return value


def _is_struct(value: np.ndarray) -> bool:
    return value.size == 1 and type(value.flat[0]).__name__ == "mat_struct"


def _opaque_class(value: Any) -> str:
    try:
        if type(value).__name__ != "MatlabOpaque":
            return "function_handle"
        return _opaque_field(value, ("_Class", "s2"))  # scipy >= 1.18 names the fields, older ones s0 s1 s2 arr
    except (IndexError, KeyError, TypeError, ValueError, StopIteration):
        return "object"


def _opaque_field(value: Any, names: tuple[str, ...]) -> str:
    """A text field of a MatlabOpaque (variable name, type system 'MCOS', class name), whichever name scipy gives it."""
    field = next(name for name in names if name in (value.dtype.names or ()))
    text = value[0][field]
    return text.decode("ascii", "replace") if isinstance(text, bytes) else str(text)


# The v5 format: a 128-byte header, then tagged data elements (type, byte count); miCOMPRESSED holds
# one zlib-compressed element. An array (miMATRIX) starts with flags and dimensions, before its data.
MI_MATRIX, MI_COMPRESSED = 14, 15
MX_CELL, MX_STRUCT, MX_OBJECT, MX_SPARSE, MX_FUNCTION, MX_OPAQUE = 1, 2, 3, 5, 16, 17


class _Stream:
    """Exact reads from a file or from a bounded zlib stream inside it."""

    def __init__(self, read: Callable[[int], bytes], path: str) -> None:
        self._read, self.path = read, path

    def read(self, n: int) -> bytes:
        data = self._read(n)
        if len(data) != n:
            raise SpecError(f"{self.path}: truncated .mat file")
        return data

    def skip(self, n: int) -> None:
        while n > 0:
            step = min(n, 1 << 20)
            self.read(step)
            n -= step


def _zlib_reader(handle: BinaryIO, compressed: int, limit: int, path: str) -> Callable[[int], bytes]:
    inflater, left, produced = zlib.decompressobj(), [compressed], [0]
    buffer = bytearray()

    def read(n: int) -> bytes:
        while len(buffer) < n:
            if inflater.unconsumed_tail:
                chunk = inflater.decompress(inflater.unconsumed_tail, 1 << 20)
            elif left[0] > 0:
                raw = handle.read(min(left[0], 1 << 16))
                if not raw:
                    break
                left[0] -= len(raw)
                chunk = inflater.decompress(raw, 1 << 20)
            else:
                break
            produced[0] += len(chunk)
            if produced[0] > limit:
                raise SpecError(f"{path}: a compressed variable expands past {limit:,} bytes; refusing to read it")
            buffer.extend(chunk)
        out = bytes(buffer[:n])
        del buffer[:n]
        return out

    return read


def _prescan_v5(handle: BinaryIO, path: str, budget: _Budget) -> None:
    header = handle.read(128)
    if len(header) < 128:
        raise SpecError(f"{path}: not a readable .mat file (shorter than the 128-byte header)")
    endian = {b"IM": "<", b"MI": ">"}.get(header[126:128])
    if endian is None:
        raise SpecError(f"{path}: not a readable .mat file (no MATLAB v5 header)")
    byte_limit = 16 * budget.limit + (1 << 20)  # complex doubles plus headers
    while True:
        tag = handle.read(8)
        if not tag:
            return
        if len(tag) < 8:
            raise SpecError(f"{path}: truncated .mat file")
        kind, nbytes = struct.unpack(endian + "II", tag)
        start = handle.tell()
        if kind == MI_COMPRESSED:
            inner = _Stream(_zlib_reader(handle, nbytes, byte_limit, path), path)
            kind, size = struct.unpack(endian + "II", inner.read(8))
            if kind == MI_MATRIX:
                _scan_matrix(inner, endian, size, budget, 0)
        elif kind == MI_MATRIX:
            _scan_matrix(_Stream(handle.read, path), endian, nbytes, budget, 0)
        handle.seek(start + nbytes + (0 if kind == MI_COMPRESSED else -nbytes % 8))


class _Region:
    """The sub-elements of one miMATRIX: exactly ``size`` bytes of tagged, 8-byte-aligned elements."""

    def __init__(self, stream: _Stream, endian: str, size: int) -> None:
        self.stream, self.endian, self.left = stream, endian, size

    def tag(self) -> tuple[int, int, bytes | None]:
        """(type, byte count, payload of a small element or None)."""
        raw = self._take(8)
        first, second = struct.unpack(self.endian + "II", raw)
        if first >> 16:  # small element: count and type packed in 4 bytes, payload in the next 4
            return first & 0xFFFF, first >> 16, raw[4 : 4 + (first >> 16)]
        return first, second, None

    def element(self, limit: int, what: str) -> bytes:
        _, nbytes, small = self.tag()
        if small is not None:
            return small
        self._fits(nbytes, limit, what)
        data = self._take(nbytes)
        self._take(-nbytes % 8, skip=True)
        return data

    def skip_element(self, limit: int, what: str) -> None:
        _, nbytes, small = self.tag()
        if small is None:
            self._fits(nbytes, limit, what)
            self._take(nbytes + (-nbytes % 8), skip=True)

    def child(self, budget: _Budget, depth: int) -> None:
        kind, nbytes, small = self.tag()
        if kind != MI_MATRIX or small is not None:
            raise SpecError(f"{self.stream.path}: a cell or struct element is not an array")
        self._fits(nbytes, self.left, "a cell or struct element")
        _scan_matrix(self.stream, self.endian, nbytes, budget, depth)
        self.left -= nbytes

    def _fits(self, nbytes: int, limit: int, what: str) -> None:
        if nbytes > min(limit, self.left):
            raise SpecError(f"{self.stream.path}: {what} declares {nbytes:,} bytes, more than its array can hold; refusing to read it")

    def _take(self, n: int, skip: bool = False) -> bytes:
        if n > self.left:
            raise SpecError(f"{self.stream.path}: a .mat array is shorter than its parts")
        self.left -= n
        if skip:
            self.stream.skip(n)
            return b""
        return self.stream.read(n)


def _scan_matrix(stream: _Stream, endian: str, nbytes: int, budget: _Budget, depth: int) -> None:
    """Check one miMATRIX's declared sizes (its children's too) against the budget, consuming ``nbytes``."""
    if depth > MAX_DEPTH:
        raise SpecError(f"{stream.path}: arrays nested more than {MAX_DEPTH} levels deep")
    if nbytes == 0:  # an empty placeholder, e.g. an unset cell element
        return
    region = _Region(stream, endian, nbytes)
    flags = region.element(16, "the array flags")
    if len(flags) >= 4 and struct.unpack(endian + "I", flags[:4])[0] & 0xFF == MX_OPAQUE:
        # a classdef object (a network, dlarray, string, table) or a function's workspace: no dimensions;
        # its name, type system ('MCOS') and class name, then arrays of object ids
        for what in ("the array name", "the type system name", "the class name"):
            region.skip_element(1 << 16, what)
        while region.left > 0:
            region.child(budget, depth + 1)
        return
    dims_raw = region.element(4 * 64, "the dimensions")
    if len(flags) < 8 or len(dims_raw) < 8:
        raise SpecError(f"{stream.path}: a .mat array has malformed flags or dimensions")
    mx_class, nzmax = struct.unpack(endian + "II", flags[:8])
    mx_class &= 0xFF
    dims = struct.unpack(endian + f"{len(dims_raw) // 4}i", dims_raw[: len(dims_raw) // 4 * 4])
    if any(d < 0 for d in dims):
        raise SpecError(f"{stream.path}: a .mat array declares negative dimensions {dims}")
    count = int(np.prod(dims, dtype=np.float64))
    budget.take(count, f"an array of size {'x'.join(map(str, dims))}")
    region.skip_element(1 << 16, "the array name")
    if mx_class == MX_FUNCTION:  # a function handle: a struct that describes it
        while region.left > 0:
            region.child(budget, depth + 1)
    elif mx_class in (MX_CELL, MX_STRUCT, MX_OBJECT):
        if mx_class == MX_OBJECT:
            region.skip_element(1 << 16, "the class name")
        fields = 1
        if mx_class != MX_CELL:
            width_raw = region.element(8, "the field name length")
            names = region.element(1 << 20, "the field names")
            width = struct.unpack(endian + "i", width_raw[:4])[0] if len(width_raw) >= 4 else 0
            fields = len(names) // width if width > 0 else 0
        for _ in range(count * fields):
            region.child(budget, depth + 1)
    else:
        if mx_class == MX_SPARSE:  # ir and the values hold nzmax entries, whatever the dimensions say
            budget.take(nzmax, "a sparse array's nonzeros")
            count = max(nzmax, (dims[1] if len(dims) > 1 else 0) + 1)
        while region.left > 0:  # real part, imaginary part (ir/jc first for sparse), each within the declared size
            region.skip_element(8 * count + 8, "an array's data")
    stream.skip(region.left)


# -- shared --------------------------------------------------------------------------------------


def _matlab_shape(value: np.ndarray) -> np.ndarray:
    """MATLAB arrays have at least two dimensions."""
    return value.reshape(value.shape + (1,) * (2 - value.ndim)) if value.ndim < 2 else value


def _char(data: np.ndarray) -> Any:
    """A MATLAB char array (UTF-16 codes, or scipy's strings) as ``str`` (one row) or an array of row strings."""
    if data.dtype.kind == "U":
        rows = [str(s) for s in data.reshape(-1)] if data.ndim else [str(data)]
        return rows[0] if len(rows) == 1 else np.array(rows)
    codes = np.asarray(data, dtype=np.uint32)
    rows = ["".join(map(chr, row)) for row in codes.reshape(codes.shape[0], -1)]
    return rows[0] if len(rows) == 1 else np.array(rows)
