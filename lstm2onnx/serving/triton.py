"""``lstm2onnx triton``: a Triton model repository for a stateful lstm2onnx model.

``write_repository(MODEL.onnx, REPO)`` writes ``REPO/NAME/config.pbtxt`` and
``REPO/NAME/1/model.onnx`` (plus ``1/model.py`` for the python backend and
``initial_state/`` files for non-zero initial states). Inputs and outputs keep
the graph's names (``sequences``, the first output's name). A model built
without state inputs/outputs is rebuilt first with them (the same builder, from
the spec and learnables stored in the file), so the copy computes the same
numbers.

Both backends use Triton's sequence batcher with the ``direct`` strategy: each
instance has ``max_batch`` slots, a sequence (correlation ID) holds one from
its START to its END or until it stays idle for ``idle_us``, and the requests
waiting in different slots are batched after at most ``queue_delay_us``. So
``max_batch x instances`` sequences are served at once; more wait in Triton's
backlog for a free slot.

- **onnxruntime** (Triton's containers, CPU or GPU): *implicit state*. One
  ``state`` entry per state tensor, ``input_name`` ``<layer>.HiddenState.in``,
  ``output_name`` ``<layer>.HiddenState.out`` (and CellState), dims ``[H]``
  (Triton adds the batch axis, matching the graph's batch-first ``[batch, H]``),
  initial state zeros or the layer's HiddenState/CellState from a ``data_file``
  (raw little-endian float32 in ``initial_state/``). Triton writes the initial
  state into a sequence's slot at START and carries the output state to its
  next request. And a START control input (``int32_false_true``): the
  onnxruntime backend loads a model only if every control input is a graph
  input of dims ``[1]`` (after the batch axis) and the control's data type
  (``ValidateBooleanSequenceControl`` in its ``src/onnxruntime.cc``), so the
  repository's copy of the graph gets a ``START`` input ``[batch, 1]`` int32
  that replaces each incoming state row by the initial state where it is 1
  (``Where``, so that whatever Triton passes at START, uninitialized memory
  included, never reaches the LSTM: Triton's docs say a starting request's
  input state is uninitialized unless ``initial_state`` is given). The reset is
  thus the graph's own, whatever Triton does at a START on a live correlation
  ID. Requests batched together must share a chunk length (Triton
  concatenates their tensors); streaming one step per request always does. A
  model built with ``sequence_lengths`` takes it as a per-request ``[1]``
  input, so clients may pad chunks to a common length.
- **python**: ``model.py`` imports ``lstm2onnx_runtime.triton.TritonPythonModel``
  (correlation ID -> StreamPool stream; see that module). Runs wherever Triton
  runs, including the server in the ``nvidia-pytriton`` wheel
  (``lstm2onnx serve``), and steps requests of different chunk lengths in one
  call.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import uuid
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import onnx

from ..builder import META_IO, build
from ..errors import Lstm2OnnxError

BACKENDS = ("python", "onnxruntime")
PROVIDERS = ("cpu", "cuda")
DEFAULT_MAX_BATCH = 64
DEFAULT_IDLE_US = 10_000_000
DEFAULT_QUEUE_DELAY_US = 1_000
INT32_MAX, UINT64_MAX = 2**31 - 1, 2**64 - 1
MODEL_PY = '''"""Triton python-backend model {name!r}, written by lstm2onnx triton: the serving logic is lstm2onnx_runtime.triton."""

from lstm2onnx_runtime.triton import TritonPythonModel  # noqa: F401
'''
_NAME = re.compile(r"[A-Za-z0-9_][A-Za-z0-9_.\-]*")
START = "START"  # the onnxruntime backend's START control: a graph input of the repository's copy (with_start_input)


@dataclass(frozen=True)
class StatePair:
    """One state tensor Triton carries: graph input/output names, its size H and its initial value ``[H]``."""

    input_name: str
    output_name: str
    size: int
    initial: np.ndarray

    @property
    def key(self) -> str:
        """The tensor's name without ``.in`` (e.g. ``lstm_1.HiddenState``): names the initial-state file."""
        return self.input_name.removesuffix(".in")


