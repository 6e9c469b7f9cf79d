"""MATLAB layer-array code -> layers, parsed and interpreted, never evaluated.

The accepted language is what MATLAB users write to define layer arrays:
assignments, ``[ ... ]`` arrays (newlines, commas or semicolons as
separators), ``...`` continuations, ``%`` and ``%{ %}`` comments, single-
and double-quoted strings, ``'Name', value`` pairs and ``Name=value``
arguments, numbers, vectors, ranges ``a:b``/``a:s:b``, arithmetic on earlier
variables, ``layers = [layers; lstmLayer(...)]``, ``layers(end+1) = ...``,
indexing, and a final ``layerGraph(layers)`` / ``dlnetwork(layers)``.

Only layer functions and a small arithmetic whitelist can be called; any
other call (``system``, ``eval``, ``load``, ``!shell`` ...) is rejected with
its line and column. Every error is a :class:`MatlabError` that names the
line and column and shows the offending line. Input size, nesting depth and
array sizes are bounded, so no input can make the parser hang or exhaust memory.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from typing import Any, Callable

import numpy as np

from .. import layers as layer_module
from ..errors import Lstm2OnnxError, SpecError
from ..layers import LAYER_TYPES, Layer
from ..network import LayerArray

MAX_INPUT = 1_000_000  # characters
MAX_DEPTH = 64  # nested brackets/calls/operators
MAX_ELEMENTS = 10_000_000  # elements of one numeric array

# Layer functions MATLAB has that lstm2onnx does not build yet: named in the error.
KNOWN_UNSUPPORTED = {
    "gruLayer", "bigruLayer", "convolution1dLayer", "convolution2dLayer", "batchNormalizationLayer", "layerNormalizationLayer",
    "reluLayer", "leakyReluLayer", "tanhLayer", "sigmoidLayer", "flattenLayer", "globalAveragePooling1dLayer",
    "maxPooling1dLayer", "additionLayer", "concatenationLayer", "embeddingLayer", "wordEmbeddingLayer",
    "featureInputLayer", "imageInputLayer", "attentionLayer", "selfAttentionLayer", "positionEmbeddingLayer",
    "instanceNormalizationLayer", "groupNormalizationLayer", "gelu", "geluLayer", "swishLayer", "eluLayer",
}


class MatlabError(SpecError):
    """A MATLAB text could not be understood; the message names line and column and shows the line."""

    def __init__(self, message: str, text: str = "", pos: int | None = None) -> None:
        self.line = self.column = None
        if pos is not None and text:
            pos = max(0, min(pos, len(text)))
            self.line = text.count("\n", 0, pos) + 1
            start = text.rfind("\n", 0, pos) + 1
            end = text.find("\n", pos)
            source = text[start : end if end != -1 else len(text)]
            self.column = pos - start + 1
            caret = " " * (self.column - 1) + "^"
            message = f"line {self.line}, column {self.column}: {message}\n    {source}\n    {caret}"
        super().__init__(message)


# -- tokens ----------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Token:
    kind: str  # num, str, id, op, nl (statement/row separator: newline or ';'), comma, eof
    value: Any
    pos: int
    space_before: bool = False


_NUMBER = re.compile(r"(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?")
_IDENT = re.compile(r"[A-Za-z][A-Za-z0-9_]*")
_DIGITS = frozenset("0123456789")
_OPS = [".^", ".*", "./", "==", "~=", "<=", ">=", "+", "-", "*", "/", "^", "(", ")", "[", "]", "{", "}", "=", ":", "'", ".'", "@", "!", "<", ">", "&", "|", "~", "."]


def tokenize(text: str) -> list[Token]:
    if len(text) > MAX_INPUT:
        raise MatlabError(f"the text is {len(text)} characters long; at most {MAX_INPUT} are read")
    tokens: list[Token] = []
    i, n = 0, len(text)
    line_start = True
    while i < n:
        ch = text[i]
        space = i > 0 and text[i - 1] in " \t"
        if line_start:
            stripped = text[i : text.find("\n", i) if text.find("\n", i) != -1 else n].strip()
            if stripped == "%{":  # block comment: up to a line holding only %}
                close = re.compile(r"^[ \t]*%\}[ \t]*$", re.M).search(text, i + 1)
                if close is None:
                    raise MatlabError("block comment '%{' is never closed with '%}'", text, i)
                i = close.end()
                continue
            if stripped.startswith("!"):
                raise MatlabError("shell escapes ('!') are not allowed", text, text.index("!", i))
        line_start = False
        if ch in " \t\r":
            i += 1
        elif ch == "\n":
            tokens.append(Token("nl", "\n", i))
            line_start = True
            i += 1
        elif ch == "%":
            end = text.find("\n", i)
            i = n if end == -1 else end
        elif text.startswith("...", i):  # continuation: the rest of the line is a comment
            end = text.find("\n", i)
            i = n if end == -1 else end + 1
            line_start = False
        elif ch == ";":
            tokens.append(Token("nl", ";", i))
            i += 1
        elif ch == ",":
            tokens.append(Token("comma", ",", i))
            i += 1
        elif ch == '"' or (ch == "'" and not _transpose_context(tokens, space)):
            value, end = _string(text, i)
            tokens.append(Token("str", value, i, space))
            i = end
        elif ch in _DIGITS or (ch == "." and i + 1 < n and text[i + 1] in _DIGITS):
            m = _NUMBER.match(text, i)
            tokens.append(Token("num", float(m.group()), i, space))
            i = m.end()
        elif ch.isascii() and ch.isalpha():
            m = _IDENT.match(text, i)
            tokens.append(Token("id", m.group(), i, space))
            i = m.end()
        else:
            op = next((o for o in sorted(_OPS, key=len, reverse=True) if text.startswith(o, i)), None)
            if op is None:
                raise MatlabError(f"unexpected character {ch!r}", text, i)
            tokens.append(Token("op", op, i, space))
            i += len(op)
    tokens.append(Token("eof", None, n))
    return tokens


def _transpose_context(tokens: list[Token], space: bool) -> bool:
    """A quote right after a value (no space between) is MATLAB's transpose, not a string."""
    if not tokens or space:
        return False
    last = tokens[-1]
    return last.kind in ("num", "id") or (last.kind == "op" and last.value in (")", "]", "'", ".'"))


