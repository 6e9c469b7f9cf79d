"""Reading ``.onnx`` files from elsewhere for ``inspect``, ``verify``, ``to-matlab`` and ``build MODEL.onnx``.

A model file is untrusted data: a folder, ``/dev/zero``, a truncated or
random file, an empty graph, tampered metadata. :func:`read_model` answers
each with an :class:`~lstm2onnx.errors.Lstm2OnnxError` naming the file (the
CLI prints it as one line and exits 1), and :func:`untrusted` turns whatever
a damaged but parseable model makes the importer or onnxruntime raise into
the same. Tensor data stored outside the file (ONNX external data) is
refused: following its paths would read other local files into the model.
"""

from __future__ import annotations

import contextlib
import os
import stat
from typing import Iterator

import onnx

from .errors import Lstm2OnnxError

MAX_MODEL_BYTES = 2**31 - 1  # protobuf's limit for one serialized message


def read_model(path: str | os.PathLike) -> onnx.ModelProto:
    """The ModelProto in ``path``: a regular, non-empty file under 2 GiB holding a graph with inputs, outputs and nodes."""
    path = os.fspath(path)
    try:
        info = os.stat(path)
    except OSError as error:
        raise Lstm2OnnxError(f"cannot read {path!r}: {error.strerror}") from None
    if stat.S_ISDIR(info.st_mode):
        raise Lstm2OnnxError(f"{path!r} is a folder, not an .onnx file")
    if not stat.S_ISREG(info.st_mode):
        raise Lstm2OnnxError(f"{path!r} is not a regular file (a device, pipe or socket); expected an .onnx file")
    if info.st_size == 0:
        raise Lstm2OnnxError(f"{path!r} is empty; expected an .onnx file")
    if info.st_size > MAX_MODEL_BYTES:
        raise Lstm2OnnxError(f"{path!r} is {info.st_size} bytes, more than an .onnx file can hold (2 GiB)")
    try:
        model = onnx.load(path, load_external_data=False)
    except Exception as error:  # protobuf/onnx raise DecodeError, ValueError, ... for damaged files
        raise Lstm2OnnxError(f"cannot read {path!r} as an ONNX model: {_first_line(error)}") from None
    graph = model.graph
    if not graph.node or not graph.input or not graph.output:
        raise Lstm2OnnxError(f"{path!r} holds no ONNX graph (no nodes, inputs or outputs): not an .onnx file, or an empty one")
    external = [t.name for t in graph.initializer if t.data_location == onnx.TensorProto.EXTERNAL]
    if external:
        raise Lstm2OnnxError(f"{path!r} keeps tensors in external files ({shown(external[0])}, ...); lstm2onnx reads only self-contained models")
    return model


@contextlib.contextmanager
def untrusted(path: str | os.PathLike) -> Iterator[None]:
    """Anything a damaged model makes the code inside raise becomes one Lstm2OnnxError naming the file."""
    try:
        yield
    except Lstm2OnnxError:
        raise
    except (ValueError, TypeError, KeyError, IndexError, AttributeError, RecursionError, RuntimeError, onnx.checker.ValidationError) as error:
        # onnxruntime's own exception types derive from RuntimeError
        raise Lstm2OnnxError(f"{os.fspath(path)!r} is not a valid lstm2onnx model: {type(error).__name__}: {_first_line(error)}") from None


def shown(text: str) -> str:
    """``text`` for a terminal: control characters (newline, ESC, bidi overrides, ...) as backslash escapes."""
    if text.isprintable():
        return text
    return "".join(c if c.isprintable() or c == " " else c.encode("unicode_escape").decode("ascii") for c in text)


def _first_line(error: BaseException) -> str:
    return shown((str(error).strip().splitlines() or [type(error).__name__])[0][:300])
