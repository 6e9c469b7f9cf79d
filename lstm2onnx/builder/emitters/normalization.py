"""Emitters of batchNormalizationLayer (inference) and layerNormalizationLayer.

Batch normalization is folded into one ``Mul`` and one ``Add`` on the last
axis: ``y = x·a + b`` with ``a = Scale / √(TrainedVariance + Epsilon)`` and
``b = Offset - TrainedMean·a``, computed in float64 and stored as float32.
We chose this over ONNX's ``BatchNormalization`` because that operator wants
the channels on axis 1, which would cost two Transposes around every node on
our ``[T, N, C]`` / ``[N, C]`` tensors; Mul/Add need none, run on every
execution provider, and the float64 folding keeps the result within float32
rounding of the reference.

Layer normalization over the channels (MATLAB's 'auto', 'channel-only',
'spatial-channel' for sequences, every mode for one step ``[N, C]``):
``LayerNormalization(axis=-1)`` from opset 17; on opsets 14-16, which lack
it, the same formula from ReduceSum/Sub/Mul/Add/Sqrt/Div. 'batch-excluded'
on sequences (statistics over each sequence's valid steps and channels)
always uses the formula, with padded steps masked out by ``Where``.
"""

from __future__ import annotations

import dataclasses
from typing import Callable

import numpy as np
from onnx import TensorProto

from ...layers import BatchNormalizationLayer, LayerNormalizationLayer
from . import EmitContext, Tensor, emits

LAYER_NORMALIZATION_OPSET = 17  # the first opset with the LayerNormalization operator


@emits(BatchNormalizationLayer)
def emit_batch_normalization(ctx: EmitContext, layer: BatchNormalizationLayer, x: Tensor) -> Tensor:
    """``x·a + b`` per channel, with TrainedMean/TrainedVariance/Scale/Offset folded into a and b."""
    g, name = ctx.graph, layer.Name
    mean, variance, offset, scale = (np.asarray(getattr(layer, k), np.float64) for k in ("TrainedMean", "TrainedVariance", "Offset", "Scale"))
    a = scale / np.sqrt(variance + layer.Epsilon)
    b = offset - mean * a
    y = g.op("Mul", [x.name, g.const(f"{name}.FoldedScale", a)], name)
    return Tensor(g.op("Add", [y, g.const(f"{name}.FoldedOffset", b)], name), x.size, x.sequence)


@emits(LayerNormalizationLayer)
def emit_layer_normalization(ctx: EmitContext, layer: LayerNormalizationLayer, x: Tensor) -> Tensor:
    g, name = ctx.graph, layer.Name
    scale, offset = g.const(f"{name}.Scale", layer.Scale), g.const(f"{name}.Offset", layer.Offset)
    if layer.over_time and x.sequence:
        y = _normalize_over_time(ctx, layer, x)
    elif ctx.opset >= LAYER_NORMALIZATION_OPSET:
        return Tensor(g.op("LayerNormalization", [x.name, scale, offset], name, axis=-1, epsilon=layer.Epsilon), x.size, x.sequence)
    else:
        y = _standardize(ctx, name, x.name, g.const("axes_last", [-1], np.int64), g.const(f"{name}.count", float(x.size)), None, layer.Epsilon)
    return Tensor(g.op("Add", [g.op("Mul", [y, scale], name), offset], name), x.size, x.sequence)


def _standardize(ctx: EmitContext, name: str, x: str, axes: str, count: str, valid: str | None, epsilon: float) -> str:
    """(x - μ) / √(σ² + ε), μ and σ² (biased) summed over ``axes`` where ``valid`` (bool, or None: everywhere) and divided by ``count``."""
    g = ctx.graph

    def masked_sum(value: str) -> str:
        if valid is not None:  # Where, not Mul: a NaN/Inf in a padded step must not reach the sum
            value = g.op("Where", [valid, value, g.const("zero_f", 0.0)], name)
        return g.op("ReduceSum", [value, axes], name, keepdims=1)

    mean = g.op("Div", [masked_sum(x), count], name)
    centered = g.op("Sub", [x, mean], name)
    variance = g.op("Div", [masked_sum(g.op("Mul", [centered, centered], name)), count], name)
    std = g.op("Sqrt", [g.op("Add", [variance, g.const(f"{name}.Epsilon", epsilon)], name)], name)
    return g.op("Div", [centered, std], name)


def _normalize_over_time(ctx: EmitContext, layer: LayerNormalizationLayer, x: Tensor) -> str:
    """'batch-excluded' on ``[T, N, C]``: statistics per sequence over its valid steps and all channels."""
    g, name, C = ctx.graph, layer.Name, x.size
    axes = g.const("axes_0_2", [0, 2], np.int64)
    channels = g.const(f"{name}.channels", float(C))
    if ctx.lengths is None:  # every step is valid: count = T·C
        T = g.op("Gather", [g.op("Shape", [x.name], name), g.const("zero", [0], np.int64)], name, axis=0)
        count = g.op("Mul", [g.op("Cast", [T], name, to=TensorProto.FLOAT), channels], name)
        return _standardize(ctx, name, x.name, axes, count, None, layer.Epsilon)
    lengths = g.op("Cast", [ctx.lengths], name, to=TensorProto.INT64)
    T = g.op("Gather", [g.op("Shape", [x.name], name), g.const("zero_scalar", 0, np.int64)], name, axis=0)
    steps = g.op("Range", [g.const("zero_scalar", 0, np.int64), T, g.const("one_scalar", 1, np.int64)], name)
    valid = g.op("Less", [g.op("Unsqueeze", [steps, g.const("axis_1", [1], np.int64)], name), lengths], name)  # [T, N]
    valid = g.op("Unsqueeze", [valid, g.const("axis_2", [2], np.int64)], name)  # [T, N, 1]
    count = g.op("Mul", [g.op("Cast", [lengths], name, to=TensorProto.FLOAT), channels], name)  # [N]
    count = g.op("Unsqueeze", [count, g.const("axes_0_2", [0, 2], np.int64)], name)  # [1, N, 1]
    return _standardize(ctx, name, x.name, axes, count, valid, layer.Epsilon)


def learnables_from_onnx(layer: BatchNormalizationLayer | LayerNormalizationLayer, tensor: Callable[[str], np.ndarray]):
    """The layer with Offset/Scale read back from the initializers the emitters above wrote (for load_onnx).

    ``tensor(name)`` returns the model's initializer of that name (and raises if it is missing).

    A batch norm's folded constants give them back with its TrainedMean and
    TrainedVariance (kept in the model's spec): Scale = a·√(TrainedVariance + ε),
    Offset = b + TrainedMean·a, in float64.
    """
    name = layer.Name
    if isinstance(layer, LayerNormalizationLayer):
        return dataclasses.replace(layer, Offset=tensor(f"{name}.Offset"), Scale=tensor(f"{name}.Scale"))
    a, b = (np.asarray(tensor(f"{name}.{k}"), np.float64) for k in ("FoldedScale", "FoldedOffset"))
    mean, variance = np.asarray(layer.TrainedMean, np.float64), np.asarray(layer.TrainedVariance, np.float64)
    return dataclasses.replace(layer, Scale=a * np.sqrt(variance + layer.Epsilon), Offset=b + mean * a)