def write_repository(
    model_path: str | os.PathLike,
    repository: str | os.PathLike,
    *,
    name: str | None = None,
    backend: str = "python",
    max_batch: int = DEFAULT_MAX_BATCH,
    instances: int = 1,
    provider: str = "cpu",
    idle_us: int = DEFAULT_IDLE_US,
    queue_delay_us: int = DEFAULT_QUEUE_DELAY_US,
    intra_op_threads: int = 1,
) -> Path:
    """Write ``repository/name`` for Triton and return that folder.

    ``backend`` 'python' (default: runs on ``lstm2onnx serve`` and any Triton)
    or 'onnxruntime'; ``max_batch`` slots per instance; ``instances`` model
    instances (``KIND_CPU``, or ``KIND_GPU`` with ``provider`` 'cuda');
    ``idle_us``: Triton's ``max_sequence_idle_microseconds``; ``queue_delay_us``:
    how long a batch waits for more sequences' requests; ``intra_op_threads``:
    onnxruntime threads per python-backend instance (0: onnxruntime's default).
    ``repository`` is made if missing; an existing ``repository/name`` is
    replaced only once the new one is complete.
    """
    _check_options(backend, max_batch, instances, provider, idle_us, queue_delay_us, intra_op_threads)
    model = stateful_model(model_path)
    name = name if name is not None else _default_name(model_path)
    if not isinstance(name, str) or not _NAME.fullmatch(name):
        raise Lstm2OnnxError(f"triton: the model name must be letters, digits, '_', '.' or '-' (a folder name), got {name!r}")
    io = _io(model)
    pairs = state_pairs(model)
    repository = Path(repository)
    try:  # a new repository folder is made, as `tritonserver --model-repository` needs one to exist
        repository.mkdir(parents=True, exist_ok=True)
    except OSError as error:
        raise Lstm2OnnxError(f"triton: cannot make the repository folder {str(repository)!r}: {error.strerror or error}") from None
    if backend == "python":
        config = python_config(name, io, max_batch, instances, provider, idle_us, queue_delay_us, intra_op_threads)
    else:
        config = onnxruntime_config(name, io, pairs, max_batch, instances, provider, idle_us, queue_delay_us)
    final = repository / name
    staging = repository / f".{name}.{uuid.uuid4().hex}.part"
    try:
        (staging / "1").mkdir(parents=True)
        served = model if backend == "python" else with_start_input(model, pairs)
        (staging / "1" / "model.onnx").write_bytes(served.SerializeToString())
        (staging / "config.pbtxt").write_text(config, encoding="utf-8")
        if backend == "python":
            (staging / "1" / "model.py").write_text(MODEL_PY.format(name=name), encoding="utf-8")
        else:
            for pair in pairs:
                if pair.initial.any():
                    (staging / "initial_state").mkdir(exist_ok=True)
                    (staging / "initial_state" / _state_file(pair)).write_bytes(pair.initial.astype("<f4").tobytes())
        _replace_folder(staging, final)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return final


def stateful_model(model_path: str | os.PathLike) -> onnx.ModelProto:
    """The model at ``model_path`` if it carries state, else its stateful copy built from its stored spec and learnables.

    The copy keeps the original's ``sequence_lengths`` input, bilstm reading,
    opset and graph name.
    """
    path = os.fspath(model_path)
    try:
        model = onnx.load(path)
    except Exception as error:  # onnx raises several types for unreadable files
        raise Lstm2OnnxError(f"triton: cannot read {path!r} as an ONNX model: {error}") from None
    io = _io(model, path)
    if io.get("states"):
        return model
    from ..importer import load_onnx
    from ..quantize import dequantized_layers, is_quantized, requantized

    opset = next((o.version for o in model.opset_import if o.domain in ("", "ai.onnx")), None)
    try:
        layers = dequantized_layers(model) if is_quantized(model) else load_onnx(model)
        options = {"opset": opset} if opset else {}
        copy = build(layers, stateful=True, ragged=bool(io.get("sequence_lengths")), bilstm_last=io.get("bilstm_last", "matlab"),
                     name=model.graph.name or "lstm2onnx", **options)
        copy = requantized(copy, model) if is_quantized(model) else copy  # an int8 model's copy is int8 with its weights
    except Lstm2OnnxError as error:
        reason, streamable = str(error).partition("; build without stateful=True")[::2]
        if streamable:  # the builder's remedy is for its Python API; here the chunks are Triton's
            raise Lstm2OnnxError(f"triton: {path!r} cannot be served as a stateful sequence: {reason}. Triton's sequence "
                                 "batcher sends each sequence in chunks; predict whole sequences with lstm2onnx_runtime "
                                 "instead") from None
        raise Lstm2OnnxError(f"triton: cannot build a stateful copy of {path!r}: {error}") from None
    if not _io(copy, path).get("states"):
        raise Lstm2OnnxError(f"triton: {path!r} has no unidirectional lstmLayer or gruLayer whose state could be carried "
                             "between requests; serve it as a stateless model instead")
    return copy


