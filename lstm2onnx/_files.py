"""Every file lstm2onnx writes goes through :func:`atomic_write`: a temporary file in the same folder, then ``os.replace``.

So a full disk, a crash or Ctrl-C never leaves a truncated ``.onnx``,
checkpoint or plot, and the previous file survives a failed write. Errors
name the file asked for, never the hidden temporary one. (The runtime
distribution has its own copy, ``lstm2onnx_runtime/_files.py``: it cannot
import lstm2onnx.)
"""

from __future__ import annotations

import contextlib
import os
import uuid
from typing import IO, Iterator


@contextlib.contextmanager
def atomic_write(path: str | os.PathLike, *, text: bool = False) -> Iterator[IO]:
    """``with atomic_write(path) as handle: ...``: ``path`` appears, complete, only if the block succeeds.

    ``text``: a UTF-8 text handle instead of a binary one. A plain open keeps
    the user's umask (mkstemp would force mode 0600).
    """
    path = os.fspath(path)
    temporary = os.path.join(os.path.dirname(os.path.abspath(path)), f".{os.path.basename(path)}.{uuid.uuid4().hex}.part")
    try:
        with open(temporary, "x" if text else "xb", **({"encoding": "utf-8", "newline": ""} if text else {})) as handle:
            yield handle
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(temporary, path)
    except BaseException as error:
        with contextlib.suppress(OSError):
            os.unlink(temporary)
        if isinstance(error, OSError):
            raise OSError(error.errno, f"cannot write {path!r}: {error.strerror or error}") from None
        raise
