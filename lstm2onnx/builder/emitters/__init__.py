"""One emitter per layer kind, registered by layer class.

Inside the graph, sequences are time-major ``[T, N, C]`` (the LSTM
operator's layout 0, the only one onnxruntime's CPU kernel accepts) and a
single time step is ``[N, C]``; the edges transpose from and to the
batch-first interface.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import cached_property
from typing import Callable

import numpy as np
from onnx import TensorProto

from ... import gates
from ...layers import (
    ClassificationOutputLayer,
    DropoutLayer,
    FullyConnectedLayer,
    Layer,
    LSTMLayer,
    RegressionOutputLayer,
    SequenceInputLayer,
    SoftmaxLayer,
    divisor,
)
from ...errors import Lstm2OnnxError
from ..graph import Graph

SEQUENCES = "sequences"
SEQUENCE_LENGTHS = "sequence_lengths"
BATCH, TIME = "batch", "time"

GATE_ACTIVATIONS = {"sigmoid": "Sigmoid", "hard-sigmoid": "HardSigmoid"}
STATE_ACTIVATIONS = {"tanh": "Tanh", "softsign": "Softsign"}
HARD_SIGMOID_ALPHA, HARD_SIGMOID_BETA = 0.2, 0.5  # MATLAB's 0.2 x + 0.5, clipped to [0, 1]


@dataclass(frozen=True)
class Tensor:
    """A value flowing between layers: time-major ``[T, N, size]`` if ``sequence`` else ``[N, size]``."""

    name: str
    size: int
    sequence: bool


@dataclass(frozen=True)
class StateIO:
    """The state inputs/outputs of one unidirectional recurrent layer in a stateful graph.

    An LSTM carries a hidden and a cell state; a GRU only a hidden state (``cell_in``/``cell_out`` None).
    """

    layer: str
    hidden_size: int
    hidden_in: str
    cell_in: str | None
    hidden_out: str
    cell_out: str | None

    @staticmethod
    def for_layer(name: str, hidden_size: int, cell: bool = True) -> "StateIO":
        return StateIO(
            name,
            hidden_size,
            f"{name}.HiddenState.in",
            f"{name}.CellState.in" if cell else None,
            f"{name}.HiddenState.out",
            f"{name}.CellState.out" if cell else None,
        )


@dataclass
class EmitContext:
    """What emitters share: the graph, the build options and lazily built helper tensors."""

    graph: Graph
    lengths: str | None  # int32 [N] valid lengths (input sequence_lengths), None for full-length batches
    stateful: bool
    bilstm_last: str
    states: list[tuple[StateIO, str, str | None]] = field(default_factory=list)  # (io, h_T tensor, c_T tensor or None)
    opset: int = 17  # the model's default-domain opset: emitters choose operators the opset has
    time: str = TIME  # the name of sequence outputs' time dimension ('output_time' once a stage changes lengths)

    def __post_init__(self) -> None:
        self.input_lengths = self.lengths  # the graph input; ``lengths`` follows the stages that change lengths

    def set_lengths(self, lengths: str) -> None:
        """Hand later layers new int32 ``[N]`` lengths (a strided or padded convolution/pooling changes them)."""
        self.lengths = lengths
        self.__dict__.pop("last_index", None)

    def valid_steps(self, x: str, hint: str) -> str:
        """bool ``[T, N, 1]`` for a time-major ``x``: step t of sequence n is before its length (``lengths`` set)."""
        g = self.graph
        T = g.op("Gather", [g.op("Shape", [x], hint), g.const("zero_scalar", 0, np.int64)], hint, axis=0)
        steps = g.op("Range", [g.const("zero_scalar", 0, np.int64), T, g.const("one_scalar", 1, np.int64)], hint)
        lengths = g.op("Cast", [self.lengths], hint, to=TensorProto.INT64)
        valid = g.op("Less", [g.op("Unsqueeze", [steps, g.const("axis_1", [1], np.int64)], hint), lengths], hint)  # [T, N]
        return g.op("Unsqueeze", [valid, g.const("axis_2", [2], np.int64)], hint)

    @cached_property
    def last_index(self) -> str:
        """int64 ``[N, 1]``: each sequence's last valid step, for GatherND."""
        g = self.graph
        lengths = g.op("Cast", [self.lengths], "last_index", to=TensorProto.INT64)
        last = g.op("Sub", [lengths, g.const("one", [1], np.int64)], "last_index")
        return g.op("Unsqueeze", [last, g.const("axis_1", [1], np.int64)], "last_index")

    @cached_property
    def batch_dim(self) -> str:
        """int64 ``[1]``: N, read from the input's shape."""
        g = self.graph
        shape = g.op("Shape", [SEQUENCES], "batch_dim")
        return g.op("Gather", [shape, g.const("zero", [0], np.int64)], "batch_dim", axis=0)