def _string(text: str, i: int) -> tuple[str, int]:
    quote = text[i]
    out, j = [], i + 1
    while j < len(text):
        if text[j] == quote:
            if j + 1 < len(text) and text[j + 1] == quote:  # doubled quote = one quote character
                out.append(quote)
                j += 2
                continue
            return "".join(out), j + 1
        if text[j] == "\n":
            break
        out.append(text[j])
        j += 1
    raise MatlabError("string is not closed on its line", text, i)


# -- values and the interpreter ---------------------------------------------------------------------


class _Name:
    """A ``Name=value`` argument inside a call."""

    def __init__(self, name: str, value: Any) -> None:
        self.name, self.value = name, value


class _End:
    """``end`` inside an index: resolved against the indexed value's length."""


def _num(value: Any, what: str, text: str, pos: int) -> np.ndarray:
    if isinstance(value, (np.ndarray, np.floating)) and value.dtype.kind == "f":
        return np.asarray(value)
    if isinstance(value, bool):
        return np.array(float(value))
    raise MatlabError(f"{what} needs numbers, got {_describe(value)}", text, pos)


def _describe(value: Any) -> str:
    if isinstance(value, LayerArray):
        return f"a layer array of {len(value)} layers"
    if isinstance(value, Layer):
        return f"a {value.FUNCTION}"
    if isinstance(value, np.ndarray):
        return "a number" if value.size == 1 else f"a {'x'.join(map(str, value.shape))} numeric array"
    if isinstance(value, str):
        return f"the text {value!r}"
    if isinstance(value, list):
        return "a list of texts"
    return type(value).__name__


