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
)
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
    """The state inputs/outputs of one unidirectional recurrent layer in a stateful graph."""

    layer: str
    hidden_size: int
    hidden_in: str
    cell_in: str
    hidden_out: str
    cell_out: str

    @staticmethod
    def for_layer(name: str, hidden_size: int) -> "StateIO":
        return StateIO(
            name,
            hidden_size,
            f"{name}.HiddenState.in",
            f"{name}.CellState.in",
            f"{name}.HiddenState.out",
            f"{name}.CellState.out",
        )


@dataclass
class EmitContext:
    """What emitters share: the graph, the build options and lazily built helper tensors."""

    graph: Graph
    lengths: str | None  # int32 [N] valid lengths (input sequence_lengths), None for full-length batches
    stateful: bool
    bilstm_last: str
    states: list[tuple[StateIO, str, str]] = field(default_factory=list)  # (io, h_T tensor, c_T tensor)
    opset: int = 17  # the model's default-domain opset: emitters choose operators the opset has

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
            data = g.op("Div", [data, g.const(f"{name}.StandardDeviation", stat("StandardDeviation"))], name)
    elif mode in ("rescale-zero-one", "rescale-symmetric"):
        lo, hi = stat("Min"), stat("Max")
        data = g.op("Sub", [data, g.const(f"{name}.Min", lo)], name)
        if mode == "rescale-zero-one":
            data = g.op("Div", [data, g.const(f"{name}.Range", hi - lo)], name)
        else:  # 2 (x - Min) / (Max - Min) - 1, with the factor 2 folded into the divisor
            data = g.op("Div", [data, g.const(f"{name}.HalfRange", (hi - lo) / 2.0)], name)
            data = g.op("Sub", [data, g.const("one_f", 1.0)], name)
    data = g.op("Transpose", [data], name, perm=[1, 0, 2])
    return Tensor(data, layer.InputSize, True)


# -- recurrent layers ----------------------------------------------------------------------------


@emits(LSTMLayer)
def emit_lstm(ctx: EmitContext, layer: LSTMLayer, x: Tensor) -> Tensor:
    """One standard ONNX LSTM node (lstm or bilstm), never unrolled."""
    g, name, H = ctx.graph, layer.Name, layer.NumHiddenUnits
    bidirectional = layer.DIRECTIONS == 2
    streams = ctx.stateful and not bidirectional
    last = layer.OutputMode == "last"
    need_y = not last or (bidirectional and ctx.bilstm_last == "matlab")
    need_h = (last and not need_y) or streams
    state_io = StateIO.for_layer(name, H) if streams else None

    W, R, B = _lstm_parameters(ctx, layer)
    h0, c0 = _lstm_initial_states(ctx, layer, state_io)
    outputs = [g.name(f"{name}/Y") if need_y else "", g.name(f"{name}/Y_h") if need_h else "", g.name(f"{name}/Y_c") if streams else ""]
    while outputs[-1] == "":
        outputs.pop()
    inputs = [x.name, W, R, B, ctx.lengths or "", h0, c0]
    while inputs[-1] == "":
        inputs.pop()
    g.op("LSTM", inputs, name, outputs=outputs, hidden_size=H, **_lstm_attributes(layer))
    Y = outputs[0]
    Y_h = outputs[1] if need_h else None

    if state_io is not None:
        axis0 = g.const("axis_0", [0], np.int64)
        h_T = g.op("Squeeze", [Y_h, axis0], f"{name}/hidden_out")
        c_T = g.op("Squeeze", [outputs[2], axis0], f"{name}/cell_out")
        ctx.states.append((state_io, h_T, c_T))

    size = layer.state_size
    if not last:
        if bidirectional:  # [T, 2, N, H] -> [T, N, 2H]: forward then backward features
            Y = g.op("Transpose", [Y], name, perm=[0, 2, 1, 3])
            return Tensor(g.op("Reshape", [Y, g.const("shape_0_0_m1", [0, 0, -1], np.int64)], name), size, True)
        return Tensor(g.op("Squeeze", [Y, g.const("axis_1", [1], np.int64)], name), size, True)
    if not bidirectional:  # Y_h: the state after each sequence's last valid step
        return Tensor(g.op("Squeeze", [Y_h, g.const("axis_0", [0], np.int64)], name), size, False)
    if ctx.bilstm_last == "final-state":  # both directions' final states (Keras/PyTorch reading)
        both = g.op("Transpose", [Y_h], name, perm=[1, 0, 2])
    elif ctx.lengths is None:  # MATLAB: the last step of the sequence output
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


def _lstm_initial_states(ctx: EmitContext, layer: LSTMLayer, state_io: StateIO | None) -> tuple[str, str]:
    """initial_h / initial_c: graph inputs (stateful), constants (non-zero HiddenState/CellState) or unset."""
    g, H = ctx.graph, layer.NumHiddenUnits
    if state_io is not None:
        axis0 = g.const("axis_0", [0], np.int64)
        h0 = g.add_input(state_io.hidden_in, TensorProto.FLOAT, [BATCH, H])
        c0 = g.add_input(state_io.cell_in, TensorProto.FLOAT, [BATCH, H])
        return g.op("Unsqueeze", [h0, axis0], f"{layer.Name}/hidden_in"), g.op("Unsqueeze", [c0, axis0], f"{layer.Name}/cell_in")

    def constant(prop: str) -> str:
        value = getattr(layer, prop)
        if value is None or not np.any(value):
            return ""
        dirs = layer.DIRECTIONS
        shape = g.op("Concat", [g.const("dirs", [dirs], np.int64), ctx.batch_dim, g.const("hidden", [H], np.int64)], f"{layer.Name}/{prop}", axis=0)
        per_direction = g.const(f"{layer.Name}.{prop}", np.asarray(value).reshape(dirs, 1, H))
        return g.op("Expand", [per_direction, shape], f"{layer.Name}/{prop}")

    return constant("HiddenState"), constant("CellState")


def _lstm_attributes(layer: LSTMLayer) -> dict:
    """direction, activations (only when not ONNX's defaults) and HardSigmoid's alpha/beta (only when used).

    onnxruntime's CUDA provider hands an LSTM back to the CPU when it merely
    carries activation_alpha/beta or clip, so those appear only for hard-sigmoid.
    """
    attrs: dict = {}
    dirs = layer.DIRECTIONS
    if dirs == 2:
        attrs["direction"] = "bidirectional"
    gate = GATE_ACTIVATIONS[layer.GateActivationFunction]
    state = STATE_ACTIVATIONS[layer.StateActivationFunction]
    if (gate, state) != ("Sigmoid", "Tanh"):
        attrs["activations"] = [gate, state, state] * dirs
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
