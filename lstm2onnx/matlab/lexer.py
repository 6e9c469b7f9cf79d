"""MATLAB text -> tokens, the first stage of the MATLAB front end.

The lexer knows what MATLAB's own lexer knows and nothing about values:

- comments: ``%`` to the end of the line, ``%{`` ... ``%}`` blocks (each on a
  line of its own, nestable), ``...`` continues a line (the rest of it is a comment);
- strings: ``'char'`` with ``''`` for a quote and ``"string"`` with ``""``; a
  ``'`` right after a value (name, number, closing bracket, transpose; no space
  between) is the transpose operator instead;
- brackets: inside ``[ ]`` and ``{ }`` a line break separates rows; inside
  ``( )`` a line break without ``...`` is an error, as in MATLAB;
- ``end`` inside brackets is the index ``end``, outside it closes a block;
  the other block words are keywords only outside brackets;
- command syntax at the start of a statement (``load WaveformData``,
  ``hold on``, ``clear all``, ``rng default``): one ``cmd`` token holding the
  name and the words, as MATLAB reads ``name word ...``;
- ``!`` at the start of a statement (a shell escape) becomes a ``cmd`` token
  too: it is split off and never run.

A problem (an unclosed string, a stray character) becomes an ``err`` token at
its position, so the statement holding it can be reported, or skipped when
the network does not need it. One regular expression drives the scan, so a
1 MB text is tokenized in a fraction of a second.
"""

from __future__ import annotations

import bisect
import re
from typing import Any, NamedTuple

MAX_INPUT = 1_000_000  # characters

KEYWORDS = frozenset({
    "for", "parfor", "while", "if", "elseif", "else", "switch", "case", "otherwise", "function", "try", "catch",
    "end", "return", "break", "continue", "global", "persistent", "spmd", "classdef",
})
# Octave's block ends: MATLAB reads none of them (it ends every block with 'end').
OCTAVE_ENDS = frozenset({"endfunction", "endfor", "endparfor", "endwhile", "endif", "endswitch", "end_try_catch",
                         "end_unwind_protect", "endspmd"})
# After these a new statement may start on the same line (`else x = 1`, `try load X`).
_STATEMENT_AFTER = frozenset({"else", "try", "otherwise", "end", "break", "continue", "return"})


class Token(NamedTuple):
    """One token. ``kind``: num, str (char vector), dstr ("string"), id, kw, op, nl, semi, comma, cmd, err, eof."""

    kind: str
    value: Any
    pos: int
    space_before: bool = False


_SCAN = re.compile(
    r"(?P<ws>[ \t\r\f\v]*)(?:"
    r"(?P<cont>\.\.\.[^\n]*(?:\n|$))"
    r"|(?P<comment>%[^\n]*)"
    r"|(?P<nl>\n)"
    r"|(?P<num>(?:\d+(?:\.(?![*/^\\'])\d*)?|\.\d+)(?:[eEdD][+-]?\d+)?)"
    r"|(?P<id>[A-Za-z][A-Za-z0-9_]*)"
    r'|(?P<dq>"(?:[^"\n]|"")*"?)'
    r"|(?P<op>\.\^|\.\*|\./|\.\\|\.'|==|~=|<=|>=|&&|\|\||[-+*/\\^()\[\]{}=:'@!<>&|~.,;]))"
)
_SPACE = re.compile(r"[ \t\r\f\v]*")
_CHAR_STRING = re.compile(r"'(?:[^'\n]|'')*'")
_BLOCK_OPEN = re.compile(r"[ \t]*%\{[ \t]*(?:\n|$)")
_BLOCK_LINE = re.compile(r"[ \t]*%([{}])[ \t]*(?:\n|$)")
# What follows `name ` when the statement is command syntax: not `=`/`(`, and not a binary operator and a space.
_NOT_COMMAND = re.compile(r"[ \t]+(?:=(?!=)|\(|(?:[-+*/\\^<>&|:.]|==|~=|<=|>=|&&|\|\||\.[*/^\\])[ \t]|[,;\n%]|$)")
_COMMAND_WORDS = re.compile(r"'(?:[^'\n]|'')*'|[^ \t,;\n%']+")
_VALUE_END = frozenset({")", "]", "}", "'", ".'"})
_OPENERS = frozenset("([{")
_CLOSERS = {")": "(", "]": "[", "}": "{"}
_PLAIN_OPS = frozenset({".^", ".*", "./", ".\\", ".'", "==", "~=", "<=", ">=", "&&", "||", "-", "+", "*", "/", "\\", "^",
                        "=", ":", "@", "<", ">", "&", "|", "~", "."})