def _checked_size(shape: tuple[int, ...], text: str, pos: int) -> tuple[int, ...]:
    if any(d < 0 for d in shape) or math.prod(shape) > MAX_ELEMENTS:
        raise MatlabError(f"an array of size {'x'.join(map(str, shape))} is too large (at most {MAX_ELEMENTS} elements)", text, pos)
    return shape


def _sizes(args: list, name: str, text: str, pos: int) -> tuple[int, ...]:
    dims = [_num(a, name, text, pos).reshape(-1) for a in args]
    flat = [float(v) for d in dims for v in d]
    if not flat:
        flat = [1.0]
    if any(not v.is_integer() for v in flat):
        raise MatlabError(f"{name} needs integer sizes", text, pos)
    shape = (int(flat[0]), int(flat[0])) if len(flat) == 1 else tuple(int(v) for v in flat)
    return _checked_size(tuple(max(d, 0) for d in shape), text, pos)


def _to_strings(value: Any, name: str, text: str, pos: int) -> list[str]:
    if isinstance(value, str):
        return [value]
    if isinstance(value, list):
        return [str(v) for v in value]
    if isinstance(value, np.ndarray):
        return [f"{v:g}" for v in value.reshape(-1)]
    raise MatlabError(f"{name} needs texts or numbers, got {_describe(value)}", text, pos)


# the arithmetic whitelist: name -> (function, number of arguments allowed)
def _elementwise(fn: Callable[[np.ndarray], np.ndarray]) -> Callable:
    def call(args: list, name: str, text: str, pos: int) -> np.ndarray:
        if len(args) != 1:
            raise MatlabError(f"{name} takes one argument, got {len(args)}", text, pos)
        return fn(_num(args[0], name, text, pos))

    return call


def _minmax(reduce: Callable) -> Callable:
    def call(args: list, name: str, text: str, pos: int) -> np.ndarray:
        if len(args) == 1:
            x = _num(args[0], name, text, pos)
            if x.size == 0:
                raise MatlabError(f"{name} of an empty array", text, pos)
            return np.array(reduce(x))
        if len(args) == 2:
            return np.asarray(reduce(np.stack(np.broadcast_arrays(_num(args[0], name, text, pos), _num(args[1], name, text, pos))), axis=0), float)
        raise MatlabError(f"{name} takes one or two arguments", text, pos)

    return call


def _filled(value: float) -> Callable:
    def call(args: list, name: str, text: str, pos: int) -> np.ndarray:
        return np.full(_sizes(args, name, text, pos), value)

    return call


def _strings(args: list, name: str, text: str, pos: int) -> Any:
    if len(args) != 1:
        raise MatlabError(f"{name} takes one argument", text, pos)
    values = _to_strings(args[0], name, text, pos)
    return values[0] if len(values) == 1 and name == "num2str" else values


def _count(args: list, name: str, text: str, pos: int) -> np.ndarray:
    if len(args) != 1:
        raise MatlabError(f"{name} takes one argument", text, pos)
    value = args[0]
    return np.array(float(len(value) if isinstance(value, (list, LayerArray)) else np.size(value)))


FUNCTIONS: dict[str, Callable] = {
    "sqrt": _elementwise(np.sqrt), "abs": _elementwise(np.abs), "floor": _elementwise(np.floor),
    "ceil": _elementwise(np.ceil), "round": _elementwise(np.round), "fix": _elementwise(np.trunc),
    "exp": _elementwise(np.exp), "log": _elementwise(np.log), "log2": _elementwise(np.log2),
    "double": _elementwise(lambda x: x), "single": _elementwise(lambda x: x.astype(np.float32).astype(float)),
    "min": _minmax(np.min), "max": _minmax(np.max), "zeros": _filled(0.0), "ones": _filled(1.0),
    "string": _strings, "num2str": _strings, "categorical": _strings, "cellstr": _strings,
    "numel": _count, "length": _count,
}
WRAPPERS = {"layerGraph", "dlnetwork", "assembleNetwork"}
KEYWORDS = {"for", "while", "if", "elseif", "else", "switch", "case", "otherwise", "function", "try", "catch", "return", "break", "continue", "parfor", "global", "persistent", "classdef", "spmd"}
CONSTANTS = {"pi": math.pi, "true": True, "false": False, "Inf": math.inf, "inf": math.inf, "NaN": math.nan, "nan": math.nan}


