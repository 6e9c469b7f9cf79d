"""Emitters of instanceNormalizationLayer and groupNormalizationLayer.

The formula, node by node (ONNX's GroupNormalization, opset 18-21, takes its
scale per group before opset 21 and has no way to leave padded steps out;
InstanceNormalization wants the channels on axis 1): time-major ``[T, N, C]``
is reshaped to ``[T, N, G, C/G]``, μ and σ² summed over axes 0 and 3 where
the step is valid (``Where``, so a NaN in a padding step cannot reach a sum)
and divided by each sequence's ``length · C/G``; then back to ``[T, N, C]``,
times Scale plus Offset. One step ``[N, C]`` (a group norm after OutputMode
'last') is reshaped to ``[N, G, C/G]`` and reduced over the last axis.

Stateful graphs are refused: the statistics need the whole sequence.
"""

from __future__ import annotations

import dataclasses
from typing import Callable

import numpy as np
from onnx import TensorProto

from ...errors import Lstm2OnnxError
from ...layers.group_normalization import GroupNormalizationLayer, InstanceNormalizationLayer
from . import EmitContext, Tensor, emits
from .normalization import _standardize


STATEFUL_REFUSAL = ("a stateful graph streams chunks carrying only recurrent state (MATLAB's predictAndUpdateState), but this "
                    "layer's statistics are taken over the whole sequence, which a chunk does not see; build without "
                    "stateful=True and predict whole sequences")


@emits(InstanceNormalizationLayer)
@emits(GroupNormalizationLayer)
def emit_group_normalization(ctx: EmitContext, layer: GroupNormalizationLayer | InstanceNormalizationLayer, x: Tensor) -> Tensor:
    g, name, C = ctx.graph, layer.Name, x.size
    G = layer.groups(C)
    K = C // G
    if not x.sequence:  # [N, C] -> [N, G, K]: statistics over each group's channels
        grouped = g.op("Reshape", [x.name, g.const(f"shape_0_{G}_{K}", [0, G, K], np.int64)], name)
        y = _standardize(ctx, name, grouped, g.const("axes_last", [-1], np.int64), g.const(f"{name}.count", float(K)), None, layer.Epsilon)
        y = g.op("Reshape", [y, g.const("shape_0_m1", [0, -1], np.int64)], name)
    else:
        if ctx.stateful:
            raise Lstm2OnnxError(f"{layer.where()}: {STATEFUL_REFUSAL}")
        grouped = g.op("Reshape", [x.name, g.const(f"shape_0_0_{G}_{K}", [0, 0, G, K], np.int64)], name)
        axes = g.const("axes_0_3", [0, 3], np.int64)
        group_size = g.const(f"{name}.group_size", float(K))
        if ctx.lengths is None:  # every step valid: count = T·K
            T = g.op("Gather", [g.op("Shape", [x.name], name), g.const("zero", [0], np.int64)], name, axis=0)
            count = g.op("Mul", [g.op("Cast", [T], name, to=TensorProto.FLOAT), group_size], name)
            valid = None
        else:
            valid = g.op("Unsqueeze", [ctx.valid_steps(x.name, name), g.const("axis_3", [3], np.int64)], name)  # [T, N, 1, 1]
            count = g.op("Mul", [g.op("Cast", [ctx.lengths], name, to=TensorProto.FLOAT), group_size], name)  # [N]
            count = g.op("Unsqueeze", [count, g.const("axes_0_2_3", [0, 2, 3], np.int64)], name)  # [1, N, 1, 1]
        y = _standardize(ctx, name, grouped, axes, count, valid, layer.Epsilon)
        y = g.op("Reshape", [y, g.const("shape_0_0_m1", [0, 0, -1], np.int64)], name)
    y = g.op("Mul", [y, g.const(f"{name}.Scale", layer.Scale)], name)
    return Tensor(g.op("Add", [y, g.const(f"{name}.Offset", layer.Offset)], name), C, x.sequence)


def learnables_from_onnx(layer: GroupNormalizationLayer | InstanceNormalizationLayer, tensor: Callable[[str], np.ndarray]):
    """The layer with Offset/Scale read back from the initializers the emitter wrote (for load_onnx)."""
    return dataclasses.replace(layer, Offset=tensor(f"{layer.Name}.Offset"), Scale=tensor(f"{layer.Name}.Scale"))
