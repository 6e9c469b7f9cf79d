"""A whole MATLAB script or function file -> the layer array it builds, lazily and within budgets.

The stages, each testable alone: :func:`~.lexer.tokenize` (tokens),
:func:`~.statements.split` (statements and blocks), :mod:`.analysis` (which
statements the wanted variable depends on), :class:`~.evaluator.Evaluator`
(those statements, over a workspace). Everything else in the file is skipped
and listed (``verbose``), so data loading, training, plotting and printing
around the array, and any MATLAB the network does not need, never stop the build.

Which variable: ``variable`` if given, else the last layer array the script
assigns (a note names the others). In a function file (the first statement is
``function``), the first function is the entry point: its inputs come from
``workspace`` (``--set``) by name and its first output is the network.
"""

from __future__ import annotations

import gc
import os
import re
from dataclasses import dataclass, field
from typing import Any, Iterable, Mapping

import numpy as np

from ..layers import Layer
from ..network import LayerArray
from . import analysis
from .data import NAME, DataFiles
from .evaluator import Evaluator, Frame, Poisoned, Unavailable, _Break, _Continue, _Return
from .functions import Pieces
from .lexer import Source, tokenize
from .problems import MatlabError
from .statements import Program, split
from .workspace import Budget, BudgetExceeded, Cell, describe, from_python


@dataclass
class ScriptResult:
    """What a script built: the layers, the variable they came from, notes, and each statement's fate."""

    layers: LayerArray
    variable: str
    notes: list[str] = field(default_factory=list)
    listing: Any = None  # () -> [(line, statement, evaluated/skipped...)], made only when asked for

    @property
    def statements(self) -> list[tuple[int, str, str]]:
        """(line, statement, what happened) of every top-level statement."""
        return self.listing() if self.listing is not None else []

    def report(self) -> str:
        """The ``--verbose`` listing: statements evaluated, skipped or not computed, then the layer array."""
        listed = self.statements
        lines = [f"line {line:>4}: {what:<9} {text}" if what in ("evaluated", "skipped") else f"line {line:>4}: {what}: {text}"
                 for line, text, what in listed]
        evaluated = sum(1 for _, _, what in listed if what == "evaluated")
        lines.append(f"{evaluated} statements evaluated, {len(listed) - evaluated} skipped; "
                     f"'{self.variable}' is a {len(self.layers)}-layer array:")
        lines.append(str(self.layers).rstrip())
        return "\n".join(lines)


def read_script(text: str, workspace: Mapping[str, Any] | None = None, data: Iterable[str | os.PathLike] = (),
                variable: str | None = None) -> ScriptResult:
    """Build the layer array of a MATLAB script or function file (see the module docstring)."""
    enabled = gc.isenabled()
    gc.disable()  # a 1 MB text makes ~10^6 small objects and no cycles: collecting them would double the time
    try:
        return _read_script(text, workspace, data, variable)
    finally:
        if enabled:
            gc.enable()


