"""Tokens -> statements and blocks, the second stage of the MATLAB front end.

Every statement of a script is split off and classified without parsing its
expressions: a simple statement (an assignment or an expression), a command
(``load WaveformData``, ``hold on``), a block (``for``/``parfor``, ``while``,
``if``/``elseif``/``else``, ``switch``/``case``/``otherwise``,
``try``/``catch``), a ``function`` (with its outputs, name and inputs), a
keyword statement (``break``, ``return``, ``global x``) or a broken statement
(a problem in its tokens, kept with its position). For each simple statement
the names it assigns (``targets``), whether it replaces them whole (``x = ...``)
or changes part of them (``x(2) = ...``, ``s.f = ...``), and the names it reads
(``uses``) come from its tokens alone, which is all the dependency analysis
needs; expressions are parsed later, only for the statements the network needs.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import AbstractSet, Any, Iterator, Sequence

from .lexer import Source, Token

MAX_BLOCK_DEPTH = 64

_OPEN = frozenset("([{")
_CLOSE = frozenset(")]}")
_SEPARATORS = frozenset({"nl", "semi", "comma"})


class TooDeep(Exception):
    """Blocks nest deeper than :data:`MAX_BLOCK_DEPTH` (the whole file is refused)."""

    def __init__(self, pos: int) -> None:
        super().__init__(pos)
        self.pos = pos


_NO_PARTS: tuple = ()


@dataclass(slots=True)
class Stmt:
    """A statement: ``kind`` is simple, command, for, while, if, switch, try, function, keyword or broken.

    ``tokens`` is the statement's own token list (the header of a block);
    ``parts`` the bodies of a block: ``[(header tokens, body)]`` for if/switch/try
    clauses (the header is None for ``else``/``otherwise``/``catch`` without a name).
    """

    sid: int
    kind: str
    pos: int
    end: int
    # Shared immutable defaults: a 1 MB script has ~10^5 statements, and allocating (and freeing) seven
    # containers for each would take as long as reading it.
    tokens: Sequence[Token] = ()
    parts: list[tuple[list[Token] | None, list["Stmt"]]] = _NO_PARTS  # type: ignore[assignment]
    targets: Sequence[str] = ()
    full: AbstractSet[str] = frozenset()
    uses: AbstractSet[str] = frozenset()
    error: tuple[str, int] | None = None  # (message, position) of a broken statement
    # function definitions
    name: str = ""
    inputs: Sequence[str] = ()
    outputs: Sequence[str] = ()
    word: str = ""  # the keyword of keyword statements, the command name of commands
    words: Sequence[str] = ()
    parent: str = ""  # a nested function: the function whose body defines it (it sees that function's variables)

    def children(self) -> Iterator["Stmt"]:
        for _, body in self.parts:
            yield from body

    def walk(self) -> Iterator["Stmt"]:
        yield self
        for child in self.children():
            yield from child.walk()


@dataclass
class Program:
    """A parsed file: top-level statements, local functions by name, and whether it is a function file."""

    source: Source
    statements: list[Stmt]
    functions: dict[str, Stmt]
    function_file: bool
    class_name: str = ""  # a classdef file: its methods are the functions, each property default a statement
    properties: list[Stmt] = field(default_factory=list)  # `name = default` of the properties blocks, in order

    def all_statements(self) -> Iterator[Stmt]:
        for stmt in self.statements:
            yield from stmt.walk()
        for fn in self.functions.values():
            yield from fn.walk()


class _Splitter:
    def __init__(self, tokens: list[Token], source: Source) -> None:
        self.tokens = tokens
        self.source = source
        self.i = 0
        self.sid = 0
        self.depth = 0
        self.budget: Any = None
        self.in_function = 0
        self.closed_by_end = False  # whether the last function read ended with 'end'

    def peek(self) -> Token:
        return self.tokens[self.i]

    def new(self, kind: str, pos: int, **kw) -> Stmt:
        self.sid += 1
        if self.budget is not None:
            self.budget.tick(pos)
        return Stmt(self.sid, kind, pos, pos, **kw)

    def skip_separators(self) -> None:
        while self.tokens[self.i].kind in _SEPARATORS:
            self.i += 1

    def until_separator(self) -> list[Token]:
        """Tokens up to a separator, keyword or eof outside brackets (the separator is not consumed)."""
        tokens = self.tokens
        i = self.i
        start = i
        depth = 0
        while True:
            kind, value, _, _ = tokens[i]
            if kind == "op":
                if value in _OPEN:
                    depth += 1
                elif value in _CLOSE and depth:
                    depth -= 1
            elif kind == "eof" or (depth == 0 and (kind in _SEPARATORS or kind == "kw")):
                self.i = i
                return tokens[start:i]
            elif kind == "err":
                depth = 0
            i += 1

    def block(self, stops: frozenset[str]) -> tuple[list[Stmt], Token]:
        """Statements up to a keyword in ``stops`` (returned, not consumed) or eof."""
        self.depth += 1
        body: list[Stmt] = []
        try:
            while True:
                self.skip_separators()
                tok = self.peek()
                if tok.kind == "eof" or (tok.kind == "kw" and tok.value in stops):
                    return body, tok
                if self.depth > MAX_BLOCK_DEPTH:
                    raise TooDeep(tok.pos)
                body.append(self.statement())
        finally:
            self.depth -= 1

    def broken(self, message: str, tok: Token, tokens: list[Token] | None = None) -> Stmt:
        stmt = self.new("broken", tokens[0].pos if tokens else tok.pos, error=(message, tok.pos), tokens=tokens or [])
        if tokens:
            stmt.targets, stmt.full, stmt.uses = assignment_names(tokens)
            stmt.end = self.peek().pos
        return stmt

    def statement(self) -> Stmt:
        tok = self.peek()
        if tok.kind == "kw":
            return self.keyword(tok)
        if self.in_function and tok.kind == "id" and tok.value == "arguments" and self._arguments_header():
            return self.arguments(tok)
        if tok.kind == "cmd":
            self.i += 1
            name, words = tok.value
            stmt = self.new("command", tok.pos, word=name, words=list(words), tokens=[tok])
            stmt.end = self.peek().pos
            return stmt
        tokens = self.until_separator()
        if not tokens:  # a keyword in the middle of nowhere; consumed by keyword()
            return self.keyword(self.peek())
        bad = next((t for t in tokens if t.kind == "err"), None)
        if bad is not None:
            return self.broken(bad.value, bad, tokens)
        stmt = self.new("simple", tokens[0].pos, tokens=tokens)
        stmt.end = self.peek().pos
        stmt.targets, stmt.full, stmt.uses = assignment_names(tokens)
        return stmt

    def keyword(self, tok: Token) -> Stmt:
        word = tok.value
        self.i += 1
        if word in ("for", "parfor", "while"):
            header = self.until_separator()
            body, stop = self.block(frozenset({"end"}))
            return self.closed(self.new("while" if word == "while" else "for", tok.pos, word=word, tokens=header,
                                        parts=[(header, body)]), stop, tok)
        if word == "if":
            stmt = self.new("if", tok.pos, word=word, parts=[])
            header: list[Token] | None = self.until_separator()
            while True:
                body, stop = self.block(frozenset({"elseif", "else", "end"}))
                stmt.parts.append((header, body))
                if stop.kind == "kw" and stop.value == "elseif":
                    self.i += 1
                    header = self.until_separator()
                    continue
                if stop.kind == "kw" and stop.value == "else":
                    self.i += 1
                    body, stop = self.block(frozenset({"end"}))
                    stmt.parts.append((None, body))
                return self.closed(stmt, stop, tok)
        if word == "switch":
            stmt = self.new("switch", tok.pos, word=word, tokens=self.until_separator(), parts=[])
            self.skip_separators()
            stop = self.peek()
            while stop.kind == "kw" and stop.value in ("case", "otherwise"):
                self.i += 1
                header = self.until_separator() if stop.value == "case" else None
                body, stop = self.block(frozenset({"case", "otherwise", "end"}))
                stmt.parts.append((header, body))
            return self.closed(stmt, stop, tok)
        if word == "try":
            stmt = self.new("try", tok.pos, word=word, parts=[])
            body, stop = self.block(frozenset({"catch", "end"}))
            stmt.parts.append(([], body))
            if stop.kind == "kw" and stop.value == "catch":
                self.i += 1
                name = self.peek()
                header = None
                if name.kind in ("id", "cmd"):  # `catch ME` (a cmd token when words follow on the line)
                    header = [Token("id", name.value if name.kind == "id" else name.value[0], name.pos)]
                    self.i += 1
                body, stop = self.block(frozenset({"end"}))
                stmt.parts.append((header, body))
            return self.closed(stmt, stop, tok)
        if word == "function":
            return self.function(tok)
        if word in ("break", "continue", "return"):
            return self.new("keyword", tok.pos, word=word)
        if word in ("global", "persistent"):
            names = self.until_separator()
            return self.new("keyword", tok.pos, word=word, words=[t.value for t in names if t.kind == "id"])
        if word in ("spmd", "classdef"):
            self.until_separator()
            body, stop = self.block(frozenset({"end"}))
            broken = self.broken(f"'{word}' blocks are not supported", tok)
            return self.closed(broken, stop, tok, fail_silently=True)
        # end/else/elseif/case/otherwise/catch without their block
        return self.broken(f"'{word}' without a matching block", tok)

    def closed(self, stmt: Stmt, stop: Token, opener: Token, fail_silently: bool = False) -> Stmt:
        if stop.kind == "kw" and stop.value == "end":
            self.i += 1
            stmt.end = stop.pos + 3
            return stmt
        if fail_silently:
            return stmt
        message = f"'{opener.value}' is never closed with 'end'"
        broken = self.new("broken", opener.pos, error=(message, opener.pos), parts=stmt.parts)
        broken.targets = _block_targets(stmt)
        return broken

    def _arguments_header(self) -> bool:
        """``arguments`` alone on its line, or ``arguments (Input)`` / ``(Output)`` / ``(Repeating)``."""
        tokens = self.tokens
        i = self.i + 1
        if tokens[i].kind == "op" and tokens[i].value == "(":
            if not (tokens[i + 1].kind == "id" and tokens[i + 2].kind == "op" and tokens[i + 2].value == ")"):
                return False
            i += 3
        return tokens[i].kind in _SEPARATORS or tokens[i].kind == "eof"

    def arguments(self, tok: Token) -> Stmt:
        """An ``arguments`` block: each ``name (size) class {validators} = default`` line becomes an assignment
        the evaluator runs only when the caller did not give ``name`` (word ``argdefault``); sizes, classes
        and validators are not checked. The block is an ``if`` whose one branch always runs."""
        self.i += 1
        section = "Input"
        if self.peek().kind == "op":
            section = self.tokens[self.i + 1].value
            self.i += 3
        defaults: list[Stmt] = []
        while True:
            self.skip_separators()
            stop = self.peek()
            if stop.kind == "eof" or stop.kind == "kw":
                break
            line = self.until_separator()
            eq = top_level_assignment(line)
            if section != "Input" or eq is None or not line or line[0].kind != "id":
                continue
            path = 1
            while path + 1 < eq and line[path].kind == "op" and line[path].value == "." and line[path + 1].kind == "id":
                path += 2
            tokens = line[:path] + line[eq:]
            stmt = self.new("simple", tokens[0].pos, tokens=tokens, word="argdefault")
            stmt.end = self.peek().pos
            stmt.targets, _, stmt.uses = assignment_names(tokens)
            defaults.append(stmt)
        block = self.new("if", tok.pos, word="arguments", parts=[(None, defaults)])
        return self.closed(block, stop, tok)

    def function(self, tok: Token) -> Stmt:
        self.in_function += 1
        try:
            return self._function(tok)
        finally:
            self.in_function -= 1

    def _function(self, tok: Token) -> Stmt:
        header = self.until_separator()
        stmt = self.new("function", tok.pos, word="function", tokens=header, parts=[])
        outputs, name, inputs, error = _function_header(header)
        if error is not None:
            stmt.error = error
        stmt.name, stmt.inputs, stmt.outputs = name, inputs, outputs
        body, stop = self.block(frozenset({"end", "function"}))
        stmt.parts.append((header, body))
        self.closed_by_end = stop.kind == "kw" and stop.value == "end"
        if self.closed_by_end:
            self.i += 1
            stmt.end = stop.pos + 3
        else:
            stmt.end = stop.pos
        return stmt


def _block_targets(stmt: Stmt) -> list[str]:
    out: list[str] = []
    for child in stmt.walk():
        for name in child.targets:
            if name not in out:
                out.append(name)
    return out


def _function_header(header: list[Token]) -> tuple[list[str], str, list[str], tuple[str, int] | None]:
    """``[a, b] = name(x, y)`` / ``a = name(x)`` / ``name(x)`` / ``name``: outputs, name, inputs, error."""
    eq = next((k for k, t in enumerate(header) if t.kind == "op" and t.value == "="), None)
    outputs: list[str] = []
    rest = header
    if eq is not None:
        outputs = [t.value for t in header[:eq] if t.kind == "id"]
        rest = header[eq + 1:]
    if not rest or rest[0].kind != "id":
        pos = rest[0].pos if rest else (header[-1].pos if header else 0)
        return outputs, "", [], ("expected a function name", pos)
    name = rest[0].value
    inputs = [t.value for t in rest[1:] if t.kind == "id" or (t.kind == "op" and t.value == "~")]
    inputs = [v if v != "~" else f"~{k}" for k, v in enumerate(inputs)]
    return outputs, name, inputs, None


def nesting(tok: Token) -> int:
    """+1 for an opening bracket, -1 for a closing one, else 0."""
    if tok.kind != "op":
        return 0
    return 1 if tok.value in _OPEN else -1 if tok.value in _CLOSE else 0


def top_level_assignment(tokens: list[Token]) -> int | None:
    """Index of the ``=`` that makes ``tokens`` an assignment, or None."""
    depth = 0
    for k, tok in enumerate(tokens):
        if tok.kind == "op" and tok.value == "=" and depth == 0:
            return k
        depth += nesting(tok)
    return None


def assignment_names(tokens: list[Token]) -> tuple[list[str], set[str], set[str]]:
    """(names assigned, names replaced whole, names read) of a simple statement, from its tokens."""
    eq = top_level_assignment(tokens)
    if eq is None:
        return [], set(), names_read(tokens)
    lhs, rhs = tokens[:eq], tokens[eq + 1:]
    uses = names_read(rhs)
    targets: list[str] = []
    full: set[str] = set()
    if lhs and lhs[0].kind == "op" and lhs[0].value == "[":
        groups: list[list[Token]] = [[]]
        depth = 0
        for tok in lhs[1:-1]:
            if depth == 0 and tok.kind == "comma":
                groups.append([])
                continue
            if depth == 0 and tok.space_before and groups[-1] and (tok.kind == "id" or tok.value == "~"):
                groups.append([])
            if tok.kind == "op" and tok.value in _OPEN:
                depth += 1
            elif tok.kind == "op" and tok.value in _CLOSE:
                depth -= 1
            groups[-1].append(tok)
    else:
        groups = [lhs]
    for group in groups:
        if not group or group[0].kind != "id":
            continue
        name = group[0].value
        targets.append(name)
        if len(group) == 1:
            full.add(name)
        else:
            uses |= names_read(group)
    return targets, full, uses


def names_read(tokens: list[Token]) -> set[str]:
    """Identifiers a token range reads: not field names after '.', not ``Name`` in ``Name=value``."""
    out: set[str] = set()
    # @(x, y) body: x and y are the anonymous function's own inside its body (which ends at a comma at the depth
    # of the '@' or where an enclosing bracket closes), not reads; the same name outside the body is a read.
    scopes: list[tuple[int, set[str]]] = []
    params: set[str] | None = None
    at_depth = 0
    depth = 0
    last = len(tokens) - 1
    for k, (kind, value, _, _) in enumerate(tokens):
        depth += nesting(tokens[k])
        while scopes and (depth < scopes[-1][0] or kind == "comma" and depth == scopes[-1][0]):
            scopes.pop()
        if params is not None:
            if kind == "id":
                params.add(value)
            elif value == ")" and depth == at_depth:
                scopes.append((at_depth, params))
                params = None
            continue
        if kind == "op" and value == "@" and k < last and tokens[k + 1][1] == "(":
            params, at_depth = set(), depth
            continue
        if kind == "id":
            if k and tokens[k - 1][1] == "." and tokens[k - 1][0] == "op":
                continue
            if depth > 0 and k < last and tokens[k + 1][1] == "=" and tokens[k + 1][0] == "op":
                continue
            if scopes and any(value in names for _, names in scopes):
                continue
            out.add(value)
            if value == "exist" and k + 2 <= last and tokens[k + 1][1] == "(" and tokens[k + 2][0] in ("str", "dstr") \
                    and str(tokens[k + 2][1]).isidentifier():
                out.add(tokens[k + 2][1])  # exist('x', 'var') reads whether x is assigned
    return out


def split(tokens: list[Token], source: Source, budget: Any = None) -> Program:
    """The statements and local functions of a tokenized file (``budget``: ticked per statement)."""
    try:
        return _split(tokens, source, budget)
    except TooDeep as error:
        from .problems import MatlabError

        raise MatlabError(f"blocks nest deeper than {MAX_BLOCK_DEPTH} levels", source.text, error.pos) from None


_CLASS_SECTIONS = frozenset({"properties", "methods", "events", "enumeration"})


def _split(tokens: list[Token], source: Source, budget: Any) -> Program:
    splitter = _Splitter(tokens, source)
    splitter.budget = budget
    splitter.skip_separators()
    if splitter.peek().kind == "kw" and splitter.peek().value == "classdef":
        return _split_class(splitter, source)
    statements: list[Stmt] = []
    functions: dict[str, Stmt] = {}
    function_file = False
    first = True
    # Functions whose body stopped at another 'function': what follows is nested in them until their own 'end'
    # (no-'end' files leave them open to the end of the file: then they were never nested, but siblings).
    open_functions: list[Stmt] = []
    while True:
        body, stop = splitter.block(frozenset({"function", "end"} if open_functions else {"function"}))
        if open_functions:
            open_functions[-1].parts[0][1].extend(body)
        else:
            statements += body
        if body:
            first = False
        if stop.kind == "eof":
            break
        splitter.i += 1
        if stop.value == "end":
            open_functions.pop().end = stop.pos + 3
            continue
        fn = splitter.function(stop)
        if open_functions:
            fn.parent = open_functions[-1].name
        if not splitter.closed_by_end and splitter.peek().kind != "eof":
            open_functions.append(fn)
        if first:
            function_file = True
        first = False
        if fn.name and fn.name not in functions:
            functions[fn.name] = fn
        elif fn.error is None:
            fn.error = (f"function '{fn.name}' is defined twice", stop.pos)
            statements.append(splitter.broken(fn.error[0], stop))
        else:
            statements.append(splitter.broken(fn.error[0], stop))
    unclosed = {fn.name for fn in open_functions}
    for fn in functions.values():
        if fn.parent in unclosed:
            fn.parent = ""
    _nested_reads(functions)
    return Program(source, statements, functions, function_file)


def _nested_reads(functions: dict[str, Stmt]) -> None:
    """A statement calling a nested function reads what that function reads of its parent's variables."""
    for fn in reversed(list(functions.values())):
        parent = functions.get(fn.parent) if fn.parent else None
        if parent is None:
            continue
        own = set(fn.inputs) | set(fn.outputs)
        free: set[str] = set()
        for stmt in fn.walk():
            if stmt is not fn:
                free |= set(stmt.uses)
        free -= own
        for stmt in parent.walk():
            if fn.name in stmt.uses:
                stmt.uses = set(stmt.uses) | free


