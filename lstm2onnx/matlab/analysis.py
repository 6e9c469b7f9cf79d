"""Which statements the wanted variable depends on, the fourth stage of the MATLAB front end.

A backward pass over the statements (as a compiler's slicer does): starting
from the names wanted at the end, a statement is *needed* when it assigns a
needed name; a whole assignment (``x = ...``) then stops the search for
``x`` further up, a partial one (``x(2) = ...``, ``s.f = ...``) does not; and
what the statement reads becomes needed. Blocks are needed when their bodies
assign a needed name; their conditions and ranges are then needed too, and
loop bodies are sliced until what they carry from one iteration to the next
stops growing. ``break``/``continue``/``return`` count as assigning the control
flow of the block they sit in. Names given with ``--set`` are never needed
(the statements assigning them are skipped), and function names are not
variables unless the file assigns them.

The same pass tells which assignments build a layer array (their right side
calls a layer function, ``layerGraph``/``dlnetwork``/``addLayers``, a local
function that does, or indexes or concatenates such a variable), so the
default variable is the last of them.
"""

from __future__ import annotations

import fnmatch

from dataclasses import dataclass, field
from typing import Callable

from ..layers import LAYER_TYPES
from . import inputparser
from .functions import CONSTANTS, FUNCTIONS, WRAPPERS
from .lexer import Token
from .statements import Program, Stmt, assignment_names, names_read, nesting, top_level_assignment

FLOW = "%flow"  # the pseudo-variable break/continue/return assign
# Calls that train or update a network's learnables or state: the layers they return are the layers they get, so
# ``net = trainnet(..., net, ...)`` or ``[net, avg] = adamupdate(net, ...)`` in a training loop does not redefine
# a layer array (lstm2onnx builds the layers; weights come from --weights).
KEEP_LAYERS = frozenset({"trainNetwork", "trainnet", "adamupdate", "sgdmupdate", "rmspropupdate", "dlupdate", "lbfgsupdate",
                         "resetState", "predictAndUpdateState", "classifyAndUpdateState", "initialize"})
# Properties of a dlnetwork/DAGNetwork/layerGraph, not of a layer (see network_property).
NETWORK_PROPERTIES = frozenset({"State", "Learnables", "Layers", "Connections", "InputNames", "OutputNames", "Initialized"})
MAX_LOOP_PASSES = 16
_FLOW_WORDS = frozenset({"break", "continue", "return"})
SPECIAL = frozenset({"load", "nargin", "nargout", "end", "true", "false", "exist", "isfile", "isfolder", "mfilename"})


def known_functions() -> set[str]:
    """Names that are functions unless the file assigns them (the layer registry may grow while running)."""
    return set(FUNCTIONS) | set(LAYER_TYPES) | set(WRAPPERS) | set(CONSTANTS) | SPECIAL


@dataclass
class Context:
    """What the slicer knows about the file: names assigned anywhere, local functions, --set names, data names."""

    assigned: set[str]
    functions: set[str]
    pinned: set[str]
    data_names: set[str]
    free: set[str]
    bare: set[str] = field(default_factory=set)  # names used other than as name(...): variables, not functions
    pinned_fields: set[str] = field(default_factory=set)  # 'params.hidden' given with --set: its assignments are skipped
    layer_variables: set[str] = field(default_factory=set)  # variables that hold layer arrays (see KEEP_LAYERS)
    budget: object | None = None  # a workspace.Budget: slicing deeply nested loops is bounded in CPU time too
    known: set[str] = field(default_factory=known_functions)

    def reads(self, names: set[str]) -> set[str]:
        """Variables among identifiers read: not functions (unless assigned), not --set names."""
        out = set()
        known = self.known
        for name in names:
            if name in self.pinned:
                continue
            if (name in known or name in self.functions) and name not in self.assigned:
                continue
            out.add(name)
        return out


def context(program: Program, pinned: set[str], data_names: set[str], pinned_fields: set[str] = frozenset()) -> Context:
    assigned: set[str] = set()
    read: set[str] = set()
    for stmt in program.all_statements():
        assigned.update(stmt.targets)
        read.update(stmt.uses)
        if stmt.kind == "for" and stmt.tokens and stmt.tokens[0].kind == "id":
            assigned.add(stmt.tokens[0].value)
        if stmt.kind == "function":
            assigned.update(stmt.inputs)
    functions = set(program.functions)
    free = {n for n in read - assigned if n not in known_functions() and n not in functions}
    bare: set[str] = set()
    for stmt in program.all_statements():
        tokens = stmt.tokens
        for k, tok in enumerate(tokens):
            if tok.kind == "id" and not (k + 1 < len(tokens) and tokens[k + 1].kind == "op" and tokens[k + 1].value == "("):
                bare.add(tok.value)
    return Context(assigned, functions, set(pinned), set(data_names), free, bare, set(pinned_fields))