Emitter = Callable[[EmitContext, Layer, Tensor], Tensor]
EMITTERS: dict[type[Layer], Emitter] = {}


def emits(layer_type: type[Layer]) -> Callable[[Emitter], Emitter]:
    def register(emitter: Emitter) -> Emitter:
        EMITTERS[layer_type] = emitter
        return emitter

    return register


def emitter_for(layer: Layer) -> Emitter:
    for cls in type(layer).__mro__:
        if cls in EMITTERS:
            return EMITTERS[cls]
    raise NotImplementedError(f"no ONNX emitter for {layer.FUNCTION}")


# -- sequence input ------------------------------------------------------------------------------


@emits(SequenceInputLayer)
def emit_sequence_input(ctx: EmitContext, layer: SequenceInputLayer, x: Tensor) -> Tensor:
    """Normalize the batch-first input per feature, then go time-major."""
    g, name = ctx.graph, layer.Name
    data = x.name

    def stat(prop: str) -> np.ndarray:
        return np.asarray(getattr(layer, prop), dtype=np.float64)

    mode = layer.Normalization
    if mode in ("zerocenter", "zscore"):
        data = g.op("Sub", [data, g.const(f"{name}.Mean", stat("Mean"))], name)
        if mode == "zscore":
            data = g.op("Div", [data, g.const(f"{name}.StandardDeviation", divisor(stat("StandardDeviation")))], name)
    elif mode in ("rescale-zero-one", "rescale-symmetric"):
        lo, span = stat("Min"), divisor(stat("Max") - stat("Min"))
        data = g.op("Sub", [data, g.const(f"{name}.Min", lo)], name)
        if mode == "rescale-zero-one":
            data = g.op("Div", [data, g.const(f"{name}.Range", span)], name)
        else:  # 2 (x - Min) / (Max - Min) - 1, with the factor 2 folded into the divisor
            data = g.op("Div", [data, g.const(f"{name}.HalfRange", span / 2.0)], name)
            data = g.op("Sub", [data, g.const("one_f", 1.0)], name)
    data = g.op("Transpose", [data], name, perm=[1, 0, 2])
    return Tensor(data, layer.InputSize, True)


# -- recurrent layers ----------------------------------------------------------------------------


