"""The I/O contract in an lstm2onnx model's ``metadata_props``, checked against the graph before it is trusted.

A model file is data from elsewhere: its metadata may be damaged or edited.
:func:`read_contract` parses ``lstm2onnx.io``, ``lstm2onnx.classes`` and
``lstm2onnx.spec`` and checks every claim against the session's actual inputs
and outputs, so that a bad file is a :class:`ModelError` that says what is
wrong at load time, never a ``KeyError``/``RecursionError``, a numpy error at
the first call, or, worst, silently wrong results (e.g. hidden and cell state
names swapped, which have the same shape). Checked:

- JSON that parses (nesting depth and text size bounded), with the expected
  keys and types;
- ``sequences``: a float32 input ``[batch, time, F]``, F a positive integer;
  ``sequence_lengths``: null or an int32 input ``[batch]``;
- ``output``: a float32 output ``[batch, time, K]`` (sequence output) or
  ``[batch, K]``, K = ``output_size``;
- each state entry: ``layer`` and ``hidden_size`` H; its names are exactly the
  builder's ``<layer>.HiddenState.in/.out`` and ``<layer>.CellState.in/.out``
  (cell names absent or null for layers with a hidden state only, e.g. GRU;
  both or neither), each a float32 graph input/output ``[batch, H]``;
  ``initial_hidden``/``initial_cell`` H finite numbers; no name used twice;
- every graph input is one of the above (nothing the runtime would not feed);
- ``classes``: null or K distinct strings (K the output's size);
- ``spec``: a list of layer objects with a string ``type``.
"""

from __future__ import annotations

import json
import math
from typing import Any

from .errors import ModelError

META_SPEC = "lstm2onnx.spec"
META_CLASSES = "lstm2onnx.classes"
META_IO = "lstm2onnx.io"
TASKS = ("classification", "regression", "none")
MAX_DEPTH = 32  # lstm2onnx writes at most 4 levels; deeper JSON is refused before json parses it recursively
MAX_TEXT = 16 * 2**20  # 16 MiB of metadata text per key (a spec with learnables is far smaller)
_FLOAT, _INT32 = "tensor(float)", "tensor(int32)"


def read_contract(session: Any, path: str) -> tuple[dict, list[str] | None, tuple[str, ...]]:
    """``(io, classes, layer_types)`` from the session's metadata, checked against its inputs and outputs.

    ``io`` is normalized: every state entry has ``cell_in``, ``cell_out`` and
    ``initial_cell`` (None for a layer without a cell state).
    """
    meta = session.get_modelmeta().custom_metadata_map
    if META_IO not in meta:
        raise ModelError(f"{path!r} has no lstm2onnx metadata ({META_IO}); build it with lstm2onnx (build/exportONNXNetwork)")
    where = _Where(path)
    io = _object(where, META_IO, _parse(where, META_IO, meta[META_IO]))
    inputs = {i.name: i for i in session.get_inputs()}
    outputs = {o.name: o for o in session.get_outputs()}

    sequences = _string(where, "sequences", io.get("sequences"))
    shape = _tensor(where, "input", sequences, inputs, _FLOAT, 3)
    features = shape[2]
    if not _size(features):
        raise ModelError(where(f"input {sequences!r} has shape {shape}; expected [batch, time, features] with a fixed number of features"))
    lengths = io.get("sequence_lengths")
    if lengths is not None:
        _tensor(where, "input", _string(where, "sequence_lengths", lengths), inputs, _INT32, 1)
    output = _string(where, "output", io.get("output"))
    sequence_output = io.get("sequence_output")
    if not isinstance(sequence_output, bool):
        raise ModelError(where(f"'sequence_output' must be true or false, got {sequence_output!r:.60}"))
    size = io.get("output_size")
    if not _size(size):
        raise ModelError(where(f"'output_size' must be a positive integer, got {size!r:.60}"))
    out_shape = _tensor(where, "output", output, outputs, _FLOAT, 3 if sequence_output else 2)
    if isinstance(out_shape[-1], int) and out_shape[-1] != size:
        raise ModelError(where(f"output {output!r} has {out_shape[-1]} values per step, but 'output_size' says {size}"))
    task = io.get("task")
    if task not in TASKS:
        raise ModelError(where(f"'task' must be one of {', '.join(TASKS)}, got {task!r:.60}"))
    states = io.get("states", [])
    if not isinstance(states, list):
        raise ModelError(where(f"'states' must be a list, got {type(states).__name__}"))
    used = {sequences, output} | ({lengths} if lengths else set())
    normalized = [_state(where, k, s, inputs, outputs, used) for k, s in enumerate(states, 1)]
    unknown = sorted(set(inputs) - used)
    if unknown:
        raise ModelError(where(f"the graph has inputs {unknown} that the metadata does not describe"))

    classes = _parse(where, META_CLASSES, meta.get(META_CLASSES, "null"))
    if classes is not None:
        if not isinstance(classes, list) or not all(isinstance(c, str) for c in classes):
            raise ModelError(where(f"{META_CLASSES} must be null or a list of strings, got {type(classes).__name__}", key=META_CLASSES))
        if len(classes) != size or len(set(classes)) != len(classes):
            raise ModelError(where(f"{META_CLASSES} lists {len(classes)} ({len(set(classes))} distinct) class names "
                                   f"for an output of {size} values", key=META_CLASSES))
    spec = _parse(where, META_SPEC, meta.get(META_SPEC, "[]"))
    if not isinstance(spec, list) or not all(isinstance(layer, dict) and isinstance(layer.get("type"), str) for layer in spec):
        raise ModelError(where(f"{META_SPEC} must be a list of layers, each with a 'type'", key=META_SPEC))
    return {**io, "features": features, "states": normalized}, classes, tuple(layer["type"] for layer in spec)


