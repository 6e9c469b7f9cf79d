"""lstmProjectedLayer -> one standard ONNX ``LSTM`` node, by lstmLayer's emitter.

The projectors multiply into the node's weights at build time (float64, then
float32): ``W = InputWeights · InputProjectorᵀ`` (``4H x I``) and
``R = RecurrentWeights · OutputProjectorᵀ`` (``4H x H``); gates, states,
OutputMode and stateful graphs are lstmLayer's. The ONNX file therefore holds
the full-size weights, not MATLAB's compressed factors.
"""

from __future__ import annotations

from ...layers.projected import LSTMProjectedLayer
from . import EmitContext, Tensor, emit_lstm, emits


@emits(LSTMProjectedLayer)
def emit_lstm_projected(ctx: EmitContext, layer: LSTMProjectedLayer, x: Tensor) -> Tensor:
    return emit_lstm(ctx, layer.as_lstm(), x)
