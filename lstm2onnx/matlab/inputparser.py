"""MATLAB's ``inputParser``, as function files use it for their options (``addParameter(p, 'HiddenUnits', 100)``,
``parse(p, varargin{:})``, ``p.Results.HiddenUnits``).

An inputParser is a handle object in MATLAB: ``addRequired``/``addOptional``/``addParameter`` and ``parse`` change
it in place, with no output; :func:`~.analysis.handle_updates` makes the slicer see those calls as assignments
of ``p``. Validation functions are never called (lstm2onnx runs no MATLAB code); the layer constructors check the
values the network takes. Inputs not given take their defaults, and a parameter's name given with ``--set``
(``--set HiddenUnits=64``) is the value the function was called with.
"""

from __future__ import annotations

from typing import Any

from .functions import FunctionError, builtin, text
from .workspace import Cell, object_array

# Functions that change their first argument, an inputParser, in place.
METHODS = frozenset({"addRequired", "addOptional", "addParameter", "addParamValue", "parse"})
SETTABLE = frozenset({"KeepUnmatched", "FunctionName", "CaseSensitive", "PartialMatching", "StructExpand"})


class InputParser:
    """The inputs declared (name, default, kind) and, after ``parse``, ``Results``/``UsingDefaults``/``Unmatched``."""

    matlab_class = "inputParser"

    def __init__(self) -> None:
        self.declared: list[tuple[str, Any, str]] = []  # kind: required, optional, parameter
        self.options: dict[str, Any] = {}
        self.results: dict[str, Any] | None = None
        self.defaults: list[str] = []
        self.unmatched: dict[str, Any] = {}

    def add(self, kind: str, args: list[Any]) -> None:
        if not args:
            raise FunctionError(f"add{kind.capitalize()} needs the input's name")
        name = text(args[0], f"the {kind} input's name")
        if any(known.lower() == name.lower() for known, _, _ in self.declared):
            raise FunctionError(f"inputParser: {name!r} is declared twice")
        if kind == "required":
            default: Any = None
        elif len(args) < 2:
            raise FunctionError(f"the {kind} input {name!r} needs a default value")
        else:
            default = args[1]
        self.declared.append((name, default, kind))

    def parse(self, args: list[Any], given: dict[str, Any]) -> None:
        """MATLAB's order: the required inputs, the optional ones while the next input is not a parameter's
        name, then name-value pairs. ``given`` (--set values by name) wins over both the call and the defaults."""
        args = list(args)
        results: dict[str, Any] = {}
        parameters = {name.lower(): name for name, _, kind in self.declared if kind == "parameter"}
        for name, default, kind in self.declared:
            if kind == "required":
                if not args:
                    if name in given:
                        results[name] = given[name]
                        continue
                    raise FunctionError(f"inputParser: the required input {name!r} is not given "
                                        f"(pass --set {name}=<value>)")
                results[name] = args.pop(0)
            elif kind == "optional" and args and not (_is_text(args[0]) and self._match(args[0], parameters)):
                results[name] = args.pop(0)
        if len(args) % 2:
            raise FunctionError("inputParser: name-value inputs come in pairs")
        for k in range(0, len(args), 2):
            key = text(args[k], "a parameter name")
            match = self._match(args[k], parameters)
            if match is None:
                if not self.options.get("KeepUnmatched"):
                    raise FunctionError(f"inputParser: {key!r} is not a parameter (parameters: "
                                        f"{', '.join(parameters.values()) or 'none'})")
                self.unmatched[key] = args[k + 1]
                continue
            results[match] = args[k + 1]
        self.defaults = []
        for name, default, _ in self.declared:
            if name in given:
                results[name] = given[name]
            elif name not in results:
                results[name] = default
                self.defaults.append(name)
        self.results = results

    def _match(self, value: Any, parameters: dict[str, str]) -> str | None:
        key = text(value, "a parameter name").lower()
        if key in parameters:
            return parameters[key]
        prefixed = [name for lower, name in parameters.items() if lower.startswith(key)]
        return prefixed[0] if len(prefixed) == 1 and self.options.get("PartialMatching", True) else None

    def property(self, name: str) -> Any:
        if name == "Results":
            if self.results is None:
                raise FunctionError("p.Results is read before parse(p, ...)")
            return dict(self.results)
        if name == "UsingDefaults":
            return _row(list(self.defaults))
        if name == "Unmatched":
            return dict(self.unmatched)
        if name == "Parameters":
            return _row(sorted(name for name, _, _ in self.declared))
        if name in SETTABLE:
            return self.options.get(name)
        raise FunctionError(f"an inputParser has no property {name!r}")

    def set(self, name: str, value: Any) -> None:
        if name not in SETTABLE:
            raise FunctionError(f"an inputParser's {name!r} cannot be set (settable: {', '.join(sorted(SETTABLE))})")
        self.options[name] = bool(getattr(value, "all", lambda: value)()) if name != "FunctionName" else value


def _row(items: list[str]) -> Cell:
    return Cell(object_array(items, (1, len(items))))


def _is_text(value: Any) -> bool:
    try:
        text(value, "")
    except FunctionError:
        return False
    return True


def parser_of(args: list[Any], name: str) -> InputParser:
    if not args or not isinstance(args[0], InputParser):
        raise FunctionError(f"{name} needs an inputParser as its first input (p = inputParser; {name}(p, ...))")
    return args[0]


@builtin("inputParser")
def _input_parser(call: Any, args: list[Any], nargout: int) -> Any:
    if args:
        raise FunctionError("inputParser takes no inputs")
    return InputParser()


@builtin("addRequired", "addOptional", "addParameter", "addParamValue")
def _add(call: Any, args: list[Any], nargout: int) -> Any:
    kind = {"addRequired": "required", "addOptional": "optional"}.get(call.name, "parameter")
    parser_of(args, call.name).add(kind, args[1:])
    return None


@builtin("parse")
def _parse(call: Any, args: list[Any], nargout: int) -> Any:
    """``parse(p, inputs...)`` outside the --set workspace (a called function's own parser)."""
    parser_of(args, "parse").parse(args[1:], {})
    return None


def updates(stmt: Any) -> str | None:
    """The inputParser a statement changes in place (``addParameter(p, ...)``, ``p.parse(...)``), else None."""
    tokens = stmt.tokens
    if stmt.kind != "simple" or len(tokens) < 4 or any(t.kind == "op" and t.value == "=" for t in tokens[:3]):
        return None
    if tokens[0].value in METHODS and tokens[1].value == "(" and tokens[2].kind == "id":
        return tokens[2].value
    if tokens[0].kind == "id" and tokens[1].value == "." and tokens[2].value in METHODS and tokens[3].value == "(":
        return tokens[0].value
    return None