def _read_script(text: str, workspace: Mapping[str, Any] | None, data: Iterable[str | os.PathLike],
                 variable: str | None) -> ScriptResult:
    if not isinstance(text, str):
        raise MatlabError(f"expected MATLAB text, got {type(text).__name__}")
    initial, fields = _workspace(workspace)
    files = DataFiles(data)  # read (within its own element budget) before the script's CPU budget starts
    budget = Budget()
    try:
        tokens = tokenize(text, budget)
        source = Source(text)
        program = split(tokens, source, budget)
    except RecursionError:
        raise MatlabError("the text nests too deeply") from None
    except BudgetExceeded as error:
        raise MatlabError(error.message, text, error.pos) from None
    inline = analysis.inline_layer_arguments(program)
    analysis.handle_updates(program)
    ctx = analysis.context(program, set(initial), files.names(), set(fields))
    ctx.budget = budget
    evaluator = Evaluator(program, budget, ctx, files, initial, fields)
    notes: list[str] = []
    try:
        if program.function_file:
            value, chosen = _run_function_file(program, evaluator, initial, files, variable, notes)
        else:
            value, chosen = _run_script(program, evaluator, initial, files, variable, notes)
    except BudgetExceeded as error:
        raise MatlabError(error.message, text, error.pos) from None
    except RecursionError:
        raise MatlabError("the text nests too deeply") from None
    problems = evaluator.final_problems(value)
    if not problems and not isinstance(value, Poisoned):
        layers = _as_layers(value, chosen, evaluator, program)
        if isinstance(layers, str):
            problems.append((layers, value.pos if isinstance(value, Unavailable) else None))
    if problems or isinstance(value, Poisoned):
        wanted = _network_inputs(program, evaluator, chosen)
        raise MatlabError.report(_suggest_network_inputs(problems, wanted) or [(f"'{chosen}' could not be computed", None)],
                                 text, _inputs_hint(wanted))
    if chosen in inline and not any(f"'{chosen}'" in note for note in notes):
        notes.append(f"building the layer array written inside the {chosen.rsplit('_', 1)[0]} call "
                     f"(as '{chosen}'; choose another with --variable NAME)")
    notes += evaluator.notes + evaluator.random_notes() + _pinned_notes(program, initial, fields, evaluator, source)
    return ScriptResult(layers, chosen, list(dict.fromkeys(notes)), evaluator.listing)  # type: ignore[arg-type]


def _workspace(workspace: Mapping[str, Any] | None) -> tuple[dict[str, Any], dict[str, Any]]:
    """(values of whole variables, values of struct fields by path): ``{'params.hidden': 96}`` and
    ``{'params': {'hidden': 96}}`` both set the field ``hidden`` and leave the script's other fields of ``params``."""
    out: dict[str, Any] = {}
    fields: dict[str, Any] = {}
    for name, value in (workspace or {}).items():
        if not isinstance(name, str) or not all(NAME.match(part) for part in name.split(".")):
            raise MatlabError(f"workspace: {name!r} is not a MATLAB variable name (or NAME.FIELD)")
        converted = from_python(value)
        if "." in name or isinstance(converted, dict) and converted:
            fields.update(_leaves(name, converted))
        else:
            out[name] = converted
    for path in fields:
        base = path.split(".", 1)[0]
        if base in out:
            raise MatlabError(f"workspace: {base!r} is given whole and {path!r} as a field: give one of them")
    return out, fields


def _leaves(path: str, value: Any) -> dict[str, Any]:
    if isinstance(value, dict) and value:
        out: dict[str, Any] = {}
        for key, inner in value.items():
            if not NAME.match(key):
                raise MatlabError(f"workspace: {path}.{key} is not a MATLAB field name")
            out.update(_leaves(f"{path}.{key}", inner))
        return out
    return {path: value}