def field_target(stmt: Stmt) -> str | None:
    """``a.b.c`` of a statement ``a.b.c = ...`` (a struct field assigned by name), else None."""
    if stmt.kind != "simple":
        return None
    tokens = stmt.tokens
    eq = top_level_assignment(tokens)  # type: ignore[arg-type]
    if eq is None or eq < 3 or eq % 2 == 0:
        return None
    for k in range(eq):
        tok = tokens[k]
        if k % 2 == 0 and tok.kind != "id" or k % 2 == 1 and not (tok.kind == "op" and tok.value == "."):
            return None
    return ".".join(tokens[k].value for k in range(0, eq, 2))


def _keeps_layers(stmt: Stmt) -> bool:
    """``... = trainnet(...)``, ``[net, ...] = adamupdate(...)``: a call of :data:`KEEP_LAYERS`."""
    eq = top_level_assignment(stmt.tokens)  # type: ignore[arg-type]
    if eq is None or eq + 1 >= len(stmt.tokens):
        return False
    tok = stmt.tokens[eq + 1]
    return tok.kind == "id" and tok.value in KEEP_LAYERS


def network_property(stmt: Stmt, variables: set[str]) -> bool:
    """``net.State = state``, ``net.Learnables = ...``, ``net.Layers(2) = ...``: a field of a layer-array variable
    (a dlnetwork's state or learnables in a training loop) set by name, which leaves its layers as they are
    (``layers(2).Name = ...`` sets a layer's property and does change them)."""
    tokens = stmt.tokens
    return (stmt.kind == "simple" and len(tokens) > 2 and tokens[0].kind == "id" and tokens[0].value in variables
            and tokens[1].kind == "op" and tokens[1].value == "." and tokens[2].value in NETWORK_PROPERTIES
            and top_level_assignment(tokens) is not None)


def pinned_field(stmt: Stmt, ctx: Context) -> str | None:
    """The --set field (``params.hidden``) a statement ``params.hidden = ...`` (or ``params.hidden.x = ...``) would
    overwrite: such a statement is skipped."""
    if not ctx.pinned_fields:
        return None
    path = field_target(stmt)
    if path is None:
        return None
    return next((pin for pin in ctx.pinned_fields if path == pin or path.startswith(pin + ".")), None)


def load_list(stmt: Stmt) -> list[str] | None:
    """The names (or patterns) a ``load`` statement (command or call without outputs) lists, [] for all; None for
    any other statement."""
    if stmt.kind == "command":
        return [w for w in stmt.words[1:] if not w.startswith("-")] if stmt.word == "load" else None
    if stmt.kind == "simple" and not stmt.targets and _is_load_call(stmt.tokens):
        args: list[list[Token]] = [[]]  # load(file, 'XTrain', ...): the texts after the file, not those in fullfile(...)
        depth = 0
        for tok in stmt.tokens[2:]:
            depth += nesting(tok)
            if depth == 0 and tok.kind == "comma":
                args.append([])
            elif depth >= 0:
                args[-1].append(tok)
        return [arg[0].value for arg in args[1:] if len(arg) == 1 and arg[0].kind in ("str", "dstr")]
    return None


def load_names(stmt: Stmt, ctx: Context) -> set[str]:
    """Names a ``load`` statement (command or call without outputs) assigns."""
    listed = load_list(stmt)
    if listed is None:
        return set()
    if listed:
        plain = {name for name in listed if "*" not in name}
        patterns = [name for name in listed if "*" in name]
        return plain | {name for name in ctx.data_names | ctx.free if any(fnmatch.fnmatchcase(name, p) for p in patterns)}
    return ctx.data_names | ctx.free


def _is_load_call(tokens: list[Token]) -> bool:
    return len(tokens) >= 2 and tokens[0].kind == "id" and tokens[0].value == "load" and tokens[1].kind == "op" and tokens[1].value == "("


