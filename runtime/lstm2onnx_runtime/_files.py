"""Writing files atomically: a temporary file in the same folder, then ``os.replace``.

A full disk, a crash or Ctrl-C leaves the previous file as it was (never a
truncated one); errors name the file the caller asked for, never the
hidden temporary one. (lstm2onnx has its own copy: the runtime imports nothing
from the compiler.)
"""

from __future__ import annotations

import contextlib
import os
import uuid
from typing import IO, Iterator


@contextlib.contextmanager
def atomic_write(path: str | os.PathLike, *, text: bool = False) -> Iterator[IO]:
    """``with atomic_write(path) as handle: ...``: ``path`` appears, complete, only if the block succeeds.

    ``text``: a UTF-8 text handle instead of a binary one. The file gets the
    usual permissions (a plain open keeps the user's umask; mkstemp would force 0600).
    """
    path = os.fspath(path)
    folder = os.path.dirname(os.path.abspath(path))
    temporary = os.path.join(folder, f".{os.path.basename(path)}.{uuid.uuid4().hex}.part")
    try:
        with open(temporary, "x" if text else "xb", **({"encoding": "utf-8", "newline": ""} if text else {})) as handle:
            yield handle
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(temporary, path)
    except OSError as error:
        _remove(temporary)
        raise OSError(error.errno, f"cannot write {path!r}: {error.strerror or error}") from None
    except BaseException:
        _remove(temporary)
        raise


def _remove(path: str) -> None:
    with contextlib.suppress(OSError):
        os.unlink(path)