@emits(LSTMLayer)
def emit_lstm(ctx: EmitContext, layer: LSTMLayer, x: Tensor) -> Tensor:
    """One standard ONNX LSTM node (lstm or bilstm), never unrolled.

    A one-step input (after OutputMode 'last') runs as a sequence of length 1
    and gives one step ``[N, H]`` (``[N, 2H]``) whatever the OutputMode.
    """
    g, name, H = ctx.graph, layer.Name, layer.NumHiddenUnits
    bidirectional = layer.DIRECTIONS == 2
    if ctx.stateful and bidirectional:
        raise Lstm2OnnxError(
            f"{layer.where()}: a stateful graph carries each layer's state from one chunk to the next (MATLAB's "
            "predictAndUpdateState), but a bilstmLayer's backward direction runs from the end of the whole sequence, "
            "so it cannot be carried forward in time and a chunked run would give wrong numbers; "
            "build without stateful=True and predict whole sequences"
        )
    streams = ctx.stateful
    one_step = not x.sequence
    last = layer.OutputMode == "last" or one_step
    need_y = not last or (bidirectional and ctx.bilstm_last == "matlab" and not one_step)
    need_h = (last and not need_y) or streams
    state_io = StateIO.for_layer(name, H) if streams else None

    X, lengths = recurrent_input(ctx, x)
    W, R, B = _lstm_parameters(ctx, layer)
    h0 = initial_state(ctx, layer, "HiddenState", state_io.hidden_in if state_io else None, "hidden_in")
    c0 = initial_state(ctx, layer, "CellState", state_io.cell_in if state_io else None, "cell_in")
    outputs = trimmed([g.name(f"{name}/Y") if need_y else "", g.name(f"{name}/Y_h") if need_h else "", g.name(f"{name}/Y_c") if streams else ""])
    g.op("LSTM", trimmed([X, W, R, B, lengths, h0, c0]), name, outputs=outputs, hidden_size=H, **_lstm_attributes(layer))
    Y = outputs[0]
    Y_h = outputs[1] if need_h else None

    if state_io is not None:
        ctx.states.append((state_io, squeeze_state(g, Y_h, f"{name}/hidden_out"), squeeze_state(g, outputs[2], f"{name}/cell_out")))

    size = layer.state_size
    if last and (not bidirectional or one_step or ctx.bilstm_last == "final-state"):
        return Tensor(final_states(g, name, Y_h, layer.DIRECTIONS), size, False)
    if not last:
        if bidirectional:  # [T, 2, N, H] -> [T, N, 2H]: forward then backward features
            Y = g.op("Transpose", [Y], name, perm=[0, 2, 1, 3])
            return Tensor(g.op("Reshape", [Y, g.const("shape_0_0_m1", [0, 0, -1], np.int64)], name), size, True)
        return Tensor(g.op("Squeeze", [Y, g.const("axis_1", [1], np.int64)], name), size, True)
    if ctx.lengths is None:  # MATLAB: the last step of the sequence output
        both = g.op("Gather", [Y, g.const("minus_one", -1, np.int64)], name, axis=0)
        both = g.op("Transpose", [both], name, perm=[1, 0, 2])
    else:  # each sequence's last valid step: [T, 2, N, H] -> [N, T, 2, H] -> [N, 2, H]
        batch_major = g.op("Transpose", [Y], name, perm=[2, 0, 1, 3])
        both = g.op("GatherND", [batch_major, ctx.last_index], name, batch_dims=1)
    return Tensor(g.op("Reshape", [both, g.const("shape_0_m1", [0, -1], np.int64)], name), size, False)


def _lstm_parameters(ctx: EmitContext, layer: LSTMLayer) -> tuple[str, str, str]:
    rows = 4 * layer.NumHiddenUnits
    dirs = range(layer.DIRECTIONS)
    W, R, B = gates.to_onnx_lstm(
        [layer.InputWeights[d * rows : (d + 1) * rows] for d in dirs],
        [layer.RecurrentWeights[d * rows : (d + 1) * rows] for d in dirs],
        [layer.Bias[d * rows : (d + 1) * rows] for d in dirs],
        src=gates.MATLAB,
    )
    g = ctx.graph
    return g.const(f"{layer.Name}.W", W), g.const(f"{layer.Name}.R", R), g.const(f"{layer.Name}.B", B)


def _lstm_attributes(layer: LSTMLayer) -> dict:
    """direction and the activations [f, g, h] per direction (see :func:`activation_attributes`)."""
    attrs = activation_attributes(layer, state_slots=2)
    if layer.DIRECTIONS == 2:
        attrs["direction"] = "bidirectional"
    return attrs


# -- what every recurrent emitter shares (LSTM, GRU) ----------------------------------------------


def trimmed(names: list[str]) -> list[str]:
    """A node's input/output list without its trailing unset ("") optional entries."""
    names = list(names)
    while names and names[-1] == "":
        names.pop()
    return names


def recurrent_input(ctx: EmitContext, x: Tensor) -> tuple[str, str]:
    """``(X, sequence_lens)`` for a recurrent node: X time-major ``[T, N, C]``, lengths "" when all are full.

    A one-step input ``[N, C]`` (after OutputMode 'last') becomes ``[1, N, C]``:
    every sequence is one valid step, so no ``sequence_lens``.
    """
    if x.sequence:
        return x.name, ctx.lengths or ""
    g = ctx.graph
    return g.op("Unsqueeze", [x.name, g.const("axis_0", [0], np.int64)], "one_step"), ""