def defines(stmt: Stmt, ctx: Context) -> set[str]:
    """Every name a statement (a block: anything in it) may assign; ``break``/``continue`` inside a loop
    belong to that loop, ``return`` to the function."""
    out: set[str] = set()

    def visit(inner: Stmt, loops: int) -> None:
        if inner.kind == "function":
            return
        if ctx.layer_variables and inner.kind == "simple" and (_keeps_layers(inner) or network_property(inner, ctx.layer_variables)):
            out.update(set(inner.targets) - ctx.layer_variables)
        else:
            out.update(inner.targets)
        out.update(load_names(inner, ctx))
        if inner.kind == "keyword" and (inner.word == "return" or (inner.word in _FLOW_WORDS and loops == 0)):
            out.add(FLOW)
        if inner.kind == "for" and inner.tokens and inner.tokens[0].kind == "id":
            out.add(inner.tokens[0].value)
        for child in inner.children():
            visit(child, loops + (inner.kind in ("for", "while")))

    visit(stmt, 0)
    return out


def header_reads(tokens: list[Token] | None, ctx: Context) -> set[str]:
    if not tokens:
        return set()
    if tokens and tokens[0].kind == "op" and tokens[0].value == "(":  # for (i = 1:n)
        tokens = tokens[1:-1]
    eq = next((k for k, t in enumerate(tokens) if t.kind == "op" and t.value == "="), None)
    return ctx.reads(names_read(tokens[eq + 1:] if eq is not None else tokens))


def slice_block(stmts: list[Stmt], needed: set[str], marked: set[int], ctx: Context) -> set[str]:
    """Mark the statements of ``stmts`` that ``needed`` (names wanted after them) depends on; names wanted before."""
    needed = set(needed)
    for stmt in reversed(stmts):
        if ctx.budget is not None:
            ctx.budget.tick(stmt.pos)  # type: ignore[attr-defined]
        kind = stmt.kind
        if kind == "function":
            continue
        if kind in ("simple", "broken", "command", "keyword"):
            if pinned_field(stmt, ctx) is not None:
                continue
            defs = set(stmt.targets) | load_names(stmt, ctx)
            if ctx.layer_variables and defs & ctx.layer_variables and (_keeps_layers(stmt) or network_property(stmt, ctx.layer_variables)):
                defs -= ctx.layer_variables
            if kind == "keyword" and stmt.word in _FLOW_WORDS:
                defs.add(FLOW)
            if not defs & needed:
                continue
            marked.add(stmt.sid)
            needed -= stmt.full - {FLOW}
            needed |= ctx.reads(statement_reads(stmt))
            if kind == "broken" and stmt.parts:
                for _, body in stmt.parts:
                    for inner in body:
                        marked.add(inner.sid)
            continue
        defs = defines(stmt, ctx)
        if not defs & needed:
            continue
        marked.add(stmt.sid)
        if kind in ("if", "switch", "try"):
            before = set(needed)
            if kind == "switch":
                before |= ctx.reads(names_read(stmt.tokens))
            for header, body in stmt.parts:
                if kind != "try":
                    before |= header_reads(header, ctx)
                before |= slice_block(body, needed, marked, ctx)
            needed = before
        else:  # for / while: what one iteration needs from the one before grows to a fixed point
            variable = stmt.tokens[0].value if kind == "for" and stmt.tokens and stmt.tokens[0].kind == "id" else None
            header, body = stmt.parts[0]
            carried = set(needed) | {FLOW}
            for _ in range(MAX_LOOP_PASSES):
                wanted = slice_block(body, carried, marked, ctx)
                if wanted <= carried:
                    break
                carried |= wanted
            needed = (needed | (carried - {FLOW})) - {variable}
            needed |= header_reads(stmt.tokens, ctx)
    return needed


def slice_program(stmts: list[Stmt], wanted: set[str], ctx: Context) -> set[int]:
    """The statement ids needed to compute ``wanted`` at the end of ``stmts``."""
    marked: set[int] = set()
    slice_block(stmts, set(wanted) | {FLOW}, marked, ctx)
    return marked


# -- which assignments build a layer array ------------------------------------------------------------------

# Training calls and where their layers argument sits, by argument count: trainNetwork(X, Y, layers, options),
# trainNetwork(ds, layers, options), trainnet(X, T, net, loss, options), trainnet(ds, net, loss, options).
LAYERS_ARGUMENT = {"trainNetwork": {4: 2, 3: 1}, "trainnet": {5: 2, 4: 1}}
EDITS = frozenset({"addLayers", "connectLayers", "removeLayers", "replaceLayer"})  # graph calls that change the layers


