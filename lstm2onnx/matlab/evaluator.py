"""The bounded evaluator: runs the needed statements over a workspace, the last stage of the MATLAB front end.

Only statements the slicer marked are run; nothing outside the language
subset is ever executed (no file is opened, no MATLAB function outside
:mod:`.functions` and the layer registry runs). A statement that cannot be
computed does not stop the others: its problem is recorded, the names it
assigns are *poisoned* (statements using them are skipped silently, so one
problem is reported once), and the build ends with every problem at once.
A call the evaluator does not run (``trainNetwork``, an unknown function)
makes its outputs *unavailable*: the statement that needs one is reported
naming the variable, where it comes from and the ways out (``--data`` /
``--set``). Every value is charged to the budget before it is computed.
"""

from __future__ import annotations

import dataclasses
import fnmatch
import os

from dataclasses import dataclass, field
from typing import Any, Callable

import numpy as np

from .. import layers as layer_module
from ..errors import Lstm2OnnxError
from ..layers import LAYER_TYPES, Layer
from ..network import LayerArray
from . import analysis
from .expressions import (Assign, Binary, Call, Colon, EndRef, ExprStatement, Field, Lambda, Matrix, Name, NameArg, Num,
                          ParseError, Range, Str, Tilde, Transpose, Unary, parse_expression, parse_statement)
from .functions import (CONSTANTS, FUNCTIONS, GRAPH_EDITS, FILE_READERS, HANDLE_MAPS, NEVER_RUN, RANDOM_DRAWS, SIDE_EFFECTS, FunctionError,
                        Handle, OpaqueData, Partition, branch_message, numbers, plain_ports, text, texts)
from . import inputparser
from .indexing import ALL, IndexError_, assign, concatenate, contents, select
from .inputparser import InputParser
from .data import _stem
from .lexer import Source, Token
from .matfile import Opaque
from .statements import Program, Stmt, top_level_assignment
from .workspace import (STRING_COST, Budget, BudgetExceeded, Cell, CSList, Strings, describe, elements, object_array,
                        shape_of)

MAX_CALL_DEPTH = 32
# Layer properties MATLAB sets only when it creates the layer (``layers(2).OutputMode = 'last'`` is an error there).
READ_ONLY = frozenset({"InputSize", "OutputMode", "NumHiddenUnits", "OutputSize", "HasStateInputs", "HasStateOutputs",
                       "MinLength", "SplitComplexInputs", "NumFilters", "FilterSize", "Stride", "DilationFactor",
                       "Padding", "PaddingValue", "NumChannels", "PoolSize", "InputProjectorSize", "OutputProjectorSize",
                       "HasPaddingMaskInput", "Dimension", "NumWords", "NumHeads", "NumKeyChannels", "NumValueChannels",
                       "HasScoresOutput"})
MAX_PROBLEMS = 20

# MATLAB's own layer functions, so that one lstm2onnx does not build (LAYER_TYPES, checked first) is named as
# such, not as a user-written layer.
MATLAB_LAYERS = frozenset({
    "gruLayer", "bigruLayer", "gruProjectedLayer", "lstmProjectedLayer", "convolution1dLayer", "convolution2dLayer",
    "batchNormalizationLayer", "layerNormalizationLayer", "reluLayer", "leakyReluLayer", "clippedReluLayer", "tanhLayer",
    "sigmoidLayer", "flattenLayer", "globalAveragePooling1dLayer", "globalMaxPooling1dLayer", "averagePooling1dLayer",
    "maxPooling1dLayer", "additionLayer", "multiplicationLayer", "concatenationLayer", "depthConcatenationLayer",
    "embeddingLayer", "wordEmbeddingLayer", "featureInputLayer", "imageInputLayer", "attentionLayer",
    "selfAttentionLayer", "positionEmbeddingLayer", "sinusoidalPositionEncodingLayer", "instanceNormalizationLayer",
    "groupNormalizationLayer", "geluLayer", "swishLayer", "eluLayer", "softplusLayer", "functionLayer",
    "sequenceFoldingLayer", "sequenceUnfoldingLayer", "transposedConv1dLayer", "crossChannelNormalizationLayer",
})


class Poisoned:
    """The value of a name whose statement failed; ``causes`` are the problems why. They are reported only if
    the poison reaches the layer array: a value a later statement replaces (``YTrain`` from the --data file
    after ``YTrain = dataTrain.Category`` failed) was never needed, and neither was its problem."""

    __slots__ = ("causes",)

    def __init__(self, causes: tuple["Problem", ...] = ()) -> None:
        self.causes = causes

    def __repr__(self) -> str:
        return "<poisoned>"


POISON = Poisoned()


@dataclass(frozen=True)
class Unavailable:
    """A value that comes from a call the evaluator does not run (kind: never, unknown) or from a file (data)."""

    call: str
    line: int
    kind: str
    pos: int | None = None

    def origin(self) -> str:
        if self.kind == "data":
            return f"comes from data ({self.call}, line {self.line}; lstm2onnx reads only files given with --data)"
        if self.kind == "never" and self.call in FILE_READERS:
            return (f"comes from {self.call}(...) (line {self.line}), which reads a file: lstm2onnx reads no file but "
                    "those given with --data")
        if self.kind == "never":
            why = "never runs" + (" (training, plotting and printing are skipped)" if self.call in SIDE_EFFECTS else "")
        else:
            why = "does not evaluate (not a MATLAB function it knows, nor a local function of the file)"
        return f"comes from {self.call}(...) (line {self.line}), which lstm2onnx {why}"


class EvalError(Exception):
    def __init__(self, message: str, pos: int | None, also: tuple["Problem", ...] = ()) -> None:
        super().__init__(message)
        self.message, self.pos, self.also = message, pos, also


class Skip(Exception):
    """A dependency already failed: skip, carrying the problems why."""

    def __init__(self, causes: tuple["Problem", ...] = ()) -> None:
        super().__init__()
        self.causes = causes


class NeedsValue(Exception):
    def __init__(self, name: str, pos: int, unavailable: Unavailable | None = None) -> None:
        super().__init__(name)
        self.name, self.pos, self.unavailable = name, pos, unavailable


class NotRun(Exception):
    def __init__(self, unavailable: Unavailable, pos: int) -> None:
        super().__init__(unavailable.call)
        self.unavailable, self.pos = unavailable, pos


class _Break(Exception):
    pass


class _Continue(Exception):
    pass


class _Return(Exception):
    pass


@dataclass
class Frame:
    """One workspace: the script's, or one call of a local function."""

    ws: dict[str, Any]
    marked: set[int]
    function: Stmt | None = None
    missing_inputs: set[str] = field(default_factory=set)
    entry: bool = False  # the function of a function file (inputs come from --set)
    nargin: int | None = None  # of a local function's call
    nargout: int | None = None
    pins: bool = True  # --set values win here: the script's and the entry function's workspace, not a called function's


@dataclass(eq=False)
class Problem:
    message: str
    pos: int | None
    order: int = 0  # when it was found: the report lists problems in that order


class _Call:
    """What a builtin sees: the budget, its name and its arguments' variable names."""

    __slots__ = ("budget", "name", "arg_names", "pos")

    def __init__(self, budget: Budget, name: str, arg_names: list[str | None], pos: int | None) -> None:
        self.budget, self.name, self.arg_names, self.pos = budget, name, arg_names, pos


