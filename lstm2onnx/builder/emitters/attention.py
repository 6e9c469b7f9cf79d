"""Emitter of selfAttentionLayer: MatMul projections, heads by Reshape/Transpose, a masked Softmax over the keys.

On time-major ``x`` ``[T, N, C]`` (h heads, d_k and d_v channels per head)::

    Q, K, V   = x·W_Qᵀ + b_Q, ...           -> [T, N, h, d] -> Q [N, h, T, d_k], Kᵀ [N, h, d_k, T], V [N, h, T, d_v]
    scores    = Q·Kᵀ · 1/√d_k               [N, h, T, T]   (query step s, key step t)
    scores    = Where(hidden, -∞, scores)    hidden[n, ·, s, t] = t ≥ length_n (ragged) or t > s ('causal')
    Y         = Softmax(scores, axis=-1)·V   -> [T, N, h, d_v] -> [T, N, NumValueChannels] -> ·W_Oᵀ + b_O

The padding promise: in a ragged graph (``sequence_lengths``) no query sees a key past its sequence's end,
and the padded steps of x are set to 0 first, so that a NaN or Inf there cannot reach a valid step through
0·NaN in the weighted sum. Every query keeps key 0 (a sequence has at least one step), so no Softmax row is
all -∞. One step ``[N, C]`` (after OutputMode 'last') attends to itself alone: Y = (x·W_Vᵀ + b_V)·W_Oᵀ + b_O.

Stateful graphs are refused: every step attends to the whole sequence, which a chunk does not hold.
"""

from __future__ import annotations

import dataclasses
from typing import Callable

import numpy as np
from onnx import TensorProto

from ...errors import Lstm2OnnxError
from ...layers.attention import BIASES, WEIGHTS, SelfAttentionLayer
from . import EmitContext, Tensor, emits


@emits(SelfAttentionLayer)
def emit_self_attention(ctx: EmitContext, layer: SelfAttentionLayer, x: Tensor) -> Tensor:
    if ctx.stateful:
        raise Lstm2OnnxError(
            f"{layer.where()}: a stateful graph streams chunks carrying only recurrent state (MATLAB's "
            "predictAndUpdateState), but every step of a self-attention layer attends to the whole sequence, which a "
            "chunk does not hold, so a chunked run would give wrong numbers; build without stateful=True and predict "
            "whole sequences"
        )
    g, name, h = ctx.graph, layer.Name, layer.NumHeads
    d_k, d_v = layer.NumKeyChannels // h, layer.value_channels // h

    def project(prop: str, bias: str, data: str) -> str:
        return g.op("Add", [g.op("MatMul", [data, g.const(f"{name}.{prop}.T", np.asarray(getattr(layer, prop)).T)], name),
                            g.const(f"{name}.{bias}", getattr(layer, bias))], name)

    if not x.sequence:
        return Tensor(project("OutputWeights", "OutputBias", project("ValueWeights", "ValueBias", x.name)), layer.OutputSize, False)

    data = x.name
    if ctx.lengths is not None:
        data = g.op("Where", [ctx.valid_steps(data, name), data, g.const("zero_f", 0.0)], name)

    def heads(prop: str, bias: str, d: int, perm: list[int]) -> str:
        """[T, N, h·d] -> [T, N, h, d] -> transposed by ``perm``."""
        split = g.op("Reshape", [project(prop, bias, data), g.const(f"shape_0_0_{h}_{d}", [0, 0, h, d], np.int64)], name)
        return g.op("Transpose", [split], name, perm=perm)

    Q = heads("QueryWeights", "QueryBias", d_k, [1, 2, 0, 3])  # [N, h, T, d_k]
    K_T = heads("KeyWeights", "KeyBias", d_k, [1, 2, 3, 0])  # [N, h, d_k, T]
    V = heads("ValueWeights", "ValueBias", d_v, [1, 2, 0, 3])  # [N, h, T, d_v]
    scores = g.op("Mul", [g.op("MatMul", [Q, K_T], name), g.const(f"{name}.scale", 1.0 / np.sqrt(d_k))], name)
    hidden = _hidden_keys(ctx, layer, x.name)
    if hidden is not None:
        scores = g.op("Where", [hidden, g.const("minus_inf_f", -np.inf), scores], name)
    weights = g.op("Softmax", [scores], name, axis=-1)
    merged = g.op("Transpose", [g.op("MatMul", [weights, V], name)], name, perm=[2, 0, 1, 3])  # [T, N, h, d_v]
    merged = g.op("Reshape", [merged, g.const("shape_0_0_m1", [0, 0, -1], np.int64)], name)
    return Tensor(project("OutputWeights", "OutputBias", merged), layer.OutputSize, True)


def _hidden_keys(ctx: EmitContext, layer: SelfAttentionLayer, x: str) -> str | None:
    """bool, broadcastable to ``[N, h, T, T]``: key step t is hidden from query step s (None: none is)."""
    g, name = ctx.graph, layer.Name
    causal = layer.AttentionMask == "causal"
    if ctx.lengths is None and not causal:
        return None
    T = g.op("Gather", [g.op("Shape", [x], name), g.const("zero_scalar", 0, np.int64)], name, axis=0)
    steps = g.op("Range", [g.const("zero_scalar", 0, np.int64), T, g.const("one_scalar", 1, np.int64)], name)  # [T]
    hidden = None
    if causal:  # [T, T]: t > s
        hidden = g.op("Greater", [g.op("Unsqueeze", [steps, g.const("axis_0", [0], np.int64)], name),
                                  g.op("Unsqueeze", [steps, g.const("axis_1", [1], np.int64)], name)], name)
    if ctx.lengths is not None:  # [N, 1, 1, T]: t >= length_n
        lengths = g.op("Unsqueeze", [g.op("Cast", [ctx.lengths], name, to=TensorProto.INT64), g.const("axis_1", [1], np.int64)], name)
        past_end = g.op("Not", [g.op("Less", [steps, lengths], name)], name)  # [N, T]
        past_end = g.op("Unsqueeze", [past_end, g.const("axes_1_2", [1, 2], np.int64)], name)
        hidden = past_end if hidden is None else g.op("Or", [hidden, past_end], name)
    return hidden


def learnables_from_onnx(layer: SelfAttentionLayer, tensor: Callable[[str], np.ndarray]) -> SelfAttentionLayer:
    """The layer with its weights and biases read back from the initializers the emitter wrote (for load_onnx)."""
    name = layer.Name
    learned = {w: tensor(f"{name}.{w}.T").T for w in WEIGHTS} | {b: tensor(f"{name}.{b}") for b in BIASES}
    return dataclasses.replace(layer, **learned)