class Source:
    """The text and its line starts: positions -> (line, column, source line)."""

    def __init__(self, text: str) -> None:
        self.text = text
        self.line_starts = [0] + [m.end() for m in re.finditer("\n", text)]

    def line_of(self, pos: int) -> int:
        return bisect.bisect_right(self.line_starts, pos)

    def where(self, pos: int) -> tuple[int, int, str]:
        pos = max(0, min(pos, len(self.text)))
        line = self.line_of(pos)
        start = self.line_starts[line - 1]
        end = self.text.find("\n", start)
        return line, pos - start + 1, self.text[start: end if end != -1 else len(self.text)]


def tokenize(text: str, budget: Any = None) -> list[Token]:
    """The tokens of ``text``, ending with one ``eof`` token; problems are ``err`` tokens.

    ``budget`` (a :class:`~.workspace.Budget`) is ticked as tokens are made, so a
    dense 1 MB text ends with a clean error instead of running past the CPU budget.
    """
    if len(text) > MAX_INPUT:
        from .problems import MatlabError

        raise MatlabError(f"the text is {len(text)} characters long; at most {MAX_INPUT} are read")
    tokens: list[Token] = []
    append = tokens.append
    stack: list[str] = []  # open brackets
    octave: list[int] = []  # where Octave's endfor/endfunction/... stand
    i, n = 0, len(text)
    statement_start = True
    line_start = True
    space = False
    scan = _SCAN.match
    new = tuple.__new__
    tick = budget.tick if budget is not None else None
    while i < n:
        if tick is not None and not len(tokens) & 255:
            tick(i)
        if line_start:
            line_start = False
            block = _BLOCK_OPEN.match(text, i)
            if block:
                i = _skip_block_comment(text, i, tokens)
                line_start = True
                continue
        m = scan(text, i)
        if m is None:
            j = _SPACE.match(text, i).end()
            if j >= n:
                break
            append(Token("err", f"unexpected character {text[j]!r}", j, space or j > i))
            i = j + 1
            space = False
            continue
        kind = m.lastgroup
        end = m.end()
        start = m.end(1)
        if start > i:
            space = True
        i = start
        if kind == "op":
            op = m.group(kind)
            if op in _PLAIN_OPS:
                append(new(Token, ("op", op, i, space)))
            elif op in _OPENERS:
                stack.append(op)
                append(new(Token, ("op", op, i, space)))
            elif op in _CLOSERS:
                if stack and stack[-1] == _CLOSERS[op]:
                    stack.pop()
                    append(new(Token, ("op", op, i, space)))
                else:
                    append(Token("err", f"unbalanced {op!r}" if not stack else f"{op!r} closes {stack[-1]!r}", i, space))
                    stack.clear()
            elif op == ";" or op == ",":
                append(new(Token, ("semi" if op == ";" else "comma", op, i, space)))
                if not stack:
                    i, space, statement_start = end, False, True
                    continue
            elif op == "'" and not _transpose(tokens, space):
                quoted = _CHAR_STRING.match(text, i)
                if quoted is None:
                    append(Token("err", "string is not closed on its line", i, space))
                    end = text.find("\n", i)
                    end = n if end == -1 else end
                else:
                    append(Token("str", quoted.group()[1:-1].replace("''", "'"), i, space))
                    end = quoted.end()
            elif op == "!" and statement_start and not stack:
                stop = text.find("\n", i)
                stop = n if stop == -1 else stop
                append(Token("cmd", ("!", [text[i + 1: stop].strip()]), i, space))
                end = stop
            else:
                append(new(Token, ("op", op, i, space)))
        elif kind == "id":
            word = m.group(kind)
            if not stack:
                if word in OCTAVE_ENDS and statement_start and _alone(text, end):
                    octave.append(i)
                    word = "end"
                if word in KEYWORDS:
                    append(Token("kw", word, i, space))
                    i, space = end, False
                    statement_start = word in _STATEMENT_AFTER
                    continue
                if statement_start:
                    command = _command(text, i, end)
                    if command is not None:
                        words, stop = command
                        append(Token("cmd", (word, words), i, space))
                        i, space, statement_start = stop, False, False
                        continue
            append(new(Token, ("id", word, i, space)))
        elif kind == "num":
            append(new(Token, ("num", float(m.group(kind).replace("d", "e").replace("D", "e")), i, space)))
        elif kind == "nl":
            if stack and "(" in stack:
                append(Token("err", "a line break inside '(' needs '...' to continue the line", i, space))
                stack.clear()
            append(Token("nl", "\n", i, space))
            i, space, line_start = end, False, True
            if not stack:
                statement_start = True
            continue
        elif kind == "comment":
            i = end
            continue
        elif kind == "cont":
            space = True
            i = end
            line_start = True
            continue
        else:  # dq
            raw = m.group(kind)
            if len(raw) < 2 or not raw.endswith('"') or raw.endswith('""') and _unclosed(raw):
                append(Token("err", "string is not closed on its line", i, space))
                end = text.find("\n", i)
                end = n if end == -1 else end
            else:
                append(Token("dstr", raw[1:-1].replace('""', '"'), i, space))
        i, space, statement_start = end, False, False
    append(Token("eof", None, n, space))
    found = [(f"'{_OCTAVE_WORD.match(text, pos).group()}' is Octave, not MATLAB: MATLAB ends every block with 'end' "
              "(lstm2onnx reads MATLAB files)", pos) for pos in octave] + _octave_operators(tokens)
    if found:
        from .problems import MatlabError

        raise MatlabError.report(found, text)
    return tokens