def layer_functions() -> list[str]:
    return sorted(LAYER_TYPES)


class Interpreter:
    """A recursive-descent parser that computes values as it parses (the grammar has no control flow)."""

    def __init__(self, text: str) -> None:
        self.text = text
        self.tokens = tokenize(text)
        self.i = 0
        self.depth = 0
        self.vars: dict[str, Any] = {}
        self.last_layers: str | None = None
        self.in_matrix = 0
        self.index_target: list[Any] = []

    # helpers
    def peek(self, k: int = 0) -> Token:
        return self.tokens[min(self.i + k, len(self.tokens) - 1)]

    def next(self) -> Token:
        tok = self.peek()
        self.i += 1
        return tok

    def error(self, message: str, tok: Token | None = None) -> MatlabError:
        return MatlabError(message, self.text, (tok or self.peek()).pos)

    def expect(self, kind: str, value: Any = None) -> Token:
        tok = self.peek()
        if tok.kind != kind or (value is not None and tok.value != value):
            want = repr(value) if value is not None else kind
            got = "the end of the text" if tok.kind == "eof" else ("a line break" if tok.kind == "nl" else repr(tok.value))
            raise self.error(f"expected {want}, got {got}", tok)
        return self.next()

    def enter(self, tok: Token) -> None:
        self.depth += 1
        if self.depth > MAX_DEPTH:
            raise self.error(f"nesting is deeper than {MAX_DEPTH} levels", tok)

    # statements
    def run(self) -> LayerArray:
        while self.peek().kind != "eof":
            if self.peek().kind in ("nl", "comma"):
                self.next()
                continue
            self.statement()
        name = "layers" if isinstance(self.vars.get("layers"), LayerArray) else self.last_layers
        if name is None:
            raise MatlabError("the text defines no layer array (e.g. layers = [sequenceInputLayer(12) ...])")
        return LayerArray(self.vars[name])

    def statement(self) -> None:
        start = self.peek()
        if start.kind == "id" and self.peek(1).kind == "op" and self.peek(1).value == "=" :
            self.next()
            self.next()
            self.assign(start, self.expression())
        elif start.kind == "id" and self.peek(1).kind == "op" and self.peek(1).value == "(" and self._is_indexed_assignment():
            self.indexed_assignment()
        else:
            self.expression()
        tok = self.peek()
        if tok.kind not in ("nl", "comma", "eof"):
            raise self.error(f"expected the end of the statement, got {tok.value!r}", tok)

    def _is_indexed_assignment(self) -> bool:
        """``name(...) = value``: find the matching ')' and look for '='."""
        depth, k = 0, self.i + 1
        while k < len(self.tokens):
            tok = self.tokens[k]
            if tok.kind == "op" and tok.value in "([{":
                depth += 1
            elif tok.kind == "op" and tok.value in ")]}":
                depth -= 1
                if depth == 0:
                    nxt = self.tokens[k + 1]
                    return nxt.kind == "op" and nxt.value == "="
            elif tok.kind in ("nl", "eof"):
                return False
            k += 1
        return False

    def assign(self, tok: Token, value: Any) -> None:
        if tok.value in FUNCTIONS or tok.value in LAYER_TYPES or tok.value in WRAPPERS:
            raise self.error(f"{tok.value!r} is a function name; choose another variable name", tok)
        if isinstance(value, _Name):
            raise self.error("a Name=value argument can only appear inside a call", tok)
        if isinstance(value, Layer):
            value = LayerArray([value])
        self.vars[tok.value] = value
        if isinstance(value, LayerArray):
            self.last_layers = tok.value

    def indexed_assignment(self) -> None:
        name_tok = self.next()
        target = self.vars.get(name_tok.value)
        if target is None:
            raise self.error(f"undefined variable {name_tok.value!r}", name_tok)
        self.expect("op", "(")
        self.index_target.append(target)
        index = self.expression()
        self.index_target.pop()
        self.expect("op", ")")
        self.expect("op", "=")
        value_tok = self.peek()
        value = self.expression()
        k = self._scalar_index(index, len(target) if isinstance(target, LayerArray) else np.size(target), name_tok, allow_append=True)
        if isinstance(target, LayerArray):
            if isinstance(value, LayerArray) and len(value) == 1:
                value = value[0]
            if not isinstance(value, Layer):
                raise self.error(f"{name_tok.value}({k + 1}) of a layer array must be a layer, got {_describe(value)}", value_tok)
            new = LayerArray(target)
            if k == len(new):
                new.append(value)
            else:
                new[k] = value
            self.assign(name_tok, new)
            return
        array = _num(target, "indexed assignment", self.text, name_tok.pos).reshape(-1).copy()
        scalar = _num(value, "indexed assignment", self.text, value_tok.pos)
        if scalar.size != 1:
            raise self.error("an indexed assignment takes one number", value_tok)
        if k == array.size:
            array = np.append(array, scalar.reshape(()))
        else:
            array[k] = scalar.reshape(())
        self.assign(name_tok, array.reshape(1, -1))

    def _scalar_index(self, index: Any, length: int, tok: Token, allow_append: bool = False) -> int:
        value = np.asarray(index, dtype=float).reshape(-1) if isinstance(index, np.ndarray) else None
        if value is None or value.size != 1 or not float(value[0]).is_integer():
            raise self.error("an index must be one positive integer", tok)
        k = int(value[0]) - 1
        if k < 0 or k > length - (0 if allow_append else 1):
            raise self.error(f"index {k + 1} is out of range (1 to {length + (1 if allow_append else 0)})", tok)
        return k

    # expressions, lowest precedence first
    def expression(self) -> Any:
        tok = self.peek()
        self.enter(tok)
        try:
            return self.range_expr()
        finally:
            self.depth -= 1

    def range_expr(self) -> Any:
        start_tok = self.peek()
        first = self.additive()
        if not (self.peek().kind == "op" and self.peek().value == ":"):
            return first
        self.next()
        second = self.additive()
        if self.peek().kind == "op" and self.peek().value == ":":
            self.next()
            third = self.additive()
            lo, step, hi = first, second, third
        else:
            lo, step, hi = first, np.array(1.0), second
        lo, step, hi = (float(_num(v, "a range", self.text, start_tok.pos).reshape(-1)[0]) for v in (lo, step, hi))
        if step == 0 or not all(map(math.isfinite, (lo, step, hi))):
            raise self.error("a range needs finite bounds and a non-zero step", start_tok)
        count = max(0, int(math.floor((hi - lo) / step + 1e-10)) + 1)
        _checked_size((count,), self.text, start_tok.pos)
        return (lo + step * np.arange(count)).reshape(1, -1)

    def additive(self) -> Any:
        left = self.multiplicative()
        while self.peek().kind == "op" and self.peek().value in "+-" and not self._matrix_element_break():
            op = self.next()
            right = self.multiplicative()
            left = self._arith(op, left, right)
        return left

    def _matrix_element_break(self) -> bool:
        """Inside [ ], ``[1 -2]`` is two elements: a sign after a space and before a value starts a new one."""
        tok = self.peek()
        nxt = self.peek(1)
        return bool(self.in_matrix) and tok.space_before and not nxt.space_before

    def multiplicative(self) -> Any:
        left = self.unary()
        while self.peek().kind == "op" and self.peek().value in ("*", "/", ".*", "./"):
            op = self.next()
            left = self._arith(op, left, self.unary())
        return left

    def unary(self) -> Any:
        tok = self.peek()
        if tok.kind == "op" and tok.value in ("-", "+"):
            self.next()
            self.enter(tok)
            try:
                value = self.unary()
            finally:
                self.depth -= 1
            number = _num(value, f"unary {tok.value}", self.text, tok.pos)
            return np.asarray(-number if tok.value == "-" else number)
        if tok.kind == "op" and tok.value in ("~", "!"):
            raise self.error(f"the operator {tok.value!r} is not supported", tok)
        return self.power()

    def power(self) -> Any:
        base = self.postfix()
        while self.peek().kind == "op" and self.peek().value in ("^", ".^"):
            op = self.next()
            base = self._arith(op, base, self.postfix_signed())
        return base

    def postfix_signed(self) -> Any:
        tok = self.peek()
        if tok.kind == "op" and tok.value in ("-", "+"):
            self.next()
            value = _num(self.postfix(), "a power", self.text, tok.pos)
            return np.asarray(-value if tok.value == "-" else value)
        return self.postfix()

    def postfix(self) -> Any:
        value = self.primary()
        while self.peek().kind == "op" and self.peek().value in ("'", ".'") and not self.peek().space_before:
            tok = self.next()
            value = _num(value, "a transpose", self.text, tok.pos).T
        return value

    def _arith(self, op: Token, left: Any, right: Any) -> np.ndarray:
        a = _num(left, f"the operator {op.value!r}", self.text, op.pos)
        b = _num(right, f"the operator {op.value!r}", self.text, op.pos)
        try:
            with np.errstate(all="ignore"):
                if op.value in ("+", "-"):
                    out = a + b if op.value == "+" else a - b
                elif op.value in (".*", "./", ".^"):
                    out = {".*": np.multiply, "./": np.divide, ".^": np.power}[op.value](a, b)
                elif a.size == 1 or b.size == 1:
                    out = {"*": np.multiply, "/": np.divide, "^": np.power}[op.value](a, b)
                elif op.value == "*":
                    out = a @ b
                else:
                    raise self.error(f"matrix {op.value!r} is not supported; use a scalar or the element-wise '.{op.value}'", op)
        except ValueError:
            raise self.error(f"sizes {a.shape} and {b.shape} do not agree for {op.value!r}", op) from None
        out = np.asarray(out, dtype=float)
        _checked_size(out.shape, self.text, op.pos)
        if not np.all(np.isfinite(out)):
            raise self.error(f"{op.value!r} gives a non-finite result (Inf or NaN)", op)
        return out

    def primary(self) -> Any:
        tok = self.next()
        if tok.kind == "num":
            if not math.isfinite(tok.value):
                raise self.error("the number is too large", tok)
            return np.array(tok.value)
        if tok.kind == "str":
            return tok.value
        if tok.kind == "op" and tok.value == "(":
            self.enter(tok)
            saved, self.in_matrix = self.in_matrix, 0
            try:
                value = self.expression()
            finally:
                self.in_matrix = saved
                self.depth -= 1
            self.expect("op", ")")
            return value
        if tok.kind == "op" and tok.value in "[{":
            return self.matrix(tok)
        if tok.kind == "id":
            return self.identifier(tok)
        if tok.kind == "op" and tok.value == "@":
            raise self.error("function handles ('@') are not allowed", tok)
        if tok.kind == "op" and tok.value == "!":
            raise self.error("shell escapes ('!') are not allowed", tok)
        what = "the end of the text" if tok.kind == "eof" else ("a line break" if tok.kind == "nl" else repr(tok.value))
        raise self.error(f"expected a value, got {what}", tok)

    def identifier(self, tok: Token) -> Any:
        name = tok.value
        is_call = self.peek().kind == "op" and self.peek().value == "(" and not (self.in_matrix and self.peek().space_before)
        if name == "end" and self.index_target:
            target = self.index_target[-1]
            return np.array(float(len(target) if isinstance(target, (list, LayerArray)) else np.size(target)))
        if name in self.vars:
            value = self.vars[name]
            if is_call:
                return self.index(tok, value)
            if self.peek().kind == "op" and self.peek().value == "." and self.peek(1).kind == "id":
                raise self.error("field access ('.') is not supported", self.peek())
            return value
        if name in LAYER_TYPES:
            return self.layer_call(tok, LAYER_TYPES[name], self.arguments() if is_call else [])
        if name in WRAPPERS:
            args = self.arguments() if is_call else []
            if len(args) != 1 or not isinstance(args[0], (LayerArray, Layer)):
                raise self.error(f"{name} takes one layer array", tok)
            return args[0] if isinstance(args[0], LayerArray) else LayerArray([args[0]])
        if name in FUNCTIONS:
            args = self.arguments() if is_call else []
            if any(isinstance(a, _Name) for a in args):
                raise self.error(f"{name} takes no Name=value arguments", tok)
            return FUNCTIONS[name](args, name, self.text, tok.pos)
        if name in CONSTANTS and not is_call:
            value = CONSTANTS[name]
            return value if isinstance(value, bool) else np.array(value)
        if name in KEYWORDS:
            raise self.error(f"'{name}' (control flow and function definitions) is not supported: write the layer array directly", tok)
        if name in KNOWN_UNSUPPORTED or name.endswith("Layer"):
            raise self.error(f"{name} is not supported yet; supported layer functions: {', '.join(layer_functions())}", tok)
        if is_call:
            allowed = ", ".join(sorted(FUNCTIONS))
            raise self.error(f"call to {name!r} is not allowed: only layer functions, layerGraph/dlnetwork and {allowed} can be called", tok)
        raise self.error(f"undefined variable {name!r}", tok)

    def arguments(self) -> list[Any]:
        open_tok = self.expect("op", "(")
        self.enter(open_tok)
        saved, self.in_matrix = self.in_matrix, 0
        args: list[Any] = []
        try:
            while True:
                while self.peek().kind == "nl" and self.peek().value == "\n":
                    self.next()
                if self.peek().kind == "op" and self.peek().value == ")":
                    break
                if self.peek().kind == "id" and self.peek(1).kind == "op" and self.peek(1).value == "=":
                    name = self.next().value
                    self.next()
                    args.append(_Name(name, self.expression()))
                else:
                    args.append(self.expression())
                if self.peek().kind == "comma":
                    self.next()
                    continue
                if not (self.peek().kind == "op" and self.peek().value == ")"):
                    raise self.error(f"expected ',' or ')' in the argument list, got {self.peek().value!r}")
        finally:
            self.in_matrix = saved
            self.depth -= 1
        self.expect("op", ")")
        return args

    def index(self, tok: Token, value: Any) -> Any:
        self.expect("op", "(")
        self.index_target.append(value)
        index = self.expression()
        self.index_target.pop()
        self.expect("op", ")")
        if isinstance(value, LayerArray):
            picks = np.asarray(_num(index, "an index", self.text, tok.pos)).reshape(-1)
            if picks.size == 1:
                return value[self._scalar_index(index, len(value), tok)]
            return LayerArray(value[self._scalar_index(np.array(k), len(value), tok)] for k in picks)
        array = _num(value, "indexing", self.text, tok.pos).reshape(-1)
        picks = np.asarray(_num(index, "an index", self.text, tok.pos)).reshape(-1)
        return np.array([array[self._scalar_index(np.array(k), array.size, tok)] for k in picks]).reshape(1, -1) if picks.size != 1 else np.array(array[self._scalar_index(index, array.size, tok)])

    def layer_call(self, tok: Token, cls: type[Layer], args: list[Any]) -> Layer:
        positional: list[Any] = []
        pairs: list[Any] = []
        for a in args:
            if isinstance(a, _Name):
                pairs += [a.name, a.value]
            else:
                if pairs:
                    raise self.error("positional arguments must come before Name=value arguments", tok)
                positional.append(a)
        values = [self._to_python(a) for a in positional + pairs]
        constructor = getattr(layer_module, cls.FUNCTION)
        try:
            return constructor(*values)
        except Lstm2OnnxError as error:
            raise self.error(str(error), tok) from None
        except TypeError as error:  # wrong positional arity
            raise self.error(f"{cls.FUNCTION}: {error}", tok) from None

    def _to_python(self, value: Any) -> Any:
        if isinstance(value, np.ndarray):
            return value.item() if value.size == 1 and value.ndim <= 2 else value
        if isinstance(value, LayerArray):
            raise MatlabError("a layer array cannot be a layer option")
        return value

    def matrix(self, open_tok: Token) -> Any:
        """``[ ... ]`` / ``{ ... }``: rows of elements; numbers, texts or layers."""
        close = "]" if open_tok.value == "[" else "}"
        self.enter(open_tok)
        self.in_matrix += 1
        rows: list[list[Any]] = [[]]
        try:
            while True:
                tok = self.peek()
                if tok.kind == "eof":
                    raise self.error(f"'{open_tok.value}' is never closed", open_tok)
                if tok.kind == "op" and tok.value == close:
                    self.next()
                    break
                if tok.kind == "nl":
                    self.next()
                    if rows[-1]:
                        rows.append([])
                    continue
                if tok.kind == "comma":
                    self.next()
                    continue
                rows[-1].append((tok, self.expression()))
        finally:
            self.in_matrix -= 1
            self.depth -= 1
        rows = [r for r in rows if r]
        return self._assemble(open_tok, rows)

    def _assemble(self, open_tok: Token, rows: list[list[tuple[Token, Any]]]) -> Any:
        items = [v for row in rows for _, v in row]
        if not items:
            return np.zeros((0, 0))
        if any(isinstance(v, (Layer, LayerArray)) for v in items):
            out = LayerArray()
            for tok, v in (pair for row in rows for pair in row):
                if isinstance(v, Layer):
                    out.append(v)
                elif isinstance(v, LayerArray):
                    out.extend(v)
                elif isinstance(v, np.ndarray) and v.size == 0:
                    continue
                else:
                    raise self.error(f"a layer array cannot hold {_describe(v)}", tok)
            return out
        if any(isinstance(v, (str, list)) for v in items):
            texts: list[str] = []
            for tok, v in (pair for row in rows for pair in row):
                if isinstance(v, np.ndarray) and v.size == 0:
                    continue
                texts += _to_strings(v, "a list of texts", self.text, tok.pos)
            return texts
        blocks = []
        for row in rows:
            parts = [np.atleast_2d(_num(v, "a numeric array", self.text, tok.pos)) for tok, v in row]
            parts = [p for p in parts if p.size]
            if not parts:
                continue
            if len({p.shape[0] for p in parts}) != 1:
                raise self.error("the elements of a row have different numbers of rows", row[0][0])
            blocks.append(np.hstack(parts))
        if not blocks:
            return np.zeros((0, 0))
        if len({b.shape[1] for b in blocks}) != 1:
            raise self.error("the rows have different numbers of columns", open_tok)
        return np.vstack(blocks)


def from_matlab(text: str) -> LayerArray:
    """The layer array a MATLAB text defines: the variable ``layers`` if there is one, else the last one assigned."""
    if not isinstance(text, str):
        raise MatlabError(f"expected MATLAB text, got {type(text).__name__}")
    try:
        return Interpreter(text).run()
    except RecursionError:
        raise MatlabError(f"the text nests too deeply (more than {MAX_DEPTH} levels)") from None