def state_pairs(model: onnx.ModelProto) -> list[StatePair]:
    """The graph's state tensors, in the metadata's order, each checked against the graph: ``[batch, H]`` float32 in and out."""
    inputs = {i.name: i for i in model.graph.input}
    outputs = {o.name: o for o in model.graph.output}
    pairs = []
    for entry in _io(model).get("states", []):
        kinds = [("hidden_in", "hidden_out", "initial_hidden")]
        if entry.get("cell_in"):
            kinds.append(("cell_in", "cell_out", "initial_cell"))
        for name_in, name_out, initial in kinds:
            size = int(entry["hidden_size"])
            for where, table, tensor in (("input", inputs, entry[name_in]), ("output", outputs, entry[name_out])):
                value = table.get(tensor)
                dims = [d.dim_value if d.HasField("dim_value") else None for d in value.type.tensor_type.shape.dim] if value else None
                if value is None or value.type.tensor_type.elem_type != onnx.TensorProto.FLOAT or dims is None or len(dims) != 2 or dims[1] != size:
                    raise Lstm2OnnxError(f"triton: the metadata names state {where} {tensor!r} of size {size}, "
                                         f"but the graph has {'no such ' + where if value is None else 'shape ' + str(dims)}")
            pairs.append(StatePair(entry[name_in], entry[name_out], size, np.asarray(entry[initial], np.float32)))
    return pairs


def with_start_input(model: onnx.ModelProto, pairs: list[StatePair]) -> onnx.ModelProto:
    """A copy of ``model`` with a ``START`` input ``[batch, 1]`` int32 (Triton's CONTROL_SEQUENCE_START, 0 or 1):
    each state input row whose START is 1 is replaced by that state's initial value before any node reads it.

    ``Where(START, initial, state)`` rather than arithmetic, so that a NaN in the
    state Triton passes at START (uninitialized memory) cannot leak through.
    """
    graph = model.graph
    taken = {i.name for i in graph.input} | {t.name for t in graph.initializer} | {o for n in graph.node for o in n.output}
    started = {pair.input_name: f"{pair.input_name}.started" for pair in pairs}
    added = [START, f"{START}.bool", *started.values(), *(f"{pair.key}.initial" for pair in pairs)]
    if clash := taken.intersection(added):
        raise Lstm2OnnxError(f"triton: the graph already has tensors named {sorted(clash)}; the onnxruntime backend's copy "
                             "adds them for the START control")
    sequences = next(i for i in graph.input if i.name == _io(model)["sequences"])
    batch = sequences.type.tensor_type.shape.dim[0]
    start = onnx.helper.make_tensor_value_info(START, onnx.TensorProto.INT32, [batch.dim_param or batch.dim_value or None, 1])
    nodes = [onnx.helper.make_node("Cast", [START], [f"{START}.bool"], to=onnx.TensorProto.BOOL, name=f"{START}.cast")]
    initials = []
    for pair in pairs:
        initials.append(onnx.numpy_helper.from_array(pair.initial.reshape(1, -1).astype(np.float32), f"{pair.key}.initial"))
        nodes.append(onnx.helper.make_node("Where", [f"{START}.bool", f"{pair.key}.initial", pair.input_name],
                                           [started[pair.input_name]], name=f"{pair.key}.start"))
    copy = onnx.ModelProto()
    copy.CopyFrom(model)
    for node in copy.graph.node:
        node.input[:] = [started.get(name, name) for name in node.input]
    copy.graph.input.append(start)
    copy.graph.initializer.extend(initials)
    new_nodes = nodes + list(copy.graph.node)
    del copy.graph.node[:]
    copy.graph.node.extend(new_nodes)
    return copy