def inline_layer_arguments(program: Program) -> list[str]:
    """A layer array written inside a training call (``trainNetwork(X, Y, [sequenceInputLayer(12) ...], opts)``,
    ``trainnet(X, T, buildLayers(12, 5), "crossentropy", opts)``) becomes an assignment of its own, inserted just
    before the call (``trainNetwork_layers = [...]``), so it is built as any layer array is; the names made."""
    sid = max((s.sid for s in program.all_statements()), default=0)
    layerish = {name for name, fn in program.functions.items() if _function_builds_layers(fn, program, set())}
    made: list[str] = []
    held: list[set[str]] = []  # the variables holding layer arrays or trained networks, found when first asked

    def variables() -> set[str]:
        if not held:
            found = {name for name, _ in layer_assignments(program, context(program, set(), set()))}
            held.append(found | {stmt.targets[0] for stmt in program.all_statements()
                                 if stmt.kind == "simple" and stmt.targets and _keeps_layers(stmt)})
        return held[0]

    def visit(stmts: list[Stmt]) -> list[Stmt]:
        nonlocal sid
        out: list[Stmt] = []
        for stmt in stmts:
            for _, body in stmt.parts:
                body[:] = visit(body)
            argument = _layers_argument(stmt) if stmt.kind == "simple" else None
            if argument is not None and (_mentions_layers(argument[1], layerish)
                                         or _changes_layers(argument[1], variables)):
                sid += 1
                name, tokens = argument
                first = tokens[0]
                synthetic = Stmt(sid, "simple", first.pos, tokens[-1].pos + len(str(tokens[-1].value)),
                                 tokens=[Token("id", name, first.pos), Token("op", "=", first.pos), *tokens])
                synthetic.targets, synthetic.full, synthetic.uses = assignment_names(synthetic.tokens)
                out.append(synthetic)
                made.append(name)
            out.append(stmt)
        return out

    program.statements[:] = visit(program.statements)
    for fn in program.functions.values():
        for _, body in fn.parts:
            body[:] = visit(body)
    return made


def handle_updates(program: Program) -> None:
    """``addParameter(p, 'HiddenUnits', 100)``, ``parse(p, varargin{:})``: calls that change an inputParser (a
    handle object) in place assign it, for the slicer, as ``p.x = ...`` would."""
    for stmt in program.all_statements():
        name = inputparser.updates(stmt)
        if name is not None and top_level_assignment(stmt.tokens) is None:  # type: ignore[arg-type]
            stmt.targets = [name]


def _training_call(stmt: Stmt) -> tuple[str, list[Token]] | None:
    """(function, tokens of its layers argument) of a training call starting the statement's right side."""
    tokens = stmt.tokens
    eq = top_level_assignment(tokens)  # type: ignore[arg-type]
    k = eq + 1 if eq is not None else 0
    if not (k + 1 < len(tokens) and tokens[k].kind == "id" and tokens[k].value in LAYERS_ARGUMENT
            and tokens[k + 1].kind == "op" and tokens[k + 1].value == "("):
        return None
    args: list[list[Token]] = [[]]
    depth = 0
    for tok in tokens[k + 2:]:
        step = nesting(tok)
        depth += step
        if depth < 0:
            break
        if depth == 0 and tok.kind == "comma":
            args.append([])
        else:
            args[-1].append(tok)
    else:
        return None
    where = LAYERS_ARGUMENT[tokens[k].value].get(len(args))
    if where is None or not args[where]:
        return None
    return tokens[k].value, args[where]


def _layers_argument(stmt: Stmt) -> tuple[str, list[Token]] | None:
    """(name for it, tokens) of the layers argument of a training call, unless it is a variable (built where it
    is assigned)."""
    call = _training_call(stmt)
    if call is None or len(call[1]) == 1:
        return None
    return f"{call[0]}_layers", call[1]


def trained_variables(statements: list[Stmt], variables: set[str]) -> list[tuple[str, Stmt]]:
    """(variable, statement) of the training calls given a layer-array variable itself (``trainNetwork(X, Y, layers,
    opts)``), in text order; local functions are not looked into."""
    found: list[tuple[str, Stmt]] = []
    for stmt in statements:
        if stmt.kind == "function":
            continue
        call = _training_call(stmt) if stmt.kind == "simple" else None
        if call is not None and len(call[1]) == 1 and call[1][0].kind == "id" and call[1][0].value in variables:
            found.append((call[1][0].value, stmt))
        for _, body in stmt.parts:
            found += trained_variables(body, variables)
    return found


