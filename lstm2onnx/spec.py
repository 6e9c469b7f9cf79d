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
    """PyYAML's safe loader with YAML 1.2 (core schema) booleans and floats.

    Booleans: only true/false, so ``Classes: [no, yes]`` stays text. Floats: YAML
    1.2's rule, which takes every JSON number (``1e-3``, ``2E5``, ``-0.5e+2``), where
    PyYAML's YAML 1.1 rule needs a dot and a signed exponent and reads ``1e-3`` as
    a string, breaking the promise that a JSON spec is a YAML spec. Plus ``.inf``
    and ``.nan`` forms, as YAML 1.2 has them.
    """


_YAML_BOOL, _YAML_FLOAT = "tag:yaml.org,2002:bool", "tag:yaml.org,2002:float"
_Yaml12Loader.yaml_implicit_resolvers = {
    first: [(tag, regexp) for tag, regexp in resolvers if tag not in (_YAML_BOOL, _YAML_FLOAT)]
    for first, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()
}
_Yaml12Loader.add_implicit_resolver(_YAML_BOOL, re.compile(r"^(?:true|True|TRUE|false|False|FALSE)$"), list("tTfF"))
# added after the int rule, which PyYAML tries first, so "3" stays an int
_Yaml12Loader.add_implicit_resolver(
    _YAML_FLOAT,
    re.compile(r"^(?:[-+]?(?:\.[0-9]+|[0-9]+(?:\.[0-9]*)?)(?:[eE][-+]?[0-9]+)?|[-+]?\.(?:inf|Inf|INF)|\.(?:nan|NaN|NAN))$"),
    list("-+.0123456789"),
)


def load_spec(path: str | os.PathLike) -> tuple[LayerArray, str | None]:
    """Read a JSON/YAML spec file; return the layers and the optional network ``name``."""
    try:
        with open(path, encoding="utf-8") as handle:
            text = handle.read()
    except OSError as error:
        raise SpecError(f"cannot read spec {os.fspath(path)!r}: {error.strerror}") from None
    return parse_spec(text, os.fspath(path))


MAX_SPEC_NODES = 5_000_000  # values in a spec with every alias expanded: a 2048-unit bilstm's learnables fit


def parse_spec(text: str, source: str = "<spec>") -> tuple[LayerArray, str | None]:
    try:
        data = _load_bounded(text, source)
    except RecursionError:
        raise SpecError(f"{source}: the spec is nested too deeply to be a layer array") from None
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


def _load_bounded(text: str, source: str) -> Any:
    """YAML/JSON to Python values, refusing documents whose aliases expand past MAX_SPEC_NODES.

    PyYAML composes an alias as a reference to the anchored node, so a short
    document can describe billions of values ("billion laughs"); they are
    counted on the composed graph, where sharing keeps the count cheap,
    before anything downstream walks the expanded tree.
    """
    loader = _Yaml12Loader(text)
    try:
        root = loader.get_single_node()
        if root is None:
            return None
        _check_expanded_size(root, source)
        return loader.construct_document(root)
    finally:
        loader.dispose()


def _check_expanded_size(root: yaml.Node, source: str) -> None:
    """Count the nodes of the alias-expanded tree (iteratively, memoized per node); refuse cycles and excess."""
    sizes: dict[int, int] = {}
    open_nodes: set[int] = set()  # started, not finished: exactly the ancestors of the node being visited
    stack: list[tuple[yaml.Node, bool]] = [(root, False)]
    while stack:
        node, finished = stack.pop()
        key = id(node)
        if finished:
            open_nodes.discard(key)
            sizes[key] = 1 + sum(sizes[id(child)] for child in _children(node))
            if sizes[key] > MAX_SPEC_NODES:
                raise SpecError(
                    f"{source}: the spec expands to more than {MAX_SPEC_NODES:,} values (YAML aliases repeat "
                    "what they name); refusing to read it"
                )
        elif key in open_nodes:
            raise SpecError(f"{source}: a YAML alias refers to a node that contains it; a layer array cannot be recursive")
        elif key not in sizes:
            open_nodes.add(key)
            stack.append((node, True))
            stack.extend((child, False) for child in _children(node) if id(child) not in sizes)


def _children(node: yaml.Node) -> list[yaml.Node]:
    if isinstance(node, yaml.SequenceNode):
        return node.value
    if isinstance(node, yaml.MappingNode):
        return [part for pair in node.value for part in pair]
    return []


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
