"""Layer arrays as JSON or YAML files (the CLI's SPEC).

A spec is a list of layers, or a mapping with ``layers`` (and optionally
``name``). Each layer entry takes one of these forms::

    - softmaxLayer                                   # no arguments
    - fullyConnectedLayer: 9                         # the required argument
    - lstmLayer: [100, OutputMode, last]             # MATLAB's argument list
    - lstmLayer: {NumHiddenUnits: 100, OutputMode: last}
    - {type: lstmLayer, NumHiddenUnits: 100}         # Layer.to_dict's form

Names and option values are MATLAB's, case-insensitive. JSON is YAML, so
one loader reads both; nothing in a spec is ever evaluated.
"""

from __future__ import annotations

import json
import os
import re
from typing import Any

import yaml

from . import layers as layer_module
from .errors import Lstm2OnnxError, SpecError
from .layers import Layer, layer_class
from .network import LayerArray


class _Yaml12Loader(yaml.SafeLoader):
    """PyYAML's safe loader with YAML 1.2 booleans: only true/false, so ``Classes: [no, yes]`` stays text."""


_Yaml12Loader.yaml_implicit_resolvers = {
    first: [(tag, regexp) for tag, regexp in resolvers if tag != "tag:yaml.org,2002:bool"]
    for first, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()
}
_Yaml12Loader.add_implicit_resolver(
    "tag:yaml.org,2002:bool", re.compile(r"^(?:true|True|TRUE|false|False|FALSE)$"), list("tTfF")
)


def load_spec(path: str | os.PathLike) -> tuple[LayerArray, str | None]:
    """Read a JSON/YAML spec file; return the layers and the optional network ``name``."""
    try:
        with open(path, encoding="utf-8") as handle:
            text = handle.read()
    except OSError as error:
        raise SpecError(f"cannot read spec {os.fspath(path)!r}: {error.strerror}") from None
    return parse_spec(text, os.fspath(path))


def parse_spec(text: str, source: str = "<spec>") -> tuple[LayerArray, str | None]:
    try:
        data = yaml.load(text, Loader=_Yaml12Loader)  # noqa: S506 (a SafeLoader subclass)
    except yaml.YAMLError as error:
        mark = getattr(error, "problem_mark", None)
        where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark else ""
        raise SpecError(f"{source}: not valid JSON/YAML{where}: {getattr(error, 'problem', error)}") from None
    name = None
    if isinstance(data, dict):
        unknown = set(data) - {"layers", "name"}
        if unknown or "layers" not in data:
            raise SpecError(f"{source}: expected a list of layers or a mapping with 'layers' (and optional 'name'), got keys {sorted(map(str, data))}")
        data, name = data["layers"], data.get("name")
        if name is not None and not isinstance(name, str):
            raise SpecError(f"{source}: 'name' must be a string, got {name!r}")
    if not isinstance(data, list) or not data:
        raise SpecError(f"{source}: expected a non-empty list of layers, got {type(data).__name__}")
    return LayerArray(_entry(item, f"{source}: layer {k}") for k, item in enumerate(data, 1)), name


def dump_spec(layers: list[Layer], name: str | None = None, learnables: bool = False) -> str:
    """The spec of ``layers`` as JSON (which the YAML loader reads back)."""
    body: dict[str, Any] = {"layers": LayerArray(layers).to_dict(learnables=learnables)}
    if name:
        body["name"] = name
    return json.dumps(body, indent=2)


def _entry(item: Any, where: str) -> Layer:
    try:
        if isinstance(item, str):
            return _constructor(item)()
        if isinstance(item, dict) and "type" in item:
            return Layer.from_dict(item)
        if isinstance(item, dict) and len(item) == 1:
            ((function, args),) = item.items()
            make = _constructor(function)
            if isinstance(args, dict):
                return Layer.from_dict({"type": function, **args})
            if isinstance(args, list):
                return make(*args)
            return make() if args is None else make(args)
        raise SpecError(f"expected a layer name, a one-key mapping such as {{lstmLayer: 100}}, or a mapping with 'type'; got {item!r}")
    except TypeError as error:  # wrong number of positional arguments for the constructor
        raise SpecError(f"{where}: {error}") from None
    except Lstm2OnnxError as error:
        raise SpecError(f"{where}: {error}") from None


def _constructor(function: Any):
    cls = layer_class(str(function))
    return getattr(layer_module, cls.FUNCTION)