def onnxruntime_config(name: str, io: dict, pairs: list[StatePair], max_batch: int, instances: int, provider: str,
                       idle_us: int, queue_delay_us: int) -> str:
    """``config.pbtxt`` for Triton's onnxruntime backend with implicit state (see the module docstring)."""
    inputs = [_tensor(io["sequences"], "TYPE_FP32", [-1, io["features"]])]
    if io.get("sequence_lengths"):
        inputs.append(_tensor(io["sequence_lengths"], "TYPE_INT32", [1], reshape=[]))
    states = []
    for pair in pairs:
        if pair.initial.any():
            initial = f'data_type: TYPE_FP32 dims: [ {pair.size} ] data_file: {_quote(_state_file(pair))} name: {_quote(pair.key)}'
        else:
            initial = f'data_type: TYPE_FP32 dims: [ {pair.size} ] zero_data: true name: {_quote(pair.key)}'
        states.append(f"    {{\n      input_name: {_quote(pair.input_name)}\n      output_name: {_quote(pair.output_name)}\n"
                      f"      data_type: TYPE_FP32\n      dims: [ {pair.size} ]\n      initial_state: {{ {initial} }}\n    }}")
    batching = (f"sequence_batching {{\n  max_sequence_idle_microseconds: {idle_us}\n"
                f"  direct {{ max_queue_delay_microseconds: {queue_delay_us} }}\n"
                "  # START is also a graph input of this copy, [batch, 1] int32: where it is 1 the graph itself replaces the\n"
                "  # incoming state by the initial state (the onnxruntime backend loads a model only if every control input is\n"
                "  # a graph input of dims [1] and the control's data type; see lstm2onnx/serving/triton.py)\n"
                f'  control_input [ {{ name: "{START}" control [ {{ kind: CONTROL_SEQUENCE_START int32_false_true: [ 0, 1 ] }} ] }} ]\n'
                "  state [\n" + ",\n".join(states) + "\n  ]\n}\n")
    return _config(name, "onnxruntime", max_batch, inputs, io, batching, instances, provider, [])


def python_config(name: str, io: dict, max_batch: int, instances: int, provider: str, idle_us: int, queue_delay_us: int,
                  intra_op_threads: int) -> str:
    """``config.pbtxt`` for the python backend: the four sequence controls, the runtime's parameters."""
    controls = [
        f'    {{ name: "{short}" control [ {{ kind: {kind} {values} }} ] }}'
        for short, kind, values in (
            ("START", "CONTROL_SEQUENCE_START", "int32_false_true: [ 0, 1 ]"),
            ("END", "CONTROL_SEQUENCE_END", "int32_false_true: [ 0, 1 ]"),
            ("READY", "CONTROL_SEQUENCE_READY", "int32_false_true: [ 0, 1 ]"),
            ("CORRID", "CONTROL_SEQUENCE_CORRID", "data_type: TYPE_UINT64"),
        )
    ]
    batching = (f"sequence_batching {{\n  max_sequence_idle_microseconds: {idle_us}\n  control_input [\n" + ",\n".join(controls)
                + f"\n  ]\n  direct {{ max_queue_delay_microseconds: {queue_delay_us} }}\n}}\n")
    parameters = [("provider", provider), ("intra_op_threads", str(intra_op_threads)), ("model_file", "model.onnx")]
    return _config(name, "python", max_batch, [_tensor(io["sequences"], "TYPE_FP32", [-1, io["features"]])], io, batching,
                   instances, provider, parameters)


def _config(name: str, backend: str, max_batch: int, inputs: list[str], io: dict, batching: str, instances: int, provider: str,
            parameters: list[tuple[str, str]]) -> str:
    output_dims = [-1, io["output_size"]] if io["sequence_output"] else [io["output_size"]]
    text = (f"# written by lstm2onnx triton\nname: {_quote(name)}\nbackend: \"{backend}\"\nmax_batch_size: {max_batch}\n"
            "input [\n" + ",\n".join(inputs) + "\n]\n"
            "output [\n" + _tensor(io["output"], "TYPE_FP32", output_dims) + "\n]\n"
            + batching
            + f"instance_group [ {{ count: {instances} kind: {'KIND_GPU' if provider == 'cuda' else 'KIND_CPU'} }} ]\n")
    if parameters:
        text += "parameters [\n" + ",\n".join(f"  {{ key: {_quote(k)} value: {{ string_value: {_quote(v)} }} }}" for k, v in parameters) + "\n]\n"
    return text