def initial_state(ctx: EmitContext, layer: Layer, prop: str, graph_input: str | None, hint: str) -> str:
    """A recurrent node's ``initial_h``/``initial_c`` ``[dirs, N, H]`` from state property ``prop``.

    Stateful: the batch-first graph input ``graph_input`` ``[batch, H]``,
    unsqueezed. Otherwise a constant expanded over the batch when the
    property is set and non-zero, else unset ("": ONNX's zeros).
    """
    g, H, dirs = ctx.graph, layer.NumHiddenUnits, layer.DIRECTIONS
    if graph_input is not None:
        value = g.add_input(graph_input, TensorProto.FLOAT, [BATCH, H])
        return g.op("Unsqueeze", [value, g.const("axis_0", [0], np.int64)], f"{layer.Name}/{hint}")
    value = getattr(layer, prop)
    if value is None or not np.any(value):
        return ""
    shape = g.op("Concat", [g.const("dirs", [dirs], np.int64), ctx.batch_dim, g.const("hidden", [H], np.int64)], f"{layer.Name}/{prop}", axis=0)
    per_direction = g.const(f"{layer.Name}.{prop}", np.asarray(value).reshape(dirs, 1, H))
    return g.op("Expand", [per_direction, shape], f"{layer.Name}/{prop}")


def squeeze_state(g: Graph, state: str, hint: str) -> str:
    """A unidirectional node's final state ``[1, N, H]`` as the batch-first ``[N, H]`` a stateful graph outputs."""
    return g.op("Squeeze", [state, g.const("axis_0", [0], np.int64)], hint)


def final_states(g: Graph, name: str, Y_h: str, dirs: int) -> str:
    """``Y_h`` ``[dirs, N, H]`` as one step ``[N, dirs*H]`` (forward then backward features)."""
    if dirs == 1:
        return g.op("Squeeze", [Y_h, g.const("axis_0", [0], np.int64)], name)
    both = g.op("Transpose", [Y_h], name, perm=[1, 0, 2])
    return g.op("Reshape", [both, g.const("shape_0_m1", [0, -1], np.int64)], name)


def activation_attributes(layer: Layer, state_slots: int) -> dict:
    """``activations`` (only when not ONNX's defaults) and HardSigmoid's alpha/beta (only when used).

    Per direction ONNX lists the gate activation, then the state activation
    ``state_slots`` times (LSTM: [f, g, h]; GRU: [f, g]). onnxruntime's CUDA
    provider hands a node back to the CPU when it merely carries
    activation_alpha/beta or clip, so those appear only for hard-sigmoid.
    """
    attrs: dict = {}
    dirs = layer.DIRECTIONS
    gate = GATE_ACTIVATIONS[layer.GateActivationFunction]
    state = STATE_ACTIVATIONS[layer.StateActivationFunction]
    if (gate, state) != ("Sigmoid", "Tanh"):
        attrs["activations"] = [gate, *[state] * state_slots] * dirs
    if gate == "HardSigmoid":  # alphas/betas are consumed in order by the activations that take them
        attrs["activation_alpha"] = [HARD_SIGMOID_ALPHA] * dirs
        attrs["activation_beta"] = [HARD_SIGMOID_BETA] * dirs
    return attrs


# -- heads ---------------------------------------------------------------------------------------


@emits(FullyConnectedLayer)
def emit_fully_connected(ctx: EmitContext, layer: FullyConnectedLayer, x: Tensor) -> Tensor:
    """y = x Wᵀ + b on the last axis, so it applies per time step."""
    g, name = ctx.graph, layer.Name
    y = g.op("MatMul", [x.name, g.const(f"{name}.Weights.T", np.asarray(layer.Weights).T)], name)
    y = g.op("Add", [y, g.const(f"{name}.Bias", layer.Bias)], name)
    return Tensor(y, layer.OutputSize, x.sequence)


@emits(SoftmaxLayer)
def emit_softmax(ctx: EmitContext, layer: SoftmaxLayer, x: Tensor) -> Tensor:
    return Tensor(ctx.graph.op("Softmax", [x.name], layer.Name, axis=-1), x.size, x.sequence)


@emits(DropoutLayer)
@emits(ClassificationOutputLayer)
@emits(RegressionOutputLayer)
def emit_identity(ctx: EmitContext, layer: Layer, x: Tensor) -> Tensor:
    """Dropout is the identity at inference; output layers are training losses. No nodes."""
    return x


# -- layer families (imported last: they register with @emits) ---------------------------------

from . import activation, normalization  # noqa: E402,F401
from . import gru  # noqa: E402,F401
from . import projected  # noqa: E402,F401
from . import convolution, embedding  # noqa: E402,F401
from . import group_normalization  # noqa: E402,F401
from . import attention  # noqa: E402,F401
