"""Statement tokens -> expression trees, the third stage of the MATLAB front end.

A recursive-descent parser with MATLAB's precedence, lowest first:
``||``, ``&&``, ``|``, ``&``, comparisons, ``:``, ``+ -``, ``* / .* ./ \\``,
unary ``- + ~``, ``^ .^`` and the transposes, then postfix ``()``, ``{}``,
``.field`` and ``.(expr)``. Inside ``[ ]`` and ``{ }`` a space separates
elements as in MATLAB (``[1 -2]`` is two numbers, ``[1 - 2]`` one;
``[f (1)]`` is two elements). ``Name=value`` is an argument of a call only.
Only the statements the network needs are parsed, so a parse error in code
that is never needed does not stop the build.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from .lexer import Token

MAX_DEPTH = 64  # nested brackets, calls and operators


class ParseError(Exception):
    """A problem at a position of the text (turned into a MatlabError with line and column)."""

    def __init__(self, message: str, pos: int) -> None:
        super().__init__(message)
        self.message, self.pos = message, pos


@dataclass(frozen=True, slots=True)
class Num:
    value: float
    pos: int


@dataclass(frozen=True, slots=True)
class Str:
    value: str
    pos: int
    double: bool  # "string" (a string scalar) rather than 'char'


@dataclass(frozen=True, slots=True)
class Name:
    name: str
    pos: int


@dataclass(frozen=True, slots=True)
class Colon:
    """A bare ``:`` index (all of a dimension)."""

    pos: int


@dataclass(frozen=True, slots=True)
class EndRef:
    """``end`` inside an index."""

    pos: int


@dataclass(frozen=True, slots=True)
class Tilde:
    """``~`` in the outputs of a multiple assignment."""

    pos: int


@dataclass(frozen=True, slots=True)
class Binary:
    op: str
    left: Any
    right: Any
    pos: int


@dataclass(frozen=True, slots=True)
class Unary:
    op: str
    operand: Any
    pos: int


@dataclass(frozen=True, slots=True)
class Transpose:
    operand: Any
    pos: int


@dataclass(frozen=True, slots=True)
class Range:
    start: Any
    step: Any  # None for a:b
    stop: Any
    pos: int


@dataclass(frozen=True, slots=True)
class Matrix:
    rows: tuple[tuple[Any, ...], ...]
    brace: bool  # { } builds a cell array
    pos: int


@dataclass(frozen=True, slots=True)
class Call:
    """``base(args)`` (call or index) or ``base{args}`` (cell contents)."""

    base: Any
    args: tuple[Any, ...]
    brace: bool
    pos: int


@dataclass(frozen=True, slots=True)
class Field:
    base: Any
    name: str | None  # None: dynamic field ``base.(expr)``
    expr: Any
    pos: int


@dataclass(frozen=True, slots=True)
class NameArg:
    name: str
    value: Any
    pos: int


@dataclass(frozen=True, slots=True)
class Lambda:
    """``@(x) ...`` (``params``, ``body``) or ``@name`` (``target``): a function handle. The evaluator calls
    one only inside ``cellfun``/``arrayfun`` or ``f(x)``, and only on what it evaluates anyway."""

    text: str
    pos: int
    params: tuple[str, ...] = ()
    body: Any = None
    target: str | None = None


@dataclass(frozen=True, slots=True)
class Assign:
    targets: tuple[Any, ...]  # Name / Call / Field chains, or Tilde
    value: Any
    pos: int


@dataclass(frozen=True, slots=True)
class ExprStatement:
    value: Any
    pos: int


_COMPARE = frozenset({"==", "~=", "<", "<=", ">", ">="})
_MULTIPLY = frozenset({"*", "/", ".*", "./", "\\", ".\\"})
_VALUE_START = frozenset({"num", "str", "dstr", "id"})


class ExpressionParser:
    """Parses one statement's tokens (the list ends at the statement's end)."""

    def __init__(self, tokens: list[Token], end_pos: int) -> None:
        self.tokens = tokens
        self.i = 0
        self.end_pos = end_pos
        self.depth = 0
        self.matrix = 0  # > 0 directly inside [ ] or { } (spaces separate elements)

    # -- helpers
    def peek(self, k: int = 0) -> Token:
        j = self.i + k
        return self.tokens[j] if j < len(self.tokens) else Token("eof", None, self.end_pos)

    def next(self) -> Token:
        tok = self.peek()
        self.i += 1
        return tok

    def at(self, kind: str, value: Any = None, k: int = 0) -> bool:
        tok = self.peek(k)
        return tok.kind == kind and (value is None or tok.value == value)

    def at_op(self, *values: str) -> bool:
        tok = self.peek()
        return tok.kind == "op" and tok.value in values

    def fail(self, message: str, tok: Token | None = None) -> ParseError:
        return ParseError(message, (tok or self.peek()).pos)

    def expect_op(self, value: str, opener: Token | None = None) -> Token:
        tok = self.peek()
        if tok.kind == "op" and tok.value == value:
            return self.next()
        if opener is not None and tok.kind == "eof":
            raise self.fail(f"'{opener.value}' is never closed", opener)
        raise self.fail(f"expected {value!r}, got {describe_token(tok)}")

    def enter(self) -> None:
        self.depth += 1
        if self.depth > MAX_DEPTH:
            raise self.fail(f"nesting is deeper than {MAX_DEPTH} levels")

    # -- statements
    def statement(self, eq: int | None) -> Assign | ExprStatement:
        start = self.peek()
        if eq is None:
            value = self.expression()
            self.finish()
            return ExprStatement(value, start.pos)
        targets = self.targets(eq)
        self.i = eq + 1
        if self.at("eof") or self.i >= len(self.tokens):
            raise self.fail("expected a value after '='")
        value = self.expression()
        self.finish()
        return Assign(tuple(targets), value, start.pos)

    def finish(self) -> None:
        tok = self.peek()
        if tok.kind != "eof":
            raise self.fail(f"expected the end of the statement, got {describe_token(tok)}", tok)

    def targets(self, eq: int) -> list[Any]:
        saved = self.tokens
        self.tokens = saved[:eq]
        try:
            if self.at_op("["):
                open_tok = self.next()
                self.matrix += 1
                out: list[Any] = []
                while not self.at_op("]"):
                    if self.at("eof"):
                        raise self.fail("'[' is never closed", open_tok)
                    if self.at("comma"):
                        self.next()
                        continue
                    if self.at_op("~"):
                        out.append(Tilde(self.next().pos))
                        continue
                    out.append(self.target())
                self.matrix -= 1
                self.next()
            else:
                out = [self.target()]
            self.finish()
            return out
        finally:
            self.tokens = saved

    def target(self) -> Any:
        tok = self.peek()
        if tok.kind != "id":
            raise self.fail(f"expected a variable name to assign to, got {describe_token(tok)}")
        node = self.postfix()
        if not _is_lvalue(node):
            raise self.fail("this cannot be assigned to", tok)
        return node

    # -- expressions, lowest precedence first
    def expression(self) -> Any:
        self.enter()
        try:
            return self.binary(0)
        finally:
            self.depth -= 1

    _LEVELS = (frozenset({"||"}), frozenset({"&&"}), frozenset({"|"}), frozenset({"&"}), _COMPARE)

    def binary(self, level: int) -> Any:
        if level == len(self._LEVELS):
            return self.range()
        left = self.binary(level + 1)
        ops = self._LEVELS[level]
        while self.peek().kind == "op" and self.peek().value in ops and not self.element_break():
            op = self.next()
            left = Binary(op.value, left, self.binary(level + 1), op.pos)
        return left

    def range(self) -> Any:
        start = self.additive()
        if not self.at_op(":") or self.element_break():
            return start
        colon = self.next()
        second = self.additive()
        if self.at_op(":") and not self.element_break():
            self.next()
            return Range(start, second, self.additive(), colon.pos)
        return Range(start, None, second, colon.pos)

    def element_break(self) -> bool:
        """Inside [ ] a binary-looking operator after a space and before a value without one starts an element."""
        if not self.matrix:
            return False
        tok, nxt = self.peek(), self.peek(1)
        return tok.space_before and not nxt.space_before and tok.value in ("+", "-") and nxt.kind != "eof"

    def additive(self) -> Any:
        left = self.multiplicative()
        while self.at_op("+", "-") and not self.element_break():
            op = self.next()
            left = Binary(op.value, left, self.multiplicative(), op.pos)
        return left

    def multiplicative(self) -> Any:
        left = self.unary()
        while self.peek().kind == "op" and self.peek().value in _MULTIPLY:
            op = self.next()
            left = Binary(op.value, left, self.unary(), op.pos)
        return left

    def unary(self) -> Any:
        if self.at_op("-", "+", "~", "!"):
            op = self.next()
            self.enter()
            try:
                operand = self.unary()
            finally:
                self.depth -= 1
            return Unary("~" if op.value == "!" else op.value, operand, op.pos)
        return self.power()

    def power(self) -> Any:
        base = self.postfix()
        while self.at_op("^", ".^"):
            op = self.next()
            base = Binary(op.value, base, self.power_operand(), op.pos)
        return base

    def power_operand(self) -> Any:
        if self.at_op("-", "+", "~"):
            op = self.next()
            self.enter()
            try:
                return Unary(op.value, self.power_operand(), op.pos)
            finally:
                self.depth -= 1
        return self.postfix()

    def postfix(self) -> Any:
        node = self.primary()
        while True:
            tok = self.peek()
            if tok.kind != "op":
                return node
            if tok.value in ("(", "{") and not (self.matrix and tok.space_before):
                if not isinstance(node, (Name, Call, Field)):
                    return node
                self.next()
                args = self.arguments(tok, ")" if tok.value == "(" else "}")
                node = Call(node, tuple(args), tok.value == "{", tok.pos)
            elif tok.value == "." and not tok.space_before and self.peek(1).kind == "id":
                self.next()
                node = Field(node, self.next().value, None, tok.pos)
            elif tok.value == "." and self.at("op", "(", 1):
                self.next()
                paren = self.next()
                inner = self.parenthesized(paren)
                node = Field(node, None, inner, tok.pos)
            elif tok.value in ("'", ".'") and not tok.space_before:
                self.next()
                node = Transpose(node, tok.pos)
            else:
                return node

    def parenthesized(self, open_tok: Token) -> Any:
        saved, self.matrix = self.matrix, 0
        try:
            value = self.expression()
        finally:
            self.matrix = saved
        self.expect_op(")", open_tok)
        return value

    def arguments(self, open_tok: Token, close: str) -> list[Any]:
        self.enter()
        saved, self.matrix = self.matrix, 0
        args: list[Any] = []
        try:
            if self.at_op(close):
                self.next()
                return args
            while True:
                tok = self.peek()
                if tok.kind == "op" and tok.value == ":" and (self.at("comma", k=1) or self.at("op", close, 1)):
                    self.next()
                    args.append(Colon(tok.pos))
                elif tok.kind == "id" and self.at("op", "=", 1):
                    self.next()
                    self.next()
                    args.append(NameArg(tok.value, self.expression(), tok.pos))
                else:
                    args.append(self.expression())
                if self.at("comma"):
                    self.next()
                    if self.at_op(close):  # f(a, ): accepted, as the former parser did
                        self.next()
                        return args
                    continue
                if self.at_op(close):
                    self.next()
                    return args
                if self.at("eof"):
                    raise self.fail(f"'{open_tok.value}' is never closed", open_tok)
                raise self.fail(f"expected ',' or '{close}' in the argument list, got {describe_token(self.peek())}")
        finally:
            self.matrix = saved
            self.depth -= 1

    def primary(self) -> Any:
        tok = self.next()
        kind = tok.kind
        if kind == "num":
            return Num(tok.value, tok.pos)
        if kind == "str":
            return Str(tok.value, tok.pos, False)
        if kind == "dstr":
            return Str(tok.value, tok.pos, True)
        if kind == "id":
            return EndRef(tok.pos) if tok.value == "end" else Name(tok.value, tok.pos)
        if kind == "op":
            if tok.value == "(":
                self.enter()
                try:
                    return self.parenthesized(tok)
                finally:
                    self.depth -= 1
            if tok.value in ("[", "{"):
                return self.matrix_literal(tok)
            if tok.value == "@":
                return self.handle(tok)
        raise self.fail(f"expected a value, got {describe_token(tok)}", tok)

    def handle(self, at: Token) -> Lambda:
        if self.at("id"):
            name = self.next()
            while self.at_op(".") and self.at("id", k=1):
                self.next()
                self.next()
            return Lambda("@" + name.value, at.pos, target=name.value)
        open_tok = self.expect_op("(")
        params: list[str] = []
        while not self.at_op(")"):
            if self.at("eof"):
                raise self.fail("'(' is never closed", open_tok)
            tok = self.next()
            if tok.kind == "id" or tok.kind == "op" and tok.value == "~":
                params.append(tok.value)
        self.next()
        saved, self.matrix = self.matrix, 0
        try:
            body = self.expression()
        finally:
            self.matrix = saved
        return Lambda("@(...)", at.pos, tuple(params), body)

    def matrix_literal(self, open_tok: Token) -> Matrix:
        close = "]" if open_tok.value == "[" else "}"
        self.enter()
        self.matrix += 1
        saved_matrix = self.matrix
        rows: list[list[Any]] = [[]]
        try:
            while True:
                tok = self.peek()
                if tok.kind == "eof":
                    raise self.fail(f"'{open_tok.value}' is never closed", open_tok)
                if tok.kind == "op" and tok.value == close:
                    self.next()
                    break
                if tok.kind in ("nl", "semi"):
                    self.next()
                    if rows[-1]:
                        rows.append([])
                    continue
                if tok.kind == "comma":
                    self.next()
                    continue
                self.matrix = saved_matrix
                rows[-1].append(self.expression())
        finally:
            self.matrix = saved_matrix - 1
            self.depth -= 1
        return Matrix(tuple(tuple(r) for r in rows if r), close == "}", open_tok.pos)


def _is_lvalue(node: Any) -> bool:
    while isinstance(node, (Call, Field)):
        if isinstance(node, Call) and any(isinstance(a, NameArg) for a in node.args):
            return False
        node = node.base
    return isinstance(node, Name)


def describe_token(tok: Token) -> str:
    if tok.kind == "eof":
        return "the end of the statement"
    if tok.kind == "nl":
        return "a line break"
    if tok.kind in ("str", "dstr"):
        return f"the text {tok.value!r}"
    if tok.kind == "num":
        return f"the number {tok.value:g}"
    return repr(tok.value)


def parse_statement(tokens: list[Token], eq: int | None, end_pos: int) -> Assign | ExprStatement:
    """One simple statement's tree; ``eq`` is the index of its assignment ``=`` (or None)."""
    try:
        return ExpressionParser(tokens, end_pos).statement(eq)
    except RecursionError:
        raise ParseError(f"nesting is deeper than {MAX_DEPTH} levels", tokens[0].pos if tokens else end_pos) from None


def parse_expression(tokens: list[Token], end_pos: int) -> Any:
    """One expression filling ``tokens`` (a block header: ``if`` condition, ``for`` range, ``case`` value)."""
    parser = ExpressionParser(tokens, end_pos)
    try:
        value = parser.expression()
    except RecursionError:
        raise ParseError(f"nesting is deeper than {MAX_DEPTH} levels", tokens[0].pos if tokens else end_pos) from None
    parser.finish()
    return value
