"""Layer array -> ONNX model: :func:`build` and MATLAB's :func:`exportONNXNetwork`.

The model's interface (all names stable, listed in ``metadata_props``):

- input ``sequences`` float32 ``[batch, time, features]``;
- ``ragged=True``: input ``sequence_lengths`` int32 ``[batch]``;
- ``stateful=True``: for every lstmLayer ``L``, inputs ``L.HiddenState.in`` and
  ``L.CellState.in`` float32 ``[batch, H]`` and outputs ``L.HiddenState.out``,
  ``L.CellState.out`` (the state after each sequence's last valid step); for
  every gruLayer ``G`` only ``G.HiddenState.in`` / ``G.HiddenState.out``; a
  bilstmLayer is refused (its backward direction cannot be carried forward in time);
- first output: ``probabilities`` (softmax/classification), ``responses``
  (regression) or ``outputs``; ``[batch, time, K]`` for sequence output,
  ``[batch, K]`` after OutputMode 'last'.
"""

from __future__ import annotations

import json
import os
from typing import Any, Sequence

import numpy as np
import onnx
from onnx import TensorProto, helper

from .. import values
from .._files import atomic_write
from .._version import __version__
from ..errors import Lstm2OnnxError
from ..layers import Layer, SoftmaxLayer
from ..network import Network, analyze, initialize
from .emitters import BATCH, SEQUENCE_LENGTHS, SEQUENCES, TIME, EmitContext, Tensor, emitter_for
from .emitters.convolution import time_windows
from .emitters.embedding import word_indices
from .graph import Graph

DEFAULT_OPSET = 17
MIN_OPSET = 14  # LSTM-14 (layout attribute), Squeeze/Unsqueeze with axes as inputs
BILSTM_LAST = ("matlab", "final-state")

# metadata_props keys
META_SPEC = "lstm2onnx.spec"
META_CLASSES = "lstm2onnx.classes"
META_IO = "lstm2onnx.io"
META_VERSION = "lstm2onnx.version"


def max_opset() -> int:
    """The newest ONNX opset the installed onnx package knows."""
    return onnx.defs.onnx_opset_version()


def build(
    layers: Sequence[Layer] | Any,
    *,
    seed: int = 0,
    ragged: bool = False,
    stateful: bool = False,
    opset: int = DEFAULT_OPSET,
    bilstm_last: str = "matlab",
    name: str = "lstm2onnx",
) -> onnx.ModelProto:
    """Build a checked ONNX model from a layer array (or a trained network with ``.Layers``).

    Unset learnables are drawn MATLAB's way from ``seed`` (see
    :func:`lstm2onnx.initialize`). ``ragged`` adds the ``sequence_lengths``
    input; ``stateful`` adds state inputs/outputs for every unidirectional
    lstmLayer and gruLayer;
    ``bilstm_last`` chooses what a bilstm with OutputMode 'last' returns:
    'matlab' (the last step of its sequence output, as MATLAB's predict) or
    'final-state' (both directions' final states, ONNX Y_h, as Keras/PyTorch).
    The model passes ``onnx.checker`` (full check) and strict shape inference.
    """
    classes = getattr(layers, "Classes", None)  # a trained network's class names (trainnet's network has no output layer)
    layers = getattr(layers, "Layers", layers)
    _check_options(seed=seed, ragged=ragged, stateful=stateful, opset=opset, bilstm_last=bilstm_last, name=name)
    network = analyze(initialize(layers, seed))
    graph = Graph()
    features = network.input_layer.InputSize
    x = Tensor(graph.add_input(SEQUENCES, TensorProto.FLOAT, [BATCH, TIME, features]), features, True)
    lengths = graph.add_input(SEQUENCE_LENGTHS, TensorProto.INT32, [BATCH]) if ragged else None
    ctx = EmitContext(graph, lengths=lengths, stateful=stateful, bilstm_last=bilstm_last, opset=opset)
    for info in network.infos:
        x = emitter_for(info.layer)(ctx, info.layer, x)

    output = _output_name(network)
    if x.sequence:
        graph.add_output(graph.op("Transpose", [x.name], "output", perm=[1, 0, 2]), output, [BATCH, ctx.time, x.size])
    else:
        graph.add_output(x.name, output, [BATCH, x.size])
    for io, h_T, c_T in ctx.states:
        graph.add_output(h_T, io.hidden_out, [BATCH, io.hidden_size])
        if io.cell_out is not None:
            graph.add_output(c_T, io.cell_out, [BATCH, io.hidden_size])

    opsets = [helper.make_opsetid("", opset)]
    model = helper.make_model(
        graph.to_graph(name),
        opset_imports=opsets,
        ir_version=helper.find_min_ir_version_for(opsets),
        producer_name="lstm2onnx",
        producer_version=__version__,
        doc_string=f"Built by lstm2onnx {__version__} from a MATLAB-style layer array",
    )
    helper.set_model_props(model, _metadata(network, ctx, output, classes))
    onnx.checker.check_model(model, full_check=True)
    return onnx.shape_inference.infer_shapes(model, check_type=True, strict_mode=True, data_prop=True)