def _run_script(program: Program, evaluator: Evaluator, initial: dict[str, Any], files: DataFiles,
                variable: str | None, notes: list[str]) -> tuple[Any, str]:
    arrays = analysis.layer_assignments(program, evaluator.ctx)
    evaluator.layer_variables = {name for name, _ in arrays}
    evaluator.ctx.layer_variables = set(evaluator.layer_variables)
    last_line: dict[str, int] = {}
    for name, stmt in arrays:
        last_line[name] = program.source.line_of(stmt.pos)
    if variable is not None:
        if not NAME.match(variable):
            raise MatlabError(f"--variable {variable!r} is not a MATLAB variable name")
        if variable not in evaluator.ctx.assigned and variable not in initial:
            found = ", ".join(last_line) or "none"
            raise MatlabError(f"the script assigns no variable {variable!r} (layer arrays found: {found})")
        chosen = variable
    else:
        if not arrays:
            broken = [(s.error[0], s.error[1]) for s in program.all_statements() if s.kind == "broken" and s.error]
            message = "the text defines no layer array (e.g. layers = [sequenceInputLayer(12) lstmLayer(100) ...])"
            elsewhere = _layers_from_other_files(program, evaluator)
            if elsewhere:
                message += "; " + elsewhere
            if broken:
                raise MatlabError.report([(message, None)] + broken, program.source.text)
            raise MatlabError(message)
        chosen, last = arrays[-1][0], "the last one assigned"
        trained = analysis.trained_variables(program.statements, evaluator.layer_variables)
        if trained and trained[-1][1].pos > arrays[-1][1].pos:  # trainNetwork(X, Y, layers, opts) after the others
            chosen, last = trained[-1][0], f"the last one trained (line {program.source.line_of(trained[-1][1].pos)})"
        others = [n for n in last_line if n != chosen]
        if others:
            listed = ", ".join(f"{n} (line {last_line[n]})" for n in last_line)
            notes.append(f"layer arrays found: {listed}; building '{chosen}', {last} "
                         "(choose another with --variable NAME)")
    marked = analysis.slice_program(program.statements, {chosen}, evaluator.ctx)
    ws = _initial_workspace(files, initial, evaluator)
    frame = Frame(ws, marked)
    evaluator.last_values = ws
    try:
        evaluator.block(program.statements, frame, top=True)
    except (_Return, _Break, _Continue):  # break/continue outside a loop end the script, as return does
        pass
    return ws.get(chosen, _missing(chosen)), chosen


def _run_function_file(program: Program, evaluator: Evaluator, initial: dict[str, Any], files: DataFiles,
                       variable: str | None, notes: list[str]) -> tuple[Any, str]:
    entry = next(iter(program.functions.values()), None)
    if program.class_name:
        entry = _class_entry(program, evaluator, variable, notes)
    if entry is None:
        raise MatlabError("the function file defines no function")
    if entry.error:
        raise MatlabError(entry.error[0], program.source.text, entry.error[1])
    arrays = [name for name, stmt in analysis.layer_assignments(program, evaluator.ctx, entry.parts[0][1])
              if name in stmt.full]  # results.layers = layers does not make results a layer array
    if not entry.outputs and not (arrays or variable):
        raise MatlabError(f"function {entry.name} returns nothing; its first output should be the layer array",
                          program.source.text, entry.pos)
    if not entry.outputs and variable is None:  # function train_model() that trains and saves the network
        notes.append(f"function {entry.name} returns nothing: building '{arrays[-1]}', the last layer array it "
                     "assigns (choose another with --variable NAME)")
    chosen = variable or (entry.outputs[0] if entry.outputs else arrays[-1])
    if variable is None and arrays and chosen not in arrays:  # [results] = fn(...) keeping the layers in a variable
        chosen = arrays[-1]
        notes.append(f"the first output of {entry.name}, {entry.outputs[0]}, is not a layer array: building "
                     f"'{chosen}', the last layer array it assigns (choose another with --variable NAME)")
    ws = _initial_workspace(files, initial, evaluator)
    missing = {name for name in entry.inputs if name not in ws}
    given = [name for name in entry.inputs if name in ws]
    if "varargin" in missing and entry.inputs[-1] == "varargin":  # called with no more inputs: varargin = {}
        ws["varargin"] = Cell(np.empty((1, 0), dtype=object))
        missing.discard("varargin")
    notes.append(f"function file: building {chosen} = {entry.name}({', '.join(entry.inputs)})"
                 + _given_from(given, set(initial) | set(evaluator.pinned_fields)))
    evaluator.entry = entry
    marked = evaluator.function_slice(entry, (chosen,))
    frame = Frame(ws, marked, entry, missing, entry=True)
    evaluator.last_values = ws
    try:
        evaluator.block(entry.parts[0][1], frame, top=True)
    except (_Return, _Break, _Continue):  # break/continue outside a loop end the script, as return does
        pass
    return ws.get(chosen, _missing(chosen)), chosen