def statement_reads(stmt: Stmt) -> set[str]:
    """The names a simple statement reads; of ``net = trainNetwork(X, Y, layers, options)``, only those of its layers
    argument: the network trained has the layers it was given (``net.Layers`` builds the next one)."""
    call = _training_call(stmt) if stmt.kind == "simple" else None
    return stmt.uses if call is None else names_read(call[1])


def _changes_layers(tokens: list[Token], variables: Callable[[], set[str]]) -> bool:
    """Layer arrays of variables selected, joined or edited (``layers(1:end-1)``, ``[encoder; head]``,
    ``net.Layers(1:end-3)``, ``removeLayers(lgraph, 'out')``): an array of its own, not the variable's
    (``layerGraph(layers)`` alone is the variable's array)."""
    edits = any(tok.kind == "op" and tok.value == "[" or tok.kind == "id" and tok.value in EDITS for tok in tokens)
    for k, tok in enumerate(tokens):
        if tok.kind != "id" or tok.value not in variables():
            continue
        after = [(t.kind, t.value) for t in tokens[k + 1:k + 4]]
        if edits or after[:1] == [("op", "(")] or after == [("op", "."), ("id", "Layers"), ("op", "(")]:
            return True
    return False


def _mentions_layers(tokens: list[Token], functions: set[str]) -> bool:
    """Layer calls or a local function that makes layers (``layerGraph(layers)`` alone is the variable's array)."""
    return any(tok.kind == "id" and (tok.value in LAYER_TYPES or tok.value in functions or tok.value.endswith("Layer"))
               for tok in tokens)



def layer_assignments(program: Program, ctx: Context, statements: list[Stmt] | None = None) -> list[tuple[str, Stmt]]:
    """(variable, statement) of every assignment in the script (or in ``statements``, a function's body) that
    builds a layer array, in text order."""
    layerish_functions = {name for name, fn in program.functions.items() if _function_builds_layers(fn, program, set())}
    variables: set[str] = set()
    found: list[tuple[str, Stmt]] = []
    for _ in range(2):  # a second pass catches variables assigned in loops before they are read
        found = []
        for top in program.statements if statements is None else statements:
            for stmt in top.walk():
                if stmt.kind not in ("simple", "broken") or not stmt.targets:
                    continue
                eq = top_level_assignment(stmt.tokens)
                if eq is None or network_property(stmt, variables):
                    continue
                if _builds_layers(stmt.tokens[eq + 1:], variables, layerish_functions, ctx):
                    for name in stmt.targets:
                        variables.add(name)
                        found.append((name, stmt))
    return found


def _builds_layers(tokens: list[Token], variables: set[str], functions: set[str], ctx: Context) -> bool:
    """True when the tokens call a layer function/wrapper/layer-building function or use a layer variable
    outside the arguments of other functions (``trainNetwork(X, Y, layers, options)`` is not a layer array)."""
    opaque_depth: list[int] = []
    depth = 0
    for k, tok in enumerate(tokens):
        step = nesting(tok)
        if step:
            depth += step
            while opaque_depth and opaque_depth[-1] > depth:
                opaque_depth.pop()
            continue
        if tok.kind != "id" or opaque_depth:
            continue
        if k and tokens[k - 1].kind == "op" and tokens[k - 1].value == ".":
            continue
        name = tok.value
        called = k + 1 < len(tokens) and tokens[k + 1].kind == "op" and tokens[k + 1].value == "("
        if name in variables:
            return True
        if name in LAYER_TYPES or name in WRAPPERS or name in functions or (name.endswith("Layer") and name not in ctx.assigned):
            return True
        if called and name not in ctx.assigned:
            opaque_depth.append(depth + 1)
    return False


def _function_builds_layers(fn: Stmt, program: Program, seen: set[str]) -> bool:
    if fn.name in seen:
        return False
    seen.add(fn.name)
    for stmt in fn.walk():
        for tok in stmt.tokens:
            if tok.kind != "id":
                continue
            if tok.value in LAYER_TYPES or tok.value in WRAPPERS or tok.value.endswith("Layer"):
                return True
            if tok.value in program.functions and _function_builds_layers(program.functions[tok.value], program, seen):
                return True
    return False
