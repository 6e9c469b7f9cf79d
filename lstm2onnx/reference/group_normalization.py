"""Reference (float64) of instanceNormalizationLayer and groupNormalizationLayer.

``y = γ_c · (x - μ_g) / √(σ²_g + ε) + β_c`` with μ_g, σ²_g (biased) of each
observation's channel group g over its valid time steps (see
:mod:`lstm2onnx.layers.group_normalization`).
"""

from __future__ import annotations

import numpy as np

from ..layers.group_normalization import GroupNormalizationLayer, InstanceNormalizationLayer
from . import Flow, _learnable, computes


def group_normalization(x: np.ndarray, lengths: np.ndarray | None, offset: np.ndarray, scale: np.ndarray,
                        epsilon: float, groups: int) -> np.ndarray:
    """x ``[N, T, C]`` (steps t >= lengths[n] are padding) or ``[N, C]``; C split into ``groups`` groups of C/G channels.

    Padded steps get finite values but never enter a statistic.
    """
    one_step = x.ndim == 2
    if one_step:
        x, lengths = x[:, None, :], np.ones(x.shape[0], dtype=np.int64)
    N, T, C = x.shape
    grouped = x.reshape(N, T, groups, C // groups)
    valid = (np.arange(T)[None, :] < lengths[:, None])[:, :, None, None]
    count = (lengths * (C // groups))[:, None, None, None]
    mean = np.where(valid, grouped, 0.0).sum(axis=(1, 3), keepdims=True) / count
    variance = np.where(valid, (grouped - mean) ** 2, 0.0).sum(axis=(1, 3), keepdims=True) / count
    y = ((grouped - mean) / np.sqrt(variance + epsilon)).reshape(N, T, C) * scale + offset
    return y[:, 0] if one_step else y


@computes(InstanceNormalizationLayer)
@computes(GroupNormalizationLayer)
def compute_group_normalization(layer: GroupNormalizationLayer | InstanceNormalizationLayer, flow: Flow) -> Flow:
    offset, scale = _learnable(layer, "Offset"), _learnable(layer, "Scale")
    C = flow.data.shape[-1]
    flow.data = group_normalization(flow.data, flow.lengths if flow.sequence else None, offset, scale, layer.Epsilon, layer.groups(C))
    return flow