def _class_entry(program: Program, evaluator: Evaluator, variable: str | None, notes: list[str]) -> Any:
    """The method of a classdef file that builds the layer array (``variable``'s, else the last one that
    assigns a layer array); its object input holds the property defaults, and --set OBJ.NAME wins."""
    broken = [s.error for s in program.statements if s.kind == "broken" and s.error]
    if broken:  # the class's own structure: MATLAB reads none of the file then
        raise MatlabError.report(broken, program.source.text)
    methods = [fn for fn in program.functions.values()
               if any(variable in (None, name) for name, _ in analysis.layer_assignments(program, evaluator.ctx, fn.parts[0][1]))]
    if not methods:
        raise MatlabError(f"classdef {program.class_name}: no method assigns a layer array"
                          + (f" named {variable!r}" if variable else ""))
    entry = methods[-1]
    obj = entry.inputs[0] if entry.inputs else entry.outputs[0] if entry.outputs else None
    notes.append(f"classdef {program.class_name}: building the layer array of method {entry.name}"
                 + (f"; {obj} holds the property defaults (--set {obj}.NAME=VALUE to change one)" if obj else ""))
    return entry


def _given_from(given: list[str], set_names: set[str]) -> str:
    """' with a from --set and b, c from --data': where the inputs a function file is built with come from."""
    parts = [f"{', '.join(names)} from {where}" for names, where in (
        ([n for n in given if n in set_names], "--set"), ([n for n in given if n not in set_names], "--data")) if names]
    return " with " + " and ".join(parts) if parts else ""


def _initial_workspace(files: DataFiles, initial: dict[str, Any], evaluator: Evaluator) -> dict[str, Any]:
    """The --data variables, then the --set values over them (a --set field goes into the struct of its name)."""
    ws = dict(files.variables())
    ws.update(initial)
    for base in evaluator.pinned_fields:
        ws[base] = evaluator.with_pinned_fields(base, ws.get(base))
    return ws


class _Missing:
    def __init__(self, name: str) -> None:
        self.name = name


def _missing(name: str) -> _Missing:
    return _Missing(name)


def _as_layers(value: Any, chosen: str, evaluator: Evaluator, program: Program) -> LayerArray | str:
    if isinstance(value, LayerArray):
        return LayerArray(value)
    if isinstance(value, Layer):
        return LayerArray([value])
    if isinstance(value, Unavailable):
        return f"'{chosen}' {value.origin()}: write the layer array in the script (or pick another with --variable NAME)"
    if isinstance(value, _Missing):
        return f"'{chosen}' is never assigned by the statements that run"
    if isinstance(value, Pieces):
        return (f"'{chosen}' is a layer graph of {len(value.chains)} chains not connected ({value.describe()}): "
                "connect them with connectLayers, or put the layers in one array")
    return f"'{chosen}' is not a layer array: it holds {describe(value)}"


def _layers_from_other_files(program: Program, evaluator: Evaluator) -> str:
    """``layers = createLayers(...)`` with createLayers in another file: say to build that file."""
    known = evaluator.ctx.known | set(program.functions) | evaluator.ctx.assigned
    for stmt in program.all_statements():
        if stmt.kind != "simple" or not stmt.targets:
            continue
        name = stmt.targets[0]
        if not any(word in name.lower() for word in ("layer", "lgraph", "net", "model")):
            continue
        called = [t.value for t in stmt.tokens if t.kind == "id" and t.value not in known]
        if called:
            fn = called[0]
            return (f"{name} = {fn}(...) at line {program.source.line_of(stmt.pos)} calls {fn}, which is not in this file: "
                    f"build {fn}.m itself (a function file; its inputs come from --set)")
    return ""


