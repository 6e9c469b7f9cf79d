"""Reference (float64) of batchNormalizationLayer (inference) and layerNormalizationLayer.

Both compute ``y = γ · (x - μ) / √(σ² + ε) + β`` per channel c on the last
axis of ``[N, T, C]`` or ``[N, C]``; σ² is the biased variance.
"""

from __future__ import annotations

import numpy as np

from ..layers import BatchNormalizationLayer, LayerNormalizationLayer
from . import Flow, _learnable, computes


def batch_normalization(x: np.ndarray, mean: np.ndarray, variance: np.ndarray, offset: np.ndarray, scale: np.ndarray,
                        epsilon: float) -> np.ndarray:
    """Inference: γ_c (x_c - TrainedMean_c) / √(TrainedVariance_c + ε) + β_c on the last axis."""
    return scale * (x - mean) / np.sqrt(variance + epsilon) + offset


def layer_normalization(x: np.ndarray, lengths: np.ndarray | None, offset: np.ndarray, scale: np.ndarray,
                        epsilon: float, over_time: bool) -> np.ndarray:
    """μ, σ² over C for each step; with ``over_time`` (``[N, T, C]`` input), over each sequence's valid steps and C.

    ``lengths`` [N] gives the valid steps; padded steps get finite values but never enter a statistic.
    """
    if not over_time:
        mean = x.mean(axis=-1, keepdims=True)
        variance = ((x - mean) ** 2).mean(axis=-1, keepdims=True)
    else:
        N, T, C = x.shape
        valid = (np.arange(T)[None, :] < lengths[:, None])[:, :, None]
        count = (lengths * C)[:, None, None]
        mean = np.where(valid, x, 0.0).sum(axis=(1, 2), keepdims=True) / count
        variance = np.where(valid, (x - mean) ** 2, 0.0).sum(axis=(1, 2), keepdims=True) / count
    return scale * (x - mean) / np.sqrt(variance + epsilon) + offset


@computes(BatchNormalizationLayer)
def compute_batch_normalization(layer: BatchNormalizationLayer, flow: Flow) -> Flow:
    mean, variance, offset, scale = (_learnable(layer, k) for k in ("TrainedMean", "TrainedVariance", "Offset", "Scale"))
    flow.data = batch_normalization(flow.data, mean, variance, offset, scale, layer.Epsilon)
    return flow


@computes(LayerNormalizationLayer)
def compute_layer_normalization(layer: LayerNormalizationLayer, flow: Flow) -> Flow:
    offset, scale = _learnable(layer, "Offset"), _learnable(layer, "Scale")
    over_time = layer.over_time and flow.sequence
    flow.data = layer_normalization(flow.data, flow.lengths, offset, scale, layer.Epsilon, over_time)
    return flow
