"""MatlabError: a problem in MATLAB text, with line, column, the source line and a caret; several at once."""

from __future__ import annotations

from ..errors import SpecError

MAX_REPORTED = 20
SHOWN = 100  # characters of a long source line shown around a problem


class MatlabError(SpecError):
    """A MATLAB text could not be turned into a layer array; the message names line and column and shows the line.

    ``problems`` holds every problem found (``(message, line, column)``; line and
    column are None for problems of the whole file); ``line``/``column`` are the first one's.
    """

    def __init__(self, message: str, text: str = "", pos: int | None = None) -> None:
        self.line = self.column = None
        self.problems: list[tuple[str, int | None, int | None]] = []
        if pos is not None and text:
            message, self.line, self.column = _located(message, text, pos)
        self.problems = [(message, self.line, self.column)]
        super().__init__(message)

    @classmethod
    def report(cls, problems: list[tuple[str, int | None]], text: str, hint: str = "") -> "MatlabError":
        """One error holding several problems (at most :data:`MAX_REPORTED` are shown), in text order;
        ``hint`` (a way out for all of them) ends the message."""
        ordered = sorted(problems, key=lambda p: (p[1] is None, p[1] or 0))
        if len(ordered) == 1:
            error = cls(ordered[0][0], text, ordered[0][1])
            if hint:
                error.args = (f"{error.args[0]}\n{hint}",)
            return error
        located = [_located(message, text, pos) if pos is not None else (message, None, None)
                   for message, pos in ordered[:MAX_REPORTED]]
        more = len(ordered) - len(located)
        body = "\n".join(f"  {k}. {message.replace(chr(10), chr(10) + '  ')}" for k, (message, _, _) in enumerate(located, 1))
        tail = f"\n  ... and {more} more" if more > 0 else ""
        error = cls(f"{len(ordered)} problems stop the build:\n{body}{tail}" + (f"\n{hint}" if hint else ""))
        error.problems = located
        error.line, error.column = located[0][1], located[0][2]
        return error


def _located(message: str, text: str, pos: int) -> tuple[str, int, int]:
    pos = max(0, min(pos, len(text)))
    line = text.count("\n", 0, pos) + 1
    start = text.rfind("\n", 0, pos) + 1
    end = text.find("\n", pos)
    source = text[start: end if end != -1 else len(text)]
    column = pos - start + 1
    shift = 0
    if len(source) > SHOWN:  # a window of a long line around the column
        shift = max(0, min(column - 1 - SHOWN // 2, len(source) - SHOWN))
        source = ("..." if shift else "") + source[shift: shift + SHOWN] + ("..." if shift + SHOWN < len(source) else "")
        shift -= 3 if shift else 0
    caret = " " * (column - 1 - shift) + "^"
    return f"line {line}, column {column}: {message}\n    {source}\n    {caret}", line, column
