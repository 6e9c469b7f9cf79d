"""gruLayer -> one standard ONNX ``GRU`` node (layout 0, time-major inside the graph), never unrolled.

ResetGateMode maps to ``linear_before_reset``: 'after-multiplication' is 1
with ``Rb`` zero, 'recurrent-bias-after-multiplication' is 1 with ``Rb`` =
RecurrentBias, 'before-multiplication' is 0. The attribute is always written, 0
included: onnxruntime's CUDA provider runs only ``linear_before_reset=1``
(cuDNN's GRU) and hands a node with 0 to the CPU provider, and an explicit 0
keeps that decision independent of how a runtime treats an absent attribute.
"""

from __future__ import annotations

import numpy as np

from ... import gates
from ...layers.gru import GRULayer
from . import (
    EmitContext,
    StateIO,
    Tensor,
    activation_attributes,
    emits,
    final_states,
    initial_state,
    recurrent_input,
    squeeze_state,
    trimmed,
)


@emits(GRULayer)
def emit_gru(ctx: EmitContext, layer: GRULayer, x: Tensor) -> Tensor:
    """One GRU node: ``Y [T, 1, N, H]`` for 'sequence', ``Y_h [1, N, H]`` for 'last' and for the state output.

    A one-step input (after OutputMode 'last') runs as a sequence of length 1
    and gives one step ``[N, H]`` whatever the OutputMode.
    """
    g, name, H = ctx.graph, layer.Name, layer.NumHiddenUnits
    one_step = not x.sequence
    last = layer.OutputMode == "last" or one_step
    state_io = StateIO.for_layer(name, H, cell=False) if ctx.stateful else None

    X, lengths = recurrent_input(ctx, x)
    W, R, B = gates.to_onnx_gru(layer.InputWeights, layer.RecurrentWeights, layer.Bias, layer.RecurrentBias, src=gates.GRU_MATLAB)
    W, R, B = g.const(f"{name}.W", W), g.const(f"{name}.R", R), g.const(f"{name}.B", B)
    h0 = initial_state(ctx, layer, "HiddenState", state_io.hidden_in if state_io else None, "hidden_in")
    outputs = trimmed([g.name(f"{name}/Y") if not last else "", g.name(f"{name}/Y_h") if last or state_io else ""])
    g.op("GRU", trimmed([X, W, R, B, lengths, h0]), name, outputs=outputs, hidden_size=H,
         linear_before_reset=0 if layer.ResetGateMode == "before-multiplication" else 1, **activation_attributes(layer, state_slots=1))

    if state_io is not None:
        ctx.states.append((state_io, squeeze_state(g, outputs[-1], f"{name}/hidden_out"), None))
    if last:
        return Tensor(final_states(g, name, outputs[-1], 1), H, False)
    return Tensor(g.op("Squeeze", [outputs[0], g.const("axis_1", [1], np.int64)], name), H, True)