_OCTAVE_WORD = re.compile(r"\w+")
_COMPOUND = frozenset({"+=", "-=", "*=", "/=", "^="})


def _octave_operators(tokens: list[Token]) -> list[tuple[str, int]]:
    """Octave's ``x += 1`` and ``a != b``, which MATLAB does not read: named, with MATLAB's way to write them."""
    found = []
    for k, tok in enumerate(tokens[:-1]):
        after = tokens[k + 1]
        if tok.kind == "cmd" and tok.value[1] and tok.value[1][0] in _COMPOUND:
            op = tok.value[1][0]
            found.append((f"'{op}' is Octave, not MATLAB: write {tok.value[0]} = {tok.value[0]} {op[0]} ...", tok.pos))
        elif tok.kind == "op" and after.kind == "op" and after.value == "=" and after.pos == tok.pos + 1 and \
                tok.value in ("!", "+", "-", "*", "/", "^"):
            found.append(("'!=' is Octave, not MATLAB: write '~='" if tok.value == "!" else
                          f"'{tok.value}=' is Octave, not MATLAB: write x = x {tok.value} ...", tok.pos))
    return found


def _alone(text: str, end: int) -> bool:
    """Nothing but spaces, a separator or a comment after the word on its line (``endfor``, not ``endfor = 1``)."""
    rest = text[end: end + 200].lstrip(" \t")
    return not rest or rest[0] in ",;\n\r%#"


def _unclosed(raw: str) -> bool:
    """``"abc""`` ends with an escaped quote, not a closing one."""
    body = raw[1:]
    k = 0
    while k < len(body):
        if body[k] == '"':
            if k + 1 < len(body) and body[k + 1] == '"':
                k += 2
                continue
            return k != len(body) - 1
        k += 1
    return True


def _transpose(tokens: list[Token], space: bool) -> bool:
    """A quote right after a value (no space between) is MATLAB's transpose, not a string."""
    if not tokens or space:
        return False
    last = tokens[-1]
    return last.kind in ("num", "id", "str", "dstr") or (last.kind == "op" and last.value in _VALUE_END) or (
        last.kind == "kw" and last.value == "end")


def _command(text: str, start: int, end: int) -> tuple[list[str], int] | None:
    """``name word ...`` at the start of a statement: the words and where the statement ends, or None."""
    if end >= len(text) or text[end] not in " \t":
        return None
    if _NOT_COMMAND.match(text, end):
        return None
    words: list[str] = []
    i = end
    n = len(text)
    while i < n:
        ch = text[i]
        if ch in " \t":
            i += 1
            continue
        if ch in ",;\n%":
            break
        m = _COMMAND_WORDS.match(text, i)
        if m is None:  # an unclosed quote: the rest of the line is the word
            stop = text.find("\n", i)
            stop = n if stop == -1 else stop
            words.append(text[i:stop])
            i = stop
            break
        word = m.group()
        words.append(word[1:-1].replace("''", "'") if word.startswith("'") else word)
        i = m.end()
    return words, i


def _skip_block_comment(text: str, i: int, tokens: list[Token]) -> int:
    """Past the ``%}`` closing the ``%{`` block at ``i`` (blocks nest); an unclosed block is an error token."""
    depth = 0
    pos = i
    n = len(text)
    while pos < n:
        m = _BLOCK_LINE.match(text, pos)
        nxt = text.find("\n", pos)
        if m:
            depth += 1 if m.group(1) == "{" else -1
            if depth == 0:
                return m.end()
        if nxt == -1:
            break
        pos = nxt + 1
    tokens.append(Token("err", "block comment '%{' is never closed with '%}'", i))
    return n