def exportONNXNetwork(net: Sequence[Layer] | Any, filename: str | os.PathLike, *args: Any, **kwargs: Any) -> None:
    """MATLAB's ``exportONNXNetwork(net, filename, 'OpsetVersion', 17, 'NetworkName', 'net')``.

    Options (MATLAB name-value pairs or keywords, names case-insensitive):
    ``OpsetVersion`` (default 17), ``NetworkName``, and :func:`build`'s
    ``seed``, ``ragged``, ``stateful``, ``bilstm_last``; ``Quantize`` 'none'
    (default) or 'int8' (:func:`lstm2onnx.quantize.quantize`: onnxruntime's dynamic
    quantization, same inputs, outputs and metadata). The file is written
    atomically: on any error no file (and no partial file) is left behind.
    """
    options = _export_options(args, kwargs)
    quantization = options.pop("quantize", "none")
    if not isinstance(quantization, str) or quantization.lower() not in QUANTIZE:
        raise Lstm2OnnxError(f"exportONNXNetwork: Quantize must be one of {', '.join(map(repr, QUANTIZE))}, got {quantization!r}")
    model = build(net, **options)
    if quantization.lower() == "int8":
        from ..quantize import quantize

        model = quantize(model)
    path = os.fspath(filename)
    if not path.lower().endswith(".onnx"):
        raise Lstm2OnnxError(f"exportONNXNetwork: filename must end in .onnx, got {path!r}")
    directory = os.path.dirname(os.path.abspath(path))
    if not os.path.isdir(directory):
        raise Lstm2OnnxError(f"exportONNXNetwork: folder {directory!r} does not exist")
    with atomic_write(path) as handle:  # errors name `path`, never the temporary file
        handle.write(model.SerializeToString())


EXPORT_OPTIONS = {"OpsetVersion": "opset", "NetworkName": "name", "seed": "seed", "ragged": "ragged", "stateful": "stateful",
                  "bilstm_last": "bilstm_last", "Quantize": "quantize"}
QUANTIZE = ("none", "int8")


def _export_options(args: tuple, kwargs: dict[str, Any]) -> dict[str, Any]:
    options = values.name_value("exportONNXNetwork", args, kwargs, list(EXPORT_OPTIONS))
    return {EXPORT_OPTIONS[name]: value for name, value in options.items()}


def _check_options(*, seed, ragged, stateful, opset, bilstm_last, name) -> None:
    for flag, value in (("ragged", ragged), ("stateful", stateful)):
        if not isinstance(value, (bool, np.bool_)):
            raise Lstm2OnnxError(f"build: {flag} must be True or False, got {value!r}")
    newest = max_opset()
    if isinstance(opset, bool) or not isinstance(opset, (int, np.integer)) or not MIN_OPSET <= opset <= newest:
        raise Lstm2OnnxError(f"build: OpsetVersion must be an integer from {MIN_OPSET} to {newest}, got {opset!r}")
    if bilstm_last not in BILSTM_LAST:
        raise Lstm2OnnxError(f"build: bilstm_last must be one of {', '.join(map(repr, BILSTM_LAST))}, got {bilstm_last!r}")
    if not isinstance(name, str) or not name:
        raise Lstm2OnnxError(f"build: NetworkName must be a non-empty string, got {name!r}")
    if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)) or seed < 0:
        raise Lstm2OnnxError(f"build: seed must be a nonnegative integer, got {seed!r}")


def _output_name(network: Network) -> str:
    if network.task == "classification" or any(isinstance(i.layer, SoftmaxLayer) for i in network.infos[-2:]):
        return "probabilities"
    if network.task == "regression":
        return "responses"
    return "outputs"


def _state_values(value: np.ndarray | None, size: int) -> list[float]:
    return np.zeros(size).tolist() if value is None else np.asarray(value, np.float64).tolist()


def _metadata(network: Network, ctx: EmitContext, output: str, classes: Sequence[str] | None = None) -> dict[str, str]:
    """``metadata_props``: the spec, the class names, the I/O contract and the producer version.

    Each state entry names its layer's tensors; a layer without a cell state
    (gruLayer) has ``cell_in``, ``cell_out`` and ``initial_cell`` null.
    """
    states = []
    for io, _, _ in ctx.states:
        layer = next(i.layer for i in network.infos if i.layer.Name == io.layer)
        states.append(
            {
                "layer": io.layer,
                "hidden_size": io.hidden_size,
                "hidden_in": io.hidden_in,
                "cell_in": io.cell_in,
                "hidden_out": io.hidden_out,
                "cell_out": io.cell_out,
                "initial_hidden": _state_values(layer.HiddenState, io.hidden_size),
                "initial_cell": _state_values(layer.CellState, io.hidden_size) if io.cell_in else None,
            }
        )
    io = {
        "sequences": SEQUENCES,
        "sequence_lengths": ctx.input_lengths,
        "output": output,
        "output_size": network.output_size,
        "sequence_output": network.sequence_output,
        "task": network.task,
        "bilstm_last": ctx.bilstm_last,
        "time_windows": time_windows(network.layers),
        "word_indices": word_indices(network.layers),
        "states": states,
    }
    if network.input_layer.MinLength > 1:  # absent means 1 (see lstm2onnx_runtime.input_rules)
        io["min_length"] = network.input_layer.MinLength
    return {
        META_SPEC: json.dumps(network.layers.to_dict(learnables=False)),
        META_CLASSES: json.dumps(network.classes or (list(classes) if classes else None)),
        META_IO: json.dumps(io),
        META_VERSION: __version__,
    }
