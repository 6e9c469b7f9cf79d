"""lstmProjectedLayer -> one standard ONNX ``LSTM`` node, by lstmLayer's emitter; gruProjectedLayer -> one
standard ONNX ``GRU`` node, by gruLayer's emitter.

The projectors multiply into the node's weights at build time (float64, then
float32): ``W = InputWeights · InputProjectorᵀ`` (``4H x I``, ``3H x I`` for a
GRU) and ``R = RecurrentWeights · OutputProjectorᵀ`` (``4H x H``, ``3H x H``);
gates, states, ResetGateMode (``linear_before_reset``), OutputMode and
stateful graphs are lstmLayer's (gruLayer's). The ONNX file therefore holds
the full-size weights, not MATLAB's compressed factors.
"""

from __future__ import annotations

from ...layers.projected import GRUProjectedLayer, LSTMProjectedLayer
from . import EmitContext, Tensor, emit_lstm, emits
from .gru import emit_gru


@emits(LSTMProjectedLayer)
def emit_lstm_projected(ctx: EmitContext, layer: LSTMProjectedLayer, x: Tensor) -> Tensor:
    return emit_lstm(ctx, layer.as_lstm(), x)


@emits(GRUProjectedLayer)
def emit_gru_projected(ctx: EmitContext, layer: GRUProjectedLayer, x: Tensor) -> Tensor:
    return emit_gru(ctx, layer.as_gru(), x)