class Evaluator:
    def __init__(self, program: Program, budget: Budget, ctx: analysis.Context, data: Any, pinned: dict[str, Any],
                 pinned_fields: dict[str, Any] | None = None) -> None:
        self.program = program
        self.source: Source = program.source
        self.text = program.source.text
        self.budget = budget
        self.ctx = ctx
        self.data = data  # a data.DataFiles
        self.pinned = pinned
        self.pinned_fields: dict[str, list[tuple[list[str], Any]]] = {}  # struct name -> [(field path, value)] from --set
        for path, value in (pinned_fields or {}).items():
            base, *rest = path.split(".")
            self.pinned_fields.setdefault(base, []).append((rest, value))
        self.problems: list[Problem] = []
        self.seen_problems: set[tuple[str, int | None]] = set()
        self.found = 0  # problems made so far (their order)
        self.failures = 0  # statements that failed so far (a try block's catch runs when its body adds one)
        self.log: list[tuple[Stmt, str]] = []  # (top-level statement, what happened)
        self.parsed: dict[int, Any] = {}
        self.function_slices: dict[tuple[str, tuple[str, ...], bool], set[int]] = {}
        self.entry: Stmt | None = None  # the function a function file builds with
        self.call_depth = 0
        self.last_values: dict[str, Any] = {}
        self.notes: list[str] = []  # the top workspace (for the report's hint)
        self.layer_variables: set[str] = set()  # variables that hold layer arrays (not --set-able)
        self.random_draws: list[str] = []  # 'randperm (line 4)': calls whose random draw was replaced by a fixed one
        self.end_stack: list[tuple[Any, int, int]] = []
        self.has_load = any(s.kind == "command" and s.word == "load" or (s.kind == "simple" and any(
            t.kind == "id" and t.value == "load" for t in s.tokens)) for s in program.all_statements())

    # -- reporting ---------------------------------------------------------------------------------------
    def problem(self, message: str, pos: int | None) -> None:
        """A problem reported whatever happens next (an unsupported layer, a statement that assigns nothing)."""
        key = (message, pos)
        if key in self.seen_problems:
            return
        self.seen_problems.add(key)
        self.problems.append(self.new_problem(message, pos))

    def new_problem(self, message: str, pos: int | None) -> Problem:
        self.found += 1
        return Problem(message, pos, self.found)

    def fail(self, stmt: Stmt, frame: Frame, message: str, pos: int | None, also: tuple[Problem, ...] = ()) -> None:
        """The statement failed: its names carry the problem, reported if they reach the layer array."""
        causes = (self.new_problem(message, pos),) + also
        if not self.poison(stmt, frame, causes):
            for problem in causes:
                self.problem(problem.message, problem.pos)

    def final_problems(self, value: Any) -> list[tuple[str, int | None]]:
        """The problems to report: those always reported, and the causes of the final value if it failed; one
        message once a line (``data.f = g(data.f)`` needs ``data`` twice: one problem, at its first place)."""
        found = list(self.problems) + (list(value.causes) if isinstance(value, Poisoned) else [])
        out: dict[tuple[str, int | None], tuple[str, int | None]] = {}
        for problem in sorted(found, key=lambda p: p.order):
            line = None if problem.pos is None else self.line(problem.pos)
            out.setdefault((problem.message, line), (problem.message, problem.pos))
        return list(out.values())

    def line(self, pos: int) -> int:
        return self.source.line_of(pos)

    def statement_text(self, stmt: Stmt) -> str:
        end = stmt.end if stmt.end > stmt.pos else len(self.text)
        snippet = self.text[stmt.pos:end]
        first = snippet.split("\n", 1)[0].strip().rstrip(";,").strip()
        if first.endswith("..."):
            first = " ".join(part.split("...")[0].strip() for part in snippet.split("\n")).strip().rstrip(";,")
        return first if len(first) <= 100 else first[:97] + "..."

    # -- statements ----------------------------------------------------------------------------------------
    def block(self, stmts: list[Stmt], frame: Frame, top: bool = False) -> None:
        for stmt in stmts:
            self.budget.tick(stmt.pos)
            if stmt.kind == "function":
                continue
            if stmt.sid not in frame.marked or frame.pins and analysis.pinned_field(stmt, self.ctx) is not None:
                if top:
                    self.log.append((stmt, "skipped"))
                continue
            if not top:
                self.statement(stmt, frame)
                continue
            failures = self.failures
            self.log.append((stmt, "evaluated"))
            self.statement(stmt, frame)
            if self.failures != failures:  # its value (or part of it) could not be computed: the names carry why
                self.log[-1] = (stmt, "not computed")

    def listing(self) -> list[tuple[int, str, str]]:
        """(line, statement, what happened) of each top-level statement, for ``--verbose``."""
        return [(self.line(stmt.pos), self.statement_text(stmt), self._skip_reason(stmt) if what == "skipped" else what)
                for stmt, what in self.log]

    def _skip_reason(self, stmt: Stmt) -> str:
        if stmt.kind == "simple" and stmt.targets and set(stmt.targets) <= set(self.pinned):
            return "skipped: --set " + ", ".join(stmt.targets) + " wins"
        pin = analysis.pinned_field(stmt, self.ctx)
        if pin is not None:
            return f"skipped: --set {pin} wins"
        return "skipped"

    def statement(self, stmt: Stmt, frame: Frame) -> None:
        try:
            self._statement(stmt, frame)
        except (_Break, _Continue, _Return):
            raise
        except BudgetExceeded as error:
            if error.pos is None:
                error.pos = stmt.pos
            raise
        except ParseError as error:
            problem = self.new_problem(error.message, error.pos)
            self.fail(stmt, frame, problem.message, problem.pos, self.scan_broken(stmt, frame))
        except EvalError as error:
            self.fail(stmt, frame, error.message, error.pos if error.pos is not None else stmt.pos, error.also)
        except NeedsValue as need:
            if not self.data_instead(stmt, frame, f"it needs {need.name}"):
                self.fail(stmt, frame, self.needs_message(stmt, need, frame), need.pos, self.other_needs(stmt, frame))
        except OpaqueData as opaque:
            self.fail(stmt, frame, *self.opaque_message(stmt, opaque))
        except NotRun as not_run:
            self.unavailable(stmt, frame, not_run)
        except Skip as skip:
            if not self.data_instead(stmt, frame, "a value it needs cannot be computed"):
                causes = skip.causes + self.other_needs(stmt, frame)
                if not self.poison(stmt, frame, causes):
                    for problem in causes:
                        self.problem(problem.message, problem.pos)
        except MemoryError:
            raise BudgetExceeded("evaluation ran out of memory", stmt.pos) from None
        except (ValueError, TypeError, IndexError, KeyError, AttributeError, ZeroDivisionError, OverflowError) as error:
            self.fail(stmt, frame, f"this statement cannot be evaluated ({type(error).__name__}: {error})", stmt.pos)

    def scan_broken(self, stmt: Stmt, frame: Frame) -> tuple[Problem, ...]:
        """A statement that cannot be parsed may still name unsupported layers and values that cannot be
        computed: report them with its parse error, so one round shows everything."""
        for tok in stmt.tokens:
            if tok.kind == "id" and self._unknown_layer(tok.value, frame):
                self.problem(unsupported_layer_message(tok.value), tok.pos)
        return self.other_needs(stmt, frame)

    def other_needs(self, stmt: Stmt, frame: Frame) -> tuple[Problem, ...]:
        """A statement skipped for a failed dependency may need other values that cannot be computed: their
        problems too (the first failure would hide them), and the problems of the other failed values it reads."""
        out: list[Problem] = []
        seen: set[str] = set()
        tokens = stmt.tokens
        for k, tok in enumerate(tokens):
            if tok.kind != "id" or tok.value not in stmt.uses or tok.value in seen:
                continue
            seen.add(tok.value)
            value = frame.ws.get(tok.value)
            if isinstance(value, Unavailable):
                out.append(self.new_problem(self.needs_message(stmt, NeedsValue(tok.value, tok.pos, value), frame), tok.pos))
            elif isinstance(value, Poisoned):
                out += [p for p in value.causes if p not in out]
            elif tok.value not in frame.ws and tok.value not in stmt.targets \
                    and not (k and tokens[k - 1].kind == "op" and tokens[k - 1].value == "."):
                called = k + 1 < len(tokens) and tokens[k + 1].kind == "op" and tokens[k + 1].value == "("
                need = self.undefined(tok.value, tok.pos, frame, called)
                if need is not None:
                    out.append(self.new_problem(self.needs_message(stmt, need, frame), tok.pos))
        return tuple(out)

    def undefined(self, name: str, pos: int, frame: Frame, called: bool) -> NeedsValue | None:
        """The NeedsValue reading ``name`` would raise (a variable no statement before gave a value), else None."""
        if not self.ctx.reads({name}) or name in ("true", "false", "nargin", "nargout", "end") or name in CONSTANTS \
                or name in self.program.functions or name in LAYER_TYPES or name in FUNCTIONS or name in self.pins(frame) \
                or self._unknown_layer(name, frame):
            return None
        try:
            self.unknown(name, pos, frame, called, nargout=1)
        except NeedsValue as need:
            return need
        except NotRun:
            return None
        return None

    def poison(self, stmt: Stmt, frame: Frame, causes: tuple[Problem, ...] = ()) -> bool:
        """Mark what the statement assigns as failed (False when it assigns nothing that could be)."""
        self.failures += 1
        poisoned = Poisoned(causes)
        names = [name for name in analysis.defines(stmt, self.ctx) - {analysis.FLOW} if name not in self.pins(frame)]
        for name in names:
            frame.ws[name] = poisoned
        return bool(names)

    def data_instead(self, stmt: Stmt, frame: Frame, why: str) -> bool:
        """A whole assignment that cannot be computed (``YTrain = dataTrain.Category`` with ``dataTrain`` from
        readtable) of names the --data files hold: those values stand, with a note."""
        names = analysis.defines(stmt, self.ctx) - {analysis.FLOW}
        held = self.data.variables()
        if stmt.kind != "simple" or not names or not names <= set(stmt.full) or any(
                name not in held or name in self.pinned or frame.ws.get(name) is not held[name] for name in names):
            return False
        for name in sorted(names):
            self.notes.append(f"{name} comes from the --data file ({self.statement_text(stmt)} at line "
                              f"{self.line(stmt.pos)} is not evaluated: {why})")
        return True

    def unavailable(self, stmt: Stmt, frame: Frame, not_run: NotRun) -> None:
        names = sorted(n for n in analysis.defines(stmt, self.ctx) - {analysis.FLOW} if n not in self.pins(frame))
        held = self.data.names()
        for name in names:
            if name in held and name in frame.ws:  # the --data file gives what the call would have made
                call = not_run.unavailable.call
                self.notes.append(f"{name} comes from the --data file ({call}{'' if call.endswith(')') else '(...)'} at line "
                                  f"{not_run.unavailable.line} is not run)")
                continue
            frame.ws[name] = not_run.unavailable
        if not names:
            self.problem(f"{self.statement_text(stmt)} (line {self.line(stmt.pos)}) calls "
                         f"{not_run.unavailable.call}, which lstm2onnx does not evaluate", not_run.pos)

    def _statement(self, stmt: Stmt, frame: Frame) -> None:
        kind = stmt.kind
        if kind == "broken":
            message, pos = stmt.error or ("this statement cannot be read", stmt.pos)
            raise EvalError(message, pos, self.scan_broken(stmt, frame))
        if kind == "simple":
            return self.simple(stmt, frame)
        if kind == "command":
            return self.command(stmt, frame)
        if kind == "keyword":
            if stmt.word == "break":
                raise _Break()
            if stmt.word == "continue":
                raise _Continue()
            if stmt.word == "return":
                raise _Return()
            return None
        if kind == "if":
            for header, body in stmt.parts:
                if header is None or self.truth(self.header(header, stmt, frame), header[0].pos if header else stmt.pos):
                    self.block(body, frame)
                    return None
            return None
        if kind == "switch":
            subject = self.header(stmt.tokens, stmt, frame)
            for header, body in stmt.parts:
                if header is None or self.matches(subject, self.header(header, stmt, frame)):
                    self.block(body, frame)
                    return None
            return None
        if kind == "for":
            return self.for_loop(stmt, frame)
        if kind == "while":
            while self.truth(self.header(stmt.tokens, stmt, frame), stmt.pos):
                try:
                    self.block(stmt.parts[0][1], frame)
                except _Break:
                    break
                except _Continue:
                    continue
            return None
        if kind == "try":
            saved, failures = len(self.problems), self.failures
            try:
                self.block(stmt.parts[0][1], frame)
            except (EvalError, NeedsValue, NotRun, Skip):
                pass
            else:
                if len(self.problems) == saved and self.failures == failures:
                    return None
            del self.problems[saved:]
            self.failures = failures  # handled by the catch: the try statement as a whole did not fail
            if len(stmt.parts) > 1:
                header, body = stmt.parts[1]
                if header:
                    frame.ws[header[0].value] = {"message": "error in the try block", "identifier": ""}
                self.block(body, frame)
            return None
        raise EvalError(f"'{stmt.word or kind}' statements are not supported", stmt.pos)

    def header(self, tokens: list[Token] | None, stmt: Stmt, frame: Frame) -> Any:
        if not tokens:
            raise EvalError(f"'{stmt.word}' needs an expression", stmt.pos)
        key = (stmt.sid, tokens[0].pos)
        node = self.parsed.get(key)  # type: ignore[call-overload]
        if node is None:
            node = parse_expression(tokens, tokens[-1].pos + 1)
            self.parsed[key] = node  # type: ignore[index]
        return self.value(node, frame)

    def for_loop(self, stmt: Stmt, frame: Frame) -> None:
        tokens = stmt.tokens
        if tokens and tokens[0].kind == "op" and tokens[0].value == "(":
            tokens = tokens[1:-1]
        if len(tokens) < 3 or tokens[0].kind != "id" or not (tokens[1].kind == "op" and tokens[1].value == "="):
            raise EvalError("expected 'for NAME = VALUES'", stmt.pos)
        variable = tokens[0].value
        key = (stmt.sid, -1)
        node = self.parsed.get(key)  # type: ignore[call-overload]
        if node is None:
            node = parse_expression(tokens[2:], tokens[-1].pos + 1)
            self.parsed[key] = node  # type: ignore[index]
        try:
            if isinstance(node, Range):  # never materialised: 1:1e9 runs out of CPU time, not memory
                start, step, stop = self.range_bounds(node, frame)
                count = max(0, int(np.floor((stop - start) / step + 1e-10)) + 1)
                items: Any = (np.array([[start + step * k]]) for k in range(count))
            else:
                values = self.value(node, frame)
                items = self.columns(values)
        except (EvalError, NeedsValue, NotRun, Skip) as error:
            items = self.unknown_range(stmt, frame, variable, error)
        body = stmt.parts[0][1]
        for item in items:
            self.budget.tick(stmt.pos)
            if variable not in self.pins(frame):
                frame.ws[variable] = item
            try:
                self.block(body, frame)
            except _Break:
                break
            except _Continue:
                continue

    def unknown_range(self, stmt: Stmt, frame: Frame, variable: str, error: Exception) -> list[Any]:
        """A loop whose range cannot be computed (``for i = 1:numComponents`` with the count from data) but
        that assigns the layer array runs once, its variable failed with why: what the array needs from the
        loop variable fails in turn, and what it does not (sizes given with --set) still builds it."""
        if not (self.layer_variables & analysis.defines(stmt, self.ctx)) or variable in self.pins(frame):
            raise error
        if isinstance(error, NotRun):
            value: Any = error.unavailable
        elif isinstance(error, Skip):
            value = Poisoned(error.causes)
        elif isinstance(error, NeedsValue):
            value = Poisoned((self.new_problem(self.needs_message(stmt, error, frame), error.pos),))
        else:
            value = Poisoned((self.new_problem(error.message, error.pos if error.pos is not None else stmt.pos),))
        self.notes.append(f"{self.statement_text(stmt)} (line {self.line(stmt.pos)}): the range cannot be computed; "
                          f"the loop that builds the layer array ran once, with {variable} unknown")
        return [value]

    def columns(self, value: Any) -> Any:
        if isinstance(value, np.ndarray):
            array = value.reshape(value.shape[0], -1) if value.ndim > 2 else value
            return (array[:, k:k + 1] for k in range(array.shape[1]))
        if isinstance(value, Cell):
            return (Cell(value.data[:, k:k + 1]) for k in range(value.data.shape[1]))
        if isinstance(value, Strings):
            return (Strings(value.data[:, k:k + 1]) for k in range(value.data.shape[1]))
        if isinstance(value, str):
            return iter(value)
        if isinstance(value, LayerArray):
            return (LayerArray([layer]) for layer in value)
        return iter([value])

    def simple(self, stmt: Stmt, frame: Frame) -> None:
        if stmt.word == "argdefault" and self.argument_given(stmt, frame):
            return
        node = self.parsed.get(stmt.sid)
        if node is None:
            node = parse_statement(stmt.tokens, top_level_assignment(stmt.tokens), stmt.end)
            self.parsed[stmt.sid] = node
        self.unsupported_layers(node, frame)
        if isinstance(node, ExprStatement):
            value = node.value
            if isinstance(value, Call) and isinstance(value.base, Name) and value.base.name == "load" and "load" not in frame.ws:
                self.load(value, frame, None)
                return
            if isinstance(value, Name) and value.name == "load":
                self.load(None, frame, None)
                return
            self.value(value, frame)
            return
        targets = node.targets
        if len(targets) == 1:
            target = targets[0]
            rhs = node.value
            if isinstance(rhs, Call) and isinstance(rhs.base, Name) and rhs.base.name == "load" and "load" not in frame.ws:
                value = self.load(rhs, frame, target)
            else:
                value = self.value(rhs, frame)
            self.store(target, value, frame)
            return
        values = self.outputs(node.value, frame, len(targets))
        for target, value in zip(targets, values):
            if not isinstance(target, Tilde):
                self.store(target, value, frame)

    def argument_given(self, stmt: Stmt, frame: Frame) -> bool:
        """Whether the caller gave the argument an ``arguments`` block line defaults (``x = 1``, ``opts.Mode = "a"``)."""
        path = [t.value for t in stmt.tokens if t.kind == "id"][: (top_level_assignment(stmt.tokens) or 1) // 2 + 1]
        value = frame.ws.get(path[0])
        if value is None:
            return False
        for name in path[1:]:
            if not isinstance(value, dict) or name not in value:
                return False
            value = value[name]
        return True

    def store(self, target: Any, value: Any, frame: Frame) -> None:
        if isinstance(value, CSList):
            if not value:
                raise EvalError("the right side gives no value", getattr(target, "pos", None))
            value = value[0]
        if isinstance(value, Layer):
            value = LayerArray([value])
        name_node = target
        chain: list[Any] = []
        while not isinstance(name_node, Name):
            chain.append(name_node)
            name_node = name_node.base
        name = name_node.name
        if name in self.pins(frame):
            return
        if not frame.pins:
            frame.ws[name] = value if not chain else self.assign_into(self.stored(frame, name, name_node), list(reversed(chain)),
                                                                     value, frame)
            return
        if not chain:
            frame.ws[name] = self.with_pinned_fields(name, value)
            return
        current = self.stored(frame, name, name_node)
        frame.ws[name] = self.with_pinned_fields(name, self.assign_into(current, list(reversed(chain)), value, frame))

    def stored(self, frame: Frame, name: str, node: Name) -> Any:
        """The value an indexed or field assignment changes (a failed one stops it)."""
        current = frame.ws.get(name)
        if isinstance(current, Poisoned):
            raise Skip(current.causes)
        if isinstance(current, Unavailable):
            raise NeedsValue(name, node.pos, current)
        return current

    def pins(self, frame: Frame) -> dict[str, Any]:
        """The --set values that win in ``frame`` (none in a called local function: its workspace is its own)."""
        return self.pinned if frame.pins else {}

    def with_pinned_fields(self, name: str, value: Any) -> Any:
        """``value`` with the fields --set gives (``--set params.hidden=96``) put over whatever the script assigned."""
        pins = self.pinned_fields.get(name)
        if not pins:
            return value
        if value is None or isinstance(value, np.ndarray) and value.size == 0:
            value = {}
        if not isinstance(value, dict):
            return value
        for path, leaf in pins:
            value = with_field(value, path, leaf)
        return value

    def assign_into(self, current: Any, chain: list[Any], value: Any, frame: Frame) -> Any:
        node = chain[0]
        rest = chain[1:]
        if isinstance(node, Field):
            name = node.name if node.name is not None else text(self.value(node.expr, frame), "a dynamic field name")
            if isinstance(current, np.ndarray) and current.size == 0 or current is None:
                current = {}
            if isinstance(current, (Layer, LayerArray)) and not rest:
                return self.set_property(current, name, value, node.pos)
            if isinstance(current, InputParser) and not rest:  # p.KeepUnmatched = true (a handle: changed in place)
                try:
                    current.set(name, value)
                except FunctionError as error:
                    raise EvalError(str(error), node.pos) from None
                return current
            if not isinstance(current, dict):
                raise EvalError(f"cannot set field {name!r} of {describe(current)}", node.pos)
            out = dict(current)
            out[name] = self.assign_into(out.get(name), rest, value, frame) if rest else value
            return out
        indices = self.index_args(node, current if current is not None else np.zeros((0, 0)), frame)
        try:
            if rest:
                inner = select(current, indices, self.budget, node.pos) if not node.brace else contents(current, indices, self.budget, node.pos)
                if isinstance(inner, list):
                    if len(inner) != 1:
                        raise EvalError("a nested assignment needs one element", node.pos)
                    inner = inner[0]
                elif isinstance(inner, Cell) and inner.data.size == 1 and isinstance(rest[0], Field):
                    inner = inner.data.reshape(-1)[0]
                new_inner = self.assign_into(inner, rest, value, frame)
                return assign(current, indices, new_inner, self.budget, node.pos, brace=node.brace)
            return assign(current, indices, value, self.budget, node.pos, brace=node.brace)
        except IndexError_ as error:
            raise EvalError(str(error), node.pos) from None

    def set_property(self, current: Layer | LayerArray, name: str, value: Any, pos: int) -> LayerArray:
        """``layers(2).Name = 'x'``: the layer with a writable property set (checked as its constructor checks it)."""
        layers = [current] if isinstance(current, Layer) else list(current)
        if len(layers) != 1:
            raise EvalError(f"setting {name!r} needs one layer, got {len(layers)} (index one: layers(k).{name} = ...)", pos)
        layer = layers[0]
        known = {f.name: f for f in dataclasses.fields(layer)}
        if name not in known:
            raise EvalError(f"{layer.FUNCTION} has no property {name!r}", pos)
        if name in READ_ONLY or known[name].default is dataclasses.MISSING:
            raise EvalError(f"{name} is read-only in MATLAB (set it when creating the layer: "
                            f"{layer.FUNCTION}(..., '{name}', value))", pos)
        if isinstance(value, (Layer, LayerArray, Handle, Opaque)):
            raise EvalError(f"{layer.where(name)} cannot be {describe(value)}", pos)
        try:
            return LayerArray([dataclasses.replace(layer, **{name: to_layer_argument(value)})])
        except Lstm2OnnxError as error:
            raise EvalError(str(error), pos) from None

    def command(self, stmt: Stmt, frame: Frame) -> None:
        if stmt.word == "load":
            self.bind_data(stmt.words[0] if stmt.words else None, [w for w in stmt.words[1:] if not w.startswith("-")], frame, stmt.pos)
            return
        raise EvalError(f"command '{stmt.word}' is not evaluated", stmt.pos)

    # -- data --------------------------------------------------------------------------------------------
    def load(self, call: Call | None, frame: Frame, target: Any) -> Any:
        """``load(file, names...)``: binds from the --data files; the path is only a name to match
        (``load(fullfile(folder, 'x.mat'))`` matches any file when the path cannot be computed)."""
        names: list[str | None] = []
        for arg in call.args if call is not None else ():
            try:
                value = self.value(arg, frame)
                names.append(value if isinstance(value, str) else text(value, "load's argument"))
            except (EvalError, NeedsValue, NotRun, Skip, FunctionError):
                names.append(None)
        file = names[0] if names else None
        wanted = [n for n in names[1:] if n is not None and not n.startswith("-")]
        if target is None:
            self.bind_data(file, wanted, frame, call.pos if call else None)
            return None
        if not self.data.paths or file and _text_data_file(file):
            # x = load('laser.dat') of a text file gives a matrix, not a struct: the --data file's x stands for it
            shown = f"load({file!r})" if file else "load"
            raise NotRun(Unavailable(shown, self.line(call.pos if call else 0), "data"), call.pos if call else 0)
        variables = self.data_variables(file, wanted, call.pos if call else None)
        return dict(variables)

    def data_variables(self, file: str | None, wanted: list[str], pos: int | None) -> dict[str, Any]:
        available = self.data.for_file(file)
        if wanted:  # load(file, 'XTrain', 'YT*'): names and wildcard patterns
            available = {n: v for n, v in available.items() if any(fnmatch.fnmatchcase(n, w) for w in wanted)}
        if file and available and not any(_stem(path) == _stem(file) for path in self.data.paths):
            sources = [os.path.basename(path) for path, held in self.data.files.items() if set(held) & set(available)]
            where = f" (line {self.line(pos)})" if pos is not None else ""
            self.notes.append(f"load {file}{where} binds {', '.join(sorted(available))} from the --data file"
                              f"{'s' if len(sources) > 1 else ''} {', '.join(sources)}: no --data file is named {file}")
        return dict(available)

    def bind_data(self, file: str | None, wanted: list[str], frame: Frame, pos: int | None) -> None:
        for name, value in self.data_variables(file, wanted, pos).items():
            if name not in self.pins(frame):
                frame.ws[name] = value

    # -- expressions ---------------------------------------------------------------------------------------
    def value(self, node: Any, frame: Frame) -> Any:
        out = self.evaluate(node, frame)
        if isinstance(out, CSList):
            if len(out) != 1:
                raise EvalError(f"expected one value, got {len(out)} (a comma-separated list)", getattr(node, "pos", None))
            return out[0]
        return out

    def evaluate(self, node: Any, frame: Frame) -> Any:
        self.budget.tick(None)
        kind = type(node)
        if kind is Num:
            return np.array([[node.value]])
        if kind is Str:
            if node.double:
                return Strings.scalar(node.value)
            return node.value
        if kind is Name:
            return self.name(node, frame)
        if kind is Call:
            return self.call(node, frame)
        if kind is Binary:
            return self.binary(node, frame)
        if kind is Unary:
            operand = self.value(node.operand, frame)
            if node.op == "~":
                return self.numeric(operand, "the operator '~'", node.pos) == 0
            x = self.numeric(operand, f"unary {node.op}", node.pos)
            self.budget.charge(x.size, node.pos, x.shape)
            return -x if node.op == "-" else x.copy()
        if kind is Matrix:
            return self.matrix(node, frame)
        if kind is Range:
            start, step, stop = self.range_bounds(node, frame)
            count = max(0, int(np.floor((stop - start) / step + 1e-10)) + 1)
            self.budget.charge(count, node.pos, (1, count))
            return (start + step * np.arange(count, dtype=float)).reshape(1, -1)
        if kind is Transpose:
            return transpose(self.value(node.operand, frame), self, node.pos)
        if kind is Field:
            return self.field(node, frame)
        if kind is EndRef:
            if not self.end_stack:
                raise EvalError("'end' is only meaningful inside an index", node.pos)
            value, k, count = self.end_stack[-1]
            shape = shape_of(value)
            if count == 1:
                return np.array([[float(elements(shape))]])
            dims = list(shape) + [1] * max(0, count - len(shape))
            extent = dims[k] if k < count - 1 else elements(tuple(dims[k:]))
            return np.array([[float(extent)]])
        if kind is Lambda:
            return self.handle(node, frame)
        if kind is Colon:
            return ":"
        if kind is NameArg:
            raise EvalError("a Name=value argument can only appear inside a call", node.pos)
        raise EvalError("this expression is not supported", getattr(node, "pos", None))

    def numeric(self, value: Any, what: str, pos: int | None) -> np.ndarray:
        try:
            return numbers(value, what)
        except FunctionError as error:
            raise EvalError(str(error), pos) from None

    def range_bounds(self, node: Range, frame: Frame) -> tuple[float, float, float]:
        parts = [node.start, node.step if node.step is not None else None, node.stop]
        values = []
        for part in parts:
            if part is None:
                values.append(1.0)
                continue
            x = self.numeric(self.value(part, frame), "a range", node.pos)
            if x.size == 0:
                raise EvalError("a range bound is empty", node.pos)
            values.append(float(x.reshape(-1)[0]))
        start, step, stop = values
        if step == 0 or not all(np.isfinite(v) for v in values):
            raise EvalError("a range needs finite bounds and a non-zero step", node.pos)
        return start, step, stop

    def name(self, node: Name, frame: Frame) -> Any:
        name = node.name
        ws = frame.ws
        if name in ws:
            value = ws[name]
            if isinstance(value, Poisoned):
                raise Skip(value.causes)
            if isinstance(value, Unavailable):
                raise NeedsValue(name, node.pos, value)
            return value
        if name in ("true", "false"):
            return np.array([[name == "true"]])
        if name in CONSTANTS:
            return np.array([[CONSTANTS[name]]])
        if name == "nargin" and frame.nargin is not None:
            return np.array([[float(frame.nargin)]])
        if name == "nargout" and frame.nargout is not None:
            return np.array([[float(frame.nargout)]])
        if name == "nargin" and frame.function is not None:
            return np.array([[float(len(frame.function.inputs) - len(frame.missing_inputs))]])
        if name in self.program.functions or name in LAYER_TYPES or name in FUNCTIONS or name in ("load", "mfilename"):
            return self.call(Call(node, (), False, node.pos), frame)
        return self.unknown(name, node.pos, frame, called=False, nargout=1)

    def unknown(self, name: str, pos: int, frame: Frame, called: bool, nargout: int, brace: bool = False) -> Any:
        """A name that is neither in the workspace nor a known function: a missing variable or a call not run."""
        if name in NEVER_RUN:
            raise NotRun(Unavailable(name, self.line(pos), "never", pos), pos)
        if name in self.ctx.assigned or name in frame.missing_inputs or name in self.data.names() or brace:
            raise NeedsValue(name, pos)
        if not called and nargout <= 1:
            raise NeedsValue(name, pos)
        if called and self.has_load and name in self.ctx.bare:  # data used as XTrain(1:10) and elsewhere as XTrain
            raise NeedsValue(name, pos)
        raise NotRun(Unavailable(name, self.line(pos), "unknown", pos), pos)

    def field(self, node: Field, frame: Frame) -> Any:
        base = self.evaluate(node.base, frame)
        name = node.name if node.name is not None else text(self.value(node.expr, frame), "a dynamic field name")
        items = base if isinstance(base, CSList) else [base]
        out = CSList()
        for item in items:
            try:
                out += self.field_of(item, name, node.pos)
            except OpaqueData as opaque:
                if opaque.argument is None:
                    opaque.argument = _dotted(node.base)
                raise
            except EvalError as error:
                if isinstance(item, dict) and isinstance(node.base, Name) and name not in item:
                    error.message += f": give it with --set {node.base.name}.{name}=<value>"
                raise
        return out[0] if len(out) == 1 else out

    def field_of(self, value: Any, name: str, pos: int) -> list[Any]:
        if isinstance(value, dict):
            if name not in value:
                fields = ", ".join(value) or "none"
                raise EvalError(f"the struct has no field {name!r} (its fields: {fields})", pos)
            return [value[name]]
        if isinstance(value, Cell) and all(isinstance(v, dict) for v in value.data.flat):
            return [v[name] for v in value.data.reshape(-1, order="F")]
        if isinstance(value, Partition):
            try:
                return [value.property(name)]
            except FunctionError as error:
                raise EvalError(str(error), pos) from None
        if isinstance(value, LayerArray) and name == "Layers":
            return [value]
        if isinstance(value, (Layer, LayerArray)):
            layers = [value] if isinstance(value, Layer) else list(value)
            out = []
            for layer in layers:
                if not hasattr(layer, name) or name.startswith("_"):
                    raise EvalError(f"{layer.FUNCTION} has no property {name!r}", pos)
                out.append(from_layer_property(getattr(layer, name)))
            return out
        if isinstance(value, InputParser):
            try:
                return [value.property(name)]
            except FunctionError as error:
                raise EvalError(str(error), pos) from None
        if isinstance(value, Opaque):
            raise OpaqueData(f"field {name!r}", None, value.matlab_class)
        raise EvalError(f"{describe(value)} has no fields (looking up {name!r})", pos)

    def binary(self, node: Binary, frame: Frame) -> Any:
        op = node.op
        if op in ("&&", "||"):
            left = self.truth(self.value(node.left, frame), node.pos)
            if op == "&&" and not left:
                return np.array([[False]])
            if op == "||" and left:
                return np.array([[True]])
            return np.array([[self.truth(self.value(node.right, frame), node.pos)]])
        a, b = self.value(node.left, frame), self.value(node.right, frame)
        if op in ("==", "~=") and (isinstance(a, (Strings, str, Cell)) and isinstance(b, (Strings, str, Cell))) and (
                isinstance(a, (Strings, Cell)) or isinstance(b, (Strings, Cell))):
            # string comparison; a cell of texts stands for labels that are categorical in MATLAB (Y == "cat")
            try:
                left, right = texts(a, "==")[0], texts(b, "==")[0]
            except FunctionError as error:
                raise EvalError(str(error), node.pos) from None
            if len(right) == 1:
                result = np.array([s == right[0] for s in left]).reshape(_text_shape(a), order="F")
            elif len(left) == 1:
                result = np.array([left[0] == s for s in right]).reshape(_text_shape(b), order="F")
            elif len(left) == len(right):
                result = np.array([s == t for s, t in zip(left, right)]).reshape(_text_shape(a), order="F")
            else:
                raise EvalError("the string arrays have different sizes", node.pos)
            return result if op == "==" else ~result
        if op == "+" and (isinstance(a, Strings) or isinstance(b, Strings)):
            left, shape_a = texts(a, "+")
            right, shape_b = texts(b, "+")
            if len(left) != 1 and len(right) != 1 and len(left) != len(right):
                raise EvalError("the string arrays have different sizes", node.pos)
            count = max(len(left), len(right))
            joined = [(left[k] if len(left) > 1 else left[0]) + (right[k] if len(right) > 1 else right[0]) for k in range(count)]
            self.budget.charge(sum(STRING_COST + len(s) // STRING_COST for s in joined), node.pos, (count,))
            return Strings(object_array(joined, shape_a if len(left) >= len(right) else shape_b))
        x = self.numeric(a, f"the operator {op!r}", node.pos)
        y = self.numeric(b, f"the operator {op!r}", node.pos)
        if op in ("*", "/", "\\") and x.size != 1 and y.size != 1:
            if op == "*":
                if x.ndim != 2 or y.ndim != 2 or x.shape[1] != y.shape[0]:
                    raise EvalError(f"sizes {shape_of(x)} and {shape_of(y)} do not agree for '*'", node.pos)
                self.budget.charge(x.shape[0] * y.shape[1] + x.shape[0] * x.shape[1] * y.shape[1] / 64, node.pos,
                                   (x.shape[0], y.shape[1]))
                return x @ y
            raise EvalError(f"matrix {op!r} is not supported; use a scalar or the element-wise '.{op}'", node.pos)
        try:
            shape = np.broadcast_shapes(x.shape, y.shape)
        except ValueError:
            raise EvalError(f"sizes {shape_of(x)} and {shape_of(y)} do not agree for {op!r}", node.pos) from None
        self.budget.charge(elements(shape), node.pos, shape)
        with np.errstate(all="ignore"):
            fn = _OPERATORS[op]
            out = fn(x, y)
        if out.dtype != bool and not np.all(np.isfinite(out)) and np.all(np.isfinite(x)) and np.all(np.isfinite(y)):
            raise EvalError(f"{op!r} gives a non-finite result (Inf or NaN)", node.pos)
        return out

    def truth(self, value: Any, pos: int | None) -> bool:
        if isinstance(value, str):
            return bool(value) and all(c != "\0" for c in value)
        x = self.numeric(value, "a condition", pos)
        return bool(x.size) and bool(np.all(x != 0))

    def matches(self, subject: Any, case: Any) -> bool:
        if isinstance(case, Cell):
            return any(self.matches(subject, item) for item in case.data.reshape(-1))
        if isinstance(subject, (str, Strings)) or isinstance(case, (str, Strings)):
            try:
                left, right = texts(subject, "switch")[0], texts(case, "switch")[0]
            except FunctionError:
                return False
            if isinstance(subject, np.ndarray) or isinstance(case, np.ndarray):
                return False
            return len(left) == 1 and len(right) == 1 and left[0] == right[0]
        if isinstance(subject, np.ndarray) and isinstance(case, np.ndarray):
            return subject.size == 1 and case.size == 1 and float(subject.reshape(-1)[0]) == float(case.reshape(-1)[0])
        return False

    def matrix(self, node: Matrix, frame: Frame) -> Any:
        rows: list[list[Any]] = []
        for row in node.rows:
            items: list[Any] = []
            for element in row:
                value = self.evaluate(element, frame)
                if isinstance(value, CSList):
                    items += list(value)
                else:
                    items.append(value)
            rows.append(items)
        if node.brace:
            cell_rows = [[Cell(object_array([item], (1, 1))) for item in row] for row in rows]
            try:
                return concatenate(cell_rows, self.budget, node.pos) if any(cell_rows) else Cell(np.empty((0, 0), dtype=object))
            except IndexError_ as error:
                raise EvalError(str(error), node.pos) from None
        try:
            return concatenate(rows, self.budget, node.pos) if rows else np.zeros((0, 0))
        except IndexError_ as error:
            raise EvalError(str(error), node.pos) from None

    # -- calls and indexing ----------------------------------------------------------------------------------
    def index_args(self, node: Call, target: Any, frame: Frame) -> list[Any]:
        out: list[Any] = []
        count = len(node.args)
        for k, arg in enumerate(node.args):
            if isinstance(arg, Colon):
                out.append(ALL)
                continue
            if isinstance(arg, NameArg):
                raise EvalError("a Name=value argument cannot index a variable", arg.pos)
            self.end_stack.append((target, k, count))
            try:
                value = self.evaluate(arg, frame)
            finally:
                self.end_stack.pop()
            if isinstance(value, CSList):
                out += list(value)
            elif isinstance(value, str) and value == ":":
                out.append(ALL)
            else:
                out.append(value)
        return out

    def call(self, node: Call, frame: Frame) -> Any:
        base = node.base
        if isinstance(base, Name) and base.name not in frame.ws:
            return self.function_call(base.name, node, frame, 1)
        if isinstance(base, Field) and base.name in inputparser.METHODS:  # p.addParameter('H', 100), p.parse(...)
            owner = self.value(base.base, frame)
            if isinstance(owner, InputParser):
                args, _ = self.call_arguments(node, frame)
                return self.parser_call(base.name, [owner] + args, frame, node.pos)
        target = self.evaluate(base, frame)
        if isinstance(target, CSList):
            if len(target) != 1:
                raise EvalError("cannot index a comma-separated list", node.pos)
            target = target[0]
        if isinstance(target, Opaque) and target.matlab_class == "function_handle":
            raise NotRun(Unavailable("a function handle", self.line(node.pos), "unknown"), node.pos)
        if isinstance(target, Handle) and not node.brace:
            args, _ = self.call_arguments(node, frame)
            return self.call_handle(target, args, 1, node.pos)
        indices = self.index_args(node, target, frame)
        try:
            if node.brace and isinstance(target, np.ndarray):
                # T{:, 2:end}: a table's contents; the --data file holds the table as its numeric matrix
                return select(target, indices, self.budget, node.pos)
            if node.brace:
                return CSList(contents(target, indices, self.budget, node.pos))
            if isinstance(target, Opaque):
                raise OpaqueData("indexing", base.name if isinstance(base, Name) else None, target.matlab_class)
            return select(target, indices, self.budget, node.pos)
        except IndexError_ as error:
            raise EvalError(str(error), node.pos) from None

    def outputs(self, node: Any, frame: Frame, nargout: int) -> list[Any]:
        """The values of a multiple assignment's right side."""
        if isinstance(node, Call) and isinstance(node.base, Name) and node.base.name not in frame.ws and not node.brace:
            result = self.function_call(node.base.name, node, frame, nargout)
            values = list(result) if isinstance(result, tuple) else [result]
        else:
            result = self.evaluate(node, frame)
            values = list(result) if isinstance(result, CSList) else [result]
        if len(values) < nargout:
            raise EvalError(f"the right side gives {len(values)} values for {nargout} outputs", getattr(node, "pos", None))
        return values[:nargout]

    def parser_call(self, name: str, args: list[Any], frame: Frame, pos: int) -> None:
        """An inputParser's method; ``parse`` takes the --set values by input name where they win (this workspace)."""
        try:
            if name == "parse":
                parser = inputparser.parser_of(args, name)
                parser.parse(args[1:], self.pins(frame))
                self.notes += [f"--set {given} is the value of the inputParser input {given!r} (parse at line {self.line(pos)})"
                               for given, _, _ in parser.declared if given in self.pins(frame)
                               and not (frame.function is not None and given in frame.function.inputs)]
            else:
                FUNCTIONS[name](_Call(self.budget, name, [], pos), args, 0)
        except FunctionError as error:
            raise EvalError(str(error), pos) from None

    def call_arguments(self, node: Call, frame: Frame) -> tuple[list[Any], list[str | None]]:
        values: list[Any] = []
        names: list[str | None] = []
        for arg in node.args:
            if isinstance(arg, NameArg):
                values += [arg.name, self.value(arg.value, frame)]
                names += [None, None]
                continue
            if isinstance(arg, Colon):
                values.append(":")
                names.append(None)
                continue
            value = self.evaluate(arg, frame)
            if isinstance(value, CSList):
                values += list(value)
                names += [None] * len(value)
            else:
                values.append(value)
                names.append(arg.name if isinstance(arg, Name) else None)
        return values, names

    def function_call(self, name: str, node: Call, frame: Frame, nargout: int) -> Any:
        if node.brace:
            return self.unknown(name, node.base.pos, frame, called=True, nargout=nargout, brace=True)
        if name in self.program.functions:
            args, _ = self.call_arguments(node, frame)
            results = self.call_local(self.program.functions[name], args, nargout, node.pos, frame.ws)
            return tuple(results) if nargout > 1 else results[0]
        if name in LAYER_TYPES:
            return self.layer(name, node, frame)
        if name == "load":
            return self.load(node, frame, Name("%value", node.pos))
        if name in HANDLE_MAPS:
            args, _ = self.call_arguments(node, frame)
            return self.map_handle(name, args, nargout, node.pos)
        if name == "connectLayers" and len(node.args) == 3:  # a branch is refused even when the graph failed
            ports = [self.value(arg, frame) for arg in node.args[1:]]
            if all(isinstance(p, str) for p in ports) and not plain_ports(*ports):
                raise EvalError(branch_message(*ports), node.pos)
        if name in GRAPH_EDITS:
            raise EvalError(f"{name} makes a layer graph with branches; lstm2onnx builds chains of layers "
                            "(put the layers in one array)", node.pos)
        if name in FILE_TESTS:
            return self.exists(name, node, frame)
        if name in inputparser.METHODS:
            args, _ = self.call_arguments(node, frame)
            return self.parser_call(name, args, frame, node.pos)
        if name == "mfilename" and self.program.function_file and not node.args:  # the file is named after its function
            return next(iter(self.program.functions))
        if name in analysis.LAYERS_ARGUMENT:
            return self.trained(name, node, frame, nargout)
        fn = FUNCTIONS.get(name)
        if fn is None:
            if name in CONSTANTS and not node.args:
                return np.array([[CONSTANTS[name]]])
            return self.unknown(name, node.base.pos, frame, called=bool(node.args), nargout=nargout)
        args, names = self.call_arguments(node, frame)
        if any(isinstance(a, (Layer, LayerArray)) for a in args) and name not in ("layerGraph", "dlnetwork", "assembleNetwork",
                                                                                "addLayers", "connectLayers", "numel", "length", "size",
                                                                                "isempty", "horzcat", "vertcat", "cat", "repmat",
                                                                                "removeLayers", "replaceLayer"):
            raise EvalError(f"{name} does not take layers", node.pos)
        try:
            result = fn(_Call(self.budget, name, names, node.pos), args, nargout)
            if name in RANDOM_DRAWS:
                self.random_note(name, node.pos)
            return result
        except (FunctionError, IndexError_) as error:
            raise EvalError(str(error), node.pos) from None
        except OpaqueData as opaque:
            if opaque.argument is None:
                opaque.argument = next((n for n, a in zip(names, args) if isinstance(a, Opaque)), None)
            raise

    def trained(self, name: str, node: Call, frame: Frame, nargout: int) -> Any:
        """``[net, info] = trainNetwork(X, Y, layers, options)``: nothing is trained, but the network has the layers
        it was given (``net.Layers`` builds the next network, as in transfer learning); ``info`` is unavailable."""
        not_run = Unavailable(name, self.line(node.pos), "never", node.pos)
        where = analysis.LAYERS_ARGUMENT[name].get(len(node.args))
        layers = self.value(node.args[where], frame) if where is not None else None
        if not isinstance(layers, (Layer, LayerArray)):
            raise NotRun(not_run, node.pos)
        net = LayerArray([layers] if isinstance(layers, Layer) else layers)
        self.notes.append(f"{name} at line {not_run.line} is not run: the network it returns stands for the layers "
                          "it is given (weights come from --weights)")
        return (net, *[not_run] * (nargout - 1)) if nargout > 1 else net

    # -- function handles ------------------------------------------------------------------------------------
    def handle(self, node: Lambda, frame: Frame) -> Handle:
        """A handle; an anonymous function captures the variables its body reads, as MATLAB does."""
        if node.body is None:
            return Handle(node, {})
        key = ("captures", node.pos)
        free = self.parsed.get(key)  # type: ignore[call-overload]
        if free is None:
            free = _names_in(node.body) - set(node.params)
            self.parsed[key] = free  # type: ignore[index]
        return Handle(node, {name: frame.ws[name] for name in free if name in frame.ws})

    def call_handle(self, handle: Handle, args: list[Any], nargout: int, pos: int) -> Any:
        node = handle.node
        if node.target is not None:
            name = node.target
            if name in self.program.functions:
                results = self.call_local(self.program.functions[name], args, nargout, pos)
                return tuple(results) if nargout > 1 else results[0]
            fn = FUNCTIONS.get(name)
            if fn is None or name in HANDLE_MAPS:
                raise NotRun(Unavailable(name, self.line(pos), "never" if name in NEVER_RUN else "unknown", pos), pos)
            try:
                return fn(_Call(self.budget, name, [None] * len(args), pos), args, nargout)
            except (FunctionError, IndexError_) as error:
                raise EvalError(str(error), pos) from None
        if len(args) > len(node.params):
            raise EvalError(f"the anonymous function {node.text} takes {len(node.params)} inputs, got {len(args)}", pos)
        if self.call_depth >= MAX_CALL_DEPTH:
            raise EvalError(f"calls nest deeper than {MAX_CALL_DEPTH} levels (recursion?)", pos)
        ws = dict(handle.captured)
        for name, value in zip(node.params, args):
            if name != "~":
                ws[name] = value
        inner = Frame(ws, set())
        self.call_depth += 1
        try:
            if nargout > 1:
                return tuple(self.outputs(node.body, inner, nargout))
            return self.value(node.body, inner)
        finally:
            self.call_depth -= 1

    def map_handle(self, name: str, args: list[Any], nargout: int, pos: int) -> Any:
        """``cellfun(f, C, ..., 'UniformOutput', tf)`` / ``arrayfun(f, A, ...)``: f on each element, in MATLAB's order."""
        uniform = True
        while len(args) >= 3 and isinstance(args[-2], str) and args[-2].lower() in ("uniformoutput", "errorhandler"):
            if args[-2].lower() == "uniformoutput":
                uniform = self.truth(args[-1], pos)
            args = args[:-2]
        if len(args) < 2:
            raise EvalError(f"{name} needs a function and at least one array", pos)
        fn = args[0]
        if isinstance(fn, str):  # cellfun('isempty', C): the legacy form names the function
            fn = Handle(Lambda("@" + fn, pos, target=fn), {})
        if not isinstance(fn, Handle):
            raise EvalError(f"{name} needs a function handle first, got {describe(fn)}", pos)
        inputs = [self.elements_of(name, value, pos) for value in args[1:]]
        shape = inputs[0][1]
        if any(other[1] != shape for other in inputs[1:]):
            raise EvalError(f"{name}: all the arrays must have the same size", pos)
        count = elements(shape)
        outputs = max(nargout, 1)
        self.budget.charge(count * outputs * (1 if uniform else STRING_COST), pos, shape)
        results: list[list[Any]] = [[] for _ in range(outputs)]
        for k in range(count):
            self.budget.tick(pos)
            got = self.call_handle(fn, [items[k] for items, _ in inputs], outputs, pos)
            for j, value in enumerate(got if outputs > 1 else (got,)):
                if isinstance(value, CSList):
                    value = value[0] if len(value) == 1 else value
                results[j].append(value)
        made = [self.collect(name, items, shape, uniform, pos) for items in results]
        return tuple(made) if nargout > 1 else made[0]

    def elements_of(self, name: str, value: Any, pos: int) -> tuple[list[Any], tuple[int, ...]]:
        if name == "cellfun":
            if not isinstance(value, Cell):
                raise EvalError(f"cellfun needs cell arrays, got {describe(value)}", pos)
            return list(value.data.reshape(-1, order="F")), tuple(value.data.shape)
        if isinstance(value, np.ndarray):
            flat = value.reshape(-1, order="F")
            return [flat[k:k + 1].reshape(1, 1) for k in range(flat.size)], shape_of(value)
        if isinstance(value, (Cell, Strings)):
            wrap = type(value)
            return [wrap(item.reshape(1, 1)) for item in np.split(value.data.reshape(-1, order="F"), value.data.size)] \
                if value.data.size else [], tuple(value.data.shape)
        if isinstance(value, str):
            return list(value), _text_shape(value) if value else (0, 0)
        if isinstance(value, dict):
            return [value], (1, 1)
        raise EvalError(f"arrayfun cannot go over {describe(value)}", pos)

    def collect(self, name: str, items: list[Any], shape: tuple[int, ...], uniform: bool, pos: int) -> Any:
        if not uniform:
            return Cell(object_array(items, shape))
        out = np.zeros(shape, dtype=float).reshape(-1, order="F")
        logical = bool(items)
        for k, value in enumerate(items):
            if isinstance(value, str) and len(value) == 1:
                value = np.array([[float(ord(value))]])
            if not isinstance(value, np.ndarray) or value.size != 1:
                raise EvalError(f"{name}: the function gives {describe(value)} for element {k + 1}, not one value; "
                                "add 'UniformOutput', false to collect other values in a cell array", pos)
            logical = logical and value.dtype == bool
            out[k] = float(value.reshape(-1)[0])
        out = out.reshape(shape, order="F")
        return out.astype(bool) if logical else out

    def exists(self, name: str, node: Call, frame: Frame) -> np.ndarray:
        """``exist(name, 'var')`` looks in the workspace; a file or folder test (``exist('net.mat', 'file')``,
        ``isfile``, ``isfolder``) is false with a note: lstm2onnx sees no files, so ``if ~exist('trainedNet.mat',
        'file')`` takes the branch that defines the network, as on a first run."""
        args, _ = self.call_arguments(node, frame)
        if not args or len(args) > (2 if name == "exist" else 1):
            raise EvalError(f"{name} takes {'1 or 2 arguments' if name == 'exist' else '1 argument'}, got {len(args)}",
                            node.pos)
        what = [text(a, f"{name}'s argument") for a in args]
        kind = what[1].lower() if len(what) == 2 else ("var" if what[0] in frame.ws else "file")
        if name == "exist" and kind == "var":
            return np.array([[1.0 if what[0] in frame.ws else 0.0]])
        note = (f"{name}({', '.join(repr(w) for w in what)}) at line {self.line(node.pos)} is taken as false: lstm2onnx "
                "sees no files (the branch taken is the one of a first run)")
        if note not in self.notes:
            self.notes.append(note)
        return np.array([[0.0]])

    def random_note(self, name: str, pos: int) -> None:
        call = f"{name} (line {self.line(pos)})"
        if call not in self.random_draws:
            self.random_draws.append(call)

    def random_notes(self) -> list[str]:
        """One note for every random draw evaluated: each was replaced by a fixed one."""
        if not self.random_draws:
            return []
        return [f"random draws replaced by fixed ones: {', '.join(self.random_draws)}; only the sizes they lead to "
                "(feature and class counts) are meaningful, not which observations they pick"]

    def layer(self, name: str, node: Call, frame: Frame) -> Layer:
        positional: list[Any] = []
        pairs: list[Any] = []
        for arg in node.args:
            if isinstance(arg, NameArg):
                pairs += [arg.name, self.value(arg.value, frame)]
                continue
            if pairs:
                raise EvalError("positional arguments must come before Name=value arguments", node.base.pos)
            value = self.evaluate(arg, frame)
            positional += list(value) if isinstance(value, CSList) else [value]
        values = []
        for value in positional + pairs:
            if isinstance(value, (Layer, LayerArray)):
                raise EvalError(f"{name}: a layer cannot be a layer option", node.base.pos)
            if isinstance(value, Handle) or isinstance(value, Opaque) and value.matlab_class == "function_handle":
                raise EvalError(f"{name}: a function handle ('@') cannot be a layer option "
                                "(lstm2onnx never calls MATLAB functions)", node.base.pos)
            if isinstance(value, Opaque):
                raise OpaqueData(name, None, value.matlab_class)
            values.append(to_layer_argument(value))
        constructor = getattr(layer_module, LAYER_TYPES[name].FUNCTION)
        try:
            return constructor(*values)
        except Lstm2OnnxError as error:
            raise EvalError(str(error), node.base.pos) from None
        except TypeError as error:  # wrong positional arity
            raise EvalError(f"{name}: {error}", node.base.pos) from None

    def call_local(self, fn: Stmt, args: list[Any], nargout: int, pos: int, caller: dict[str, Any] | None = None
                   ) -> list[Any]:
        """A local function: ``varargin`` collects the inputs past the named ones, ``varargout`` gives the
        outputs past the named ones; ``nargin``/``nargout`` are the counts of this call. A nested function,
        called from its parent (``caller``: the parent's variables), reads the parent's variables; what it
        assigns stays its own (MATLAB would share the names both use: a parent reading them after the call
        is not modelled)."""
        inputs, outputs_named = list(fn.inputs), list(fn.outputs)
        rest_in = bool(inputs) and inputs[-1] == "varargin"
        rest_out = bool(outputs_named) and outputs_named[-1] == "varargout"
        named_in = inputs[:-1] if rest_in else inputs
        named_out = outputs_named[:-1] if rest_out else outputs_named
        if len(args) > len(named_in) and not rest_in:
            raise EvalError(f"{fn.name} takes at most {len(fn.inputs)} inputs, got {len(args)}", pos)
        if (nargout > len(named_out) or (not named_out and nargout >= 1)) and not rest_out:
            raise EvalError(f"{fn.name} returns {len(fn.outputs)} outputs, {max(1, nargout)} asked for", pos)
        if self.call_depth >= MAX_CALL_DEPTH:
            raise EvalError(f"calls nest deeper than {MAX_CALL_DEPTH} levels (recursion?)", pos)
        ws = dict(caller) if fn.parent and caller is not None else {}
        for name in list(ws):
            if name in fn.outputs or name == "varargin":
                del ws[name]
        ws.update(zip(named_in, args))
        if rest_in:
            extra = args[len(named_in):]
            ws["varargin"] = Cell(object_array(list(extra), (1, len(extra))))
        wanted = max(1, nargout)
        outputs = named_out[:wanted] + (["varargout"] if rest_out and wanted > len(named_out) else [])
        frame = Frame(ws, self.function_slice(fn, tuple(outputs), pins=False), fn, set(named_in[len(args):]),
                      nargin=len(args), nargout=nargout, pins=False)
        self.call_depth += 1
        try:
            self.block(fn.parts[0][1], frame)
        except (_Return, _Break, _Continue):
            pass
        finally:
            self.call_depth -= 1
        values = [self.output(fn, name, frame, pos) for name in outputs]
        if outputs and outputs[-1] == "varargout":
            more = values.pop()
            if not isinstance(more, Cell):
                raise EvalError(f"varargout of {fn.name} must be a cell array, got {describe(more)}", pos)
            items = list(more.data.reshape(-1, order="F"))
            if len(items) < wanted - len(values):
                raise EvalError(f"{fn.name} sets {len(values) + len(items)} outputs, {wanted} asked for", pos)
            values += items[: wanted - len(values)]
        return values

    def output(self, fn: Stmt, name: str, frame: Frame, pos: int) -> Any:
        if name not in frame.ws:
            raise EvalError(f"output {name!r} of {fn.name} is not set", pos)
        value = frame.ws[name]
        if isinstance(value, Poisoned):
            raise Skip(value.causes)
        if isinstance(value, Unavailable):
            raise NotRun(value, pos)
        return value

    def function_slice(self, fn: Stmt, outputs: tuple[str, ...], pins: bool = True) -> set[int]:
        """The statements of ``fn`` its ``outputs`` need (``pins``: with the --set names given, as in the entry
        function of a function file; a called function computes its own variables whatever --set says)."""
        key = (fn.name, outputs, pins)
        if key not in self.function_slices:
            ctx = self.ctx if pins else dataclasses.replace(self.ctx, pinned=set(), pinned_fields=set())
            self.function_slices[key] = analysis.slice_program(fn.parts[0][1], set(outputs), ctx)
        return self.function_slices[key]

    # -- checks before evaluating ---------------------------------------------------------------------------
    def unsupported_layers(self, node: Any, frame: Frame) -> None:
        """Every call of a layer lstm2onnx does not know, in one statement: all reported at once."""
        found: list[tuple[str, int]] = []

        def visit(item: Any) -> None:
            if isinstance(item, Call) and isinstance(item.base, Name):
                name = item.base.name
                if self._unknown_layer(name, frame):
                    found.append((name, item.base.pos))
            elif isinstance(item, Name) and self._unknown_layer(item.name, frame):
                found.append((item.name, item.pos))
            elif isinstance(item, Matrix) and not item.brace:
                found.extend(self.user_layers([e for row in item.rows for e in row], frame))
            elif isinstance(item, Assign) and len(item.targets) == 1 and isinstance(item.targets[0], Call) \
                    and isinstance(item.targets[0].base, Name) and item.targets[0].base.name in self.layer_variables:
                found.extend(self.user_layers([item.targets[0].base, item.value], frame))
            if hasattr(item, "__dataclass_fields__"):
                for key in item.__dataclass_fields__:
                    child = getattr(item, key)
                    if isinstance(child, tuple):
                        for c in child:
                            if isinstance(c, tuple):
                                for cc in c:
                                    visit(cc)
                            else:
                                visit(c)
                    elif hasattr(child, "__dataclass_fields__"):
                        visit(child)

        visit(node)
        for name, pos in found:
            self.problem(unsupported_layer_message(name, not name.endswith("Layer") and name not in MATLAB_LAYERS), pos)
        if found:
            raise Skip()

    def user_layers(self, items: list[Any], frame: Frame) -> list[tuple[str, int]]:
        """Calls of functions neither MATLAB's (known here) nor the file's, next to layers in one array
        (``[layers; myResidualLSTM(64, i)]``): layer classes written in MATLAB, which lstm2onnx does not read."""
        def layerish(item: Any) -> bool:
            name = item.base.name if isinstance(item, Call) and isinstance(item.base, Name) else \
                item.name if isinstance(item, Name) else None
            return name is not None and (name in LAYER_TYPES or name in self.layer_variables
                                         or isinstance(frame.ws.get(name), (Layer, LayerArray)))

        if not any(layerish(item) for item in items):
            return []
        return [(item.base.name, item.base.pos) for item in items
                if isinstance(item, Call) and isinstance(item.base, Name) and not item.brace
                and item.base.name not in frame.ws and item.base.name not in self.ctx.known
                and item.base.name not in self.program.functions and item.base.name not in self.ctx.assigned
                and item.base.name not in NEVER_RUN and item.base.name not in FILE_READERS
                and item.base.name not in GRAPH_EDITS]

    def _unknown_layer(self, name: str, frame: Frame) -> bool:
        return (name.endswith("Layer") or name in MATLAB_LAYERS) and name not in LAYER_TYPES and name not in frame.ws and \
            name not in FUNCTIONS and \
            name not in self.program.functions and name not in self.ctx.assigned

    # -- messages ------------------------------------------------------------------------------------------
    def needs_message(self, stmt: Stmt, need: NeedsValue, frame: Frame) -> str:
        name = need.name
        said = f"{self.statement_text(stmt)} (line {self.line(stmt.pos)})"
        target = next((t for t in stmt.targets if t != name), None) if stmt.kind == "simple" else None
        if target is None or target in self.layer_variables:
            target = name
        set_other = f", or --set {target}=<value>"
        if need.unavailable is not None:
            return f"{said} needs {name}, which {need.unavailable.origin()}: pass --data FILE holding {name}{set_other}"
        if name in frame.missing_inputs:
            return f"{said} needs {name}, an input of {frame.function.name} that is not given: pass --set {name}=<value>"
        if self.has_load or self.data.paths:
            note = f" (the --data files hold: {self.data.held()})" if self.data.paths else self.loads_of(name)
            return f"{said} needs {name}, which comes from data{note}: pass --data FILE holding {name}{set_other}"
        if name in self.ctx.assigned:
            lines = sorted({self.line(s.pos) for s in self.program.all_statements() if name in s.targets})
            where = ", ".join(map(str, lines[:5]))
            return f"undefined variable {name!r}: {said} runs before (or without) its assignment at line {where}"
        return f"undefined variable {name!r} in {said}: pass --set {name}=<value>, or --data FILE holding {name}"

    def loads_of(self, name: str) -> str:
        """' (load(fullfile(folder, 'x.mat')), line 2; ...)': the load statements that would bind ``name`` from a file
        (its path only a name: no file is read unless given with --data)."""
        loads = [f"{self.statement_text(s)}, line {self.line(s.pos)}" for s in self.program.all_statements()
                 if (listed := analysis.load_list(s)) is not None
                 and (not listed or any(fnmatch.fnmatchcase(name, w) for w in listed))]
        return f" ({'; '.join(loads[:3])}; lstm2onnx reads only files given with --data)" if loads else ""

    def opaque_message(self, stmt: Stmt, opaque: OpaqueData) -> tuple[str, int]:
        """(message, position) for a function that needs the values of an object only MATLAB reads.

        MATLAB saves ``categorical`` and ``string`` arrays as objects that no reader outside MATLAB can
        decode; a cell array of texts (``cellstr``) or numbers are plain arrays in every .mat version.
        """
        name = opaque.argument or "the variable"
        target = next((t for t in stmt.targets if t not in self.layer_variables), None) or "<name>"
        first = (opaque.argument or "").split(".")[0]
        pos = next((t.pos for t in stmt.tokens if t.kind == "id" and t.value == first), stmt.pos)
        if opaque.matlab_class.endswith(("Network", "network", "LayerGraph")):  # a network saved whole (net.Layers)
            return (f"{self.statement_text(stmt)} (line {self.line(stmt.pos)}): {name} is a MATLAB {opaque.matlab_class} "
                    "object, which only MATLAB can read (lstm2onnx takes no layers from a saved network): write its layer "
                    "array in the script, or build the script that trained it, and give the trained weights with --weights",
                    pos)
        return (f"{self.statement_text(stmt)} (line {self.line(stmt.pos)}): {opaque.function} needs the values of {name}, "
                f"a MATLAB {opaque.matlab_class} object that only MATLAB can read: save its labels as text, e.g. "
                f"{name} = cellstr(string({name})); save(file, '{name}', '-append'), or pass --set {target}=<value>", pos)


FILE_TESTS = frozenset({"exist", "isfile", "isfolder"})


def _dotted(node: Any) -> str | None:
    """``S.net`` of a name or a chain of fields by name, else None."""
    if isinstance(node, Name):
        return node.name
    inner = _dotted(node.base) if isinstance(node, Field) and node.name is not None else None
    return f"{inner}.{node.name}" if inner is not None else None


def _text_data_file(file: str) -> bool:
    """A file ``load`` reads as a numeric text matrix (``.dat``, ``.txt``, ``.csv``...): anything but a MAT-file."""
    extension = os.path.splitext(file.replace("\\", "/"))[1].lower()
    return extension not in ("", ".mat", ".npz")


def _names_in(node: Any) -> set[str]:
    """The names an expression reads (what an anonymous function captures)."""
    out: set[str] = set()
    stack = [node]
    while stack:
        item = stack.pop()
        if isinstance(item, Name):
            out.add(item.name)
        elif isinstance(item, (tuple, list)):
            stack.extend(item)
        elif hasattr(item, "__dataclass_fields__"):
            stack.extend(getattr(item, key) for key in item.__dataclass_fields__)
    return out


def with_field(struct: dict[str, Any], path: list[str], value: Any) -> dict[str, Any]:
    """A copy of ``struct`` with the field at ``path`` (``['inner', 'k']``) set, making the structs on the way."""
    out = dict(struct)
    if len(path) == 1:
        out[path[0]] = value
    else:
        inner = out.get(path[0])
        out[path[0]] = with_field(inner if isinstance(inner, dict) else {}, path[1:], value)
    return out


def _text_shape(value: Any) -> tuple[int, ...]:
    return (1, 1) if isinstance(value, str) else shape_of(value)


def unsupported_layer_message(name: str, user: bool = False) -> str:
    if name in MATLAB_LAYERS:
        return (f"unsupported layer {name!r}: a MATLAB layer lstm2onnx does not build yet "
                f"(it builds: {', '.join(sorted(LAYER_TYPES))})")
    if user:
        return (f"unsupported layer {name!r}: not a built-in MATLAB layer lstm2onnx knows nor a function of this file "
                "(a layer class or function written in another file is not read)")
    return f"unsupported layer {name!r} (not a built-in MATLAB layer lstm2onnx knows)"


def to_layer_argument(value: Any) -> Any:
    from .workspace import to_python

    return to_python(value)


def from_layer_property(value: Any) -> Any:
    from .workspace import from_python

    if value is None:
        return np.zeros((0, 0))
    if isinstance(value, np.ndarray):
        return value.astype(float).reshape(-1, 1) if value.ndim == 1 else value.astype(float)
    return from_python(value)


def transpose(value: Any, context: Any, pos: int | None = None) -> Any:
    budget = context.budget
    if isinstance(value, np.ndarray):
        if value.ndim > 2:
            raise EvalError("transpose is defined for 2-D arrays", pos)
        budget.charge(value.size, pos, value.shape[::-1])
        return value.T.copy()
    if isinstance(value, (Cell, Strings)):
        budget.charge(value.data.size, pos, value.data.shape[::-1])
        return type(value)(value.data.T.copy())
    if isinstance(value, str):
        return Strings(object_array(list(value), (len(value), 1))) if len(value) > 1 else value
    if isinstance(value, (LayerArray, Layer)):
        return value
    raise EvalError(f"cannot transpose {describe(value)}", pos)


_OPERATORS: dict[str, Callable[[np.ndarray, np.ndarray], np.ndarray]] = {
    "+": np.add, "-": np.subtract, "*": np.multiply, ".*": np.multiply, "/": np.divide, "./": np.divide,
    "\\": lambda a, b: np.divide(b, a), ".\\": lambda a, b: np.divide(b, a), "^": np.power, ".^": np.power,
    "==": np.equal, "~=": np.not_equal, "<": np.less, "<=": np.less_equal, ">": np.greater, ">=": np.greater_equal,
    "&": lambda a, b: (a != 0) & (b != 0), "|": lambda a, b: (a != 0) | (b != 0),
}