def _tensor(name: str, data_type: str, dims: list[int], reshape: list[int] | None = None) -> str:
    text = f"  {{ name: {_quote(name)} data_type: {data_type} dims: [ {', '.join(map(str, dims))} ]"
    if reshape is not None:
        text += f" reshape: {{ shape: [ {', '.join(map(str, reshape))} ] }}"
    return text + " }"


def _quote(text: str) -> str:
    """A protobuf text-format string: printable ASCII as is, quotes and backslashes escaped, every other byte octal."""
    out = []
    for byte in text.encode("utf-8"):
        if byte in (0x22, 0x5C):
            out.append("\\" + chr(byte))
        elif 0x20 <= byte < 0x7F:
            out.append(chr(byte))
        else:
            out.append(f"\\{byte:03o}")
    return '"' + "".join(out) + '"'


def _state_file(pair: StatePair) -> str:
    return re.sub(r"[^A-Za-z0-9_.\-]", "_", pair.key) + ".f32"


def _io(model: onnx.ModelProto, path: str = "the model") -> dict:
    """The model's ``lstm2onnx.io`` metadata plus ``features`` (the graph's F)."""
    meta = {p.key: p.value for p in model.metadata_props}
    if META_IO not in meta:
        raise Lstm2OnnxError(f"triton: {path!r} has no lstm2onnx metadata ({META_IO}); build it with lstm2onnx")
    try:
        io = json.loads(meta[META_IO])
        sequences = next(i for i in model.graph.input if i.name == io["sequences"])
        io["features"] = sequences.type.tensor_type.shape.dim[2].dim_value
    except (ValueError, KeyError, TypeError, StopIteration, IndexError):
        raise Lstm2OnnxError(f"triton: {path!r} has damaged lstm2onnx metadata ({META_IO})") from None
    return io


def _default_name(model_path: str | os.PathLike) -> str:
    stem = os.path.splitext(os.path.basename(os.fspath(model_path)))[0]
    return re.sub(r"[^A-Za-z0-9_.\-]", "_", stem).lstrip(".-") or "lstm2onnx"


def _replace_folder(staging: Path, final: Path) -> None:
    """Move the complete ``staging`` folder to ``final``; an old ``final`` is removed only after the move."""
    old = None
    if final.exists():
        old = final.with_name(f".{final.name}.{uuid.uuid4().hex}.old")
        os.replace(final, old)
    try:
        os.replace(staging, final)
    except OSError:
        if old is not None:
            os.replace(old, final)
        raise
    if old is not None:
        shutil.rmtree(old, ignore_errors=True)


def _check_options(backend: str, max_batch: int, instances: int, provider: str, idle_us: int, queue_delay_us: int,
                   intra_op_threads: int) -> None:
    if backend not in BACKENDS:
        raise Lstm2OnnxError(f"triton: backend must be one of {', '.join(BACKENDS)}, got {backend!r}")
    if provider not in PROVIDERS:
        raise Lstm2OnnxError(f"triton: provider must be one of {', '.join(PROVIDERS)}, got {provider!r}")
    # the upper bounds are the fields' types in Triton's model_config.proto (int32, uint64); intra_op_threads is an int
    for option, value, least, most in (("max_batch", max_batch, 1, INT32_MAX), ("instances", instances, 1, INT32_MAX),
                                       ("idle_us", idle_us, 1, UINT64_MAX), ("queue_delay_us", queue_delay_us, 0, UINT64_MAX),
                                       ("intra_op_threads", intra_op_threads, 0, INT32_MAX)):
        if isinstance(value, bool) or not isinstance(value, int) or not least <= value <= most:
            raise Lstm2OnnxError(f"triton: {option} must be an integer from {least} to {most:,}, got {value!r}")