class _Where:
    """Formats a message about one file's metadata."""

    def __init__(self, path: str) -> None:
        self.path = path

    def __call__(self, message: str, key: str = META_IO) -> str:
        return f"{self.path!r}: bad lstm2onnx metadata ({key}): {message}"


def _parse(where: _Where, key: str, text: str) -> Any:
    if len(text) > MAX_TEXT:
        raise ModelError(where(f"{len(text)} characters, more than the {MAX_TEXT} allowed", key=key))
    if _depth(text) > MAX_DEPTH:
        raise ModelError(where(f"JSON nested more than {MAX_DEPTH} levels deep", key=key))
    try:
        return json.loads(text, parse_constant=_no_constant)
    except (ValueError, RecursionError) as error:
        raise ModelError(where(f"not valid JSON ({str(error)[:120]})", key=key)) from None


def _no_constant(name: str) -> float:
    raise ValueError(f"{name} is not JSON")


def _depth(text: str) -> int:
    """The deepest bracket nesting outside strings (a scan, no recursion)."""
    depth = deepest = 0
    in_string = escaped = False
    for char in text:
        if in_string:
            if escaped:
                escaped = False
            elif char == "\\":
                escaped = True
            elif char == '"':
                in_string = False
        elif char == '"':
            in_string = True
        elif char in "[{":
            depth += 1
            deepest = max(deepest, depth)
        elif char in "]}":
            depth -= 1
    return deepest


def _object(where: _Where, key: str, value: Any) -> dict:
    if not isinstance(value, dict):
        raise ModelError(where(f"expected a JSON object, got {type(value).__name__}", key=key))
    return value


def _string(where: _Where, name: str, value: Any) -> str:
    if not isinstance(value, str) or not value:
        raise ModelError(where(f"{name!r} must be a tensor name, got {value!r:.60}"))
    return value


def _size(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and value >= 1


def _tensor(where: _Where, kind: str, name: str, tensors: dict, dtype: str, rank: int) -> list:
    """The graph's shape for ``name``, after checking it is a ``kind`` of this dtype and rank."""
    if name not in tensors:
        raise ModelError(where(f"names {kind} {name!r:.80}, but the graph has no such {kind} (it has {sorted(tensors)[:8]})"))
    tensor = tensors[name]
    if tensor.type != dtype:
        raise ModelError(where(f"{kind} {name!r} is {tensor.type}, expected {dtype}"))
    shape = list(tensor.shape or [])
    if len(shape) != rank:
        raise ModelError(where(f"{kind} {name!r} has shape {shape}, expected {rank} dimensions"))
    return shape


def _state(where: _Where, k: int, entry: Any, inputs: dict, outputs: dict, used: set) -> dict:
    if not isinstance(entry, dict):
        raise ModelError(where(f"state entry {k} must be an object, got {type(entry).__name__}"))
    layer = _string(where, f"states[{k}].layer", entry.get("layer"))
    hidden = entry.get("hidden_size")
    if not _size(hidden):
        raise ModelError(where(f"state of layer {layer!r}: 'hidden_size' must be a positive integer, got {hidden!r:.60}"))
    has_cell = entry.get("cell_in") is not None or entry.get("cell_out") is not None
    parts = (("hidden", "HiddenState"), ("cell", "CellState")) if has_cell else (("hidden", "HiddenState"),)
    for part, state in parts:
        for direction, tensors, kind in (("in", inputs, "input"), ("out", outputs, "output")):
            key, expected = f"{part}_{direction}", f"{layer}.{state}.{direction}"
            name = entry.get(key)
            if name != expected:
                raise ModelError(where(f"state of layer {layer!r}: {key!r} must be {expected!r}, got {name!r:.80} "
                                       "(state names that do not match their layer would mix up states)"))
            if name in used:
                raise ModelError(where(f"tensor {name!r} is named twice"))
            used.add(name)
            shape = _tensor(where, kind, name, tensors, _FLOAT, 2)
            if isinstance(shape[1], int) and shape[1] != hidden:
                raise ModelError(where(f"{kind} {name!r} has shape {shape}, but layer {layer!r} has hidden_size {hidden}"))
        values = entry.get(f"initial_{part}")
        if not isinstance(values, list) or len(values) != hidden or not all(
                isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v) for v in values):
            raise ModelError(where(f"state of layer {layer!r}: 'initial_{part}' must be {hidden} finite numbers"))
    if not has_cell:
        entry = {**entry, "cell_in": None, "cell_out": None, "initial_cell": None}
    return entry