def _network_inputs(program: Program, evaluator: Evaluator, chosen: str) -> dict[str, Any]:
    """The values the layer array reads directly that could not be computed (each can be given with --set), by name."""
    wanted: dict[str, Any] = {}
    ranges = {stmt.tokens[0].value: stmt for stmt in program.all_statements()  # for i = 1:numLayers: i -> the loop
              if stmt.kind == "for" and stmt.tokens and stmt.tokens[0].kind == "id"}
    for stmt in program.all_statements():
        if chosen in stmt.targets and stmt.kind == "simple":
            for name in sorted(evaluator.ctx.reads(stmt.uses) - evaluator.layer_variables - {chosen}):
                value = evaluator.last_values.get(name)
                if value is None and name not in evaluator.ctx.assigned and name in evaluator.ctx.bare \
                        and not name.endswith("Layer"):
                    wanted.setdefault(name, Poisoned())  # never assigned, nor in the --data files
                    continue
                if not isinstance(value, (Poisoned, Unavailable)):
                    continue
                if name not in ranges:
                    wanted.setdefault(name, value)
                    continue
                # never --set a loop variable (the loop assigns it): the bound the range reads is the way out
                for bound in sorted(analysis.header_reads(ranges[name].tokens, evaluator.ctx) - evaluator.layer_variables):
                    if not _computed(evaluator.last_values.get(bound)):
                        wanted.setdefault(bound, value)
    return wanted


def _computed(value: Any) -> bool:
    return value is not None and not isinstance(value, (Poisoned, Unavailable))


_SET_OTHER = re.compile(r", or (?:pass )?--set (\w+)=<value>$")


def _suggest_network_inputs(problems: list[tuple[str, int | None]], wanted: dict[str, Any]) -> list[tuple[str, int | None]]:
    """A problem deep in a chain (``afibX = Signals(...)`` needing data) suggests --set on the value the layer array
    reads (``numFeatures``) that it stops, not on the intermediate variable: that one value is all the build needs."""
    if not wanted:
        return problems
    out = []
    for message, pos in problems:
        found = _SET_OTHER.search(message)
        if found and found.group(1) not in wanted:
            stopped = [name for name, value in wanted.items() if isinstance(value, Poisoned)
                       and any((c.message, c.pos) == (message, pos) for c in value.causes)] or list(wanted)
            sets = " ".join(f"--set {name}=<value>" for name in stopped)
            message = message[:found.start()] + f", or {sets} (what the layer array reads)"
        out.append((message, pos))
    return out


def _inputs_hint(wanted: dict[str, Any]) -> str:
    if not wanted:
        return ""
    return "the layer array needs " + ", ".join(wanted) + ": give them directly with " + " ".join(
        f"--set {name}=<value>" for name in wanted)


def _pinned_notes(program: Program, initial: dict[str, Any], fields: dict[str, Any], evaluator: Evaluator,
                  source: Source) -> list[str]:
    ctx = evaluator.ctx
    notes = []
    bases = {path.split(".", 1)[0] for path in fields}
    pinning = [*program.statements, *([entry] if (entry := evaluator.entry) is not None else [])]  # not called functions
    for stmt in (inner for top in pinning for inner in top.walk()):
        if stmt.kind == "simple":
            line = source.line_of(stmt.pos)
            for name in stmt.full & set(initial):
                notes.append(f"--set {name} replaces the script's assignment at line {line}")
            pin = analysis.pinned_field(stmt, ctx)
            if pin is not None:
                notes.append(f"--set {pin} replaces the script's assignment at line {line}")
            for name in sorted(stmt.full & bases):
                given = ", ".join(p for p in fields if p.split(".", 1)[0] == name)
                notes.append(f"--set {given} is put over the struct {name} assigned at line {line}")
    return notes


def from_matlab(text: str, workspace: Mapping[str, Any] | None = None, data: Iterable[str | os.PathLike] = (),
                variable: str | None = None) -> LayerArray:
    """The layer array a MATLAB script, function file or layer-array snippet builds.

    ``workspace``: values by name (``--set``; Python numbers, strings, lists or
    MATLAB literal values), which win over the script's own assignments;
    ``data``: ``.mat``/``.npz`` files whose variables the script may use or
    ``load``; ``variable``: which layer array (default: the last one assigned).
    Every problem is reported at once in one :class:`MatlabError`.
    """
    return read_script(text, workspace, data, variable).layers