def _split_class(splitter: _Splitter, source: Source) -> Program:
    """A classdef file: ``properties`` blocks give ``name = default`` statements (a property without a default
    is left out), ``methods`` blocks give functions; events, enumerations and attributes are skipped."""
    opener = splitter.peek()
    splitter.i += 1
    header = splitter.until_separator()
    name = header[0].value if header and header[0].kind == "id" else ""
    functions: dict[str, Stmt] = {}
    properties: list[Stmt] = []
    statements: list[Stmt] = []
    statics: set[str] = set()
    while True:
        splitter.skip_separators()
        tok = splitter.peek()
        if tok.kind == "eof":
            statements.append(splitter.broken(f"classdef {name} is never closed with 'end'", opener))
            break
        if tok.kind == "kw" and tok.value == "end":
            splitter.i += 1
            break
        section = tok.value if tok.kind == "id" else tok.value[0] if tok.kind == "cmd" else None
        if section not in _CLASS_SECTIONS:
            statements.append(splitter.broken(f"classdef {name}: expected properties, methods, events or "
                                              "enumeration blocks", tok))
            if tok.kind == "kw":
                splitter.i += 1
            else:
                splitter.until_separator()
            continue
        splitter.i += 1
        attributes = splitter.until_separator() if tok.kind == "id" else []  # (Access = private), (Static)...
        static = any(t.kind == "id" and t.value == "Static" for t in attributes) or (
            tok.kind == "cmd" and any("Static" in word for word in tok.value[1]))
        while True:
            splitter.skip_separators()
            inner = splitter.peek()
            if inner.kind == "eof" or inner.kind == "kw" and inner.value == "end":
                splitter.i += inner.kind != "eof"
                break
            if inner.kind == "kw" and inner.value == "function" and section == "methods":
                splitter.i += 1
                fn = splitter.function(inner)
                if fn.name and fn.name not in functions:
                    functions[fn.name] = fn
                    if static:
                        statics.add(fn.name)
                continue
            line = splitter.until_separator() if inner.kind != "kw" else [inner]
            if inner.kind == "kw":
                splitter.i += 1
            eq = top_level_assignment(line)
            if section == "properties" and eq is not None and line and line[0].kind == "id":
                tokens = [line[0], *line[eq:]]
                stmt = splitter.new("simple", line[0].pos, tokens=tokens, word="property")
                stmt.end = splitter.peek().pos
                stmt.targets, stmt.full, stmt.uses = assignment_names(tokens)
                properties.append(stmt)
    for fn in functions.values():  # each method starts from the property defaults of its object
        obj = fn.inputs[0] if fn.inputs else fn.outputs[0] if fn.outputs else None
        if obj and properties and fn.name not in statics:
            fn.parts[0][1][:0] = [_property_default(splitter, obj, prop) for prop in properties]
    _nested_reads(functions)
    return Program(source, statements, functions, True, name, properties)


def _property_default(splitter: _Splitter, obj: str, prop: Stmt) -> Stmt:
    """``obj.name = default`` for a property ``name = default`` (a --set obj.name wins over it)."""
    first = prop.tokens[0]
    tokens = [Token("id", obj, first.pos), Token("op", ".", first.pos), *prop.tokens]
    stmt = splitter.new("simple", first.pos, tokens=tokens, word="property")
    stmt.end = prop.end
    stmt.targets, stmt.full, stmt.uses = assignment_names(tokens)
    return stmt